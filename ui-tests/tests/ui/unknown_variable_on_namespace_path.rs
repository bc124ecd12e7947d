use actuator::infra::test::Server;
use actuator::prelude::*;

namespace! {
    struct Site for Cluster {
        vars { MEM = "4G" }
        web: Role = Role::new("web").host_ref("127.0.0.1"),
    }
}

#[derive(InfraModel)]
#[infra(namespace = Site)]
struct Cluster {
    #[component(Server::new("web", "debian-12").mem(ctx.nexus.ns.v.MEMORY))]
    server: Server,
}

fn main() {}
