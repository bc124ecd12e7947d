//! Configuration: the config model's task graph walked by the engine, each task resolved first —
//! role, host, exported variables, templated arguments — so that every unresolved variable or
//! missing host is reported, all together, before a single task runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

use super::group_commit::Later;
use super::plan::{PlanBlocker, PlanOptions, Renewed, TASK_PREFIX, TaskAction, TaskChange};
use super::run::{RunEvents, RunLog, TaskOutput};
use super::{
    ActuatorOrchestration, FailureKind, JournalHandle, PhaseWalk, Plan, RunFailure, WalkInfo,
    walk_phase,
};
use crate::config::{CommandLine, NodeRole, Task, TaskGraph, TaskKind};
use crate::engine::{AttemptError, Limit, NodeId, Work};
use crate::events::{Event, EventHandler, Outcome, Phase};
use crate::exec::{Action, CopySpec, ExecAgent, ExecTask, LocalAgent};
use crate::model::At;
use crate::model::build::Shared;
use crate::namespace::{
    HostRef, Missing, Role, VarError, declared_elsewhere, expand_for, expand_partial,
    expand_revealing, visible_vars, why_missing,
};
use crate::state::EntryStatus;

/// A task ready to run: everything resolved.
struct Ready {
    key: String,
    exec: Option<ExecTask>,
    local: bool,
    attempts: u32,
    interval: std::time::Duration,
}

struct ConfigWork {
    tasks: Vec<Ready>,
    /// Each task's fingerprint, recorded when it finishes.
    prints: Vec<Option<String>>,
    agent: Arc<dyn ExecAgent>,
    local: Arc<dyn ExecAgent>,
    journal: JournalHandle,
    /// The run's events (task output lines, a task's own retries), secrets masked.
    events: Arc<RunEvents>,
    /// The run's task output log (a state on disk).
    log: Option<Arc<RunLog>>,
    /// Task names for events.
    names: Arc<Vec<Arc<str>>>,
    info: Arc<WalkInfo>,
}

impl Work for ConfigWork {
    fn run(&self, node: NodeId, _attempt: u32) -> BoxFuture<'static, Result<(), AttemptError>> {
        let t = &self.tasks[node.index()];
        let Some(exec) = t.exec.clone() else {
            return async { Ok(()) }.boxed();
        };
        let agent = if t.local {
            self.local.clone()
        } else {
            self.agent.clone()
        };
        let (key, attempts, interval, journal) =
            (t.key.clone(), t.attempts, t.interval, self.journal.clone());
        let print = self.prints[node.index()].clone();
        let (events, log, info) = (self.events.clone(), self.log.clone(), self.info.clone());
        let name = self.names[node.index()].clone();
        async move {
            let k = key.clone();
            journal
                .record(move |j| j.intent(k, "config.Task", json!({})))
                .await?;
            // The task's own repeat_count / repeat_interval (the original's linear retry).
            let mut last = None;
            for attempt in 1..=attempts {
                if attempt > 1 {
                    tokio::time::sleep(interval).await;
                }
                let output = Arc::new(TaskOutput::new(
                    &name,
                    &exec.host,
                    events.clone(),
                    log.clone(),
                ));
                output.note(&format!("── attempt {attempt} of {attempts}"));
                let result = agent.run_streaming(exec.clone(), output.clone()).await;
                let tail = output.finish();
                match result {
                    Ok(out) => {
                        let skipped = out.skipped.as_deref().map(|s| events.redact(s));
                        output.note(&match &skipped {
                            Some(why) => format!("── skipped: {why}"),
                            None => "── done".to_owned(),
                        });
                        info.set_outcome(
                            node,
                            if skipped.is_some() {
                                Outcome::SkippedByCheck
                            } else {
                                Outcome::Ran
                            },
                        );
                        let data = json!({
                            "status": out.status,
                            "skipped": skipped,
                            "inputs": print,
                        });
                        // Not waited for, as a resource's completion (see `group_commit`).
                        journal.record_later(Later::Done(key.into(), data.into()));
                        return Ok(());
                    }
                    Err(e) => {
                        let msg = events.redact(&e.to_string());
                        output.note(&format!("── failed: {msg}"));
                        if attempt < attempts {
                            events.event(&Event::TaskRetry {
                                phase: Phase::Configure,
                                task: name.clone(),
                                attempt,
                                error: msg.clone(),
                                delay_ms: interval.as_millis() as u64,
                            });
                        }
                        // The failure carries the output's last lines: its message leaves out
                        // the standard error those lines hold, so each is shown once.
                        let msg = if tail.is_empty() {
                            msg
                        } else {
                            events.redact(&e.brief())
                        };
                        last = Some((msg, tail));
                    }
                }
            }
            let (msg, tail) = last.expect("at least one attempt");
            info.set_tail(node, tail);
            let m = msg.clone();
            let _ = journal.record(move |j| j.failed(&key, &m)).await;
            Err(AttemptError::fatal(msg))
        }
        .boxed()
    }

    fn limit_keys(&self, node: NodeId) -> Vec<String> {
        match &self.tasks[node.index()].exec {
            Some(e) if !self.tasks[node.index()].local => vec![format!("host:{}", e.host)],
            _ => Vec::new(),
        }
    }
}

