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
/// A compaction's second name for the snapshot it replaces (numbered: one may still be being
/// removed when the next compaction runs), and its empty journal before it takes the journal's
/// name (see `FileStore::compact_files`). Left over only by a crash; removed at open.
const SNAPSHOT_OLD: &str = "snapshot.json.old.";
const JOURNAL_NEW: &str = "journal.jsonl.new";

/// The embedded default store: `<dir>/snapshot.json` + `<dir>/journal.jsonl`.
///
/// * **Privacy.** A directory the store creates gets mode 0700 and every file
///   0600 (at creation, through `OpenOptionsExt::mode`, so there is no window
///   in which they are readable); a state file found with a looser mode is
///   fixed, with a warning. A directory that already exists is never changed:
///   if others can write to it (a shared `/tmp`-like mode 1777 included) it is
///   refused ([`Error::SharedDir`]), and if it has no write permission for its
///   owner it can be read but not written ([`Error::ReadOnly`]).
/// * **Readers.** [`FileStore::open_read_only`] takes no lock and writes
///   nothing: `status` or `plan` while another process runs `up` see the
///   state as of its last durable record.
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
///   it over `snapshot.json`, fsyncs the directory, and only then replaces
///   the journal with an empty one (renamed over it, the directory fsynced
///   again); a crash at any point leaves a loadable state. The snapshot and
///   journal it replaces are freed on another thread: a file of megabytes
///   takes milliseconds to free, which nothing needs to wait for. It runs
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
pub struct FileStore {
    dir: PathBuf,
    /// `None` for a read-only store.
    journal: Option<File>,
    /// Held for the flock; released when the store is dropped (`None`: read-only, no lock).
    _lock: Option<File>,
    /// Records in the journal file (including any the snapshot already covers).
    records: usize,
    compact_after: usize,
    /// After a failed compaction, the journal length at which to retry, so a
    /// persistent failure does not turn every append into O(state).
    retry_at: usize,
    poisoned: bool,
    /// Records were written by `append_unsynced` and not synced since.
    unsynced: bool,
    /// Compactions so far (numbers the replaced snapshot's second name).
    compactions: u64,
    /// The lines of the batch being appended, kept between appends: a batch of thousands of
    /// records is larger than the allocator's mmap threshold, and a fresh buffer each time would
    /// be mapped, faulted in page by page and unmapped again per batch.
    buf: Vec<u8>,
}

impl std::fmt::Debug for FileStore {
    /// Everything but the append buffer, which holds the last batch's lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .field("journal", &self.journal)
            .field("records", &self.records)
            .field("compact_after", &self.compact_after)
            .field("retry_at", &self.retry_at)
            .field("poisoned", &self.poisoned)
            .field("unsynced", &self.unsynced)
            .finish_non_exhaustive()
    }
}

