use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Server::new("web", "debian-12"))]
    server: Server,
}

namespace! {
    struct Site for Cluster {
        web: Role = Role::new("web").host_ref(infra.server),
    }
}

config! {
    struct Setup for Site {
        ping: Task = PingTask::new("ping").role(ctx.nexus.inf.server),
    }
}

fn main() {}
