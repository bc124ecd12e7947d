//! The call layer: one request on the Keystone session (the `openstack` crate's osauth session:
//! token, catalog, endpoint overrides), its answer classified, retries with the engine's backoff to
//! a deadline, `marker` pagination, a token renewed when a service rejects it, call statistics.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use osauth::Session;
use osauth::services::{COMPUTE, NETWORK};
use parking_lot::{Mutex, RwLock};
use reqwest::Method;
use serde_json::Value;
use tokio::time::Instant;

use actuator::engine::retry::{Jitter, RetryPolicy};
use actuator::provision::AttemptError;

/// The compute microversion every Nova call asks for: 2.52 allows tags in the create call, 2.57
/// drops file injection (`personality`), which nothing here uses.
const NOVA_MICROVERSION: &str = "compute 2.57";

/// An OpenStack service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Svc {
    Network,
    Compute,
}

/// What kind of failure a call had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrKind {
    /// A dropped connection, a timeout, a 5xx, a rate limit: the call may or may not have taken
    /// effect; a later one may succeed.
    Transient,
    /// HTTP 409 (not a quota): a resource in a state that does not allow it yet, in use, or a
    /// concurrent change.
    Conflict,
    /// A quota is exhausted: it does not clear by waiting.
    Quota,
    /// HTTP 404.
    NotFound,
    /// HTTP 401: the token was rejected (expired or revoked).
    Unauthorized,
    /// Anything else: a bad request, forbidden, a configuration error.
    Fatal,
}

/// A failed call, classified, with the service's own message.
#[derive(Clone, Debug)]
pub(crate) struct OsError {
    pub op: String,
    pub status: Option<u16>,
    /// Neutron's error type (`OverQuota`, `SecurityGroupRuleExists` …), if it gave one.
    pub code: Option<String>,
    pub message: String,
    pub kind: ErrKind,
    pub retry_after: Option<Duration>,
}

impl fmt::Display for OsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrKind::Quota {
            write!(f, "quota exceeded: ")?;
        }
        match self.status {
            Some(s) => write!(f, "{}: HTTP {s}: {}", self.op, self.message),
            None => write!(f, "{}: {}", self.op, self.message),
        }
    }
}

impl OsError {
    /// Whether the call got no answer at all: it may have taken effect, or still be running.
    pub fn unanswered(&self) -> bool {
        self.kind == ErrKind::Transient && self.status.is_none()
    }

    /// A failure found here rather than returned by the cloud.
    pub fn local(op: impl Into<String>, message: impl Into<String>) -> Self {
        OsError {
            op: op.into(),
            status: None,
            code: None,
            message: message.into(),
            kind: ErrKind::Fatal,
            retry_after: None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == ErrKind::NotFound
    }

    fn from_osauth(op: &str, e: &osauth::Error) -> Self {
        use osauth::ErrorKind as K;
        let kind = match e.kind() {
            K::ProtocolError | K::OperationTimedOut | K::InternalServerError => ErrKind::Transient,
            K::AuthenticationFailed => ErrKind::Unauthorized,
            _ => ErrKind::Fatal,
        };
        OsError {
            op: op.to_owned(),
            status: None,
            code: None,
            message: e.to_string(),
            kind,
            retry_after: None,
        }
    }

    /// Classifies an HTTP error answer.
    fn from_answer(op: &str, status: u16, retry_after: Option<Duration>, body: &str) -> Self {
        let (code, message) = error_text(body);
        let quota = message.to_ascii_lowercase().contains("quota exceeded")
            || code.as_deref() == Some("OverQuota");
        let kind = match status {
            _ if quota => ErrKind::Quota,
            401 => ErrKind::Unauthorized,
            404 => ErrKind::NotFound,
            409 => ErrKind::Conflict,
            // Nova's and Keystone's rate limits.
            413 | 429 => ErrKind::Transient,
            s if s >= 500 => ErrKind::Transient,
            _ => ErrKind::Fatal,
        };
        OsError {
            op: op.to_owned(),
            status: Some(status),
            code,
            message,
            kind,
            retry_after,
        }
    }

    /// As the engine's error: quotas and everything not worth retrying are fatal.
    pub fn into_attempt(self, what: &str) -> AttemptError {
        let retryable = matches!(self.kind, ErrKind::Transient | ErrKind::Conflict);
        let msg = format!("{what}: {self}");
        if retryable {
            AttemptError::retryable(msg)
        } else {
            AttemptError::fatal(msg)
        }
    }
}

/// The error type and message of an OpenStack error body: Neutron's
/// `{"NeutronError": {"type", "message"}}`, Nova's `{"itemNotFound": {"message"}}`, Keystone's
/// `{"error": {"message"}}`, or the text itself.
fn error_text(body: &str) -> (Option<String>, String) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        let t = body.trim();
        return (None, t.chars().take(500).collect());
    };
    if let Some(Value::String(m)) = map.get("message") {
        return (None, m.clone());
    }
    for v in map.values() {
        if let Some(m) = v.get("message").and_then(Value::as_str) {
            let code = v.get("type").and_then(Value::as_str).map(str::to_owned);
            return (code, m.to_owned());
        }
    }
    (None, body.chars().take(500).collect())
}

