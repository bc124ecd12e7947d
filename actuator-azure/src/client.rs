//! The ARM client: an `azure_core` pipeline (bearer token from the credential, the SDK's retry
//! policy for throttling, 5xx and dropped connections, honouring `Retry-After`) plus the proxy's
//! own per-try policy (client-side budgets fed by `x-ms-ratelimit-remaining-*`, call counts), and
//! long-running operations polled the way each one declares.
//!
//! Every call is idempotent (GET, PUT by resource id, DELETE): retrying one whose answer was lost
//! cannot make a twin, which is why the pipeline may retry all of them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::http::headers::HeaderName;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    Context, ExponentialRetryOptions, Method, Pipeline, PipelineSendOptions, Request, RetryOptions,
    Url,
};
use parking_lot::Mutex;
use serde_json::Value;
use tokio::time::Instant;

use crate::error::ArmError;
use crate::limits::{Budgets, Class};

const ASYNC_OPERATION: HeaderName = HeaderName::from_static("azure-asyncoperation");
const LOCATION: HeaderName = HeaderName::from_static("location");
const RETRY_AFTER: HeaderName = HeaderName::from_static("retry-after");

/// How long the proxy waits, and for what.
///
/// ```
/// use std::time::Duration;
/// use actuator_azure::Waits;
/// let w = Waits { poll_interval: Duration::from_millis(50), ..Waits::default() };
/// assert_eq!(w.operation_timeout, Duration::from_secs(1800));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Waits {
    /// The least time between two polls of a long-running operation (the server's `Retry-After`,
    /// when longer, wins). Default 1 s.
    pub poll_interval: Duration,
    /// How long one long-running operation may take. Default 30 minutes.
    pub operation_timeout: Duration,
    /// How long to keep retrying a write that another operation blocks
    /// (`AnotherOperationInProgress`) or a delete that a dependent blocks (`InUseSubnetCannotBeDeleted`,
    /// `NicInUse` …) before handing the engine a retryable error. Default 15 minutes.
    pub busy_timeout: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            poll_interval: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(1800),
            busy_timeout: Duration::from_secs(900),
        }
    }
}

/// The pipeline's retries of one call (throttling, 5xx, dropped connections), as
/// `azure_core`'s exponential policy takes them; the server's `Retry-After` is honoured when
/// longer.
///
/// ```
/// use actuator_azure::RetrySettings;
/// assert_eq!(RetrySettings::default().max_retries, 8);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySettings {
    /// The first wait (doubled on every retry, plus up to 256 ms of jitter). Default 200 ms.
    pub initial_delay: Duration,
    /// The most waits (at least 1 s: azure_core's floor). Default 30 s.
    pub max_delay: Duration,
    /// Retries of one call. Default 8.
    pub max_retries: u32,
    /// Time one call may spend retrying. Default 2 minutes.
    pub max_elapsed: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
            max_retries: 8,
            max_elapsed: Duration::from_secs(120),
        }
    }
}

impl RetrySettings {
    pub(crate) fn options(&self) -> RetryOptions {
        let d = |d: Duration| azure_core::time::Duration::milliseconds(d.as_millis() as i64);
        RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: d(self.initial_delay),
            max_retries: self.max_retries,
            max_total_elapsed: d(self.max_elapsed),
            max_delay: d(self.max_delay),
        })
    }
}

/// What the proxy's ARM calls did so far ([`AzureProxy::stats`](crate::AzureProxy::stats)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallStats {
    /// Calls made (each may take several attempts).
    pub calls: u64,
    /// Attempts sent, retries included.
    pub attempts: u64,
    /// Attempts ARM throttled (429).
    pub throttled: u64,
    /// Attempts per operation, e.g. `"PUT virtualMachines"`, `"GET operations"`.
    pub by_operation: BTreeMap<String, u64>,
    /// Time spent waiting for the client-side budgets.
    pub budget_wait: Duration,
}

impl CallStats {
    /// Attempts of `method` on `kind` (the last type segment of the path).
    ///
    /// ```
    /// use actuator_azure::CallStats;
    /// assert_eq!(CallStats::default().count("PUT", "virtualMachines"), 0);
    /// ```
    pub fn count(&self, method: &str, kind: &str) -> u64 {
        self.by_operation
            .get(&format!("{method} {kind}"))
            .copied()
            .unwrap_or(0)
    }
}

/// What the client keeps across calls: budgets and counts.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub budgets: Budgets,
    pub stats: Mutex<CallStats>,
}

