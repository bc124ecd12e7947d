//! Configuration: ports, credentials, timing and faults. Timing and faults can also be changed
//! while the fake runs ([`crate::FakeHandle::set_timing`], [`crate::FakeHandle::set_faults`], or
//! `PUT /_fake/timing` and `PUT /_fake/faults`), which is why they serialize to JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ResourceKind;

/// A service principal the token endpoint accepts.
#[derive(Clone, Serialize, Deserialize)]
pub struct Principal {
    /// Directory (tenant) id: the first path segment of the token URL.
    pub tenant_id: String,
    /// Application (client) id.
    pub client_id: String,
    /// The client secret. A test value, but still kept out of `Debug` output.
    pub client_secret: String,
}

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Principal")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .finish()
    }
}

impl Default for Principal {
    fn default() -> Self {
        Principal {
            tenant_id: "72f988bf-0000-4000-8000-00000000fa4e".to_string(),
            client_id: "5e1f4a52-0000-4000-8000-0000000c11e7".to_string(),
            client_secret: "fake-client-secret".to_string(),
        }
    }
}

/// How long long-running operations take, per resource kind.
///
/// A kind's duration applies to its PUT (create or update) and DELETE; the resource-group kind's
/// to a resource-group delete. Kinds without an entry use `default`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LroDurations {
    /// Duration of any LRO without a per-kind entry.
    #[serde(rename = "default_ms", with = "millis")]
    pub default: Duration,
    /// Per-kind durations (`"virtualMachines": 2000` in JSON).
    #[serde(rename = "per_kind_ms", with = "millis_map", default)]
    pub per_kind: BTreeMap<ResourceKind, Duration>,
}

impl LroDurations {
    /// The same duration for every kind.
    pub fn uniform(d: Duration) -> LroDurations {
        LroDurations {
            default: d,
            per_kind: BTreeMap::new(),
        }
    }

    /// Sets the duration of one kind.
    pub fn with(mut self, kind: ResourceKind, d: Duration) -> LroDurations {
        self.per_kind.insert(kind, d);
        self
    }

    /// The duration of an LRO on `kind`.
    pub fn of(&self, kind: ResourceKind) -> Duration {
        self.per_kind.get(&kind).copied().unwrap_or(self.default)
    }
}

/// Timing of the fake's answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Added before every ARM answer (not the token endpoint, not `/_fake`).
    #[serde(rename = "latency_ms", with = "millis")]
    pub latency: Duration,
    /// How long LROs take.
    pub lro: LroDurations,
    /// The `Retry-After` (whole seconds, ARM allows 0) sent with LRO answers and status polls.
    pub retry_after_secs: u64,
}

impl Default for Timing {
    /// Test-friendly: no latency, short LROs (VMs a little slower), `Retry-After: 0`.
    fn default() -> Self {
        Timing {
            latency: Duration::ZERO,
            lro: LroDurations::uniform(Duration::from_millis(100))
                .with(ResourceKind::VirtualMachine, Duration::from_millis(300))
                .with(ResourceKind::ResourceGroup, Duration::from_millis(200)),
            retry_after_secs: 0,
        }
    }
}

impl Timing {
    /// Closer to what Azure does: 20 ms per call, network LROs ~2 s, VM creation 30 s, disks 5 s,
    /// resource-group deletion 20 s, `Retry-After: 1`.
    pub fn realistic() -> Timing {
        Timing {
            latency: Duration::from_millis(20),
            lro: LroDurations::uniform(Duration::from_secs(2))
                .with(ResourceKind::VirtualMachine, Duration::from_secs(30))
                .with(ResourceKind::Disk, Duration::from_secs(5))
                .with(ResourceKind::ResourceGroup, Duration::from_secs(20)),
            retry_after_secs: 1,
        }
    }
}

/// A token bucket: `capacity` requests, refilled at `refill_per_sec`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Tokens when full (and the `x-ms-ratelimit-remaining-*` value of a fresh bucket).
    pub capacity: u32,
    /// Tokens added per second.
    pub refill_per_sec: f64,
}

/// ARM's per-subscription request budgets (the 2024 token-bucket model: reads 250 + 25/s,
/// writes and deletes 200 + 10/s). Reported in `x-ms-ratelimit-remaining-subscription-*`
/// headers always; enforced with 429 only when `enforce` is set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    /// Answer 429 `SubscriptionRequestsThrottled` with `Retry-After` when a bucket is empty.
    pub enforce: bool,
    /// GET and HEAD.
    pub reads: Bucket,
    /// PUT, PATCH, POST.
    pub writes: Bucket,
    /// DELETE.
    pub deletes: Bucket,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            enforce: false,
            reads: Bucket {
                capacity: 250,
                refill_per_sec: 25.0,
            },
            writes: Bucket {
                capacity: 200,
                refill_per_sec: 10.0,
            },
            deletes: Bucket {
                capacity: 200,
                refill_per_sec: 10.0,
            },
        }
    }
}

impl Throttle {
    /// Enforced budgets of `writes` PUT/PATCH and `deletes` DELETE requests refilled at
    /// `per_sec`; reads keep ARM's budget (250, refilled at 25/s), now enforced too. Handy for
    /// tests of 429 handling.
    pub fn writes(writes: u32, deletes: u32, per_sec: f64) -> Throttle {
        Throttle {
            enforce: true,
            writes: Bucket {
                capacity: writes,
                refill_per_sec: per_sec,
            },
            deletes: Bucket {
                capacity: deletes,
                refill_per_sec: per_sec,
            },
            ..Throttle::default()
        }
    }
}

