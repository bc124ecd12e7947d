//! ARM requests → answers: routing, api-version checks, and the operations every resource kind
//! shares (GET, LIST, DELETE, PATCH of tags, and the skeleton of PUT). Kind-specific validation
//! and rendering live in `network`, `compute` and `render`; resource groups in `groups`.

use std::sync::LazyLock;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::body::{self, Body};
use crate::config::{ConflictStyle, FailAction};
use crate::error::ArmError;
use crate::kind::{COMPUTE_API_VERSIONS, DISK_API_VERSIONS, NETWORK_API_VERSIONS, Provider};
use crate::lro::{Effect, NewOp};
use crate::path::{ResourcePath, Route, RouteError};
use crate::reply::Reply;
use crate::store::{self, Group, ProvState, Resource, State};
use crate::{ResourceKind, compute, groups, listing, network, paging, render};

/// An ARM request as the handlers see it.
pub(crate) struct ArmRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: bytes::Bytes,
}

impl ArmRequest {
    /// A query parameter, its name compared case-insensitively.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn api_version(&self) -> &str {
        self.query("api-version").unwrap_or_default()
    }
}

/// The operation name a request counts under in [`crate::Stats::by_operation`].
pub(crate) fn operation_name(method: &str, path: &str) -> String {
    let what = match crate::path::parse(path) {
        Ok(Route::ResourceGroups { .. } | Route::ResourceGroup { .. }) => "resourceGroups",
        Ok(Route::SubscriptionResources { .. } | Route::GroupResources { .. }) => "resources",
        Ok(Route::SubscriptionList { kind, .. }) => kind.segment(),
        Ok(Route::Resource(p)) if p.instance_view => "instanceView",
        Ok(Route::Resource(p)) => p.kind.segment(),
        Ok(Route::Operation { result: true, .. }) => "operationResults",
        Ok(Route::Operation { result: false, .. }) => "operations",
        Ok(Route::GroupOperation { .. }) => "operationResults",
        Err(_) => "unknown",
    };
    format!("{method} {what}")
}

/// Handles one authorized, un-faulted ARM request.
pub(crate) fn handle(st: &mut State, req: &ArmRequest) -> Reply {
    match route(st, req) {
        Ok(reply) => reply,
        Err(e) => e.into(),
    }
}

fn check_version(version: &str, accepted: &[&str], arm_type: &str) -> Result<(), ArmError> {
    if version.is_empty() {
        return Err(ArmError::missing_api_version());
    }
    if accepted.contains(&version) {
        Ok(())
    } else {
        Err(ArmError::unsupported_api_version(
            version, arm_type, accepted,
        ))
    }
}

/// api-versions of the status and result URLs: whichever provider issued them.
static OPERATION_API_VERSIONS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    [
        NETWORK_API_VERSIONS,
        COMPUTE_API_VERSIONS,
        DISK_API_VERSIONS,
    ]
    .concat()
});

/// The api-versions a route accepts, the type named when refusing one, and its subscription.
fn route_versions(route: &Route) -> (&'static [&'static str], &'static str, &str) {
    let resources = ResourceKind::ResourceGroup.api_versions();
    match route {
        Route::ResourceGroups { sub } | Route::ResourceGroup { sub, .. } => {
            (resources, "Microsoft.Resources/resourceGroups", sub)
        }
        Route::SubscriptionResources { sub } | Route::GroupResources { sub, .. } => {
            (resources, "Microsoft.Resources/resources", sub)
        }
        Route::GroupOperation { sub, .. } => {
            (resources, "Microsoft.Resources/operationresults", sub)
        }
        Route::SubscriptionList { sub, kind } => (kind.api_versions(), kind.arm_type(), sub),
        Route::Resource(p) => (p.kind.api_versions(), p.kind.arm_type(), &p.sub),
        Route::Operation { sub, .. } => (
            OPERATION_API_VERSIONS.as_slice(),
            "locations/operations",
            sub,
        ),
    }
}

