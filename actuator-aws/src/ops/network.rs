//! The network: VPCs, subnets, internet gateways, route tables and routes.

use aws_sdk_ec2::types::{self as t, AttributeBooleanValue, Filter, ResourceType, Tag, Tenancy};

use super::op::{Op, fatal, missing, s};
use crate::api::{Api, AwsError, Policy};
use crate::client::Caller;
use crate::find::Tagged;
use crate::resources::{InternetGateway, Route, RouteTable, RouteTarget, Subnet, Vpc};
use actuator::provision::{AttemptError, Outputs, ProvisionCx, Provisioned};

// ------------------------------------------------------------------------------------------------
// VPCs

impl Tagged for t::Vpc {
    const KIND: &'static str = Vpc::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeVpcs",
                c.ec2.describe_vpcs().set_filters(Some(filters)).send(),
            )
            .await?;
        Ok(r.vpcs().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.vpc_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        vec![("id", s(self.vpc_id())), ("cidr", s(self.cidr_block()))]
    }
}

pub(super) async fn create_vpc(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: Vpc,
) -> Result<Outputs, AttemptError> {
    let cidr = cx.resolve(&v.cidr_block)?.to_string();
    let (vpc, _) = op
        .find_or_create(Policy::Basic, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateVpc",
                    op.ec2()
                        .create_vpc()
                        .cidr_block(&cidr)
                        .amazon_provided_ipv6_cidr_block(v.amazon_provided_ipv6_cidr_block)
                        .instance_tenancy(Tenancy::from(v.instance_tenancy.as_str()))
                        .tag_specifications(op.tag_spec(ResourceType::Vpc))
                        .send(),
                )
                .await?;
            r.vpc().cloned().ok_or_else(|| missing("VPC"))
        })
        .await?;
    Ok(op.outputs([("id", s(vpc.vpc_id())), ("cidr", s(vpc.cidr_block()))]))
}

pub(super) async fn delete_vpc(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let Some(id) = op.recorded_or_found::<t::Vpc>(rec, "id").await? else {
        return Ok(());
    };
    op.remove(Policy::Wiring, "delete", "DeleteVpc", || {
        op.ec2().delete_vpc().vpc_id(&id).send()
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Subnets

impl Tagged for t::Subnet {
    const KIND: &'static str = Subnet::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeSubnets",
                c.ec2.describe_subnets().set_filters(Some(filters)).send(),
            )
            .await?;
        Ok(r.subnets().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.subnet_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        vec![
            ("id", s(self.subnet_id())),
            ("vpc_id", s(self.vpc_id())),
            ("availability_zone", s(self.availability_zone())),
        ]
    }
}

pub(super) async fn create_subnet(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: Subnet,
) -> Result<Outputs, AttemptError> {
    let vpc_id = op.parent_id(cx, &v.vpc)?;
    let cidr = cx.resolve(&v.cidr_block)?.to_string();
    let ipv6 = v
        .ipv6_cidr_block
        .as_ref()
        .map(|c| cx.resolve(c).map(|c| c.to_string()))
        .transpose()?;
    let (sn, _) = op
        .find_or_create(Policy::AfterCreate, || async {
            let r = op
                .call(
                    Api::Mutating,
                    "CreateSubnet",
                    op.ec2()
                        .create_subnet()
                        .vpc_id(&vpc_id)
                        .cidr_block(&cidr)
                        .set_availability_zone(v.availability_zone.clone())
                        .set_ipv6_cidr_block(ipv6.clone())
                        .tag_specifications(op.tag_spec(ResourceType::Subnet))
                        .send(),
                )
                .await?;
            r.subnet().cloned().ok_or_else(|| missing("subnet"))
        })
        .await?;
    let id = s(sn.subnet_id());
    // Converges both ways: this is also the subnet's in-place update of the attribute.
    if sn.map_public_ip_on_launch().unwrap_or(false) != v.map_public_ip_on_launch {
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
                            AttributeBooleanValue::builder()
                                .value(v.map_public_ip_on_launch)
                                .build(),
                        )
                        .send(),
                )
            },
        )
        .await?;
    }
    Ok(op.outputs([
        ("id", id),
        ("vpc_id", vpc_id),
        ("availability_zone", s(sn.availability_zone())),
    ]))
}

