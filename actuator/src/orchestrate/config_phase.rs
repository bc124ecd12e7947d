//! Configuration: the config model's task graph walked by the engine, each task resolved first —
//! role, host, exported variables, templated arguments — so that every unresolved variable or
//! missing host is reported, all together, before a single task runs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde_json::json;

use super::teardown::TASK_PREFIX;
use super::{ActuatorOrchestration, Failure, FailureKind, JournalHandle, PhaseWalk, walk_phase};
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
                        let data = json!({ "status": out.status, "skipped": out.skipped });
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

pub(super) async fn run(
    o: &mut ActuatorOrchestration,
    w: &Shared,
    graph: &TaskGraph,
    journal: &JournalHandle,
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
    let mut tasks = Vec::new();
    let mut errors = Vec::new();
    for n in &graph.nodes {
        let key = format!("{TASK_PREFIX}{}/{}", n.path, n.name);
        let (exec, local, attempts, interval) = match (&n.role, &n.task) {
            (NodeRole::Task, Some(t)) if t.kind != TaskKind::Null => {
                let local = matches!(t.kind, TaskKind::LocalCommand(_) | TaskKind::LocalShell(_));
                match resolve(w, &n.name, t) {
                    Ok(e) => (Some(e), local, t.repeat_count, t.repeat_interval),
                    Err(e) => {
                        errors.push(Failure {
                            kind: FailureKind::Model,
                            phase: Phase::Configure,
                            task: n.name.clone(),
                            error: e,
                        });
                        (None, local, 1, Default::default())
                    }
                }
            }
            _ => (None, false, 1, Default::default()),
        };
        tasks.push(Ready {
            key,
            exec,
            local,
            attempts,
            interval,
        });
    }
    if !errors.is_empty() {
        o.failures.extend(errors);
        return false;
    }
    let dag = graph.dag();
    let mut done: HashSet<NodeId> = {
        let j = journal.lock();
        tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                j.state()
                    .get(&t.key)
                    .is_some_and(|e| e.status == EntryStatus::Created)
            })
            .map(|(i, _)| NodeId(i as u32))
            .collect()
    };
    // Structural nodes (heads, joins, null tasks) are not journalled: one counts as done when
    // everything before it is, so a resumed run starts exactly where the last one stopped.
    let order = graph.topo_order().unwrap_or_default();
    for i in order {
        if tasks[i].exec.is_none() && dag.preds(NodeId(i as u32)).iter().all(|p| done.contains(p)) {
            done.insert(NodeId(i as u32));
        }
    }
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
        agent: o.agent.clone(),
        local: Arc::new(LocalAgent::default()),
        journal: journal.clone(),
    });
    walk_phase(
        o,
        PhaseWalk {
            phase: Phase::Configure,
            dag,
            names: Arc::new(names),
            work,
            limits,
            done,
            quiet,
        },
    )
    .await
}
