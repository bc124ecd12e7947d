//! Terminal text: a plan as a diff, the state, what discovery found, what a refresh changed.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::orchestrate::{Plan, ResourceAction, TaskAction};
use crate::provision::Discovered;
use crate::state::{Entry, EntryStatus, State};

/// How a recorded or planned argument value reads in a diff: JSON, with `(none)` for a missing
/// one.
fn value(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

/// The key column's width: the longest key, within reason.
fn key_width<'a>(keys: impl Iterator<Item = &'a str>) -> usize {
    keys.map(|k| k.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(10, 48)
}

/// The plan as a diff, one line per resource to change (with each changed argument under it) and
/// per task to run, then what stops it, then the summary line. `verbose` lists unchanged
/// resources and skipped tasks too, instead of counting them.
pub(super) fn plan(p: &Plan, verbose: bool) -> Vec<String> {
    let mut out = Vec::new();
    let shown: Vec<_> = p
        .resources
        .iter()
        .filter(|r| verbose || r.action != ResourceAction::Unchanged)
        .collect();
    let width = key_width(shown.iter().map(|r| &*r.key));
    let mut left_out = Vec::new();
    let mut unchanged = 0;
    if !shown.is_empty() {
        out.push("Resources:".into());
    }
    for r in &p.resources {
        if r.action == ResourceAction::Unchanged {
            unchanged += 1;
            if r.reason.as_deref() == Some("left out (--target / --exclude)") {
                left_out.push(&*r.key);
                continue;
            }
            if !verbose {
                continue;
            }
        }
        let mut notes: Vec<&str> = Vec::new();
        if let Some(why) = &r.reason {
            notes.push(why);
        }
        if r.action == ResourceAction::Replace {
            notes.push(if r.create_before_destroy {
                "create before destroy"
            } else {
                "destroy before create"
            });
        }
        if r.protect {
            notes.push("protected");
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!("  ({})", notes.join("; "))
        };
        out.push(format!(
            "  {:<3} {:<width$}  {}{notes}",
            r.action.sign(),
            r.key,
            r.kind
        ));
        for c in &r.changes {
            let forces = if c.forces_replacement {
                "  # forces replacement"
            } else {
                ""
            };
            out.push(format!(
                "        {}: {} -> {}{forces}",
                c.arg,
                value(&c.old),
                value(&c.new)
            ));
        }
    }
    if !verbose && unchanged > left_out.len() {
        let n = unchanged - left_out.len();
        out.push(format!(
            "  ({n} unchanged resource{}; -v lists them)",
            if n == 1 { "" } else { "s" }
        ));
    }
    if !left_out.is_empty() {
        out.push(format!(
            "  Left out (--target / --exclude): {}",
            left_out.join(", ")
        ));
    }
    let skipped: Vec<&str> = p
        .tasks
        .iter()
        .filter(|t| t.action == TaskAction::Skip)
        .map(|t| t.name.as_str())
        .collect();
    if !p.tasks.is_empty() {
        out.push("Tasks:".into());
    }
    for t in &p.tasks {
        let line = match t.action {
            TaskAction::Run => format!("  run     {}", t.name),
            TaskAction::Rerun => format!(
                "  re-run  {} ({})",
                t.name,
                t.reason.as_deref().unwrap_or("what it depends on changed")
            ),
            TaskAction::Skip if verbose => format!("  skip    {} (done)", t.name),
            TaskAction::Skip => continue,
        };
        out.push(line);
    }
    if !verbose && !skipped.is_empty() {
        out.push(format!(
            "  skip    {} task{} (done; -v lists them)",
            skipped.len(),
            if skipped.len() == 1 { "" } else { "s" }
        ));
    }
    if !p.unresolved.is_empty() {
        out.push("Unresolved variables:".into());
        for u in &p.unresolved {
            out.push(format!("  {}: {} needs {}", u.role, u.variable, u.missing));
        }
    }
    if !p.errors.is_empty() {
        out.push("Errors (nothing can be applied until they are fixed):".into());
        for e in &p.errors {
            out.push(format!("  {}: {}", e.key, e.error));
        }
    }
    if !p.has_changes() && p.errors.is_empty() {
        out.push("No changes: the system matches the model.".into());
    }
    out.push(p.summary_line());
    out
}

fn status_word(s: EntryStatus) -> &'static str {
    match s {
        EntryStatus::Creating => "creating (interrupted)",
        EntryStatus::Created => "created",
        EntryStatus::CreateFailed => "create failed",
        EntryStatus::Deleting => "deleting (interrupted)",
        EntryStatus::DeleteFailed => "delete failed",
        EntryStatus::Updating => "updating (interrupted)",
    }
}

