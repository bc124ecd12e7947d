//! Journal records: one JSON object per line in `journal.jsonl`.

use std::cell::RefCell;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// Largest buffer a thread keeps for writing [`Data`] (one resource's record is a few hundred
/// bytes).
const KEPT_BUFFER: usize = 1 << 16;

/// What a [`Record`] says happened.
///
/// Mutating cloud calls are bracketed: an intent record is made durable
/// *before* the call and a completion record *after* it. A crash between the
/// two leaves the intent without completion, which the next run sees as
/// [`EntryStatus::Creating`](crate::state::EntryStatus::Creating) or
/// [`EntryStatus::Deleting`](crate::state::EntryStatus::Deleting) — "in doubt" — and
/// reconciles (cloud resources are tagged with the system and key) instead of
/// orphaning or duplicating the resource.
///
/// On the wire the variants are `snake_case` strings:
///
/// ```
/// use actuator::state::RecordOp;
/// assert_eq!(serde_json::to_string(&RecordOp::UndoIntent).unwrap(), r#""undo_intent""#);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOp {
    /// About to create (or perform) `key`; `data` holds what is needed to find
    /// it again if we crash (arguments, client token).
    Intent,
    /// Creation succeeded; `data` holds the ids and outputs.
    Done,
    /// The create or delete call failed; `data` is the error message (a JSON
    /// string). The entry keeps its previous data.
    Failed,
    /// About to delete (or reverse) `key`; the entry keeps its data, since the
    /// ids are what a retried delete needs.
    UndoIntent,
    /// Deletion succeeded; the key leaves the state.
    Undone,
    /// Drop `key` from the state without deleting anything (reconciliation
    /// found it gone, or an operator abandoned it).
    Forget,
    /// Set the state's metadata entry `key` to `data` (a JSON string), or
    /// remove it when `data` is `null`.
    Meta,
    /// About to change `key` in place; the entry keeps its data (the old arguments) until the
    /// completion, so a crash in between is seen as the same change still to make.
    Update,
    /// The entry `key` is now known as `data` (a JSON string): a model path renamed without
    /// recreating anything, or a resource set aside (`<path>#deposed`) while its replacement is
    /// created.
    Rename,
}

impl RecordOp {
    /// The op's name on the wire.
    ///
    /// ```
    /// assert_eq!(actuator::state::RecordOp::UndoIntent.as_str(), "undo_intent");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            RecordOp::Intent => "intent",
            RecordOp::Done => "done",
            RecordOp::Failed => "failed",
            RecordOp::UndoIntent => "undo_intent",
            RecordOp::Undone => "undone",
            RecordOp::Forget => "forget",
            RecordOp::Meta => "meta",
            RecordOp::Update => "update",
            RecordOp::Rename => "rename",
        }
    }
}

/// One line of the journal.
///
/// ```
/// use actuator::state::{RecordOp, Record};
/// use serde_json::json;
///
/// let r = Record {
///     seq: 7, at_ms: 1_700_000_000_000, op: RecordOp::Done,
///     key: "infra.workers.3.server".into(), kind: "aws.Instance".into(),
///     data: json!({"id": "i-0abc"}).into(),
/// };
/// let line = serde_json::to_string(&r).unwrap();
/// assert_eq!(line, r#"{"seq":7,"at_ms":1700000000000,"op":"done","key":"infra.workers.3.server","kind":"aws.Instance","data":{"id":"i-0abc"}}"#);
/// assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Position in the journal, strictly increasing across compactions.
    pub seq: u64,
    /// Wall-clock time of the record, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// What happened.
    pub op: RecordOp,
    /// Model path of the resource or task (`infra.workers.3.server`), or the
    /// metadata name for [`RecordOp::Meta`]. Shared (see [`Entry`](crate::state::Entry)).
    #[serde(deserialize_with = "shared_str")]
    pub key: Arc<str>,
    /// Resource kind (`aws.Vpc`); empty for [`RecordOp::Meta`].
    #[serde(
        default,
        deserialize_with = "shared_str",
        skip_serializing_if = "is_empty"
    )]
    pub kind: Arc<str>,
    /// Payload; its meaning depends on `op`.
    #[serde(default = "Data::null", skip_serializing_if = "Data::is_null")]
    pub data: Data,
}

impl Record {
    /// Appends the record's journal line to `w`: the JSON its `Serialize` writes, then a
    /// newline. Written field by field rather than through serde's machinery: the journal's
    /// writer writes one line per record, tens of thousands in a large run.
    pub(crate) fn write_line(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        w.write_all(b"{\"seq\":")?;
        write_json(w, &self.seq)?;
        w.write_all(b",\"at_ms\":")?;
        write_json(w, &self.at_ms)?;
        w.write_all(b",\"op\":\"")?;
        w.write_all(self.op.as_str().as_bytes())?;
        w.write_all(b"\",\"key\":")?;
        write_json(w, &*self.key)?;
        if !self.kind.is_empty() {
            w.write_all(b",\"kind\":")?;
            write_json(w, &*self.kind)?;
        }
        if !self.data.is_null() {
            w.write_all(b",\"data\":")?;
            w.write_all(self.data.text().as_bytes())?;
        }
        w.write_all(b"}\n")
    }
}

