use actuator::infra::test::{FloatingIp, Network, Server, Subnet};
use actuator::prelude::*;

#[derive(InfraModel)]
struct SingleServer {
    #[component(Network::new("ex1_net"))]
    net: Network,
    #[component(Subnet::new("ex1_subnet", ctx.model.net, "192.168.23.0/24"))]
    subnet: Subnet,
    #[component(Server::new("actuator1", "ubuntu-24.04").nics([ctx.model.net]))]
    server: Server,
    #[component(FloatingIp::new("ex1_fip", ctx.model.server, ctx.model.server.ip).pool("external"))]
    fip: FloatingIp,
    #[component(MultiResource::new(Server::new("worker", "ubuntu-24.04").nics([ctx.model.net])))]
    workers: MultiResource<Server>,
}

namespace! {
    struct Grid for SingleServer {
        vars { FOREMAN_IP = infra.fip.ip, PORT = "3000", URL = "http://!{FOREMAN_IP}:!{PORT}" }
        foreman: Role = Role::new("foreman").host_ref(infra.server),
        grid: MultiRole = MultiRole::new(Role::new("node").host_ref(infra.workers[ctx.name]).var("NODE_ID", ctx.name)),
    }
}

config! {
    struct GridConfig for Grid {
        ping: Task = PingTask::new("ping").role(ns.foreman),
        setup: Task = ShellTask::new("setup", "echo !{PORT}").role(ns.foreman),
        nodes: MultiTask = MultiTask::new("prep", CommandTask::new("prep", "echo !{NODE_ID}"), q.grid.all()),
        deps { ping | setup & nodes }
    }
}

#[test]
fn smoke() {
    let infra = SingleServer::instance("test");
    let ns = Grid::instance("ns", &infra);
    for i in 0..3 {
        ns.index(ns.root().grid, i);
    }
    assert_eq!(infra.keys(infra.root().workers).len(), 3);
    let r = ns.index(ns.root().grid, 2);
    assert_eq!(ns.var_value(&r, "NODE_ID").unwrap(), "2");
    let err = ns.var_value(&r, "URL").unwrap_err();
    assert!(err.to_string().contains("FOREMAN_IP"), "{err}");
    let cfg = GridConfig::instance("cfg", &ns);
    let g = cfg.graph();
    let mut e = g.edge_names();
    e.sort();
    println!("{e:?}");
    assert!(e.contains(&("ping".into(), "setup".into())));
    assert!(e.contains(&("ping".into(), "prep".into())));
    assert_eq!(g.task_names().len(), 5);
}
