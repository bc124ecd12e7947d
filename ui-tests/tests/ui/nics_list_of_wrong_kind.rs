use actuator::infra::test::{Network, Server, Subnet};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Subnet::new("sub", ctx.model.net, "10.0.0.0/24"))]
    subnet: Subnet,
    // A subnet, not a network.
    #[component(Server::new("web", "debian-12").nics([ctx.model.subnet]))]
    server: Server,
}

fn main() {}
