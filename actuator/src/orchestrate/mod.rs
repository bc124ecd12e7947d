//! `ActuatorOrchestration`: provisions an infra model, configures the namespace's hosts with the
//! config model's tasks, and tears it all down again — journalling every step so that `up` again
//! resumes and `down` works from the state alone, in a new process.
//!
//! ```
//! use std::sync::Arc;
//! use actuator::prelude::*;
//! use actuator::orchestrate::ActuatorOrchestration;
//! use actuator::provision::SimProxy;
//! use actuator::infra::test::{Network, Server};
//!
//! #[derive(InfraModel)]
//! struct Small {
//!     #[component(Network::new("net"))]
//!     net: Network,
//!     #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
//!     web: Server,
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let infra = Small::instance("small");
//! let sim = Arc::new(SimProxy::default());
//! let mut orch = ActuatorOrchestration::new("doc-small")
//!     .infra(&infra)
//!     .proxy(sim.clone())
//!     .memory_state();
//! assert!(orch.initiate_system().await);
//! assert_eq!(sim.live().len(), 2);
//! assert!(orch.teardown_system().await);
//! assert!(sim.live().is_empty());
//! # });
//! ```

mod apply;
mod config_phase;
mod journal;
mod plan;
mod refresh;
mod state_ops;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigModel, TaskGraph};
use crate::engine::{AttemptError, Limit, NodeId, Observer, RetryPolicy};
use crate::events::{Event, EventHandler, Phase, Status, TracingHandler};
use crate::exec::{ExecAgent, LocalAgent};
use crate::model::build::Shared;
use crate::model::{Instance, Model};
use crate::namespace::{NamespaceModel, RoleReport};
use crate::provision::{self, ProvisionerProxy, Scope, StaticProxy};
use crate::state::{FileStore, Journal, MemoryStore, StateStore};

pub use plan::{
    Action, ArgChange, GraphFormat, PLAN_SCHEMA, Plan, PlanError, PlanOptions, ResourceChange,
    Summary, TaskAction, TaskChange, Unresolved,
};

use journal::JournalHandle;
type GraphFn = Arc<dyn Fn() -> TaskGraph + Send + Sync>;
type ReportFn = Arc<dyn Fn() -> Vec<RoleReport> + Send + Sync>;

/// What kind of thing went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A resource or task was tried and failed.
    Run,
    /// The model cannot run as given (no proxy for a resource, an unresolved variable, a cycle, a
    /// proxy the state needs but the run lacks); found before anything was tried.
    Model,
    /// The state cannot be read or is locked by another process.
    State,
}

/// A failure of one resource or task, as reported at the end of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// Which phase.
    pub phase: Phase,
    /// What kind of failure.
    pub kind: FailureKind,
    /// The resource's model path or the task's name.
    pub task: String,
    /// What went wrong.
    pub error: String,
}

enum StateChoice {
    Default,
    Dir(PathBuf),
    Memory,
}

/// Tunables of a run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Most resources / tasks in flight at once (Terraform's default is 10).
    pub max_concurrency: usize,
    /// Retries for errors a proxy classifies as retryable.
    pub retry: RetryPolicy,
    /// Most tasks at once on one host.
    pub per_host: usize,
    /// Wait between provisioning and configuration (hosts finishing their boot).
    pub post_prov_pause: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_concurrency: 10,
            retry: RetryPolicy::default(),
            per_host: 8,
            post_prov_pause: Duration::ZERO,
        }
    }
}

/// Orchestrates a system: any subset of an infra, a namespace and a config model, plus the proxies
/// that provision the infra's resources.
pub struct ActuatorOrchestration {
    system: String,
    workspace: String,
    world: Option<Shared>,
    graph: Option<GraphFn>,
    report: Option<ReportFn>,
    proxies: Vec<Arc<dyn ProvisionerProxy>>,
    agent: Arc<dyn ExecAgent>,
    handler: Arc<dyn EventHandler>,
    state: StateChoice,
    journal: Option<JournalHandle>,
    options: Options,
    status: Status,
    failures: Vec<Failure>,
    cancel: CancellationToken,
}

