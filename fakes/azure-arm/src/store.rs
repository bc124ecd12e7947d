//! The fake's state: resource groups, resources, operations, issued tokens and counters, behind
//! one lock. Back-references (a subnet's `ipConfigurations`, a NIC's `virtualMachine`, …) are not
//! stored: they are derived from the forward references when rendering and checking, so they can
//! never disagree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::config::{ConflictStyle, FailAction, FailNext, FakeConfig, Faults, Timing};
use crate::error::ArmError;
use crate::faults::Buckets;
use crate::ipam::Cidr;
use crate::lro::{Effect, OpStatus, Operation};
use crate::stats::{RequestRecord, Stats};
use crate::token::TokenStore;
use crate::{Principal, ResourceKind};

/// `provisioningState` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProvState {
    Succeeded,
    Creating,
    Updating,
    Deleting,
    Failed,
}

impl ProvState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProvState::Succeeded => "Succeeded",
            ProvState::Creating => "Creating",
            ProvState::Updating => "Updating",
            ProvState::Deleting => "Deleting",
            ProvState::Failed => "Failed",
        }
    }
}

/// A resource group.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub id: String,
    pub name: String,
    pub sub: String,
    pub location: String,
    pub tags: Option<Map<String, Value>>,
    pub managed_by: Option<String>,
    /// The deletion in flight.
    pub deleting: Option<String>,
}

/// A resource below a group.
#[derive(Clone, Debug)]
pub(crate) struct Resource {
    pub id: String,
    pub kind: ResourceKind,
    pub name: String,
    pub sub: String,
    /// Key of the group (`sub/rg`, lowercase).
    pub group: String,
    /// Key of the parent resource, for child kinds.
    pub parent: Option<String>,
    pub location: Option<String>,
    pub tags: Option<Map<String, Value>>,
    /// The stored `properties`, read-only values removed or recomputed.
    pub props: Map<String, Value>,
    /// Other top-level members kept verbatim (`sku`, `zones`, …).
    pub top: Map<String, Value>,
    pub state: ProvState,
    pub etag: String,
    pub guid: String,
    /// Creation order, so children render in the order they were made.
    pub seq: u64,
    /// The operation in flight on this resource.
    pub op: Option<String>,
    pub created: OffsetDateTime,
    /// NIC: assigned when a VM using it has been provisioned.
    pub mac: Option<String>,
    /// Public IP: the allocated address.
    pub ip_address: Option<String>,
    /// NIC: reserved for a deleted VM until then.
    pub reserved: Option<(Instant, String)>,
}

impl Resource {
    /// The key resources are stored under.
    pub fn key(&self) -> String {
        key(&self.id)
    }
}

/// The lookup key of an id: ARM ids compare case-insensitively.
pub(crate) fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// The key of a group.
pub(crate) fn group_key(sub: &str, rg: &str) -> String {
    format!("{sub}/{rg}").to_ascii_lowercase()
}

/// `value[a][b]…` as a string.
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, p| v.get(*p))
        .and_then(Value::as_str)
}

/// An id referenced at `value[a][b]…["id"]`.
pub(crate) fn ref_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = value;
    for p in path {
        v = v.get(*p)?;
    }
    v.get("id").and_then(Value::as_str)
}

/// `props[a][b]…` as a string.
pub(crate) fn prop_str<'a>(props: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    str_at(props.get(*first)?, rest)
}

/// An id referenced at `props[a][b]…["id"]`.
pub(crate) fn prop_ref<'a>(props: &'a Map<String, Value>, path: &[&str]) -> Option<&'a str> {
    let (first, rest) = path.split_first()?;
    ref_at(props.get(*first)?, rest)
}

/// Everything behind the fake's lock.
pub(crate) struct State {
    pub base_url: String,
    pub authority_url: String,
    pub timing: Timing,
    pub faults: Faults,
    pub conflict_style: ConflictStyle,
    pub async_in_use_errors: bool,
    pub nic_reservation: Duration,
    pub public_ip_pool: Cidr,
    pub subscriptions: Vec<String>,
    pub principals: Vec<Principal>,
    pub token_lifetime: Duration,
    pub page_size: usize,
    pub groups: BTreeMap<String, Group>,
    pub resources: BTreeMap<String, Resource>,
    pub ops: HashMap<String, Operation>,
    /// Operations not yet completed, by due time (so `advance` need not scan finished ones).
    pub pending: BTreeSet<(Instant, u64, String)>,
    pub fail_rules: Vec<FailNext>,
    pub tokens: TokenStore,
    pub buckets: Buckets,
    pub rng: StdRng,
    pub stats: Stats,
    pub requests: Vec<RequestRecord>,
    seq: u64,
    counter: u32,
}