fn route(st: &mut State, req: &ArmRequest) -> Result<Reply, ArmError> {
    let route = match crate::path::parse(&req.path) {
        Ok(r) => r,
        Err(RouteError::NoRoute) => return Err(ArmError::no_route(&req.method, &req.path)),
        Err(RouteError::UnknownType { namespace, segment }) => {
            if req.api_version().is_empty() {
                return Err(ArmError::missing_api_version());
            }
            return Err(ArmError::invalid_resource_type(&namespace, &segment));
        }
    };
    let version = req.api_version();
    let (accepted, arm_type, sub) = route_versions(&route);
    check_version(version, accepted, arm_type)?;
    st.check_subscription(sub)?;
    let method = req.method.as_str();
    match (route, method) {
        (Route::ResourceGroups { sub }, "GET") => groups::list(st, req, &sub),
        (Route::ResourceGroup { sub, rg }, "PUT") => groups::put(st, &sub, &rg, &req.body),
        (Route::ResourceGroup { sub, rg }, "GET") => groups::get(st, &sub, &rg),
        (Route::ResourceGroup { sub, rg }, "HEAD") => Ok(groups::head(st, &sub, &rg)),
        (Route::ResourceGroup { sub, rg }, "PATCH") => groups::patch(st, &sub, &rg, &req.body),
        (Route::ResourceGroup { sub, rg }, "DELETE") => groups::delete(st, &sub, &rg, version),
        (Route::SubscriptionResources { sub }, "GET") => listing::resources(st, req, &sub, None),
        (Route::GroupResources { sub, rg }, "GET") => {
            st.require_group(&sub, &rg)?;
            listing::resources(st, req, &sub, Some(&rg))
        }
        (Route::SubscriptionList { sub, kind }, "GET") => {
            let items = st
                .of_kind(kind)
                .filter(|r| r.sub.eq_ignore_ascii_case(&sub))
                .map(|r| listed(st, r))
                .collect();
            paging::page(st, req, items)
        }
        // Compute's Location is its status URL with `monitor=true`.
        (Route::Operation { id, result, .. }, "GET") => {
            if result
                || req
                    .query("monitor")
                    .is_some_and(|m| m.eq_ignore_ascii_case("true"))
            {
                st.op_result(&id)
            } else {
                st.op_status(&id)
            }
        }
        (Route::GroupOperation { token, .. }, "GET") => st.op_result(&token),
        (Route::Resource(path), _) => resource(st, req, &path),
        _ => Err(ArmError::method_not_allowed(method)),
    }
}

fn resource(st: &mut State, req: &ArmRequest, path: &ResourcePath) -> Result<Reply, ArmError> {
    let method = req.method.as_str();
    if path.default_rules {
        return match method {
            "GET" => network::default_rules(st, path),
            _ => Err(ArmError::method_not_allowed(method)),
        };
    }
    if path.instance_view {
        return match method {
            "GET" => {
                let vm = find(st, path)?;
                Ok(Reply::json(200, compute::instance_view(st, vm)))
            }
            _ => Err(ArmError::method_not_allowed(method)),
        };
    }
    match (method, path.name.is_some()) {
        ("GET", false) => list(st, req, path),
        ("GET", true) => {
            let res = find(st, path)?;
            let expand = req.query("$expand");
            let mut reply = Reply::json(200, render::resource(st, res, expand));
            if res.kind.provider() == Provider::Network {
                reply.header("ETag", res.etag.clone());
            }
            Ok(reply)
        }
        ("PUT", true) => put(st, req, path),
        ("DELETE", true) => delete(st, req, path),
        ("PATCH", true) => patch(st, req, path),
        _ => Err(ArmError::method_not_allowed(method)),
    }
}

