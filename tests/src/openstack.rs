//! Shared by the OpenStack tests and benchmark: the real services (`scripts/openstack.sh`), the
//! orchestration tutorial's model, proxies for the `demo` and `admin` clouds (directly or through
//! a fault relay), and the checks that list what is left in the project.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;
use std::time::Duration;

use actuator::orchestrate::{ActuatorOrchestration, Options};
use actuator::prelude::*;
use actuator_openstack::{
    FloatingIp, KeyPair, Network, OpenStackProxy, RetrySettings, Router, RouterGateway,
    RouterInterface, SecurityGroup, SecurityGroupRule, Server, Subnet,
};
use serde_json::Value;

use crate::relay::Relay;

/// A public key for the models' key pairs (its private half is not kept anywhere).
pub const PUBLIC_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDkOBsvse0q5xbmK5QJwb733C9xrJ9H0MWX/0u1Xlvvt actuator-test";

/// What `scripts/openstack.sh env` exports (the stack is started once per process).
pub fn env() -> &'static HashMap<String, String> {
    static ENV: OnceLock<HashMap<String, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        // The kill tests' child processes: their parent started the stack, and `start` (seconds
        // even when everything runs) would delay their first call past the kills.
        if std::env::var_os("ACTUATOR_OS_CHILD").is_some() {
            crate::service_env("openstack")
        } else {
            crate::service("openstack")
        }
    })
}

pub fn var(k: &str) -> String {
    env()
        .get(k)
        .cloned()
        .unwrap_or_else(|| panic!("scripts/openstack.sh env sets no {k}"))
}

/// The image and flavor the stack seeds.
pub fn image() -> String {
    var("ACTUATOR_OS_IMAGE")
}
pub fn flavor() -> String {
    var("ACTUATOR_OS_FLAVOR")
}

/// Retries and polls sized for loopback.
pub fn fast() -> RetrySettings {
    RetrySettings {
        deadline: Duration::from_secs(120),
        not_found_deadline: Duration::from_secs(30),
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_secs(2),
        request_timeout: Duration::from_secs(120),
    }
}

/// A proxy for cloud `cloud` of the stack's clouds.yaml.
pub fn proxy_for(cloud: &str) -> OpenStackProxy {
    OpenStackProxy::new("openstack")
        .clouds_yaml(var("OS_CLIENT_CONFIG_FILE"), cloud)
        .external_network(var("ACTUATOR_OS_EXTERNAL_NETWORK"))
        .retry(fast())
        .poll_interval(Duration::from_millis(100))
        .server_timeout(Duration::from_secs(180))
}

/// The `demo` project's proxy.
pub fn proxy() -> OpenStackProxy {
    proxy_for(&var("ACTUATOR_OS_DEMO_CLOUD"))
}

/// The `admin` project's proxy (flavors, other projects' resources).
pub fn admin() -> OpenStackProxy {
    proxy_for(&var("ACTUATOR_OS_ADMIN_CLOUD"))
}

/// Relays in front of Neutron and Nova, and a `demo` proxy that goes through them.
pub struct Relayed {
    pub neutron: Relay,
    pub nova: Relay,
}

impl Relayed {
    pub fn start() -> Relayed {
        Relayed {
            neutron: Relay::start(&var("ACTUATOR_OS_NEUTRON_URL")),
            nova: Relay::start(&var("ACTUATOR_OS_NOVA_URL")),
        }
    }
    pub fn proxy(&self) -> OpenStackProxy {
        proxy()
            .endpoint("network", &self.neutron.url)
            .endpoint("compute", format!("{}/v2.1", self.nova.url))
    }
    pub fn clear(&self) {
        self.neutron.clear();
        self.nova.clear();
    }
}

pub fn options() -> Options {
    Options {
        max_concurrency: 16,
        ..Options::default()
    }
}

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

