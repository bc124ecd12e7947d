//! The AWS resources: every parameter of the original's `provisioners/aws` resources, as typed
//! builders. References to other resources (`Ref<Vpc>`, `Out<IpAddr>` …) are dependency edges, so
//! a subnet is created after its VPC and deleted before it.
//!
//! Every resource takes `.cloud(name)` (which [`AwsProxy`](super::AwsProxy) provisions it, when a
//! model uses several) and `.region(region)` (else the proxy's default region). Unlike the
//! original, the two are separate: the proxy's name is not a region.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use actuator::Resource;
use actuator::model::args::{ArgCx, ArgValue};
use actuator::model::{At, Cidr, Id, IntoRef, IntoVal, Out, Ref, Refs, Unparsed, Val};
use serde_json::{Value, json};

/// A resource's region, for the proxy to choose its client by.
pub(crate) trait Placed {
    /// Its own region (`None`: the proxy's default).
    fn region(&self) -> Option<&str>;
}

macro_rules! placement {
    ($t:ty) => {
        impl Placed for $t {
            fn region(&self) -> Option<&str> {
                self.region.as_deref()
            }
        }
        impl $t {
            /// Provisions it with the proxy named `cloud` (when the model uses several).
            pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
                self.cloud = Some(cloud.into());
                self
            }
            /// Creates it in `region` instead of the proxy's default region.
            pub fn region(mut self, region: impl Into<String>) -> Self {
                self.region = Some(region.into());
                self
            }
        }
    };
}

/// A VPC.
///
/// Outputs: `id`, `cidr`, `region`.
///
/// ```
/// use actuator::model::Val;
/// use actuator_aws::Vpc;
/// let v = Vpc::new("main", "10.0.0.0/16").ipv6(true).tenancy("dedicated").region("eu-west-1");
/// assert_eq!(v.cidr_block, Val::Lit("10.0.0.0/16".parse().unwrap()));
/// ```
///
/// The range is a [`Cidr`]: text that is not one is the pre-flight's error, and an id is not a
/// range:
///
/// ```compile_fail
/// use actuator::prelude::*;
/// use actuator_aws::{Subnet, Vpc};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(Subnet::new("sn", ctx.model.vpc, "10.0.1.0/24"))]
///     subnet: Subnet,
///     // A subnet's id where a range is expected: `Out<Id<Subnet>>` is not a value of type `Cidr`.
///     #[component(Vpc::new("other", ctx.model.subnet.id))]
///     other: Vpc,
/// }
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.Vpc", outputs(id: Id<Self>, cidr: Cidr, region: String))]
pub struct Vpc {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// Its IPv4 range, e.g. `10.0.0.0/16`.
    pub cidr_block: Val<Cidr>,
    /// Whether Amazon assigns it an IPv6 /56.
    pub amazon_provided_ipv6_cidr_block: bool,
    /// `default`, `dedicated` or `host`.
    pub instance_tenancy: String,
}
placement!(Vpc);

impl Vpc {
    /// A VPC `name` with IPv4 range `cidr_block`.
    pub fn new(name: impl Into<String>, cidr_block: impl IntoVal<Cidr>) -> Self {
        Vpc {
            name: name.into(),
            cloud: None,
            region: None,
            cidr_block: cidr_block.into_val(),
            amazon_provided_ipv6_cidr_block: false,
            instance_tenancy: "default".into(),
        }
    }
    /// Asks for an Amazon-provided IPv6 block.
    pub fn ipv6(mut self, yes: bool) -> Self {
        self.amazon_provided_ipv6_cidr_block = yes;
        self
    }
    /// Sets the instance tenancy (`default`, `dedicated`, `host`).
    pub fn tenancy(mut self, tenancy: impl Into<String>) -> Self {
        self.instance_tenancy = tenancy.into();
        self
    }
}

/// A subnet of a VPC.
///
/// Outputs: `id`, `vpc_id`, `availability_zone`, `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{Subnet, Vpc};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(Subnet::new("public", ctx.model.vpc, "10.0.1.0/24")
///         .availability_zone("eu-west-2a").map_public_ip_on_launch(true))]
///     public: Subnet,
/// }
/// let net = Net::instance("net");
/// let s = net.get::<Subnet>(&net.root().public).unwrap();
/// assert_eq!(s.availability_zone.as_deref(), Some("eu-west-2a"));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.Subnet", outputs(id: Id<Self>, vpc_id: Id<Vpc>, availability_zone: String, region: String), update(map_public_ip_on_launch))]
pub struct Subnet {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// Its IPv4 range, inside the VPC's.
    pub cidr_block: Val<Cidr>,
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// The availability zone (`None`: EC2 chooses).
    pub availability_zone: Option<String>,
    /// An IPv6 range inside the VPC's (a /64), if any.
    pub ipv6_cidr_block: Option<Val<Cidr>>,
    /// Whether instances launched into it get a public IPv4 address.
    pub map_public_ip_on_launch: bool,
}
placement!(Subnet);

