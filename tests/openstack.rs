//! The OpenStack provisioner proxy against real Keystone, Neutron, Nova, Placement and Glance on
//! loopback (`scripts/openstack.sh`, started once for the run). The tests take turns: they share
//! the `demo` project, and booting servers is the stack's slowest work.
//!
//! Whole lifecycles run through `ActuatorOrchestration`; after every `down` the project is listed
//! through the APIs and must hold what it held before. Faults are injected by relays in front of
//! Neutron and Nova (5xx, 409, dropped connections, lost answers); a server goes to ERROR for
//! real (a flavor no host can hold); a token is revoked in Keystone mid-run.
//!
//! No test sees another's leftovers, in this run or an earlier one: each system name carries a
//! suffix unique to the run ([`system`]), and each test's [`Sweep`] deletes what is still tagged
//! for it when the test ends, whether it passed or not.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use serde_json::json;

use actuator::events::Collect;
use actuator::orchestrate::{ActuatorOrchestration, Options, PlanOptions, ResourceAction};
use actuator::prelude::*;
use actuator_openstack::{Network, OpenStackProxy, SecurityGroup, Subnet};

use actuator_tests::openstack::*;
use actuator_tests::relay::{self, Fault};

static TURN: Mutex<()> = Mutex::new(());

/// Starts the stack (once), waits for this test's turn.
fn turn() -> MutexGuard<'static, ()> {
    env();
    TURN.lock()
}

fn orch(
    system: &str,
    infra: &actuator::model::Instance<Grid>,
    p: Arc<OpenStackProxy>,
) -> ActuatorOrchestration {
    ActuatorOrchestration::new(system)
        .infra(infra)
        .proxy(p)
        .options(options())
        .memory_state()
}

/// Output `attr` of `key` as the state records it.
fn recorded_output(o: &mut ActuatorOrchestration, key: &str, attr: &str) -> String {
    let st = o.state().unwrap();
    st.get(key).unwrap().data.value()["outputs"][attr]
        .as_str()
        .unwrap()
        .to_owned()
}

fn posts(p: &OpenStackProxy) -> u64 {
    p.stats()
        .calls
        .iter()
        .filter(|(op, _)| op.starts_with("POST") || op.starts_with("PUT"))
        .map(|(_, n)| n)
        .sum()
}

// ------------------------------------------------------------------------------------------------
// Lifecycles

#[test]
fn lifecycle_creates_each_resource_once_tagged_fills_ips_and_leaves_nothing() {
    let _t = turn();
    let sys = system("os-life");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    let infra = grid(2);
    let ns = GridNs::instance("ns", &infra);
    let ev = Arc::new(Collect::default());
    let mut o = orch(&sys, &infra, p.clone()).namespace(&ns).handler(ev);
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged_paths(&p, &sys).await;
        // Every resource but the gateway (a setting of its router) and the key pair (Nova key
        // pairs carry no tags) carries its identity, once.
        assert_eq!(t.len(), grid_size(2) - 2, "{t:#?}");
        assert!(t.values().all(|&n| n == 1), "{t:#?}");
        let st = o.state().unwrap();
        let out = |k: &str, a: &str| {
            st.get(k)
                .and_then(|e| e.data.value()["outputs"][a].as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        assert!(
            out("Grid.foreman", "ip").starts_with("192.168.23."),
            "{}",
            out("Grid.foreman", "ip")
        );
        assert!(out("Grid.workers.1", "ip").starts_with("192.168.23."));
        assert!(out("Grid.foreman", "addresses").contains("grid-net"));
        assert_eq!(out("Grid.foreman", "status"), "ACTIVE");
        assert!(
            out("Grid.fip", "ip").starts_with("172.24.4."),
            "{}",
            out("Grid.fip", "ip")
        );
        assert_eq!(out("Grid.fip", "fixed_ip"), out("Grid.foreman", "ip"));
        assert!(out("Grid.gateway", "ip").starts_with("172.24.4."));
        assert!(out("Grid.rinter", "ip").starts_with("192.168.23."));
        let key = out("Grid.key", "name");
        assert!(key.starts_with("grid-key-"), "{key}");
        assert_eq!(key_pairs(&p, "grid-key-").await, vec![key.clone()]);
        // The namespace sees the addresses.
        let report = o.report().unwrap();
        let foreman = report.iter().find(|r| r.role.ends_with("foreman")).unwrap();
        let ext = foreman
            .vars
            .iter()
            .find(|v| v.name == "FOREMAN_EXTERNAL_IP")
            .unwrap();
        assert_eq!(ext.value, out("Grid.fip", "ip"));
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&p).await, before, "left behind after down");
        assert!(key_pairs(&p, "grid-key-").await.is_empty());
    });
}

