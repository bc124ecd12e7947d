//! The Azure provisioner proxy against the ARM fake (`fakes/azure-arm`): a fake per test, on
//! loopback, over TLS, with the real `ClientSecretCredential` flow.
//!
//! Whole lifecycles run through `ActuatorOrchestration`; after every `down` the fake lists what
//! it still holds (nothing, or the test fails) and says whether anything was created twice.
//! Faults (5xx, dropped connections, lost answers, throttling) are the fake's own; kill tests
//! re-run this test binary as a child and SIGKILL it while the fake, in this process, lives on.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use actuator::events::Collect;
use actuator::orchestrate::{ActuatorOrchestration, PlanOptions, ResourceAction};
use actuator::prelude::*;
use actuator::provision::{Provisioned, ProvisionerProxy, Scope};
use actuator_azure::azure_core::http::Method;
use actuator_azure::{AzureProxy, ResourceGroup, VirtualNetwork};

use actuator_tests::azure::*;

/// The id of the resource at model path `key`, as the state records it.
fn id_of(o: &mut ActuatorOrchestration, key: &str) -> String {
    output(o, key, "id")
}

fn output(o: &mut ActuatorOrchestration, key: &str, attr: &str) -> String {
    let st = o.state().unwrap();
    st.get(key)
        .unwrap_or_else(|| panic!("{key} not in the state"))
        .data
        .value()["outputs"][attr]
        .as_str()
        .unwrap_or_else(|| panic!("{key} has no output {attr}"))
        .to_owned()
}

fn created(fake: &FakeHandle, id: &str) -> u32 {
    let st = fake.stats();
    st.created
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(id))
        .map_or(0, |(_, n)| *n)
}

fn action(plan: &actuator::orchestrate::Plan, key: &str) -> ResourceAction {
    plan.resources
        .iter()
        .find(|r| &*r.key == key)
        .unwrap_or_else(|| panic!("{key} not in the plan"))
        .action
}

// ------------------------------------------------------------------------------------------------
// Lifecycle

#[test]
fn lifecycle_creates_each_resource_once_tagged_with_its_outputs_and_leaves_nothing() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let infra = cluster(3);
    let ns = ClusterNs::instance("ns", &infra);
    let dir = tempfile::tempdir().unwrap();
    let mut o = orch("life", &infra, azure.clone(), dir.path()).namespace(&ns);
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let all = fake.resources();
    assert_eq!(all.len(), cluster_size(3), "{:#?}", left(&fake));
    assert!(fake.stats().created_more_than_once().is_empty());
    // Every resource that can carry tags carries the four identity tags.
    let state = o.state().unwrap();
    for r in all.iter().filter(|r| {
        !matches!(
            r.kind,
            ResourceKind::Subnet | ResourceKind::SecurityRule | ResourceKind::Disk
        )
    }) {
        assert_eq!(r.tags["actuator:system"], "life", "{r:?}");
        assert_eq!(r.tags["actuator:workspace"], "default");
        assert!(state.get(&r.tags["actuator:path"]).is_some(), "{r:?}");
        assert!(!r.tags["actuator:state"].is_empty());
    }
    // The resource group's name is generated from system, workspace and name.
    let rg = id_of(&mut o, "Cluster.rg");
    assert!(rg.ends_with("/resourceGroups/life-default-cluster"), "{rg}");
    // Outputs: the VM's addresses are its interface's and its public IP's.
    let private: std::net::Ipv4Addr = output(&mut o, "Cluster.nodes.1", "private_ip")
        .parse()
        .unwrap();
    assert_eq!(private.octets()[..3], [10, 0, 1]);
    assert_eq!(
        output(&mut o, "Cluster.nics.1", "private_ip"),
        private.to_string()
    );
    let public = output(&mut o, "Cluster.nodes.1", "public_ip");
    assert_eq!(public, output(&mut o, "Cluster.ips.1", "ip"));
    assert_eq!(output(&mut o, "Cluster.nodes.1", "ip"), public);
    let role = ns.index(ns.root().node, 1);
    assert_eq!(ns.var_value(&role, "PUBLIC_IP").unwrap(), public);
    // The security group filters the subnet; the OS disk goes with its VM; the interface is the
    // VM's primary.
    let subnet = fake.resource(&id_of(&mut o, "Cluster.subnet")).unwrap();
    assert_eq!(
        subnet["properties"]["networkSecurityGroup"]["id"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        id_of(&mut o, "Cluster.fw").to_lowercase()
    );
    let vm = fake.resource(&id_of(&mut o, "Cluster.nodes.0")).unwrap();
    assert_eq!(
        vm["properties"]["storageProfile"]["osDisk"]["deleteOption"],
        "Delete"
    );
    assert_eq!(vm["properties"]["osProfile"]["computerName"], "node-0");
    assert_eq!(
        vm["properties"]["osProfile"]["linuxConfiguration"]["disablePasswordAuthentication"],
        true
    );
    // A second up changes nothing and writes nothing.
    let puts = |s: &Stats| {
        s.by_operation
            .iter()
            .filter(|(k, _)| k.starts_with("PUT"))
            .map(|(_, n)| n)
            .sum::<u64>()
    };
    let before = puts(&fake.stats());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    assert_eq!(puts(&fake.stats()), before);
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
    // Each long-running operation was followed as it declares: status resources
    // (Azure-AsyncOperation: network and VM writes, VM deletes) and results (Location: network
    // and resource-group deletes).
    let st = fake.stats();
    assert!(
        st.by_operation["GET operations"] > 0,
        "{:?}",
        st.by_operation
    );
    assert!(
        st.by_operation["GET operationResults"] > 0,
        "{:?}",
        st.by_operation
    );
    assert!(st.unauthorized == 0 && st.created_more_than_once().is_empty());
}

