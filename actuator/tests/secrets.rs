//! A secret input end to end: it reaches what the tasks run (environment, templated file,
//! command argument) and nothing anyone sees — the JSON event stream, the report, the plan, the
//! outputs, the state files, the task output log, error messages, `Debug`, and the process's
//! logs at TRACE level. Its own test binary: it installs a global `tracing` subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actuator::events::{Collect, EventHandler, Fanout, JsonLines, TracingHandler};
use actuator::infra::test::Server;
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator::secret::Secret;

const SECRET: &str = "Sup3r-s3cret-value-4711";
const TOKEN: &str = "plain-token-given-as-text-0815";

namespace! {
    struct App {
        extern { DIR, DB_PASSWORD }
        vars { DB_URL = "postgres://app:!{DB_PASSWORD}@db/app" }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct AppCfg for App {
        defaults { role = ns.web }
        env: Task = ShellTask::new(
            "env",
            r#"printf '%s' "$DB_PASSWORD" > "$DIR/from-env"; printf '%s' "$DB_URL" > "$DIR/url"; printf '%s' "$TOKEN" > "$DIR/token""#),
        conf: Task = ProcessCopyFileTask::new("conf", "!{DIR}/app.conf").content("password=!{DB_PASSWORD}\n"),
        argv: Task = CommandTask::new("argv", "printf 'argument: %s\\n' !{DB_PASSWORD}"),
        leak: Task = ShellTask::new("leak", r#"echo "oops: $DB_PASSWORD" >&2; exit 1"#),
        deps { env | conf | argv | leak }
    }
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

fn assert_clean(what: &str, text: &str) {
    for s in [SECRET, TOKEN] {
        assert!(!text.contains(s), "the secret is in {what}:\n{text}");
    }
}

#[path = "support/files.rs"]
mod support_files;
use support_files::files;

#[test]
fn a_secret_input_reaches_the_tasks_and_nothing_anyone_sees() {
    let logs = Buffer::default();
    let sink = logs.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish(),
    )
    .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let (work, state) = (tmp.path().join("work"), tmp.path().join("state"));
    std::fs::create_dir_all(&work).unwrap();
    let ns = App::instance("app");
    // A variable the model declares secret stays secret when it is given as plain text.
    ns.add_var(&ns.root(), Var::secret("TOKEN", Secret::default()));
    let cfg = AppCfg::instance("cfg", &ns);
    let json = Buffer::default();
    let collect = Arc::new(Collect::default());
    let handlers: Vec<Arc<dyn EventHandler>> = vec![
        Arc::new(JsonLines::new(json.clone())),
        Arc::new(TracingHandler),
        collect.clone(),
    ];
    let mut o = ActuatorOrchestration::new("secrets")
        .namespace(&ns)
        .config(&cfg)
        .handler(Arc::new(Fanout(handlers)))
        .state_dir(&state)
        .var("DIR", work.display().to_string())
        .secret_var("DB_PASSWORD", Secret::new(SECRET))
        .var("TOKEN", TOKEN)
        .output_var("DB_URL");

    let plan = o.plan().unwrap();
    assert!(!plan.has_errors(), "{:?}", plan.errors);
    assert_clean("the plan", &serde_json::to_string(&plan).unwrap());

    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(!rt.block_on(o.initiate_system()), "`leak` fails");

    // What the tasks ran had the real values.
    let read = |f: &str| std::fs::read_to_string(work.join(f)).unwrap();
    assert_eq!(read("from-env"), SECRET);
    assert_eq!(read("url"), format!("postgres://app:{SECRET}@db/app"));
    assert_eq!(read("token"), TOKEN);
    assert_eq!(read("app.conf"), format!("password={SECRET}\n"));

    // The events: masked where a task printed it.
    let stream = json.text();
    assert_clean("the JSON events", &stream);
    assert!(stream.contains(r#""line":"argument: ***""#), "{stream}");
    assert!(stream.contains("oops: ***"), "{stream}");
    assert_clean("the collected events", &format!("{:?}", collect.events()));

    // The failure, the summary, the report, the outputs, a later plan.
    let failures = format!("{:?}", o.failures());
    assert_clean("the failures", &failures);
    assert!(failures.contains("oops: ***"), "{failures}");
    assert_clean("the summary", &format!("{:?}", o.summary()));
    let report = o.report().unwrap();
    assert_clean("the report", &format!("{report:?}"));
    let shown: String = report.iter().map(|r| r.to_string()).collect();
    assert_clean("the printed report", &shown);
    let vars = &report[0].vars;
    let var = |name: &str| vars.iter().find(|v| v.name == name).unwrap();
    assert!(var("DB_PASSWORD").secret && var("DB_PASSWORD").value == "***");
    assert!(var("TOKEN").secret);
    assert_eq!(var("DB_URL").value, "postgres://app:***@db/app");
    assert!(!var("DB_URL").secret);
    let outputs = o.outputs().unwrap();
    assert_eq!(
        outputs.outputs["DB_URL"].value.as_deref(),
        Some("postgres://app:***@db/app")
    );
    assert!(outputs.outputs["DB_URL"].sensitive);
    assert_clean("the outputs", &serde_json::to_string(&outputs).unwrap());
    assert_clean(
        "a later plan",
        &serde_json::to_string(&o.plan().unwrap()).unwrap(),
    );
    assert_clean("the namespace's variables", &format!("{:?}", ns.report()));

    // The state and the task output log (which has the masked lines).
    let log = o.run_log().unwrap();
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("argument: ***")
    );
    drop(o);
    for (path, text) in files(&state) {
        assert_clean(&path, &text);
    }

    // The process's logs, TRACE and all.
    let logged = logs.text();
    assert!(
        logged.contains("running task"),
        "logs were captured:\n{logged}"
    );
    assert_clean("the logs", &logged);
}

#[derive(InfraModel)]
#[infra(namespace = Vault)]
struct Db {
    #[component(Server::new("db", "debian-12").mem(ctx.nexus.ns.v.PASSWORD))]
    db: Server,
}

namespace! {
    struct Vault for Db {
        extern { PASSWORD }
        db: Role = Role::new("db").host_ref(infra.db),
    }
}

/// A resource argument that reads a secret variable: the proxy resolves the value, the state
/// and the plan see its salted hash — so a changed secret is a change, and nothing reveals it.
#[test]
fn a_resource_argument_reading_a_secret_variable_is_recorded_as_its_hash() {
    use actuator::orchestrate::ResourceAction;
    use actuator::provision::{ProvisionCx, Scope, SimProxy};

    let tmp = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    let orch = |secret: &str| {
        let infra = Db::instance("db");
        let ns = Vault::instance("vault", &infra);
        let o = ActuatorOrchestration::new("vault")
            .infra(&infra)
            .namespace(&ns)
            .proxy(sim.clone())
            .state_dir(tmp.path().join("state"))
            .secret_var("PASSWORD", Secret::new(secret));
        (o, infra, ns)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (mut o, infra, ns) = orch(SECRET);
    // What a proxy resolves is the value itself.
    let cx = ProvisionCx::new(
        infra.world().clone(),
        infra.root().db.at(),
        Scope {
            system: "vault".into(),
            workspace: "default".into(),
            state_id: "x".into(),
        },
    );
    assert_eq!(
        cx.resolve(&Val::<String>::Var(ns.root().v.PASSWORD))
            .unwrap(),
        SECRET
    );
    assert!(rt.block_on(o.initiate_system()), "{:?}", o.failures());
    let recorded = sim.args_of("Db.db").unwrap()["mem"].clone();
    assert!(
        recorded.as_str().unwrap().starts_with("sha256:"),
        "{recorded}"
    );
    drop(o);
    for (path, text) in files(&tmp.path().join("state")) {
        assert_clean(&path, &text);
    }

    // Another secret: an update of `mem`, from one hash to another.
    let (mut o, _infra, _ns) = orch("another-secret-value");
    let plan = o.plan().unwrap();
    let change = &plan.resources[0];
    assert_eq!(change.action, ResourceAction::Update, "{plan:?}");
    assert_eq!(change.changes[0].arg, "mem");
    assert_ne!(change.changes[0].old, change.changes[0].new);
    let shown = serde_json::to_string(&plan).unwrap();
    assert_clean("the plan", &shown);
    assert!(!shown.contains("another-secret-value"), "{shown}");
}

/// A resource with a password of its own (not read from a variable).
#[derive(Resource, Clone, Debug)]
#[resource(kind = "test.Database")]
struct Database {
    name: String,
    password: Secret,
}

#[derive(InfraModel)]
struct Store {
    #[component(Database { name: "db".into(), password: Secret::new(SECRET) })]
    db: Database,
}

/// A secret argument of a new state's first `up` is hashed with the salt the `up` gives the
/// state, not with the none its plan saw: the next plan finds nothing changed.
#[test]
fn a_secret_argument_of_a_first_up_is_hashed_with_the_new_states_salt() {
    use actuator::orchestrate::ResourceAction;
    use actuator::provision::SimProxy;

    let tmp = tempfile::tempdir().unwrap();
    let sim = Arc::new(SimProxy::default());
    let infra = Store::instance("store");
    let mut o = ActuatorOrchestration::new("store")
        .infra(&infra)
        .proxy(sim.clone())
        .state_dir(tmp.path().join("state"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(o.initiate_system()), "{:?}", o.failures());
    let recorded = sim.args_of("Store.db").unwrap()["password"].clone();
    assert!(
        recorded["secret"].as_str().unwrap().starts_with("sha256:"),
        "{recorded}"
    );
    let plan = o.plan().unwrap();
    assert_eq!(
        plan.resources[0].action,
        ResourceAction::Unchanged,
        "{plan:?}"
    );
    drop(o);
    for (path, text) in files(&tmp.path().join("state")) {
        assert_clean(&path, &text);
    }
}

namespace! {
    struct Declared {
        extern { DIR }
        vars {
            // Taken literally: `!{` in a secret is text, not a reference.
            secret LITERAL = "lit-s3cret-!{NOT_A_VAR}",
            secret COMPUTED = format!("computed-{}", 4711),
            hidden secret UNEXPORTED = "never-in-env-0815",
            // `secret` before `=` is a variable's name, not the keyword.
            secret = "plain",
        }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct DeclaredCfg for Declared {
        defaults { role = ns.web }
        write: Task = ShellTask::new(
            "write",
            r#"printf '%s|%s|%s|%s' "$LITERAL" "$COMPUTED" "${UNEXPORTED:-unset}" "$secret" > "$DIR/seen"; echo "seen: $LITERAL $COMPUTED""#),
    }
}

/// `secret NAME = …` in `namespace!`'s `vars { }`: the same as `Var::secret` — exported (unless
/// `hidden`) and expanded for the task, masked in the report, the events and the state.
#[test]
fn secrets_declared_in_the_namespace_macro() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let ns = Declared::instance("d");
    let cfg = DeclaredCfg::instance("c", &ns);
    let report = &ns.report()[0];
    let var = |name: &str| report.vars.iter().find(|v| v.name == name).unwrap();
    for name in ["LITERAL", "COMPUTED", "UNEXPORTED"] {
        assert!(var(name).secret, "{name}");
        assert_eq!(var(name).value, "***", "{name}");
    }
    assert!(
        var("LITERAL").resolved,
        "a `!{{` in a secret is no reference"
    );
    assert!(!var("UNEXPORTED").in_env);
    assert!(!var("secret").secret && var("secret").value == "plain");

    let json = Buffer::default();
    let mut o = ActuatorOrchestration::new("declared")
        .namespace(&ns)
        .config(&cfg)
        .handler(Arc::new(JsonLines::new(json.clone())))
        .state_dir(&state)
        .var("DIR", tmp.path().display().to_string());
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(rt.block_on(o.initiate_system()), "{:?}", o.failures());
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("seen")).unwrap(),
        "lit-s3cret-!{NOT_A_VAR}|computed-4711|unset|plain"
    );
    let shown = [
        json.text(),
        format!("{:?}", o.report()),
        serde_json::to_string(&o.plan().unwrap()).unwrap(),
    ]
    .join("\n");
    assert!(shown.contains("seen: *** ***"), "{shown}");
    drop(o);
    let stored: String = files(&state).into_iter().map(|(_, t)| t).collect();
    for s in ["lit-s3cret", "computed-4711", "never-in-env-0815"] {
        assert!(!shown.contains(s), "{s} shown:\n{shown}");
        assert!(!stored.contains(s), "{s} stored:\n{stored}");
    }
}
