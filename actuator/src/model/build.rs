//! How typed declarations become trees: the [`Component`] trait every component type implements, the
//! context (`ctx`) a component's expression sees, keyed containers, groups and the instance handle.

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use parking_lot::Mutex;

use super::codegen::Paths;
use super::ids::{At, InstanceKey, IntoInstanceKey, ModelId, Step};
use super::tree::{Element, ModelKind, MultiNode, Node, NodeKind, Tree, World};

/// The shared, growable system every typed handle points into.
pub type Shared = Arc<Mutex<World>>;

/// What the runtime knows about the component being built; generated code turns it into a typed
/// [`Ctx`].
pub struct Env<'w> {
    /// The system.
    pub world: &'w Shared,
    /// The component's node.
    pub at: At,
    /// The component's own name: its field name, or its key inside a keyed container.
    pub name: InstanceKey,
    /// The nearest key at or above the component.
    pub idx: Option<InstanceKey>,
}

/// The context of a component expression: `ctx.model`, `ctx.nexus`, `ctx.comp`, `ctx.name`.
///
/// `model` and `nexus` are typed paths, so `ctx.model.nett` is a compile error; `comp.container`
/// climbs out through nested groups and keyed containers. `model` and `nexus` are shared by every
/// component of a model, so they are reached through `Deref` to [`Paths`], never copied.
pub struct Ctx<'e, MP, NX, CV> {
    /// The component itself: its container and index.
    pub comp: Comp<CV>,
    /// The component's name: its field name, or its key in a keyed container.
    pub name: &'e str,
    /// Runtime access for generated code (keyed steps).
    #[doc(hidden)]
    pub env: &'e Env<'e>,
    pub(super) paths: &'e Paths<MP, NX>,
}

/// `ctx.comp`: the component being built.
pub struct Comp<CV> {
    /// The containing group, keyed container or model, as a typed path with its own `container`.
    pub container: CV,
    /// The nearest key at or above the component (the original's `idx`).
    pub idx: Option<InstanceKey>,
    /// Where the component lives.
    pub at: At,
}

/// A container as seen from inside: its typed path (reachable through `Deref`), its own container
/// and its key.
///
/// A model's or group's members see `Within<ItsPath>`: what is outside it is `()`, since a group is
/// reusable (it does not know where it is placed) and a model has nothing outside. So rustc names
/// a misspelt sibling's container by the user's types only (`Arc<Within<PairPath>>`), and each
/// member's expression is compiled once, not once per place its group is used. A keyed
/// container's members see `Within<MultiPath<T>, Arc<Within<ItsPath>>>`: out of the keyed
/// container to the group or model holding it.
#[derive(Clone)]
pub struct Within<P, U = ()> {
    /// Typed path of the container.
    pub path: P,
    /// The container's container (`()` above a model's or a group's members).
    pub container: U,
    /// The container's last path step: its key in a keyed container, else its field name.
    pub key: InstanceKey,
    /// The nearest key at or above the container.
    pub idx: Option<InstanceKey>,
}

impl<P, U> Deref for Within<P, U> {
    type Target = P;
    fn deref(&self) -> &P {
        &self.path
    }
}

/// The model paths of a component declared in a reusable group, which belongs to no model in
/// particular: reach siblings through `ctx.comp.container` instead.
#[derive(Clone, Copy, Debug)]
pub struct Unbound;

/// A class-level path: a path into a model *type* ([`Model::class`]), not into a model instance.
///
/// It is its own type, so it cannot be given where a path of the model instance is needed — a
/// task's role or `run_from`, a resource's reference, a role's host, an output argument, keyed
/// access: that is a compile error at the path ([`InstancePath`]), where it used to be a run-time
/// error (or a lookup in the wrong model). Reach a member with [`Class::map`]; convert it with
/// [`Instance::instance_ref`].
///
/// ```
/// use actuator::prelude::*;
/// use actuator::infra::test::Server;
///
/// #[derive(InfraModel)]
/// struct Site {
///     #[component(Server::new("web", "debian-12"))]
///     web: Server,
/// }
/// let web = Site::class().map(|s| s.web);
/// assert_eq!(Site::class_tree().path(web.at().node), ["web"]);
/// let site = Site::instance("site");
/// assert_eq!(site.instance_ref(web), site.root().web);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Class<P>(P);

