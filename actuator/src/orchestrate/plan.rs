//! `plan`: the diff between the model, the state and — after a refresh — the cloud. Per resource:
//! create, update in place (each changed argument, old → new), replace (naming the argument that
//! forces it), destroy (in the state, not in the model) or unchanged; per config task: run,
//! re-run (and why) or skip. `up` applies exactly this; `down` is the plan that destroys
//! everything the state records.
//!
//! The plan is computed from the state's recorded arguments, so it needs no cloud call; a refresh
//! ([`PlanOptions::refresh`]) asks each proxy to [`read`](crate::provision::ProvisionerProxy::read)
//! what the state records first, and a resource deleted behind the tool's back is planned for
//! creation again.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::sync::Arc;

use foldhash::{HashMap as FastMap, HashSet as FastSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ActuatorOrchestration;
use crate::dag::{Dag, NodeId};
use crate::model::{At, Element};
use crate::parallel;
use crate::provision::{Observed, Outputs, Provisioned, ProvisionerProxy, Scope, select};
use crate::state::{Data, Entry, EntryStatus, State};

/// Version of the plan's JSON form (`plan --json`, `plan --out`); see `docs/plan.schema.json`.
pub const PLAN_SCHEMA: u32 = 1;

/// Keys of config-task records start with this; they are forgotten, never deleted.
pub(super) const TASK_PREFIX: &str = "task:";
/// A resource set aside while its replacement is created (create-before-destroy) is recorded
/// under its path with this suffix until it is deleted.
pub(super) const DEPOSED: &str = "#deposed";
/// In a resource's record: the id each resource it depends on had when it was recorded.
pub(super) const DEP_IDS: &str = "dep_ids";

/// What `up` does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceAction {
    /// `+` create it.
    Create,
    /// `~` change arguments in place.
    Update,
    /// `-/+` delete and create again (an argument that cannot change in place changed).
    Replace,
    /// `-` delete it (the state has it, the model no longer does).
    Destroy,
    /// `=` nothing to do.
    Unchanged,
}

impl ResourceAction {
    /// The sign the plan prints: `+`, `~`, `-/+`, `-`, `=`.
    pub fn sign(self) -> &'static str {
        match self {
            ResourceAction::Create => "+",
            ResourceAction::Update => "~",
            ResourceAction::Replace => "-/+",
            ResourceAction::Destroy => "-",
            ResourceAction::Unchanged => "=",
        }
    }
}

/// One changed argument.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgChange {
    /// The argument.
    pub arg: String,
    /// The value the state records (`null`: none).
    pub old: Value,
    /// The value the model gives (`"(known after apply)"` when it depends on a resource that is
    /// created or replaced in this run).
    pub new: Value,
    /// Whether this change forces a replacement (the resource type does not update it in place).
    pub forces_replacement: bool,
}

/// What `up` does to one resource, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceChange {
    /// Model path (the key in the state). Shared with the plan's other records of it.
    #[serde(deserialize_with = "crate::state::shared_str")]
    pub key: Arc<str>,
    /// Kind (shared by the resources of a kind).
    #[serde(deserialize_with = "crate::state::shared_str")]
    pub kind: Arc<str>,
    /// The proxy that carries it out (shared by the resources it carries out).
    #[serde(deserialize_with = "crate::state::shared_str")]
    pub proxy: Arc<str>,
    /// What happens.
    pub action: ResourceAction,
    /// Why, when the arguments alone do not say (drift, an interrupted run, `--replace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The changed arguments (update and replace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<ArgChange>,
    /// A replacement is created before the old resource is deleted.
    #[serde(default)]
    pub create_before_destroy: bool,
    /// Model paths it depends on.
    #[serde(default)]
    pub deps: Vec<String>,
    /// Protected: never deleted or replaced unless allowed.
    #[serde(default)]
    pub protect: bool,
}

/// What `up` does to one config task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskAction {
    /// Never ran (or did not finish): run it.
    Run,
    /// Ran before, but something it depends on changed: run it again.
    Rerun,
    /// Ran before with the same inputs: skip it.
    Skip,
}

/// One config task in the plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskChange {
    /// The task's name.
    pub name: String,
    /// What happens.
    pub action: TaskAction,
    /// Why it re-runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The role it runs for (model path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// The infra resource its commands run on (model path; none for a named host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// A variable that does not resolve yet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unresolved {
    /// The role reading it.
    pub role: String,
    /// The variable.
    pub variable: String,
    /// What it is missing.
    pub missing: String,
}

/// Something that stops the plan from being applied, found before any cloud call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanBlocker {
    /// The resource or task it is about.
    pub key: String,
    /// What is wrong.
    pub error: String,
}

/// How many of each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Resources to create.
    pub add: usize,
    /// Resources to update in place.
    pub change: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub destroy: usize,
    /// Resources left as they are.
    pub unchanged: usize,
    /// Tasks to run or re-run.
    pub tasks_to_run: usize,
    /// Tasks skipped as done.
    pub tasks_skipped: usize,
}

/// What `up` (or `down`) will do.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_SCHEMA`].
    pub schema: u32,
    /// The system.
    pub system: String,
    /// The workspace.
    pub workspace: String,
    /// The state's last record when the plan was made: a saved plan is applied only to that state.
    pub state_seq: u64,
    /// Whether the cloud was read first.
    pub refreshed: bool,
    /// Resources, in the order `up` may act on them.
    pub resources: Vec<ResourceChange>,
    /// Config tasks, in an order they may run.
    pub tasks: Vec<TaskChange>,
    /// Task dependencies by name.
    pub task_edges: Vec<(String, String)>,
    /// Variables that do not resolve yet: those waiting for provisioning outputs resolve during
    /// `up`; the others are errors to fix.
    pub unresolved: Vec<Unresolved>,
    /// Why the plan cannot be applied (no proxy for a resource, an invalid argument, a protected
    /// resource that would be deleted).
    pub errors: Vec<PlanBlocker>,
    /// Counts.
    pub summary: Summary,
    /// What applying needs beyond the printable plan.
    /// Shared with the walk that applies it rather than copied for it.
    #[serde(skip)]
    pub(super) items: Arc<Vec<Item>>,
}

