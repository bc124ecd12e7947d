//! What a run reports, on the simulated cloud and the local agent: the event stream as a
//! protocol (every line of real `up` / `down` / `refresh` runs, with a retry, a failure and a
//! skip, valid against `docs/events.schema.json`, and its counts those of the run's summary),
//! task output (live events, the per-run log, a failed task's tail), outputs read back from the
//! state in a new orchestration, and inputs (`var`, var files, environment) with a missing one
//! refused before anything runs.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actuator::engine::RetryPolicy;
use actuator::events::{
    Collect, Event, EventHandler, Fanout, JsonLines, Outcome, Phase, RunStatus, RunSummary,
};
use actuator::exec::Stream;
use actuator::infra::test::{FloatingIp, Network, Server};
use actuator::orchestrate::inputs::{from_env_vars, read_var_file};
use actuator::orchestrate::{ActuatorOrchestration, FailureKind, Options};
use actuator::prelude::*;
use actuator::provision::SimProxy;
use serde_json::Value;

#[derive(InfraModel)]
struct Site {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    #[component(FloatingIp::new("fip", ctx.model.web, ctx.model.web.ip))]
    fip: FloatingIp,
}

namespace! {
    struct SiteNs for Site {
        extern { DIR, GREETING }
        vars { PUBLIC = infra.fip.ip, URL = "http://!{PUBLIC}:8080/", MESSAGE = "hello !{GREETING}" }
        web: Role = Role::new("web").host_ref(infra.web),
    }
}