/// Why a task cannot be resolved (yet).
pub(super) struct Unresolvable {
    pub message: String,
    /// Only because an output is not known yet: provisioning may resolve it.
    pub waiting: bool,
}

impl Unresolvable {
    fn model(message: String) -> Self {
        Unresolvable {
            message,
            waiting: false,
        }
    }

    /// The error of expanding `template` for `reader`, classified. It waits for provisioning
    /// only if every variable missing from the template reads an output not known yet; else it
    /// names the first that nothing will give a value — a variable nothing defines is an input to
    /// supply, and the message says how.
    fn var(w: &Shared, reader: At, task: &str, template: &str, e: VarError) -> Self {
        if let VarError::Cycle { .. } = e {
            return Unresolvable::model(format!("task `{task}`: {e}"));
        }
        for name in expand_partial(w, reader, template).missing {
            let why = why_missing(w, reader, &name);
            if matches!(why, None | Some(Missing::Output)) {
                continue;
            }
            let e = match e {
                VarError::Unresolved { name: ref n, .. } if *n == name => e,
                _ => VarError::Unresolved {
                    name: name.clone(),
                    reader: w.lock().describe(reader),
                    chain: Vec::new(),
                },
            };
            // Not defined, as opposed to waiting for an output: declared for other roles only
            // (a model mistake), or by nothing at all (an input to supply).
            let elsewhere = if why == Some(Missing::Undefined) {
                declared_elsewhere(w, reader, &name)
            } else {
                Vec::new()
            };
            let hint = match (why, elsewhere.as_slice()) {
                (Some(Missing::Undefined), []) => format!(
                    "; nothing defines it: give it as an input (`--var {name}=…`, a \
                     `--var-file`, `ACTUATOR_VAR_{name}` or `ActuatorOrchestration::var`)"
                ),
                (Some(Missing::Undefined), holders) => {
                    let shown: Vec<&str> = holders.iter().take(3).map(String::as_str).collect();
                    let more = match holders.len() - shown.len() {
                        0 => String::new(),
                        n => format!(" and {n} more"),
                    };
                    format!(
                        "; it is not defined for this role: only {}{more} declare{} it",
                        shown.join(", "),
                        if holders.len() == 1 { "s" } else { "" }
                    )
                }
                _ => String::new(),
            };
            return Unresolvable::model(format!("task `{task}`: {e}{hint}"));
        }
        Unresolvable {
            message: format!("task `{task}`: {e}"),
            waiting: true,
        }
    }
}

/// The address of the role at `role`: its host name (expanded for the role) or its infra
/// component's `ip` output.
fn host_of(w: &Shared, role: At, task: &str) -> Result<String, Unresolvable> {
    let (host, who) = {
        let g = w.lock();
        let r = g.tree(role.model).get::<Role>(role.node).cloned();
        (r.and_then(|r| r.host), g.describe(role))
    };
    match host {
        None => Err(Unresolvable::model(format!(
            "task `{task}`: role {who} has no host_ref"
        ))),
        Some(HostRef::Name(n)) => {
            expand_for(w, role, &n).map_err(|e| Unresolvable::var(w, role, task, &n, e))
        }
        Some(HostRef::Infra(at)) => {
            let g = w.lock();
            g.output(at, "ip")
                .map(str::to_owned)
                .ok_or_else(|| Unresolvable {
                    message: format!(
                        "task `{task}`: role {who}'s host {} has no address yet (was it provisioned?)",
                        g.describe(at)
                    ),
                    waiting: true,
                })
        }
    }
}

