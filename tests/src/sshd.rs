//! The loopback sshd of `scripts/sshd.sh`, as the SSH suites use it: its settings, the test user,
//! agent options that log in as that user, and directories that user owns.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use actuator_ssh::{HostKeyPolicy, SshAgent, SshOptions};

/// The test sshd, as `scripts/sshd.sh env` describes it.
pub struct Sshd {
    pub port: u16,
    /// The user tasks log in as (`actuator-test` as root, else the current user).
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    /// The user's home directory: where SSH sessions start.
    pub home: PathBuf,
    pub key: PathBuf,
    pub wrong_key: PathBuf,
    pub host_key_pub: PathBuf,
    pub password: Option<String>,
}

/// The test sshd, started (once per process) if it is not running.
pub fn sshd() -> &'static Sshd {
    static SSHD: OnceLock<Sshd> = OnceLock::new();
    SSHD.get_or_init(|| {
        let vars = crate::service("sshd");
        let user = vars["ACTUATOR_SSH_USER"].clone();
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").arg(flag).arg(&user).output().unwrap();
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        };
        let entry = Command::new("getent")
            .args(["passwd", &user])
            .output()
            .unwrap()
            .stdout;
        let home = String::from_utf8(entry)
            .unwrap()
            .trim_end()
            .split(':')
            .nth(5)
            .expect("the test user's passwd entry has a home")
            .into();
        Sshd {
            port: vars["ACTUATOR_SSH_PORT"].parse().unwrap(),
            uid: id("-u"),
            gid: id("-g"),
            user,
            home,
            key: vars["ACTUATOR_SSH_KEY"].clone().into(),
            wrong_key: vars["ACTUATOR_SSH_WRONG_KEY"].clone().into(),
            host_key_pub: vars["ACTUATOR_SSH_HOST_KEY"].clone().into(),
            password: vars
                .get("ACTUATOR_SSH_PASSWORD_FILE")
                .map(|f| std::fs::read_to_string(f).unwrap().trim().to_owned()),
        }
    })
}

/// Options for the test user with the test key, recording host keys in `known_hosts`.
pub fn options(known_hosts: &Path) -> SshOptions {
    let s = sshd();
    SshOptions {
        port: s.port,
        default_user: Some(s.user.clone()),
        default_key: Some(s.key.clone()),
        host_keys: HostKeyPolicy::AcceptNew(known_hosts.to_path_buf()),
        connect_timeout: Duration::from_secs(20),
        ..SshOptions::default()
    }
}

/// An agent with its own known_hosts file (kept alive by the returned directory).
pub fn agent() -> (SshAgent, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    (SshAgent::new(options(&dir.path().join("known_hosts"))), dir)
}

/// A fresh directory under `parent` that the test user owns, for tasks to write in.
pub fn owned_dir_in(parent: &Path) -> tempfile::TempDir {
    let s = sshd();
    let dir = tempfile::Builder::new()
        .prefix("actuator-ssh-test-")
        .tempdir_in(parent)
        .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(s.uid), Some(s.gid)).unwrap();
    dir
}

/// A fresh directory in the system's temporary directory that the test user owns.
pub fn remote_dir() -> tempfile::TempDir {
    owned_dir_in(&std::env::temp_dir())
}