config! {
    struct SiteCfg for SiteNs {
        defaults { role = ns.web }
        hello: Task = ShellTask::new("hello", r#"echo "$MESSAGE"; echo to-stderr >&2"#),
        flaky: Task = ShellTask::new(
            "flaky",
            r#"echo trying; for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22; do echo "line $i"; done
               if [ -e "$DIR/fail" ]; then echo 'it failed' >&2; exit 3; fi"#),
        after: Task = ShellTask::new("after", r#"echo after > "$DIR/after""#),
        deps { hello | flaky | after }
    }
}

/// A `Write` whose bytes the test reads afterwards.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn fast() -> Options {
    Options {
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            deadline: None,
            jitter: actuator::engine::Jitter::None,
        },
        ..Options::default()
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    state: PathBuf,
    sim: Arc<SimProxy>,
    json: Shared,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("work");
        std::fs::create_dir_all(&dir).unwrap();
        Fixture {
            state: tmp.path().join("state"),
            dir,
            _tmp: tmp,
            sim: Arc::new(SimProxy::default()),
            json: Shared::default(),
        }
    }

    /// A fresh model and orchestration on the same state, events to JSON lines and `extra`.
    fn orch(&self, extra: Arc<dyn EventHandler>) -> ActuatorOrchestration {
        let infra = Site::instance("site");
        let ns = SiteNs::instance("ns", &infra);
        let cfg = SiteCfg::instance("cfg", &ns);
        ActuatorOrchestration::new("report")
            .infra(&infra)
            .namespace(&ns)
            .config(&cfg)
            .proxy(self.sim.clone())
            .handler(Arc::new(Fanout(vec![
                Arc::new(JsonLines::new(self.json.clone())),
                extra,
            ])))
            .options(fast())
            .state_dir(&self.state)
            .var("DIR", self.dir.display().to_string())
            .var("GREETING", "world")
            .output("public_ip", infra.root().fip.ip)
            .output_var("URL")
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[path = "support/json.rs"]
#[allow(dead_code)] // each test binary uses its own part of it
mod json;

/// The counts of a run's summary, recomputed from the run's other lines as a consumer would.
fn counted(lines: &[&Value]) -> BTreeMap<&'static str, u64> {
    let mut c: BTreeMap<&'static str, u64> = BTreeMap::new();
    for k in [
        "created",
        "updated",
        "replaced",
        "destroyed",
        "read",
        "tasks_run",
        "tasks_skipped",
        "blocked",
        "failed",
        "retries",
        "not_started",
    ] {
        c.insert(k, 0);
    }
    for l in lines {
        let key = match (l["event"].as_str().unwrap(), l["outcome"].as_str()) {
            ("task_finished", Some("created")) => "created",
            ("task_finished", Some("updated")) => "updated",
            ("task_finished", Some("replaced")) => "replaced",
            ("task_finished", Some("destroyed")) => "destroyed",
            ("task_finished", Some("read")) => "read",
            ("task_finished", Some("ran")) => "tasks_run",
            ("task_finished", Some("skipped_by_check")) | ("task_unchanged", _) => "tasks_skipped",
            ("task_skipped", _) => "blocked",
            ("task_failed", _) => "failed",
            ("task_retry", _) => "retries",
            ("engine_finished", _) => {
                *c.get_mut("not_started").unwrap() += l["not_started"].as_u64().unwrap();
                continue;
            }
            _ => continue,
        };
        *c.get_mut(key).unwrap() += 1;
    }
    c
}

fn summary_counts(s: &Value) -> BTreeMap<&'static str, u64> {
    counted(&[])
        .into_keys()
        .map(|k| (k, s[k].as_u64().unwrap()))
        .collect()
}

#[test]
fn the_event_stream_of_whole_runs_matches_the_schema_and_the_summaries() {
    let f = Fixture::new();
    std::fs::write(f.dir.join("fail"), "").unwrap();
    f.sim.fail_create("Site.net", 1, true);
    let mut summaries: Vec<RunSummary> = Vec::new();

    // 1: a retried create, a failed task, the task after it not attempted.
    let mut o = f.orch(Arc::new(Collect::default()));
    assert!(!rt().block_on(o.initiate_system()));
    summaries.push(o.summary());
    let s = o.summary();
    assert_eq!(
        (s.created, s.retries, s.tasks_run, s.failed, s.blocked),
        (3, 1, 1, 1, 1),
        "{s:?}"
    );
    assert_eq!((s.status, s.success), (RunStatus::AbortConfig, false));
    drop(o); // (releases the state's lock)

    // 2: fixed; the task that ran before is unchanged, the rest runs.
    std::fs::remove_file(f.dir.join("fail")).unwrap();
    let mut o = f.orch(Arc::new(Collect::default()));
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    summaries.push(o.summary());
    let s = o.summary();
    assert_eq!(
        (s.created, s.read, s.tasks_run, s.tasks_skipped, s.failed),
        (0, 3, 2, 1, 0),
        "{s:?}"
    );
    drop(o);

    // 3: a refresh, 4: down.
    let mut o = f.orch(Arc::new(Collect::default()));
    assert!(rt().block_on(o.refresh()));
    summaries.push(o.summary());
    assert!(rt().block_on(o.teardown_system()));
    summaries.push(o.summary());
    assert_eq!(o.summary().destroyed, 3);
    assert!(f.sim.live().is_empty());

    let lines = f.json.lines();
    let validator = json::events_schema();
    for l in &lines {
        json::check(&validator, l);
    }
    // The schema is exact: an undocumented field or kind does not pass.
    let mut forged = lines[0].clone();
    forged["surprise"] = Value::from(1);
    assert!(!validator.is_valid(&forged));
    let mut forged = lines[0].clone();
    forged["event"] = Value::from("task_vanished");
    assert!(!validator.is_valid(&forged));
    // Every kind a run can emit appeared (and so was checked against its definition).
    let kinds: std::collections::BTreeSet<&str> =
        lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    for kind in [
        "orchestration_starting",
        "orchestration_finished",
        "plan_summary",
        "provisioning_starting",
        "provisioning_finished",
        "configuration_starting",
        "configuration_finished",
        "teardown_starting",
        "teardown_finished",
        "engine_starting",
        "engine_finished",
        "task_starting",
        "task_finished",
        "task_unchanged",
        "task_output",
        "task_retry",
        "task_failed",
        "task_skipped",
        "outputs",
        "summary",
    ] {
        assert!(kinds.contains(kind), "no `{kind}` in {kinds:?}");
    }
    // Per run: one id, the summary last, its counts those of the events before it and those
    // of `summary()`.
    let mut runs: Vec<&str> = Vec::new();
    let mut by_run: HashMap<&str, Vec<&Value>> = HashMap::new();
    for l in &lines {
        let id = l["run"].as_str().unwrap();
        if !runs.contains(&id) {
            runs.push(id);
        }
        by_run.entry(id).or_default().push(l);
    }
    assert_eq!(runs.len(), 4, "{runs:?}");
    for (id, s) in runs.iter().zip(&summaries) {
        let run = &by_run[id];
        assert_eq!(run[0]["event"], "orchestration_starting");
        let last = run.last().unwrap();
        assert_eq!(last["event"], "summary");
        assert_eq!(run[run.len() - 2]["event"], "orchestration_finished");
        assert_eq!(counted(&run[..run.len() - 1]), summary_counts(last), "{id}");
        let api = serde_json::to_value(s).unwrap();
        assert_eq!(summary_counts(&api), summary_counts(last), "{id}");
        assert_eq!(api["failures"], last["failures"]);
    }
    // Timestamps never go backwards within a run.
    for run in by_run.values() {
        let ts: Vec<&str> = run.iter().map(|l| l["ts"].as_str().unwrap()).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "{ts:?}");
    }
}

