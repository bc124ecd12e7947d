//! What a `postgres://` state URL says, completed from the `PG*` environment variables and the
//! password file the way libpq completes it, plus the store's own parameters.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::{Host, SslMode};

/// Schema the tables live in unless the URL says `schema=`.
pub const DEFAULT_SCHEMA: &str = "actuator";
/// Lease lifetime unless the URL says `lease_ttl=`: a run that dies frees the state this long
/// after its last renewal (renewals come every third of it).
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);
/// How long a write retries through a lost connection (a server restart, a fail-over) unless the
/// URL says `retry_for=`.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(30);
/// Journal records between snapshots at least (as [`actuator::state::FileStore`]).
pub const DEFAULT_COMPACT_AFTER: usize = 1000;

/// A parsed state URL. Its `Debug` and `Display` never show the password.
#[derive(Clone)]
pub struct Settings {
    pub(crate) pg: tokio_postgres::Config,
    pub(crate) schema: String,
    pub(crate) lease_ttl: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) retry_for: Duration,
    pub(crate) compact_after: usize,
    pub(crate) root_cert: Option<PathBuf>,
    /// Whether TLS was asked for with certificate checks spelled out (verify-ca, verify-full):
    /// only informative, the checks are always made.
    pub(crate) tls: SslMode,
}

impl Settings {
    /// Parses `url` (`postgres://` or `postgresql://`), filling what it leaves out from the
    /// process environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
    /// `PGSSLMODE`, `PGSSLROOTCERT`, `PGPASSFILE`, `PGCONNECT_TIMEOUT`) and the password file.
    ///
    /// ```
    /// let s = actuator_postgres::Settings::parse("postgres://ci:pw@db.internal:6432/states?schema=team_a&lease_ttl=10s").unwrap();
    /// assert_eq!(s.to_string(), "postgres://ci@db.internal:6432/states?schema=team_a");
    /// assert!(!format!("{s:?}").contains("pw"));
    /// ```
    pub fn parse(url: &str) -> Result<Settings, String> {
        Settings::parse_with(url, &|k| std::env::var(k).ok())
    }

