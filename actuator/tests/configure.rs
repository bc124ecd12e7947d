//! Config tasks run through `ActuatorOrchestration` with the local agent: templated files, order,
//! defaults, errors reported before anything runs, task retries, resume, and no secrets in the state.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actuator::events::{Collect, Event, Phase, RunStatus};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Hosts {
    #[component(StaticServer::new("front", "127.0.0.1"))]
    front: StaticServer,
    #[component(MultiResource::new(StaticServer::new("app", "127.0.0.1")))]
    apps: MultiResource<StaticServer>,
}

namespace! {
    struct Site for Hosts {
        extern { DIR }
        vars {
            PORT = "80!{ID}",
            GREETING = "hello from !{NAME}",
            hidden SECRETISH = "not exported",
        }
        front: Role = Role::new("front").host_ref(infra.front).var("NAME", "front").var("ID", "00"),
        apps: MultiRole = MultiRole::new(
            Role::new("app").host_ref(infra.apps[ctx.name]).var("NAME", format!("app{}", ctx.name)).var("ID", format!("{:0>2}", ctx.name))),
    }
}

config! {
    struct Setup for Site {
        defaults { role = ns.front }
        mkdir: Task = ShellTask::new("mkdir", "mkdir -p !{DIR}"),
        conf: MultiTask = MultiTask::new(
            "conf",
            ProcessCopyFileTask::new("conf", "!{DIR}/!{NAME}.conf").content("port=!{PORT}\ngreeting=!{GREETING}\n"),
            q.apps.all()),
        env: MultiTask = MultiTask::new(
            "env", ShellTask::new("env", "printf '%s|%s' \"$PORT\" \"${SECRETISH:-unset}\" > !{DIR}/!{NAME}.env"), q.apps.all()),
        argv: Task = CommandTask::new("argv", "touch '!{DIR}/a file; $(echo no)'"),
        marker: Task = ShellTask::new("marker", "echo ran >> !{DIR}/marker").creates("!{DIR}/marker"),
        inchdir: Task = ShellTask::new("inchdir", "pwd > where").chdir("!{DIR}"),
        deps { mkdir | conf & env & argv & marker & inchdir }
    }
}

fn system(dir: &Path, apps: u32) -> (ActuatorOrchestration, Arc<Collect>) {
    let infra = Hosts::instance("hosts");
    let ns = Site::instance("site", &infra);
    ns.add_var(&ns.root(), Var::new("DIR", dir.display().to_string()));
    for k in 1..=apps {
        ns.index(ns.root().apps, k);
    }
    let cfg = Setup::instance("setup", &ns);
    let ev = Arc::new(Collect::default());
    let o = ActuatorOrchestration::new("cfg-test")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .handler(ev.clone())
        .state_dir(dir.join("state"));
    (o, ev)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn tasks_write_templated_files_in_dependency_order() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let (mut o, ev) = system(&dir, 2);
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    assert_eq!(
        std::fs::read_to_string(dir.join("app1.conf")).unwrap(),
        "port=8001\ngreeting=hello from app1\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("app2.conf")).unwrap(),
        "port=8002\ngreeting=hello from app2\n"
    );
    // In-env variables are exported (quoted values), hidden ones are not.
    assert_eq!(
        std::fs::read_to_string(dir.join("app2.env")).unwrap(),
        "8002|unset"
    );
    // CommandTask runs no shell: `;` and `$(…)` are part of the file name.
    assert!(dir.join("a file; $(echo no)").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("where")).unwrap().trim(),
        dir.display().to_string()
    );
    // mkdir ran before everything else.
    let started: Vec<String> = ev
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskStarting {
                phase: Phase::Configure,
                task,
                ..
            } => Some(task.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(started[0], "mkdir");
    // `creates`: a second full run (after forgetting the tasks) skips the marker task.
    assert!(rt().block_on(o.teardown_system()));
    assert!(rt().block_on(o.initiate_system()));
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).unwrap(),
        "ran\n"
    );
}

#[test]
fn resume_runs_only_what_has_not_run() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let (mut o, _) = system(&dir, 1);
    assert!(rt().block_on(o.initiate_system()));
    std::fs::remove_file(dir.join("app1.conf")).unwrap();
    // Same system, new process: the state says everything ran, so nothing runs again.
    drop(o);
    let (mut o, ev) = system(&dir, 1);
    assert!(rt().block_on(o.initiate_system()));
    assert!(!dir.join("app1.conf").exists());
    // (The refresh reads the two servers; nothing is created or run.)
    let started: Vec<_> = ev
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::TaskStarting { phase, .. } if *phase != Phase::Refresh))
        .collect();
    assert!(started.is_empty(), "{started:?}");
}