impl State {
    pub fn new(cfg: &FakeConfig, base_url: String, authority_url: String) -> State {
        State {
            base_url,
            authority_url,
            timing: cfg.timing.clone(),
            faults: cfg.faults.clone(),
            conflict_style: cfg.conflict_style,
            async_in_use_errors: cfg.async_in_use_errors,
            nic_reservation: cfg.nic_reservation,
            public_ip_pool: Cidr::parse(&cfg.public_ip_pool)
                .unwrap_or_else(|| Cidr::parse("127.100.0.0/16").expect("valid default pool")),
            subscriptions: cfg.subscriptions.clone(),
            principals: cfg.principals.clone(),
            token_lifetime: cfg.token_lifetime,
            page_size: cfg.page_size,
            groups: BTreeMap::new(),
            resources: BTreeMap::new(),
            ops: HashMap::new(),
            pending: BTreeSet::new(),
            fail_rules: Vec::new(),
            tokens: TokenStore::default(),
            buckets: Buckets::new(&cfg.faults.throttle),
            rng: StdRng::seed_from_u64(cfg.seed),
            stats: Stats::default(),
            requests: Vec::new(),
            seq: 0,
            counter: 0,
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// A counter for MAC addresses and public IPs.
    pub fn next_counter(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    // ---- lookups ----

    pub fn group(&self, sub: &str, rg: &str) -> Option<&Group> {
        self.groups.get(&group_key(sub, rg))
    }

    pub fn check_subscription(&self, sub: &str) -> Result<(), ArmError> {
        if self
            .subscriptions
            .iter()
            .any(|s| s.eq_ignore_ascii_case(sub))
        {
            Ok(())
        } else {
            Err(ArmError::subscription_not_found(sub))
        }
    }

    /// The group, or `ResourceGroupNotFound`.
    pub fn require_group(&self, sub: &str, rg: &str) -> Result<&Group, ArmError> {
        self.group(sub, rg)
            .ok_or_else(|| ArmError::resource_group_not_found(rg))
    }

    /// The group for a write: it must exist and not be being deleted.
    pub fn writable_group(&self, sub: &str, rg: &str) -> Result<&Group, ArmError> {
        let g = self.require_group(sub, rg)?;
        if g.deleting.is_some() {
            return Err(ArmError::group_being_deleted(&g.name));
        }
        Ok(g)
    }

    pub fn get(&self, id: &str) -> Option<&Resource> {
        self.resources.get(&key(id))
    }

    /// A referenced resource of the given kind.
    pub fn get_kind(&self, id: &str, kind: ResourceKind) -> Option<&Resource> {
        self.get(id).filter(|r| r.kind == kind)
    }

    pub fn of_kind(&self, kind: ResourceKind) -> impl Iterator<Item = &Resource> {
        self.resources.values().filter(move |r| r.kind == kind)
    }

    /// Children of `parent_key` in creation order.
    pub fn children(&self, parent_key: &str) -> Vec<&Resource> {
        let mut v: Vec<&Resource> = self
            .resources
            .values()
            .filter(|r| r.parent.as_deref() == Some(parent_key))
            .collect();
        v.sort_by_key(|r| r.seq);
        v
    }

    /// The in-flight operation holding a resource.
    pub fn busy(&self, res: &Resource) -> Option<&Operation> {
        res.op
            .as_ref()
            .and_then(|id| self.ops.get(id))
            .filter(|op| op.status == OpStatus::InProgress)
    }

    // ---- back-references, derived ----

    /// `…/networkInterfaces/{nic}/ipConfigurations/{name}` ids whose subnet is `subnet_key`.
    pub fn subnet_users(&self, subnet_key: &str) -> Vec<String> {
        let mut users = Vec::new();
        for nic in self.of_kind(ResourceKind::NetworkInterface) {
            for ipc in ip_configs(nic) {
                if ref_at(ipc, &["properties", "subnet"]).map(key).as_deref() == Some(subnet_key) {
                    users.push(ip_config_id(nic, ipc));
                }
            }
        }
        users
    }

    /// Subnets and NICs associated with an NSG.
    pub fn nsg_users(&self, nsg_key: &str) -> (Vec<String>, Vec<String>) {
        let pick = |kind| {
            self.of_kind(kind)
                .filter(|r| {
                    prop_ref(&r.props, &["networkSecurityGroup"])
                        .map(key)
                        .as_deref()
                        == Some(nsg_key)
                })
                .map(|r| r.id.clone())
                .collect::<Vec<_>>()
        };
        (
            pick(ResourceKind::Subnet),
            pick(ResourceKind::NetworkInterface),
        )
    }

    /// The NIC ipConfiguration a public IP is attached to.
    pub fn pip_user(&self, pip_key: &str) -> Option<String> {
        self.of_kind(ResourceKind::NetworkInterface)
            .flat_map(|nic| ip_configs(nic).map(move |ipc| (nic, ipc)))
            .find(|(_, ipc)| {
                ref_at(ipc, &["properties", "publicIPAddress"])
                    .map(key)
                    .as_deref()
                    == Some(pip_key)
            })
            .map(|(nic, ipc)| ip_config_id(nic, ipc))
    }

    /// The VM using a NIC.
    pub fn nic_vm(&self, nic_key: &str) -> Option<&Resource> {
        self.of_kind(ResourceKind::VirtualMachine)
            .find(|vm| vm_nic_refs(vm).iter().any(|(id, _)| key(id) == nic_key))
    }

    /// The VM whose OS disk is `disk_key`.
    pub fn disk_vm(&self, disk_key: &str) -> Option<&Resource> {
        self.of_kind(ResourceKind::VirtualMachine).find(|vm| {
            prop_str(
                &vm.props,
                &["storageProfile", "osDisk", "managedDisk", "id"],
            )
            .map(key)
            .as_deref()
                == Some(disk_key)
        })
    }

    /// Private addresses in use in a subnet, except those of `except_nic`.
    pub fn used_addresses(&self, subnet_key: &str, except_nic: &str) -> Vec<Ipv4Addr> {
        self.of_kind(ResourceKind::NetworkInterface)
            .filter(|nic| nic.key() != except_nic)
            .flat_map(ip_configs)
            .filter(|ipc| {
                ref_at(ipc, &["properties", "subnet"]).map(key).as_deref() == Some(subnet_key)
            })
            .filter_map(|ipc| str_at(ipc, &["properties", "privateIPAddress"]))
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    // ---- fault rules ----

    /// Takes a matching [`FailNext`] rule, if any, as the error the operation will end with.
    pub fn take_failure(&mut self, kind: ResourceKind, action: FailAction) -> Option<ArmError> {
        let rule = self.fail_rules.iter_mut().find(|r| {
            r.kind == kind && r.count > 0 && (r.action == FailAction::Any || r.action == action)
        })?;
        rule.count -= 1;
        let code = rule.code.clone().unwrap_or_else(|| {
            if kind == ResourceKind::VirtualMachine {
                "AllocationFailed".to_string()
            } else {
                "InternalServerError".to_string()
            }
        });
        let message = rule.message.clone().unwrap_or_else(|| {
            if kind == ResourceKind::VirtualMachine {
                "Allocation failed. We do not have sufficient capacity for the requested VM size \
                 in this region. (injected by the fake)"
                    .to_string()
            } else {
                "An error occurred. (injected by the fake)".to_string()
            }
        });
        self.fail_rules.retain(|r| r.count > 0);
        Some(ArmError::new(200, &code, message))
    }

    // ---- time ----

    /// Completes every operation that is due, oldest first, applying its effect.
    pub fn advance(&mut self, now: Instant) {
        while let Some((due, _, _)) = self.pending.first()
            && *due <= now
        {
            let Some((_, _, id)) = self.pending.pop_first() else {
                break;
            };
            // Preempted or canceled operations are no longer in progress: nothing to apply.
            if self
                .ops
                .get(&id)
                .is_some_and(|op| op.status == OpStatus::InProgress)
            {
                self.complete(&id);
            }
        }
        // NIC reservations lapse.
        if !self.nic_reservation.is_zero() {
            for r in self.resources.values_mut() {
                if r.reserved.as_ref().is_some_and(|(until, _)| *until <= now) {
                    r.reserved = None;
                }
            }
        }
    }

    fn complete(&mut self, op_id: &str) {
        let Some(op) = self.ops.get(op_id) else {
            return;
        };
        let effect = op.effect.clone();
        let fail = op.fail.clone();
        let status = match effect {
            Effect::Provision { ids } => {
                for id in &ids {
                    let k = key(id);
                    if let Some(r) = self.resources.get_mut(&k)
                        && r.op.as_deref() == Some(op_id)
                    {
                        // `op` stays: it names the last operation (and its error) until the next.
                        r.state = if fail.is_some() {
                            ProvState::Failed
                        } else {
                            ProvState::Succeeded
                        };
                    }
                }
                if fail.is_none()
                    && let Some(vm) = ids.first().and_then(|id| self.get(id)).cloned()
                    && vm.kind == ResourceKind::VirtualMachine
                {
                    self.vm_started(&vm);
                }
                match fail {
                    Some(e) => OpStatus::Failed(e),
                    None => OpStatus::Succeeded,
                }
            }
            Effect::Delete { id } => {
                let k = key(&id);
                if let Some(e) = fail {
                    if let Some(r) = self.resources.get_mut(&k) {
                        r.state = ProvState::Failed;
                    }
                    OpStatus::Failed(e)
                } else {
                    self.remove(&k);
                    OpStatus::Succeeded
                }
            }
            Effect::DeleteGroup { group } => self.finish_group_delete(&group),
        };
        if let Some(op) = self.ops.get_mut(op_id) {
            op.status = status;
            op.ended = Some(OffsetDateTime::now_utc());
        }
    }

    /// A VM finished provisioning: its NICs get MAC addresses and its dynamic public IPs an
    /// address.
    fn vm_started(&mut self, vm: &Resource) {
        for (nic_id, _) in vm_nic_refs(vm) {
            let nic_key = key(&nic_id);
            let n = self.next_counter();
            let Some(nic) = self.resources.get_mut(&nic_key) else {
                continue;
            };
            if nic.mac.is_none() {
                nic.mac = Some(format!(
                    "00-0D-3A-{:02X}-{:02X}-{:02X}",
                    (n >> 16) & 0xff,
                    (n >> 8) & 0xff,
                    n & 0xff
                ));
            }
            let pips: Vec<String> = ip_configs(nic)
                .filter_map(|ipc| ref_at(ipc, &["properties", "publicIPAddress"]))
                .map(key)
                .collect();
            for pip in pips {
                let n = self.next_counter();
                let addr = self.public_ip_pool.nth(n).to_string();
                if let Some(p) = self.resources.get_mut(&pip)
                    && p.ip_address.is_none()
                {
                    p.ip_address = Some(addr);
                }
            }
        }
    }

    /// Removes a resource with what goes with it: children, and for a VM the disks and NICs
    /// whose `deleteOption` is `Delete`. Dynamic public IPs of the VM's other NICs lose their
    /// address, and those NICs are reserved if [`FakeConfig::nic_reservation`] is set.
    pub fn remove(&mut self, k: &str) {
        let Some(res) = self.resources.get(k).cloned() else {
            return;
        };
        for child in self.children(k).iter().map(|c| c.key()).collect::<Vec<_>>() {
            self.remove(&child);
        }
        if res.kind == ResourceKind::VirtualMachine {
            if let Some(disk) = prop_str(
                &res.props,
                &["storageProfile", "osDisk", "managedDisk", "id"],
            ) && prop_str(&res.props, &["storageProfile", "osDisk", "deleteOption"])
                == Some("Delete")
            {
                self.remove(&key(disk));
            }
            for (nic_id, delete) in vm_nic_refs(&res) {
                let nic_key = key(&nic_id);
                let pips: Vec<String> = self
                    .resources
                    .get(&nic_key)
                    .map(|nic| {
                        ip_configs(nic)
                            .filter_map(|ipc| ref_at(ipc, &["properties", "publicIPAddress"]))
                            .map(key)
                            .collect()
                    })
                    .unwrap_or_default();
                if delete {
                    self.remove(&nic_key);
                } else if let Some(nic) = self.resources.get_mut(&nic_key) {
                    nic.mac = None;
                    if !self.nic_reservation.is_zero() {
                        nic.reserved =
                            Some((Instant::now() + self.nic_reservation, res.id.clone()));
                    }
                }
                // A dynamic public address lives only while its VM runs.
                for pip in pips {
                    if let Some(p) = self.resources.get_mut(&pip)
                        && p.props
                            .get("publicIPAllocationMethod")
                            .and_then(Value::as_str)
                            != Some("Static")
                    {
                        p.ip_address = None;
                    }
                }
            }
        }
        if let Some(removed) = self.resources.remove(k) {
            *self.stats.deleted.entry(removed.id.clone()).or_default() += 1;
            // An operation still running on a resource that is gone ends, preempted.
            if let Some(op_id) = &removed.op
                && let Some(op) = self.ops.get_mut(op_id)
                && op.status == OpStatus::InProgress
                && !matches!(op.effect, Effect::Delete { .. })
            {
                op.status = OpStatus::Canceled(ArmError::preempted());
                op.ended = Some(OffsetDateTime::now_utc());
            }
        }
    }

    /// Why a resource cannot be deleted now, if it cannot.
    pub fn delete_blocker(&self, res: &Resource) -> Option<ArmError> {
        let k = res.key();
        match res.kind {
            ResourceKind::Subnet => {
                let users = self.subnet_users(&k);
                (!users.is_empty()).then(|| ArmError::subnet_in_use(&res.name, &users))
            }
            ResourceKind::VirtualNetwork => self.children(&k).into_iter().find_map(|s| {
                let users = self.subnet_users(&s.key());
                (!users.is_empty()).then(|| ArmError::subnet_in_use(&s.name, &users))
            }),
            ResourceKind::NetworkSecurityGroup => {
                let (subnets, nics) = self.nsg_users(&k);
                let users: Vec<String> = subnets.into_iter().chain(nics).collect();
                (!users.is_empty()).then(|| ArmError::nsg_in_use(&res.id, &users))
            }
            ResourceKind::PublicIpAddress => self
                .pip_user(&k)
                .map(|ipc| ArmError::pip_cannot_be_deleted(&res.id, &ipc)),
            ResourceKind::NetworkInterface => {
                if let Some(vm) = self.nic_vm(&k) {
                    return Some(ArmError::nic_in_use(&res.id, &vm.id));
                }
                res.reserved.as_ref().map(|(until, vm)| {
                    let secs = until.saturating_duration_since(Instant::now()).as_secs() + 1;
                    ArmError::nic_reserved(vm, secs)
                })
            }
            ResourceKind::Disk => self
                .disk_vm(&k)
                .map(|vm| ArmError::disk_attached(&res.name, &vm.id)),
            ResourceKind::SecurityRule
            | ResourceKind::VirtualMachine
            | ResourceKind::ResourceGroup => None,
        }
    }

    /// Deletes every member of a group in ARM's order (dependents first); a member that refuses
    /// fails the whole deletion with `ResourceGroupDeletionBlocked` and the survivors stay.
    fn finish_group_delete(&mut self, group: &str) -> OpStatus {
        const ORDER: [ResourceKind; 8] = [
            ResourceKind::VirtualMachine,
            ResourceKind::Disk,
            ResourceKind::NetworkInterface,
            ResourceKind::PublicIpAddress,
            ResourceKind::SecurityRule,
            ResourceKind::Subnet,
            ResourceKind::VirtualNetwork,
            ResourceKind::NetworkSecurityGroup,
        ];
        let mut blocked: Vec<(String, ArmError)> = Vec::new();
        for kind in ORDER {
            let members: Vec<String> = self
                .resources
                .values()
                .filter(|r| r.group == group && r.kind == kind)
                .map(Resource::key)
                .collect();
            for k in members {
                let Some(res) = self.resources.get(&k).cloned() else {
                    continue;
                };
                let refusal = self
                    .delete_blocker(&res)
                    .or_else(|| self.take_failure(kind, FailAction::Delete));
                match refusal {
                    Some(e) => blocked.push((res.id.clone(), e)),
                    None => self.remove(&k),
                }
            }
        }
        let Some(g) = self.groups.get(group).cloned() else {
            return OpStatus::Succeeded;
        };
        if blocked.is_empty() {
            self.groups.remove(group);
            *self.stats.deleted.entry(g.id.clone()).or_default() += 1;
            OpStatus::Succeeded
        } else {
            if let Some(g) = self.groups.get_mut(group) {
                g.deleting = None;
            }
            OpStatus::Failed(ArmError::deletion_blocked(&g.name, &blocked))
        }
    }
}

/// The ipConfigurations stored on a NIC.
pub(crate) fn ip_configs(nic: &Resource) -> impl Iterator<Item = &Value> {
    nic.props
        .get("ipConfigurations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The id of one of a NIC's ipConfigurations.
pub(crate) fn ip_config_id(nic: &Resource, ipc: &Value) -> String {
    format!(
        "{}/ipConfigurations/{}",
        nic.id,
        ipc.get("name").and_then(Value::as_str).unwrap_or_default()
    )
}

/// A VM's NIC ids, each with whether it is deleted with the VM.
pub(crate) fn vm_nic_refs(vm: &Resource) -> Vec<(String, bool)> {
    vm.props
        .get("networkProfile")
        .and_then(|n| n.get("networkInterfaces"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| {
            let id = n.get("id")?.as_str()?.to_string();
            let delete = str_at(n, &["properties", "deleteOption"]) == Some("Delete");
            Some((id, delete))
        })
        .collect()
}
