//! The Azure resources: the original's `AzResourceGroup`, `AzNetwork`, `AzSubnet`,
//! `AzSecurityGroup` / `AzSecurityRule`, `AzPublicIP`, `AzNIC` and `AzServer`, as typed builders,
//! with what the original lacked: every resource is deleted on teardown (not left to its resource
//! group), a network interface may have no public IP, a security group is attached to interfaces
//! or subnets, a rule takes any protocol, a VM takes an SSH key or a password (a [`Secret`]) and
//! outputs its addresses.
//!
//! References to other resources (`Ref<ResourceGroup>` …) are dependency edges: a subnet is
//! created after its network and deleted before it. Every resource takes `.cloud(name)` (which
//! [`AzureProxy`](crate::AzureProxy) provisions it when a model has several); those with a
//! location take `.location(…)` (else their resource group's) and `.tag(k, v)` (tags of your own,
//! next to the proxy's identity tags).
//!
//! Which arguments change in place is declared per type (`update(…)`); any other change replaces
//! the resource. Public IPs and security groups are replaced create-before-destroy (the new one
//! gets a second name, `<name>-r`, while the old one still exists).

use std::collections::BTreeMap;

use serde::Serialize;

use actuator::Resource;
use actuator::model::args::{ArgCx, ArgValue};
use actuator::model::{At, Cidr, Id, IntoRef, IntoVal, Ref, Refs, Val};
use actuator::secret::Secret;

macro_rules! common {
    ($t:ty) => {
        impl $t {
            /// Provisions it with the proxy named `cloud` (when the model uses several).
            pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
                self.cloud = Some(cloud.into());
                self
            }
            /// Adds a tag of your own (the proxy adds its identity tags itself).
            pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.tags.insert(key.into(), value.into());
                self
            }
        }
    };
}

macro_rules! located {
    ($t:ty) => {
        impl $t {
            /// Creates it in `location` (e.g. `westeurope`) instead of its resource group's.
            pub fn location(mut self, location: impl Into<String>) -> Self {
                self.location = Some(location.into());
                self
            }
        }
    };
}

macro_rules! plain_enum {
    ($t:ty) => {
        impl Refs for $t {
            fn visit_refs(&self, _: &mut dyn FnMut(At)) {}
        }
        actuator::arg_via_serde!($t);
    };
}

/// A resource group: the container every other resource lives in, and a subscription-wide name.
///
/// Its name in Azure is generated so that systems and workspaces never collide:
/// `<system>-<workspace>-<name>` (characters Azure does not allow become `-`; too long a name is
/// shortened and given a hash). [`ResourceGroup::exact_name`] fixes it instead.
/// Deleting it deletes everything in it, as Azure does.
///
/// Outputs: `id`, `name` (the Azure name), `location`.
///
/// ```
/// use actuator_azure::ResourceGroup;
/// let g = ResourceGroup::new("cluster").location("westeurope").tag("team", "infra");
/// assert_eq!(g.location.as_deref(), Some("westeurope"));
/// assert_eq!(ResourceGroup::KIND, "azure.ResourceGroup");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "azure.ResourceGroup", outputs(id: Id<Self>, name: String, location: String), update(tags))]
pub struct ResourceGroup {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its location (else the proxy's default location).
    pub location: Option<String>,
    /// Its name in Azure, when not generated.
    pub exact_name: Option<String>,
    /// Tags of your own.
    pub tags: BTreeMap<String, String>,
}
common!(ResourceGroup);
located!(ResourceGroup);

impl ResourceGroup {
    /// A resource group `name`.
    pub fn new(name: impl Into<String>) -> Self {
        ResourceGroup {
            name: name.into(),
            cloud: None,
            location: None,
            exact_name: None,
            tags: BTreeMap::new(),
        }
    }
    /// Uses `name` as the group's Azure name as it is (it must be unused in the subscription;
    /// two workspaces of one model then need two names).
    pub fn exact_name(mut self, name: impl Into<String>) -> Self {
        self.exact_name = Some(name.into());
        self
    }
}

/// A virtual network. Its subnets are resources of their own ([`Subnet`]); an update of the
/// network keeps every subnet it has, managed here or not.
///
/// Outputs: `id`, `name`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_azure::{ResourceGroup, VirtualNetwork};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(ResourceGroup::new("rg").location("westeurope"))]
///     rg: ResourceGroup,
///     #[component(VirtualNetwork::new("vnet", ctx.model.rg, ["10.0.0.0/16"]).dns_servers(["10.0.0.4"]))]
///     vnet: VirtualNetwork,
/// }
/// let net = Net::instance("net");
/// let vnet = net.get::<VirtualNetwork>(&net.root().vnet).unwrap();
/// assert_eq!(vnet.address_prefixes, [Val::Lit("10.0.0.0/16".parse().unwrap())]);
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "azure.VirtualNetwork",
    outputs(id: Id<Self>, name: String),
    update(address_prefixes, dns_servers, tags)
)]
pub struct VirtualNetwork {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its resource group.
    pub resource_group: Ref<ResourceGroup>,
    /// Its location, if not its group's.
    pub location: Option<String>,
    /// Its address ranges, e.g. `10.0.0.0/16`.
    pub address_prefixes: Vec<Val<Cidr>>,
    /// DNS servers for its machines (empty: Azure's).
    pub dns_servers: Vec<String>,
    /// Tags of your own.
    pub tags: BTreeMap<String, String>,
}
common!(VirtualNetwork);
located!(VirtualNetwork);

