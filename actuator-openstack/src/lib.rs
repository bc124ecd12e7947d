//! The OpenStack provisioner proxy: Neutron networks, subnets, routers (gateways, interfaces),
//! ports, security groups and rules and floating IPs; Nova key pairs and servers; images and
//! flavors from Glance and Nova by name or id. Keystone v3 only.
//!
//! [`OpenStackProxy`] provisions the typed resources of this crate and tears them down from the
//! state alone. What it does for you:
//!
//! * **Identity on every resource.** Neutron resources carry the identity tags (`actuator:system`,
//!   `actuator:workspace`, `actuator:state`, `actuator:path`, `actuator:kind`); servers carry them
//!   as Nova tags and metadata; security group rules and floating IPs also in their description.
//!   Every create first looks for a resource with its identity (a previous attempt cut short by a
//!   crash or a lost answer) and adopts it only when it belongs to this very state; one tagged for
//!   another state of the same workspace is an error naming it. Neutron takes tags only after the
//!   create, so a new resource is created with its identity as its description, tagged, and then
//!   given its real description: a crash in between leaves nothing anonymous.
//! * **Waits with deadlines.** A server is waited for until `ACTIVE` (`ERROR` fails with Nova's
//!   fault message, after deleting it), a deleted server until it is gone, so its ports are
//!   released before the subnet and network go.
//! * **Retries.** Dropped connections, 5xx answers, rate limits and 409 conflicts (a subnet still
//!   in use, a router interface a floating IP still needs) are retried with the engine's backoff
//!   up to a deadline ([`RetrySettings`]); a create is never re-sent blindly: the retry looks for
//!   the resource first. A token the cloud rejects is renewed once and the call repeated; tokens
//!   close to expiry are renewed before use.
//! * **Quotas** are reported as such (`quota exceeded: …`), never retried.
//! * **Secrets.** Passwords, application credential secrets and tokens are [`Secret`]s: not in
//!   `Debug`, logs or the state.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actuator::prelude::*;
//! use actuator::orchestrate::ActuatorOrchestration;
//! use actuator_openstack::{FloatingIp, Network, OpenStackProxy, Server, Subnet};
//!
//! #[derive(InfraModel)]
//! struct Small {
//!     #[component(Network::new("net"))]
//!     net: Network,
//!     #[component(Subnet::new("subnet", ctx.model.net, "192.168.23.0/24"))]
//!     subnet: Subnet,
//!     #[component(Server::new("web", "cirros", "m1.tiny").nics([ctx.model.net]))]
//!     web: Server,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let infra = Small::instance("small");
//! let os = OpenStackProxy::new("openstack").cloud("demo"); // clouds.yaml; else OS_CLOUD / OS_*
//! let mut orch = ActuatorOrchestration::new("small").infra(&infra).proxy(Arc::new(os));
//! assert!(orch.initiate_system().await);
//! assert!(orch.teardown_system().await);
//! # });
//! ```

mod api;
mod auth;
mod ops;
mod resources;
mod tags;

pub use api::{CallStats, RetrySettings};
pub use auth::{Credentials, Project};
pub use resources::{
    Direction, FloatingIp, FloatingIpPath, KeyPair, KeyPairPath, Network, NetworkPath, Port,
    PortPath, Router, RouterGateway, RouterGatewayPath, RouterInterface, RouterInterfacePath,
    RouterPath, SecurityGroup, SecurityGroupPath, SecurityGroupRule, SecurityGroupRulePath, Server,
    ServerPath, Subnet, SubnetPath,
};

/// The `openstack` crate this proxy is built on, for calls of your own
/// ([`OpenStackProxy::openstack`]).
pub use openstack;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::OnceCell;

use actuator::engine::Limit;
use actuator::provision::{
    AttemptError, Discovered, Invalid, Observed, Outputs, ProvisionCx, Provisioned,
    ProvisionerProxy, Scope,
};
use actuator::secret::Secret;
use api::{Api, SharedApi};
use auth::Endpoints;

