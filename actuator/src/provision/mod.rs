//! Provisioner proxies: the bridge between infra resources and a cloud API.
//!
//! The contract every cloud implements ([`ProvisionerProxy`]):
//!
//! * [`validate`](ProvisionerProxy::validate) — everything about a resource that can be known
//!   without a cloud call; the pre-flight runs it for every resource before `plan` or `up` touch
//!   anything;
//! * [`provision`](ProvisionerProxy::provision) — create, finding a previous attempt (a crash
//!   between the call and its record) by tag or client token first, never adopting a resource
//!   tagged for another state;
//! * [`read`](ProvisionerProxy::read) — the resource as the cloud has it now, or gone (refresh and
//!   drift);
//! * [`update`](ProvisionerProxy::update) — apply changed arguments in place (only the ones the
//!   resource type declares updatable; every other change replaces the resource);
//! * [`deprovision`](ProvisionerProxy::deprovision) — delete from what the state recorded, so
//!   teardown works from the state alone, in a new process;
//! * [`discover`](ProvisionerProxy::discover) and [`import`](ProvisionerProxy::import) — find what
//!   is tagged for a system and workspace when the state is lost, adopt an existing resource.
//!
//! Which arguments update in place is declared once per resource type
//! (`#[resource(update(arg, …))]`, [`ChangePolicy`](crate::model::args::ChangePolicy)), not per
//! call site: the plan decides between update and replace, the proxy only carries it out.
//!
//! Each resource is given to one proxy, chosen as the original chose: the resource's `cloud` name,
//! or else the single proxy that handles its kind. A [`StaticProxy`] for `StaticServer`s is always
//! present.

mod select;
pub mod sim;
mod ssh_key;
mod static_proxy;

/// The error every proxy call returns: the engine retries it when it says so.
pub use crate::engine::AttemptError;
pub use select::{SelectError, select};
pub use sim::SimProxy;
pub use ssh_key::openssh_key_type;
pub use static_proxy::StaticProxy;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::engine::Limit;
use crate::model::args::{ArgCx, Args};
use crate::model::build::Shared;
use crate::model::vars::VarRef;
use crate::model::{At, Element, Located, Val};
use crate::namespace::TypedVarError;

/// What provisioning learnt about a resource: ids, addresses. Recorded in the state and readable by
/// other components as outputs (`ctx.model.server.ip`).
pub type Outputs = BTreeMap<String, String>;

/// Tag keys every created resource carries (as tags, labels or metadata, as the cloud calls them).
pub mod tags {
    /// The system name.
    pub const SYSTEM: &str = "actuator:system";
    /// The workspace (environment) of the system.
    pub const WORKSPACE: &str = "actuator:workspace";
    /// The id of the state that created it: a resource tagged for another state is never adopted.
    pub const STATE: &str = "actuator:state";
    /// The resource's model path.
    pub const PATH: &str = "actuator:path";
}

/// Whose resources these are: a system, one of its workspaces, and the state that records them.
/// Two workspaces of one binary in one account never touch each other's resources, and a state
/// that was lost and started afresh never silently adopts what the old one made.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Scope {
    /// The system name.
    pub system: String,
    /// The workspace (`default` unless chosen).
    pub workspace: String,
    /// The state's random id, made when the state was first written.
    pub state_id: String,
}

impl Scope {
    /// The identity tags of a resource at model path `path` of this scope.
    ///
    /// ```
    /// use actuator::provision::Scope;
    /// let s = Scope { system: "web".into(), workspace: "prod".into(), state_id: "3f2a".into() };
    /// let t = s.tags("Web.vpc");
    /// assert_eq!(t[1], ("actuator:workspace".to_string(), "prod".to_string()));
    /// assert_eq!(t.len(), 4);
    /// ```
    pub fn tags(&self, path: &str) -> Vec<(String, String)> {
        vec![
            (tags::SYSTEM.into(), self.system.clone()),
            (tags::WORKSPACE.into(), self.workspace.clone()),
            (tags::STATE.into(), self.state_id.clone()),
            (tags::PATH.into(), path.to_owned()),
        ]
    }

