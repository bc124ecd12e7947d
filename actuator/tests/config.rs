//! Config-model behaviours of the original (features §14, items 29–36), ported to the Rust design:
//! the graph of `config!`'s `deps { }`, the runtime dependency algebra [`Dep`], multi-tasks,
//! nested config models (`ConfigClassTask`) and their default role. Running tasks (credentials
//! resolution, execution) is the execution agents' job; here only what the declaration layer holds
//! is tested.

use std::collections::BTreeSet;

use actuator::config::{CommandLine, IntoDep, NodeRole, TaskGraph, TaskKind};
use actuator::model::{At, Located, Model};
use actuator::namespace::{HostRef, expand_for};
use actuator::prelude::*;

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

namespace! {
    struct Hosts {
        vars { PORT = "8080", GREETING = "hello from !{WHO}", WHO = "the namespace" }
        r: Role = Role::new("r").host_ref("10.0.0.1").var("WHO", "r"),
        r2: Role = Role::new("r2").host_ref("10.0.0.2"),
        grid: MultiRole = MultiRole::new(
            Role::new("grid").host_ref("10.0.1.!{NODE_ID}").var("NODE_ID", ctx.name)),
    }
}

config! {
    struct Four for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        t4: Task = NullTask::new("t4").role(ns.r),
    }
}

config! {
    struct Precedence for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        t4: Task = NullTask::new("t4").role(ns.r),
        deps { t1 | t2 & t3 | t4 }
    }
}

config! {
    struct Parenthesized for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        t4: Task = NullTask::new("t4").role(ns.r),
        deps { t1 | (t2 & t3) | t4 }
    }
}

config! {
    struct ParAfterSeq for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        deps { (t1 | t2) & t3 }
    }
}

config! {
    struct Groups for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        t4: Task = NullTask::new("t4").role(ns.r),
        deps { (t1 & t2) | (t3 & t4) }
    }
}

config! {
    struct Repeated for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        t4: Task = NullTask::new("t4").role(ns.r),
        deps { t1 | t2, t1 | t2, t2 | t3, t1 | t2 & t4, (t1 & t1) | t2 }
    }
}

config! {
    struct Chain for Hosts {
        t1: Task = NullTask::new("t1").role(ns.r),
        t2: Task = NullTask::new("t2").role(ns.r),
        t3: Task = NullTask::new("t3").role(ns.r),
        free: Task = NullTask::new("free").role(ns.r2),
        deps { t1 | t2 | t3 }
    }
}

config! {
    struct GridAll for Hosts {
        before: Task = NullTask::new("before").role(ns.r),
        prep: MultiTask = MultiTask::new("grid_prep", NullTask::new("gp"), q.grid.all()),
        after: Task = NullTask::new("after").role(ns.r),
        deps { before | prep | after }
    }
}

config! {
    struct GridUnion for Hosts {
        prep: MultiTask = MultiTask::new(
            "grid_prep",
            CommandTask::new("gp", "echo !{NODE_ID}"),
            Query::union([q.grid.keyin([0, 1]), q.grid.key(4), q.grid.key(1)])),
    }
}

config! {
    struct GridList for Hosts {
        prep: MultiTask = MultiTask::new("grid_prep", NullTask::new("gp"), [ns.grid[0], ns.grid[2], ns.r]),
    }
}

config! {
    struct Inner for Hosts {
        a: Task = ShellTask::new("a", "echo !{GREETING} on !{PORT}"),
        b: Task = NullTask::new("b").role(ns.r),
        deps { a | b }
    }
}

config! {
    struct Mid for Hosts {
        m1: Task = NullTask::new("m1"),
        inner: ConfigClassTask<Inner> = ConfigClassTask::new("inner"),
        deps { m1 | inner }
    }
}

config! {
    struct Outer for Hosts {
        pre: Task = NullTask::new("pre").role(ns.r),
        mid: ConfigClassTask<Mid> = ConfigClassTask::new("mid").role(ns.r2),
        post: Task = NullTask::new("post").role(ns.r),
        deps { pre | mid | post }
    }
}

config! {
    struct Empty for Hosts {}
}

config! {
    struct EmptyParts for Hosts {
        before: Task = NullTask::new("before").role(ns.r),
        prep: MultiTask = MultiTask::new("grid_prep", NullTask::new("gp"), q.grid.all()),
        nothing: ConfigClassTask<Empty> = ConfigClassTask::new("nothing"),
        after: Task = NullTask::new("after").role(ns.r),
        deps { before | prep | nothing | after }
    }
}