impl VirtualNetwork {
    /// A network `name` in `resource_group` with `address_prefixes` (literals or range outputs).
    pub fn new<C: IntoVal<Cidr>>(
        name: impl Into<String>,
        resource_group: impl IntoRef<ResourceGroup>,
        address_prefixes: impl IntoIterator<Item = C>,
    ) -> Self {
        VirtualNetwork {
            name: name.into(),
            cloud: None,
            resource_group: resource_group.into_ref(),
            location: None,
            address_prefixes: address_prefixes
                .into_iter()
                .map(IntoVal::into_val)
                .collect(),
            dns_servers: Vec::new(),
            tags: BTreeMap::new(),
        }
    }
    /// Sets the DNS servers.
    pub fn dns_servers<S: Into<String>>(mut self, servers: impl IntoIterator<Item = S>) -> Self {
        self.dns_servers = servers.into_iter().map(Into::into).collect();
        self
    }
}

/// A subnet of a virtual network, optionally behind a network security group. Subnets carry no
/// tags in Azure: they belong to their network's owner.
///
/// Outputs: `id`, `name`, `address_prefix`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_azure::{NetworkSecurityGroup, ResourceGroup, Subnet, VirtualNetwork};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(ResourceGroup::new("rg"))]
///     rg: ResourceGroup,
///     #[component(VirtualNetwork::new("vnet", ctx.model.rg, ["10.0.0.0/16"]))]
///     vnet: VirtualNetwork,
///     #[component(NetworkSecurityGroup::new("fw", ctx.model.rg))]
///     fw: NetworkSecurityGroup,
///     #[component(Subnet::new("front", ctx.model.vnet, "10.0.1.0/24").nsg(ctx.model.fw))]
///     front: Subnet,
/// }
/// let net = Net::instance("net");
/// assert!(net.get::<Subnet>(&net.root().front).unwrap().nsg.is_some());
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "azure.Subnet", outputs(id: Id<Self>, name: String, address_prefix: Cidr), update(nsg))]
pub struct Subnet {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its network.
    pub network: Ref<VirtualNetwork>,
    /// Its address range, inside the network's.
    pub address_prefix: Val<Cidr>,
    /// The security group filtering its traffic.
    pub nsg: Option<Ref<NetworkSecurityGroup>>,
}