    /// Whether a resource carrying `tags` belongs to this scope's system and workspace (whatever
    /// its state), and, if it does, whether to this very state.
    ///
    /// ```
    /// use actuator::provision::{Ownership, Scope};
    /// let s = Scope { system: "web".into(), workspace: "prod".into(), state_id: "a".into() };
    /// let mine = |state: &str| s.owns([("actuator:system", "web"), ("actuator:workspace", "prod"),
    ///                                   ("actuator:state", state)]);
    /// assert_eq!(mine("a"), Ownership::Mine);
    /// assert_eq!(mine("b"), Ownership::OtherState("b".into()));
    /// assert_eq!(s.owns([("actuator:system", "web"), ("actuator:workspace", "dev")]), Ownership::Foreign);
    /// ```
    pub fn owns<K: AsRef<str>, V: AsRef<str>>(
        &self,
        tags: impl IntoIterator<Item = (K, V)>,
    ) -> Ownership {
        let (mut system, mut workspace, mut state) = (None, None, None);
        for (k, v) in tags {
            match k.as_ref() {
                tags::SYSTEM => system = Some(v.as_ref().to_owned()),
                tags::WORKSPACE => workspace = Some(v.as_ref().to_owned()),
                tags::STATE => state = Some(v.as_ref().to_owned()),
                _ => {}
            }
        }
        if system.as_deref() != Some(self.system.as_str())
            || workspace.as_deref() != Some(self.workspace.as_str())
        {
            return Ownership::Foreign;
        }
        match state {
            Some(s) if s == self.state_id => Ownership::Mine,
            Some(s) => Ownership::OtherState(s),
            None => Ownership::OtherState(String::new()),
        }
    }
}

/// What a resource's tags say about who owns it (see [`Scope::owns`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged for this system, workspace and state: a previous attempt of ours, adopt it.
    Mine,
    /// This system and workspace, but another state (a lost or copied state): never adopt it;
    /// report it (`down --discover` cleans it up).
    OtherState(String),
    /// Another system or workspace: not ours at all.
    Foreign,
}

/// What [`ProvisionerProxy::read`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// The resource exists; its outputs as the cloud has them now.
    Exists(Outputs),
    /// The resource no longer exists (deleted behind the tool's back).
    Gone,
}

/// A resource [`ProvisionerProxy::discover`] found tagged for a system and workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// Its kind.
    pub kind: String,
    /// The model path its tag gives.
    pub key: String,
    /// The state its tag gives (`""` when untagged).
    pub state_id: String,
    /// What identifies it, as [`ProvisionerProxy::provision`] would have recorded it (at least its
    /// id), so [`ProvisionerProxy::deprovision`] can delete it.
    pub outputs: Outputs,
}

/// A problem [`ProvisionerProxy::validate`] found, naming the argument and its value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("argument `{arg}`: {message}")]
pub struct Invalid {
    /// The argument.
    pub arg: String,
    /// What is wrong, with the value.
    pub message: String,
}

impl Invalid {
    /// Argument `arg` is wrong: `message` says how, quoting the value.
    pub fn new(arg: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid {
            arg: arg.into(),
            message: message.into(),
        }
    }
}

/// What a proxy sees of the resource it provisions, updates or validates.
pub struct ProvisionCx {
    /// Shared by every resource of a walk: one reference counted per context, not three (a
    /// count is an atomic read-modify-write both ways, and a step is a microsecond).
    walk: Arc<WalkCx>,
    at: At,
    replaces: Option<Provisioned>,
    /// The arguments once resolved ([`args`](Self::args)), and whether that read a variable.
    args: OnceLock<(Args, bool)>,
}

/// What the contexts of one walk's resources have in common.
pub(crate) struct WalkCx {
    world: Shared,
    scope: Arc<Scope>,
    /// The state's salt for hashing secret arguments (none: empty).
    salt: Option<Arc<str>>,
}

impl WalkCx {
    /// For the resources of `world`, owned by `scope`, their secrets hashed with `salt`.
    pub(crate) fn new(world: Shared, scope: Arc<Scope>, salt: Option<Arc<str>>) -> Arc<Self> {
        Arc::new(WalkCx { world, scope, salt })
    }

    /// The context of the resource at `at`.
    pub(crate) fn at(self: &Arc<Self>, at: At) -> ProvisionCx {
        ProvisionCx {
            walk: self.clone(),
            at,
            replaces: None,
            args: OnceLock::new(),
        }
    }

    /// The model the resources are in.
    pub(crate) fn world(&self) -> &Shared {
        &self.world
    }

    fn salt(&self) -> &str {
        self.salt.as_deref().unwrap_or("")
    }
}

