//! The local implementation of [`Action::Copy`](crate::exec::Action::Copy).
//!
//! Blocking file I/O: the agent runs it on tokio's blocking pool.

use std::fs::{self, Permissions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt, fchown, lchown, symlink};
use std::path::Path;

use crate::exec::support::{group_id, render, user_id};
use crate::exec::{CopySpec, ExecError, Template};

/// Copies as `spec` says. `src` and `dest` are already resolved against the
/// agent's root and the task's working directory; `spec.src`/`spec.dest`
/// keep the text as written (for the trailing-`/` rules).
pub(crate) fn copy(
    task: &str,
    spec: &CopySpec,
    src: Option<&Path>,
    dest: &Path,
) -> Result<(), ExecError> {
    let copier = Copier {
        task,
        mode: spec.mode,
        template: spec.template.as_ref(),
        uid: resolve_id(task, "user", spec.owner.as_deref(), user_id)?,
        gid: resolve_id(task, "group", spec.group.as_deref(), group_id)?,
    };
    // `support::validate` has checked `dest` and that exactly one of `src` and `content` is set.
    let dest_is_dir = spec.dest.ends_with('/') || dest.is_dir();
    match (&spec.content, src) {
        (Some(_), Some(_)) | (None, None) => unreachable!("validated: one source"),
        (Some(content), None) => {
            if dest_is_dir {
                return Err(copier.invalid(format!(
                    "`{}` is a directory; copying `content` needs a file path",
                    dest.display()
                )));
            }
            let text = match copier.template {
                Some(template) => template(content).map_err(|message| ExecError::Template {
                    task: task.into(),
                    file: None,
                    message,
                })?,
                None => content.clone(),
            };
            let existing_mode = fs::metadata(dest)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.mode() & 0o7777);
            let mode = spec.mode.or(existing_mode).unwrap_or(0o644);
            copier.write_file(dest, text.as_bytes(), mode)
        }
        (None, Some(src)) => {
            let meta = fs::metadata(src).map_err(copier.io("read", src))?;
            let name = src.file_name();
            if meta.is_dir() {
                let contents_only = spec.src.as_deref().is_some_and(ends_with_slash);
                let target = if contents_only {
                    dest.to_path_buf()
                } else {
                    let Some(name) = name else {
                        return Err(copier.invalid(format!(
                            "cannot tell the name of directory `{}`; end it with `/` to copy its contents",
                            src.display()
                        )));
                    };
                    dest.join(name)
                };
                fs::create_dir_all(&target).map_err(copier.io("create directory", &target))?;
                copier.refuse_copy_into_itself(src, &target)?;
                copier.copy_tree(src, &target)?;
                if !contents_only {
                    copier.finish_dir(&target, meta.mode())?;
                }
                Ok(())
            } else if meta.is_file() {
                let target = match (dest_is_dir, name) {
                    (true, Some(name)) => dest.join(name),
                    _ => dest.to_path_buf(),
                };
                copier.copy_file(src, &target, meta.mode())
            } else {
                Err(copier.invalid(format!(
                    "`{}` is neither a regular file nor a directory",
                    src.display()
                )))
            }
        }
    }
}

/// Parses a numeric id or looks a name up.
fn resolve_id(
    task: &str,
    kind: &'static str,
    spec: Option<&str>,
    lookup: fn(&str) -> io::Result<Option<u32>>,
) -> Result<Option<u32>, ExecError> {
    let Some(spec) = spec else {
        return Ok(None);
    };
    if !spec.is_empty()
        && spec.bytes().all(|b| b.is_ascii_digit())
        && let Ok(id) = spec.parse::<u32>()
    {
        return Ok(Some(id));
    }
    match lookup(spec) {
        Ok(Some(id)) => Ok(Some(id)),
        Ok(None) => Err(ExecError::UnknownOwner {
            task: task.into(),
            kind,
            name: spec.into(),
        }),
        Err(e) => Err(ExecError::Invalid {
            task: task.into(),
            message: format!("cannot look up {kind} `{spec}`: {e}"),
        }),
    }
}

struct Copier<'a> {
    task: &'a str,
    mode: Option<u32>,
    template: Option<&'a Template>,
    uid: Option<u32>,
    gid: Option<u32>,
}

