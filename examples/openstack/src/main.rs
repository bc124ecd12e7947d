//! The orchestration tutorial's grid on OpenStack: the gateway resources (a network with its
//! subnet, a router with a gateway to the external network and an interface on the subnet), a
//! security group letting SSH and ping in, a key pair, the seed's single server — the foreman —
//! with a floating IP, and a grid of K workers. A namespace gives the foreman and every worker a
//! role, with the foreman's internal and external addresses as variables.
//!
//! Against the OpenStack that `scripts/openstack.sh` runs on loopback (it starts it if needed):
//!
//! ```sh
//! scripts/openstack.sh start && eval "$(scripts/openstack.sh env)" && cargo run -p openstack-example -- up
//! cargo run -p openstack-example -- down        # with the same environment
//! ```
//!
//! Against a real cloud: `OS_CLOUD` (a cloud of your clouds.yaml) or the `OS_*` variables, and
//! the names of an image, a flavor and the external network there:
//!
//! ```sh
//! OS_CLOUD=mycloud OPENSTACK_EXAMPLE_IMAGE="Ubuntu 24.04" OPENSTACK_EXAMPLE_FLAVOR=m1.small \
//!   OPENSTACK_EXAMPLE_EXTERNAL_NETWORK=external cargo run -p openstack-example -- plan | up | status | down
//! ```
//!
//! `OPENSTACK_EXAMPLE_WORKERS` sets K (default 3); `OPENSTACK_EXAMPLE_PUBLIC_KEY` names the public
//! key file for the key pair (default `~/.ssh/id_ed25519.pub`, else a built-in throwaway key).
//! Image, flavor and external network default to `ACTUATOR_OS_IMAGE`, `ACTUATOR_OS_FLAVOR` and
//! `ACTUATOR_OS_EXTERNAL_NETWORK` (what `scripts/openstack.sh env` sets), else `cirros`,
//! `m1.tiny` and `public`.

use std::process::ExitCode;
use std::sync::Arc;

use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_openstack::{
    FloatingIp, KeyPair, Network, OpenStackProxy, Router, RouterGateway, RouterInterface,
    SecurityGroup, SecurityGroupRule, Server, Subnet,
};

/// The system's name: it keys the state (`.actuator/openstack-example/`) and every resource's
/// identity tags.
const SYSTEM: &str = "openstack-example";

/// A public key nobody holds the private half of: the grid boots without one of yours.
const THROWAWAY_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDkOBsvse0q5xbmK5QJwb733C9xrJ9H0MWX/0u1Xlvvt actuator-example";

fn setting(own: &str, stack: &str, default: &str) -> String {
    std::env::var(own)
        .or_else(|_| std::env::var(stack))
        .unwrap_or_else(|_| default.to_owned())
}

fn image() -> String {
    setting("OPENSTACK_EXAMPLE_IMAGE", "ACTUATOR_OS_IMAGE", "cirros")
}

fn flavor() -> String {
    setting("OPENSTACK_EXAMPLE_FLAVOR", "ACTUATOR_OS_FLAVOR", "m1.tiny")
}

fn external() -> String {
    setting(
        "OPENSTACK_EXAMPLE_EXTERNAL_NETWORK",
        "ACTUATOR_OS_EXTERNAL_NETWORK",
        "public",
    )
}

fn key_pair() -> KeyPair {
    let k = KeyPair::new("grid-key").ensure_unique(true);
    let file = std::env::var("OPENSTACK_EXAMPLE_PUBLIC_KEY")
        .ok()
        .or_else(|| {
            let home = std::env::var("HOME").ok()?;
            let f = format!("{home}/.ssh/id_ed25519.pub");
            std::path::Path::new(&f).is_file().then_some(f)
        });
    match file {
        Some(f) => k.public_key_file(f),
        None => k.public_key(THROWAWAY_KEY),
    }
}

/// The tutorial's `MultipleServers` (with its gateway resources spelt out), plus the security
/// group and key pair a real cloud's servers need.
#[derive(InfraModel)]
struct MultipleServers {
    #[component(Network::new("actuator_ex2_net"))]
    net: Network,
    #[component(Subnet::new("actuator_ex2_subnet", ctx.model.net, "192.168.23.0/24")
        .dns_nameservers(["8.8.8.8"]))]
    subnet: Subnet,
    #[component(Router::new("actuator_ex2_router"))]
    router: Router,
    #[component(RouterGateway::new("actuator_ex2_gateway", ctx.model.router, external()))]
    gateway: RouterGateway,
    #[component(RouterInterface::new("actuator_ex2_rinter", ctx.model.router, ctx.model.subnet))]
    rinter: RouterInterface,
    #[component(SecurityGroup::new("actuator_ex2_sg", "SSH and ping from anywhere"))]
    sg: SecurityGroup,
    #[component(SecurityGroupRule::new("ssh", ctx.model.sg).tcp(22, 22).cidr("0.0.0.0/0"))]
    ssh: SecurityGroupRule,
    #[component(SecurityGroupRule::new("ping", ctx.model.sg).icmp().cidr("0.0.0.0/0"))]
    ping: SecurityGroupRule,
    #[component(key_pair())]
    key: KeyPair,
    /// The only server the outside world can reach: it hands work to the workers.
    #[component(Server::new("foreman", image(), flavor())
        .nics([ctx.model.net])
        .security_groups([ctx.model.sg])
        .key_pair(ctx.model.key))]
    foreman: Server,
    #[component(FloatingIp::new("actuator_ex2_float", ctx.model.foreman, ctx.model.foreman.ip)
        .pool(external()))]
    fip: FloatingIp,
    #[component(MultiResource::new(
        Server::new("worker", image(), flavor())
            .nics([ctx.model.net])
            .security_groups([ctx.model.sg])
            .key_pair(ctx.model.key)))]
    workers: MultiResource<Server>,
}

namespace! {
    /// The tutorial's `GridNamespace`: the foreman's addresses and ports for everyone, a role per
    /// worker; growing the grid grows the infra.
    struct GridNamespace for MultipleServers {
        vars {
            FOREMAN_EXTERNAL_IP = infra.fip.ip,
            FOREMAN_INTERNAL_IP = infra.foreman.ip,
            FOREMAN_EXTERNAL_PORT = "3000",
            FOREMAN_WORKER_PORT = "3001",
        }
        foreman: Role = Role::new("foreman").host_ref(infra.foreman),
        grid: MultiRole = MultiRole::new(
            Role::new("node").host_ref(infra.workers[ctx.name]).var("NODE_ID", ctx.name)),
    }
}

fn orchestration() -> ActuatorOrchestration {
    let k: usize = std::env::var("OPENSTACK_EXAMPLE_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let infra = MultipleServers::instance("grid");
    let ns = GridNamespace::instance("grid-ns", &infra);
    for i in 0..k {
        ns.index(ns.root().grid, i);
    }
    // Credentials: OS_CLOUD (clouds.yaml, OS_CLIENT_CONFIG_FILE) or the OS_* variables.
    let os = OpenStackProxy::new("openstack").external_network(external());
    ActuatorOrchestration::new(SYSTEM)
        .infra(&infra)
        .namespace(&ns)
        .proxy(Arc::new(os))
}

fn main() -> ExitCode {
    actuator::cli::main(orchestration)
}
