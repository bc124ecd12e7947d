//! The AWS provisioner proxy, on the official `aws-sdk-ec2`.
//!
//! [`AwsProxy`] provisions the typed resources of this module — [`Vpc`], [`Subnet`],
//! [`InternetGateway`], [`RouteTable`], [`Route`], [`SecurityGroup`], [`SecurityGroupRule`],
//! [`KeyPair`], [`NetworkInterface`], [`PublicIp`] and [`Instance`] — and tears them down from the
//! state alone.
//!
//! What it does for you:
//!
//! * **Tags.** Every resource is created with its identity tags — `actuator:system`,
//!   `actuator:workspace`, `actuator:state` and `actuator:path` (its model path) — and `Name`, in
//!   the create call itself (`TagSpecifications`), so nothing exists untagged. Only what is tagged
//!   for this very state is adopted: another state's resource is reported, never taken over.
//! * **Converging.** `read` (drift), `update` of what EC2 changes in place (declared per type with
//!   `#[resource(update(…))]`: rule ranges, ports and descriptions, instance tags, a subnet's
//!   public-IP mapping, an address's target), `discover` of everything tagged for the system and
//!   workspace, `import` of an existing resource, and `validate` before any call.
//! * **Crash safety.** Every create first looks for a resource carrying its tags, and every later
//!   step converges (attach if not attached …): an `up` killed at any point and run again finds
//!   what the last one made instead of making a twin. `RunInstances`, `CreateNetworkInterface` and
//!   `CreateRouteTable` also carry a client token, so a retried call cannot create a twin either.
//! * **Retries.** Throttling (`RequestLimitExceeded`), 5xx answers and lost connections are retried
//!   with exponential backoff and full jitter up to a deadline ([`RetrySettings`]); so are `NotFound`
//!   for something just created (eventual consistency) and `DependencyViolation` / "in use" while
//!   tearing down or wiring things together.
//! * **Rate limits.** Per region, per API family token buckets ([`ApiLimits`], default EC2's
//!   RunInstances 5 / 2 per s, mutating 50 / 5 per s, describe 100 / 20 per s): a large model
//!   slows down instead of being throttled.
//! * **Batching.** Concurrent tag look-ups of one kind share one `Describe*` call; every instance
//!   being waited on is polled by one `DescribeInstances` per round; terminations are batched.
//! * **Secrets.** Static keys are [`Secret`]s (never in `Debug`, logs or state); a created key
//!   pair's private key goes to a 0600 file or stays in memory ([`AwsProxy::private_key`]), never
//!   into outputs.
//!
//! ```no_run
//! use std::sync::Arc;
//! use actuator::prelude::*;
//! use actuator::orchestrate::ActuatorOrchestration;
//! use actuator_aws::{AwsProxy, Instance, Subnet, Vpc};
//!
//! #[derive(InfraModel)]
//! struct Small {
//!     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
//!     vpc: Vpc,
//!     #[component(Subnet::new("subnet", ctx.model.vpc, "10.0.1.0/24"))]
//!     subnet: Subnet,
//!     #[component(Instance::in_subnet("web", "ami-087534078663b6450", ctx.model.subnet)
//!         .instance_type("t3.micro"))]
//!     web: Instance,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let infra = Small::instance("small");
//! let aws = AwsProxy::new("aws-proxy")
//!     .default_region("eu-west-2")
//!     .credentials("AKIAEXAMPLE", Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"));
//! let mut orch = ActuatorOrchestration::new("small").infra(&infra).proxy(Arc::new(aws));
//! assert!(orch.initiate_system().await);
//! assert!(orch.teardown_system().await);
//! # });
//! ```

mod api;
mod client;
mod find;
mod ops;
mod resources;
mod validate;

pub use api::{ApiLimits, CallStats, RetrySettings};
pub use find::{PATH_TAG, SYSTEM_TAG};
pub use resources::{
    EgressOnlyGateway, Image, Instance, InstancePath, InternetGateway, InternetGatewayPath,
    IpTarget, KeyPair, KeyPairPath, NatGateway, NetworkInterface, NetworkInterfacePath,
    PeeringConnection, PublicIp, PublicIpPath, Route, RoutePath, RouteTable, RouteTablePath,
    RouteTarget, RuleKind, SecurityGroup, SecurityGroupPath, SecurityGroupRule,
    SecurityGroupRulePath, Subnet, SubnetPath, Vpc, VpcPath,
};