/// `name` made unique to this test process (`os-life` → `os-life-1f3a9c`): the identity tags of
/// an earlier run's leftovers never match it, so a test never sees them. The kill tests' child
/// processes inherit the suffix through `ACTUATOR_OS_RUN`.
pub fn system(name: &str) -> String {
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| {
        std::env::var("ACTUATOR_OS_RUN").unwrap_or_else(|_| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            format!(
                "{:06x}",
                (t.as_micros() as u64 ^ u64::from(std::process::id())) & 0xff_ffff
            )
        })
    });
    format!("{name}-{run}")
}

/// The run suffix of [`system`], for the child processes of the kill tests.
pub fn run_suffix() -> String {
    system("").trim_start_matches('-').to_owned()
}

/// When dropped — after the test passed or while it panics — deletes what the project still holds
/// tagged for its system in each of its workspaces (found by tag, as `discover` finds what a lost
/// state left), and the `grid-key-` key pairs that appeared since it was made (Nova key pairs
/// carry no tags). A failed test leaves nothing for the next one to trip over.
pub struct Sweep {
    system: String,
    workspaces: Vec<Option<String>>,
    cloud: String,
    keys_before: BTreeSet<String>,
}

impl Sweep {
    /// Sweeps `system`'s default workspace in the `demo` project.
    pub fn new(system: &str) -> Sweep {
        Sweep::in_cloud(system, &var("ACTUATOR_OS_DEMO_CLOUD"))
    }

    /// Sweeps `system`'s default workspace in `cloud`'s project.
    pub fn in_cloud(system: &str, cloud: &str) -> Sweep {
        let keys_before = rt()
            .block_on(key_pairs(&proxy_for(cloud), "grid-key-"))
            .into_iter()
            .collect();
        Sweep {
            system: system.to_owned(),
            workspaces: vec![None],
            cloud: cloud.to_owned(),
            keys_before,
        }
    }

    /// Sweeps these named workspaces instead of the default one.
    pub fn workspaces(mut self, names: &[&str]) -> Sweep {
        self.workspaces = names.iter().map(|n| Some((*n).to_owned())).collect();
        self
    }

    async fn sweep(&self) -> Result<usize, String> {
        let p = std::sync::Arc::new(proxy_for(&self.cloud));
        let mut n = 0;
        for ws in &self.workspaces {
            // A grid's kinds are every kind the tests make.
            let infra = grid(0);
            let mut o = ActuatorOrchestration::new(&self.system)
                .infra(&infra)
                .proxy(p.clone())
                .options(options())
                .memory_state();
            if let Some(ws) = ws {
                o = o.workspace(ws);
            }
            let found = o.discover().await.map_err(|e| e.to_string())?;
            n += found.len();
            if !found.is_empty() && !o.down_discovered(&found).await {
                return Err(failures(&o));
            }
        }
        for k in key_pairs(&p, "grid-key-").await {
            if !self.keys_before.contains(&k) {
                p.call("compute", "DELETE", &["os-keypairs", &k], &[], None)
                    .await
                    .map_err(|e| format!("delete key pair {k}: {e}"))?;
                n += 1;
            }
        }
        Ok(n)
    }
}

impl Drop for Sweep {
    fn drop(&mut self) {
        // Never panic here: this may run while the test unwinds.
        match rt().block_on(self.sweep()) {
            Ok(0) => {}
            Ok(n) => eprintln!("sweep of {}: deleted {n} left-over resources", self.system),
            Err(e) => eprintln!("sweep of {} failed: {e}", self.system),
        }
    }
}

pub fn failures(o: &ActuatorOrchestration) -> String {
    o.failures()
        .iter()
        .map(|f| format!("{}: {}", f.task, f.error))
        .collect::<Vec<_>>()
        .join("\n")
}

// ------------------------------------------------------------------------------------------------
// The orchestration tutorial's model

thread_local! {
    static SHAPE: std::cell::RefCell<Shape> = std::cell::RefCell::new(Shape::default());
}

