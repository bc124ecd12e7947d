//! The connection pool, the statements, and what a failure means: worth retrying (the server
//! restarts, a connection dropped) or not.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};

use crate::Settings;
use crate::schema::{self, quote};

/// A failure, worded without credentials.
#[derive(Debug)]
pub(crate) enum DbError {
    /// The server could not be reached or the connection broke: worth retrying.
    Transient(String),
    /// Anything else.
    Fatal(String),
    /// This store's lease was taken over (or force-unlocked): it may not write.
    LeaseLost(String),
    /// Another run holds the lease.
    Held(String),
}

impl DbError {
    pub(crate) fn into_state(self, location: &str) -> actuator::state::Error {
        use actuator::state::Error;
        let location = location.to_owned();
        match self {
            DbError::Transient(message) | DbError::Fatal(message) => {
                Error::Store { location, message }
            }
            DbError::LeaseLost(reason) => Error::LeaseLost { location, reason },
            DbError::Held(holder) => Error::Held { location, holder },
        }
    }
}

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        let msg = describe(&e);
        if transient(&e) {
            DbError::Transient(msg)
        } else {
            DbError::Fatal(msg)
        }
    }
}

impl From<PoolError> for DbError {
    fn from(e: PoolError) -> Self {
        match e {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(_) => {
                DbError::Transient("timed out connecting to the server".into())
            }
            other => DbError::Fatal(format!("connection pool: {other}")),
        }
    }
}

impl From<schema::MigrateError> for DbError {
    fn from(e: schema::MigrateError) -> Self {
        match e {
            schema::MigrateError::Db(e) => e.into(),
            schema::MigrateError::Newer { found } => DbError::Fatal(format!(
                "the state schema is at version {found}, newer than this build knows ({}): \
                 upgrade actuator before writing to it",
                schema::current()
            )),
        }
    }
}

/// A server's error with its SQLSTATE, or the client's with its causes. tokio-postgres words
/// neither with the password.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!(
            "{} {}: {}{}",
            db.severity(),
            db.code().code(),
            db.message(),
            db.detail().map(|d| format!(" ({d})")).unwrap_or_default()
        );
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

fn transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.as_db_error() {
        // connection_exception, operator intervention (admin/crash shutdown, cannot connect
        // now), too many connections, serialization failure, deadlock.
        Some(db) => {
            let code = db.code().code();
            code.starts_with("08")
                || code.starts_with("57P")
                || matches!(code, "53300" | "40001" | "40P01")
        }
        // Not a server's answer: the connection (refused, reset, timed out).
        None => {
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                if s.is::<std::io::Error>() {
                    return true;
                }
                source = s.source();
            }
            let m = e.to_string();
            m.contains("connection") || m.contains("timed out") || m.contains("closed")
        }
    }
}

