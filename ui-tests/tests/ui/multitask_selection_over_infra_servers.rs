use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(MultiResource::new(Server::new("node", "debian-12")))]
    nodes: MultiResource<Server>,
}

namespace! {
    struct Grid for Cluster {
        grid: MultiRole = MultiRole::new(Role::new("node").host_ref(infra.nodes[ctx.name])),
    }
}

config! {
    struct Setup for Grid {
        prep: MultiTask = MultiTask::new("prep", CommandTask::new("prep", "true"), ctx.nexus.inf.nodes.all()),
    }
}

fn main() {}