impl Copier<'_> {
    fn invalid(&self, message: String) -> ExecError {
        ExecError::Invalid {
            task: self.task.into(),
            message,
        }
    }

    fn io<'p>(&self, op: &'static str, path: &'p Path) -> impl FnOnce(io::Error) -> ExecError + 'p {
        let task = self.task.to_string();
        move |source| ExecError::Io {
            task,
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    fn refuse_copy_into_itself(&self, src: &Path, target: &Path) -> Result<(), ExecError> {
        let src_real = fs::canonicalize(src).map_err(self.io("resolve", src))?;
        let target_real = fs::canonicalize(target).map_err(self.io("resolve", target))?;
        if target_real.starts_with(&src_real) && target_real != src_real {
            return Err(self.invalid(format!(
                "cannot copy directory `{}` into itself (`{}`)",
                src.display(),
                target.display()
            )));
        }
        Ok(())
    }

    /// Copies the entries of directory `src` into existing directory `dst`.
    fn copy_tree(&self, src: &Path, dst: &Path) -> Result<(), ExecError> {
        let mut entries = fs::read_dir(src)
            .and_then(|it| it.collect::<io::Result<Vec<_>>>())
            .map_err(self.io("read directory", src))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let from = entry.path();
            let to = dst.join(entry.file_name());
            let meta = fs::symlink_metadata(&from).map_err(self.io("read", &from))?;
            let kind = meta.file_type();
            if kind.is_dir() {
                if !to.is_dir() {
                    fs::create_dir(&to).map_err(self.io("create directory", &to))?;
                }
                self.copy_tree(&from, &to)?;
                self.finish_dir(&to, meta.mode())?;
            } else if kind.is_symlink() {
                let link = fs::read_link(&from).map_err(self.io("read link", &from))?;
                if let Ok(old) = fs::symlink_metadata(&to) {
                    if old.is_dir() {
                        return Err(self.invalid(format!(
                            "cannot replace directory `{}` with a symbolic link",
                            to.display()
                        )));
                    }
                    fs::remove_file(&to).map_err(self.io("remove", &to))?;
                }
                symlink(&link, &to).map_err(self.io("create link", &to))?;
                if self.uid.is_some() || self.gid.is_some() {
                    lchown(&to, self.uid, self.gid).map_err(self.io("change owner of", &to))?;
                }
            } else if kind.is_file() {
                self.copy_file(&from, &to, meta.mode())?;
            } else {
                return Err(self.invalid(format!(
                    "`{}` is not a regular file, directory or symbolic link",
                    from.display()
                )));
            }
        }
        Ok(())
    }

    /// Sets a copied directory's owner and mode (after its contents, so a
    /// read-only source directory can still be filled).
    fn finish_dir(&self, dir: &Path, src_mode: u32) -> Result<(), ExecError> {
        if self.uid.is_some() || self.gid.is_some() {
            std::os::unix::fs::chown(dir, self.uid, self.gid)
                .map_err(self.io("change owner of", dir))?;
        }
        fs::set_permissions(dir, Permissions::from_mode(src_mode & 0o7777))
            .map_err(self.io("set mode of", dir))
    }

    /// Copies one regular file, through the template if there is one.
    fn copy_file(&self, from: &Path, to: &Path, src_mode: u32) -> Result<(), ExecError> {
        let data = fs::read(from).map_err(self.io("read", from))?;
        let data = render(self.template, self.task, from, data)?;
        self.write_file(to, &data, self.mode.unwrap_or(src_mode & 0o7777))
    }

    /// Atomically replaces `target` with `data`: writes a temporary file in
    /// the same directory, sets owner and mode, then renames it. Without a
    /// requested owner/group an existing file's are kept (when allowed).
    fn write_file(&self, target: &Path, data: &[u8], mode: u32) -> Result<(), ExecError> {
        let parent = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(parent).map_err(self.io("create directory", parent))?;
        let existing = fs::symlink_metadata(target).ok().filter(|m| m.is_file());
        let mut tmp = tempfile::Builder::new()
            .prefix(".actuator-")
            .tempfile_in(parent)
            .map_err(self.io("create a temporary file in", parent))?;
        tmp.write_all(data).map_err(self.io("write", target))?;

        let requested = self.uid.is_some() || self.gid.is_some();
        let uid = self.uid.or(existing.as_ref().map(|m| m.uid()));
        let gid = self.gid.or(existing.as_ref().map(|m| m.gid()));
        if uid.is_some() || gid.is_some() {
            // chown before chmod: chown may clear set-id bits.
            if let Err(e) = fchown(tmp.as_file(), uid, gid)
                && requested
            {
                return Err(self.io("change owner of", target)(e));
            }
        }
        tmp.as_file()
            .set_permissions(Permissions::from_mode(mode))
            .map_err(self.io("set mode of", target))?;
        tmp.persist(target)
            .map_err(|e| self.io("replace", target)(e.error))?;
        Ok(())
    }
}

/// Whether a path as written ends with `/` (copy a directory's contents).
fn ends_with_slash(p: &Path) -> bool {
    p.as_os_str().as_bytes().ends_with(b"/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pathbuf_keeps_trailing_slash() {
        assert!(ends_with_slash(Path::new("conf/")));
        assert!(!ends_with_slash(Path::new("conf")));
        assert!(ends_with_slash(&Path::new("/root").join("conf/")));
    }

    #[test]
    fn numeric_ids_need_no_lookup() {
        fn never(_: &str) -> io::Result<Option<u32>> {
            panic!("looked up a numeric id")
        }
        assert_eq!(
            resolve_id("t", "user", Some("4242"), never).unwrap(),
            Some(4242)
        );
        assert_eq!(resolve_id("t", "user", None, never).unwrap(), None);
    }
}