#[test]
fn a_second_up_creates_nothing_and_a_second_down_deletes_nothing() {
    let _t = turn();
    let sys = system("os-again");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    let infra = grid(1);
    let mut o = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let first = posts(&p);
        p.reset_stats();
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert_eq!(
            posts(&p),
            0,
            "a second up changed something: {:?}",
            p.stats().calls
        );
        let plan = o
            .plan_with(&PlanOptions {
                refresh: true,
                ..PlanOptions::default()
            })
            .await
            .unwrap();
        assert!(!plan.has_changes(), "{}", plan.summary_line());
        assert!(first > 0);
        assert!(o.teardown_system().await, "{}", failures(&o));
        p.reset_stats();
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(p.stats().total(), 0, "{:?}", p.stats().calls);
        assert_eq!(project_snapshot(&p).await, before);
    });
}

// ------------------------------------------------------------------------------------------------
// Change: update in place, replace, drift

#[test]
fn in_place_updates_keep_ids_and_replacements_make_new_ones() {
    let _t = turn();
    let sys = system("os-change");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let admin = admin();
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    // A second flavor to move the foreman to (flavor changes replace a server).
    rt.block_on(ensure_flavor(&admin, "actuator.small", 64, 1, 1));
    let dir = tempfile::tempdir().unwrap();
    let at = |shape: Shape| {
        set_shape(shape);
        let infra = grid(0);
        set_shape(Shape::default());
        ActuatorOrchestration::new(&sys)
            .infra(&infra)
            .proxy(p.clone())
            .options(options())
            .state_dir(dir.path())
    };
    let ids = |o: &mut ActuatorOrchestration| {
        let st = o.state().unwrap();
        ["Grid.sg", "Grid.foreman", "Grid.ssh", "Grid.fip"].map(|k| {
            st.get(k).unwrap().data.value()["outputs"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
    };
    let mut o = at(Shape::default());
    rt.block_on(async { assert!(o.initiate_system().await, "{}", failures(&o)) });
    let [sg, foreman, ssh, fip] = ids(&mut o);
    drop(o);
    // In place: the group's description, the server's name.
    let mut o = at(Shape {
        sg_description: "changed".into(),
        foreman_name: "boss".into(),
        ..Shape::default()
    });
    rt.block_on(async {
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        let action = |k: &str| plan.resources.iter().find(|r| &*r.key == k).unwrap().action;
        assert_eq!(action("Grid.sg"), ResourceAction::Update);
        assert_eq!(action("Grid.foreman"), ResourceAction::Update);
        assert!(o.initiate_system().await, "{}", failures(&o));
        let g = p
            .call("network", "GET", &["security-groups", &sg], &[], None)
            .await
            .unwrap();
        assert_eq!(g["security_group"]["description"], "changed");
        let s = p
            .call("compute", "GET", &["servers", &foreman], &[], None)
            .await
            .unwrap();
        assert_eq!(s["server"]["name"], "boss");
    });
    assert_eq!(ids(&mut o)[..2], [sg.clone(), foreman.clone()]);
    drop(o);
    // Replacements: a rule's port, the server's flavor; the floating IP follows the new server.
    let mut o = at(Shape {
        sg_description: "changed".into(),
        foreman_name: "boss".into(),
        foreman_flavor: "actuator.small".into(),
        ..Shape::default()
    });
    rt.block_on(async {
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        let action = |k: &str| plan.resources.iter().find(|r| &*r.key == k).unwrap().action;
        assert_eq!(action("Grid.foreman"), ResourceAction::Replace);
        assert_eq!(action("Grid.fip"), ResourceAction::Update);
        assert!(o.initiate_system().await, "{}", failures(&o));
    });
    let [sg2, foreman2, ssh2, fip2] = ids(&mut o);
    assert_eq!((sg2, ssh2, fip2), (sg, ssh, fip));
    assert_ne!(foreman2, foreman);
    rt.block_on(async {
        let st = o.state().unwrap();
        let f = p
            .call(
                "network",
                "GET",
                &[
                    "floatingips",
                    st.get("Grid.fip").unwrap().data.value()["outputs"]["id"]
                        .as_str()
                        .unwrap(),
                ],
                &[],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            f["floatingip"]["fixed_ip_address"].as_str(),
            st.get("Grid.foreman").unwrap().data.value()["outputs"]["ip"].as_str()
        );
        assert!(
            p.call("compute", "GET", &["servers", &foreman], &[], None)
                .await
                .is_err(),
            "the old server is gone"
        );
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&p).await, before);
    });
}

#[test]
fn a_server_deleted_behind_the_tools_back_is_found_and_recreated() {
    let _t = turn();
    let sys = system("os-drift");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    let infra = grid(2);
    let mut o = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let gone = recorded_output(&mut o, "Grid.workers.1", "id");
        p.call("compute", "DELETE", &["servers", &gone], &[], None)
            .await
            .unwrap();
        while p
            .call("compute", "GET", &["servers", &gone], &[], None)
            .await
            .is_ok()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
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
            .find(|r| &*r.key == "Grid.workers.1")
            .unwrap();
        assert_eq!(r.action, ResourceAction::Create, "{}", plan.summary_line());
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged_paths(&p, &sys).await;
        assert_eq!(t.get("Grid.workers.1"), Some(&1), "{t:#?}");
        let now = recorded_output(&mut o, "Grid.workers.1", "id");
        assert_ne!(now, gone);
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&p).await, before);
    });
}

