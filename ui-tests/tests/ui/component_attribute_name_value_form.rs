use actuator::infra::test::Network;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component = "net"]
    net: Network,
}

fn main() {}
