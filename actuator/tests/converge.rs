//! Convergence on the simulated cloud and the local agent: `up` after a model change creates what
//! was added, updates or replaces what changed, deletes what was removed, recreates what drifted
//! away, and re-runs exactly the tasks whose inputs changed; workspaces and states never adopt
//! each other's resources.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actuator::events::{Collect, Event, Phase};
use actuator::infra::test::{FloatingIp, Network, Server};
use actuator::orchestrate::{
    ActuatorOrchestration, OrchestrationError, PlanOptions, ResourceAction, TaskAction,
};
use actuator::prelude::*;
use actuator::provision::SimProxy;

// Where each test keeps its state (support/store.rs: a directory, or memory). tests/postgres.rs
// includes this file with a `store` of its own, and the same tests run on PostgreSQL.
#[allow(dead_code)]
#[path = "support/store.rs"]
mod store;
use crate::store::StateAt as _;

/// What the next model instance looks like (each test thread sets its own).
#[derive(Clone)]
struct Shape {
    apps: u32,
    image: &'static str,
    mem: &'static str,
    pool: &'static str,
    greeting: &'static str,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            apps: 3,
            image: "debian-12",
            mem: "2048",
            pool: "public",
            greeting: "hello",
        }
    }
}

thread_local! {
    static SHAPE: RefCell<Shape> = RefCell::new(Shape::default());
}

fn shape() -> Shape {
    SHAPE.with(|s| s.borrow().clone())
}

#[derive(InfraModel)]
struct Site {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("front", shape().image).nics([ctx.model.net]).mem(shape().mem))]
    front: Server,
    #[component(FloatingIp::new("fip", ctx.model.front, ctx.model.front.ip).pool(shape().pool))]
    fip: FloatingIp,
    #[component(MultiResource::new(Server::new("app", "debian-12").nics([ctx.model.net])))]
    apps: MultiResource<Server>,
}

namespace! {
    struct SiteNs for Site {
        // Given per run (below), not exported: only the task that templates it depends on it.
        extern { GREETING, DIR }
        front: Role = Role::new("front").host_ref("127.0.0.1"),
    }
}

config! {
    struct SiteCfg for SiteNs {
        defaults { role = ns.front }
        hello: Task = ProcessCopyFileTask::new("hello", "!{DIR}/hello").content("!{GREETING}"),
        after: Task = ShellTask::new("after", "cat \"$DIR/hello\" > \"$DIR/after\""),
        other: Task = ShellTask::new("other", "date +%N >> \"$DIR/other\""),
        deps { hello | after }
    }
}

struct Run {
    sim: Arc<SimProxy>,
    state: PathBuf,
    dir: PathBuf,
    workspace: &'static str,
}

impl Run {
    fn new(tmp: &Path, sim: Arc<SimProxy>) -> Run {
        let dir = tmp.join("work");
        std::fs::create_dir_all(&dir).unwrap();
        Run {
            sim,
            state: tmp.join("state"),
            dir,
            workspace: "default",
        }
    }

    /// An orchestration of the model as `shape` says, with its events.
    fn orch(&self, s: Shape) -> (ActuatorOrchestration, Arc<Collect>) {
        SHAPE.with(|c| *c.borrow_mut() = s.clone());
        let infra = Site::instance("site");
        for k in 1..=s.apps {
            infra.index(infra.root().apps, k);
        }
        let ns = SiteNs::instance("ns", &infra);
        ns.add_var(
            &ns.root().front,
            Var::new("DIR", self.dir.display().to_string()),
        );
        ns.add_var(
            &ns.root().front,
            Var::new("GREETING", s.greeting).in_env(false),
        );
        let cfg = SiteCfg::instance("cfg", &ns);
        let ev = Arc::new(Collect::default());
        let o = ActuatorOrchestration::new("converge")
            .workspace(self.workspace)
            .infra(&infra)
            .namespace(&ns)
            .config(&cfg)
            .proxy(self.sim.clone())
            .handler(ev.clone())
            .state_at(self.state.join(self.workspace));
        (o, ev)
    }

    fn up(&self, s: Shape) -> Arc<Collect> {
        let (mut o, ev) = self.orch(s);
        assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
        ev
    }

