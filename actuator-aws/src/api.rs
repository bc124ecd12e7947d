//! The EC2 call layer: error classification, retries with backoff to a deadline, per-API token
//! buckets, call statistics, and a batcher that turns many concurrent look-ups into one request.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use futures::future::BoxFuture;
use tokio::sync::oneshot;
use tokio::time::Instant;

use actuator::engine::limits::{Gcra, TokenBucket};
use actuator::engine::retry::{Jitter, RetryPolicy};
use actuator::provision::AttemptError;

/// Error codes EC2 (and the SDK's other services) use for throttling.
const THROTTLE_CODES: &[&str] = &[
    "RequestLimitExceeded",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "EC2ThrottledException",
    "SlowDown",
    "PriorRequestNotComplete",
    "BandwidthLimitExceeded",
];

/// Error codes for failures on the server side that a later attempt may not meet.
const TRANSIENT_CODES: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "ServiceUnavailable",
    "Unavailable",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Error codes meaning "something still uses this" while deleting, or "not ready yet" while
/// wiring resources together; they clear once the other side catches up.
const DEPENDENCY_CODES: &[&str] = &[
    "DependencyViolation",
    "InvalidNetworkInterface.InUse",
    "InvalidIPAddress.InUse",
    "IncorrectState",
    "IncorrectInstanceState",
    "InvalidInstanceID",
    "Gateway.NotAttached",
    "ResourceInUse",
];

/// What kind of failure an EC2 call had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrKind {
    /// EC2 throttled the request: nothing happened; try again later.
    Throttled,
    /// A timeout, a broken connection or a 5xx: the call may or may not have taken effect.
    Transient,
    /// EC2 answered with an error code.
    Service,
    /// The request could not be built (a bug or a bad argument): nothing was sent.
    Local,
}

/// An EC2 call's failure with its code, classified.
#[derive(Clone, Debug)]
pub(crate) struct AwsError {
    pub op: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub status: Option<u16>,
    pub kind: ErrKind,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, self.status) {
            (Some(c), _) => write!(f, "{}: {c}: {}", self.op, self.message),
            (None, Some(s)) => write!(f, "{}: HTTP {s}: {}", self.op, self.message),
            (None, None) => write!(f, "{}: {}", self.op, self.message),
        }
    }
}

impl AwsError {
    pub fn from_sdk<E>(op: &'static str, e: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let status = e.raw_response().map(|r| r.status().as_u16());
        let code = e.code().map(str::to_owned);
        let kind = match &e {
            SdkError::ConstructionFailure(_) => ErrKind::Local,
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => ErrKind::Transient,
            SdkError::ServiceError(_) => match code.as_deref() {
                Some(c) if THROTTLE_CODES.contains(&c) => ErrKind::Throttled,
                Some(c) if TRANSIENT_CODES.contains(&c) => ErrKind::Transient,
                _ if status.is_some_and(|s| s >= 500) => ErrKind::Transient,
                _ => ErrKind::Service,
            },
            _ => ErrKind::Transient,
        };
        let message = match e.message() {
            Some(m) => m.to_owned(),
            None => aws_sdk_ec2::error::DisplayErrorContext(&e).to_string(),
        };
        AwsError {
            op,
            code,
            message,
            status,
            kind,
        }
    }

    /// A failure found by this proxy rather than returned by EC2.
    pub fn local(op: &'static str, message: impl Into<String>) -> Self {
        AwsError {
            op,
            code: None,
            message: message.into(),
            status: None,
            kind: ErrKind::Local,
        }
    }

    /// The error code, or "" if there is none.
    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    /// Whether the code is exactly `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code() == code
    }

    /// `Invalid….NotFound` (and the few older spellings): the thing is not there — yet, or any
    /// more.
    pub fn is_not_found(&self) -> bool {
        let c = self.code();
        // An image id is never one this system just created: a wrong one is not retried.
        (c.ends_with(".NotFound") && !c.starts_with("InvalidAMIID"))
            || (c.ends_with(".Malformed") && c.starts_with("InvalidInstanceID"))
    }

    fn is_dependency(&self) -> bool {
        DEPENDENCY_CODES.contains(&self.code())
    }
}

