//! Tests of the state module against real files in temporary directories.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::{Value, json};

use super::*;
use crate::secret::Secret;

fn open(dir: &Path) -> Journal<FileStore> {
    Journal::open(FileStore::open(dir).unwrap()).unwrap()
}

fn journal_lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(dir.join(store::JOURNAL_FILE))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn keys(st: &State) -> Vec<&str> {
    st.iter().map(|e| &*e.key).collect()
}

/// What a state says about its keys, without timestamps (which differ per run).
fn summary(st: &State) -> Vec<(String, String, EntryStatus, Value, Option<String>)> {
    st.iter()
        .map(|e| {
            (
                e.key.to_string(),
                e.kind.to_string(),
                e.status,
                e.data.value(),
                e.error.clone(),
            )
        })
        .collect()
}

/// One run of `up` and a partial `down`, touching every operation.
fn script<S: StateStore>(j: &mut Journal<S>) {
    j.set_meta("system", Some("demo")).unwrap();
    j.intent("infra.net", "aws.Vpc", json!({"cidr": "10.0.0.0/16"}))
        .unwrap();
    j.done("infra.net", json!({"id": "vpc-1"})).unwrap();
    j.intent("infra.subnet", "aws.Subnet", json!({"vpc": "vpc-1"}))
        .unwrap();
    j.failed("infra.subnet", "InvalidSubnet.Range").unwrap();
    j.intent(
        "infra.server",
        "aws.Instance",
        json!({"client_token": "t-1"}),
    )
    .unwrap();
    j.done("infra.server", json!({"id": "i-1", "ip": "10.0.0.5"}))
        .unwrap();
    j.intent("infra.fip", "aws.Eip", json!({})).unwrap();
    j.intent("infra.tmp", "aws.Volume", json!({})).unwrap();
    j.forget("infra.tmp").unwrap();
    j.undo_intent("infra.server").unwrap();
    j.failed("infra.server", "DependencyViolation").unwrap();
    j.set_meta("status", Some("tearing down")).unwrap();
}

#[test]
fn records_round_trip_through_the_journal_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    script(&mut j);
    let recs: Vec<Record> = journal_lines(dir.path())
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ops: Vec<RecordOp> = recs.iter().map(|r| r.op).collect();
    use RecordOp::*;
    assert_eq!(
        ops,
        [
            Meta, Intent, Done, Intent, Failed, Intent, Done, Intent, Intent, Forget, UndoIntent,
            Failed, Meta
        ]
    );
    assert_eq!(
        recs.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=13).collect::<Vec<_>>()
    );
    // Completions carry the kind of their entry, so each line stands alone.
    assert_eq!((&*recs[2].key, &*recs[2].kind), ("infra.net", "aws.Vpc"));
    assert_eq!(recs[6].data.value(), json!({"id": "i-1", "ip": "10.0.0.5"}));
    assert_eq!(recs[4].data.value(), json!("InvalidSubnet.Range"));
    assert!(recs.iter().all(|r| r.at_ms > 1_600_000_000_000));
    for r in &recs {
        let line = serde_json::to_string(r).unwrap();
        assert_eq!(&serde_json::from_str::<Record>(&line).unwrap(), r);
    }
    assert!(journal_lines(dir.path())[10].contains(r#""op":"undo_intent""#));
}

#[test]
fn intent_without_done_is_in_doubt_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent(
        "infra.workers.3.server",
        "aws.Instance",
        json!({"client_token": "tok-3"}),
    )
    .unwrap();
    drop(j); // crash before the cloud call returned

    let j = open(dir.path());
    let e = j.state().get("infra.workers.3.server").unwrap();
    assert_eq!(
        (e.status, &*e.kind),
        (EntryStatus::Creating, "aws.Instance")
    );
    assert_eq!(e.data.value(), json!({"client_token": "tok-3"}));
    assert_eq!(keys_of(j.state().in_doubt()), ["infra.workers.3.server"]);
    assert_eq!(j.state().created().count(), 0);
}

