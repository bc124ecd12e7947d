//! [`PgStore`]: the [`StateStore`] on PostgreSQL, with its lease.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use actuator::state::{Data, Error, Record, Result, State, StateStore, Target};
use deadpool_postgres::Client;
use parking_lot::Mutex;
use tokio_postgres::IsolationLevel;

use crate::Settings;
use crate::bridge::Bridge;
use crate::db::{Db, DbError, Sql};
use crate::schema;

/// A state in PostgreSQL, held under a lease for as long as the store lives.
///
/// * **Lease.** Opening takes the state's lease: a row naming the holder (user, host, pid), a
///   random lease id and an expiry, renewed in the background every third of its lifetime
///   (`lease_ttl`, 30 s). Another run finds it held and fails at once naming the holder, or
///   waits up to `lock_timeout`. A run that dies stops renewing, and the next run takes the
///   lease over once it has expired — by the database's clock, never the clients'.
///   `force-unlock LEASE_ID` frees it at once. Dropping the store releases it.
/// * **Fencing.** Each acquisition (and each forced unlock) increments the lease's token, and
///   every append and compaction checks the token inside its own transaction, with the lease
///   row locked `FOR SHARE`: once another run has taken the lease over, this store cannot
///   write another record ([`Error::LeaseLost`]) — even if it was stopped for an hour and does
///   not know yet.
/// * **Group commit.** An [`append`](StateStore::append) is one statement — the fencing check
///   and every record of the batch (`unnest` of arrays) — so one round trip and one
///   transaction per batch, however many records; the orchestrator's journal writer hands it
///   all the records that arrived together.
/// * **Durability and retries.** An append returns when its transaction has committed. A
///   lost connection (a server restart, a fail-over) is retried for `retry_for` (30 s); a
///   retry first checks whether the lost attempt committed after all, so a batch is never
///   written twice nor lost.
/// * **Compaction** writes the state as the snapshot row and deletes the journal rows it
///   covers — only those, so a record appended after the state it was made from survives —
///   in one transaction, never moving the snapshot backwards.
///
/// ```no_run
/// use actuator::state::{Journal, Target};
/// let store = actuator_postgres::PgStore::open(
///     "postgres://ci@db.internal/states?sslmode=verify-full", &Target::new("web", "prod")).unwrap();
/// println!("holding lease {}", store.lease_id());
/// let mut j = Journal::open(store).unwrap();
/// j.set_meta("note", Some("hello")).unwrap();
/// ```
pub struct PgStore {
    db: Arc<Db>,
    state_id: i64,
    lease_id: String,
    token: i64,
    /// Set by the renewals or a fenced write: why this store may no longer write.
    lost: Arc<Mutex<Option<String>>>,
    renewer: tokio::task::JoinHandle<()>,
    /// Journal rows after the snapshot.
    journal_len: usize,
    /// After a failed compaction, the journal length at which to try again.
    retry_at: usize,
    // Last: dropped after the release that uses it.
    bridge: Bridge,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.db.location)
            .field("lease_id", &self.lease_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// A state's lease as the database has it (see [`current_lease`](crate::current_lease)).
#[derive(Clone, Debug, PartialEq)]
pub struct LeaseInfo {
    /// The id `force-unlock` takes.
    pub lease_id: String,
    /// The fencing token: grows with every acquisition and forced unlock.
    pub token: i64,
    /// The user who took it.
    pub holder: String,
    /// The host it was taken on.
    pub host: String,
    /// The holder's process id.
    pub pid: i32,
    /// When it was taken (UTC, RFC 3339).
    pub acquired_at: String,
    /// Held now: neither released nor expired.
    pub live: bool,
    /// Seconds until it expires unless renewed (negative: expired that long ago).
    pub expires_in: f64,
}

impl LeaseInfo {
    fn from_row(r: &tokio_postgres::Row) -> LeaseInfo {
        LeaseInfo {
            lease_id: r.get(0),
            token: r.get(1),
            holder: r.get(2),
            host: r.get(3),
            pid: r.get(4),
            acquired_at: r.get(5),
            live: r.get(6),
            expires_in: r.get(7),
        }
    }

    fn who(&self) -> String {
        format!("{} (pid {} on {})", self.holder, self.pid, self.host)
    }

    /// What "in use" errors say.
    fn describe_held(&self) -> String {
        format!(
            "{} holds it since {} under lease {}, which expires in {:.0} s unless renewed; if \
             that run is gone, wait for the lease to expire or free it with `force-unlock {}`",
            self.who(),
            self.acquired_at,
            self.lease_id,
            self.expires_in.max(0.0),
            self.lease_id
        )
    }
}

/// Who this process is, for the lease row.
struct Me {
    holder: String,
    host: String,
    pid: i32,
}

fn me() -> Me {
    let holder = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Me {
        holder,
        host,
        pid: std::process::id() as i32,
    }
}

/// `(settings, location, runtime, database)` for `url` and `target`.
fn connect(url: &str, target: &Target) -> Result<(Arc<Db>, Bridge, String)> {
    let settings = Settings::parse(url).map_err(|message| Error::Store {
        location: actuator::state::location::redact(url),
        message,
    })?;
    let location = format!("{settings} ({}/{})", target.system, target.workspace);
    let store_err = |message: String| Error::Store {
        location: location.clone(),
        message,
    };
    let bridge = Bridge::new().map_err(store_err)?;
    let db = {
        let _in = bridge.handle().enter();
        Db::new(settings, location.clone()).map_err(store_err)?
    };
    Ok((db, bridge, location))
}

/// Schemas this process has brought up to date already.
static MIGRATED: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Default::default);

