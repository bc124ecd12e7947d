// A user's functions named like the bindings the generated code once made for itself (`env`, `at`,
// `view`, `cv`, `w`) are callable inside component, variable and defaults expressions of every
// macro: the generated code's own bindings are hygienic.
use actuator::infra::test::{Network, Server};
use actuator::prelude::*;

fn env(name: &str) -> String {
    format!("env-{name}")
}
fn at(n: u32) -> String {
    format!("at-{n}")
}
fn view() -> &'static str {
    "view"
}
fn cv() -> &'static str {
    "debian-12"
}
fn w() -> &'static str {
    "w"
}

#[derive(ResourceGroup)]
struct Pair {
    #[component(Server::new(env("a"), cv()))]
    a: Server,
    #[component(Server::new(at(0), w()).nics(Vec::<Ref<Network>>::new()))]
    b: Server,
}

#[derive(InfraModel)]
struct Infra {
    #[component(Network::new(env("net")))]
    net: Network,
    #[component(Server::new(at(1), cv()).nics([ctx.model.net]))]
    server: Server,
    #[component(MultiResource::new(Server::new(view(), w()).nics([ctx.model.net])))]
    workers: MultiResource<Server>,
    #[component(ResourceGroup::new(env("pair")))]
    pair: ResourceGroup<Pair>,
}

namespace! {
    struct Site for Infra {
        vars { HOST = env("host"), WHERE = at(2), PLAIN = "p" }
        web: Role = Role::new(view()).host_ref(infra.server).var("W", w()),
        grid: MultiRole = MultiRole::new(Role::new(env("node")).host_ref(infra.workers[ctx.name])),
    }
}

config! {
    struct Setup for Site {
        defaults { remote_user = w() }
        ping: Task = PingTask::new(at(3)).role(ns.web),
        say: Task = CommandTask::new(view(), cv()).role(q.web),
        deps { ping | say }
    }
}

fn main() {
    let infra = Infra::instance("i");
    let r = infra.root();
    assert_eq!(infra.name(&r.net), "env-net");
    assert_eq!(infra.name(&r.server), "at-1");
    assert_eq!(infra.name(&r.pair.a), "env-a");
    assert_eq!(infra.name(&r.pair.b), "at-0");
    let worker = infra.index(r.workers, 7);
    assert_eq!(infra.name(&worker), "view_7");

    let ns = Site::instance("s", &infra);
    let web = ns.root().web;
    assert_eq!(ns.name(&web), "view");
    assert_eq!(ns.var_value(&web, "HOST").unwrap(), "env-host");
    assert_eq!(ns.var_value(&web, "WHERE").unwrap(), "at-2");
    assert_eq!(ns.var_value(&web, "W").unwrap(), "w");
    let node = ns.index(ns.root().grid, 1);
    assert_eq!(ns.name(&node), "env-node_1");

    let cfg = Setup::instance("c", &ns);
    assert_eq!(cfg.name(&cfg.root().ping), "at-3");
    assert_eq!(cfg.name(&cfg.root().say), "view");
}
