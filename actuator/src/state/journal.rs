//! [`Journal`]: the front the orchestrator writes through.

use std::sync::Arc;

use super::{Data, Error, Record, RecordOp, Result, State, StateStore, now_ms, with_causes};

/// Most records the list kept between batches holds room for (see `Journal::spare`).
const KEPT_RECORDS: usize = 1 << 14;

/// A loaded [`State`] plus the store it came from. Every method appends one
/// record (durably, for [`FileStore`](super::FileStore)) *then* folds it into
/// the in-memory state, so the state never shows what the store does not
/// hold. When the store asks for it, the journal is compacted after an append.
///
/// A new key and its kind are taken as shared strings (`impl Into<Arc<str>>`: a caller that has
/// them shared hands them over without a copy, and `&str` or `String` work as well); a record
/// about a key the state has shares the entry's. Data is taken by value (`impl Into<Data>`, which
/// a `serde_json::Value` is).
///
/// ```
/// use actuator::state::{Journal, MemoryStore, EntryStatus};
/// use serde_json::json;
///
/// let mut j = Journal::open(MemoryStore::new()).unwrap();
/// j.set_meta("system", Some("demo")).unwrap();
/// j.intent("infra.server", "aws.Instance", json!({"client_token": "t-1"})).unwrap();
/// assert_eq!(j.state().in_doubt().count(), 1);
/// j.done("infra.server", json!({"id": "i-1", "ip": "10.0.0.5"})).unwrap();
/// j.undo_intent("infra.server").unwrap();
/// assert_eq!(j.state().get("infra.server").unwrap().data.value()["id"], "i-1");
/// j.undone("infra.server").unwrap();
/// assert!(j.state().is_empty());
/// ```
#[derive(Debug)]
pub struct Journal<S: StateStore> {
    store: S,
    state: State,
    /// Records of an open batch, not yet in the store (see [`Journal::batch`]).
    pending: Option<Vec<Record>>,
    /// The open batch's time, which all its records carry: they reach the store together, and
    /// a batch of thousands would otherwise read the clock thousands of times.
    batch_ms: u64,
    /// Why nothing more may be written (see [`Error::Unwritable`]).
    unwritable: Option<String>,
    /// The last batch's list, emptied, for the next one: the group-commit writer opens a batch
    /// for every sync, and a list of thousands of records grown afresh each time is copied as it
    /// doubles and faulted in page by page.
    spare: Vec<Record>,
}

impl<S: StateStore> Journal<S> {
    /// Loads the state from `store`.
    ///
    /// ```
    /// let j = actuator::state::Journal::open(actuator::state::MemoryStore::new()).unwrap();
    /// assert!(j.state().is_empty());
    /// ```
    pub fn open(mut store: S) -> Result<Self> {
        let state = store.load()?;
        Ok(Self {
            store,
            state,
            pending: None,
            batch_ms: 0,
            unwritable: None,
            spare: Vec::new(),
        })
    }

    /// The current state.
    ///
    /// ```
    /// let j = actuator::state::Journal::open(actuator::state::MemoryStore::new()).unwrap();
    /// assert_eq!(j.state().last_seq(), 0);
    /// ```
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The store, e.g. to inspect a [`MemoryStore`](super::MemoryStore) in tests.
    ///
    /// ```
    /// let j = actuator::state::Journal::open(actuator::state::MemoryStore::new()).unwrap();
    /// assert_eq!(j.store().pending(), 0);
    /// ```
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Records the intent to create (or perform) `key`. Call it before the
    /// mutating call, with whatever finds the resource again after a crash.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore, EntryStatus};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::json!({"client_token": "t"})).unwrap();
    /// assert_eq!(j.state().get("infra.net").unwrap().status, EntryStatus::Creating);
    /// ```
    pub fn intent(
        &mut self,
        key: impl Into<Arc<str>>,
        kind: impl Into<Arc<str>>,
        data: impl Into<Data>,
    ) -> Result<()> {
        self.write(RecordOp::Intent, key.into(), kind.into(), data.into())
    }

    /// Records that creating `key` succeeded, with its ids and outputs.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore, EntryStatus};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// assert!(j.done("infra.net", serde_json::json!({})).is_err()); // no intent
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.done("infra.net", serde_json::json!({"id": "vpc-1"})).unwrap();
    /// assert_eq!(j.state().get("infra.net").unwrap().status, EntryStatus::Created);
    /// ```
    pub fn done(&mut self, key: &str, data: impl Into<Data>) -> Result<()> {
        self.write_known(RecordOp::Done, key, data.into())
    }

    /// Records that the last create or delete call for `key` failed.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore, EntryStatus};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.failed("infra.net", "VpcLimitExceeded").unwrap();
    /// let e = j.state().get("infra.net").unwrap();
    /// assert_eq!((e.status, e.error.as_deref()), (EntryStatus::CreateFailed, Some("VpcLimitExceeded")));
    /// ```
    pub fn failed(&mut self, key: &str, msg: &str) -> Result<()> {
        self.write_known(
            RecordOp::Failed,
            key,
            Data::from(serde_json::Value::from(msg)),
        )
    }

