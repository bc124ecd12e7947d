use actuator::infra::test::{Network, Subnet};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Subnet::new("sub", ctx.model.nett, "10.0.0.0/24"))]
    subnet: Subnet,
}

fn main() {}
