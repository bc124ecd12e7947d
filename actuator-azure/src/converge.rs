//! The proxy contract on ARM: create by PUT (idempotent by resource id, so a crash or a lost
//! answer is repaired by doing the same again), read by GET, update by PATCH or PUT, delete until
//! gone, discover and import by tags.
//!
//! Ownership is decided by the tags the resource carries: a resource found under the name a
//! create wants is adopted only when it is tagged for this system, workspace, state and model
//! path; anything else makes the create fail naming it, never adopting it.

use std::time::Duration;

use azure_core::http::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use actuator::provision::{
    AttemptError, Discovered, Observed, Outputs, Ownership, ProvisionCx, Provisioned, Scope, tags,
};

use crate::AzureProxy;
use crate::client::{ArmClient, provisioning_state, terminal};
use crate::error::ArmError;
use crate::kinds::{self, Desired, Kind, RESOURCES_API};
use crate::names;

/// A VM found `Failed` was deleted: create it afresh.
const FAILED_VM_DELETED: &str = "FailedVmDeleted";

fn kind_of(kind: &str) -> Result<Kind, AttemptError> {
    Kind::of(kind).ok_or_else(|| AttemptError::fatal(format!("not an Azure kind: {kind}")))
}

/// The name a create uses: the base name, or — for a create-before-destroy replacement whose old
/// resource still holds it — the other one.
fn create_name(kind: Kind, cx: &ProvisionCx, base: String) -> String {
    match cx.replaces() {
        Some(old) if kind.alternates() => {
            let old = old.outputs.get("name").map(String::as_str);
            if old == Some(base.as_str()) {
                names::alternate(&base, &base)
            } else {
                base
            }
        }
        _ => base,
    }
}

/// Waits before trying a blocked write or delete again: the server's hint, else a growing pause.
async fn backoff(p: &AzureProxy, round: u32, hint: Option<Duration>) {
    let base = p.waits.poll_interval.max(Duration::from_millis(50));
    let grown = base * 2u32.saturating_pow(round.min(4));
    tokio::time::sleep(hint.unwrap_or(grown).max(base).min(Duration::from_secs(30))).await;
}

/// Whether the resource found where a create wants to put one may be taken as its own previous
/// attempt.
fn check_owner(
    kind: Kind,
    cx: &ProvisionCx,
    id: &str,
    existing: &Value,
) -> Result<(), AttemptError> {
    if let Some(old) = cx.replaces()
        && old
            .outputs
            .get("id")
            .is_some_and(|o| o.eq_ignore_ascii_case(id))
    {
        return Err(AttemptError::fatal(format!(
            "{id} is the resource {} replaces; not taking it for the new one",
            cx.path()
        )));
    }
    if !kind.tagged() {
        // Subnets and rules have no tags: they belong to their network or group, which is ours
        // (the create got its id from our own outputs).
        return Ok(());
    }
    let t = kinds::tags_in(existing);
    match cx.scope().owns(&t) {
        Ownership::Mine => match t.get(tags::PATH) {
            Some(p) if *p == cx.path() => Ok(()),
            other => Err(AttemptError::fatal(format!(
                "{id} exists already as `{}` of this system: two resources cannot share its name",
                other.map_or("", String::as_str)
            ))),
        },
        Ownership::OtherState(s) => Err(AttemptError::fatal(format!(
            "{id} exists already for this workspace but belongs to state `{s}` (another copy of \
             the state, or one that was lost): not adopting it; `down --discover` finds it"
        ))),
        Ownership::Foreign => Err(AttemptError::fatal(format!(
            "{id} exists already and is not this system's and workspace's (tags {t:?}): choose \
             another name, or `import` it"
        ))),
    }
}

/// Waits until the resource at `id` is in a final provisioning state (or gone); returns it.
async fn settle(arm: &ArmClient, d: &Desired, mut body: Value) -> Result<Option<Value>, ArmError> {
    let deadline = Instant::now() + arm.waits.operation_timeout;
    loop {
        match provisioning_state(&body) {
            Some(s) if !terminal(s) => {}
            _ => return Ok(Some(body)),
        }
        if Instant::now() >= deadline {
            return Err(ArmError::local(
                "OperationTimedOut",
                format!("{} stayed {:?}", d.id, provisioning_state(&body)),
            ));
        }
        tokio::time::sleep(arm.waits.poll_interval).await;
        match arm.get(&d.id, d.kind.api()).await? {
            Some(b) => body = b,
            None => return Ok(None),
        }
    }
}

