use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Lab {
    #[component(Server::new("bench", "debian-12"))]
    bench: Server,
}

namespace! {
    struct LabNs for Lab {
        bench: Role = Role::new("bench").host_ref(infra.bench),
    }
}

// `LabNs` is the namespace of `Lab`, not of `Site`.
#[derive(InfraModel)]
#[infra(namespace = LabNs)]
struct Site {
    #[component(Server::new("web", "debian-12"))]
    web: Server,
}

fn main() {}
