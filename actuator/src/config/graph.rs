//! The task graph of a config model instance: plain tasks, multi-tasks expanded per selected role
//! (`head → one task per role → rendezvous`), and nested config models spliced in
//! (`head → inner entries … inner exits → rendezvous`).

use std::collections::HashMap;

use super::ConfigDefaults;
use super::ConfigModel;
use super::deps::Dep;
use super::tasks::{MultiTask, MultiTemplate, Nested, NestedTask, Task};
use crate::dag::{Dag, NodeId};
use crate::model::build::{Instance, Shared};
use crate::model::{At, Located, ModelId};

/// What a graph node is.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeRole {
    /// A task to run.
    Task,
    /// The start of a multi-task or nested config model (does nothing).
    Head,
    /// The join after a multi-task or nested config model (does nothing).
    Rendezvous,
}

/// One node of the task graph.
#[derive(Clone, Debug)]
pub struct GraphNode {
    /// Display name (`gp-grid_3` for a multi-task instance).
    pub name: String,
    /// The model path it comes from.
    pub path: String,
    /// What it is.
    pub role: NodeRole,
    /// The task (for [`NodeRole::Task`]), with its role resolved through the defaults.
    pub task: Option<Task>,
}

/// The task graph of a config model.
#[derive(Clone, Debug, Default)]
pub struct TaskGraph {
    /// The nodes.
    pub nodes: Vec<GraphNode>,
    /// `(before, after)` index pairs.
    pub edges: Vec<(usize, usize)>,
    /// What makes the graph unusable, found while building it: a config model nested inside
    /// itself (through `ConfigClassTask`s), named with its chain; a nested config model of
    /// another namespace; a role that is not part of this system (another system's, or a
    /// class-level path taken out of `Class::map`). The pre-flight refuses a graph that has any.
    pub errors: Vec<String>,
}

impl TaskGraph {
    /// Edges by node name, for tests and messages.
    pub fn edge_names(&self) -> Vec<(String, String)> {
        self.edges
            .iter()
            .map(|&(a, b)| (self.nodes[a].name.clone(), self.nodes[b].name.clone()))
            .collect()
    }

    /// The tasks only (heads and rendezvous left out), by name.
    pub fn task_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| n.role == NodeRole::Task)
            .map(|n| n.name.clone())
            .collect()
    }

    /// The dependency graph: one node per graph node, one edge per ordering constraint.
    pub fn dag(&self) -> Dag {
        let mut dag = Dag::new(self.nodes.len());
        for &(a, b) in &self.edges {
            dag.add_edge(NodeId(a as u32), NodeId(b as u32));
        }
        dag
    }

    /// A topological order, or the names of the tasks on a cycle.
    pub fn topo_order(&self) -> Result<Vec<usize>, Vec<String>> {
        self.dag()
            .check_acyclic()
            .map(|order| order.into_iter().map(NodeId::index).collect())
            .map_err(|e| {
                e.cycle
                    .iter()
                    .map(|n| self.nodes[n.index()].name.clone())
                    .collect()
            })
    }
}

