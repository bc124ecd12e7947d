//! The Azure provisioner proxy: typed ARM models on the official `azure_core` and
//! `azure_identity` 1.x.
//!
//! [`AzureProxy`] provisions the resources of this crate — [`ResourceGroup`], [`VirtualNetwork`],
//! [`Subnet`], [`NetworkSecurityGroup`], [`SecurityRule`], [`PublicIp`], [`NetworkInterface`] and
//! [`VirtualMachine`] — reads, updates and deletes them, and finds them again by their tags.
//!
//! What it does for you:
//!
//! * **Idempotent creates.** ARM's PUT is idempotent by resource id, and every name is known
//!   before the call, so a create looks at the id first: what it finds there is adopted when its
//!   tags say it is this state's own previous attempt at this model path (an `up` killed after the
//!   PUT, or a PUT whose answer was lost), and refused, naming it, when they say anything else.
//!   Then it PUTs again, which converges whatever the previous attempt left.
//! * **Tags.** Every resource that can carry tags is created with `actuator:system`,
//!   `actuator:workspace`, `actuator:state` and `actuator:path` in the PUT itself. A `down` after
//!   a killed `up`, and `discover()` after a lost state, find resources by them.
//! * **Long-running operations** are followed as each declares: `Azure-AsyncOperation` (network
//!   and VM writes), `Location` (network and resource-group deletes), or the resource's own
//!   `provisioningState`; `Retry-After` is honoured; each has a deadline ([`Waits`]).
//! * **Retries.** `azure_core`'s retry policy repeats a call on 429 (including Network's
//!   `RetryableErrorDueToAnotherOperation`), 5xx and dropped connections, waiting as long as
//!   `Retry-After` says ([`RetrySettings`]). A write another operation blocks
//!   (`AnotherOperationInProgress`) and a delete a dependent blocks (`InUseSubnetCannotBeDeleted`,
//!   `NicInUse`, `PublicIPAddressCannotBeDeleted`, `InUseNetworkSecurityGroupCannotBeDeleted`)
//!   are tried again until that is over. Writes to one network and its subnets, or one security
//!   group and its rules, are never sent concurrently.
//! * **Rate limits.** ARM's per-subscription token buckets are mirrored on the client and
//!   corrected by `x-ms-ratelimit-remaining-subscription-*` ([`ApiLimits`]).
//! * **Nothing dropped.** An update of a network keeps every subnet it has, an update of a
//!   security group every rule, whether this model manages them or not.
//! * **Secrets.** The client secret and VM passwords are [`Secret`]s: never in `Debug`, logs,
//!   events, plans or the state.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actuator::prelude::*;
//! use actuator::orchestrate::ActuatorOrchestration;
//! use actuator_azure::{
//!     AzureProxy, ImageReference, NetworkInterface, ResourceGroup, Subnet, VirtualMachine,
//!     VirtualNetwork,
//! };
//!
//! #[derive(InfraModel)]
//! struct Small {
//!     #[component(ResourceGroup::new("small").location("westeurope"))]
//!     rg: ResourceGroup,
//!     #[component(VirtualNetwork::new("vnet", ctx.model.rg, ["10.0.0.0/16"]))]
//!     vnet: VirtualNetwork,
//!     #[component(Subnet::new("subnet", ctx.model.vnet, "10.0.1.0/24"))]
//!     subnet: Subnet,
//!     #[component(NetworkInterface::new("nic", ctx.model.rg, ctx.model.subnet))]
//!     nic: NetworkInterface,
//!     #[component(VirtualMachine::new("web", ctx.model.rg, ImageReference::ubuntu_24_04(),
//!         "Standard_B1s", "azureuser").nics([ctx.model.nic])
//!         .ssh_public_key_file("/home/me/.ssh/id_ed25519.pub"))]
//!     web: VirtualMachine,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let infra = Small::instance("small");
//! let azure = AzureProxy::new("azure")
//!     .subscription("00000000-0000-0000-0000-000000000000")
//!     .client_secret("tenant-id", "client-id", Secret::new("client-secret"));
//! let mut orch = ActuatorOrchestration::new("small").infra(&infra).proxy(Arc::new(azure));
//! assert!(orch.initiate_system().await);
//! assert!(orch.teardown_system().await);
//! # });
//! ```

mod client;
mod converge;
mod credentials;
mod error;
mod kinds;
mod limits;
mod models;
mod names;
mod resources;

