//! The SFTP operations a copy needs, over one connection's session, with
//! errors as [`ExecError::Io`] naming the task, the operation and the path.

use std::io;
use std::path::PathBuf;

use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use russh_sftp::client::RawSftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, Packet, StatusCode};

use actuator::exec::ExecError;
use actuator::exec::support::errno_error;

/// Bytes per write request (OpenSSH accepts up to 256 KiB; 32 KiB keeps each
/// request within one SSH packet).
const CHUNK: usize = 32 * 1024;
/// Write requests in flight at once.
const IN_FLIGHT: usize = 16;

/// One task's view of a connection's SFTP session.
pub(crate) struct Sftp {
    pub session: Arc<RawSftpSession>,
    pub task: String,
}

/// An SFTP error as an I/O error of the matching kind.
fn to_io(e: SftpError) -> io::Error {
    match e {
        SftpError::Status(s) => {
            // sftp-server reports an errno as one of a few codes: for the two common ones, this
            // machine's error, so that messages read as the local agent's.
            let kind = match s.status_code {
                StatusCode::NoSuchFile => return errno_error("ENOENT"),
                StatusCode::PermissionDenied => return errno_error("EACCES"),
                StatusCode::OpUnsupported => io::ErrorKind::Unsupported,
                StatusCode::NoConnection | StatusCode::ConnectionLost => {
                    io::ErrorKind::ConnectionAborted
                }
                _ => io::ErrorKind::Other,
            };
            let message = if s.error_message.is_empty() {
                s.status_code.to_string()
            } else {
                s.error_message
            };
            io::Error::new(kind, message)
        }
        SftpError::Timeout => io::Error::new(io::ErrorKind::TimedOut, "SFTP request timed out"),
        other => io::Error::new(io::ErrorKind::ConnectionAborted, other.to_string()),
    }
}

fn is_missing(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

/// An SSH string: length, then bytes.
fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u32).to_be_bytes());
    buf.extend_from_slice(s.as_bytes());
}

impl Sftp {
    fn err(&self, op: &'static str, path: &str) -> impl FnOnce(SftpError) -> ExecError {
        let (task, path) = (self.task.to_owned(), PathBuf::from(path));
        move |e| ExecError::Io {
            task,
            op,
            path,
            source: to_io(e),
        }
    }

    /// `stat` (follows links); `None` when nothing is there.
    pub async fn stat(&self, path: &str) -> Result<Option<FileAttributes>, ExecError> {
        match self.session.stat(path).await {
            Ok(a) => Ok(Some(a.attrs)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.err("check", path)(e)),
        }
    }

    /// `lstat` (does not follow links); `None` when nothing is there.
    pub async fn lstat(&self, path: &str) -> Result<Option<FileAttributes>, ExecError> {
        match self.session.lstat(path).await {
            Ok(a) => Ok(Some(a.attrs)),
            Err(e) if is_missing(&e) => Ok(None),
            Err(e) => Err(self.err("check", path)(e)),
        }
    }

    /// Creates directory `path` (mode 0777 less the session's umask).
    pub async fn mkdir(&self, path: &str) -> Result<(), ExecError> {
        match self.session.mkdir(path, FileAttributes::empty()).await {
            Ok(_) => Ok(()),
            // Made meanwhile (another task): fine if it is a directory now.
            Err(e) => match self.stat(path).await {
                Ok(Some(a)) if a.is_dir() => Ok(()),
                _ => Err(self.err("create directory", path)(e)),
            },
        }
    }

    /// Creates `path` and its missing parents.
    pub async fn mkdir_all(&self, path: &str) -> Result<(), ExecError> {
        let mut missing = Vec::new();
        let mut at = path.trim_end_matches('/');
        while !at.is_empty() && at != "." {
            match self.stat(at).await? {
                Some(a) if a.is_dir() => break,
                // Named as the local agent names it: the directory asked for.
                Some(_) => {
                    return Err(ExecError::Io {
                        task: self.task.clone(),
                        op: "create directory",
                        path: path.into(),
                        source: errno_error("ENOTDIR"),
                    });
                }
                None => missing.push(at.to_owned()),
            }
            at = match at.rfind('/') {
                Some(0) | None => "",
                Some(i) => &at[..i],
            };
        }
        for dir in missing.iter().rev() {
            self.mkdir(dir).await?;
        }
        Ok(())
    }

