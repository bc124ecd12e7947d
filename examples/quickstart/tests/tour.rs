//! The README's first command, run as a user runs it: the tour (plan, up, status, down) and the
//! command line in a fresh directory, with what they print.

use std::process::{Command, Stdio};

/// `quickstart ARGS` in `dir`, writing its work under `dir` too.
fn quickstart(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_quickstart"))
        .args(args)
        .current_dir(dir)
        .env("TMPDIR", dir)
        .env_remove("RUST_LOG")
        .env_remove("ACTUATOR_WORKSPACE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn the_tour_plans_brings_up_shows_and_tears_down() {
    let dir = tempfile::tempdir().unwrap();
    let out = quickstart(dir.path(), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    for want in [
        "$ quickstart plan\nResources:\n  +   Hosts.front   static.Server\n",
        "Plan: 4 to add, 0 to change, 0 to replace, 0 to destroy; 8 tasks to run.",
        "Up complete after ",
        "s: 4 created, 0 updated, 0 replaced, 0 destroyed; 8 tasks run, 0 skipped.",
        "quickstart (workspace default): Complete; 4 resources, 8 tasks recorded in .actuator/quickstart/default",
        "$ quickstart down --yes\n",
        "s: 0 created, 0 updated, 0 replaced, 4 destroyed; 0 tasks run, 0 skipped.",
        "url http://app1.local:8001/\nurl http://app2.local:8002/\nurl http://app3.local:8003/",
    ] {
        assert!(stdout.contains(want), "{want:?} in:\n{stdout}");
    }
}

#[test]
fn the_command_line_converges_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = quickstart(dir.path(), args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["plan", "--detailed-exitcode"]).0, Some(2));
    assert_eq!(run(&["up"]).0, Some(0));
    let (code, text, _) = run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code, Some(0));
    assert!(text.ends_with("No changes: the system matches the model.\nPlan: 0 to add, 0 to change, 0 to replace, 0 to destroy; 0 tasks to run.\n"), "{text}");
    let (_, text, _) = run(&["plan", "--reconfigure", "front"]);
    assert!(
        text.contains("  re-run  front (asked for (--reconfigure))"),
        "{text}"
    );
    let (code, _, err) = run(&["down"]);
    assert_eq!(code, Some(2), "no terminal, no --yes: {err}");
    assert_eq!(run(&["down", "--yes"]).0, Some(0));
    let (_, text, _) = run(&["status"]);
    assert!(
        text.starts_with("quickstart (workspace default): DeprovComplete; 0 resources, 0 tasks"),
        "{text}"
    );
}

#[test]
fn a_lost_state_of_static_hosts_has_nothing_to_discover() {
    let dir = tempfile::tempdir().unwrap();
    let out = quickstart(dir.path(), &["down", "--discover", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}
