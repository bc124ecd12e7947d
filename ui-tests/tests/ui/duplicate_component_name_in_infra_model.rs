use actuator::infra::test::Network;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("a"))]
    net: Network,
    #[component(Network::new("b"))]
    net: Network,
}

fn main() {}