/// Makes the resource at `d.id` what `d` says, however much of a previous attempt exists.
async fn converge(
    p: &AzureProxy,
    arm: &ArmClient,
    cx: &ProvisionCx,
    d: &Desired,
) -> Result<Value, AttemptError> {
    let path = cx.path();
    let deadline = Instant::now() + p.waits.busy_timeout;
    let mut round = 0u32;
    loop {
        let lock = p.lock(d.kind.lock_of(&d.id)).await;
        let step: Result<Value, ArmError> = async {
            let mut body = d.body.clone();
            let existing = match arm.get(&d.id, d.kind.api()).await? {
                Some(e) => settle(arm, d, e).await?,
                None => None,
            };
            if let Some(e) = &existing {
                check_owner(d.kind, cx, &d.id, e)
                    .map_err(|a| ArmError::local("NotOurs", a.message))?;
                if d.kind == Kind::Vm {
                    match provisioning_state(e) {
                        Some("Succeeded") => return adopt_vm(arm, d, e).await,
                        // A VM whose creation failed is made again rather than repaired.
                        Some("Failed" | "Canceled") => {
                            arm.delete(&d.id, d.kind.api()).await?;
                            return Err(ArmError::local(FAILED_VM_DELETED, &d.id));
                        }
                        _ => {}
                    }
                }
                kinds::carry_over(d.kind, &mut body, e)
                    .map_err(|m| ArmError::local("UnexpectedBody", m))?;
            }
            arm.put(Method::Put, &d.id, d.kind.api(), &body).await
        }
        .await;
        drop(lock);
        match step {
            Ok(v) => return Ok(v),
            Err(e) if e.code == "NotOurs" => return Err(AttemptError::fatal(e.message)),
            Err(e) if e.code == FAILED_VM_DELETED => {}
            Err(e) if e.is_busy() && Instant::now() < deadline => {
                tracing::debug!(resource = %path, error = %e, "busy; trying again");
                backoff(p, round, e.retry_after).await;
                round += 1;
            }
            Err(e) => return Err(e.attempt()),
        }
    }
}

/// A VM that exists and succeeded: only its size and tags may differ from the model (they are what
/// an update changes); a PATCH brings them in line, nothing else is sent again (the password is
/// written once, at creation).
async fn adopt_vm(arm: &ArmClient, d: &Desired, existing: &Value) -> Result<Value, ArmError> {
    let want_size = &d.body["properties"]["hardwareProfile"]["vmSize"];
    let same_size = &existing["properties"]["hardwareProfile"]["vmSize"] == want_size;
    let same_tags = kinds::tags_in(existing) == d.tags;
    if same_size && same_tags {
        return Ok(existing.clone());
    }
    let patch = json!({
        "tags": d.tags,
        "properties": { "hardwareProfile": { "vmSize": want_size } },
    });
    arm.put(Method::Patch, &d.id, d.kind.api(), &patch).await
}

pub(crate) async fn provision(p: &AzureProxy, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
    let kind = kind_of(&cx.kind())?;
    let arm = p.client().await?;
    let name = create_name(kind, cx, kinds::base_name(p, kind, cx)?);
    let d = kinds::desired(p, &arm, kind, cx, &name).await?;
    let body = converge(p, &arm, cx, &d).await?;
    kinds::outputs(&arm, kind, &body)
        .await
        .map_err(|e| e.attempt())
}

pub(crate) async fn read(p: &AzureProxy, rec: &Provisioned) -> Result<Observed, AttemptError> {
    let kind = kind_of(&rec.kind)?;
    let Some(id) = rec.outputs.get("id") else {
        return Ok(Observed::Gone);
    };
    let arm = p.client().await?;
    let what = |e: ArmError| e.attempt();
    match arm.get(id, kind.api()).await.map_err(what)? {
        None => Ok(Observed::Gone),
        Some(body) => Ok(Observed::Exists(
            kinds::outputs(&arm, kind, &body).await.map_err(what)?,
        )),
    }
}