impl Subnet {
    /// A subnet `name` of `network` with range `address_prefix`.
    pub fn new(
        name: impl Into<String>,
        network: impl IntoRef<VirtualNetwork>,
        address_prefix: impl IntoVal<Cidr>,
    ) -> Self {
        Subnet {
            name: name.into(),
            cloud: None,
            network: network.into_ref(),
            address_prefix: address_prefix.into_val(),
            nsg: None,
        }
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
    /// Filters its traffic with `nsg`.
    pub fn nsg(mut self, nsg: impl IntoRef<NetworkSecurityGroup>) -> Self {
        self.nsg = Some(nsg.into_ref());
        self
    }
}

/// A network security group: a firewall for subnets ([`Subnet::nsg`]) and network interfaces
/// ([`NetworkInterface::nsg`]). Its rules are resources of their own ([`SecurityRule`]); an update
/// of the group keeps every rule it has.
///
/// Outputs: `id`, `name`.
///
/// ```
/// use actuator_azure::NetworkSecurityGroup;
/// assert_eq!(NetworkSecurityGroup::KIND, "azure.NetworkSecurityGroup");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "azure.NetworkSecurityGroup",
    outputs(id: Id<Self>, name: String),
    update(tags),
    create_before_destroy
)]
pub struct NetworkSecurityGroup {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its resource group.
    pub resource_group: Ref<ResourceGroup>,
    /// Its location, if not its group's.
    pub location: Option<String>,
    /// Tags of your own.
    pub tags: BTreeMap<String, String>,
}
common!(NetworkSecurityGroup);
located!(NetworkSecurityGroup);

impl NetworkSecurityGroup {
    /// A security group `name` in `resource_group`.
    pub fn new(name: impl Into<String>, resource_group: impl IntoRef<ResourceGroup>) -> Self {
        NetworkSecurityGroup {
            name: name.into(),
            cloud: None,
            resource_group: resource_group.into_ref(),
            location: None,
            tags: BTreeMap::new(),
        }
    }
}

/// A rule's protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
    /// ICMP.
    Icmp,
    /// IPsec ESP.
    Esp,
    /// IPsec AH.
    Ah,
    /// Any protocol (`*`).
    #[serde(rename = "*")]
    Any,
}
plain_enum!(Protocol);

impl Protocol {
    /// The name ARM uses.
    pub fn arm(self) -> &'static str {
        match self {
            Protocol::Tcp => "Tcp",
            Protocol::Udp => "Udp",
            Protocol::Icmp => "Icmp",
            Protocol::Esp => "Esp",
            Protocol::Ah => "Ah",
            Protocol::Any => "*",
        }
    }
}

/// Which traffic a rule matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// Incoming.
    Inbound,
    /// Outgoing.
    Outbound,
}
plain_enum!(Direction);

/// What a rule does with what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Access {
    /// Let it through.
    Allow,
    /// Drop it.
    Deny,
}
plain_enum!(Access);

/// One rule of a network security group (the original's `AzSecurityRule`, as a resource of its
/// own: created, updated in place and deleted by itself). Every field but its name and group
/// changes in place.
///
/// Outputs: `id`, `name`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_azure::{Access, Direction, NetworkSecurityGroup, Protocol, ResourceGroup, SecurityRule};
///
/// #[derive(InfraModel)]
/// struct Fw {
///     #[component(ResourceGroup::new("rg"))]
///     rg: ResourceGroup,
///     #[component(NetworkSecurityGroup::new("fw", ctx.model.rg))]
///     fw: NetworkSecurityGroup,
///     #[component(SecurityRule::inbound("ssh", ctx.model.fw, Protocol::Tcp, "22", 100))]
///     ssh: SecurityRule,
///     #[component(SecurityRule::new("no-icmp-out", ctx.model.fw, Protocol::Icmp, Direction::Outbound,
///         "*", Access::Deny, 4000))]
///     icmp: SecurityRule,
/// }
/// let fw = Fw::instance("fw");
/// let r = fw.get::<SecurityRule>(&fw.root().ssh).unwrap();
/// assert_eq!((r.access, r.direction, r.source_address_prefix.as_str()), (Access::Allow, Direction::Inbound, "*"));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "azure.SecurityRule",
    outputs(id: Id<Self>, name: String),
    update(
        protocol,
        direction,
        destination_port_range,
        access,
        priority,
        source_port_range,
        source_address_prefix,
        destination_address_prefix,
        description
    )
)]
pub struct SecurityRule {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its security group.
    pub nsg: Ref<NetworkSecurityGroup>,
    /// The protocol it matches.
    pub protocol: Protocol,
    /// Incoming or outgoing traffic.
    pub direction: Direction,
    /// Destination ports: `22`, `8000-8100` or `*`.
    pub destination_port_range: String,
    /// Allow or deny.
    pub access: Access,
    /// 100 to 4096; lower numbers are matched first.
    pub priority: u16,
    /// Source ports (`*`).
    pub source_port_range: String,
    /// Source addresses: a CIDR, an address, a service tag (`Internet`, `VirtualNetwork`) or `*`.
    /// Text, not a `Val<Cidr>` like a network's ranges: a service tag or `*` is not a range
    /// (validate checks the forms).
    pub source_address_prefix: String,
    /// Destination addresses, the same forms (`*`).
    pub destination_address_prefix: String,
    /// Free text, at most 140 characters.
    pub description: String,
}