/// A resource step with what applying it needs.
#[derive(Clone)]
pub(super) struct Item {
    /// Its model path and kind, shared with the state's entry and the journal's records.
    pub key: Arc<str>,
    pub kind: Arc<str>,
    pub proxy: Arc<dyn ProvisionerProxy>,
    /// Where it is in the model (`None`: only the state has it).
    pub at: Option<At>,
    pub action: ResourceAction,
    /// Changed arguments the proxy updates in place (updates).
    pub changed: Vec<String>,
    pub cbd: bool,
    /// The resource as the state records it (update, replace, destroy): see [`Old`].
    pub old: Option<Old>,
    /// A create that must not adopt this resource: the old one of a replacement, set aside.
    pub replaces: Option<Box<Provisioned>>,
    /// The model paths the state records it depending on (what it held on to when created).
    pub recorded_deps: Vec<String>,
    /// The model paths it depends on now.
    pub deps: Vec<String>,
    /// Where each of `deps` is in the model (its outputs are read there).
    pub dep_at: Vec<At>,
    pub protect: bool,
    /// Its state entry's status when planned (`None`: the state has none). A plan is applied
    /// only to the state it was made from.
    pub status: Option<EntryStatus>,
}

/// The resource an item's step acts on, as the state records it.
#[derive(Clone)]
pub(super) enum Old {
    /// Built by the plan (an update or a replacement, a resource found by discovery). Boxed, as
    /// `replaces`: most items of a large plan have neither, and an item is a third of its size
    /// without them.
    Built(Box<Provisioned>),
    /// Built by the deletion's step from the state entry's data: a plan that deletes thousands of
    /// resources reads each one's outputs where (and when) its deletion runs, not all of them
    /// first, and holds none of them.
    Entry {
        data: Data,
        /// Where in `data`'s text its outputs are: the plan read the rest of it (proxy,
        /// dependencies), so the step parses only them, not the whole record again.
        outputs: Option<Range<usize>>,
    },
}

impl Item {
    /// The resource its step acts on, under the model path `key` (a set-aside resource is
    /// deleted under its own path). `scope`: whose it is.
    pub(super) fn recorded(&self, scope: &Arc<Scope>, key: &str) -> Option<Cow<'_, Provisioned>> {
        // The item's own key is shared; only a set-aside resource's path is made anew.
        let shared = || {
            if &*self.key == key {
                self.key.clone()
            } else {
                Arc::from(key)
            }
        };
        Some(match self.old.as_ref()? {
            Old::Built(p) if &*p.key == key => Cow::Borrowed(&**p),
            Old::Built(p) => Cow::Owned(Provisioned {
                key: shared(),
                ..(**p).clone()
            }),
            Old::Entry { data, outputs } => Cow::Owned(Provisioned {
                scope: scope.clone(),
                kind: self.kind.clone(),
                key: shared(),
                outputs: parse_outputs(outputs.clone().map(|r| &data.text()[r])),
            }),
        })
    }
}

impl std::fmt::Debug for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.action.sign(), self.key)
    }
}

/// What to plan for.
#[derive(Clone, Debug, Default)]
pub struct PlanOptions {
    /// Read every recorded resource from its cloud first (drift, resources deleted behind the
    /// tool's back). `plan` and `up` do by default.
    pub refresh: bool,
    /// Replace these resources (model paths) even if nothing changed (`--replace`).
    pub replace: Vec<String>,
    /// Re-run these tasks (by name; empty with `reconfigure_all`) even if their inputs did not change.
    pub reconfigure: Vec<String>,
    /// Re-run every task (`--reconfigure` without names).
    pub reconfigure_all: bool,
    /// Only these paths (and what they need): `--target`. Empty: everything.
    pub targets: Vec<String>,
    /// Leave these paths (and what needs them) alone: `--exclude`.
    pub excludes: Vec<String>,
    /// Plan the deletion of everything the state records (`down`).
    pub destroy: bool,
    /// Allow deleting or replacing protected resources.
    pub allow_destroy_protected: bool,
}

impl Plan {
    /// Whether applying it changes anything (resources or tasks).
    pub fn has_changes(&self) -> bool {
        let s = &self.summary;
        s.add + s.change + s.replace + s.destroy + s.tasks_to_run > 0
    }

    /// Whether something stops it from being applied.
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// `Plan: 3 to add, 1 to change, 2 to replace, 4 to destroy; 7 tasks to run.`
    pub fn summary_line(&self) -> String {
        let s = &self.summary;
        format!(
            "Plan: {} to add, {} to change, {} to replace, {} to destroy; {} task{} to run.",
            s.add,
            s.change,
            s.replace,
            s.destroy,
            s.tasks_to_run,
            if s.tasks_to_run == 1 { "" } else { "s" }
        )
    }

    fn count(&mut self) {
        let mut s = Summary::default();
        for r in &self.resources {
            match r.action {
                ResourceAction::Create => s.add += 1,
                ResourceAction::Update => s.change += 1,
                ResourceAction::Replace => s.replace += 1,
                ResourceAction::Destroy => s.destroy += 1,
                ResourceAction::Unchanged => s.unchanged += 1,
            }
        }
        for t in &self.tasks {
            match t.action {
                TaskAction::Skip => s.tasks_skipped += 1,
                _ => s.tasks_to_run += 1,
            }
        }
        self.summary = s;
    }

    /// The actions of two plans agree (a saved plan against a fresh one for the same state).
    pub fn same_actions(&self, other: &Plan) -> bool {
        let key = |p: &Plan| {
            let mut r: Vec<(String, ResourceAction)> = p
                .resources
                .iter()
                .map(|r| (r.key.to_string(), r.action))
                .collect();
            r.sort();
            let mut t: Vec<(String, TaskAction)> =
                p.tasks.iter().map(|t| (t.name.clone(), t.action)).collect();
            t.sort_by(|a, b| a.0.cmp(&b.0));
            (r, t)
        };
        key(self) == key(other)
    }