impl Subnet {
    /// A subnet `name` of `vpc` with range `cidr_block`.
    pub fn new(
        name: impl Into<String>,
        vpc: impl IntoRef<Vpc>,
        cidr_block: impl IntoVal<Cidr>,
    ) -> Self {
        Subnet {
            name: name.into(),
            cloud: None,
            region: None,
            cidr_block: cidr_block.into_val(),
            vpc: vpc.into_ref(),
            availability_zone: None,
            ipv6_cidr_block: None,
            map_public_ip_on_launch: false,
        }
    }
    /// Places it in an availability zone.
    pub fn availability_zone(mut self, az: impl Into<String>) -> Self {
        self.availability_zone = Some(az.into());
        self
    }
    /// Gives it an IPv6 range (a /64 of the VPC's).
    pub fn ipv6_cidr_block(mut self, cidr: impl IntoVal<Cidr>) -> Self {
        self.ipv6_cidr_block = Some(cidr.into_val());
        self
    }
    /// Instances launched into it get a public IPv4 address.
    pub fn map_public_ip_on_launch(mut self, yes: bool) -> Self {
        self.map_public_ip_on_launch = yes;
        self
    }
}

/// An internet gateway, attached to a VPC.
///
/// Outputs: `id`, `vpc_id`, `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{InternetGateway, Vpc};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(InternetGateway::new("igw", ctx.model.vpc))]
///     igw: InternetGateway,
/// }
/// let net = Net::instance("net");
/// assert_eq!(net.get::<InternetGateway>(&net.root().igw).unwrap().vpc.at(), net.root().vpc.at());
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.InternetGateway", outputs(id: Id<Self>, vpc_id: Id<Vpc>, region: String))]
pub struct InternetGateway {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// The VPC it is attached to.
    pub vpc: Ref<Vpc>,
}
placement!(InternetGateway);

impl InternetGateway {
    /// An internet gateway `name` attached to `vpc`.
    pub fn new(name: impl Into<String>, vpc: impl IntoRef<Vpc>) -> Self {
        InternetGateway {
            name: name.into(),
            cloud: None,
            region: None,
            vpc: vpc.into_ref(),
        }
    }
}

/// A route table of a VPC, associated with subnets.
///
/// Outputs: `id`, `associations` (comma-separated association ids), `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{RouteTable, Subnet, Vpc};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(Subnet::new("a", ctx.model.vpc, "10.0.1.0/24"))]
///     a: Subnet,
///     #[component(Subnet::new("b", ctx.model.vpc, "10.0.2.0/24"))]
///     b: Subnet,
///     #[component(RouteTable::new("rtb", ctx.model.vpc, ctx.model.a).subnet(ctx.model.b))]
///     rtb: RouteTable,
/// }
/// let net = Net::instance("net");
/// assert_eq!(net.get::<RouteTable>(&net.root().rtb).unwrap().subnets.len(), 2);
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.RouteTable", outputs(id: Id<Self>, associations: String, region: String))]
pub struct RouteTable {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// The VPC.
    pub vpc: Ref<Vpc>,
    /// The subnets it is associated with.
    pub subnets: Vec<Ref<Subnet>>,
}
placement!(RouteTable);

impl RouteTable {
    /// A route table `name` of `vpc`, associated with `subnet` (the original's signature).
    pub fn new(
        name: impl Into<String>,
        vpc: impl IntoRef<Vpc>,
        subnet: impl IntoRef<Subnet>,
    ) -> Self {
        RouteTable::unassociated(name, vpc).subnet(subnet)
    }
    /// A route table with no subnet yet (add them with [`RouteTable::subnet`]).
    pub fn unassociated(name: impl Into<String>, vpc: impl IntoRef<Vpc>) -> Self {
        RouteTable {
            name: name.into(),
            cloud: None,
            region: None,
            vpc: vpc.into_ref(),
            subnets: Vec::new(),
        }
    }
    /// Associates it with one more subnet.
    pub fn subnet(mut self, subnet: impl IntoRef<Subnet>) -> Self {
        self.subnets.push(subnet.into_ref());
        self
    }
}

/// Where a route sends its traffic: exactly one target, given to [`Route::new`] (so a route
/// without one, or with two, cannot be written).
///
/// ```
/// # use actuator::prelude::*;
/// # use actuator_aws::{InternetGateway, RouteTarget, Vpc};
/// # #[derive(InfraModel)]
/// # struct Net {
/// #     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
/// #     vpc: Vpc,
/// #     #[component(InternetGateway::new("igw", ctx.model.vpc))]
/// #     igw: InternetGateway,
/// # }
/// # let net = Net::instance("net");
/// let through_igw = RouteTarget::gateway(net.root().igw);
/// let through_nat = RouteTarget::nat_gateway("nat-0abc");
/// assert_ne!(through_igw, through_nat);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum RouteTarget {
    /// An internet gateway of the model.
    Gateway(Ref<InternetGateway>),
    /// An egress-only internet gateway, by id.
    EgressOnlyGateway(Val<Id<EgressOnlyGateway>>),
    /// An instance of the model acting as a NAT.
    NatInstance(Ref<Instance>),
    /// A NAT gateway, by id.
    NatGateway(Val<Id<NatGateway>>),
    /// A network interface of the model.
    NetworkInterface(Ref<NetworkInterface>),
    /// A VPC peering connection, by id.
    PeeringConnection(Val<Id<PeeringConnection>>),
}

