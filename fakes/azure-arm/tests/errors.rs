//! Every error code the fake reproduces, provoked the way a client would provoke it.

mod common;

use std::time::Duration;

use azure_arm_fake::{ConflictStyle, FakeConfig, LroDurations, ResourceKind};
use common::{Client, Resp};
use serde_json::json;

fn expect(r: &Resp, status: u16, code: &str) {
    assert_eq!((r.status, r.code()), (status, code), "{r:?}");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

/// A group `rg` with VNet `vnet`/`default`, a Standard IP `ip` and NIC `nic` using both.
async fn network(c: &Client) -> (String, String, String) {
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let pip = c.create_pip("rg", "ip").await;
    let nic = c.create_nic("rg", "nic", &subnet, Some(&pip)).await;
    (subnet, pip, nic)
}

#[tokio::test]
async fn front_door_errors() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    let sub = c.sub.clone();
    expect(
        &c.get(&format!("/subscriptions/{sub}/resourcegroups/rg"))
            .await,
        400,
        "MissingApiVersionParameter",
    );
    let r = c
        .get(&format!(
            "/subscriptions/{sub}/resourcegroups/rg?api-version=1999-01-01"
        ))
        .await;
    expect(&r, 400, "NoRegisteredProviderFound");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("2021-04-01")
    );
    let r = c.get(&format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v?api-version=2024-07-01")).await;
    expect(&r, 400, "NoRegisteredProviderFound");
    expect(
        &c.get("/subscriptions/nope/resourcegroups/rg?api-version=2021-04-01")
            .await,
        404,
        "SubscriptionNotFound",
    );
    expect(&c.get(&format!("/subscriptions/{sub}/resourceGroups/rg/providers/Microsoft.Network/loadBalancers/lb?api-version=2024-03-01")).await, 404, "InvalidResourceType");
    expect(&c.get("/nothing/here").await, 404, "NotFound");
    expect(
        &c.send("POST", &c.rg("rg"), Some(&json!({}))).await,
        405,
        "MethodNotAllowed",
    );
    expect(
        &c.get(&format!(
            "/subscriptions/{sub}/resources?api-version=2021-04-01&$filter=location eq 'x'"
        ))
        .await,
        400,
        "BadRequest",
    );
}

#[tokio::test]
async fn authorization_errors() {
    let fake = common::start(common::fast_config());
    let mut c = Client::new(&fake);
    c.token = None;
    let r = c.get(&c.rg("rg")).await;
    expect(&r, 401, "AuthenticationFailed");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.starts_with("Bearer authorization_uri=")
            && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
    c.token = Some("forged".into());
    expect(&c.get(&c.rg("rg")).await, 401, "InvalidAuthenticationToken");
    assert_eq!(fake.stats().unauthorized, 2);
    assert!(fake.resources().is_empty());
}

#[tokio::test]
async fn resource_group_errors() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    let r = c.get(&c.net("rg", "virtualNetworks/v")).await;
    expect(&r, 404, "ResourceGroupNotFound");
    assert_eq!(r.header("x-ms-failure-cause"), Some("gateway"));
    expect(
        &c.put(
            &c.net("rg", "virtualNetworks/v"),
            &json!({"location": "eastus"}),
        )
        .await,
        404,
        "ResourceGroupNotFound",
    );
    expect(&c.delete(&c.rg("rg")).await, 404, "ResourceGroupNotFound");
    assert_eq!(c.send("HEAD", &c.rg("rg"), None).await.status, 404);
    expect(
        &c.put(&c.rg("rg"), &json!({})).await,
        400,
        "LocationRequired",
    );
    expect(
        &c.put(&c.rg("rg."), &json!({"location": "eastus"})).await,
        400,
        "InvalidResourceGroup",
    );
    expect(
        &c.put(&c.rg("r*g"), &json!({"location": "eastus"})).await,
        400,
        "InvalidResourceGroup",
    );
    expect(
        &c.put(&c.rg("rg"), &json!({"location": 5})).await,
        400,
        "InvalidRequestContent",
    );
    c.create_rg("rg").await;
    assert_eq!(c.send("HEAD", &c.rg("rg"), None).await.status, 204);
    expect(
        &c.put(&c.rg("rg"), &json!({"location": "westus"})).await,
        409,
        "InvalidResourceGroupLocation",
    );
    let r = c.patch(&c.rg("rg"), &json!({"tags": {"a": "b"}})).await;
    assert_eq!((r.status, &r.body["tags"]), (200, &json!({"a": "b"})));
}

