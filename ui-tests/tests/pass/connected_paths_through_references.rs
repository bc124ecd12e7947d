// `infra`, `ns` and `q` are references to the connected model's typed paths (a copy in every
// component's function made release builds quadratic, issue 15); everything a user writes with
// them reads through the reference: fields, outputs, `a[k]`, method calls, passing a path by value
// to a function, inside closures and macro calls, and a user's own `let ns` shadows the binding.
use actuator::infra::test::{FloatingIp, FloatingIpPath, Network, Server, ServerPath};
use actuator::namespace::{IntoHost, VarRef, VarValue};
use actuator::prelude::*;

#[derive(InfraModel)]
struct Infra {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    web: Server,
    #[component(FloatingIp::new("fip", ctx.model.web, "10.0.0.5"))]
    fip: FloatingIp,
    #[component(MultiResource::new(Server::new("srv", "debian-12").nics([ctx.model.net])))]
    servers: MultiResource<Server>,
}

/// A user's helper taking a path by value.
fn front(server: ServerPath) -> Role {
    Role::new("front").host_ref(server)
}

/// A user's helper generic over what a role can be hosted on.
fn on(name: &str, host: impl IntoHost) -> Role {
    Role::new(name).host_ref(host)
}

fn public_ip(fip: FloatingIpPath) -> VarValue {
    fip.ip.into()
}

namespace! {
    struct Site for Infra {
        vars {
            FIP = infra.fip.ip,
            OWN = { let infra = "mine"; infra },
            PICKED = (|| infra.fip.ip)(),
        }
        web: Role = front(infra.web).var("IP", infra.fip.ip).var("PUB", public_ip(infra.fip)),
        copy: Role = { let s = infra.web; on("copy", s) },
        grid: MultiRole = MultiRole::new(on("node", infra.servers[ctx.name])),
        listed: Role = on("listed", vec![infra.web].into_iter().next().unwrap()),
    }
}

config! {
    struct Setup for Site {
        ping: Task = PingTask::new("ping").role(ns.web),
        say: Task = CommandTask::new("say", "echo").role(q.copy),
        each: MultiTask = MultiTask::new("each", CommandTask::new("each", "echo"), q.grid.all()),
        own: Task = {
            let ns = "own-name";
            CommandTask::new(ns, "echo").role(q.web)
        },
        var: Task = {
            let _port: VarRef = ns.v.FIP;
            CommandTask::new("var", "echo !{FIP}").role((|| ns.web)())
        },
        deps { ping | say | own | var }
    }
}

fn main() {
    let infra = Infra::instance("i");
    let ns = Site::instance("s", &infra);
    let r = ns.root();
    assert_eq!(ns.name(&r.web), "front");
    assert_eq!(ns.name(&r.copy), "copy");
    assert_eq!(ns.var_value(&r.web, "OWN").unwrap(), "mine");
    let node = ns.index(r.grid, 2);
    assert_eq!(ns.name(&node), "node_2");

    let cfg = Setup::instance("c", &ns);
    assert_eq!(cfg.name(&cfg.root().own), "own-name");
    assert_eq!(cfg.name(&cfg.root().var), "var");
}
