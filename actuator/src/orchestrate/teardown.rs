//! Teardown from the state alone: every resource the journal records (created, in doubt, or half
//! deleted), deleted dependents-first by the proxy that created it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::Value;

use super::provision_phase::outputs_of;
use super::{ActuatorOrchestration, Failure, FailureKind, JournalHandle, PhaseWalk, walk_phase};
use crate::engine::{AttemptError, Dag, NodeId, Work};
use crate::events::Phase;
use crate::provision::{Provisioned, ProvisionerProxy};

/// Keys of config-task records start with this; they are forgotten, not deleted.
pub(super) const TASK_PREFIX: &str = "task:";

struct Del {
    rec: Provisioned,
    proxy: Arc<dyn ProvisionerProxy>,
}

struct TeardownWork {
    dels: Vec<Del>,
    journal: JournalHandle,
}

impl Work for TeardownWork {
    fn run(&self, node: NodeId, _attempt: u32) -> BoxFuture<'static, Result<(), AttemptError>> {
        let d = &self.dels[node.index()];
        let (rec, proxy, journal) = (d.rec.clone(), d.proxy.clone(), self.journal.clone());
        async move {
            let k = rec.key.clone();
            journal.record(move |j| j.undo_intent(&k)).await?;
            match proxy.deprovision(&rec).await {
                Ok(()) => {
                    let k = rec.key.clone();
                    journal.record(move |j| j.undone(&k)).await
                }
                Err(e) => {
                    let (k, msg) = (rec.key.clone(), e.message.clone());
                    let _ = journal.record(move |j| j.failed(&k, &msg)).await;
                    Err(e.context(&rec.key))
                }
            }
        }
        .boxed()
    }

    fn limit_keys(&self, node: NodeId) -> Vec<String> {
        let d = &self.dels[node.index()];
        d.proxy.limit_keys(&d.rec.kind)
    }
}

pub(super) async fn run(o: &mut ActuatorOrchestration, journal: &JournalHandle) -> bool {
    let proxies = o.all_proxies();
    type Recorded = (String, String, Arc<Value>);
    let (entries, tasks): (Vec<Recorded>, Vec<String>) = {
        let j = journal.lock();
        let st = j.state();
        let tasks = st
            .iter()
            .filter(|e| e.key.starts_with(TASK_PREFIX))
            .map(|e| e.key.clone())
            .collect();
        let entries = st
            .iter()
            .filter(|e| !e.key.starts_with(TASK_PREFIX))
            .map(|e| (e.key.clone(), e.kind.clone(), e.data.clone()))
            .collect();
        (entries, tasks)
    };
    // Config tasks are not undone; forgetting them makes the next `up` run them again.
    for t in tasks {
        if let Err(e) = journal.lock().forget(&t) {
            o.failures.push(Failure {
                kind: FailureKind::State,
                phase: Phase::Teardown,
                task: t,
                error: e.to_string(),
            });
        }
    }
    let mut dels = Vec::new();
    for (key, kind, data) in entries {
        let want = data
            .get("proxy")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match proxies.iter().find(|p| p.name() == want) {
            Some(p) => dels.push((
                data.get("deps").cloned(),
                Del {
                    rec: Provisioned {
                        system: o.system.clone(),
                        kind,
                        key,
                        outputs: outputs_of(&data),
                    },
                    proxy: p.clone(),
                },
            )),
            None => o.failures.push(Failure {
                kind: FailureKind::Model,
                phase: Phase::Teardown,
                task: key,
                error: format!("created by proxy `{want}`, which this orchestration was not given"),
            }),
        }
    }
    if !o.failures.is_empty() {
        return false;
    }
    let index: HashMap<String, usize> = dels
        .iter()
        .enumerate()
        .map(|(i, (_, d))| (d.rec.key.clone(), i))
        .collect();
    let mut forward = Dag::new(dels.len());
    for (i, (deps, _)) in dels.iter().enumerate() {
        for dep in deps.iter().flat_map(|d| d.as_array().into_iter().flatten()) {
            if let Some(&j) = dep.as_str().and_then(|k| index.get(k)) {
                forward.add_edge(NodeId(j as u32), NodeId(i as u32));
            }
        }
    }
    let names: Vec<String> = dels.iter().map(|(_, d)| d.rec.key.clone()).collect();
    let mut limits = HashMap::new();
    for p in &proxies {
        limits.extend(p.limits());
    }
    let work = Arc::new(TeardownWork {
        dels: dels.into_iter().map(|(_, d)| d).collect(),
        journal: journal.clone(),
    });
    walk_phase(
        o,
        PhaseWalk {
            phase: Phase::Teardown,
            dag: forward.reversed(),
            names: Arc::new(names),
            work,
            limits,
            done: HashSet::new(),
            quiet: Vec::new(),
        },
    )
    .await
}