/// How long calls are retried, and how fast.
///
/// Dropped connections, 5xx answers, rate limits and 409 conflicts are retried; a call site adds
/// what clears with time in its context (`404` for something just created by a step it depends
/// on). Quotas are never retried: they are reported as such.
///
/// ```
/// use std::time::Duration;
/// use actuator_openstack::RetrySettings;
/// let quick = RetrySettings { deadline: Duration::from_secs(30), ..RetrySettings::default() };
/// assert!(quick.not_found_deadline <= RetrySettings::default().deadline);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySettings {
    /// No attempt starts later than this after the first.
    pub deadline: Duration,
    /// How long a `404` for something another step just made counts as not-there-yet.
    pub not_found_deadline: Duration,
    /// The delay after the first failed attempt; it doubles after each further one.
    pub base_delay: Duration,
    /// The cap on one delay.
    pub max_delay: Duration,
    /// How long one request may take before it counts as lost.
    pub request_timeout: Duration,
}

impl Default for RetrySettings {
    /// Five minutes overall, one minute for `404`, 100 ms doubling up to 10 s (full jitter),
    /// two minutes per request (a loaded Nova takes half a minute to accept a server).
    fn default() -> Self {
        RetrySettings {
            deadline: Duration::from_secs(300),
            not_found_deadline: Duration::from_secs(60),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl RetrySettings {
    /// The engine's backoff with these delays; [`Api::retry`] counts the deadlines.
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

/// Which failures a call site retries beyond transient ones and conflicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Transient failures and conflicts.
    Basic,
    /// Also `404` up to `not_found_deadline` (wiring to something just made).
    Wiring,
}

/// What the proxy's calls did, for tests, benchmarks and progress reports.
///
/// ```
/// use std::time::Duration;
/// use actuator_openstack::CallStats;
/// let s = CallStats {
///     latencies: vec![Duration::from_millis(30), Duration::from_millis(9), Duration::from_millis(12)],
///     ..CallStats::default()
/// };
/// assert_eq!(s.median_latency(), Some(Duration::from_millis(12)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallStats {
    /// Requests sent, by operation (`POST networks` …), retries included.
    pub calls: BTreeMap<String, u64>,
    /// Failed requests tried again, by reason (`HTTP 409`, `transient`, `token renewed` …).
    pub retried: BTreeMap<String, u64>,
    /// Round-trip time of each request, in order.
    pub latencies: Vec<Duration>,
    /// Tokens renewed after a service rejected the current one.
    pub token_renewals: u64,
    /// Requests made for each resource (by model path) in its last provision or teardown, one
    /// after another: its share of a critical path.
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
    /// The median round trip.
    pub fn median_latency(&self) -> Option<Duration> {
        let mut l = self.latencies.clone();
        l.sort();
        l.get(l.len() / 2).copied()
    }
}

tokio::task_local! {
    /// The requests of the resource being worked on (see [`Api::counted`]).
    static TRIPS: std::sync::atomic::AtomicU64;
}

/// One request: service, method, path, query and body.
#[derive(Clone, Debug)]
pub(crate) struct Req {
    pub svc: Svc,
    pub method: Method,
    pub path: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Req {
    pub fn new<S: AsRef<str>>(svc: Svc, method: Method, path: impl IntoIterator<Item = S>) -> Self {
        Req {
            svc,
            method,
            path: path.into_iter().map(|s| s.as_ref().to_owned()).collect(),
            query: Vec::new(),
            body: None,
        }
    }
    pub fn get<S: AsRef<str>>(svc: Svc, path: impl IntoIterator<Item = S>) -> Self {
        Req::new(svc, Method::GET, path)
    }
    pub fn post<S: AsRef<str>>(svc: Svc, path: impl IntoIterator<Item = S>, body: Value) -> Self {
        Req::new(svc, Method::POST, path).body(body)
    }
    pub fn put<S: AsRef<str>>(svc: Svc, path: impl IntoIterator<Item = S>, body: Value) -> Self {
        Req::new(svc, Method::PUT, path).body(body)
    }
    pub fn delete<S: AsRef<str>>(svc: Svc, path: impl IntoIterator<Item = S>) -> Self {
        Req::new(svc, Method::DELETE, path)
    }
    pub fn query(mut self, k: &str, v: impl Into<String>) -> Self {
        self.query.push((k.to_owned(), v.into()));
        self
    }
    pub fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    /// `POST networks`, `DELETE servers/{id}`: the operation's name in statistics and errors.
    pub fn op(&self) -> String {
        let words: Vec<&str> = self
            .path
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let id = s.len() >= 32 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
                if id || (i == 1 && self.path[0] == "os-keypairs") {
                    "{id}"
                } else {
                    s.as_str()
                }
            })
            .collect();
        format!("{} {}", self.method, words.join("/"))
    }
}

/// Opens a new session from the proxy's credentials (authenticating once): how a token is
/// renewed.
pub(crate) type Reopen =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Session, String>> + Send>> + Send + Sync>;

/// The session, the retry settings and the statistics every call shares.
pub(crate) struct Api {
    /// Replaced as a whole when the token is renewed: osauth 0.5's forced refresh keeps a token
    /// that has not expired yet, even one Keystone has revoked.
    session: RwLock<Session>,
    reopen: Reopen,
    settings: RetrySettings,
    stats: Mutex<CallStats>,
    /// Serialises token renewals: when many calls meet an expired token at once, one renews it.
    renewal: tokio::sync::Mutex<Instant>,
    /// Items per page of a list call.
    page_size: usize,
}

impl Api {
    pub fn new(
        session: Session,
        reopen: Reopen,
        settings: RetrySettings,
        page_size: usize,
    ) -> Self {
        Api {
            session: RwLock::new(session),
            reopen,
            settings,
            stats: Mutex::default(),
            renewal: tokio::sync::Mutex::new(Instant::now()),
            page_size,
        }
    }

