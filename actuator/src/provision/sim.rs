//! A simulated cloud for the cloud-free test resources (`infra::test`): it keeps what exists in
//! memory, hands out ids and loopback addresses, can take time and can fail on purpose. The
//! orchestrator's tests and benchmarks use it, and so can a model under development.

use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{AttemptError, Outputs, ProvisionCx, Provisioned, ProvisionerProxy};

/// The simulated cloud's proxy; handles every `test.*` kind.
#[derive(Debug)]
pub struct SimProxy {
    name: String,
    latency: Duration,
    next: AtomicU32,
    state: Mutex<SimState>,
}

#[derive(Debug, Default)]
struct SimState {
    /// Per model path: its id while it exists, and how often it was created and deleted.
    resources: HashMap<String, SimResource>,
    faults: HashMap<String, (u32, bool)>,
    delete_faults: HashMap<String, (u32, bool)>,
}

#[derive(Debug, Default)]
struct SimResource {
    id: Option<u32>,
    creates: u32,
    deletes: u32,
}

impl Default for SimProxy {
    fn default() -> Self {
        SimProxy::new("sim")
    }
}

impl SimProxy {
    /// A simulated cloud named `name`, answering at once.
    pub fn new(name: impl Into<String>) -> Self {
        SimProxy {
            name: name.into(),
            latency: Duration::ZERO,
            next: AtomicU32::new(0),
            state: Mutex::default(),
        }
    }
    /// Every call takes `latency`.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// The next `times` creates of the resource at model path `path` fail (retryable or not).
    pub fn fail_create(&self, path: &str, times: u32, retryable: bool) {
        self.st().faults.insert(path.to_owned(), (times, retryable));
    }
    /// The next `times` deletes of `path` fail.
    pub fn fail_delete(&self, path: &str, times: u32, retryable: bool) {
        self.st()
            .delete_faults
            .insert(path.to_owned(), (times, retryable));
    }
    /// How many times `path` was created.
    pub fn creates(&self, path: &str) -> u32 {
        self.st().resources.get(path).map_or(0, |r| r.creates)
    }
    /// How many times `path` was deleted.
    pub fn deletes(&self, path: &str) -> u32 {
        self.st().resources.get(path).map_or(0, |r| r.deletes)
    }
    /// The model paths that exist now, with their ids.
    pub fn live(&self) -> BTreeMap<String, String> {
        self.st()
            .resources
            .iter()
            .filter_map(|(k, r)| r.id.map(|id| (k.clone(), format!("sim-{id}"))))
            .collect()
    }
    fn st(&self) -> parking_lot::MutexGuard<'_, SimState> {
        self.state.lock()
    }
    fn fault(map: &mut HashMap<String, (u32, bool)>, path: &str) -> Option<AttemptError> {
        let f = map.get_mut(path)?;
        if f.0 == 0 {
            return None;
        }
        f.0 -= 1;
        let msg = format!("simulated failure for {path}");
        Some(if f.1 {
            AttemptError::retryable(msg)
        } else {
            AttemptError::fatal(msg)
        })
    }
}

impl ProvisionerProxy for SimProxy {
    fn name(&self) -> &str {
        &self.name
    }
    fn handles(&self, kind: &str) -> bool {
        kind.starts_with("test.")
    }
    fn provision<'a>(
        &'a self,
        cx: &'a ProvisionCx,
    ) -> BoxFuture<'a, Result<Outputs, AttemptError>> {
        async move {
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let path = cx.path();
            let mut st = self.st();
            if let Some(e) = Self::fault(&mut st.faults, &path) {
                return Err(e);
            }
            // Idempotent like a real proxy finding its resource by tag: a second create returns it.
            let r = st.resources.entry(path).or_default();
            let n = match r.id {
                Some(n) => n,
                None => {
                    let n = self.next.fetch_add(1, Ordering::Relaxed);
                    r.id = Some(n);
                    r.creates += 1;
                    n
                }
            };
            let ip = format!("127.0.{}.{}", 1 + n / 250, 2 + n % 250);
            Ok(Outputs::from([
                ("id".to_owned(), format!("sim-{n}")),
                ("ip".to_owned(), ip),
            ]))
        }
        .boxed()
    }
    fn deprovision<'a>(&'a self, rec: &'a Provisioned) -> BoxFuture<'a, Result<(), AttemptError>> {
        async move {
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            let mut st = self.st();
            if let Some(e) = Self::fault(&mut st.delete_faults, &rec.key) {
                return Err(e);
            }
            if let Some(r) = st.resources.get_mut(&rec.key)
                && r.id.take().is_some()
            {
                r.deletes += 1;
            }
            Ok(())
        }
        .boxed()
    }
}
