//! Applying a plan's resource steps: one engine walk over creates, in-place updates, replacements
//! and deletions, each journalled around its cloud call (intent before, completion after), so a
//! crash at any point leaves a state the next plan reconciles.
//!
//! The order, as edges between steps:
//! * a resource is created or changed after what it depends on now (model edges);
//! * a resource is deleted after what depended on it when it was created (recorded edges) has
//!   been deleted, or — for a deleted or set-aside resource — has moved off it (updated or
//!   replaced);
//! * a replacement is create-then-delete (the old one set aside as `<path>#deposed`) when the
//!   resource type allows two at once, else delete-then-create — and also when an earlier
//!   replacement's old resource is still set aside (the plan decides: one `#deposed` entry per
//!   path, never written over).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use foldhash::HashMap as FastMap;
use futures::FutureExt;
use futures::future::BoxFuture;
use serde::Serialize;

use super::group_commit::{Later, Store};
use super::plan::{DEPOSED, Item, ResourceAction};
use super::{ActuatorOrchestration, JournalHandle, PhaseWalk, Plan, WalkInfo, walk_phase};
use crate::dag::{Dag, NodeId};
use crate::engine::{AttemptError, Work};
use crate::events::{Outcome, Phase};
use crate::model::args::Args;
use crate::model::build::Shared;
use crate::provision::{Outputs, ProvisionCx, Scope, WalkCx};
use crate::state::{Data, EntryStatus, Journal};

/// One cloud operation of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StepOp {
    /// Create the model resource (also the second half of a delete-first replacement).
    Create,
    /// Set the recorded resource aside and create its replacement.
    CreateReplacement,
    /// Change arguments in place.
    Update,
    /// Delete what the state records under the step's key.
    Delete,
    /// Delete the set-aside old resource of a create-first replacement.
    DeleteDeposed,
}

struct Step {
    item: usize,
    op: StepOp,
    /// A create or a deletion whose intent is recorded ahead of its step (see
    /// `record_intents_ahead`): the intent's place among those.
    intent_ahead: Option<usize>,
}

/// The walk's work. Each step's future holds one reference to it, not one to each of its parts:
/// a reference count is an atomic read-modify-write both ways, and a step is a few microseconds.
struct ApplyWork(Arc<Apply>);

struct Apply {
    scope: Arc<Scope>,
    /// What every model step's context shares, the model among it (`None` without a model).
    walk_cx: Option<Arc<WalkCx>>,
    /// Shared with the plan rather than copied.
    items: Arc<Vec<Item>>,
    steps: Vec<Step>,
    journal: JournalHandle,
    /// Where each step says what it did (the summary counts it).
    info: Arc<WalkInfo>,
    /// Per step: whether the walk started it (an intent recorded ahead for a step never started
    /// is taken back after the walk).
    started: Vec<AtomicBool>,
    /// How many of the intents recorded ahead are durable.
    intents: Arc<IntentsAhead>,
}

impl Apply {
    fn cx(&self, it: &Item) -> ProvisionCx {
        self.walk_cx()
            .at(it.at.expect("model steps have a place in the model"))
    }

    fn walk_cx(&self) -> &Arc<WalkCx> {
        self.walk_cx.as_ref().expect("model steps have a model")
    }

    fn world(&self) -> &Shared {
        self.walk_cx().world()
    }
}

/// What the state records for a created or updated resource (an entry's data, read back by
/// `plan::Recorded`): serialized straight from the arguments and outputs, with no JSON tree in
/// between, into one block of text.
#[derive(Serialize)]
struct Completion<'a> {
    proxy: &'a str,
    deps: &'a [String],
    args: &'a Args,
    outputs: OutputsView<'a>,
    protect: bool,
    /// The id each resource it depends on has now (`DEP_IDS`): a later plan that finds one
    /// replaced since moves this one too.
    #[serde(skip_serializing_if = "DepIds::is_empty")]
    dep_ids: DepIds<'a>,
}

/// Model paths and the ids they have now, sorted by path, serialized as a map: borrowed from the
/// model, where a map of copies was two allocations a dependency.
struct DepIds<'a>(Vec<(&'a str, &'a str)>);