#[test]
fn two_workspaces_share_a_project_without_touching_each_other() {
    let _t = turn();
    let sys = system("os-ws");
    let _sweep = Sweep::new(&sys).workspaces(&["blue", "green"]);
    let p = Arc::new(proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    let (blue_dir, green_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let ws = |name: &str, dir: &Path| {
        let infra = grid(1);
        ActuatorOrchestration::new(&sys)
            .workspace(name)
            .infra(&infra)
            .proxy(p.clone())
            .options(options())
            .state_dir(dir)
    };
    let (mut blue, mut green) = (ws("blue", blue_dir.path()), ws("green", green_dir.path()));
    rt.block_on(async {
        assert!(blue.initiate_system().await, "{}", failures(&blue));
        assert!(green.initiate_system().await, "{}", failures(&green));
        let t = tagged_paths(&p, &sys).await;
        assert!(
            t.values().all(|&n| n == 2),
            "one of each per workspace: {t:#?}"
        );
        assert!(blue.teardown_system().await, "{}", failures(&blue));
        let t = tagged_paths(&p, &sys).await;
        assert_eq!(t.len(), grid_size(1) - 2);
        assert!(t.values().all(|&n| n == 1), "green is intact: {t:#?}");
        let plan = green
            .plan_with(&PlanOptions {
                refresh: true,
                ..PlanOptions::default()
            })
            .await
            .unwrap();
        assert!(!plan.has_changes(), "{}", plan.summary_line());
        assert!(green.teardown_system().await, "{}", failures(&green));
        assert_eq!(project_snapshot(&p).await, before);
    });
}

#[test]
fn a_lost_state_is_discovered_by_tag_and_cleaned_up_never_adopted() {
    let _t = turn();
    let sys = system("os-lost");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    let infra = grid(1);
    let mut first = orch(&sys, &infra, p.clone());
    rt.block_on(async { assert!(first.initiate_system().await, "{}", failures(&first)) });
    drop(first); // the memory state is lost
    let infra = grid(1);
    let mut second = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(!second.initiate_system().await);
        assert!(
            failures(&second).contains("belongs to state"),
            "{}",
            failures(&second)
        );
        let found = second.discover().await.unwrap();
        assert!(found.len() >= grid_size(1) - 2, "{found:#?}");
        assert!(
            second.down_discovered(&found).await,
            "{}",
            failures(&second)
        );
        // The key pair (untaggable) of the first state stays: its name is unique to it. Key
        // pairs that were there before the test are not its to delete.
        for k in key_pairs(&p, "grid-key-").await {
            if before.contains(&format!("os-keypairs {k}")) {
                continue;
            }
            p.call("compute", "DELETE", &["os-keypairs", &k], &[], None)
                .await
                .unwrap();
        }
        assert_eq!(project_snapshot(&p).await, before);
    });
}

// ------------------------------------------------------------------------------------------------
// Faults