/// Most of an append's buffer a store keeps for the next one (see `FileStore::buf`).
const KEPT_BUFFER: usize = 4 << 20;

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
        match fs::metadata(&dir) {
            Ok(_) => {
                // Someone's directory: used as it is, or refused, never changed.
                let mode = check_dir(&dir)?;
                if mode & 0o200 == 0 {
                    return Err(Error::ReadOnly {
                        path: dir,
                        why: "the directory has no write permission (it can be read: `status`, `plan`)",
                    });
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Ours: created private (missing parents too).
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(io_err("create state directory", &dir))?;
            }
            Err(e) => return Err(io_err("use state directory", &dir)(e)),
        }

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

        // What a compaction that crashed left: the files it was replacing or about to use.
        for entry in fs::read_dir(&dir).map_err(io_err("read state directory", &dir))? {
            let name = entry
                .map_err(io_err("read state directory", &dir))?
                .file_name();
            let name = name.to_string_lossy();
            if name.starts_with(SNAPSHOT_OLD) || name == JOURNAL_NEW {
                remove_if_there(&dir.join(&*name))?;
            }
        }
        let journal_path = dir.join(JOURNAL_FILE);
        let journal = open_journal(&journal_path, true)?;
        let snapshot_path = dir.join(SNAPSHOT_FILE);
        match File::open(&snapshot_path) {
            Ok(f) => restrict_file(&f, &snapshot_path)?,
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open snapshot", &snapshot_path)(e)),
        }
        Ok(Self {
            dir,
            journal: Some(journal),
            _lock: Some(lock),
            records: 0,
            compact_after: DEFAULT_COMPACT_AFTER,
            retry_at: 0,
            poisoned: false,
            unsynced: false,
            compactions: 0,
            buf: Vec::new(),
        })
    }

    /// Opens the state in `dir` for reading only: no lock is taken and
    /// nothing is created or written, so it works while another process holds
    /// the lock (an `up` in progress) and on a read-only directory. It sees the
    /// state as of the last durable record; a directory that does not exist is
    /// an empty state. Appending fails with [`Error::ReadOnly`].
    ///
    /// ```
    /// use actuator::state::{FileStore, Journal};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut writer = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap();
    /// writer.intent("infra.net", "aws.Vpc", serde_json::Value::Null).unwrap();
    /// // The writer still holds the lock; a reader sees its record.
    /// let mut reader = Journal::open(FileStore::open_read_only(dir.path()).unwrap()).unwrap();
    /// assert!(reader.state().get("infra.net").is_some());
    /// assert!(reader.intent("infra.x", "aws.Vpc", serde_json::Value::Null).is_err());
    /// ```
    pub fn open_read_only(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        match fs::metadata(&dir) {
            Ok(_) => {
                check_dir(&dir)?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("use state directory", &dir)(e)),
        }
        Ok(Self {
            dir,
            journal: None,
            _lock: None,
            records: 0,
            compact_after: usize::MAX,
            retry_at: 0,
            poisoned: false,
            unsynced: false,
            compactions: 0,
            buf: Vec::new(),
        })
    }

    /// The default state directory of `workspace` of `system`:
    /// `.actuator/<system>/<workspace>/` under the current directory.
    ///
    /// ```
    /// use actuator::state::{Error, FileStore};
    /// assert_eq!(FileStore::workspace_dir("web", "prod").unwrap(),
    ///            std::path::Path::new(".actuator/web/prod"));
    /// assert!(matches!(FileStore::workspace_dir("../etc", "default"), Err(Error::InvalidName(_))));
    /// assert!(matches!(FileStore::workspace_dir("web", "a/b"), Err(Error::InvalidName(_))));
    /// ```
    pub fn workspace_dir(system: &str, workspace: &str) -> Result<PathBuf> {
        for name in [system, workspace] {
            if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
                return Err(Error::InvalidName(name.to_owned()));
            }
        }
        Ok(Path::new(".actuator").join(system).join(workspace))
    }

    /// Opens the state of `workspace` of `system` in its default directory
    /// ([`Self::workspace_dir`]).
    ///
    /// ```
    /// use actuator::state::{Error, FileStore};
    /// assert!(matches!(FileStore::for_workspace("../etc", "default"), Err(Error::InvalidName(_))));
    /// ```
    pub fn for_workspace(system: &str, workspace: &str) -> Result<Self> {
        Self::open(Self::workspace_dir(system, workspace)?)
    }

    /// Whether this store was opened with [`Self::open_read_only`].
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// assert!(actuator::state::FileStore::open_read_only(dir.path()).unwrap().is_read_only());
    /// ```
    pub fn is_read_only(&self) -> bool {
        self.journal.is_none()
    }

    fn journal_file(&mut self) -> Result<&mut File> {
        let path = &self.dir;
        self.journal.as_mut().ok_or_else(|| Error::ReadOnly {
            path: path.clone(),
            why: "opened for reading only",
        })
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

    /// Reads the state in `dir` without taking its lock, creating or changing nothing: what
    /// `status` and `plan` use while another process may be writing. The view is consistent
    /// (the snapshot and the journal records after it); a compaction that replaces the
    /// snapshot between the two reads cannot tear it, and a torn last line being written right
    /// now is left out. A directory that does not exist reads as an empty state.
    ///
    /// ```
    /// use actuator::state::{FileStore, Journal};
    /// let dir = tempfile::tempdir().unwrap();
    /// let mut j = Journal::open(FileStore::open(dir.path()).unwrap()).unwrap();
    /// j.set_meta("system", Some("web")).unwrap();
    /// // The writer still holds the lock; a reader is not kept out.
    /// assert_eq!(FileStore::read(dir.path()).unwrap().meta()["system"], "web");
    /// assert!(FileStore::read(dir.path().join("nothing-here")).unwrap().is_empty());
    /// ```
    pub fn read(dir: impl AsRef<Path>) -> Result<State> {
        // A read-only store reads the journal before the snapshot, which a compaction cannot
        // tear (see `load`), and creates nothing.
        Self::open_read_only(dir.as_ref())?.load()
    }

    /// Writes `records` to the journal file and, with `sync`, makes it durable.
    fn write(&mut self, records: &[Record], sync: bool) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned {
                path: self.dir.join(JOURNAL_FILE),
            });
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        for rec in records {
            rec.write_line(&mut buf)
                .expect("writing to memory cannot fail");
        }
        let written = self.journal_file().map(|file| {
            file.write_all(&buf)?;
            // One sync covers every write before it, those left unsynced included.
            if sync { file.sync_data() } else { Ok(()) }
        });
        // Kept unless one huge batch (a whole plan's intents) made it large.
        if buf.capacity() <= KEPT_BUFFER {
            self.buf = buf;
        }
        if let Err(e) = written? {
            // The tail may hold part of these records, and after a failed
            // fsync the page cache cannot be trusted either (Linux drops the
            // dirty pages): stop appending rather than build on it.
            self.poisoned = true;
            return Err(io_err("append to", &self.dir.join(JOURNAL_FILE))(e));
        }
        self.records += records.len();
        if sync {
            self.unsynced = false;
        } else if !records.is_empty() {
            self.unsynced = true;
        }
        Ok(())
    }

    fn compact_files(&mut self, state: &State) -> Result<()> {
        self.journal_file()?;
        let tmp = self.dir.join(SNAPSHOT_TMP);
        // A leftover from a crash may have any mode; create_new below
        // guarantees ours is created 0600.
        remove_if_there(&tmp)?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("create", &tmp))?;
        // Large writes: a snapshot of thousands of entries is megabytes, which the default 8 KiB
        // buffer would hand to the kernel in hundreds of calls.
        let mut w = BufWriter::with_capacity(1 << 20, file);
        state
            .write_snapshot(&mut w)
            .and_then(|()| w.flush())
            .and_then(|()| w.get_ref().sync_all())
            .map_err(io_err("write", &tmp))?;
        let snapshot = self.dir.join(SNAPSHOT_FILE);
        // The snapshot replaced keeps a second name until another thread removes it: renaming
        // over its only name would free it here. (None yet, or a file system without links:
        // the rename frees it.)
        self.compactions += 1;
        let old = self.dir.join(format!("{SNAPSHOT_OLD}{}", self.compactions));
        let kept = fs::hard_link(&snapshot, &old).is_ok();
        fs::rename(&tmp, &snapshot).map_err(io_err("rename snapshot to", &snapshot))?;
        // The rename must be durable before the journal empties, or a crash
        // could leave the old snapshot with an empty journal.
        sync_dir(&self.dir)?;
        // An empty journal takes the journal's name; the old one stays open, and so is freed
        // only when another thread closes it. Durable before anything is appended to it.
        let journal = self.dir.join(JOURNAL_FILE);
        let new = self.dir.join(JOURNAL_NEW);
        remove_if_there(&new)?;
        let file = open_journal(&new, false)?;
        fs::rename(&new, &journal).map_err(io_err("rename journal to", &journal))?;
        let replaced = self.journal.replace(file);
        if let Err(e) = sync_dir(&self.dir) {
            // Appends to the new journal might not be found after a crash: refuse them.
            self.poisoned = true;
            return Err(e);
        }
        self.unsynced = false;
        let free = move || {
            drop(replaced);
            if kept {
                let _ = fs::remove_file(&old);
            }
        };
        if let Err(e) = std::thread::Builder::new()
            .name("actuator-free".into())
            .spawn(free)
        {
            tracing::debug!(error = %e, "no thread to free the replaced state files on");
        }
        Ok(())
    }
}

