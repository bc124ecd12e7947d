//! Convergence at scale on a zero-latency simulated cloud with the state in files (a plain binary:
//! `cargo bench -p actuator --bench converge [-- N [RUNS]]`, default 100,000 servers, 5 runs).
//!
//! After one `up` of N servers (its time is the baseline every ratio is taken against), each
//! figure is the min / median / max of RUNS runs in this process:
//! * `plan` with nothing changed, from the state alone (`--refresh=false`) and with the refresh
//!   that reads every resource from the cloud first;
//! * a change to 1% of the servers (an argument updated in place): its `plan`, and its `apply`
//!   beyond the plan (the runs alternate the value, so each run changes 1% again);
//! * peak memory (VmHWM) while planning, measured after resetting the peak the `up` left.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use actuator::infra::test::Server;
use actuator::orchestrate::{ActuatorOrchestration, PlanOptions};
use actuator::prelude::*;
use actuator::provision::SimProxy;

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

fn report(what: &str, runs: Vec<Duration>, baseline: Duration) {
    let (min, median, max) = spread(runs);
    println!(
        "{what:<34} min {min:>7.3} s  median {median:>7.3} s  max {max:>7.3} s  ({:.3} × up)",
        median / baseline.as_secs_f64()
    );
}

/// Resets the process's peak resident memory (Linux: `5` to `/proc/self/clear_refs`).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
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

    let t = Instant::now();
    let mut orch = orchestration(n, &sim, dir.path());
    assert!(rt.block_on(orch.initiate_system()), "{:?}", orch.failures());
    let up = t.elapsed();
    assert_eq!(sim.live().len(), n);
    println!(
        "converge {n} servers, {runs} runs; baseline: up {:.3} s ({:.2} µs/resource), peak {:.0} MB",
        up.as_secs_f64(),
        up.as_secs_f64() * 1e6 / n as f64,
        common::peak_mb()
    );
    drop(orch);

    // Nothing changed: a new process's view (the model built again, the state read from disk)
    // is what `plan` costs a user; the model's construction is timed apart.
    reset_peak();
    let t = Instant::now();
    let mut orch = orchestration(n, &sim, dir.path());
    let build = t.elapsed();
    let (mut plain, mut refreshed) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let t = Instant::now();
        let p = rt.block_on(orch.plan_with(&no_refresh)).expect("plan");
        plain.push(t.elapsed());
        assert!(!p.has_changes(), "{}", p.summary_line());
        let t = Instant::now();
        let p = rt.block_on(orch.plan_with(&refresh)).expect("plan");
        refreshed.push(t.elapsed());
        assert!(!p.has_changes(), "{}", p.summary_line());
    }
    println!(
        "model built again                  {:.3} s",
        build.as_secs_f64()
    );
    report("plan, nothing changed, no refresh", plain, up);
    report("plan, nothing changed, refresh", refreshed, up);
    println!(
        "peak memory while planning         {:.0} MB",
        common::peak_mb()
    );
    drop(orch);

    // A 1% change, alternating the value so that every run changes it again.
    let (mut plans, mut applies) = (Vec::new(), Vec::new());
    for run in 0..runs {
        CHANGED.store(run % 2 == 0, Ordering::Relaxed);
        let mut orch = orchestration(n, &sim, dir.path());
        let t = Instant::now();
        let p = rt.block_on(orch.plan_with(&no_refresh)).expect("plan");
        plans.push(t.elapsed());
        assert_eq!(p.summary.change, n.div_ceil(100), "{}", p.summary_line());
        let t = Instant::now();
        assert!(
            rt.block_on(orch.apply(&p, &no_refresh)),
            "{:?}",
            orch.failures()
        );
        applies.push(t.elapsed());
    }
    report("plan, 1% changed", plans, up);
    report("apply of the 1% beyond its plan", applies, up);
}
