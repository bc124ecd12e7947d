//! Running one command line on a channel of a pooled connection, and turning
//! what came back into the local agent's results.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use russh::client::Msg;
use russh::{ChannelMsg, ChannelWriteHalf, Sig};
use tokio::time::Instant;
use tracing::debug;

use super::pool::Conn;
use super::script::{self, MARK_STATUS, Marker, Remote};
use actuator::exec::support::{
    DRAIN_GRACE, STDERR_TAIL_LINES, errno_error, push_capped, tail_lines,
};
use actuator::exec::{Action, ExecError, ExecOutput, ExecTask};

/// When a task must end, and its limit (for the message).
pub(crate) type Deadline = (Instant, Duration);

/// Why running on a connection failed.
pub(crate) enum RemoteFailure {
    /// The connection is unusable and nothing ran: reconnect and try again.
    Broken(String),
    /// The task's own failure.
    Exec(ExecError),
}

impl From<ExecError> for RemoteFailure {
    fn from(e: ExecError) -> Self {
        RemoteFailure::Exec(e)
    }
}

/// After a timeout's signal, how long the remote script gets to kill its group.
const KILL_GRACE: Duration = Duration::from_secs(1);

/// What a command left.
pub(crate) struct Raw {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Runs `remote` for `task` and interprets the result as the local agent would.
pub(crate) async fn line(
    conn: &Arc<Conn>,
    task: &ExecTask,
    remote: &Remote,
    deadline: Option<Deadline>,
) -> Result<ExecOutput, RemoteFailure> {
    let raw = exec(conn, task, remote, deadline).await?;
    Ok(interpret(task, raw)?)
}

/// What the checks every task's script starts with decided (see `script::prelude`): skip the
/// task, or fail it because its working directory cannot be entered. `None`: they passed.
pub(crate) fn checks(task: &ExecTask, raw: &Raw) -> Option<Result<ExecOutput, ExecError>> {
    match script::marker(&raw.stderr)? {
        Marker::SkipCreates if raw.status == 0 => {
            let creates = task.creates.as_deref().unwrap_or_default();
            Some(Ok(skipped(format!("creates: `{creates}` exists"))))
        }
        Marker::SkipRemoves if raw.status == 0 => {
            let removes = task.removes.as_deref().unwrap_or_default();
            Some(Ok(skipped(format!("removes: `{removes}` does not exist"))))
        }
        Marker::Chdir(errno) if raw.status == MARK_STATUS => {
            // Named as resolved, as the local agent does: a relative directory is relative to
            // where the session started, which the script printed.
            let dir = task.chdir.clone().unwrap_or_default();
            let base = String::from_utf8_lossy(&raw.stdout);
            let base = base.strip_suffix('\n').unwrap_or(&base);
            let path = if dir.starts_with('/') || base.is_empty() {
                PathBuf::from(dir)
            } else {
                Path::new(base).join(dir)
            };
            Some(Err(ExecError::Chdir {
                task: task.name.clone(),
                path,
                source: errno_error(&errno),
            }))
        }
        _ => None,
    }
}

/// The result of a command, from its status, output and marker line.
fn interpret(task: &ExecTask, raw: Raw) -> Result<ExecOutput, ExecError> {
    if let Some(decided) = checks(task, &raw) {
        return decided;
    }
    match script::marker(&raw.stderr) {
        Some(Marker::Spawn(errno)) if raw.status == 127 || raw.status == 126 => {
            let program = match &task.action {
                Action::Command(argv) => argv.first().cloned().unwrap_or_default(),
                _ => String::new(),
            };
            return Err(ExecError::Spawn {
                task: task.name.clone(),
                program,
                source: errno_error(&errno),
            });
        }
        Some(Marker::TempScript(what)) if raw.status == MARK_STATUS => {
            return Err(ExecError::Io {
                task: task.name.clone(),
                op: "create a temporary script in",
                path: PathBuf::from("$TMPDIR"),
                source: io::Error::other(what),
            });
        }
        _ => {}
    }
    let stdout = String::from_utf8_lossy(&raw.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&raw.stderr).into_owned();
    if raw.status != 0 {
        return Err(ExecError::Failed {
            task: task.name.clone(),
            status: raw.status,
            stderr_tail: tail_lines(&stderr, STDERR_TAIL_LINES),
        });
    }
    Ok(ExecOutput {
        status: 0,
        stdout,
        stderr,
        skipped: None,
    })
}

fn skipped(reason: String) -> ExecOutput {
    ExecOutput {
        skipped: Some(reason),
        ..ExecOutput::default()
    }
}

/// Closes the channel when dropped before [`CloseGuard::close`]: a task
/// future dropped mid-way (the orchestration was cancelled) must not leave a
/// session open on the host, nor its command running. The command is sent
/// `TERM` first, on which the remote script kills its process group — what
/// the local agent does to its child's group when its future is dropped.
struct CloseGuard(Option<ChannelWriteHalf<Msg>>);

impl CloseGuard {
    fn tx(&self) -> &ChannelWriteHalf<Msg> {
        self.0.as_ref().expect("open until closed")
    }

