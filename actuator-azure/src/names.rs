//! Names and values Azure checks, checked before any call: each resource type's name rules, the
//! generated resource group name, address ranges, ports, rule priorities, VM logins.

use std::net::Ipv4Addr;

use actuator::model::{Cidr, Val};

/// Azure's naming rules for one resource type.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NameRule {
    pub what: &'static str,
    pub min: usize,
    pub max: usize,
    /// Characters besides ASCII letters and digits.
    pub extra: &'static str,
    /// Characters it may not start with (besides those not allowed at all).
    pub not_first: &'static str,
    /// Characters it may not end with.
    pub not_last: &'static str,
}

/// Resource groups: 1–90 of letters, digits, `_ . ( ) -`, not ending with `.`.
pub(crate) const GROUP: NameRule = NameRule {
    what: "resource group",
    min: 1,
    max: 90,
    extra: "_.()-",
    not_first: "",
    not_last: ".",
};
/// Virtual networks: 2–64, starting with a letter or digit, ending with one or `_`.
pub(crate) const VNET: NameRule = NameRule {
    what: "virtual network",
    min: 2,
    max: 64,
    extra: "_.-",
    not_first: "_.-",
    not_last: ".-",
};
/// Subnets, security groups and rules, public IPs, interfaces: 1–80, the same shape.
pub(crate) const NETWORK: NameRule = NameRule {
    what: "network resource",
    min: 1,
    max: 80,
    extra: "_.-",
    not_first: "_.-",
    not_last: ".-",
};
/// Linux VMs: 1–64, not starting with `_`, not ending with `.` or `-`.
pub(crate) const VM: NameRule = NameRule {
    what: "virtual machine",
    min: 1,
    max: 64,
    extra: "_.-",
    not_first: "_",
    not_last: ".-",
};

impl NameRule {
    /// What is wrong with `name`, if anything.
    pub fn check(&self, name: &str) -> Option<String> {
        let n = name.chars().count();
        if n < self.min || n > self.max {
            return Some(format!(
                "{:?}: a {} name has {}–{} characters, not {n}",
                name, self.what, self.min, self.max
            ));
        }
        if let Some(c) = name
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && !self.extra.contains(*c))
        {
            return Some(format!(
                "{name:?}: a {} name has letters, digits and `{}` only, not {c:?}",
                self.what, self.extra
            ));
        }
        if let Some(c) = name.chars().next().filter(|c| self.not_first.contains(*c)) {
            return Some(format!(
                "{name:?}: a {} name cannot start with {c:?}",
                self.what
            ));
        }
        if let Some(c) = name.chars().last().filter(|c| self.not_last.contains(*c)) {
            return Some(format!(
                "{name:?}: a {} name cannot end with {c:?}",
                self.what
            ));
        }
        None
    }
}

/// FNV-1a: a hash that is the same in every build (the standard library's is not).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The generated Azure name of a resource group: `<system>-<workspace>-<name>`, each character
/// Azure refuses replaced by `-`; longer than 90 characters, cut and suffixed with a hash of the
/// whole, so two long names stay two names.
///
/// ```text
/// group_name("web shop", "prod", "cluster") == "web-shop-prod-cluster"
/// ```
pub(crate) fn group_name(system: &str, workspace: &str, name: &str) -> String {
    let whole = format!("{system}-{workspace}-{name}");
    let mut s: String = whole
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || GROUP.extra.contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.len() > GROUP.max {
        s.truncate(GROUP.max - 9);
        s = format!("{s}-{:08x}", fnv(&whole) as u32);
    }
    while s.ends_with('.') {
        s.pop();
        s.push('-');
    }
    s
}

/// The name a create-before-destroy replacement takes while the old resource still holds the
/// first one: `<name>-r`, and back to `<name>` for the replacement after that.
pub(crate) fn alternate(name: &str, base: &str) -> String {
    if name == base {
        format!("{base}-r")
    } else {
        base.to_owned()
    }
}

/// The Linux host name of a VM named `name`: `_` and `.` become `-` (as the original did).
pub(crate) fn computer_name(name: &str) -> String {
    name.chars()
        .map(|c| if c == '_' || c == '.' { '-' } else { c })
        .collect()
}

