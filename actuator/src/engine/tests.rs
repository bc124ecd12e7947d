//! Walker tests. All use tokio's paused clock: timers fire in virtual time,
//! so timing assertions are exact and never flaky.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use parking_lot::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::limits::Limit;
use crate::engine::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn ids(v: &[u32]) -> Vec<NodeId> {
    v.iter().copied().map(NodeId).collect()
}

fn graph(n: usize, edges: &[(u32, u32)]) -> Dag {
    let mut dag = Dag::new(n);
    for &(a, b) in edges {
        dag.add_edge(NodeId(a), NodeId(b));
    }
    dag
}

fn all_edges(dag: &Dag) -> Vec<(NodeId, NodeId)> {
    dag.nodes()
        .flat_map(|a| dag.succs(a).iter().map(move |&b| (a, b)))
        .collect()
}

/// Retries without jitter so delays are exact.
fn retry(max_attempts: u32, base: Duration, deadline: Option<Duration>) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base_delay: base,
        max_delay: Duration::from_secs(60),
        deadline,
        jitter: Jitter::None,
    }
}

/// Counts current and peak occupancy.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Gauge {
    fn enter(&self) {
        let n = self.now.fetch_add(1, SeqCst) + 1;
        self.max.fetch_max(n, SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
    fn peak(&self) -> usize {
        self.max.load(SeqCst)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Start {
    node: NodeId,
    attempt: u32,
    at: Duration,
    seq: usize,
}

/// Scripted work that records everything it is asked to do.
struct Probe {
    t0: Instant,
    latency: Duration,
    latency_of: HashMap<NodeId, Duration>,
    /// Attempt `k` fails with `errors[k - 1]` if present, else succeeds.
    errors: HashMap<NodeId, Vec<AttemptError>>,
    panics: HashSet<NodeId>,
    keys: HashMap<NodeId, Vec<String>>,
    on_start: Option<Box<dyn Fn(NodeId) + Send + Sync>>,
    /// Orders starts and successful ends across nodes.
    seq: AtomicUsize,
    starts: Mutex<Vec<Start>>,
    ends: Mutex<Vec<(NodeId, usize)>>,
    global: Gauge,
    gauges: HashMap<String, Gauge>,
}

impl Probe {
    fn new() -> Self {
        Probe {
            t0: Instant::now(),
            latency: Duration::ZERO,
            latency_of: HashMap::new(),
            errors: HashMap::new(),
            panics: HashSet::new(),
            keys: HashMap::new(),
            on_start: None,
            seq: AtomicUsize::new(0),
            starts: Mutex::default(),
            ends: Mutex::default(),
            global: Gauge::default(),
            gauges: HashMap::new(),
        }
    }

    fn starts(&self) -> Vec<Start> {
        self.starts.lock().clone()
    }

    fn start_times(&self, node: NodeId) -> Vec<Duration> {
        self.starts()
            .iter()
            .filter(|s| s.node == node)
            .map(|s| s.at)
            .collect()
    }

    fn start_seq(&self) -> HashMap<NodeId, usize> {
        self.starts().iter().map(|s| (s.node, s.seq)).collect()
    }

    fn end_seq(&self) -> HashMap<NodeId, usize> {
        self.ends.lock().iter().copied().collect()
    }
}

struct Script(Arc<Probe>);

impl Work for Script {
    fn run(&self, node: NodeId, attempt: u32) -> BoxFuture<'static, Result<(), AttemptError>> {
        let p = self.0.clone();
        let seq = p.seq.fetch_add(1, SeqCst);
        p.starts.lock().push(Start {
            node,
            attempt,
            at: p.t0.elapsed(),
            seq,
        });
        if let Some(hook) = &p.on_start {
            hook(node);
        }
        Box::pin(async move {
            let gauges: Vec<&Gauge> = p
                .keys
                .get(&node)
                .into_iter()
                .flatten()
                .filter_map(|k| p.gauges.get(k))
                .collect();
            p.global.enter();
            gauges.iter().for_each(|g| g.enter());
            let latency = p.latency_of.get(&node).copied().unwrap_or(p.latency);
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            gauges.iter().for_each(|g| g.leave());
            p.global.leave();
            assert!(!p.panics.contains(&node), "boom");
            match p
                .errors
                .get(&node)
                .and_then(|e| e.get(attempt as usize - 1))
            {
                Some(err) => Err(err.clone()),
                None => {
                    p.ends.lock().push((node, p.seq.fetch_add(1, SeqCst)));
                    Ok(())
                }
            }
        })
    }

    fn limit_keys(&self, node: NodeId) -> Vec<String> {
        self.0.keys.get(&node).cloned().unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Starting(NodeId, u32),
    Finished(NodeId),
    Retrying(NodeId, u32, Duration),
    Failed(NodeId, String),
    Skipped(NodeId, NodeId),
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    fn push(&self, e: Event) {
        self.0.lock().push(e);
    }
}

impl Observer for Recorder {
    fn starting(&self, node: NodeId, attempt: u32) {
        self.push(Event::Starting(node, attempt));
    }
    fn finished(&self, node: NodeId) {
        self.push(Event::Finished(node));
    }
    fn retrying(&self, node: NodeId, attempt: u32, _err: &AttemptError, delay: Duration) {
        self.push(Event::Retrying(node, attempt, delay));
    }
    fn failed(&self, node: NodeId, err: &AttemptError) {
        self.push(Event::Failed(node, err.message.clone()));
    }
    fn skipped(&self, node: NodeId, because: NodeId) {
        self.push(Event::Skipped(node, because));
    }
}

/// Walks with a recorder and checks invariants that hold for every walk:
/// each node not already done lands in exactly one report list, and the
/// observer saw one start per attempt the work saw.
async fn go_with(
    dag: &Dag,
    probe: &Arc<Probe>,
    opts: &WalkOptions,
    cancel: CancellationToken,
) -> (WalkReport, Vec<Event>) {
    let rec = Recorder::default();
    let report = walk(dag, Arc::new(Script(probe.clone())), opts, cancel, &rec)
        .await
        .unwrap();
    let mut seen: Vec<NodeId> = report.succeeded.clone();
    seen.extend(report.failed.iter().map(|f| f.0));
    seen.extend(report.skipped.iter().map(|s| s.0));
    seen.extend(&report.not_started);
    seen.extend(&opts.already_done);
    seen.sort();
    assert_eq!(
        seen,
        dag.nodes().collect::<Vec<_>>(),
        "report partitions the nodes: {report:?}"
    );
    let events = rec.0.into_inner();
    let starts = events
        .iter()
        .filter(|e| matches!(e, Event::Starting(..)))
        .count();
    assert_eq!(starts, probe.starts().len());
    (report, events)
}

async fn go(dag: &Dag, probe: &Arc<Probe>, opts: &WalkOptions) -> WalkReport {
    go_with(dag, probe, opts, CancellationToken::new()).await.0
}

fn opts(max_concurrency: usize) -> WalkOptions {
    WalkOptions {
        max_concurrency,
        retry: RetryPolicy::never(),
        ..WalkOptions::default()
    }
}

/// Random DAG: each node depends on up to 3 earlier ones.
fn random_dag(n: u32, seed: u64) -> Dag {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut dag = Dag::new(n as usize);
    for b in 1..n {
        for _ in 0..rng.random_range(0..=3) {
            dag.add_edge(NodeId(rng.random_range(0..b)), NodeId(b));
        }
    }
    dag
}

#[tokio::test(start_paused = true)]
async fn every_node_starts_after_its_predecessors_finished() {
    let dag = random_dag(60, 1);
    let mut rng = SmallRng::seed_from_u64(2);
    let latency_of = dag
        .nodes()
        .map(|n| (n, ms(rng.random_range(1..20))))
        .collect();
    let probe = Arc::new(Probe {
        latency_of,
        ..Probe::new()
    });
    let report = go(&dag, &probe, &opts(4)).await;
    assert!(report.is_success());
    assert_eq!(report.succeeded.len(), 60);
    let (start, end) = (probe.start_seq(), probe.end_seq());
    assert!(dag.edge_count() > 50);
    for (a, b) in all_edges(&dag) {
        assert!(end[&a] < start[&b], "{b} started before {a} finished");
    }
    assert!(probe.global.peak() <= 4);
}

#[tokio::test(start_paused = true)]
async fn priority_starts_the_longest_chain_first() {
    // Singles 0..=4 and the chain 5 -> 6 -> 7 -> 8 -> 9, 10 ms each.
    let dag = graph(10, &[(5, 6), (6, 7), (7, 8), (8, 9)]);
    let probe = Arc::new(Probe {
        latency: ms(10),
        ..Probe::new()
    });
    go(&dag, &probe, &opts(1)).await;
    let order: Vec<NodeId> = probe.starts().iter().map(|s| s.node).collect();
    // The chain leads while its remaining path is longer than a single's;
    // its last node ties with the singles and loses on id.
    assert_eq!(order, ids(&[5, 6, 7, 8, 0, 1, 2, 3, 4, 9]));

    // With two slots the chain runs alongside the singles: 50 ms is optimal
    // (id order would give 80 ms).
    let probe = Arc::new(Probe {
        latency: ms(10),
        ..Probe::new()
    });
    go(&dag, &probe, &opts(2)).await;
    assert_eq!(probe.t0.elapsed(), ms(50));
}

#[tokio::test(start_paused = true)]
async fn resume_runs_each_remaining_node_exactly_once() {
    // 0 -> 1 -> 2 -> 3, 1 -> 4, and 5; 0, 1 and 5 were done before.
    let dag = graph(6, &[(0, 1), (1, 2), (2, 3), (1, 4)]);
    let probe = Arc::new(Probe {
        latency: ms(1),
        ..Probe::new()
    });
    let already_done = ids(&[0, 1, 5]).into_iter().collect();
    let report = go(
        &dag,
        &probe,
        &WalkOptions {
            already_done,
            ..opts(8)
        },
    )
    .await;
    let mut runs: Vec<NodeId> = probe.starts().iter().map(|s| s.node).collect();
    runs.sort();
    assert_eq!(
        runs,
        ids(&[2, 3, 4]),
        "each remaining node once, done ones never"
    );
    let mut succeeded = report.succeeded.clone();
    succeeded.sort();
    assert_eq!(succeeded, ids(&[2, 3, 4]));
    assert!(report.is_success());
    assert!(probe.end_seq()[&NodeId(2)] < probe.start_seq()[&NodeId(3)]);
}

#[tokio::test(start_paused = true)]
async fn teardown_walks_the_reverse_of_every_forward_constraint() {
    let dag = random_dag(40, 3);
    let mut rng = SmallRng::seed_from_u64(4);
    let latency_of: HashMap<_, _> = dag
        .nodes()
        .map(|n| (n, ms(rng.random_range(1..10))))
        .collect();
    let fwd = Arc::new(Probe {
        latency_of: latency_of.clone(),
        ..Probe::new()
    });
    assert!(go(&dag, &fwd, &opts(3)).await.is_success());
    let rev = Arc::new(Probe {
        latency_of,
        ..Probe::new()
    });
    assert!(go(&dag.reversed(), &rev, &opts(3)).await.is_success());
    let (fs, fe, rs, re) = (
        fwd.start_seq(),
        fwd.end_seq(),
        rev.start_seq(),
        rev.end_seq(),
    );
    for (a, b) in all_edges(&dag) {
        assert!(fe[&a] < fs[&b], "create {a} before {b}");
        assert!(re[&b] < rs[&a], "destroy {b} before {a}");
    }

    // A chain is torn down in exactly the reverse order; a node that was
    // never created is not destroyed and does not block the rest.
    let chain = graph(4, &[(0, 1), (1, 2), (2, 3)]);
    let fresh = || Arc::new(Probe::new());
    let forward = go(&chain, &fresh(), &opts(1)).await.succeeded;
    assert_eq!(forward, ids(&[0, 1, 2, 3]));
    let teardown = go(&chain.reversed(), &fresh(), &opts(1)).await.succeeded;
    assert_eq!(teardown, forward.iter().rev().copied().collect::<Vec<_>>());
    let never_created = ids(&[3]).into_iter().collect();
    let probe = fresh();
    let report = go(
        &chain.reversed(),
        &probe,
        &WalkOptions {
            already_done: never_created,
            ..opts(1)
        },
    )
    .await;
    assert_eq!(report.succeeded, ids(&[2, 1, 0]));
    assert!(probe.start_times(NodeId(3)).is_empty());
}

#[tokio::test(start_paused = true)]
async fn failure_skips_exactly_its_dependents_while_independent_work_completes() {
    // 0 -> 1 -> {2, 3}, 4 -> 3 -> 8; 5 -> 6; 7 alone; 9 alone and slow.
    // 1 and 7 fail for good.
    let dag = graph(10, &[(0, 1), (1, 2), (1, 3), (4, 3), (3, 8), (5, 6)]);
    let errors = HashMap::from([
        (NodeId(1), vec![AttemptError::fatal("denied")]),
        (NodeId(7), vec![AttemptError::fatal("quota")]),
    ]);
    let latency_of = HashMap::from([(NodeId(9), ms(100))]);
    let probe = Arc::new(Probe {
        latency: ms(10),
        latency_of,
        errors,
        ..Probe::new()
    });
    let report = go(&dag, &probe, &opts(8)).await;

    let mut failed = report.failed.clone();
    failed.sort_by_key(|f| f.0);
    assert_eq!(
        failed,
        [
            (NodeId(1), AttemptError::fatal("denied")),
            (NodeId(7), AttemptError::fatal("quota"))
        ]
    );
    let mut skipped = report.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            (NodeId(2), NodeId(1)),
            (NodeId(3), NodeId(1)),
            (NodeId(8), NodeId(1))
        ]
    );
    let mut succeeded = report.succeeded.clone();
    succeeded.sort();
    assert_eq!(succeeded, ids(&[0, 4, 5, 6, 9]));
    assert!(report.not_started.is_empty() && !report.cancelled);
    // 9 was in flight when 1 failed (at 20 ms) and was allowed to finish.
    assert_eq!(report.succeeded.last(), Some(&NodeId(9)));
    assert_eq!(probe.t0.elapsed(), ms(100));
    let started: HashSet<NodeId> = probe.starts().iter().map(|s| s.node).collect();
    assert!(ids(&[2, 3, 8]).iter().all(|n| !started.contains(n)));
}

#[tokio::test(start_paused = true)]
async fn retryable_errors_are_retried_with_exponential_backoff() {
    let errors = HashMap::from([(NodeId(0), vec![AttemptError::retryable("throttled"); 2])]);
    let probe = Arc::new(Probe {
        errors,
        ..Probe::new()
    });
    let o = WalkOptions {
        retry: retry(5, ms(100), None),
        ..opts(4)
    };
    let (report, events) = go_with(&Dag::new(1), &probe, &o, CancellationToken::new()).await;
    assert_eq!(report.succeeded, ids(&[0]));
    assert!(report.is_success());
    let attempts: Vec<(u32, Duration)> = probe.starts().iter().map(|s| (s.attempt, s.at)).collect();
    assert_eq!(attempts, [(1, ms(0)), (2, ms(100)), (3, ms(300))]);
    let retries: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::Retrying(..)))
        .collect();
    assert_eq!(
        retries,
        [
            &Event::Retrying(NodeId(0), 1, ms(100)),
            &Event::Retrying(NodeId(0), 2, ms(200))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_overrides_a_shorter_backoff() {
    let throttled = AttemptError::retryable("slow down").with_retry_after(Duration::from_secs(3));
    let errors = HashMap::from([(NodeId(0), vec![throttled])]);
    let probe = Arc::new(Probe {
        errors,
        ..Probe::new()
    });
    let o = WalkOptions {
        retry: retry(5, ms(10), None),
        ..opts(1)
    };
    assert!(go(&Dag::new(1), &probe, &o).await.is_success());
    assert_eq!(probe.start_times(NodeId(0)), [ms(0), ms(3000)]);
}

#[tokio::test(start_paused = true)]
async fn non_retryable_error_fails_at_once() {
    let errors = HashMap::from([(NodeId(0), vec![AttemptError::fatal("invalid AMI")])]);
    let probe = Arc::new(Probe {
        errors,
        ..Probe::new()
    });
    let o = WalkOptions {
        retry: retry(5, ms(100), None),
        ..opts(1)
    };
    let (report, events) = go_with(&Dag::new(1), &probe, &o, CancellationToken::new()).await;
    assert_eq!(
        report.failed,
        [(NodeId(0), AttemptError::fatal("invalid AMI"))]
    );
    assert_eq!(probe.starts().len(), 1);
    assert_eq!(
        events,
        [
            Event::Starting(NodeId(0), 1),
            Event::Failed(NodeId(0), "invalid AMI".into())
        ]
    );
    assert_eq!(probe.t0.elapsed(), ms(0));
}

#[tokio::test(start_paused = true)]
async fn deadline_and_attempt_limit_stop_retries() {
    let errors = HashMap::from([(NodeId(0), vec![AttemptError::retryable("timeout"); 50])]);
    // Attempts at 0, 100 and 300 ms; the next would start at 700 > 350.
    let probe = Arc::new(Probe {
        errors: errors.clone(),
        ..Probe::new()
    });
    let o = WalkOptions {
        retry: retry(50, ms(100), Some(ms(350))),
        ..opts(1)
    };
    let report = go(&Dag::new(1), &probe, &o).await;
    assert_eq!(probe.start_times(NodeId(0)), [ms(0), ms(100), ms(300)]);
    assert_eq!(
        report.failed,
        [(NodeId(0), AttemptError::retryable("timeout"))]
    );
    assert_eq!(
        probe.t0.elapsed(),
        ms(300),
        "gives up right after the last attempt"
    );

    let probe = Arc::new(Probe {
        errors,
        ..Probe::new()
    });
    let o = WalkOptions {
        retry: retry(2, ms(100), None),
        ..opts(1)
    };
    assert_eq!(go(&Dag::new(1), &probe, &o).await.failed.len(), 1);
    assert_eq!(probe.start_times(NodeId(0)), [ms(0), ms(100)]);
}

#[tokio::test(start_paused = true)]
async fn cancellation_starts_nothing_new_and_reports_the_rest() {
    // Node 0 cancels the walk while it runs; it still completes.
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let probe = Arc::new(Probe {
        latency: ms(10),
        on_start: Some(Box::new(move |n| {
            if n == NodeId(0) {
                token.cancel()
            }
        })),
        ..Probe::new()
    });
    let dag = graph(5, &[(0, 1), (1, 2)]);
    let (report, _) = go_with(&dag, &probe, &opts(1), cancel).await;
    assert_eq!(
        probe.starts().len(),
        1,
        "nothing starts after the token fired"
    );
    assert_eq!(report.succeeded, ids(&[0]));
    assert_eq!(report.not_started, ids(&[1, 2, 3, 4]));
    assert!(report.cancelled && !report.is_success());

    // Cancelled from outside at 15 ms while two nodes are in flight.
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(15)).await;
        token.cancel();
    });
    let probe = Arc::new(Probe {
        latency: ms(10),
        ..Probe::new()
    });
    let (report, _) = go_with(&Dag::new(10), &probe, &opts(2), cancel).await;
    assert!(probe.starts().iter().all(|s| s.at <= ms(10)));
    assert_eq!(
        report.succeeded.len(),
        4,
        "2 at 0 ms, 2 at 10 ms, finished at 20 ms"
    );
    assert_eq!(report.not_started, ids(&[4, 5, 6, 7, 8, 9]));
    assert_eq!(probe.t0.elapsed(), ms(20));
}