#[derive(InfraModel)]
struct Static {
    #[component(StaticServer::new("local", "127.0.0.1"))]
    host: StaticServer,
}

namespace! {
    struct OnStatic for Static {
        tp: Role = Role::new("tp").host_ref(infra.host),
    }
}

config! {
    struct Untargeted for OnStatic {
        t: Task = PingTask::new("t"),
        u: Task = PingTask::new("u").run_from(ns.tp),
    }
}

config! {
    struct WithDefault for OnStatic {
        wrapped: ConfigClassTask<Untargeted> = ConfigClassTask::new("wrapped").role(ns.tp),
    }
}

config! {
    struct Creds for Hosts {
        login: Task = CommandTask::new("login", "whoami")
            .role(ns.r)
            .remote_user("deploy")
            .remote_pass(Secret::new("hunter2-pw"))
            .private_key_file("/keys/id_ed25519"),
        anon: Task = CommandTask::new("anon", "whoami").role(ns.r2),
        per_node: MultiTask = MultiTask::new(
            "per_node",
            CommandTask::new("pn", "id").remote_user("node-user").remote_pass(Secret::new("node-pw")),
            q.grid.all()),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

type Edges = BTreeSet<(String, String)>;

fn edge_set(g: &TaskGraph) -> Edges {
    g.edge_names().into_iter().collect()
}

fn edges(pairs: &[(&str, &str)]) -> Edges {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Names the edges of a runtime dependency expression by task name.
fn dep_names<M: Model>(cfg: &Instance<M>, d: &Dep) -> Vec<(String, String)> {
    d.edges()
        .into_iter()
        .map(|(a, b)| cfg.with(|t| (t.node(a.node).name.clone(), t.node(b.node).name.clone())))
        .collect()
}

fn node<'g>(g: &'g TaskGraph, name: &str) -> &'g actuator::config::GraphNode {
    g.nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("no node {name} in {:?}", g.edge_names()))
}

fn task_role(g: &TaskGraph, name: &str) -> Option<At> {
    node(g, name).task.as_ref().and_then(|t| t.role)
}

/// Whether `to` can be reached from `from` along the graph's edges.
fn reaches(g: &TaskGraph, from: &str, to: &str) -> bool {
    let idx = |n: &str| g.nodes.iter().position(|x| x.name == n).unwrap();
    let (from, to) = (idx(from), idx(to));
    let mut seen = vec![false; g.nodes.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        if i == to {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(g.edges.iter().filter(|e| e.0 == i).map(|e| e.1));
        }
    }
    false
}

fn hosts() -> Instance<Hosts> {
    Hosts::instance("hosts")
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

// behaviour 29: the runtime algebra: `group(t1,t2) | t3`, `group | group`, `t1 | t2 & t3` ≡
// `t1 | (t2 & t3)`, nested groups have no edges, `group(t1, t1|t2)` ≡ `t1|t2`, duplicates deduped.
#[test]
fn b29_runtime_dependency_algebra() {
    let ns = hosts();
    let cfg = Four::instance("c", &ns);
    let p = cfg.root();
    let (t1, t2, t3, t4) = (p.t1, p.t2, p.t3, p.t4);
    let s = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        dep_names(&cfg, &(Dep::group([t1, t2]) | t3)),
        s(&[("t1", "t3"), ("t2", "t3")])
    );
    assert_eq!(
        dep_names(&cfg, &(Dep::group([t1, t2]) | Dep::group([t3, t4]))),
        s(&[("t1", "t3"), ("t1", "t4"), ("t2", "t3"), ("t2", "t4")])
    );
    // `&` binds tighter than `|` (Rust's precedence, as Python's).
    assert_eq!(t1 | t2 & t3, t1 | (t2 & t3));
    assert_eq!(
        dep_names(&cfg, &(t1 | t2 & t3 | t4)),
        s(&[("t1", "t2"), ("t1", "t3"), ("t2", "t4"), ("t3", "t4")])
    );
    // `(t1 | t2) & t3` yields only t1 → t2.
    assert_eq!(dep_names(&cfg, &((t1 | t2) & t3)), s(&[("t1", "t2")]));
    // Nested groups: no edges.
    let nested = Dep::group([t1.into_dep(), Dep::group([t2.into_dep(), Dep::group([t3])])]);
    assert!(nested.edges().is_empty());
    // `group(t1, t1 | t2)` ≡ `t1 | t2`.
    assert_eq!(
        Dep::group([t1.into_dep(), t1 | t2]).edges(),
        (t1 | t2).edges()
    );
    // Duplicates are dropped.
    assert_eq!(
        dep_names(&cfg, &((t1 | t2) & (t1 | t2) | t3)),
        s(&[("t1", "t2"), ("t2", "t3")])
    );
    // Extra dependencies accumulate with the declared ones, without duplicates.
    let g = cfg.graph_with(&[t1 | t2, t1 | t2, t2 | t3]);
    assert_eq!(g.edge_names().len(), 2);
    assert_eq!(edge_set(&g), edges(&[("t1", "t2"), ("t2", "t3")]));
    assert_eq!(g.edges.len(), 2);
}

