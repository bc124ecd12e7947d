use actuator::infra::test::{FloatingIp, Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Front {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    // The network's id, where the server's address (`ctx.model.web.ip`) was meant.
    #[component(FloatingIp::new("fip", ctx.model.web, ctx.model.net.id))]
    fip: FloatingIp,
}

fn main() {}
