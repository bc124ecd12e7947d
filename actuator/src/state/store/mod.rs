//! Where the state lives: the [`StateStore`] trait, [`FileStore`] (the
//! embedded default) and [`MemoryStore`] (tests). A shared store for teams
//! (a database with a lease lock) would be another implementation.
//!
//! ```
//! use actuator::state::{FileStore, Journal, MemoryStore, StateStore};
//!
//! // Code above the store is generic, or takes `Box<dyn StateStore>`.
//! fn open(test: bool, dir: &std::path::Path) -> Box<dyn StateStore> {
//!     if test { Box::new(MemoryStore::new()) } else { Box::new(FileStore::open(dir).unwrap()) }
//! }
//! let dir = tempfile::tempdir().unwrap();
//! let j = Journal::open(open(false, dir.path())).unwrap();
//! assert!(j.state().is_empty());
//! ```

mod file;

pub use file::{DEFAULT_COMPACT_AFTER, FileStore, JOURNAL_FILE, LOCK_FILE, SNAPSHOT_FILE};

use super::{Record, Result, State};

/// Durable storage of a state as a snapshot plus an append-only journal.
///
/// Implementations must make [`append`](Self::append) cost O(records appended),
/// never O(state): the orchestrator appends twice per resource, so anything
/// that rewrites the state per append makes `up` quadratic.
///
/// Most code goes through [`Journal`](super::Journal); direct use looks like:
///
/// ```
/// use actuator::state::{MemoryStore, Op, Record, StateStore};
///
/// let mut store = MemoryStore::new();
/// let rec = Record { seq: 1, at_ms: 0, op: Op::Intent, key: "infra.net".into(),
///                    kind: "aws.Vpc".into(), data: serde_json::Value::Null };
/// store.append(&[rec]).unwrap();
/// let state = store.load().unwrap();
/// store.compact(&state).unwrap();
/// assert_eq!(store.load().unwrap(), state);
/// ```
pub trait StateStore {
    /// Reads the snapshot and folds the journal into it. Journal records whose
    /// `seq` is not above the snapshot's `last_seq` are already in it and are
    /// skipped (a crash between writing a snapshot and truncating the journal).
    ///
    /// ```
    /// use actuator::state::StateStore;
    /// assert!(actuator::state::MemoryStore::new().load().unwrap().is_empty());
    /// ```
    fn load(&mut self) -> Result<State>;

    /// Appends records durably: when this returns `Ok`, they survive a crash.
    ///
    /// ```
    /// use actuator::state::{MemoryStore, StateStore};
    /// let mut store = MemoryStore::new();
    /// store.append(&[]).unwrap();
    /// assert!(store.records().is_empty());
    /// ```
    fn append(&mut self, records: &[Record]) -> Result<()>;

    /// Replaces the snapshot by `state` (which must be the store's own state as
    /// loaded plus everything appended since) and drops the journal it covers.
    ///
    /// ```
    /// use actuator::state::{MemoryStore, State, StateStore};
    /// let mut store = MemoryStore::new();
    /// store.compact(&State::new()).unwrap();
    /// assert!(store.snapshot().is_empty());
    /// ```
    fn compact(&mut self, state: &State) -> Result<()>;

    /// Whether the journal has grown enough that [`compact`](Self::compact)
    /// should run now; [`Journal`](super::Journal) asks after each append.
    /// The default never asks.
    ///
    /// ```
    /// use actuator::state::{MemoryStore, State, StateStore};
    /// assert!(!MemoryStore::new().wants_compaction(&State::new()));
    /// ```
    fn wants_compaction(&self, state: &State) -> bool {
        let _ = state;
        false
    }
}

impl<T: StateStore + ?Sized> StateStore for Box<T> {
    fn load(&mut self) -> Result<State> {
        (**self).load()
    }
    fn append(&mut self, records: &[Record]) -> Result<()> {
        (**self).append(records)
    }
    fn compact(&mut self, state: &State) -> Result<()> {
        (**self).compact(state)
    }
    fn wants_compaction(&self, state: &State) -> bool {
        (**self).wants_compaction(state)
    }
}

/// A store in memory, for tests: same semantics as [`FileStore`] without
/// durability. Clone it to simulate "another process loads this state".
///
/// ```
/// use actuator::state::{Journal, MemoryStore, StateStore};
///
/// let mut j = Journal::open(MemoryStore::new()).unwrap();
/// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
/// let mut copy = j.store().clone();
/// assert_eq!(&copy.load().unwrap(), j.state());
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    snapshot: State,
    records: Vec<Record>,
}

impl MemoryStore {
    /// An empty store.
    ///
    /// ```
    /// assert!(actuator::state::MemoryStore::new().records().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The journal records appended since the last compaction.
    ///
    /// ```
    /// assert!(actuator::state::MemoryStore::new().records().is_empty());
    /// ```
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The last compacted state.
    ///
    /// ```
    /// assert!(actuator::state::MemoryStore::new().snapshot().is_empty());
    /// ```
    pub fn snapshot(&self) -> &State {
        &self.snapshot
    }
}

impl StateStore for MemoryStore {
    fn load(&mut self) -> Result<State> {
        let mut state = self.snapshot.clone();
        for rec in &self.records {
            if rec.seq > state.last_seq() {
                state.apply(rec);
            }
        }
        Ok(state)
    }

    fn append(&mut self, records: &[Record]) -> Result<()> {
        self.records.extend_from_slice(records);
        Ok(())
    }

    fn compact(&mut self, state: &State) -> Result<()> {
        self.snapshot = state.clone();
        self.records.clear();
        Ok(())
    }

    // Like the file store: compact once the records outnumber the entries, so memory stays a small
    // multiple of the state and the total cost stays linear.
    fn wants_compaction(&self, state: &State) -> bool {
        self.records.len() >= DEFAULT_COMPACT_AFTER.max(state.len())
    }
}
