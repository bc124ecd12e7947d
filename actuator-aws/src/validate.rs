//! The pre-flight of every AWS resource: what EC2 would refuse, found before any call (the plan
//! runs it for the whole model, so a bad port in the fortieth rule fails before the first VPC is
//! made). Each problem names the argument and quotes its value; the engine adds the model path.

use std::net::IpAddr;

use actuator::provision::{Invalid, ProvisionCx, openssh_key_type};

use crate::resources::{Instance, KeyPair, PublicIp, SecurityGroupRule, Subnet, Vpc};

/// What is wrong with the arguments of the resource of `cx` (empty: nothing).
pub(crate) fn validate(cx: &ProvisionCx) -> Vec<Invalid> {
    let mut bad = Vec::new();
    match cx.kind().as_str() {
        Vpc::KIND => {
            if let Ok(v) = cx.resource::<Vpc>() {
                cidr4(&mut bad, "cidr_block", &v.cidr_block, 16..=28);
                if !["default", "dedicated", "host"].contains(&v.instance_tenancy.as_str()) {
                    bad.push(Invalid::new(
                        "instance_tenancy",
                        format!(
                            "{:?} is not one of default, dedicated, host",
                            v.instance_tenancy
                        ),
                    ));
                }
            }
        }
        Subnet::KIND => {
            if let Ok(v) = cx.resource::<Subnet>() {
                cidr4(&mut bad, "cidr_block", &v.cidr_block, 16..=28);
            }
        }
        SecurityGroupRule::KIND => {
            if let Ok(v) = cx.resource::<SecurityGroupRule>() {
                rule(&mut bad, &v);
            }
        }
        KeyPair::KIND => {
            if let Ok(v) = cx.resource::<KeyPair>() {
                key_pair(&mut bad, &v);
            }
        }
        PublicIp::KIND => {
            if let Ok(v) = cx.resource::<PublicIp>()
                && v.domain != "vpc"
            {
                bad.push(Invalid::new(
                    "domain",
                    format!("{:?}: EC2 has only the `vpc` domain now", v.domain),
                ));
            }
        }
        Instance::KIND => {
            if let Ok(v) = cx.resource::<Instance>() {
                instance(&mut bad, &v);
            }
        }
        _ => {}
    }
    bad
}

/// An IPv4 range whose prefix EC2 accepts for the resource.
fn cidr4(bad: &mut Vec<Invalid>, arg: &str, value: &str, prefixes: std::ops::RangeInclusive<u8>) {
    match value.split_once('/') {
        Some((ip, len))
            if ip.parse::<std::net::Ipv4Addr>().is_ok()
                && len.parse::<u8>().is_ok_and(|l| prefixes.contains(&l)) => {}
        _ => bad.push(Invalid::new(
            arg,
            format!(
                "{value:?} is not an IPv4 range with a prefix length from /{} to /{}",
                prefixes.start(),
                prefixes.end()
            ),
        )),
    }
}

fn rule(bad: &mut Vec<Invalid>, v: &SecurityGroupRule) {
    let proto = v.ip_protocol.as_str();
    let numbered = proto.parse::<i32>().ok();
    let ported = matches!(proto, "tcp" | "udp" | "6" | "17");
    if !matches!(proto, "tcp" | "udp" | "icmp" | "icmpv6" | "-1")
        && !numbered.is_some_and(|n| (0..=255).contains(&n))
    {
        bad.push(Invalid::new(
            "ip_protocol",
            format!("{proto:?} is not tcp, udp, icmp, icmpv6, -1 or a protocol number 0–255"),
        ));
    }
    if ported {
        for (arg, p) in [("from_port", v.from_port), ("to_port", v.to_port)] {
            if !(0..=65535).contains(&p) {
                bad.push(Invalid::new(arg, format!("{p} is not a port (0–65535)")));
            }
        }
        if v.from_port > v.to_port {
            bad.push(Invalid::new(
                "from_port",
                format!("{} is above to_port {}", v.from_port, v.to_port),
            ));
        }
    }
    let cidr_ok = v.cidrip.split_once('/').is_some_and(|(ip, len)| {
        match (ip.parse::<IpAddr>(), len.parse::<u8>()) {
            (Ok(IpAddr::V4(_)), Ok(l)) => l <= 32,
            (Ok(IpAddr::V6(_)), Ok(l)) => l <= 128,
            _ => false,
        }
    });
    if !cidr_ok {
        bad.push(Invalid::new(
            "cidrip",
            format!(
                "{:?} is not an IPv4 or IPv6 range (`0.0.0.0/0`, `::/0`)",
                v.cidrip
            ),
        ));
    }
    if let Some(d) = &v.description
        && d.chars().count() > 255
    {
        bad.push(Invalid::new(
            "description",
            format!("{} characters; EC2 allows 255", d.chars().count()),
        ));
    }
}

