use actuator::infra::test::Network;
use actuator::prelude::*;

#[derive(InfraModel)]
#[infra(short_names)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
}

fn main() {}
