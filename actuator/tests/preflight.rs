//! The pre-flight (issue 11): what the compiler cannot know about a model is found by `plan` and
//! `up` before any cloud call, named by model path and value. Every test here also checks that
//! the simulated cloud was not called at all (`SimProxy::calls`), and the command line's `plan`
//! exits 3.
//!
//! Family 2 (config templates): every task is resolved for every role it runs as, so a name that
//! some roles declare and the task's role does not, and a variable cycle that only a role's own
//! variables close, stop the plan; a name that waits for an output (an address not known before
//! provisioning) does not.
//!
//! Family 5 (structure): a config model nested inside itself is an error naming the chain, not a
//! stack overflow; two graph nodes with one state key (roles of one name in different groups
//! under a `MultiTask`) are refused instead of one being recorded as done by the other's run.
//!
//! Family 1 (paths bound to their model): a role path that is not part of the system — one of
//! another system's instance (a class-level path, `Model::class()`, is its own type and does not
//! compile there), or a nested config model of another namespace under a `MultiTask` — is an
//! error naming the task, not a panic nor a wrong role.
//!
//! Family 7 (names given as strings): a variable read by name — `role.v("NAME")` in a resource's
//! arguments, `.output(…, role.v("NAME"))`, `.output_var("NAME")` — that nothing defines for its
//! reader is an error naming the resource or output, the reader, the name and what it does see.
//!
//! Family 3 (typed values): a literal written as text for a typed argument (a CIDR, an address)
//! that does not parse is an error naming the resource, the argument and the text — not a panic
//! while the model is built, and not the cloud's refusal after what came before it exists. So is a
//! variable given for a typed argument whose value, known before provisioning, does not parse.

use std::sync::Arc;

use actuator::cli::Cli;
use actuator::infra::test::{FloatingIp, Network, Server, Subnet};
use actuator::orchestrate::{ActuatorOrchestration, FailureKind};
use actuator::prelude::*;
use actuator::provision::SimProxy;

#[derive(InfraModel)]
struct Grid {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("foreman", "debian-12").nics([ctx.model.net]))]
    foreman: Server,
    #[component(MultiResource::new(Server::new("worker", "debian-12").nics([ctx.model.net])))]
    workers: MultiResource<Server>,
}

namespace! {
    struct GridNs for Grid {
        // Hidden: a variable every task exports must resolve for every role.
        vars { FOREMAN_IP = infra.foreman.ip, hidden LOOP = "loop-!{NODE_LOOP}" }
        foreman: Role = Role::new("foreman").host_ref(infra.foreman),
        grid: MultiRole = MultiRole::new(
            Role::new("node")
                .host_ref(infra.workers[ctx.name])
                .var("NODE_ID", ctx.name)
                .hidden_var("NODE_LOOP", "node-!{LOOP}")),
    }
}

config! {
    struct NotForThisRole for GridNs {
        // `NODE_ID` is declared — on the grid's roles. The foreman has none.
        report: Task = CommandTask::new("report", "echo !{NODE_ID}").role(ns.foreman),
        nodes: MultiTask = MultiTask::new("nodes", CommandTask::new("node", "echo !{NODE_ID}"), q.grid.all()),
    }
}

config! {
    struct Cycle for GridNs {
        // For a node, `LOOP` reads `NODE_LOOP`, which reads `LOOP`.
        spin: MultiTask = MultiTask::new("spin", CommandTask::new("spin", "echo !{LOOP}"), q.grid.all()),
    }
}

config! {
    struct Waits for GridNs {
        // Known once the foreman is provisioned: not an error.
        call: Task = CommandTask::new("call", "echo !{FOREMAN_IP}").role(ns.foreman),
    }
}

config! {
    struct Outer for GridNs {
        inner: ConfigClassTask<Inner> = ConfigClassTask::new("inner").role(ns.foreman),
    }
}

config! {
    struct Inner for GridNs {
        ping: Task = PingTask::new("ping"),
        // Wraps the model that wraps it.
        outer: ConfigClassTask<Outer> = ConfigClassTask::new("outer"),
        deps { ping | outer }
    }
}

/// The source of `FromFile`'s copies: a file on this machine, written by the one test that uses
/// it (the config model names it when it is instantiated).
fn template_file() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
        .path()
        .join("node.conf.tmpl")
}

