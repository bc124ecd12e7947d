//! The ready-made command line: exit codes scripts rely on, and what each command prints.

use std::sync::Arc;

use actuator::cli::{self, Cli, Command, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use actuator::infra::test::Network;
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator::provision::SimProxy;

#[derive(InfraModel)]
struct Local {
    #[component(StaticServer::new("here", "127.0.0.1"))]
    here: StaticServer,
}

#[derive(InfraModel)]
struct NeedsCloud {
    #[component(Network::new("net"))]
    net: Network,
}

namespace! {
    struct Ns for Local {
        web: Role = Role::new("web").host_ref(infra.here),
    }
}

config! {
    struct Ok1 for Ns {
        defaults { role = ns.web }
        fine: Task = ShellTask::new("fine", "true"),
    }
}

config! {
    struct Fails for Ns {
        defaults { role = ns.web }
        broken: Task = ShellTask::new("broken", "exit 3"),
    }
}

/// `sys --state DIR --json --max-concurrency 4 <words>`.
fn args(dir: &std::path::Path, words: &str) -> Cli {
    let dir = dir.display().to_string();
    let mut argv = vec!["sys", "--state", &dir, "--json", "--max-concurrency", "4"];
    argv.extend(words.split_whitespace());
    Cli::parse_from_words(argv).unwrap()
}

fn ok_system() -> ActuatorOrchestration {
    let infra = Local::instance("l");
    let ns = Ns::instance("n", &infra);
    let cfg = Ok1::instance("c", &ns);
    ActuatorOrchestration::new("cli-ok")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
}

#[test]
fn plan_up_status_graph_down_succeed_with_zero() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(cli::run(args(tmp.path(), "plan"), ok_system()), EXIT_OK);
    assert_eq!(cli::run(args(tmp.path(), "up"), ok_system()), EXIT_OK);
    assert_eq!(cli::run(args(tmp.path(), "status"), ok_system()), EXIT_OK);
    assert_eq!(
        cli::run(args(tmp.path(), "graph --format mermaid"), ok_system()),
        EXIT_OK
    );
    assert_eq!(cli::run(args(tmp.path(), "report"), ok_system()), EXIT_OK);
    assert_eq!(
        cli::run(args(tmp.path(), "down --yes"), ok_system()),
        EXIT_OK
    );
}

#[test]
fn a_failed_task_exits_with_one() {
    let tmp = tempfile::tempdir().unwrap();
    let infra = Local::instance("l");
    let ns = Ns::instance("n", &infra);
    let cfg = Fails::instance("c", &ns);
    let o = ActuatorOrchestration::new("cli-fail")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg);
    assert_eq!(cli::run(args(tmp.path(), "up"), o), EXIT_FAILED);
}

#[test]
fn a_model_that_cannot_run_exits_with_three() {
    let tmp = tempfile::tempdir().unwrap();
    // No proxy handles test.Network: plan says so, up refuses before any call.
    let build = || ActuatorOrchestration::new("cli-invalid").infra(&NeedsCloud::instance("x"));
    assert_eq!(cli::run(args(tmp.path(), "plan"), build()), EXIT_INVALID);
    assert_eq!(cli::run(args(tmp.path(), "up"), build()), EXIT_INVALID);
    // With the proxy it runs.
    let o = build().proxy(Arc::new(SimProxy::default()));
    assert_eq!(cli::run(args(tmp.path(), "up"), o), EXIT_OK);
}

#[test]
fn a_locked_state_exits_with_three() {
    let tmp = tempfile::tempdir().unwrap();
    let _holder = actuator::state::FileStore::open(tmp.path()).unwrap();
    assert_eq!(cli::run(args(tmp.path(), "up"), ok_system()), EXIT_INVALID);
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let e = Cli::parse_from_words(["sys", "launch"]).unwrap_err();
    assert!(e.use_stderr());
    assert_eq!(e.exit_code(), i32::from(EXIT_USAGE));
    let a = Cli::parse_from_words([
        "sys",
        "--max-concurrency",
        "3",
        "graph",
        "--format",
        "mermaid",
    ])
    .unwrap();
    assert_eq!(a.max_concurrency, 3);
    assert!(matches!(
        a.command,
        Command::Graph {
            format: cli::Format::Mermaid
        }
    ));
    // Zero workers would never run anything: refused with the valid range.
    let e = Cli::parse_from_words(["sys", "--max-concurrency", "0", "up"]).unwrap_err();
    assert_eq!(e.exit_code(), i32::from(EXIT_USAGE));
    assert!(e.to_string().contains("1..=100000"), "{e}");
    // A workspace name becomes a directory and a tag.
    for bad in ["", "a/b", "..", "-x", "sp ace"] {
        let e = Cli::parse_from_words(["sys", "--workspace", bad, "plan"]).unwrap_err();
        assert_eq!(e.exit_code(), i32::from(EXIT_USAGE), "{bad:?}");
    }
    // A saved plan is applied as it was made: no options beside it.
    let e = Cli::parse_from_words(["sys", "up", "plan.json", "--target", "x"]).unwrap_err();
    assert_eq!(e.exit_code(), i32::from(EXIT_USAGE));
    // `--reconfigure` alone means every task; with names, those.
    let a = Cli::parse_from_words(["sys", "up", "--reconfigure"]).unwrap();
    assert!(
        matches!(a.command, Command::Up { ref changes, .. } if changes.reconfigure == Some(vec![]))
    );
    let a = Cli::parse_from_words(["sys", "plan", "--refresh=false", "--reconfigure", "a", "b"])
        .unwrap();
    assert!(matches!(a.command, Command::Plan { ref changes, .. }
        if !changes.refresh && changes.reconfigure == Some(vec!["a".into(), "b".into()])));
}