pub(super) async fn delete_subnet(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let Some(id) = op.recorded_or_found::<t::Subnet>(rec, "id").await? else {
        return Ok(());
    };
    op.remove(Policy::Wiring, "delete", "DeleteSubnet", || {
        op.ec2().delete_subnet().subnet_id(&id).send()
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Internet gateways

impl Tagged for t::InternetGateway {
    const KIND: &'static str = InternetGateway::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeInternetGateways",
                c.ec2
                    .describe_internet_gateways()
                    .set_filters(Some(filters))
                    .send(),
            )
            .await?;
        Ok(r.internet_gateways().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.internet_gateway_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        let vpc = self.attachments().first().and_then(|a| a.vpc_id());
        vec![("id", s(self.internet_gateway_id())), ("vpc_id", s(vpc))]
    }
}

pub(super) async fn create_internet_gateway(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: InternetGateway,
) -> Result<Outputs, AttemptError> {
    let vpc_id = op.parent_id(cx, &v.vpc)?;
    let (g, _) = op
        .find_or_create(Policy::Basic, || async {
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
                .ok_or_else(|| missing("internet gateway"))
        })
        .await?;
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
    Ok(op.outputs([("id", id), ("vpc_id", vpc_id)]))
}

pub(super) async fn delete_internet_gateway(
    op: &Op<'_>,
    rec: &Provisioned,
) -> Result<(), AttemptError> {
    let (id, vpcs) = match rec.outputs.get("id").filter(|v| !v.is_empty()) {
        Some(id) => (
            id.clone(),
            rec.outputs.get("vpc_id").cloned().into_iter().collect(),
        ),
        None => match op.find::<t::InternetGateway>().await? {
            Some(g) => (
                s(g.internet_gateway_id()),
                g.attachments()
                    .iter()
                    .filter_map(|a| a.vpc_id().map(str::to_owned))
                    .collect::<Vec<_>>(),
            ),
            None => return Ok(()),
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
    op.remove(Policy::Wiring, "delete", "DeleteInternetGateway", || {
        op.ec2()
            .delete_internet_gateway()
            .internet_gateway_id(&id)
            .send()
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Route tables

impl Tagged for t::RouteTable {
    const KIND: &'static str = RouteTable::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeRouteTables",
                c.ec2
                    .describe_route_tables()
                    .set_filters(Some(filters))
                    .send(),
            )
            .await?;
        Ok(r.route_tables().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.route_table_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        let assocs: Vec<&str> = self
            .associations()
            .iter()
            .filter(|a| a.main() != Some(true))
            .filter_map(|a| a.route_table_association_id())
            .collect();
        vec![
            ("id", s(self.route_table_id())),
            ("associations", assocs.join(",")),
        ]
    }
}

/// Route table `id` as it is now (its associations and routes).
async fn route_table_now(op: &Op<'_>, id: &str) -> Result<Option<t::RouteTable>, AwsError> {
    let r = op
        .call(
            Api::Describe,
            "DescribeRouteTables",
            op.ec2().describe_route_tables().route_table_ids(id).send(),
        )
        .await?;
    Ok(r.route_tables().first().cloned())
}

pub(super) async fn create_route_table(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: RouteTable,
) -> Result<Outputs, AttemptError> {
    let vpc_id = op.parent_id(cx, &v.vpc)?;
    let subnets = op.parent_ids(cx, &v.subnets)?;
    let token = op.px.client_token(op.region(), &op.token_key());
    let (rt, _) = op
        .find_or_create(Policy::AfterCreate, || async {
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
                .ok_or_else(|| missing("route table"))
        })
        .await?;
    let id = s(rt.route_table_id());
    let association_with = |rt: &t::RouteTable, subnet: &str| {
        rt.associations()
            .iter()
            .find(|a| a.subnet_id() == Some(subnet))
            .map(|a| s(a.route_table_association_id()))
    };
    let mut assocs: Vec<String> = Vec::new();
    for sn in &subnets {
        if let Some(a) = association_with(&rt, sn) {
            assocs.push(a);
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
                        Err(e) if e.is("Resource.AlreadyAssociated") => route_table_now(op, &id)
                            .await?
                            .and_then(|now| association_with(&now, sn))
                            .ok_or(e),
                        Err(e) => Err(e),
                    }
                },
            )
            .await?;
        assocs.push(a);
    }
    Ok(op.outputs([("id", id), ("associations", assocs.join(","))]))
}

pub(super) async fn delete_route_table(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
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
        None => match op.find::<t::RouteTable>().await? {
            Some(r) => (
                s(r.route_table_id()),
                r.associations()
                    .iter()
                    .filter(|a| a.main() != Some(true))
                    .filter_map(|a| a.route_table_association_id().map(str::to_owned))
                    .collect::<Vec<_>>(),
            ),
            None => return Ok(()),
        },
    };
    for a in assocs {
        op.remove(
            Policy::Basic,
            "disassociate",
            "DisassociateRouteTable",
            || {
                op.ec2()
                    .disassociate_route_table()
                    .association_id(&a)
                    .send()
            },
        )
        .await?;
    }
    op.remove(Policy::Wiring, "delete", "DeleteRouteTable", || {
        op.ec2().delete_route_table().route_table_id(&id).send()
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Routes (untagged: EC2 cannot tag a route; an unrecorded one goes with its route table)

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

pub(super) async fn create_route(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: Route,
) -> Result<Outputs, AttemptError> {
    let rtb = op.parent_id(cx, &v.route_table)?;
    let mut want = Target::default();
    match &v.target {
        RouteTarget::Gateway(r) => want.gateway = Some(op.parent_id(cx, r)?),
        RouteTarget::EgressOnlyGateway(x) => want.egress_only = Some(cx.resolve(x)?.into_string()),
        RouteTarget::NatInstance(r) => want.instance = Some(op.parent_id(cx, r)?),
        RouteTarget::NatGateway(x) => want.nat = Some(cx.resolve(x)?.into_string()),
        RouteTarget::NetworkInterface(r) => want.eni = Some(op.parent_id(cx, r)?),
        RouteTarget::PeeringConnection(x) => want.peering = Some(cx.resolve(x)?.into_string()),
    }
    let dest = cx.resolve(&v.destination)?;
    let v6 = dest.addr().is_ipv6();
    let dest = dest.to_string();
    op.retry(Policy::Wiring, &format!("create {}", op.path), || async {
        let mut b = op.ec2().create_route().route_table_id(&rtb);
        b = if v6 {
            b.destination_ipv6_cidr_block(&dest)
        } else {
            b.destination_cidr_block(&dest)
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
                let existing = route_table_now(op, &rtb).await?.and_then(|rt| {
                    rt.routes()
                        .iter()
                        .find(|r| {
                            r.destination_cidr_block() == Some(dest.as_str())
                                || r.destination_ipv6_cidr_block() == Some(dest.as_str())
                        })
                        .map(Target::of)
                });
                match existing {
                    Some(t) if want.matches(&t) => Ok(()),
                    _ => Err(AwsError::local(
                        "CreateRoute",
                        format!("route table {rtb} already routes {dest} elsewhere"),
                    )),
                }
            }
            Err(e) => Err(e),
        }
    })
    .await?;
    Ok(op.outputs([
        ("route_table_id", rtb.clone()),
        ("destination", dest.clone()),
    ]))
}

pub(super) async fn delete_route(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let (Some(rtb), Some(dest)) = (
        rec.outputs.get("route_table_id"),
        rec.outputs.get("destination"),
    ) else {
        return Ok(());
    };
    op.remove(Policy::Basic, "delete", "DeleteRoute", || {
        let b = op.ec2().delete_route().route_table_id(rtb);
        let b = if dest.contains(':') {
            b.destination_ipv6_cidr_block(dest)
        } else {
            b.destination_cidr_block(dest)
        };
        b.send()
    })
    .await
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
