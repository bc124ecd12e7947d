//! Errors of task execution.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Why a task failed. Every message names the task and what failed.
///
/// ```
/// use actuator::exec::ExecError;
///
/// let err = ExecError::Failed { task: "db.migrate".into(), status: 2, stderr_tail: "no such table".into() };
/// assert_eq!(err.to_string(), "task `db.migrate` failed with exit status 2: no such table");
/// assert!(!err.retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The process exited non-zero (killed by signal N: status 128+N).
    #[error(
        "task `{task}` failed with exit status {status}{}",
        tail_suffix(stderr_tail)
    )]
    Failed {
        /// Task name.
        task: String,
        /// Exit status.
        status: i32,
        /// The last lines (about 20) of standard error.
        stderr_tail: String,
    },
    /// The task ran longer than its timeout; its process group was killed.
    #[error("task `{task}` timed out after {after:?} and was killed")]
    Timeout {
        /// Task name.
        task: String,
        /// The time limit.
        after: Duration,
    },
    /// The program could not be started.
    #[error("task `{task}`: cannot start `{program}`: {source}")]
    Spawn {
        /// Task name.
        task: String,
        /// The program (or interpreter) that failed to start.
        program: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The working directory (`chdir`) is missing or not a directory.
    #[error("task `{task}`: cannot use working directory `{}`: {source}", path.display())]
    Chdir {
        /// Task name.
        task: String,
        /// The directory as resolved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A file operation failed.
    #[error("task `{task}`: cannot {op} `{}`: {source}", path.display())]
    Io {
        /// Task name.
        task: String,
        /// What was being done, e.g. `"read"`, `"create directory"`.
        op: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The copy template failed, or a templated file is not UTF-8 text.
    #[error("task `{task}`: template error in {}: {message}", file.as_ref().map_or_else(|| "content".to_string(), |p| format!("`{}`", p.display())))]
    Template {
        /// Task name.
        task: String,
        /// The file being templated (`None`: the inline content).
        file: Option<PathBuf>,
        /// What went wrong, e.g. the unresolved variable.
        message: String,
    },
    /// The command is unusable: it names no program (an empty argv). (A configuration model
    /// reports a `CommandTask` line it cannot split before any task runs.)
    #[error("task `{task}`: bad command: {message}")]
    BadCommand {
        /// Task name.
        task: String,
        /// What is wrong with it.
        message: String,
    },
    /// The task is inconsistent (e.g. a copy with both `src` and `content`,
    /// an invalid environment variable name).
    #[error("task `{task}`: invalid task: {message}")]
    Invalid {
        /// Task name.
        task: String,
        /// What is wrong with it.
        message: String,
    },
    /// A copy's owner or group does not exist.
    #[error("task `{task}`: unknown {kind} `{name}`")]
    UnknownOwner {
        /// Task name.
        task: String,
        /// `"user"` or `"group"`.
        kind: &'static str,
        /// The name looked up.
        name: String,
    },
    /// The host could not be reached or the connection broke (remote agents).
    #[error("task `{task}`: connection to `{host}` failed: {message}")]
    Connection {
        /// Task name.
        task: String,
        /// The host.
        host: String,
        /// What went wrong.
        message: String,
    },
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!(": {tail}")
    }
}

impl ExecError {
    /// Whether running the task again may succeed: timeouts, connection
    /// problems and transient OS errors yes; a non-zero exit, a bad task or a
    /// missing file no.
    ///
    /// ```
    /// use std::time::Duration;
    /// use actuator::exec::ExecError;
    ///
    /// assert!(ExecError::Timeout { task: "t".into(), after: Duration::from_secs(1) }.retryable());
    /// assert!(!ExecError::BadCommand { task: "t".into(), message: "x".into() }.retryable());
    /// ```
    pub fn retryable(&self) -> bool {
        match self {
            ExecError::Timeout { .. } | ExecError::Connection { .. } => true,
            ExecError::Spawn { source, .. } | ExecError::Io { source, .. } => transient(source),
            _ => false,
        }
    }

    /// The name of the task that failed.
    ///
    /// ```
    /// use actuator::exec::ExecError;
    /// let err = ExecError::Invalid { task: "a.b".into(), message: "x".into() };
    /// assert_eq!(err.task(), "a.b");
    /// ```
    pub fn task(&self) -> &str {
        match self {
            ExecError::Failed { task, .. }
            | ExecError::Timeout { task, .. }
            | ExecError::Spawn { task, .. }
            | ExecError::Chdir { task, .. }
            | ExecError::Io { task, .. }
            | ExecError::Template { task, .. }
            | ExecError::BadCommand { task, .. }
            | ExecError::Invalid { task, .. }
            | ExecError::UnknownOwner { task, .. }
            | ExecError::Connection { task, .. } => task,
        }
    }
}

fn transient(err: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        err.kind(),
        Interrupted
            | WouldBlock
            | TimedOut
            | ResourceBusy
            | ExecutableFileBusy
            | ConnectionReset
            | ConnectionAborted
            | ConnectionRefused
            | NotConnected
            | BrokenPipe
    )
}

/// An environment variable name that cannot be exported safely (it must
/// match `[A-Za-z_][A-Za-z0-9_]*`).
///
/// ```
/// use actuator::exec::export_line;
///
/// let err = export_line(&[("X;rm -rf /".into(), "1".into())]).unwrap_err();
/// assert_eq!(err.0, "X;rm -rf /");
/// assert_eq!(err.to_string(), "invalid environment variable name `X;rm -rf /`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid environment variable name `{0}`")]
pub struct InvalidEnvName(pub String);
