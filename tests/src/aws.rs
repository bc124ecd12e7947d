//! Shared by the AWS tests and benchmark: the fleet model, moto (start, reset), the leak and
//! tag checks, and a fault-injecting HTTP proxy in front of moto.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use actuator::orchestrate::{ActuatorOrchestration, Options};
use actuator::prelude::*;
use actuator_aws::sdk::types::Filter;
use actuator_aws::{
    ApiLimits, AwsProxy, Image, Instance, InternetGateway, KeyPair, NetworkInterface, PublicIp,
    RetrySettings, Route, RouteTable, RouteTarget, SecurityGroup, SecurityGroupRule, Subnet, Vpc,
};

pub const REGION: &str = "eu-west-2";
/// moto's Amazon Linux 2023 image in eu-west-2 (AMI validation is on).
pub const AMI: &str = "ami-087534078663b6450";

// ------------------------------------------------------------------------------------------------
// The models

/// What the next [`fleet`] looks like: the arguments the convergence tests change between runs
/// (each test thread sets its own with [`set_knobs`]).
#[derive(Clone, Debug)]
pub struct Knobs {
    /// The instances' type.
    pub instance_type: &'static str,
    /// The HTTP rule's port.
    pub http_port: i32,
    /// The HTTP rule's description.
    pub http_description: &'static str,
    /// The instances' `tier` tag.
    pub tier: &'static str,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            instance_type: "t3.micro",
            http_port: 80,
            http_description: "HTTP",
            tier: "web",
        }
    }
}

thread_local! {
    static KNOBS: std::cell::RefCell<Knobs> = std::cell::RefCell::new(Knobs::default());
}

/// Sets the arguments of the fleets this thread builds next.
pub fn set_knobs(k: Knobs) {
    KNOBS.with(|c| *c.borrow_mut() = k);
}

fn knobs() -> Knobs {
    KNOBS.with(|c| c.borrow().clone())
}

#[derive(InfraModel)]
pub struct Fleet {
    #[component(Vpc::new("vpc", "10.0.0.0/16"))]
    vpc: Vpc,
    #[component(Subnet::new("subnet", ctx.model.vpc, "10.0.1.0/24"))]
    subnet: Subnet,
    #[component(InternetGateway::new("igw", ctx.model.vpc))]
    igw: InternetGateway,
    #[component(RouteTable::new("rtb", ctx.model.vpc, ctx.model.subnet))]
    rtb: RouteTable,
    #[component(Route::new("default-route", ctx.model.rtb, "0.0.0.0/0", RouteTarget::gateway(ctx.model.igw)))]
    default_route: Route,
    #[component(SecurityGroup::new("web-sg", "SSH and HTTP in", ctx.model.vpc))]
    sg: SecurityGroup,
    #[component(SecurityGroupRule::ingress("ssh", ctx.model.sg, "tcp", 22, 22, "0.0.0.0/0"))]
    ssh: SecurityGroupRule,
    #[component(SecurityGroupRule::ingress(
        "http", ctx.model.sg, "tcp", knobs().http_port, knobs().http_port, "0.0.0.0/0")
        .description(knobs().http_description))]
    http: SecurityGroupRule,
    #[component(KeyPair::new("fleet-key").ensure_unique(true))]
    keypair: KeyPair,
    #[component(MultiResource::new(
        NetworkInterface::new("nic", ctx.comp.container.container.subnet)
            .security_groups([ctx.comp.container.container.sg])))]
    nics: MultiResource<NetworkInterface>,
    #[component(MultiResource::new(
        Instance::with_interfaces(
            "web",
            Image::latest("amazon", "al2023-ami-2023*-x86_64"),
            [ctx.comp.container.container.nics[ctx.name]],
        )
        .instance_type(knobs().instance_type)
        .tag("tier", knobs().tier)
        .key_pair(ctx.comp.container.container.keypair)))]
    web: MultiResource<Instance>,
    #[component(MultiResource::new(
        PublicIp::for_instance("ip", ctx.comp.container.container.web[ctx.name])
            .internet_gateway(ctx.comp.container.container.igw)))]
    ips: MultiResource<PublicIp>,
}

namespace! {
    pub struct FleetNs for Fleet {
        web: MultiRole = MultiRole::new(
            Role::new("web")
                .host_ref(infra.web[ctx.name])
                .var("PUBLIC_IP", infra.ips[ctx.name].ip)),
    }
}

