//! The OpenStack resources: the parameters of the original's `provisioners/openstack` resources,
//! as typed builders, with its rough edges fixed (a subnet's `enable_dhcp` is honoured, gateways,
//! interfaces, rules and key pairs are removed on teardown unless retained, a floating IP is for
//! exactly one server or port by construction). References to other resources (`Ref<Network>`,
//! `Val<IpAddr>` …) are dependency edges, so a subnet is created after its network and deleted
//! before it.
//!
//! Every resource takes `.cloud(name)`: the [`OpenStackProxy`](super::OpenStackProxy) that
//! provisions it, when a model uses several clouds.
//!
//! Which arguments change in place and which replace the resource is declared per type
//! (`update(…)` below): names, descriptions, admin states, DNS servers, DHCP, a server's name and
//! metadata, a floating IP's target update in place; a CIDR, an image, a flavor, a rule's
//! parameters replace.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use actuator::Resource;
use actuator::model::{At, Cidr, Id, IntoRef, IntoVal, Ref, Refs, Val};

macro_rules! cloud {
    ($($t:ty),*) => {$(
        impl $t {
            /// Provisions it with the proxy named `cloud` (when the model uses several).
            pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
                self.cloud = Some(cloud.into());
                self
            }
            /// Its description in the cloud.
            pub fn description(mut self, description: impl Into<String>) -> Self {
                self.description = description.into();
                self
            }
        }
    )*};
}

/// A Neutron network.
///
/// Outputs: `id`, `name` (as the cloud has it).
///
/// ```
/// use actuator_openstack::Network;
/// let n = Network::new("grid-net").admin_state_up(false).port_security(true);
/// assert_eq!((n.admin_state_up, n.port_security_enabled), (false, Some(true)));
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.Network",
    outputs(id: Id<Self>, name: String),
    update(name, description, admin_state_up, port_security_enabled)
)]
pub struct Network {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its description.
    pub description: String,
    /// Whether it is administratively up (default true).
    pub admin_state_up: bool,
    /// Port security for its ports (`None`: the cloud's default).
    pub port_security_enabled: Option<bool>,
}

impl Network {
    /// A network `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Network {
            name: name.into(),
            cloud: None,
            description: String::new(),
            admin_state_up: true,
            port_security_enabled: None,
        }
    }
    /// Administratively up or down.
    pub fn admin_state_up(mut self, up: bool) -> Self {
        self.admin_state_up = up;
        self
    }
    /// Port security on or off for its ports.
    pub fn port_security(mut self, enabled: bool) -> Self {
        self.port_security_enabled = Some(enabled);
        self
    }
}

/// A subnet of a [`Network`].
///
/// Outputs: `id`, `cidr`, `gateway_ip` (empty without a gateway).
///
/// ```
/// use actuator_openstack::Subnet;
/// # use actuator::prelude::*;
/// # #[derive(InfraModel)] struct M {
/// #   #[component(actuator_openstack::Network::new("n"))] net: actuator_openstack::Network,
/// #   #[component(Subnet::new("s", ctx.model.net, "192.168.23.0/24")
/// #       .dns_nameservers(["8.8.8.8"]).enable_dhcp(false))] s: Subnet }
/// let m = M::instance("m");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.Subnet",
    outputs(id: Id<Self>, cidr: Cidr, gateway_ip: String),
    update(name, description, dns_nameservers, enable_dhcp)
)]
pub struct Subnet {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its description.
    pub description: String,
    /// The network it belongs to.
    pub network: Ref<Network>,
    /// Its address range, e.g. `192.168.23.0/24`.
    pub cidr: Val<Cidr>,
    /// DNS servers handed out by DHCP.
    pub dns_nameservers: Vec<String>,
    /// 4 or 6 (default 4; must match the CIDR).
    pub ip_version: u8,
    /// Whether Neutron runs DHCP on it (default true; honoured, unlike the original).
    pub enable_dhcp: bool,
    /// The gateway address: `None` lets Neutron pick the first address; `Some("")` means none.
    pub gateway_ip: Option<String>,
}

