//! Remote command lines: one `/bin/sh` script per task, every value quoted.
//!
//! The line sent in the SSH `exec` request is `exec /bin/sh -c '<outer>'`,
//! whatever the login shell. The outer script traps `HUP`/`INT`/`TERM` to kill
//! its whole process group (sshd makes each session its own group), runs the
//! task in a background subshell and waits for it, so a signal from the agent
//! (a timeout) ends the task and everything it started. The subshell does the
//! local agent's checks in its order — working directory, `creates`,
//! `removes` — then exports the environment and runs the action.
//!
//! When the checks decide instead of the action, the script writes a marker
//! line starting with [`MARK`] to standard error: a skip exits 0, an error
//! exits [`MARK_STATUS`] (127 for a missing program).

use std::path::Path;

use actuator::exec::support::Shebang;
use actuator::exec::{Action, ExecError, ExecTask, export_line, shell_quote};

/// Starts a marker line on standard error (an ASCII record separator first:
/// no command prints that by accident).
pub(crate) const MARK: &str = "\u{1e}actuator:";
/// The exit status of a script stopped by its checks.
pub(crate) const MARK_STATUS: i32 = 113;

/// A command to run on the host.
#[derive(Debug)]
pub(crate) struct Remote {
    /// The `exec` request's command line.
    pub line: String,
    /// Sent on standard input, then end-of-file (a script's text).
    pub stdin: Option<Vec<u8>>,
}

/// What a marker line reports.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// `creates` exists.
    SkipCreates,
    /// `removes` does not exist.
    SkipRemoves,
    /// `chdir` is missing, not a directory, or not enterable (the `errno` name); standard
    /// output holds the directory it was resolved from.
    Chdir(String),
    /// The command's program was not found or cannot be run (the `errno` name).
    Spawn(String),
    /// The temporary script could not be made (`mktemp` or writing it).
    TempScript(String),
    /// A copy's preflight: the working directory, owner and group entries.
    Info,
}

/// The marker at the start of `stderr`, if there is one.
pub(crate) fn marker(stderr: &[u8]) -> Option<Marker> {
    let text = std::str::from_utf8(stderr.strip_prefix(MARK.as_bytes())?).ok()?;
    let line = text.lines().next().unwrap_or_default();
    let (kind, what) = line.split_once(':').unwrap_or((line, ""));
    Some(match (kind, what) {
        ("skip", "creates") => Marker::SkipCreates,
        ("skip", "removes") => Marker::SkipRemoves,
        ("chdir", e) => Marker::Chdir(e.to_owned()),
        ("spawn", e) => Marker::Spawn(e.to_owned()),
        ("tmp", what) => Marker::TempScript(what.to_owned()),
        ("info", _) => Marker::Info,
        _ => return None,
    })
}

/// `printf` of a marker line, to standard error (`what` is one of ours: no
/// quote, backslash or `%`).
fn mark(what: &str) -> String {
    debug_assert!(!what.contains(['\'', '\\', '%']));
    format!("printf '\\036actuator:{what}\\n' >&2")
}

