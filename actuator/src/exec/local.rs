//! [`LocalAgent`]: runs tasks as child processes of this one.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::time::Instant;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tracing::debug;

use crate::exec::support::{
    DRAIN_GRACE, STDERR_TAIL_LINES, Shebang, push_capped, tail_lines, validate,
};
use crate::exec::{Action, ExecAgent, ExecError, ExecOutput, ExecTask, copy};

/// Runs tasks on this machine.
///
/// Each process gets its own process group, no standard input, the task's
/// environment added to this process's, and captured output. On timeout, or
/// when the returned future is dropped, the whole process group is killed;
/// processes a task leaves in the background after exiting normally (daemons)
/// are left alone and do not hold the task up.
///
/// With [`LocalAgent::with_root`], relative paths resolve against the root
/// (see [`ExecTask`] for which path is relative to what).
///
/// ```
/// use actuator::exec::{Action, ExecAgent, ExecTask, LocalAgent};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let dir = tempfile::tempdir().unwrap();
/// let agent = LocalAgent::with_root(dir.path());
/// let task = ExecTask::new("make marker", Action::command(["touch", "made"])).creates("made");
///
/// let first = agent.run(task.clone()).await.unwrap();
/// assert!(first.skipped.is_none() && dir.path().join("made").exists());
///
/// let second = agent.run(task).await.unwrap();
/// assert_eq!(second.skipped.as_deref(), Some("creates: `made` exists"));
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct LocalAgent {
    root: Option<PathBuf>,
}

impl LocalAgent {
    /// An agent whose relative paths are relative to the current directory.
    ///
    /// ```
    /// use actuator::exec::LocalAgent;
    /// assert!(LocalAgent::new().root().is_none());
    /// ```
    pub fn new() -> Self {
        LocalAgent { root: None }
    }

