//! [`FileStore`]: snapshot + journal files in a private directory.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions, TryLockError};
use std::io::{self, BufWriter, ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::StateStore;
use crate::state::{Error, Record, Result, State};

/// Snapshot file name inside the state directory.
///
/// ```
/// assert_eq!(actuator::state::store::SNAPSHOT_FILE, "snapshot.json");
/// ```
pub const SNAPSHOT_FILE: &str = "snapshot.json";
/// Journal file name inside the state directory (JSON lines).
///
/// ```
/// assert_eq!(actuator::state::store::JOURNAL_FILE, "journal.jsonl");
/// ```
pub const JOURNAL_FILE: &str = "journal.jsonl";
/// Lock file name inside the state directory; holds `pid N on host H`.
///
/// ```
/// assert_eq!(actuator::state::store::LOCK_FILE, "lock");
/// ```
pub const LOCK_FILE: &str = "lock";
/// Default for [`FileStore::compact_after`].
///
/// ```
/// assert_eq!(actuator::state::store::DEFAULT_COMPACT_AFTER, 1000);
/// ```
pub const DEFAULT_COMPACT_AFTER: usize = 1000;

const SNAPSHOT_TMP: &str = "snapshot.json.tmp";

/// The embedded default store: `<dir>/snapshot.json` + `<dir>/journal.jsonl`.
///
/// * **Privacy.** The directory is created with mode 0700 and every file with
///   0600 (at creation, through `OpenOptionsExt::mode`, so there is no window
///   in which they are readable); looser modes found on open are fixed, with
///   a warning.
/// * **Exclusion.** An exclusive `flock` on `<dir>/lock` is held as long as
///   the store lives, so two processes cannot work on one state; the loser
///   gets [`Error::Locked`] naming the lock file and the holder's pid and
///   host. The lock file is never deleted (deleting a lock file races with
///   a process that has just opened it).
/// * **Durability.** [`append`](StateStore::append) writes whole lines with a
///   single `write` to a file opened `O_APPEND`, then `fdatasync`s: once it
///   returns, the records survive a crash or power loss. A crash mid-append
///   leaves at most a torn last line, which [`load`](StateStore::load) drops
///   with a warning (that record was never acknowledged). After a failed
///   append the store refuses further appends ([`Error::Poisoned`]) until it
///   is reopened or compacted, since the journal's tail is then unknown.
/// * **Compaction** writes the snapshot to a temporary file, fsyncs it, renames
///   it over `snapshot.json`, fsyncs the directory, and only then truncates
///   the journal; a crash at any point leaves a loadable state. It runs
///   automatically once the journal holds at least
///   `max(compact_after, number of entries)` records: each compaction costs
///   O(state) and is paid for by at least as many appends, so building a state
///   of n entries costs O(n) in total.
///
/// ```
/// use actuator::state::{FileStore, Journal};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = FileStore::open(dir.path().join("demo")).unwrap().compact_after(100);
/// let mut j = Journal::open(store).unwrap();
/// j.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
/// assert!(dir.path().join("demo/journal.jsonl").exists());
/// ```
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    journal: File,
    /// Held for the flock; released when the store is dropped.
    _lock: File,
    /// Records in the journal file (including any the snapshot already covers).
    records: usize,
    compact_after: usize,
    /// After a failed compaction, the journal length at which to retry, so a
    /// persistent failure does not turn every append into O(state).
    retry_at: usize,
    poisoned: bool,
}

