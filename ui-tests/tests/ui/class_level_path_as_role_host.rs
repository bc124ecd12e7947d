use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Lab {
    #[component(Server::new("web", "debian-12"))]
    web: Server,
}

namespace! {
    struct LabNs for Lab {
        // A class-level path where the infra instance's server is needed (`infra.web`).
        web: Role = Role::new("web").host_ref(Lab::class().map(|l| l.web)),
    }
}

fn main() {}
