//! The end of a run on a terminal: the summary line — what the run created, updated, replaced
//! and destroyed, how many tasks it ran, skipped and failed, how long it took — then each
//! failure once, a failed task's error followed by the last lines of its output and where the
//! rest is.
//!
//! The figures are the orchestration's own ([`ActuatorOrchestration::summary`]), counted from
//! the run's events: the same as the `summary` event that ends the `--json` stream, so the text
//! and the stream never disagree.
//!
//! [`ActuatorOrchestration::summary`]: crate::orchestrate::ActuatorOrchestration::summary

use std::path::Path;

use crate::events::{Phase, RunCommand, RunFailure, RunOutcome, RunSummary};

/// `Up complete after 1.2s: 6 created, 0 updated, 0 replaced, 0 destroyed; 8 tasks run, 0
/// skipped.`
pub(super) fn line(s: &RunSummary) -> String {
    let verb = match s.command {
        RunCommand::Up | RunCommand::Apply => "Up",
        RunCommand::Down => "Down",
        RunCommand::Refresh => "Refresh",
        RunCommand::None => "Run",
    };
    let outcome = match s.outcome {
        RunOutcome::Complete => "complete",
        RunOutcome::Failed | RunOutcome::None => "failed",
        RunOutcome::Interrupted => "interrupted",
    };
    let mut line = format!(
        "{verb} {outcome} after {:.1}s: {} created, {} updated, {} replaced, {} destroyed; {} task{} run, {} skipped",
        s.elapsed_ms as f64 / 1000.0,
        s.created,
        s.updated,
        s.replaced,
        s.destroyed,
        s.tasks_run,
        if s.tasks_run == 1 { "" } else { "s" },
        s.tasks_skipped,
    );
    // Failures of every kind: those found before anything ran count too.
    let failed = s.failures.len().max(s.failed);
    if failed > 0 {
        line.push_str(&format!(", {failed} failed"));
    }
    if s.not_done > 0 {
        line.push_str(&format!(", {} not done", s.not_done));
    }
    line.push('.');
    line
}

pub(super) fn phase_word(p: Phase) -> &'static str {
    match p {
        Phase::Refresh => "refresh",
        Phase::Provision => "provision",
        Phase::Configure => "configure",
        Phase::Teardown => "teardown",
    }
}

/// One failure as the terminal shows it: `error: configure check: <why>`, and for a task that
/// printed something, its last lines (indented) and the run log that has all of them.
pub(super) fn failure(f: &RunFailure, log: Option<&Path>) -> Vec<String> {
    let mut out = vec![format!(
        "error: {} {}: {}",
        phase_word(f.phase),
        f.task,
        f.error
    )];
    if f.output.is_empty() {
        return out;
    }
    let n = f.output.len();
    let whole = match log {
        Some(p) => format!("; all of it is in {}", p.display()),
        None => String::new(),
    };
    out.push(format!(
        "  its output, the last {n} line{}{whole}:",
        if n == 1 { "" } else { "s" }
    ));
    out.extend(f.output.iter().map(|l| format!("    {}", l.line)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{FailureKind, OutputLine};
    use crate::exec::Stream;

    #[test]
    fn a_failed_task_shows_its_error_then_its_tail_and_the_log() {
        let f = RunFailure {
            phase: Phase::Configure,
            kind: FailureKind::Run,
            task: "check".into(),
            error: "task `check` failed with exit status 7".into(),
            output: vec![OutputLine {
                stream: Stream::Stderr,
                line: "boom".into(),
            }],
        };
        assert_eq!(
            failure(&f, Some(Path::new("st/runs/r.log"))),
            [
                "error: configure check: task `check` failed with exit status 7",
                "  its output, the last 1 line; all of it is in st/runs/r.log:",
                "    boom",
            ]
        );
    }

    #[test]
    fn the_line_counts_every_failure() {
        let s = RunSummary {
            command: RunCommand::Up,
            outcome: RunOutcome::Failed,
            tasks_run: 1,
            failed: 1,
            blocked: 2,
            not_done: 2,
            elapsed_ms: 1500,
            ..Default::default()
        };
        assert_eq!(
            line(&s),
            "Up failed after 1.5s: 0 created, 0 updated, 0 replaced, 0 destroyed; 1 task run, 0 skipped, 1 failed, 2 not done."
        );
    }
}
