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
mod error;
mod group_commit;
pub mod inputs;
mod outputs;
mod plan;
mod preflight;
mod refresh;
mod run;
mod state_ops;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigModel, TaskGraph};
use crate::engine::{AttemptError, Limit, NodeId, Observer, RetryPolicy};
use crate::events::{
    Event, EventHandler, Outcome, Phase, RunCommand, RunOutcome, RunStatus, RunSummary,
    TracingHandler,
};
use crate::exec::{ExecAgent, LocalAgent};
use crate::model::build::Shared;
use crate::model::{At, Instance, Model};
use crate::namespace::{NamespaceModel, RoleReport, Var};
use crate::provision::{self, ProvisionerProxy, Scope, StaticProxy};
use crate::secret::Redactor;
use crate::state::location::Pushed;
use crate::state::{FileStore, Journal, Location, MemoryStore, State, StateStore, Target};

pub use crate::events::{FailureKind, RunFailure};
pub use error::OrchestrationError;
pub use outputs::{OutputSource, OutputValue, RoleOutput, SystemOutputs};
pub use plan::{
    ArgChange, Graph, GraphEdge, GraphFormat, GraphNode, GraphNodeKind, PLAN_SCHEMA, Plan,
    PlanBlocker, PlanOptions, ResourceAction, ResourceChange, Summary, TaskAction, TaskChange,
    Unresolved,
};
pub use run::{KEEP_RUN_LOGS, MAX_RUN_LOG, MAX_TASK_LOG, TAIL_LINES};

use group_commit::JournalHandle;
pub(crate) use run::new_run_id;
use run::{RunEvents, RunLog, WalkInfo};
type GraphFn = Arc<dyn Fn() -> TaskGraph + Send + Sync>;
type ReportFn = Arc<dyn Fn() -> Vec<RoleReport> + Send + Sync>;

