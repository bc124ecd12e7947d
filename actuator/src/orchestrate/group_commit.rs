//! Group commit for the state journal: every walk's workers hand their records to one writer
//! thread, which appends everything that arrived together in one write and one sync, then wakes
//! each worker. A record a worker waits for (an intent before its cloud call) is durable before it
//! goes on, but a thousand concurrent workers share syncs instead of queueing for them.
//!
//! A completion need not be waited for ([`Later`]): the intent before the cloud call is what
//! keeps a crash from losing a resource, and the completion becomes durable with the next sync —
//! the next record someone waits for (an intent, at the latest the walk's flush at its end; one
//! queue, so records are written in the order they were sent). A chain of dependent steps then
//! waits for one sync per step instead of two. A batch of completions alone is written at once
//! (a killed process loses none of them) but not synced: a machine that crashes before the next
//! sync leaves their entries in doubt, as it would a step it stopped in its cloud call, and the
//! next run settles them by looking for the resources.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex, MutexGuard};

use crate::engine::AttemptError;
use crate::state::{Data, Journal, StateStore, with_causes};

pub(super) type Store = Box<dyn StateStore + Send>;
type JournalWrite = Box<dyn FnOnce(&mut Journal<Store>) -> crate::state::Result<()> + Send>;
type Ack = tokio::sync::oneshot::Sender<Result<(), String>>;

/// A completion nobody waits for (see the module's comment), as data rather than a closure: one
/// per step of a walk, and a boxed closure, allocated on a worker and freed by the writer, is a
/// free across threads, which glibc's allocator pays for with a lock of the worker's arena.
pub(super) enum Later {
    /// [`Journal::done`] of the key, with the resource's or task's data.
    Done(Arc<str>, Data),
    /// [`Journal::undone`] of the key.
    Undone(Arc<str>),
}

impl Later {
    fn write(self, j: &mut Journal<Store>) -> crate::state::Result<()> {
        match self {
            Later::Done(key, data) => j.done(&key, data),
            Later::Undone(key) => j.undone(&key),
        }
    }
}

/// What a request records.
enum Op {
    Write(JournalWrite),
    Later(Later),
}

struct Req {
    op: Op,
    /// Compact the store (if it wants to) before this request's batch is acked: asked by
    /// `flush` at the end of a walk. Not during one, where a snapshot of the whole state every
    /// time the journal has grown by as much again costs more than all the walk's records (a
    /// 20,000-resource `up` wrote one twice); a crashed walk only leaves a longer journal to load.
    /// The snapshot then makes the batch durable, rather than a sync of the journal it replaces.
    compact: bool,
    /// Synced and acked before any later request is taken: one part of a long list of intents
    /// (see `JournalHandle::record_in_turn`), which is then durable, and its steps free to go,
    /// while the writer writes the next part.
    in_turn: bool,
    /// `None` for a record nobody waits for; its error is kept in `JournalHandle::lost`.
    ack: Option<Ack>,
}

/// The orchestration's journal: reads lock it, writes go through the group-commit thread (or,
/// for a store without durability, straight to the journal). One reference for all its parts:
/// every step of a walk clones it.
#[derive(Clone)]
pub(super) struct JournalHandle(Arc<Handle>);

struct Handle {
    shared: Arc<Mutex<Journal<Store>>>,
    writer: Option<Writer>,
    /// The first error of a record nobody waited for: every later `record` and `flush` fails
    /// with it, so a run cannot end well with a completion missing from its journal.
    lost: Arc<Mutex<Option<String>>>,
}

/// The writer thread; the last handle's drop stops it and waits, so the store (and its lock file)
/// is released when the orchestration is dropped.
struct Writer {
    queue: Arc<Queue>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// What the workers hand the writer: a list it takes whole, rather than a channel, which
/// allocates a node (and, every few dozen records, a block) per record sent.
#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    arrived: Condvar,
}

#[derive(Default)]
struct Pending {
    reqs: Vec<Req>,
    /// One of `reqs` is waited for.
    awaited: bool,
    closed: bool,
}

