//! Operations on the state itself: renaming a model path without recreating anything
//! (`state mv`), adopting an existing cloud resource (`import`), and finding what a lost state
//! left behind in the cloud (`--discover`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Value, json};

use super::plan::{DEP_IDS, Item, Old, ResourceAction, TASK_PREFIX};
use super::{ActuatorOrchestration, OrchestrationError, Plan, RunCommand, RunStatus, apply};
use crate::events::Phase;
use crate::model::At;
use crate::provision::{Discovered, ProvisionCx, Provisioned, Scope, recorded_args, select};
use crate::state::EntryStatus;

/// Replaces `{"ref": from}` (and `from.…` inside it) by `to` in a recorded value.
fn rewrite_refs(v: &mut Value, from: &str, to: &str) -> bool {
    let renamed = |p: &str| -> Option<String> {
        if p == from {
            Some(to.to_owned())
        } else {
            p.strip_prefix(from)
                .filter(|rest| rest.starts_with('.'))
                .map(|rest| format!("{to}{rest}"))
        }
    };
    match v {
        Value::String(s) => match renamed(s) {
            Some(n) => {
                *s = n;
                true
            }
            None => false,
        },
        Value::Array(a) => a
            .iter_mut()
            .fold(false, |c, v| rewrite_refs(v, from, to) | c),
        Value::Object(m) => m
            .values_mut()
            .fold(false, |c, v| rewrite_refs(v, from, to) | c),
        _ => false,
    }
}

impl ActuatorOrchestration {
    /// Renames the resource recorded at model path `from` to `to` (a renamed field, a moved
    /// component), and every reference the state records to it: the next plan finds it under its
    /// new path and recreates nothing.
    ///
    /// # Errors
    /// [`OrchestrationError::Path`] when the state records nothing at `from` or something at
    /// `to`; [`OrchestrationError::State`] when the state cannot be opened or written.
    pub fn state_mv(&mut self, from: &str, to: &str) -> Result<(), OrchestrationError> {
        let journal = self.journal()?;
        let mut j = journal.lock();
        let st = j.state();
        if st.get(from).is_none() {
            return Err(OrchestrationError::Path(format!(
                "the state records nothing at `{from}`"
            )));
        }
        if st.get(to).is_some() {
            return Err(OrchestrationError::Path(format!(
                "the state already records `{to}`"
            )));
        }
        // Entries that hold a reference to it (in their dependencies or arguments).
        let mut rewrites = Vec::new();
        for e in st.iter().filter(|e| !e.key.starts_with(TASK_PREFIX)) {
            let mut data = e.data.value();
            let mut touched = false;
            for field in ["deps", "args"] {
                if let Some(v) = data.get_mut(field) {
                    touched |= rewrite_refs(v, from, to);
                }
            }
            // The ids its dependencies had, by path: a plan compares them with the state's.
            if let Some(ids) = data.get_mut(DEP_IDS).and_then(Value::as_object_mut)
                && let Some(id) = ids.remove(from)
            {
                ids.insert(to.to_owned(), id);
                touched = true;
            }
            if touched && e.status == crate::state::EntryStatus::Created {
                rewrites.push((e.key.clone(), data));
            }
        }
        j.rename(from, to)?;
        for (key, data) in rewrites {
            j.done(if &*key == from { to } else { &key }, data)?;
        }
        Ok(())
    }

