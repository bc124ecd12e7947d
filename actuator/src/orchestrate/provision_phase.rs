//! Provisioning: one engine node per infra resource, dependency edges from the references the
//! resources' arguments hold, proxies chosen (and every choice checked) before any cloud call.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::{Value, json};

use super::{ActuatorOrchestration, Failure, FailureKind, JournalHandle, PhaseWalk, walk_phase};
use crate::engine::{AttemptError, Dag, NodeId, Work};
use crate::events::Phase;
use crate::model::At;
use crate::model::build::Shared;
use crate::provision::{Outputs, ProvisionCx, ProvisionerProxy, select};
use crate::state::Status as EntryStatus;

struct Res {
    at: At,
    kind: &'static str,
    /// Resources this one depends on (indices), recorded so teardown can order deletes.
    deps: Vec<u32>,
    proxy: Arc<dyn ProvisionerProxy>,
}

struct ProvisionWork {
    world: Shared,
    system: String,
    res: Vec<Res>,
    /// Model path of each resource: its key in the state (shared with the event observer).
    keys: Arc<Vec<String>>,
    journal: JournalHandle,
}

impl Work for ProvisionWork {
    fn run(&self, node: NodeId, _attempt: u32) -> BoxFuture<'static, Result<(), AttemptError>> {
        let r = &self.res[node.index()];
        let (at, key, kind) = (r.at, self.keys[node.index()].clone(), r.kind);
        let proxy = r.proxy.clone();
        let deps: Vec<&str> = r
            .deps
            .iter()
            .map(|&d| self.keys[d as usize].as_str())
            .collect();
        let meta = json!({ "proxy": proxy.name(), "deps": deps });
        let (world, journal, system) = (
            self.world.clone(),
            self.journal.clone(),
            self.system.clone(),
        );
        async move {
            let (k, m) = (key.clone(), meta.clone());
            journal.record(move |j| j.intent(&k, kind, m)).await?;
            let cx = ProvisionCx::new(world.clone(), at, system);
            match proxy.provision(&cx).await {
                Ok(outputs) => {
                    {
                        let mut g = world.lock();
                        for (k, v) in &outputs {
                            g.set_output(at, k, v.clone());
                        }
                    }
                    let mut data = meta;
                    data["outputs"] = json!(outputs);
                    journal.record(move |j| j.done(&key, data)).await
                }
                Err(e) => {
                    let (k, msg) = (key.clone(), e.message.clone());
                    let _ = journal.record(move |j| j.failed(&k, &msg)).await;
                    Err(e.context(&key))
                }
            }
        }
        .boxed()
    }

    fn limit_keys(&self, node: NodeId) -> Vec<String> {
        let r = &self.res[node.index()];
        r.proxy.limit_keys(r.kind)
    }
}

pub(super) async fn run(
    o: &mut ActuatorOrchestration,
    w: &Shared,
    journal: &JournalHandle,
) -> bool {
    let proxies = o.all_proxies();
    // Every resource of the infra instance, with its proxy; all selection errors at once, before any
    // cloud call.
    let (res, keys, errors, edges) = {
        let g = w.lock();
        let infra = g.infra().expect("checked by caller");
        let mut res = Vec::new();
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        for (n, e) in infra.leaves() {
            let at = At {
                model: infra.id,
                node: n,
            };
            let key = g.describe(at);
            match select(&proxies, e.kind(), e.cloud(), &key) {
                Ok(p) => {
                    res.push(Res {
                        at,
                        kind: e.kind(),
                        deps: Vec::new(),
                        proxy: p.clone(),
                    });
                    keys.push(key);
                }
                Err(err) => errors.push(Failure {
                    kind: FailureKind::Model,
                    phase: Phase::Provision,
                    task: key,
                    error: err.to_string(),
                }),
            }
        }
        let edges: Vec<(At, At)> = g
            .edges()
            .into_iter()
            .filter(|(a, b)| a.model == infra.id && b.model == infra.id)
            .collect();
        (res, keys, errors, edges)
    };
    if !errors.is_empty() {
        o.failures.extend(errors);
        return false;
    }
    let mut res = res;
    let index: HashMap<At, usize> = res.iter().enumerate().map(|(i, r)| (r.at, i)).collect();
    let mut dag = Dag::new(res.len());
    for (a, b) in edges {
        if let (Some(&ia), Some(&ib)) = (index.get(&a), index.get(&b)) {
            dag.add_edge(NodeId(ia as u32), NodeId(ib as u32));
            res[ib].deps.push(ia as u32);
        }
    }
    // Resume: what the state says exists is done, and its outputs go back into the model for the
    // resources and tasks that read them.
    if let Err(error) = o.restore_outputs() {
        o.failures.push(Failure {
            kind: FailureKind::State,
            phase: Phase::Provision,
            task: "state".into(),
            error,
        });
        return false;
    }
    let mut done = HashSet::new();
    {
        let j = journal.lock();
        for (i, key) in keys.iter().enumerate() {
            if j.state()
                .get(key)
                .is_some_and(|e| e.status == EntryStatus::Created)
            {
                done.insert(NodeId(i as u32));
            }
        }
    }
    let mut limits = HashMap::new();
    for p in &proxies {
        limits.extend(p.limits());
    }
    let names = Arc::new(keys);
    let work = Arc::new(ProvisionWork {
        world: w.clone(),
        system: o.system.clone(),
        res,
        keys: names.clone(),
        journal: journal.clone(),
    });
    walk_phase(
        o,
        PhaseWalk {
            phase: Phase::Provision,
            dag,
            names,
            work,
            limits,
            done,
            quiet: Vec::new(),
        },
    )
    .await
}

/// Outputs recorded for `key` (used by teardown).
pub(super) fn outputs_of(data: &Value) -> Outputs {
    data.get("outputs")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}
