//! Host key checking against an OpenSSH `known_hosts` file.

use std::path::{Path, PathBuf};

use russh::keys::known_hosts::known_host_keys_path;
use russh::keys::{HashAlg, PublicKey};
use tracing::info;

/// How an [`SshAgent`](super::SshAgent) checks the keys hosts present, in an
/// OpenSSH `known_hosts` file (entries `host` for port 22, else `[host]:port`;
/// hashed entries are understood).
///
/// A host whose recorded key differs from the one it presents is refused
/// under both policies: the error names the host and both fingerprints.
///
/// ```
/// use std::path::Path;
/// use actuator_ssh::HostKeyPolicy;
///
/// let strict = HostKeyPolicy::Strict("/etc/actuator/known_hosts".into());
/// assert_eq!(strict.path(), Path::new("/etc/actuator/known_hosts"));
/// assert!(matches!(HostKeyPolicy::default(), HostKeyPolicy::AcceptNew(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Accept and record the key of a host not in the file (OpenSSH's
    /// `StrictHostKeyChecking=accept-new`); check known hosts.
    AcceptNew(PathBuf),
    /// Refuse hosts not in the file (`StrictHostKeyChecking=yes`).
    Strict(PathBuf),
}

impl HostKeyPolicy {
    /// The `known_hosts` file.
    ///
    /// ```
    /// use actuator_ssh::HostKeyPolicy;
    /// assert!(HostKeyPolicy::default().path().ends_with(".ssh/known_hosts"));
    /// ```
    pub fn path(&self) -> &Path {
        match self {
            HostKeyPolicy::AcceptNew(p) | HostKeyPolicy::Strict(p) => p,
        }
    }

    /// `~/.ssh/known_hosts` (`$HOME`; `./.ssh/known_hosts` without a home).
    ///
    /// ```
    /// use actuator_ssh::HostKeyPolicy;
    /// assert!(HostKeyPolicy::default_path().ends_with(".ssh/known_hosts"));
    /// ```
    pub fn default_path() -> PathBuf {
        std::env::home_dir()
            .unwrap_or_default()
            .join(".ssh")
            .join("known_hosts")
    }
}

impl Default for HostKeyPolicy {
    /// Accept-new on `~/.ssh/known_hosts`.
    fn default() -> Self {
        HostKeyPolicy::AcceptNew(Self::default_path())
    }
}

/// `SHA256:…` of a key, as `ssh-keygen -l` prints it.
pub(crate) fn fingerprint(key: &PublicKey) -> String {
    format!("{} {}", key.algorithm(), key.fingerprint(HashAlg::Sha256))
}

/// The `known_hosts` name of `host:port`.
fn entry_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_owned()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks `key` for `host:port` under `policy`, recording it when the policy
/// accepts new hosts. The caller serialises calls (one file, many handshakes).
pub(crate) fn check(
    policy: &HostKeyPolicy,
    host: &str,
    port: u16,
    key: &PublicKey,
) -> Result<(), String> {
    let path = policy.path();
    let name = entry_name(host, port);
    let known = known_host_keys_path(host, port, path)
        .map_err(|e| format!("cannot read known hosts file `{}`: {e}", path.display()))?;
    if known.iter().any(|(_, k)| k.key_data() == key.key_data()) {
        return Ok(());
    }
    if let Some((line, recorded)) = known.first() {
        return Err(format!(
            "HOST KEY CHANGED for `{name}`: it presents {}, but `{}` line {line} records {} \
             (a man-in-the-middle attack, or the host was reinstalled: if so, remove that line)",
            fingerprint(key),
            path.display(),
            fingerprint(recorded),
        ));
    }
    match policy {
        HostKeyPolicy::Strict(_) => Err(format!(
            "host `{name}` is not in known hosts file `{}` and host key checking is strict; \
             its key is {} (add it with `ssh-keyscan -p {port} {host} >> {}` after checking it)",
            path.display(),
            fingerprint(key),
            path.display(),
        )),
        HostKeyPolicy::AcceptNew(_) => {
            if let Some(dir) = path.parent()
                && !dir.as_os_str().is_empty()
                && !dir.exists()
            {
                use std::os::unix::fs::DirBuilderExt;
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| format!("cannot create directory `{}`: {e}", dir.display()))?;
            }
            append(path, &name, key).map_err(|e| {
                format!(
                    "cannot add `{name}` to known hosts file `{}`: {e}",
                    path.display()
                )
            })?;
            info!(host = %name, key = %fingerprint(key), file = %path.display(), "new host key recorded");
            Ok(())
        }
    }
}

/// Appends the line `name algorithm base64` to `path`, after a newline if the
/// file does not end with one.
fn append(path: &Path, name: &str, key: &PublicKey) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(path)?;
    let mut line = String::new();
    if file.seek(SeekFrom::End(-1)).is_ok() {
        let mut last = [0u8; 1];
        file.read_exact(&mut last)?;
        if last[0] != b'\n' {
            line.push('\n');
        }
    }
    let openssh = key.to_openssh().map_err(std::io::Error::other)?;
    // `algorithm base64`, without the comment a key may carry.
    let mut fields = openssh.split_whitespace();
    let (algorithm, base64) = (
        fields.next().unwrap_or_default(),
        fields.next().unwrap_or_default(),
    );
    line.push_str(&format!("{name} {algorithm} {base64}\n"));
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use russh::keys::parse_public_key_base64;

    fn keys() -> (PublicKey, PublicKey) {
        let k = |b64| parse_public_key_base64(b64).unwrap();
        (
            k("AAAAC3NzaC1lZDI1NTE5AAAAILOrtLCgQ8flvdBhT80Z5wUZn8dLbVtlWt2LpGASsMfS"),
            k("AAAAC3NzaC1lZDI1NTE5AAAAIOGq60utq8eojB9EIl7y/rx8igxNy10omsYKyQntCXGC"),
        )
    }

    #[test]
    fn accept_new_records_then_checks() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/known_hosts");
        let policy = HostKeyPolicy::AcceptNew(file.clone());
        let (k1, k2) = keys();
        check(&policy, "h1", 2222, &k1).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("[h1]:2222 ssh-ed25519 "), "{text}");
        check(&policy, "h1", 2222, &k1).unwrap();
        // Another port is another entry.
        check(&policy, "h1", 22, &k2).unwrap();
        let err = check(&policy, "h1", 2222, &k2).unwrap_err();
        assert!(err.contains("HOST KEY CHANGED for `[h1]:2222`"), "{err}");
        assert!(
            err.contains(&k2.fingerprint(HashAlg::Sha256).to_string()),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 2);
    }

    #[test]
    fn strict_refuses_unknown_hosts_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        let err = check(&HostKeyPolicy::Strict(file.clone()), "h2", 22, &keys().0).unwrap_err();
        assert!(
            err.contains("host `h2` is not in known hosts file"),
            "{err}"
        );
        assert!(!file.exists());
    }
}
