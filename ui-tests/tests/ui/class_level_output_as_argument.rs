use actuator::infra::test::{FloatingIp, Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Lab {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    // A class-level output where the instance's server address is needed (`ctx.model.web.ip`).
    #[component(FloatingIp::new("fip", ctx.model.web, Lab::class().map(|l| l.web.ip)))]
    fip: FloatingIp,
}

fn main() {}
