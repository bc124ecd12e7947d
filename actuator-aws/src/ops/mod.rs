//! Provisioning and deprovisioning, dispatched by kind to one module per resource family:
//!
//! | module | resources |
//! |---|---|
//! | [`network`] | `Vpc`, `Subnet`, `InternetGateway`, `RouteTable`, `Route` |
//! | [`security`] | `SecurityGroup`, `SecurityGroupRule` |
//! | [`keys`] | `KeyPair` |
//! | [`instances`] | `NetworkInterface`, `Instance` |
//! | [`addresses`] | `PublicIp` (Elastic IPs) |
//!
//! Each family module holds, per resource type, its look-up by tag (a [`Tagged`] impl on the
//! SDK's type), its create and its delete, built from the steps of [`Op`].
//!
//! Every create is *find by tag, else create with the tags attached atomically* (`TagSpecifications`),
//! and every later step converges (attach if not attached, associate if not associated …), so a
//! create interrupted at any point — a crash, a lost response, a retry — completes without a twin.
//! Every delete treats "not found" as done, so deleting twice is harmless.
//!
//! [`Tagged`]: crate::find::Tagged

mod addresses;
pub(crate) mod instances;
mod keys;
mod network;
mod op;
mod security;

use std::collections::BTreeSet;

use aws_sdk_ec2::types as t;
use futures::try_join;

use crate::api::{Api, Policy};
use crate::find::{PATH_TAG, Tagged, pairs, tag, tagged, tagged_ids, workspace_filter};
use crate::resources::{
    Instance, InternetGateway, KeyPair, NetworkInterface, Placed, PublicIp, Route, RouteTable,
    SecurityGroup, SecurityGroupRule, Subnet, Vpc,
};
use crate::{AwsProxy, Inventory};
use actuator::model::Element;
use actuator::provision::{
    AttemptError, Discovered, Observed, Outputs, Ownership, ProvisionCx, Provisioned, Scope, tags,
};
use op::{Op, fatal};

/// Creates the resource of `cx`, as its kind's family module does.
pub(super) async fn provision(px: &AwsProxy, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
    match cx.kind().as_str() {
        Vpc::KIND => create(px, cx, network::create_vpc).await,
        Subnet::KIND => create(px, cx, network::create_subnet).await,
        InternetGateway::KIND => create(px, cx, network::create_internet_gateway).await,
        RouteTable::KIND => create(px, cx, network::create_route_table).await,
        Route::KIND => create(px, cx, network::create_route).await,
        SecurityGroup::KIND => create(px, cx, security::create_group).await,
        SecurityGroupRule::KIND => create(px, cx, security::create_rule).await,
        KeyPair::KIND => create(px, cx, keys::create_key_pair).await,
        NetworkInterface::KIND => create(px, cx, instances::create_interface).await,
        PublicIp::KIND => create(px, cx, addresses::create_public_ip).await,
        Instance::KIND => create(px, cx, instances::create_instance).await,
        k => Err(fatal(format!(
            "{}: kind `{k}` is not an AWS resource",
            cx.path()
        ))),
    }
}

/// Whether the recorded resource still exists: found by its tags, as its kind's look-up does.
/// (Outputs are as recorded.)
pub(super) async fn read(px: &AwsProxy, rec: &Provisioned) -> Result<Observed, AttemptError> {
    match &*rec.kind {
        Vpc::KIND => exists::<t::Vpc>(px, rec).await,
        Subnet::KIND => exists::<t::Subnet>(px, rec).await,
        InternetGateway::KIND => exists::<t::InternetGateway>(px, rec).await,
        RouteTable::KIND => exists::<t::RouteTable>(px, rec).await,
        // A route has no tags of its own: it exists while its table does.
        Route::KIND => Ok(Observed::Exists(rec.outputs.clone())),
        SecurityGroup::KIND => exists::<t::SecurityGroup>(px, rec).await,
        SecurityGroupRule::KIND => exists::<t::SecurityGroupRule>(px, rec).await,
        KeyPair::KIND => exists::<t::KeyPairInfo>(px, rec).await,
        NetworkInterface::KIND => exists::<t::NetworkInterface>(px, rec).await,
        PublicIp::KIND => exists::<t::Address>(px, rec).await,
        Instance::KIND => exists::<t::Instance>(px, rec).await,
        k => Err(fatal(format!(
            "{}: kind `{k}` is not an AWS resource",
            rec.key
        ))),
    }
}

/// [`read`] of a tagged resource: whether a `T` carries its tags.
async fn exists<T: Tagged>(px: &AwsProxy, rec: &Provisioned) -> Result<Observed, AttemptError> {
    let op = Op::for_teardown(px, rec).await?;
    let found = op.exists::<T>(rec).await;
    op.finish();
    Ok(if found? {
        Observed::Exists(rec.outputs.clone())
    } else {
        Observed::Gone
    })
}

