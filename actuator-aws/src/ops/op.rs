//! [`Op`]: one resource's create or delete — its region's client, its identity (system, workspace,
//! state, model path, cloud-side name), its retries and a count of its round trips — and the steps
//! every resource family is made of (find by tag, find or create, delete unless gone, outputs).
//!
//! A look-up by tag sees every resource of the path in the system's workspace, whatever state made
//! it, and keeps only its own ([`Ownership::Mine`]): a create that finds only another state's
//! resource fails naming it (never adopting it), a delete leaves it alone.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aws_sdk_ec2::config::http::HttpResponse;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};

use crate::AwsProxy;
use crate::api::{Api, AwsError, Policy};
use crate::client::RegionCx;
use crate::find::{Tagged, pairs};
use actuator::model::Located;
use actuator::provision::{AttemptError, Outputs, Ownership, ProvisionCx, Provisioned, Scope};

/// One resource's work against EC2.
pub(crate) struct Op<'a> {
    pub px: &'a AwsProxy,
    pub rc: Arc<RegionCx>,
    /// Whose it is (`None`: a record without a system, and a proxy that cannot tell it).
    scope: Option<Scope>,
    /// For a create: the resource it replaces (create-before-destroy), never a previous attempt.
    replaces: Option<Provisioned>,
    /// A create fails on finding only another state's resource; a delete ignores it.
    creating: bool,
    /// The model path: the resource's key in the state, and its `actuator:path` tag.
    pub path: String,
    /// The cloud-side name (`Name` tag, security-group and key-pair names).
    pub display: String,
    trips: AtomicU64,
}

pub(crate) fn fatal(msg: impl Into<String>) -> AttemptError {
    AttemptError::fatal(msg)
}

/// `NotFound` on a delete means the thing is already gone.
pub(crate) fn gone_ok<T>(r: Result<T, AwsError>) -> Result<(), AwsError> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if e.is_not_found() => Ok(()),
        Err(e) => Err(e),
    }
}

/// A create's answer lacked what it creates.
pub(crate) fn missing(what: &str) -> AwsError {
    AwsError::local("create", format!("EC2 returned no {what}"))
}

/// An optional SDK string as an output value ("" if absent).
pub(crate) fn s(o: Option<&str>) -> String {
    o.unwrap_or_default().to_owned()
}

/// Pauses before each look for a resource whose create was cut short (1.75 s in all).
const IN_FLIGHT_GRACE: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
];