#[test]
fn records_appended_unsynced_are_in_the_file_at_once_and_synced_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("infra.net", "aws.Vpc", json!({})).unwrap();
    // A completion nobody waits for: written, not synced.
    j.batch_uncompacted(false, |j| j.done("infra.net", json!({"id": "vpc-1"})))
        .unwrap()
        .unwrap();
    assert!(format!("{:?}", j.store()).contains("unsynced: true"));
    // In the file already, so a killed process loses none of it.
    let read = FileStore::open_read_only(dir.path())
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(read.get("infra.net").unwrap().status, EntryStatus::Created);
    // A durable batch with nothing to append still makes what came before durable.
    j.batch_uncompacted(true, |_| ()).unwrap();
    assert!(format!("{:?}", j.store()).contains("unsynced: false"));
    assert_eq!(journal_lines(dir.path()).len(), 2);
}

#[test]
fn a_compaction_makes_records_appended_unsynced_durable_without_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(FileStore::open(dir.path()).unwrap().compact_after(2)).unwrap();
    j.batch_uncompacted(true, |j| j.intent("infra.net", "aws.Vpc", json!({})))
        .unwrap()
        .unwrap();
    j.batch_uncompacted(false, |j| j.done("infra.net", json!({"id": "vpc-1"})))
        .unwrap()
        .unwrap();
    j.sync_or_compact().unwrap();
    // The snapshot holds both records; the journal it replaced is empty.
    assert!(format!("{:?}", j.store()).contains("unsynced: false"));
    assert!(journal_lines(dir.path()).is_empty());
    let read = FileStore::open_read_only(dir.path())
        .unwrap()
        .load()
        .unwrap();
    assert_eq!(summary(&read), summary(j.state()));
    assert_eq!(read.get("infra.net").unwrap().status, EntryStatus::Created);
}

fn keys_of<'a>(it: impl Iterator<Item = &'a Entry>) -> Vec<&'a str> {
    it.map(|e| &*e.key).collect()
}

#[test]
fn done_after_intent_is_created_with_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("infra.net", "aws.Vpc", json!({"cidr": "10.0.0.0/16"}))
        .unwrap();
    j.done(
        "infra.net",
        json!({"id": "vpc-0abc", "cidr": "10.0.0.0/16"}),
    )
    .unwrap();
    drop(j);

    let j = open(dir.path());
    let e = j.state().get("infra.net").unwrap();
    assert_eq!(e.status, EntryStatus::Created);
    assert_eq!(
        e.data.value(),
        json!({"id": "vpc-0abc", "cidr": "10.0.0.0/16"})
    );
    assert_eq!(e.error, None);
    assert_eq!(keys_of(j.state().created()), ["infra.net"]);
    assert_eq!(j.state().in_doubt().count(), 0);
    assert_eq!(j.state().last_seq(), 2);
}

#[test]
fn undo_intent_keeps_ids_and_undone_removes() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("infra.net", "aws.Vpc", json!({})).unwrap();
    j.done("infra.net", json!({"id": "vpc-1"})).unwrap();
    j.intent("infra.server", "aws.Instance", json!({})).unwrap();
    j.done("infra.server", json!({"id": "i-1"})).unwrap();
    j.undo_intent("infra.server").unwrap();
    drop(j); // crash during the delete call

    let mut j = open(dir.path());
    let e = j.state().get("infra.server").unwrap();
    assert_eq!(
        (e.status, e.data.value()),
        (EntryStatus::Deleting, json!({"id": "i-1"}))
    );
    assert_eq!(keys_of(j.state().in_doubt()), ["infra.server"]);
    j.undone("infra.server").unwrap();
    j.undo_intent("infra.net").unwrap();
    j.undone("infra.net").unwrap();
    drop(j);

    let j = open(dir.path());
    assert!(j.state().get("infra.server").is_none());
    assert!(j.state().is_empty());
    assert_eq!(j.state().last_seq(), 8);
}