impl DepIds<'_> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for DepIds<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// A component's outputs as the model holds them, serialized as the map they were returned as.
struct OutputsView<'a>(&'a [(Box<str>, Box<str>)]);

impl Serialize for OutputsView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (&**k, &**v)))
    }
}

/// What an intent records: enough to find the resource again after a crash.
fn intent_record(it: &Item) -> Data {
    #[derive(Serialize)]
    struct Intent<'a> {
        proxy: &'a str,
        deps: &'a [String],
    }
    Data::new(&Intent {
        proxy: it.proxy.name(),
        deps: &it.deps,
    })
    .expect("strings serialize")
}

/// Records a created or updated resource, with its outputs as the model now holds them and the id
/// each resource it depends on has now (in the model: the one its create or update set, or the
/// state recorded); a later plan that finds one replaced since moves this one too. Serialized
/// here, on the step's worker, rather than by the journal's single writer. Not waited for: its
/// intent is durable, and what depends on it waits for its own intent's sync, which covers this
/// record too. The record shares the state entry's key and kind: nothing is copied for them.
fn done(a: &Apply, item: usize, cx: &ProvisionCx, outputs: Outputs) -> Result<(), AttemptError> {
    let it = &a.items[item];
    let at = it.at.expect("model steps have a place in the model");
    // The outputs are set and the record made under one lock of the model, unless the arguments
    // read a variable: then they are resolved again once the outputs are set (a variable may
    // read them), which locks the model itself.
    let mut g = a.world().lock();
    g.set_outputs(at, outputs);
    let again;
    let args = match cx.args_resolved() {
        Some(args) => args,
        None => {
            drop(g);
            again = cx.args_to_record();
            g = a.world().lock();
            &*again
        }
    };
    let data = Data::new(&Completion {
        proxy: it.proxy.name(),
        deps: &it.deps,
        args,
        outputs: OutputsView(g.outputs_of(at)),
        protect: it.protect,
        dep_ids: {
            let mut ids: Vec<(&str, &str)> = it
                .deps
                .iter()
                .zip(&it.dep_at)
                .filter_map(|(d, &at)| Some((d.as_str(), g.output(at, "id")?)))
                .collect();
            ids.sort_unstable();
            ids.dedup_by_key(|(d, _)| *d);
            DepIds(ids)
        },
    })
    .expect("arguments and outputs serialize");
    drop(g);
    a.journal.record_later(Later::Done(it.key.clone(), data));
    Ok(())
}

/// The state's key for what a deletion step deletes: the item's, or its set-aside old resource's.
fn state_key(it: &Item, deposed: bool) -> Arc<str> {
    if deposed {
        format!("{}{DEPOSED}", it.key).into()
    } else {
        it.key.clone()
    }
}