impl ProvisionCx {
    /// A context for the resource at `at` of `world`, owned by `scope` (tests of proxies use this
    /// directly).
    pub fn new(world: Shared, at: At, scope: impl Into<Arc<Scope>>) -> Self {
        WalkCx::new(world, scope.into(), None).at(at)
    }
    /// The same context for the resource at `at` (of the same world and scope).
    pub(crate) fn move_to(&mut self, at: At) {
        self.at = at;
        self.replaces = None;
        self.args = OnceLock::new();
    }
    /// Hashes secret arguments with the state's salt (see [`args`](Self::args)).
    #[cfg(test)]
    fn salted(self, salt: Arc<str>) -> Self {
        let w = &self.walk;
        WalkCx::new(w.world.clone(), w.scope.clone(), Some(salt)).at(self.at)
    }
    /// Marks this create as the replacement of `old` (create-before-destroy): a resource found by
    /// tag that *is* `old` is not a previous attempt of this create.
    pub fn replacing(mut self, old: Provisioned) -> Self {
        self.replaces = Some(old);
        self
    }
    /// The resource this create replaces, if it does: skip it when looking for a previous attempt.
    pub fn replaces(&self) -> Option<&Provisioned> {
        self.replaces.as_ref()
    }
    /// The resource's model value, as its concrete type.
    ///
    /// # Errors
    /// If the resource is not a `T` (a proxy registered for a kind it does not implement).
    pub fn resource<T: Element + Clone>(&self) -> Result<T, AttemptError> {
        let g = self.walk.world.lock();
        g.tree(self.at.model)
            .get::<T>(self.at.node)
            .cloned()
            .ok_or_else(|| {
                AttemptError::fatal(format!(
                    "{} is not a {}",
                    g.describe(self.at),
                    std::any::type_name::<T>()
                ))
            })
    }
    /// The resource's kind, e.g. `aws.Vpc`.
    pub fn kind(&self) -> String {
        self.walk
            .world
            .lock()
            .element(self.at)
            .map_or_else(String::new, |e| e.kind().to_owned())
    }
    /// The model path, e.g. `WebInfra.apps.3`: the resource's key in the state.
    pub fn path(&self) -> String {
        self.walk.world.lock().describe(self.at)
    }
    /// The name to give the resource in the cloud (long name if the model asks for it).
    pub fn display_name(&self) -> String {
        self.walk
            .world
            .lock()
            .tree(self.at.model)
            .display_name(self.at.node)
    }
    /// The resource's arguments as the state records them (references by model path, variables
    /// by value, secrets as hashes salted with the state's salt). Resolved once per context, on
    /// the first call: the record the orchestrator makes of a create or an update reuses them.
    pub fn args(&self) -> &Args {
        &self
            .args
            .get_or_init(|| resolve_args(&self.walk.world, self.at, self.walk.salt()))
            .0
    }
    /// The arguments to record for the create or update: those [`args`](Self::args) resolved,
    /// if it was called and read no variable, else resolved now — a variable may read outputs,
    /// which the resource's own provisioning has changed since.
    pub(crate) fn args_to_record(&self) -> Cow<'_, Args> {
        match self.args_resolved() {
            Some(args) => Cow::Borrowed(args),
            None => Cow::Owned(recorded_args(&self.walk.world, self.at, self.walk.salt())),
        }
    }
    /// The arguments to record if [`args`](Self::args) resolved them and read no variable: what
    /// the resource's own outputs cannot have changed.
    pub(crate) fn args_resolved(&self) -> Option<&Args> {
        match self.args.get() {
            Some((args, false)) => Some(args),
            _ => None,
        }
    }
    /// Whose resource this is: system, workspace and state.
    pub fn scope(&self) -> &Scope {
        &self.walk.scope
    }
    /// The system name.
    pub fn system(&self) -> &str {
        &self.walk.scope.system
    }
    /// The tags every created resource must carry (in the create call itself where the cloud
    /// allows), so a crash between a create and its record can be reconciled and a lost state
    /// rediscovered: system, workspace, state and model path ([`Scope::tags`]).
    pub fn tags(&self) -> Vec<(String, String)> {
        self.walk.scope.tags(&self.path())
    }
    /// Output `attr` of another component (e.g. the id of the network a subnet belongs to).
    ///
    /// # Errors
    /// If the component has not recorded that output (it was not provisioned first).
    pub fn output_of(&self, r: &impl Located, attr: &str) -> Result<String, AttemptError> {
        let g = self.walk.world.lock();
        g.output(r.at(), attr).map(str::to_owned).ok_or_else(|| {
            AttemptError::fatal(format!(
                "{} needs output `{attr}` of {}, which has none",
                g.describe(self.at),
                g.describe(r.at())
            ))
        })
    }
    /// A literal argument, or another component's output parsed as `T`.
    ///
    /// # Errors
    /// If the output is missing or does not parse.
    pub fn resolve<T: FromStr + Clone>(&self, v: &Val<T>) -> Result<T, AttemptError>
    where
        T::Err: fmt::Display,
    {
        match v {
            Val::Lit(x) => Ok(x.clone()),
            Val::Invalid { text, error } => Err(AttemptError::fatal(format!(
                "{}: {}",
                self.path(),
                crate::model::unparsable(text, error)
            ))),
            Val::Var(v) => crate::namespace::parse_var(&self.walk.world, v, |s| {
                s.parse().map_err(|e: T::Err| e.to_string())
            })
            .map_err(|e| {
                AttemptError::fatal(match e {
                    TypedVarError::Expand(e) => format!("{}: {e}", self.path()),
                    TypedVarError::Parse(m) => m,
                })
            }),
            Val::Out(o) => {
                let s = self.output_of(o, o.attr())?;
                s.parse().map_err(|e: T::Err| {
                    AttemptError::fatal(format!(
                        "output `{}` = {}",
                        o.attr(),
                        crate::model::unparsable(&s, &e.to_string())
                    ))
                })
            }
        }
    }
}