/// What the next `Grid` instance looks like (per thread).
#[derive(Clone, Debug)]
pub struct Shape {
    pub foreman_name: String,
    pub foreman_image: String,
    pub foreman_flavor: String,
    pub cidr: String,
    pub sg_description: String,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            foreman_name: "foreman".into(),
            foreman_image: "cirros".into(),
            foreman_flavor: "m1.tiny".into(),
            cidr: "192.168.23.0/24".into(),
            sg_description: "SSH and ping from anywhere".into(),
        }
    }
}

pub fn shape() -> Shape {
    SHAPE.with(|s| s.borrow().clone())
}

pub fn set_shape(s: Shape) {
    SHAPE.with(|c| *c.borrow_mut() = s);
}

/// The tutorial's `MultipleServers`: the gateway resources (network, subnet, router, its gateway
/// and its interface), a foreman with a floating IP, a grid of workers — plus the security group
/// and key pair the servers use.
#[derive(InfraModel)]
pub struct Grid {
    #[component(Network::new("grid-net"))]
    pub net: Network,
    #[component(Subnet::new("grid-subnet", ctx.model.net, shape().cidr).dns_nameservers(["8.8.8.8"]))]
    pub subnet: Subnet,
    #[component(Router::new("grid-router"))]
    pub router: Router,
    #[component(RouterGateway::new("grid-gateway", ctx.model.router, "public"))]
    pub gateway: RouterGateway,
    #[component(RouterInterface::new("grid-rinter", ctx.model.router, ctx.model.subnet))]
    pub rinter: RouterInterface,
    #[component(SecurityGroup::new("grid-sg", shape().sg_description))]
    pub sg: SecurityGroup,
    #[component(SecurityGroupRule::new("ssh", ctx.model.sg).tcp(22, 22).cidr("0.0.0.0/0"))]
    pub ssh: SecurityGroupRule,
    #[component(SecurityGroupRule::new("ping", ctx.model.sg).icmp().cidr("0.0.0.0/0"))]
    pub ping: SecurityGroupRule,
    #[component(KeyPair::new("grid-key").public_key(PUBLIC_KEY).ensure_unique(true))]
    pub key: KeyPair,
    #[component(Server::new(shape().foreman_name, shape().foreman_image, shape().foreman_flavor)
        .nics([ctx.model.net])
        .security_groups([ctx.model.sg])
        .key_pair(ctx.model.key))]
    pub foreman: Server,
    #[component(FloatingIp::new("grid-fip", ctx.model.foreman, ctx.model.foreman.ip).pool("public"))]
    pub fip: FloatingIp,
    #[component(MultiResource::new(
        Server::new("worker", shape().foreman_image, shape().foreman_flavor)
            .nics([ctx.comp.container.container.net])
            .security_groups([ctx.comp.container.container.sg])))]
    pub workers: MultiResource<Server>,
}

namespace! {
    pub struct GridNs for Grid {
        vars {
            FOREMAN_EXTERNAL_IP = infra.fip.ip,
            FOREMAN_INTERNAL_IP = infra.foreman.ip,
            FOREMAN_EXTERNAL_PORT = "3000",
            FOREMAN_WORKER_PORT = "3001",
        }
        foreman: Role = Role::new("foreman").host_ref(infra.foreman),
        grid: MultiRole = MultiRole::new(
            Role::new("node").host_ref(infra.workers[ctx.name]).var("NODE_ID", ctx.name)),
    }
}

/// A grid with `k` workers.
pub fn grid(k: usize) -> actuator::model::Instance<Grid> {
    let g = Grid::instance("grid");
    for i in 0..k {
        g.index(g.root().workers, i);
    }
    g
}

/// Resources of a grid of `k` workers: 11 fixed ones, one per worker.
pub fn grid_size(k: usize) -> usize {
    11 + k
}

// ------------------------------------------------------------------------------------------------
// What is in the project