impl Work for ApplyWork {
    fn run(&self, node: NodeId, _attempt: u32) -> BoxFuture<'static, Result<(), AttemptError>> {
        let a = self.0.clone();
        let step = &a.steps[node.index()];
        a.started[node.index()].store(true, Ordering::Relaxed);
        let (item, op, ahead) = (step.item, step.op, step.intent_ahead);
        let it = &a.items[item];
        // What the step did when it succeeds (a delete finding nothing to do says so itself).
        let outcome = match (op, it.action) {
            (StepOp::Create, ResourceAction::Replace) | (StepOp::CreateReplacement, _) => {
                Outcome::Replaced
            }
            (StepOp::Create, _) => Outcome::Created,
            (StepOp::Update, _) => Outcome::Updated,
            (StepOp::Delete, ResourceAction::Replace) | (StepOp::DeleteDeposed, _) => {
                Outcome::ReplacedOld
            }
            // Something set aside by an earlier, interrupted replacement.
            (StepOp::Delete, _) if it.key.ends_with(DEPOSED) => Outcome::ReplacedOld,
            (StepOp::Delete, _) => Outcome::Destroyed,
        };
        a.info.set_outcome(node, outcome);
        match op {
            StepOp::Create | StepOp::CreateReplacement => {
                let mut cx = a.cx(it);
                if let Some(old) = it.replaces.clone() {
                    cx = cx.replacing(*old);
                }
                let intent = ahead.is_none().then(|| intent_record(it));
                async move {
                    let it = &a.items[item];
                    let key = &it.key;
                    if let Some(i) = ahead {
                        a.intents.durable(i).await?;
                    }
                    if op == StepOp::CreateReplacement {
                        let (k, d) = (key.clone(), format!("{key}{DEPOSED}"));
                        a.journal.record(move |j| j.rename(&k, &d)).await?;
                    }
                    if let Some(intent) = intent {
                        let (k, kind) = (key.clone(), it.kind.clone());
                        a.journal.record(move |j| j.intent(k, kind, intent)).await?;
                    }
                    match it.proxy.provision(&cx).await {
                        Ok(outputs) => done(&a, item, &cx, outputs),
                        Err(e) => fail(&a.journal, key, e).await,
                    }
                }
                .boxed()
            }
            StepOp::Update => {
                let cx = a.cx(it);
                async move {
                    let it = &a.items[item];
                    let k = it.key.clone();
                    a.journal.record(move |j| j.updating(&k)).await?;
                    let old = it
                        .recorded(&a.scope, &it.key)
                        .expect("an update has a recorded resource");
                    match it.proxy.update(&cx, &old, &it.changed).await {
                        Ok(outputs) => done(&a, item, &cx, outputs),
                        Err(e) => fail(&a.journal, &it.key, e).await,
                    }
                }
                .boxed()
            }
            StepOp::Delete | StepOp::DeleteDeposed => {
                let deposed = op == StepOp::DeleteDeposed;
                async move {
                    // The proxy gets the resource under its model path (a set-aside entry's is
                    // `<path>#deposed`), built here from the state's entry or lent by the plan.
                    let it = &a.items[item];
                    if let Some(i) = ahead {
                        a.intents.durable(i).await?;
                    }
                    let rec = it
                        .recorded(&a.scope, it.key.strip_suffix(DEPOSED).unwrap_or(&it.key))
                        .expect("a deletion has a recorded resource");
                    // Only what the state still records is deleted: after a crash the entry may
                    // be gone already (a finished delete) or renamed (a replacement set aside).
                    // Looked up by the journal's writer as it records the intent, not under the
                    // journal's lock here: the writer holds that lock while it syncs, and a
                    // worker blocked on it stalls every step on the same thread.
                    if ahead.is_none() {
                        let exists = Arc::new(AtomicBool::new(false));
                        let (k, found) = (state_key(it, deposed), exists.clone());
                        a.journal
                            .record(move |j| {
                                if j.state().get(&k).is_none() {
                                    return Ok(());
                                }
                                found.store(true, Ordering::Relaxed);
                                j.undo_intent(&k)
                            })
                            .await?;
                        if !exists.load(Ordering::Relaxed) {
                            a.info.set_outcome(node, Outcome::Nothing);
                            return Ok(());
                        }
                    }
                    match it.proxy.deprovision(&rec).await {
                        Ok(()) => {
                            a.journal
                                .record_later(Later::Undone(state_key(it, deposed)));
                            Ok(())
                        }
                        Err(e) => fail(&a.journal, &state_key(it, deposed), e).await,
                    }
                }
                .boxed()
            }
        }
    }

    fn limit_keys(&self, node: NodeId) -> Vec<String> {
        let it = &self.0.items[self.0.steps[node.index()].item];
        it.proxy.limit_keys(&it.kind)
    }
}

async fn fail(journal: &JournalHandle, key: &str, e: AttemptError) -> Result<(), AttemptError> {
    let (k, msg) = (key.to_owned(), e.message.clone());
    let _ = journal.record(move |j| j.failed(&k, &msg)).await;
    Err(e.context(key))
}

