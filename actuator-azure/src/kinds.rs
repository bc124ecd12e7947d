//! Per resource type: its ARM type and api-version, its name rules, the body a create or update
//! PUTs, what an update must carry over from the resource as it is (a network's subnets, a
//! group's rules), and the outputs read back.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use actuator::model::Located;
use actuator::provision::{AttemptError, Invalid, Outputs, ProvisionCx, ProvisionerProxy};

use crate::AzureProxy;
use crate::client::ArmClient;
use crate::error::ArmError;
use crate::models::*;
use crate::names::{self, NameRule};
use crate::resources::{
    Allocation, IpConfiguration, NetworkInterface, NetworkSecurityGroup, PublicIp, PublicIpSku,
    ResourceGroup, SecurityRule, Subnet, VirtualMachine, VirtualNetwork,
};

/// `Microsoft.Resources` (resource groups, listings).
pub(crate) const RESOURCES_API: &str = "2021-04-01";
/// `Microsoft.Network`.
pub(crate) const NETWORK_API: &str = "2024-03-01";
/// `Microsoft.Compute` virtual machines.
pub(crate) const COMPUTE_API: &str = "2024-07-01";

/// A resource type this proxy manages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Group,
    Network,
    Subnet,
    SecurityGroup,
    Rule,
    PublicIp,
    Interface,
    Vm,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Group,
        Kind::Network,
        Kind::Subnet,
        Kind::SecurityGroup,
        Kind::Rule,
        Kind::PublicIp,
        Kind::Interface,
        Kind::Vm,
    ];

    pub fn of(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.resource_kind() == kind)
    }

    pub fn of_arm_type(t: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.arm_type().eq_ignore_ascii_case(t))
    }

    /// The model's kind, e.g. `azure.Subnet`.
    pub fn resource_kind(self) -> &'static str {
        match self {
            Kind::Group => ResourceGroup::KIND,
            Kind::Network => VirtualNetwork::KIND,
            Kind::Subnet => Subnet::KIND,
            Kind::SecurityGroup => NetworkSecurityGroup::KIND,
            Kind::Rule => SecurityRule::KIND,
            Kind::PublicIp => PublicIp::KIND,
            Kind::Interface => NetworkInterface::KIND,
            Kind::Vm => VirtualMachine::KIND,
        }
    }

    pub fn arm_type(self) -> &'static str {
        match self {
            Kind::Group => "Microsoft.Resources/resourceGroups",
            Kind::Network => "Microsoft.Network/virtualNetworks",
            Kind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Kind::SecurityGroup => "Microsoft.Network/networkSecurityGroups",
            Kind::Rule => "Microsoft.Network/networkSecurityGroups/securityRules",
            Kind::PublicIp => "Microsoft.Network/publicIPAddresses",
            Kind::Interface => "Microsoft.Network/networkInterfaces",
            Kind::Vm => "Microsoft.Compute/virtualMachines",
        }
    }

    pub fn api(self) -> &'static str {
        match self {
            Kind::Group => RESOURCES_API,
            Kind::Vm => COMPUTE_API,
            _ => NETWORK_API,
        }
    }

    /// Whether Azure keeps tags on it (subnets and rules have none: they belong to their parent).
    pub fn tagged(self) -> bool {
        !matches!(self, Kind::Subnet | Kind::Rule)
    }

    /// Replaced create-before-destroy: the replacement needs a name of its own.
    pub fn alternates(self) -> bool {
        matches!(self, Kind::PublicIp | Kind::SecurityGroup)
    }

    fn rule(self) -> NameRule {
        match self {
            Kind::Group => names::GROUP,
            Kind::Network => names::VNET,
            Kind::Vm => names::VM,
            _ => names::NETWORK,
        }
    }

    /// The id of the resource whose writes this one's writes must not overlap (Network refuses
    /// concurrent writes on a network and its subnets, a group and its rules).
    pub fn lock_of(self, id: &str) -> Option<String> {
        let parent = |child: &str| {
            id.to_ascii_lowercase()
                .rfind(child)
                .map(|i| id[..i].to_ascii_lowercase())
        };
        match self {
            Kind::Network | Kind::SecurityGroup => Some(id.to_ascii_lowercase()),
            Kind::Subnet => parent("/subnets/"),
            Kind::Rule => parent("/securityrules/"),
            _ => None,
        }
    }
}

