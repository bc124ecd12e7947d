//! What one run (`up`, `down`, `refresh`) keeps besides the state: its id, its events stamped
//! with it and counted into the summary, secrets masked on the way out, and the task output log
//! under the state directory (`runs/<run id>.log`).

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use parking_lot::Mutex;

use crate::engine::NodeId;
use crate::events::{Envelope, Event, EventHandler, MAX_LINE, Outcome, OutputLine, RunSummary};
use crate::exec::{OutputSink, Stream};
use crate::secret::Redactor;

/// Task output logs kept per state: older ones are deleted when a run starts a new one.
pub const KEEP_RUN_LOGS: usize = 20;
/// At most this much of the run log holds one task attempt's output, counted as written (each
/// line with its time stamp, task and host): the rest is counted, and the log says how much.
pub const MAX_TASK_LOG: usize = 1 << 20;
/// What the run log adds to a line: the time stamp, a space and the newline.
const LOG_STAMP: usize = "2025-05-01T10:15:02.123Z ".len() + 1;
/// At most this much goes into one run's log.
pub const MAX_RUN_LOG: u64 = 64 << 20;
/// Lines of a failed task's output attached to its failure.
pub const TAIL_LINES: usize = 20;

/// A new run id: the UTC start time to the millisecond, then 32 random bits —
/// `20250501T101502.123Z-9f3a1c2e`. Ids sort by start time, which is how old logs are pruned.
pub(crate) fn new_run_id() -> String {
    let t = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
    let compact: String = t.chars().filter(|c| *c != '-' && *c != ':').collect();
    format!("{compact}-{:08x}", rand::random::<u32>())
}

/// The run's event sink: stamps each event with the run id and the time, masks secrets, counts
/// it into the summary, and hands it on.
pub(super) struct RunEvents {
    pub(super) id: String,
    inner: Arc<dyn EventHandler>,
    tally: Mutex<RunSummary>,
    pub(super) redactor: Arc<Redactor>,
}

impl RunEvents {
    pub(super) fn new(inner: Arc<dyn EventHandler>, redactor: Arc<Redactor>) -> Self {
        RunEvents {
            id: new_run_id(),
            inner,
            tally: Mutex::new(RunSummary::default()),
            redactor,
        }
    }

    /// The counts so far.
    pub(super) fn tally(&self) -> RunSummary {
        self.tally.lock().clone()
    }

    pub(super) fn redact(&self, text: &str) -> String {
        self.redactor.redact(text).into_owned()
    }
}

impl EventHandler for RunEvents {
    fn event(&self, e: &Event) {
        let e = redact_event(e, &self.redactor);
        if RunSummary::counts(&e) {
            self.tally.lock().count(&e);
        }
        self.inner.record(&Envelope::now(&self.id, &e));
    }
}

/// `e` with secrets masked in its free text (errors, output lines); borrowed when there is
/// nothing to mask.
fn redact_event<'a>(e: &'a Event, r: &Redactor) -> Cow<'a, Event> {
    if r.is_empty() {
        return Cow::Borrowed(e);
    }
    let fix = |s: &mut String| {
        if let Cow::Owned(o) = r.redact(s) {
            *s = o;
        }
    };
    let mut e = e.clone();
    match &mut e {
        Event::TaskRetry { error, .. } => fix(error),
        Event::TaskFailed { error, output, .. } => {
            fix(error);
            output.iter_mut().for_each(|l| fix(&mut l.line));
        }
        Event::TaskOutput { line, .. } => fix(line),
        Event::Summary(s) => {
            for f in &mut s.failures {
                fix(&mut f.error);
                f.output.iter_mut().for_each(|l| fix(&mut l.line));
            }
        }
        _ => {}
    }
    Cow::Owned(e)
}

/// What a walk's work tells its observer about each node: what a finished step did, the host of a
/// task, a failed task's last output.
pub(super) struct WalkInfo {
    /// By node index, the outcome's [`code`] (0: none yet): set once per step and read by its
    /// finished event, on any thread, without a lock.
    outcomes: Vec<AtomicU8>,
    tails: Mutex<HashMap<u32, Vec<OutputLine>>>,
    /// The host of each node that runs on one (config tasks).
    pub(super) hosts: Vec<Option<String>>,
}

