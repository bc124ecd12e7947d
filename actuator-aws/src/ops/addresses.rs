//! Elastic IPs: allocated (or an existing one reused) and associated with an instance, an
//! interface or whichever interface holds a private address.

use aws_sdk_ec2::types::{self as t, DomainType, Filter, ResourceType, Tag};

use super::op::{Op, fatal, s};
use crate::api::{Api, AwsError, Policy};
use crate::client::Caller;
use crate::find::{Tagged, filter};
use crate::resources::{IpTarget, PublicIp};
use actuator::provision::{AttemptError, Outputs, ProvisionCx, Provisioned};

impl Tagged for t::Address {
    const KIND: &'static str = PublicIp::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeAddresses",
                c.ec2.describe_addresses().set_filters(Some(filters)).send(),
            )
            .await?;
        Ok(r.addresses().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.allocation_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ip", s(self.public_ip())),
            ("allocation_id", s(self.allocation_id())),
            ("association_id", s(self.association_id())),
        ]
    }
}

pub(super) async fn create_public_ip(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: PublicIp,
) -> Result<Outputs, AttemptError> {
    // Where it goes: (instance, interface, private address).
    let (instance, eni, private) = match &v.target {
        IpTarget::Instance(r) => (Some(op.parent_id(cx, r)?), None, None),
        IpTarget::NetworkInterface(r) => (None, Some(op.parent_id(cx, r)?), None),
        IpTarget::PrivateIp(x) => {
            let ip = cx.resolve(x)?.to_string();
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
            let (a, _) = op
                .find_or_create(Policy::Basic, || async {
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
                    Ok(t::Address::builder()
                        .set_allocation_id(r.allocation_id().map(str::to_owned))
                        .set_public_ip(r.public_ip().map(str::to_owned))
                        .build())
                })
                .await?;
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
                        // Moves it from a replaced target (its in-place update).
                        .allow_reassociation(true)
                        .set_instance_id(instance.clone())
                        .set_network_interface_id(eni.clone())
                        .set_private_ip_address(private.clone())
                        .send(),
                )
            })
            .await?;
        s(r.association_id())
    };
    Ok(op.outputs([
        ("ip", s(addr.public_ip())),
        ("allocation_id", alloc),
        ("association_id", association),
        ("retain", retain.to_string()),
    ]))
}

pub(super) async fn delete_public_ip(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let o = &rec.outputs;
    let (alloc, assoc) = match o.get("allocation_id").filter(|v| !v.is_empty()) {
        Some(a) => (
            a.clone(),
            o.get("association_id").cloned().unwrap_or_default(),
        ),
        None => match op.find::<t::Address>().await? {
            Some(a) => (s(a.allocation_id()), s(a.association_id())),
            None => return Ok(()),
        },
    };
    if !assoc.is_empty() {
        op.remove(Policy::Basic, "disassociate", "DisassociateAddress", || {
            op.ec2()
                .disassociate_address()
                .association_id(&assoc)
                .send()
        })
        .await?;
    }
    if o.get("retain").map(String::as_str) == Some("true") {
        return Ok(());
    }
    op.remove(Policy::Wiring, "release", "ReleaseAddress", || {
        op.ec2().release_address().allocation_id(&alloc).send()
    })
    .await
}