impl<P> Class<P> {
    /// The class-level path of a member: `Site::class().map(|s| s.web)`, `….map(|s| s.web.ip)`.
    pub fn map<Q>(self, member: impl FnOnce(P) -> Q) -> Class<Q> {
        Class(member(self.0))
    }
}

impl<P: Located> Class<P> {
    /// Where the path leads in the model type's skeleton ([`Model::class_tree`]). Not
    /// [`Located`]: nothing that takes a place in a model instance takes a class-level path.
    pub fn at(&self) -> At {
        self.0.at()
    }
}

impl<T> Class<crate::model::Out<T>> {
    /// The output's name, e.g. `"ip"`.
    pub fn attr(&self) -> &'static str {
        self.0.attr()
    }
}

/// What a class-level path ([`Class`]) lacks: it leads into the model type, while references,
/// roles, hosts and keyed access need a path of the model instance. Nothing implements it; each
/// place that needs an instance's path accepts a `Class<P>` only if `ClassLevel<P>` implements
/// it, so the error is this message, at the path.
///
/// The bound is on [`ClassLevel`], not on `Class<P>` itself: rustc shows the message of the
/// outermost trait when the two have one `Self` type, which would be "not a reference" or "not
/// keyed" rather than this.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a path of a model instance: it leads into the model type (`Model::class()…`)",
    label = "a class-level path where a path of the model instance is needed",
    note = "take the path from the model being built (`ctx.model.…`, `ctx.comp.container.…`, `ctx.nexus.…`, `infra.…`, `ns.…`), or convert it with `instance.instance_ref(path)`"
)]
pub trait InstancePath {}

/// A class-level path of type `P`, as rustc's message names it ([`InstancePath`]).
pub struct ClassLevel<P>(PhantomData<fn() -> P>);

impl<T: ?Sized, P: crate::model::IntoRef<T>> crate::model::IntoRef<T> for Class<P>
where
    ClassLevel<P>: InstancePath,
{
    fn into_ref(self) -> crate::model::Ref<T> {
        self.0.into_ref()
    }
}

impl<T> crate::model::IntoVal<T> for Class<crate::model::Out<T>>
where
    ClassLevel<crate::model::Out<T>>: InstancePath,
{
    fn into_val(self) -> crate::model::Val<T> {
        crate::model::Val::Out(self.0)
    }
}

/// A component type: a leaf (resource, role, task), a group or a keyed container.
///
/// Implemented by the derives; users do not implement it by hand.
pub trait Component: Sized + Send + Sync + 'static {
    /// The typed path to a component of this type.
    type Path: Copy + Send + Sync + 'static;
    /// The container view the component's expression sees as `ctx.comp.container`.
    type View<CV: Clone + Send + Sync + 'static>: Clone + Send + Sync + 'static;
    /// Nodes the static skeleton of one such component takes.
    const SIZE: u32;
    /// Appends the skeleton (exactly `SIZE` nodes, depth first).
    fn layout(nodes: &mut Vec<Node>, parent: u32, step: Step);
    /// The typed path of the component at `at`.
    fn path(at: At) -> Self::Path;
    /// The typed path of a component placed nowhere yet ([`At::UNPLACED`]), from which a model's
    /// typed paths are built as a constant (see [`Members::UNPLACED`]).
    const UNPLACED: Self::Path;
    /// Evaluates the component's expression (and, for containers, their members) at `at`.
    fn build<CV: Clone + Send + Sync + 'static>(w: &Shared, at: At, up: CV, make: Make<Self, CV>);
}

/// A component expression compiled into a closure over the runtime environment and the container view.
pub type Make<C, CV> = Arc<dyn Fn(&Env, &<C as Component>::View<CV>) -> C + Send + Sync>;

/// Something that has a place in a model: every typed path, [`crate::model::Ref`], [`Out`](crate::model::Out).
pub trait Located {
    /// The node.
    fn at(&self) -> At;
}

