//! The resource types the fake serves, their ARM type names and the api-versions it accepts.

use serde::{Deserialize, Serialize};

/// A resource type the fake knows.
///
/// Serialized as the last segment of its ARM type (`"virtualNetworks"`, `"virtualMachines"`, …), which
/// is also how the control API and [`crate::Stats`] name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ResourceKind {
    /// `Microsoft.Resources/resourceGroups`
    #[serde(rename = "resourceGroups")]
    ResourceGroup,
    /// `Microsoft.Network/virtualNetworks`
    #[serde(rename = "virtualNetworks")]
    VirtualNetwork,
    /// `Microsoft.Network/virtualNetworks/subnets`
    #[serde(rename = "subnets")]
    Subnet,
    /// `Microsoft.Network/networkSecurityGroups`
    #[serde(rename = "networkSecurityGroups")]
    NetworkSecurityGroup,
    /// `Microsoft.Network/networkSecurityGroups/securityRules`
    #[serde(rename = "securityRules")]
    SecurityRule,
    /// `Microsoft.Network/publicIPAddresses`
    #[serde(rename = "publicIPAddresses")]
    PublicIpAddress,
    /// `Microsoft.Network/networkInterfaces`
    #[serde(rename = "networkInterfaces")]
    NetworkInterface,
    /// `Microsoft.Compute/virtualMachines`
    #[serde(rename = "virtualMachines")]
    VirtualMachine,
    /// `Microsoft.Compute/disks` (created implicitly as a VM's OS disk)
    #[serde(rename = "disks")]
    Disk,
}

/// The resource provider (namespace) that answers for a kind; it decides the LRO style.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `Microsoft.Resources` (ARM itself).
    Resources,
    /// `Microsoft.Network`.
    Network,
    /// `Microsoft.Compute`.
    Compute,
}

/// api-versions of `Microsoft.Resources` (resource groups, `/resources` listings).
pub const RESOURCES_API_VERSIONS: &[&str] = &[
    "2019-10-01",
    "2020-06-01",
    "2021-04-01",
    "2022-09-01",
    "2023-07-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
];
/// api-versions of `Microsoft.Network` the fake accepts.
pub const NETWORK_API_VERSIONS: &[&str] = &[
    "2022-07-01",
    "2022-09-01",
    "2023-04-01",
    "2023-05-01",
    "2023-06-01",
    "2023-09-01",
    "2023-11-01",
    "2024-01-01",
    "2024-03-01",
    "2024-05-01",
];
/// api-versions of `Microsoft.Compute/virtualMachines` the fake accepts.
pub const COMPUTE_API_VERSIONS: &[&str] = &[
    "2022-08-01",
    "2022-11-01",
    "2023-03-01",
    "2023-07-01",
    "2023-09-01",
    "2024-03-01",
    "2024-07-01",
    "2024-11-01",
];
/// api-versions of `Microsoft.Compute/disks` (the disk RP versions differently from VMs).
pub const DISK_API_VERSIONS: &[&str] = &[
    "2022-07-02",
    "2023-01-02",
    "2023-04-02",
    "2023-10-02",
    "2024-03-02",
];

impl ResourceKind {
    /// Every kind, parents before children.
    pub const ALL: [ResourceKind; 9] = [
        ResourceKind::ResourceGroup,
        ResourceKind::VirtualNetwork,
        ResourceKind::Subnet,
        ResourceKind::NetworkSecurityGroup,
        ResourceKind::SecurityRule,
        ResourceKind::PublicIpAddress,
        ResourceKind::NetworkInterface,
        ResourceKind::VirtualMachine,
        ResourceKind::Disk,
    ];

    /// The full ARM type, e.g. `Microsoft.Network/virtualNetworks/subnets`.
    pub fn arm_type(self) -> &'static str {
        match self {
            ResourceKind::ResourceGroup => "Microsoft.Resources/resourceGroups",
            ResourceKind::VirtualNetwork => "Microsoft.Network/virtualNetworks",
            ResourceKind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            ResourceKind::NetworkSecurityGroup => "Microsoft.Network/networkSecurityGroups",
            ResourceKind::SecurityRule => "Microsoft.Network/networkSecurityGroups/securityRules",
            ResourceKind::PublicIpAddress => "Microsoft.Network/publicIPAddresses",
            ResourceKind::NetworkInterface => "Microsoft.Network/networkInterfaces",
            ResourceKind::VirtualMachine => "Microsoft.Compute/virtualMachines",
            ResourceKind::Disk => "Microsoft.Compute/disks",
        }
    }

    /// The URL segment naming the type (the last part of [`Self::arm_type`]).
    pub fn segment(self) -> &'static str {
        self.arm_type().rsplit('/').next().unwrap_or_default()
    }

    /// The provider answering for this kind.
    pub fn provider(self) -> Provider {
        match self {
            ResourceKind::ResourceGroup => Provider::Resources,
            ResourceKind::VirtualMachine | ResourceKind::Disk => Provider::Compute,
            _ => Provider::Network,
        }
    }

    /// The kind this one is nested under, for child resources.
    pub fn parent(self) -> Option<ResourceKind> {
        match self {
            ResourceKind::Subnet => Some(ResourceKind::VirtualNetwork),
            ResourceKind::SecurityRule => Some(ResourceKind::NetworkSecurityGroup),
            _ => None,
        }
    }

    /// The api-versions the fake accepts for this kind.
    pub fn api_versions(self) -> &'static [&'static str] {
        match self {
            ResourceKind::ResourceGroup => RESOURCES_API_VERSIONS,
            ResourceKind::VirtualMachine => COMPUTE_API_VERSIONS,
            ResourceKind::Disk => DISK_API_VERSIONS,
            _ => NETWORK_API_VERSIONS,
        }
    }

    /// Top-level kinds under `providers/{namespace}/{type}` for a namespace and type segment
    /// (both compared case-insensitively).
    pub(crate) fn top_level(namespace: &str, segment: &str) -> Option<ResourceKind> {
        Self::ALL.into_iter().find(|k| {
            k.parent().is_none()
                && *k != ResourceKind::ResourceGroup
                && k.arm_type()
                    .split('/')
                    .next()
                    .is_some_and(|ns| ns.eq_ignore_ascii_case(namespace))
                && k.segment().eq_ignore_ascii_case(segment)
        })
    }

    /// The child kind of `self` whose URL segment is `segment`.
    pub(crate) fn child(self, segment: &str) -> Option<ResourceKind> {
        Self::ALL
            .into_iter()
            .find(|k| k.parent() == Some(self) && k.segment().eq_ignore_ascii_case(segment))
    }

    /// Whether resources of this kind carry `location` and `tags` (ARM "tracked" resources).
    pub(crate) fn tracked(self) -> bool {
        self.parent().is_none()
    }
}

impl std::fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.segment())
    }
}