    /// An agent whose relative paths are relative to `root`, which is also
    /// the working directory of tasks without `chdir`.
    ///
    /// ```
    /// use std::path::Path;
    /// use actuator::exec::LocalAgent;
    /// assert_eq!(LocalAgent::with_root("/srv/project").root(), Some(Path::new("/srv/project")));
    /// ```
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        LocalAgent {
            root: Some(root.into()),
        }
    }

    /// The directory relative paths resolve against, if set.
    ///
    /// ```
    /// use actuator::exec::LocalAgent;
    /// assert!(LocalAgent::with_root("/tmp").root().is_some());
    /// ```
    pub fn root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    async fn execute(&self, task: ExecTask) -> Result<ExecOutput, ExecError> {
        let started = Instant::now();
        let env_names: Vec<&str> = task.env.iter().map(|(k, _)| k.as_str()).collect();
        debug!(
            task = %task.name,
            host = %task.host,
            kind = task.action.kind(),
            env = ?env_names,
            chdir = ?task.chdir,
            timeout = ?task.timeout,
            "running task"
        );
        let result = match task.timeout {
            Some(limit) => match tokio::time::timeout(limit, self.execute_inner(&task)).await {
                Ok(result) => result,
                // Dropping the inner future killed the process group and
                // removed any temporary script.
                Err(_) => Err(ExecError::Timeout {
                    task: task.name.clone(),
                    after: limit,
                }),
            },
            None => self.execute_inner(&task).await,
        };
        let elapsed = started.elapsed();
        match &result {
            Ok(out) => {
                debug!(task = %task.name, status = out.status, skipped = ?out.skipped, ?elapsed, "task done")
            }
            Err(err) => debug!(task = %task.name, error = %err, ?elapsed, "task failed"),
        }
        result
    }

    async fn execute_inner(&self, task: &ExecTask) -> Result<ExecOutput, ExecError> {
        validate(task)?;
        if let Action::Ping = task.action {
            return Ok(ExecOutput {
                stdout: "pong".into(),
                ..ExecOutput::default()
            });
        }
        let workdir = self.workdir(task).await?;
        if let Some(reason) = skip_reason(task, workdir.as_deref()).await? {
            debug!(task = %task.name, %reason, "task skipped");
            return Ok(ExecOutput {
                skipped: Some(reason),
                ..ExecOutput::default()
            });
        }
        match &task.action {
            Action::Ping => unreachable!("handled above"),
            Action::Command(argv) => {
                let (program, args) = argv.split_first().expect("validated: not empty");
                // A relative path with a `/` means relative to the working directory.
                let program_path = if program.contains('/') {
                    resolve(workdir.as_deref(), Path::new(program))
                } else {
                    PathBuf::from(program)
                };
                let mut cmd = Command::new(&program_path);
                cmd.args(args);
                run_process(task, cmd, program, workdir.as_deref()).await
            }
            Action::Shell(line) => {
                let mut cmd = Command::new("/bin/sh");
                cmd.arg("-c").arg(line);
                run_process(task, cmd, "/bin/sh", workdir.as_deref()).await
            }
            Action::Script {
                path,
                args,
                content,
            } => {
                self.run_script(task, path, args, content.as_deref(), workdir.as_deref())
                    .await
            }
            Action::Copy(spec) => {
                let src = spec.src.as_deref().map(|s| resolve(self.root(), s));
                let dest = resolve(workdir.as_deref(), Path::new(&spec.dest));
                let (name, spec) = (task.name.clone(), spec.clone());
                let job = tokio::task::spawn_blocking(move || {
                    copy::copy(&name, &spec, src.as_deref(), &dest)
                });
                match job.await {
                    Ok(result) => result.map(|()| ExecOutput::default()),
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    Err(e) => Err(ExecError::Invalid {
                        task: task.name.clone(),
                        message: format!("copy was cancelled: {e}"),
                    }),
                }
            }
        }
    }

    /// The task's working directory: `chdir` (which must be a directory),
    /// else the root.
    async fn workdir(&self, task: &ExecTask) -> Result<Option<PathBuf>, ExecError> {
        let Some(dir) = &task.chdir else {
            return Ok(self.root.clone());
        };
        let path = resolve(self.root(), Path::new(dir));
        let chdir_error = |source| ExecError::Chdir {
            task: task.name.clone(),
            path: path.clone(),
            source,
        };
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_dir() => Ok(Some(path)),
            // The OS's own error, as a remote agent reports it.
            Ok(_) => Err(chdir_error(nix::errno::Errno::ENOTDIR.into())),
            Err(e) => Err(chdir_error(e)),
        }
    }

    async fn run_script(
        &self,
        task: &ExecTask,
        path: &Path,
        args: &[String],
        content: Option<&str>,
        workdir: Option<&Path>,
    ) -> Result<ExecOutput, ExecError> {
        let io_error = |op, path: &Path| {
            let path = path.to_path_buf();
            let task = task.name.clone();
            move |source| ExecError::Io {
                task,
                op,
                path,
                source,
            }
        };
        let text = match content {
            Some(text) => text.as_bytes().to_vec(),
            None => {
                let source = resolve(self.root(), path);
                tokio::fs::read(&source)
                    .await
                    .map_err(io_error("read script", &source))?
            }
        };
        // A private (0700) directory, removed when `dir` is dropped: after
        // the run, on error, and when a timeout drops this future.
        let dir = tempfile::Builder::new()
            .prefix("actuator-script-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(io_error(
                "create a temporary directory in",
                &std::env::temp_dir(),
            ))?;
        let file_name = path
            .file_name()
            .filter(|n| !n.is_empty())
            .unwrap_or(OsStr::new("script"));
        let script = dir.path().join(file_name);
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o700)
            .open(&script)
            .await
            .map_err(io_error("create", &script))?;
        file.write_all(&text)
            .await
            .map_err(io_error("write", &script))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o700))
            .await
            .map_err(io_error("set mode of", &script))?;
        file.shutdown().await.map_err(io_error("write", &script))?;
        drop(file);

        // Run through the interpreter ourselves rather than exec'ing the
        // file: same meaning as the kernel's `#!`, and no ETXTBSY race with
        // other threads forking while the file was open for writing.
        let shebang = Shebang::parse(&text);
        let mut cmd = Command::new(OsStr::from_bytes(shebang.program));
        cmd.args(shebang.arg.map(OsStr::from_bytes))
            .arg(&script)
            .args(args);
        let label = String::from_utf8_lossy(shebang.program).into_owned();
        let result = run_process(task, cmd, &label, workdir).await;
        if let Err(e) = dir.close() {
            debug!(task = %task.name, error = %e, "cannot remove temporary script directory");
        }
        result
    }
}

impl ExecAgent for LocalAgent {
    fn run(&self, task: ExecTask) -> BoxFuture<'_, Result<ExecOutput, ExecError>> {
        Box::pin(self.execute(task))
    }
}

