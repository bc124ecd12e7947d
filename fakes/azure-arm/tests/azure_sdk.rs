//! The official SDK against the fake: `azure_identity` 1.x's `ClientSecretCredential` gets a token
//! from the fake's HTTPS authority, and an `azure_core` 1.x pipeline with the bearer-token policy
//! calls ARM with it. This is the recipe the Azure proxy uses to talk to the fake.

mod common;

use std::sync::Arc;
use std::time::Duration;

use azure_arm_fake::{FakeConfig, FakeHandle};
use azure_core::cloud::{CloudConfiguration, CustomConfiguration};
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{ClientOptions, Context, Method, Pipeline, Request, Transport, Url};
use azure_identity::{ClientSecretCredential, ClientSecretCredentialOptions};
use serde_json::{Value, json};

const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// The transport: a reqwest client that trusts the fake's CA (and only it).
fn transport(fake: &FakeHandle) -> Transport {
    let ca = reqwest::Certificate::from_pem(fake.ca_pem().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    Transport::new(Arc::new(http))
}

/// Client options for both the credential and the ARM pipeline.
fn options(fake: &FakeHandle) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = fake.authority_url().to_string();
    ClientOptions {
        transport: Some(transport(fake)),
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        ..Default::default()
    }
}

fn credential(fake: &FakeHandle, secret: &str) -> Arc<ClientSecretCredential> {
    let p = fake.principal();
    ClientSecretCredential::new(
        &p.tenant_id,
        p.client_id.clone(),
        Secret::new(secret.to_string()),
        Some(ClientSecretCredentialOptions {
            client_options: options(fake),
        }),
    )
    .unwrap()
}

fn pipeline(fake: &FakeHandle, cred: Arc<ClientSecretCredential>) -> Pipeline {
    let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(cred, [ARM_SCOPE]));
    Pipeline::new(
        Some("azure-arm-fake-tests"),
        Some("0"),
        options(fake),
        Vec::new(),
        vec![auth],
        None,
    )
}

async fn call(
    pipeline: &Pipeline,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> azure_core::Result<(u16, Value, Option<String>)> {
    let mut req = Request::new(Url::parse(url).unwrap(), method);
    if let Some(b) = body {
        req.insert_header("content-type", "application/json");
        req.set_body(b.to_string());
    }
    let resp = pipeline.send(&Context::new(), &mut req, None).await?;
    let status = u16::from(resp.status());
    let async_url = resp
        .headers()
        .get_optional_str(&azure_core::http::headers::HeaderName::from_static(
            "azure-asyncoperation",
        ))
        .map(str::to_string);
    let body = resp.body();
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body).unwrap()
    };
    Ok((status, value, async_url))
}

#[tokio::test]
async fn client_secret_credential_and_pipeline_talk_to_the_fake() {
    let fake = common::start(common::fast_config());
    let cred = credential(&fake, &fake.principal().client_secret);

    // The credential alone: a token for ARM from the fake's authority.
    let token = cred.get_token(&[ARM_SCOPE], None).await.unwrap();
    assert!(token.token.secret().starts_with("fake-arm."));
    assert!(token.expires_on > azure_core::time::OffsetDateTime::now_utc());

    // The pipeline: bearer policy + credential + transport, against ARM.
    let p = pipeline(&fake, cred);
    let sub = fake.subscription_id();
    let rg_url = format!(
        "{}/subscriptions/{sub}/resourcegroups/sdk-rg?api-version=2021-04-01",
        fake.arm_url()
    );
    let (status, body, _) = call(
        &p,
        Method::Put,
        &rg_url,
        Some(json!({"location": "eastus"})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");

    // An LRO through the same pipeline: PUT, then poll Azure-AsyncOperation.
    let vnet_url = format!(
        "{}/subscriptions/{sub}/resourceGroups/sdk-rg/providers/Microsoft.Network/virtualNetworks/v?api-version=2024-03-01",
        fake.arm_url()
    );
    let (status, body, async_url) = call(
        &p,
        Method::Put,
        &vnet_url,
        Some(json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}})),
    )
    .await
    .unwrap();
    assert_eq!(status, 201);
    assert_eq!(body["properties"]["provisioningState"], "Updating");
    let async_url = async_url.expect("network PUT carries Azure-AsyncOperation");
    let mut last = Value::Null;
    for _ in 0..200 {
        last = call(&p, Method::Get, &async_url, None).await.unwrap().1;
        if last["status"] != "InProgress" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(last["status"], "Succeeded");
    let (_, body, _) = call(&p, Method::Get, &vnet_url, None).await.unwrap();
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");

    // One token served every call.
    assert_eq!(fake.stats().tokens_issued, 1);
    assert_eq!(fake.stats().unauthorized, 0);
}

#[tokio::test]
async fn a_wrong_secret_gets_aadsts7000215() {
    let fake = common::start(common::fast_config());
    let cred = credential(&fake, "not-the-secret");
    let err = cred.get_token(&[ARM_SCOPE], None).await.unwrap_err();
    let text = format!("{err}");
    assert!(text.contains("AADSTS7000215"), "{text}");
    assert!(
        !text.contains("not-the-secret"),
        "the error must not echo the secret: {text}"
    );
    assert_eq!(fake.stats().token_failures, 1);
    assert_eq!(fake.stats().tokens_issued, 0);
}

#[tokio::test]
async fn short_lived_tokens_are_renewed_mid_run() {
    // azure_identity refreshes 5 minutes before expiry, so with a 2 s lifetime every call fetches
    // a fresh token; and a token kept past its lifetime is refused by ARM.
    let fake = common::start(FakeConfig {
        token_lifetime: Duration::from_secs(2),
        ..common::fast_config()
    });
    let p = pipeline(&fake, credential(&fake, &fake.principal().client_secret));
    let url = format!(
        "{}/subscriptions/{}/resourcegroups?api-version=2021-04-01",
        fake.arm_url(),
        fake.subscription_id()
    );
    for _ in 0..3 {
        let (status, _, _) = call(&p, Method::Get, &url, None).await.unwrap();
        assert_eq!(status, 200);
    }
    assert!(fake.stats().tokens_issued >= 3, "{:?}", fake.stats());

    // A raw client holding on to one token past its lifetime.
    let mut raw = common::Client::new(&fake);
    raw.token = Some(fake.issue_token());
    assert_eq!(raw.get(&url).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = raw.get(&url).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "ExpiredAuthenticationToken");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|h| h.contains("The access token has expired"))
    );
    // ... while the pipeline keeps working, renewing as it goes.
    let (status, _, _) = call(&p, Method::Get, &url, None).await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_authority_can_come_from_azure_authority_host() {
    // The alternative to a custom cloud: AZURE_AUTHORITY_HOST (read when `cloud` is None).
    // Only this test in this binary touches the variable.
    let fake = common::start(common::fast_config());
    // SAFETY: no other thread of this test binary reads or writes this variable.
    unsafe { std::env::set_var("AZURE_AUTHORITY_HOST", fake.authority_url()) };
    let p = fake.principal();
    let cred = ClientSecretCredential::new(
        &p.tenant_id,
        p.client_id.clone(),
        Secret::new(p.client_secret.clone()),
        Some(ClientSecretCredentialOptions {
            client_options: ClientOptions {
                transport: Some(transport(&fake)),
                ..Default::default()
            },
        }),
    )
    .unwrap();
    let token = cred.get_token(&[ARM_SCOPE], None).await;
    unsafe { std::env::remove_var("AZURE_AUTHORITY_HOST") };
    assert!(token.is_ok(), "{token:?}");
}
