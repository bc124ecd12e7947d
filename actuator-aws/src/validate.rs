//! The pre-flight of every AWS resource: what EC2 would refuse, found before any call (the plan
//! runs it for the whole model, so a bad port in the fortieth rule fails before the first VPC is
//! made). Each problem names the argument and quotes its value; the engine adds the model path.
//!
//! Ranges are [`Cidr`]s: text that is not one is the generic pre-flight's (`Val::Invalid`), so
//! only what EC2 asks beyond the syntax is checked here, of literals; a range that is another
//! resource's output or a variable is not known before the run.

use actuator::model::{Cidr, Val};
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
                if let Some(c) = &v.ipv6_cidr_block {
                    cidr6_64(&mut bad, c);
                }
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

/// An IPv4 range whose prefix EC2 accepts for the resource (a literal; see the module's note).
fn cidr4(
    bad: &mut Vec<Invalid>,
    arg: &str,
    value: &Val<Cidr>,
    prefixes: std::ops::RangeInclusive<u8>,
) {
    if let Val::Lit(c) = value
        && !(c.addr().is_ipv4() && prefixes.contains(&c.prefix()))
    {
        bad.push(Invalid::new(
            arg,
            format!(
                "\"{c}\" is not an IPv4 range with a prefix length from /{} to /{}",
                prefixes.start(),
                prefixes.end()
            ),
        ));
    }
}

/// A subnet's IPv6 range: EC2 takes a /64 (a literal; see the module's note).
fn cidr6_64(bad: &mut Vec<Invalid>, value: &Val<Cidr>) {
    if let Val::Lit(c) = value
        && !(c.addr().is_ipv6() && c.prefix() == 64)
    {
        bad.push(Invalid::new(
            "ipv6_cidr_block",
            format!("\"{c}\" is not an IPv6 /64 (EC2's size of a subnet's IPv6 range)"),
        ));
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
    // `cidrip` is any IPv4 or IPv6 range: that it is one is the generic pre-flight's.
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
        Ok(key) => match openssh_key_type(&key) {
            Err(e) => bad.push(Invalid::new(
                "public_key_file",
                format!("{}: {e}", file.display()),
            )),
            // ImportKeyPair takes RSA and ED25519 keys only.
            Ok("ssh-rsa" | "ssh-ed25519") => {}
            Ok(other) => bad.push(Invalid::new(
                "public_key_file",
                format!(
                    "{}: a `{other}` key; EC2 imports RSA and ED25519 keys only",
                    file.display()
                ),
            )),
        },
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

#[cfg(test)]
mod tests {
    use actuator::model::args::ArgCx;
    use actuator::model::{At, Element, ModelId, Out, Ref, Unparsed};
    use serde_json::json;

    use super::*;
    use crate::resources::{Route, RouteTable, RouteTarget, SecurityGroup};

    fn sizes(v: &Val<Cidr>) -> Vec<String> {
        let mut bad = Vec::new();
        cidr4(&mut bad, "cidr_block", v, 16..=28);
        bad.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_literal_range_is_checked_for_ec2s_sizes_and_an_output_is_left_to_the_run() {
        assert!(sizes(&Val::parse("10.0.0.0/16")).is_empty());
        for (text, shown) in [
            ("10.0.0.0/8", "\"10.0.0.0/8\""),
            ("fd00::/56", "\"fd00::/56\""),
        ] {
            let bad = sizes(&Val::parse(text));
            assert!(
                bad.len() == 1 && bad[0].contains(shown) && bad[0].contains("/16 to /28"),
                "{bad:?}"
            );
        }
        // Not a range at all: the generic pre-flight reports it (`visit_unparsed`), not this one.
        assert!(sizes(&Val::parse("10.0.0.0/33")).is_empty());
        let vpc = At::root(ModelId::fresh());
        assert!(sizes(&Val::Out(Out::new(vpc, "cidr"))).is_empty());
        let v6 = |text: &str| {
            let mut bad = Vec::new();
            cidr6_64(&mut bad, &Val::parse(text));
            bad.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        assert!(v6("2001:db8:0:1::/64").is_empty());
        assert!(v6("2001:db8::/56")[0].contains("not an IPv6 /64"));
        assert!(v6("10.0.1.0/24")[0].contains("ipv6_cidr_block"));
    }

    #[test]
    fn an_imported_key_must_be_rsa_or_ed25519() {
        let dir = tempfile::tempdir().unwrap();
        let refused = |line: &str| {
            let file = dir.path().join("key.pub");
            std::fs::write(&file, line).unwrap();
            let mut bad = Vec::new();
            key_pair(&mut bad, &KeyPair::new("k").public_key_file(&file));
            bad.iter().map(ToString::to_string).collect::<Vec<_>>()
        };
        let ed25519 =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me";
        assert_eq!(refused(ed25519), Vec::<String>::new());
        // A hardware-backed key: OpenSSH's format, but not a type EC2 imports.
        let sk = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJlAAAABHNzaDo= me";
        let why = refused(sk);
        assert_eq!(why.len(), 1, "{why:?}");
        assert!(
            why[0].contains("EC2 imports RSA and ED25519 keys only"),
            "{why:?}"
        );
    }

    #[test]
    fn bad_range_literals_are_reported_by_argument_and_recorded_as_written() {
        let sg = Ref::<SecurityGroup>::new(At::root(ModelId::fresh()));
        let rule = SecurityGroupRule::ingress("r", sg, "tcp", 22, 22, "10.0.0.1/16");
        let mut found = Vec::new();
        rule.visit_unparsed(&mut |arg, u| {
            if let Unparsed::Text { text, error } = u {
                found.push((arg, text.to_owned(), error.to_owned()))
            }
        });
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].0, found[0].1.as_str()), ("cidrip", "10.0.0.1/16"));
        assert!(found[0].2.contains("10.0.0.0/16"), "{found:?}");

        let rtb = Ref::<RouteTable>::new(At::root(ModelId::fresh()));
        let route = Route::new("r", rtb, "::/0", RouteTarget::nat_gateway(""));
        let mut args = Vec::new();
        route.visit_unparsed(&mut |arg, u| {
            if let Unparsed::Text { text, .. } = u {
                args.push((arg, text.to_owned()))
            }
        });
        assert_eq!(args, [("target", String::new())]);

        // A range written in canonical form records the same text as when it was a string: a
        // state written before ranges were typed sees no change (an IPv6 range written otherwise
        // is recorded canonically, so it shows one change; see the README).
        let cx = ArgCx::detached();
        let vpc = Vpc::new("v", "10.0.0.0/16");
        assert_eq!(vpc.args(&cx).get("cidr_block"), Some(&json!("10.0.0.0/16")));
        let subnet = Subnet::new(
            "s",
            Ref::<Vpc>::new(At::root(ModelId::fresh())),
            "10.0.1.0/24",
        )
        .ipv6_cidr_block("2001:db8:0:1::/64");
        let args = subnet.args(&cx);
        assert_eq!(args.get("cidr_block"), Some(&json!("10.0.1.0/24")));
        assert_eq!(
            args.get("ipv6_cidr_block"),
            Some(&json!("2001:db8:0:1::/64"))
        );
        assert_eq!(route.args(&cx).get("destination"), Some(&json!("::/0")));
    }
}