/// What a create or an update writes.
pub(crate) struct Desired {
    pub kind: Kind,
    pub id: String,
    pub body: Value,
    /// The full tag set (identity tags and the model's own); empty for untagged kinds.
    pub tags: BTreeMap<String, String>,
}

fn fatal(msg: impl std::fmt::Display) -> AttemptError {
    AttemptError::fatal(msg.to_string())
}

fn tags_of(cx: &ProvisionCx, own: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut t = own.clone();
    t.extend(cx.tags());
    t
}

/// The location of a resource: its own, else its resource group's.
fn location_of(
    cx: &ProvisionCx,
    own: &Option<String>,
    group: &impl Located,
) -> Result<String, AttemptError> {
    match own {
        Some(l) => Ok(names::location(l)),
        None => cx.output_of(group, "location"),
    }
}

/// The Azure name of the resource at `cx` before any replacement: a resource group's generated
/// (or exact) name, else the model's display name.
pub(crate) fn base_name(
    p: &AzureProxy,
    kind: Kind,
    cx: &ProvisionCx,
) -> Result<String, AttemptError> {
    let _ = p;
    Ok(match kind {
        Kind::Group => {
            let g: ResourceGroup = cx.resource()?;
            g.exact_name.clone().unwrap_or_else(|| {
                names::group_name(
                    &cx.scope().system,
                    &cx.scope().workspace,
                    &cx.display_name(),
                )
            })
        }
        _ => cx.display_name(),
    })
}