pub(crate) async fn update(
    p: &AzureProxy,
    cx: &ProvisionCx,
    rec: &Provisioned,
    changed: &[String],
) -> Result<Outputs, AttemptError> {
    let kind = kind_of(&rec.kind)?;
    let arm = p.client().await?;
    let base = kinds::base_name(p, kind, cx)?;
    let name = rec.outputs.get("name").cloned().unwrap_or(base);
    let d = kinds::desired(p, &arm, kind, cx, &name).await?;
    if rec
        .outputs
        .get("id")
        .is_some_and(|id| !id.eq_ignore_ascii_case(&d.id))
    {
        return Err(AttemptError::fatal(format!(
            "the state records {} but the model now means {}: that is a replacement",
            rec.outputs["id"], d.id
        )));
    }
    let only_tags = changed.iter().all(|c| c == "tags");
    let body = match kind {
        // Tags alone: a PATCH (synchronous for groups and Network); a VM's size and tags: a PATCH
        // (a long-running operation). Nothing else is sent.
        Kind::Group => patch(p, &arm, &d, json!({ "tags": d.tags })).await?,
        Kind::Vm => {
            let size = &d.body["properties"]["hardwareProfile"]["vmSize"];
            let body =
                json!({ "tags": d.tags, "properties": { "hardwareProfile": { "vmSize": size } } });
            patch(p, &arm, &d, body).await?
        }
        k if only_tags && k.tagged() => patch(p, &arm, &d, json!({ "tags": d.tags })).await?,
        _ => converge(p, &arm, cx, &d).await?,
    };
    kinds::outputs(&arm, kind, &body)
        .await
        .map_err(|e| e.attempt())
}

async fn patch(
    p: &AzureProxy,
    arm: &ArmClient,
    d: &Desired,
    body: Value,
) -> Result<Value, AttemptError> {
    let deadline = Instant::now() + p.waits.busy_timeout;
    let mut round = 0;
    loop {
        let lock = p.lock(d.kind.lock_of(&d.id)).await;
        let r = arm.put(Method::Patch, &d.id, d.kind.api(), &body).await;
        drop(lock);
        match r {
            Ok(v) => return Ok(v),
            Err(e) if e.is_busy() && Instant::now() < deadline => {
                backoff(p, round, e.retry_after).await;
                round += 1;
            }
            Err(e) => return Err(e.attempt()),
        }
    }
}