#[tokio::test]
async fn not_found_errors() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let r = c.get(&c.net("rg", "virtualNetworks/v")).await;
    expect(&r, 404, "ResourceNotFound");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Microsoft.Network/virtualNetworks/v")
    );
    expect(
        &c.get(&c.net("rg", "virtualNetworks/v/subnets/s")).await,
        404,
        "ResourceNotFound",
    );
    expect(
        &c.put(
            &c.net("rg", "virtualNetworks/v/subnets/s"),
            &json!({"properties": {"addressPrefix": "10.0.0.0/24"}}),
        )
        .await,
        404,
        "ParentResourceNotFound",
    );
    c.create_network("rg").await;
    expect(
        &c.get(&c.net("rg", "virtualNetworks/vnet/subnets/nope"))
            .await,
        404,
        "NotFound",
    );
    assert_eq!(
        c.delete(&c.net("rg", "virtualNetworks/vnet/subnets/nope"))
            .await
            .status,
        204
    );
    assert_eq!(c.delete(&c.vm("rg", "nope")).await.status, 204);
    let r = c
        .put(
            &c.vm("rg", "vm"),
            &Client::vm_body(&c.id("rg", "Microsoft.Network/networkInterfaces/ghost")),
        )
        .await;
    expect(&r, 404, "NotFound");
}