fn resolve(w: &Shared, name: &str, task: &Task) -> Result<ExecTask, Unresolvable> {
    let role = task.role.ok_or_else(|| {
        Unresolvable::model(format!("task `{name}` has no role: give it `.role(ns.…)` or run it inside a MultiTask / ConfigClassTask that has one"))
    })?;
    // What waits for provisioning is noted and resolution goes on, so that a problem
    // provisioning cannot solve (an input not given) is found before anything runs.
    let waiting: std::cell::RefCell<Option<Unresolvable>> = Default::default();
    let wait = |u: Unresolvable| -> Result<String, Unresolvable> {
        if u.waiting {
            waiting.borrow_mut().get_or_insert(u);
            Ok(String::new())
        } else {
            Err(u)
        }
    };
    // What the task runs gets secret values; every message about it masks them.
    let x = |s: &str| match expand_revealing(w, role, s) {
        Ok(v) => Ok(v),
        Err(e) => wait(Unresolvable::var(w, role, name, s, e)),
    };
    let host = host_of(w, task.run_from.unwrap_or(role), name).or_else(wait)?;
    let mut env = Vec::new();
    for (v, _) in visible_vars(w, role) {
        if v.in_env {
            env.push((v.name.clone(), x(&format!("!{{{}}}", v.name))?));
        }
    }
    let action = match &task.kind {
        TaskKind::Null => unreachable!("null tasks run in-process and are never resolved"),
        TaskKind::Ping => Action::Ping,
        // Split first, then expand each word: a value is always (part of) exactly one argument.
        TaskKind::Command(c) | TaskKind::LocalCommand(c) => {
            let words = c.words().map_err(|e| {
                Unresolvable::model(match c {
                    CommandLine::Line(line) => format!("task `{name}`: bad command `{line}`: {e}"),
                    CommandLine::Argv(_) => format!("task `{name}`: bad command: {e}"),
                })
            })?;
            Action::Command(words.iter().map(|w| x(w)).collect::<Result<_, _>>()?)
        }
        TaskKind::Shell(c) | TaskKind::LocalShell(c) => Action::Shell(x(c)?),
        TaskKind::Script {
            path,
            args,
            template,
        } => {
            let content = if *template {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Unresolvable::model(format!(
                        "task `{name}`: cannot read script {}: {e}",
                        path.display()
                    ))
                })?;
                Some(x(&text)?)
            } else {
                None
            };
            Action::Script {
                path: path.clone(),
                args: args.iter().map(|a| x(a)).collect::<Result<_, _>>()?,
                content,
            }
        }
        TaskKind::CopyFile {
            dest,
            src,
            content,
            template,
        } => {
            // Inline content is expanded here too, and the result dropped: a variable nothing
            // gives is found before anything runs, not when the agent expands it on the host.
            if *template && let Some(text) = content {
                x(text)?;
            }
            // So is a source file (every file of a source directory): it is on this machine,
            // read again when the copy runs.
            if *template && let Some(src) = src {
                for (file, text) in template_sources(name, src)? {
                    if let Err(e) = expand_revealing(w, role, &text) {
                        let mut u = Unresolvable::var(w, role, name, &text, e);
                        u.message =
                            format!("{} (in the templated file {})", u.message, file.display());
                        wait(u)?;
                    }
                }
            }
            let expander: Option<crate::exec::Template> = template.then(|| {
                let w = w.clone();
                // The agent's `ExecError::Template` names the task and the file (and the
                // variable, never a value).
                Arc::new(move |s: &str| expand_revealing(&w, role, s).map_err(|e| e.to_string()))
                    as crate::exec::Template
            });
            Action::Copy(CopySpec {
                dest: x(dest)?,
                src: src.clone(),
                content: content.clone(),
                mode: task.mode,
                owner: task.owner.clone(),
                group: task.group.clone(),
                template: expander,
            })
        }
    };
    let exec = ExecTask {
        name: name.to_owned(),
        host,
        action,
        env,
        chdir: task.chdir.as_deref().map(x).transpose()?,
        creates: task.creates.as_deref().map(x).transpose()?,
        removes: task.removes.as_deref().map(x).transpose()?,
        timeout: None,
        user: task.remote_user.as_deref().map(x).transpose()?,
        password: task.remote_pass.clone(),
        key_file: task.private_key_file.clone(),
    };
    let waited = waiting.borrow_mut().take();
    match waited {
        Some(u) => Err(u),
        None => Ok(exec),
    }
}