    fn plan(&self, s: Shape, refresh: bool) -> actuator::orchestrate::Plan {
        let (mut o, _) = self.orch(s);
        rt().block_on(o.plan_with(&PlanOptions {
            refresh,
            ..PlanOptions::default()
        }))
        .unwrap()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn action(plan: &actuator::orchestrate::Plan, key: &str) -> ResourceAction {
    plan.resources
        .iter()
        .find(|r| &*r.key == key)
        .unwrap_or_else(|| panic!("{key} not in the plan"))
        .action
}

fn ran(ev: &Collect, phase: Phase) -> Vec<String> {
    ev.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskFinished { phase: p, task, .. } if p == phase => Some(task.to_string()),
            _ => None,
        })
        .collect()
}

#[test]
fn scale_down_deletes_exactly_the_removed_instances() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape {
        apps: 6,
        ..Shape::default()
    });
    assert_eq!(run.sim.live().len(), 3 + 6);
    let small = Shape {
        apps: 2,
        ..Shape::default()
    };
    let plan = run.plan(small.clone(), true);
    for k in 3..=6 {
        assert_eq!(
            action(&plan, &format!("Site.apps.{k}")),
            ResourceAction::Destroy
        );
    }
    assert_eq!(action(&plan, "Site.apps.2"), ResourceAction::Unchanged);
    assert_eq!(plan.summary.destroy, 4);
    assert_eq!(
        plan.summary_line(),
        "Plan: 0 to add, 0 to change, 0 to replace, 4 to destroy; 0 tasks to run."
    );
    let ev = run.up(small);
    let deleted = ran(&ev, Phase::Provision);
    assert_eq!(deleted.len(), 4, "{deleted:?}");
    let live = run.sim.live();
    assert_eq!(live.len(), 3 + 2);
    assert!(live.contains_key("Site.apps.2") && !live.contains_key("Site.apps.3"));
    for k in 1..=6 {
        assert_eq!(run.sim.creates(&format!("Site.apps.{k}")), 1);
    }
    // Converged: nothing left to do.
    assert!(
        !run.plan(
            Shape {
                apps: 2,
                ..Shape::default()
            },
            true
        )
        .has_changes()
    );
}

#[test]
fn an_updatable_argument_is_updated_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    let bigger = Shape {
        mem: "4096",
        ..Shape::default()
    };
    let plan = run.plan(bigger.clone(), false);
    assert_eq!(action(&plan, "Site.front"), ResourceAction::Update);
    let change = &plan
        .resources
        .iter()
        .find(|r| &*r.key == "Site.front")
        .unwrap()
        .changes;
    assert_eq!(change.len(), 1);
    assert_eq!(change[0].arg, "mem");
    assert_eq!(
        (change[0].old.as_str(), change[0].new.as_str()),
        (Some("2048"), Some("4096"))
    );
    assert!(!change[0].forces_replacement);
    run.up(bigger);
    assert_eq!(run.sim.updates("Site.front"), 1);
    assert_eq!(run.sim.creates("Site.front"), 1);
    assert_eq!(run.sim.args_of("Site.front").unwrap()["mem"], "4096");
}

#[test]
fn a_replacing_argument_replaces_and_what_refers_to_it_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    let old_id = run.sim.live()["Site.front"].clone();
    let newer = Shape {
        image: "debian-13",
        ..Shape::default()
    };
    let plan = run.plan(newer.clone(), false);
    assert_eq!(action(&plan, "Site.front"), ResourceAction::Replace);
    let front = plan
        .resources
        .iter()
        .find(|r| &*r.key == "Site.front")
        .unwrap();
    assert!(
        front
            .changes
            .iter()
            .any(|c| c.arg == "image" && c.forces_replacement)
    );
    // The floating IP refers to the server: its arguments are known after apply, and it moves
    // in place (re-association).
    assert_eq!(action(&plan, "Site.fip"), ResourceAction::Update);
    run.up(newer);
    assert_eq!(run.sim.creates("Site.front"), 2);
    assert_eq!(run.sim.deletes("Site.front"), 1);
    assert_ne!(run.sim.live()["Site.front"], old_id);
    assert_eq!(run.sim.updates("Site.fip"), 1);
    assert_eq!(run.sim.creates("Site.fip"), 1);
}

#[test]
fn create_before_destroy_sets_the_old_resource_aside_until_the_new_one_exists() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    let old = run.sim.live()["Site.fip"].clone();
    let ev = run.up(Shape {
        pool: "private",
        ..Shape::default()
    });
    assert_eq!(run.sim.creates("Site.fip"), 2);
    assert_eq!(run.sim.deletes("Site.fip"), 1);
    assert_ne!(run.sim.live()["Site.fip"], old);
    let order = ran(&ev, Phase::Provision);
    let pos = |k: &str| order.iter().position(|t| t == k).unwrap();
    assert!(pos("Site.fip") < pos("Site.fip#deposed"), "{order:?}");
}