#[test]
fn task_output_streams_as_events_goes_to_the_run_log_and_a_failure_keeps_its_tail() {
    use std::os::unix::fs::PermissionsExt;
    let f = Fixture::new();
    std::fs::write(f.dir.join("fail"), "").unwrap();
    let ev = Arc::new(Collect::default());
    let mut o = f.orch(ev.clone());
    assert!(!rt().block_on(o.initiate_system()));

    let out: Vec<(String, String, Stream, String)> = ev
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskOutput {
                task,
                host,
                stream,
                line,
            } => Some((task.to_string(), host, stream, line)),
            _ => None,
        })
        .collect();
    let ip = o.outputs().unwrap().roles[0].address.clone().unwrap();
    assert!(out.contains(&(
        "hello".into(),
        ip.clone(),
        Stream::Stdout,
        "hello world".into()
    )));
    assert!(out.contains(&(
        "hello".into(),
        ip.clone(),
        Stream::Stderr,
        "to-stderr".into()
    )));

    // The failure: its output's last lines, on the event, the failure and the summary.
    let tail_of = |lines: &[actuator::events::OutputLine]| -> Vec<String> {
        lines.iter().map(|l| l.line.clone()).collect()
    };
    let failure = o
        .failures()
        .iter()
        .find(|f| f.task == "flaky")
        .unwrap()
        .clone();
    assert_eq!(failure.kind, FailureKind::Run);
    let tail = tail_of(&failure.output);
    assert_eq!(tail.len(), actuator::orchestrate::TAIL_LINES);
    assert_eq!(tail.last().unwrap(), "it failed");
    assert_eq!(failure.output.last().unwrap().stream, Stream::Stderr);
    assert_eq!(tail[0], "line 4", "the first lines are cut: {tail:?}");
    let on_event = ev.events().into_iter().find_map(|e| match e {
        Event::TaskFailed { task, output, .. } if &*task == "flaky" => Some(output),
        _ => None,
    });
    assert_eq!(on_event.as_deref().map(tail_of), Some(tail.clone()));
    assert_eq!(o.summary().failures[0].output, failure.output);

    // The run's log: every line, prefixed by task and host, private.
    let log = o.run_log().expect("a log was written");
    assert_eq!(
        log,
        f.state
            .join("runs")
            .join(format!("{}.log", o.run_id().unwrap()))
    );
    assert_eq!(o.summary().log.as_ref(), Some(&log));
    assert_eq!(
        std::fs::metadata(&log).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&log).unwrap();
    for want in [
        format!("hello@{ip} stdout| hello world"),
        format!("hello@{ip} stderr| to-stderr"),
        format!("flaky@{ip} stdout| line 22"),
        format!("flaky@{ip} stderr| it failed"),
        format!("flaky@{ip} ── failed: task `flaky` failed with exit status 3: it failed"),
    ] {
        assert!(text.contains(&want), "no {want:?} in\n{text}");
    }

    // A later run writes its own log.
    drop(o);
    std::fs::remove_file(f.dir.join("fail")).unwrap();
    let mut o = f.orch(Arc::new(Collect::default()));
    assert!(rt().block_on(o.initiate_system()));
    let second = o.run_log().unwrap();
    assert_ne!(second, log);
    assert!(std::fs::read_to_string(&second).unwrap().contains("flaky@"));
    assert!(log.exists());
}