#[test]
fn failures_keep_data_and_say_which_call_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    script(&mut j);
    drop(j);

    let mut j = open(dir.path());
    let subnet = j.state().get("infra.subnet").unwrap();
    assert_eq!(subnet.status, EntryStatus::CreateFailed);
    assert_eq!(subnet.error.as_deref(), Some("InvalidSubnet.Range"));
    assert_eq!(subnet.data.value(), json!({"vpc": "vpc-1"}));
    let server = j.state().get("infra.server").unwrap();
    assert_eq!(server.status, EntryStatus::DeleteFailed);
    assert_eq!(server.error.as_deref(), Some("DependencyViolation"));
    assert_eq!(server.data.value(), json!({"id": "i-1", "ip": "10.0.0.5"}));
    assert_eq!(keys_of(j.state().in_doubt()), ["infra.fip"]);
    assert_eq!(
        keys(j.state()),
        ["infra.net", "infra.subnet", "infra.server", "infra.fip"]
    );
    assert!(j.state().get("infra.tmp").is_none());

    // A retry clears the error.
    j.intent("infra.subnet", "aws.Subnet", json!({"vpc": "vpc-1"}))
        .unwrap();
    j.done("infra.subnet", json!({"id": "subnet-1"})).unwrap();
    let subnet = j.state().get("infra.subnet").unwrap();
    assert_eq!(
        (subnet.status, subnet.error.as_ref()),
        (EntryStatus::Created, None)
    );
}

#[test]
fn order_is_introduction_order_across_retries_restarts_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    for k in ["a", "b", "c"] {
        j.intent(k, "t", json!({})).unwrap();
    }
    j.failed("b", "boom").unwrap();
    j.intent("b", "t", json!({})).unwrap(); // a retry keeps its place
    j.undo_intent("a").unwrap();
    j.undone("a").unwrap();
    j.intent("a", "t", json!({})).unwrap(); // a new life goes to the end
    assert_eq!(keys(j.state()), ["b", "c", "a"]);
    assert_eq!(
        j.state().iter().rev().map(|e| &*e.key).collect::<Vec<_>>(),
        ["a", "c", "b"]
    );
    drop(j);

    let mut j = open(dir.path());
    assert_eq!(keys(j.state()), ["b", "c", "a"]);
    j.compact().unwrap();
    j.intent("d", "t", json!({})).unwrap();
    drop(j);
    assert_eq!(keys(open(dir.path()).state()), ["b", "c", "a", "d"]);
}

/// The key of the `i`th entry of [`numbered`].
fn key(i: usize) -> String {
    format!("infra.n{i}")
}

/// A journal in memory with `n` entries, `key(0)` to `key(n - 1)`, each with its number as data.
fn numbered(n: usize) -> Journal<MemoryStore> {
    let mut j = Journal::open(MemoryStore::new()).unwrap();
    for i in 0..n {
        j.intent(key(i), "t", json!({ "i": i })).unwrap();
    }
    j
}