/// `path` made absolute against `base` when relative and a base is known.
fn resolve(base: Option<&Path>, path: &Path) -> PathBuf {
    match base {
        Some(base) if path.is_relative() => base.join(path),
        _ => path.to_path_buf(),
    }
}

/// Why the task is skipped by `creates`/`removes`, if it is.
async fn skip_reason(task: &ExecTask, workdir: Option<&Path>) -> Result<Option<String>, ExecError> {
    let exists = |given: &str| {
        let path = resolve(workdir, Path::new(given));
        async move {
            tokio::fs::try_exists(&path)
                .await
                .map_err(|source| ExecError::Io {
                    task: task.name.clone(),
                    op: "check",
                    path,
                    source,
                })
        }
    };
    if let Some(creates) = &task.creates
        && exists(creates).await?
    {
        return Ok(Some(format!("creates: `{creates}` exists")));
    }
    if let Some(removes) = &task.removes
        && !exists(removes).await?
    {
        return Ok(Some(format!("removes: `{removes}` does not exist")));
    }
    Ok(None)
}

/// Kills a process group when dropped, unless disarmed.
struct GroupKiller(Option<u32>);

impl GroupKiller {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            kill_group(pgid);
        }
    }
}

/// Spawns `cmd` for `task`, waits for it and checks its exit status.
async fn run_process(
    task: &ExecTask,
    mut cmd: Command,
    label: &str,
    workdir: Option<&Path>,
) -> Result<ExecOutput, ExecError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .process_group(0)
        .envs(task.env.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = workdir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|source| ExecError::Spawn {
        task: task.name.clone(),
        program: label.into(),
        source,
    })?;
    // process_group(0): the group id is the child's pid.
    let mut killer = GroupKiller(child.id());
    let (status, stdout, stderr) =
        collect(&mut child, &mut killer)
            .await
            .map_err(|source| ExecError::Io {
                task: task.name.clone(),
                op: "read the output of",
                path: label.into(),
                source,
            })?;
    let status = exit_code(status);
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    if status != 0 {
        return Err(ExecError::Failed {
            task: task.name.clone(),
            status,
            stderr_tail: tail_lines(&stderr, STDERR_TAIL_LINES),
        });
    }
    Ok(ExecOutput {
        status,
        stdout,
        stderr,
        skipped: None,
    })
}

/// The exit code, or 128 + the signal number for a killed process.
fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Reads both output streams while waiting for the child. Once it has
/// exited, disarms `killer` and reads on only while the pipes stay open,
/// for at most [`DRAIN_GRACE`] (background processes may hold them).
async fn collect(
    child: &mut Child,
    killer: &mut GroupKiller,
) -> io::Result<(ExitStatus, Vec<u8>, Vec<u8>)> {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut out_chunk, mut err_chunk) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut status = None;
    let mut grace: Option<Pin<Box<tokio::time::Sleep>>> = None;
    loop {
        if let Some(status) = status
            && stdout.is_none()
            && stderr.is_none()
        {
            return Ok((status, out, err));
        }
        tokio::select! {
            n = read_some(&mut stdout, &mut out_chunk), if stdout.is_some() => match n? {
                0 => stdout = None,
                n => push_capped(&mut out, &out_chunk[..n]),
            },
            n = read_some(&mut stderr, &mut err_chunk), if stderr.is_some() => match n? {
                0 => stderr = None,
                n => push_capped(&mut err, &err_chunk[..n]),
            },
            exited = child.wait(), if status.is_none() => {
                status = Some(exited?);
                killer.disarm();
                grace = Some(Box::pin(tokio::time::sleep(DRAIN_GRACE)));
            },
            () = async { grace.as_mut().expect("guarded").await }, if grace.is_some() => {
                let status = status.expect("grace starts after exit");
                return Ok((status, out, err));
            },
        }
    }
}

async fn read_some<R: AsyncRead + Unpin>(
    stream: &mut Option<R>,
    buf: &mut [u8],
) -> io::Result<usize> {
    match stream {
        Some(stream) => stream.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Sends SIGKILL to every process in process group `pgid` (never our own group or init's).
fn kill_group(pgid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    if let Ok(pgid) = i32::try_from(pgid)
        && pgid > 1
    {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
}
