//! [`State`]: the in-memory view folded from a snapshot and the journal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::record::{Data, Record, RecordOp, shared_str, write_json};

/// Where a key stands after the last record about it (`snake_case` on the wire).
///
/// ```
/// use actuator::state::EntryStatus;
/// assert_eq!(serde_json::to_string(&EntryStatus::CreateFailed).unwrap(), r#""create_failed""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Intent recorded, no completion: the call may or may not have happened.
    /// In doubt — reconcile before creating again.
    Creating,
    /// Created; `data` holds the ids and outputs.
    Created,
    /// The create call failed; the resource most likely does not exist, but a
    /// failed call may have left something behind, so teardown still visits it.
    CreateFailed,
    /// Undo intent recorded, no completion: in doubt — the resource may be gone.
    Deleting,
    /// The delete call failed: the resource most likely still exists and
    /// `data` still holds its ids.
    DeleteFailed,
    /// An in-place update was started and has not completed: the resource
    /// exists, with the old or the new arguments.
    Updating,
}

impl EntryStatus {
    /// `true` for an intent without a completion ([`Creating`](Self::Creating),
    /// [`Deleting`](Self::Deleting)).
    ///
    /// ```
    /// use actuator::state::EntryStatus;
    /// assert!(EntryStatus::Deleting.is_in_doubt());
    /// assert!(!EntryStatus::CreateFailed.is_in_doubt());
    /// ```
    pub fn is_in_doubt(self) -> bool {
        matches!(self, Self::Creating | Self::Deleting | Self::Updating)
    }

    /// The status's name on the wire.
    ///
    /// ```
    /// assert_eq!(actuator::state::EntryStatus::DeleteFailed.as_str(), "delete_failed");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::CreateFailed => "create_failed",
            Self::Deleting => "deleting",
            Self::DeleteFailed => "delete_failed",
            Self::Updating => "updating",
        }
    }
}

/// What the state knows about one key.
///
/// Its key and kind are shared blocks (`Arc<str>`), not copies: the plan's resource, the
/// journal's records about it, the entry and the state's index all hold the same one.
///
/// ```
/// use actuator::state::{Journal, MemoryStore, EntryStatus};
/// let mut j = Journal::open(MemoryStore::new()).unwrap();
/// j.intent("infra.net", "aws.Vpc", serde_json::json!({"cidr": "10.0.0.0/16"})).unwrap();
/// let e = j.state().get("infra.net").unwrap();
/// assert_eq!((&*e.key, &*e.kind, e.status), ("infra.net", "aws.Vpc", EntryStatus::Creating));
/// assert_eq!((e.data.value()["cidr"].as_str(), e.error.as_deref(), e.order), (Some("10.0.0.0/16"), None, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Model path of the resource or task.
    #[serde(deserialize_with = "shared_str")]
    pub key: Arc<str>,
    /// Resource kind, such as `aws.Vpc`.
    #[serde(deserialize_with = "shared_str")]
    pub kind: Arc<str>,
    /// Where the key stands.
    pub status: EntryStatus,
    /// Intent data while [`EntryStatus::Creating`], outputs once created; kept
    /// unchanged through deletion and failures.
    pub data: Data,
    /// Message of the last failure, if the last completion was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Sequence number of the record that introduced the key; iteration is in
    /// this order.
    pub order: u64,
    /// Time of the last record about this key (ms since the Unix epoch).
    pub updated_at_ms: u64,
}