#[test]
fn a_replacement_cut_short_converges_without_a_twin_or_an_orphan() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    // The replacement's create fails for good after the old one was set aside.
    run.sim.fail_create("Site.fip", 1, false);
    let (mut o, _) = run.orch(Shape {
        pool: "private",
        ..Shape::default()
    });
    assert!(!rt().block_on(o.initiate_system()));
    drop(o);
    let plan = run.plan(
        Shape {
            pool: "private",
            ..Shape::default()
        },
        true,
    );
    assert_eq!(action(&plan, "Site.fip"), ResourceAction::Create);
    assert_eq!(action(&plan, "Site.fip#deposed"), ResourceAction::Destroy);
    run.up(Shape {
        pool: "private",
        ..Shape::default()
    });
    let live = run.sim.live();
    assert_eq!(live.len(), 6, "{live:?}");
    assert_eq!(run.sim.creates("Site.fip"), 2);
    assert_eq!(run.sim.deletes("Site.fip"), 1);
}

#[test]
fn a_resource_deleted_behind_the_tools_back_is_planned_and_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    assert_eq!(run.sim.delete_behind("Site.apps.2"), 1);
    // Without a refresh the state still says it exists.
    assert_eq!(
        action(&run.plan(Shape::default(), false), "Site.apps.2"),
        ResourceAction::Unchanged
    );
    let plan = run.plan(Shape::default(), true);
    let r = plan
        .resources
        .iter()
        .find(|r| &*r.key == "Site.apps.2")
        .unwrap();
    assert_eq!(r.action, ResourceAction::Create);
    assert!(r.reason.as_deref().unwrap().contains("drift"));
    run.up(Shape::default());
    assert_eq!(run.sim.live().len(), 6);
    assert_eq!(run.sim.creates("Site.apps.2"), 2);
}

#[test]
fn a_changed_task_input_reruns_that_task_and_its_dependents_only() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    assert_eq!(
        std::fs::read_to_string(run.dir.join("after")).unwrap(),
        "hello"
    );
    // Same model again: every task is skipped.
    let again = run.plan(Shape::default(), false);
    assert!(
        again.tasks.iter().all(|t| t.action == TaskAction::Skip),
        "{:?}",
        again.tasks
    );
    let hi = Shape {
        greeting: "hi",
        ..Shape::default()
    };
    let plan = run.plan(hi.clone(), false);
    let act = |n: &str| plan.tasks.iter().find(|t| t.name == n).unwrap().clone();
    assert_eq!(act("hello").action, TaskAction::Rerun);
    assert_eq!(act("hello").reason.as_deref(), Some("its inputs changed"));
    assert_eq!(act("after").action, TaskAction::Rerun);
    assert_eq!(act("other").action, TaskAction::Skip);
    let ev = run.up(hi);
    let mut tasks = ran(&ev, Phase::Configure);
    tasks.sort();
    assert_eq!(tasks, ["after", "hello"]);
    assert_eq!(
        std::fs::read_to_string(run.dir.join("after")).unwrap(),
        "hi"
    );
    assert_eq!(
        std::fs::read_to_string(run.dir.join("other"))
            .unwrap()
            .lines()
            .count(),
        1
    );
}

#[test]
fn two_workspaces_live_side_by_side_and_down_of_one_leaves_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    let mut a = Run::new(tmp.path(), sim.clone());
    a.workspace = "staging";
    let mut b = Run::new(tmp.path(), sim.clone());
    b.workspace = "prod";
    a.up(Shape::default());
    b.up(Shape::default());
    assert_eq!(sim.live_in("staging").len(), 6);
    assert_eq!(sim.live_in("prod").len(), 6);
    assert_eq!(sim.creates("Site.front"), 2, "each workspace made its own");
    let (mut o, _) = a.orch(Shape::default());
    assert!(rt().block_on(o.teardown_system()));
    assert!(sim.live_in("staging").is_empty());
    assert_eq!(sim.live_in("prod").len(), 6);
    // prod is still complete and converged.
    assert!(!b.plan(Shape::default(), true).has_changes());
}

#[test]
fn a_fresh_state_never_adopts_what_another_state_made() {
    let tmp = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    let run = Run::new(tmp.path(), sim.clone());
    run.up(Shape::default());
    // The state is lost; a new one starts with a new id.
    crate::store::lose(&run.state);
    let (mut o, _) = run.orch(Shape::default());
    assert!(!rt().block_on(o.initiate_system()));
    let msg = format!("{:?}", o.failures());
    assert!(msg.contains("belongs to state"), "{msg}");
    assert_eq!(sim.creates("Site.net"), 1, "no twin");
}