namespace! {
    struct Broken {
        extern { MISSING, DIR }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct BrokenSetup for Broken {
        defaults { role = ns.web }
        first: Task = ShellTask::new("first", "touch !{DIR}/first"),
        bad: Task = ShellTask::new("bad", "echo !{MISSING}"),
        deps { first | bad }
    }
}

#[test]
fn an_unresolved_variable_fails_the_run_before_any_task_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ns = Broken::instance("b");
    ns.add_var(
        &ns.root(),
        Var::new("DIR", tmp.path().display().to_string()),
    );
    let cfg = BrokenSetup::instance("s", &ns);
    let mut o = ActuatorOrchestration::new("broken")
        .namespace(&ns)
        .config(&cfg)
        .memory_state();
    assert!(!rt().block_on(o.initiate_system()));
    // Nothing defines `MISSING`: the plan says so, before provisioning.
    assert_eq!(o.status(), RunStatus::AbortProvision);
    let f = &o.failures()[0];
    assert_eq!(f.task, "bad");
    assert_eq!(f.kind, actuator::orchestrate::FailureKind::Model);
    assert!(
        f.error.contains("`MISSING`") && f.error.contains("Broken.web"),
        "{}",
        f.error
    );
    assert!(!tmp.path().join("first").exists(), "nothing ran");
}

config! {
    struct Flaky for Broken {
        defaults { role = ns.web }
        flaky: Task = ShellTask::new("flaky", "n=$(cat !{DIR}/n 2>/dev/null || echo 0); echo $((n+1)) > !{DIR}/n; [ $n -ge 2 ]")
            .repeat(3, Duration::from_millis(10)),
        never: Task = ShellTask::new("never", "exit 7").repeat(2, Duration::from_millis(1)),
        after: Task = ShellTask::new("after", "touch !{DIR}/after"),
        independent: Task = ShellTask::new("independent", "touch !{DIR}/independent"),
        deps { never | after }
    }
}

#[test]
fn repeat_count_retries_a_task_and_a_final_failure_skips_its_dependents() {
    let tmp = tempfile::tempdir().unwrap();
    let ns = Broken::instance("b");
    ns.add_var(
        &ns.root(),
        Var::new("DIR", tmp.path().display().to_string()),
    );
    ns.add_var(&ns.root(), Var::new("MISSING", "x"));
    let cfg = Flaky::instance("f", &ns);
    let mut o = ActuatorOrchestration::new("flaky")
        .namespace(&ns)
        .config(&cfg)
        .memory_state();
    assert!(!rt().block_on(o.initiate_system()));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("n"))
            .unwrap()
            .trim(),
        "3",
        "third attempt succeeded"
    );
    assert_eq!(o.failures().len(), 1);
    assert_eq!(o.failures()[0].task, "never");
    assert!(
        o.failures()[0].error.contains("status 7") || o.failures()[0].error.contains('7'),
        "{}",
        o.failures()[0].error
    );
    assert!(!tmp.path().join("after").exists(), "dependent skipped");
    assert!(
        tmp.path().join("independent").exists(),
        "independent work finished"
    );
}

config! {
    struct WithPassword for Broken {
        defaults { role = ns.web, remote_user = "deploy", remote_pass = Secret::new("hunter2-very-secret") }
        t: Task = ShellTask::new("t", "true"),
    }
}

#[test]
fn secrets_never_reach_the_state_files_and_they_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let ns = Broken::instance("b");
    ns.add_var(
        &ns.root(),
        Var::new("DIR", tmp.path().display().to_string()),
    );
    ns.add_var(&ns.root(), Var::new("MISSING", "x"));
    let cfg = WithPassword::instance("p", &ns);
    let graph = cfg.graph();
    let task = graph.nodes[0].task.as_ref().unwrap();
    assert_eq!(task.remote_user.as_deref(), Some("deploy"));
    assert!(!format!("{task:?}").contains("hunter2"));
    let state = tmp.path().join("state");
    let mut o = ActuatorOrchestration::new("pw")
        .namespace(&ns)
        .config(&cfg)
        .state_dir(&state);
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    // The state's files and the run's task output log (in `runs/`, 0700).
    let mut dirs = vec![state.clone()];
    while let Some(dir) = dirs.pop() {
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap();
            let mode = f.metadata().unwrap().permissions().mode() & 0o777;
            if f.file_type().unwrap().is_dir() {
                assert_eq!(mode, 0o700, "{:?}", f.path());
                dirs.push(f.path());
                continue;
            }
            let text = std::fs::read_to_string(f.path()).unwrap_or_default();
            assert!(!text.contains("hunter2"), "{:?}", f.path());
            assert_eq!(mode, 0o600, "{:?}", f.path());
        }
    }
    assert_eq!(
        std::fs::metadata(&state).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

config! {
    struct Inner for Site {
        write: Task = ShellTask::new("write", "echo !{NAME} > !{DIR}/inner-!{NAME}"),
    }
}

config! {
    struct Outer for Site {
        defaults { role = ns.front }
        mkdir: Task = ShellTask::new("mkdir", "mkdir -p !{DIR}"),
        per_app: MultiTask = MultiTask::new("pipeline", ConfigClassTask::<Inner>::new("pipeline"), q.apps.all()),
        deps { mkdir | per_app }
    }
}

#[test]
fn a_nested_config_model_runs_once_per_role() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    let infra = Hosts::instance("hosts");
    let ns = Site::instance("site", &infra);
    ns.add_var(&ns.root(), Var::new("DIR", dir.display().to_string()));
    for k in 1..=3 {
        ns.index(ns.root().apps, k);
    }
    let cfg = Outer::instance("outer", &ns);
    let g = cfg.graph();
    assert_eq!(g.task_names(), ["mkdir", "write", "write", "write"]);
    let mut o = ActuatorOrchestration::new("nested")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .memory_state();
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    for k in 1..=3 {
        assert_eq!(
            std::fs::read_to_string(dir.join(format!("inner-app{k}")))
                .unwrap()
                .trim(),
            format!("app{k}")
        );
    }
}

