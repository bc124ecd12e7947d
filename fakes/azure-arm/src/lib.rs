//! A loopback fake of Azure Resource Manager and its Entra ID token endpoint, for tests.
//!
//! There is no runnable Azure emulator, so this fake is the test surface of the project's Azure
//! provisioner: it speaks ARM's wire format (paths, api-versions, status codes, long-running
//! operation headers, error bodies), checked against the official REST API examples in
//! `tests/examples/`, for resource groups, virtual networks and subnets, network security groups
//! and rules, public IPs, network interfaces, Linux VMs and their OS disks.
//!
//! Both endpoints are HTTPS with a per-instance CA ([`FakeHandle::ca_pem`]), because
//! `azure_identity` refuses a non-`https` authority and `azure_core`'s bearer-token policy
//! refuses to authorize a non-`https` request. Everything listens on 127.0.0.1 only.
//!
//! ```
//! use azure_arm_fake::{ArmFake, FakeConfig};
//!
//! let fake = ArmFake::start(FakeConfig::default()).unwrap();
//! assert!(fake.arm_url().starts_with("https://127.0.0.1:"));
//! assert!(fake.ca_pem().contains("BEGIN CERTIFICATE"));
//! assert!(fake.resources().is_empty()); // "0 left"
//! // Dropping the handle stops the fake.
//! ```
//!
//! # Trusting the fake from `azure_core` / `azure_identity` 1.x
//!
//! Give both the credential and the ARM pipeline a transport whose `reqwest::Client` trusts the
//! fake's CA, and point the credential's cloud at the fake's authority (the crate README has the
//! whole recipe, including the ARM pipeline and the `AZURE_AUTHORITY_HOST` alternative):
//!
//! ```
//! use std::sync::Arc;
//!
//! use azure_arm_fake::{ArmFake, FakeConfig};
//! use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
//! use azure_core::credentials::TokenCredential;
//! use azure_core::http::{ClientOptions, Transport};
//! use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fake = ArmFake::start(FakeConfig::default())?;
//! let ca = reqwest::Certificate::from_pem(fake.ca_pem().as_bytes())?;
//! let http = reqwest::Client::builder().tls_certs_only([ca]).no_proxy().build()?;
//! let mut cloud = CustomConfiguration::default();
//! cloud.authority_host = fake.authority_url().to_string();
//! let options = ClientOptions {
//!     transport: Some(Transport::new(Arc::new(http))),
//!     cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
//!     ..Default::default()
//! };
//! let p = fake.principal();
//! let credential = ClientSecretCredential::new(
//!     &p.tenant_id,
//!     p.client_id.clone(),
//!     p.client_secret.clone().into(),
//!     Some(ClientSecretCredentialOptions { client_options: options }),
//! )?;
//! let token = credential
//!     .get_token(&["https://management.azure.com/.default"], None)
//!     .await?;
//! assert!(!token.token.secret().is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! `tests/azure_sdk.rs` also sends ARM requests through an `azure_core` pipeline with
//! `BearerTokenAuthorizationPolicy` and this credential.
//!
//! The crate README lists the binary's flags, the `/_fake` control routes, the wire behaviour
//! per operation, the error codes reproduced, what is not modelled, and why each dependency.

#![warn(missing_docs)]

mod body;
mod clock;
mod compute;
mod config;
mod control;
mod error;
mod faults;
mod groups;
mod handlers;
mod ipam;
mod kind;
mod listing;
mod lro;
mod network;
mod paging;
mod path;
mod render;
mod reply;
mod server;
mod stats;
mod store;
mod tls;
mod token;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

pub use config::{
    Bucket, ConflictStyle, FailAction, FailNext, FakeConfig, Faults, LroDurations, Principal,
    Throttle, Timing,
};
pub use control::ResourceSummary;
pub use error::ArmError;
pub use kind::{
    COMPUTE_API_VERSIONS, DISK_API_VERSIONS, NETWORK_API_VERSIONS, Provider,
    RESOURCES_API_VERSIONS, ResourceKind,
};
pub use stats::{FaultCounts, RequestRecord, Stats};

use server::{Endpoint, Shared, lock};
use store::State;

/// Starts fakes.
pub struct ArmFake;

impl ArmFake {
    /// Binds both listeners on 127.0.0.1 and starts serving on a thread of its own (so it works
    /// the same from synchronous tests and from any async runtime). Returns once both ports
    /// accept connections.
    pub fn start(config: FakeConfig) -> std::io::Result<FakeHandle> {
        let pki = tls::Pki::generate()?;
        let arm =
            std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, config.arm_port)))?;
        let token = std::net::TcpListener::bind(SocketAddr::from((
            Ipv4Addr::LOCALHOST,
            config.token_port,
        )))?;
        arm.set_nonblocking(true)?;
        token.set_nonblocking(true)?;
        let arm_port = arm.local_addr()?.port();
        let token_port = token.local_addr()?.port();
        let arm_url = format!("https://127.0.0.1:{arm_port}");
        let authority_url = format!("https://127.0.0.1:{token_port}");
        let shared: Shared = Arc::new(Mutex::new(State::new(
            &config,
            arm_url.clone(),
            authority_url.clone(),
        )));
        let (stop, stopped) = watch::channel(false);
        let acceptor = TlsAcceptor::from(pki.server_config.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("azure-arm-fake".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let (Ok(arm), Ok(token)) = (
                        tokio::net::TcpListener::from_std(arm),
                        tokio::net::TcpListener::from_std(token),
                    ) else {
                        return;
                    };
                    let a = tokio::spawn(server::serve(
                        arm,
                        acceptor.clone(),
                        thread_shared.clone(),
                        Endpoint::Arm,
                        stopped.clone(),
                    ));
                    let t = tokio::spawn(server::serve(
                        token,
                        acceptor,
                        thread_shared,
                        Endpoint::Token,
                        stopped,
                    ));
                    let _ = tokio::join!(a, t);
                });
            })?;
        Ok(FakeHandle {
            shared,
            arm_url,
            authority_url,
            ca_pem: pki.ca_pem,
            config,
            arm_port,
            token_port,
            stop,
            thread: Some(thread),
        })
    }
}

