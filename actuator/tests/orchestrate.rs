//! The orchestrator against the simulated cloud and the local agent: resume, order, failures,
//! retries, cancellation, teardown from a fresh process, state hygiene and events.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use actuator::engine::RetryPolicy;
use actuator::events::{Collect, Event, Phase, RunStatus};
use actuator::infra::test::{Database, FloatingIp, Network, Server};
use actuator::orchestrate::{ActuatorOrchestration, Options, ResourceAction};
use actuator::prelude::*;
use actuator::provision::{SimProxy, StaticProxy};
use actuator::state::EntryStatus;

// Where each test keeps its state (support/store.rs: a directory, or memory). tests/postgres.rs
// includes this file with a `store` of its own, and the same tests run on PostgreSQL.
#[allow(dead_code)]
#[path = "support/store.rs"]
mod store;
use crate::store::StateAt as _;

#[derive(InfraModel)]
struct Web {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("front", "debian-12").nics([ctx.model.net]))]
    front: Server,
    #[component(Database::new("db", 5432).on(ctx.model.front))]
    db: Database,
    #[component(Network::new("other"))]
    other: Network,
    #[component(MultiResource::new(Server::new("app", "debian-12").nics([ctx.model.other])))]
    apps: MultiResource<Server>,
}

fn web() -> Instance<Web> {
    let w = Web::instance("web");
    for k in 0..3 {
        w.index(w.root().apps, k);
    }
    w
}

fn fast_retry() -> Options {
    Options {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            deadline: None,
            jitter: actuator::engine::Jitter::None,
        },
        ..Options::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn up_then_down_creates_and_deletes_each_resource_once_in_order() {
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("t-updown")
        .infra(&infra)
        .proxy(sim.clone())
        .handler(ev.clone())
        .scratch_state();
    rt().block_on(async {
        assert!(o.initiate_system().await);
        assert_eq!(o.status(), RunStatus::Complete);
        assert_eq!(sim.live().len(), 7);
        for p in ["Web.net", "Web.front", "Web.db", "Web.apps.0", "Web.apps.2"] {
            assert_eq!(sim.creates(p), 1, "{p}");
        }
        assert!(o.teardown_system().await);
        assert_eq!(o.status(), RunStatus::DeprovComplete);
        assert!(sim.live().is_empty());
    });
    let finished = |phase: Phase| -> Vec<String> {
        ev.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::TaskFinished { phase: p, task, .. } if p == phase => Some(task.to_string()),
                _ => None,
            })
            .collect()
    };
    let up = finished(Phase::Provision);
    let down = finished(Phase::Teardown);
    let pos = |v: &[String], k: &str| v.iter().position(|x| x == k).unwrap();
    // Dependencies first on the way up, dependents first on the way down.
    assert!(pos(&up, "Web.net") < pos(&up, "Web.front"));
    assert!(pos(&up, "Web.front") < pos(&up, "Web.db"));
    assert!(pos(&down, "Web.db") < pos(&down, "Web.front"));
    assert!(pos(&down, "Web.front") < pos(&down, "Web.net"));
    assert!(pos(&down, "Web.apps.1") < pos(&down, "Web.other"));
}

#[test]
fn failure_skips_dependents_reports_all_and_resume_creates_each_once() {
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    sim.fail_create("Web.front", 1, false);
    sim.fail_create("Web.apps.1", 1, false);
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("t-resume")
        .infra(&infra)
        .proxy(sim.clone())
        .handler(ev.clone())
        .scratch_state();
    rt().block_on(async {
        assert!(!o.initiate_system().await);
        assert_eq!(o.status(), RunStatus::AbortProvision);
        let mut failed: Vec<_> = o.failures().iter().map(|f| f.task.clone()).collect();
        failed.sort();
        assert_eq!(failed, ["Web.apps.1", "Web.front"]);
        // The db depends on the front: skipped; independent work finished.
        assert!(ev.events().contains(&Event::TaskSkipped {
            phase: Phase::Provision,
            task: "Web.db".into(),
            because: "Web.front".into()
        }));
        assert_eq!(sim.creates("Web.db"), 0);
        assert_eq!(sim.creates("Web.apps.2"), 1);
        // Fixed; the second run resumes.
        assert!(o.initiate_system().await, "{:?}", o.failures());
    });
    for p in [
        "Web.net",
        "Web.front",
        "Web.db",
        "Web.other",
        "Web.apps.0",
        "Web.apps.1",
        "Web.apps.2",
    ] {
        assert_eq!(sim.creates(p), 1, "{p} created exactly once");
    }
}

