//! How compile time, rustc memory, binary size and instance build time grow with the model (a plain
//! binary: `cargo bench -p actuator-ui-tests --bench model_scale -- [options]`).
//!
//! For each size N it generates a crate (see `actuator_ui_tests::scale`: N infra components with
//! references, a namespace with a role per server, a config with a task per role and dependencies)
//! under `target/model-scale/`, with its dependencies built once beforehand (into one target
//! directory that both checkouts share, so the dependencies they have in common are built once),
//! and measures one cargo command at a time:
//!
//! * `check`: `cargo check` after touching the model (incremental, as a user's edit-check loop; a
//!   first, untimed check fills the cache);
//! * `debug`: a full debug build of the model crate (`CARGO_INCREMENTAL=0`, after a touch);
//! * `release`: a release build of the model crate (after a touch);
//! * rustc's peak resident memory and CPU time in each (VmHWM and utime+stime of the rustc process,
//!   sampled every 20 ms by this binary acting as `RUSTC_WORKSPACE_WRAPPER`, so dependencies and
//!   the linker are not counted; on a shared machine the CPU time is the steadier figure);
//! * the release binary's size, whether the debug binary builds the instances on the main thread
//!   without overflowing its stack, and the release binary's instance build time;
//! * the growth exponent of each figure from the smallest size ≥ 200 to the largest;
//! * the goals, met or missed, and the load average before and after each size (other
//!   builds on the machine inflate wall times; the CPU time less so).
//!
//! Options: `--sizes 50,200,1000,2000`, `--repeat 3` (runs per figure; a figure whose first run
//! exceeds `--long 120` seconds is not repeated), `--runs 20` (instance builds per binary),
//! `--timeout 1200` (seconds one rustc may take before it is killed, reported as "killed after
//! X s"; a figure killed at one size is not tried at larger ones), `--baseline-timeout S` (the
//! same for the baseline, when the old code's builds are known to take far longer),
//! `--jobs J` (cargo's `-j`), `--figures check,debug,release` (which builds to measure), and
//! `--baseline DIR`: the workspace root of another checkout of
//! actuator (e.g. an older commit exported with `git archive`; the macros before issue 15's
//! constant-size code are `git archive d362025 | tar -x -C DIR`), measured alternately with this one
//! in the same invocation so the two columns share the machine's conditions (`--baseline-only`
//! measures the baseline alone).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use actuator_ui_tests::scale;

/// Set when this binary runs as cargo's workspace wrapper around rustc: where to append peaks.
const PEAK_FILE: &str = "ACTUATOR_SCALE_PEAK_FILE";
/// Seconds one rustc may run before the wrapper kills it.
const DEADLINE: &str = "ACTUATOR_SCALE_DEADLINE";

