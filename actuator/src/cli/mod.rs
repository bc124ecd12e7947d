//! The ready-made command line for a model binary: `plan`, `up`, `down`, `refresh`, `status`,
//! `graph`, `report`, `state list|show|mv`, `import` and `completions`.
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
//! is reported), [`EXIT_USAGE`] 2 (bad command line, or `down` without a terminal and without
//! `--yes`; also `plan --detailed-exitcode` with changes pending), [`EXIT_INVALID`] 3 (the model
//! or state cannot be used: no proxy for a resource, a dependency cycle, a locked, damaged or
//! moved state, a saved plan that no longer applies), [`EXIT_INTERRUPTED`] 130 (Ctrl-C: the state
//! records where to resume).

mod commands;
pub(crate) mod out;
mod progress;
mod render;
pub mod state_url;
mod summary;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::orchestrate::ActuatorOrchestration;

/// Success (`plan --detailed-exitcode`: nothing to do).
pub const EXIT_OK: u8 = 0;
/// A resource or task failed.
pub const EXIT_FAILED: u8 = 1;
/// Bad command line; `down` with nobody to ask and no `--yes`; `plan --detailed-exitcode` with
/// changes pending.
pub const EXIT_USAGE: u8 = 2;
/// `plan --detailed-exitcode`: the plan has changes.
pub const EXIT_CHANGES: u8 = 2;
/// The model or the state cannot be used as given.
pub const EXIT_INVALID: u8 = 3;
/// Interrupted by Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// The heading of the options every subcommand takes.
const GLOBAL: &str = "Global options";

const AFTER_HELP: &str = "\
Exit codes:
  0    success (plan --detailed-exitcode: nothing to do)
  1    a resource or task failed (each failure is listed once, at the end)
  2    bad command line; `down` without a terminal and without --yes;
       plan --detailed-exitcode: changes pending
  3    the model or the state cannot be used: no proxy for a resource, a cycle, an
       unresolved variable, a locked, damaged or shared state, a saved plan that no
       longer applies
  130  interrupted by Ctrl-C (run the same command again to resume); a second Ctrl-C
       abandons the calls in flight, whose intents the state keeps for the next run

Environment:
  ACTUATOR_WORKSPACE  the workspace when --workspace is not given
  ACTUATOR_STATE_URL  the state's directory or URL when --state is not given
  ACTUATOR_VAR_NAME   a value for the namespace variable NAME (before --var-file and --var)
  RUST_LOG            log filter, e.g. `RUST_LOG=actuator=debug` (tracing-subscriber's
                      syntax; overrides -v/-q). Logs go to stderr, around the live view.";

/// The command line.
#[derive(Parser, Debug)]
#[command(
    about = "Provision, configure and tear down the system this binary models",
    version,
    after_help = AFTER_HELP,
    propagate_version = true
)]
pub struct Cli {
    /// Directory or URL (`postgres://…`) of the state (default: `$ACTUATOR_STATE_URL`, else
    /// `.actuator/<system>/<workspace>/`).
    #[arg(long, global = true, value_name = "DIR|URL", help_heading = GLOBAL)]
    pub state: Option<PathBuf>,
    /// The workspace (environment): its own state and its own resources, side by side with the
    /// others' (default: `default`).
    #[arg(long, short = 'w', global = true, env = "ACTUATOR_WORKSPACE", value_name = "NAME",
          help_heading = GLOBAL,
          value_parser = parse_workspace)]
    pub workspace: Option<String>,
    /// Machine-readable output on stdout: `plan`, `status`, `report`, `outputs` and `state`
    /// as one JSON document; `up`, `down` and `refresh` as one JSON event per line, ending with
    /// the run's `summary` event; `graph`, `import` and `state mv` as one such event.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Most resources or tasks in flight at once.
    #[arg(long, global = true, default_value_t = 10, value_name = "N", help_heading = GLOBAL,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_concurrency: u32,
    /// More detail: unchanged resources and skipped tasks in plans, info logs (-vv: debug logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet",
          help_heading = GLOBAL)]
    pub verbose: u8,
    /// Less: no live view, errors only in the logs.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// A value for the namespace variable NAME (an `extern` one, or a new value for one of its
    /// own); repeatable, the last one given wins.
    #[arg(long = "var", global = true, value_name = "NAME=VALUE", help_heading = GLOBAL)]
    pub vars: Vec<String>,
    /// Variable values from a TOML or JSON file of `NAME = value`; repeatable, read in order
    /// before the `--var`s.
    #[arg(long = "var-file", global = true, value_name = "FILE", help_heading = GLOBAL)]
    pub var_files: Vec<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// The program's name, for messages and completions (set by [`main`]).
    #[arg(skip)]
    pub bin: String,
}