#[test]
fn five_hundreds_conflicts_and_dropped_connections_are_retried_with_no_leaks() {
    let _t = turn();
    let sys = system("os-faults");
    let _sweep = Sweep::new(&sys);
    let relays = Relayed::start();
    let p = Arc::new(relays.proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&proxy()));
    let faults = || {
        relay::random(
            7,
            0.2,
            vec![
                Fault::status(503, "Service Unavailable"),
                Fault::status(409, "Conflict: concurrent update"),
                Fault::Drop,
                Fault::status(500, "Internal Server Error"),
            ],
        )
    };
    relays.neutron.set(faults());
    relays.nova.set(faults());
    let infra = grid(2);
    let mut o = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged_paths(&proxy(), &sys).await;
        assert!(t.values().all(|&n| n == 1), "{t:#?}");
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    let injected = relays.neutron.injected() + relays.nova.injected();
    assert!(injected >= 10, "only {injected} faults injected");
    assert!(
        p.stats().total_retried() >= injected as u64 / 2,
        "{:?}",
        p.stats().retried
    );
    relays.clear();
    assert_eq!(rt.block_on(project_snapshot(&proxy())), before);
}

#[test]
fn creates_whose_answers_are_lost_are_found_not_made_twice() {
    let _t = turn();
    let sys = system("os-lost-answer");
    let _sweep = Sweep::new(&sys);
    let relays = Relayed::start();
    let p = Arc::new(relays.proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&proxy()));
    // The first create of every collection takes effect, its answer is lost (the connection drops
    // or a 502 comes back).
    let lose = |alternate: bool| {
        let seen = Mutex::new(BTreeSet::new());
        let n = AtomicU32::new(0);
        move |r: &relay::Request| {
            let coll = r.path.split('?').next().unwrap_or_default().to_owned();
            (r.method == "POST" && seen.lock().insert(coll)).then(|| {
                if alternate && n.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
                    Fault::ReplaceAnswer(502, "{}".into())
                } else {
                    Fault::LoseAnswer
                }
            })
        }
    };
    relays.neutron.set(lose(true));
    relays.nova.set(lose(false));
    let infra = grid(1);
    let mut o = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged_paths(&proxy(), &sys).await;
        assert_eq!(t.len(), grid_size(1) - 2, "{t:#?}");
        assert!(t.values().all(|&n| n == 1), "twins: {t:#?}");
    });
    let lost = relays.neutron.log().injected;
    assert!(
        lost.iter().any(|(_, p, _)| p.contains("/networks")),
        "{lost:?}"
    );
    assert!(
        relays
            .nova
            .log()
            .injected
            .iter()
            .any(|(_, p, _)| p.ends_with("/servers"))
    );
    relays.clear();
    rt.block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&proxy()).await, before);
    });
}

#[test]
fn a_server_that_goes_to_error_fails_with_novas_fault_and_leaves_nothing() {
    let _t = turn();
    let sys = system("os-error");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let admin = admin();
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    // No host has a petabyte of disk (the fake driver's has 600 TB): the scheduler puts the
    // server in ERROR ("No valid host"). Not memory: a flavor bigger than the host's memory is
    // bigger than the project's RAM quota too, and Nova refuses it with a 403 before scheduling.
    rt.block_on(ensure_flavor(&admin, "actuator.nohost", 64, 1, 1_000_000));
    set_shape(Shape {
        foreman_flavor: "actuator.nohost".into(),
        ..Shape::default()
    });
    let infra = grid(0);
    set_shape(Shape::default());
    let mut o = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(!o.initiate_system().await);
        let f = failures(&o);
        assert!(
            f.contains("Grid.foreman") && f.contains("went to ERROR"),
            "{f}"
        );
        assert!(f.contains("No valid host"), "Nova's fault message: {f}");
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&p).await, before);
    });
}