/// Deletes what `rec` records, as its kind's family module does.
pub(super) async fn deprovision(px: &AwsProxy, rec: &Provisioned) -> Result<(), AttemptError> {
    let op = Op::for_teardown(px, rec).await?;
    let r = match &*rec.kind {
        Vpc::KIND => network::delete_vpc(&op, rec).await,
        Subnet::KIND => network::delete_subnet(&op, rec).await,
        InternetGateway::KIND => network::delete_internet_gateway(&op, rec).await,
        RouteTable::KIND => network::delete_route_table(&op, rec).await,
        Route::KIND => network::delete_route(&op, rec).await,
        SecurityGroup::KIND => security::delete_group(&op, rec).await,
        SecurityGroupRule::KIND => security::delete_rule(&op, rec).await,
        KeyPair::KIND => keys::delete_key_pair(&op, rec).await,
        NetworkInterface::KIND => instances::delete_interface(&op, rec).await,
        PublicIp::KIND => addresses::delete_public_ip(&op, rec).await,
        Instance::KIND => instances::delete_instance(&op, rec).await,
        k => Err(fatal(format!(
            "{}: kind `{k}` is not an AWS resource",
            rec.key
        ))),
    };
    op.finish();
    r
}

/// Applies the changed arguments of the resource of `cx` in place — only those its type declares
/// with `#[resource(update(…))]`; the plan replaces it for any other change.
pub(super) async fn update(
    px: &AwsProxy,
    cx: &ProvisionCx,
    rec: &Provisioned,
) -> Result<Outputs, AttemptError> {
    // (Plain code, not `create` with closures: async_trait's `Send` bound cannot see through
    // higher-ranked async closures that borrow `rec`.)
    macro_rules! with_op {
        ($t:ty, |$op:ident, $v:ident| $body:expr) => {{
            let $v: $t = cx.resource()?;
            let region = $v.region.clone();
            let $op = Op::for_provision(px, cx, region.as_deref()).await?;
            let out = $body.await;
            $op.finish();
            out
        }};
    }
    match cx.kind().as_str() {
        // Creates converge: the subnet's attribute is set, the address re-associated with its
        // (replaced) target.
        Subnet::KIND => with_op!(Subnet, |op, v| network::create_subnet(&op, cx, v)),
        PublicIp::KIND => with_op!(PublicIp, |op, v| addresses::create_public_ip(&op, cx, v)),
        SecurityGroupRule::KIND => {
            with_op!(SecurityGroupRule, |op, v| security::update_rule(
                &op, cx, rec, v
            ))
        }
        Instance::KIND => with_op!(Instance, |op, v| instances::update_instance(&op, rec, v)),
        k => Err(fatal(format!(
            "{}: EC2 changes nothing of a `{k}` in place",
            cx.path()
        ))),
    }
}

/// Everything of `kinds` tagged for `scope`'s system and workspace (any state), in the default
/// region and every region this proxy has used.
pub(super) async fn discover(
    px: &AwsProxy,
    scope: &Scope,
    kinds: &[&str],
) -> Result<Vec<Discovered>, AttemptError> {
    let mut regions: BTreeSet<String> = px.regions.lock().keys().cloned().collect();
    if let Ok(r) = px.region_name(None).await {
        regions.insert(r);
    }
    let mut found = Vec::new();
    for region in regions {
        let rc = px.region_cx(&region).await?;
        for &kind in kinds {
            let c = &rc.caller;
            let got = match kind {
                Vpc::KIND => discovered::<t::Vpc>(c, scope).await,
                Subnet::KIND => discovered::<t::Subnet>(c, scope).await,
                InternetGateway::KIND => discovered::<t::InternetGateway>(c, scope).await,
                RouteTable::KIND => discovered::<t::RouteTable>(c, scope).await,
                SecurityGroup::KIND => discovered::<t::SecurityGroup>(c, scope).await,
                SecurityGroupRule::KIND => discovered::<t::SecurityGroupRule>(c, scope).await,
                KeyPair::KIND => discovered::<t::KeyPairInfo>(c, scope).await,
                NetworkInterface::KIND => discovered::<t::NetworkInterface>(c, scope).await,
                PublicIp::KIND => discovered::<t::Address>(c, scope).await,
                Instance::KIND => discovered::<t::Instance>(c, scope).await,
                // Routes carry no tags: they go with their table.
                _ => Ok(Vec::new()),
            }
            .map_err(|e| fatal(format!("discover {kind} in {region}: {e}")))?;
            found.extend(got.into_iter().map(|mut d| {
                d.outputs.insert("region".into(), region.clone());
                d
            }));
        }
    }
    Ok(found)
}