/// The state of one system: every key with an unfinished or finished
/// creation, in the order they were introduced, plus a small metadata map.
///
/// Order matters: a resource's intent is recorded only after the intents of
/// everything it depends on, so intent order is a valid dependency order, and
/// its reverse a valid teardown order — `down` can run from the state alone.
///
/// ```
/// use actuator::state::{RecordOp, Record, State, EntryStatus};
/// use serde_json::json;
///
/// let rec = |seq, op, key: &str, data: serde_json::Value| Record {
///     seq, at_ms: 0, op, key: key.into(), kind: "aws.Vpc".into(), data: data.into(),
/// };
/// let mut st = State::new();
/// st.apply(&rec(1, RecordOp::Intent, "infra.net", json!({"cidr": "10.0.0.0/16"})));
/// st.apply(&rec(2, RecordOp::Intent, "infra.db", json!({})));
/// st.apply(&rec(3, RecordOp::Done, "infra.net", json!({"id": "vpc-1"})));
///
/// assert_eq!(st.get("infra.net").unwrap().status, EntryStatus::Created);
/// assert_eq!(st.get("infra.net").unwrap().data.value(), json!({"id": "vpc-1"}));
/// assert_eq!(st.in_doubt().map(|e| &*e.key).collect::<Vec<_>>(), ["infra.db"]);
/// let teardown: Vec<_> = st.iter().rev().map(|e| &*e.key).collect();
/// assert_eq!(teardown, ["infra.db", "infra.net"]);
/// ```
#[derive(Clone, Default)]
pub struct State {
    /// Entries in `order`. A removed entry leaves a hole, so that removal is O(1) and no
    /// position moves; the holes are squeezed out once they are half the list (tearing down n
    /// keys stays O(n)).
    slots: Vec<Option<Entry>>,
    /// Key -> position in `slots`. Hashed with foldhash, not the standard library's SipHash:
    /// every record written and every resource planned looks a key up here, and the keys are
    /// model paths, not input an attacker picks to collide.
    index: HashMap<Arc<str>, usize, foldhash::fast::RandomState>,
    meta: BTreeMap<String, String>,
    last_seq: u64,
    updated_at_ms: u64,
}