#[test]
fn intents_recorded_ahead_of_steps_never_started_are_taken_back() {
    // The intents of fresh creates are recorded ahead of their steps; those of steps a
    // failure upstream kept from starting must not stay behind as creates in doubt.
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    sim.fail_create("Web.front", 1, false);
    let mut o = ActuatorOrchestration::new("t-ahead")
        .infra(&infra)
        .proxy(sim.clone())
        .scratch_state();
    rt().block_on(async { assert!(!o.initiate_system().await) });
    let state = o.state().unwrap();
    assert_eq!(sim.creates("Web.db"), 0);
    assert!(state.get("Web.db").is_none(), "{:?}", state.get("Web.db"));
    assert_eq!(
        state.get("Web.front").unwrap().status,
        EntryStatus::CreateFailed
    );
    assert_eq!(state.get("Web.net").unwrap().status, EntryStatus::Created);
    assert_eq!(state.len(), 6, "everything but the db");
}

#[test]
fn delete_intents_recorded_ahead_of_steps_never_started_are_taken_back() {
    // `down` records its delete intents ahead of their steps; the deletions a failure
    // kept from starting (what the failed one depends on) must not stay "deleting".
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    let mut o = ActuatorOrchestration::new("t-ahead-down")
        .infra(&infra)
        .proxy(sim.clone())
        .scratch_state();
    rt().block_on(async { assert!(o.initiate_system().await) });
    sim.fail_delete("Web.db", 1, false);
    rt().block_on(async { assert!(!o.teardown_system().await) });
    let state = o.state().unwrap();
    let status = |k: &str| state.get(k).map(|e| e.status);
    assert_eq!(status("Web.db"), Some(EntryStatus::DeleteFailed));
    for k in ["Web.front", "Web.net"] {
        assert_eq!(sim.deletes(k), 0, "{k}");
        assert_eq!(status(k), Some(EntryStatus::Created), "{k}");
    }
    assert_eq!(
        status("Web.other"),
        None,
        "independent deletions went ahead"
    );
    // Nothing was lost: the next `up` replaces only the db, whose delete was sent.
    let plan = o.plan().unwrap();
    let replaced: Vec<&str> = plan
        .resources
        .iter()
        .filter(|c| c.action == ResourceAction::Replace)
        .map(|c| &*c.key)
        .collect();
    assert_eq!(replaced, ["Web.db"]);
}

#[derive(InfraModel)]
struct Many {
    #[component(MultiResource::new(Network::new("net")))]
    nets: MultiResource<Network>,
}

#[test]
fn intents_recorded_ahead_in_parts_cover_every_step_of_a_large_walk() {
    // More intents than the first part: the walk starts once that part is durable, and the
    // writer records the rest, part by part, while the steps go.
    const N: usize = 5_000;
    let infra = Many::instance("many");
    for k in 0..N {
        infra.index(infra.root().nets, k);
    }
    let dir = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    let mut o = ActuatorOrchestration::new("t-parts")
        .infra(&infra)
        .proxy(sim.clone())
        .state_at(dir.path());
    rt().block_on(async { assert!(o.initiate_system().await, "{:?}", o.failures()) });
    assert_eq!(sim.live().len(), N);
    let state = o.state().unwrap();
    assert_eq!(state.created().count(), N);
    // In the plan's order, whichever part each intent was in.
    let keys: Vec<String> = state.iter().map(|e| e.key.to_string()).collect();
    let expected: Vec<String> = (0..N).map(|k| format!("Many.nets.{k}")).collect();
    assert_eq!(keys, expected);
    assert!((0..N).all(|k| sim.creates(&format!("Many.nets.{k}")) == 1));
    rt().block_on(async { assert!(o.teardown_system().await, "{:?}", o.failures()) });
    assert!(sim.live().is_empty());
    assert!(o.state().unwrap().is_empty());
}