/// Which resources a plan covers (`plan`, `up`, `down`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Targets {
    /// Only this model path (and what it needs); repeatable.
    #[arg(long = "target", value_name = "PATH")]
    pub targets: Vec<String>,
    /// Leave this model path (and what needs it) alone; repeatable.
    #[arg(long = "exclude", value_name = "PATH")]
    pub excludes: Vec<String>,
    /// Allow deleting or replacing resources the model protects.
    #[arg(long)]
    pub allow_destroy_protected: bool,
}

/// What a plan changes beyond the model (`plan`, `up`).
#[derive(clap::Args, Debug, Clone)]
pub struct Changes {
    /// Read every recorded resource from its cloud first (drift); `--refresh=false` plans from
    /// the state alone.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub refresh: bool,
    /// Replace this resource (model path) even if nothing changed; repeatable.
    #[arg(long = "replace", value_name = "PATH")]
    pub replace: Vec<String>,
    /// Run these tasks again even if their inputs did not change; without names, every task.
    #[arg(long, value_name = "TASK", num_args = 0..)]
    pub reconfigure: Option<Vec<String>>,
}

impl Default for Changes {
    fn default() -> Self {
        Changes {
            refresh: true,
            replace: Vec::new(),
            reconfigure: None,
        }
    }
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show what `up` would do: each resource to create, update, replace or destroy, each task
    /// to run, and why.
    Plan {
        /// Replacements and re-runs asked for, and the refresh.
        #[command(flatten)]
        changes: Changes,
        /// What the plan covers.
        #[command(flatten)]
        targets: Targets,
        /// Show what `down` would delete instead.
        #[arg(long)]
        destroy: bool,
        /// Save the plan: `up FILE` applies exactly it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Exit 0 when there is nothing to do, 2 when there are changes (1 and 3 as usual).
        #[arg(long)]
        detailed_exitcode: bool,
        /// List what the clouds hold tagged for this system and workspace, whatever the state
        /// says (a lost state's resources).
        #[arg(long, conflicts_with_all = ["out", "destroy"])]
        discover: bool,
    },
    /// Apply the plan: create, update, replace and delete resources, then run the tasks that
    /// need to (resumes an interrupted or failed `up`).
    Up {
        /// A plan saved by `plan --out`: applied exactly, or refused if the state or the cloud
        /// moved since.
        #[arg(value_name = "PLAN_FILE",
              conflicts_with_all = ["targets", "excludes", "replace", "reconfigure", "refresh",
                                    "allow_destroy_protected"])]
        plan_file: Option<PathBuf>,
        /// Replacements and re-runs asked for, and the refresh.
        #[command(flatten)]
        changes: Changes,
        /// What the plan covers.
        #[command(flatten)]
        targets: Targets,
    },
    /// Delete what the state records, dependents first (asks first on a terminal).
    Down {
        /// Do not ask: needed when there is no terminal to ask on.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Delete what the clouds hold tagged for this system and workspace, whatever the state
        /// says (a lost state's resources).
        #[arg(long, conflicts_with_all = ["targets", "excludes"])]
        discover: bool,
        /// What the plan covers.
        #[command(flatten)]
        targets: Targets,
    },
    /// Read every recorded resource from its cloud and record what changed.
    Refresh,
    /// Show what the state records.
    Status,
    /// Print the graph of resources, roles and tasks.
    Graph {
        /// Output syntax.
        #[arg(long, value_enum, default_value_t = Format::Dot)]
        format: Format,
    },
    /// Show every variable of every role.
    Report,
    /// Show each role's host and address and the outputs the model marks, as the last `up`
    /// left them.
    Outputs,
    /// Look at, edit or move the state (between a directory and a shared store).
    #[command(subcommand)]
    State(StateCommand),
    /// Free a shared state's lease held by a run that is gone (the id the "in use" error names).
    ForceUnlock {
        /// The lease's id.
        lease_id: String,
    },
    /// Adopt an existing cloud resource as the model resource at PATH.
    Import {
        /// Model path of the resource.
        path: String,
        /// The cloud's id of the resource.
        id: String,
    },
    /// Print a shell completion script (`source <(my-system completions bash)`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `state …`.
