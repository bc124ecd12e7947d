use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net[1]]))]
    server: Server,
}

fn main() {}
