//! Refresh: every resource the state records, read from its cloud through its proxy — concurrently,
//! with the engine's limits and retries — so a plan sees drift: outputs that moved, resources
//! deleted behind the tool's back.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::Mutex;

use super::plan::{Recorded, TASK_PREFIX, recorded_outputs};
use super::{ActuatorOrchestration, OrchestrationError, PhaseWalk, WalkInfo, walk_phase};
use crate::dag::{Dag, NodeId};
use crate::engine::{AttemptError, Work};
use crate::events::{Outcome, Phase};
use crate::provision::{Observed, Provisioned, ProvisionerProxy, Scope};
use crate::state::EntryStatus;

/// Reads every recorded resource. With `persist`, records what changed: new outputs, and
/// resources found gone are forgotten (the next `up` creates them again).
pub(super) async fn read_all(
    o: &mut ActuatorOrchestration,
    scope: &Scope,
    persist: bool,
) -> Result<HashMap<String, Observed>, OrchestrationError> {
    let journal = o.journal()?;
    let proxies = o.all_proxies();
    let scope = Arc::new(scope.clone());
    let reads: Vec<(Provisioned, Arc<dyn ProvisionerProxy>)> = {
        let j = journal.lock();
        j.state()
            .iter()
            .filter(|e| {
                !e.key.starts_with(TASK_PREFIX)
                    && matches!(e.status, EntryStatus::Created | EntryStatus::Updating)
            })
            .filter_map(|e| {
                let rec = Recorded::of(e);
                let p = proxies
                    .iter()
                    .find(|p| Some(p.name()) == rec.proxy.as_deref())?;
                Some((rec.provisioned(&scope, e), p.clone()))
            })
            .collect()
    };
    if reads.is_empty() {
        return Ok(HashMap::new());
    }
    let found = Arc::new(Mutex::new(vec![None; reads.len()]));
    let names = Arc::new(reads.iter().map(|(r, _)| r.key.clone()).collect());
    // Shared with the walk's work, not copied: a refresh of a large state reads every entry.
    let reads = Arc::new(reads);
    let work = Arc::new(Reads {
        reads: reads.clone(),
        found: found.clone(),
    });
    let mut limits = HashMap::new();
    for p in &proxies {
        limits.extend(p.limits());
    }
    let ok = walk_phase(
        o,
        PhaseWalk {
            phase: Phase::Refresh,
            dag: Dag::new(reads.len()),
            names,
            work,
            limits,
            done: HashSet::new(),
            quiet: Vec::new(),
            info: Arc::new(WalkInfo::new(reads.len())),
            outcome: Outcome::Read,
        },
    )
    .await;
    if !ok {
        return Err(OrchestrationError::Cloud(
            "the refresh failed: some resources could not be read (see the errors)".into(),
        ));
    }
    let found = std::mem::take(&mut *found.lock());
    let mut observed = HashMap::new();
    for ((rec, _), seen) in reads.iter().zip(found) {
        let Some(seen) = seen else { continue };
        if persist {
            let mut j = journal.lock();
            let Some(entry) = j.state().get(&rec.key).cloned() else {
                continue;
            };
            let result = match &seen {
                Observed::Gone => j.forget(&rec.key),
                Observed::Exists(outputs) if *outputs != recorded_outputs(&entry) => {
                    let mut data = entry.data.value();
                    data["outputs"] = serde_json::json!(outputs);
                    j.done(&rec.key, data)
                }
                Observed::Exists(_) => Ok(()),
            };
            result?;
        }
        observed.insert(rec.key.to_string(), seen);
    }
    o.set_observed_outputs(&observed);
    Ok(observed)
}

struct Reads {
    reads: Arc<Vec<(Provisioned, Arc<dyn ProvisionerProxy>)>>,
    found: Arc<Mutex<Vec<Option<Observed>>>>,
}

impl Work for Reads {
    fn run(&self, node: NodeId, _attempt: u32) -> BoxFuture<'static, Result<(), AttemptError>> {
        let (reads, found, slot) = (self.reads.clone(), self.found.clone(), node.index());
        async move {
            let (rec, proxy) = &reads[slot];
            let seen = proxy.read(rec).await.map_err(|e| e.context(&rec.key))?;
            found.lock()[slot] = Some(seen);
            Ok(())
        }
        .boxed()
    }

    fn limit_keys(&self, node: NodeId) -> Vec<String> {
        let (rec, proxy) = &self.reads[node.index()];
        proxy.limit_keys(&rec.kind)
    }
}
