//! `Microsoft.Network`: validation of VNet, subnet, NSG, security rule, public IP and NIC bodies,
//! with the referential rules the real provider enforces.
//!
//! A VNet PUT *replaces* its subnet list (omitting a subnet deletes it, or fails with
//! `InUseSubnetCannotBeDeleted` when a NIC uses it), and an NSG PUT replaces its rule list the same
//! way; children PUT on their own appear in their parent's list.

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use crate::ResourceKind;
use crate::body;
use crate::error::ArmError;
use crate::handlers::{PutCtx, Upsert, check_ref, upsert};
use crate::ipam::Cidr;
use crate::path::ResourcePath;
use crate::reply::Reply;
use crate::store::{self, Resource, State, prop_ref, ref_at, str_at};

/// Read-only members clients echo back from a GET; ignored on PUT.
const COMMON_READONLY: &[&str] = &["provisioningState", "resourceGuid", "etag"];

fn strip_common(props: &mut Map<String, Value>) {
    body::strip(props, COMMON_READONLY);
}

/// The `name` of an embedded child (`subnets[i]`, `securityRules[i]`), with its properties.
fn embedded(v: &Value, what: &str) -> Result<(String, Map<String, Value>), ArmError> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| body::valid_resource_name(n))
        .ok_or_else(|| {
            ArmError::invalid_request_format(format!(
                "Every item of '{what}' needs a valid 'name'."
            ))
        })?;
    let props = match v.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => {
            return Err(ArmError::invalid_request_format(format!(
                "'{what}' item '{name}' has non-object properties."
            )));
        }
    };
    Ok((name.to_string(), props))
}

fn upsert_simple(
    st: &mut State,
    ctx: &PutCtx,
    props: Map<String, Value>,
    top: Map<String, Value>,
) -> String {
    upsert(
        st,
        Upsert {
            kind: ctx.kind,
            id: ctx.id.clone(),
            name: ctx.name.clone(),
            sub: ctx.sub.clone(),
            group: store::group_key(&ctx.sub, &ctx.group.name),
            parent: ctx.parent.as_ref().map(Resource::key),
            location: ctx.body.location.clone(),
            tags: ctx.body.tags.clone(),
            props,
            top,
        },
    )
}

// ---------------------------------------------------------------- virtual networks and subnets