#[test]
fn removals_keep_the_order_and_the_index_through_many_holes() {
    let mut j = numbered(300);
    // Two thirds removed, from both ends and the middle: the holes are squeezed out on the way.
    let gone = |i: usize| i % 3 != 1;
    for i in (0..300).filter(|&i| gone(i) && i % 2 == 0) {
        j.forget(&key(i)).unwrap();
    }
    for i in (0..300).rev().filter(|&i| gone(i) && i % 2 == 1) {
        j.forget(&key(i)).unwrap();
    }
    j.rename(&key(298), "infra.last").unwrap();
    j.intent("infra.new", "t", json!({})).unwrap();
    let mut want: Vec<String> = (0..300).filter(|&i| !gone(i)).map(key).collect();
    *want.last_mut().unwrap() = "infra.last".into();
    want.push("infra.new".into());
    let st = j.state();
    assert_eq!(keys(st), want);
    assert_eq!(st.len(), 101);
    assert_eq!(st.iter().len(), 101);
    let back: Vec<&str> = st.iter().rev().map(|e| &*e.key).collect();
    assert_eq!(
        back,
        want.iter().rev().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(st.get(&key(151)).unwrap().data.value(), json!({ "i": 151 }));
    assert!(st.get(&key(150)).is_none() && st.get(&key(298)).is_none());
    // Reading the state back (as a snapshot) gives an equal one.
    let copy: State = serde_json::from_str(&serde_json::to_string(st).unwrap()).unwrap();
    assert_eq!(&copy, st);
}

/// A rename onto a key the state has replaces that entry; when the entry it replaces leaves
/// enough holes for them to be squeezed out, the renamed entry is found under its new key.
#[test]
fn a_rename_onto_an_existing_key_survives_the_holes_being_squeezed_out() {
    let mut j = numbered(64);
    // 31 holes: the next removal makes them half the list.
    for i in 0..31 {
        j.forget(&key(i)).unwrap();
    }
    j.rename(&key(63), &key(40)).unwrap();
    let st = j.state();
    assert_eq!(st.len(), 32);
    assert_eq!(st.get(&key(40)).unwrap().data.value(), json!({ "i": 63 }));
    assert!(st.get(&key(63)).is_none());
    let want: Vec<String> = (31..63)
        .filter(|&i| i != 40)
        .map(key)
        .chain([key(40)])
        .collect();
    assert_eq!(keys(st), want);
}

#[test]
fn torn_last_line_is_dropped_and_cut_off() {
    for torn in [&br#"{"seq":4,"at_ms":17,"op":"do"#[..], b"\0\0\0\0\0\0\0\0"] {
        let dir = tempfile::tempdir().unwrap();
        let mut j = open(dir.path());
        j.intent("a", "t", json!({})).unwrap();
        j.done("a", json!({"id": 1})).unwrap();
        j.intent("b", "t", json!({})).unwrap();
        let before = j.state().clone();
        drop(j);
        let path = dir.path().join(store::JOURNAL_FILE);
        let good_len = fs::metadata(&path).unwrap().len();
        fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(torn)
            .unwrap();

        let mut j = open(dir.path());
        assert_eq!(j.state(), &before);
        assert_eq!(
            fs::metadata(&path).unwrap().len(),
            good_len,
            "torn tail is cut off"
        );
        // The next append starts on a fresh line, so nothing is glued to the tear.
        j.done("b", json!({"id": 2})).unwrap();
        drop(j);
        let j = open(dir.path());
        assert_eq!(j.state().get("b").unwrap().status, EntryStatus::Created);
        assert_eq!(j.state().last_seq(), 4);
        assert_eq!(journal_lines(dir.path()).len(), 4);
    }
}

#[test]
fn unparsable_line_before_the_end_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("a", "t", json!({})).unwrap();
    drop(j);
    let path = dir.path().join(store::JOURNAL_FILE);
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("garbage\n");
    text.push_str(r#"{"seq":3,"at_ms":1,"op":"done","key":"a","kind":"t"}"#);
    text.push('\n');
    fs::write(&path, text).unwrap();

    let err = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { line: 2, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{}:2: corrupt journal record", path.display())
    );
}

#[test]
fn a_complete_last_line_that_does_not_parse_is_corruption_not_a_tear() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("a", "t", json!({})).unwrap();
    drop(j);
    let path = dir.path().join(store::JOURNAL_FILE);
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"seq\":2,\"garbage\n").unwrap();
    let err = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Corrupt { line: 2, .. }), "{err:?}");
}

#[test]
fn a_gap_in_the_sequence_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    for k in ["a", "b", "c"] {
        j.intent(k, "t", json!({})).unwrap();
    }
    drop(j);
    let path = dir.path().join(store::JOURNAL_FILE);
    let lines = journal_lines(dir.path());
    fs::write(&path, format!("{}\n{}\n", lines[0], lines[2])).unwrap();
    let err = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Gap {
                expected_after: 1,
                found: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("records are missing"), "{err}");
}

#[test]
fn a_lost_snapshot_is_refused_not_read_as_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("a", "t", json!({})).unwrap();
    j.compact().unwrap();
    j.intent("b", "t", json!({})).unwrap();
    drop(j);
    fs::remove_file(dir.path().join(store::SNAPSHOT_FILE)).unwrap();
    let err = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Gap {
                expected_after: 0,
                found: 2,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("snapshot"), "{err}");
}

#[test]
fn unreadable_snapshot_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(store::SNAPSHOT_FILE), "{not json").unwrap();
    let err = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Snapshot { .. }), "{err:?}");
}

