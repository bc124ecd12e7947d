//! Where the proxy's credentials come from, and the Keystone v3 session made from them.
//!
//! `clouds.yaml` is read here rather than by osauth, whose reader ignores `OS_CLIENT_CONFIG_FILE`
//! and keeps the password in a `Debug`-printable struct: every secret stays a [`Secret`] until
//! the moment the session is built.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use osauth::Session;
use osauth::common::IdOrName;
use osauth::identity::{ApplicationCredential, Password, Scope, Token};
use serde::Deserialize;

use actuator::secret::Secret;

/// The project a token is scoped to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Project {
    /// Its name (with `domain`), or
    pub name: Option<String>,
    /// its id.
    pub id: Option<String>,
    /// The project's domain by name (default `Default`).
    pub domain_name: Option<String>,
    /// The project's domain by id.
    pub domain_id: Option<String>,
}

impl Project {
    /// The project `name` in the `Default` domain.
    pub fn named(name: impl Into<String>) -> Self {
        Project {
            name: Some(name.into()),
            ..Project::default()
        }
    }

    fn scope(&self) -> Option<Scope> {
        let domain = self
            .domain_id
            .clone()
            .map(IdOrName::Id)
            .or_else(|| self.domain_name.clone().map(IdOrName::Name))
            .unwrap_or_else(|| IdOrName::Name("Default".into()));
        let project = self
            .id
            .clone()
            .map(IdOrName::Id)
            .or_else(|| self.name.clone().map(IdOrName::Name))?;
        Some(Scope::Project {
            project,
            domain: Some(domain),
        })
    }
}

/// How the proxy authenticates (Keystone v3 only).
///
/// ```
/// use actuator_openstack::{Credentials, Project};
/// use actuator::secret::Secret;
/// let c = Credentials::Password {
///     auth_url: "https://keystone.example.com/v3".into(),
///     username: "deploy".into(),
///     password: Secret::new("hunter2"),
///     user_domain: "Default".into(),
///     project: Project::named("web"),
/// };
/// assert!(!format!("{c:?}").contains("hunter2"));
/// ```
#[derive(Clone, Debug)]
pub enum Credentials {
    /// A cloud of `clouds.yaml`: `cloud` (else `OS_CLOUD`) from `file` (else
    /// `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`, `~/.config/openstack/clouds.yaml`,
    /// `/etc/openstack/clouds.yaml`). Its region, interface and `*_endpoint_override`s apply
    /// unless the proxy sets its own.
    CloudsYaml {
        /// The cloud's name.
        cloud: Option<String>,
        /// The file.
        file: Option<PathBuf>,
    },
    /// The `OS_*` variables (`OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME` …,
    /// `OS_TOKEN`, `OS_APPLICATION_CREDENTIAL_ID` / `_SECRET`, `OS_REGION_NAME`, `OS_INTERFACE`).
    Env,
    /// A user's password.
    Password {
        /// Keystone, e.g. `https://keystone.example.com/v3`.
        auth_url: String,
        /// The user's name.
        username: String,
        /// The password.
        password: Secret,
        /// The user's domain (`Default`).
        user_domain: String,
        /// The project to work in.
        project: Project,
    },
    /// An application credential (its project is part of it).
    ApplicationCredential {
        /// Keystone.
        auth_url: String,
        /// The credential's id.
        id: String,
        /// Its secret.
        secret: Secret,
    },
    /// An existing token (it is not renewed: Keystone does not renew tokens from tokens past
    /// their expiry).
    Token {
        /// Keystone.
        auth_url: String,
        /// The token.
        token: Secret,
        /// The project to scope to, if the token is unscoped.
        project: Option<Project>,
    },
}

/// What a session needs besides the credentials.
#[derive(Clone, Debug, Default)]
pub(crate) struct Endpoints {
    pub region: Option<String>,
    pub interface: Option<String>,
    /// Service type (`network`, `compute`, `image`) → base URL.
    pub overrides: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
struct CloudsFile {
    #[serde(default)]
    clouds: BTreeMap<String, CloudEntry>,
}

#[derive(Deserialize, Default)]
struct CloudEntry {
    #[serde(default)]
    auth: AuthEntry,
    auth_type: Option<String>,
    region_name: Option<String>,
    interface: Option<String>,
    identity_api_version: Option<serde_yaml::Value>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_yaml::Value>,
}

#[derive(Deserialize, Default)]
struct AuthEntry {
    auth_url: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    project_name: Option<String>,
    project_id: Option<String>,
    user_domain_name: Option<String>,
    project_domain_name: Option<String>,
    project_domain_id: Option<String>,
    token: Option<Secret>,
    application_credential_id: Option<String>,
    application_credential_secret: Option<Secret>,
}

fn clouds_file(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    if let Ok(p) = std::env::var("OS_CLIENT_CONFIG_FILE") {
        return Ok(PathBuf::from(p));
    }
    let mut candidates = vec![PathBuf::from("clouds.yaml")];
    if let Ok(home) = std::env::var("HOME") {
        candidates.push(Path::new(&home).join(".config/openstack/clouds.yaml"));
    }
    candidates.push(PathBuf::from("/etc/openstack/clouds.yaml"));
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "no clouds.yaml: set OS_CLIENT_CONFIG_FILE, or put one in ./, ~/.config/openstack/ \
             or /etc/openstack/"
            .to_owned()
    })
}

