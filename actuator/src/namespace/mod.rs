//! Namespace models: roles, their hosts and variables (`namespace!`).
//!
//! ```
//! use actuator::prelude::*;
//!
//! namespace! {
//!     /// Two tiers on fixed hosts.
//!     pub struct Site {
//!         vars { PORT = "8080", URL = "http://!{HOST}:!{PORT}/" }
//!         web: Role = Role::new("web").host_ref("127.0.0.1").var("HOST", "web.local"),
//!     }
//! }
//!
//! let ns = Site::instance("site");
//! assert_eq!(ns.var_value(&ns.root().web, "URL").unwrap(), "http://web.local:8080/");
//! ```

mod names;
mod report;
mod vars;

pub use crate::model::vars::{Var, VarRef, VarSet, VarValue, add_override, add_var, set_vars};
#[doc(hidden)]
pub use names::DeclaresVars;
pub use report::{RoleReport, VarReport};
pub use vars::{MASK, VarError, expand_for, expand_partial, find_var, var_value, visible_vars};
pub(crate) use vars::{
    Missing, TypedVarError, declared_elsewhere, expand_revealing, parse_var, secret_values,
    why_missing,
};

use crate::model::build::{Instance, Located, Members, Model, Shared, Unbound};
use crate::model::{At, FromAt, IntoRef, Node, Ref};

/// Where a role runs: an addressable infra component, or a host name / IP (may be a template).
#[derive(Clone, Debug, PartialEq)]
pub enum HostRef {
    /// An infra component with an address.
    Infra(At),
    /// A host name or address; `!{NAME}` references are expanded for the role.
    Name(String),
}

/// Infra components that have an address and can therefore host a role.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a role's host: it is not an addressable resource",
    label = "has no IP address or host name",
    note = "a `host_ref` takes a server-like resource (one with an address), a `StaticServer`, or a host name string"
)]
pub trait Addressable {}

/// What `Role::host_ref` accepts.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a role's host: it is not an addressable resource",
    label = "has no IP address or host name",
    note = "a `host_ref` takes a server-like resource (one with an address), a `StaticServer`, or a host name string"
)]
pub trait IntoHost {
    /// The host reference.
    fn into_host(self) -> HostRef;
}

impl<P: Located> IntoHost for crate::model::Class<P>
where
    crate::model::ClassLevel<P>: crate::model::InstancePath,
{
    fn into_host(self) -> HostRef {
        HostRef::Infra(self.at())
    }
}
impl IntoHost for &str {
    fn into_host(self) -> HostRef {
        HostRef::Name(self.to_owned())
    }
}
impl IntoHost for String {
    fn into_host(self) -> HostRef {
        HostRef::Name(self)
    }
}

/// A role: a named set of responsibilities on one host, with variables.
#[derive(Clone, Debug)]
pub struct Role {
    name: String,
    /// The host, if any.
    pub host: Option<HostRef>,
    /// The role's own variables (they win over every container's).
    pub vars: Vec<Var>,
}

impl Role {
    /// A role named `name` without a host yet.
    pub fn new(name: impl Into<String>) -> Role {
        Role {
            name: name.into(),
            host: None,
            vars: Vec::new(),
        }
    }
    /// Sets the host: an addressable infra component (`infra.server`) or a host name / template.
    pub fn host_ref(mut self, host: impl IntoHost) -> Role {
        self.host = Some(host.into_host());
        self
    }
    /// Adds a variable exported to task environments.
    pub fn var(mut self, name: &str, value: impl Into<VarValue>) -> Role {
        self.vars.retain(|v| v.name != name);
        self.vars.push(Var::new(name, value));
        self
    }
    /// Adds a variable used in templates but not exported to task environments.
    pub fn hidden_var(mut self, name: &str, value: impl Into<VarValue>) -> Role {
        self.vars.retain(|v| v.name != name);
        self.vars.push(Var::new(name, value).in_env(false));
        self
    }
    /// The role's declared name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl crate::model::build::HasVars for Role {}

impl crate::model::Element for Role {
    fn kind(&self) -> &'static str {
        "namespace.Role"
    }
    fn base_name(&self) -> &str {
        &self.name
    }
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        if let Some(HostRef::Infra(at)) = &self.host {
            f(*at)
        }
        for v in &self.vars {
            if let VarValue::Out(at, _) = &v.value {
                f(*at)
            }
        }
    }
}

/// Typed path to a role.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RolePath {
    __at: At,
}

impl RolePath {
    /// The variable `name` as seen from this role.
    pub fn v(&self, name: &'static str) -> VarRef {
        VarRef::new(self.__at, name)
    }
}
impl Located for RolePath {
    fn at(&self) -> At {
        self.__at
    }
}
impl FromAt for RolePath {
    fn from_at(at: At) -> Self {
        RolePath { __at: at }
    }
}
impl IntoRef<Role> for RolePath {
    fn into_ref(self) -> Ref<Role> {
        Ref::new(self.__at)
    }
}
crate::__leaf_component!(
    Role,
    RolePath,
    RolePath::from_at,
    RolePath { __at: At::UNPLACED }
);

/// A namespace model type (generated by `namespace!`).
pub trait NamespaceModel: Model {
    /// The infra model its roles point into ([`NoInfra`] when hosts are names).
    type Infra: Members;
}

