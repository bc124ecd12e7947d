//! Each command: what it asks the orchestration, what it prints, and its exit code.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::sync::Arc;

use clap::CommandFactory;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::out::{Out, outln, say};
use super::progress::{InFlight, Lines, LogWriter, Progress, TaskLines};
use super::summary::{self, phase_word};
use super::{
    Changes, Cli, Command, EXIT_CHANGES, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK,
    EXIT_USAGE, Format, StateCommand, Targets, render,
};
use crate::events::{Envelope, Event, EventHandler, Fanout, JsonLines, RunOutcome};
use crate::orchestrate::{
    ActuatorOrchestration, FAILURE_LOG_TARGET, FailureKind, GraphFormat, OrchestrationError,
    PLAN_SCHEMA, Plan, PlanOptions, inputs,
};

/// What every command needs besides the orchestration.
struct Cx {
    out: Out,
    json: bool,
    verbose: u8,
    quiet: bool,
    bin: String,
}

impl Cx {
    /// A line for people: on stdout, but on stderr under `--json`, whose stdout holds only
    /// JSON.
    fn human(&mut self, line: std::fmt::Arguments<'_>) {
        if self.json {
            say!("{line}");
        } else {
            self.out.line(line);
        }
    }
}

pub(super) fn run(args: Cli, orch: ActuatorOrchestration) -> u8 {
    init_logging(&args, &orch);
    let mut orch = orch.max_concurrency(args.max_concurrency as usize);
    if let Some(w) = &args.workspace {
        orch = orch.workspace(w.clone());
    }
    orch = super::state_url::choose(orch, args.state.as_deref());
    // Inputs: the environment first, then the files in order, then each `--var`; the last
    // given wins (as Terraform's).
    orch = orch.vars(inputs::from_env());
    for file in &args.var_files {
        match inputs::read_var_file(file) {
            Ok(vars) => orch = orch.vars(vars),
            Err(e) => {
                say!("error: --var-file: {e}");
                return EXIT_USAGE;
            }
        }
    }
    for var in &args.vars {
        match inputs::parse_var(var) {
            Ok((name, value)) => orch = orch.var(&name, value),
            Err(e) => {
                say!("error: --var {e}");
                return EXIT_USAGE;
            }
        }
    }
    // Reads take no lock: they work while an `up` runs, and on a read-only state directory.
    let reads = matches!(
        &args.command,
        Command::Status
            | Command::Graph { .. }
            | Command::Report
            | Command::Outputs
            | Command::Plan { .. }
            | Command::State(
                StateCommand::List | StateCommand::Show { .. } | StateCommand::Pull { .. }
            )
    );
    if reads {
        orch = orch.read_only();
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            say!("error: cannot start the async runtime: {e}");
            return EXIT_INVALID;
        }
    };
    let bin = if args.bin.is_empty() {
        orch.system().to_owned()
    } else {
        args.bin.clone()
    };
    let mut cx = Cx {
        out: Out::stdout(),
        json: args.json,
        verbose: args.verbose,
        quiet: args.quiet,
        bin,
    };
    let rt = &rt;
    match args.command {
        Command::Plan {
            changes,
            targets,
            destroy,
            out,
            detailed_exitcode,
            discover,
        } => {
            if discover {
                return discover_list(&mut cx, rt, &mut orch);
            }
            let opts = plan_options(&changes, &targets, destroy);
            plan(
                &mut cx,
                rt,
                &mut orch,
                &opts,
                out.as_deref(),
                detailed_exitcode,
            )
        }
        Command::Up {
            plan_file,
            changes,
            targets,
        } => up(&mut cx, rt, orch, plan_file.as_deref(), &changes, &targets),
        Command::Down {
            yes,
            discover,
            targets,
        } => {
            if discover {
                down_discovered(&mut cx, rt, orch, yes)
            } else {
                down(&mut cx, rt, orch, yes, &targets)
            }
        }
        Command::Refresh => refresh(&mut cx, rt, orch),
        Command::Status => status(&mut cx, &mut orch),
        Command::Outputs => outputs(&mut cx, &mut orch),
        Command::Graph { format } => match orch.plan() {
            Ok(p) if cx.json => {
                json_event(&mut cx, &Event::Graph(p.graph_data()));
                EXIT_OK
            }
            Ok(p) => {
                cx.out.text(&p.graph(match format {
                    Format::Dot => GraphFormat::Dot,
                    Format::Mermaid => GraphFormat::Mermaid,
                }));
                EXIT_OK
            }
            Err(e) => failed(&e),
        },
        Command::Report => report(&mut cx, &mut orch),
        Command::State(StateCommand::Pull { file }) => {
            super::state_url::pull(&mut orch, &file, cx.json.then_some(&mut cx.out))
        }
        Command::State(StateCommand::Push { file, force }) => {
            super::state_url::push(&mut orch, &file, force, cx.json.then_some(&mut cx.out))
        }
        Command::State(sc) => state(&mut cx, &mut orch, sc),
        Command::ForceUnlock { lease_id } => {
            super::state_url::force_unlock(&mut orch, &lease_id, cx.json.then_some(&mut cx.out))
        }
        Command::Import { path, id } => import(&mut cx, rt, &mut orch, &path, &id),
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, cx.bin.clone(), &mut buf);
            cx.out.text(&String::from_utf8_lossy(&buf));
            EXIT_OK
        }
    }
}