/// The arguments of the resource at `at` as the state records them ([`Element::args`]).
pub fn recorded_args(world: &Shared, at: At, salt: &str) -> Args {
    resolve_args(world, at, salt).0
}

/// [`recorded_args`], and whether they read a variable.
fn resolve_args(world: &Shared, at: At, salt: &str) -> (Args, bool) {
    // The element is taken out of the world first: reading a variable locks the world again.
    let Some(element) = world.lock().element_arc(at) else {
        return (Args::new(), false);
    };
    let r = args_reading(world, &*element, salt, true);
    (r.args, !r.vars.is_empty())
}

/// A resource's recorded arguments, with the variables they read (see [`args_reading`]).
pub(crate) struct ReadArgs {
    pub args: Args,
    /// Each variable read, defined or not.
    pub vars: Vec<VarRef>,
}

/// [`recorded_args`] of `element` (out of `world`, whose lock the caller does not hold), noting
/// the variables read. Without `resolve` only which variables are read counts: none is read
/// (each is recorded as unresolved), and references are not recorded ([`ArgCx::reading_vars`]).
pub(crate) fn args_reading(
    world: &Shared,
    element: &dyn Element,
    salt: &str,
    resolve: bool,
) -> ReadArgs {
    let vars = std::cell::RefCell::new(Vec::new());
    let path = |at: At| world.lock().describe(at);
    let var = |v: &VarRef| {
        vars.borrow_mut().push(*v);
        if !resolve {
            return None;
        }
        let template = format!("!{{{}}}", v.name());
        let shown = crate::namespace::expand_for(world, v.at(), &template).ok()?;
        let real = crate::namespace::expand_revealing(world, v.at(), &template).ok()?;
        if shown == real {
            return Some(shown);
        }
        // A value holding a secret is recorded as a `Secret` argument is: its salted hash, so a
        // changed secret is a change and the state holds nothing that reveals it.
        use crate::model::args::ArgValue;
        let hashed = crate::secret::Secret::new(real).arg(&ArgCx::new(&path, &|_| None, salt));
        Some(hashed["secret"].as_str().unwrap_or_default().to_owned())
    };
    let args = element.args(&if resolve {
        ArgCx::new(&path, &var, salt)
    } else {
        ArgCx::reading_vars(&var)
    });
    ReadArgs {
        args,
        vars: vars.into_inner(),
    }
}

/// A resource as the state recorded it: enough to read, update or delete it without the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Provisioned {
    /// Whose it is (what its identity tags say); shared by all the resources of a plan.
    pub scope: Arc<Scope>,
    /// Its kind, e.g. `aws.Vpc` (shared with the plan and the state: one block per kind).
    pub kind: Arc<str>,
    /// Its model path (shared with the plan's item and the state's entry, not copied).
    pub key: Arc<str>,
    /// What provisioning recorded.
    pub outputs: Outputs,
}

