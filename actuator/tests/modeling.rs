//! Modeling and reference behaviours of the original (features §14, items 1–14), ported to the typed
//! Rust design: class paths (`M::class()`), instance paths, string keys, container climbing through
//! `ctx.comp.container`, references held by arguments, selection queries, the shared system (nexus)
//! and long names.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actuator::infra::test::{Database, FloatingIp, Network, Queue, Server};
use actuator::model::{At, ModelKind, MultiPath};
use actuator::prelude::*;

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

#[derive(InfraModel)]
struct Cluster {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("server", "img").nics([ctx.model.net]))]
    server: Server,
    #[component(MultiResource::new(Server::new("worker", "img").nics([ctx.model.net])))]
    workers: MultiResource<Server>,
    #[component(MultiResource::new(Server::new("dash", "img")).namesep("-"))]
    dashed: MultiResource<Server>,
    #[component(MultiResource::new(Server::new("glued", "img")).namesep(""))]
    glued: MultiResource<Server>,
}

/// A reusable group: `ctx.comp.container` is the group, `ctx.comp.container.container` (from inside
/// the keyed container `workers`) climbs out of the keyed container back to the group.
#[derive(ResourceGroup)]
struct Pair {
    #[component(Network::new("pnet"))]
    net: Network,
    #[component(
        Server::new("psrv", "img")
            .nics([ctx.comp.container.net])
            .meta("group_key", ctx.comp.container.key.to_string())
            .meta("idx", ctx.comp.idx.as_ref().map(|k| k.to_string()).unwrap_or_default())
    )]
    srv: Server,
    #[component(MultiResource::new(
        Server::new("pw", "img")
            .nics([ctx.comp.container.container.net])
            .meta("idx", ctx.comp.idx.as_ref().map(|k| k.to_string()).unwrap_or_default())
    ))]
    workers: MultiResource<Server>,
}

#[derive(InfraModel)]
struct Site {
    #[component(Network::new("net"))]
    net: Network,
    #[component(ResourceGroup::new("pair"))]
    pair: ResourceGroup<Pair>,
    #[component(MultiResourceGroup::named("pg"))]
    pairs: MultiResourceGroup<Pair>,
    // Climbs out of the keyed container to the model: container = `edges`, container.container = model.
    #[component(MultiResource::new(
        Server::new("edge", "img").nics([ctx.comp.container.container.net])
    ))]
    edges: MultiResource<Server>,
    // A group declared without an expression: named after its field.
    #[component]
    unnamed: MultiResourceGroup<Pair>,
}

#[derive(ResourceGroup)]
struct Worker {
    #[component(Network::new("wnet"))]
    net: Network,
    #[component(
        Server::new("query", "img")
            .nics([ctx.comp.container.net])
            .meta("group_key", ctx.comp.container.key.to_string())
    )]
    query: Server,
}

#[derive(ResourceGroup)]
struct Composite {
    #[component(Network::new("cnet"))]
    net: Network,
    #[component(MultiResourceGroup::named("worker"))]
    workers: MultiResourceGroup<Worker>,
}

#[derive(InfraModel)]
struct Nested {
    #[component(MultiResourceGroup::named("composite"))]
    composite: MultiResourceGroup<Composite>,
}

#[derive(InfraModel)]
struct Deps {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("db_host", "img"))]
    db_host: Server,
    #[component(MultiResource::new(Server::new("node", "img")))]
    cluster: MultiResource<Server>,
    #[component(
        Server::new("app", "img")
            .nics([ctx.model.net])
            .mem(ctx.model.db_host.id.text())
            .meta("peer", ctx.model.cluster[5].ip.text())
            .meta("plain", "literal")
    )]
    app: Server,
    #[component(Database::new("db", 5432).on(ctx.model.db_host))]
    db: Database,
    #[component(Database::new("nodb", 1))]
    nodb: Database,
    #[component(Queue::new("q").consumers([ctx.model.app, ctx.model.cluster[7]]))]
    queue: Queue,
    #[component(FloatingIp::new("fip", ctx.model.app, ctx.model.app.ip))]
    fip: FloatingIp,
}

