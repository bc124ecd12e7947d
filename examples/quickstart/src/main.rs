//! The quickstart: a small system on this machine, no cloud account needed.
//!
//! `cargo run -p quickstart` walks through it: `plan`, `up` (the static hosts are "provisioned",
//! then the config tasks write templated files into a work directory and run commands, in dependency
//! order), `status`, and `down`. With arguments it is the ready-made command line of any model binary:
//! `cargo run -p quickstart -- plan | up | down | status | graph --format mermaid | report | --help`.

use std::process::ExitCode;

use actuator::cli::{self, Cli};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;

/// The hosts: this machine, once as the front and once per app (keyed, so the namespace can grow them).
#[derive(InfraModel)]
struct Hosts {
    #[component(StaticServer::new("front", "127.0.0.1"))]
    front: StaticServer,
    #[component(MultiResource::new(StaticServer::new("app", "127.0.0.1")))]
    apps: MultiResource<StaticServer>,
}

/// Where the tasks write: a fresh directory under the system's temp dir.
fn workdir() -> String {
    std::env::temp_dir()
        .join("actuator-quickstart")
        .display()
        .to_string()
}

namespace! {
    /// A front and three apps; each app's variables are templates over its own key.
    struct Site for Hosts {
        vars {
            WORKDIR = workdir(),
            BASE_PORT = "80",
            APP_PORT = "!{BASE_PORT}!{APP_ID}",
            APP_URL = "http://!{APP_HOST}:!{APP_PORT}/",
            hidden BANNER = "built by actuator",
        }
        front: Role = Role::new("front").host_ref(infra.front).var("APP_HOST", "localhost").var("APP_ID", "00"),
        apps: MultiRole = MultiRole::new(
            Role::new("app")
                .host_ref(infra.apps[ctx.name])
                .var("APP_ID", format!("{:0>2}", ctx.name))
                .var("APP_HOST", format!("app{}.local", ctx.name))),
    }
}

config! {
    /// Make the work directory, write each app's config from a template, check them, then write the
    /// front's upstream list once every app is done.
    struct Setup for Site {
        // Shell lines read variables from the environment, double-quoted ("$WORKDIR"): a `!{VAR}`
        // in a shell line would be pasted in as shell syntax (see `ShellTask`).
        workdir: Task = ShellTask::new("workdir", r#"mkdir -p "$WORKDIR""#).role(ns.front),
        app_conf: MultiTask = MultiTask::new(
            "app_conf",
            ProcessCopyFileTask::new("app_conf", "!{WORKDIR}/!{APP_HOST}.conf")
                .content("# !{BANNER}\nlisten !{APP_PORT}\nurl !{APP_URL}\n")
                .mode(0o640),
            q.apps.all()),
        check: MultiTask = MultiTask::new(
            "check", CommandTask::new("check", "grep -q listen !{WORKDIR}/!{APP_HOST}.conf"), q.apps.all()),
        front: Task = ShellTask::new("front", r#"cat "$WORKDIR"/app*.conf | grep url > "$WORKDIR/upstreams.txt""#)
            .role(ns.front)
            .creates("!{WORKDIR}/upstreams.txt"),
        deps { workdir | app_conf | check | front }
    }
}

fn orchestration() -> ActuatorOrchestration {
    let infra = Hosts::instance("hosts");
    let ns = Site::instance("site", &infra);
    for k in 1..=3 {
        ns.index(ns.root().apps, k);
    }
    let cfg = Setup::instance("setup", &ns);
    ActuatorOrchestration::new("quickstart")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        return cli::main(orchestration);
    }
    // The tour: the same commands a user would type, one after the other (`down` is told not to
    // ask: the tour runs without anyone to answer).
    let _ = std::fs::remove_dir_all(std::path::Path::new(&workdir()));
    for line in ["plan", "up", "status", "down --yes"] {
        println!("\n$ quickstart {line}");
        let args = Cli::parse_from_words(std::iter::once("quickstart").chain(line.split(' ')))
            .expect("the tour's command lines parse");
        let code = cli::run(args, orchestration());
        if code != cli::EXIT_OK {
            return ExitCode::from(code);
        }
    }
    let upstreams = std::path::Path::new(&workdir()).join("upstreams.txt");
    println!(
        "\n{}:\n{}",
        upstreams.display(),
        std::fs::read_to_string(&upstreams).unwrap_or_default()
    );
    ExitCode::SUCCESS
}