#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// List the keys the state records.
    List,
    /// Show one recorded entry: kind, status, arguments, outputs, dependencies.
    Show {
        /// Model path (or `task:…` key).
        path: String,
    },
    /// Write the state (a snapshot: every entry and its metadata) to FILE, or `-` for stdout.
    /// Takes no lock: works while a run holds the state.
    Pull {
        /// Where to write it (mode 0600), or `-`.
        file: PathBuf,
    },
    /// Replace the state by FILE (as `state pull` wrote it; `-` for stdin). Refused when the
    /// state has records FILE lacks (a newer record, another state altogether) unless --force.
    Push {
        /// The snapshot to push, or `-`.
        file: PathBuf,
        /// Replace the state even if it holds records FILE lacks.
        #[arg(long)]
        force: bool,
    },
    /// Rename a model path in the state (a renamed field, a moved component): nothing is
    /// recreated.
    Mv {
        /// The path the state records.
        from: String,
        /// The model's new path.
        to: String,
    },
}

/// Graph syntax.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    /// Graphviz.
    Dot,
    /// Mermaid.
    Mermaid,
}

/// A workspace name: it names a directory and tags every resource.
fn parse_workspace(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 63
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err("1 to 63 letters, digits, `-`, `_` or `.`, starting with a letter or digit".into())
    }
}

impl Cli {
    /// Parses a command line (`argv[0]` first): what [`main`] does, for a program that wants to
    /// look at the arguments before running them, or run a fixed list (a tour, a test).
    ///
    /// ```
    /// use actuator::cli::{Cli, Command};
    /// let a = Cli::parse_from_words(["my-system", "--workspace", "prod", "plan"]).unwrap();
    /// assert_eq!(a.workspace.as_deref(), Some("prod"));
    /// assert!(matches!(a.command, Command::Plan { .. }));
    /// assert_eq!(a.bin, "my-system");
    /// ```
    pub fn parse_from_words<I, T>(words: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let words: Vec<OsString> = words.into_iter().map(Into::into).collect();
        let bin = words
            .first()
            .map(|w| {
                std::path::Path::new(w)
                    .file_name()
                    .unwrap_or(w)
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "actuator".into());
        let matches = Cli::command()
            .name(bin.clone())
            .bin_name(bin.clone())
            .try_get_matches_from(words)?;
        let mut args = Cli::from_arg_matches(&matches)?;
        args.bin = bin;
        Ok(args)
    }
}

/// Parses the command line, builds the orchestration with `build`, and runs the command.
pub fn main(build: impl FnOnce() -> ActuatorOrchestration) -> ExitCode {
    let args = match Cli::parse_from_words(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    ExitCode::from(run(args, build()))
}

/// Runs one command; returns the exit code.
pub fn run(args: Cli, orch: ActuatorOrchestration) -> u8 {
    commands::run(args, orch)
}
