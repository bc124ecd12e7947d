//! Each long-running-operation style, as a client polling it sees it.

mod common;

use std::time::Duration;

use azure_arm_fake::{FailAction, FailNext, FakeConfig, LroDurations, ResourceKind, Timing};
use common::Client;
use serde_json::json;

/// LROs long enough to observe their intermediate states even on a loaded machine.
fn slow() -> FakeConfig {
    FakeConfig {
        timing: Timing {
            latency: Duration::ZERO,
            lro: LroDurations::uniform(Duration::from_millis(1000))
                .with(ResourceKind::VirtualMachine, Duration::from_millis(1200))
                .with(ResourceKind::ResourceGroup, Duration::from_millis(1000)),
            retry_after_secs: 1,
        },
        ..FakeConfig::default()
    }
}

#[tokio::test]
async fn network_put_completes_through_azure_async_operation() {
    let fake = common::start(slow());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let path = c.net("rg", "networkSecurityGroups/nsg");
    let r = c.put(&path, &json!({"location": "eastus"})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.state(), "Updating");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(r.header("azure-asyncnotification"), Some("Enabled"));
    assert!(r.header("location").is_none());
    assert!(
        r.header("x-ms-ratelimit-remaining-subscription-writes")
            .is_some()
    );
    let url = r.header("azure-asyncoperation").unwrap().to_string();
    assert!(
        url.starts_with(&format!(
            "{}/subscriptions/{}/providers/Microsoft.Network/locations/eastus/operations/",
            fake.arm_url(),
            c.sub
        )),
        "{url}"
    );
    assert!(url.ends_with("?api-version=2024-03-01"));

    let running = c.get(&url).await;
    assert_eq!(running.status, 200);
    assert_eq!(running.body, json!({"status": "InProgress"}));
    assert_eq!(running.header("retry-after"), Some("1"));
    assert_eq!(c.get(&path).await.state(), "Updating");

    assert_eq!(c.wait_async(&url).await, json!({"status": "Succeeded"}));
    assert_eq!(c.get(&path).await.state(), "Succeeded");
    // Finished operations keep answering.
    assert_eq!(c.get(&url).await.body, json!({"status": "Succeeded"}));

    // An update: 200, Updating again.
    let r = c
        .put(&path, &json!({"location": "eastus", "tags": {"k": "v"}}))
        .await;
    assert_eq!((r.status, r.state()), (200, "Updating"));
}

#[tokio::test]
async fn network_delete_completes_through_location() {
    let fake = common::start(slow());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let path = c.net("rg", "publicIPAddresses/ip");
    c.put_done(&path, &json!({"location": "eastus"})).await;

    let r = c.delete(&path).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body, serde_json::Value::Null, "202 has no body");
    let loc = r.header("location").unwrap().to_string();
    assert!(r.header("azure-asyncoperation").is_some());
    assert!(
        loc.contains("/providers/Microsoft.Network/locations/eastus/operationResults/"),
        "{loc}"
    );
    assert!(
        r.header("x-ms-ratelimit-remaining-subscription-deletes")
            .is_some()
    );

    assert_eq!(c.get(&path).await.state(), "Deleting");
    let running = c.get(&loc).await;
    assert_eq!(running.status, 202);
    assert_eq!(running.header("location"), Some(loc.as_str()));
    assert!(running.header("retry-after").is_some());
    // A second DELETE while running answers like the first.
    let again = c.delete(&path).await;
    assert_eq!(
        (again.status, again.header("location")),
        (202, Some(loc.as_str()))
    );

    let done = c.wait_location(&loc).await;
    assert_eq!(done.status, 204);
    assert_eq!(
        c.get(&loc).await.status,
        204,
        "the Location URL keeps answering"
    );
    let gone = c.get(&path).await;
    assert_eq!((gone.status, gone.code()), (404, "ResourceNotFound"));
    assert_eq!(gone.header("x-ms-failure-cause"), Some("gateway"));
}