#[test]
fn compaction_keeps_the_state_and_empties_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    script(&mut j);
    let before = j.state().clone();
    j.compact().unwrap();
    assert_eq!(
        fs::metadata(dir.path().join(store::JOURNAL_FILE))
            .unwrap()
            .len(),
        0
    );
    assert!(!dir.path().join("snapshot.json.tmp").exists());
    let snap: Value =
        serde_json::from_str(&fs::read_to_string(dir.path().join(store::SNAPSHOT_FILE)).unwrap())
            .unwrap();
    assert_eq!(snap["last_seq"], 13);
    assert_eq!(snap["entries"].as_array().unwrap().len(), 4);
    assert_eq!(snap["meta"]["status"], "tearing down");
    drop(j);

    let mut j = open(dir.path());
    assert_eq!(j.state(), &before);
    // Appends after compaction continue the sequence on top of the snapshot.
    j.done("infra.fip", json!({"ip": "203.0.113.9"})).unwrap();
    let after = j.state().clone();
    drop(j);
    assert_eq!(journal_lines(dir.path()).len(), 1);
    assert!(journal_lines(dir.path())[0].starts_with(r#"{"seq":14,"#));
    assert_eq!(open(dir.path()).state(), &after);
}

#[test]
fn compactions_in_a_row_replace_the_files_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    for round in 0..3 {
        let key = format!("infra.net{round}");
        j.intent(key.as_str(), "aws.Vpc", json!({})).unwrap();
        j.compact().unwrap();
        // The journal the records went to is replaced; the next append goes to the new one.
        j.done(&key, json!({"id": round})).unwrap();
        assert_eq!(journal_lines(dir.path()).len(), 1, "round {round}");
        assert_eq!(mode(&dir.path().join(store::JOURNAL_FILE)), 0o600);
    }
    let before = j.state().clone();
    // The replaced snapshots are removed on another thread: soon, not at once.
    let names = crate::test_util::names_in;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while names(dir.path()) != ["journal.jsonl", "lock", "snapshot.json"] {
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: {:?}",
            names(dir.path())
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    drop(j);
    assert_eq!(open(dir.path()).state(), &before);
}

#[test]
fn what_a_crashed_compaction_left_is_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("a", "t", json!({})).unwrap();
    j.compact().unwrap();
    j.done("a", json!({"id": 1})).unwrap();
    let before = j.state().clone();
    drop(j);
    // A second name of a replaced snapshot, and an empty journal that never took the name.
    fs::write(dir.path().join("snapshot.json.old.3"), "{}").unwrap();
    fs::write(dir.path().join("journal.jsonl.new"), "").unwrap();
    assert_eq!(open(dir.path()).state(), &before);
    assert!(!dir.path().join("snapshot.json.old.3").exists());
    assert!(!dir.path().join("journal.jsonl.new").exists());
}

#[test]
fn records_already_in_the_snapshot_are_not_replayed() {
    // A crash between the snapshot rename and the journal's replacement leaves
    // old records beside a snapshot that already holds them.
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("a", "t", json!({})).unwrap();
    j.done("a", json!({"id": 1})).unwrap();
    j.compact().unwrap();
    let before = j.state().clone();
    drop(j);
    let stale = r#"{"seq":2,"at_ms":1,"op":"forget","key":"a","kind":"t"}"#;
    fs::write(dir.path().join(store::JOURNAL_FILE), format!("{stale}\n")).unwrap();
    assert_eq!(open(dir.path()).state(), &before);
}

#[test]
fn automatic_compaction_keeps_the_journal_short() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(FileStore::open(dir.path()).unwrap().compact_after(10)).unwrap();
    for i in 0..100 {
        let key = format!("infra.workers.{i}.server");
        j.intent(key.as_str(), "aws.Instance", json!({})).unwrap();
        j.done(&key, json!({"id": format!("i-{i}")})).unwrap();
    }
    let before = j.state().clone();
    drop(j);
    // Compaction runs once the journal reaches max(10, entries) records.
    let lines = journal_lines(dir.path()).len();
    assert!((1..100).contains(&lines), "{lines} journal lines");
    assert!(dir.path().join(store::SNAPSHOT_FILE).exists());
    let j = open(dir.path());
    assert_eq!(j.state(), &before);
    assert_eq!(j.state().created().count(), 100);
    assert_eq!(
        j.state()
            .get("infra.workers.99.server")
            .unwrap()
            .data
            .value(),
        json!({"id": "i-99"})
    );
}

#[test]
fn files_are_private_and_loose_modes_are_fixed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(".actuator/demo");
    let mut j = open(&dir);
    j.intent("a", "t", json!({})).unwrap();
    j.compact().unwrap();
    j.intent("b", "t", json!({})).unwrap();
    drop(j);
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&root.path().join(".actuator")), 0o700);
    for f in [store::JOURNAL_FILE, store::SNAPSHOT_FILE, store::LOCK_FILE] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }

    // The state's own files are fixed; the directory, once it exists, is the user's: its mode
    // is left as it is.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    for f in [store::JOURNAL_FILE, store::SNAPSHOT_FILE, store::LOCK_FILE] {
        fs::set_permissions(dir.join(f), fs::Permissions::from_mode(0o644)).unwrap();
    }
    drop(open(&dir));
    assert_eq!(mode(&dir), 0o755);
    for f in [store::JOURNAL_FILE, store::SNAPSHOT_FILE, store::LOCK_FILE] {
        assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
    }
}