/// A group or model type whose members are declared by a derive; [`Group`] and the model handles
/// use it.
pub trait Members: Send + Sync + 'static {
    /// Typed paths of the members.
    type Path: Copy + Send + Sync + 'static;
    /// Skeleton nodes of all members, without the group's own node.
    const MEMBERS_SIZE: u32;
    /// Appends the members' skeletons under `me`.
    fn layout_members(nodes: &mut Vec<Node>, me: u32);
    /// The typed paths of the members, placed nowhere yet: `members_path` copies this constant and
    /// places each member in it, one small function per member.
    const UNPLACED: Self::Path;
    /// The typed path of the group at `at`.
    fn members_path(at: At) -> Self::Path;
    /// Builds every member; `view` is what members see as `ctx.comp.container`.
    fn build_members<U: Clone + Send + Sync + 'static>(
        w: &Shared,
        at: At,
        view: Within<Self::Path, U>,
    );
}

/// Pushes one node; returns its index relative to the tree.
pub fn push_node(nodes: &mut Vec<Node>, parent: u32, step: Step, kind: NodeKind) -> u32 {
    let name = step.to_string();
    nodes.push(Node {
        parent,
        step,
        name,
        kind,
        value: None,
    });
    (nodes.len() - 1) as u32
}

pub(crate) fn env_for<'w>(w: &'w Shared, at: At) -> Env<'w> {
    let g = w.lock();
    let t = g.tree(at.model);
    let n = t.node(at.node);
    let name = match &n.step {
        Step::Key(k) => k.clone(),
        s => s.to_string().as_str().into_key(),
    };
    Env {
        world: w,
        at,
        name,
        idx: t.idx(at.node),
    }
}

/// Leaf components (resources, roles, tasks) implement [`Component`] through this helper.
pub fn build_leaf<C: Element, CV>(w: &Shared, at: At, up: CV, make: &dyn Fn(&Env, &CV) -> C) {
    let env = env_for(w, at);
    let value = make(&env, &up);
    let mut g = w.lock();
    let node = &mut g.tree_mut(at.model).nodes[at.node as usize];
    // A keyed instance is renamed `<name><sep><key>` by its container afterwards.
    node.name = value.base_name().to_owned();
    node.value = Some(Arc::new(value));
}

/// Implements [`Component`] for a leaf type. Used by `#[derive(Resource)]` and the library.
#[doc(hidden)]
#[macro_export]
macro_rules! __leaf_component {
    ($ty:ty, $path:ty, $make_path:expr, $unplaced:expr) => {
        impl $crate::model::Component for $ty {
            type Path = $path;
            const UNPLACED: $path = $unplaced;
            type View<CV: Clone + Send + Sync + 'static> = CV;
            const SIZE: u32 = 1;
            fn layout(
                nodes: &mut Vec<$crate::model::Node>,
                parent: u32,
                step: $crate::model::Step,
            ) {
                $crate::model::push_node(nodes, parent, step, $crate::model::NodeKind::Leaf);
            }
            fn path(at: $crate::model::At) -> $path {
                ($make_path)(at)
            }
            fn build<CV: Clone + Send + Sync + 'static>(
                w: &$crate::model::Shared,
                at: $crate::model::At,
                up: CV,
                make: $crate::model::Make<Self, CV>,
            ) {
                $crate::model::build_leaf(w, at, up, &*make)
            }
        }
    };
}

/// A fixed group of components whose members are declared by a group type `G`
/// (`#[derive(ResourceGroup)]`, `namespace! { group … }`). Aliases: `ResourceGroup`, `RoleGroup`.
pub struct Group<G> {
    name: Option<String>,
    vars: Vec<crate::model::vars::Var>,
    _g: PhantomData<fn() -> G>,
}

impl<G> Group<G> {
    /// A group named `name` (the field name when not given).
    pub fn new(name: impl Into<String>) -> Self {
        Group {
            name: Some(name.into()),
            vars: Vec::new(),
            _g: PhantomData,
        }
    }
}

impl<G: Members> Group<G> {
    /// Adds a variable visible to every member. Only namespace groups have variables: on an infra
    /// group this is a compile error.
    pub fn var(mut self, name: &str, value: impl Into<crate::model::vars::VarValue>) -> Self
    where
        Self: HasVars,
    {
        self.vars.push(crate::model::vars::Var::new(name, value));
        self
    }
}

