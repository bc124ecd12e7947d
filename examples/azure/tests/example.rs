//! The example binary as a user runs it, against the ARM fake on loopback
//! (`scripts/azure-fake.sh`, started idempotently): `up` builds the cluster, a second `plan`
//! finds nothing to do, `down` deletes it and leaves nothing tagged behind.
//!
//! Being an integration test of this package also makes `cargo test` build the binary with the
//! features of the test run, so the test command needs no second build for it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `azure-example ARGS… --state STATE` under `scripts/azure-fake.sh run`, which starts the
/// fake if needed and exports its endpoints and credentials.
fn example(state: &Path, args: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(root.join("scripts/azure-fake.sh"))
        .arg("run")
        .arg(env!("CARGO_BIN_EXE_azure-example"))
        .args(args)
        .arg("--state")
        .arg(state)
        .env("AZURE_EXAMPLE_NODES", "2")
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/azure-fake.sh");
    eprintln!(
        "azure-example {args:?}: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn up_then_nothing_to_do_then_down_leaves_nothing() {
    let state = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("azure-example-{}", std::process::id()));

    assert!(example(&state, &["up"]).status.success(), "up");
    let again = example(&state, &["plan", "--detailed-exitcode"]);
    assert_eq!(
        again.status.code(),
        Some(0),
        "a second plan has nothing to do"
    );

    assert!(example(&state, &["down", "--yes"]).status.success(), "down");
    let left = example(&state, &["--json", "plan", "--discover"]);
    assert!(left.status.success());
    // The one `discovered` event, its `resources` empty.
    let line = String::from_utf8_lossy(&left.stdout);
    assert!(
        line.trim()
            .ends_with(r#""event":"discovered","resources":[]}"#),
        "nothing tagged is left: {line}"
    );
}
