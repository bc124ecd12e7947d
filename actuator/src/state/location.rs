//! Where a state lives, by name: a directory (the [`FileStore`]), or a URL whose scheme a
//! registered [`StoreOpener`] handles — a shared store such as PostgreSQL
//! (`actuator-postgres`), which the core does not depend on. A model binary registers the
//! stores it wants in its `main`, once; `--state URL`, `ACTUATOR_STATE_URL` and
//! [`ActuatorOrchestration::state_url`](crate::orchestrate::ActuatorOrchestration::state_url)
//! then resolve through the registry.
//!
//! ```
//! use std::sync::Arc;
//! use actuator::state::{Journal, Location, MemoryStore, State, StateStore, StoreOpener, Target};
//!
//! /// A store that keeps nothing: every open is a fresh memory store.
//! struct Scratch;
//! impl StoreOpener for Scratch {
//!     fn open(&self, _url: &str, _t: &Target) -> actuator::state::Result<Box<dyn StateStore + Send>> {
//!         Ok(Box::new(MemoryStore::new()))
//!     }
//!     fn read(&self, _url: &str, _t: &Target) -> actuator::state::Result<State> {
//!         Ok(State::new())
//!     }
//! }
//! actuator::state::register_opener("scratch", Arc::new(Scratch));
//!
//! let target = Target::new("web", "default");
//! let loc = Location::parse("scratch://anything");
//! let mut j = Journal::open(loc.open(&target).unwrap()).unwrap();
//! j.set_meta("system", Some("web")).unwrap();
//! assert!(loc.read(&target).unwrap().is_empty());
//! // Unknown schemes are named, with what the binary knows.
//! let err = Location::parse("nosuch://x").read(&target).unwrap_err().to_string();
//! assert!(err.contains("`nosuch://`") && err.contains("scratch"), "{err}");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;

use super::{Error, FileStore, Result, State, StateStore};

/// Which state of a location: one workspace of one system. A directory holds exactly one; a
/// shared store holds many, keyed by this.
///
/// ```
/// let t = actuator::state::Target::new("web", "prod");
/// assert_eq!((t.system.as_str(), t.workspace.as_str()), ("web", "prod"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// The system name.
    pub system: String,
    /// The workspace name.
    pub workspace: String,
}

impl Target {
    /// The state of `workspace` of `system`.
    ///
    /// ```
    /// assert_eq!(actuator::state::Target::new("a", "b").workspace, "b");
    /// ```
    pub fn new(system: impl Into<String>, workspace: impl Into<String>) -> Self {
        Target {
            system: system.into(),
            workspace: workspace.into(),
        }
    }
}

/// Opens the states of one URL scheme. Implemented by shared stores and registered with
/// [`register_opener`]; see the [module documentation](self) for an example.
///
/// Every message an opener returns — errors included — must leave credentials out: they reach
/// terminals, logs and events.
pub trait StoreOpener: Send + Sync {
    /// Opens the state `target` at `url` for writing, exclusively: no other run writes to it
    /// until the store is dropped (a lock, a lease). When another run holds it, the error names
    /// the holder ([`Error::Held`]).
    fn open(&self, url: &str, target: &Target) -> Result<Box<dyn StateStore + Send>>;

    /// Reads the state `target` at `url` without taking it: a consistent view, even while
    /// another run writes. A state that was never written reads as empty.
    fn read(&self, url: &str, target: &Target) -> Result<State>;

    /// Frees the state's lock whose id is `lease_id` (the one [`Error::Held`] names), whoever
    /// holds it; returns what was freed, worded for a person. The holder can no longer write.
    /// The default: the store has no such lock.
    ///
    /// ```
    /// # use actuator::state::{State, StateStore, StoreOpener, Target};
    /// # struct S;
    /// # impl StoreOpener for S {
    /// #   fn open(&self, _: &str, _: &Target) -> actuator::state::Result<Box<dyn StateStore + Send>> { Ok(Box::new(actuator::state::MemoryStore::new())) }
    /// #   fn read(&self, _: &str, _: &Target) -> actuator::state::Result<State> { Ok(State::new()) }
    /// # }
    /// let err = S.force_unlock("s://x", &Target::new("web", "default"), "L1").unwrap_err();
    /// assert!(err.to_string().contains("has no lease"));
    /// ```
    fn force_unlock(&self, url: &str, target: &Target, lease_id: &str) -> Result<String> {
        let _ = lease_id;
        Err(Error::Store {
            location: format!("{} ({})", redact(url), target.workspace),
            message: "this store has no lease to unlock".into(),
        })
    }
}

static OPENERS: LazyLock<RwLock<BTreeMap<String, Arc<dyn StoreOpener>>>> =
    LazyLock::new(Default::default);

