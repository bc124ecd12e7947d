//! What a run shows while it runs: the live view on a terminal (a bar per walk, a line per
//! finished, failed or skipped resource or task), plain lines when stderr is not a terminal, and
//! what is in flight (for the Ctrl-C message).
//!
//! Everything else written to stderr while bars are showing — log lines from `tracing`, the
//! CLI's own notes — goes through [`write_stderr`], which clears the bars, writes, and draws
//! them again (indicatif's `MultiProgress::suspend`): a log line never lands in the middle of a
//! bar.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexSet;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use parking_lot::Mutex;
use tracing_subscriber::fmt::MakeWriter;

use crate::events::{Event, EventHandler, Phase};

/// The bars showing now, if any: where stderr output must go around.
static BARS: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// Writes to stderr around the live view. Errors are dropped: a closed stderr must not stop a run
/// (the state journal is the record).
pub(super) fn write_stderr(bytes: &[u8]) {
    // Cloned out so the global is not held while indicatif takes its own lock.
    let bars = BARS.lock().clone();
    let write = || {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(bytes);
        let _ = e.flush();
    };
    match bars {
        Some(m) => m.suspend(write),
        None => write(),
    }
}

/// The end of the live view: later stderr output is written straight away.
pub(super) fn close() {
    if let Some(m) = BARS.lock().take() {
        let _ = m.clear();
    }
}

/// The `tracing` writer of the command line: each log record is buffered whole, then written by
/// [`write_stderr`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LogWriter;

impl<'a> MakeWriter<'a> for LogWriter {
    type Writer = LogRecord;
    fn make_writer(&'a self) -> LogRecord {
        LogRecord(Vec::with_capacity(256))
    }
}

/// One log record on its way to stderr.
pub(super) struct LogRecord(Vec<u8>);

impl Write for LogRecord {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogRecord {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            write_stderr(&self.0);
        }
    }
}

/// The live view on a terminal.
pub(super) struct Progress {
    multi: MultiProgress,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub(super) fn new() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        *BARS.lock() = Some(multi.clone());
        Progress {
            multi,
            bar: Mutex::new(None),
        }
    }

    fn line(&self, text: String) {
        // Through the bar set: printed above the bars, which are then drawn again.
        let _ = self.multi.println(text);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(pb) = self.bar.lock().take() {
            pb.finish_and_clear();
        }
        *BARS.lock() = None;
    }
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Refresh => "refresh",
        Phase::Provision => "provision",
        Phase::Configure => "configure",
        Phase::Teardown => "teardown",
    }
}

impl EventHandler for Progress {
    fn event(&self, e: &Event) {
        match e {
            Event::EngineStarting { phase, nodes } => {
                let pb = self.multi.add(ProgressBar::new(*nodes as u64));
                pb.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>10} [{bar:30}] {pos}/{len} {elapsed} {wide_msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_prefix(phase_name(*phase));
                pb.enable_steady_tick(Duration::from_millis(200));
                if let Some(old) = self.bar.lock().replace(pb) {
                    old.finish_and_clear();
                }
            }
            Event::TaskStarting { task, .. } => {
                if let Some(pb) = &*self.bar.lock() {
                    pb.set_message(task.to_string());
                }
            }
            Event::TaskFinished { task, .. } => {
                if let Some(pb) = &*self.bar.lock() {
                    pb.inc(1);
                }
                self.line(format!("  done    {task}"));
            }
            // The error itself is printed once, at the end of the run.
            Event::TaskFailed { task, .. } => {
                if let Some(pb) = &*self.bar.lock() {
                    pb.inc(1);
                }
                self.line(format!("  FAILED  {task}"));
            }
            Event::TaskSkipped { task, because, .. } => {
                if let Some(pb) = &*self.bar.lock() {
                    pb.inc(1);
                }
                self.line(format!("  skipped {task} (after {because} failed)"));
            }
            Event::TaskRetry {
                task,
                error,
                delay_ms,
                attempt,
                ..
            } => self.line(format!(
                "  retry   {task}: attempt {attempt} failed ({error}); again in {:.1}s",
                *delay_ms as f64 / 1000.0
            )),
            Event::EngineFinished { .. } => {
                if let Some(pb) = self.bar.lock().take() {
                    pb.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

/// One line per finished, failed or skipped resource or task, on stderr (not a terminal).
pub(super) struct Lines;

impl EventHandler for Lines {
    fn event(&self, e: &Event) {
        let line = match e {
            Event::TaskFinished { phase, task, .. } => {
                format!("{:<9} done    {task}", phase_name(*phase))
            }
            Event::TaskFailed { phase, task, .. } => {
                format!("{:<9} FAILED  {task}", phase_name(*phase))
            }
            Event::TaskSkipped {
                phase,
                task,
                because,
            } => format!(
                "{:<9} skipped {task} (after {because} failed)",
                phase_name(*phase)
            ),
            Event::TaskRetry {
                phase,
                task,
                error,
                attempt,
                delay_ms,
            } => format!(
                "{:<9} retry   {task}: attempt {attempt} failed ({error}); again in {:.1}s",
                phase_name(*phase),
                *delay_ms as f64 / 1000.0
            ),
            _ => return,
        };
        write_stderr(format!("{line}\n").as_bytes());
    }
}

/// Each line a task prints, as it prints it (`-v`): `task@host | line` on stderr, around the live
/// view. (The run's log under the state keeps every line whatever the verbosity.)
pub(super) struct TaskLines;

impl EventHandler for TaskLines {
    fn event(&self, e: &Event) {
        if let Event::TaskOutput {
            task, host, line, ..
        } = e
        {
            write_stderr(format!("{task}@{host} | {line}\n").as_bytes());
        }
    }
}

/// What is in flight now, in the order it started: what a Ctrl-C waits for, or aborts.
#[derive(Default)]
pub(super) struct InFlight(Mutex<IndexSet<Arc<str>>>);

impl InFlight {
    /// `n in flight: a, b, c` (at most ten names).
    pub(super) fn describe(&self) -> (usize, String) {
        let set = self.0.lock();
        let mut names: Vec<&str> = set.iter().take(10).map(|n| &**n).collect();
        if set.len() > names.len() {
            names.push("…");
        }
        (set.len(), names.join(", "))
    }
}

impl EventHandler for InFlight {
    fn event(&self, e: &Event) {
        match e {
            Event::TaskStarting { task, .. } => {
                self.0.lock().insert(task.clone());
            }
            Event::TaskFinished { task, .. }
            | Event::TaskFailed { task, .. }
            | Event::TaskRetry { task, .. } => {
                self.0.lock().shift_remove(task);
            }
            _ => {}
        }
    }
}
