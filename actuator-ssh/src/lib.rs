//! [`SshAgent`]: runs configuration tasks on remote hosts over SSH, with the
//! same meaning as [`LocalAgent`](actuator::exec::LocalAgent) for every action.
//!
//! The transport is [`russh`] (pure async Rust) for the connection and the
//! command channels, and [`russh_sftp`] for file transfer. One connection per
//! `(host, port, user)` is opened on first use and reused by every later task
//! for that login: each command runs on its own channel (a few milliseconds on
//! an open connection, against tens for a new handshake), and copies share one
//! SFTP session per connection.
//!
//! # How each action runs
//!
//! Every command is one remote line, `exec /bin/sh -c '<script>'`, whatever
//! the login shell, so the semantics are the local agent's `/bin/sh`:
//!
//! * the script changes to `chdir`, checks `creates` / `removes`, then sets
//!   the environment, which travels on the channel's standard input rather
//!   than in the command line (any user of the host can read command lines in
//!   the process list): one line of assignments whose values are rebuilt by
//!   `printf` from octal escapes, so no value can be read as shell syntax;
//! * [`Action::Command`]: every argument is quoted, so each reaches the
//!   program as exactly one argument, `$HOME;` or `$(id)` literally;
//! * [`Action::Shell`] is run by a nested `/bin/sh -c` (the point of a shell
//!   task), so its own syntax errors stay its own;
//! * [`Action::Script`] is sent on the channel's standard input into a private
//!   (0700) temporary directory made by `mktemp -d`, run through its `#!`
//!   interpreter (else `/bin/sh`) with quoted arguments, and removed
//!   afterwards, also after a failure or a timeout;
//! * [`Action::Copy`] writes over SFTP: each file goes to a temporary file in
//!   the destination directory, gets its owner and mode, and is renamed over
//!   the target (`posix-rename@openssh.com`), as the local agent does;
//!   owner and group names are resolved on the host;
//! * [`Action::Ping`] opens (or reuses) the connection and runs `printf pong`.
//!
//! Relative paths (`chdir`, `creates`, `removes`, a copy's `dest`) are relative
//! to the remote user's home directory, where SSH sessions start; controller
//! paths (a script's `path`, a copy's `src`) are relative to this process's
//! current directory.
//!
//! A task's time limit ([`ExecTask::timeout`], else
//! [`SshOptions::command_timeout`]) ends the remote command and every process
//! it started: the remote script runs the action in the background, waits for
//! it, and on the `TERM` signal the agent sends kills its whole process group.
//!
//! # Credentials
//!
//! The user is the task's ([`ExecTask::user`], which the config model fills
//! from the task, its wrapper and the model's `defaults`), else
//! [`SshOptions::default_user`], else the current user. Authentication tries
//! the task's key file (else [`SshOptions::default_key`]), then the task's
//! password; with neither, the keys of a running `ssh-agent` and then
//! `~/.ssh/id_ed25519`, `id_ecdsa` and `id_rsa`. Passwords, key material and
//! environment values are never logged nor kept after the handshake.
//! Credentials are used when a connection opens: later tasks for the same
//! `(host, port, user)` share it, whatever credentials they carry.
//!
//! # Host keys
//!
//! [`HostKeyPolicy::AcceptNew`] (the default, on `~/.ssh/known_hosts`) records
//! the key of a host seen for the first time; [`HostKeyPolicy::Strict`] refuses
//! it. A host whose key differs from the recorded one is always refused, with
//! the host and both fingerprints in the message.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use actuator::exec::{Action, ExecAgent, ExecTask};
//! use actuator_ssh::{HostKeyPolicy, SshAgent, SshOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let agent = SshAgent::new(SshOptions {
//!     port: 2222,
//!     default_user: Some("deploy".into()),
//!     default_key: Some("/home/me/.ssh/id_ed25519".into()),
//!     host_keys: HostKeyPolicy::AcceptNew("/home/me/.ssh/known_hosts".into()),
//!     ..SshOptions::default()
//! });
//! let task = ExecTask::new("hello", Action::command(["uname", "-n"])).host("10.0.0.5");
//! let out = agent.run(task).await.unwrap();
//! println!("{}", out.stdout);
//! // Hand it to an orchestration: `ActuatorOrchestration::new("sys").agent(Arc::new(agent))`.
//! # let _ = Arc::new(agent);
//! # }
//! ```

mod auth;
mod copy;
mod known_hosts;
mod pool;
mod run;
mod script;
mod sftp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tracing::debug;

use actuator::exec::support::validate;
use actuator::exec::{Action, ExecAgent, ExecError, ExecOutput, ExecTask};

pub use known_hosts::HostKeyPolicy;

use pool::{Conn, Login, Pool};

