//! The sync face of an async client: each store owns a small private runtime (one worker
//! thread) that runs its queries and its lease renewals. A [`StateStore`] method hands its
//! query to that runtime and waits for the answer — on a tokio worker thread through
//! `block_in_place`, so the caller's runtime moves its other tasks elsewhere instead of
//! stalling behind the database.
//!
//! [`StateStore`]: actuator::state::StateStore

use std::future::Future;
use std::time::Duration;

use tokio::runtime::{Handle, Runtime, RuntimeFlavor};

/// A private runtime for one store.
pub(crate) struct Bridge {
    rt: Option<Runtime>,
}

impl Bridge {
    pub(crate) fn new() -> Result<Bridge, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("actuator-postgres")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the PostgreSQL client's runtime: {e}"))?;
        Ok(Bridge { rt: Some(rt) })
    }

    pub(crate) fn handle(&self) -> &Handle {
        self.rt.as_ref().expect("runtime lives until drop").handle()
    }

    /// Runs `fut` on the private runtime and waits for it.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> T {
        self.run_for(None, fut)
            .expect("a wait without a limit ends with the answer")
    }

    /// Like [`run`](Self::run), giving up after `limit` (the future is then dropped).
    pub(crate) fn run_for<T: Send + 'static>(
        &self,
        limit: Option<Duration>,
        fut: impl Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let task = self.handle().spawn(async move {
            let _ = tx.send(fut.await);
        });
        let wait = || match limit {
            Some(d) => rx.recv_timeout(d).ok(),
            None => rx.recv().ok(),
        };
        let out = match Handle::try_current() {
            Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            // A plain thread (the journal's writer), or a current-thread runtime, which has no
            // other worker to hand its tasks to: the wait is the database's round trip.
            _ => wait(),
        };
        if out.is_none() {
            task.abort();
        }
        out
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Never blocks, so a store may be dropped inside a runtime too.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}