struct Builder<'w> {
    w: &'w Shared,
    g: TaskGraph,
    /// The config models being expanded, outermost first: a model met again inside itself is a
    /// recursive nesting, reported instead of expanded (it would never end).
    stack: Vec<(ModelId, &'static str)>,
    /// Prefixed to the model paths of a nested model's nodes: the wrapper's path and name, so
    /// each copy of a nested pipeline has keys of its own (`Outer.per_app/pipeline-app_1/Inner.write`).
    prefix: String,
    /// The outermost config model's namespace (class id and name): a nested model bound to
    /// another would read this system's roles through that other namespace's paths.
    namespace: (ModelId, &'static str),
}

impl Builder<'_> {
    fn push(&mut self, name: String, path: String, role: NodeRole, task: Option<Task>) -> usize {
        self.g.nodes.push(GraphNode {
            name,
            path,
            role,
            task,
        });
        self.g.nodes.len() - 1
    }

    /// Adds the tasks of the config tree rooted at `root`, with `defaults` (this model's, merged
    /// with the enclosing models') for what tasks leave unset; returns (entries, exits) of the
    /// whole model for splicing.
    fn model(
        &mut self,
        root: At,
        declared: &[(At, At)],
        defaults: &ConfigDefaults,
    ) -> (Vec<usize>, Vec<usize>) {
        let leaves: Vec<(At, String)> = {
            let g = self.w.lock();
            let t = g.tree(root.model);
            t.leaves()
                .map(|(n, _)| {
                    (
                        At {
                            model: root.model,
                            node: n,
                        },
                        format!("{}{}", self.prefix, t.dotted(n)),
                    )
                })
                .collect()
        };
        let mut ends: HashMap<At, (usize, usize)> = HashMap::new();
        let first = self.g.nodes.len();
        for (at, path) in leaves {
            let (task, multi, nested) = {
                let g = self.w.lock();
                let t = g.tree(at.model);
                (
                    t.get::<Task>(at.node).cloned(),
                    t.get::<MultiTask>(at.node).cloned(),
                    t.get::<NestedTask>(at.node)
                        .map(|n| (n.name.clone(), n.inner.clone())),
                )
            };
            if let Some(mut task) = task {
                defaults.apply(&mut task);
                let name = task.name().to_owned();
                for (what, at) in [("role", task.role), ("run_from", task.run_from)] {
                    if let Some(at) = at.filter(|at| !self.w.lock().contains(at.model)) {
                        self.g
                            .errors
                            .push(foreign(&format!("task `{name}` at {path}"), what, at));
                    }
                }
                let i = self.push(task.name().to_owned(), path, NodeRole::Task, Some(task));
                ends.insert(at, (i, i));
            } else if let Some(mt) = multi {
                let head = self.push(mt.base_name_str(), path.clone(), NodeRole::Head, None);
                let rdv = self.push(
                    format!("{}-rendezvous", mt.base_name_str()),
                    path.clone(),
                    NodeRole::Rendezvous,
                    None,
                );
                let roles = mt.roles.roles(self.w);
                if roles.is_empty() {
                    // No instance: successors must still wait for the predecessors.
                    self.g.edges.push((head, rdv));
                }
                for role in roles {
                    if !self.w.lock().contains(role.model) {
                        let who = format!("MultiTask `{}` at {path}", mt.base_name_str());
                        self.g.errors.push(foreign(&who, "selected role", role));
                        continue;
                    }
                    let role_name = self.w.lock().tree(role.model).node(role.node).name.clone();
                    let (i, x) = match &mt.template {
                        MultiTemplate::Task(t) => {
                            let mut t = (**t).clone();
                            t.role = Some(role);
                            defaults.apply(&mut t);
                            let name = format!("{}-{}", t.name(), role_name);
                            let i = self.push(name, path.clone(), NodeRole::Task, Some(t));
                            (i, i)
                        }
                        MultiTemplate::Nested(name, n) => self.nested(
                            &**n,
                            format!("{name}-{role_name}"),
                            path.clone(),
                            Some(role),
                            defaults,
                        ),
                    };
                    self.g.edges.push((head, i));
                    self.g.edges.push((x, rdv));
                }
                ends.insert(at, (head, rdv));
            } else if let Some((name, n)) = nested {
                let role = n.role();
                let e = self.nested(&*n, name, path, role, defaults);
                ends.insert(at, e);
            }
        }
        for (a, b) in declared {
            if let (Some(&(_, ax)), Some(&(be, _))) = (ends.get(a), ends.get(b)) {
                self.g.edges.push((ax, be));
            }
        }
        let last = self.g.nodes.len();
        let inner: Vec<(usize, usize)> = self
            .g
            .edges
            .iter()
            .copied()
            .filter(|(a, b)| (first..last).contains(a) && (first..last).contains(b))
            .collect();
        let top: Vec<usize> = ends.values().map(|e| e.0).collect();
        let entries = top
            .iter()
            .copied()
            .filter(|&i| !inner.iter().any(|&(_, b)| b == i))
            .collect();
        let bottoms: Vec<usize> = ends.values().map(|e| e.1).collect();
        let exits = bottoms
            .into_iter()
            .filter(|&i| !inner.iter().any(|&(a, _)| a == i))
            .collect();
        (sorted(entries), sorted(exits))
    }
}

