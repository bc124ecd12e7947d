//! How a resource's identity (system, workspace, state, model path, kind) is written on it.
//!
//! Neutron tags and Nova server tags are plain strings, so each identity pair becomes one string
//! `key=value` (`actuator:path=Grid.net`), with `%`, `,`, `/` and spaces percent-encoded: a comma
//! would split a `tags=` filter, Nova refuses `/` and `,`. Nova tags hold at most 60 characters,
//! so a longer Nova tag is replaced by `key#<hash>`; the full pairs go in the server's metadata,
//! which is what ownership is read from. Resources without tags (security group rules, floating
//! IPs while being created) carry the same strings, space-separated, as their description: the
//! [marker](marker).

use sha2::{Digest, Sha256};

/// The kind tag: ports of routers and ports of the model share a collection.
pub(crate) const KIND: &str = "actuator:kind";

/// Nova's limit on the length of a server tag.
const NOVA_TAG_MAX: usize = 60;
/// Neutron's limit on a tag and on a description.
const NEUTRON_MAX: usize = 255;

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            ',' => out.push_str("%2C"),
            '/' => out.push_str("%2F"),
            ' ' => out.push_str("%20"),
            '=' => out.push_str("%3D"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let code = rest.get(i + 1..i + 3);
        match code.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) => {
                out.push(char::from(b));
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// One identity pair as a tag string.
///
/// ```text
/// ("actuator:path", "Grid.workers.3") → "actuator:path=Grid.workers.3"
/// ```
pub(crate) fn tag(key: &str, value: &str) -> String {
    format!("{}={}", escape(key), escape(value))
}

/// Identity pairs as Neutron tags.
pub(crate) fn neutron(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .map(|(k, v)| tag(k, v))
        .map(|t| shorten(t, NEUTRON_MAX))
        .collect()
}

/// Identity pairs as Nova server tags (at most 60 characters each).
pub(crate) fn nova(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .map(|(k, v)| shorten(tag(k, v), NOVA_TAG_MAX))
        .collect()
}

/// `t` if it fits in `max`, else its key and a hash of it: still unique, still a filter.
fn shorten(t: String, max: usize) -> String {
    if t.len() <= max {
        return t;
    }
    let key = t.split('=').next().unwrap_or("actuator");
    let h = hex16(&t);
    let key: String = key.chars().take(max - h.len() - 1).collect();
    format!("{key}#{h}")
}

fn hex16(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// A short hash of `parts`, for names that must be unique to a scope and path.
pub(crate) fn hash8(parts: &[&str]) -> String {
    hex16(&parts.join("\u{0}"))[..8].to_owned()
}

/// The identity pairs a list of tag strings (or a marker's words) holds; other tags are ignored.
pub(crate) fn parse<S: AsRef<str>>(tags: impl IntoIterator<Item = S>) -> Vec<(String, String)> {
    tags.into_iter()
        .filter_map(|t| {
            let (k, v) = t.as_ref().split_once('=')?;
            k.starts_with("actuator:")
                .then(|| (unescape(k), unescape(v)))
        })
        .collect()
}

/// The description that marks a resource with no tags of its own (or not yet tagged) as this
/// identity's: `actuator <tag> <tag> …`, hashed when longer than Neutron allows.
pub(crate) fn marker(pairs: &[(String, String)]) -> String {
    let words: Vec<String> = pairs.iter().map(|(k, v)| tag(k, v)).collect();
    let m = format!("actuator {}", words.join(" "));
    if m.len() <= NEUTRON_MAX {
        m
    } else {
        format!("actuator #{}", hex16(&m))
    }
}

/// The identity pairs of a marker (none if it is not one, or a hashed one).
pub(crate) fn parse_marker(description: &str) -> Option<Vec<(String, String)>> {
    let rest = description.strip_prefix("actuator ")?;
    let pairs = parse(rest.split(' '));
    (!pairs.is_empty()).then_some(pairs)
}

/// A value of the identity pairs.
pub(crate) fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs() -> Vec<(String, String)> {
        vec![
            ("actuator:system".into(), "grid, the".into()),
            ("actuator:workspace".into(), "a/b".into()),
            ("actuator:path".into(), "Grid.workers.100%".into()),
        ]
    }

    #[test]
    fn tags_round_trip_and_never_hold_a_comma_or_slash() {
        let t = neutron(&pairs());
        assert!(t.iter().all(|t| !t.contains(',') && !t.contains('/')));
        assert_eq!(parse(&t), pairs());
        assert_eq!(parse_marker(&marker(&pairs())).unwrap(), pairs());
        assert_eq!(parse(["other", "x=y"]), vec![]);
    }

    #[test]
    fn long_nova_tags_are_hashed_to_sixty_characters() {
        let long = vec![("actuator:path".to_owned(), "G.".repeat(60))];
        let t = nova(&long);
        assert!(
            t[0].len() <= 60 && t[0].starts_with("actuator:path#"),
            "{t:?}"
        );
        assert_eq!(t, nova(&long), "deterministic");
        assert_eq!(nova(&pairs()[..1]), vec!["actuator:system=grid%2C%20the"]);
        let m = marker(&[("actuator:path".to_owned(), "x".repeat(300))]);
        assert!(m.len() <= 255 && parse_marker(&m).is_none());
    }
}