config! {
    struct FromFile for GridNs {
        // The file's `!{NAME}`s are for each role that runs the copy; the compiler never sees
        // them.
        conf: Task = CopyFileTask::new("conf", "/tmp/foreman.conf").src(template_file()).templated().role(ns.foreman),
        nodes: MultiTask = MultiTask::new("nodes", CopyFileTask::new("node", "/tmp/node.conf").src(template_file()).templated(), q.grid.all()),
    }
}

namespace! {
    group Pod {
        app: Role = Role::new("app").host_ref("127.0.0.1"),
    }
}

namespace! {
    struct Pods {
        blue: RoleGroup<Pod> = RoleGroup::new("blue"),
        green: RoleGroup<Pod> = RoleGroup::new("green"),
    }
}

config! {
    struct EveryApp for Pods {
        // Both roles are named `app`: both copies would be `hello-app`.
        hello: MultiTask = MultiTask::new("hello", CommandTask::new("hello", "true"), [ns.blue.app, ns.green.app]),
    }
}

namespace! {
    struct SizedNs for Sized {
        vars { MEMSIZE = "4096" }
        web: Role = Role::new("web").host_ref(infra.web),
    }
}

#[derive(InfraModel)]
#[infra(namespace = SizedNs)]
struct Sized {
    #[component(Network::new("net"))]
    net: Network,
    // `MEMSIZ`: a typo in a name given as a string.
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]).mem(ctx.nexus.ns.web.v("MEMSIZ")))]
    web: Server,
}

// Family 1: foreign references. Paths are offsets into one model instance; a path of the wrong
// instance — another system's, or one of another namespace type — would read the wrong role, or
// none at all.

/// The namespace paths of another system (a second `Grid` and `GridNs`, built beside the one under
/// test): the same type as this system's, leading into a model this system does not hold.
fn elsewhere() -> GridNsPath {
    let infra = Grid::instance("elsewhere");
    GridNs::instance("elsewhere", &infra).root()
}

config! {
    struct OtherSystemRole for GridNs {
        report: Task = CommandTask::new("report", "true").role(elsewhere().foreman),
    }
}

config! {
    struct ForeignSelection for GridNs {
        pings: MultiTask = MultiTask::new("pings", PingTask::new("ping"), [ns.foreman, elsewhere().foreman]),
    }
}

namespace! {
    struct LabNs {
        bench: Role = Role::new("bench").host_ref("127.0.0.1"),
    }
}

config! {
    struct Calibrate for LabNs {
        ping: Task = PingTask::new("ping").role(ns.bench),
    }
}

config! {
    struct EachCalibrates for GridNs {
        // A `ConfigClassTask` field of another namespace does not compile; as a `MultiTask`'s
        // template it is the pre-flight's.
        each: MultiTask = MultiTask::new("each", ConfigClassTask::<Calibrate>::new("calibrate"), q.grid.all()),
    }
}

