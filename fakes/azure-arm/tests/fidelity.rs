//! The official REST API examples (`tests/examples/`, see its README) sent to the fake over HTTPS:
//! status codes, LRO headers, and the response's shape (every member an example shows, with the
//! same JSON type) and identity (`id`, `name`, `type`, `location`, `provisioningState`, and the
//! values the request determines). Known quirks of the examples are handled where they bite, each
//! with a comment.

mod common;

use azure_arm_fake::FakeConfig;
use common::{Client, Resp};
use serde_json::{Value, json};

/// The subscriptions the examples use.
fn config() -> FakeConfig {
    FakeConfig {
        subscriptions: vec![
            "subid".into(),
            "00000000-0000-0000-0000-000000000000".into(),
            "{subscription-id}".into(),
        ],
        ..common::fast_config()
    }
}

fn example(name: &str) -> Value {
    let path = format!("{}/tests/examples/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("example exists")).expect("JSON")
}

fn param<'a>(ex: &'a Value, key: &str) -> &'a str {
    ex["parameters"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no parameter {key}"))
}

/// The request body: the one object-valued parameter.
fn request_body(ex: &Value) -> Value {
    ex["parameters"]
        .as_object()
        .unwrap()
        .values()
        .find(|v| v.is_object())
        .cloned()
        .expect("a body parameter")
}

fn response(ex: &Value, code: u16) -> &Value {
    &ex["responses"][code.to_string()]
}

fn codes(ex: &Value) -> Vec<u16> {
    ex["responses"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

/// Every member of `expected` is in `actual` with the same JSON type, recursively; array items are
/// compared pairwise. `skip` lists dotted paths not compared (`a.b[].c` for array items).
fn assert_shape(expected: &Value, actual: &Value, path: &str, skip: &[&str]) {
    if skip.contains(&path) {
        return;
    }
    match expected {
        Value::Object(e) => {
            let a = actual
                .as_object()
                .unwrap_or_else(|| panic!("{path}: expected an object, got {actual}"));
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if skip.contains(&p.as_str()) {
                    continue;
                }
                let av = a
                    .get(k)
                    .unwrap_or_else(|| panic!("{p}: missing (the example has {ev}); got {actual}"));
                assert_shape(ev, av, &p, skip);
            }
        }
        Value::Array(e) => {
            let a = actual
                .as_array()
                .unwrap_or_else(|| panic!("{path}: expected an array, got {actual}"));
            assert!(
                e.is_empty() || !a.is_empty(),
                "{path}: the example has items, the fake none"
            );
            let p = format!("{path}[]");
            for (ev, av) in e.iter().zip(a) {
                assert_shape(ev, av, &p, skip);
            }
        }
        Value::Null => {}
        Value::String(_) => assert!(
            actual.is_string(),
            "{path}: expected a string, got {actual}"
        ),
        Value::Number(_) => assert!(
            actual.is_number(),
            "{path}: expected a number, got {actual}"
        ),
        Value::Bool(_) => assert!(
            actual.is_boolean(),
            "{path}: expected a boolean, got {actual}"
        ),
    }
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

/// The example's values at `paths` are in the fake's answer: scalars equal, objects member by
/// member (the fake may add members the service fills in), arrays item by item.
fn assert_same(expected: &Value, actual: &Value, paths: &[&str]) {
    for p in paths {
        assert_contains(at(expected, p), at(actual, p), p);
    }
}

fn assert_contains(expected: &Value, actual: &Value, path: &str) {
    match expected {
        Value::Object(e) => {
            for (k, v) in e {
                assert_contains(v, &actual[k], &format!("{path}.{k}"));
            }
        }
        Value::Array(e) => {
            let a = actual
                .as_array()
                .unwrap_or_else(|| panic!("{path}: expected an array, got {actual}"));
            assert_eq!(a.len(), e.len(), "{path}: items");
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                assert_contains(ev, av, &format!("{path}[{i}]"));
            }
        }
        other => assert_eq!(actual, other, "value of {path}"),
    }
}

/// A client for the example's subscription.
fn client_for(fake: &azure_arm_fake::FakeHandle, ex: &Value) -> Client {
    let mut c = Client::new(fake);
    c.sub = param(ex, "subscriptionId").to_string();
    c
}

fn net_path(ex: &Value, rest: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/{rest}?api-version={}",
        param(ex, "subscriptionId"),
        param(ex, "resourceGroupName"),
        param(ex, "api-version")
    )
}