/// How an [`SshAgent`] connects.
///
/// `Debug` shows no secrets (there are none here: passwords travel with the
/// task, as a [`Secret`](actuator::secret::Secret)).
///
/// ```
/// use std::time::Duration;
/// use actuator_ssh::SshOptions;
///
/// let options = SshOptions { port: 2222, max_handshakes: 4, ..SshOptions::default() };
/// assert_eq!(options.connect_timeout, Duration::from_secs(10));
/// assert!(options.default_user.is_none());
/// ```
#[derive(Clone, Debug)]
pub struct SshOptions {
    /// Port used when a host does not give one (`"10.0.0.5:2200"` and
    /// `"[fd00::5]:2200"` do).
    pub port: u16,
    /// User for tasks that name none (else the current user).
    pub default_user: Option<String>,
    /// Private key for tasks that give neither a key file nor a password.
    pub default_key: Option<PathBuf>,
    /// How host keys are checked.
    pub host_keys: HostKeyPolicy,
    /// Limit on TCP connect + key exchange + authentication.
    pub connect_timeout: Duration,
    /// Time limit of tasks that set none ([`ExecTask::timeout`] wins).
    pub command_timeout: Option<Duration>,
    /// Interval of keepalive messages on idle connections (`None`: none); a
    /// connection that misses three replies is closed and reopened on next use.
    pub keepalive: Option<Duration>,
    /// Most handshakes in progress at once, over all hosts. sshd drops
    /// unauthenticated connections beyond its `MaxStartups` (10 by default).
    pub max_handshakes: usize,
    /// Most command channels open at once on one connection (plus one SFTP
    /// session). sshd refuses sessions beyond its `MaxSessions` (10 by default)
    /// and may still count channels just closed; the agent retries such
    /// refusals for a while, but leaving headroom avoids them.
    pub max_channels: usize,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            port: 22,
            default_user: None,
            default_key: None,
            host_keys: HostKeyPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            command_timeout: None,
            keepalive: Some(Duration::from_secs(30)),
            max_handshakes: 8,
            max_channels: 6,
        }
    }
}

/// Counters of an [`SshAgent`]'s work so far.
///
/// ```
/// use actuator_ssh::{SshAgent, SshOptions};
///
/// let stats = SshAgent::new(SshOptions::default()).stats();
/// assert_eq!((stats.handshakes, stats.channels, stats.open_connections), (0, 0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SshStats {
    /// Connections attempted (TCP connect, key exchange and authentication).
    pub handshakes: u64,
    /// Command channels opened.
    pub channels: u64,
    /// SFTP sessions opened.
    pub sftp_sessions: u64,
    /// Connections in the pool now.
    pub open_connections: usize,
}

/// Runs [`ExecTask`]s on remote hosts over SSH; see the [module](self) docs.
///
/// Cloning is cheap and shares the connection pool.
///
/// ```no_run
/// use std::sync::Arc;
/// use actuator_ssh::{SshAgent, SshOptions};
/// use actuator::orchestrate::ActuatorOrchestration;
///
/// let agent = SshAgent::new(SshOptions { port: 2222, ..SshOptions::default() });
/// let orchestration = ActuatorOrchestration::new("my-system").agent(Arc::new(agent));
/// ```
#[derive(Clone)]
pub struct SshAgent {
    inner: Arc<Inner>,
}

struct Inner {
    options: SshOptions,
    pool: Pool,
}

impl std::fmt::Debug for SshAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshAgent")
            .field("options", &self.inner.options)
            .field("stats", &self.stats())
            .finish()
    }
}

impl SshAgent {
    /// An agent with `options`; nothing connects until a task runs.
    ///
    /// ```
    /// use actuator_ssh::{SshAgent, SshOptions};
    /// let agent = SshAgent::new(SshOptions { port: 2222, ..SshOptions::default() });
    /// assert_eq!(agent.options().port, 2222);
    /// ```
    pub fn new(options: SshOptions) -> Self {
        let pool = Pool::new(&options);
        SshAgent {
            inner: Arc::new(Inner { options, pool }),
        }
    }

    /// The options the agent was made with.
    ///
    /// ```
    /// use actuator_ssh::{SshAgent, SshOptions};
    /// assert_eq!(SshAgent::new(SshOptions::default()).options().port, 22);
    /// ```
    pub fn options(&self) -> &SshOptions {
        &self.inner.options
    }

    /// Counters: handshakes, channels, SFTP sessions, open connections.
    ///
    /// ```
    /// use actuator_ssh::{SshAgent, SshOptions};
    /// assert_eq!(SshAgent::new(SshOptions::default()).stats().handshakes, 0);
    /// ```
    pub fn stats(&self) -> SshStats {
        self.inner.pool.stats()
    }

    /// Disconnects every pooled connection (later tasks connect again).
    ///
    /// ```
    /// use actuator_ssh::{SshAgent, SshOptions};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let agent = SshAgent::new(SshOptions::default());
    /// agent.disconnect_all().await;
    /// assert_eq!(agent.stats().open_connections, 0);
    /// # }
    /// ```
    pub async fn disconnect_all(&self) {
        self.inner.pool.disconnect_all().await;
    }