    /// Adopts the existing cloud resource `id` as the model resource at `path`: its proxy reads
    /// and tags it, and the state records it as if `up` had created it.
    ///
    /// # Errors
    /// [`OrchestrationError::Path`] when the model has no resource at `path` or the state records
    /// it already, [`OrchestrationError::Model`] when no proxy handles its kind,
    /// [`OrchestrationError::Cloud`] when the proxy cannot read or tag `id`, and
    /// [`OrchestrationError::State`] when the state cannot be opened or written.
    pub async fn import(&mut self, path: &str, id: &str) -> Result<(), OrchestrationError> {
        self.journal()?;
        self.restore_outputs()?;
        let (scope, salt) = self.identity()?;
        let (at, kind, proxy, deps) = self.find_resource(path)?;
        if let Some(e) = self.journal()?.lock().state().get(path) {
            return Err(OrchestrationError::Path(format!(
                "the state already records `{path}` ({:?}): `state rm` it or import elsewhere",
                e.status
            )));
        }
        let world = self.world.clone().expect("found in the model");
        let cx = ProvisionCx::new(world.clone(), at, scope);
        let outputs = proxy
            .import(&cx, id)
            .await
            .map_err(|e| OrchestrationError::Cloud(format!("{path}: {e}")))?;
        {
            let mut g = world.lock();
            for (k, v) in &outputs {
                g.set_output(at, k, v.clone());
            }
        }
        let data = json!({
            "proxy": proxy.name(),
            "deps": deps,
            "args": recorded_args(&world, at, &salt),
            "outputs": outputs,
        });
        let journal = self.journal()?;
        let mut j = journal.lock();
        j.intent(path, kind, json!({ "proxy": proxy.name() }))
            .and_then(|()| j.done(path, data))?;
        Ok(())
    }

    /// The model resource at `path`: where it is, its kind, proxy and dependencies.
    #[allow(clippy::type_complexity)]
    fn find_resource(
        &self,
        path: &str,
    ) -> Result<
        (
            At,
            String,
            std::sync::Arc<dyn crate::provision::ProvisionerProxy>,
            Vec<String>,
        ),
        OrchestrationError,
    > {
        let model = |m: &str| OrchestrationError::Model(m.to_owned());
        let w = self
            .world
            .as_ref()
            .ok_or_else(|| model("no model was given"))?;
        let proxies = self.all_proxies();
        let g = w.lock();
        let infra = g.infra().ok_or_else(|| model("the model has no infra"))?;
        let mut known = Vec::new();
        for (n, e) in infra.leaves() {
            let at = At {
                model: infra.id,
                node: n,
            };
            let key = g.describe(at);
            if key == path {
                let p = select(&proxies, e.kind(), e.cloud(), &key)
                    .map_err(|e| OrchestrationError::Model(e.to_string()))?;
                let deps = g
                    .edges()
                    .into_iter()
                    .filter(|(_, b)| *b == at)
                    .map(|(a, _)| g.describe(a))
                    .collect();
                return Ok((at, e.kind().to_owned(), p.clone(), deps));
            }
            known.push(key);
        }
        known.sort();
        Err(OrchestrationError::Path(format!(
            "the model has no resource `{path}`; it has: {}",
            known.join(", ")
        )))
    }

    /// Everything the clouds hold tagged for this system and workspace, of any state — what a
    /// lost or damaged state left behind. Kinds are those of the model and the state.
    ///
    /// # Errors
    /// [`OrchestrationError::Cloud`] when a proxy's listing fails; the state errors of
    /// [`Self::state`].
    pub async fn discover(&mut self) -> Result<Vec<Discovered>, OrchestrationError> {
        let state = self.read_state()?;
        self.restore_outputs_from(&state);
        let (scope, _) = self.peek_identity(&state);
        let mut kinds: BTreeSet<String> = state
            .iter()
            .filter(|e| !e.key.starts_with(TASK_PREFIX))
            .map(|e| e.kind.to_string())
            .collect();
        if let Some(w) = &self.world
            && let Some(infra) = w.lock().infra()
        {
            kinds.extend(infra.leaves().map(|(_, e)| e.kind().to_owned()));
        }
        let mut found = Vec::new();
        for p in self.all_proxies() {
            let mine: Vec<&str> = kinds
                .iter()
                .map(String::as_str)
                .filter(|k| p.handles(k))
                .collect();
            if mine.is_empty() {
                continue;
            }
            found.extend(
                p.discover(&scope, &mine)
                    .await
                    .map_err(|e| OrchestrationError::Cloud(format!("proxy `{}`: {e}", p.name())))?,
            );
        }
        Ok(found)
    }