fn compute_path(ex: &Value, rest: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/{rest}?api-version={}",
        param(ex, "subscriptionId"),
        param(ex, "resourceGroupName"),
        param(ex, "api-version")
    )
}

/// A network PUT as the service answers it: 201 with `Updating` and `Azure-AsyncOperation`
/// (the examples' `Succeeded` here is a known quirk), then `Succeeded` on GET.
async fn network_put(c: &Client, ex: &Value, path: &str, body: &Value) -> (Resp, Resp) {
    let r = c.put(path, body).await;
    assert!(
        codes(ex).contains(&r.status),
        "{} not among the example's codes: {r:?}",
        r.status
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.state(), "Updating");
    let url = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_string();
    assert!(
        r.header("location").is_none(),
        "network PUT has no Location"
    );
    assert!(r.header("retry-after").is_some());
    assert_eq!(c.wait_async(&url).await["status"], "Succeeded");
    let g = c.get(path).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.state(), "Succeeded");
    (r, g)
}

/// A network DELETE as the service answers it: 202 with both `Azure-AsyncOperation` and
/// `Location` (subscription-scoped, unlike some examples), then 404, then 204 on repeat.
async fn network_delete(c: &Client, ex: &Value, path: &str) {
    let r = c.delete(path).await;
    assert!(codes(ex).contains(&r.status), "{r:?}");
    assert_eq!(r.status, 202, "{r:?}");
    let loc = r.header("location").expect("Location").to_string();
    let async_url = r
        .header("azure-asyncoperation")
        .expect("Azure-AsyncOperation")
        .to_string();
    assert!(
        loc.contains("/providers/Microsoft.Network/locations/")
            && loc.contains("/operationResults/"),
        "{loc}"
    );
    // (`Deleting` meanwhile is checked in tests/lro.rs, with LROs long enough to see it.)
    assert_eq!(c.wait_async(&async_url).await["status"], "Succeeded");
    let done = c.wait_location(&loc).await;
    assert!(codes(ex).contains(&done.status), "{done:?}");
    assert_eq!(c.get(path).await.status, 404);
    assert_eq!(
        c.delete(path).await.status,
        204,
        "deleting what is gone is a 204"
    );
}

#[tokio::test]
async fn resource_group_create_and_force_delete() {
    let fake = common::start(config());
    let ex = example("rg-CreateResourceGroup.json");
    let c = client_for(&fake, &ex);
    let path = format!(
        "/subscriptions/{}/resourcegroups/{}?api-version={}",
        param(&ex, "subscriptionId"),
        param(&ex, "resourceGroupName"),
        param(&ex, "api-version")
    );
    let r = c.put(&path, &request_body(&ex)).await;
    assert_eq!(r.status, 201);
    assert_shape(&response(&ex, 201)["body"], &r.body, "", &[]);
    assert_eq!(&r.body["id"], &response(&ex, 201)["body"]["id"]);
    // The example omits `type`; real answers carry it.
    assert_eq!(r.body["type"], "Microsoft.Resources/resourceGroups");
    let again = c.put(&path, &request_body(&ex)).await;
    assert_eq!(again.status, 200);
    assert_same(
        &response(&ex, 200)["body"],
        &again.body,
        &["id", "name", "location", "properties.provisioningState"],
    );

    let del = example("rg-ForceDeleteVMsInResourceGroup.json");
    let path = format!(
        "/subscriptions/{}/resourcegroups/{}?forceDeletionTypes={}&api-version={}",
        param(&del, "subscriptionId"),
        param(&del, "resourceGroupName"),
        param(&del, "forceDeletionTypes"),
        param(&del, "api-version")
    );
    let r = c.delete(&path).await;
    assert!(codes(&del).contains(&r.status));
    assert_eq!(r.status, 202);
    assert!(
        r.header("azure-asyncoperation").is_none(),
        "RG delete has Location only"
    );
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.contains("/operationresults/"));
    let done = c.wait_location(&loc).await;
    assert_eq!(done.status, 200);
    assert!(codes(&del).contains(&done.status));
}

