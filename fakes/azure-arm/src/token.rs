//! The Microsoft identity platform's v2 token endpoint (client-credentials grant), and the
//! bearer-token check every ARM request passes.
//!
//! `azure_identity` 1.x's `ClientSecretCredential` calls nothing but
//! `POST {authority}/{tenant}/oauth2/v2.0/token` (no discovery or metadata documents), with a
//! form body `client_id`, `client_secret`, `grant_type=client_credentials`, `scope`, and reads
//! `access_token` and `expires_in` (relative seconds) from a 2xx answer, or `error_description`
//! and `error_codes` from any other.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::reply::Reply;
use crate::store::State;

/// Audiences ARM accepts (`{resource}/.default` scopes name them).
const ARM_AUDIENCES: &[&str] = &[
    "https://management.azure.com",
    "https://management.core.windows.net",
];

#[derive(Clone, Debug)]
struct Issued {
    expires: Instant,
    expires_wall: time::OffsetDateTime,
    audience: String,
}

/// Tokens issued by this fake instance.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, Issued>,
}

impl TokenStore {
    /// Issues a token for `audience` valid for `lifetime`.
    pub fn issue(&mut self, audience: &str, lifetime: Duration) -> String {
        // Clients with short-lived tokens fetch one per request; forget the expired ones.
        if self.tokens.len() >= 10_000 {
            let now = Instant::now();
            self.tokens.retain(|_, t| t.expires > now);
        }
        // Opaque on purpose: nothing may rely on decoding it.
        let token = format!(
            "fake-arm.{}.{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        self.tokens.insert(
            token.clone(),
            Issued {
                expires: Instant::now() + lifetime,
                expires_wall: time::OffsetDateTime::now_utc() + lifetime,
                audience: audience.to_string(),
            },
        );
        token
    }
}

/// Why an ARM request is not authorized.
pub(crate) fn check_bearer(state: &State, authorization: Option<&str>) -> Result<(), Reply> {
    let challenge = |desc: &str| {
        format!(
            "Bearer authorization_uri=\"{}/\", error=\"invalid_token\", error_description=\"{desc}\"",
            state.authority_url
        )
    };
    let refuse = |code: &str, message: String, desc: &str| {
        let mut reply = Reply::json(401, json!({"error": {"code": code, "message": message}}));
        reply.header("WWW-Authenticate", challenge(desc));
        Err(reply)
    };
    let Some(header) = authorization else {
        return refuse(
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.".to_string(),
            "The authentication failed because of missing 'Authorization' header.",
        );
    };
    let Some(token) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return refuse(
            "AuthenticationFailedInvalidHeader",
            "Authentication failed. The 'Authorization' header is provided in an invalid format."
                .to_string(),
            "The access token is invalid.",
        );
    };
    let Some(issued) = state.tokens.tokens.get(token.trim()) else {
        return refuse(
            "InvalidAuthenticationToken",
            "The access token is invalid.".to_string(),
            "The access token is invalid.",
        );
    };
    if !ARM_AUDIENCES.contains(&issued.audience.as_str()) {
        return refuse(
            "InvalidAuthenticationTokenAudience",
            format!(
                "The access token has been obtained for wrong audience or resource '{}'. It \
                 should exactly match with one of the allowed audiences '{}'.",
                issued.audience,
                ARM_AUDIENCES.join("','")
            ),
            "The access token is invalid.",
        );
    }
    if issued.expires <= Instant::now() {
        return refuse(
            "ExpiredAuthenticationToken",
            format!(
                "The access token expiry UTC time '{}' is earlier than current UTC time '{}'.",
                crate::clock::rfc3339(issued.expires_wall),
                crate::clock::rfc3339_now()
            ),
            "The access token has expired.",
        );
    }
    Ok(())
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) fn token_endpoint(
    state: &mut State,
    method: &str,
    path: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    let segs = crate::path::segments(path);
    let tenant = match segs.as_slice() {
        [tenant, o, v, t]
            if o.eq_ignore_ascii_case("oauth2")
                && v == "v2.0"
                && t.eq_ignore_ascii_case("token") =>
        {
            tenant.clone()
        }
        _ => {
            return Reply::json(
                404,
                json!({"error": "not_found", "error_description": "The fake authority serves only /{tenant}/oauth2/v2.0/token."}),
            );
        }
    };
    let reply = issue(state, method, &tenant, content_type, body);
    if reply.status == 200 {
        state.stats.tokens_issued += 1;
    } else {
        state.stats.token_failures += 1;
    }
    reply
}

