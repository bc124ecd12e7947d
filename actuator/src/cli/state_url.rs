//! Where the command line keeps the state — `--state DIR|URL`, else `ACTUATOR_STATE_URL`, else
//! `.actuator/<system>/<workspace>/` — and the commands that read a state entry by entry or move
//! it between stores: `state list`, `state show PATH`, `state pull FILE`, `state push FILE
//! [--force]`, and `force-unlock LEASE_ID` for a shared store's lease.
//!
//! A URL's scheme must be registered by the model binary (see [`crate::state::location`]):
//!
//! ```no_run
//! use actuator::orchestrate::ActuatorOrchestration;
//! fn main() -> std::process::ExitCode {
//!     // actuator_postgres::register();   // makes `--state postgres://…` work
//!     actuator::cli::main(|| ActuatorOrchestration::new("my-system"))
//! }
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::{EXIT_INVALID, EXIT_OK, invalid};
use crate::orchestrate::ActuatorOrchestration;
use crate::state::State;

/// The environment variable naming the state's location when `--state` is not given: a
/// directory or a URL (`postgres://…`), as `--state` takes.
pub const STATE_URL_ENV: &str = "ACTUATOR_STATE_URL";

/// Points `orch` at the state `--state` names (a directory or a URL), else at
/// [`STATE_URL_ENV`]'s, else leaves the default (`.actuator/<system>/<workspace>/`).
///
/// ```
/// use actuator::cli::state_url::choose;
/// use actuator::orchestrate::ActuatorOrchestration;
/// let o = choose(ActuatorOrchestration::new("web"), Some("postgres://ci:pw@db/states".as_ref()));
/// assert_eq!(o.state_location().unwrap().unwrap().to_string(), "postgres://ci@db/states");
/// let o = choose(ActuatorOrchestration::new("web"), Some("states/web".as_ref()));
/// assert_eq!(o.state_location().unwrap().unwrap().to_string(), "states/web");
/// ```
pub fn choose(orch: ActuatorOrchestration, state: Option<&Path>) -> ActuatorOrchestration {
    match state {
        Some(p) => match p.to_str() {
            Some(s) => orch.state_url(s),
            // Not UTF-8: not a URL, a directory.
            None => orch.state_dir(p),
        },
        None => match std::env::var(STATE_URL_ENV) {
            Ok(url) if !url.is_empty() => orch.state_url(&url),
            _ => orch,
        },
    }
}

/// `state list`, `state show`, `state pull` and `state push`: each works on any store, and
/// none but `push` takes the state's lock or lease.
#[derive(Subcommand, Debug)]
pub enum StateCommand {
    /// List the model path of every entry, in the order they were made.
    List,
    /// Show one entry (kind, status, outputs or intent data, last error) as JSON.
    Show {
        /// Its model path, as `state list` prints it.
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
}

/// Runs a `state` subcommand; returns the exit code.
pub fn run_state(orch: &mut ActuatorOrchestration, command: &StateCommand) -> u8 {
    match command {
        StateCommand::List => match orch.state() {
            Ok(state) => {
                for e in state.iter() {
                    println!("{}", e.key);
                }
                EXIT_OK
            }
            Err(e) => invalid(&e),
        },
        StateCommand::Show { path } => match orch.state() {
            Ok(state) => match state.get(path) {
                Some(entry) => {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(entry).unwrap_or_default()
                    );
                    EXIT_OK
                }
                None => invalid(&format!(
                    "the state has no entry `{path}` (`state list` names them)"
                )),
            },
            Err(e) => invalid(&e),
        },
        StateCommand::Pull { file } => {
            let state = match orch.pull_state() {
                Ok(s) => s,
                Err(e) => return invalid(&e),
            };
            match write_snapshot(&state, file) {
                Ok(()) => {
                    eprintln!(
                        "pulled {} entries (up to record {}){}",
                        state.len(),
                        state.last_seq(),
                        if file.as_os_str() == "-" {
                            String::new()
                        } else {
                            format!(" to {}", file.display())
                        }
                    );
                    EXIT_OK
                }
                Err(e) => invalid(&format!("cannot write {}: {e}", file.display())),
            }
        }
        StateCommand::Push { file, force } => {
            let state = match read_snapshot(file) {
                Ok(s) => s,
                Err(e) => return invalid(&format!("cannot read {}: {e}", file.display())),
            };
            match orch.push_state(&state, *force) {
                Ok(p) => {
                    eprintln!(
                        "pushed {} entries (up to record {}; the state was at record {})",
                        state.len(),
                        p.seq,
                        p.replaced_seq
                    );
                    EXIT_OK
                }
                Err(e) => invalid(&e),
            }
        }
    }
}

/// Runs `force-unlock LEASE_ID`; returns the exit code.
pub fn force_unlock(orch: &mut ActuatorOrchestration, lease_id: &str) -> u8 {
    match orch.force_unlock(lease_id) {
        Ok(what) => {
            eprintln!("{what}");
            EXIT_OK
        }
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_INVALID
        }
    }
}

fn write_snapshot(state: &State, file: &Path) -> std::io::Result<()> {
    if file.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, state)?;
        return writeln!(out);
    }
    // Private from creation, and whole or not at all.
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    serde_json::to_writer(std::io::BufWriter::new(tmp.as_file_mut()), state)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

fn read_snapshot(file: &Path) -> std::io::Result<State> {
    let mut bytes = Vec::new();
    if file.as_os_str() == "-" {
        std::io::stdin().lock().read_to_end(&mut bytes)?;
    } else {
        bytes = std::fs::read(file)?;
    }
    serde_json::from_slice(&bytes).map_err(std::io::Error::other)
}
