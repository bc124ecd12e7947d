//! The orchestration's event stream: every event of the original (orchestration, provisioning,
//! configuration, engine, task starting / finished / retry / failed) plus teardown, skips, task
//! output, the plan a run applies, its outputs and its summary — each delivered exactly once, to
//! any number of handlers: `tracing` logs, JSON lines, a live terminal view (in `cli`), or your
//! own.
//!
//! # The stream as a protocol
//!
//! [`JsonLines`] (`--json`) writes one JSON object per event and line: the envelope
//! `{"schema": 1, "ts": "2025-05-01T10:15:02.123Z", "run": "<run id>", "event": "<kind>", …}`
//! followed by the event's own fields, documented on each [`Event`] variant and, for programs, in
//! the JSON Schema `docs/events.schema.json` of the repository (checked against real output by the
//! tests). `schema` is [`EVENT_SCHEMA`]: it changes when a field is removed or changes meaning;
//! new event kinds and new fields may appear without a change, so consumers ignore what they do
//! not know. `run` is one id per orchestration run (`up` — its refresh and plan included, with
//! `ActuatorOrchestration::up_with` — `down`, `refresh`), also the name of the run's task output
//! log (`<state>/runs/<run>.log`); every other command of the command line (`plan`, `status`,
//! `outputs`, `report`, `graph`, `import`, `state …`, `force-unlock`) writes exactly one event,
//! under an id of its own, whose body is what it shows. Secret values never appear in it.
//!
//! Every run ends with one [`Event::Summary`] (the command line writes no other) whose counts are
//! those of the events before it:
//! `created` is the number of `task_finished` events with outcome `created`, `failed` the number
//! of `task_failed` events, and so on (see [`RunSummary`]).
//!
//! ```
//! use actuator::events::{Event, EventHandler, JsonLines, Envelope};
//!
//! let out = JsonLines::new(Vec::new());
//! out.record(&Envelope::now("run-1", &Event::ProvisioningStarting));
//! let line = String::from_utf8(out.into_inner()).unwrap();
//! let v: serde_json::Value = serde_json::from_str(&line).unwrap();
//! assert_eq!(v["schema"], 1);
//! assert_eq!(v["run"], "run-1");
//! assert_eq!(v["event"], "provisioning_starting");
//! assert!(v["ts"].as_str().unwrap().ends_with('Z'));
//! ```

use parking_lot::Mutex;
use std::io::Write;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use serde::{Serialize, Serializer};

use crate::exec::Stream;
use crate::orchestrate::{Graph, Summary as PlanSummary, SystemOutputs};

/// Version of the event stream's JSON form (the `schema` field of every line); see
/// `docs/events.schema.json`.
pub const EVENT_SCHEMA: u32 = 1;

/// Which walk an engine or task event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Reading recorded resources from their clouds (drift).
    Refresh,
    /// Creating, changing and deleting infra resources as the plan says.
    Provision,
    /// Running config tasks.
    Configure,
    /// Deleting infra resources.
    Teardown,
}

/// Where an orchestration stands (the original's status codes, with teardown-complete reachable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Nothing has run.
    #[default]
    NotStarted,
    /// Provisioning.
    PerformingProvision,
    /// Configuring.
    PerformingConfig,
    /// Everything done.
    Complete,
    /// Provisioning failed (or was cancelled); `up` again resumes.
    AbortProvision,
    /// Configuration failed (or was cancelled); `up` again resumes.
    AbortConfig,
    /// Tearing down.
    PerformingDeprov,
    /// Teardown failed (or was cancelled); `down` again resumes.
    AbortDeprov,
    /// Everything that was created is gone.
    DeprovComplete,
}

/// Which command a run carries out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCommand {
    /// No run yet.
    #[default]
    None,
    /// Plan and apply (`up`).
    Up,
    /// Apply a saved plan.
    Apply,
    /// Delete everything the state records (`down`).
    Down,
    /// Read every recorded resource and record drift.
    Refresh,
}

