//! Nova: key pairs and servers; images and flavors resolved by name or id with the `openstack`
//! crate's typed look-ups.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::{Map, Value, json};
use tokio::time::Instant;

use actuator::provision::{
    AttemptError, Observed, Outputs, Ownership, ProvisionCx, Provisioned, Scope, tags,
};

use super::{identity, identity_of_rec, s};
use crate::OpenStackProxy;
use crate::api::{Api, OsError, Policy, Req, Svc};
use crate::resources::{KeyPair, Server};
use crate::tags as idtags;

// ------------------------------------------------------------------------------- key pairs

/// The name a key pair has in Nova.
pub(crate) fn key_pair_name(k: &KeyPair, display: &str, scope: &Scope, path: &str) -> String {
    let base = k.os_name.clone().unwrap_or_else(|| display.to_owned());
    if k.ensure_unique {
        let h = idtags::hash8(&[&scope.system, &scope.workspace, &scope.state_id, path]);
        format!("{base}-{h}")
    } else {
        base
    }
}

/// The key's type and material, without its comment: what two copies of one key share.
fn key_material(k: &str) -> String {
    k.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn public_key(k: &KeyPair) -> Result<String, AttemptError> {
    match (&k.public_key, &k.public_key_file) {
        (Some(key), _) => Ok(key.trim().to_owned()),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map(|s| s.trim().to_owned())
            .map_err(|e| AttemptError::fatal(format!("cannot read {}: {e}", f.display()))),
        (None, None) => Err(AttemptError::fatal(
            "a key pair needs a public key or a public key file",
        )),
    }
}

fn key_outputs(v: &Value, retain: bool) -> Outputs {
    super::with_retain(
        Outputs::from([
            ("name".to_owned(), s(&v["name"])),
            ("fingerprint".to_owned(), s(&v["fingerprint"])),
        ]),
        retain,
    )
}

async fn get_key_pair(api: &Api, name: &str) -> Result<Option<Value>, AttemptError> {
    Ok(api
        .get_opt(
            &format!("read key pair {name}"),
            Req::get(Svc::Compute, ["os-keypairs", name]),
        )
        .await?
        .map(|v| v["keypair"].clone()))
}

pub(crate) async fn create_key_pair(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let k: KeyPair = cx.resource()?;
    let name = key_pair_name(&k, &cx.display_name(), cx.scope(), &cx.path());
    let key = public_key(&k)?;
    let api = p.api().await?;
    let post = Req::post(
        Svc::Compute,
        ["os-keypairs"],
        json!({ "keypair": { "name": name, "public_key": key, "type": "ssh" } }),
    );
    let what = format!("create key pair {name}");
    let v = api
        .retry(Policy::Basic, &what, || async {
            // Looked for first on every attempt: a lost answer, or a previous run.
            match api
                .once(&Req::get(Svc::Compute, ["os-keypairs", &name]))
                .await
            {
                Ok(v) => {
                    let existing = v["keypair"].clone();
                    if key_material(&s(&existing["public_key"])) == key_material(&key) {
                        return Ok(existing);
                    }
                    if !k.force {
                        return Err(OsError::local(
                            "POST os-keypairs",
                            format!(
                                "key pair `{name}` exists with another key: give it \
                                 `.force(true)` to replace it, or another name"
                            ),
                        ));
                    }
                    match api
                        .once(&Req::delete(Svc::Compute, ["os-keypairs", &name]))
                        .await
                    {
                        Ok(_) => {}
                        Err(e) if e.is_not_found() => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
            api.once(&post).await.map(|v| v["keypair"].clone())
        })
        .await?;
    Ok(key_outputs(&v, k.retain_on_reverse))
}

pub(crate) async fn read_key_pair(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<Observed, AttemptError> {
    let name = rec.outputs.get("name").cloned().unwrap_or_default();
    let api = p.api().await?;
    Ok(match get_key_pair(api, &name).await? {
        Some(v) => Observed::Exists(key_outputs(&v, super::retained(rec))),
        None => Observed::Gone,
    })
}

pub(crate) async fn delete_key_pair(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<(), AttemptError> {
    if super::retained(rec) {
        return Ok(());
    }
    // A key pair whose create was cut short before its record cannot be told from another
    // one of the same name: without a recorded name, nothing is deleted.
    let Some(name) = rec.outputs.get("name").filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    let api = p.api().await?;
    api.delete(
        &format!("delete key pair {name}"),
        Req::delete(Svc::Compute, ["os-keypairs", name]),
    )
    .await
}

pub(crate) async fn import_key_pair(
    p: &OpenStackProxy,
    name: &str,
) -> Result<Outputs, AttemptError> {
    let api = p.api().await?;
    let v = get_key_pair(api, name)
        .await?
        .ok_or_else(|| AttemptError::fatal(format!("no key pair `{name}` to import")))?;
    Ok(key_outputs(&v, false))
}

// ------------------------------------------------------------------------------- servers

/// Image or flavor `name_or_id` resolved with the `openstack` crate (cached per proxy).
async fn resolve(
    p: &OpenStackProxy,
    what: &'static str,
    name_or_id: &str,
) -> Result<String, AttemptError> {
    if let Some(id) = p.cached(what, name_or_id) {
        return Ok(id);
    }
    let api = p.api().await?;
    let cloud = p.openstack().await?;
    let step = format!("find the {what} `{name_or_id}`");
    let id = api
        .retry(Policy::Basic, &step, || async {
            let t = Instant::now();
            let r = match what {
                "image" => cloud.get_image(name_or_id).await.map(|i| i.id().clone()),
                _ => cloud.get_flavor(name_or_id).await.map(|f| f.id().clone()),
            };
            api.count_typed(&format!("GET {what}s (openstack crate)"), t.elapsed());
            r.map_err(|e| match e.kind() {
                osauth::ErrorKind::ResourceNotFound => OsError::local(
                    format!("GET {what}s"),
                    format!("there is no {what} `{name_or_id}`"),
                ),
                osauth::ErrorKind::TooManyItems => OsError::local(
                    format!("GET {what}s"),
                    format!("more than one {what} is called `{name_or_id}`: give its id"),
                ),
                osauth::ErrorKind::ProtocolError
                | osauth::ErrorKind::InternalServerError
                | osauth::ErrorKind::OperationTimedOut => {
                    let mut o = OsError::local(format!("GET {what}s"), e.to_string());
                    o.kind = crate::api::ErrKind::Transient;
                    o
                }
                _ => OsError::local(format!("GET {what}s"), e.to_string()),
            })
        })
        .await?;
    p.cache(what, name_or_id, &id);
    Ok(id)
}

/// A server's outputs: `ip` is its first address on its first network (else its first fixed
/// address anywhere), `addresses` every address by network name, as JSON.
fn server_outputs(v: &Value, first_net: Option<&str>) -> Outputs {
    let mut addresses: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut first_fixed: Option<String> = None;
    if let Some(nets) = v["addresses"].as_object() {
        for (net, addrs) in nets {
            for a in addrs.as_array().into_iter().flatten() {
                let ip = s(&a["addr"]);
                let fixed = a["OS-EXT-IPS:type"].as_str().is_none_or(|t| t == "fixed");
                if fixed && first_fixed.is_none() {
                    first_fixed = Some(ip.clone());
                }
                addresses.entry(net.clone()).or_default().push(ip);
            }
        }
    }
    // The first network's first address wins over the first in name order.
    if let Some(ip) = first_net
        .and_then(|n| addresses.get(n))
        .and_then(|a| a.first())
    {
        first_fixed = Some(ip.clone());
    }
    Outputs::from([
        ("id".to_owned(), s(&v["id"])),
        ("ip".to_owned(), first_fixed.unwrap_or_default()),
        (
            "addresses".to_owned(),
            serde_json::to_string(&addresses).unwrap_or_default(),
        ),
        ("status".to_owned(), s(&v["status"])),
        (
            "first_network".to_owned(),
            first_net.unwrap_or_default().to_owned(),
        ),
    ])
}

/// Waits until every network has a subnet: Nova refuses to boot on one without.
async fn wait_for_subnets(api: &Api, networks: &[String]) -> Result<(), AttemptError> {
    for net in networks {
        let started = Instant::now();
        loop {
            let r = api
                .call(
                    Policy::Basic,
                    &format!("list the subnets of network {net}"),
                    Req::get(Svc::Network, ["subnets"])
                        .query("network_id", net.clone())
                        .query("fields", "id"),
                )
                .await?;
            if r["subnets"].as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            if started.elapsed() > api.settings().not_found_deadline {
                return Err(AttemptError::fatal(format!(
                    "network {net} has no subnet: a server cannot boot on it (declare a Subnet)"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok(())
}

/// The identity pairs as Nova metadata.
fn identity_metadata(ident: &[(String, String)]) -> Map<String, Value> {
    ident
        .iter()
        .map(|(k, v)| (k.clone(), json!(v.chars().take(255).collect::<String>())))
        .collect()
}

/// Servers tagged for `scope`'s system and workspace (and `path`).
async fn tagged(api: &Api, scope: &Scope, path: Option<&str>) -> Result<Vec<Value>, AttemptError> {
    let mut pairs = vec![
        (tags::SYSTEM.to_owned(), scope.system.clone()),
        (tags::WORKSPACE.to_owned(), scope.workspace.clone()),
    ];
    if let Some(p) = path {
        pairs.push((tags::PATH.to_owned(), p.to_owned()));
    }
    api.list(
        "list servers",
        Req::get(Svc::Compute, ["servers", "detail"]).query("tags", idtags::nova(&pairs).join(",")),
        "servers",
    )
    .await
}

/// A server's identity, from its metadata.
fn server_identity(v: &Value) -> Vec<(String, String)> {
    v["metadata"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("actuator:"))
                .map(|(k, v)| (k.clone(), s(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// The server among `items` that is a previous attempt of `path` in `scope` (not `except`).
fn pick_server(
    items: Vec<Value>,
    scope: &Scope,
    path: &str,
    except: Option<&str>,
) -> Result<Option<Value>, AttemptError> {
    for v in items {
        let id = s(&v["id"]);
        if except == Some(id.as_str())
            || matches!(s(&v["status"]).as_str(), "DELETED" | "SOFT_DELETED")
        {
            continue;
        }
        let pairs = server_identity(&v);
        if idtags::get(&pairs, tags::PATH) != Some(path) {
            continue;
        }
        match scope.owns(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
            Ownership::Mine => return Ok(Some(v)),
            Ownership::OtherState(other) => {
                return Err(AttemptError::fatal(format!(
                    "server {id} exists already for this workspace but belongs to state \
                     `{other}` (another copy of the state, or one that was lost): not adopting \
                     it; `down --discover` finds it"
                )));
            }
            Ownership::Foreign => {}
        }
    }
    Ok(None)
}

pub(crate) async fn create_server(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let sv: Server = cx.resource()?;
    let api = p.api().await?;
    let path = cx.path();
    let ident = identity(cx);
    let except = cx.replaces().and_then(|r| r.outputs.get("id").cloned());
    let image = resolve(p, "image", &sv.image).await?;
    let flavor = resolve(p, "flavor", &sv.flavor).await?;
    let mut networks = Vec::new();
    let mut net_ids = Vec::new();
    let mut first_net: Option<String> = None;
    for n in &sv.nics {
        let id = cx.output_of(n, "id")?;
        if first_net.is_none() {
            first_net = cx.output_of(n, "name").ok();
        }
        networks.push(json!({ "uuid": id }));
        net_ids.push(id);
    }
    for port in &sv.ports {
        networks.push(json!({ "port": cx.output_of(port, "id")? }));
    }
    let mut body = Map::new();
    body.insert("name".into(), json!(cx.display_name()));
    body.insert("imageRef".into(), json!(image));
    body.insert("flavorRef".into(), json!(flavor));
    body.insert("networks".into(), json!(networks));
    let mut metadata = identity_metadata(&ident);
    for (k, v) in &sv.meta {
        metadata.insert(k.clone(), json!(v));
    }
    body.insert("metadata".into(), Value::Object(metadata));
    body.insert("tags".into(), json!(idtags::nova(&ident)));
    if !sv.security_groups.is_empty() {
        let mut groups = Vec::new();
        for g in &sv.security_groups {
            groups.push(json!({ "name": cx.output_of(g, "id")? }));
        }
        body.insert("security_groups".into(), json!(groups));
    }
    if let Some(k) = &sv.key_pair {
        body.insert("key_name".into(), json!(cx.output_of(k, "name")?));
    } else if let Some(k) = &sv.key_name {
        body.insert("key_name".into(), json!(k));
    }
    if let Some(u) = &sv.user_data {
        body.insert(
            "user_data".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(u.as_bytes())),
        );
    }
    if let Some(z) = &sv.availability_zone {
        body.insert("availability_zone".into(), json!(z));
    }
    if sv.config_drive {
        body.insert("config_drive".into(), json!(true));
    }
    wait_for_subnets(api, &net_ids).await?;
    let post = Req::post(Svc::Compute, ["servers"], json!({ "server": body }));
    let lookup_pairs = {
        let mut v = vec![
            (tags::SYSTEM.to_owned(), cx.scope().system.clone()),
            (tags::WORKSPACE.to_owned(), cx.scope().workspace.clone()),
            (tags::PATH.to_owned(), path.clone()),
        ];
        v.dedup();
        idtags::nova(&v).join(",")
    };
    let lookup = Req::get(Svc::Compute, ["servers", "detail"]).query("tags", lookup_pairs);
    let find = || async {
        let found = api.once(&lookup).await?;
        let items = found["servers"].as_array().cloned().unwrap_or_default();
        pick_server(items, cx.scope(), &path, except.as_deref())
            .map(|v| v.map(|v| s(&v["id"])))
            .map_err(|e| OsError::local("find", e.message))
    };
    let id = api
        .retry(Policy::Basic, "create server", || async {
            // Looked for first on every attempt: a lost answer must not make a twin.
            if let Some(id) = find().await? {
                return Ok(id);
            }
            match api.once(&post).await {
                Ok(v) => Ok(s(&v["server"]["id"])),
                // Nova may still be accepting it (a loaded Nova takes half a minute).
                Err(e) if e.unanswered() => match api.settle(find).await? {
                    Some(id) => Ok(id),
                    None => Err(e),
                },
                Err(e) => Err(e),
            }
        })
        .await?;
    let v = wait_active(p, &id).await?;
    Ok(server_outputs(&v, first_net.as_deref()))
}

/// Polls a server until `ACTIVE`, with the proxy's deadline. `ERROR` deletes it (so nothing is
/// left that no state records as working) and fails with Nova's fault message.
async fn wait_active(p: &OpenStackProxy, id: &str) -> Result<Value, AttemptError> {
    let api = p.api().await?;
    let started = Instant::now();
    let mut wait = p.poll_interval;
    loop {
        let v = api
            .get_opt(
                &format!("read server {id}"),
                Req::get(Svc::Compute, ["servers", id]),
            )
            .await?
            .map(|v| v["server"].clone())
            .ok_or_else(|| AttemptError::fatal(format!("server {id} vanished while booting")))?;
        match s(&v["status"]).as_str() {
            "ACTIVE" => return Ok(v),
            "ERROR" => {
                let fault = v["fault"]["message"]
                    .as_str()
                    .unwrap_or("Nova gave no fault message")
                    .to_owned();
                let code = v["fault"]["code"].as_u64();
                delete_and_wait(p, id).await?;
                return Err(AttemptError::fatal(format!(
                    "server {id} went to ERROR{}: {fault} (deleted it)",
                    code.map_or_else(String::new, |c| format!(" ({c})"))
                )));
            }
            _ => {}
        }
        if started.elapsed() > p.server_timeout {
            return Err(AttemptError::fatal(format!(
                "server {id} is still {} after {:?} (the proxy's server_timeout); the next `up` \
                 waits for it again",
                s(&v["status"]),
                p.server_timeout
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

/// Deletes a server and waits until Nova no longer lists it, so its ports are gone before what
/// they used (subnet, network, security groups) is deleted.
async fn delete_and_wait(p: &OpenStackProxy, id: &str) -> Result<(), AttemptError> {
    let api = p.api().await?;
    api.delete(
        &format!("delete server {id}"),
        Req::delete(Svc::Compute, ["servers", id]),
    )
    .await?;
    let started = Instant::now();
    let mut wait = p.poll_interval;
    loop {
        match api
            .get_opt(
                &format!("read server {id}"),
                Req::get(Svc::Compute, ["servers", id]),
            )
            .await?
        {
            None => return Ok(()),
            Some(v) if s(&v["server"]["status"]) == "DELETED" => return Ok(()),
            Some(v)
                if s(&v["server"]["status"]) == "ERROR"
                    && started.elapsed() > Duration::from_secs(30) =>
            {
                // A delete that failed on the host: ask again.
                api.delete(
                    &format!("delete server {id}"),
                    Req::delete(Svc::Compute, ["servers", id]),
                )
                .await?;
            }
            Some(_) => {}
        }
        if started.elapsed() > p.server_timeout {
            return Err(AttemptError::retryable(format!(
                "server {id} is still there {:?} after its deletion",
                p.server_timeout
            )));
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}

pub(crate) async fn delete_server(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<(), AttemptError> {
    let api = p.api().await?;
    let ids: Vec<String> = match rec.outputs.get("id").filter(|i| !i.is_empty()) {
        Some(id) => vec![id.clone()],
        None => {
            // Cut short before its record: what carries its identity.
            let found = tagged(api, &rec.scope, Some(&rec.key)).await?;
            let ident = identity_of_rec(rec);
            found
                .into_iter()
                .filter(|v| {
                    let pairs = server_identity(v);
                    idtags::get(&pairs, tags::PATH) == idtags::get(&ident, tags::PATH)
                        && rec
                            .scope
                            .owns(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                            == Ownership::Mine
                })
                .map(|v| s(&v["id"]))
                .collect()
        }
    };
    for id in ids {
        delete_and_wait(p, &id).await?;
    }
    Ok(())
}

pub(crate) async fn read_server(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<Observed, AttemptError> {
    let id = rec.outputs.get("id").cloned().unwrap_or_default();
    let api = p.api().await?;
    let first = rec
        .outputs
        .get("first_network")
        .map(String::as_str)
        .filter(|n| !n.is_empty());
    Ok(
        match api
            .get_opt(
                &format!("read server {id}"),
                Req::get(Svc::Compute, ["servers", &id]),
            )
            .await?
        {
            Some(v)
                if !matches!(
                    s(&v["server"]["status"]).as_str(),
                    "DELETED" | "SOFT_DELETED"
                ) =>
            {
                Observed::Exists(server_outputs(&v["server"], first))
            }
            _ => Observed::Gone,
        },
    )
}

pub(crate) async fn update_server(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    rec: &Provisioned,
    changed: &[String],
) -> Result<Outputs, AttemptError> {
    let sv: Server = cx.resource()?;
    let api = p.api().await?;
    let id = rec.outputs.get("id").cloned().unwrap_or_default();
    if changed.iter().any(|c| c == "name") {
        api.call(
            Policy::Basic,
            &format!("rename server {id}"),
            Req::put(
                Svc::Compute,
                ["servers", &id],
                json!({ "server": { "name": cx.display_name() } }),
            ),
        )
        .await?;
    }
    if changed.iter().any(|c| c == "meta") {
        let mut metadata = identity_metadata(&identity(cx));
        for (k, v) in &sv.meta {
            metadata.insert(k.clone(), json!(v));
        }
        api.call(
            Policy::Basic,
            &format!("set the metadata of server {id}"),
            Req::put(
                Svc::Compute,
                ["servers", &id, "metadata"],
                json!({ "metadata": metadata }),
            ),
        )
        .await?;
    }
    let first = rec
        .outputs
        .get("first_network")
        .map(String::as_str)
        .filter(|n| !n.is_empty());
    let v = api
        .call(
            Policy::Basic,
            &format!("read server {id}"),
            Req::get(Svc::Compute, ["servers", &id]),
        )
        .await?;
    Ok(server_outputs(&v["server"], first))
}

pub(crate) async fn import_server(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
    id: &str,
) -> Result<Outputs, AttemptError> {
    let api = p.api().await?;
    let v = api
        .get_opt(
            &format!("read server {id}"),
            Req::get(Svc::Compute, ["servers", id]),
        )
        .await?
        .ok_or_else(|| AttemptError::fatal(format!("no server `{id}` to import")))?;
    let ident = identity(cx);
    let mut keep: Vec<String> = v["server"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|t| !t.starts_with("actuator:"))
        .map(str::to_owned)
        .collect();
    keep.extend(idtags::nova(&ident));
    api.call(
        Policy::Basic,
        &format!("tag server {id}"),
        Req::put(
            Svc::Compute,
            ["servers", id, "tags"],
            json!({ "tags": keep }),
        ),
    )
    .await?;
    api.call(
        Policy::Basic,
        &format!("set the metadata of server {id}"),
        Req::post(
            Svc::Compute,
            ["servers", id, "metadata"],
            json!({ "metadata": identity_metadata(&ident) }),
        ),
    )
    .await?;
    Ok(server_outputs(&v["server"], None))
}

/// Servers tagged for `scope`'s system and workspace, with their identity.
pub(crate) async fn tagged_servers(
    api: &Api,
    scope: &Scope,
) -> Result<Vec<(Vec<(String, String)>, Outputs)>, AttemptError> {
    Ok(tagged(api, scope, None)
        .await?
        .iter()
        .filter(|v| !matches!(s(&v["status"]).as_str(), "DELETED" | "SOFT_DELETED"))
        .map(|v| {
            (
                server_identity(v),
                Outputs::from([("id".to_owned(), s(&v["id"]))]),
            )
        })
        .collect())
}

/// Ids of the servers tagged for `system`.
pub(crate) async fn servers_of_system(
    api: &Api,
    system: &str,
) -> Result<Vec<String>, AttemptError> {
    let t = idtags::nova(&[(tags::SYSTEM.to_owned(), system.to_owned())]).join(",");
    Ok(api
        .list(
            "list servers",
            Req::get(Svc::Compute, ["servers", "detail"]).query("tags", t),
            "servers",
        )
        .await?
        .iter()
        .filter(|v| !matches!(s(&v["status"]).as_str(), "DELETED" | "SOFT_DELETED"))
        .map(|v| s(&v["id"]))
        .collect())
}
