//! Durable record of what was provisioned: an append-only journal of
//! intent/completion [`Record`]s, folded into a [`State`], kept by a
//! [`StateStore`] ([`FileStore`] on disk, [`MemoryStore`] for tests) and written
//! through a [`Journal`].
//!
//! Protocol for every mutating cloud call: [`Journal::intent`] (durable before
//! the call), then [`Journal::done`] or [`Journal::failed`]; for deletion
//! [`Journal::undo_intent`], then [`Journal::undone`] or [`Journal::failed`].
//! Secrets never enter the state: see [`crate::secret::Secret`].
//!
//! ```
//! use actuator::state::{FileStore, Journal, EntryStatus};
//! use serde_json::json;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut j = Journal::open(FileStore::open(dir.path().join("demo")).unwrap()).unwrap();
//! j.intent("infra.net", "aws.Vpc", json!({"cidr": "10.0.0.0/16"})).unwrap();
//! j.done("infra.net", json!({"id": "vpc-0abc"})).unwrap();
//! drop(j); // a later process picks up where this one stopped
//!
//! let j = Journal::open(FileStore::open(dir.path().join("demo")).unwrap()).unwrap();
//! let net = j.state().get("infra.net").unwrap();
//! assert_eq!((net.status, net.data.value()), (EntryStatus::Created, json!({"id": "vpc-0abc"})));
//! ```

mod journal;
pub mod location;
mod record;
pub mod store;
mod view;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

pub use journal::Journal;
pub use location::{Location, StoreOpener, Target, register_opener};
pub(crate) use record::shared_str;
pub use record::{Data, Record, RecordOp};
pub use store::{FileStore, MemoryStore, StateStore};
pub use view::{Entry, EntryStatus, State};

/// Errors of the state module.
///
/// ```
/// use actuator::state::{Error, Journal, MemoryStore};
/// let mut j = Journal::open(MemoryStore::new()).unwrap();
/// let err = j.done("infra.net", serde_json::Value::Null).unwrap_err();
/// assert!(matches!(err, Error::UnknownKey(ref k) if k == "infra.net"));
/// assert_eq!(err.to_string(), "no state entry for `infra.net`");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done ("open journal", "rename snapshot", ...).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// Another process holds the state's lock.
    #[error(
        "state {} is in use by another process ({holder}); lock file: {}",
        dir.display(),
        lock.display()
    )]
    Locked {
        /// The state directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// Who holds it, as the holder wrote it: `pid N on host H since T`.
        holder: String,
    },
    /// A journal line other than the last one does not parse: real corruption,
    /// not a torn write, so loading stops rather than silently losing records.
    #[error("{}:{line}: corrupt journal record", path.display())]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The snapshot does not parse.
    #[error("{}: unreadable snapshot", path.display())]
    Snapshot {
        /// The snapshot file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The journal's sequence numbers skip: records are missing between the snapshot and the
    /// journal or inside it (a lost snapshot, a truncated or hand-edited journal). Reading on
    /// would silently forget resources that exist.
    #[error(
        "{}: record {found} follows record {expected_after}: {} — refusing to read a state with a hole in it",
        path.display(),
        if *.expected_after == 0 { "the snapshot that held the earlier records is missing" } else { "records are missing" }
    )]
    Gap {
        /// The journal file.
        path: PathBuf,
        /// The last sequence number before the hole (0: nothing before it was found).
        expected_after: u64,
        /// The sequence number found instead of the next one.
        found: u64,
    },
    /// An existing state directory that others may write to: anyone could replace the state
    /// (and so decide what `down` deletes). The tool never changes a directory it did not create.
    #[error(
        "state directory {} is writable by others (mode {mode:o}): anyone could replace the state; \
         use a directory only you can write (e.g. a new one inside it)",
        path.display()
    )]
    SharedDir {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A write to a state that is read-only: a directory without write permission, or a store
    /// opened with [`FileStore::open_read_only`].
    #[error("state {} is read-only: {why}", path.display())]
    ReadOnly {
        /// The state directory.
        path: PathBuf,
        /// Why.
        why: &'static str,
    },
    /// A completion or undo names a key the state does not have.
    #[error("no state entry for `{0}`")]
    UnknownKey(String),
    /// A system or workspace name that cannot be a directory name.
    #[error("invalid name `{0}`: must be non-empty, not `.` or `..`, without `/` or NUL")]
    InvalidName(String),
    /// An earlier append failed part-way; the journal's tail is unknown until
    /// the store is reopened (which drops a torn tail).
    #[error("journal {} is unusable after a failed write; reopen the state", path.display())]
    Poisoned {
        /// The journal file.
        path: PathBuf,
    },
    /// A batch could not be appended and the state could not be read back from the store either,
    /// so this process's state may show records the store does not hold. Writing on would give
    /// the journal a hole in its sequence (the next records numbered after the lost ones): nothing
    /// more is written until the state is opened again, which reads what the store holds.
    #[error(
        "the state could not be written ({cause}) nor read back; nothing more is written until it is opened again"
    )]
    Unwritable {
        /// The failed append's error, with its causes.
        cause: String,
    },
    /// A state URL whose scheme no registered [`StoreOpener`] handles.
    #[error(
        "no state store handles `{scheme}://` URLs (this binary knows: {known}); a model binary \
         registers one in its `main`, e.g. `actuator_postgres::register()`"
    )]
    UnknownScheme {
        /// The URL's scheme.
        scheme: String,
        /// The schemes that are registered, comma-separated.
        known: String,
    },
    /// A shared store holds the state's lease for another run.
    #[error("state {location} is in use: {holder}")]
    Held {
        /// The state, as [`Location`] displays it (never with a password).
        location: String,
        /// Who holds it and until when, and how to free it, as the store says it.
        holder: String,
    },
    /// This run's lease on a shared state was taken over (it expired while the run was stopped
    /// or cut off, or an operator forced it): the run may not write another record.
    #[error("state {location}: lease lost, nothing more is written: {reason}")]
    LeaseLost {
        /// The state (never with a password).
        location: String,
        /// Who holds it now, as far as known.
        reason: String,
    },
    /// A store-specific failure (a database error, an unreachable server), already worded
    /// without credentials.
    #[error("state {location}: {message}")]
    Store {
        /// The state (never with a password).
        location: String,
        /// What went wrong.
        message: String,
    },
    /// `state push` refused to overwrite a state (see [`location::push`]).
    #[error("state {location}: push refused: {reason}")]
    PushRefused {
        /// The destination (never with a password).
        location: String,
        /// Why.
        reason: String,
    },
}

/// Result with the state module's [`Error`].
///
/// ```
/// fn fresh() -> actuator::state::Result<actuator::state::State> {
///     actuator::state::Journal::open(actuator::state::MemoryStore::new()).map(|j| j.state().clone())
/// }
/// assert!(fresh().unwrap().is_empty());
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Current wall-clock time in milliseconds since the Unix epoch (0 if the
/// clock is before 1970).
///
/// ```
/// assert!(actuator::state::now_ms() > 1_600_000_000_000);
/// ```
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `e` and its causes (`cannot append to …/journal.jsonl: No space left on device`): what a
/// user needs to act on is usually the cause.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