#[test]
fn a_protected_resource_is_never_deleted_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    // Protected in the model, and so in the state: a `down` without the model refuses too.
    SHAPE.with(|c| *c.borrow_mut() = Shape::default());
    let infra = Site::instance("site");
    for k in 1..=3 {
        infra.index(infra.root().apps, k);
    }
    infra.protect(&infra.root().net);
    let mut o = ActuatorOrchestration::new("converge")
        .infra(&infra)
        .proxy(run.sim.clone())
        .state_at(run.state.join("default"));
    assert!(rt().block_on(o.initiate_system()));
    drop(o);
    let mut down = ActuatorOrchestration::new("converge")
        .proxy(run.sim.clone())
        .state_at(run.state.join("default"));
    assert!(!rt().block_on(down.teardown_system()));
    let msg = format!("{:?}", down.failures());
    assert!(
        msg.contains("Site.net") && msg.contains("protected"),
        "{msg}"
    );
    assert_eq!(run.sim.live().len(), 6, "nothing was deleted");
    assert!(rt().block_on(down.down(&PlanOptions {
        allow_destroy_protected: true,
        ..PlanOptions::default()
    })));
    assert!(run.sim.live().is_empty());
}

#[test]
fn target_and_exclude_keep_what_the_graph_requires() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    let (mut o, _) = run.orch(Shape::default());
    let plan = rt()
        .block_on(o.plan_with(&PlanOptions {
            targets: vec!["Site.fip".into()],
            ..PlanOptions::default()
        }))
        .unwrap();
    // The floating IP needs its server, which needs the network.
    for k in ["Site.fip", "Site.front", "Site.net"] {
        assert_eq!(action(&plan, k), ResourceAction::Create, "{k}");
    }
    assert_eq!(action(&plan, "Site.apps.1"), ResourceAction::Unchanged);
    let plan = rt()
        .block_on(o.plan_with(&PlanOptions {
            excludes: vec!["Site.front".into()],
            ..PlanOptions::default()
        }))
        .unwrap();
    // Excluding the server leaves out what needs it.
    assert_eq!(action(&plan, "Site.front"), ResourceAction::Unchanged);
    assert_eq!(action(&plan, "Site.fip"), ResourceAction::Unchanged);
    assert_eq!(action(&plan, "Site.apps.1"), ResourceAction::Create);
}

#[test]
fn state_mv_renames_without_recreating() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    // The model's third app is now keyed 4: move the state along instead of recreating it.
    let (mut o, _) = run.orch(Shape::default());
    o.state_mv("Site.apps.3", "Site.apps.4").unwrap();
    let err = o.state_mv("Site.nope", "Site.x").unwrap_err();
    assert!(matches!(err, OrchestrationError::Path(_)), "{err:?}");
    assert!(err.to_string().contains("records nothing"), "{err}");
    // What depends on a moved resource follows it: its dependencies and the ids they had.
    o.state_mv("Site.net", "Site.lan").unwrap();
    let st = o.state().unwrap();
    let front = st.get("Site.front").unwrap().data.value();
    assert_eq!(front["deps"], serde_json::json!(["Site.lan"]));
    let ids = front["dep_ids"].as_object().unwrap();
    assert_eq!(ids.keys().collect::<Vec<_>>(), ["Site.lan"]);
    assert_eq!(
        ids["Site.lan"],
        st.get("Site.lan").unwrap().data.value()["outputs"]["id"]
    );
    o.state_mv("Site.lan", "Site.net").unwrap();
    drop(o);
    SHAPE.with(|c| *c.borrow_mut() = Shape::default());
    let infra = Site::instance("site");
    for k in [1, 2, 4] {
        infra.index(infra.root().apps, k);
    }
    let mut o = ActuatorOrchestration::new("converge")
        .infra(&infra)
        .proxy(run.sim.clone())
        .state_at(run.state.join("default"));
    let plan = rt().block_on(o.plan_with(&PlanOptions::default())).unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.resources);
    assert!(rt().block_on(o.initiate_system()));
    assert_eq!(run.sim.creates("Site.apps.4"), 0);
    assert_eq!(run.sim.live().len(), 6);
}