impl SecurityRule {
    /// A rule with the original's parameters.
    pub fn new(
        name: impl Into<String>,
        nsg: impl IntoRef<NetworkSecurityGroup>,
        protocol: Protocol,
        direction: Direction,
        destination_port_range: impl Into<String>,
        access: Access,
        priority: u16,
    ) -> Self {
        SecurityRule {
            name: name.into(),
            cloud: None,
            nsg: nsg.into_ref(),
            protocol,
            direction,
            destination_port_range: destination_port_range.into(),
            access,
            priority,
            source_port_range: "*".into(),
            source_address_prefix: "*".into(),
            destination_address_prefix: "*".into(),
            description: String::new(),
        }
    }
    /// Allows incoming `protocol` traffic to `ports` from anywhere.
    pub fn inbound(
        name: impl Into<String>,
        nsg: impl IntoRef<NetworkSecurityGroup>,
        protocol: Protocol,
        ports: impl Into<String>,
        priority: u16,
    ) -> Self {
        Self::new(
            name,
            nsg,
            protocol,
            Direction::Inbound,
            ports,
            Access::Allow,
            priority,
        )
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
    /// Matches only traffic from `prefix`.
    pub fn source_address_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.source_address_prefix = prefix.into();
        self
    }
    /// Matches only traffic from source ports `ports`.
    pub fn source_port_range(mut self, ports: impl Into<String>) -> Self {
        self.source_port_range = ports.into();
        self
    }
    /// Matches only traffic to `prefix`.
    pub fn destination_address_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.destination_address_prefix = prefix.into();
        self
    }
    /// Sets the description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }
}

/// A public IP address's SKU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum PublicIpSku {
    /// Zone-redundant, secure by default (closed until a security group opens it); static only.
    Standard,
    /// The old SKU (retired by Azure in September 2025).
    Basic,
}
plain_enum!(PublicIpSku);

/// When a public IP's address is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Allocation {
    /// At creation; kept until the IP resource is deleted.
    Static,
    /// When the VM using it starts (Basic SKU only).
    Dynamic,
}
plain_enum!(Allocation);

/// A public IP address, for a network interface ([`NetworkInterface::public_ip`]). Standard and
/// static by default (the original's was Basic, which Azure has retired). Addressable: a role can
/// run on a static one.
///
/// Outputs: `id`, `name`, `ip` (once allocated), `fqdn` (with a DNS label).
///
/// ```
/// use actuator_azure::{Allocation, PublicIp, PublicIpSku};
/// # use actuator::prelude::*;
/// # use actuator_azure::ResourceGroup;
/// # #[derive(InfraModel)]
/// # struct M {
/// #     #[component(ResourceGroup::new("rg"))]
/// #     rg: ResourceGroup,
/// #     #[component(PublicIp::new("ip", ctx.model.rg).dns_label("web-1"))]
/// #     ip: PublicIp,
/// # }
/// let m = M::instance("m");
/// let ip = m.get::<PublicIp>(&m.root().ip).unwrap();
/// assert_eq!((ip.sku, ip.allocation), (PublicIpSku::Standard, Allocation::Static));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "azure.PublicIp",
    outputs(id: Id<Self>, name: String, ip: std::net::IpAddr, fqdn: String),
    addressable,
    update(dns_label, idle_timeout_minutes, tags),
    create_before_destroy
)]
pub struct PublicIp {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its resource group.
    pub resource_group: Ref<ResourceGroup>,
    /// Its location, if not its group's.
    pub location: Option<String>,
    /// Standard or Basic.
    pub sku: PublicIpSku,
    /// Static or dynamic.
    pub allocation: Allocation,
    /// A DNS label: `<label>.<location>.cloudapp.azure.com`.
    pub dns_label: Option<String>,
    /// Minutes an idle TCP connection stays open (4 to 30).
    pub idle_timeout_minutes: Option<u8>,
    /// Tags of your own.
    pub tags: BTreeMap<String, String>,
}
common!(PublicIp);
located!(PublicIp);

