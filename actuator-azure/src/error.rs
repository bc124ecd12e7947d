//! ARM's errors, and what the proxy does about each: retry now (throttling, 5xx, a dropped
//! connection), wait for something else to finish (another operation on the resource, a dependent
//! still using it), or give up (everything else).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use actuator::provision::AttemptError;

/// An error answer from ARM (or no answer at all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmError {
    /// The HTTP status; 0 when no answer came (connection refused, dropped, timed out).
    pub status: u16,
    /// ARM's `error.code`, e.g. `InUseSubnetCannotBeDeleted`.
    pub code: String,
    /// ARM's `error.message`.
    pub message: String,
    /// The server's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
}

/// `{"error": {"code", "message"}}`: every resource provider's envelope (OData style).
#[derive(Deserialize)]
struct Envelope {
    error: Option<Body>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// Network answers an operation on a resource that another operation holds with these (a failed
/// operation, a 409, or a 429): the work is fine, its timing is not.
const BUSY: &[&str] = &[
    "AnotherOperationInProgress",
    "RetryableErrorDueToAnotherOperation",
    "ReferencedResourceNotProvisioned",
    "OperationPreempted",
    "NicReservedForAnotherVm",
    // A delete (or write) in a group being deleted: over when the group is gone.
    "ResourceGroupBeingDeleted",
];

/// A delete refused because something still uses the resource: it succeeds once the dependent is
/// gone (deleted by another step of the same teardown, or detached).
const IN_USE: &[&str] = &[
    "InUseSubnetCannotBeDeleted",
    "InUseNetworkSecurityGroupCannotBeDeleted",
    "PublicIPAddressCannotBeDeleted",
    "NicInUse",
    "ResourceGroupDeletionBlocked",
    "InUseRouteTableCannotBeDeleted",
    "InUseNetworkInterfaceCannotBeDeleted",
];

impl ArmError {
    /// An error from an answer's status, body and `Retry-After`.
    pub(crate) fn from_answer(status: u16, body: &[u8], retry_after: Option<Duration>) -> Self {
        let (code, message) = match serde_json::from_slice::<Envelope>(body) {
            Ok(Envelope { error: Some(b) }) => (b.code, b.message),
            _ => (
                format!("Http{status}"),
                String::from_utf8_lossy(body).chars().take(300).collect(),
            ),
        };
        ArmError {
            status,
            code,
            message,
            retry_after,
        }
    }

    /// The `error` object of a failed long-running operation.
    pub(crate) fn from_operation(error: Option<&Value>, status: &str) -> Self {
        let text = |k: &str| {
            error
                .and_then(|e| e.get(k))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let code = text("code");
        ArmError {
            status: 0,
            code: if code.is_empty() {
                format!("Operation{status}")
            } else {
                code
            },
            message: text("message"),
            retry_after: None,
        }
    }

    /// No answer: the pipeline's error (after its own retries), with every cause in its chain.
    /// A connection or I/O error may pass (`NoAnswer`); a credential that gives no token will not
    /// (`AuthenticationFailed`).
    pub(crate) fn from_sdk(e: &azure_core::Error) -> Self {
        use azure_core::error::ErrorKind;
        let mut parts: Vec<String> = Vec::new();
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(c) = cause {
            let m = c.to_string();
            if !parts.iter().any(|p| p.contains(&m)) {
                parts.push(m);
            }
            cause = c.source();
        }
        let code = match e.kind() {
            ErrorKind::Io | ErrorKind::Connection => "NoAnswer",
            ErrorKind::Credential => "AuthenticationFailed",
            _ => "ClientError",
        };
        ArmError {
            status: 0,
            code: code.into(),
            message: parts.join(": "),
            retry_after: None,
        }
    }

    /// A local decision (a deadline, an unexpected answer).
    pub(crate) fn local(code: &str, message: impl Into<String>) -> Self {
        ArmError {
            status: 0,
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// The resource (or its resource group, or its parent) does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status == 404
            || matches!(
                self.code.as_str(),
                "ResourceNotFound"
                    | "NotFound"
                    | "ResourceGroupNotFound"
                    | "ParentResourceNotFound"
            )
    }

    /// Another operation holds the resource (or one it refers to): try again after it.
    pub fn is_busy(&self) -> bool {
        BUSY.contains(&self.code.as_str())
            || (self.status == 409 && self.message.contains("marked for deletion"))
    }

    /// A delete refused because a dependent still uses the resource.
    pub fn is_in_use(&self) -> bool {
        IN_USE.contains(&self.code.as_str())
    }

    /// Throttled, a server error, or no answer: the same call may work later.
    pub fn is_transient(&self) -> bool {
        self.status == 0 && self.code == "NoAnswer"
            || self.status == 429
            || self.status == 408
            || self.status >= 500
            || matches!(
                self.code.as_str(),
                "InternalServerError" | "InternalExecutionError" | "ServerTimeout" | "Timeout"
            )
    }

    /// How the engine should take it: transient and busy errors are retried (after the server's
    /// hint), everything else fails the resource.
    pub(crate) fn attempt(self) -> AttemptError {
        let retryable = self.is_transient() || self.is_busy() || self.is_in_use();
        let after = self.retry_after;
        let msg = self.to_string();
        let e = if retryable {
            AttemptError::retryable(msg)
        } else {
            AttemptError::fatal(msg)
        };
        match after {
            Some(d) => e.with_retry_after(d),
            None => e,
        }
    }
}

impl fmt::Display for ArmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status != 0 {
            write!(f, "{} {}", self.status, self.code)?;
        } else {
            f.write_str(&self.code)?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ArmError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_and_classes() {
        let e = ArmError::from_answer(
            400,
            br#"{"error":{"code":"InUseSubnetCannotBeDeleted","message":"Subnet s is in use","details":[]}}"#,
            None,
        );
        assert_eq!(e.code, "InUseSubnetCannotBeDeleted");
        assert!(e.is_in_use() && !e.is_transient());
        assert!(e.clone().attempt().retryable);
        let e = ArmError::from_answer(429, b"{}", Some(Duration::from_secs(6)));
        assert!(e.is_transient());
        let a = e.attempt();
        assert_eq!(a.retry_after, Some(Duration::from_secs(6)));
        let e = ArmError::from_answer(
            400,
            br#"{"error":{"code":"InvalidParameter","message":"m"}}"#,
            None,
        );
        assert!(!e.clone().attempt().retryable);
        assert_eq!(e.to_string(), "400 InvalidParameter: m");
        let e = ArmError::from_answer(404, b"", None);
        assert!(e.is_not_found());
        let op = serde_json::json!({"code": "AnotherOperationInProgress", "message": "busy"});
        assert!(ArmError::from_operation(Some(&op), "Failed").is_busy());
        let e = ArmError::from_answer(
            409,
            br#"{"error":{"code":"OperationNotAllowed","message":"Operation 'PUT' is not allowed on VM 'v' since the VM is marked for deletion."}}"#,
            None,
        );
        assert!(e.is_busy());
    }
}