/// The subshell's checks: working directory, `creates`, `removes`, then,
/// with `env`, the environment read from standard input (see [`env_line`]).
///
/// A working directory that cannot be entered is reported with its `errno`
/// name, and the directory a relative one was resolved from (the session's
/// start, the login's home) on standard output: the local agent names the
/// resolved path, and so does this one.
fn prelude(task: &ExecTask, env: bool) -> String {
    let mut s = String::from("unset CDPATH\n");
    if let Some(dir) = &task.chdir {
        let q = shell_quote(dir);
        // The errno `stat` would give, as the local agent reports it: ENOTDIR when the path or
        // one of the directories it names is not a directory, ENOENT when it is missing.
        s += &format!(
            "cd -- {q} 2>/dev/null || {{\n\
             if [ -e {q} ]; then if [ -d {q} ]; then e=EACCES; else e=ENOTDIR; fi\n\
             else e=ENOENT; p={q}\n\
             while case $p in */*) p=${{p%/*}}; [ -n \"$p\" ];; *) false;; esac; do\n\
             if [ -e \"$p\" ]; then [ -d \"$p\" ] || e=ENOTDIR; break; fi; done; fi\n\
             printf '\\036actuator:chdir:%s\\n' \"$e\" >&2; pwd; exit {MARK_STATUS}; }}\n"
        );
    }
    if let Some(path) = &task.creates {
        s += &format!(
            "if [ -e {} ]; then {}; exit 0; fi\n",
            shell_quote(path),
            mark("skip:creates")
        );
    }
    if let Some(path) = &task.removes {
        s += &format!(
            "if [ ! -e {} ]; then {}; exit 0; fi\n",
            shell_quote(path),
            mark("skip:removes")
        );
    }
    if env {
        s += &format!("eval \"${ENV_VAR}\"\nunset {ENV_VAR}\n");
    }
    s
}

/// The shell variable the outer script reads the environment line into.
const ENV_VAR: &str = "__actuator_env";

/// The task's environment as one line of assignments, sent on standard input
/// rather than in the command line (which every user of the host can read in
/// the process list). Each value is rebuilt by `printf` from a format that
/// holds only letters, digits, a few punctuation marks and octal escapes, so
/// the line is safe to `eval` whatever the values are.
///
/// `None` for an empty environment.
fn env_line(task: &ExecTask) -> Result<Option<String>, ExecError> {
    if task.env.is_empty() {
        return Ok(None);
    }
    // `support::validate` checked the names already; build nothing from them unchecked.
    export_line(&task.env).map_err(|e| ExecError::Invalid {
        task: task.name.clone(),
        message: e.to_string(),
    })?;
    let mut line = String::new();
    for (name, value) in &task.env {
        // The trailing `x` survives command substitution's removal of final newlines.
        line += &format!(
            "{name}=$(printf '{}x');{name}=${{{name}%x}};export {name};",
            printf_format(value)
        );
    }
    Ok(Some(line))
}

/// A `printf` format that prints `value` exactly: safe bytes as they are,
/// `%` doubled, everything else as a three-digit octal escape.
fn printf_format(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => out.push(b as char),
            // Not `-`: a format starting with it would be read as an option of `printf`.
            b' ' | b',' | b'.' | b'_' | b'+' | b':' | b'@' | b'/' | b'=' => out.push(b as char),
            b'%' => out.push_str("%%"),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out
}

/// Reads the environment line (first line of standard input) in the outer script.
fn read_env() -> String {
    format!(
        "IFS= read -r {ENV_VAR} || {{ {}; exit {MARK_STATUS}; }}\n",
        mark("tmp:cannot read the environment")
    )
}

/// The outer script: run `body` after the checks in a background subshell
/// that a signal kills with its whole process group.
fn supervised(setup: &str, cleanup: &str, inner: &str) -> String {
    format!(
        "{setup}( {inner}) &\nwait $!\ns=$?\n{cleanup}exit $s\n",
        setup = setup,
        inner = inner,
        cleanup = cleanup
    )
}

/// The `exec` request line running `script` under `/bin/sh`.
fn via_sh(script: &str) -> String {
    format!("exec /bin/sh -c {}", shell_quote(script))
}

