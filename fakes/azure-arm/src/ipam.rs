//! IPv4 prefixes: parsing, containment and address allocation the way Azure does it (the first
//! four addresses and the last one of a subnet are reserved).

use std::net::Ipv4Addr;

/// An IPv4 prefix such as `10.0.1.0/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: u32,
    len: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`; host bits must be zero, as Azure requires.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = s.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let len: u8 = len.parse().ok()?;
        if len > 32 {
            return None;
        }
        let network = u32::from(addr);
        if network & !mask(len) != 0 {
            return None;
        }
        Some(Cidr { network, len })
    }

    fn first(self) -> u32 {
        self.network
    }

    fn last(self) -> u32 {
        self.network | !mask(self.len)
    }

    /// Whether `other` lies entirely inside `self`.
    pub fn contains(self, other: Cidr) -> bool {
        other.len >= self.len && other.first() & mask(self.len) == self.network
    }

    /// Whether the two prefixes share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// Whether `addr` is a usable host address of this subnet.
    pub fn usable(self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.len <= 29 && a >= self.first() + 4 && a < self.last()
    }

    /// The first usable host address not in `used`.
    pub fn allocate(self, used: &[Ipv4Addr]) -> Option<Ipv4Addr> {
        if self.len > 29 {
            return None;
        }
        (self.first() + 4..self.last())
            .map(Ipv4Addr::from)
            .find(|a| !used.contains(a))
    }

    /// The `n`th address of the prefix (wrapping), for pools that hand out every address.
    pub fn nth(self, n: u32) -> Ipv4Addr {
        let size = (!mask(self.len)).wrapping_add(1);
        let offset = if size == 0 { n } else { n % size.max(1) };
        Ipv4Addr::from(self.network.wrapping_add(offset))
    }
}

fn mask(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_host_bits() {
        assert!(Cidr::parse("10.0.0.0/16").is_some());
        assert!(Cidr::parse("10.0.0.1/16").is_none());
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("10.0.0.0").is_none());
    }

    #[test]
    fn containment_and_overlap() {
        let vnet = Cidr::parse("10.0.0.0/16").unwrap();
        let a = Cidr::parse("10.0.1.0/24").unwrap();
        let b = Cidr::parse("10.0.1.128/25").unwrap();
        let outside = Cidr::parse("10.1.0.0/24").unwrap();
        assert!(vnet.contains(a));
        assert!(!vnet.contains(outside));
        assert!(a.overlaps(b));
        assert!(!a.overlaps(outside));
    }

    #[test]
    fn allocation_skips_reserved_addresses() {
        let s = Cidr::parse("10.0.1.0/24").unwrap();
        let first = s.allocate(&[]).unwrap();
        assert_eq!(first, Ipv4Addr::new(10, 0, 1, 4));
        let second = s.allocate(&[first]).unwrap();
        assert_eq!(second, Ipv4Addr::new(10, 0, 1, 5));
        assert!(!s.usable(Ipv4Addr::new(10, 0, 1, 255)));
        assert!(!s.usable(Ipv4Addr::new(10, 0, 1, 3)));
        let tiny = Cidr::parse("10.0.2.0/29").unwrap();
        let used: Vec<_> = (4..7).map(|i| Ipv4Addr::new(10, 0, 2, i)).collect();
        assert_eq!(tiny.allocate(&used), None);
    }
}