/// The most tags of their own an instance can have: EC2 allows 50, `Name` and the four identity
/// tags take five.
const OWN_TAGS: usize = 45;

/// A created pair's type, or an imported pair's readable OpenSSH public key (never both: EC2
/// chooses neither the type nor hands out the private key of an imported pair).
fn key_pair(bad: &mut Vec<Invalid>, v: &KeyPair) {
    if let Some(t) = &v.key_type
        && !["rsa", "ed25519"].contains(&t.as_str())
    {
        bad.push(Invalid::new(
            "key_type",
            format!("{t:?} is not rsa or ed25519"),
        ));
    }
    let Some(file) = &v.public_key_file else {
        return;
    };
    for (arg, given) in [
        ("key_type", v.key_type.is_some()),
        ("private_key_file", v.private_key_file.is_some()),
    ] {
        if given {
            bad.push(Invalid::new(
                arg,
                format!(
                    "given with public_key_file {}: it applies to a pair EC2 creates, not to an \
                     imported one",
                    file.display()
                ),
            ));
        }
    }
    match std::fs::read_to_string(file) {
        Err(e) => bad.push(Invalid::new(
            "public_key_file",
            format!("{}: {e}", file.display()),
        )),
        Ok(key) => {
            if let Err(e) = openssh_key_type(&key) {
                bad.push(Invalid::new(
                    "public_key_file",
                    format!("{}: {e}", file.display()),
                ));
            }
        }
    }
}

fn instance(bad: &mut Vec<Invalid>, v: &Instance) {
    // The constructors choose one placement; these catch fields set by hand afterwards.
    if !v.network_interfaces.is_empty() {
        if v.subnet.is_some() {
            bad.push(Invalid::new(
                "subnet",
                "given as well as network interfaces: the interfaces carry the subnet",
            ));
        }
        if !v.sec_groups.is_empty() {
            bad.push(Invalid::new(
                "security_groups",
                format!(
                    "{} given with network interfaces: put them on the interfaces",
                    v.sec_groups.len()
                ),
            ));
        }
    }
    if let Some(t) = &v.instance_type
        && !t
            .split_once('.')
            .is_some_and(|(family, size)| !family.is_empty() && !size.is_empty())
    {
        bad.push(Invalid::new(
            "instance_type",
            format!("{t:?} is not an instance type (family.size, e.g. `t3.micro`)"),
        ));
    }
    if v.tags.len() > OWN_TAGS {
        bad.push(Invalid::new(
            "tags",
            format!(
                "{} tags; at most {OWN_TAGS} besides Name and the identity tags",
                v.tags.len()
            ),
        ));
    }
    for (k, val) in &v.tags {
        if k == "Name" || k.starts_with("actuator:") || k.starts_with("aws:") {
            bad.push(Invalid::new(
                "tags",
                format!("key {k:?} is reserved (Name, actuator:*, aws:*)"),
            ));
        } else if k.is_empty() || k.chars().count() > 128 {
            bad.push(Invalid::new(
                "tags",
                format!("key {k:?} must have 1 to 128 characters"),
            ));
        }
        if val.chars().count() > 256 {
            bad.push(Invalid::new(
                "tags",
                format!("the value of {k:?} has more than 256 characters"),
            ));
        }
    }
}