/// The SDK this proxy is built on, for calls of your own ([`AwsProxy::client`]).
pub use aws_sdk_ec2 as sdk;

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::sync::OnceCell;

use actuator::provision::{
    AttemptError, Discovered, Invalid, Observed, Outputs, ProvisionCx, Provisioned,
    ProvisionerProxy, Scope,
};
use actuator::secret::Secret;
use api::Stats;
use client::{ConfigSpec, RegionCx, StaticKeys};

/// The AWS provisioner proxy: one per account (and credentials); resources choose their region.
///
/// Credentials: static keys given with [`AwsProxy::credentials`], else the standard chain —
/// environment (`AWS_ACCESS_KEY_ID` …), the shared config and credentials files and their
/// profiles (including SSO and `credential_process`), web identity, ECS and EC2 instance metadata.
/// The endpoint: [`AwsProxy::endpoint`], else `AWS_ENDPOINT_URL_EC2` / `AWS_ENDPOINT_URL`, else
/// AWS's. The region of a resource: its own `.region(…)`, else [`AwsProxy::default_region`], else
/// `AWS_REGION` / the profile's.
///
/// ```
/// use actuator_aws::{ApiLimits, AwsProxy};
/// use actuator::secret::Secret;
/// let p = AwsProxy::new("aws")
///     .default_region("eu-west-2")
///     .credentials("AKIAEXAMPLE", Secret::new("not-printed"))
///     .endpoint("http://127.0.0.1:5055")
///     .limits(ApiLimits::unlimited());
/// let shown = format!("{p:?}");
/// assert!(shown.contains("eu-west-2") && !shown.contains("not-printed") && !shown.contains("AKIA"));
/// ```
pub struct AwsProxy {
    name: String,
    spec: ConfigSpec,
    limits: api::ApiLimits,
    retry: RetrySettings,
    poll_interval: Duration,
    instance_timeout: Duration,
    system: Option<String>,
    conf: OnceCell<aws_config::SdkConfig>,
    regions: Mutex<HashMap<String, Arc<RegionCx>>>,
    stats: Arc<Stats>,
    tokens: Mutex<HashMap<(String, String), String>>,
    keys: Mutex<HashMap<String, Secret>>,
    systems: Mutex<BTreeSet<String>>,
}

impl fmt::Debug for AwsProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsProxy")
            .field("name", &self.name)
            .field("default_region", &self.spec.default_region)
            .field(
                "credentials",
                &match (&self.spec.keys, &self.spec.profile) {
                    (Some(_), _) => "static (***)".to_owned(),
                    (None, Some(p)) => format!("profile {p}"),
                    (None, None) => "default chain".to_owned(),
                },
            )
            .field("endpoint", &self.spec.endpoint)
            .field("limits", &self.limits)
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

/// Everything of one system still in a region, by kind (ids; key pairs by name). Instances that
/// are terminated are not listed.
///
/// ```
/// use actuator_aws::Inventory;
/// let inv = Inventory { vpcs: vec!["vpc-1".into()], ..Inventory::default() };
/// assert_eq!((inv.len(), inv.is_empty()), (1, false));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Instances not yet terminated.
    pub instances: Vec<String>,
    /// VPCs.
    pub vpcs: Vec<String>,
    /// Subnets.
    pub subnets: Vec<String>,
    /// Internet gateways.
    pub internet_gateways: Vec<String>,
    /// Route tables.
    pub route_tables: Vec<String>,
    /// Security groups.
    pub security_groups: Vec<String>,
    /// Key pairs (names).
    pub key_pairs: Vec<String>,
    /// Network interfaces, tagged or in the system's VPCs.
    pub network_interfaces: Vec<String>,
    /// Elastic IP allocations.
    pub addresses: Vec<String>,
}

