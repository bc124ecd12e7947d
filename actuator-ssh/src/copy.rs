//! [`Action::Copy`](actuator::exec::Action::Copy) over SFTP, with the local
//! agent's rules (see [`CopySpec`]): content or a file to a file, a file into
//! a directory, a directory with or without its trailing `/`, mode, owner and
//! group, templates; each file written to a temporary file beside its target,
//! given its owner and mode, and renamed over the target.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use russh_sftp::protocol::FileAttributes;

use super::pool::Conn;
use super::run::{self, Deadline, RemoteFailure};
use super::script::{self, Marker};
use super::sftp::Sftp;
use actuator::exec::{CopySpec, ExecError, ExecOutput, ExecTask, Template};

const S_IFMT: u32 = 0o170000;
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;

fn is_dir(a: &FileAttributes) -> bool {
    a.permissions.is_some_and(|p| p & S_IFMT == S_IFDIR)
}

fn is_file(a: &FileAttributes) -> bool {
    a.permissions.is_some_and(|p| p & S_IFMT == S_IFREG)
}

/// `base/name`, or `name` when it is absolute or there is no base.
fn join(base: &str, name: &str) -> String {
    if base.is_empty() || name.starts_with('/') {
        name.to_owned()
    } else if base.ends_with('/') {
        format!("{base}{name}")
    } else {
        format!("{base}/{name}")
    }
}

/// The directory part of `path` (`""`: the session's working directory).
fn parent(path: &str) -> &str {
    match path.trim_end_matches('/').rfind('/') {
        Some(0) => "/",
        Some(i) => &path[..i],
        None => "",
    }
}

/// A numeric id, used as it is (no lookup), like the local agent.
fn numeric(id: Option<&str>) -> Option<u32> {
    id.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
}

/// The id in field 3 of a `passwd` or `group` entry.
fn id_of(entry: &str) -> Option<u32> {
    entry.split(':').nth(2).and_then(|f| f.trim().parse().ok())
}

/// Copies as `spec` says on `conn`'s host.
pub(crate) async fn copy(
    conn: &Arc<Conn>,
    task: &ExecTask,
    spec: &CopySpec,
    deadline: Option<Deadline>,
) -> Result<ExecOutput, RemoteFailure> {
    let invalid = |message: String| {
        RemoteFailure::Exec(ExecError::Invalid {
            task: task.name.clone(),
            message,
        })
    };
    // `support::validate` checked `dest`, the one source and the NUL bytes.
    let (mut uid, mut gid) = (
        numeric(spec.owner.as_deref()),
        numeric(spec.group.as_deref()),
    );
    let owner_name = spec.owner.as_deref().filter(|_| uid.is_none());
    let group_name = spec.group.as_deref().filter(|_| gid.is_none());
    let preflight = task.chdir.is_some()
        || task.creates.is_some()
        || task.removes.is_some()
        || owner_name.is_some()
        || group_name.is_some();
    if preflight {
        let remote = script::copy_preflight(task, owner_name, group_name);
        let raw = run::exec(conn, task, &remote, deadline).await?;
        if let Some(decided) = run::checks(task, &raw) {
            return decided.map_err(RemoteFailure::Exec);
        }
        match script::marker(&raw.stderr) {
            Some(Marker::Info) if raw.status == 0 => {
                let stdout = String::from_utf8_lossy(&raw.stdout);
                for line in stdout.lines() {
                    if let Some(entry) = line.strip_prefix("u:")
                        && let Some(name) = owner_name
                    {
                        uid = Some(id_of(entry).ok_or_else(|| unknown(task, "user", name))?);
                    } else if let Some(entry) = line.strip_prefix("g:")
                        && let Some(name) = group_name
                    {
                        gid = Some(id_of(entry).ok_or_else(|| unknown(task, "group", name))?);
                    }
                }
                if owner_name.is_some() && uid.is_none() || group_name.is_some() && gid.is_none() {
                    return Err(invalid("could not look up the owner on the host".into()));
                }
            }
            _ => {
                return Err(RemoteFailure::Exec(ExecError::Failed {
                    task: task.name.clone(),
                    status: raw.status,
                    stderr_tail: String::from_utf8_lossy(&raw.stderr).trim_end().to_owned(),
                }));
            }
        }
    }
    let (session, home) = conn.sftp().await.map_err(|message| {
        if conn.handle.is_closed() {
            RemoteFailure::Broken(message)
        } else {
            RemoteFailure::Exec(ExecError::Connection {
                task: task.name.clone(),
                host: conn.label.clone(),
                message,
            })
        }
    })?;
    let dest = match &task.chdir {
        Some(dir) => join(dir, &spec.dest),
        None => spec.dest.clone(),
    };
    // Absolute, so that messages name paths as the local agent does.
    let dest = join(&home, &dest);
    let copier = Copier {
        sftp: Sftp {
            session,
            task: task.name.clone(),
        },
        task: task.name.clone(),
        mode: spec.mode,
        template: spec.template.clone(),
        uid,
        gid,
    };
    let spec = spec.clone();
    // A copy under way finishes even when the task times out (as locally).
    let job = tokio::spawn(async move { copier.run(&spec, &dest).await });
    let joined = match deadline {
        Some((at, limit)) => match tokio::time::timeout_at(at, job).await {
            Ok(joined) => joined,
            Err(_) => {
                return Err(RemoteFailure::Exec(ExecError::Timeout {
                    task: task.name.clone(),
                    after: limit,
                }));
            }
        },
        None => job.await,
    };
    match joined {
        Ok(result) => result
            .map(|()| ExecOutput::default())
            .map_err(RemoteFailure::Exec),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(invalid(format!("copy was cancelled: {e}"))),
    }
}

