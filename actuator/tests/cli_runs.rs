//! The command line as a user meets it: real runs of a model binary, checked by what they print
//! (terminal text and JSON), their exit codes, the state they leave and the cloud they change.
//!
//! This file is its own model binary: run with `ACTUATOR_FIXTURE` set, `main` is a model binary
//! built with `actuator::cli` (a small site on the simulated cloud, kept in a file between runs,
//! with config tasks on this machine); otherwise it is the test harness, and each test runs that
//! binary — itself — as a user would, in a pipe or on a pseudo-terminal.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use actuator::infra::test::{FloatingIp, Network, Server};
use actuator::orchestrate::ActuatorOrchestration;
use actuator::prelude::*;
use actuator::provision::SimProxy;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

#[path = "support/files.rs"]
mod support_files;
use support_files::files;
#[path = "support/json.rs"]
mod json;
use json::{json_lines, the_event};

// ---------------------------------------------------------------------------------------------
// The model binary.

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

#[derive(InfraModel)]
struct Site {
    #[component(Network::new("net"))]
    net: Network,
    #[component(Server::new("front", env_or("FIXTURE_IMAGE", "debian-12")).nics([ctx.model.net]).mem(env_or("FIXTURE_MEM", "2048")))]
    front: Server,
    #[component(FloatingIp::new("fip", ctx.model.front, ctx.model.front.ip))]
    fip: FloatingIp,
    #[component(MultiResource::new(Server::new("app", env_or("FIXTURE_APP_IMAGE", "debian-12")).nics([ctx.model.net])))]
    apps: MultiResource<Server>,
}

/// The secret the model declares (`secret API_KEY = …`): the `check` task writes it to
/// `work/api_key` and prints it; nothing the user sees may hold it.
const API_KEY: &str = "k3y-0f-the-site-4711";

namespace! {
    struct SiteNs for Site {
        extern { GREETING, DIR }
        vars { secret API_KEY = "k3y-0f-the-site-4711" }
        front: Role = Role::new("front").host_ref(infra.front),
    }
}

