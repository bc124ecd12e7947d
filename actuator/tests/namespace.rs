//! Namespace and variable behaviours of the original (features §14, items 15–28), ported to the Rust
//! design: unresolved variables are errors naming the variable and the reader, `expand_partial` and
//! the report keep `!{X}`, numbers are accepted as values, `!!{` is a literal `!{`, overrides are
//! non-destructive, and templates are expanded from the reading role's perspective.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use actuator::infra::test::{Network, Server};
use actuator::model::{At, Env, Located};
use actuator::namespace::{
    HostRef, VarError, VarRef, VarValue, expand_for, expand_partial, find_var, var_value,
};
use actuator::prelude::*;

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

namespace! {
    struct Plain {
        vars {
            REGION = "NY",
            HOST = "wibble",
            WHERE = "host !{HOST} in region !{REGION}, twice: !{REGION}",
            L = "global",
            G = "!{L}",
            URL = "http://!{HOST_IP}:!{PORT}/",
            PORT = 8080,
            LIT = "!!{NOT_A_VAR} stays",
            VIA_LIT = "<!{LIT}>",
        }
        extern { HOST_IP }
        r: Role = Role::new("r").host_ref("10.0.0.1").var("L", "local").var("MEM", 16u32),
        other: Role = Role::new("other").host_ref("10.0.0.2"),
        cyc: Role = Role::new("cyc")
            .var("ONE", "!{TWO}")
            .var("TWO", "!{THREE}")
            .var("THREE", "!{ONE}"),
        holey: Role = Role::new("holey").var("HOLE", None::<&str>),
    }
}

namespace! {
    group Pod {
        vars { POD_VAR = "pod" }
        a: Role = Role::new("a").host_ref("10.1.0.1"),
        b: Role = Role::new("b").host_ref("10.1.0.2").var("POD_VAR", "mine"),
    }
}

namespace! {
    struct Scoped {
        vars { NODE_NAME = "!{BASE_NAME}-!{NODE_ID}", SHARED = "ns", X = "base" }
        grid: MultiRole = MultiRole::new(Role::new("worker").var("NODE_ID", ctx.name))
            .var("BASE_NAME", "Grid")
            .var("SHARED", "grid"),
        pod: RoleGroup<Pod> = RoleGroup::new("pod").var("GROUP_ONLY", "g"),
        plain: Role = Role::new("plain"),
        own: Role = Role::new("own").var("X", "mine"),
    }
}

namespace! {
    struct ModelLevel {
        vars { NODE_ID = ctx.name, BASE_NAME = "Grid", NODE_NAME = "!{BASE_NAME}-!{NODE_ID}" }
        grid: MultiRole = MultiRole::new(Role::new("worker")),
    }
}

namespace! {
    struct RefNs {
        vars { ONE = "1", TWO = ctx.model.v.ONE, FROM_R1 = ctx.model.r1.v("ONE") }
        r1: Role = Role::new("r1").var("ONE", "r1-one"),
        r2: Role = Role::new("r2").var("COPY", ctx.model.r1.v("ONE")).var("ROOT_ONE", ctx.nexus.ns.v.ONE),
    }
}

#[derive(InfraModel)]
#[infra(namespace = SizedNs)]
struct Sizes {
    #[component(Network::new("net"))]
    net: Network,
    #[component(SizedServer::new("s", ctx.nexus.ns.r.v("MEMSIZE")))]
    s: SizedServer,
    #[component(SizedServer::new("t", ctx.nexus.ns.v.DEFAULT_MEM))]
    t: SizedServer,
}

/// A resource with an argument read from a namespace variable.
#[derive(Resource, Clone, Debug)]
#[resource(kind = "test.SizedServer", outputs(ip: String), addressable)]
struct SizedServer {
    name: String,
    mem: VarRef,
}

impl SizedServer {
    fn new(name: &str, mem: VarRef) -> Self {
        SizedServer {
            name: name.into(),
            mem,
        }
    }
}

namespace! {
    struct SizedNs for Sizes {
        vars { DEFAULT_MEM = "4GB", S_IP = infra.s.ip, S_URL = "http://!{S_IP}/" }
        r: Role = Role::new("r").host_ref(infra.s).var("MEMSIZE", "8GB"),
    }
}

#[derive(InfraModel)]
struct Fleet {
    #[component(Network::new("net"))]
    net: Network,
    #[component(MultiResource::new(Server::new("node", "img").nics([ctx.model.net])))]
    nodes: MultiResource<Server>,
    #[component(MultiResourceGroup::named("site"))]
    sites: MultiResourceGroup<SiteInfra>,
}

