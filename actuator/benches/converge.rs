//! Convergence at scale on a zero-latency simulated cloud with the state in files (a plain binary:
//! `cargo bench -p actuator --bench converge [-- N [RUNS]]`, default 100,000 servers, 5 runs).
//!
//! After one `up` of N servers (its time is the baseline every ratio is taken against), each
//! figure is the min / median / max of RUNS runs:
//! * `plan` with nothing changed and no refresh in a new process, as the command line runs it:
//!   the state read from disk (snapshot and journal), the model's outputs restored, the diff made
//!   (building the model is timed apart);
//! * `plan` with nothing changed in this process, whose journal is open (the state is not read
//!   again), from the state alone (`--refresh=false`) and with the refresh that reads every
//!   resource from the cloud first;
//! * a change to 1% of the servers (an argument updated in place): its `plan`, and its `apply`
//!   beyond the plan (the runs alternate the value, so each run changes 1% again);
//! * peak memory (VmHWM) of a plan in a process of its own, as the command line runs one (the
//!   goal's figure), and while planning in this process after resetting the peak the `up` left
//!   (this one also counts what the allocator kept of `up`'s freed memory).
//!
//! Every time is given twice: wall time, and the process's CPU time (user + system, all threads,
//! from `/proc/self/stat`). On a machine shared with other work the CPU time is what a run costs;
//! the wall time also counts the waits for a core.
//!
//! `cargo bench -p actuator --bench converge -- cost [N [RUNS [SHAPE]]]` (default 20,000, 3 runs,
//! both shapes) measures
//! `up`'s and `down`'s own cost per resource instead, for two shapes — `flat` (N independent
//! networks) and `chains` (10 chains of N/10 servers, each referring to the previous one's id) —
//! with the state in files (the journal synced as in real use). Each run times, in this order, the
//! engine's walk alone over the same graph with work that does nothing, then `up` and `down` of
//! the model on a cloud that does nothing but resolve each resource's arguments and hand out an
//! id, as the original's bench proxy does (`NullCloud`); it prints min / median / max per resource of
//! each and the median's excess over the walk's. With `ACTUATOR_BENCH_PYTHON=<checkout of the
//! Python original>` (its dependencies in `<checkout>/venv`), every run also runs
//! `converge_original.py` on the same shape and N, alternating with ours, and the ratio of the
//! medians is printed. One more `up` and `down` per shape, untimed, counts the allocations they
//! make per resource: a figure that, unlike a time, does not move with the machine's load, so a
//! change too small to see through the timing noise still shows. Built with `--features
//! bench-mimalloc`, every figure is measured with mimalloc as the process's allocator instead of
//! the system's.

mod common;
#[path = "common/shapes.rs"]
mod shapes;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use actuator::engine::AttemptError;
use actuator::engine::{Dag, FnWork, NodeId, NullObserver, RetryPolicy, WalkOptions};
use actuator::infra::test::Server;
use actuator::orchestrate::{ActuatorOrchestration, PlanOptions};
use actuator::prelude::*;
use actuator::provision::{
    Observed, Outputs, ProvisionCx, Provisioned, ProvisionerProxy, SimProxy,
};

/// Counts the heap allocations (and reallocations) made while [`COUNTING`] is on; otherwise
/// the process's allocator ([`Inner`]) with one relaxed load in front.
struct Counting;

// The allocator every allocation goes to: the system's (glibc's) unless the bench is built with
// `--features bench-mimalloc`.
#[cfg(feature = "bench-mimalloc")]
use mimalloc::MiMalloc as Inner;
#[cfg(not(feature = "bench-mimalloc"))]
use std::alloc::System as Inner;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