/// Migrates the schema if this process has not yet.
async fn prepare(db: &Db) -> std::result::Result<(), DbError> {
    let key = format!("{}|{}", db.settings, db.settings.schema);
    if MIGRATED.lock().contains(&key) {
        return Ok(());
    }
    db.retrying("migrate the state schema", |_| async {
        let mut c = db.pool.get().await?;
        schema::migrate(&mut c, &db.settings.schema).await?;
        Ok(())
    })
    .await?;
    MIGRATED.lock().insert(key);
    Ok(())
}

impl PgStore {
    /// Opens the state `target` at `url`, migrating the schema on first use, and takes its
    /// lease (waiting up to the URL's `lock_timeout` when another run holds it).
    pub fn open(url: &str, target: &Target) -> Result<PgStore> {
        let (db, bridge, location) = connect(url, target)?;
        let opened = bridge.run({
            let (db, target) = (db.clone(), target.clone());
            async move {
                prepare(&db).await?;
                let state_id = db
                    .retrying("register the state", |_| ensure_state(&db, &target))
                    .await?;
                let (lease_id, token) = acquire(&db, state_id).await?;
                Ok::<_, DbError>((state_id, lease_id, token))
            }
        });
        let (state_id, lease_id, token) = opened.map_err(|e| e.into_state(&location))?;
        let lost = Arc::new(Mutex::new(None));
        let renewer = bridge
            .handle()
            .spawn(renew(db.clone(), state_id, token, lost.clone()));
        tracing::debug!(%location, %lease_id, token, "took the state's lease");
        Ok(PgStore {
            db,
            state_id,
            lease_id,
            token,
            lost,
            renewer,
            journal_len: 0,
            retry_at: 0,
            bridge,
        })
    }

    /// Reads the state `target` at `url` without a lease: one consistent snapshot of it (a
    /// repeatable-read transaction), while another run may be writing. A state never written
    /// reads as empty.
    pub fn read(url: &str, target: &Target) -> Result<State> {
        let (db, bridge, location) = connect(url, target)?;
        let target = target.clone();
        let read = bridge.run(async move {
            prepare(&db).await?;
            db.retrying("read the state", |_| async {
                let mut c = db.pool.get().await?;
                let Some(id) = state_id(&c, &db.sql, &target).await? else {
                    return Ok(State::new());
                };
                read_state(&mut c, &db.sql, id).await.map(|(s, _)| s)
            })
            .await
        });
        read.map_err(|e| e.into_state(&location))
    }

    /// The id of the lease this store holds (what `force-unlock` would take).
    pub fn lease_id(&self) -> &str {
        &self.lease_id
    }

    /// The fencing token of this store's lease.
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The state's location, as messages show it (no password).
    pub fn location(&self) -> &str {
        &self.db.location
    }