fn main() {
    if let Ok(file) = std::env::var(PEAK_FILE) {
        wrap_rustc(Path::new(&file));
    }
    let opts = Opts::parse();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let mut variants = Vec::new();
    if let Some(base) = &opts.baseline {
        variants.push(Variant::new("baseline", base, &target, &opts));
    }
    if !opts.baseline_only {
        variants.push(Variant::new("this", &root, &target, &opts));
    }
    println!(
        "model_scale: N infra components (N/2 servers + N/2 floating IPs + 1 network), N/2 roles, N/2 tasks"
    );
    for v in &variants {
        println!(
            "  {:<8} actuator at {}, crates in {}",
            v.label,
            v.src.display(),
            v.ws.display()
        );
        v.warm_dependencies();
    }
    println!("load average at start: {}", load_average());
    let mut results: BTreeMap<(usize, String), Row> = BTreeMap::new();
    for &n in &opts.sizes {
        for v in &variants {
            v.prepare(n);
        }
        // A figure killed at a smaller size is not tried again at a larger one.
        let mut rows: Vec<Row> = variants
            .iter()
            .map(|v| {
                let mut row = Row::default();
                for f in [Figure::Check, Figure::Debug, Figure::Release] {
                    row.figure(f).killed_at = results
                        .iter()
                        .find(|((_, l), r)| l == v.label && r.killed(f))
                        .map(|((n, _), _)| *n);
                }
                row
            })
            .collect();
        // `check` is measured after a touch, so a first, untimed check fills the incremental cache.
        for (v, row) in variants.iter().zip(rows.iter_mut()) {
            if row.check.killed_at.is_some() || !opts.figures.iter().any(|f| f == "check") {
                continue;
            }
            let r = v.cargo("check", n);
            eprintln!(
                "  {:<8} N={n:<5} check   (untimed, first): {:.1} s{}",
                v.label,
                r.secs,
                if r.killed { " (killed)" } else { "" }
            );
            if r.killed {
                row.check.killed_at = Some(n);
                row.check.killed_secs = r.secs;
            }
        }
        for (kind, cmd) in [
            (Figure::Check, "check"),
            (Figure::Debug, "debug"),
            (Figure::Release, "release"),
        ] {
            if !opts.figures.iter().any(|f| f == cmd) {
                continue;
            }
            for rep in 0..opts.repeat {
                // A and B alternate run by run: slow drifts of the machine hit both.
                for (v, row) in variants.iter().zip(rows.iter_mut()) {
                    let runs = row.figure(kind);
                    if runs.killed_at.is_some()
                        || (rep > 0 && runs.secs.first().is_some_and(|s| *s > opts.long))
                    {
                        continue;
                    }
                    let r = v.cargo(cmd, n);
                    eprintln!(
                        "  {:<8} N={n:<5} {cmd:<7} run {}: {:.1} s (rustc cpu {:.1} s), rustc peak {} MB{}",
                        v.label,
                        rep + 1,
                        r.secs,
                        r.cpu,
                        r.peak_kb / 1024,
                        if r.killed { " (killed)" } else { "" }
                    );
                    runs.push(r, n);
                }
            }
        }
        for (v, row) in variants.iter().zip(rows.iter_mut()) {
            if row.debug.killed_at.is_none() && row.debug.ok {
                row.debug_run = Some(v.run_debug(n));
            }
            if row.release.killed_at.is_none() && row.release.ok {
                row.binary_bytes = std::fs::metadata(v.bin("release", n)).map(|m| m.len()).ok();
                row.instance_us = v.run_release(n, opts.runs);
            }
            results.insert((n, v.label.to_string()), std::mem::take(row));
        }
        print_table(&results);
        println!("load average after N={n}: {}", load_average());
    }
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

#[derive(Clone, Copy)]
enum Figure {
    Check,
    Debug,
    Release,
}

/// The runs of one figure (check, debug or release build) at one size.
#[derive(Default)]
struct Runs {
    secs: Vec<f64>,
    cpu: Vec<f64>,
    peak_kb: Vec<u64>,
    /// The size at which a rustc of this figure was killed (this one or a smaller one: then this
    /// size was not tried).
    killed_at: Option<usize>,
    /// The wall time of the killed build.
    killed_secs: f64,
    ok: bool,
}

impl Runs {
    fn push(&mut self, r: Measured, n: usize) {
        if r.killed {
            self.killed_at = Some(n);
            self.killed_secs = r.secs;
            return;
        }
        self.secs.push(r.secs);
        self.cpu.push(r.cpu);
        self.peak_kb.push(r.peak_kb);
        self.ok = r.ok;
    }
    fn secs(&self) -> Option<[f64; 3]> {
        stats(&self.secs)
    }
    fn peak_mb(&self) -> Option<f64> {
        self.peak_kb.iter().max().map(|kb| *kb as f64 / 1024.0)
    }
    fn show(&self, n: usize) -> String {
        match self.killed_at {
            Some(k) if k == n => return format!("killed after {:.0} s", self.killed_secs),
            Some(k) => return format!("not run (killed at {k})"),
            None => {}
        }
        if self.secs.is_empty() && self.killed_at.is_none() {
            // Left out with `--figures`.
            return "not measured".into();
        }
        if !self.ok {
            return "failed".into();
        }
        let cpu = stats(&self.cpu).map_or(String::new(), |c| format!(" ({:.1})", c[1]));
        match self.secs() {
            Some([lo, med, hi]) if self.secs.len() > 1 => {
                format!("{lo:.1}/{med:.1}/{hi:.1}{cpu}")
            }
            Some([_, med, _]) => format!("{med:.1}{cpu}"),
            None => "-".into(),
        }
    }
}

#[derive(Default)]
struct Row {
    check: Runs,
    debug: Runs,
    release: Runs,
    debug_run: Option<String>,
    binary_bytes: Option<u64>,
    instance_us: Option<[f64; 3]>,
}

impl Row {
    fn killed(&self, f: Figure) -> bool {
        match f {
            Figure::Check => self.check.killed_at.is_some(),
            Figure::Debug => self.debug.killed_at.is_some(),
            Figure::Release => self.release.killed_at.is_some(),
        }
    }
    fn figure(&mut self, f: Figure) -> &mut Runs {
        match f {
            Figure::Check => &mut self.check,
            Figure::Debug => &mut self.debug,
            Figure::Release => &mut self.release,
        }
    }
}

/// Min, median and max.
fn stats(v: &[f64]) -> Option<[f64; 3]> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    Some([*v.first()?, v[v.len() / 2], *v.last()?])
}