#[tokio::test]
async fn virtual_network_create_update_delete() {
    let fake = common::start(config());
    let ex = example("vnet-VirtualNetworkCreate.json");
    let c = client_for(&fake, &ex);
    c.create_rg(param(&ex, "resourceGroupName")).await;
    let path = net_path(
        &ex,
        &format!("virtualNetworks/{}", param(&ex, "virtualNetworkName")),
    );
    let (put, get) = network_put(&c, &ex, &path, &request_body(&ex)).await;
    let expected = &response(&ex, 201)["body"];
    assert_shape(expected, &put.body, "", &[]);
    assert_shape(expected, &get.body, "", &[]);
    assert_same(
        expected,
        &get.body,
        &[
            "id",
            "name",
            "type",
            "location",
            "properties.addressSpace",
            "properties.flowTimeoutInMinutes",
            "properties.subnets",
            "properties.provisioningState",
        ],
    );
    assert!(get.header("etag").is_some_and(|e| e.starts_with("W/\"")));

    // PUT of an existing VNet: 200.
    let r = c.put(&path, &request_body(&ex)).await;
    assert_eq!(r.status, 200);
    assert!(codes(&ex).contains(&200));
    c.wait_async(r.header("azure-asyncoperation").unwrap())
        .await;

    network_delete(&c, &example("vnet-VirtualNetworkDelete.json"), &path).await;
}

#[tokio::test]
async fn virtual_network_with_subnet_and_its_get() {
    let fake = common::start(config());
    let ex = example("vnet-VirtualNetworkCreateSubnet.json");
    let c = client_for(&fake, &ex);
    c.create_rg("rg1").await;
    let path = net_path(&ex, "virtualNetworks/test-vnet");
    let (_, get) = network_put(&c, &ex, &path, &request_body(&ex)).await;
    let expected = &response(&ex, 201)["body"];
    assert_shape(expected, &get.body, "", &[]);
    assert_same(
        expected,
        &get.body,
        &["id", "name", "type", "properties.addressSpace"],
    );
    let subnet = &get.body["properties"]["subnets"][0];
    assert_same(
        &expected["properties"]["subnets"][0],
        subnet,
        &[
            "id",
            "name",
            "properties.addressPrefix",
            "properties.provisioningState",
        ],
    );

    // VirtualNetworkGet: a VNet in westus whose subnet1 is used, so it lists ipConfigurations.
    let get_ex = example("vnet-VirtualNetworkGet.json");
    c.delete_done(&path).await;
    c.put_done(
        &path,
        &json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "subnet1", "properties": {"addressPrefix": "10.0.1.0/24"}}]}}),
    )
    .await;
    let subnet_id = c.id(
        "rg1",
        "Microsoft.Network/virtualNetworks/test-vnet/subnets/subnet1",
    );
    let nic = net_path(&ex, "networkInterfaces/nic1");
    c.put_done(
        &nic,
        &json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet_id}}}]}}),
    )
    .await;
    let g = c.get(&net_path(&get_ex, "virtualNetworks/test-vnet")).await;
    let expected = &response(&get_ex, 200)["body"];
    assert_shape(expected, &g.body, "", &[]);
    assert_same(
        expected,
        &g.body,
        &[
            "id",
            "name",
            "type",
            "location",
            "properties.provisioningState",
        ],
    );
    assert_eq!(
        g.body["properties"]["subnets"][0]["properties"]["ipConfigurations"][0]["id"],
        format!(
            "{}/ipConfigurations/ipconfig1",
            c.id("rg1", "Microsoft.Network/networkInterfaces/nic1")
        )
    );
}