#[tokio::test]
async fn malformed_bodies() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let raw = |path: String| {
        let c = &c;
        async move {
            let resp = c
                .http
                .put(format!("{}{path}", c.base))
                .bearer_auth(c.token.as_deref().unwrap())
                .header("content-type", "application/json")
                .body("{not json")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: serde_json::Value = resp.json_or_null().await;
            (status, body)
        }
    };
    let (status, body) = raw(c.net("rg", "virtualNetworks/v")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidRequestFormat"))
    );
    assert_eq!(body["error"]["details"][0]["code"], "InvalidJson");
    let (status, body) = raw(c.vm("rg", "vm")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("InvalidRequestContent"))
    );
    expect(
        &c.put(
            &c.net("rg", "virtualNetworks/v"),
            &json!({"properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}),
        )
        .await,
        400,
        "LocationRequired",
    );
    expect(
        &c.put(
            &c.net("rg", "virtualNetworks/v"),
            &json!({"location": "eastus", "properties": {}}),
        )
        .await,
        400,
        "InvalidRequestFormat",
    );
    expect(&c.put(&c.net("rg", "virtualNetworks/v"), &json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.1/16"]}}})).await, 400, "InvalidAddressPrefixFormatting");
    expect(
        &c.put(
            &c.net("rg", "virtualNetworks/-v"),
            &json!({"location": "eastus"}),
        )
        .await,
        400,
        "InvalidResourceName",
    );
    expect(
        &c.put(
            &c.net("rg", "networkInterfaces/n"),
            &json!({"location": "eastus", "properties": {}}),
        )
        .await,
        400,
        "InvalidRequestFormat",
    );
    assert!(
        fake.resources().len() == 1,
        "nothing but the group was created"
    );
}

trait JsonOrNull {
    async fn json_or_null(self) -> serde_json::Value;
}

impl JsonOrNull for reqwest::Response {
    async fn json_or_null(self) -> serde_json::Value {
        let bytes = self.bytes().await.unwrap_or_default();
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)
    }
}

#[tokio::test]
async fn subnet_and_address_errors() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    let (subnet, _, _) = network(&c).await;
    let sub_path = c.net("rg", "virtualNetworks/vnet/subnets/other");
    expect(
        &c.put(
            &sub_path,
            &json!({"properties": {"addressPrefix": "10.9.0.0/24"}}),
        )
        .await,
        400,
        "NetcfgSubnetRangeOutsideVnet",
    );
    expect(
        &c.put(
            &sub_path,
            &json!({"properties": {"addressPrefix": "10.0.1.128/25"}}),
        )
        .await,
        400,
        "NetcfgSubnetRangesOverlap",
    );
    expect(
        &c.put(
            &c.net("rg", "virtualNetworks/vnet/subnets/default"),
            &json!({"properties": {"addressPrefix": "10.0.2.0/24"}}),
        )
        .await,
        400,
        "InUseSubnetCannotBeUpdated",
    );

    // In use by the NIC: the subnet, the VNet, and a VNet PUT that drops the subnet all fail.
    let r = c
        .delete(&c.net("rg", "virtualNetworks/vnet/subnets/default"))
        .await;
    expect(&r, 400, "InUseSubnetCannotBeDeleted");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/networkInterfaces/nic/ipConfigurations/ipconfig1")
    );
    expect(
        &c.delete(&c.net("rg", "virtualNetworks/vnet")).await,
        400,
        "InUseSubnetCannotBeDeleted",
    );
    let r = c.put(&c.net("rg", "virtualNetworks/vnet"), &json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})).await;
    expect(&r, 400, "InUseSubnetCannotBeDeleted");
    assert_eq!(
        c.get(&c.net("rg", "virtualNetworks/vnet/subnets/default"))
            .await
            .status,
        200
    );
    // A VNet PUT that keeps it (and adds one) is fine; one that drops an unused subnet deletes it.
    c.put_done(&c.net("rg", "virtualNetworks/vnet"), &json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.1.0/24"}}, {"name": "extra", "properties": {"addressPrefix": "10.0.3.0/24"}}]}})).await;
    c.put_done(&c.net("rg", "virtualNetworks/vnet"), &json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.1.0/24"}}]}})).await;
    assert_eq!(
        c.get(&c.net("rg", "virtualNetworks/vnet/subnets/extra"))
            .await
            .status,
        404
    );

    // Static private addresses.
    let nic2 = c.net("rg", "networkInterfaces/nic2");
    let ipc = |addr: &str| json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": subnet}, "privateIPAllocationMethod": "Static", "privateIPAddress": addr}}]}});
    expect(
        &c.put(&nic2, &ipc("10.0.1.4")).await,
        400,
        "PrivateIPAddressInUse",
    );
    expect(
        &c.put(&nic2, &ipc("10.0.2.4")).await,
        400,
        "PrivateIPAddressNotInSubnet",
    );
    let r = c.put_done(&nic2, &ipc("10.0.1.50")).await;
    assert_eq!(
        r.body["properties"]["ipConfigurations"][0]["properties"]["privateIPAddress"],
        "10.0.1.50"
    );
    // NICs in another region than their VNet: refused.
    expect(&c.put(&c.net("rg", "networkInterfaces/far"), &json!({"location": "westus", "properties": {"ipConfigurations": [{"name": "c", "properties": {"subnet": {"id": subnet}}}]}})).await, 400, "InvalidResourceReference");
}

#[tokio::test]
async fn references_and_in_use_errors() {
    let fake = common::start(FakeConfig {
        timing: azure_arm_fake::Timing {
            lro: LroDurations::uniform(Duration::from_millis(60))
                .with(ResourceKind::PublicIpAddress, Duration::from_millis(1000)),
            ..common::fast_config().timing
        },
        ..common::fast_config()
    });
    let c = Client::new(&fake);
    let (subnet, pip, nic) = network(&c).await;

    let missing = c.id("rg", "Microsoft.Network/virtualNetworks/vnet/subnets/ghost");
    let nic_body = |subnet: &str, pip: Option<&str>, nsg: Option<&str>| {
        let mut p = json!({"subnet": {"id": subnet}});
        if let Some(x) = pip {
            p["publicIPAddress"] = json!({"id": x});
        }
        let mut props = json!({"ipConfigurations": [{"name": "c", "properties": p}]});
        if let Some(n) = nsg {
            props["networkSecurityGroup"] = json!({"id": n});
        }
        json!({"location": "eastus", "properties": props})
    };
    let other = c.net("rg", "networkInterfaces/other");
    expect(
        &c.put(&other, &nic_body(&missing, None, None)).await,
        400,
        "InvalidResourceReference",
    );
    expect(
        &c.put(
            &other,
            &nic_body(
                &subnet,
                Some(&c.id("rg", "Microsoft.Network/publicIPAddresses/ghost")),
                None,
            ),
        )
        .await,
        400,
        "InvalidResourceReference",
    );
    expect(
        &c.put(
            &other,
            &nic_body(
                &subnet,
                None,
                Some(&c.id("rg", "Microsoft.Network/networkSecurityGroups/ghost")),
            ),
        )
        .await,
        400,
        "InvalidResourceReference",
    );
    expect(
        &c.put(&other, &nic_body(&subnet, Some(&pip), None)).await,
        400,
        "PublicIPAddressInUse",
    );
    // A reference to something still being provisioned.
    let slow_ip = c.net("rg", "publicIPAddresses/slow");
    assert_eq!(
        c.put(&slow_ip, &json!({"location": "eastus"})).await.status,
        201
    );
    let r = c
        .put(
            &other,
            &nic_body(
                &subnet,
                Some(&c.id("rg", "Microsoft.Network/publicIPAddresses/slow")),
                None,
            ),
        )
        .await;
    expect(&r, 400, "ReferencedResourceNotProvisioned");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Updating")
    );

    expect(
        &c.delete(&c.net("rg", "publicIPAddresses/ip")).await,
        400,
        "PublicIPAddressCannotBeDeleted",
    );

    // NSG associations: on a NIC, on a subnet.
    let nsg_path = c.net("rg", "networkSecurityGroups/nsg");
    c.put_done(&nsg_path, &json!({"location": "eastus"})).await;
    let nsg = c.id("rg", "Microsoft.Network/networkSecurityGroups/nsg");
    c.put_done(
        &c.net("rg", "networkInterfaces/nic"),
        &nic_body(&subnet, Some(&pip), Some(&nsg)),
    )
    .await;
    let r = c.delete(&nsg_path).await;
    expect(&r, 400, "InUseNetworkSecurityGroupCannotBeDeleted");
    assert_eq!(
        c.get(&nsg_path).await.body["properties"]["networkInterfaces"][0]["id"],
        nic
    );
    c.put_done(
        &c.net("rg", "networkInterfaces/nic"),
        &nic_body(&subnet, Some(&pip), None),
    )
    .await;
    c.put_done(&c.net("rg", "virtualNetworks/vnet/subnets/default"), &json!({"properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": nsg}}})).await;
    expect(
        &c.delete(&nsg_path).await,
        400,
        "InUseNetworkSecurityGroupCannotBeDeleted",
    );
    assert_eq!(
        c.get(&nsg_path).await.body["properties"]["subnets"][0]["id"],
        subnet
    );

    // NICs and VMs.
    c.create_vm("rg", "vm1", &nic).await;
    expect(
        &c.delete(&c.net("rg", "networkInterfaces/nic")).await,
        400,
        "NicInUse",
    );
    let r = c.put(&c.vm("rg", "vm2"), &Client::vm_body(&nic)).await;
    expect(&r, 400, "NicInUse");
    let disk =
        c.get(&c.vm("rg", "vm1")).await.body["properties"]["storageProfile"]["osDisk"]["name"]
            .as_str()
            .unwrap()
            .to_string();
    expect(
        &c.delete(&c.disk("rg", &disk)).await,
        409,
        "OperationNotAllowed",
    );
}

