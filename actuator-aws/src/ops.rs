//! Provisioning and deprovisioning, kind by kind.
//!
//! Every create is *find by tag, else create with the tags attached atomically* (`TagSpecifications`),
//! and every later step converges (attach if not attached, associate if not associated …), so a
//! create interrupted at any point — a crash, a lost response, a retry — completes without a twin.
//! Every delete treats "not found" as done, so deleting twice is harmless.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_ec2::primitives::Blob;
use aws_sdk_ec2::types::{
    self as t, AttributeBooleanValue, DomainType, InstanceNetworkInterfaceSpecification,
    InstanceStateName, InstanceType, IpPermission, IpRange, Ipv6Range, KeyType,
    PrivateIpAddressSpecification, ResourceType, Tag, TagSpecification, Tenancy,
};
use tokio::time::Instant;

use super::AwsProxy;
use super::api::{Api, AwsError, ErrKind, Policy};
use super::client::RegionCx;
use super::find::{Found, Kind, PATH_TAG, SYSTEM_TAG, filter};
use super::resources::{
    Image, Instance, InternetGateway, IpTarget, KeyPair, NetworkInterface, PublicIp, Route,
    RouteTable, RouteTarget, RuleKind, SecurityGroup, SecurityGroupRule, Subnet, Vpc,
};
use actuator::model::Located;
use actuator::provision::{AttemptError, Outputs, ProvisionCx, Provisioned};
use actuator::secret::Secret;

/// Marks a key pair to keep on teardown even when its record was lost.
const RETAIN_TAG: &str = "actuator:retain";

/// One resource's work: its region's client, its identity (system, path, cloud-side name) and a
/// count of the round trips made for it.
pub(super) struct Op<'a> {
    px: &'a AwsProxy,
    rc: Arc<RegionCx>,
    system: Option<String>,
    path: String,
    display: String,
    trips: AtomicU64,
}

fn fatal(msg: impl Into<String>) -> AttemptError {
    AttemptError::fatal(msg)
}

/// `NotFound` on a delete means the thing is already gone.
fn gone_ok<T>(r: Result<T, AwsError>) -> Result<(), AwsError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

impl<'a> Op<'a> {
    async fn new(
        px: &'a AwsProxy,
        region: Option<&str>,
        system: Option<String>,
        path: String,
        display: String,
    ) -> Result<Op<'a>, AttemptError> {
        let region = px.region_name(region).await?;
        let rc = px.region_cx(&region).await;
        Ok(Op {
            px,
            rc,
            system,
            path,
            display,
            trips: AtomicU64::new(0),
        })
    }

    async fn for_provision(
        px: &'a AwsProxy,
        cx: &ProvisionCx,
        region: Option<&str>,
    ) -> Result<Op<'a>, AttemptError> {
        px.learn_system(cx.system());
        Op::new(
            px,
            region,
            Some(cx.system().to_owned()),
            cx.path(),
            cx.display_name(),
        )
        .await
    }

    async fn for_teardown(px: &'a AwsProxy, rec: &Provisioned) -> Result<Op<'a>, AttemptError> {
        let region = rec.outputs.get("region").map(String::as_str);
        Op::new(
            px,
            region,
            // The state says which system a resource belongs to; a proxy configured with
            // `.system(..)` or one that provisioned it in this process knows it too.
            Some(rec.scope.system.clone())
                .filter(|s| !s.is_empty())
                .or_else(|| px.known_system()),
            rec.key.clone(),
            rec.key.clone(),
        )
        .await
    }

    fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.rc.caller.ec2
    }

    fn region(&self) -> &str {
        &self.rc.name
    }

    /// One EC2 call, counted.
    async fn call<T, E, F>(&self, api: Api, op: &'static str, fut: F) -> Result<T, AwsError>
    where
        F: Future<
            Output = Result<
                T,
                aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>,
            >,
        >,
        E: aws_sdk_ec2::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.rc.caller.call(api, op, fut).await
    }

    async fn retry<T, F, Fut>(&self, policy: Policy, what: &str, f: F) -> Result<T, AttemptError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        super::api::retry(&self.px.retry, &self.px.stats, policy, what, f)
            .await
            .map_err(|mut e| {
                e.message = format!("{} in {}", e.message, self.region());
                e
            })
    }

    fn tags(&self) -> Vec<Tag> {
        let mut v = vec![
            Tag::builder().key("Name").value(&self.display).build(),
            Tag::builder().key(PATH_TAG).value(&self.path).build(),
        ];
        if let Some(s) = &self.system {
            v.push(Tag::builder().key(SYSTEM_TAG).value(s).build());
        }
        v
    }

    fn tag_spec(&self, rt: ResourceType) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(rt)
            .set_tags(Some(self.tags()))
            .build()
    }

    /// This resource as found by its tags (one try; batched with concurrent look-ups).
    async fn lookup(&self, kind: Kind) -> Result<Option<Found>, AwsError> {
        let Some(system) = &self.system else {
            return Err(AwsError::local(
                "find",
                format!(
                    "{} was interrupted before its id was recorded, and this proxy does not know \
                     the system name to find it by; give the proxy `.system(\"…\")`, or run `up` \
                     again, then `down`",
                    self.path
                ),
            ));
        };
        self.trips.fetch_add(1, Ordering::Relaxed);
        self.rc.finder(kind, system).get(self.path.clone()).await
    }

    /// This resource as found by its tags, retried through throttling.
    async fn find(&self, kind: Kind) -> Result<Option<Found>, AttemptError> {
        self.retry(Policy::Basic, &format!("find {} by tag", self.path), || {
            self.lookup(kind)
        })
        .await
    }

    /// Finds the resource by tag, else creates it; after an ambiguous failure (a timeout, a 5xx)
    /// it looks again before creating again.
    async fn find_or_create<F, Fut>(
        &self,
        kind: Kind,
        policy: Policy,
        create: F,
    ) -> Result<(Found, bool), AttemptError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Found, AwsError>>,
    {
        self.retry(policy, &format!("create {}", self.path), || async {
            if let Some(f) = self.lookup(kind).await? {
                return Ok((f, false));
            }
            create().await.map(|f| (f, true))
        })
        .await
    }

    fn outputs(&self, pairs: impl IntoIterator<Item = (&'static str, String)>) -> Outputs {
        let mut o: Outputs = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        o.insert("region".into(), self.region().to_owned());
        o
    }

    fn finish(&self) {
        self.px
            .stats
            .trips(&self.path, self.trips.load(Ordering::Relaxed));
    }
}

/// The id output of a component this one depends on, checked to be in the same region.
fn parent_id(cx: &ProvisionCx, r: &impl Located, region: &str) -> Result<String, AttemptError> {
    let id = cx.output_of(r, "id")?;
    if let Ok(theirs) = cx.output_of(r, "region")
        && theirs != region
    {
        return Err(fatal(format!(
            "{} is in {region}, but it refers to a resource in {theirs}",
            cx.path()
        )));
    }
    Ok(id)
}

fn missing(what: &str) -> AwsError {
    AwsError::local("create", format!("EC2 returned no {what}"))
}

fn s(o: Option<&str>) -> String {
    o.unwrap_or_default().to_owned()
}

// ------------------------------------------------------------------------------------------------
// Dispatch