/// An egress-only internet gateway: not created by a model, named by id
/// ([`RouteTarget::egress_only_gateway`]), so that only its id is taken there.
#[derive(Debug)]
pub enum EgressOnlyGateway {}

/// A NAT gateway: not created by a model, named by id ([`RouteTarget::nat_gateway`]).
#[derive(Debug)]
pub enum NatGateway {}

/// A VPC peering connection: not created by a model, named by id
/// ([`RouteTarget::peering_connection`]).
#[derive(Debug)]
pub enum PeeringConnection {}

impl RouteTarget {
    /// Through an internet gateway of the model.
    pub fn gateway(igw: impl IntoRef<InternetGateway>) -> Self {
        RouteTarget::Gateway(igw.into_ref())
    }
    /// Through an egress-only internet gateway (by id).
    pub fn egress_only_gateway(id: impl IntoVal<Id<EgressOnlyGateway>>) -> Self {
        RouteTarget::EgressOnlyGateway(id.into_val())
    }
    /// Through an instance of the model acting as a NAT.
    pub fn nat_instance(instance: impl IntoRef<Instance>) -> Self {
        RouteTarget::NatInstance(instance.into_ref())
    }
    /// Through a NAT gateway (by id).
    pub fn nat_gateway(id: impl IntoVal<Id<NatGateway>>) -> Self {
        RouteTarget::NatGateway(id.into_val())
    }
    /// Through a network interface of the model.
    pub fn network_interface(eni: impl IntoRef<NetworkInterface>) -> Self {
        RouteTarget::NetworkInterface(eni.into_ref())
    }
    /// Through a VPC peering connection (by id).
    pub fn peering_connection(id: impl IntoVal<Id<PeeringConnection>>) -> Self {
        RouteTarget::PeeringConnection(id.into_val())
    }
}

impl Refs for RouteTarget {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        match self {
            RouteTarget::Gateway(r) => r.visit_refs(f),
            RouteTarget::NatInstance(r) => r.visit_refs(f),
            RouteTarget::NetworkInterface(r) => r.visit_refs(f),
            RouteTarget::EgressOnlyGateway(v) => v.visit_refs(f),
            RouteTarget::NatGateway(v) => v.visit_refs(f),
            RouteTarget::PeeringConnection(v) => v.visit_refs(f),
        }
    }
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        match self {
            RouteTarget::EgressOnlyGateway(v) => v.visit_unparsed(f),
            RouteTarget::NatGateway(v) => v.visit_unparsed(f),
            RouteTarget::PeeringConnection(v) => v.visit_unparsed(f),
            RouteTarget::Gateway(_)
            | RouteTarget::NatInstance(_)
            | RouteTarget::NetworkInterface(_) => {}
        }
    }
}

/// Recorded as `{"kind": …, "target": …}`: a route moved to another target is a change.
impl ArgValue for RouteTarget {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        let (kind, target) = match self {
            RouteTarget::Gateway(r) => ("gateway", r.arg(cx)),
            RouteTarget::EgressOnlyGateway(v) => ("egress_only_gateway", v.arg(cx)),
            RouteTarget::NatInstance(r) => ("nat_instance", r.arg(cx)),
            RouteTarget::NatGateway(v) => ("nat_gateway", v.arg(cx)),
            RouteTarget::NetworkInterface(r) => ("network_interface", r.arg(cx)),
            RouteTarget::PeeringConnection(v) => ("peering_connection", v.arg(cx)),
        };
        json!({ "kind": kind, "target": target })
    }
}

/// A route in a route table: one destination (IPv4 or IPv6 range) and exactly one target.
///
/// Outputs: `route_table_id`, `destination`, `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{InternetGateway, Route, RouteTable, RouteTarget, Subnet, Vpc};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(Subnet::new("subnet", ctx.model.vpc, "10.0.1.0/24"))]
///     subnet: Subnet,
///     #[component(InternetGateway::new("igw", ctx.model.vpc))]
///     igw: InternetGateway,
///     #[component(RouteTable::new("rtb", ctx.model.vpc, ctx.model.subnet))]
///     rtb: RouteTable,
///     #[component(Route::new("default", ctx.model.rtb, "0.0.0.0/0", RouteTarget::gateway(ctx.model.igw)))]
///     default_route: Route,
/// }
/// let net = Net::instance("net");
/// let route = net.get::<Route>(&net.root().default_route).unwrap();
/// assert_eq!(route.destination, Val::Lit("0.0.0.0/0".parse().unwrap()));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.Route", outputs(route_table_id: Id<RouteTable>, destination: Cidr, region: String))]
pub struct Route {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// The route table.
    pub route_table: Ref<RouteTable>,
    /// The destination range: IPv4 (`0.0.0.0/0`) or IPv6 (`::/0`).
    pub destination: Val<Cidr>,
    /// Where the traffic goes.
    pub target: RouteTarget,
}
placement!(Route);