// behaviour 29: the same algebra in `config!`'s `deps { }`: precedence, parentheses, groups, and
// several entries accumulating without duplicates.
#[test]
fn b29_declared_dependencies() {
    let expected = edges(&[("t1", "t2"), ("t1", "t3"), ("t2", "t4"), ("t3", "t4")]);
    let ns = hosts();
    let g = Precedence::instance("c", &ns).graph();
    assert_eq!(edge_set(&g), expected);
    let ns = hosts();
    let g = Parenthesized::instance("c", &ns).graph();
    assert_eq!(edge_set(&g), expected);

    let ns = hosts();
    let g = ParAfterSeq::instance("c", &ns).graph();
    assert_eq!(g.edge_names(), [("t1".to_string(), "t2".to_string())]);

    let ns = hosts();
    let g = Groups::instance("c", &ns).graph();
    assert_eq!(
        edge_set(&g),
        edges(&[("t1", "t3"), ("t1", "t4"), ("t2", "t3"), ("t2", "t4")])
    );

    let ns = hosts();
    let cfg = Repeated::instance("c", &ns);
    let declared = <Repeated as ConfigModel>::declared_edges(At::root(cfg.id()));
    let p = cfg.root();
    assert_eq!(
        declared,
        [
            (p.t1.at(), p.t2.at()),
            (p.t2.at(), p.t3.at()),
            (p.t1.at(), p.t4.at()),
        ]
    );
    let g = cfg.graph();
    assert_eq!(g.edges.len(), 3);
    assert_eq!(
        edge_set(&g),
        edges(&[("t1", "t2"), ("t2", "t3"), ("t1", "t4")])
    );
}

// behaviour 30: a cycle in `deps { }` is a compile error (not testable at run time); a cycle made
// with the runtime algebra shows in the graph's topological order, which names the tasks on it.
#[test]
fn b30_runtime_cycle_is_reported() {
    let ns = hosts();
    let cfg = Chain::instance("c", &ns);
    let p = cfg.root();
    assert!(cfg.graph().topo_order().is_ok());
    let g = cfg.graph_with(&[p.t3 | p.t1]);
    let on_cycle: BTreeSet<String> = g.topo_order().unwrap_err().into_iter().collect();
    assert_eq!(
        on_cycle,
        BTreeSet::from(["t1".to_string(), "t2".to_string(), "t3".to_string()])
    );
}

// behaviour 31: tasks are ordered by their dependencies (t1 | t2 | t3) and independent tasks are
// part of the run. Running them is the execution agents' job; the order they follow is tested.
#[test]
fn b31_dependency_order() {
    let ns = hosts();
    let cfg = Chain::instance("c", &ns);
    let g = cfg.graph();
    let order: Vec<String> = g
        .topo_order()
        .unwrap()
        .into_iter()
        .map(|i| g.nodes[i].name.clone())
        .collect();
    assert_eq!(order.len(), 4);
    let pos = |n: &str| order.iter().position(|x| x == n).unwrap();
    assert!(pos("t1") < pos("t2") && pos("t2") < pos("t3"), "{order:?}");
    assert!(order.contains(&"free".to_string()));
    assert_eq!(
        g.task_names().into_iter().collect::<BTreeSet<_>>(),
        ["free", "t1", "t2", "t3"]
            .map(String::from)
            .into_iter()
            .collect()
    );
}