impl FileStore {
    /// Opens (creating if needed) the state in `dir` and takes its lock.
    ///
    /// ```
    /// use actuator::state::FileStore;
    /// let dir = tempfile::tempdir().unwrap();
    /// let first = FileStore::open(dir.path()).unwrap();
    /// let err = FileStore::open(dir.path()).unwrap_err();
    /// assert!(err.to_string().contains("in use by another process"));
    /// drop(first);
    /// FileStore::open(dir.path()).unwrap();
    /// ```
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err("create state directory", &dir))?;
        restrict_dir(&dir)?;

        let lock_path = dir.join(LOCK_FILE);
        // No truncation before the lock is ours: the file names the holder.
        let lock = open_private(
            &lock_path,
            OpenOptions::new().read(true).write(true).create(true),
        )?;
        match try_lock_briefly(&lock) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = fs::read_to_string(&lock_path).unwrap_or_default();
                let holder = match holder.trim() {
                    "" => "holder unknown".to_owned(),
                    h => h.to_owned(),
                };
                return Err(Error::Locked {
                    dir,
                    lock: lock_path,
                    holder,
                });
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &lock_path)(e)),
        }
        let holder = format!("pid {} on host {}\n", std::process::id(), hostname());
        lock.set_len(0)
            .and_then(|()| (&lock).write_all(holder.as_bytes()))
            .map_err(io_err("write lock file", &lock_path))?;

        let journal_path = dir.join(JOURNAL_FILE);
        let journal = open_private(
            &journal_path,
            OpenOptions::new().read(true).append(true).create(true),
        )?;
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        match File::open(&snapshot_path) {
            Ok(f) => restrict_file(&f, &snapshot_path)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open snapshot", &snapshot_path)(e)),
        }
        Ok(Self {
            dir,
            journal,
            _lock: lock,
            records: 0,
            compact_after: DEFAULT_COMPACT_AFTER,
            retry_at: 0,
            poisoned: false,
        })
    }

    /// Opens the state of `workspace` of `system` in the default directory,
    /// `.actuator/<system>/<workspace>/` under the current directory.
    ///
    /// ```
    /// use actuator::state::{Error, FileStore};
    /// assert!(matches!(FileStore::for_workspace("../etc", "default"), Err(Error::InvalidName(_))));
    /// assert!(matches!(FileStore::for_workspace("web", "a/b"), Err(Error::InvalidName(_))));
    /// ```
    pub fn for_workspace(system: &str, workspace: &str) -> Result<Self> {
        for name in [system, workspace] {
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
                return Err(Error::InvalidName(name.to_owned()));
            }
        }
        Self::open(Path::new(".actuator").join(system).join(workspace))
    }

    /// Sets the minimum journal length (in records) before automatic
    /// compaction; the journal is also allowed to grow to the number of
    /// entries, which keeps compaction amortized O(1) per record.
    /// `usize::MAX` disables it.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = actuator::state::FileStore::open(dir.path()).unwrap().compact_after(10_000);
    /// # drop(store);
    /// ```
    pub fn compact_after(mut self, records: usize) -> Self {
        self.compact_after = records;
        self
    }

    /// The state directory.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let store = actuator::state::FileStore::open(dir.path().join("s")).unwrap();
    /// assert_eq!(store.dir(), dir.path().join("s"));
    /// ```
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn compact_files(&mut self, state: &State) -> Result<()> {
        let tmp = self.dir.join(SNAPSHOT_TMP);
        // A leftover from a crash may have any mode; create_new below
        // guarantees ours is created 0600.
        match fs::remove_file(&tmp) {
            Err(e) if e.kind() != ErrorKind::NotFound => return Err(io_err("remove", &tmp)(e)),
            _ => {}
        }
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        let mut w = BufWriter::new(file);
        serde_json::to_writer(&mut w, state)
            .map_err(io::Error::from)
            .and_then(|()| w.flush())
            .and_then(|()| w.get_ref().sync_all())
            .map_err(io_err("write", &tmp))?;
        let snapshot = self.dir.join(SNAPSHOT_FILE);
        fs::rename(&tmp, &snapshot).map_err(io_err("rename snapshot to", &snapshot))?;
        // The rename must be durable before the journal shrinks, or a crash
        // could leave the old snapshot with an empty journal.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err("sync state directory", &self.dir))?;
        let journal = self.dir.join(JOURNAL_FILE);
        self.journal
            .set_len(0)
            .and_then(|()| self.journal.sync_all())
            .map_err(io_err("truncate", &journal))?;
        Ok(())
    }
}

impl StateStore for FileStore {
    fn load(&mut self) -> Result<State> {
        let snapshot_path = self.dir.join(SNAPSHOT_FILE);
        let mut state = match fs::read(&snapshot_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Snapshot {
                path: snapshot_path,
                source,
            })?,
            Err(e) if e.kind() == ErrorKind::NotFound => State::new(),
            Err(e) => return Err(io_err("read", &snapshot_path)(e)),
        };

