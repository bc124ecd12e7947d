//! The Azure example's cluster model against the ARM fake on loopback (in this process, over TLS,
//! 20 ms added to every ARM answer): `up` and `down` wall time for K = 10 and K = 50 VMs, and how
//! close the makespan comes to its floor.
//!
//! * Round trips only (every operation done at once): the floor is the critical path — the
//!   longest chain of dependent resources, counted in sequential ARM calls (GET, PUT, the poll that
//!   sees it done, the final GET; a VM also reads its interface and public IP) — times 20 ms.
//! * Realistic operations (`Timing::realistic()`: network 2 s, VMs 30 s, group deletion 20 s,
//!   `Retry-After: 1`): the floor adds each operation's duration along the chain; the proxy's
//!   defaults poll no faster than `Retry-After`.
//!
//! Then K = 10 with 20 % of the ARM calls failing (5xx, dropped connections, lost answers) and the
//! writes throttled: it must succeed and leave nothing behind.
//!
//! ```sh
//! cargo bench -p actuator-tests --features azure --bench azure            # AZURE_BENCH_RUNS=3
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actuator::events::NullHandler;
use actuator::orchestrate::{ActuatorOrchestration, Options};
use actuator_azure::{AzureProxy, CallStats, RetrySettings, Waits};

use actuator_tests::azure::*;

const LATENCY: Duration = Duration::from_millis(20);

/// The proxy as the example builds it against a local endpoint, with `poll` as its least poll
/// interval.
fn bench_proxy(e: &Endpoint, poll: Duration) -> AzureProxy {
    proxy(e)
        .waits(Waits {
            poll_interval: poll,
            ..Waits::default()
        })
        .retry(RetrySettings::default())
}

/// How long one resource takes at best: its sequential calls plus its operation.
#[derive(Clone, Copy)]
struct Cost {
    calls: u32,
    lro: Duration,
}

fn create_cost(kind: &str, t: &Timing) -> Cost {
    let lro = |k: ResourceKind| t.lro.of(k);
    match kind {
        // GET, then a synchronous PUT.
        "azure.ResourceGroup" => Cost {
            calls: 2,
            lro: Duration::ZERO,
        },
        // GET, PUT, the poll that sees it done, GET; then the interface and its public IP.
        "azure.VirtualMachine" => Cost {
            calls: 6,
            lro: lro(ResourceKind::VirtualMachine),
        },
        _ => Cost {
            calls: 4,
            lro: lro(ResourceKind::VirtualNetwork),
        },
    }
}

fn delete_cost(kind: &str, t: &Timing) -> Cost {
    // DELETE, then the poll that sees it gone.
    let lro = match kind {
        "azure.ResourceGroup" => t.lro.of(ResourceKind::ResourceGroup),
        "azure.VirtualMachine" => t.lro.of(ResourceKind::VirtualMachine),
        _ => t.lro.of(ResourceKind::VirtualNetwork),
    };
    Cost { calls: 2, lro }
}

/// The longest chain through `deps` (key → what it depends on), weighted by `cost`; `reverse`
/// walks it the other way (deletions: dependents first).
fn critical_path(
    deps: &HashMap<String, Vec<String>>,
    cost: &dyn Fn(&str) -> Cost,
    reverse: bool,
) -> (u32, Duration) {
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for (k, ds) in deps {
        for d in ds {
            if reverse {
                edges.entry(d.as_str()).or_default().push(k.as_str());
            } else {
                edges.entry(k.as_str()).or_default().push(d.as_str());
            }
        }
    }
    fn longest<'a>(
        k: &'a str,
        edges: &HashMap<&'a str, Vec<&'a str>>,
        cost: &dyn Fn(&str) -> Cost,
        memo: &mut HashMap<&'a str, (u32, Duration)>,
    ) -> (u32, Duration) {
        if let Some(&v) = memo.get(k) {
            return v;
        }
        let before = edges
            .get(k)
            .into_iter()
            .flatten()
            .map(|d| longest(d, edges, cost, memo))
            .max_by_key(|(c, l)| *l + LATENCY * *c)
            .unwrap_or_default();
        let c = cost(k);
        let v = (before.0 + c.calls, before.1 + c.lro);
        memo.insert(k, v);
        v
    }
    let mut memo = HashMap::new();
    deps.keys()
        .map(|k| longest(k, &edges, cost, &mut memo))
        .max_by_key(|(c, l)| *l + LATENCY * *c)
        .unwrap_or_default()
}

struct Run {
    up: Duration,
    down: Duration,
    up_floor: (u32, Duration),
    down_floor: (u32, Duration),
    calls_up: u64,
    calls_down: u64,
    stats: CallStats,
    leaks: usize,
}

