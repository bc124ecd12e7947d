//! # A PostgreSQL state store for Actuator
//!
//! One state that every run sees — from laptops and CI runners alike — with a lease that names
//! its holder and frees itself when the holder dies, and writes fenced so that a run whose
//! lease was taken over can never write again. It implements the core's
//! [`actuator::state::StateStore`] (see [`PgStore`]), so everything above the store —
//! the journal's intent-before-each-cloud-call, group commit, `plan`, `status`, `down` from the
//! state alone — works unchanged.
//!
//! A model binary turns it on with one line; `--state postgres://…` (or `ACTUATOR_STATE_URL`)
//! and [`ActuatorOrchestration::state_url`](actuator::orchestrate::ActuatorOrchestration::state_url)
//! then reach it:
//!
//! ```no_run
//! use actuator::orchestrate::ActuatorOrchestration;
//! fn main() -> std::process::ExitCode {
//!     actuator_postgres::register();
//!     actuator::cli::main(|| ActuatorOrchestration::new("my-system"))
//! }
//! ```
//!
//! ## The URL
//!
//! `postgres://[user[:password]@][host][:port][/database][?param=value&…]`, as libpq takes it
//! (`postgresql://` too). What it leaves out comes from `PGHOST`, `PGPORT`, `PGUSER`,
//! `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, `PGCONNECT_TIMEOUT` and the
//! password file (`passfile=`, `PGPASSFILE`, `~/.pgpass`; ignored unless mode 0600). The
//! password is never logged, never in an event, an error or `Debug` output.
//!
//! | parameter | default | meaning |
//! |---|---|---|
//! | `schema` | `actuator` | where the tables live; one schema holds many systems and workspaces |
//! | `lease_ttl` | `30s` | a dead holder's lease expires this long after its last renewal |
//! | `lock_timeout` | `0` | how long to wait for a lease another run holds (0: fail at once, naming it) |
//! | `retry_for` | `30s` | how long a write retries through lost connections (server restart) |
//! | `compact_after` | `1000` | journal rows before the state is folded into its snapshot row |
//! | `sslmode` | `prefer` | `disable`, `prefer`, `require`, `verify-ca`, `verify-full` |
//! | `sslrootcert` | system roots | PEM file of the CA(s) to trust |
//!
//! TLS is rustls. Certificates are always verified, host name included, whatever `sslmode`
//! says once TLS is on (`require` checks as much as `verify-full`): trust a private CA with
//! `sslrootcert`.

mod bridge;
mod db;
mod schema;
mod settings;
mod store;
mod tls;

use std::sync::Arc;

use actuator::state::{Result, State, StateStore, StoreOpener, Target};

pub use settings::{
    DEFAULT_COMPACT_AFTER, DEFAULT_LEASE_TTL, DEFAULT_RETRY_FOR, DEFAULT_SCHEMA, Settings,
};
pub use store::{LeaseInfo, PgStore, current_lease, force_unlock};

/// The newest schema version this build knows (the `schema_migrations` table records which
/// the database is at).
///
/// ```
/// assert!(actuator_postgres::schema_version() >= 1);
/// ```
pub fn schema_version() -> i32 {
    schema::current()
}

/// Opens `postgres://` and `postgresql://` state URLs (see [`register`]).
#[derive(Debug, Default, Clone, Copy)]
pub struct PgOpener;

impl StoreOpener for PgOpener {
    fn open(&self, url: &str, target: &Target) -> Result<Box<dyn StateStore + Send>> {
        Ok(Box::new(PgStore::open(url, target)?))
    }

    fn read(&self, url: &str, target: &Target) -> Result<State> {
        PgStore::read(url, target)
    }

    fn force_unlock(&self, url: &str, target: &Target, lease_id: &str) -> Result<String> {
        force_unlock(url, target, lease_id)
    }
}

/// Makes `postgres://…` and `postgresql://…` state URLs work in this process: call it once,
/// at the start of `main`.
///
/// ```
/// actuator_postgres::register();
/// assert!(actuator::state::location::schemes().contains(&"postgres".to_string()));
/// ```
pub fn register() {
    for scheme in ["postgres", "postgresql"] {
        actuator::state::register_opener(scheme, Arc::new(PgOpener));
    }
}
