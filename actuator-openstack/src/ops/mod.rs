//! What the proxy does per resource kind: dispatch, and the identity machinery every kind shares
//! (find a previous attempt before creating, tag after creating, discover, import).

mod compute;
mod network;
mod security;
pub(crate) mod validate;

use serde_json::{Map, Value, json};

use actuator::provision::{
    AttemptError, Discovered, Observed, Outputs, Ownership, ProvisionCx, Provisioned, Scope, tags,
};

use crate::api::{Api, ErrKind, OsError, Policy, Req, Svc};
use crate::resources::*;
use crate::tags as idtags;
use crate::{Inventory, OpenStackProxy};

/// A Neutron collection: its URL segment, the key of a list answer and the key of one item.
/// The URL segment and the list key differ for security groups (`security-groups`,
/// `security_groups`): looking a list answer up by the URL segment finds nothing, and a create
/// that cannot see its previous attempt makes a twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Coll {
    pub path: &'static str,
    pub many: &'static str,
    pub one: &'static str,
}

pub(crate) const NETWORKS: Coll = Coll {
    path: "networks",
    many: "networks",
    one: "network",
};
pub(crate) const SUBNETS: Coll = Coll {
    path: "subnets",
    many: "subnets",
    one: "subnet",
};
pub(crate) const ROUTERS: Coll = Coll {
    path: "routers",
    many: "routers",
    one: "router",
};
pub(crate) const PORTS: Coll = Coll {
    path: "ports",
    many: "ports",
    one: "port",
};
pub(crate) const SECURITY_GROUPS: Coll = Coll {
    path: "security-groups",
    many: "security_groups",
    one: "security_group",
};
pub(crate) const FLOATING_IPS: Coll = Coll {
    path: "floatingips",
    many: "floatingips",
    one: "floatingip",
};

/// The tagged Neutron collections and the kind each holds (ports hold two).
const TAGGED: &[(Coll, &str)] = &[
    (NETWORKS, Network::KIND),
    (SUBNETS, Subnet::KIND),
    (ROUTERS, Router::KIND),
    (PORTS, Port::KIND),
    (SECURITY_GROUPS, SecurityGroup::KIND),
    (FLOATING_IPS, FloatingIp::KIND),
];

/// The identity pairs of the resource `cx` provisions: its scope's tags and its kind.
pub(crate) fn identity(cx: &ProvisionCx) -> Vec<(String, String)> {
    let mut t = cx.tags();
    t.push((idtags::KIND.to_owned(), cx.kind()));
    t
}

/// The identity pairs of a recorded resource.
pub(crate) fn identity_of_rec(rec: &Provisioned) -> Vec<(String, String)> {
    let mut t = rec.scope.tags(&rec.key);
    t.push((idtags::KIND.to_owned(), rec.kind.to_string()));
    t
}