fn count() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed on to `Inner` unchanged.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        count();
        unsafe { Inner.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        count();
        unsafe { Inner.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new: usize) -> *mut u8 {
        count();
        unsafe { Inner.realloc(ptr, layout, new) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { Inner.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The allocations `f` makes.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.store(true, Ordering::Relaxed);
    let out = f();
    COUNTING.store(false, Ordering::Relaxed);
    (out, ALLOCATIONS.load(Ordering::Relaxed) - before)
}

/// Whether the 1% have the changed argument (read when the model is built).
static CHANGED: AtomicBool = AtomicBool::new(false);

fn mem(key: &str) -> &'static str {
    let every_hundredth = key.parse::<u32>().is_ok_and(|k| k % 100 == 0);
    if every_hundredth && CHANGED.load(Ordering::Relaxed) {
        "4096"
    } else {
        "2048"
    }
}

#[derive(InfraModel)]
struct Fleet {
    #[component(MultiResource::new(Server::new("s", "img").mem(mem(ctx.name))))]
    servers: MultiResource<Server>,
}

fn orchestration(n: usize, sim: &Arc<SimProxy>, dir: &std::path::Path) -> ActuatorOrchestration {
    let infra = Fleet::instance("fleet");
    for k in 0..n {
        infra.index(infra.root().servers, k);
    }
    ActuatorOrchestration::new("bench-converge")
        .infra(&infra)
        .proxy(sim.clone())
        .max_concurrency(1000)
        .state_dir(dir)
        .handler(Arc::new(actuator::events::NullHandler))
}

/// `min / median / max` of `runs`, in seconds.
fn spread(mut runs: Vec<Duration>) -> (f64, f64, f64) {
    runs.sort();
    let s = |d: Duration| d.as_secs_f64();
    (s(runs[0]), s(runs[runs.len() / 2]), s(runs[runs.len() - 1]))
}

/// Wall and CPU time of one timed section.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

/// Runs `f`, timing it.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Sample) {
    let (t, c) = (Instant::now(), common::cpu_time());
    let out = f();
    let sample = Sample {
        wall: t.elapsed(),
        cpu: common::cpu_time().saturating_sub(c),
    };
    (out, sample)
}

fn report(what: &str, runs: Vec<Sample>, baseline: Sample) {
    let (min, median, max) = spread(runs.iter().map(|s| s.wall).collect());
    let (cmin, cmedian, cmax) = spread(runs.iter().map(|s| s.cpu).collect());
    println!(
        "{what:<34} wall min {min:>7.3} s  median {median:>7.3} s  max {max:>7.3} s  ({:.3} × up); \
         CPU min {cmin:.2} s  median {cmedian:.2} s  max {cmax:.2} s ({:.3} × up)",
        median / baseline.wall.as_secs_f64(),
        cmedian / baseline.cpu.as_secs_f64().max(1e-9),
    );
}

/// Resets the process's peak resident memory (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.get(1).map(String::as_str) == Some("cost") {
        let n = args.get(2).map_or(20_000, |a| a.parse().expect("N"));
        let runs = args.get(3).map_or(3, |a| a.parse().expect("RUNS"));
        let shapes: Vec<&str> = match args.get(4).map(String::as_str) {
            Some(s @ ("flat" | "chains")) => vec![s],
            Some(other) => panic!("unknown shape {other:?}: flat or chains"),
            None => vec!["flat", "chains"],
        };
        return cost(n, runs, &shapes);
    }
    if args.get(1).map(String::as_str) == Some("plan-peak") {
        return plan_peak(&args[2], args[3].parse().expect("N"));
    }
    let n: usize = args.get(1).map_or(100_000, |a| a.parse().expect("N"));
    let runs: usize = args.get(2).map_or(5, |a| a.parse().expect("RUNS"));
    let dir = tempfile::tempdir().expect("temp dir");
    let sim = Arc::new(SimProxy::default());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let no_refresh = PlanOptions {
        refresh: false,
        ..PlanOptions::default()
    };
    let refresh = PlanOptions {
        refresh: true,
        ..PlanOptions::default()
    };

    let (orch, up) = timed(|| {
        let mut orch = orchestration(n, &sim, dir.path());
        assert!(rt.block_on(orch.initiate_system()), "{:?}", orch.failures());
        orch
    });
    assert_eq!(sim.live().len(), n);
    println!(
        "converge {n} servers, {runs} runs; baseline: up {:.3} s wall ({:.2} µs/resource), {:.2} s CPU, peak {:.0} MB",
        up.wall.as_secs_f64(),
        up.wall.as_secs_f64() * 1e6 / n as f64,
        up.cpu.as_secs_f64(),
        common::peak_mb()
    );
    drop(orch);

    // What `plan` costs and holds at its peak in a process of its own, as the command line runs
    // it: the model built, the state read from disk, the plan made. In this process the allocator
    // keeps what `up` freed (it would be counted in the peak), and an open journal's state is
    // planned from without being read again.
    let (mut fresh, mut peak) = (Vec::new(), 0.0f64);
    for _ in 0..runs {
        let child = std::process::Command::new(std::env::current_exe().expect("own path"))
            .args([
                "plan-peak",
                dir.path().to_str().expect("UTF-8 temp dir"),
                &n.to_string(),
            ])
            .output()
            .expect("run the plan in a child");
        assert!(child.status.success(), "{child:?}");
        let out = String::from_utf8_lossy(&child.stdout);
        let mut fields = out
            .split_whitespace()
            .map(|f| f.parse::<f64>().expect("a number"));
        let (mb, wall, cpu) = (
            fields.next().expect("peak"),
            fields.next().expect("wall"),
            fields.next().expect("CPU"),
        );
        peak = peak.max(mb);
        fresh.push(Sample {
            wall: Duration::from_secs_f64(wall),
            cpu: Duration::from_secs_f64(cpu),
        });
    }
    report("plan in a new process, no refresh", fresh, up);
    println!("peak memory of a plan in its own process (no refresh) {peak:.0} MB");

    // Nothing changed: a new process's view (the model built again, the state read from disk)
    // is what `plan` costs a user; the model's construction is timed apart.
    reset_peak();
    let t = Instant::now();
    let mut orch = orchestration(n, &sim, dir.path());
    let build = t.elapsed();
    let (mut plain, mut refreshed) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (p, t) = timed(|| rt.block_on(orch.plan_with(&no_refresh)).expect("plan"));
        plain.push(t);
        assert!(!p.has_changes(), "{}", p.summary_line());
        let (p, t) = timed(|| rt.block_on(orch.plan_with(&refresh)).expect("plan"));
        refreshed.push(t);
        assert!(!p.has_changes(), "{}", p.summary_line());
    }
    println!(
        "model built again                  {:.3} s",
        build.as_secs_f64()
    );
    report("plan, nothing changed, no refresh", plain, up);
    report("plan, nothing changed, refresh", refreshed, up);
    println!(
        "peak memory while planning in this process, after up  {:.0} MB",
        common::peak_mb()
    );
    drop(orch);

    // A 1% change, alternating the value so that every run changes it again.
    let (mut plans, mut applies) = (Vec::new(), Vec::new());
    for run in 0..runs {
        CHANGED.store(run % 2 == 0, Ordering::Relaxed);
        let mut orch = orchestration(n, &sim, dir.path());
        let (p, t) = timed(|| rt.block_on(orch.plan_with(&no_refresh)).expect("plan"));
        plans.push(t);
        assert_eq!(p.summary.change, n.div_ceil(100), "{}", p.summary_line());
        let (ok, t) = timed(|| rt.block_on(orch.apply(&p, &no_refresh)));
        assert!(ok, "{:?}", orch.failures());
        applies.push(t);
    }
    report("plan, 1% changed", plans, up);
    report("apply of the 1% beyond its plan", applies, up);
}