fn run(config: FakeConfig, k: usize, poll: Duration, concurrency: usize) -> Run {
    let timing = config.timing.clone();
    let fake = start_fake(config);
    let e = Endpoint::of(&fake);
    let infra = cluster(k);
    let ns = ClusterNs::instance("ns", &infra);
    let azure = Arc::new(bench_proxy(&e, poll));
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        max_concurrency: concurrency,
        ..Options::default()
    };
    let mut o = ActuatorOrchestration::new("bench")
        .infra(&infra)
        .namespace(&ns)
        .proxy(azure.clone())
        .handler(Arc::new(NullHandler))
        .options(options.clone())
        .state_dir(dir.path());
    rt().block_on(async move {
        let t = Instant::now();
        assert!(o.initiate_system().await, "{}", failures(&o));
        let up = t.elapsed();
        let stats = azure.stats();
        let st = o.state().unwrap();
        let kinds: HashMap<String, String> = st
            .iter()
            .map(|e| (e.key.to_string(), e.kind.to_string()))
            .collect();
        let deps = actuator_tests::bench::recorded_deps(&st);
        let up_floor = critical_path(&deps, &|k| create_cost(&kinds[k], &timing), false);
        let down_floor = critical_path(&deps, &|k| delete_cost(&kinds[k], &timing), true);
        // `down` as the command line runs it: a new process, no model, a fresh proxy.
        drop(o);
        let fresh = Arc::new(bench_proxy(&e, poll));
        let mut o = ActuatorOrchestration::new("bench")
            .proxy(fresh.clone())
            .handler(Arc::new(NullHandler))
            .options(options)
            .state_dir(dir.path());
        let t = Instant::now();
        assert!(o.teardown_system().await, "{}", failures(&o));
        let down = t.elapsed();
        Run {
            up,
            down,
            up_floor,
            down_floor,
            calls_up: stats.calls,
            calls_down: fresh.stats().calls,
            stats,
            leaks: fake.resources().len(),
        }
    })
}

fn floor(f: (u32, Duration)) -> Duration {
    f.1 + LATENCY * f.0
}

fn mmm(mut v: Vec<Duration>) -> String {
    v.sort();
    format!(
        "{:.2?} / {:.2?} / {:.2?}",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

/// A fake whose operations finish at once: only round trips count.
fn round_trips() -> FakeConfig {
    FakeConfig {
        timing: Timing {
            latency: LATENCY,
            lro: azure_arm_fake::LroDurations::uniform(Duration::ZERO),
            retry_after_secs: 0,
        },
        ..FakeConfig::default()
    }
}

/// A fake with Azure's operation durations.
fn realistic() -> FakeConfig {
    FakeConfig {
        timing: Timing::realistic(),
        ..FakeConfig::default()
    }
}

struct Case {
    label: &'static str,
    config: fn() -> FakeConfig,
    k: usize,
    poll: Duration,
    conc: usize,
}

fn main() {
    let runs: usize = std::env::var("AZURE_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    println!(
        "ARM fake in-process over TLS, {LATENCY:?} per ARM answer; {runs} runs each; min / median / max"
    );
    println!();
    let default_poll = Waits::default().poll_interval;
    let cases = [
        Case {
            label: "round trips",
            config: round_trips,
            k: 10,
            poll: LATENCY,
            conc: 10,
        },
        Case {
            label: "round trips",
            config: round_trips,
            k: 50,
            poll: LATENCY,
            conc: 200,
        },
        Case {
            label: "realistic LROs",
            config: realistic,
            k: 10,
            poll: default_poll,
            conc: 10,
        },
        Case {
            label: "realistic LROs",
            config: realistic,
            k: 10,
            poll: default_poll,
            conc: 200,
        },
        Case {
            label: "realistic LROs",
            config: realistic,
            k: 50,
            poll: default_poll,
            conc: 200,
        },
    ];
    for Case {
        label,
        config,
        k,
        poll,
        conc,
    } in cases
    {
        let rs: Vec<Run> = (0..runs).map(|_| run(config(), k, poll, conc)).collect();
        assert!(rs.iter().all(|r| r.leaks == 0), "K = {k}: leaks");
        let r = &rs[0];
        let (uf, df) = (floor(r.up_floor), floor(r.down_floor));
        let ups: Vec<Duration> = rs.iter().map(|r| r.up).collect();
        let downs: Vec<Duration> = rs.iter().map(|r| r.down).collect();
        let med = |mut v: Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let (mu, md) = (med(ups.clone()), med(downs.clone()));
        println!("{label}, K = {k}, --max-concurrency {conc}:");
        println!(
            "  up   {}  floor {:.2?} ({} calls + {:.1?} of operations on the critical path)  median / floor {:.2}x  {} calls",
            mmm(ups),
            uf,
            r.up_floor.0,
            r.up_floor.1,
            mu.as_secs_f64() / uf.as_secs_f64(),
            r.calls_up,
        );
        println!(
            "  down {}  floor {:.2?} ({} calls + {:.1?})  median / floor {:.2}x  {} calls",
            mmm(downs),
            df,
            r.down_floor.0,
            r.down_floor.1,
            md.as_secs_f64() / df.as_secs_f64(),
            r.calls_down,
        );
        println!(
            "  up calls by operation: {:?}",
            r.stats
                .by_operation
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
        );
    }
    // 20 % faults and throttled writes.
    println!();
    let faulty = FakeConfig {
        faults: Faults {
            throttle: Throttle::writes(20, 20, 5.0),
            ..Faults::mixed(0.2)
        },
        ..round_trips()
    };
    let r = run(faulty, 10, LATENCY, 10);
    println!(
        "K = 10, round trips, 20 % faults (5xx, dropped, lost answers) and writes throttled to 20 + 5/s: up {:.2?}, down {:.2?}, {} attempts for {} calls, {} throttled, {} leaks",
        r.up, r.down, r.stats.attempts, r.stats.calls, r.stats.throttled, r.leaks
    );
    assert_eq!(r.leaks, 0, "leaks after the fault run");
}
