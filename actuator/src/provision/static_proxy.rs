use futures::FutureExt;
use futures::future::BoxFuture;

use super::{AttemptError, Outputs, ProvisionCx, Provisioned, ProvisionerProxy};
use crate::infra::StaticServer;

/// Provisions `StaticServer`s: nothing to create; the output `ip` is the given host name or address.
/// The orchestrator always adds one (named `static-auto`) unless the caller gave one.
#[derive(Clone, Debug)]
pub struct StaticProxy {
    name: String,
}

impl Default for StaticProxy {
    fn default() -> Self {
        StaticProxy {
            name: "static-auto".into(),
        }
    }
}

impl StaticProxy {
    /// A static proxy with another name.
    pub fn named(name: impl Into<String>) -> Self {
        StaticProxy { name: name.into() }
    }
}

impl ProvisionerProxy for StaticProxy {
    fn name(&self) -> &str {
        &self.name
    }
    fn handles(&self, kind: &str) -> bool {
        kind == "static.Server"
    }
    fn provision<'a>(
        &'a self,
        cx: &'a ProvisionCx,
    ) -> BoxFuture<'a, Result<Outputs, AttemptError>> {
        async move {
            let s: StaticServer = cx.resource()?;
            Ok(Outputs::from([("ip".to_owned(), s.address().to_owned())]))
        }
        .boxed()
    }
    fn deprovision<'a>(&'a self, _: &'a Provisioned) -> BoxFuture<'a, Result<(), AttemptError>> {
        async { Ok(()) }.boxed()
    }
}