#[tokio::test]
async fn subnet_create_get_delete() {
    let fake = common::start(config());
    let ex = example("subnet-SubnetCreate.json");
    let c = client_for(&fake, &ex);
    c.create_rg(param(&ex, "resourceGroupName")).await;
    c.put_done(
        &net_path(&ex, "virtualNetworks/vnetname"),
        &json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
    )
    .await;
    let path = net_path(&ex, "virtualNetworks/vnetname/subnets/subnet1");
    let (put, get) = network_put(&c, &ex, &path, &request_body(&ex)).await;
    for body in [&put.body, &get.body] {
        assert_shape(&response(&ex, 201)["body"], body, "", &[]);
    }
    let get_ex = example("subnet-SubnetGet.json");
    let expected = &response(&get_ex, 200)["body"];
    assert_shape(expected, &get.body, "", &[]);
    assert_same(
        expected,
        &get.body,
        &[
            "id",
            "name",
            "properties.addressPrefix",
            "properties.provisioningState",
        ],
    );
    network_delete(&c, &example("subnet-SubnetDelete.json"), &path).await;
}

#[tokio::test]
async fn network_security_groups_and_rules() {
    let fake = common::start(config());
    let ex = example("nsg-NetworkSecurityGroupCreate.json");
    let c = client_for(&fake, &ex);
    c.create_rg("rg1").await;
    let path = net_path(&ex, "networkSecurityGroups/testnsg");

    // An empty NSG: the six default rules, exactly as the example lists them.
    let (_, get) = network_put(&c, &ex, &path, &request_body(&ex)).await;
    let expected = &response(&ex, 201)["body"];
    assert_shape(expected, &get.body, "", &[]);
    assert_same(
        expected,
        &get.body,
        &[
            "id",
            "name",
            "type",
            "location",
            "properties.securityRules",
            "properties.flushConnection",
        ],
    );
    let defaults = get.body["properties"]["defaultSecurityRules"]
        .as_array()
        .unwrap();
    let want = expected["properties"]["defaultSecurityRules"]
        .as_array()
        .unwrap();
    assert_eq!(defaults.len(), want.len());
    for (d, w) in defaults.iter().zip(want) {
        for k in ["name", "id"] {
            assert_eq!(d[k], w[k]);
        }
        for (k, v) in w["properties"].as_object().unwrap() {
            assert_eq!(&d["properties"][k], v, "default rule {} {k}", w["name"]);
        }
    }

    // With a rule: PUT of the existing NSG (200), the rule inline and as a child.
    let with_rule = example("nsg-NetworkSecurityGroupCreateWithRule.json");
    let r = c.put(&path, &request_body(&with_rule)).await;
    assert_eq!(r.status, 200);
    c.wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    let get = c.get(&path).await;
    let expected = &response(&with_rule, 200)["body"];
    assert_shape(expected, &get.body, "", &[]);
    for (k, v) in expected["properties"]["securityRules"][0]["properties"]
        .as_object()
        .unwrap()
    {
        assert_eq!(
            &get.body["properties"]["securityRules"][0]["properties"][k], v,
            "rule1 {k}"
        );
    }
    let get_ex = example("nsg-NetworkSecurityGroupGet.json");
    assert_shape(&response(&get_ex, 200)["body"], &get.body, "", &[]);

    let rule_get = example("nsgrule-NetworkSecurityGroupRuleGet.json");
    let rule_path = net_path(
        &rule_get,
        "networkSecurityGroups/testnsg/securityRules/rule1",
    );
    let g = c.get(&rule_path).await;
    assert_eq!(g.status, 200);
    let expected = &response(&rule_get, 200)["body"];
    assert_shape(expected, &g.body, "", &[]);
    assert_same(
        expected,
        &g.body,
        &[
            "id",
            "name",
            "properties.destinationPortRange",
            "properties.priority",
            "properties.access",
            "properties.direction",
        ],
    );

    // The rule PUT on its own: an update of rule1 (200), visible in the NSG too.
    let rule_ex = example("nsgrule-NetworkSecurityGroupRuleCreate.json");
    let r = c.put(&rule_path, &request_body(&rule_ex)).await;
    assert_eq!(r.status, 200);
    assert!(codes(&rule_ex).contains(&200));
    c.wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    let g = c.get(&rule_path).await;
    let expected = &response(&rule_ex, 200)["body"];
    assert_shape(expected, &g.body, "", &[]);
    for (k, v) in expected["properties"].as_object().unwrap() {
        assert_eq!(&g.body["properties"][k], v, "rule1 {k}");
    }
    let nsg = c.get(&path).await;
    assert_eq!(
        nsg.body["properties"]["securityRules"][0]["properties"]["destinationPortRange"],
        "8080"
    );

    network_delete(
        &c,
        &example("nsgrule-NetworkSecurityGroupRuleDelete.json"),
        &rule_path,
    )
    .await;
    assert_eq!(
        c.get(&path).await.body["properties"]["securityRules"],
        json!([])
    );
    network_delete(&c, &example("nsg-NetworkSecurityGroupDelete.json"), &path).await;
}