impl PublicIp {
    /// A Standard, static public IP `name` in `resource_group`.
    pub fn new(name: impl Into<String>, resource_group: impl IntoRef<ResourceGroup>) -> Self {
        PublicIp {
            name: name.into(),
            cloud: None,
            resource_group: resource_group.into_ref(),
            location: None,
            sku: PublicIpSku::Standard,
            allocation: Allocation::Static,
            dns_label: None,
            idle_timeout_minutes: None,
            tags: BTreeMap::new(),
        }
    }
    /// Sets the SKU.
    pub fn sku(mut self, sku: PublicIpSku) -> Self {
        self.sku = sku;
        self
    }
    /// Sets the allocation.
    pub fn allocation(mut self, allocation: Allocation) -> Self {
        self.allocation = allocation;
        self
    }
    /// Gives it a DNS name.
    pub fn dns_label(mut self, label: impl Into<String>) -> Self {
        self.dns_label = Some(label.into());
        self
    }
    /// Sets the idle timeout.
    pub fn idle_timeout_minutes(mut self, minutes: u8) -> Self {
        self.idle_timeout_minutes = Some(minutes);
        self
    }
}

/// A network interface in a subnet, with an optional public IP and security group (the original
/// assumed a public IP and never attached a group). Its public IP, security group, static private
/// address and further IP configurations change in place; its subnet (and with it its network)
/// does not.
///
/// [`NetworkInterface::new`] gives it one IP configuration, the primary (`ipconfig1`), in
/// `subnet`; [`NetworkInterface::ip_configuration`] adds more, each in a subnet of the same
/// network with its own optional public IP and static address (the original's `AzNIC` took a
/// list of subnets: one configuration per subnet).
///
/// Outputs: `id`, `name`, `private_ip` (the primary configuration's), `private_ips` (every
/// configuration's, comma-separated, primary first), `mac_address` (once a VM uses it).
///
/// ```
/// use actuator::prelude::*;
/// use actuator_azure::{IpConfiguration, NetworkInterface, PublicIp, ResourceGroup, Subnet, VirtualNetwork};
///
/// #[derive(InfraModel)]
/// struct Net {
///     #[component(ResourceGroup::new("rg"))]
///     rg: ResourceGroup,
///     #[component(VirtualNetwork::new("vnet", ctx.model.rg, ["10.0.0.0/16"]))]
///     vnet: VirtualNetwork,
///     #[component(Subnet::new("subnet", ctx.model.vnet, "10.0.1.0/24"))]
///     subnet: Subnet,
///     #[component(Subnet::new("backend", ctx.model.vnet, "10.0.2.0/24"))]
///     backend: Subnet,
///     #[component(PublicIp::new("ip", ctx.model.rg))]
///     ip: PublicIp,
///     #[component(NetworkInterface::new("nic", ctx.model.rg, ctx.model.subnet)
///         .public_ip(ctx.model.ip).private_ip("10.0.1.10")
///         .ip_configuration(IpConfiguration::new("backend", ctx.model.backend).private_ip("10.0.2.10")))]
///     nic: NetworkInterface,
/// }
/// let net = Net::instance("net");
/// let nic = net.get::<NetworkInterface>(&net.root().nic).unwrap();
/// assert_eq!(nic.private_ip.as_deref(), Some("10.0.1.10"));
/// assert_eq!(nic.ip_configurations[0].name, "backend");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "azure.NetworkInterface",
    outputs(id: Id<Self>, name: String, private_ip: std::net::IpAddr, private_ips: String, mac_address: String),
    update(public_ip, nsg, private_ip, ip_configurations, accelerated_networking, tags)
)]
pub struct NetworkInterface {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its resource group.
    pub resource_group: Ref<ResourceGroup>,
    /// Its location, if not its group's (it must be its network's).
    pub location: Option<String>,
    /// The primary configuration's subnet.
    pub subnet: Ref<Subnet>,
    /// The primary configuration's public IP.
    pub public_ip: Option<Ref<PublicIp>>,
    /// Its security group.
    pub nsg: Option<Ref<NetworkSecurityGroup>>,
    /// A static private address for the primary configuration (else Azure picks one).
    pub private_ip: Option<String>,
    /// The IP configurations after the primary, in order.
    pub ip_configurations: Vec<IpConfiguration>,
    /// Accelerated networking (the VM size must support it).
    pub accelerated_networking: bool,
    /// Tags of your own.
    pub tags: BTreeMap<String, String>,
}
common!(NetworkInterface);
located!(NetworkInterface);

