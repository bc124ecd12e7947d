//! The orchestration's event stream: every event of the original (orchestration, provisioning,
//! configuration, engine, task starting / finished / retry / failed) plus teardown and skips, each
//! delivered exactly once, to any number of handlers: `tracing` logs, JSON lines, a live terminal
//! view (in `cli`), or your own.

use parking_lot::Mutex;
use std::io::Write;

use serde::Serialize;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing has run.
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

/// One event.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// `up` or `down` begins.
    OrchestrationStarting {
        /// The system name.
        system: String,
    },
    /// `up` or `down` ends.
    OrchestrationFinished {
        /// The system name.
        system: String,
        /// Final status.
        status: Status,
        /// Whether it succeeded.
        success: bool,
    },
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
        /// Nodes not started (cancelled).
        not_started: usize,
    },
    /// A resource or task attempt starts.
    TaskStarting {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: String,
        /// Attempt number, from 1.
        attempt: u32,
    },
    /// A resource or task is done.
    TaskFinished {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: String,
    },
    /// An attempt failed and will be retried.
    TaskRetry {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: String,
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
        task: String,
        /// Why.
        error: String,
    },
    /// A resource or task was not attempted because one it depends on failed.
    TaskSkipped {
        /// Which walk.
        phase: Phase,
        /// The resource or task.
        task: String,
        /// The failure that caused it.
        because: String,
    },
}

/// Receives events; may be called from several threads.
pub trait EventHandler: Send + Sync {
    /// One event.
    fn event(&self, e: &Event);
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
            Event::TaskFailed { phase, task, error } => {
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
            other => tracing::info!(event = ?other),
        }
    }
}

/// Writes one JSON object per event and line (`--json`).
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
}

impl<W: Write + Send> EventHandler for JsonLines<W> {
    fn event(&self, e: &Event) {
        let mut out = self.out.lock();
        if let Ok(line) = serde_json::to_string(e) {
            // A closed pipe must not stop the orchestration; the state journal is the record.
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Keeps every event (tests, and callers who want to inspect a run).
#[derive(Default, Debug)]
pub struct Collect {
    events: Mutex<Vec<Event>>,
}

impl Collect {
    /// The events so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().clone()
    }
}

impl EventHandler for Collect {
    fn event(&self, e: &Event) {
        self.events.lock().push(e.clone());
    }
}

/// Sends every event to several handlers.
#[derive(Default)]
pub struct Fanout(pub Vec<std::sync::Arc<dyn EventHandler>>);

impl EventHandler for Fanout {
    fn event(&self, e: &Event) {
        self.0.iter().for_each(|h| h.event(e));
    }
}