/// How long EC2 calls are retried, and how fast.
///
/// Throttling, 5xx answers and lost connections are always retried; a policy adds the codes that
/// clear with time in its context (`NotFound` right after a create, `DependencyViolation` while
/// tearing down).
///
/// ```
/// use std::time::Duration;
/// use actuator_aws::RetrySettings;
/// let quick = RetrySettings { deadline: Duration::from_secs(30), ..RetrySettings::default() };
/// assert!(quick.not_found_deadline <= RetrySettings::default().deadline);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySettings {
    /// No attempt starts later than this after the first (throttling, 5xx, dependencies).
    pub deadline: Duration,
    /// How long a `NotFound` for something just created (by this node or one it depends on) is
    /// taken for eventual consistency before it counts as real.
    pub not_found_deadline: Duration,
    /// The delay after the first failed attempt; it doubles after each further one.
    pub base_delay: Duration,
    /// The cap on one delay.
    pub max_delay: Duration,
}

impl Default for RetrySettings {
    /// Five minutes overall, one minute for `NotFound`, 100 ms doubling up to 10 s (full jitter).
    fn default() -> Self {
        RetrySettings {
            deadline: Duration::from_secs(300),
            not_found_deadline: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetrySettings {
    /// The engine's backoff with these delays: attempts and deadlines are counted by [`retry`],
    /// which knows which deadline a failure falls under.
    fn backoff(&self) -> RetryPolicy {
        RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: self.base_delay,
            max_delay: self.max_delay,
            deadline: None,
            jitter: Jitter::Full,
        }
    }
}

/// Which failures a call site retries beyond throttling and transient ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Only throttling and transient failures.
    Basic,
    /// Also `NotFound` (eventual consistency after a create), up to `not_found_deadline`.
    AfterCreate,
    /// Also "still in use" codes (teardown order, attachments catching up), and `NotFound`
    /// up to `not_found_deadline`.
    Wiring,
}

/// Per-API-family token buckets, as EC2 throttles: one bucket per family per region.
///
/// ```
/// use actuator_aws::ApiLimits;
/// let l = ApiLimits::default();
/// assert_eq!((l.run_instances.burst, l.run_instances.per_second), (5, 2.0));
/// assert!(ApiLimits::unlimited().describe.per_second > 1e6);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ApiLimits {
    /// `RunInstances`.
    pub run_instances: TokenBucket,
    /// Every other call that changes something (create, delete, attach, tag …).
    pub mutating: TokenBucket,
    /// `Describe*` calls.
    pub describe: TokenBucket,
}

impl Default for ApiLimits {
    /// RunInstances 5 at once then 2 per second; mutating calls 50 then 5 per second; describes
    /// 100 then 20 per second. These are at or below EC2's published per-account defaults, so
    /// a large model slows down instead of being throttled.
    fn default() -> Self {
        ApiLimits {
            run_instances: TokenBucket {
                burst: 5,
                per_second: 2.0,
            },
            mutating: TokenBucket {
                burst: 50,
                per_second: 5.0,
            },
            describe: TokenBucket {
                burst: 100,
                per_second: 20.0,
            },
        }
    }
}

impl ApiLimits {
    /// No client-side limits (a local emulator such as moto, or an account with raised limits).
    pub fn unlimited() -> Self {
        let b = TokenBucket {
            burst: 1_000_000,
            per_second: 1e9,
        };
        ApiLimits {
            run_instances: b,
            mutating: b,
            describe: b,
        }
    }
}

/// The API family a call belongs to (which bucket it draws from).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    RunInstances,
    Mutating,
    Describe,
}

/// The three buckets of one region: the engine's token buckets, each behind a lock, which a call
/// [reserves](Gcra::reserve) a slot of and sleeps until.
#[derive(Debug)]
pub(crate) struct Buckets {
    run: Mutex<Gcra>,
    mutating: Mutex<Gcra>,
    describe: Mutex<Gcra>,
}

