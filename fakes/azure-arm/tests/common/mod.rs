//! A small raw-HTTP ARM client for the tests: it speaks to the fake exactly as a client of the
//! real service would (HTTPS, bearer token, api-version), and helpers build common fixtures.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use azure_arm_fake::{ArmFake, FakeConfig, FakeHandle, LroDurations, ResourceKind, Timing};
use serde_json::{Value, json};

pub const RG_API: &str = "2021-04-01";
pub const NET_API: &str = "2024-03-01";
pub const VM_API: &str = "2024-07-01";
pub const DISK_API: &str = "2024-03-02";

/// A fake with short LROs.
pub fn fast_config() -> FakeConfig {
    FakeConfig {
        timing: Timing {
            latency: Duration::ZERO,
            lro: LroDurations::uniform(Duration::from_millis(60))
                .with(ResourceKind::VirtualMachine, Duration::from_millis(150))
                .with(ResourceKind::ResourceGroup, Duration::from_millis(100)),
            retry_after_secs: 0,
        },
        ..FakeConfig::default()
    }
}

pub fn start(config: FakeConfig) -> FakeHandle {
    ArmFake::start(config).expect("fake starts")
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn state(&self) -> &str {
        self.body["properties"]["provisioningState"]
            .as_str()
            .unwrap_or_default()
    }
}

/// A client of one fake.
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub sub: String,
    pub token: Option<String>,
}

/// A reqwest client that trusts the fake's CA and nothing else.
pub fn http_for(fake: &FakeHandle) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).expect("CA parses");
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("client builds")
}

/// The JSON body of a raw reqwest answer (`null` when empty).
pub async fn json_of(resp: reqwest::RequestBuilder) -> Value {
    let bytes = resp
        .send()
        .await
        .expect("request completes")
        .bytes()
        .await
        .expect("body");
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON body")
    }
}

impl Client {
    pub fn new(fake: &FakeHandle) -> Client {
        Client {
            http: http_for(fake),
            base: fake.arm_url().to_string(),
            sub: fake.subscription_id().to_string(),
            token: Some(fake.issue_token()),
        }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        }
    }

    /// Sends a request; a body is sent as JSON.
    pub async fn send(&self, method: &str, path: &str, body: Option<&Value>) -> Resp {
        self.try_send(method, path, body)
            .await
            .expect("request completes")
    }

    /// Sends a request, returning transport errors (closed connections) instead of panicking.
    pub async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Resp, reqwest::Error> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await?;
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send("GET", path, None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Resp {
        self.send("PUT", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Resp {
        self.send("PATCH", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.send("DELETE", path, None).await
    }

    // ---- paths ----

    pub fn rg(&self, rg: &str) -> String {
        format!(
            "/subscriptions/{}/resourcegroups/{rg}?api-version={RG_API}",
            self.sub
        )
    }

    /// `…/resourceGroups/{rg}/providers/Microsoft.Network/{rest}?api-version=…`
    pub fn net(&self, rg: &str, rest: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Network/{rest}?api-version={NET_API}",
            self.sub
        )
    }

    pub fn vm(&self, rg: &str, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachines/{name}?api-version={VM_API}",
            self.sub
        )
    }

    pub fn disk(&self, rg: &str, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name}?api-version={DISK_API}",
            self.sub
        )
    }

    pub fn id(&self, rg: &str, rest: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{rg}/providers/{rest}",
            self.sub
        )
    }

    // ---- LRO helpers ----

    /// Polls an `Azure-AsyncOperation` URL until the status is terminal; returns the last body.
    pub async fn wait_async(&self, url: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.get(url).await;
            assert_eq!(r.status, 200, "status URL answers 200: {r:?}");
            let status = r.body["status"].as_str().unwrap_or_default().to_string();
            if status != "InProgress" {
                return r.body;
            }
            assert!(Instant::now() < deadline, "operation never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls a `Location` URL until it stops answering 202; returns the final answer.
    pub async fn wait_location(&self, url: &str) -> Resp {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.get(url).await;
            if r.status != 202 {
                return r;
            }
            assert!(r.header("location").is_some(), "a 202 repeats Location");
            assert!(Instant::now() < deadline, "operation never finished");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// PUT and wait for its `Azure-AsyncOperation` to succeed; returns the GET after it.
    pub async fn put_done(&self, path: &str, body: &Value) -> Resp {
        let r = self.put(path, body).await;
        assert!(matches!(r.status, 200 | 201), "PUT {path}: {r:?}");
        if let Some(url) = r.header("azure-asyncoperation").map(str::to_string) {
            let status = self.wait_async(&url).await;
            assert_eq!(status["status"], "Succeeded", "PUT {path}: {status}");
        }
        self.get(path).await
    }

    /// DELETE and wait through `Location` for it to finish; returns the final answer.
    pub async fn delete_done(&self, path: &str) -> Resp {
        let r = self.delete(path).await;
        match r.status {
            202 => {
                let loc = r.header("location").expect("202 has Location").to_string();
                self.wait_location(&loc).await
            }
            _ => r,
        }
    }

    // ---- fixtures ----

    pub async fn create_rg(&self, rg: &str) {
        let r = self.put(&self.rg(rg), &json!({"location": "eastus"})).await;
        assert!(matches!(r.status, 200 | 201), "{r:?}");
    }

    /// A VNet `vnet` 10.0.0.0/16 with subnet `default` 10.0.1.0/24.
    pub async fn create_network(&self, rg: &str) -> String {
        self.put_done(
            &self.net(rg, "virtualNetworks/vnet"),
            &json!({
                "location": "eastus",
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                    "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.1.0/24"}}]
                }
            }),
        )
        .await;
        self.id(rg, "Microsoft.Network/virtualNetworks/vnet/subnets/default")
    }

    pub async fn create_pip(&self, rg: &str, name: &str) -> String {
        self.put_done(
            &self.net(rg, &format!("publicIPAddresses/{name}")),
            &json!({"location": "eastus", "sku": {"name": "Standard"}, "properties": {"publicIPAllocationMethod": "Static"}}),
        )
        .await;
        self.id(rg, &format!("Microsoft.Network/publicIPAddresses/{name}"))
    }

    pub async fn create_nic(
        &self,
        rg: &str,
        name: &str,
        subnet: &str,
        pip: Option<&str>,
    ) -> String {
        let mut ipc = json!({"subnet": {"id": subnet}});
        if let Some(p) = pip {
            ipc["publicIPAddress"] = json!({"id": p});
        }
        let r = self
            .put_done(
                &self.net(rg, &format!("networkInterfaces/{name}")),
                &json!({"location": "eastus", "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": ipc}]}}),
            )
            .await;
        assert_eq!(r.status, 200);
        self.id(rg, &format!("Microsoft.Network/networkInterfaces/{name}"))
    }

    pub fn vm_body(nic: &str) -> Value {
        json!({
            "location": "eastus",
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B1s"},
                "storageProfile": {
                    "imageReference": {"publisher": "Debian", "offer": "debian-12", "sku": "12-gen2", "version": "latest"},
                    "osDisk": {"createOption": "FromImage", "deleteOption": "Delete"}
                },
                "osProfile": {
                    "adminUsername": "azureuser",
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": true,
                        "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample test"}]}
                    }
                },
                "networkProfile": {"networkInterfaces": [{"id": nic, "properties": {"deleteOption": "Delete"}}]}
            }
        })
    }

    pub async fn create_vm(&self, rg: &str, name: &str, nic: &str) -> Resp {
        self.put_done(&self.vm(rg, name), &Client::vm_body(nic))
            .await
    }
}