struct Fixture {
    sim: Arc<SimProxy>,
    _dir: tempfile::TempDir,
    state: std::path::PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        Fixture {
            sim: Arc::new(SimProxy::new("sim")),
            _dir: dir,
            state,
        }
    }

    /// An orchestration of `C` over a grid of two workers.
    fn orch<C: ConfigModel<Namespace = GridNs>>(
        &self,
        cfg: impl FnOnce(&Instance<GridNs>) -> Instance<C>,
    ) -> ActuatorOrchestration {
        let infra = Grid::instance("grid");
        let ns = GridNs::instance("ns", &infra);
        ns.index(ns.root().grid, 1);
        ns.index(ns.root().grid, 2);
        let cfg = cfg(&ns);
        ActuatorOrchestration::new("preflight")
            .infra(&infra)
            .namespace(&ns)
            .config(&cfg)
            .proxy(self.sim.clone())
            .state_dir(&self.state)
    }

    /// `plan` on the command line: its exit code.
    fn cli_plan(&self, orch: ActuatorOrchestration) -> u8 {
        let args = Cli::parse_from_words(["preflight", "-q", "plan", "--refresh=false"]).unwrap();
        actuator::cli::run(args, orch)
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A plan's errors as `key: error` lines.
fn blockers(plan: &actuator::orchestrate::Plan) -> Vec<String> {
    (plan.errors.iter())
        .map(|e| format!("{}: {}", e.key, e.error))
        .collect()
}

/// `up` fails with model errors only, having called no cloud; returns their messages.
fn up_refused(f: &Fixture, mut o: ActuatorOrchestration) -> Vec<String> {
    assert!(!rt().block_on(o.initiate_system()));
    assert_eq!(f.sim.calls(), 0, "up called the cloud: {:?}", o.failures());
    assert!(f.sim.live().is_empty());
    assert!(
        o.failures().iter().all(|x| x.kind == FailureKind::Model),
        "{:?}",
        o.failures()
    );
    o.failures()
        .iter()
        .map(|x| format!("{}: {}", x.task, x.error))
        .collect()
}

#[test]
fn a_name_the_tasks_role_does_not_have_stops_plan_and_up_before_any_cloud_call() {
    let f = Fixture::new();
    let plan = f
        .orch(|ns| NotForThisRole::instance("cfg", ns))
        .plan()
        .unwrap();
    assert_eq!(f.sim.calls(), 0);
    // One error, for the foreman's task: the grid's tasks have their `NODE_ID`.
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    let e = &plan.errors[0];
    assert_eq!(e.key, "report");
    assert!(
        e.error.contains("`NODE_ID`") && e.error.contains("GridNs.foreman"),
        "names the variable and the role: {}",
        e.error
    );
    assert!(
        e.error.contains("not defined for this role"),
        "says it is not defined (not waiting): {}",
        e.error
    );

    let o = f.orch(|ns| NotForThisRole::instance("cfg", ns));
    assert_eq!(f.cli_plan(o), actuator::cli::EXIT_INVALID);
    assert_eq!(f.sim.calls(), 0);

    let o = f.orch(|ns| NotForThisRole::instance("cfg", ns));
    let failures = up_refused(&f, o);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("report: "), "{failures:?}");
}

#[test]
fn a_cycle_only_a_roles_own_variables_close_stops_plan_and_up() {
    let f = Fixture::new();
    let plan = f.orch(|ns| Cycle::instance("cfg", ns)).plan().unwrap();
    assert_eq!(f.sim.calls(), 0);
    // One per node: the cycle is each node's.
    let keys: Vec<&str> = plan.errors.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["spin-node_1", "spin-node_2"], "{:?}", plan.errors);
    for e in &plan.errors {
        assert!(
            e.error.contains("cycle") && e.error.contains("LOOP") && e.error.contains("NODE_LOOP"),
            "names the chain: {}",
            e.error
        );
    }
    let o = f.orch(|ns| Cycle::instance("cfg", ns));
    assert_eq!(f.cli_plan(o), actuator::cli::EXIT_INVALID);
    let o = f.orch(|ns| Cycle::instance("cfg", ns));
    assert_eq!(up_refused(&f, o).len(), 2);
}

#[test]
fn a_name_that_waits_for_an_output_is_no_error() {
    let f = Fixture::new();
    let plan = f.orch(|ns| Waits::instance("cfg", ns)).plan().unwrap();
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(f.sim.calls(), 0, "a plan without refresh reads no cloud");
    let o = f.orch(|ns| Waits::instance("cfg", ns));
    assert_eq!(f.cli_plan(o), actuator::cli::EXIT_OK);
}

#[test]
fn a_config_model_nested_inside_itself_is_an_error_naming_the_chain() {
    let f = Fixture::new();
    // The graph itself terminates, and says why it is unusable.
    let infra = Grid::instance("grid");
    let ns = GridNs::instance("ns", &infra);
    let graph = Outer::instance("cfg", &ns).graph();
    assert_eq!(graph.errors.len(), 1, "{:?}", graph.errors);
    let e = &graph.errors[0];
    assert!(
        e.contains("recursive config nesting: Outer -> Inner -> Outer")
            && e.contains("task `outer` at Outer.inner/inner/Inner.outer"),
        "{e}"
    );
    assert_eq!(graph.task_names(), ["ping"]);

    let plan = f.orch(|ns| Outer::instance("cfg", ns)).plan().unwrap();
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    assert_eq!(&plan.errors[0].error, e);
    let o = f.orch(|ns| Outer::instance("cfg", ns));
    assert_eq!(f.cli_plan(o), actuator::cli::EXIT_INVALID);
    let o = f.orch(|ns| Outer::instance("cfg", ns));
    let failures = up_refused(&f, o);
    assert_eq!(failures, [format!("config: {e}")]);
}