pub use client::{Answer, ArmClient, CallStats, RetrySettings, Waits};
pub use error::ArmError;
pub use limits::{ApiLimits, Bucket};
pub use resources::{
    Access, Allocation, Direction, ImageReference, IpConfiguration, NetworkInterface,
    NetworkInterfacePath, NetworkSecurityGroup, NetworkSecurityGroupPath, OsDisk, Protocol,
    PublicIp, PublicIpPath, PublicIpSku, ResourceGroup, ResourceGroupPath, SecurityRule,
    SecurityRulePath, Subnet, SubnetPath, VirtualMachine, VirtualMachinePath, VirtualNetwork,
    VirtualNetworkPath,
};

/// The SDK core this proxy is built on (for a credential of your own:
/// [`AzureProxy::credential`]).
pub use azure_core;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::TokenCredential;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Pipeline, Transport};
use parking_lot::Mutex;
use tokio::sync::OnceCell;

use actuator::engine::Limit;
use actuator::model::At;
use actuator::provision::{
    AttemptError, Discovered, Invalid, Observed, Outputs, ProvisionCx, Provisioned,
    ProvisionerProxy, Scope,
};
use actuator::secret::Secret;

use client::{Observe, Shared};
use credentials::{Creds, env};
use kinds::Kind;

/// ARM's public endpoint.
pub const ARM_ENDPOINT: &str = "https://management.azure.com";
/// The token scope for ARM (also against a local endpoint: tokens are for ARM's audience).
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