pub fn fleet(k: usize) -> actuator::model::Instance<Fleet> {
    let f = Fleet::instance("fleet");
    for i in 0..k {
        f.index(f.root().web, i);
        f.index(f.root().ips, i);
    }
    f
}

/// Resources of a fleet of `k`: 9 fixed ones and three per instance.
pub fn fleet_size(k: usize) -> usize {
    9 + 3 * k
}

/// Those of them that carry tags (a route cannot).
pub fn fleet_tagged(k: usize) -> usize {
    fleet_size(k) - 1
}

// ------------------------------------------------------------------------------------------------
// moto

/// Starts moto on `port` through `scripts/moto.sh` (idempotent); returns its URL.
pub fn start_moto(port: &str) -> String {
    let script = crate::repo_root().join("scripts/moto.sh");
    let st = Command::new(&script)
        .arg("start")
        .env("MOTO_PORT", port)
        .status()
        .expect("run scripts/moto.sh");
    assert!(st.success(), "scripts/moto.sh start failed");
    format!("http://127.0.0.1:{port}")
}

pub fn http(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect to moto");
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

pub fn reset(url: &str) {
    let addr = url.trim_start_matches("http://");
    let r = http(
        addr,
        &format!(
            "POST /moto-api/reset HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    );
    assert!(r.starts_with("HTTP/1.1 200"), "reset: {r}");
}

pub fn proxy(url: &str) -> AwsProxy {
    AwsProxy::new("aws")
        .default_region(REGION)
        .credentials("testing", Secret::new("testing"))
        .endpoint(url)
        .limits(ApiLimits::unlimited())
        .poll_interval(Duration::from_millis(20))
        .retry(RetrySettings {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(500),
            deadline: Duration::from_secs(60),
            not_found_deadline: Duration::from_secs(10),
        })
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

pub fn client(url: &str) -> actuator_aws::sdk::Client {
    rt().block_on(async { proxy(url).client(None).await.unwrap() })
}

pub fn f(name: &str, values: &[&str]) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.iter().map(|v| v.to_string()).collect()))
        .build()
}

/// Everything in moto's region that is not part of the default VPC: what a `down` must leave
/// empty. Lists every kind the proxy creates.
pub async fn leaks(ec2: &actuator_aws::sdk::Client) -> Vec<String> {
    let mut out = Vec::new();
    let vpcs = ec2.describe_vpcs().send().await.unwrap();
    let default: Vec<String> = vpcs
        .vpcs()
        .iter()
        .filter(|v| v.is_default() == Some(true))
        .filter_map(|v| v.vpc_id().map(str::to_owned))
        .collect();
    let not_default = |v: Option<&str>| !default.iter().any(|d| Some(d.as_str()) == v);
    for v in vpcs.vpcs().iter().filter(|v| v.is_default() != Some(true)) {
        out.push(format!("vpc {}", v.vpc_id().unwrap()));
    }
    for s in ec2.describe_subnets().send().await.unwrap().subnets() {
        if not_default(s.vpc_id()) {
            out.push(format!("subnet {}", s.subnet_id().unwrap()));
        }
    }
    for g in ec2
        .describe_internet_gateways()
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        out.push(format!("igw {}", g.internet_gateway_id().unwrap()));
    }
    for r in ec2
        .describe_route_tables()
        .send()
        .await
        .unwrap()
        .route_tables()
    {
        if !r.associations().iter().any(|a| a.main() == Some(true)) {
            out.push(format!("route table {}", r.route_table_id().unwrap()));
        }
    }
    for g in ec2
        .describe_security_groups()
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        if g.group_name() != Some("default") {
            out.push(format!("security group {}", g.group_id().unwrap()));
        }
    }
    for k in ec2.describe_key_pairs().send().await.unwrap().key_pairs() {
        out.push(format!("key pair {}", k.key_name().unwrap()));
    }
    for n in ec2
        .describe_network_interfaces()
        .send()
        .await
        .unwrap()
        .network_interfaces()
    {
        out.push(format!("eni {}", n.network_interface_id().unwrap()));
    }
    for a in ec2.describe_addresses().send().await.unwrap().addresses() {
        out.push(format!("address {}", a.public_ip().unwrap()));
    }
    for v in ec2.describe_volumes().send().await.unwrap().volumes() {
        out.push(format!("volume {}", v.volume_id().unwrap()));
    }
    let live = ec2
        .describe_instances()
        .filters(f(
            "instance-state-name",
            &["pending", "running", "stopping", "stopped", "shutting-down"],
        ))
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await;
    for r in live {
        for i in r.unwrap().instances() {
            out.push(format!("instance {}", i.instance_id().unwrap()));
        }
    }
    out
}

