//! The PostgreSQL state store against a real server (`scripts/postgres.sh`, started by the
//! tests when needed): leases and their holders, a killed holder's lease expiring, fencing of a
//! paused holder, concurrent appends from several processes, a server restart during `up`,
//! migration between the file store and PostgreSQL, credentials kept out of every output —
//! and the orchestrate and converge suites of the core, run again with their states here.
//!
//! Each test works in a schema of its own, so they run in parallel.

// The included suites each load `support/store.rs` (their own `store`, unused here: they name
// `crate::store`, this file's).
#![allow(clippy::duplicate_mod)]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actuator::cli::{Cli, EXIT_OK};
use actuator::events::Collect;
use actuator::infra::test::{Network, Server};
use actuator::orchestrate::{ActuatorOrchestration, FailureKind, OrchestrationError};
use actuator::prelude::*;
use actuator::provision::SimProxy;
use actuator::state::{Journal, StateStore, Target};
use actuator_postgres::{PgStore, current_lease};
use actuator_tests::dircloud::DirCloud;
use actuator_tests::postgres::{Cluster, psql, schema_of, url, url_in};
use clap::Parser;
use proptest::prelude::*;
use serde_json::json;

// The core's orchestrate and converge suites, on PostgreSQL: they name `crate::store`, which
// here keeps each state in a schema of its own.
#[path = "../actuator/tests/converge.rs"]
mod converge_suite;
#[path = "../actuator/tests/orchestrate.rs"]
mod orchestrate_suite;

/// Where the included suites keep their states here: each state directory a test names
/// becomes a schema (the same directory, the same schema, so a "new process" finds it).
mod store {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};
    use std::sync::{LazyLock, Mutex};

    use actuator::orchestrate::ActuatorOrchestration;

    /// A lost state: the directory's next orchestration gets a new, empty schema.
    pub fn lose(dir: &Path) {
        SCHEMAS.lock().unwrap().retain(|d, _| !d.starts_with(dir));
    }

    pub trait StateAt: Sized {
        fn state_at(self, dir: impl AsRef<Path>) -> Self;
        fn scratch_state(self) -> Self;
    }

    static SCHEMAS: LazyLock<Mutex<HashMap<PathBuf, String>>> = LazyLock::new(Default::default);

    impl StateAt for ActuatorOrchestration {
        fn state_at(self, dir: impl AsRef<Path>) -> Self {
            actuator_postgres::register();
            let url = SCHEMAS
                .lock()
                .unwrap()
                .entry(dir.as_ref().to_owned())
                .or_insert_with(|| actuator_tests::postgres::url("suite", ""))
                .clone();
            self.state_url(&url)
        }
        fn scratch_state(self) -> Self {
            actuator_postgres::register();
            self.state_url(&actuator_tests::postgres::url("scratch", ""))
        }
    }
}

#[derive(InfraModel)]
struct Fleet {
    #[component(Network::new("net"))]
    net: Network,
    #[component(MultiResource::new(Server::new("node", "debian-12").nics([ctx.model.net])))]
    nodes: MultiResource<Server>,
}

fn fleet(k: usize) -> Instance<Fleet> {
    let f = Fleet::instance("fleet");
    for i in 0..k {
        f.index(f.root().nodes, i);
    }
    f
}

fn paths(k: usize) -> Vec<String> {
    std::iter::once("Fleet.net".to_owned())
        .chain((0..k).map(|i| format!("Fleet.nodes.{i}")))
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

fn orch(
    url: &str,
    infra: &Instance<Fleet>,
    proxy: Arc<dyn actuator::provision::ProvisionerProxy>,
) -> ActuatorOrchestration {
    actuator_postgres::register();
    ActuatorOrchestration::new("fleet")
        .infra(infra)
        .proxy(proxy)
        .state_url(url)
}

fn target() -> Target {
    Target::new("fleet", "default")
}

fn failures(o: &ActuatorOrchestration) -> String {
    format!("{:?}", o.failures())
}

/// Polls `f` every 20 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lease_live(url: &str) -> bool {
    current_lease(url, &target())
        .unwrap()
        .is_some_and(|l| l.live)
}

// ------------------------------------------------------------------------------------------------
// Two runs on one state

