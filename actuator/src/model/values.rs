//! The value types of resource outputs and arguments: an id of a given resource kind ([`Id`]), an
//! address range ([`Cidr`]) and a port ([`Port`]); addresses are [`std::net::IpAddr`].
//!
//! The state, the journal and templates keep every output as text; these types only tell rustc
//! what an output *is*, so that a network's id given where an address is expected, or a subnet's
//! id where a VPC's is expected, does not compile. An output is parsed into its type just before
//! the call that needs it ([`ProvisionCx::resolve`](crate::provision::ProvisionCx::resolve)).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The id of a resource of kind `R`, as its cloud gave it (`vpc-0a1b…`, a UUID, an ARM id).
///
/// Only the type says whose id it is: `Id<Vpc>` and `Id<Subnet>` are different types, so one is
/// never passed for the other. Serialized as the bare string.
///
/// ```
/// use actuator::model::Id;
///
/// struct Vpc;
/// let id: Id<Vpc> = "vpc-0a1b".parse().unwrap();
/// assert_eq!(id.as_str(), "vpc-0a1b");
/// assert_eq!(id.to_string(), "vpc-0a1b");
/// assert!("".parse::<Id<Vpc>>().is_err());
/// ```
pub struct Id<R: ?Sized> {
    id: String,
    _r: PhantomData<fn() -> R>,
}

impl<R: ?Sized> Id<R> {
    /// The id `id` (not checked: any non-empty text is an id to its cloud).
    pub fn new(id: impl Into<String>) -> Self {
        Id {
            id: id.into(),
            _r: PhantomData,
        }
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.id
    }
    /// The id as text, owned.
    pub fn into_string(self) -> String {
        self.id
    }
}

/// Why text is not an id: it is empty.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an id cannot be empty")]
pub struct EmptyId;

impl<R: ?Sized> FromStr for Id<R> {
    type Err = EmptyId;
    fn from_str(s: &str) -> Result<Self, EmptyId> {
        if s.is_empty() {
            return Err(EmptyId);
        }
        Ok(Id::new(s))
    }
}
impl<R: ?Sized> fmt::Display for Id<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}
impl<R: ?Sized> fmt::Debug for Id<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({:?})", self.id)
    }
}
// By hand: derives would require `R: Clone` etc. of the marker type.
impl<R: ?Sized> Clone for Id<R> {
    fn clone(&self) -> Self {
        Id::new(self.id.clone())
    }
}
impl<R: ?Sized> PartialEq for Id<R> {
    fn eq(&self, o: &Self) -> bool {
        self.id == o.id
    }
}
impl<R: ?Sized> Eq for Id<R> {}
impl<R: ?Sized> Hash for Id<R> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.id.hash(h)
    }
}
impl<R: ?Sized> AsRef<str> for Id<R> {
    fn as_ref(&self) -> &str {
        &self.id
    }
}
impl<R: ?Sized> Serialize for Id<R> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id)
    }
}
impl<'de, R: ?Sized> Deserialize<'de> for Id<R> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An address range: a network address and a prefix length, IPv4 (`10.0.0.0/16`) or IPv6
/// (`2001:db8::/32`).
///
/// Parsing checks the address, the prefix length (at most 32 or 128) and that no host bit is set
/// (`10.0.0.1/16` is refused: the range is `10.0.0.0/16`). Serialized as its text.
///
/// ```
/// use actuator::model::Cidr;
///
/// let c: Cidr = "10.0.0.0/16".parse().unwrap();
/// assert_eq!((c.addr().to_string(), c.prefix()), ("10.0.0.0".to_string(), 16));
/// assert!(c.contains("10.0.3.4".parse().unwrap()));
/// assert_eq!("2001:db8::/32".parse::<Cidr>().unwrap().to_string(), "2001:db8::/32");
/// assert!("10.0.0.0/33".parse::<Cidr>().is_err());
/// assert!("10.0.0.1/16".parse::<Cidr>().is_err());
/// assert!("vpc-123".parse::<Cidr>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

/// Why text is not a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// No `/prefix`.
    #[error("expected ADDRESS/PREFIX, e.g. 10.0.0.0/16")]
    NoPrefix,
    /// The address part does not parse.
    #[error("`{0}` is not an IP address")]
    Addr(String),
    /// The prefix is not a number or too long for the address.
    #[error("prefix `{0}` is not a length from 0 to {1}")]
    Prefix(String, u8),
    /// The address has bits set beyond the prefix.
    #[error("host bits are set beyond /{prefix}; the range is {network}/{prefix}")]
    HostBits {
        /// The network address the range has.
        network: IpAddr,
        /// The prefix length.
        prefix: u8,
    },
}

impl Cidr {
    /// The range `addr/prefix`, checked as parsing checks it.
    ///
    /// # Errors
    /// If the prefix is too long for the address or host bits are set.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, CidrError> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError::Prefix(prefix.to_string(), max));
        }
        let (bits, host_mask) = (bits(addr), host_mask(prefix));
        if bits & host_mask != 0 {
            let net = bits & !host_mask;
            let network = match addr {
                IpAddr::V4(_) => IpAddr::from(((net >> 96) as u32).to_be_bytes()),
                IpAddr::V6(_) => IpAddr::from(net.to_be_bytes()),
            };
            return Err(CidrError::HostBits { network, prefix });
        }
        Ok(Cidr { addr, prefix })
    }
    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// Whether `ip` lies in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.addr.is_ipv4() == ip.is_ipv4() && bits(ip) & !host_mask(self.prefix) == bits(self.addr)
    }
}

/// An address as 128 bits, an IPv4 one in the top 32, so one mask arithmetic serves both.
fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)) << 96,
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The bits of [`bits`] beyond a prefix of `prefix`.
fn host_mask(prefix: u8) -> u128 {
    u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        let (addr, prefix) = s.split_once('/').ok_or(CidrError::NoPrefix)?;
        let addr: IpAddr = addr.parse().map_err(|_| CidrError::Addr(addr.into()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| CidrError::Prefix(prefix.into(), max))?;
        Cidr::new(addr, prefix)
    }
}
impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}
impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A TCP or UDP port. Serialized as its number.
///
/// ```
/// use actuator::model::Port;
///
/// let p: Port = "5432".parse().unwrap();
/// assert_eq!(p, Port(5432));
/// assert!("70000".parse::<Port>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Port(pub u16);

impl From<u16> for Port {
    fn from(p: u16) -> Self {
        Port(p)
    }
}
impl FromStr for Port {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Port)
    }
}
impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