fn is_task(e: &Entry) -> bool {
    e.key.starts_with("task:")
}

/// What identifies a recorded resource to a person: its `id` output and its address.
fn ident(e: &Entry) -> String {
    let data = e.data.value();
    let outputs = data.get("outputs").and_then(Value::as_object);
    let get = |k: &str| outputs.and_then(|o| o.get(k)).and_then(Value::as_str);
    match (get("id"), get("ip")) {
        (Some(id), Some(ip)) if id != ip => format!("{id} {ip}"),
        (Some(id), _) => id.to_owned(),
        (None, Some(ip)) => ip.to_owned(),
        (None, None) => String::new(),
    }
}

/// `status`: the state's resources, one per line, and its tasks counted (listed with -v).
pub(super) fn status(
    system: &str,
    workspace: &str,
    dir: Option<&str>,
    st: &State,
    verbose: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let run = st
        .meta()
        .get("status")
        .map_or("never run".to_owned(), |s| s.clone());
    let resources: Vec<&Entry> = st.iter().filter(|e| !is_task(e)).collect();
    let tasks: Vec<&Entry> = st.iter().filter(|e| is_task(e)).collect();
    out.push(format!(
        "{system} (workspace {workspace}): {run}; {} resource{}, {} task{} recorded{}",
        resources.len(),
        if resources.len() == 1 { "" } else { "s" },
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" },
        dir.map(|d| format!(" in {d}")).unwrap_or_default()
    ));
    let width = key_width(resources.iter().map(|e| &*e.key));
    let kind_width = resources
        .iter()
        .map(|e| e.kind.len())
        .max()
        .unwrap_or(0)
        .min(24);
    for e in &resources {
        let mut line = format!(
            "  {:<width$}  {:<kind_width$}  {:<8}",
            e.key,
            e.kind,
            status_word(e.status)
        );
        let id = ident(e);
        if !id.is_empty() {
            line.push_str("  ");
            line.push_str(&id);
        }
        if let Some(err) = &e.error {
            line.push_str(&format!("  ({err})"));
        }
        out.push(line.trim_end().to_owned());
    }
    if verbose {
        for e in &tasks {
            out.push(format!(
                "  {}  {}",
                e.key.trim_start_matches("task:"),
                status_word(e.status).replace("created", "done")
            ));
        }
    } else if !tasks.is_empty() {
        let done = tasks
            .iter()
            .filter(|e| e.status == EntryStatus::Created)
            .count();
        out.push(format!(
            "  tasks: {done} done, {} not done (-v lists them)",
            tasks.len() - done
        ));
    }
    out
}

/// What `--discover` found, each marked as this state's, another's, or untagged.
pub(super) fn discovered(found: &[Discovered], this_state: Option<&str>) -> Vec<String> {
    let width = key_width(found.iter().map(|d| d.key.as_str()));
    found
        .iter()
        .map(|d| {
            let owner = match (d.state_id.as_str(), this_state) {
                ("", _) => "no state tag".to_owned(),
                (id, Some(mine)) if id == mine => "this state".to_owned(),
                (id, _) => format!("state {}", &id[..id.len().min(12)]),
            };
            format!(
                "  {:<width$}  {}  {}  ({owner})",
                d.key,
                d.kind,
                d.outputs.get("id").map_or("", String::as_str)
            )
        })
        .collect()
}

/// What a refresh changed, from the state before and after it.
pub(super) fn refreshed(before: &State, after: &State) -> Vec<String> {
    let outputs = |e: &Entry| -> BTreeMap<String, String> {
        e.data
            .value()
            .get("outputs")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = Vec::new();
    let mut read = 0;
    for e in before.iter().filter(|e| !is_task(e)) {
        read += 1;
        match after.get(&e.key) {
            None => out.push(format!(
                "  -   {}  gone: deleted outside actuator (the next `up` creates it again)",
                e.key
            )),
            Some(now) => {
                let (old, new) = (outputs(e), outputs(now));
                for (k, v) in &new {
                    let was = old.get(k).map_or("(none)", String::as_str);
                    if was != v {
                        out.push(format!("  ~   {}  {k}: {was} -> {v}", e.key));
                    }
                }
            }
        }
    }
    let changed = out.len();
    out.insert(
        0,
        format!(
            "Refreshed {read} resource{}: {}",
            if read == 1 { "" } else { "s" },
            if changed == 0 {
                "each as recorded.".to_owned()
            } else {
                format!("{changed} change{}:", if changed == 1 { "" } else { "s" })
            }
        ),
    );
    out
}