/// Logs on stderr, around the live view: `RUST_LOG` if set, else warnings (`-q`: errors, `-v`:
/// info, `-vv`: debug). Failures are left out of the logs: the command prints each one once.
fn init_logging(args: &Cli, orch: &ActuatorOrchestration) {
    let default = match (args.quiet, args.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Client libraries that log credentials at debug level never get past INFO, whatever
    // RUST_LOG asks for.
    let mut directives: Vec<String> = orch
        .secret_log_targets()
        .iter()
        .map(|t| format!("{t}=info"))
        .collect();
    directives.push(format!("{FAILURE_LOG_TARGET}=off"));
    for d in directives {
        if let Ok(d) = d.parse() {
            filter = filter.add_directive(d);
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(LogWriter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

/// The one event of a command that is not a run (every command but `up`, `down` and `refresh`)
/// with `--json`: enveloped like a run's, under a run id of its own, on one line.
fn json_event(cx: &mut Cx, e: &Event) {
    write_event(&mut cx.out, e);
}

/// [`json_event`] for the commands that have no [`Cx`] (`state pull|push`, `force-unlock`).
pub(super) fn write_event(out: &mut Out, e: &Event) {
    let run = crate::orchestrate::new_run_id();
    outln!(
        out,
        "{}",
        serde_json::to_string(&Envelope::now(&run, e)).unwrap_or_default()
    );
}

fn invalid(msg: &str) -> u8 {
    say!("error: {msg}");
    EXIT_INVALID
}

fn plan_options(c: &Changes, s: &Targets, destroy: bool) -> PlanOptions {
    PlanOptions {
        // `down` plans from the state: what is recorded is what it deletes.
        refresh: c.refresh && !destroy,
        replace: c.replace.clone(),
        reconfigure: c.reconfigure.clone().unwrap_or_default(),
        reconfigure_all: c.reconfigure.as_ref().is_some_and(Vec::is_empty),
        targets: s.targets.clone(),
        excludes: s.excludes.clone(),
        destroy,
        allow_destroy_protected: s.allow_destroy_protected,
    }
}

/// A `--target`, `--exclude`, `--replace` or `--reconfigure` that names nothing is a typo, not
/// an empty selection.
fn check_selection(p: &Plan, o: &PlanOptions) -> Result<(), String> {
    let selects = |path: &str| {
        p.resources.iter().any(|r| {
            &*r.key == path
                || r.key
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('#'))
        })
    };
    let mut unknown: Vec<String> = o
        .targets
        .iter()
        .map(|t| ("--target", t))
        .chain(o.excludes.iter().map(|t| ("--exclude", t)))
        .chain(o.replace.iter().map(|t| ("--replace", t)))
        .filter(|(_, path)| !selects(path))
        .map(|(flag, path)| format!("{flag} {path}: no resource at this path"))
        .collect();
    unknown.extend(
        o.reconfigure
            .iter()
            .filter(|t| !p.tasks.iter().any(|task| &task.name == *t))
            .map(|t| format!("--reconfigure {t}: no task of this name")),
    );
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(unknown.join("; "))
    }
}

/// A plan that could not be made: a refresh whose reads failed is a failed run (1); anything
/// else (a state that cannot be opened, a cycle) means the model or state cannot be used (3).
/// A plan that could not be made: the reads that failed (each resource once), then why.
fn plan_failed(orch: &ActuatorOrchestration, error: &OrchestrationError) -> u8 {
    if let OrchestrationError::Cloud(_) = error {
        for f in orch
            .failures()
            .iter()
            .filter(|f| f.kind == FailureKind::Run)
        {
            say!("error: {} {}: {}", phase_word(f.phase), f.task, f.error);
        }
    }
    failed(error)
}

/// Prints `error` and gives its exit code: [`EXIT_FAILED`] for what went wrong in the cloud or
/// with the path a command names, [`EXIT_INVALID`] for a model or state that cannot be used.
pub(super) fn failed(error: &OrchestrationError) -> u8 {
    say!("error: {error}");
    match error {
        OrchestrationError::Path(_) | OrchestrationError::Cloud(_) => EXIT_FAILED,
        _ => EXIT_INVALID,
    }
}

fn plan(
    cx: &mut Cx,
    rt: &tokio::runtime::Runtime,
    orch: &mut ActuatorOrchestration,
    opts: &PlanOptions,
    save: Option<&Path>,
    detailed_exitcode: bool,
) -> u8 {
    let p = match rt.block_on(orch.plan_with(opts)) {
        Ok(p) => p,
        Err(e) => return plan_failed(orch, &e),
    };
    if let Err(e) = check_selection(&p, opts) {
        return invalid(&e);
    }
    if let Some(file) = save
        && let Err(e) = save_plan(file, &p, opts)
    {
        say!("error: cannot save the plan to {}: {e}", file.display());
        return EXIT_FAILED;
    }
    if cx.json {
        plan_event(cx, &p);
    } else {
        for line in render::plan(&p, cx.verbose > 0) {
            outln!(cx.out, "{line}");
        }
        if let Some(file) = save {
            outln!(
                cx.out,
                "Saved to {}: `{} up {}` applies exactly this plan.",
                file.display(),
                cx.bin,
                file.display()
            );
        }
    }
    if p.has_errors() {
        EXIT_INVALID
    } else if detailed_exitcode && p.has_changes() {
        EXIT_CHANGES
    } else {
        EXIT_OK
    }
}

/// With `--json`, `p` as the one `plan` event of a command (`plan`, or a `down` that runs
/// nothing).
fn plan_event(cx: &mut Cx, p: &Plan) {
    if cx.json {
        let plan = serde_json::to_value(p).unwrap_or_default();
        json_event(cx, &Event::Plan { plan });
    }
}

/// The options a saved plan was made with, so that `up FILE` can make it again and compare.
#[derive(Serialize, Deserialize)]
struct SavedOptions {
    refresh: bool,
    replace: Vec<String>,
    reconfigure: Vec<String>,
    reconfigure_all: bool,
    targets: Vec<String>,
    excludes: Vec<String>,
    destroy: bool,
    allow_destroy_protected: bool,
}

impl From<&PlanOptions> for SavedOptions {
    fn from(o: &PlanOptions) -> Self {
        SavedOptions {
            refresh: o.refresh,
            replace: o.replace.clone(),
            reconfigure: o.reconfigure.clone(),
            reconfigure_all: o.reconfigure_all,
            targets: o.targets.clone(),
            excludes: o.excludes.clone(),
            destroy: o.destroy,
            allow_destroy_protected: o.allow_destroy_protected,
        }
    }
}

impl From<SavedOptions> for PlanOptions {
    fn from(o: SavedOptions) -> Self {
        PlanOptions {
            refresh: o.refresh,
            replace: o.replace,
            reconfigure: o.reconfigure,
            reconfigure_all: o.reconfigure_all,
            targets: o.targets,
            excludes: o.excludes,
            destroy: o.destroy,
            allow_destroy_protected: o.allow_destroy_protected,
        }
    }
}

/// A saved plan is the plan's JSON (`docs/plan.schema.json`) with the options it was made with
/// under `options`.
fn save_plan(file: &Path, p: &Plan, opts: &PlanOptions) -> std::io::Result<()> {
    let mut v = serde_json::to_value(p).map_err(std::io::Error::other)?;
    v["options"] = serde_json::to_value(SavedOptions::from(opts)).map_err(std::io::Error::other)?;
    let text = serde_json::to_string_pretty(&v).map_err(std::io::Error::other)?;
    std::fs::write(file, text + "\n")
}

fn load_plan(file: &Path) -> Result<(Plan, PlanOptions), String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a saved plan: {e}", file.display()))?;
    if v.get("schema").and_then(Value::as_u64) != Some(u64::from(PLAN_SCHEMA)) {
        return Err(format!(
            "{} is not a plan of schema {PLAN_SCHEMA} (made by another version?): plan again",
            file.display()
        ));
    }
    let opts: SavedOptions = v
        .get("options")
        .cloned()
        .ok_or_else(|| {
            format!(
                "{} has no options: save plans with `plan --out`",
                file.display()
            )
        })
        .and_then(|o| {
            serde_json::from_value(o).map_err(|e| format!("{}: options: {e}", file.display()))
        })?;
    let plan: Plan = serde_json::from_value(v)
        .map_err(|e| format!("{} is not a saved plan: {e}", file.display()))?;
    Ok((plan, opts.into()))
}

/// How a saved plan differs from a fresh one: the resources and tasks whose action changed.
fn differences(saved: &Plan, fresh: &Plan) -> String {
    let actions = |p: &Plan| -> BTreeMap<String, String> {
        p.resources
            .iter()
            .map(|r| (r.key.to_string(), format!("{:?}", r.action).to_lowercase()))
            .chain(p.tasks.iter().map(|t| {
                (
                    format!("task {}", t.name),
                    format!("{:?}", t.action).to_lowercase(),
                )
            }))
            .collect()
    };
    let (a, b) = (actions(saved), actions(fresh));
    let none = "nothing".to_owned();
    let mut diffs: Vec<String> = a
        .keys()
        .chain(b.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            format!(
                "{k}: {} then, {} now",
                a.get(k).unwrap_or(&none),
                b.get(k).unwrap_or(&none)
            )
        })
        .collect();
    if diffs.len() > 5 {
        let more = diffs.len() - 5;
        diffs.truncate(5);
        diffs.push(format!("{more} more"));
    }
    diffs.join("; ")
}

/// The event handlers of a run: what is in flight, and the view. (The orchestration counts the
/// run for its summary itself.)
fn run_handlers(cx: &Cx) -> (Arc<dyn EventHandler>, Arc<InFlight>) {
    let in_flight = Arc::new(InFlight::default());
    let mut hs: Vec<Arc<dyn EventHandler>> = vec![in_flight.clone()];
    if cx.json {
        hs.push(Arc::new(JsonLines::new(std::io::stdout())));
    } else if !cx.quiet {
        if std::io::stderr().is_terminal() {
            hs.push(Arc::new(Progress::new()));
        } else {
            hs.push(Arc::new(Lines));
        }
        if cx.verbose > 0 {
            hs.push(Arc::new(TaskLines));
        }
    }
    (Arc::new(Fanout(hs)), in_flight)
}

/// Ctrl-C once: nothing new starts, what is in flight finishes (and is named). Twice: what is in
/// flight is abandoned too; its intents are in the state for the next run to reconcile.
fn watch_ctrl_c(
    orch: &ActuatorOrchestration,
    in_flight: Arc<InFlight>,
    again: String,
) -> tokio::task::JoinHandle<()> {
    let (cancel, abort) = (orch.cancel_token(), orch.abort_token());
    // One stream for both presses, made before the run starts: a press that comes while the
    // first is being handled is kept, not lost between two listeners.
    let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    tokio::spawn(async move {
        let Some(sigint) = sigint.as_mut() else {
            return;
        };
        if sigint.recv().await.is_none() {
            return;
        }
        cancel.cancel();
        match in_flight.describe() {
            (0, _) => say!("interrupted: stopping (nothing in flight)"),
            (n, names) => say!(
                "interrupted: nothing new starts; waiting for {n} in flight: {names} \
                 (Ctrl-C again abandons them)"
            ),
        }
        if sigint.recv().await.is_none() {
            return;
        }
        abort.cancel();
        let (n, names) = in_flight.describe();
        say!(
            "aborting {n} in flight: {names}; the state keeps their intents and `{again}` \
             reconciles them"
        );
    })
}

/// The end of a run: the summary (stdout), each failure once (stderr), the exit code. `again` is
/// what to run to resume it. With `--json` the stream's last event, `summary`, was the summary.
fn finish_run(cx: &mut Cx, again: &str, orch: &ActuatorOrchestration, ok: bool) -> u8 {
    super::progress::close();
    let s = orch.summary();
    let interrupted = !ok && s.outcome == RunOutcome::Interrupted;
    if !cx.json {
        outln!(cx.out, "{}", summary::line(&s));
        for f in &s.failures {
            for line in summary::failure(f, s.log.as_deref()) {
                say!("{line}");
            }
        }
    }
    if interrupted {
        say!("interrupted: run `{} {again}` again to resume", cx.bin);
    }
    cx.out.flush();
    if ok {
        EXIT_OK
    } else if interrupted {
        EXIT_INTERRUPTED
    } else if orch.failures().iter().any(|f| f.kind != FailureKind::Run) {
        // A model that cannot run (or a state that cannot be used) is not a failed run.
        EXIT_INVALID
    } else {
        EXIT_FAILED
    }
}

fn up(
    cx: &mut Cx,
    rt: &tokio::runtime::Runtime,
    orch: ActuatorOrchestration,
    plan_file: Option<&Path>,
    changes: &Changes,
    targets: &Targets,
) -> u8 {
    let (opts, saved) = match plan_file {
        Some(f) => match load_plan(f) {
            Ok((p, o)) => (o, Some(p)),
            Err(e) => return invalid(&e),
        },
        None => (plan_options(changes, targets, false), None),
    };
    // Another system's or workspace's plan is refused before this one's state is opened.
    if let (Some(saved), Some(file)) = (&saved, plan_file)
        && (saved.system.as_str(), saved.workspace.as_str())
            != (orch.system(), orch.workspace_name())
    {
        return invalid(&format!(
            "{} is a plan for {} (workspace {}), not {} (workspace {})",
            file.display(),
            saved.system,
            saved.workspace,
            orch.system(),
            orch.workspace_name()
        ));
    }
    let (handler, in_flight) = run_handlers(cx);
    let mut orch = orch.handler(handler);
    let again = format!("{} up", cx.bin);
    rt.block_on(async {
        let ctrl_c = watch_ctrl_c(&orch, in_flight, again);
        // Plan and application are one run (one run id in every event): the plan is checked
        // and shown in between.
        let ok = orch
            .up_with(&opts, |plan| {
                check_selection(plan, &opts)?;
                if let (Some(saved), Some(file)) = (&saved, plan_file) {
                    check_saved(saved, file, plan)?;
                }
                show_plan(cx, plan);
                Ok(())
            })
            .await;
        ctrl_c.abort();
        // The outputs of a finished `up`, before its summary (which stays the last line); in
        // `--json` its `outputs` event carried them.
        if ok && !cx.json && !cx.quiet {
            super::progress::close();
            show_outputs(cx, &mut orch);
        }
        finish_run(cx, "up", &orch, ok)
    })
}

/// A saved plan is applied only if a fresh one does exactly the same, to the same state.
fn check_saved(saved: &Plan, file: &Path, plan: &Plan) -> Result<(), String> {
    let name = file.display();
    if saved.state_seq != plan.state_seq {
        return Err(format!(
            "the state moved since {name} was made (record {} then, {} now): nothing was \
             applied; plan again",
            saved.state_seq, plan.state_seq
        ));
    }
    if !saved.same_actions(plan) {
        return Err(format!(
            "{name} no longer matches what `up` would do ({}): nothing was applied; plan again",
            differences(saved, plan)
        ));
    }
    Ok(())
}

/// What `up` is about to do: its summary line (`-v`: the whole plan).
fn show_plan(cx: &mut Cx, plan: &Plan) {
    if cx.json {
        return;
    }
    if cx.verbose > 0 {
        for line in render::plan(plan, true) {
            outln!(cx.out, "{line}");
        }
    } else {
        outln!(cx.out, "{}", plan.summary_line());
    }
    cx.out.flush();
}

/// Each role's host and address and the marked outputs, when the model has any.
fn show_outputs(cx: &mut Cx, orch: &mut ActuatorOrchestration) {
    if let Ok(o) = orch.outputs()
        && !(o.roles.is_empty() && o.outputs.is_empty())
    {
        cx.out.text(&o.to_string());
        cx.out.flush();
    }
}

/// Asks before deleting. Without a terminal to ask on, `--yes` is required.
fn confirm(cx: &Cx, question: &str, yes: bool) -> Result<(), u8> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        say!(
            "error: this deletes resources and there is no terminal to ask on: run `{} down --yes` \
             to confirm",
            cx.bin
        );
        return Err(EXIT_USAGE);
    }
    super::progress::write_stderr(format!("{question} [y/N] ").as_bytes());
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => {
            say!("Cancelled: nothing was deleted.");
            Err(EXIT_FAILED)
        }
    }
}

