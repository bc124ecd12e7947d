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

use super::out::say;
use super::{EXIT_INVALID, EXIT_OK};
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

/// `state pull FILE`: the state, read without a lock, written to FILE (or stdout for `-`).
pub(super) fn pull(orch: &mut ActuatorOrchestration, file: &Path) -> u8 {
    let state = match orch.pull_state() {
        Ok(s) => s,
        Err(e) => return super::commands::failed(&e),
    };
    match write_snapshot(&state, file) {
        Ok(()) => {
            say!(
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

/// `state push FILE [--force]`: FILE (as `state pull` wrote it) replaces the state.
pub(super) fn push(orch: &mut ActuatorOrchestration, file: &Path, force: bool) -> u8 {
    let state = match read_snapshot(file) {
        Ok(s) => s,
        Err(e) => return invalid(&format!("cannot read {}: {e}", file.display())),
    };
    match orch.push_state(&state, force) {
        Ok(p) => {
            say!(
                "pushed {} entries (up to record {}; the state was at record {})",
                state.len(),
                p.seq,
                p.replaced_seq
            );
            EXIT_OK
        }
        Err(e) => super::commands::failed(&e),
    }
}

/// `force-unlock LEASE_ID`.
pub(super) fn force_unlock(orch: &mut ActuatorOrchestration, lease_id: &str) -> u8 {
    match orch.force_unlock(lease_id) {
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
