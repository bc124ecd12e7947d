use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    // There is no `storage`: the note lists what there is.
    #[component(Server::new("web", "debian-12").nics([ctx.model.storage]))]
    server: Server,
}

fn main() {}