impl Route {
    /// A route `name` in `route_table` sending `destination` (an IPv4 or IPv6 range) to `target`.
    pub fn new(
        name: impl Into<String>,
        route_table: impl IntoRef<RouteTable>,
        destination: impl IntoVal<Cidr>,
        target: RouteTarget,
    ) -> Self {
        Route {
            name: name.into(),
            cloud: None,
            region: None,
            route_table: route_table.into_ref(),
            destination: destination.into_val(),
            target,
        }
    }
}

/// A security group of a VPC. Its cloud-side name is the component's display name.
///
/// Outputs: `id`, `region`.
///
/// ```
/// use actuator_aws::SecurityGroup;
/// # use actuator::prelude::*;
/// # use actuator_aws::Vpc;
/// # #[derive(InfraModel)]
/// # struct Net {
/// #     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
/// #     vpc: Vpc,
/// #     #[component(SecurityGroup::new("web", "web servers", ctx.model.vpc).region("eu-west-1"))]
/// #     sg: SecurityGroup,
/// # }
/// # let net = Net::instance("net");
/// let sg = net.get::<SecurityGroup>(&net.root().sg).unwrap();
/// assert_eq!((sg.description.as_str(), sg.region.as_deref()), ("web servers", Some("eu-west-1")));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.SecurityGroup", outputs(id: Id<Self>, region: String))]
pub struct SecurityGroup {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// Its description (EC2 requires one).
    pub description: String,
    /// The VPC.
    pub vpc: Ref<Vpc>,
}
placement!(SecurityGroup);

impl SecurityGroup {
    /// A security group `name` in `vpc`.
    pub fn new(
        name: impl Into<String>,
        description: impl Into<String>,
        vpc: impl IntoRef<Vpc>,
    ) -> Self {
        SecurityGroup {
            name: name.into(),
            cloud: None,
            region: None,
            description: description.into(),
            vpc: vpc.into_ref(),
        }
    }
}

/// Whether a rule admits traffic in or lets it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleKind {
    /// Incoming traffic.
    Ingress,
    /// Outgoing traffic.
    Egress,
}

impl Refs for RuleKind {
    fn visit_refs(&self, _: &mut dyn FnMut(At)) {}
}

impl ArgValue for RuleKind {
    fn arg(&self, _: &ArgCx<'_>) -> Value {
        json!(match self {
            RuleKind::Ingress => "ingress",
            RuleKind::Egress => "egress",
        })
    }
}

/// One rule of a security group. Unlike the original's, it is revoked on teardown.
///
/// Its peer range, ports, protocol and description change in place (`ModifySecurityGroupRules`
/// keeps the rule's id); a change of group or direction replaces it.
///
/// Outputs: `group_id`, `rule_id`, `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{RuleKind, SecurityGroup, SecurityGroupRule, Vpc};
///
/// #[derive(InfraModel)]
/// struct Fw {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(SecurityGroup::new("web", "web servers", ctx.model.vpc))]
///     sg: SecurityGroup,
///     #[component(SecurityGroupRule::ingress("ssh", ctx.model.sg, "tcp", 22, 22, "0.0.0.0/0"))]
///     ssh: SecurityGroupRule,
///     // The peer range may be another resource's range output: the whole VPC, as EC2 has it.
///     #[component(SecurityGroupRule::ingress("internal", ctx.model.sg, "-1", -1, -1, ctx.model.vpc.cidr))]
///     internal: SecurityGroupRule,
/// }
/// let fw = Fw::instance("fw");
/// assert_eq!(fw.get::<SecurityGroupRule>(&fw.root().ssh).unwrap().kind, RuleKind::Ingress);
/// let internal = fw.get::<SecurityGroupRule>(&fw.root().internal).unwrap();
/// assert!(matches!(internal.cidrip, Val::Out(o) if o.attr() == "cidr"));
/// ```
///
/// An output of another type is not a range: the VPC's id does not compile there.
///
/// ```compile_fail
/// use actuator::prelude::*;
/// use actuator_aws::{SecurityGroup, SecurityGroupRule, Vpc};
///
/// #[derive(InfraModel)]
/// struct Fw {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(SecurityGroup::new("web", "web servers", ctx.model.vpc))]
///     sg: SecurityGroup,
///     #[component(SecurityGroupRule::ingress("internal", ctx.model.sg, "-1", -1, -1, ctx.model.vpc.id))]
///     internal: SecurityGroupRule,
/// }
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "aws.SecurityGroupRule",
    outputs(group_id: Id<SecurityGroup>, rule_id: String, region: String),
    update(cidrip, from_port, to_port, ip_protocol, description)
)]
pub struct SecurityGroupRule {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// The security group.
    pub security_group: Ref<SecurityGroup>,
    /// Ingress or egress.
    pub kind: RuleKind,
    /// The peer range, IPv4 (`0.0.0.0/0`) or IPv6 (`::/0`).
    pub cidrip: Val<Cidr>,
    /// First port (ICMP: type; `-1` for all).
    pub from_port: i32,
    /// Last port (ICMP: code; `-1` for all).
    pub to_port: i32,
    /// `tcp`, `udp`, `icmp`, a protocol number, or `-1` for all.
    pub ip_protocol: String,
    /// What the rule is for (shown in the console; at most 255 characters).
    pub description: Option<String>,
}
placement!(SecurityGroupRule);