#[test]
fn a_token_revoked_mid_run_is_renewed_and_the_run_finishes() {
    let _t = turn();
    let sys = system("os-token");
    let _sweep = Sweep::new(&sys);
    let relays = Relayed::start();
    let p = Arc::new(relays.proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&proxy()));
    // The token is revoked in Keystone as the floating IP is asked for — late in `up`, after the
    // server is ACTIVE. Not while a server boots: Nova calls Neutron with the token of the request
    // that created the server, so revoking it then fails the boot inside Nova (a real cloud does
    // the same), which is not what this test is about.
    let token = Arc::new(Mutex::new(None::<String>));
    let t2 = token.clone();
    relays.neutron.set(move |r| {
        if r.method == "POST" && r.path.ends_with("/floatingips") {
            let mut t = t2.lock();
            if t.is_none() {
                *t = r.header("X-Auth-Token").map(str::to_owned);
                let tok = t.clone().unwrap();
                revoke(&tok);
            }
        }
        None
    });
    let infra = grid(0);
    let mut o = orch(&sys, &infra, p.clone());
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(token.lock().is_some());
        assert!(p.stats().token_renewals >= 1, "{:?}", p.stats());
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    relays.clear();
    assert_eq!(rt.block_on(project_snapshot(&proxy())), before);
}

#[test]
fn a_run_that_outlives_its_token_renews_it_before_any_service_refuses_it() {
    let _t = turn();
    let sys = system("os-short-token");
    let _sweep = Sweep::new(&sys);
    // The `demo` user logging in at the stack's second Keystone, whose tokens expire after
    // 20 s; Neutron checks them with the first one, as a service checks any token.
    let lifetime = Duration::from_secs(var("ACTUATOR_OS_SHORT_TOKEN_SECONDS").parse().unwrap());
    let relay = relay::Relay::start(&var("ACTUATOR_OS_NEUTRON_URL"));
    let p =
        Arc::new(proxy_for(&var("ACTUATOR_OS_SHORT_TOKEN_CLOUD")).endpoint("network", &relay.url));
    // When each token was first and last sent.
    let seen = Arc::new(Mutex::new(BTreeMap::<String, (Instant, Instant)>::new()));
    let s2 = seen.clone();
    relay.set(move |r| {
        if let Some(t) = r.header("X-Auth-Token") {
            let now = Instant::now();
            s2.lock().entry(t.to_owned()).or_insert((now, now)).1 = now;
        }
        None
    });
    let rt = rt();
    let before = rt.block_on(project_snapshot(&proxy()));
    let infra = Groups::instance("groups");
    for i in 0..2 {
        infra.index(infra.root().groups, i);
    }
    let mut o = ActuatorOrchestration::new(&sys)
        .infra(&infra)
        .proxy(p.clone())
        .options(options())
        .memory_state();
    let started = Instant::now();
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        // Whatever token `up` used has expired before `down` starts.
        tokio::time::sleep(
            (started + lifetime + Duration::from_secs(1)).saturating_duration_since(Instant::now()),
        )
        .await;
        assert!(o.teardown_system().await, "{}", failures(&o));
    });
    assert!(started.elapsed() > lifetime);
    let stats = p.stats();
    assert_eq!(
        stats.token_renewals, 0,
        "a service refused a token: {stats:?}"
    );
    assert!(!stats.retried.contains_key("token renewed"), "{stats:?}");
    let seen = seen.lock();
    assert!(
        seen.len() >= 2,
        "one token for a run longer than its life: {seen:?}"
    );
    for (first, last) in seen.values() {
        assert!(*last - *first < lifetime, "a token sent past its lifetime");
    }
    relay.clear();
    assert_eq!(rt.block_on(project_snapshot(&proxy())), before);
}

/// Revokes `token` in Keystone (a user may revoke their own).
fn revoke(token: &str) {
    let url = var("ACTUATOR_OS_AUTH_URL");
    let addr = url
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let req = format!(
        "DELETE /v3/auth/tokens HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {token}\r\nX-Subject-Token: {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.0 204") || out.starts_with("HTTP/1.1 204"),
        "revoke: {out}"
    );
}

#[derive(InfraModel)]
struct Groups {
    #[component(MultiResource::new(SecurityGroup::new("many", "quota test")))]
    groups: MultiResource<SecurityGroup>,
}

/// How many more security groups `p`'s project may hold, once its `default` group exists
/// (Neutron makes it with the project's first other group, so on a fresh project the first create
/// would use two of the quota).
async fn security_groups_left(p: &OpenStackProxy) -> usize {
    let group = match default_security_group(p).await {
        Some(g) => g,
        None => {
            let made = p
                .call(
                    "network",
                    "POST",
                    &["security-groups"],
                    &[],
                    Some(json!({ "security_group": { "name": "makes-the-default" } })),
                )
                .await
                .unwrap();
            let id = made["security_group"]["id"].as_str().unwrap();
            p.call("network", "DELETE", &["security-groups", id], &[], None)
                .await
                .unwrap();
            default_security_group(p)
                .await
                .expect("Neutron made the default group")
        }
    };
    let project = group["project_id"].as_str().unwrap();
    let q = p
        .call("network", "GET", &["quotas", project, "details"], &[], None)
        .await
        .unwrap();
    let sg = &q["quota"]["security_group"];
    let (limit, used) = (sg["limit"].as_i64().unwrap(), sg["used"].as_i64().unwrap());
    assert!(
        limit >= 0,
        "the project's security groups must be limited: {q}"
    );
    usize::try_from(limit - used).unwrap()
}