/// The collections a leak check lists, with the key of their answers.
const COLLECTIONS: &[(&str, &str, &str)] = &[
    ("network", "networks", "networks"),
    ("network", "subnets", "subnets"),
    ("network", "routers", "routers"),
    ("network", "ports", "ports"),
    ("network", "security-groups", "security_groups"),
    ("network", "security-group-rules", "security_group_rules"),
    ("network", "floatingips", "floatingips"),
    ("compute", "servers", "servers"),
    ("compute", "os-keypairs", "keypairs"),
];

/// The project's `default` security group, if Neutron has made it yet (it does so with the
/// project's first other group).
pub async fn default_security_group(p: &OpenStackProxy) -> Option<Value> {
    p.call(
        "network",
        "GET",
        &["security-groups"],
        &[("name", "default")],
        None,
    )
    .await
    .unwrap()["security_groups"]
        .as_array()
        .unwrap()
        .first()
        .cloned()
}

/// Everything the `demo` project holds, listed through the APIs: `kind id` (key pairs by name).
/// What a test leaves must be what was there before it.
pub async fn project_snapshot(p: &OpenStackProxy) -> BTreeSet<String> {
    let project = default_security_group(p)
        .await
        .and_then(|g| g["project_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut out = BTreeSet::new();
    for (svc, coll, key) in COLLECTIONS {
        let items = match *svc {
            "compute" if *coll == "servers" => {
                p.list(svc, &["servers", "detail"], &[], key).await.unwrap()
            }
            _ => p.list(svc, &[coll], &[], key).await.unwrap(),
        };
        for i in items {
            let i = if *coll == "os-keypairs" {
                i["keypair"].clone()
            } else {
                i
            };
            if *svc == "network" && i["project_id"].as_str().is_some_and(|p| p != project) {
                // The seeded external network and its ports belong to the admin project.
                continue;
            }
            let id = i["id"].as_str().or(i["name"].as_str()).unwrap_or_default();
            out.insert(format!("{coll} {id}"));
        }
    }
    out
}

/// How many live resources of each model path carry `system`'s identity (Neutron tags, Nova
/// metadata, rule descriptions): exactly one each after a converged `up`.
pub async fn tagged_paths(p: &OpenStackProxy, system: &str) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    let sys_tag = format!("actuator:system={system}");
    for coll in [
        "networks",
        "subnets",
        "routers",
        "ports",
        "security-groups",
        "floatingips",
    ] {
        let key = coll.replace('-', "_");
        for i in p
            .list("network", &[coll], &[("tags", &sys_tag)], &key)
            .await
            .unwrap()
        {
            let path = tag_value(&i["tags"], "actuator:path=");
            *m.entry(path).or_default() += 1;
        }
    }
    for r in p
        .list(
            "network",
            &["security-group-rules"],
            &[],
            "security_group_rules",
        )
        .await
        .unwrap()
    {
        let d = r["description"].as_str().unwrap_or_default();
        if d.contains(&format!("actuator:system={system} ")) {
            let path = d
                .split(' ')
                .find_map(|w| w.strip_prefix("actuator:path="))
                .unwrap_or("?")
                .to_owned();
            *m.entry(path).or_default() += 1;
        }
    }
    for s in p
        .list(
            "compute",
            &["servers", "detail"],
            &[("tags", &sys_tag)],
            "servers",
        )
        .await
        .unwrap()
    {
        let path = s["metadata"]["actuator:path"]
            .as_str()
            .unwrap_or("?")
            .to_owned();
        *m.entry(path).or_default() += 1;
    }
    m
}

fn tag_value(tags: &Value, prefix: &str) -> String {
    tags.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find_map(|t| t.strip_prefix(prefix))
        .unwrap_or("?")
        .replace("%2C", ",")
        .replace("%20", " ")
}

/// Key pairs whose name starts with `prefix`.
pub async fn key_pairs(p: &OpenStackProxy, prefix: &str) -> Vec<String> {
    p.list("compute", &["os-keypairs"], &[], "keypairs")
        .await
        .unwrap()
        .iter()
        .filter_map(|k| k["keypair"]["name"].as_str().map(str::to_owned))
        .filter(|n| n.starts_with(prefix))
        .collect()
}
