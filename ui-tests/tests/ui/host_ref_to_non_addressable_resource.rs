use actuator::infra::test::Network;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
}

namespace! {
    struct Site for Cluster {
        web: Role = Role::new("web").host_ref(infra.net),
    }
}

fn main() {}
