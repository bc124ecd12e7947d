//! The example binary as a user runs it, against moto on loopback (`scripts/moto.sh`, started
//! idempotently): two workspaces of one model side by side in one account, where `down` of one
//! leaves the other complete and `down` of both leaves nothing tagged behind.
//!
//! Being an integration test of this package also makes `cargo test` build the binary with the
//! features of the test run, so the test command needs no second build for it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `aws-example ARGS… --workspace WORKSPACE` in `dir` under `scripts/moto.sh run`, which
/// starts moto if needed and points the AWS SDK's standard chain at it. Each workspace keeps its
/// state where a user's would be, `dir/.actuator/aws-example/WORKSPACE/`.
fn example(dir: &Path, workspace: &str, args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/moto.sh"))
        .arg("run")
        .arg(env!("CARGO_BIN_EXE_aws-example"))
        .args(args)
        .args(["--workspace", workspace])
        .current_dir(dir)
        .env("AWS_EXAMPLE_KEY_FILE", dir.join(format!("{workspace}.pem")))
        .env("AWS_EXAMPLE_INSTANCES", "2")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/moto.sh");
    eprintln!(
        "aws-example {args:?} --workspace {workspace}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `plan --detailed-exitcode`'s exit code: 0 when the cloud holds the model as it is (the
/// refresh reads every resource), 2 when something must be created or changed.
fn plan_code(dir: &Path, workspace: &str) -> Option<i32> {
    example(dir, workspace, &["plan", "--detailed-exitcode"])
        .status
        .code()
}

/// What moto holds tagged for the example's system and this workspace, whatever the state says:
/// the `resources` of the one `discovered` event `plan --discover --json` writes, as JSON text.
fn discovered(dir: &Path, workspace: &str) -> String {
    let out = example(dir, workspace, &["--json", "plan", "--discover"]);
    assert!(out.status.success(), "plan --discover failed");
    let line = String::from_utf8(out.stdout).unwrap();
    let (_, resources) = line
        .trim()
        .split_once(r#""resources":"#)
        .unwrap_or_else(|| panic!("not a discovered event: {line}"));
    resources.strip_suffix('}').unwrap_or(resources).to_owned()
}

#[test]
fn two_workspaces_side_by_side_and_down_of_one_leaves_the_other() {
    let dir: PathBuf =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("aws-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // Workspace names unique to this run: moto outlives test runs.
    let (a, b) = (
        format!("a{}", std::process::id()),
        format!("b{}", std::process::id()),
    );

    for w in [&a, &b] {
        assert!(example(&dir, w, &["up"]).status.success(), "up {w}");
    }
    assert_eq!(plan_code(&dir, &a), Some(0), "a is complete after b's up");
    assert_eq!(plan_code(&dir, &b), Some(0), "b is complete");

    assert!(example(&dir, &a, &["down", "--yes"]).status.success());
    assert_eq!(discovered(&dir, &a), "[]", "a left nothing tagged");
    assert_eq!(
        plan_code(&dir, &b),
        Some(0),
        "down of a took nothing of b's"
    );
    assert!(
        discovered(&dir, &b).contains(r#""this_state":true"#),
        "b's resources are still there and still b's"
    );

    assert!(example(&dir, &b, &["down", "--yes"]).status.success());
    assert_eq!(discovered(&dir, &b), "[]", "b left nothing tagged");
}