impl Shared {
    pub fn new(limits: &crate::ApiLimits) -> Self {
        Shared {
            budgets: Budgets::new(limits),
            stats: Mutex::default(),
        }
    }
}

/// The label of a request path for [`CallStats::by_operation`]: its last resource type.
fn label(path: &str) -> String {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for marker in ["operations", "operationResults", "operationresults"] {
        if segs.len() >= 2 && segs[segs.len() - 2].eq_ignore_ascii_case(marker) {
            return if marker == "operations" {
                "operations".into()
            } else {
                "operationResults".into()
            };
        }
    }
    // /subscriptions/{s}/resourcegroups/{g}/providers/{ns}/{type}/{name}/{type}/{name}…
    match segs
        .iter()
        .position(|s| s.eq_ignore_ascii_case("providers"))
    {
        Some(p) if p + 2 < segs.len() => {
            let types: Vec<&str> = segs[p + 2..].iter().step_by(2).copied().collect();
            types.last().map_or(String::new(), |t| (*t).to_owned())
        }
        _ => match segs.get(2) {
            Some(s) if s.eq_ignore_ascii_case("resourcegroups") => "resourceGroups".into(),
            Some(s) => (*s).to_owned(),
            None => String::new(),
        },
    }
}

/// Per try: spends from the class's budget before sending, feeds ARM's remaining-budget header
/// back into it, counts.
#[derive(Debug)]
pub(crate) struct Observe(pub Arc<Shared>);

#[async_trait]
impl Policy for Observe {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        let method = request.method();
        let method: &str = method.as_ref();
        let class = Class::of(method);
        let budget = self.0.budgets.of(class);
        let waited = match budget {
            Some(b) => b.take().await,
            None => Duration::ZERO,
        };
        let op = format!("{method} {}", label(request.url().path()));
        let r = next[0].send(ctx, request, &next[1..]).await;
        let mut st = self.0.stats.lock();
        st.attempts += 1;
        st.budget_wait += waited;
        *st.by_operation.entry(op).or_default() += 1;
        if let Ok(resp) = &r {
            if u16::from(resp.status()) == 429 {
                st.throttled += 1;
            }
            let remaining = resp
                .headers()
                .get_optional_str(&HeaderName::from_static(class.header()))
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let (Some(b), Some(n)) = (budget, remaining) {
                b.observe(n);
            }
        }
        r
    }
}

/// One ARM answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (`Null` when empty).
    pub body: Value,
    /// `Azure-AsyncOperation`: the operation's status resource.
    pub async_operation: Option<String>,
    /// `Location`: the operation's result (202 while it runs).
    pub location: Option<String>,
    /// `Retry-After`.
    pub retry_after: Option<Duration>,
}

impl Answer {
    fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    /// `properties.provisioningState`, if the body has one.
    pub fn provisioning_state(&self) -> Option<&str> {
        provisioning_state(&self.body)
    }
}

/// `properties.provisioningState` of a resource body.
pub(crate) fn provisioning_state(body: &Value) -> Option<&str> {
    body.get("properties")?.get("provisioningState")?.as_str()
}

/// A provisioning state that will not change by itself.
pub(crate) fn terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

/// Who answers for a path, which decides how its long-running operations report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Provider {
    Resources,
    Network,
    Compute,
}

impl Provider {
    fn of(path: &str) -> Provider {
        let p = path.to_ascii_lowercase();
        if p.contains("/providers/microsoft.network/") {
            Provider::Network
        } else if p.contains("/providers/microsoft.compute/") {
            Provider::Compute
        } else {
            Provider::Resources
        }
    }
}

/// An ARM client for one subscription, on the proxy's pipeline (its credential, retries and
/// budgets): [`AzureProxy::client`](crate::AzureProxy::client). Paths are ARM ids
/// (`/subscriptions/…`), or whole URLs (a poll's).
#[derive(Clone)]
pub struct ArmClient {
    pipeline: Pipeline,
    base: String,
    subscription: String,
    pub(crate) shared: Arc<Shared>,
    pub(crate) waits: Waits,
}

impl std::fmt::Debug for ArmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArmClient")
            .field("endpoint", &self.base)
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

fn header(h: &azure_core::http::headers::Headers, name: &HeaderName) -> Option<String> {
    h.get_optional_str(name).map(str::to_owned)
}

impl ArmClient {
    pub(crate) fn new(
        pipeline: Pipeline,
        base: String,
        subscription: String,
        shared: Arc<Shared>,
        waits: Waits,
    ) -> Self {
        ArmClient {
            pipeline,
            base: base.trim_end_matches('/').to_owned(),
            subscription,
            shared,
            waits,
        }
    }

