use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

// A reusable group reaches its siblings through `ctx.comp.container`; a misspelt one is reported
// at the name, on the group's paths, with no hidden type parameter in the message.
#[derive(ResourceGroup)]
struct Pair {
    #[component(Network::new("pnet"))]
    net: Network,
    #[component(Server::new("psrv", "debian-12").nics([ctx.comp.container.nett]))]
    srv: Server,
}

fn main() {}