impl PartialEq for State {
    /// Same entries in the same order and the same metadata, wherever the holes are.
    fn eq(&self, other: &Self) -> bool {
        self.last_seq == other.last_seq
            && self.updated_at_ms == other.updated_at_ms
            && self.meta == other.meta
            && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("entries", &self.iter().collect::<Vec<_>>())
            .field("meta", &self.meta)
            .field("last_seq", &self.last_seq)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

impl State {
    /// An empty state.
    ///
    /// ```
    /// assert!(actuator::state::State::new().is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one record into the state. Total: a record that makes no sense
    /// for the current entry (completion of an unknown key) is applied as
    /// leniently as possible, since the journal is the truth to rebuild from.
    ///
    /// ```
    /// use actuator::state::{RecordOp, Record, State};
    /// let mut st = State::new();
    /// st.apply(&Record { seq: 1, at_ms: 5, op: RecordOp::Meta, key: "system".into(),
    ///                    kind: "".into(), data: serde_json::Value::from("demo").into() });
    /// assert_eq!(st.meta().get("system").map(String::as_str), Some("demo"));
    /// assert_eq!(st.last_seq(), 1);
    /// ```
    pub fn apply(&mut self, rec: &Record) {
        let at = self.position_for(rec.op, &rec.key);
        self.apply_at(rec, at);
    }

    /// Where the entry a record of `op` for `key` acts on is, for [`apply_at`](Self::apply_at):
    /// not looked up for a removal or a rename, which take the key out of the index (finding it
    /// there anyway), nor for metadata.
    pub(crate) fn position_for(&self, op: RecordOp, key: &str) -> Option<usize> {
        match op {
            RecordOp::Undone | RecordOp::Forget | RecordOp::Rename | RecordOp::Meta => None,
            _ => self.position(key),
        }
    }

    /// Where `key`'s entry is.
    pub(crate) fn position(&self, key: &str) -> Option<usize> {
        self.index
            .get(key)
            .copied()
            .filter(|&pos| self.slots[pos].is_some())
    }

    /// The entry at a position [`position`](Self::position) gave.
    pub(crate) fn at(&self, pos: usize) -> &Entry {
        self.slots[pos].as_ref().expect("a position holds an entry")
    }

    /// [`apply`](Self::apply) of `rec`, whose key's entry is at `at` (`None`: the state has
    /// none; not read for a removal, a rename or metadata): the key is looked up once for the
    /// record's writer and for its folding in, not once for each.
    pub(crate) fn apply_at(&mut self, rec: &Record, at: Option<usize>) {
        self.last_seq = self.last_seq.max(rec.seq);
        self.updated_at_ms = self.updated_at_ms.max(rec.at_ms);
        match rec.op {
            RecordOp::Intent => self.upsert(rec, at, EntryStatus::Creating, Some(&rec.data), None),
            RecordOp::Done => self.upsert(rec, at, EntryStatus::Created, Some(&rec.data), None),
            RecordOp::Failed => {
                let status = match at.map(|pos| self.at(pos).status) {
                    Some(EntryStatus::Deleting | EntryStatus::DeleteFailed) => {
                        EntryStatus::DeleteFailed
                    }
                    // A failed update leaves the resource as it was: still created.
                    Some(EntryStatus::Updating | EntryStatus::Created) => EntryStatus::Created,
                    _ => EntryStatus::CreateFailed,
                };
                let msg = rec
                    .data
                    .as_string()
                    .unwrap_or_else(|| rec.data.text().to_owned());
                self.upsert(rec, at, status, None, Some(msg));
            }
            // Nothing to delete for an unknown key.
            RecordOp::UndoIntent if at.is_some() => {
                self.upsert(rec, at, EntryStatus::Deleting, None, None)
            }
            RecordOp::UndoIntent => {}
            RecordOp::Undone | RecordOp::Forget => {
                if let Some(pos) = self.index.remove(&rec.key) {
                    self.vacate(pos);
                }
            }
            RecordOp::Update if at.is_some() => {
                self.upsert(rec, at, EntryStatus::Updating, None, None)
            }
            RecordOp::Update => {}
            RecordOp::Rename => {
                if let (Some(pos), Some(to)) = (self.index.remove(&rec.key), rec.data.as_string()) {
                    // Renamed before a target of the same name is dropped (the rename is the
                    // newer truth): dropping it may squeeze the holes out, which moves entries
                    // and finds each one in the index by the key it holds.
                    let to: Arc<str> = to.into();
                    if let Some(e) = &mut self.slots[pos] {
                        e.key = to.clone();
                        e.updated_at_ms = rec.at_ms;
                    }
                    if let Some(old) = self.index.insert(to, pos) {
                        self.vacate(old);
                    }
                }
            }
            RecordOp::Meta => {
                match rec.data.as_string() {
                    Some(v) => self.meta.insert(rec.key.to_string(), v),
                    None => self.meta.remove(&*rec.key),
                };
            }
        }
    }

    /// Sets status (and data when given) of `rec.key`, whose entry is at `at`, inserting it at
    /// the end of the order if it is new. `error` replaces the previous one.
    fn upsert(
        &mut self,
        rec: &Record,
        at: Option<usize>,
        status: EntryStatus,
        data: Option<&Data>,
        error: Option<String>,
    ) {
        match at.and_then(|pos| self.slots[pos].as_mut()) {
            None => {
                // A new key comes after every entry: records are numbered in the order written.
                self.index.insert(rec.key.clone(), self.slots.len());
                self.slots.push(Some(Entry {
                    key: rec.key.clone(),
                    kind: rec.kind.clone(),
                    status,
                    data: data.map_or_else(Data::null, Data::clone),
                    error,
                    order: rec.seq,
                    updated_at_ms: rec.at_ms,
                }));
            }
            Some(entry) => {
                if !rec.kind.is_empty() && entry.kind != rec.kind {
                    entry.kind = rec.kind.clone();
                }
                entry.status = status;
                if let Some(data) = data {
                    entry.data = data.clone();
                }
                entry.error = error;
                entry.updated_at_ms = rec.at_ms;
            }
        }
    }

    /// Makes room for `additional` new keys.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.index.reserve(additional);
    }

    /// The entry for `key`, if the state has one.
    ///
    /// ```
    /// assert!(actuator::state::State::new().get("infra.net").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.position(key).map(|pos| self.at(pos))
    }