#[test]
fn import_adopts_an_existing_resource() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    let id = run.sim.create_unmanaged("test.Network");
    let (mut o, _) = run.orch(Shape::default());
    rt().block_on(o.import("Site.net", &id)).unwrap();
    let err = rt().block_on(o.import("Site.nett", &id)).unwrap_err();
    assert!(matches!(err, OrchestrationError::Path(_)), "{err:?}");
    let err = err.to_string();
    assert!(
        err.contains("no resource `Site.nett`") && err.contains("Site.net"),
        "{err}"
    );
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    assert_eq!(run.sim.creates("Site.net"), 0, "adopted, not created");
    assert_eq!(run.sim.live()["Site.net"], id);
    assert_eq!(run.sim.live().len(), 6);
}

#[test]
fn a_lost_state_is_found_again_by_tag_and_cleaned_up() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    crate::store::lose(&run.state);
    let (mut o, _) = run.orch(Shape::default());
    let found = rt().block_on(o.discover()).unwrap();
    assert_eq!(found.len(), 6);
    assert!(found.iter().any(|d| d.key == "Site.fip"));
    assert!(
        rt().block_on(o.down_discovered(&found)),
        "{:?}",
        o.failures()
    );
    assert!(run.sim.live().is_empty());
}

#[test]
fn a_second_replacement_while_an_earlier_one_is_still_set_aside_loses_track_of_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    // The first replacement exists, but deleting the old one it set aside fails for good:
    // the state holds `Site.fip` (new) and `Site.fip#deposed` (old).
    run.sim.fail_delete("Site.fip", 1, false);
    let (mut o, _) = run.orch(Shape {
        pool: "private",
        ..Shape::default()
    });
    assert!(!rt().block_on(o.initiate_system()));
    drop(o);
    assert_eq!(run.sim.creates("Site.fip") - run.sim.deletes("Site.fip"), 2);
    // A second change that replaces it again, before the set-aside one is gone.
    let third = Shape {
        pool: "internal",
        ..Shape::default()
    };
    let plan = run.plan(third.clone(), true);
    assert_eq!(action(&plan, "Site.fip"), ResourceAction::Replace);
    assert_eq!(action(&plan, "Site.fip#deposed"), ResourceAction::Destroy);
    // Setting the current one aside too would write over `Site.fip#deposed`: it is deleted
    // first instead, and the plan says why.
    let fip = plan
        .resources
        .iter()
        .find(|r| &*r.key == "Site.fip")
        .unwrap();
    assert!(!fip.create_before_destroy);
    assert!(
        fip.reason
            .as_deref()
            .unwrap_or("")
            .contains("still set aside"),
        "{:?}",
        fip.reason
    );
    run.up(third.clone());
    // Exactly one floating IP is left in the cloud, and nothing is pending.
    assert_eq!(run.sim.creates("Site.fip") - run.sim.deletes("Site.fip"), 1);
    assert_eq!(run.sim.creates("Site.fip"), 3);
    let plan = run.plan(third, true);
    assert!(!plan.has_changes(), "{}", plan.summary_line());
}

#[test]
fn what_refers_to_a_resource_replaced_without_it_moves_on_the_next_up() {
    let tmp = tempfile::tempdir().unwrap();
    let run = Run::new(tmp.path(), Arc::new(SimProxy::default()));
    run.up(Shape::default());
    let newer = Shape {
        image: "debian-13",
        ..Shape::default()
    };
    // The server alone is replaced (`up --target`, or a run killed between the replacement and
    // the floating IP's re-association): the floating IP still points at the old server.
    let (mut o, _) = run.orch(newer.clone());
    let only_front = PlanOptions {
        targets: vec!["Site.front".into()],
        ..PlanOptions::default()
    };
    assert!(
        rt().block_on(o.up_with(&only_front, |_| Ok(()))),
        "{:?}",
        o.failures()
    );
    drop(o);
    assert_eq!(run.sim.creates("Site.front"), 2);
    assert_eq!(run.sim.updates("Site.fip"), 0);
    // The next plan sees that the server the floating IP was recorded with is gone, and moves it.
    let plan = run.plan(newer.clone(), false);
    assert_eq!(action(&plan, "Site.front"), ResourceAction::Unchanged);
    assert_eq!(action(&plan, "Site.fip"), ResourceAction::Update);
    let fip = plan
        .resources
        .iter()
        .find(|r| &*r.key == "Site.fip")
        .unwrap();
    assert!(
        fip.changes.iter().any(|c| c.arg == "server"),
        "{:?}",
        fip.changes
    );
    run.up(newer.clone());
    assert_eq!(run.sim.updates("Site.fip"), 1);
    assert_eq!(run.sim.creates("Site.fip"), 1);
    let plan = run.plan(newer, false);
    assert!(!plan.has_changes(), "{}", plan.summary_line());
}