/// What a finished resource or task step did (`task_finished`'s `outcome`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A resource was created.
    Created,
    /// A resource's arguments were changed in place.
    Updated,
    /// A resource's replacement was created (its old one is deleted by a `replaced_old` step,
    /// before or after).
    Replaced,
    /// The old resource of a replacement was deleted (part of a replacement, not a destroy).
    ReplacedOld,
    /// A resource was deleted.
    Destroyed,
    /// Nothing left to do: the resource was gone already (a resumed delete).
    Nothing,
    /// A resource was read from its cloud (refresh).
    Read,
    /// A config task ran and succeeded.
    Ran,
    /// A config task was skipped on its host by its own `creates` / `removes` check.
    SkippedByCheck,
}

/// One line of a task's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutputLine {
    /// Which stream.
    pub stream: Stream,
    /// The line, without its newline (invalid UTF-8 replaced, secrets redacted, cut at
    /// [`MAX_LINE`] bytes).
    pub line: String,
}

/// Longest output line an event carries; the rest of a longer line is cut off and replaced by
/// `…`.
pub const MAX_LINE: usize = 8 << 10;

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// A run (`up`, `down`, `refresh`) begins.
    OrchestrationStarting {
        /// The system name.
        system: String,
        /// The workspace.
        workspace: String,
        /// What the run does.
        command: RunCommand,
    },
    /// A run ends (followed only by its [`Event::Summary`]).
    OrchestrationFinished {
        /// The system name.
        system: String,
        /// Final status.
        status: RunStatus,
        /// Whether it succeeded.
        success: bool,
    },
    /// What the run is about to apply: the counts of its plan.
    PlanSummary(PlanSummary),
    /// The provisioning phase begins.
    ProvisioningStarting,
    /// The provisioning phase ends.
    ProvisioningFinished {
        /// Whether every resource was provisioned.
        success: bool,
    },
    /// The configuration phase begins.
    ConfigurationStarting,
    /// The configuration phase ends.
    ConfigurationFinished {
        /// Whether every task succeeded.
        success: bool,
    },
    /// The teardown phase begins.
    TeardownStarting,
    /// The teardown phase ends.
    TeardownFinished {
        /// Whether everything was deleted.
        success: bool,
    },
    /// An engine walk begins.
    EngineStarting {
        /// Which walk.
        phase: Phase,
        /// How many nodes it has to do (already-done nodes excluded).
        nodes: usize,
    },
    /// An engine walk ends.
    EngineFinished {
        /// Which walk.
        phase: Phase,
        /// Nodes done.
        succeeded: usize,
        /// Nodes failed.
        failed: usize,
        /// Nodes skipped because something they depend on failed.
        skipped: usize,
        /// Nodes not started (cancelled) or abandoned in flight (aborted).
        not_started: usize,
    },
    /// A resource or task attempt starts.
    TaskStarting {
        /// Which walk.
        phase: Phase,
        /// The resource's model path or the task's name: one shared string for all the walk's
        /// events about it (two or more per step), not a copy each.
        task: Arc<str>,
        /// Attempt number, from 1.
        attempt: u32,
        /// The host a config task runs on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        host: Option<String>,
    },
    /// A resource or task is done.
    TaskFinished {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: Arc<str>,
        /// What it did.
        outcome: Outcome,
    },
    /// A config task that ran before with the same inputs is not run again.
    TaskUnchanged {
        /// The task.
        task: Arc<str>,
    },
    /// A line of a running config task's output (the CLI's `-v` prints these).
    TaskOutput {
        /// The task.
        task: Arc<str>,
        /// The host it runs on.
        host: String,
        /// Which stream.
        stream: Stream,
        /// The line (see [`OutputLine::line`]).
        line: String,
    },
    /// An attempt failed and will be retried.
    TaskRetry {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: Arc<str>,
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        error: String,
        /// Wait before the next attempt, in milliseconds.
        delay_ms: u64,
    },
    /// A resource or task failed for good.
    TaskFailed {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: Arc<str>,
        /// Why.
        error: String,
        /// The last lines of a config task's output (both streams as they came).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        output: Vec<OutputLine>,
    },
    /// A resource or task was not attempted because one it depends on failed.
    TaskSkipped {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: Arc<str>,
        /// The failure that caused it.
        because: String,
    },
    /// The system's outputs after an `up`: each role's host and address and the outputs the
    /// model marks (`ActuatorOrchestration::output`).
    Outputs(SystemOutputs),
    /// The run's counts; the last event of every run.
    Summary(RunSummary),
    /// The graph of resources, roles and tasks (`graph --json`).
    Graph(Graph),
    /// What `import PATH ID` did (`import --json`).
    Import {
        /// The model path the resource was adopted as.
        path: String,
        /// The cloud's id of the resource.
        id: String,
        /// Whether the state now records it.
        success: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// The plan `plan --json` shows: the document `docs/plan.schema.json` describes (what
    /// `plan --out FILE` saves, less its options).
    Plan {
        /// The plan.
        plan: serde_json::Value,
    },
    /// What `plan --discover --json` found tagged for the system and workspace.
    Discovered {
        /// Each resource: `key`, `kind`, `state_id`, `this_state` (whether this workspace's state
        /// made it) and `outputs`.
        resources: Vec<serde_json::Value>,
    },
    /// The state as `status --json` shows it (the snapshot `state pull` writes).
    Status {
        /// The state.
        state: crate::state::State,
    },
    /// Each role's variables (`report --json`); secret values are `***`.
    Report {
        /// One object a role: `role`, `host` and its `vars`.
        roles: Vec<serde_json::Value>,
    },
    /// The keys the state records (`state list --json`).
    StateList {
        /// In the state's order.
        keys: Vec<String>,
    },
    /// One state entry (`state show PATH --json`).
    StateShow {
        /// The entry.
        entry: crate::state::Entry,
    },
    /// What `state pull FILE` did (`state pull --json`).
    StatePull {
        /// Where the state was written.
        file: String,
        /// Entries written.
        entries: usize,
        /// The state's last record.
        seq: u64,
        /// Whether it was written.
        success: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// What `state push FILE` did (`state push --json`).
    StatePush {
        /// The snapshot pushed.
        file: String,
        /// Entries pushed.
        entries: usize,
        /// The state's last record now.
        seq: u64,
        /// The last record of the state it replaced.
        replaced_seq: u64,
        /// Whether the state was replaced.
        success: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// What `force-unlock LEASE_ID` did (`force-unlock --json`).
    ForceUnlock {
        /// The lease named.
        lease_id: String,
        /// What was released, as the store says it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        released: Option<String>,
        /// Whether the lease was released.
        success: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// What `state mv FROM TO` did (`state mv --json`).
    StateMv {
        /// The path the state recorded.
        from: String,
        /// The path it records now.
        to: String,
        /// Whether the entry was moved.
        success: bool,
        /// Why not.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
}

/// What went wrong in a run, of what kind (part of [`RunSummary`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// A resource or task was tried and failed.
    Run,
    /// The model cannot run as given (no proxy for a resource, an unresolved variable, a cycle, a
    /// proxy the state needs but the run lacks); found before anything was tried.
    Model,
    /// The state cannot be read or is locked by another process.
    State,
}

/// A failure of one resource or task, as reported at the end of a run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunFailure {
    /// Which phase.
    pub phase: Phase,
    /// What kind of failure.
    pub kind: FailureKind,
    /// The resource's model path or the task's name.
    pub task: String,
    /// What went wrong.
    pub error: String,
    /// The last lines of a failed config task's output (empty for anything else).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<OutputLine>,
}

/// How a run ended (the summary's `outcome`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// No run yet.
    #[default]
    None,
    /// Everything the run set out to do was done.
    Complete,
    /// Something failed (every failure is in the summary's `failures`).
    Failed,
    /// Stopped by Ctrl-C (the orchestration's cancel token): the same command again resumes.
    Interrupted,
}

/// What a run did, counted from its events: `ActuatorOrchestration::summary()` and the last event
/// of every run.
///
/// Each count is that of the events before it: `created` / `updated` / `replaced` / `destroyed` /
/// `read` / `tasks_run` are `task_finished` events with that outcome (`ran` for `tasks_run`);
/// `tasks_skipped` is `task_unchanged` events plus `task_finished` with outcome
/// `skipped_by_check`; `blocked` is `task_skipped` events; `failed` is `task_failed` events;
/// `retries` is `task_retry` events; `not_started` adds up `engine_finished`'s `not_started`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunSummary {
    /// What the run did.
    pub command: RunCommand,
    /// Final status.
    pub status: RunStatus,
    /// Whether the run succeeded.
    pub success: bool,
    /// How it ended: complete, failed or interrupted.
    pub outcome: RunOutcome,
    /// Resources created.
    pub created: usize,
    /// Resources changed in place.
    pub updated: usize,
    /// Resources replaced.
    pub replaced: usize,
    /// Resources deleted.
    pub destroyed: usize,
    /// Resources read from their clouds (refresh).
    pub read: usize,
    /// Config tasks that ran and succeeded.
    pub tasks_run: usize,
    /// Config tasks not run: done before with the same inputs, or skipped by their own
    /// `creates` / `removes`.
    pub tasks_skipped: usize,
    /// Resources and tasks not attempted because something they depend on failed.
    pub blocked: usize,
    /// Resources and tasks that failed (after their retries).
    pub failed: usize,
    /// Attempts that failed and were retried.
    pub retries: usize,
    /// Resources and tasks not started because the run was cancelled (Ctrl-C).
    pub not_started: usize,
    /// Planned steps that neither finished nor failed: `blocked` plus `not_started`.
    pub not_done: usize,
    /// Wall-clock duration of the run, in milliseconds.
    pub elapsed_ms: u64,
    /// Every failure of the run, those found before anything ran included.
    pub failures: Vec<RunFailure>,
    /// The run's task output log, if one was written (`<state>/runs/<run>.log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<std::path::PathBuf>,
}

