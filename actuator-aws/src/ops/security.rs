//! Security groups and their rules.

use aws_sdk_ec2::types::{self as t, Filter, IpPermission, IpRange, Ipv6Range, ResourceType, Tag};

use super::op::{Op, fatal, gone_ok, s};
use crate::api::{Api, AwsError, Policy};
use crate::client::Caller;
use crate::find::Tagged;
use crate::resources::{RuleKind, SecurityGroup, SecurityGroupRule};
use actuator::provision::{AttemptError, Outputs, ProvisionCx, Provisioned};

// ------------------------------------------------------------------------------------------------
// Security groups

impl Tagged for t::SecurityGroup {
    const KIND: &'static str = SecurityGroup::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeSecurityGroups",
                c.ec2
                    .describe_security_groups()
                    .set_filters(Some(filters))
                    .send(),
            )
            .await?;
        Ok(r.security_groups().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.group_id()
    }
}

pub(super) async fn create_group(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: SecurityGroup,
) -> Result<Outputs, AttemptError> {
    let vpc_id = op.parent_id(cx, &v.vpc)?;
    let description = if v.description.is_empty() {
        format!("{} (actuator)", op.display)
    } else {
        v.description.clone()
    };
    let (sg, _) = op
        .find_or_create(Policy::AfterCreate, || async {
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
                Ok(r) => Ok(t::SecurityGroup::builder()
                    .set_group_id(r.group_id().map(str::to_owned))
                    .build()),
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
    Ok(op.outputs([("id", s(sg.group_id()))]))
}

pub(super) async fn delete_group(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let Some(id) = op.recorded_or_found::<t::SecurityGroup>(rec, "id").await? else {
        return Ok(());
    };
    // DependencyViolation while interfaces of terminated instances still hold it: retried.
    op.remove(Policy::Wiring, "delete", "DeleteSecurityGroup", || {
        op.ec2().delete_security_group().group_id(&id).send()
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Rules

impl Tagged for t::SecurityGroupRule {
    const KIND: &'static str = SecurityGroupRule::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeSecurityGroupRules",
                c.ec2
                    .describe_security_group_rules()
                    .set_filters(Some(filters))
                    .send(),
            )
            .await?;
        Ok(r.security_group_rules().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.security_group_rule_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        let egress = self.is_egress() == Some(true);
        vec![
            ("group_id", s(self.group_id())),
            ("rule_id", s(self.security_group_rule_id())),
            ("kind", if egress { "egress" } else { "ingress" }.to_owned()),
            ("protocol", s(self.ip_protocol())),
            ("from_port", self.from_port().unwrap_or(-1).to_string()),
            ("to_port", self.to_port().unwrap_or(-1).to_string()),
            ("cidr", s(self.cidr_ipv4().or(self.cidr_ipv6()))),
        ]
    }
}

/// Marks a rule that was there before this system asked for it (so it is left on teardown).
const PRE_EXISTING: &str = "pre-existing";

fn permission(protocol: &str, from: i32, to: i32, cidr: &str) -> IpPermission {
    permission_with(protocol, from, to, cidr, None)
}

fn permission_with(
    protocol: &str,
    from: i32,
    to: i32,
    cidr: &str,
    description: Option<&str>,
) -> IpPermission {
    let b = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(from)
        .to_port(to);
    let d = description.map(str::to_owned);
    if cidr.contains(':') {
        b.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(cidr)
                .set_description(d)
                .build(),
        )
        .build()
    } else {
        b.ip_ranges(IpRange::builder().cidr_ip(cidr).set_description(d).build())
            .build()
    }
}

pub(super) async fn create_rule(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: SecurityGroupRule,
) -> Result<Outputs, AttemptError> {
    let group = op.parent_id(cx, &v.security_group)?;
    let cidr = cx.resolve(&v.cidrip)?.to_string();
    let perm = permission_with(
        &v.ip_protocol,
        v.from_port,
        v.to_port,
        &cidr,
        v.description.as_deref(),
    );
    let egress = v.kind == RuleKind::Egress;
    let (r, _) = op
        .find_or_create(Policy::AfterCreate, || async {
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
                Ok(rule) => Ok(rule
                    .unwrap_or_else(|| t::SecurityGroupRule::builder().group_id(&group).build())),
                // The same rule is already there but not ours (the group's default egress rule,
                // or one added by hand): use it and leave it on teardown.
                Err(e) if e.is("InvalidPermission.Duplicate") => {
                    Ok(t::SecurityGroupRule::builder()
                        .group_id(&group)
                        .description(PRE_EXISTING)
                        .build())
                }
                Err(e) => Err(e),
            }
        })
        .await?;
    let retain = r.description() == Some(PRE_EXISTING);
    Ok(op.outputs([
        ("group_id", group.clone()),
        ("rule_id", s(r.security_group_rule_id())),
        ("kind", if egress { "egress" } else { "ingress" }.to_owned()),
        ("protocol", v.ip_protocol.clone()),
        ("from_port", v.from_port.to_string()),
        ("to_port", v.to_port.to_string()),
        ("cidr", cidr.clone()),
        ("retain", retain.to_string()),
    ]))
}

pub(super) async fn delete_rule(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
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
        _ => op.find::<t::SecurityGroupRule>().await?.map(|r| {
            (
                s(r.group_id()),
                r.is_egress() == Some(true),
                permission(
                    r.ip_protocol().unwrap_or("-1"),
                    r.from_port().unwrap_or(-1),
                    r.to_port().unwrap_or(-1),
                    r.cidr_ipv4().or(r.cidr_ipv6()).unwrap_or("0.0.0.0/0"),
                ),
            )
        }),
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

/// The in-place update of a rule: its peer range, ports, protocol and description, by rule id
/// (`ModifySecurityGroupRules`), so the rule is never missing while it changes. A rule that was
/// there before this system (recorded as retained) is not this system's to change.
pub(super) async fn update_rule(
    op: &Op<'_>,
    cx: &ProvisionCx,
    rec: &Provisioned,
    v: SecurityGroupRule,
) -> Result<Outputs, AttemptError> {
    let o = &rec.outputs;
    let (Some(group), Some(rule)) = (
        o.get("group_id").filter(|x| !x.is_empty()),
        o.get("rule_id").filter(|x| !x.is_empty()),
    ) else {
        return Err(fatal(format!(
            "{}: the rule was there before this system asked for it (or its id was never \
             recorded), so it is not changed in place; remove it from the model or change it by \
             hand",
            op.path
        )));
    };
    if o.get("retain").map(String::as_str) == Some("true") {
        return Err(fatal(format!(
            "{}: rule {rule} was there before this system asked for it; not changed",
            op.path
        )));
    }
    let cidr = cx.resolve(&v.cidrip)?;
    let mut req = t::SecurityGroupRuleRequest::builder()
        .ip_protocol(&v.ip_protocol)
        .from_port(v.from_port)
        .to_port(v.to_port)
        .set_description(v.description.clone());
    let v6 = cidr.addr().is_ipv6();
    let cidr = cidr.to_string();
    req = if v6 {
        req.cidr_ipv6(&cidr)
    } else {
        req.cidr_ipv4(&cidr)
    };
    let update = t::SecurityGroupRuleUpdate::builder()
        .security_group_rule_id(rule)
        .security_group_rule(req.build())
        .build();
    op.retry(Policy::Basic, &format!("modify {}", op.path), || {
        op.call(
            Api::Mutating,
            "ModifySecurityGroupRules",
            op.ec2()
                .modify_security_group_rules()
                .group_id(group)
                .security_group_rules(update.clone())
                .send(),
        )
    })
    .await?;
    let mut out = o.clone();
    out.insert("protocol".into(), v.ip_protocol.clone());
    out.insert("from_port".into(), v.from_port.to_string());
    out.insert("to_port".into(), v.to_port.to_string());
    out.insert("cidr".into(), cidr);
    Ok(out)
}
