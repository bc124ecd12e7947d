//! The runtime representation of model instances: one arena [`Tree`] per instance, all trees of one
//! system kept together in a [`World`] (the original's *nexus*).

use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

use super::ids::{At, InstanceKey, ModelId, Step};
use super::vars::VarSet;

/// What a leaf component is at run time: a resource, a role, a task.
///
/// Implemented by `#[derive(Resource)]` and by the library's roles and tasks. `visit_refs` must report
/// every reference the value holds, in any argument (inside `Vec`, `Option`, maps …): those are the
/// dependency edges of the model.
pub trait Element: Any + Send + Sync + fmt::Debug {
    /// The kind, e.g. `"test.Server"` or `"aws.Vpc"`.
    fn kind(&self) -> &'static str;
    /// The name given in the component's constructor (a keyed instance's name adds the key to it).
    fn base_name(&self) -> &str;
    /// Calls `f` for every reference held by the value's arguments.
    fn visit_refs(&self, f: &mut dyn FnMut(At));
    /// Calls `f(argument, value)` for every typed argument whose text the pre-flight checks: a
    /// literal written as text that does not parse (a CIDR of `10.0.0.0/33`), and a variable whose
    /// value must parse once known ([`Refs::visit_unparsed`](super::Refs::visit_unparsed)).
    fn visit_unparsed(&self, f: &mut dyn FnMut(&'static str, super::refs::Unparsed<'_>)) {
        let _ = f;
    }
    /// Whether this element can serve as a role's host (has an IP or host name).
    fn addressable(&self) -> bool {
        false
    }
    /// The name of the provisioner proxy this component asks for (its `cloud` argument).
    fn cloud(&self) -> Option<&str> {
        None
    }
    /// A resource's arguments as the state records them (roles and tasks record none).
    fn args(&self, cx: &super::args::ArgCx<'_>) -> super::args::Args {
        let _ = cx;
        super::args::Args::new()
    }
    /// How a change of the arguments is applied (resources; default: every change replaces).
    fn change_policy(&self) -> super::args::ChangePolicy {
        super::args::ChangePolicy::REPLACE
    }
}

/// What kind of model a tree holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ModelKind {
    /// An infra model (`#[derive(InfraModel)]`).
    Infra,
    /// A namespace model (`namespace!`).
    Namespace,
    /// A config model (`config!`).
    Config,
    /// The class-level skeleton of a model type (no instances, no values).
    Class,
}

/// A keyed container's instances, in creation order.
#[derive(Default)]
pub struct MultiNode {
    /// InstanceKey → instance node.
    pub keys: IndexMap<InstanceKey, u32>,
    /// Separator between the template's name and the key in instance names (default `_`).
    pub namesep: Option<String>,
}

/// The structural kind of a node.
pub enum NodeKind {
    /// A model's root.
    Root,
    /// A fixed group of components (`ResourceGroup`, `RoleGroup`).
    Group,
    /// A keyed container (`MultiResource`, `MultiRole`, `MultiTask` …).
    Multi(Box<MultiNode>),
    /// A resource, role or task.
    Leaf,
}

/// One node of a model instance.
pub struct Node {
    /// Parent node (`u32::MAX` for the root).
    pub parent: u32,
    /// How the parent reaches this node.
    pub step: Step,
    /// Display name: the constructor's name, plus `<sep><key>` for keyed instances.
    pub name: String,
    /// Structural kind.
    pub kind: NodeKind,
    /// The built value of a leaf (None until built, and for containers).
    pub value: Option<Arc<dyn Element>>,
}

/// One model instance: an arena of nodes, root first, static skeleton laid out contiguously.
pub struct Tree {
    /// This instance's id.
    pub id: ModelId,
    /// The instance name given at creation.
    pub name: String,
    /// The model's type name.
    pub type_name: &'static str,
    /// The kind of model.
    pub kind: ModelKind,
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Whether display names are long names (`with_infra_options(long_names=True)`).
    pub long_names: bool,
    /// Variables and overrides per container node (namespace models only).
    pub vars: HashMap<u32, VarSet>,
    /// Resources that plans must never delete or replace (`Instance::protect`).
    pub protected: std::collections::HashSet<u32>,
}

impl Tree {
    /// The node at `n`.
    pub fn node(&self, n: u32) -> &Node {
        &self.nodes[n as usize]
    }

