//! Resources as ARM returns them: stored properties plus what the service fills in itself
//! (`provisioningState`, `resourceGuid`, `etag`, and the back-references derived from state:
//! a subnet's `ipConfigurations`, an NSG's `networkInterfaces`/`subnets`, a public IP's
//! `ipConfiguration`, a NIC's `virtualMachine`, a disk's `managedBy`).

use serde_json::{Map, Value, json};

use crate::store::{Group, Resource, State, ip_config_id, ip_configs};
use crate::{ResourceKind, compute};

/// The GET body of a resource group.
pub(crate) fn group(g: &Group) -> Value {
    let mut v = json!({
        "id": g.id,
        "name": g.name,
        "type": "Microsoft.Resources/resourceGroups",
        "location": g.location,
        "properties": {
            "provisioningState": if g.deleting.is_some() { "Deleting" } else { "Succeeded" },
        },
    });
    if let Some(tags) = &g.tags {
        v["tags"] = Value::Object(tags.clone());
    }
    if let Some(m) = &g.managed_by {
        v["managedBy"] = json!(m);
    }
    v
}

/// The GET body of a resource. `expand` is the `$expand` query: `instanceView` adds a VM's
/// `properties.instanceView`; a VM's `userData` is only returned with `userData`.
pub(crate) fn resource(st: &State, r: &Resource, expand: Option<&str>) -> Value {
    let expands = |what: &str| {
        expand.is_some_and(|e| e.split(',').any(|x| x.trim().eq_ignore_ascii_case(what)))
    };
    let mut props = r.props.clone();
    let state = r.state.as_str();
    match r.kind {
        ResourceKind::VirtualNetwork => {
            props.insert("resourceGuid".into(), json!(r.guid));
            let subnets: Vec<Value> = st
                .children(&r.key())
                .into_iter()
                .map(|s| resource(st, s, None))
                .collect();
            props.insert("subnets".into(), Value::Array(subnets));
            props.entry("virtualNetworkPeerings").or_insert(json!([]));
            props.entry("enableDdosProtection").or_insert(json!(false));
        }
        ResourceKind::Subnet => {
            let users: Vec<Value> = st
                .subnet_users(&r.key())
                .into_iter()
                .map(|id| json!({ "id": id }))
                .collect();
            if !users.is_empty() {
                props.insert("ipConfigurations".into(), Value::Array(users));
            }
            props.entry("delegations").or_insert(json!([]));
            props
                .entry("privateEndpointNetworkPolicies")
                .or_insert(json!("Disabled"));
            props
                .entry("privateLinkServiceNetworkPolicies")
                .or_insert(json!("Enabled"));
        }
        ResourceKind::NetworkSecurityGroup => {
            props.insert("resourceGuid".into(), json!(r.guid));
            let rules: Vec<Value> = st
                .children(&r.key())
                .into_iter()
                .map(|c| resource(st, c, None))
                .collect();
            props.insert("securityRules".into(), Value::Array(rules));
            props.insert(
                "defaultSecurityRules".into(),
                Value::Array(default_rules(r)),
            );
            props.entry("flushConnection").or_insert(json!(false));
            let (subnets, nics) = st.nsg_users(&r.key());
            let ids = |v: Vec<String>| {
                Value::Array(v.into_iter().map(|id| json!({ "id": id })).collect())
            };
            if !nics.is_empty() {
                props.insert("networkInterfaces".into(), ids(nics));
            }
            if !subnets.is_empty() {
                props.insert("subnets".into(), ids(subnets));
            }
        }
        ResourceKind::SecurityRule => {}
        ResourceKind::PublicIpAddress => {
            props.insert("resourceGuid".into(), json!(r.guid));
            let standard = r
                .top
                .get("sku")
                .and_then(|s| s.get("name"))
                .and_then(Value::as_str)
                == Some("Standard");
            if standard {
                props
                    .entry("ddosSettings")
                    .or_insert(json!({"protectionMode": "VirtualNetworkInherited"}));
            }
            if let Some(ip) = &r.ip_address {
                props.insert("ipAddress".into(), json!(ip));
            }
            if let Some(ipc) = st.pip_user(&r.key()) {
                props.insert("ipConfiguration".into(), json!({ "id": ipc }));
            }
            let label = props
                .get("dnsSettings")
                .and_then(|d| d.get("domainNameLabel"))
                .and_then(Value::as_str)
                .map(str::to_string);
            if let (Some(label), Some(loc)) = (label, &r.location)
                && let Some(dns) = props.get_mut("dnsSettings").and_then(Value::as_object_mut)
            {
                dns.insert(
                    "fqdn".into(),
                    json!(format!("{label}.{loc}.cloudapp.azure.com")),
                );
            }
        }
        ResourceKind::NetworkInterface => {
            props.insert("resourceGuid".into(), json!(r.guid));
            let configs: Vec<Value> = ip_configs(r)
                .map(|ipc| {
                    let mut p = ipc.get("properties").cloned().unwrap_or(json!({}));
                    p["provisioningState"] = json!(state);
                    json!({
                        "name": ipc.get("name"),
                        "id": ip_config_id(r, ipc),
                        "etag": r.etag,
                        "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                        "properties": p,
                    })
                })
                .collect();
            props.insert("ipConfigurations".into(), Value::Array(configs));
            let dns = props
                .entry("dnsSettings")
                .or_insert(json!({}))
                .as_object_mut()
                .map(|d| {
                    d.entry("dnsServers").or_insert(json!([]));
                    d.get("dnsServers").cloned().unwrap_or(json!([]))
                })
                .unwrap_or(json!([]));
            if let Some(d) = props.get_mut("dnsSettings").and_then(Value::as_object_mut) {
                d.insert("appliedDnsServers".into(), dns);
            }
            if let Some(mac) = &r.mac {
                props.insert("macAddress".into(), json!(mac));
            }
            if let Some(vm) = st.nic_vm(&r.key()) {
                props.insert("virtualMachine".into(), json!({ "id": vm.id }));
                props.insert("primary".into(), json!(compute::nic_is_primary(vm, &r.id)));
            }
            props
                .entry("vnetEncryptionSupported")
                .or_insert(json!(false));
            props.entry("nicType").or_insert(json!("Standard"));
        }
        ResourceKind::VirtualMachine => {
            if expands("instanceView") {
                props.insert("instanceView".into(), compute::instance_view(st, r));
            }
            if !expands("userData") {
                props.remove("userData");
            }
        }
        ResourceKind::Disk => {
            props.insert(
                "diskState".into(),
                json!(if st.disk_vm(&r.key()).is_some() {
                    "Attached"
                } else {
                    "Unattached"
                }),
            );
            props.insert("uniqueId".into(), json!(r.guid));
            props.insert(
                "timeCreated".into(),
                json!(crate::clock::rfc3339(r.created)),
            );
        }
        ResourceKind::ResourceGroup => {}
    }
    props.insert("provisioningState".into(), json!(state));

    let mut v = Map::new();
    v.insert("name".into(), json!(r.name));
    v.insert("id".into(), json!(r.id));
    if r.kind.provider() == crate::kind::Provider::Network || r.kind == ResourceKind::VirtualMachine
    {
        v.insert("etag".into(), json!(r.etag));
    }
    v.insert("type".into(), json!(r.kind.arm_type()));
    if let Some(loc) = &r.location {
        v.insert("location".into(), json!(loc));
    }
    if let Some(tags) = &r.tags {
        v.insert("tags".into(), Value::Object(tags.clone()));
    }
    if r.kind == ResourceKind::Disk
        && let Some(vm) = st.disk_vm(&r.key())
    {
        v.insert("managedBy".into(), json!(vm.id));
    }
    for (k, val) in &r.top {
        v.insert(k.clone(), val.clone());
    }
    v.insert("properties".into(), Value::Object(props));
    Value::Object(v)
}

/// The six default rules of an NSG, rendered.
pub(crate) fn default_rules(nsg: &Resource) -> Vec<Value> {
    crate::network::default_rule_set()
        .into_iter()
        .map(|(name, mut p)| {
            p["provisioningState"] = json!(nsg.state.as_str());
            json!({
                "name": name,
                "id": format!("{}/defaultSecurityRules/{name}", nsg.id),
                "etag": nsg.etag,
                "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                "properties": p,
            })
        })
        .collect()
}

/// An entry of a `/resources` listing.
pub(crate) fn generic(st: &State, r: &Resource) -> Value {
    let mut v = json!({
        "id": r.id,
        "name": r.name,
        "type": r.kind.arm_type(),
        "location": r.location,
    });
    if let Some(tags) = &r.tags {
        v["tags"] = Value::Object(tags.clone());
    }
    for k in ["sku", "zones"] {
        if let Some(x) = r.top.get(k) {
            v[k] = x.clone();
        }
    }
    if r.kind == ResourceKind::Disk
        && let Some(vm) = st.disk_vm(&r.key())
    {
        v["managedBy"] = json!(vm.id);
    }
    v
}