/// Declares the dependent before what it depends on.
#[derive(InfraModel)]
struct Backwards {
    #[component(Server::new("front", "debian-12").nics([ctx.model.net]))]
    front: Server,
    #[component(Network::new("net"))]
    net: Network,
}

#[test]
fn the_state_records_dependencies_first_whatever_the_model_declares_first() {
    // The plan lists the model's resources dependencies first, and the intents recorded ahead
    // of the walk follow it: the state's order stays a dependency order, and its reverse a
    // teardown order.
    let infra = Backwards::instance("b");
    let mut o = ActuatorOrchestration::new("t-order")
        .infra(&infra)
        .proxy(Arc::new(SimProxy::default()))
        .scratch_state();
    rt().block_on(async { assert!(o.initiate_system().await) });
    let state = o.state().unwrap();
    let keys: Vec<&str> = state.iter().map(|e| &*e.key).collect();
    assert_eq!(keys, ["Backwards.net", "Backwards.front"]);
}

#[test]
fn retryable_errors_are_retried_and_fatal_ones_are_not() {
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    sim.fail_create("Web.net", 2, true);
    sim.fail_create("Web.other", 1, false);
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("t-retry")
        .infra(&infra)
        .proxy(sim.clone())
        .handler(ev.clone())
        .options(fast_retry())
        .scratch_state();
    rt().block_on(async { assert!(!o.initiate_system().await) });
    let retries: Vec<_> = ev
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::TaskRetry { .. }))
        .collect();
    assert_eq!(retries.len(), 2, "two retryable failures of Web.net");
    assert_eq!(sim.creates("Web.net"), 1);
    assert_eq!(o.failures().len(), 1);
    assert_eq!(o.failures()[0].task, "Web.other");
}

#[test]
fn retry_deadline_turns_a_retryable_error_final() {
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    sim.fail_create("Web.net", 1000, true);
    let mut opts = fast_retry();
    opts.retry.max_attempts = 1000;
    opts.retry.deadline = Some(Duration::from_millis(30));
    let mut o = ActuatorOrchestration::new("t-deadline")
        .infra(&infra)
        .proxy(sim.clone())
        .options(opts)
        .scratch_state();
    rt().block_on(async { assert!(!o.initiate_system().await) });
    assert_eq!(o.failures()[0].task, "Web.net");
    assert!(o.failures()[0].error.contains("simulated failure"));
}

