//! What can be known wrong about a resource without asking the cloud: address formats, port
//! ranges, protocol names, key material, names Nova or Neutron would refuse.
//!
//! Ranges and fixed addresses are typed (`Val<Cidr>`, `Val<IpAddr>`): text that does not parse is
//! the generic pre-flight's (`Val::Invalid`, reported by `Element::visit_unparsed`). What Neutron
//! asks beyond the syntax — a range's IP version matching the subnet's or rule's — is checked
//! here of literals; an output or a variable is not known before the run.

use std::net::IpAddr;

use actuator::model::{Cidr, Val};
use actuator::provision::{Invalid, ProvisionCx, openssh_key_type};

use crate::OpenStackProxy;
use crate::resources::*;

/// Neutron's and Nova's limit on names and descriptions.
const MAX_NAME: usize = 255;
/// Nova's limit on user data (after base64).
const MAX_USER_DATA: usize = 65535;

/// A literal range's IP version (`None`: an output or variable, known only when it is used).
fn literal_version(cidr: &Val<Cidr>) -> Option<(u8, Cidr)> {
    match cidr {
        Val::Lit(c) => Some((if c.addr().is_ipv4() { 4 } else { 6 }, *c)),
        _ => None,
    }
}

fn name(inv: &mut Vec<Invalid>, display: &str) {
    if display.is_empty() || display.len() > MAX_NAME {
        inv.push(Invalid::new(
            "name",
            format!("`{display}`: a name has 1 to {MAX_NAME} characters"),
        ));
    }
}

fn description(inv: &mut Vec<Invalid>, d: &str) {
    if d.len() > MAX_NAME {
        inv.push(Invalid::new(
            "description",
            format!("{} characters: at most {MAX_NAME}", d.len()),
        ));
    }
}

fn ip(inv: &mut Vec<Invalid>, arg: &str, value: &str) {
    if value.parse::<IpAddr>().is_err() {
        inv.push(Invalid::new(arg, format!("`{value}` is not an IP address")));
    }
}

const PROTOCOLS: &[&str] = &[
    "tcp",
    "udp",
    "icmp",
    "icmpv6",
    "ipv6-icmp",
    "ah",
    "dccp",
    "egp",
    "esp",
    "gre",
    "igmp",
    "ipip",
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "ospf",
    "pgm",
    "rsvp",
    "sctp",
    "udplite",
    "vrrp",
    "any",
];

fn rule(inv: &mut Vec<Invalid>, r: &SecurityGroupRule) {
    let proto = r.ip_protocol.as_deref().map(str::to_ascii_lowercase);
    if let Some(p) = &proto
        && !PROTOCOLS.contains(&p.as_str())
        && p.parse::<u8>().is_err()
    {
        inv.push(Invalid::new(
            "ip_protocol",
            format!("`{p}` is neither a protocol name Neutron knows nor a number 0-255"),
        ));
    }
    let ports = r.from_port.is_some() || r.to_port.is_some();
    match proto.as_deref() {
        None if ports => inv.push(Invalid::new(
            "from_port",
            "ports need a protocol (tcp, udp …)",
        )),
        Some("tcp" | "udp" | "sctp" | "dccp" | "udplite") => {
            if let (Some(a), Some(b)) = (r.from_port, r.to_port)
                && a > b
            {
                inv.push(Invalid::new(
                    "from_port",
                    format!("{a} is above to_port {b}"),
                ));
            }
            if r.from_port == Some(0) {
                inv.push(Invalid::new("from_port", "ports start at 1"));
            }
        }
        Some("icmp" | "icmpv6" | "ipv6-icmp") => {
            for (arg, v) in [("from_port", r.from_port), ("to_port", r.to_port)] {
                if let Some(v) = v
                    && v > 255
                {
                    inv.push(Invalid::new(
                        arg,
                        format!("{v}: an ICMP type or code is 0-255"),
                    ));
                }
            }
        }
        _ => {}
    }
    let want = match r.ethertype.as_str() {
        "IPv4" => Some(4),
        "IPv6" => Some(6),
        other => {
            inv.push(Invalid::new(
                "ethertype",
                format!("`{other}`: IPv4 or IPv6"),
            ));
            None
        }
    };
    if let Some(c) = &r.cidr {
        if let Some((v, c)) = literal_version(c)
            && want.is_some_and(|w| w != v)
        {
            inv.push(Invalid::new(
                "cidr",
                format!(
                    "`{c}` is an IPv{v} range but the rule's ethertype is {}",
                    r.ethertype
                ),
            ));
        }
        if r.remote_group.is_some() {
            inv.push(Invalid::new(
                "remote_group",
                "a rule has a remote range or a remote group, not both",
            ));
        }
    }
}

