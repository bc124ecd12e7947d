//! The quickstart: a small web system modelled with actuator, with no cloud account needed.
//!
//! It builds the three models, grows the namespace (which grows the infra), and prints every
//! component, every dependency edge, the task graph and the variable report per role.

use actuator::infra::test::{Database, FloatingIp, Network, Server, Subnet};
use actuator::prelude::*;

/// The infrastructure: a network, a subnet, a front server with a public address, a database and a
/// keyed set of app servers.
#[derive(InfraModel)]
struct WebInfra {
    #[component(Network::new("web_net").cidr("10.0.0.0/16"))]
    net: Network,
    #[component(Subnet::new("web_subnet", ctx.model.net, "10.0.1.0/24"))]
    subnet: Subnet,
    #[component(Server::new("front", "debian-12").nics([ctx.model.net]))]
    front: Server,
    #[component(FloatingIp::new("front_ip", ctx.model.front, ctx.model.front.ip).pool("public"))]
    front_ip: FloatingIp,
    #[component(Database::new("db", 5432).on(ctx.model.front))]
    db: Database,
    #[component(MultiResource::new(Server::new("app", "debian-12").nics([ctx.model.net])))]
    apps: MultiResource<Server>,
}

namespace! {
    /// Who does what: a front role and one app role per key, each on its own server.
    struct WebNamespace for WebInfra {
        vars {
            APP_PORT = "8080",
            FRONT_IP = infra.front_ip.ip,
            APP_URL = "http://!{APP_HOST}:!{APP_PORT}/",
            hidden WORKDIR = "/tmp/actuator-quickstart",
        }
        front: Role = Role::new("front").host_ref(infra.front_ip).var("APP_HOST", "front.local"),
        apps: MultiRole = MultiRole::new(
            Role::new("app").host_ref(infra.apps[ctx.name]).var("APP_HOST", format!("app-{}", ctx.name))),
    }
}

config! {
    /// What to run: a directory, the app on every app role, then the front's config.
    struct WebConfig for WebNamespace {
        workdir: Task = ShellTask::new("workdir", "mkdir -p !{WORKDIR}").role(ns.front),
        apps: MultiTask = MultiTask::new("install", CommandTask::new("install", "echo !{APP_URL}"), q.apps.all()),
        front: Task = CopyFileTask::new("front_conf", "!{WORKDIR}/front.conf").content("upstream !{APP_URL}").role(ns.front),
        deps { workdir | apps | front }
    }
}

fn main() {
    let infra = WebInfra::instance("quickstart");
    let ns = WebNamespace::instance("web", &infra);
    for k in 1..=3 {
        ns.index(ns.root().apps, k); // each app role creates its server: infra.apps[k]
    }
    let cfg = WebConfig::instance("setup", &ns);

    println!("== components");
    infra.with_world(|w| {
        for t in w.trees() {
            for (n, e) in t.leaves() {
                println!(
                    "  {:<40} {:<22} {}",
                    t.dotted(n),
                    e.kind(),
                    t.display_name(n)
                );
            }
        }
        println!("== dependency edges (dependency -> dependent)");
        for (a, b) in w.edges() {
            println!("  {} -> {}", w.describe(a), w.describe(b));
        }
    });

    println!("== task graph");
    let g = cfg.graph();
    for (a, b) in g.edge_names() {
        println!("  {a} -> {b}");
    }

    println!("== variables per role (unresolved until provisioning fills the outputs)");
    for r in ns.report() {
        print!("{r}");
    }
}