#[test]
fn a_previous_attempt_still_running_is_waited_for_by_its_provisioning_state_then_adopted() {
    #[derive(InfraModel)]
    struct Net {
        #[component(ResourceGroup::new("net").location("westeurope"))]
        rg: ResourceGroup,
        #[component(VirtualNetwork::new("net", ctx.model.rg, ["10.9.0.0/16"]))]
        vnet: VirtualNetwork,
    }
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let infra = Net::instance("n");
    let dir = tempfile::tempdir().unwrap();
    let mut o = ActuatorOrchestration::new("prior")
        .infra(&infra)
        .proxy(azure.clone())
        .state_dir(dir.path());
    rt().block_on(async {
        let only_rg = PlanOptions {
            targets: vec!["Net.rg".into()],
            ..PlanOptions::default()
        };
        assert!(o.up(&only_rg).await, "{}", failures(&o));
        // What a process killed right after its PUT leaves: the network, tagged for this state
        // and path, still being created (a slow one: 1 s).
        let rg = id_of(&mut o, "Net.rg");
        let mut tags = fake
            .resources()
            .into_iter()
            .find(|r| r.kind == ResourceKind::ResourceGroup)
            .unwrap()
            .tags;
        tags.insert("actuator:path".into(), "Net.vnet".into());
        let mut t = fake.timing();
        t.lro = t
            .lro
            .with(ResourceKind::VirtualNetwork, Duration::from_secs(1));
        fake.set_timing(t);
        let arm = azure.client().await.unwrap();
        let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/net");
        let body = json!({"location": "westeurope", "tags": tags,
            "properties": {"addressSpace": {"addressPrefixes": ["10.9.0.0/16"]}}});
        let a = arm
            .send(Method::Put, &vnet, "2024-03-01", &[], Some(&body))
            .await
            .unwrap();
        assert_eq!(a.provisioning_state(), Some("Updating"));
        azure.reset_stats();
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert_eq!(created(&fake, &vnet), 1, "adopted, not made twice");
        assert_eq!(
            id_of(&mut o, "Net.vnet").to_lowercase(),
            vnet.to_lowercase()
        );
        // Its provisioning state was polled until it settled.
        assert!(
            azure.stats().count("GET", "virtualNetworks") >= 3,
            "{:?}",
            azure.stats().by_operation
        );
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

// ------------------------------------------------------------------------------------------------
// Faults

#[test]
fn throttling_and_twenty_percent_faults_still_succeed_with_no_leaks() {
    let fake = start_fake(FakeConfig {
        faults: Faults {
            // 20 % of every ARM request fails (5xx, dropped, or applied and unanswered) …
            // … and writes and deletes are throttled to a budget of 4, refilled at 4/s.
            throttle: Throttle::writes(4, 4, 4.0),
            ..Faults::mixed(0.2)
        },
        ..fast()
    });
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let infra = cluster(3);
    let dir = tempfile::tempdir().unwrap();
    let mut o = orch("faults", &infra, azure.clone(), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert_eq!(
            fake.resources().len(),
            cluster_size(3),
            "{:#?}",
            left(&fake)
        );
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
    let st = fake.stats();
    assert!(st.created_more_than_once().is_empty(), "{:?}", st.created);
    let f = &st.faults;
    assert!(
        f.errors > 0 && f.dropped > 0 && f.lost_answers > 0 && f.throttled > 0,
        "{f:?}"
    );
    assert!(azure.stats().throttled > 0);
}

#[test]
fn another_operation_in_progress_is_waited_out() {
    // Writes racing on one network: the fake lets the second run and fail
    // AnotherOperationInProgress (as Network mostly does), or refuses it with a 429.
    for style in [
        azure_arm_fake::ConflictStyle::FailedAsync,
        azure_arm_fake::ConflictStyle::Retryable429,
    ] {
        let fake = start_fake(FakeConfig {
            conflict_style: style,
            ..fast()
        });
        let e = Endpoint::of(&fake);
        let azure = Arc::new(proxy(&e));
        let infra = cluster(1);
        let dir = tempfile::tempdir().unwrap();
        let mut o = orch("busy", &infra, azure.clone(), dir.path());
        rt().block_on(async {
            assert!(o.initiate_system().await, "{}", failures(&o));
            // Someone else's slow write on the network while the model changes a subnet on it.
            let vnet = id_of(&mut o, "Cluster.vnet");
            let mut t = fake.timing();
            t.lro = t
                .lro
                .with(ResourceKind::VirtualNetwork, Duration::from_millis(500));
            fake.set_timing(t);
            let arm = azure.client().await.unwrap();
            let mut body = fake.resource(&vnet).unwrap();
            body["tags"]["other"] = json!("writer");
            arm.send(Method::Put, &vnet, "2024-03-01", &[], Some(&body))
                .await
                .unwrap();
            let sub = id_of(&mut o, "Cluster.subnet");
            let rec = Provisioned {
                scope: Scope {
                    system: "busy".into(),
                    workspace: "default".into(),
                    state_id: String::new(),
                }
                .into(),
                kind: "azure.Subnet".into(),
                key: "Cluster.subnet".into(),
                outputs: BTreeMap::from([("id".to_owned(), sub.clone())]),
            };
            // Deleting everything but the group at once, dependencies first: each delete waits
            // for what uses it (the subnet for the interface, the interface for the VM, the
            // public IP for the interface, the security group for the subnet).
            let del = azure.deprovision(&rec);
            let nic = Provisioned {
                kind: "azure.NetworkInterface".into(),
                key: "Cluster.nics.0".into(),
                outputs: BTreeMap::from([("id".to_owned(), id_of(&mut o, "Cluster.nics.0"))]),
                ..rec.clone()
            };
            let vm = Provisioned {
                kind: "azure.VirtualMachine".into(),
                key: "Cluster.nodes.0".into(),
                outputs: BTreeMap::from([("id".to_owned(), id_of(&mut o, "Cluster.nodes.0"))]),
                ..rec.clone()
            };
            let ip = Provisioned {
                kind: "azure.PublicIp".into(),
                key: "Cluster.ips.0".into(),
                outputs: BTreeMap::from([("id".to_owned(), id_of(&mut o, "Cluster.ips.0"))]),
                ..rec.clone()
            };
            let fw = Provisioned {
                kind: "azure.NetworkSecurityGroup".into(),
                key: "Cluster.fw".into(),
                outputs: BTreeMap::from([("id".to_owned(), id_of(&mut o, "Cluster.fw"))]),
                ..rec.clone()
            };
            let (a, b, c, d, f) = tokio::join!(
                del,
                azure.deprovision(&nic),
                azure.deprovision(&vm),
                azure.deprovision(&ip),
                azure.deprovision(&fw)
            );
            for r in [a, b, c, d, f] {
                r.unwrap();
            }
            assert!(fake.resource(&sub).is_none());
            // Only the group and the network are left.
            assert_eq!(fake.resources().len(), 2, "{:#?}", left(&fake));
        });
        let st = fake.stats();
        assert!(st.faults.conflicts > 0, "{style:?}: {:?}", st.faults);
        // The interface, public IP and security group were each refused (in use) first; the
        // subnet met the other writer's operation on its network (the conflicts above).
        let refused: std::collections::BTreeSet<String> = fake
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE" && r.status == 400)
            .map(|r| {
                r.uri
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .rsplit('/')
                    .nth(1)
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        for kind in [
            "networkInterfaces",
            "publicIPAddresses",
            "networkSecurityGroups",
        ] {
            assert!(refused.contains(kind), "{kind} never refused: {refused:?}");
        }
        rt().block_on(async {
            assert!(o.teardown_system().await, "{}", failures(&o));
        });
        assert_eq!(left(&fake), Vec::<String>::new());
    }
}

// ------------------------------------------------------------------------------------------------
// Crash safety: kill the process during `up` or `down`

/// Not a test: the process the kill tests start (this binary again, asked for this function
/// alone with `--ignored`), SIGKILL and start again.
#[test]
#[ignore = "the kill tests run it as their child process"]
fn child_process_entry() {
    let mode = std::env::var("ACTUATOR_AZURE_CHILD")
        .expect("child_process_entry is the kill tests' child process; run them instead");
    let e = Endpoint::from_env();
    let dir = std::env::var("ACTUATOR_AZURE_STATE").unwrap();
    let k: usize = std::env::var("ACTUATOR_AZURE_K").unwrap().parse().unwrap();
    let infra = cluster(k);
    let azure = match mode.as_str() {
        // Only what the environment says, as a user's shell would.
        "env" => AzureProxy::new("azure"),
        _ => proxy(&e),
    };
    let mut o = orch("crash", &infra, Arc::new(azure), Path::new(&dir));
    let ok = rt().block_on(async {
        if mode == "down" {
            o.teardown_system().await
        } else {
            o.initiate_system().await
        }
    });
    assert!(ok, "{}", failures(&o));
}

fn spawn_child(mode: &str, e: &Endpoint, dir: &Path, k: usize) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ACTUATOR_AZURE_CHILD", mode)
        .envs(e.env())
        .env("ACTUATOR_AZURE_STATE", dir)
        .env("ACTUATOR_AZURE_K", k.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// A fake whose operations take long enough for kills to land in the middle of them.
fn slow() -> FakeConfig {
    let mut c = fast();
    c.timing.lro = azure_arm_fake::LroDurations::uniform(Duration::from_millis(150))
        .with(ResourceKind::VirtualMachine, Duration::from_millis(500))
        .with(ResourceKind::ResourceGroup, Duration::from_millis(300));
    c
}

#[test]
fn up_killed_at_any_point_then_up_again_converges_without_duplicates() {
    let fake = start_fake(slow());
    let e = Endpoint::of(&fake);
    let k = 2;
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for delay_ms in [300u64, 700, 1100, 1500, 1900] {
        let mut child = spawn_child("up", &e, dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let done = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        seen.push((delay_ms, done, fake.resources().len()));
    }
    assert!(
        seen.iter().any(|&(_, done, n)| !done && n > 0),
        "some run must be killed mid-way: {seen:?}"
    );
    let infra = cluster(k);
    let mut o = orch("crash", &infra, Arc::new(proxy(&e)), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{} after {seen:?}", failures(&o));
    });
    assert_eq!(
        fake.resources().len(),
        cluster_size(k),
        "{:#?} after {seen:?}",
        left(&fake)
    );
    assert!(
        fake.stats().created_more_than_once().is_empty(),
        "duplicates after {seen:?}: {:?}",
        fake.stats().created
    );
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn down_killed_at_any_point_then_down_again_leaves_nothing() {
    let fake = start_fake(slow());
    let e = Endpoint::of(&fake);
    let k = 2;
    let mut seen = Vec::new();
    for delay_ms in [200u64, 600, 1000] {
        let dir = tempfile::tempdir().unwrap();
        let infra = cluster(k);
        let mut o = orch("crash", &infra, Arc::new(proxy(&e)), dir.path());
        rt().block_on(async {
            assert!(o.initiate_system().await, "{}", failures(&o));
        });
        drop(o);
        let mut child = spawn_child("down", &e, dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let done = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        seen.push((delay_ms, done, fake.resources().len()));
        // A new process with no model: the state alone.
        let mut down = ActuatorOrchestration::new("crash")
            .proxy(Arc::new(proxy(&e)))
            .state_dir(dir.path());
        rt().block_on(async {
            assert!(down.teardown_system().await, "{}", failures(&down));
        });
        assert_eq!(
            left(&fake),
            Vec::<String>::new(),
            "killed after {delay_ms} ms"
        );
    }
    assert!(seen.iter().any(|&(_, done, n)| !done && n > 0), "{seen:?}");
}

#[test]
fn down_after_a_killed_up_finds_unrecorded_resources_by_tag() {
    let fake = start_fake(slow());
    let e = Endpoint::of(&fake);
    let k = 2;
    for delay_ms in [400u64, 900, 1400] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_child("up", &e, dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().ok();
        child.wait().unwrap();
        let mut down = ActuatorOrchestration::new("crash")
            .proxy(Arc::new(proxy(&e)))
            .state_dir(dir.path());
        rt().block_on(async {
            assert!(down.teardown_system().await, "{}", failures(&down));
        });
        assert_eq!(
            left(&fake),
            Vec::<String>::new(),
            "killed after {delay_ms} ms"
        );
    }
}

#[test]
fn the_standard_environment_configures_the_proxy() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &e.ca_pem).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ACTUATOR_AZURE_CHILD", "env")
        .envs(e.env())
        .env("ACTUATOR_AZURE_STATE", dir.path())
        .env("ACTUATOR_AZURE_K", "1")
        .env("AZURE_SUBSCRIPTION_ID", &e.subscription)
        .env("AZURE_TENANT_ID", &e.tenant)
        .env("AZURE_CLIENT_ID", &e.client_id)
        .env("AZURE_CLIENT_SECRET", &e.client_secret)
        .env("AZURE_AUTHORITY_HOST", &e.authority_url)
        .env("AZURE_LOCATION", "westeurope")
        .env("ACTUATOR_AZURE_ARM_URL", &e.arm_url)
        .env("ACTUATOR_AZURE_CA_FILE", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fake.resources().len(), cluster_size(1));
    let mut down = ActuatorOrchestration::new("crash")
        .proxy(Arc::new(proxy(&e)))
        .state_dir(dir.path());
    rt().block_on(async {
        assert!(down.teardown_system().await, "{}", failures(&down));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

// ------------------------------------------------------------------------------------------------
// Convergence

#[test]
fn two_workspaces_live_side_by_side_in_one_subscription() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let run = |ws: &str| {
        let infra = cluster(1);
        ActuatorOrchestration::new("twin")
            .workspace(ws)
            .infra(&infra)
            .proxy(azure.clone())
            .options(options())
            .state_dir(dir.path().join(ws))
    };
    let (mut staging, mut prod) = (run("staging"), run("prod"));
    rt().block_on(async {
        assert!(staging.initiate_system().await, "{}", failures(&staging));
        assert!(prod.initiate_system().await, "{}", failures(&prod));
    });
    assert_eq!(fake.resources().len(), 2 * cluster_size(1));
    let groups: Vec<String> = fake
        .resources()
        .into_iter()
        .filter(|r| r.kind == ResourceKind::ResourceGroup)
        .map(|r| r.name)
        .collect();
    assert_eq!(groups.len(), 2);
    assert!(
        groups.contains(&"twin-staging-cluster".into())
            && groups.contains(&"twin-prod-cluster".into())
    );
    rt().block_on(async {
        assert!(staging.teardown_system().await, "{}", failures(&staging));
    });
    assert_eq!(fake.resources().len(), cluster_size(1));
    assert!(
        fake.resources()
            .iter()
            .all(|r| r.resource_group == "twin-prod-cluster")
    );
    drop(prod);
    let mut prod = run("prod");
    rt().block_on(async {
        let plan = prod
            .plan_with(&PlanOptions {
                refresh: true,
                ..PlanOptions::default()
            })
            .await
            .unwrap();
        assert!(!plan.has_changes(), "{:?}", plan.resources);
        assert!(prod.teardown_system().await, "{}", failures(&prod));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn a_vm_deleted_behind_the_tools_back_is_planned_and_recreated() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let infra = cluster(2);
    let dir = tempfile::tempdir().unwrap();
    let mut o = orch("drift", &infra, azure.clone(), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let vm = id_of(&mut o, "Cluster.nodes.1");
    fake.delete_out_of_band(&vm).unwrap();
    rt().block_on(async {
        let plan = o
            .plan_with(&PlanOptions {
                refresh: false,
                ..PlanOptions::default()
            })
            .await
            .unwrap();
        assert_eq!(
            action(&plan, "Cluster.nodes.1"),
            ResourceAction::Unchanged,
            "no refresh, no news"
        );
        let plan = o
            .plan_with(&PlanOptions {
                refresh: true,
                ..PlanOptions::default()
            })
            .await
            .unwrap();
        let r = plan
            .resources
            .iter()
            .find(|r| &*r.key == "Cluster.nodes.1")
            .unwrap();
        assert_eq!(r.action, ResourceAction::Create);
        assert!(r.reason.as_deref().unwrap_or("").contains("drift"), "{r:?}");
        assert_eq!(action(&plan, "Cluster.nodes.0"), ResourceAction::Unchanged);
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    assert!(fake.resource(&vm).is_some());
    assert_eq!(created(&fake, &vm), 2, "made again");
    assert_eq!(
        fake.resources().len(),
        cluster_size(2),
        "{:#?}",
        left(&fake)
    );
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn a_rule_and_a_size_change_in_place_an_image_change_replaces_the_vm() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let run = |s: Shape| {
        set_shape(s);
        let infra = cluster(1);
        let mut o = orch("change", &infra, azure.clone(), dir.path());
        let plan = rt().block_on(o.plan_with(&PlanOptions::default())).unwrap();
        assert!(rt().block_on(o.initiate_system()), "{}", failures(&o));
        (plan, o)
    };
    let (_, mut o) = run(Shape::default());
    let rule = id_of(&mut o, "Cluster.ssh");
    let vm = id_of(&mut o, "Cluster.nodes.0");
    let vm_id = output(&mut o, "Cluster.nodes.0", "vm_id");
    drop(o);
    // The rule's port and priority: in place.
    let (plan, mut o) = run(Shape {
        ssh_port: "2222",
        ssh_priority: 110,
        ..Shape::default()
    });
    assert_eq!(action(&plan, "Cluster.ssh"), ResourceAction::Update);
    assert_eq!(action(&plan, "Cluster.fw"), ResourceAction::Unchanged);
    let r = fake.resource(&rule).unwrap();
    assert_eq!(
        (
            r["properties"]["destinationPortRange"].as_str(),
            r["properties"]["priority"].as_i64()
        ),
        (Some("2222"), Some(110))
    );
    assert_eq!(created(&fake, &rule), 1);
    assert_eq!(id_of(&mut o, "Cluster.ssh"), rule);
    drop(o);
    // The VM's size: in place (a PATCH), the same VM.
    let (plan, mut o) = run(Shape {
        ssh_port: "2222",
        ssh_priority: 110,
        size: "Standard_B2s",
        ..Shape::default()
    });
    assert_eq!(action(&plan, "Cluster.nodes.0"), ResourceAction::Update);
    assert_eq!(
        fake.resource(&vm).unwrap()["properties"]["hardwareProfile"]["vmSize"],
        "Standard_B2s"
    );
    assert_eq!(output(&mut o, "Cluster.nodes.0", "vm_id"), vm_id);
    assert!(fake.stats().count("PATCH", ResourceKind::VirtualMachine) >= 1);
    drop(o);
    // The image: a new VM on the same interface; the old one's disk went with it.
    let (plan, mut o) = run(Shape {
        ssh_port: "2222",
        ssh_priority: 110,
        size: "Standard_B2s",
        image_sku: "minimal",
        ..Shape::default()
    });
    assert_eq!(action(&plan, "Cluster.nodes.0"), ResourceAction::Replace);
    assert_eq!(action(&plan, "Cluster.nics.0"), ResourceAction::Unchanged);
    assert_ne!(output(&mut o, "Cluster.nodes.0", "vm_id"), vm_id);
    assert_eq!(created(&fake, &vm), 2);
    assert_eq!(
        fake.resources().len(),
        cluster_size(1),
        "{:#?}",
        left(&fake)
    );
    assert_eq!(
        fake.resource(&vm).unwrap()["properties"]["storageProfile"]["imageReference"]["sku"],
        "minimal"
    );
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
    set_shape(Shape::default());
}

#[test]
fn a_public_ip_is_replaced_before_the_old_one_goes_and_the_interface_moves_to_it() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let up = |s: Shape| {
        set_shape(s);
        let infra = cluster(1);
        let mut o = orch("cbd", &infra, azure.clone(), dir.path());
        let plan = rt().block_on(o.plan_with(&PlanOptions::default())).unwrap();
        assert!(rt().block_on(o.initiate_system()), "{}", failures(&o));
        set_shape(Shape::default());
        (plan, o)
    };
    let (_, mut o) = up(Shape::default());
    let old = id_of(&mut o, "Cluster.ips.0");
    drop(o);
    let basic = Shape {
        ip_sku: actuator_azure::PublicIpSku::Basic,
        ..Shape::default()
    };
    let (plan, mut o) = up(basic.clone());
    let ip = plan
        .resources
        .iter()
        .find(|r| &*r.key == "Cluster.ips.0")
        .unwrap();
    assert_eq!(
        (ip.action, ip.create_before_destroy),
        (ResourceAction::Replace, true)
    );
    assert_eq!(action(&plan, "Cluster.nics.0"), ResourceAction::Update);
    let new = id_of(&mut o, "Cluster.ips.0");
    assert!(
        new.ends_with("/node-ip_0-r"),
        "the replacement's own name: {new}"
    );
    assert!(fake.resource(&old).is_none(), "the old one went afterwards");
    let nic = fake.resource(&id_of(&mut o, "Cluster.nics.0")).unwrap();
    let attached = nic["properties"]["ipConfigurations"][0]["properties"]["publicIPAddress"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(attached.to_lowercase(), new.to_lowercase());
    assert_eq!(
        fake.resources().len(),
        cluster_size(1),
        "{:#?}",
        left(&fake)
    );
    drop(o);
    // And back: the next replacement takes the first name again.
    let (_, mut o) = up(Shape::default());
    assert_eq!(id_of(&mut o, "Cluster.ips.0"), old);
    assert_eq!(fake.resources().len(), cluster_size(1));
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn a_network_update_keeps_the_subnets_it_does_not_manage() {
    #[derive(InfraModel)]
    struct Net {
        #[component(ResourceGroup::new("net").location("westeurope"))]
        rg: ResourceGroup,
        #[component(VirtualNetwork::new("net", ctx.model.rg, ["10.9.0.0/16"]).dns_servers(dns()))]
        vnet: VirtualNetwork,
    }
    thread_local! { static DNS: std::cell::Cell<&'static str> = const { std::cell::Cell::new("10.9.0.4") }; }
    fn dns() -> [&'static str; 1] {
        [DNS.with(std::cell::Cell::get)]
    }
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let infra = Net::instance("n");
    let mut o = ActuatorOrchestration::new("keep")
        .infra(&infra)
        .proxy(azure.clone())
        .state_dir(dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        // A subnet someone else added.
        let vnet = id_of(&mut o, "Net.vnet");
        let arm = azure.client().await.unwrap();
        arm.put(
            Method::Put,
            &format!("{vnet}/subnets/theirs"),
            "2024-03-01",
            &json!({"properties": {"addressPrefix": "10.9.5.0/24"}}),
        )
        .await
        .unwrap();
    });
    drop(o);
    DNS.with(|d| d.set("10.9.0.5"));
    let infra = Net::instance("n");
    let mut o = ActuatorOrchestration::new("keep")
        .infra(&infra)
        .proxy(azure.clone())
        .state_dir(dir.path());
    rt().block_on(async {
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert_eq!(action(&plan, "Net.vnet"), ResourceAction::Update);
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let vnet = fake.resource(&id_of(&mut o, "Net.vnet")).unwrap();
    assert_eq!(
        vnet["properties"]["dhcpOptions"]["dnsServers"],
        json!(["10.9.0.5"])
    );
    let subnets: Vec<&str> = vnet["properties"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(subnets, ["theirs"]);
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn a_lost_state_is_never_adopted_and_is_found_again_by_tag_and_cleaned_up() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let infra = cluster(2);
    let mut o = orch("lost", &infra, azure.clone(), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    drop(o);
    std::fs::remove_dir_all(dir.path()).unwrap();
    let infra = cluster(2);
    let mut o = orch("lost", &infra, azure.clone(), dir.path());
    rt().block_on(async {
        // A fresh state never takes what the lost one made.
        assert!(!o.initiate_system().await);
        let msg = failures(&o);
        assert!(msg.contains("belongs to state"), "{msg}");
        assert!(fake.stats().created_more_than_once().is_empty());
        let found = o.discover().await.unwrap();
        // Everything that carries tags: group, network, security group, and per node an IP, an
        // interface and a VM (subnets, rules and disks go with their parents).
        assert_eq!(found.len(), 3 + 3 * 2, "{found:#?}");
        assert!(
            found
                .iter()
                .any(|d| d.key == "Cluster.nodes.1" && d.kind == "azure.VirtualMachine")
        );
        assert!(o.down_discovered(&found).await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn lists_longer_than_a_page_are_followed_to_the_end() {
    // Two items a page: discovery must follow `nextLink` through every page to find them all.
    let fake = start_fake(FakeConfig {
        page_size: 2,
        ..fast()
    });
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let k = 4;
    let infra = cluster(k);
    let mut o = orch("paged", &infra, azure.clone(), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    drop(o);
    std::fs::remove_dir_all(dir.path()).unwrap();
    let mut o = orch("paged", &infra, azure.clone(), dir.path());
    let lists_before = fake.stats().by_operation.get("GET resources").copied();
    rt().block_on(async {
        let found = o.discover().await.unwrap();
        // Group, network, security group, and per node an IP, an interface and a VM: 15
        // resources, 14 of them listed at 2 a page.
        assert_eq!(found.len(), 3 + 3 * k, "{found:#?}");
        for i in 0..k {
            for what in ["nodes", "nics", "ips"] {
                let key = format!("Cluster.{what}.{i}");
                assert!(found.iter().any(|d| d.key == key), "{key} not found");
            }
        }
        assert!(o.down_discovered(&found).await, "{}", failures(&o));
    });
    let pages = fake.stats().by_operation["GET resources"] - lists_before.unwrap_or(0);
    assert!(pages >= 7, "14 resources at 2 a page: {pages} pages read");
    assert_eq!(left(&fake), Vec::<String>::new());
}

thread_local! {
    /// Whether the next `Multi` instance's interface has its second IP configuration.
    static SECOND_CONFIG: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

fn second_config(
    nic: actuator_azure::NetworkInterface,
    config: actuator_azure::IpConfiguration,
) -> actuator_azure::NetworkInterface {
    if SECOND_CONFIG.with(std::cell::Cell::get) {
        nic.ip_configuration(config)
    } else {
        nic
    }
}

/// A VM whose interface has two IP configurations in two subnets of one network, each with its
/// public IP (the original's `AzNIC` took a list of subnets).
#[derive(InfraModel)]
struct Multi {
    #[component(ResourceGroup::new("multi").location("westeurope"))]
    rg: ResourceGroup,
    #[component(VirtualNetwork::new("net", ctx.model.rg, ["10.0.0.0/16"]))]
    vnet: VirtualNetwork,
    #[component(actuator_azure::Subnet::new("front", ctx.model.vnet, "10.0.1.0/24"))]
    front: actuator_azure::Subnet,
    #[component(actuator_azure::Subnet::new("back", ctx.model.vnet, "10.0.2.0/24"))]
    back: actuator_azure::Subnet,
    #[component(actuator_azure::PublicIp::new("front-ip", ctx.model.rg))]
    front_ip: actuator_azure::PublicIp,
    #[component(actuator_azure::PublicIp::new("back-ip", ctx.model.rg))]
    back_ip: actuator_azure::PublicIp,
    #[component(second_config(
        actuator_azure::NetworkInterface::new("nic", ctx.model.rg, ctx.model.front)
            .public_ip(ctx.model.front_ip),
        actuator_azure::IpConfiguration::new("back", ctx.model.back)
            .public_ip(ctx.model.back_ip)
            .private_ip("10.0.2.20")))]
    nic: actuator_azure::NetworkInterface,
    #[component(actuator_azure::VirtualMachine::new("vm", ctx.model.rg,
        actuator_azure::ImageReference::ubuntu_24_04(), "Standard_B1s", "azureuser")
        .nics([ctx.model.nic]).ssh_public_key(KEY))]
    vm: actuator_azure::VirtualMachine,
}

#[test]
fn an_interface_takes_several_ip_configurations_and_changes_them_in_place() {
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    SECOND_CONFIG.with(|c| c.set(true));
    let infra = Multi::instance("m");
    let mut o = ActuatorOrchestration::new("multi")
        .infra(&infra)
        .proxy(azure.clone())
        .options(options())
        .state_dir(dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let nic_id = id_of(&mut o, "Multi.nic");
    let nic = fake.resource(&nic_id).unwrap();
    let configs: Vec<(String, String, bool, String, String)> =
        nic["properties"]["ipConfigurations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let p = &c["properties"];
                let tail = |v: &serde_json::Value| {
                    v["id"]
                        .as_str()
                        .unwrap_or_default()
                        .rsplit('/')
                        .next()
                        .unwrap()
                        .to_owned()
                };
                (
                    c["name"].as_str().unwrap().to_owned(),
                    p["privateIPAddress"].as_str().unwrap().to_owned(),
                    p["primary"].as_bool().unwrap(),
                    tail(&p["subnet"]),
                    tail(&p["publicIPAddress"]),
                )
            })
            .collect();
    assert_eq!(configs.len(), 2, "{configs:?}");
    assert_eq!(
        (
            configs[0].0.as_str(),
            configs[0].2,
            configs[0].3.as_str(),
            configs[0].4.as_str()
        ),
        ("ipconfig1", true, "front", "front-ip")
    );
    assert!(configs[0].1.starts_with("10.0.1."), "{configs:?}");
    assert_eq!(
        (
            configs[1].0.as_str(),
            configs[1].1.as_str(),
            configs[1].2,
            configs[1].3.as_str(),
            configs[1].4.as_str()
        ),
        ("back", "10.0.2.20", false, "back", "back-ip")
    );
    // Outputs: the primary's address, then all of them; the VM's are its primary's.
    let primary = output(&mut o, "Multi.nic", "private_ip");
    assert_eq!(primary, configs[0].1);
    assert_eq!(
        output(&mut o, "Multi.nic", "private_ips"),
        format!("{primary},10.0.2.20")
    );
    assert_eq!(output(&mut o, "Multi.vm", "private_ip"), primary);
    assert_eq!(
        output(&mut o, "Multi.vm", "public_ip"),
        output(&mut o, "Multi.front_ip", "ip")
    );

    // Without the second configuration: the interface is updated in place, not replaced.
    drop(o);
    SECOND_CONFIG.with(|c| c.set(false));
    let infra = Multi::instance("m");
    let mut o = ActuatorOrchestration::new("multi")
        .infra(&infra)
        .proxy(azure.clone())
        .options(options())
        .state_dir(dir.path());
    let plan = rt().block_on(o.plan_with(&PlanOptions::default())).unwrap();
    assert_eq!(
        action(&plan, "Multi.nic"),
        ResourceAction::Update,
        "{plan:#?}"
    );
    assert_eq!(
        action(&plan, "Multi.vm"),
        ResourceAction::Unchanged,
        "{plan:#?}"
    );
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let nic = fake.resource(&nic_id).unwrap();
    assert_eq!(
        nic["properties"]["ipConfigurations"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(created(&fake, &nic_id), 1, "updated, not made again");
    let back_ip = fake.resource(&id_of(&mut o, "Multi.back_ip")).unwrap();
    assert!(back_ip["properties"].get("ipConfiguration").is_none());
    assert_eq!(output(&mut o, "Multi.nic", "private_ips"), primary);
    SECOND_CONFIG.with(|c| c.set(true));
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn bad_ip_configurations_fail_before_any_call() {
    #[derive(InfraModel)]
    struct BadNic {
        #[component(ResourceGroup::new("bad").location("westeurope"))]
        rg: ResourceGroup,
        #[component(VirtualNetwork::new("net", ctx.model.rg, ["10.0.0.0/16"]))]
        vnet: VirtualNetwork,
        #[component(actuator_azure::Subnet::new("a", ctx.model.vnet, "10.0.1.0/24"))]
        a: actuator_azure::Subnet,
        #[component(actuator_azure::PublicIp::new("ip", ctx.model.rg))]
        ip: actuator_azure::PublicIp,
        #[component(actuator_azure::NetworkInterface::new("nic", ctx.model.rg, ctx.model.a)
            .public_ip(ctx.model.ip).private_ip("10.0.1.9")
            .ip_configuration(actuator_azure::IpConfiguration::new("IPCONFIG1", ctx.model.a))
            .ip_configuration(actuator_azure::IpConfiguration::new("b", ctx.model.a)
                .public_ip(ctx.model.ip).private_ip("10.0.1.9"))
            .ip_configuration(actuator_azure::IpConfiguration::new("c-", ctx.model.a)
                .private_ip("10.0.1")))]
        nic: actuator_azure::NetworkInterface,
    }
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let infra = BadNic::instance("b");
    let mut o = ActuatorOrchestration::new("bad")
        .infra(&infra)
        .proxy(Arc::new(proxy(&e)))
        .memory_state();
    let plan = rt().block_on(o.plan_with(&PlanOptions::default())).unwrap();
    let err = format!("{:?}", plan.errors);
    for want in [
        "BadNic.nic",
        "ip_configurations",
        "IPCONFIG1",
        "names two configurations", // the primary's name taken
        "a public IP serves one",   // one IP on two configurations
        "10.0.1.9 is taken",        // one static address twice
        "c-",                       // a name Azure refuses
        "is not an IPv4 address",
    ] {
        assert!(err.contains(want), "{want:?} missing from: {err}");
    }
    assert_eq!(fake.stats().requests, 0, "no call was made");
}

#[test]
fn import_adopts_an_existing_group_and_a_foreign_name_is_refused() {
    #[derive(InfraModel)]
    struct Mine {
        #[component(ResourceGroup::new("mine").exact_name("pre-existing").location("westeurope"))]
        rg: ResourceGroup,
    }
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e));
    let dir = tempfile::tempdir().unwrap();
    let id = rt().block_on(async {
        let arm = azure.client().await.unwrap();
        let path = format!("{}/resourcegroups/pre-existing", arm.subscription_path());
        let v = arm
            .put(
                Method::Put,
                &path,
                "2021-04-01",
                &json!({"location": "westeurope", "tags": {"owner": "them"}}),
            )
            .await
            .unwrap();
        v["id"].as_str().unwrap().to_owned()
    });
    let infra = Mine::instance("m");
    let mut refused = ActuatorOrchestration::new("imp")
        .infra(&infra)
        .proxy(azure.clone())
        .memory_state();
    rt().block_on(async {
        assert!(!refused.initiate_system().await);
        assert!(
            failures(&refused).contains("not this system's"),
            "{}",
            failures(&refused)
        );
    });
    let mut o = ActuatorOrchestration::new("imp")
        .infra(&infra)
        .proxy(azure.clone())
        .state_dir(dir.path());
    rt().block_on(async {
        o.import("Mine.rg", &id).await.unwrap();
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let g = fake
        .resources()
        .into_iter()
        .find(|r| r.name == "pre-existing")
        .unwrap();
    assert_eq!(g.tags["owner"], "them", "its own tags are kept");
    assert_eq!(g.tags["actuator:path"], "Mine.rg");
    assert_eq!(created(&fake, &id), 1);
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn bad_arguments_fail_before_any_call_naming_the_resource() {
    #[derive(InfraModel)]
    struct Bad {
        #[component(ResourceGroup::new("bad").location("westeurope"))]
        rg: ResourceGroup,
        #[component(VirtualNetwork::new("n", ctx.model.rg, ["10.0.1.0/16"]))]
        vnet: VirtualNetwork,
        #[component(actuator_azure::NetworkSecurityGroup::new("fw", ctx.model.rg))]
        fw: actuator_azure::NetworkSecurityGroup,
        #[component(actuator_azure::SecurityRule::inbound("ssh", ctx.model.fw, actuator_azure::Protocol::Tcp, "22-", 50))]
        ssh: actuator_azure::SecurityRule,
        #[component(actuator_azure::Subnet::new("a", ctx.model.vnet, "10.0.1.0/24"))]
        a: actuator_azure::Subnet,
        #[component(actuator_azure::Subnet::new("a", ctx.model.vnet, "10.0.2.0/24"))]
        b: actuator_azure::Subnet,
        #[component(actuator_azure::NetworkInterface::new("nic", ctx.model.rg, ctx.model.a))]
        nic: actuator_azure::NetworkInterface,
        #[component(actuator_azure::VirtualMachine::new("vm_1", ctx.model.rg,
            actuator_azure::ImageReference::ubuntu_24_04(), "Standard_B1s", "admin")
            .nics([ctx.model.nic]).admin_password(Secret::new("short")))]
        vm: actuator_azure::VirtualMachine,
    }
    let fake = start_fake(fast());
    let e = Endpoint::of(&fake);
    let infra = Bad::instance("b");
    let mut o = ActuatorOrchestration::new("bad")
        .infra(&infra)
        .proxy(Arc::new(proxy(&e)))
        .memory_state();
    let plan = rt().block_on(o.plan_with(&PlanOptions::default())).unwrap();
    let err = format!("{:?}", plan.errors);
    for want in [
        "Bad.vnet",
        "name",
        "2–64",
        "10.0.0.0/16", // the network's name and range
        "Bad.ssh",
        "priority",
        "22-", // the rule
        "Bad.b",
        "also the Azure name of `Bad.a`", // two subnets, one name
        "Bad.vm",
        "reserves",
        "6–72", // the login and the password (never quoted)
    ] {
        assert!(err.contains(want), "{want:?} missing from: {err}");
    }
    assert!(!err.contains("short"));
    assert!(!rt().block_on(o.initiate_system()), "an up refuses too");
    assert_eq!(fake.stats().requests, 0, "no call was made");
}

// ------------------------------------------------------------------------------------------------
// Credentials

#[test]
fn tokens_are_renewed_mid_run() {
    // Tokens live 2 s: the SDK takes a new one before each expires, and never sends a stale one.
    let fake = start_fake(FakeConfig {
        token_lifetime: Duration::from_secs(2),
        ..slow()
    });
    let e = Endpoint::of(&fake);
    let infra = cluster(1);
    let dir = tempfile::tempdir().unwrap();
    let mut o = orch("tokens", &infra, Arc::new(proxy(&e)), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    let st = fake.stats();
    assert!(st.tokens_issued > 3, "{st:?}");
    assert_eq!(st.unauthorized, 0);
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn a_wrong_client_secret_fails_clearly_and_is_not_shown() {
    let fake = start_fake(fast());
    let mut e = Endpoint::of(&fake);
    e.client_secret = "not-the-secret-42".into();
    let infra = cluster(1);
    let mut o = ActuatorOrchestration::new("wrong")
        .infra(&infra)
        .proxy(Arc::new(proxy(&e)))
        .memory_state();
    rt().block_on(async {
        assert!(!o.initiate_system().await);
    });
    let msg = failures(&o);
    assert!(msg.contains("AADSTS7000215"), "{msg}");
    assert!(!msg.contains("not-the-secret-42"));
    assert_eq!(fake.resources().len(), 0);
}

#[test]
fn credentials_never_reach_logs_events_plans_or_state() {
    const CLIENT_SECRET: &str = "cl1ent-S3cret-never-shown";
    const PASSWORD: &str = "Adm1n-Passw0rd-never-shown";
    let fake = start_fake(FakeConfig {
        principals: vec![azure_arm_fake::Principal {
            client_secret: CLIENT_SECRET.into(),
            ..azure_arm_fake::Principal::default()
        }],
        ..fast()
    });
    let e = Endpoint::of(&fake);
    assert_eq!(e.client_secret, CLIENT_SECRET);
    set_shape(Shape {
        password: Some(PASSWORD),
        ..Shape::default()
    });
    let infra = cluster(1);
    set_shape(Shape::default());
    let azure = Arc::new(proxy(&e));
    let ev = Arc::new(Collect::default());
    let state = tempfile::tempdir().unwrap();
    let mut o = orch("secrets", &infra, azure.clone(), state.path()).handler(ev.clone());
    // Every log line at every level, the SDK's included.
    let (plan, logs) = actuator_tests::logs::capture(async {
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(o.teardown_system().await, "{}", failures(&o));
        plan
    });
    assert!(
        logs.contains("performing request"),
        "the SDK's own logs were captured"
    );
    let vm = fake
        .stats()
        .created
        .keys()
        .find(|k| k.contains("virtualMachines"))
        .cloned()
        .unwrap();
    assert!(vm.contains("node_0"));
    let mut seen = format!(
        "{azure:?}\n{:?}\n{plan:?}\n{}\n{logs}",
        ev.events(),
        failures(&o)
    );
    for f in actuator_tests::walk(state.path()) {
        seen.push_str(&std::fs::read_to_string(f).unwrap_or_default());
    }
    for secret in [CLIENT_SECRET, PASSWORD, "fake-arm."] {
        if let Some(i) = seen.find(secret) {
            panic!(
                "{secret} leaked: …{}…",
                &seen[i.saturating_sub(200)..(i + 50).min(seen.len())]
            );
        }
    }
    assert_eq!(left(&fake), Vec::<String>::new());
}

#[test]
fn the_default_limits_follow_arm_and_slow_down_when_arm_says_little_is_left() {
    // ARM's budgets enforced and small: the client-side buckets learn from the remaining-budget
    // headers and pace themselves, so few requests are refused.
    let fake = start_fake(FakeConfig {
        faults: Faults {
            throttle: Throttle::writes(8, 8, 4.0),
            ..Faults::default()
        },
        ..fast()
    });
    let e = Endpoint::of(&fake);
    let azure = Arc::new(proxy(&e).limits(actuator_azure::ApiLimits::default()));
    let names = azure.limit_keys("azure.VirtualMachine");
    assert_eq!(names, ["azure:azure", "azure:azure:vm"]);
    assert!(ProvisionerProxy::limits(&*azure).contains_key("azure:azure:vm"));
    let infra = cluster(3);
    let dir = tempfile::tempdir().unwrap();
    let mut o = orch("paced", &infra, azure.clone(), dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert_eq!(left(&fake), Vec::<String>::new());
    let s = azure.stats();
    assert!(
        s.budget_wait > Duration::ZERO,
        "the buckets made calls wait: {s:?}"
    );
    let writes = s
        .by_operation
        .iter()
        .filter(|(k, _)| !k.starts_with("GET"))
        .map(|(_, n)| n)
        .sum::<u64>();
    assert!(
        s.throttled * 4 < writes,
        "{} of {writes} writes throttled",
        s.throttled
    );
}
