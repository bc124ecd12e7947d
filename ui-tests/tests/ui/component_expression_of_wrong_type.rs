use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("web"))]
    server: Server,
}

fn main() {}