impl Subnet {
    /// A subnet `cidr` of `network`.
    pub fn new(
        name: impl Into<String>,
        network: impl IntoRef<Network>,
        cidr: impl IntoVal<Cidr>,
    ) -> Self {
        Subnet {
            name: name.into(),
            cloud: None,
            description: String::new(),
            network: network.into_ref(),
            cidr: cidr.into_val(),
            dns_nameservers: Vec::new(),
            ip_version: 4,
            enable_dhcp: true,
            gateway_ip: None,
        }
    }
    /// DNS servers handed out by DHCP.
    pub fn dns_nameservers<S: Into<String>>(
        mut self,
        servers: impl IntoIterator<Item = S>,
    ) -> Self {
        self.dns_nameservers = servers.into_iter().map(Into::into).collect();
        self
    }
    /// 4 or 6.
    pub fn ip_version(mut self, v: u8) -> Self {
        self.ip_version = v;
        self
    }
    /// DHCP on or off.
    pub fn enable_dhcp(mut self, on: bool) -> Self {
        self.enable_dhcp = on;
        self
    }
    /// The gateway address (`""`: no gateway).
    pub fn gateway_ip(mut self, ip: impl Into<String>) -> Self {
        self.gateway_ip = Some(ip.into());
        self
    }
}

/// A Neutron router.
///
/// Outputs: `id`.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.Router",
    outputs(id: Id<Self>),
    update(name, description, admin_state_up)
)]
pub struct Router {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its description.
    pub description: String,
    /// Whether it is administratively up (default true).
    pub admin_state_up: bool,
}

impl Router {
    /// A router `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Router {
            name: name.into(),
            cloud: None,
            description: String::new(),
            admin_state_up: true,
        }
    }
    /// Administratively up or down.
    pub fn admin_state_up(mut self, up: bool) -> Self {
        self.admin_state_up = up;
        self
    }
}

/// A router's gateway to an external network (by name or id), e.g. `public`. Removed from the
/// router on teardown unless [`retain`](RouterGateway::retain)ed.
///
/// Outputs: `router_id`, `network_id`, `ip` (the router's address on the external network).
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.RouterGateway",
    outputs(router_id: Id<Router>, network_id: Id<Network>, ip: IpAddr),
    update(retain_on_reverse)
)]
pub struct RouterGateway {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// The router.
    pub router: Ref<Router>,
    /// The external network, by name or id.
    pub external_network: String,
    /// Leave the gateway set on teardown.
    pub retain_on_reverse: bool,
}

impl RouterGateway {
    /// `router`'s gateway to `external_network` (name or id).
    pub fn new(
        name: impl Into<String>,
        router: impl IntoRef<Router>,
        external_network: impl Into<String>,
    ) -> Self {
        RouterGateway {
            name: name.into(),
            cloud: None,
            router: router.into_ref(),
            external_network: external_network.into(),
            retain_on_reverse: false,
        }
    }
    /// Leave the gateway set on teardown.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain_on_reverse = retain;
        self
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
}

/// A router's interface on a subnet. Removed on teardown unless retained.
///
/// Outputs: `port_id`, `ip` (the router's address on the subnet).
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.RouterInterface",
    outputs(port_id: Id<Port>, ip: IpAddr),
    update(retain_on_reverse)
)]
pub struct RouterInterface {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// The router.
    pub router: Ref<Router>,
    /// The subnet.
    pub subnet: Ref<Subnet>,
    /// Leave the interface on teardown.
    pub retain_on_reverse: bool,
}

impl RouterInterface {
    /// `router`'s interface on `subnet`.
    pub fn new(
        name: impl Into<String>,
        router: impl IntoRef<Router>,
        subnet: impl IntoRef<Subnet>,
    ) -> Self {
        RouterInterface {
            name: name.into(),
            cloud: None,
            router: router.into_ref(),
            subnet: subnet.into_ref(),
            retain_on_reverse: false,
        }
    }
    /// Leave the interface on teardown.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain_on_reverse = retain;
        self
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
}

/// A security group. Neutron gives it default egress rules.
///
/// Outputs: `id`.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.SecurityGroup",
    outputs(id: Id<Self>),
    update(name, description)
)]
pub struct SecurityGroup {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its description.
    pub description: String,
}

impl SecurityGroup {
    /// A security group `name` described as `description`.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        SecurityGroup {
            name: name.into(),
            cloud: None,
            description: description.into(),
        }
    }
}

/// Which way a [`SecurityGroupRule`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Traffic into the group's ports.
    Ingress,
    /// Traffic out of them.
    Egress,
}
actuator::arg_via_serde!(Direction);

