use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Lab {
    #[component(Network::new("net"))]
    net: Network,
    // A class-level path where the instance's network is needed (`ctx.model.net`).
    #[component(Server::new("web", "debian-12").nics([Lab::class().map(|l| l.net)]))]
    web: Server,
}

fn main() {}