fn down(
    cx: &mut Cx,
    rt: &tokio::runtime::Runtime,
    orch: ActuatorOrchestration,
    yes: bool,
    targets: &Targets,
) -> u8 {
    let opts = plan_options(&Changes::default(), targets, true);
    let (handler, in_flight) = run_handlers(cx);
    let mut orch = orch.handler(handler);
    let plan = match rt.block_on(orch.plan_with(&opts)) {
        Ok(p) => p,
        Err(e) => {
            super::progress::close();
            return plan_failed(&orch, &e);
        }
    };
    if let Err(e) = check_selection(&plan, &opts) {
        return invalid(&e);
    }
    let where_ = orch
        .state_location()
        .ok()
        .flatten()
        .map(|l| format!(" in {l}"))
        .unwrap_or_default();
    if plan.resources.is_empty() {
        // Nothing in the cloud to delete; task records (if any) are forgotten quietly, and a
        // state with nothing at all in it is left as it is.
        let recorded = orch.state().map(|st| !st.is_empty()).unwrap_or(false);
        let ok = !recorded || rt.block_on(orch.apply(&plan, &opts));
        if !recorded {
            // No run, no stream: with `--json` the plan says there is nothing to delete.
            plan_event(cx, &plan);
        }
        let bin = cx.bin.clone();
        cx.human(format_args!(
            "Nothing to delete: the state{where_} records no resources of {} (workspace {}). \
             If they were made with a state that is now lost, `{} down --discover` finds them by \
             their tags.",
            orch.system(),
            orch.workspace_name(),
            bin
        ));
        return if ok {
            EXIT_OK
        } else {
            finish_run(cx, "down", &orch, ok)
        };
    }
    if plan.has_errors() {
        plan_event(cx, &plan);
        for line in render::plan(&plan, false) {
            cx.human(format_args!("{line}"));
        }
        return EXIT_INVALID;
    }
    if plan.summary.destroy == 0 {
        plan_event(cx, &plan);
        cx.human(format_args!(
            "Nothing to delete: every recorded resource was left out by --target / --exclude."
        ));
        return EXIT_OK;
    }
    if !cx.json || !yes {
        for line in render::plan(&plan, false) {
            cx.human(format_args!("{line}"));
        }
        cx.out.flush();
    }
    let question = format!(
        "Delete these {} resource{} of {} (workspace {})?",
        plan.summary.destroy,
        if plan.summary.destroy == 1 { "" } else { "s" },
        orch.system(),
        orch.workspace_name()
    );
    if let Err(code) = confirm(cx, &question, yes) {
        return code;
    }
    let again = format!("{} down", cx.bin);
    rt.block_on(async {
        let ctrl_c = watch_ctrl_c(&orch, in_flight, again);
        let ok = orch.apply(&plan, &opts).await;
        ctrl_c.abort();
        finish_run(cx, "down", &orch, ok)
    })
}