/// Counts futures dropped before they completed.
struct DropGuard(Arc<AtomicUsize>, bool);

impl Drop for DropGuard {
    fn drop(&mut self) {
        if !self.1 {
            self.0.fetch_add(1, SeqCst);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn abort_drops_the_attempts_in_flight_and_reports_them() {
    // 0 (10 ms) -> 1 (1 h); 2 (1 h) and 3 (1 h) independent; 4 after 1. Max 3 at once: at
    // 10 ms, 1, 2 and 3 are in flight. Ctrl-C once at 20 ms (cancel), again at 30 ms (abort).
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    let work = Arc::new(FnWork(move |node: NodeId, _attempt: u32| {
        let guard = DropGuard(d.clone(), false);
        async move {
            // The whole guard moves into the future (not just the field it sets).
            let mut guard = guard;
            let t = if node == NodeId(0) {
                ms(10)
            } else {
                Duration::from_secs(3600)
            };
            tokio::time::sleep(t).await;
            guard.1 = true;
            Ok(())
        }
    }));
    let (cancel, abort) = (CancellationToken::new(), CancellationToken::new());
    let (c, a) = (cancel.clone(), abort.clone());
    tokio::spawn(async move {
        tokio::time::sleep(ms(20)).await;
        c.cancel();
        tokio::time::sleep(ms(10)).await;
        a.cancel();
    });
    let t0 = Instant::now();
    let rec = Recorder::default();
    let dag = graph(5, &[(0, 1), (1, 4)]);
    let report = walk_with_abort(&dag, work, &opts(3), cancel, abort, &rec)
        .await
        .unwrap();
    assert_eq!(
        t0.elapsed(),
        ms(30),
        "returned at the abort, not after an hour"
    );
    assert_eq!(report.succeeded, ids(&[0]));
    assert_eq!(report.aborted, ids(&[1, 2, 3]));
    assert_eq!(
        report.not_started,
        ids(&[4]),
        "aborted nodes are not `not_started`"
    );
    assert!(report.failed.is_empty() && report.skipped.is_empty());
    assert!(report.cancelled && !report.is_success());
    assert_eq!(
        dropped.load(SeqCst),
        3,
        "the in-flight futures were dropped"
    );
    // The observer saw them start and never finish or fail.
    let events = rec.0.into_inner();
    assert!(!events.iter().any(|e| matches!(
        e,
        Event::Finished(n) | Event::Failed(n, _) if *n != NodeId(0)
    )));
}

#[tokio::test(start_paused = true)]
async fn an_abort_alone_also_stops_new_starts() {
    // Without a first cancel: the abort both stops the walk and drops what runs.
    let probe = Arc::new(Probe {
        latency: Duration::from_secs(3600),
        ..Probe::new()
    });
    let abort = CancellationToken::new();
    let a = abort.clone();
    tokio::spawn(async move {
        tokio::time::sleep(ms(5)).await;
        a.cancel();
    });
    let report = walk_with_abort(
        &Dag::new(4),
        Arc::new(Script(probe.clone())),
        &opts(2),
        CancellationToken::new(),
        abort,
        &NullObserver,
    )
    .await
    .unwrap();
    assert_eq!(probe.starts().len(), 2);
    assert_eq!(report.aborted, ids(&[0, 1]));
    assert_eq!(report.not_started, ids(&[2, 3]));
    // An abort with nothing in flight (a walk already done) changes nothing.
    let done = walk_with_abort(
        &Dag::new(2),
        Arc::new(Script(Arc::new(Probe::new()))),
        &opts(2),
        CancellationToken::new(),
        CancellationToken::new(),
        &NullObserver,
    )
    .await
    .unwrap();
    assert!(done.is_success() && done.aborted.is_empty());
}

#[tokio::test(start_paused = true)]
async fn cancellation_interrupts_retry_sleep() {
    // 0 keeps failing with a 10 s backoff; 1 depends on it; 2 is independent.
    let errors = HashMap::from([(NodeId(0), vec![AttemptError::retryable("throttled"); 5])]);
    let probe = Arc::new(Probe {
        errors,
        ..Probe::new()
    });
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        token.cancel();
    });
    let o = WalkOptions {
        retry: retry(5, Duration::from_secs(10), None),
        ..opts(4)
    };
    let (report, events) = go_with(&graph(3, &[(0, 1)]), &probe, &o, cancel).await;
    assert_eq!(
        probe.t0.elapsed(),
        Duration::from_secs(1),
        "did not sleep out the backoff"
    );
    assert_eq!(
        report.failed,
        [(NodeId(0), AttemptError::retryable("throttled"))]
    );
    assert_eq!(report.skipped, [(NodeId(1), NodeId(0))]);
    assert_eq!(report.succeeded, ids(&[2]));
    assert!(report.cancelled && report.not_started.is_empty());
    assert_eq!(probe.starts().len(), 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::Failed(..)))
            .count(),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn per_key_concurrency_limits_are_never_exceeded() {
    // Even nodes use the AWS proxy (3 at once), multiples of 3 the host
    // (2 at once); everyone also names an unconfigured key.
    let keys = (0..30u32)
        .map(|i| {
            let mut k = vec!["unconfigured".to_string()];
            if i % 2 == 0 {
                k.push("proxy:aws".into());
            }
            if i % 3 == 0 {
                k.push("host:127.0.0.2".into());
            }
            (NodeId(i), k)
        })
        .collect();
    let gauges = ["proxy:aws", "host:127.0.0.2"]
        .map(|k| (k.to_string(), Gauge::default()))
        .into();
    let latency_of = (0..30)
        .map(|i| (NodeId(i), ms(10 + u64::from(i % 4))))
        .collect();
    let probe = Arc::new(Probe {
        keys,
        gauges,
        latency_of,
        ..Probe::new()
    });
    let limits = HashMap::from([
        ("proxy:aws".to_string(), Limit::concurrent(3)),
        ("host:127.0.0.2".to_string(), Limit::concurrent(2)),
    ]);
    let report = go(&Dag::new(30), &probe, &WalkOptions { limits, ..opts(8) }).await;
    assert_eq!(report.succeeded.len(), 30);
    assert_eq!(probe.gauges["proxy:aws"].peak(), 3);
    assert_eq!(probe.gauges["host:127.0.0.2"].peak(), 2);
    assert_eq!(
        probe.global.peak(),
        8,
        "unconstrained nodes fill the free slots"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retrying_node_frees_its_limit_slot_and_reacquires_it() {
    // 0 and 1 share a key that admits one at a time. 0 fails at once and
    // backs off 10 ms; 1 takes the key meanwhile; 0 retries when 1 is done.
    let keys = (0..2)
        .map(|i| (NodeId(i), vec!["host:127.0.0.2".to_string()]))
        .collect();
    let errors = HashMap::from([(
        NodeId(0),
        vec![AttemptError::retryable("connection refused")],
    )]);
    let latency_of = HashMap::from([(NodeId(1), ms(50))]);
    let probe = Arc::new(Probe {
        keys,
        errors,
        latency_of,
        ..Probe::new()
    });
    let limits = HashMap::from([("host:127.0.0.2".to_string(), Limit::concurrent(1))]);
    let o = WalkOptions {
        limits,
        retry: retry(3, ms(10), None),
        ..opts(4)
    };
    assert!(go(&Dag::new(2), &probe, &o).await.is_success());
    assert_eq!(probe.start_times(NodeId(0)), [ms(0), ms(50)]);
    assert_eq!(probe.start_times(NodeId(1)), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn token_bucket_allows_a_burst_then_spaces_starts() {
    // 0..5 call a rate-limited API (burst 2, 10/s); 5 and 6 do not.
    let keys = (0..5)
        .map(|i| (NodeId(i), vec!["api:aws:RunInstances".to_string()]))
        .collect();
    let probe = Arc::new(Probe {
        keys,
        ..Probe::new()
    });
    let limits = HashMap::from([("api:aws:RunInstances".to_string(), Limit::rate(2, 10.0))]);
    let report = go(
        &Dag::new(7),
        &probe,
        &WalkOptions {
            limits,
            ..opts(100)
        },
    )
    .await;
    assert!(report.is_success());
    let mut api: Vec<Duration> = probe
        .starts()
        .iter()
        .filter(|s| s.node.0 < 5)
        .map(|s| s.at)
        .collect();
    api.sort();
    assert_eq!(api, [ms(0), ms(0), ms(100), ms(200), ms(300)]);
    assert_eq!(probe.start_times(NodeId(5)), [ms(0)]);
    assert_eq!(probe.start_times(NodeId(6)), [ms(0)]);
}

#[tokio::test(start_paused = true)]
async fn observer_sees_every_event_exactly_once() {
    // 0 succeeds; 1 succeeds on its second attempt; 2 fails, so 3 and 4
    // (via 3) are skipped.
    let errors = HashMap::from([
        (NodeId(1), vec![AttemptError::retryable("busy")]),
        (NodeId(2), vec![AttemptError::fatal("bad config")]),
    ]);
    let probe = Arc::new(Probe {
        errors,
        latency: ms(5),
        ..Probe::new()
    });
    let o = WalkOptions {
        retry: retry(3, ms(50), None),
        ..opts(4)
    };
    let (_, mut events) = go_with(
        &graph(5, &[(2, 3), (3, 4)]),
        &probe,
        &o,
        CancellationToken::new(),
    )
    .await;
    events.sort();
    let n = NodeId;
    assert_eq!(
        events,
        [
            Event::Starting(n(0), 1),
            Event::Starting(n(1), 1),
            Event::Starting(n(1), 2),
            Event::Starting(n(2), 1),
            Event::Finished(n(0)),
            Event::Finished(n(1)),
            Event::Retrying(n(1), 1, ms(50)),
            Event::Failed(n(2), "bad config".into()),
            Event::Skipped(n(3), n(2)),
            Event::Skipped(n(4), n(2)),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn panicking_work_fails_its_node() {
    let probe = Arc::new(Probe {
        panics: HashSet::from([NodeId(0)]),
        ..Probe::new()
    });
    let report = go(&graph(3, &[(0, 1)]), &probe, &opts(2)).await;
    assert_eq!(
        report.failed,
        [(NodeId(0), AttemptError::fatal("panicked: boom"))]
    );
    assert_eq!(report.skipped, [(NodeId(1), NodeId(0))]);
    assert_eq!(report.succeeded, ids(&[2]));
}

#[tokio::test]
async fn cycles_and_impossible_options_are_rejected_before_anything_runs() {
    let work = Arc::new(FnWork(|_: NodeId, _: u32| async { panic!("must not run") }));
    let run = |dag: Dag, o: WalkOptions| {
        let work = work.clone();
        async move { walk(&dag, work, &o, CancellationToken::new(), &NullObserver).await }
    };
    let err = run(graph(4, &[(0, 1), (1, 2), (2, 3), (3, 1)]), opts(1))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        WalkError::Cycle(CycleError {
            cycle: ids(&[1, 2, 3])
        })
    );
    assert_eq!(err.to_string(), "dependency cycle: #1 -> #2 -> #3 -> #1");
    assert_eq!(
        run(Dag::new(1), opts(0)).await.unwrap_err(),
        WalkError::ZeroConcurrency
    );
    let limits = HashMap::from([("k".to_string(), Limit::concurrent(0))]);
    let err = run(Dag::new(1), WalkOptions { limits, ..opts(1) })
        .await
        .unwrap_err();
    assert!(
        matches!(err, WalkError::Limit(ref e) if e.key == "k"),
        "{err}"
    );
}

#[tokio::test]
async fn walk_accepts_dyn_work_and_its_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let work: Arc<dyn Work> = Arc::new(FnWork(|_: NodeId, _: u32| async { Ok(()) }));
    let dag = graph(3, &[(0, 1), (1, 2)]);
    let o = opts(2);
    let fut = walk(&dag, work, &o, CancellationToken::new(), &NullObserver);
    assert_send(&fut);
    assert_eq!(fut.await.unwrap().succeeded, ids(&[0, 1, 2]));
}

#[tokio::test(flavor = "current_thread")]
async fn work_that_never_waits_is_finished_inline_yet_leaves_the_thread_to_other_tasks() {
    use std::sync::atomic::AtomicBool;
    // On one thread, another task runs only when the walk yields: work that finishes on its
    // first poll is run by the coordinator itself, which still gives the thread up now and then.
    let other_ran = Arc::new(AtomicBool::new(false));
    let flag = other_ran.clone();
    tokio::spawn(async move { flag.store(true, SeqCst) });
    let seen_while_walking = Arc::new(AtomicUsize::new(0));
    let seen = seen_while_walking.clone();
    let n = 10_000;
    let dag = graph(n, &(1..n as u32).map(|i| (i - 1, i)).collect::<Vec<_>>());
    let work = Arc::new(FnWork(move |_: NodeId, _: u32| {
        let (other_ran, seen) = (other_ran.clone(), seen.clone());
        async move {
            if other_ran.load(SeqCst) {
                seen.fetch_add(1, SeqCst);
            }
            Ok(())
        }
    }));
    let report = walk(
        &dag,
        work,
        &opts(4),
        CancellationToken::new(),
        &NullObserver,
    )
    .await
    .unwrap();
    assert_eq!(report.succeeded.len(), n);
    let seen = seen_while_walking.load(SeqCst);
    assert!(
        seen > 0 && seen < n,
        "the other task ran before {} of {n} nodes",
        n - seen
    );
}

#[tokio::test(start_paused = true)]
async fn work_pending_on_its_first_poll_goes_on_in_a_task_and_is_woken_there() {
    // Each node waits on a channel its predecessor's completion fills only after a timer: the
    // first poll (by the coordinator, with a waker that does nothing) cannot be what wakes it.
    let n = 5;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..n).map(|_| tokio::sync::oneshot::channel()).unzip();
    let txs = Arc::new(Mutex::new(txs.into_iter().map(Some).collect::<Vec<_>>()));
    let rxs = Arc::new(Mutex::new(rxs.into_iter().map(Some).collect::<Vec<_>>()));
    for i in 0..n {
        let txs = txs.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ms(10 * (i as u64 + 1))).await;
            let _ = txs.lock()[i].take().unwrap().send(());
        });
    }
    let work = Arc::new(FnWork(move |node: NodeId, _: u32| {
        let rx = rxs.lock()[node.index()]
            .take()
            .expect("one attempt per node");
        async move {
            rx.await
                .map_err(|_| AttemptError::fatal("sender dropped"))?;
            Ok(())
        }
    }));
    let start = Instant::now();
    let report = walk(
        &Dag::new(n),
        work,
        &opts(n),
        CancellationToken::new(),
        &NullObserver,
    )
    .await
    .unwrap();
    assert_eq!(report.succeeded, ids(&[0, 1, 2, 3, 4]));
    assert_eq!(start.elapsed(), ms(50));
}
