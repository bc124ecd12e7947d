//! `cargo bench --bench state`: journal cost per record, load times, and a
//! check that building a state grows linearly. Files go to a temporary
//! directory under `$STATE_BENCH_DIR` (default: the system temp dir), so the
//! fsync figures are those of that file system.

use std::time::{Duration, Instant};

use actuator::state::{FileStore, Journal, Record, RecordOp, StateStore, now_ms};
use serde_json::json;

fn temp_dir() -> tempfile::TempDir {
    match std::env::var_os("STATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).unwrap(),
        None => tempfile::tempdir().unwrap(),
    }
}

/// `up` of `n` resources: intent + done each, default automatic compaction.
fn up(n: usize) -> Duration {
    let dir = temp_dir();
    let mut j = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap();
    let start = Instant::now();
    for i in 0..n {
        let key = format!("infra.workers.{i}.server");
        j.intent(
            key.as_str(),
            "aws.Instance",
            json!({"client_token": format!("tok-{i}"), "image": "ubuntu-24.04"}),
        )
        .unwrap();
        j.done(
            &key,
            json!({"id": format!("i-{i:017x}"), "private_ip": "10.0.3.17"}),
        )
        .unwrap();
    }
    let took = start.elapsed();
    assert_eq!(j.state().created().count(), n);
    took
}

/// Writes `records` journal records (intent + done for records/2 resources)
/// without compaction, then times opening and loading them.
fn load(records: usize, compacted: bool) -> Duration {
    let dir = temp_dir();
    let mut store = FileStore::open(dir.path())
        .unwrap()
        .compact_after(usize::MAX);
    let recs: Vec<Record> = (0..records)
        .map(|s| {
            let (op, data) = match s % 2 {
                0 => (
                    RecordOp::Intent,
                    json!({"client_token": format!("tok-{s}")}),
                ),
                _ => (
                    RecordOp::Done,
                    json!({"id": format!("i-{s:017x}"), "private_ip": "10.0.3.17"}),
                ),
            };
            let key = format!("infra.workers.{}.server", s / 2);
            Record {
                seq: s as u64 + 1,
                at_ms: now_ms(),
                op,
                key: key.into(),
                kind: "aws.Instance".into(),
                data: data.into(),
            }
        })
        .collect();
    for batch in recs.chunks(1000) {
        store.append(batch).unwrap();
    }
    if compacted {
        let state = store.load().unwrap();
        store.compact(&state).unwrap();
    }
    drop(store);
    let start = Instant::now();
    let j = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap();
    let took = start.elapsed();
    assert_eq!(j.state().len(), records / 2);
    took
}

fn main() {
    println!(
        "state benchmark (files under {})",
        temp_dir().path().parent().unwrap().display()
    );

    let n = 10_000;
    let big = up(n);
    let per = big / (2 * n as u32);
    println!(
        "up {n} resources, intent+done with fdatasync each: total {big:.2?}, {per:.1?} per journal record ({} records)",
        2 * n
    );

    for records in [10_000, 100_000] {
        println!(
            "load {records} journal records ({} entries): {:.2?} from journal, {:.2?} from snapshot",
            records / 2,
            load(records, false),
            load(records, true)
        );
    }

    let small = up(1_000);
    println!(
        "growth: up 1000 resources {small:.2?}, 10000 resources {big:.2?}: ratio {:.1} (linear ≈ 10, quadratic ≈ 100)",
        big.as_secs_f64() / small.as_secs_f64()
    );
}