fn print_table(results: &BTreeMap<(usize, String), Row>) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<8} {:>5}  {:>24} {:>24} {:>24}  {:>20}  {:>9}  {:>14}  {:>17}",
        "variant",
        "N",
        "check s",
        "debug s",
        "release s",
        "rustc MB chk/dbg/rel",
        "binary MB",
        "debug run",
        "instance ms"
    );
    for ((n, label), r) in results {
        let mb = |x: &Runs| x.peak_mb().map_or("-".into(), |m| format!("{m:.0}"));
        let _ = writeln!(
            out,
            "{label:<8} {n:>5}  {:>24} {:>24} {:>24}  {:>20}  {:>9}  {:>14}  {:>17}",
            r.check.show(*n),
            r.debug.show(*n),
            r.release.show(*n),
            format!("{}/{}/{}", mb(&r.check), mb(&r.debug), mb(&r.release)),
            r.binary_bytes
                .map_or("-".into(), |b| format!("{:.1}", b as f64 / 1e6)),
            r.debug_run.as_deref().unwrap_or("-"),
            r.instance_us.map_or("-".into(), |[lo, med, hi]| format!(
                "{:.2}/{:.2}/{:.2}",
                lo / 1e3,
                med / 1e3,
                hi / 1e3
            )),
        );
    }
    let _ = writeln!(
        out,
        "(seconds of wall time: min/median/max over the runs, with the median of rustc's CPU time in parentheses)"
    );
    // Growth exponent k of value ∝ N^k, from the smallest size ≥ 200 to the largest, by variant.
    let labels: Vec<&String> = {
        let mut l: Vec<_> = results.keys().map(|(_, l)| l).collect();
        l.sort();
        l.dedup();
        l
    };
    for label in labels {
        let rows: Vec<(usize, &Row)> = results
            .iter()
            .filter(|((_, l), _)| l == label)
            .map(|((n, _), r)| (*n, r))
            .collect();
        let Some(&(lo_n, lo)) = rows.iter().find(|(n, _)| *n >= 200) else {
            continue;
        };
        let &(hi_n, hi) = rows.last().expect("non-empty");
        if hi_n <= lo_n {
            continue;
        }
        let k = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if a > 0.0 && b > 0.0 => {
                format!("{:.2}", (b / a).ln() / (hi_n as f64 / lo_n as f64).ln())
            }
            _ => "n/a".into(),
        };
        let med = |r: &Runs| if r.ok { r.secs().map(|s| s[1]) } else { None };
        let cpu = |r: &Runs| {
            if r.ok {
                stats(&r.cpu).map(|s| s[1])
            } else {
                None
            }
        };
        let _ = writeln!(
            out,
            "{label:<8} growth exponent N={lo_n}..{hi_n}: check {} (cpu {}), debug {} (cpu {}), release {} (cpu {}), rustc memory (release) {}, binary {}, instance build {}",
            k(med(&lo.check), med(&hi.check)),
            k(cpu(&lo.check), cpu(&hi.check)),
            k(med(&lo.debug), med(&hi.debug)),
            k(cpu(&lo.debug), cpu(&hi.debug)),
            k(med(&lo.release), med(&hi.release)),
            k(cpu(&lo.release), cpu(&hi.release)),
            k(lo.release.peak_mb(), hi.release.peak_mb()),
            k(
                lo.binary_bytes.map(|b| b as f64),
                hi.binary_bytes.map(|b| b as f64)
            ),
            k(lo.instance_us.map(|s| s[1]), hi.instance_us.map(|s| s[1])),
        );
        let release_k = match (med(&lo.release), med(&hi.release)) {
            (Some(a), Some(b)) => Some((b / a).ln() / (hi_n as f64 / lo_n as f64).ln()),
            _ => None,
        };
        let _ = writeln!(out, "{label:<8} goals: {}", goals(&rows, release_k));
    }
    println!("{out}");
}