fn full_mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_directory_others_can_write_is_refused_and_left_alone() {
    for m in [0o1777, 0o777, 0o770, 0o722] {
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        fs::create_dir(&shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(m)).unwrap();
        for err in [
            FileStore::open(&shared).unwrap_err(),
            FileStore::open_read_only(&shared).unwrap_err(),
        ] {
            assert!(
                matches!(err, Error::SharedDir { mode, .. } if mode == m),
                "{err:?}"
            );
            let msg = err.to_string();
            assert!(
                msg.contains("shared") && msg.contains("writable by others"),
                "{msg}"
            );
        }
        assert_eq!(full_mode(&shared), m, "never changed");
        assert_eq!(
            fs::read_dir(&shared).unwrap().count(),
            0,
            "nothing created in it"
        );
        // A new directory inside it is the tool's own: created private.
        drop(open(&shared.join("mine")));
        assert_eq!(mode(&shared.join("mine")), 0o700);
        assert_eq!(full_mode(&shared), m);
    }
}

#[test]
fn a_read_only_directory_is_read_but_never_written_or_made_writable() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent("a", "t", json!({})).unwrap();
    drop(j);
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o500)).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::ReadOnly { .. }), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    let r = Journal::open(FileStore::open_read_only(dir.path()).unwrap()).unwrap();
    assert!(r.state().get("a").is_some());
    assert_eq!(mode(dir.path()), 0o500, "never made writable");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn a_reader_sees_the_last_durable_record_while_the_writer_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::open(dir.path()).unwrap().compact_after(3);
    let mut w = Journal::open(store).unwrap();
    for i in 0..10 {
        w.intent(format!("k{i}"), "t", json!({})).unwrap();
        // Every prefix, across compactions, reads back as exactly what was written.
        let r = Journal::open(FileStore::open_read_only(dir.path()).unwrap()).unwrap();
        assert_eq!(r.state(), w.state(), "after record {i}");
    }
    // A torn append in progress is invisible to a reader, and left for the writer to handle.
    let journal = dir.path().join(store::JOURNAL_FILE);
    let before = fs::read(&journal).unwrap();
    fs::OpenOptions::new()
        .append(true)
        .open(&journal)
        .unwrap()
        .write_all(b"{\"seq\":99")
        .unwrap();
    let r = Journal::open(FileStore::open_read_only(dir.path()).unwrap()).unwrap();
    assert_eq!(r.state(), w.state());
    assert_eq!(
        fs::read(&journal).unwrap().len(),
        before.len() + 9,
        "reader wrote nothing"
    );
    // A missing directory is an empty state, and is not created.
    let none = dir.path().join("none");
    let r = Journal::open(FileStore::open_read_only(&none).unwrap()).unwrap();
    assert!(r.state().is_empty() && !none.exists());
}

#[test]
fn a_second_store_on_the_same_state_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = FileStore::open(dir.path()).unwrap();
    let err = FileStore::open(dir.path()).unwrap_err();
    let lock = dir.path().join(store::LOCK_FILE);
    assert!(
        matches!(&err, Error::Locked { lock: l, .. } if *l == lock),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("lock file: {}", lock.display())),
        "{msg}"
    );
    assert!(
        msg.contains(&format!("(pid {} on host ", std::process::id())),
        "{msg}"
    );
    drop(first);
    FileStore::open(dir.path()).unwrap();
}

