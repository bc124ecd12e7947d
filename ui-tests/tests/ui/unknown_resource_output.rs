use actuator::infra::test::{FloatingIp, Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    server: Server,
    #[component(FloatingIp::new("fip", ctx.model.server, ctx.model.server.ipp))]
    fip: FloatingIp,
}

fn main() {}