    /// Creates the new file `path` (mode 0600, failing if it exists) and
    /// writes `data` to it.
    pub async fn write_new(&self, path: &str, data: &[u8]) -> Result<(), ExecError> {
        let attrs = FileAttributes {
            permissions: Some(0o600),
            ..FileAttributes::empty()
        };
        let flags = OpenFlags::CREATE | OpenFlags::EXCLUDE | OpenFlags::WRITE;
        let handle = self
            .session
            .open(path, flags, attrs)
            .await
            .map_err(self.err("create", path))?
            .handle;
        let mut written = Ok(());
        let mut pending = FuturesUnordered::new();
        for (i, chunk) in data.chunks(CHUNK).enumerate() {
            if pending.len() >= IN_FLIGHT
                && let Some(Err(e)) = pending.next().await
            {
                written = Err(e);
                break;
            }
            pending.push(
                self.session
                    .write(handle.as_str(), (i * CHUNK) as u64, chunk.to_vec()),
            );
        }
        while let Some(r) = pending.next().await {
            if let Err(e) = r {
                written = written.and(Err(e));
            }
        }
        drop(pending);
        let closed = self.session.close(handle.as_str()).await;
        written.map_err(self.err("write", path))?;
        closed.map_err(self.err("write", path))?;
        Ok(())
    }

    /// `setstat`: owner and group (both must be given), or mode.
    pub async fn set(
        &self,
        op: &'static str,
        path: &str,
        attrs: FileAttributes,
    ) -> Result<(), ExecError> {
        self.session
            .setstat(path, attrs)
            .await
            .map(drop)
            .map_err(self.err(op, path))
    }

    /// Changes a symbolic link's own owner (`lsetstat@openssh.com`); servers
    /// without the extension leave the link's owner as it is.
    pub async fn lchown(&self, path: &str, uid: u32, gid: u32) -> Result<(), ExecError> {
        let mut data = Vec::new();
        put_string(&mut data, path);
        let attrs = FileAttributes {
            uid: Some(uid),
            gid: Some(gid),
            ..FileAttributes::empty()
        };
        let encoded = russh_sftp::ser::to_bytes(&attrs).map_err(|e| ExecError::Io {
            task: self.task.clone(),
            op: "change owner of",
            path: path.into(),
            source: io::Error::other(e.to_string()),
        })?;
        data.extend_from_slice(&encoded);
        match self.session.extended("lsetstat@openssh.com", data).await {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
            Ok(Packet::Status(s)) if s.status_code == StatusCode::OpUnsupported => Ok(()),
            Ok(Packet::Status(s)) => Err(self.err("change owner of", path)(SftpError::Status(s))),
            Ok(_) => Ok(()),
            Err(e) => Err(self.err("change owner of", path)(e)),
        }
    }

    /// Renames `from` over `to`, replacing it atomically
    /// (`posix-rename@openssh.com`; without it, remove then rename).
    pub async fn rename_over(&self, from: &str, to: &str) -> Result<(), ExecError> {
        let mut data = Vec::new();
        put_string(&mut data, from);
        put_string(&mut data, to);
        match self
            .session
            .extended("posix-rename@openssh.com", data)
            .await
        {
            Ok(Packet::Status(s)) if s.status_code == StatusCode::Ok => return Ok(()),
            Ok(Packet::Status(s)) if s.status_code != StatusCode::OpUnsupported => {
                return Err(self.err("replace", to)(SftpError::Status(s)));
            }
            Err(e) if !matches!(&e, SftpError::Status(s) if s.status_code == StatusCode::OpUnsupported) =>
            {
                return Err(self.err("replace", to)(e));
            }
            _ => {}
        }
        if let Err(e) = self.session.remove(to).await
            && !is_missing(&e)
        {
            return Err(self.err("replace", to)(e));
        }
        self.session
            .rename(from, to)
            .await
            .map(drop)
            .map_err(self.err("replace", to))
    }

    /// Creates symbolic link `link` pointing at `target`.
    pub async fn symlink(&self, link: &str, target: &str) -> Result<(), ExecError> {
        // OpenSSH's sftp-server takes the two paths of SSH_FXP_SYMLINK in the
        // reverse of the draft's order (target first), as every client knows.
        self.session
            .symlink(target, link)
            .await
            .map(drop)
            .map_err(self.err("create link", link))
    }

    /// Removes file or link `path`.
    pub async fn remove(&self, path: &str) -> Result<(), ExecError> {
        self.session
            .remove(path)
            .await
            .map(drop)
            .map_err(self.err("remove", path))
    }
}
