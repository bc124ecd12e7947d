//! Instances and their network interfaces; the batched state polls and terminations every
//! instance of a region shares.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ec2::types::{
    self as t, Filter, InstanceNetworkInterfaceSpecification, InstanceStateName, InstanceType,
    PrivateIpAddressSpecification, ResourceType, Tag,
};
use futures::FutureExt;
use tokio::time::Instant;

use super::op::{Op, fatal, missing, s};
use crate::api::{Api, AwsError, Batcher, ErrKind, Fetch, Policy};
use crate::client::Caller;
use crate::find::{BATCH, Tagged, filter, tagged_ids};
use crate::resources::{Image, Instance, NetworkInterface};
use actuator::provision::{AttemptError, Outputs, ProvisionCx, Provisioned};

// ------------------------------------------------------------------------------------------------
// Network interfaces

impl Tagged for t::NetworkInterface {
    const KIND: &'static str = NetworkInterface::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let r = c
            .call(
                Api::Describe,
                "DescribeNetworkInterfaces",
                c.ec2
                    .describe_network_interfaces()
                    .set_filters(Some(filters))
                    .send(),
            )
            .await?;
        Ok(r.network_interfaces().to_vec())
    }
    fn tags_of(&self) -> &[Tag] {
        self.tag_set()
    }
    fn id_of(&self) -> Option<&str> {
        self.network_interface_id()
    }
}

/// The interfaces of `system`: those tagged with it, and the untagged primary interfaces
/// `RunInstances` created inside its VPCs.
pub(super) async fn interfaces_of(
    c: &Caller,
    system: &str,
    vpcs: &[String],
) -> Result<Vec<String>, AwsError> {
    let mut ids: BTreeSet<String> = tagged_ids::<t::NetworkInterface>(c, system, vec![])
        .await?
        .into_iter()
        .collect();
    if !vpcs.is_empty() {
        let in_vpcs = t::NetworkInterface::describe(c, vec![filter("vpc-id", vpcs)]).await?;
        ids.extend(in_vpcs.iter().map(|n| s(n.id_of())));
    }
    Ok(ids.into_iter().collect())
}

pub(super) async fn create_interface(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: NetworkInterface,
) -> Result<Outputs, AttemptError> {
    let subnet = op.parent_id(cx, &v.subnet)?;
    let groups = op.parent_ids(cx, &v.sec_groups)?;
    let primary = v
        .private_ip_address
        .as_ref()
        .map(|x| cx.resolve(x).map(|ip| ip.to_string()))
        .transpose()?;
    let secondary = v
        .private_ip_addresses
        .iter()
        .map(|x| cx.resolve(x).map(|ip| ip.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let token = op.px.client_token(op.region(), &op.token_key());
    let (n, _) = op
        .find_or_create(Policy::AfterCreate, || async {
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
                .ok_or_else(|| missing("network interface"))
        })
        .await?;
    Ok(op.outputs([
        ("id", s(n.network_interface_id())),
        ("private_ip", s(n.private_ip_address())),
        ("subnet_id", subnet),
    ]))
}

pub(super) async fn delete_interface(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let Some(id) = op
        .recorded_or_found::<t::NetworkInterface>(rec, "id")
        .await?
    else {
        return Ok(());
    };
    // InvalidNetworkInterface.InUse while a terminated instance lets go of it: retried.
    op.remove(Policy::Wiring, "delete", "DeleteNetworkInterface", || {
        op.ec2()
            .delete_network_interface()
            .network_interface_id(&id)
            .send()
    })
    .await
}

// ------------------------------------------------------------------------------------------------
// Instances

impl Tagged for t::Instance {
    const KIND: &'static str = Instance::KIND;
    async fn describe(c: &Caller, filters: Vec<Filter>) -> Result<Vec<Self>, AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeInstances",
                    c.ec2
                        .describe_instances()
                        .set_filters(Some(filters.clone()))
                        .set_next_token(token.clone())
                        .send(),
                )
                .await?;
            for res in r.reservations() {
                out.extend(res.instances().iter().cloned());
            }
            match r.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => return Ok(out),
            }
        }
    }
    fn tags_of(&self) -> &[Tag] {
        self.tags()
    }
    fn id_of(&self) -> Option<&str> {
        self.instance_id()
    }
    fn outputs_of(&self) -> Vec<(&'static str, String)> {
        let private = s(self.private_ip_address());
        let public = s(self.public_ip_address());
        vec![
            ("id", s(self.instance_id())),
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
        ]
    }
    /// One shutting down or terminated is gone: the create makes a new one.
    fn live() -> Vec<Filter> {
        vec![filter(
            "instance-state-name",
            ["pending", "running", "stopping", "stopped"],
        )]
    }
}

/// Instances not yet terminated (shutting down ones included): what a teardown has left.
pub(super) fn not_terminated() -> Filter {
    filter(
        "instance-state-name",
        ["pending", "running", "stopping", "stopped", "shutting-down"],
    )
}

/// A batched look-up of instances by id (terminated ones included): one `DescribeInstances` per
/// poll for every instance being waited on.
pub(crate) fn state_poller(caller: Arc<Caller>) -> Arc<Batcher<String, t::Instance>> {
    let fetch: Fetch<String, t::Instance> = Arc::new(move |ids: Vec<String>| {
        let c = caller.clone();
        async move {
            let all = t::Instance::describe(&c, vec![filter("instance-id", ids)]).await?;
            Ok(all
                .into_iter()
                .filter_map(|i| i.instance_id().map(str::to_owned).map(|id| (id, i)))
                .collect())
        }
        .boxed()
    });
    Batcher::new(BATCH, fetch)
}