#[derive(InfraModel)]
#[infra(long_names)]
struct Long {
    #[component(MultiResource::new(Server::new("slave", "img")))]
    slaves: MultiResource<Server>,
    #[component(Server::new("server", "img"))]
    server: Server,
    #[component(MultiResourceGroup::named("group"))]
    mg: MultiResourceGroup<Pair>,
}

namespace! {
    struct Grid for Cluster {
        vars { SERVER_IP = infra.server.ip }
        head: Role = Role::new("head").host_ref(infra.server),
        grid: MultiRole = MultiRole::new(Role::new("node").host_ref(infra.workers[ctx.name])),
    }
}

config! {
    struct GridCfg for Grid {
        ping: Task = PingTask::new("ping").role(ns.head),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn refs_of<M: Model>(inst: &Instance<M>, p: &impl Located) -> Vec<At> {
    let at = p.at();
    inst.with_world(|w| {
        let mut v = Vec::new();
        w.element(at)
            .expect("a built element")
            .visit_refs(&mut |a| v.push(a));
        v
    })
}

fn keys<T, M: Model>(inst: &Instance<M>, p: MultiPath<T>) -> Vec<String> {
    inst.keys(p).iter().map(|k| k.to_string()).collect()
}

fn panic_text(r: Result<impl Sized, Box<dyn std::any::Any + Send>>) -> String {
    match r {
        Ok(_) => panic!("expected a panic"),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

// behaviour 1: a class-level path to a component is a typed path of its own type (`Class<P>`, never
// taken for an instance's); building it twice gives equal paths (the original's interning). Non-component class data has no Rust counterpart: every field
// of a model is a component (a field without `#[component]` is a compile error).
#[test]
fn b01_class_paths_are_equal_when_built_twice() {
    let a = Cluster::class().map(|c| c.server);
    let b = Cluster::class().map(|c| c.server);
    assert_eq!(a, b);
    assert_eq!(
        Cluster::class().map(|c| c.workers),
        Cluster::class().map(|c| c.workers)
    );
    assert_eq!(a.at().model, Cluster::class_id());
    assert_ne!(a.at(), Cluster::class().map(|c| c.net).at());
    // The class skeleton knows where the path leads.
    let t = Cluster::class_tree();
    assert_eq!(t.kind, ModelKind::Class);
    assert_eq!(t.path(a.at().node), ["server"]);
    assert_eq!(
        t.path(Cluster::class().map(|c| c.workers).at().node),
        ["workers"]
    );
    // Outputs of a class path are located at their component.
    assert_eq!(Cluster::class().map(|c| c.server.ip).at(), a.at());
    assert_eq!(Cluster::class().map(|c| c.server.ip).attr(), "ip");
}

// behaviour 2: paths into instances differ between instances and between keys; the same key gives
// the same path.
#[test]
fn b02_instance_paths_are_distinct_per_instance_and_key() {
    let a = Cluster::instance("a");
    let b = Cluster::instance("b");
    assert_ne!(a.root().server, b.root().server);
    assert_ne!(
        a.root().server.at(),
        Cluster::class().map(|c| c.server).at()
    );
    assert_eq!(a.root().server, a.root().server);
    let a1 = a.index(a.root().workers, 1);
    assert_eq!(a1, a.index(a.root().workers, 1));
    assert_ne!(a1, a.index(a.root().workers, 2));
    let b1 = b.index(b.root().workers, 1);
    assert_ne!(a1, b1);
    // … while their model paths are the same.
    assert_eq!(a.path(&a1), b.path(&b1));
    assert_eq!(a.path(&a1), ["workers", "1"]);
}

// behaviour 3: the path of a nested keyed reference holds the stringified keys.
#[test]
fn b03_nested_paths_hold_stringified_keys() {
    let inst = Nested::instance("n");
    let c3 = inst.index(inst.root().composite, 3);
    let w2 = inst.index(c3.workers, 2);
    assert_eq!(
        inst.path(&w2.query),
        ["composite", "3", "workers", "2", "query"]
    );
    // `….query.mem` in the original is an attribute of the component: here an output path.
    assert_eq!(w2.query.ip.attr(), "ip");
    assert_eq!(w2.query.ip.at(), w2.query.at());
    assert_eq!(inst.path(&c3), ["composite", "3"]);
    assert_eq!(inst.name(&c3), "composite_3");
    assert_eq!(inst.name(&w2), "worker_2");
    assert_eq!(inst.name(&w2.query), "query");
}

// behaviour 4: class-level paths never create instances (indexing one is a compile error:
// `ui-tests/tests/ui/class_level_keyed_container_indexed.rs`); converting one into an instance
// path and indexing it does.
#[test]
fn b04_class_paths_never_create_instances() {
    let inst = Cluster::instance("c");
    let class_workers = Cluster::class().map(|c| c.workers);
    let _ = Cluster::class().map(|c| c.server); // building class paths touches no instance
    assert!(inst.keys(inst.root().workers).is_empty());

    // Converted, the same path creates the instance.
    let workers = inst.instance_ref(class_workers);
    assert_eq!(workers, inst.root().workers);
    let w5 = inst.index(workers, 5);
    assert_eq!(keys(&inst, inst.root().workers), ["5"]);
    assert_eq!(inst.path(&w5), ["workers", "5"]);
    assert_eq!(
        inst.instance_ref(Cluster::class().map(|c| c.server)),
        inst.root().server
    );
    assert_eq!(inst.name(&w5), "worker_5");
}

// behaviour 5: keys are strings: `1` and `"1"` name the same instance.
#[test]
fn b05_keys_are_strings() {
    let inst = Cluster::instance("c");
    let w = inst.root().workers;
    for k in 0..3 {
        inst.index(w, k);
    }
    assert_eq!(inst.index(w, 1), inst.index(w, "1"));
    assert_eq!(inst.index(w, 2u64), inst.index(w, String::from("2")));
    let set: BTreeSet<String> = keys(&inst, w).into_iter().collect();
    assert_eq!(set, BTreeSet::from(["0".into(), "1".into(), "2".into()]));
    assert_eq!(1.into_key(), "1".into_key());
}

// behaviour 6: instances are named `<template>_<key>` (`namesep` changes the separator) and only
// distinct keys count. A keyed group declared without a name is named after its field.
#[test]
fn b06_instance_names_and_counts() {
    let inst = Cluster::instance("c");
    let r = inst.root();
    let w3 = inst.index(r.workers, 3);
    inst.index(r.workers, "3");
    inst.index(r.workers, 4);
    inst.index(r.workers, 3u8);
    assert_eq!(inst.keys(r.workers).len(), 2);
    assert_eq!(inst.name(&w3), "worker_3");
    let d = inst.index(r.dashed, 7);
    assert_eq!(inst.name(&d), "dash-7");
    let g = inst.index(r.glued, 7);
    assert_eq!(inst.name(&g), "glued7");
    // Group instances: named group → `<name>_<key>`; unnamed → `<field>_<key>`; members keep theirs.
    let site = Site::instance("s");
    let ny = site.index(site.root().pairs, "NY");
    assert_eq!(site.name(&ny), "pg_NY");
    assert_eq!(site.name(&ny.srv), "psrv");
    let un = site.index(site.root().unnamed, "LA");
    assert_eq!(site.name(&un), "unnamed_LA");
    assert_eq!(site.name(&site.root().pair), "pair");
}

// behaviour 7: the leaf count covers groups and every keyed instance.
#[test]
fn b07_leaf_count_covers_groups_and_instances() {
    let site = Site::instance("s");
    // net + pair.{net, srv}; keyed containers start empty.
    assert_eq!(site.leaf_count(), 3);
    for k in ["NY", "LA", "SF"] {
        site.index(site.root().pairs, k);
    }
    assert_eq!(site.leaf_count(), 3 + 3 * 2);
    let ny = site.index(site.root().pairs, "NY");
    site.index(ny.workers, 1);
    site.index(ny.workers, 2);
    site.index(site.root().edges, "e");
    assert_eq!(site.leaf_count(), 3 + 3 * 2 + 2 + 1);
    let kinds: BTreeSet<&str> = site.with(|t| t.leaves().map(|(_, e)| e.kind()).collect());
    assert_eq!(kinds, BTreeSet::from(["test.Network", "test.Server"]));
}

// behaviour 8: a model expression with a keyed step (`ctx.model.cluster[5]`, the original's KeyItem)
// records that step: it leads to (and creates) the keyed instance, whose path holds the key.
#[test]
fn b08_keyed_steps_in_expressions() {
    let inst = Deps::instance("d");
    let r = inst.root();
    assert_eq!(keys(&inst, r.cluster), ["5", "7"]);
    let app = inst.get::<Server>(&r.app).unwrap();
    let Some(Val::Out(peer)) = app.meta.get("peer") else {
        panic!("peer is an output: {:?}", app.meta)
    };
    assert_eq!(peer.attr(), "ip");
    assert_eq!(inst.path(peer), ["cluster", "5"]);
    assert_eq!(peer.at(), inst.index(r.cluster, 5).at());
}

// behaviour 9: `ctx.comp.container` reaches siblings inside a group and inside every keyed group
// instance, and climbs out of a keyed container (to the group or to the model).
//
// Not expressible: climbing from a member of a reusable `#[derive(ResourceGroup)]` *past* its
// group (the original's `ctxt.comp.container.container.reqhandler` out of nested groups): a
// reusable group does not know where it is placed, so there its container's container is `()`.
#[test]
fn b09_container_climbing() {
    let site = Site::instance("s");
    let r = site.root();
    // Fixed group: the sibling is the group's own net, not the model's.
    let srv = site.get::<Server>(&r.pair.srv).unwrap();
    assert_eq!(
        srv.nics.iter().map(|n| n.at()).collect::<Vec<_>>(),
        [r.pair.net.at()]
    );
    assert_eq!(srv.meta["group_key"], Val::Lit("pair".into()));
    assert_eq!(srv.meta["idx"], Val::Lit(String::new()));

    // Keyed groups: each instance's server points at its own instance's network.
    let ny = site.index(r.pairs, "NY");
    let la = site.index(r.pairs, "LA");
    for g in [ny, la] {
        let s = site.get::<Server>(&g.srv).unwrap();
        assert_eq!(s.nics.len(), 1);
        assert_eq!(s.nics[0].at(), g.net.at());
    }
    assert_ne!(ny.net.at(), la.net.at());
    let s = site.get::<Server>(&ny.srv).unwrap();
    assert_eq!(s.meta["group_key"], Val::Lit("NY".into()));
    assert_eq!(s.meta["idx"], Val::Lit("NY".into()));

    // Out of a keyed container inside a keyed group: to that group's network.
    let w = site.index(ny.workers, 1);
    let ws = site.get::<Server>(&w).unwrap();
    assert_eq!(ws.nics[0].at(), ny.net.at());
    assert_eq!(ws.meta["idx"], Val::Lit("1".into()));
    assert_eq!(site.path(&w), ["pairs", "NY", "workers", "1"]);

    // Out of a keyed container at model level: to the model's network.
    let e = site.index(r.edges, "x");
    assert_eq!(site.get::<Server>(&e).unwrap().nics[0].at(), r.net.at());

    // Nested keyed groups: the innermost sibling and key.
    let n = Nested::instance("n");
    let c1 = n.index(n.root().composite, 1);
    let c2 = n.index(n.root().composite, 2);
    let q12 = n.index(c1.workers, 2);
    let q22 = n.index(c2.workers, 2);
    let a = n.get::<Server>(&q12.query).unwrap();
    let b = n.get::<Server>(&q22.query).unwrap();
    assert_eq!(a.nics[0].at(), q12.net.at());
    assert_eq!(b.nics[0].at(), q22.net.at());
    assert_ne!(a.nics[0].at(), b.nics[0].at());
    assert_eq!(a.meta["group_key"], Val::Lit("2".into()));
}

// behaviour 10: every reference an argument holds (in a Vec, an Option, a map, a `Val`) is a
// dependency edge, and it points at the containing component (`cluster[5].ip` → `cluster[5]`),
// also across models (a role's host and the infra outputs its variables read).
#[test]
fn b10_references_held_by_arguments_are_edges() {
    let inst = Deps::instance("d");
    let r = inst.root();
    let c5 = inst.index(r.cluster, 5);
    let c7 = inst.index(r.cluster, 7);
    let set = |v: Vec<At>| v.into_iter().collect::<BTreeSet<_>>();
    // nics (Vec<Ref>), mem (Option<Val::Out>), meta (BTreeMap<_, Val::Out>); literals add nothing.
    assert_eq!(
        set(refs_of(&inst, &r.app)),
        set(vec![r.net.at(), r.db_host.at(), c5.at()])
    );
    assert_eq!(refs_of(&inst, &r.db), [r.db_host.at()]); // Option<Ref>
    assert!(refs_of(&inst, &r.nodb).is_empty()); // None
    assert_eq!(refs_of(&inst, &r.queue), [r.app.at(), c7.at()]); // Vec<Ref>
    assert_eq!(refs_of(&inst, &r.fip), [r.app.at(), r.app.at()]); // Ref + Val::Out
    assert!(refs_of(&inst, &r.net).is_empty());

    // Across models: a role's host and a variable reading an infra output.
    let infra = Cluster::instance("c");
    let ns = Grid::instance("g", &infra);
    let n1 = ns.index(ns.root().grid, 1);
    let w1 = infra.index(infra.root().workers, 1);
    assert_eq!(refs_of(&ns, &ns.root().head), [infra.root().server.at()]);
    assert_eq!(refs_of(&ns, &n1), [w1.at()]);
    let req = set(ns.required_resources());
    assert_eq!(req, set(vec![infra.root().server.at(), w1.at()]));
}

// behaviour 11: selection queries: `all`, `key`, `keyin`, `matches` (a regex search), `no_match`,
// `pred`; several tests on one selection are ANDed; `Query::union` merges without duplicates. A query
// on an unknown field is a compile error (`no field`), so it has no runtime test.
#[test]
fn b11_selection_queries() {
    let infra = Cluster::instance("c");
    let ns = Grid::instance("g", &infra);
    let grid = ns.root().grid;
    for k in ["NY", "SNY", "LA", "1", "2"] {
        ns.index(grid, k);
    }
    let w = ns.world();
    let names = |q: Query<Role>| -> Vec<String> {
        q.select(w)
            .iter()
            .map(|a| ns.with(|t| t.path(a.node)[1].clone()))
            .collect()
    };
    assert_eq!(names(grid.all()), ["NY", "SNY", "LA", "1", "2"]);
    assert_eq!(names(grid.key("LA")), ["LA"]);
    // `key(1)` and `keyin([1])` agree (the original's `key(1)` never matched).
    assert_eq!(names(grid.key(1)), ["1"]);
    assert_eq!(names(grid.keyin([1])), ["1"]);
    assert_eq!(names(grid.keyin([2, 1])), ["1", "2"]);
    // A search, not a whole-key match; anchor for that.
    assert_eq!(names(grid.matches("NY")), ["NY", "SNY"]);
    assert_eq!(names(grid.matches("^NY$")), ["NY"]);
    assert_eq!(names(grid.no_match("NY")), ["LA", "1", "2"]);
    assert_eq!(names(grid.pred(|k| k.len() == 3)), ["SNY"]);
    // Chaining is AND.
    assert_eq!(names(grid.matches("NY").no_match("^S")), ["NY"]);
    assert_eq!(
        names(grid.keyin(["NY", "LA", "1"]).matches("[A-Z]").key("LA")),
        ["LA"]
    );
    assert!(names(grid.key("NY").key("LA")).is_empty());
    // Union, without duplicates, in creation order.
    assert_eq!(
        names(Query::union([
            grid.key("2"),
            grid.matches("NY"),
            grid.key("NY")
        ])),
        ["NY", "SNY", "2"]
    );
    // Nothing selected from an empty container; queries see instances added later.
    let workers = infra.root().workers;
    let q = workers.matches("^[0-9]+$");
    assert_eq!(q.select(infra.world()).len(), 2); // "1" and "2" created through the namespace
    infra.index(workers, 3);
    assert_eq!(q.select(infra.world()).len(), 3);
}

// behaviour 12: the models of one system share it (the nexus): namespace and config are created in
// the infra's system and can all be found there; separate systems are separate.
#[test]
fn b12_models_share_one_system() {
    let infra = Cluster::instance("c");
    let ns = Grid::instance("g", &infra);
    let cfg = GridCfg::instance("cfg", &ns);
    assert!(Arc::ptr_eq(infra.world(), ns.world()));
    assert!(Arc::ptr_eq(ns.world(), cfg.world()));
    cfg.with_world(|w| {
        assert_eq!(w.infra().unwrap().id, infra.id());
        assert_eq!(w.namespace().unwrap().id, ns.id());
        assert_eq!(w.config().unwrap().id, cfg.id());
        assert_eq!(w.trees().len(), 3);
    });
    // The namespace's host reference leads into this very infra instance.
    assert_eq!(refs_of(&ns, &ns.root().head), [infra.root().server.at()]);

    let other = Cluster::instance("other");
    assert!(!Arc::ptr_eq(other.world(), infra.world()));
    other.with_world(|w| {
        assert_eq!(w.infra().unwrap().id, other.id());
        assert!(w.namespace().is_none());
        assert!(w.config().is_none());
    });
    // One namespace per system.
    let msg = panic_text(catch_unwind(AssertUnwindSafe(|| {
        Grid::instance("g2", &infra)
    })));
    assert!(msg.contains("already has a Namespace model"), "{msg}");
}

// behaviour 13: long names `"<instance>.<path…>.<name>"` with consecutive duplicates collapsed; the
// display name is the long name only for models declared `#[infra(long_names)]`.
#[test]
fn b13_long_names() {
    let inst = Long::instance("153");
    let s3 = inst.index(inst.root().slaves, 3);
    assert_eq!(inst.name(&s3), "153.slaves.3.slave_3");
    assert_eq!(inst.name(&inst.root().server), "153.server"); // "server.server" collapsed
    let g0 = inst.index(inst.root().mg, 0);
    assert_eq!(inst.name(&g0.srv), "153.mg.0.srv.psrv");
    inst.with(|t| {
        assert!(t.long_names);
        assert_eq!(t.node(s3.at().node).name, "slave_3");
        assert_eq!(t.long_name(g0.at().node), "153.mg.0.group_0");
    });

    let short = Cluster::instance("154");
    let w = short.index(short.root().workers, 3);
    assert_eq!(short.name(&w), "worker_3");
    short.with(|t| {
        assert!(!t.long_names);
        assert_eq!(t.long_name(w.at().node), "154.workers.3.worker_3");
        assert_eq!(t.display_name(w.at().node), "worker_3");
    });
}

// behaviour 14 (provisioner proxy selection by `cloud=`) belongs to the orchestrator work and is
// not part of the declaration layer: not ported here.
