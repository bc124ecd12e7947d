//! Building blocks shared by execution agents — [`LocalAgent`](super::LocalAgent) here and the
//! SSH agent in `actuator-ssh` — so that every agent captures output, reports a failure, reads a
//! script's `#!` line, renders a copied template and resolves a user the same way. An agent for
//! another transport should use them too: the conformance suite holds every agent to the same
//! meaning.
//!
//! ```
//! use actuator::exec::support::{Shebang, tail_lines};
//!
//! assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
//! let s = Shebang::parse(b"#!/usr/bin/env python3 -u\nprint()");
//! assert_eq!((s.program, s.arg), (&b"/usr/bin/env"[..], Some(&b"python3 -u"[..])));
//! ```

use std::io;
use std::path::Path;
use std::time::Duration;

use super::{Action, ExecError, ExecTask, Template};

/// How many lines of standard error an [`ExecError::Failed`] keeps.
pub const STDERR_TAIL_LINES: usize = 20;

/// At most this much of each output stream is kept (the end of it).
pub const MAX_CAPTURE: usize = 16 << 20;

/// After the process exits, how long to keep reading output that is still being written by
/// processes it left in the background.
pub const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// Appends `data`, keeping only about the last [`MAX_CAPTURE`] bytes.
pub fn push_capped(buf: &mut Vec<u8>, data: &[u8]) {
    buf.extend_from_slice(data);
    if buf.len() > 2 * MAX_CAPTURE {
        buf.drain(..buf.len() - MAX_CAPTURE);
    }
}

/// The last `n` lines of `text`, without the final newline.
pub fn tail_lines(text: &str, n: usize) -> String {
    let trimmed = text.trim_end_matches('\n');
    let lines: Vec<&str> = trimmed.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether `name` can be exported as an environment variable by a POSIX shell: `[A-Za-z_]`
/// then `[A-Za-z0-9_]*`.
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// Refuses what no agent can run, before anything starts or connects, with the same error from
/// every agent:
///
/// * an environment variable name a POSIX shell cannot export ([`ExecError::Invalid`]);
/// * a NUL byte in any value that must reach the host as a C string — an environment value, an
///   argument, the shell line, `chdir` / `creates` / `removes`, a copy's `dest`, `owner` or
///   `group` ([`ExecError::Invalid`]);
/// * an empty `creates` or `removes` path ([`ExecError::Invalid`]);
/// * a command with no program ([`ExecError::BadCommand`]);
/// * a copy without `dest`, or without exactly one of `src` and `content` ([`ExecError::Invalid`]).
///
/// ```
/// use actuator::exec::support::validate;
/// use actuator::exec::{Action, ExecError, ExecTask};
///
/// assert!(validate(&ExecTask::new("t", Action::command(["true"])).env("A", "1")).is_ok());
/// let err = validate(&ExecTask::new("t", Action::command(["echo", "a\0b"]))).unwrap_err();
/// assert_eq!(err.to_string(), "task `t`: invalid task: the command contains a NUL byte");
/// let err = validate(&ExecTask::new("t", Action::command(Vec::<String>::new()))).unwrap_err();
/// assert!(matches!(err, ExecError::BadCommand { .. }));
/// ```
///
/// # Errors
/// As listed above, naming the task and what is wrong.
pub fn validate(task: &ExecTask) -> Result<(), ExecError> {
    let invalid = |message: String| ExecError::Invalid {
        task: task.name.clone(),
        message,
    };
    let no_nul = |what: &str, value: &str| {
        if value.contains('\0') {
            Err(invalid(format!("{what} contains a NUL byte")))
        } else {
            Ok(())
        }
    };
    for (name, value) in &task.env {
        if !valid_env_name(name) {
            return Err(invalid(format!(
                "invalid environment variable name `{name}`"
            )));
        }
        no_nul(&format!("environment variable `{name}`"), value)?;
    }
    for (what, value) in [
        ("`chdir`", &task.chdir),
        ("`creates`", &task.creates),
        ("`removes`", &task.removes),
    ] {
        if let Some(value) = value {
            no_nul(what, value)?;
        }
    }
    // No file is named by an empty path: skipping on one (or not) would be a guess.
    for (what, value) in [("`creates`", &task.creates), ("`removes`", &task.removes)] {
        if value.as_deref() == Some("") {
            return Err(invalid(format!("{what} is an empty path")));
        }
    }
    match &task.action {
        Action::Ping => {}
        Action::Command(argv) => {
            if argv.is_empty() {
                return Err(ExecError::BadCommand {
                    task: task.name.clone(),
                    message: "empty command".into(),
                });
            }
            for arg in argv {
                no_nul("the command", arg)?;
            }
        }
        Action::Shell(line) => no_nul("the shell line", line)?,
        Action::Script { args, .. } => {
            for arg in args {
                no_nul("a script argument", arg)?;
            }
        }
        Action::Copy(spec) => {
            if spec.dest.is_empty() {
                return Err(invalid("copy needs a `dest`".into()));
            }
            if spec.src.is_some() == spec.content.is_some() {
                return Err(invalid(
                    "copy needs exactly one of `src` and `content`".into(),
                ));
            }
            no_nul("`dest`", &spec.dest)?;
            for (what, value) in [("`owner`", &spec.owner), ("`group`", &spec.group)] {
                if let Some(value) = value {
                    no_nul(what, value)?;
                }
            }
        }
    }
    Ok(())
}

/// The error a remote host reported by its `errno` name (`"ENOENT"`, `"ENOTDIR"`, `"EACCES"`),
/// as this machine's operating system error, so that a remote agent's message reads exactly as
/// the local agent's: `No such file or directory (os error 2)`.
///
/// ```
/// use actuator::exec::support::errno_error;
///
/// let err = errno_error("ENOENT");
/// assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
/// assert_eq!(err.to_string(), std::io::Error::from_raw_os_error(2).to_string());
/// assert_eq!(errno_error("EWHATEVER").to_string(), "EWHATEVER");
/// ```
pub fn errno_error(name: &str) -> io::Error {
    use nix::errno::Errno;
    let errno = match name {
        "ENOENT" => Errno::ENOENT,
        "ENOTDIR" => Errno::ENOTDIR,
        "EACCES" => Errno::EACCES,
        "EISDIR" => Errno::EISDIR,
        "ENOEXEC" => Errno::ENOEXEC,
        _ => return io::Error::other(name.to_owned()),
    };
    io::Error::from(errno)
}

/// A script's interpreter, read from its `#!` line as the kernel does: the program, then the
/// rest of the line as one optional argument; `/bin/sh` when there is no `#!` line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shebang<'a> {
    /// The interpreter program.
    pub program: &'a [u8],
    /// Its single argument, if the line has one.
    pub arg: Option<&'a [u8]>,
}