impl ActuatorOrchestration {
    /// An orchestration of system `system` (the name keys its state:
    /// `.actuator/<system>/<workspace>/`).
    pub fn new(system: impl Into<String>) -> Self {
        ActuatorOrchestration {
            system: system.into(),
            workspace: DEFAULT_WORKSPACE.into(),
            world: None,
            graph: None,
            report: None,
            proxies: Vec::new(),
            agent: Arc::new(LocalAgent::default()),
            handler: Arc::new(TracingHandler),
            state: StateChoice::Default,
            journal: None,
            options: Options::default(),
            status: Status::NotStarted,
            failures: Vec::new(),
            cancel: CancellationToken::new(),
        }
    }

    fn attach(&mut self, w: &Shared) {
        if let Some(mine) = &self.world {
            assert!(
                Arc::ptr_eq(mine, w),
                "the models given to one orchestration must belong to one system (create the namespace from the infra, the config from the namespace)"
            );
        }
        self.world = Some(w.clone());
    }

    /// The infra model to provision.
    pub fn infra<M: Model>(mut self, infra: &Instance<M>) -> Self {
        self.attach(infra.world());
        self
    }

    /// The namespace model (its roles' hosts and variables).
    pub fn namespace<N: NamespaceModel>(mut self, ns: &Instance<N>) -> Self {
        self.attach(ns.world());
        let ns = ns.clone();
        self.report = Some(Arc::new(move || ns.report()));
        self
    }

    /// The config model whose tasks run after provisioning.
    pub fn config<C: ConfigModel>(mut self, cfg: &Instance<C>) -> Self {
        self.attach(cfg.world());
        let cfg = cfg.clone();
        self.graph = Some(Arc::new(move || cfg.graph()));
        self
    }

    /// Adds a provisioner proxy.
    pub fn proxy(mut self, p: Arc<dyn ProvisionerProxy>) -> Self {
        self.proxies.push(p);
        self
    }

    /// The agent that runs config tasks (default: [`LocalAgent`]; `actuator_ssh::SshAgent` for
    /// remote hosts).
    pub fn agent(mut self, a: Arc<dyn ExecAgent>) -> Self {
        self.agent = a;
        self
    }

    /// Where events go (default: `tracing` logs).
    pub fn handler(mut self, h: Arc<dyn EventHandler>) -> Self {
        self.handler = h;
        self
    }

    /// The workspace (environment) to run: each workspace of a system has its own state and its
    /// own resources, tagged with its name, so several run side by side in one account.
    pub fn workspace(mut self, name: impl Into<String>) -> Self {
        self.workspace = name.into();
        self
    }

    /// The workspace name.
    pub fn workspace_name(&self) -> &str {
        &self.workspace
    }

