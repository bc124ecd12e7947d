//! The two model shapes the orchestrator benches run (`orchestrate` and `converge -- cost`):
//! `flat`, N independent networks, and `chains`, 10 chains of N/10 servers each referring to the
//! previous one's output.

use actuator::infra::test::{Network, Server};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;

#[derive(InfraModel)]
struct Flat {
    #[component(MultiResource::new(Network::new("net")))]
    nets: MultiResource<Network>,
}

fn prev(k: &str) -> String {
    let (chain, i) = k.split_once('-').expect("chain-index key");
    format!("{chain}-{}", i.parse::<u32>().expect("index") - 1)
}

#[derive(InfraModel)]
struct Chains {
    #[component(MultiResource::new(if ctx.name.ends_with("-0") {
        Server::new("link", "img")
    } else {
        Server::new("link", "img").mem(ctx.model.links[prev(ctx.name)].id.text())
    }))]
    links: MultiResource<Server>,
}

/// `orch` with a model of `n` resources in the `chains` shape, or else the `flat` one.
pub fn with_model(orch: ActuatorOrchestration, chains: bool, n: usize) -> ActuatorOrchestration {
    if chains {
        let infra = Chains::instance("chains");
        for i in 0..n / 10 {
            for c in 0..10 {
                infra.index(infra.root().links, format!("{c}-{i}"));
            }
        }
        orch.infra(&infra)
    } else {
        let infra = Flat::instance("flat");
        for k in 0..n {
            infra.index(infra.root().nets, k);
        }
        orch.infra(&infra)
    }
}