/// Components that hold variables: roles, namespace groups and keyed containers of them. `.var()`
/// exists only on these, so variables on infra containers (which nothing would read) do not
/// compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no variables: `.var()` belongs to namespace components",
    label = "variables are declared on roles, role groups and keyed containers of roles",
    note = "declare the variable in the namespace model (`vars {{ … }}`, or `.var()` on a role)"
)]
pub trait HasVars {}

impl<G: NamespaceMembers> HasVars for Group<G> {}
impl<T: HasVars> HasVars for Multi<T> {}

/// Marks the members of a namespace group (`namespace! { group … }`), whose containers may hold
/// variables. Implemented by the macro.
#[doc(hidden)]
pub trait NamespaceMembers: Members {}

impl<G> Default for Group<G> {
    fn default() -> Self {
        Group {
            name: None,
            vars: Vec::new(),
            _g: PhantomData,
        }
    }
}

impl<G: Members> Component for Group<G> {
    type Path = G::Path;
    type View<CV: Clone + Send + Sync + 'static> = CV;
    const SIZE: u32 = 1 + G::MEMBERS_SIZE;
    fn layout(nodes: &mut Vec<Node>, parent: u32, step: Step) {
        let me = push_node(nodes, parent, step, NodeKind::Group);
        G::layout_members(nodes, me);
    }
    const UNPLACED: G::Path = G::UNPLACED;
    fn path(at: At) -> G::Path {
        G::members_path(at)
    }
    fn build<CV: Clone + Send + Sync + 'static>(w: &Shared, at: At, up: CV, make: Make<Self, CV>) {
        let env = env_for(w, at);
        let spec = make(&env, &up);
        {
            let mut g = w.lock();
            let tree = g.tree_mut(at.model);
            let node = &tree.nodes[at.node as usize];
            let name = match (spec.name, &node.step) {
                (Some(name), _) => Some(name),
                // An unnamed group instance of a keyed container takes the container's (field)
                // name, so instances are named `<field>_<key>`, not `<key>_<key>`.
                (None, Step::Key(_)) => Some(tree.nodes[node.parent as usize].name.clone()),
                (None, _) => None,
            };
            if let Some(name) = name {
                tree.nodes[at.node as usize].name = name;
            }
        }
        if !spec.vars.is_empty() {
            crate::model::vars::set_vars(w, at, spec.vars.into_iter().collect());
        }
        let view = Within {
            path: G::members_path(at),
            container: up,
            key: env.name,
            idx: env.idx,
        };
        G::build_members(w, at, view);
    }
}

/// A keyed container: each new key creates a fresh instance of the template, built by re-evaluating
/// the template expression with that key as `ctx.name`. Aliases: `MultiResource`, `MultiRole`,
/// `MultiResourceGroup`, `MultiRoleGroup`.
pub struct Multi<T> {
    template: T,
    namesep: Option<String>,
    vars: Vec<crate::model::vars::Var>,
}

impl<T> Multi<T> {
    /// A keyed container of instances of `template`.
    pub fn new(template: T) -> Self {
        Multi {
            template,
            namesep: None,
            vars: Vec::new(),
        }
    }
    /// Adds a variable on the container, visible to every instance. Only keyed containers of
    /// roles and role groups have variables: on an infra container this is a compile error.
    pub fn var(mut self, name: &str, value: impl Into<crate::model::vars::VarValue>) -> Self
    where
        Self: HasVars,
    {
        self.vars.push(crate::model::vars::Var::new(name, value));
        self
    }
    /// The separator between the template's name and the key in instance names (default `_`).
    pub fn namesep(mut self, sep: impl Into<String>) -> Self {
        self.namesep = Some(sep.into());
        self
    }
}

impl<G> Multi<Group<G>> {
    /// A keyed container of groups named `name_<key>`.
    pub fn named(name: impl Into<String>) -> Self {
        Multi::new(Group::new(name))
    }
}

impl<G> Default for Multi<Group<G>> {
    fn default() -> Self {
        Multi::new(Group::default())
    }
}

/// The typed path of a keyed container; index it with `[key]` inside a model expression, or with
/// [`Instance::index`] from code.
pub struct MultiPath<T> {
    at: At,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for MultiPath<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for MultiPath<T> {}
impl<T> Located for MultiPath<T> {
    fn at(&self) -> At {
        self.at
    }
}
impl<T> std::fmt::Debug for MultiPath<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MultiPath({:?})", self.at)
    }
}
impl<T> PartialEq for MultiPath<T> {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at
    }
}