fn unknown(task: &ExecTask, kind: &'static str, name: &str) -> RemoteFailure {
    RemoteFailure::Exec(ExecError::UnknownOwner {
        task: task.name.clone(),
        kind,
        name: name.into(),
    })
}

struct Copier {
    sftp: Sftp,
    task: String,
    mode: Option<u32>,
    template: Option<Template>,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Copier {
    fn sftp(&self) -> &Sftp {
        &self.sftp
    }

    fn invalid(&self, message: String) -> ExecError {
        ExecError::Invalid {
            task: self.task.clone(),
            message,
        }
    }

    fn local_io(&self, op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ExecError {
        let (task, path) = (self.task.clone(), path.to_path_buf());
        move |source| ExecError::Io {
            task,
            op,
            path,
            source,
        }
    }

    async fn run(&self, spec: &CopySpec, dest: &str) -> Result<(), ExecError> {
        let sftp = self.sftp();
        let dest_is_dir =
            spec.dest.ends_with('/') || sftp.stat(dest).await?.is_some_and(|a| is_dir(&a));
        if let Some(content) = &spec.content {
            if dest_is_dir {
                return Err(self.invalid(format!(
                    "`{dest}` is a directory; copying `content` needs a file path"
                )));
            }
            let text = match &self.template {
                Some(template) => template(content).map_err(|message| ExecError::Template {
                    task: self.task.clone(),
                    file: None,
                    message,
                })?,
                None => content.clone(),
            };
            let existing_mode = sftp
                .stat(dest)
                .await?
                .filter(is_file)
                .and_then(|a| a.permissions)
                .map(|p| p & 0o7777);
            let mode = self.mode.or(existing_mode).unwrap_or(0o644);
            return self.write_file(dest, text.as_bytes(), mode).await;
        }
        let src = spec.src.as_deref().expect("checked: src or content");
        let meta = tokio::fs::metadata(src)
            .await
            .map_err(self.local_io("read", src))?;
        let name = src
            .file_name()
            .map(|n| self.remote_name(n.as_bytes(), src))
            .transpose()?;
        if meta.is_dir() {
            let contents_only = src.as_os_str().as_bytes().ends_with(b"/");
            let target = if contents_only {
                dest.to_owned()
            } else {
                let Some(name) = name else {
                    return Err(self.invalid(format!(
                        "cannot tell the name of directory `{}`; end it with `/` to copy its contents",
                        src.display()
                    )));
                };
                join(dest, &name)
            };
            sftp.mkdir_all(&target).await?;
            self.copy_tree(src.to_path_buf(), target.clone()).await?;
            if !contents_only {
                self.finish_dir(&target, meta.mode()).await?;
            }
            Ok(())
        } else if meta.is_file() {
            let target = match (dest_is_dir, name) {
                (true, Some(name)) => join(dest, &name),
                _ => dest.to_owned(),
            };
            self.copy_file(src, &target, meta.mode()).await
        } else {
            Err(self.invalid(format!(
                "`{}` is neither a regular file nor a directory",
                src.display()
            )))
        }
    }

    /// A local file name as a remote path component (SFTP paths are UTF-8 here).
    fn remote_name(&self, name: &[u8], path: &Path) -> Result<String, ExecError> {
        String::from_utf8(name.to_vec())
            .map_err(|_| self.invalid(format!("`{}` is not a UTF-8 file name", path.display())))
    }

    /// Copies the entries of local directory `src` into remote directory `dst`.
    fn copy_tree(&self, src: PathBuf, dst: String) -> BoxFuture<'_, Result<(), ExecError>> {
        Box::pin(async move {
            let sftp = self.sftp();
            let mut entries = Vec::new();
            let mut dir = tokio::fs::read_dir(&src)
                .await
                .map_err(self.local_io("read directory", &src))?;
            while let Some(entry) = dir
                .next_entry()
                .await
                .map_err(self.local_io("read directory", &src))?
            {
                entries.push(entry);
            }
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let from = entry.path();
                let to = join(
                    &dst,
                    &self.remote_name(entry.file_name().as_bytes(), &from)?,
                );
                let meta = tokio::fs::symlink_metadata(&from)
                    .await
                    .map_err(self.local_io("read", &from))?;
                let kind = meta.file_type();
                if kind.is_dir() {
                    if !sftp.stat(&to).await?.is_some_and(|a| is_dir(&a)) {
                        sftp.mkdir(&to).await?;
                    }
                    self.copy_tree(from, to.clone()).await?;
                    self.finish_dir(&to, meta.mode()).await?;
                } else if kind.is_symlink() {
                    let link = tokio::fs::read_link(&from)
                        .await
                        .map_err(self.local_io("read link", &from))?;
                    let link = self.remote_name(link.as_os_str().as_bytes(), &from)?;
                    if let Some(old) = sftp.lstat(&to).await? {
                        if is_dir(&old) {
                            return Err(self.invalid(format!(
                                "cannot replace directory `{to}` with a symbolic link"
                            )));
                        }
                        sftp.remove(&to).await?;
                    }
                    sftp.symlink(&to, &link).await?;
                    if self.uid.is_some() || self.gid.is_some() {
                        let own = sftp.lstat(&to).await?.unwrap_or_default();
                        let (uid, gid) = (self.uid.or(own.uid), self.gid.or(own.gid));
                        if let (Some(uid), Some(gid)) = (uid, gid) {
                            sftp.lchown(&to, uid, gid).await?;
                        }
                    }
                } else if kind.is_file() {
                    self.copy_file(&from, &to, meta.mode()).await?;
                } else {
                    return Err(self.invalid(format!(
                        "`{}` is not a regular file, directory or symbolic link",
                        from.display()
                    )));
                }
            }
            Ok(())
        })
    }

