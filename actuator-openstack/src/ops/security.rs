//! Security groups (raw Neutron calls: the `openstack` crate has no API for them) and their rules.
//!
//! Rules have no name and no tags: a rule carries its identity as its description, and Neutron
//! refuses a second rule with the same parameters (409 naming the existing one), which is how a
//! retried or repeated create finds the first. A rule that was there before (Neutron's default
//! egress rules) is used but never deleted.

use serde_json::{Map, Value, json};

use actuator::provision::{AttemptError, Observed, Outputs, Ownership, ProvisionCx, Provisioned};

use super::{Find, SECURITY_GROUPS, identity, identity_of_rec, neutron_create, s};
use crate::OpenStackProxy;
use crate::api::{Api, OsError, Policy, Req, Svc};
use crate::resources::{SecurityGroup, SecurityGroupRule};
use crate::tags as idtags;

/// The output of a rule that existed before this state made it: teardown leaves it.
pub(crate) const PREEXISTING: &str = "preexisting";

pub(crate) async fn create_group(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let g: SecurityGroup = cx.resource()?;
    let name = cx.display_name();
    let mut body = Map::new();
    body.insert("name".into(), json!(name));
    let v = neutron_create(
        p,
        cx,
        SECURITY_GROUPS,
        body,
        Some(&g.description),
        Find::Name(name),
        Policy::Basic,
    )
    .await?;
    Ok(Outputs::from([("id".to_owned(), s(&v["id"]))]))
}

/// The id in Neutron's "Security group rule already exists. Rule id is <id>."
fn existing_rule_id(e: &OsError) -> Option<String> {
    if e.code.as_deref() != Some("SecurityGroupRuleExists") {
        return None;
    }
    let id = e
        .message
        .rsplit("Rule id is ")
        .next()?
        .trim()
        .trim_end_matches('.');
    (!id.is_empty()).then(|| id.to_owned())
}

pub(crate) async fn create_rule(
    p: &OpenStackProxy,
    cx: &ProvisionCx,
) -> Result<Outputs, AttemptError> {
    let r: SecurityGroupRule = cx.resource()?;
    let api = p.api().await?;
    let ident = identity(cx);
    let mut body = Map::new();
    body.insert(
        "security_group_id".into(),
        json!(cx.output_of(&r.security_group, "id")?),
    );
    body.insert("direction".into(), json!(r.direction.as_str()));
    body.insert("ethertype".into(), json!(r.ethertype));
    if let Some(proto) = &r.ip_protocol {
        body.insert("protocol".into(), json!(proto));
    }
    if let Some(from) = r.from_port {
        body.insert("port_range_min".into(), json!(from));
    }
    if let Some(to) = r.to_port {
        body.insert("port_range_max".into(), json!(to));
    }
    if let Some(cidr) = &r.cidr {
        body.insert(
            "remote_ip_prefix".into(),
            json!(cx.resolve(cidr)?.to_string()),
        );
    }
    if let Some(g) = &r.remote_group {
        body.insert("remote_group_id".into(), json!(cx.output_of(g, "id")?));
    }
    body.insert("description".into(), json!(idtags::marker(&ident)));
    let post = Req::post(
        Svc::Network,
        ["security-group-rules"],
        json!({ "security_group_rule": body }),
    );
    // A repeated create (after a crash, or a lost answer) meets its own rule as a 409.
    let (rule, created) = api
        .retry(Policy::Wiring, "create security group rule", || async {
            match api.once(&post).await {
                Ok(v) => Ok((v["security_group_rule"].clone(), true)),
                Err(e) => match existing_rule_id(&e) {
                    Some(id) => {
                        let v = api
                            .once(&Req::get(Svc::Network, ["security-group-rules", &id]))
                            .await?;
                        Ok((v["security_group_rule"].clone(), false))
                    }
                    None => Err(e),
                },
            }
        })
        .await?;
    let id = s(&rule["id"]);
    let mut o = Outputs::from([("id".to_owned(), id.clone())]);
    if created {
        return Ok(o);
    }
    let description = s(&rule["description"]);
    if description == idtags::marker(&ident) {
        return Ok(o);
    }
    match idtags::parse_marker(&description) {
        Some(pairs) => match cx
            .scope()
            .owns(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        {
            Ownership::Mine
                if idtags::get(&pairs, actuator::provision::tags::PATH) == Some(&cx.path()) =>
            {
                Ok(o)
            }
            Ownership::OtherState(other) => Err(AttemptError::fatal(format!(
                "the same rule exists already ({id}) for this workspace but belongs to state \
                 `{other}`: not adopting it; `down --discover` finds it"
            ))),
            _ => Err(AttemptError::fatal(format!(
                "the same rule exists already ({id}), made for {}: two rules of one group with \
                 the same parameters cannot exist",
                idtags::get(&pairs, actuator::provision::tags::PATH).unwrap_or("another model")
            ))),
        },
        None => {
            // There before us (Neutron's default egress rules, or made by hand): used, never
            // deleted.
            o.insert(PREEXISTING.to_owned(), "true".to_owned());
            Ok(o)
        }
    }
}

pub(crate) async fn read_rule(
    p: &OpenStackProxy,
    rec: &Provisioned,
) -> Result<Observed, AttemptError> {
    let id = rec.outputs.get("id").cloned().unwrap_or_default();
    let api = p.api().await?;
    Ok(
        match api
            .get_opt(
                &format!("read security group rule {id}"),
                Req::get(Svc::Network, ["security-group-rules", &id]),
            )
            .await?
        {
            Some(_) => Observed::Exists(Outputs::from([("id".to_owned(), id)])),
            None => Observed::Gone,
        },
    )
}

pub(crate) async fn delete_rule(p: &OpenStackProxy, rec: &Provisioned) -> Result<(), AttemptError> {
    if rec.outputs.get(PREEXISTING).is_some_and(|v| v == "true") {
        return Ok(());
    }
    let api = p.api().await?;
    let id = match rec.outputs.get("id").filter(|i| !i.is_empty()) {
        Some(id) => id.clone(),
        None => {
            // Cut short before its record: find it by its marker.
            let marker = idtags::marker(&identity_of_rec(rec));
            let found = api
                .list(
                    &format!("find the rule of {}", rec.key),
                    Req::get(Svc::Network, ["security-group-rules"]).query("description", marker),
                    "security_group_rules",
                )
                .await?;
            match found.first() {
                Some(r) => s(&r["id"]),
                None => return Ok(()),
            }
        }
    };
    api.delete(
        &format!("delete security group rule {id}"),
        Req::delete(Svc::Network, ["security-group-rules", &id]),
    )
    .await
}

/// Every rule of the project that carries an identity marker, with its id.
pub(crate) async fn marked_rules(
    api: &Api,
) -> Result<Vec<(Vec<(String, String)>, Outputs)>, AttemptError> {
    let rules = api
        .list(
            "list security group rules",
            Req::get(Svc::Network, ["security-group-rules"]),
            "security_group_rules",
        )
        .await?;
    Ok(rules
        .iter()
        .filter_map(|r: &Value| {
            let pairs = idtags::parse_marker(r["description"].as_str()?)?;
            Some((pairs, Outputs::from([("id".to_owned(), s(&r["id"]))])))
        })
        .collect())
}