    /// Empties the slot at `pos` (its key is out of the index already); squeezes the holes out
    /// once they are half the slots.
    fn vacate(&mut self, pos: usize) {
        self.slots[pos] = None;
        let live = self.index.len();
        if self.slots.len() >= 64 && live <= self.slots.len() / 2 {
            self.slots.retain(Option::is_some);
            for (pos, e) in self.slots.iter().enumerate() {
                let e = e.as_ref().expect("holes were squeezed out");
                *self.index.get_mut(&*e.key).expect("an indexed entry") = pos;
            }
        }
    }

    /// All entries in introduction order; `.rev()` gives teardown order.
    ///
    /// ```
    /// assert_eq!(actuator::state::State::new().iter().rev().count(), 0);
    /// ```
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Entry> + ExactSizeIterator {
        Entries {
            slots: self.slots.iter(),
            left: self.index.len(),
        }
    }

    /// Entries with [`EntryStatus::Created`], in introduction order.
    ///
    /// ```
    /// assert_eq!(actuator::state::State::new().created().count(), 0);
    /// ```
    pub fn created(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.iter().filter(|e| e.status == EntryStatus::Created)
    }

    /// Entries whose last intent has no completion ([`EntryStatus::is_in_doubt`]);
    /// these must be reconciled against the cloud before anything else.
    ///
    /// ```
    /// assert_eq!(actuator::state::State::new().in_doubt().count(), 0);
    /// ```
    pub fn in_doubt(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.iter().filter(|e| e.status.is_in_doubt())
    }

    /// Number of entries.
    ///
    /// ```
    /// assert_eq!(actuator::state::State::new().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// `true` when no key is recorded (a fully torn-down system).
    ///
    /// ```
    /// assert!(actuator::state::State::new().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Metadata: system name, status string, timestamps — whatever the
    /// orchestrator records with [`RecordOp::Meta`].
    ///
    /// ```
    /// assert!(actuator::state::State::new().meta().is_empty());
    /// ```
    pub fn meta(&self) -> &BTreeMap<String, String> {
        &self.meta
    }

    /// Sequence number of the last record folded in (0 for none); the next
    /// record gets `last_seq() + 1`.
    ///
    /// ```
    /// assert_eq!(actuator::state::State::new().last_seq(), 0);
    /// ```
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Time of the last record folded in (ms since the Unix epoch, 0 for none).
    ///
    /// ```
    /// assert_eq!(actuator::state::State::new().updated_at_ms(), 0);
    /// ```
    pub fn updated_at_ms(&self) -> u64 {
        self.updated_at_ms
    }
}

/// [`State::iter`]: the slots that hold an entry, counted.
struct Entries<'a> {
    slots: std::slice::Iter<'a, Option<Entry>>,
    left: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = &'a Entry;
    fn next(&mut self) -> Option<&'a Entry> {
        let e = self.slots.by_ref().find_map(Option::as_ref)?;
        self.left -= 1;
        Some(e)
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Entries<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        let e = self.slots.by_ref().rev().find_map(Option::as_ref)?;
        self.left -= 1;
        Some(e)
    }
}

impl ExactSizeIterator for Entries<'_> {}

impl Entry {
    /// The JSON its `Serialize` writes, to `w` (see [`State::write_snapshot`]).
    fn write_json(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        w.write_all(b"{\"key\":")?;
        write_json(w, &*self.key)?;
        w.write_all(b",\"kind\":")?;
        write_json(w, &*self.kind)?;
        w.write_all(b",\"status\":\"")?;
        w.write_all(self.status.as_str().as_bytes())?;
        w.write_all(b"\",\"data\":")?;
        w.write_all(self.data.text().as_bytes())?;
        if let Some(error) = &self.error {
            w.write_all(b",\"error\":")?;
            write_json(w, error)?;
        }
        w.write_all(b",\"order\":")?;
        write_json(w, &self.order)?;
        w.write_all(b",\"updated_at_ms\":")?;
        write_json(w, &self.updated_at_ms)?;
        w.write_all(b"}")
    }
}

