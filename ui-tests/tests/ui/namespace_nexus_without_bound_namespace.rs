use actuator::infra::test::Server;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Cluster {
    #[component(Server::new("web", "debian-12").mem(ctx.nexus.ns.v.MEM))]
    server: Server,
}

fn main() {}