#[tokio::test]
async fn vm_validation_errors() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    let (subnet, _, nic) = network(&c).await;
    let path = c.vm("rg", "vm");
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut b = Client::vm_body(&nic);
        f(&mut b);
        b
    };
    let r = c
        .put(
            &path,
            &with(&|b| {
                b["properties"]["osProfile"]["linuxConfiguration"] =
                    json!({"disablePasswordAuthentication": false});
            }),
        )
        .await;
    expect(&r, 400, "InvalidParameter");
    assert_eq!(r.body["error"]["target"], "adminPassword");
    expect(
        &c.put(
            &path,
            &with(&|b| b["properties"]["osProfile"]["adminUsername"] = json!("root")),
        )
        .await,
        400,
        "InvalidParameter",
    );
    expect(
        &c.put(
            &path,
            &with(&|b| {
                b["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"] = json!([])
            }),
        )
        .await,
        400,
        "InvalidParameter",
    );
    expect(
        &c.put(
            &path,
            &with(&|b| {
                b["properties"]["hardwareProfile"] = json!({});
            }),
        )
        .await,
        400,
        "InvalidParameter",
    );
    expect(
        &c.put(
            &path,
            &with(&|b| {
                b["location"] = serde_json::Value::Null;
            }),
        )
        .await,
        400,
        "LocationRequired",
    );
    expect(
        &c.put(
            &path,
            &with(&|b| {
                b["properties"]["networkProfile"] =
                    json!({"networkApiVersion": "2020-11-01", "networkInterfaceConfigurations": []})
            }),
        )
        .await,
        501,
        "NotImplementedInFake",
    );
    let nic2 = c.create_nic("rg", "nic2", &subnet, None).await;
    let r = c
        .put(
            &path,
            &with(&|b| {
                b["properties"]["networkProfile"]["networkInterfaces"] =
                    json!([{"id": nic}, {"id": nic2}])
            }),
        )
        .await;
    expect(&r, 400, "VMMustHaveOneNetworkInterfaceAsPrimary");
    // A password is accepted, and never shown again.
    let r = c
        .put(
            &path,
            &with(&|b| {
                b["properties"]["osProfile"]["linuxConfiguration"] =
                    json!({"disablePasswordAuthentication": false});
                b["properties"]["osProfile"]["adminPassword"] = json!("S3cret-never-echoed");
            }),
        )
        .await;
    assert_eq!(r.status, 201);
    assert!(!r.body.to_string().contains("S3cret-never-echoed"));
    c.wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert!(
        !c.get(&path)
            .await
            .body
            .to_string()
            .contains("S3cret-never-echoed")
    );
    // Updates may not change what only a new VM could.
    let r = c
        .put(
            &path,
            &with(&|b| {
                b["properties"]["osProfile"]["adminUsername"] = json!("someoneelse");
            }),
        )
        .await;
    expect(&r, 409, "PropertyChangeNotAllowed");
    // ... but a resize is an update in place.
    let r = c
        .patch(
            &path,
            &json!({"properties": {"hardwareProfile": {"vmSize": "Standard_B2s"}}}),
        )
        .await;
    assert_eq!((r.status, r.state()), (200, "Updating"));
    assert!(r.header("azure-asyncoperation").is_some());
    c.wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert_eq!(
        c.get(&path).await.body["properties"]["hardwareProfile"]["vmSize"],
        "Standard_B2s"
    );
}

