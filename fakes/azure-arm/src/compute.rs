//! `Microsoft.Compute`: Linux (and Windows-shaped) virtual machines on existing NICs, the managed
//! OS disk each VM creates, and the instance view.
//!
//! Not modelled, and refused with `501 NotImplementedInFake` rather than guessed: NICs created by
//! the VM (`networkInterfaceConfigurations`), data disks, attaching an existing OS disk, creating
//! disks directly.

use serde_json::{Map, Value, json};

use crate::ResourceKind;
use crate::body;
use crate::error::ArmError;
use crate::handlers::{PutCtx, Upsert, upsert};
use crate::store::{self, ProvState, Resource, State, prop_str, str_at, vm_nic_refs};

/// User names Azure refuses for a Linux admin.
const RESERVED_USERS: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "test",
    "user2",
    "test1",
    "user3",
    "admin1",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin2",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test2",
    "test3",
    "user4",
    "user5",
];

fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, p| v.get(*p))
}

/// Whether `nic_id` is the VM's primary NIC (the only one is primary by default).
pub(crate) fn nic_is_primary(vm: &Resource, nic_id: &str) -> bool {
    let nics = vm_nic_refs(vm);
    vm.props
        .get("networkProfile")
        .and_then(|n| n.get("networkInterfaces"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|n| {
            n.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| store::key(id) == store::key(nic_id))
        })
        .and_then(|n| get_path(n, &["properties", "primary"]))
        .and_then(Value::as_bool)
        .unwrap_or(nics.len() == 1)
}