impl<'a> Op<'a> {
    async fn new(
        px: &'a AwsProxy,
        region: Option<&str>,
        scope: Option<Scope>,
        path: String,
        display: String,
    ) -> Result<Op<'a>, AttemptError> {
        let region = px.region_name(region).await?;
        let rc = px.region_cx(&region).await?;
        Ok(Op {
            px,
            rc,
            scope,
            replaces: None,
            creating: false,
            path,
            display,
            trips: AtomicU64::new(0),
        })
    }

    /// For creating the resource of `cx` in `region` (else the proxy's default).
    pub async fn for_provision(
        px: &'a AwsProxy,
        cx: &ProvisionCx,
        region: Option<&str>,
    ) -> Result<Op<'a>, AttemptError> {
        px.learn_system(cx.system());
        let mut op = Op::new(
            px,
            region,
            Some(cx.scope().clone()),
            cx.path(),
            cx.display_name(),
        )
        .await?;
        op.replaces = cx.replaces().cloned();
        op.creating = true;
        Ok(op)
    }

    /// For deleting what `rec` records.
    pub async fn for_teardown(px: &'a AwsProxy, rec: &Provisioned) -> Result<Op<'a>, AttemptError> {
        let region = rec.outputs.get("region").map(String::as_str);
        Op::new(
            px,
            region,
            // The state says whose a resource is; for a record without a system, a proxy
            // configured with `.system(..)` or one that provisioned it in this process knows it.
            if rec.scope.system.is_empty() {
                px.known_system().map(|system| Scope {
                    system,
                    ..(*rec.scope).clone()
                })
            } else {
                Some((*rec.scope).clone())
            },
            rec.key.to_string(),
            rec.key.to_string(),
        )
        .await
    }

    pub fn ec2(&self) -> &aws_sdk_ec2::Client {
        &self.rc.caller.ec2
    }

    pub fn region(&self) -> &str {
        &self.rc.name
    }

    /// Counts a round trip made for this resource outside [`Op::call`] (a batched call).
    pub fn trip(&self) {
        self.trips.fetch_add(1, Ordering::Relaxed);
    }

    /// One EC2 call, counted.
    pub async fn call<T, E, F>(&self, api: Api, op: &'static str, fut: F) -> Result<T, AwsError>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.trip();
        self.rc.caller.call(api, op, fut).await
    }

    /// Runs `f` until it succeeds, as `policy` allows (see [`crate::api::retry`]); a final
    /// failure names the region.
    pub async fn retry<T, F, Fut>(
        &self,
        policy: Policy,
        what: &str,
        f: F,
    ) -> Result<T, AttemptError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        crate::api::retry(&self.px.retry, &self.px.stats, policy, what, f)
            .await
            .map_err(|mut e| {
                e.message = format!("{} in {}", e.message, self.region());
                e
            })
    }

    /// A mutating call that removes something (`delete`, `release`, `disassociate` …: the step
    /// `what` names), repeated as `policy` allows until it succeeds or finds the thing gone.
    pub async fn remove<T, E, F, Fut>(
        &self,
        policy: Policy,
        what: &str,
        api_op: &'static str,
        send: F,
    ) -> Result<(), AttemptError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.retry(policy, &format!("{what} {}", self.path), || async {
            gone_ok(self.call(Api::Mutating, api_op, send()).await)
        })
        .await
    }

    /// What the client token of this create is kept under: the model path, or for the
    /// replacement of a resource, the path and the replaced resource (so that a replacement made
    /// by the process that created the old one cannot get the old one back for its token).
    pub fn token_key(&self) -> String {
        match &self.replaces {
            Some(old) => format!(
                "{}#replacing:{}",
                self.path,
                old.outputs.get("id").map_or("", String::as_str)
            ),
            None => self.path.clone(),
        }
    }

    /// The tags every resource is created with: `Name`, and its identity — system, workspace,
    /// state and model path ([`Scope::tags`]).
    pub fn tags(&self) -> Vec<Tag> {
        let mut v = vec![Tag::builder().key("Name").value(&self.display).build()];
        if let Some(scope) = &self.scope {
            v.extend(
                scope
                    .tags(&self.path)
                    .into_iter()
                    .map(|(k, val)| Tag::builder().key(k).value(val).build()),
            );
        }
        v
    }

    /// [`Op::tags`] for a create call of a resource of type `rt`.
    pub fn tag_spec(&self, rt: ResourceType) -> TagSpecification {
        self.tag_spec_with(rt, &BTreeMap::new())
    }

    /// [`Op::tag_spec`] plus tags of the model's own.
    pub fn tag_spec_with(
        &self,
        rt: ResourceType,
        own: &BTreeMap<String, String>,
    ) -> TagSpecification {
        let own = own
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build());
        TagSpecification::builder()
            .resource_type(rt)
            .set_tags(Some(self.tags().into_iter().chain(own).collect()))
            .build()
    }

    /// This resource as found by its tags (one try; batched with concurrent look-ups): the one
    /// tagged for this very state, unless it is the resource this create replaces. A create that
    /// finds only another state's resource of this path fails naming it: adopting it would take
    /// it from the state that owns it (a copied or lost state; `down --discover` cleans it up).
    pub async fn lookup<T: Tagged>(&self) -> Result<Option<T>, AwsError> {
        let Some(scope) = &self.scope else {
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
        let (mut mine, other) = self.classify::<T>(scope).await?;
        if !mine.is_empty() {
            return Ok(Some(mine.swap_remove(0)));
        }
        match other {
            Some((state, v)) if self.creating => Err(AwsError::local(
                "find",
                format!(
                    "{} {} is tagged for {} of system `{}` workspace `{}`, but for another \
                     state ({}) than this one ({}); it is not adopted. Delete it with \
                     `down --discover`, or `import` it",
                    T::KIND,
                    v.id_of().unwrap_or_default(),
                    self.path,
                    scope.system,
                    scope.workspace,
                    if state.is_empty() { "none" } else { &state },
                    scope.state_id
                ),
            )),
            _ => Ok(None),
        }
    }

    /// Every match of this resource's path in its workspace, split into this state's (less the
    /// resource this create replaces) and one of another state's, if any.
    async fn classify<T: Tagged>(
        &self,
        scope: &Scope,
    ) -> Result<(Vec<T>, Option<(String, T)>), AwsError> {
        self.trip();
        let all = self
            .rc
            .finder::<T>(&scope.system, &scope.workspace)
            .get(self.path.clone())
            .await?
            .unwrap_or_default();
        let replaced = |v: &T| {
            self.replaces.as_ref().is_some_and(|old| {
                v.id_of()
                    .is_some_and(|id| old.outputs.values().any(|o| o == id))
            })
        };
        let (mut mine, mut other) = (Vec::new(), None);
        for v in all {
            match scope.owns(pairs(v.tags_of())) {
                Ownership::Mine if !replaced(&v) => mine.push(v),
                Ownership::OtherState(state) => other = Some((state, v)),
                _ => {}
            }
        }
        Ok((mine, other))
    }

    /// Whether the resource `rec` records is there: tagged for this state and, when its id is
    /// recorded, that very one (a replacement and the resource it replaces share their tags).
    pub async fn exists<T: Tagged>(&self, rec: &Provisioned) -> Result<bool, AttemptError> {
        let Some(scope) = &self.scope else {
            return Err(fatal(format!("{}: no system to find it by", self.path)));
        };
        let mine = self
            .retry(Policy::Basic, &format!("read {}", self.path), || {
                self.classify::<T>(scope)
            })
            .await?
            .0;
        let recorded: Vec<&String> = rec.outputs.values().filter(|v| !v.is_empty()).collect();
        Ok(mine.iter().any(|v| match v.id_of() {
            Some(id) => recorded.is_empty() || recorded.iter().any(|r| *r == id),
            None => true,
        }))
    }

    /// This resource as found by its tags, retried through throttling.
    pub async fn find<T: Tagged>(&self) -> Result<Option<T>, AttemptError> {
        self.retry(Policy::Basic, &format!("find {} by tag", self.path), || {
            self.lookup::<T>()
        })
        .await
    }

    /// Finds the resource by tag, else creates it; after an ambiguous failure (a timeout, a 5xx)
    /// it looks again before creating again. Says whether it created it.
    pub async fn find_or_create<T, F, Fut>(
        &self,
        policy: Policy,
        create: F,
    ) -> Result<(T, bool), AttemptError>
    where
        T: Tagged,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        self.retry(policy, &format!("create {}", self.path), || async {
            if let Some(found) = self.lookup::<T>().await? {
                return Ok((found, false));
            }
            create().await.map(|created| (created, true))
        })
        .await
    }

    /// The id recorded as output `out`, or (an interrupted create) the id of what carries this
    /// resource's tags — unless that is [retained](Tagged::retained).
    pub async fn recorded_or_found<T: Tagged>(
        &self,
        rec: &Provisioned,
        out: &str,
    ) -> Result<Option<String>, AttemptError> {
        if let Some(id) = rec.outputs.get(out).filter(|v| !v.is_empty()) {
            return Ok(Some(id.clone()));
        }
        // No id recorded: the create was cut short (a crash between the intent and its answer).
        // The request may still be in flight at the cloud and complete after the crashed process
        // died, so one empty lookup is not proof it was never made: look again a few times before
        // giving up.
        for pause in IN_FLIGHT_GRACE {
            tokio::time::sleep(pause).await;
            let found = self.find::<T>().await?;
            if let Some(id) = found
                .filter(|v| !v.retained())
                .and_then(|v| v.id_of().map(str::to_owned))
            {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// The id output of a component this one depends on, checked to be in the same region.
    pub fn parent_id(&self, cx: &ProvisionCx, r: &impl Located) -> Result<String, AttemptError> {
        let id = cx.output_of(r, "id")?;
        if let Ok(theirs) = cx.output_of(r, "region")
            && theirs != self.region()
        {
            return Err(fatal(format!(
                "{} is in {}, but it refers to a resource in {theirs}",
                cx.path(),
                self.region()
            )));
        }
        Ok(id)
    }

    /// [`Op::parent_id`] of each of `refs`.
    pub fn parent_ids<'r, R: Located + 'r>(
        &self,
        cx: &ProvisionCx,
        refs: impl IntoIterator<Item = &'r R>,
    ) -> Result<Vec<String>, AttemptError> {
        refs.into_iter().map(|r| self.parent_id(cx, r)).collect()
    }

    /// The resource's outputs: `pairs` and its region.
    pub fn outputs(&self, pairs: impl IntoIterator<Item = (&'static str, String)>) -> Outputs {
        let mut o: Outputs = pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        o.insert("region".into(), self.region().to_owned());
        o
    }

    /// Records the round trips made for this resource.
    pub fn finish(&self) {
        self.px
            .stats
            .trips(&self.path, self.trips.load(Ordering::Relaxed));
    }
}