/// A running fake. Dropping it stops the fake.
///
/// ```
/// use azure_arm_fake::{ArmFake, FailAction, FailNext, FakeConfig, Faults, ResourceKind, Throttle};
///
/// let fake = ArmFake::start(FakeConfig::default()).unwrap();
/// // 20% of requests fail one way or another, writes are budgeted ...
/// fake.set_faults(Faults { throttle: Throttle::writes(20, 20, 2.0), ..Faults::mixed(0.2) });
/// // ... and the next VM creation ends `Failed` (AllocationFailed).
/// fake.fail_next(FailNext {
///     kind: ResourceKind::VirtualMachine,
///     action: FailAction::Create,
///     count: 1,
///     code: None,
///     message: None,
/// });
/// // After the code under test ran: nothing left, nothing created twice.
/// assert!(fake.resources().is_empty());
/// assert!(fake.stats().created_more_than_once().is_empty());
/// ```
pub struct FakeHandle {
    shared: Shared,
    arm_url: String,
    authority_url: String,
    ca_pem: String,
    config: FakeConfig,
    arm_port: u16,
    token_port: u16,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeHandle")
            .field("arm_url", &self.arm_url)
            .field("authority_url", &self.authority_url)
            .finish_non_exhaustive()
    }
}

impl FakeHandle {
    /// The ARM endpoint, `https://127.0.0.1:{port}` (no trailing slash).
    pub fn arm_url(&self) -> &str {
        &self.arm_url
    }

    /// The token authority host, `https://127.0.0.1:{port}`: what `azure_identity` calls the
    /// authority host (`AZURE_AUTHORITY_HOST`, or `CustomConfiguration::authority_host`).
    pub fn authority_url(&self) -> &str {
        &self.authority_url
    }

    /// The token URL of the first principal's tenant.
    pub fn token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority_url,
            self.principal().tenant_id
        )
    }

    /// The CA certificate (PEM) both endpoints' certificates chain to.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// ARM's port.
    pub fn arm_port(&self) -> u16 {
        self.arm_port
    }

    /// The token authority's port.
    pub fn token_port(&self) -> u16 {
        self.token_port
    }

    /// The first configured principal (tenant, client id, secret).
    pub fn principal(&self) -> &Principal {
        &self.config.principals[0]
    }

    /// The first configured subscription.
    pub fn subscription_id(&self) -> &str {
        &self.config.subscriptions[0]
    }

    /// The configuration the fake started with.
    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    /// A valid ARM token without the OAuth flow, for raw-HTTP tests.
    pub fn issue_token(&self) -> String {
        let mut st = lock(&self.shared);
        let lifetime = st.token_lifetime;
        st.tokens.issue("https://management.azure.com", lifetime)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        let mut st = lock(&self.shared);
        st.advance(Instant::now());
        st
    }

    /// Every group and resource that exists now (groups first). Empty means nothing leaked.
    pub fn resources(&self) -> Vec<ResourceSummary> {
        self.state().summaries()
    }

    /// The GET body of a group or resource, by id (any case).
    pub fn resource(&self, id: &str) -> Option<Value> {
        self.state().body_of(id)
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.state().stats.clone()
    }

    /// The ARM requests seen so far (method, path and query, status, outcome).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.state().requests.clone()
    }

    /// Current faults.
    pub fn faults(&self) -> Faults {
        self.state().faults.clone()
    }

    /// Replaces the faults (and refills the request budgets).
    pub fn set_faults(&self, faults: Faults) {
        self.state().set_faults(faults);
    }

    /// Current timing.
    pub fn timing(&self) -> Timing {
        self.state().timing.clone()
    }

    /// Replaces the timing; operations already running keep their end time.
    pub fn set_timing(&self, timing: Timing) {
        self.state().timing = timing;
    }

    /// Fails the next matching long-running operations.
    pub fn fail_next(&self, rule: FailNext) {
        self.state().fail_next(rule);
    }

    /// Puts a resource's `provisioningState` to `Failed` now. False if it does not exist.
    pub fn force_failed(&self, id: &str) -> bool {
        self.state().force_failed(id)
    }

    /// Deletes a group or resource behind the client's back (drift); refused like a real
    /// DELETE while the resource is in use.
    pub fn delete_out_of_band(&self, id: &str) -> Result<(), ArmError> {
        self.state().delete_out_of_band(id)
    }

    /// Merges `properties` into a resource's properties behind the client's back (drift).
    pub fn update_out_of_band(&self, id: &str, properties: &Value) -> bool {
        self.state().update_out_of_band(id, properties)
    }

    /// Stops the fake (as dropping the handle does).
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