    fn check_lease(&self) -> Result<()> {
        match &*self.lost.lock() {
            Some(reason) => Err(Error::LeaseLost {
                location: self.db.location.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn fail(&self, e: DbError) -> Error {
        if let DbError::LeaseLost(why) = &e {
            *self.lost.lock() = Some(why.clone());
        }
        e.into_state(&self.db.location)
    }

    fn write_snapshot(&mut self, state: &State, replace: bool) -> Result<()> {
        self.check_lease()?;
        let body = Arc::new(serde_json::to_string(state).expect("a State always serializes"));
        let (db, id, token) = (self.db.clone(), self.state_id, self.token);
        let last = state.last_seq() as i64;
        let done = self.bridge.run(async move {
            let what = if replace {
                "replace the state"
            } else {
                "compact the journal"
            };
            db.retrying(what, |_| {
                snapshot_once(&db, id, token, last, &body, replace)
            })
            .await
        });
        done.map_err(|e| self.fail(e))?;
        self.journal_len = 0;
        Ok(())
    }
}

impl StateStore for PgStore {
    fn load(&mut self) -> Result<State> {
        let (db, id) = (self.db.clone(), self.state_id);
        let read = self.bridge.run(async move {
            db.retrying("read the state", |_| async {
                let mut c = db.pool.get().await?;
                read_state(&mut c, &db.sql, id).await
            })
            .await
        });
        let (state, journal_len) = read.map_err(|e| self.fail(e))?;
        self.journal_len = journal_len;
        Ok(state)
    }

    fn append(&mut self, records: &[Record]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.check_lease()?;
        let batch = Batch::new(records);
        let (db, id, token) = (self.db.clone(), self.state_id, self.token);
        let done = self.bridge.run(async move {
            db.retrying("append to the journal", |attempt| {
                append_once(&db, id, token, &batch, attempt)
            })
            .await
        });
        done.map_err(|e| self.fail(e))?;
        self.journal_len += records.len();
        Ok(())
    }

    fn compact(&mut self, state: &State) -> Result<()> {
        let r = self.write_snapshot(state, false);
        if r.is_err() {
            self.retry_at = self.journal_len + self.db.settings.compact_after.max(state.len());
        } else {
            self.retry_at = 0;
        }
        r
    }

    fn replace(&mut self, state: &State) -> Result<()> {
        self.write_snapshot(state, true)
    }

    fn wants_compaction(&self, state: &State) -> bool {
        self.lost.lock().is_none()
            && self.journal_len
                >= self
                    .db
                    .settings
                    .compact_after
                    .max(state.len())
                    .max(self.retry_at)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.renewer.abort();
        if self.lost.lock().is_some() {
            return;
        }
        let (db, id, token) = (self.db.clone(), self.state_id, self.token);
        // Best effort: a lease not released expires by itself.
        let released = self
            .bridge
            .run_for(Some(Duration::from_secs(5)), async move {
                release(&db, id, token).await
            });
        if !matches!(released, Some(Ok(()))) {
            tracing::warn!(location = %self.db.location, lease_id = %self.lease_id,
                "could not release the state's lease; it expires by itself");
        }
    }
}

/// The columns of one append, as arrays for `unnest`.
struct Batch {
    n: i64,
    first: i64,
    last: i64,
    seq: Vec<i64>,
    at_ms: Vec<i64>,
    op: Vec<&'static str>,
    key: Vec<String>,
    kind: Vec<String>,
    data: Vec<Option<String>>,
}

impl Batch {
    fn new(records: &[Record]) -> Batch {
        Batch {
            n: records.len() as i64,
            first: records[0].seq as i64,
            last: records[records.len() - 1].seq as i64,
            seq: records.iter().map(|r| r.seq as i64).collect(),
            at_ms: records.iter().map(|r| r.at_ms as i64).collect(),
            op: records.iter().map(|r| r.op.as_str()).collect(),
            key: records.iter().map(|r| r.key.to_string()).collect(),
            kind: records.iter().map(|r| r.kind.to_string()).collect(),
            data: records
                .iter()
                .map(|r| (!r.data.is_null()).then(|| r.data.text().to_owned()))
                .collect(),
        }
    }
}

async fn append_once(
    db: &Db,
    id: i64,
    token: i64,
    b: &Batch,
    attempt: u32,
) -> std::result::Result<(), DbError> {
    let c = db.pool.get().await?;
    if attempt > 0 {
        // The previous attempt may have committed before its answer was lost.
        let have: i64 = c
            .query_one(&db.sql.count_mine, &[&id, &b.first, &b.last, &token])
            .await?
            .get(0);
        if have == b.n {
            return Ok(());
        }
        if have != 0 {
            return Err(DbError::Fatal(format!(
                "{have} of the {} records {}..={} are in the journal after a lost connection",
                b.n, b.first, b.last
            )));
        }
    }
    let stmt = c.prepare_cached(&db.sql.append).await?;
    let inserted = c
        .execute(
            &stmt,
            &[
                &id, &token, &b.seq, &b.at_ms, &b.op, &b.key, &b.kind, &b.data,
            ],
        )
        .await?;
    if inserted as i64 == b.n {
        return Ok(());
    }
    Err(DbError::LeaseLost(now_held(&c, &db.sql, id).await))
}

/// Who holds the lease now, for a fenced writer's error.
async fn now_held(c: &Client, sql: &Sql, id: i64) -> String {
    match c.query_opt(&sql.lease_info, &[&id]).await {
        Ok(Some(r)) => {
            let l = LeaseInfo::from_row(&r);
            if l.live {
                format!(
                    "{} has held it since {} (lease {})",
                    l.who(),
                    l.acquired_at,
                    l.lease_id
                )
            } else {
                format!(
                    "it was taken from this run (the lease is now token {})",
                    l.token
                )
            }
        }
        _ => "it was taken from this run".into(),
    }
}

async fn snapshot_once(
    db: &Db,
    id: i64,
    token: i64,
    last: i64,
    body: &str,
    replace: bool,
) -> std::result::Result<(), DbError> {
    let mut c = db.pool.get().await?;
    let tx = c.transaction().await?;
    if tx.query_opt(&db.sql.fence, &[&id, &token]).await?.is_none() {
        drop(tx);
        return Err(DbError::LeaseLost(now_held(&c, &db.sql, id).await));
    }
    if replace {
        tx.execute(&db.sql.replace_snapshot, &[&id, &last, &body, &token])
            .await?;
        tx.execute(&db.sql.journal_all, &[&id]).await?;
    } else {
        tx.execute(&db.sql.compact_snapshot, &[&id, &last, &body, &token])
            .await?;
        // Only what the snapshot covers: a record appended after `state` was taken stays.
        tx.execute(&db.sql.journal_upto, &[&id, &last]).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn state_id(
    c: &Client,
    sql: &Sql,
    target: &Target,
) -> std::result::Result<Option<i64>, DbError> {
    Ok(
        c.query_opt(&sql.state_get, &[&target.system, &target.workspace])
            .await?
            .map(|r| r.get(0)),
    )
}

async fn ensure_state(db: &Db, target: &Target) -> std::result::Result<i64, DbError> {
    let c = db.pool.get().await?;
    if let Some(id) = state_id(&c, &db.sql, target).await? {
        return Ok(id);
    }
    c.execute(&db.sql.state_ensure, &[&target.system, &target.workspace])
        .await?;
    state_id(&c, &db.sql, target)
        .await?
        .ok_or_else(|| DbError::Fatal("the state row vanished after its creation".into()))
}

/// The snapshot and the journal after it, in one repeatable-read transaction; with the
/// number of journal rows.
async fn read_state(
    c: &mut Client,
    sql: &Sql,
    id: i64,
) -> std::result::Result<(State, usize), DbError> {
    let tx = c
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?;
    let mut state = match tx.query_opt(&sql.snapshot, &[&id]).await? {
        Some(r) => {
            let body: String = r.get(1);
            serde_json::from_str::<State>(&body)
                .map_err(|e| DbError::Fatal(format!("unreadable snapshot: {e}")))?
        }
        None => State::new(),
    };
    let rows = tx
        .query(&sql.journal_after, &[&id, &(state.last_seq() as i64)])
        .await?;
    tx.commit().await?;
    for row in &rows {
        let rec = record_of(row)?;
        if rec.seq != state.last_seq() + 1 {
            return Err(DbError::Fatal(format!(
                "journal record {} follows record {}: records are missing — refusing to read a \
                 state with a hole in it",
                rec.seq,
                state.last_seq()
            )));
        }
        state.apply(&rec);
    }
    Ok((state, rows.len()))
}

fn record_of(row: &tokio_postgres::Row) -> std::result::Result<Record, DbError> {
    let seq: i64 = row.get(0);
    let op: String = row.get(2);
    let data: Option<String> = row.get(5);
    let bad = |what: String| DbError::Fatal(format!("journal record {seq}: {what}"));
    Ok(Record {
        seq: seq as u64,
        at_ms: row.get::<_, i64>(1) as u64,
        op: serde_json::from_value(serde_json::Value::String(op.clone()))
            .map_err(|_| bad(format!("unknown op `{op}`")))?,
        key: row.get::<_, &str>(3).into(),
        kind: row.get::<_, &str>(4).into(),
        data: match data {
            Some(d) => serde_json::from_str(&d).map_err(|e| bad(e.to_string()))?,
            None => Data::null(),
        },
    })
}

/// Takes the lease, waiting up to `lock_timeout` while another run holds it.
async fn acquire(db: &Db, id: i64) -> std::result::Result<(String, i64), DbError> {
    let me = me();
    let deadline = Instant::now() + db.settings.lock_timeout;
    let mut announced = false;
    loop {
        let held = match db
            .retrying("take the state's lease", |_| try_acquire(db, id, &me))
            .await?
        {
            Ok(lease) => return Ok(lease),
            Err(held) => held,
        };
        let now = Instant::now();
        if now >= deadline {
            return Err(DbError::Held(held.describe_held()));
        }
        if !announced {
            tracing::warn!(location = %db.location, holder = %held.who(), lease_id = %held.lease_id,
                "the state is in use; waiting for its lease");
            announced = true;
        }
        tokio::time::sleep((deadline - now).min(Duration::from_millis(250))).await;
    }
}

/// One try: the lease if it is free (never taken, released, or expired), else who holds it.
async fn try_acquire(
    db: &Db,
    id: i64,
    me: &Me,
) -> std::result::Result<std::result::Result<(String, i64), LeaseInfo>, DbError> {
    let ttl_ms = db.settings.lease_ttl.as_millis() as f64;
    let mut c = db.pool.get().await?;
    let tx = c.transaction().await?;
    let current = tx
        .query_opt(&db.sql.lease_lock, &[&id])
        .await?
        .map(|r| LeaseInfo::from_row(&r));
    let who = [
        &me.holder as &(dyn tokio_postgres::types::ToSql + Sync),
        &me.host,
        &me.pid,
    ];
    let (row, event, detail) = match current {
        Some(cur) if cur.live => return Ok(Err(cur)),
        Some(cur) => {
            let row = tx
                .query_one(
                    &db.sql.lease_takeover,
                    &[&id, who[0], who[1], who[2], &ttl_ms],
                )
                .await?;
            let detail = if cur.expires_in < 0.0 && !cur.lease_id.is_empty() {
                format!(
                    "after lease {} of {} (token {}) ended {:.0} s ago",
                    cur.lease_id,
                    cur.who(),
                    cur.token,
                    -cur.expires_in
                )
            } else {
                String::new()
            };
            (row, "acquired", detail)
        }
        None => match tx
            .query_opt(
                &db.sql.lease_insert,
                &[&id, who[0], who[1], who[2], &ttl_ms],
            )
            .await?
        {
            Some(row) => (row, "acquired", String::new()),
            // Another run took it first, between our look and our insert.
            None => {
                let cur = tx.query_one(&db.sql.lease_info, &[&id]).await?;
                return Ok(Err(LeaseInfo::from_row(&cur)));
            }
        },
    };
    let (lease_id, token): (String, i64) = (row.get(0), row.get(1));
    tx.execute(
        &db.sql.lease_log,
        &[
            &id, &event, &lease_id, &token, who[0], who[1], who[2], &detail,
        ],
    )
    .await?;
    tx.commit().await?;
    Ok(Ok((lease_id, token)))
}

/// Renews the lease every third of its lifetime until it is lost (then says why in `lost`).
async fn renew(db: Arc<Db>, id: i64, token: i64, lost: Arc<Mutex<Option<String>>>) {
    let ttl = db.settings.lease_ttl;
    let ttl_ms = ttl.as_millis() as f64;
    let mut last_ok = Instant::now();
    loop {
        tokio::time::sleep(ttl / 3).await;
        let renewed = async {
            let c = db.pool.get().await?;
            let n = c
                .execute(&db.sql.lease_renew, &[&id, &token, &ttl_ms])
                .await?;
            if n == 1 {
                Ok(())
            } else {
                Err(DbError::LeaseLost(now_held(&c, &db.sql, id).await))
            }
        }
        .await;
        match renewed {
            Ok(()) => last_ok = Instant::now(),
            Err(DbError::LeaseLost(why)) => {
                tracing::error!(location = %db.location, reason = %why,
                    "lost the state's lease: this run writes nothing more");
                *lost.lock() = Some(why);
                return;
            }
            Err(e) => {
                let late = last_ok.elapsed() > ttl;
                tracing::warn!(location = %db.location, error = ?e, expired = late,
                    "could not renew the state's lease; trying again");
            }
        }
    }
}

async fn release(db: &Db, id: i64, token: i64) -> std::result::Result<(), DbError> {
    let mut c = db.pool.get().await?;
    let tx = c.transaction().await?;
    if let Some(r) = tx.query_opt(&db.sql.lease_release, &[&id, &token]).await? {
        let (lease_id, holder, host, pid): (String, String, String, i32) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        tx.execute(
            &db.sql.lease_log,
            &[
                &id,
                &"released",
                &lease_id,
                &token,
                &holder,
                &host,
                &pid,
                &"",
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Frees the lease `lease_id` of the state `target` at `url`, whoever holds it, and moves its
/// fencing token on, so that its holder — if it still runs — cannot write another record.
pub fn force_unlock(url: &str, target: &Target, lease_id: &str) -> Result<String> {
    let (db, bridge, location) = connect(url, target)?;
    let (target, lease_id) = (target.clone(), lease_id.to_owned());
    let freed = bridge.run(async move {
        prepare(&db).await?;
        let me = me();
        let mut c = db.pool.get().await?;
        let Some(id) = state_id(&c, &db.sql, &target).await? else {
            return Err(DbError::Fatal("no such state".into()));
        };
        let tx = c.transaction().await?;
        let Some(r) = tx.query_opt(&db.sql.lease_force, &[&id, &lease_id]).await? else {
            let now = tx.query_opt(&db.sql.lease_info, &[&id]).await?;
            let now = match now.map(|r| LeaseInfo::from_row(&r)) {
                Some(l) if l.live => format!("the lease now is {} of {}", l.lease_id, l.who()),
                _ => "nobody holds the state now".into(),
            };
            return Err(DbError::Fatal(format!(
                "no lease `{lease_id}` holds this state ({now})"
            )));
        };
        let (token, holder, host, pid): (i64, String, String, i32) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let detail = format!("by {} (pid {} on {})", me.holder, me.pid, me.host);
        tx.execute(
            &db.sql.lease_log,
            &[
                &id,
                &"force-unlocked",
                &lease_id,
                &token,
                &holder,
                &host,
                &pid,
                &detail,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(format!(
            "freed lease {lease_id} of {holder} (pid {pid} on {host}); if that run still goes \
             on, it cannot write to the state any more"
        ))
    });
    freed.map_err(|e| e.into_state(&location))
}

/// The lease of the state `target` at `url`, if it ever had one.
pub fn current_lease(url: &str, target: &Target) -> Result<Option<LeaseInfo>> {
    let (db, bridge, location) = connect(url, target)?;
    let target = target.clone();
    let info = bridge.run(async move {
        prepare(&db).await?;
        let c = db.pool.get().await?;
        let Some(id) = state_id(&c, &db.sql, &target).await? else {
            return Ok(None);
        };
        Ok::<_, DbError>(
            c.query_opt(&db.sql.lease_info, &[&id])
                .await?
                .map(|r| LeaseInfo::from_row(&r)),
        )
    });
    info.map_err(|e| e.into_state(&location))
}
