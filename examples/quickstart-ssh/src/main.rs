//! The quickstart's model pointed at SSH hosts: the same infra, namespace and config as
//! `examples/quickstart`, with its tasks run by the SSH agent instead of the local one.
//!
//! Against the repository's test sshd (loopback, port 2222, user `actuator-test`):
//!
//! ```sh
//! scripts/sshd.sh start && eval "$(scripts/sshd.sh env)"
//! cargo run -p quickstart-ssh                # plan, up, status, down; then shows the result
//! cargo run -p quickstart-ssh -- up          # or any command of the ready-made command line
//! ```
//!
//! Against your own hosts, set the addresses and the login (each has a default):
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `QUICKSTART_FRONT` | address of the front host | `127.0.0.2` |
//! | `QUICKSTART_APPS` | addresses of the app hosts, comma-separated (one app each) | `127.0.0.3,127.0.0.4,127.0.0.5` |
//! | `ACTUATOR_SSH_PORT` | SSH port (a host may also say `host:port`) | `22` |
//! | `ACTUATOR_SSH_USER` | remote user | the current user |
//! | `ACTUATOR_SSH_KEY` | private key file | ssh-agent, then `~/.ssh/id_*` |
//! | `ACTUATOR_SSH_KNOWN_HOSTS` | known hosts file (new hosts are recorded) | `~/.ssh/known_hosts` |
//! | `ACTUATOR_SSH_STRICT` | `1`: refuse hosts not in the known hosts file | accept new |
//!
//! The tasks write into `/tmp/actuator-quickstart-ssh` on each host.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use actuator::cli::{self, Cli};
use actuator::exec::{Action, ExecAgent, ExecTask};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_ssh::{HostKeyPolicy, SshAgent, SshOptions};

/// The work directory on every host.
const WORKDIR: &str = "/tmp/actuator-quickstart-ssh";

fn front_address() -> String {
    std::env::var("QUICKSTART_FRONT").unwrap_or_else(|_| "127.0.0.2".into())
}

fn app_addresses() -> Vec<String> {
    std::env::var("QUICKSTART_APPS")
        .unwrap_or_else(|_| "127.0.0.3,127.0.0.4,127.0.0.5".into())
        .split(',')
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect()
}

/// The address of app `key` (keys are 1, 2, …).
fn app_address(key: &str) -> String {
    let apps = app_addresses();
    let i: usize = key.parse().unwrap_or(1);
    apps.get(i.saturating_sub(1))
        .cloned()
        .unwrap_or_else(front_address)
}

/// The hosts: a front and one host per app, all reached over SSH.
#[derive(InfraModel)]
struct Hosts {
    #[component(StaticServer::new("front", front_address()))]
    front: StaticServer,
    #[component(MultiResource::new(StaticServer::new("app", app_address(ctx.name))))]
    apps: MultiResource<StaticServer>,
}

namespace! {
    /// A front and the apps; each app's variables are templates over its own key.
    struct Site for Hosts {
        vars {
            WORKDIR = WORKDIR,
            BASE_PORT = "80",
            APP_PORT = "!{BASE_PORT}!{APP_ID}",
            APP_URL = "http://!{APP_HOST}:!{APP_PORT}/",
            hidden BANNER = "built by actuator over ssh",
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
    /// The quickstart's tasks: make the work directory on every host, write each app's config
    /// from a template, check it, then gather the apps' URLs on the front.
    struct Setup for Site {
        // Shell lines read variables from the environment, double-quoted ("$WORKDIR"): a `!{VAR}`
        // in a shell line would be pasted in as shell syntax (see `ShellTask`).
        workdir: MultiTask = MultiTask::new("workdir", ShellTask::new("workdir", r#"mkdir -p "$WORKDIR""#), q.apps.all()),
        front_dir: Task = ShellTask::new("front_dir", r#"mkdir -p "$WORKDIR""#).role(ns.front),
        app_conf: MultiTask = MultiTask::new(
            "app_conf",
            ProcessCopyFileTask::new("app_conf", "!{WORKDIR}/!{APP_HOST}.conf")
                .content("# !{BANNER}\nlisten !{APP_PORT}\nurl !{APP_URL}\n")
                .mode(0o640),
            q.apps.all()),
        check: MultiTask = MultiTask::new(
            "check", CommandTask::new("check", "grep -q listen !{WORKDIR}/!{APP_HOST}.conf"), q.apps.all()),
        front: Task = ShellTask::new("front", r#"printf '%s\n' "$APP_URL" > "$WORKDIR/front-url.txt"; ls "$WORKDIR" > "$WORKDIR/listing.txt""#)
            .role(ns.front)
            .creates("!{WORKDIR}/listing.txt"),
        deps { workdir & front_dir | app_conf | check | front }
    }
}

/// The SSH agent, configured from the environment (see the module docs).
fn agent() -> SshAgent {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let known_hosts = env("ACTUATOR_SSH_KNOWN_HOSTS")
        .map(PathBuf::from)
        .unwrap_or_else(HostKeyPolicy::default_path);
    SshAgent::new(SshOptions {
        port: env("ACTUATOR_SSH_PORT")
            .and_then(|p| p.parse().ok())
            .unwrap_or(22),
        default_user: env("ACTUATOR_SSH_USER"),
        default_key: env("ACTUATOR_SSH_KEY").map(PathBuf::from),
        host_keys: if env("ACTUATOR_SSH_STRICT").as_deref() == Some("1") {
            HostKeyPolicy::Strict(known_hosts)
        } else {
            HostKeyPolicy::AcceptNew(known_hosts)
        },
        ..SshOptions::default()
    })
}

fn orchestration() -> ActuatorOrchestration {
    let infra = Hosts::instance("hosts");
    let ns = Site::instance("site", &infra);
    for k in 1..=app_addresses().len().max(1) {
        ns.index(ns.root().apps, k);
    }
    let cfg = Setup::instance("setup", &ns);
    ActuatorOrchestration::new("quickstart-ssh")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .agent(Arc::new(agent()))
}

/// Runs one shell line on the front host (outside the model: the tour's own clean-up and check).
fn on_front(line: &str) -> Result<String, String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let task = ExecTask::new("tour", Action::Shell(line.into())).host(front_address());
    runtime
        .block_on(agent().run(task))
        .map(|out| out.stdout)
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    if std::env::args().len() > 1 {
        return cli::main(orchestration);
    }
    // The tour: the same commands a user would type, one after the other, on a fresh state.
    if let Err(e) = on_front(&format!("rm -rf {WORKDIR}")) {
        eprintln!("cannot reach the front host over SSH: {e}");
        return ExitCode::from(cli::EXIT_FAILED);
    }
    let state = std::env::temp_dir().join("actuator-quickstart-ssh-state");
    let _ = std::fs::remove_dir_all(&state);
    for line in ["plan", "up", "status", "down --yes"] {
        println!("\n$ quickstart-ssh {line}");
        let mut args =
            Cli::parse_from_words(std::iter::once("quickstart-ssh").chain(line.split(' ')))
                .expect("the tour's command lines parse");
        args.state = Some(state.clone());
        let code = cli::run(args, orchestration());
        if code != cli::EXIT_OK {
            return ExitCode::from(code);
        }
    }
    match on_front(&format!(
        "cd {WORKDIR} && cat front-url.txt listing.txt && id -un"
    )) {
        Ok(text) => {
            println!("\n{WORKDIR} on {}:\n{text}", front_address());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot read the result: {e}");
            ExitCode::from(cli::EXIT_FAILED)
        }
    }
}
