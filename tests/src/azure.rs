//! Shared by the Azure tests and benchmark: the cluster model (the example's), the ARM fake
//! (started in-process, or as a process of its own), and the proxy pointed at it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actuator::orchestrate::{ActuatorOrchestration, Options};
use actuator::prelude::*;
use actuator_azure::{
    ApiLimits, AzureProxy, ImageReference, NetworkInterface, NetworkSecurityGroup, Protocol,
    PublicIp, ResourceGroup, RetrySettings, SecurityRule, Subnet, VirtualMachine, VirtualNetwork,
    Waits,
};
pub use azure_arm_fake::{
    ArmFake, FailAction, FailNext, FakeConfig, FakeHandle, Faults, ResourceKind, ResourceSummary,
    Stats, Throttle, Timing,
};

/// A public key whose private half was thrown away: the fake checks its shape only.
pub const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test";

// ------------------------------------------------------------------------------------------------
// The model

thread_local! {
    /// What the next cluster instance's VMs look like (each test thread sets its own).
    static SHAPE: std::cell::RefCell<Shape> = std::cell::RefCell::new(Shape::default());
}

/// The parts of the cluster a test changes between runs.
#[derive(Clone, Debug)]
pub struct Shape {
    pub size: &'static str,
    pub image_sku: &'static str,
    pub ssh_port: &'static str,
    pub ssh_priority: u16,
    pub password: Option<&'static str>,
    pub ip_sku: actuator_azure::PublicIpSku,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            size: "Standard_B1s",
            image_sku: "server",
            ssh_port: "22",
            ssh_priority: 100,
            password: None,
            ip_sku: actuator_azure::PublicIpSku::Standard,
        }
    }
}

pub fn shape() -> Shape {
    SHAPE.with(|s| s.borrow().clone())
}

pub fn set_shape(s: Shape) {
    SHAPE.with(|c| *c.borrow_mut() = s);
}

fn node(vm: VirtualMachine) -> VirtualMachine {
    let s = shape();
    let vm = vm.ssh_public_key(KEY);
    match s.password {
        Some(p) => vm.admin_password(Secret::new(p)),
        None => vm,
    }
}

/// The example's cluster: a group, a network, a security group letting SSH in on the subnet, and
/// K VMs each with an interface and a public IP.
#[derive(InfraModel)]
pub struct Cluster {
    #[component(ResourceGroup::new("cluster").location("westeurope"))]
    pub rg: ResourceGroup,
    #[component(VirtualNetwork::new("cluster-net", ctx.model.rg, ["10.0.0.0/16"]))]
    pub vnet: VirtualNetwork,
    #[component(NetworkSecurityGroup::new("cluster-fw", ctx.model.rg))]
    pub fw: NetworkSecurityGroup,
    #[component(SecurityRule::inbound("ssh", ctx.model.fw, Protocol::Tcp, shape().ssh_port, shape().ssh_priority))]
    pub ssh: SecurityRule,
    #[component(Subnet::new("nodes", ctx.model.vnet, "10.0.1.0/24").nsg(ctx.model.fw))]
    pub subnet: Subnet,
    #[component(MultiResource::new(PublicIp::new("node-ip", ctx.comp.container.container.rg).sku(shape().ip_sku)))]
    pub ips: MultiResource<PublicIp>,
    #[component(MultiResource::new(
        NetworkInterface::new("node-nic", ctx.comp.container.container.rg,
            ctx.comp.container.container.subnet)
            .public_ip(ctx.comp.container.container.ips[ctx.name])))]
    pub nics: MultiResource<NetworkInterface>,
    #[component(MultiResource::new(node(
        VirtualMachine::new("node", ctx.comp.container.container.rg,
            ImageReference::new("Canonical", "ubuntu-24_04-lts", shape().image_sku, "latest"),
            shape().size, "azureuser")
            .nics([ctx.comp.container.container.nics[ctx.name]]))))]
    pub nodes: MultiResource<VirtualMachine>,
}

namespace! {
    pub struct ClusterNs for Cluster {
        node: MultiRole = MultiRole::new(
            Role::new("node")
                .host_ref(infra.nodes[ctx.name])
                .var("PUBLIC_IP", infra.nodes[ctx.name].public_ip)),
    }
}

/// A cluster of `k` nodes (keys 0…k-1).
pub fn cluster(k: usize) -> actuator::model::Instance<Cluster> {
    let c = Cluster::instance("cluster");
    for i in 0..k {
        c.index(c.root().nodes, i);
        c.index(c.root().nics, i);
        c.index(c.root().ips, i);
    }
    c
}