type NameKey = (Option<At>, &'static str, String);

/// The Azure provisioner proxy: one per subscription and credentials.
///
/// Settings not given fall back to the environment: `AZURE_SUBSCRIPTION_ID` (the subscription),
/// `AZURE_LOCATION` (the default location), `AZURE_AUTHORITY_HOST` (Entra ID's host),
/// `ACTUATOR_AZURE_ARM_URL` (ARM's endpoint, for a local fake) and `ACTUATOR_AZURE_CA_FILE` (a CA
/// to trust instead of the system's, likewise). Credentials: a client secret given with
/// [`AzureProxy::client_secret`], a credential of your own ([`AzureProxy::credential`]), else the
/// chain of `azure_identity`'s credentials — the environment's service principal
/// (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`; the original's `AZURE_TENANT` and
/// `AZURE_SECRET` too), workload identity (`AZURE_FEDERATED_TOKEN_FILE`), managed identity, then
/// the Azure CLI and Azure Developer CLI logins — the first that gives a token.
///
/// ```
/// use actuator_azure::{ApiLimits, AzureProxy};
/// use actuator::secret::Secret;
/// let p = AzureProxy::new("azure")
///     .subscription("00000000-0000-0000-0000-000000000000")
///     .client_secret("contoso.onmicrosoft.com", "5e1f4a52", Secret::new("not-printed"))
///     .default_location("westeurope")
///     .limits(ApiLimits::unlimited());
/// let shown = format!("{p:?}");
/// assert!(shown.contains("westeurope") && shown.contains("***") && !shown.contains("not-printed"));
/// ```
pub struct AzureProxy {
    name: String,
    subscription: Option<String>,
    creds: Creds,
    default_location: Option<String>,
    arm_endpoint: Option<String>,
    authority_host: Option<String>,
    ca_pem: Option<String>,
    scope: String,
    limits: ApiLimits,
    retry: RetrySettings,
    waits: Waits,
    client: OnceCell<ArmClient>,
    shared: Arc<Shared>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    names: Mutex<HashMap<NameKey, String>>,
}

impl fmt::Debug for AzureProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureProxy")
            .field("name", &self.name)
            .field("subscription", &self.subscription)
            .field("credentials", &self.creds)
            .field("default_location", &self.default_location)
            .field("arm_endpoint", &self.arm_endpoint)
            .field("authority_host", &self.authority_host)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl AzureProxy {
    /// A proxy named `name` (resources select it with `.cloud(name)` when a model has several).
    pub fn new(name: impl Into<String>) -> Self {
        AzureProxy {
            name: name.into(),
            subscription: env(&["AZURE_SUBSCRIPTION_ID"]),
            creds: Creds::default(),
            default_location: env(&["AZURE_LOCATION"]),
            arm_endpoint: env(&["ACTUATOR_AZURE_ARM_URL"]),
            authority_host: None,
            ca_pem: env(&["ACTUATOR_AZURE_CA_FILE"]).and_then(|f| std::fs::read_to_string(f).ok()),
            scope: ARM_SCOPE.to_owned(),
            limits: ApiLimits::default(),
            retry: RetrySettings::default(),
            waits: Waits::default(),
            client: OnceCell::new(),
            shared: Arc::new(Shared::new(&ApiLimits::default())),
            locks: Mutex::default(),
            names: Mutex::default(),
        }
    }

    /// The subscription to provision in.
    pub fn subscription(mut self, id: impl Into<String>) -> Self {
        self.subscription = Some(id.into());
        self
    }

    /// Authenticates as a service principal with a client secret (never printed or stored).
    pub fn client_secret(
        mut self,
        tenant: impl Into<String>,
        client_id: impl Into<String>,
        secret: Secret,
    ) -> Self {
        self.creds = Creds::ClientSecret {
            tenant: tenant.into(),
            client_id: client_id.into(),
            secret,
        };
        self
    }

    /// Authenticates with a credential of your own (any `azure_identity` credential).
    pub fn credential(mut self, credential: Arc<dyn TokenCredential>) -> Self {
        self.creds = Creds::Custom(credential);
        self
    }

    /// The location of resource groups that name none (their resources default to their group's).
    pub fn default_location(mut self, location: impl Into<String>) -> Self {
        self.default_location = Some(location.into());
        self
    }

    /// Sends ARM calls to `url` instead of `https://management.azure.com` (a sovereign cloud, or a
    /// local fake).
    pub fn arm_endpoint(mut self, url: impl Into<String>) -> Self {
        self.arm_endpoint = Some(url.into());
        self
    }

    /// Asks Entra ID at `url` for tokens (else `AZURE_AUTHORITY_HOST`, else
    /// `https://login.microsoftonline.com`). It must be `https`.
    pub fn authority_host(mut self, url: impl Into<String>) -> Self {
        self.authority_host = Some(url.into());
        self
    }

    /// Trusts only the CA in `pem` for both endpoints (a private endpoint or a local fake), and
    /// talks to them without any HTTP proxy.
    pub fn ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_pem = Some(pem.into());
        self
    }

    /// The scope tokens are asked for (default [`ARM_SCOPE`]; a sovereign cloud has its own).
    pub fn token_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Replaces the client-side rate limits.
    pub fn limits(mut self, limits: ApiLimits) -> Self {
        self.shared = Arc::new(Shared::new(&limits));
        self.limits = limits;
        self
    }

    /// Replaces the pipeline's retry settings.
    pub fn retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    /// Replaces how long the proxy polls and waits.
    pub fn waits(mut self, waits: Waits) -> Self {
        self.waits = waits;
        self
    }

    /// The location of resource groups that name none, if any.
    pub(crate) fn fallback_location(&self) -> Option<&str> {
        self.default_location.as_deref()
    }

    /// What the proxy's ARM calls did so far.
    ///
    /// ```
    /// use actuator_azure::AzureProxy;
    /// assert_eq!(AzureProxy::new("azure").stats().attempts, 0);
    /// ```
    pub fn stats(&self) -> CallStats {
        self.shared.stats.lock().clone()
    }

    /// Starts counting from zero.
    pub fn reset_stats(&self) {
        *self.shared.stats.lock() = CallStats::default();
    }

    /// The ARM client the proxy uses (its credential, retries and budgets), for calls of your
    /// own; built on first use.
    ///
    /// # Errors
    /// If there is no subscription, or the credential or transport cannot be built.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use actuator_azure::AzureProxy;
    /// let azure = AzureProxy::new("azure");
    /// let arm = azure.client().await.unwrap();
    /// let groups = arm.list(&format!("{}/resourcegroups", arm.subscription_path()), "2021-04-01", None)
    ///     .await.unwrap();
    /// println!("{} resource groups", groups.len());
    /// # });
    /// ```
    pub async fn client(&self) -> Result<ArmClient, AttemptError> {
        self.client
            .get_or_try_init(|| async { self.build_client() })
            .await
            .cloned()
    }

    fn build_client(&self) -> Result<ArmClient, AttemptError> {
        let fail = |what: &str, e: &dyn fmt::Display| {
            AttemptError::fatal(format!("proxy `{}`: {what}: {e}", self.name))
        };
        let subscription = self.subscription.clone().ok_or_else(|| {
            AttemptError::fatal(format!(
                "proxy `{}` has no subscription: give it `.subscription(…)` or set \
                 AZURE_SUBSCRIPTION_ID",
                self.name
            ))
        })?;
        let transport = match &self.ca_pem {
            None => None,
            Some(pem) => {
                let ca = reqwest::Certificate::from_pem(pem.as_bytes())
                    .map_err(|e| fail("CA certificate", &e))?;
                let http = reqwest::Client::builder()
                    .tls_certs_only([ca])
                    .redirect(reqwest::redirect::Policy::none())
                    .connect_timeout(std::time::Duration::from_secs(20))
                    .timeout(std::time::Duration::from_secs(120))
                    .no_proxy()
                    .build()
                    .map_err(|e| fail("HTTP client", &e))?;
                Some(Transport::new(Arc::new(http)))
            }
        };
        let cloud = self.authority_host.as_ref().map(|host| {
            let mut c = CustomConfiguration::default();
            c.authority_host = host.clone();
            Arc::new(CloudConfiguration::from(c))
        });
        let identity_options = ClientOptions {
            transport: transport.clone(),
            cloud,
            retry: self.retry.options(),
            ..Default::default()
        };
        let credential = credentials::credential(&self.creds, &identity_options)
            .map_err(|e| fail("credentials", &e))?;
        let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(
            credential,
            [self.scope.clone()],
        ));
        let observe: Arc<dyn Policy> = Arc::new(Observe(self.shared.clone()));
        let pipeline = Pipeline::new(
            Some(env!("CARGO_PKG_NAME")),
            Some(env!("CARGO_PKG_VERSION")),
            ClientOptions {
                transport,
                retry: self.retry.options(),
                ..Default::default()
            },
            Vec::new(),
            vec![observe, auth],
            None,
        );
        Ok(ArmClient::new(
            pipeline,
            self.arm_endpoint
                .clone()
                .unwrap_or_else(|| ARM_ENDPOINT.to_owned()),
            subscription,
            self.shared.clone(),
            self.waits.clone(),
        ))
    }

    /// Holds the write lock of `key` (a network or security group id) while its guard lives.
    async fn lock(&self, key: Option<String>) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        let key = key?;
        let m = self.locks.lock().entry(key).or_default().clone();
        Some(m.lock_owned().await)
    }

    fn ops_key(&self) -> String {
        format!("azure:{}", self.name)
    }

    fn vm_key(&self) -> String {
        format!("azure:{}:vm", self.name)
    }

    /// Two resources of the model that would share one Azure id.
    fn claim_name(&self, kind: Kind, cx: &ProvisionCx) -> Option<Invalid> {
        let name = kinds::base_name(self, kind, cx).ok()?;
        let key = (
            kinds::parent_of(kind, cx),
            kind.arm_type(),
            name.to_ascii_lowercase(),
        );
        let path = cx.path();
        let mut g = self.names.lock();
        match g.get(&key) {
            Some(other) if *other != path => Some(Invalid::new(
                "name",
                format!(
                    "{name:?} is also the Azure name of `{other}`: names are unique per type in their parent"
                ),
            )),
            _ => {
                g.insert(key, path);
                None
            }
        }
    }
}

