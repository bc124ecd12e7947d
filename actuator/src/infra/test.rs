//! Cloud-free resources for tests, examples and the quickstart: a network, a subnet, a server, a
//! floating IP, a database and a queue. They carry arguments like real cloud resources (references
//! included) so models built from them exercise everything but a cloud API.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::Resource;
use crate::model::{Cidr, Id, IntoRef, IntoRefs, IntoVal, Ref, Val};

/// A network.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "test.Network", outputs(id: Id<Self>))]
pub struct Network {
    name: String,
    /// Its address range, if set.
    pub cidr: Option<Val<Cidr>>,
}

impl Network {
    /// A network named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Network {
            name: name.into(),
            cidr: None,
        }
    }
    /// Sets the address range (`"10.0.0.0/16"`; text that is not a CIDR is reported by the
    /// pre-flight).
    pub fn cidr(mut self, cidr: impl IntoVal<Cidr>) -> Self {
        self.cidr = Some(cidr.into_val());
        self
    }
}

/// A subnet of a network.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "test.Subnet", outputs(id: Id<Self>))]
pub struct Subnet {
    name: String,
    /// The network it belongs to.
    pub network: Ref<Network>,
    /// Its address range.
    pub cidr: Val<Cidr>,
}

impl Subnet {
    /// A subnet `cidr` of `network`.
    pub fn new(
        name: impl Into<String>,
        network: impl IntoRef<Network>,
        cidr: impl IntoVal<Cidr>,
    ) -> Self {
        Subnet {
            name: name.into(),
            network: network.into_ref(),
            cidr: cidr.into_val(),
        }
    }
}

/// A server: addressable, so roles can run on it.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "test.Server", outputs(id: Id<Self>, ip: IpAddr), addressable, update(mem, meta))]
pub struct Server {
    name: String,
    /// The image it boots.
    pub image: String,
    /// The networks it is attached to.
    pub nics: Vec<Ref<Network>>,
    /// Memory, possibly read from a namespace variable.
    pub mem: Option<Val<String>>,
    /// Free-form metadata; references inside count as dependencies.
    pub meta: BTreeMap<String, Val<String>>,
}

impl Server {
    /// A server `name` booting `image`.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        Server {
            name: name.into(),
            image: image.into(),
            nics: Vec::new(),
            mem: None,
            meta: BTreeMap::new(),
        }
    }
    /// Attaches the server to networks.
    pub fn nics(mut self, nets: impl IntoRefs<Network>) -> Self {
        self.nics.extend(nets.into_refs());
        self
    }
    /// Sets the memory size (a literal or another component's output).
    pub fn mem(mut self, mem: impl IntoVal<String>) -> Self {
        self.mem = Some(mem.into_val());
        self
    }
    /// Adds a metadata entry (another component's output of any type with `.text()`:
    /// `ctx.model.net.id.text()`).
    pub fn meta(mut self, key: &str, value: impl IntoVal<String>) -> Self {
        self.meta.insert(key.into(), value.into_val());
        self
    }
}

/// A public address attached to a server: addressable.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(
    kind = "test.FloatingIp",
    outputs(ip: IpAddr),
    addressable,
    update(server, fixed_ip),
    create_before_destroy
)]
pub struct FloatingIp {
    name: String,
    /// The server it is attached to.
    pub server: Ref<Server>,
    /// The server address it maps to.
    pub fixed_ip: Val<IpAddr>,
    /// The pool it comes from.
    pub pool: Option<String>,
}

impl FloatingIp {
    /// A floating IP for `server`'s `fixed_ip`.
    pub fn new(
        name: impl Into<String>,
        server: impl IntoRef<Server>,
        fixed_ip: impl IntoVal<IpAddr>,
    ) -> Self {
        FloatingIp {
            name: name.into(),
            server: server.into_ref(),
            fixed_ip: fixed_ip.into_val(),
            pool: None,
        }
    }
    /// Sets the pool.
    pub fn pool(mut self, pool: impl Into<String>) -> Self {
        self.pool = Some(pool.into());
        self
    }
}

/// A database, optionally on a server.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "test.Database", outputs(url: String), update(port))]
pub struct Database {
    name: String,
    /// The server it runs on, if any.
    pub server: Option<Ref<Server>>,
    /// Its port.
    pub port: u16,
}

impl Database {
    /// A database `name` listening on `port`.
    pub fn new(name: impl Into<String>, port: u16) -> Self {
        Database {
            name: name.into(),
            server: None,
            port,
        }
    }
    /// Places the database on a server.
    pub fn on(mut self, server: impl IntoRef<Server>) -> Self {
        self.server = Some(server.into_ref());
        self
    }
}

/// A message queue with consumers.
#[derive(Resource, Clone, Debug, PartialEq)]
#[resource(kind = "test.Queue", outputs(url: String), update(consumers))]
pub struct Queue {
    name: String,
    /// Servers consuming from it.
    pub consumers: Vec<Ref<Server>>,
}

impl Queue {
    /// A queue `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Queue {
            name: name.into(),
            consumers: Vec::new(),
        }
    }
    /// Adds consumers.
    pub fn consumers<R: IntoRef<Server>>(mut self, s: impl IntoIterator<Item = R>) -> Self {
        self.consumers.extend(s.into_iter().map(IntoRef::into_ref));
        self
    }
}
