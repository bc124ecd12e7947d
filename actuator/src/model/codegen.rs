//! Runtime support for the code `#[derive(InfraModel)]`, `#[derive(ResourceGroup)]`, `namespace!`
//! and `config!` generate.
//!
//! A model of hundreds or thousands of components must compile in time, memory and stack that grow
//! linearly with it. So the macros emit *tables* — member sizes, layouts, members, typed-path
//! setters, variables, dependency edges — and one small function per component expression, and the
//! loops over those tables live here, generic over the component type only: no generated function
//! grows with the model, no generic closure is generated per component, and what every member's
//! expression shares (the typed paths of its model and of the connected models) is built once per
//! model and reached through an [`Arc`], never copied per component.

use std::ops::Deref;
use std::sync::Arc;

use super::build::{Comp, Component, Ctx, Shared};
use super::ids::{At, Step};
use super::tree::Node;
use super::vars::{Var, VarSet, VarValue, set_vars};

/// What a group's container view must be (every view is cheap to clone: paths are `Copy`, views
/// of groups are shared through an [`Arc`]).
pub trait Up: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> Up for T {}

/// One row of a model's layout table: a member's field name, how many nodes it takes and how to
/// lay them out.
#[derive(Clone, Copy)]
pub struct Layout {
    name: &'static str,
    size: u32,
    layout: fn(&mut Vec<Node>, u32, Step),
}

impl Layout {
    /// The row of a member of type `C` in field `name`.
    pub const fn of<C: Component>(name: &'static str) -> Layout {
        Layout {
            name,
            size: C::SIZE,
            layout: C::layout,
        }
    }
}

/// Static offsets of a model's members: the member `i` sits after the model's (or group's) own node
/// and the nodes of members `0..i`.
pub const fn offsets<const N: usize>(table: &[Layout; N]) -> [u32; N] {
    let mut out = [0; N];
    let mut next = 1;
    let mut i = 0;
    while i < N {
        out[i] = next;
        next += table[i].size;
        i += 1;
    }
    out
}

/// A group's or model's own place, from its first member's: members are laid out right after
/// their parent, so the first is one node further (see [`offsets`]). Generated paths keep no
/// place of their own when they have a member, so that rustc's "available fields" note lists
/// only the user's components.
pub const fn parent_of_first(first: At) -> At {
    if first.node == u32::MAX {
        first
    } else {
        At {
            model: first.model,
            node: first.node - 1,
        }
    }
}

/// The nodes all members of a layout table take.
pub const fn total(table: &[Layout]) -> u32 {
    let mut sum = 0;
    let mut i = 0;
    while i < table.len() {
        sum += table[i].size;
        i += 1;
    }
    sum
}

/// Lays out every member of a table under `me`, in declaration order.
pub fn layout_table(nodes: &mut Vec<Node>, me: u32, table: &[Layout]) {
    for row in table {
        (row.layout)(nodes, me, Step::Field(row.name));
    }
}

/// The typed path of member `i` (of type `C`) of the model or group at `at`. The offsets are
/// passed by reference: indexing a constant array in place would copy all of it per member.
pub fn path<C: Component>(at: At, offsets: &[u32], i: usize) -> C::Path {
    C::path(at.offset(offsets[i]))
}

/// Places typed paths built as a constant ([`Members::UNPLACED`](super::Members::UNPLACED)) at
/// `at`: each row of `table` sets one field (one small generated function per member or variable),
/// so the path constructor is this loop, not a struct literal as long as the model.
pub fn place<P>(paths: &mut P, at: At, table: &[fn(&mut P, At)]) {
    for set in table {
        set(paths, at);
    }
}

/// What `ctx` reaches through `Deref`: `ctx.model` and `ctx.nexus`, the typed paths of the
/// component's model and of the models connected to it.
pub struct Paths<MP, NX> {
    /// Typed paths of the model the component belongs to ([`super::Unbound`] inside reusable
    /// groups).
    pub model: MP,
    /// Typed paths of the connected models (`ctx.nexus.inf`, `ctx.nexus.ns` …).
    pub nexus: NX,
}

/// What a model's or group's members see as their container: its path, key and index, without
/// what is outside it (the type that would name it is a type parameter of the generated
/// `build_members`, which would otherwise show in rustc's messages and make every member's
/// expression generic).
pub fn enclosed<P, U>(view: super::Within<P, U>) -> super::Within<P> {
    super::Within {
        path: view.path,
        container: (),
        key: view.key,
        idx: view.idx,
    }
}

/// What every member of one model (or one group instance) shares: built once, before its
/// members, and held by each member's expression through an [`Arc`].
pub struct BuildScope<MP, NX, V> {
    at: At,
    paths: Paths<MP, NX>,
    /// The container view the members see as `ctx.comp.container`.
    view: V,
}

impl<MP, NX, V> BuildScope<MP, NX, V> {
    /// The scope of the model or group at `at`.
    pub fn new(at: At, model: MP, nexus: NX, view: V) -> Arc<Self> {
        Arc::new(BuildScope {
            at,
            paths: Paths { model, nexus },
            view,
        })
    }
}

/// A component expression compiled to a plain function of `ctx` (generated per component).
pub type MakeFn<C, MP, NX, V> = for<'a, 'e> fn(&'a Ctx<'e, MP, NX, <C as Component>::View<V>>) -> C;

