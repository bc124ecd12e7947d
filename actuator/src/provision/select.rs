//! Which proxy provisions a resource: the original's rules and its four error cases.

use std::sync::Arc;

use super::ProvisionerProxy;

/// Why no proxy could be chosen for a resource.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SelectError {
    /// No proxy handles the kind.
    #[error(
        "could not find a provisioner proxy for {path} (kind `{kind}`); add a proxy that handles it"
    )]
    NoProxy {
        /// The resource's model path.
        path: String,
        /// Its kind.
        kind: String,
    },
    /// The only proxy for the kind is not the one the resource names.
    #[error(
        "{path} asks for cloud `{cloud}`, but the only proxy for kind `{kind}` has the wrong name (`{proxy}`)"
    )]
    WrongName {
        /// The resource's model path.
        path: String,
        /// Its kind.
        kind: String,
        /// The `cloud` it names.
        cloud: String,
        /// The proxy there is.
        proxy: String,
    },
    /// Several proxies handle the kind and none has the name the resource gives (or it gives none).
    #[error("several provisioner proxies handle kind `{kind}` of {path} ({proxies}), but none had the right name{}", match .cloud { Some(c) => format!(" (`{c}`)"), None => "; set the resource's `cloud`".into() })]
    NoneNamed {
        /// The resource's model path.
        path: String,
        /// Its kind.
        kind: String,
        /// The `cloud` it names, if any.
        cloud: Option<String>,
        /// The candidates.
        proxies: String,
    },
    /// Several proxies handle the kind under the same name.
    #[error("found too many provisioner proxies named `{cloud}` for kind `{kind}` of {path}")]
    TooMany {
        /// The resource's model path.
        path: String,
        /// Its kind.
        kind: String,
        /// The shared name.
        cloud: String,
    },
}

/// Chooses the proxy for a resource of `kind` at `path` that names `cloud` (if any).
///
/// ```
/// use std::sync::Arc;
/// use actuator::provision::{select, ProvisionerProxy, StaticProxy};
/// let proxies: Vec<Arc<dyn ProvisionerProxy>> = vec![Arc::new(StaticProxy::default())];
/// assert_eq!(select(&proxies, "static.Server", None, "M.host").unwrap().name(), "static-auto");
/// assert!(select(&proxies, "aws.Vpc", None, "M.vpc").is_err());
/// ```
pub fn select<'a>(
    proxies: &'a [Arc<dyn ProvisionerProxy>],
    kind: &str,
    cloud: Option<&str>,
    path: &str,
) -> Result<&'a Arc<dyn ProvisionerProxy>, SelectError> {
    // Called for every resource of every plan: nothing is allocated unless it fails.
    let supporters = || proxies.iter().filter(|p| p.handles(kind));
    let mut found = supporters();
    let (first, second) = (found.next(), found.next());
    let owned = || (path.to_owned(), kind.to_owned());
    match (first, second, cloud) {
        (None, _, _) => {
            let (path, kind) = owned();
            Err(SelectError::NoProxy { path, kind })
        }
        (Some(one), None, None) => Ok(one),
        (Some(one), None, Some(c)) if one.name() == c => Ok(one),
        (Some(one), None, Some(c)) => {
            let (path, kind) = owned();
            Err(SelectError::WrongName {
                path,
                kind,
                cloud: c.to_owned(),
                proxy: one.name().to_owned(),
            })
        }
        (Some(_), Some(_), c) => {
            let mut named = supporters().filter(|p| Some(p.name()) == c);
            match (named.next(), named.next()) {
                (Some(one), None) => Ok(one),
                (None, _) => {
                    let (path, kind) = owned();
                    Err(SelectError::NoneNamed {
                        path,
                        kind,
                        cloud: c.map(str::to_owned),
                        proxies: supporters()
                            .map(|p| p.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
                }
                (Some(_), Some(_)) => {
                    let (path, kind) = owned();
                    Err(SelectError::TooMany {
                        path,
                        kind,
                        cloud: c.unwrap_or_default().to_owned(),
                    })
                }
            }
        }
    }
}