impl RunSummary {
    /// Whether [`count`](Self::count) counts `e` (a task starting, most of a run's events, is
    /// not: no need to lock a shared summary for it).
    pub(crate) fn counts(e: &Event) -> bool {
        matches!(
            e,
            Event::TaskFinished { .. }
                | Event::TaskUnchanged { .. }
                | Event::TaskSkipped { .. }
                | Event::TaskFailed { .. }
                | Event::TaskRetry { .. }
                | Event::EngineFinished { .. }
        )
    }

    /// Counts `e` in.
    pub(crate) fn count(&mut self, e: &Event) {
        match e {
            Event::TaskFinished { outcome, .. } => match outcome {
                Outcome::Created => self.created += 1,
                Outcome::Updated => self.updated += 1,
                Outcome::Replaced => self.replaced += 1,
                Outcome::Destroyed => self.destroyed += 1,
                Outcome::Read => self.read += 1,
                Outcome::Ran => self.tasks_run += 1,
                Outcome::SkippedByCheck => self.tasks_skipped += 1,
                Outcome::ReplacedOld | Outcome::Nothing => {}
            },
            Event::TaskUnchanged { .. } => self.tasks_skipped += 1,
            Event::TaskSkipped { .. } => self.blocked += 1,
            Event::TaskFailed { .. } => self.failed += 1,
            Event::TaskRetry { .. } => self.retries += 1,
            Event::EngineFinished { not_started, .. } => self.not_started += not_started,
            _ => {}
        }
        self.not_done = self.blocked + self.not_started;
    }

