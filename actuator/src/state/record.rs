//! Journal records: one JSON object per line in `journal.jsonl`.

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use serde_json::Value;

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
    /// metadata name for [`RecordOp::Meta`].
    pub key: String,
    /// Resource kind (`aws.Vpc`); empty for [`RecordOp::Meta`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Payload; its meaning depends on `op`.
    #[serde(
        default = "null",
        skip_serializing_if = "Value::is_null",
        deserialize_with = "deserialize_tight"
    )]
    pub data: Arc<Value>,
}

/// The data of a record that carries none (an undo intent, a completed delete, most lines of a
/// teardown's journal, written or read back). `null` is not allocated by `serde_json`, but the
/// `Arc` around it is: shared, one allocation serves every such record.
pub(super) fn null() -> Arc<Value> {
    static NULL: std::sync::LazyLock<Arc<Value>> =
        std::sync::LazyLock::new(|| Arc::new(Value::Null));
    Arc::clone(&NULL)
}

/// Reads a record's or entry's data with every object and array sized to what it holds. Read
/// as it comes, a map of five or six entries (most records) keeps room for eight: for a state of
/// 100,000 resources, 50 MB of the 464 MB `plan` held at its peak.
pub(super) fn deserialize_tight<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Arc<Value>, D::Error> {
    Ok(Arc::new(tight(Value::deserialize(d)?)))
}

fn tight(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut t = serde_json::Map::with_capacity(m.len());
            t.extend(m.into_iter().map(|(k, v)| (k, tight(v))));
            Value::Object(t)
        }
        Value::Array(a) => {
            let mut t: Vec<Value> = a.into_iter().map(tight).collect();
            t.shrink_to_fit();
            Value::Array(t)
        }
        other => other,
    }
}
