//! The ready-made command line for a model binary: `plan`, `up`, `down`, `status`, `graph`, `report`.
//!
//! ```no_run
//! use actuator::orchestrate::ActuatorOrchestration;
//! fn main() -> std::process::ExitCode {
//!     actuator::cli::main(|| {
//!         // build the models and proxies here
//!         ActuatorOrchestration::new("my-system")
//!     })
//! }
//! ```
//!
//! Exit codes, for scripts: [`EXIT_OK`] 0, [`EXIT_FAILED`] 1 (a resource or task failed; everything
//! is reported), [`EXIT_USAGE`] 2 (bad command line), [`EXIT_INVALID`] 3 (the model cannot be run:
//! no proxy for a resource, a dependency cycle, an unreadable or locked state), [`EXIT_INTERRUPTED`]
//! 130 (Ctrl-C: the state records where to resume).

mod progress;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::events::{EventHandler, Fanout, JsonLines, TracingHandler};
use crate::orchestrate::{Action, ActuatorOrchestration, FailureKind, GraphFormat, TaskAction};

/// Success.
pub const EXIT_OK: u8 = 0;
/// A resource or task failed.
pub const EXIT_FAILED: u8 = 1;
/// Bad command line.
pub const EXIT_USAGE: u8 = 2;
/// The model cannot be run as given.
pub const EXIT_INVALID: u8 = 3;
/// Interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The command line.
#[derive(Parser, Debug)]
#[command(about = "Provision, configure and tear down the system this binary models")]
pub struct Args {
    /// Directory of the state (default: `.actuator/<system>/`).
    #[arg(long, global = true)]
    pub state: Option<PathBuf>,
    /// Print one JSON event per line on stdout instead of the progress view.
    #[arg(long, global = true)]
    pub json: bool,
    /// Most resources or tasks in flight at once.
    #[arg(long, global = true, default_value_t = 10)]
    pub max_concurrency: usize,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what `up` would create, in what order, and every unresolved variable.
    Plan,
    /// Provision and configure (resumes a previous, interrupted or failed `up`).
    Up,
    /// Tear down everything the state records.
    Down,
    /// Show what the state records.
    Status,
    /// Print the dependency graph.
    Graph {
        /// Output syntax.
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
    },
    /// Show every variable of every role.
    Report,
}

/// Graph syntax.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Graphviz.
    Dot,
    /// Mermaid.
    Mermaid,
}

/// Parses the command line, builds the orchestration with `build`, and runs the command.
pub fn main(build: impl FnOnce() -> ActuatorOrchestration) -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    ExitCode::from(run(args, build()))
}

/// Runs one command; returns the exit code.
pub fn run(args: Args, orch: ActuatorOrchestration) -> u8 {
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // Client libraries that log credentials at debug level never get past INFO, whatever
    // RUST_LOG asks for.
    for target in orch.secret_log_targets() {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
    let mut orch = orch.max_concurrency(args.max_concurrency);
    if let Some(dir) = &args.state {
        orch = orch.state_dir(dir.clone());
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return EXIT_INVALID;
        }
    };
    match args.command {
        Command::Plan => plan(&mut orch, args.json),
        Command::Status => status(&mut orch, args.json),
        Command::Graph { format } => match orch.plan() {
            Ok(p) => {
                print!(
                    "{}",
                    p.graph(match format {
                        Format::Dot => GraphFormat::Dot,
                        Format::Mermaid => GraphFormat::Mermaid,
                    })
                );
                EXIT_OK
            }
            Err(e) => invalid(&e),
        },
        Command::Report => {
            for r in orch.report().unwrap_or_default() {
                print!("{r}");
            }
            EXIT_OK
        }
        Command::Up | Command::Down => {
            let up = matches!(args.command, Command::Up);
            let handler: Arc<dyn EventHandler> = if args.json {
                Arc::new(JsonLines::new(std::io::stdout()))
            } else if std::io::stderr().is_terminal() {
                Arc::new(progress::Progress::new())
            } else {
                Arc::new(progress::Lines)
            };
            let orch_h = Arc::new(Fanout(vec![handler, Arc::new(TracingHandler)]));
            let mut orch = orch.handler(orch_h);
            let cancel = orch.cancel_token();
            runtime.block_on(async {
                let ctrl_c = tokio::spawn(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        cancel.cancel();
                    }
                });
                let ok = if up {
                    orch.initiate_system().await
                } else {
                    orch.teardown_system().await
                };
                ctrl_c.abort();
                if ok {
                    return EXIT_OK;
                }
                if orch.cancel_token().is_cancelled() {
                    eprintln!(
                        "interrupted: run `{}` again to resume",
                        if up { "up" } else { "down" }
                    );
                    return EXIT_INTERRUPTED;
                }
                for f in orch.failures() {
                    eprintln!("error: {:?} {}: {}", f.phase, f.task, f.error);
                }
                // A model that cannot run (or a state that cannot be used) is not a failed run.
                let invalid_run = orch.failures().iter().any(|f| f.kind != FailureKind::Run);
                if invalid_run {
                    EXIT_INVALID
                } else {
                    EXIT_FAILED
                }
            })
        }
    }
}

fn invalid(msg: &str) -> u8 {
    eprintln!("error: {msg}");
    EXIT_INVALID
}

fn plan(orch: &mut ActuatorOrchestration, json: bool) -> u8 {
    let p = match orch.plan() {
        Ok(p) => p,
        Err(e) => return invalid(&e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&p).unwrap_or_default());
    } else {
        for r in p.resources.iter().filter(|r| r.action != Action::Unchanged) {
            let why = r
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            println!("  {:<3} {:<40} {:<18}{why}", r.action.sign(), r.key, r.kind);
            for c in &r.changes {
                let forces = if c.forces_replacement && r.action == Action::Replace {
                    "  # forces replacement"
                } else {
                    ""
                };
                println!("        {}: {} -> {}{forces}", c.arg, c.old, c.new);
            }
        }
        for t in p.tasks.iter().filter(|t| t.action != TaskAction::Skip) {
            let why = t
                .reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            let verb = if t.action == TaskAction::Run {
                "run"
            } else {
                "re-run"
            };
            println!("  {verb:<6} {}{why}", t.name);
        }
        for u in &p.unresolved {
            println!(
                "  unresolved: {}: {} needs {}",
                u.role, u.variable, u.missing
            );
        }
        for e in &p.errors {
            println!("  error: {}: {}", e.key, e.error);
        }
        println!("{}", p.summary_line());
    }
    if p.has_errors() {
        EXIT_INVALID
    } else {
        EXIT_OK
    }
}

fn status(orch: &mut ActuatorOrchestration, json: bool) -> u8 {
    let st = match orch.state() {
        Ok(s) => s,
        Err(e) => return invalid(&e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&st).unwrap_or_default());
        return EXIT_OK;
    }
    println!(
        "system {}: {}",
        orch.system(),
        st.meta().get("status").map_or("never run", String::as_str)
    );
    for e in st.iter() {
        println!("  {:<50} {:<18} {:?}", e.key, e.kind, e.status);
    }
    EXIT_OK
}