impl<'a> Shebang<'a> {
    /// Reads the interpreter of script `text`.
    pub fn parse(text: &'a [u8]) -> Self {
        if let Some(rest) = text.strip_prefix(b"#!") {
            let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
            let line = line.trim_ascii();
            if !line.is_empty() {
                return match line.iter().position(|&b| b == b' ' || b == b'\t') {
                    Some(at) => {
                        let arg = line[at..].trim_ascii();
                        Shebang {
                            program: &line[..at],
                            arg: (!arg.is_empty()).then_some(arg),
                        }
                    }
                    None => Shebang {
                        program: line,
                        arg: None,
                    },
                };
            }
        }
        Shebang {
            program: b"/bin/sh",
            arg: None,
        }
    }
}

/// A copied file's bytes, passed through `template` if there is one (the file must then be UTF-8
/// text).
///
/// # Errors
/// [`ExecError::Template`] naming `task` and `from` if the file is not text or the template
/// fails (an unresolved variable).
pub fn render(
    template: Option<&Template>,
    task: &str,
    from: &Path,
    data: Vec<u8>,
) -> Result<Vec<u8>, ExecError> {
    let Some(template) = template else {
        return Ok(data);
    };
    let template_error = |message: String| ExecError::Template {
        task: task.into(),
        file: Some(from.to_path_buf()),
        message,
    };
    let text = String::from_utf8(data)
        .map_err(|_| template_error("not UTF-8 text (binary file?)".into()))?;
    Ok(template(&text).map_err(template_error)?.into_bytes())
}

/// The uid of user `name` on this machine, `None` if there is no such user.
///
/// # Errors
/// If the user database cannot be read.
pub fn user_id(name: &str) -> io::Result<Option<u32>> {
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(nix::unistd::User::from_name(name)
        .map_err(io::Error::from)?
        .map(|u| u.uid.as_raw()))
}

/// The gid of group `name` on this machine, `None` if there is no such group.
///
/// # Errors
/// If the group database cannot be read.
pub fn group_id(name: &str) -> io::Result<Option<u32>> {
    if name.contains('\0') {
        return Ok(None);
    }
    Ok(nix::unistd::Group::from_name(name)
        .map_err(io::Error::from)?
        .map(|g| g.gid.as_raw()))
}

/// The name of the user this process runs as: `$USER`, else the user database.
pub fn current_user() -> Option<String> {
    if let Ok(u) = std::env::var("USER")
        && !u.is_empty()
    {
        return Some(u);
    }
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_follows_the_kernel_rules() {
        let p = |t: &'static [u8]| {
            let s = Shebang::parse(t);
            (s.program, s.arg)
        };
        assert_eq!(p(b"echo hi\n"), (&b"/bin/sh"[..], None));
        assert_eq!(p(b"#!/bin/bash\necho"), (&b"/bin/bash"[..], None));
        assert_eq!(
            p(b"#! /usr/bin/env  python3 -u \r\nprint()"),
            (&b"/usr/bin/env"[..], Some(&b"python3 -u"[..]))
        );
        assert_eq!(p(b"#!\n"), (&b"/bin/sh"[..], None));
    }

    #[test]
    fn tail_keeps_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let tail = tail_lines(&text, 20);
        assert!(tail.starts_with("line 10\n") && tail.ends_with("line 29"));
        assert_eq!(tail_lines("", 20), "");
        assert_eq!(tail_lines("one", 20), "one");
    }

    #[test]
    fn capture_keeps_the_end() {
        let mut buf = Vec::new();
        let chunk = vec![b'a'; MAX_CAPTURE];
        push_capped(&mut buf, &chunk);
        push_capped(&mut buf, &chunk);
        push_capped(&mut buf, b"end");
        assert_eq!(buf.len(), MAX_CAPTURE);
        assert!(buf.ends_with(b"end"));
    }

    #[test]
    fn env_names() {
        assert!(valid_env_name("_"));
        assert!(valid_env_name("a_B9"));
        assert!(!valid_env_name("9a"));
        assert!(!valid_env_name("a-b"));
        assert!(!valid_env_name(""));
    }

    #[test]
    fn resolves_root_and_rejects_unknown_names() {
        assert_eq!(user_id("root").unwrap(), Some(0));
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(user_id("no-such-user-actuator").unwrap(), None);
        assert_eq!(group_id("no-such-group-actuator").unwrap(), None);
        assert_eq!(user_id("nul\0byte").unwrap(), None);
    }
}
