//! An answer before it becomes an HTTP response.

use serde_json::Value;

use crate::error::ArmError;

/// Status, extra headers and an optional JSON body.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(&mut self, name: &str, value: impl Into<String>) {
        self.headers.push((name.to_string(), value.into()));
    }
}

impl From<ArmError> for Reply {
    fn from(e: ArmError) -> Reply {
        let mut reply = Reply::json(e.status, e.body());
        if let Some(secs) = e.retry_after {
            reply.header("Retry-After", secs.to_string());
        }
        if e.gateway {
            reply.header("x-ms-failure-cause", "gateway");
        }
        reply
    }
}