    /// Sets a copied directory's owner and mode (after its contents, so a
    /// read-only source directory can still be filled).
    async fn finish_dir(&self, dir: &str, src_mode: u32) -> Result<(), ExecError> {
        let sftp = self.sftp();
        if self.uid.is_some() || self.gid.is_some() {
            let (uid, gid) = self.both_ids(dir, None).await?;
            sftp.set("change owner of", dir, owner_attrs(uid, gid))
                .await?;
        }
        sftp.set("set mode of", dir, mode_attrs(src_mode & 0o7777))
            .await
    }

    /// Fills the id not given from `path`'s current owner.
    async fn both_ids(
        &self,
        path: &str,
        wanted: Option<(Option<u32>, Option<u32>)>,
    ) -> Result<(u32, u32), ExecError> {
        let (uid, gid) = wanted.unwrap_or((self.uid, self.gid));
        if let (Some(u), Some(g)) = (uid, gid) {
            return Ok((u, g));
        }
        let current = self.sftp().stat(path).await?.unwrap_or_default();
        Ok((
            uid.or(current.uid).unwrap_or_default(),
            gid.or(current.gid).unwrap_or_default(),
        ))
    }

    /// Copies one local regular file, through the template if there is one.
    async fn copy_file(&self, from: &Path, to: &str, src_mode: u32) -> Result<(), ExecError> {
        let data = tokio::fs::read(from)
            .await
            .map_err(self.local_io("read", from))?;
        let data = actuator::exec::support::render(self.template.as_ref(), &self.task, from, data)?;
        self.write_file(to, &data, self.mode.unwrap_or(src_mode & 0o7777))
            .await
    }