/// Makes `scheme://…` state URLs open through `opener` in this process (a later registration
/// of the same scheme replaces the earlier one). `file` is built in.
///
/// ```
/// # use std::sync::Arc;
/// # use actuator::state::{State, StateStore, StoreOpener, Target};
/// struct Nothing;
/// impl StoreOpener for Nothing {
///     fn open(&self, _: &str, _: &Target) -> actuator::state::Result<Box<dyn StateStore + Send>> {
///         Ok(Box::new(actuator::state::MemoryStore::new()))
///     }
///     fn read(&self, _: &str, _: &Target) -> actuator::state::Result<State> { Ok(State::new()) }
/// }
/// actuator::state::register_opener("nothing", Arc::new(Nothing));
/// assert!(actuator::state::location::schemes().contains(&"nothing".to_string()));
/// ```
pub fn register_opener(scheme: &str, opener: Arc<dyn StoreOpener>) {
    OPENERS.write().insert(scheme.to_ascii_lowercase(), opener);
}

/// The schemes this process can open, `file` first.
///
/// ```
/// assert_eq!(actuator::state::location::schemes()[0], "file");
/// ```
pub fn schemes() -> Vec<String> {
    std::iter::once("file".to_owned())
        .chain(OPENERS.read().keys().cloned())
        .collect()
}

fn opener(scheme: &str) -> Result<Arc<dyn StoreOpener>> {
    OPENERS
        .read()
        .get(&scheme.to_ascii_lowercase())
        .cloned()
        .ok_or_else(|| Error::UnknownScheme {
            scheme: scheme.to_owned(),
            known: schemes().join(", "),
        })
}

/// A state's location: a directory, or a URL of a registered store.
///
/// ```
/// use std::path::PathBuf;
/// use actuator::state::Location;
/// assert_eq!(Location::parse("states/web"), Location::Dir(PathBuf::from("states/web")));
/// assert_eq!(Location::parse("file:///var/states/web"), Location::Dir(PathBuf::from("/var/states/web")));
/// let pg = Location::parse("postgres://ci:hunter2@db.internal/actuator");
/// assert!(matches!(pg, Location::Url(_)));
/// // Displayed (and in every error) without the password.
/// assert_eq!(pg.to_string(), "postgres://ci@db.internal/actuator");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A state directory ([`FileStore`]).
    Dir(PathBuf),
    /// A URL whose scheme a registered [`StoreOpener`] handles.
    Url(String),
}

impl Location {
    /// A directory, or with a `scheme://` prefix a URL (`file://PATH` is a directory).
    ///
    /// ```
    /// assert!(matches!(actuator::state::Location::parse("./s"), actuator::state::Location::Dir(_)));
    /// ```
    pub fn parse(s: &str) -> Location {
        match scheme_of(s) {
            Some(scheme) if scheme.eq_ignore_ascii_case("file") => {
                Location::Dir(PathBuf::from(&s[scheme.len() + 3..]))
            }
            Some(_) => Location::Url(s.to_owned()),
            None => Location::Dir(PathBuf::from(s)),
        }
    }

    /// The default location of `target`'s state: `.actuator/<system>/<workspace>/` under the
    /// current directory.
    ///
    /// ```
    /// use actuator::state::{Location, Target};
    /// let loc = Location::default_for(&Target::new("web", "prod")).unwrap();
    /// assert_eq!(loc.to_string(), ".actuator/web/prod");
    /// assert!(Location::default_for(&Target::new("../x", "prod")).is_err());
    /// ```
    pub fn default_for(target: &Target) -> Result<Location> {
        FileStore::workspace_dir(&target.system, &target.workspace).map(Location::Dir)
    }

    /// Opens the state for writing, exclusively (see [`StoreOpener::open`]).
    ///
    /// ```
    /// use actuator::state::{Location, Target};
    /// let dir = tempfile::tempdir().unwrap();
    /// let loc = Location::Dir(dir.path().into());
    /// let _store = loc.open(&Target::new("web", "default")).unwrap();
    /// assert!(loc.open(&Target::new("web", "default")).is_err()); // locked
    /// ```
    pub fn open(&self, target: &Target) -> Result<Box<dyn StateStore + Send>> {
        match self {
            Location::Dir(d) => Ok(Box::new(FileStore::open(d)?)),
            Location::Url(u) => opener(scheme_of(u).unwrap_or_default())?.open(u, target),
        }
    }

    /// Reads the state without taking it (see [`StoreOpener::read`], [`FileStore::read`]).
    ///
    /// ```
    /// use actuator::state::{Location, Target};
    /// let dir = tempfile::tempdir().unwrap();
    /// assert!(Location::Dir(dir.path().join("none")).read(&Target::new("w", "d")).unwrap().is_empty());
    /// ```
    pub fn read(&self, target: &Target) -> Result<State> {
        match self {
            Location::Dir(d) => FileStore::read(d),
            Location::Url(u) => opener(scheme_of(u).unwrap_or_default())?.read(u, target),
        }
    }

    /// Frees a shared state's lease by its id (see [`StoreOpener::force_unlock`]). A directory's
    /// lock needs none: it is freed when its holder's process ends.
    ///
    /// ```
    /// use actuator::state::{Location, Target};
    /// let err = Location::parse("/tmp/s").force_unlock(&Target::new("w", "d"), "x").unwrap_err();
    /// assert!(err.to_string().contains("frees itself"));
    /// ```
    pub fn force_unlock(&self, target: &Target, lease_id: &str) -> Result<String> {
        match self {
            Location::Dir(d) => Err(Error::Store {
                location: d.display().to_string(),
                message: "a state directory's lock frees itself when its process ends; there is \
                          no lease to force"
                    .into(),
            }),
            Location::Url(u) => {
                opener(scheme_of(u).unwrap_or_default())?.force_unlock(u, target, lease_id)
            }
        }
    }
}