fn issue(
    state: &mut State,
    method: &str,
    tenant: &str,
    content_type: Option<&str>,
    body: &[u8],
) -> Reply {
    if method != "POST" {
        return aad_error(
            405,
            "invalid_request",
            900561,
            "AADSTS900561: The endpoint only accepts POST requests.",
        );
    }
    if !content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")) {
        return aad_error(
            400,
            "invalid_request",
            900144,
            "AADSTS900144: The request body must contain the following parameter: 'grant_type'.",
        );
    }
    let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
    for field in ["grant_type", "client_id", "scope"] {
        if form.get(field).is_none_or(|v| v.is_empty()) {
            return aad_error(
                400,
                "invalid_request",
                900144,
                &format!(
                    "AADSTS900144: The request body must contain the following parameter: '{field}'."
                ),
            );
        }
    }
    if form["grant_type"] != "client_credentials" {
        return aad_error(
            400,
            "unsupported_grant_type",
            70003,
            "AADSTS70003: The app requested an unsupported grant type. The fake supports \
             'client_credentials' only.",
        );
    }
    if !state
        .principals
        .iter()
        .any(|p| p.tenant_id.eq_ignore_ascii_case(tenant))
    {
        return aad_error(
            400,
            "invalid_tenant",
            90002,
            &format!(
                "AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have the \
                 correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    let client_id = &form["client_id"];
    let Some(principal) = state
        .principals
        .iter()
        .find(|p| p.tenant_id.eq_ignore_ascii_case(tenant) && &p.client_id == client_id)
    else {
        return aad_error(
            400,
            "unauthorized_client",
            700016,
            &format!(
                "AADSTS700016: Application with identifier '{client_id}' was not found in the \
                 directory '{tenant}'. This can happen if the application has not been installed \
                 by the administrator of the tenant or consented to by any user in the tenant. \
                 You may have sent your authentication request to the wrong tenant."
            ),
        );
    };
    if form.get("client_secret") != Some(&principal.client_secret) {
        return aad_error(
            401,
            "invalid_client",
            7000215,
            &format!(
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in \
                 the request is the client secret value, not the client secret ID, for a secret \
                 added to app '{client_id}'."
            ),
        );
    }
    // Client credentials take exactly one `{resource}/.default` scope.
    let scope = form["scope"].trim();
    let Some(audience) = scope
        .strip_suffix("/.default")
        .map(|a| a.trim_end_matches('/'))
        .filter(|_| !scope.contains(' '))
    else {
        return aad_error(
            400,
            "invalid_scope",
            1002012,
            &format!(
                "AADSTS1002012: The provided value for scope {scope} is not valid. Client \
                 credential flows must have a scope value with /.default suffixed to the \
                 resource identifier (application ID URI)."
            ),
        );
    };
    let lifetime = state.token_lifetime;
    let token = state.tokens.issue(audience, lifetime);
    Reply::json(
        200,
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": token,
        }),
    )
}

/// An Entra ID error body.
fn aad_error(status: u16, error: &str, code: u32, description: &str) -> Reply {
    let trace = uuid::Uuid::new_v4();
    let correlation = uuid::Uuid::new_v4();
    let now = crate::clock::rfc3339_now();
    let body: Value = json!({
        "error": error,
        "error_description": format!(
            "{description} Trace ID: {trace} Correlation ID: {correlation} Timestamp: {now}"
        ),
        "error_codes": [code],
        "timestamp": now,
        "trace_id": trace.to_string(),
        "correlation_id": correlation.to_string(),
        "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
    });
    Reply::json(status, body)
}
