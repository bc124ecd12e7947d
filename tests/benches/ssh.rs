//! The SSH agent against the loopback sshd of `scripts/sshd.sh` (a plain binary:
//! `cargo bench -p actuator-tests --features ssh --bench ssh`), and Ansible on the same hosts in
//! the same run (`benches/ansible/`). Each Rust scenario runs in a fresh process (fresh
//! connections, its own peak memory) several times; the min, median and max are reported, and
//! ratios only against Ansible run in the same invocation.
//!
//! * `orchestration H`: H hosts (127.0.0.2 …) × 10 `echo hello` CommandTasks through
//!   `ActuatorOrchestration`: ten MultiTasks over a MultiRole of H roles, chained `e0 | e1 | …`
//!   (Ansible's linear strategy: each task on every host before the next), default options;
//! * `agent H`: the same 10 commands per host straight through `SshAgent::run`, one host's
//!   tasks in order, all hosts at once;
//! * `handshake` / `channel`: one connection (TCP, curve25519 key exchange, public key
//!   authentication, first command), then one more command on the open connection.
//!
//! Environment: `ACTUATOR_SSH_BENCH_RUNS` (default 5), `ACTUATOR_SSH_BENCH_ANSIBLE=0` skips
//! Ansible, `ACTUATOR_SSH_BENCH_ANSIBLE_HOSTS=100` also runs Ansible on 100 hosts (minutes).

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use actuator::exec::{Action, ExecAgent, ExecTask};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_ssh::{HostKeyPolicy, SshAgent, SshOptions};
use actuator_tests::repo_root as root;

#[derive(InfraModel)]
struct Fleet {
    #[component(MultiResource::new(StaticServer::new("host", format!("127.0.0.{}", ctx.name))))]
    hosts: MultiResource<StaticServer>,
}

namespace! {
    struct FleetNs for Fleet {
        nodes: MultiRole = MultiRole::new(Role::new("node").host_ref(infra.hosts[ctx.name])),
    }
}

config! {
    struct Echo for FleetNs {
        e0: MultiTask = MultiTask::new("e0", CommandTask::new("e0", "echo hello"), q.nodes.all()),
        e1: MultiTask = MultiTask::new("e1", CommandTask::new("e1", "echo hello"), q.nodes.all()),
        e2: MultiTask = MultiTask::new("e2", CommandTask::new("e2", "echo hello"), q.nodes.all()),
        e3: MultiTask = MultiTask::new("e3", CommandTask::new("e3", "echo hello"), q.nodes.all()),
        e4: MultiTask = MultiTask::new("e4", CommandTask::new("e4", "echo hello"), q.nodes.all()),
        e5: MultiTask = MultiTask::new("e5", CommandTask::new("e5", "echo hello"), q.nodes.all()),
        e6: MultiTask = MultiTask::new("e6", CommandTask::new("e6", "echo hello"), q.nodes.all()),
        e7: MultiTask = MultiTask::new("e7", CommandTask::new("e7", "echo hello"), q.nodes.all()),
        e8: MultiTask = MultiTask::new("e8", CommandTask::new("e8", "echo hello"), q.nodes.all()),
        e9: MultiTask = MultiTask::new("e9", CommandTask::new("e9", "echo hello"), q.nodes.all()),
        deps { e0 | e1 | e2 | e3 | e4 | e5 | e6 | e7 | e8 | e9 }
    }
}

const TASKS_PER_HOST: usize = 10;
const CHILD: &str = "ACTUATOR_SSH_BENCH_CHILD";

/// The sshd's settings (`scripts/sshd.sh env`), starting it if needed.
fn sshd_env() -> HashMap<String, String> {
    actuator_tests::service("sshd")
}