pub(super) async fn provision(px: &AwsProxy, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
    if let Ok(r) = cx.resource::<Vpc>() {
        return vpc(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<Subnet>() {
        return subnet(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<InternetGateway>() {
        return igw(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<RouteTable>() {
        return route_table(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<Route>() {
        return route(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<SecurityGroup>() {
        return security_group(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<SecurityGroupRule>() {
        return rule(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<KeyPair>() {
        return key_pair(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<NetworkInterface>() {
        return eni(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<PublicIp>() {
        return public_ip(px, cx, r).await;
    }
    if let Ok(r) = cx.resource::<Instance>() {
        return instance(px, cx, r).await;
    }
    Err(fatal(format!("{} is not an AWS resource", cx.path())))
}

pub(super) async fn deprovision(px: &AwsProxy, rec: &Provisioned) -> Result<(), AttemptError> {
    let op = Op::for_teardown(px, rec).await?;
    let r = match rec.kind.as_str() {
        "aws.Vpc" => del_vpc(&op, rec).await,
        "aws.Subnet" => del_subnet(&op, rec).await,
        "aws.InternetGateway" => del_igw(&op, rec).await,
        "aws.RouteTable" => del_route_table(&op, rec).await,
        "aws.Route" => del_route(&op, rec).await,
        "aws.SecurityGroup" => del_security_group(&op, rec).await,
        "aws.SecurityGroupRule" => del_rule(&op, rec).await,
        "aws.KeyPair" => del_key_pair(&op, rec).await,
        "aws.NetworkInterface" => del_eni(&op, rec).await,
        "aws.PublicIp" => del_public_ip(&op, rec).await,
        "aws.Instance" => del_instance(&op, rec).await,
        k => Err(fatal(format!(
            "{}: kind `{k}` is not an AWS resource",
            rec.key
        ))),
    };
    op.finish();
    r
}

/// Whether the recorded resource still exists: found by its tags. (Outputs are as recorded.)
pub(super) async fn read(px: &AwsProxy, rec: &Provisioned) -> Result<Observed, AttemptError> {
    let kind = match rec.kind.as_str() {
        "aws.Vpc" => Kind::Vpc,
        "aws.Subnet" => Kind::Subnet,
        "aws.InternetGateway" => Kind::Igw,
        "aws.RouteTable" => Kind::Rtb,
        "aws.SecurityGroup" => Kind::Sg,
        "aws.SecurityGroupRule" => Kind::Rule,
        "aws.KeyPair" => Kind::Key,
        "aws.NetworkInterface" => Kind::Eni,
        "aws.PublicIp" => Kind::Eip,
        "aws.Instance" => Kind::Instance,
        // A route has no tags of its own: it exists while its table does.
        _ => return Ok(Observed::Exists(rec.outputs.clone())),
    };
    let op = Op::for_teardown(px, rec).await?;
    let found = op.find(kind).await;
    op.finish();
    Ok(match found? {
        Some(_) => Observed::Exists(rec.outputs.clone()),
        None => Observed::Gone,
    })
}

/// The recorded id, or (an interrupted create) the id of what carries this resource's tags.
async fn recorded_or_found(
    op: &Op<'_>,
    rec: &Provisioned,
    out: &str,
    kind: Kind,
    id_of: impl Fn(&Found) -> Option<String>,
) -> Result<Option<String>, AttemptError> {
    if let Some(id) = rec.outputs.get(out).filter(|v| !v.is_empty()) {
        return Ok(Some(id.clone()));
    }
    // No id recorded: the create was cut short (a crash between the intent and its answer). The
    // request may still be in flight at the cloud and complete after the crashed process died, so
    // one empty lookup is not proof it was never made: look again a few times before giving up.
    for pause in IN_FLIGHT_GRACE {
        tokio::time::sleep(pause).await;
        if let Some(id) = op.find(kind).await?.as_ref().and_then(&id_of) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// Pauses before each look for a resource whose create was cut short (1.75 s in all).
const IN_FLIGHT_GRACE: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

// ------------------------------------------------------------------------------------------------
// VPC, subnet, internet gateway

async fn vpc(px: &AwsProxy, cx: &ProvisionCx, v: Vpc) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let (found, _) = op
        .find_or_create(Kind::Vpc, Policy::Basic, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateVpc",
                    op.ec2()
                        .create_vpc()
                        .cidr_block(&v.cidr_block)
                        .amazon_provided_ipv6_cidr_block(v.amazon_provided_ipv6_cidr_block)
                        .instance_tenancy(Tenancy::from(v.instance_tenancy.as_str()))
                        .tag_specifications(op.tag_spec(ResourceType::Vpc))
                        .send(),
                )
                .await?;
            r.vpc()
                .cloned()
                .map(Found::Vpc)
                .ok_or_else(|| missing("VPC"))
        })
        .await?;
    let Found::Vpc(vpc) = found else {
        unreachable!("a VPC finder finds VPCs")
    };
    op.finish();
    Ok(op.outputs([("id", s(vpc.vpc_id())), ("cidr", s(vpc.cidr_block()))]))
}

async fn del_vpc(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let id = recorded_or_found(op, rec, "id", Kind::Vpc, |f| match f {
        Found::Vpc(v) => v.vpc_id().map(str::to_owned),
        _ => None,
    })
    .await?;
    let Some(id) = id else { return Ok(()) };
    op.retry(Policy::Wiring, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteVpc",
                op.ec2().delete_vpc().vpc_id(&id).send(),
            )
            .await,
        )
    })
    .await
}

async fn subnet(px: &AwsProxy, cx: &ProvisionCx, v: Subnet) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let vpc_id = parent_id(cx, &v.vpc, op.region())?;
    let (found, _) = op
        .find_or_create(Kind::Subnet, Policy::AfterCreate, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateSubnet",
                    op.ec2()
                        .create_subnet()
                        .vpc_id(&vpc_id)
                        .cidr_block(&v.cidr_block)
                        .set_availability_zone(v.availability_zone.clone())
                        .set_ipv6_cidr_block(v.ipv6_cidr_block.clone())
                        .tag_specifications(op.tag_spec(ResourceType::Subnet))
                        .send(),
                )
                .await?;
            r.subnet()
                .cloned()
                .map(Found::Subnet)
                .ok_or_else(|| missing("subnet"))
        })
        .await?;
    let Found::Subnet(sn) = found else {
        unreachable!("a subnet finder finds subnets")
    };
    let id = s(sn.subnet_id());
    if v.map_public_ip_on_launch && sn.map_public_ip_on_launch() != Some(true) {
        op.retry(
            Policy::AfterCreate,
            &format!("map public IPs in {}", op.path),
            || {
                op.call(
                    Api::Mutating,
                    "ModifySubnetAttribute",
                    op.ec2()
                        .modify_subnet_attribute()
                        .subnet_id(&id)
                        .map_public_ip_on_launch(
                            AttributeBooleanValue::builder().value(true).build(),
                        )
                        .send(),
                )
            },
        )
        .await?;
    }
    op.finish();
    Ok(op.outputs([
        ("id", id),
        ("vpc_id", vpc_id),
        ("availability_zone", s(sn.availability_zone())),
    ]))
}

async fn del_subnet(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let id = recorded_or_found(op, rec, "id", Kind::Subnet, |f| match f {
        Found::Subnet(v) => v.subnet_id().map(str::to_owned),
        _ => None,
    })
    .await?;
    let Some(id) = id else { return Ok(()) };
    op.retry(Policy::Wiring, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteSubnet",
                op.ec2().delete_subnet().subnet_id(&id).send(),
            )
            .await,
        )
    })
    .await
}

async fn igw(px: &AwsProxy, cx: &ProvisionCx, v: InternetGateway) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let vpc_id = parent_id(cx, &v.vpc, op.region())?;
    let (found, _) = op
        .find_or_create(Kind::Igw, Policy::Basic, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateInternetGateway",
                    op.ec2()
                        .create_internet_gateway()
                        .tag_specifications(op.tag_spec(ResourceType::InternetGateway))
                        .send(),
                )
                .await?;
            r.internet_gateway()
                .cloned()
                .map(Found::Igw)
                .ok_or_else(|| missing("internet gateway"))
        })
        .await?;
    let Found::Igw(g) = found else {
        unreachable!("an IGW finder finds IGWs")
    };
    let id = s(g.internet_gateway_id());
    let attached: Vec<&str> = g.attachments().iter().filter_map(|a| a.vpc_id()).collect();
    if let Some(other) = attached.iter().find(|a| **a != vpc_id) {
        return Err(fatal(format!(
            "{}: internet gateway {id} is attached to {other}, not {vpc_id}",
            op.path
        )));
    }
    if attached.is_empty() {
        op.retry(Policy::Wiring, &format!("attach {}", op.path), || async {
            match op
                .call(
                    Api::Mutating,
                    "AttachInternetGateway",
                    op.ec2()
                        .attach_internet_gateway()
                        .internet_gateway_id(&id)
                        .vpc_id(&vpc_id)
                        .send(),
                )
                .await
            {
                Err(e) if e.is("Resource.AlreadyAssociated") => Ok(()),
                r => r.map(|_| ()),
            }
        })
        .await?;
    }
    op.finish();
    Ok(op.outputs([("id", id), ("vpc_id", vpc_id)]))
}

async fn del_igw(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let (id, vpcs) = match rec.outputs.get("id").filter(|v| !v.is_empty()) {
        Some(id) => (
            id.clone(),
            rec.outputs.get("vpc_id").cloned().into_iter().collect(),
        ),
        None => match op.find(Kind::Igw).await? {
            Some(Found::Igw(g)) => (
                s(g.internet_gateway_id()),
                g.attachments()
                    .iter()
                    .filter_map(|a| a.vpc_id().map(str::to_owned))
                    .collect::<Vec<_>>(),
            ),
            _ => return Ok(()),
        },
    };
    for vpc in vpcs {
        // DependencyViolation while the VPC still has public addresses mapped: retried.
        op.retry(Policy::Wiring, &format!("detach {}", rec.key), || async {
            match op
                .call(
                    Api::Mutating,
                    "DetachInternetGateway",
                    op.ec2()
                        .detach_internet_gateway()
                        .internet_gateway_id(&id)
                        .vpc_id(&vpc)
                        .send(),
                )
                .await
            {
                Err(e) if e.is("Gateway.NotAttached") || e.is_not_found() => Ok(()),
                r => r.map(|_| ()),
            }
        })
        .await?;
    }
    op.retry(Policy::Wiring, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteInternetGateway",
                op.ec2()
                    .delete_internet_gateway()
                    .internet_gateway_id(&id)
                    .send(),
            )
            .await,
        )
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Route tables and routes

async fn route_table(
    px: &AwsProxy,
    cx: &ProvisionCx,
    v: RouteTable,
) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let vpc_id = parent_id(cx, &v.vpc, op.region())?;
    let subnets = v
        .subnets
        .iter()
        .map(|s| parent_id(cx, s, op.region()))
        .collect::<Result<Vec<_>, _>>()?;
    let token = px.client_token(op.region(), &op.path);
    let (found, _) = op
        .find_or_create(Kind::Rtb, Policy::AfterCreate, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateRouteTable",
                    op.ec2()
                        .create_route_table()
                        .vpc_id(&vpc_id)
                        .client_token(&token)
                        .tag_specifications(op.tag_spec(ResourceType::RouteTable))
                        .send(),
                )
                .await?;
            r.route_table()
                .cloned()
                .map(Found::Rtb)
                .ok_or_else(|| missing("route table"))
        })
        .await?;
    let Found::Rtb(rt) = found else {
        unreachable!("a route-table finder finds route tables")
    };
    let id = s(rt.route_table_id());
    let mut assocs: Vec<String> = Vec::new();
    for sn in &subnets {
        if let Some(a) = rt
            .associations()
            .iter()
            .find(|a| a.subnet_id() == Some(sn.as_str()))
        {
            assocs.push(s(a.route_table_association_id()));
            continue;
        }
        let a = op
            .retry(
                Policy::Wiring,
                &format!("associate {} with {sn}", op.path),
                || async {
                    match op
                        .call(
                            Api::Mutating,
                            "AssociateRouteTable",
                            op.ec2()
                                .associate_route_table()
                                .route_table_id(&id)
                                .subnet_id(sn)
                                .send(),
                        )
                        .await
                    {
                        Ok(r) => Ok(s(r.association_id())),
                        // Already associated (an earlier answer was lost): with this table?
                        Err(e) if e.is("Resource.AlreadyAssociated") => {
                            let r = op
                                .call(
                                    Api::Describe,
                                    "DescribeRouteTables",
                                    op.ec2().describe_route_tables().route_table_ids(&id).send(),
                                )
                                .await?;
                            r.route_tables()
                                .iter()
                                .flat_map(|t| t.associations())
                                .find(|a| a.subnet_id() == Some(sn.as_str()))
                                .map(|a| s(a.route_table_association_id()))
                                .ok_or(e)
                        }
                        Err(e) => Err(e),
                    }
                },
            )
            .await?;
        assocs.push(a);
    }
    op.finish();
    Ok(op.outputs([("id", id), ("associations", assocs.join(","))]))
}

async fn del_route_table(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let (id, assocs) = match rec.outputs.get("id").filter(|v| !v.is_empty()) {
        Some(id) => (
            id.clone(),
            rec.outputs
                .get("associations")
                .map(|a| {
                    a.split(',')
                        .filter(|x| !x.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        ),
        None => match op.find(Kind::Rtb).await? {
            Some(Found::Rtb(r)) => (
                s(r.route_table_id()),
                r.associations()
                    .iter()
                    .filter(|a| a.main() != Some(true))
                    .filter_map(|a| a.route_table_association_id().map(str::to_owned))
                    .collect::<Vec<_>>(),
            ),
            _ => return Ok(()),
        },
    };
    for a in assocs {
        op.retry(
            Policy::Basic,
            &format!("disassociate {}", rec.key),
            || async {
                gone_ok(
                    op.call(
                        Api::Mutating,
                        "DisassociateRouteTable",
                        op.ec2()
                            .disassociate_route_table()
                            .association_id(&a)
                            .send(),
                    )
                    .await,
                )
            },
        )
        .await?;
    }
    op.retry(Policy::Wiring, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteRouteTable",
                op.ec2().delete_route_table().route_table_id(&id).send(),
            )
            .await,
        )
    })
    .await
}

/// The create-route call's target fields, resolved.
#[derive(Default, PartialEq, Debug)]
struct Target {
    gateway: Option<String>,
    egress_only: Option<String>,
    instance: Option<String>,
    nat: Option<String>,
    eni: Option<String>,
    peering: Option<String>,
}

impl Target {
    fn of(r: &t::Route) -> Self {
        let o = |x: Option<&str>| x.map(str::to_owned);
        Target {
            gateway: o(r.gateway_id()),
            egress_only: o(r.egress_only_internet_gateway_id()),
            instance: o(r.instance_id()),
            nat: o(r.nat_gateway_id()),
            eni: o(r.network_interface_id()),
            peering: o(r.vpc_peering_connection_id()),
        }
    }
    /// Whether an existing route's target is this one (a NAT-instance route also names its
    /// interface, so only the field that was asked for is compared).
    fn matches(&self, other: &Target) -> bool {
        let same = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
        same(&self.gateway, &other.gateway)
            && same(&self.egress_only, &other.egress_only)
            && same(&self.instance, &other.instance)
            && same(&self.nat, &other.nat)
            && same(&self.eni, &other.eni)
            && same(&self.peering, &other.peering)
    }
}

async fn route(px: &AwsProxy, cx: &ProvisionCx, v: Route) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let rtb = parent_id(cx, &v.route_table, op.region())?;
    let mut want = Target::default();
    match &v.target {
        None => {
            return Err(fatal(format!(
                "{}: a route needs a target (.gateway(…), .nat_gateway(…), …)",
                op.path
            )));
        }
        Some(RouteTarget::Gateway(r)) => want.gateway = Some(parent_id(cx, r, op.region())?),
        Some(RouteTarget::EgressOnlyGateway(x)) => want.egress_only = Some(cx.resolve(x)?),
        Some(RouteTarget::NatInstance(r)) => want.instance = Some(parent_id(cx, r, op.region())?),
        Some(RouteTarget::NatGateway(x)) => want.nat = Some(cx.resolve(x)?),
        Some(RouteTarget::NetworkInterface(r)) => want.eni = Some(parent_id(cx, r, op.region())?),
        Some(RouteTarget::PeeringConnection(x)) => want.peering = Some(cx.resolve(x)?),
    }
    let v6 = v.destination.contains(':');
    op.retry(Policy::Wiring, &format!("create {}", op.path), || async {
        let mut b = op.ec2().create_route().route_table_id(&rtb);
        b = if v6 {
            b.destination_ipv6_cidr_block(&v.destination)
        } else {
            b.destination_cidr_block(&v.destination)
        };
        let b = b
            .set_gateway_id(want.gateway.clone())
            .set_egress_only_internet_gateway_id(want.egress_only.clone())
            .set_instance_id(want.instance.clone())
            .set_nat_gateway_id(want.nat.clone())
            .set_network_interface_id(want.eni.clone())
            .set_vpc_peering_connection_id(want.peering.clone());
        match op.call(Api::Mutating, "CreateRoute", b.send()).await {
            Ok(_) => Ok(()),
            Err(e) if e.is("RouteAlreadyExists") => {
                let r = op
                    .call(
                        Api::Describe,
                        "DescribeRouteTables",
                        op.ec2()
                            .describe_route_tables()
                            .route_table_ids(&rtb)
                            .send(),
                    )
                    .await?;
                let existing = r
                    .route_tables()
                    .iter()
                    .flat_map(|t| t.routes())
                    .find(|r| {
                        r.destination_cidr_block() == Some(v.destination.as_str())
                            || r.destination_ipv6_cidr_block() == Some(v.destination.as_str())
                    })
                    .map(Target::of);
                match existing {
                    Some(t) if want.matches(&t) => Ok(()),
                    _ => Err(AwsError::local(
                        "CreateRoute",
                        format!(
                            "route table {rtb} already routes {} elsewhere",
                            v.destination
                        ),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    })
    .await?;
    op.finish();
    Ok(op.outputs([
        ("route_table_id", rtb.clone()),
        ("destination", v.destination.clone()),
    ]))
}

async fn del_route(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    // An unrecorded route goes with its route table.
    let (Some(rtb), Some(dest)) = (
        rec.outputs.get("route_table_id"),
        rec.outputs.get("destination"),
    ) else {
        return Ok(());
    };
    op.retry(Policy::Basic, &format!("delete {}", rec.key), || async {
        let b = op.ec2().delete_route().route_table_id(rtb);
        let b = if dest.contains(':') {
            b.destination_ipv6_cidr_block(dest)
        } else {
            b.destination_cidr_block(dest)
        };
        gone_ok(op.call(Api::Mutating, "DeleteRoute", b.send()).await)
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Security groups and rules

async fn security_group(
    px: &AwsProxy,
    cx: &ProvisionCx,
    v: SecurityGroup,
) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let vpc_id = parent_id(cx, &v.vpc, op.region())?;
    let description = if v.description.is_empty() {
        format!("{} (actuator)", op.display)
    } else {
        v.description.clone()
    };
    let (found, _) = op
        .find_or_create(Kind::Sg, Policy::AfterCreate, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateSecurityGroup",
                    op.ec2()
                        .create_security_group()
                        .group_name(&op.display)
                        .description(&description)
                        .vpc_id(&vpc_id)
                        .tag_specifications(op.tag_spec(ResourceType::SecurityGroup))
                        .send(),
                )
                .await;
            match r {
                Ok(r) => Ok(Found::Sg(
                    t::SecurityGroup::builder()
                        .set_group_id(r.group_id().map(str::to_owned))
                        .build(),
                )),
                Err(e) if e.is("InvalidGroup.Duplicate") => Err(AwsError::local(
                    "CreateSecurityGroup",
                    format!(
                        "a security group named `{}` already exists in {vpc_id}, not created by \
                         this system",
                        op.display
                    ),
                )),
                Err(e) => Err(e),
            }
        })
        .await?;
    let Found::Sg(sg) = found else {
        unreachable!("a security-group finder finds security groups")
    };
    op.finish();
    Ok(op.outputs([("id", s(sg.group_id()))]))
}

async fn del_security_group(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let id = recorded_or_found(op, rec, "id", Kind::Sg, |f| match f {
        Found::Sg(v) => v.group_id().map(str::to_owned),
        _ => None,
    })
    .await?;
    let Some(id) = id else { return Ok(()) };
    // DependencyViolation while interfaces of terminated instances still hold it: retried.
    op.retry(Policy::Wiring, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteSecurityGroup",
                op.ec2().delete_security_group().group_id(&id).send(),
            )
            .await,
        )
    })
    .await
}

fn permission(protocol: &str, from: i32, to: i32, cidr: &str) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(from)
        .to_port(to);
    if cidr.contains(':') {
        b.ipv6_ranges(Ipv6Range::builder().cidr_ipv6(cidr).build())
            .build()
    } else {
        b.ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build()
    }
}

async fn rule(
    px: &AwsProxy,
    cx: &ProvisionCx,
    v: SecurityGroupRule,
) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let group = parent_id(cx, &v.security_group, op.region())?;
    let perm = permission(&v.ip_protocol, v.from_port, v.to_port, &v.cidrip);
    let egress = v.kind == RuleKind::Egress;
    let (found, _) = op
        .find_or_create(Kind::Rule, Policy::AfterCreate, || async {
            let ts = op.tag_spec(ResourceType::SecurityGroupRule);
            let r = if egress {
                op.call(
                    Api::Mutating,
                    "AuthorizeSecurityGroupEgress",
                    op.ec2()
                        .authorize_security_group_egress()
                        .group_id(&group)
                        .ip_permissions(perm.clone())
                        .tag_specifications(ts)
                        .send(),
                )
                .await
                .map(|r| r.security_group_rules().first().cloned())
            } else {
                op.call(
                    Api::Mutating,
                    "AuthorizeSecurityGroupIngress",
                    op.ec2()
                        .authorize_security_group_ingress()
                        .group_id(&group)
                        .ip_permissions(perm.clone())
                        .tag_specifications(ts)
                        .send(),
                )
                .await
                .map(|r| r.security_group_rules().first().cloned())
            };
            match r {
                Ok(rule) => Ok(Found::Rule(rule.unwrap_or_else(|| {
                    t::SecurityGroupRule::builder().group_id(&group).build()
                }))),
                // The same rule is already there but not ours (the group's default egress rule,
                // or one added by hand): use it and leave it on teardown.
                Err(e) if e.is("InvalidPermission.Duplicate") => Ok(Found::Rule(
                    t::SecurityGroupRule::builder()
                        .group_id(&group)
                        .description("pre-existing")
                        .build(),
                )),
                Err(e) => Err(e),
            }
        })
        .await?;
    let Found::Rule(r) = found else {
        unreachable!("a rule finder finds rules")
    };
    let retain = r.description() == Some("pre-existing");
    op.finish();
    Ok(op.outputs([
        ("group_id", group.clone()),
        ("rule_id", s(r.security_group_rule_id())),
        ("kind", if egress { "egress" } else { "ingress" }.to_owned()),
        ("protocol", v.ip_protocol.clone()),
        ("from_port", v.from_port.to_string()),
        ("to_port", v.to_port.to_string()),
        ("cidr", v.cidrip.clone()),
        ("retain", retain.to_string()),
    ]))
}

async fn del_rule(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let o = &rec.outputs;
    if o.get("retain").map(String::as_str) == Some("true") {
        return Ok(());
    }
    let spec = match (
        o.get("group_id"),
        o.get("kind"),
        o.get("protocol"),
        o.get("cidr"),
    ) {
        (Some(g), Some(k), Some(p), Some(c)) => {
            let port = |k: &str| o.get(k).and_then(|v| v.parse().ok()).unwrap_or(-1);
            Some((
                g.clone(),
                k == "egress",
                permission(p, port("from_port"), port("to_port"), c),
            ))
        }
        _ => match op.find(Kind::Rule).await? {
            Some(Found::Rule(r)) => Some((
                s(r.group_id()),
                r.is_egress() == Some(true),
                permission(
                    r.ip_protocol().unwrap_or("-1"),
                    r.from_port().unwrap_or(-1),
                    r.to_port().unwrap_or(-1),
                    r.cidr_ipv4().or(r.cidr_ipv6()).unwrap_or("0.0.0.0/0"),
                ),
            )),
            _ => None,
        },
    };
    let Some((group, egress, perm)) = spec else {
        return Ok(());
    };
    op.retry(Policy::Basic, &format!("revoke {}", rec.key), || async {
        let r = if egress {
            op.call(
                Api::Mutating,
                "RevokeSecurityGroupEgress",
                op.ec2()
                    .revoke_security_group_egress()
                    .group_id(&group)
                    .ip_permissions(perm.clone())
                    .send(),
            )
            .await
            .map(|_| ())
        } else {
            op.call(
                Api::Mutating,
                "RevokeSecurityGroupIngress",
                op.ec2()
                    .revoke_security_group_ingress()
                    .group_id(&group)
                    .ip_permissions(perm.clone())
                    .send(),
            )
            .await
            .map(|_| ())
        };
        gone_ok(r)
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Key pairs

/// Writes private key material to `path`, mode 0600, atomically (a temp file renamed over it).
fn write_private_key(path: &Path, material: &Secret) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir)?;
    let mut f = tempfile::Builder::new()
        .prefix(".actuator-key")
        .tempfile_in(&dir)?;
    f.write_all(material.expose().as_bytes())?;
    f.as_file().sync_all()?;
    f.persist(path).map_err(|e| e.error)?;
    Ok(())
}

async fn key_pair(px: &AwsProxy, cx: &ProvisionCx, v: KeyPair) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let public = match &v.public_key_file {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            fatal(format!(
                "{}: cannot read public key file {}: {e}",
                op.path,
                p.display()
            ))
        })?),
        None => None,
    };
    // EC2 hands out a created pair's private key once. A pair of ours whose private key was lost
    // (a crash or a lost answer between the create and writing the key) is useless, and nothing
    // uses it yet (instances are created after it is recorded): it is deleted and made again.
    let lost = || {
        public.is_none()
            && v.private_key_file.as_ref().is_some_and(|f| {
                !f.exists()
                    && match px.private_key(&op.path) {
                        Some(k) => write_private_key(f, &k).is_err(),
                        None => true,
                    }
            })
    };
    let op = &op;
    let delete = |name: String| async move {
        tracing::warn!(path = %op.path, "re-creating a key pair whose private key was lost");
        op.retry(Policy::Basic, &format!("delete {}", op.path), || async {
            gone_ok(
                op.call(
                    Api::Mutating,
                    "DeleteKeyPair",
                    op.ec2().delete_key_pair().key_name(&name).send(),
                )
                .await,
            )
        })
        .await
    };
    for _ in 0..3 {
        // Ours from an interrupted run?
        if let Some(Found::Key(k)) = op.find(Kind::Key).await? {
            if !lost() {
                op.finish();
                return Ok(key_outputs(op, &k, v.retain_on_reverse));
            }
            delete(s(k.key_name())).await?;
        }
        let name = if v.ensure_unique {
            format!("{}-{:08x}", op.display, rand::random::<u32>())
        } else {
            op.display.clone()
        };
        if !v.ensure_unique {
            let existing = op
                .retry(
                    Policy::Basic,
                    &format!("look up key pair {name}"),
                    || async {
                        match op
                            .call(
                                Api::Describe,
                                "DescribeKeyPairs",
                                op.ec2().describe_key_pairs().key_names(&name).send(),
                            )
                            .await
                        {
                            Ok(r) => Ok(r.key_pairs().first().cloned()),
                            Err(e) if e.is_not_found() => Ok(None),
                            Err(e) => Err(e),
                        }
                    },
                )
                .await?;
            if let Some(k) = existing {
                if public.is_some() {
                    return Err(fatal(format!(
                        "{}: key pair `{name}` already exists in {}; drop public_key_file to \
                         reuse it, or set ensure_unique",
                        op.path,
                        op.region()
                    )));
                }
                op.finish();
                // Not this system's: reused, and kept on teardown.
                return Ok(key_outputs(op, &k, true));
            }
        }
        let mut ts = op.tag_spec(ResourceType::KeyPair);
        if v.retain_on_reverse {
            // So that a `down` after a crash, with nothing recorded, keeps it too.
            ts = TagSpecification::builder()
                .resource_type(ResourceType::KeyPair)
                .set_tags(Some(op.tags()))
                .tags(Tag::builder().key(RETAIN_TAG).value("true").build())
                .build();
        }
        let (found, created) = op
            .find_or_create(Kind::Key, Policy::Basic, || async {
                let info = |name: Option<&str>, id: Option<&str>, fp: Option<&str>| {
                    Found::Key(
                        t::KeyPairInfo::builder()
                            .set_key_name(name.map(str::to_owned))
                            .set_key_pair_id(id.map(str::to_owned))
                            .set_key_fingerprint(fp.map(str::to_owned))
                            .build(),
                    )
                };
                if let Some(material) = &public {
                    let r = op
                        .call(
                            Api::Mutating,
                            "ImportKeyPair",
                            op.ec2()
                                .import_key_pair()
                                .key_name(&name)
                                .public_key_material(Blob::new(material.clone()))
                                .tag_specifications(ts.clone())
                                .send(),
                        )
                        .await?;
                    return Ok(info(r.key_name(), r.key_pair_id(), r.key_fingerprint()));
                }
                let r = op
                    .call(
                        Api::Mutating,
                        "CreateKeyPair",
                        op.ec2()
                            .create_key_pair()
                            .key_name(&name)
                            .set_key_type(v.key_type.as_deref().map(KeyType::from))
                            .tag_specifications(ts.clone())
                            .send(),
                    )
                    .await?;
                if let Some(m) = r.key_material() {
                    let secret = Secret::new(m);
                    if let Some(path) = &v.private_key_file {
                        write_private_key(path, &secret).map_err(|e| {
                            AwsError::local(
                                "CreateKeyPair",
                                format!("cannot write the private key to {}: {e}", path.display()),
                            )
                        })?;
                    }
                    px.keep_private_key(&op.path, secret);
                }
                Ok(info(r.key_name(), r.key_pair_id(), r.key_fingerprint()))
            })
            .await?;
        let Found::Key(k) = found else {
            unreachable!("a key-pair finder finds key pairs")
        };
        if created || !lost() {
            op.finish();
            return Ok(key_outputs(op, &k, v.retain_on_reverse));
        }
        // The answer with the private key was lost: found by its tag, unusable.
        delete(s(k.key_name())).await?;
    }
    Err(fatal(format!(
        "{}: could not create a key pair and keep its private key in 3 attempts",
        op.path
    )))
}