impl SecurityGroupRule {
    /// A rule (the original's argument order).
    pub fn new(
        name: impl Into<String>,
        security_group: impl IntoRef<SecurityGroup>,
        kind: RuleKind,
        cidrip: impl IntoVal<Cidr>,
        from_port: i32,
        to_port: i32,
        ip_protocol: impl Into<String>,
    ) -> Self {
        SecurityGroupRule {
            name: name.into(),
            cloud: None,
            region: None,
            security_group: security_group.into_ref(),
            kind,
            cidrip: cidrip.into_val(),
            from_port,
            to_port,
            ip_protocol: ip_protocol.into(),
            description: None,
        }
    }
    /// Describes the rule.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }
    /// An ingress rule for `protocol` ports `from..=to` from `cidr`.
    pub fn ingress(
        name: impl Into<String>,
        security_group: impl IntoRef<SecurityGroup>,
        protocol: impl Into<String>,
        from: i32,
        to: i32,
        cidr: impl IntoVal<Cidr>,
    ) -> Self {
        SecurityGroupRule::new(
            name,
            security_group,
            RuleKind::Ingress,
            cidr,
            from,
            to,
            protocol,
        )
    }
    /// An egress rule for `protocol` ports `from..=to` to `cidr`.
    pub fn egress(
        name: impl Into<String>,
        security_group: impl IntoRef<SecurityGroup>,
        protocol: impl Into<String>,
        from: i32,
        to: i32,
        cidr: impl IntoVal<Cidr>,
    ) -> Self {
        SecurityGroupRule::new(
            name,
            security_group,
            RuleKind::Egress,
            cidr,
            from,
            to,
            protocol,
        )
    }
}

/// An SSH key pair: created by EC2 (the private key is written to a 0600 file, or kept in memory
/// only, never in the state), imported from a public key file, or an existing one reused.
///
/// * If a key pair of that name already exists and is not this system's, it is reused and
///   retained on teardown (giving a `public_key_file` then is an error, as in the original).
/// * `ensure_unique` appends a random suffix to the name; instances use the actual name through
///   the `key_name` output (the original used the model name and broke).
///
/// Outputs: `key_name`, `id`, `fingerprint`, `region`.
///
/// ```
/// use actuator_aws::KeyPair;
/// let k = KeyPair::new("deploy").ensure_unique(true).private_key_file("/tmp/deploy.pem");
/// assert!(k.ensure_unique && !k.retain_on_reverse);
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.KeyPair", outputs(key_name: String, id: Id<Self>, fingerprint: String, region: String))]
pub struct KeyPair {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// Append a random suffix to the cloud-side name.
    pub ensure_unique: bool,
    /// Import this OpenSSH public key instead of letting EC2 create the pair.
    pub public_key_file: Option<PathBuf>,
    /// Where to write the private key EC2 creates (mode 0600).
    pub private_key_file: Option<PathBuf>,
    /// Keep the key pair on teardown.
    pub retain_on_reverse: bool,
    /// `rsa` (EC2's default) or `ed25519`, for created keys.
    pub key_type: Option<String>,
}
placement!(KeyPair);

impl KeyPair {
    /// A key pair named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        KeyPair {
            name: name.into(),
            cloud: None,
            region: None,
            ensure_unique: false,
            public_key_file: None,
            private_key_file: None,
            retain_on_reverse: false,
            key_type: None,
        }
    }
    /// Makes the cloud-side name unique with a random suffix.
    pub fn ensure_unique(mut self, yes: bool) -> Self {
        self.ensure_unique = yes;
        self
    }
    /// Imports the OpenSSH public key in `path`.
    pub fn public_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.public_key_file = Some(path.into());
        self
    }
    /// Writes the private key of a created pair to `path` (mode 0600).
    pub fn private_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.private_key_file = Some(path.into());
        self
    }
    /// Keeps the key pair when the system is torn down.
    pub fn retain_on_reverse(mut self, yes: bool) -> Self {
        self.retain_on_reverse = yes;
        self
    }
    /// `rsa` or `ed25519` for a created pair.
    pub fn key_type(mut self, key_type: impl Into<String>) -> Self {
        self.key_type = Some(key_type.into());
        self
    }
}