/// Touches a file when a task's first line arrives: the task waits for it, so it can only
/// finish if its output is seen while it runs.
struct Answer(PathBuf);

impl EventHandler for Answer {
    fn event(&self, e: &Event) {
        if let Event::TaskOutput { line, .. } = e
            && line == "waiting for an answer"
        {
            std::fs::write(&self.0, "").unwrap();
        }
    }
}

namespace! {
    struct Local {
        extern { DIR }
        here: Role = Role::new("here").host_ref("127.0.0.1"),
    }
}

config! {
    struct Live for Local {
        defaults { role = ns.here }
        wait: Task = ShellTask::new(
            "wait",
            r#"echo 'waiting for an answer'; i=0; while [ ! -e "$DIR/answer" ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; echo answered"#),
    }
}

#[test]
fn output_reaches_the_events_while_the_task_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ns = Local::instance("l");
    let cfg = Live::instance("c", &ns);
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("live")
        .namespace(&ns)
        .config(&cfg)
        .var("DIR", tmp.path().display().to_string())
        .handler(Arc::new(Fanout(vec![
            Arc::new(Answer(tmp.path().join("answer"))),
            ev.clone(),
        ])))
        .memory_state();
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    let order: Vec<String> = ev
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskOutput { line, .. } => Some(line),
            Event::TaskFinished { outcome, .. } => Some(format!("{outcome:?}")),
            _ => None,
        })
        .collect();
    assert_eq!(order, ["waiting for an answer", "answered", "Ran"]);
    // A state in memory keeps no log.
    assert!(o.run_log().is_none());
}

#[test]
fn outputs_are_read_back_from_the_state_by_a_new_orchestration() {
    let f = Fixture::new();
    let ev = Arc::new(Collect::default());
    let mut o = f.orch(ev.clone());
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    let out = o.outputs().unwrap();
    let public = out.outputs["public_ip"].value.clone().unwrap();
    assert!(public.starts_with("127.0."), "{public}");
    assert_eq!(
        out.outputs["URL"].value.as_deref(),
        Some(format!("http://{public}:8080/").as_str())
    );
    assert!(!out.outputs["URL"].sensitive);
    assert_eq!(out.roles.len(), 1);
    assert_eq!(out.roles[0].role, "SiteNs.web");
    assert_eq!(out.roles[0].host.as_deref(), Some("Site.web"));
    // The `up` reported the same at its end.
    let reported = ev.events().into_iter().find_map(|e| match e {
        Event::Outputs(o) => Some(o),
        _ => None,
    });
    assert_eq!(reported.as_ref(), Some(&out));
    let text = out.to_string();
    assert!(text.contains("SiteNs.web") && text.contains(&format!("public_ip = \"{public}\"")));
    drop(o);

    // A new process: new model instances, nothing provisioned in them, the same state.
    let mut fresh = f.orch(Arc::new(Collect::default()));
    assert_eq!(fresh.outputs().unwrap(), out);
    assert_eq!(f.sim.creates("Site.web"), 1);

    // Before anything was provisioned, values are missing and say why.
    let g = Fixture::new();
    let out = g.orch(Arc::new(Collect::default())).outputs().unwrap();
    assert_eq!(out.outputs["public_ip"].value, None);
    assert!(
        out.outputs["public_ip"]
            .missing
            .as_deref()
            .unwrap()
            .contains("Site.fip"),
        "{out:?}"
    );
    assert_eq!(out.roles[0].address, None);
}