fn key_outputs(op: &Op<'_>, k: &t::KeyPairInfo, retain: bool) -> Outputs {
    op.outputs([
        ("key_name", s(k.key_name())),
        ("id", s(k.key_pair_id())),
        ("fingerprint", s(k.key_fingerprint())),
        ("retain", retain.to_string()),
    ])
}

async fn del_key_pair(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    if rec.outputs.get("retain").map(String::as_str) == Some("true") {
        return Ok(());
    }
    // By name: EC2 (and moto, silently) ignores a delete by id alone in places.
    let name = recorded_or_found(op, rec, "key_name", Kind::Key, |f| match f {
        Found::Key(k) if super::find::tag(k.tags(), RETAIN_TAG) != Some("true") => {
            k.key_name().map(str::to_owned)
        }
        _ => None,
    })
    .await?;
    let Some(name) = name else { return Ok(()) };
    op.retry(Policy::Basic, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteKeyPair",
                op.ec2().delete_key_pair().key_name(&name).send(),
            )
            .await,
        )
    })
    .await?;
    op.px.forget_private_key(&rec.key);
    Ok(())
}

// ------------------------------------------------------------------------------------------------
// Network interfaces and Elastic IPs

async fn eni(
    px: &AwsProxy,
    cx: &ProvisionCx,
    v: NetworkInterface,
) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let subnet = parent_id(cx, &v.subnet, op.region())?;
    let groups = v
        .sec_groups
        .iter()
        .map(|g| parent_id(cx, g, op.region()))
        .collect::<Result<Vec<_>, _>>()?;
    let primary = v
        .private_ip_address
        .as_ref()
        .map(|x| cx.resolve(x))
        .transpose()?;
    let secondary = v
        .private_ip_addresses
        .iter()
        .map(|x| cx.resolve(x))
        .collect::<Result<Vec<_>, _>>()?;
    let token = px.client_token(op.region(), &op.path);
    let (found, _) = op
        .find_or_create(Kind::Eni, Policy::AfterCreate, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateNetworkInterface",
                    op.ec2()
                        .create_network_interface()
                        .subnet_id(&subnet)
                        .description(&v.description)
                        .set_groups((!groups.is_empty()).then(|| groups.clone()))
                        .set_private_ip_address(primary.clone())
                        .set_private_ip_addresses((!secondary.is_empty()).then(|| {
                            secondary
                                .iter()
                                .map(|ip| {
                                    PrivateIpAddressSpecification::builder()
                                        .private_ip_address(ip)
                                        .primary(false)
                                        .build()
                                })
                                .collect()
                        }))
                        .client_token(&token)
                        .tag_specifications(op.tag_spec(ResourceType::NetworkInterface))
                        .send(),
                )
                .await?;
            r.network_interface()
                .cloned()
                .map(Found::Eni)
                .ok_or_else(|| missing("network interface"))
        })
        .await?;
    let Found::Eni(n) = found else {
        unreachable!("an ENI finder finds ENIs")
    };
    op.finish();
    Ok(op.outputs([
        ("id", s(n.network_interface_id())),
        ("private_ip", s(n.private_ip_address())),
        ("subnet_id", subnet),
    ]))
}