/// A network interface in a subnet.
///
/// Outputs: `id`, `private_ip`, `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{NetworkInterface, SecurityGroup, Subnet, Vpc};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(Subnet::new("subnet", ctx.model.vpc, "10.0.1.0/24"))]
///     subnet: Subnet,
///     #[component(SecurityGroup::new("sg", "in", ctx.model.vpc))]
///     sg: SecurityGroup,
///     #[component(NetworkInterface::new("nic", ctx.model.subnet)
///         .security_groups([ctx.model.sg]).private_ip_address("10.0.1.10")
///         .private_ip_addresses(["10.0.1.11"]))]
///     nic: NetworkInterface,
/// }
/// let net = Net::instance("net");
/// assert_eq!(net.get::<NetworkInterface>(&net.root().nic).unwrap().private_ip_addresses.len(), 1);
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "aws.NetworkInterface", outputs(id: Id<Self>, private_ip: IpAddr, region: String))]
pub struct NetworkInterface {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// The subnet.
    pub subnet: Ref<Subnet>,
    /// A description.
    pub description: String,
    /// Its security groups (none: the VPC's default group).
    pub sec_groups: Vec<Ref<SecurityGroup>>,
    /// Its primary private address (`None`: EC2 chooses).
    pub private_ip_address: Option<Val<IpAddr>>,
    /// Further (secondary) private addresses.
    pub private_ip_addresses: Vec<Val<IpAddr>>,
}
placement!(NetworkInterface);

impl NetworkInterface {
    /// A network interface `name` in `subnet`.
    pub fn new(name: impl Into<String>, subnet: impl IntoRef<Subnet>) -> Self {
        NetworkInterface {
            name: name.into(),
            cloud: None,
            region: None,
            subnet: subnet.into_ref(),
            description: String::new(),
            sec_groups: Vec::new(),
            private_ip_address: None,
            private_ip_addresses: Vec::new(),
        }
    }
    /// Sets the description.
    pub fn description(mut self, d: impl Into<String>) -> Self {
        self.description = d.into();
        self
    }
    /// Sets its security groups.
    pub fn security_groups<R: IntoRef<SecurityGroup>>(
        mut self,
        groups: impl IntoIterator<Item = R>,
    ) -> Self {
        self.sec_groups
            .extend(groups.into_iter().map(IntoRef::into_ref));
        self
    }
    /// Sets the primary private address.
    pub fn private_ip_address(mut self, ip: impl IntoVal<IpAddr>) -> Self {
        self.private_ip_address = Some(ip.into_val());
        self
    }
    /// Adds secondary private addresses.
    pub fn private_ip_addresses<V: IntoVal<IpAddr>>(
        mut self,
        ips: impl IntoIterator<Item = V>,
    ) -> Self {
        self.private_ip_addresses
            .extend(ips.into_iter().map(IntoVal::into_val));
        self
    }
}

/// What an Elastic IP is associated with: exactly one of the three, by construction.
#[derive(Clone, Debug, PartialEq)]
pub enum IpTarget {
    /// An instance of the model (its primary private address).
    Instance(Ref<Instance>),
    /// A network interface of the model (its primary private address).
    NetworkInterface(Ref<NetworkInterface>),
    /// Whichever network interface of the region holds this private address.
    PrivateIp(Val<IpAddr>),
}

impl Refs for IpTarget {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        match self {
            IpTarget::Instance(r) => r.visit_refs(f),
            IpTarget::NetworkInterface(r) => r.visit_refs(f),
            IpTarget::PrivateIp(v) => v.visit_refs(f),
        }
    }
    fn visit_unparsed(&self, f: &mut dyn FnMut(Unparsed<'_>)) {
        if let IpTarget::PrivateIp(v) = self {
            v.visit_unparsed(f)
        }
    }
}

impl ArgValue for IpTarget {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        let (kind, target) = match self {
            IpTarget::Instance(r) => ("instance", r.arg(cx)),
            IpTarget::NetworkInterface(r) => ("network_interface", r.arg(cx)),
            IpTarget::PrivateIp(v) => ("private_ip", v.arg(cx)),
        };
        json!({ "kind": kind, "target": target })
    }
}

/// An Elastic IP, allocated and associated with exactly one instance, network interface or
/// private address (the original checked "exactly one" at run time; here the constructor says
/// which). Addressable: its `ip` output is the public address.
///
/// Outputs: `ip`, `allocation_id`, `association_id`, `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{Instance, PublicIp};
///
/// #[derive(InfraModel)]
/// struct One {
///     #[component(Instance::new("web", "ami-087534078663b6450").instance_type("t3.micro"))]
///     web: Instance,
///     #[component(PublicIp::for_instance("web-ip", ctx.model.web))]
///     ip: PublicIp,
/// }
/// let one = One::instance("one");
/// assert_eq!(one.get::<PublicIp>(&one.root().ip).unwrap().domain, "vpc");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "aws.PublicIp",
    outputs(ip: IpAddr, allocation_id: String, association_id: String, region: String),
    addressable,
    update(target)
)]
pub struct PublicIp {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// What it is associated with.
    pub target: IpTarget,
    /// `vpc` (the only domain EC2 still has).
    pub domain: String,
    /// Allocate from this public IPv4 pool (BYOIP).
    pub public_ipv4_pool: Option<String>,
    /// Use this already-allocated address instead of allocating one (it is kept on teardown).
    pub address: Option<String>,
    /// The internet gateway the address needs: attached before the address is associated, and
    /// detached only after it is released (AWS refuses both the other way round).
    pub internet_gateway: Option<Ref<InternetGateway>>,
}
placement!(PublicIp);