    /// Deletes what [`Self::discover`] found: each is recorded in the state first (so a crash
    /// midway leaves a state that knows the rest), then deleted, dependents first as far as the
    /// model says (proxies retry what is still in use).
    pub async fn down_discovered(&mut self, found: &[Discovered]) -> bool {
        let Ok(journal) = self.start(Phase::Teardown, RunCommand::Down) else {
            return self.finish(RunStatus::AbortDeprov);
        };
        if let Err(e) = self.identity() {
            self.fail_state(Phase::Teardown, e);
            return self.finish(RunStatus::AbortDeprov);
        }
        let proxies = self.all_proxies();
        // Dependencies between model paths, for the order of the deletes.
        let model_deps: HashMap<String, Vec<String>> = match &self.world {
            Some(w) => {
                let g = w.lock();
                let mut deps: HashMap<String, Vec<String>> = HashMap::new();
                for (a, b) in g.edges() {
                    deps.entry(g.describe(b)).or_default().push(g.describe(a));
                }
                deps
            }
            None => HashMap::new(),
        };
        let mut items = Vec::new();
        for d in found {
            let Some(proxy) = proxies.iter().find(|p| p.handles(&d.kind)).cloned() else {
                continue;
            };
            // A discovered resource whose path the state records for something else gets its own
            // key.
            let taken =
                journal.lock().state().get(&d.key).is_some_and(|e| {
                    super::plan::recorded_outputs(e).get("id") != d.outputs.get("id")
                });
            // Shared by the state's entry and the item that deletes it.
            let key: Arc<str> = if taken {
                format!(
                    "{}#discovered-{}",
                    d.key,
                    d.outputs.get("id").map_or("", String::as_str)
                )
                .into()
            } else {
                d.key.as_str().into()
            };
            let kind: Arc<str> = d.kind.as_str().into();
            let deps = model_deps.get(&d.key).cloned().unwrap_or_default();
            let data = json!({ "proxy": proxy.name(), "deps": deps, "outputs": d.outputs });
            let recorded = {
                let mut j = journal.lock();
                j.intent(key.clone(), kind.clone(), json!({ "proxy": proxy.name() }))
                    .and_then(|()| j.done(&key, data))
            };
            if let Err(e) = recorded {
                self.fail_state(Phase::Teardown, e.to_string());
                return self.finish(RunStatus::AbortDeprov);
            }
            // The proxy deletes it under its model path: the entry's key, unless that was taken.
            let old = Provisioned {
                scope: Arc::new(Scope {
                    state_id: d.state_id.clone(),
                    ..self.scope_with("")
                }),
                kind: kind.clone(),
                key: if taken {
                    d.key.as_str().into()
                } else {
                    key.clone()
                },
                outputs: d.outputs.clone(),
            };
            items.push(Item {
                key,
                kind,
                proxy,
                at: None,
                action: ResourceAction::Destroy,
                changed: Vec::new(),
                cbd: false,
                old: Some(Old::Built(Box::new(old))),
                replaces: None,
                recorded_deps: deps,
                deps: Vec::new(),
                dep_at: Vec::new(),
                protect: false,
                // Recorded as created just above.
                status: Some(EntryStatus::Created),
            });
        }
        let plan = Plan {
            items: std::sync::Arc::new(items),
            ..Plan::default()
        };
        self.status = RunStatus::PerformingDeprov;
        let ok = apply::run(self, &plan, &journal).await;
        self.finish(if ok {
            RunStatus::DeprovComplete
        } else {
            RunStatus::AbortDeprov
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_rewritten_inside_and_below_the_renamed_path() {
        let mut v =
            json!({"a": {"ref": "M.old"}, "b": [{"ref": "M.old.x"}], "c": {"ref": "M.older"}});
        assert!(rewrite_refs(&mut v, "M.old", "M.new"));
        assert_eq!(
            v,
            json!({"a": {"ref": "M.new"}, "b": [{"ref": "M.new.x"}], "c": {"ref": "M.older"}})
        );
    }
}