async fn del_eni(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let id = recorded_or_found(op, rec, "id", Kind::Eni, |f| match f {
        Found::Eni(n) => n.network_interface_id().map(str::to_owned),
        _ => None,
    })
    .await?;
    let Some(id) = id else { return Ok(()) };
    // InvalidNetworkInterface.InUse while a terminated instance lets go of it: retried.
    op.retry(Policy::Wiring, &format!("delete {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "DeleteNetworkInterface",
                op.ec2()
                    .delete_network_interface()
                    .network_interface_id(&id)
                    .send(),
            )
            .await,
        )
    })
    .await
}

async fn public_ip(px: &AwsProxy, cx: &ProvisionCx, v: PublicIp) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    // Where it goes: (instance, interface, private address).
    let (instance, eni, private) = match &v.target {
        IpTarget::Instance(r) => (Some(parent_id(cx, r, op.region())?), None, None),
        IpTarget::NetworkInterface(r) => (None, Some(parent_id(cx, r, op.region())?), None),
        IpTarget::PrivateIp(x) => {
            let ip = cx.resolve(x)?;
            let nis = op
                .retry(
                    Policy::Basic,
                    &format!("find the interface holding {ip}"),
                    || async {
                        op.call(
                            Api::Describe,
                            "DescribeNetworkInterfaces",
                            op.ec2()
                                .describe_network_interfaces()
                                .filters(filter("addresses.private-ip-address", [ip.as_str()]))
                                .send(),
                        )
                        .await
                        .map(|r| r.network_interfaces().to_vec())
                    },
                )
                .await?;
            match nis.as_slice() {
                [one] => (None, Some(s(one.network_interface_id())), Some(ip)),
                [] => {
                    return Err(fatal(format!(
                        "{}: no network interface in {} holds {ip}",
                        op.path,
                        op.region()
                    )));
                }
                _ => {
                    return Err(fatal(format!(
                        "{}: several network interfaces in {} hold {ip}",
                        op.path,
                        op.region()
                    )));
                }
            }
        }
    };
    let retain = v.address.is_some();
    let addr: t::Address = match &v.address {
        Some(ip) => {
            op.retry(Policy::Basic, &format!("look up address {ip}"), || async {
                let r = op
                    .call(
                        Api::Describe,
                        "DescribeAddresses",
                        op.ec2().describe_addresses().public_ips(ip).send(),
                    )
                    .await?;
                r.addresses().first().cloned().ok_or_else(|| {
                    AwsError::local(
                        "DescribeAddresses",
                        format!("{ip} is not allocated to this account"),
                    )
                })
            })
            .await?
        }
        None => {
            let (f, _) = op
                .find_or_create(Kind::Eip, Policy::Basic, || async {
                    let r = op
                        .call(
                            Api::Mutating,
                            "AllocateAddress",
                            op.ec2()
                                .allocate_address()
                                .domain(DomainType::from(v.domain.as_str()))
                                .set_public_ipv4_pool(v.public_ipv4_pool.clone())
                                .tag_specifications(op.tag_spec(ResourceType::ElasticIp))
                                .send(),
                        )
                        .await?;
                    Ok(Found::Eip(
                        t::Address::builder()
                            .set_allocation_id(r.allocation_id().map(str::to_owned))
                            .set_public_ip(r.public_ip().map(str::to_owned))
                            .build(),
                    ))
                })
                .await?;
            let Found::Eip(a) = f else {
                unreachable!("an EIP finder finds addresses")
            };
            a
        }
    };
    let alloc = s(addr.allocation_id());
    let already = addr.association_id().is_some()
        && match (&instance, &eni) {
            (Some(i), _) => addr.instance_id() == Some(i.as_str()),
            (_, Some(n)) => {
                addr.network_interface_id() == Some(n.as_str())
                    && (private.is_none() || addr.private_ip_address() == private.as_deref())
            }
            _ => false,
        };
    let association = if already {
        s(addr.association_id())
    } else {
        // Gateway.NotAttached / IncorrectInstanceState clear once the IGW is attached and the
        // instance is running: retried.
        let r = op
            .retry(Policy::Wiring, &format!("associate {}", op.path), || {
                op.call(
                    Api::Mutating,
                    "AssociateAddress",
                    op.ec2()
                        .associate_address()
                        .allocation_id(&alloc)
                        .set_instance_id(instance.clone())
                        .set_network_interface_id(eni.clone())
                        .set_private_ip_address(private.clone())
                        .send(),
                )
            })
            .await?;
        s(r.association_id())
    };
    op.finish();
    Ok(op.outputs([
        ("ip", s(addr.public_ip())),
        ("allocation_id", alloc),
        ("association_id", association),
        ("retain", retain.to_string()),
    ]))
}

