//! The tables, and the versioned migrations that make them: applied on first use, in order,
//! each in the transaction that records it in `schema_migrations`, under an advisory lock so
//! that many runs starting at once migrate once.
//!
//! One schema holds the states of many systems and workspaces: `states` names each, and the
//! other tables key by its id.

use deadpool_postgres::Client;

/// `(version, what it does, SQL)`; `{s}` is the quoted schema name. Never edit a published
/// migration: add the next one.
pub(crate) const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "states, snapshots, journal, leases, lease_log",
    r#"
CREATE TABLE {s}.states (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    system      text NOT NULL,
    workspace   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (system, workspace)
);
-- The state folded up to last_seq (the State's own JSON, as a file store's snapshot.json).
CREATE TABLE {s}.snapshots (
    state_id    bigint PRIMARY KEY REFERENCES {s}.states (id),
    last_seq    bigint NOT NULL,
    body        json NOT NULL,
    lease_token bigint NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now()
);
-- Records after the snapshot. No foreign key: appends are the hot path, and only the store,
-- holding the state's lease, writes here.
CREATE TABLE {s}.journal (
    state_id    bigint NOT NULL,
    seq         bigint NOT NULL,
    at_ms       bigint NOT NULL,
    op          text NOT NULL,
    key         text NOT NULL,
    kind        text NOT NULL DEFAULT '',
    data        json,
    lease_token bigint NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (state_id, seq)
);
-- One row per state, kept after release: `token` (the fencing token) only ever grows.
CREATE TABLE {s}.leases (
    state_id    bigint PRIMARY KEY REFERENCES {s}.states (id),
    lease_id    text NOT NULL,
    token       bigint NOT NULL,
    holder      text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    acquired_at timestamptz NOT NULL,
    renewed_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    released_at timestamptz
);
-- Who held each state when: acquisitions, take-overs, forced unlocks, releases.
CREATE TABLE {s}.lease_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state_id    bigint NOT NULL REFERENCES {s}.states (id),
    at          timestamptz NOT NULL DEFAULT now(),
    event       text NOT NULL,
    lease_id    text NOT NULL,
    token       bigint NOT NULL,
    holder      text NOT NULL,
    host        text NOT NULL,
    pid         integer NOT NULL,
    detail      text NOT NULL DEFAULT ''
);
"#,
)];

/// The newest version this build knows.
pub(crate) fn current() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// The schema's version: 0 when it (or its migrations table) does not exist.
pub(crate) async fn version(c: &Client, schema: &str) -> Result<i32, tokio_postgres::Error> {
    let table = format!("{}.schema_migrations", quote(schema));
    let exists: bool = c
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await?
        .get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = c
        .query_one(&format!("SELECT max(version) FROM {table}"), &[])
        .await?
        .get(0);
    Ok(v.unwrap_or(0))
}

/// Brings `schema` to [`current`], creating it if needed. Refuses a schema newer than this
/// build (an older binary must not write to tables it does not know).
pub(crate) async fn migrate(c: &mut Client, schema: &str) -> Result<(), MigrateError> {
    let found = version(c, schema).await?;
    if found == current() {
        return Ok(());
    }
    if found > current() {
        return Err(MigrateError::Newer { found });
    }
    let s = quote(schema);
    let tx = c.transaction().await?;
    // One migrator at a time per schema, whichever database user: the lock key is the name.
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext('actuator-migrate:' || $1))",
        &[&schema],
    )
    .await?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.schema_migrations (
             version     integer PRIMARY KEY,
             description text NOT NULL,
             applied_at  timestamptz NOT NULL DEFAULT now()
         );"
    ))
    .await?;
    let done: Option<i32> = tx
        .query_one(
            &format!("SELECT max(version) FROM {s}.schema_migrations"),
            &[],
        )
        .await?
        .get(0);
    let done = done.unwrap_or(0);
    for (v, what, sql) in MIGRATIONS.iter().filter(|m| m.0 > done) {
        tx.batch_execute(&sql.replace("{s}", &s)).await?;
        tx.execute(
            &format!("INSERT INTO {s}.schema_migrations (version, description) VALUES ($1, $2)"),
            &[v, what],
        )
        .await?;
        tracing::info!(schema, version = v, what, "applied state schema migration");
    }
    tx.commit().await?;
    Ok(())
}

/// Why [`migrate`] failed.
#[derive(Debug)]
pub(crate) enum MigrateError {
    Db(tokio_postgres::Error),
    Newer { found: i32 },
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Db(e)
    }
}

/// `name` as a quoted identifier (names are checked to be `[a-z0-9_]` when parsed; quoting
/// keeps that a guarantee of the SQL, not of the parser).
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
