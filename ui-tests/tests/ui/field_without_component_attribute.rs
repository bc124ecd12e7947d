use actuator::infra::test::Network;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("a"))]
    front: Network,
    back: Network,
}

fn main() {}