    /// `Created 3, updated 1, replaced 0, destroyed 0; 7 tasks run, 2 skipped; 0 failed (4.2 s).`
    ///
    /// ```
    /// let s = actuator::events::RunSummary { created: 2, tasks_run: 1, elapsed_ms: 1500, ..Default::default() };
    /// assert_eq!(s.line(), "2 created, 0 updated, 0 replaced, 0 destroyed; 1 task run, 0 skipped; 0 failed (1.5 s)");
    /// ```
    pub fn line(&self) -> String {
        let mut s = format!(
            "{} created, {} updated, {} replaced, {} destroyed; {} task{} run, {} skipped; {} failed",
            self.created,
            self.updated,
            self.replaced,
            self.destroyed,
            self.tasks_run,
            if self.tasks_run == 1 { "" } else { "s" },
            self.tasks_skipped,
            self.failed,
        );
        if self.blocked > 0 {
            s.push_str(&format!(", {} not attempted", self.blocked));
        }
        if self.not_started > 0 {
            s.push_str(&format!(", {} not started", self.not_started));
        }
        s.push_str(&format!(" ({:.1} s)", self.elapsed_ms as f64 / 1000.0));
        s
    }
}

/// An event with its envelope: what [`JsonLines`] writes as one line.
///
/// The time is read from the clock when a handler first asks for it ([`Envelope::ts`]), not for
/// every event: a handler that ignores time (most events of a large run go to one) costs no clock
/// read, which was a tenth of a resource's step.
#[derive(Clone, Debug, Serialize)]
pub struct Envelope<'a> {
    /// [`EVENT_SCHEMA`].
    pub schema: u32,
    /// When it happened (RFC 3339, UTC, milliseconds): see [`Envelope::ts`].
    #[serde(rename = "ts", serialize_with = "rfc3339")]
    at: OnceLock<SystemTime>,
    /// The run it belongs to.
    pub run: &'a str,
    /// The event.
    #[serde(flatten)]
    pub event: &'a Event,
}