/// Every outcome, by its [`code`] less one.
const OUTCOMES: [Outcome; 9] = [
    Outcome::Created,
    Outcome::Updated,
    Outcome::Replaced,
    Outcome::ReplacedOld,
    Outcome::Destroyed,
    Outcome::Nothing,
    Outcome::Read,
    Outcome::Ran,
    Outcome::SkippedByCheck,
];

/// An outcome as a byte, 1 and up; exhaustive, so a new outcome does not compile without one
/// (and its place in [`OUTCOMES`], which a test checks).
fn code(o: Outcome) -> u8 {
    match o {
        Outcome::Created => 1,
        Outcome::Updated => 2,
        Outcome::Replaced => 3,
        Outcome::ReplacedOld => 4,
        Outcome::Destroyed => 5,
        Outcome::Nothing => 6,
        Outcome::Read => 7,
        Outcome::Ran => 8,
        Outcome::SkippedByCheck => 9,
    }
}

impl WalkInfo {
    /// For a walk of `nodes` nodes.
    pub(super) fn new(nodes: usize) -> Self {
        WalkInfo {
            outcomes: (0..nodes).map(|_| AtomicU8::new(0)).collect(),
            tails: Mutex::default(),
            hosts: Vec::new(),
        }
    }

    /// For a walk with a node per host entry.
    pub(super) fn with_hosts(hosts: Vec<Option<String>>) -> Self {
        let mut info = WalkInfo::new(hosts.len());
        info.hosts = hosts;
        info
    }

    pub(super) fn set_outcome(&self, node: NodeId, o: Outcome) {
        self.outcomes[node.index()].store(code(o), Ordering::Relaxed);
    }

    pub(super) fn outcome(&self, node: NodeId) -> Option<Outcome> {
        let code = self.outcomes[node.index()].load(Ordering::Relaxed);
        OUTCOMES.get(usize::from(code).checked_sub(1)?).copied()
    }

    pub(super) fn set_tail(&self, node: NodeId, tail: Vec<OutputLine>) {
        self.tails.lock().insert(node.0, tail);
    }

    pub(super) fn tail(&self, node: NodeId) -> Vec<OutputLine> {
        self.tails.lock().get(&node.0).cloned().unwrap_or_default()
    }

    pub(super) fn host(&self, node: NodeId) -> Option<String> {
        self.hosts.get(node.index()).cloned().flatten()
    }
}

/// The run's task output log, `<state>/runs/<run id>.log` (mode 0600), opened on first use.
pub(super) struct RunLog {
    path: PathBuf,
    file: Mutex<LogFile>,
}

enum LogFile {
    NotOpen,
    Open {
        out: BufWriter<File>,
        written: u64,
    },
    /// It could not be opened or written (said once, in the logs), or is full.
    Off,
}

impl RunLog {
    /// The log of run `run` in state directory `state`.
    pub(super) fn new(state: &Path, run: &str) -> Self {
        RunLog {
            path: state.join("runs").join(format!("{run}.log")),
            file: Mutex::new(LogFile::NotOpen),
        }
    }

    /// The file, if anything was written to it.
    pub(super) fn written(&self) -> Option<PathBuf> {
        match &*self.file.lock() {
            LogFile::Open { .. } | LogFile::Off => self.path.exists().then(|| self.path.clone()),
            LogFile::NotOpen => None,
        }
    }

    /// Appends `lines` (each gets the time), at most [`MAX_RUN_LOG`] bytes per run.
    pub(super) fn write(&self, lines: &[String]) {
        let mut f = self.file.lock();
        if let LogFile::NotOpen = *f {
            *f = match open_log(&self.path) {
                Ok(file) => LogFile::Open {
                    out: BufWriter::new(file),
                    written: 0,
                },
                Err(e) => {
                    tracing::warn!(log = %self.path.display(), error = %e, "cannot write the task output log");
                    LogFile::Off
                }
            };
        }
        let LogFile::Open { out, written } = &mut *f else {
            return;
        };
        let ts = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let mut result = Ok(());
        for l in lines {
            if *written >= MAX_RUN_LOG {
                let _ = writeln!(
                    out,
                    "{ts} (log full: {MAX_RUN_LOG} bytes; the rest of this run's output is not logged)"
                );
                let _ = out.flush();
                *f = LogFile::Off;
                return;
            }
            *written += (ts.len() + l.len() + 2) as u64;
            result = result.and(writeln!(out, "{ts} {l}"));
        }
        if let Err(e) = result.and_then(|()| out.flush()) {
            tracing::warn!(log = %self.path.display(), error = %e, "cannot write the task output log");
            *f = LogFile::Off;
        }
    }
}

