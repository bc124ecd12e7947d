//! Group commit for the state journal: every walk's workers hand their records to one writer
//! thread, which appends everything that arrived together in one write and one sync, then wakes
//! each worker. A record is still durable before its worker goes on (an intent before its cloud
//! call), but a thousand concurrent workers share syncs instead of queueing for them.

use std::sync::Arc;
use std::sync::mpsc;

use parking_lot::{Mutex, MutexGuard};

use crate::engine::AttemptError;
use crate::state::{Journal, StateStore};

pub(super) type Store = Box<dyn StateStore + Send>;
type JournalWrite = Box<dyn FnOnce(&mut Journal<Store>) -> crate::state::Result<()> + Send>;

struct Req {
    op: JournalWrite,
    ack: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The orchestration's journal: reads lock it, writes go through the group-commit thread (or,
/// for a store without durability, straight to the journal).
#[derive(Clone)]
pub(super) struct JournalHandle {
    shared: Arc<Mutex<Journal<Store>>>,
    writer: Option<Arc<Writer>>,
}

/// The writer thread; the last handle's drop stops it and waits, so the store (and its lock file)
/// is released when the orchestration is dropped.
struct Writer {
    tx: Mutex<Option<mpsc::Sender<Req>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        drop(self.tx.lock().take());
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }
}

/// Most records one sync covers; bounds the latency of the first record of a batch.
const MAX_BATCH: usize = 4096;

impl JournalHandle {
    pub(super) fn new(journal: Journal<Store>) -> Self {
        let durable = journal.store().is_durable();
        let shared = Arc::new(Mutex::new(journal));
        if !durable {
            return JournalHandle {
                shared,
                writer: None,
            };
        }
        let (tx, rx) = mpsc::channel::<Req>();
        let writer = shared.clone();
        // A plain thread, not a runtime task: it outlives any one runtime (tests and the CLI start
        // several) and blocks in syncs without holding up async workers. It ends with the last
        // handle.
        let thread = std::thread::Builder::new()
            .name("actuator-journal".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut reqs = vec![first];
                    while reqs.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(r) => reqs.push(r),
                            Err(_) => break,
                        }
                    }
                    let (ops, acks): (Vec<JournalWrite>, Vec<_>) =
                        reqs.into_iter().map(|r| (r.op, r.ack)).unzip();
                    let outcome = {
                        let mut j = writer.lock();
                        j.batch(|j| {
                            ops.into_iter()
                                .map(|op| op(j).map_err(|e| e.to_string()))
                                .collect::<Vec<_>>()
                        })
                    };
                    match outcome {
                        Ok(results) => {
                            for (ack, r) in acks.into_iter().zip(results) {
                                let _ = ack.send(r);
                            }
                        }
                        Err(e) => {
                            for ack in acks {
                                let _ = ack.send(Err(e.to_string()));
                            }
                        }
                    }
                }
            })
            .expect("spawn the journal writer thread");
        JournalHandle {
            shared,
            writer: Some(Arc::new(Writer {
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            })),
        }
    }

    /// Appends what `op` writes; returns once it is durable.
    pub(super) async fn record(
        &self,
        op: impl FnOnce(&mut Journal<Store>) -> crate::state::Result<()> + Send + 'static,
    ) -> Result<(), AttemptError> {
        let Some(writer) = &self.writer else {
            return op(&mut self.lock())
                .map_err(|e| AttemptError::fatal(format!("state journal: {e}")));
        };
        let (ack, done) = tokio::sync::oneshot::channel();
        let sent = match &*writer.tx.lock() {
            Some(tx) => tx
                .send(Req {
                    op: Box::new(op),
                    ack,
                })
                .map_err(drop),
            None => Err(()),
        };
        let result = match sent {
            Ok(()) => done
                .await
                .unwrap_or_else(|_| Err("the journal writer stopped".into())),
            Err(_) => Err("the journal writer stopped".into()),
        };
        result.map_err(|e| AttemptError::fatal(format!("state journal: {e}")))
    }

    /// The journal, for reading (and for writes outside a walk).
    pub(super) fn lock(&self) -> MutexGuard<'_, Journal<Store>> {
        self.shared.lock()
    }
}
