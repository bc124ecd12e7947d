//! Where the command line keeps the state — `--state DIR|URL`, else `ACTUATOR_STATE_URL`, else
//! `.actuator/<system>/<workspace>/` — and the commands that move it between stores (`state pull
//! FILE`, `state push FILE [--force]`) or free a shared store's lease (`force-unlock LEASE_ID`).
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
use std::path::Path;

use super::commands::write_event;
use super::out::{Out, say};
use super::{EXIT_INVALID, EXIT_OK, EXIT_USAGE};
use crate::events::Event;
use crate::orchestrate::ActuatorOrchestration;
use crate::state::State;
use crate::state::location::Pushed;

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

/// `state pull FILE`: the state, read without a lock, written to FILE (or stdout for `-`).
/// `json`: where its one event goes (`--json`), which `-` cannot share stdout with.
pub(super) fn pull(orch: &mut ActuatorOrchestration, file: &Path, json: Option<&mut Out>) -> u8 {
    let to_stdout = file.as_os_str() == "-";
    if to_stdout && json.is_some() {
        say!("error: `state pull -` writes the state itself on stdout: with --json, name a FILE");
        return EXIT_USAGE;
    }
    let event = |entries: usize, seq: u64, error: Option<String>| Event::StatePull {
        file: file.display().to_string(),
        entries,
        seq,
        success: error.is_none(),
        error,
    };
    let state = match orch.pull_state() {
        Ok(s) => s,
        Err(e) => {
            if let Some(out) = json {
                write_event(out, &event(0, 0, Some(e.to_string())));
            }
            return super::commands::failed(&e);
        }
    };
    let (entries, seq) = (state.len(), state.last_seq());
    match write_snapshot(&state, file) {
        Ok(()) => {
            say!(
                "pulled {entries} entries (up to record {seq}){}",
                if to_stdout {
                    String::new()
                } else {
                    format!(" to {}", file.display())
                }
            );
            if let Some(out) = json {
                write_event(out, &event(entries, seq, None));
            }
            EXIT_OK
        }
        Err(e) => {
            let msg = format!("cannot write {}: {e}", file.display());
            if let Some(out) = json {
                write_event(out, &event(entries, seq, Some(msg.clone())));
            }
            invalid(&msg)
        }
    }
}

/// `state push FILE [--force]`: FILE (as `state pull` wrote it) replaces the state. `json`: as
/// [`pull`]'s.
pub(super) fn push(
    orch: &mut ActuatorOrchestration,
    file: &Path,
    force: bool,
    json: Option<&mut Out>,
) -> u8 {
    let event = |entries: usize, p: Option<&Pushed>, error: Option<String>| Event::StatePush {
        file: file.display().to_string(),
        entries,
        seq: p.map_or(0, |p| p.seq),
        replaced_seq: p.map_or(0, |p| p.replaced_seq),
        success: error.is_none(),
        error,
    };
    let state = match read_snapshot(file) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!("cannot read {}: {e}", file.display());
            if let Some(out) = json {
                write_event(out, &event(0, None, Some(msg.clone())));
            }
            return invalid(&msg);
        }
    };
    match orch.push_state(&state, force) {
        Ok(p) => {
            say!(
                "pushed {} entries (up to record {}; the state was at record {})",
                state.len(),
                p.seq,
                p.replaced_seq
            );
            if let Some(out) = json {
                write_event(out, &event(state.len(), Some(&p), None));
            }
            EXIT_OK
        }
        Err(e) => {
            if let Some(out) = json {
                write_event(out, &event(state.len(), None, Some(e.to_string())));
            }
            super::commands::failed(&e)
        }
    }
}

/// `force-unlock LEASE_ID`. `json`: as [`pull`]'s.
pub(super) fn force_unlock(
    orch: &mut ActuatorOrchestration,
    lease_id: &str,
    json: Option<&mut Out>,
) -> u8 {
    let result = orch.force_unlock(lease_id);
    if let Some(out) = json {
        let (released, error) = match &result {
            Ok(what) => (Some(what.clone()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        write_event(
            out,
            &Event::ForceUnlock {
                lease_id: lease_id.to_owned(),
                released,
                success: error.is_none(),
                error,
            },
        );
    }
    match result {
        Ok(what) => {
            say!("{what}");
            EXIT_OK
        }
        Err(e) => super::commands::failed(&e),
    }
}

fn invalid(msg: &str) -> u8 {
    say!("error: {msg}");
    EXIT_INVALID
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
