//! The `ExecAgent` conformance suite: the README's promise that the SSH agent gives every task the
//! same meaning as the local agent, as a test. Each case below is one function; `conformance!`
//! runs it once against `LocalAgent` (`local::<case>`) and once against `SshAgent` on the loopback
//! sshd of `scripts/sshd.sh` (`ssh::<case>`): the same tasks, the same expected outputs, effects on
//! disk and errors — variant and message.
//!
//! # One disk, one base directory
//!
//! The sshd runs on this machine, so both agents' effects land on the same disk and every case
//! checks them there. The SSH agent logs in as the test user (`actuator-test` when the tests run
//! as root), and resolves relative paths against that user's home, where SSH sessions start; the
//! local agent is given the same directory as its root (`LocalAgent::with_root`). Each case gets a
//! fresh directory inside it, owned by the test user, and its tasks `chdir` there by a path
//! *relative* to the home — so "relative to the base" and "relative to the working directory" are
//! exercised by every case. Controller-side files (scripts, copy sources) are named by absolute
//! paths in a private temporary directory.
//!
//! What legitimately differs stays out of the assertions: the local agent runs as this process's
//! user and the SSH agent as the test user, so a file written without an explicit `owner` belongs
//! to different users, and only the test user's own permissions are assumed.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use actuator::exec::{
    Action, CopySpec, ExecAgent, ExecError, ExecOutput, ExecTask, LocalAgent, Template,
};
use actuator::orchestrate::{ActuatorOrchestration, FailureKind};
use actuator::prelude::*;
use actuator_tests::sshd::{self, owned_dir_in, sshd};
use actuator_tests::{processes_running, walk};
use tempfile::TempDir;

/// Generates, for each case function, one test per agent: `local::<case>` and `ssh::<case>`.
macro_rules! conformance {
    ($($case:ident),+ $(,)?) => {
        /// Every case against [`LocalAgent`].
        mod local {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::Harness::new(super::Agent::Local)).await;
                }
            )+
        }
        /// Every case against [`SshAgent`](actuator_ssh::SshAgent).
        mod ssh {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::Harness::new(super::Agent::Ssh)).await;
                }
            )+
        }
    };
}

conformance! {
    ping_answers_pong,
    a_command_runs_its_program_without_a_shell,
    a_relative_program_path_is_relative_to_the_working_directory,
    a_shell_line_runs_under_sh,
    output_streams_are_captured_separately_and_stdin_is_empty,
    large_output_on_both_streams_arrives_whole,
    a_script_runs_through_its_interpreter_with_its_arguments_and_is_removed,
    a_script_file_without_shebang_runs_under_sh,
    a_script_is_removed_after_a_failure_and_after_a_timeout,
    a_missing_script_file_is_an_io_error,
    environment_values_are_exported_and_never_interpolated,
    tasks_no_agent_can_run_are_refused,
    hostile_values_stay_literal_in_every_place,
    chdir_is_relative_to_the_base_and_the_default_is_the_base,
    a_missing_working_directory_is_an_error_naming_the_resolved_path,
    creates_and_removes_decide_before_any_action,
    a_timeout_kills_the_whole_process_group,
    a_dropped_task_is_killed_with_its_process_group,
    background_processes_are_left_alone_and_do_not_hold_the_task,
    a_non_zero_exit_reports_its_status_and_stderr_tail,
    death_by_a_signal_is_128_plus_its_number,
    a_missing_or_unrunnable_program_is_a_spawn_error,
    copying_content_writes_a_file_and_its_missing_parents,
    copying_content_keeps_an_existing_mode_or_sets_the_given_one,
    copying_content_onto_a_directory_is_invalid,
    copying_a_file_to_a_path_or_into_a_directory,
    copying_a_directory_without_trailing_slash_copies_the_directory,
    copying_a_directory_with_trailing_slash_copies_its_contents,
    copying_over_an_earlier_copy_replaces_it,
    copying_binary_files_keeps_every_byte,
    copy_templates_expand_content_and_every_file,
    copy_template_errors_name_the_variable_and_the_file,
    copies_set_the_owner_and_group_given_by_name_or_id,
    copying_over_a_file_keeps_its_owner,
    an_unknown_owner_or_group_is_refused_before_writing,
    a_missing_copy_source_is_an_io_error,
    a_copy_through_a_file_is_an_io_error,
    an_orchestrated_value_is_always_exactly_one_argument,
    an_orchestrated_template_names_its_unresolved_variable,
}

// ------------------------------------------------------------------------------------------------
// The harness

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Agent {
    Local,
    Ssh,
}

/// The host every task names (the local agent ignores it).
const HOST: &str = "127.0.0.1";

/// One case's agent and directories (removed when the case ends, also when it fails).
struct Harness {
    which: Agent,
    agent: Arc<dyn ExecAgent>,
    /// Where relative paths resolve for a task without `chdir`: the test user's home.
    base: PathBuf,
    /// This case's directory, inside `base`, owned by the test user.
    dir: TempDir,
    /// Controller-side files: scripts and copy sources.
    local: TempDir,
    _known_hosts: Option<TempDir>,
}

impl Harness {
    fn new(which: Agent) -> Harness {
        let s = sshd();
        let (agent, known_hosts): (Arc<dyn ExecAgent>, _) = match which {
            Agent::Local => (Arc::new(LocalAgent::with_root(&s.home)), None),
            Agent::Ssh => {
                let (agent, known_hosts) = sshd::agent();
                (Arc::new(agent), Some(known_hosts))
            }
        };
        Harness {
            which,
            agent,
            base: s.home.clone(),
            dir: owned_dir_in(&s.home),
            local: tempfile::tempdir().unwrap(),
            _known_hosts: known_hosts,
        }
    }

    /// The case directory relative to the base: what tasks `chdir` to.
    fn rel(&self) -> String {
        let rel = self.dir.path().strip_prefix(&self.base).unwrap();
        rel.to_str().unwrap().to_owned()
    }

    /// A task that runs in the case directory.
    fn task(&self, name: &str, action: Action) -> ExecTask {
        self.bare(name, action).chdir(self.rel())
    }

    /// A task with no modifiers.
    fn bare(&self, name: &str, action: Action) -> ExecTask {
        ExecTask::new(name, action).host(HOST)
    }

    async fn run(&self, task: ExecTask) -> Result<ExecOutput, ExecError> {
        self.agent.run(task).await
    }

    async fn ok(&self, task: ExecTask) -> ExecOutput {
        let name = task.name.clone();
        match self.run(task).await {
            Ok(out) => out,
            Err(e) => panic!("{:?} agent: task `{name}` failed: {e}", self.which),
        }
    }

    async fn err(&self, task: ExecTask) -> ExecError {
        let name = task.name.clone();
        match self.run(task).await {
            Ok(out) => panic!("{:?} agent: task `{name}` succeeded: {out:?}", self.which),
            Err(e) => e,
        }
    }