#[test]
fn cancellation_starts_nothing_new_and_up_again_resumes() {
    let infra = web();
    let sim = Arc::new(SimProxy::default().latency(Duration::from_millis(30)));
    let mut o = ActuatorOrchestration::new("t-cancel")
        .infra(&infra)
        .proxy(sim.clone())
        .max_concurrency(1)
        .scratch_state();
    let cancel = o.cancel_token();
    let watch = sim.clone();
    rt().block_on(async {
        // Cancelled once the first resource exists, however long opening the state took.
        let c = tokio::spawn(async move {
            while watch.live().is_empty() {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            cancel.cancel();
        });
        assert!(!o.initiate_system().await);
        c.await.unwrap();
    });
    let made = sim.live().len();
    assert!((1..7).contains(&made), "some but not all created: {made}");
    let state = o.state().unwrap();
    assert_eq!(
        state.created().count(),
        made,
        "the state records exactly what exists"
    );
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    assert_eq!(sim.live().len(), 7);
    for p in [
        "Web.net",
        "Web.front",
        "Web.db",
        "Web.other",
        "Web.apps.0",
        "Web.apps.1",
        "Web.apps.2",
    ] {
        assert_eq!(
            sim.creates(p),
            1,
            "{p} created exactly once across both runs"
        );
    }
}

#[test]
fn teardown_from_a_fresh_process_uses_the_state_alone() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    {
        let infra = web();
        let mut o = ActuatorOrchestration::new("t-fresh")
            .infra(&infra)
            .proxy(sim.clone())
            .state_at(dir.path());
        assert!(rt().block_on(o.initiate_system()));
    }
    assert_eq!(sim.live().len(), 7);
    // No model at all: the journal says what exists, which proxy made it and in what order.
    let mut o = ActuatorOrchestration::new("t-fresh")
        .proxy(sim.clone())
        .state_at(dir.path());
    assert!(rt().block_on(o.teardown_system()));
    assert!(sim.live().is_empty());
    for p in ["Web.net", "Web.db", "Web.apps.1"] {
        assert_eq!(sim.deletes(p), 1, "{p}");
    }
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let f = f.unwrap();
        let mode = f.metadata().unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{:?}", f.path());
    }
}

#[test]
fn a_missing_proxy_is_reported_before_any_cloud_call() {
    let infra = web();
    let mut o = ActuatorOrchestration::new("t-noproxy")
        .infra(&infra)
        .proxy(Arc::new(StaticProxy::named("only-static")))
        .scratch_state();
    assert!(!rt().block_on(o.initiate_system()));
    assert_eq!(o.failures().len(), 7, "every resource named at once");
    assert!(
        o.failures()[0]
            .error
            .contains("could not find a provisioner proxy")
    );
    assert!(o.state().unwrap().is_empty(), "nothing was attempted");
}

#[test]
fn events_are_delivered_exactly_once() {
    let infra = web();
    let sim = Arc::new(SimProxy::default());
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("t-events")
        .infra(&infra)
        .proxy(sim)
        .handler(ev.clone())
        .scratch_state();
    assert!(rt().block_on(o.initiate_system()));
    let evs = ev.events();
    let count = |f: &dyn Fn(&Event) -> bool| evs.iter().filter(|e| f(e)).count();
    assert_eq!(
        count(&|e| matches!(e, Event::OrchestrationStarting { .. })),
        1
    );
    assert_eq!(
        count(&|e| matches!(e, Event::OrchestrationFinished { success: true, .. })),
        1
    );
    assert_eq!(count(&|e| matches!(e, Event::ProvisioningStarting)), 1);
    assert_eq!(
        count(&|e| matches!(e, Event::ProvisioningFinished { success: true })),
        1
    );
    assert_eq!(
        count(&|e| matches!(e, Event::EngineStarting { nodes: 7, .. })),
        1
    );
    assert_eq!(
        count(&|e| matches!(e, Event::EngineFinished { succeeded: 7, .. })),
        1
    );
    assert_eq!(count(&|e| matches!(e, Event::TaskStarting { .. })), 7);
    assert_eq!(count(&|e| matches!(e, Event::TaskFinished { .. })), 7);
    assert!(matches!(
        evs.first(),
        Some(Event::OrchestrationStarting { .. })
    ));
    // The run's summary comes last, right after the finishing event.
    assert!(matches!(
        &evs[evs.len() - 2..],
        [Event::OrchestrationFinished { .. }, Event::Summary(s)] if s.created == 7
    ));
}

#[derive(InfraModel)]
#[infra(namespace = Sizing)]
struct Sized {
    #[component(Server::new("db", "debian-12").mem(ctx.nexus.ns.v.MEMSIZE))]
    db: Server,
}

namespace! {
    struct Sizing for Sized {
        vars { BASE = "4", MEMSIZE = "!{BASE}096" }
        db: Role = Role::new("db").host_ref(infra.db),
    }
}