pub(crate) fn put_vm(st: &mut State, ctx: &PutCtx) -> Result<Vec<String>, ArmError> {
    let mut props = ctx.body.properties.clone();
    body::strip(
        &mut props,
        &[
            "provisioningState",
            "vmId",
            "timeCreated",
            "instanceView",
            "resources",
        ],
    );
    let pv = Value::Object(props.clone());

    // Hardware.
    let size = str_at(&pv, &["hardwareProfile", "vmSize"])
        .ok_or_else(|| ArmError::missing_parameter("hardwareProfile.vmSize"))?
        .to_string();

    // Network.
    if get_path(&pv, &["networkProfile", "networkInterfaceConfigurations"]).is_some() {
        return Err(ArmError::unsupported(
            "networkProfile.networkInterfaceConfigurations (create the NICs first)",
        ));
    }
    let nic_items: Vec<Value> = get_path(&pv, &["networkProfile", "networkInterfaces"])
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if nic_items.is_empty() {
        return Err(ArmError::invalid_parameter(
            "networkProfile",
            "At least one network interface must be specified in networkProfile.networkInterfaces.",
        ));
    }
    let explicit_primaries = nic_items
        .iter()
        .filter(|n| get_path(n, &["properties", "primary"]).and_then(Value::as_bool) == Some(true))
        .count();
    if nic_items.len() > 1 && explicit_primaries != 1 {
        return Err(ArmError::new(
            400,
            "VMMustHaveOneNetworkInterfaceAsPrimary",
            format!(
                "Virtual machine {} must have one network interface set as the primary.",
                ctx.name
            ),
        ));
    }
    let mut nics_out = Vec::new();
    let mut nic_keys = Vec::new();
    for item in &nic_items {
        let nic_id = item.get("id").and_then(Value::as_str).ok_or_else(|| {
            ArmError::invalid_parameter(
                "networkProfile.networkInterfaces.id",
                "Every network interface needs an 'id'.",
            )
        })?;
        let nic = st
            .get_kind(nic_id, ResourceKind::NetworkInterface)
            .ok_or_else(|| ArmError::compute_not_found(nic_id))?;
        if nic.state != ProvState::Succeeded {
            return Err(ArmError::referenced_not_provisioned(
                &nic.id,
                &ctx.id,
                nic.state.as_str(),
                "NetworkInterface",
            ));
        }
        if let Some(vm) = st.nic_vm(&nic.key())
            && vm.key() != store::key(&ctx.id)
        {
            return Err(ArmError::nic_in_use(&nic.id, &vm.id));
        }
        if let Some((until, vm)) = &nic.reserved {
            let secs = until
                .saturating_duration_since(std::time::Instant::now())
                .as_secs()
                + 1;
            return Err(ArmError::nic_reserved(vm, secs));
        }
        let mut p = item
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if nic_items.len() == 1 {
            p.entry("primary").or_insert(json!(true));
        }
        let delete = p
            .get("deleteOption")
            .and_then(Value::as_str)
            .unwrap_or("Detach")
            .to_string();
        if delete != "Delete" && delete != "Detach" {
            return Err(ArmError::invalid_parameter(
                "deleteOption",
                format!("Unknown deleteOption '{delete}'."),
            ));
        }
        p.insert("deleteOption".into(), json!(delete));
        nic_keys.push(nic.key());
        nics_out.push(json!({ "id": nic.id, "properties": p }));
    }

    // Storage.
    if get_path(&pv, &["storageProfile", "dataDisks"])
        .and_then(Value::as_array)
        .is_some_and(|d| !d.is_empty())
    {
        return Err(ArmError::unsupported("data disks"));
    }
    let create_option =
        str_at(&pv, &["storageProfile", "osDisk", "createOption"]).unwrap_or("FromImage");
    if create_option != "FromImage" {
        return Err(ArmError::unsupported(
            "OS disks other than createOption FromImage",
        ));
    }
    let image = get_path(&pv, &["storageProfile", "imageReference"])
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ArmError::missing_parameter("imageReference"))?;
    let windows = get_path(&pv, &["osProfile", "windowsConfiguration"]).is_some()
        || image
            .get("publisher")
            .and_then(Value::as_str)
            .is_some_and(|p| p.contains("Windows"));

    // OS profile: the password is checked, never kept.
    let mut os = get_path(&pv, &["osProfile"])
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ArmError::missing_parameter("osProfile"))?;
    let admin = os
        .get("adminUsername")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ArmError::missing_parameter("adminUsername"))?
        .to_string();
    if RESERVED_USERS.contains(&admin.to_ascii_lowercase().as_str()) {
        return Err(ArmError::invalid_parameter(
            "adminUsername",
            "The Admin Username specified is not allowed.",
        ));
    }
    let password = os
        .remove("adminPassword")
        .and_then(|p| p.as_str().map(|s| !s.is_empty()))
        .unwrap_or(false);
    os.remove("customData");
    if !windows {
        let linux = os
            .entry("linuxConfiguration")
            .or_insert(json!({}))
            .as_object_mut()
            .ok_or_else(|| {
                ArmError::invalid_parameter(
                    "linuxConfiguration",
                    "linuxConfiguration must be an object.",
                )
            })?;
        let keys = linux
            .get("ssh")
            .and_then(|s| s.get("publicKeys"))
            .and_then(Value::as_array)
            .is_some_and(|k| !k.is_empty());
        let disable = linux
            .get("disablePasswordAuthentication")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if disable && !keys {
            return Err(ArmError::invalid_parameter(
                "linuxConfiguration.ssh.publicKeys",
                "Authentication using either SSH or by user name and password must be enabled in Linux profile.",
            ));
        }
        if !disable && !password && ctx.existing.is_none() {
            return Err(ArmError::missing_parameter("adminPassword"));
        }
        linux.insert("disablePasswordAuthentication".into(), json!(disable));
        linux.entry("provisionVMAgent").or_insert(json!(true));
        linux
            .entry("patchSettings")
            .or_insert(json!({"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"}));
    } else if !password && ctx.existing.is_none() {
        return Err(ArmError::missing_parameter("adminPassword"));
    } else if let Some(w) = os
        .get_mut("windowsConfiguration")
        .and_then(Value::as_object_mut)
    {
        w.entry("provisionVMAgent").or_insert(json!(true));
        w.entry("enableAutomaticUpdates").or_insert(json!(true));
    } else {
        os.insert(
            "windowsConfiguration".into(),
            json!({"provisionVMAgent": true, "enableAutomaticUpdates": true}),
        );
    }
    os.entry("computerName").or_insert(json!(ctx.name));
    os.entry("secrets").or_insert(json!([]));
    os.entry("allowExtensionOperations").or_insert(json!(true));
    os.entry("requireGuestProvisionSignal")
        .or_insert(json!(true));

    // OS disk.
    let mut os_disk = get_path(&pv, &["storageProfile", "osDisk"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let existing_disk = ctx.existing.as_ref().and_then(|e| {
        prop_str(&e.props, &["storageProfile", "osDisk", "managedDisk", "id"]).map(str::to_string)
    });
    let disk_name = os_disk
        .get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            existing_disk
                .as_ref()
                .and_then(|d| d.rsplit('/').next().map(str::to_string))
        })
        .unwrap_or_else(|| format!("{}_OsDisk_1_{}", ctx.name, uuid::Uuid::new_v4().simple()));
    let disk_id = format!(
        "{}/providers/Microsoft.Compute/disks/{disk_name}",
        ctx.group.id
    );
    let storage_type = os_disk
        .get("managedDisk")
        .and_then(|m| m.get("storageAccountType"))
        .and_then(Value::as_str)
        .unwrap_or("Standard_LRS")
        .to_string();
    let size_gb = os_disk
        .get("diskSizeGB")
        .and_then(Value::as_i64)
        .unwrap_or(30);
    let disk_delete = os_disk
        .get("deleteOption")
        .and_then(Value::as_str)
        .unwrap_or("Detach")
        .to_string();
    if disk_delete != "Delete" && disk_delete != "Detach" {
        return Err(ArmError::invalid_parameter(
            "osDisk.deleteOption",
            format!("Unknown deleteOption '{disk_delete}'."),
        ));
    }
    os_disk.insert(
        "osType".into(),
        json!(if windows { "Windows" } else { "Linux" }),
    );
    os_disk.insert("name".into(), json!(disk_name));
    os_disk.insert("createOption".into(), json!("FromImage"));
    os_disk.entry("caching").or_insert(json!("ReadWrite"));
    os_disk.insert(
        "managedDisk".into(),
        json!({ "storageAccountType": storage_type, "id": disk_id }),
    );
    os_disk.insert("deleteOption".into(), json!(disk_delete));
    os_disk.insert("diskSizeGB".into(), json!(size_gb));

    // An update may not change what only a new VM could.
    if let Some(old) = &ctx.existing {
        let old = Value::Object(old.props.clone());
        let same = |path: &[&str], new: Option<&Value>| get_path(&old, path) == new;
        if !same(&["osProfile", "adminUsername"], os.get("adminUsername")) {
            return Err(ArmError::property_change_not_allowed(
                "osProfile.adminUsername",
            ));
        }
        if !same(&["osProfile", "computerName"], os.get("computerName")) {
            return Err(ArmError::property_change_not_allowed(
                "osProfile.computerName",
            ));
        }
        if !same(
            &["storageProfile", "imageReference"],
            Some(&Value::Object(image.clone())),
        ) {
            return Err(ArmError::property_change_not_allowed("imageReference"));
        }
        if existing_disk.as_deref().map(store::key) != Some(store::key(&disk_id)) {
            return Err(ArmError::property_change_not_allowed("osDisk.name"));
        }
        let old_nics: Vec<String> = get_path(&old, &["networkProfile", "networkInterfaces"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|n| n.get("id").and_then(Value::as_str).map(store::key))
            .collect();
        if old_nics != nic_keys {
            return Err(ArmError::new(
                409,
                "OperationNotAllowed",
                format!(
                    "Network interfaces of VM '{}' can only be changed while it is deallocated; the fake keeps VMs running.",
                    ctx.name
                ),
            ));
        }
    } else if let Some(disk) = st.get_kind(&disk_id, ResourceKind::Disk) {
        return Err(ArmError::new(
            409,
            "ConflictingUserInput",
            format!(
                "Disk {} already exists in resource group {}. Only CreateOption.Attach is supported.",
                disk.name, ctx.group.name
            ),
        ));
    }

    let mut storage = get_path(&pv, &["storageProfile"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    storage.insert("imageReference".into(), Value::Object(image.clone()));
    storage.insert("osDisk".into(), Value::Object(os_disk));
    storage.insert("dataDisks".into(), json!([]));
    let mut network = get_path(&pv, &["networkProfile"])
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    network.insert("networkInterfaces".into(), Value::Array(nics_out));

    let (vm_id, created) = match &ctx.existing {
        Some(e) => (
            e.props
                .get("vmId")
                .cloned()
                .unwrap_or(json!(uuid::Uuid::new_v4().to_string())),
            e.props
                .get("timeCreated")
                .cloned()
                .unwrap_or(json!(crate::clock::rfc3339_now())),
        ),
        None => (
            json!(uuid::Uuid::new_v4().to_string()),
            json!(crate::clock::rfc3339_now()),
        ),
    };
    let mut out = Map::new();
    out.insert("vmId".into(), vm_id);
    out.insert("hardwareProfile".into(), json!({ "vmSize": size }));
    out.insert("storageProfile".into(), Value::Object(storage));
    out.insert("osProfile".into(), Value::Object(os));
    out.insert("networkProfile".into(), Value::Object(network));
    for (k, v) in props {
        if !matches!(
            k.as_str(),
            "hardwareProfile" | "storageProfile" | "osProfile" | "networkProfile"
        ) {
            out.insert(k, v);
        }
    }
    out.insert("timeCreated".into(), created);

    let group = store::group_key(&ctx.sub, &ctx.group.name);
    if ctx.existing.is_none() {
        let location = ctx.body.location.clone().unwrap_or_default();
        let image_id = format!(
            "/Subscriptions/{}/Providers/Microsoft.Compute/Locations/{location}/Publishers/{}/ArtifactTypes/VMImage/Offers/{}/Skus/{}/Versions/{}",
            ctx.sub,
            image
                .get("publisher")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            image
                .get("offer")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            image.get("sku").and_then(Value::as_str).unwrap_or_default(),
            image
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or("latest"),
        );
        let mut disk_props = Map::new();
        disk_props.insert(
            "osType".into(),
            json!(if windows { "Windows" } else { "Linux" }),
        );
        disk_props.insert("hyperVGeneration".into(), json!("V1"));
        disk_props.insert(
            "creationData".into(),
            json!({ "createOption": "FromImage", "imageReference": { "id": image_id } }),
        );
        disk_props.insert("diskSizeGB".into(), json!(size_gb));
        disk_props.insert("diskSizeBytes".into(), json!(size_gb * 1024 * 1024 * 1024));
        disk_props.insert(
            "encryption".into(),
            json!({ "type": "EncryptionAtRestWithPlatformKey" }),
        );
        disk_props.insert("networkAccessPolicy".into(), json!("AllowAll"));
        disk_props.insert("publicNetworkAccess".into(), json!("Enabled"));
        let tier = if storage_type.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        };
        let mut top = Map::new();
        top.insert("sku".into(), json!({ "name": storage_type, "tier": tier }));
        upsert(
            st,
            Upsert {
                kind: ResourceKind::Disk,
                id: disk_id.clone(),
                name: disk_name,
                sub: ctx.sub.clone(),
                group: group.clone(),
                parent: None,
                location: ctx.body.location.clone(),
                tags: None,
                props: disk_props,
                top,
            },
        );
    }
    upsert(
        st,
        Upsert {
            kind: ResourceKind::VirtualMachine,
            id: ctx.id.clone(),
            name: ctx.name.clone(),
            sub: ctx.sub.clone(),
            group,
            parent: None,
            location: ctx.body.location.clone(),
            tags: ctx.body.tags.clone(),
            props: out,
            top: ctx.body.top.clone(),
        },
    );
    Ok(vec![ctx.id.clone()])
}

/// `GET …/virtualMachines/{vm}/instanceView` (and `$expand=instanceView`).
pub(crate) fn instance_view(st: &State, vm: &Resource) -> Value {
    let now = crate::clock::rfc3339_now();
    let props = Value::Object(vm.props.clone());
    let (prov_code, prov_display, level) = match vm.state {
        ProvState::Succeeded => (
            "ProvisioningState/succeeded".to_string(),
            "Provisioning succeeded",
            "Info",
        ),
        ProvState::Creating => ("ProvisioningState/creating".to_string(), "Creating", "Info"),
        ProvState::Updating => ("ProvisioningState/updating".to_string(), "Updating", "Info"),
        ProvState::Deleting => ("ProvisioningState/deleting".to_string(), "Deleting", "Info"),
        ProvState::Failed => {
            let code = vm
                .op
                .as_ref()
                .and_then(|id| st.ops.get(id))
                .and_then(|op| match &op.status {
                    crate::lro::OpStatus::Failed(e) => Some(e.code.clone()),
                    _ => None,
                })
                .unwrap_or_else(|| "InternalError".to_string());
            (
                format!("ProvisioningState/failed/{code}"),
                "Provisioning failed",
                "Error",
            )
        }
    };
    let (power_code, power_display) = match vm.state {
        ProvState::Creating => ("PowerState/starting", "VM starting"),
        ProvState::Deleting => ("PowerState/stopping", "VM stopping"),
        ProvState::Failed => ("PowerState/stopped", "VM stopped"),
        _ => ("PowerState/running", "VM running"),
    };
    let disk_name = str_at(&props, &["storageProfile", "osDisk", "name"]).unwrap_or_default();
    json!({
        "platformUpdateDomain": 0,
        "platformFaultDomain": 0,
        "computerName": str_at(&props, &["osProfile", "computerName"]),
        "osName": str_at(&props, &["storageProfile", "imageReference", "offer"]),
        "osVersion": str_at(&props, &["storageProfile", "imageReference", "sku"]),
        "vmAgent": {
            "vmAgentVersion": "2.11.1.12",
            "statuses": [{
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Ready",
                "message": "GuestAgent is running and processing the extensions.",
                "time": now,
            }],
            "extensionHandlers": [],
        },
        "disks": [{
            "name": disk_name,
            "statuses": [{
                "code": "ProvisioningState/succeeded",
                "level": "Info",
                "displayStatus": "Provisioning succeeded",
                "time": crate::clock::rfc3339(vm.created),
            }],
        }],
        "hyperVGeneration": "V1",
        "isVMInStandbyPool": false,
        "statuses": [
            { "code": prov_code, "level": level, "displayStatus": prov_display, "time": now },
            { "code": power_code, "level": "Info", "displayStatus": power_display },
        ],
    })
}