#[test]
fn the_group_over_the_quota_is_reported_as_a_quota_not_retried() {
    let _t = turn();
    let sys = system("os-quota");
    let _sweep = Sweep::in_cloud(&sys, &var("ACTUATOR_OS_LIMITED_CLOUD"));
    let p = Arc::new(proxy_for(&var("ACTUATOR_OS_LIMITED_CLOUD")));
    let rt = rt();
    // Fill the quota (10 upstream, the default group one of them) and ask for one more.
    let left = rt.block_on(security_groups_left(&p));
    assert!(left > 0, "the project `limited` is full already");
    let before = rt.block_on(project_snapshot(&p));
    let infra = Groups::instance("groups");
    for i in 0..=left {
        infra.index(infra.root().groups, i);
    }
    // One create at a time: Neutron counts a quota without a lock, so concurrent creates can
    // all pass the check and overshoot it (eleven groups under a quota of ten, seen here).
    let mut o = ActuatorOrchestration::new(&sys)
        .infra(&infra)
        .proxy(p.clone())
        .options(Options {
            max_concurrency: 1,
            ..options()
        })
        .memory_state();
    rt.block_on(async {
        assert!(!o.initiate_system().await);
        let f = failures(&o);
        assert_eq!(f.lines().count(), 1, "one group over the quota: {f}");
        assert!(f.contains("quota exceeded"), "{f}");
        assert!(!f.contains("gave up"), "a quota is not retried: {f}");
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&p).await, before);
    });
}

#[test]
fn lists_follow_marker_pages_past_the_page_size() {
    let _t = turn();
    let p = Arc::new(proxy().page_size(2));
    let rt = rt();
    let tag = format!("actuator-test:page={}", run_suffix());
    // Deleted when the test ends, whether it passed or not.
    struct Networks(Arc<OpenStackProxy>, Vec<String>);
    impl Drop for Networks {
        fn drop(&mut self) {
            actuator_tests::openstack::rt().block_on(async {
                for id in &self.1 {
                    if let Err(e) = self
                        .0
                        .call("network", "DELETE", &["networks", id], &[], None)
                        .await
                    {
                        eprintln!("delete network {id}: {e}");
                    }
                }
            });
        }
    }
    let mut made = Networks(p.clone(), Vec::new());
    rt.block_on(async {
        for i in 0..5 {
            let n = p
                .call(
                    "network",
                    "POST",
                    &["networks"],
                    &[],
                    Some(json!({ "network": { "name": format!("page-{i}") } })),
                )
                .await
                .unwrap();
            let id = n["network"]["id"].as_str().unwrap().to_owned();
            made.1.push(id.clone());
            p.call(
                "network",
                "PUT",
                &["networks", &id, "tags", &tag],
                &[],
                None,
            )
            .await
            .unwrap();
        }
        p.reset_stats();
        let listed = p
            .list("network", &["networks"], &[("tags", &tag)], "networks")
            .await
            .unwrap();
        let mut ids: Vec<String> = listed
            .iter()
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        let mut want = made.1.clone();
        want.sort();
        assert_eq!(ids, want, "every network, once");
        // 2 + 2 + 1: three pages, each after the last one's last id.
        let pages = p.stats().calls.get("GET networks").copied().unwrap_or(0);
        assert_eq!(pages, 3, "{:?}", p.stats().calls);
    });
}