    pub fn settings(&self) -> &RetrySettings {
        &self.settings
    }

    pub fn stats(&self) -> CallStats {
        self.stats.lock().clone()
    }

    pub fn reset_stats(&self) {
        *self.stats.lock() = CallStats::default();
    }

    /// The session, for the `openstack` crate's typed calls.
    pub fn session(&self) -> Session {
        self.session.read().clone()
    }

    /// Runs `f` (one resource's provision or teardown) counting its requests under `path`.
    pub async fn counted<T>(&self, path: &str, f: impl Future<Output = T>) -> T {
        let (r, n) = TRIPS
            .scope(std::sync::atomic::AtomicU64::new(0), async {
                let r = f.await;
                (
                    r,
                    TRIPS.with(|t| t.load(std::sync::atomic::Ordering::Relaxed)),
                )
            })
            .await;
        self.stats.lock().round_trips.insert(path.to_owned(), n);
        r
    }

    fn count(&self, op: &str, took: Duration) {
        let _ = TRIPS.try_with(|t| t.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let mut s = self.stats.lock();
        *s.calls.entry(op.to_owned()).or_default() += 1;
        if s.latencies.len() < 100_000 {
            s.latencies.push(took);
        }
    }

    /// Records one use of the `openstack` crate's typed API (its own requests are not counted
    /// one by one).
    pub fn count_typed(&self, op: &str, took: Duration) {
        self.count(op, took);
    }

    fn retried(&self, why: &str) {
        *self.stats.lock().retried.entry(why.to_owned()).or_default() += 1;
    }

    /// One attempt of `req`: its JSON answer (`null` for an empty one), or the classified error.
    pub async fn once(&self, req: &Req) -> Result<Value, OsError> {
        let op = req.op();
        let started = Instant::now();
        let session = self.session();
        // One arm per service type: osauth's request builder is generic over it.
        let res = match req.svc {
            Svc::Network => {
                send(
                    session.request(NETWORK, req.method.clone(), &req.path),
                    req,
                    self.settings.request_timeout,
                )
                .await
            }
            Svc::Compute => {
                send(
                    session
                        .request(COMPUTE, req.method.clone(), &req.path)
                        .header("OpenStack-API-Version", NOVA_MICROVERSION),
                    req,
                    self.settings.request_timeout,
                )
                .await
            }
        };
        let took = started.elapsed();
        self.count(&op, took);
        let resp = res.map_err(|e| OsError::from_osauth(&op, &e))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.map_err(|e| OsError {
            op: op.clone(),
            status: Some(status),
            code: None,
            message: format!("the answer was cut off: {e}"),
            kind: ErrKind::Transient,
            retry_after: None,
        })?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).map_err(|e| OsError {
                op: op.clone(),
                status: Some(status),
                code: None,
                message: format!("the answer is not JSON ({e})"),
                kind: ErrKind::Transient,
                retry_after: None,
            });
        }
        Err(OsError::from_answer(&op, status, retry_after, &text))
    }