fn vnet_prefixes(props: &Map<String, Value>, vnet_id: &str) -> Result<Vec<Cidr>, ArmError> {
    let prefixes: Vec<&str> = props
        .get("addressSpace")
        .and_then(|a| a.get("addressPrefixes"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if prefixes.is_empty() {
        return Err(ArmError::invalid_request_format(format!(
            "Virtual network {vnet_id} must have at least one address prefix in \
             properties.addressSpace.addressPrefixes."
        )));
    }
    prefixes
        .into_iter()
        .map(|p| {
            Cidr::parse(p).ok_or_else(|| {
                ArmError::new(
                    400,
                    "InvalidAddressPrefixFormatting",
                    format!("Address prefix {p} of resource {vnet_id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."),
                )
                .with_empty_details()
            })
        })
        .collect()
}

/// Validates a subnet's properties against its VNet's address space and its siblings; returns
/// the cleaned properties and its prefix.
fn check_subnet(
    st: &State,
    subnet_id: &str,
    name: &str,
    vnet_name: &str,
    space: &[Cidr],
    siblings: &[(String, Cidr)],
    mut props: Map<String, Value>,
) -> Result<(Map<String, Value>, Cidr), ArmError> {
    body::strip(
        &mut props,
        &[
            "provisioningState",
            "ipConfigurations",
            "purpose",
            "resourceNavigationLinks",
            "serviceAssociationLinks",
        ],
    );
    let prefix = props
        .get("addressPrefix")
        .and_then(Value::as_str)
        .or_else(|| {
            props
                .get("addressPrefixes")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
        })
        .ok_or_else(|| {
            ArmError::invalid_request_format(format!(
                "Subnet {name} must have addressPrefix or addressPrefixes."
            ))
        })?;
    let cidr = Cidr::parse(prefix).ok_or_else(|| {
        ArmError::new(
            400,
            "InvalidAddressPrefixFormatting",
            format!("Address prefix {prefix} of resource {subnet_id} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."),
        )
        .with_empty_details()
    })?;
    if !space.iter().any(|s| s.contains(cidr)) {
        return Err(ArmError::new(
            400,
            "NetcfgSubnetRangeOutsideVnet",
            format!("Subnet '{name}' is not valid because its IP address range is outside the IP address range of virtual network '{vnet_name}'."),
        )
        .with_empty_details());
    }
    if let Some((other, _)) = siblings
        .iter()
        .find(|(n, c)| !n.eq_ignore_ascii_case(name) && c.overlaps(cidr))
    {
        return Err(ArmError::new(
            400,
            "NetcfgSubnetRangesOverlap",
            format!("Subnet '{name}' is not valid because its IP address range overlaps with that of an existing subnet '{other}' in virtual network '{vnet_name}'."),
        )
        .with_empty_details());
    }
    if let Some(nsg) = prop_ref(&props, &["networkSecurityGroup"]) {
        check_ref(st, nsg, ResourceKind::NetworkSecurityGroup, subnet_id)?;
    }
    Ok((props, cidr))
}

fn subnet_prefix(r: &Resource) -> Option<Cidr> {
    r.props
        .get("addressPrefix")
        .and_then(Value::as_str)
        .or_else(|| {
            r.props
                .get("addressPrefixes")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
        })
        .and_then(Cidr::parse)
}

/// A subnet that changes prefix while NICs use it fails.
fn check_prefix_change(st: &State, existing: Option<&Resource>, new: Cidr) -> Result<(), ArmError> {
    if let Some(e) = existing
        && subnet_prefix(e) != Some(new)
    {
        let users = st.subnet_users(&e.key());
        if !users.is_empty() {
            return Err(ArmError::subnet_in_use_update(&e.name, &users));
        }
    }
    Ok(())
}

pub(crate) fn put_vnet(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let mut props = ctx.body.properties.clone();
    strip_common(&mut props);
    let listed = match props.remove("subnets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ArmError::invalid_request_format(
                "'subnets' must be an array.",
            ));
        }
    };
    props.remove("virtualNetworkPeerings");
    let space = vnet_prefixes(&props, &ctx.id)?;

    // Validate every listed subnet against the new space and each other.
    let mut checked: Vec<(String, String, Map<String, Value>)> = Vec::new();
    let mut prefixes: Vec<(String, Cidr)> = Vec::new();
    for item in &listed {
        let (name, sprops) = embedded(item, "subnets")?;
        let id = format!("{}/subnets/{name}", ctx.id);
        let (sprops, cidr) = check_subnet(st, &id, &name, &ctx.name, &space, &prefixes, sprops)?;
        check_prefix_change(st, st.get_kind(&id, ResourceKind::Subnet), cidr)?;
        prefixes.push((name.clone(), cidr));
        checked.push((id, name, sprops));
    }
    // Existing subnets missing from the list are deleted, unless something uses them.
    let mut dropped = Vec::new();
    if let Some(existing) = &ctx.existing {
        for s in st.children(&existing.key()) {
            if !checked.iter().any(|(id, _, _)| store::key(id) == s.key()) {
                let users = st.subnet_users(&s.key());
                if !users.is_empty() {
                    return Err(ArmError::subnet_in_use(&s.name, &users));
                }
                dropped.push(s.key());
            }
        }
    }

    let vnet_key = upsert_simple(st, ctx, props, ctx.body.top.clone());
    for k in dropped {
        st.remove(&k);
    }
    let mut ids = vec![ctx.id.clone()];
    for (id, name, sprops) in checked {
        upsert(
            st,
            Upsert {
                kind: ResourceKind::Subnet,
                id: id.clone(),
                name,
                sub: ctx.sub.clone(),
                group: store::group_key(&ctx.sub, &ctx.group.name),
                parent: Some(vnet_key.clone()),
                location: None,
                tags: None,
                props: sprops,
                top: Map::new(),
            },
        );
        ids.push(id);
    }
    Ok(ids)
}