#[tokio::test]
async fn resource_group_delete_uses_location_only_and_cascades() {
    let fake = common::start(slow());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let pip = c.create_pip("rg", "ip").await;
    let nic = c.create_nic("rg", "nic", &subnet, Some(&pip)).await;
    c.put_done(&c.net("rg", "networkSecurityGroups/nsg"), &json!({"location": "eastus", "properties": {"securityRules": [
        {"name": "ssh", "properties": {"protocol": "Tcp", "access": "Allow", "direction": "Inbound", "priority": 100,
            "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22"}}]}})).await;
    c.create_vm("rg", "vm", &nic).await;
    let before = fake.resources().len();
    assert_eq!(before, 9, "{:#?}", fake.resources()); // rg, vnet, subnet, pip, nic, nsg, rule, disk, vm

    let r = c.delete(&c.rg("rg")).await;
    assert_eq!(r.status, 202);
    assert!(
        r.header("azure-asyncoperation").is_none(),
        "resource-group deletion has Location only"
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    let loc = r.header("location").unwrap().to_string();
    assert!(
        loc.contains(&format!("/subscriptions/{}/operationresults/", c.sub)),
        "{loc}"
    );

    let g = c.get(&c.rg("rg")).await;
    assert_eq!((g.status, g.state()), (200, "Deleting"));
    let w = c
        .put(
            &c.net("rg", "publicIPAddresses/late"),
            &json!({"location": "eastus"}),
        )
        .await;
    assert_eq!((w.status, w.code()), (409, "ResourceGroupBeingDeleted"));
    let w = c.put(&c.rg("rg"), &json!({"location": "eastus"})).await;
    assert_eq!((w.status, w.code()), (409, "ResourceGroupBeingDeleted"));
    assert_eq!(c.get(&loc).await.status, 202);
    assert_eq!(
        c.delete(&c.rg("rg")).await.header("location"),
        Some(loc.as_str())
    );

    let done = c.wait_location(&loc).await;
    assert_eq!(done.status, 200);
    let g = c.get(&c.rg("rg")).await;
    assert_eq!((g.status, g.code()), (404, "ResourceGroupNotFound"));
    assert!(fake.resources().is_empty(), "{:#?}", fake.resources());
    let stats = fake.stats();
    assert!(stats.created_more_than_once().is_empty());
    assert_eq!(stats.deleted.len(), before);
    assert!(stats.deleted.values().all(|n| *n == 1));
}

#[tokio::test]
async fn vm_create_and_delete_follow_compute_style() {
    let fake = common::start(slow());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    // A dynamic (Basic) address: allocated when the VM runs, released when it goes.
    c.put_done(
        &c.net("rg", "publicIPAddresses/ip"),
        &json!({"location": "eastus"}),
    )
    .await;
    let pip = c.id("rg", "Microsoft.Network/publicIPAddresses/ip");
    let nic = c.create_nic("rg", "nic", &subnet, Some(&pip)).await;

    let path = c.vm("rg", "vm");
    let r = c.put(&path, &Client::vm_body(&nic)).await;
    assert_eq!((r.status, r.state()), (201, "Creating"));
    assert!(r.header("location").is_none());
    let url = r.header("azure-asyncoperation").unwrap().to_string();
    assert!(
        url.contains("/providers/Microsoft.Compute/locations/eastus/operations/"),
        "{url}"
    );
    assert!(
        r.header("x-ms-ratelimit-remaining-resource")
            .is_some_and(|h| h.starts_with("Microsoft.Compute/"))
    );
    let running = c.get(&url).await;
    assert_eq!(running.body["status"], "InProgress");
    assert!(running.body["startTime"].is_string() && running.body["endTime"].is_null());
    assert_eq!(c.get(&path).await.state(), "Creating");
    // The NIC is taken at once; the OS disk exists from the start.
    assert_eq!(
        c.get(&c.net("rg", "networkInterfaces/nic")).await.body["properties"]["virtualMachine"]["id"],
        c.id("rg", "Microsoft.Compute/virtualMachines/vm")
    );
    let disk_id = r.body["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        disk_id.contains("/providers/Microsoft.Compute/disks/vm_OsDisk_1_"),
        "{disk_id}"
    );

    let status = c.wait_async(&url).await;
    assert_eq!(status["status"], "Succeeded");
    assert!(status["endTime"].is_string());
    let vm = c.get(&path).await;
    assert_eq!(vm.state(), "Succeeded");
    assert!(
        vm.body["properties"]["vmId"].is_string()
            && vm.body["properties"]["timeCreated"].is_string()
    );
    let ip = c.get(&c.net("rg", "publicIPAddresses/ip")).await;
    assert!(
        ip.body["properties"]["ipAddress"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.100.")),
        "{:?}",
        ip.body
    );
    assert!(
        c.get(&c.net("rg", "networkInterfaces/nic")).await.body["properties"]["macAddress"]
            .is_string()
    );

    let r = c.delete(&path).await;
    assert_eq!(r.status, 202);
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.contains("?monitor=true&api-version="), "{loc}");
    assert!(r.header("azure-asyncoperation").is_some());
    assert_eq!(c.get(&path).await.state(), "Deleting");
    let w = c.put(&path, &Client::vm_body(&nic)).await;
    assert_eq!((w.status, w.code()), (409, "OperationNotAllowed"));
    assert_eq!(c.get(&loc).await.status, 202);
    assert_eq!(c.wait_location(&loc).await.status, 200);
    // deleteOption Delete on the disk and the NIC; the public IP stays, released.
    assert_eq!(c.get(&path).await.status, 404);
    assert_eq!(
        c.get(&format!("{disk_id}?api-version={}", common::DISK_API))
            .await
            .status,
        404
    );
    assert_eq!(
        c.get(&c.net("rg", "networkInterfaces/nic")).await.status,
        404
    );
    let ip = c.get(&c.net("rg", "publicIPAddresses/ip")).await;
    assert_eq!(ip.status, 200);
    assert!(ip.body["properties"].get("ipAddress").is_none());
    assert!(ip.body["properties"].get("ipConfiguration").is_none());
}

#[tokio::test]
async fn vm_delete_detach_keeps_disk_and_nic() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let nic = c.create_nic("rg", "nic", &subnet, None).await;
    let mut body = Client::vm_body(&nic);
    body["properties"]["storageProfile"]["osDisk"]["deleteOption"] = json!("Detach");
    body["properties"]["networkProfile"]["networkInterfaces"][0]["properties"]["deleteOption"] =
        json!("Detach");
    body["properties"]["storageProfile"]["osDisk"]["name"] = json!("keep-me");
    c.put_done(&c.vm("rg", "vm"), &body).await;
    c.delete_done(&c.vm("rg", "vm")).await;
    let disk = c.get(&c.disk("rg", "keep-me")).await;
    assert_eq!(disk.status, 200);
    assert!(disk.body.get("managedBy").is_none());
    assert_eq!(disk.body["properties"]["diskState"], "Unattached");
    let n = c.get(&c.net("rg", "networkInterfaces/nic")).await;
    assert_eq!(n.status, 200);
    assert!(n.body["properties"].get("virtualMachine").is_none());
    // Free again: another VM may take it.
    let mut again = Client::vm_body(&nic);
    again["properties"]["storageProfile"]["osDisk"]["name"] = json!("second");
    c.put_done(&c.vm("rg", "vm2"), &again).await;
}