enum StateChoice {
    /// `.actuator/<system>/<workspace>/`.
    Default,
    At(Location),
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
    status: RunStatus,
    failures: Vec<RunFailure>,
    cancel: CancellationToken,
    /// The current (or last) run's events: id, stamping, counting, masking.
    run: Option<Arc<RunEvents>>,
    run_log: Option<Arc<RunLog>>,
    command: RunCommand,
    started: Option<Instant>,
    summary: RunSummary,
    /// The state's directory (a file state): the task output logs live under it.
    state_path: Option<PathBuf>,
    /// The namespace's root, where inputs go.
    ns_root: Option<At>,
    /// Inputs given before the namespace.
    pending_inputs: Vec<Var>,
    /// Outputs the model marks, by name.
    declared_outputs: Vec<(String, OutputSource)>,
    abort: CancellationToken,
    /// Open the state without its lock, for reading only (`status` while an `up` runs).
    read_only: bool,
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
            status: RunStatus::NotStarted,
            failures: Vec::new(),
            cancel: CancellationToken::new(),
            run: None,
            run_log: None,
            command: RunCommand::None,
            started: None,
            summary: RunSummary::default(),
            state_path: None,
            ns_root: None,
            pending_inputs: Vec::new(),
            declared_outputs: Vec::new(),
            abort: CancellationToken::new(),
            read_only: false,
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
        self.ns_root = Some(At::root(ns.id()));
        for v in std::mem::take(&mut self.pending_inputs) {
            self.set_input(v);
        }
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
        self.state = StateChoice::At(Location::Dir(dir.into()));
        self
    }

    /// Keeps the state at `url`: a directory, `file://PATH`, or the URL of a shared store whose
    /// scheme the binary registered (`actuator_postgres::register()` for `postgres://…`; see
    /// [`crate::state::location`]). Several systems and workspaces share one such URL: the
    /// store keys each state by system and workspace.
    ///
    /// ```
    /// use actuator::orchestrate::ActuatorOrchestration;
    /// let o = ActuatorOrchestration::new("web").state_url("file:///var/lib/states/web");
    /// assert_eq!(o.state_location().unwrap().unwrap().to_string(), "/var/lib/states/web");
    /// let o = ActuatorOrchestration::new("web").state_url("postgres://ci:pw@db/states");
    /// assert_eq!(o.state_location().unwrap().unwrap().to_string(), "postgres://ci@db/states");
    /// ```
    pub fn state_url(mut self, url: &str) -> Self {
        self.state = StateChoice::At(Location::parse(url));
        self
    }

    /// Where the state is kept (`None` for [`Self::memory_state`]); displays without
    /// credentials.
    pub fn state_location(&self) -> Result<Option<Location>, OrchestrationError> {
        match &self.state {
            StateChoice::Default => Ok(Some(Location::default_for(&self.target())?)),
            StateChoice::At(l) => Ok(Some(l.clone())),
            StateChoice::Memory => Ok(None),
        }
    }

    fn target(&self) -> Target {
        Target::new(&self.system, &self.workspace)
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

    /// Sets the global concurrency limit (0 counts as 1; the CLI refuses 0).
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.options.max_concurrency = n.max(1);
        self
    }

    /// The current status.
    pub fn status(&self) -> RunStatus {
        self.status
    }

    /// The failures of the last run, all of them.
    pub fn failures(&self) -> &[RunFailure] {
        &self.failures
    }

    /// What the last `up` / `apply` / `down` / `refresh` did, counted from its events (the same
    /// counts its last event, [`Event::Summary`], carries); before any run, all zero with status
    /// `not_started`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use actuator::prelude::*;
    /// use actuator::orchestrate::ActuatorOrchestration;
    /// use actuator::provision::SimProxy;
    /// use actuator::infra::test::{Network, Server};
    ///
    /// #[derive(InfraModel)]
    /// struct Small {
    ///     #[component(Network::new("net"))]
    ///     net: Network,
    ///     #[component(Server::new("web", "debian-12").nics([ctx.model.net]))]
    ///     web: Server,
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let infra = Small::instance("small");
    /// let mut orch = ActuatorOrchestration::new("doc-summary")
    ///     .infra(&infra)
    ///     .proxy(Arc::new(SimProxy::default()))
    ///     .memory_state();
    /// assert!(orch.initiate_system().await);
    /// let s = orch.summary();
    /// assert_eq!((s.created, s.destroyed, s.failed), (2, 0, 0));
    /// assert!(orch.teardown_system().await);
    /// assert_eq!(orch.summary().destroyed, 2);
    /// # });
    /// ```
    pub fn summary(&self) -> RunSummary {
        self.summary.clone()
    }

    /// The id of the current (or last) run: the `run` of its events and the name of its task
    /// output log.
    pub fn run_id(&self) -> Option<&str> {
        self.run.as_ref().map(|r| r.id.as_str())
    }

    /// The task output log of the current (or last) run, once something was written to it
    /// (`<state>/runs/<run id>.log`, mode 0600; the last [`KEEP_RUN_LOGS`] runs are kept). A
    /// state kept in memory has none.
    pub fn run_log(&self) -> Option<PathBuf> {
        self.run_log.as_ref().and_then(|l| l.written())
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

    /// A token that aborts the run (a second Ctrl-C): like [`Self::cancel_token`], and the calls
    /// in flight are abandoned mid-way too. Their intents are in the journal, so the next `up`
    /// finds out what they did and reconciles.
    pub fn abort_token(&self) -> CancellationToken {
        self.abort.clone()
    }

    /// Opens the state for reading only, without taking its lock, from its last durable record:
    /// `status`, `plan` and `report` work while another process runs `up`. Anything that would
    /// write (`up`, `down`, `refresh`, `state mv`, `import`) fails on a read-only state.
    pub fn read_only(mut self) -> Self {
        self.read_only = true;
        self
    }

    /// The state as journalled so far. Takes no lock or lease: it reads while another run
    /// writes (the state as of its last durable record).
    pub fn state(&mut self) -> Result<State, OrchestrationError> {
        self.read_state()
    }

    /// The state to read from: this orchestration's open journal, or — when no run of it has
    /// opened the state — a read of the store that takes no lock or lease, so `status`, `plan`
    /// and `report` work while another process runs `up`.
    fn read_state(&mut self) -> Result<State, OrchestrationError> {
        if let Some(j) = &self.journal {
            return Ok(j.lock().state().clone());
        }
        let Some(location) = self.state_location()? else {
            // A memory state lives only in this orchestration's journal.
            return Ok(self.journal()?.lock().state().clone());
        };
        let state = location.read(&self.target())?;
        self.check_owner(&state)?;
        Ok(state)
    }

    /// A state belongs to one system and workspace: pointing `--state` at another's is refused.
    fn check_owner(&self, state: &State) -> Result<(), OrchestrationError> {
        for (what, mine) in [("system", &self.system), ("workspace", &self.workspace)] {
            if let Some(theirs) = state.meta().get(what)
                && theirs != mine
            {
                return Err(OrchestrationError::ForeignState {
                    what,
                    theirs: theirs.clone(),
                    mine: mine.clone(),
                });
            }
        }
        Ok(())
    }

    /// The state, read without a lock (`state pull`): write it to a file with
    /// `serde_json::to_writer(file, &state)`, push it elsewhere with [`Self::push_state`].
    pub fn pull_state(&mut self) -> Result<State, OrchestrationError> {
        self.read_state()
    }

    /// Replaces this orchestration's state by `state` (`state push`), refusing when the
    /// destination has records `state` lacks unless `force` ([`crate::state::location::push`]).
    /// Moves a state between stores: pull from one location, push to another.
    pub fn push_state(&mut self, state: &State, force: bool) -> Result<Pushed, OrchestrationError> {
        if self.journal.is_some() {
            return Err(OrchestrationError::StateOpen);
        }
        let location = self
            .state_location()?
            .ok_or(OrchestrationError::NoSharedState(
                "a memory state cannot be pushed to",
            ))?;
        Ok(crate::state::location::push(
            state,
            &location,
            &self.target(),
            force,
        )?)
    }

    /// Frees the shared state's lease `lease_id` (the id the "in use" error names), so that the
    /// next run takes over at once instead of waiting for it to expire. The old holder, if it
    /// still runs, can no longer write.
    pub fn force_unlock(&mut self, lease_id: &str) -> Result<String, OrchestrationError> {
        let location = self
            .state_location()?
            .ok_or(OrchestrationError::NoSharedState(
                "a memory state has no lease",
            ))?;
        Ok(location.force_unlock(&self.target(), lease_id)?)
    }

    /// Starts a run: a new run id, no failures yet, a fresh token if the last run was cancelled,
    /// the secrets to mask, the starting event, and the journal (a state that cannot be opened
    /// is the run's one failure).
    fn start(&mut self, phase: Phase, command: RunCommand) -> Result<JournalHandle, ()> {
        self.failures.clear();
        if self.cancel.is_cancelled() || self.abort.is_cancelled() {
            self.cancel = CancellationToken::new();
            self.abort = CancellationToken::new();
        }
        self.command = command;
        self.started = Some(Instant::now());
        self.run = Some(Arc::new(RunEvents::new(
            self.handler.clone(),
            self.secrets(),
        )));
        self.run_log = None;
        self.emit(Event::OrchestrationStarting {
            system: self.system.clone(),
            workspace: self.workspace.clone(),
            command,
        });
        let journal = self.journal().map_err(|error| {
            self.failures.push(RunFailure {
                kind: FailureKind::State,
                phase,
                task: "state".into(),
                error: error.to_string(),
                output: Vec::new(),
            })
        })?;
        if let (Some(dir), Some(run)) = (&self.state_path, &self.run) {
            self.run_log = Some(Arc::new(RunLog::new(dir, &run.id)));
        }
        Ok(journal)
    }

    /// Every secret value the model holds, to be masked in what the run shows.
    fn secrets(&self) -> Arc<Redactor> {
        let r = Redactor::default();
        if let Some(w) = &self.world {
            for v in crate::namespace::secret_values(w) {
                r.add(&v);
            }
        }
        Arc::new(r)
    }

    /// The run's event sink (outside a run — a plan's refresh — a run of its own).
    fn events(&mut self) -> Arc<RunEvents> {
        if self.run.is_none() {
            self.run = Some(Arc::new(RunEvents::new(
                self.handler.clone(),
                self.secrets(),
            )));
        }
        self.run.clone().expect("set above")
    }

    fn emit(&mut self, e: Event) {
        self.events().event(&e);
    }

    fn journal(&mut self) -> Result<JournalHandle, OrchestrationError> {
        if let Some(j) = &self.journal {
            return Ok(j.clone());
        }
        let store: Box<dyn StateStore + Send> = match self.state_location()? {
            Some(Location::Dir(d)) => {
                self.state_path = Some(d.clone());
                let store = if self.read_only {
                    FileStore::open_read_only(d)
                } else {
                    FileStore::open(d)
                };
                Box::new(store?)
            }
            Some(location) => location.open(&self.target())?,
            None => Box::new(MemoryStore::new()),
        };
        let journal = Journal::open(store)?;
        self.check_owner(journal.state())?;
        let j = JournalHandle::new(journal);
        self.journal = Some(j.clone());
        Ok(j)
    }

    /// Whose resources these are, and the salt for hashing secret arguments: from the state, or
    /// made now (and recorded) for a state that has none yet.
    fn identity(&mut self) -> Result<(Scope, String), OrchestrationError> {
        let journal = self.journal()?;
        let mut j = journal.lock();
        let meta = j.state().meta();
        if let (Some(id), Some(salt)) = (meta.get("state_id"), meta.get("salt")) {
            return Ok((self.scope_with(id), salt.clone()));
        }
        let (id, salt) = (random_hex(), random_hex());
        // One append (one sync), not one per entry.
        j.batch(|j| {
            [
                ("system", self.system.as_str()),
                ("workspace", self.workspace.as_str()),
                ("state_id", id.as_str()),
                ("salt", salt.as_str()),
            ]
            .into_iter()
            .try_for_each(|(k, v)| j.set_meta(k, Some(v)))
        })??;
        Ok((self.scope_with(&id), salt))
    }

    /// The identity as far as `state` knows it, without recording one (plans write nothing).
    fn peek_identity(&self, state: &State) -> (Scope, String) {
        let meta = state.meta();
        (
            self.scope_with(meta.get("state_id").map_or("(new)", String::as_str)),
            meta.get("salt").cloned().unwrap_or_default(),
        )
    }

    fn scope_with(&self, state_id: &str) -> Scope {
        Scope {
            system: self.system.clone(),
            workspace: self.workspace.clone(),
            state_id: state_id.to_owned(),
        }
    }

    fn fail_state(&mut self, phase: Phase, error: impl ToString) {
        self.failures.push(RunFailure {
            kind: FailureKind::State,
            phase,
            task: "state".into(),
            error: error.to_string(),
            output: Vec::new(),
        });
    }

    /// Puts the outputs the state records back into the model, so that what reads them (variables,
    /// arguments, `plan`, `report`) sees a previous run's ids and addresses, in this process or a
    /// new one.
    fn restore_outputs(&mut self) -> Result<(), OrchestrationError> {
        let state = self.read_state()?;
        self.restore_outputs_from(&state);
        Ok(())
    }

    fn restore_outputs_from(&self, state: &State) {
        if state.is_empty() {
            return;
        }
        // Each model resource looks itself up: no map of every entry's outputs to build first.
        self.set_outputs_by_key(|key| {
            state
                .get(key)
                .filter(|e| e.status == crate::state::EntryStatus::Created)
                .map(plan::recorded_outputs)
        });
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

    /// Ends a run: its status recorded, every failure logged (secrets masked), the outputs of an
    /// `up`, the finishing event, and the summary as the last event.
    fn finish(&mut self, status: RunStatus) -> bool {
        self.status = status;
        let success = matches!(status, RunStatus::Complete | RunStatus::DeprovComplete);
        let events = self.events();
        // Under their own target, so a front end that prints failures itself (the CLI) can
        // leave these out and show each failure once.
        for f in &mut self.failures {
            f.error = events.redact(&f.error);
            for l in &mut f.output {
                l.line = events.redact(&l.line);
            }
            tracing::error!(target: FAILURE_LOG_TARGET, phase = ?f.phase, task = %f.task, error = %f.error, "failed");
        }
        if let Some(j) = &self.journal {
            let mut g = j.lock();
            let _ = g.set_meta("status", Some(&format!("{status:?}")));
        }
        if matches!(self.command, RunCommand::Up | RunCommand::Apply) && self.world.is_some() {
            let outputs = self.collect_outputs();
            self.emit(Event::Outputs(outputs));
        }
        self.emit(Event::OrchestrationFinished {
            system: self.system.clone(),
            status,
            success,
        });
        let mut summary = events.tally();
        summary.command = self.command;
        summary.status = status;
        summary.success = success;
        summary.outcome = if success {
            RunOutcome::Complete
        } else if self.cancel.is_cancelled() {
            RunOutcome::Interrupted
        } else {
            RunOutcome::Failed
        };
        summary.elapsed_ms = self.started.map_or(0, |t| t.elapsed().as_millis() as u64);
        summary.failures = self.failures.clone();
        summary.log = self.run_log();
        self.summary = summary.clone();
        self.emit(Event::Summary(summary));
        success
    }

    /// What `up` (or, with [`PlanOptions::destroy`], `down`) would do: the diff between the model,
    /// the state and — with [`PlanOptions::refresh`] — the cloud. Writes nothing; a refresh only
    /// reads.
    ///
    /// # Errors
    /// The state cannot be read ([`OrchestrationError::State`], [`OrchestrationError::ForeignState`]),
    /// a recorded resource cannot be read from its cloud ([`OrchestrationError::Cloud`]; each is
    /// also in [`Self::failures`]), or the plan cannot be made for the model
    /// ([`OrchestrationError::Model`]).
    pub async fn plan_with(&mut self, opts: &PlanOptions) -> Result<Plan, OrchestrationError> {
        // An open journal's state is read under its lock rather than copied (a copy of a large
        // state costs as much as a plan of it); without one, the state is read from its store.
        let read = if self.journal.is_some() {
            None
        } else if opts.refresh {
            // The refresh reads the recorded resources through the journal: opened now, the
            // state is read once rather than once for the plan and again for the refresh.
            self.journal()?;
            None
        } else {
            Some(self.read_state()?)
        };
        let (scope, salt) = self.with_state(read.as_ref(), |o, state| {
            // A teardown's plan reads nothing of the model.
            if !opts.destroy {
                o.restore_outputs_from(state);
            }
            o.peek_identity(state)
        });
        let observed = if opts.refresh {
            refresh::read_all(self, &scope, false).await?
        } else {
            HashMap::new()
        };
        self.with_state(read.as_ref(), |o, state| {
            o.diff(state, &scope, &salt, &observed, opts)
                .map_err(OrchestrationError::Model)
        })
    }

    /// Runs `f` on `read` if given, else on the open journal's state under its lock.
    fn with_state<R>(&self, read: Option<&State>, f: impl FnOnce(&Self, &State) -> R) -> R {
        match read {
            Some(state) => f(self, state),
            None => {
                let j = self
                    .journal
                    .as_ref()
                    .expect("a state read, or a journal open");
                f(self, j.lock().state())
            }
        }
    }

    /// What `up` would do, from the state alone (no refresh).
    ///
    /// # Errors
    /// As [`Self::plan_with`], without [`OrchestrationError::Cloud`].
    pub fn plan(&mut self) -> Result<Plan, OrchestrationError> {
        let state = self.read_state()?;
        self.restore_outputs_from(&state);
        let (scope, salt) = self.peek_identity(&state);
        self.diff(
            &state,
            &scope,
            &salt,
            &HashMap::new(),
            &PlanOptions::default(),
        )
        .map_err(OrchestrationError::Model)
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
        let journal = match self.start(Phase::Refresh, RunCommand::Refresh) {
            Ok(j) => j,
            Err(()) => return self.finish(RunStatus::AbortProvision),
        };
        let result = match self.identity() {
            Ok((scope, _)) => refresh::read_all(self, &scope, true).await,
            Err(e) => Err(e),
        };
        drop(journal);
        match result {
            Ok(_) => self.finish(RunStatus::Complete),
            Err(e) => {
                self.fail_state(Phase::Refresh, e);
                self.finish(RunStatus::AbortProvision)
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
        self.up_with(opts, |_| Ok(())).await
    }

    /// [`Self::up`], with `check` shown the plan before anything is applied: it may print it,
    /// or refuse it (its error is the run's failure, of kind `model`, and nothing is applied).
    /// Plan and application are one run — one run id in every event, its refresh counted in its
    /// summary — where [`Self::plan_with`] then [`Self::apply`] are two.
    pub async fn up_with(
        &mut self,
        opts: &PlanOptions,
        check: impl FnOnce(&Plan) -> Result<(), String>,
    ) -> bool {
        let Ok(journal) = self.start(Phase::Provision, RunCommand::Up) else {
            return self.finish(RunStatus::AbortProvision);
        };
        let refused = |o: &mut Self, error: String| {
            o.failures.push(RunFailure {
                kind: FailureKind::Model,
                phase: Phase::Provision,
                task: "plan".into(),
                error,
                output: Vec::new(),
            });
            o.finish(RunStatus::AbortProvision)
        };
        let plan = match self.plan_with(opts).await {
            Ok(p) => p,
            // A refresh that was interrupted, or whose reads failed (each one is a failure
            // already), says so by itself.
            Err(_) if self.cancel.is_cancelled() || !self.failures.is_empty() => {
                return self.finish(RunStatus::AbortProvision);
            }
            Err(e) => return refused(self, e.to_string()),
        };
        if self.cancel.is_cancelled() {
            return self.finish(RunStatus::AbortProvision);
        }
        if let Err(e) = check(&plan) {
            return refused(self, e);
        }
        let ok = self.apply_started(&plan, opts, journal).await;
        drop_plan(plan);
        ok
    }

    /// Applies `plan` (made by [`Self::plan_with`] for this state; refused if the state has moved
    /// since, so a saved plan is applied exactly or not at all). A destroy plan
    /// ([`PlanOptions::destroy`]) makes the run a `down`.
    pub async fn apply(&mut self, plan: &Plan, opts: &PlanOptions) -> bool {
        let started = if opts.destroy {
            self.start(Phase::Teardown, RunCommand::Down)
        } else {
            self.start(Phase::Provision, RunCommand::Apply)
        };
        let Ok(journal) = started else {
            return self.finish(if opts.destroy {
                RunStatus::AbortDeprov
            } else {
                RunStatus::AbortProvision
            });
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
                self.failures.push(RunFailure {
                    kind: FailureKind::Model,
                    phase: Phase::Provision,
                    task: e.key.clone(),
                    error: e.error.clone(),
                    output: Vec::new(),
                });
            }
            tracing::debug!(first = %e.error, "the plan has errors; nothing was applied");
            return self.finish(if opts.destroy {
                RunStatus::AbortDeprov
            } else {
                RunStatus::AbortProvision
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
            return self.finish(RunStatus::AbortProvision);
        }
        if let Err(e) = self.identity() {
            self.fail_state(Phase::Provision, e);
            return self.finish(RunStatus::AbortProvision);
        }
        self.emit(Event::PlanSummary(plan.summary));
        if opts.destroy {
            self.status = RunStatus::PerformingDeprov;
            self.emit(Event::TeardownStarting);
            let ok = apply::run(self, plan, &journal).await && self.forget_tasks(&journal);
            self.emit(Event::TeardownFinished { success: ok });
            return self.finish(if ok {
                RunStatus::DeprovComplete
            } else {
                RunStatus::AbortDeprov
            });
        }
        if !plan.items.is_empty() {
            self.status = RunStatus::PerformingProvision;
            self.emit(Event::ProvisioningStarting);
            let ok = apply::run(self, plan, &journal).await;
            self.emit(Event::ProvisioningFinished { success: ok });
            if !ok {
                return self.finish(RunStatus::AbortProvision);
            }
            if !self.options.post_prov_pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(self.options.post_prov_pause) => {}
                    _ = self.cancel.cancelled() => {}
                }
            }
        }
        if let (Some(w), Some(graph)) = (self.world.clone(), self.graph.clone()) {
            self.status = RunStatus::PerformingConfig;
            self.emit(Event::ConfigurationStarting);
            let ok = config_phase::run(self, &w, &graph(), &journal, &plan.renewed(), opts).await;
            self.emit(Event::ConfigurationFinished { success: ok });
            if !ok {
                return self.finish(RunStatus::AbortConfig);
            }
        }
        if self.cancel.is_cancelled() {
            return self.finish(RunStatus::AbortProvision);
        }
        self.finish(RunStatus::Complete)
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
        let Ok(journal) = self.start(Phase::Teardown, RunCommand::Down) else {
            return self.finish(RunStatus::AbortDeprov);
        };
        let plan = match self.plan_with(&opts).await {
            Ok(p) => p,
            Err(e) => {
                self.fail_state(Phase::Teardown, e);
                return self.finish(RunStatus::AbortDeprov);
            }
        };
        let ok = self.apply_started(&plan, &opts, journal).await;
        drop_plan(plan);
        ok
    }

    /// Forgets every task record: the next `up` runs the tasks again.
    fn forget_tasks(&mut self, journal: &JournalHandle) -> bool {
        let tasks: Vec<String> = journal
            .lock()
            .state()
            .iter()
            .filter(|e| e.key.starts_with(plan::TASK_PREFIX))
            .map(|e| e.key.to_string())
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

/// Frees a plan the run made itself: a large one on another thread, while the run reports.
fn drop_plan(plan: Plan) {
    if plan.items.len() >= plan::PARALLEL_FROM {
        crate::parallel::drop_in_background(plan);
    }
}

/// The `tracing` target under which [`ActuatorOrchestration`] logs each failure at the end of a
/// run.
pub const FAILURE_LOG_TARGET: &str = "actuator::failures";

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
    names: Arc<Vec<Arc<str>>>,
    /// Structural nodes (joins, heads): no events, they do nothing.
    quiet: Vec<bool>,
    info: Arc<WalkInfo>,
    /// What a finished node did when its work does not say.
    outcome: Outcome,
    handler: Arc<RunEvents>,
}

impl Names {
    fn quiet(&self, node: NodeId) -> bool {
        self.quiet.get(node.index()).copied().unwrap_or(false)
    }
}

impl Observer for Names {
    fn starting(&self, node: NodeId, attempt: u32) {
        if self.quiet(node) {
            return;
        }
        self.handler.event(&Event::TaskStarting {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            attempt,
            host: self.info.host(node),
        });
    }
    fn finished(&self, node: NodeId) {
        if self.quiet(node) {
            return;
        }
        self.handler.event(&Event::TaskFinished {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            outcome: self.info.outcome(node).unwrap_or(self.outcome),
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
            output: self.info.tail(node),
        });
    }
    fn skipped(&self, node: NodeId, because: NodeId) {
        if self.quiet(node) {
            return;
        }
        self.handler.event(&Event::TaskSkipped {
            phase: self.phase,
            task: self.names[node.index()].clone(),
            because: self.names[because.index()].to_string(),
        });
    }
}

/// One engine walk of a phase, ready to run.
struct PhaseWalk {
    phase: Phase,
    dag: crate::engine::Dag,
    /// Display name per node.
    names: Arc<Vec<Arc<str>>>,
    work: Arc<dyn crate::engine::Work>,
    limits: HashMap<String, Limit>,
    /// Nodes the state says are done already.
    done: std::collections::HashSet<NodeId>,
    /// Structural nodes, which get no events (empty: none).
    quiet: Vec<bool>,
    /// What the work reports per node (outcomes, hosts, output tails).
    info: Arc<WalkInfo>,
    /// The outcome of a finished node whose work sets none.
    outcome: Outcome,
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
        info,
        outcome,
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
    let events = o.events();
    let obs = Names {
        phase,
        names: names.clone(),
        quiet,
        info: info.clone(),
        outcome,
        handler: events.clone(),
    };
    // The walk runs as its own task: completions then wake it on the worker that ran the node
    // instead of crossing to the thread blocked in `block_on` (5x faster on long chains).
    let (cancel, abort) = (o.cancel.clone(), o.abort.clone());
    let report = tokio::spawn(async move {
        crate::engine::walk_with_abort(&dag, work, &opts, cancel, abort, &obs).await
    })
    .await
    .map_err(|e| format!("the engine stopped: {e}"));
    // The completions the steps did not wait for are durable before the run reports or goes on.
    let flushed = match &o.journal {
        Some(j) => j.flush().await,
        None => Ok(()),
    };
    let durable = match flushed {
        Ok(()) => true,
        Err(e) => {
            o.fail_state(phase, e.message);
            false
        }
    };
    let ok = match report {
        Ok(Ok(r)) => {
            o.emit(Event::EngineFinished {
                phase,
                succeeded: r.succeeded.len(),
                failed: r.failed.len(),
                skipped: r.skipped.len(),
                // What a second Ctrl-C abandoned in flight did not finish either: the next run
                // does it (its intent is recorded).
                not_started: r.not_started.len() + r.aborted.len(),
            });
            for (n, e) in &r.failed {
                o.failures.push(RunFailure {
                    kind: FailureKind::Run,
                    phase,
                    task: names[n.index()].to_string(),
                    error: events.redact(&e.message),
                    output: info.tail(*n),
                });
            }
            r.failed.is_empty() && !r.cancelled
        }
        Ok(Err(e)) => {
            o.failures.push(RunFailure {
                kind: FailureKind::Model,
                phase,
                task: "engine".into(),
                error: e.to_string(),
                output: Vec::new(),
            });
            false
        }
        Err(e) => {
            o.failures.push(RunFailure {
                kind: FailureKind::Run,
                phase,
                task: "engine".into(),
                error: e,
                output: Vec::new(),
            });
            false
        }
    };
    ok && durable
}