impl Refs for Direction {
    fn visit_refs(&self, _: &mut dyn FnMut(At)) {}
}

impl Direction {
    /// As Neutron spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

/// A rule of a [`SecurityGroup`]. Rules cannot change: any change replaces the rule. Deleted on
/// teardown (the original left them to die with their group).
///
/// Outputs: `id`.
///
/// ```
/// use actuator_openstack::{Direction, SecurityGroupRule};
/// # use actuator::prelude::*;
/// # #[derive(InfraModel)] struct M {
/// #   #[component(actuator_openstack::SecurityGroup::new("sg", ""))] sg: actuator_openstack::SecurityGroup,
/// #   #[component(SecurityGroupRule::new("ssh", ctx.model.sg).tcp(22, 22).cidr("0.0.0.0/0"))]
/// #   ssh: SecurityGroupRule }
/// # let m = M::instance("m");
/// ```
///
/// The remote range is a [`Cidr`]: a literal or a range output, such as a subnet's `cidr`.
///
/// ```
/// use actuator::prelude::*;
/// use actuator_openstack::{Network, SecurityGroup, SecurityGroupRule, Subnet};
///
/// #[derive(InfraModel)]
/// struct M {
///     #[component(Network::new("net"))]
///     net: Network,
///     #[component(Subnet::new("sn", ctx.model.net, "192.168.23.0/24"))]
///     subnet: Subnet,
///     #[component(SecurityGroup::new("sg", ""))]
///     sg: SecurityGroup,
///     #[component(SecurityGroupRule::new("local", ctx.model.sg).cidr(ctx.model.subnet.cidr))]
///     local: SecurityGroupRule,
/// }
/// let m = M::instance("m");
/// let rule = m.get::<SecurityGroupRule>(&m.root().local).unwrap();
/// assert!(matches!(rule.cidr, Some(Val::Out(o)) if o.attr() == "cidr"));
/// ```
///
/// An output of another type is not a range: the subnet's id does not compile there.
///
/// ```compile_fail
/// use actuator::prelude::*;
/// use actuator_openstack::{Network, SecurityGroup, SecurityGroupRule, Subnet};
///
/// #[derive(InfraModel)]
/// struct M {
///     #[component(Network::new("net"))]
///     net: Network,
///     #[component(Subnet::new("sn", ctx.model.net, "192.168.23.0/24"))]
///     subnet: Subnet,
///     #[component(SecurityGroup::new("sg", ""))]
///     sg: SecurityGroup,
///     #[component(SecurityGroupRule::new("local", ctx.model.sg).cidr(ctx.model.subnet.id))]
///     local: SecurityGroupRule,
/// }
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "openstack.SecurityGroupRule", outputs(id: Id<Self>))]
pub struct SecurityGroupRule {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// The group.
    pub security_group: Ref<SecurityGroup>,
    /// Ingress (default) or egress.
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp`, another protocol name or number; `None`: any.
    pub ip_protocol: Option<String>,
    /// First port (TCP/UDP), or ICMP type.
    pub from_port: Option<u16>,
    /// Last port (TCP/UDP), or ICMP code.
    pub to_port: Option<u16>,
    /// The remote address range (`remote_ip_prefix`).
    pub cidr: Option<Val<Cidr>>,
    /// The remote group, instead of a range.
    pub remote_group: Option<Ref<SecurityGroup>>,
    /// `IPv4` (default) or `IPv6`.
    pub ethertype: String,
}

impl SecurityGroupRule {
    /// An ingress rule of `security_group` allowing everything; narrow it with the builders.
    pub fn new(name: impl Into<String>, security_group: impl IntoRef<SecurityGroup>) -> Self {
        SecurityGroupRule {
            name: name.into(),
            cloud: None,
            security_group: security_group.into_ref(),
            direction: Direction::Ingress,
            ip_protocol: None,
            from_port: None,
            to_port: None,
            cidr: None,
            remote_group: None,
            ethertype: "IPv4".into(),
        }
    }
    /// An egress rule instead.
    pub fn egress(mut self) -> Self {
        self.direction = Direction::Egress;
        self
    }
    /// The protocol and its port range (or ICMP type and code).
    pub fn protocol(
        mut self,
        proto: impl Into<String>,
        from: Option<u16>,
        to: Option<u16>,
    ) -> Self {
        self.ip_protocol = Some(proto.into());
        self.from_port = from;
        self.to_port = to;
        self
    }
    /// TCP ports `from..=to`.
    pub fn tcp(self, from: u16, to: u16) -> Self {
        self.protocol("tcp", Some(from), Some(to))
    }
    /// UDP ports `from..=to`.
    pub fn udp(self, from: u16, to: u16) -> Self {
        self.protocol("udp", Some(from), Some(to))
    }
    /// All ICMP.
    pub fn icmp(self) -> Self {
        self.protocol("icmp", None, None)
    }
    /// The remote address range: a literal (`"0.0.0.0/0"`) or a range output (a subnet's
    /// `cidr`).
    pub fn cidr(mut self, cidr: impl IntoVal<Cidr>) -> Self {
        self.cidr = Some(cidr.into_val());
        self
    }
    /// Traffic from (or to) the ports of another group.
    pub fn remote_group(mut self, group: impl IntoRef<SecurityGroup>) -> Self {
        self.remote_group = Some(group.into_ref());
        self
    }
    /// `IPv4` or `IPv6`.
    pub fn ethertype(mut self, e: impl Into<String>) -> Self {
        self.ethertype = e.into();
        self
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
}

/// A Nova key pair from a public key (given, or read from a file when provisioned). Nova key
/// pairs carry no tags: a key pair is found again by its name and fingerprint, so
/// [`ensure_unique`](KeyPair::ensure_unique) (a name suffix derived from system, workspace, state
/// and model path) keeps two workspaces or states from sharing one. Deleted on teardown unless
/// retained.
///
/// Outputs: `name` (the cloud's), `fingerprint`.
///
/// ```
/// use actuator_openstack::KeyPair;
/// let k = KeyPair::new("grid-key").public_key("ssh-ed25519 AAAAC3Nza… me@host").ensure_unique(true);
/// assert!(k.public_key_file.is_none());
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.KeyPair",
    outputs(name: String, fingerprint: String),
    update(retain_on_reverse, force)
)]
pub struct KeyPair {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// The name in Nova (default: the display name).
    pub os_name: Option<String>,
    /// The public key, OpenSSH format.
    pub public_key: Option<String>,
    /// A file holding the public key.
    pub public_key_file: Option<PathBuf>,
    /// Replace a key pair of the same name that holds another key (else that is an error).
    pub force: bool,
    /// Append a suffix unique to this system, workspace, state and path to the name.
    pub ensure_unique: bool,
    /// Leave the key pair in Nova on teardown.
    pub retain_on_reverse: bool,
}