impl<'a> Envelope<'a> {
    /// `event` of run `run`, now.
    pub fn now(run: &'a str, event: &'a Event) -> Envelope<'a> {
        Envelope {
            schema: EVENT_SCHEMA,
            at: OnceLock::new(),
            run,
            event,
        }
    }

    /// When it happened: the clock as the first handler to ask read it (every handler of one
    /// event sees the same time).
    ///
    /// ```
    /// use actuator::events::{Envelope, Event};
    /// let e = Envelope::now("run-1", &Event::ProvisioningStarting);
    /// assert_eq!(e.ts(), e.ts());
    /// assert!(e.ts() <= std::time::SystemTime::now());
    /// ```
    pub fn ts(&self) -> SystemTime {
        *self.at.get_or_init(SystemTime::now)
    }
}

fn rfc3339<S: Serializer>(t: &OnceLock<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(
        *t.get_or_init(SystemTime::now),
    ))
}

/// Receives events; may be called from several threads.
pub trait EventHandler: Send + Sync {
    /// One event.
    fn event(&self, e: &Event);

    /// One event with its envelope (schema, time, run id). The orchestration calls this; the
    /// default passes the event on to [`EventHandler::event`].
    fn record(&self, r: &Envelope<'_>) {
        self.event(r.event)
    }
}

/// Drops every event (benchmarks, embedding without output).
#[derive(Default, Debug)]
pub struct NullHandler;

impl EventHandler for NullHandler {
    fn event(&self, _: &Event) {}
}

/// Logs every event through `tracing` (failures at error level).
#[derive(Default, Debug)]
pub struct TracingHandler;

impl EventHandler for TracingHandler {
    fn event(&self, e: &Event) {
        match e {
            Event::TaskFailed {
                phase, task, error, ..
            } => {
                tracing::error!(?phase, %task, %error, "task failed")
            }
            Event::TaskRetry {
                task,
                error,
                delay_ms,
                ..
            } => tracing::warn!(%task, %error, delay_ms, "retrying"),
            Event::OrchestrationFinished {
                success: false,
                status,
                ..
            } => {
                tracing::error!(?status, "orchestration failed")
            }
            Event::TaskOutput {
                task,
                host,
                stream,
                line,
            } => tracing::debug!(%task, %host, ?stream, "| {line}"),
            other => tracing::info!(event = ?other),
        }
    }
}