async fn discovered<T: Tagged>(
    c: &crate::client::Caller,
    scope: &Scope,
) -> Result<Vec<Discovered>, crate::api::AwsError> {
    let mut filters = vec![workspace_filter(&scope.workspace)];
    filters.extend(T::live());
    let all = tagged::<T>(c, &scope.system, filters).await?;
    Ok(all
        .into_iter()
        .filter(|v| !v.retained() && scope.owns(pairs(v.tags_of())) != Ownership::Foreign)
        .map(|v| Discovered {
            kind: T::KIND.to_owned(),
            key: tag(v.tags_of(), PATH_TAG).unwrap_or_default().to_owned(),
            state_id: tag(v.tags_of(), tags::STATE).unwrap_or_default().to_owned(),
            outputs: v
                .outputs_of()
                .into_iter()
                .map(|(k, x)| (k.to_owned(), x))
                .collect(),
        })
        .collect())
}

/// Adopts the existing resource `id` as the resource of `cx`: tags it for `cx`'s scope (which
/// makes it this state's), then reads it back by those tags for its outputs.
pub(super) async fn import(
    px: &AwsProxy,
    cx: &ProvisionCx,
    id: &str,
) -> Result<Outputs, AttemptError> {
    match cx.kind().as_str() {
        Vpc::KIND => adopt::<t::Vpc>(px, cx, id).await,
        Subnet::KIND => adopt::<t::Subnet>(px, cx, id).await,
        InternetGateway::KIND => adopt::<t::InternetGateway>(px, cx, id).await,
        RouteTable::KIND => adopt::<t::RouteTable>(px, cx, id).await,
        SecurityGroup::KIND => adopt::<t::SecurityGroup>(px, cx, id).await,
        NetworkInterface::KIND => adopt::<t::NetworkInterface>(px, cx, id).await,
        PublicIp::KIND => adopt::<t::Address>(px, cx, id).await,
        Instance::KIND => adopt::<t::Instance>(px, cx, id).await,
        k => Err(fatal(format!(
            "{}: a `{k}` cannot be imported (import its parent, let `up` create this one)",
            cx.path()
        ))),
    }
}

async fn adopt<T: Tagged>(
    px: &AwsProxy,
    cx: &ProvisionCx,
    id: &str,
) -> Result<Outputs, AttemptError> {
    // Every AWS resource has a `region` argument (`null`: the proxy's default).
    let args = cx.args();
    let region = args.get("region").and_then(|r| r.as_str());
    let op = Op::for_provision(px, cx, region).await?;
    let r = async {
        op.retry(Policy::Basic, &format!("tag {id} as {}", op.path), || {
            op.call(
                Api::Mutating,
                "CreateTags",
                op.ec2()
                    .create_tags()
                    .resources(id)
                    .set_tags(Some(op.tags()))
                    .send(),
            )
        })
        .await?;
        match op.find::<T>().await? {
            Some(v) => Ok(op.outputs(v.outputs_of())),
            None => Err(fatal(format!(
                "{}: {id} is not a {} in {} (or it is being deleted)",
                op.path,
                T::KIND,
                op.region()
            ))),
        }
    }
    .await;
    op.finish();
    r
}

/// Runs `create` for the resource of `cx` (a `T`) in its region, and records its round trips.
async fn create<T, F>(px: &AwsProxy, cx: &ProvisionCx, create: F) -> Result<Outputs, AttemptError>
where
    T: Element + Placed + Clone,
    F: for<'o> AsyncFn(&'o Op<'o>, &'o ProvisionCx, T) -> Result<Outputs, AttemptError>,
{
    let r: T = cx.resource()?;
    let op = Op::for_provision(px, cx, r.region()).await?;
    let out = create(&op, cx, r).await;
    op.finish();
    out
}

/// What `AwsProxy::inventory` lists: everything of `system` still in `region`, kind by kind,
/// from the same look-ups by tag the creates use.
pub(super) async fn inventory(
    px: &AwsProxy,
    region: Option<&str>,
    system: &str,
) -> Result<Inventory, AttemptError> {
    let rc = px.region_cx(&px.region_name(region).await?).await?;
    let c = &rc.caller;
    let e = |e| fatal(format!("inventory of {system}: {e}"));
    let (vpcs, subnets, internet_gateways, route_tables, security_groups, key_pairs) = try_join!(
        tagged_ids::<t::Vpc>(c, system, vec![]),
        tagged_ids::<t::Subnet>(c, system, vec![]),
        tagged_ids::<t::InternetGateway>(c, system, vec![]),
        tagged_ids::<t::RouteTable>(c, system, vec![]),
        tagged_ids::<t::SecurityGroup>(c, system, vec![]),
        tagged_ids::<t::KeyPairInfo>(c, system, vec![]),
    )
    .map_err(e)?;
    let (network_interfaces, addresses, instances) = try_join!(
        instances::interfaces_of(c, system, &vpcs),
        tagged_ids::<t::Address>(c, system, vec![]),
        // Instances shutting down are no longer found by tag, but they are still there.
        tagged_ids::<t::Instance>(c, system, vec![instances::not_terminated()]),
    )
    .map_err(e)?;
    Ok(Inventory {
        instances,
        vpcs,
        subnets,
        internet_gateways,
        route_tables,
        security_groups,
        key_pairs,
        network_interfaces,
        addresses,
    })
}