/// The command line (and input) for `task`; `script` is the script's text
/// for [`Action::Script`] (read by the caller).
pub(crate) fn build(task: &ExecTask, script: Option<&[u8]>) -> Result<Remote, ExecError> {
    const KILL_TRAP: &str = "trap 'kill -KILL 0' HUP INT TERM\n";
    match &task.action {
        Action::Ping => Ok(Remote {
            line: "printf pong".into(),
            stdin: None,
        }),
        Action::Command(argv) => {
            let program = argv.first().expect("validated: not empty");
            let mut words: Vec<String> = argv.iter().map(|a| shell_quote(a)).collect();
            // The local agent's spawn errors: a missing program, a path that is not executable.
            let q = shell_quote(program);
            let check = if program.contains('/') {
                // Run by its path resolved against the working directory, as the local agent
                // runs it (a script's `$0` shows that path).
                if !program.starts_with('/') {
                    words[0] = format!("\"${{PWD%/}}\"/{q}");
                }
                format!(
                    "[ -e {q} ] || {{ {}; exit 127; }}\n[ -x {q} ] && [ ! -d {q} ] || {{ {}; exit 126; }}\n",
                    mark("spawn:ENOENT"),
                    mark("spawn:EACCES")
                )
            } else {
                // An executable file in `PATH`, as `execvp` looks for it: a shell builtin or
                // function of the same name (`cd`, `exit`) is not a program.
                format!(
                    "f=\nset -f; IFS=:\nfor d in $PATH; do [ -n \"$d\" ] || d=.; if [ -f \"$d\"/{q} ] && [ -x \"$d\"/{q} ]; then f=1; break; fi; done\n\
                     set +f; unset IFS\n[ -n \"$f\" ] || {{ {}; exit 127; }}\n",
                    mark("spawn:ENOENT")
                )
            };
            let body = format!("{check}exec {}\n", words.join(" "));
            Ok(with_env(task, KILL_TRAP, "", &body, None)?)
        }
        Action::Shell(line) => {
            let body = format!("exec /bin/sh -c {}\n", shell_quote(line));
            Ok(with_env(task, KILL_TRAP, "", &body, None)?)
        }
        Action::Script { path, args, .. } => {
            let text = script.unwrap_or_default();
            let name = script_name(path);
            // The kernel's `#!` rule, read here so the remote side needs no parsing of its own.
            let shebang = Shebang::parse(text);
            let word = |b: &[u8]| shell_quote(&String::from_utf8_lossy(b).replace('\0', ""));
            let mut run = vec![word(shebang.program)];
            run.extend(shebang.arg.map(word));
            run.push(format!("\"$d\"/{}", shell_quote(&name)));
            run.extend(args.iter().map(|a| shell_quote(a)));
            let setup = format!(
                "d=\ntrap 'rm -rf \"$d\"; kill -KILL 0' HUP INT TERM\n\
                 m=$(umask)\numask 077\n\
                 d=$(mktemp -d \"${{TMPDIR:-/tmp}}/actuator-script.XXXXXXXX\") || {{ {}; exit {MARK_STATUS}; }}\n\
                 cat >\"$d\"/{n} && chmod 700 \"$d\"/{n} || {{ rm -rf \"$d\"; {}; exit {MARK_STATUS}; }}\n\
                 umask \"$m\"\n",
                mark("tmp:cannot create a temporary directory with mktemp"),
                mark("tmp:cannot write the script"),
                n = shell_quote(&name),
            );
            let body = format!("exec {}\n", run.join(" "));
            with_env(task, &setup, "rm -rf \"$d\"\n", &body, Some(text))
        }
        Action::Copy(_) => Err(ExecError::Invalid {
            task: task.name.clone(),
            message: "copies do not run as a command line".into(),
        }),
    }
}

/// The supervised command for `body`: the environment line (if any) first on
/// standard input, then `input` (a script's text).
fn with_env(
    task: &ExecTask,
    setup: &str,
    cleanup: &str,
    body: &str,
    input: Option<&[u8]>,
) -> Result<Remote, ExecError> {
    let env = env_line(task)?;
    let setup = match env {
        Some(_) => read_env() + setup,
        None => setup.to_owned(),
    };
    let inner = prelude(task, env.is_some()) + body;
    let stdin = match (env, input) {
        (None, None) => None,
        (None, Some(text)) => Some(text.to_vec()),
        (Some(line), text) => {
            let mut data = line.into_bytes();
            data.push(b'\n');
            data.extend_from_slice(text.unwrap_or_default());
            Some(data)
        }
    };
    Ok(Remote {
        line: via_sh(&supervised(&setup, cleanup, &inner)),
        stdin,
    })
}