/// What is wrong with a Linux host name.
pub(crate) fn check_computer_name(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 64 {
        return Some(format!("{name:?}: a host name has 1–64 characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        || name.starts_with('-')
        || name.ends_with('-')
    {
        return Some(format!(
            "{name:?}: a host name has letters, digits and inner `-` only"
        ));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("{name:?}: a host name cannot be all digits"));
    }
    None
}

/// Logins Azure refuses for a Linux administrator.
const RESERVED_USERS: &[&str] = &[
    "administrator",
    "admin",
    "user",
    "user1",
    "test",
    "user2",
    "test1",
    "user3",
    "admin1",
    "1",
    "123",
    "a",
    "actuser",
    "adm",
    "admin2",
    "aspnet",
    "backup",
    "console",
    "david",
    "guest",
    "john",
    "owner",
    "root",
    "server",
    "sql",
    "support",
    "support_388945a0",
    "sys",
    "test2",
    "test3",
    "user4",
    "user5",
];

/// What is wrong with a Linux administrator login.
pub(crate) fn check_admin_user(user: &str) -> Option<String> {
    if user.is_empty() || user.len() > 64 {
        return Some(format!("{user:?}: a login has 1–64 characters"));
    }
    if RESERVED_USERS.contains(&user.to_ascii_lowercase().as_str()) {
        return Some(format!("{user:?} is a login Azure reserves"));
    }
    let first_ok = user
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !first_ok
        || !user
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        || user.ends_with('.')
    {
        return Some(format!(
            "{user:?}: a login starts with a letter or `_` and has letters, digits, `_ . -` only"
        ));
    }
    None
}

/// What is wrong with a Linux administrator password (never quoting it): 6–72 characters, three of
/// lower case, upper case, digits and other characters.
pub(crate) fn check_password(password: &str) -> Option<String> {
    let n = password.chars().count();
    if !(6..=72).contains(&n) {
        return Some(format!("the password has {n} characters; Azure wants 6–72"));
    }
    let classes = [
        password.chars().any(|c| c.is_ascii_lowercase()),
        password.chars().any(|c| c.is_ascii_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    if classes.iter().filter(|c| **c).count() < 3 {
        return Some(
            "the password needs three of: lower case, upper case, digits, other characters".into(),
        );
    }
    None
}

/// What is wrong with an OpenSSH public key for a VM (Azure takes RSA and Ed25519 keys).
pub(crate) fn check_ssh_key(key: &str) -> Option<String> {
    match actuator::provision::openssh_key_type(key) {
        Err(e) => Some(e),
        Ok("ssh-rsa" | "ssh-ed25519") => None,
        Ok(other) => Some(format!(
            "a `{other}` key: Azure takes `ssh-rsa` and `ssh-ed25519` keys only"
        )),
    }
}

/// A network's or subnet's range, when it is a literal: IPv4, with a prefix of at most `max_len`.
/// (That it is a range, host bits zero, is the generic pre-flight's: the argument is a
/// `Val<Cidr>`. An output or a variable is not known before the run.)
pub(crate) fn check_range(range: &Val<Cidr>, max_len: u8) -> Option<String> {
    let Val::Lit(c) = range else {
        return None;
    };
    if !c.addr().is_ipv4() {
        return Some(format!("\"{c}\": not an IPv4 range like 10.0.0.0/16"));
    }
    (c.prefix() > max_len).then(|| format!("\"{c}\": Azure's ranges here are /{max_len} or larger"))
}

/// A port range of a rule: `*`, `N` or `N-M`.
pub(crate) fn check_ports(ports: &str) -> Option<String> {
    if ports == "*" {
        return None;
    }
    let parse = |p: &str| p.trim().parse::<u16>().ok();
    let ok = match ports.split_once('-') {
        Some((a, b)) => matches!((parse(a), parse(b)), (Some(a), Some(b)) if a <= b),
        None => parse(ports).is_some(),
    };
    (!ok).then(|| format!("{ports:?}: a port range is `*`, `22` or `8000-8100`"))
}

/// An address of a rule: `*`, an IPv4 address or range, or a service tag (`Internet` …).
pub(crate) fn check_rule_address(a: &str) -> Option<String> {
    if a == "*"
        || a.parse::<Ipv4Addr>().is_ok()
        || a.parse::<Cidr>().is_ok_and(|c| c.addr().is_ipv4())
    {
        return None;
    }
    let tag = a.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && a.chars().all(|c| c.is_ascii_alphanumeric() || c == '.');
    (!tag).then(|| format!("{a:?}: an address is `*`, an IPv4 address or range, or a service tag"))
}

/// A DNS label of a public IP: 3–63 lower-case letters, digits and inner `-`, starting with a
/// letter.
pub(crate) fn check_dns_label(label: &str) -> Option<String> {
    let ok = (3..=63).contains(&label.len())
        && label.starts_with(|c: char| c.is_ascii_lowercase())
        && !label.ends_with('-')
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (!ok).then(|| {
        format!("{label:?}: a DNS label has 3–63 lower-case letters, digits and inner `-`, starting with a letter")
    })
}

/// A location as ARM writes it: `West Europe` → `westeurope`.
pub(crate) fn location(l: &str) -> String {
    l.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(VNET.check("vnet").is_none());
        assert!(VNET.check("v").unwrap().contains("2–64"));
        assert!(NETWORK.check("nic_1").is_none());
        assert!(NETWORK.check("nic-").unwrap().contains("end"));
        assert!(NETWORK.check("-nic").unwrap().contains("start"));
        assert!(NETWORK.check("a b").unwrap().contains("' '"));
        assert!(VM.check("_vm").is_some());
        assert!(GROUP.check("rg.").is_some() && GROUP.check("my(rg)").is_none());
    }

    #[test]
    fn generated_names() {
        assert_eq!(
            group_name("web shop", "prod", "cluster"),
            "web-shop-prod-cluster"
        );
        let long = group_name(&"s".repeat(60), "default", &"n".repeat(40));
        assert_eq!(long.len(), 90);
        assert_ne!(
            long,
            group_name(&"s".repeat(60), "default", &"n".repeat(41))
        );
        assert!(GROUP.check(&long).is_none());
        assert_eq!(group_name("a", "b", "c."), "a-b-c-");
        assert_eq!(alternate("ip", "ip"), "ip-r");
        assert_eq!(alternate("ip-r", "ip"), "ip");
        assert_eq!(computer_name("web_1.x"), "web-1-x");
        assert!(check_computer_name("123").is_some() && check_computer_name("web-1").is_none());
    }

    #[test]
    fn values() {
        assert!(check_admin_user("azureuser").is_none());
        assert!(check_admin_user("admin").unwrap().contains("reserves"));
        assert!(check_admin_user("9lives").is_some());
        assert!(check_password("Sup3r-secret").is_none());
        let e = check_password("alllowercase").unwrap();
        assert!(!e.contains("alllowercase"), "never quotes the password");
        assert!(check_ssh_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq me").is_none());
        assert!(check_ssh_key("ecdsa-sha2 AAAA").is_some());
        let ecdsa = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAI me";
        assert!(check_ssh_key(ecdsa).unwrap().contains("Azure takes"));
        let range = |c: &str| check_range(&Val::parse(c), 29);
        assert!(range("10.0.0.0/16").is_none());
        assert!(range("10.0.0.0/30").unwrap().contains("/29 or larger"));
        assert!(range("fd00::/48").unwrap().contains("not an IPv4 range"));
        // Not a range at all: the generic pre-flight's (`Val::Invalid`), not reported twice.
        assert!(range("10.0.1.0/16").is_none());
        assert!(check_ports("22").is_none() && check_ports("80-90").is_none());
        assert!(check_ports("90-80").is_some() && check_ports("http").is_some());
        assert!(
            check_rule_address("Internet").is_none() && check_rule_address("10.1.0.0/16").is_none()
        );
        assert!(check_rule_address("10.1.0.1/16").is_some() && check_rule_address("a b").is_some());
        assert!(
            check_rule_address("10.1.0.1").is_none() && check_rule_address("fd00::/48").is_some()
        );
        assert!(check_dns_label("web-1").is_none() && check_dns_label("Web").is_some());
        assert_eq!(location("West Europe"), "westeurope");
    }
}