    /// After a create got no answer (timeout, dropped connection), the cloud may still be
    /// working on it: looks for the result a few times (0.5 + 1 + 2 + 4 s) before the caller
    /// sends the create again.
    pub async fn settle<T, F, Fut>(&self, mut find: F) -> Result<Option<T>, OsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, OsError>>,
    {
        let mut wait = Duration::from_millis(500);
        for _ in 0..4 {
            tokio::time::sleep(wait).await;
            if let Some(v) = find().await? {
                return Ok(Some(v));
            }
            wait *= 2;
        }
        Ok(None)
    }

    /// Renews the token (one renewal for every call that met the old one since `since`).
    async fn renew_token(&self, since: Instant) -> Result<(), OsError> {
        let mut last = self.renewal.lock().await;
        if *last > since {
            return Ok(());
        }
        let fresh = (self.reopen)().await.map_err(|message| OsError {
            op: "renew the token".into(),
            status: None,
            code: None,
            message,
            kind: ErrKind::Transient,
            retry_after: None,
        })?;
        *self.session.write() = fresh;
        *last = Instant::now();
        self.stats.lock().token_renewals += 1;
        tracing::info!("the cloud rejected the token: renewed it");
        Ok(())
    }

    /// `req`, retried as `policy` allows.
    pub async fn call(&self, policy: Policy, what: &str, req: Req) -> Result<Value, AttemptError> {
        self.retry(policy, what, || self.once(&req)).await
    }