    /// Atomically replaces `target` with `data`: writes a temporary file in
    /// the same directory, sets owner and mode, then renames it. Without a
    /// requested owner/group an existing file's are kept (when allowed).
    async fn write_file(&self, target: &str, data: &[u8], mode: u32) -> Result<(), ExecError> {
        let sftp = self.sftp();
        let dir = parent(target);
        sftp.mkdir_all(dir).await?;
        let existing = sftp.lstat(target).await?.filter(is_file);
        let tmp = join(dir, &format!(".actuator-{:016x}", rand::random::<u64>()));
        sftp.write_new(&tmp, data).await?;
        let finish = async {
            let requested = self.uid.is_some() || self.gid.is_some();
            let uid = self.uid.or(existing.as_ref().and_then(|m| m.uid));
            let gid = self.gid.or(existing.as_ref().and_then(|m| m.gid));
            if uid.is_some() || gid.is_some() {
                // chown before chmod: chown may clear set-id bits.
                let (u, g) = self.both_ids(&tmp, Some((uid, gid))).await?;
                if let Err(e) = sftp.set("change owner of", &tmp, owner_attrs(u, g)).await
                    && requested
                {
                    return Err(e);
                }
            }
            sftp.set("set mode of", &tmp, mode_attrs(mode)).await?;
            sftp.rename_over(&tmp, target).await
        };
        let result = finish.await;
        if result.is_err() {
            let _ = sftp.remove(&tmp).await;
        }
        result
    }
}

fn owner_attrs(uid: u32, gid: u32) -> FileAttributes {
    FileAttributes {
        uid: Some(uid),
        gid: Some(gid),
        ..FileAttributes::empty()
    }
}

fn mode_attrs(mode: u32) -> FileAttributes {
    FileAttributes {
        permissions: Some(mode),
        ..FileAttributes::empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_like_the_local_agent() {
        assert_eq!(join("conf/", "a"), "conf/a");
        assert_eq!(join("/srv", "a"), "/srv/a");
        assert_eq!(join("/srv", "/etc/x"), "/etc/x");
        assert_eq!(join("", "a"), "a");
        assert_eq!(parent("/etc/app.conf"), "/etc");
        assert_eq!(parent("/app.conf"), "/");
        assert_eq!(parent("app.conf"), "");
        assert_eq!(parent("a/b/c"), "a/b");
    }

    #[test]
    fn ids_from_numbers_and_entries() {
        assert_eq!(numeric(Some("1001")), Some(1001));
        assert_eq!(numeric(Some("deploy")), None);
        assert_eq!(numeric(Some("")), None);
        assert_eq!(
            id_of("deploy:x:1001:1001::/home/deploy:/bin/sh"),
            Some(1001)
        );
        assert_eq!(id_of("staff:x:50:"), Some(50));
        assert_eq!(id_of(""), None);
    }

    #[test]
    fn file_types_from_modes() {
        let attrs = |p: u32| FileAttributes {
            permissions: Some(p),
            ..FileAttributes::empty()
        };
        assert!(is_dir(&attrs(0o040755)) && !is_file(&attrs(0o040755)));
        assert!(is_file(&attrs(0o100644)) && !is_dir(&attrs(0o100644)));
        // A symbolic link is neither (its type bits include the regular file's).
        assert!(!is_file(&attrs(0o120777)) && !is_dir(&attrs(0o120777)));
    }
}
