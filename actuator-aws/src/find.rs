//! Finding what this system created by its tags — the crash-safety half of every create, and what
//! [`inventory`](crate::AwsProxy::inventory) lists. Each EC2 type says how it is described
//! ([`Tagged`], implemented beside the type's create and delete in `ops/`); this module turns that
//! into batched look-ups by model path: concurrent look-ups of one kind share one `Describe*`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use aws_sdk_ec2::types::{Filter, Tag};
use futures::FutureExt;

use super::api::{AwsError, Batcher, Fetch};
use super::client::Caller;

/// The tag holding the system name.
pub const SYSTEM_TAG: &str = "actuator:system";
/// The tag holding the resource's model path.
pub const PATH_TAG: &str = "actuator:path";

/// Most keys in one batched request (EC2 accepts up to 200 values per filter).
pub(crate) const BATCH: usize = 100;

/// An EC2 resource type (the SDK's `Vpc`, `Subnet` …) as look-ups by tag see it.
pub(crate) trait Tagged: Clone + Send + Sync + 'static {
    /// The model kind it backs (`aws.Vpc` …), for messages.
    const KIND: &'static str;

    /// Every resource of this type matching `filters` (all pages), with one `Describe*` call each.
    fn describe(
        c: &Caller,
        filters: Vec<Filter>,
    ) -> impl Future<Output = Result<Vec<Self>, AwsError>> + Send;

    /// Its tags.
    fn tags_of(&self) -> &[Tag];

    /// What this proxy deletes it by and lists it as: its id (a key pair's name).
    fn id_of(&self) -> Option<&str>;

    /// Filters a look-up by model path adds: which of the matches still count as the resource
    /// (instances: not those shutting down or terminated).
    fn live() -> Vec<Filter> {
        Vec::new()
    }

    /// Kept on teardown even when no record says so (a key pair tagged `actuator:retain`).
    fn retained(&self) -> bool {
        false
    }
}

/// The value of tag `key`.
pub(crate) fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// An EC2 filter: `name` is any of `values`.
pub(crate) fn filter(name: &str, values: impl IntoIterator<Item = impl Into<String>>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values.into_iter().map(Into::into).collect()))
        .build()
}

fn system_filter(system: &str) -> Filter {
    filter(&format!("tag:{SYSTEM_TAG}"), [system])
}

/// Every `T` tagged with `system`, narrowed by `filters`.
pub(crate) async fn tagged<T: Tagged>(
    c: &Caller,
    system: &str,
    mut filters: Vec<Filter>,
) -> Result<Vec<T>, AwsError> {
    filters.insert(0, system_filter(system));
    T::describe(c, filters).await
}

/// The ids ([`Tagged::id_of`]) of every `T` tagged with `system`, narrowed by `filters`.
pub(crate) async fn tagged_ids<T: Tagged>(
    c: &Caller,
    system: &str,
    filters: Vec<Filter>,
) -> Result<Vec<String>, AwsError> {
    let all = tagged::<T>(c, system, filters).await?;
    Ok(all
        .iter()
        .map(|v| v.id_of().unwrap_or_default().to_owned())
        .collect())
}

/// A batched finder of `T`s tagged with `system`, keyed by model path.
pub(crate) fn finder<T: Tagged>(caller: Arc<Caller>, system: String) -> Arc<Batcher<String, T>> {
    let fetch: Fetch<String, T> = Arc::new(move |paths: Vec<String>| {
        let c = caller.clone();
        let system = system.clone();
        async move {
            let mut filters = vec![filter(&format!("tag:{PATH_TAG}"), paths)];
            filters.extend(T::live());
            Ok(by_path(tagged::<T>(&c, &system, filters).await?))
        }
        .boxed()
    });
    Batcher::new(BATCH, fetch)
}

fn by_path<T: Tagged>(items: Vec<T>) -> HashMap<String, T> {
    let mut m = HashMap::new();
    for v in items {
        let Some(path) = tag(v.tags_of(), PATH_TAG) else {
            continue;
        };
        if m.contains_key(path) {
            tracing::warn!(
                kind = T::KIND,
                path,
                "two cloud resources carry the same model path tag; using the first"
            );
            continue;
        }
        m.insert(path.to_owned(), v);
    }
    m
}