// behaviour 32: a multi-task over 5 roles makes 5 tasks named `gp-grid_<k>`, between a head and a
// rendezvous (successors wait for all); with `q.grid.all()`, a union of queries, or an explicit list.
#[test]
fn b32_multi_tasks() {
    let ns = hosts();
    for k in 0..5 {
        ns.index(ns.root().grid, k);
    }
    let cfg = GridAll::instance("c", &ns);
    let g = cfg.graph();
    let names: Vec<String> = (0..5).map(|k| format!("gp-grid_{k}")).collect();
    let mut tasks = g.task_names();
    tasks.sort();
    let mut expected = names.clone();
    expected.extend(["after".to_string(), "before".to_string()]);
    expected.sort();
    assert_eq!(tasks, expected);
    assert_eq!(node(&g, "grid_prep").role, NodeRole::Head);
    assert_eq!(node(&g, "grid_prep-rendezvous").role, NodeRole::Rendezvous);
    let mut want = edges(&[("before", "grid_prep"), ("grid_prep-rendezvous", "after")]);
    for n in &names {
        want.insert(("grid_prep".into(), n.clone()));
        want.insert((n.clone(), "grid_prep-rendezvous".into()));
    }
    assert_eq!(edge_set(&g), want);
    // Each instance runs for its own role.
    for k in 0..5 {
        let role = ns.index(ns.root().grid, k);
        assert_eq!(task_role(&g, &format!("gp-grid_{k}")), Some(role.at()));
    }
    // The selection is evaluated when the graph is built: roles added later are included.
    ns.index(ns.root().grid, 5);
    assert_eq!(cfg.graph().task_names().len(), 2 + 6);

    // A union of queries (duplicates once).
    let ns = hosts();
    for k in 0..5 {
        ns.index(ns.root().grid, k);
    }
    let g = GridUnion::instance("c", &ns).graph();
    assert_eq!(g.task_names(), ["gp-grid_0", "gp-grid_1", "gp-grid_4"]);

    // An explicit list of roles (keyed ones created on demand).
    let ns = hosts();
    let g = GridList::instance("c", &ns).graph();
    assert_eq!(g.task_names(), ["gp-grid_0", "gp-grid_2", "gp-r"]);
    let keys: Vec<String> = ns
        .keys(ns.root().grid)
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, ["0", "2"]);
}

// behaviour 32 / 34: successors wait for predecessors also through a multi-task that selects no
// role and a nested config model without tasks (their head leads straight to their rendezvous).
#[test]
fn b32_b34_empty_multi_task_and_nested_model_keep_the_order() {
    let ns = hosts();
    let g = EmptyParts::instance("c", &ns).graph();
    assert_eq!(g.task_names(), ["before", "after"]);
    assert!(reaches(&g, "before", "after"), "{:?}", g.edge_names());
    assert!(reaches(&g, "grid_prep", "grid_prep-rendezvous"));
    assert!(reaches(&g, "nothing", "nothing-rendezvous"));
    assert!(!reaches(&g, "after", "before"));
}

// behaviour 33: the original's `default_task_role` (here: the role of the wrapping
// `ConfigClassTask`) gives untargeted tasks that role and so its host, also a `StaticServer`. A
// config model used directly has no default role: its untargeted tasks have none.
#[test]
fn b33_default_role_with_static_host() {
    let infra = Static::instance("s");
    let ns = OnStatic::instance("n", &infra);
    let cfg = WithDefault::instance("c", &ns);
    let g = cfg.graph();
    let tp = ns.root().tp.at();
    assert_eq!(task_role(&g, "t"), Some(tp));
    assert_eq!(task_role(&g, "u"), Some(tp));
    assert_eq!(node(&g, "u").task.as_ref().unwrap().run_from, Some(tp));
    let role = ns.get::<Role>(&ns.root().tp).unwrap();
    assert_eq!(role.host, Some(HostRef::Infra(infra.root().host.at())));
    let host = infra.get::<StaticServer>(&infra.root().host).unwrap();
    assert_eq!(host.address(), "127.0.0.1");

    let infra = Static::instance("s");
    let ns = OnStatic::instance("n", &infra);
    let g = Untargeted::instance("c", &ns).graph();
    assert_eq!(task_role(&g, "t"), None);
}