/// `plan-peak DIR N`: plans the fleet of `n` against the state in `dir` (no refresh: the cloud
/// is in the parent); prints this process's peak resident memory in MB and the plan's wall and
/// CPU time in seconds — reading the state included, building the model not (timed apart in the
/// parent).
fn plan_peak(dir: &str, n: usize) {
    let sim = Arc::new(SimProxy::default());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut orch = orchestration(n, &sim, std::path::Path::new(dir));
    let opts = PlanOptions {
        refresh: false,
        ..PlanOptions::default()
    };
    let (plan, took) = timed(|| rt.block_on(orch.plan_with(&opts)).expect("plan"));
    assert!(!plan.has_changes(), "{}", plan.summary_line());
    println!(
        "{:.0} {:.6} {:.6}",
        common::peak_mb(),
        took.wall.as_secs_f64(),
        took.cpu.as_secs_f64()
    );
}

/// The graph of `shape` with `n` resources: none of its edges (`flat`) or 10 chains.
fn shape_dag(shape: &str, n: usize) -> Dag {
    let mut dag = Dag::new(n);
    if shape == "chains" {
        let len = n / 10;
        for c in 0..10 {
            for i in 1..len {
                dag.add_edge(
                    NodeId((c * len + i - 1) as u32),
                    NodeId((c * len + i) as u32),
                );
            }
        }
    }
    dag
}

