//! Where the state lives: the [`StateStore`] trait, [`FileStore`] (the
//! embedded default) and [`MemoryStore`] (tests). A shared store for teams
//! (PostgreSQL with a lease, in `actuator-postgres`) is another implementation, opened by URL
//! through [`location`](super::location).
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
/// use actuator::state::{MemoryStore, RecordOp, Record, StateStore};
///
/// let mut store = MemoryStore::new();
/// let rec = Record { seq: 1, at_ms: 0, op: RecordOp::Intent, key: "infra.net".into(),
///                    kind: "aws.Vpc".into(), data: serde_json::Value::Null.into() };
/// store.append(&[rec]).unwrap();
/// let state = store.load().unwrap();
/// store.compact(&state).unwrap();
/// assert_eq!(store.load().unwrap(), state);
/// ```
pub trait StateStore {
    /// Reads the snapshot and folds the journal into it. Journal records whose
    /// `seq` is not above the snapshot's `last_seq` are already in it and are
    /// skipped (a crash between writing a snapshot and emptying the journal).
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
    /// assert_eq!(store.pending(), 0);
    /// ```
    fn append(&mut self, records: &[Record]) -> Result<()>;

    /// Appends records that need not be durable yet: the next [`append`](Self::append) or
    /// [`sync`](Self::sync) makes them so (they are written in order, so a later sync covers
    /// them). For records whose loss in a crash the next run can settle anyway — a completion
    /// whose intent is durable — so that a stream of them costs writes, not a sync each.
    /// [`FileStore`] writes them at once (a killed process loses none of them) and syncs later.
    /// The default appends durably.
    ///
    /// ```
    /// use actuator::state::{MemoryStore, StateStore};
    /// let mut store = MemoryStore::new();
    /// store.append_unsynced(&[]).unwrap();
    /// store.sync().unwrap();
    /// assert_eq!(store.pending(), 0);
    /// ```
    fn append_unsynced(&mut self, records: &[Record]) -> Result<()> {
        self.append(records)
    }

    /// Makes every record appended so far durable (see
    /// [`append_unsynced`](Self::append_unsynced)). The default does nothing: its appends are
    /// durable already.
    ///
    /// ```
    /// use actuator::state::{MemoryStore, StateStore};
    /// MemoryStore::new().sync().unwrap();
    /// ```
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

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

    /// Replaces the whole state by `state`, whatever the store held (`state push`): the
    /// snapshot becomes `state` and every journal record is dropped, those after `state`'s
    /// last one included. Appends then continue from `state.last_seq() + 1`. The default is
    /// [`compact`](Self::compact), which does exactly that for a store whose journal holds
    /// nothing beyond the snapshot it writes.
    ///
    /// ```
    /// use actuator::state::{Journal, MemoryStore, State, StateStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.set_meta("system", Some("web")).unwrap();
    /// let pulled = j.state().clone();
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut other = actuator::state::FileStore::open(dir.path()).unwrap();
    /// other.replace(&pulled).unwrap();
    /// assert_eq!(other.load().unwrap(), pulled);
    /// ```
    fn replace(&mut self, state: &State) -> Result<()> {
        self.compact(state)
    }

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

    /// Whether an append is made durable (synced to disk): callers group appends to durable
    /// stores so that concurrent writers share syncs.
    ///
    /// ```
    /// use actuator::state::{MemoryStore, StateStore};
    /// assert!(!MemoryStore::new().is_durable());
    /// ```
    fn is_durable(&self) -> bool {
        true
    }
}

impl<T: StateStore + ?Sized> StateStore for Box<T> {
    fn load(&mut self) -> Result<State> {
        (**self).load()
    }
    fn append(&mut self, records: &[Record]) -> Result<()> {
        (**self).append(records)
    }
    fn append_unsynced(&mut self, records: &[Record]) -> Result<()> {
        (**self).append_unsynced(records)
    }
    fn sync(&mut self) -> Result<()> {
        (**self).sync()
    }
    fn compact(&mut self, state: &State) -> Result<()> {
        (**self).compact(state)
    }
    fn replace(&mut self, state: &State) -> Result<()> {
        (**self).replace(state)
    }
    fn wants_compaction(&self, state: &State) -> bool {
        (**self).wants_compaction(state)
    }
    fn is_durable(&self) -> bool {
        (**self).is_durable()
    }
}

/// A store in memory, for tests and embedding: same semantics as [`FileStore`]
/// without durability. Clone it to simulate "another process loads this state".
///
/// It folds every appended record into its state at once instead of keeping
/// the records, so its memory is one state however long the run.
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
    state: State,
    pending: usize,
}

impl MemoryStore {
    /// An empty store.
    ///
    /// ```
    /// assert_eq!(actuator::state::MemoryStore::new().pending(), 0);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// How many records were appended since the last compaction.
    ///
    /// ```
    /// assert_eq!(actuator::state::MemoryStore::new().pending(), 0);
    /// ```
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// The state as the store holds it.
    ///
    /// ```
    /// assert!(actuator::state::MemoryStore::new().snapshot().is_empty());
    /// ```
    pub fn snapshot(&self) -> &State {
        &self.state
    }
}

impl StateStore for MemoryStore {
    fn load(&mut self) -> Result<State> {
        Ok(self.state.clone())
    }

    fn append(&mut self, records: &[Record]) -> Result<()> {
        for r in records {
            self.state.apply(r);
        }
        self.pending += records.len();
        Ok(())
    }

    fn compact(&mut self, state: &State) -> Result<()> {
        // The store's state already is `state`; nothing to rewrite.
        debug_assert_eq!(state.last_seq(), self.state.last_seq());
        self.pending = 0;
        Ok(())
    }

    fn replace(&mut self, state: &State) -> Result<()> {
        self.state = state.clone();
        self.pending = 0;
        Ok(())
    }

    fn is_durable(&self) -> bool {
        false
    }
}