impl NetworkInterface {
    /// The name of the primary IP configuration.
    pub const PRIMARY: &str = "ipconfig1";

    /// An interface `name` in `resource_group`, its primary IP configuration in `subnet`.
    pub fn new(
        name: impl Into<String>,
        resource_group: impl IntoRef<ResourceGroup>,
        subnet: impl IntoRef<Subnet>,
    ) -> Self {
        NetworkInterface {
            name: name.into(),
            cloud: None,
            resource_group: resource_group.into_ref(),
            location: None,
            subnet: subnet.into_ref(),
            public_ip: None,
            nsg: None,
            private_ip: None,
            ip_configurations: Vec::new(),
            accelerated_networking: false,
            tags: BTreeMap::new(),
        }
    }
    /// Attaches a public IP to the primary configuration.
    pub fn public_ip(mut self, ip: impl IntoRef<PublicIp>) -> Self {
        self.public_ip = Some(ip.into_ref());
        self
    }
    /// Filters its traffic with `nsg`.
    pub fn nsg(mut self, nsg: impl IntoRef<NetworkSecurityGroup>) -> Self {
        self.nsg = Some(nsg.into_ref());
        self
    }
    /// Gives the primary configuration a static private address.
    pub fn private_ip(mut self, ip: impl Into<String>) -> Self {
        self.private_ip = Some(ip.into());
        self
    }
    /// Adds an IP configuration after the primary (and those added before).
    pub fn ip_configuration(mut self, config: IpConfiguration) -> Self {
        self.ip_configurations.push(config);
        self
    }
    /// Turns accelerated networking on.
    pub fn accelerated_networking(mut self, on: bool) -> Self {
        self.accelerated_networking = on;
        self
    }
}

/// A further IP configuration of a [`NetworkInterface`]: a private address in a subnet of the
/// interface's network, with an optional public IP of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct IpConfiguration {
    /// Its name, unique in the interface (the primary is [`NetworkInterface::PRIMARY`]).
    pub name: String,
    /// Its subnet: one of the interface's network.
    pub subnet: Ref<Subnet>,
    /// Its public IP (one public IP serves one configuration).
    pub public_ip: Option<Ref<PublicIp>>,
    /// A static private address in its subnet (else Azure picks one).
    pub private_ip: Option<String>,
}

impl IpConfiguration {
    /// A configuration `name` in `subnet`, its address picked by Azure.
    pub fn new(name: impl Into<String>, subnet: impl IntoRef<Subnet>) -> Self {
        IpConfiguration {
            name: name.into(),
            subnet: subnet.into_ref(),
            public_ip: None,
            private_ip: None,
        }
    }
    /// Attaches a public IP.
    pub fn public_ip(mut self, ip: impl IntoRef<PublicIp>) -> Self {
        self.public_ip = Some(ip.into_ref());
        self
    }
    /// Gives it a static private address.
    pub fn private_ip(mut self, ip: impl Into<String>) -> Self {
        self.private_ip = Some(ip.into());
        self
    }
}

impl Refs for IpConfiguration {
    fn visit_refs(&self, f: &mut dyn FnMut(At)) {
        self.subnet.visit_refs(f);
        self.public_ip.visit_refs(f);
    }
}

