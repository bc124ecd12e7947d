//! The AWS example's model against moto on loopback: `up` and `down` wall time for K = 10 and
//! K = 50 instances, and how close the makespan comes to its floor — the critical path (the
//! longest chain of dependent EC2 round trips) times the median round trip of an idle moto.
//! Then K = 10 with 20 % of all calls failing transiently (15 % throttled, 5 % 5xx): it must
//! succeed and leave nothing behind.
//!
//! ```sh
//! cargo bench -p actuator-tests --features aws --bench aws     # MOTO_BENCH_PORT (5056)
//! ```
//!
//! Each configuration prints the min / median / max of its runs; the ratios are of the median run
//! against floors measured in the same invocation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actuator::events::NullHandler;
use actuator::orchestrate::{ActuatorOrchestration, Options};
use actuator::prelude::*;
use actuator_aws::{ApiLimits, AwsProxy, CallStats};

use actuator_tests::aws::*;

/// The proxy as the example builds it against a local endpoint.
fn example_proxy(url: &str, limits: ApiLimits) -> AwsProxy {
    AwsProxy::new("aws")
        .default_region(REGION)
        .credentials("testing", Secret::new("testing"))
        .endpoint(url)
        .limits(limits)
}

/// The median round trip of an idle moto: 200 sequential `DescribeVpcs`.
fn idle_latency(url: &str) -> Duration {
    let p = example_proxy(url, ApiLimits::unlimited());
    rt().block_on(async {
        let ec2 = p.client(None).await.unwrap();
        let mut l = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            ec2.describe_vpcs().send().await.unwrap();
            l.push(t.elapsed());
        }
        l.sort();
        l[l.len() / 2]
    })
}

/// moto's throughput when saturated: 16 clients sending `DescribeVpcs` for a second.
fn saturated_rps(url: &str) -> f64 {
    let p = example_proxy(url, ApiLimits::unlimited());
    rt().block_on(async {
        let ec2 = p.client(None).await.unwrap();
        let t = Instant::now();
        let n = futures::future::join_all((0..16).map(|_| {
            let ec2 = ec2.clone();
            async move {
                let mut n = 0u32;
                while t.elapsed() < Duration::from_secs(1) {
                    ec2.describe_vpcs().send().await.unwrap();
                    n += 1;
                }
                n
            }
        }))
        .await
        .into_iter()
        .sum::<u32>();
        f64::from(n) / t.elapsed().as_secs_f64()
    })
}

/// `min / median / max` of `d`.
fn spread(mut d: Vec<Duration>) -> String {
    d.sort();
    format!(
        "{:.2?} / {:.2?} / {:.2?}",
        d[0],
        d[d.len() / 2],
        d[d.len() - 1]
    )
}

struct Run {
    up: Duration,
    down: Duration,
    critical: u64,
    calls_up: u64,
    calls_down: u64,
    retries: u64,
    stats: CallStats,
    leaks: usize,
}

fn run(url: &str, moto: &str, k: usize, limits: ApiLimits, concurrency: usize) -> Run {
    reset(moto);
    let infra = fleet(k);
    let ns = FleetNs::instance("ns", &infra);
    let aws = Arc::new(example_proxy(url, limits));
    let dir = tempfile::tempdir().unwrap();
    let mut o = ActuatorOrchestration::new("bench")
        .infra(&infra)
        .namespace(&ns)
        .proxy(aws.clone())
        .handler(Arc::new(NullHandler))
        .options(Options {
            max_concurrency: concurrency,
            ..Options::default()
        })
        .state_dir(dir.path());
    let ec2 = client(moto);
    rt().block_on(async move {
        let t = Instant::now();
        assert!(o.initiate_system().await, "{}", failures(&o));
        let up = t.elapsed();
        let stats = aws.stats();
        let st = o.state().unwrap();
        let deps = actuator_tests::bench::recorded_deps(&st);
        let critical = actuator_tests::bench::critical_round_trips(&deps, &stats.round_trips);
        // `down` as the command line runs it: a new process, no model, a fresh proxy (and fresh
        // token buckets) reading the state.
        drop(o);
        let fresh = Arc::new(example_proxy(url, limits));
        let mut o = ActuatorOrchestration::new("bench")
            .proxy(fresh.clone())
            .handler(Arc::new(NullHandler))
            .options(Options {
                max_concurrency: concurrency,
                ..Options::default()
            })
            .state_dir(dir.path());
        let t = Instant::now();
        assert!(o.teardown_system().await, "{}", failures(&o));
        let down = t.elapsed();
        let calls_down = fresh.stats().total();
        let retries = stats.total_retried() + fresh.stats().total_retried();
        Run {
            up,
            down,
            critical,
            calls_up: stats.total(),
            calls_down,
            retries,
            stats,
            leaks: leaks(&ec2).await.len(),
        }
    })
}

