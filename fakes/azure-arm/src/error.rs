//! ARM error bodies: `{"error": {"code", "message", "target"?, "details"?}}` with the real codes.
//!
//! Each constructor names the situation the real service answers with that code; messages follow
//! the templates seen in real responses so that a client matching on text behaves as it would
//! against Azure.

use serde::Serialize;
use serde_json::{Value, json};

/// An error the fake answers with, in ARM's shape.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArmError {
    /// HTTP status code.
    #[serde(skip)]
    pub status: u16,
    /// `error.code`, e.g. `InUseSubnetCannotBeDeleted`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.target`, when the service names the offending parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `error.details`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<Value>>,
    /// `Retry-After` seconds sent with the error (429s).
    #[serde(skip)]
    pub retry_after: Option<u64>,
    /// Answered by ARM's front door rather than a provider (adds `x-ms-failure-cause: gateway`).
    #[serde(skip)]
    pub gateway: bool,
}

impl std::fmt::Display for ArmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ArmError {}

impl ArmError {
    /// An error with a status, code and message.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> ArmError {
        ArmError {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            details: None,
            retry_after: None,
            gateway: false,
        }
    }

    pub(crate) fn with_target(mut self, target: &str) -> ArmError {
        self.target = Some(target.to_string());
        self
    }

    /// Network's bodies carry `"details": []`.
    pub(crate) fn with_empty_details(mut self) -> ArmError {
        self.details = Some(Vec::new());
        self
    }

    fn by_gateway(mut self) -> ArmError {
        self.gateway = true;
        self
    }

    /// The `{"error": …}` body.
    pub fn body(&self) -> Value {
        json!({ "error": self })
    }

    // ---- ARM front door ----

    pub(crate) fn missing_api_version() -> ArmError {
        ArmError::new(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    }

    pub(crate) fn unsupported_api_version(
        version: &str,
        arm_type: &str,
        supported: &[&str],
    ) -> ArmError {
        ArmError::new(
            400,
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'eastus' and API version \
                 '{version}' for type '{}'. The supported api-versions are '{}'.",
                arm_type.split_once('/').map_or(arm_type, |(_, t)| t),
                supported.join(", ")
            ),
        )
    }

    pub(crate) fn subscription_not_found(sub: &str) -> ArmError {
        ArmError::new(
            404,
            "SubscriptionNotFound",
            format!("The subscription '{sub}' could not be found."),
        )
        .by_gateway()
    }

    pub(crate) fn resource_group_not_found(rg: &str) -> ArmError {
        ArmError::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
        .by_gateway()
    }

    /// A missing top-level resource in an existing group.
    pub(crate) fn resource_not_found(arm_type: &str, name: &str, rg: &str) -> ArmError {
        ArmError::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource '{arm_type}/{name}' under resource group '{rg}' was not found. \
                 For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
        .by_gateway()
    }

    pub(crate) fn parent_not_found(parent_name: &str) -> ArmError {
        ArmError::new(
            404,
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource \
                 '{parent_name}' not found."
            ),
        )
        .by_gateway()
    }

    pub(crate) fn group_being_deleted(rg: &str) -> ArmError {
        ArmError::new(
            409,
            "ResourceGroupBeingDeleted",
            format!(
                "The resource group '{rg}' is in deprovisioning state and cannot perform this \
                 operation."
            ),
        )
    }

    pub(crate) fn invalid_group_location(new: &str, old: &str) -> ArmError {
        ArmError::new(
            409,
            "InvalidResourceGroupLocation",
            format!(
                "Invalid resource group location '{new}'. The Resource group already exists in \
                 location '{old}'."
            ),
        )
    }

    pub(crate) fn invalid_resource_location(
        name: &str,
        old: &str,
        rg: &str,
        new: &str,
    ) -> ArmError {
        ArmError::new(
            400,
            "InvalidResourceLocation",
            format!(
                "The resource '{name}' already exists in location '{old}' in resource group \
                 '{rg}'. A resource with the same name cannot be created in location '{new}'. \
                 Please select a new resource name."
            ),
        )
    }

    pub(crate) fn invalid_group_name(rg: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidResourceGroup",
            format!(
                "The provided resource group name '{rg}' has these invalid characters or length. \
                 The name can only be a letter, digit, '-', '.', '(', ')' or '_', at most 90 \
                 characters, and cannot end in a period."
            ),
        )
    }

    pub(crate) fn invalid_resource_name(name: &str, segment: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidResourceName",
            format!(
                "Resource name {name} is invalid. The name can be up to 80 characters long. It \
                 must begin with a word character, and it must end with a word character or with \
                 '_'. The name may contain word characters or '.', '-', '_'. (type {segment})"
            ),
        )
    }

    pub(crate) fn invalid_request_content(detail: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidRequestContent",
            format!("The request content was invalid and could not be deserialized: '{detail}'."),
        )
    }

    pub(crate) fn location_required() -> ArmError {
        ArmError::new(
            400,
            "LocationRequired",
            "The location property is required for this definition.",
        )
    }

    pub(crate) fn throttled(sub: &str, class: &str, retry_after: u64) -> ArmError {
        let mut e = ArmError::new(
            429,
            "SubscriptionRequestsThrottled",
            format!(
                "Number of '{class}' requests for subscription '{sub}' exceeded. Please try again \
                 after '{retry_after}' seconds after the additional tokens are available. Refer \
                 to https://aka.ms/arm-throttling"
            ),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub(crate) fn internal(request_id: &str) -> ArmError {
        ArmError::new(
            500,
            "InternalServerError",
            format!(
                "Encountered internal server error. Diagnostic information: timestamp \
                 '{}', tracking id '{request_id}'.",
                crate::clock::rfc3339_now()
            ),
        )
    }

    pub(crate) fn no_route(method: &str, path: &str) -> ArmError {
        ArmError::new(
            404,
            "NotFound",
            format!("The fake ARM has no route for {method} {path}."),
        )
    }

    pub(crate) fn method_not_allowed(method: &str) -> ArmError {
        ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested resource does not support http method '{method}'."),
        )
    }

    pub(crate) fn invalid_resource_type(namespace: &str, segment: &str) -> ArmError {
        ArmError::new(
            404,
            "InvalidResourceType",
            format!(
                "The resource type '{segment}' could not be found in the namespace '{namespace}' \
                 served by the fake."
            ),
        )
    }

    pub(crate) fn invalid_filter(filter: &str) -> ArmError {
        ArmError::new(
            400,
            "BadRequest",
            format!(
                "Invalid $filter '{filter}'. Supported: tagName eq 'k' [and tagValue eq 'v'], \
                 resourceType eq 'Namespace/type'."
            ),
        )
    }

    /// Something this fake deliberately does not implement (a clear refusal, not a silent guess).
    pub(crate) fn unsupported(what: &str) -> ArmError {
        ArmError::new(
            501,
            "NotImplementedInFake",
            format!("The fake ARM does not implement {what}."),
        )
    }

    // ---- Microsoft.Network ----

    /// Network's generic "this body is wrong" code.
    pub(crate) fn invalid_request_format(message: impl Into<String>) -> ArmError {
        ArmError::new(400, "InvalidRequestFormat", message).with_empty_details()
    }

    pub(crate) fn nested_not_found(id: &str) -> ArmError {
        ArmError::new(404, "NotFound", format!("Resource {id} not found.")).with_empty_details()
    }

    pub(crate) fn invalid_reference(ref_id: &str, by: &str) -> ArmError {
        ArmError::new(
            400,
            "InvalidResourceReference",
            format!(
                "Resource {ref_id} referenced by resource {by} was not found. Please make sure \
                 that the referenced resource exists, and that both resources are in the same \
                 region."
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn referenced_not_provisioned(
        ref_id: &str,
        by: &str,
        state: &str,
        kind: &str,
    ) -> ArmError {
        ArmError::new(
            400,
            "ReferencedResourceNotProvisioned",
            format!(
                "Cannot proceed with operation because resource {ref_id} used by resource {by} \
                 is not in Succeeded state. Resource is in {state} state and the last operation \
                 that updated/is updating the resource is Put{kind}Operation."
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn subnet_in_use(subnet_name: &str, users: &[String]) -> ArmError {
        ArmError::new(
            400,
            "InUseSubnetCannotBeDeleted",
            format!(
                "Subnet {subnet_name} is in use by {} and cannot be deleted. In order to delete \
                 the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
                users.join(", ")
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn subnet_in_use_update(subnet_name: &str, users: &[String]) -> ArmError {
        ArmError::new(
            400,
            "InUseSubnetCannotBeUpdated",
            format!(
                "Subnet {subnet_name} is in use by {} and its address prefix cannot be updated.",
                users.join(", ")
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn nsg_in_use(nsg_id: &str, users: &[String]) -> ArmError {
        ArmError::new(
            400,
            "InUseNetworkSecurityGroupCannotBeDeleted",
            format!(
                "Network security group {nsg_id} cannot be deleted because it is in use by the \
                 following resources: {}. In order to delete the Network security group, remove \
                 the association with the resource(s). To learn how to do this, see \
                 aka.ms/deletensg.",
                users.join(", ")
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn pip_cannot_be_deleted(pip_id: &str, ipconfig: &str) -> ArmError {
        ArmError::new(
            400,
            "PublicIPAddressCannotBeDeleted",
            format!(
                "Public IP address {pip_id} can not be deleted since it is still allocated to \
                 resource {ipconfig}. In order to delete the public IP, disassociate/detach the \
                 Public IP address from the resource.  To learn how to do this, see \
                 aka.ms/deletepublicip."
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn pip_in_use(ipconfig: &str, pip_id: &str, other: &str) -> ArmError {
        ArmError::new(
            400,
            "PublicIPAddressInUse",
            format!(
                "IP configuration {ipconfig} is referencing public IP address {pip_id} that is \
                 already allocated to resource {other}."
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn nic_in_use(nic_id: &str, vm_id: &str) -> ArmError {
        ArmError::new(
            400,
            "NicInUse",
            format!(
                "Network Interface {nic_id} is used by existing resource {vm_id}. In order to \
                 delete the network interface, it must be dissociated from the resource. To learn \
                 more, see aka.ms/deletenic."
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn nic_reserved(vm_id: &str, seconds: u64) -> ArmError {
        ArmError::new(
            400,
            "NicReservedForAnotherVm",
            format!(
                "Nic(s) in request is reserved for another Virtual Machine for {seconds} seconds. \
                 Please provide another nic(s) or retry after {seconds} seconds. Reserved VM: \
                 {vm_id}"
            ),
        )
    }

    pub(crate) fn another_operation(async_url: &str) -> ArmError {
        ArmError::new(
            409,
            "AnotherOperationInProgress",
            format!(
                "Another operation on this or dependent resource is in progress. To retrieve \
                 status of the operation use uri: {async_url}."
            ),
        )
        .with_empty_details()
    }

    pub(crate) fn retryable_another_operation(id: &str, retry_after: u64) -> ArmError {
        let mut e = ArmError::new(
            429,
            "RetryableErrorDueToAnotherOperation",
            format!(
                "Operation could not be completed as it results in exceeding the allowed number \
                 of concurrent operations on resource {id}: another operation is in progress. \
                 Please retry after some time."
            ),
        )
        .with_empty_details();
        e.retry_after = Some(retry_after);
        e
    }

    // ---- Microsoft.Compute ----

    pub(crate) fn invalid_parameter(target: &str, message: impl Into<String>) -> ArmError {
        ArmError::new(400, "InvalidParameter", message).with_target(target)
    }

    pub(crate) fn missing_parameter(target: &str) -> ArmError {
        ArmError::invalid_parameter(
            target,
            format!("Required parameter '{target}' is missing (null)."),
        )
    }

    pub(crate) fn compute_not_found(id: &str) -> ArmError {
        ArmError::new(404, "NotFound", format!("Resource {id} not found."))
    }

    pub(crate) fn property_change_not_allowed(property: &str) -> ArmError {
        ArmError::new(
            409,
            "PropertyChangeNotAllowed",
            format!("Changing property '{property}' is not allowed."),
        )
        .with_target(property)
    }

    pub(crate) fn vm_marked_for_deletion(op: &str, vm: &str) -> ArmError {
        ArmError::new(
            409,
            "OperationNotAllowed",
            format!(
                "Operation '{op}' is not allowed on VM '{vm}' since the VM is marked for \
                 deletion. You can only retry the Delete operation (or wait for an ongoing one to \
                 complete)."
            ),
        )
    }

    pub(crate) fn disk_attached(disk: &str, vm_id: &str) -> ArmError {
        ArmError::new(
            409,
            "OperationNotAllowed",
            format!("Disk {disk} is attached to VM {vm_id}."),
        )
    }

    pub(crate) fn preempted() -> ArmError {
        ArmError::new(
            409,
            "OperationPreempted",
            "Operation execution has been preempted by a more recent operation.",
        )
    }

    // ---- resource group deletion ----

    pub(crate) fn deletion_blocked(rg: &str, blocked: &[(String, ArmError)]) -> ArmError {
        // ARM names each member by its type path: `Microsoft.Network/virtualNetworks/vnet`.
        let ids: Vec<String> = blocked
            .iter()
            .map(|(id, _)| {
                id.split_once("/providers/")
                    .map_or(id.as_str(), |(_, rest)| rest)
                    .to_string()
            })
            .collect();
        let mut e = ArmError::new(
            409,
            "ResourceGroupDeletionBlocked",
            format!(
                "Deletion of resource group '{rg}' failed as resources with identifiers '{}' \
                 could not be deleted. The provisioning state of the resource group will be \
                 rolled back. The tracking Id is '{}'. Please check audit logs for more details.",
                ids.join(","),
                uuid::Uuid::new_v4()
            ),
        );
        e.details = Some(
            blocked
                .iter()
                .map(|(_, err)| json!({ "code": err.code, "message": err.body().to_string() }))
                .collect(),
        );
        e
    }
}