#[test]
fn a_missing_input_is_refused_before_anything_runs_and_inputs_reach_the_tasks() {
    let f = Fixture::new();
    let infra = Site::instance("site");
    let ns = SiteNs::instance("ns", &infra);
    let cfg = SiteCfg::instance("cfg", &ns);
    let mut o = ActuatorOrchestration::new("inputs")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .proxy(f.sim.clone())
        .state_dir(&f.state)
        .var("DIR", f.dir.display().to_string());
    // `GREETING` is extern and given by nothing: the plan says so and `up` creates nothing.
    let plan = o.plan().unwrap();
    assert!(plan.has_errors());
    assert!(!rt().block_on(o.initiate_system()));
    assert!(f.sim.live().is_empty(), "nothing was provisioned");
    assert_eq!(o.status(), RunStatus::AbortProvision);
    let failure = &o.failures()[0];
    assert_eq!(
        (failure.kind, failure.task.as_str()),
        (FailureKind::Model, "hello")
    );
    assert!(
        failure.error.contains("`GREETING`")
            && failure.error.contains("--var GREETING=")
            && failure.error.contains("ACTUATOR_VAR_GREETING"),
        "{}",
        failure.error
    );
    drop(o);

    // Given by a file, overridden by the environment form given later (the last one wins).
    let file = f.dir.join("vars.toml");
    std::fs::write(&file, "GREETING = \"from the file\"\n").unwrap();
    let env = from_env_vars([("ACTUATOR_VAR_GREETING", "from the environment")]);
    let infra = Site::instance("site");
    let ns = SiteNs::instance("ns", &infra);
    let cfg = SiteCfg::instance("cfg", &ns);
    let ev = Arc::new(Collect::default());
    let mut o = ActuatorOrchestration::new("inputs")
        .vars(read_var_file(&file).unwrap())
        .vars(env)
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .proxy(f.sim.clone())
        .handler(ev.clone())
        .state_dir(&f.state)
        .var("DIR", f.dir.display().to_string());
    assert!(rt().block_on(o.initiate_system()), "{:?}", o.failures());
    assert!(ev.events().iter().any(|e| matches!(
        e,
        Event::TaskOutput { task, line, .. } if &**task == "hello" && line == "hello from the environment"
    )));
    assert!(ev.events().iter().any(|e| matches!(
        e,
        Event::TaskFinished { phase: Phase::Configure, task, outcome: Outcome::Ran } if &**task == "after"
    )));
}

/// An agent that reports output only when a task ends (the trait's provided `run_streaming`), as
/// the SSH agent does: the same events, later; a failure's tail is its standard error tail.
struct AtTheEnd(actuator::exec::LocalAgent);

impl actuator::exec::ExecAgent for AtTheEnd {
    fn run(
        &self,
        task: actuator::exec::ExecTask,
    ) -> futures::future::BoxFuture<'_, Result<actuator::exec::ExecOutput, actuator::exec::ExecError>>
    {
        self.0.run(task)
    }
}

#[test]
fn an_agent_that_reports_output_at_the_end_gives_the_same_lines() {
    let f = Fixture::new();
    std::fs::write(f.dir.join("fail"), "").unwrap();
    let ev = Arc::new(Collect::default());
    let mut o = f
        .orch(ev.clone())
        .agent(Arc::new(AtTheEnd(actuator::exec::LocalAgent::new())));
    assert!(!rt().block_on(o.initiate_system()));
    let lines: Vec<(String, Stream, String)> = ev
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::TaskOutput {
                task, stream, line, ..
            } => Some((task.to_string(), stream, line)),
            _ => None,
        })
        .collect();
    assert!(lines.contains(&("hello".into(), Stream::Stdout, "hello world".into())));
    assert!(lines.contains(&("hello".into(), Stream::Stderr, "to-stderr".into())));
    let failure = o.failures().iter().find(|f| f.task == "flaky").unwrap();
    assert_eq!(
        failure.output,
        [actuator::events::OutputLine {
            stream: Stream::Stderr,
            line: "it failed".into()
        }]
    );
}