/// The goals, each with the figure measured and whether it is met.
fn goals(rows: &[(usize, &Row)], release_k: Option<f64>) -> String {
    let at = |n: usize| rows.iter().find(|(m, _)| *m == n).map(|(_, r)| *r);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    let mut out = Vec::new();
    if let Some(r) = at(1000) {
        let secs = r.release.secs().filter(|_| r.release.ok).map(|s| s[1]);
        let cpu = stats(&r.release.cpu).map_or(0.0, |c| c[1]);
        let mb = r.release.peak_mb();
        out.push(match (secs, mb) {
            (Some(s), Some(mb)) => format!(
                "release at 1000 ≤ 60 s with ≤ 2 GB rustc: {s:.1} s (rustc cpu {cpu:.1} s), {mb:.0} MB {}",
                verdict(s <= 60.0 && mb * 1024.0 * 1024.0 <= 2e9)
            ),
            _ => format!("release at 1000: {} MISSED", r.release.show(1000)),
        });
        out.push(match r.check.secs().filter(|_| r.check.ok).map(|s| s[1]) {
            Some(s) => format!(
                "check at 1000 ≤ 3 s: {s:.1} s (rustc cpu {:.1} s) {}",
                stats(&r.check.cpu).map_or(0.0, |c| c[1]),
                verdict(s <= 3.0)
            ),
            None if r.check.secs.is_empty() && r.check.killed_at.is_none() => {
                "check at 1000: not measured".into()
            }
            None => format!("check at 1000: {} MISSED", r.check.show(1000)),
        });
    }
    if let Some(k) = release_k {
        out.push(format!(
            "release growth ≤ N^1.2: N^{k:.2} {}",
            verdict(k <= 1.2)
        ));
    }
    if let Some(r) = at(2000) {
        out.push(match r.instance_us {
            Some([_, med, _]) => format!(
                "instance build at 2000 ≤ 5 ms: {:.2} ms {}",
                med / 1e3,
                verdict(med <= 5e3)
            ),
            None => "instance build at 2000: no release binary MISSED".into(),
        });
    }
    if out.is_empty() {
        "(none measured at these sizes)".into()
    } else {
        out.join("; ")
    }
}

struct Opts {
    sizes: Vec<usize>,
    repeat: usize,
    runs: usize,
    long: f64,
    timeout: f64,
    baseline_timeout: Option<f64>,
    jobs: Option<String>,
    baseline: Option<PathBuf>,
    baseline_only: bool,
    figures: Vec<String>,
}

impl Opts {
    fn parse() -> Opts {
        let mut o = Opts {
            sizes: vec![50, 200, 1000, 2000],
            repeat: 3,
            runs: 20,
            long: 120.0,
            timeout: 1200.0,
            baseline_timeout: None,
            jobs: None,
            baseline: None,
            baseline_only: false,
            figures: vec!["check".into(), "debug".into(), "release".into()],
        };
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            let mut val = || args.next().unwrap_or_else(|| panic!("{a} needs a value"));
            match a.as_str() {
                "--sizes" => {
                    o.sizes = val()
                        .split(',')
                        .map(|s| s.trim().parse().expect("--sizes: numbers"))
                        .collect()
                }
                "--repeat" => o.repeat = val().parse().expect("--repeat: a number"),
                "--runs" => o.runs = val().parse().expect("--runs: a number"),
                "--long" => o.long = val().parse().expect("--long: seconds"),
                "--timeout" => o.timeout = val().parse().expect("--timeout: seconds"),
                "--baseline-timeout" => {
                    o.baseline_timeout = Some(val().parse().expect("--baseline-timeout: seconds"))
                }
                "--jobs" => o.jobs = Some(val()),
                "--baseline" => o.baseline = Some(PathBuf::from(val())),
                "--baseline-only" => o.baseline_only = true,
                "--figures" => o.figures = val().split(',').map(|f| f.trim().to_string()).collect(),
                // `cargo bench` passes `--bench` to harness-less benches.
                "--bench" => {}
                other => {
                    panic!("unknown option {other}; see the comment at the top of model_scale.rs")
                }
            }
        }
        o.repeat = o.repeat.max(1);
        o.runs = o.runs.max(1);
        o
    }
}