impl<T> MultiPath<T> {
    /// The path at `at` (for generated code).
    pub fn new(at: At) -> Self {
        MultiPath {
            at,
            _t: PhantomData,
        }
    }
}

type MultiView<T, CV> = Within<MultiPath<T>, CV>;

impl<T: Component> Component for Multi<T> {
    type Path = MultiPath<T>;
    type View<CV: Clone + Send + Sync + 'static> = T::View<MultiView<T, CV>>;
    const SIZE: u32 = 1;
    fn layout(nodes: &mut Vec<Node>, parent: u32, step: Step) {
        push_node(
            nodes,
            parent,
            step,
            NodeKind::Multi(Box::<MultiNode>::default()),
        );
    }
    const UNPLACED: MultiPath<T> = MultiPath {
        at: At::UNPLACED,
        _t: PhantomData,
    };
    fn path(at: At) -> MultiPath<T> {
        MultiPath::new(at)
    }
    fn build<CV: Clone + Send + Sync + 'static>(w: &Shared, at: At, up: CV, make: Make<Self, CV>) {
        let env = env_for(w, at);
        let view: MultiView<T, CV> = Within {
            path: MultiPath::new(at),
            container: up,
            key: env.name,
            idx: env.idx,
        };
        let maker = move |w: &Shared, multi: At, key: InstanceKey| -> u32 {
            let inst = {
                let mut g = w.lock();
                let tree = g.tree_mut(multi.model);
                let first = tree.nodes.len() as u32;
                T::layout(&mut tree.nodes, multi.node, Step::Key(key.clone()));
                if let NodeKind::Multi(m) = &mut tree.nodes[multi.node as usize].kind {
                    m.keys.insert(key.clone(), first);
                }
                first
            };
            let make = make.clone();
            let sep_w = w.clone();
            let template: Make<T, MultiView<T, CV>> = Arc::new(move |env, cv| {
                let spec = make(env, cv);
                if let Some(sep) = spec.namesep
                    && let NodeKind::Multi(m) =
                        &mut sep_w.lock().tree_mut(multi.model).nodes[multi.node as usize].kind
                {
                    m.namesep = Some(sep);
                }
                if !spec.vars.is_empty() {
                    crate::model::vars::set_vars(&sep_w, multi, spec.vars.into_iter().collect());
                }
                spec.template
            });
            let at = At {
                model: multi.model,
                node: inst,
            };
            T::build(w, at, view.clone(), template);
            let mut g = w.lock();
            let tree = g.tree_mut(multi.model);
            let sep = tree
                .multi(multi.node)
                .and_then(|m| m.namesep.clone())
                .unwrap_or_else(|| "_".into());
            let node = &mut tree.nodes[inst as usize];
            node.name = format!("{}{}{}", node.name, sep, key);
            inst
        };
        w.lock().makers.insert(at, Arc::new(maker));
    }
}

/// `multi[key]` inside a model expression: the instance for `key`, created on first use.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a keyed component, so it cannot be indexed with `[key]`",
    label = "not a keyed container",
    note = "only keyed containers (`MultiResource`, `MultiResourceGroup`, `MultiRole`, `MultiRoleGroup`) take `[key]`"
)]
pub trait Keyed<E> {
    /// The instance for `key`, created if new.
    fn instance(&self, w: &Shared, key: InstanceKey) -> E;
}

impl<E, K: Keyed<E>> Keyed<E> for Class<K>
where
    ClassLevel<K>: InstancePath,
{
    fn instance(&self, w: &Shared, key: InstanceKey) -> E {
        self.0.instance(w, key)
    }
}

impl<T: Component> Keyed<T::Path> for MultiPath<T> {
    fn instance(&self, w: &Shared, key: InstanceKey) -> T::Path {
        T::path(At {
            model: self.at.model,
            node: instance(w, self.at, key),
        })
    }
}