#[test]
fn two_roles_of_one_name_in_different_groups_are_refused_not_run_once() {
    let f = Fixture::new();
    let orch = || {
        let ns = Pods::instance("pods");
        let cfg = EveryApp::instance("cfg", &ns);
        ActuatorOrchestration::new("preflight")
            .namespace(&ns)
            .config(&cfg)
            .proxy(f.sim.clone())
            .state_dir(&f.state)
    };
    let plan = orch().plan().unwrap();
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    let e = &plan.errors[0];
    assert_eq!(e.key, "hello-app");
    assert!(
        e.error.contains("`task:EveryApp.hello/hello-app`")
            && e.error.contains("role Pods.blue.app")
            && e.error.contains("role Pods.green.app"),
        "names the key and both roles: {}",
        e.error
    );
    assert_eq!(f.cli_plan(orch()), actuator::cli::EXIT_INVALID);
    let failures = up_refused(&f, orch());
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].starts_with("hello-app: two tasks"),
        "{failures:?}"
    );
}

#[test]
fn a_variable_read_by_a_name_nothing_defines_stops_plan_and_up() {
    let f = Fixture::new();
    let orch = || {
        let infra = Sized::instance("sized");
        let ns = SizedNs::instance("ns", &infra);
        let web = ns.root().web;
        ActuatorOrchestration::new("preflight")
            .infra(&infra)
            .namespace(&ns)
            .proxy(f.sim.clone())
            .state_dir(&f.state)
            .output("size", web.v("MEMSIZE"))
            .output("url", web.v("URL"))
            .output_var("PORT")
    };
    let plan = orch().plan().unwrap();
    assert_eq!(f.sim.calls(), 0);
    let errors = blockers(&plan);
    assert_eq!(
        errors,
        [
            "Sized.web: an argument reads variable `MEMSIZ` of SizedNs.web, which nothing \
             visible from it defines; it sees `MEMSIZE`",
            "output `url`: it reads variable `URL` of SizedNs.web, which nothing visible from \
             it defines; it sees `MEMSIZE`",
            "output `PORT`: it reads variable `PORT` of SizedNs, which nothing visible from it \
             defines; it sees `MEMSIZE`",
        ]
    );
    assert_eq!(f.cli_plan(orch()), actuator::cli::EXIT_INVALID);
    assert_eq!(up_refused(&f, orch()).len(), 3);
}

#[test]
fn a_templated_copys_source_file_is_checked_for_every_role_before_any_cloud_call() {
    let f = Fixture::new();
    let file = template_file();
    let errors = |f: &Fixture| -> Vec<(String, String)> {
        let plan = f.orch(|ns| FromFile::instance("cfg", ns)).plan().unwrap();
        assert_eq!(f.sim.calls(), 0);
        let o = f.orch(|ns| FromFile::instance("cfg", ns));
        let code = f.cli_plan(o);
        assert_eq!(f.sim.calls(), 0);
        let errors: Vec<(String, String)> = plan
            .errors
            .iter()
            .map(|e| (e.key.clone(), e.error.clone()))
            .collect();
        let want = if errors.is_empty() {
            actuator::cli::EXIT_OK
        } else {
            actuator::cli::EXIT_INVALID
        };
        assert_eq!(code, want, "{errors:?}");
        errors
    };
    // Every role has what the file reads (the foreman's address waits for provisioning).
    std::fs::write(&file, "foreman = !{FOREMAN_IP}\n").unwrap();
    assert_eq!(errors(&f), []);
    // `NODE_ID` is the grid's: the foreman's copy alone is refused, naming task, role, name
    // and file.
    std::fs::write(&file, "id = !{NODE_ID}\n").unwrap();
    let e = errors(&f);
    assert_eq!(e.len(), 1, "{e:?}");
    assert_eq!(e[0].0, "conf");
    for part in [
        "task `conf`",
        "`NODE_ID`",
        "GridNs.foreman",
        &file.display().to_string(),
    ] {
        assert!(e[0].1.contains(part), "{part} in {e:?}");
    }
    // A name nothing defines: every copy, each naming its own role.
    std::fs::write(&file, "port = !{PORT}\n").unwrap();
    let e = errors(&f);
    let keys: Vec<&str> = e.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["conf", "node-node_1", "node-node_2"], "{e:?}");
    for (key, role) in [
        ("node-node_1", "GridNs.grid.1"),
        ("node-node_2", "GridNs.grid.2"),
    ] {
        let msg = &e.iter().find(|(k, _)| k == key).unwrap().1;
        assert!(
            msg.contains("`PORT`") && msg.contains(role) && msg.contains("--var PORT="),
            "{msg}"
        );
    }
    // A file that is not there, or not text.
    std::fs::remove_file(&file).unwrap();
    let e = errors(&f);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e.iter()
            .all(|(_, m)| m.contains("cannot read the templated file")
                && m.contains(&file.display().to_string())),
        "{e:?}"
    );
    std::fs::write(&file, [0xff, 0xfe, 0]).unwrap();
    let e = errors(&f);
    assert!(e.iter().all(|(_, m)| m.contains("not UTF-8 text")), "{e:?}");
    let o = f.orch(|ns| FromFile::instance("cfg", ns));
    assert_eq!(up_refused(&f, o).len(), 3);
}