    /// Keeps the state in `dir` instead of `.actuator/<system>/<workspace>/`.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state = StateChoice::Dir(dir.into());
        self
    }

    /// Keeps the state in memory only (tests; nothing survives the process).
    pub fn memory_state(mut self) -> Self {
        self.state = StateChoice::Memory;
        self
    }

    /// Replaces the run options.
    pub fn options(mut self, o: Options) -> Self {
        self.options = o;
        self
    }

    /// Sets the global concurrency limit.
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.options.max_concurrency = n.max(1);
        self
    }

    /// The current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The failures of the last run, all of them.
    pub fn failures(&self) -> &[Failure] {
        &self.failures
    }

    /// The system name.
    pub fn system(&self) -> &str {
        &self.system
    }

    /// A token that stops the run: no new work starts, work in flight finishes, and the state keeps
    /// a record to resume from (the CLI cancels it on Ctrl-C).
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// The state as journalled so far.
    pub fn state(&mut self) -> Result<crate::state::State, String> {
        let j = self.journal()?;
        let g = j.lock();
        Ok(g.state().clone())
    }

    /// Starts a run: no failures yet, a fresh token if the last run was cancelled, the starting
    /// event, and the journal (a state that cannot be opened is the run's one failure).
    fn start(&mut self, phase: Phase) -> Result<JournalHandle, ()> {
        self.failures.clear();
        if self.cancel.is_cancelled() {
            self.cancel = CancellationToken::new();
        }
        self.emit(Event::OrchestrationStarting {
            system: self.system.clone(),
        });
        self.journal().map_err(|error| {
            self.failures.push(Failure {
                kind: FailureKind::State,
                phase,
                task: "state".into(),
                error,
            })
        })
    }

    fn emit(&self, e: Event) {
        self.handler.event(&e);
    }

    fn journal(&mut self) -> Result<JournalHandle, String> {
        if let Some(j) = &self.journal {
            return Ok(j.clone());
        }
        let store: Box<dyn StateStore + Send> = match &self.state {
            StateChoice::Default => Box::new(
                FileStore::for_workspace(&self.system, &self.workspace)
                    .map_err(|e| e.to_string())?,
            ),
            StateChoice::Dir(d) => Box::new(FileStore::open(d.clone()).map_err(|e| e.to_string())?),
            StateChoice::Memory => Box::new(MemoryStore::new()),
        };
        let journal = Journal::open(store).map_err(|e| e.to_string())?;
        // A state belongs to one system and workspace: pointing `--state` at another's is refused.
        for (name, mine) in [("system", &self.system), ("workspace", &self.workspace)] {
            if let Some(theirs) = journal.state().meta().get(name)
                && theirs != mine
            {
                return Err(format!(
                    "this state belongs to {name} `{theirs}`, not `{mine}`; choose its own state \
                     (--state, --workspace)"
                ));
            }
        }
        let j = JournalHandle::new(journal);
        self.journal = Some(j.clone());
        Ok(j)
    }

    /// Whose resources these are, and the salt for hashing secret arguments: from the state, or
    /// made now (and recorded) for a state that has none yet.
    fn identity(&mut self) -> Result<(Scope, String), String> {
        let journal = self.journal()?;
        let mut j = journal.lock();
        let meta = j.state().meta();
        if let (Some(id), Some(salt)) = (meta.get("state_id"), meta.get("salt")) {
            return Ok((self.scope_with(id), salt.clone()));
        }
        let (id, salt) = (random_hex(), random_hex());
        for (k, v) in [
            ("system", self.system.as_str()),
            ("workspace", self.workspace.as_str()),
            ("state_id", id.as_str()),
            ("salt", salt.as_str()),
        ] {
            j.set_meta(k, Some(v)).map_err(|e| e.to_string())?;
        }
        Ok((self.scope_with(&id), salt))
    }

    /// The identity as far as the state knows it, without recording one (plans write nothing).
    fn peek_identity(&mut self) -> Result<(Scope, String), String> {
        let journal = self.journal()?;
        let j = journal.lock();
        let meta = j.state().meta();
        Ok((
            self.scope_with(meta.get("state_id").map_or("(new)", String::as_str)),
            meta.get("salt").cloned().unwrap_or_default(),
        ))
    }

    fn scope_with(&self, state_id: &str) -> Scope {
        Scope {
            system: self.system.clone(),
            workspace: self.workspace.clone(),
            state_id: state_id.to_owned(),
        }
    }

    fn fail_state(&mut self, phase: Phase, error: String) {
        self.failures.push(Failure {
            kind: FailureKind::State,
            phase,
            task: "state".into(),
            error,
        });
    }

    /// Puts the outputs the state records back into the model, so that what reads them (variables,
    /// arguments, `plan`, `report`) sees a previous run's ids and addresses, in this process or a
    /// new one.
    fn restore_outputs(&mut self) -> Result<(), String> {
        let journal = self.journal()?;
        let j = journal.lock();
        let outputs: HashMap<&str, provision::Outputs> = j
            .state()
            .iter()
            .filter(|e| e.status == crate::state::Status::Created)
            .map(|e| (e.key.as_str(), plan::recorded_outputs(&e.data)))
            .collect();
        self.set_outputs_by_key(|key| outputs.get(key).cloned());
        Ok(())
    }

    /// Puts what a refresh read into the model.
    fn set_observed_outputs(&self, observed: &HashMap<String, provision::Observed>) {
        self.set_outputs_by_key(|key| match observed.get(key) {
            Some(provision::Observed::Exists(o)) => Some(o.clone()),
            _ => None,
        });
    }

    fn set_outputs_by_key(&self, outputs_of: impl Fn(&str) -> Option<provision::Outputs>) {
        let Some(w) = &self.world else { return };
        let mut g = w.lock();
        let Some(infra) = g.infra() else { return };
        let id = infra.id;
        let leaves: Vec<crate::model::At> = infra
            .leaves()
            .map(|(n, _)| crate::model::At { model: id, node: n })
            .collect();
        for at in leaves {
            let key = g.describe(at);
            if let Some(outs) = outputs_of(&key) {
                for (k, v) in outs {
                    g.set_output(at, &k, v);
                }
            }
        }
    }

    /// The log targets any of the proxies asks to keep at INFO or above
    /// ([`ProvisionerProxy::secret_log_targets`]).
    pub fn secret_log_targets(&self) -> Vec<&'static str> {
        let mut t: Vec<_> = self
            .proxies
            .iter()
            .flat_map(|p| p.secret_log_targets())
            .copied()
            .collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    fn all_proxies(&self) -> Vec<Arc<dyn ProvisionerProxy>> {
        let mut p = self.proxies.clone();
        if !p.iter().any(|p| p.handles("static.Server")) {
            p.push(Arc::new(StaticProxy::default()));
        }
        p
    }

    fn finish(&mut self, status: Status) -> bool {
        self.status = status;
        let success = matches!(status, Status::Complete | Status::DeprovComplete);
        for f in &self.failures {
            tracing::error!(phase = ?f.phase, task = %f.task, error = %f.error, "failed");
        }
        if let Some(j) = &self.journal {
            let mut g = j.lock();
            let _ = g.set_meta("status", Some(&format!("{status:?}")));
        }
        self.emit(Event::OrchestrationFinished {
            system: self.system.clone(),
            status,
            success,
        });
        success
    }

    /// What `up` (or, with [`PlanOptions::destroy`], `down`) would do: the diff between the model,
    /// the state and — with [`PlanOptions::refresh`] — the cloud. Writes nothing; a refresh only
    /// reads.
    pub async fn plan_with(&mut self, opts: &PlanOptions) -> Result<Plan, String> {
        self.restore_outputs()?;
        let (scope, salt) = self.peek_identity()?;
        let observed = if opts.refresh {
            refresh::read_all(self, &scope, false).await?
        } else {
            HashMap::new()
        };
        let journal = self.journal()?;
        let state = journal.lock().state().clone();
        self.diff(&state, &scope, &salt, &observed, opts)
    }

    /// What `up` would do, from the state alone (no refresh).
    pub fn plan(&mut self) -> Result<Plan, String> {
        self.restore_outputs()?;
        let (scope, salt) = self.peek_identity()?;
        let journal = self.journal()?;
        let state = journal.lock().state().clone();
        self.diff(
            &state,
            &scope,
            &salt,
            &HashMap::new(),
            &PlanOptions::default(),
        )
    }

    /// The variable report of the namespace, if one was given, with the outputs the state records
    /// (so variables reading a previous run's addresses resolve).
    pub fn report(&mut self) -> Option<Vec<crate::namespace::RoleReport>> {
        if let Err(e) = self.restore_outputs() {
            tracing::warn!(error = %e, "the report shows no provisioned outputs");
        }
        self.report.as_ref().map(|r| r())
    }

    /// Reads every resource the state records from its cloud and records what changed: outputs
    /// that moved, resources that are gone (forgotten, so the next `up` creates them again).
    pub async fn refresh(&mut self) -> bool {
        let journal = match self.start(Phase::Refresh) {
            Ok(j) => j,
            Err(()) => return self.finish(Status::AbortProvision),
        };
        let result = match self.identity() {
            Ok((scope, _)) => refresh::read_all(self, &scope, true).await,
            Err(e) => Err(e),
        };
        drop(journal);
        match result {
            Ok(_) => self.finish(Status::Complete),
            Err(e) => {
                self.fail_state(Phase::Refresh, e);
                self.finish(Status::AbortProvision)
            }
        }
    }

    /// Provisions the infra, pauses, then runs the config model's tasks: a plan with a refresh,
    /// then its application. Returns `true` on success; on failure `false`, with every failure
    /// logged and available from [`Self::failures`]. Calling it again resumes and converges.
    pub async fn initiate_system(&mut self) -> bool {
        self.up(&PlanOptions {
            refresh: true,
            ..PlanOptions::default()
        })
        .await
    }

    /// Plans with `opts` and applies the plan (`up`).
    pub async fn up(&mut self, opts: &PlanOptions) -> bool {
        let Ok(journal) = self.start(Phase::Provision) else {
            return self.finish(Status::AbortProvision);
        };
        let plan = match self.plan_with(opts).await {
            Ok(p) => p,
            Err(e) => {
                self.failures.push(Failure {
                    kind: FailureKind::Model,
                    phase: Phase::Provision,
                    task: "plan".into(),
                    error: e,
                });
                return self.finish(Status::AbortProvision);
            }
        };
        self.apply_started(&plan, opts, journal).await
    }

    /// Applies `plan` (made by [`Self::plan_with`] for this state; refused if the state has moved
    /// since, so a saved plan is applied exactly or not at all).
    pub async fn apply(&mut self, plan: &Plan, opts: &PlanOptions) -> bool {
        let Ok(journal) = self.start(Phase::Provision) else {
            return self.finish(Status::AbortProvision);
        };
        self.apply_started(plan, opts, journal).await
    }

    async fn apply_started(
        &mut self,
        plan: &Plan,
        opts: &PlanOptions,
        journal: JournalHandle,
    ) -> bool {
        if let Some(e) = plan.errors.first() {
            for e in &plan.errors {
                self.failures.push(Failure {
                    kind: FailureKind::Model,
                    phase: Phase::Provision,
                    task: e.key.clone(),
                    error: e.error.clone(),
                });
            }
            tracing::debug!(first = %e.error, "the plan has errors; nothing was applied");
            return self.finish(if opts.destroy {
                Status::AbortDeprov
            } else {
                Status::AbortProvision
            });
        }
        let seq = journal.lock().state().last_seq();
        if seq != plan.state_seq {
            self.fail_state(
                Phase::Provision,
                format!(
                    "the state moved since this plan was made (record {} then, {seq} now): plan again",
                    plan.state_seq
                ),
            );
            return self.finish(Status::AbortProvision);
        }
        if let Err(e) = self.identity() {
            self.fail_state(Phase::Provision, e);
            return self.finish(Status::AbortProvision);
        }
        if opts.destroy {
            self.status = Status::PerformingDeprov;
            self.emit(Event::TeardownStarting);
            let ok = apply::run(self, plan, &journal).await && self.forget_tasks(&journal);
            self.emit(Event::TeardownFinished { success: ok });
            return self.finish(if ok {
                Status::DeprovComplete
            } else {
                Status::AbortDeprov
            });
        }
        if !plan.items.is_empty() {
            self.status = Status::PerformingProvision;
            self.emit(Event::ProvisioningStarting);
            let ok = apply::run(self, plan, &journal).await;
            self.emit(Event::ProvisioningFinished { success: ok });
            if !ok {
                return self.finish(Status::AbortProvision);
            }
            if !self.options.post_prov_pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(self.options.post_prov_pause) => {}
                    _ = self.cancel.cancelled() => {}
                }
            }
        }
        if let (Some(w), Some(graph)) = (self.world.clone(), self.graph.clone()) {
            self.status = Status::PerformingConfig;
            self.emit(Event::ConfigurationStarting);
            let ok = config_phase::run(self, &w, &graph(), &journal, &plan.renewed(), opts).await;
            self.emit(Event::ConfigurationFinished { success: ok });
            if !ok {
                return self.finish(Status::AbortConfig);
            }
        }
        if self.cancel.is_cancelled() {
            return self.finish(Status::AbortProvision);
        }
        self.finish(Status::Complete)
    }

    /// Deletes everything the state records, dependents first, and only that; config tasks are
    /// forgotten (the next `up` runs them again). Works without any model (a new process with the
    /// same system name and proxies).
    pub async fn teardown_system(&mut self) -> bool {
        self.down(&PlanOptions::default()).await
    }

    /// `down` with options (`--target`, `--exclude`, `--allow-destroy-protected`).
    pub async fn down(&mut self, opts: &PlanOptions) -> bool {
        let opts = PlanOptions {
            destroy: true,
            refresh: false,
            ..opts.clone()
        };
        let Ok(journal) = self.start(Phase::Teardown) else {
            return self.finish(Status::AbortDeprov);
        };
        let plan = match self.plan_with(&opts).await {
            Ok(p) => p,
            Err(e) => {
                self.fail_state(Phase::Teardown, e);
                return self.finish(Status::AbortDeprov);
            }
        };
        self.apply_started(&plan, &opts, journal).await
    }

    /// Forgets every task record: the next `up` runs the tasks again.
    fn forget_tasks(&mut self, journal: &JournalHandle) -> bool {
        let tasks: Vec<String> = journal
            .lock()
            .state()
            .iter()
            .filter(|e| e.key.starts_with(plan::TASK_PREFIX))
            .map(|e| e.key.clone())
            .collect();
        for t in tasks {
            if let Err(e) = journal.lock().forget(&t) {
                self.fail_state(Phase::Teardown, e.to_string());
                return false;
            }
        }
        true
    }
}