    /// [`parse`](Self::parse) with `env` instead of the process environment.
    ///
    /// ```
    /// let env = |k: &str| (k == "PGUSER").then(|| "alice".to_string());
    /// let s = actuator_postgres::Settings::parse_with("postgres://db/states", &env).unwrap();
    /// assert_eq!(s.to_string(), "postgres://alice@db:5432/states");
    /// ```
    pub fn parse_with(url: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, String> {
        let shown = actuator::state::location::redact(url);
        let bad = |what: String| format!("state URL {shown}: {what}");
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            return Err(bad("not a postgres:// URL".into()));
        }
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut s = Settings {
            pg: tokio_postgres::Config::new(),
            schema: DEFAULT_SCHEMA.into(),
            lease_ttl: DEFAULT_LEASE_TTL,
            lock_timeout: Duration::ZERO,
            retry_for: DEFAULT_RETRY_FOR,
            compact_after: DEFAULT_COMPACT_AFTER,
            root_cert: None,
            tls: SslMode::Prefer,
        };
        let mut passfile = env("PGPASSFILE").map(PathBuf::from);
        let mut sslmode = env("PGSSLMODE");
        let mut rest = Vec::new();
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = percent_decode(v);
            match k {
                "schema" => s.schema = v,
                "lease_ttl" => s.lease_ttl = duration(k, &v).map_err(&bad)?,
                "lock_timeout" => s.lock_timeout = duration(k, &v).map_err(&bad)?,
                "retry_for" => s.retry_for = duration(k, &v).map_err(&bad)?,
                "compact_after" => {
                    s.compact_after = v
                        .parse()
                        .map_err(|_| bad(format!("compact_after `{v}` is not a number")))?
                }
                "sslrootcert" => s.root_cert = Some(PathBuf::from(v)),
                "passfile" => passfile = Some(PathBuf::from(v)),
                "sslmode" => sslmode = Some(v),
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" => {
                    return Err(bad(format!(
                        "`{k}` (client certificates) is not supported; authenticate with a \
                         password (URL, PGPASSWORD or the password file)"
                    )));
                }
                _ => rest.push(kv),
            }
        }
        if !valid_identifier(&s.schema) {
            return Err(bad(format!(
                "schema `{}`: use lower-case letters, digits and `_` (at most 63, not starting \
                 with a digit)",
                s.schema
            )));
        }
        if s.lease_ttl < Duration::from_secs(1) {
            return Err(bad("lease_ttl must be at least 1s".into()));
        }
        // The rest is libpq's own vocabulary, which tokio-postgres parses (and percent-decodes).
        let libpq = if rest.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", rest.join("&"))
        };
        let mut pg = tokio_postgres::Config::from_str(&libpq)
            // Its messages quote option names, never values.
            .map_err(|e| bad(e.to_string()))?;
        if pg.get_hosts().is_empty() {
            match env("PGHOST") {
                Some(h) => {
                    for h in h.split(',') {
                        pg.host(h);
                    }
                }
                None if Path::new("/var/run/postgresql").is_dir() => {
                    pg.host_path("/var/run/postgresql");
                }
                None => {
                    pg.host("localhost");
                }
            }
        }
        if pg.get_ports().is_empty()
            && let Some(p) = env("PGPORT")
        {
            pg.port(
                p.parse()
                    .map_err(|_| bad(format!("PGPORT `{p}` is not a port")))?,
            );
        }
        if pg.get_user().is_none() {
            match env("PGUSER").or_else(|| env("USER")) {
                Some(u) => pg.user(&u),
                None => return Err(bad("no user: give one in the URL or PGUSER".into())),
            };
        }
        if pg.get_dbname().is_none() {
            let db = env("PGDATABASE").unwrap_or_else(|| pg.get_user().unwrap_or("").to_owned());
            pg.dbname(&db);
        }
        if pg.get_connect_timeout().is_none() {
            let secs = env("PGCONNECT_TIMEOUT")
                .and_then(|t| t.parse().ok())
                .unwrap_or(10);
            pg.connect_timeout(Duration::from_secs(secs));
        }
        if pg.get_application_name().is_none() {
            pg.application_name("actuator");
        }
        if s.root_cert.is_none() {
            s.root_cert = env("PGSSLROOTCERT").map(PathBuf::from);
        }
        s.tls = match sslmode.as_deref() {
            None | Some("prefer") => SslMode::Prefer,
            Some("disable") => SslMode::Disable,
            Some("allow") => SslMode::Prefer,
            Some("require" | "verify-ca" | "verify-full") => SslMode::Require,
            Some(other) => {
                return Err(bad(format!(
                    "sslmode `{other}` is not one of disable, allow, prefer, require, verify-ca, verify-full"
                )));
            }
        };
        pg.ssl_mode(s.tls);
        pg.keepalives(true);
        pg.keepalives_idle(Duration::from_secs(30));
        if pg.get_password().is_none() {
            if let Some(p) = env("PGPASSWORD") {
                pg.password(p);
            } else {
                let file = passfile.or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")));
                if let Some(p) = file.and_then(|f| passfile_lookup(&f, &pg)) {
                    pg.password(p);
                }
            }
        }
        s.pg = pg;
        Ok(s)
    }

    /// The schema the tables live in.
    ///
    /// ```
    /// let s = actuator_postgres::Settings::parse("postgres://u@h/d").unwrap();
    /// assert_eq!(s.schema(), "actuator");
    /// ```
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The lease lifetime.
    ///
    /// ```
    /// let s = actuator_postgres::Settings::parse("postgres://u@h/d?lease_ttl=2.5").unwrap();
    /// assert_eq!(s.lease_ttl(), std::time::Duration::from_millis(2500));
    /// ```
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }
}

/// `postgres://user@host:port/db[?schema=…]`, never with the password.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = self.pg.get_ports().get(i).or(self.pg.get_ports().first());
                let port = port.copied().unwrap_or(5432);
                match h {
                    Host::Tcp(n) => format!("{n}:{port}"),
                    Host::Unix(p) => format!("[{}]:{port}", p.display()),
                }
            })
            .collect();
        write!(
            f,
            "postgres://{}@{}/{}",
            self.pg.get_user().unwrap_or(""),
            hosts.join(","),
            self.pg.get_dbname().unwrap_or("")
        )?;
        if self.schema != DEFAULT_SCHEMA {
            write!(f, "?schema={}", self.schema)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("location", &self.to_string())
            .field("password", &self.pg.get_password().map(|_| "***"))
            .field("lease_ttl", &self.lease_ttl)
            .field("lock_timeout", &self.lock_timeout)
            .field("retry_for", &self.retry_for)
            .field("tls", &self.tls)
            .finish()
    }
}