    /// The dependency graph in Graphviz `dot` or Mermaid syntax. Nodes are of three kinds —
    /// resources (boxes), roles (ellipses) and tasks (rounded boxes) — and edges run from what
    /// comes first: resource to the resource that refers to it, task to the task after it, a
    /// task's host resource to the task (`host`), and its role to it (`role`).
    pub fn graph(&self, format: GraphFormat) -> String {
        self.graph_builder().render(format)
    }

    /// The same graph as data (`graph --json`): each node with its id (`n0`, `n1`, … as in the
    /// DOT and Mermaid forms), kind and name, and each edge by node ids with its label.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use actuator::orchestrate::{ActuatorOrchestration, GraphNodeKind};
    /// use actuator::infra::test::{Network, Server};
    /// use actuator::prelude::*;
    /// use actuator::provision::SimProxy;
    ///
    /// #[derive(InfraModel)]
    /// struct Small {
    ///     #[component(Network::new("net"))]
    ///     net: Network,
    ///     #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    ///     web: Server,
    /// }
    ///
    /// let infra = Small::instance("small");
    /// let mut orch = ActuatorOrchestration::new("doc-graph")
    ///     .infra(&infra)
    ///     .proxy(Arc::new(SimProxy::default()))
    ///     .memory_state();
    /// let g = orch.plan().unwrap().graph_data();
    /// assert!(g.nodes.iter().all(|n| n.kind == GraphNodeKind::Resource));
    /// let id = |name: &str| g.nodes.iter().find(|n| n.name == name).unwrap().id.clone();
    /// assert_eq!((g.edges[0].from.clone(), g.edges[0].to.clone()), (id("Small.net"), id("Small.web")));
    /// ```
    pub fn graph_data(&self) -> Graph {
        self.graph_builder().data()
    }

    fn graph_builder(&self) -> GraphBuilder<'_> {
        let mut g = GraphBuilder::default();
        for r in self
            .resources
            .iter()
            .filter(|r| r.action != ResourceAction::Destroy)
        {
            g.node(GraphNodeKind::Resource, &r.key);
        }
        for r in self
            .resources
            .iter()
            .filter(|r| r.action != ResourceAction::Destroy)
        {
            for d in &r.deps {
                g.edge(
                    (GraphNodeKind::Resource, d),
                    (GraphNodeKind::Resource, &r.key),
                    None,
                );
            }
        }
        for t in &self.tasks {
            g.node(GraphNodeKind::Task, &t.name);
            if let Some(role) = &t.role {
                g.node(GraphNodeKind::Role, role);
                g.edge(
                    (GraphNodeKind::Role, role),
                    (GraphNodeKind::Task, &t.name),
                    Some("role"),
                );
            }
            if let Some(host) = &t.host {
                g.edge(
                    (GraphNodeKind::Resource, host),
                    (GraphNodeKind::Task, &t.name),
                    Some("host"),
                );
            }
        }
        for (a, b) in &self.task_edges {
            g.edge((GraphNodeKind::Task, a), (GraphNodeKind::Task, b), None);
        }
        g
    }
}

/// The kinds of node in [`Plan::graph`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphNodeKind {
    /// An infra resource (its model path).
    Resource,
    /// A namespace role.
    Role,
    /// A config task.
    Task,
}

/// [`Plan::graph`] as data ([`Plan::graph_data`]; the `graph` event of `graph --json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Graph {
    /// Every node, each once.
    pub nodes: Vec<GraphNode>,
    /// Every edge, from what comes first.
    pub edges: Vec<GraphEdge>,
}

/// A node of a [`Graph`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphNode {
    /// `n0`, `n1`, …: the id the edges use (and the DOT / Mermaid forms).
    pub id: String,
    /// Resource, role or task.
    pub kind: GraphNodeKind,
    /// The resource's or role's model path, or the task's name.
    pub name: String,
}

/// An edge of a [`Graph`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphEdge {
    /// The node that comes first.
    pub from: String,
    /// The node after it.
    pub to: String,
    /// `host` (a task's host resource), `role` (a task's role), or none (a dependency).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<&'static str>,
}

impl GraphNodeKind {
    fn name(self) -> &'static str {
        match self {
            GraphNodeKind::Resource => "resource",
            GraphNodeKind::Role => "role",
            GraphNodeKind::Task => "task",
        }
    }
}

