//! The live terminal view (per-phase bar, a line per finished or failed task, elapsed time), and a
//! plain line printer for when stderr is not a terminal.

use parking_lot::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::events::{Event, EventHandler};

/// Progress bars on a terminal.
pub struct Progress {
    multi: MultiProgress,
    bar: Mutex<Option<ProgressBar>>,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            multi: MultiProgress::new(),
            bar: Mutex::new(None),
        }
    }
}

impl EventHandler for Progress {
    fn event(&self, e: &Event) {
        let mut bar = self.bar.lock();
        match e {
            Event::EngineStarting { phase, nodes } => {
                let pb = self.multi.add(ProgressBar::new(*nodes as u64));
                pb.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>10} [{bar:30}] {pos}/{len} {elapsed} {msg}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                pb.set_prefix(format!("{phase:?}"));
                pb.enable_steady_tick(Duration::from_millis(200));
                *bar = Some(pb);
            }
            Event::TaskStarting { task, .. } => {
                if let Some(pb) = &*bar {
                    pb.set_message(task.clone());
                }
            }
            Event::TaskFinished { task, .. } => {
                if let Some(pb) = &*bar {
                    pb.inc(1);
                    pb.println(format!("  done    {task}"));
                }
            }
            Event::TaskFailed { task, error, .. } => {
                if let Some(pb) = &*bar {
                    pb.inc(1);
                    pb.println(format!("  FAILED  {task}: {error}"));
                }
            }
            Event::TaskSkipped { task, because, .. } => {
                if let Some(pb) = &*bar {
                    pb.inc(1);
                    pb.println(format!("  skipped {task} (after {because} failed)"));
                }
            }
            Event::TaskRetry { task, error, .. } => {
                if let Some(pb) = &*bar {
                    pb.println(format!("  retry   {task}: {error}"));
                }
            }
            Event::EngineFinished { .. } => {
                if let Some(pb) = bar.take() {
                    pb.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

/// One line per finished, failed or skipped task, on stderr.
pub struct Lines;

impl EventHandler for Lines {
    fn event(&self, e: &Event) {
        match e {
            Event::TaskFinished { phase, task } => eprintln!("{phase:?} done    {task}"),
            Event::TaskFailed { phase, task, error } => {
                eprintln!("{phase:?} FAILED  {task}: {error}")
            }
            Event::TaskSkipped {
                phase,
                task,
                because,
            } => {
                eprintln!("{phase:?} skipped {task} (after {because} failed)")
            }
            Event::OrchestrationFinished { status, .. } => eprintln!("finished: {status:?}"),
            _ => {}
        }
    }
}
