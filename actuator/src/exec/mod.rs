//! Running fully resolved configuration tasks on a host.
//!
//! The orchestrator expands every model value (`!{VAR}`) before a task gets
//! here, so an [`ExecTask`] is plain data: a task name for messages, the
//! target host, an [`Action`], and the modifiers shared by all actions
//! (`env`, `chdir`, `creates`, `removes`, `timeout`).
//!
//! An [`ExecAgent`] runs tasks on a host. [`LocalAgent`] runs them on this
//! machine; a remote (SSH) transport implements the same trait and can use
//! [`shell_quote`] and [`export_line`] to build its remote command lines.
//!
//! # Secrets
//!
//! Environment values and copied content may hold passwords. They are never
//! logged (only variable names are, with `tracing` at debug level), never
//! shown by `Debug`, and never interpolated into a shell string by
//! [`LocalAgent`]: pass secrets in [`ExecTask::env`] and refer to them as
//! `"$NAME"` in a [`Action::Shell`] line.
//!
//! # Example
//!
//! ```
//! use actuator::exec::{Action, ExecAgent, ExecTask, LocalAgent};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let agent = LocalAgent::new();
//! let task = ExecTask::new("Greeting", Action::Shell(r#"printf 'hello %s' "$WHO""#.into()))
//!     .env("WHO", "world");
//! let out = agent.run(task).await.unwrap();
//! assert_eq!(out.stdout, "hello world");
//! assert_eq!(out.status, 0);
//! # }
//! ```
#![deny(missing_docs)]

mod copy;
mod error;
mod fingerprint;
mod local;
mod quote;
pub mod support;
#[cfg(test)]
mod tests;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;

pub use error::{ExecError, InvalidEnvName};
pub use local::LocalAgent;
pub use quote::{export_line, shell_quote};

/// A text transformation applied by [`Action::Copy`] to the copied text.
///
/// It receives a file's (or the inline content's) text and returns the
/// expanded text, or `Err(message)` naming what could not be resolved
/// (for example ``"unresolved variable `DB_HOST`"``); the error fails the
/// task as [`ExecError::Template`].
///
/// ```
/// use std::sync::Arc;
/// use actuator::exec::Template;
///
/// let upper: Template = Arc::new(|text: &str| Ok(text.to_uppercase()));
/// assert_eq!(upper("abc").unwrap(), "ABC");
/// ```
pub type Template = Arc<dyn Fn(&str) -> Result<String, String> + Send + Sync>;

/// One task with every model value already resolved.
///
/// Build it with [`ExecTask::new`] and the builder methods, or fill the
/// public fields directly.
///
/// `chdir`, `creates` and `removes` apply to every action but [`Action::Ping`].
///
/// Path rules for [`LocalAgent`]: `chdir` is relative to the agent's root;
/// `creates`, `removes` and a copy's `dest` are relative to the task's working
/// directory (`chdir` when given, else the root); controller-side paths (a
/// script's `path`, a copy's `src`) are relative to the root. Without a root,
/// "the root" is the process's current directory.
///
/// `Debug` shows environment variable names only, never their values.
///
/// ```
/// use std::time::Duration;
/// use actuator::exec::{Action, ExecTask};
///
/// let task = ExecTask::new("WebConfig.apps[3]", Action::command(["make", "install"]))
///     .host("web1")
///     .env("DB_PASSWORD", "s3cret")
///     .chdir("/srv/app")
///     .creates("/srv/app/.installed")
///     .timeout(Duration::from_secs(600));
/// assert_eq!(task.host, "web1");
/// let shown = format!("{task:?}");
/// assert!(shown.contains("DB_PASSWORD") && !shown.contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct ExecTask {
    /// Name used in messages and errors, e.g. `"WebConfig.apps[3]"`.
    pub name: String,
    /// Target host (`"127.0.0.1"`, a host name…); [`LocalAgent`] ignores it.
    pub host: String,
    /// What to do.
    pub action: Action,
    /// Variables exported to the child process (never logged).
    pub env: Vec<(String, String)>,
    /// Working directory; a missing directory fails the task.
    pub chdir: Option<String>,
    /// Skip the task when this path exists.
    pub creates: Option<String>,
    /// Skip the task unless this path exists.
    pub removes: Option<String>,
    /// Kill the task (and its process group) after this long, reporting
    /// [`ExecError::Timeout`]. (A copy already under way still finishes.)
    pub timeout: Option<Duration>,
    /// Who to log in as on a remote host (None: the current user). [`LocalAgent`] ignores it.
    pub user: Option<String>,
    /// Password for a remote login; never logged or stored.
    pub password: Option<crate::secret::Secret>,
    /// Private key file for a remote login.
    pub key_file: Option<std::path::PathBuf>,
}

