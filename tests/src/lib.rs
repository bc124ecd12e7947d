//! Support for the end-to-end suites: the local services they run against (each started through
//! its `scripts/<name>.sh`, idempotently, so a suite works alone and inside `scripts/test.sh`) and
//! per-cloud fixtures.
#![allow(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "ssh")]
pub mod sshd;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
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

/// Every path under `dir` (symbolic links are listed, not followed).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

/// Pids of the processes on this machine whose command line is exactly `sleep <arg>`: tests start
/// `sleep` with a number no other test uses, then look for it.
pub fn processes_running(arg: &str) -> Vec<u32> {
    let wanted = format!("sleep\0{arg}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted.as_bytes())
        })
        .collect()
}