impl Inventory {
    /// How many resources it lists.
    pub fn len(&self) -> usize {
        self.instances.len()
            + self.vpcs.len()
            + self.subnets.len()
            + self.internet_gateways.len()
            + self.route_tables.len()
            + self.security_groups.len()
            + self.key_pairs.len()
            + self.network_interfaces.len()
            + self.addresses.len()
    }
    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl AwsProxy {
    /// A proxy named `name` (resources select it with `.cloud(name)` when a model has several).
    pub fn new(name: impl Into<String>) -> Self {
        AwsProxy {
            name: name.into(),
            spec: ConfigSpec::default(),
            limits: ApiLimits::default(),
            retry: RetrySettings::default(),
            poll_interval: Duration::from_secs(1),
            instance_timeout: Duration::from_secs(600),
            system: None,
            conf: OnceCell::new(),
            regions: Mutex::default(),
            stats: Arc::default(),
            tokens: Mutex::default(),
            keys: Mutex::default(),
            systems: Mutex::default(),
        }
    }

    /// The region of resources that name none.
    pub fn default_region(mut self, region: impl Into<String>) -> Self {
        self.spec.default_region = Some(region.into());
        self
    }

    /// Static credentials (else the standard chain). Neither part is ever printed or stored.
    pub fn credentials(mut self, access_key: impl Into<String>, secret_key: Secret) -> Self {
        self.spec.keys = Some(StaticKeys {
            access_key: Secret::new(access_key),
            secret_key,
            session_token: None,
        });
        self
    }

    /// A session token to go with static credentials (temporary credentials).
    pub fn session_token(mut self, token: Secret) -> Self {
        if let Some(k) = &mut self.spec.keys {
            k.session_token = Some(token);
        }
        self
    }

    /// Uses a named profile of the shared config files (SSO profiles included).
    pub fn profile(mut self, profile: impl Into<String>) -> Self {
        self.spec.profile = Some(profile.into());
        self
    }

    /// Sends every call to `url` instead of AWS's endpoint: a local emulator such as moto, or a
    /// VPC endpoint.
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.spec.endpoint = Some(url.into());
        self
    }

