//! Support for the end-to-end suites: the local services they run against (each started through
//! its `scripts/<name>.sh`, idempotently, so a suite works alone and inside `scripts/test.sh`) and
//! per-cloud fixtures.
#![allow(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// Runs `scripts/<name>.sh start` (idempotent) and returns what `scripts/<name>.sh env` exports.
///
/// # Panics
/// If the script fails: the suite cannot run without its service.
pub fn service(name: &str) -> HashMap<String, String> {
    let script = repo_root().join(format!("scripts/{name}.sh"));
    let status = Command::new(&script)
        .arg("start")
        .status()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(status.success(), "scripts/{name}.sh start failed");
    let out = Command::new(&script)
        .arg("env")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.trim_matches('\'').to_owned()))
        .collect()
}
