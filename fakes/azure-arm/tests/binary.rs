//! The `azure-arm-fake` binary as a script uses it: start, wait for READY, get a token with the
//! OAuth form, call ARM, read `/_fake`, stop with SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

#[tokio::test]
async fn the_binary_serves_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let ready = dir.path().join("ready.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_azure-arm-fake"))
        .args(["--lro-ms", "20", "--latency-ms", "1", "--retry-after", "0"])
        .arg("--ca-file")
        .arg(&ca)
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("READY arm=https://127.0.0.1:"), "{line}");
    let facts: Value = serde_json::from_str(&std::fs::read_to_string(&ready).unwrap()).unwrap();
    let arm = facts["arm_url"].as_str().unwrap().to_string();
    assert!(line.contains(&arm));

    let pem = std::fs::read(&ca).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .no_proxy()
        .build()
        .unwrap();
    let token_url = format!(
        "{}/{}/oauth2/v2.0/token",
        facts["authority_url"].as_str().unwrap(),
        facts["tenant_id"].as_str().unwrap()
    );
    let form = [
        ("client_id", facts["client_id"].as_str().unwrap()),
        ("client_secret", "fake-client-secret"),
        ("grant_type", "client_credentials"),
        ("scope", "https://management.azure.com/.default"),
    ];
    let body = form
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(':', "%3A").replace('/', "%2F")))
        .collect::<Vec<_>>()
        .join("&");
    let t: Value = common::json_of(
        http.post(&token_url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await;
    assert_eq!(t["token_type"], "Bearer");
    assert_eq!(t["expires_in"], 3599);
    let token = t["access_token"].as_str().unwrap();

    let rg = format!(
        "{arm}/subscriptions/{}/resourcegroups/script-rg?api-version=2021-04-01",
        facts["subscription_id"].as_str().unwrap()
    );
    let r = http
        .put(&rg)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(json!({"location": "eastus"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let listed: Value = common::json_of(http.get(format!("{arm}/_fake/resources"))).await;
    assert_eq!(listed["value"][0]["name"], "script-rg");
    let timing: Value = common::json_of(http.get(format!("{arm}/_fake/timing"))).await;
    assert_eq!(timing["latency_ms"], 1);
    assert_eq!(timing["lro"]["default_ms"], 20);
    assert_eq!(timing["lro"]["per_kind_ms"]["virtualMachines"], 60);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success(), "exits cleanly on SIGTERM");
}
