//! Support for the end-to-end suites: the local services they run against (each started through
//! its `scripts/<name>.sh`, idempotently, so a suite works alone and inside `scripts/test.sh`) and
//! per-cloud fixtures.
#![allow(missing_docs)]

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "azure")]
pub mod azure;
pub mod bench;
#[cfg(feature = "postgres")]
pub mod dircloud;
pub mod logs;
#[cfg(feature = "openstack")]
pub mod openstack;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod relay;
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
    service_env(name)
}

/// What `scripts/<name>.sh env` exports, without starting anything: for a test's child process,
/// whose parent started the service.
pub fn service_env(name: &str) -> HashMap<String, String> {
    let script = repo_root().join(format!("scripts/{name}.sh"));
    let out = Command::new(&script)
        .arg("env")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    // `export A=1 B='x y'`: several assignments a line, single-quoted values may hold spaces.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .flat_map(assignments)
        .collect()
}

/// The `NAME=value` words of a line, as a shell splits them (single quotes only).
fn assignments(line: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let (mut word, mut quoted) = (String::new(), false);
    for c in line.chars() {
        match c {
            '\'' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => words.push(std::mem::take(&mut word)),
            c => word.push(c),
        }
    }
    words.push(word);
    words
        .into_iter()
        .filter_map(|w| {
            let (k, v) = w.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
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
