use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    // `Server::new` takes a name and an image.
    #[component(Server::new("web").nics([ctx.model.net]))]
    server: Server,
}

fn main() {}