#[test]
fn key_pair_lists_follow_name_marker_pages() {
    let _t = turn();
    let p = Arc::new(proxy().page_size(2));
    let rt = rt();
    let prefix = format!("page-key-{}-", run_suffix());
    // Deleted when the test ends, whether it passed or not.
    struct KeyPairs(Arc<OpenStackProxy>, Vec<String>);
    impl Drop for KeyPairs {
        fn drop(&mut self) {
            actuator_tests::openstack::rt().block_on(async {
                for name in &self.1 {
                    if let Err(e) = self
                        .0
                        .call("compute", "DELETE", &["os-keypairs", name], &[], None)
                        .await
                    {
                        eprintln!("delete key pair {name}: {e}");
                    }
                }
            });
        }
    }
    let mut made = KeyPairs(p.clone(), Vec::new());
    rt.block_on(async {
        for i in 0..5 {
            let name = format!("{prefix}{i}");
            p.call(
                "compute",
                "POST",
                &["os-keypairs"],
                &[],
                Some(json!({ "keypair": { "name": name, "public_key": PUBLIC_KEY } })),
            )
            .await
            .unwrap();
            made.1.push(name);
        }
        p.reset_stats();
        // Nova's marker for key pairs is the last name, not an id, and it cannot filter them:
        // the whole project's list (in the order made), two a page.
        let listed = p
            .list("compute", &["os-keypairs"], &[], "keypairs")
            .await
            .unwrap();
        let names: Vec<&str> = listed
            .iter()
            .map(|k| k["keypair"]["name"].as_str().unwrap())
            .collect();
        let ours: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| n.starts_with(&prefix))
            .collect();
        assert_eq!(
            ours, made.1,
            "each of ours, once, in the order made: {names:?}"
        );
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "a key pair listed twice: {names:?}"
        );
        // Full pages of two, then the one that is not full (empty when the count is even).
        let pages = p.stats().calls.get("GET os-keypairs").copied().unwrap_or(0);
        assert_eq!(
            pages,
            names.len() as u64 / 2 + 1,
            "{} key pairs: {:?}",
            names.len(),
            p.stats().calls
        );
    });
}

// ------------------------------------------------------------------------------------------------
// Validation and secrets

#[derive(InfraModel)]
struct Broken {
    #[component(Network::new("n"))]
    net: Network,
    #[component(Subnet::new("s", ctx.model.net, "10.0.0.0/33"))]
    subnet: Subnet,
}

#[test]
fn bad_arguments_fail_before_any_cloud_call_naming_path_and_value() {
    let _t = turn();
    let sys = system("os-broken");
    let p = Arc::new(proxy());
    let infra = Broken::instance("broken");
    let mut o = ActuatorOrchestration::new(&sys)
        .infra(&infra)
        .proxy(p.clone())
        .memory_state();
    rt().block_on(async {
        assert!(!o.initiate_system().await);
    });
    let f = failures(&o);
    assert!(
        f.contains("Broken.subnet") && f.contains("10.0.0.0/33"),
        "{f}"
    );
    assert_eq!(p.stats().total(), 0, "no call was made");
}

#[test]
fn credentials_never_reach_logs_events_plans_or_state() {
    let _t = turn();
    let sys = system("os-secrets");
    let _sweep = Sweep::new(&sys);
    let clouds = std::fs::read_to_string(var("OS_CLIENT_CONFIG_FILE")).unwrap();
    let password = clouds
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .to_owned();
    let relays = Relayed::start();
    let token = Arc::new(Mutex::new(None::<String>));
    let t2 = token.clone();
    relays.neutron.set(move |r| {
        if let Some(t) = r.header("X-Auth-Token") {
            *t2.lock() = Some(t.to_owned());
        }
        None
    });
    let p = Arc::new(relays.proxy());
    let ev = Arc::new(Collect::default());
    let state = tempfile::tempdir().unwrap();
    let infra = grid(0);
    let mut o = ActuatorOrchestration::new(&sys)
        .infra(&infra)
        .proxy(p.clone())
        .handler(ev.clone())
        .options(options())
        .state_dir(state.path());
    // Every log line at every level, the SDK's included.
    let (plan_json, logs) = actuator_tests::logs::capture(async {
        let plan = o.plan_with(&PlanOptions::default()).await.unwrap();
        assert!(o.initiate_system().await, "{}", failures(&o));
        assert!(o.teardown_system().await, "{}", failures(&o));
        serde_json::to_string(&plan).unwrap()
    });
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "logs were captured"
    );
    let token = token.lock().clone().expect("a token went by");
    let mut seen = format!("{p:?}\n{:?}\n{logs}\n{plan_json}", ev.events());
    for e in actuator_tests::walk(state.path()) {
        seen.push_str(&std::fs::read_to_string(e).unwrap_or_default());
    }
    assert!(!seen.contains(&password), "the password leaked");
    assert!(!seen.contains(&token), "the token leaked");
}