impl Drop for FileStore {
    /// Records left unsynced become durable when the store is closed, as an append's would.
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

impl StateStore for FileStore {
    fn load(&mut self) -> Result<State> {
        // The journal is read before the snapshot: a reader without the lock may race with a
        // compaction (new snapshot renamed in, then the journal replaced), and in this order it
        // sees either the old snapshot with the journal that extends it, or a snapshot that
        // already holds every record it read — never a journal that skips past its snapshot.
        let path = self.dir.join(JOURNAL_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound && self.is_read_only() => Vec::new(),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let snapshot_path = self.dir.join(SNAPSHOT_FILE);
        let mut state = match fs::read(&snapshot_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| Error::Snapshot {
                path: snapshot_path,
                source,
            })?,
            Err(e) if e.kind() == ErrorKind::NotFound => State::new(),
            Err(e) => return Err(io_err("read", &snapshot_path)(e)),
        };

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
                    // crash between snapshot rename and journal replacement.
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
                // Unterminated and last, for a reader: an append in progress (or
                // torn); the state as of the record before it.
                _ if self.is_read_only() => {}
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
                    let file = self.journal_file()?;
                    file.set_len(valid as u64)
                        .and_then(|()| file.sync_all())
                        .map_err(io_err("truncate torn tail of", &path))?;
                }
            }
        }
        self.records = records;
        Ok(state)
    }

    fn append(&mut self, records: &[Record]) -> Result<()> {
        self.write(records, true)
    }

    fn append_unsynced(&mut self, records: &[Record]) -> Result<()> {
        self.write(records, false)
    }

    fn sync(&mut self) -> Result<()> {
        if !self.unsynced {
            return Ok(());
        }
        self.write(&[], true)
    }

    fn compact(&mut self, state: &State) -> Result<()> {
        match self.compact_files(state) {
            Ok(()) => {
                // The snapshot now holds everything the in-memory state has,
                // so an unusable journal tail is gone with the replaced journal.
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
        !self.poisoned
            && !self.is_read_only()
            && self.records >= self.compact_after.max(state.len()).max(self.retry_at)
    }

    fn is_durable(&self) -> bool {
        // A reader appends nothing: no group-commit writer for it.
        !self.is_read_only()
    }
}

/// Opens the journal at `path` for appending (creating it private), or with `existing` false a
/// new one where no file is.
fn open_journal(path: &Path, existing: bool) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true);
    if existing {
        opts.create(true);
    } else {
        opts.create_new(true);
    }
    open_private(path, &mut opts)
}

fn remove_if_there(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(io_err("remove", path)(e)),
        _ => Ok(()),
    }
}

/// Makes the directory's entries (a rename into it) durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync state directory", dir))
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

/// An existing state directory: refused if others can write to it; its mode is returned, never
/// changed (it is someone's directory, perhaps shared on purpose).
fn check_dir(dir: &Path) -> Result<u32> {
    let meta = fs::metadata(dir).map_err(io_err("use state directory", dir))?;
    if !meta.is_dir() {
        return Err(io_err("use state directory", dir)(io::Error::new(
            ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(Error::SharedDir {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(mode)
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
