//! Provisioner proxies: the bridge between infra resources and a cloud API.
//!
//! A proxy says which resource kinds it handles, creates a resource from its model value (with
//! references to other resources resolved to their outputs), and deletes one from what the state
//! recorded — so teardown works from the state alone, in a new process.
//!
//! Each resource is given to one proxy, chosen as the original chose: the resource's `cloud` name,
//! or else the single proxy that handles its kind. A [`StaticProxy`] for `StaticServer`s is always
//! present.

mod select;
pub mod sim;
mod static_proxy;

/// The error every proxy call returns: the engine retries it when it says so.
pub use crate::engine::AttemptError;
pub use select::{SelectError, select};
pub use sim::SimProxy;
pub use static_proxy::StaticProxy;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use futures::future::BoxFuture;

use crate::engine::Limit;
use crate::model::build::Shared;
use crate::model::{At, Element, Located, Val};

/// What provisioning learnt about a resource: ids, addresses. Recorded in the state and readable by
/// other components as outputs (`ctx.model.server.ip`).
pub type Outputs = BTreeMap<String, String>;

/// What a proxy sees of the resource it provisions.
pub struct ProvisionCx {
    pub(crate) world: Shared,
    pub(crate) at: At,
    pub(crate) system: String,
}

impl ProvisionCx {
    /// A context for the resource at `at` of `world` (tests of proxies use this directly).
    pub fn new(world: Shared, at: At, system: impl Into<String>) -> Self {
        ProvisionCx {
            world,
            at,
            system: system.into(),
        }
    }
    /// The resource's model value, as its concrete type.
    ///
    /// # Errors
    /// If the resource is not a `T` (a proxy registered for a kind it does not implement).
    pub fn resource<T: Element + Clone>(&self) -> Result<T, AttemptError> {
        let g = self.world.lock();
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
    /// The model path, e.g. `WebInfra.apps.3`: the resource's key in the state.
    pub fn path(&self) -> String {
        self.world.lock().describe(self.at)
    }
    /// The name to give the resource in the cloud (long name if the model asks for it).
    pub fn display_name(&self) -> String {
        self.world
            .lock()
            .tree(self.at.model)
            .display_name(self.at.node)
    }
    /// The system name (tag every created resource with it).
    pub fn system(&self) -> &str {
        &self.system
    }
    /// The tags every created resource should carry, so a crash between a create and its record
    /// can be reconciled: the system and the model path.
    pub fn tags(&self) -> Vec<(String, String)> {
        vec![
            ("actuator:system".into(), self.system.clone()),
            ("actuator:path".into(), self.path()),
        ]
    }
    /// Output `attr` of another component (e.g. the id of the network a subnet belongs to).
    ///
    /// # Errors
    /// If the component has not recorded that output (it was not provisioned first).
    pub fn output_of(&self, r: &impl Located, attr: &str) -> Result<String, AttemptError> {
        let g = self.world.lock();
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
            Val::Var(v) => {
                let s = crate::namespace::var_value(&self.world, v.at(), v.name())
                    .map_err(|e| AttemptError::fatal(format!("{}: {e}", self.path())))?;
                s.parse().map_err(|e| {
                    AttemptError::fatal(format!(
                        "variable `{}` = {s:?} does not parse: {e}",
                        v.name()
                    ))
                })
            }
            Val::Out(o) => {
                let s = self.output_of(o, o.attr())?;
                s.parse().map_err(|e| {
                    AttemptError::fatal(format!(
                        "output `{}` = {s:?} does not parse: {e}",
                        o.attr()
                    ))
                })
            }
        }
    }
}

/// A resource as the state recorded it: enough to delete it without the model.
#[derive(Clone, Debug, PartialEq)]
pub struct Provisioned {
    /// The system it belongs to (what its `actuator:system` tag says).
    pub system: String,
    /// Its kind, e.g. `aws.Vpc`.
    pub kind: String,
    /// Its model path.
    pub key: String,
    /// What provisioning recorded.
    pub outputs: Outputs,
}

/// A provisioner proxy for one cloud (or one kind of pre-existing thing).
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
    /// Creates the resource; returns its outputs. Must be safe to call again after a crash
    /// (find by tag or client token before creating).
    fn provision<'a>(&'a self, cx: &'a ProvisionCx)
    -> BoxFuture<'a, Result<Outputs, AttemptError>>;
    /// Log targets of this proxy's client library that print credentials below INFO level (the
    /// AWS SDK's request signing logs the access key id at DEBUG). The command line caps them at
    /// INFO whatever `RUST_LOG` asks for.
    fn secret_log_targets(&self) -> &'static [&'static str] {
        &[]
    }
    /// Deletes what `rec` describes. Deleting something already gone succeeds.
    fn deprovision<'a>(&'a self, rec: &'a Provisioned) -> BoxFuture<'a, Result<(), AttemptError>>;
}

impl fmt::Debug for dyn ProvisionerProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProvisionerProxy({})", self.name())
    }
}