/// One checkout of actuator whose macros are measured, with its own generated workspace.
struct Variant {
    label: &'static str,
    src: PathBuf,
    ws: PathBuf,
    /// Shared by every variant: dependencies both lock files agree on are built once.
    target: PathBuf,
    jobs: Option<String>,
    timeout: f64,
    sizes: Vec<usize>,
}

/// One cargo command's figures.
struct Measured {
    secs: f64,
    /// rustc's CPU time (all its threads), which the other builds on a shared machine inflate less
    /// than the wall time.
    cpu: f64,
    peak_kb: u64,
    killed: bool,
    ok: bool,
}

impl Variant {
    fn new(label: &'static str, src: &Path, target: &Path, opts: &Opts) -> Variant {
        let src = src
            .canonicalize()
            .unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        assert!(
            src.join("actuator/Cargo.toml").exists(),
            "{} is not an actuator workspace (no actuator/Cargo.toml)",
            src.display()
        );
        let v = Variant {
            label,
            src,
            ws: target.join("model-scale").join(label),
            target: target.join("model-scale").join("target"),
            jobs: opts.jobs.clone(),
            timeout: match label {
                "baseline" => opts.baseline_timeout.unwrap_or(opts.timeout),
                _ => opts.timeout,
            },
            sizes: opts.sizes.clone(),
        };
        v.write_workspace();
        v
    }

    fn crate_dir(&self, n: usize) -> PathBuf {
        self.ws.join(format!("n{n}"))
    }

    /// The package (and binary) name of the crate of size `n`, unique across variants, which
    /// share a target directory.
    fn package(&self, n: usize) -> String {
        format!("{}_n{n}", self.label)
    }

    fn write_workspace(&self) {
        std::fs::create_dir_all(&self.ws).expect("create the bench workspace");
        let members: Vec<String> = std::iter::once(0)
            .chain(self.sizes.iter().copied())
            .map(|n| format!("\"n{n}\""))
            .collect();
        write_if_changed(
            &self.ws.join("Cargo.toml"),
            &format!(
                "# Generated by the model_scale bench.\n[workspace]\nresolver = \"3\"\nmembers = [{}]\n",
                members.join(", ")
            ),
        );
        // The checkout's lock file: the same dependency versions it is tested with, no network.
        let lock = std::fs::read_to_string(self.src.join("Cargo.lock")).expect("Cargo.lock");
        write_if_changed(&self.ws.join("Cargo.lock"), &lock);
        for n in std::iter::once(0).chain(self.sizes.iter().copied()) {
            self.prepare(n);
        }
    }

    /// Writes the crate of size `n` (size 0: a tiny one that builds the dependencies).
    fn prepare(&self, n: usize) {
        let dir = self.crate_dir(n);
        std::fs::create_dir_all(dir.join("src")).expect("create the crate");
        write_if_changed(
            &dir.join("Cargo.toml"),
            &format!(
                "[package]\nname = \"{}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
                 [dependencies]\nactuator = {{ path = {:?} }}\n",
                self.package(n),
                self.src.join("actuator")
            ),
        );
        let size = if n == 0 { 4 } else { n };
        write_if_changed(&dir.join("src/model.rs"), &scale::model_source(size));
        write_if_changed(&dir.join("src/main.rs"), &scale::main_source(size));
    }

    fn warm_dependencies(&self) {
        for cmd in ["check", "debug", "release"] {
            let r = self.cargo(cmd, 0);
            assert!(r.ok, "{}: building the dependencies failed", self.label);
        }
    }