#[tokio::test]
async fn public_ip_addresses() {
    let fake = common::start(config());
    let ex = example("pip-PublicIpAddressCreateDefaults.json");
    let c = client_for(&fake, &ex);
    c.create_rg("rg1").await;
    let path = net_path(&ex, "publicIPAddresses/test-ip");
    let (_, get) = network_put(&c, &ex, &path, &request_body(&ex)).await;
    // Quirks: the example names the address `testDNS-ip` (the URL says test-ip) and shows an
    // ipConfiguration on a brand-new address.
    let skip = ["name", "properties.ipConfiguration"];
    let expected = &response(&ex, 201)["body"];
    assert_shape(expected, &get.body, "", &skip);
    assert_same(
        expected,
        &get.body,
        &[
            "id",
            "type",
            "location",
            "sku.name",
            "properties.publicIPAllocationMethod",
            "properties.idleTimeoutInMinutes",
            "properties.publicIPAddressVersion",
        ],
    );
    assert_eq!(get.body["name"], "test-ip");
    assert!(
        get.body["properties"].get("ipAddress").is_none(),
        "a dynamic address is allocated on attach"
    );

    let custom = example("pip-PublicIpAddressCreateCustomizedValues.json");
    // Quirk: `zones` sits beside the body in the example; the API takes it inside.
    let mut body = request_body(&custom);
    body["zones"] = custom["parameters"]["zones"].clone();
    let cpath = net_path(&custom, "publicIPAddresses/test-ip2");
    let r = c.put(&cpath, &body).await;
    assert_eq!(r.status, 201);
    c.wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    let get = c.get(&cpath).await;
    let expected = &response(&custom, 201)["body"];
    assert_shape(expected, &get.body, "", &skip);
    assert_same(
        expected,
        &get.body,
        &[
            "zones",
            "sku",
            "properties.publicIPAllocationMethod",
            "properties.idleTimeoutInMinutes",
            "properties.ddosSettings",
        ],
    );
    assert!(
        get.body["properties"]["ipAddress"].is_string(),
        "a static address is allocated at once"
    );

    // PublicIpAddressGet: attached to a NIC, so it shows ipConfiguration.
    let get_ex = example("pip-PublicIpAddressGet.json");
    let dpath = net_path(&get_ex, "publicIPAddresses/testDNS-ip");
    c.put_done(&dpath, &json!({"location": "westus"})).await;
    let vnet = net_path(&get_ex, "virtualNetworks/v");
    c.put_done(&vnet, &json!({"location": "westus", "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}, "subnets": [{"name": "s", "properties": {"addressPrefix": "10.9.0.0/24"}}]}})).await;
    let nic = net_path(&get_ex, "networkInterfaces/testDNS649");
    c.put_done(&nic, &json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
        "subnet": {"id": c.id("rg1", "Microsoft.Network/virtualNetworks/v/subnets/s")},
        "publicIPAddress": {"id": c.id("rg1", "Microsoft.Network/publicIPAddresses/testDNS-ip")}}}]}})).await;
    let g = c.get(&dpath).await;
    let expected = &response(&get_ex, 200)["body"];
    // Not modelled: DDoS protection plans and IP tags of first-party usage.
    assert_shape(
        expected,
        &g.body,
        "",
        &["properties.ddosSettings", "properties.ipTags"],
    );
    assert_same(
        expected,
        &g.body,
        &[
            "id",
            "name",
            "type",
            "location",
            "properties.ipConfiguration",
        ],
    );

    // Attached: refused; detached: deleted.
    let del = example("pip-PublicIpAddressDelete.json");
    let r = c.delete(&dpath).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PublicIPAddressCannotBeDeleted")
    );
    c.delete_done(&nic).await;
    network_delete(&c, &del, &dpath).await;
}