#[tokio::test]
async fn security_rule_errors() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    c.put_done(
        &c.net("rg", "networkSecurityGroups/nsg"),
        &json!({"location": "eastus"}),
    )
    .await;
    let rule = |priority: u32, protocol: &str| {
        json!({"properties": {"protocol": protocol, "access": "Allow", "direction": "Inbound", "priority": priority,
        "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}})
    };
    let a = c.net("rg", "networkSecurityGroups/nsg/securityRules/a");
    expect(
        &c.put(&a, &rule(99, "Tcp")).await,
        400,
        "SecurityRuleInvalidPriority",
    );
    expect(
        &c.put(&a, &rule(100, "Gre")).await,
        400,
        "SecurityRuleParameterContainsUnsupportedValue",
    );
    c.put_done(&a, &rule(100, "tcp")).await;
    assert_eq!(c.get(&a).await.body["properties"]["protocol"], "Tcp");
    expect(
        &c.put(
            &c.net("rg", "networkSecurityGroups/nsg/securityRules/b"),
            &rule(100, "Udp"),
        )
        .await,
        400,
        "SecurityRuleConflict",
    );
}

#[tokio::test]
async fn concurrent_writes_fail_asynchronously_by_default() {
    let fake = common::start(FakeConfig {
        timing: azure_arm_fake::Timing {
            lro: LroDurations::uniform(Duration::from_millis(1000)),
            ..common::fast_config().timing
        },
        ..common::fast_config()
    });
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let vnet = c.net("rg", "virtualNetworks/vnet");
    let body = json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}});
    assert_eq!(c.put(&vnet, &body).await.status, 201);
    // A subnet PUT while its VNet is updating is accepted, then its operation fails.
    let r = c
        .put(
            &c.net("rg", "virtualNetworks/vnet/subnets/s"),
            &json!({"properties": {"addressPrefix": "10.0.0.0/24"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let status = c
        .wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["code"], "AnotherOperationInProgress");
    assert!(
        status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("/operations/")
    );
    assert_eq!(
        c.get(&c.net("rg", "virtualNetworks/vnet/subnets/s"))
            .await
            .state(),
        "Failed"
    );
    assert_eq!(fake.stats().faults.conflicts, 1);
    // Once the VNet is done, the same PUT succeeds.
    let r = c
        .put_done(
            &c.net("rg", "virtualNetworks/vnet/subnets/s"),
            &json!({"properties": {"addressPrefix": "10.0.0.0/24"}}),
        )
        .await;
    assert_eq!(r.state(), "Succeeded");
}

#[tokio::test]
async fn concurrent_writes_can_be_refused_with_429() {
    let fake = common::start(FakeConfig {
        conflict_style: ConflictStyle::Retryable429,
        timing: azure_arm_fake::Timing {
            lro: LroDurations::uniform(Duration::from_millis(1000)),
            ..common::fast_config().timing
        },
        ..common::fast_config()
    });
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let nsg = c.net("rg", "networkSecurityGroups/nsg");
    assert_eq!(
        c.put(&nsg, &json!({"location": "eastus"})).await.status,
        201
    );
    let r = c.delete(&nsg).await;
    expect(&r, 429, "RetryableErrorDueToAnotherOperation");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(c.get(&nsg).await.state(), "Updating", "nothing was applied");
}

#[tokio::test]
async fn in_use_errors_can_arrive_asynchronously() {
    let fake = common::start(FakeConfig {
        async_in_use_errors: true,
        ..common::fast_config()
    });
    let c = Client::new(&fake);
    network(&c).await;
    let r = c
        .delete(&c.net("rg", "virtualNetworks/vnet/subnets/default"))
        .await;
    assert_eq!(r.status, 202);
    let status = c
        .wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["code"], "InUseSubnetCannotBeDeleted");
    let result = c.get(r.header("location").unwrap()).await;
    expect(&result, 400, "InUseSubnetCannotBeDeleted");
    assert_eq!(
        c.get(&c.net("rg", "virtualNetworks/vnet/subnets/default"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn nics_can_be_reserved_after_their_vm_is_deleted() {
    let fake = common::start(FakeConfig {
        nic_reservation: Duration::from_secs(2),
        ..common::fast_config()
    });
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let nic = c.create_nic("rg", "nic", &subnet, None).await;
    let mut body = Client::vm_body(&nic);
    body["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"] =
        json!("Detach");
    c.put_done(&c.vm("rg", "vm"), &body).await;
    c.delete_done(&c.vm("rg", "vm")).await;
    expect(
        &c.put(&c.vm("rg", "vm2"), &body).await,
        400,
        "NicReservedForAnotherVm",
    );
    expect(
        &c.delete(&c.net("rg", "networkInterfaces/nic")).await,
        400,
        "NicReservedForAnotherVm",
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        c.delete_done(&c.net("rg", "networkInterfaces/nic"))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn a_member_that_refuses_blocks_the_group_deletion() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg1").await;
    c.create_rg("rg2").await;
    let subnet = c.create_network("rg1").await;
    c.create_pip("rg1", "ip").await;
    // A NIC in another group uses rg1's subnet.
    c.create_nic("rg2", "nic", &subnet, None).await;
    let r = c.delete(&c.rg("rg1")).await;
    let done = c.wait_location(r.header("location").unwrap()).await;
    expect(&done, 409, "ResourceGroupDeletionBlocked");
    let msg = done.body["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("Microsoft.Network/subnets/default") || msg.contains("virtualNetworks"),
        "{msg}"
    );
    assert_eq!(
        done.body["error"]["details"][0]["code"],
        "InUseSubnetCannotBeDeleted"
    );
    // Rolled back: the group is there again, the blocked members survive, the rest is gone.
    assert_eq!(c.get(&c.rg("rg1")).await.state(), "Succeeded");
    assert_eq!(
        c.get(&c.net("rg1", "virtualNetworks/vnet")).await.status,
        200
    );
    assert_eq!(
        c.get(&c.net("rg1", "publicIPAddresses/ip")).await.status,
        404
    );
}

/// A NIC with several IP configurations (each in its subnet, one primary): addresses from each
/// subnet, back-references on each subnet and public IP; refused: two configurations of one
/// name, a public IP on two configurations, a subnet of another network, no primary.
#[tokio::test]
async fn nic_with_several_ip_configurations() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    c.put_done(
        &c.net("rg", "virtualNetworks/vnet"),
        &json!({"location": "eastus", "properties": {
        "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
        "subnets": [
            {"name": "front", "properties": {"addressPrefix": "10.0.1.0/24"}},
            {"name": "back", "properties": {"addressPrefix": "10.0.2.0/24"}}
        ]}}),
    )
    .await;
    c.put_done(
        &c.net("rg", "virtualNetworks/other"),
        &json!({"location": "eastus", "properties": {
            "addressSpace": {"addressPrefixes": ["10.1.0.0/16"]},
            "subnets": [{"name": "elsewhere", "properties": {"addressPrefix": "10.1.1.0/24"}}]}}),
    )
    .await;
    let subnet = |vnet: &str, s: &str| {
        c.id(
            "rg",
            &format!("Microsoft.Network/virtualNetworks/{vnet}/subnets/{s}"),
        )
    };
    let (front, back, elsewhere) = (
        subnet("vnet", "front"),
        subnet("vnet", "back"),
        subnet("other", "elsewhere"),
    );
    let (ip1, ip2) = (
        c.create_pip("rg", "ip1").await,
        c.create_pip("rg", "ip2").await,
    );
    let cfg = |name: &str, subnet: &str, pip: Option<&str>, primary: bool| {
        let mut p = json!({"subnet": {"id": subnet}, "primary": primary});
        if let Some(x) = pip {
            p["publicIPAddress"] = json!({"id": x});
        }
        json!({"name": name, "properties": p})
    };
    let nic = |configs: Vec<serde_json::Value>| json!({"location": "eastus", "properties": {"ipConfigurations": configs}});
    let path = c.net("rg", "networkInterfaces/multi");

    let r = c
        .put_done(
            &path,
            &nic(vec![
                cfg("ipconfig1", &front, Some(&ip1), true),
                cfg("back", &back, Some(&ip2), false),
            ]),
        )
        .await;
    let configs = r.body["properties"]["ipConfigurations"].as_array().unwrap();
    let got: Vec<(&str, &str, bool)> = configs
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["properties"]["privateIPAddress"].as_str().unwrap(),
                c["properties"]["primary"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("ipconfig1", "10.0.1.4", true), ("back", "10.0.2.4", false)]
    );
    let nic_id = c.id("rg", "Microsoft.Network/networkInterfaces/multi");
    for (s, ipc) in [(&front, "ipconfig1"), (&back, "back")] {
        let sub = fake.resource(s).unwrap();
        assert_eq!(
            sub["properties"]["ipConfigurations"][0]["id"]
                .as_str()
                .unwrap()
                .to_ascii_lowercase(),
            format!("{nic_id}/ipConfigurations/{ipc}").to_ascii_lowercase()
        );
    }
    let pip = fake.resource(&ip2).unwrap();
    assert!(
        pip["properties"]["ipConfiguration"]["id"]
            .as_str()
            .unwrap()
            .ends_with("/ipConfigurations/back")
    );

    let other = c.net("rg", "networkInterfaces/other");
    expect(
        &c.put(
            &other,
            &nic(vec![
                cfg("a", &front, None, true),
                cfg("A", &back, None, false),
            ]),
        )
        .await,
        400,
        "InvalidRequestFormat",
    );
    c.delete_done(&path).await;
    expect(
        &c.put(
            &other,
            &nic(vec![
                cfg("a", &front, Some(&ip1), true),
                cfg("b", &back, Some(&ip1), false),
            ]),
        )
        .await,
        400,
        "PublicIPAddressInUse",
    );
    expect(
        &c.put(
            &other,
            &nic(vec![
                cfg("a", &front, None, true),
                cfg("b", &elsewhere, None, false),
            ]),
        )
        .await,
        400,
        "InvalidRequestFormat",
    );
    expect(
        &c.put(
            &other,
            &nic(vec![
                cfg("a", &front, None, false),
                cfg("b", &back, None, false),
            ]),
        )
        .await,
        400,
        "InvalidRequestFormat",
    );
    assert!(
        fake.resource(&c.id("rg", "Microsoft.Network/networkInterfaces/other"))
            .is_none()
    );
}
