//! Who the proxy is to Entra ID: a client secret given to it, or the chain the Azure SDKs use —
//! the environment's service principal (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//! `AZURE_CLIENT_SECRET`), workload identity (`AZURE_FEDERATED_TOKEN_FILE`), managed identity,
//! then the Azure CLI / Azure Developer CLI login. Every one is `azure_identity`'s own.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use azure_core::credentials::{
    AccessToken, Secret as SdkSecret, TokenCredential, TokenRequestOptions,
};
use azure_core::http::{ClientOptions, Transport};
use azure_identity::{
    ClientSecretCredential, ClientSecretCredentialOptions, DeveloperToolsCredential,
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, WorkloadIdentityCredential,
    WorkloadIdentityCredentialOptions,
};
use parking_lot::Mutex;

use actuator::secret::Secret;

/// The credentials the proxy was given.
#[derive(Clone, Default)]
pub(crate) enum Creds {
    /// The chain (see the module docs).
    #[default]
    Chain,
    /// A service principal's client secret.
    ClientSecret {
        tenant: String,
        client_id: String,
        secret: Secret,
    },
    /// A credential of the caller's own.
    Custom(Arc<dyn TokenCredential>),
}

impl fmt::Debug for Creds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Creds::Chain => f.write_str("default chain"),
            Creds::ClientSecret {
                tenant, client_id, ..
            } => write!(f, "client secret (***) of {client_id} in tenant {tenant}"),
            Creds::Custom(_) => f.write_str("custom credential"),
        }
    }
}

/// The first non-empty of the environment variables `names`.
pub(crate) fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .filter_map(|n| std::env::var(n).ok())
        .find(|v| !v.is_empty())
}

/// Builds the credential. `options` carries the transport (a test CA) and the authority host.
pub(crate) fn credential(
    creds: &Creds,
    options: &ClientOptions,
) -> azure_core::Result<Arc<dyn TokenCredential>> {
    let secret = |tenant: &str, id: &str, secret: &str| {
        ClientSecretCredential::new(
            tenant,
            id.to_owned(),
            SdkSecret::new(secret.to_owned()),
            Some(ClientSecretCredentialOptions {
                client_options: options.clone(),
            }),
        )
        .map(|c| c as Arc<dyn TokenCredential>)
    };
    match creds {
        Creds::ClientSecret {
            tenant,
            client_id,
            secret: s,
        } => secret(tenant, client_id, s.expose()),
        Creds::Custom(c) => Ok(c.clone()),
        Creds::Chain => {
            let mut chain: Vec<(&'static str, Arc<dyn TokenCredential>)> = Vec::new();
            // The original's names (AZURE_TENANT, AZURE_SECRET) still work.
            if let (Some(t), Some(id), Some(s)) = (
                env(&["AZURE_TENANT_ID", "AZURE_TENANT"]),
                env(&["AZURE_CLIENT_ID"]),
                env(&["AZURE_CLIENT_SECRET", "AZURE_SECRET"]),
            ) {
                chain.push(("environment (AZURE_CLIENT_SECRET)", secret(&t, &id, &s)?));
            }
            if env(&["AZURE_FEDERATED_TOKEN_FILE"]).is_some() {
                let mut o = WorkloadIdentityCredentialOptions::default();
                o.credential_options.client_options = options.clone();
                chain.push((
                    "workload identity",
                    WorkloadIdentityCredential::new(Some(o))?,
                ));
            }
            // Managed identity answers on the machine itself (IMDS or the App Service endpoint);
            // off Azure nothing answers there, so give up on it quickly.
            let mut mi = ManagedIdentityCredentialOptions::default();
            if let Ok(http) = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(2))
                .timeout(Duration::from_secs(10))
                .no_proxy()
                .build()
            {
                mi.client_options.transport = Some(Transport::new(Arc::new(http)));
            }
            if let Ok(c) = ManagedIdentityCredential::new(Some(mi)) {
                chain.push(("managed identity", c));
            }
            if let Ok(c) = DeveloperToolsCredential::new(None) {
                chain.push(("Azure CLI / Azure Developer CLI", c));
            }
            Ok(Arc::new(Chain {
                members: chain,
                chosen: Mutex::new(None),
            }))
        }
    }
}

/// Tries each credential in turn; the first that gives a token is used from then on.
struct Chain {
    members: Vec<(&'static str, Arc<dyn TokenCredential>)>,
    chosen: Mutex<Option<usize>>,
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.members.iter().map(|(n, _)| *n).collect();
        f.debug_struct("Chain").field("members", &names).finish()
    }
}

#[async_trait]
impl TokenCredential for Chain {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let chosen = *self.chosen.lock();
        if let Some(i) = chosen {
            return self.members[i].1.get_token(scopes, options).await;
        }
        let mut why = Vec::new();
        for (i, (name, c)) in self.members.iter().enumerate() {
            match c.get_token(scopes, options.clone()).await {
                Ok(t) => {
                    tracing::debug!(credential = name, "Azure credential chosen");
                    *self.chosen.lock() = Some(i);
                    return Ok(t);
                }
                Err(e) => why.push(format!("{name}: {e}")),
            }
        }
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            format!(
                "no Azure credential worked (give the proxy a client secret, or set \
                 AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET, or `az login`): {}",
                why.join("; ")
            ),
        ))
    }
}