/// Writes one JSON object per event and line (`--json`): the [`Envelope`] and the event's
/// fields.
pub struct JsonLines<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLines<W> {
    /// Events go to `out`.
    pub fn new(out: W) -> Self {
        JsonLines {
            out: Mutex::new(out),
        }
    }

    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }
}

impl<W: Write + Send> EventHandler for JsonLines<W> {
    /// An event outside any run (`run` is empty).
    fn event(&self, e: &Event) {
        self.record(&Envelope::now("", e));
    }

    fn record(&self, r: &Envelope<'_>) {
        let mut out = self.out.lock();
        if let Ok(line) = serde_json::to_string(r) {
            // A closed pipe must not stop the orchestration; the state journal is the record.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// An event as [`Collect`] keeps it, with its envelope.
#[derive(Clone, Debug)]
pub struct Stamped {
    /// When it happened.
    pub ts: SystemTime,
    /// The run it belongs to (empty outside a run).
    pub run: String,
    /// The event.
    pub event: Event,
}

/// Keeps every event (tests, and callers who want to inspect a run).
#[derive(Default, Debug)]
pub struct Collect {
    events: Mutex<Vec<Stamped>>,
}

impl Collect {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().iter().map(|s| s.event.clone()).collect()
    }

    /// The events so far with their envelopes.
    pub fn records(&self) -> Vec<Stamped> {
        self.events.lock().clone()
    }
}

impl EventHandler for Collect {
    fn event(&self, e: &Event) {
        self.record(&Envelope::now("", e));
    }

    fn record(&self, r: &Envelope<'_>) {
        self.events.lock().push(Stamped {
            ts: r.ts(),
            run: r.run.to_owned(),
            event: r.event.clone(),
        });
    }
}

/// Sends every event to several handlers.
#[derive(Default)]
pub struct Fanout(pub Vec<std::sync::Arc<dyn EventHandler>>);

impl EventHandler for Fanout {
    fn event(&self, e: &Event) {
        self.0.iter().for_each(|h| h.event(e));
    }

    fn record(&self, r: &Envelope<'_>) {
        self.0.iter().for_each(|h| h.record(r));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_comes_first_and_the_fields_follow() {
        let e = Event::TaskStarting {
            phase: Phase::Configure,
            task: "hello".into(),
            attempt: 1,
            host: Some("10.0.0.5".into()),
        };
        let line = serde_json::to_string(&Envelope::now("r", &e)).unwrap();
        assert!(line.starts_with(r#"{"schema":1,"ts":""#), "{line}");
        assert!(
            line.ends_with(
                r#""run":"r","event":"task_starting","phase":"configure","task":"hello","attempt":1,"host":"10.0.0.5"}"#
            ),
            "{line}"
        );
    }

    #[test]
    fn the_summary_counts_what_the_events_say() {
        let mut s = RunSummary::default();
        let fin = |outcome| Event::TaskFinished {
            phase: Phase::Provision,
            task: "x".into(),
            outcome,
        };
        for e in [
            fin(Outcome::Created),
            fin(Outcome::Replaced),
            fin(Outcome::ReplacedOld),
            fin(Outcome::SkippedByCheck),
            Event::TaskUnchanged { task: "t".into() },
            Event::TaskSkipped {
                phase: Phase::Configure,
                task: "u".into(),
                because: "t".into(),
            },
        ] {
            s.count(&e);
        }
        assert_eq!(
            (
                s.created,
                s.replaced,
                s.destroyed,
                s.tasks_skipped,
                s.blocked
            ),
            (1, 1, 0, 2, 1)
        );
    }
}
