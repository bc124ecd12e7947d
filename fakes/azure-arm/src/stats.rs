//! What the fake counts, so tests can assert "each resource created once", "0 left after down"
//! and "the client polled the status URL".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ResourceKind;

/// Counters since the fake started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// ARM requests received (including those answered with a fault).
    pub requests: u64,
    /// Requests per operation: `"PUT virtualMachines"`, `"DELETE resourceGroups"`,
    /// `"GET operations"` (status URLs), `"GET operationResults"` (Location URLs), `"GET resources"`.
    pub by_operation: BTreeMap<String, u64>,
    /// Resource id → how many times it was created (a PUT answered 201, or an OS disk made by a
    /// VM). Groups count too.
    pub created: BTreeMap<String, u32>,
    /// Resource id → how many times it was removed.
    pub deleted: BTreeMap<String, u32>,
    /// Faults that happened.
    pub faults: FaultCounts,
    /// Requests refused with 401.
    pub unauthorized: u64,
    /// Tokens the token endpoint issued.
    pub tokens_issued: u64,
    /// Token requests refused.
    pub token_failures: u64,
}

impl Stats {
    /// Requests of `method` on `kind` (e.g. `count("PUT", ResourceKind::VirtualMachine)`).
    pub fn count(&self, method: &str, kind: ResourceKind) -> u64 {
        self.by_operation
            .get(&format!("{method} {kind}"))
            .copied()
            .unwrap_or(0)
    }

    /// Ids created more than once.
    pub fn created_more_than_once(&self) -> Vec<&str> {
        self.created
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

/// Injected faults and conflicts, by kind.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultCounts {
    /// 5xx answers.
    pub errors: u64,
    /// Connections closed without applying the request.
    pub dropped: u64,
    /// Requests applied whose answer was dropped.
    pub lost_answers: u64,
    /// 429 `SubscriptionRequestsThrottled`.
    pub throttled: u64,
    /// Writes refused or failed because another operation held the resource.
    pub conflicts: u64,
    /// Operations failed by a [`crate::FailNext`] rule.
    pub failed_operations: u64,
}

/// One ARM request as the fake saw it (no headers or bodies: they may hold secrets).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Status answered; 0 when the connection was closed instead.
    pub status: u16,
    /// `"ok"`, `"error"` (injected 5xx), `"dropped"`, `"lost"`, `"throttled"`, `"unauthorized"`.
    pub outcome: String,
}