    /// Replaces the client-side rate limits.
    pub fn limits(mut self, limits: ApiLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Replaces the retry settings.
    pub fn retry(mut self, retry: RetrySettings) -> Self {
        self.retry = retry;
        self
    }

    /// How long an instance may take to reach `running` (or `terminated`); default 10 minutes.
    pub fn instance_timeout(mut self, t: Duration) -> Self {
        self.instance_timeout = t;
        self
    }

    /// The first wait between instance-state polls (it doubles up to 5 s); default 1 s.
    pub fn poll_interval(mut self, t: Duration) -> Self {
        self.poll_interval = t;
        self
    }

    /// The system this proxy serves, for finding resources by their tags when neither the state
    /// (which records each resource's system) nor this process's own calls say it.
    pub fn system(mut self, system: impl Into<String>) -> Self {
        self.system = Some(system.into());
        self
    }

    /// The private key of a key pair EC2 created in this process, by the key pair's model path
    /// (e.g. `WebFleet.key`). Not stored anywhere else unless the key pair names a
    /// `private_key_file`.
    ///
    /// ```
    /// use actuator_aws::AwsProxy;
    /// assert!(AwsProxy::new("aws").private_key("WebFleet.keypair").is_none());
    /// ```
    pub fn private_key(&self, path: &str) -> Option<Secret> {
        self.keys.lock().get(path).cloned()
    }

    /// What the EC2 calls of this proxy did so far.
    ///
    /// ```
    /// use actuator_aws::AwsProxy;
    /// let aws = AwsProxy::new("aws");
    /// assert_eq!((aws.stats().total(), aws.stats().median_latency()), (0, None));
    /// ```
    pub fn stats(&self) -> CallStats {
        self.stats.snapshot()
    }

    /// Starts counting from zero.
    pub fn reset_stats(&self) {
        self.stats.reset()
    }

    /// An EC2 client for `region` (else the default region), configured as the proxy's are
    /// (credentials, endpoint), for calls of your own. It does not use the proxy's retries or
    /// rate limits.
    ///
    /// # Errors
    /// If no region is given and none is configured, or a bucket of [`AwsProxy::limits`] could
    /// never admit a call.
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use actuator_aws::AwsProxy;
    /// let aws = AwsProxy::new("aws").default_region("eu-west-2");
    /// let ec2 = aws.client(None).await.unwrap();
    /// let zones = ec2.describe_availability_zones().send().await.unwrap();
    /// println!("{:?}", zones.availability_zones());
    /// # });
    /// ```
    pub async fn client(&self, region: Option<&str>) -> Result<sdk::Client, AttemptError> {
        let r = self.region_name(region).await?;
        Ok(self.region_cx(&r).await?.caller.ec2.clone())
    }

    /// Everything tagged with `system` that is still in `region` (else the default region): what
    /// a `down` should have removed. Untagged primary interfaces inside the system's VPCs count
    /// too.
    ///
    /// # Errors
    /// If EC2 cannot be asked (no region, credentials, connection).
    ///
    /// ```no_run
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use actuator_aws::AwsProxy;
    /// let left = AwsProxy::new("aws").inventory(Some("eu-west-2"), "aws-example").await.unwrap();
    /// assert!(left.is_empty(), "still there: {left:?}");
    /// # });
    /// ```
    pub async fn inventory(
        &self,
        region: Option<&str>,
        system: &str,
    ) -> Result<Inventory, AttemptError> {
        ops::inventory(self, region, system).await
    }

    async fn sdk_config(&self) -> &aws_config::SdkConfig {
        self.conf.get_or_init(|| client::load(&self.spec)).await
    }

    async fn region_name(&self, explicit: Option<&str>) -> Result<String, AttemptError> {
        if let Some(r) = explicit.or(self.spec.default_region.as_deref()) {
            return Ok(r.to_owned());
        }
        match self.sdk_config().await.region() {
            Some(r) => Ok(r.to_string()),
            None => Err(AttemptError::fatal(format!(
                "proxy `{}` has no region: give the resource `.region(…)`, the proxy \
                 `.default_region(…)`, or set AWS_REGION",
                self.name
            ))),
        }
    }

    async fn region_cx(&self, region: &str) -> Result<Arc<RegionCx>, AttemptError> {
        if let Some(r) = self.regions.lock().get(region) {
            return Ok(r.clone());
        }
        let ec2 = client::client(self.sdk_config().await, region);
        let mut g = self.regions.lock();
        if let Some(r) = g.get(region) {
            return Ok(r.clone());
        }
        let rc = RegionCx::new(region.to_owned(), ec2, &self.limits, self.stats.clone())
            .map_err(|e| AttemptError::fatal(format!("proxy `{}`: {e}", self.name)))?;
        let rc = Arc::new(rc);
        g.insert(region.to_owned(), rc.clone());
        Ok(rc)
    }

    fn learn_system(&self, system: &str) {
        let mut g = self.systems.lock();
        if !g.contains(system) {
            g.insert(system.to_owned());
        }
    }

    /// The system to find unrecorded resources of: the configured one, or the only one this
    /// proxy has provisioned.
    fn known_system(&self) -> Option<String> {
        if let Some(s) = &self.system {
            return Some(s.clone());
        }
        let g = self.systems.lock();
        match g.len() {
            1 => g.iter().next().cloned(),
            _ => None,
        }
    }

    /// The client token of the create of `path` in `region`: the same for every retry in this
    /// process, new after the resource is deleted.
    fn client_token(&self, region: &str, path: &str) -> String {
        let mut g = self.tokens.lock();
        g.entry((region.to_owned(), path.to_owned()))
            .or_insert_with(|| {
                format!(
                    "actuator-{:016x}{:016x}",
                    rand::random::<u64>(),
                    rand::random::<u64>()
                )
            })
            .clone()
    }

    fn forget_client_token(&self, region: &str, path: &str) {
        self.tokens
            .lock()
            .remove(&(region.to_owned(), path.to_owned()));
    }

    fn keep_private_key(&self, path: &str, key: Secret) {
        self.keys.lock().insert(path.to_owned(), key);
    }

    fn forget_private_key(&self, path: &str) {
        self.keys.lock().remove(path);
    }
}

#[async_trait::async_trait]
impl ProvisionerProxy for AwsProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn handles(&self, kind: &str) -> bool {
        resources::KINDS.contains(&kind)
    }

    fn validate(&self, cx: &ProvisionCx) -> Vec<Invalid> {
        validate::validate(cx)
    }

    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        ops::provision(self, cx).await
    }

    async fn update(
        &self,
        cx: &ProvisionCx,
        rec: &Provisioned,
        _changed: &[String],
    ) -> Result<Outputs, AttemptError> {
        ops::update(self, cx, rec).await
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

    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        ops::read(self, rec).await
    }

    async fn deprovision(&self, rec: &Provisioned) -> Result<(), AttemptError> {
        ops::deprovision(self, rec).await
    }

    /// At DEBUG the SDK's request signing and its runtime print the access key id.
    fn secret_log_targets(&self) -> &'static [&'static str] {
        &["aws_sigv4", "aws_smithy_runtime"]
    }
}