/// How many live resources of each kind carry `system`'s tag, by model path.
pub async fn tagged(ec2: &actuator_aws::sdk::Client, system: &str) -> BTreeMap<String, usize> {
    tagged_in(ec2, system, None).await
}

/// [`tagged`], of one workspace of the system if `workspace` is given.
pub async fn tagged_in(
    ec2: &actuator_aws::sdk::Client,
    system: &str,
    workspace: Option<&str>,
) -> BTreeMap<String, usize> {
    let mut m: BTreeMap<String, usize> = BTreeMap::new();
    let sys = || {
        let mut v = vec![f("tag:actuator:system", &[system])];
        if let Some(w) = workspace {
            v.push(f("tag:actuator:workspace", &[w]));
        }
        Some(v)
    };
    let path = |tags: &[actuator_aws::sdk::types::Tag]| {
        tags.iter()
            .find(|t| t.key() == Some("actuator:path"))
            .and_then(|t| t.value())
            .unwrap_or("?")
            .to_owned()
    };
    let mut add = |p: String| *m.entry(p).or_default() += 1;
    for v in ec2
        .describe_vpcs()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .vpcs()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_subnets()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .subnets()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_internet_gateways()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .internet_gateways()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_route_tables()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .route_tables()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_security_groups()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .security_groups()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_security_group_rules()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .security_group_rules()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_key_pairs()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .key_pairs()
    {
        add(path(v.tags()));
    }
    for v in ec2
        .describe_network_interfaces()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .network_interfaces()
    {
        add(path(v.tag_set()));
    }
    for v in ec2
        .describe_addresses()
        .set_filters(sys())
        .send()
        .await
        .unwrap()
        .addresses()
    {
        add(path(v.tags()));
    }
    let r = ec2
        .describe_instances()
        .set_filters(sys())
        .filters(f("instance-state-name", &["pending", "running"]))
        .send()
        .await
        .unwrap();
    for res in r.reservations() {
        for v in res.instances() {
            add(path(v.tags()));
        }
    }
    m
}

/// The live (not terminating) instances of `system`: model path → (id, type, `tier` tag).
pub async fn instances(
    ec2: &actuator_aws::sdk::Client,
    system: &str,
) -> BTreeMap<String, Vec<(String, String, String)>> {
    let r = ec2
        .describe_instances()
        .filters(f("tag:actuator:system", &[system]))
        .filters(f("instance-state-name", &["pending", "running"]))
        .send()
        .await
        .unwrap();
    let mut m: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for i in r.reservations().iter().flat_map(|r| r.instances()) {
        let tag = |k: &str| {
            i.tags()
                .iter()
                .find(|t| t.key() == Some(k))
                .and_then(|t| t.value())
                .unwrap_or_default()
                .to_owned()
        };
        m.entry(tag("actuator:path")).or_default().push((
            i.instance_id().unwrap().to_owned(),
            i.instance_type()
                .map(|t| t.as_str().to_owned())
                .unwrap_or_default(),
            tag("tier"),
        ));
    }
    m
}