/// The state id of this workspace, if the state has one.
fn this_state_id(orch: &mut ActuatorOrchestration) -> Option<String> {
    orch.state()
        .ok()
        .and_then(|st| st.meta().get("state_id").cloned())
}

fn discover_list(
    cx: &mut Cx,
    rt: &tokio::runtime::Runtime,
    orch: &mut ActuatorOrchestration,
) -> u8 {
    let found = match rt.block_on(orch.discover()) {
        Ok(f) => f,
        Err(e) => return failed(&e),
    };
    let mine = this_state_id(orch);
    if cx.json {
        let v: Vec<Value> = found
            .iter()
            .map(|d| {
                serde_json::json!({
                    "key": d.key, "kind": d.kind, "state_id": d.state_id,
                    "this_state": mine.as_deref() == Some(d.state_id.as_str()),
                    "outputs": d.outputs,
                })
            })
            .collect();
        json_event(cx, &Event::Discovered { resources: v });
        return EXIT_OK;
    }
    outln!(
        cx.out,
        "Found {} resource{} tagged for {} (workspace {}):",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        orch.system(),
        orch.workspace_name()
    );
    for line in render::discovered(&found, mine.as_deref()) {
        outln!(cx.out, "{line}");
    }
    EXIT_OK
}

fn down_discovered(
    cx: &mut Cx,
    rt: &tokio::runtime::Runtime,
    orch: ActuatorOrchestration,
    yes: bool,
) -> u8 {
    let (handler, in_flight) = run_handlers(cx);
    let mut orch = orch.handler(handler);
    let found = match rt.block_on(orch.discover()) {
        Ok(f) => f,
        Err(e) => {
            super::progress::close();
            return failed(&e);
        }
    };
    if found.is_empty() {
        if cx.json {
            json_event(cx, &Event::Discovered { resources: vec![] });
        }
        cx.human(format_args!(
            "Nothing tagged for {} (workspace {}) was found: nothing to delete.",
            orch.system(),
            orch.workspace_name()
        ));
        return EXIT_OK;
    }
    let mine = this_state_id(&mut orch);
    cx.human(format_args!(
        "Found {} resource{} tagged for {} (workspace {}):",
        found.len(),
        if found.len() == 1 { "" } else { "s" },
        orch.system(),
        orch.workspace_name()
    ));
    for line in render::discovered(&found, mine.as_deref()) {
        cx.human(format_args!("{line}"));
    }
    cx.out.flush();
    let question = format!(
        "Delete these {} resource{}?",
        found.len(),
        if found.len() == 1 { "" } else { "s" }
    );
    if let Err(code) = confirm(cx, &question, yes) {
        return code;
    }
    let again = format!("{} down --discover", cx.bin);
    rt.block_on(async {
        let ctrl_c = watch_ctrl_c(&orch, in_flight, again);
        let ok = orch.down_discovered(&found).await;
        ctrl_c.abort();
        finish_run(cx, "down --discover", &orch, ok)
    })
}

