use actuator::infra::test::{Network, Subnet};
use actuator::prelude::*;

#[derive(ResourceGroup)]
struct Segment {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Subnet::new("sub", ctx.model.net, "10.0.0.0/24"))]
    subnet: Subnet,
}

fn main() {}
