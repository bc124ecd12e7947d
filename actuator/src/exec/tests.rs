//! End-to-end tests of [`LocalAgent`]: real processes and files in temporary
//! directories.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::exec::{
    Action, CopySpec, ExecAgent, ExecError, ExecOutput, ExecTask, LocalAgent, Template,
};
use crate::test_util::names_in;

fn tmp() -> TempDir {
    tempfile::tempdir().unwrap()
}

async fn run(task: ExecTask) -> Result<ExecOutput, ExecError> {
    LocalAgent::new().run(task).await
}

async fn run_ok(task: ExecTask) -> ExecOutput {
    let name = task.name.clone();
    match run(task).await {
        Ok(out) => out,
        Err(e) => panic!("task {name} failed: {e}"),
    }
}

fn command(argv: &[&str]) -> ExecTask {
    ExecTask::new("test.command", Action::command(argv.iter().copied()))
}

fn shell(line: &str) -> ExecTask {
    ExecTask::new("test.shell", Action::Shell(line.into()))
}

fn script(content: &str, args: &[&str]) -> ExecTask {
    ExecTask::new(
        "test.script",
        Action::Script {
            path: "setup.sh".into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            content: Some(content.into()),
        },
    )
}

fn copy(spec: CopySpec) -> ExecTask {
    ExecTask::new("test.copy", Action::Copy(spec))
}

fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `id FLAG` for the current user, e.g. `-un` → `root`.
fn id(flag: &str) -> String {
    let out = StdCommand::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn running_as_root() -> bool {
    id("-u") == "0"
}

/// A template expanding `!{NAME}` from `pairs`; an unknown name is an error
/// naming it, as the orchestrator's expander does.
fn vars(pairs: &[(&str, &str)]) -> Template {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Arc::new(move |text: &str| {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("!{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("unterminated `!{`")?;
            let name = &after[..end];
            let value = map
                .get(name)
                .ok_or_else(|| format!("unresolved variable `{name}`"))?;
            out.push_str(value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    })
}

// ---------------------------------------------------------------- ping

#[tokio::test]
async fn ping_succeeds() {
    let out = run_ok(ExecTask::new("test.ping", Action::Ping)).await;
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout, "pong");
    assert!(out.skipped.is_none());
}

// ---------------------------------------------------------------- command

#[tokio::test]
async fn command_passes_hostile_arguments_literally() {
    let out = run_ok(command(&[
        "printf",
        "%s|",
        "$(id)",
        "`id`",
        "$HOME;",
        "rm -rf x",
        "a b",
        "O'Brien",
        "say \"hi\" \\ back",
        "&& |",
        "two\nlines",
        "",
    ]))
    .await;
    assert_eq!(
        out.stdout,
        "$(id)|`id`|$HOME;|rm -rf x|a b|O'Brien|say \"hi\" \\ back|&& ||two\nlines||"
    );
}

#[tokio::test]
async fn command_creates_files_with_hostile_names_literally() {
    let dir = tmp();
    fs::write(dir.path().join("victim"), "keep").unwrap();
    let task = command(&[
        "touch",
        "; rm -rf victim",
        "$(touch pwned)",
        "`touch pwned2`",
        "a b",
    ])
    .chdir(dir.path().to_str().unwrap());
    run_ok(task).await;
    assert_eq!(
        names_in(dir.path()),
        [
            "$(touch pwned)",
            "; rm -rf victim",
            "`touch pwned2`",
            "a b",
            "victim"
        ]
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("victim")).unwrap(),
        "keep"
    );
}

#[tokio::test]
async fn command_without_a_program_or_with_a_nul_byte_is_refused() {
    let err = run(command(&[])).await.unwrap_err();
    assert!(
        matches!(&err, ExecError::BadCommand { task, message } if task == "test.command" && message == "empty command"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "task `test.command`: bad command: empty command"
    );
    assert!(!err.retryable());

    let err = run(command(&["echo", "a\0b"])).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "task `test.command`: invalid task: the command contains a NUL byte"
    );
}

#[tokio::test]
async fn command_missing_program_is_spawn_error() {
    let err = run(command(&["no-such-program-actuator", "--flag"]))
        .await
        .unwrap_err();
    match &err {
        ExecError::Spawn {
            task,
            program,
            source,
        } => {
            assert_eq!(task, "test.command");
            assert_eq!(program, "no-such-program-actuator");
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected Spawn, got {other:?}"),
    }
    assert!(err.to_string().contains("no-such-program-actuator"));
    assert!(!err.retryable());
}

#[tokio::test]
async fn command_relative_program_resolves_against_chdir() {
    let dir = tmp();
    fs::create_dir(dir.path().join("bin")).unwrap();
    symlink("/bin/echo", dir.path().join("bin/say")).unwrap();
    let out = run_ok(command(&["./bin/say", "hello"]).chdir(dir.path().to_str().unwrap())).await;
    assert_eq!(out.stdout, "hello\n");
}

#[tokio::test]
async fn stdout_and_stderr_are_captured_separately() {
    let out = run_ok(shell("echo out; echo err >&2")).await;
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
}

#[tokio::test]
async fn large_output_on_both_streams_does_not_deadlock() {
    let out = run_ok(shell(
        "yes e | head -c 300000 >&2; yes o | head -c 1000000; yes e | head -c 300000 >&2",
    ))
    .await;
    assert_eq!(out.stdout.len(), 1_000_000);
    assert_eq!(out.stderr.len(), 600_000);
}

// ---------------------------------------------------------------- shell

#[tokio::test]
async fn shell_pipes_and_operators_work() {
    let out = run_ok(shell(
        "printf 'a\\nb\\nc\\n' | grep -c . && echo ok || echo no",
    ))
    .await;
    assert_eq!(out.stdout, "3\nok\n");
}

// ---------------------------------------------------------------- env

#[tokio::test]
async fn env_is_visible_to_child_and_never_interpolated() {
    let dir = tmp();
    let hostile = "$(touch pwned); `touch pwned2` 'q' \"d\" \\ \n é🦀";
    let out = run_ok(
        shell(r#"printf %s "$FOO""#)
            .env("FOO", hostile)
            .chdir(dir.path().to_str().unwrap()),
    )
    .await;
    assert_eq!(out.stdout, hostile);

    let out = run_ok(
        command(&["printenv", "FOO", "BAR"])
            .env("FOO", hostile)
            .env("BAR", "")
            .chdir(dir.path().to_str().unwrap()),
    )
    .await;
    assert_eq!(out.stdout, format!("{hostile}\n\n"));
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[tokio::test]
async fn env_reaches_scripts() {
    let out = run_ok(script("printf %s \"$SECRET\"", &[]).env("SECRET", "p@ss'word")).await;
    assert_eq!(out.stdout, "p@ss'word");
}

#[tokio::test]
async fn invalid_env_name_is_rejected() {
    let err = run(shell("true").env("BAD;NAME", "x")).await.unwrap_err();
    assert!(
        matches!(&err, ExecError::Invalid { message, .. } if message.contains("`BAD;NAME`")),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- chdir

#[tokio::test]
async fn chdir_sets_the_working_directory() {
    let dir = tmp();
    let real = fs::canonicalize(dir.path()).unwrap();
    let out = run_ok(command(&["pwd"]).chdir(real.to_str().unwrap())).await;
    assert_eq!(out.stdout, format!("{}\n", real.display()));

    // A relative chdir is relative to the agent's root.
    fs::create_dir(real.join("sub")).unwrap();
    let agent = LocalAgent::with_root(&real);
    let out = agent.run(shell("pwd").chdir("sub")).await.unwrap();
    assert_eq!(out.stdout, format!("{}\n", real.join("sub").display()));
    // Without chdir, the root is the working directory.
    let out = agent.run(shell("pwd")).await.unwrap();
    assert_eq!(out.stdout, format!("{}\n", real.display()));
}

#[tokio::test]
async fn missing_chdir_is_an_error_naming_it() {
    let dir = tmp();
    let missing = dir.path().join("no-such-dir");
    let err = run(command(&["pwd"]).chdir(missing.to_str().unwrap()))
        .await
        .unwrap_err();
    match &err {
        ExecError::Chdir { task, path, source } => {
            assert_eq!(task, "test.command");
            assert_eq!(path, &missing);
            assert_eq!(source.kind(), io::ErrorKind::NotFound);
        }
        other => panic!("expected Chdir, got {other:?}"),
    }
    assert!(err.to_string().contains("no-such-dir"), "{err}");

    let file = dir.path().join("file");
    fs::write(&file, "").unwrap();
    let err = run(shell("pwd").chdir(file.to_str().unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Chdir { source, .. } if source.kind() == io::ErrorKind::NotADirectory),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- creates / removes

#[tokio::test]
async fn creates_skips_when_the_path_exists_and_does_not_run() {
    let dir = tmp();
    fs::write(dir.path().join("done"), "").unwrap();
    for task in [
        shell("touch side_effect"),
        command(&["touch", "side_effect"]),
        script("touch side_effect", &[]),
    ] {
        // `creates` is relative to chdir.
        let out = run_ok(task.chdir(dir.path().to_str().unwrap()).creates("done")).await;
        assert_eq!(out.skipped.as_deref(), Some("creates: `done` exists"));
        assert_eq!(out.status, 0);
    }
    assert!(!dir.path().join("side_effect").exists());
}

#[tokio::test]
async fn creates_runs_when_the_path_is_absent() {
    let dir = tmp();
    let done = dir.path().join("done");
    let out = run_ok(
        shell("echo ran; touch done")
            .chdir(dir.path().to_str().unwrap())
            .creates(done.to_str().unwrap()),
    )
    .await;
    assert!(out.skipped.is_none());
    assert_eq!(out.stdout, "ran\n");
    assert!(done.exists());
}

#[tokio::test]
async fn removes_skips_when_the_path_is_absent() {
    let dir = tmp();
    let out = run_ok(
        shell("touch side_effect")
            .chdir(dir.path().to_str().unwrap())
            .removes("target"),
    )
    .await;
    assert_eq!(
        out.skipped.as_deref(),
        Some("removes: `target` does not exist")
    );
    assert!(!dir.path().join("side_effect").exists());
}

#[tokio::test]
async fn removes_runs_when_the_path_exists() {
    let dir = tmp();
    fs::write(dir.path().join("target"), "").unwrap();
    let out = run_ok(
        command(&["rm", "target"])
            .chdir(dir.path().to_str().unwrap())
            .removes("target"),
    )
    .await;
    assert!(out.skipped.is_none());
    assert!(!dir.path().join("target").exists());
}

// ---------------------------------------------------------------- script

#[tokio::test]
async fn script_runs_with_args_from_a_private_temp_file_removed_afterwards() {
    let content = "#!/bin/sh\nprintf '%s|' \"$@\"\nprintf '%s\\n' \"$0\" >&2\nstat -c %a \"$0\" >&2\nstat -c %a \"$(dirname \"$0\")\" >&2\n";
    let out = run_ok(script(content, &["a b", "$(id)", "'q'", ""])).await;
    assert_eq!(out.stdout, "a b|$(id)|'q'||");
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 3, "{:?}", out.stderr);
    let path = PathBuf::from(lines[0]);
    assert_eq!(path.file_name().unwrap(), "setup.sh");
    assert_eq!(lines[1], "700", "script file mode");
    assert_eq!(lines[2], "700", "script directory mode");
    assert!(!path.exists(), "script {path:?} left behind");
    assert!(
        !path.parent().unwrap().exists(),
        "script directory left behind"
    );
}

#[tokio::test]
async fn script_temp_file_is_removed_after_failure() {
    let err = run(script("printf '%s\\n' \"$0\" >&2\nexit 3\n", &[]))
        .await
        .unwrap_err();
    let ExecError::Failed {
        status,
        stderr_tail,
        ..
    } = &err
    else {
        panic!("expected Failed, got {err:?}");
    };
    assert_eq!(*status, 3);
    let path = PathBuf::from(stderr_tail.trim());
    assert!(path.is_absolute(), "{stderr_tail:?}");
    assert!(!path.exists(), "script {path:?} left behind");
}

#[tokio::test]
async fn script_temp_file_is_removed_after_timeout() {
    let dir = tmp();
    let record = dir.path().join("path");
    let err = run(script("printf '%s' \"$0\" > \"$RECORD\"\nsleep 5\n", &[])
        .env("RECORD", record.to_str().unwrap())
        .timeout(Duration::from_millis(700)))
    .await
    .unwrap_err();
    assert!(matches!(err, ExecError::Timeout { .. }), "{err:?}");
    let path = PathBuf::from(fs::read_to_string(&record).unwrap());
    assert!(path.is_absolute());
    assert!(!path.exists(), "script {path:?} left behind");
}

#[tokio::test]
async fn script_from_a_file_relative_to_the_root_without_shebang() {
    let dir = tmp();
    let root = fs::canonicalize(dir.path()).unwrap();
    fs::create_dir_all(root.join("scripts")).unwrap();
    fs::create_dir_all(root.join("work")).unwrap();
    // Not executable and no `#!`: runs under /bin/sh.
    fs::write(
        root.join("scripts/hello.sh"),
        "echo \"from file $1\"\npwd\n",
    )
    .unwrap();
    set_mode(&root.join("scripts/hello.sh"), 0o644);
    let task = ExecTask::new(
        "test.script",
        Action::Script {
            path: "scripts/hello.sh".into(),
            args: vec!["x y".into()],
            content: None,
        },
    )
    .chdir("work");
    let out = LocalAgent::with_root(&root).run(task).await.unwrap();
    assert_eq!(
        out.stdout,
        format!("from file x y\n{}\n", root.join("work").display())
    );
}

#[tokio::test]
async fn script_shebang_interpreter_and_argument_are_used() {
    let err = run(script("#!/bin/sh -e\nfalse\necho not reached\n", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ExecError::Failed { status: 1, .. }),
        "{err:?}"
    );
    let out = run_ok(script("#!/bin/sh\nfalse\necho reached\n", &[])).await;
    assert_eq!(out.stdout, "reached\n");

    let err = run(script("#!/no/such/interpreter\n", &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ExecError::Spawn { program, .. } if program == "/no/such/interpreter"),
        "{err:?}"
    );
}

#[tokio::test]
async fn script_missing_file_is_an_io_error() {
    let dir = tmp();
    let task = ExecTask::new(
        "test.script",
        Action::Script {
            path: "nope.sh".into(),
            args: vec![],
            content: None,
        },
    );
    let err = LocalAgent::with_root(dir.path())
        .run(task)
        .await
        .unwrap_err();
    match &err {
        ExecError::Io { op, path, .. } => {
            assert_eq!(*op, "read script");
            assert_eq!(path, &dir.path().join("nope.sh"));
        }
        other => panic!("expected Io, got {other:?}"),
    }
}

// ---------------------------------------------------------------- failures

#[tokio::test]
async fn nonzero_exit_reports_status_and_stderr_tail() {
    let task = ExecTask::new(
        "WebConfig.apps[3]",
        Action::Shell(
            "for i in $(seq 1 30); do echo \"err $i\" >&2; done; echo out; exit 7".into(),
        ),
    );
    let err = run(task).await.unwrap_err();
    let ExecError::Failed {
        task,
        status,
        stderr_tail,
    } = &err
    else {
        panic!("expected Failed, got {err:?}");
    };
    assert_eq!(task, "WebConfig.apps[3]");
    assert_eq!(*status, 7);
    let lines: Vec<&str> = stderr_tail.lines().collect();
    assert_eq!(lines.len(), 20);
    assert_eq!(lines[0], "err 11");
    assert_eq!(lines[19], "err 30");
    let shown = err.to_string();
    assert!(
        shown.starts_with("task `WebConfig.apps[3]` failed with exit status 7: err 11\n"),
        "{shown}"
    );
    assert!(!err.retryable());
}

#[tokio::test]
async fn death_by_signal_is_128_plus_signal() {
    let err = run(shell("kill -9 $$")).await.unwrap_err();
    assert!(
        matches!(err, ExecError::Failed { status: 137, .. }),
        "{err:?}"
    );
}

// ---------------------------------------------------------------- timeout

#[tokio::test]
async fn timeout_kills_the_whole_process_group() {
    let dir = tmp();
    let started = Instant::now();
    let err = run(
        shell("(sleep 1.5; touch from_background) & sleep 1.5; touch from_foreground")
            .chdir(dir.path().to_str().unwrap())
            .timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "{:?}",
        started.elapsed()
    );
    match &err {
        ExecError::Timeout { task, after } => {
            assert_eq!(task, "test.shell");
            assert_eq!(*after, Duration::from_millis(300));
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    assert!(err.retryable());
    assert!(err.to_string().contains("timed out"), "{err}");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert!(
        names_in(dir.path()).is_empty(),
        "{:?}",
        names_in(dir.path())
    );
}

#[tokio::test]
async fn background_process_does_not_hold_the_task() {
    let started = Instant::now();
    let out = run_ok(shell("sleep 3 & echo started")).await;
    assert_eq!(out.stdout, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------- copy

#[tokio::test]
async fn copy_content_creates_parents_with_default_mode() {
    let dir = tmp();
    let dest = dir.path().join("etc/app/app.conf");
    run_ok(copy(CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("x=1\n".into()),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(fs::read_to_string(&dest).unwrap(), "x=1\n");
    assert_eq!(mode_of(&dest), 0o644);
    // No temporary file left next to it.
    assert_eq!(names_in(dest.parent().unwrap()), ["app.conf"]);
}

#[tokio::test]
async fn copy_content_overwrites_keeping_or_setting_the_mode() {
    let dir = tmp();
    let dest = dir.path().join("secret.conf");
    fs::write(&dest, "old").unwrap();
    set_mode(&dest, 0o600);
    let spec = CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("new".into()),
        ..CopySpec::default()
    };
    run_ok(copy(spec.clone())).await;
    assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
    assert_eq!(mode_of(&dest), 0o600, "existing mode kept");

    run_ok(copy(CopySpec {
        mode: Some(0o640),
        content: Some("newer".into()),
        ..spec
    }))
    .await;
    assert_eq!(fs::read_to_string(&dest).unwrap(), "newer");
    assert_eq!(mode_of(&dest), 0o640);
}

#[tokio::test]
async fn copy_content_relative_dest_is_relative_to_chdir() {
    let dir = tmp();
    fs::create_dir(dir.path().join("work")).unwrap();
    let task = copy(CopySpec {
        dest: "out.txt".into(),
        content: Some("hi".into()),
        ..CopySpec::default()
    })
    .chdir("work");
    LocalAgent::with_root(dir.path()).run(task).await.unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("work/out.txt")).unwrap(),
        "hi"
    );
}

#[tokio::test]
async fn copy_content_into_a_directory_is_invalid() {
    let dir = tmp();
    let err = run(copy(CopySpec {
        dest: format!("{}/", dir.path().display()),
        content: Some("x".into()),
        ..CopySpec::default()
    }))
    .await
    .unwrap_err();
    assert!(matches!(err, ExecError::Invalid { .. }), "{err:?}");
}

#[tokio::test]
async fn copy_single_file_with_mode_0640() {
    let dir = tmp();
    let src = dir.path().join("src.conf");
    fs::write(&src, "payload\n").unwrap();
    set_mode(&src, 0o600);
    let dest = dir.path().join("out/dest.conf");
    run_ok(copy(CopySpec {
        dest: dest.to_str().unwrap().into(),
        src: Some(src.clone()),
        mode: Some(0o640),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(fs::read_to_string(&dest).unwrap(), "payload\n");
    assert_eq!(mode_of(&dest), 0o640);
    assert_eq!(mode_of(&src), 0o600, "source untouched");
}

#[tokio::test]
async fn copy_single_file_keeps_the_source_mode_and_goes_into_directories() {
    let dir = tmp();
    let src = dir.path().join("tool.sh");
    fs::write(&src, "#!/bin/sh\n").unwrap();
    set_mode(&src, 0o751);

    // Into an existing directory.
    let existing = dir.path().join("bin");
    fs::create_dir(&existing).unwrap();
    run_ok(copy(CopySpec {
        dest: existing.to_str().unwrap().into(),
        src: Some(src.clone()),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(
        fs::read_to_string(existing.join("tool.sh")).unwrap(),
        "#!/bin/sh\n"
    );
    assert_eq!(mode_of(&existing.join("tool.sh")), 0o751);

    // Into a new directory named with a trailing `/`.
    let fresh = dir.path().join("fresh");
    run_ok(copy(CopySpec {
        dest: format!("{}/", fresh.display()),
        src: Some(src),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(mode_of(&fresh.join("tool.sh")), 0o751);
}

#[tokio::test]
async fn copy_preserves_binary_files_exactly() {
    let dir = tmp();
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    fs::write(dir.path().join("blob.bin"), &bytes).unwrap();
    run_ok(copy(CopySpec {
        dest: dir.path().join("copy.bin").to_str().unwrap().into(),
        src: Some(dir.path().join("blob.bin")),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(fs::read(dir.path().join("copy.bin")).unwrap(), bytes);
}

/// `root/conf/{a.txt, sub/b.txt, link -> a.txt}`, `sub` with mode 0750.
fn make_tree(root: &Path) {
    fs::create_dir_all(root.join("conf/sub")).unwrap();
    fs::write(root.join("conf/a.txt"), "A port=!{PORT}\n").unwrap();
    fs::write(root.join("conf/sub/b.txt"), "B host=!{HOST}\n").unwrap();
    symlink("a.txt", root.join("conf/link")).unwrap();
    set_mode(&root.join("conf/a.txt"), 0o600);
    set_mode(&root.join("conf/sub"), 0o750);
}

#[tokio::test]
async fn copy_directory_without_trailing_slash_copies_the_directory_itself() {
    let dir = tmp();
    make_tree(dir.path());
    // Relative src and dest: resolved against the agent's root.
    let task = copy(CopySpec {
        dest: "out".into(),
        src: Some("conf".into()),
        mode: Some(0o640),
        ..CopySpec::default()
    });
    LocalAgent::with_root(dir.path()).run(task).await.unwrap();
    let out = dir.path().join("out");
    assert_eq!(names_in(&out), ["conf"]);
    assert_eq!(names_in(&out.join("conf")), ["a.txt", "link", "sub"]);
    assert_eq!(
        fs::read_to_string(out.join("conf/a.txt")).unwrap(),
        "A port=!{PORT}\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("conf/sub/b.txt")).unwrap(),
        "B host=!{HOST}\n"
    );
    assert_eq!(mode_of(&out.join("conf/a.txt")), 0o640);
    assert_eq!(mode_of(&out.join("conf/sub/b.txt")), 0o640);
    assert_eq!(
        mode_of(&out.join("conf/sub")),
        0o750,
        "directory mode from source"
    );
    assert_eq!(
        fs::read_link(out.join("conf/link")).unwrap(),
        PathBuf::from("a.txt")
    );
}

#[tokio::test]
async fn copy_directory_with_trailing_slash_copies_its_contents() {
    let dir = tmp();
    make_tree(dir.path());
    let task = copy(CopySpec {
        dest: "out".into(),
        src: Some("conf/".into()),
        ..CopySpec::default()
    });
    let agent = LocalAgent::with_root(dir.path());
    agent.run(task.clone()).await.unwrap();
    let out = dir.path().join("out");
    assert_eq!(names_in(&out), ["a.txt", "link", "sub"]);
    assert_eq!(mode_of(&out.join("a.txt")), 0o600, "source mode kept");
    assert_eq!(
        fs::read_to_string(out.join("sub/b.txt")).unwrap(),
        "B host=!{HOST}\n"
    );

    // Copying again over the result works (files and links replaced).
    fs::write(dir.path().join("conf/a.txt"), "changed\n").unwrap();
    agent.run(task).await.unwrap();
    assert_eq!(fs::read_to_string(out.join("a.txt")).unwrap(), "changed\n");
    assert_eq!(fs::read_to_string(out.join("link")).unwrap(), "changed\n");
}

#[tokio::test]
async fn copy_directory_into_itself_is_refused() {
    let dir = tmp();
    make_tree(dir.path());
    let conf = dir.path().join("conf");
    let err = run(copy(CopySpec {
        dest: conf.join("inner").to_str().unwrap().into(),
        src: Some(conf),
        ..CopySpec::default()
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExecError::Invalid { message, .. } if message.contains("into itself")),
        "{err:?}"
    );
}

#[tokio::test]
async fn copy_template_expands_content() {
    let dir = tmp();
    let dest = dir.path().join("app.conf");
    run_ok(copy(CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("server !{NAME}:!{PORT}\n".into()),
        template: Some(vars(&[("NAME", "web1"), ("PORT", "8080")])),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(fs::read_to_string(&dest).unwrap(), "server web1:8080\n");
}

#[tokio::test]
async fn copy_template_expands_every_copied_file() {
    let dir = tmp();
    make_tree(dir.path());
    let out = dir.path().join("out");
    run_ok(copy(CopySpec {
        dest: out.to_str().unwrap().into(),
        src: Some(dir.path().join("conf/")),
        template: Some(vars(&[("PORT", "5432"), ("HOST", "db.local")])),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(
        fs::read_to_string(out.join("a.txt")).unwrap(),
        "A port=5432\n"
    );
    assert_eq!(
        fs::read_to_string(out.join("sub/b.txt")).unwrap(),
        "B host=db.local\n"
    );
    assert_eq!(
        fs::read_link(out.join("link")).unwrap(),
        PathBuf::from("a.txt")
    );

    // A single file too.
    run_ok(copy(CopySpec {
        dest: dir.path().join("single.txt").to_str().unwrap().into(),
        src: Some(dir.path().join("conf/a.txt")),
        template: Some(vars(&[("PORT", "1")])),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(
        fs::read_to_string(dir.path().join("single.txt")).unwrap(),
        "A port=1\n"
    );
}

#[tokio::test]
async fn copy_template_unresolved_variable_fails_naming_it() {
    let dir = tmp();
    make_tree(dir.path());
    let err = run(copy(CopySpec {
        dest: dir.path().join("out").to_str().unwrap().into(),
        src: Some(dir.path().join("conf")),
        template: Some(vars(&[("PORT", "1")])),
        ..CopySpec::default()
    }))
    .await
    .unwrap_err();
    match &err {
        ExecError::Template {
            task,
            file,
            message,
        } => {
            assert_eq!(task, "test.copy");
            assert_eq!(
                file.as_deref(),
                Some(dir.path().join("conf/sub/b.txt").as_path())
            );
            assert_eq!(message, "unresolved variable `HOST`");
        }
        other => panic!("expected Template, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains("b.txt") && shown.contains("`HOST`"),
        "{shown}"
    );

    let err = run(copy(CopySpec {
        dest: dir.path().join("c.txt").to_str().unwrap().into(),
        content: Some("x=!{NOPE}".into()),
        template: Some(vars(&[])),
        ..CopySpec::default()
    }))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task `test.copy`: template error in content: unresolved variable `NOPE`"
    );
    assert!(!dir.path().join("c.txt").exists());
}

#[tokio::test]
async fn copy_template_of_a_binary_file_fails_naming_it() {
    let dir = tmp();
    let blob = dir.path().join("logo.png");
    fs::write(&blob, [0x89, b'P', b'N', b'G', 0xff, 0xfe, 0x00]).unwrap();
    let err = run(copy(CopySpec {
        dest: dir.path().join("out/").to_str().unwrap().into(),
        src: Some(blob.clone()),
        template: Some(vars(&[])),
        ..CopySpec::default()
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExecError::Template { file: Some(f), message, .. } if f == &blob && message.contains("UTF-8")),
        "{err:?}"
    );
    assert!(err.to_string().contains("logo.png"));
}

#[tokio::test]
async fn copy_owner_and_group_by_name_of_the_current_user() {
    let dir = tmp();
    make_tree(dir.path());
    let (uid, gid): (u32, u32) = (id("-u").parse().unwrap(), id("-g").parse().unwrap());
    let dest = dir.path().join("owned.txt");
    run_ok(copy(CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("x".into()),
        owner: Some(id("-un")),
        group: Some(id("-gn")),
        ..CopySpec::default()
    }))
    .await;
    let meta = fs::metadata(&dest).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));

    let out = dir.path().join("tree");
    run_ok(copy(CopySpec {
        dest: out.to_str().unwrap().into(),
        src: Some(dir.path().join("conf")),
        owner: Some(id("-un")),
        group: Some(id("-gn")),
        ..CopySpec::default()
    }))
    .await;
    for p in [
        "conf",
        "conf/a.txt",
        "conf/sub",
        "conf/sub/b.txt",
        "conf/link",
    ] {
        let meta = fs::symlink_metadata(out.join(p)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{p}");
    }
}

#[tokio::test]
async fn copy_owner_and_group_as_numeric_ids() {
    let dir = tmp();
    make_tree(dir.path());
    // Root can give files away; anyone else can only use their own ids.
    let (uid, gid) = if running_as_root() {
        (4242u32, 4343u32)
    } else {
        (id("-u").parse().unwrap(), id("-g").parse().unwrap())
    };
    let dest = dir.path().join("numeric.txt");
    run_ok(copy(CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("x".into()),
        owner: Some(uid.to_string()),
        group: Some(gid.to_string()),
        mode: Some(0o640),
        ..CopySpec::default()
    }))
    .await;
    let meta = fs::metadata(&dest).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    assert_eq!(meta.mode() & 0o7777, 0o640);

    let out = dir.path().join("tree");
    run_ok(copy(CopySpec {
        dest: out.to_str().unwrap().into(),
        src: Some(dir.path().join("conf")),
        owner: Some(uid.to_string()),
        group: Some(gid.to_string()),
        ..CopySpec::default()
    }))
    .await;
    for p in [
        "conf",
        "conf/a.txt",
        "conf/sub",
        "conf/sub/b.txt",
        "conf/link",
    ] {
        let meta = fs::symlink_metadata(out.join(p)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "{p}");
    }
    // Only the group.
    let dest2 = dir.path().join("group-only.txt");
    run_ok(copy(CopySpec {
        dest: dest2.to_str().unwrap().into(),
        content: Some("x".into()),
        group: Some(gid.to_string()),
        ..CopySpec::default()
    }))
    .await;
    assert_eq!(fs::metadata(&dest2).unwrap().gid(), gid);
}

#[tokio::test]
async fn copy_over_a_file_keeps_its_owner() {
    if !running_as_root() {
        return; // needs to give a file away first
    }
    let dir = tmp();
    let dest = dir.path().join("kept.conf");
    fs::write(&dest, "old").unwrap();
    std::os::unix::fs::chown(&dest, Some(4242), Some(4343)).unwrap();
    run_ok(copy(CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("new".into()),
        ..CopySpec::default()
    }))
    .await;
    let meta = fs::metadata(&dest).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (4242, 4343));
    assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
}

#[tokio::test]
async fn copy_unknown_owner_or_group_is_an_error() {
    let dir = tmp();
    let dest = dir.path().join("x");
    let base = CopySpec {
        dest: dest.to_str().unwrap().into(),
        content: Some("x".into()),
        ..CopySpec::default()
    };
    let err = run(copy(CopySpec {
        owner: Some("no-such-user-actuator".into()),
        ..base.clone()
    }))
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "task `test.copy`: unknown user `no-such-user-actuator`"
    );
    let err = run(copy(CopySpec {
        group: Some("no-such-group-actuator".into()),
        ..base
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExecError::UnknownOwner { kind: "group", name, .. } if name == "no-such-group-actuator"),
        "{err:?}"
    );
    assert!(!dest.exists());
}

#[tokio::test]
async fn copy_needs_exactly_one_source() {
    let dir = tmp();
    let dest = dir.path().join("x").to_str().unwrap().to_string();
    for spec in [
        CopySpec {
            dest: dest.clone(),
            ..CopySpec::default()
        },
        CopySpec {
            dest: dest.clone(),
            content: Some("x".into()),
            src: Some(dir.path().to_path_buf()),
            ..CopySpec::default()
        },
    ] {
        let err = run(copy(spec)).await.unwrap_err();
        assert!(
            matches!(&err, ExecError::Invalid { message, .. } if message.contains("exactly one")),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn copy_missing_source_is_an_io_error_naming_it() {
    let dir = tmp();
    let src = dir.path().join("absent.conf");
    let err = run(copy(CopySpec {
        dest: dir.path().join("x").to_str().unwrap().into(),
        src: Some(src.clone()),
        ..CopySpec::default()
    }))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, ExecError::Io { path, source, .. } if path == &src && source.kind() == io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(err.to_string().contains("absent.conf"));
}

// ---------------------------------------------------------------- agent as a trait object

#[tokio::test]
async fn tasks_run_concurrently_through_a_trait_object() {
    let agent: Arc<dyn ExecAgent> = Arc::new(LocalAgent::new());
    let started = Instant::now();
    let runs = (0..4).map(|i| agent.run(shell(&format!("sleep 0.5; echo {i}"))));
    let outs = futures::future::join_all(runs).await;
    let texts: Vec<String> = outs.into_iter().map(|o| o.unwrap().stdout).collect();
    assert_eq!(texts, ["0\n", "1\n", "2\n", "3\n"]);
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn debug_output_hides_secret_values() {
    let task = shell("true").env("DB_PASSWORD", "hunter2-env");
    let shown = format!("{task:?}");
    assert!(shown.contains("DB_PASSWORD"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");

    let task = copy(CopySpec {
        dest: "/etc/x".into(),
        content: Some("password=hunter2-content".into()),
        template: Some(vars(&[])),
        ..CopySpec::default()
    });
    let shown = format!("{task:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<24 bytes>"), "{shown}");

    let task = script("echo hunter2-script", &[]);
    assert!(!format!("{task:?}").contains("hunter2"));
}

#[test]
fn retryable_classification() {
    let t = || "t".to_string();
    let spawn = |kind: io::ErrorKind| ExecError::Spawn {
        task: t(),
        program: "p".into(),
        source: kind.into(),
    };
    assert!(
        ExecError::Timeout {
            task: t(),
            after: Duration::from_secs(1)
        }
        .retryable()
    );
    assert!(
        ExecError::Connection {
            task: t(),
            host: "h".into(),
            message: "reset".into()
        }
        .retryable()
    );
    assert!(spawn(io::ErrorKind::Interrupted).retryable());
    assert!(spawn(io::ErrorKind::ExecutableFileBusy).retryable());
    assert!(!spawn(io::ErrorKind::NotFound).retryable());
    assert!(!spawn(io::ErrorKind::PermissionDenied).retryable());
    assert!(
        !ExecError::Failed {
            task: t(),
            status: 1,
            stderr_tail: String::new()
        }
        .retryable()
    );
    assert!(
        !ExecError::Template {
            task: t(),
            file: None,
            message: "m".into()
        }
        .retryable()
    );
    assert!(
        !ExecError::UnknownOwner {
            task: t(),
            kind: "user",
            name: "n".into()
        }
        .retryable()
    );
    assert_eq!(
        ExecError::Failed {
            task: t(),
            status: 1,
            stderr_tail: String::new()
        }
        .to_string(),
        "task `t` failed with exit status 1"
    );
}