#[derive(ResourceGroup)]
struct SiteInfra {
    #[component(Server::new("foreman", "img"))]
    foreman: Server,
    #[component(Server::new("worker", "img"))]
    worker: Server,
}

namespace! {
    group SiteRoles for Fleet {
        foreman: Role = Role::new("foreman").host_ref(infra.sites[ctx.comp.container.key].foreman),
        worker: Role = Role::new("worker").host_ref(infra.sites[ctx.comp.container.key].worker),
    }
}

namespace! {
    struct FleetNs for Fleet {
        vars { SECRET = "s3", hidden INTERNAL = "i", PUBLIC = "p" }
        nodes: MultiRole = MultiRole::new(
            Role::new("node")
                .host_ref(if ctx.name == "boom" { panic!("no host for `boom`") } else { infra.nodes[ctx.name] })
                .hidden_var("ROLE_HIDDEN", "h")
                .var("NODE_ID", ctx.name)),
        sites: MultiRoleGroup<SiteRoles> = MultiRoleGroup::named("site"),
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn role_at(ns: &Instance<impl NamespaceModel>, path: &[&str]) -> At {
    let id = ns.id();
    let node = ns.with(|t| t.find(path)).expect("a node at that path");
    At { model: id, node }
}

fn host_of(ns: &Instance<impl NamespaceModel>, role: &impl Located) -> Option<HostRef> {
    ns.get::<Role>(role).ok().and_then(|r| r.host)
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

// behaviour 15: `!{REGION}-!{HOST}` expands to `NY-wibble`; the text around references is kept.
#[test]
fn b15_expansion() {
    let ns = Plain::instance("p");
    let root = ns.root();
    assert_eq!(ns.expand(&root, "!{REGION}-!{HOST}").unwrap(), "NY-wibble");
    assert_eq!(
        ns.expand(&root, "pre !{REGION} mid !{HOST} post").unwrap(),
        "pre NY mid wibble post"
    );
    assert_eq!(
        ns.var_value(&root, "WHERE").unwrap(),
        "host wibble in region NY, twice: NY"
    );
    // Not a reference: passed through unchanged.
    assert_eq!(
        ns.expand(&root, "!{A-B} !{1X} !{ A }").unwrap(),
        "!{A-B} !{1X} !{ A }"
    );
    // Numbers are accepted as values (the original rejected `Var("PORT", 8080)`).
    assert_eq!(ns.var_value(&root, "PORT").unwrap(), "8080");
    assert_eq!(ns.var_value(&root.r, "MEM").unwrap(), "16");
    // `!!{` is a literal `!{`, also when reached through another variable.
    assert_eq!(ns.var_value(&root, "LIT").unwrap(), "!{NOT_A_VAR} stays");
    assert_eq!(
        ns.var_value(&root, "VIA_LIT").unwrap(),
        "<!{NOT_A_VAR} stays>"
    );
    assert_eq!(
        ns.expand(&root, "!!{REGION} is !{REGION}").unwrap(),
        "!{REGION} is NY"
    );
}

// behaviour 16: a cycle ONE → TWO → THREE → ONE is an error naming the cycle; a variable used twice
// is not a cycle. (A cycle among literal `vars { }` entries is already a compile error.)
#[test]
fn b16_cycles() {
    let ns = Plain::instance("p");
    let cyc = ns.root().cyc;
    let err = ns.var_value(&cyc, "ONE").unwrap_err();
    assert_eq!(
        err,
        VarError::Cycle {
            reader: "Plain.cyc".into(),
            chain: vec!["ONE".into(), "TWO".into(), "THREE".into(), "ONE".into()],
        }
    );
    assert!(
        err.to_string().contains("ONE -> TWO -> THREE -> ONE"),
        "{err}"
    );
    assert_eq!(
        ns.expand(&ns.root(), "!{REGION}!{REGION}-!{REGION}")
            .unwrap(),
        "NYNY-NY"
    );
    // A cycle is reported in a partial expansion, not an endless loop.
    let p = expand_partial(ns.world(), cyc.at(), "x !{ONE}");
    assert!(p.cycle.is_some());
}

// behaviour 17: an unresolvable reference is an error naming the variable and the reader (the
// original returned None); `expand_partial` and the report keep `!{X}` and list what is missing.
#[test]
fn b17_unresolved_is_an_error_partial_keeps_it() {
    let ns = Plain::instance("p");
    let root = ns.root();
    let err = ns.var_value(&root.r, "URL").unwrap_err();
    assert_eq!(
        err,
        VarError::Unresolved {
            name: "HOST_IP".into(),
            reader: "Plain.r".into(),
            chain: vec!["URL".into()],
        }
    );
    let text = err.to_string();
    assert!(
        text.contains("HOST_IP") && text.contains("Plain.r"),
        "{text}"
    );
    // An unknown name, and an explicit hole (`None`), are errors too.
    let err = ns.var_value(&root, "NOPE").unwrap_err();
    assert!(
        matches!(&err, VarError::Unresolved { name, .. } if name == "NOPE"),
        "{err}"
    );
    let err = ns.var_value(&root.holey, "HOLE").unwrap_err();
    assert!(
        matches!(&err, VarError::Unresolved { name, reader, .. } if name == "HOLE" && reader == "Plain.holey")
    );

    let p = expand_partial(ns.world(), root.r.at(), "!{URL}");
    assert_eq!(p.text, "http://!{HOST_IP}:8080/");
    assert_eq!(p.missing, ["HOST_IP"]);

    let report = ns.report();
    let r = report.iter().find(|r| r.role == "Plain.r").unwrap();
    assert_eq!(r.host.as_deref(), Some("10.0.0.1"));
    let url = r.vars.iter().find(|v| v.name == "URL").unwrap();
    assert!(!url.resolved);
    assert_eq!(url.value, "http://!{HOST_IP}:8080/");
    assert_eq!(url.missing, ["HOST_IP"]);
    assert_eq!(url.from, "Plain");
    assert_eq!(r.unresolved().count(), 1);
    let l = r.vars.iter().find(|v| v.name == "L").unwrap();
    assert!(l.resolved);
    assert_eq!((l.value.as_str(), l.from.as_str()), ("local", "Plain.r"));
    assert!(r.to_string().contains("UNRESOLVED"));

    // Supplying the missing value at run time resolves it.
    ns.add_var(&root, Var::new("HOST_IP", "192.168.1.1"));
    assert_eq!(
        ns.var_value(&root.r, "URL").unwrap(),
        "http://192.168.1.1:8080/"
    );
}

// behaviour 18: an override breaks a cycle; `add_var` replaces an existing variable; overrides are
// non-destructive and follow the lookup order: overrides then variables at each level, then the
// parent (so a role's own variable beats a namespace-level override).
#[test]
fn b18_overrides_and_replacement() {
    let ns = Plain::instance("p");
    let root = ns.root();
    // Breaking the cycle with an override on the role.
    ns.add_override(&root.cyc, Var::new("THREE", "3"));
    assert_eq!(ns.var_value(&root.cyc, "ONE").unwrap(), "3");

    // A namespace-level override masks the namespace's variable, for the namespace and for roles
    // without their own …
    ns.add_override(&root, Var::new("L", "overridden"));
    assert_eq!(ns.var_value(&root, "L").unwrap(), "overridden");
    assert_eq!(ns.var_value(&root.other, "L").unwrap(), "overridden");
    // … but a role's own variable still wins.
    assert_eq!(ns.var_value(&root.r, "L").unwrap(), "local");
    // An override on the role beats the role's variable.
    ns.add_override(&root.r, Var::new("L", "role-override"));
    assert_eq!(ns.var_value(&root.r, "L").unwrap(), "role-override");
    // Non-destructive: the variable is still there under the override.
    ns.with(|t| {
        let set = &t.vars[&0];
        assert!(matches!(&set.vars["L"].value, VarValue::Str(s) if s == "global"));
        assert!(matches!(&set.overrides["L"].value, VarValue::Str(s) if s == "overridden"));
    });
    // `add_var` replaces: the namespace's variable …
    ns.add_var(&root, Var::new("REGION", "LA"));
    assert_eq!(ns.expand(&root, "!{REGION}-!{HOST}").unwrap(), "LA-wibble");
    // … and a role's variable.
    ns.add_var(&root.r, Var::new("MEM", "32"));
    assert_eq!(ns.var_value(&root.r, "MEM").unwrap(), "32");
    // Where a variable comes from.
    let (v, owner) = find_var(ns.world(), root.other.at(), "HOST").unwrap();
    assert_eq!(v.name, "HOST");
    assert_eq!(owner, At::root(ns.id()));
}

// behaviour 19: a non-`Var` passed to `add_var` / `add_override` is rejected by the compiler (they
// take a `Var`), so only what the types allow is tested: any `Into<VarValue>` makes a variable.
#[test]
fn b19_var_values() {
    assert!(matches!(Var::new("N", 8080).value, VarValue::Str(ref s) if s == "8080"));
    assert!(matches!(Var::new("B", true).value, VarValue::Str(ref s) if s == "true"));
    assert!(matches!(Var::new("S", String::from("x")).value, VarValue::Str(ref s) if s == "x"));
    assert!(matches!(Var::new("O", None::<&str>).value, VarValue::None));
    assert!(matches!(Var::new("O", Some("y")).value, VarValue::Str(ref s) if s == "y"));
    assert!(Var::new("E", "e").in_env);
    assert!(!Var::new("E", "e").in_env(false).in_env);
}

// behaviour 20: a role's variable shadows the namespace's; group and keyed-container variables are
// visible to their members; a member's own variable wins.
#[test]
fn b20_shadowing_and_container_vars() {
    let ns = Scoped::instance("s");
    let r = ns.root();
    assert_eq!(ns.var_value(&r.own, "X").unwrap(), "mine");
    assert_eq!(ns.var_value(&r.plain, "X").unwrap(), "base");
    // Keyed container variables.
    let g1 = ns.index(r.grid, 1);
    assert_eq!(ns.var_value(&g1, "BASE_NAME").unwrap(), "Grid");
    assert_eq!(ns.var_value(&g1, "SHARED").unwrap(), "grid");
    assert_eq!(ns.var_value(&r.plain, "SHARED").unwrap(), "ns");
    assert!(ns.var_value(&r.plain, "BASE_NAME").is_err());
    // Group variables.
    assert_eq!(ns.var_value(&r.pod.a, "GROUP_ONLY").unwrap(), "g");
    assert_eq!(ns.var_value(&r.pod.a, "POD_VAR").unwrap(), "pod");
    assert_eq!(ns.var_value(&r.pod.b, "POD_VAR").unwrap(), "mine");
    assert_eq!(ns.var_value(&r.pod.a, "X").unwrap(), "base");
    assert!(ns.var_value(&r.plain, "GROUP_ONLY").is_err());
    // Dynamic scoping: the namespace's `G = "!{L}"` is expanded from the reader's perspective.
    let p = Plain::instance("p");
    assert_eq!(p.var_value(&p.root(), "G").unwrap(), "global");
    assert_eq!(p.var_value(&p.root().r, "G").unwrap(), "local");
    assert_eq!(p.var_value(&p.root().other, "G").unwrap(), "global");
}

// behaviour 21: `NODE_NAME = "!{BASE_NAME}-!{NODE_ID}"` at namespace level, `BASE_NAME` on the keyed
// container and `NODE_ID = ctx.name` on the role gives `Grid-5` for `grid[5]`; the same when
// `NODE_ID = ctx.name` is declared at namespace level (each role reads its own key).
#[test]
fn b21_dynamic_scoping_per_role() {
    let ns = Scoped::instance("s");
    let g5 = ns.index(ns.root().grid, 5);
    let g7 = ns.index(ns.root().grid, "7");
    assert_eq!(ns.var_value(&g5, "NODE_NAME").unwrap(), "Grid-5");
    assert_eq!(ns.var_value(&g7, "NODE_NAME").unwrap(), "Grid-7");

    let ml = ModelLevel::instance("m");
    let a = ml.index(ml.root().grid, 5);
    let b = ml.index(ml.root().grid, "x");
    assert_eq!(ml.var_value(&a, "NODE_ID").unwrap(), "5");
    assert_eq!(ml.var_value(&a, "NODE_NAME").unwrap(), "Grid-5");
    assert_eq!(ml.var_value(&b, "NODE_NAME").unwrap(), "Grid-x");
    // The variable is defined once, at namespace level.
    let (_, owner) = find_var(ml.world(), a.at(), "NODE_ID").unwrap();
    assert_eq!(owner, At::root(ml.id()));
}

// behaviour 22: keyed roles are created on demand, the same for the same key, distinct across
// namespace instances. (The original's "cloning a MultiRole keeps its instances" has no
// counterpart: model instances are not cloned, a second instance is built from the declaration.)
#[test]
fn b22_keyed_roles_on_demand() {
    let a = Scoped::instance("a");
    let b = Scoped::instance("b");
    assert!(a.keys(a.root().grid).is_empty());
    let a1 = a.index(a.root().grid, 1);
    assert_eq!(a1, a.index(a.root().grid, "1"));
    assert_ne!(a1, a.index(a.root().grid, 2));
    let b1 = b.index(b.root().grid, 1);
    assert_ne!(a1, b1);
    assert_eq!(a.keys(a.root().grid).len(), 2);
    assert_eq!(b.keys(b.root().grid).len(), 1);
    assert_eq!(a.name(&a1), "worker_1");
    assert_eq!(a.roles().len(), 2 + 2 + 2); // pod.a, pod.b, plain, own, grid_1, grid_2
}

// behaviour 23: variables through typed references: the namespace's (`ns.v.ONE`), a role's
// (`ctx.model.r1.v("ONE")`) and through the nexus (`ctx.nexus.ns.v.ONE`), also as variable values.
#[test]
fn b23_variable_references() {
    let ns = RefNs::instance("r");
    let r = ns.root();
    let one: VarRef = r.v.ONE;
    assert_eq!(one.name(), "ONE");
    assert_eq!(one.at(), At::root(ns.id()));
    assert_eq!(var_value(ns.world(), one.at(), one.name()).unwrap(), "1");
    let r1_one = r.r1.v("ONE");
    assert_eq!(
        var_value(ns.world(), r1_one.at(), r1_one.name()).unwrap(),
        "r1-one"
    );
    // As values: read from the container the reference names, whoever reads them.
    assert_eq!(ns.var_value(&r, "TWO").unwrap(), "1");
    assert_eq!(ns.var_value(&r, "FROM_R1").unwrap(), "r1-one");
    assert_eq!(ns.var_value(&r.r2, "COPY").unwrap(), "r1-one");
    assert_eq!(ns.var_value(&r.r2, "ROOT_ONE").unwrap(), "1");
    assert_eq!(ns.var_value(&r.r1, "TWO").unwrap(), "1");
}

// behaviour 24: an infra resource's argument can read a namespace variable
// (`ctx.nexus.ns.r.v("MEMSIZE")`), resolved once the namespace exists.
#[test]
fn b24_infra_reads_namespace_vars() {
    let infra = Sizes::instance("i");
    let ns = SizedNs::instance("n", &infra);
    let s = infra.get::<SizedServer>(&infra.root().s).unwrap();
    assert_eq!(s.mem.name(), "MEMSIZE");
    assert_eq!(s.mem.at(), ns.root().r.at());
    assert_eq!(
        var_value(infra.world(), s.mem.at(), s.mem.name()).unwrap(),
        "8GB"
    );
    let t = infra.get::<SizedServer>(&infra.root().t).unwrap();
    assert_eq!(
        var_value(infra.world(), t.mem.at(), t.mem.name()).unwrap(),
        "4GB"
    );
    // A later override is seen by the next read.
    ns.add_override(&ns.root().r, Var::new("MEMSIZE", "16GB"));
    assert_eq!(
        var_value(infra.world(), s.mem.at(), s.mem.name()).unwrap(),
        "16GB"
    );
    assert_eq!(
        host_of(&ns, &ns.root().r),
        Some(HostRef::Infra(infra.root().s.at()))
    );
    // The other direction: a namespace variable reading an infra output is unresolved (an error
    // naming it) until provisioning records the output.
    let err = ns.var_value(&ns.root().r, "S_URL").unwrap_err();
    assert!(
        matches!(&err, VarError::Unresolved { name, .. } if name == "S_IP"),
        "{err}"
    );
    infra
        .world()
        .lock()
        .set_output(infra.root().s.at(), "ip", "10.9.9.9");
    assert_eq!(
        ns.var_value(&ns.root().r, "S_URL").unwrap(),
        "http://10.9.9.9/"
    );
}

// behaviour 25: a failing host expression surfaces when the role is built (here: when the keyed role
// is created), with its message; the model stays usable.
#[test]
fn b25_failing_host_expression() {
    let infra = Fleet::instance("f");
    let ns = FleetNs::instance("n", &infra);
    let err = catch_unwind(AssertUnwindSafe(|| ns.index(ns.root().nodes, "boom"))).unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap();
    assert!(msg.contains("no host for `boom`"), "{msg}");
    let ok = ns.index(ns.root().nodes, 1);
    assert_eq!(
        host_of(&ns, &ok),
        Some(HostRef::Infra(infra.index(infra.root().nodes, 1).at()))
    );
    assert_eq!(ns.var_value(&ok, "NODE_ID").unwrap(), "1");
}

// behaviour 26: variables declared hidden (`hidden X = …`, `.hidden_var`) are visible for templates
// but not exported to task environments (the report's `in_env`, which the execution agents use).
#[test]
fn b26_hidden_vars() {
    let infra = Fleet::instance("f");
    let ns = FleetNs::instance("n", &infra);
    let n1 = ns.index(ns.root().nodes, 1);
    assert_eq!(ns.var_value(&n1, "INTERNAL").unwrap(), "i");
    assert_eq!(ns.var_value(&n1, "ROLE_HIDDEN").unwrap(), "h");
    let report = ns.report();
    let r = report.iter().find(|r| r.role == "FleetNs.nodes.1").unwrap();
    let env: BTreeMap<&str, bool> = r.vars.iter().map(|v| (v.name.as_str(), v.in_env)).collect();
    assert_eq!(
        env,
        BTreeMap::from([
            ("SECRET", true),
            ("INTERNAL", false),
            ("PUBLIC", true),
            ("ROLE_HIDDEN", false),
            ("NODE_ID", true),
        ])
    );
    let exported: Vec<&str> = r
        .vars
        .iter()
        .filter(|v| v.in_env)
        .map(|v| v.name.as_str())
        .collect();
    assert!(!exported.contains(&"INTERNAL") && exported.contains(&"PUBLIC"));
}

// behaviour 27: roles of a keyed role group pick their hosts in the keyed infra group of the same
// key (`infra.sites[ctx.comp.container.key].foreman`); the namespace grows the infra.
#[test]
fn b27_keyed_role_groups_map_to_keyed_infra_groups() {
    let infra = Fleet::instance("f");
    let ns = FleetNs::instance("n", &infra);
    assert!(infra.keys(infra.root().sites).is_empty());
    let ny = ns.index(ns.root().sites, "NY");
    let la = ns.index(ns.root().sites, "LA");
    let keys: Vec<String> = infra
        .keys(infra.root().sites)
        .iter()
        .map(|k| k.to_string())
        .collect();
    assert_eq!(keys, ["NY", "LA"]);
    let iny = infra.index(infra.root().sites, "NY");
    let ila = infra.index(infra.root().sites, "LA");
    assert_eq!(
        host_of(&ns, &ny.foreman),
        Some(HostRef::Infra(iny.foreman.at()))
    );
    assert_eq!(
        host_of(&ns, &ny.worker),
        Some(HostRef::Infra(iny.worker.at()))
    );
    assert_eq!(
        host_of(&ns, &la.foreman),
        Some(HostRef::Infra(ila.foreman.at()))
    );
    assert_eq!(infra.path(&iny.foreman), ["sites", "NY", "foreman"]);
    assert_eq!(ns.name(&ny), "site_NY");
    assert_eq!(role_at(&ns, &["sites", "LA", "worker"]), la.worker.at());
}

// behaviour 28: the original's `multicomp_string_builder` (a variable joining a string per
// component) as a variable computed when read: it sees the instances that exist at that moment.
#[test]
fn b28_variable_joining_components() {
    let infra = Fleet::instance("f");
    let ns = FleetNs::instance("n", &infra);
    let nodes = ns.root().nodes;
    ns.add_var(
        &ns.root(),
        Var::lazy(
            "ALL_NODES",
            Arc::new(move |env: &Env<'_>| {
                let roles = nodes.all().select(env.world);
                let w = env.world.lock();
                let names: Vec<String> = roles
                    .iter()
                    .map(|r| w.tree(r.model).display_name(r.node))
                    .collect();
                VarValue::Str(names.join(" "))
            }),
        ),
    );
    assert_eq!(ns.var_value(&ns.root(), "ALL_NODES").unwrap(), "");
    for k in 0..3 {
        ns.index(nodes, k);
    }
    assert_eq!(
        ns.var_value(&ns.root(), "ALL_NODES").unwrap(),
        "node_0 node_1 node_2"
    );
    // Usable inside other templates, from any role.
    let n2 = ns.index(nodes, 2);
    assert_eq!(
        expand_for(ns.world(), n2.at(), "[!{ALL_NODES}] on !{NODE_ID}").unwrap(),
        "[node_0 node_1 node_2] on 2"
    );
}