/// The text of each file a templated copy of `src` renders: `src` itself, or every file under it
/// if it is a directory (as the copy walks it). A file that cannot be read, or is not text, is a
/// model error naming the task and the file.
fn template_sources(
    task: &str,
    src: &std::path::Path,
) -> Result<Vec<(std::path::PathBuf, String)>, Unresolvable> {
    let unreadable = |file: &std::path::Path, e: &dyn std::fmt::Display| {
        Unresolvable::model(format!(
            "task `{task}`: cannot read the templated file {}: {e}",
            file.display()
        ))
    };
    let mut files = Vec::new();
    let mut todo = vec![src.to_path_buf()];
    while let Some(p) = todo.pop() {
        if p.is_dir() {
            let entries = std::fs::read_dir(&p).map_err(|e| unreadable(&p, &e))?;
            for entry in entries {
                todo.push(entry.map_err(|e| unreadable(&p, &e))?.path());
            }
            continue;
        }
        let bytes = std::fs::read(&p).map_err(|e| unreadable(&p, &e))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| unreadable(&p, &"not UTF-8 text (binary file?)"))?;
        files.push((p, text));
    }
    files.sort();
    Ok(files)
}

/// Every task of the graph resolved (role, host, variables, arguments) for its key in the state;
/// problems are collected, not returned on the first.
struct Resolved {
    tasks: Vec<Ready>,
    /// Each task's fingerprint (`None` for structural nodes and unresolvable tasks).
    prints: Vec<Option<String>>,
    /// The infra resource each task's host is (`None`: a named host or none).
    hosts: Vec<Option<String>>,
    /// Each task's role, by model path.
    roles: Vec<Option<String>>,
    errors: Vec<RunFailure>,
    /// Of `errors`, those provisioning cannot resolve (an input not given, a role without a
    /// host): a plan that has them cannot be applied.
    model_errors: Vec<PlanBlocker>,
}

fn resolve_all(w: &Shared, graph: &TaskGraph) -> Resolved {
    let mut r = Resolved {
        tasks: Vec::new(),
        prints: Vec::new(),
        hosts: Vec::new(),
        roles: Vec::new(),
        errors: Vec::new(),
        model_errors: Vec::new(),
    };
    for n in &graph.nodes {
        let key = format!("{TASK_PREFIX}{}/{}", n.path, n.name);
        let (mut exec, mut local, mut attempts, mut interval, mut host, mut role) =
            (None, false, 1, Default::default(), None, None);
        // A role that is not part of this system is the graph's error (`TaskGraph::errors`):
        // it has nothing to resolve against.
        let foreign = |t: &Task| {
            let g = w.lock();
            [t.role, t.run_from]
                .into_iter()
                .flatten()
                .any(|at| !g.contains(at.model))
        };
        if let (NodeRole::Task, Some(t)) = (&n.role, &n.task)
            && t.kind != TaskKind::Null
            && !foreign(t)
        {
            local = matches!(t.kind, TaskKind::LocalCommand(_) | TaskKind::LocalShell(_));
            host = host_resource(w, t);
            role = t.role.map(|at| w.lock().describe(at));
            match resolve(w, &n.name, t) {
                Ok(e) => (exec, attempts, interval) = (Some(e), t.repeat_count, t.repeat_interval),
                Err(e) => {
                    if !e.waiting {
                        r.model_errors.push(PlanBlocker {
                            key: n.name.clone(),
                            error: e.message.clone(),
                        });
                    }
                    r.errors.push(RunFailure {
                        kind: FailureKind::Model,
                        phase: Phase::Configure,
                        task: n.name.clone(),
                        error: e.message,
                        output: Vec::new(),
                    })
                }
            }
        }
        r.prints.push(exec.as_ref().map(ExecTask::fingerprint));
        r.hosts.push(host);
        r.roles.push(role);
        r.tasks.push(Ready {
            key,
            exec,
            local,
            attempts,
            interval,
        });
    }
    r.model_errors.extend(structural_errors(w, graph, &r.tasks));
    r
}