pub(crate) fn put_subnet(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let vnet = ctx.parent.as_ref().expect("subnets have a parent");
    let space = vnet_prefixes(&vnet.props, &vnet.id)?;
    let siblings: Vec<(String, Cidr)> = st
        .children(&vnet.key())
        .into_iter()
        .filter_map(|s| subnet_prefix(s).map(|c| (s.name.clone(), c)))
        .collect();
    let (props, cidr) = check_subnet(
        st,
        &ctx.id,
        &ctx.name,
        &vnet.name,
        &space,
        &siblings,
        ctx.body.properties.clone(),
    )?;
    check_prefix_change(st, ctx.existing.as_ref(), cidr)?;
    upsert_simple(st, ctx, props, Map::new());
    Ok(vec![ctx.id.clone()])
}

// ---------------------------------------------------------------- security groups and rules

const PROTOCOLS: &[&str] = &["Tcp", "Udp", "Icmp", "Esp", "Ah", "*"];

fn check_rule(
    id: &str,
    name: &str,
    mut props: Map<String, Value>,
    siblings: &[(String, String, i64)],
) -> Result<Map<String, Value>, ArmError> {
    body::strip(&mut props, &["provisioningState"]);
    let text = |k: &str| props.get(k).and_then(Value::as_str).map(str::to_string);
    let param = |what: &str| {
        ArmError::new(
            400,
            "SecurityRuleParameterContainsUnsupportedValue",
            format!("Security rule parameter {what} for rule with Id {id} cannot be specified or has an unsupported value."),
        )
        .with_empty_details()
    };
    let protocol = text("protocol").ok_or_else(|| param("Protocol"))?;
    let protocol = PROTOCOLS
        .iter()
        .find(|p| p.eq_ignore_ascii_case(&protocol))
        .ok_or_else(|| param("Protocol"))?;
    text("access")
        .filter(|a| a == "Allow" || a == "Deny")
        .ok_or_else(|| param("Access"))?;
    let direction = text("direction")
        .filter(|d| d == "Inbound" || d == "Outbound")
        .ok_or_else(|| param("Direction"))?;
    let priority = props
        .get("priority")
        .and_then(Value::as_i64)
        .ok_or_else(|| param("Priority"))?;
    props.insert("protocol".into(), json!(protocol));
    if !(100..=4096).contains(&priority) {
        return Err(ArmError::new(
            400,
            "SecurityRuleInvalidPriority",
            format!("Security rule has invalid Priority. Value provided: {priority} Allowed range 100-4096."),
        )
        .with_empty_details());
    }
    for (one, many, what) in [
        ("sourcePortRange", "sourcePortRanges", "SourcePortRange"),
        (
            "destinationPortRange",
            "destinationPortRanges",
            "DestinationPortRange",
        ),
        (
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "SourceAddressPrefix",
        ),
        (
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            "DestinationAddressPrefix",
        ),
    ] {
        let has_one = props
            .get(one)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty());
        let has_many = props
            .get(many)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if has_one == has_many {
            return Err(param(what));
        }
        props.entry(many.to_string()).or_insert_with(|| json!([]));
    }
    if let Some((other, _, _)) = siblings
        .iter()
        .find(|(n, d, p)| !n.eq_ignore_ascii_case(name) && *d == direction && *p == priority)
    {
        return Err(ArmError::new(
            400,
            "SecurityRuleConflict",
            format!("Security rule {name} conflicts with rule {other}. Rules cannot have the same Priority and Direction."),
        )
        .with_empty_details());
    }
    Ok(props)
}

fn rule_key(name: &str, props: &Map<String, Value>) -> (String, String, i64) {
    (
        name.to_string(),
        props
            .get("direction")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        props
            .get("priority")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
    )
}

