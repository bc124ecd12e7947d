//! Where the command line writes: results on stdout, messages on stderr — neither of which may
//! take the process down. A reader that goes away (`plan | head`, `status | true`) closes stdout;
//! the rest of the output is dropped quietly and the command ends with its usual exit code,
//! instead of the panic `println!` gives on a broken pipe.

use std::fmt;
use std::io::{self, Write};

/// Stdout, tolerant of a closed pipe.
pub(super) struct Out {
    w: Box<dyn Write + Send>,
    /// Set at the first failed write: nothing more is attempted.
    closed: bool,
}

impl Out {
    pub(super) fn stdout() -> Self {
        Out {
            w: Box::new(io::stdout()),
            closed: false,
        }
    }

    /// Writes one line (a no-op once the reader has gone).
    pub(super) fn line(&mut self, args: fmt::Arguments<'_>) {
        if self.closed {
            return;
        }
        if writeln!(self.w, "{args}").is_err() {
            self.closed = true;
        }
    }

    /// Writes text as it is.
    pub(super) fn text(&mut self, s: &str) {
        if !self.closed && self.w.write_all(s.as_bytes()).is_err() {
            self.closed = true;
        }
    }

    /// Flushes; a closed pipe is not an error here either.
    pub(super) fn flush(&mut self) {
        if !self.closed && self.w.flush().is_err() {
            self.closed = true;
        }
    }
}

impl Drop for Out {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `outln!(out, "...", args)`: a line on [`Out`].
macro_rules! outln {
    ($out:expr) => { $out.line(format_args!("")) };
    ($out:expr, $($arg:tt)*) => { $out.line(format_args!($($arg)*)) };
}
pub(super) use outln;

/// A message on stderr (errors, notes, prompts): printed above the live view if one is showing,
/// never a panic if stderr is gone.
pub(super) fn note(args: fmt::Arguments<'_>) {
    super::progress::write_stderr(format!("{args}\n").as_bytes());
}

/// `say!("...", args)`: a line on stderr through [`note`].
macro_rules! say {
    ($($arg:tt)*) => { $crate::cli::out::note(format_args!($($arg)*)) };
}
pub(super) use say;
