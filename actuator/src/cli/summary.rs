//! The end-of-run summary: what a run created, updated, replaced and destroyed, how many tasks it
//! ran, skipped and failed, and how long it took — on the terminal and as the last `--json` line.
//!
//! [`run_summary`] is the one place the command line gets these figures. It works them out from
//! the plan it applied, the events of the run ([`Tally`]) and the orchestration's failures; an
//! orchestration that counts them itself replaces its body with one call.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::events::{Event, EventHandler, Phase};
use crate::orchestrate::{Action, ActuatorOrchestration, FailureKind, Plan, TaskAction};

/// Counts the run's events: how many times each resource step and task finished, failed or was
/// skipped.
#[derive(Default)]
pub(super) struct Tally(Mutex<Counts>);

#[derive(Default)]
struct Counts {
    /// Finished resource steps by name (a delete-first replacement finishes its key twice).
    resources_done: HashMap<String, u32>,
    /// Resource steps that failed or were skipped, by name.
    resources_failed: HashMap<String, u32>,
    tasks_done: HashMap<String, u32>,
    tasks_failed: HashMap<String, u32>,
}

impl EventHandler for Tally {
    fn event(&self, e: &Event) {
        let mut c = self.0.lock();
        let (phase, task, ok) = match e {
            Event::TaskFinished { phase, task } => (*phase, task, true),
            Event::TaskFailed { phase, task, .. } | Event::TaskSkipped { phase, task, .. } => {
                (*phase, task, false)
            }
            _ => return,
        };
        let map = match (phase, ok) {
            (Phase::Refresh, _) => return,
            (Phase::Configure, true) => &mut c.tasks_done,
            (Phase::Configure, false) => &mut c.tasks_failed,
            (_, true) => &mut c.resources_done,
            (_, false) => &mut c.resources_failed,
        };
        *map.entry(task.clone()).or_default() += 1;
    }
}

/// One failure, as the summary reports it.
#[derive(Clone, Debug, Serialize)]
pub(super) struct FailureLine {
    pub phase: Phase,
    /// `run` (tried and failed), `model` (cannot run as given) or `state`.
    pub kind: &'static str,
    pub task: String,
    pub error: String,
}

/// What a run did.
#[derive(Clone, Debug, Serialize)]
pub(super) struct RunSummary {
    /// Always `run_summary`: the `--json` line's tag.
    pub event: &'static str,
    /// `up`, `down`, `refresh`.
    pub command: &'static str,
    /// `complete`, `failed` or `interrupted`.
    pub outcome: &'static str,
    pub created: usize,
    pub updated: usize,
    pub replaced: usize,
    pub destroyed: usize,
    pub tasks_run: usize,
    /// Tasks skipped as done.
    pub tasks_skipped: usize,
    /// Failures of every kind (each one is in `failures`).
    pub failed: usize,
    /// Planned steps that neither finished nor failed: skipped after a failure, or never
    /// reached (interrupted).
    pub not_done: usize,
    pub elapsed_ms: u64,
    pub failures: Vec<FailureLine>,
}

/// The summary of the run that just applied `plan` (`None`: a run without one, such as
/// `down --discover`, whose finished steps are all deletions).
pub(super) fn run_summary(
    command: &'static str,
    orch: &ActuatorOrchestration,
    plan: Option<&Plan>,
    tally: &Tally,
    elapsed: Duration,
    interrupted: bool,
) -> RunSummary {
    let c = tally.0.lock();
    let done = |map: &HashMap<String, u32>, k: &str| map.get(k).copied().unwrap_or(0);
    let mut s = RunSummary {
        event: "run_summary",
        command,
        outcome: if interrupted {
            "interrupted"
        } else if orch.failures().is_empty() {
            "complete"
        } else {
            "failed"
        },
        created: 0,
        updated: 0,
        replaced: 0,
        destroyed: 0,
        tasks_run: 0,
        tasks_skipped: 0,
        failed: orch.failures().len(),
        not_done: 0,
        elapsed_ms: elapsed.as_millis() as u64,
        failures: orch
            .failures()
            .iter()
            .map(|f| FailureLine {
                phase: f.phase,
                kind: match f.kind {
                    FailureKind::Run => "run",
                    FailureKind::Model => "model",
                    FailureKind::State => "state",
                },
                task: f.task.clone(),
                error: f.error.clone(),
            })
            .collect(),
    };
    let Some(plan) = plan else {
        s.destroyed = c.resources_done.values().map(|&n| n as usize).sum();
        return s;
    };
    for r in plan
        .resources
        .iter()
        .filter(|r| r.action != Action::Unchanged)
    {
        let deposed = format!("{}#deposed", r.key);
        let failed = done(&c.resources_failed, &r.key) + done(&c.resources_failed, &deposed) > 0;
        let finished = match r.action {
            // Create-first: the new one, then the old one's deletion; delete-first: the same key
            // twice.
            Action::Replace if r.create_before_destroy => {
                done(&c.resources_done, &r.key) > 0 && done(&c.resources_done, &deposed) > 0
            }
            Action::Replace => done(&c.resources_done, &r.key) >= 2,
            _ => done(&c.resources_done, &r.key) > 0,
        };
        match (finished && !failed, r.action) {
            (true, Action::Create) => s.created += 1,
            (true, Action::Update) => s.updated += 1,
            (true, Action::Replace) => s.replaced += 1,
            (true, Action::Destroy) => s.destroyed += 1,
            (true, Action::Unchanged) => {}
            // Failed steps are counted among the failures.
            (false, _) if failed => {}
            (false, _) => s.not_done += 1,
        }
    }
    for t in &plan.tasks {
        match t.action {
            TaskAction::Skip => s.tasks_skipped += 1,
            _ if done(&c.tasks_done, &t.name) > 0 => s.tasks_run += 1,
            _ if done(&c.tasks_failed, &t.name) > 0 => {}
            _ => s.not_done += 1,
        }
    }
    s
}

impl RunSummary {
    /// `Up complete after 1.2s: 6 created, 0 updated, 0 replaced, 0 destroyed; 8 tasks run, 0
    /// skipped.`
    pub(super) fn line(&self) -> String {
        let verb = match self.command {
            "up" => "Up",
            "down" => "Down",
            other => other,
        };
        let mut line = format!(
            "{verb} {} after {:.1}s: {} created, {} updated, {} replaced, {} destroyed; {} task{} run, {} skipped",
            self.outcome,
            self.elapsed_ms as f64 / 1000.0,
            self.created,
            self.updated,
            self.replaced,
            self.destroyed,
            self.tasks_run,
            if self.tasks_run == 1 { "" } else { "s" },
            self.tasks_skipped,
        );
        if self.failed > 0 {
            line.push_str(&format!(", {} failed", self.failed));
        }
        if self.not_done > 0 {
            line.push_str(&format!(", {} not done", self.not_done));
        }
        line.push('.');
        line
    }
}
