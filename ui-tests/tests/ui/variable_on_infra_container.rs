use actuator::infra::test::Server;
use actuator::prelude::*;

// Variables belong to namespace components: on an infra keyed container nothing would read them.
#[derive(InfraModel)]
struct Cluster {
    #[component(MultiResource::new(Server::new("node", "debian-12")).var("PORT", 8080))]
    nodes: MultiResource<Server>,
}

fn main() {}