async fn del_public_ip(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let o = &rec.outputs;
    let (alloc, assoc) = match o.get("allocation_id").filter(|v| !v.is_empty()) {
        Some(a) => (
            a.clone(),
            o.get("association_id").cloned().unwrap_or_default(),
        ),
        None => match op.find(Kind::Eip).await? {
            Some(Found::Eip(a)) => (s(a.allocation_id()), s(a.association_id())),
            _ => return Ok(()),
        },
    };
    if !assoc.is_empty() {
        op.retry(
            Policy::Basic,
            &format!("disassociate {}", rec.key),
            || async {
                gone_ok(
                    op.call(
                        Api::Mutating,
                        "DisassociateAddress",
                        op.ec2()
                            .disassociate_address()
                            .association_id(&assoc)
                            .send(),
                    )
                    .await,
                )
            },
        )
        .await?;
    }
    if o.get("retain").map(String::as_str) == Some("true") {
        return Ok(());
    }
    op.retry(Policy::Wiring, &format!("release {}", rec.key), || async {
        gone_ok(
            op.call(
                Api::Mutating,
                "ReleaseAddress",
                op.ec2().release_address().allocation_id(&alloc).send(),
            )
            .await,
        )
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Instances

async fn image_id(op: &Op<'_>, cx: &ProvisionCx, image: &Image) -> Result<String, AttemptError> {
    match image {
        Image::Id(v) => cx.resolve(v),
        Image::Latest { owner, name } => {
            let cell = op.rc.image_cell(owner, name);
            cell.get_or_try_init(|| async {
                let images = op
                    .retry(
                        Policy::Basic,
                        &format!("look up image {owner}/{name}"),
                        || async {
                            op.call(
                                Api::Describe,
                                "DescribeImages",
                                op.ec2()
                                    .describe_images()
                                    .owners(owner)
                                    .filters(filter("name", [name.as_str()]))
                                    .filters(filter("state", ["available"]))
                                    .send(),
                            )
                            .await
                            .map(|r| r.images().to_vec())
                        },
                    )
                    .await?;
                images
                    .iter()
                    .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
                    .and_then(|i| i.image_id().map(str::to_owned))
                    .ok_or_else(|| {
                        fatal(format!(
                            "{}: no image of {owner} named like `{name}` in {}",
                            op.path,
                            op.region()
                        ))
                    })
            })
            .await
            .cloned()
        }
    }
}

async fn instance(px: &AwsProxy, cx: &ProvisionCx, v: Instance) -> Result<Outputs, AttemptError> {
    let op = Op::for_provision(px, cx, v.region.as_deref()).await?;
    let key = v
        .key_pair
        .as_ref()
        .map(|k| cx.output_of(k, "key_name"))
        .transpose()?;
    let groups = v
        .sec_groups
        .iter()
        .map(|g| parent_id(cx, g, op.region()))
        .collect::<Result<Vec<_>, _>>()?;
    let subnet = v
        .subnet
        .as_ref()
        .map(|s| parent_id(cx, s, op.region()))
        .transpose()?;
    let enis = v
        .network_interfaces
        .iter()
        .map(|n| parent_id(cx, n, op.region()))
        .collect::<Result<Vec<_>, _>>()?;
    if !enis.is_empty() && (subnet.is_some() || !groups.is_empty()) {
        return Err(fatal(format!(
            "{}: an instance with interfaces takes its subnet and security groups from them",
            op.path
        )));
    }
    let found = op.find(Kind::Instance).await?;
    let id = match found {
        Some(Found::Instance(i)) => s(i.instance_id()),
        _ => {
            let image = image_id(&op, cx, &v.image).await?;
            let nics: Option<Vec<InstanceNetworkInterfaceSpecification>> = if !enis.is_empty() {
                Some(
                    enis.iter()
                        .enumerate()
                        .map(|(i, id)| {
                            InstanceNetworkInterfaceSpecification::builder()
                                .device_index(i as i32)
                                .network_interface_id(id)
                                .build()
                        })
                        .collect(),
                )
            } else {
                // A primary interface deleted with the instance (moto defaults it to kept when
                // the subnet is given at the top level).
                subnet.as_ref().map(|sn| {
                    vec![
                        InstanceNetworkInterfaceSpecification::builder()
                            .device_index(0)
                            .subnet_id(sn)
                            .set_groups((!groups.is_empty()).then(|| groups.clone()))
                            .delete_on_termination(true)
                            .build(),
                    ]
                })
            };
            let top_groups = (nics.is_none() && !groups.is_empty()).then(|| groups.clone());
            let user_data = v.user_data.as_ref().map(|u| {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(u)
            });
            op.retry(
                Policy::AfterCreate,
                &format!("create {}", op.path),
                || async {
                    if let Some(Found::Instance(i)) = op.lookup(Kind::Instance).await? {
                        return Ok(s(i.instance_id()));
                    }
                    let token = px.client_token(op.region(), &op.path);
                    let r = op
                        .call(
                            Api::RunInstances,
                            "RunInstances",
                            op.ec2()
                                .run_instances()
                                .image_id(&image)
                                .min_count(1)
                                .max_count(1)
                                .set_instance_type(
                                    v.instance_type.as_deref().map(InstanceType::from),
                                )
                                .set_key_name(key.clone())
                                .set_security_group_ids(top_groups.clone())
                                .set_network_interfaces(nics.clone())
                                .set_user_data(user_data.clone())
                                .client_token(&token)
                                .tag_specifications(op.tag_spec(ResourceType::Instance))
                                .tag_specifications(op.tag_spec(ResourceType::Volume))
                                .send(),
                        )
                        .await;
                    match r {
                        Ok(r) => r
                            .instances()
                            .first()
                            .and_then(|i| i.instance_id())
                            .map(str::to_owned)
                            .ok_or_else(|| missing("instance")),
                        // The token belongs to an instance since terminated, or to a launch with
                        // other parameters: take a new one and try again.
                        Err(e)
                            if e.is("IdempotentInstanceTerminated")
                                || e.is("IdempotentParameterMismatch") =>
                        {
                            px.forget_client_token(op.region(), &op.path);
                            Err(AwsError {
                                kind: ErrKind::Transient,
                                ..e
                            })
                        }
                        Err(e) => Err(e),
                    }
                },
            )
            .await?
        }
    };
    let inst = wait_instance(&op, &id, false).await?;
    let Some(inst) = inst else {
        return Err(AttemptError::retryable(format!(
            "{}: instance {id} vanished while starting",
            op.path
        )));
    };
    let private = s(inst.private_ip_address());
    let public = s(inst.public_ip_address());
    op.finish();
    Ok(op.outputs([
        ("id", id),
        (
            "ip",
            if public.is_empty() {
                private.clone()
            } else {
                public.clone()
            },
        ),
        ("private_ip", private),
        ("public_ip", public),
    ]))
}

/// Polls (batched with every other instance being waited on) until `id` is running, or — with
/// `terminated` — until it is terminated or gone. Returns the last description.
async fn wait_instance(
    op: &Op<'_>,
    id: &str,
    terminated: bool,
) -> Result<Option<t::Instance>, AttemptError> {
    let started = Instant::now();
    let mut delay = op.px.poll_interval;
    let mut unseen = 0u32;
    loop {
        let got = op
            .retry(Policy::Basic, &format!("wait for {}", op.path), || async {
                op.trips.fetch_add(1, Ordering::Relaxed);
                op.rc.instances.get(id.to_owned()).await
            })
            .await?;
        let state = got
            .as_ref()
            .and_then(|i| i.state())
            .and_then(|s| s.name())
            .cloned();
        match (terminated, state) {
            (false, Some(InstanceStateName::Running)) => return Ok(got),
            (false, Some(InstanceStateName::Pending)) => {}
            // Not visible yet right after RunInstances (eventual consistency).
            (false, None) => {
                unseen += 1;
                if started.elapsed() > op.px.retry.not_found_deadline {
                    return Ok(None);
                }
            }
            (false, Some(other)) => {
                let why = got
                    .as_ref()
                    .and_then(|i| i.state_reason())
                    .and_then(|r| r.message())
                    .unwrap_or("no reason given");
                return Err(fatal(format!(
                    "{}: instance {id} is {} instead of running ({why})",
                    op.path,
                    other.as_str()
                )));
            }
            (true, None | Some(InstanceStateName::Terminated)) => return Ok(got),
            (true, _) => {}
        }
        if started.elapsed() + delay > op.px.instance_timeout {
            return Err(AttemptError::retryable(format!(
                "{}: instance {id} did not become {} within {:?}",
                op.path,
                if terminated { "terminated" } else { "running" },
                op.px.instance_timeout
            )));
        }
        tracing::trace!(path = %op.path, id, unseen, "waiting for instance");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn del_instance(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let id = recorded_or_found(op, rec, "id", Kind::Instance, |f| match f {
        Found::Instance(i) => i.instance_id().map(str::to_owned),
        _ => None,
    })
    .await?;
    let Some(id) = id else { return Ok(()) };
    op.retry(Policy::Basic, &format!("terminate {}", rec.key), || async {
        op.trips.fetch_add(1, Ordering::Relaxed);
        op.rc.terminator.get(id.clone()).await.map(|_| ())
    })
    .await?;
    // Its interfaces, addresses and groups can only go once it has.
    wait_instance(op, &id, true).await?;
    op.px.forget_client_token(op.region(), &rec.key);
    Ok(())
}

/// What `AwsProxy::inventory` lists: everything of a system still in a region.
pub(super) async fn inventory(
    px: &AwsProxy,
    region: Option<&str>,
    system: &str,
) -> Result<super::Inventory, AttemptError> {
    let op = Op::new(
        px,
        region,
        Some(system.to_owned()),
        String::new(),
        String::new(),
    )
    .await?;
    let c = &op.rc.caller;
    let f = || vec![filter(&format!("tag:{SYSTEM_TAG}"), [system])];
    let e = |e: AwsError| fatal(format!("inventory of {system}: {e}"));
    let ec2 = op.ec2();
    let mut inv = super::Inventory::default();
    let vpcs = c
        .call(
            Api::Describe,
            "DescribeVpcs",
            ec2.describe_vpcs().set_filters(Some(f())).send(),
        )
        .await
        .map_err(e)?;
    inv.vpcs = vpcs.vpcs().iter().map(|v| s(v.vpc_id())).collect();
    let r = c
        .call(
            Api::Describe,
            "DescribeSubnets",
            ec2.describe_subnets().set_filters(Some(f())).send(),
        )
        .await
        .map_err(e)?;
    inv.subnets = r.subnets().iter().map(|v| s(v.subnet_id())).collect();
    let r = c
        .call(
            Api::Describe,
            "DescribeInternetGateways",
            ec2.describe_internet_gateways()
                .set_filters(Some(f()))
                .send(),
        )
        .await
        .map_err(e)?;
    inv.internet_gateways = r
        .internet_gateways()
        .iter()
        .map(|v| s(v.internet_gateway_id()))
        .collect();
    let r = c
        .call(
            Api::Describe,
            "DescribeRouteTables",
            ec2.describe_route_tables().set_filters(Some(f())).send(),
        )
        .await
        .map_err(e)?;
    inv.route_tables = r
        .route_tables()
        .iter()
        .map(|v| s(v.route_table_id()))
        .collect();
    let r = c
        .call(
            Api::Describe,
            "DescribeSecurityGroups",
            ec2.describe_security_groups().set_filters(Some(f())).send(),
        )
        .await
        .map_err(e)?;
    inv.security_groups = r
        .security_groups()
        .iter()
        .map(|v| s(v.group_id()))
        .collect();
    let r = c
        .call(
            Api::Describe,
            "DescribeKeyPairs",
            ec2.describe_key_pairs().set_filters(Some(f())).send(),
        )
        .await
        .map_err(e)?;
    inv.key_pairs = r.key_pairs().iter().map(|v| s(v.key_name())).collect();
    let mut enis: BTreeSet<String> = BTreeSet::new();
    let r = c
        .call(
            Api::Describe,
            "DescribeNetworkInterfaces",
            ec2.describe_network_interfaces()
                .set_filters(Some(f()))
                .send(),
        )
        .await
        .map_err(e)?;
    enis.extend(
        r.network_interfaces()
            .iter()
            .map(|v| s(v.network_interface_id())),
    );
    if !inv.vpcs.is_empty() {
        // Primary interfaces RunInstances creates carry no tags: find them by VPC.
        let r = c
            .call(
                Api::Describe,
                "DescribeNetworkInterfaces",
                ec2.describe_network_interfaces()
                    .filters(filter("vpc-id", inv.vpcs.clone()))
                    .send(),
            )
            .await
            .map_err(e)?;
        enis.extend(
            r.network_interfaces()
                .iter()
                .map(|v| s(v.network_interface_id())),
        );
    }
    inv.network_interfaces = enis.into_iter().collect();
    let r = c
        .call(
            Api::Describe,
            "DescribeAddresses",
            ec2.describe_addresses().set_filters(Some(f())).send(),
        )
        .await
        .map_err(e)?;
    inv.addresses = r.addresses().iter().map(|v| s(v.allocation_id())).collect();
    let mut fi = f();
    fi.push(filter(
        "instance-state-name",
        ["pending", "running", "stopping", "stopped", "shutting-down"],
    ));
    inv.instances = super::find::describe_instances(c, fi)
        .await
        .map_err(e)?
        .iter()
        .map(|i| s(i.instance_id()))
        .collect();
    Ok(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_target_matches_only_on_the_fields_asked_for() {
        let want = Target {
            instance: Some("i-1".into()),
            ..Target::default()
        };
        let have = Target {
            instance: Some("i-1".into()),
            eni: Some("eni-1".into()),
            ..Target::default()
        };
        assert!(want.matches(&have));
        assert!(
            !Target {
                gateway: Some("igw-2".into()),
                ..Target::default()
            }
            .matches(&have)
        );
    }
}
