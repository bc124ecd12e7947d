//! The AWS benchmark's shape on the real OpenStack of `scripts/openstack.sh` (loopback): a
//! network with its subnet, a router with its gateway and interface, a security group with a rule,
//! and K servers each with a floating IP, for K = 10 and K = 50: `up` and `down` wall time
//! (min / median / max of the runs), and how close the makespan comes to its floor — the critical
//! path (the longest chain of dependent requests, server-status polls included) times the median
//! request latency of the same run.
//!
//! ```sh
//! cargo bench -p actuator-tests --features openstack --bench openstack
//! OPENSTACK_BENCH_RUNS=1 OPENSTACK_BENCH_K=10 cargo bench … # fewer runs, one size
//! OPENSTACK_BENCH_CLOUD=admin cargo bench …                  # another project than the tests'
//! ```
//!
//! With `OPENSTACK_BENCH_PYTHON=<dir>` (a checkout of the Python original, haxsaw/actuator, on a
//! venv whose `bin/python` is `<dir>/venv/bin/python`), the same model runs through the original's
//! OpenStack proxy in the same invocation, alternating with this one, and the ratio is printed.
//! The venv that works (its `development` branch, on shade; Python 3.8 because the C extension of
//! `errator`, which it needs, does not build on 3.9 and later; the client libraries of 2020, since
//! shade needs `munch` and the `openstack.cloud` of openstacksdk 0.4x, and the original calls
//! `graph.node`, gone in networkx 2.4):
//!
//! ```sh
//! git clone -b development https://github.com/haxsaw/actuator <dir>
//! uv venv -p python3.8 <dir>/venv
//! uv pip install --python <dir>/venv/bin/python shade==1.33.0 openstacksdk==0.46.0 munch \
//!     networkx==2.3 errator==0.4 os-client-config paramiko netifaces six ipaddress
//! ```

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_openstack::{
    CallStats, FloatingIp, Network, Router, RouterGateway, RouterInterface, SecurityGroup,
    SecurityGroupRule, Server, Subnet,
};

use actuator_tests::openstack::*;

#[derive(InfraModel)]
struct Bench {
    #[component(Network::new("bench-net"))]
    net: Network,
    #[component(Subnet::new("bench-subnet", ctx.model.net, "10.20.0.0/20"))]
    subnet: Subnet,
    #[component(Router::new("bench-router"))]
    router: Router,
    #[component(RouterGateway::new("bench-gw", ctx.model.router, "public"))]
    gateway: RouterGateway,
    #[component(RouterInterface::new("bench-rinter", ctx.model.router, ctx.model.subnet))]
    rinter: RouterInterface,
    #[component(SecurityGroup::new("bench-sg", "SSH in"))]
    sg: SecurityGroup,
    #[component(SecurityGroupRule::new("ssh", ctx.model.sg).tcp(22, 22).cidr("0.0.0.0/0"))]
    ssh: SecurityGroupRule,
    #[component(MultiResource::new(
        Server::new("node", "cirros", "m1.tiny")
            .nics([ctx.comp.container.container.net])
            .security_groups([ctx.comp.container.container.sg])))]
    nodes: MultiResource<Server>,
    #[component(MultiResource::new(
        FloatingIp::for_server("node-ip", ctx.comp.container.container.nodes[ctx.name]).pool("public")))]
    ips: MultiResource<FloatingIp>,
}

fn bench(k: usize) -> actuator::model::Instance<Bench> {
    let b = Bench::instance("bench");
    for i in 0..k {
        b.index(b.root().nodes, i);
        b.index(b.root().ips, i);
    }
    b
}

struct Run {
    up: Duration,
    down: Duration,
    up_stats: CallStats,
    critical: u64,
}

fn run(k: usize) -> Run {
    let p = Arc::new(
        proxy_for(&cloud())
            .poll_interval(Duration::from_millis(250))
            .server_timeout(Duration::from_secs(900)),
    );
    let infra = bench(k);
    let dir = tempfile::tempdir().unwrap();
    let mut o = ActuatorOrchestration::new("os-bench")
        .infra(&infra)
        .proxy(p.clone())
        .max_concurrency(k.max(10))
        .state_dir(dir.path());
    let rt = rt();
    let t = Instant::now();
    if !rt.block_on(o.initiate_system()) {
        // Tear down what was made before giving up, so a failed run does not fill the project.
        let why = failures(&o);
        let cleaned = rt.block_on(o.teardown_system());
        panic!("up failed (teardown afterwards succeeded: {cleaned}): {why}");
    }
    let up = t.elapsed();
    let up_stats = p.stats();
    let st = o.state().unwrap();
    let deps = actuator_tests::bench::recorded_deps(&st);
    let critical = actuator_tests::bench::critical_round_trips(&deps, &up_stats.round_trips);
    drop(o);
    // `down` as the command line runs it: a new process, the state alone.
    let p2 = Arc::new(proxy_for(&cloud()));
    let mut o = ActuatorOrchestration::new("os-bench")
        .proxy(p2)
        .max_concurrency(k.max(10))
        .state_dir(dir.path());
    let t = Instant::now();
    assert!(rt.block_on(o.teardown_system()), "{}", failures(&o));
    let down = t.elapsed();
    Run {
        up,
        down,
        up_stats,
        critical,
    }
}