impl KeyPair {
    /// A key pair `name`; give it a key with [`public_key`](Self::public_key) or
    /// [`public_key_file`](Self::public_key_file).
    pub fn new(name: impl Into<String>) -> Self {
        KeyPair {
            name: name.into(),
            cloud: None,
            os_name: None,
            public_key: None,
            public_key_file: None,
            force: false,
            ensure_unique: false,
            retain_on_reverse: false,
        }
    }
    /// The public key itself.
    pub fn public_key(mut self, key: impl Into<String>) -> Self {
        self.public_key = Some(key.into());
        self
    }
    /// A file to read the public key from.
    pub fn public_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.public_key_file = Some(path.into());
        self
    }
    /// The name in Nova.
    pub fn os_name(mut self, name: impl Into<String>) -> Self {
        self.os_name = Some(name.into());
        self
    }
    /// Replace a same-named key pair holding another key.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }
    /// A name unique to this system, workspace, state and model path.
    pub fn ensure_unique(mut self, unique: bool) -> Self {
        self.ensure_unique = unique;
        self
    }
    /// Leave it in Nova on teardown.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain_on_reverse = retain;
        self
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
}

/// A Neutron port on a network, for servers that need a fixed address or their own security
/// groups, and for floating IPs.
///
/// Outputs: `id`, `ip` (its first fixed address), `mac`.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.Port",
    outputs(id: Id<Self>, ip: IpAddr, mac: String),
    update(name, description, security_groups, admin_state_up)
)]
pub struct Port {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its description.
    pub description: String,
    /// The network.
    pub network: Ref<Network>,
    /// The subnet to take the address from (else any of the network's).
    pub subnet: Option<Ref<Subnet>>,
    /// A fixed address.
    pub fixed_ip: Option<Val<IpAddr>>,
    /// Its security groups (else the project's default group).
    pub security_groups: Vec<Ref<SecurityGroup>>,
    /// Whether it is administratively up (default true).
    pub admin_state_up: bool,
}