#[tokio::test]
async fn a_vm_re_put_during_creation_joins_it() {
    let fake = common::start(slow());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let nic = c.create_nic("rg", "nic", &subnet, None).await;
    let path = c.vm("rg", "vm");
    let first = c.put(&path, &Client::vm_body(&nic)).await;
    assert_eq!(first.status, 201);
    // A client restarted mid-creation sends the same PUT again (crash recovery by PUT).
    let second = c.put(&path, &Client::vm_body(&nic)).await;
    assert_eq!((second.status, second.state()), (200, "Creating"));
    let old = c.get(first.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(old.body["status"], "Canceled");
    assert_eq!(old.body["error"]["code"], "OperationPreempted");
    assert_eq!(
        c.wait_async(second.header("azure-asyncoperation").unwrap())
            .await["status"],
        "Succeeded"
    );
    assert_eq!(c.get(&path).await.state(), "Succeeded");
    let stats = fake.stats();
    assert!(
        stats.created_more_than_once().is_empty(),
        "{:?}",
        stats.created
    );
    assert_eq!(stats.count("PUT", ResourceKind::VirtualMachine), 2);
}

#[tokio::test]
async fn failed_operations_report_their_error_everywhere() {
    let fake = common::start(common::fast_config());
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let subnet = c.create_network("rg").await;
    let nic = c.create_nic("rg", "nic", &subnet, None).await;

    fake.fail_next(FailNext {
        kind: ResourceKind::VirtualMachine,
        action: FailAction::Create,
        count: 1,
        code: None,
        message: None,
    });
    let r = c.put(&c.vm("rg", "vm"), &Client::vm_body(&nic)).await;
    assert_eq!(r.status, 201);
    let status = c
        .wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["code"], "AllocationFailed");
    let vm = c.get(&c.vm("rg", "vm")).await;
    assert_eq!(vm.state(), "Failed");
    let iv = c
        .get(&c.vm("rg", "vm").replace("?api", "/instanceView?api"))
        .await;
    assert_eq!(
        iv.body["statuses"][0]["code"],
        "ProvisioningState/failed/AllocationFailed"
    );
    // The same PUT again repairs it.
    assert_eq!(
        c.put_done(&c.vm("rg", "vm"), &Client::vm_body(&nic))
            .await
            .state(),
        "Succeeded"
    );

    // A failed delete: the status says Failed, the Location URL answers the error.
    fake.fail_next(FailNext {
        kind: ResourceKind::PublicIpAddress,
        action: FailAction::Delete,
        count: 1,
        code: Some("InternalServerError".into()),
        message: Some("boom".into()),
    });
    let ip = c.net("rg", "publicIPAddresses/ip");
    c.put_done(&ip, &json!({"location": "eastus"})).await;
    let r = c.delete(&ip).await;
    let status = c
        .wait_async(r.header("azure-asyncoperation").unwrap())
        .await;
    assert_eq!(status["status"], "Failed");
    assert_eq!(status["error"]["message"], "boom");
    let result = c.get(r.header("location").unwrap()).await;
    assert_eq!((result.status, result.code()), (400, "InternalServerError"));
    assert_eq!(c.get(&ip).await.state(), "Failed");
    assert_eq!(c.delete_done(&ip).await.status, 204);
    assert_eq!(fake.stats().faults.failed_operations, 2);
}

#[tokio::test]
async fn retry_after_follows_the_timing() {
    let mut cfg = common::fast_config();
    cfg.timing.retry_after_secs = 7;
    let fake = common::start(cfg);
    let c = Client::new(&fake);
    c.create_rg("rg").await;
    let r = c
        .put(
            &c.net("rg", "networkSecurityGroups/n"),
            &json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(r.header("retry-after"), Some("7"));
    let mut t = fake.timing();
    t.retry_after_secs = 0;
    fake.set_timing(t);
    let r = c.delete(&c.rg("rg")).await;
    assert_eq!(
        r.header("retry-after"),
        Some("0"),
        "Retry-After: 0 is legal and clients must cope"
    );
}