pub(crate) fn put_nsg(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let mut props = ctx.body.properties.clone();
    strip_common(&mut props);
    body::strip(
        &mut props,
        &[
            "defaultSecurityRules",
            "networkInterfaces",
            "subnets",
            "flowLogs",
        ],
    );
    let listed = match props.remove("securityRules") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(ArmError::invalid_request_format(
                "'securityRules' must be an array.",
            ));
        }
    };
    let mut checked: Vec<(String, String, Map<String, Value>)> = Vec::new();
    let mut seen: Vec<(String, String, i64)> = Vec::new();
    for item in &listed {
        let (name, rprops) = embedded(item, "securityRules")?;
        let id = format!("{}/securityRules/{name}", ctx.id);
        let rprops = check_rule(&id, &name, rprops, &seen)?;
        seen.push(rule_key(&name, &rprops));
        checked.push((id, name, rprops));
    }
    let dropped: Vec<String> = ctx
        .existing
        .as_ref()
        .map(|e| {
            st.children(&e.key())
                .into_iter()
                .filter(|r| !checked.iter().any(|(id, _, _)| store::key(id) == r.key()))
                .map(Resource::key)
                .collect()
        })
        .unwrap_or_default();
    let nsg_key = upsert_simple(st, ctx, props, ctx.body.top.clone());
    for k in dropped {
        st.remove(&k);
    }
    let mut ids = vec![ctx.id.clone()];
    for (id, name, rprops) in checked {
        upsert(
            st,
            Upsert {
                kind: ResourceKind::SecurityRule,
                id: id.clone(),
                name,
                sub: ctx.sub.clone(),
                group: store::group_key(&ctx.sub, &ctx.group.name),
                parent: Some(nsg_key.clone()),
                location: None,
                tags: None,
                props: rprops,
                top: Map::new(),
            },
        );
        ids.push(id);
    }
    Ok(ids)
}

pub(crate) fn put_rule(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let nsg = ctx.parent.as_ref().expect("rules have a parent");
    let siblings: Vec<(String, String, i64)> = st
        .children(&nsg.key())
        .into_iter()
        .map(|r| rule_key(&r.name, &r.props))
        .collect();
    let props = check_rule(&ctx.id, &ctx.name, ctx.body.properties.clone(), &siblings)?;
    upsert_simple(st, ctx, props, Map::new());
    Ok(vec![ctx.id.clone()])
}

/// The six rules every NSG has.
pub(crate) fn default_rule_set() -> Vec<(&'static str, Value)> {
    let rule = |desc: &str, src: &str, dst: &str, access: &str, priority: u32, direction: &str| {
        json!({
            "description": desc,
            "protocol": "*",
            "sourcePortRange": "*",
            "destinationPortRange": "*",
            "sourceAddressPrefix": src,
            "destinationAddressPrefix": dst,
            "access": access,
            "priority": priority,
            "direction": direction,
            "sourcePortRanges": [],
            "destinationPortRanges": [],
            "sourceAddressPrefixes": [],
            "destinationAddressPrefixes": [],
        })
    };
    vec![
        (
            "AllowVnetInBound",
            rule(
                "Allow inbound traffic from all VMs in VNET",
                "VirtualNetwork",
                "VirtualNetwork",
                "Allow",
                65000,
                "Inbound",
            ),
        ),
        (
            "AllowAzureLoadBalancerInBound",
            rule(
                "Allow inbound traffic from azure load balancer",
                "AzureLoadBalancer",
                "*",
                "Allow",
                65001,
                "Inbound",
            ),
        ),
        (
            "DenyAllInBound",
            rule(
                "Deny all inbound traffic",
                "*",
                "*",
                "Deny",
                65500,
                "Inbound",
            ),
        ),
        (
            "AllowVnetOutBound",
            rule(
                "Allow outbound traffic from all VMs to all VMs in VNET",
                "VirtualNetwork",
                "VirtualNetwork",
                "Allow",
                65000,
                "Outbound",
            ),
        ),
        (
            "AllowInternetOutBound",
            rule(
                "Allow outbound traffic from all VMs to Internet",
                "*",
                "Internet",
                "Allow",
                65001,
                "Outbound",
            ),
        ),
        (
            "DenyAllOutBound",
            rule(
                "Deny all outbound traffic",
                "*",
                "*",
                "Deny",
                65500,
                "Outbound",
            ),
        ),
    ]
}