/// The OpenStack provisioner proxy: one per cloud, project and region.
///
/// Credentials: [`OpenStackProxy::new`] uses `OS_CLOUD` (a cloud of `clouds.yaml`, found through
/// `OS_CLIENT_CONFIG_FILE` or the usual places) when it is set, else the `OS_*` variables;
/// [`cloud`](Self::cloud), [`password`](Self::password),
/// [`application_credential`](Self::application_credential), [`token`](Self::token) or
/// [`credentials`](Self::credentials) choose explicitly. Nothing is read or called until the
/// first resource needs it.
///
/// ```
/// use actuator_openstack::{OpenStackProxy, Project};
/// use actuator::secret::Secret;
/// let p = OpenStackProxy::new("openstack")
///     .password("https://keystone.example.com/v3", "deploy", Secret::new("not-printed"),
///               Project::named("web"))
///     .region("RegionTwo")
///     .interface("internal")
///     .endpoint("network", "https://neutron.internal:9696")
///     .external_network("public");
/// let shown = format!("{p:?}");
/// assert!(shown.contains("RegionTwo") && !shown.contains("not-printed"));
/// ```
pub struct OpenStackProxy {
    name: String,
    creds: Credentials,
    endpoints: Endpoints,
    retry: RetrySettings,
    server_timeout: Duration,
    poll_interval: Duration,
    external_network: Option<String>,
    max_concurrency: Option<usize>,
    page_size: usize,
    api: OnceCell<SharedApi>,
    /// Image, flavor and network names resolved to ids.
    lookups: Mutex<HashMap<(&'static str, String), String>>,
}

impl fmt::Debug for OpenStackProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let creds = match &self.creds {
            Credentials::CloudsYaml { cloud, file } => format!(
                "clouds.yaml {} {}",
                cloud.as_deref().unwrap_or("$OS_CLOUD"),
                file.as_ref()
                    .map_or_else(String::new, |f| f.display().to_string())
            ),
            Credentials::Env => "OS_* variables".to_owned(),
            Credentials::Password {
                auth_url, username, ..
            } => format!("password of {username} at {auth_url}"),
            Credentials::ApplicationCredential { auth_url, id, .. } => {
                format!("application credential {id} at {auth_url}")
            }
            Credentials::Token { auth_url, .. } => format!("token at {auth_url}"),
        };
        f.debug_struct("OpenStackProxy")
            .field("name", &self.name)
            .field("credentials", &creds)
            .field("region", &self.endpoints.region)
            .field("interface", &self.endpoints.interface)
            .field("endpoints", &self.endpoints.overrides)
            .field("external_network", &self.external_network)
            .finish_non_exhaustive()
    }
}

/// What a `down` should have removed: every resource tagged for a system, by collection (ids).
///
/// ```
/// use actuator_openstack::Inventory;
/// let inv = Inventory::default();
/// assert!(inv.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Collection (`networks`, `servers`, `security-group-rules` …) → ids.
    pub by_kind: BTreeMap<String, Vec<String>>,
}

impl Inventory {
    /// How many resources it lists.
    pub fn len(&self) -> usize {
        self.by_kind.values().map(Vec::len).sum()
    }
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OpenStackProxy {
    /// A proxy named `name` (resources select it with `.cloud(name)` when a model has several),
    /// with the credentials of `OS_CLOUD` or the `OS_*` variables.
    pub fn new(name: impl Into<String>) -> Self {
        OpenStackProxy {
            name: name.into(),
            creds: auth::default_credentials(),
            endpoints: Endpoints::default(),
            retry: RetrySettings::default(),
            server_timeout: Duration::from_secs(600),
            poll_interval: Duration::from_millis(250),
            external_network: None,
            max_concurrency: None,
            page_size: 500,
            api: OnceCell::new(),
            lookups: Mutex::default(),
        }
    }

    /// Cloud `cloud` of `clouds.yaml` (found through `OS_CLIENT_CONFIG_FILE` or the usual places).
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.creds = Credentials::CloudsYaml {
            cloud: Some(cloud.into()),
            file: None,
        };
        self
    }

    /// Cloud `cloud` of the clouds.yaml `file`.
    pub fn clouds_yaml(mut self, file: impl Into<PathBuf>, cloud: impl Into<String>) -> Self {
        self.creds = Credentials::CloudsYaml {
            cloud: Some(cloud.into()),
            file: Some(file.into()),
        };
        self
    }

    /// A user's password, scoped to `project`.
    pub fn password(
        mut self,
        auth_url: impl Into<String>,
        username: impl Into<String>,
        password: Secret,
        project: Project,
    ) -> Self {
        self.creds = Credentials::Password {
            auth_url: auth_url.into(),
            username: username.into(),
            password,
            user_domain: "Default".into(),
            project,
        };
        self
    }