/// Creates flavor `name` (admin) unless it exists. Never with 0 GB of disk: Nova refuses such a
/// flavor to a project member unless the server boots from a volume (403).
async fn ensure_flavor(admin: &OpenStackProxy, name: &str, ram_mb: u64, vcpus: u32, disk_gb: u64) {
    let all = admin
        .list("compute", &["flavors"], &[], "flavors")
        .await
        .unwrap();
    if all.iter().any(|f| f["name"] == name) {
        return;
    }
    admin
        .call(
            "compute",
            "POST",
            &["flavors"],
            &[],
            Some(json!({ "flavor": { "name": name, "ram": ram_mb, "vcpus": vcpus, "disk": disk_gb } })),
        )
        .await
        .unwrap();
}

// ------------------------------------------------------------------------------------------------
// Crash safety: kill the process during `up` and `down`

/// Not a test: the process the kill tests start (this binary again, asked for this function
/// alone with `--ignored`), SIGKILL and start again.
#[test]
#[ignore = "the kill tests run it as their child process"]
fn child_process_entry() {
    let mode = std::env::var("ACTUATOR_OS_CHILD")
        .expect("child_process_entry is the kill tests' child process; run them instead");
    let dir = std::env::var("ACTUATOR_OS_STATE").unwrap();
    let k: usize = std::env::var("ACTUATOR_OS_K").unwrap().parse().unwrap();
    let infra = grid(k);
    let mut o = ActuatorOrchestration::new(system("os-crash"))
        .infra(&infra)
        .proxy(Arc::new(proxy()))
        .options(options())
        .state_dir(dir);
    let ok = rt().block_on(async {
        match mode.as_str() {
            "down" => o.teardown_system().await,
            _ => o.initiate_system().await,
        }
    });
    assert!(ok, "{}", failures(&o));
}

fn spawn_child(mode: &str, dir: &Path, k: usize) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "child_process_entry",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ACTUATOR_OS_CHILD", mode)
        .env("ACTUATOR_OS_STATE", dir)
        .env("ACTUATOR_OS_K", k.to_string())
        .env("ACTUATOR_OS_RUN", run_suffix())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn up_and_down_killed_at_staggered_moments_converge_without_twins_or_orphans() {
    let _t = turn();
    let sys = system("os-crash");
    let _sweep = Sweep::new(&sys);
    let p = Arc::new(proxy());
    let rt = rt();
    let before = rt.block_on(project_snapshot(&p));
    let k = 2;
    let dir = tempfile::tempdir().unwrap();
    // `up` killed at staggered moments; each run resumes the last one's state.
    let mut seen = Vec::new();
    for delay_ms in [300u64, 900, 1600, 2500, 4000, 6500] {
        let mut child = spawn_child("up", dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let done = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let n: usize = rt.block_on(tagged_paths(&p, &sys)).values().sum();
        seen.push((delay_ms, done, n));
    }
    assert!(
        seen.iter().any(|&(_, done, n)| !done && n > 0),
        "some run must be killed mid-way: {seen:?}"
    );
    let infra = grid(k);
    let mut o = ActuatorOrchestration::new(&sys)
        .infra(&infra)
        .proxy(p.clone())
        .options(options())
        .state_dir(dir.path());
    rt.block_on(async {
        assert!(o.initiate_system().await, "{}", failures(&o));
        let t = tagged_paths(&p, &sys).await;
        assert_eq!(t.len(), grid_size(k) - 2, "{t:#?} after {seen:?}");
        assert!(t.values().all(|&n| n == 1), "twins: {t:#?} after {seen:?}");
    });
    drop(o);
    // `down` killed at staggered moments, then finished from the state alone.
    let mut seen = Vec::new();
    for delay_ms in [200u64, 700, 1500] {
        let mut child = spawn_child("down", dir.path(), k);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let done = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        let n: usize = rt.block_on(tagged_paths(&p, &sys)).values().sum();
        seen.push((delay_ms, done, n));
    }
    let mut o = ActuatorOrchestration::new(&sys)
        .proxy(p.clone())
        .options(options())
        .state_dir(dir.path());
    rt.block_on(async {
        assert!(o.teardown_system().await, "{}", failures(&o));
        assert_eq!(project_snapshot(&p).await, before, "after {seen:?}");
    });
}