/// What makes the graph itself unusable: a config model nested inside itself, and two nodes that
/// would share one state key (the second would be recorded as done by the first's run). A key is
/// a node's model path and display name, so two roles of the same name in different groups give
/// a `MultiTask` two copies of one key.
fn structural_errors(w: &Shared, graph: &TaskGraph, tasks: &[Ready]) -> Vec<PlanBlocker> {
    let mut errors: Vec<PlanBlocker> = graph
        .errors
        .iter()
        .map(|e| PlanBlocker {
            key: "config".into(),
            error: e.clone(),
        })
        .collect();
    let role = |i: usize| {
        let at = graph.nodes[i].task.as_ref().and_then(|t| t.role);
        at.map_or_else(
            || format!("`{}`", graph.nodes[i].name),
            |at| format!("role {}", w.lock().describe(at)),
        )
    };
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, t) in tasks.iter().enumerate() {
        match first.get(t.key.as_str()) {
            None => {
                first.insert(&t.key, i);
            }
            Some(&j) => errors.push(PlanBlocker {
                key: graph.nodes[i].name.clone(),
                error: format!(
                    "two tasks would share the state key `{}`: `{}` for {} and for {}; the \
                     roles have the same name in different groups — give them distinct names",
                    t.key,
                    graph.nodes[i].name,
                    role(j),
                    role(i)
                ),
            }),
        }
    }
    errors
}

/// The infra resource a task's commands land on (its `run_from` role's, else its role's host).
fn host_resource(w: &Shared, task: &Task) -> Option<String> {
    let role = task.run_from.or(task.role)?;
    let g = w.lock();
    match g.tree(role.model).get::<Role>(role.node)?.host.as_ref()? {
        HostRef::Infra(at) => Some(g.describe(*at)),
        HostRef::Name(_) => None,
    }
}

/// Which tasks run, in the graph's order: a task runs when it never finished, when its
/// fingerprint changed, when its host is created or replaced in this run, when it is asked to,
/// or when a task before it runs (make-like). Everything else is skipped as done.
fn decide(
    graph: &TaskGraph,
    r: &Resolved,
    state: &crate::state::State,
    renewed: &Renewed,
    opts: &PlanOptions,
) -> Vec<TaskChange> {
    let order = graph.topo_order().unwrap_or_default();
    let dag = graph.dag();
    let mut out: Vec<Option<TaskChange>> = vec![None; graph.nodes.len()];
    let mut runs = vec![false; graph.nodes.len()];
    for i in order {
        let n = &graph.nodes[i];
        let structural = r.tasks[i].exec.is_none() && n.role != NodeRole::Task;
        let pred_runs = dag.preds(NodeId(i as u32)).iter().find(|p| runs[p.index()]);
        let entry = state.get(&r.tasks[i].key);
        let recorded = entry
            .filter(|e| e.status == EntryStatus::Created)
            .and_then(|e| e.data.value().get("inputs")?.as_str().map(str::to_owned));
        let (action, reason) =
            if structural || n.task.as_ref().is_some_and(|t| t.kind == TaskKind::Null) {
                // Heads, joins and null tasks do nothing: they pass a predecessor's run on.
                (
                    if pred_runs.is_some() {
                        TaskAction::Rerun
                    } else {
                        TaskAction::Skip
                    },
                    None,
                )
            } else if entry.is_none_or(|e| e.status != EntryStatus::Created) {
                (TaskAction::Run, None)
            } else if opts.reconfigure_all || opts.reconfigure.contains(&n.name) {
                (
                    TaskAction::Rerun,
                    Some("asked for (--reconfigure)".to_owned()),
                )
            } else if let Some(h) = r.hosts[i].as_ref().filter(|h| renewed.contains_key(*h)) {
                (TaskAction::Rerun, Some(format!("its host {h} is new")))
            } else if recorded.is_some()
                && r.prints[i].is_some()
                && recorded.as_deref() != r.prints[i].as_deref()
            {
                (TaskAction::Rerun, Some("its inputs changed".to_owned()))
            } else if let Some(p) = pred_runs {
                (
                    TaskAction::Rerun,
                    Some(format!("`{}` before it runs", graph.nodes[p.index()].name)),
                )
            } else {
                (TaskAction::Skip, None)
            };
        runs[i] = action != TaskAction::Skip;
        out[i] = Some(TaskChange {
            name: n.name.clone(),
            action,
            reason,
            role: r.roles[i].clone(),
            host: r.hosts[i].clone(),
        });
    }
    out.into_iter()
        .map(|c| c.expect("every node in the order"))
        .collect()
}