/// Steps and edges for a plan's resource items that change (`changed`, indices into `items`). An
/// unchanged item gets no step: an edge to or from it would be satisfied from the start (it is
/// done already), so leaving it out of the walk orders nothing differently, and a 1% change of a
/// large system walks (and indexes) 1% of it.
fn build(items: &[Item], changed: &[usize]) -> (Vec<Step>, Dag) {
    let mut steps: Vec<Step> = Vec::new();
    // Per item: the step that brings it into its new state, and the step that deletes what the
    // state records for it.
    let mut apply_of: Vec<Option<usize>> = vec![None; items.len()];
    let mut delete_of: Vec<Option<usize>> = vec![None; items.len()];
    let push = |steps: &mut Vec<Step>, item: usize, op: StepOp| {
        steps.push(Step {
            item,
            op,
            intent_ahead: None,
        });
        steps.len() - 1
    };
    for &i in changed {
        let it = &items[i];
        match it.action {
            ResourceAction::Create => apply_of[i] = Some(push(&mut steps, i, StepOp::Create)),
            ResourceAction::Update => apply_of[i] = Some(push(&mut steps, i, StepOp::Update)),
            ResourceAction::Unchanged => {}
            ResourceAction::Destroy => delete_of[i] = Some(push(&mut steps, i, StepOp::Delete)),
            ResourceAction::Replace if it.cbd => {
                apply_of[i] = Some(push(&mut steps, i, StepOp::CreateReplacement));
                delete_of[i] = Some(push(&mut steps, i, StepOp::DeleteDeposed));
            }
            ResourceAction::Replace => {
                delete_of[i] = Some(push(&mut steps, i, StepOp::Delete));
                apply_of[i] = Some(push(&mut steps, i, StepOp::Create));
            }
        }
    }
    let mut dag = Dag::new(steps.len());
    let edge = |dag: &mut Dag, a: Option<usize>, b: Option<usize>| {
        if let (Some(a), Some(b)) = (a, b) {
            dag.add_edge(NodeId(a as u32), NodeId(b as u32));
        }
    };
    // Looked up only for dependencies and set-aside resources: a plan of independent creates (a
    // flat model's first `up`) hashes no key.
    let looked_up = changed
        .iter()
        .any(|&i| !items[i].deps.is_empty() || items[i].key.ends_with(DEPOSED));
    let mut by_key: FastMap<&str, usize> = FastMap::default();
    if looked_up {
        by_key.reserve(changed.len());
        by_key.extend(
            changed
                .iter()
                .filter(|&&i| items[i].at.is_some())
                .map(|&i| (&*items[i].key, i)),
        );
    }
    let mut dependents = Dependents::with_capacity(changed.len());
    for &i in changed {
        let it = &items[i];
        for d in &it.recorded_deps {
            dependents.add(d, i);
        }
        for d in &it.deps {
            if let Some(&j) = by_key.get(d.as_str()) {
                edge(&mut dag, apply_of[j], apply_of[i]);
            }
        }
    }
    for &i in changed {
        let it = &items[i];
        let Some(del) = delete_of[i] else { continue };
        match it.action {
            ResourceAction::Replace if !it.cbd => edge(&mut dag, Some(del), apply_of[i]),
            ResourceAction::Replace => edge(&mut dag, apply_of[i], Some(del)),
            _ => {
                // A set-aside resource goes after its replacement exists.
                if let Some(base) = it.key.strip_suffix(DEPOSED)
                    && let Some(&j) = by_key.get(base)
                {
                    edge(&mut dag, apply_of[j], Some(del));
                }
            }
        }
        let path = it.key.strip_suffix(DEPOSED).unwrap_or(&it.key);
        for d in dependents.of(path) {
            if d == i {
                continue;
            }
            if delete_of[d].is_some()
                && !(items[d].action == ResourceAction::Replace && items[d].cbd)
            {
                // A dependent that is deleted (or deleted first) goes before.
                edge(&mut dag, delete_of[d], Some(del));
            } else if it.action != ResourceAction::Replace || it.cbd {
                // Deleting something set aside or removed: its dependents move off it first.
                edge(&mut dag, apply_of[d], Some(del));
                if items[d].action == ResourceAction::Replace {
                    edge(&mut dag, delete_of[d], Some(del));
                }
            }
        }
    }
    (steps, dag)
}

/// Model paths to the items that recorded a dependency on them, in the order added: one list of
/// links for all the paths, where a list per path was an allocation for every path a large
/// teardown deletes.
struct Dependents<'a> {
    /// Per path: its first and last link.
    ends: FastMap<&'a str, (usize, usize)>,
    /// An item, and the next link of its path's list (`usize::MAX`: the last).
    links: Vec<(usize, usize)>,
}

