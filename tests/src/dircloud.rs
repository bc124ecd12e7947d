//! A simulated cloud that several processes share: its resources live in one file under a
//! directory, changed under an exclusive `flock`, so a run killed mid-way and the run that
//! resumes it see the same cloud — and the test sees how often each resource was really
//! created. Like `SimProxy` (and real proxies), a create first looks for a resource tagged for
//! the same system, workspace, state and model path, and returns it instead of making a twin.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use actuator::provision::{
    AttemptError, Observed, Outputs, Ownership, ProvisionCx, Provisioned, ProvisionerProxy,
};
use async_trait::async_trait;

/// The proxy; handles every `test.*` kind.
#[derive(Debug)]
pub struct DirCloud {
    dir: PathBuf,
    latency: Duration,
}

/// One line of the cloud's log.
#[derive(serde::Serialize, serde::Deserialize)]
struct Event {
    /// `create` or `delete`.
    op: String,
    id: u64,
    #[serde(default)]
    path: String,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    /// The process that made the call.
    pid: u32,
}

/// What the log says exists, and how often each path was created.
#[derive(Default)]
struct Cloud {
    next: u64,
    live: BTreeMap<u64, (String, BTreeMap<String, String>)>,
    creates: BTreeMap<String, u32>,
}

impl DirCloud {
    /// A cloud kept in `dir` (created if needed); every call takes `latency`.
    pub fn new(dir: &Path, latency: Duration) -> DirCloud {
        std::fs::create_dir_all(dir).unwrap();
        DirCloud {
            dir: dir.to_owned(),
            latency,
        }
    }

    /// How many times each model path was created (by any process).
    pub fn creates(&self) -> BTreeMap<String, u32> {
        self.locked(|c, _| c.creates.clone())
    }

    /// The model paths that exist now.
    pub fn live(&self) -> Vec<String> {
        self.locked(|c, _| c.live.values().map(|(p, _)| p.clone()).collect())
    }

    fn log(&self) -> PathBuf {
        self.dir.join("cloud.jsonl")
    }

    /// Runs `f` on the cloud under the lock; `f` returns events to append.
    fn locked<T>(&self, f: impl FnOnce(&Cloud, &mut Vec<Event>) -> T) -> T {
        let lock = File::create(self.dir.join("lock")).unwrap();
        lock.lock().unwrap();
        let mut cloud = Cloud::default();
        if let Ok(file) = File::open(self.log()) {
            for line in BufReader::new(file).lines() {
                let line = line.unwrap();
                // A line torn by a kill: the call it records never answered.
                let Ok(e) = serde_json::from_str::<Event>(&line) else {
                    continue;
                };
                cloud.next = cloud.next.max(e.id + 1);
                if e.op == "create" {
                    *cloud.creates.entry(e.path.clone()).or_default() += 1;
                    cloud.live.insert(e.id, (e.path, e.tags));
                } else {
                    cloud.live.remove(&e.id);
                }
            }
        }
        let mut new = Vec::new();
        let out = f(&cloud, &mut new);
        if !new.is_empty() {
            let mut buf = Vec::new();
            for e in &new {
                serde_json::to_writer(&mut buf, e).unwrap();
                buf.push(b'\n');
            }
            let mut log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.log())
                .unwrap();
            log.write_all(&buf).unwrap();
        }
        out
    }
}

fn outputs(id: u64) -> Outputs {
    Outputs::from([
        ("id".to_owned(), format!("dc-{id}")),
        (
            "ip".to_owned(),
            format!("127.1.{}.{}", 1 + id / 250, 2 + id % 250),
        ),
    ])
}

fn id_of(o: &Outputs) -> Option<u64> {
    o.get("id")?.strip_prefix("dc-")?.parse().ok()
}

#[async_trait]
impl ProvisionerProxy for DirCloud {
    fn name(&self) -> &str {
        "sim"
    }

    fn handles(&self, kind: &str) -> bool {
        kind.starts_with("test.")
    }

    async fn provision(&self, cx: &ProvisionCx) -> Result<Outputs, AttemptError> {
        tokio::time::sleep(self.latency).await;
        let path = cx.path();
        let scope = cx.scope().clone();
        let tags: BTreeMap<String, String> = cx.tags().into_iter().collect();
        Ok(self.locked(|c, new| {
            let found = c
                .live
                .iter()
                .find(|(_, (p, t))| *p == path && scope.owns(t.iter()) == Ownership::Mine);
            if let Some((&id, _)) = found {
                return outputs(id);
            }
            new.push(Event {
                op: "create".into(),
                id: c.next,
                path: path.clone(),
                tags,
                pid: std::process::id(),
            });
            outputs(c.next)
        }))
    }

    async fn read(&self, rec: &Provisioned) -> Result<Observed, AttemptError> {
        let id = id_of(&rec.outputs);
        Ok(self.locked(|c, _| match id {
            Some(id) if c.live.contains_key(&id) => Observed::Exists(outputs(id)),
            _ => Observed::Gone,
        }))
    }

    async fn deprovision(&self, rec: &Provisioned) -> Result<(), AttemptError> {
        tokio::time::sleep(self.latency).await;
        let id = id_of(&rec.outputs);
        self.locked(|c, new| {
            let id = id.or_else(|| {
                c.live
                    .iter()
                    .find(|(_, (p, t))| {
                        **p == *rec.key && rec.scope.owns(t.iter()) == Ownership::Mine
                    })
                    .map(|(&id, _)| id)
            });
            if let Some(id) = id.filter(|id| c.live.contains_key(id)) {
                new.push(Event {
                    op: "delete".into(),
                    id,
                    path: rec.key.to_string(),
                    tags: BTreeMap::new(),
                    pid: std::process::id(),
                });
            }
        });
        Ok(())
    }
}
