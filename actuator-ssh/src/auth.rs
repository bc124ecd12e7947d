//! Authentication: the task's key file or the agent's default key, then the
//! task's password; with neither, ssh-agent's keys and the standard key files.
//! No secret is logged or kept once the handshake is done.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::{AuthResult, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{self, Algorithm, PrivateKey, PrivateKeyWithHashAlg};
use tracing::debug;

use super::pool::{Client, Login};

/// Authenticates `handle` as `login.user`, or says what was tried.
pub(crate) async fn authenticate(handle: &mut Handle<Client>, login: &Login) -> Result<(), String> {
    let user = login.user.as_str();
    let mut tried: Vec<String> = Vec::new();
    if let Some(path) = &login.key_file {
        let key = load_key(path)?;
        if try_key(handle, user, key).await? {
            return Ok(());
        }
        tried.push(format!("public key `{}`", path.display()));
    }
    if let Some(password) = &login.password {
        let result = handle
            .authenticate_password(user, password.expose())
            .await
            .map_err(|e| format!("password authentication failed: {e}"))?;
        if result.success() {
            return Ok(());
        }
        tried.push("password".into());
    }
    if login.key_file.is_none() && login.password.is_none() {
        if try_ssh_agent(handle, user, &mut tried).await? {
            return Ok(());
        }
        for path in default_key_files() {
            match load_key(&path) {
                Ok(key) => {
                    if try_key(handle, user, key).await? {
                        return Ok(());
                    }
                    tried.push(format!("public key `{}`", path.display()));
                }
                Err(e) => debug!(key = %path.display(), error = %e, "skipping default key"),
            }
        }
    }
    if tried.is_empty() {
        return Err(format!(
            "no credentials for `{user}`: give the task a key file or a password, set the agent's \
             default key, run ssh-agent, or create ~/.ssh/id_ed25519"
        ));
    }
    Err(format!(
        "authentication as `{user}` was refused (tried {})",
        tried.join(", ")
    ))
}

/// Loads an unencrypted private key file.
fn load_key(path: &Path) -> Result<PrivateKey, String> {
    keys::load_secret_key(path, None).map_err(|e| match e {
        keys::Error::KeyIsEncrypted => format!(
            "private key `{}` is passphrase-protected; load it into ssh-agent instead",
            path.display()
        ),
        keys::Error::IO(io) => format!("cannot read private key `{}`: {io}", path.display()),
        other => format!("cannot load private key `{}`: {other}", path.display()),
    })
}

async fn try_key(handle: &mut Handle<Client>, user: &str, key: PrivateKey) -> Result<bool, String> {
    let hash = if matches!(key.algorithm(), Algorithm::Rsa { .. }) {
        handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| format!("public key authentication failed: {e}"))?
            .flatten()
    } else {
        None
    };
    let result = handle
        .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
        .await
        .map_err(|e| format!("public key authentication failed: {e}"))?;
    Ok(matches!(result, AuthResult::Success))
}

/// Tries every key a running ssh-agent holds (`SSH_AUTH_SOCK`).
async fn try_ssh_agent(
    handle: &mut Handle<Client>,
    user: &str,
    tried: &mut Vec<String>,
) -> Result<bool, String> {
    if std::env::var_os("SSH_AUTH_SOCK").is_none() {
        return Ok(false);
    }
    let mut agent = match AgentClient::connect_env().await {
        Ok(a) => a,
        Err(e) => {
            debug!(error = %e, "ssh-agent not reachable");
            return Ok(false);
        }
    };
    let identities = agent.request_identities().await.unwrap_or_default();
    for identity in identities {
        let key = identity.public_key().into_owned();
        let hash = if matches!(key.algorithm(), Algorithm::Rsa { .. }) {
            handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten()
        } else {
            None
        };
        match handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
        {
            Ok(result) if result.success() => return Ok(true),
            Ok(_) => tried.push("an ssh-agent key".into()),
            Err(e) => debug!(error = ?e, "ssh-agent could not sign"),
        }
    }
    Ok(false)
}

/// `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa` that exist.
fn default_key_files() -> Vec<PathBuf> {
    let Some(home) = std::env::home_dir() else {
        return Vec::new();
    };
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|name| home.join(".ssh").join(name))
        .filter(|p| p.is_file())
        .collect()
}