/// `GET …/networkSecurityGroups/{nsg}/defaultSecurityRules[/{name}]`.
pub(crate) fn default_rules(st: &State, path: &ResourcePath) -> Result<Reply, ArmError> {
    let group = st.require_group(&path.sub, &path.rg)?;
    let nsg_name = path.parent.as_deref().unwrap_or_default();
    let nsg_id = format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/{nsg_name}",
        group.id
    );
    let nsg = st
        .get_kind(&nsg_id, ResourceKind::NetworkSecurityGroup)
        .ok_or_else(|| {
            ArmError::resource_not_found(
                ResourceKind::NetworkSecurityGroup.arm_type(),
                nsg_name,
                &group.name,
            )
        })?;
    let all = crate::render::default_rules(nsg);
    match &path.name {
        None => Ok(Reply::json(200, json!({ "value": all }))),
        Some(name) => all
            .into_iter()
            .find(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|r| Reply::json(200, r))
            .ok_or_else(|| {
                ArmError::nested_not_found(&format!("{}/defaultSecurityRules/{name}", nsg.id))
            }),
    }
}

// ---------------------------------------------------------------- public IPs

pub(crate) fn put_pip(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let mut props = ctx.body.properties.clone();
    strip_common(&mut props);
    body::strip(&mut props, &["ipConfiguration", "ipAddress", "natGateway"]);
    let mut top = ctx.body.top.clone();
    let sku = top
        .get("sku")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("Basic")
        .to_string();
    if sku != "Basic" && sku != "Standard" {
        return Err(ArmError::invalid_request_format(format!(
            "Unknown public IP SKU '{sku}'."
        )));
    }
    let tier = top
        .get("sku")
        .and_then(|s| s.get("tier"))
        .and_then(Value::as_str)
        .unwrap_or("Regional")
        .to_string();
    top.insert("sku".into(), json!({ "name": sku, "tier": tier }));
    let method = props
        .get("publicIPAllocationMethod")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| {
            if sku == "Standard" {
                "Static"
            } else {
                "Dynamic"
            }
            .to_string()
        });
    if method != "Static" && method != "Dynamic" {
        return Err(ArmError::invalid_request_format(format!(
            "Unknown publicIPAllocationMethod '{method}'."
        )));
    }
    if sku == "Standard" && method == "Dynamic" {
        return Err(ArmError::new(
            400,
            "StandardSkuPublicIPAddressesCannotBeDynamic",
            format!(
                "Standard sku public IP addresses {} must have allocation method Static.",
                ctx.id
            ),
        )
        .with_empty_details());
    }
    props.insert("publicIPAllocationMethod".into(), json!(method));
    let version = props
        .get("publicIPAddressVersion")
        .and_then(Value::as_str)
        .unwrap_or("IPv4")
        .to_string();
    if version != "IPv4" {
        return Err(ArmError::unsupported("IPv6 public IP addresses"));
    }
    props.insert("publicIPAddressVersion".into(), json!(version));
    let idle = props
        .get("idleTimeoutInMinutes")
        .and_then(Value::as_i64)
        .unwrap_or(4);
    if !(4..=30).contains(&idle) {
        return Err(ArmError::new(
            400,
            "PublicIPIdleTimeoutIsOutOfRange",
            format!(
                "The idle timeout {idle} of public IP address {} is out of range 4-30.",
                ctx.id
            ),
        )
        .with_empty_details());
    }
    props.insert("idleTimeoutInMinutes".into(), json!(idle));
    props.entry("ipTags").or_insert_with(|| json!([]));
    let k = upsert_simple(st, ctx, props, top);
    let attached = st.pip_user(&k).is_some();
    let n = st.next_counter();
    let pool = st.public_ip_pool;
    if let Some(p) = st.resources.get_mut(&k) {
        if method == "Static" {
            if p.ip_address.is_none() {
                p.ip_address = Some(pool.nth(n).to_string());
            }
        } else if !attached {
            p.ip_address = None;
        }
    }
    Ok(vec![ctx.id.clone()])
}

