//! The ready-made command line: exit codes scripts rely on, and what each command prints.

use std::sync::Arc;

use actuator::cli::{self, Args, Command, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use actuator::infra::test::Network;
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator::provision::SimProxy;
use clap::Parser;

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

fn args(dir: &std::path::Path, command: Command) -> Args {
    Args {
        state: Some(dir.to_owned()),
        json: true,
        max_concurrency: 4,
        command,
    }
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
    assert_eq!(
        cli::run(args(tmp.path(), Command::Plan), ok_system()),
        EXIT_OK
    );
    assert_eq!(
        cli::run(args(tmp.path(), Command::Up), ok_system()),
        EXIT_OK
    );
    assert_eq!(
        cli::run(args(tmp.path(), Command::Status), ok_system()),
        EXIT_OK
    );
    assert_eq!(
        cli::run(
            args(
                tmp.path(),
                Command::Graph {
                    format: cli::Format::Mermaid
                }
            ),
            ok_system()
        ),
        EXIT_OK
    );
    assert_eq!(
        cli::run(args(tmp.path(), Command::Report), ok_system()),
        EXIT_OK
    );
    assert_eq!(
        cli::run(args(tmp.path(), Command::Down), ok_system()),
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
    assert_eq!(cli::run(args(tmp.path(), Command::Up), o), EXIT_FAILED);
}

#[test]
fn a_model_that_cannot_run_exits_with_three() {
    let tmp = tempfile::tempdir().unwrap();
    // No proxy handles test.Network: plan says so, up refuses before any call.
    let build = || ActuatorOrchestration::new("cli-invalid").infra(&NeedsCloud::instance("x"));
    assert_eq!(
        cli::run(args(tmp.path(), Command::Plan), build()),
        EXIT_INVALID
    );
    assert_eq!(
        cli::run(args(tmp.path(), Command::Up), build()),
        EXIT_INVALID
    );
    // With the proxy it runs.
    let o = build().proxy(Arc::new(SimProxy::default()));
    assert_eq!(cli::run(args(tmp.path(), Command::Up), o), EXIT_OK);
}

#[test]
fn a_locked_state_exits_with_three() {
    let tmp = tempfile::tempdir().unwrap();
    let _holder = actuator::state::FileStore::open(tmp.path()).unwrap();
    assert_eq!(
        cli::run(args(tmp.path(), Command::Up), ok_system()),
        EXIT_INVALID
    );
}

#[test]
fn bad_command_lines_are_usage_errors() {
    let e = Args::try_parse_from(["sys", "launch"]).unwrap_err();
    assert!(e.use_stderr());
    assert_eq!(e.exit_code(), i32::from(EXIT_USAGE));
    let a = Args::try_parse_from([
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
}