/// Deletes `id`, waiting out whatever blocks it (a dependent still using it, another operation),
/// until it is gone.
pub(crate) async fn delete(p: &AzureProxy, kind: Kind, id: &str) -> Result<(), ArmError> {
    let arm = p
        .client()
        .await
        .map_err(|e| ArmError::local("NoClient", e.message))?;
    let deadline = Instant::now() + p.waits.busy_timeout;
    let mut round = 0;
    loop {
        let lock = p.lock(kind.lock_of(id)).await;
        let r = arm.delete(id, kind.api()).await;
        drop(lock);
        match r {
            Ok(()) => return Ok(()),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) if (e.is_in_use() || e.is_busy()) && Instant::now() < deadline => {
                tracing::debug!(resource = id, error = %e, "delete blocked; waiting");
                backoff(p, round, e.retry_after).await;
                round += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) async fn deprovision(p: &AzureProxy, rec: &Provisioned) -> Result<(), AttemptError> {
    let kind = kind_of(&rec.kind)?;
    let ids = match rec.outputs.get("id") {
        Some(id) => vec![id.clone()],
        // A create cut short before its record: find it by its tags.
        None if kind.tagged() => tagged(p, &rec.scope, kind, Some(&rec.key))
            .await?
            .into_iter()
            .filter(|(_, t)| rec.scope.owns(t) == Ownership::Mine)
            .map(|(v, _)| v["id"].as_str().unwrap_or_default().to_owned())
            .filter(|id| !id.is_empty())
            .collect(),
        None => {
            // Untagged and unrecorded: it goes with its network or group, deleted after it.
            tracing::debug!(resource = %rec.key, "no id recorded; it is deleted with its parent");
            Vec::new()
        }
    };
    for id in ids {
        delete(p, kind, &id).await.map_err(|e| e.attempt())?;
    }
    Ok(())
}

/// `tagName eq 'k' and tagValue eq 'v'`, quotes doubled as OData wants.
fn tag_filter(name: &str, value: &str) -> String {
    format!(
        "tagName eq '{}' and tagValue eq '{}'",
        name.replace('\'', "''"),
        value.replace('\'', "''")
    )
}

/// Every resource (groups included) of `kind` whose tags name `scope`'s system and, when given,
/// model path `path`; with their tags.
async fn tagged(
    p: &AzureProxy,
    scope: &Scope,
    kind: Kind,
    path: Option<&str>,
) -> Result<Vec<(Value, std::collections::BTreeMap<String, String>)>, AttemptError> {
    let arm = p.client().await?;
    let filter = match path {
        Some(path) => tag_filter(tags::PATH, path),
        None => tag_filter(tags::SYSTEM, &scope.system),
    };
    let list = if kind == Kind::Group {
        format!("{}/resourcegroups", arm.subscription_path())
    } else {
        format!("{}/resources", arm.subscription_path())
    };
    let items = arm
        .list(&list, RESOURCES_API, Some(&filter))
        .await
        .map_err(|e| e.attempt().context("listing by tag"))?;
    Ok(items
        .into_iter()
        .filter(|v| {
            kind == Kind::Group
                || v.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.eq_ignore_ascii_case(kind.arm_type()))
        })
        .map(|v| {
            let t = kinds::tags_in(&v);
            (v, t)
        })
        .collect())
}

pub(crate) async fn discover(
    p: &AzureProxy,
    scope: &Scope,
    wanted: &[&str],
) -> Result<Vec<Discovered>, AttemptError> {
    let arm = p.client().await?;
    let filter = tag_filter(tags::SYSTEM, &scope.system);
    let sub = arm.subscription_path();
    let mut items = Vec::new();
    if wanted.contains(&Kind::Group.resource_kind()) {
        for mut g in arm
            .list(
                &format!("{sub}/resourcegroups"),
                RESOURCES_API,
                Some(&filter),
            )
            .await
            .map_err(|e| e.attempt().context("listing resource groups by tag"))?
        {
            g["type"] = json!(Kind::Group.arm_type());
            items.push(g);
        }
    }
    items.extend(
        arm.list(&format!("{sub}/resources"), RESOURCES_API, Some(&filter))
            .await
            .map_err(|e| e.attempt().context("listing resources by tag"))?,
    );
    let mut found: Vec<Discovered> = items
        .into_iter()
        .filter_map(|v| {
            let kind = Kind::of_arm_type(v.get("type")?.as_str()?)?;
            if !wanted.contains(&kind.resource_kind()) {
                return None;
            }
            let t = kinds::tags_in(&v);
            if scope.owns(&t) == Ownership::Foreign {
                return None;
            }
            let mut outputs = Outputs::new();
            for k in ["id", "name"] {
                outputs.insert(k.into(), v.get(k)?.as_str()?.to_owned());
            }
            Some(Discovered {
                kind: kind.resource_kind().to_owned(),
                key: t.get(tags::PATH).cloned().unwrap_or_default(),
                state_id: t.get(tags::STATE).cloned().unwrap_or_default(),
                outputs,
            })
        })
        .collect();
    found.sort_by(|a, b| a.outputs["id"].cmp(&b.outputs["id"]));
    Ok(found)
}

pub(crate) async fn import(
    p: &AzureProxy,
    cx: &ProvisionCx,
    id: &str,
) -> Result<Outputs, AttemptError> {
    let kind = kind_of(&cx.kind())?;
    let arm = p.client().await?;
    let body = arm
        .get(id, kind.api())
        .await
        .map_err(|e| e.attempt())?
        .ok_or_else(|| AttemptError::fatal(format!("no resource {id} to import")))?;
    // A resource group's GET has no type in older api-versions; every other one names its type.
    let t = body
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(Kind::Group.arm_type());
    if !t.eq_ignore_ascii_case(kind.arm_type()) {
        return Err(AttemptError::fatal(format!(
            "{id} is a {t}, not a {}",
            kind.arm_type()
        )));
    }
    let body = if kind.tagged() {
        let mut t = kinds::tags_in(&body);
        t.extend(cx.tags());
        let d = Desired {
            kind,
            id: id.to_owned(),
            body: Value::Null,
            tags: t.clone(),
        };
        patch(p, &arm, &d, json!({ "tags": t })).await?
    } else {
        body
    };
    kinds::outputs(&arm, kind, &body)
        .await
        .map_err(|e| e.attempt())
}