impl Queue {
    /// Hands `req` to the writer thread (its `ack`, if any, hears how it went); `Err` once the
    /// writer has stopped.
    fn push(&self, req: Req) -> Result<(), ()> {
        let mut p = self.pending.lock();
        if p.closed {
            return Err(());
        }
        let awaited = req.ack.is_some();
        p.reqs.push(req);
        // The first record wakes the writer, and so does the first one waited for (the writer
        // may be lingering over records nobody waits for, see `take`).
        if p.reqs.len() == 1 || (awaited && !p.awaited) {
            self.arrived.notify_one();
        }
        p.awaited |= awaited;
        Ok(())
    }

    /// Moves what has arrived (at most [`MAX_BATCH`]) into `batch`, waiting for something first;
    /// `false` once the queue is closed and empty. When nothing that arrived is waited for, it
    /// lingers up to [`LINGER`] for more first: completions arrive one by one as fast as steps
    /// finish, and each batch is a write.
    fn take(&self, batch: &mut Vec<Req>) -> bool {
        debug_assert!(batch.is_empty(), "the last batch was handled whole");
        let mut p = self.pending.lock();
        while p.reqs.is_empty() {
            if p.closed {
                return false;
            }
            self.arrived.wait(&mut p);
        }
        if !p.awaited && !p.closed && p.reqs.len() < MAX_BATCH {
            self.arrived.wait_for(&mut p, LINGER);
        }
        let end = p
            .reqs
            .iter()
            .position(|r| r.in_turn)
            .map_or(p.reqs.len(), |i| i + 1)
            .min(MAX_BATCH);
        if end == p.reqs.len() {
            std::mem::swap(&mut p.reqs, batch);
            p.awaited = false;
        } else {
            batch.extend(p.reqs.drain(..end));
            p.awaited = p.reqs.iter().any(|r| r.ack.is_some());
        }
        true
    }

