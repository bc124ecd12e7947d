//! The PostgreSQL state store beside the file store, in the same run (a plain binary:
//! `cargo bench -p actuator-tests --features postgres --bench postgres`), against a loopback
//! cluster of `scripts/postgres.sh` of its own (`ACTUATOR_PG_INSTANCE=pgbench`) started
//! *durable* — fsync and synchronous commit on, as the file store syncs every append; the test
//! cluster has them off for speed, which would flatter PostgreSQL. Each scenario alternates file
//! and PostgreSQL run by run, so both see the same machine; min / median / max of the runs are
//! printed, and the ratio of the medians (PostgreSQL / file).
//!
//! * `append 1`: journal records appended one at a time (`Journal::intent`), each durable before
//!   the next — a round trip (PostgreSQL) or an fsync (file) per record;
//! * `append 100`: records appended in batches of 100 (`Journal::batch`): group commit;
//! * `up N`: `up` of N resources on the zero-latency simulated cloud through
//!   `ActuatorOrchestration` (its journal writer groups concurrent records), default
//!   compaction.
//!
//! Environment: `ACTUATOR_PG_BENCH_RUNS` (default 3), `ACTUATOR_PG_BENCH_UP` (comma-separated
//! sizes, default `10000,100000`; the 100,000 case runs once per store unless
//! `ACTUATOR_PG_BENCH_RUNS_BIG` says more), `STATE_BENCH_DIR` (where the file store writes;
//! default the system temp dir).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use actuator::infra::test::Network;
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator::provision::SimProxy;
use actuator::state::{FileStore, Journal, StateStore, Target};
use actuator_postgres::PgStore;
use actuator_tests::postgres::{Cluster, url_in};
use serde_json::json;

#[derive(InfraModel)]
struct Flat {
    #[component(MultiResource::new(Network::new("net")))]
    nets: MultiResource<Network>,
}

/// The durable cluster's URL (set once in `main`).
static BASE: OnceLock<String> = OnceLock::new();

/// A URL of a fresh schema on the durable cluster.
fn pg_url(tag: &str) -> String {
    url_in(BASE.get().expect("cluster started"), tag, "")
}

#[derive(Clone, Copy, PartialEq)]
enum Store {
    File,
    Pg,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::File => "file",
            Store::Pg => "postgres",
        }
    }
}

fn temp_dir() -> tempfile::TempDir {
    match std::env::var_os("STATE_BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d).expect("temp dir"),
        None => tempfile::tempdir().expect("temp dir"),
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: `{v}` is not a number"))
        })
        .unwrap_or(default)
}

/// A store of `kind` for one run: a fresh directory, or a fresh schema.
fn open(kind: Store, dir: &tempfile::TempDir, tag: &str) -> Box<dyn StateStore + Send> {
    match kind {
        Store::File => Box::new(FileStore::open(dir.path()).expect("file store")),
        Store::Pg => Box::new(
            PgStore::open(&pg_url(tag), &Target::new("bench", "default")).expect("postgres store"),
        ),
    }
}

/// `n` records through the journal, `batch` per append; the time of the appends alone.
fn append(kind: Store, n: usize, batch: usize) -> Duration {
    let dir = temp_dir();
    let mut j = Journal::open(open(kind, &dir, "append")).expect("journal");
    let t = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(batch) {
        let write = |j: &mut Journal<Box<dyn StateStore + Send>>| {
            for &i in chunk {
                j.intent(
                    format!("infra.workers.{i}.server"),
                    "aws.Instance",
                    json!({"client_token": format!("tok-{i}"), "image": "ubuntu-24.04"}),
                )
                .expect("append");
            }
        };
        if batch == 1 {
            write(&mut j);
        } else {
            j.batch(write).expect("batch");
        }
    }
    let took = t.elapsed();
    assert_eq!(j.state().len(), n);
    took
}

/// `up` of `n` resources on the zero-latency simulated cloud; the time of `up` alone.
fn up(kind: Store, n: usize) -> Duration {
    actuator_postgres::register();
    let dir = temp_dir();
    let sim = Arc::new(SimProxy::default());
    let infra = Flat::instance("flat");
    for k in 0..n {
        infra.index(infra.root().nets, k);
    }
    let o = ActuatorOrchestration::new("bench")
        .infra(&infra)
        .proxy(sim.clone())
        .max_concurrency(1000)
        .handler(Arc::new(actuator::events::NullHandler));
    let mut o = match kind {
        Store::File => o.state_dir(dir.path()),
        Store::Pg => o.state_url(&pg_url("up")),
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let t = Instant::now();
    let ok = rt.block_on(o.initiate_system());
    let took = t.elapsed();
    assert!(ok, "{:?}", o.failures());
    assert_eq!(sim.live().len(), n);
    took
}

/// Runs `f` for each store `runs` times, alternating, and prints the figures.
fn compare(what: &str, unit: Option<usize>, runs: usize, mut f: impl FnMut(Store) -> Duration) {
    let (mut file, mut pg) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        file.push(f(Store::File));
        pg.push(f(Store::Pg));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (fm, pm) = (median(&mut file), median(&mut pg));
    for (kind, v, m) in [(Store::File, &file, fm), (Store::Pg, &pg, pm)] {
        let rate = unit.map_or(String::new(), |n| {
            format!(", {:.0} records/s", n as f64 / m.as_secs_f64())
        });
        println!(
            "{what:<12} {:<8} min {:>8.3} s  median {:>8.3} s  max {:>8.3} s{rate}  ({} runs)",
            kind.name(),
            v[0].as_secs_f64(),
            m.as_secs_f64(),
            v[v.len() - 1].as_secs_f64(),
            v.len(),
        );
    }
    println!(
        "{what:<12} postgres / file (medians): {:.2}×",
        pm.as_secs_f64() / fm.as_secs_f64()
    );
}

fn main() {
    let runs = env_usize("ACTUATOR_PG_BENCH_RUNS", 3);
    let runs_big = env_usize("ACTUATOR_PG_BENCH_RUNS_BIG", 1);
    let sizes: Vec<usize> = std::env::var("ACTUATOR_PG_BENCH_UP")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("ACTUATOR_PG_BENCH_UP: sizes"))
        .collect();
    let cluster = Cluster::start_durable("pgbench");
    BASE.set(cluster.url.clone()).expect("set once");
    println!(
        "postgres: fsync {}, synchronous_commit {}; file store in {}",
        cluster.psql("SHOW fsync"),
        cluster.psql("SHOW synchronous_commit"),
        temp_dir()
            .path()
            .parent()
            .map_or("?".into(), |p| p.display().to_string())
    );
    // Migrate one schema before any timing (connections are the store's own, per run).
    drop(open(Store::Pg, &temp_dir(), "warm"));

    compare("append 1", Some(1000), runs, |k| append(k, 1000, 1));
    compare("append 100", Some(10_000), runs, |k| append(k, 10_000, 100));
    for n in sizes {
        let r = if n > 10_000 { runs_big } else { runs };
        compare(&format!("up {n}"), None, r, |k| up(k, n));
    }
}