/// Resources of a cluster of `k` in the fake: group, network, subnet, security group, rule, and
/// per node an IP, an interface, a VM and its OS disk.
pub fn cluster_size(k: usize) -> usize {
    5 + 4 * k
}

// ------------------------------------------------------------------------------------------------
// The fake and the proxy

/// A test-friendly fake: short operations.
pub fn fast() -> FakeConfig {
    FakeConfig {
        timing: Timing {
            latency: Duration::ZERO,
            lro: azure_arm_fake::LroDurations::uniform(Duration::from_millis(60))
                .with(ResourceKind::VirtualMachine, Duration::from_millis(150))
                .with(ResourceKind::ResourceGroup, Duration::from_millis(100)),
            retry_after_secs: 0,
        },
        ..FakeConfig::default()
    }
}

pub fn start_fake(config: FakeConfig) -> FakeHandle {
    ArmFake::start(config).expect("start the ARM fake")
}

/// Where a fake answers and how to trust it.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub arm_url: String,
    pub authority_url: String,
    pub ca_pem: String,
    pub subscription: String,
    pub tenant: String,
    pub client_id: String,
    pub client_secret: String,
}

impl Endpoint {
    pub fn of(fake: &FakeHandle) -> Endpoint {
        let p = fake.principal();
        Endpoint {
            arm_url: fake.arm_url().to_owned(),
            authority_url: fake.authority_url().to_owned(),
            ca_pem: fake.ca_pem().to_owned(),
            subscription: fake.subscription_id().to_owned(),
            tenant: p.tenant_id.clone(),
            client_id: p.client_id.clone(),
            client_secret: p.client_secret.clone(),
        }
    }

    /// As environment variables for a child process.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ACTUATOR_TEST_ARM_URL", self.arm_url.clone()),
            ("ACTUATOR_TEST_AUTHORITY", self.authority_url.clone()),
            ("ACTUATOR_TEST_CA", self.ca_pem.clone()),
            ("ACTUATOR_TEST_SUBSCRIPTION", self.subscription.clone()),
            ("ACTUATOR_TEST_TENANT", self.tenant.clone()),
            ("ACTUATOR_TEST_CLIENT", self.client_id.clone()),
            ("ACTUATOR_TEST_SECRET", self.client_secret.clone()),
        ]
    }

    /// What [`Endpoint::env`] gave a child process.
    pub fn from_env() -> Endpoint {
        let v = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} not set"));
        Endpoint {
            arm_url: v("ACTUATOR_TEST_ARM_URL"),
            authority_url: v("ACTUATOR_TEST_AUTHORITY"),
            ca_pem: v("ACTUATOR_TEST_CA"),
            subscription: v("ACTUATOR_TEST_SUBSCRIPTION"),
            tenant: v("ACTUATOR_TEST_TENANT"),
            client_id: v("ACTUATOR_TEST_CLIENT"),
            client_secret: v("ACTUATOR_TEST_SECRET"),
        }
    }
}

/// The proxy against a fake: its endpoints and CA, the client secret, no client-side limits,
/// quick polls and retries.
pub fn proxy(e: &Endpoint) -> AzureProxy {
    AzureProxy::new("azure")
        .subscription(&e.subscription)
        .client_secret(
            &e.tenant,
            &e.client_id,
            Secret::new(e.client_secret.clone()),
        )
        .arm_endpoint(&e.arm_url)
        .authority_host(&e.authority_url)
        .ca_pem(&e.ca_pem)
        .default_location("westeurope")
        .limits(ApiLimits::unlimited())
        .waits(Waits {
            poll_interval: Duration::from_millis(20),
            operation_timeout: Duration::from_secs(120),
            busy_timeout: Duration::from_secs(120),
        })
        .retry(RetrySettings {
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
            max_retries: 10,
            max_elapsed: Duration::from_secs(60),
        })
}

pub fn options() -> Options {
    Options {
        max_concurrency: 16,
        ..Options::default()
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

pub fn failures(o: &ActuatorOrchestration) -> String {
    format!("{:#?}", o.failures())
}

/// An orchestration of `infra` (and its namespace) with the proxy, in `state`.
pub fn orch(
    system: &str,
    infra: &actuator::model::Instance<Cluster>,
    azure: Arc<AzureProxy>,
    state: &Path,
) -> ActuatorOrchestration {
    ActuatorOrchestration::new(system)
        .infra(infra)
        .proxy(azure)
        .options(options())
        .state_dir(state)
}

/// What the fake holds that is tagged for `system` (resources), plus every untagged child and
/// disk — everything, in short, that a `down` must leave nothing of.
pub fn left(fake: &FakeHandle) -> Vec<String> {
    fake.resources()
        .into_iter()
        .map(|r| format!("{:?} {}", r.kind, r.id))
        .collect()
}