#[test]
fn secrets_never_reach_the_state_files() {
    #[derive(serde::Serialize)]
    struct Server {
        name: String,
        image: String,
        #[serde(skip)]
        admin_password: Secret,
    }
    let server = Server {
        name: "actuator1".into(),
        image: "ubuntu-24.04".into(),
        admin_password: Secret::new("Tr0ub4dor&3-never-on-disk"),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.intent(
        "infra.server",
        "azure.Vm",
        serde_json::to_value(&server).unwrap(),
    )
    .unwrap();
    j.done("infra.server", json!({"id": "vm-1"})).unwrap();
    j.compact().unwrap();
    j.intent(
        "infra.other",
        "azure.Vm",
        serde_json::to_value(&server).unwrap(),
    )
    .unwrap();
    drop(j);

    let mut seen = String::new();
    for f in fs::read_dir(dir.path()).unwrap() {
        seen += &fs::read_to_string(f.unwrap().path()).unwrap();
    }
    assert!(
        seen.contains("ubuntu-24.04"),
        "the rest of the resource was written"
    );
    assert!(!seen.contains(server.admin_password.expose()));
    assert!(!seen.contains("admin_password"));
}

#[test]
fn ten_thousand_appends_load_as_ten_thousand_entries() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    for i in 0..10_000 {
        j.intent(
            format!("infra.workers.{i}.server"),
            "aws.Instance",
            json!({"n": i}),
        )
        .unwrap();
    }
    drop(j);
    let j = open(dir.path());
    assert_eq!(j.state().len(), 10_000);
    assert_eq!(j.state().in_doubt().count(), 10_000);
    assert_eq!(
        &*j.state().iter().nth(9_999).unwrap().key,
        "infra.workers.9999.server"
    );
    assert_eq!(
        j.state()
            .get("infra.workers.4321.server")
            .unwrap()
            .data
            .value(),
        json!({"n": 4321})
    );
    assert_eq!(j.state().last_seq(), 10_000);
}

#[test]
fn completions_of_unknown_keys_are_refused_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    assert!(matches!(j.done("nope", json!({})), Err(Error::UnknownKey(k)) if k == "nope"));
    assert!(j.failed("nope", "x").is_err());
    assert!(j.undo_intent("nope").is_err());
    assert!(j.undone("nope").is_err());
    assert!(j.forget("nope").is_err());
    assert_eq!(
        j.done("nope", json!({})).unwrap_err().to_string(),
        "no state entry for `nope`"
    );
    assert!(journal_lines(dir.path()).is_empty());
    assert_eq!(j.state().last_seq(), 0);
}

#[test]
fn meta_survives_restart_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = open(dir.path());
    j.set_meta("system", Some("grid")).unwrap();
    j.set_meta("status", Some("up")).unwrap();
    j.set_meta("up_at_ms", Some("1700000000000")).unwrap();
    j.set_meta("up_at_ms", None).unwrap();
    drop(j);
    let mut j = open(dir.path());
    j.compact().unwrap();
    drop(j);
    let j = open(dir.path());
    let meta: Vec<_> = j
        .state()
        .meta()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(meta, [("status", "up"), ("system", "grid")]);
    assert!(j.state().is_empty());
    assert!(j.state().updated_at_ms() > 0);
}

#[test]
fn memory_store_folds_like_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = open(dir.path());
    let mut mem = Journal::open(MemoryStore::new()).unwrap();
    script(&mut file);
    script(&mut mem);
    assert_eq!(summary(file.state()), summary(mem.state()));
    assert_eq!(file.state().meta(), mem.state().meta());
    assert_eq!(mem.store().pending(), 13);
    let mut reloaded = mem.store().clone();
    assert_eq!(&reloaded.load().unwrap(), mem.state());
    drop(file);
    assert_eq!(summary(open(dir.path()).state()), summary(mem.state()));
}

#[test]
fn system_names_cannot_escape_the_state_directory() {
    for bad in ["", ".", "..", "a/b", "../x", "a\0b"] {
        assert!(
            matches!(
                FileStore::for_workspace(bad, "default"),
                Err(Error::InvalidName(_))
            ),
            "{bad:?}"
        );
    }
}