    /// Touches the model and runs one cargo command on the crate of size `n`.
    fn cargo(&self, cmd: &str, n: usize) -> Measured {
        let dir = self.crate_dir(n);
        let model = dir.join("src/model.rs");
        std::fs::File::options()
            .write(true)
            .open(&model)
            .and_then(|f| f.set_modified(SystemTime::now()))
            .expect("touch the model");
        let peaks = self.ws.join(format!("peaks-{n}.txt"));
        let _ = std::fs::remove_file(&peaks);
        let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        match cmd {
            "check" => c.arg("check"),
            "debug" => c.arg("build").env("CARGO_INCREMENTAL", "0"),
            _ => c.args(["build", "--release"]),
        };
        c.args([
            "--offline",
            "--quiet",
            "-p",
            &self.package(n),
            "--manifest-path",
        ])
        .arg(self.ws.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &self.target)
        .env(
            "RUSTC_WORKSPACE_WRAPPER",
            std::env::current_exe().expect("own path"),
        )
        .env(PEAK_FILE, &peaks)
        .env(DEADLINE, self.timeout.to_string());
        if let Some(j) = &self.jobs {
            c.args(["-j", j]);
        }
        let t = Instant::now();
        let status = c.status().expect("run cargo");
        let secs = t.elapsed().as_secs_f64();
        let text = std::fs::read_to_string(&peaks).unwrap_or_default();
        let crate_name = self.package(n);
        let mut peak_kb = 0;
        let mut cpu = 0.0;
        let mut killed = false;
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let [name, kb, how, secs] = f[..]
                && name == crate_name
            {
                peak_kb = peak_kb.max(kb.parse().unwrap_or(0));
                cpu += secs.parse::<f64>().unwrap_or(0.0);
                killed |= how == "killed";
            }
        }
        Measured {
            secs,
            cpu,
            peak_kb,
            killed,
            ok: status.success(),
        }
    }

    fn bin(&self, profile: &str, n: usize) -> PathBuf {
        self.target.join(profile).join(self.package(n))
    }

    /// Builds the instances once in the debug binary, on its main thread.
    fn run_debug(&self, n: usize) -> String {
        let out = Command::new(self.bin("debug", n))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run the debug binary");
        describe(out.status, &out.stderr)
    }

    /// Builds the instances `runs` times in the release binary: min/median/max in µs.
    fn run_release(&self, n: usize, runs: usize) -> Option<[f64; 3]> {
        let out = Command::new(self.bin("release", n))
            .arg(runs.to_string())
            .output()
            .expect("run the release binary");
        if !out.status.success() {
            eprintln!(
                "  {} N={n}: release binary: {}",
                self.label,
                describe(out.status, &out.stderr)
            );
            return None;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let f: Vec<f64> = text
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        (f.len() == 3).then(|| [f[0], f[1], f[2]])
    }
}

fn describe(status: ExitStatus, stderr: &[u8]) -> String {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return "ok".into();
    }
    let err = String::from_utf8_lossy(stderr);
    if err.contains("overflowed its stack") {
        "stack overflow".into()
    } else if let Some(sig) = status.signal() {
        format!("signal {sig}")
    } else {
        format!("exit {}", status.code().unwrap_or(-1))
    }
}

fn write_if_changed(path: &Path, text: &str) {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return;
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Wrapper mode: runs rustc (`argv[1..]`), samples its peak resident memory, kills it after the
/// deadline, appends `<crate> <peak kB> <ok|failed|killed>` to the peak file and exits as rustc did.
fn wrap_rustc(file: &Path) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let crate_name = args
        .iter()
        .position(|a| a == "--crate-name")
        .and_then(|i| args.get(i + 1).cloned());
    let deadline = std::env::var(DEADLINE)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64);
    let mut child = Command::new(&args[0])
        .args(&args[1..])
        .spawn()
        .expect("spawn rustc");
    let status_file = format!("/proc/{}/status", child.id());
    let stat_file = format!("/proc/{}/stat", child.id());
    let start = Instant::now();
    let mut peak_kb = 0u64;
    let mut cpu_ticks = 0u64;
    let mut killed = false;
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_file)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak_kb = peak_kb.max(kb);
        }
        // utime + stime of all its threads (fields 14 and 15, after the parenthesized name).
        if let Ok(stat) = std::fs::read_to_string(&stat_file)
            && let Some((_, rest)) = stat.rsplit_once(')')
        {
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|x| x.parse().ok())
                .collect();
            if f.len() == 2 {
                cpu_ticks = cpu_ticks.max(f[0] + f[1]);
            }
        }
        if let Some(s) = child.try_wait().expect("wait for rustc") {
            break s;
        }
        if !killed && deadline.is_some_and(|d| start.elapsed() > d) {
            killed = true;
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(name) = crate_name {
        let how = if killed {
            "killed"
        } else if status.success() {
            "ok"
        } else {
            "failed"
        };
        // Clock ticks are 1/100 s on Linux (USER_HZ).
        let cpu = cpu_ticks as f64 / 100.0;
        let line = format!("{name} {peak_kb} {how} {cpu:.2}\n");
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
    std::process::exit(status.code().unwrap_or(101));
}