    /// The model path of a node: field names and keys from the root, e.g.
    /// `["composite", "3", "workers", "2", "query"]`.
    pub fn path(&self, mut n: u32) -> Vec<String> {
        let mut out = Vec::new();
        while n != u32::MAX && n != 0 {
            let node = self.node(n);
            out.push(node.step.to_string());
            n = node.parent;
        }
        out.reverse();
        out
    }

    /// The dotted path of a node, prefixed with the model's type name: `SingleServer.workers.3`.
    pub fn dotted(&self, n: u32) -> String {
        // Plans describe every resource more than once: one allocation, the path's steps borrowed
        // and written from the leaf backwards instead of collected first.
        let steps = |mut n: u32| {
            std::iter::from_fn(move || {
                (n != u32::MAX && n != 0).then(|| {
                    let node = self.node(n);
                    n = node.parent;
                    match &node.step {
                        Step::Root => "",
                        Step::Field(f) => *f,
                        Step::Key(k) => k.as_str(),
                    }
                })
            })
        };
        let len = self.type_name.len() + steps(n).map(|p| p.len() + 1).sum::<usize>();
        let mut buf = vec![b'.'; len];
        let mut end = len;
        for p in steps(n) {
            buf[end - p.len()..end].copy_from_slice(p.as_bytes());
            end -= p.len() + 1;
        }
        buf[..end].copy_from_slice(self.type_name.as_bytes());
        String::from_utf8(buf).expect("whole str pieces joined by dots")
    }

    /// The long name: `<instance name>.<path…>.<name>` with consecutive duplicates collapsed, as the
    /// original's `longname` (`"153.slaves.3.slave_3"`).
    pub fn long_name(&self, n: u32) -> String {
        let mut parts: Vec<String> = vec![self.name.clone()];
        for p in self
            .path(n)
            .into_iter()
            .chain(std::iter::once(self.node(n).name.clone()))
        {
            if parts.last() != Some(&p) {
                parts.push(p);
            }
        }
        parts.join(".")
    }

    /// The name to use for cloud-side names: the long name if the model asks for long names.
    pub fn display_name(&self, n: u32) -> String {
        if self.long_names {
            self.long_name(n)
        } else {
            self.node(n).name.clone()
        }
    }

    /// Every leaf with a value, in node order (which is creation order).
    pub fn leaves(&self) -> impl Iterator<Item = (u32, &dyn Element)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.value.as_deref().map(|v| (i as u32, v)))
    }

    /// The value of the leaf at `n`, downcast to `T`.
    pub fn get<T: Element>(&self, n: u32) -> Option<&T> {
        let v: &dyn Any = self.nodes.get(n as usize)?.value.as_deref()?;
        v.downcast_ref::<T>()
    }

    /// The instances of the keyed container at `n`, in creation order.
    pub fn multi(&self, n: u32) -> Option<&MultiNode> {
        match &self.node(n).kind {
            NodeKind::Multi(m) => Some(m),
            _ => None,
        }
    }

    /// Follows a path of steps (field names and keys, as [`Tree::path`] returns) from the root.
    /// A step that leads nowhere is an error naming the model path reached and what exists there.
    /// For a path known when the model is written, use the typed paths (`inst.root().tier.web`):
    /// a misspelt step is then rustc's error; this is for paths that are data (a command line's).
    ///
    /// ```
    /// use actuator::prelude::*;
    ///
    /// namespace! {
    ///     struct Site {
    ///         web: Role = Role::new("web").host_ref("127.0.0.1"),
    ///         grid: MultiRole = MultiRole::new(Role::new("node").host_ref("127.0.0.1")),
    ///     }
    /// }
    ///
    /// let ns = Site::instance("site");
    /// ns.index(ns.root().grid, 1);
    /// assert!(ns.with(|t| t.find(&["grid", "1"])).is_ok());
    /// let e = ns.with(|t| t.find(&["wbe"])).unwrap_err();
    /// assert_eq!(e.to_string(), "`Site` has no `wbe`; it has `web`, `grid`");
    /// let e = ns.with(|t| t.find(&["grid", "7"])).unwrap_err();
    /// assert_eq!(e.to_string(), "`Site.grid` has no key `7`; its keys are `1`");
    /// ```
    pub fn find(&self, steps: &[&str]) -> Result<u32, FindError> {
        let mut cur = 0u32;
        for s in steps {
            cur = self.child(cur, s).ok_or_else(|| FindError {
                at: self.dotted(cur),
                step: (*s).to_owned(),
                keyed: matches!(self.node(cur).kind, NodeKind::Multi(_)),
                existing: self.children(cur),
            })?;
        }
        Ok(cur)
    }

    /// The steps that lead on from `n`: its fields, or a keyed container's keys.
    fn children(&self, n: u32) -> Vec<String> {
        if let NodeKind::Multi(m) = &self.node(n).kind {
            return m.keys.keys().map(ToString::to_string).collect();
        }
        // Static children follow their parent directly in the skeleton, as `child` relies on.
        (n + 1..self.nodes.len() as u32)
            .take_while(|&i| self.is_within(i, n))
            .filter(|&i| self.node(i).parent == n)
            .map(|i| self.node(i).step.to_string())
            .collect()
    }

    /// The child of `n` reached by `step` (a field name or a key).
    pub fn child(&self, n: u32, step: &str) -> Option<u32> {
        if let NodeKind::Multi(m) = &self.node(n).kind {
            return m.keys.get(step).copied();
        }
        // Static children follow their parent directly in the skeleton; scan the parent's range.
        let mut i = n as usize + 1;
        while i < self.nodes.len() {
            let c = &self.nodes[i];
            if c.parent == n && matches!(c.step, Step::Field(f) if f == step) {
                return Some(i as u32);
            }
            if !self.is_within(i as u32, n) {
                return None;
            }
            i += 1;
        }
        None
    }

    /// Whether `n` lies inside the subtree rooted at `anc`.
    pub fn is_within(&self, mut n: u32, anc: u32) -> bool {
        while n != u32::MAX {
            if n == anc {
                return true;
            }
            n = self.node(n).parent;
        }
        false
    }

    /// The nearest key at or above `n` (the original's `idx`: a keyed instance's own key, else its
    /// container's).
    pub fn idx(&self, mut n: u32) -> Option<InstanceKey> {
        while n != u32::MAX {
            if let Step::Key(k) = &self.node(n).step {
                return Some(k.clone());
            }
            n = self.node(n).parent;
        }
        None
    }
}

