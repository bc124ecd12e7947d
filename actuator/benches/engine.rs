//! Engine benchmarks: `cargo bench --bench engine [SCENARIO-FILTER]`.
//!
//! Each scenario runs in a fresh child process (`--scenario NAME`) so the
//! peak RSS (VmHWM) printed is that scenario's alone.

mod common;

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actuator::engine::queue::ReadyQueue;
use actuator::engine::{
    Dag, FnWork, NodeId, NullObserver, RetryPolicy, WalkOptions, WalkReport, Work, walk,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio_util::sync::CancellationToken;

const SCENARIOS: [&str; 9] = [
    "queue-chains",
    "queue-random",
    "walk-flat",
    "walk-chains",
    "walk-flat-unbounded",
    "walk-flat-block_on",
    "walk-chains-block_on",
    "levels-c1000",
    "levels-c10",
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--scenario") {
        return scenario(&args[i + 1]);
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let exe = std::env::current_exe().unwrap();
    for name in SCENARIOS
        .iter()
        .filter(|s| filter.is_none_or(|f| s.contains(f.as_str())))
    {
        let out = Command::new(&exe)
            .args(["--scenario", name])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
}

fn chains(count: u32, len: u32) -> Dag {
    let mut dag = Dag::new((count * len) as usize);
    for c in 0..count {
        for i in 1..len {
            dag.add_edge(NodeId(c * len + i - 1), NodeId(c * len + i));
        }
    }
    dag
}

/// `levels` levels of `width` nodes; each depends on 1-3 nodes of the level above.
fn layered(levels: u32, width: u32, seed: u64) -> Dag {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dag = Dag::new((levels * width) as usize);
    for l in 1..levels {
        for i in 0..width {
            for _ in 0..rng.random_range(1..=3) {
                dag.add_edge(
                    NodeId((l - 1) * width + rng.random_range(0..width)),
                    NodeId(l * width + i),
                );
            }
        }
    }
    dag
}

fn random_dag(n: u32, seed: u64) -> Dag {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dag = Dag::new(n as usize);
    for b in 1..n {
        for _ in 0..rng.random_range(0..=3) {
            dag.add_edge(
                NodeId(rng.random_range(b.saturating_sub(1000)..b)),
                NodeId(b),
            );
        }
    }
    dag
}

/// Runs a walk on a 2-worker runtime, either as a spawned task (on a worker,
/// as recommended) or directly in `block_on` (on the non-worker main thread,
/// so every completion is a cross-thread wake-up).
fn run_walk<W: Work>(
    dag: Dag,
    work: W,
    opts: WalkOptions,
    on_worker: bool,
) -> (WalkReport, Duration) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let t = Instant::now();
    let go = async move {
        walk(
            &dag,
            Arc::new(work),
            &opts,
            CancellationToken::new(),
            &NullObserver,
        )
        .await
    };
    let report = match on_worker {
        true => rt.block_on(async { tokio::spawn(go).await.unwrap() }),
        false => rt.block_on(go),
    };
    (report.unwrap(), t.elapsed())
}

fn scenario(name: &str) {
    match name {
        "queue-chains" => queue(name, chains(10, 10_000)),
        "queue-random" => queue(name, random_dag(100_000, 7)),
        "walk-flat" => overhead(name, Dag::new(100_000), 1000, true),
        "walk-chains" => overhead(name, chains(10, 10_000), 1000, true),
        "walk-flat-unbounded" => overhead(name, Dag::new(100_000), usize::MAX, true),
        "walk-flat-block_on" => overhead(name, Dag::new(100_000), 1000, false),
        "walk-chains-block_on" => overhead(name, chains(10, 10_000), 1000, false),
        "levels-c1000" => quality(name, 1000),
        "levels-c10" => quality(name, 10),
        _ => panic!("unknown scenario {name}"),
    }
}

/// The synchronous queue alone: build (cycle check + priorities) and drain.
fn queue(name: &str, dag: Dag) {
    let t = Instant::now();
    let mut q = ReadyQueue::new(&dag, &HashSet::new()).unwrap();
    let mut n = 0;
    while let Some(v) = q.pop() {
        q.finish(v);
        n += 1;
    }
    assert_eq!(n, dag.len());
    println!(
        "{name:20} {} nodes, {} edges: schedule {:7.1} ms, peak RSS {:6.1} MB",
        dag.len(),
        dag.edge_count(),
        t.elapsed().as_secs_f64() * 1e3,
        common::peak_mb()
    );
}

/// Whole walk with zero-latency work: the engine's own overhead.
fn overhead(name: &str, dag: Dag, max_concurrency: usize, on_worker: bool) {
    let (nodes, edges) = (dag.len(), dag.edge_count());
    let work = FnWork(|_: NodeId, _: u32| async { Ok(()) });
    let opts = WalkOptions {
        max_concurrency,
        retry: RetryPolicy::never(),
        ..WalkOptions::default()
    };
    let (report, elapsed) = run_walk(dag, work, opts, on_worker);
    let limit = if max_concurrency == usize::MAX {
        "unbounded".to_string()
    } else {
        max_concurrency.to_string()
    };
    assert_eq!(report.succeeded.len(), nodes);
    let rss = common::peak_mb();
    let met = elapsed <= Duration::from_secs(1) && rss <= 300.0;
    println!(
        "{name:20} {nodes} nodes, {edges} edges, max_concurrency {limit}: walk {:6.1} ms ({:.2} µs/node), peak RSS {rss:5.1} MB [goal <= 1 s, <= 300 MB: {}]",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / nodes as f64,
        if met { "met" } else { "MISSED" },
    );
}

/// Scheduling quality on a layered DAG with 20 ms of (real) work per node.
fn quality(name: &str, max_concurrency: usize) {
    const WORK: Duration = Duration::from_millis(20);
    let dag = layered(10, 100, 42);
    let (nodes, edges) = (dag.len(), dag.edge_count());
    let work = FnWork(|_: NodeId, _: u32| async {
        tokio::time::sleep(WORK).await;
        Ok(())
    });
    let opts = WalkOptions {
        max_concurrency,
        retry: RetryPolicy::never(),
        ..WalkOptions::default()
    };
    let (report, makespan) = run_walk(dag, work, opts, true);
    assert_eq!(report.succeeded.len(), nodes);
    let critical = WORK * 10;
    let bound = critical.max(WORK * nodes as u32 / max_concurrency as u32);
    let ratio = makespan.as_secs_f64() / critical.as_secs_f64();
    let goal = match max_concurrency >= nodes {
        true => format!(
            " [goal <= 1.1: {}]",
            if ratio <= 1.1 { "met" } else { "MISSED" }
        ),
        false => String::new(), // the work, not the critical path, bounds it
    };
    println!(
        "{name:20} {nodes} nodes, {edges} edges, max_concurrency {max_concurrency:4}: makespan {:6.1} ms, \
         critical path {:.0} ms (ratio {ratio:.3}), lower bound {:.0} ms (ratio {:.3}){goal}",
        makespan.as_secs_f64() * 1e3,
        critical.as_secs_f64() * 1e3,
        bound.as_secs_f64() * 1e3,
        makespan.as_secs_f64() / bound.as_secs_f64(),
    );
}