/// The node of the instance for `key` in the keyed container at `multi`, created if new.
///
/// # Panics
/// If `multi` is a class-level path (class-level references never create instances).
pub fn instance(w: &Shared, multi: At, key: InstanceKey) -> u32 {
    let maker = {
        let g = w.lock();
        // A class-level path names the model type's skeleton, which is no tree of any system.
        assert!(
            g.trees.iter().any(|t| t.id == multi.model),
            "a class-level reference (or one into another system) cannot create keyed instances: \
             keyed instances exist only in model instances; convert class paths with \
             `Instance::instance_ref`"
        );
        if let Some(m) = g.tree(multi.model).multi(multi.node)
            && let Some(&n) = m.keys.get(&key)
        {
            return n;
        }
        g.makers.get(&multi).cloned().unwrap_or_else(|| {
            panic!(
                "`{}` is a class-level reference; keyed instances exist only in model instances",
                g.describe(multi)
            )
        })
    };
    maker(w, multi, key)
}

/// Generated code for `a[k]` inside model expressions.
#[doc(hidden)]
pub fn __index<E, K: Keyed<E>, Q: IntoInstanceKey>(env: &Env, container: &K, key: Q) -> E {
    container.instance(env.world, key.into_key())
}

/// A model type: generated by `#[derive(InfraModel)]`, `namespace!` and `config!`.
pub trait Model: Members {
    /// What kind of model this is.
    const KIND: ModelKind;
    /// The type's name, for messages and paths.
    const NAME: &'static str;
    /// Whether display names are long names.
    const LONG_NAMES: bool = false;
    /// The class-level model id of this type (its skeleton, for model-level references).
    fn class_id() -> ModelId;

    /// Model-level typed paths: references into the model type, not into an instance. They are
    /// their own type ([`Class`]), so they never create instances and are never taken for an
    /// instance's; convert with [`Instance::instance_ref`].
    fn class() -> Class<Self::Path> {
        Class(Self::members_path(At::root(Self::class_id())))
    }

    /// The skeleton tree of the model type (for `path()` of class-level references).
    fn class_tree() -> Tree {
        skeleton::<Self>(Self::class_id(), Self::NAME, ModelKind::Class)
    }
}

/// Creates a model instance inside `w` and builds it. Used by the generated `instance` functions.
#[doc(hidden)]
pub fn __instantiate<M: Model>(w: Shared, name: &str) -> Instance<M> {
    let id = model_id(&w, M::KIND);
    {
        let mut g = w.lock();
        assert!(
            !g.trees.iter().any(|t| t.id == id),
            "this system already has a {:?} model; create another system for a second one",
            M::KIND
        );
        g.trees.push(skeleton::<M>(id, name, M::KIND));
    }
    build_root::<M>(&w, id);
    Instance {
        world: w,
        id,
        _m: PhantomData,
    }
}

/// A model instance: a typed handle into the system it belongs to.
pub struct Instance<M> {
    world: Shared,
    id: ModelId,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for Instance<M> {
    fn clone(&self) -> Self {
        Instance {
            world: self.world.clone(),
            id: self.id,
            _m: PhantomData,
        }
    }
}

impl<M: Model> Instance<M> {
    /// Typed paths into this instance (`inst.root().workers`).
    pub fn root(&self) -> M::Path {
        M::members_path(At::root(self.id))
    }

    /// This instance's id.
    pub fn id(&self) -> ModelId {
        self.id
    }

    /// The system this instance belongs to.
    pub fn world(&self) -> &Shared {
        &self.world
    }

    /// Protects the resource at `path`: no plan deletes or replaces it (`down` and pruning refuse,
    /// naming it) unless told to (`--allow-destroy-protected`). The state records it, so a `down`
    /// without the model refuses too.
    ///
    /// ```
    /// use actuator::prelude::*;
    /// use actuator::infra::test::Database;
    ///
    /// #[derive(InfraModel)]
    /// struct Data {
    ///     #[component(Database::new("orders", 5432))]
    ///     db: Database,
    /// }
    /// let data = Data::instance("data");
    /// data.protect(&data.root().db);
    /// assert!(data.is_protected(&data.root().db));
    /// ```
    pub fn protect(&self, path: &impl Located) {
        let at = path.at();
        self.world
            .lock()
            .tree_mut(at.model)
            .protected
            .insert(at.node);
    }

    /// Whether the resource at `path` is protected.
    pub fn is_protected(&self, path: &impl Located) -> bool {
        let at = path.at();
        self.world
            .lock()
            .tree(at.model)
            .protected
            .contains(&at.node)
    }