/// "task `x` at Cfg.x: its role is a path of model ModelId(3), which is not part of this system …"
fn foreign(who: &str, what: &str, at: At) -> String {
    format!(
        "{who}: its {what} is a path of model {:?}, which is not part of this system (one of another system's instance, or a class-level path taken out of `Model::class().map(…)`); take it from this system's namespace (`ns.…`)",
        at.model
    )
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

impl Builder<'_> {
    /// A nested model that cannot be spliced in (the error is already recorded): its head joined
    /// straight to its rendezvous, so the graph stays whole and the pre-flight reports them all.
    fn refused(&mut self, head: usize, name: String, path: String) -> (usize, usize) {
        let rdv = self.push(
            format!("{name}-rendezvous"),
            path,
            NodeRole::Rendezvous,
            None,
        );
        self.g.edges.push((head, rdv));
        (head, rdv)
    }

    /// Splices a fresh instance of a nested config model between a head and a rendezvous node;
    /// its tasks default to `role` (the wrapper's), then to its own defaults, then to the
    /// enclosing `defaults`. Returns (head, rendezvous).
    fn nested(
        &mut self,
        n: &dyn Nested,
        name: String,
        path: String,
        role: Option<At>,
        defaults: &ConfigDefaults,
    ) -> (usize, usize) {
        let head = self.push(name.clone(), path.clone(), NodeRole::Head, None);
        let model = n.model();
        if let Some(i) = self.stack.iter().position(|(id, _)| *id == model.0) {
            let chain: Vec<&str> = self.stack[i..]
                .iter()
                .map(|(_, n)| *n)
                .chain([model.1])
                .collect();
            self.g.errors.push(format!(
                "recursive config nesting: {} (task `{name}` at {path} wraps `{}` inside itself)",
                chain.join(" -> "),
                model.1
            ));
            return self.refused(head, name, path);
        }
        let (ns, ns_name) = n.namespace();
        if ns != self.namespace.0 {
            self.g.errors.push(format!(
                "task `{name}` at {path} nests `{}`, a config model of namespace `{ns_name}`, in a system whose namespace is `{}`: its tasks would take their roles from the wrong namespace",
                model.1, self.namespace.1
            ));
            return self.refused(head, name, path);
        }
        self.stack.push(model);
        let outer_prefix = std::mem::replace(&mut self.prefix, format!("{path}/{name}/"));
        let (inner_root, inner_edges, inner_defaults) = n.instantiate(self.w);
        let eff = ConfigDefaults {
            role,
            ..ConfigDefaults::default()
        }
        .or(&inner_defaults.or(defaults));
        let (entries, exits) = self.model(inner_root, &inner_edges, &eff);
        self.prefix = outer_prefix;
        let rdv = self.push(
            format!("{name}-rendezvous"),
            path,
            NodeRole::Rendezvous,
            None,
        );
        if entries.is_empty() {
            // An inner model without tasks: keep predecessors before successors.
            self.g.edges.push((head, rdv));
        }
        for e in entries {
            self.g.edges.push((head, e));
        }
        for x in exits {
            self.g.edges.push((x, rdv));
        }
        self.stack.pop();
        (head, rdv)
    }
}

impl MultiTask {
    fn base_name_str(&self) -> String {
        crate::model::Element::base_name(self).to_owned()
    }
}

impl<C: ConfigModel> Instance<C> {
    /// The task graph: declared dependencies plus `extra` ones built with the algebra.
    pub fn graph_with(&self, extra: &[Dep]) -> TaskGraph {
        let root = At::root(self.id());
        let mut declared = C::declared_edges(root);
        for d in extra {
            for e in d.edges() {
                if !declared.contains(&e) {
                    declared.push(e);
                }
            }
        }
        let mut b = Builder {
            w: self.world(),
            g: TaskGraph::default(),
            stack: vec![(C::class_id(), C::NAME)],
            prefix: String::new(),
            namespace: (
                <C::Namespace as crate::model::build::Model>::class_id(),
                <C::Namespace as crate::model::build::Model>::NAME,
            ),
        };
        b.model(root, &declared, &C::defaults(self.world()));
        b.g
    }

    /// The task graph of the declared dependencies.
    pub fn graph(&self) -> TaskGraph {
        self.graph_with(&[])
    }

    /// The path of a task in this model, for messages.
    pub fn task_path(&self, p: &impl Located) -> String {
        let at = p.at();
        self.world().lock().describe(at)
    }
}