#[tokio::test]
async fn network_interfaces() {
    let fake = common::start(config());
    let ex = example("nic-NetworkInterfaceCreate.json");
    let c = client_for(&fake, &ex);
    c.create_rg("rg1").await;
    // The example's subnet is rg1-vnet/default; with 172.20.2.0/24 the first address handed out
    // is the example's 172.20.2.4.
    c.put_done(
        &net_path(&ex, "virtualNetworks/rg1-vnet"),
        &json!({"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["172.20.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "172.20.2.0/24"}}]}}),
    )
    .await;
    c.put_done(
        &net_path(&ex, "publicIPAddresses/test-ip"),
        &json!({"location": "eastus"}),
    )
    .await;
    let path = net_path(&ex, "networkInterfaces/test-nic");
    let (put, get) = network_put(&c, &ex, &path, &request_body(&ex)).await;
    // The 201 example drops disableTcpStateTracking (a quirk); the 200 body is complete.
    let expected = &response(&ex, 200)["body"];
    for body in [&put.body, &get.body] {
        assert_shape(expected, body, "", &[]);
    }
    assert_same(
        expected,
        &get.body,
        &[
            "id",
            "name",
            "type",
            "location",
            "properties.ipConfigurations",
            "properties.dnsSettings",
            "properties.enableAcceleratedNetworking",
            "properties.disableTcpStateTracking",
            "properties.enableIPForwarding",
            "properties.vnetEncryptionSupported",
        ],
    );

    // NetworkInterfaceGet: with an NSG and used by VM vm1, so it shows macAddress, primary,
    // networkSecurityGroup and virtualMachine.
    c.put_done(
        &net_path(&ex, "networkSecurityGroups/nsg"),
        &json!({"location": "eastus"}),
    )
    .await;
    let mut body = request_body(&ex);
    body["properties"]["networkSecurityGroup"] =
        json!({"id": c.id("rg1", "Microsoft.Network/networkSecurityGroups/nsg")});
    c.put_done(&path, &body).await;
    let nic_id = c.id("rg1", "Microsoft.Network/networkInterfaces/test-nic");
    let mut vm = Client::vm_body(&nic_id);
    vm["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"] =
        json!("Detach");
    let vm_path = c.vm("rg1", "vm1");
    c.put_done(&vm_path, &vm).await;
    let get_ex = example("nic-NetworkInterfaceGet.json");
    let g = c.get(&path).await;
    let expected = &response(&get_ex, 200)["body"];
    // Not modelled: DSCP configurations, internal DNS suffixes, the example's second
    // ipConfiguration with an address prefix.
    let skip = [
        "properties.dscpConfiguration",
        "properties.dnsSettings.internalDomainNameSuffix",
        "properties.ipConfigurations[].properties.privateIPAddressPrefixLength",
    ];
    assert_shape(expected, &g.body, "", &skip);
    assert_same(
        expected,
        &g.body,
        &[
            "id",
            "name",
            "type",
            "properties.virtualMachine",
            "properties.networkSecurityGroup",
            "properties.primary",
        ],
    );
    assert!(
        g.body["properties"]["macAddress"]
            .as_str()
            .is_some_and(|m| m.len() == 17)
    );

    // In use by the VM: NicInUse. Once the VM is gone (the NIC detached): deleted.
    let del = example("nic-NetworkInterfaceDelete.json");
    let r = c.delete(&path).await;
    assert_eq!((r.status, r.code()), (400, "NicInUse"));
    c.delete_done(&vm_path).await;
    network_delete(&c, &del, &path).await;
}