    /// The instance of a keyed container for `key`, created (with everything it references) if new.
    pub fn index<E, K: Keyed<E>>(&self, multi: K, key: impl IntoInstanceKey) -> E {
        multi.instance(&self.world, key.into_key())
    }

    /// Converts a model-level (class) path into the same path in this instance.
    ///
    /// ```
    /// use actuator::prelude::*;
    /// use actuator::infra::test::Network;
    ///
    /// #[derive(InfraModel)]
    /// struct Net {
    ///     #[component(Network::new("n"))]
    ///     net: Network,
    /// }
    /// let a = Net::instance("a");
    /// let class_ref = Net::class().map(|n| n.net); // a model-level reference: no instance involved
    /// assert_eq!(class_ref, Net::class().map(|n| n.net)); // the same path every time
    /// let r = a.instance_ref(class_ref);
    /// assert_eq!(r, a.root().net);
    /// assert_eq!(a.path(&r), ["net"]);
    /// ```
    pub fn instance_ref<P: Relocate>(&self, class_path: Class<P>) -> P {
        class_path.0.relocate(self.id)
    }

    /// Runs `f` with this instance's tree.
    pub fn with<R>(&self, f: impl FnOnce(&Tree) -> R) -> R {
        f(self.world.lock().tree(self.id))
    }

    /// Runs `f` with the whole system.
    pub fn with_world<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.world.lock())
    }

    /// The path of `p` from the model root: field names and keys.
    pub fn path(&self, p: &impl Located) -> Vec<String> {
        let at = p.at();
        self.world.lock().tree(at.model).path(at.node)
    }

    /// The display name of the component at `p`.
    pub fn name(&self, p: &impl Located) -> String {
        let at = p.at();
        self.world.lock().tree(at.model).display_name(at.node)
    }

    /// The keys of the keyed container `multi`, in creation order.
    pub fn keys<T>(&self, multi: MultiPath<T>) -> Vec<InstanceKey> {
        self.with_world(|w| {
            w.tree(multi.at.model)
                .multi(multi.at.node)
                .map(|m| m.keys.keys().cloned().collect())
                .unwrap_or_default()
        })
    }

    /// A clone of the element at `p`, downcast to `T`. An error names the path and what is there
    /// instead: an element of another kind, nothing (a container, or not built), or a path of
    /// another system.
    ///
    /// ```
    /// use actuator::prelude::*;
    /// use actuator::infra::StaticServer;
    ///
    /// namespace! {
    ///     struct Site {
    ///         web: Role = Role::new("web").host_ref("127.0.0.1"),
    ///     }
    /// }
    ///
    /// let ns = Site::instance("site");
    /// assert_eq!(ns.get::<Role>(&ns.root().web).unwrap().name(), "web");
    /// let e = ns.get::<StaticServer>(&ns.root().web).unwrap_err();
    /// assert_eq!(e.to_string(), "`Site.web` is a `namespace.Role`, not a `StaticServer`");
    /// ```
    pub fn get<T: Element + Clone>(&self, p: &impl Located) -> Result<T, GetError> {
        self.get_at::<T>(p.at())
    }

    /// The element at a typed path, of the type the path names: no type to get wrong.
    ///
    /// ```
    /// use actuator::prelude::*;
    ///
    /// namespace! {
    ///     struct Site {
    ///         web: Role = Role::new("web").host_ref("127.0.0.1"),
    ///     }
    /// }
    ///
    /// let ns = Site::instance("site");
    /// let web: Role = ns.element(ns.root().web).unwrap();
    /// assert_eq!(web.name(), "web");
    /// ```
    pub fn element<T: Element + Clone>(
        &self,
        p: impl crate::model::IntoRef<T>,
    ) -> Result<T, GetError> {
        self.get_at::<T>(p.into_ref().at())
    }

    fn get_at<T: Element + Clone>(&self, at: At) -> Result<T, GetError> {
        // `actuator::infra::test::Server` → `Server` (generic arguments left out).
        let full = std::any::type_name::<T>();
        let wanted = full[..full.find('<').unwrap_or(full.len())]
            .rsplit("::")
            .next()
            .unwrap_or(full);
        self.with_world(|w| {
            let Some(t) = w.trees.iter().find(|t| t.id == at.model) else {
                return Err(GetError::Foreign {
                    model: format!("{:?}", at.model),
                    system: w.trees.iter().map(|t| t.type_name).collect(),
                });
            };
            let path = t.dotted(at.node);
            let Some(node) = t.nodes.get(at.node as usize) else {
                return Err(GetError::Empty { path });
            };
            match &node.value {
                None => Err(GetError::Empty { path }),
                Some(v) => t.get::<T>(at.node).cloned().ok_or(GetError::OtherKind {
                    path,
                    found: v.kind(),
                    wanted,
                }),
            }
        })
    }

    /// The number of leaf components (resources, roles or tasks) in this instance.
    pub fn leaf_count(&self) -> usize {
        self.with(|t| t.leaves().count())
    }
}