/// Plan, command-line plan and `up` of `C` are all refused before any cloud call, with exactly
/// the `expected` errors (`key: message` prefixes, in order).
fn refused_everywhere<C: ConfigModel<Namespace = GridNs>>(
    cfg: fn(&Instance<GridNs>) -> Instance<C>,
    expected: &[(&str, &str)],
) {
    let f = Fixture::new();
    let plan = f.orch(cfg).plan().unwrap();
    assert_eq!(f.sim.calls(), 0);
    let got: Vec<(&str, &str)> = plan
        .errors
        .iter()
        .map(|e| (e.key.as_str(), e.error.as_str()))
        .collect();
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for ((key, error), (want_key, want)) in got.iter().zip(expected) {
        assert_eq!(key, want_key, "{got:?}");
        assert!(error.starts_with(want), "{error}\n  expected: {want}");
    }
    assert_eq!(f.cli_plan(f.orch(cfg)), actuator::cli::EXIT_INVALID);
    assert_eq!(f.sim.calls(), 0);
    let failures = up_refused(&f, f.orch(cfg));
    assert_eq!(failures.len(), expected.len(), "{failures:?}");
}

#[test]
fn a_role_path_of_another_system_is_an_error_naming_the_task_not_a_panic() {
    refused_everywhere(
        |ns| OtherSystemRole::instance("cfg", ns),
        &[(
            "config",
            "task `report` at OtherSystemRole.report: its role is a path of model ModelId(",
        )],
    );
}

#[test]
fn a_foreign_role_in_a_multitask_selection_is_an_error_naming_the_multitask() {
    refused_everywhere(
        |ns| ForeignSelection::instance("cfg", ns),
        &[(
            "config",
            "MultiTask `pings` at ForeignSelection.pings: its selected role is a path of model ModelId(",
        )],
    );
}

#[test]
fn a_nested_config_model_of_another_namespace_is_an_error_naming_the_task() {
    let nests = "a config model of namespace `LabNs`, in a system whose namespace is `GridNs`";
    refused_everywhere(
        |ns| EachCalibrates::instance("cfg", ns),
        &[
            (
                "config",
                format!(
                    "task `calibrate-node_1` at EachCalibrates.each nests `Calibrate`, {nests}"
                )
                .as_str(),
            ),
            (
                "config",
                format!(
                    "task `calibrate-node_2` at EachCalibrates.each nests `Calibrate`, {nests}"
                )
                .as_str(),
            ),
        ],
    );
}

#[derive(InfraModel)]
struct Misaddressed {
    // A prefix longer than an IPv4 address has; host bits set beyond /16; not an address at all.
    #[component(Network::new("net").cidr("10.0.0.0/33"))]
    net: Network,
    #[component(Subnet::new("sub", ctx.model.net, "10.1.2.3/16"))]
    sub: Subnet,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    #[component(FloatingIp::new("fip", ctx.model.web, "10.0.0.300"))]
    fip: FloatingIp,
}