/// Statement texts for one schema.
pub(crate) struct Sql {
    pub(crate) state_get: String,
    pub(crate) state_ensure: String,
    pub(crate) snapshot: String,
    pub(crate) journal_after: String,
    pub(crate) append: String,
    pub(crate) count_mine: String,
    pub(crate) fence: String,
    pub(crate) compact_snapshot: String,
    pub(crate) replace_snapshot: String,
    pub(crate) journal_upto: String,
    pub(crate) journal_all: String,
    pub(crate) lease_lock: String,
    pub(crate) lease_insert: String,
    pub(crate) lease_takeover: String,
    pub(crate) lease_renew: String,
    pub(crate) lease_release: String,
    pub(crate) lease_force: String,
    pub(crate) lease_info: String,
    pub(crate) lease_log: String,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        let s = quote(schema);
        let lease_cols = "lease_id, token, holder, host, pid, \
             to_char(acquired_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
             released_at IS NULL AND expires_at > clock_timestamp(), \
             extract(epoch FROM expires_at - clock_timestamp())::float8";
        Sql {
            state_get: format!("SELECT id FROM {s}.states WHERE system = $1 AND workspace = $2"),
            state_ensure: format!(
                "INSERT INTO {s}.states (system, workspace) VALUES ($1, $2) \
                 ON CONFLICT (system, workspace) DO NOTHING"
            ),
            snapshot: format!("SELECT last_seq, body::text FROM {s}.snapshots WHERE state_id = $1"),
            journal_after: format!(
                "SELECT seq, at_ms, op, key, kind, data::text FROM {s}.journal \
                 WHERE state_id = $1 AND seq > $2 ORDER BY seq"
            ),
            // One statement, so one round trip and its own transaction: the fencing check (the
            // lease row locked FOR SHARE, so a take-over waits for this append or this append
            // sees the take-over) and every record of the batch.
            append: format!(
                "WITH fence AS (SELECT 1 FROM {s}.leases WHERE state_id = $1 AND token = $2 FOR SHARE) \
                 INSERT INTO {s}.journal (state_id, seq, at_ms, op, key, kind, data, lease_token) \
                 SELECT $1, r.seq, r.at_ms, r.op, r.key, r.kind, r.data::json, $2 \
                 FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[]) \
                     AS r(seq, at_ms, op, key, kind, data) \
                 WHERE EXISTS (SELECT 1 FROM fence)"
            ),
            count_mine: format!(
                "SELECT count(*) FROM {s}.journal \
                 WHERE state_id = $1 AND seq BETWEEN $2 AND $3 AND lease_token = $4"
            ),
            fence: format!("SELECT 1 FROM {s}.leases WHERE state_id = $1 AND token = $2 FOR SHARE"),
            compact_snapshot: format!(
                "INSERT INTO {s}.snapshots AS o (state_id, last_seq, body, lease_token) \
                 VALUES ($1, $2, $3::text::json, $4) \
                 ON CONFLICT (state_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, \
                     body = EXCLUDED.body, lease_token = EXCLUDED.lease_token, written_at = now() \
                 WHERE o.last_seq < EXCLUDED.last_seq"
            ),
            replace_snapshot: format!(
                "INSERT INTO {s}.snapshots AS o (state_id, last_seq, body, lease_token) \
                 VALUES ($1, $2, $3::text::json, $4) \
                 ON CONFLICT (state_id) DO UPDATE SET last_seq = EXCLUDED.last_seq, \
                     body = EXCLUDED.body, lease_token = EXCLUDED.lease_token, written_at = now()"
            ),
            journal_upto: format!("DELETE FROM {s}.journal WHERE state_id = $1 AND seq <= $2"),
            journal_all: format!("DELETE FROM {s}.journal WHERE state_id = $1"),
            lease_lock: format!(
                "SELECT {lease_cols} FROM {s}.leases WHERE state_id = $1 FOR UPDATE"
            ),
            lease_insert: format!(
                "INSERT INTO {s}.leases (state_id, lease_id, token, holder, host, pid, \
                     acquired_at, renewed_at, expires_at) \
                 VALUES ($1, gen_random_uuid()::text, 1, $2, $3, $4, clock_timestamp(), \
                     clock_timestamp(), clock_timestamp() + $5 * interval '1 millisecond') \
                 ON CONFLICT (state_id) DO NOTHING \
                 RETURNING lease_id, token"
            ),
            lease_takeover: format!(
                "UPDATE {s}.leases SET lease_id = gen_random_uuid()::text, token = token + 1, \
                     holder = $2, host = $3, pid = $4, acquired_at = clock_timestamp(), \
                     renewed_at = clock_timestamp(), \
                     expires_at = clock_timestamp() + $5 * interval '1 millisecond', \
                     released_at = NULL \
                 WHERE state_id = $1 RETURNING lease_id, token"
            ),
            lease_renew: format!(
                "UPDATE {s}.leases SET renewed_at = clock_timestamp(), \
                     expires_at = clock_timestamp() + $3 * interval '1 millisecond' \
                 WHERE state_id = $1 AND token = $2 AND released_at IS NULL"
            ),
            lease_release: format!(
                "UPDATE {s}.leases SET released_at = clock_timestamp(), expires_at = clock_timestamp() \
                 WHERE state_id = $1 AND token = $2 AND released_at IS NULL \
                 RETURNING lease_id, holder, host, pid"
            ),
            // The token moves on at once: the forced-out holder is fenced before anyone else
            // has even taken the lease.
            lease_force: format!(
                "UPDATE {s}.leases SET released_at = clock_timestamp(), \
                     expires_at = clock_timestamp(), token = token + 1 \
                 WHERE state_id = $1 AND lease_id = $2 AND released_at IS NULL \
                 RETURNING token, holder, host, pid"
            ),
            lease_info: format!("SELECT {lease_cols} FROM {s}.leases WHERE state_id = $1"),
            lease_log: format!(
                "INSERT INTO {s}.lease_log (state_id, event, lease_id, token, holder, host, pid, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
        }
    }
}

/// One store's database: the pool, its settings and statements.
pub(crate) struct Db {
    pub(crate) pool: Pool,
    pub(crate) settings: Settings,
    pub(crate) sql: Sql,
    /// The state's location for messages: `postgres://user@host:port/db (system/workspace)`.
    pub(crate) location: String,
}

impl Db {
    /// A pool of at most two connections (the journal's and the renewals'), made on demand and
    /// re-made after the server restarts. Must be called inside the store's runtime.
    pub(crate) fn new(settings: Settings, location: String) -> Result<Arc<Db>, String> {
        let tls = crate::tls::connector(settings.root_cert.as_deref())?;
        let manager = Manager::from_config(
            settings.pg.clone(),
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let connect = settings
            .pg
            .get_connect_timeout()
            .copied()
            .unwrap_or(Duration::from_secs(10));
        let pool = Pool::builder(manager)
            .max_size(2)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(connect))
            .wait_timeout(Some(connect * 3))
            .build()
            .map_err(|e| format!("connection pool: {e}"))?;
        let sql = Sql::new(&settings.schema);
        Ok(Arc::new(Db {
            pool,
            settings,
            sql,
            location,
        }))
    }

    /// Runs `f` until it succeeds, fails for good, or connection failures have lasted longer
    /// than the URL's `retry_for`. `f` gets the attempt number (0 first).
    pub(crate) async fn retrying<T, Fut>(
        &self,
        what: &str,
        mut f: impl FnMut(u32) -> Fut,
    ) -> Result<T, DbError>
    where
        Fut: Future<Output = Result<T, DbError>>,
    {
        let deadline = Instant::now() + self.settings.retry_for;
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            match f(attempt).await {
                Err(DbError::Transient(m)) if Instant::now() + delay < deadline => {
                    tracing::warn!(location = %self.location, error = %m, attempt, "{what}: retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                    attempt += 1;
                }
                Err(DbError::Transient(m)) => {
                    return Err(DbError::Fatal(format!(
                        "{what}: {m} (retried for {:?}; the URL's retry_for sets how long)",
                        self.settings.retry_for
                    )));
                }
                Err(DbError::Fatal(m)) => return Err(DbError::Fatal(format!("{what}: {m}"))),
                other => return other,
            }
        }
    }
}