/// The infra of a namespace whose hosts are all names or addresses.
pub struct NoInfra;

impl Members for NoInfra {
    type Path = Unbound;
    const MEMBERS_SIZE: u32 = 0;
    const UNPLACED: Unbound = Unbound;
    fn layout_members(_: &mut Vec<Node>, _: u32) {}
    fn members_path(_: At) -> Unbound {
        Unbound
    }
    fn build_members<U: Clone + Send + Sync + 'static>(
        _: &Shared,
        _: At,
        _: crate::model::Within<Unbound, U>,
    ) {
    }
}

/// Typed paths of the system's infra model (generated code).
#[doc(hidden)]
pub fn infra_path<I: Members>(w: &Shared) -> I::Path {
    I::members_path(At::root(crate::model::build::model_id(
        w,
        crate::model::ModelKind::Infra,
    )))
}

impl<M: NamespaceModel> Instance<M> {
    /// The expanded value of variable `name` for the role or container at `reader`.
    pub fn var_value(&self, reader: &impl Located, name: &str) -> Result<String, VarError> {
        var_value(self.world(), reader.at(), name)
    }

    /// Expands `template` for the role or container at `reader`.
    pub fn expand(&self, reader: &impl Located, template: &str) -> Result<String, VarError> {
        expand_for(self.world(), reader.at(), template)
    }

    /// Adds an override on the container or role at `at` (non-destructive).
    pub fn add_override(&self, at: &impl Located, var: Var) {
        add_override(self.world(), at.at(), var)
    }

    /// Adds (or replaces) a variable on the container or role at `at`.
    pub fn add_var(&self, at: &impl Located, var: Var) {
        add_var(self.world(), at.at(), var)
    }

    /// Every role of the namespace (all keyed instances included), in creation order.
    pub fn roles(&self) -> Vec<At> {
        let id = self.id();
        self.with(|t| {
            t.leaves()
                .filter(|(_, e)| e.kind() == "namespace.Role")
                .map(|(n, _)| At { model: id, node: n })
                .collect()
        })
    }

    /// The infra components the roles need: their hosts and the components their variables read.
    pub fn required_resources(&self) -> Vec<At> {
        let roles = self.roles();
        let g = self.world().lock();
        let mut out: Vec<At> = Vec::new();
        for r in roles {
            if let Some(e) = g.element(r) {
                e.visit_refs(&mut |at| {
                    if !out.contains(&at) {
                        out.push(at)
                    }
                });
            }
        }
        out
    }

    /// The variable report: for each role, every visible variable with its value (or what is
    /// missing), where it is defined, and whether it goes to task environments.
    pub fn report(&self) -> Vec<RoleReport> {
        report::report(self.world(), &self.roles())
    }
}

/// A fixed group of roles declared with `namespace! { group … }`.
pub type RoleGroup<G> = crate::model::Group<G>;
/// A keyed container of roles: each new key clones the template role.
pub type MultiRole = crate::model::Multi<Role>;
/// A keyed container of role groups.
pub type MultiRoleGroup<G> = crate::model::Multi<crate::model::Group<G>>;

/// Generated code's check that `#[infra(namespace = N)]` names a namespace declared `for` that
/// infra model `I` (`namespace! { struct N for I }`): the infra's `ctx.nexus.ns` reads the
/// system's namespace through `N`'s paths, which fit only a namespace of `N`'s type. Implemented
/// by `I` alone (asked of `N::Infra`), so a mismatch is this message rather than a type mismatch
/// between projections.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{N}` is a namespace of `{Self}`, not of `{I}`",
    label = "this namespace is declared for another infra model",
    note = "`#[infra(namespace = N)]` names the namespace declared as `namespace! {{ struct N for {I} {{ … }} }}` (`NoInfra`: declared without `for`)"
)]
pub trait NamespaceOf<N, I> {}
impl<N, I> NamespaceOf<N, I> for I {}

/// Generated code: `#[infra(namespace = N)]`'s check (see [`NamespaceOf`]).
#[doc(hidden)]
pub const fn namespace_of<N: NamespaceModel, I>()
where
    N::Infra: NamespaceOf<N, I>,
{
}

/// The namespace an infra model declares with `#[infra(namespace = N)]` (generated), or
/// [`Undeclared`].
#[doc(hidden)]
pub trait DeclaredNamespace {
    /// `N`, or [`Undeclared`].
    type Namespace;
}

/// An infra model that names no namespace: any namespace may be declared `for` it.
#[doc(hidden)]
pub struct Undeclared;

/// Generated code's check that `namespace! { struct M for I }` agrees with `I`'s
/// `#[infra(namespace = N)]`, when it has one: `N` must be `M`.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "the infra model declares `#[infra(namespace = {Self})]`, not `{M}`",
    label = "this infra model's namespace is another",
    note = "an infra model's `namespace = …` and the namespace declared `for` it must be the same model"
)]
pub trait Admits<M> {}
impl<M: NamespaceModel> Admits<M> for M {}
impl<M> Admits<M> for Undeclared {}

/// Generated code: `namespace! { struct M for I }`'s check (see [`Admits`]).
#[doc(hidden)]
pub const fn namespace_admitted<M, I: DeclaredNamespace>()
where
    I::Namespace: Admits<M>,
{
}