/// The id a path names (with the caller's spelling of names and the group's own spelling).
pub(crate) fn resource_id(group: &Group, path: &ResourcePath, name: &str) -> String {
    let (ns, top_segment) = match path.kind.parent() {
        Some(parent) => (namespace(parent), parent.segment()),
        None => (namespace(path.kind), path.kind.segment()),
    };
    match &path.parent {
        Some(parent) => format!(
            "{}/providers/{ns}/{top_segment}/{parent}/{}/{name}",
            group.id,
            path.kind.segment()
        ),
        None => format!("{}/providers/{ns}/{top_segment}/{name}", group.id),
    }
}

fn namespace(kind: ResourceKind) -> &'static str {
    kind.arm_type().split('/').next().unwrap_or_default()
}

/// The parent resource of a child path, or the error ARM gives when it is missing.
fn parent_of<'a>(
    st: &'a State,
    group: &Group,
    path: &ResourcePath,
) -> Result<Option<&'a Resource>, ArmError> {
    let (Some(parent_kind), Some(parent_name)) = (path.kind.parent(), &path.parent) else {
        return Ok(None);
    };
    let parent_path = ResourcePath {
        kind: parent_kind,
        parent: None,
        name: Some(parent_name.clone()),
        ..path.clone()
    };
    let id = resource_id(group, &parent_path, parent_name);
    st.get_kind(&id, parent_kind).map(Some).ok_or_else(|| {
        ArmError::resource_not_found(parent_kind.arm_type(), parent_name, &group.name)
    })
}

/// GET of one resource: `ResourceGroupNotFound`, `ResourceNotFound` (top level), `NotFound`
/// (nested).
fn find<'a>(st: &'a State, path: &ResourcePath) -> Result<&'a Resource, ArmError> {
    let group = st.require_group(&path.sub, &path.rg)?;
    parent_of(st, group, path)?;
    let name = path.name.as_deref().unwrap_or_default();
    let id = resource_id(group, path, name);
    match st.get_kind(&id, path.kind) {
        Some(r) => Ok(r),
        None if path.kind.parent().is_some() => Err(ArmError::nested_not_found(&id)),
        None => Err(ArmError::resource_not_found(
            path.kind.arm_type(),
            name,
            &group.name,
        )),
    }
}

/// A resource as a list shows it, at its place in creation order.
fn listed(st: &State, r: &Resource) -> paging::Item {
    (paging::seq_position(r.seq), render::resource(st, r, None))
}

fn list(st: &State, req: &ArmRequest, path: &ResourcePath) -> Result<Reply, ArmError> {
    let group = st.require_group(&path.sub, &path.rg)?;
    let items = match parent_of(st, group, path)? {
        Some(parent) => st
            .children(&parent.key())
            .into_iter()
            .filter(|r| r.kind == path.kind)
            .map(|r| listed(st, r))
            .collect(),
        None => st
            .of_kind(path.kind)
            .filter(|r| r.group == store::group_key(&path.sub, &path.rg))
            .map(|r| listed(st, r))
            .collect(),
    };
    paging::page(st, req, items)
}

/// What a kind's PUT needs to know.
pub(crate) struct PutCtx {
    pub kind: ResourceKind,
    pub id: String,
    pub name: String,
    pub sub: String,
    pub group: Group,
    pub parent: Option<Resource>,
    pub existing: Option<Resource>,
    pub body: Body,
}

/// A resource to insert or update.
pub(crate) struct Upsert {
    pub kind: ResourceKind,
    pub id: String,
    pub name: String,
    pub sub: String,
    pub group: String,
    pub parent: Option<String>,
    pub location: Option<String>,
    pub tags: Option<Map<String, Value>>,
    pub props: Map<String, Value>,
    pub top: Map<String, Value>,
}