impl ActuatorOrchestration {
    /// The task part of a plan: each task's run / re-run / skip, predicted from the state and the
    /// outputs known now (a host created in this run re-runs its tasks).
    pub(super) fn plan_tasks(
        &self,
        plan: &mut Plan,
        state: &crate::state::State,
        opts: &PlanOptions,
    ) -> Result<(), String> {
        let (Some(w), Some(graph)) = (&self.world, &self.graph) else {
            return Ok(());
        };
        let graph = graph();
        let order = graph
            .topo_order()
            .map_err(|c| format!("dependency cycle among tasks: {}", c.join(", ")))?;
        let mut resolved = resolve_all(w, &graph);
        // What provisioning cannot fix stops the plan before anything runs.
        plan.errors.append(&mut resolved.model_errors);
        let changes = decide(&graph, &resolved, state, &plan.renewed(), opts);
        plan.tasks = order
            .into_iter()
            .filter(|&i| graph.nodes[i].role == NodeRole::Task)
            .map(|i| changes[i].clone())
            .collect();
        plan.task_edges = graph.edge_names();
        Ok(())
    }
}

pub(super) async fn run(
    o: &mut ActuatorOrchestration,
    w: &Shared,
    graph: &TaskGraph,
    journal: &JournalHandle,
    renewed: &Renewed,
    opts: &PlanOptions,
) -> bool {
    if let Err(cycle) = graph.topo_order() {
        o.failures.push(RunFailure {
            kind: FailureKind::Model,
            phase: Phase::Configure,
            task: cycle.join(", "),
            error: "dependency cycle among these tasks".into(),
            output: Vec::new(),
        });
        return false;
    }
    // Everything is resolved before anything runs: every problem is reported at once.
    let resolved = resolve_all(w, graph);
    if !resolved.errors.is_empty() || !resolved.model_errors.is_empty() {
        // Structural errors are in `model_errors` only (they are no task's failure).
        let structural = resolved
            .model_errors
            .iter()
            .filter(|e| {
                !resolved
                    .errors
                    .iter()
                    .any(|f| f.task == e.key && f.error == e.error)
            })
            .map(|e| RunFailure {
                kind: FailureKind::Model,
                phase: Phase::Configure,
                task: e.key.clone(),
                error: e.error.clone(),
                output: Vec::new(),
            })
            .collect::<Vec<_>>();
        o.failures.extend(resolved.errors);
        o.failures.extend(structural);
        return false;
    }
    let decisions = decide(graph, &resolved, journal.lock().state(), renewed, opts);
    let done: HashSet<NodeId> = decisions
        .iter()
        .enumerate()
        .filter(|(_, d)| d.action == TaskAction::Skip)
        .map(|(i, _)| NodeId(i as u32))
        .collect();
    let Resolved { tasks, prints, .. } = resolved;
    let events = o.events();
    for t in tasks.iter().filter_map(|t| t.exec.as_ref()) {
        if let Some(p) = &t.password {
            events.redactor.add(p.expose());
        }
    }
    let names: Arc<Vec<Arc<str>>> =
        Arc::new(graph.nodes.iter().map(|n| n.name.as_str().into()).collect());
    for (i, d) in decisions.iter().enumerate() {
        if d.action == TaskAction::Skip && tasks[i].exec.is_some() {
            events.event(&Event::TaskUnchanged {
                task: names[i].clone(),
            });
        }
    }
    let quiet: Vec<bool> = tasks.iter().map(|t| t.exec.is_none()).collect();
    let info = Arc::new(WalkInfo::with_hosts(
        tasks
            .iter()
            .map(|t| t.exec.as_ref().map(|e| e.host.clone()))
            .collect(),
    ));
    let limits: HashMap<String, Limit> = tasks
        .iter()
        .filter_map(|t| t.exec.as_ref().filter(|_| !t.local))
        .map(|e| {
            (
                format!("host:{}", e.host),
                Limit::concurrent(o.options.per_host),
            )
        })
        .collect();
    let work = Arc::new(ConfigWork {
        tasks,
        prints,
        agent: o.agent.clone(),
        local: Arc::new(LocalAgent::default()),
        journal: journal.clone(),
        events,
        log: o.run_log.clone(),
        names: names.clone(),
        info: info.clone(),
    });
    walk_phase(
        o,
        PhaseWalk {
            phase: Phase::Configure,
            dag: graph.dag(),
            names,
            work,
            limits,
            done,
            quiet,
            info,
            outcome: Outcome::Ran,
        },
    )
    .await
}