#[test]
fn a_typed_literal_that_does_not_parse_stops_plan_and_up_naming_path_argument_and_text() {
    let f = Fixture::new();
    // Building the model does not panic: the text is kept for the pre-flight.
    let orch = || {
        ActuatorOrchestration::new("preflight")
            .infra(&Misaddressed::instance("m"))
            .proxy(f.sim.clone())
            .state_dir(&f.state)
            // A marked output given as text of a typed value is checked the same way.
            .output(
                "range",
                actuator::model::Val::<actuator::model::Cidr>::parse("10.0.0.0/33"),
            )
    };
    let plan = orch().plan().unwrap();
    assert_eq!(f.sim.calls(), 0);
    let errors = blockers(&plan);
    assert_eq!(
        errors,
        [
            "Misaddressed.net: argument `cidr`: \"10.0.0.0/33\" does not parse: prefix `33` is \
             not a length from 0 to 32",
            "Misaddressed.sub: argument `cidr`: \"10.1.2.3/16\" does not parse: host bits are \
             set beyond /16; the range is 10.1.0.0/16",
            "Misaddressed.fip: argument `fixed_ip`: \"10.0.0.300\" does not parse: invalid IP \
             address syntax",
            "output `range`: \"10.0.0.0/33\" does not parse: prefix `33` is not a length from 0 \
             to 32",
        ]
    );
    assert_eq!(f.cli_plan(orch()), actuator::cli::EXIT_INVALID);
    assert_eq!(up_refused(&f, orch()).len(), 4);
}

// A variable given for a typed argument: its value is parsed in the pre-flight where it is known
// then, so a bad range from a variable is found before any cloud call, like a bad literal.
#[derive(InfraModel)]
#[infra(namespace = Ranges)]
struct Ranged {
    #[component(Network::new("net").cidr(ctx.nexus.ns.v.RANGE))]
    net: Network,
    // A secret's value is shown masked in the error, and why it does not parse is left out.
    #[component(Subnet::new("sub", ctx.model.net, ctx.nexus.ns.v.PRIVATE_RANGE))]
    sub: Subnet,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    // Waits for the server's address: known only during `up`, so not an error now.
    #[component(Network::new("later").cidr(ctx.nexus.ns.v.LATER))]
    later: Network,
    #[component(Subnet::new("ok", ctx.model.net, ctx.nexus.ns.v.GOOD))]
    ok: Subnet,
}

namespace! {
    struct Ranges for Ranged {
        vars {
            OCTET = "300",
            RANGE = "10.!{OCTET}.0.0/16",
            secret PRIVATE_RANGE = "10.9.9.9/8",
            LATER = "!{WEB_IP}/32",
            WEB_IP = infra.web.ip,
            GOOD = "10.1.0.0/16",
        }
        web: Role = Role::new("web").host_ref(infra.web),
    }
}

#[test]
fn a_variable_for_a_typed_argument_is_parsed_in_the_pre_flight_when_its_value_is_known() {
    let f = Fixture::new();
    let infra = Ranged::instance("r");
    let ns = Ranges::instance("n", &infra);
    let orch = || {
        ActuatorOrchestration::new("preflight")
            .infra(&infra)
            .namespace(&ns)
            .proxy(f.sim.clone())
            .state_dir(&f.state)
    };
    let plan = orch().plan().unwrap();
    assert_eq!(f.sim.calls(), 0);
    let errors = blockers(&plan);
    assert_eq!(
        errors,
        [
            "Ranged.net: argument `cidr`: variable `RANGE` = \"10.300.0.0/16\" does not parse: \
             `10.300.0.0` is not an IP address",
            format!(
                "Ranged.sub: argument `cidr`: variable `PRIVATE_RANGE` = {:?} does not parse \
                 (it holds a secret, so why is not shown)",
                actuator::namespace::MASK
            )
            .as_str(),
        ]
    );
    // Nor any part of it: the reason would have quoted the range derived from it.
    let shown = format!("{plan:?}");
    assert!(
        !shown.contains("10.9.9") && !shown.contains("10.0.0.0/8"),
        "{shown}"
    );
    assert_eq!(f.cli_plan(orch()), actuator::cli::EXIT_INVALID);
    assert_eq!(up_refused(&f, orch()).len(), 2);
}
