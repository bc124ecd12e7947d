//! A web fleet on AWS: a VPC with one subnet, an internet gateway and a route table whose default
//! route goes through it, a security group letting SSH and HTTP in, a key pair, and K instances,
//! each with its own network interface and Elastic IP. A namespace gives every instance a `web`
//! role with its public and private addresses.
//!
//! Against moto (installs and starts it on 127.0.0.1:5055 the first time):
//!
//! ```sh
//! scripts/moto.sh run cargo run -p aws-example -- up
//! scripts/moto.sh run cargo run -p aws-example -- down
//! ```
//!
//! Against an account: the usual credentials (environment, `~/.aws` profiles, SSO, instance
//! metadata) and `AWS_REGION` (default `eu-west-2`):
//!
//! ```sh
//! AWS_PROFILE=dev cargo run -p aws-example -- plan | up | status | report | down
//! ```
//!
//! `AWS_EXAMPLE_INSTANCES` sets K (default 3). The created key pair's private key is written to
//! `.actuator/aws-example-key.pem` (mode 0600; `AWS_EXAMPLE_KEY_FILE` moves it). Against a local
//! endpoint (`AWS_ENDPOINT_URL` on 127.0.0.1 / localhost) the client-side EC2 rate limits are off.

use std::process::ExitCode;
use std::sync::Arc;

use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator_aws::{
    ApiLimits, AwsProxy, Image, Instance, InternetGateway, KeyPair, NetworkInterface, PublicIp,
    Route, RouteTable, RouteTarget, SecurityGroup, SecurityGroupRule, Subnet, Vpc,
};

/// The system's name: it keys the state (`.actuator/aws-example/`) and every resource's tags.
const SYSTEM: &str = "aws-example";

/// Where the key pair's private key goes.
fn key_file() -> String {
    std::env::var("AWS_EXAMPLE_KEY_FILE")
        .unwrap_or_else(|_| ".actuator/aws-example-key.pem".to_owned())
}

/// The infrastructure. Instances, interfaces and addresses are three keyed containers with the
/// same keys: `web[k]` uses `nics[k]` and `ips[k]` points at `web[k]`. (They are not one
/// `MultiResourceGroup`: a reusable group's members cannot reach the model's subnet and security
/// group, only each other.)
#[derive(InfraModel)]
struct WebFleet {
    #[component(Vpc::new("fleet-vpc", "10.0.0.0/16"))]
    vpc: Vpc,
    #[component(Subnet::new("fleet-subnet", ctx.model.vpc, "10.0.1.0/24"))]
    subnet: Subnet,
    #[component(InternetGateway::new("fleet-igw", ctx.model.vpc))]
    igw: InternetGateway,
    #[component(RouteTable::new("fleet-rtb", ctx.model.vpc, ctx.model.subnet))]
    rtb: RouteTable,
    #[component(Route::new("default-route", ctx.model.rtb, "0.0.0.0/0", RouteTarget::gateway(ctx.model.igw)))]
    default_route: Route,
    #[component(SecurityGroup::new("fleet-web", "SSH and HTTP from anywhere", ctx.model.vpc))]
    sg: SecurityGroup,
    #[component(SecurityGroupRule::ingress("ssh", ctx.model.sg, "tcp", 22, 22, "0.0.0.0/0"))]
    ssh: SecurityGroupRule,
    #[component(SecurityGroupRule::ingress("http", ctx.model.sg, "tcp", 80, 80, "0.0.0.0/0"))]
    http: SecurityGroupRule,
    #[component(KeyPair::new("fleet-key").ensure_unique(true).private_key_file(key_file()))]
    keypair: KeyPair,
    #[component(MultiResource::new(
        NetworkInterface::new("web-nic", ctx.comp.container.container.subnet)
            .description("web server interface")
            .security_groups([ctx.comp.container.container.sg])))]
    nics: MultiResource<NetworkInterface>,
    #[component(MultiResource::new(
        Instance::with_interfaces(
            "web",
            Image::latest("amazon", "al2023-ami-2023*-x86_64"),
            [ctx.comp.container.container.nics[ctx.name]],
        )
        .instance_type("t3.micro")
        .key_pair(ctx.comp.container.container.keypair)))]
    web: MultiResource<Instance>,
    #[component(MultiResource::new(
        PublicIp::for_instance("web-ip", ctx.comp.container.container.web[ctx.name])
            .internet_gateway(ctx.comp.container.container.igw)))]
    ips: MultiResource<PublicIp>,
}

namespace! {
    /// One `web` role per instance; growing the namespace grows the fleet.
    struct Fleet for WebFleet {
        vars { HTTP_PORT = "80", URL = "http://!{PUBLIC_IP}:!{HTTP_PORT}/" }
        web: MultiRole = MultiRole::new(
            Role::new("web")
                .host_ref(infra.web[ctx.name])
                .var("PUBLIC_IP", infra.ips[ctx.name].ip)
                .var("PRIVATE_IP", infra.web[ctx.name].private_ip)),
    }
}

/// Whether the endpoint is a local emulator (no EC2 rate limits to respect).
fn local_endpoint() -> bool {
    ["AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .any(|u| u.contains("://127.") || u.contains("://localhost") || u.contains("://[::1]"))
}

fn orchestration() -> ActuatorOrchestration {
    let k: usize = std::env::var("AWS_EXAMPLE_INSTANCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let infra = WebFleet::instance("fleet");
    let ns = Fleet::instance("fleet-ns", &infra);
    for i in 1..=k {
        ns.index(ns.root().web, i);
    }
    let region = std::env::var("AWS_REGION")
        .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|_| "eu-west-2".to_owned());
    // Credentials and the endpoint come from the standard chain (AWS_ENDPOINT_URL for moto).
    let mut aws = AwsProxy::new("aws").default_region(region).system(SYSTEM);
    if local_endpoint() {
        aws = aws.limits(ApiLimits::unlimited());
    }
    ActuatorOrchestration::new(SYSTEM)
        .infra(&infra)
        .namespace(&ns)
        .proxy(Arc::new(aws))
}

fn main() -> ExitCode {
    actuator::cli::main(orchestration)
}