/// Inserts or updates a resource; returns its key. Identity (guid, creation time, sequence)
/// survives updates; the etag changes.
pub(crate) fn upsert(st: &mut State, u: Upsert) -> String {
    let k = store::key(&u.id);
    let etag = |prev: Option<&str>| match u.kind.provider() {
        Provider::Network => format!("W/\"{}\"", uuid::Uuid::new_v4()),
        _ => {
            let n: u64 = prev
                .and_then(|e| e.trim_matches('"').parse().ok())
                .unwrap_or(0);
            format!("\"{}\"", n + 1)
        }
    };
    if let Some(r) = st.resources.get_mut(&k) {
        r.etag = etag(Some(&r.etag));
        r.location = u.location.or(r.location.take());
        r.tags = u.tags;
        r.props = u.props;
        r.top = u.top;
        return k;
    }
    let seq = st.next_seq();
    st.resources.insert(
        k.clone(),
        Resource {
            id: u.id.clone(),
            kind: u.kind,
            name: u.name,
            sub: u.sub,
            group: u.group,
            parent: u.parent,
            location: u.location,
            tags: u.tags,
            props: u.props,
            top: u.top,
            state: ProvState::Succeeded,
            etag: etag(None),
            guid: uuid::Uuid::new_v4().to_string(),
            seq,
            op: None,
            created: time::OffsetDateTime::now_utc(),
            mac: None,
            ip_address: None,
            reserved: None,
        },
    );
    *st.stats.created.entry(u.id).or_default() += 1;
    k
}

/// A reference a resource makes: it must exist, be of the right kind, and be provisioned.
pub(crate) fn check_ref<'a>(
    st: &'a State,
    ref_id: &str,
    kind: ResourceKind,
    by: &str,
) -> Result<&'a Resource, ArmError> {
    let r = st
        .get_kind(ref_id, kind)
        .ok_or_else(|| ArmError::invalid_reference(ref_id, by))?;
    match r.state {
        ProvState::Succeeded => Ok(r),
        other => Err(ArmError::referenced_not_provisioned(
            &r.id,
            by,
            other.as_str(),
            kind.segment(),
        )),
    }
}

/// The in-flight operation a Network write would collide with: on the resource itself, its
/// parent, or (for a VNet or NSG) any of its children.
fn network_conflict(
    st: &State,
    existing: Option<&Resource>,
    parent: Option<&Resource>,
) -> Option<String> {
    let mut holders: Vec<&Resource> = Vec::new();
    holders.extend(existing);
    holders.extend(parent);
    if let Some(e) = existing {
        holders.extend(st.children(&e.key()));
    }
    holders
        .into_iter()
        .find_map(|r| st.busy(r))
        .map(|op| op.async_url(&st.base_url))
}

/// The conflict answer: either a refusal now, or an error the operation will end with.
fn conflict(st: &mut State, id: &str, blocker_url: String) -> Result<Option<ArmError>, ArmError> {
    st.stats.faults.conflicts += 1;
    match st.conflict_style {
        ConflictStyle::Retryable429 => Err(ArmError::retryable_another_operation(
            id,
            st.timing.retry_after_secs.max(1),
        )),
        ConflictStyle::FailedAsync => Ok(Some(ArmError::another_operation(&blocker_url))),
    }
}

