//! `plan`: what `up` would do — resources in order with their proxies and whether the state already
//! has them, the task graph, and every variable that does not resolve yet — without any cloud call.

use std::collections::HashMap;

use serde::Serialize;

use super::ActuatorOrchestration;
use crate::engine::{Dag, NodeId};
use crate::model::At;
use crate::provision::select;
use crate::state::Status as EntryStatus;

/// One resource in the plan.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlannedResource {
    /// Model path.
    pub key: String,
    /// Kind.
    pub kind: String,
    /// The proxy that would provision it, or why none can.
    pub proxy: Result<String, String>,
    /// Model paths it depends on.
    pub deps: Vec<String>,
    /// Whether the state records it as created (so `up` will not create it again).
    pub exists: bool,
}

/// What `up` would do.
#[derive(Clone, Debug, Serialize, Default)]
pub struct Plan {
    /// Resources in an order `up` may create them.
    pub resources: Vec<PlannedResource>,
    /// Config tasks (by name) in an order they may run.
    pub tasks: Vec<String>,
    /// Task dependencies by name.
    pub task_edges: Vec<(String, String)>,
    /// `(role, variable, what is missing)` for every variable that does not resolve yet. Variables
    /// waiting for provisioning outputs resolve during `up`; others are errors to fix.
    pub unresolved: Vec<(String, String, String)>,
}

impl Plan {
    /// Whether some resource has no proxy (then `up` would fail before any cloud call).
    pub fn has_errors(&self) -> bool {
        self.resources.iter().any(|r| r.proxy.is_err())
    }

    /// The dependency graph in Graphviz `dot` or Mermaid syntax.
    pub fn graph(&self, format: GraphFormat) -> String {
        let mut nodes: Vec<&str> = Vec::new();
        let mut edges: Vec<(&str, &str)> = Vec::new();
        for r in &self.resources {
            nodes.push(&r.key);
            edges.extend(r.deps.iter().map(|d| (d.as_str(), r.key.as_str())));
        }
        nodes.extend(self.tasks.iter().map(String::as_str));
        edges.extend(
            self.task_edges
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str())),
        );
        let id: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let mut out = String::new();
        match format {
            GraphFormat::Dot => {
                out.push_str("digraph actuator {\n");
                for n in &nodes {
                    out.push_str(&format!("  {:?};\n", n));
                }
                for (a, b) in &edges {
                    out.push_str(&format!("  {a:?} -> {b:?};\n"));
                }
                out.push_str("}\n");
            }
            GraphFormat::Mermaid => {
                out.push_str("graph TD\n");
                for (i, n) in nodes.iter().enumerate() {
                    out.push_str(&format!("  n{i}[\"{}\"]\n", n.replace('"', "'")));
                }
                for (a, b) in &edges {
                    out.push_str(&format!("  n{} --> n{}\n", id[a], id[b]));
                }
            }
        }
        out
    }
}

/// Output syntax of [`Plan::graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid.
    Mermaid,
}

impl ActuatorOrchestration {
    /// What `up` would do; reads the state (to say what exists) but calls no cloud.
    pub fn plan(&mut self) -> Result<Plan, String> {
        self.restore_outputs()?;
        let state = self.state()?;
        let proxies = self.all_proxies();
        let mut plan = Plan::default();
        if let Some(w) = self.world.clone() {
            let g = w.lock();
            if let Some(infra) = g.infra() {
                let leaves: Vec<(At, String, String, Option<String>)> = infra
                    .leaves()
                    .map(|(n, e)| {
                        let at = At {
                            model: infra.id,
                            node: n,
                        };
                        (
                            at,
                            g.describe(at),
                            e.kind().to_owned(),
                            e.cloud().map(str::to_owned),
                        )
                    })
                    .collect();
                let index: HashMap<At, usize> =
                    leaves.iter().enumerate().map(|(i, l)| (l.0, i)).collect();
                let mut dag = Dag::new(leaves.len());
                let mut deps: Vec<Vec<String>> = vec![Vec::new(); leaves.len()];
                for (a, b) in g.edges() {
                    if let (Some(&ia), Some(&ib)) = (index.get(&a), index.get(&b)) {
                        dag.add_edge(NodeId(ia as u32), NodeId(ib as u32));
                        deps[ib].push(leaves[ia].1.clone());
                    }
                }
                let order = dag.check_acyclic().map_err(|e| e.to_string())?;
                for n in order {
                    let (_, key, kind, cloud) = &leaves[n.index()];
                    plan.resources.push(PlannedResource {
                        proxy: select(&proxies, kind, cloud.as_deref(), key)
                            .map(|p| p.name().to_owned())
                            .map_err(|e| e.to_string()),
                        exists: state
                            .get(key)
                            .is_some_and(|e| e.status == EntryStatus::Created),
                        deps: deps[n.index()].clone(),
                        key: key.clone(),
                        kind: kind.clone(),
                    });
                }
            }
        }
        if let Some(graph) = &self.graph {
            let g = graph();
            let order = g
                .topo_order()
                .map_err(|c| format!("dependency cycle among {}", c.join(", ")))?;
            plan.tasks = order.into_iter().map(|i| g.nodes[i].name.clone()).collect();
            plan.task_edges = g.edge_names();
        }
        if let Some(report) = &self.report {
            for r in report() {
                for v in r.unresolved() {
                    plan.unresolved
                        .push((r.role.clone(), v.name.clone(), v.missing.join(", ")));
                }
            }
        }
        Ok(plan)
    }

    /// The variable report of the namespace, if one was given, with the outputs the state records
    /// (so variables reading a previous run's addresses resolve).
    pub fn report(&mut self) -> Option<Vec<crate::namespace::RoleReport>> {
        if let Err(e) = self.restore_outputs() {
            tracing::warn!(error = %e, "the report shows no provisioned outputs");
        }
        self.report.as_ref().map(|r| r())
    }
}
