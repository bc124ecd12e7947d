//! The PostgreSQL cluster of `scripts/postgres.sh`, and a schema of its own for each test, so
//! the tests run in parallel without seeing each other's states.

use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The test role's URL (`ACTUATOR_TEST_PG_URL`), the cluster started if needed.
pub fn base_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        crate::service("postgres")
            .remove("ACTUATOR_TEST_PG_URL")
            .expect("scripts/postgres.sh env gives ACTUATOR_TEST_PG_URL")
    })
}

/// A URL of `base` with a schema no other test (of this run or an earlier one) uses, plus
/// `params` (`lease_ttl=2s&…`).
pub fn url_in(base: &str, tag: &str, params: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let tag: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    let schema = format!(
        "t_{tag}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        actuator::state::now_ms() % 100_000
    );
    let sep = if base.contains('?') { '&' } else { '?' };
    let params = if params.is_empty() {
        String::new()
    } else {
        format!("&{params}")
    };
    format!("{base}{sep}schema={schema}{params}")
}

/// [`url_in`] the usual cluster.
pub fn url(tag: &str, params: &str) -> String {
    url_in(base_url(), tag, params)
}

/// The schema a URL names.
pub fn schema_of(url: &str) -> &str {
    url.split(['?', '&'])
        .find_map(|kv| kv.strip_prefix("schema="))
        .expect("a test URL names its schema")
}

/// A second cluster beside the usual one (`ACTUATOR_PG_INSTANCE=name`), for a test that stops
/// and starts its server.
pub struct Cluster {
    name: String,
    /// The script's environment at every start.
    env: Vec<(&'static str, &'static str)>,
    /// The test role's URL on it.
    pub url: String,
    /// The CA certificate its server's certificate is signed by, when it serves TLS.
    pub ca: Option<String>,
}

impl Cluster {
    /// Starts (initialising if needed) the cluster `name`.
    pub fn start(name: &str) -> Cluster {
        Cluster::start_with(name, Vec::new())
    }

    /// Starts the cluster `name` as [`start`](Self::start) does, durable (fsync and
    /// synchronous commit on, unlike the test clusters): for benchmarks that compare it with
    /// the file store, which syncs every append.
    pub fn start_durable(name: &str) -> Cluster {
        Cluster::start_with(name, vec![("ACTUATOR_PG_DURABLE", "1")])
    }

    /// Starts the cluster `name` serving TLS with a certificate of a private CA ([`ca`](Self::ca)).
    pub fn start_tls(name: &str) -> Cluster {
        Cluster::start_with(name, vec![("ACTUATOR_PG_TLS", "1")])
    }

    fn start_with(name: &str, env: Vec<(&'static str, &'static str)>) -> Cluster {
        let cluster = Cluster {
            name: name.to_owned(),
            env,
            url: String::new(),
            ca: None,
        };
        cluster.restart();
        let out = script(name, "env");
        let env = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            env.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(str::to_owned)
        };
        let mut cluster = cluster;
        cluster.url = var("ACTUATOR_TEST_PG_URL").expect("env gives the URL");
        cluster.ca = var("ACTUATOR_TEST_PG_CA");
        cluster
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop(&self) {
        let out = script(&self.name, "stop");
        assert!(
            out.status.success(),
            "postgres.sh stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it (again), with the settings it was first started with.
    pub fn restart(&self) {
        let out = command(&self.name, "start")
            .envs(self.env.iter().copied())
            .output()
            .expect("run scripts/postgres.sh");
        assert!(
            out.status.success(),
            "postgres.sh start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// [`psql`] on this cluster.
    pub fn psql(&self, sql: &str) -> String {
        psql_on(&self.name, sql)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = script(&self.name, "stop");
    }
}

fn command(instance: &str, cmd: &str) -> Command {
    let mut c = Command::new(crate::repo_root().join("scripts/postgres.sh"));
    c.arg(cmd).env("ACTUATOR_PG_INSTANCE", instance);
    c
}

fn script(instance: &str, cmd: &str) -> std::process::Output {
    command(instance, cmd)
        .output()
        .expect("run scripts/postgres.sh")
}

/// Runs `sql` as the superuser over the socket with `psql` (`-At`: unaligned, tuples only), on
/// the test database of the usual cluster; returns its output.
pub fn psql(sql: &str) -> String {
    psql_on("postgres", sql)
}

fn psql_on(instance: &str, sql: &str) -> String {
    let out = command(instance, "psql")
        .args(["-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("run scripts/postgres.sh psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