fn key_pair(inv: &mut Vec<Invalid>, k: &KeyPair, cloud_name: &str) {
    if cloud_name.is_empty()
        || cloud_name.len() > MAX_NAME
        || !cloud_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || " _-.@".contains(c))
    {
        inv.push(Invalid::new(
            "os_name",
            format!("`{cloud_name}`: Nova key pair names use letters, digits, space, _ - . @"),
        ));
    }
    let key = match (&k.public_key, &k.public_key_file) {
        (Some(_), Some(f)) => {
            inv.push(Invalid::new(
                "public_key_file",
                format!(
                    "`{}` given as well as a public key: give one of them",
                    f.display()
                ),
            ));
            return;
        }
        (None, None) => {
            inv.push(Invalid::new(
                "public_key",
                "a key pair needs a public key or a public key file",
            ));
            return;
        }
        (Some(key), None) => key.clone(),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(k) => k,
            Err(e) => {
                inv.push(Invalid::new(
                    "public_key_file",
                    format!("`{}`: {e}", f.display()),
                ));
                return;
            }
        },
    };
    if let Err(e) = openssh_key_type(&key) {
        inv.push(Invalid::new("public_key", e));
    }
}

fn server(inv: &mut Vec<Invalid>, s: &Server) {
    if s.image.trim().is_empty() {
        inv.push(Invalid::new("image", "an image name or id is needed"));
    }
    if s.flavor.trim().is_empty() {
        inv.push(Invalid::new("flavor", "a flavor name or id is needed"));
    }
    if s.nics.is_empty() && s.ports.is_empty() {
        inv.push(Invalid::new(
            "nics",
            "a server needs a network (`.nics([…])`) or a port (`.ports([…])`)",
        ));
    }
    if s.key_pair.is_some() && s.key_name.is_some() {
        inv.push(Invalid::new(
            "key_name",
            format!(
                "`{}` given as well as a key pair: give one of them",
                s.key_name.as_deref().unwrap_or_default()
            ),
        ));
    }
    if let Some(u) = &s.user_data {
        let encoded = u.len().div_ceil(3) * 4;
        if encoded > MAX_USER_DATA {
            inv.push(Invalid::new(
                "user_data",
                format!("{encoded} bytes in base64: Nova takes at most {MAX_USER_DATA}"),
            ));
        }
    }
    for (k, v) in &s.meta {
        if k.starts_with("actuator:") {
            inv.push(Invalid::new(
                "meta",
                format!("key `{k}`: `actuator:` keys are the proxy's own"),
            ));
        }
        if k.is_empty() || k.len() > MAX_NAME || v.len() > MAX_NAME {
            inv.push(Invalid::new(
                "meta",
                format!("`{k}`: keys and values have at most {MAX_NAME} characters"),
            ));
        }
    }
    if s.availability_zone.as_deref() == Some("") {
        inv.push(Invalid::new("availability_zone", "`` is not a zone name"));
    }
}