/// Without credentials.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Dir(d) => write!(f, "{}", d.display()),
            Location::Url(u) => f.write_str(&redact(u)),
        }
    }
}

/// Without credentials, like `Display`.
impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Dir(d) => f.debug_tuple("Dir").field(d).finish(),
            Location::Url(_) => f.debug_tuple("Url").field(&self.to_string()).finish(),
        }
    }
}

/// `scheme` of `scheme://…`, if `s` is a URL.
fn scheme_of(s: &str) -> Option<&str> {
    let (scheme, _) = s.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// `url` without a password in its user-info and without the values of query parameters that
/// carry one (`password`, `sslpassword`, …), for messages.
///
/// ```
/// use actuator::state::location::redact;
/// assert_eq!(redact("postgres://ci:s3cr%40t@db:5432/x?sslmode=require&password=p"),
///            "postgres://ci@db:5432/x?sslmode=require&password=***");
/// assert_eq!(redact("postgres://db/x"), "postgres://db/x");
/// ```
pub fn redact(url: &str) -> String {
    let Some(scheme) = scheme_of(url) else {
        return url.to_owned();
    };
    let rest = &url[scheme.len() + 3..];
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.to_ascii_lowercase().contains("password") => {
                        format!("{k}=***")
                    }
                    _ => kv.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// What [`push`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pushed {
    /// The destination's last record before the push (0: it was empty).
    pub replaced_seq: u64,
    /// The pushed state's last record, now the destination's.
    pub seq: u64,
}

/// Replaces the state `target` at `location` by `state` (as `state pull` wrote it, or as
/// another location holds it): the way to move a state between stores, file → PostgreSQL →
/// file. The destination is opened exclusively (a run holding it makes the push fail, naming
/// the holder) and checked first: a push is refused when the destination holds records the
/// pushed state does not — a higher sequence number, or another state altogether (another
/// `state_id`) — unless `force`. A state of another system or workspace is always refused.
///
/// ```
/// use actuator::state::{Journal, Location, Target, location};
/// let dir = tempfile::tempdir().unwrap();
/// let (a, b) = (Location::Dir(dir.path().join("a")), Location::Dir(dir.path().join("b")));
/// let t = Target::new("web", "default");
/// let mut j = Journal::open(a.open(&t).unwrap()).unwrap();
/// j.set_meta("state_id", Some("s1")).unwrap();
/// j.intent("infra.net", "test.Network", serde_json::json!({})).unwrap();
/// drop(j);
///
/// let pulled = a.read(&t).unwrap();
/// location::push(&pulled, &b, &t, false).unwrap();
/// assert_eq!(b.read(&t).unwrap(), pulled);
///
/// // `a` moves on; pushing its older copy back over it is refused.
/// let mut j = Journal::open(a.open(&t).unwrap()).unwrap();
/// j.done("infra.net", serde_json::json!({"id": "n-1"})).unwrap();
/// drop(j);
/// let err = location::push(&pulled, &a, &t, false).unwrap_err().to_string();
/// assert!(err.contains("newer records"), "{err}");
/// ```
pub fn push(state: &State, location: &Location, target: &Target, force: bool) -> Result<Pushed> {
    let refuse = |reason: String| Error::PushRefused {
        location: location.to_string(),
        reason,
    };
    for (name, mine) in [("system", &target.system), ("workspace", &target.workspace)] {
        if let Some(theirs) = state.meta().get(name)
            && theirs != mine
        {
            return Err(refuse(format!(
                "the pushed state belongs to {name} `{theirs}`, not `{mine}`"
            )));
        }
    }
    let mut store = location.open(target)?;
    let current = store.load()?;
    if !force {
        let (theirs, mine) = (current.meta().get("state_id"), state.meta().get("state_id"));
        if current.last_seq() > 0 && theirs.is_some() && theirs != mine {
            return Err(refuse(format!(
                "the destination holds another state (state_id {}, the pushed one {}); --force \
                 replaces it",
                theirs.map_or("none", String::as_str),
                mine.map_or("none", String::as_str)
            )));
        }
        if current.last_seq() > state.last_seq() {
            return Err(refuse(format!(
                "the destination has newer records (up to {}, the pushed state ends at {}): pull \
                 it first, or --force",
                current.last_seq(),
                state.last_seq()
            )));
        }
        if current.last_seq() == state.last_seq() && current != *state && current.last_seq() > 0 {
            return Err(refuse(format!(
                "the destination differs from the pushed state at the same record ({}); --force \
                 replaces it",
                state.last_seq()
            )));
        }
    }
    store.replace(state)?;
    Ok(Pushed {
        replaced_seq: current.last_seq(),
        seq: state.last_seq(),
    })
}