/// Injected failures, drawn per ARM request from a seeded generator (see [`FakeConfig::seed`]).
///
/// They apply to every ARM request, including LRO polls, but never to the token endpoint or the
/// `/_fake` control routes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Fraction of requests answered `500 InternalServerError` without being applied.
    #[serde(default)]
    pub error_rate: f64,
    /// Fraction of requests whose connection is closed without an answer, not applied.
    #[serde(default)]
    pub drop_rate: f64,
    /// Fraction of requests that are applied, then their connection closed without an answer.
    #[serde(default)]
    pub lost_answer_rate: f64,
    /// Request budgets.
    #[serde(default)]
    pub throttle: Throttle,
}

impl Faults {
    /// Total fault rate `rate`, split evenly between 5xx answers, dropped connections and lost
    /// answers.
    pub fn mixed(rate: f64) -> Faults {
        Faults {
            error_rate: rate / 3.0,
            drop_rate: rate / 3.0,
            lost_answer_rate: rate / 3.0,
            throttle: Throttle::default(),
        }
    }
}

/// How the fake answers a write to a Network resource while another operation holds it (or its
/// parent: a subnet's VNet, a rule's NSG).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConflictStyle {
    /// Accept the request (201/200/202 + `Azure-AsyncOperation`), then fail the operation with
    /// `AnotherOperationInProgress` — how it is mostly seen in the wild.
    #[default]
    FailedAsync,
    /// Refuse at once with `429 RetryableErrorDueToAnotherOperation` and `Retry-After`.
    Retryable429,
}

/// Which LROs a [`FailNext`] rule fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailAction {
    /// PUT of a resource that did not exist.
    Create,
    /// PUT of an existing resource.
    Update,
    /// DELETE.
    Delete,
    /// Any of them.
    #[default]
    Any,
}

/// Makes the next `count` LROs of `kind` end `Failed` with `code`/`message`; a failed create or
/// update leaves the resource with `provisioningState: Failed`, a failed delete leaves it in place
/// (also `Failed`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailNext {
    /// The resource kind.
    pub kind: ResourceKind,
    /// Which operations.
    #[serde(default)]
    pub action: FailAction,
    /// How many operations to fail.
    #[serde(default = "one")]
    pub count: u32,
    /// `error.code` of the failed operation (default: `AllocationFailed` for VMs,
    /// `InternalServerError` otherwise).
    #[serde(default)]
    pub code: Option<String>,
    /// `error.message`.
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

/// Everything [`crate::ArmFake::start`] needs.
#[derive(Clone, Debug)]
pub struct FakeConfig {
    /// ARM port on 127.0.0.1; 0 picks a free one.
    pub arm_port: u16,
    /// Token authority port on 127.0.0.1; 0 picks a free one.
    pub token_port: u16,
    /// Principals the token endpoint accepts (default: one, [`Principal::default`]).
    pub principals: Vec<Principal>,
    /// Subscriptions that exist; requests for others get `404 SubscriptionNotFound`.
    pub subscriptions: Vec<String>,
    /// `expires_in` of issued tokens; ARM refuses them afterwards (`ExpiredAuthenticationToken`).
    /// `azure_identity` refreshes a token 5 minutes before it expires, so a lifetime of 300 s or
    /// less makes a client fetch a new token for every request.
    pub token_lifetime: Duration,
    /// Timing of answers and LROs.
    pub timing: Timing,
    /// Injected faults.
    pub faults: Faults,
    /// Seed of the fault generator (same seed + same request sequence = same faults).
    pub seed: u64,
    /// Answer to writes on a Network resource that another operation holds.
    pub conflict_style: ConflictStyle,
    /// Deliver Network "in use" refusals of a DELETE (`InUseSubnetCannotBeDeleted`, `NicInUse`,
    /// …) as a 202 whose operation then fails, as the real service sometimes does, instead of a
    /// synchronous 400.
    pub async_in_use_errors: bool,
    /// After a VM is deleted, its detached NICs are reserved for this long
    /// (`NicReservedForAnotherVm`); Azure uses 180 s. Zero (the default) disables it.
    pub nic_reservation: Duration,
    /// Public IP addresses are allocated from this IPv4 CIDR. The default is a loopback range on
    /// purpose: anything that connects to a "public" address of a fake VM stays on this machine.
    pub public_ip_pool: String,
    /// Items per page of every list; more are reached through `nextLink` (`$skiptoken`). The
    /// default, 1000, is what ARM's resource and resource-group lists return per page; a test
    /// sets a small one to make a client follow `nextLink`.
    pub page_size: usize,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            arm_port: 0,
            token_port: 0,
            principals: vec![Principal::default()],
            subscriptions: vec!["00000000-0000-0000-0000-000000000000".to_string()],
            token_lifetime: Duration::from_secs(3599),
            timing: Timing::default(),
            faults: Faults::default(),
            seed: 14,
            conflict_style: ConflictStyle::default(),
            async_in_use_errors: false,
            nic_reservation: Duration::ZERO,
            public_ip_pool: "127.100.0.0/16".to_string(),
            page_size: 1000,
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}

mod millis_map {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::ResourceKind;

    pub fn serialize<S: Serializer>(
        m: &BTreeMap<ResourceKind, Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        m.iter()
            .map(|(k, d)| (*k, d.as_millis() as u64))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<ResourceKind, Duration>, D::Error> {
        Ok(BTreeMap::<ResourceKind, u64>::deserialize(d)?
            .into_iter()
            .map(|(k, ms)| (k, Duration::from_millis(ms)))
            .collect())
    }
}