    /// An application credential.
    pub fn application_credential(
        mut self,
        auth_url: impl Into<String>,
        id: impl Into<String>,
        secret: Secret,
    ) -> Self {
        self.creds = Credentials::ApplicationCredential {
            auth_url: auth_url.into(),
            id: id.into(),
            secret,
        };
        self
    }

    /// An existing (scoped) token.
    pub fn token(mut self, auth_url: impl Into<String>, token: Secret) -> Self {
        self.creds = Credentials::Token {
            auth_url: auth_url.into(),
            token,
            project: None,
        };
        self
    }

    /// Any [`Credentials`].
    pub fn credentials(mut self, creds: Credentials) -> Self {
        self.creds = creds;
        self
    }

    /// The region of the service catalog's endpoints.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.endpoints.region = Some(region.into());
        self
    }

    /// `public`, `internal` or `admin` endpoints.
    pub fn interface(mut self, interface: impl Into<String>) -> Self {
        self.endpoints.interface = Some(interface.into());
        self
    }

    /// Sends the calls for `service` (`network`, `compute`, `image`) to `url` instead of the
    /// catalog's endpoint.
    pub fn endpoint(mut self, service: impl Into<String>, url: impl Into<String>) -> Self {
        self.endpoints.overrides.insert(service.into(), url.into());
        self
    }

    /// The external network floating IPs come from when they name no pool.
    pub fn external_network(mut self, network: impl Into<String>) -> Self {
        self.external_network = Some(network.into());
        self
    }

    /// Replaces the retry settings.
    pub fn retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    /// How long a server may take to become `ACTIVE` (or to go away); default 10 minutes.
    pub fn server_timeout(mut self, t: Duration) -> Self {
        self.server_timeout = t;
        self
    }

    /// The first wait between server-status polls (it doubles up to 2 s); default 250 ms.
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.poll_interval = t;
        self
    }

    /// At most `n` of this proxy's resources in flight at once (a cloud with tight API limits).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = Some(n.max(1));
        self
    }

    /// How many items one page of a list call asks for (`limit`); the next page starts after the
    /// last item (`marker`). Default 500; at least 1.
    ///
    /// ```
    /// use actuator_openstack::OpenStackProxy;
    /// let p = OpenStackProxy::new("os").page_size(50);
    /// # let _ = p;
    /// ```
    pub fn page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// What this proxy's calls did so far.
    ///
    /// ```
    /// use actuator_openstack::OpenStackProxy;
    /// assert_eq!(OpenStackProxy::new("os").stats().total(), 0);
    /// ```
    pub fn stats(&self) -> CallStats {
        self.api.get().map(|a| a.stats()).unwrap_or_default()
    }

    /// Starts counting from zero.
    pub fn reset_stats(&self) {
        if let Some(a) = self.api.get() {
            a.reset_stats();
        }
    }

    /// A `Cloud` of the `openstack` crate on this proxy's session (credentials, region,
    /// endpoints), for calls of your own; it does not use the proxy's retries.
    ///
    /// # Errors
    /// If the session cannot be opened (credentials, Keystone unreachable).
    pub async fn openstack(&self) -> Result<openstack::Cloud, AttemptError> {
        Ok(openstack::Cloud::from(self.api().await?.session()))
    }

    /// Everything tagged with `system` that is still in the project (any workspace, any state):
    /// what a `down` should have removed. Key pairs carry no tags and are not listed.
    ///
    /// # Errors
    /// If the cloud cannot be asked.
    pub async fn inventory(&self, system: &str) -> Result<Inventory, AttemptError> {
        ops::inventory(self, system).await
    }

    /// One call of your own through the proxy's session, retries and token renewal: `service` is
    /// `network` or `compute`, `path` the URL's segments after the endpoint, `query` its
    /// parameters. Returns the JSON answer (`null` when empty).
    ///
    /// # Errors
    /// What the cloud answered, after retries.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use actuator_openstack::OpenStackProxy;
    /// let os = OpenStackProxy::new("os");
    /// let quotas = os.call("network", "GET", &["quotas", "project-id"], &[], None).await.unwrap();
    /// # });
    /// ```
    pub async fn call(
        &self,
        service: &str,
        method: &str,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, AttemptError> {
        let req = self.req(service, method, path, query, body)?;
        self.api()
            .await?
            .call(
                api::Policy::Basic,
                &format!("{method} {}", path.join("/")),
                req,
            )
            .await
    }

    /// Every item of a collection of your own choosing, following `marker` pages (`key`: the
    /// answer's list, e.g. `ports`).
    ///
    /// # Errors
    /// What the cloud answered, after retries.
    pub async fn list(
        &self,
        service: &str,
        path: &[&str],
        query: &[(&str, &str)],
        key: &str,
    ) -> Result<Vec<serde_json::Value>, AttemptError> {
        let req = self.req(service, "GET", path, query, None)?;
        self.api()
            .await?
            .list(&format!("list {}", path.join("/")), req, key)
            .await
    }

    fn req(
        &self,
        service: &str,
        method: &str,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> Result<api::Req, AttemptError> {
        let svc = match service {
            "network" => api::Svc::Network,
            "compute" => api::Svc::Compute,
            other => {
                return Err(AttemptError::fatal(format!(
                    "service `{other}`: `network` or `compute`"
                )));
            }
        };
        let method: reqwest::Method = method
            .parse()
            .map_err(|_| AttemptError::fatal(format!("`{method}` is not an HTTP method")))?;
        let mut r = api::Req::new(svc, method, path.iter().copied());
        for (k, v) in query {
            r = r.query(k, *v);
        }
        if let Some(b) = body {
            r = r.body(b);
        }
        Ok(r)
    }

    async fn api(&self) -> Result<&SharedApi, AttemptError> {
        self.api
            .get_or_try_init(|| async {
                let session = auth::session(&self.creds, &self.endpoints)
                    .await
                    .map_err(|e| {
                        // Keystone unreachable may pass; bad credentials do not.
                        let msg = format!("proxy `{}`: {e}", self.name);
                        if e.contains("Error when accessing the server")
                            || e.contains("Internal server error")
                            || e.contains("timed out")
                        {
                            AttemptError::retryable(msg)
                        } else {
                            AttemptError::fatal(msg)
                        }
                    })?;
                let (creds, endpoints) = (self.creds.clone(), self.endpoints.clone());
                let reopen: api::Reopen = Box::new(move || {
                    let (c, e) = (creds.clone(), endpoints.clone());
                    Box::pin(async move { auth::session(&c, &e).await })
                });
                Ok(Arc::new(Api::new(
                    session,
                    reopen,
                    self.retry.clone(),
                    self.page_size,
                )))
            })
            .await
    }

    fn cached(&self, what: &'static str, key: &str) -> Option<String> {
        self.lookups.lock().get(&(what, key.to_owned())).cloned()
    }

    fn cache(&self, what: &'static str, key: &str, id: &str) {
        self.lookups
            .lock()
            .insert((what, key.to_owned()), id.to_owned());
    }
}

#[async_trait::async_trait]
impl ProvisionerProxy for OpenStackProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn handles(&self, kind: &str) -> bool {
        resources::KINDS.contains(&kind)
    }

    fn limits(&self) -> HashMap<String, Limit> {
        match self.max_concurrency {
            Some(n) => HashMap::from([(format!("proxy:{}", self.name), Limit::concurrent(n))]),
            None => HashMap::new(),
        }
    }

    fn validate(&self, cx: &ProvisionCx) -> Vec<Invalid> {
        ops::validate::validate(self, cx)
    }

    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        ops::provision(self, cx).await
    }

    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        ops::read(self, rec).await
    }

    async fn update(
        &self,
        cx: &ProvisionCx,
        rec: &Provisioned,
        changed: &[String],
    ) -> Result<Outputs, AttemptError> {
        ops::update(self, cx, rec, changed).await
    }

    async fn deprovision(&self, rec: &Provisioned) -> Result<(), AttemptError> {
        ops::deprovision(self, rec).await
    }

    async fn discover(
        &self,
        scope: &Scope,
        kinds: &[&str],
    ) -> Result<Vec<Discovered>, AttemptError> {
        ops::discover(self, scope, kinds).await
    }

    async fn import(&self, cx: &ProvisionCx, id: &str) -> Result<Outputs, AttemptError> {
        ops::import(self, cx, id).await
    }
}