#[async_trait::async_trait]
impl ProvisionerProxy for AzureProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn handles(&self, kind: &str) -> bool {
        resources::KINDS.contains(&kind)
    }

    /// VM steps take Compute's VM budget; every step takes the proxy's in-flight limit.
    fn limits(&self) -> HashMap<String, Limit> {
        let mut m = HashMap::new();
        if let Some(b) = self.limits.vm_operations {
            m.insert(self.vm_key(), Limit::rate(b.burst, b.per_second));
        }
        if let Some(n) = self.limits.max_in_flight {
            m.insert(self.ops_key(), Limit::concurrent(n));
        }
        m
    }

    fn limit_keys(&self, kind: &str) -> Vec<String> {
        let mut keys = vec![self.ops_key()];
        if kind == VirtualMachine::KIND {
            keys.push(self.vm_key());
        }
        keys
    }

    fn validate(&self, cx: &ProvisionCx) -> Vec<Invalid> {
        let Some(kind) = Kind::of(&cx.kind()) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if self.subscription.is_none() {
            out.push(Invalid::new(
                "cloud",
                format!(
                    "proxy `{}` has no subscription: give it `.subscription(…)` or set \
                     AZURE_SUBSCRIPTION_ID",
                    self.name
                ),
            ));
        }
        out.extend(kinds::validate(self, kind, cx));
        out.extend(self.claim_name(kind, cx));
        out
    }

    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        converge::provision(self, cx).await
    }

    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        converge::read(self, rec).await
    }

    async fn update(
        &self,
        cx: &ProvisionCx,
        rec: &Provisioned,
        changed: &[String],
    ) -> Result<Outputs, AttemptError> {
        converge::update(self, cx, rec, changed).await
    }

    async fn deprovision(&self, rec: &Provisioned) -> Result<(), AttemptError> {
        converge::deprovision(self, rec).await
    }

    async fn discover(
        &self,
        scope: &Scope,
        kinds: &[&str],
    ) -> Result<Vec<Discovered>, AttemptError> {
        converge::discover(self, scope, kinds).await
    }

    async fn import(&self, cx: &ProvisionCx, id: &str) -> Result<Outputs, AttemptError> {
        converge::import(self, cx, id).await
    }
}
