//! `GET /subscriptions/{s}/resources` and `…/resourceGroups/{rg}/resources`, with the `$filter`
//! forms discovery by tag needs: `tagName eq 'k' and tagValue eq 'v'`, `tagName eq 'k'`, and
//! `resourceType eq 'Namespace/type'`. Child resources (subnets, rules) are not listed, as in ARM.
//! Answers are paged ([`crate::paging`]).

use serde_json::{Map, Value};

use crate::error::ArmError;
use crate::handlers::ArmRequest;
use crate::reply::Reply;
use crate::store::{self, State};
use crate::{paging, render};

/// A parsed `$filter`.
#[derive(Debug, PartialEq)]
pub(crate) enum Filter {
    All,
    Tag { name: String, value: Option<String> },
    Type(String),
}

/// Parses the supported `$filter` forms (keywords case-insensitive, values in single quotes).
pub(crate) fn parse_filter(filter: Option<&str>) -> Result<Filter, ArmError> {
    let Some(f) = filter.map(str::trim).filter(|f| !f.is_empty()) else {
        return Ok(Filter::All);
    };
    let bad = || ArmError::invalid_filter(f);
    let clauses: Vec<(String, String)> = split_and(f)
        .into_iter()
        .map(|c| clause(c).ok_or_else(bad))
        .collect::<Result<_, _>>()?;
    match clauses.as_slice() {
        [(k, v)] if k == "tagname" => Ok(Filter::Tag {
            name: v.clone(),
            value: None,
        }),
        [(k1, name), (k2, value)] if k1 == "tagname" && k2 == "tagvalue" => Ok(Filter::Tag {
            name: name.clone(),
            value: Some(value.clone()),
        }),
        [(k, v)] if k == "resourcetype" => Ok(Filter::Type(v.clone())),
        _ => Err(bad()),
    }
}

fn split_and(f: &str) -> Vec<&str> {
    // Split on " and " outside quotes.
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let bytes = f.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            quoted = !quoted;
        } else if !quoted && f[i..].len() >= 5 && f[i..i + 5].eq_ignore_ascii_case(" and ") {
            parts.push(&f[start..i]);
            start = i + 5;
            i += 5;
            continue;
        }
        i += 1;
    }
    parts.push(&f[start..]);
    parts
}

/// `name eq 'value'` → (lowercase name, value).
fn clause(c: &str) -> Option<(String, String)> {
    let c = c.trim();
    let (name, rest) = c.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let rest = rest
        .get(..2)
        .filter(|op| op.eq_ignore_ascii_case("eq"))
        .map(|_| rest[2..].trim())?;
    let value = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    Some((name.to_ascii_lowercase(), value.replace("''", "'")))
}

/// Whether `tags` match a tag filter: names compare case-insensitively, values exactly.
pub(crate) fn tags_match(
    tags: Option<&Map<String, Value>>,
    name: &str,
    value: Option<&str>,
) -> bool {
    tags.into_iter().flatten().any(|(k, v)| {
        k.eq_ignore_ascii_case(name) && value.is_none_or(|want| v.as_str() == Some(want))
    })
}

pub(crate) fn resources(
    st: &State,
    req: &ArmRequest,
    sub: &str,
    rg: Option<&str>,
) -> Result<Reply, ArmError> {
    let filter = parse_filter(req.query("$filter"))?;
    let group = rg.map(|rg| store::group_key(sub, rg));
    let items: Vec<paging::Item> = st
        .resources
        .values()
        .filter(|r| r.kind.tracked())
        .filter(|r| r.sub.eq_ignore_ascii_case(sub))
        .filter(|r| group.as_ref().is_none_or(|g| &r.group == g))
        .filter(|r| match &filter {
            Filter::All => true,
            Filter::Tag { name, value } => tags_match(r.tags.as_ref(), name, value.as_deref()),
            Filter::Type(t) => r.kind.arm_type().eq_ignore_ascii_case(t),
        })
        .map(|r| (paging::seq_position(r.seq), render::generic(st, r)))
        .collect();
    paging::page(st, req, items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(parse_filter(None).unwrap(), Filter::All);
        assert_eq!(
            parse_filter(Some("tagName eq 'actuator-system' and tagValue eq 'it''s'")).unwrap(),
            Filter::Tag {
                name: "actuator-system".into(),
                value: Some("it's".into())
            }
        );
        assert_eq!(
            parse_filter(Some("TAGNAME EQ 'x'")).unwrap(),
            Filter::Tag {
                name: "x".into(),
                value: None
            }
        );
        assert_eq!(
            parse_filter(Some("resourceType eq 'Microsoft.Compute/virtualMachines'")).unwrap(),
            Filter::Type("Microsoft.Compute/virtualMachines".into())
        );
        assert!(parse_filter(Some("location eq 'x'")).is_err());
        assert!(parse_filter(Some("tagName eq x")).is_err());
    }
}