config! {
    struct SiteCfg for SiteNs {
        defaults { role = ns.front }
        hello: Task = ProcessCopyFileTask::new("hello", "!{DIR}/hello").content("!{GREETING}"),
        after: Task = ShellTask::new("after", r#"cat "$DIR/hello" > "$DIR/after""#),
        slow: Task = ShellTask::new("slow", r#"sleep "$SLOW""#),
        check: Task = ShellTask::new("check", r#"printf '%s' "$API_KEY" > "$DIR/api_key"; echo "key: $API_KEY"
            [ "$NOISE" = 0 ] || seq 1 "$NOISE" | sed 's/^/noise /'
            [ "$FAIL" != 1 ] || { echo "check: FAIL is set" >&2; exit 7; }"#),
        deps { hello | after, slow }
    }
}

/// The site as the `FIXTURE_*` variables shape it (each test's runs set their own).
fn fixture() -> ActuatorOrchestration {
    let infra = Site::instance("site");
    for k in env_or("FIXTURE_APPS", "1,2,3")
        .split(',')
        .filter(|k| !k.is_empty())
    {
        infra.index(
            infra.root().apps,
            k.parse::<u32>().expect("FIXTURE_APPS: numbers"),
        );
    }
    if std::env::var("FIXTURE_PROTECT").is_ok() {
        infra.protect(&infra.root().net);
    }
    let ns = SiteNs::instance("ns", &infra);
    let front = &ns.root().front;
    ns.add_var(
        front,
        Var::new("DIR", env_or("FIXTURE_WORK", "/nonexistent")),
    );
    // `FIXTURE_GREETING=-`: the extern is left for the command line to give.
    let greeting = env_or("FIXTURE_GREETING", "hello");
    if greeting != "-" {
        ns.add_var(front, Var::new("GREETING", greeting).in_env(false));
    }
    ns.add_var(front, Var::new("SLOW", env_or("FIXTURE_SLOW", "0")));
    ns.add_var(front, Var::new("FAIL", env_or("FIXTURE_FAIL", "0")));
    ns.add_var(front, Var::new("NOISE", env_or("FIXTURE_NOISE", "0")));
    let cfg = SiteCfg::instance("cfg", &ns);
    let latency_ms = env_or("FIXTURE_LATENCY_MS", "0")
        .parse()
        .expect("FIXTURE_LATENCY_MS");
    let sim = SimProxy::persisted("sim", env_or("FIXTURE_CLOUD", "cloud.json"))
        .expect("FIXTURE_CLOUD: a readable simulated cloud")
        .latency(std::time::Duration::from_millis(latency_ms));
    ActuatorOrchestration::new("site")
        .infra(&infra)
        .namespace(&ns)
        .config(&cfg)
        .proxy(std::sync::Arc::new(sim))
}

fn main() -> ExitCode {
    if std::env::var_os("FIXTURE_MEASURE").is_some() {
        return measure();
    }
    if std::env::var_os("ACTUATOR_FIXTURE").is_some() {
        return actuator::cli::main(fixture);
    }
    let tests = vec![
        trial(
            "plan_shows_each_change_and_why",
            plan_shows_each_change_and_why,
        ),
        trial("plan_json_follows_its_schema", plan_json_follows_its_schema),
        trial(
            "detailed_exitcode_tells_ci_whether_anything_changes",
            detailed_exitcode,
        ),
        trial(
            "refresh_is_on_by_default_and_can_be_turned_off",
            refresh_on_by_default,
        ),
        trial("refresh_records_what_the_cloud_lost", refresh_command),
        trial("a_saved_plan_is_applied_exactly_or_refused", saved_plans),
        trial(
            "replace_reconfigure_target_exclude",
            replace_reconfigure_target_exclude,
        ),
        trial(
            "protected_resources_need_allow_destroy_protected",
            protected_resources,
        ),
        trial("down_without_a_terminal_needs_yes", down_needs_yes),
        trial("down_asks_on_a_terminal", down_asks_on_a_terminal),
        trial(
            "a_killed_down_leaves_what_it_had_not_reached_deleting",
            killed_down,
        ),
        trial(
            "down_on_an_empty_state_points_at_discover",
            down_on_empty_state,
        ),
        trial(
            "discover_finds_and_deletes_a_lost_states_resources",
            discover,
        ),
        trial("state_list_show_and_mv", state_commands),
        trial("import_adopts_an_existing_resource", import),
        trial("a_damaged_state_exits_3_naming_the_file", damaged_state),
        trial(
            "an_existing_directory_is_never_changed",
            directory_permissions,
        ),
        trial("a_closed_stdout_ends_read_commands_quietly", closed_stdout),
        trial("max_concurrency_zero_is_refused", max_concurrency_zero),
        trial("version_help_and_completions", version_help_completions),
        trial(
            "read_commands_work_while_up_holds_the_lock",
            reads_during_up,
        ),
        trial("graph_has_node_kinds_and_host_edges", graph),
        trial("ctrl_c_names_what_is_in_flight_and_twice_aborts_it", ctrl_c),
        trial("each_failure_is_printed_once", failure_printed_once),
        trial("up_ends_with_a_summary_in_text_and_json", up_summary),
        trial("workspaces_live_side_by_side", workspaces),
        trial(
            "inputs_from_the_environment_files_and_flags",
            inputs_environment_files_flags,
        ),
        trial("outputs_after_up_and_on_their_own", outputs_shown),
        trial("verbose_streams_task_output", verbose_streams_output),
        trial("the_live_view_is_never_torn_by_log_lines", live_view),
        trial(
            "a_failed_task_shows_its_error_once_its_last_lines_and_the_log",
            failed_task_tail,
        ),
        trial(
            "a_secret_declared_in_the_dsl_reaches_the_task_and_nothing_shown",
            dsl_secret,
        ),
        trial(
            "graph_import_and_state_mv_speak_json",
            json_of_graph_import_mv,
        ),
        trial(
            "every_other_command_writes_one_json_line",
            every_other_command_writes_one_json_line,
        ),
        trial(
            "a_tasks_log_keeps_its_first_mib_and_says_what_it_left_out",
            task_log_cap,
        ),
    ];
    libtest_mimic::run(&Arguments::from_args(), tests).exit()
}

/// Runs the model binary with this process's arguments as its only child, then prints the
/// child's peak resident set size (`maxrss KiB`) on stderr: the harness runs many children at
/// once, so their memory is told apart by giving each measured one a parent of its own.
fn measure() -> ExitCode {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env_remove("FIXTURE_MEASURE")
        .status()
        .unwrap();
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    eprintln!("maxrss {}", usage.max_rss());
    ExitCode::from(status.code().unwrap_or(101) as u8)
}

fn trial(name: &'static str, f: fn()) -> Trial {
    Trial::test(name, move || {
        std::panic::catch_unwind(f).map_err(|p| {
            Failed::from(
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default(),
            )
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Running it.

/// One user's working directory: the default state location (`.actuator/site/<workspace>/`),
/// the simulated cloud's file, and where the tasks write.
struct Workdir {
    tmp: tempfile::TempDir,
    /// `FIXTURE_*` variables for the next runs.
    vars: Vec<(String, String)>,
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Workdir {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("work")).unwrap();
        Workdir {
            tmp,
            vars: Vec::new(),
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn state_dir(&self, workspace: &str) -> PathBuf {
        self.dir().join(".actuator/site").join(workspace)
    }

    /// Sets a `FIXTURE_*` variable for the following runs.
    fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), value.to_owned()));
        self
    }

    fn cloud(&self) -> SimProxy {
        SimProxy::persisted("sim", self.dir().join("cloud.json")).unwrap()
    }

    /// The model binary, as `site ARGS`, in this directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.arg0("site")
            .args(args)
            .current_dir(self.dir())
            .env("ACTUATOR_FIXTURE", "1")
            .env("FIXTURE_CLOUD", self.dir().join("cloud.json"))
            .env("FIXTURE_WORK", self.dir().join("work"))
            .env_remove("RUST_LOG")
            .env_remove("ACTUATOR_WORKSPACE")
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs `site ARGS` with stdin from nowhere (no terminal).
    fn run(&self, args: &[&str]) -> Run {
        let out = self.command(args).stdin(Stdio::null()).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and expects exit code `code`.
    fn ok(&self, args: &[&str], code: i32) -> Run {
        let r = self.run(args);
        assert_eq!(r.code, code, "site {}: {r:?}", args.join(" "));
        assert!(!r.stderr.contains("panicked"), "{r:?}");
        r
    }
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// The plan's line for resource `key`.
fn line_of<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(key))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{out}"))
}

/// A whole run's stream: one run id throughout, `orchestration_starting` first, exactly one
/// summary and it last, its counts those of the events before it. Returns the summary.
fn one_run(events: &[Value]) -> Value {
    let run = events[0]["run"].as_str().unwrap();
    assert!(!run.is_empty());
    assert!(
        events.iter().all(|e| e["run"] == run),
        "one run id in every event: {events:#?}"
    );
    assert_eq!(events[0]["event"], "orchestration_starting");
    let summaries = events.iter().filter(|e| e["event"] == "summary").count();
    assert_eq!(summaries, 1, "exactly one summary: {events:#?}");
    assert!(!events.iter().any(|e| e["event"] == "run_summary"));
    let summary = events.last().unwrap().clone();
    assert_eq!(summary["event"], "summary");
    let finished = |outcome: &str| {
        events
            .iter()
            .filter(|e| e["event"] == "task_finished" && e["outcome"] == outcome)
            .count()
    };
    for (key, outcome) in [
        ("created", "created"),
        ("updated", "updated"),
        ("replaced", "replaced"),
        ("destroyed", "destroyed"),
        ("read", "read"),
        ("tasks_run", "ran"),
    ] {
        assert_eq!(summary[key], finished(outcome), "{key}: {summary}");
    }
    let count = |kind: &str| events.iter().filter(|e| e["event"] == kind).count();
    assert_eq!(summary["failed"], count("task_failed"), "{summary}");
    assert_eq!(summary["blocked"], count("task_skipped"), "{summary}");
    summary
}

// ---------------------------------------------------------------------------------------------
// The tests.

/// An `up`, then the model and the cloud drift apart in every way a plan reports.
fn changed_site() -> Workdir {
    let mut s = Workdir::new();
    s.ok(&["up"], 0);
    s.set("FIXTURE_APPS", "1,2") // app 3 leaves the model
        .set("FIXTURE_MEM", "4096") // updated in place
        .set("FIXTURE_APP_IMAGE", "debian-13") // forces a replacement
        .set("FIXTURE_GREETING", "bonjour"); // hello's content
    assert_eq!(s.cloud().delete_behind("Site.apps.1"), 1); // drift
    s
}

fn plan_shows_each_change_and_why() {
    let s = changed_site();
    let r = s.ok(&["plan"], 0);
    let out = &r.stdout;
    let want = r#"Resources:
  -/+ Site.apps.2  test.Server  (destroy before create)
        image: "debian-12" -> "debian-13"  # forces replacement
  ~   Site.front   test.Server
        mem: "2048" -> "4096"
  +   Site.apps.1  test.Server  (deleted outside actuator (drift))
  -   Site.apps.3  test.Server  (no longer in the model)
  (2 unchanged resources; -v lists them)
Tasks:
  re-run  hello (its inputs changed)
  re-run  after (`hello` before it runs)
  skip    2 tasks (done; -v lists them)
Plan: 1 to add, 1 to change, 1 to replace, 1 to destroy; 2 tasks to run.
"#;
    // Independent resources may come in any order: compared by key, each with its arguments.
    assert_eq!(sorted_resources(out), sorted_resources(want), "{out}");
    let rest = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| {
                !l.starts_with("  ") || !l.chars().nth(2).is_some_and(|c| "+~-= ".contains(c))
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(rest(out), rest(want), "{out}");
    // -v lists the skipped tasks and unchanged resources.
    let v = s.ok(&["plan", "-v"], 0).stdout;
    assert!(v.contains("  skip    slow (done)"), "{v}");
    assert!(v.contains("  =   Site.net"), "{v}");
    // The plan wrote nothing: the same plan again.
    assert_eq!(s.ok(&["plan"], 0).stdout, r.stdout);
}

/// The resource lines of a plan with the argument lines under each, in key order (the plan's
/// own order is a topological one, not fixed between independent resources).
fn sorted_resources(out: &str) -> Vec<String> {
    let mut blocks: Vec<String> = Vec::new();
    for l in out.lines() {
        if l.starts_with("        ") {
            if let Some(b) = blocks.last_mut() {
                b.push('\n');
                b.push_str(l);
            }
        } else if l.starts_with("  ") && l.chars().nth(2).is_some_and(|c| "+~-=".contains(c)) {
            blocks.push(l.to_owned());
        }
    }
    blocks.sort_by_key(|b| b.split_whitespace().nth(1).unwrap_or_default().to_owned());
    blocks
}

/// `plan --json` is one `plan` event whose `plan` is the document `docs/plan.schema.json`
/// describes, which `plan --out` saves.
fn plan_json_follows_its_schema() {
    let plan_schema = json::plan_schema();
    let check = |v: &Value| json::check(&plan_schema, v);
    let plan_of = |r: Run| the_event(&r.stdout, "plan")["plan"].clone();
    let s = changed_site();
    let v = plan_of(s.ok(&["plan", "--json"], 0));
    check(&v);
    let actions: Vec<&str> = v["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in ["create", "update", "replace", "destroy", "unchanged"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    assert_eq!(v["summary"]["replace"], 1);
    assert_eq!(v["summary"]["tasks_to_run"], 2);
    let mut tasks: Vec<&str> = v["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    tasks.sort();
    assert_eq!(tasks, ["rerun", "rerun", "skip", "skip"]);
    assert_eq!(v["tasks"][0]["role"], "SiteNs.front");
    assert_eq!(v["tasks"][0]["host"], "Site.front");
    // A saved plan is the same document with its options.
    s.ok(&["plan", "--out", "p.json", "--target", "Site.apps"], 0);
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(s.dir().join("p.json")).unwrap()).unwrap();
    check(&saved);
    assert_eq!(saved["options"]["targets"][0], "Site.apps");
    // A destroy plan and a fresh one too.
    let destroy = plan_of(s.ok(&["plan", "--json", "--destroy"], 0));
    assert_eq!(destroy["summary"]["destroy"], 6, "{destroy}");
    let fresh = Workdir::new();
    assert_eq!(
        plan_of(fresh.ok(&["plan", "--json"], 0))["summary"]["add"],
        6
    );
}

fn detailed_exitcode() {
    let s = Workdir::new();
    s.ok(&["plan", "--detailed-exitcode"], 2);
    s.ok(&["plan"], 0);
    s.ok(&["up"], 0);
    let r = s.ok(&["plan", "--detailed-exitcode"], 0);
    assert!(
        r.stdout
            .contains("No changes: the system matches the model."),
        "{r:?}"
    );
    s.cloud().delete_behind("Site.net");
    s.ok(&["plan", "--detailed-exitcode"], 2);
    // 3 as usual: an unknown target.
    s.ok(&["plan", "--detailed-exitcode", "--target", "Site.nope"], 3);
}

fn refresh_on_by_default() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    s.cloud().delete_behind("Site.apps.2");
    let r = s.ok(&["plan", "--refresh=false"], 0);
    assert!(
        r.stdout.contains("Plan: 0 to add"),
        "the state alone: {r:?}"
    );
    let r = s.ok(&["plan"], 0);
    assert!(
        r.stdout.contains("(deleted outside actuator (drift))"),
        "{r:?}"
    );
    // `up` refreshes too, and recreates it.
    let r = s.ok(&["up"], 0);
    assert!(r.stdout.contains("Up complete after"), "{r:?}");
    assert!(r.stdout.contains(": 1 created,"), "{r:?}");
    assert_eq!(s.cloud().live().len(), 6);
}

fn refresh_command() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    s.cloud().delete_behind("Site.apps.3");
    let r = s.ok(&["refresh"], 0);
    assert!(
        r.stdout.starts_with("Refreshed 6 resources: 1 change:"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("  -   Site.apps.3  gone: deleted outside actuator"),
        "{r:?}"
    );
    let st = s.ok(&["state", "list"], 0).stdout;
    assert!(!st.contains("Site.apps.3"), "forgotten: {st}");
    // The plan now sees a plain create, from the state alone.
    let p = s.ok(&["plan", "--refresh=false"], 0).stdout;
    assert_eq!(line_of(&p, "Site.apps.3"), "  +   Site.apps.3  test.Server");
    // As a stream: one run, its reads counted in its summary.
    let r = s.ok(&["refresh", "--json"], 0);
    let summary = one_run(&json_lines(&r.stdout));
    assert_eq!(
        (summary["command"].as_str(), summary["read"].as_u64()),
        (Some("refresh"), Some(5))
    );
}

fn saved_plans() {
    let mut s = Workdir::new();
    let r = s.ok(&["plan", "--out", "first.json"], 0);
    assert!(
        r.stdout
            .contains("Saved to first.json: `site up first.json` applies exactly this plan."),
        "{r:?}"
    );
    let r = s.ok(&["up", "first.json"], 0);
    assert!(r.stdout.contains(": 6 created,"), "{r:?}");
    // The state moves after a plan is saved: refused, nothing applied.
    s.set("FIXTURE_MEM", "4096");
    s.ok(&["plan", "--out", "second.json"], 0);
    s.set("FIXTURE_MEM", "8192");
    s.ok(&["up"], 0);
    let r = s.ok(&["up", "second.json"], 3);
    assert!(
        r.stderr
            .contains("the state moved since second.json was made"),
        "{r:?}"
    );
    // The cloud moves (the state does not): a fresh plan disagrees, refused.
    s.ok(&["plan", "--out", "third.json"], 0);
    s.cloud().delete_behind("Site.apps.1");
    let r = s.ok(&["up", "third.json"], 3);
    assert!(
        r.stderr.contains("third.json no longer matches what `up` would do (Site.apps.1: unchanged then, create now)"),
        "{r:?}"
    );
    assert_eq!(s.cloud().live().len(), 5, "nothing was applied");
    // A saved plan takes no options of its own; a file that is not a plan is refused.
    s.ok(&["up", "third.json", "--target", "Site.net"], 2);
    std::fs::write(s.dir().join("junk.json"), "{}").unwrap();
    let r = s.ok(&["up", "junk.json"], 3);
    assert!(
        r.stderr.contains("junk.json is not a plan of schema 1"),
        "{r:?}"
    );
    // Another workspace's plan is not applied here.
    s.ok(&["plan", "--out", "fourth.json"], 0);
    let r = s.ok(&["-w", "other", "up", "fourth.json"], 3);
    assert!(
        r.stderr.contains("is a plan for site (workspace default)"),
        "{r:?}"
    );
    assert!(
        !s.state_dir("other").exists(),
        "refused before its state was opened"
    );
}

fn replace_reconfigure_target_exclude() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    let p = s.ok(&["plan", "--replace", "Site.apps.2"], 0).stdout;
    assert_eq!(
        line_of(&p, "Site.apps.2"),
        "  -/+ Site.apps.2  test.Server  (asked for (--replace); destroy before create)"
    );
    let p = s.ok(&["plan", "--reconfigure", "slow"], 0).stdout;
    assert!(
        p.contains("  re-run  slow (asked for (--reconfigure))"),
        "{p}"
    );
    assert!(
        p.contains("Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy; 1 task to run."),
        "{p}"
    );
    let p = s.ok(&["plan", "--reconfigure"], 0).stdout;
    assert!(p.contains("; 4 tasks to run."), "every task: {p}");
    // A target keeps what it needs; the plan says what was left out.
    let r = s.ok(
        &[
            "plan",
            "--replace",
            "Site.front",
            "--replace",
            "Site.apps.1",
            "--target",
            "Site.fip",
        ],
        0,
    );
    assert!(
        line_of(&r.stdout, "Site.front").starts_with("  -/+ Site.front"),
        "{r:?}"
    );
    assert!(
        r.stdout
            .contains("  Left out (--target / --exclude): Site.apps.1"),
        "{r:?}"
    );
    // An exclusion leaves out what needs it.
    let r = s.ok(
        &["plan", "--replace", "Site.front", "--exclude", "Site.fip"],
        0,
    );
    assert!(
        r.stdout
            .contains("Left out (--target / --exclude): Site.fip"),
        "{r:?}"
    );
    // And `up` applies just that.
    let before = s.cloud().live();
    let r = s.ok(
        &[
            "up",
            "--replace",
            "Site.apps.1",
            "--replace",
            "Site.apps.2",
            "--exclude",
            "Site.apps.2",
        ],
        0,
    );
    assert!(
        r.stdout
            .contains(": 0 created, 0 updated, 1 replaced, 0 destroyed;"),
        "{r:?}"
    );
    let after = s.cloud().live();
    assert_ne!(before["Site.apps.1"], after["Site.apps.1"]);
    assert_eq!(before["Site.apps.2"], after["Site.apps.2"]);
    // `down --target` deletes that and what depends on it.
    let r = s.ok(&["down", "--yes", "--target", "Site.front"], 0);
    assert!(
        r.stdout
            .contains(": 0 created, 0 updated, 0 replaced, 2 destroyed;"),
        "{r:?}"
    );
    assert!(!s.cloud().live().contains_key("Site.fip"));
    assert!(s.cloud().live().contains_key("Site.net"));
    // Names that select nothing are typos.
    let r = s.ok(
        &["plan", "--target", "Site.nope", "--reconfigure", "nope"],
        3,
    );
    assert!(
        r.stderr
            .contains("--target Site.nope: no resource at this path"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("--reconfigure nope: no task of this name"),
        "{r:?}"
    );
}

fn protected_resources() {
    let mut s = Workdir::new();
    s.set("FIXTURE_PROTECT", "1");
    s.ok(&["up"], 0);
    let r = s.ok(&["down", "--yes"], 3);
    assert!(
        r.stdout
            .contains("Site.net: is protected and would be deleted"),
        "{r:?}"
    );
    assert_eq!(s.cloud().live().len(), 6, "nothing deleted");
    let r = s.ok(&["down", "--yes", "--allow-destroy-protected"], 0);
    assert!(
        r.stdout
            .contains(": 0 created, 0 updated, 0 replaced, 6 destroyed;"),
        "{r:?}"
    );
    assert!(s.cloud().live().is_empty());
}

fn down_needs_yes() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    let r = s.ok(&["down"], 2);
    // It shows what it would delete, and why it did not.
    assert!(
        line_of(&r.stdout, "Site.net").starts_with("  -   Site.net"),
        "{r:?}"
    );
    assert!(
        r.stderr
            .contains("there is no terminal to ask on: run `site down --yes` to confirm"),
        "{r:?}"
    );
    assert_eq!(s.cloud().live().len(), 6, "nothing deleted");
    let r = s.ok(&["down", "--yes"], 0);
    assert!(r.stdout.contains("Down complete after"), "{r:?}");
    assert!(s.cloud().live().is_empty());
}

fn killed_down() {
    // `down` records every deletion's intent before it starts. Killed after its first deletion,
    // it leaves what it had not reached "deleting (interrupted)" — in doubt, as a delete that may
    // have been sent: `plan` replaces it, `down` again deletes it.
    let mut s = Workdir::new();
    s.ok(&["up"], 0);
    s.set("FIXTURE_LATENCY_MS", "1000");
    let mut down = s
        .command(&["down", "--yes", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = down.stdout.take().unwrap();
    wait_for(&mut stdout, r#""task_finished","phase":"teardown""#);
    down.kill().unwrap(); // SIGKILL
    down.wait().unwrap();
    s.set("FIXTURE_LATENCY_MS", "0");
    // The network goes last (everything is on it): the killed run never reached it.
    assert!(s.cloud().live().contains_key("Site.net"));
    let st = s.ok(&["status", "-v"], 0).stdout;
    assert!(
        st.lines()
            .any(|l| l.contains("Site.net") && l.contains("deleting (interrupted)")),
        "{st}"
    );
    let p = s.ok(&["plan", "--refresh=false"], 0).stdout;
    let net = line_of(&p, "Site.net");
    assert!(net.starts_with("  -/+ Site.net"), "{p}");
    assert!(p.contains("a previous delete did not finish"), "{p}");
    s.ok(&["down", "--yes"], 0);
    assert!(s.cloud().live().is_empty(), "{:?}", s.cloud().live());
}

/// Runs `site ARGS` on a pseudo-terminal of 120 x 40.
fn on_terminal(
    s: &Workdir,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> rexpect::session::PtySession {
    // The size first (a new pty has none), then the binary, named `site`.
    let mut sh = Command::new("bash");
    sh.arg("-c")
        .arg(r#"stty rows 40 cols 120; exec -a site "$@""#)
        .arg("bash")
        .arg(std::env::current_exe().unwrap())
        .args(args)
        .current_dir(s.dir())
        .env("TERM", "xterm-256color");
    for (k, v) in s.command(&[]).get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    for (k, v) in extra_env {
        sh.env(k, v);
    }
    rexpect::session::spawn_command(sh, Some(30_000)).unwrap()
}

fn exit_code(p: &mut rexpect::session::PtySession) -> i32 {
    match p.process_mut().wait().unwrap() {
        rexpect::process::WaitStatus::Exited(_, code) => code,
        other => panic!("{other:?}"),
    }
}

fn down_asks_on_a_terminal() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    // No: nothing is deleted.
    let mut p = on_terminal(&s, &["down"], &[]);
    p.exp_string("Delete these 6 resources of site (workspace default)? [y/N] ")
        .unwrap();
    p.send_line("n").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("Cancelled: nothing was deleted."), "{rest}");
    assert_eq!(exit_code(&mut p), 1);
    assert_eq!(s.cloud().live().len(), 6);
    // Yes: deleted, with the live view and the summary.
    let mut p = on_terminal(&s, &["down"], &[]);
    p.exp_string("[y/N] ").unwrap();
    p.send_line("y").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("Down complete after"), "{rest}");
    assert_eq!(exit_code(&mut p), 0);
    assert!(s.cloud().live().is_empty());
}

fn down_on_empty_state() {
    let s = Workdir::new();
    let r = s.ok(&["down"], 0);
    assert_eq!(
        r.stdout.trim_end(),
        "Nothing to delete: the state in .actuator/site/default records no resources of site \
         (workspace default). If they were made with a state that is now lost, `site down \
         --discover` finds them by their tags."
    );
    assert!(!r.stdout.to_lowercase().contains("complete"), "{r:?}");
    // With `--json`, no run and so no stream: the plan, with nothing to destroy; the sentence
    // on stderr.
    let r = s.ok(&["down", "--json"], 0);
    let p = the_event(&r.stdout, "plan")["plan"].clone();
    assert_eq!(p["summary"]["destroy"], 0, "{p}");
    assert!(r.stderr.contains("Nothing to delete"), "{r:?}");
    let r = s.ok(&["down", "--discover", "--json"], 0);
    let d = the_event(&r.stdout, "discovered");
    assert_eq!(d["resources"], Value::Array(vec![]), "{d}");
}

fn discover() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    std::fs::remove_dir_all(s.state_dir("default")).unwrap();
    // The lost state's resources: `down` alone finds nothing to do.
    assert!(s.ok(&["down"], 0).stdout.contains("down --discover"));
    let r = s.ok(&["plan", "--discover"], 0);
    assert!(
        r.stdout
            .starts_with("Found 6 resources tagged for site (workspace default):"),
        "{r:?}"
    );
    let net = r
        .stdout
        .lines()
        .find(|l| l.starts_with("  Site.net "))
        .unwrap();
    assert!(net.contains("test.Network  sim-0  (state "), "{net}");
    let e = the_event(
        &s.ok(&["plan", "--discover", "--json"], 0).stdout,
        "discovered",
    );
    let v = &e["resources"];
    assert_eq!(v.as_array().unwrap().len(), 6);
    assert_eq!(v[0]["this_state"], false);
    s.ok(&["down", "--discover"], 2);
    assert_eq!(s.cloud().live().len(), 6);
    let r = s.ok(&["down", "--discover", "--yes"], 0);
    assert!(
        r.stdout
            .contains(": 0 created, 0 updated, 0 replaced, 6 destroyed;"),
        "{r:?}"
    );
    assert!(s.cloud().live().is_empty());
    let r = s.ok(&["plan", "--discover"], 0);
    assert!(r.stdout.starts_with("Found 0 resources"), "{r:?}");
}

fn state_commands() {
    let mut s = Workdir::new();
    s.ok(&["up"], 0);
    let keys = s.ok(&["state", "list"], 0).stdout;
    for k in ["Site.net", "Site.front", "Site.fip", "Site.apps.3"] {
        assert!(lines(&keys).contains(&k), "{k} in {keys}");
    }
    assert!(keys.contains("task:"), "{keys}");
    let v: Value = serde_json::from_str(&s.ok(&["state", "show", "Site.front"], 0).stdout).unwrap();
    assert_eq!(v["kind"], "test.Server");
    assert_eq!(v["status"], "created");
    assert_eq!(v["data"]["args"]["image"], "debian-12");
    assert!(
        v["data"]["outputs"]["id"]
            .as_str()
            .unwrap()
            .starts_with("sim-")
    );
    let r = s.ok(&["state", "show", "Site.nope"], 1);
    assert!(
        r.stderr
            .contains("the state records nothing at `Site.nope`"),
        "{r:?}"
    );
    // App 3 becomes app 4 in the model: moved in the state, nothing is recreated.
    let id = s.cloud().live()["Site.apps.3"].clone();
    s.set("FIXTURE_APPS", "1,2,4");
    let p = s.ok(&["plan"], 0).stdout;
    assert!(
        p.contains("Plan: 1 to add, 0 to change, 0 to replace, 1 to destroy"),
        "{p}"
    );
    let r = s.ok(&["state", "mv", "Site.apps.3", "Site.apps.4"], 0);
    assert_eq!(
        r.stdout,
        "Moved Site.apps.3 to Site.apps.4: the next plan finds it there.\n"
    );
    let p = s.ok(&["plan", "--refresh=false"], 0).stdout;
    assert!(
        p.contains("Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy"),
        "{p}"
    );
    s.ok(&["up"], 0);
    assert_eq!(s.cloud().creates("Site.apps.4"), 0);
    assert_eq!(s.cloud().live().values().filter(|v| **v == id).count(), 1);
    let r = s.ok(&["state", "mv", "Site.nope", "Site.x"], 1);
    assert!(
        r.stderr
            .contains("the state records nothing at `Site.nope`"),
        "{r:?}"
    );
}

fn import() {
    let mut s = Workdir::new();
    s.ok(&["up"], 0);
    let id = s.cloud().create_unmanaged("test.Server");
    s.set("FIXTURE_APPS", "1,2,3,9");
    let r = s.ok(&["import", "Site.apps.9", &id], 0);
    assert_eq!(
        r.stdout,
        format!("Imported {id} as Site.apps.9: the state records it as if `up` had created it.\n")
    );
    let v: Value =
        serde_json::from_str(&s.ok(&["state", "show", "Site.apps.9"], 0).stdout).unwrap();
    assert_eq!(v["data"]["outputs"]["id"], id.as_str());
    let p = s.ok(&["plan"], 0).stdout;
    assert!(p.contains("Plan: 0 to add"), "adopted, not created: {p}");
    let r = s.ok(&["import", "Site.apps.9", &id], 1);
    assert!(
        r.stderr.contains("the state already records `Site.apps.9`"),
        "{r:?}"
    );
    let r = s.ok(&["import", "Site.nope", "sim-99"], 1);
    assert!(
        r.stderr.contains("the model has no resource `Site.nope`"),
        "{r:?}"
    );
}

fn damaged_state() {
    for (damage, expect) in [
        (
            "gap",
            "journal.jsonl: record 3 follows record 1: records are missing",
        ),
        (
            "lost snapshot",
            "the snapshot that held the earlier records is missing",
        ),
        ("bad line", "journal.jsonl:2: corrupt journal record"),
    ] {
        let s = Workdir::new();
        s.ok(&["up"], 0);
        let journal = s.state_dir("default").join("journal.jsonl");
        let text = std::fs::read_to_string(&journal).unwrap();
        let mut l: Vec<&str> = text.lines().collect();
        match damage {
            "gap" => {
                l.remove(1);
            }
            "lost snapshot" => {
                l.remove(0);
            }
            _ => l[1] = "{not json",
        }
        std::fs::write(&journal, l.join("\n") + "\n").unwrap();
        for cmd in [
            &["status"][..],
            &["plan"],
            &["up"],
            &["down", "--yes"],
            &["state", "list"],
        ] {
            let r = s.ok(cmd, 3);
            assert!(r.stderr.contains(expect), "{damage}, {cmd:?}: {r:?}");
            assert!(
                r.stderr.contains(&journal.display().to_string())
                    || r.stderr.contains(".actuator/site/default/journal.jsonl"),
                "{r:?}"
            );
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn directory_permissions() {
    let s = Workdir::new();
    // A shared directory (mode 1777) is refused, for reads too, and left as it is.
    let shared = s.dir().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    for cmd in [
        &["--state", "shared", "status"][..],
        &["--state", "shared", "up"],
    ] {
        let r = s.ok(cmd, 3);
        assert!(
            r.stderr
                .contains("state directory shared is writable by others (mode 1777)"),
            "{r:?}"
        );
        assert_eq!(mode(&shared), 0o1777);
    }
    // A new directory is the tool's: private.
    s.ok(&["--state", "mine", "up"], 0);
    assert_eq!(mode(&s.dir().join("mine")), 0o700);
    // A read-only one can be read, not written, and stays read-only.
    std::fs::set_permissions(s.dir().join("mine"), std::fs::Permissions::from_mode(0o500)).unwrap();
    let r = s.ok(&["--state", "mine", "status"], 0);
    assert!(
        r.stdout.contains("Complete; 6 resources, 4 tasks recorded"),
        "{r:?}"
    );
    s.ok(&["--state", "mine", "plan"], 0);
    let r = s.ok(&["--state", "mine", "up"], 3);
    assert!(r.stderr.contains("state mine is read-only"), "{r:?}");
    assert_eq!(mode(&s.dir().join("mine")), 0o500);
    std::fs::set_permissions(s.dir().join("mine"), std::fs::Permissions::from_mode(0o700)).unwrap();
}

/// Runs `site ARGS` with a stdout whose reader is already gone.
fn with_closed_stdout(s: &Workdir, args: &[&str]) -> Run {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = s
        .command(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn closed_stdout() {
    let s = Workdir::new();
    s.ok(&["up"], 0);
    for args in [
        &["plan"][..],
        &["plan", "--json"],
        &["status"],
        &["status", "--json"],
        &["graph"],
        &["report"],
        &["state", "list"],
        &["completions", "bash"],
        &["--help"],
    ] {
        for _ in 0..3 {
            let r = with_closed_stdout(&s, args);
            assert_eq!(r.code, 0, "{args:?}: {r:?}");
            assert!(
                !r.stderr.contains("panicked") && !r.stderr.contains("Broken pipe"),
                "{args:?}: {r:?}"
            );
        }
    }
    // Through a real `| head -1`, too.
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"set -o pipefail; "$@" | head -1"#)
        .arg("bash")
        .arg(std::env::current_exe().unwrap())
        .arg("plan")
        .arg("-v")
        .envs(
            s.command(&[])
                .get_envs()
                .filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))),
        )
        .current_dir(s.dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Resources:\n");
    // A run whose stdout goes away still finishes its work.
    let r = with_closed_stdout(&s, &["down", "--yes"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(s.cloud().live().is_empty());
}

fn max_concurrency_zero() {
    let s = Workdir::new();
    let r = s.ok(&["--max-concurrency", "0", "up"], 2);
    assert!(
        r.stderr
            .contains("invalid value '0' for '--max-concurrency <N>': 0 is not in 1..=100000"),
        "{r:?}"
    );
    assert!(s.cloud().live().is_empty());
    s.ok(&["--max-concurrency", "1", "up"], 0);
}

fn version_help_completions() {
    let s = Workdir::new();
    assert_eq!(
        s.ok(&["--version"], 0).stdout,
        format!("site {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = s.ok(&["--help"], 0).stdout;
    for want in [
        "Usage: site [OPTIONS] <COMMAND>",
        "-v, --verbose...",
        "-q, --quiet",
        "-w, --workspace <NAME>",
        "[env: ACTUATOR_WORKSPACE=]",
        "Exit codes:\n  0    success",
        "  130  interrupted by Ctrl-C",
        "RUST_LOG",
        "completions",
    ] {
        assert!(help.contains(want), "{want:?} in:\n{help}");
    }
    let state_help = s.ok(&["state", "--help"], 0).stdout;
    for sub in ["list", "show", "mv"] {
        assert!(state_help.contains(sub), "{state_help}");
    }
    let bash = s.ok(&["completions", "bash"], 0).stdout;
    assert!(
        bash.contains("_site()") && bash.contains("complete -F _site"),
        "{bash}"
    );
    let check = Command::new("bash")
        .arg("-n")
        .arg("-c")
        .arg(&bash)
        .status()
        .unwrap();
    assert!(check.success(), "the bash script parses");
    let zsh = s.ok(&["completions", "zsh"], 0).stdout;
    assert!(zsh.starts_with("#compdef site"), "{zsh}");
    let fish = s.ok(&["completions", "fish"], 0).stdout;
    assert!(fish.contains("complete -c site"), "{fish}");
    s.ok(&["completions", "tcsh"], 2);
}

fn reads_during_up() {
    let mut s = Workdir::new();
    s.ok(&["up"], 0);
    s.set("FIXTURE_SLOW", "30");
    let mut up = s
        .command(&["up", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = up.stdout.take().unwrap();
    wait_for(
        &mut stdout,
        r#""task_starting","phase":"configure","task":"slow""#,
    );
    // The lock is held: a writer is refused, readers are not.
    let r = s.ok(&["refresh"], 3);
    assert!(r.stderr.contains("is in use by another process"), "{r:?}");
    let st = s.ok(&["status"], 0).stdout;
    assert!(st.starts_with("site (workspace default): "), "{st}");
    assert!(
        s.ok(&["status", "-v"], 0)
            .stdout
            .contains("slow  creating (interrupted)")
    );
    let p = s.ok(&["plan"], 0).stdout;
    assert!(p.contains("  run     slow"), "{p}");
    // And as the one JSON line each writes.
    let st = the_event(&s.ok(&["status", "--json"], 0).stdout, "status");
    assert!(st["state"]["entries"].as_array().unwrap().len() > 1, "{st}");
    let p = the_event(&s.ok(&["plan", "--json"], 0).stdout, "plan");
    let slow = p["plan"]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "slow");
    assert_eq!(slow.map(|t| &t["action"]), Some(&Value::from("run")), "{p}");
    s.ok(&["graph"], 0);
    s.ok(&["report"], 0);
    s.ok(&["state", "list"], 0);
    s.ok(&["state", "show", "Site.net"], 0);
    // Ctrl-C twice: the task's process goes with it.
    let pid = nix::unistd::Pid::from_raw(up.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    assert_eq!(up.wait().unwrap().code(), Some(130));
}

/// Reads `r` until `needle` has appeared (the child's output so far is returned).
fn wait_for(r: &mut impl Read, needle: &str) -> String {
    wait_for_all(r, &[needle])
}

/// Reads `r` until every one of `needles` has appeared.
fn wait_for_all(r: &mut impl Read, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(needle) = needles
        .iter()
        .find(|n| !String::from_utf8_lossy(&seen).contains(**n))
    {
        assert!(
            Instant::now() < deadline,
            "no {needle:?} in {}",
            String::from_utf8_lossy(&seen)
        );
        let n = r.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "EOF before {needle:?}: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&seen).into_owned()
}

fn graph() {
    let s = Workdir::new();
    let dot = s.ok(&["graph"], 0).stdout;
    assert!(dot.starts_with("digraph actuator {\n"), "{dot}");
    assert!(
        dot.contains(r#"[label="Site.front", shape=box, kind="resource"];"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"[label="SiteNs.front", shape=ellipse, kind="role"];"#),
        "{dot}"
    );
    assert!(
        dot.contains(r#"[label="hello", shape=box, style=rounded, kind="task"];"#),
        "{dot}"
    );
    let id = |label: &str| -> String {
        dot.lines()
            .find(|l| l.contains(&format!("[label={label:?},")))
            .and_then(|l| l.split_whitespace().next())
            .unwrap()
            .to_owned()
    };
    let (front, role, hello, after) = (
        id("Site.front"),
        id("SiteNs.front"),
        id("hello"),
        id("after"),
    );
    for edge in [
        format!("  {front} -> {hello} [label=\"host\"];"),
        format!("  {role} -> {hello} [label=\"role\"];"),
        format!("  {hello} -> {after};"),
        format!("  {} -> {front};", id("Site.net")),
    ] {
        assert!(dot.contains(&edge), "{edge} in {dot}");
    }
    let mermaid = s.ok(&["graph", "--format", "mermaid"], 0).stdout;
    assert!(mermaid.starts_with("graph TD\n"), "{mermaid}");
    assert!(
        mermaid.contains(r#"(["SiteNs.front"])"#),
        "a role is a stadium: {mermaid}"
    );
    assert!(mermaid.contains(r#"("hello")"#), "{mermaid}");
    assert!(
        mermaid.contains("-->|host|") && mermaid.contains("-->|role|"),
        "{mermaid}"
    );
    assert!(
        mermaid.contains("  class ") && mermaid.contains(" task\n"),
        "{mermaid}"
    );
}

fn ctrl_c() {
    let mut s = Workdir::new();
    s.set("FIXTURE_SLOW", "60");
    let mut up = s
        .command(&["up", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = up.stdout.take().unwrap();
    let mut stderr = up.stderr.take().unwrap();
    // Everything but `slow` finishes; then Ctrl-C.
    wait_for_all(
        &mut stdout,
        &[
            r#""task_starting","phase":"configure","task":"slow""#,
            r#""task_finished","phase":"configure","task":"after""#,
            r#""task_finished","phase":"configure","task":"check""#,
        ],
    );
    let pid = nix::unistd::Pid::from_raw(up.id() as i32);
    let t0 = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let first = wait_for(&mut stderr, "(Ctrl-C again abandons them)");
    assert!(
        first.contains("interrupted: nothing new starts; waiting for 1 in flight: slow"),
        "{first}"
    );
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let status = up.wait().unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(30),
        "aborted, not waited out"
    );
    assert_eq!(status.code(), Some(130));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(
        rest.contains("aborting 1 in flight: slow; the state keeps their intents and `site up` reconciles them"),
        "{rest}"
    );
    assert!(
        rest.contains("interrupted: run `site up` again to resume"),
        "{rest}"
    );
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let summary: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(summary["outcome"], "interrupted");
    assert!(summary["not_done"].as_u64().unwrap() >= 1, "{summary}");
    // The intent is in the state; the next up runs it again and converges.
    let keys = s.ok(&["state", "list"], 0).stdout;
    let slow = keys
        .lines()
        .find(|k| k.ends_with("/slow"))
        .unwrap()
        .to_owned();
    let v: Value = serde_json::from_str(&s.ok(&["state", "show", &slow], 0).stdout).unwrap();
    assert_eq!(v["status"], "creating");
    s.set("FIXTURE_SLOW", "0");
    let p = s.ok(&["plan"], 0).stdout;
    assert!(p.contains("  run     slow"), "{p}");
    let r = s.ok(&["up"], 0);
    assert!(r.stdout.contains("Up complete"), "{r:?}");
    assert_eq!(s.cloud().live().len(), 6);
}

fn failure_printed_once() {
    let mut s = Workdir::new();
    s.set("FIXTURE_FAIL", "1");
    let r = s.ok(&["up"], 1);
    assert_eq!(r.stderr.matches("check: FAIL is set").count(), 1, "{r:?}");
    assert_eq!(
        r.stderr.matches("error: configure check:").count(),
        1,
        "{r:?}"
    );
    assert!(r.stderr.contains("configure FAILED  check"), "{r:?}");
    assert!(r.stdout.contains("Up failed after"), "{r:?}");
    assert!(
        r.stdout.contains("; 3 tasks run, 0 skipped, 1 failed."),
        "{r:?}"
    );
    // With info logs on, still once (and the task's line as it printed it).
    let r = s.ok(&["up", "-v"], 1);
    assert_eq!(
        r.stderr.matches("error: configure check:").count(),
        1,
        "{r:?}"
    );
    assert_eq!(r.stderr.matches("| check: FAIL is set").count(), 1, "{r:?}");
}

fn up_summary() {
    let mut s = Workdir::new();
    let r = s.ok(&["up"], 0);
    assert_eq!(
        lines(&r.stdout).first().copied(),
        Some("Plan: 6 to add, 0 to change, 0 to replace, 0 to destroy; 4 tasks to run.")
    );
    let last = lines(&r.stdout).last().copied().unwrap();
    assert!(last.starts_with("Up complete after "), "{last}");
    assert!(
        last.ends_with("s: 6 created, 0 updated, 0 replaced, 0 destroyed; 4 tasks run, 0 skipped."),
        "{last}"
    );
    s.set("FIXTURE_APPS", "1,2")
        .set("FIXTURE_MEM", "4096")
        .set("FIXTURE_IMAGE", "debian-13")
        .set("FIXTURE_GREETING", "hi");
    let r = s.ok(&["up", "--json"], 0);
    let events = json_lines(&r.stdout);
    // The refresh before the plan is part of the run: same id, counted in the summary.
    let summary = &one_run(&events);
    assert_eq!(summary["command"], "up");
    assert_eq!(summary["outcome"], "complete");
    assert_eq!(summary["status"], "complete");
    assert!(summary["elapsed_ms"].is_u64(), "{summary}");
    for (k, n) in [
        ("read", 6),
        ("created", 0),
        ("updated", 1),
        ("replaced", 1),
        ("destroyed", 1),
        // The server the tasks run on is new: every task runs again.
        ("tasks_run", 4),
        ("tasks_skipped", 0),
        ("failed", 0),
        ("not_done", 0),
    ] {
        assert_eq!(summary[k], n, "{k}: {summary}");
    }
    // The counts agree with the events.
    let finished_tasks = events
        .iter()
        .filter(|e| e["event"] == "task_finished" && e["phase"] == "configure")
        .count();
    assert_eq!(finished_tasks, 4);
    // -q: no per-step lines, the summary still.
    let r = s.ok(&["up", "-q", "--reconfigure"], 0);
    assert_eq!(r.stderr, "", "{r:?}");
    assert!(r.stdout.contains("; 4 tasks run, 0 skipped."), "{r:?}");
    // A failed run: its failure in the summary, counted once.
    s.set("FIXTURE_FAIL", "1");
    let r = s.ok(&["up", "--json", "--reconfigure", "check"], 1);
    let summary = one_run(&json_lines(&r.stdout));
    assert_eq!(summary["outcome"], "failed", "{summary}");
    assert_eq!(summary["failures"][0]["task"], "check", "{summary}");
    assert_eq!(summary["failures"][0]["kind"], "run", "{summary}");
    // `down` too: one run, one summary.
    let r = s.ok(&["down", "--yes", "--json"], 0);
    let summary = one_run(&json_lines(&r.stdout));
    assert_eq!(
        (summary["command"].as_str(), summary["destroyed"].as_u64()),
        (Some("down"), Some(5))
    );
    // Nothing left to delete: no run, so no stream; its one line is the plan, with nothing to
    // destroy, and the note is on stderr.
    let r = s.ok(&["down", "--yes", "--json"], 0);
    let p = the_event(&r.stdout, "plan");
    assert_eq!(p["plan"]["summary"]["destroy"], 0, "{r:?}");
    assert!(r.stderr.contains("Nothing to delete"), "{r:?}");
}

fn workspaces() {
    let s = Workdir::new();
    s.ok(&["--workspace", "blue", "up"], 0);
    let mut green = s.command(&["up"]);
    green
        .env("ACTUATOR_WORKSPACE", "green")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    assert!(green.status().unwrap().success());
    let cloud = s.cloud();
    assert_eq!(cloud.live_in("blue").len(), 6);
    assert_eq!(cloud.live_in("green").len(), 6);
    assert!(s.state_dir("blue").join("journal.jsonl").exists());
    assert!(s.state_dir("green").join("journal.jsonl").exists());
    let st = s.ok(&["-w", "green", "status"], 0).stdout;
    assert!(
        st.starts_with("site (workspace green): Complete; 6 resources"),
        "{st}"
    );
    s.ok(&["-w", "blue", "down", "--yes"], 0);
    let cloud = s.cloud();
    assert!(cloud.live_in("blue").is_empty());
    assert_eq!(
        cloud.live_in("green").len(),
        6,
        "the other workspace is intact"
    );
    let p = s.ok(&["-w", "green", "plan", "--detailed-exitcode"], 0);
    assert!(p.stdout.contains("No changes"), "{p:?}");
    // A state belongs to one workspace.
    let r = s.ok(
        &["-w", "blue", "--state", ".actuator/site/green", "plan"],
        3,
    );
    assert!(
        r.stderr
            .contains("this state belongs to workspace `green`, not `blue`"),
        "{r:?}"
    );
}

/// The live view on a real terminal while debug logs stream: every log line arrives whole, on
/// its own line, and no bar is left behind.
fn live_view() {
    let s = Workdir::new();
    let mut p = on_terminal(
        &s,
        &["up"],
        &[
            ("RUST_LOG", "actuator::engine=debug"),
            ("FIXTURE_SLOW", "1"),
            ("FIXTURE_APPS", "1,2,3,4,5,6,7,8"),
        ],
    );
    let raw = p.exp_eof().unwrap();
    assert_eq!(exit_code(&mut p), 0, "{raw}");
    // Through a terminal emulator: what the user's screen and scrollback hold.
    let size = |n| std::num::NonZeroU16::new(n).unwrap();
    let mut term = vt100::Parser::new(size(40), size(120), 10_000);
    term.process(raw.as_bytes());
    let total = term.screen().scrollback_len();
    let mut screen: Vec<String> = Vec::new();
    // The scrollback, oldest first (the top row at each offset), then the screen.
    for offset in (1..=total).rev() {
        term.screen_mut().set_scrollback(offset);
        screen.extend(term.screen().rows(0, 120).take(1));
    }
    term.screen_mut().set_scrollback(0);
    screen.extend(term.screen().rows(0, 120));
    let text: Vec<&str> = screen
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect();
    let logs: Vec<&&str> = text.iter().filter(|l| l.contains("DEBUG")).collect();
    assert!(
        logs.len() >= 20,
        "debug lines were written while bars showed: {text:#?}"
    );
    for l in &logs {
        assert!(
            l.contains(" DEBUG actuator::engine::walk: ")
                && (l.contains(": starting node=") || l.contains(": finished node=")),
            "a whole log line: {l:?}\n{text:#?}"
        );
        assert!(!l.contains("] "), "no bar in a log line: {l:?}");
    }
    for l in &text {
        if l.contains('[')
            && l.contains('/')
            && (l.contains("provision") || l.contains("configure"))
        {
            panic!("a bar was left on the screen: {l:?}\n{text:#?}");
        }
    }
    assert!(
        text.iter().any(|l| l.starts_with("Up complete after")),
        "{text:#?}"
    );
    assert!(text.contains(&"  done    slow"), "{text:#?}");
    // While it ran, bars were drawn (the raw output moved the cursor to redraw them).
    assert!(
        raw.contains("configure [") || raw.contains(" configure ["),
        "bars were shown"
    );
}

/// `ACTUATOR_VAR_*`, then `--var-file`s in order, then `--var`s: the last one given wins; a
/// malformed one is a usage error before anything runs.
fn inputs_environment_files_flags() {
    let mut s = Workdir::new();
    std::fs::write(
        s.dir().join("a.toml"),
        "ZONE = \"from-file\"\nCITY = \"file-city\"\n",
    )
    .unwrap();
    std::fs::write(s.dir().join("b.json"), r#"{"CITY": "json-city"}"#).unwrap();
    s.set("ACTUATOR_VAR_ZONE", "from-env")
        .set("ACTUATOR_VAR_PLANET", "earth");
    let r = s.ok(
        &[
            "report",
            "--json",
            "--var-file",
            "a.toml",
            "--var-file",
            "b.json",
            "--var",
            "ZONE=from-flag",
        ],
        0,
    );
    let roles = the_event(&r.stdout, "report")["roles"].clone();
    let value = |name: &str| {
        roles[0]["vars"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .map(|v| v["value"].clone())
    };
    assert_eq!(value("ZONE"), Some(Value::from("from-flag")), "{roles}");
    assert_eq!(value("CITY"), Some(Value::from("json-city")), "{roles}");
    assert_eq!(value("PLANET"), Some(Value::from("earth")), "{roles}");
    let r = s.ok(&["plan", "--var", "NOEQUALS"], 2);
    assert!(r.stderr.contains("expected NAME=VALUE"), "{r:?}");
    let r = s.ok(&["plan", "--var-file", "missing.toml"], 2);
    assert!(r.stderr.contains("missing.toml"), "{r:?}");
    assert!(!s.state_dir("default").join("journal.jsonl").exists());
    // An extern nothing gives: named, before anything runs; given on the command line, fine.
    s.set("FIXTURE_GREETING", "-");
    let r = s.ok(&["up"], 3);
    assert!(
        r.stderr.contains("`GREETING`") && r.stderr.contains("--var GREETING="),
        "{r:?}"
    );
    assert!(s.cloud().live().is_empty(), "nothing was created: {r:?}");
    s.ok(&["up", "-q", "--var", "GREETING=bonjour"], 0);
    assert_eq!(
        std::fs::read_to_string(s.dir().join("work/hello")).unwrap(),
        "bonjour"
    );
}

/// A finished `up` shows the roles' hosts and addresses before its summary; `outputs` shows
/// them again from the state, in a new process, as text or JSON.
fn outputs_shown() {
    let s = Workdir::new();
    let r = s.ok(&["up"], 0);
    let at = r.stdout.find("Roles:").expect("outputs after up");
    assert!(at < r.stdout.find("Up complete").unwrap(), "{r:?}");
    assert!(r.stdout.contains("SiteNs.front"), "{r:?}");
    let r = s.ok(&["outputs"], 0);
    assert!(r.stdout.starts_with("Roles:\n"), "{r:?}");
    let r = s.ok(&["outputs", "--json"], 0);
    let o = the_event(&r.stdout, "outputs");
    assert_eq!(o["system"], "site");
    assert_eq!(o["roles"][0]["role"], "SiteNs.front", "{o}");
    assert!(o["roles"][0]["address"].is_string(), "{o}");
}

/// `-v` shows each line a task prints as it prints it, named by task and host.
fn verbose_streams_output() {
    let mut s = Workdir::new();
    s.set("FIXTURE_FAIL", "1");
    let r = s.ok(&["up", "-v"], 1);
    assert!(
        r.stderr
            .lines()
            .any(|l| l.contains("check@") && l.ends_with("| check: FAIL is set")),
        "{r:?}"
    );
    let r = s.ok(&["up"], 1);
    assert!(!r.stderr.contains("| check: FAIL is set"), "{r:?}");
}

/// A failed task: its error once, then the last 20 lines of what it printed (not the first
/// ones), then where the whole of it is.
fn failed_task_tail() {
    let mut s = Workdir::new();
    s.set("FIXTURE_FAIL", "1").set("FIXTURE_NOISE", "25");
    let r = s.ok(&["up"], 1);
    let err: Vec<&str> = r.stderr.lines().collect();
    let at = err
        .iter()
        .position(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(
        err[at], "error: configure check: task `check` failed with exit status 7",
        "{r:?}"
    );
    assert_eq!(
        err.iter().filter(|l| l.starts_with("error: ")).count(),
        1,
        "{r:?}"
    );
    let head = err[at + 1];
    let (prefix, log) = head
        .split_once("; all of it is in ")
        .unwrap_or_else(|| panic!("{r:?}"));
    assert_eq!(prefix, "  its output, the last 20 lines", "{r:?}");
    let log = s.dir().join(log.strip_suffix(':').unwrap());
    let tail = &err[at + 2..at + 22];
    assert!(tail.iter().all(|l| l.starts_with("    ")), "{r:?}");
    assert!(tail.contains(&"    noise 25"), "{r:?}");
    assert!(tail.contains(&"    check: FAIL is set"), "{r:?}");
    assert!(
        !tail.contains(&"    noise 1"),
        "the first lines are cut: {r:?}"
    );
    assert_eq!(err.len(), at + 22, "nothing after the tail: {r:?}");
    assert_eq!(r.stderr.matches("check: FAIL is set").count(), 1, "{r:?}");
    // The log has every line.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("stdout| noise 1\n"), "{text}");
    assert!(text.contains("stderr| check: FAIL is set"), "{text}");
    assert!(log.starts_with(s.state_dir("default").join("runs")));
}

/// `vars { secret API_KEY = "…" }`: the task gets the value, everything shown masks it —
/// the report, plans, the event stream, a failure's output, the state and the run logs.
fn dsl_secret() {
    let mut s = Workdir::new();
    let clean = |what: &str, text: &str| {
        assert!(!text.contains(API_KEY), "the secret is in {what}:\n{text}");
    };
    let r = s.ok(&["plan"], 0);
    clean("the plan", &r.stdout);
    clean("the plan (JSON)", &s.ok(&["plan", "--json"], 0).stdout);
    let r = s.ok(&["up", "--json"], 0);
    clean("the events", &r.stdout);
    assert!(r.stdout.contains(r#""line":"key: ***""#), "{r:?}");
    assert_eq!(
        std::fs::read_to_string(s.dir().join("work/api_key")).unwrap(),
        API_KEY,
        "the task got the real value"
    );
    let report = s.ok(&["report"], 0).stdout;
    clean("the report", &report);
    let line = report.lines().find(|l| l.contains("API_KEY")).unwrap();
    assert!(
        line.contains("***") && line.contains("(secret)"),
        "{report}"
    );
    let roles = the_event(&s.ok(&["report", "--json"], 0).stdout, "report")["roles"].clone();
    let var = roles[0]["vars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "API_KEY")
        .unwrap()
        .clone();
    assert_eq!(var["value"], "***", "{var}");
    assert_eq!(var["exported"], true, "{var}");
    // A failure whose output holds it: masked on the terminal and in the stream.
    s.set("FIXTURE_FAIL", "1");
    let r = s.ok(&["up", "-v", "--reconfigure", "check"], 1);
    clean("a failed run's terminal output", &format!("{r:?}"));
    assert!(
        r.stderr.contains("    key: ***"),
        "in the failure's tail: {r:?}"
    );
    let r = s.ok(&["up", "--json", "--reconfigure", "check"], 1);
    clean("a failed run's events", &r.stdout);
    clean("the later plan", &s.ok(&["plan", "-v"], 0).stdout);
    // The state and the run logs.
    let written = files(&s.state_dir("default"));
    for (path, text) in &written {
        clean(path, text);
    }
    assert!(written.len() >= 3, "the journal and the run logs were read");
}

/// `graph`, `import` and `state mv` with `--json`: one enveloped event each, in the schema.
fn json_of_graph_import_mv() {
    let mut s = Workdir::new();
    let g = &the_event(&s.ok(&["graph", "--json"], 0).stdout, "graph");
    let nodes = g["nodes"].as_array().unwrap();
    let id = |kind: &str, name: &str| -> String {
        nodes
            .iter()
            .find(|n| n["kind"] == kind && n["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {g}"))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (front, role, hello, after) = (
        id("resource", "Site.front"),
        id("role", "SiteNs.front"),
        id("task", "hello"),
        id("task", "after"),
    );
    let edges = g["edges"].as_array().unwrap();
    let has = |from: &str, to: &str, label: Option<&str>| {
        edges.iter().any(|e| {
            e["from"] == from && e["to"] == to && e.get("label").and_then(Value::as_str) == label
        })
    };
    assert!(has(&front, &hello, Some("host")), "{g}");
    assert!(has(&role, &hello, Some("role")), "{g}");
    assert!(has(&hello, &after, None), "{g}");
    assert!(has(&id("resource", "Site.net"), &front, None), "{g}");

    s.ok(&["up", "-q"], 0);
    let unmanaged = s.cloud().create_unmanaged("test.Server");
    s.set("FIXTURE_APPS", "1,2,3,9");
    let r = s.ok(&["import", "--json", "Site.apps.9", &unmanaged], 0);
    let e = the_event(&r.stdout, "import");
    assert_eq!(
        (&e["path"], &e["id"], &e["success"]),
        (
            &Value::from("Site.apps.9"),
            &Value::from(unmanaged.as_str()),
            &Value::from(true)
        )
    );
    assert!(e.get("error").is_none(), "{r:?}");
    refused(
        s.ok(&["import", "--json", "Site.nope", "sim-99"], 1),
        "import",
        "the model has no resource `Site.nope`",
    );

    s.set("FIXTURE_APPS", "1,2,3,8");
    let r = s.ok(&["state", "mv", "--json", "Site.apps.9", "Site.apps.8"], 0);
    let e = the_event(&r.stdout, "state_mv");
    assert_eq!(
        (&e["from"], &e["to"], &e["success"]),
        (
            &Value::from("Site.apps.9"),
            &Value::from("Site.apps.8"),
            &Value::from(true)
        )
    );
    let p = s.ok(&["plan", "--refresh=false"], 0).stdout;
    assert!(
        p.contains("Plan: 0 to add, 0 to change, 0 to replace, 0 to destroy"),
        "{p}"
    );
    refused(
        s.ok(&["state", "mv", "--json", "Site.nope", "Site.x"], 1),
        "state_mv",
        "the state records nothing at `Site.nope`",
    );
}

/// A command that could not do what it was asked, with `--json`: its one event says so, with
/// the error also on stderr.
fn refused(r: Run, kind: &str, error: &str) {
    let e = the_event(&r.stdout, kind);
    assert_eq!(e["success"], false, "{r:?}");
    assert!(e["error"].as_str().unwrap().contains(error), "{r:?}");
    assert!(r.stderr.contains(error), "{r:?}");
}

/// Every command that is not a run writes exactly one enveloped event with `--json`, its body
/// what the command shows; the runs' streams are checked by the tests of `up`, `down` and
/// `refresh`.
fn every_other_command_writes_one_json_line() {
    let s = Workdir::new();
    s.ok(&["up", "-q"], 0);
    let keys: Vec<String> = lines(&s.ok(&["state", "list"], 0).stdout)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let e = the_event(&s.ok(&["state", "list", "--json"], 0).stdout, "state_list");
    assert_eq!(e["keys"], Value::from(keys.clone()));
    let st = the_event(&s.ok(&["status", "--json"], 0).stdout, "status");
    let entries = st["state"]["entries"].as_array().unwrap();
    let recorded: Vec<&str> = entries.iter().map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(recorded, keys);
    let shown: Value =
        serde_json::from_str(&s.ok(&["state", "show", "Site.front"], 0).stdout).unwrap();
    let e = the_event(
        &s.ok(&["state", "show", "--json", "Site.front"], 0).stdout,
        "state_show",
    );
    assert_eq!(e["entry"], shown);
    assert_eq!(
        entries.iter().find(|e| e["key"] == "Site.front"),
        Some(&shown)
    );
    let r = s.ok(&["state", "show", "--json", "Site.nope"], 1);
    assert_eq!(r.stdout, "", "nothing to show, no event: {r:?}");

    // state pull and push: the snapshot goes to the file, the event to stdout.
    let e = the_event(
        &s.ok(&["state", "pull", "--json", "snap.json"], 0).stdout,
        "state_pull",
    );
    let seq = st["state"]["last_seq"].clone();
    assert_eq!(
        (&e["file"], &e["entries"], &e["seq"], &e["success"]),
        (
            &Value::from("snap.json"),
            &Value::from(keys.len()),
            &seq,
            &Value::from(true)
        )
    );
    let r = s.ok(&["state", "pull", "--json", "-"], 2);
    assert!(r.stderr.contains("with --json, name a FILE"), "{r:?}");
    let copy = ["--state", "copy"];
    let e = the_event(
        &s.ok(
            &[&copy[..], &["state", "push", "--json", "snap.json"]].concat(),
            0,
        )
        .stdout,
        "state_push",
    );
    assert_eq!(
        (&e["entries"], &e["seq"], &e["success"]),
        (&Value::from(keys.len()), &seq, &Value::from(true))
    );
    let copied = the_event(
        &s.ok(&[&copy[..], &["state", "list", "--json"]].concat(), 0)
            .stdout,
        "state_list",
    );
    assert_eq!(copied["keys"], Value::from(keys.clone()));
    refused(
        s.ok(&["-w", "other", "state", "push", "--json", "snap.json"], 3),
        "state_push",
        "the pushed state belongs to workspace `default`, not `other`",
    );
    let r = s.ok(&["state", "push", "--json", "missing.json"], 3);
    refused(r, "state_push", "cannot read missing.json");
    // A directory state has no lease to free: said in the event and on stderr.
    let r = s.run(&["force-unlock", "--json", "lease-1"]);
    assert_ne!(r.code, 0, "{r:?}");
    let e = the_event(&r.stdout, "force_unlock");
    assert_eq!(
        (&e["lease_id"], &e["success"]),
        (&Value::from("lease-1"), &Value::from(false))
    );
    assert!(r.stderr.contains(e["error"].as_str().unwrap()), "{r:?}");
}

/// `site ARGS` as [`Workdir::ok`], and its peak resident set size in KiB.
fn measured(s: &Workdir, args: &[&str], code: i32) -> (Run, u64) {
    let out = s
        .command(args)
        .env("FIXTURE_MEASURE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(r.code, code, "site {}: {r:?}", args.join(" "));
    let kib = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss "))
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| panic!("no maxrss: {r:?}"));
    (r, kib)
}

/// A task that prints far more than a run log keeps of it (1 MiB an attempt): the log holds its
/// first MiB and a line saying how much more there was, the run succeeds, and the process's
/// memory stays within what the agent's capture allows.
fn task_log_cap() {
    const CAP: usize = 1 << 20;
    const LINES: u32 = 1_000_000;
    let mut quiet = Workdir::new();
    quiet.set("FIXTURE_NOISE", "10");
    let (_, quiet_kib) = measured(&quiet, &["up", "-q"], 0);
    let mut loud = Workdir::new();
    loud.set("FIXTURE_NOISE", &LINES.to_string());
    let (r, loud_kib) = measured(&loud, &["up", "-q"], 0);
    assert!(!r.stderr.contains("error"), "{r:?}");

    let runs = loud.state_dir("default").join("runs");
    let logs: Vec<PathBuf> = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1, "one run, one log: {logs:?}");
    let text = std::fs::read_to_string(&logs[0]).unwrap();
    // What the task printed, counted as the log counts it: each line without its newline.
    let printed: usize = "key: ***".len()
        + (1..=LINES)
            .map(|i| format!("noise {i}").len())
            .sum::<usize>();
    assert!(printed > 10 * CAP);
    let output: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" check@") && l.contains(" stdout| "))
        .collect();
    // The cap counts the log's lines as written; the marker, the output's own bytes.
    let written: usize = output.iter().map(|l| l.len() + 1).sum();
    assert!(
        written <= CAP && written > CAP - 128,
        "the first MiB is logged, no more: {written} bytes"
    );
    let logged: usize = output
        .iter()
        .map(|l| l.split_once(" stdout| ").unwrap().1.len())
        .sum();
    assert!(
        text.contains("stdout| noise 1\n"),
        "the beginning is logged"
    );
    assert!(
        !text.contains(&format!("| noise {LINES}\n")),
        "the end is left out"
    );
    let marker = format!("({} more bytes of output not logged)", printed - logged);
    assert!(
        text.lines()
            .any(|l| l.contains(" check@") && l.ends_with(&marker)),
        "{marker} in the log's last lines: {:?}",
        text.lines().rev().take(5).collect::<Vec<_>>()
    );
    assert!(
        text.len() < CAP + (64 << 10),
        "the log is bounded: {} bytes",
        text.len()
    );
    // Memory: the log's cap does not bound it — the local agent also keeps the end of each
    // stream for its result (`exec::support::MAX_CAPTURE`, up to twice that while reading,
    // plus its text), and the run must stay within that.
    let capture_kib = (actuator::exec::support::MAX_CAPTURE / 1024) as u64;
    assert!(
        loud_kib < quiet_kib + 4 * capture_kib,
        "peak memory {loud_kib} KiB printing {printed} bytes, {quiet_kib} KiB printing none"
    );
}