impl<'a> Dependents<'a> {
    fn with_capacity(n: usize) -> Self {
        let mut ends = FastMap::default();
        ends.reserve(n);
        Dependents {
            ends,
            links: Vec::with_capacity(n),
        }
    }

    fn add(&mut self, path: &'a str, item: usize) {
        let link = self.links.len();
        self.links.push((item, usize::MAX));
        match self.ends.entry(path) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let (_, last) = e.get_mut();
                self.links[*last].1 = link;
                *last = link;
            }
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((link, link));
            }
        }
    }

    fn of(&self, path: &str) -> impl Iterator<Item = usize> + '_ {
        let mut next = self.ends.get(path).map_or(usize::MAX, |&(first, _)| first);
        std::iter::from_fn(move || {
            let (item, after) = *self.links.get(next)?;
            next = after;
            Some(item)
        })
    }
}

/// Applies the resource part of `plan`. Returns whether every step succeeded.
pub(super) async fn run(
    o: &mut ActuatorOrchestration,
    plan: &Plan,
    journal: &JournalHandle,
) -> bool {
    // Only what changes is walked (see `build`); the items are shared with the plan, not copied.
    let items = plan.items.clone();
    let changed: Vec<usize> = (0..items.len())
        .filter(|&i| items[i].action != ResourceAction::Unchanged)
        .collect();
    // Before the intents: it reads the journal, which the writer holds while it writes them.
    let (scope, salt) = match o.identity() {
        Ok(id) => id,
        Err(e) => {
            o.fail_state(Phase::Provision, e);
            return false;
        }
    };
    // The intents go to the writer first, and the walk is built while it appends and syncs them.
    let (ahead, mut parts) = record_intents_ahead(&items, &changed, journal);
    let (mut steps, dag) = build(&items, &changed);
    for step in &mut steps {
        step.intent_ahead = ahead[step.item];
    }
    if let Some(w) = &o.world {
        let sets = steps.iter().filter(|s| {
            matches!(
                s.op,
                StepOp::Create | StepOp::CreateReplacement | StepOp::Update
            )
        });
        w.lock().reserve_outputs(sets.count());
    }
    let names: Vec<Arc<str>> = steps
        .iter()
        .map(|s| state_key(&items[s.item], s.op == StepOp::DeleteDeposed))
        .collect();
    let mut limits = HashMap::new();
    for p in o.all_proxies() {
        limits.extend(p.limits());
    }
    let info = Arc::new(WalkInfo::new(steps.len()));
    let started = steps.iter().map(|_| AtomicBool::new(false)).collect();
    // The walk starts once the first part of the intents is durable; a task follows the rest,
    // and a step whose intent is in a part not yet durable waits for it.
    let intents = Arc::new(IntentsAhead::default());
    if !parts.is_empty() {
        let (end, first) = parts.remove(0);
        if let Err(e) = first.await {
            o.fail_state(Phase::Provision, e.message);
            return false;
        }
        intents.advance(end);
    }
    let rest = tokio::spawn({
        let intents = intents.clone();
        async move {
            for (end, part) in parts {
                match part.await {
                    Ok(()) => intents.advance(end),
                    Err(e) => return intents.fail(e),
                }
            }
        }
    });
    let scope = Arc::new(scope);
    let work = Arc::new(Apply {
        intents,
        walk_cx: o
            .world
            .clone()
            .map(|w| WalkCx::new(w, scope.clone(), Some(salt.into()))),
        scope,
        items,
        steps,
        journal: journal.clone(),
        info: info.clone(),
        started,
    });
    let phase = if plan
        .items
        .iter()
        .all(|i| i.action == ResourceAction::Destroy)
        && !plan.items.is_empty()
    {
        Phase::Teardown
    } else {
        Phase::Provision
    };
    let ok = walk_phase(
        o,
        PhaseWalk {
            phase,
            dag,
            names: Arc::new(names),
            work: Arc::new(ApplyWork(work.clone())),
            limits,
            done: HashSet::new(),
            quiet: Vec::new(),
            info,
            outcome: Outcome::Nothing,
        },
    )
    .await;
    // Every part is written before any intent is taken back (the flush came after them).
    let _ = rest.await;
    match take_back_unstarted(&work).await {
        Ok(()) => ok,
        Err(e) => {
            // A journal that failed already said so once, at the walk's flush.
            if !o.failures.iter().any(|f| f.error == e.message) {
                o.fail_state(phase, e.message);
            }
            false
        }
    }
}

