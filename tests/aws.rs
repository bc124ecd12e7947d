//! The AWS provisioner proxy against the moto EC2 server (started by `scripts/moto.sh`, reset
//! before every test; the tests take turns on it).
//!
//! Whole lifecycles run through `ActuatorOrchestration`; after every `down` a leak check lists
//! every resource kind in moto. moto has no fault injection for EC2, so a small HTTP proxy in front
//! of it answers a share of the calls with EC2's throttling error, 5xx errors, `DependencyViolation`,
//! or forwards a call and then loses its answer. moto does not enforce deletion order either, so
//! the order itself is checked from the events.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actuator::events::{Collect, Event, Phase};
use actuator::model::IntoRef;
use actuator::orchestrate::{ActuatorOrchestration, Options, Plan, PlanOptions, ResourceAction};
use actuator::prelude::*;
use actuator::provision::{Provisioned, ProvisionerProxy, Scope};
use actuator_aws::{
    ApiLimits, AwsProxy, Instance, KeyPair, NetworkInterface, SecurityGroup, SecurityGroupRule,
    Subnet, Vpc,
};

use actuator_tests::aws::*;

static TURN: Mutex<()> = Mutex::new(());
static STARTED: OnceLock<String> = OnceLock::new();

fn port() -> String {
    std::env::var("MOTO_PORT").unwrap_or_else(|_| "5055".into())
}

/// Starts moto once (idempotently, through the script), waits for this test's turn, and resets
/// the server.
fn moto() -> (MutexGuard<'static, ()>, String) {
    let url = STARTED.get_or_init(|| start_moto(&port()));
    let turn = TURN.lock();
    reset(url);
    (turn, url.clone())
}

// ------------------------------------------------------------------------------------------------
// Lifecycles

#[test]
fn lifecycle_creates_each_resource_once_tagged_fills_ips_and_leaves_nothing() {
    let (_turn, url) = moto();
    let infra = fleet(3);
    let ns = FleetNs::instance("ns", &infra);
    let aws = Arc::new(proxy(&url));
    let ec2 = client(&url);
    let mut o = ActuatorOrchestration::new("life")
        .infra(&infra)
        .namespace(&ns)
        .proxy(aws.clone())
        .options(options())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        // One of each, with system and path tags: 9 fixed + 3 × (nic, instance, ip).
        let t = tagged(&ec2, "life").await;
        assert_eq!(t.len(), fleet_tagged(3), "{t:#?}");
        assert!(t.values().all(|&n| n == 1), "{t:#?}");
        assert!(t.contains_key("Fleet.web.2") && t.contains_key("Fleet.ssh"));
        let st = o.state().unwrap();
        let out = |k: &str, a: &str| {
            st.get(k).unwrap().data.value()["outputs"][a]
                .as_str()
                .unwrap()
                .to_owned()
        };
        // Instance IPs are outputs (the original never set them).
        let ip: std::net::Ipv4Addr = out("Fleet.web.0", "private_ip").parse().unwrap();
        assert!(ip.octets()[..3] == [10, 0, 1], "{ip}");
        assert_eq!(out("Fleet.web.0", "ip"), ip.to_string());
        assert_eq!(out("Fleet.nics.0", "private_ip"), ip.to_string());
        // The unique key name reached the instance.
        let key = out("Fleet.keypair", "key_name");
        assert!(key.starts_with("fleet-key-"), "{key}");
        let inst = ec2
            .describe_instances()
            .instance_ids(out("Fleet.web.1", "id"))
            .send()
            .await
            .unwrap();
        let i = &inst.reservations()[0].instances()[0];
        assert_eq!(i.key_name(), Some(key.as_str()));
        // The Elastic IP is associated with it and is the role's PUBLIC_IP.
        let eip = out("Fleet.ips.1", "ip");
        assert_eq!(i.public_ip_address(), Some(eip.as_str()));
        let role = ns.index(ns.root().web, 1);
        assert_eq!(ns.var_value(&role, "PUBLIC_IP").unwrap(), eip);
        // Nothing secret in the state.
        assert!(!serde_json::to_string(&st).unwrap().contains("PRIVATE KEY"));
        assert!(aws.private_key("Fleet.keypair").is_some());

        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
        assert!(aws.inventory(None, "life").await.unwrap().is_empty());
        assert!(
            aws.private_key("Fleet.keypair").is_none(),
            "forgotten with the key pair"
        );
    });
}