        let path = self.dir.join(JOURNAL_FILE);
        let bytes = fs::read(&path).map_err(io_err("read", &path))?;
        let (mut valid, mut records) = (0, 0);
        let mut lines = bytes
            .split_inclusive(|&b| b == b'\n')
            .enumerate()
            .peekable();
        while let Some((i, line)) = lines.next() {
            let last = lines.peek().is_none();
            let terminated = line.ends_with(b"\n");
            match serde_json::from_slice::<Record>(line) {
                Ok(rec) if terminated => {
                    // Records the snapshot already holds are left over from a
                    // crash between snapshot rename and journal truncation.
                    if rec.seq > state.last_seq() {
                        if rec.seq != state.last_seq() + 1 {
                            return Err(Error::Gap {
                                path,
                                expected_after: state.last_seq(),
                                found: rec.seq,
                            });
                        }
                        state.apply(&rec);
                    }
                    valid += line.len();
                    records += 1;
                }
                // A complete line that does not parse was acknowledged once: corruption,
                // wherever it is. Only an unterminated last line is a torn append.
                Err(source) if !last || terminated => {
                    return Err(Error::Corrupt {
                        path,
                        line: i + 1,
                        source,
                    });
                }
                // Unterminated and last: an append torn by a crash, never
                // acknowledged to the caller.
                _ => {
                    tracing::warn!(
                        path = %path.display(),
                        line = i + 1,
                        bytes = line.len(),
                        "dropping torn last journal line (crash during a write?)"
                    );
                    // Cut it off, or the next append would glue onto it.
                    self.journal
                        .set_len(valid as u64)
                        .and_then(|()| self.journal.sync_all())
                        .map_err(io_err("truncate torn tail of", &path))?;
                }
            }
        }
        self.records = records;
        Ok(state)
    }

    fn append(&mut self, records: &[Record]) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned {
                path: self.dir.join(JOURNAL_FILE),
            });
        }
        let mut buf = Vec::with_capacity(records.len() * 160);
        for rec in records {
            // Cannot fail: a Record is plain data with string map keys.
            serde_json::to_writer(&mut buf, rec).expect("a Record always serializes");
            buf.push(b'\n');
        }
        if let Err(e) = self
            .journal
            .write_all(&buf)
            .and_then(|()| self.journal.sync_data())
        {
            // The tail may hold part of these records, and after a failed
            // fsync the page cache cannot be trusted either (Linux drops the
            // dirty pages): stop appending rather than build on it.
            self.poisoned = true;
            return Err(io_err("append to", &self.dir.join(JOURNAL_FILE))(e));
        }
        self.records += records.len();
        Ok(())
    }

    fn compact(&mut self, state: &State) -> Result<()> {
        match self.compact_files(state) {
            Ok(()) => {
                // The snapshot now holds everything the in-memory state has,
                // so an unusable journal tail is gone with the truncation.
                (self.records, self.retry_at, self.poisoned) = (0, 0, false);
                Ok(())
            }
            Err(e) => {
                self.retry_at = self.records + self.compact_after.max(state.len());
                Err(e)
            }
        }
    }

    fn wants_compaction(&self, state: &State) -> bool {
        !self.poisoned && self.records >= self.compact_after.max(state.len()).max(self.retry_at)
    }
}

/// Opens `path` with mode 0600 if created, then fixes a looser existing mode.
fn open_private(path: &Path, opts: &mut OpenOptions) -> Result<File> {
    let file = opts.mode(0o600).open(path).map_err(io_err("open", path))?;
    restrict_file(&file, path)?;
    Ok(file)
}

fn restrict_file(file: &File, path: &Path) -> Result<()> {
    let mode = file
        .metadata()
        .map_err(io_err("stat", path))?
        .permissions()
        .mode()
        & 0o777;
    if mode != 0o600 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "state file was not private; setting mode 0600");
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(io_err("chmod", path))?;
    }
    Ok(())
}

fn restrict_dir(dir: &Path) -> Result<()> {
    let mode = fs::metadata(dir)
        .map_err(io_err("stat", dir))?
        .permissions()
        .mode()
        & 0o777;
    if mode != 0o700 {
        tracing::warn!(path = %dir.display(), mode = format!("{mode:o}"), "state directory was not private; setting mode 0700");
        fs::set_permissions(dir, Permissions::from_mode(0o700)).map_err(io_err("chmod", dir))?;
    }
    Ok(())
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Error {
    let path = path.to_owned();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Takes the lock, trying again for a moment before giving up: a child process forked by another
/// thread of this process (a config task starting) holds a copy of every descriptor until it
/// execs, so a lock released just now can look held for a few milliseconds.
fn try_lock_briefly(lock: &File) -> std::result::Result<(), TryLockError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        match lock.try_lock() {
            Err(TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            other => return other,
        }
    }
}