fn agent(env: &HashMap<String, String>, known_hosts: &Path) -> SshAgent {
    SshAgent::new(SshOptions {
        port: env["ACTUATOR_SSH_PORT"].parse().expect("port"),
        default_user: Some(env["ACTUATOR_SSH_USER"].clone()),
        default_key: Some(env["ACTUATOR_SSH_KEY"].clone().into()),
        host_keys: HostKeyPolicy::AcceptNew(known_hosts.to_path_buf()),
        max_handshakes: 10,
        ..SshOptions::default()
    })
}

fn host(i: usize) -> String {
    format!("127.0.0.{}", i + 2)
}

/// Peak resident memory of this process so far (VmHWM), in MB.
fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// One scenario in this (child) process; prints `RESULT <seconds> <peak MB>`.
fn child(scenario: &str) {
    let env = sshd_env();
    let kh = tempfile::tempdir().expect("temp dir");
    let known_hosts = kh.path().join("known_hosts");
    let (what, hosts) = scenario.split_once(' ').unwrap_or((scenario, "1"));
    let hosts: usize = hosts.parse().expect("host count");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let elapsed = match what {
        "orchestration" => {
            let infra = Fleet::instance("fleet");
            let ns = FleetNs::instance("fleetns", &infra);
            for i in 0..hosts {
                ns.index(ns.root().nodes, i + 2);
            }
            let cfg = Echo::instance("echo", &ns);
            let agent = Arc::new(agent(&env, &known_hosts));
            let mut o = ActuatorOrchestration::new("bench-ssh")
                .infra(&infra)
                .namespace(&ns)
                .config(&cfg)
                .agent(agent.clone())
                .handler(Arc::new(actuator::events::NullHandler))
                .memory_state();
            let t0 = Instant::now();
            let ok = rt.block_on(o.initiate_system());
            let elapsed = t0.elapsed();
            assert!(ok, "{:?}", o.failures());
            assert_eq!(agent.stats().handshakes as usize, hosts);
            assert_eq!(agent.stats().channels as usize, hosts * TASKS_PER_HOST);
            elapsed
        }
        "agent" => {
            let agent = agent(&env, &known_hosts);
            let t0 = Instant::now();
            rt.block_on(async {
                let per_host = (0..hosts).map(|h| {
                    let agent = &agent;
                    async move {
                        for t in 0..TASKS_PER_HOST {
                            let task =
                                ExecTask::new(format!("e{t}"), Action::command(["echo", "hello"]))
                                    .host(host(h));
                            let out = agent.run(task).await.expect("echo");
                            assert_eq!(out.stdout, "hello\n");
                        }
                    }
                });
                futures::future::join_all(per_host).await;
            });
            t0.elapsed()
        }
        "handshake" | "channel" => {
            let agent = agent(&env, &known_hosts);
            let echo = || ExecTask::new("e", Action::command(["echo", "hello"])).host(host(0));
            rt.block_on(async {
                let t0 = Instant::now();
                agent.run(echo()).await.expect("echo");
                let first = t0.elapsed();
                if what == "handshake" {
                    return first;
                }
                let t1 = Instant::now();
                for _ in 0..100 {
                    agent.run(echo()).await.expect("echo");
                }
                t1.elapsed() / 100
            })
        }
        other => panic!("unknown scenario {other}"),
    };
    println!("RESULT {} {}", elapsed.as_secs_f64(), peak_mb());
}