fn main() {
    let port = std::env::var("MOTO_BENCH_PORT").unwrap_or_else(|_| "5056".into());
    let moto = start_moto(&port);
    reset(&moto);
    // Warm moto up (its first EC2 call loads the backend and its AMIs).
    let _ = run(&moto, &moto, 1, ApiLimits::unlimited(), 10);
    let latency = idle_latency(&moto);
    let rps = saturated_rps(&moto);
    println!("moto idle round trip (median of 200 DescribeVpcs): {latency:.2?}");
    println!("moto saturated (16 clients sending DescribeVpcs): {rps:.0} requests/s");
    println!();
    println!(
        "{:>3} {:>22} {:>4} {:>4} | {:>26} | {:>26} | {:>5} {:>5} | {:>5} {:>10} {:>8} | {:>7}",
        "K",
        "client rate limits",
        "conc",
        "runs",
        "up (min / median / max)",
        "down (min / median / max)",
        "calls",
        "calls",
        "crit.",
        "up / crit.",
        "up / rps",
        "rtt p50"
    );
    for k in [10, 50] {
        for (label, limits, conc, repeat) in [
            ("off (local emulator)", ApiLimits::unlimited(), 10, 3),
            ("off (local emulator)", ApiLimits::unlimited(), 50, 3),
            ("EC2 defaults", ApiLimits::default(), 10, 1),
        ] {
            let mut runs: Vec<Run> = (0..repeat)
                .map(|_| run(&moto, &moto, k, limits, conc))
                .collect();
            assert!(runs.iter().all(|r| r.leaks == 0), "K = {k}: leaks");
            let downs = spread(runs.iter().map(|r| r.down).collect());
            runs.sort_by_key(|r| r.up);
            let ups = spread(runs.iter().map(|r| r.up).collect());
            // The median run (by up time) for the ratios and counts.
            let r = &runs[runs.len() / 2];
            let floor = latency * r.critical as u32;
            println!(
                "{k:>3} {label:>22} {conc:>4} {repeat:>4} | {ups:>26} | {downs:>26} | {:>5} {:>5} | {:>5} {:>9.1}x {:>7.2}x | {:>7.1?}",
                r.calls_up,
                r.calls_down,
                r.critical,
                r.up.as_secs_f64() / floor.as_secs_f64(),
                r.up.as_secs_f64() / (r.calls_up as f64 / rps),
                r.stats.median_latency().unwrap_or_default(),
            );
        }
    }
    println!();
    println!(
        "crit.: round trips on the longest chain of dependent resources; up / crit.: the makespan"
    );
    println!(
        "over crit. x the idle round trip; up / rps: the makespan over the time moto needs to"
    );
    println!("serve that many calls at its saturated rate (moto is one Python process).");

    // 20 % transient faults in front of moto.
    println!();
    reset(&moto);
    let fp = FaultProxy::start(
        &moto,
        Faults {
            throttle: 0.15,
            server_error: 0.05,
            ..Faults::default()
        },
    );
    let r = run(&fp.url, &moto, 10, ApiLimits::unlimited(), 10);
    println!(
        "K = 10 with 20 % injected faults ({:?}), one run: up {:.2?}, down {:.2?}, {} retries, {} leaks",
        fp.injected(),
        r.up,
        r.down,
        r.retries,
        r.leaks
    );
    assert_eq!(r.leaks, 0, "leaks after the fault run");
}