/// The workspace a system runs in unless told otherwise.
pub const DEFAULT_WORKSPACE: &str = "default";

/// 128 random bits as hex.
fn random_hex() -> String {
    format!(
        "{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

/// Turns engine callbacks into events with node names.
struct Names {
    phase: Phase,
    names: Arc<Vec<String>>,
    /// Structural nodes (joins, heads): no events, they do nothing.
    quiet: Vec<bool>,
    handler: Arc<dyn EventHandler>,
}

impl Observer for Names {
    fn starting(&self, node: NodeId, attempt: u32) {
        if self.quiet.get(node.index()).copied().unwrap_or(false) {
            return;
        }
        self.handler.event(&Event::TaskStarting {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            attempt,
        });
    }
    fn finished(&self, node: NodeId) {
        if self.quiet.get(node.index()).copied().unwrap_or(false) {
            return;
        }
        self.handler.event(&Event::TaskFinished {
            phase: self.phase,
            task: self.names[node.index()].clone(),
        });
    }
    fn retrying(&self, node: NodeId, attempt: u32, err: &AttemptError, delay: Duration) {
        self.handler.event(&Event::TaskRetry {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            attempt,
            error: err.message.clone(),
            delay_ms: delay.as_millis() as u64,
        });
    }
    fn failed(&self, node: NodeId, err: &AttemptError) {
        self.handler.event(&Event::TaskFailed {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            error: err.message.clone(),
        });
    }
    fn skipped(&self, node: NodeId, because: NodeId) {
        if self.quiet.get(node.index()).copied().unwrap_or(false) {
            return;
        }
        self.handler.event(&Event::TaskSkipped {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            because: self.names[because.index()].clone(),
        });
    }
}

/// One engine walk of a phase, ready to run.
struct PhaseWalk {
    phase: Phase,
    dag: crate::engine::Dag,
    /// Display name per node.
    names: Arc<Vec<String>>,
    work: Arc<dyn crate::engine::Work>,
    limits: HashMap<String, Limit>,
    /// Nodes the state says are done already.
    done: std::collections::HashSet<NodeId>,
    /// Structural nodes, which get no events (empty: none).
    quiet: Vec<bool>,
}

/// Runs a walk and converts its report into failures and events.
async fn walk_phase(o: &mut ActuatorOrchestration, w: PhaseWalk) -> bool {
    let PhaseWalk {
        phase,
        dag,
        names,
        work,
        limits,
        done,
        quiet,
    } = w;
    let opts = crate::engine::WalkOptions {
        max_concurrency: o.options.max_concurrency,
        retry: o.options.retry.clone(),
        limits,
        already_done: done.clone(),
    };
    o.emit(Event::EngineStarting {
        phase,
        nodes: (0..dag.len())
            .filter(|&i| {
                !done.contains(&NodeId(i as u32)) && !quiet.get(i).copied().unwrap_or(false)
            })
            .count(),
    });
    let obs = Names {
        phase,
        names: names.clone(),
        quiet,
        handler: o.handler.clone(),
    };
    // The walk runs as its own task: completions then wake it on the worker that ran the node
    // instead of crossing to the thread blocked in `block_on` (5x faster on long chains).
    let cancel = o.cancel.clone();
    let report =
        tokio::spawn(async move { crate::engine::walk(&dag, work, &opts, cancel, &obs).await })
            .await
            .map_err(|e| format!("the engine stopped: {e}"));
    match report {
        Ok(Ok(r)) => {
            o.emit(Event::EngineFinished {
                phase,
                succeeded: r.succeeded.len(),
                failed: r.failed.len(),
                skipped: r.skipped.len(),
                not_started: r.not_started.len(),
            });
            for (n, e) in &r.failed {
                o.failures.push(Failure {
                    kind: FailureKind::Run,
                    phase,
                    task: names[n.index()].clone(),
                    error: e.message.clone(),
                });
            }
            r.failed.is_empty() && !r.cancelled
        }
        Ok(Err(e)) => {
            o.failures.push(Failure {
                kind: FailureKind::Model,
                phase,
                task: "engine".into(),
                error: e.to_string(),
            });
            false
        }
        Err(e) => {
            o.failures.push(Failure {
                kind: FailureKind::Run,
                phase,
                task: "engine".into(),
                error: e,
            });
            false
        }
    }
}
