//! Long-running operations: what each provider puts in its headers, and how its status and
//! result URLs answer while an operation runs and after it ended.
//!
//! | provider | PUT | DELETE | status URL | result URL |
//! |---|---|---|---|---|
//! | Network | 201/200 + `Azure-AsyncOperation` | 202 + `Azure-AsyncOperation` + `Location` (`operationResults`) | 200 `{"status"}` | 202 while running, then 204 |
//! | Compute | 201/200 + `Azure-AsyncOperation` | 202 + `Azure-AsyncOperation` + `Location` (`monitor=true`) | 200 `{startTime,status,name}` | 202, then 200 |
//! | Resources (group delete) | — | 202 + `Location` only | — | 202, then 200 |
//!
//! Operations complete lazily: every request first calls [`crate::store::State::advance`], which
//! applies the effects of operations whose time has come. Finished operations keep answering,
//! because clients read the result URL once more after the status URL said `Succeeded`.

use std::time::Instant;

use base64::Engine;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::error::ArmError;
use crate::kind::Provider;
use crate::reply::Reply;
use crate::store::State;

/// What happens when an operation completes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect {
    /// These resources (the first one the operation's subject) reach `Succeeded` (or `Failed`).
    Provision { ids: Vec<String> },
    /// The resource is removed (with what goes with it).
    Delete { id: String },
    /// The group's members, then the group, are removed.
    DeleteGroup { group: String },
}

/// Where an operation stands.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum OpStatus {
    InProgress,
    Succeeded,
    Failed(ArmError),
    Canceled(ArmError),
}

/// One long-running operation.
#[derive(Clone, Debug)]
pub(crate) struct Operation {
    pub id: String,
    pub provider: Provider,
    pub sub: String,
    pub region: String,
    pub api_version: String,
    pub started: OffsetDateTime,
    pub ended: Option<OffsetDateTime>,
    pub due: Instant,
    pub status: OpStatus,
    pub effect: Effect,
    /// The error the operation ends with instead of succeeding.
    pub fail: Option<ArmError>,
}

impl Operation {
    /// The `Azure-AsyncOperation` URL.
    pub fn async_url(&self, base: &str) -> String {
        let ns = match self.provider {
            Provider::Compute => "Microsoft.Compute",
            _ => "Microsoft.Network",
        };
        format!(
            "{base}/subscriptions/{}/providers/{ns}/locations/{}/operations/{}?api-version={}",
            self.sub, self.region, self.id, self.api_version
        )
    }

    /// The `Location` URL.
    pub fn location_url(&self, base: &str) -> String {
        match self.provider {
            Provider::Network => format!(
                "{base}/subscriptions/{}/providers/Microsoft.Network/locations/{}/operationResults/{}?api-version={}",
                self.sub, self.region, self.id, self.api_version
            ),
            Provider::Compute => format!(
                "{base}/subscriptions/{}/providers/Microsoft.Compute/locations/{}/operations/{}?monitor=true&api-version={}",
                self.sub, self.region, self.id, self.api_version
            ),
            Provider::Resources => format!(
                "{base}/subscriptions/{}/operationresults/{}?api-version={}",
                self.sub, self.id, self.api_version
            ),
        }
    }
}

/// The Resources provider's operation token: unpadded base64 of the deletion job, as ARM does it.
pub(crate) fn group_job_token(rg: &str, region: &str) -> String {
    let job = json!({
        "jobId": format!(
            "RESOURCEGROUPDELETIONJOB-{}-{}:2D{}",
            rg.to_ascii_uppercase(),
            region.to_ascii_uppercase(),
            &uuid::Uuid::new_v4().simple().to_string()[..8].to_ascii_uppercase()
        ),
        "jobLocation": region,
    });
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(job.to_string())
}

/// Parameters of a new operation.
pub(crate) struct NewOp<'a> {
    pub provider: Provider,
    pub sub: &'a str,
    pub region: &'a str,
    pub api_version: &'a str,
    pub effect: Effect,
    pub fail: Option<ArmError>,
    pub duration: std::time::Duration,
    /// A preset id (resource-group deletion tokens); a fresh GUID otherwise.
    pub id: Option<String>,
}

