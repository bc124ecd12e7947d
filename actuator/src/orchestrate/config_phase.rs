//! Configuration: the config model's task graph walked by the engine, each task resolved first —
//! role, host, exported variables, templated arguments — so that every unresolved variable or
//! missing host is reported, all together, before a single task runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

use super::plan::{PlanOptions, Renewed, TASK_PREFIX, TaskAction, TaskChange};
use super::{
    ActuatorOrchestration, Failure, FailureKind, JournalHandle, PhaseWalk, Plan, walk_phase,
};
use crate::config::{CommandLine, NodeRole, Task, TaskGraph, TaskKind};
use crate::engine::{AttemptError, Limit, NodeId, Work};
use crate::events::Phase;
use crate::exec::{Action, CopySpec, ExecAgent, ExecTask, LocalAgent};
use crate::model::At;
use crate::model::build::Shared;
use crate::namespace::{HostRef, Role, expand_for, visible_vars};
use crate::state::Status as EntryStatus;

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
        async move {
            let k = key.clone();
            journal
                .record(move |j| j.intent(&k, "config.Task", json!({})))
                .await?;
            // The task's own repeat_count / repeat_interval (the original's linear retry).
            let mut last = None;
            for attempt in 1..=attempts {
                if attempt > 1 {
                    tokio::time::sleep(interval).await;
                }
                match agent.run(exec.clone()).await {
                    Ok(out) => {
                        let data = json!({
                            "status": out.status,
                            "skipped": out.skipped,
                            "inputs": print,
                        });
                        return journal.record(move |j| j.done(&key, data)).await;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let e = last.expect("at least one attempt");
            let msg = e.to_string();
            let _ = journal.record(move |j| j.failed(&key, &msg)).await;
            Err(AttemptError::fatal(e.to_string()))
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

/// The address of the role at `role`: its host name (expanded for the role) or its infra
/// component's `ip` output.
fn host_of(w: &Shared, role: At) -> Result<String, String> {
    let (host, who) = {
        let g = w.lock();
        let r = g.tree(role.model).get::<Role>(role.node).cloned();
        (r.and_then(|r| r.host), g.describe(role))
    };
    match host {
        None => Err(format!("role {who} has no host_ref")),
        Some(HostRef::Name(n)) => expand_for(w, role, &n).map_err(|e| e.to_string()),
        Some(HostRef::Infra(at)) => {
            let g = w.lock();
            g.output(at, "ip").map(str::to_owned).ok_or_else(|| {
                format!(
                    "role {who}'s host {} has no address yet (was it provisioned?)",
                    g.describe(at)
                )
            })
        }
    }
}

fn resolve(w: &Shared, name: &str, task: &Task) -> Result<ExecTask, String> {
    let role = task.role.ok_or_else(|| {
        format!("task `{name}` has no role: give it `.role(ns.…)` or run it inside a MultiTask / ConfigClassTask that has one")
    })?;
    let x = |s: &str| expand_for(w, role, s).map_err(|e| format!("task `{name}`: {e}"));
    let host =
        host_of(w, task.run_from.unwrap_or(role)).map_err(|e| format!("task `{name}`: {e}"))?;
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
            let words = c.words().map_err(|e| match c {
                CommandLine::Line(line) => format!("task `{name}`: bad command `{line}`: {e}"),
                CommandLine::Argv(_) => format!("task `{name}`: bad command: {e}"),
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
                    format!("task `{name}`: cannot read script {}: {e}", path.display())
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
            let expander: Option<crate::exec::Template> = template.then(|| {
                let w = w.clone();
                // The agent's `ExecError::Template` names the task and the file.
                Arc::new(move |s: &str| expand_for(&w, role, s).map_err(|e| e.to_string()))
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
    Ok(ExecTask {
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
    })
}

/// Every task of the graph resolved (role, host, variables, arguments) for its key in the state;
/// problems are collected, not returned on the first.
struct Resolved {
    tasks: Vec<Ready>,
    /// Each task's fingerprint (`None` for structural nodes and unresolvable tasks).
    prints: Vec<Option<String>>,
    /// The infra resource each task's host is (`None`: a named host or none).
    hosts: Vec<Option<String>>,
    errors: Vec<Failure>,
}

fn resolve_all(w: &Shared, graph: &TaskGraph) -> Resolved {
    let mut r = Resolved {
        tasks: Vec::new(),
        prints: Vec::new(),
        hosts: Vec::new(),
        errors: Vec::new(),
    };
    for n in &graph.nodes {
        let key = format!("{TASK_PREFIX}{}/{}", n.path, n.name);
        let (mut exec, mut local, mut attempts, mut interval, mut host) =
            (None, false, 1, Default::default(), None);
        if let (NodeRole::Task, Some(t)) = (&n.role, &n.task)
            && t.kind != TaskKind::Null
        {
            local = matches!(t.kind, TaskKind::LocalCommand(_) | TaskKind::LocalShell(_));
            host = host_resource(w, t);
            match resolve(w, &n.name, t) {
                Ok(e) => (exec, attempts, interval) = (Some(e), t.repeat_count, t.repeat_interval),
                Err(e) => r.errors.push(Failure {
                    kind: FailureKind::Model,
                    phase: Phase::Configure,
                    task: n.name.clone(),
                    error: e,
                }),
            }
        }
        r.prints.push(exec.as_ref().map(ExecTask::fingerprint));
        r.hosts.push(host);
        r.tasks.push(Ready {
            key,
            exec,
            local,
            attempts,
            interval,
        });
    }
    r
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
            .and_then(|e| e.data.get("inputs"))
            .and_then(|v| v.as_str());
        let (action, reason) = if structural
            || n.task.as_ref().is_some_and(|t| t.kind == TaskKind::Null)
        {
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
        } else if recorded.is_some() && r.prints[i].is_some() && recorded != r.prints[i].as_deref()
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
        let resolved = resolve_all(w, &graph);
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
        o.failures.push(Failure {
            kind: FailureKind::Model,
            phase: Phase::Configure,
            task: cycle.join(", "),
            error: "dependency cycle among these tasks".into(),
        });
        return false;
    }
    // Everything is resolved before anything runs: every problem is reported at once.
    let resolved = resolve_all(w, graph);
    if !resolved.errors.is_empty() {
        o.failures.extend(resolved.errors);
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
    let quiet: Vec<bool> = tasks.iter().map(|t| t.exec.is_none()).collect();
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
    let names: Vec<String> = graph.nodes.iter().map(|n| n.name.clone()).collect();
    let work = Arc::new(ConfigWork {
        tasks,
        prints,
        agent: o.agent.clone(),
        local: Arc::new(LocalAgent::default()),
        journal: journal.clone(),
    });
    walk_phase(
        o,
        PhaseWalk {
            phase: Phase::Configure,
            dag: graph.dag(),
            names: Arc::new(names),
            work,
            limits,
            done,
            quiet,
        },
    )
    .await
}
