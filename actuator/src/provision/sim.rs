//! A simulated cloud for the cloud-free test resources (`infra::test`): it keeps what exists in
//! memory, tagged like a real cloud's resources, hands out ids and loopback addresses, can take
//! time, can fail on purpose, and can lose a resource behind the tool's back. The orchestrator's
//! tests and benchmarks use it, and so can a model under development.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    AttemptError, Discovered, Observed, Outputs, Ownership, ProvisionCx, Provisioned,
    ProvisionerProxy, Scope, tags,
};

/// The simulated cloud's proxy; handles every `test.*` kind.
#[derive(Debug)]
pub struct SimProxy {
    name: String,
    latency: Duration,
    state: Mutex<SimState>,
    /// Where the cloud is kept between processes ([`SimProxy::persisted`]).
    file: Option<PathBuf>,
    /// Every call made to this cloud, of any kind (see [`SimProxy::calls`]).
    calls: AtomicU64,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SimState {
    next: u32,
    /// Every resource that exists, by id.
    live: HashMap<u32, SimResource>,
    /// Per model path (of any system or workspace): the ids there, for the look-up by tag
    /// before a create, and the creates, updates and deletes so far. One map, so a create
    /// copies and hashes its path once.
    paths: HashMap<String, PathInfo>,
    #[serde(skip)]
    faults: HashMap<String, (u32, bool)>,
    #[serde(skip)]
    delete_faults: HashMap<String, (u32, bool)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SimResource {
    kind: String,
    /// As the create call gave them: four, so a list is searched as fast as a map and costs one
    /// allocation instead of a tree.
    tags: Vec<(String, String)>,
    args: BTreeMap<String, Value>,
}

impl SimResource {
    fn tag(&self, name: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn path(&self) -> &str {
        self.tag(tags::PATH).unwrap_or_default()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PathInfo {
    ids: Vec<u32>,
    creates: u32,
    updates: u32,
    deletes: u32,
}

impl Default for SimProxy {
    fn default() -> Self {
        SimProxy::new("sim")
    }
}

fn sim_id(n: u32) -> String {
    format!("sim-{n}")
}

fn parse_id(outputs: &Outputs) -> Option<u32> {
    outputs.get("id")?.strip_prefix("sim-")?.parse().ok()
}

fn outputs(n: u32) -> Outputs {
    Outputs::from([
        ("id".to_owned(), sim_id(n)),
        (
            "ip".to_owned(),
            format!("127.0.{}.{}", 1 + n / 250, 2 + n % 250),
        ),
    ])
}

impl SimProxy {
    /// A simulated cloud named `name`, answering at once.
    pub fn new(name: impl Into<String>) -> Self {
        SimProxy {
            name: name.into(),
            latency: Duration::ZERO,
            state: Mutex::default(),
            file: None,
            calls: AtomicU64::new(0),
        }
    }
    /// A simulated cloud that outlives the process: it is loaded from `file` (if it exists) and
    /// written back after every change, so successive runs of a model binary — `up`, then
    /// `plan` in a new process — see one cloud. One process at a time (the state's lock sees to
    /// that for model binaries); another process reads it by creating its own proxy on the file.
    ///
    /// ```
    /// use actuator::provision::SimProxy;
    /// let dir = tempfile::tempdir().unwrap();
    /// let file = dir.path().join("cloud.json");
    /// let id = SimProxy::persisted("sim", &file).unwrap().create_unmanaged("test.Network");
    /// assert_eq!(SimProxy::persisted("sim", &file).unwrap().create_unmanaged("test.Network"),
    ///            "sim-1");
    /// assert_eq!(id, "sim-0");
    /// ```
    pub fn persisted(name: impl Into<String>, file: impl Into<PathBuf>) -> std::io::Result<Self> {
        let file = file.into();
        let state = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(std::io::Error::other)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => SimState::default(),
            Err(e) => return Err(e),
        };
        Ok(SimProxy {
            name: name.into(),
            latency: Duration::ZERO,
            state: Mutex::new(state),
            file: Some(file),
            calls: AtomicU64::new(0),
        })
    }
    /// Writes the cloud to its file, if it has one (whole, through a rename: a reader never sees
    /// half of it).
    fn save(&self, st: &SimState) -> Result<(), AttemptError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let tmp = file.with_extension("tmp");
        serde_json::to_vec(st)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, file))
            .map_err(|e| AttemptError::fatal(format!("simulated cloud {}: {e}", file.display())))
    }
    /// Every call takes `latency`.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    /// The next `times` creates of the resource at model path `path` fail (retryable or not).
    pub fn fail_create(&self, path: &str, times: u32, retryable: bool) {
        self.st().faults.insert(path.to_owned(), (times, retryable));
    }
    /// The next `times` deletes of `path` fail.
    pub fn fail_delete(&self, path: &str, times: u32, retryable: bool) {
        self.st()
            .delete_faults
            .insert(path.to_owned(), (times, retryable));
    }
    /// How many times `path` was created (in any workspace).
    pub fn creates(&self, path: &str) -> u32 {
        self.st().paths.get(path).map_or(0, |c| c.creates)
    }
    /// How many times `path` was updated in place.
    pub fn updates(&self, path: &str) -> u32 {
        self.st().paths.get(path).map_or(0, |c| c.updates)
    }
    /// How many times `path` was deleted.
    pub fn deletes(&self, path: &str) -> u32 {
        self.st().paths.get(path).map_or(0, |c| c.deletes)
    }
    /// The model paths that exist now (in any workspace), with their ids.
    pub fn live(&self) -> BTreeMap<String, String> {
        self.st()
            .live
            .iter()
            .map(|(n, r)| (r.path().to_owned(), sim_id(*n)))
            .collect()
    }
    /// The model paths that exist now in `workspace`, with their ids.
    pub fn live_in(&self, workspace: &str) -> BTreeMap<String, String> {
        self.st()
            .live
            .iter()
            .filter(|(_, r)| r.tag(tags::WORKSPACE) == Some(workspace))
            .map(|(n, r)| (r.path().to_owned(), sim_id(*n)))
            .collect()
    }
    /// The arguments `path` was last created or updated with (as the state records them).
    pub fn args_of(&self, path: &str) -> Option<BTreeMap<String, Value>> {
        let st = self.st();
        let id = st.paths.get(path)?.ids.last()?;
        Some(st.live.get(id)?.args.clone())
    }
    /// Creates a resource of `kind` outside the tool (untagged, as a console would); returns its
    /// id, for `import`. Panics if a [persisted](Self::persisted) cloud cannot be written.
    pub fn create_unmanaged(&self, kind: &str) -> String {
        let mut st = self.st();
        let n = st.next;
        st.next += 1;
        st.live.insert(
            n,
            SimResource {
                kind: kind.to_owned(),
                tags: vec![(tags::PATH.to_owned(), String::new())],
                args: BTreeMap::new(),
            },
        );
        st.paths.entry(String::new()).or_default().ids.push(n);
        if let Err(e) = self.save(&st) {
            panic!("{e}");
        }
        sim_id(n)
    }
    /// Deletes every resource at `path` behind the tool's back (drift); returns how many.
    /// Panics if a [persisted](Self::persisted) cloud cannot be written.
    pub fn delete_behind(&self, path: &str) -> usize {
        let mut st = self.st();
        let ids = st
            .paths
            .get_mut(path)
            .map(|p| std::mem::take(&mut p.ids))
            .unwrap_or_default();
        let n = ids.iter().filter(|n| st.live.remove(n).is_some()).count();
        if let Err(e) = self.save(&st) {
            panic!("{e}");
        }
        n
    }
    fn st(&self) -> MutexGuard<'_, SimState> {
        self.state.lock()
    }
    /// How many calls this process made to the cloud: creates, reads, updates, deletes,
    /// discoveries and imports alike. What a pre-flight must leave at zero.
    ///
    /// ```
    /// use actuator::provision::SimProxy;
    /// assert_eq!(SimProxy::new("sim").calls(), 0);
    /// ```
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
    /// Every call starts here: it is counted, then takes the cloud's latency.
    async fn wait(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if !self.latency.is_zero() {
            tokio::time::sleep(self.latency).await;
        }
    }
    fn fault(map: &mut HashMap<String, (u32, bool)>, path: &str) -> Option<AttemptError> {
        let f = map.get_mut(path)?;
        if f.0 == 0 {
            return None;
        }
        f.0 -= 1;
        let msg = format!("simulated failure for {path}");
        Some(if f.1 {
            AttemptError::retryable(msg)
        } else {
            AttemptError::fatal(msg)
        })
    }
}