    /// The subscription id.
    pub fn subscription(&self) -> &str {
        &self.subscription
    }

    /// `/subscriptions/{id}`.
    pub fn subscription_path(&self) -> String {
        format!("/subscriptions/{}", self.subscription)
    }

    fn url(&self, path: &str, api: &str, query: &[(&str, &str)]) -> Result<Url, ArmError> {
        let full = if path.starts_with("https://") || path.starts_with("http://") {
            path.to_owned()
        } else {
            format!("{}{path}", self.base)
        };
        let mut url =
            Url::parse(&full).map_err(|e| ArmError::local("InvalidUrl", format!("{full}: {e}")))?;
        let has_version = url.query_pairs().any(|(k, _)| k == "api-version");
        {
            let mut q = url.query_pairs_mut();
            if !has_version {
                q.append_pair("api-version", api);
            }
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends one request; any status comes back as an [`Answer`] (only a missing answer is an
    /// error).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        api: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Answer, ArmError> {
        let mut req = Request::new(self.url(path, api, query)?, method);
        if let Some(b) = body {
            req.insert_header("content-type", "application/json");
            req.set_body(b.to_string());
        }
        self.shared.stats.lock().calls += 1;
        let resp = self
            .pipeline
            .send(
                &Context::new(),
                &mut req,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|e| ArmError::from_sdk(&e))?;
        let status = u16::from(resp.status());
        let h = resp.headers();
        let retry_after = header(h, &RETRY_AFTER)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let (async_operation, location) = (header(h, &ASYNC_OPERATION), header(h, &LOCATION));
        let bytes = resp.into_body();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        };
        let answer = Answer {
            status,
            body,
            async_operation,
            location,
            retry_after,
        };
        if answer.ok() {
            Ok(answer)
        } else {
            Err(ArmError::from_answer(status, &bytes, retry_after))
        }
    }

    /// GET: the resource, or `None` when it (or its group, or its parent) does not exist.
    pub async fn get(&self, path: &str, api: &str) -> Result<Option<Value>, ArmError> {
        match self.send(Method::Get, path, api, &[], None).await {
            Ok(a) => Ok(Some(a.body)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every item of a list: ARM pages its lists, so every page is read by following `nextLink`
    /// (an absolute URL that carries the query and a `$skiptoken`) until a page has none.
    pub async fn list(
        &self,
        path: &str,
        api: &str,
        filter: Option<&str>,
    ) -> Result<Vec<Value>, ArmError> {
        let mut out = Vec::new();
        let query: Vec<(&str, &str)> = filter.map(|f| ("$filter", f)).into_iter().collect();
        let mut a = self.send(Method::Get, path, api, &query, None).await?;
        let mut followed: Option<String> = None;
        loop {
            if let Some(items) = a.body.get("value").and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            match a.body.get("nextLink").and_then(Value::as_str) {
                Some(next) if !next.is_empty() => {
                    // A server that hands back the page it just served would loop forever.
                    if followed.as_deref() == Some(next) {
                        return Err(ArmError::local(
                            "UnexpectedBody",
                            format!("{path}: nextLink {next} points at the page it came with"),
                        ));
                    }
                    let next = next.to_owned();
                    a = self.send(Method::Get, &next, api, &[], None).await?;
                    followed = Some(next);
                }
                _ => return Ok(out),
            }
        }
    }

    /// PUT (or PATCH) and wait for the operation; returns the resource as ARM has it afterwards.
    pub async fn put(
        &self,
        method: Method,
        path: &str,
        api: &str,
        body: &Value,
    ) -> Result<Value, ArmError> {
        let first = self.send(method, path, api, &[], Some(body)).await?;
        let done = self.wait(&first, false, path, api).await?;
        match done {
            Some(body) => Ok(body),
            None => self
                .get(path, api)
                .await?
                .ok_or_else(|| ArmError::local("ResourceNotFound", format!("{path} vanished"))),
        }
    }

    /// DELETE and wait until the resource is gone. Deleting what is not there succeeds.
    pub async fn delete(&self, path: &str, api: &str) -> Result<(), ArmError> {
        match self.send(Method::Delete, path, api, &[], None).await {
            Ok(first) => self.wait(&first, true, path, api).await.map(|_| ()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Waits for the operation `first` started, polling what the operation declares: a DELETE
    /// that names a `Location` (Network and resource groups: `final-state-via: location`) there,
    /// otherwise `Azure-AsyncOperation`, otherwise `Location`, otherwise the resource's own
    /// `provisioningState`. Returns the final resource body when the last poll was of it.
    pub(crate) async fn wait(
        &self,
        first: &Answer,
        delete: bool,
        path: &str,
        api: &str,
    ) -> Result<Option<Value>, ArmError> {
        let by_location = delete && Provider::of(path) != Provider::Compute;
        let deadline = Instant::now() + self.waits.operation_timeout;
        let mut after = first.retry_after;
        if by_location && let Some(loc) = &first.location {
            return self
                .poll_location(loc, api, after, deadline)
                .await
                .map(|()| None);
        }
        if let Some(op) = &first.async_operation {
            return self
                .poll_operation(op, api, after, deadline)
                .await
                .map(|()| None);
        }
        if let Some(loc) = &first.location {
            return self
                .poll_location(loc, api, after, deadline)
                .await
                .map(|()| None);
        }
        if delete {
            // A synchronous 200/204: gone.
            return Ok(None);
        }
        // No operation to follow: the resource's own state says when it is done.
        let mut body = first.body.clone();
        loop {
            match provisioning_state(&body) {
                None | Some("Succeeded") => return Ok(Some(body)),
                Some(s @ ("Failed" | "Canceled")) => {
                    return Err(ArmError::local(
                        &format!("Provisioning{s}"),
                        format!("{path} is {s}"),
                    ));
                }
                Some(_) => {}
            }
            self.pause(after, deadline, path).await?;
            match self.send(Method::Get, path, api, &[], None).await {
                Ok(a) => {
                    after = a.retry_after;
                    body = a.body;
                }
                Err(e) if e.is_transient() => after = e.retry_after,
                Err(e) => return Err(e),
            }
        }
    }

    /// Sleeps until the next poll (the server's hint, at least the poll interval), or fails at
    /// the deadline.
    async fn pause(
        &self,
        after: Option<Duration>,
        deadline: Instant,
        what: &str,
    ) -> Result<(), ArmError> {
        if Instant::now() >= deadline {
            return Err(ArmError::local(
                "OperationTimedOut",
                format!(
                    "{what} did not finish within {:?}",
                    self.waits.operation_timeout
                ),
            ));
        }
        let wait = after
            .unwrap_or_default()
            .max(self.waits.poll_interval)
            .min(deadline.saturating_duration_since(Instant::now()));
        tokio::time::sleep(wait).await;
        Ok(())
    }

    async fn poll_operation(
        &self,
        url: &str,
        api: &str,
        mut after: Option<Duration>,
        deadline: Instant,
    ) -> Result<(), ArmError> {
        loop {
            self.pause(after, deadline, url).await?;
            match self.send(Method::Get, url, api, &[], None).await {
                Ok(a) => {
                    after = a.retry_after;
                    let status = a.body.get("status").and_then(Value::as_str).unwrap_or("");
                    match status {
                        "Succeeded" => return Ok(()),
                        "Failed" | "Canceled" => {
                            return Err(ArmError::from_operation(a.body.get("error"), status));
                        }
                        _ => {}
                    }
                }
                Err(e) if e.is_transient() => after = e.retry_after,
                Err(e) => return Err(e),
            }
        }
    }

    async fn poll_location(
        &self,
        url: &str,
        api: &str,
        mut after: Option<Duration>,
        deadline: Instant,
    ) -> Result<(), ArmError> {
        loop {
            self.pause(after, deadline, url).await?;
            match self.send(Method::Get, url, api, &[], None).await {
                Ok(a) if a.status == 202 => after = a.retry_after,
                Ok(_) => return Ok(()),
                Err(e) if e.is_transient() => after = e.retry_after,
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_last_resource_type() {
        let s = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network";
        assert_eq!(
            label(&format!("{s}/virtualNetworks/v/subnets/a")),
            "subnets"
        );
        assert_eq!(label(&format!("{s}/virtualNetworks/v")), "virtualNetworks");
        assert_eq!(label("/subscriptions/s/resourcegroups/g"), "resourceGroups");
        assert_eq!(label("/subscriptions/s/resources"), "resources");
        assert_eq!(
            label("/subscriptions/s/providers/Microsoft.Network/locations/l/operations/1"),
            "operations"
        );
        assert_eq!(
            label("/subscriptions/s/providers/Microsoft.Network/locations/l/operationResults/1"),
            "operationResults"
        );
        assert_eq!(
            label("/subscriptions/s/operationresults/x"),
            "operationResults"
        );
        assert_eq!(
            Provider::of(&format!("{s}/networkInterfaces/n")),
            Provider::Network
        );
    }
}
