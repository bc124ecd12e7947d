use crate::Resource;

/// A host that already exists, named by host name or IP address; provisioning it does nothing.
///
/// ```
/// use actuator::prelude::*;
///
/// #[derive(InfraModel)]
/// struct Here {
///     #[component(StaticServer::new("local", "127.0.0.1"))]
///     host: StaticServer,
/// }
/// let here = Here::instance("here");
/// assert_eq!(here.get::<StaticServer>(&here.root().host).unwrap().address(), "127.0.0.1");
/// ```
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "static.Server", outputs(ip: String), addressable, update(address))]
pub struct StaticServer {
    name: String,
    address: String,
}

impl StaticServer {
    /// A pre-existing host `name` reachable at `address` (host name or IP).
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        StaticServer {
            name: name.into(),
            address: address.into(),
        }
    }

    /// The host name or IP.
    pub fn address(&self) -> &str {
        &self.address
    }
}
