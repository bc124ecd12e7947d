use async_trait::async_trait;

use super::{AttemptError, Invalid, Observed, Outputs, ProvisionCx, Provisioned, ProvisionerProxy};
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

#[async_trait]
impl ProvisionerProxy for StaticProxy {
    fn name(&self) -> &str {
        &self.name
    }
    fn handles(&self, kind: &str) -> bool {
        kind == StaticServer::KIND
    }
    fn validate(&self, cx: &ProvisionCx) -> Vec<Invalid> {
        match cx.resource::<StaticServer>() {
            Ok(s) if s.address().trim().is_empty() => {
                vec![Invalid::new(
                    "address",
                    "is empty: give a host name or an IP",
                )]
            }
            _ => Vec::new(),
        }
    }
    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        let s: StaticServer = cx.resource()?;
        Ok(Outputs::from([("ip".to_owned(), s.address().to_owned())]))
    }
    /// A host that exists outside the tool is as it was recorded: there is nothing to ask.
    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        Ok(Observed::Exists(rec.outputs.clone()))
    }
    async fn update(
        &self,
        cx: &ProvisionCx,
        _: &Provisioned,
        _: &[String],
    ) -> Result<Outputs, AttemptError> {
        self.provision(cx).await
    }
    async fn deprovision(&self, _: &Provisioned) -> Result<(), AttemptError> {
        Ok(())
    }
    async fn import(&self, cx: &ProvisionCx, _: &str) -> Result<Outputs, AttemptError> {
        self.provision(cx).await
    }
}