/// Builds the instance of a keyed container for a new key; returns the instance's node.
pub(crate) type Maker =
    Arc<dyn Fn(&crate::model::build::Shared, At, InstanceKey) -> u32 + Send + Sync>;

/// A component's outputs by name.
type Outputs = Vec<(Box<str>, Box<str>)>;

/// All model instances of one system, connected: the original's nexus.
///
/// Reached through the typed handles ([`crate::model::Instance`]); the orchestrator takes it over.
#[derive(Default)]
pub struct World {
    pub(crate) trees: Vec<Tree>,
    pub(crate) makers: HashMap<At, Maker>,
    pub(crate) infra: Option<ModelId>,
    pub(crate) namespace: Option<ModelId>,
    pub(crate) config: Option<ModelId>,
    // A component has a handful of outputs: a small vector beats a map per component in memory.
    // Hashed with foldhash, as the state's index: every create and update sets a component's.
    pub(crate) outputs: foldhash::HashMap<At, Outputs>,
}

impl World {
    /// The tree of model `id`.
    ///
    /// # Panics
    /// If `id` is not a model of this world (a reference from an unrelated system).
    pub fn tree(&self, id: ModelId) -> &Tree {
        self.trees
            .iter()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("model {id:?} is not part of this system"))
    }

    /// The tree of model `id`, mutably.
    pub fn tree_mut(&mut self, id: ModelId) -> &mut Tree {
        self.trees
            .iter_mut()
            .find(|t| t.id == id)
            .unwrap_or_else(|| panic!("model {id:?} is not part of this system"))
    }

    /// Whether model `id` is an instance of this system. A path that fails this is foreign: one
    /// taken from another system's instance, or a class-level path taken out of
    /// `Model::class().map(…)`.
    pub fn contains(&self, id: ModelId) -> bool {
        self.trees.iter().any(|t| t.id == id)
    }

    /// Every model instance in the system.
    pub fn trees(&self) -> &[Tree] {
        &self.trees
    }

    // An id may be reserved (a model referred to before it exists) without a tree yet.
    fn existing(&self, id: Option<ModelId>) -> Option<&Tree> {
        let id = id?;
        self.trees.iter().find(|t| t.id == id)
    }

    /// The infra model, if the system has one.
    pub fn infra(&self) -> Option<&Tree> {
        self.existing(self.infra)
    }

    /// The namespace model, if the system has one.
    pub fn namespace(&self) -> Option<&Tree> {
        self.existing(self.namespace)
    }

    /// The config model, if the system has one.
    pub fn config(&self) -> Option<&Tree> {
        self.existing(self.config)
    }

    /// The element at `at`.
    pub fn element(&self, at: At) -> Option<&dyn Element> {
        self.tree(at.model)
            .nodes
            .get(at.node as usize)?
            .value
            .as_deref()
    }

    /// The element at `at`, shared: to use it after releasing the world's lock (recording a
    /// resource's arguments may read namespace variables, which lock the world again).
    pub fn element_arc(&self, at: At) -> Option<Arc<dyn Element>> {
        self.tree(at.model)
            .nodes
            .get(at.node as usize)?
            .value
            .clone()
    }

    /// Output `attr` of the component at `at`, once provisioning has recorded it.
    pub fn output(&self, at: At, attr: &str) -> Option<&str> {
        self.outputs
            .get(&at)?
            .iter()
            .find(|(k, _)| &**k == attr)
            .map(|(_, v)| &**v)
    }

    /// Records output `attr` of the component at `at` (provisioners do this).
    pub fn set_output(&mut self, at: At, attr: &str, value: impl Into<String>) {
        let outs = self.outputs.entry(at).or_default();
        let value: Box<str> = value.into().into_boxed_str();
        match outs.iter_mut().find(|(k, _)| &**k == attr) {
            Some(slot) => slot.1 = value,
            None => {
                // Grown one at a time: a resource has two or three outputs, and the default
                // growth (room for four at once) was 6 MB of a 100,000-resource plan.
                outs.reserve_exact(1);
                outs.push((attr.into(), value))
            }
        }
    }

    /// Replaces the outputs of the component at `at` with what its provisioner returned (all of
    /// them, after a create or an update), taking them over rather than copying them.
    pub(crate) fn set_outputs(&mut self, at: At, outputs: crate::provision::Outputs) {
        let outs = outputs
            .into_iter()
            .map(|(k, v)| (k.into_boxed_str(), v.into_boxed_str()))
            .collect();
        self.outputs.insert(at, outs);
    }

    /// Makes room for the outputs of `additional` more components (a walk's creates).
    pub(crate) fn reserve_outputs(&mut self, additional: usize) {
        self.outputs.reserve(additional);
    }

    /// The outputs recorded for the component at `at`, in the order they were first set.
    pub(crate) fn outputs_of(&self, at: At) -> &[(Box<str>, Box<str>)] {
        self.outputs.get(&at).map_or(&[], Vec::as_slice)
    }

    /// The dependency edges of the system: `(dependency, dependent)` for every reference any
    /// component's arguments hold, in creation order.
    pub fn edges(&self) -> Vec<(At, At)> {
        let mut out = Vec::new();
        for t in &self.trees {
            for (n, e) in t.leaves() {
                let me = At {
                    model: t.id,
                    node: n,
                };
                let first = out.len();
                e.visit_refs(&mut |dep| {
                    // One edge per pair: a server and its IP output are the same dependency.
                    if dep != me && !out[first..].iter().any(|&(d, _)| d == dep) {
                        out.push((dep, me))
                    }
                });
            }
        }
        out
    }

    /// `Model.path.to.node` for messages.
    pub fn describe(&self, at: At) -> String {
        self.tree(at.model).dotted(at.node)
    }
}

/// A path that leads nowhere in a model ([`Tree::find`]): where it stopped and what exists there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FindError {
    /// The model path reached (dotted, with the model's name).
    pub at: String,
    /// The step that is not there.
    pub step: String,
    /// Whether `at` is a keyed container (the step was a key).
    pub keyed: bool,
    /// The fields or keys `at` has.
    pub existing: Vec<String>,
}

impl fmt::Display for FindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.keyed { "key " } else { "" };
        write!(f, "`{}` has no {what}`{}`; ", self.at, self.step)?;
        let list = self
            .existing
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        match (self.keyed, self.existing.is_empty()) {
            (true, true) => write!(f, "it has no keys yet"),
            (true, false) => write!(f, "its keys are {list}"),
            (false, true) => write!(f, "it has no members"),
            (false, false) => write!(f, "it has {list}"),
        }
    }
}

impl std::error::Error for FindError {}