/// A provisioner proxy for one cloud (or one kind of pre-existing thing).
///
/// Users implement it for their own clouds; the `Send` futures come from `#[async_trait]`:
///
/// ```
/// use actuator::provision::*;
///
/// struct Dns;
///
/// #[async_trait::async_trait]
/// impl ProvisionerProxy for Dns {
///     fn name(&self) -> &str { "dns" }
///     fn handles(&self, kind: &str) -> bool { kind == "dns.Record" }
///     async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
///         Ok(Outputs::from([("id".into(), format!("rec-{}", cx.path()))]))
///     }
///     async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
///         Ok(Observed::Exists(rec.outputs.clone()))
///     }
///     async fn deprovision(&self, _: &Provisioned) -> Result<(), AttemptError> { Ok(()) }
/// }
/// ```
#[async_trait]
pub trait ProvisionerProxy: Send + Sync + 'static {
    /// The proxy's name; a resource's `cloud` argument selects a proxy by it.
    fn name(&self) -> &str;
    /// Whether this proxy provisions resources of `kind`.
    fn handles(&self, kind: &str) -> bool;
    /// Rate and concurrency limits, by limit key (see [`ProvisionerProxy::limit_keys`]).
    fn limits(&self) -> HashMap<String, Limit> {
        HashMap::new()
    }
    /// The limit keys a call for `kind` takes (default: one key per proxy).
    fn limit_keys(&self, kind: &str) -> Vec<String> {
        let _ = kind;
        vec![format!("proxy:{}", self.name())]
    }
    /// Log targets of this proxy's client library that print credentials below INFO level (the
    /// AWS SDK's request signing logs the access key id at DEBUG). The command line caps them at
    /// INFO whatever `RUST_LOG` asks for.
    fn secret_log_targets(&self) -> &'static [&'static str] {
        &[]
    }
    /// Everything about the resource that can be known without a cloud call (argument formats,
    /// combinations, names the cloud requires to be unique or well-formed). The pre-flight runs it
    /// for every resource before any cloud call; an empty list means valid.
    fn validate(&self, cx: &ProvisionCx) -> Vec<Invalid> {
        let _ = cx;
        Vec::new()
    }
    /// Creates the resource; returns its outputs. Must be safe to call again after a crash: find a
    /// previous attempt by its tags ([`ProvisionCx::tags`]) or a client token before creating,
    /// adopt it only when [`Scope::owns`] says [`Ownership::Mine`] (and it is not
    /// [`ProvisionCx::replaces`]), and fail naming it when it belongs to another state.
    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError>;
    /// The resource as the cloud has it now, or [`Observed::Gone`].
    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError>;
    /// Applies changed arguments in place; `changed` names them (only ones the resource type
    /// declares updatable). Returns the outputs afterwards.
    async fn update(
        &self,
        cx: &ProvisionCx,
        rec: &Provisioned,
        changed: &[String],
    ) -> Result<Outputs, AttemptError> {
        let _ = (cx, changed);
        Err(AttemptError::fatal(format!(
            "proxy `{}` cannot update {} ({}) in place",
            self.name(),
            rec.key,
            rec.kind
        )))
    }
    /// Deletes what `rec` describes. Deleting something already gone succeeds.
    async fn deprovision(&self, rec: &Provisioned) -> Result<(), AttemptError>;
    /// Every resource of `kinds` the cloud holds tagged for `scope`'s system and workspace, of any
    /// state: what a lost state left behind (`down --discover`).
    async fn discover(
        &self,
        scope: &Scope,
        kinds: &[&str],
    ) -> Result<Vec<Discovered>, AttemptError> {
        let _ = (scope, kinds);
        Err(AttemptError::fatal(format!(
            "proxy `{}` cannot discover resources by tag",
            self.name()
        )))
    }
    /// Adopts the existing cloud resource `id` as the resource of `cx` (`import PATH ID`): reads it,
    /// tags it for `cx`'s scope and returns its outputs.
    async fn import(&self, cx: &ProvisionCx, id: &str) -> Result<Outputs, AttemptError> {
        Err(AttemptError::fatal(format!(
            "proxy `{}` cannot import {id} as {}",
            self.name(),
            cx.path()
        )))
    }
}

impl fmt::Debug for dyn ProvisionerProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProvisionerProxy({})", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::infra::test::Network;
    use crate::prelude::*;

    #[derive(InfraModel)]
    struct One {
        #[component(Network::new("net"))]
        net: Network,
    }

    #[test]
    fn a_context_resolves_the_arguments_once_and_offers_them_for_the_record() {
        let infra = One::instance("one");
        let scope = Scope {
            system: "s".into(),
            workspace: "default".into(),
            state_id: "x".into(),
        };
        let cx = ProvisionCx::new(infra.world().clone(), infra.root().net.at(), scope)
            .salted("salt".into());
        // Nothing resolved yet: the record resolves them itself.
        assert!(matches!(cx.args_to_record(), Cow::Owned(_)));
        let first: *const Args = cx.args();
        assert!(std::ptr::eq(first, cx.args()), "resolved once");
        assert_eq!(cx.args()["name"], "net");
        // No variable read: the record can take them as they are.
        assert!(matches!(cx.args_to_record(), Cow::Borrowed(a) if std::ptr::eq(first, a)));
        assert_eq!(
            *cx.args(),
            recorded_args(infra.world(), infra.root().net.at(), "salt")
        );
    }
}