    async fn close(mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.close().await;
        }
    }
}

impl Drop for CloseGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = tx.signal(Sig::TERM).await;
                let _ = tx.close().await;
            });
        }
    }
}

/// Opens a channel, runs `remote` on it and collects status and output, until
/// `deadline` (then the remote process group is signalled and the result is
/// [`ExecError::Timeout`]).
pub(crate) async fn exec(
    conn: &Arc<Conn>,
    task: &ExecTask,
    remote: &Remote,
    deadline: Option<Deadline>,
) -> Result<Raw, RemoteFailure> {
    let connection_error = |message: String| {
        RemoteFailure::Exec(ExecError::Connection {
            task: task.name.clone(),
            host: conn.label.clone(),
            message,
        })
    };
    let _permit = conn
        .channels
        .acquire()
        .await
        .map_err(|_| RemoteFailure::Broken("the connection is closing".into()))?;
    let channel = open_channel(conn).await.map_err(|(e, broken)| {
        let message = format!("cannot open a channel: {e}");
        if broken {
            RemoteFailure::Broken(message)
        } else {
            connection_error(message)
        }
    })?;
    conn.count_channel();
    let (mut rx, tx) = channel.split();
    let guard = CloseGuard(Some(tx));
    if let Err(e) = guard.tx().exec(true, remote.line.as_bytes()).await {
        return Err(RemoteFailure::Broken(format!(
            "cannot send the command: {e}"
        )));
    }
    let mut input = Box::pin(async {
        if let Some(data) = &remote.stdin {
            guard.tx().data(&data[..]).await?;
        }
        guard.tx().eof().await
    });
    let mut input_done = false;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut status: Option<i32> = None;
    let mut grace: Option<Instant> = None;
    let far = Instant::now() + Duration::from_secs(365 * 24 * 3600);
    let timeout_at = deadline.map_or(far, |(at, _)| at);
    let mut timed_out = false;
    let mut refused = false;
    loop {
        let wake = match (grace, timed_out) {
            (Some(g), _) => g,
            (None, false) => timeout_at,
            (None, true) => far,
        };
        tokio::select! {
            r = &mut input, if !input_done => {
                input_done = true;
                if let Err(e) = r {
                    debug!(task = %task.name, error = %e, "could not send all input");
                }
            }
            msg = rx.wait() => match msg {
                Some(ChannelMsg::Data { data }) => push_capped(&mut stdout, &data),
                Some(ChannelMsg::ExtendedData { data, ext: 1 }) => push_capped(&mut stderr, &data),
                Some(ChannelMsg::ExitStatus { exit_status }) => {
                    status = Some(i32::try_from(exit_status).unwrap_or(i32::MAX));
                    grace.get_or_insert(Instant::now() + DRAIN_GRACE);
                }
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    status = Some(128 + signal_number(&signal_name));
                    grace.get_or_insert(Instant::now() + DRAIN_GRACE);
                }
                Some(ChannelMsg::Failure) if status.is_none() => {
                    refused = true;
                    break;
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            () = tokio::time::sleep_until(wake) => {
                if grace.is_some() {
                    break;
                }
                // The deadline: ask the remote script to kill its process group.
                timed_out = true;
                let _ = guard.tx().signal(Sig::TERM).await;
                grace = Some(Instant::now() + KILL_GRACE);
            }
        }
    }
    drop(input);
    guard.close().await;
    if refused {
        return Err(connection_error(
            "the host refused to run the command".into(),
        ));
    }
    if timed_out {
        let after = deadline.map(|(_, limit)| limit).unwrap_or_default();
        return Err(RemoteFailure::Exec(ExecError::Timeout {
            task: task.name.clone(),
            after,
        }));
    }
    match status {
        Some(status) => Ok(Raw {
            status,
            stdout,
            stderr,
        }),
        None => Err(connection_error(
            "the channel closed before the command reported an exit status".into(),
        )),
    }
}

/// How long to keep asking for a channel the host refuses for lack of sessions.
const OPEN_PATIENCE: Duration = Duration::from_secs(10);

/// Opens a session channel. sshd refuses one beyond `MaxSessions`, which a
/// channel just closed may still count: such refusals are retried for a
/// while. The flag says whether the connection itself is broken.
async fn open_channel(conn: &Conn) -> Result<russh::Channel<Msg>, (russh::Error, bool)> {
    let give_up = Instant::now() + OPEN_PATIENCE;
    let mut pause = Duration::from_millis(2);
    loop {
        match conn.handle.channel_open_session().await {
            Ok(channel) => return Ok(channel),
            Err(e) if conn.handle.is_closed() => return Err((e, true)),
            Err(russh::Error::ChannelOpenFailure(
                russh::ChannelOpenFailure::AdministrativelyProhibited
                | russh::ChannelOpenFailure::ConnectFailed
                | russh::ChannelOpenFailure::ResourceShortage,
            )) if Instant::now() + pause < give_up => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err((e, false)),
        }
    }
}

/// The number of a signal, for the exit status 128 + N.
fn signal_number(sig: &Sig) -> i32 {
    match sig {
        Sig::HUP => 1,
        Sig::INT => 2,
        Sig::QUIT => 3,
        Sig::ILL => 4,
        Sig::ABRT => 6,
        Sig::FPE => 8,
        Sig::KILL => 9,
        Sig::USR1 => 10,
        Sig::SEGV => 11,
        Sig::PIPE => 13,
        Sig::ALRM => 14,
        Sig::TERM => 15,
        Sig::Custom(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> ExecTask {
        ExecTask::new("t", Action::command(["make"]))
            .chdir("/srv")
            .creates("done")
            .removes("todo")
    }

    fn raw(status: i32, stderr: &str) -> Raw {
        Raw {
            status,
            stdout: b"out".to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn markers_become_the_local_agents_results() {
        let out = interpret(&task(), raw(0, "\u{1e}actuator:skip:creates\n")).unwrap();
        assert_eq!(out.skipped.as_deref(), Some("creates: `done` exists"));
        let out = interpret(&task(), raw(0, "\u{1e}actuator:skip:removes\n")).unwrap();
        assert_eq!(
            out.skipped.as_deref(),
            Some("removes: `todo` does not exist")
        );
        let err = interpret(&task(), raw(113, "\u{1e}actuator:chdir:ENOENT\n")).unwrap_err();
        assert!(
            matches!(&err, ExecError::Chdir { path, source, .. } if path == std::path::Path::new("/srv") && source.kind() == io::ErrorKind::NotFound)
        );
        let err = interpret(&task(), raw(127, "\u{1e}actuator:spawn:ENOENT\n")).unwrap_err();
        assert!(matches!(&err, ExecError::Spawn { program, .. } if program == "make"));
        // A marker with another status is the command's own output.
        let err = interpret(&task(), raw(3, "\u{1e}actuator:skip:creates\n")).unwrap_err();
        assert!(matches!(err, ExecError::Failed { status: 3, .. }));
    }

    #[test]
    fn failures_keep_the_stderr_tail() {
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let err = interpret(&task(), raw(2, &text)).unwrap_err();
        match err {
            ExecError::Failed {
                status,
                stderr_tail,
                ..
            } => {
                assert_eq!(status, 2);
                assert!(stderr_tail.starts_with("line 11\n") && stderr_tail.ends_with("line 30"));
            }
            other => panic!("{other:?}"),
        }
        let out = interpret(&task(), raw(0, "warning")).unwrap();
        assert_eq!(
            (out.stdout.as_str(), out.stderr.as_str()),
            ("out", "warning")
        );
    }
}