/// `value` as JSON (a number, or a string escaped as JSON needs) to `w`.
pub(super) fn write_json<T: Serialize + ?Sized>(
    w: &mut impl std::io::Write,
    value: &T,
) -> std::io::Result<()> {
    serde_json::to_writer(w, value).map_err(std::io::Error::from)
}

fn is_empty(s: &Arc<str>) -> bool {
    s.is_empty()
}

/// Reads a string into one shared block (serde's own `Arc<str>` reads a `Box<str>` first and
/// copies it).
pub(crate) fn shared_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    struct Shared;
    impl serde::de::Visitor<'_> for Shared {
        type Value = Arc<str>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Arc<str>, E> {
            Ok(Arc::from(s))
        }
    }
    d.deserialize_str(Shared)
}

/// A record's or a state entry's payload: JSON text, kept as it was written.
///
/// One heap block rather than a tree of them: a resource's record (proxy, dependencies,
/// arguments, outputs) parsed into a `serde_json::Value` is 25–40 blocks, every one allocated
/// when the record is made or read and freed when the entry leaves the state; at tens of
/// thousands of resources, freeing them alone was a quarter of a `down`. The journal, the
/// snapshot and a shared store write the text as it is; readers parse what they need, borrowing
/// from the text ([`parse`](Self::parse)), or the whole of it ([`value`](Self::value)).
///
/// Two `Data` are equal when their texts are.
///
/// ```
/// use actuator::state::Data;
/// use serde_json::json;
///
/// let d = Data::from(json!({"id": "vpc-1", "cidr": "10.0.0.0/16"}));
/// assert_eq!(d.text(), r#"{"id":"vpc-1","cidr":"10.0.0.0/16"}"#);
/// assert_eq!(d.value()["id"], "vpc-1");
///
/// #[derive(serde::Deserialize)]
/// struct Id<'a> { id: &'a str }
/// assert_eq!(d.parse::<Id>().unwrap().id, "vpc-1");
/// assert!(Data::null().is_null());
/// ```
#[derive(Clone)]
pub struct Data(Arc<str>);

impl Data {
    /// `null`: the data of a record that carries none (an undo intent, a completed delete, most
    /// lines of a teardown's journal). Shared: one allocation serves every such record.
    pub fn null() -> Self {
        static NULL: std::sync::LazyLock<Data> =
            std::sync::LazyLock::new(|| Data::from(Value::Null));
        NULL.clone()
    }

    /// `value` serialized: fails only for what JSON cannot hold (a map with keys that are not
    /// strings).
    ///
    /// ```
    /// let d = actuator::state::Data::new(&[("id", "i-1")].into_iter().collect::<std::collections::BTreeMap<_, _>>()).unwrap();
    /// assert_eq!(d.text(), r#"{"id":"i-1"}"#);
    /// ```
    pub fn new<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Self> {
        // Written into a buffer this thread keeps, then copied into one block of the exact size:
        // a text written into a growing string of its own is three or four blocks, freed but
        // the last. (A `Serialize` that makes a `Data` itself gets a buffer of its own.)
        thread_local!(static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) });
        fn write<T: Serialize + ?Sized>(buf: &mut Vec<u8>, value: &T) -> serde_json::Result<Data> {
            buf.clear();
            serde_json::to_writer(&mut *buf, value)?;
            let data = Data(Arc::from(
                std::str::from_utf8(buf).expect("serde_json writes UTF-8"),
            ));
            if buf.capacity() > KEPT_BUFFER {
                *buf = Vec::new();
            }
            Ok(data)
        }
        BUF.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => write(&mut buf, value),
            Err(_) => write(&mut Vec::new(), value),
        })
    }

    /// The JSON text.
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The whole payload as a JSON value (a copy: for readers that walk or change all of it).
    pub fn value(&self) -> Value {
        serde_json::from_str(self.text()).expect("record data is JSON")
    }

    /// Reads the payload as `T`, which may borrow strings and raw parts from it.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> serde_json::Result<T> {
        serde_json::from_str(self.text())
    }

    /// The payload as a string, if it is one (a failure's message, a rename's new key, a
    /// metadata value).
    ///
    /// ```
    /// use actuator::state::Data;
    /// assert_eq!(Data::from(serde_json::json!("a \"b\"")).as_string().as_deref(), Some("a \"b\""));
    /// assert_eq!(Data::null().as_string(), None);
    /// ```
    pub fn as_string(&self) -> Option<String> {
        self.parse().ok()
    }

    /// Whether the payload is `null`.
    pub fn is_null(&self) -> bool {
        self.text() == "null"
    }
}

impl From<Value> for Data {
    fn from(v: Value) -> Self {
        Data::from(&v)
    }
}

impl From<&Value> for Data {
    fn from(v: &Value) -> Self {
        Data::new(v).expect("a JSON value serializes")
    }
}

impl PartialEq for Data {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for Data {
    /// As the JSON it is, not as a string of it. (The journal and the snapshot do not come
    /// here: they write the text as it is.)
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue =
            serde_json::from_str(self.text()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(d).map(|raw| Data(Arc::from(raw.get())))
    }
}