impl ExecTask {
    /// A task named `name` on host `127.0.0.1` with no modifiers.
    ///
    /// ```
    /// use actuator::exec::{Action, ExecTask};
    ///
    /// let task = ExecTask::new("check", Action::Ping);
    /// assert_eq!(task.host, "127.0.0.1");
    /// assert!(task.env.is_empty() && task.timeout.is_none());
    /// ```
    pub fn new(name: impl Into<String>, action: Action) -> Self {
        ExecTask {
            name: name.into(),
            host: "127.0.0.1".into(),
            action,
            env: Vec::new(),
            chdir: None,
            creates: None,
            removes: None,
            timeout: None,
            user: None,
            password: None,
            key_file: None,
        }
    }

    /// Sets the target host.
    ///
    /// ```
    /// # use actuator::exec::{Action, ExecTask};
    /// assert_eq!(ExecTask::new("t", Action::Ping).host("db1").host, "db1");
    /// ```
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Adds an exported environment variable.
    ///
    /// ```
    /// # use actuator::exec::{Action, ExecTask};
    /// let task = ExecTask::new("t", Action::Ping).env("A", "1").env("B", "2");
    /// assert_eq!(task.env, vec![("A".into(), "1".into()), ("B".into(), "2".into())]);
    /// ```
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Sets the working directory.
    ///
    /// ```
    /// # use actuator::exec::{Action, ExecTask};
    /// assert_eq!(ExecTask::new("t", Action::Ping).chdir("/tmp").chdir.as_deref(), Some("/tmp"));
    /// ```
    pub fn chdir(mut self, dir: impl Into<String>) -> Self {
        self.chdir = Some(dir.into());
        self
    }

    /// Skips the task when `path` exists.
    ///
    /// ```
    /// # use actuator::exec::{Action, ExecTask};
    /// assert!(ExecTask::new("t", Action::Ping).creates("/x").creates.is_some());
    /// ```
    pub fn creates(mut self, path: impl Into<String>) -> Self {
        self.creates = Some(path.into());
        self
    }

    /// Skips the task unless `path` exists.
    ///
    /// ```
    /// # use actuator::exec::{Action, ExecTask};
    /// assert!(ExecTask::new("t", Action::Ping).removes("/x").removes.is_some());
    /// ```
    pub fn removes(mut self, path: impl Into<String>) -> Self {
        self.removes = Some(path.into());
        self
    }

    /// Sets the time limit.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use actuator::exec::{Action, ExecTask};
    /// let task = ExecTask::new("t", Action::Ping).timeout(Duration::from_secs(5));
    /// assert_eq!(task.timeout, Some(Duration::from_secs(5)));
    /// ```
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }
}

impl fmt::Debug for ExecTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env_names: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExecTask")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("action", &self.action)
            .field("env", &env_names)
            .field("chdir", &self.chdir)
            .field("creates", &self.creates)
            .field("removes", &self.removes)
            .field("timeout", &self.timeout)
            .field("user", &self.user)
            .field("password", &self.password)
            .field("key_file", &self.key_file)
            .finish()
    }
}