/// The engine's walk alone over `shape`'s graph, with work that does nothing, as `up` drives it
/// (spawned on a worker, at most 1000 at once).
fn walk_alone(rt: &tokio::runtime::Runtime, shape: &str, n: usize) -> Sample {
    let dag = shape_dag(shape, n);
    let opts = WalkOptions {
        max_concurrency: 1000,
        retry: RetryPolicy::never(),
        ..WalkOptions::default()
    };
    let work = Arc::new(FnWork(|_: NodeId, _: u32| async { Ok(()) }));
    let (report, took) = timed(|| {
        rt.block_on(async move {
            tokio::spawn(async move {
                actuator::engine::walk(
                    &dag,
                    work,
                    &opts,
                    tokio_util::sync::CancellationToken::new(),
                    &NullObserver,
                )
                .await
            })
            .await
            .expect("walk task")
        })
    });
    assert_eq!(report.expect("walk").succeeded.len(), n);
    took
}

/// The cloud `cost` provisions on: it does nothing, as the original's bench proxy does (its
/// `NullTask` resolves the resource's arguments and creates nothing). A create resolves the
/// arguments and hands out an id, a delete forgets it: what `up` and `down` cost beyond that is the
/// orchestrator's own, journal included. (The simulated cloud's bookkeeping — tags, a look-up by
/// tag before each create — was 15–18 % of a run.)
#[derive(Default)]
struct NullCloud {
    next: AtomicU64,
    live: AtomicI64,
}

#[async_trait::async_trait]
impl ProvisionerProxy for NullCloud {
    fn name(&self) -> &str {
        "null"
    }
    fn handles(&self, kind: &str) -> bool {
        kind.starts_with("test.")
    }
    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        std::hint::black_box(cx.args());
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(Outputs::from([
            ("id".to_owned(), format!("null-{n}")),
            ("ip".to_owned(), "127.0.0.1".to_owned()),
        ]))
    }
    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        Ok(Observed::Exists(rec.outputs.clone()))
    }
    async fn deprovision(&self, _: &Provisioned) -> Result<(), AttemptError> {
        self.live.fetch_sub(1, Ordering::Relaxed);
        Ok(())
    }
}

/// `up` then `down` of `shape` with `n` resources, state in files: their times.
fn up_down(rt: &tokio::runtime::Runtime, shape: &str, n: usize) -> (Sample, Sample) {
    let ((up, _), (down, _)) = up_down_with(rt, shape, n, false);
    (up, down)
}