#[tokio::test]
async fn virtual_machines_and_disks() {
    let fake = common::start(config());
    let ex = example("vm-VirtualMachine_Create_WithSshAuthentication.json");
    let c = client_for(&fake, &ex);
    let rg = param(&ex, "resourceGroupName");
    c.create_rg(rg).await;
    c.put_done(
        &c.net(rg, "virtualNetworks/v"),
        &json!({"location": "westus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "s", "properties": {"addressPrefix": "10.0.0.0/24"}}]}}),
    )
    .await;
    let subnet = c.id(rg, "Microsoft.Network/virtualNetworks/v/subnets/s");
    // The example's NIC is a `{existing-nic-name}` placeholder; its response names nsgExistingNic.
    let nic_path = c.net(rg, "networkInterfaces/nsgExistingNic");
    c.put_done(&nic_path, &json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}]}})).await;
    let nic_id = c.id(rg, "Microsoft.Network/networkInterfaces/nsgExistingNic");
    let mut body = request_body(&ex);
    body["properties"]["networkProfile"]["networkInterfaces"][0]["id"] = json!(nic_id);

    let path = compute_path(&ex, "virtualMachines/myVM");
    let r = c.put(&path, &body).await;
    assert!(codes(&ex).contains(&r.status));
    assert_eq!(r.status, 201, "{r:?}");
    let expected = &response(&ex, 201)["body"];
    assert_shape(expected, &r.body, "", &[]);
    // Compute examples get this one right: Creating.
    assert_same(
        expected,
        &r.body,
        &[
            "id",
            "name",
            "type",
            "location",
            "properties.provisioningState",
            "properties.hardwareProfile",
            "properties.osProfile",
            "properties.networkProfile.networkInterfaces",
            "properties.storageProfile.osDisk.osType",
            "properties.storageProfile.osDisk.name",
            "properties.storageProfile.osDisk.caching",
            "properties.storageProfile.osDisk.createOption",
        ],
    );
    assert!(
        r.header("azure-asyncoperation").is_some_and(
            |u| u.contains("/providers/Microsoft.Compute/locations/westus/operations/")
        )
    );
    let status = c
        .wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert_eq!(status["status"], "Succeeded");
    assert!(
        status["startTime"].is_string()
            && status["endTime"].is_string()
            && status["name"].is_string(),
        "{status}"
    );

    // VirtualMachine_Get describes a Windows VM with extras the fake does not model.
    let get_ex = example("vm-VirtualMachine_Get.json");
    let win_path = compute_path(&get_ex, "virtualMachines/myWinVM");
    let win_nic = c.net(rg, "networkInterfaces/winNic");
    c.put_done(&win_nic, &json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {"subnet": {"id": subnet}}}]}})).await;
    let win = json!({
        "location": "West US",
        "tags": {"myTag1": "tagValue1"},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_DS3_v2"},
            "storageProfile": {
                "imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer", "sku": "2016-Datacenter", "version": "latest"},
                "osDisk": {"name": "myOsDisk", "createOption": "FromImage", "caching": "ReadWrite", "managedDisk": {"storageAccountType": "Premium_LRS"}}
            },
            "osProfile": {"computerName": "myVM", "adminUsername": "winadmin", "adminPassword": "P@ssw0rd-only-for-the-fake", "windowsConfiguration": {"provisionVMAgent": true, "enableAutomaticUpdates": false}},
            "networkProfile": {"networkInterfaces": [{"id": c.id(rg, "Microsoft.Network/networkInterfaces/winNic")}]},
            "userData": "RXhhbXBsZSBVc2VyRGF0YQ=="
        }
    });
    c.put_done(&win_path, &win).await;
    let g = c.get(&format!("{win_path}&$expand=userData")).await;
    let expected = &response(&get_ex, 200)["body"];
    let skip = [
        "properties.availabilitySet",
        "properties.proximityPlacementGroup",
        "properties.applicationProfile",
        "properties.diagnosticsProfile",
        "properties.extensionsTimeBudget",
        "resources",
        "managedBy",
        "properties.storageProfile.dataDisks",
        // `location` is canonicalised: "West US" → "westus".
        "location",
    ];
    assert_shape(expected, &g.body, "", &skip);
    assert_same(
        expected,
        &g.body,
        &[
            "type",
            "tags",
            "properties.hardwareProfile",
            "properties.storageProfile.imageReference",
            "properties.osProfile.computerName",
            "properties.userData",
            "properties.provisioningState",
        ],
    );
    assert_eq!(g.body["location"], "westus");
    assert!(
        c.get(&win_path).await.body["properties"]
            .get("userData")
            .is_none(),
        "userData only with $expand"
    );
    assert!(
        g.body["properties"]["osProfile"]
            .get("adminPassword")
            .is_none(),
        "passwords are never returned"
    );

    // Instance view.
    let iv_ex = example("vm-VirtualMachine_Get_InstanceView.json");
    let iv = c
        .get(&compute_path(&iv_ex, "virtualMachines/myVM/instanceView"))
        .await;
    assert_eq!(iv.status, 200);
    let expected = &response(&iv_ex, 200)["body"];
    assert_shape(
        expected,
        &iv.body,
        "",
        &[
            "bootDiagnostics",
            "extensions",
            "patchStatus",
            "vmAgent.extensionHandlers",
        ],
    );
    assert_same(expected, &iv.body, &["computerName"]);
    for i in 0..2 {
        for k in ["code", "level", "displayStatus"] {
            assert_eq!(
                iv.body["statuses"][i][k], expected["statuses"][i][k],
                "statuses[{i}].{k}"
            );
        }
    }
    let expanded = c.get(&format!("{path}&$expand=instanceView")).await;
    assert_eq!(
        expanded.body["properties"]["instanceView"]["statuses"][1]["code"],
        "PowerState/running"
    );

    // Disk_Get: the VM's OS disk, named as the example's.
    let disk_ex = example("disk-Disk_Get.json");
    let dpath = compute_path(&disk_ex, "disks/myOsDisk");
    let d = c.get(&dpath).await;
    assert_eq!(d.status, 200, "{d:?}");
    let expected = &response(&disk_ex, 200)["body"];
    let skip = [
        "properties.purchasePlan",
        "properties.supportedCapabilities",
        "properties.supportsHibernation",
        "properties.securityProfile",
        "properties.encryptionSettingsCollection",
        "properties.LastOwnershipUpdateTime",
        "tags",
    ];
    assert_shape(expected, &d.body, "", &skip);
    assert_eq!(
        d.body["managedBy"],
        c.id(rg, "Microsoft.Compute/virtualMachines/myWinVM")
    );
    assert_eq!(d.body["properties"]["diskState"], "Attached");
    assert_same(
        expected,
        &d.body,
        &[
            "type",
            "properties.osType",
            "properties.creationData.createOption",
        ],
    );

    // Disk_Delete while attached: refused; the Windows VM keeps its disk (Detach) when deleted.
    let disk_del = example("disk-Disk_Delete.json");
    let r = c.delete(&dpath).await;
    assert_eq!((r.status, r.code()), (409, "OperationNotAllowed"));
    c.delete_done(&win_path).await;
    assert_eq!(
        c.get(&dpath).await.body["properties"]["diskState"],
        "Unattached"
    );
    let r = c.delete(&dpath).await;
    assert!(codes(&disk_del).contains(&r.status));
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_string();
    // Quirk: the example writes `…/operations/{id}&monitor=true`; the real URL has a `?`.
    assert!(loc.contains("?monitor=true&api-version="), "{loc}");
    assert_eq!(c.wait_location(&loc).await.status, 200);
    assert_eq!(c.get(&dpath).await.status, 404);

    // VirtualMachine_Delete_Force: 202 with Azure-AsyncOperation and a monitor Location.
    let del = example("vm-VirtualMachine_Delete_Force.json");
    let r = c
        .delete(&format!(
            "{}&forceDeletion={}",
            compute_path(&del, "virtualMachines/myVM"),
            param(&del, "forceDeletion")
        ))
        .await;
    assert!(codes(&del).contains(&r.status));
    assert_eq!(r.status, 202);
    assert!(r.header("azure-asyncoperation").is_some());
    let loc = r.header("location").unwrap().to_string();
    assert!(
        loc.contains("/providers/Microsoft.Compute/locations/westus/operations/")
            && loc.contains("monitor=true")
    );
    assert_eq!(c.wait_location(&loc).await.status, 200);
    assert_eq!(c.get(&path).await.code(), "ResourceNotFound");
}