#[test]
fn a_resource_argument_can_read_a_namespace_variable() {
    use actuator::model::Located;
    use actuator::provision::{ProvisionCx, Scope};
    let infra = Sized::instance("s");
    let _ns = Sizing::instance("n", &infra);
    let db: Server = infra.get(&infra.root().db).unwrap();
    let scope = Scope {
        system: "sys".into(),
        workspace: "default".into(),
        state_id: "s1".into(),
    };
    let cx = ProvisionCx::new(infra.world().clone(), infra.root().db.at(), scope);
    let mem: String = cx.resolve(db.mem.as_ref().unwrap()).unwrap();
    assert_eq!(mem, "4096");
}

// Typed values (issue 11, family 3): a variable read where a CIDR is wanted, and a server's
// address output given where an address is wanted, resolve to their types.
#[derive(InfraModel)]
#[infra(namespace = Addressing)]
struct Addressed {
    #[component(Network::new("net").cidr(ctx.nexus.ns.v.RANGE))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    #[component(FloatingIp::new("fip", ctx.model.web, ctx.model.web.ip))]
    fip: FloatingIp,
}

namespace! {
    struct Addressing for Addressed {
        vars { OCTET = "172", RANGE = "!{OCTET}.16.0.0/12" }
        web: Role = Role::new("web").host_ref(infra.fip),
    }
}

#[test]
fn typed_arguments_resolve_from_variables_and_outputs() {
    use actuator::model::{Cidr, Located};
    use actuator::provision::{ProvisionCx, Scope};
    let infra = Addressed::instance("a");
    let ns = Addressing::instance("n", &infra);
    let scope = Scope {
        system: "t-typed".into(),
        workspace: "default".into(),
        state_id: "s1".into(),
    };
    let cx = |at| ProvisionCx::new(infra.world().clone(), at, scope.clone());
    let net: Network = infra.get(&infra.root().net).unwrap();
    let range: Cidr = cx(infra.root().net.at())
        .resolve(net.cidr.as_ref().unwrap())
        .unwrap();
    assert_eq!(range, "172.16.0.0/12".parse().unwrap());

    let sim = Arc::new(SimProxy::default());
    let dir = tempfile::tempdir().unwrap();
    let mut o = ActuatorOrchestration::new("t-typed")
        .infra(&infra)
        .namespace(&ns)
        .proxy(sim.clone())
        .state_at(dir.path());
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    // The floating IP's fixed address is the server's `ip` output, parsed as an address.
    let fip: FloatingIp = infra.get(&infra.root().fip).unwrap();
    let fixed: std::net::IpAddr = cx(infra.root().fip.at()).resolve(&fip.fixed_ip).unwrap();
    let server_ip = cx(infra.root().fip.at())
        .output_of(&infra.root().web, "ip")
        .unwrap();
    assert_eq!(fixed.to_string(), server_ip);
}

namespace! {
    struct WebNs for Web {
        vars { FRONT_IP = infra.front.ip }
        front: Role = Role::new("front").host_ref(infra.front),
    }
}

#[test]
fn a_new_process_reads_the_outputs_of_the_last_run_from_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    let build = || {
        let infra = web();
        let ns = WebNs::instance("ns", &infra);
        ActuatorOrchestration::new("t-outputs")
            .infra(&infra)
            .namespace(&ns)
            .proxy(sim.clone())
            .state_at(dir.path())
    };
    let mut first = build();
    // Before any run the address is unknown, and the report says so.
    let unresolved = first.report().unwrap()[0].vars[0].clone();
    assert!(!unresolved.resolved, "{unresolved:?}");
    assert!(rt().block_on(first.initiate_system()));
    drop(first);
    let mut second = build();
    let var = second.report().unwrap()[0].vars[0].clone();
    assert_eq!(var.name, "FRONT_IP");
    assert!(var.resolved, "{var:?}");
    assert!(var.value.starts_with("127.0."), "{}", var.value);
    assert!(second.plan().unwrap().unresolved.is_empty());
}