/// `up` then `down`: each one's time and, with `count`, the allocations it made (else 0).
fn up_down_with(
    rt: &tokio::runtime::Runtime,
    shape: &str,
    n: usize,
    count: bool,
) -> ((Sample, u64), (Sample, u64)) {
    let cloud = Arc::new(NullCloud::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let orch = ActuatorOrchestration::new(format!("bench-{shape}"))
        .proxy(cloud.clone())
        .max_concurrency(1000)
        .state_dir(dir.path())
        .handler(Arc::new(actuator::events::NullHandler));
    let mut orch = shapes::with_model(orch, shape == "chains", n);
    let measure = |f: &mut dyn FnMut() -> bool| {
        if count {
            let ((ok, took), allocs) = allocations(|| timed(f));
            (ok, took, allocs)
        } else {
            let (ok, took) = timed(f);
            (ok, took, 0)
        }
    };
    let (ok, took, allocs) = measure(&mut || rt.block_on(orch.initiate_system()));
    assert!(ok, "{:?}", orch.failures());
    assert_eq!(cloud.live.load(Ordering::Relaxed), n as i64);
    let up = (took, allocs);
    let (ok, took, allocs) = measure(&mut || rt.block_on(orch.teardown_system()));
    assert!(ok, "{:?}", orch.failures());
    assert_eq!(cloud.live.load(Ordering::Relaxed), 0);
    let down = (took, allocs);
    (up, down)
}

/// The Python original's `up` and `down` of the same shape (`converge_original.py`): wall and
/// CPU time as it measures them.
fn python(checkout: &std::path::Path, shape: &str, n: usize) -> (Sample, Sample) {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/converge_original.py");
    let out = std::process::Command::new(checkout.join("venv/bin/python"))
        .arg("-W")
        .arg("ignore")
        .arg(&script)
        .args([shape, &n.to_string()])
        .env("PYTHONPATH", checkout.join("src"))
        .output()
        .expect("run the Python original");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python original failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secs = |what: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(what))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64)
            .unwrap_or_else(|| panic!("no `{what}` line in the original's output: {text}"))
    };
    let sample = |what: &str| Sample {
        wall: secs(&format!("{what} ")),
        cpu: secs(&format!("{what}_cpu ")),
    };
    (sample("up"), sample("down"))
}

/// `min / median / max` per resource, in µs, of the wall (or with `cpu` the CPU) times.
fn per_resource(runs: &[Sample], n: usize, cpu: bool) -> (f64, f64, f64) {
    let (min, median, max) = spread(
        runs.iter()
            .map(|s| if cpu { s.cpu } else { s.wall })
            .collect(),
    );
    let us = |s: f64| s * 1e6 / n as f64;
    (us(min), us(median), us(max))
}

fn cost(n: usize, runs: usize, shapes: &[&str]) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let original = std::env::var_os("ACTUATOR_BENCH_PYTHON").map(std::path::PathBuf::from);
    println!(
        "cost per resource at {n} resources, {runs} runs (state in files, {} allocator){}",
        if cfg!(feature = "bench-mimalloc") {
            "mimalloc"
        } else {
            "system"
        },
        if original.is_some() {
            ", the Python original alternating"
        } else {
            ""
        }
    );
    for &shape in shapes {
        let (mut walks, mut ups, mut downs, mut py_ups, mut py_downs) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..runs {
            walks.push(walk_alone(&rt, shape, n));
            let (up, down) = up_down(&rt, shape, n);
            ups.push(up);
            downs.push(down);
            if let Some(checkout) = &original {
                let (up, down) = python(checkout, shape, n);
                py_ups.push(up);
                py_downs.push(down);
            }
        }
        let ((_, up_allocs), (_, down_allocs)) = up_down_with(&rt, shape, n, true);
        println!(
            "{shape:>6} allocations per resource: up {:.1}, down {:.1}",
            up_allocs as f64 / n as f64,
            down_allocs as f64 / n as f64
        );
        for (clock, cpu) in [("wall", false), ("CPU", true)] {
            let walk = per_resource(&walks, n, cpu);
            let line = |what: &str, (min, median, max): (f64, f64, f64)| {
                println!(
                    "{shape:>6} {clock:<4} {what:<22} min {min:>8.2} µs  median {median:>8.2} µs  \
                     max {max:>8.2} µs  (median {:+.2} µs beyond the walk)",
                    median - walk.1
                );
            };
            println!(
                "{shape:>6} {clock:<4} {:<22} min {:>8.2} µs  median {:>8.2} µs  max {:>8.2} µs",
                "engine walk alone", walk.0, walk.1, walk.2
            );
            let (up, down) = (per_resource(&ups, n, cpu), per_resource(&downs, n, cpu));
            line("up", up);
            line("down", down);
            if original.is_some() {
                let (pu, pd) = (
                    per_resource(&py_ups, n, cpu),
                    per_resource(&py_downs, n, cpu),
                );
                line("up, Python original", pu);
                line("down, Python original", pd);
                println!(
                    "{shape:>6} {clock:<4} ratio of medians, original ÷ ours: up {:.0}×, down {:.0}×",
                    pu.1 / up.1,
                    pd.1 / down.1
                );
            }
        }
    }
}