#[test]
fn a_batch_the_store_lost_and_cannot_read_back_stops_every_later_write() {
    // A database that went away mid-run: the batch's append fails, and so does reading the state
    // back. Writing on once it is back would number the next records after the lost ones — a
    // hole the next run refuses to read.
    struct Gone {
        inner: MemoryStore,
        down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    }
    impl Gone {
        fn check(&self) -> Result<()> {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::Store {
                    location: "postgres://db/actuator".into(),
                    message: "connection refused".into(),
                });
            }
            Ok(())
        }
    }
    impl StateStore for Gone {
        fn load(&mut self) -> Result<State> {
            self.check()?;
            self.inner.load()
        }
        fn append(&mut self, records: &[Record]) -> Result<()> {
            self.check()?;
            self.inner.append(records)
        }
        fn compact(&mut self, state: &State) -> Result<()> {
            self.inner.compact(state)
        }
    }
    let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut j = Journal::open(Gone {
        inner: MemoryStore::new(),
        down: down.clone(),
    })
    .unwrap();
    j.intent("infra.a", "test.Network", json!({})).unwrap();
    down.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(
        j.batch(|j| j.intent("infra.b", "test.Network", json!({})))
            .is_err()
    );
    down.store(false, std::sync::atomic::Ordering::SeqCst);
    for e in [
        j.batch(|j| j.intent("infra.c", "test.Network", json!({})))
            .unwrap_err(),
        j.intent("infra.d", "test.Network", json!({})).unwrap_err(),
        // Nor does it become the store's snapshot.
        j.compact().unwrap_err(),
    ] {
        assert!(matches!(e, Error::Unwritable { .. }), "{e}");
        assert!(
            e.to_string().contains(
                "the state could not be written (state postgres://db/actuator: connection refused)"
            ),
            "{e}"
        );
    }
    // What the store holds has no hole: opened again, it reads (and writes) on from there.
    let mut again = Journal::open(j.store().inner.clone()).unwrap();
    assert_eq!(again.state().last_seq(), 1);
    again.intent("infra.c", "test.Network", json!({})).unwrap();
    assert_eq!(again.state().get("infra.c").unwrap().order, 2);
}

#[test]
fn journal_lines_and_snapshots_are_written_as_their_serialize_writes_them() {
    // The journal's writer and the compaction write records and entries field by field; what
    // they write must stay what `Serialize` (and so every reader and other store) means.
    let ops = [
        RecordOp::Intent,
        RecordOp::Done,
        RecordOp::Failed,
        RecordOp::UndoIntent,
        RecordOp::Undone,
        RecordOp::Forget,
        RecordOp::Meta,
        RecordOp::Update,
        RecordOp::Rename,
    ];
    let datas = [
        Data::null(),
        Data::from(json!("a \"quoted\"\nline")),
        Data::from(json!({"id": "i-1", "deps": ["x"], "n": 1.5})),
    ];
    let mut state = State::new();
    for (i, op) in ops.iter().enumerate() {
        assert_eq!(serde_json::to_value(op).unwrap(), op.as_str());
        for (j, data) in datas.iter().enumerate() {
            let rec = Record {
                seq: (i * 10 + j) as u64 + 1,
                at_ms: u64::MAX - i as u64,
                op: *op,
                key: format!("infra.\"odd\" key\\\u{7f}é\t{i}").into(),
                kind: if j == 0 { "".into() } else { "aws.Vpc".into() },
                data: data.clone(),
            };
            let mut line = Vec::new();
            rec.write_line(&mut line).unwrap();
            assert_eq!(
                String::from_utf8(line).unwrap(),
                serde_json::to_string(&rec).unwrap() + "\n"
            );
            state.apply(&rec);
        }
    }
    state.apply(&Record {
        seq: 100,
        at_ms: 7,
        op: RecordOp::Intent,
        key: "infra.failed".into(),
        kind: "aws.Vpc".into(),
        data: Data::null(),
    });
    state.apply(&Record {
        seq: 101,
        at_ms: 8,
        op: RecordOp::Failed,
        key: "infra.failed".into(),
        kind: "aws.Vpc".into(),
        data: Data::from(json!("quota \"exceeded\"")),
    });
    state.apply(&Record {
        seq: 102,
        at_ms: 9,
        op: RecordOp::Meta,
        key: "status".into(),
        kind: "".into(),
        data: Data::from(json!("provisioning \"now\"")),
    });
    assert!(state.iter().any(|e| e.error.is_some()) && !state.meta().is_empty());
    for st in [State::new(), state] {
        for status in [EntryStatus::Creating, EntryStatus::CreateFailed] {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        let mut snapshot = Vec::new();
        st.write_snapshot(&mut snapshot).unwrap();
        assert_eq!(
            String::from_utf8(snapshot).unwrap(),
            serde_json::to_string(&st).unwrap()
        );
    }
}