/// Nodes (by kind and name: a task may share its name with a role) and labelled edges, each
/// once, in the order first seen.
#[derive(Default)]
struct GraphBuilder<'p> {
    nodes: Vec<(GraphNodeKind, &'p str)>,
    ids: HashMap<(GraphNodeKind, &'p str), usize>,
    edges: Vec<(usize, usize, Option<&'static str>)>,
}

impl<'p> GraphBuilder<'p> {
    fn node(&mut self, kind: GraphNodeKind, name: &'p str) -> usize {
        let next = self.nodes.len();
        *self.ids.entry((kind, name)).or_insert_with(|| {
            self.nodes.push((kind, name));
            next
        })
    }

    /// An edge between known nodes (an edge to something the plan does not show is left out).
    fn edge(
        &mut self,
        from: (GraphNodeKind, &'p str),
        to: (GraphNodeKind, &'p str),
        label: Option<&'static str>,
    ) {
        if let (Some(&a), Some(&b)) = (self.ids.get(&from), self.ids.get(&to)) {
            self.edges.push((a, b, label));
        }
    }

    fn data(&self) -> Graph {
        Graph {
            nodes: self
                .nodes
                .iter()
                .enumerate()
                .map(|(i, (kind, name))| GraphNode {
                    id: format!("n{i}"),
                    kind: *kind,
                    name: (*name).to_owned(),
                })
                .collect(),
            edges: self
                .edges
                .iter()
                .map(|(a, b, label)| GraphEdge {
                    from: format!("n{a}"),
                    to: format!("n{b}"),
                    label: *label,
                })
                .collect(),
        }
    }

    fn render(&self, format: GraphFormat) -> String {
        let mut out = String::new();
        match format {
            GraphFormat::Dot => {
                out.push_str("digraph actuator {\n");
                for (i, (kind, name)) in self.nodes.iter().enumerate() {
                    let shape = match kind {
                        GraphNodeKind::Resource => "box",
                        GraphNodeKind::Role => "ellipse",
                        GraphNodeKind::Task => "box, style=rounded",
                    };
                    out.push_str(&format!(
                        "  n{i} [label={name:?}, shape={shape}, kind={:?}];\n",
                        kind.name()
                    ));
                }
                for (a, b, label) in &self.edges {
                    match label {
                        Some(l) => out.push_str(&format!("  n{a} -> n{b} [label={l:?}];\n")),
                        None => out.push_str(&format!("  n{a} -> n{b};\n")),
                    }
                }
                out.push_str("}\n");
            }
            GraphFormat::Mermaid => {
                out.push_str("graph TD\n");
                out.push_str("  classDef resource fill:#e8f0fe,stroke:#4a6fa5\n");
                out.push_str("  classDef role fill:#fef6e0,stroke:#b58900\n");
                out.push_str("  classDef task fill:#eaf7ea,stroke:#3a7d3a\n");
                for (i, (kind, name)) in self.nodes.iter().enumerate() {
                    let text = name.replace('"', "'");
                    out.push_str(&match kind {
                        GraphNodeKind::Resource => format!("  n{i}[\"{text}\"]\n"),
                        GraphNodeKind::Role => format!("  n{i}([\"{text}\"])\n"),
                        GraphNodeKind::Task => format!("  n{i}(\"{text}\")\n"),
                    });
                }
                for (a, b, label) in &self.edges {
                    match label {
                        Some(l) => out.push_str(&format!("  n{a} -->|{l}| n{b}\n")),
                        None => out.push_str(&format!("  n{a} --> n{b}\n")),
                    }
                }
                for kind in [
                    GraphNodeKind::Resource,
                    GraphNodeKind::Role,
                    GraphNodeKind::Task,
                ] {
                    let members: Vec<String> = (0..self.nodes.len())
                        .filter(|&i| self.nodes[i].0 == kind)
                        .map(|i| format!("n{i}"))
                        .collect();
                    if !members.is_empty() {
                        out.push_str(&format!("  class {} {}\n", members.join(","), kind.name()));
                    }
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

/// Whether `key` is `path` or inside it (`Infra.workers` selects `Infra.workers.3`).
fn selects(path: &str, key: &str) -> bool {
    key == path
        || key
            .strip_prefix(path)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('#'))
}

/// A resource's state entry as the orchestrator records it (see `apply::Completion`), read
/// without copying: the strings and the raw arguments borrow from the entry's text. Missing
/// fields (an intent's data has only the proxy and dependencies) and data of another shape (a
/// hand-made state) read as empty.
#[derive(Deserialize, Default)]
pub(super) struct Recorded<'a> {
    #[serde(default, borrow)]
    pub proxy: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub deps: Vec<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub args: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub outputs: Option<&'a RawValue>,
    #[serde(default)]
    pub protect: bool,
    /// The id each dependency had when this was recorded (`DEP_IDS`).
    #[serde(default, borrow)]
    pub dep_ids: Option<&'a RawValue>,
}

impl<'a> Recorded<'a> {
    pub(super) fn of(e: &'a Entry) -> Self {
        e.data.parse().unwrap_or_default()
    }

    /// The recorded outputs (a value that is not a string reads as empty).
    pub(super) fn outputs(&self) -> Outputs {
        parse_outputs(self.outputs.map(RawValue::get))
    }

    /// Where the recorded outputs are in `data`, which this was read from.
    fn outputs_span(&self, data: &Data) -> Option<Range<usize>> {
        let outputs = self.outputs?.get();
        // A borrowed raw value can only point into the text it was parsed from.
        let start = outputs.as_ptr() as usize - data.text().as_ptr() as usize;
        let span = start..start + outputs.len();
        debug_assert_eq!(data.text().get(span.clone()), Some(outputs));
        Some(span)
    }

    /// The entry `e` this was read from, as the proxy that made it sees it.
    pub(super) fn provisioned(&self, scope: &Arc<Scope>, e: &Entry) -> Provisioned {
        Provisioned {
            scope: scope.clone(),
            kind: e.kind.clone(),
            key: e.key.clone(),
            outputs: self.outputs(),
        }
    }
}

/// Fewest recorded entries worth reading on more than one core (or a plan's items worth freeing
/// on another thread).
pub(super) const PARALLEL_FROM: usize = 2048;

/// Recorded outputs, as JSON text (a value that is not a string reads as empty).
fn parse_outputs(text: Option<&str>) -> Outputs {
    let Some(text) = text else {
        return Outputs::new();
    };
    serde_json::from_str(text).unwrap_or_else(|_| {
        let m: BTreeMap<String, Value> = serde_json::from_str(text).unwrap_or_default();
        m.into_iter()
            .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_owned()))
            .collect()
    })
}

/// The resources `e` refers to that were replaced since `e` was recorded: the id each had then
/// (`dep_ids`, written with `e`'s completion) is not the id the state records now. A run cut short
/// between a replacement and the update of what refers to it, or `up --target` of the replaced
/// resource alone, leaves such references; the plan moves them as if the replacement were in it.
fn replaced_since(state: &State, rec: &Recorded) -> Vec<String> {
    let Some(seen) = rec.dep_ids else {
        return Vec::new();
    };
    let seen: BTreeMap<Cow<str>, Value> = serde_json::from_str(seen.get()).unwrap_or_default();
    seen.iter()
        .filter(|(dep, id)| recorded_id(state, dep).is_some_and(|now| id.as_str() != Some(&now)))
        .map(|(dep, _)| dep.to_string())
        .collect()
}

/// The model paths a recorded argument value refers to (`{"ref": path}` at any depth).
fn refs_in<'v>(v: &'v Value, out: &mut Vec<&'v str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(p)) = m.get("ref") {
                out.push(p);
            }
            m.values().for_each(|v| refs_in(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs_in(v, out)),
        _ => {}
    }
}

/// The recorded dependencies of a state entry.
pub(super) fn recorded_deps(rec: &Recorded) -> Vec<String> {
    rec.deps.iter().map(|d| d.to_string()).collect()
}

/// The `id` output the state records for the resource at `path`.
fn recorded_id(state: &State, path: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Id<'a> {
        #[serde(borrow)]
        id: Option<Cow<'a, str>>,
    }
    let outputs = Recorded::of(state.get(path)?).outputs?;
    serde_json::from_str::<Id>(outputs.get())
        .ok()?
        .id
        .map(Cow::into_owned)
}

/// The outputs recorded in a state entry (a value that is not a string reads as empty).
pub(super) fn recorded_outputs(e: &Entry) -> Outputs {
    Recorded::of(e).outputs()
}

/// One model resource while planning.
struct ModelRes {
    at: At,
    /// Taken out of the model with the rest, not under a lock of its own for each check.
    element: Arc<dyn Element>,
    /// Shared with the plan's item and, once recorded, the state's entry.
    key: Arc<str>,
    /// One block per kind, shared by all the resources of that kind.
    kind: Arc<str>,
    proxy: Option<Arc<dyn ProvisionerProxy>>,
    deps: Vec<usize>,
    protect: bool,
    policy: crate::model::args::ChangePolicy,
}

/// Puts `items[order[i]]` at position `i`, for every `i` (`order` a permutation), by following
/// each cycle of the permutation with swaps.
fn permute<T>(items: &mut [T], order: &[NodeId]) {
    let mut placed = vec![false; items.len()];
    for start in 0..items.len() {
        // Along the cycle, each position takes its resource from the next one; the resource first
        // at `start` travels with the swaps to the position whose source `start` is.
        let mut i = start;
        while !placed[i] {
            placed[i] = true;
            let from = order[i].index();
            if from == start {
                break;
            }
            items.swap(i, from);
            i = from;
        }
    }
}

impl ActuatorOrchestration {
    /// The resources of the model, in a topological order, with their proxies; every selection
    /// and validation problem is reported, none stops the collection.
    fn model_resources(
        &self,
        proxies: &[Arc<dyn ProvisionerProxy>],
        errors: &mut Vec<PlanBlocker>,
    ) -> Result<Vec<ModelRes>, String> {
        let Some(w) = &self.world else {
            return Ok(Vec::new());
        };
        let g = w.lock();
        let Some(infra) = g.infra() else {
            return Ok(Vec::new());
        };
        let mut res: Vec<ModelRes> = Vec::new();
        let mut kinds: FastMap<&str, Arc<str>> = FastMap::default();
        for (n, e) in infra.leaves() {
            let at = At {
                model: infra.id,
                node: n,
            };
            let key = g.describe(at);
            let proxy = match select(proxies, e.kind(), e.cloud(), &key) {
                Ok(p) => Some(p.clone()),
                Err(err) => {
                    errors.push(PlanBlocker {
                        key: key.clone(),
                        error: err.to_string(),
                    });
                    None
                }
            };
            res.push(ModelRes {
                at,
                element: g.element_arc(at).expect("a leaf has an element"),
                key: key.into(),
                kind: kinds
                    .entry(e.kind())
                    .or_insert_with(|| e.kind().into())
                    .clone(),
                proxy,
                deps: Vec::new(),
                protect: infra.protected.contains(&n),
                policy: e.change_policy(),
            });
        }
        let index: FastMap<At, usize> = res.iter().enumerate().map(|(i, r)| (r.at, i)).collect();
        let mut dag = Dag::new(res.len());
        for (a, b) in g.edges() {
            if let (Some(&ia), Some(&ib)) = (index.get(&a), index.get(&b)) {
                dag.add_edge(NodeId(ia as u32), NodeId(ib as u32));
                res[ib].deps.push(ia);
            }
        }
        let order = dag.check_acyclic().map_err(|e| {
            let names: Vec<&str> = e.cycle.iter().map(|n| &*res[n.index()].key).collect();
            format!("dependency cycle among resources: {}", names.join(" -> "))
        })?;
        // Reorder so that dependencies come first, in place (a second list of every resource was
        // megabytes of fresh memory to fault in); deps are remapped to the new positions.
        let mut pos = vec![0usize; res.len()];
        for (new, old) in order.iter().enumerate() {
            pos[old.index()] = new;
        }
        permute(&mut res, &order);
        for r in &mut res {
            for d in &mut r.deps {
                *d = pos[*d];
            }
        }
        Ok(res)
    }

    /// The pre-flight of each resource before any cloud call: its typed arguments parse and its
    /// proxy validates it. (The variables its arguments read are checked as the diff resolves
    /// them.)
    fn validate(&self, res: &[ModelRes], scope: &Arc<Scope>, errors: &mut Vec<PlanBlocker>) {
        let Some(w) = &self.world else { return };
        let Some(first) = res.first() else { return };
        // One context, moved from resource to resource: not two reference counts taken and
        // dropped for each.
        let mut cx = crate::provision::ProvisionCx::new(w.clone(), first.at, scope.clone());
        for r in res {
            self.check_typed_args(&*r.element, &r.key, errors);
            if let Some(p) = &r.proxy {
                cx.move_to(r.at);
                for invalid in p.validate(&cx) {
                    errors.push(PlanBlocker {
                        key: r.key.to_string(),
                        error: invalid.to_string(),
                    });
                }
            }
        }
    }

    /// Computes the plan. `observed` holds what a refresh read (empty without one).
    pub(super) fn diff(
        &self,
        state: &State,
        scope: &Scope,
        salt: &str,
        observed: &HashMap<String, Observed>,
        opts: &PlanOptions,
    ) -> Result<Plan, String> {
        let proxies = self.all_proxies();
        let mut errors = Vec::new();
        // Where the errors of variables that arguments read but nothing defines go: after the
        // other checks of the resources, before those of the outputs (found in the diff, which
        // resolves the arguments once for both).
        let (mut undefined, mut undefined_at) = (Vec::new(), 0);
        // One copy of the scope for every resource's context and recorded resource, not one each.
        let scope = Arc::new(scope.clone());
        let model = if opts.destroy {
            Vec::new()
        } else {
            self.check_foreign_refs(&mut errors);
            let m = self.model_resources(&proxies, &mut errors)?;
            self.validate(&m, &scope, &mut errors);
            undefined_at = errors.len();
            self.check_output_vars(&mut errors);
            m
        };
        // Room for the deletions too (all of a teardown's items), rather than lists that double
        // and copy themselves while the state's entries are pushed.
        let room = model.len().max(state.len());
        let mut items: Vec<Item> = Vec::with_capacity(room);
        let mut changes: Vec<ResourceChange> = Vec::with_capacity(room);
        // Each proxy's name once, shared by the changes it carries out.
        let mut proxy_names: FastMap<String, Arc<str>> = FastMap::default();
        let mut proxy_name = |name: &str| -> Arc<str> {
            if let Some(n) = proxy_names.get(name) {
                return n.clone();
            }
            proxy_names
                .entry(name.to_owned())
                .or_insert_with(|| name.into())
                .clone()
        };
        // Resources whose identity changes in this run (created or replaced): what refers to them
        // sees new ids. A flag per position in the model, found by path in `in_model` (hashed with
        // foldhash, as the state's index), where a set of paths grew and rehashed itself through a
        // first `up` (every resource renewed).
        let mut renewed = vec![false; model.len()];
        // Used only with entries in the state (a first `up` has none).
        let in_model: FastMap<&str, usize> = if state.is_empty() {
            FastMap::default()
        } else {
            model
                .iter()
                .enumerate()
                .map(|(i, r)| (&*r.key, i))
                .collect()
        };
        // The model paths whose earlier replacement's old resource is still set aside: looked up
        // once, rather than a `<path>#deposed` key made and looked up for every resource.
        let set_aside: FastSet<&str> = state
            .iter()
            .filter_map(|e| e.key.strip_suffix(DEPOSED))
            .collect();
        // Each resource's entry read first, on every core: the records are independent, and
        // reading them is most of a large plan's work (only the entries there are: a first `up`
        // reads none).
        let entries: Vec<Option<&Entry>> = model.iter().map(|r| state.get(&r.key)).collect();
        let there: Vec<&Entry> = entries.iter().flatten().copied().collect();
        let mut read = parallel::map(&there, PARALLEL_FROM, |e| Recorded::of(e));
        for (pos, (r, entry)) in model.iter().zip(entries).enumerate() {
            let recorded = match entry {
                Some(_) => read.next().expect("one read for each entry there is"),
                None => Recorded::default(),
            };
            // The arguments, resolved once for the check of the variables they read and the
            // comparison with the recorded ones; without an entry to compare with, only which
            // variables they read is needed.
            let read_args = crate::provision::args_reading(
                self.world.as_ref().expect("a model"),
                &*r.element,
                salt,
                entry.is_some(),
            );
            self.check_vars_read(&read_args.vars, &r.key, &mut undefined);
            let Some(proxy) = r.proxy.clone() else {
                continue;
            };
            let deps: Vec<String> = r.deps.iter().map(|&d| model[d].key.to_string()).collect();
            let mut change = ResourceChange {
                key: r.key.clone(),
                kind: r.kind.clone(),
                proxy: proxy_name(proxy.name()),
                action: ResourceAction::Unchanged,
                reason: None,
                changes: Vec::new(),
                create_before_destroy: r.policy.create_before_destroy,
                deps: deps.clone(),
                protect: r.protect,
            };
            let mut updatable = Vec::new();
            match entry {
                None => change.action = ResourceAction::Create,
                Some(e) => match e.status {
                    EntryStatus::Creating | EntryStatus::CreateFailed => {
                        change.action = ResourceAction::Create;
                        // In doubt: the create may have been sent, or (an intent recorded ahead
                        // of a walk that stopped) never started; the proxy looks it up first.
                        change.reason = Some(if e.status == EntryStatus::Creating {
                            "a previous run stopped before recording it as created".into()
                        } else {
                            "a previous create failed".into()
                        });
                    }
                    EntryStatus::Deleting | EntryStatus::DeleteFailed => {
                        change.action = ResourceAction::Replace;
                        change.create_before_destroy = false;
                        change.reason = Some("a previous delete did not finish".into());
                    }
                    EntryStatus::Created | EntryStatus::Updating => {
                        if observed.get(&*r.key) == Some(&Observed::Gone) {
                            change.action = ResourceAction::Create;
                            change.reason = Some("deleted outside actuator (drift)".into());
                        } else {
                            let new = &read_args.args;
                            // The recorded arguments are the text the model's serialize to
                            // when nothing changed: only a difference is parsed and compared
                            // argument by argument.
                            let same = recorded.args.is_some_and(|old| {
                                serde_json::to_string(&new).is_ok_and(|t| t == old.get())
                            });
                            let old: Option<serde_json::Map<String, Value>> = if same {
                                None
                            } else {
                                recorded
                                    .args
                                    .and_then(|a| serde_json::from_str(a.get()).ok())
                            };
                            let moved = replaced_since(state, &recorded);
                            let mut names: Vec<&str> = new.keys().copied().collect();
                            if let Some(old) = &old {
                                names.extend(old.keys().map(String::as_str));
                            }
                            names.sort_unstable();
                            names.dedup();
                            for name in names {
                                let n = new.get(name).unwrap_or(&Value::Null);
                                let o = match &old {
                                    _ if same => n,
                                    Some(o) => o.get(name).unwrap_or(&Value::Null),
                                    None => &Value::Null,
                                };
                                let mut refs = Vec::new();
                                refs_in(n, &mut refs);
                                let renews = refs.iter().any(|p| {
                                    in_model.get(p).is_some_and(|&i| renewed[i])
                                        || moved.iter().any(|m| m == p)
                                });
                                if o != n || renews {
                                    let in_place = r.policy.updates_in_place(name);
                                    change.changes.push(ArgChange {
                                        arg: name.to_owned(),
                                        old: o.clone(),
                                        new: if o == n {
                                            Value::String("(known after apply)".into())
                                        } else {
                                            n.clone()
                                        },
                                        forces_replacement: !in_place,
                                    });
                                    if in_place {
                                        updatable.push(name.to_owned());
                                    }
                                }
                            }
                            if opts.replace.iter().any(|p| selects(p, &r.key)) {
                                change.action = ResourceAction::Replace;
                                change.reason = Some("asked for (--replace)".into());
                            } else if change.changes.iter().any(|c| c.forces_replacement) {
                                change.action = ResourceAction::Replace;
                            } else if !change.changes.is_empty() {
                                change.action = ResourceAction::Update;
                            } else if e.status == EntryStatus::Updating {
                                change.action = ResourceAction::Update;
                                change.reason = Some("a previous update did not finish".into());
                            }
                        }
                    }
                },
            }
            // An earlier replacement's old resource still set aside (its delete failed or was cut
            // short) holds `<path>#deposed`: setting this one aside too would write over that entry
            // and lose track of the resource it records, so this replacement deletes first.
            let deposed = set_aside
                .contains(&*r.key)
                .then(|| format!("{}{DEPOSED}", r.key));
            if change.action == ResourceAction::Replace
                && change.create_before_destroy
                && let Some(deposed) = &deposed
            {
                change.create_before_destroy = false;
                let why = format!("`{deposed}` is still set aside: the old one is deleted first");
                change.reason = Some(match change.reason.take() {
                    Some(r) => format!("{r}; {why}"),
                    None => why,
                });
            }
            if matches!(
                change.action,
                ResourceAction::Create | ResourceAction::Replace
            ) {
                renewed[pos] = true;
            }
            // Only an update, a replacement or a deletion acts on the recorded resource; an
            // unchanged one (most of a large plan) needs no copy of it.
            let old = match change.action {
                ResourceAction::Unchanged | ResourceAction::Create => None,
                _ => entry.map(|e| Box::new(recorded.provisioned(&scope, e))),
            };
            // A replacement cut short leaves the old resource set aside: the create that resumes
            // it must not take the old one for a previous attempt of its own.
            let replaces = match change.action {
                ResourceAction::Replace if change.create_before_destroy => old.clone(),
                ResourceAction::Create | ResourceAction::Replace => deposed
                    .and_then(|d| state.get(&d))
                    .map(|e| Box::new(Recorded::of(e).provisioned(&scope, e))),
                _ => None,
            };
            items.push(Item {
                key: r.key.clone(),
                kind: r.kind.clone(),
                proxy,
                at: Some(r.at),
                action: change.action,
                changed: updatable,
                cbd: change.create_before_destroy,
                old: old.map(Old::Built),
                replaces,
                recorded_deps: recorded_deps(&recorded),
                deps,
                dep_at: r.deps.iter().map(|&d| model[d].at).collect(),
                protect: r.protect || recorded.protect,
                status: entry.map(|e| e.status),
            });
            changes.push(change);
        }
        errors.splice(undefined_at..undefined_at, undefined);
        // What the state has and the model does not: deleted, dependents first (the apply walk
        // orders them; listed here in reverse recording order).
        let gone: Vec<&Entry> = state
            .iter()
            .rev()
            .filter(|e| !e.key.starts_with(TASK_PREFIX) && !in_model.contains_key(&*e.key))
            .collect();
        let read = parallel::map(&gone, PARALLEL_FROM, |e| Recorded::of(e));
        for (e, recorded) in gone.into_iter().zip(read) {
            let want = recorded.proxy.as_deref().unwrap_or("");
            let Some(proxy) = proxies.iter().find(|p| p.name() == want).cloned() else {
                errors.push(PlanBlocker {
                    key: e.key.to_string(),
                    error: format!(
                        "created by proxy `{want}`, which this orchestration was not given"
                    ),
                });
                continue;
            };
            let protect = recorded.protect;
            let reason = match observed.get(&*e.key) {
                Some(Observed::Gone) => Some("already gone".to_owned()),
                _ if e.key.ends_with(DEPOSED) => Some("replaced".to_owned()),
                _ if opts.destroy => None,
                _ => Some("no longer in the model".to_owned()),
            };
            changes.push(ResourceChange {
                key: e.key.clone(),
                kind: e.kind.clone(),
                proxy: proxy_name(want),
                action: ResourceAction::Destroy,
                reason,
                changes: Vec::new(),
                create_before_destroy: false,
                deps: Vec::new(),
                protect,
            });
            items.push(Item {
                key: e.key.clone(),
                kind: e.kind.clone(),
                proxy,
                at: None,
                action: ResourceAction::Destroy,
                changed: Vec::new(),
                cbd: false,
                old: Some(Old::Entry {
                    data: e.data.clone(),
                    outputs: recorded.outputs_span(&e.data),
                }),
                replaces: None,
                recorded_deps: recorded_deps(&recorded),
                deps: Vec::new(),
                dep_at: Vec::new(),
                protect,
                status: Some(e.status),
            });
        }
        narrow(&mut items, &mut changes, opts);
        for (i, c) in items.iter().zip(&changes) {
            let deletes = matches!(c.action, ResourceAction::Destroy | ResourceAction::Replace)
                && !c.key.ends_with(DEPOSED);
            if deletes && i.protect && !opts.allow_destroy_protected {
                errors.push(PlanBlocker {
                    key: c.key.to_string(),
                    error: format!(
                        "is protected and would be {}: remove the protection or allow it (--allow-destroy-protected)",
                        if c.action == ResourceAction::Destroy { "deleted" } else { "replaced" }
                    ),
                });
            }
        }
        let mut plan = Plan {
            schema: PLAN_SCHEMA,
            system: scope.system.clone(),
            workspace: scope.workspace.clone(),
            state_seq: state.last_seq(),
            refreshed: opts.refresh,
            resources: changes,
            errors,
            items: Arc::new(items),
            ..Plan::default()
        };
        if !opts.destroy {
            self.plan_tasks(&mut plan, state, opts)?;
        }
        if let Some(report) = &self.report {
            for r in report() {
                for v in r.unresolved() {
                    plan.unresolved.push(Unresolved {
                        role: r.role.clone(),
                        variable: v.name.clone(),
                        missing: v.missing.join(", "),
                    });
                }
            }
        }
        plan.count();
        Ok(plan)
    }
}

/// Applies `--target` and `--exclude`: a target keeps what it needs (its dependencies, or for a
/// deletion what depends on it), an exclusion drops what needs it. Dropped steps stay in the
/// plan as unchanged, so the plan lists what was left out.
fn narrow(items: &mut [Item], changes: &mut [ResourceChange], opts: &PlanOptions) {
    if opts.targets.is_empty() && opts.excludes.is_empty() {
        return;
    }
    let index: HashMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (&*it.key, i))
        .collect();
    // Edges "a needs b": a model dependency, or a recorded one (for deletions).
    let needs = |i: usize| -> Vec<usize> {
        let it = &items[i];
        it.deps
            .iter()
            .chain(&it.recorded_deps)
            .filter_map(|d| index.get(d.as_str()).copied())
            .collect()
    };
    let n = items.len();
    let mut needed_by: Vec<Vec<usize>> = vec![Vec::new(); n];
    for i in 0..n {
        for d in needs(i) {
            needed_by[d].push(i);
        }
    }
    let closure = |seeds: Vec<usize>, next: &dyn Fn(usize) -> Vec<usize>| {
        let mut seen = vec![false; n];
        let mut stack = seeds;
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend(next(i));
            }
        }
        seen
    };
    let mut keep = vec![true; n];
    if !opts.targets.is_empty() {
        let seeds: Vec<usize> = (0..n)
            .filter(|&i| opts.targets.iter().any(|t| selects(t, &items[i].key)))
            .collect();
        // Creating or changing a target needs what it depends on; deleting it needs what
        // depends on it deleted first.
        keep = closure(seeds, &|i| {
            if items[i].action == ResourceAction::Destroy {
                needed_by[i].clone()
            } else {
                needs(i)
            }
        });
    }
    if !opts.excludes.is_empty() {
        let seeds: Vec<usize> = (0..n)
            .filter(|&i| opts.excludes.iter().any(|x| selects(x, &items[i].key)))
            .collect();
        let dropped = closure(seeds, &|i| {
            if items[i].action == ResourceAction::Destroy {
                needs(i)
            } else {
                needed_by[i].clone()
            }
        });
        for i in 0..n {
            keep[i] &= !dropped[i];
        }
    }
    for i in 0..n {
        if !keep[i] && items[i].action != ResourceAction::Unchanged {
            items[i].action = ResourceAction::Unchanged;
            changes[i].action = ResourceAction::Unchanged;
            changes[i].reason = Some("left out (--target / --exclude)".into());
            changes[i].changes.clear();
        }
    }
}