/// What a task does.
///
/// ```
/// use actuator::exec::Action;
///
/// assert_eq!(Action::command(["ls", "-l"]).kind(), "command");
/// assert_eq!(Action::Ping.kind(), "ping");
/// ```
#[derive(Clone)]
pub enum Action {
    /// Checks that the host is reachable (locally: always succeeds, prints `pong`).
    Ping,
    /// A program and its arguments, one string per argument, run with no
    /// shell: `["echo", "$HOME;", "rm x"]` passes `$HOME;` and `rm x` to `echo`
    /// literally, as two arguments (remote agents quote each one). The program
    /// is looked up in `PATH` unless it contains a `/` (then it is relative to
    /// the working directory). An empty list is [`ExecError::BadCommand`].
    ///
    /// Build it with [`Action::command`]; a configuration model's
    /// `CommandTask` splits its line into words *before* expanding the
    /// `!{VAR}`s in each, so a value is always (part of) exactly one argument.
    Command(Vec<String>),
    /// A line run by `/bin/sh -c`: pipes, redirections and `$VAR` work.
    Shell(String),
    /// A script copied to a private temporary file (mode 0700), run with
    /// `args`, and removed afterwards, also after a failure or timeout.
    ///
    /// A first line `#!interpreter [arg]` selects the interpreter as the
    /// kernel would; without one the script runs under `/bin/sh`.
    Script {
        /// The script on the controller; read when `content` is `None`.
        path: PathBuf,
        /// Arguments passed to the script (no shell involved).
        args: Vec<String>,
        /// The already template-expanded script text, used instead of `path`'s.
        content: Option<String>,
    },
    /// Writes a file from inline content or copies a file or directory.
    Copy(CopySpec),
}

impl Action {
    /// [`Action::Command`] of `argv`: the program, then its arguments.
    ///
    /// ```
    /// use actuator::exec::Action;
    ///
    /// let Action::Command(argv) = Action::command(["touch", "a file; rm -rf /"]) else { unreachable!() };
    /// assert_eq!(argv, ["touch", "a file; rm -rf /"]);
    /// ```
    pub fn command<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Action {
        Action::Command(argv.into_iter().map(Into::into).collect())
    }

    /// A short name for the action kind, for logs and messages.
    ///
    /// ```
    /// use actuator::exec::{Action, CopySpec};
    /// assert_eq!(Action::Copy(CopySpec::default()).kind(), "copy");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Ping => "ping",
            Action::Command(_) => "command",
            Action::Shell(_) => "shell",
            Action::Script { .. } => "script",
            Action::Copy(_) => "copy",
        }
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Ping => f.write_str("Ping"),
            Action::Command(c) => f.debug_tuple("Command").field(c).finish(),
            Action::Shell(c) => f.debug_tuple("Shell").field(c).finish(),
            Action::Script {
                path,
                args,
                content,
            } => f
                .debug_struct("Script")
                .field("path", path)
                .field("args", args)
                .field("content", &content.as_ref().map(|c| Redacted(c.len())))
                .finish(),
            Action::Copy(spec) => f.debug_tuple("Copy").field(spec).finish(),
        }
    }
}

/// Shows `<N bytes>` instead of text that may hold secrets.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