// ---------------------------------------------------------------- network interfaces

pub(crate) fn put_nic(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let mut props = ctx.body.properties.clone();
    strip_common(&mut props);
    body::strip(
        &mut props,
        &[
            "virtualMachine",
            "macAddress",
            "primary",
            "hostedWorkloads",
            "tapConfigurations",
            "privateEndpoint",
            "vnetEncryptionSupported",
        ],
    );
    if let Some(nsg) = prop_ref(&props, &["networkSecurityGroup"]) {
        check_ref(st, nsg, ResourceKind::NetworkSecurityGroup, &ctx.id)?;
    }
    let configs = match props.remove("ipConfigurations") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        _ => {
            return Err(ArmError::invalid_request_format(format!(
                "Network interface {} must have at least one IP configuration.",
                ctx.id
            )));
        }
    };
    let nic_key = store::key(&ctx.id);
    let explicit_primaries = configs
        .iter()
        .filter(|c| {
            c.get("properties")
                .and_then(|p| p.get("primary"))
                .and_then(Value::as_bool)
                == Some(true)
        })
        .count();
    if configs.len() > 1 && explicit_primaries != 1 {
        return Err(ArmError::invalid_request_format(format!(
            "Network interface {} with multiple IP configurations must have exactly one primary.",
            ctx.id
        )));
    }
    let previous: Vec<Value> = ctx
        .existing
        .as_ref()
        .map(|e| store::ip_configs(e).cloned().collect())
        .unwrap_or_default();
    let mut taken: Vec<(String, Ipv4Addr)> = Vec::new();
    // (configuration name, its network's key) and (public IP key, configuration id) so far.
    let mut names: Vec<(String, Option<String>)> = Vec::new();
    let mut pips: Vec<(String, String)> = Vec::new();
    let mut out = Vec::new();
    for cfg in &configs {
        let (name, mut cprops) = embedded(cfg, "ipConfigurations")?;
        body::strip(&mut cprops, &["provisioningState"]);
        let ipc_id = format!("{}/ipConfigurations/{name}", ctx.id);
        if names.iter().any(|(n, _)| n.eq_ignore_ascii_case(&name)) {
            return Err(ArmError::invalid_request_format(format!(
                "Network interface {} has two IP configurations named {name}.",
                ctx.id
            )));
        }
        let cval = Value::Object(cprops.clone());
        let subnet_id = ref_at(&cval, &["subnet"]).ok_or_else(|| {
            ArmError::invalid_request_format(format!(
                "IP configuration {ipc_id} must reference a subnet."
            ))
        })?;
        let subnet = check_ref(st, subnet_id, ResourceKind::Subnet, &ctx.id)?;
        if let Some(vnet) = subnet.parent.as_ref().and_then(|p| st.resources.get(p))
            && vnet.location != ctx.body.location
        {
            return Err(ArmError::invalid_reference(subnet_id, &ctx.id));
        }
        // Every configuration of an interface is in one virtual network.
        if let Some((first, first_vnet)) = names.first()
            && *first_vnet != subnet.parent
        {
            return Err(ArmError::invalid_request_format(format!(
                "IP configuration {ipc_id} references subnet {subnet_id}, which is not in the \
                 virtual network of IP configuration {first}: all IP configurations of a network \
                 interface must be in the same virtual network."
            )));
        }
        names.push((name.clone(), subnet.parent.clone()));
        let subnet_key = subnet.key();
        let subnet_canonical = subnet.id.clone();
        let cidr =
            subnet_prefix(subnet).ok_or_else(|| ArmError::invalid_reference(subnet_id, &ctx.id))?;
        if let Some(pip) = ref_at(&cval, &["publicIPAddress"]) {
            let pip_res = check_ref(st, pip, ResourceKind::PublicIpAddress, &ctx.id)?;
            // Attached elsewhere; this NIC's own (possibly renamed) configurations don't count.
            if let Some(other) = st.pip_user(&pip_res.key())
                && !store::key(&other).starts_with(&format!("{nic_key}/ipconfigurations/"))
            {
                return Err(ArmError::pip_in_use(&ipc_id, &pip_res.id, &other));
            }
            // ... and no two configurations of this request share one.
            if let Some((_, other)) = pips.iter().find(|(k, _)| *k == pip_res.key()) {
                return Err(ArmError::pip_in_use(&ipc_id, &pip_res.id, other));
            }
            pips.push((pip_res.key(), ipc_id.clone()));
            let pid = pip_res.id.clone();
            cprops.insert("publicIPAddress".into(), json!({ "id": pid }));
        }
        cprops.insert("subnet".into(), json!({ "id": subnet_canonical }));
        // Private address: Static keeps the requested one, Dynamic keeps what it had.
        let method = cprops
            .get("privateIPAllocationMethod")
            .and_then(Value::as_str)
            .unwrap_or("Dynamic")
            .to_string();
        let mut used = st.used_addresses(&subnet_key, &nic_key);
        used.extend(
            taken
                .iter()
                .filter(|(s, _)| *s == subnet_key)
                .map(|(_, a)| *a),
        );
        let addr: Ipv4Addr = if method == "Static" {
            let requested = cprops
                .get("privateIPAddress")
                .and_then(Value::as_str)
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| {
                    ArmError::invalid_request_format(format!(
                        "IP configuration {ipc_id} is Static but has no valid privateIPAddress."
                    ))
                })?;
            if !cidr.usable(requested) {
                return Err(ArmError::new(
                    400,
                    "PrivateIPAddressNotInSubnet",
                    format!("IP configuration {ipc_id} references the private IP address {requested} which is not in the subnet's address range."),
                )
                .with_empty_details());
            }
            if used.contains(&requested) {
                return Err(ArmError::new(
                    400,
                    "PrivateIPAddressInUse",
                    format!("IP configuration {ipc_id} is using the private IP address {requested} which is already allocated to another resource."),
                )
                .with_empty_details());
            }
            requested
        } else {
            let kept = previous
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some(name.as_str()))
                .filter(|p| {
                    ref_at(p, &["properties", "subnet"])
                        .map(store::key)
                        .as_deref()
                        == Some(subnet_key.as_str())
                })
                .and_then(|p| str_at(p, &["properties", "privateIPAddress"]))
                .and_then(|a| a.parse().ok());
            match kept {
                Some(a) => a,
                None => cidr.allocate(&used).ok_or_else(|| {
                    ArmError::new(
                        400,
                        "SubnetIsFull",
                        format!(
                            "Subnet {} with address prefix has no free addresses left.",
                            subnet_canonical
                        ),
                    )
                    .with_empty_details()
                })?,
            }
        };
        taken.push((subnet_key, addr));
        cprops.insert("privateIPAddress".into(), json!(addr.to_string()));
        cprops.insert("privateIPAllocationMethod".into(), json!(method));
        cprops.insert("privateIPAddressVersion".into(), json!("IPv4"));
        let primary = configs.len() == 1
            || cprops
                .get("primary")
                .and_then(Value::as_bool)
                .unwrap_or(false);
        cprops.insert("primary".into(), json!(primary));
        out.push(json!({ "name": name, "properties": cprops }));
    }
    props.insert("ipConfigurations".into(), Value::Array(out));
    props
        .entry("enableAcceleratedNetworking")
        .or_insert(json!(false));
    props.entry("enableIPForwarding").or_insert(json!(false));
    props
        .entry("disableTcpStateTracking")
        .or_insert(json!(false));
    if let Some(dns) = props.get_mut("dnsSettings").and_then(Value::as_object_mut) {
        dns.remove("appliedDnsServers");
    }
    upsert_simple(st, ctx, props, ctx.body.top.clone());
    Ok(vec![ctx.id.clone()])
}