/// The identity an item carries: its tags, else its description marker.
pub(crate) fn carried(item: &Value) -> Vec<(String, String)> {
    let from_tags = idtags::parse(
        item["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str),
    );
    if !from_tags.is_empty() {
        return from_tags;
    }
    item["description"]
        .as_str()
        .and_then(idtags::parse_marker)
        .unwrap_or_default()
}

pub(crate) fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// Among `items`, the one that is a previous attempt of the resource with identity `ident`
/// (`scope`, model path) — not `except` (the resource a replacement replaces). Untagged items
/// whose description is the pending-create marker count as ours. One of another state of this
/// workspace is an error naming it.
pub(crate) fn pick(
    items: Vec<Value>,
    scope: &Scope,
    path: &str,
    ident: &[(String, String)],
    except: Option<&str>,
) -> Result<Option<Value>, OsError> {
    let pending = idtags::marker(ident);
    for item in items {
        let id = s(&item["id"]);
        if except == Some(id.as_str()) {
            continue;
        }
        let has_tags = item["tags"].as_array().is_some_and(|t| !t.is_empty());
        if item["description"].as_str() == Some(pending.as_str())
            && (!has_tags || carried(&item) == ident)
        {
            return Ok(Some(item));
        }
        let pairs = carried(&item);
        if idtags::get(&pairs, tags::PATH) != Some(path) {
            continue;
        }
        match scope.owns(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ownership::Mine => return Ok(Some(item)),
            Ownership::OtherState(other) => {
                return Err(OsError::local(
                    "find",
                    format!(
                        "{id} exists already for this workspace but belongs to state `{other}` \
                         (another copy of the state, or one that was lost): not adopting it; \
                         `down --discover` finds it"
                    ),
                ));
            }
            Ownership::Foreign => {}
        }
    }
    Ok(None)
}

/// How a Neutron create finds a previous attempt.
pub(crate) enum Find {
    /// Items of that name (then by tags or the pending marker).
    Name(String),
    /// Items with the resource's path tag (resources created with their tags).
    Tags,
    /// Items whose description is the resource's marker (resources that keep it).
    Marker,
}

/// Creates a Neutron resource with its identity, or finds the previous attempt that did: look,
/// POST (with the marker as description, or with its tags where Neutron takes them), tag, give
/// it its real description. Each retry looks again before posting again, so a create whose
/// answer was lost is not made twice.
pub(crate) async fn neutron_create(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    coll: Coll,
    mut body: Map<String, Value>,
    description: Option<&str>,
    find: Find,
    policy: Policy,
) -> Result<Value, AttemptError> {
    let api = p.api().await?;
    let ident = identity(cx);
    let path = cx.path();
    let except = cx.replaces().and_then(|r| r.outputs.get("id").cloned());
    let marker = idtags::marker(&ident);
    let tagged_on_create = coll == PORTS;
    if tagged_on_create {
        body.insert("tags".into(), json!(idtags::neutron(&ident)));
        if let Some(d) = description {
            body.insert("description".into(), json!(d));
        }
    } else {
        body.insert("description".into(), json!(marker));
    }
    let what = format!("create {}", coll.one);
    let lookup = match &find {
        Find::Name(n) => Req::get(Svc::Network, [coll.path]).query("name", n.clone()),
        Find::Tags => Req::get(Svc::Network, [coll.path]).query(
            "tags",
            idtags::neutron(&ident[..])
                .into_iter()
                .filter(|t| !t.starts_with("actuator:state"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        Find::Marker => Req::get(Svc::Network, [coll.path]).query("description", marker.clone()),
    };
    let post = Req::post(Svc::Network, [coll.path], json!({ coll.one: body }));
    let find = || async {
        let found = api.once(&lookup).await?;
        let items = found[coll.many].as_array().cloned().unwrap_or_default();
        pick(items, cx.scope(), &path, &ident, except.as_deref())
    };
    let item = api
        .retry(policy, &what, || async {
            if let Some(item) = find().await? {
                return Ok(item);
            }
            match api.once(&post).await {
                Ok(v) => Ok(v[coll.one].clone()),
                Err(e) if e.unanswered() => match api.settle(find).await? {
                    Some(item) => Ok(item),
                    None => Err(e),
                },
                Err(e) => Err(e),
            }
        })
        .await?;
    finish_identity(api, coll, item, &ident, description, tagged_on_create).await
}

/// Tags `item` with `ident` if it is not yet, and replaces a pending marker by `description`
/// (unless the kind keeps its marker).
pub(crate) async fn finish_identity(
    api: &Api,
    coll: Coll,
    mut item: Value,
    ident: &[(String, String)],
    description: Option<&str>,
    tagged_on_create: bool,
) -> Result<Value, AttemptError> {
    let id = s(&item["id"]);
    let want = idtags::neutron(ident);
    let has: Vec<String> = item["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if !tagged_on_create && want.iter().any(|t| !has.contains(t)) {
        let mut tags: Vec<String> = has
            .into_iter()
            .filter(|t| !t.starts_with("actuator:"))
            .collect();
        tags.extend(want);
        let r = api
            .call(
                Policy::Wiring,
                &format!("tag {} {id}", coll.one),
                Req::put(
                    Svc::Network,
                    [coll.path, &id, "tags"],
                    json!({ "tags": tags }),
                ),
            )
            .await?;
        item["tags"] = r["tags"].clone();
    }
    if let Some(d) = description
        && item["description"].as_str() != Some(d)
    {
        let r = api
            .call(
                Policy::Wiring,
                &format!("describe {} {id}", coll.one),
                Req::put(
                    Svc::Network,
                    [coll.path, &id],
                    json!({ coll.one: { "description": d } }),
                ),
            )
            .await?;
        let tags = item["tags"].clone();
        item = r[coll.one].clone();
        item["tags"] = tags;
    }
    Ok(item)
}

/// GETs a Neutron item by id; `None` when it is gone.
pub(crate) async fn neutron_get(
    api: &Api,
    coll: Coll,
    id: &str,
) -> Result<Option<Value>, AttemptError> {
    Ok(api
        .get_opt(
            &format!("read {} {id}", coll.one),
            Req::get(Svc::Network, [coll.path, id]),
        )
        .await?
        .map(|v| v[coll.one].clone()))
}

/// Deletes a Neutron item; gone already is success; "in use" (409) is retried until what uses it
/// is gone.
///
/// A 404 is believed only once a read agrees: Neutron has answered the delete of a network whose
/// ports and subnets were going at the same moment with "could not be found" while the network
/// stayed, and teardown then left it behind.
pub(crate) async fn neutron_delete(api: &Api, coll: Coll, id: &str) -> Result<(), AttemptError> {
    let delete = Req::delete(Svc::Network, [coll.path, id]);
    let read = Req::get(Svc::Network, [coll.path, id]);
    api.retry(
        Policy::Basic,
        &format!("delete {} {id}", coll.one),
        || async {
            match api.once(&delete).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => match api.once(&read).await {
                    Err(r) if r.is_not_found() => Ok(()),
                    Ok(_) => Err(OsError {
                        kind: ErrKind::Conflict,
                        message: format!("{} (but it is still there)", e.message),
                        ..e
                    }),
                    Err(r) => Err(r),
                },
                Err(e) => Err(e),
            }
        },
    )
    .await
}

/// The id a recorded resource has, or — when a crash cut its create short before the state
/// recorded it — the id of what carries its identity in the cloud.
pub(crate) async fn recorded_or_found(
    p: &OpenStackProxy,
    rec: &Provisioned,
    coll: Coll,
) -> Result<Option<String>, AttemptError> {
    if let Some(id) = rec.outputs.get("id").filter(|i| !i.is_empty()) {
        return Ok(Some(id.clone()));
    }
    let api = p.api().await?;
    let ident = identity_of_rec(rec);
    let mut candidates = tagged_items(api, coll, &rec.scope, Some(&rec.key)).await?;
    // A create that was not tagged yet carries its identity as its description.
    let marker = idtags::marker(&ident);
    let pending = api
        .call(
            Policy::Basic,
            &format!("find {} of {}", coll.one, rec.key),
            Req::get(Svc::Network, [coll.path]).query("description", marker),
        )
        .await?;
    candidates.extend(pending[coll.many].as_array().cloned().unwrap_or_default());
    let found = pick(candidates, &rec.scope, &rec.key, &ident, None)
        .map_err(|e| e.into_attempt(&rec.key))?;
    Ok(found.map(|v| s(&v["id"])))
}

/// Items of `coll` tagged for `scope`'s system and workspace (and `path`, if given).
pub(crate) async fn tagged_items(
    api: &Api,
    coll: Coll,
    scope: &Scope,
    path: Option<&str>,
) -> Result<Vec<Value>, AttemptError> {
    let mut pairs = vec![
        (tags::SYSTEM.to_owned(), scope.system.clone()),
        (tags::WORKSPACE.to_owned(), scope.workspace.clone()),
    ];
    if let Some(p) = path {
        pairs.push((tags::PATH.to_owned(), p.to_owned()));
    }
    api.list(
        &format!("list {}", coll.path),
        Req::get(Svc::Network, [coll.path]).query("tags", idtags::neutron(&pairs).join(",")),
        coll.many,
    )
    .await
}

/// The output that tells a teardown to leave the resource: teardown sees only what the state
/// recorded.
const RETAIN: &str = "retain";

pub(crate) fn with_retain(mut o: Outputs, retain: bool) -> Outputs {
    if retain {
        o.insert(RETAIN.to_owned(), "true".to_owned());
    } else {
        o.remove(RETAIN);
    }
    o
}

pub(crate) fn retained(rec: &Provisioned) -> bool {
    rec.outputs.get(RETAIN).is_some_and(|v| v == "true")
}

pub(crate) async fn provision(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    // Counted like a teardown, so the benchmark's critical path has each create's requests.
    let api = p.api().await?;
    api.counted(&cx.path(), provision_kind(p, cx)).await
}

async fn provision_kind(p: &OpenStackProxy, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
    let kind = cx.kind();
    match kind.as_str() {
        Network::KIND => network::create_network(p, cx).await,
        Subnet::KIND => network::create_subnet(p, cx).await,
        Router::KIND => network::create_router(p, cx).await,
        RouterGateway::KIND => network::set_gateway(p, cx).await,
        RouterInterface::KIND => network::add_interface(p, cx).await,
        Port::KIND => network::create_port(p, cx).await,
        FloatingIp::KIND => network::create_floating_ip(p, cx).await,
        SecurityGroup::KIND => security::create_group(p, cx).await,
        SecurityGroupRule::KIND => security::create_rule(p, cx).await,
        KeyPair::KIND => compute::create_key_pair(p, cx).await,
        Server::KIND => compute::create_server(p, cx).await,
        other => Err(AttemptError::fatal(format!(
            "kind {other} is not OpenStack's"
        ))),
    }
}

pub(crate) async fn read(p: &OpenStackProxy, rec: &Provisioned) -> Result<Observed, AttemptError> {
    Ok(match read_kind(p, rec).await? {
        // What only the state knows (retention, a rule that was there before us) stays.
        Observed::Exists(mut o) => {
            for k in [RETAIN, security::PREEXISTING] {
                if let Some(v) = rec.outputs.get(k) {
                    o.insert(k.to_owned(), v.clone());
                }
            }
            Observed::Exists(o)
        }
        Observed::Gone => Observed::Gone,
    })
}

async fn read_kind(p: &OpenStackProxy, rec: &Provisioned) -> Result<Observed, AttemptError> {
    let id = rec.outputs.get("id").cloned().unwrap_or_default();
    let api = p.api().await?;
    let neutron = |coll: Coll, f: fn(&Value) -> Outputs| {
        let id = id.clone();
        async move {
            Ok(match neutron_get(api, coll, &id).await? {
                Some(v) => Observed::Exists(f(&v)),
                None => Observed::Gone,
            })
        }
    };
    match &*rec.kind {
        Network::KIND => neutron(NETWORKS, network::network_outputs).await,
        Subnet::KIND => neutron(SUBNETS, network::subnet_outputs).await,
        Router::KIND => neutron(ROUTERS, network::id_outputs).await,
        Port::KIND => neutron(PORTS, network::port_outputs).await,
        FloatingIp::KIND => neutron(FLOATING_IPS, network::floating_ip_outputs).await,
        SecurityGroup::KIND => neutron(SECURITY_GROUPS, network::id_outputs).await,
        SecurityGroupRule::KIND => security::read_rule(p, rec).await,
        RouterGateway::KIND => network::read_gateway(p, rec).await,
        RouterInterface::KIND => network::read_interface(p, rec).await,
        KeyPair::KIND => compute::read_key_pair(p, rec).await,
        Server::KIND => compute::read_server(p, rec).await,
        other => Err(AttemptError::fatal(format!(
            "kind {other} is not OpenStack's"
        ))),
    }
}

pub(crate) async fn update(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    rec: &Provisioned,
    changed: &[String],
) -> Result<Outputs, AttemptError> {
    let id = rec.outputs.get("id").cloned().unwrap_or_default();
    let api = p.api().await?;
    let put = |coll: Coll, body: Value, f: fn(&Value) -> Outputs| {
        let id = id.clone();
        async move {
            let r = api
                .call(
                    Policy::Basic,
                    &format!("update {} {id}", coll.one),
                    Req::put(Svc::Network, [coll.path, &id], json!({ coll.one: body })),
                )
                .await?;
            Ok(f(&r[coll.one]))
        }
    };
    let pick_fields = |all: Value| -> Value {
        let mut m = Map::new();
        for c in changed {
            if let Some(v) = all.get(c) {
                m.insert(c.clone(), v.clone());
            }
        }
        Value::Object(m)
    };
    match &*rec.kind {
        Network::KIND => {
            let n: Network = cx.resource()?;
            let mut all = json!({
                "name": cx.display_name(), "description": n.description,
                "admin_state_up": n.admin_state_up,
            });
            if let Some(ps) = n.port_security_enabled {
                all["port_security_enabled"] = json!(ps);
            }
            put(NETWORKS, pick_fields(all), network::network_outputs).await
        }
        Subnet::KIND => {
            let n: Subnet = cx.resource()?;
            let all = json!({
                "name": cx.display_name(), "description": n.description,
                "dns_nameservers": n.dns_nameservers, "enable_dhcp": n.enable_dhcp,
            });
            put(SUBNETS, pick_fields(all), network::subnet_outputs).await
        }
        Router::KIND => {
            let n: Router = cx.resource()?;
            let all = json!({
                "name": cx.display_name(), "description": n.description,
                "admin_state_up": n.admin_state_up,
            });
            put(ROUTERS, pick_fields(all), network::id_outputs).await
        }
        SecurityGroup::KIND => {
            let n: SecurityGroup = cx.resource()?;
            let all = json!({ "name": cx.display_name(), "description": n.description });
            put(SECURITY_GROUPS, pick_fields(all), network::id_outputs).await
        }
        Port::KIND => {
            let n: Port = cx.resource()?;
            let mut groups = Vec::new();
            for g in &n.security_groups {
                groups.push(cx.output_of(g, "id")?);
            }
            let all = json!({
                "name": cx.display_name(), "description": n.description,
                "admin_state_up": n.admin_state_up, "security_groups": groups,
            });
            put(PORTS, pick_fields(all), network::port_outputs).await
        }
        FloatingIp::KIND => network::move_floating_ip(p, cx, rec).await,
        Server::KIND => compute::update_server(p, cx, rec, changed).await,
        // Only retention flags (and a key pair's `force`) change: nothing to do in the cloud.
        RouterGateway::KIND => {
            let r: RouterGateway = cx.resource()?;
            Ok(with_retain(rec.outputs.clone(), r.retain_on_reverse))
        }
        RouterInterface::KIND => {
            let r: RouterInterface = cx.resource()?;
            Ok(with_retain(rec.outputs.clone(), r.retain_on_reverse))
        }
        KeyPair::KIND => {
            let r: KeyPair = cx.resource()?;
            Ok(with_retain(rec.outputs.clone(), r.retain_on_reverse))
        }
        other => Err(AttemptError::fatal(format!(
            "{} ({other}) cannot be updated in place",
            rec.key
        ))),
    }
}

pub(crate) async fn deprovision(p: &OpenStackProxy, rec: &Provisioned) -> Result<(), AttemptError> {
    let api = p.api().await?;
    api.counted(&rec.key, deprovision_kind(p, rec)).await
}

async fn deprovision_kind(p: &OpenStackProxy, rec: &Provisioned) -> Result<(), AttemptError> {
    let api = p.api().await?;
    let simple = |coll: Coll| async move {
        if let Some(id) = recorded_or_found(p, rec, coll).await? {
            neutron_delete(api, coll, &id).await?;
        }
        Ok(())
    };
    match &*rec.kind {
        Network::KIND => simple(NETWORKS).await,
        Subnet::KIND => simple(SUBNETS).await,
        Router::KIND => simple(ROUTERS).await,
        Port::KIND => simple(PORTS).await,
        FloatingIp::KIND => simple(FLOATING_IPS).await,
        SecurityGroup::KIND => simple(SECURITY_GROUPS).await,
        SecurityGroupRule::KIND => security::delete_rule(p, rec).await,
        RouterGateway::KIND => network::clear_gateway(p, rec).await,
        RouterInterface::KIND => network::remove_interface(p, rec).await,
        KeyPair::KIND => compute::delete_key_pair(p, rec).await,
        Server::KIND => compute::delete_server(p, rec).await,
        other => Err(AttemptError::fatal(format!(
            "kind {other} is not OpenStack's"
        ))),
    }
}

pub(crate) async fn discover(
    p: &OpenStackProxy,
    scope: &Scope,
    kinds: &[&str],
) -> Result<Vec<Discovered>, AttemptError> {
    let api = p.api().await?;
    let mut out = Vec::new();
    let mut push = |pairs: &[(String, String)], kind: &str, outputs: Outputs| {
        if !kinds.contains(&kind) {
            return;
        }
        if scope.owns(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) == Ownership::Foreign {
            return;
        }
        out.push(Discovered {
            kind: kind.to_owned(),
            key: idtags::get(pairs, tags::PATH)
                .unwrap_or_default()
                .to_owned(),
            state_id: idtags::get(pairs, tags::STATE)
                .unwrap_or_default()
                .to_owned(),
            outputs,
        });
    };
    for (coll, default_kind) in TAGGED {
        let wanted = kinds.contains(default_kind)
            || (*coll == PORTS && kinds.contains(&RouterInterface::KIND));
        if !wanted {
            continue;
        }
        for item in tagged_items(api, *coll, scope, None).await? {
            let pairs = carried(&item);
            let kind = idtags::get(&pairs, idtags::KIND)
                .unwrap_or(default_kind)
                .to_owned();
            let outputs = if kind == RouterInterface::KIND {
                network::interface_outputs(&item)
            } else {
                Outputs::from([("id".to_owned(), s(&item["id"]))])
            };
            push(&pairs, &kind, outputs);
        }
    }
    if kinds.contains(&SecurityGroupRule::KIND) {
        for (pairs, outputs) in security::marked_rules(api).await? {
            push(&pairs, SecurityGroupRule::KIND, outputs);
        }
    }
    if kinds.contains(&Server::KIND) {
        for (pairs, outputs) in compute::tagged_servers(api, scope).await? {
            push(&pairs, Server::KIND, outputs);
        }
    }
    Ok(out)
}

pub(crate) async fn import(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    id: &str,
) -> Result<Outputs, AttemptError> {
    let api = p.api().await?;
    let ident = identity(cx);
    let neutron = |coll: Coll, f: fn(&Value) -> Outputs| {
        let ident = ident.clone();
        async move {
            let item = neutron_get(api, coll, id)
                .await?
                .ok_or_else(|| AttemptError::fatal(format!("no {} `{id}` to import", coll.one)))?;
            let description = item["description"].as_str().map(str::to_owned);
            let item =
                finish_identity(api, coll, item, &ident, description.as_deref(), false).await?;
            Ok(f(&item))
        }
    };
    match cx.kind().as_str() {
        Network::KIND => neutron(NETWORKS, network::network_outputs).await,
        Subnet::KIND => neutron(SUBNETS, network::subnet_outputs).await,
        Router::KIND => neutron(ROUTERS, network::id_outputs).await,
        Port::KIND => neutron(PORTS, network::port_outputs).await,
        FloatingIp::KIND => neutron(FLOATING_IPS, network::floating_ip_outputs).await,
        SecurityGroup::KIND => neutron(SECURITY_GROUPS, network::id_outputs).await,
        Server::KIND => compute::import_server(p, cx, id).await,
        KeyPair::KIND => compute::import_key_pair(p, id).await,
        other => Err(AttemptError::fatal(format!(
            "{other} cannot be imported (it has no identity of its own in OpenStack): declare it \
             and `up` adopts what matches"
        ))),
    }
}

/// Everything tagged with `system` in the project.
pub(crate) async fn inventory(p: &OpenStackProxy, system: &str) -> Result<Inventory, AttemptError> {
    let api = p.api().await?;
    let mut inv = Inventory::default();
    let sys = idtags::neutron(&[(tags::SYSTEM.to_owned(), system.to_owned())]).join(",");
    for (coll, _) in TAGGED {
        let items = api
            .list(
                &format!("list {}", coll.path),
                Req::get(Svc::Network, [coll.path]).query("tags", sys.clone()),
                coll.many,
            )
            .await?;
        let ids: Vec<String> = items.iter().map(|i| s(&i["id"])).collect();
        if !ids.is_empty() {
            inv.by_kind.insert(coll.path.to_owned(), ids);
        }
    }
    let rules: Vec<String> = security::marked_rules(api)
        .await?
        .into_iter()
        .filter(|(pairs, _)| idtags::get(pairs, tags::SYSTEM) == Some(system))
        .map(|(_, o)| o["id"].clone())
        .collect();
    if !rules.is_empty() {
        inv.by_kind.insert("security-group-rules".into(), rules);
    }
    let servers = compute::servers_of_system(api, system).await?;
    if !servers.is_empty() {
        inv.by_kind.insert("servers".into(), servers);
    }
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_answers_are_read_under_neutrons_key_not_the_url_segment() {
        // Neutron names a list answer's key after the resource, with `_` where the URL has `-`.
        for (coll, _) in TAGGED {
            assert_eq!(coll.many, coll.path.replace('-', "_"), "{coll:?}");
        }
        assert_eq!(SECURITY_GROUPS.many, "security_groups");
    }
}