/// `30`, `30s`, `2.5`, `500ms`, `2m`.
fn duration(name: &str, v: &str) -> Result<Duration, String> {
    let (num, unit) = match v.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => v.split_at(i),
        None => (v, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{name} `{v}` is not a duration (30, 30s, 500ms, 2m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{name} `{v}`: unit must be ms, s or m")),
    };
    if !(0.0..=86_400.0).contains(&secs) {
        return Err(format!("{name} `{v}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The password for `pg`'s first host, port, database and user in a libpq password file
/// (`host:port:database:user:password`, `*` matching anything, `\:` and `\\` escaped). Like
/// libpq, a file that others can read is ignored, with a warning.
fn passfile_lookup(file: &Path, pg: &tokio_postgres::Config) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %file.display(),
            "password file is readable by others (chmod 0600 it); ignored"
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let host = match pg.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        Host::Unix(_) => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432).to_string();
    let want = [
        host.as_str(),
        port.as_str(),
        pg.get_dbname().unwrap_or(""),
        pg.get_user().unwrap_or(""),
    ];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .find_map(|line| {
            let fields = split_passfile_line(line);
            if fields.len() != 5 {
                return None;
            }
            let matches = fields[..4]
                .iter()
                .zip(want)
                .all(|(f, w)| f == "*" || f == w);
            matches.then(|| fields[4].clone())
        })
}

fn split_passfile_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().expect("one field").push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_url_wins_over_the_environment_which_fills_the_gaps() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGPASSWORD", "envpw"),
            ("PGDATABASE", "envdb"),
        ]);
        let s = Settings::parse_with("postgres://urluser:urlpw@urlhost:7000/urldb", &e).unwrap();
        assert_eq!(s.pg.get_user(), Some("urluser"));
        assert_eq!(s.pg.get_password(), Some(&b"urlpw"[..]));
        assert_eq!(s.to_string(), "postgres://urluser@urlhost:7000/urldb");
        let s = Settings::parse_with("postgres://", &e).unwrap();
        assert_eq!(s.pg.get_password(), Some(&b"envpw"[..]));
        assert_eq!(s.to_string(), "postgres://envuser@envhost:6000/envdb");
        let s = Settings::parse_with("postgresql:///only_db", &e).unwrap();
        assert_eq!(s.to_string(), "postgres://envuser@envhost:6000/only_db");
    }

    #[test]
    fn the_password_file_is_read_when_nothing_else_gives_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("pgpass");
        std::fs::write(
            &f,
            "# comment\nother:*:*:*:nope\ndb:5432:states:ci:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let url = format!("postgres://ci@db/states?passfile={}", f.display());
        let s = Settings::parse_with(&url, &env(&[])).unwrap();
        assert_eq!(s.pg.get_password(), Some(&b"pa:ss"[..]));
        let s = Settings::parse_with(
            "postgres://x@elsewhere/y",
            &env(&[("PGPASSFILE", f.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(s.pg.get_password(), Some(&b"fallback"[..]));
        // Readable by others: ignored, as libpq does.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = Settings::parse_with(&url, &env(&[])).unwrap();
        assert_eq!(s.pg.get_password(), None);
    }

    #[test]
    fn store_parameters_are_parsed_and_bad_values_named_without_the_password() {
        let s = Settings::parse_with(
            "postgres://u:secretpw@h/d?schema=team_a&lease_ttl=1500ms&lock_timeout=2m&retry_for=0&compact_after=50&sslmode=require&application_name=ci",
            &env(&[]),
        )
        .unwrap();
        assert_eq!(s.schema, "team_a");
        assert_eq!(s.lease_ttl, Duration::from_millis(1500));
        assert_eq!(s.lock_timeout, Duration::from_secs(120));
        assert_eq!(s.retry_for, Duration::ZERO);
        assert_eq!(s.compact_after, 50);
        assert_eq!(s.tls, SslMode::Require);
        assert_eq!(s.pg.get_application_name(), Some("ci"));
        for (url, says) in [
            (
                "postgres://u:secretpw@h/d?schema=Bad-Name",
                "schema `Bad-Name`",
            ),
            (
                "postgres://u:secretpw@h/d?lease_ttl=soon",
                "lease_ttl `soon`",
            ),
            ("postgres://u:secretpw@h/d?sslmode=maybe", "sslmode `maybe`"),
            (
                "postgres://u:secretpw@h/d?sslcert=/c.pem",
                "client certificates",
            ),
            ("postgres://u:secretpw@h/d?nonsense=1", "nonsense"),
            ("mysql://u:secretpw@h/d", "not a postgres"),
        ] {
            let err = Settings::parse_with(url, &env(&[])).unwrap_err();
            assert!(err.contains(says), "{err}");
            assert!(!err.contains("secretpw"), "{err}");
        }
    }

    #[test]
    fn debug_and_display_never_show_the_password() {
        let s = Settings::parse_with("postgres://u:hunter2@h/d", &env(&[])).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!s.to_string().contains("hunter2"));
        let s =
            Settings::parse_with("postgres://u@h/d", &env(&[("PGPASSWORD", "hunter3")])).unwrap();
        assert!(!format!("{s:?}").contains("hunter3"));
    }
}