/// `scenario` in `runs` fresh processes: the min, median and max of its times, and the highest
/// peak resident memory (MB).
fn measure(scenario: &str, runs: usize) -> (f64, f64, f64, f64) {
    let exe = std::env::current_exe().expect("current exe");
    let mut times = Vec::new();
    let mut peak: f64 = 0.0;
    for _ in 0..runs {
        let out = Command::new(&exe)
            .env(CHILD, scenario)
            .output()
            .expect("run scenario");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
            panic!(
                "scenario `{scenario}` failed:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let mut f = line.split(' ').map(|x| x.parse::<f64>().expect("number"));
        times.push(f.next().expect("seconds"));
        peak = peak.max(f.next().expect("peak"));
    }
    times.sort_by(f64::total_cmp);
    (
        times[0],
        times[times.len() / 2],
        times[times.len() - 1],
        peak,
    )
}

/// Ansible's wall time on `hosts` hosts (benches/ansible/run.sh), `None` if it cannot run.
fn ansible(hosts: usize, pipelining: bool) -> Option<f64> {
    let t0 = Instant::now();
    let out = Command::new(root().join("tests/benches/ansible/run.sh"))
        .arg(hosts.to_string())
        .env(
            "ANSIBLE_SSH_PIPELINING",
            if pipelining { "True" } else { "False" },
        )
        .output()
        .ok()?;
    let elapsed = t0.elapsed().as_secs_f64();
    if !out.status.success() {
        eprintln!(
            "ansible run failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let own = text
        .lines()
        .find_map(|l| l.strip_prefix("ansible_seconds="))
        .and_then(|s| s.trim().parse().ok());
    Some(own.unwrap_or(elapsed))
}

fn main() {
    if let Ok(scenario) = std::env::var(CHILD) {
        child(&scenario);
        return;
    }
    let status = Command::new(root().join("scripts/sshd.sh"))
        .arg("start")
        .env("ACTUATOR_SSHD_HOSTS", "101")
        .status()
        .expect("scripts/sshd.sh start");
    assert!(status.success(), "scripts/sshd.sh start failed");
    let runs: usize = std::env::var("ACTUATOR_SSH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5)
        .max(1);
    let with_ansible = std::env::var("ACTUATOR_SSH_BENCH_ANSIBLE").map_or(true, |v| v != "0");

    println!(
        "SSH agent vs Ansible, loopback sshd (scripts/sshd.sh), {runs} fresh processes each\n"
    );
    let ms = |(min, median, max, _): (f64, f64, f64, f64)| {
        format!(
            "{:.1} / {:.1} / {:.1} ms",
            min * 1e3,
            median * 1e3,
            max * 1e3
        )
    };
    println!(
        "one connection + first command (min / median / max): {}",
        ms(measure("handshake", runs))
    );
    println!(
        "one more command on it:                              {}",
        ms(measure("channel", runs))
    );
    println!(
        "\n{:<34} {:>9} {:>9} {:>9} {:>9}",
        "scenario (hosts x 10 echo tasks)", "min s", "median s", "max s", "peak MB"
    );
    let mut results = HashMap::new();
    for scenario in [
        "orchestration 10",
        "agent 10",
        "orchestration 100",
        "agent 100",
    ] {
        let (min, median, max, peak) = measure(scenario, runs);
        println!("{scenario:<34} {min:>9.3} {median:>9.3} {max:>9.3} {peak:>9.1}");
        results.insert(scenario, median);
    }
    // Ratios only against Ansible measured in this run, never against a figure from another day.
    if with_ansible {
        let ours = results["orchestration 10"];
        println!(
            "\nAnsible on the same 10 hosts x 10 tasks (median through ActuatorOrchestration: \
             {ours:.3} s):"
        );
        for pipelining in [false, true] {
            let label = if pipelining {
                "forks 10, ControlPersist, pipelining"
            } else {
                "forks 10, ControlPersist"
            };
            match ansible(10, pipelining) {
                Some(s) => println!(
                    "  Ansible measured now ({label}): {s:.2} s -> {:.1}x faster",
                    s / ours
                ),
                None => println!("  Ansible ({label}): could not run"),
            }
        }
        if std::env::var("ACTUATOR_SSH_BENCH_ANSIBLE_HOSTS").as_deref() == Ok("100")
            && let Some(s) = ansible(100, false)
        {
            let ours = results["orchestration 100"];
            println!(
                "  Ansible, 100 hosts (ControlPersist): {s:.2} s -> {:.1}x faster",
                s / ours
            );
        }
    }
}