    /// Records the intent to delete (or reverse) `key`; its data is kept.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore, EntryStatus};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.undo_intent("infra.net").unwrap();
    /// assert_eq!(j.state().get("infra.net").unwrap().status, EntryStatus::Deleting);
    /// ```
    pub fn undo_intent(&mut self, key: &str) -> Result<()> {
        self.write_known(RecordOp::UndoIntent, key, Data::null())
    }

    /// Takes back an intent to delete `key` when the delete was never sent: the entry is
    /// created again, with the data it has (recorded in full, so the line stands on its own).
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore, EntryStatus};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.done("infra.net", serde_json::json!({"id": "vpc-1"})).unwrap();
    /// j.undo_intent("infra.net").unwrap();
    /// j.undo_intent_taken_back("infra.net").unwrap();
    /// let e = j.state().get("infra.net").unwrap();
    /// assert_eq!((e.status, &e.data.value()["id"]), (EntryStatus::Created, &serde_json::json!("vpc-1")));
    /// ```
    pub fn undo_intent_taken_back(&mut self, key: &str) -> Result<()> {
        let Some(e) = self.state.get(key) else {
            return Err(Error::UnknownKey(key.to_owned()));
        };
        let (key, kind, data) = (e.key.clone(), e.kind.clone(), e.data.clone());
        self.write(RecordOp::Done, key, kind, data)
    }

    /// Records that deleting `key` succeeded; the key leaves the state.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.undo_intent("infra.net").unwrap();
    /// j.undone("infra.net").unwrap();
    /// assert!(j.state().get("infra.net").is_none());
    /// ```
    pub fn undone(&mut self, key: &str) -> Result<()> {
        self.write_known(RecordOp::Undone, key, Data::null())
    }

    /// Records the intent to change `key` in place (before the update call); [`Journal::done`]
    /// completes it with the new data, [`Journal::failed`] leaves the entry created.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore, EntryStatus};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.fw", "aws.SecurityGroup", serde_json::json!({})).unwrap();
    /// j.done("infra.fw", serde_json::json!({"args": {"port": 22}})).unwrap();
    /// j.updating("infra.fw").unwrap();
    /// assert_eq!(j.state().get("infra.fw").unwrap().status, EntryStatus::Updating);
    /// j.failed("infra.fw", "throttled").unwrap();
    /// assert_eq!(j.state().get("infra.fw").unwrap().status, EntryStatus::Created);
    /// ```
    pub fn updating(&mut self, key: &str) -> Result<()> {
        self.write_known(RecordOp::Update, key, Data::null())
    }

    /// Renames entry `from` to `to` (replacing an entry `to`, if any), keeping its status and data.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.web", "test.Server", serde_json::json!({"id": "s-1"})).unwrap();
    /// j.rename("infra.web", "infra.front").unwrap();
    /// assert!(j.state().get("infra.web").is_none());
    /// assert_eq!(j.state().get("infra.front").unwrap().data.value()["id"], "s-1");
    /// ```
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.write_known(
            RecordOp::Rename,
            from,
            Data::from(serde_json::Value::from(to)),
        )
    }

    /// Drops `key` without deleting anything (reconciliation found it gone).
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.forget("infra.net").unwrap();
    /// assert!(j.state().is_empty());
    /// ```
    pub fn forget(&mut self, key: &str) -> Result<()> {
        self.write_known(RecordOp::Forget, key, Data::null())
    }

    /// Sets (or with `None` removes) a metadata entry: system name, status
    /// string, timestamps.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.set_meta("status", Some("provisioning")).unwrap();
    /// assert_eq!(j.state().meta()["status"], "provisioning");
    /// j.set_meta("status", None).unwrap();
    /// assert!(j.state().meta().is_empty());
    /// ```
    pub fn set_meta(&mut self, name: &str, value: Option<&str>) -> Result<()> {
        self.write(
            RecordOp::Meta,
            name.into(),
            "".into(),
            value.map_or_else(Data::null, |v| Data::from(serde_json::Value::from(v))),
        )
    }

    /// Makes room for `entries` new keys in the state and, in an open batch, for `records`
    /// records: a batch of thousands (a plan's intents) then grows nothing step by step.
    pub(crate) fn reserve(&mut self, entries: usize, records: usize) {
        self.state.reserve(entries);
        if let Some(pending) = &mut self.pending {
            pending.reserve(records);
        }
    }

    /// Compacts now: the store keeps the current state as its snapshot and
    /// drops the journal records it covers.
    ///
    /// ```
    /// # use actuator::state::{Journal, MemoryStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// j.compact().unwrap();
    /// assert_eq!(j.store().pending(), 0);
    /// assert_eq!(j.state().len(), 1);
    /// ```
    pub fn compact(&mut self) -> Result<()> {
        self.writable()?;
        self.store.compact(&self.state)
    }

    /// Runs `f`, whose records reach the store together in one append (one sync for
    /// [`FileStore`](super::FileStore)) when it returns: group commit for many
    /// concurrent writers. Nothing written in `f` counts as durable before this
    /// returns `Ok`; on error the state is reloaded from the store, so it again
    /// shows only what the store holds — or, when the store cannot be read either,
    /// every later write is refused ([`Error::Unwritable`]).
    ///
    /// ```
    /// use actuator::state::{Journal, MemoryStore};
    /// let mut j = Journal::open(MemoryStore::new()).unwrap();
    /// let results = j.batch(|j| {
    ///     (0..3).map(|i| j.intent(format!("infra.n{i}"), "test.Network", serde_json::json!({}))).collect::<Vec<_>>()
    /// }).unwrap();
    /// assert!(results.iter().all(Result::is_ok));
    /// assert_eq!(j.store().pending(), 3);
    /// assert_eq!(j.state().len(), 3);
    /// ```
    pub fn batch<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> Result<R> {
        let r = self.batch_uncompacted(true, f)?;
        self.maybe_compact();
        Ok(r)
    }

    /// [`batch`](Self::batch) without the automatic compaction: the group-commit writer compacts
    /// when a walk is flushed ([`sync_or_compact`](Self::sync_or_compact)), not between the
    /// walk's batches. Without `durable`, the records are appended unsynced
    /// ([`StateStore::append_unsynced`]); with it, everything appended so far is durable when
    /// this returns `Ok`, even when `f` wrote nothing.
    pub(crate) fn batch_uncompacted<R>(
        &mut self,
        durable: bool,
        f: impl FnOnce(&mut Self) -> R,
    ) -> Result<R> {
        self.writable()?;
        self.pending = Some(std::mem::take(&mut self.spare));
        self.batch_ms = now_ms();
        let r = f(self);
        let mut records = self.pending.take().unwrap_or_default();
        let appended = match (records.is_empty(), durable) {
            (true, false) => Ok(()),
            (true, true) => self.store.sync(),
            (false, true) => self.store.append(&records),
            (false, false) => self.store.append_unsynced(&records),
        };
        records.clear();
        if records.capacity() <= KEPT_RECORDS {
            self.spare = records;
        }
        if let Err(e) = appended {
            // The state already shows the batch; bring it back to what the store holds. If the
            // store cannot say (a database that went away), numbering the next records after
            // the lost ones would leave a hole in the journal: stop writing instead.
            match self.store.load() {
                Ok(state) => self.state = state,
                Err(_) => self.unwritable = Some(with_causes(&e)),
            }
            return Err(e);
        }
        Ok(r)
    }

    fn writable(&self) -> Result<()> {
        match &self.unwritable {
            Some(cause) => Err(Error::Unwritable {
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Compacts the store if it asks for it (see [`StateStore::wants_compaction`]); returns
    /// whether it did.
    fn maybe_compact(&mut self) -> bool {
        // A state that may show records the store lost must not become its snapshot.
        if self.unwritable.is_none() && self.store.wants_compaction(&self.state) {
            // The records are already in the journal, which alone is a complete history; a
            // failed compaction only costs load time.
            match self.store.compact(&self.state) {
                Ok(()) => return true,
                Err(e) => {
                    tracing::warn!(error = %e, "automatic state compaction failed; will retry")
                }
            }
        }
        false
    }

    /// Makes everything appended durable: by a compaction when the store wants one (its snapshot
    /// then holds it all, and a journal tail not yet synced is dropped unwritten), else by a
    /// sync. What the group-commit writer does when a walk is flushed.
    pub(crate) fn sync_or_compact(&mut self) -> Result<()> {
        if self.maybe_compact() {
            return Ok(());
        }
        self.store.sync()
    }

    /// Like [`write`](Self::write) for a key that must exist; the record
    /// carries the entry's kind so each journal line stands on its own. The record shares the
    /// entry's key and kind rather than the caller's copy.
    fn write_known(&mut self, op: RecordOp, key: &str, data: Data) -> Result<()> {
        let Some(at) = self.state.position(key) else {
            return Err(Error::UnknownKey(key.to_owned()));
        };
        let e = self.state.at(at);
        let (key, kind) = (e.key.clone(), e.kind.clone());
        self.write_at(op, key, kind, data, Some(at))
    }

    /// Appends a record (or adds it to the open batch) and folds it into the state.
    fn write(&mut self, op: RecordOp, key: Arc<str>, kind: Arc<str>, data: Data) -> Result<()> {
        let at = self.state.position_for(op, &key);
        self.write_at(op, key, kind, data, at)
    }

    /// [`write`](Self::write) of a record whose key's entry is at `at` in the state.
    fn write_at(
        &mut self,
        op: RecordOp,
        key: Arc<str>,
        kind: Arc<str>,
        data: Data,
        at: Option<usize>,
    ) -> Result<()> {
        let rec = Record {
            seq: self.state.last_seq() + 1,
            at_ms: match self.pending {
                Some(_) => self.batch_ms,
                None => now_ms(),
            },
            op,
            key,
            kind,
            data,
        };
        if let Some(pending) = &mut self.pending {
            self.state.apply_at(&rec, at);
            pending.push(rec);
            return Ok(());
        }
        self.writable()?;
        self.store.append(std::slice::from_ref(&rec))?;
        self.state.apply_at(&rec, at);
        self.maybe_compact();
        Ok(())
    }
}