impl ArgValue for IpConfiguration {
    fn arg(&self, cx: &ArgCx<'_>) -> serde_json::Value {
        serde_json::json!({
            "name": self.name,
            "subnet": self.subnet.arg(cx),
            "public_ip": self.public_ip.arg(cx),
            "private_ip": self.private_ip,
        })
    }
}

/// A marketplace image: publisher, offer, SKU and version (`latest` or a number).
///
/// ```
/// use actuator_azure::ImageReference;
/// let ubuntu = ImageReference::new("Canonical", "ubuntu-24_04-lts", "server", "latest");
/// assert_eq!(ubuntu, ImageReference::ubuntu_24_04());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageReference {
    /// e.g. `Canonical`.
    pub publisher: String,
    /// e.g. `ubuntu-24_04-lts`.
    pub offer: String,
    /// e.g. `server`.
    pub sku: String,
    /// `latest` or a version.
    pub version: String,
}
plain_enum!(ImageReference);

impl ImageReference {
    /// An image by its four parts.
    pub fn new(
        publisher: impl Into<String>,
        offer: impl Into<String>,
        sku: impl Into<String>,
        version: impl Into<String>,
    ) -> Self {
        ImageReference {
            publisher: publisher.into(),
            offer: offer.into(),
            sku: sku.into(),
            version: version.into(),
        }
    }
    /// Ubuntu Server 24.04 LTS, latest.
    pub fn ubuntu_24_04() -> Self {
        Self::new("Canonical", "ubuntu-24_04-lts", "server", "latest")
    }
    /// Ubuntu Server 22.04 LTS, latest.
    pub fn ubuntu_22_04() -> Self {
        Self::new(
            "Canonical",
            "0001-com-ubuntu-server-jammy",
            "22_04-lts-gen2",
            "latest",
        )
    }
}

/// The OS disk a VM creates from its image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OsDisk {
    /// Size in GB (else the image's).
    pub size_gb: Option<u32>,
    /// `Standard_LRS`, `StandardSSD_LRS`, `Premium_LRS` … (else Azure's default).
    pub storage_type: Option<String>,
    /// Keep the disk when the VM is deleted (it then lives until its resource group does).
    pub retain: bool,
}
plain_enum!(OsDisk);

/// A Linux virtual machine on existing network interfaces (the original's `AzServer`).
/// Addressable: a role on it connects to its public IP if its primary interface has one, else
/// to its private IP. Its size and tags change in place (a resize with a PUT, which Azure does
/// while the VM runs when the new size is available on its hardware); any other change replaces
/// it. Its OS disk is deleted with it unless [`VirtualMachine::retain_os_disk`].
///
/// Outputs: `id`, `name`, `vm_id` (Azure's GUID), `computer_name`, `private_ip`, `public_ip`
/// (when its primary interface has one), `ip`, `os_disk`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_azure::{
///     ImageReference, NetworkInterface, ResourceGroup, Subnet, VirtualMachine, VirtualNetwork,
/// };
///
/// #[derive(InfraModel)]
/// struct One {
///     #[component(ResourceGroup::new("rg").location("westeurope"))]
///     rg: ResourceGroup,
///     #[component(VirtualNetwork::new("vnet", ctx.model.rg, ["10.0.0.0/16"]))]
///     vnet: VirtualNetwork,
///     #[component(Subnet::new("subnet", ctx.model.vnet, "10.0.1.0/24"))]
///     subnet: Subnet,
///     #[component(NetworkInterface::new("nic", ctx.model.rg, ctx.model.subnet))]
///     nic: NetworkInterface,
///     #[component(VirtualMachine::new("web", ctx.model.rg, ImageReference::ubuntu_24_04(), "Standard_B1s", "azureuser")
///         .nics([ctx.model.nic])
///         .ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me@host"))]
///     web: VirtualMachine,
/// }
/// let one = One::instance("one");
/// let vm = one.get::<VirtualMachine>(&one.root().web).unwrap();
/// assert_eq!(vm.size, "Standard_B1s");
/// assert!(!vm.os_disk.retain);
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "azure.VirtualMachine",
    outputs(
        id: Id<Self>,
        name: String,
        vm_id: String,
        computer_name: String,
        private_ip: std::net::IpAddr,
        public_ip: std::net::IpAddr,
        ip: std::net::IpAddr,
        os_disk: String
    ),
    addressable,
    update(size, tags)
)]
pub struct VirtualMachine {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its resource group.
    pub resource_group: Ref<ResourceGroup>,
    /// Its location, if not its group's.
    pub location: Option<String>,
    /// Its interfaces; the first is the primary.
    pub nics: Vec<Ref<NetworkInterface>>,
    /// The image it boots.
    pub image: ImageReference,
    /// Its size, e.g. `Standard_B1s`.
    pub size: String,
    /// The administrator's login.
    pub admin_user: String,
    /// An OpenSSH public key for the administrator (`ssh-rsa …` or `ssh-ed25519 …`).
    pub ssh_public_key: Option<String>,
    /// Where to read that key from, when it is not given inline (read at provisioning time).
    pub ssh_public_key_file: Option<std::path::PathBuf>,
    /// The administrator's password (else password login is off).
    pub admin_password: Option<Secret>,
    /// The OS disk.
    pub os_disk: OsDisk,
    /// The Linux host name (else the VM's name with `_` and `.` as `-`).
    pub computer_name: Option<String>,
    /// Tags of your own.
    pub tags: BTreeMap<String, String>,
}
common!(VirtualMachine);
located!(VirtualMachine);