// behaviour 34: a `ConfigClassTask` runs the inner model's tasks in their order, after the outer
// predecessor and before the outer successor; nesting works two levels deep; inner tasks without a
// role get the wrapper's role. (The original's `MultiTask(ConfigClassTask)` — one inner pipeline per
// role — is not expressible: a `MultiTask`'s template is a plain `Task`.)
#[test]
fn b34_nested_config_models() {
    let ns = hosts();
    let cfg = Outer::instance("c", &ns);
    let g = cfg.graph();
    assert_eq!(
        edge_set(&g),
        edges(&[
            ("pre", "mid"),
            ("mid", "m1"),
            ("m1", "inner"),
            ("inner", "a"),
            ("a", "b"),
            ("b", "inner-rendezvous"),
            ("inner-rendezvous", "mid-rendezvous"),
            ("mid-rendezvous", "post"),
        ])
    );
    let order: Vec<String> = g
        .topo_order()
        .unwrap()
        .into_iter()
        .map(|i| g.nodes[i].name.clone())
        .collect();
    assert_eq!(
        order,
        [
            "pre",
            "mid",
            "m1",
            "inner",
            "a",
            "b",
            "inner-rendezvous",
            "mid-rendezvous",
            "post"
        ]
    );
    assert_eq!(node(&g, "mid").role, NodeRole::Head);
    assert_eq!(node(&g, "inner-rendezvous").role, NodeRole::Rendezvous);
    let (r, r2) = (ns.root().r.at(), ns.root().r2.at());
    // Default roles: from the outer wrapper, through the middle one, to the innermost tasks.
    assert_eq!(task_role(&g, "m1"), Some(r2));
    assert_eq!(task_role(&g, "a"), Some(r2));
    assert_eq!(task_role(&g, "b"), Some(r)); // its own role wins
    assert_eq!(task_role(&g, "pre"), Some(r));
    // A nested node's path carries each wrapper's path and name, so every copy keys apart.
    assert_eq!(node(&g, "a").path, "Outer.mid/mid/Mid.inner/inner/Inner.a");
    assert_eq!(g.task_names().len(), 5);
}

// behaviour 35: credential fallback (task → model → cloud credentials) is resolved by the execution
// agents at run time; the declaration layer holds the task's own credentials and role, keeps a
// `Secret` password out of every `Debug` output, and copies them into multi-task instances.
#[test]
fn b35_task_credentials_are_declared_not_leaked() {
    let ns = hosts();
    ns.index(ns.root().grid, 1);
    let cfg = Creds::instance("c", &ns);
    let login = cfg.get::<Task>(&cfg.root().login).unwrap();
    assert_eq!(login.remote_user.as_deref(), Some("deploy"));
    assert_eq!(login.remote_pass.as_ref().unwrap().expose(), "hunter2-pw");
    assert_eq!(
        login.private_key_file.as_deref(),
        Some(std::path::Path::new("/keys/id_ed25519"))
    );
    assert_eq!(login.role, Some(ns.root().r.at()));
    let anon = cfg.get::<Task>(&cfg.root().anon).unwrap();
    assert_eq!(anon.remote_user, None);
    assert!(anon.remote_pass.is_none());

    let g = cfg.graph();
    let pn = node(&g, "pn-grid_1").task.as_ref().unwrap();
    assert_eq!(pn.remote_user.as_deref(), Some("node-user"));
    assert_eq!(pn.remote_pass.as_ref().unwrap().expose(), "node-pw");
    for text in [
        format!("{login:?}"),
        format!("{login:#?}"),
        format!("{g:?}"),
    ] {
        assert!(
            !text.contains("hunter2-pw") && !text.contains("node-pw"),
            "{text}"
        );
        assert!(text.contains("***"));
    }
}

// behaviour 36: execution models are not separate here — config models take dependencies and
// multi-tasks (above). What the execution agents do with a task's `!{VAR}`s — expand them for the
// task's role, role first, then its containers — is checked on the declared tasks of the graph.
#[test]
fn b36_task_templates_expand_for_the_task_role() {
    let ns = hosts();
    for k in 0..3 {
        ns.index(ns.root().grid, k);
    }
    let cfg = GridUnion::instance("c", &ns);
    let g = cfg.graph();
    for n in g.nodes.iter().filter(|n| n.role == NodeRole::Task) {
        let t = n.task.as_ref().unwrap();
        let TaskKind::Command(CommandLine::Line(cmd)) = &t.kind else {
            panic!("{:?}", t.kind)
        };
        let out = expand_for(ns.world(), t.role.unwrap(), cmd).unwrap();
        let key = n.name.strip_prefix("gp-grid_").unwrap();
        assert_eq!(out, format!("echo {key}"));
    }
    assert_eq!(g.task_names(), ["gp-grid_0", "gp-grid_1"]);

    // Inside a nested model: the default role's variables, then the namespace's.
    let ns = hosts();
    let g = Outer::instance("c", &ns).graph();
    let a = node(&g, "a").task.as_ref().unwrap();
    let TaskKind::Shell(cmd) = &a.kind else {
        panic!()
    };
    assert_eq!(
        expand_for(ns.world(), a.role.unwrap(), cmd).unwrap(),
        "echo hello from the namespace on 8080"
    );
    // The same template read by `r` picks `r`'s own `WHO` (dynamic scoping).
    assert_eq!(
        expand_for(ns.world(), ns.root().r.at(), cmd).unwrap(),
        "echo hello from r on 8080"
    );
}