/// Every Elastic IP: allocation id → the instance it is associated with ("" if none).
pub async fn addresses(ec2: &actuator_aws::sdk::Client) -> BTreeMap<String, String> {
    let r = ec2.describe_addresses().send().await.unwrap();
    r.addresses()
        .iter()
        .map(|a| {
            (
                a.allocation_id().unwrap().to_owned(),
                a.instance_id().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

pub fn failures(o: &ActuatorOrchestration) -> String {
    o.failures()
        .iter()
        .map(|f| format!("{}: {}", f.task, f.error))
        .collect::<Vec<_>>()
        .join("\n")
}

// ------------------------------------------------------------------------------------------------
// The fault-injecting proxy in front of moto

/// What the proxy does to the calls passing through.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Share of calls answered with EC2's throttling error (503 `RequestLimitExceeded`).
    pub throttle: f64,
    /// Share answered with a 500 `InternalError` without reaching moto.
    pub server_error: f64,
    /// Share of `Create*`/`RunInstances`/`AllocateAddress`/`Authorize*`/`Import*` calls forwarded
    /// to moto whose answer is then replaced by a 500: the call took effect, the caller can't know.
    pub lost: f64,
    /// Scripted answers for particular calls.
    pub scripted: Vec<Script>,
}

/// Answer the next `times` calls of `action` whose body contains `needle` with `status` and
/// `code` — after forwarding the call to moto if `lost` (the call takes effect, its answer is
/// lost).
#[derive(Clone, Debug)]
pub struct Script {
    pub action: &'static str,
    pub needle: &'static str,
    pub times: u32,
    pub status: u16,
    pub code: &'static str,
    pub lost: bool,
}

#[derive(Default)]
pub struct FaultLog {
    /// Every action seen, in order.
    pub actions: Vec<String>,
    /// Injected faults by code.
    pub injected: BTreeMap<String, u64>,
}

pub struct FaultProxy {
    pub url: String,
    pub faults: Arc<Mutex<Faults>>,
    pub log: Arc<Mutex<FaultLog>>,
}

pub fn error_response(status: u16, code: &str, message: &str) -> Vec<u8> {
    let reason = match status {
        400 => "Bad Request",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code>\
         <Message>{message}</Message></Error></Errors><RequestID>00000000-fault-proxy</RequestID></Response>"
    );
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl FaultProxy {
    pub fn start(moto: &str, faults: Faults) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let upstream = moto.trim_start_matches("http://").to_owned();
        let faults = Arc::new(Mutex::new(faults));
        let log = Arc::new(Mutex::new(FaultLog::default()));
        let (fl, lg) = (faults.clone(), log.clone());
        let seed = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
        let seed = Arc::new(seed);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (fl, lg, up, seed) = (fl.clone(), lg.clone(), upstream.clone(), seed.clone());
                std::thread::spawn(move || {
                    let _ = relay(conn, &up, &fl, &lg, &seed);
                });
            }
        });
        FaultProxy { url, faults, log }
    }
    pub fn set(&self, f: Faults) {
        *self.faults.lock() = f;
    }
    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.log.lock().injected.clone()
    }
    pub fn actions(&self) -> Vec<String> {
        self.log.lock().actions.clone()
    }
}

/// A deterministic pseudo-random number in [0, 1) (xorshift).
pub fn next(seed: &AtomicU64) -> f64 {
    let mut x = seed.load(Ordering::Relaxed);
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    seed.store(x, Ordering::Relaxed);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub fn relay(
    mut client: TcpStream,
    upstream: &str,
    faults: &Mutex<Faults>,
    log: &Mutex<FaultLog>,
    seed: &AtomicU64,
) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    // One request: head, then Content-Length bytes of body.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = client.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("")
        .to_owned();
    let verdict = {
        let mut f = faults.lock();
        let scripted = f
            .scripted
            .iter_mut()
            .find(|s| s.action == action && s.times > 0 && body.contains(s.needle))
            .map(|s| {
                s.times -= 1;
                (s.status, s.code.to_owned(), s.lost)
            });
        let creates = [
            "Create",
            "RunInstances",
            "AllocateAddress",
            "Authorize",
            "Import",
        ]
        .iter()
        .any(|p| action.starts_with(p));
        let r = next(seed);
        match scripted {
            Some(v) => Some(v),
            None if r < f.throttle => Some((503, "RequestLimitExceeded".into(), false)),
            None if r < f.throttle + f.server_error => Some((500, "InternalError".into(), false)),
            None if creates && next(seed) < f.lost => Some((500, "InternalError".into(), true)),
            None => None,
        }
    };
    {
        let mut l = log.lock();
        l.actions.push(action.clone());
        if let Some((_, code, lost)) = &verdict {
            let k = if *lost {
                format!("{code} (lost answer)")
            } else {
                code.clone()
            };
            *l.injected.entry(k).or_default() += 1;
        }
    }
    let forward = |buf: &[u8]| -> std::io::Result<Vec<u8>> {
        let mut up = TcpStream::connect(upstream)?;
        up.set_nodelay(true)?;
        up.write_all(buf)?;
        let mut resp = Vec::new();
        up.read_to_end(&mut resp)?;
        Ok(resp)
    };
    let answer = match verdict {
        Some((status, code, lost)) => {
            if lost {
                forward(&buf)?;
            }
            let msg = match code.as_str() {
                "RequestLimitExceeded" => "Request limit exceeded.".to_owned(),
                "DependencyViolation" => "The resource has a dependent object".to_owned(),
                _ => "An internal error has occurred".to_owned(),
            };
            error_response(status, &code, &msg)
        }
        None => forward(&buf)?,
    };
    client.write_all(&answer)?;
    client.shutdown(std::net::Shutdown::Both)
}