/// What [`Action::Copy`] writes, and how.
///
/// Exactly one of `src` and `content` must be set.
///
/// * `content`: written to the file `dest` (atomically, through a temporary
///   file in the same directory). Mode: `mode`, else the existing file's,
///   else 0644.
/// * `src` is a file: copied to `dest`, or into `dest` when `dest` ends with
///   `/` or is an existing directory. Mode: `mode`, else the source's.
/// * `src` is a directory: copied recursively. With a trailing `/` its
///   *contents* go into `dest`; without one the directory itself is copied
///   into `dest` (`src = "conf"` gives `dest/conf/…`), as rsync and Ansible
///   do. `mode` applies to every regular file; directories keep the source's
///   modes; symbolic links are recreated as links.
///
/// Missing parent directories of the destination are created. `owner` and
/// `group` (names or numeric ids) apply to everything written; when not
/// given, an overwritten file keeps its owner. With a `template`, every
/// regular file's text (and `content`) is passed through it; a file that is
/// not UTF-8 text is an [`ExecError::Template`] naming it.
///
/// `Debug` shows the content's length only.
///
/// ```
/// use actuator::exec::{Action, CopySpec};
///
/// let action = Action::Copy(CopySpec {
///     dest: "/etc/app/app.conf".into(),
///     content: Some("password=s3cret\n".into()),
///     mode: Some(0o600),
///     owner: Some("root".into()),
///     ..CopySpec::default()
/// });
/// assert!(!format!("{action:?}").contains("s3cret"));
/// ```
#[derive(Clone, Default)]
pub struct CopySpec {
    /// Destination path on the host.
    pub dest: String,
    /// Source file or directory on the controller.
    pub src: Option<PathBuf>,
    /// Inline text to write to `dest`.
    pub content: Option<String>,
    /// Permission bits for written files, e.g. `0o640`.
    pub mode: Option<u32>,
    /// Owner: a user name or a numeric uid.
    pub owner: Option<String>,
    /// Group: a group name or a numeric gid.
    pub group: Option<String>,
    /// Applied to `content` and to every copied regular file's text.
    pub template: Option<Template>,
}

impl fmt::Debug for CopySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopySpec")
            .field("dest", &self.dest)
            .field("src", &self.src)
            .field("content", &self.content.as_ref().map(|c| Redacted(c.len())))
            .field("mode", &self.mode.map(|m| format!("{m:o}")))
            .field("owner", &self.owner)
            .field("group", &self.group)
            .field("template", &self.template.as_ref().map(|_| "<fn>"))
            .finish()
    }
}

/// The result of a successful (or skipped) task.
///
/// ```
/// use actuator::exec::ExecOutput;
///
/// let out = ExecOutput::default();
/// assert_eq!(out.status, 0);
/// assert!(out.skipped.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit status (always 0 on success).
    pub status: i32,
    /// Captured standard output (invalid UTF-8 replaced).
    pub stdout: String,
    /// Captured standard error (invalid UTF-8 replaced).
    pub stderr: String,
    /// Why the task was skipped (`creates`/`removes`), if it was.
    pub skipped: Option<String>,
}

/// Runs tasks on a host: [`LocalAgent`] here, an SSH transport later.
///
/// The trait is object safe, so an orchestrator can hold `Arc<dyn ExecAgent>`
/// and run many tasks concurrently.
///
/// ```
/// use std::sync::Arc;
/// use actuator::exec::{Action, ExecAgent, ExecTask, LocalAgent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let agent: Arc<dyn ExecAgent> = Arc::new(LocalAgent::new());
/// let runs = (0..3).map(|i| agent.run(ExecTask::new(format!("t{i}"), Action::command(["echo".to_string(), i.to_string()]))));
/// let outs = futures::future::join_all(runs).await;
/// let texts: Vec<String> = outs.into_iter().map(|o| o.unwrap().stdout).collect();
/// assert_eq!(texts, ["0\n", "1\n", "2\n"]);
/// # }
/// ```
pub trait ExecAgent: Send + Sync {
    /// Runs `task`. A non-zero exit is [`ExecError::Failed`]; a task skipped
    /// by `creates`/`removes` is `Ok` with [`ExecOutput::skipped`] set.
    ///
    /// ```
    /// use actuator::exec::{Action, ExecAgent, ExecError, ExecTask, LocalAgent};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let task = ExecTask::new("deploy", Action::Shell("echo boom >&2; exit 4".into()));
    /// let err = LocalAgent::new().run(task).await.unwrap_err();
    /// assert!(matches!(&err, ExecError::Failed { status: 4, stderr_tail, .. } if stderr_tail == "boom"));
    /// assert_eq!(err.to_string(), "task `deploy` failed with exit status 4: boom");
    /// # }
    /// ```
    fn run(&self, task: ExecTask) -> BoxFuture<'_, Result<ExecOutput, ExecError>>;
}