fn put(st: &mut State, req: &ArmRequest, path: &ResourcePath) -> Result<Reply, ArmError> {
    let kind = path.kind;
    if kind == ResourceKind::Disk {
        return Err(ArmError::unsupported(
            "creating disks directly (only the OS disks VMs create are modelled)",
        ));
    }
    let group = st.writable_group(&path.sub, &path.rg)?.clone();
    let name = path.name.clone().unwrap_or_default();
    if !body::valid_resource_name(&name) {
        return Err(ArmError::invalid_resource_name(&name, kind.segment()));
    }
    let parent = parent_of(st, &group, path)
        .map_err(|_| ArmError::parent_not_found(path.parent.as_deref().unwrap_or_default()))?
        .cloned();
    let id = resource_id(&group, path, &name);
    let existing = st.get_kind(&id, kind).cloned();
    let body = body::parse(&req.body, kind.provider())?;

    // Who else holds the resource.
    let mut fail = None;
    match kind.provider() {
        Provider::Network => {
            if let Some(url) = network_conflict(st, existing.as_ref(), parent.as_ref()) {
                fail = conflict(st, &id, url)?;
            }
        }
        _ => {
            if let Some(e) = &existing
                && e.state == ProvState::Deleting
            {
                return Err(ArmError::vm_marked_for_deletion("PUT", &e.name));
            }
        }
    }

    if kind.tracked() {
        let Some(location) = &body.location else {
            return Err(ArmError::location_required());
        };
        if let Some(e) = &existing
            && e.location.as_deref().is_some_and(|old| old != location)
        {
            return Err(ArmError::invalid_resource_location(
                &name,
                e.location.as_deref().unwrap_or_default(),
                &group.name,
                location,
            ));
        }
    }

    let ctx = PutCtx {
        kind,
        id: id.clone(),
        name,
        sub: group.sub.clone(),
        group,
        parent,
        existing,
        body,
    };
    let created = ctx.existing.is_none();
    let region = ctx
        .body
        .location
        .clone()
        .or_else(|| ctx.parent.as_ref().and_then(|p| p.location.clone()))
        .unwrap_or_else(|| ctx.group.location.clone());
    let sub = ctx.sub.clone();
    // A VM re-PUT while it is still being created joins the creation: the old operation is
    // preempted and the new one ends when the old one would have.
    let preempted = ctx
        .existing
        .as_ref()
        .and_then(|e| st.busy(e))
        .map(|op| (op.id.clone(), op.due));
    let ids = match kind {
        ResourceKind::VirtualNetwork => network::put_vnet(st, &ctx)?,
        ResourceKind::Subnet => network::put_subnet(st, &ctx)?,
        ResourceKind::NetworkSecurityGroup => network::put_nsg(st, &ctx)?,
        ResourceKind::SecurityRule => network::put_rule(st, &ctx)?,
        ResourceKind::PublicIpAddress => network::put_pip(st, &ctx)?,
        ResourceKind::NetworkInterface => network::put_nic(st, &ctx)?,
        ResourceKind::VirtualMachine => compute::put_vm(st, &ctx)?,
        ResourceKind::Disk | ResourceKind::ResourceGroup => unreachable!("handled above"),
    };

    let action = if created {
        FailAction::Create
    } else {
        FailAction::Update
    };
    if fail.is_none() {
        fail = st.take_failure(kind, action);
        if fail.is_some() {
            st.stats.faults.failed_operations += 1;
        }
    }
    let mut duration = st.timing.lro.of(kind);
    if kind == ResourceKind::VirtualMachine
        && let Some((old, due)) = preempted
    {
        if let Some(op) = st.ops.get_mut(&old) {
            op.status = crate::lro::OpStatus::Canceled(ArmError::preempted());
            op.ended = Some(time::OffsetDateTime::now_utc());
        }
        duration = due.saturating_duration_since(Instant::now());
    }
    let op = st.start_op(NewOp {
        provider: kind.provider(),
        sub: &sub,
        region: &region,
        api_version: req.api_version(),
        effect: Effect::Provision { ids: ids.clone() },
        fail,
        duration,
        id: None,
    });
    // A VM re-PUT while it is still being created is still creating.
    let still_creating = ctx
        .existing
        .as_ref()
        .is_some_and(|e| e.state == ProvState::Creating);
    let state = match (kind.provider(), created || still_creating) {
        (Provider::Compute, true) => ProvState::Creating,
        _ => ProvState::Updating,
    };
    for rid in &ids {
        if let Some(r) = st.resources.get_mut(&store::key(rid)) {
            // Only what this operation provisions; an OS disk made alongside is ready at once.
            r.state = state;
            r.op = Some(op.clone());
        }
    }
    let res = st.get(&id).expect("just written");
    let mut reply = Reply::json(
        if created { 201 } else { 200 },
        render::resource(st, res, None),
    );
    st.put_headers(&mut reply, &op);
    Ok(reply)
}