fn v3_only(version: Option<&serde_yaml::Value>, source: &str) -> Result<(), String> {
    let v = match version {
        None => return Ok(()),
        Some(serde_yaml::Value::Number(n)) => n.to_string(),
        Some(serde_yaml::Value::String(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
    };
    if v == "3" || v.starts_with("3.") {
        Ok(())
    } else {
        Err(format!(
            "{source}: identity_api_version {v}: only Keystone v3 is supported"
        ))
    }
}

/// The credentials and endpoints of cloud `name` in a clouds.yaml.
fn from_clouds_yaml(
    cloud: Option<&str>,
    file: Option<&Path>,
) -> Result<(Credentials, Endpoints), String> {
    let name = match cloud {
        Some(c) => c.to_owned(),
        None => std::env::var("OS_CLOUD")
            .map_err(|_| "no cloud named: give one, or set OS_CLOUD".to_owned())?,
    };
    let path = clouds_file(file)?;
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut parsed: CloudsFile =
        serde_yaml::from_str(&text).map_err(|e| format!("cannot parse {}: {e}", path.display()))?;
    let source = format!("cloud `{name}` of {}", path.display());
    let entry = parsed.clouds.remove(&name).ok_or_else(|| {
        let known: Vec<&String> = parsed.clouds.keys().collect();
        format!(
            "{} has no cloud `{name}` (it has {known:?})",
            path.display()
        )
    })?;
    v3_only(entry.identity_api_version.as_ref(), &source)?;
    let mut endpoints = Endpoints {
        region: entry.region_name,
        interface: entry.interface,
        overrides: BTreeMap::new(),
    };
    for (k, v) in &entry.other {
        if let (Some(svc), serde_yaml::Value::String(url)) =
            (k.strip_suffix("_endpoint_override"), v)
        {
            endpoints
                .overrides
                .insert(svc.replace('_', "-"), url.clone());
        }
    }
    let a = entry.auth;
    let project = Project {
        name: a.project_name,
        id: a.project_id,
        domain_name: a.project_domain_name,
        domain_id: a.project_domain_id,
    };
    let auth_url = a
        .auth_url
        .ok_or_else(|| format!("{source}: no auth.auth_url"))?;
    let creds = credentials_of(
        entry.auth_type.as_deref(),
        auth_url,
        a.username,
        a.password,
        a.user_domain_name,
        project,
        a.token,
        a.application_credential_id,
        a.application_credential_secret,
    )
    .map_err(|e| format!("{source}: {e}"))?;
    Ok((creds, endpoints))
}

#[allow(clippy::too_many_arguments)]
fn credentials_of(
    auth_type: Option<&str>,
    auth_url: String,
    username: Option<String>,
    password: Option<Secret>,
    user_domain: Option<String>,
    project: Project,
    token: Option<Secret>,
    app_id: Option<String>,
    app_secret: Option<Secret>,
) -> Result<Credentials, String> {
    let kind = auth_type.map(str::to_owned).unwrap_or_else(|| {
        if app_id.is_some() {
            "v3applicationcredential".into()
        } else if token.is_some() && password.is_none() {
            "v3token".into()
        } else {
            "password".into()
        }
    });
    match kind.as_str() {
        "password" | "v3password" => Ok(Credentials::Password {
            auth_url,
            username: username.ok_or("password authentication needs a username")?,
            password: password.ok_or("password authentication needs a password")?,
            user_domain: user_domain.unwrap_or_else(|| "Default".into()),
            project,
        }),
        "v3applicationcredential" => Ok(Credentials::ApplicationCredential {
            auth_url,
            id: app_id.ok_or("an application credential needs its id")?,
            secret: app_secret.ok_or("an application credential needs its secret")?,
        }),
        "token" | "v3token" => Ok(Credentials::Token {
            auth_url,
            token: token.ok_or("token authentication needs a token")?,
            project: (project.name.is_some() || project.id.is_some()).then_some(project),
        }),
        other => Err(format!(
            "auth_type `{other}` is not supported (password, v3applicationcredential, v3token)"
        )),
    }
}

fn from_env() -> Result<(Credentials, Endpoints), String> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(v) = var("OS_IDENTITY_API_VERSION") {
        v3_only(
            Some(&serde_yaml::Value::String(v)),
            "OS_IDENTITY_API_VERSION",
        )?;
    }
    let auth_url = var("OS_AUTH_URL").ok_or("OS_AUTH_URL is not set")?;
    let project = Project {
        name: var("OS_PROJECT_NAME").or_else(|| var("OS_TENANT_NAME")),
        id: var("OS_PROJECT_ID").or_else(|| var("OS_TENANT_ID")),
        domain_name: var("OS_PROJECT_DOMAIN_NAME"),
        domain_id: var("OS_PROJECT_DOMAIN_ID"),
    };
    let creds = credentials_of(
        var("OS_AUTH_TYPE").as_deref(),
        auth_url,
        var("OS_USERNAME"),
        var("OS_PASSWORD").map(Secret::new),
        var("OS_USER_DOMAIN_NAME"),
        project,
        var("OS_TOKEN").map(Secret::new),
        var("OS_APPLICATION_CREDENTIAL_ID"),
        var("OS_APPLICATION_CREDENTIAL_SECRET").map(Secret::new),
    )
    .map_err(|e| format!("OS_* variables: {e}"))?;
    Ok((
        creds,
        Endpoints {
            region: var("OS_REGION_NAME"),
            interface: var("OS_INTERFACE"),
            overrides: BTreeMap::new(),
        },
    ))
}

/// The credentials to use when none were given: `OS_CLOUD` (clouds.yaml), else `OS_AUTH_URL`.
pub(crate) fn default_credentials() -> Credentials {
    if std::env::var_os("OS_CLOUD").is_some() || std::env::var_os("OS_AUTH_URL").is_none() {
        Credentials::CloudsYaml {
            cloud: None,
            file: None,
        }
    } else {
        Credentials::Env
    }
}

/// Resolves `creds` (reading clouds.yaml or the environment) and opens a session, authenticating
/// once. `ours` (the proxy's own region, interface and overrides) win over the file's.
pub(crate) async fn session(creds: &Credentials, ours: &Endpoints) -> Result<Session, String> {
    let (creds, mut endpoints) = match creds {
        Credentials::CloudsYaml { cloud, file } => {
            from_clouds_yaml(cloud.as_deref(), file.as_deref())?
        }
        Credentials::Env => from_env()?,
        other => (other.clone(), Endpoints::default()),
    };
    if ours.region.is_some() {
        endpoints.region = ours.region.clone();
    }
    if ours.interface.is_some() {
        endpoints.interface = ours.interface.clone();
    }
    endpoints.overrides.extend(ours.overrides.clone());
    let auth_err = |e: osauth::Error| format!("cannot authenticate: {e}");
    let mut session = match &creds {
        Credentials::Password {
            auth_url,
            username,
            password,
            user_domain,
            project,
        } => {
            let mut p = Password::new(
                auth_url,
                username.clone(),
                password.expose(),
                user_domain.clone(),
            )
            .map_err(auth_err)?;
            if let Some(s) = project.scope() {
                p.set_scope(s);
            }
            Session::new(p).await.map_err(auth_err)?
        }
        Credentials::ApplicationCredential {
            auth_url,
            id,
            secret,
        } => {
            let a = ApplicationCredential::new(auth_url, id.clone(), secret.expose())
                .map_err(auth_err)?;
            Session::new(a).await.map_err(auth_err)?
        }
        Credentials::Token {
            auth_url,
            token,
            project,
        } => {
            let mut t = Token::new(auth_url, token.expose()).map_err(auth_err)?;
            if let Some(s) = project.as_ref().and_then(Project::scope) {
                t.set_scope(s);
            }
            Session::new(t).await.map_err(auth_err)?
        }
        Credentials::CloudsYaml { .. } | Credentials::Env => unreachable!("resolved above"),
    };
    if let Some(r) = &endpoints.region {
        session.set_region(r.clone());
    }
    if let Some(i) = &endpoints.interface {
        let i: osauth::InterfaceType = i.parse().map_err(|e| format!("interface `{i}`: {e}"))?;
        session.set_endpoint_interface(i);
    }
    for (svc, url) in &endpoints.overrides {
        let u = reqwest::Url::parse(url)
            .map_err(|e| format!("endpoint override for {svc} `{url}`: {e}"))?;
        session.endpoint_overrides_mut().insert(svc.clone(), u);
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clouds_yaml_gives_credentials_region_and_overrides_and_refuses_v2() {
        let dir = tempfile_dir();
        let f = dir.join("clouds.yaml");
        std::fs::write(
            &f,
            "clouds:\n  lab:\n    auth:\n      auth_url: http://127.0.0.1:5000/v3\n      username: u\n      password: s3cret\n      project_name: p\n    region_name: R2\n    network_endpoint_override: http://127.0.0.1:9696\n  old:\n    auth:\n      auth_url: http://x/v2.0\n      username: u\n      password: p\n    identity_api_version: 2\n",
        )
        .unwrap();
        let (c, e) = from_clouds_yaml(Some("lab"), Some(&f)).unwrap();
        assert!(matches!(&c, Credentials::Password { username, .. } if username == "u"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(e.region.as_deref(), Some("R2"));
        assert_eq!(e.overrides["network"], "http://127.0.0.1:9696");
        let err = from_clouds_yaml(Some("old"), Some(&f)).err().unwrap();
        assert!(err.contains("only Keystone v3"), "{err}");
        let err = from_clouds_yaml(Some("nope"), Some(&f)).err().unwrap();
        assert!(err.contains("has no cloud `nope`"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "actuator-openstack-auth-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