/// Typed paths that can be moved from a class-level model id to an instance's (static offsets are
/// the same in both).
pub trait Relocate {
    /// The same path in model `id`.
    fn relocate(self, id: ModelId) -> Self;
}

impl<P: Located + FromAt> Relocate for P {
    fn relocate(self, id: ModelId) -> Self {
        P::from_at(At {
            model: id,
            node: self.at().node,
        })
    }
}

/// Typed paths rebuilt from a location (generated for every path type).
pub trait FromAt {
    /// The path at `at`.
    fn from_at(at: At) -> Self;
}

impl<T> FromAt for MultiPath<T> {
    fn from_at(at: At) -> Self {
        MultiPath::new(at)
    }
}

/// A new, empty system.
#[doc(hidden)]
pub fn new_world() -> Shared {
    Arc::new(Mutex::new(World::default()))
}

/// The id of the system's model of `kind`, reserved now if that model is created later (an infra
/// model may refer to its namespace's variables before the namespace exists).
#[doc(hidden)]
pub fn model_id(w: &Shared, kind: ModelKind) -> ModelId {
    let mut g = w.lock();
    let slot = match kind {
        ModelKind::Infra => &mut g.infra,
        ModelKind::Namespace => &mut g.namespace,
        _ => &mut g.config,
    };
    *slot.get_or_insert_with(ModelId::fresh)
}

/// Builds a config model nested in another (`ConfigClassTask`): a fresh tree in the same system, not
/// registered as the system's config model. Returns its root.
pub(crate) fn instantiate_nested<M: Model>(w: &Shared) -> At {
    let id = ModelId::fresh();
    w.lock().trees.push(skeleton::<M>(id, M::NAME, M::KIND));
    build_root::<M>(w, id)
}

/// A tree holding the static skeleton of model `M`, nothing built yet.
fn skeleton<M: Model + ?Sized>(id: ModelId, name: &str, kind: ModelKind) -> Tree {
    let mut nodes = Vec::new();
    push_node(&mut nodes, u32::MAX, Step::Root, NodeKind::Root);
    M::layout_members(&mut nodes, 0);
    Tree {
        id,
        name: name.into(),
        type_name: M::NAME,
        kind,
        nodes,
        long_names: M::LONG_NAMES,
        vars: Default::default(),
        protected: Default::default(),
    }
}

/// Evaluates every member of the model whose tree is `id`; returns its root.
fn build_root<M: Model>(w: &Shared, id: ModelId) -> At {
    let root = At::root(id);
    let view = Within {
        path: M::members_path(root),
        container: (),
        key: "".into_key(),
        idx: None,
    };
    M::build_members(w, root, view);
    root
}

/// Why [`Instance::get`] has no element of the type asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GetError {
    /// An element of another kind is there.
    #[error("`{path}` is a `{found}`, not a `{wanted}`")]
    OtherKind {
        /// The model path.
        path: String,
        /// The kind of what is there.
        found: &'static str,
        /// The type asked for.
        wanted: &'static str,
    },
    /// A container, or a leaf not built.
    #[error("`{path}` holds no element (a container, or a component not built)")]
    Empty {
        /// The model path.
        path: String,
    },
    /// The path belongs to a model of another system.
    #[error("the path is of model {model}, which is not part of this system (its models: {})", .system.join(", "))]
    Foreign {
        /// The path's model id.
        model: String,
        /// The models of this system, by type name.
        system: Vec<&'static str>,
    },
}
