//! The end-of-run summary: what a run created, updated, replaced and destroyed, how many tasks it
//! ran, skipped and failed, and how long it took — on the terminal and as the last `--json` line.
//!
//! [`run_summary`] is the one place the command line gets these figures: the orchestration's own
//! count of the run's events ([`ActuatorOrchestration::summary`]) and its failures, in the shape
//! the terminal and the `--json` line show.

use std::time::Duration;

use serde::Serialize;

use crate::events::Phase;
use crate::orchestrate::{ActuatorOrchestration, FailureKind};

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

/// The summary of the run `orch` just finished.
pub(super) fn run_summary(
    command: &'static str,
    orch: &ActuatorOrchestration,
    elapsed: Duration,
    interrupted: bool,
) -> RunSummary {
    let counts = orch.summary();
    RunSummary {
        event: "run_summary",
        command,
        outcome: if interrupted {
            "interrupted"
        } else if orch.failures().is_empty() {
            "complete"
        } else {
            "failed"
        },
        created: counts.created,
        updated: counts.updated,
        replaced: counts.replaced,
        destroyed: counts.destroyed,
        tasks_run: counts.tasks_run,
        tasks_skipped: counts.tasks_skipped,
        failed: orch.failures().len(),
        not_done: counts.blocked + counts.not_started,
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
    }
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