/// Creates the log file (and `runs/`, 0700, if it does not exist), then deletes the oldest logs
/// beyond [`KEEP_RUN_LOGS`].
fn open_log(path: &Path) -> std::io::Result<File> {
    let dir = path.parent().expect("runs/<id>.log");
    if !dir.exists() {
        fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let mut logs: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    let excess = logs.len().saturating_sub(KEEP_RUN_LOGS);
    for old in &logs[..excess] {
        if let Err(e) = fs::remove_file(old) {
            tracing::debug!(log = %old.display(), error = %e, "cannot remove an old task output log");
        }
    }
    Ok(file)
}

/// One task attempt's output: split into lines, secrets masked, each line an event and a line of
/// the run log; the last [`TAIL_LINES`] kept for a failure.
pub(super) struct TaskOutput {
    task: Arc<str>,
    host: String,
    events: Arc<RunEvents>,
    log: Option<Arc<RunLog>>,
    state: Mutex<Lines>,
}

#[derive(Default)]
struct Lines {
    /// An unfinished line per stream (stdout, stderr).
    partial: [Vec<u8>; 2],
    /// A line longer than [`MAX_LINE`] was cut: drop the rest of it (per stream).
    cutting: [bool; 2],
    tail: VecDeque<OutputLine>,
    logged: usize,
    unlogged: usize,
}

fn slot(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

impl TaskOutput {
    pub(super) fn new(
        task: &str,
        host: &str,
        events: Arc<RunEvents>,
        log: Option<Arc<RunLog>>,
    ) -> Self {
        TaskOutput {
            task: task.into(),
            host: host.to_owned(),
            events,
            log,
            state: Mutex::new(Lines::default()),
        }
    }

    /// A line about the task (not its output) in the run log.
    pub(super) fn note(&self, text: &str) {
        if let Some(log) = &self.log {
            log.write(&[format!(
                "{}@{} {}",
                self.task,
                self.host,
                self.events.redact(text)
            )]);
        }
    }

    /// Ends the attempt: an unfinished last line is a line. Returns the tail.
    pub(super) fn finish(&self) -> Vec<OutputLine> {
        let (tail, unlogged) = {
            let mut st = self.state.lock();
            let mut lines = Vec::new();
            for stream in [Stream::Stdout, Stream::Stderr] {
                let rest = std::mem::take(&mut st.partial[slot(stream)]);
                if !rest.is_empty() {
                    lines.push((stream, rest, false));
                }
            }
            self.take(&mut st, lines);
            (st.tail.iter().cloned().collect(), st.unlogged)
        };
        if unlogged > 0 {
            self.note(&format!("({unlogged} more bytes of output not logged)"));
        }
        tail
    }

    /// Turns complete lines into events, log lines and the tail.
    fn take(&self, st: &mut Lines, lines: Vec<(Stream, Vec<u8>, bool)>) {
        let mut log = Vec::new();
        for (stream, bytes, cut) in lines {
            let text = String::from_utf8_lossy(&bytes);
            let text = text.strip_suffix('\r').unwrap_or(&text);
            let mut line = self.events.redact(text);
            if cut {
                line.push('…');
            }
            let tag = match stream {
                Stream::Stdout => "stdout",
                Stream::Stderr => "stderr",
            };
            let entry = format!("{}@{} {tag}| {line}", self.task, self.host);
            if st.logged + entry.len() + LOG_STAMP <= MAX_TASK_LOG {
                st.logged += entry.len() + LOG_STAMP;
                log.push(entry);
            } else {
                st.unlogged += line.len();
            }
            if st.tail.len() == TAIL_LINES {
                st.tail.pop_front();
            }
            st.tail.push_back(OutputLine {
                stream,
                line: line.clone(),
            });
            self.events.event(&Event::TaskOutput {
                task: self.task.clone(),
                host: self.host.clone(),
                stream,
                line,
            });
        }
        if let (Some(l), false) = (&self.log, log.is_empty()) {
            l.write(&log);
        }
    }
}

impl OutputSink for TaskOutput {
    fn output(&self, stream: Stream, data: &[u8]) {
        let mut st = self.state.lock();
        let i = slot(stream);
        let mut lines = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let (piece, more, ends) = match rest.iter().position(|&b| b == b'\n') {
                Some(at) => (&rest[..at], &rest[at + 1..], true),
                None => (rest, &[][..], false),
            };
            rest = more;
            if !st.cutting[i] {
                st.partial[i].extend_from_slice(piece);
                if st.partial[i].len() > MAX_LINE {
                    let mut line = std::mem::take(&mut st.partial[i]);
                    line.truncate(MAX_LINE);
                    lines.push((stream, line, true));
                    st.cutting[i] = !ends;
                    continue;
                }
            }
            if ends {
                if st.cutting[i] {
                    st.cutting[i] = false;
                } else {
                    lines.push((stream, std::mem::take(&mut st.partial[i]), false));
                }
            }
        }
        self.take(&mut st, lines);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Collect;

    fn sink(redact: &[&str]) -> (TaskOutput, Arc<Collect>) {
        let c = Arc::new(Collect::default());
        let r = Arc::new(Redactor::default());
        redact.iter().for_each(|s| r.add(s));
        let ev = Arc::new(RunEvents::new(c.clone(), r));
        (TaskOutput::new("t", "h", ev, None), c)
    }

    #[test]
    fn every_outcome_set_for_a_node_is_read_back() {
        let info = WalkInfo::new(OUTCOMES.len() + 1);
        for (i, &o) in OUTCOMES.iter().enumerate() {
            assert_eq!(usize::from(code(o)), i + 1, "{o:?}'s place in OUTCOMES");
            info.set_outcome(NodeId(i as u32), o);
        }
        for (i, &o) in OUTCOMES.iter().enumerate() {
            assert_eq!(info.outcome(NodeId(i as u32)), Some(o));
        }
        assert_eq!(info.outcome(NodeId(OUTCOMES.len() as u32)), None);
    }

    fn lines(c: &Collect) -> Vec<(Stream, String)> {
        c.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::TaskOutput { stream, line, .. } => Some((stream, line)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn chunks_become_lines_per_stream_and_a_last_unfinished_line_counts() {
        let (s, c) = sink(&["hunter2"]);
        s.output(Stream::Stdout, b"one\ntw");
        s.output(Stream::Stderr, b"err\r\n");
        s.output(Stream::Stdout, b"o hunter");
        s.output(Stream::Stdout, b"2\nthree");
        let tail = s.finish();
        let want = [
            (Stream::Stdout, "one".to_string()),
            (Stream::Stderr, "err".to_string()),
            (Stream::Stdout, "two ***".to_string()),
            (Stream::Stdout, "three".to_string()),
        ];
        assert_eq!(lines(&c), want);
        assert_eq!(tail.len(), 4);
        assert_eq!(tail[2].line, "two ***");
    }

    #[test]
    fn a_long_line_is_cut_and_the_tail_keeps_the_last_lines() {
        let (s, c) = sink(&[]);
        let long = vec![b'x'; MAX_LINE * 3];
        s.output(Stream::Stdout, &long);
        s.output(Stream::Stdout, b"x\nnext\n");
        for i in 0..30 {
            s.output(Stream::Stderr, format!("e{i}\n").as_bytes());
        }
        let tail = s.finish();
        let got = lines(&c);
        assert_eq!(got[0].1.len(), MAX_LINE + '…'.len_utf8());
        assert_eq!(got[1].1, "next");
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail.last().unwrap().line, "e29");
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert!(a < b, "{a} {b}");
        assert!(a.contains('T') && a.contains("Z-"), "{a}");
    }

    #[test]
    fn the_log_is_private_and_old_logs_are_pruned() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        for i in 0..KEEP_RUN_LOGS + 3 {
            let log = RunLog::new(tmp.path(), &format!("run{i:03}"));
            log.write(&[format!("line {i}")]);
        }
        let dir = tmp.path().join("runs");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), KEEP_RUN_LOGS);
        assert_eq!(names[0], "run003.log");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("run022.log")), 0o600);
        let text = fs::read_to_string(dir.join("run022.log")).unwrap();
        assert!(text.trim_end().ends_with(" line 22"), "{text}");
    }
}