/// Batched `TerminateInstances`: one call for every instance being torn down at the same moment.
/// An id EC2 no longer knows is already gone.
pub(crate) fn terminator(caller: Arc<Caller>) -> Arc<Batcher<String, ()>> {
    let fetch: Fetch<String, ()> = Arc::new(move |ids: Vec<String>| {
        let c = caller.clone();
        async move {
            let terminate = |ids: Vec<String>| {
                c.call(
                    Api::Mutating,
                    "TerminateInstances",
                    c.ec2
                        .terminate_instances()
                        .set_instance_ids(Some(ids))
                        .send(),
                )
            };
            match terminate(ids.clone()).await {
                Ok(_) => Ok(ids.into_iter().map(|i| (i, ())).collect()),
                // One unknown id fails the whole call: terminate the others one by one.
                Err(e) if e.is_not_found() => {
                    let mut done = HashMap::new();
                    for id in ids {
                        match terminate(vec![id.clone()]).await {
                            Ok(_) => {}
                            Err(e) if e.is_not_found() => {}
                            Err(e) => return Err(e),
                        }
                        done.insert(id, ());
                    }
                    Ok(done)
                }
                Err(e) => Err(e),
            }
        }
        .boxed()
    });
    Batcher::new(BATCH, fetch)
}

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

pub(super) async fn create_instance(
    op: &Op<'_>,
    cx: &ProvisionCx,
    v: Instance,
) -> Result<Outputs, AttemptError> {
    let key = v
        .key_pair
        .as_ref()
        .map(|k| cx.output_of(k, "key_name"))
        .transpose()?;
    let groups = op.parent_ids(cx, &v.sec_groups)?;
    let subnet = v.subnet.as_ref().map(|s| op.parent_id(cx, s)).transpose()?;
    let enis = op.parent_ids(cx, &v.network_interfaces)?;
    let id = match op.find::<t::Instance>().await? {
        Some(i) => s(i.instance_id()),
        None => {
            let image = image_id(op, cx, &v.image).await?;
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
                    if let Some(i) = op.lookup::<t::Instance>().await? {
                        return Ok(s(i.instance_id()));
                    }
                    let token = op.px.client_token(op.region(), &op.token_key());
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
                                .tag_specifications(
                                    op.tag_spec_with(ResourceType::Instance, &v.tags),
                                )
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
                            op.px.forget_client_token(op.region(), &op.token_key());
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
    let Some(inst) = wait_instance(op, &id, false).await? else {
        return Err(AttemptError::retryable(format!(
            "{}: instance {id} vanished while starting",
            op.path
        )));
    };
    let private = s(inst.private_ip_address());
    let public = s(inst.public_ip_address());
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
                op.trip();
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

pub(super) async fn delete_instance(op: &Op<'_>, rec: &Provisioned) -> Result<(), AttemptError> {
    let Some(id) = op.recorded_or_found::<t::Instance>(rec, "id").await? else {
        return Ok(());
    };
    op.retry(Policy::Basic, &format!("terminate {}", rec.key), || async {
        op.trip();
        op.rc.terminator.get(id.clone()).await.map(|_| ())
    })
    .await?;
    // Its interfaces, addresses and groups can only go once it has.
    wait_instance(op, &id, true).await?;
    op.px.forget_client_token(op.region(), &rec.key);
    Ok(())
}

/// Whether a tag is the model's own (not `Name`, an identity tag or one of AWS's).
fn own_tag(key: &str) -> bool {
    key != "Name" && !key.starts_with("actuator:") && !key.starts_with("aws:")
}

/// The in-place update of an instance: its own tags (everything else replaces it). Tags set by
/// hand that the model never had are removed too: the model is the truth.
pub(super) async fn update_instance(
    op: &Op<'_>,
    rec: &Provisioned,
    v: Instance,
) -> Result<Outputs, AttemptError> {
    let id = rec
        .outputs
        .get("id")
        .filter(|i| !i.is_empty())
        .cloned()
        .ok_or_else(|| fatal(format!("{}: no instance id recorded to update", op.path)))?;
    let inst = op
        .retry(Policy::Basic, &format!("describe {}", op.path), || async {
            let r = op
                .call(
                    Api::Describe,
                    "DescribeInstances",
                    op.ec2().describe_instances().instance_ids(&id).send(),
                )
                .await?;
            Ok(r.reservations()
                .iter()
                .flat_map(|r| r.instances())
                .next()
                .cloned())
        })
        .await?
        .ok_or_else(|| AttemptError::fatal(format!("{}: instance {id} is gone", op.path)))?;
    let now: BTreeMap<&str, &str> = inst
        .tags()
        .iter()
        .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default())))
        .filter(|(k, _)| own_tag(k))
        .collect();
    let stale: Vec<Tag> = now
        .keys()
        .filter(|k| !v.tags.contains_key(**k))
        .map(|k| Tag::builder().key(*k).build())
        .collect();
    let set: Vec<Tag> = v
        .tags
        .iter()
        .filter(|(k, val)| now.get(k.as_str()) != Some(&val.as_str()))
        .map(|(k, val)| Tag::builder().key(k).value(val).build())
        .collect();
    if !stale.is_empty() {
        op.retry(Policy::Basic, &format!("untag {}", op.path), || {
            op.call(
                Api::Mutating,
                "DeleteTags",
                op.ec2()
                    .delete_tags()
                    .resources(&id)
                    .set_tags(Some(stale.clone()))
                    .send(),
            )
        })
        .await?;
    }
    if !set.is_empty() {
        op.retry(Policy::Basic, &format!("tag {}", op.path), || {
            op.call(
                Api::Mutating,
                "CreateTags",
                op.ec2()
                    .create_tags()
                    .resources(&id)
                    .set_tags(Some(set.clone()))
                    .send(),
            )
        })
        .await?;
    }
    Ok(rec.outputs.clone())
}