/// The body `cx`'s resource should have, under `name`.
pub(crate) async fn desired(
    p: &AzureProxy,
    arm: &ArmClient,
    kind: Kind,
    cx: &ProvisionCx,
    name: &str,
) -> Result<Desired, AttemptError> {
    let sub = arm.subscription_path();
    let none = BTreeMap::new();
    let (id, body, tags) = match kind {
        Kind::Group => {
            let g: ResourceGroup = cx.resource()?;
            let location = g
                .location
                .as_deref()
                .or(p.fallback_location())
                .map(names::location)
                .ok_or_else(|| fatal("no location (give it one or the proxy a default)"))?;
            let tags = tags_of(cx, &g.tags);
            let body = Tracked::<GroupProps> {
                location: Some(location),
                tags: Some(tags.clone()),
                ..Default::default()
            };
            (format!("{sub}/resourceGroups/{name}"), json(&body), tags)
        }
        Kind::Network => {
            let n: VirtualNetwork = cx.resource()?;
            let rg = cx.output_of(&n.resource_group, "id")?;
            let tags = tags_of(cx, &n.tags);
            let address_prefixes: Vec<String> = n
                .address_prefixes
                .iter()
                .map(|c| cx.resolve(c).map(|c| c.to_string()))
                .collect::<Result<_, _>>()?;
            let body = Tracked {
                location: Some(location_of(cx, &n.location, &n.resource_group)?),
                tags: Some(tags.clone()),
                properties: VnetProps {
                    address_space: AddressSpace { address_prefixes },
                    dhcp_options: (!n.dns_servers.is_empty()).then(|| DhcpOptions {
                        dns_servers: n.dns_servers.clone(),
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let id = format!("{rg}/providers/Microsoft.Network/virtualNetworks/{name}");
            (id, json(&body), tags)
        }
        Kind::Subnet => {
            let s: Subnet = cx.resource()?;
            let vnet = cx.output_of(&s.network, "id")?;
            let nsg = match &s.nsg {
                Some(g) => Some(IdRef::to(cx.output_of(g, "id")?)),
                None => None,
            };
            let body = Child {
                properties: SubnetProps {
                    address_prefix: Some(cx.resolve(&s.address_prefix)?.to_string()),
                    network_security_group: nsg,
                    ..Default::default()
                },
                ..Default::default()
            };
            (format!("{vnet}/subnets/{name}"), json(&body), none)
        }
        Kind::SecurityGroup => {
            let g: NetworkSecurityGroup = cx.resource()?;
            let rg = cx.output_of(&g.resource_group, "id")?;
            let tags = tags_of(cx, &g.tags);
            let body = Tracked::<NsgProps> {
                location: Some(location_of(cx, &g.location, &g.resource_group)?),
                tags: Some(tags.clone()),
                ..Default::default()
            };
            let id = format!("{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}");
            (id, json(&body), tags)
        }
        Kind::Rule => {
            let r: SecurityRule = cx.resource()?;
            let nsg = cx.output_of(&r.nsg, "id")?;
            let body = Child {
                properties: rule_props(&r),
                ..Default::default()
            };
            (format!("{nsg}/securityRules/{name}"), json(&body), none)
        }
        Kind::PublicIp => {
            let ip: PublicIp = cx.resource()?;
            let rg = cx.output_of(&ip.resource_group, "id")?;
            let tags = tags_of(cx, &ip.tags);
            let body = Tracked {
                location: Some(location_of(cx, &ip.location, &ip.resource_group)?),
                tags: Some(tags.clone()),
                sku: Some(Sku {
                    name: format!("{:?}", ip.sku),
                    tier: Some("Regional".into()),
                }),
                properties: PipProps {
                    allocation: format!("{:?}", ip.allocation),
                    version: "IPv4".into(),
                    dns_settings: ip.dns_label.clone().map(|l| DnsSettings {
                        domain_name_label: l,
                        fqdn: None,
                    }),
                    idle_timeout_in_minutes: ip.idle_timeout_minutes,
                    ..Default::default()
                },
                ..Default::default()
            };
            let id = format!("{rg}/providers/Microsoft.Network/publicIPAddresses/{name}");
            (id, json(&body), tags)
        }
        Kind::Interface => {
            let n: NetworkInterface = cx.resource()?;
            let rg = cx.output_of(&n.resource_group, "id")?;
            let tags = tags_of(cx, &n.tags);
            let nsg = match &n.nsg {
                Some(g) => Some(IdRef::to(cx.output_of(g, "id")?)),
                None => None,
            };
            let primary = IpConfiguration {
                name: NetworkInterface::PRIMARY.into(),
                subnet: n.subnet,
                public_ip: n.public_ip,
                private_ip: n.private_ip.clone(),
            };
            let mut configs = Vec::new();
            let mut network: Option<(String, String)> = None;
            for (i, c) in std::iter::once(&primary)
                .chain(&n.ip_configurations)
                .enumerate()
            {
                let subnet = cx.output_of(&c.subnet, "id")?;
                // Azure keeps every configuration of an interface in one network.
                let vnet = network_of_subnet(&subnet);
                match &network {
                    None => network = Some((c.name.clone(), vnet)),
                    Some((first, net)) if !net.eq_ignore_ascii_case(&vnet) => {
                        return Err(fatal(format!(
                            "argument `ip_configurations`: configuration {:?} is in subnet {subnet}, \
                             outside the network of configuration {first:?} ({net}); an interface's \
                             configurations share one network",
                            c.name
                        )));
                    }
                    Some(_) => {}
                }
                configs.push(Child {
                    name: Some(c.name.clone()),
                    id: None,
                    properties: IpConfigProps {
                        subnet: Some(IdRef::to(subnet)),
                        private_allocation: Some(
                            if c.private_ip.is_some() {
                                "Static"
                            } else {
                                "Dynamic"
                            }
                            .into(),
                        ),
                        private_ip: c.private_ip.clone(),
                        public_ip: match &c.public_ip {
                            Some(ip) => Some(IdRef::to(cx.output_of(ip, "id")?)),
                            None => None,
                        },
                        primary: Some(i == 0),
                        ..Default::default()
                    },
                });
            }
            let body = Tracked {
                location: Some(location_of(cx, &n.location, &n.resource_group)?),
                tags: Some(tags.clone()),
                properties: NicProps {
                    ip_configurations: configs,
                    network_security_group: nsg,
                    enable_accelerated_networking: Some(n.accelerated_networking),
                    ..Default::default()
                },
                ..Default::default()
            };
            let id = format!("{rg}/providers/Microsoft.Network/networkInterfaces/{name}");
            (id, json(&body), tags)
        }
        Kind::Vm => {
            let vm: VirtualMachine = cx.resource()?;
            let rg = cx.output_of(&vm.resource_group, "id")?;
            let tags = tags_of(cx, &vm.tags);
            let key = match (&vm.ssh_public_key, &vm.ssh_public_key_file) {
                (Some(k), _) => Some(k.trim().to_owned()),
                (None, Some(f)) => Some(
                    std::fs::read_to_string(f)
                        .map_err(|e| fatal(format!("ssh_public_key_file {}: {e}", f.display())))?
                        .trim()
                        .to_owned(),
                ),
                (None, None) => None,
            };
            let mut nics = Vec::new();
            for (i, n) in vm.nics.iter().enumerate() {
                nics.push(NicRef {
                    id: cx.output_of(n, "id")?,
                    properties: Some(NicRefProps {
                        primary: Some(i == 0),
                        delete_option: Some("Detach".into()),
                    }),
                });
            }
            let user = vm.admin_user.clone();
            let body = Tracked {
                location: Some(location_of(cx, &vm.location, &vm.resource_group)?),
                tags: Some(tags.clone()),
                properties: VmProps {
                    hardware_profile: HardwareProfile {
                        vm_size: vm.size.clone(),
                    },
                    storage_profile: StorageProfile {
                        image_reference: Some(ImageRef {
                            publisher: vm.image.publisher.clone(),
                            offer: vm.image.offer.clone(),
                            sku: vm.image.sku.clone(),
                            version: vm.image.version.clone(),
                        }),
                        os_disk: OsDiskModel {
                            create_option: "FromImage".into(),
                            delete_option: if vm.os_disk.retain {
                                "Detach"
                            } else {
                                "Delete"
                            }
                            .into(),
                            disk_size_gb: vm.os_disk.size_gb,
                            managed_disk: vm.os_disk.storage_type.clone().map(|t| ManagedDisk {
                                storage_account_type: Some(t),
                                id: None,
                            }),
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                    os_profile: Some(OsProfile {
                        computer_name: vm
                            .computer_name
                            .clone()
                            .unwrap_or_else(|| names::computer_name(name)),
                        admin_username: user.clone(),
                        admin_password: vm.admin_password.as_ref().map(|s| s.expose().to_owned()),
                        linux_configuration: Some(LinuxConfiguration {
                            disable_password_authentication: vm.admin_password.is_none(),
                            ssh: key.map(|k| SshConfig {
                                public_keys: vec![SshKey {
                                    path: format!("/home/{user}/.ssh/authorized_keys"),
                                    key_data: k,
                                }],
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    network_profile: NetworkProfile {
                        network_interfaces: nics,
                    },
                    ..Default::default()
                },
                ..Default::default()
            };
            let id = format!("{rg}/providers/Microsoft.Compute/virtualMachines/{name}");
            (id, json(&body), tags)
        }
    };
    Ok(Desired {
        kind,
        id,
        body,
        tags,
    })
}

fn rule_props(r: &SecurityRule) -> RuleProps {
    RuleProps {
        protocol: r.protocol.arm().into(),
        source_port_range: Some(r.source_port_range.clone()),
        destination_port_range: Some(r.destination_port_range.clone()),
        source_address_prefix: Some(r.source_address_prefix.clone()),
        destination_address_prefix: Some(r.destination_address_prefix.clone()),
        access: format!("{:?}", r.access),
        priority: i64::from(r.priority),
        direction: format!("{:?}", r.direction),
        description: (!r.description.is_empty()).then(|| r.description.clone()),
        ..Default::default()
    }
}

/// Carries over into `body` what a PUT would otherwise delete or refuse to change: a network's
/// subnets, a security group's rules, top-level fields the proxy does not write (`zones` …).
pub(crate) fn carry_over(kind: Kind, body: &mut Value, existing: &Value) -> Result<(), String> {
    let keep_top = |body: &mut Value| {
        if let (Some(b), Some(e)) = (body.as_object_mut(), existing.as_object()) {
            for key in ["zones", "extendedLocation"] {
                if let Some(v) = e.get(key) {
                    b.entry(key.to_owned()).or_insert_with(|| v.clone());
                }
            }
        }
    };
    match kind {
        Kind::Network => {
            let old: Tracked<VnetProps> = parse(existing, "virtual network")?;
            let mut new: Tracked<VnetProps> = parse(body, "virtual network")?;
            new.properties.subnets = old.properties.subnets;
            *body = json(&new);
        }
        Kind::Subnet => {
            // What others set on the subnet (a route table, service endpoints, delegations) stays.
            let old: Child<SubnetProps> = parse(existing, "subnet")?;
            let mut new: Child<SubnetProps> = parse(body, "subnet")?;
            for (k, v) in old.properties.other {
                new.properties.other.entry(k).or_insert(v);
            }
            *body = json(&new);
        }
        Kind::SecurityGroup => {
            let old: Tracked<NsgProps> = parse(existing, "security group")?;
            let mut new: Tracked<NsgProps> = parse(body, "security group")?;
            new.properties.security_rules = old.properties.security_rules;
            *body = json(&new);
        }
        _ => {}
    }
    keep_top(body);
    Ok(())
}

/// The outputs of a resource as ARM has it (`body`). A VM's addresses come from its primary
/// interface and that one's public IP.
pub(crate) async fn outputs(
    arm: &ArmClient,
    kind: Kind,
    body: &Value,
) -> Result<Outputs, ArmError> {
    let bad = |e: String| ArmError::local("UnexpectedBody", e);
    let mut o = Outputs::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            o.insert(k.to_owned(), v.to_owned());
        }
    };
    let text = |k: &str| body.get(k).and_then(Value::as_str);
    put("id", text("id"));
    put("name", text("name"));
    match kind {
        Kind::Group => put("location", text("location")),
        Kind::Network | Kind::SecurityGroup | Kind::Rule => {}
        Kind::Subnet => {
            let s: Child<SubnetProps> = parse(body, "subnet").map_err(bad)?;
            put("address_prefix", s.properties.prefix());
        }
        Kind::PublicIp => {
            let ip: Tracked<PipProps> = parse(body, "public IP").map_err(bad)?;
            put("ip", ip.properties.ip_address.as_deref());
            put(
                "fqdn",
                ip.properties
                    .dns_settings
                    .as_ref()
                    .and_then(|d| d.fqdn.as_deref()),
            );
        }
        Kind::Interface => {
            let n: Tracked<NicProps> = parse(body, "network interface").map_err(bad)?;
            put(
                "private_ip",
                n.properties.primary().and_then(|c| c.private_ip.as_deref()),
            );
            // Primary first, then the others in the interface's order.
            let primary = n.properties.primary();
            let others = n
                .properties
                .ip_configurations
                .iter()
                .map(|c| &c.properties)
                .filter(|c| !primary.is_some_and(|p| std::ptr::eq(*c, p)));
            let ips: Vec<&str> = primary
                .into_iter()
                .chain(others)
                .filter_map(|c| c.private_ip.as_deref())
                .collect();
            put("private_ips", Some(&ips.join(",")));
            put("mac_address", n.properties.mac_address.as_deref());
        }
        Kind::Vm => {
            let vm: Tracked<VmProps> = parse(body, "virtual machine").map_err(bad)?;
            let p = &vm.properties;
            put("vm_id", p.vm_id.as_deref());
            put(
                "computer_name",
                p.os_profile.as_ref().map(|o| o.computer_name.as_str()),
            );
            put(
                "os_disk",
                p.storage_profile
                    .os_disk
                    .managed_disk
                    .as_ref()
                    .and_then(|d| d.id.as_deref()),
            );
            let nics = &p.network_profile.network_interfaces;
            let primary = nics
                .iter()
                .find(|n| n.properties.as_ref().and_then(|p| p.primary) == Some(true))
                .or_else(|| nics.first());
            let (mut private, mut public) = (None, None);
            if let Some(nic) = primary
                && let Some(nb) = arm.get(&nic.id, NETWORK_API).await?
            {
                let n: Tracked<NicProps> = parse(&nb, "network interface").map_err(bad)?;
                if let Some(c) = n.properties.primary() {
                    private = c.private_ip.clone();
                    if let Some(ip) = &c.public_ip
                        && let Some(pb) = arm.get(&ip.id, NETWORK_API).await?
                    {
                        let pip: Tracked<PipProps> = parse(&pb, "public IP").map_err(bad)?;
                        public = pip.properties.ip_address;
                    }
                }
            }
            put("private_ip", private.as_deref());
            put("public_ip", public.as_deref());
            put("ip", public.as_deref().or(private.as_deref()));
        }
    }
    Ok(o)
}

/// The tags of a resource body.
pub(crate) fn tags_in(body: &Value) -> BTreeMap<String, String> {
    body.get("tags")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

// ------------------------------------------------------------------------------------ pre-flight

fn check_tags(own: &BTreeMap<String, String>, cx: &ProvisionCx, out: &mut Vec<Invalid>) {
    let all = tags_of(cx, own);
    if all.len() > 50 {
        out.push(Invalid::new(
            "tags",
            format!("{} tags with the proxy's own; Azure allows 50", all.len()),
        ));
    }
    for (k, v) in &all {
        if k.len() > 512 || v.len() > 256 || k.chars().any(|c| "<>%&\\?/".contains(c)) {
            out.push(Invalid::new(
                "tags",
                format!(
                    "tag {k:?}: Azure takes names of up to 512 characters without `<>%&\\?/` and values of up to 256"
                ),
            ));
        }
    }
}

/// The network a subnet id belongs to: the id up to `/subnets/`.
fn network_of_subnet(subnet_id: &str) -> String {
    let lower = subnet_id.to_ascii_lowercase();
    match lower.rfind("/subnets/") {
        Some(i) => subnet_id[..i].to_owned(),
        None => subnet_id.to_owned(),
    }
}

/// An interface's further IP configurations: names Azure takes and unique in the interface
/// (the primary's included), IPv4 static addresses, no public IP on two configurations, no two
/// configurations with the same static address.
fn check_ip_configurations(n: &NetworkInterface, out: &mut Vec<Invalid>) {
    let mut names = vec![NetworkInterface::PRIMARY.to_ascii_lowercase()];
    let mut public_ips = n.public_ip.iter().map(|r| r.at()).collect::<Vec<_>>();
    let mut addresses: Vec<&str> = n.private_ip.iter().map(String::as_str).collect();
    for c in &n.ip_configurations {
        if let Some(e) = names::NETWORK.check(&c.name) {
            out.push(Invalid::new("ip_configurations", format!("name {e}")));
        }
        let lower = c.name.to_ascii_lowercase();
        if names.contains(&lower) {
            out.push(Invalid::new(
                "ip_configurations",
                format!(
                    "{:?} names two configurations of the interface (the primary is {:?})",
                    c.name,
                    NetworkInterface::PRIMARY
                ),
            ));
        }
        names.push(lower);
        if let Some(ip) = &c.public_ip {
            if public_ips.contains(&ip.at()) {
                out.push(Invalid::new(
                    "ip_configurations",
                    format!(
                        "configuration {:?} takes a public IP another configuration has; a public IP serves one",
                        c.name
                    ),
                ));
            }
            public_ips.push(ip.at());
        }
        if let Some(a) = &c.private_ip {
            if a.parse::<std::net::Ipv4Addr>().is_err() {
                out.push(Invalid::new(
                    "ip_configurations",
                    format!("configuration {:?}: {a:?} is not an IPv4 address", c.name),
                ));
            } else if addresses.contains(&a.as_str()) {
                out.push(Invalid::new(
                    "ip_configurations",
                    format!(
                        "configuration {:?}: {a} is taken by another configuration",
                        c.name
                    ),
                ));
            }
            addresses.push(a);
        }
    }
}

fn check_name(kind: Kind, name: &str, out: &mut Vec<Invalid>) {
    let mut rule = kind.rule();
    if kind.alternates() {
        // Room for the replacement's `-r`.
        rule.max -= 2;
    }
    if let Some(e) = rule.check(name) {
        out.push(Invalid::new("name", e));
    }
}

/// Everything about `cx`'s resource that can be known before calling Azure.
pub(crate) fn validate(p: &AzureProxy, kind: Kind, cx: &ProvisionCx) -> Vec<Invalid> {
    let mut out = Vec::new();
    let Ok(name) = base_name(p, kind, cx) else {
        return out;
    };
    check_name(kind, &name, &mut out);
    let location = |own: &Option<String>, out: &mut Vec<Invalid>| {
        if own
            .as_deref()
            .is_some_and(|l| names::location(l).is_empty())
        {
            out.push(Invalid::new("location", "an empty location"));
        }
    };
    match kind {
        Kind::Group => {
            let Ok(g) = cx.resource::<ResourceGroup>() else {
                return out;
            };
            if g.location.is_none() && p.fallback_location().is_none() {
                out.push(Invalid::new(
                    "location",
                    format!(
                        "no location: give the group `.location(…)` or proxy `{}` \
                         `.default_location(…)` (or set AZURE_LOCATION)",
                        p.name()
                    ),
                ));
            }
            location(&g.location, &mut out);
            check_tags(&g.tags, cx, &mut out);
        }
        Kind::Network => {
            let Ok(n) = cx.resource::<VirtualNetwork>() else {
                return out;
            };
            if n.address_prefixes.is_empty() {
                out.push(Invalid::new("address_prefixes", "no address range"));
            }
            for a in &n.address_prefixes {
                if let Some(e) = names::check_range(a, 29) {
                    out.push(Invalid::new("address_prefixes", e));
                }
            }
            for d in &n.dns_servers {
                if d.parse::<IpAddr>().is_err() {
                    out.push(Invalid::new(
                        "dns_servers",
                        format!("{d:?} is not an IP address"),
                    ));
                }
            }
            location(&n.location, &mut out);
            check_tags(&n.tags, cx, &mut out);
        }
        Kind::Subnet => {
            let Ok(s) = cx.resource::<Subnet>() else {
                return out;
            };
            if let Some(e) = names::check_range(&s.address_prefix, 29) {
                out.push(Invalid::new("address_prefix", e));
            }
        }
        Kind::SecurityGroup => {
            let Ok(g) = cx.resource::<NetworkSecurityGroup>() else {
                return out;
            };
            location(&g.location, &mut out);
            check_tags(&g.tags, cx, &mut out);
        }
        Kind::Rule => {
            let Ok(r) = cx.resource::<SecurityRule>() else {
                return out;
            };
            if !(100..=4096).contains(&r.priority) {
                out.push(Invalid::new(
                    "priority",
                    format!("{}: a rule's priority is 100 to 4096", r.priority),
                ));
            }
            for (arg, v) in [
                ("destination_port_range", &r.destination_port_range),
                ("source_port_range", &r.source_port_range),
            ] {
                if let Some(e) = names::check_ports(v) {
                    out.push(Invalid::new(arg, e));
                }
            }
            for (arg, v) in [
                ("source_address_prefix", &r.source_address_prefix),
                ("destination_address_prefix", &r.destination_address_prefix),
            ] {
                if let Some(e) = names::check_rule_address(v) {
                    out.push(Invalid::new(arg, e));
                }
            }
            if r.description.chars().count() > 140 {
                out.push(Invalid::new(
                    "description",
                    "a rule's description has at most 140 characters",
                ));
            }
        }
        Kind::PublicIp => {
            let Ok(ip) = cx.resource::<PublicIp>() else {
                return out;
            };
            if ip.sku == PublicIpSku::Standard && ip.allocation == Allocation::Dynamic {
                out.push(Invalid::new(
                    "allocation",
                    "a Standard public IP is Static (Dynamic needs the Basic SKU)",
                ));
            }
            if let Some(e) = ip.dns_label.as_deref().and_then(names::check_dns_label) {
                out.push(Invalid::new("dns_label", e));
            }
            if let Some(t) = ip.idle_timeout_minutes.filter(|t| !(4..=30).contains(t)) {
                out.push(Invalid::new(
                    "idle_timeout_minutes",
                    format!("{t}: the idle timeout is 4 to 30 minutes"),
                ));
            }
            location(&ip.location, &mut out);
            check_tags(&ip.tags, cx, &mut out);
        }
        Kind::Interface => {
            let Ok(n) = cx.resource::<NetworkInterface>() else {
                return out;
            };
            if let Some(a) = &n.private_ip
                && a.parse::<std::net::Ipv4Addr>().is_err()
            {
                out.push(Invalid::new(
                    "private_ip",
                    format!("{a:?} is not an IPv4 address"),
                ));
            }
            check_ip_configurations(&n, &mut out);
            location(&n.location, &mut out);
            check_tags(&n.tags, cx, &mut out);
        }
        Kind::Vm => {
            let Ok(vm) = cx.resource::<VirtualMachine>() else {
                return out;
            };
            let host = vm
                .computer_name
                .clone()
                .unwrap_or_else(|| names::computer_name(&name));
            if let Some(e) = names::check_computer_name(&host) {
                out.push(Invalid::new("computer_name", e));
            }
            if let Some(e) = names::check_admin_user(&vm.admin_user) {
                out.push(Invalid::new("admin_user", e));
            }
            if vm.nics.is_empty() {
                out.push(Invalid::new(
                    "nics",
                    "a VM needs a network interface (`.nics([…])`)",
                ));
            }
            if vm.size.trim().is_empty() || vm.size.contains(char::is_whitespace) {
                out.push(Invalid::new(
                    "size",
                    format!("{:?} is not a VM size", vm.size),
                ));
            }
            let i = &vm.image;
            if [&i.publisher, &i.offer, &i.sku, &i.version]
                .iter()
                .any(|s| s.trim().is_empty())
            {
                out.push(Invalid::new(
                    "image",
                    format!(
                        "an image has a publisher, offer, SKU and version: {:?}",
                        vm.image
                    ),
                ));
            }
            let key = match (&vm.ssh_public_key, &vm.ssh_public_key_file) {
                (Some(k), _) => Some(k.clone()),
                (None, Some(f)) => match std::fs::read_to_string(f) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        out.push(Invalid::new(
                            "ssh_public_key_file",
                            format!("{}: {e}", f.display()),
                        ));
                        None
                    }
                },
                (None, None) => None,
            };
            if let Some(e) = key.as_deref().and_then(names::check_ssh_key) {
                out.push(Invalid::new("ssh_public_key", e));
            }
            if vm.ssh_public_key.is_none()
                && vm.ssh_public_key_file.is_none()
                && vm.admin_password.is_none()
            {
                out.push(Invalid::new(
                    "admin_password",
                    "a Linux VM needs an SSH public key or a password for its administrator",
                ));
            }
            if let Some(e) = vm
                .admin_password
                .as_ref()
                .and_then(|pw| names::check_password(pw.expose()))
            {
                out.push(Invalid::new("admin_password", e));
            }
            location(&vm.location, &mut out);
            check_tags(&vm.tags, cx, &mut out);
        }
    }
    out
}

/// The model path the parent of `cx`'s resource sits at, for finding two resources that would
/// share one Azure id (`None`: a resource group, whose names are subscription-wide).
pub(crate) fn parent_of(kind: Kind, cx: &ProvisionCx) -> Option<actuator::model::At> {
    match kind {
        Kind::Group => None,
        Kind::Network => cx
            .resource::<VirtualNetwork>()
            .ok()
            .map(|r| r.resource_group.at()),
        Kind::Subnet => cx.resource::<Subnet>().ok().map(|r| r.network.at()),
        Kind::SecurityGroup => cx
            .resource::<NetworkSecurityGroup>()
            .ok()
            .map(|r| r.resource_group.at()),
        Kind::Rule => cx.resource::<SecurityRule>().ok().map(|r| r.nsg.at()),
        Kind::PublicIp => cx
            .resource::<PublicIp>()
            .ok()
            .map(|r| r.resource_group.at()),
        Kind::Interface => cx
            .resource::<NetworkInterface>()
            .ok()
            .map(|r| r.resource_group.at()),
        Kind::Vm => cx
            .resource::<VirtualMachine>()
            .ok()
            .map(|r| r.resource_group.at()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_carries_over_what_it_does_not_manage() {
        let existing = serde_json::json!({"id": "/s", "name": "s", "properties": {
            "addressPrefix": "10.0.1.0/24", "provisioningState": "Succeeded",
            "routeTable": {"id": "/rt"}, "ipConfigurations": [{"id": "/nic/ipConfigurations/c"}]}});
        let mut body = serde_json::json!({"properties": {"addressPrefix": "10.0.1.0/24",
            "networkSecurityGroup": {"id": "/nsg"}}});
        carry_over(Kind::Subnet, &mut body, &existing).unwrap();
        let p = &body["properties"];
        assert_eq!(
            (
                p["routeTable"]["id"].as_str(),
                p["networkSecurityGroup"]["id"].as_str()
            ),
            (Some("/rt"), Some("/nsg"))
        );
        assert!(p.get("ipConfigurations").is_none() && p.get("provisioningState").is_none());
        let vnet = serde_json::json!({"location": "l", "zones": ["1"], "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "theirs", "properties": {"addressPrefix": "10.0.9.0/24"}}]}});
        let mut body = serde_json::json!({"location": "l", "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/15"]}}});
        carry_over(Kind::Network, &mut body, &vnet).unwrap();
        assert_eq!(body["properties"]["subnets"][0]["name"], "theirs");
        assert_eq!(
            body["properties"]["addressSpace"]["addressPrefixes"][0],
            "10.0.0.0/15"
        );
        assert_eq!(body["zones"][0], "1");
    }

    #[test]
    fn kinds_and_locks() {
        assert_eq!(Kind::of("azure.Subnet"), Some(Kind::Subnet));
        assert_eq!(
            Kind::of_arm_type("microsoft.network/publicipaddresses"),
            Some(Kind::PublicIp)
        );
        let vnet =
            "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/V";
        assert_eq!(
            Kind::Subnet.lock_of(&format!("{vnet}/subnets/a")),
            Kind::Network.lock_of(vnet)
        );
        assert_eq!(Kind::Vm.lock_of("/x"), None);
        assert!(!Kind::Rule.tagged() && Kind::Vm.tagged());
    }
}