/// Everything wrong with the resource of `cx` that is known before any call.
pub(crate) fn validate(p: &OpenStackProxy, cx: &ProvisionCx) -> Vec<Invalid> {
    let mut inv = Vec::new();
    let display = cx.display_name();
    match cx.kind().as_str() {
        Network::KIND => {
            if let Ok(n) = cx.resource::<Network>() {
                name(&mut inv, &display);
                description(&mut inv, &n.description);
            }
        }
        Subnet::KIND => {
            if let Ok(n) = cx.resource::<Subnet>() {
                name(&mut inv, &display);
                description(&mut inv, &n.description);
                if let Some((v, c)) = literal_version(&n.cidr)
                    && v != n.ip_version
                {
                    inv.push(Invalid::new(
                        "ip_version",
                        format!("{} but the cidr `{c}` is IPv{v}", n.ip_version),
                    ));
                }
                if !matches!(n.ip_version, 4 | 6) {
                    inv.push(Invalid::new(
                        "ip_version",
                        format!("{}: 4 or 6", n.ip_version),
                    ));
                }
                if let Some(g) = n.gateway_ip.as_deref().filter(|g| !g.is_empty()) {
                    ip(&mut inv, "gateway_ip", g);
                }
                for d in &n.dns_nameservers {
                    ip(&mut inv, "dns_nameservers", d);
                }
            }
        }
        Router::KIND => {
            if let Ok(n) = cx.resource::<Router>() {
                name(&mut inv, &display);
                description(&mut inv, &n.description);
            }
        }
        RouterGateway::KIND => {
            if let Ok(g) = cx.resource::<RouterGateway>()
                && g.external_network.trim().is_empty()
            {
                inv.push(Invalid::new(
                    "external_network",
                    "the external network's name or id is needed",
                ));
            }
        }
        SecurityGroup::KIND => {
            if let Ok(g) = cx.resource::<SecurityGroup>() {
                name(&mut inv, &display);
                description(&mut inv, &g.description);
                if display == "default" {
                    inv.push(Invalid::new(
                        "name",
                        "`default` is the project's own group; give yours another name",
                    ));
                }
            }
        }
        SecurityGroupRule::KIND => {
            if let Ok(r) = cx.resource::<SecurityGroupRule>() {
                rule(&mut inv, &r);
            }
        }
        KeyPair::KIND => {
            if let Ok(k) = cx.resource::<KeyPair>() {
                let cloud_name =
                    super::compute::key_pair_name(&k, &display, cx.scope(), &cx.path());
                key_pair(&mut inv, &k, &cloud_name);
            }
        }
        Port::KIND => {
            if let Ok(n) = cx.resource::<Port>() {
                name(&mut inv, &display);
                description(&mut inv, &n.description);
                // `fixed_ip` is a `Val<IpAddr>`: text that is not an address is the generic
                // pre-flight's (`Element::visit_unparsed`).
            }
        }
        Server::KIND => {
            if let Ok(s) = cx.resource::<Server>() {
                name(&mut inv, &display);
                server(&mut inv, &s);
            }
        }
        FloatingIp::KIND => {
            if let Ok(f) = cx.resource::<FloatingIp>() {
                if f.pool.is_none() && p.external_network.is_none() {
                    inv.push(Invalid::new(
                        "pool",
                        "no pool: give `.pool(\"public\")` (the external network) or the proxy \
                         `.external_network(…)`",
                    ));
                }
                if f.server.is_some() == f.port.is_some() {
                    inv.push(Invalid::new(
                        "server",
                        "a floating IP is for exactly one server or one port",
                    ));
                }
            }
        }
        _ => {}
    }
    inv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_checked_before_any_call() {
        use actuator::model::{At, Element, ModelId, Out, Ref, Unparsed};
        let net = || Ref::<Network>::new(At::root(ModelId::fresh()));
        let version = |c: &str| literal_version(&Val::parse(c)).map(|(v, _)| v);
        assert_eq!(version("192.168.23.0/24"), Some(4));
        assert_eq!(version("fd00::/64"), Some(6));
        // An output is not known yet: nothing to compare with the subnet's or rule's version.
        assert_eq!(
            literal_version(&Val::Out(Out::new(At::root(ModelId::fresh()), "cidr"))),
            None
        );
        // Text that is not a range is the generic pre-flight's: it names the argument and why.
        for (text, why) in [
            ("192.168.23.0", "expected ADDRESS/PREFIX"),
            ("192.168.300.0/24", "`192.168.300.0` is not an IP address"),
            ("10.0.0.0/33", "from 0 to 32"),
        ] {
            let mut found = Vec::new();
            Subnet::new("s", net(), text).visit_unparsed(&mut |arg, u| {
                if let Unparsed::Text { text: t, error: e } = u {
                    found.push((arg, t.to_owned(), e.to_owned()))
                }
            });
            assert_eq!(found.len(), 1, "{text}: {found:?}");
            assert_eq!((found[0].0, found[0].1.as_str()), ("cidr", text));
            assert!(found[0].2.contains(why), "{text}: {found:?}");
            let mut found = Vec::new();
            rule_of().cidr(text).visit_unparsed(&mut |arg, u| {
                if let Unparsed::Text { text: t, .. } = u {
                    found.push((arg, t.to_owned()))
                }
            });
            assert_eq!(found, [("cidr", text.to_owned())]);
        }
        assert_eq!(
            literal_version(&Subnet::new("s", net(), "10.0.0.0/33").cidr),
            None
        );
    }

    #[test]
    fn rules_name_what_is_wrong() {
        let mut inv = Vec::new();
        let r = rule_of().tcp(80, 22).cidr("fd00::/64");
        rule(&mut inv, &r);
        let text: Vec<String> = inv.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("80 is above to_port 22")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|t| t.contains("IPv6 range but the rule's ethertype is IPv4")),
            "{text:?}"
        );
        let mut inv = Vec::new();
        rule(&mut inv, &rule_of().protocol("tpc", None, None));
        assert!(inv[0].to_string().contains("`tpc`"), "{inv:?}");
    }

    fn rule_of() -> SecurityGroupRule {
        use actuator::model::Ref;
        SecurityGroupRule::new(
            "r",
            Ref::<SecurityGroup>::new(actuator::model::At::root(actuator::model::ModelId::fresh())),
        )
    }
}