fn delete(st: &mut State, req: &ArmRequest, path: &ResourcePath) -> Result<Reply, ArmError> {
    let kind = path.kind;
    let group = st.writable_group(&path.sub, &path.rg)?.clone();
    let parent = match parent_of(st, &group, path) {
        Ok(p) => p.cloned(),
        // Nothing under a missing parent: deleting it is a no-op.
        Err(_) => return Ok(Reply::empty(204)),
    };
    let name = path.name.clone().unwrap_or_default();
    let id = resource_id(&group, path, &name);
    let Some(res) = st.get_kind(&id, kind).cloned() else {
        return Ok(Reply::empty(204));
    };
    // A delete already running answers like the first one.
    if res.state == ProvState::Deleting
        && let Some(op) = st.busy(&res)
    {
        let op = op.id.clone();
        return Ok(st.delete_reply(&op));
    }
    let mut fail = None;
    if kind.provider() == Provider::Network
        && let Some(url) = network_conflict(st, Some(&res), parent.as_ref())
    {
        fail = conflict(st, &id, url)?;
    }
    if kind.provider() == Provider::Compute
        && let Some(op) = st.busy(&res).map(|o| o.id.clone())
        && let Some(op) = st.ops.get_mut(&op)
    {
        // Deleting a VM that is still being created preempts the creation.
        op.status = crate::lro::OpStatus::Canceled(ArmError::preempted());
        op.ended = Some(time::OffsetDateTime::now_utc());
    }
    if let Some(blocker) = st.delete_blocker(&res) {
        if !(st.async_in_use_errors && kind.provider() == Provider::Network) {
            return Err(blocker);
        }
        fail = fail.or(Some(blocker));
    }
    if fail.is_none() {
        fail = st.take_failure(kind, FailAction::Delete);
        if fail.is_some() {
            st.stats.faults.failed_operations += 1;
        }
    }
    let region = res
        .location
        .clone()
        .or_else(|| parent.as_ref().and_then(|p| p.location.clone()))
        .unwrap_or_else(|| group.location.clone());
    let duration = st.timing.lro.of(kind);
    let op = st.start_op(NewOp {
        provider: kind.provider(),
        sub: &group.sub,
        region: &region,
        api_version: req.api_version(),
        effect: Effect::Delete { id: id.clone() },
        fail,
        duration,
        id: None,
    });
    if let Some(r) = st.resources.get_mut(&store::key(&id)) {
        r.state = ProvState::Deleting;
        r.op = Some(op.clone());
    }
    Ok(st.delete_reply(&op))
}

/// PATCH: Network's `UpdateTags` (synchronous) and Compute's VM update (an LRO).
fn patch(st: &mut State, req: &ArmRequest, path: &ResourcePath) -> Result<Reply, ArmError> {
    let kind = path.kind;
    if !kind.tracked() || kind == ResourceKind::Disk {
        return Err(ArmError::method_not_allowed("PATCH"));
    }
    st.writable_group(&path.sub, &path.rg)?;
    let res = find(st, path)?.clone();
    let patch = body::parse(&req.body, kind.provider())?;
    if kind == ResourceKind::VirtualMachine {
        // Merge the patch into the stored model and run it as a PUT of the whole VM.
        let mut merged = json!({
            "location": res.location,
            "properties": Value::Object(res.props.clone()),
        });
        if let Some(tags) = patch.tags.clone().or(res.tags.clone()) {
            merged["tags"] = Value::Object(tags);
        }
        crate::control::merge_patch(&mut merged["properties"], &Value::Object(patch.properties));
        let put_req = ArmRequest {
            method: "PUT".to_string(),
            path: req.path.clone(),
            query: req.query.clone(),
            body: bytes::Bytes::from(merged.to_string()),
        };
        let mut reply = put(st, &put_req, path)?;
        reply.status = 200;
        return Ok(reply);
    }
    let k = res.key();
    if let Some(r) = st.resources.get_mut(&k) {
        if let Some(tags) = patch.tags {
            r.tags = Some(tags);
        }
        r.etag = format!("W/\"{}\"", uuid::Uuid::new_v4());
    }
    let res = &st.resources[&k];
    let mut reply = Reply::json(200, render::resource(st, res, None));
    reply.header("ETag", res.etag.clone());
    Ok(reply)
}