    async fn execute(&self, task: ExecTask) -> Result<ExecOutput, ExecError> {
        let started = std::time::Instant::now();
        let env_names: Vec<&str> = task.env.iter().map(|(k, _)| k.as_str()).collect();
        debug!(
            task = %task.name,
            host = %task.host,
            user = ?task.user,
            kind = task.action.kind(),
            env = ?env_names,
            chdir = ?task.chdir,
            "running task over ssh"
        );
        let limit = task.timeout.or(self.inner.options.command_timeout);
        let result = self.execute_inner(&task, limit).await;
        match &result {
            Ok(out) => {
                debug!(task = %task.name, status = out.status, skipped = ?out.skipped, elapsed = ?started.elapsed(), "task done")
            }
            Err(err) => {
                debug!(task = %task.name, error = %err.brief(), elapsed = ?started.elapsed(), "task failed")
            }
        }
        result
    }

    async fn execute_inner(
        &self,
        task: &ExecTask,
        limit: Option<Duration>,
    ) -> Result<ExecOutput, ExecError> {
        // Everything that can be refused without the host is refused before connecting.
        validate(task)?;
        let job = Job::plan(task).await?;
        let login = Login::for_task(task, &self.inner.options).map_err(|message| {
            ExecError::Connection {
                task: task.name.clone(),
                host: task.host.clone(),
                message,
            }
        })?;
        let deadline = limit.map(|l| (tokio::time::Instant::now() + l, l));
        let work = async {
            // A connection found broken when a channel cannot be opened is replaced once.
            let mut retried = false;
            loop {
                let conn = self.inner.pool.get(&task.name, &login).await?;
                match job.run(&conn, task, deadline).await {
                    Err(run::RemoteFailure::Broken(message)) => {
                        self.inner.pool.evict(&login, &conn);
                        if retried {
                            return Err(ExecError::Connection {
                                task: task.name.clone(),
                                host: login.label(),
                                message,
                            });
                        }
                        debug!(task = %task.name, %message, "connection broken; reconnecting");
                        retried = true;
                    }
                    Err(run::RemoteFailure::Exec(e)) => return Err(e),
                    Ok(out) => return Ok(out),
                }
            }
        };
        match deadline {
            // Commands and copies enforce the deadline themselves (a command must
            // signal the host, a copy under way finishes); this outer limit covers
            // connecting.
            Some((at, limit)) => match tokio::time::timeout_at(at + GRACE, work).await {
                Ok(result) => result,
                Err(_) => Err(ExecError::Timeout {
                    task: task.name.clone(),
                    after: limit,
                }),
            },
            None => work.await,
        }
    }
}

/// Extra time the outer limit gives a command to report its own timeout.
const GRACE: Duration = Duration::from_secs(2);

impl ExecAgent for SshAgent {
    fn run(&self, task: ExecTask) -> BoxFuture<'_, Result<ExecOutput, ExecError>> {
        Box::pin(self.execute(task))
    }
}

/// What a task does on the host, prepared before connecting.
enum Job {
    /// One remote command line, with optional standard input.
    Line(script::Remote),
    /// A copy over SFTP.
    Copy,
}

impl Job {
    async fn plan(task: &ExecTask) -> Result<Job, ExecError> {
        Ok(match &task.action {
            Action::Copy(_) => Job::Copy,
            Action::Script {
                path,
                content: None,
                ..
            } => {
                let text = tokio::fs::read(path)
                    .await
                    .map_err(|source| ExecError::Io {
                        task: task.name.clone(),
                        op: "read script",
                        path: path.clone(),
                        source,
                    })?;
                Job::Line(script::build(task, Some(&text))?)
            }
            Action::Script {
                content: Some(text),
                ..
            } => Job::Line(script::build(task, Some(text.as_bytes()))?),
            _ => Job::Line(script::build(task, None)?),
        })
    }

    async fn run(
        &self,
        conn: &Arc<Conn>,
        task: &ExecTask,
        deadline: Option<run::Deadline>,
    ) -> Result<ExecOutput, run::RemoteFailure> {
        match (self, &task.action) {
            (Job::Line(remote), _) => run::line(conn, task, remote, deadline).await,
            (Job::Copy, Action::Copy(spec)) => copy::copy(conn, task, spec, deadline).await,
            (Job::Copy, _) => unreachable!("a copy job is planned for copy actions only"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What no host could run is refused before connecting (nothing listens on port 1), with the
    /// local agent's errors.
    #[tokio::test]
    async fn bad_tasks_are_refused_before_connecting() {
        let agent = SshAgent::new(SshOptions {
            port: 1,
            ..SshOptions::default()
        });
        let refused = [
            ExecTask::new("t", Action::Shell("true".into())).env("A", "x\0y"),
            ExecTask::new("t", Action::Shell("true".into())).env("A;B", "1"),
            ExecTask::new("t", Action::command(["echo", "a\0b"])),
            ExecTask::new("t", Action::Shell("true".into())).chdir("a\0b"),
            ExecTask::new("t", Action::Copy(actuator::exec::CopySpec::default())),
        ];
        for task in refused {
            let err = agent.run(task).await.unwrap_err();
            assert!(matches!(err, ExecError::Invalid { .. }), "{err:?}");
        }
        let empty = ExecTask::new("t", Action::command(Vec::<String>::new()));
        let err = agent.run(empty).await.unwrap_err();
        assert_eq!(err.to_string(), "task `t`: bad command: empty command");
        assert_eq!(agent.stats().handshakes, 0);
    }
}