impl Port {
    /// A port on `network`.
    pub fn new(name: impl Into<String>, network: impl IntoRef<Network>) -> Self {
        Port {
            name: name.into(),
            cloud: None,
            description: String::new(),
            network: network.into_ref(),
            subnet: None,
            fixed_ip: None,
            security_groups: Vec::new(),
            admin_state_up: true,
        }
    }
    /// Its address from `subnet`.
    pub fn subnet(mut self, subnet: impl IntoRef<Subnet>) -> Self {
        self.subnet = Some(subnet.into_ref());
        self
    }
    /// A fixed address (a literal, or another component's address output).
    pub fn fixed_ip(mut self, ip: impl IntoVal<IpAddr>) -> Self {
        self.fixed_ip = Some(ip.into_val());
        self
    }
    /// Its security groups.
    pub fn security_groups<R: IntoRef<SecurityGroup>>(
        mut self,
        groups: impl IntoIterator<Item = R>,
    ) -> Self {
        self.security_groups = groups.into_iter().map(IntoRef::into_ref).collect();
        self
    }
}

/// A Nova server: addressable, so roles can run on it (`ip` is its first fixed address).
///
/// Image and flavor are names or ids. It is attached to networks ([`nics`](Self::nics)) and/or
/// ports ([`ports`](Self::ports)), in that order. Provisioning waits (with a deadline) until it is
/// `ACTIVE`; `ERROR` fails with Nova's fault message.
///
/// Outputs: `id`, `ip`, `addresses` (JSON: network name → its addresses), `status`.
///
/// ```
/// use actuator_openstack::Server;
/// let s = Server::new("foreman", "cirros", "m1.tiny").user_data("#!/bin/sh\necho hi\n")
///     .availability_zone("nova").meta("role", "foreman");
/// assert_eq!(s.flavor, "m1.tiny");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.Server",
    outputs(id: Id<Self>, ip: IpAddr, addresses: String, status: String),
    addressable,
    update(name, meta)
)]
pub struct Server {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// The image, by name or id.
    pub image: String,
    /// The flavor, by name or id.
    pub flavor: String,
    /// Networks to attach (a port on each).
    pub nics: Vec<Ref<Network>>,
    /// Ports to attach.
    pub ports: Vec<Ref<Port>>,
    /// Security groups (for its ports on `nics`).
    pub security_groups: Vec<Ref<SecurityGroup>>,
    /// The key pair to inject.
    pub key_pair: Option<Ref<KeyPair>>,
    /// The key pair by name, when it is not part of the model.
    pub key_name: Option<String>,
    /// User data (cloud-init), sent base64-encoded.
    pub user_data: Option<String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// Metadata (the proxy adds its identity tags beside it).
    pub meta: BTreeMap<String, String>,
    /// Whether to attach a config drive.
    pub config_drive: bool,
}

impl Server {
    /// A server `name` booting `image` on `flavor`.
    pub fn new(
        name: impl Into<String>,
        image: impl Into<String>,
        flavor: impl Into<String>,
    ) -> Self {
        Server {
            name: name.into(),
            cloud: None,
            image: image.into(),
            flavor: flavor.into(),
            nics: Vec::new(),
            ports: Vec::new(),
            security_groups: Vec::new(),
            key_pair: None,
            key_name: None,
            user_data: None,
            availability_zone: None,
            meta: BTreeMap::new(),
            config_drive: false,
        }
    }
    /// Attaches it to networks.
    pub fn nics<R: IntoRef<Network>>(mut self, nets: impl IntoIterator<Item = R>) -> Self {
        self.nics.extend(nets.into_iter().map(IntoRef::into_ref));
        self
    }
    /// Attaches it to ports.
    pub fn ports<R: IntoRef<Port>>(mut self, ports: impl IntoIterator<Item = R>) -> Self {
        self.ports.extend(ports.into_iter().map(IntoRef::into_ref));
        self
    }
    /// Its security groups.
    pub fn security_groups<R: IntoRef<SecurityGroup>>(
        mut self,
        groups: impl IntoIterator<Item = R>,
    ) -> Self {
        self.security_groups = groups.into_iter().map(IntoRef::into_ref).collect();
        self
    }
    /// Injects the key of a key pair of the model.
    pub fn key_pair(mut self, key: impl IntoRef<KeyPair>) -> Self {
        self.key_pair = Some(key.into_ref());
        self
    }
    /// Injects an existing key pair, by name.
    pub fn key_name(mut self, name: impl Into<String>) -> Self {
        self.key_name = Some(name.into());
        self
    }
    /// User data for cloud-init.
    pub fn user_data(mut self, data: impl Into<String>) -> Self {
        self.user_data = Some(data.into());
        self
    }
    /// The availability zone.
    pub fn availability_zone(mut self, zone: impl Into<String>) -> Self {
        self.availability_zone = Some(zone.into());
        self
    }
    /// A metadata entry.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }
    /// A config drive.
    pub fn config_drive(mut self, on: bool) -> Self {
        self.config_drive = on;
        self
    }
    /// Provisions it with the proxy named `cloud`.
    pub fn cloud(mut self, cloud: impl Into<String>) -> Self {
        self.cloud = Some(cloud.into());
        self
    }
}