/// One row of a model's member table: where the member sits and its expression.
pub struct Member<C: Component, MP, NX, V: Up> {
    offset: u32,
    make: MakeFn<C, MP, NX, V>,
}

impl<C: Component, MP, NX, V: Up> Member<C, MP, NX, V> {
    /// The member at `offset` from its model's node, built by `make`.
    pub const fn new(offset: u32, make: MakeFn<C, MP, NX, V>) -> Self {
        Member { offset, make }
    }
}

/// A member table row with its component type erased, so one table holds every member.
pub trait BuildMember<S> {
    /// Builds the member in `scope`.
    fn build(&self, w: &Shared, scope: &Arc<S>);
}

impl<C, MP, NX, V> BuildMember<BuildScope<MP, NX, V>> for Member<C, MP, NX, V>
where
    C: Component,
    MP: Send + Sync + 'static,
    NX: Send + Sync + 'static,
    V: Up,
{
    fn build(&self, w: &Shared, scope: &Arc<BuildScope<MP, NX, V>>) {
        let shared = Arc::clone(scope);
        let make = self.make;
        C::build::<V>(
            w,
            scope.at.offset(self.offset),
            scope.view.clone(),
            Arc::new(move |env, cv| {
                make(&Ctx {
                    comp: Comp {
                        container: cv.clone(),
                        idx: env.idx.clone(),
                        at: env.at,
                    },
                    name: &env.name,
                    env,
                    paths: &shared.paths,
                })
            }),
        );
    }
}

/// Builds every member of a table, in declaration order.
pub fn build_table<S>(w: &Shared, scope: &Arc<S>, table: &[&dyn BuildMember<S>]) {
    for member in table {
        member.build(w, scope);
    }
}

/// A `vars { }` entry of a namespace or role group.
pub enum VarDef<MP, NX, V> {
    /// `NAME = "literal"`.
    Lit {
        /// Its name.
        name: &'static str,
        /// Its value.
        value: &'static str,
        /// Whether it is exported to task environments.
        in_env: bool,
    },
    /// `secret NAME = expression`: a [`Var::secret`], its value made once, when the model is
    /// built (a secret is the same for every reader, and known to be one before anyone reads
    /// it: the orchestration masks it in everything it shows).
    Secret {
        /// Its name.
        name: &'static str,
        /// Whether it is exported to task environments.
        in_env: bool,
        /// The value.
        make: fn() -> crate::secret::Secret,
    },
    /// `NAME = expression`: evaluated for each reader.
    Lazy {
        /// Its name.
        name: &'static str,
        /// Whether it is exported to task environments.
        in_env: bool,
        /// The expression, as a function of `ctx` (the namespace or group declaring it).
        make: for<'a, 'e> fn(&'a Ctx<'e, MP, NX, V>) -> VarValue,
    },
}

/// Sets the variables of a table on the scope's model or group.
pub fn var_table<MP, NX, V>(
    w: &Shared,
    scope: &Arc<BuildScope<MP, NX, V>>,
    table: &[VarDef<MP, NX, V>],
) where
    MP: Send + Sync + 'static,
    NX: Send + Sync + 'static,
    V: Up,
{
    let mut set = VarSet::default();
    for def in table {
        set.add(match *def {
            VarDef::Lit {
                name,
                value,
                in_env,
            } => Var::new(name, value).in_env(in_env),
            VarDef::Secret { name, in_env, make } => Var::secret(name, make()).in_env(in_env),
            VarDef::Lazy { name, in_env, make } => {
                let shared = Arc::clone(scope);
                Var::lazy(
                    name,
                    Arc::new(move |env| {
                        make(&Ctx {
                            comp: Comp {
                                container: shared.view.clone(),
                                idx: env.idx.clone(),
                                at: env.at,
                            },
                            name: &env.name,
                            env,
                            paths: &shared.paths,
                        })
                    }),
                )
                .in_env(in_env)
            }
        });
    }
    set_vars(w, scope.at, set);
}

/// The declared dependency edges of a config model at `at`, from a table of member offsets.
pub fn edge_table(at: At, table: &[(u32, u32)]) -> Vec<(At, At)> {
    table
        .iter()
        .map(|&(a, b)| (at.offset(a), at.offset(b)))
        .collect()
}

impl<MP, NX, CV> Deref for Ctx<'_, MP, NX, CV> {
    type Target = Paths<MP, NX>;
    fn deref(&self) -> &Paths<MP, NX> {
        self.paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::{Group, Unbound};

    struct Three;
    impl crate::model::Members for Three {
        type Path = Unbound;
        const MEMBERS_SIZE: u32 = 2;
        const UNPLACED: Unbound = Unbound;
        fn layout_members(_: &mut Vec<Node>, _: u32) {}
        fn members_path(_: At) -> Unbound {
            Unbound
        }
        fn build_members<U: Up>(_: &Shared, _: At, _: crate::model::Within<Unbound, U>) {}
    }

    #[test]
    fn offsets_follow_the_sizes() {
        use crate::infra::test::Network;
        let table = [
            Layout::of::<Network>("a"),
            Layout::of::<Group<Three>>("b"),
            Layout::of::<Network>("c"),
        ];
        assert_eq!(offsets(&table), [1, 2, 5]);
        assert_eq!(total(&table), 5);
        assert_eq!(offsets::<0>(&[]), [0u32; 0]);
    }
}