/// Hands the writer, to record in a few syncs as the walk starts, the intents of the items whose
/// steps' outcome after a crash the next run can settle without them having been at their step;
/// returns, per item, its intent's place among them, and per part (each synced in turn) how
/// many are durable once its future is ready. Such a step then makes its cloud call without
/// waiting for the disk, so a chain of dependent steps goes at the cloud's pace, not the disk's
/// (one sync per step otherwise), and the walk need not wait for all the intents of a large
/// plan before its first step. They are:
/// * creates of resources the state has no entry for. A crash leaves these intents as it leaves
///   any other — the next run looks for each resource before creating it;
/// * deletions of created resources that the model no longer has or `down` removes. A crash
///   leaves them "deleting (interrupted)": the next `down` deletes them (deleting what is gone
///   succeeds), and an `up` that wants one back replaces it, as it would a delete that was sent.
///   That costs an `up` after a killed `down` a replacement of what the `down` had not reached
///   yet; a per-step intent would cost every level of a chain of deletions a sync.
///
/// Each such item has one step (a create or a delete). The intents of steps the walk never starts
/// (a failure upstream, Ctrl-C) are taken back after it. An entry in doubt, drift or a
/// replacement keeps its intent at its step.
///
/// They are recorded in the plan's order, which lists the model's resources dependencies first,
/// so the state's order stays a dependency order (see [`State`]).
fn record_intents_ahead(
    items: &Arc<Vec<Item>>,
    changed: &[usize],
    journal: &JournalHandle,
) -> (Vec<Option<usize>>, Vec<Part>) {
    let mut ahead = vec![None; items.len()];
    let mut intents = Vec::new();
    // The members of a keyed container mostly share their proxy and dependencies, and so the
    // data of their intents: one value serves all of them (each is built only once).
    let mut shared: FastMap<(&str, &[String]), Data> = FastMap::default();
    // Decided from the entries' status the plan saw, which is the state's now (a plan is applied
    // only to the state it was made from): no look-up of each in the journal.
    for &i in changed {
        let it = &items[i];
        let intent = match (it.action, it.status) {
            (ResourceAction::Create, None) => {
                let data = shared
                    .entry((it.proxy.name(), &it.deps))
                    .or_insert_with(|| intent_record(it));
                Ahead::Create(i, data.clone())
            }
            (ResourceAction::Destroy, Some(EntryStatus::Created)) => Ahead::Delete(i),
            _ => continue,
        };
        ahead[i] = Some(intents.len());
        intents.push(intent);
    }
    // In parts, each synced in turn, growing (see `FIRST_PART`); `ends`: how many are durable
    // once each is.
    let (mut ends, mut ops) = (Vec::new(), Vec::new());
    let mut rest = intents.into_iter();
    let (mut end, mut size) = (0, FIRST_PART);
    while rest.len() > 0 {
        let part: Vec<Ahead> = rest.by_ref().take(size).collect();
        size *= 2;
        end += part.len();
        // The records (and so the state's entries) share the items' keys and kinds.
        let items = items.clone();
        let op = move |j: &mut Journal<Store>| {
            let new = part
                .iter()
                .filter(|a| matches!(a, Ahead::Create(..)))
                .count();
            j.reserve(new, part.len());
            part.into_iter().try_for_each(|a| match a {
                Ahead::Create(i, data) => {
                    j.intent(items[i].key.clone(), items[i].kind.clone(), data)
                }
                Ahead::Delete(i) => j.undo_intent(&items[i].key),
            })
        };
        ends.push(end);
        ops.push(op);
    }
    let recorded = journal.record_in_turn(ops).into_iter().map(|r| r.boxed());
    (ahead, ends.into_iter().zip(recorded).collect())
}