impl SimState {
    /// The resource a look-up by tags finds for `path` in `scope`'s system and workspace.
    fn find(&self, scope: &Scope, path: &str, except: Option<u32>) -> Option<(u32, Ownership)> {
        self.paths.get(path)?.ids.iter().find_map(|&n| {
            if Some(n) == except {
                return None;
            }
            match scope.owns(self.live.get(&n)?.tags.iter().map(|(k, v)| (k, v))) {
                Ownership::Foreign => None,
                owned => Some((n, owned)),
            }
        })
    }

    fn remove(&mut self, n: u32) -> Option<SimResource> {
        let r = self.live.remove(&n)?;
        if let Some(p) = self.paths.get_mut(r.path()) {
            p.ids.retain(|&i| i != n);
            p.deletes += 1;
        }
        Some(r)
    }
}

#[async_trait]
impl ProvisionerProxy for SimProxy {
    fn name(&self) -> &str {
        &self.name
    }

    fn handles(&self, kind: &str) -> bool {
        kind.starts_with("test.")
    }

    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        self.wait().await;
        let path = cx.path();
        let args = cx.args();
        let kind = cx.kind();
        let mut st = self.st();
        if let Some(e) = Self::fault(&mut st.faults, &path) {
            return Err(e);
        }
        // Idempotent like a real proxy finding its resource by tag: a second create returns it.
        let except = cx.replaces().and_then(|old| parse_id(&old.outputs));
        match st.find(cx.scope(), &path, except) {
            Some((n, Ownership::Mine)) => return Ok(outputs(n)),
            Some((n, Ownership::OtherState(other))) => {
                return Err(AttemptError::fatal(format!(
                    "{} exists already for this workspace but belongs to state `{other}` (another \
                     copy of the state, or one that was lost): not adopting it; `down --discover` \
                     finds it",
                    sim_id(n)
                )));
            }
            _ => {}
        }
        let n = st.next;
        st.next += 1;
        st.live.insert(
            n,
            SimResource {
                kind,
                tags: cx.scope().tags(&path),
                args: args
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            },
        );
        let p = st.paths.entry(path).or_default();
        p.ids.push(n);
        p.creates += 1;
        self.save(&st)?;
        Ok(outputs(n))
    }

    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        self.wait().await;
        let st = self.st();
        Ok(match parse_id(&rec.outputs) {
            Some(n) if st.live.contains_key(&n) => Observed::Exists(outputs(n)),
            _ => Observed::Gone,
        })
    }

    async fn update(
        &self,
        cx: &ProvisionCx,
        rec: &Provisioned,
        _changed: &[String],
    ) -> Result<Outputs, AttemptError> {
        self.wait().await;
        let args = cx.args();
        let mut st = self.st();
        let n = parse_id(&rec.outputs)
            .filter(|n| st.live.contains_key(n))
            .ok_or_else(|| AttemptError::fatal(format!("{} no longer exists", rec.key)))?;
        if let Some(r) = st.live.get_mut(&n) {
            r.args = args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect();
        }
        st.paths.entry(rec.key.to_string()).or_default().updates += 1;
        self.save(&st)?;
        Ok(outputs(n))
    }

    async fn deprovision(&self, rec: &Provisioned) -> Result<(), AttemptError> {
        self.wait().await;
        let mut st = self.st();
        if let Some(e) = Self::fault(&mut st.delete_faults, &rec.key) {
            return Err(e);
        }
        // Without a recorded id (a create cut short before its record), look it up by tag.
        let n = parse_id(&rec.outputs).or_else(|| {
            st.find(&rec.scope, &rec.key, None)
                .and_then(|(n, o)| (o == Ownership::Mine).then_some(n))
        });
        if let Some(n) = n {
            st.remove(n);
        }
        self.save(&st)
    }

    async fn discover(
        &self,
        scope: &Scope,
        kinds: &[&str],
    ) -> Result<Vec<Discovered>, AttemptError> {
        self.wait().await;
        let st = self.st();
        let mut found: Vec<Discovered> = st
            .live
            .iter()
            .filter(|(_, r)| kinds.contains(&r.kind.as_str()))
            .filter(|(_, r)| scope.owns(r.tags.iter().map(|(k, v)| (k, v))) != Ownership::Foreign)
            .map(|(&n, r)| Discovered {
                kind: r.kind.clone(),
                key: r.path().to_owned(),
                state_id: r.tag(tags::STATE).unwrap_or_default().to_owned(),
                outputs: outputs(n),
            })
            .collect();
        found.sort_by(|a, b| a.outputs["id"].cmp(&b.outputs["id"]));
        Ok(found)
    }

    async fn import(&self, cx: &ProvisionCx, id: &str) -> Result<Outputs, AttemptError> {
        self.wait().await;
        let path = cx.path();
        let mut st = self.st();
        let n = id
            .strip_prefix("sim-")
            .and_then(|n| n.parse().ok())
            .filter(|n| st.live.contains_key(n))
            .ok_or_else(|| AttemptError::fatal(format!("no resource `{id}` to import")))?;
        let old = st.live[&n].path().to_owned();
        if let Some(p) = st.paths.get_mut(&old) {
            p.ids.retain(|&i| i != n);
        }
        st.paths.entry(path).or_default().ids.push(n);
        if let Some(r) = st.live.get_mut(&n) {
            r.tags = cx.tags();
        }
        self.save(&st)?;
        Ok(outputs(n))
    }
}