/// The checks of a copy, then its working directory and the `passwd` /
/// `group` entries of its owner and group, after an `info` marker line:
/// `pwd`, `u:<entry>`, `g:<entry>`.
pub(crate) fn copy_preflight(task: &ExecTask, owner: Option<&str>, group: Option<&str>) -> Remote {
    // awk gets the name from its environment: `-v` would read backslash escapes in it.
    let lookup = |db: &str, tag: &str, name: Option<&str>| match name {
        Some(n) => {
            let q = shell_quote(n);
            format!(
                "printf '{tag}:%s\\n' \"$(getent {db} {q} 2>/dev/null || __actuator_n={q} awk -F: '$1 == ENVIRON[\"__actuator_n\"]' /etc/{db} 2>/dev/null)\"\n"
            )
        }
        None => format!("printf '{tag}:\\n'\n"),
    };
    let body = format!(
        "{}\npwd\n{}{}",
        mark("info"),
        lookup("passwd", "u", owner),
        lookup("group", "g", group)
    );
    let inner = prelude(task, false) + &body;
    Remote {
        line: via_sh(&inner),
        stdin: None,
    }
}

/// The temporary script's file name: the local file's, else `script`.
fn script_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty() && !n.contains('\0'))
        .unwrap_or_else(|| "script".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs an `exec` request line the way sshd does: `$SHELL -c line`.
    fn run(remote: &Remote, cwd: &Path) -> (i32, String, String) {
        use std::io::Write;
        let mut child = Command::new("/bin/bash")
            .arg("-c")
            .arg(&remote.line)
            .current_dir(cwd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let Some(data) = &remote.stdin {
            stdin.write_all(data).unwrap();
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    const HOSTILE: &[&str] = &[
        "; touch pwned",
        "$(touch pwned)",
        "`touch pwned`",
        "' ; touch pwned ; '",
        "\" ; touch pwned ; \"",
        "a\ntouch pwned\n",
        "\\'$(touch pwned)",
        "${HOME:-x}",
        "",
        "trailing newlines\n\n",
        "%s%d%%\\n\\ \\012",
        "é日本🦀\u{202e}\t\r",
        // A leading `-` must not become an option of `printf`.
        "-n",
        "--x",
    ];

    #[test]
    fn hostile_env_values_and_arguments_stay_literal() {
        let dir = tempfile::tempdir().unwrap();
        for value in HOSTILE {
            let task = ExecTask::new("t", Action::command(["printf", "%s|%s", value, "$V"]))
                .env("V", *value);
            let (status, out, err) = run(&build(&task, None).unwrap(), dir.path());
            assert_eq!((status, err.as_str()), (0, ""), "{value:?}");
            assert_eq!(out, format!("{value}|$V"), "{value:?}");
            let task =
                ExecTask::new("t", Action::Shell(r#"printf %s "$V""#.into())).env("V", *value);
            let (status, out, _) = run(&build(&task, None).unwrap(), dir.path());
            assert_eq!((status, out.as_str()), (0, *value), "{value:?}");
        }
        assert!(!dir.path().join("pwned").exists());
    }

    #[test]
    fn environment_values_never_appear_in_the_command_line() {
        let task = ExecTask::new("t", Action::Shell("true".into()))
            .env("DB_PASSWORD", "s3cret-value")
            .env("OTHER", "two\nlines");
        let remote = build(&task, None).unwrap();
        assert!(!remote.line.contains("s3cret"), "{}", remote.line);
        // One line on standard input, holding no quote and no newline of the values.
        let stdin = String::from_utf8(remote.stdin.unwrap()).unwrap();
        assert_eq!(stdin.matches('\n').count(), 1, "{stdin:?}");
        assert!(stdin.ends_with('\n'));
        assert!(
            stdin.contains(r"DB_PASSWORD=$(printf 's3cret\055valuex')"),
            "{stdin}"
        );
    }

    #[test]
    fn checks_run_in_the_local_agents_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/here"), "").unwrap();
        let base = ExecTask::new("t", Action::command(["pwd"])).chdir("sub");
        let (s, out, _) = run(&build(&base, None).unwrap(), dir.path());
        assert_eq!(
            (s, out.trim_end()),
            (0, dir.path().join("sub").to_str().unwrap())
        );

        let skipped = base.clone().creates("here");
        let (s, out, err) = run(&build(&skipped, None).unwrap(), dir.path());
        assert_eq!((s, out.as_str()), (0, ""));
        assert_eq!(marker(err.as_bytes()), Some(Marker::SkipCreates));

        let skipped = base.clone().removes("nothing");
        let (_, _, err) = run(&build(&skipped, None).unwrap(), dir.path());
        assert_eq!(marker(err.as_bytes()), Some(Marker::SkipRemoves));

        let missing = base.clone().chdir("nowhere");
        let (s, _, err) = run(&build(&missing, None).unwrap(), dir.path());
        assert_eq!(s, MARK_STATUS);
        assert_eq!(marker(err.as_bytes()), Some(Marker::Chdir("ENOENT".into())));
        let file = base.clone().chdir("sub/here");
        let (_, _, err) = run(&build(&file, None).unwrap(), dir.path());
        assert_eq!(
            marker(err.as_bytes()),
            Some(Marker::Chdir("ENOTDIR".into()))
        );
    }

    #[test]
    fn missing_programs_are_reported_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let task = ExecTask::new("t", Action::command(["no-such-program-actuator", "x"]));
        let (s, _, err) = run(&build(&task, None).unwrap(), dir.path());
        assert_eq!(s, 127);
        assert_eq!(marker(err.as_bytes()), Some(Marker::Spawn("ENOENT".into())));
        std::fs::write(dir.path().join("plain"), "").unwrap();
        let task = ExecTask::new("t", Action::command(["./plain"]));
        let (s, _, err) = run(&build(&task, None).unwrap(), dir.path());
        assert_eq!(s, 126);
        assert_eq!(marker(err.as_bytes()), Some(Marker::Spawn("EACCES".into())));
        let task = ExecTask::new("t", Action::command(["./missing"]));
        let (s, _, err) = run(&build(&task, None).unwrap(), dir.path());
        assert_eq!(
            (s, marker(err.as_bytes())),
            (127, Some(Marker::Spawn("ENOENT".into())))
        );
        let task = ExecTask::new("t", Action::command(["sh", "-c", "exit 127"]));
        let (s, _, err) = run(&build(&task, None).unwrap(), dir.path());
        assert_eq!((s, marker(err.as_bytes())), (127, None));
    }

    #[test]
    fn scripts_run_through_their_interpreter_and_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"#!/bin/sh -e\nprintf '%s|' \"$0\" \"$@\" > out\n";
        let task = ExecTask::new(
            "t",
            Action::Script {
                path: "deploy.sh".into(),
                args: vec!["a b".into(), "$(touch pwned)".into()],
                content: None,
            },
        )
        .env("TMPDIR", dir.path().to_str().unwrap());
        let remote = build(&task, Some(text)).unwrap();
        // The temporary directory honours $TMPDIR of the login; use a private one here.
        let remote = Remote {
            line: format!(
                "TMPDIR={}; export TMPDIR; {}",
                shell_quote(dir.path().to_str().unwrap()),
                remote.line
            ),
            ..remote
        };
        let (s, _, err) = run(&remote, dir.path());
        assert_eq!((s, err.as_str()), (0, ""));
        let out = std::fs::read_to_string(dir.path().join("out")).unwrap();
        let parts: Vec<&str> = out.split('|').collect();
        assert!(parts[0].ends_with("/deploy.sh"), "{out}");
        assert_eq!(&parts[1..], ["a b", "$(touch pwned)", ""]);
        assert!(!dir.path().join("pwned").exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("actuator-script")
            })
            .collect();
        assert!(left.is_empty(), "temporary script left behind");
    }
}
