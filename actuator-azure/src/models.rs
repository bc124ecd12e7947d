//! Typed ARM bodies for the handful of resources the proxy manages (the fields it writes or
//! reads, per the REST API's swagger). Each keeps what it does not know in `other`, so a body read
//! from ARM and written back loses nothing (a network's subnets, a security group's rules).
//! Read-only fields (`provisioningState`, `vmId`, back-references) are never written.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields of another resource (or of this one) that the proxy does not manage, kept as they are.
pub(crate) type Other = Map<String, Value>;

/// A tracked resource: id, name, location, tags, SKU and typed properties.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Tracked<P> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(default)]
    pub properties: P,
    /// Top-level fields the proxy does not manage (`zones`, `etag` …).
    #[serde(flatten)]
    pub other: Other,
}

/// A child resource embedded in its parent (a network's subnet, a group's rule) or addressed by
/// itself (no location, no tags).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Child<P> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default)]
    pub properties: P,
}

/// `{"id": …}`: a reference to another resource.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdRef {
    pub id: String,
}

impl IdRef {
    pub fn to(id: impl Into<String>) -> Self {
        IdRef { id: id.into() }
    }
}

/// A SKU (public IPs).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Sku {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
}

/// The one read-only field every resource's properties have.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GroupProps {
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
}

// ------------------------------------------------------------------------------------ network

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AddressSpace {
    pub address_prefixes: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DhcpOptions {
    pub dns_servers: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VnetProps {
    #[serde(default)]
    pub address_space: AddressSpace,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_options: Option<DhcpOptions>,
    /// Every subnet: a PUT without one deletes it, so an update writes back what it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnets: Option<Vec<Child<SubnetProps>>>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SubnetProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address_prefixes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<IdRef>,
    /// Read-only: the interfaces in the subnet.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub ip_configurations: Option<Vec<IdRef>>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl SubnetProps {
    /// The subnet's range (`addressPrefix`, or the first of `addressPrefixes`).
    pub fn prefix(&self) -> Option<&str> {
        self.address_prefix.as_deref().or_else(|| {
            self.address_prefixes
                .as_ref()
                .and_then(|p| p.first())
                .map(String::as_str)
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NsgProps {
    /// Every rule: a PUT without one deletes it, so an update writes back what it read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_rules: Option<Vec<Child<RuleProps>>>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RuleProps {
    pub protocol: String,
    pub source_port_range: Option<String>,
    pub destination_port_range: Option<String>,
    pub source_address_prefix: Option<String>,
    pub destination_address_prefix: Option<String>,
    pub access: String,
    pub priority: i64,
    pub direction: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DnsSettings {
    pub domain_name_label: String,
    #[serde(default, skip_serializing)]
    pub fqdn: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PipProps {
    #[serde(rename = "publicIPAllocationMethod")]
    pub allocation: String,
    #[serde(rename = "publicIPAddressVersion")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_settings: Option<DnsSettings>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_in_minutes: Option<u8>,
    /// Read-only: the address, once allocated.
    #[serde(default, skip_serializing)]
    pub ip_address: Option<String>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IpConfigProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<IdRef>,
    #[serde(rename = "privateIPAllocationMethod", default)]
    pub private_allocation: Option<String>,
    #[serde(
        rename = "privateIPAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub private_ip: Option<String>,
    #[serde(
        rename = "publicIPAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_ip: Option<IdRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NicProps {
    #[serde(default)]
    pub ip_configurations: Vec<Child<IpConfigProps>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_security_group: Option<IdRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_accelerated_networking: Option<bool>,
    /// Read-only: set once a VM uses the interface.
    #[serde(default, skip_serializing)]
    pub mac_address: Option<String>,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

impl NicProps {
    /// The primary IP configuration (the only one, or the one marked primary).
    pub fn primary(&self) -> Option<&IpConfigProps> {
        let c = &self.ip_configurations;
        c.iter()
            .find(|c| c.properties.primary == Some(true))
            .or_else(|| c.first())
            .map(|c| &c.properties)
    }
}

// ------------------------------------------------------------------------------------ compute

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HardwareProfile {
    pub vm_size: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ImageRef {
    pub publisher: String,
    pub offer: String,
    pub sku: String,
    pub version: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ManagedDisk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_account_type: Option<String>,
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OsDiskModel {
    pub create_option: String,
    pub delete_option: String,
    #[serde(
        rename = "diskSizeGB",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disk_size_gb: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_disk: Option<ManagedDisk>,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StorageProfile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_reference: Option<ImageRef>,
    #[serde(default)]
    pub os_disk: OsDiskModel,
    #[serde(flatten)]
    pub other: Other,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SshKey {
    pub path: String,
    pub key_data: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SshConfig {
    pub public_keys: Vec<SshKey>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LinuxConfiguration {
    pub disable_password_authentication: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshConfig>,
    #[serde(flatten)]
    pub other: Other,
}

/// The OS profile. Its password is written once, in the create, and never printed: ARM never
/// returns it, and `Debug` hides it.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OsProfile {
    pub computer_name: String,
    pub admin_username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linux_configuration: Option<LinuxConfiguration>,
    #[serde(flatten)]
    pub other: Other,
}

impl fmt::Debug for OsProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OsProfile")
            .field("computer_name", &self.computer_name)
            .field("admin_username", &self.admin_username)
            .field(
                "admin_password",
                &self.admin_password.as_ref().map(|_| "***"),
            )
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NicRefProps {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_option: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct NicRef {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<NicRefProps>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NetworkProfile {
    pub network_interfaces: Vec<NicRef>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct VmProps {
    #[serde(default, skip_serializing)]
    pub vm_id: Option<String>,
    #[serde(default)]
    pub hardware_profile: HardwareProfile,
    #[serde(default)]
    pub storage_profile: StorageProfile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_profile: Option<OsProfile>,
    #[serde(default)]
    pub network_profile: NetworkProfile,
    /// Read-only: declared so that a body read and written back never carries it.
    #[allow(dead_code)]
    #[serde(default, skip_serializing)]
    pub provisioning_state: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

/// Reads a typed body (the proxy's own models always fit what ARM returns; a failure is a bug
/// worth its message).
pub(crate) fn parse<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("unexpected {what} body from ARM: {e}"))
}

/// Writes a typed body.
pub(crate) fn json<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_read_body_written_back_keeps_unknown_fields_and_drops_read_only_ones() {
        let read = json!({
            "id": "/x", "name": "v", "type": "Microsoft.Network/virtualNetworks", "location": "l",
            "etag": "W/\"1\"",
            "properties": {
                "provisioningState": "Succeeded",
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "enableDdosProtection": false,
                "subnets": [{"id": "/x/subnets/a", "name": "a", "properties": {
                    "addressPrefix": "10.0.1.0/24", "provisioningState": "Succeeded",
                    "ipConfigurations": [{"id": "/n/ipConfigurations/c"}],
                    "privateEndpointNetworkPolicies": "Disabled"}}]
            }
        });
        let v: Tracked<VnetProps> = parse(&read, "vnet").unwrap();
        let back = json(&v);
        assert_eq!(back["properties"]["enableDdosProtection"], false);
        let s = &back["properties"]["subnets"][0]["properties"];
        assert_eq!(s["privateEndpointNetworkPolicies"], "Disabled");
        assert!(s.get("ipConfigurations").is_none() && s.get("provisioningState").is_none());
        assert!(back["properties"].get("provisioningState").is_none());
    }

    #[test]
    fn a_password_is_never_in_debug() {
        let p = OsProfile {
            admin_password: Some("hunter2-X".into()),
            ..OsProfile::default()
        };
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