impl VirtualMachine {
    /// A VM `name` in `resource_group` booting `image`, of `size`, with administrator `admin_user`.
    pub fn new(
        name: impl Into<String>,
        resource_group: impl IntoRef<ResourceGroup>,
        image: ImageReference,
        size: impl Into<String>,
        admin_user: impl Into<String>,
    ) -> Self {
        VirtualMachine {
            name: name.into(),
            cloud: None,
            resource_group: resource_group.into_ref(),
            location: None,
            nics: Vec::new(),
            image,
            size: size.into(),
            admin_user: admin_user.into(),
            ssh_public_key: None,
            ssh_public_key_file: None,
            admin_password: None,
            os_disk: OsDisk::default(),
            computer_name: None,
            tags: BTreeMap::new(),
        }
    }
    /// Adds network interfaces (the first one added is the primary).
    pub fn nics<R: IntoRef<NetworkInterface>>(mut self, nics: impl IntoIterator<Item = R>) -> Self {
        self.nics.extend(nics.into_iter().map(IntoRef::into_ref));
        self
    }
    /// The administrator logs in with this OpenSSH public key.
    pub fn ssh_public_key(mut self, key: impl Into<String>) -> Self {
        self.ssh_public_key = Some(key.into());
        self
    }
    /// The administrator logs in with the public key in this file (the original's
    /// `pub_key_file`).
    pub fn ssh_public_key_file(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.ssh_public_key_file = Some(path.into());
        self
    }
    /// The administrator may also log in with this password (never logged or stored).
    pub fn admin_password(mut self, password: Secret) -> Self {
        self.admin_password = Some(password);
        self
    }
    /// Sets the OS disk's size and storage type.
    pub fn os_disk(mut self, size_gb: Option<u32>, storage_type: Option<&str>) -> Self {
        self.os_disk.size_gb = size_gb;
        self.os_disk.storage_type = storage_type.map(str::to_owned);
        self
    }
    /// Keeps the OS disk when the VM is deleted.
    pub fn retain_os_disk(mut self) -> Self {
        self.os_disk.retain = true;
        self
    }
    /// Sets the Linux host name.
    pub fn computer_name(mut self, name: impl Into<String>) -> Self {
        self.computer_name = Some(name.into());
        self
    }
}

/// Every kind this crate provisions.
pub(crate) const KINDS: &[&str] = &[
    ResourceGroup::KIND,
    VirtualNetwork::KIND,
    Subnet::KIND,
    NetworkSecurityGroup::KIND,
    SecurityRule::KIND,
    PublicIp::KIND,
    NetworkInterface::KIND,
    VirtualMachine::KIND,
];
