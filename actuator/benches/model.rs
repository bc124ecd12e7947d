//! Model-building benchmark (a plain binary: `cargo bench -p actuator --bench model`).
//!
//! Scenarios, each in a fresh process so peak memory (VmHWM) is its own:
//! * `resources N`: an infra of N resources — a `MultiResource` of servers grown key by key plus a
//!   `MultiResourceGroup` of 3-member groups whose members reference each other through
//!   `ctx.comp.container` — then every reference resolved into the dependency graph and ordered.
//! * `roles N`: a namespace of N keyed roles whose `host_ref`s grow the infra one server per role.

mod common;

use std::process::Command;
use std::time::Instant;

use actuator::dag::{Dag, NodeId};
use actuator::infra::test::{Database, Network, Queue, Server};
use actuator::prelude::*;

#[derive(ResourceGroup)]
struct Cell {
    #[component(Server::new("cell_server", "debian-12"))]
    server: Server,
    #[component(Database::new("cell_db", 5432).on(ctx.comp.container.server))]
    db: Database,
    #[component(Queue::new("cell_q").consumers([ctx.comp.container.server]))]
    queue: Queue,
}

#[derive(InfraModel)]
struct Big {
    #[component(Network::new("net"))]
    net: Network,
    #[component(MultiResource::new(Server::new("worker", "debian-12").nics([ctx.model.net])))]
    workers: MultiResource<Server>,
    #[component(MultiResourceGroup::named("cell"))]
    cells: MultiResourceGroup<Cell>,
}

namespace! {
    struct BigNs for Big {
        vars { NODE = "node-!{ID}" }
        grid: MultiRole = MultiRole::new(Role::new("node").host_ref(infra.workers[ctx.name]).var("ID", ctx.name)),
    }
}

/// The engine's topological order over the edges: proves the graph is complete and acyclic.
fn order(n_nodes: usize, edges: &[(u32, u32)]) -> usize {
    let mut dag = Dag::new(n_nodes);
    for &(a, b) in edges {
        dag.add_edge(NodeId(a), NodeId(b));
    }
    dag.check_acyclic()
        .expect("the model's edges are acyclic")
        .len()
}

fn resources(n: usize) {
    let t0 = Instant::now();
    let infra = Big::instance("big");
    let cells = n / 10 / 3;
    let workers = n - 1 - cells * 3;
    for k in 0..workers {
        infra.index(infra.root().workers, k);
    }
    for k in 0..cells {
        infra.index(infra.root().cells, k);
    }
    let built = t0.elapsed();
    let (leaves, edges, ordered) = infra.with_world(|w| {
        let tree = w.tree(infra.id());
        let edges: Vec<(u32, u32)> = w
            .edges()
            .into_iter()
            .map(|(a, b)| (a.node, b.node))
            .collect();
        let ordered = order(tree.nodes.len(), &edges);
        (tree.leaves().count(), edges.len(), ordered)
    });
    let total = t0.elapsed();
    println!(
        "resources: {leaves} built in {:.3} s; {edges} dependency edges resolved and ordered ({ordered} nodes) in {:.3} s total; peak {:.0} MB",
        built.as_secs_f64(),
        total.as_secs_f64(),
        common::peak_mb()
    );
}

fn roles(n: usize) {
    let t0 = Instant::now();
    let infra = Big::instance("big");
    let ns = BigNs::instance("ns", &infra);
    for k in 0..n {
        ns.index(ns.root().grid, k);
    }
    let built = t0.elapsed();
    let last = ns.index(ns.root().grid, n - 1);
    let v = ns.var_value(&last, "NODE").expect("resolves");
    println!(
        "roles: {n} keyed roles (growing {} servers) in {:.3} s ({:.2} µs/role); last NODE={v}; peak {:.0} MB",
        infra.keys(infra.root().workers).len(),
        built.as_secs_f64(),
        built.as_secs_f64() * 1e6 / n as f64,
        common::peak_mb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("resources"), Some(n)) => return resources(n.parse().expect("count")),
        (Some("roles"), Some(n)) => return roles(n.parse().expect("count")),
        _ => {}
    }
    // `cargo bench` passes `--bench`: run every scenario in its own process.
    let me = std::env::current_exe().expect("own path");
    for (what, n) in [
        ("resources", "20000"),
        ("resources", "100000"),
        ("roles", "1000"),
        ("roles", "10000"),
    ] {
        let st = Command::new(&me)
            .args([what, n])
            .status()
            .expect("run scenario");
        assert!(st.success(), "{what} {n} failed");
    }
}
