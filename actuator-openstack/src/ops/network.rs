//! Neutron: networks, subnets, routers with their gateways and interfaces, ports and floating IPs.

use std::time::Duration;

use serde_json::{Map, Value, json};

use actuator::model::Val;
use actuator::provision::{AttemptError, Observed, Outputs, ProvisionCx, Provisioned};

use super::{
    FLOATING_IPS, Find, NETWORKS, PORTS, ROUTERS, SUBNETS, finish_identity, identity,
    identity_of_rec, neutron_create, neutron_get, s,
};
use crate::OpenStackProxy;
use crate::api::{OsError, Policy, Req, Svc};
use crate::resources::*;

fn out<const N: usize>(pairs: [(&str, String); N]) -> Outputs {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

pub(crate) fn id_outputs(v: &Value) -> Outputs {
    out([("id", s(&v["id"]))])
}

pub(crate) fn network_outputs(v: &Value) -> Outputs {
    out([("id", s(&v["id"])), ("name", s(&v["name"]))])
}

pub(crate) fn subnet_outputs(v: &Value) -> Outputs {
    out([
        ("id", s(&v["id"])),
        ("cidr", s(&v["cidr"])),
        ("gateway_ip", s(&v["gateway_ip"])),
    ])
}

/// The first fixed address of a port.
fn first_ip(port: &Value) -> String {
    port["fixed_ips"]
        .as_array()
        .and_then(|a| a.first())
        .map(|f| s(&f["ip_address"]))
        .unwrap_or_default()
}

pub(crate) fn port_outputs(v: &Value) -> Outputs {
    out([
        ("id", s(&v["id"])),
        ("ip", first_ip(v)),
        ("mac", s(&v["mac_address"])),
    ])
}

pub(crate) fn floating_ip_outputs(v: &Value) -> Outputs {
    out([
        ("id", s(&v["id"])),
        ("ip", s(&v["floating_ip_address"])),
        ("port_id", s(&v["port_id"])),
        ("fixed_ip", s(&v["fixed_ip_address"])),
    ])
}

/// A router interface's port: its id, address, router and subnet.
pub(crate) fn interface_outputs(port: &Value) -> Outputs {
    let subnet = port["fixed_ips"]
        .as_array()
        .and_then(|a| a.first())
        .map(|f| s(&f["subnet_id"]))
        .unwrap_or_default();
    out([
        ("port_id", s(&port["id"])),
        ("ip", first_ip(port)),
        ("router_id", s(&port["device_id"])),
        ("subnet_id", subnet),
    ])
}

pub(crate) async fn create_network(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let n: Network = cx.resource()?;
    let name = cx.display_name();
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("admin_state_up".into(), json!(n.admin_state_up));
    if let Some(ps) = n.port_security_enabled {
        body.insert("port_security_enabled".into(), json!(ps));
    }
    let v = neutron_create(
        p,
        cx,
        NETWORKS,
        body,
        Some(&n.description),
        Find::Name(name),
        Policy::Basic,
    )
    .await?;
    Ok(network_outputs(&v))
}

pub(crate) async fn create_subnet(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let n: Subnet = cx.resource()?;
    let name = cx.display_name();
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("network_id".into(), json!(cx.output_of(&n.network, "id")?));
    body.insert("cidr".into(), json!(cx.resolve(&n.cidr)?.to_string()));
    body.insert("ip_version".into(), json!(n.ip_version));
    body.insert("enable_dhcp".into(), json!(n.enable_dhcp));
    body.insert("dns_nameservers".into(), json!(n.dns_nameservers));
    match n.gateway_ip.as_deref() {
        None => {}
        Some("") => {
            body.insert("gateway_ip".into(), Value::Null);
        }
        Some(g) => {
            body.insert("gateway_ip".into(), json!(g));
        }
    }
    let v = neutron_create(
        p,
        cx,
        SUBNETS,
        body,
        Some(&n.description),
        Find::Name(name),
        Policy::Wiring,
    )
    .await?;
    Ok(subnet_outputs(&v))
}

pub(crate) async fn create_router(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let n: Router = cx.resource()?;
    let name = cx.display_name();
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    body.insert("admin_state_up".into(), json!(n.admin_state_up));
    let v = neutron_create(
        p,
        cx,
        ROUTERS,
        body,
        Some(&n.description),
        Find::Name(name),
        Policy::Basic,
    )
    .await?;
    Ok(id_outputs(&v))
}

pub(crate) async fn create_port(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let n: Port = cx.resource()?;
    let mut body = Map::new();
    body.insert("name".into(), json!(cx.display_name()));
    body.insert("network_id".into(), json!(cx.output_of(&n.network, "id")?));
    body.insert("admin_state_up".into(), json!(n.admin_state_up));
    let mut fixed = Map::new();
    if let Some(sn) = &n.subnet {
        fixed.insert("subnet_id".into(), json!(cx.output_of(sn, "id")?));
    }
    if let Some(ip) = &n.fixed_ip {
        fixed.insert("ip_address".into(), json!(cx.resolve(ip)?.to_string()));
    }
    if !fixed.is_empty() {
        body.insert("fixed_ips".into(), json!([fixed]));
    }
    if !n.security_groups.is_empty() {
        let mut groups = Vec::new();
        for g in &n.security_groups {
            groups.push(cx.output_of(g, "id")?);
        }
        body.insert("security_groups".into(), json!(groups));
    }
    let v = neutron_create(
        p,
        cx,
        PORTS,
        body,
        Some(&n.description),
        Find::Tags,
        Policy::Wiring,
    )
    .await?;
    Ok(port_outputs(&v))
}

/// The id of an external network given by name or id (the `openstack` crate's look-up, cached).
pub(crate) async fn external_network_id(
    p: &OpenStackProxy,
    name_or_id: &str,
) -> Result<String, AttemptError> {
    if let Some(id) = p.cached("network", name_or_id) {
        return Ok(id);
    }
    let api = p.api().await?;
    let cloud = p.openstack().await?;
    let what = format!("find the external network `{name_or_id}`");
    let net = api
        .retry(Policy::Basic, &what, || async {
            let t = tokio::time::Instant::now();
            let r = cloud.get_network(name_or_id).await;
            api.count_typed("GET networks (openstack crate)", t.elapsed());
            r.map_err(|e| match e.kind() {
                osauth::ErrorKind::ResourceNotFound => OsError::local(
                    "GET networks",
                    format!("there is no network `{name_or_id}`"),
                ),
                _ => crate::api::OsError::local("GET networks", e.to_string()),
            })
        })
        .await?;
    let id = net.id().clone();
    p.cache("network", name_or_id, &id);
    Ok(id)
}

pub(crate) async fn set_gateway(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let g: RouterGateway = cx.resource()?;
    let router = cx.output_of(&g.router, "id")?;
    let net = external_network_id(p, &g.external_network).await?;
    let api = p.api().await?;
    let current = neutron_get(api, ROUTERS, &router)
        .await?
        .ok_or_else(|| AttemptError::fatal(format!("router {router} is gone")))?;
    let v = if s(&current["external_gateway_info"]["network_id"]) == net {
        current
    } else {
        let r = api
            .call(
                Policy::Wiring,
                &format!("set the gateway of router {router}"),
                Req::put(
                    Svc::Network,
                    ["routers", &router],
                    json!({ "router": { "external_gateway_info": { "network_id": net } } }),
                ),
            )
            .await?;
        r["router"].clone()
    };
    Ok(super::with_retain(
        gateway_outputs(&router, &v),
        g.retain_on_reverse,
    ))
}

fn gateway_outputs(router: &str, v: &Value) -> Outputs {
    let info = &v["external_gateway_info"];
    let ip = info["external_fixed_ips"]
        .as_array()
        .and_then(|a| a.first())
        .map(|f| s(&f["ip_address"]))
        .unwrap_or_default();
    out([
        ("router_id", router.to_owned()),
        ("network_id", s(&info["network_id"])),
        ("ip", ip),
    ])
}

pub(crate) async fn read_gateway(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<Observed, AttemptError> {
    let router = rec.outputs.get("router_id").cloned().unwrap_or_default();
    let api = p.api().await?;
    Ok(match neutron_get(api, ROUTERS, &router).await? {
        Some(v) if !v["external_gateway_info"].is_null() => {
            Observed::Exists(gateway_outputs(&router, &v))
        }
        _ => Observed::Gone,
    })
}

pub(crate) async fn clear_gateway(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<(), AttemptError> {
    if super::retained(rec) {
        return Ok(());
    }
    let Some(router) = rec.outputs.get("router_id").filter(|r| !r.is_empty()) else {
        // Never set (a create cut short before it was recorded): the router's deletion clears
        // whatever was set.
        return Ok(());
    };
    let api = p.api().await?;
    // A floating IP behind the router still needs the gateway: 409, retried until it is gone.
    api.retry(
        Policy::Basic,
        &format!("clear the gateway of router {router}"),
        || async {
            match api
                .once(&Req::put(
                    Svc::Network,
                    ["routers", router],
                    json!({ "router": { "external_gateway_info": {} } }),
                ))
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The router's interface port on `subnet`, if it has one.
async fn interface_port(
    p: &OpenStackProxy,
    router: &str,
    subnet: &str,
) -> Result<Option<Value>, AttemptError> {
    let api = p.api().await?;
    let ports = api
        .list(
            &format!("list the ports of router {router}"),
            Req::get(Svc::Network, ["ports"]).query("device_id", router),
            "ports",
        )
        .await?;
    Ok(ports.into_iter().find(|port| {
        port["fixed_ips"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["subnet_id"] == subnet))
    }))
}

pub(crate) async fn add_interface(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let i: RouterInterface = cx.resource()?;
    let router = cx.output_of(&i.router, "id")?;
    let subnet = cx.output_of(&i.subnet, "id")?;
    let api = p.api().await?;
    let port = match interface_port(p, &router, &subnet).await? {
        Some(port) => port,
        None => {
            let what = format!("add an interface on subnet {subnet} to router {router}");
            let added = api
                .retry(Policy::Wiring, &what, || async {
                    match api
                        .once(&Req::put(
                            Svc::Network,
                            ["routers", &router, "add_router_interface"],
                            json!({ "subnet_id": subnet }),
                        ))
                        .await
                    {
                        Ok(v) => Ok(s(&v["port_id"])),
                        // A retried add whose first answer was lost.
                        Err(e) if e.message.contains("already has a port") => Ok(String::new()),
                        Err(e) => Err(e),
                    }
                })
                .await?;
            let found = interface_port(p, &router, &subnet).await?;
            match found {
                Some(port) => port,
                None => {
                    return Err(AttemptError::retryable(format!(
                        "router {router} has no port on subnet {subnet} after adding one \
                         ({added})"
                    )));
                }
            }
        }
    };
    let port = finish_identity(api, PORTS, port, &identity(cx), None, false).await?;
    Ok(super::with_retain(
        interface_outputs(&port),
        i.retain_on_reverse,
    ))
}

pub(crate) async fn read_interface(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<Observed, AttemptError> {
    let port = rec.outputs.get("port_id").cloned().unwrap_or_default();
    let api = p.api().await?;
    Ok(match neutron_get(api, PORTS, &port).await? {
        Some(v) if s(&v["device_owner"]).starts_with("network:router_interface") => {
            Observed::Exists(interface_outputs(&v))
        }
        _ => Observed::Gone,
    })
}

pub(crate) async fn remove_interface(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<(), AttemptError> {
    if super::retained(rec) {
        return Ok(());
    }
    let api = p.api().await?;
    let (router, subnet) = match (rec.outputs.get("router_id"), rec.outputs.get("subnet_id")) {
        (Some(r), Some(sn)) if !r.is_empty() && !sn.is_empty() => (r.clone(), sn.clone()),
        _ => {
            // A create cut short before its record: the port carries its identity, if it got it.
            let ports = super::tagged_items(api, PORTS, &rec.scope, Some(&rec.key)).await?;
            let Some(port) = super::pick(ports, &rec.scope, &rec.key, &identity_of_rec(rec), None)
                .map_err(|e| e.into_attempt(&rec.key))?
            else {
                return Ok(());
            };
            let o = interface_outputs(&port);
            (o["router_id"].clone(), o["subnet_id"].clone())
        }
    };
    // A floating IP reached through this interface still needs it: 409, retried.
    api.retry(
        Policy::Basic,
        &format!("remove the interface on subnet {subnet} from router {router}"),
        || async {
            match api
                .once(&Req::put(
                    Svc::Network,
                    ["routers", &router, "remove_router_interface"],
                    json!({ "subnet_id": subnet }),
                ))
                .await
            {
                Ok(_) => Ok(()),
                // Router or interface gone already.
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The port a floating IP of `f` points at, and the fixed address on it.
async fn floating_target(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    f: &FloatingIp,
) -> Result<(String, Option<String>), AttemptError> {
    let fixed = match &f.fixed_ip {
        // A server that reported no address (`ip` empty): the port's first address, as when
        // none is given.
        Some(Val::Out(o)) if cx.output_of(o, o.attr()).is_ok_and(|ip| ip.is_empty()) => None,
        Some(v) => Some(cx.resolve(v)?.to_string()),
        None => None,
    };
    if let Some(port) = &f.port {
        return Ok((cx.output_of(port, "id")?, fixed));
    }
    let server = f
        .server
        .as_ref()
        .ok_or_else(|| AttemptError::fatal("a floating IP needs a server or a port"))?;
    let server_id = cx.output_of(server, "id")?;
    let api = p.api().await?;
    // The server's ports, which exist once Nova bound them (ACTIVE implies it; retried anyway).
    let what = format!("find the port of server {server_id}");
    let deadline = api.settings().not_found_deadline;
    let started = tokio::time::Instant::now();
    loop {
        let ports = api
            .list(
                &what,
                Req::get(Svc::Network, ["ports"]).query("device_id", server_id.clone()),
                "ports",
            )
            .await?;
        let mut ports = ports;
        ports.sort_by_key(|port| s(&port["id"]));
        let hit = ports.iter().find(|port| match &fixed {
            Some(ip) => port["fixed_ips"]
                .as_array()
                .is_some_and(|a| a.iter().any(|f| f["ip_address"] == ip.as_str())),
            None => true,
        });
        if let Some(port) = hit {
            return Ok((s(&port["id"]), fixed));
        }
        if started.elapsed() > deadline {
            return Err(AttemptError::fatal(format!(
                "{what}: server {server_id} has no port{} after {deadline:?}",
                fixed
                    .as_ref()
                    .map_or_else(String::new, |ip| format!(" with address {ip}"))
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub(crate) async fn create_floating_ip(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let f: FloatingIp = cx.resource()?;
    let pool = f
        .pool
        .clone()
        .or_else(|| p.external_network.clone())
        .ok_or_else(|| {
            AttemptError::fatal(
                "no pool: give the floating IP `.pool(…)` or the proxy `.external_network(…)`",
            )
        })?;
    let net = external_network_id(p, &pool).await?;
    let (port, fixed) = floating_target(p, cx, &f).await?;
    let mut body = Map::new();
    body.insert("floating_network_id".into(), json!(net));
    body.insert("port_id".into(), json!(port));
    if let Some(ip) = &fixed {
        body.insert("fixed_ip_address".into(), json!(ip));
    }
    // Floating IPs keep their marker as description: they have no name to find them by.
    // `Wiring`: a 404 while the router interface that reaches the external network is being
    // added is retried.
    let v = neutron_create(
        p,
        cx,
        FLOATING_IPS,
        body,
        None,
        Find::Marker,
        Policy::Wiring,
    )
    .await?;
    let mut o = floating_ip_outputs(&v);
    if o["port_id"].is_empty() {
        // Adopted from an attempt that had not associated it yet.
        let moved = associate(p, &o["id"], &port, fixed.as_deref()).await?;
        o = floating_ip_outputs(&moved);
    }
    Ok(o)
}

async fn associate(
    p: &OpenStackProxy,
    id: &str,
    port: &str,
    fixed: Option<&str>,
) -> Result<Value, AttemptError> {
    let api = p.api().await?;
    let mut body = json!({ "port_id": port });
    if let Some(ip) = fixed {
        body["fixed_ip_address"] = json!(ip);
    }
    let r = api
        .call(
            Policy::Wiring,
            &format!("associate floating IP {id} with port {port}"),
            Req::put(
                Svc::Network,
                ["floatingips", id],
                json!({ "floatingip": body }),
            ),
        )
        .await?;
    Ok(r["floatingip"].clone())
}

pub(crate) async fn move_floating_ip(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    rec: &Provisioned,
) -> Result<Outputs, AttemptError> {
    let f: FloatingIp = cx.resource()?;
    let id = rec.outputs.get("id").cloned().unwrap_or_default();
    let (port, fixed) = floating_target(p, cx, &f).await?;
    let v = associate(p, &id, &port, fixed.as_deref()).await?;
    Ok(floating_ip_outputs(&v))
}