/// The cloud of the stack's clouds.yaml both run in: `OPENSTACK_BENCH_CLOUD`, else `demo`. `admin`
/// (its own project, quotas raised as well) keeps the benchmark out of the tests' way when both
/// run at once.
fn cloud() -> String {
    std::env::var("OPENSTACK_BENCH_CLOUD").unwrap_or_else(|_| var("ACTUATOR_OS_DEMO_CLOUD"))
}

/// The Python original's OpenStack proxy on the same model, if a checkout is given: its `up` and
/// `down` wall times, as its own script measures them.
fn python(k: usize) -> Option<(Duration, Duration)> {
    let dir = PathBuf::from(std::env::var("OPENSTACK_BENCH_PYTHON").ok()?);
    let script = actuator_tests::repo_root().join("tests/benches/openstack_original.py");
    let out = Command::new(dir.join("venv/bin/python"))
        .arg(&script)
        .arg(k.to_string())
        .env("PYTHONPATH", dir.join("src"))
        .env("OS_CLIENT_CONFIG_FILE", var("OS_CLIENT_CONFIG_FILE"))
        .env("OS_CLOUD", cloud())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let secs = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(Duration::from_secs_f64)
    };
    match (out.status.success(), secs("up "), secs("down ")) {
        (true, Some(u), Some(d)) => Some((u, d)),
        _ => {
            eprintln!(
                "the Python original failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            None
        }
    }
}

fn stats(v: &mut [Duration]) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    env();
    let runs: usize = std::env::var("OPENSTACK_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let sizes: Vec<usize> = match std::env::var("OPENSTACK_BENCH_K") {
        Ok(v) => v.split(',').filter_map(|k| k.trim().parse().ok()).collect(),
        Err(_) => vec![10, 50],
    };
    println!("OpenStack on loopback (scripts/openstack.sh), {runs} runs per size\n");
    for k in sizes {
        let (mut ups, mut downs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut py_ups, mut py_downs) = (Vec::new(), Vec::new());
        let mut last = None;
        for i in 1..=runs {
            let r = run(k);
            // Each run as it ends: a long round that fails late still leaves its figures.
            eprintln!("K = {k}, run {i}: up {:.2?}, down {:.2?}", r.up, r.down);
            let lat = r.up_stats.median_latency().unwrap_or_default();
            let floor = lat * r.critical as u32;
            ratios.push(r.up.as_secs_f64() / floor.as_secs_f64().max(1e-9));
            ups.push(r.up);
            downs.push(r.down);
            last = Some(r);
            // Alternate with the original, when it runs.
            if let Some((u, d)) = python(k) {
                eprintln!("K = {k}, run {i}: the original's up {u:.2?}, down {d:.2?}");
                py_ups.push(u);
                py_downs.push(d);
            }
        }
        let r = last.unwrap();
        let (umin, umed, umax) = stats(&mut ups);
        let (dmin, dmed, dmax) = stats(&mut downs);
        ratios.sort_by(f64::total_cmp);
        println!(
            "K = {k} servers with floating IPs ({} resources)",
            7 + 2 * k
        );
        println!("  up    min {umin:.2?}  median {umed:.2?}  max {umax:.2?}");
        println!("  down  min {dmin:.2?}  median {dmed:.2?}  max {dmax:.2?}");
        println!(
            "  {} requests in the last up, median latency {:.1?}, critical path {} requests",
            r.up_stats.total(),
            r.up_stats.median_latency().unwrap_or_default(),
            r.critical
        );
        println!(
            "  makespan / (critical path x median latency): min {:.1}  median {:.1}  max {:.1}",
            ratios[0],
            ratios[ratios.len() / 2],
            ratios[ratios.len() - 1]
        );
        if !py_ups.is_empty() {
            let (pumin, pumed, pumax) = stats(&mut py_ups);
            let (pdmin, pdmed, pdmax) = stats(&mut py_downs);
            println!(
                "  Python original up    min {pumin:.2?}  median {pumed:.2?}  max {pumax:.2?}"
            );
            println!(
                "  Python original down  min {pdmin:.2?}  median {pdmed:.2?}  max {pdmax:.2?}"
            );
            println!(
                "  ratio (median, original / this): up {:.1}x  down {:.1}x",
                pumed.as_secs_f64() / umed.as_secs_f64(),
                pdmed.as_secs_f64() / dmed.as_secs_f64()
            );
        }
        println!();
    }
}