#[test]
fn a_second_up_fails_naming_the_holder_while_status_plan_and_report_still_read() {
    let u = url("second", "");
    // Long enough (about 8 s) that the second run and the reads below, slow on a loaded machine,
    // all happen while it runs.
    let k = 40;
    let sim = Arc::new(SimProxy::default().latency(Duration::from_millis(200)));
    let first = {
        let (u, sim) = (u.clone(), sim.clone());
        std::thread::spawn(move || {
            let infra = fleet(k);
            let mut o = orch(&u, &infra, sim).max_concurrency(1);
            let ok = rt().block_on(o.initiate_system());
            (ok, failures(&o))
        })
    };
    wait_until(
        Duration::from_secs(30),
        "the first run's first resource",
        || first.is_finished() || (lease_live(&u) && !sim.live().is_empty()),
    );
    assert!(
        !first.is_finished(),
        "the first run ended early: {:?}",
        first.join()
    );

    let infra = fleet(k);
    let mut second = orch(&u, &infra, sim.clone());
    assert!(!rt().block_on(second.initiate_system()));
    let f = &second.failures()[0];
    assert_eq!(f.kind, FailureKind::State, "{f:?}");
    let lease = current_lease(&u, &target()).unwrap().unwrap();
    for says in [
        "is in use".to_owned(),
        format!("pid {}", std::process::id()),
        format!("force-unlock {}", lease.lease_id),
        lease.holder.clone(),
    ] {
        assert!(f.error.contains(&says), "`{says}` not in: {}", f.error);
    }

    // Reading needs no lease: status, plan and report work while the first run writes.
    let mut reader = orch(&u, &infra, sim.clone());
    let st = reader.state().unwrap();
    assert!(
        st.iter().count() >= 1,
        "the first run's records are visible"
    );
    let plan = reader.plan().unwrap();
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    // This model has no namespace: the report restores its outputs from the state, unlocked.
    assert!(reader.report().is_none());
    assert!(plan.has_changes(), "the first run is not done yet");
    assert!(
        lease_live(&u) && !first.is_finished(),
        "the reads ran while the first run held the state"
    );

    let (ok, why) = first.join().unwrap();
    assert!(ok, "{why}");
    for p in paths(k) {
        assert_eq!(sim.creates(&p), 1, "{p}");
    }
}

#[test]
fn with_a_lock_timeout_the_second_run_waits_for_the_first_and_creates_nothing_twice() {
    let u = url("waiter", "");
    let sim = Arc::new(SimProxy::default().latency(Duration::from_millis(40)));
    let first = {
        let (u, sim) = (u.clone(), sim.clone());
        std::thread::spawn(move || {
            let infra = fleet(8);
            let mut o = orch(&u, &infra, sim).max_concurrency(1);
            let ok = rt().block_on(o.initiate_system());
            (ok, failures(&o))
        })
    };
    wait_until(Duration::from_secs(30), "the first run's lease", || {
        lease_live(&u)
    });
    let infra = fleet(8);
    let mut second = orch(&format!("{u}&lock_timeout=60s"), &infra, sim.clone());
    assert!(
        rt().block_on(second.initiate_system()),
        "{}",
        failures(&second)
    );
    drop(second);
    let (ok, why) = first.join().unwrap();
    assert!(ok, "{why}");
    for p in paths(8) {
        assert_eq!(sim.creates(&p), 1, "{p} created once, by the first run");
    }
    let log = psql(&format!(
        "SELECT string_agg(event, ',' ORDER BY id) FROM {}.lease_log",
        schema_of(&u)
    ));
    assert_eq!(log, "acquired,released,acquired,released");
}

// ------------------------------------------------------------------------------------------------
// Child processes: a run that is killed or stopped