impl PublicIp {
    fn with(name: impl Into<String>, target: IpTarget) -> Self {
        PublicIp {
            name: name.into(),
            cloud: None,
            region: None,
            target,
            domain: "vpc".into(),
            public_ipv4_pool: None,
            address: None,
            internet_gateway: None,
        }
    }
    /// An Elastic IP for `instance`.
    pub fn for_instance(name: impl Into<String>, instance: impl IntoRef<Instance>) -> Self {
        PublicIp::with(name, IpTarget::Instance(instance.into_ref()))
    }
    /// An Elastic IP for a network interface.
    pub fn for_interface(name: impl Into<String>, eni: impl IntoRef<NetworkInterface>) -> Self {
        PublicIp::with(name, IpTarget::NetworkInterface(eni.into_ref()))
    }
    /// An Elastic IP for whichever interface holds `private_ip`.
    pub fn for_private_ip(name: impl Into<String>, private_ip: impl IntoVal<IpAddr>) -> Self {
        PublicIp::with(name, IpTarget::PrivateIp(private_ip.into_val()))
    }
    /// Sets the domain (`vpc`).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = domain.into();
        self
    }
    /// Allocates from a BYOIP pool.
    pub fn public_ipv4_pool(mut self, pool: impl Into<String>) -> Self {
        self.public_ipv4_pool = Some(pool.into());
        self
    }
    /// Uses an address already allocated to the account (kept on teardown).
    pub fn address(mut self, ip: impl Into<String>) -> Self {
        self.address = Some(ip.into());
        self
    }
    /// Orders the address after `igw`'s attachment (and its release before the detachment).
    pub fn internet_gateway(mut self, igw: impl IntoRef<InternetGateway>) -> Self {
        self.internet_gateway = Some(igw.into_ref());
        self
    }
}

/// The machine image an instance boots.
///
/// ```
/// use actuator_aws::Image;
/// assert_eq!(Image::from("ami-0123"), Image::Id("ami-0123".into()));
/// assert!(matches!(Image::latest("amazon", "al2023-ami-2023*-x86_64"), Image::Latest { .. }));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    /// An AMI id (a literal or another component's output).
    Id(Val<String>),
    /// The newest image of `owner` (an account id, `amazon`, `self` …) whose name matches
    /// `name` (EC2 wildcards `*` and `?`), looked up in the instance's region when it is created —
    /// AMI ids differ per region.
    Latest {
        /// The owner.
        owner: String,
        /// The name pattern.
        name: String,
    },
}

/// A literal id is recorded as itself; `Latest` as the query, not the id it found, so a newer
/// image does not replace a running instance on its own.
impl ArgValue for Image {
    fn arg(&self, cx: &ArgCx<'_>) -> Value {
        match self {
            Image::Id(v) => v.arg(cx),
            Image::Latest { owner, name } => json!({ "latest": { "owner": owner, "name": name } }),
        }
    }
}

impl Image {
    /// The newest image of `owner` named like `pattern`.
    pub fn latest(owner: impl Into<String>, pattern: impl Into<String>) -> Self {
        Image::Latest {
            owner: owner.into(),
            name: pattern.into(),
        }
    }
}

impl Refs for Image {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        if let Image::Id(v) = self {
            v.visit_refs(f)
        }
    }
}
impl From<&str> for Image {
    fn from(s: &str) -> Self {
        Image::Id(Val::Lit(s.to_owned()))
    }
}
impl From<String> for Image {
    fn from(s: String) -> Self {
        Image::Id(Val::Lit(s))
    }
}
impl From<Out<String>> for Image {
    fn from(o: Out<String>) -> Self {
        Image::Id(Val::Out(o))
    }
}