impl Buckets {
    /// Full buckets.
    ///
    /// # Errors
    /// A bucket that could never admit a call, named as `ApiLimits` names it.
    pub fn new(l: &ApiLimits) -> Result<Self, String> {
        let now = Instant::now();
        let start = |b, field| {
            Gcra::new(b, now)
                .map(Mutex::new)
                .map_err(|e| format!("ApiLimits::{field}: {e} (it is {b:?})"))
        };
        Ok(Buckets {
            run: start(l.run_instances, "run_instances")?,
            mutating: start(l.mutating, "mutating")?,
            describe: start(l.describe, "describe")?,
        })
    }

    /// Waits for a token of `api`'s bucket; returns how long it waited.
    pub async fn acquire(&self, api: Api) -> Duration {
        let bucket = match api {
            Api::RunInstances => &self.run,
            Api::Mutating => &self.mutating,
            Api::Describe => &self.describe,
        };
        let now = Instant::now();
        let start = bucket.lock().reserve(now);
        if start > now {
            tokio::time::sleep_until(start).await;
        }
        start - now
    }
}

/// What the proxy's EC2 calls did, for tests, benchmarks and progress reports.
///
/// ```
/// use std::time::Duration;
/// use actuator_aws::CallStats;
/// let s = CallStats {
///     latencies: vec![Duration::from_millis(3), Duration::from_millis(9), Duration::from_millis(4)],
///     ..CallStats::default()
/// };
/// assert_eq!(s.median_latency(), Some(Duration::from_millis(4)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallStats {
    /// Requests sent, by operation (`CreateVpc` …), retries included.
    pub calls: BTreeMap<String, u64>,
    /// Failed requests that were tried again, by error code (`RequestLimitExceeded` …).
    pub retried: BTreeMap<String, u64>,
    /// Time spent waiting for this proxy's own token buckets.
    pub throttle_wait: Duration,
    /// Round-trip time of each request, in order (for medians).
    pub latencies: Vec<Duration>,
    /// Round trips made for each resource (by model path) in its last provision or teardown,
    /// one after another (a batched look-up counts once for every resource it serves).
    pub round_trips: BTreeMap<String, u64>,
}

impl CallStats {
    /// All requests sent.
    pub fn total(&self) -> u64 {
        self.calls.values().sum()
    }
    /// All retries.
    pub fn total_retried(&self) -> u64 {
        self.retried.values().sum()
    }
    /// The median request round trip.
    pub fn median_latency(&self) -> Option<Duration> {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(l.len() / 2).copied()
    }
}

/// Shared, lock-protected statistics.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    inner: Mutex<CallStats>,
    throttle_nanos: AtomicU64,
}

