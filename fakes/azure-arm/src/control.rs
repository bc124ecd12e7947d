//! Inspection and fault control, shared by [`crate::FakeHandle`] and the `/_fake` HTTP routes
//! the binary's users (scripts) call. The routes need no token: they are the test's side door.
//!
//! | route | what |
//! |---|---|
//! | `GET /_fake/health` | `{"ok": true}` |
//! | `GET /_fake/resources[?detail=true]` | every group and resource ([`ResourceSummary`], or full bodies) |
//! | `GET /_fake/stats` | [`crate::Stats`] |
//! | `GET /_fake/requests` | [`crate::RequestRecord`]s |
//! | `GET`/`PUT /_fake/faults` | [`crate::Faults`] |
//! | `GET`/`PUT /_fake/timing` | [`crate::Timing`] |
//! | `POST /_fake/fail-next` | a [`crate::FailNext`] rule |
//! | `POST /_fake/force-failed` | `{"id": …}`: provisioningState → Failed now |
//! | `POST /_fake/delete` | `{"id": …}`: delete behind the client's back |
//! | `POST /_fake/update` | `{"id": …, "properties": {…}}`: merge into properties behind its back |
//! | `POST /_fake/token` | `{"access_token": …}` without the OAuth flow |

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::config::{FailNext, Faults, Timing};
use crate::error::ArmError;
use crate::faults::Buckets;
use crate::reply::Reply;
use crate::server::{Shared, lock};
use crate::store::{self, ProvState, State};
use crate::{ResourceKind, render};

/// One group or resource that exists.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourceSummary {
    /// ARM id.
    pub id: String,
    /// Kind.
    pub kind: ResourceKind,
    /// Name.
    pub name: String,
    /// The group it is in (its own name for a group).
    pub resource_group: String,
    /// `Succeeded`, `Updating`, `Creating`, `Deleting` or `Failed`.
    pub provisioning_state: String,
    /// Tags (empty for child resources).
    pub tags: BTreeMap<String, String>,
}

fn tags_of(tags: Option<&serde_json::Map<String, Value>>) -> BTreeMap<String, String> {
    tags.into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
        .collect()
}

impl State {
    /// Everything that exists, groups first.
    pub fn summaries(&self) -> Vec<ResourceSummary> {
        let mut out: Vec<ResourceSummary> = self
            .groups
            .values()
            .map(|g| ResourceSummary {
                id: g.id.clone(),
                kind: ResourceKind::ResourceGroup,
                name: g.name.clone(),
                resource_group: g.name.clone(),
                provisioning_state: if g.deleting.is_some() {
                    "Deleting"
                } else {
                    "Succeeded"
                }
                .to_string(),
                tags: tags_of(g.tags.as_ref()),
            })
            .collect();
        let mut resources: Vec<_> = self.resources.values().collect();
        resources.sort_by_key(|r| r.seq);
        out.extend(resources.into_iter().map(|r| {
            ResourceSummary {
                id: r.id.clone(),
                kind: r.kind,
                name: r.name.clone(),
                resource_group: self
                    .groups
                    .get(&r.group)
                    .map(|g| g.name.clone())
                    .unwrap_or_default(),
                provisioning_state: r.state.as_str().to_string(),
                tags: tags_of(r.tags.as_ref()),
            }
        }));
        out
    }

    /// The GET body of a group or resource.
    pub fn body_of(&self, id: &str) -> Option<Value> {
        if let Some(r) = self.get(id) {
            return Some(render::resource(self, r, None));
        }
        self.groups
            .values()
            .find(|g| store::key(&g.id) == store::key(id))
            .map(render::group)
    }

    /// Puts a resource into `Failed` at once.
    pub fn force_failed(&mut self, id: &str) -> bool {
        match self.resources.get_mut(&store::key(id)) {
            Some(r) => {
                r.state = ProvState::Failed;
                true
            }
            None => false,
        }
    }

    /// Deletes a group (with everything in it) or a resource at once, as someone with portal
    /// access would: a resource still in use is refused like a real DELETE.
    pub fn delete_out_of_band(&mut self, id: &str) -> Result<(), ArmError> {
        let k = store::key(id);
        if let Some((gk, g)) = self
            .groups
            .iter()
            .find(|(_, g)| store::key(&g.id) == k)
            .map(|(gk, g)| (gk.clone(), g.clone()))
        {
            let members: Vec<String> = self
                .resources
                .values()
                .filter(|r| r.group == gk && r.parent.is_none())
                .map(store::Resource::key)
                .collect();
            // VMs first so their NICs and disks are free by the time those go.
            let (vms, rest): (Vec<_>, Vec<_>) = members.into_iter().partition(|m| {
                self.resources.get(m).map(|r| r.kind) == Some(ResourceKind::VirtualMachine)
            });
            for m in vms.into_iter().chain(rest) {
                self.remove(&m);
            }
            self.groups.remove(&gk);
            *self.stats.deleted.entry(g.id).or_default() += 1;
            return Ok(());
        }
        let res = self
            .resources
            .get(&k)
            .cloned()
            .ok_or_else(|| ArmError::nested_not_found(id))?;
        if let Some(e) = self.delete_blocker(&res) {
            return Err(e);
        }
        self.remove(&k);
        Ok(())
    }

