use actuator::infra::test::{Network, Server, Subnet};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    server: Server,
    #[component(Subnet::new("sub", ctx.model.server, "10.0.0.0/24"))]
    subnet: Subnet,
}

fn main() {}
