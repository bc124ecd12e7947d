//! `Microsoft.Resources/resourceGroups`: synchronous PUT/PATCH, and a DELETE that answers 202
//! with `Location` only, shows `Deleting` meanwhile, refuses writes into the group
//! (`ResourceGroupBeingDeleted`) and cascades to every member when it completes.

use serde_json::Value;

use crate::ResourceKind;
use crate::body;
use crate::error::ArmError;
use crate::handlers::ArmRequest;
use crate::kind::Provider;
use crate::listing::{Filter, parse_filter, tags_match};
use crate::lro::{Effect, NewOp, group_job_token};
use crate::reply::Reply;
use crate::store::{Group, State, group_key};
use crate::{paging, render};

pub(crate) fn put(st: &mut State, sub: &str, rg: &str, bytes: &[u8]) -> Result<Reply, ArmError> {
    if !body::valid_group_name(rg) {
        return Err(ArmError::invalid_group_name(rg));
    }
    let b = body::parse(bytes, Provider::Resources)?;
    let location = b.location.ok_or_else(ArmError::location_required)?;
    let managed_by = b
        .top
        .get("managedBy")
        .and_then(Value::as_str)
        .map(str::to_string);
    let k = group_key(sub, rg);
    if let Some(g) = st.groups.get_mut(&k) {
        if g.deleting.is_some() {
            return Err(ArmError::group_being_deleted(&g.name));
        }
        if g.location != location {
            return Err(ArmError::invalid_group_location(&location, &g.location));
        }
        g.tags = b.tags;
        if managed_by.is_some() {
            g.managed_by = managed_by;
        }
        return Ok(Reply::json(200, render::group(g)));
    }
    let g = Group {
        id: format!("/subscriptions/{sub}/resourceGroups/{rg}"),
        name: rg.to_string(),
        sub: sub.to_string(),
        location,
        tags: b.tags,
        managed_by,
        deleting: None,
    };
    *st.stats.created.entry(g.id.clone()).or_default() += 1;
    let reply = Reply::json(201, render::group(&g));
    st.groups.insert(k, g);
    Ok(reply)
}

pub(crate) fn get(st: &State, sub: &str, rg: &str) -> Result<Reply, ArmError> {
    let g = st.require_group(sub, rg)?;
    Ok(Reply::json(200, render::group(g)))
}

/// `HEAD` (CheckExistence): 204 or 404, never a body.
pub(crate) fn head(st: &State, sub: &str, rg: &str) -> Reply {
    Reply::empty(if st.group(sub, rg).is_some() {
        204
    } else {
        404
    })
}

pub(crate) fn patch(st: &mut State, sub: &str, rg: &str, bytes: &[u8]) -> Result<Reply, ArmError> {
    let b = body::parse(bytes, Provider::Resources)?;
    let name = st.require_group(sub, rg)?.name.clone();
    let g = st.groups.get_mut(&group_key(sub, rg)).expect("checked");
    if g.deleting.is_some() {
        return Err(ArmError::group_being_deleted(&name));
    }
    if let Some(loc) = &b.location
        && *loc != g.location
    {
        return Err(ArmError::invalid_group_location(loc, &g.location));
    }
    if b.tags.is_some() {
        g.tags = b.tags;
    }
    if let Some(m) = b.top.get("managedBy").and_then(Value::as_str) {
        g.managed_by = Some(m.to_string());
    }
    Ok(Reply::json(200, render::group(g)))
}

pub(crate) fn delete(
    st: &mut State,
    sub: &str,
    rg: &str,
    api_version: &str,
) -> Result<Reply, ArmError> {
    let g = st.require_group(sub, rg)?.clone();
    if let Some(op) = &g.deleting {
        return Ok(st.delete_reply(op));
    }
    let k = group_key(sub, rg);
    let duration = st.timing.lro.of(ResourceKind::ResourceGroup);
    let op = st.start_op(NewOp {
        provider: Provider::Resources,
        sub: &g.sub,
        region: &g.location,
        api_version,
        effect: Effect::DeleteGroup { group: k.clone() },
        fail: None,
        duration,
        id: Some(group_job_token(&g.name, &g.location)),
    });
    if let Some(g) = st.groups.get_mut(&k) {
        g.deleting = Some(op.clone());
    }
    Ok(st.delete_reply(&op))
}

pub(crate) fn list(st: &State, req: &ArmRequest, sub: &str) -> Result<Reply, ArmError> {
    let filter = parse_filter(req.query("$filter"))?;
    let items: Vec<paging::Item> = st
        .groups
        .iter()
        .filter(|(_, g)| g.sub.eq_ignore_ascii_case(sub))
        .filter(|(_, g)| match &filter {
            Filter::All => true,
            Filter::Tag { name, value } => tags_match(g.tags.as_ref(), name, value.as_deref()),
            Filter::Type(_) => false,
        })
        .map(|(k, g)| (k.clone(), render::group(g)))
        .collect();
    paging::page(st, req, items)
}
