//! EC2 clients: one SDK configuration per proxy (loaded once, lazily), one client per region, each
//! with its own token buckets and batchers — EC2 throttles per account and region.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::config::{Region, retry::RetryConfig, timeout::TimeoutConfig};
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::api::{Api, ApiLimits, AwsError, Batcher, Buckets, Stats};
use super::find::{self, Tagged};
use super::ops::instances;

/// One region's client with its buckets: every EC2 call goes through [`Caller::call`].
pub(crate) struct Caller {
    pub ec2: Client,
    buckets: Buckets,
    stats: Arc<Stats>,
}

impl Caller {
    /// Takes a token from `api`'s bucket, sends, records the round trip, classifies a failure.
    pub async fn call<T, E, F>(&self, api: Api, op: &'static str, fut: F) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let waited = self.buckets.acquire(api).await;
        if !waited.is_zero() {
            self.stats.waited(waited);
        }
        let t = Instant::now();
        let r = fut.await;
        self.stats.call(op, t.elapsed());
        r.map_err(|e| AwsError::from_sdk(op, e))
    }
}

/// The batched finders of one region, by the type they find and the system (each an
/// `Arc<Batcher<String, T>>`).
type Finders = HashMap<(TypeId, String), Arc<dyn Any + Send + Sync>>;
type ImageCells = HashMap<(String, String), Arc<OnceCell<String>>>;

/// Everything the proxy keeps per region.
pub(crate) struct RegionCx {
    pub name: String,
    pub caller: Arc<Caller>,
    finders: Mutex<Finders>,
    /// Instances by id, polled together while they start or stop.
    pub instances: Arc<Batcher<String, types::Instance>>,
    /// Terminations sent together.
    pub terminator: Arc<Batcher<String, ()>>,
    images: Mutex<ImageCells>,
}

impl RegionCx {
    /// # Errors
    /// If `limits` has a bucket that could never admit a call.
    pub fn new(
        name: String,
        ec2: Client,
        limits: &ApiLimits,
        stats: Arc<Stats>,
    ) -> Result<Self, String> {
        let caller = Arc::new(Caller {
            ec2,
            buckets: Buckets::new(limits)?,
            stats,
        });
        Ok(RegionCx {
            name,
            instances: instances::state_poller(caller.clone()),
            terminator: instances::terminator(caller.clone()),
            caller,
            finders: Mutex::default(),
            images: Mutex::default(),
        })
    }

    /// The batched finder of `T`s of `system`.
    pub fn finder<T: Tagged>(&self, system: &str) -> Arc<Batcher<String, T>> {
        let any = self
            .finders
            .lock()
            .entry((TypeId::of::<T>(), system.to_owned()))
            .or_insert_with(|| find::finder::<T>(self.caller.clone(), system.to_owned()))
            .clone();
        any.downcast()
            .expect("finders are keyed by the type they find")
    }

    /// The once-per-region cell for an image look-up.
    pub fn image_cell(&self, owner: &str, name: &str) -> Arc<OnceCell<String>> {
        let mut g = self.images.lock();
        g.entry((owner.to_owned(), name.to_owned()))
            .or_default()
            .clone()
    }
}

/// Static credentials given to the proxy (never printed: both parts are secrets).
#[derive(Clone)]
pub(crate) struct StaticKeys {
    pub access_key: actuator::secret::Secret,
    pub secret_key: actuator::secret::Secret,
    pub session_token: Option<actuator::secret::Secret>,
}

/// How to build the SDK configuration.
#[derive(Clone, Default)]
pub(crate) struct ConfigSpec {
    pub default_region: Option<String>,
    pub keys: Option<StaticKeys>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
}

/// Loads the SDK configuration: explicit settings first, then the standard chain (environment
/// `AWS_REGION` / `AWS_ACCESS_KEY_ID` / `AWS_ENDPOINT_URL[_EC2]` …, profiles, SSO, web identity,
/// ECS and IMDS). The SDK's own retries are off: the proxy retries (with its buckets) itself.
pub(crate) async fn load(spec: &ConfigSpec) -> aws_config::SdkConfig {
    let mut l = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(r) = &spec.default_region {
        l = l.region(Region::new(r.clone()));
    }
    if let Some(p) = &spec.profile {
        l = l.profile_name(p);
    }
    if let Some(k) = &spec.keys {
        l = l.credentials_provider(aws_sdk_ec2::config::Credentials::new(
            k.access_key.expose(),
            k.secret_key.expose(),
            k.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "actuator-static",
        ));
    }
    if let Some(e) = &spec.endpoint {
        l = l.endpoint_url(e);
    }
    l.load().await
}

/// A client for `region` from the loaded configuration.
pub(crate) fn client(conf: &aws_config::SdkConfig, region: &str) -> Client {
    let c = aws_sdk_ec2::config::Builder::from(conf)
        .region(Region::new(region.to_owned()))
        .build();
    Client::from_conf(c)
}