/// A floating IP from an external network (`pool`, by name or id; default the proxy's
/// [`external_network`](super::OpenStackProxy::external_network)), associated with exactly one
/// server or port. Addressable: its `ip` is the public address.
///
/// Moving it to another server, port or fixed address re-associates it in place; a new pool makes
/// a new address first (create before destroy).
///
/// Outputs: `id`, `ip`, `port_id`, `fixed_ip`.
///
/// ```
/// use actuator_openstack::{FloatingIp, Server};
/// # use actuator::prelude::*;
/// # #[derive(InfraModel)] struct M {
/// #   #[component(Server::new("s", "cirros", "m1.tiny"))] server: Server,
/// #   #[component(FloatingIp::new("fip", ctx.model.server, ctx.model.server.ip).pool("public"))]
/// #   fip: FloatingIp }
/// # let m = M::instance("m");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "openstack.FloatingIp",
    outputs(id: Id<Self>, ip: IpAddr, port_id: Id<Port>, fixed_ip: IpAddr),
    addressable,
    update(server, port, fixed_ip),
    create_before_destroy
)]
pub struct FloatingIp {
    name: String,
    /// The proxy that provisions it.
    pub cloud: Option<String>,
    /// Its description.
    pub description: String,
    /// The server it points at.
    pub server: Option<Ref<Server>>,
    /// The port it points at.
    pub port: Option<Ref<Port>>,
    /// Which of the target's fixed addresses (the original's `associated_ip`; else its first).
    pub fixed_ip: Option<Val<IpAddr>>,
    /// The external network, by name or id.
    pub pool: Option<String>,
}

impl FloatingIp {
    /// A floating IP for `server`, mapped to its address `associated_ip` (e.g. `server.ip`).
    pub fn new(
        name: impl Into<String>,
        server: impl IntoRef<Server>,
        associated_ip: impl IntoVal<IpAddr>,
    ) -> Self {
        FloatingIp {
            name: name.into(),
            cloud: None,
            description: String::new(),
            server: Some(server.into_ref()),
            port: None,
            fixed_ip: Some(associated_ip.into_val()),
            pool: None,
        }
    }
    /// A floating IP for `server`'s first address.
    pub fn for_server(name: impl Into<String>, server: impl IntoRef<Server>) -> Self {
        FloatingIp {
            fixed_ip: None,
            ..FloatingIp::new(name, server, String::new())
        }
    }
    /// A floating IP for `port`.
    pub fn for_port(name: impl Into<String>, port: impl IntoRef<Port>) -> Self {
        FloatingIp {
            name: name.into(),
            cloud: None,
            description: String::new(),
            server: None,
            port: Some(port.into_ref()),
            fixed_ip: None,
            pool: None,
        }
    }
    /// The external network to take it from.
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }
}

cloud!(Network, Subnet, Router, SecurityGroup, Port, FloatingIp);

/// Every kind the proxy handles.
pub(crate) const KINDS: &[&str] = &[
    Network::KIND,
    Subnet::KIND,
    Router::KIND,
    RouterGateway::KIND,
    RouterInterface::KIND,
    SecurityGroup::KIND,
    SecurityGroupRule::KIND,
    KeyPair::KIND,
    Port::KIND,
    Server::KIND,
    FloatingIp::KIND,
];
