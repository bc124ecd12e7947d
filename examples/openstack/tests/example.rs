//! The example's own binary — the one cargo built for this test, with the same features —
//! against the real OpenStack on loopback (`scripts/openstack.sh`, started if it is not running):
//! `up`, `status` and `down` as a user types them, then the project is listed through the APIs and
//! must hold what it held before.
//!
//! The run has a workspace of its own (`ci-<suffix>`), so an earlier run's leftovers are never
//! adopted or refused; whatever this run leaves, passed or not, `down --discover` deletes.

use std::path::Path;
use std::process::{Command, Output};

use actuator_tests::openstack::{env, project_snapshot, proxy, rt, run_suffix};

/// Runs the example binary with the stack's environment and this run's state and workspace.
fn example(state: &Path, workspace: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_openstack-example"))
        .args(args)
        .arg("--state")
        .arg(state)
        .args(["--workspace", workspace])
        .envs(env())
        .env("OPENSTACK_EXAMPLE_WORKERS", "2")
        .output()
        .expect("run the example binary")
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Deletes, whatever happened, what the clouds hold tagged for the run's workspace.
struct Discard<'a> {
    state: &'a Path,
    workspace: &'a str,
}

impl Drop for Discard<'_> {
    fn drop(&mut self) {
        let o = example(self.state, self.workspace, &["down", "--yes", "--discover"]);
        if !o.status.success() {
            eprintln!("down --discover failed: {}", text(&o));
        }
    }
}

#[test]
fn up_status_and_down_against_the_loopback_stack_leave_nothing() {
    let p = proxy();
    let before = rt().block_on(project_snapshot(&p));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let workspace = format!("ci-{}", run_suffix());
    let _discard = Discard {
        state: &state,
        workspace: &workspace,
    };

    let up = example(&state, &workspace, &["up"]);
    assert!(up.status.success(), "up failed: {}", text(&up));
    // `up` prints the roles with their hosts' addresses and what it created.
    let out = text(&up);
    assert!(out.contains("13 created"), "{out}");
    assert!(
        out.contains("GridNamespace.foreman  192.168.23."),
        "the foreman's address: {out}"
    );

    let status = example(&state, &workspace, &["status"]);
    assert!(status.status.success(), "status failed: {}", text(&status));
    let out = text(&status);
    for path in ["foreman", "workers", "fip"] {
        assert!(out.contains(path), "status does not show {path}: {out}");
    }

    let down = example(&state, &workspace, &["down", "--yes"]);
    assert!(down.status.success(), "down failed: {}", text(&down));
    assert_eq!(
        rt().block_on(project_snapshot(&p)),
        before,
        "left behind after down"
    );
}