    fn close(&self) {
        self.pending.lock().closed = true;
        self.arrived.notify_one();
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.close();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Most records one sync covers; bounds the latency of the first record of a batch.
const MAX_BATCH: usize = 4096;

/// How long the writer waits for more records when what arrived is not waited for: the delay
/// before a completion is written, which a killed process loses.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

impl JournalHandle {
    pub(super) fn new(journal: Journal<Store>) -> Self {
        let durable = journal.store().is_durable();
        let shared = Arc::new(Mutex::new(journal));
        let lost = Arc::new(Mutex::new(None));
        if !durable {
            return JournalHandle(Arc::new(Handle {
                shared,
                writer: None,
                lost,
            }));
        }
        let queue = Arc::new(Queue::default());
        let (writer, lost_by_writer, q) = (shared.clone(), lost.clone(), queue.clone());
        // A plain thread, not a runtime task: it outlives any one runtime (tests and the CLI start
        // several) and blocks in syncs without holding up async workers. It ends with the last
        // handle.
        let thread = std::thread::Builder::new()
            .name("actuator-journal".into())
            .spawn(move || {
                let mut batch = Vec::new();
                while q.take(&mut batch) {
                    let compact = batch.iter().any(|r| r.compact);
                    // Synced only when someone waits for it: a batch of completions alone is
                    // written now and made durable by the next sync (see the module's comment),
                    // which saves a walk of steps that never wait a sync per batch.
                    // A flush's batch is made durable by the compaction if the store wants one.
                    let durable = batch.iter().any(|r| r.ack.is_some()) && !compact;
                    // Taken apart before the batch: a journal that refuses to write runs none of
                    // the ops, and every ack must still hear so.
                    let (ops, acks): (Vec<Op>, Vec<_>) =
                        batch.drain(..).map(|r| (r.op, r.ack)).unzip();
                    let outcome = {
                        let mut j = writer.lock();
                        let outcome = j.batch_uncompacted(durable, |j| {
                            ops.into_iter()
                                .map(|op| {
                                    match op {
                                        Op::Write(op) => op(j),
                                        Op::Later(later) => later.write(j),
                                    }
                                    .map_err(|e| with_causes(&e))
                                })
                                .collect::<Vec<_>>()
                        });
                        match outcome {
                            Ok(results) if compact => j.sync_or_compact().map(|()| results),
                            outcome => outcome,
                        }
                    };
                    let results = match outcome {
                        Ok(results) => results,
                        Err(e) => vec![Err(with_causes(&e)); acks.len()],
                    };
                    for (ack, r) in acks.into_iter().zip(results) {
                        match ack {
                            Some(ack) => {
                                let _ = ack.send(r);
                            }
                            None => {
                                if let Err(e) = r {
                                    lost_by_writer.lock().get_or_insert(e);
                                }
                            }
                        }
                    }
                }
            })
            .expect("spawn the journal writer thread");
        JournalHandle(Arc::new(Handle {
            shared,
            writer: Some(Writer {
                queue,
                thread: Some(thread),
            }),
            lost,
        }))
    }

    /// The error of a record nobody waited for, if one failed.
    fn lost(&self) -> Result<(), AttemptError> {
        match &*self.0.lost.lock() {
            Some(e) => Err(AttemptError::fatal(format!("state journal: {e}"))),
            None => Ok(()),
        }
    }

    /// Appends what `op` writes; the returned future is ready once it is durable. Handed to the
    /// writer at the call, not when first polled: the caller can do other work while the writer
    /// appends and syncs.
    pub(super) fn record<F>(&self, op: F) -> impl Future<Output = Result<(), AttemptError>> + use<F>
    where
        F: FnOnce(&mut Journal<Store>) -> crate::state::Result<()> + Send + 'static,
    {
        self.send(op, false, false)
    }

    /// [`record`](Self::record) of each of `ops`, in turn: each is synced and its future ready
    /// before the writer takes the next (or anything sent after them), rather than all in one
    /// sync. A long list in parts is durable part by part while the writer writes the rest.
    pub(super) fn record_in_turn<F, I>(
        &self,
        ops: I,
    ) -> Vec<impl Future<Output = Result<(), AttemptError>> + use<F, I>>
    where
        F: FnOnce(&mut Journal<Store>) -> crate::state::Result<()> + Send + 'static,
        I: IntoIterator<Item = F>,
    {
        ops.into_iter()
            .map(|op| self.send(op, false, true))
            .collect()
    }

    /// [`record`](Self::record), then (with `compact`) a compaction if the store wants one.
    fn send<F>(
        &self,
        op: F,
        compact: bool,
        in_turn: bool,
    ) -> impl Future<Output = Result<(), AttemptError>> + use<F>
    where
        F: FnOnce(&mut Journal<Store>) -> crate::state::Result<()> + Send + 'static,
    {
        let fatal = |e: String| AttemptError::fatal(format!("state journal: {e}"));
        let sent = match (self.lost(), &self.0.writer) {
            (Err(e), _) => Err(Err(e)),
            (Ok(()), None) => Err(op(&mut self.lock()).map_err(|e| fatal(with_causes(&e)))),
            (Ok(()), Some(writer)) => {
                let (ack, done) = tokio::sync::oneshot::channel();
                let req = Req {
                    op: Op::Write(Box::new(op)),
                    ack: Some(ack),
                    compact,
                    in_turn,
                };
                match writer.queue.push(req) {
                    Ok(()) => Ok(done),
                    Err(()) => Err(Err(fatal("the journal writer stopped".into()))),
                }
            }
        };
        async move {
            match sent {
                Ok(done) => done
                    .await
                    .unwrap_or_else(|_| Err("the journal writer stopped".into()))
                    .map_err(fatal),
                Err(now) => now,
            }
        }
    }

    /// Appends a completion without waiting until it is durable: its intent is durable already
    /// (see the module's comment). An error fails every later [`record`](Self::record) and
    /// [`flush`](Self::flush).
    pub(super) fn record_later(&self, later: Later) {
        let failed = match &self.0.writer {
            Some(writer) => writer
                .queue
                .push(Req {
                    op: Op::Later(later),
                    ack: None,
                    compact: false,
                    in_turn: false,
                })
                .err()
                .map(|()| "the journal writer stopped".to_owned()),
            None => later.write(&mut self.lock()).err().map(|e| with_causes(&e)),
        };
        if let Some(e) = failed {
            self.0.lost.lock().get_or_insert(e);
        }
    }

    /// Returns once everything recorded so far is durable, or with the first error of a record
    /// nobody waited for; then lets the writer compact the store if it wants to (see `Req`).
    pub(super) async fn flush(&self) -> Result<(), AttemptError> {
        if self.0.writer.is_some() {
            self.send(|_| Ok(()), true, false).await?;
        }
        self.lost()
    }

    /// The journal, for reading (and for writes outside a walk).
    pub(super) fn lock(&self) -> MutexGuard<'_, Journal<Store>> {
        self.0.shared.lock()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use serde_json::json;

    use super::*;
    use crate::state::{EntryStatus, MemoryStore, Record, State};

    /// A durable store (so records go through the writer thread) whose appends and loads fail
    /// once the test says so, as a full disk or a database that went away would.
    struct Flaky {
        inner: MemoryStore,
        failing: Arc<AtomicBool>,
        /// Whether the store asks for compaction whenever it can.
        wants_compaction: bool,
        /// The store calls that append, sync or compact, in order.
        calls: Calls,
    }

    impl Flaky {
        /// Logs an append as `call`, or fails it as a full disk would.
        fn written(&self, call: &'static str) -> crate::state::Result<()> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(crate::state::Error::Io {
                    action: "append to",
                    path: "journal.jsonl".into(),
                    source: std::io::Error::other("no space left on device"),
                });
            }
            self.calls.lock().push(call);
            Ok(())
        }
    }

    impl StateStore for Flaky {
        fn load(&mut self) -> crate::state::Result<State> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(crate::state::Error::Store {
                    location: "the test's store".into(),
                    message: "unreachable".into(),
                });
            }
            self.inner.load()
        }
        fn append(&mut self, records: &[Record]) -> crate::state::Result<()> {
            self.written("append")?;
            self.inner.append(records)
        }
        fn append_unsynced(&mut self, records: &[Record]) -> crate::state::Result<()> {
            self.written("append_unsynced")?;
            self.inner.append_unsynced(records)
        }
        fn sync(&mut self) -> crate::state::Result<()> {
            self.calls.lock().push("sync");
            Ok(())
        }
        fn compact(&mut self, state: &State) -> crate::state::Result<()> {
            self.calls.lock().push("compact");
            self.inner.compact(state)
        }
        fn wants_compaction(&self, _: &State) -> bool {
            self.wants_compaction
        }
    }

    type Calls = Arc<Mutex<Vec<&'static str>>>;

    /// A handle on a `Flaky` store that wants compaction whenever it can: the switch that makes
    /// it fail, and its calls.
    fn handle() -> (JournalHandle, Arc<AtomicBool>, Calls) {
        handle_with(true)
    }

    fn handle_with(wants_compaction: bool) -> (JournalHandle, Arc<AtomicBool>, Calls) {
        let failing = Arc::new(AtomicBool::new(false));
        let calls = Calls::default();
        let store = Flaky {
            inner: MemoryStore::new(),
            failing: failing.clone(),
            wants_compaction,
            calls: calls.clone(),
        };
        let journal = Journal::open(Box::new(store) as Store).unwrap();
        (JournalHandle::new(journal), failing, calls)
    }

    /// How many compactions the store was asked for.
    fn compactions(calls: &Calls) -> usize {
        calls.lock().iter().filter(|&&c| c == "compact").count()
    }

    /// An intent, then a completion in a batch of its own (the writer has taken it when the
    /// state shows it), then the walk's flush: the store calls they made.
    async fn intent_completion_flush(wants_compaction: bool) -> Vec<&'static str> {
        let (j, _, calls) = handle_with(wants_compaction);
        j.record(|j| j.intent("a", "test.Net", json!({})))
            .await
            .unwrap();
        j.record_later(Later::Done("a".into(), json!({}).into()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while j.lock().state().get("a").unwrap().status != EntryStatus::Created {
            assert!(
                std::time::Instant::now() < deadline,
                "the completion is written"
            );
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        j.flush().await.unwrap();
        calls.lock().clone()
    }

    #[tokio::test]
    async fn a_record_is_written_before_its_future_is_polled() {
        let (j, _, _) = handle();
        let durable = j.record(|j| j.intent("a", "test.Net", json!({})));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while j.lock().state().get("a").is_none() {
            assert!(
                std::time::Instant::now() < deadline,
                "the intent is written"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        durable.await.unwrap();
    }

    #[tokio::test]
    async fn records_in_turn_are_synced_one_by_one() {
        let (j, _, calls) = handle_with(false);
        let parts = j.record_in_turn(
            ["a", "b", "c"]
                .map(|k| move |j: &mut Journal<Store>| j.intent(k, "test.Net", json!({}))),
        );
        for part in parts {
            part.await.unwrap();
        }
        // One append (and sync) each, not one for all three.
        assert_eq!(*calls.lock(), ["append", "append", "append"]);
        assert_eq!(j.lock().state().len(), 3);
    }

    #[tokio::test]
    async fn completions_alone_are_written_unsynced_and_made_durable_by_the_flush() {
        // The flush appends nothing, yet makes the completion durable: by a sync, or by the
        // compaction the store wants, whose snapshot holds it (no sync of the journal first).
        assert_eq!(
            intent_completion_flush(false).await,
            ["append", "append_unsynced", "sync"]
        );
        assert_eq!(
            intent_completion_flush(true).await,
            ["append", "append_unsynced", "compact"]
        );
    }

    #[tokio::test]
    async fn the_writer_compacts_when_a_walk_is_flushed_not_during_it() {
        let (j, _, calls) = handle();
        for k in ["a", "b", "c"] {
            j.record(move |j| j.intent(k, "test.Net", json!({})))
                .await
                .unwrap();
            j.record_later(Later::Done(k.into(), json!({}).into()));
        }
        j.record(|_| Ok(())).await.unwrap();
        assert_eq!(compactions(&calls), 0);
        j.flush().await.unwrap();
        assert_eq!(compactions(&calls), 1);
    }

    #[tokio::test]
    async fn a_completion_not_waited_for_is_written_before_the_next_record() {
        let (j, _, _) = handle();
        j.record(|j| j.intent("a", "test.Net", json!({})))
            .await
            .unwrap();
        j.record_later(Later::Done(
            "a".into(),
            json!({"outputs": {"id": "n-1"}}).into(),
        ));
        // What a dependent step waits for before its cloud call: its own intent, written after.
        j.record(|j| j.intent("b", "test.Net", json!({})))
            .await
            .unwrap();
        let state = j.lock().state().clone();
        assert_eq!(state.get("a").unwrap().status, EntryStatus::Created);
        assert_eq!(state.get("b").unwrap().status, EntryStatus::Creating);
        j.flush().await.unwrap();
    }

    #[tokio::test]
    async fn a_lost_completion_fails_the_flush_and_every_later_record() {
        let (j, failing, _) = handle();
        j.record(|j| j.intent("a", "test.Net", json!({})))
            .await
            .unwrap();
        failing.store(true, Ordering::SeqCst);
        j.record_later(Later::Done("a".into(), json!({}).into()));
        let e = j.flush().await.unwrap_err();
        assert!(
            e.message.contains("no space left on device"),
            "{}",
            e.message
        );
        // The disk is back, but a run that lost a completion does not go on as if it had not.
        failing.store(false, Ordering::SeqCst);
        let e = j
            .record(|j| j.intent("b", "test.Net", json!({})))
            .await
            .unwrap_err();
        assert!(
            e.message.contains("no space left on device"),
            "{}",
            e.message
        );
        assert!(j.flush().await.is_err());
    }

    #[tokio::test]
    async fn a_journal_that_stopped_writing_answers_every_record() {
        let (j, failing, _) = handle();
        failing.store(true, Ordering::SeqCst);
        assert!(
            j.record(|j| j.intent("a", "test.Net", json!({})))
                .await
                .is_err()
        );
        // The store is back, but the batch it lost could not be read back: the journal writes
        // nothing more, and says so to every record rather than leaving it waiting.
        failing.store(false, Ordering::SeqCst);
        let b = j.record(|j| j.intent("b", "test.Net", json!({})));
        let e = tokio::time::timeout(std::time::Duration::from_secs(10), b)
            .await
            .expect("the record is answered")
            .unwrap_err();
        assert!(
            e.message.contains("nothing more is written"),
            "{}",
            e.message
        );
        assert!(j.lock().state().get("b").is_none());
    }
}
