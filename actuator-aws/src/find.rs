//! Finding what this system created by its tags — the crash-safety half of every create — and the
//! batched look-ups behind it: concurrent look-ups of one kind share one `Describe*` request.

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_ec2::types::{self, Filter, Tag};
use futures::FutureExt;

use super::api::{Api, AwsError, Batcher, Fetch};
use super::client::Caller;

/// The tag holding the system name.
pub const SYSTEM_TAG: &str = "actuator:system";
/// The tag holding the resource's model path.
pub const PATH_TAG: &str = "actuator:path";

/// Most keys in one batched request (EC2 accepts up to 200 values per filter).
pub(crate) const BATCH: usize = 100;

/// Something found by its tags. (Short-lived, moved out of a batch answer at once, so the size
/// difference between the SDK's types does not matter.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Found {
    Vpc(types::Vpc),
    Subnet(types::Subnet),
    Igw(types::InternetGateway),
    Rtb(types::RouteTable),
    Sg(types::SecurityGroup),
    Rule(types::SecurityGroupRule),
    Key(types::KeyPairInfo),
    Eni(types::NetworkInterface),
    Eip(types::Address),
    Instance(types::Instance),
}

/// The kinds a [`Found`] can be, as finder keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Vpc,
    Subnet,
    Igw,
    Rtb,
    Sg,
    Rule,
    Key,
    Eni,
    Eip,
    Instance,
}

pub(crate) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

pub(crate) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn tag_filters(system: &str, paths: Vec<String>) -> Vec<Filter> {
    vec![
        filter(&format!("tag:{SYSTEM_TAG}"), [system]),
        filter(&format!("tag:{PATH_TAG}"), paths),
    ]
}

fn index(
    kind: Kind,
    items: impl IntoIterator<Item = (Option<String>, Found)>,
) -> HashMap<String, Found> {
    let mut m = HashMap::new();
    for (path, f) in items {
        if let Some(p) = path {
            if m.contains_key(&p) {
                tracing::warn!(?kind, path = %p, "two cloud resources carry the same model path tag; using the first");
                continue;
            }
            m.insert(p, f);
        }
    }
    m
}

/// A batched finder of `kind` resources tagged with `system`, keyed by model path.
pub(crate) fn finder(
    caller: Arc<Caller>,
    kind: Kind,
    system: String,
) -> Arc<Batcher<String, Found>> {
    let fetch: Fetch<String, Found> = Arc::new(move |paths: Vec<String>| {
        let c = caller.clone();
        let system = system.clone();
        async move { fetch(&c, kind, &system, paths).await }.boxed()
    });
    Batcher::new(BATCH, fetch)
}

fn path_of(tags: &[Tag]) -> Option<String> {
    tag(tags, PATH_TAG).map(str::to_owned)
}

async fn fetch(
    c: &Caller,
    kind: Kind,
    system: &str,
    paths: Vec<String>,
) -> Result<HashMap<String, Found>, AwsError> {
    let f = tag_filters(system, paths);
    let ec2 = &c.ec2;
    Ok(match kind {
        Kind::Vpc => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeVpcs",
                    ec2.describe_vpcs().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.vpcs()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Vpc(v.clone()))),
            )
        }
        Kind::Subnet => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeSubnets",
                    ec2.describe_subnets().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.subnets()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Subnet(v.clone()))),
            )
        }
        Kind::Igw => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeInternetGateways",
                    ec2.describe_internet_gateways().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.internet_gateways()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Igw(v.clone()))),
            )
        }
        Kind::Rtb => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeRouteTables",
                    ec2.describe_route_tables().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.route_tables()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Rtb(v.clone()))),
            )
        }
        Kind::Sg => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeSecurityGroups",
                    ec2.describe_security_groups().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.security_groups()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Sg(v.clone()))),
            )
        }
        Kind::Rule => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeSecurityGroupRules",
                    ec2.describe_security_group_rules()
                        .set_filters(Some(f))
                        .send(),
                )
                .await?;
            index(
                kind,
                r.security_group_rules()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Rule(v.clone()))),
            )
        }
        Kind::Key => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeKeyPairs",
                    ec2.describe_key_pairs().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.key_pairs()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Key(v.clone()))),
            )
        }
        Kind::Eni => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeNetworkInterfaces",
                    ec2.describe_network_interfaces()
                        .set_filters(Some(f))
                        .send(),
                )
                .await?;
            index(
                kind,
                r.network_interfaces()
                    .iter()
                    .map(|v| (path_of(v.tag_set()), Found::Eni(v.clone()))),
            )
        }
        Kind::Eip => {
            let r = c
                .call(
                    Api::Describe,
                    "DescribeAddresses",
                    ec2.describe_addresses().set_filters(Some(f)).send(),
                )
                .await?;
            index(
                kind,
                r.addresses()
                    .iter()
                    .map(|v| (path_of(v.tags()), Found::Eip(v.clone()))),
            )
        }
        Kind::Instance => {
            let mut f = f;
            f.push(filter(
                "instance-state-name",
                ["pending", "running", "stopping", "stopped"],
            ));
            let all = describe_instances(c, f).await?;
            index(
                kind,
                all.into_iter()
                    .map(|v| (path_of(v.tags()), Found::Instance(v))),
            )
        }
    })
}

/// Every instance matching `filters`, all pages.
pub(crate) async fn describe_instances(
    c: &Caller,
    filters: Vec<Filter>,
) -> Result<Vec<types::Instance>, AwsError> {
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

/// A batched look-up of instances by id (terminated ones included): one `DescribeInstances` per
/// poll for every instance being waited on.
pub(crate) fn instance_states(caller: Arc<Caller>) -> Arc<Batcher<String, types::Instance>> {
    let fetch: Fetch<String, types::Instance> = Arc::new(move |ids: Vec<String>| {
        let c = caller.clone();
        async move {
            let all = describe_instances(&c, vec![filter("instance-id", ids)]).await?;
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
            let all = c
                .call(
                    Api::Mutating,
                    "TerminateInstances",
                    c.ec2
                        .terminate_instances()
                        .set_instance_ids(Some(ids.clone()))
                        .send(),
                )
                .await;
            match all {
                Ok(_) => Ok(ids.into_iter().map(|i| (i, ())).collect()),
                // One unknown id fails the whole call: terminate the others one by one.
                Err(e) if e.is_not_found() => {
                    let mut done = HashMap::new();
                    for id in ids {
                        let r = c
                            .call(
                                Api::Mutating,
                                "TerminateInstances",
                                c.ec2.terminate_instances().instance_ids(&id).send(),
                            )
                            .await;
                        match r {
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