/// An EC2 instance: created with a client token (a retried call cannot start a twin), tagged, and
/// waited for until it is running. Addressable: `ip` is its public address if it has one at
/// launch, else its private one; both are outputs of their own (the original never set them).
///
/// Give it a `subnet` (a primary interface is created there and deleted with the instance) or
/// `interfaces` of the model (attached in order; security groups then belong on the interfaces),
/// or neither (the default VPC).
///
/// Its own [`tags`](Instance::tag) change in place; any other change (the instance type
/// included: EC2 changes it only on a stopped instance) replaces it, and an Elastic IP of the
/// model follows it (it is re-associated). The old instance is terminated before the new one is
/// launched: an interface of the model can be attached to one instance only.
///
/// Outputs: `id`, `ip`, `private_ip`, `public_ip` (empty if none), `region`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_aws::{Image, Instance, KeyPair, SecurityGroup, Subnet, Vpc};
///
/// #[derive(InfraModel)]
/// struct Web {
///     #[component(Vpc::new("vpc", "10.0.0.0/16"))]
///     vpc: Vpc,
///     #[component(Subnet::new("subnet", ctx.model.vpc, "10.0.1.0/24").map_public_ip_on_launch(true))]
///     subnet: Subnet,
///     #[component(SecurityGroup::new("sg", "web", ctx.model.vpc))]
///     sg: SecurityGroup,
///     #[component(KeyPair::new("deploy").ensure_unique(true))]
///     key: KeyPair,
///     #[component(Instance::in_subnet("web", Image::latest("amazon", "al2023-ami-2023*-x86_64"), ctx.model.subnet)
///         .instance_type("t3.micro").key_pair(ctx.model.key).security_groups([ctx.model.sg]))]
///     web: Instance,
/// }
///
/// namespace! {
///     struct Site for Web {
///         // A role on the instance: its `ip` output is the host; its addresses are outputs too.
///         web: Role = Role::new("web").host_ref(infra.web).var("PRIVATE_IP", infra.web.private_ip),
///     }
/// }
/// let infra = Web::instance("web");
/// let _site = Site::instance("site", &infra);
/// assert_eq!(infra.get::<Instance>(&infra.root().web).unwrap().instance_type.as_deref(), Some("t3.micro"));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "aws.Instance",
    outputs(id: Id<Self>, ip: IpAddr, private_ip: IpAddr, public_ip: String, region: String),
    addressable,
    update(tags)
)]
pub struct Instance {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its region, if not the proxy's default.
    pub region: Option<String>,
    /// The image it boots.
    pub image: Image,
    /// The instance type (`None`: EC2's default).
    pub instance_type: Option<String>,
    /// Its key pair.
    pub key_pair: Option<Ref<KeyPair>>,
    /// Its security groups (with a subnet or the default one; interfaces carry their own).
    pub sec_groups: Vec<Ref<SecurityGroup>>,
    /// The subnet to launch into ([`Instance::in_subnet`]; `None` with interfaces or the default
    /// subnet).
    pub subnet: Option<Ref<Subnet>>,
    /// Interfaces of the model to attach, device 0, 1, … ([`Instance::with_interfaces`]; they
    /// carry the subnet and the security groups).
    pub network_interfaces: Vec<Ref<NetworkInterface>>,
    /// User data (cloud-init), as text.
    pub user_data: Option<String>,
    /// Tags of your own (besides `Name` and the `actuator:` identity tags); they change in place.
    pub tags: BTreeMap<String, String>,
}
placement!(Instance);

impl Instance {
    /// An instance `name` booting `image` (an AMI id, an output, or [`Image::latest`]) in the
    /// region's default subnet. Where it is placed is chosen once, by the constructor:
    /// [`Instance::in_subnet`] and [`Instance::with_interfaces`] are the others, so an instance
    /// given both a subnet and interfaces (which EC2 refuses) cannot be written.
    pub fn new(name: impl Into<String>, image: impl Into<Image>) -> Self {
        Instance {
            name: name.into(),
            cloud: None,
            region: None,
            image: image.into(),
            instance_type: None,
            key_pair: None,
            sec_groups: Vec::new(),
            subnet: None,
            network_interfaces: Vec::new(),
            user_data: None,
            tags: BTreeMap::new(),
        }
    }
    /// An instance launched into `subnet` of the model, with a primary interface made for it
    /// (and deleted with it).
    pub fn in_subnet(
        name: impl Into<String>,
        image: impl Into<Image>,
        subnet: impl IntoRef<Subnet>,
    ) -> Self {
        Instance {
            subnet: Some(subnet.into_ref()),
            ..Instance::new(name, image)
        }
    }
    /// An instance with interfaces of the model attached in device order (the first is its
    /// primary); they carry its subnet and security groups.
    pub fn with_interfaces<R: IntoRef<NetworkInterface>>(
        name: impl Into<String>,
        image: impl Into<Image>,
        enis: impl IntoIterator<Item = R>,
    ) -> Self {
        Instance {
            network_interfaces: enis.into_iter().map(IntoRef::into_ref).collect(),
            ..Instance::new(name, image)
        }
    }
    /// Adds a tag of your own (changing it later updates the instance in place).
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.insert(key.into(), value.into());
        self
    }
    /// Sets the instance type, e.g. `t3.micro`.
    pub fn instance_type(mut self, t: impl Into<String>) -> Self {
        self.instance_type = Some(t.into());
        self
    }
    /// Sets the key pair.
    pub fn key_pair(mut self, k: impl IntoRef<KeyPair>) -> Self {
        self.key_pair = Some(k.into_ref());
        self
    }
    /// Sets the security groups (of an instance in a subnet or the default one; interfaces carry
    /// their own, and the pre-flight refuses groups given with them).
    pub fn security_groups<R: IntoRef<SecurityGroup>>(
        mut self,
        groups: impl IntoIterator<Item = R>,
    ) -> Self {
        self.sec_groups
            .extend(groups.into_iter().map(IntoRef::into_ref));
        self
    }
    /// Sets user data (cloud-init).
    pub fn user_data(mut self, text: impl Into<String>) -> Self {
        self.user_data = Some(text.into());
        self
    }
}

/// Every kind this module provisions.
pub(crate) const KINDS: &[&str] = &[
    Vpc::KIND,
    Subnet::KIND,
    InternetGateway::KIND,
    RouteTable::KIND,
    Route::KIND,
    SecurityGroup::KIND,
    SecurityGroupRule::KIND,
    KeyPair::KIND,
    NetworkInterface::KIND,
    PublicIp::KIND,
    Instance::KIND,
];