#[test]
fn a_second_up_and_a_second_down_change_nothing() {
    let (_turn, url) = moto();
    let infra = fleet(2);
    let aws = Arc::new(proxy(&url));
    let ec2 = client(&url);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let mut o = ActuatorOrchestration::new("again")
            .infra(&infra)
            .proxy(aws.clone())
            .options(options())
            .state_dir(dir.path());
        assert!(o.initiate_system().await, "{}", failures(&o));
        // A second up only reads (the plan's refresh: a look-up per resource at most, concurrent
        // ones of a kind batched), and changes nothing.
        aws.reset_stats();
        assert!(o.initiate_system().await, "{}", failures(&o));
        let calls = aws.stats().calls;
        assert!(
            calls.keys().all(|k| k.starts_with("Describe")),
            "a second up changed something: {calls:?}"
        );
        assert!(
            calls.values().sum::<u64>() <= fleet_tagged(2) as u64,
            "{calls:?}"
        );
        let t = tagged(&ec2, "again").await;
        assert_eq!(t.len(), fleet_tagged(2));
        assert!(t.values().all(|&n| n == 1), "{t:#?}");
        // Without the refresh it calls nothing at all.
        aws.reset_stats();
        let no_refresh = PlanOptions {
            refresh: false,
            ..PlanOptions::default()
        };
        assert!(o.up(&no_refresh).await, "{}", failures(&o));
        assert_eq!(aws.stats().total(), 0, "{:?}", aws.stats().calls);
        assert!(o.teardown_system().await, "{}", failures(&o));
        // A second down finds nothing recorded and calls nothing.
        aws.reset_stats();
        o.teardown_system().await;
        assert_eq!(aws.stats().total(), 0, "{:?}", aws.stats().calls);
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn instances_launch_into_subnets_and_regions_per_resource() {
    #[derive(InfraModel)]
    struct TwoRegions {
        #[component(Vpc::new("home", "10.1.0.0/16"))]
        home: Vpc,
        #[component(Subnet::new("home-subnet", ctx.model.home, "10.1.2.0/24").map_public_ip_on_launch(true))]
        subnet: Subnet,
        #[component(SecurityGroup::new("sg", "", ctx.model.home))]
        sg: SecurityGroup,
        #[component(Instance::in_subnet("direct", AMI, ctx.model.subnet).instance_type("t3.micro")
            .security_groups([ctx.model.sg]).user_data("#!/bin/sh\necho hi\n"))]
        direct: Instance,
        #[component(Vpc::new("away", "10.2.0.0/16").region("us-east-1"))]
        away: Vpc,
        #[component(Subnet::new("away-subnet", ctx.model.away, "10.2.3.0/24").region("us-east-1"))]
        away_subnet: Subnet,
    }
    let (_turn, url) = moto();
    let infra = TwoRegions::instance("two");
    let aws = Arc::new(proxy(&url));
    let (ec2, us) = rt().block_on(async {
        (
            aws.client(None).await.unwrap(),
            aws.client(Some("us-east-1")).await.unwrap(),
        )
    });
    let mut o = ActuatorOrchestration::new("regions")
        .infra(&infra)
        .proxy(aws.clone())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let st = o.state().unwrap();
        let out = |k: &str, a: &str| {
            st.get(k).unwrap().data.value()["outputs"][a]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert_eq!(out("TwoRegions.away", "region"), "us-east-1");
        assert_eq!(out("TwoRegions.home", "region"), REGION);
        assert_eq!(tagged(&us, "regions").await.len(), 2);
        let i = out("TwoRegions.direct", "id");
        assert!(
            !out("TwoRegions.direct", "public_ip").is_empty(),
            "mapped at launch"
        );
        assert_eq!(
            out("TwoRegions.direct", "ip"),
            out("TwoRegions.direct", "public_ip")
        );
        let d = ec2
            .describe_instances()
            .instance_ids(&i)
            .send()
            .await
            .unwrap();
        let inst = &d.reservations()[0].instances()[0];
        assert_eq!(
            inst.subnet_id(),
            Some(out("TwoRegions.subnet", "id").as_str())
        );
        assert_eq!(
            inst.network_interfaces()[0].groups()[0].group_id(),
            Some(out("TwoRegions.sg", "id").as_str())
        );
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
        assert_eq!(leaks(&us).await, Vec::<String>::new());
    });
}