    /// `name` in the case directory.
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `name` in the case directory, as the absolute string a task is given.
    fn abs(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_else(|e| panic!("{:?} agent: read {name}: {e}", self.which))
    }

    /// Makes directory `name` in the case directory, owned by the test user (so that either
    /// agent may write in it).
    fn mkdir(&self, name: &str) {
        let s = sshd();
        std::fs::create_dir(self.path(name)).unwrap();
        std::os::unix::fs::chown(self.path(name), Some(s.uid), Some(s.gid)).unwrap();
    }

    /// `name` among the controller-side files.
    fn local_path(&self, name: &str) -> PathBuf {
        self.local.path().join(name)
    }

    /// The argument of a `sleep` this case starts and looks for, unique to the case and agent
    /// (the local and SSH runs of a case run at the same time).
    fn sleep_mark(&self, n: u32) -> String {
        let agent = match self.which {
            Agent::Local => 0,
            Agent::Ssh => 500,
        };
        (47000 + agent + n).to_string()
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn set_mode(p: &Path, mode: u32) {
    std::fs::set_permissions(p, PermissionsExt::from_mode(mode)).unwrap();
}

/// Writes `text` to `path` with `mode`.
fn write(path: &Path, text: impl AsRef<[u8]>, mode: u32) {
    std::fs::write(path, text).unwrap();
    set_mode(path, mode);
}

/// The mode a newly created directory gets here: 0777 less this process's umask (the sshd the
/// tests start inherits it).
fn new_dir_mode() -> u32 {
    let out = std::process::Command::new("sh")
        .args(["-c", "umask"])
        .output()
        .unwrap();
    let umask = u32::from_str_radix(String::from_utf8(out.stdout).unwrap().trim(), 8).unwrap();
    0o777 & !umask
}

fn os_error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}
const ENOENT: i32 = 2;
const EACCES: i32 = 13;
const ENOTDIR: i32 = 20;

/// Values a model may hand a task: each must reach the host exactly as it is, in every place.
/// None contains `/` (they are also used as file names).
const HOSTILE: &[&str] = &[
    "; rm -rf x; touch pwned",
    "$(touch pwned)",
    "`touch pwned`",
    "' ; touch pwned ; '",
    "\" ; touch pwned ; \"",
    "O'Brien",
    "two words",
    "  leading and trailing  ",
    r#"say "hi" \ back"#,
    "a\ntouch pwned\nb",
    "trailing newline\n",
    "${HOME:-x} $PATH !! * ? ~ # &",
    "%s%d%% \\n \\0 \\",
    "\\'$(touch pwned)\\",
    "-n",
    "é日本🦀\u{202e}\t",
];

/// No value above ran as shell syntax anywhere the agents could have written.
fn assert_nothing_injected(h: &Harness) {
    let pwned: Vec<_> = [h.dir.path(), h.base.as_path()]
        .iter()
        .flat_map(|d| walk(d))
        .filter(|p| p.file_name().is_some_and(|n| n == "pwned"))
        .collect();
    assert!(pwned.is_empty(), "{:?} agent: injected: {pwned:?}", h.which);
}

// ------------------------------------------------------------------------------------------------
// Actions

async fn ping_answers_pong(h: &Harness) {
    let out = h.ok(h.bare("ping", Action::Ping)).await;
    let pong = ExecOutput {
        stdout: "pong".into(),
        ..ExecOutput::default()
    };
    assert_eq!(out, pong);
    // A ping only reaches the host: the modifiers of the other actions do not apply.
    let out = h
        .ok(h
            .bare("ping", Action::Ping)
            .chdir("no-such-dir")
            .creates("/"))
        .await;
    assert_eq!(out, pong);
}

async fn a_command_runs_its_program_without_a_shell(h: &Harness) {
    let argv = [
        "printf", "[%s]", "$HOME;", "a b", "|", "*", "", "O'Brien", "$(id)", "`id`", "&&", ">x",
    ];
    let out = h.ok(h.task("argv", Action::command(argv))).await;
    assert_eq!(
        out,
        ExecOutput {
            stdout: "[$HOME;][a b][|][*][][O'Brien][$(id)][`id`][&&][>x]".into(),
            ..ExecOutput::default()
        }
    );
    assert!(!h.path("x").exists());
}

async fn a_relative_program_path_is_relative_to_the_working_directory(h: &Harness) {
    std::fs::create_dir(h.path("bin")).unwrap();
    write(
        &h.path("bin/tool"),
        "#!/bin/sh\nprintf '%s|' \"$0\" \"$@\"\n",
        0o755,
    );
    // Run by its path resolved against the working directory (which a script's `$0` shows).
    let out = h
        .ok(h.task("tool", Action::command(["./bin/tool", "a b"])))
        .await;
    assert_eq!(out.stdout, format!("{}|a b|", h.abs("./bin/tool")));
    let out = h.ok(h.task("tool", Action::command(["bin/tool"]))).await;
    assert_eq!(out.stdout, format!("{}|", h.abs("bin/tool")));
    let absolute = h.abs("bin/tool");
    let out = h.ok(h.bare("tool", Action::command([&absolute]))).await;
    assert_eq!(out.stdout, format!("{absolute}|"));
}

async fn a_shell_line_runs_under_sh(h: &Harness) {
    let line = "printf '%s\\n' b a | sort > sorted; echo \"$((1 + 2))\" && false || echo or; \
                x=1; [ \"$x\" = 1 ] && echo ok";
    let out = h.ok(h.task("shell", Action::Shell(line.into()))).await;
    assert_eq!(out.stdout, "3\nor\nok\n");
    assert_eq!(h.read("sorted"), "a\nb\n");
}

async fn output_streams_are_captured_separately_and_stdin_is_empty(h: &Harness) {
    let out = h
        .ok(h.task(
            "streams",
            Action::Shell("echo out; echo err >&2; cat; echo end".into()),
        ))
        .await;
    assert_eq!(
        out,
        ExecOutput {
            stdout: "out\nend\n".into(),
            stderr: "err\n".into(),
            ..ExecOutput::default()
        }
    );
    // With environment variables too (the SSH agent sends them on the channel's input).
    let out = h
        .ok(h
            .task("stdin", Action::command(["cat"]))
            .env("V", "not input"))
        .await;
    assert_eq!(out.stdout, "");
    let script = Action::Script {
        path: "cat.sh".into(),
        args: vec![],
        content: Some("cat; echo end".into()),
    };
    let out = h.ok(h.task("stdin", script).env("V", "x")).await;
    assert_eq!(out.stdout, "end\n");
}

async fn large_output_on_both_streams_arrives_whole(h: &Harness) {
    let line = "head -c 3000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2";
    let out = h.ok(h.task("big", Action::Shell(line.into()))).await;
    assert_eq!(out.stdout.len(), 3_000_000);
    assert!(out.stdout.bytes().all(|b| b == b'a'));
    assert_eq!(out.stderr.len(), 1_000_000);
    assert!(out.stderr.bytes().all(|b| b == b'b'));
}

async fn a_script_runs_through_its_interpreter_with_its_arguments_and_is_removed(h: &Harness) {
    let text = "#!/bin/sh -e\nprintf '%s\\n' \"$0\" > where\nprintf '[%s]' \"$@\" > args\n\
                [ -x \"$0\" ]\npwd > pwd\nfalse\necho not reached\n";
    let args: Vec<String> = HOSTILE.iter().chain(&[""]).map(|v| v.to_string()).collect();
    let script = Action::Script {
        path: "/somewhere/deploy.sh".into(),
        args: args.clone(),
        content: Some(text.into()),
    };
    // `-e` from the `#!` line ends the script at `false`.
    let err = h.err(h.task("script", script)).await;
    assert!(
        matches!(&err, ExecError::Failed { status: 1, stderr_tail, .. } if stderr_tail.is_empty()),
        "{err:?}"
    );
    let expected: String = args.iter().map(|a| format!("[{a}]")).collect();
    assert_eq!(h.read("args"), expected);
    assert_eq!(h.read("pwd"), format!("{}\n", h.dir.path().display()));
    // A private copy named as the script, removed with its directory afterwards.
    let ran = PathBuf::from(h.read("where").trim_end());
    assert!(ran.ends_with("deploy.sh") && ran.is_absolute(), "{ran:?}");
    assert!(!ran.exists() && !ran.parent().unwrap().exists());
    assert_nothing_injected(h);

    // The interpreter is looked up as the kernel would: `/usr/bin/env sh`, its argument kept.
    let script = Action::Script {
        path: "env.sh".into(),
        args: vec!["a b".into()],
        content: Some("#!/usr/bin/env sh\nprintf 'via env [%s]' \"$1\"\n".into()),
    };
    let out = h.ok(h.task("env", script)).await;
    assert_eq!(out.stdout, "via env [a b]");
}

async fn a_script_file_without_shebang_runs_under_sh(h: &Harness) {
    let path = h.local_path("setup");
    // Not executable, no `#!`: still run, by /bin/sh.
    write(
        &path,
        "printf '%s|%s' \"$(basename \"$0\")\" \"$1\"; [ \"$(readlink /proc/$$/exe)\" = \"$(readlink -f /bin/sh)\" ] && echo ' sh'\n",
        0o600,
    );
    let script = Action::Script {
        path,
        args: vec!["x y".into()],
        content: None,
    };
    let out = h.ok(h.task("script", script)).await;
    assert_eq!(out.stdout, "setup|x y sh\n");
    // A file with a `#!` line: its interpreter and argument, whatever the file's own mode.
    let path = h.local_path("strict.sh");
    write(
        &path,
        "#!/bin/sh -e\n[ -x \"$0\" ]\nfalse\necho not reached\n",
        0o600,
    );
    let script = Action::Script {
        path,
        args: vec![],
        content: None,
    };
    let err = h.err(h.task("strict", script)).await;
    assert_eq!(err.to_string(), "task `strict` failed with exit status 1");
}

async fn a_script_is_removed_after_a_failure_and_after_a_timeout(h: &Harness) {
    let failing = Action::Script {
        path: "fail.sh".into(),
        args: vec![],
        content: Some("printf '%s' \"$0\" > where\necho bad >&2\nexit 3\n".into()),
    };
    let err = h.err(h.task("failing", failing)).await;
    assert_eq!(
        err.to_string(),
        "task `failing` failed with exit status 3: bad"
    );
    let ran = PathBuf::from(h.read("where"));
    assert!(!ran.exists() && !ran.parent().unwrap().exists());

    let mark = h.sleep_mark(1);
    let slow = Action::Script {
        path: "slow.sh".into(),
        args: vec![mark.clone()],
        content: Some("printf '%s' \"$0\" > where\nsleep \"$1\"\n".into()),
    };
    let err = h
        .err(h.task("slow", slow).timeout(Duration::from_millis(1500)))
        .await;
    assert_eq!(
        err.to_string(),
        "task `slow` timed out after 1.5s and was killed"
    );
    let ran = PathBuf::from(h.read("where"));
    gone(h, &[&mark]).await;
    assert!(!ran.exists() && !ran.parent().unwrap().exists());
}

async fn a_missing_script_file_is_an_io_error(h: &Harness) {
    let path = h.local_path("nope.sh");
    let script = Action::Script {
        path: path.clone(),
        args: vec![],
        content: None,
    };
    let err = h.err(h.task("script", script)).await;
    assert!(
        matches!(&err, ExecError::Io { op: "read script", path: p, .. } if *p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "task `script`: cannot read script `{}`: {}",
            path.display(),
            os_error(ENOENT)
        )
    );
}

// ------------------------------------------------------------------------------------------------
// Modifiers

async fn environment_values_are_exported_and_never_interpolated(h: &Harness) {
    for value in HOSTILE.iter().chain(&[""]) {
        let with_env = |name: &str, action: Action| {
            h.task(name, action)
                .env("V", *value)
                .env("OTHER", format!("{value}{value}"))
        };
        // No shell: `$V` is an argument like any other.
        let out = h
            .ok(with_env("cmd", Action::command(["printf", "%s", "$V"])))
            .await;
        assert_eq!(out.stdout, "$V");
        let out = h
            .ok(with_env(
                "shell",
                Action::Shell(r#"printf '%s|%s' "$V" "$OTHER""#.into()),
            ))
            .await;
        assert_eq!(out.stdout, format!("{value}|{value}{value}"), "{value:?}");
        // Exported: the shell's children see it too.
        let out = h
            .ok(with_env(
                "child",
                Action::command(["sh", "-c", r#"printf %s "$V""#]),
            ))
            .await;
        assert_eq!(out.stdout, *value, "{value:?}");
        let script = Action::Script {
            path: "env.sh".into(),
            args: vec![],
            content: Some(r#"printf %s "$V""#.into()),
        };
        let out = h.ok(with_env("script", script)).await;
        assert_eq!(out.stdout, *value, "{value:?}");
    }
    assert_nothing_injected(h);
}

async fn tasks_no_agent_can_run_are_refused(h: &Harness) {
    let invalid = |name: &str, message: &str| format!("task `{name}`: invalid task: {message}");
    let shell = || Action::Shell("touch ran".into());
    let copy = |dest: &str| CopySpec {
        dest: dest.into(),
        content: Some("x".into()),
        ..CopySpec::default()
    };
    let script = Action::Script {
        path: "s.sh".into(),
        args: vec!["a\0b".into()],
        content: Some("touch ran".into()),
    };
    let cases = [
        (
            h.task("env", shell()).env("A;B", "1"),
            invalid("env", "invalid environment variable name `A;B`"),
        ),
        (
            h.task("env", shell()).env("1X", "1"),
            invalid("env", "invalid environment variable name `1X`"),
        ),
        (
            h.task("env", shell()).env("", "1"),
            invalid("env", "invalid environment variable name ``"),
        ),
        (
            h.task("nul", shell()).env("A", "x\0y"),
            invalid("nul", "environment variable `A` contains a NUL byte"),
        ),
        (
            h.task("nul", Action::command(["touch", "ran\0"])),
            invalid("nul", "the command contains a NUL byte"),
        ),
        (
            h.task("nul", Action::Shell("touch ran\0".into())),
            invalid("nul", "the shell line contains a NUL byte"),
        ),
        (
            h.task("nul", script),
            invalid("nul", "a script argument contains a NUL byte"),
        ),
        (
            h.task("nul", shell()).chdir("a\0b"),
            invalid("nul", "`chdir` contains a NUL byte"),
        ),
        (
            h.task("nul", shell()).creates("a\0b"),
            invalid("nul", "`creates` contains a NUL byte"),
        ),
        (
            h.task("nul", shell()).removes("a\0b"),
            invalid("nul", "`removes` contains a NUL byte"),
        ),
        (
            h.task("nul", Action::Copy(copy("a\0b"))),
            invalid("nul", "`dest` contains a NUL byte"),
        ),
        (
            h.task(
                "nul",
                Action::Copy(CopySpec {
                    owner: Some("a\0b".into()),
                    ..copy("ran")
                }),
            ),
            invalid("nul", "`owner` contains a NUL byte"),
        ),
        (
            h.task(
                "nul",
                Action::Copy(CopySpec {
                    group: Some("a\0b".into()),
                    ..copy("ran")
                }),
            ),
            invalid("nul", "`group` contains a NUL byte"),
        ),
        (
            h.task("copy", Action::Copy(copy(""))),
            invalid("copy", "copy needs a `dest`"),
        ),
        (
            h.task(
                "copy",
                Action::Copy(CopySpec {
                    content: None,
                    ..copy("ran")
                }),
            ),
            invalid("copy", "copy needs exactly one of `src` and `content`"),
        ),
        (
            h.task(
                "copy",
                Action::Copy(CopySpec {
                    src: Some(h.local_path("a")),
                    ..copy("ran")
                }),
            ),
            invalid("copy", "copy needs exactly one of `src` and `content`"),
        ),
        (
            h.task("empty", Action::command(Vec::<String>::new())),
            "task `empty`: bad command: empty command".into(),
        ),
    ];
    for (task, expected) in cases {
        let err = h.err(task).await;
        assert_eq!(err.to_string(), expected);
        assert!(
            matches!(
                err,
                ExecError::Invalid { .. } | ExecError::BadCommand { .. }
            ),
            "{err:?}"
        );
        assert!(!err.retryable());
    }
    assert!(!h.path("ran").exists());
}

async fn hostile_values_stay_literal_in_every_place(h: &Harness) {
    for (i, value) in HOSTILE.iter().enumerate() {
        // An argument (making the directory the next tasks run in).
        let sub = format!("{i}-{value}");
        h.ok(h.task("mkdir", Action::command(["mkdir", &sub])))
            .await;
        assert!(h.path(&sub).is_dir(), "{value:?}");
        let in_sub = |name: &str, action: Action| h.task(name, action).chdir(h.abs(&sub));
        // The working directory.
        let out = h.ok(in_sub("pwd", Action::command(["pwd"]))).await;
        assert_eq!(out.stdout, format!("{}\n", h.abs(&sub)));
        // A copy's destination (relative to that directory) and content.
        let copy = CopySpec {
            dest: value.to_string(),
            content: Some(value.to_string()),
            ..CopySpec::default()
        };
        h.ok(in_sub("copy", Action::Copy(copy))).await;
        assert_eq!(h.read(&format!("{sub}/{value}")), *value);
        // A copy's source file name.
        let src = h.local_path(value);
        write(&src, *value, 0o644);
        let copy = CopySpec {
            dest: "into/".into(),
            src: Some(src),
            ..CopySpec::default()
        };
        h.ok(in_sub("copy", Action::Copy(copy))).await;
        assert_eq!(h.read(&format!("{sub}/into/{value}")), *value);
        // `creates` and `removes`.
        let out = h
            .ok(in_sub("creates", Action::Shell("touch ran".into())).creates(*value))
            .await;
        assert_eq!(out.skipped, Some(format!("creates: `{value}` exists")));
        let absent = format!("{value}.absent");
        let out = h
            .ok(in_sub("removes", Action::Shell("touch ran".into())).removes(&absent))
            .await;
        assert_eq!(
            out.skipped,
            Some(format!("removes: `{absent}` does not exist"))
        );
        assert!(!h.path(&format!("{sub}/ran")).exists());
        // A script's file name and argument.
        let script = Action::Script {
            path: PathBuf::from("/scripts").join(value),
            args: vec![value.to_string()],
            content: Some(r#"printf '%s|%s' "$(basename "$0")" "$1""#.into()),
        };
        let out = h.ok(in_sub("script", script)).await;
        // `basename` of a name ending in newlines loses them, as the shell's `$(…)` does.
        let name = value.trim_end_matches('\n');
        assert_eq!(out.stdout, format!("{name}|{value}"), "{value:?}");
        // An owner or group that does not exist: named as given.
        let owned = |owner: Option<&str>, group: Option<&str>| CopySpec {
            dest: "owned".into(),
            content: Some("x".into()),
            owner: owner.map(str::to_owned),
            group: group.map(str::to_owned),
            ..CopySpec::default()
        };
        let err = h
            .err(in_sub("owner", Action::Copy(owned(Some(value), None))))
            .await;
        assert_eq!(
            err.to_string(),
            format!("task `owner`: unknown user `{value}`")
        );
        let err = h
            .err(in_sub("group", Action::Copy(owned(None, Some(value)))))
            .await;
        assert_eq!(
            err.to_string(),
            format!("task `group`: unknown group `{value}`")
        );
        assert!(!h.path(&format!("{sub}/owned")).exists());
    }
    assert_nothing_injected(h);
}

async fn chdir_is_relative_to_the_base_and_the_default_is_the_base(h: &Harness) {
    let pwd = || Action::command(["pwd"]);
    let out = h.ok(h.bare("default", pwd())).await;
    assert_eq!(out.stdout, format!("{}\n", h.base.display()));
    let out = h.ok(h.task("relative", pwd())).await;
    assert_eq!(out.stdout, format!("{}\n", h.dir.path().display()));
    let out = h.ok(h.bare("absolute", pwd()).chdir(h.abs(""))).await;
    assert_eq!(out.stdout, format!("{}\n", h.dir.path().display()));
    std::fs::create_dir(h.path("sub")).unwrap();
    let out = h
        .ok(h.bare("nested", pwd()).chdir(format!("{}/sub", h.rel())))
        .await;
    assert_eq!(out.stdout, format!("{}\n", h.path("sub").display()));
}

async fn a_missing_working_directory_is_an_error_naming_the_resolved_path(h: &Harness) {
    write(&h.path("file"), "", 0o644);
    let actions = || {
        [
            Action::command(["touch", "ran"]),
            Action::Shell("touch ran".into()),
            Action::Script {
                path: "s.sh".into(),
                args: vec![],
                content: Some("touch ran".into()),
            },
            Action::Copy(CopySpec {
                dest: "ran".into(),
                content: Some("x".into()),
                ..CopySpec::default()
            }),
        ]
    };
    for (dir, errno) in [
        ("missing", ENOENT),
        ("file", ENOTDIR),
        ("file/below", ENOTDIR),
    ] {
        for action in actions() {
            let kind = action.kind();
            // Relative to the base, and before `creates` is looked at.
            let chdir = format!("{}/{dir}", h.rel());
            let err = h.err(h.bare("cd", action).chdir(chdir).creates("/")).await;
            assert!(
                matches!(&err, ExecError::Chdir { path, .. } if *path == h.path(dir)),
                "{kind}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "task `cd`: cannot use working directory `{}`: {}",
                    h.path(dir).display(),
                    os_error(errno)
                ),
                "{kind}"
            );
            assert!(!err.retryable());
        }
    }
    assert!(walk(h.dir.path()).iter().all(|p| !p.ends_with("ran")));
}

async fn creates_and_removes_decide_before_any_action(h: &Harness) {
    let actions = |marker: &str| {
        [
            Action::command(["touch", marker]),
            Action::Shell(format!("touch {marker}")),
            Action::Script {
                path: "s.sh".into(),
                args: vec![marker.into()],
                content: Some(r#"touch "$1""#.into()),
            },
            Action::Copy(CopySpec {
                dest: marker.into(),
                content: Some("x".into()),
                ..CopySpec::default()
            }),
        ]
    };
    let skipped = |reason: String| ExecOutput {
        skipped: Some(reason),
        ..ExecOutput::default()
    };
    write(&h.path("here"), "", 0o644);
    for (i, action) in actions("not-run").into_iter().enumerate() {
        // Relative to the working directory, or absolute.
        let out = h.ok(h.task("c", action.clone()).creates("here")).await;
        assert_eq!(out, skipped("creates: `here` exists".into()), "{i}");
        let absent = h.abs("absent");
        let out = h.ok(h.task("r", action).removes(&absent)).await;
        assert_eq!(
            out,
            skipped(format!("removes: `{absent}` does not exist")),
            "{i}"
        );
    }
    assert!(!h.path("not-run").exists());
    for (i, action) in actions("ran").into_iter().enumerate() {
        let out = h
            .ok(h
                .task("c", action.clone())
                .creates("absent")
                .removes("here"))
            .await;
        assert_eq!(out.skipped, None, "{i}");
        assert!(h.path("ran").exists(), "{i}");
        std::fs::remove_file(h.path("ran")).unwrap();
    }
}

/// Waits (a few seconds at most) until no `sleep <mark>` runs any more.
async fn gone(h: &Harness, marks: &[&str]) {
    for _ in 0..100 {
        if marks.iter().all(|m| processes_running(m).is_empty()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{:?} agent: processes {marks:?} survived", h.which);
}

async fn a_timeout_kills_the_whole_process_group(h: &Harness) {
    let (bg, fg, cmd) = (h.sleep_mark(11), h.sleep_mark(12), h.sleep_mark(13));
    let line = format!("sleep {bg} & sleep {fg}; echo never");
    let err = h
        .err(
            h.task("slow", Action::Shell(line))
                .timeout(Duration::from_secs(1)),
        )
        .await;
    assert!(
        matches!(&err, ExecError::Timeout { after, .. } if *after == Duration::from_secs(1)),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "task `slow` timed out after 1s and was killed"
    );
    assert!(err.retryable());
    gone(h, &[&bg, &fg]).await;
    let err = h
        .err(
            h.task("cmd", Action::command(["sleep", &cmd]))
                .timeout(Duration::from_millis(700)),
        )
        .await;
    assert!(matches!(err, ExecError::Timeout { .. }), "{err:?}");
    gone(h, &[&cmd]).await;
}

async fn a_dropped_task_is_killed_with_its_process_group(h: &Harness) {
    let (bg, fg) = (h.sleep_mark(21), h.sleep_mark(22));
    let line = format!("sleep {bg} & sleep {fg}");
    let dropped = tokio::time::timeout(
        Duration::from_secs(1),
        h.run(h.task("dropped", Action::Shell(line))),
    )
    .await;
    assert!(dropped.is_err(), "{dropped:?}");
    gone(h, &[&bg, &fg]).await;
}

async fn background_processes_are_left_alone_and_do_not_hold_the_task(h: &Harness) {
    let daemon = h.sleep_mark(31);
    // The daemon holds the output pipes open; the task still ends (a hang is what this guards).
    let line = format!("sleep {daemon} & echo started");
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        h.run(h.task("daemon", Action::Shell(line))),
    )
    .await
    .expect("the task ended")
    .unwrap();
    assert_eq!(out.stdout, "started\n");
    let left = processes_running(&daemon);
    assert_eq!(left.len(), 1, "the background process is left running");
    for pid in left {
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
}

async fn a_non_zero_exit_reports_its_status_and_stderr_tail(h: &Harness) {
    let line =
        "i=1; while [ $i -le 30 ]; do echo \"line $i\" >&2; i=$((i + 1)); done; echo out; exit 4";
    let err = h.err(h.task("fails", Action::Shell(line.into()))).await;
    let tail: Vec<String> = (11..=30).map(|i| format!("line {i}")).collect();
    let tail = tail.join("\n");
    assert!(
        matches!(&err, ExecError::Failed { status: 4, stderr_tail, .. } if *stderr_tail == tail),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("task `fails` failed with exit status 4: {tail}")
    );
    assert!(!err.retryable());
    let err = h.err(h.task("quiet", Action::command(["false"]))).await;
    assert_eq!(err.to_string(), "task `quiet` failed with exit status 1");
}

async fn death_by_a_signal_is_128_plus_its_number(h: &Harness) {
    for (signal, status) in [("TERM", 143), ("KILL", 137), ("SEGV", 139)] {
        let line = format!("kill -{signal} $$");
        let err = h.err(h.task("signal", Action::Shell(line))).await;
        assert!(
            matches!(&err, ExecError::Failed { status: s, .. } if *s == status),
            "{signal}: {err:?}"
        );
    }
}

async fn a_missing_or_unrunnable_program_is_a_spawn_error(h: &Harness) {
    write(&h.path("plain"), "echo hi\n", 0o644);
    std::fs::create_dir(h.path("dir")).unwrap();
    for (program, errno) in [
        ("no-such-program-actuator", ENOENT),
        // Shell builtins are not programs.
        ("cd", ENOENT),
        ("exit", ENOENT),
        ("./missing", ENOENT),
        ("./plain", EACCES),
        ("./dir", EACCES),
    ] {
        let err = h
            .err(h.task("spawn", Action::command([program, "arg"])))
            .await;
        assert!(
            matches!(&err, ExecError::Spawn { program: p, source, .. } if p == program && source.raw_os_error() == Some(errno)),
            "{program}: {err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "task `spawn`: cannot start `{program}`: {}",
                os_error(errno)
            )
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Copies

fn content(dest: &str, text: &str) -> CopySpec {
    CopySpec {
        dest: dest.into(),
        content: Some(text.into()),
        ..CopySpec::default()
    }
}

fn from(dest: &str, src: impl Into<PathBuf>) -> CopySpec {
    CopySpec {
        dest: dest.into(),
        src: Some(src.into()),
        ..CopySpec::default()
    }
}

async fn copying_content_writes_a_file_and_its_missing_parents(h: &Harness) {
    let out = h
        .ok(h.task("copy", Action::Copy(content("a/b/c.conf", "one\n"))))
        .await;
    assert_eq!(out, ExecOutput::default());
    assert_eq!(h.read("a/b/c.conf"), "one\n");
    assert_eq!(mode(&h.path("a/b/c.conf")), 0o644);
    assert_eq!(mode(&h.path("a")), new_dir_mode());
    assert_eq!(mode(&h.path("a/b")), new_dir_mode());
    // Relative to the base without `chdir`; an absolute path as it is.
    let dest = format!("{}/d.conf", h.rel());
    h.ok(h.bare("copy", Action::Copy(content(&dest, "two"))))
        .await;
    assert_eq!(h.read("d.conf"), "two");
    h.ok(h.bare("copy", Action::Copy(content(&h.abs("e.conf"), "three"))))
        .await;
    assert_eq!(h.read("e.conf"), "three");
    // Written beside the target and renamed over it: no temporary file is left.
    let left: Vec<_> = walk(h.dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".actuator-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

async fn copying_content_keeps_an_existing_mode_or_sets_the_given_one(h: &Harness) {
    write(&h.path("c.conf"), "old", 0o600);
    h.ok(h.task("copy", Action::Copy(content("c.conf", "new"))))
        .await;
    assert_eq!(
        (h.read("c.conf"), mode(&h.path("c.conf"))),
        ("new".into(), 0o600)
    );
    let spec = CopySpec {
        mode: Some(0o640),
        ..content("c.conf", "newer")
    };
    h.ok(h.task("copy", Action::Copy(spec))).await;
    assert_eq!(
        (h.read("c.conf"), mode(&h.path("c.conf"))),
        ("newer".into(), 0o640)
    );
    let spec = CopySpec {
        mode: Some(0o4750),
        ..content("setuid", "x")
    };
    h.ok(h.task("copy", Action::Copy(spec))).await;
    assert_eq!(mode(&h.path("setuid")), 0o4750);
}

async fn copying_content_onto_a_directory_is_invalid(h: &Harness) {
    std::fs::create_dir(h.path("files")).unwrap();
    for dest in ["files", "new/"] {
        let err = h
            .err(h.task("copy", Action::Copy(content(dest, "x"))))
            .await;
        assert_eq!(
            err.to_string(),
            format!(
                "task `copy`: invalid task: `{}` is a directory; copying `content` needs a file path",
                h.path(dest).display()
            )
        );
    }
    assert!(!h.path("new").exists());
}

async fn copying_a_file_to_a_path_or_into_a_directory(h: &Harness) {
    let src = h.local_path("a.txt");
    write(&src, "alpha\n", 0o640);
    // To a path: the given mode, else the source's.
    let spec = CopySpec {
        mode: Some(0o600),
        ..from("x/y.txt", &src)
    };
    h.ok(h.task("copy", Action::Copy(spec))).await;
    assert_eq!(
        (h.read("x/y.txt"), mode(&h.path("x/y.txt"))),
        ("alpha\n".into(), 0o600)
    );
    h.ok(h.task("copy", Action::Copy(from("z.txt", &src))))
        .await;
    assert_eq!(mode(&h.path("z.txt")), 0o640);
    // Into a directory: `dest` ends with `/` (made if missing) or is one.
    h.ok(h.task("copy", Action::Copy(from("files/", &src))))
        .await;
    assert_eq!(
        (h.read("files/a.txt"), mode(&h.path("files/a.txt"))),
        ("alpha\n".into(), 0o640)
    );
    h.mkdir("existing");
    h.ok(h.task("copy", Action::Copy(from("existing", &src))))
        .await;
    assert_eq!(h.read("existing/a.txt"), "alpha\n");
}

/// A controller-side tree: `conf/` (0751) with `a.txt` (0640), `sub/` (0750) with `b.txt`
/// (0600), `empty/` (0700), and `link -> a.txt`.
fn make_tree(h: &Harness) -> PathBuf {
    let conf = h.local_path("conf");
    std::fs::create_dir_all(conf.join("sub")).unwrap();
    std::fs::create_dir(conf.join("empty")).unwrap();
    write(&conf.join("a.txt"), "alpha\n", 0o640);
    write(&conf.join("sub/b.txt"), "beta\n", 0o600);
    set_mode(&conf.join("sub"), 0o750);
    set_mode(&conf.join("empty"), 0o700);
    set_mode(&conf, 0o751);
    symlink("a.txt", conf.join("link")).unwrap();
    conf
}

/// The names under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = walk(dir)
        .iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

async fn copying_a_directory_without_trailing_slash_copies_the_directory(h: &Harness) {
    let conf = make_tree(h);
    h.ok(h.task("copy", Action::Copy(from("out", &conf)))).await;
    let got = h.path("out/conf");
    assert_eq!(tree(&got), ["a.txt", "empty", "link", "sub", "sub/b.txt"]);
    assert_eq!(
        std::fs::read_to_string(got.join("sub/b.txt")).unwrap(),
        "beta\n"
    );
    assert_eq!(
        std::fs::read_link(got.join("link")).unwrap(),
        Path::new("a.txt")
    );
    let modes: Vec<u32> = ["", "a.txt", "sub", "sub/b.txt", "empty"]
        .iter()
        .map(|p| mode(&got.join(p)))
        .collect();
    assert_eq!(modes, [0o751, 0o640, 0o750, 0o600, 0o700]);
    assert_eq!(mode(&h.path("out")), new_dir_mode());
}

async fn copying_a_directory_with_trailing_slash_copies_its_contents(h: &Harness) {
    let conf = make_tree(h);
    let mut contents = conf.into_os_string();
    contents.push("/");
    let spec = CopySpec {
        mode: Some(0o604),
        ..from("contents", contents)
    };
    h.ok(h.task("copy", Action::Copy(spec))).await;
    let got = h.path("contents");
    assert_eq!(tree(&got), ["a.txt", "empty", "link", "sub", "sub/b.txt"]);
    // `mode` applies to every file; directories keep the source's; `dest` itself is new.
    let modes: Vec<u32> = ["", "a.txt", "sub", "sub/b.txt", "empty"]
        .iter()
        .map(|p| mode(&got.join(p)))
        .collect();
    assert_eq!(modes, [new_dir_mode(), 0o604, 0o750, 0o604, 0o700]);
}

async fn copying_over_an_earlier_copy_replaces_it(h: &Harness) {
    let conf = make_tree(h);
    h.ok(h.task("copy", Action::Copy(from("out", &conf)))).await;
    write(&conf.join("a.txt"), "changed\n", 0o644);
    std::fs::remove_file(conf.join("link")).unwrap();
    symlink("sub/b.txt", conf.join("link")).unwrap();
    h.ok(h.task("copy", Action::Copy(from("out", &conf)))).await;
    assert_eq!(h.read("out/conf/a.txt"), "changed\n");
    assert_eq!(mode(&h.path("out/conf/a.txt")), 0o644);
    assert_eq!(
        std::fs::read_link(h.path("out/conf/link")).unwrap(),
        Path::new("sub/b.txt")
    );
    // A link cannot replace a directory.
    std::fs::remove_file(h.path("out/conf/link")).unwrap();
    std::fs::create_dir(h.path("out/conf/link")).unwrap();
    let err = h
        .err(h.task("copy", Action::Copy(from("out", &conf))))
        .await;
    assert_eq!(
        err.to_string(),
        format!(
            "task `copy`: invalid task: cannot replace directory `{}` with a symbolic link",
            h.path("out/conf/link").display()
        )
    );
}

async fn copying_binary_files_keeps_every_byte(h: &Harness) {
    let big: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    write(&h.local_path("big.bin"), &big, 0o644);
    h.ok(h.task(
        "copy",
        Action::Copy(from("big.bin", h.local_path("big.bin"))),
    ))
    .await;
    assert!(std::fs::read(h.path("big.bin")).unwrap() == big);
    write(&h.local_path("empty"), "", 0o644);
    h.ok(h.task("copy", Action::Copy(from("empty", h.local_path("empty")))))
        .await;
    assert_eq!(std::fs::metadata(h.path("empty")).unwrap().len(), 0);
}

fn upper() -> Template {
    Arc::new(|t: &str| Ok(t.to_uppercase()))
}

async fn copy_templates_expand_content_and_every_file(h: &Harness) {
    let spec = CopySpec {
        template: Some(upper()),
        ..content("c.conf", "host=db\n")
    };
    h.ok(h.task("copy", Action::Copy(spec))).await;
    assert_eq!(h.read("c.conf"), "HOST=DB\n");
    let conf = make_tree(h);
    let spec = CopySpec {
        template: Some(upper()),
        ..from("out", &conf)
    };
    h.ok(h.task("copy", Action::Copy(spec))).await;
    assert_eq!(h.read("out/conf/a.txt"), "ALPHA\n");
    assert_eq!(h.read("out/conf/sub/b.txt"), "BETA\n");
}

async fn copy_template_errors_name_the_variable_and_the_file(h: &Harness) {
    let failing: Template = Arc::new(|_: &str| Err("unresolved variable `DB_HOST`".into()));
    let spec = CopySpec {
        template: Some(failing.clone()),
        ..content("t.conf", "host=!{DB_HOST}")
    };
    let err = h.err(h.task("tpl", Action::Copy(spec))).await;
    assert!(
        matches!(&err, ExecError::Template { file: None, .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "task `tpl`: template error in content: unresolved variable `DB_HOST`"
    );
    let src = h.local_path("t.conf");
    write(&src, "host=!{DB_HOST}", 0o644);
    let spec = CopySpec {
        template: Some(failing),
        ..from("t.conf", &src)
    };
    let err = h.err(h.task("tpl", Action::Copy(spec))).await;
    assert_eq!(
        err.to_string(),
        format!(
            "task `tpl`: template error in `{}`: unresolved variable `DB_HOST`",
            src.display()
        )
    );
    let bin = h.local_path("b.bin");
    write(&bin, [0xff, 0xfe, 0x00, 0x80], 0o644);
    let spec = CopySpec {
        template: Some(upper()),
        ..from("b.bin", &bin)
    };
    let err = h.err(h.task("tpl", Action::Copy(spec))).await;
    assert_eq!(
        err.to_string(),
        format!(
            "task `tpl`: template error in `{}`: not UTF-8 text (binary file?)",
            bin.display()
        )
    );
    assert!(!h.path("t.conf").exists() && !h.path("b.bin").exists());
}

/// The test user's primary group's name.
fn group_name() -> String {
    let out = std::process::Command::new("id")
        .args(["-gn", &sshd().user])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn owner_of(p: &Path) -> (u32, u32) {
    let meta = std::fs::symlink_metadata(p).unwrap();
    (meta.uid(), meta.gid())
}

async fn copies_set_the_owner_and_group_given_by_name_or_id(h: &Harness) {
    let s = sshd();
    let test_user = (s.uid, s.gid);
    let spec = CopySpec {
        owner: Some(s.user.clone()),
        group: Some(group_name()),
        mode: Some(0o600),
        ..content("by-name/owned.conf", "x")
    };
    h.ok(h.task("owned", Action::Copy(spec))).await;
    assert_eq!(owner_of(&h.path("by-name/owned.conf")), test_user);
    assert_eq!(mode(&h.path("by-name/owned.conf")), 0o600);
    let conf = make_tree(h);
    let spec = CopySpec {
        owner: Some(s.uid.to_string()),
        group: Some(s.gid.to_string()),
        ..from("by-id", &conf)
    };
    h.ok(h.task("owned", Action::Copy(spec))).await;
    for p in [
        "conf",
        "conf/a.txt",
        "conf/sub",
        "conf/sub/b.txt",
        "conf/link",
    ] {
        assert_eq!(owner_of(&h.path(&format!("by-id/{p}"))), test_user, "{p}");
    }
}

async fn copying_over_a_file_keeps_its_owner(h: &Harness) {
    let s = sshd();
    write(&h.path("kept.conf"), "old", 0o640);
    std::os::unix::fs::chown(h.path("kept.conf"), Some(s.uid), Some(s.gid)).unwrap();
    h.ok(h.task("copy", Action::Copy(content("kept.conf", "new"))))
        .await;
    assert_eq!(h.read("kept.conf"), "new");
    assert_eq!(owner_of(&h.path("kept.conf")), (s.uid, s.gid));
    assert_eq!(mode(&h.path("kept.conf")), 0o640);
}

async fn an_unknown_owner_or_group_is_refused_before_writing(h: &Harness) {
    for (owner, group, expected) in [
        (
            Some("no-such-user-actuator"),
            None,
            "unknown user `no-such-user-actuator`",
        ),
        (
            None,
            Some("no-such-group-actuator"),
            "unknown group `no-such-group-actuator`",
        ),
        (Some(""), None, "unknown user ``"),
    ] {
        let spec = CopySpec {
            owner: owner.map(str::to_owned),
            group: group.map(str::to_owned),
            ..content("nobody.conf", "x")
        };
        let err = h.err(h.task("owner", Action::Copy(spec))).await;
        assert!(matches!(err, ExecError::UnknownOwner { .. }), "{err:?}");
        assert_eq!(err.to_string(), format!("task `owner`: {expected}"));
    }
    // Also for a source that does not exist: the owner is checked first.
    let spec = CopySpec {
        owner: Some("no-such-user-actuator".into()),
        ..from("nobody.conf", h.local_path("missing"))
    };
    let err = h.err(h.task("owner", Action::Copy(spec))).await;
    assert!(matches!(err, ExecError::UnknownOwner { .. }), "{err:?}");
    assert!(!h.path("nobody.conf").exists());
}

async fn a_missing_copy_source_is_an_io_error(h: &Harness) {
    let src = h.local_path("nope");
    let err = h.err(h.task("copy", Action::Copy(from("x", &src)))).await;
    assert!(matches!(&err, ExecError::Io { op: "read", .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "task `copy`: cannot read `{}`: {}",
            src.display(),
            os_error(ENOENT)
        )
    );
    assert!(!h.path("x").exists());
}

async fn a_copy_through_a_file_is_an_io_error(h: &Harness) {
    write(&h.path("plain"), "", 0o644);
    let err = h
        .err(h.task("copy", Action::Copy(content("plain/sub/x.conf", "x"))))
        .await;
    assert_eq!(
        err.to_string(),
        format!(
            "task `copy`: cannot create directory `{}`: {}",
            h.path("plain/sub").display(),
            os_error(ENOTDIR)
        )
    );
}

// ------------------------------------------------------------------------------------------------
// Through the whole orchestration: config model → `up` → the agent

namespace! {
    struct ArgvNs {
        extern { DIR, V }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

config! {
    struct ArgvSetup for ArgvNs {
        defaults { role = ns.web }
        line: Task = CommandTask::new("line", "!{DIR}/argv.sh line !{V}"),
        quoted: Task = CommandTask::new("quoted", r#"!{DIR}/argv.sh quoted "pre !{V} post" 'and !{V}'"#),
        words: Task = CommandTask::argv("words", ["!{DIR}/argv.sh", "words", "!{V}", "-!{V}-"]),
        shell: Task = ShellTask::new("shell", r#""$DIR/argv.sh" shell "$V""#),
        script: Task = ScriptTask::new("script", script_path()).args(["script", "!{V}"]),
        copy: Task = ProcessCopyFileTask::new("copy", "!{DIR}/copy [!{V}]").content("[!{V}]"),
        inside: Task = CommandTask::new("inside", "./argv.sh inside !{V}").chdir("!{DIR}").creates("!{V}.done"),
    }
}

/// The controller-side script of `ArgvSetup`'s `ScriptTask` (the model names it, so it cannot
/// live in a case's directory): in cargo's directory for test files, the same for every case.
fn script_path() -> PathBuf {
    controller_file("args.sh", "exec \"$DIR/argv.sh\" \"$@\"\n")
}

/// `name` with `text` in cargo's directory for test files (written atomically: cases run at once).
fn controller_file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("exec-conformance");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let mut tmp = tempfile::NamedTempFile::new_in(&dir).unwrap();
    std::io::Write::write_all(&mut tmp, text.as_bytes()).unwrap();
    tmp.persist(&path).unwrap();
    path
}

/// The values of issue 10's defect, and more: each must arrive as exactly one argument.
const ONE_ARGUMENT: &[&str] = &[
    "x; touch F",
    "two words",
    r#"say "hi" \ back"#,
    "O'Brien",
    "$(touch F) `touch F` | touch F && touch F",
    "a\nnewline",
    "  spaces  around  ",
    "",
];

async fn an_orchestrated_value_is_always_exactly_one_argument(h: &Harness) {
    // `argv.sh NAME ARGS…` writes `[arg]` per argument to `$DIR/NAME.out`.
    write(
        &h.path("argv.sh"),
        "#!/bin/sh\nout=\"$DIR/$1.out\"; shift\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done > \"$out\"\n",
        0o755,
    );
    for value in ONE_ARGUMENT {
        let ns = ArgvNs::instance("a");
        ns.add_var(&ns.root(), Var::new("DIR", h.abs("")));
        ns.add_var(&ns.root(), Var::new("V", *value));
        let cfg = ArgvSetup::instance("s", &ns);
        let mut o = ActuatorOrchestration::new("conformance")
            .namespace(&ns)
            .config(&cfg)
            .agent(h.agent.clone())
            .memory_state();
        assert!(o.initiate_system().await, "{value:?}: {:#?}", o.failures());
        let one = format!("[{value}]");
        assert_eq!(h.read("line.out"), one, "{value:?}");
        assert_eq!(
            h.read("quoted.out"),
            format!("[pre {value} post][and {value}]")
        );
        assert_eq!(h.read("words.out"), format!("{one}[-{value}-]"));
        assert_eq!(h.read("shell.out"), one);
        assert_eq!(h.read("script.out"), one);
        assert_eq!(h.read(&format!("copy {one}")), one);
        assert_eq!(h.read("inside.out"), one);
        for out in walk(h.dir.path()) {
            if out.extension().is_some_and(|e| e == "out") {
                std::fs::remove_file(out).unwrap();
            }
        }
        assert!(
            !h.path("F").exists() && !h.base.join("F").exists(),
            "{value:?} injected"
        );
    }
}

config! {
    struct BadTemplate for ArgvNs {
        defaults { role = ns.web }
        good: Task = ProcessCopyFileTask::new("good", "!{DIR}/good.conf").content("v=!{V}\n"),
        bad: Task = ProcessCopyFileTask::new("bad", "!{DIR}/bad.conf").src(bad_template()),
        deps { good | bad }
    }
}

/// A controller-side file naming a variable the namespace does not have.
fn bad_template() -> PathBuf {
    controller_file("bad.conf", "host=!{NOT_DEFINED_ANYWHERE}\n")
}

async fn an_orchestrated_template_names_its_unresolved_variable(h: &Harness) {
    let ns = ArgvNs::instance("a");
    ns.add_var(&ns.root(), Var::new("DIR", h.abs("")));
    ns.add_var(&ns.root(), Var::new("V", "O'Brien"));
    let cfg = BadTemplate::instance("s", &ns);
    let mut o = ActuatorOrchestration::new("conformance-template")
        .namespace(&ns)
        .config(&cfg)
        .agent(h.agent.clone())
        .memory_state();
    assert!(!o.initiate_system().await);
    // The pre-flight reads a templated source file on the controller and resolves it for every
    // role, so the bad copy stops the run before anything runs: not even the good copy is made.
    assert!(!h.path("good.conf").exists());
    assert!(!h.path("bad.conf").exists());
    let failures = o.failures();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].kind, FailureKind::Model, "{failures:?}");
    let file = bad_template().display().to_string();
    for part in [
        "`bad`",
        "`NOT_DEFINED_ANYWHERE`",
        "ArgvNs.web",
        file.as_str(),
    ] {
        assert!(failures[0].error.contains(part), "{part} in {failures:?}");
    }
}