// ---- issue 10, defect 1: a CommandTask keeps argument boundaries ----

namespace! {
    struct ArgvNs {
        extern { DIR, V }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct ArgvSetup for ArgvNs {
        defaults { role = ns.web }
        line: Task = CommandTask::new("line", "!{DIR}/argv.sh line !{V}"),
        quoted: Task = CommandTask::new("quoted", r#"!{DIR}/argv.sh quoted "pre !{V} post" 'and !{V}'"#),
        words: Task = CommandTask::argv("words", ["!{DIR}/argv.sh", "words", "!{V}", "-!{V}-"]),
        local: Task = LocalCommandTask::new("local", "!{DIR}/argv.sh local !{V}"),
        shell: Task = ShellTask::new("shell", r#""$DIR/argv.sh" shell "$V""#),
    }
}

/// The values of the issue, and more: each must arrive as exactly one argument.
const ONE_ARGUMENT: &[&str] = &[
    "x; touch F",
    "two words",
    r#"say "hi" \ back"#,
    "O'Brien",
    "$(touch F) `touch F` | touch F && touch F",
    "a\nnewline",
    "  spaces  around  ",
    "",
];

/// `argv.sh NAME ARGS…` writes `[arg]` per argument to `$DIR/NAME.out`.
fn argv_script(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("argv.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\nout=\"$DIR/$1.out\"; shift\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done > \"$out\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_command_tasks_values_each_arrive_as_exactly_one_argument() {
    for value in ONE_ARGUMENT {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a dir; with spaces");
        std::fs::create_dir(&dir).unwrap();
        argv_script(&dir);
        let ns = ArgvNs::instance("a");
        ns.add_var(&ns.root(), Var::new("DIR", dir.display().to_string()));
        ns.add_var(&ns.root(), Var::new("V", *value));
        let cfg = ArgvSetup::instance("s", &ns);
        let mut o = ActuatorOrchestration::new("argv")
            .namespace(&ns)
            .config(&cfg)
            .memory_state();
        assert!(
            rt().block_on(o.initiate_system()),
            "{value:?}: {:?}",
            o.failures()
        );
        let read = |name: &str| std::fs::read_to_string(dir.join(format!("{name}.out"))).unwrap();
        assert_eq!(read("line"), format!("[{value}]"), "{value:?}");
        assert_eq!(read("quoted"), format!("[pre {value} post][and {value}]"));
        assert_eq!(read("words"), format!("[{value}][-{value}-]"));
        assert_eq!(read("local"), format!("[{value}]"));
        // The safe form of a shell line: the exported variable, double-quoted.
        assert_eq!(read("shell"), format!("[{value}]"));
        assert!(
            !dir.join("F").exists() && !Path::new("F").exists(),
            "{value:?} injected"
        );
    }
}

config! {
    struct UnbalancedQuote for ArgvNs {
        defaults { role = ns.web }
        first: Task = ShellTask::new("first", r#"touch "$DIR/first""#),
        bad: Task = CommandTask::new("bad", "echo 'open !{V}"),
        deps { first | bad }
    }
}

#[test]
fn a_command_line_that_cannot_be_split_fails_before_any_task_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ns = ArgvNs::instance("a");
    ns.add_var(
        &ns.root(),
        Var::new("DIR", tmp.path().display().to_string()),
    );
    // The value's quote plays no part: only the template's own is unbalanced.
    ns.add_var(&ns.root(), Var::new("V", "O'Brien"));
    let cfg = UnbalancedQuote::instance("s", &ns);
    let mut o = ActuatorOrchestration::new("unbalanced")
        .namespace(&ns)
        .config(&cfg)
        .memory_state();
    assert!(!rt().block_on(o.initiate_system()));
    // Nothing defines `MISSING`: the plan says so, before provisioning.
    assert_eq!(o.status(), RunStatus::AbortProvision);
    let f = &o.failures()[0];
    assert_eq!(f.task, "bad");
    assert_eq!(f.kind, actuator::orchestrate::FailureKind::Model);
    assert_eq!(
        f.error,
        "task `bad`: bad command `echo 'open !{V}`: missing closing quote"
    );
    assert!(!tmp.path().join("first").exists(), "nothing ran");
}