impl State {
    /// Writes the snapshot its `Serialize` writes, field by field rather than through serde's
    /// machinery: a compaction writes every entry of the state.
    pub(crate) fn write_snapshot(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        w.write_all(b"{\"version\":")?;
        write_json(w, &SNAPSHOT_VERSION)?;
        w.write_all(b",\"last_seq\":")?;
        write_json(w, &self.last_seq)?;
        w.write_all(b",\"updated_at_ms\":")?;
        write_json(w, &self.updated_at_ms)?;
        w.write_all(b",\"meta\":")?;
        write_json(w, &self.meta)?;
        w.write_all(b",\"entries\":[")?;
        for (i, e) in self.iter().enumerate() {
            if i > 0 {
                w.write_all(b",")?;
            }
            e.write_json(w)?;
        }
        w.write_all(b"]}")
    }
}

/// Snapshot format version; bump on incompatible changes.
const SNAPSHOT_VERSION: u32 = 1;

/// Snapshot wire form, borrowed for writing.
#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    last_seq: u64,
    updated_at_ms: u64,
    meta: &'a BTreeMap<String, String>,
    #[serde(serialize_with = "ser_entries")]
    entries: &'a State,
}

fn ser_entries<S: Serializer>(state: &&State, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(state.iter())
}

/// Snapshot wire form, owned for reading.
#[derive(Deserialize)]
struct SnapshotOwned {
    version: u32,
    last_seq: u64,
    #[serde(default)]
    updated_at_ms: u64,
    #[serde(default)]
    meta: BTreeMap<String, String>,
    entries: Vec<Entry>,
}

/// A `State` serializes as a snapshot: `{"version":1,"last_seq":..,
/// "updated_at_ms":..,"meta":{..},"entries":[..]}` with entries in order.
///
/// ```
/// use actuator::state::State;
/// let json = serde_json::to_string(&State::new()).unwrap();
/// assert_eq!(json, r#"{"version":1,"last_seq":0,"updated_at_ms":0,"meta":{},"entries":[]}"#);
/// assert_eq!(serde_json::from_str::<State>(&json).unwrap(), State::new());
/// ```
impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SnapshotRef {
            version: SNAPSHOT_VERSION,
            last_seq: self.last_seq,
            updated_at_ms: self.updated_at_ms,
            meta: &self.meta,
            entries: self,
        }
        .serialize(s)
    }
}

/// Reads a snapshot written by `Serialize`; rejects unknown versions and
/// duplicate keys or orders.
///
/// ```
/// let err = serde_json::from_str::<actuator::state::State>(
///     r#"{"version":99,"last_seq":0,"entries":[]}"#).unwrap_err();
/// assert!(err.to_string().contains("version 99"));
/// ```
impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let snap = SnapshotOwned::deserialize(d)?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(D::Error::custom(format!(
                "unsupported snapshot version {} (this build reads {SNAPSHOT_VERSION})",
                snap.version
            )));
        }
        let mut st = State {
            meta: snap.meta,
            last_seq: snap.last_seq,
            updated_at_ms: snap.updated_at_ms,
            ..State::default()
        };
        let mut entries = snap.entries;
        // Written in order; sorted in case a hand-edited snapshot is not.
        entries.sort_by_key(|e| e.order);
        st.index.reserve(entries.len());
        for (pos, e) in entries.iter().enumerate() {
            let twice = pos > 0 && entries[pos - 1].order == e.order;
            if twice || st.index.insert(e.key.clone(), pos).is_some() {
                return Err(D::Error::custom(format!(
                    "duplicate snapshot entry `{}`",
                    e.key
                )));
            }
        }
        st.slots = entries.into_iter().map(Some).collect();
        Ok(st)
    }
}
