use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
#[infra(namespace = SiteNs)]
struct Site {
    #[component(Server::new("web", "debian-12"))]
    web: Server,
}

namespace! {
    struct SiteNs for Site {
        web: Role = Role::new("web").host_ref(infra.web),
    }
}

// `Site` declares `SiteNs` as its namespace: its `ctx.nexus.ns` would read this one wrongly.
namespace! {
    struct AuditNs for Site {
        auditor: Role = Role::new("auditor").host_ref(infra.web),
    }
}

fn main() {}