impl State {
    /// Registers an operation and returns its id.
    pub fn start_op(&mut self, new: NewOp<'_>) -> String {
        let id = new.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let seq = self.next_seq();
        let op = Operation {
            id: id.clone(),
            provider: new.provider,
            sub: new.sub.to_string(),
            region: new.region.to_string(),
            api_version: new.api_version.to_string(),
            started: OffsetDateTime::now_utc(),
            ended: None,
            due: Instant::now() + new.duration,
            status: OpStatus::InProgress,
            effect: new.effect,
            fail: new.fail,
        };
        self.pending.insert((op.due, seq, id.clone()));
        self.ops.insert(id.clone(), op);
        id
    }

    /// Adds the LRO headers of a PUT (or PATCH) answer.
    pub fn put_headers(&self, reply: &mut Reply, op_id: &str) {
        let op = &self.ops[op_id];
        reply.header("Azure-AsyncOperation", op.async_url(&self.base_url));
        reply.header("Retry-After", self.timing.retry_after_secs.to_string());
        if op.provider == Provider::Network {
            reply.header("Azure-AsyncNotification", "Enabled");
        }
    }

    /// The 202 answer of a DELETE.
    pub fn delete_reply(&self, op_id: &str) -> Reply {
        let op = &self.ops[op_id];
        let mut reply = Reply::empty(202);
        if op.provider != Provider::Resources {
            reply.header("Azure-AsyncOperation", op.async_url(&self.base_url));
        }
        reply.header("Location", op.location_url(&self.base_url));
        reply.header("Retry-After", self.timing.retry_after_secs.to_string());
        reply
    }

    /// `GET` of an `Azure-AsyncOperation` URL: always 200, the body says where it stands.
    pub fn op_status(&self, op_id: &str) -> Result<Reply, ArmError> {
        let op = self.ops.get(op_id).ok_or_else(|| unknown_op(op_id))?;
        let (status, error) = match &op.status {
            OpStatus::InProgress => ("InProgress", None),
            OpStatus::Succeeded => ("Succeeded", None),
            OpStatus::Failed(e) => ("Failed", Some(e)),
            // Network has no Canceled status; it reports such operations as failed.
            OpStatus::Canceled(e) if op.provider == Provider::Network => ("Failed", Some(e)),
            OpStatus::Canceled(e) => ("Canceled", Some(e)),
        };
        let mut body = match op.provider {
            Provider::Compute => {
                let mut b = json!({
                    "startTime": crate::clock::rfc3339(op.started),
                    "status": status,
                    "name": op.id,
                });
                if let Some(end) = op.ended {
                    b["endTime"] = Value::String(crate::clock::rfc3339(end));
                }
                b
            }
            _ => json!({ "status": status }),
        };
        if let Some(e) = error {
            body["error"] = serde_json::to_value(e).unwrap_or(Value::Null);
        }
        let mut reply = Reply::json(200, body);
        if op.status == OpStatus::InProgress {
            reply.header("Retry-After", self.timing.retry_after_secs.to_string());
        }
        Ok(reply)
    }

    /// `GET` of a `Location` URL: 202 while running, then the answer the operation would have
    /// given synchronously.
    pub fn op_result(&self, op_id: &str) -> Result<Reply, ArmError> {
        let op = self.ops.get(op_id).ok_or_else(|| unknown_op(op_id))?;
        match &op.status {
            OpStatus::InProgress => {
                let mut reply = Reply::empty(202);
                reply.header("Location", op.location_url(&self.base_url));
                reply.header("Retry-After", self.timing.retry_after_secs.to_string());
                Ok(reply)
            }
            OpStatus::Succeeded => Ok(Reply::empty(match op.provider {
                Provider::Network => 204,
                _ => 200,
            })),
            OpStatus::Failed(e) | OpStatus::Canceled(e) => {
                let mut e = e.clone();
                if e.status < 400 {
                    e.status = 400;
                }
                Err(e)
            }
        }
    }
}

fn unknown_op(id: &str) -> ArmError {
    ArmError::new(
        404,
        "NotFound",
        format!("The operation '{id}' could not be found."),
    )
}