    /// Merges `properties` (JSON merge patch) into a resource's stored properties.
    pub fn update_out_of_band(&mut self, id: &str, properties: &Value) -> bool {
        let Some(r) = self.resources.get_mut(&store::key(id)) else {
            return false;
        };
        let mut props = Value::Object(r.props.clone());
        merge_patch(&mut props, properties);
        if let Value::Object(p) = props {
            r.props = p;
        }
        true
    }

    pub fn set_faults(&mut self, faults: Faults) {
        self.buckets = Buckets::new(&faults.throttle);
        self.faults = faults;
    }

    pub fn fail_next(&mut self, rule: FailNext) {
        self.fail_rules.push(rule);
    }
}

/// JSON merge patch (RFC 7386).
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[derive(Deserialize)]
struct IdBody {
    id: String,
    #[serde(default)]
    properties: Value,
}

fn bad(msg: impl Into<String>) -> Reply {
    Reply::json(
        400,
        json!({"error": {"code": "BadControlRequest", "message": msg.into()}}),
    )
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, Reply> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid body: {e}")))
}

/// Serves `/_fake/…`.
pub(crate) fn handle(
    shared: &Shared,
    method: &str,
    path: &str,
    query: &[(String, String)],
    body: &[u8],
) -> Reply {
    let mut st = lock(shared);
    st.advance(Instant::now());
    let route = path.trim_start_matches("/_fake").trim_matches('/');
    let result: Result<Reply, Reply> = match (method, route) {
        ("GET", "health") => Ok(Reply::json(200, json!({"ok": true}))),
        ("GET", "resources") => {
            let detail = query.iter().any(|(k, v)| k == "detail" && v == "true");
            let items: Vec<Value> = if detail {
                st.summaries()
                    .iter()
                    .filter_map(|s| st.body_of(&s.id))
                    .collect()
            } else {
                st.summaries()
                    .iter()
                    .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
                    .collect()
            };
            Ok(Reply::json(200, json!({ "value": items })))
        }
        ("GET", "stats") => Ok(Reply::json(
            200,
            serde_json::to_value(&st.stats).unwrap_or_default(),
        )),
        ("GET", "requests") => Ok(Reply::json(
            200,
            serde_json::to_value(&st.requests).unwrap_or_default(),
        )),
        ("GET", "faults") => Ok(Reply::json(
            200,
            serde_json::to_value(&st.faults).unwrap_or_default(),
        )),
        ("PUT", "faults") => parse::<Faults>(body).map(|f| {
            st.set_faults(f);
            Reply::json(200, serde_json::to_value(&st.faults).unwrap_or_default())
        }),
        ("GET", "timing") => Ok(Reply::json(
            200,
            serde_json::to_value(&st.timing).unwrap_or_default(),
        )),
        ("PUT", "timing") => parse::<Timing>(body).map(|t| {
            st.timing = t;
            Reply::json(200, serde_json::to_value(&st.timing).unwrap_or_default())
        }),
        ("POST", "fail-next") => parse::<FailNext>(body).map(|r| {
            st.fail_next(r);
            Reply::empty(204)
        }),
        ("POST", "force-failed") => parse::<IdBody>(body).and_then(|b| {
            if st.force_failed(&b.id) {
                Ok(Reply::empty(204))
            } else {
                Err(Reply::json(
                    404,
                    json!({"error": {"code": "NotFound", "message": b.id}}),
                ))
            }
        }),
        ("POST", "delete") => parse::<IdBody>(body).and_then(|b| {
            st.delete_out_of_band(&b.id)
                .map(|()| Reply::empty(204))
                .map_err(Reply::from)
        }),
        ("POST", "update") => parse::<IdBody>(body).and_then(|b| {
            if st.update_out_of_band(&b.id, &b.properties) {
                Ok(Reply::empty(204))
            } else {
                Err(Reply::json(
                    404,
                    json!({"error": {"code": "NotFound", "message": b.id}}),
                ))
            }
        }),
        ("POST", "token") => {
            let lifetime = st.token_lifetime;
            let token = st.tokens.issue("https://management.azure.com", lifetime);
            Ok(Reply::json(
                200,
                json!({"token_type": "Bearer", "expires_in": lifetime.as_secs(), "access_token": token}),
            ))
        }
        _ => Err(Reply::json(
            404,
            json!({"error": {"code": "NotFound", "message": format!("no control route {method} {path}")}}),
        )),
    };
    result.unwrap_or_else(|r| r)
}