    /// Like [`Api::call`], but a `404` is `None`.
    pub async fn get_opt(&self, what: &str, req: Req) -> Result<Option<Value>, AttemptError> {
        let r = self
            .retry(Policy::Basic, what, || async {
                match self.once(&req).await {
                    Ok(v) => Ok(Some(v)),
                    Err(e) if e.is_not_found() => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .await?;
        Ok(r)
    }

    /// Like [`Api::call`] for a delete: already gone is success.
    pub async fn delete(&self, what: &str, req: Req) -> Result<(), AttemptError> {
        self.retry(Policy::Basic, what, || async {
            match self.once(&req).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Every item of a collection (`key`: `networks`, `servers` …), following `marker` pages.
    pub async fn list(&self, what: &str, req: Req, key: &str) -> Result<Vec<Value>, AttemptError> {
        let mut out: Vec<Value> = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let mut r = req.clone().query("limit", self.page_size.to_string());
            if let Some(m) = &marker {
                r = r.query("marker", m.clone());
            }
            let page = self.call(Policy::Basic, what, r).await?;
            let items = page
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let n = items.len();
            let has_next = page
                .get(format!("{key}_links"))
                .and_then(Value::as_array)
                .is_some_and(|l| l.iter().any(|l| l["rel"] == "next"));
            // Key pairs page by name, everything else by id.
            let last = items.last().and_then(|i| {
                i.get("id")
                    .or_else(|| i.get("keypair").and_then(|k| k.get("name")))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
            out.extend(items);
            match last {
                Some(l) if has_next && n > 0 => marker = Some(l),
                _ => return Ok(out),
            }
        }
    }

    /// Runs `f` until it succeeds, retrying what `policy` allows with the engine's exponential
    /// backoff (full jitter) until the deadline; a rejected token is renewed once per failure.
    pub async fn retry<T, F, Fut>(
        &self,
        policy: Policy,
        what: &str,
        mut f: F,
    ) -> Result<T, AttemptError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OsError>>,
    {
        let backoff = self.settings.backoff();
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut renewals = 0;
        loop {
            attempt += 1;
            let tried = Instant::now();
            let e = match f().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if e.kind == ErrKind::Unauthorized && renewals < 3 {
                renewals += 1;
                self.retried("token renewed");
                self.renew_token(tried)
                    .await
                    .map_err(|e| e.into_attempt(what))?;
                continue;
            }
            let limit = match e.kind {
                ErrKind::Transient | ErrKind::Conflict => Some(self.settings.deadline),
                ErrKind::NotFound if policy == Policy::Wiring => {
                    Some(self.settings.not_found_deadline)
                }
                _ => None,
            };
            let Some(limit) = limit else {
                return Err(e.into_attempt(what));
            };
            let delay = backoff
                .delay(attempt, &mut rand::rng())
                .max(e.retry_after.unwrap_or_default());
            if started.elapsed() + delay > limit {
                let msg = format!(
                    "{what}: gave up after {attempt} attempts in {:.1?}: {e}",
                    started.elapsed()
                );
                return Err(match e.kind {
                    ErrKind::Transient | ErrKind::Conflict => AttemptError::retryable(msg),
                    _ => AttemptError::fatal(msg),
                });
            }
            self.retried(&match (e.kind, e.status) {
                (ErrKind::Transient, None) => "transient".to_owned(),
                (_, Some(s)) => format!("HTTP {s}"),
                _ => "other".to_owned(),
            });
            tracing::debug!(step = what, attempt, error = %e, delay_ms = delay.as_millis() as u64, "retrying an OpenStack call");
            tokio::time::sleep(delay).await;
        }
    }
}

/// Sends `b` with `req`'s query and body, unchecked (the caller classifies the answer).
async fn send<S: osauth::services::ServiceType + Send>(
    b: osauth::ServiceRequestBuilder<S>,
    req: &Req,
    timeout: Duration,
) -> Result<reqwest::Response, osauth::Error> {
    let b = b.query(&req.query).timeout(timeout);
    match &req.body {
        Some(body) => b.json(body).send_unchecked().await,
        None => b.send_unchecked().await,
    }
}

/// Shares an [`Api`] between the proxy and its operations.
pub(crate) type SharedApi = Arc<Api>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_with_the_services_own_words() {
        let q = OsError::from_answer(
            "POST security-groups",
            409,
            None,
            r#"{"NeutronError": {"type": "OverQuota", "message": "Quota exceeded for resources: ['security_group'].", "detail": ""}}"#,
        );
        assert_eq!(q.kind, ErrKind::Quota);
        assert!(
            q.to_string()
                .starts_with("quota exceeded: POST security-groups: HTTP 409: Quota exceeded"),
            "{q}"
        );
        let nova = OsError::from_answer(
            "POST servers",
            403,
            None,
            r#"{"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 10 of 10 instances"}}"#,
        );
        assert_eq!(nova.kind, ErrKind::Quota);
        let c = OsError::from_answer(
            "DELETE subnets/{id}",
            409,
            None,
            r#"{"NeutronError": {"type": "SubnetInUse", "message": "in use", "detail": ""}}"#,
        );
        assert_eq!(
            (c.kind, c.code.as_deref()),
            (ErrKind::Conflict, Some("SubnetInUse"))
        );
        assert_eq!(
            OsError::from_answer("x", 503, None, "<html>busy</html>").kind,
            ErrKind::Transient
        );
        assert_eq!(
            OsError::from_answer("x", 400, None, "{}").kind,
            ErrKind::Fatal
        );
        assert!(!q.into_attempt("sg").retryable);
        assert!(c.into_attempt("subnet").retryable);
    }

    #[test]
    fn operations_are_named_without_ids() {
        let id = "4f1c2a9e-5b3d-4c1e-9a7b-0d2e6f8a1b3c";
        let r = Req::put(
            Svc::Network,
            ["routers", id, "add_router_interface"],
            Value::Null,
        );
        assert_eq!(r.op(), "PUT routers/{id}/add_router_interface");
        assert_eq!(
            Req::get(Svc::Compute, ["servers", "detail"]).op(),
            "GET servers/detail"
        );
        assert_eq!(
            Req::get(Svc::Compute, ["os-keypairs", "k1"]).op(),
            "GET os-keypairs/{id}"
        );
    }
}