/// A resource's identity as planning reads it: used to find the host resource of a role.
pub(super) type Renewed = BTreeMap<String, ResourceAction>;

impl Plan {
    /// The resources this plan creates or replaces (their outputs change).
    pub(super) fn renewed(&self) -> Renewed {
        self.resources
            .iter()
            .filter(|r| matches!(r.action, ResourceAction::Create | ResourceAction::Replace))
            .map(|r| (r.key.to_string(), r.action))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permutation_puts_each_item_where_the_order_says() {
        for order in [
            vec![0, 1, 2, 3, 4],
            vec![4, 3, 2, 1, 0],
            vec![1, 2, 0, 4, 3],
            vec![2, 0, 1, 3, 4],
            vec![],
        ] {
            let order: Vec<NodeId> = order.into_iter().map(NodeId).collect();
            let mut items: Vec<String> = (0..order.len()).map(|i| format!("r{i}")).collect();
            permute(&mut items, &order);
            let want: Vec<String> = order.iter().map(|n| format!("r{}", n.0)).collect();
            assert_eq!(items, want, "{order:?}");
        }
    }

    #[test]
    fn a_path_selects_itself_and_what_is_inside_it() {
        assert!(selects("I.workers", "I.workers"));
        assert!(selects("I.workers", "I.workers.3"));
        assert!(selects("I.workers.3", "I.workers.3#deposed"));
        assert!(!selects("I.workers", "I.workers2"));
    }

    /// The recorded arguments are compared with the model's as text first; text that differs
    /// (keys in another order, as a hand-edited or differently written state may have them) is
    /// compared argument by argument, and equal values are no change.
    #[test]
    fn recorded_arguments_written_differently_but_equal_are_unchanged() {
        use crate::infra::test::{Network, Server};
        use crate::prelude::*;

        #[derive(InfraModel)]
        struct Pair {
            #[component(Network::new("net"))]
            net: Network,
            #[component(Server::new("web", "debian-12").nics([ctx.model.net]).mem("2048"))]
            web: Server,
        }
        let dir = tempfile::tempdir().unwrap();
        let orch = || {
            ActuatorOrchestration::new("args-text")
                .infra(&Pair::instance("pair"))
                .proxy(Arc::new(crate::provision::SimProxy::default()))
                .state_dir(dir.path())
        };
        let rt = tokio::runtime::Runtime::new().unwrap();
        assert!(rt.block_on(orch().initiate_system()));
        // Every recorded argument list written again with its keys in reverse order.
        let journal = dir.path().join(crate::state::store::JOURNAL_FILE);
        let lines: Vec<String> = std::fs::read_to_string(&journal)
            .unwrap()
            .lines()
            .map(|l| {
                let mut rec: Value = serde_json::from_str(l).unwrap();
                if let Some(Value::Object(args)) = rec.pointer_mut("/data/args") {
                    let reversed: serde_json::Map<String, Value> =
                        std::mem::take(args).into_iter().rev().collect();
                    *args = reversed;
                }
                serde_json::to_string(&rec).unwrap()
            })
            .collect();
        std::fs::write(&journal, lines.join("\n") + "\n").unwrap();
        let mut o = orch();
        let st = o.state().unwrap();
        let web = st.get("Pair.web").unwrap();
        assert!(
            web.data.text().contains(r#""args":{"nics""#),
            "{}",
            web.data.text()
        );
        let plan = rt.block_on(o.plan_with(&PlanOptions::default())).unwrap();
        let actions: Vec<_> = plan.resources.iter().map(|r| (&*r.key, r.action)).collect();
        assert_eq!(
            actions,
            [
                ("Pair.net", ResourceAction::Unchanged),
                ("Pair.web", ResourceAction::Unchanged)
            ]
        );
    }

    #[test]
    fn refs_are_found_at_any_depth() {
        let v = serde_json::json!([{"ref": "I.a"}, {"x": {"ref": "I.b", "output": "ip"}}]);
        let mut out = Vec::new();
        refs_in(&v, &mut out);
        assert_eq!(out, ["I.a", "I.b"]);
    }
}