/// A part of the intents recorded ahead: how many are durable once its record is.
type Part = (usize, BoxFuture<'static, Result<(), AttemptError>>);

/// The intents recorded ahead before the walk starts (about as long to write as the walk takes to
/// build); each later part is twice the one before: the walk's steps go through a part in about
/// the time the writer takes for one twice as large, so they seldom find their intent not yet
/// durable (and a step that does waits for it), and a large plan's intents take a few syncs.
const FIRST_PART: usize = 4096;

/// How far the intents recorded ahead are durable, in the order they were recorded.
#[derive(Default)]
struct IntentsAhead {
    durable: std::sync::atomic::AtomicUsize,
    /// Why the rest will never be.
    failed: std::sync::OnceLock<AttemptError>,
    moved: tokio::sync::Notify,
}

impl IntentsAhead {
    /// Returns once intent `i` is durable: at once, mostly.
    async fn durable(&self, i: usize) -> Result<(), AttemptError> {
        if self.durable.load(Ordering::Acquire) > i {
            return Ok(());
        }
        loop {
            let moved = self.moved.notified();
            let mut moved = std::pin::pin!(moved);
            moved.as_mut().enable();
            if self.durable.load(Ordering::Acquire) > i {
                return Ok(());
            }
            if let Some(e) = self.failed.get() {
                return Err(e.clone());
            }
            moved.await;
        }
    }

    /// The first `end` intents are durable.
    fn advance(&self, end: usize) {
        self.durable.store(end, Ordering::Release);
        self.moved.notify_waiters();
    }

    /// The rest never will be.
    fn fail(&self, e: AttemptError) {
        let _ = self.failed.set(e);
        self.moved.notify_waiters();
    }
}

/// An intent recorded ahead of the walk: the item it is for, and a create's data.
enum Ahead {
    Create(usize, Data),
    Delete(usize),
}

/// Takes back the intents recorded ahead for steps the walk did not start, since nothing was
/// asked of the cloud for them: a create's entry is forgotten, a deletion's is created again.
async fn take_back_unstarted(work: &Apply) -> Result<(), AttemptError> {
    let steps: Vec<(Arc<str>, StepOp)> = work
        .steps
        .iter()
        .zip(&work.started)
        .filter(|(step, started)| step.intent_ahead.is_some() && !started.load(Ordering::Relaxed))
        .map(|(step, _)| (work.items[step.item].key.clone(), step.op))
        .collect();
    if steps.is_empty() {
        return Ok(());
    }
    work.journal
        .record(move |j| {
            steps.iter().try_for_each(|(k, op)| {
                let status = j.state().get(k).map(|e| e.status);
                match (op, status) {
                    (StepOp::Create, Some(EntryStatus::Creating)) => j.forget(k),
                    (StepOp::Delete, Some(EntryStatus::Deleting)) => j.undo_intent_taken_back(k),
                    _ => Ok(()),
                }
            })
        })
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Whether `f` is still waiting after a moment.
    async fn waits<T>(f: &mut tokio::task::JoinHandle<T>) -> bool {
        tokio::time::timeout(Duration::from_millis(20), f)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn a_step_waits_for_the_part_that_holds_its_intent() {
        let ahead = Arc::new(IntentsAhead::default());
        ahead.advance(2);
        ahead.durable(1).await.unwrap();
        let wait_for = |i| {
            let ahead = ahead.clone();
            tokio::spawn(async move { ahead.durable(i).await })
        };
        let mut fifth = wait_for(4);
        assert!(waits(&mut fifth).await);
        ahead.advance(4);
        assert!(waits(&mut fifth).await, "intents 0-3 are durable, not 4");
        ahead.advance(8);
        assert_eq!(fifth.await.unwrap(), Ok(()));
        let mut tenth = wait_for(9);
        assert!(waits(&mut tenth).await);
        ahead.fail(AttemptError::fatal(
            "state journal: no space left on device",
        ));
        assert_eq!(
            tenth.await.unwrap().unwrap_err().message,
            "state journal: no space left on device"
        );
        // What was durable stays so.
        ahead.durable(7).await.unwrap();
    }
}