#[test]
fn a_resource_naming_another_region_than_its_parent_fails_before_calling_ec2() {
    #[derive(InfraModel)]
    struct Mixed {
        #[component(Vpc::new("vpc", "10.3.0.0/16"))]
        vpc: Vpc,
        #[component(Subnet::new("subnet", ctx.model.vpc, "10.3.1.0/24").region("us-west-2"))]
        subnet: Subnet,
    }
    let (_turn, url) = moto();
    let infra = Mixed::instance("m");
    let mut o = ActuatorOrchestration::new("mixed")
        .infra(&infra)
        .proxy(Arc::new(proxy(&url)))
        .memory_state();
    rt().block_on(async {
        assert!(!o.initiate_system().await);
        let f = failures(&o);
        assert!(
            f.contains("is in us-west-2, but it refers to a resource in eu-west-2"),
            "{f}"
        );
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
}

// ------------------------------------------------------------------------------------------------
// Key pairs and secrets

#[test]
fn key_pairs_created_imported_reused_and_retained() {
    let (_turn, url) = moto();
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("keys/created.pem");
    let pubkey = dir.path().join("id_ed25519.pub");
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(dir.path().join("id_ed25519"))
        .status()
        .expect("ssh-keygen");
    assert!(st.success());
    let (pem_s, pub_s) = (pem.display().to_string(), pubkey.display().to_string());

    #[derive(InfraModel)]
    struct Keys {
        #[component(KeyPair::new("created").key_type("ed25519").private_key_file(PEM.get().unwrap()))]
        created: KeyPair,
        #[component(KeyPair::new("imported").public_key_file(PUB.get().unwrap()))]
        imported: KeyPair,
        #[component(KeyPair::new("existing"))]
        existing: KeyPair,
        #[component(KeyPair::new("kept").retain_on_reverse(true))]
        kept: KeyPair,
    }
    // Component expressions cannot capture locals: the model reads the paths from statics.
    static PEM: OnceLock<String> = OnceLock::new();
    static PUB: OnceLock<String> = OnceLock::new();
    PEM.set(pem_s).unwrap();
    PUB.set(pub_s).unwrap();
    let ec2 = client(&url);
    rt().block_on(async {
        ec2.create_key_pair()
            .key_name("existing")
            .send()
            .await
            .unwrap();
    });
    let infra = Keys::instance("k");
    // The answer to the first CreateKeyPair (with the only copy of the private key) is lost.
    let fp = FaultProxy::start(&url, Faults::default());
    fp.set(Faults {
        scripted: vec![Script {
            action: "CreateKeyPair",
            needle: "KeyName=created",
            times: 1,
            status: 500,
            code: "InternalError",
            lost: true,
        }],
        ..Faults::default()
    });
    let aws = Arc::new(proxy(&fp.url));
    let state = tempfile::tempdir().unwrap();
    let mut o = ActuatorOrchestration::new("keys")
        .infra(&infra)
        .proxy(aws.clone())
        .state_dir(state.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let material = std::fs::read_to_string(&pem).unwrap();
        assert!(material.contains("PRIVATE KEY"), "{material}");
        assert_eq!(
            std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(aws.private_key("Keys.created").unwrap().expose(), material);
        // Found by its tag without its private key, so deleted and made again.
        let count = |a: &str| fp.actions().iter().filter(|x| *x == a).count();
        assert_eq!(fp.injected()["InternalError (lost answer)"], 1);
        assert_eq!((count("CreateKeyPair"), count("DeleteKeyPair")), (3, 1));
        // Nothing of it in the state files, the outputs or Debug.
        for e in std::fs::read_dir(state.path()).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
            assert!(!text.contains("PRIVATE KEY"));
        }
        assert!(!format!("{aws:?}").contains("PRIVATE KEY"));
        let names: Vec<String> = ec2
            .describe_key_pairs()
            .send()
            .await
            .unwrap()
            .key_pairs()
            .iter()
            .map(|k| k.key_name().unwrap().to_owned())
            .collect();
        for n in ["created", "imported", "existing", "kept"] {
            assert!(names.contains(&n.to_owned()), "{names:?}");
        }
        assert!(o.teardown_system().await, "{}", failures(&o));
        let left: Vec<String> = ec2
            .describe_key_pairs()
            .send()
            .await
            .unwrap()
            .key_pairs()
            .iter()
            .map(|k| k.key_name().unwrap().to_owned())
            .collect();
        assert_eq!(
            left,
            ["existing", "kept"],
            "pre-existing and retained keys stay"
        );
    });

    // An existing key with a public key file to import is an error, as in the original.
    #[derive(InfraModel)]
    struct Clash {
        #[component(KeyPair::new("existing").public_key_file(PUB.get().unwrap()))]
        existing: KeyPair,
    }
    let infra = Clash::instance("c");
    let mut o = ActuatorOrchestration::new("clash")
        .infra(&infra)
        .proxy(Arc::new(proxy(&url)))
        .memory_state();
    rt().block_on(async {
        assert!(!o.initiate_system().await);
        assert!(failures(&o).contains("already exists"), "{}", failures(&o));
    });
}

#[test]
fn credentials_never_reach_debug_events_or_state() {
    let (_turn, url) = moto();
    let infra = fleet(1);
    let aws =
        Arc::new(proxy(&url).credentials("AKIASECRETACCESSKEY1", Secret::new("very/secret+key")));
    let ev = Arc::new(Collect::default());
    let state = tempfile::tempdir().unwrap();
    let mut o = ActuatorOrchestration::new("secrets")
        .infra(&infra)
        .proxy(aws.clone())
        .handler(ev.clone())
        .state_dir(state.path());
    // Every log line at every level, the SDK's included.
    let ((), logs) = actuator_tests::logs::capture(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert!(
        logs.contains("RunInstances"),
        "the SDK's trace logs were captured"
    );
    // The secret key appears nowhere, at any level. The access key id appears nowhere either,
    // except in the SDK's own DEBUG and TRACE lines (`aws_smithy_runtime`, `aws_sigv4`): they log
    // the resolved identity, whose access key id AWS does not treat as secret (the secret key is
    // redacted there).
    let not_trace: String = logs
        .lines()
        .filter(|l| {
            let sdk = [" aws_smithy_", " aws_sigv4", " aws_runtime", " aws_config"]
                .iter()
                .any(|t| l.contains(t));
            !((l.contains(" TRACE ") || l.contains(" DEBUG ")) && sdk)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut seen = format!("{aws:?}\n{:?}\n{not_trace}", ev.events());
    for e in std::fs::read_dir(state.path()).unwrap() {
        seen.push_str(&std::fs::read_to_string(e.unwrap().path()).unwrap_or_default());
    }
    if let Some(i) = seen.find("AKIASECRETACCESSKEY1") {
        panic!(
            "the access key id leaked: …{}…",
            &seen[seen[..i].rfind('\n').unwrap_or(0)..(i + 50).min(seen.len())]
                .chars()
                .take(400)
                .collect::<String>()
        );
    }
    assert!(!logs.contains("very/secret+key"));
    assert!(!seen.contains("very/secret+key"));
    assert!(seen.contains("static (***)"));
}

// ------------------------------------------------------------------------------------------------
// Rules, order and dependency violations

#[test]
fn rules_are_revoked_on_teardown_and_pre_existing_rules_are_left_alone() {
    #[derive(InfraModel)]
    struct Fw {
        #[component(Vpc::new("vpc", "10.4.0.0/16"))]
        vpc: Vpc,
        #[component(SecurityGroup::new("fw", "firewall", ctx.model.vpc))]
        sg: SecurityGroup,
        #[component(SecurityGroupRule::ingress("https", ctx.model.sg, "tcp", 443, 443, "0.0.0.0/0"))]
        https: SecurityGroupRule,
        #[component(SecurityGroupRule::ingress("v6", ctx.model.sg, "tcp", 443, 443, "::/0"))]
        v6: SecurityGroupRule,
        // The group's default egress rule: already there.
        #[component(SecurityGroupRule::egress("all-out", ctx.model.sg, "-1", -1, -1, "0.0.0.0/0"))]
        all_out: SecurityGroupRule,
    }
    let (_turn, url) = moto();
    let infra = Fw::instance("fw");
    let aws = Arc::new(proxy(&url));
    let ec2 = client(&url);
    let mut o = ActuatorOrchestration::new("rules")
        .infra(&infra)
        .proxy(aws.clone())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let st = o.state().unwrap();
        let outputs = |k: &str| -> BTreeMap<String, String> {
            serde_json::from_value(st.get(k).unwrap().data.value()["outputs"].clone()).unwrap()
        };
        let sg = outputs("Fw.sg")["id"].clone();
        let rules = |ec2: actuator_aws::sdk::Client, sg: String| async move {
            ec2.describe_security_group_rules()
                .filters(f("group-id", &[&sg]))
                .send()
                .await
                .unwrap()
                .security_group_rules()
                .iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        if r.is_egress() == Some(true) {
                            "out"
                        } else {
                            "in"
                        },
                        r.cidr_ipv4().or(r.cidr_ipv6()).unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut before = rules(ec2.clone(), sg.clone()).await;
        before.sort();
        assert_eq!(before, ["in 0.0.0.0/0", "in ::/0", "out 0.0.0.0/0"]);
        assert_eq!(outputs("Fw.all_out")["retain"], "true");
        // Revoke the two rules through the proxy, as teardown does, and keep the group.
        for k in ["Fw.https", "Fw.v6", "Fw.all_out"] {
            let rec = Provisioned {
                scope: scope_of(&mut o).into(),
                kind: "aws.SecurityGroupRule".into(),
                key: k.into(),
                outputs: outputs(k),
            };
            aws.deprovision(&rec).await.unwrap();
            aws.deprovision(&rec).await.unwrap(); // twice is harmless
        }
        assert_eq!(rules(ec2.clone(), sg.clone()).await, ["out 0.0.0.0/0"]);
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn teardown_deletes_dependents_before_what_they_depend_on() {
    let (_turn, url) = moto();
    let ec2 = client(&url);
    let infra = fleet(3);
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("order")
        .infra(&infra)
        .proxy(Arc::new(proxy(&url)))
        .handler(ev.clone())
        .options(options())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let st = o.state().unwrap();
        let deps: Vec<(String, String)> = st
            .iter()
            .flat_map(|e| {
                e.data.value()["deps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| (e.key.to_string(), d.as_str().unwrap().to_owned()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert!(deps.contains(&("Fleet.ips.0".into(), "Fleet.igw".into())));
        assert!(deps.contains(&("Fleet.web.0".into(), "Fleet.nics.0".into())));
        assert!(o.teardown_system().await, "{}", failures(&o));
        let (mut started, mut finished) = (HashMap::new(), HashMap::new());
        for (i, e) in ev.events().into_iter().enumerate() {
            match e {
                Event::TaskStarting {
                    phase: Phase::Teardown,
                    task,
                    ..
                } => {
                    started.entry(task).or_insert(i);
                }
                Event::TaskFinished {
                    phase: Phase::Teardown,
                    task,
                    ..
                } => {
                    finished.insert(task, i);
                }
                _ => {}
            }
        }
        assert_eq!(finished.len(), fleet_size(3));
        for (dependent, dependency) in &deps {
            assert!(
                finished[dependent.as_str()] < started[dependency.as_str()],
                "{dependent} must be gone before {dependency} is deleted"
            );
        }
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn dependency_violations_are_retried_until_the_dependent_is_gone() {
    let (_turn, url) = moto();
    let ec2 = client(&url);
    // Injected: EC2's answer while something still uses the VPC / gateway.
    let fp = FaultProxy::start(&url, Faults::default());
    let violation = |action, times| Script {
        action,
        needle: "",
        times,
        status: 400,
        code: "DependencyViolation",
        lost: false,
    };
    let scripted = vec![
        violation("DeleteVpc", 3),
        violation("DetachInternetGateway", 2),
    ];
    fp.set(Faults {
        scripted,
        ..Faults::default()
    });
    let infra = fleet(1);
    let mut o = ActuatorOrchestration::new("depviol")
        .infra(&infra)
        .proxy(Arc::new(proxy(&fp.url)))
        .options(options())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(fp.injected()["DependencyViolation"], 5);
        let deletes = fp.actions().iter().filter(|a| *a == "DeleteVpc").count();
        assert_eq!(deletes, 4, "three refusals, then the delete");
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });

    // A real one: moto refuses DeleteVpc while a subnet is in it. Delete the VPC first; the
    // subnet goes a moment later, and the VPC delete, retried, then succeeds.
    #[derive(InfraModel)]
    struct Net {
        #[component(Vpc::new("vpc", "10.5.0.0/16"))]
        vpc: Vpc,
        #[component(Subnet::new("subnet", ctx.model.vpc, "10.5.1.0/24"))]
        subnet: Subnet,
    }
    reset(&url);
    let infra = Net::instance("n");
    let aws = Arc::new(proxy(&url));
    let mut o = ActuatorOrchestration::new("realviol")
        .infra(&infra)
        .proxy(aws.clone())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let st = o.state().unwrap();
        let scope = std::sync::Arc::new(scope_of(&mut o));
        let rec = |k: &str, kind: &str| Provisioned {
            scope: scope.clone(),
            kind: kind.into(),
            key: k.into(),
            outputs: serde_json::from_value(st.get(k).unwrap().data.value()["outputs"].clone())
                .unwrap(),
        };
        let (vpc, subnet) = (rec("Net.vpc", "aws.Vpc"), rec("Net.subnet", "aws.Subnet"));
        aws.reset_stats();
        let (a, b) = tokio::join!(aws.deprovision(&vpc), async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            aws.deprovision(&subnet).await
        });
        a.unwrap();
        b.unwrap();
        assert!(
            aws.stats().retried["DependencyViolation"] >= 1,
            "{:?}",
            aws.stats().retried
        );
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

// ------------------------------------------------------------------------------------------------
// Throttling, faults, lost answers

#[test]
fn twenty_percent_transient_faults_still_succeed_with_no_leaks() {
    let (_turn, url) = moto();
    let ec2 = client(&url);
    let fp = FaultProxy::start(
        &url,
        Faults {
            throttle: 0.15,
            server_error: 0.05,
            ..Faults::default()
        },
    );
    let infra = fleet(4);
    let aws = Arc::new(proxy(&fp.url));
    let mut o = ActuatorOrchestration::new("faults")
        .infra(&infra)
        .proxy(aws.clone())
        .options(options())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged(&ec2, "faults").await;
        assert_eq!(t.len(), fleet_tagged(4), "{t:#?}");
        assert!(t.values().all(|&n| n == 1), "{t:#?}");
        assert!(o.teardown_system().await, "{}", failures(&o));
        let inj = fp.injected();
        assert!(
            inj["RequestLimitExceeded"] > 5 && inj["InternalError"] > 0,
            "{inj:?}"
        );
        let s = aws.stats();
        assert_eq!(
            fp.actions().len() as u64,
            s.total(),
            "the SDK does not retry on its own"
        );
        // Every injected fault was retried (a failed batched look-up is retried by each of the
        // resources it served, so there can be more retries than faults).
        for (code, n) in &inj {
            assert!(
                s.retried.get(code).copied().unwrap_or(0) >= *n,
                "{inj:?} vs {:?}",
                s.retried
            );
        }
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn not_found_right_after_a_create_is_retried_and_real_errors_are_not() {
    let (_turn, url) = moto();
    let ec2 = client(&url);
    let fp = FaultProxy::start(&url, Faults::default());
    // EC2's eventual consistency: what was just created is not visible to the next call yet.
    let not_yet = |action, code, times| Script {
        action,
        needle: "",
        times,
        status: 400,
        code,
        lost: false,
    };
    fp.set(Faults {
        scripted: vec![
            not_yet("CreateSubnet", "InvalidVpcID.NotFound", 2),
            not_yet(
                "AttachInternetGateway",
                "InvalidInternetGatewayID.NotFound",
                2,
            ),
            not_yet("AssociateAddress", "InvalidAllocationID.NotFound", 1),
            not_yet("CreateNetworkInterface", "InvalidSubnetID.NotFound", 1),
        ],
        ..Faults::default()
    });
    let infra = fleet(1);
    let aws = Arc::new(proxy(&fp.url));
    let mut o = ActuatorOrchestration::new("consistency")
        .infra(&infra)
        .proxy(aws.clone())
        .options(options())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let r = aws.stats().retried;
        assert_eq!(r["InvalidVpcID.NotFound"], 2, "{r:?}");
        assert_eq!(r["InvalidInternetGatewayID.NotFound"], 2, "{r:?}");
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });

    // A real error is not retried: that branch fails at once, independent work finishes, and
    // everything is reported; `down` cleans up what was made.
    reset(&url);
    fp.set(Faults {
        scripted: vec![Script {
            action: "RunInstances",
            needle: "",
            times: 100,
            status: 400,
            code: "InsufficientInstanceCapacity",
            lost: false,
        }],
        ..Faults::default()
    });
    let infra = fleet(2);
    let mut o = ActuatorOrchestration::new("fatal")
        .infra(&infra)
        .proxy(Arc::new(proxy(&fp.url)))
        .options(options())
        .memory_state();
    rt().block_on(async {
        let t = Instant::now();
        assert!(!o.initiate_system().await);
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "not retried: {:?}",
            t.elapsed()
        );
        let mut failed: Vec<&str> = o.failures().iter().map(|f| f.task.as_str()).collect();
        failed.sort();
        assert_eq!(failed, ["Fleet.web.0", "Fleet.web.1"], "{}", failures(&o));
        assert!(failures(&o).contains("InsufficientInstanceCapacity"));
        let st = o.state().unwrap();
        assert!(st.get("Fleet.nics.1").is_some() && st.get("Fleet.ips.0").is_none());
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn a_create_whose_answer_is_lost_is_found_by_tag_not_made_twice() {
    let (_turn, url) = moto();
    let ec2 = client(&url);
    // Every create reaches moto, but a third of the answers are replaced by a 500.
    let fp = FaultProxy::start(
        &url,
        Faults {
            lost: 0.35,
            ..Faults::default()
        },
    );
    let infra = fleet(4);
    let aws = Arc::new(proxy(&fp.url));
    let mut o = ActuatorOrchestration::new("lost")
        .infra(&infra)
        .proxy(aws.clone())
        .options(options())
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let lost = fp
            .injected()
            .get("InternalError (lost answer)")
            .copied()
            .unwrap_or(0);
        assert!(lost >= 3, "{:?}", fp.injected());
        let t = tagged(&ec2, "lost").await;
        assert_eq!(t.len(), fleet_tagged(4), "{t:#?}");
        assert!(t.values().all(|&n| n == 1), "twins: {t:#?}");
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn token_buckets_slow_a_large_model_down_instead_of_being_throttled() {
    let (_turn, url) = moto();
    let infra = fleet(6);
    let aws = Arc::new(proxy(&url).limits(ApiLimits {
        run_instances: actuator::engine::limits::TokenBucket {
            burst: 2,
            per_second: 10.0,
        },
        ..ApiLimits::default()
    }));
    let mut o = ActuatorOrchestration::new("buckets")
        .infra(&infra)
        .proxy(aws.clone())
        .options(options())
        .memory_state();
    rt().block_on(async {
        let t0 = Instant::now();
        assert!(o.initiate_system().await, "{}", failures(&o));
        // 6 launches through a bucket of 2 refilled at 10/s: the last waits ≥ 400 ms.
        assert!(t0.elapsed() >= Duration::from_millis(400));
        let s = aws.stats();
        assert!(
            s.throttle_wait >= Duration::from_millis(300),
            "{:?}",
            s.throttle_wait
        );
        assert_eq!(s.calls["RunInstances"], 6);
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
}

#[test]
fn instance_waits_and_terminations_are_batched() {
    let (_turn, url) = moto();
    let ec2 = client(&url);
    let infra = fleet(12);
    let aws = Arc::new(proxy(&url));
    let mut o = ActuatorOrchestration::new("batched")
        .infra(&infra)
        .proxy(aws.clone())
        .options(Options {
            max_concurrency: 64,
            ..Options::default()
        })
        .memory_state();
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let up = aws.stats();
        // 12 instances, 12 interfaces, 12 addresses: their tag look-ups and running-waits share
        // requests.
        let describes = up.calls["DescribeInstances"];
        assert!(
            describes < 12,
            "{describes} DescribeInstances for 12 instances"
        );
        assert!(up.calls["DescribeNetworkInterfaces"] < 12, "{:?}", up.calls);
        aws.reset_stats();
        assert!(o.teardown_system().await, "{}", failures(&o));
        let down = aws.stats();
        assert!(down.calls["TerminateInstances"] < 12, "{:?}", down.calls);
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

// ------------------------------------------------------------------------------------------------
// Crash safety: kill the process during `up`

/// Not a test: the process the kill tests start (this binary again, asked for this function
/// alone with `--ignored`), SIGKILL and start again. It runs `up` as `ACTUATOR_AWS_*` describe.
#[test]
#[ignore = "the kill tests run it as their child process"]
fn child_process_entry() {
    let mode = std::env::var("ACTUATOR_AWS_CHILD")
        .expect("child_process_entry is the kill tests' child process; run them instead");
    let url = std::env::var("ACTUATOR_AWS_URL").unwrap();
    let dir = std::env::var("ACTUATOR_AWS_STATE").unwrap();
    let k: usize = std::env::var("ACTUATOR_AWS_K").unwrap().parse().unwrap();
    if let Ok(t) = std::env::var("ACTUATOR_AWS_TYPE") {
        set_knobs(Knobs {
            instance_type: t.leak(),
            ..Knobs::default()
        });
    }
    let infra = fleet(k);
    let aws = match mode.as_str() {
        // Only the standard variables: AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID …
        "env" => AwsProxy::new("aws"),
        _ => proxy(&url),
    };
    let mut o = ActuatorOrchestration::new("crash")
        .infra(&infra)
        .proxy(Arc::new(aws))
        .options(options())
        .state_dir(dir);
    let ok = rt().block_on(o.initiate_system());
    assert!(ok, "{}", failures(&o));
}

/// This test binary, set to run [`child_process_entry`] alone.
fn child_command() -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "child_process_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    c
}

fn spawn_child(mode: &str, url: &str, dir: &Path, k: usize) -> std::process::Child {
    child_command()
        .env("ACTUATOR_AWS_CHILD", mode)
        .env("ACTUATOR_AWS_URL", url)
        .env("ACTUATOR_AWS_STATE", dir)
        .env("ACTUATOR_AWS_K", k.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn up_killed_at_any_point_then_up_again_converges_without_duplicates() {
    let (_turn, url) = moto();
    let k = 3;
    let dir = tempfile::tempdir().unwrap();
    let ec2 = client(&url);
    // Kill several runs at staggered moments; each resumes the last one's state.
    let mut seen = Vec::new();
    for delay_ms in [150u64, 300, 450, 600, 900] {
        let mut child = spawn_child("up", &url, dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let done = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let n = rt().block_on(tagged(&ec2, "crash")).values().sum::<usize>();
        seen.push((delay_ms, done, n));
    }
    assert!(
        seen.iter().any(|&(_, done, n)| !done && n > 0),
        "some run must be killed mid-way: {seen:?}"
    );
    let infra = fleet(k);
    let aws = Arc::new(proxy(&url));
    let mut o = ActuatorOrchestration::new("crash")
        .infra(&infra)
        .proxy(aws.clone())
        .options(options())
        .state_dir(dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged(&ec2, "crash").await;
        assert_eq!(t.len(), fleet_tagged(k), "{t:#?} after {seen:?}");
        assert!(
            t.values().all(|&n| n == 1),
            "duplicates: {t:#?} after {seen:?}"
        );
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn down_after_a_killed_up_finds_unrecorded_resources_by_tag() {
    let (_turn, url) = moto();
    let k = 3;
    let ec2 = client(&url);
    for delay_ms in [250u64, 500, 800] {
        reset(&url);
        let dir = tempfile::tempdir().unwrap();
        let mut child = spawn_child("up", &url, dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().ok();
        child.wait().unwrap();
        // A new process, no model: only the state and a proxy that knows the system's name.
        let mut o = ActuatorOrchestration::new("crash")
            .proxy(Arc::new(proxy(&url).system("crash")))
            .state_dir(dir.path());
        rt().block_on(async {
            assert!(o.teardown_system().await, "{}", failures(&o));
            assert_eq!(
                leaks(&ec2).await,
                Vec::<String>::new(),
                "killed after {delay_ms} ms"
            );
        });
    }
}

#[test]
fn the_standard_environment_variables_configure_the_proxy() {
    let (_turn, url) = moto();
    let dir = tempfile::tempdir().unwrap();
    let mut child = child_command()
        .env("ACTUATOR_AWS_CHILD", "env")
        .env("ACTUATOR_AWS_URL", "unused")
        .env("ACTUATOR_AWS_STATE", dir.path())
        .env("ACTUATOR_AWS_K", "1")
        .env("AWS_ENDPOINT_URL", &url)
        .env("AWS_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", dir.path().join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{err}");
    let ec2 = client(&url);
    let t = rt().block_on(tagged(&ec2, "crash"));
    assert_eq!(t.len(), fleet_tagged(1), "{t:#?}");
    let mut o = ActuatorOrchestration::new("crash")
        .proxy(Arc::new(proxy(&url)))
        .state_dir(dir.path());
    rt().block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

// ------------------------------------------------------------------------------------------------
// Convergence: the plan is a diff, applied (scale-down, update in place, replace), environments
// kept apart by their tags, a lost state recovered by discovery.

/// A fleet of `k` as `system` in `workspace`, its state in `dir`.
fn orch(
    system: &str,
    workspace: &str,
    infra: &actuator::model::Instance<Fleet>,
    url: &str,
    dir: &Path,
) -> ActuatorOrchestration {
    ActuatorOrchestration::new(system)
        .workspace(workspace)
        .infra(infra)
        .proxy(Arc::new(proxy(url)))
        .options(options())
        .state_dir(dir)
}

/// Whose the resources of `o`'s state are, as its meta records it.
fn scope_of(o: &mut ActuatorOrchestration) -> Scope {
    let st = o.state().unwrap();
    let meta = st.meta();
    Scope {
        system: meta["system"].clone(),
        workspace: meta["workspace"].clone(),
        state_id: meta["state_id"].clone(),
    }
}

fn action(plan: &Plan, key: &str) -> ResourceAction {
    plan.resources
        .iter()
        .find(|r| &*r.key == key)
        .unwrap_or_else(|| panic!("{key} is not in the plan"))
        .action
}

fn live_ids(m: &BTreeMap<String, Vec<(String, String, String)>>) -> Vec<String> {
    m.values().flatten().map(|(id, ..)| id.clone()).collect()
}

#[test]
fn scale_down_six_to_two_terminates_exactly_four_instances_and_their_addresses() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let ec2 = client(&url);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let six = fleet(6);
        let mut o = orch("scale", "default", &six, &url, dir.path());
        assert!(o.initiate_system().await, "{}", failures(&o));
        let before = instances(&ec2, "scale").await;
        assert_eq!(before.len(), 6);
        assert_eq!(addresses(&ec2).await.len(), 6);

        drop(o); // its state lock
        let two = fleet(2);
        let mut o = orch("scale", "default", &two, &url, dir.path());
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        for i in 2..6 {
            for what in ["web", "ips", "nics"] {
                assert_eq!(
                    action(&plan, &format!("Fleet.{what}.{i}")),
                    ResourceAction::Destroy
                );
            }
        }
        assert_eq!(action(&plan, "Fleet.web.1"), ResourceAction::Unchanged);
        assert_eq!(plan.summary.destroy, 12, "{}", plan.summary_line());
        assert!(o.initiate_system().await, "{}", failures(&o));

        let after = instances(&ec2, "scale").await;
        assert_eq!(
            after.keys().collect::<Vec<_>>(),
            ["Fleet.web.0", "Fleet.web.1"]
        );
        // The two kept are the very same instances.
        assert_eq!(after["Fleet.web.0"], before["Fleet.web.0"]);
        assert_eq!(after["Fleet.web.1"], before["Fleet.web.1"]);
        let ips = addresses(&ec2).await;
        assert_eq!(ips.len(), 2, "{ips:?}");
        let kept = live_ids(&after);
        assert!(ips.values().all(|i| kept.contains(i)), "{ips:?} {kept:?}");
        let t = tagged(&ec2, "scale").await;
        assert_eq!(t.len(), fleet_tagged(2), "{t:#?}");
        // A second run has nothing to do.
        let again = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(!again.has_changes(), "{}", again.summary_line());
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn a_changed_rule_is_modified_in_place_and_instance_tags_are_updated() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let ec2 = client(&url);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let infra = fleet(1);
        let mut o = orch("rule", "default", &infra, &url, dir.path());
        assert!(o.initiate_system().await, "{}", failures(&o));
        let rule_id = |o: &mut ActuatorOrchestration| {
            o.state().unwrap().get("Fleet.http").unwrap().data.value()["outputs"]["rule_id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let first = rule_id(&mut o);
        let instance = instances(&ec2, "rule").await;

        set_knobs(Knobs {
            http_port: 8080,
            http_description: "HTTP on 8080",
            tier: "front",
            ..Knobs::default()
        });
        drop(o); // its state lock
        let infra = fleet(1);
        let mut o = orch("rule", "default", &infra, &url, dir.path());
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert_eq!(action(&plan, "Fleet.http"), ResourceAction::Update);
        assert_eq!(action(&plan, "Fleet.web.0"), ResourceAction::Update);
        assert_eq!(action(&plan, "Fleet.ssh"), ResourceAction::Unchanged);
        assert!(o.initiate_system().await, "{}", failures(&o));

        // The same rule, changed: never revoked and re-added.
        assert_eq!(rule_id(&mut o), first);
        let rules = ec2
            .describe_security_group_rules()
            .filters(f("security-group-rule-id", &[first.as_str()]))
            .send()
            .await
            .unwrap();
        let r = &rules.security_group_rules()[0];
        assert_eq!((r.from_port(), r.to_port()), (Some(8080), Some(8080)));
        assert_eq!(r.description(), Some("HTTP on 8080"));
        // The same instance, retagged.
        let now = instances(&ec2, "rule").await;
        assert_eq!(now["Fleet.web.0"][0].0, instance["Fleet.web.0"][0].0);
        assert_eq!(now["Fleet.web.0"][0].2, "front");
        let again = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(!again.has_changes(), "{}", again.summary_line());
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
    set_knobs(Knobs::default());
}

#[test]
fn a_changed_instance_type_replaces_the_instance_and_its_address_follows() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let ec2 = client(&url);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let infra = fleet(2);
        let mut o = orch("swap", "default", &infra, &url, dir.path());
        assert!(o.initiate_system().await, "{}", failures(&o));
        let before = instances(&ec2, "swap").await;
        let ips_before = addresses(&ec2).await;

        set_knobs(Knobs {
            instance_type: "t3.small",
            ..Knobs::default()
        });
        drop(o); // its state lock
        let infra = fleet(2);
        let mut o = orch("swap", "default", &infra, &url, dir.path());
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        for i in 0..2 {
            let web = plan
                .resources
                .iter()
                .find(|r| *r.key == format!("Fleet.web.{i}"))
                .unwrap();
            assert_eq!(web.action, ResourceAction::Replace);
            // Its interface can be attached to one instance only.
            assert!(!web.create_before_destroy);
            assert!(
                web.changes
                    .iter()
                    .any(|c| c.arg == "instance_type" && c.forces_replacement),
                "{:?}",
                web.changes
            );
            assert_eq!(
                action(&plan, &format!("Fleet.ips.{i}")),
                ResourceAction::Update
            );
            assert_eq!(
                action(&plan, &format!("Fleet.nics.{i}")),
                ResourceAction::Unchanged
            );
        }
        assert!(o.initiate_system().await, "{}", failures(&o));

        let after = instances(&ec2, "swap").await;
        assert_eq!(after.len(), 2, "{after:?}");
        for (path, v) in &after {
            assert_eq!(v.len(), 1, "{path}: {v:?}");
            assert_eq!(v[0].1, "t3.small");
            assert_ne!(v[0].0, before[path][0].0, "{path} was not replaced");
        }
        // The same addresses (allocation ids), now on the new instances.
        let ips_after = addresses(&ec2).await;
        assert_eq!(
            ips_after.keys().collect::<Vec<_>>(),
            ips_before.keys().collect::<Vec<_>>()
        );
        let new_ids = live_ids(&after);
        assert!(
            ips_after.values().all(|i| new_ids.contains(i)),
            "{ips_after:?}"
        );
        let again = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(!again.has_changes(), "{}", again.summary_line());
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
    set_knobs(Knobs::default());
}

#[test]
fn two_workspaces_live_side_by_side_and_down_of_one_leaves_the_other_complete() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let ec2 = client(&url);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    rt().block_on(async {
        let infra = fleet(2);
        let mut a = orch("twin", "staging", &infra, &url, da.path());
        let mut b = orch("twin", "prod", &infra, &url, db.path());
        assert!(a.initiate_system().await, "{}", failures(&a));
        assert!(b.initiate_system().await, "{}", failures(&b));
        for ws in ["staging", "prod"] {
            let t = tagged_in(&ec2, "twin", Some(ws)).await;
            assert_eq!(t.len(), fleet_tagged(2), "{ws}: {t:#?}");
            assert!(t.values().all(|&n| n == 1), "{ws}: {t:#?}");
        }
        // No id is in both states.
        let ids = |o: &mut ActuatorOrchestration| -> Vec<String> {
            o.state()
                .unwrap()
                .iter()
                .filter_map(|e| e.data.value()["outputs"]["id"].as_str().map(str::to_owned))
                .collect()
        };
        let (ia, ib) = (ids(&mut a), ids(&mut b));
        assert!(ia.iter().all(|i| !ib.contains(i)), "{ia:?} / {ib:?}");

        assert!(a.teardown_system().await, "{}", failures(&a));
        assert_eq!(tagged_in(&ec2, "twin", Some("staging")).await.len(), 0);
        let t = tagged_in(&ec2, "twin", Some("prod")).await;
        assert_eq!(t.len(), fleet_tagged(2), "{t:#?}");
        // prod is still complete: a refreshed plan has nothing to do.
        let plan = b.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(!plan.has_changes(), "{}", plan.summary_line());
        assert_eq!(instances(&ec2, "twin").await.len(), 2);
        assert!(b.teardown_system().await, "{}", failures(&b));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn a_lost_state_is_not_adopted_and_discover_then_down_leaves_nothing() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let ec2 = client(&url);
    let old = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let infra = fleet(2);
        let mut o = orch("lost", "default", &infra, &url, old.path());
        assert!(o.initiate_system().await, "{}", failures(&o));
        let n = tagged(&ec2, "lost").await.len();
        drop(o);

        // The state is lost: a fresh one must not adopt what the old one made.
        let fresh = tempfile::tempdir().unwrap();
        let mut o = orch("lost", "default", &infra, &url, fresh.path());
        assert!(
            !o.initiate_system().await,
            "adopted another state's resources"
        );
        let why = failures(&o);
        assert!(
            why.contains("another state") && why.contains("Fleet.vpc"),
            "{why}"
        );
        // Nothing was made twice.
        assert!(tagged(&ec2, "lost").await.values().all(|&c| c == 1));

        let found = o.discover().await.unwrap();
        assert_eq!(found.len(), n, "{found:#?}");
        assert!(o.down_discovered(&found).await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn a_resource_of_another_workspace_is_never_read_as_ours() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let ec2 = client(&url);
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    rt().block_on(async {
        let infra = fleet(1);
        let mut a = orch("peer", "a", &infra, &url, da.path());
        assert!(a.initiate_system().await, "{}", failures(&a));
        // b has nothing: discovery finds nothing of b, and a's resources are untouched by b's
        // discover-and-down.
        let mut b = orch("peer", "b", &infra, &url, db.path());
        let found = b.discover().await.unwrap();
        assert!(found.is_empty(), "{found:#?}");
        let t = tagged_in(&ec2, "peer", Some("a")).await;
        assert_eq!(t.len(), fleet_tagged(1));
        assert!(a.teardown_system().await, "{}", failures(&a));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
}

#[test]
fn bad_arguments_are_refused_before_any_call() {
    #[derive(InfraModel)]
    struct Bad {
        #[component(Vpc::new("vpc", "10.0.0.0/33"))]
        vpc: Vpc,
        #[component(SecurityGroup::new("sg", "x", ctx.model.vpc))]
        sg: SecurityGroup,
        #[component(SecurityGroupRule::ingress("r", ctx.model.sg, "tcp", 90, 80, "0.0.0.0/0"))]
        rule: SecurityGroupRule,
        #[component(Instance::new("i", AMI).instance_type("large").tag("actuator:state", "x"))]
        web: Instance,
        #[component(Subnet::new("subnet", ctx.model.vpc, "10.0.1.0/24"))]
        subnet: Subnet,
        #[component(NetworkInterface::new("nic", ctx.model.subnet))]
        nic: NetworkInterface,
        // Groups belong on the interfaces; EC2 refuses them beside interfaces at run time.
        #[component(Instance::with_interfaces("grouped", AMI, [ctx.model.nic]).security_groups([ctx.model.sg]))]
        grouped: Instance,
        // A placement changed by hand after the constructor chose one.
        #[component({
            let mut i = Instance::in_subnet("both", AMI, ctx.model.subnet);
            i.network_interfaces.push(ctx.model.nic.into_ref());
            i
        })]
        both: Instance,
        #[component(KeyPair::new("k").public_key_file("/nonexistent/actuator-test.pub").key_type("ed25519"))]
        key: KeyPair,
        // A key cut short when pasted: its data no longer names its type.
        #[component(KeyPair::new("cut").public_key_file(cut_key()))]
        cut: KeyPair,
    }
    fn cut_key() -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("actuator-cut-{}.pub", std::process::id()));
        std::fs::write(&path, "ssh-ed25519 AAAAC3NzaC1lZDI1 me@host\n").unwrap();
        path
    }
    let (_turn, url) = moto();
    let aws = Arc::new(proxy(&url));
    let infra = Bad::instance("bad");
    let mut o = ActuatorOrchestration::new("bad")
        .infra(&infra)
        .proxy(aws.clone())
        .memory_state();
    rt().block_on(async {
        aws.reset_stats();
        assert!(!o.initiate_system().await);
        let why = failures(&o);
        for needle in [
            "cidr_block",
            "10.0.0.0/33",
            "from_port",
            "instance_type",
            "\"large\"",
            "actuator:state",
            "1 given with network interfaces: put them on the interfaces",
            "the interfaces carry the subnet",
            "/nonexistent/actuator-test.pub: No such file",
            "not to an imported one",
            "the key data does not match its type",
        ] {
            assert!(why.contains(needle), "{needle} missing from: {why}");
        }
        assert_eq!(aws.stats().total(), 0, "EC2 was called");
    });
    let _ = std::fs::remove_file(cut_key());
}

#[test]
fn sigkill_during_a_replace_converges_with_no_duplicate_and_no_orphan() {
    let (_turn, url) = moto();
    set_knobs(Knobs::default());
    let k = 2;
    let ec2 = client(&url);
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let infra = fleet(k);
        let mut o = orch("crash", "default", &infra, &url, dir.path());
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    // Replacing every instance (t3.micro → t3.small); each run resumes the last one's state and is
    // killed once EC2 shows it has changed something (polled, not a fixed delay: how long a run
    // takes depends on the machine — a fast one finished inside the first fixed delay), after a
    // staggered extra delay, so the kills land at different points of the replacements.
    let mut seen = Vec::new();
    for extra_ms in [0u64, 10, 30, 60, 100, 200] {
        let before = live_ids(&rt().block_on(instances(&ec2, "crash")));
        let mut child = child_command()
            .env("ACTUATOR_AWS_CHILD", "up")
            .env("ACTUATOR_AWS_URL", &url)
            .env("ACTUATOR_AWS_STATE", dir.path())
            .env("ACTUATOR_AWS_K", k.to_string())
            .env("ACTUATOR_AWS_TYPE", "t3.small")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        let done = loop {
            if child.try_wait().unwrap().is_some() {
                break true;
            }
            if live_ids(&rt().block_on(instances(&ec2, "crash"))) != before {
                std::thread::sleep(Duration::from_millis(extra_ms));
                break child.try_wait().unwrap().is_some();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the run changed nothing in 120 s"
            );
            std::thread::sleep(Duration::from_millis(2));
        };
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let live = rt().block_on(instances(&ec2, "crash"));
        let small = live
            .values()
            .flatten()
            .filter(|i| i.1 == "t3.small")
            .count();
        seen.push((
            extra_ms,
            done,
            live.values().map(Vec::len).sum::<usize>(),
            small,
        ));
    }
    // Some run was killed mid-way through the replacements (not before the first, not after the
    // last): fewer than k live, or old and new types side by side.
    assert!(
        seen.iter()
            .any(|&(_, done, n, small)| !done && (n < k || (small > 0 && small < k))),
        "no run was killed during a replace: {seen:?}"
    );
    eprintln!("killed runs (extra ms, finished, live, replaced): {seen:?}");
    set_knobs(Knobs {
        instance_type: "t3.small",
        ..Knobs::default()
    });
    let infra = fleet(k);
    let mut o = orch("crash", "default", &infra, &url, dir.path());
    rt().block_on(async {
        assert!(o.initiate_system().await, "{} after {seen:?}", failures(&o));
        let live = instances(&ec2, "crash").await;
        assert_eq!(live.len(), k, "{live:?} after {seen:?}");
        for (path, v) in &live {
            assert_eq!(v.len(), 1, "{path} duplicated: {v:?} after {seen:?}");
            assert_eq!(v[0].1, "t3.small", "{path}");
        }
        let ips = addresses(&ec2).await;
        assert_eq!(ips.len(), k, "{ips:?}");
        let ids = live_ids(&live);
        assert!(ips.values().all(|i| ids.contains(i)), "{ips:?} vs {ids:?}");
        let t = tagged(&ec2, "crash").await;
        assert_eq!(t.len(), fleet_tagged(k), "{t:#?} after {seen:?}");
        assert!(t.values().all(|&n| n == 1), "{t:#?} after {seen:?}");
        let again = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(!again.has_changes(), "{}", again.summary_line());
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(leaks(&ec2).await, Vec::<String>::new());
    });
    set_knobs(Knobs::default());
}