fn refresh(cx: &mut Cx, rt: &tokio::runtime::Runtime, orch: ActuatorOrchestration) -> u8 {
    let (handler, in_flight) = run_handlers(cx);
    let mut orch = orch.handler(handler);
    let before = match orch.state() {
        Ok(s) => s,
        Err(e) => {
            super::progress::close();
            return failed(&e);
        }
    };
    let again = format!("{} refresh", cx.bin);
    let ok = rt.block_on(async {
        let ctrl_c = watch_ctrl_c(&orch, in_flight, again);
        let ok = orch.refresh().await;
        ctrl_c.abort();
        ok
    });
    if ok && !cx.json {
        super::progress::close();
        if let Ok(after) = orch.state() {
            for line in render::refreshed(&before, &after) {
                outln!(cx.out, "{line}");
            }
        }
        return EXIT_OK;
    }
    finish_run(cx, "refresh", &orch, ok)
}

fn status(cx: &mut Cx, orch: &mut ActuatorOrchestration) -> u8 {
    let st = match orch.state() {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    if cx.json {
        json_event(cx, &Event::Status { state: st });
        return EXIT_OK;
    }
    let dir = orch.state_location().ok().flatten().map(|l| l.to_string());
    for line in render::status(
        orch.system(),
        orch.workspace_name(),
        dir.as_deref(),
        &st,
        cx.verbose > 0,
    ) {
        outln!(cx.out, "{line}");
    }
    EXIT_OK
}

fn outputs(cx: &mut Cx, orch: &mut ActuatorOrchestration) -> u8 {
    let o = match orch.outputs() {
        Ok(o) => o,
        Err(e) => return failed(&e),
    };
    if cx.json {
        json_event(cx, &Event::Outputs(o));
    } else {
        cx.out.text(&o.to_string());
    }
    EXIT_OK
}

fn report(cx: &mut Cx, orch: &mut ActuatorOrchestration) -> u8 {
    // The report shows what the state records; a state that cannot be read is said so.
    if let Err(e) = orch.state() {
        return failed(&e);
    }
    let roles = orch.report().unwrap_or_default();
    if cx.json {
        let v: Vec<Value> = roles
            .iter()
            .map(|r| {
                serde_json::json!({
                    "role": r.role,
                    "host": r.host,
                    "vars": r.vars.iter().map(|v| serde_json::json!({
                        "name": v.name, "value": v.value, "resolved": v.resolved,
                        "missing": v.missing, "from": v.from, "exported": v.in_env,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json_event(cx, &Event::Report { roles: v });
        return EXIT_OK;
    }
    for r in roles {
        cx.out.text(&r.to_string());
    }
    EXIT_OK
}

fn state(cx: &mut Cx, orch: &mut ActuatorOrchestration, sc: StateCommand) -> u8 {
    let st = match orch.state() {
        Ok(s) => s,
        Err(e) => return failed(&e),
    };
    match sc {
        StateCommand::List => {
            if cx.json {
                let keys = st.iter().map(|e| e.key.to_string()).collect();
                json_event(cx, &Event::StateList { keys });
            } else {
                for e in st.iter() {
                    outln!(cx.out, "{}", e.key);
                }
            }
            EXIT_OK
        }
        StateCommand::Show { path } => match st.get(&path) {
            Some(e) if cx.json => {
                json_event(cx, &Event::StateShow { entry: e.clone() });
                EXIT_OK
            }
            // The entry is a document either way: without `--json`, pretty-printed.
            Some(e) => {
                outln!(
                    cx.out,
                    "{}",
                    serde_json::to_string_pretty(e).unwrap_or_default()
                );
                EXIT_OK
            }
            None => {
                say!(
                    "error: the state records nothing at `{path}` (`{} state list` lists what it has)",
                    cx.bin
                );
                EXIT_FAILED
            }
        },
        // Handled before the state is read (see `run`).
        StateCommand::Pull { .. } | StateCommand::Push { .. } => EXIT_USAGE,
        StateCommand::Mv { from, to } => {
            let result = orch.state_mv(&from, &to);
            let done = format!("Moved {from} to {to}: the next plan finds it there.");
            finish_change(cx, result, done, |success, error| Event::StateMv {
                from,
                to,
                success,
                error,
            })
        }
    }
}

/// Ends `state mv` or `import`: with `--json` their one event, else `done` when it worked; the
/// exit code from the error's class either way (`failed` says the error on stderr).
fn finish_change(
    cx: &mut Cx,
    result: Result<(), OrchestrationError>,
    done: String,
    event: impl FnOnce(bool, Option<String>) -> Event,
) -> u8 {
    if cx.json {
        let error = result.as_ref().err().map(ToString::to_string);
        json_event(cx, &event(error.is_none(), error));
    } else if result.is_ok() {
        outln!(cx.out, "{done}");
    }
    match result {
        Ok(()) => EXIT_OK,
        Err(e) => failed(&e),
    }
}

fn import(
    cx: &mut Cx,
    rt: &tokio::runtime::Runtime,
    orch: &mut ActuatorOrchestration,
    path: &str,
    id: &str,
) -> u8 {
    // A state that cannot be opened is a different failure from an import that fails.
    if let Err(e) = orch.state() {
        return failed(&e);
    }
    let result = rt.block_on(orch.import(path, id));
    let done = format!("Imported {id} as {path}: the state records it as if `up` had created it.");
    finish_change(cx, result, done, |success, error| Event::Import {
        path: path.to_owned(),
        id: id.to_owned(),
        success,
        error,
    })
}