impl Stats {
    pub fn call(&self, op: &str, took: Duration) {
        let mut g = self.inner.lock();
        *g.calls.entry(op.to_owned()).or_default() += 1;
        // Bounded: a long-lived proxy keeps the first 100,000 round trips.
        if g.latencies.len() < 100_000 {
            g.latencies.push(took);
        }
    }
    pub fn trips(&self, path: &str, n: u64) {
        let mut g = self.inner.lock();
        g.round_trips.insert(path.to_owned(), n);
    }
    pub fn retried(&self, code: &str) {
        let mut g = self.inner.lock();
        *g.retried.entry(code.to_owned()).or_default() += 1;
    }
    pub fn waited(&self, d: Duration) {
        self.throttle_nanos
            .fetch_add(d.as_nanos() as u64, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> CallStats {
        let mut s = self.inner.lock().clone();
        s.throttle_wait = Duration::from_nanos(self.throttle_nanos.load(Ordering::Relaxed));
        s
    }
    pub fn reset(&self) {
        *self.inner.lock() = CallStats::default();
        self.throttle_nanos.store(0, Ordering::Relaxed);
    }
}

/// Runs `f` until it succeeds, retrying what `policy` allows with the engine's exponential backoff
/// (full jitter) until the deadline; anything else fails at once. `what` names the step in errors.
pub(crate) async fn retry<T, F, Fut>(
    settings: &RetrySettings,
    stats: &Stats,
    policy: Policy,
    what: &str,
    mut f: F,
) -> Result<T, AttemptError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AwsError>>,
{
    let backoff = settings.backoff();
    let started = Instant::now();
    let mut attempt: u32 = 0;
    loop {
        attempt += 1;
        let e = match f().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let limit = match e.kind {
            ErrKind::Throttled | ErrKind::Transient => Some(settings.deadline),
            ErrKind::Local => None,
            ErrKind::Service => match policy {
                Policy::Basic => None,
                Policy::AfterCreate if e.is_not_found() => Some(settings.not_found_deadline),
                Policy::AfterCreate => None,
                Policy::Wiring if e.is_not_found() => Some(settings.not_found_deadline),
                Policy::Wiring if e.is_dependency() => Some(settings.deadline),
                Policy::Wiring => None,
            },
        };
        let Some(limit) = limit else {
            return Err(AttemptError::fatal(format!("{what}: {e}")));
        };
        let delay = backoff.delay(attempt, &mut rand::rng());
        if started.elapsed() + delay > limit {
            let retryable = matches!(e.kind, ErrKind::Throttled | ErrKind::Transient);
            let msg = format!(
                "{what}: gave up after {attempt} attempts in {:.1?}: {e}",
                started.elapsed()
            );
            return Err(if retryable {
                AttemptError::retryable(msg)
            } else {
                AttemptError::fatal(msg)
            });
        }
        stats.retried(e.code.as_deref().unwrap_or(match e.kind {
            ErrKind::Transient => "transient",
            _ => "unknown",
        }));
        tracing::debug!(step = what, attempt, error = %e, delay_ms = delay.as_millis() as u64, "retrying EC2 call");
        tokio::time::sleep(delay).await;
    }
}

type Waiter<V> = oneshot::Sender<Result<Option<V>, AwsError>>;

/// Keys waiting for the next request, and whether a task is sending requests.
struct Queue<K, V> {
    waiting: Vec<(K, Waiter<V>)>,
    leading: bool,
}
/// The request a batcher sends for a set of keys; keys missing from the answer get `None`.
pub(crate) type Fetch<K, V> =
    Arc<dyn Fn(Vec<K>) -> BoxFuture<'static, Result<HashMap<K, V>, AwsError>> + Send + Sync>;

/// Turns concurrent single look-ups into batched requests: while one request is in flight, new
/// keys queue up, and the next request takes all of them (up to `max`). One `DescribeInstances`
/// then serves every instance waiting to reach `running`.
pub(crate) struct Batcher<K, V> {
    state: Mutex<Queue<K, V>>,
    max: usize,
    fetch: Fetch<K, V>,
}

impl<K, V> Batcher<K, V>
where
    K: Clone + Eq + Hash + Send + 'static,
    V: Clone + Send + 'static,
{
    pub fn new(max: usize, fetch: Fetch<K, V>) -> Arc<Self> {
        Arc::new(Batcher {
            state: Mutex::new(Queue {
                waiting: Vec::new(),
                leading: false,
            }),
            max: max.max(1),
            fetch,
        })
    }

    /// Looks `key` up in the next batch.
    pub async fn get(self: &Arc<Self>, key: K) -> Result<Option<V>, AwsError> {
        let (tx, rx) = oneshot::channel();
        let lead = {
            let mut st = self.state.lock();
            st.waiting.push((key, tx));
            !std::mem::replace(&mut st.leading, true)
        };
        if lead {
            let me = self.clone();
            tokio::spawn(async move { me.drain().await });
        }
        rx.await
            .unwrap_or_else(|_| Err(AwsError::local("batch", "the batch was dropped")))
    }

    async fn drain(self: Arc<Self>) {
        loop {
            let batch: Vec<(K, Waiter<V>)> = {
                let mut st = self.state.lock();
                if st.waiting.is_empty() {
                    st.leading = false;
                    return;
                }
                let n = st.waiting.len().min(self.max);
                st.waiting.drain(..n).collect()
            };
            let mut keys: Vec<K> = Vec::with_capacity(batch.len());
            for (k, _) in &batch {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
            let res = (self.fetch)(keys).await;
            for (k, tx) in batch {
                let _ = tx.send(match &res {
                    Ok(m) => Ok(m.get(&k).cloned()),
                    Err(e) => Err(e.clone()),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_lookups_share_requests() {
        let requests = Arc::new(AtomicUsize::new(0));
        let r = requests.clone();
        let fetch: Fetch<u32, u32> = Arc::new(move |keys: Vec<u32>| {
            r.fetch_add(1, Ordering::SeqCst);
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(keys
                    .into_iter()
                    .filter(|k| k % 7 != 0)
                    .map(|k| (k, k * 2))
                    .collect())
            }
            .boxed()
        });
        let b = Batcher::new(100, fetch);
        let got = futures::future::join_all((1..=50).map(|k| {
            let b = b.clone();
            async move { b.get(k).await.unwrap() }
        }))
        .await;
        assert_eq!(got[0], Some(2));
        assert_eq!(got[6], None, "absent keys are None");
        let n = requests.load(Ordering::SeqCst);
        assert!(n <= 3, "50 look-ups took {n} requests");
    }

    #[tokio::test(start_paused = true)]
    async fn buckets_allow_a_burst_then_space_calls() {
        let limits = ApiLimits {
            describe: TokenBucket {
                burst: 2,
                per_second: 10.0,
            },
            ..ApiLimits::unlimited()
        };
        let b = Buckets::new(&limits).unwrap();
        let t0 = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..4 {
            b.acquire(Api::Describe).await;
            starts.push((Instant::now() - t0).as_millis());
        }
        assert_eq!(starts, [0, 0, 100, 200]);
        // Each family has its own bucket.
        b.acquire(Api::Mutating).await;
        assert_eq!((Instant::now() - t0).as_millis(), 200);
    }

    #[test]
    fn a_bucket_that_admits_nothing_is_named() {
        let limits = ApiLimits {
            mutating: TokenBucket {
                burst: 0,
                per_second: 5.0,
            },
            ..ApiLimits::default()
        };
        let e = Buckets::new(&limits).unwrap_err();
        assert!(
            e.starts_with("ApiLimits::mutating: burst must be at least 1"),
            "{e}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_throttling_until_success_and_stops_on_fatal() {
        let stats = Stats::default();
        let s = RetrySettings::default();
        let mut n = 0;
        let v = retry(&s, &stats, Policy::Basic, "step", || {
            n += 1;
            let fail = n < 4;
            async move {
                if fail {
                    Err(AwsError {
                        op: "RunInstances",
                        code: Some("RequestLimitExceeded".into()),
                        message: "Request limit exceeded.".into(),
                        status: Some(503),
                        kind: ErrKind::Throttled,
                    })
                } else {
                    Ok(7)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((v, n), (7, 4));
        assert_eq!(stats.snapshot().total_retried(), 3);
        let e = retry(&s, &stats, Policy::Basic, "step", || async {
            Err::<(), _>(AwsError {
                op: "CreateVpc",
                code: Some("InvalidVpcRange".into()),
                message: "bad".into(),
                status: Some(400),
                kind: ErrKind::Service,
            })
        })
        .await
        .unwrap_err();
        assert!(!e.retryable);
        assert_eq!(e.message, "step: CreateVpc: InvalidVpcRange: bad");
    }

    #[tokio::test(start_paused = true)]
    async fn not_found_is_retried_only_after_create_and_only_to_its_deadline() {
        let stats = Stats::default();
        let s = RetrySettings::default();
        let nf = || AwsError {
            op: "AttachInternetGateway",
            code: Some("InvalidInternetGatewayID.NotFound".into()),
            message: "no".into(),
            status: Some(400),
            kind: ErrKind::Service,
        };
        let t0 = Instant::now();
        let e = retry(&s, &stats, Policy::AfterCreate, "attach", || async {
            Err::<(), _>(nf())
        })
        .await
        .unwrap_err();
        assert!(e.message.contains("gave up"), "{}", e.message);
        assert!(t0.elapsed() <= s.not_found_deadline);
        let e = retry(&s, &stats, Policy::Basic, "attach", || async {
            Err::<(), _>(nf())
        })
        .await
        .unwrap_err();
        assert!(!e.message.contains("gave up"));
    }
}
