//! Orchestrator overhead with a zero-latency simulated cloud (a plain binary:
//! `cargo bench -p actuator --bench orchestrate`). Each scenario runs in a fresh process so its peak
//! memory (VmHWM) is its own:
//! * `flat N`: N independent resources;
//! * `chains N`: 10 chains of N/10 resources, each depending on the previous one's output;
//! * `file N`: the flat case with the state journalled to disk (every record synced).

mod common;
#[path = "common/shapes.rs"]
mod shapes;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use actuator::orchestrate::ActuatorOrchestration;
use actuator::provision::SimProxy;

fn run(what: &str, n: usize) {
    let t0 = Instant::now();
    let sim = Arc::new(SimProxy::default());
    let dir = tempfile::tempdir().expect("temp dir");
    let orch = ActuatorOrchestration::new(format!("bench-{what}"))
        .proxy(sim.clone())
        .max_concurrency(1000)
        .handler(Arc::new(actuator::events::NullHandler));
    let orch = shapes::with_model(orch, what == "chains", n);
    let mut orch = if what == "file" {
        orch.state_dir(dir.path())
    } else {
        orch.memory_state()
    };
    let built = t0.elapsed();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let ok = rt.block_on(async move {
        let ok = orch.initiate_system().await;
        (ok, orch)
    });
    let total = t0.elapsed();
    assert!(ok.0, "{:?}", ok.1.failures());
    assert_eq!(sim.live().len(), n);
    println!(
        "{what:>6} {n:>6}: model {:.3} s, up {:.3} s ({:.2} µs/resource), peak {:.0} MB",
        built.as_secs_f64(),
        (total - built).as_secs_f64(),
        (total - built).as_secs_f64() * 1e6 / n as f64,
        common::peak_mb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let (Some(what), Some(n)) = (args.get(1), args.get(2))
        && what != "--bench"
    {
        return run(what, n.parse().expect("count"));
    }
    let me = std::env::current_exe().expect("own path");
    for (what, n) in [
        ("flat", "20000"),
        ("chains", "20000"),
        ("flat", "100000"),
        ("chains", "100000"),
        ("file", "10000"),
    ] {
        let st = Command::new(&me)
            .args([what, n])
            .status()
            .expect("run scenario");
        assert!(st.success(), "{what} {n} failed");
    }
}
