//! The original's cluster on Azure: a resource group, a virtual network with one subnet behind a
//! network security group that lets SSH in, and K Linux VMs, each with its own network interface
//! and static public IP. A namespace gives every VM a `node` role (its host is the VM, its
//! `PUBLIC_IP` and `PRIVATE_IP` are the VM's addresses).
//!
//! Against the ARM fake on loopback (builds and starts it the first time):
//!
//! ```sh
//! scripts/azure-fake.sh run cargo run -p azure-example -- up
//! scripts/azure-fake.sh run cargo run -p azure-example -- down
//! ```
//!
//! Against a subscription: the usual credentials (`AZURE_TENANT_ID` / `AZURE_CLIENT_ID` /
//! `AZURE_CLIENT_SECRET`, workload or managed identity, or `az login`) and `AZURE_SUBSCRIPTION_ID`:
//!
//! ```sh
//! AZURE_SUBSCRIPTION_ID=… AZURE_LOCATION=westeurope cargo run -p azure-example -- plan | up | status | report | down
//! ```
//!
//! `AZURE_EXAMPLE_NODES` sets K (default 3); `AZURE_EXAMPLE_SSH_KEY` the administrator's public
//! key file (default `~/.ssh/id_ed25519.pub`, else `~/.ssh/id_rsa.pub`, else a built-in key whose
//! private half nobody has — fine against the fake, useless on Azure); `AZURE_EXAMPLE_SIZE` the VM
//! size (default `Standard_B1s`). Against a local endpoint (`ACTUATOR_AZURE_ARM_URL` on 127.0.0.1)
//! the client-side rate limits are off.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_azure::{
    ApiLimits, AzureProxy, ImageReference, NetworkInterface, NetworkSecurityGroup, Protocol,
    PublicIp, ResourceGroup, SecurityRule, Subnet, VirtualMachine, VirtualNetwork,
};

/// The system's name: it keys the state (`.actuator/azure-example/`), the resource group's name
/// and every resource's tags.
const SYSTEM: &str = "azure-example";

/// A public key whose private half was thrown away: the fake only checks its shape.
const NOBODYS_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl azure-example";

/// The administrator's public key file, if there is one.
fn key_file() -> Option<PathBuf> {
    if let Ok(f) = std::env::var("AZURE_EXAMPLE_SSH_KEY") {
        return Some(f.into());
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    ["id_ed25519.pub", "id_rsa.pub"]
        .iter()
        .map(|f| home.join(".ssh").join(f))
        .find(|p| p.is_file())
}

fn size() -> String {
    std::env::var("AZURE_EXAMPLE_SIZE").unwrap_or_else(|_| "Standard_B1s".to_owned())
}

/// The administrator logs in with the key in the key file, or the built-in key.
fn with_key(vm: VirtualMachine) -> VirtualMachine {
    match key_file() {
        Some(f) => vm.ssh_public_key_file(f),
        None => vm.ssh_public_key(NOBODYS_KEY),
    }
}

/// The infrastructure. Addresses, interfaces and VMs are three keyed containers with the same
/// keys: `nodes[k]` uses `nics[k]`, which uses `ips[k]`.
#[derive(InfraModel)]
struct Cluster {
    #[component(ResourceGroup::new("cluster"))]
    rg: ResourceGroup,
    #[component(VirtualNetwork::new("cluster-net", ctx.model.rg, ["10.0.0.0/16"]))]
    vnet: VirtualNetwork,
    #[component(NetworkSecurityGroup::new("cluster-fw", ctx.model.rg))]
    fw: NetworkSecurityGroup,
    #[component(SecurityRule::inbound("ssh", ctx.model.fw, Protocol::Tcp, "22", 100)
        .description("SSH from anywhere"))]
    ssh: SecurityRule,
    #[component(Subnet::new("nodes", ctx.model.vnet, "10.0.1.0/24").nsg(ctx.model.fw))]
    subnet: Subnet,
    #[component(MultiResource::new(PublicIp::new("node-ip", ctx.comp.container.container.rg)))]
    ips: MultiResource<PublicIp>,
    #[component(MultiResource::new(
        NetworkInterface::new("node-nic", ctx.comp.container.container.rg,
            ctx.comp.container.container.subnet)
            .public_ip(ctx.comp.container.container.ips[ctx.name])))]
    nics: MultiResource<NetworkInterface>,
    #[component(MultiResource::new(with_key(
        VirtualMachine::new("node", ctx.comp.container.container.rg,
            ImageReference::ubuntu_24_04(), size(), "azureuser")
            .nics([ctx.comp.container.container.nics[ctx.name]]))))]
    nodes: MultiResource<VirtualMachine>,
}

namespace! {
    /// One `node` role per VM; growing the namespace grows the cluster.
    struct ClusterNs for Cluster {
        vars { SSH_USER = "azureuser" }
        node: MultiRole = MultiRole::new(
            Role::new("node")
                .host_ref(infra.nodes[ctx.name])
                .var("PUBLIC_IP", infra.nodes[ctx.name].public_ip)
                .var("PRIVATE_IP", infra.nodes[ctx.name].private_ip)),
    }
}

/// Whether ARM is a local endpoint (no subscription rate limits to respect).
fn local_endpoint() -> bool {
    std::env::var("ACTUATOR_AZURE_ARM_URL").is_ok_and(|u| {
        u.contains("://127.") || u.contains("://localhost") || u.contains("://[::1]")
    })
}

fn orchestration() -> ActuatorOrchestration {
    let k: usize = std::env::var("AZURE_EXAMPLE_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let infra = Cluster::instance("cluster");
    let ns = ClusterNs::instance("cluster-ns", &infra);
    for i in 1..=k {
        ns.index(ns.root().node, i);
    }
    // Subscription, location, credentials and (for the fake) endpoints come from the environment.
    let mut azure = AzureProxy::new("azure");
    if local_endpoint() {
        azure = azure.limits(ApiLimits::unlimited());
    }
    ActuatorOrchestration::new(SYSTEM)
        .infra(&infra)
        .namespace(&ns)
        .proxy(Arc::new(azure))
}

fn main() -> ExitCode {
    actuator::cli::main(orchestration)
}
