//! Capturing every log line of a run, the cloud SDKs' included, for the suites that check that
//! no secret reaches the logs.

use parking_lot::Mutex;
use std::future::Future;
use std::sync::Arc;

/// Runs `run` to completion on a single-threaded runtime (so the subscriber set for this thread
/// sees every log line of it) and returns its result with every line logged, at every level.
///
/// `tracing` caches whether a log line is wanted once per call site for the whole process, and
/// while at most one subscriber exists it asks the *registering thread's* subscriber. A sibling
/// test without a subscriber that reaches an SDK's call site first would then switch that line
/// off for this capture too, and the test would see no SDK logs at all (it happened in CI). An
/// idle second subscriber, held for the capture, makes `tracing` ask every live subscriber
/// instead, and this one wants everything.
///
/// ```
/// let (answer, logs) = actuator_tests::logs::capture(async {
///     tracing::info!("hello");
///     42
/// });
/// assert_eq!(answer, 42);
/// assert!(logs.contains("hello"));
/// ```
pub fn capture<R>(run: impl Future<Output = R>) -> (R, String) {
    let _anchor = tracing::Dispatch::new(tracing_subscriber::registry());
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let out = tracing::subscriber::with_default(subscriber, || {
        // Call sites registered before this point are re-asked now.
        tracing::callsite::rebuild_interest_cache();
        single.block_on(run)
    });
    (out, sink.text())
}

/// A `tracing` writer into a shared buffer (clones write to the same one).
#[derive(Clone, Default)]
pub struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