/// Not a test: the process the kill tests start (this binary again, asked for this function
/// alone with `--ignored`), SIGKILL and start again.
#[test]
#[ignore = "the kill tests run it as their child process"]
fn child_process_entry() {
    let mode = std::env::var("ACTUATOR_PG_CHILD")
        .expect("child_process_entry is the kill tests' child process; run them instead");
    actuator_postgres::register();
    let url = std::env::var("ACTUATOR_PG_URL").unwrap();
    match mode.as_str() {
        "up" => {
            let k: usize = std::env::var("ACTUATOR_PG_K").unwrap().parse().unwrap();
            let ms: u64 = std::env::var("ACTUATOR_PG_LATENCY_MS")
                .unwrap()
                .parse()
                .unwrap();
            let cloud = DirCloud::new(
                Path::new(&std::env::var("ACTUATOR_PG_CLOUD").unwrap()),
                Duration::from_millis(ms),
            );
            let infra = fleet(k);
            let mut o = orch(&url, &infra, Arc::new(cloud)).max_concurrency(2);
            let ok = rt().block_on(o.initiate_system());
            assert!(ok, "child up failed: {}", failures(&o));
        }
        "append" => append_child(&url),
        "read" => {
            let st = PgStore::read(&url, &target()).unwrap();
            println!("entries {}", st.len());
        }
        // The command line with no `--state`: the state is wherever ACTUATOR_STATE_URL says.
        "cli" => {
            let argv = std::env::var("ACTUATOR_PG_ARGV").unwrap();
            let infra = fleet(3);
            let o = ActuatorOrchestration::new("fleet")
                .infra(&infra)
                .proxy(Arc::new(SimProxy::default()));
            let argv: Vec<&str> = argv.split_whitespace().collect();
            println!("exit {}", cli(o, &argv));
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(mode: &str, url: &str, env: &[(&str, String)]) -> Child {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "child_process_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("ACTUATOR_PG_CHILD", mode)
    .env("ACTUATOR_PG_URL", url)
    // Only what a test gives it: not the PG* variables of whoever runs the tests.
    .env_remove("PGPASSWORD")
    .env_remove("PGPASSFILE")
    .env("HOME", "/nonexistent")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    for (k, v) in env {
        c.env(k, v);
    }
    c.spawn().unwrap()
}

fn up_child(url: &str, cloud: &Path, k: usize, latency_ms: u64) -> Child {
    child(
        "up",
        url,
        &[
            ("ACTUATOR_PG_CLOUD", cloud.display().to_string()),
            ("ACTUATOR_PG_K", k.to_string()),
            ("ACTUATOR_PG_LATENCY_MS", latency_ms.to_string()),
        ],
    )
}

fn output(mut c: Child) -> (bool, String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    c.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (c.wait().unwrap().success(), out, err)
}

fn signal(c: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &c.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

#[test]
fn a_killed_holder_s_lease_expires_and_the_next_run_resumes_creating_each_resource_once() {
    let u = url("killed", "lease_ttl=5s");
    let dir = tempfile::tempdir().unwrap();
    let cloud = DirCloud::new(dir.path(), Duration::ZERO);
    let k = 12;
    let mut holder = up_child(&u, dir.path(), k, 150);
    wait_until(
        Duration::from_secs(60),
        "the child's first resources",
        || cloud.live().len() >= 3,
    );
    let pid = holder.id();
    holder.kill().unwrap(); // SIGKILL: no release, no goodbye
    holder.wait().unwrap();
    let made = cloud.live().len();
    assert!(made < k + 1, "killed mid-way: {made} of {}", k + 1);

    // Right away the lease is still the dead run's: a run that does not wait is told whose.
    let infra = fleet(k);
    let dead = current_lease(&u, &target()).unwrap().unwrap();
    assert_eq!(dead.pid as u32, pid);
    if dead.live && dead.expires_in > 1.0 {
        let err = PgStore::open(&u, &target()).unwrap_err().to_string();
        assert!(err.contains(&format!("pid {pid}")), "{err}");
    }

    // One that waits takes the lease over once it has expired, and finishes the job.
    let mut next = orch(
        &format!("{u}&lock_timeout=30s"),
        &infra,
        Arc::new(DirCloud::new(dir.path(), Duration::ZERO)),
    );
    assert!(rt().block_on(next.initiate_system()), "{}", failures(&next));
    let creates = cloud.creates();
    assert_eq!(creates.len(), k + 1, "{creates:?}");
    assert!(creates.values().all(|&n| n == 1), "a twin: {creates:?}");
    let took = psql(&format!(
        "SELECT detail FROM {}.lease_log WHERE event = 'acquired' ORDER BY id DESC LIMIT 1",
        schema_of(&u)
    ));
    assert!(
        took.contains(&dead.lease_id) && took.contains("ended"),
        "taken over from the dead run: {took}"
    );
    assert!(rt().block_on(next.teardown_system()), "{}", failures(&next));
    assert!(cloud.live().is_empty());
}

#[test]
fn a_paused_holder_that_wakes_after_a_take_over_cannot_write() {
    let u = url("paused", "lease_ttl=2s");
    let s = schema_of(&u).to_owned();
    let dir = tempfile::tempdir().unwrap();
    let cloud = DirCloud::new(dir.path(), Duration::ZERO);
    let k = 10;
    let paused = up_child(&u, dir.path(), k, 300);
    wait_until(
        Duration::from_secs(60),
        "the child's first resource",
        || !cloud.live().is_empty(),
    );
    signal(&paused, "-STOP");
    let old = current_lease(&u, &target()).unwrap().unwrap();
    wait_until(
        Duration::from_secs(30),
        "the paused run's lease to expire",
        || !lease_live(&u),
    );

    // Another run takes over and converges.
    let infra = fleet(k);
    let mut next = orch(
        &u,
        &infra,
        Arc::new(DirCloud::new(dir.path(), Duration::ZERO)),
    );
    assert!(rt().block_on(next.initiate_system()), "{}", failures(&next));
    let rows_then = psql(&format!(
        "SELECT count(*) || '/' || coalesce(max(seq), 0) FROM {s}.journal"
    ));
    let state_then = next.state().unwrap();
    drop(next);

    // The paused run wakes: its calls in flight finish, but nothing it writes lands.
    signal(&paused, "-CONT");
    let (ok, _, err) = output(paused);
    assert!(!ok, "the fenced run must fail");
    assert!(err.contains("lease lost"), "{err}");
    assert_eq!(
        psql(&format!(
            "SELECT count(*) || '/' || coalesce(max(seq), 0) FROM {s}.journal"
        )),
        rows_then,
        "the fenced run wrote nothing"
    );
    let under_old = psql(&format!(
        "SELECT count(*) FROM {s}.journal WHERE lease_token = {} AND seq > {}",
        old.token,
        state_then.last_seq()
    ));
    assert_eq!(
        under_old, "0",
        "no record under the old token after the take-over"
    );
    let state_now = PgStore::read(&u, &target()).unwrap();
    assert_eq!(state_now, state_then);
    let creates = cloud.creates();
    assert_eq!(creates.len(), k + 1, "{creates:?}");
    assert!(creates.values().all(|&n| n == 1), "a twin: {creates:?}");
}

// ------------------------------------------------------------------------------------------------
// Concurrent appends from several processes

/// A child of the property test: for each of its rounds, takes the lease (waiting), appends a
/// batch of intents with keys naming the process, round and index, maybe compacts, and says on
/// stdout which records were acknowledged (`ack KEY`) and which failed (`nack KEY`).
fn append_child(url: &str) {
    let me: usize = std::env::var("ACTUATOR_PG_PROC").unwrap().parse().unwrap();
    let plan: Vec<(usize, bool)> =
        serde_json::from_str(&std::env::var("ACTUATOR_PG_PLAN").unwrap()).unwrap();
    for (round, (size, compact)) in plan.into_iter().enumerate() {
        let store = PgStore::open(url, &target()).expect("the lease, within lock_timeout");
        let mut j = Journal::open(store).unwrap();
        let keys: Vec<String> = (0..size).map(|i| format!("p{me}.r{round}.{i}")).collect();
        let written = j.batch(|j| {
            keys.iter()
                .map(|k| j.intent(k.as_str(), "test.Record", json!({ "by": me })))
                .collect::<Result<Vec<_>, _>>()
        });
        let ok = matches!(written, Ok(Ok(_)));
        for k in &keys {
            println!("{} {k}", if ok { "ack" } else { "nack" });
        }
        if compact && ok {
            let _ = j.compact();
        }
    }
}

fn run_appenders(plans: &[Vec<(usize, bool)>], steals: usize) {
    let u = url(
        "appenders",
        "lease_ttl=3s&lock_timeout=120s&compact_after=40",
    );
    let children: Vec<Child> = plans
        .iter()
        .enumerate()
        .map(|(i, plan)| {
            child(
                "append",
                &u,
                &[
                    ("ACTUATOR_PG_PROC", i.to_string()),
                    ("ACTUATOR_PG_PLAN", serde_json::to_string(plan).unwrap()),
                ],
            )
        })
        .collect();
    // Force some holders out mid-run: their next write must fail, and lose nothing else.
    let mut stolen = 0;
    let t = Instant::now();
    while stolen < steals && t.elapsed() < Duration::from_secs(20) {
        if let Ok(Some(l)) = current_lease(&u, &target())
            && l.live
            && actuator_postgres::force_unlock(&u, &target(), &l.lease_id).is_ok()
        {
            stolen += 1;
        }
        std::thread::sleep(Duration::from_millis(15));
    }
    let (mut acked, mut nacked) = (BTreeSet::new(), BTreeSet::new());
    for c in children {
        let (ok, out, err) = output(c);
        assert!(ok, "appender failed: {err}");
        // The test harness may print its own words before ours on a line.
        for line in out.lines() {
            let mut words = line.split_whitespace().rev();
            match (words.next(), words.next()) {
                (Some(k), Some("ack")) => assert!(acked.insert(k.to_owned()), "acked twice: {k}"),
                (Some(k), Some("nack")) => {
                    nacked.insert(k.to_owned());
                }
                _ => {}
            }
        }
    }
    let total: usize = plans.iter().flatten().map(|(n, _)| n).sum();
    assert_eq!(acked.len() + nacked.len(), total);
    let state = PgStore::read(&u, &target()).unwrap();
    let keys: BTreeSet<String> = state.iter().map(|e| e.key.to_string()).collect();
    // Every acknowledged record is there, nothing else; and each exactly once: the sequence
    // has no holes (the read checks) and counts exactly the acknowledged records.
    assert_eq!(keys, acked, "lost or phantom records");
    assert_eq!(state.last_seq() as usize, acked.len(), "a record doubled");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_appends_from_several_processes_lose_and_double_nothing(
        plans in prop::collection::vec(
            prop::collection::vec((1usize..60, any::<bool>()), 1..5),
            2..5,
        ),
        steals in 0usize..3,
    ) {
        run_appenders(&plans, steals);
    }
}

// ------------------------------------------------------------------------------------------------
// The server restarts during `up`

#[test]
fn a_server_restart_during_up_is_survived_or_fails_cleanly_and_the_next_up_converges() {
    let server = Cluster::start("pgrestart");
    for (retry, tag) in [("retry_for=60s", "retried"), ("retry_for=0", "no_retry")] {
        let u = url_in(&server.url, tag, retry);
        let sim = Arc::new(SimProxy::default().latency(Duration::from_millis(40)));
        let k = 30;
        let run = {
            let (u, sim) = (u.clone(), sim.clone());
            std::thread::spawn(move || {
                let infra = fleet(k);
                let mut o = orch(&u, &infra, sim).max_concurrency(2);
                let ok = rt().block_on(o.initiate_system());
                (ok, o.failures().to_vec())
            })
        };
        wait_until(Duration::from_secs(30), "some resources", || {
            sim.live().len() >= 4
        });
        server.stop();
        std::thread::sleep(Duration::from_millis(300));
        server.restart();
        let (ok, fails) = run.join().unwrap();
        if !ok {
            // Cleanly: each failure says the state could not be written, nothing else broke.
            assert!(!fails.is_empty());
            for f in &fails {
                assert!(
                    f.error.contains("state") || f.kind == FailureKind::State,
                    "{f:?}"
                );
            }
        }
        if tag == "no_retry" {
            assert!(!ok, "without retries the restart fails the run");
        }
        let infra = fleet(k);
        let mut again = orch(&format!("{u}&lock_timeout=30s"), &infra, sim.clone());
        assert!(
            rt().block_on(again.initiate_system()),
            "{}",
            failures(&again)
        );
        for p in paths(k) {
            assert_eq!(
                sim.creates(&p),
                1,
                "{p} ({tag}; first run ok: {ok}, {fails:?})"
            );
        }
        assert_eq!(sim.live().len(), k + 1);
    }
}

// ------------------------------------------------------------------------------------------------
// Moving a state between stores

/// The command line `--state STATE ARGS…` in a child process (the `cli` child, a fleet of 3);
/// its standard output, after checking it succeeded.
fn cli_child(state: &str, args: &str) -> String {
    let (ok, out, err) = output(child(
        "cli",
        "unused",
        &[("ACTUATOR_PG_ARGV", format!("--state {state} {args}"))],
    ));
    assert!(
        ok && out.contains(&format!("exit {EXIT_OK}")),
        "{args}: {out}\n{err}"
    );
    out
}

fn cli(orch: ActuatorOrchestration, argv: &[&str]) -> u8 {
    let args = Cli::try_parse_from(std::iter::once("fleet").chain(argv.iter().copied())).unwrap();
    actuator::cli::run(args, orch)
}

#[test]
fn a_state_moved_from_files_to_postgres_and_back_loses_nothing() {
    let u = url("migrate", "");
    let tmp = tempfile::tempdir().unwrap();
    let (dir_a, dir_b) = (tmp.path().join("a"), tmp.path().join("b"));
    let snap = tmp.path().join("pulled.json");
    let sim = Arc::new(SimProxy::default());
    let infra = fleet(5);
    let file_orch = || {
        ActuatorOrchestration::new("fleet")
            .infra(&infra)
            .proxy(sim.clone())
    };
    let mut o = file_orch().state_dir(&dir_a);
    assert!(rt().block_on(o.initiate_system()), "{}", failures(&o));
    let original = o.state().unwrap();
    drop(o);

    // file → PostgreSQL through the command line: `state pull`, `state push`.
    let a = dir_a.to_str().unwrap();
    let f = snap.to_str().unwrap();
    assert_eq!(
        cli(file_orch(), &["--state", a, "state", "pull", f]),
        EXIT_OK
    );
    assert_eq!(
        cli(
            orch(&u, &infra, sim.clone()),
            &["--state", &u, "state", "push", f]
        ),
        EXIT_OK
    );
    let in_pg = PgStore::read(&u, &target()).unwrap();
    assert_eq!(in_pg, original);
    // `state list` / `state show` print the same from either store.
    let listed = |state: &str| {
        let out = cli_child(state, "state list");
        out.lines()
            .filter_map(|l| l.split_whitespace().last())
            .filter(|w| w.starts_with("Fleet."))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // In the order the entries were made (the run made them concurrently).
    let made: Vec<String> = original.iter().map(|e| e.key.to_string()).collect();
    assert_eq!(made.len(), paths(5).len());
    assert_eq!(listed(a), made);
    assert_eq!(listed(&u), made);
    let shown = |state: &str| {
        let out = cli_child(state, "state show Fleet.nodes.3");
        let json = &out[out.find('{').unwrap()..=out.rfind('}').unwrap()];
        serde_json::from_str::<serde_json::Value>(json).unwrap()
    };
    let node = shown(&u);
    assert_eq!(node, shown(a));
    assert_eq!(node["key"], "Fleet.nodes.3");
    assert_eq!(
        node["status"],
        json!(original.get("Fleet.nodes.3").unwrap().status)
    );
    let mut pg = orch(&u, &infra, sim.clone());
    assert_eq!(
        pg.state().unwrap().get("Fleet.nodes.3"),
        original.get("Fleet.nodes.3")
    );

    // The state works there: `up` finds everything made, `down` works from it later.
    assert!(rt().block_on(pg.initiate_system()), "{}", failures(&pg));
    for p in paths(5) {
        assert_eq!(sim.creates(&p), 1, "{p}");
    }
    let moved_on = pg.state().unwrap();
    drop(pg);
    assert!(moved_on.last_seq() > original.last_seq());
    // Pushing the older file over it would lose records: refused.
    let mut stale = orch(&u, &infra, sim.clone());
    let err = stale.push_state(&original, false).unwrap_err();
    assert!(
        matches!(
            err,
            OrchestrationError::State(actuator::state::Error::PushRefused { .. })
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer records"), "{err}");
    assert_eq!(PgStore::read(&u, &target()).unwrap(), moved_on);

    // PostgreSQL → file, through the API.
    let pulled = orch(&u, &infra, sim.clone()).pull_state().unwrap();
    file_orch()
        .state_dir(&dir_b)
        .push_state(&pulled, false)
        .unwrap();
    let mut back = file_orch().state_dir(&dir_b);
    assert_eq!(back.state().unwrap(), moved_on);
    assert!(rt().block_on(back.teardown_system()), "{}", failures(&back));
    assert!(sim.live().is_empty());
}

#[test]
fn actuator_state_url_selects_the_store_when_no_state_is_given() {
    let u = url("env", "");
    let (ok, out, err) = output(child(
        "cli",
        "unused",
        &[
            ("ACTUATOR_STATE_URL", u.clone()),
            ("ACTUATOR_PG_ARGV", "up".into()),
        ],
    ));
    assert!(
        ok && out.contains(&format!("exit {EXIT_OK}")),
        "{out}\n{err}"
    );
    let st = PgStore::read(&u, &target()).unwrap();
    for p in paths(3) {
        assert!(st.get(&p).is_some(), "{p} in the state the variable names");
    }
    // `status` reads it from there too.
    let (ok, out, err) = output(child(
        "cli",
        "unused",
        &[
            ("ACTUATOR_STATE_URL", u),
            ("ACTUATOR_PG_ARGV", "status".into()),
        ],
    ));
    assert!(
        ok && out.contains(&format!("exit {EXIT_OK}")),
        "{out}\n{err}"
    );
    assert!(out.contains("Fleet.nodes.2"), "{out}");
}

// ------------------------------------------------------------------------------------------------
// Leases by hand

#[test]
fn force_unlock_frees_the_state_at_once_and_fences_the_old_holder() {
    let u = url("force", "");
    let mut held = Journal::open(PgStore::open(&u, &target()).unwrap()).unwrap();
    held.set_meta("note", Some("before")).unwrap();
    let lease = held.store().lease_id().to_owned();

    let infra = fleet(1);
    let sim: Arc<SimProxy> = Arc::new(SimProxy::default());
    assert_ne!(
        cli(
            orch(&u, &infra, sim.clone()),
            &["--state", &u, "force-unlock", "no-such-lease"]
        ),
        EXIT_OK
    );
    assert_eq!(
        cli(
            orch(&u, &infra, sim.clone()),
            &["--state", &u, "force-unlock", &lease]
        ),
        EXIT_OK
    );

    // The next run takes the state at once; the old holder cannot write.
    let mut next = orch(&u, &infra, sim.clone());
    assert!(rt().block_on(next.initiate_system()), "{}", failures(&next));
    let err = held.set_meta("note", Some("after")).unwrap_err();
    assert!(
        matches!(err, actuator::state::Error::LeaseLost { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("lease lost"), "{err}");
    drop(next);
    let st = PgStore::read(&u, &target()).unwrap();
    assert_eq!(st.meta()["note"], "before");
    let log = psql(&format!(
        "SELECT string_agg(event, ',' ORDER BY id) FROM {}.lease_log",
        schema_of(&u)
    ));
    assert_eq!(log, "acquired,force-unlocked,acquired,released");
}

// ------------------------------------------------------------------------------------------------
// Schema, compaction, group commit

#[test]
fn migrations_are_versioned_applied_once_and_a_newer_schema_is_refused() {
    let u = url("migrations", "");
    let s = schema_of(&u).to_owned();
    drop(PgStore::open(&u, &target()).unwrap());
    drop(PgStore::open(&u, &Target::new("fleet", "staging")).unwrap());
    assert_eq!(
        psql(&format!(
            "SELECT string_agg(version::text, ',') FROM {s}.schema_migrations"
        )),
        actuator_postgres::schema_version().to_string()
    );
    // Many systems and workspaces, one schema.
    assert_eq!(psql(&format!("SELECT count(*) FROM {s}.states")), "2");

    let newer = url("newer", "");
    drop(PgStore::open(&newer, &target()).unwrap());
    psql(&format!(
        "INSERT INTO {}.schema_migrations (version, description) VALUES (999, 'from the future')",
        schema_of(&newer)
    ));
    // This process remembers it migrated the schema; another process does not.
    let (ok, out, err) = output(child("read", &newer, &[]));
    assert!(!ok, "{out}");
    assert!(err.contains("version 999, newer than this build"), "{err}");
}

#[test]
fn compaction_keeps_records_appended_after_the_state_it_was_made_from() {
    let u = url("compact", "compact_after=1000");
    let s = schema_of(&u).to_owned();
    let mut j = Journal::open(PgStore::open(&u, &target()).unwrap()).unwrap();
    for i in 0..4 {
        j.intent(format!("k{i}"), "test.Record", json!({ "i": i }))
            .unwrap();
    }
    let earlier = j.state().clone();
    j.intent("k4", "test.Record", json!({ "i": 4 })).unwrap();
    let early = j.state().clone();
    for i in 5..10 {
        j.intent(format!("k{i}"), "test.Record", json!({ "i": i }))
            .unwrap();
    }
    // A compaction from a state that lags (records 6..=10 are not in it) drops only what it
    // covers, and a snapshot never moves backwards.
    assert!(PgStore::open(&u, &target()).is_err(), "still held");
    let st = j.state().clone();
    drop(j);
    let mut store = PgStore::open(&u, &target()).unwrap();
    store.compact(&early).unwrap();
    store.compact(&earlier).unwrap();
    assert_eq!(store.load().unwrap(), st, "nothing lost");
    assert_eq!(psql(&format!("SELECT last_seq FROM {s}.snapshots")), "5");
    drop(store);
    // Automatic compaction: the journal stays short, the state whole.
    let store = PgStore::open(&format!("{u}&compact_after=5"), &target()).unwrap();
    let mut j = Journal::open(store).unwrap();
    for i in 10..60 {
        j.intent(format!("k{i}"), "test.Record", json!({})).unwrap();
    }
    let whole = j.state().clone();
    drop(j);
    let rows: usize = psql(&format!("SELECT count(*) FROM {s}.journal"))
        .parse()
        .unwrap();
    assert!(rows < 60, "{rows} journal rows: compaction never ran");
    assert_eq!(PgStore::read(&u, &target()).unwrap(), whole);
    assert_eq!(whole.len(), 60);
}

#[test]
fn group_commit_writes_a_batch_of_records_per_transaction() {
    let u = url("group", "compact_after=1000000");
    let s = schema_of(&u).to_owned();
    let sim = Arc::new(SimProxy::default());
    let k = 400;
    let infra = fleet(k);
    let mut o = orch(&u, &infra, sim).max_concurrency(50);
    assert!(rt().block_on(o.initiate_system()), "{}", failures(&o));
    drop(o);
    // Rows of one transaction share its start time.
    let (records, transactions): (usize, usize) = {
        let r = psql(&format!(
            "SELECT count(*) || ' ' || count(DISTINCT written_at) FROM {s}.journal"
        ));
        let (a, b) = r.split_once(' ').unwrap();
        (a.parse().unwrap(), b.parse().unwrap())
    };
    assert!(records >= 2 * (k + 1), "{records}");
    assert!(
        transactions < records / 2,
        "{transactions} transactions for {records} records"
    );
}

// ------------------------------------------------------------------------------------------------
// TLS

#[test]
fn tls_to_the_server_is_verified_against_the_ca_the_url_names() {
    let server = Cluster::start_tls("pgtls");
    let ca = server.ca.clone().expect("the cluster serves TLS");
    let u = url_in(
        &server.url,
        "tls",
        &format!("sslmode=verify-full&sslrootcert={ca}"),
    );
    let mut j = Journal::open(PgStore::open(&u, &target()).unwrap()).unwrap();
    j.set_meta("note", Some("over tls")).unwrap();
    // The store's connections are encrypted (the server says so).
    let encrypted = server.psql(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE s.ssl AND a.usename = 'actuator'",
    );
    assert_ne!(encrypted, "0", "no TLS connection");
    assert_eq!(
        server.psql(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                     WHERE NOT s.ssl AND a.usename = 'actuator'"
        ),
        "0",
        "a connection in clear"
    );
    drop(j);
    assert_eq!(
        PgStore::read(&u, &target()).unwrap().meta()["note"],
        "over tls"
    );

    // A certificate the client cannot trust (not signed by a CA it knows): refused, even with
    // sslmode=require.
    let untrusted = url_in(&server.url, "tls", "sslmode=require&retry_for=0");
    let err = PgStore::read(&untrusted, &target())
        .unwrap_err()
        .to_string();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

// ------------------------------------------------------------------------------------------------
// Credentials

#[test]
fn the_password_never_reaches_logs_events_errors_or_debug_output() {
    let base = actuator_tests::postgres::base_url();
    let password = base
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p.to_owned())
        .expect("the test URL carries a password");
    let logs = actuator_tests::logs::Sink::default();
    let sink = logs.clone();
    // Everything every thread logs from here on, at the most verbose level.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .try_init();

    let u = url("secrets", "");
    let events = Arc::new(Collect::default());
    let infra = fleet(3);
    let sim = Arc::new(SimProxy::default().latency(Duration::from_millis(200)));
    let mut o = orch(&u, &infra, sim.clone()).handler(events.clone());
    let mut seen = Vec::new();
    assert!(rt().block_on(o.initiate_system()), "{}", failures(&o));
    seen.push(format!("{:?}", o.state_location()));
    seen.push(format!("{:?}", o.state().unwrap()));
    seen.push(format!("{:?}", events.events()));
    drop(o);
    // Errors: a held lease, a wrong password, a server that is not there.
    let held = PgStore::open(&u, &target()).unwrap();
    seen.push(format!("{held:?}"));
    let mut second = orch(&u, &infra, sim.clone()).handler(events.clone());
    assert!(!rt().block_on(second.initiate_system()));
    seen.push(failures(&second));
    drop(held);
    let wrong = u.replacen(&password, "not-the-password", 1);
    seen.push(PgStore::open(&wrong, &target()).unwrap_err().to_string());
    let closed = u.replacen("127.0.0.1:", "127.0.0.1:1", 1);
    let closed = format!("{closed}&retry_for=1s");
    seen.push(PgStore::read(&closed, &target()).unwrap_err().to_string());
    seen.push(format!(
        "{:?}",
        actuator_postgres::Settings::parse(&u).unwrap()
    ));
    seen.push(format!("{:?}", events.events()));

    seen.push(logs.text());
    let all = seen.join("\n");
    assert!(
        all.contains("password authentication failed"),
        "the wrong password was tried"
    );
    assert!(!all.contains(&password), "the password leaked:\n{all}");
}

#[test]
fn credentials_come_from_the_pg_variables_or_the_password_file() {
    let base = actuator_tests::postgres::base_url();
    let u = url("credentials", "");
    drop(PgStore::open(&u, &target()).unwrap());
    // user:password@host:port/db
    let rest = base.split_once("://").unwrap().1;
    let (userinfo, hostdb) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    let (hostport, db) = hostdb.split_once('/').unwrap();
    let (host, port) = hostport.split_once(':').unwrap();
    let schema = schema_of(&u);

    // The PG* variables alone (a child: the variables are its own).
    let (ok, out, err) = output(child(
        "read",
        &format!("postgres://?schema={schema}"),
        &[
            ("PGHOST", host.to_owned()),
            ("PGPORT", port.to_owned()),
            ("PGUSER", user.to_owned()),
            ("PGPASSWORD", password.to_owned()),
            ("PGDATABASE", db.to_owned()),
        ],
    ));
    assert!(ok, "{err}");
    assert!(out.contains("entries 0"), "{out}");

    // A password file (0600), named in the URL; without one, the server says no.
    let tmp = tempfile::tempdir().unwrap();
    let pass = tmp.path().join("pgpass");
    std::fs::write(&pass, format!("{host}:{port}:{db}:{user}:{password}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let by_file = format!("postgres://{user}@{hostport}/{db}?schema={schema}");
    let with_file = format!("{by_file}&passfile={}", pass.display());
    let (ok, out, err) = output(child("read", &with_file, &[]));
    assert!(ok && out.contains("entries 0"), "{out} {err}");
    let (ok, _, err) = output(child("read", &by_file, &[]));
    assert!(!ok, "no password anywhere, yet it connected");
    assert!(err.contains("password"), "{err}");
    assert!(!err.contains(password), "{err}");
}
