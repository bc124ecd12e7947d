//! Parsing a PUT/PATCH body into its ARM parts, with each provider's error for a malformed one.

use serde_json::{Map, Value, json};

use crate::error::ArmError;
use crate::kind::Provider;

/// A resource body split into its ARM envelope.
#[derive(Clone, Debug, Default)]
pub(crate) struct Body {
    pub location: Option<String>,
    pub tags: Option<Map<String, Value>>,
    pub properties: Map<String, Value>,
    /// Other top-level members worth keeping (`sku`, `zones`, `managedBy`, …). `id`, `name`,
    /// `type` and `etag` are read-only and ignored, as ARM does.
    pub top: Map<String, Value>,
}

fn malformed(provider: Provider, detail: &str) -> ArmError {
    match provider {
        Provider::Network => {
            let mut e = ArmError::new(400, "InvalidRequestFormat", "Cannot parse the request.");
            e.details = Some(vec![json!({"code": "InvalidJson", "message": detail})]);
            e
        }
        _ => ArmError::invalid_request_content(detail),
    }
}

/// Parses a body. An empty body counts as `{}`.
pub(crate) fn parse(bytes: &[u8], provider: Provider) -> Result<Body, ArmError> {
    let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(bytes).map_err(|e| malformed(provider, &e.to_string()))?
    };
    let Value::Object(mut obj) = value else {
        return Err(malformed(provider, "the body is not a JSON object"));
    };
    let location = match obj.remove("location") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(normalize_location(&s)),
        Some(_) => return Err(malformed(provider, "'location' is not a string")),
    };
    let tags = match obj.remove("tags") {
        None | Some(Value::Null) => None,
        Some(Value::Object(t)) => {
            if let Some((k, _)) = t.iter().find(|(_, v)| !v.is_string()) {
                return Err(malformed(
                    provider,
                    &format!("tag '{k}' has a non-string value"),
                ));
            }
            Some(t)
        }
        Some(_) => return Err(malformed(provider, "'tags' is not an object")),
    };
    let properties = match obj.remove("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => return Err(malformed(provider, "'properties' is not an object")),
    };
    for readonly in ["id", "name", "type", "etag"] {
        obj.remove(readonly);
    }
    Ok(Body {
        location,
        tags,
        properties,
        top: obj,
    })
}

/// ARM answers with canonical region names: `West US` → `westus`.
pub(crate) fn normalize_location(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

/// Removes read-only members a client may echo back from a GET.
pub(crate) fn strip(props: &mut Map<String, Value>, readonly: &[&str]) {
    for k in readonly {
        props.remove(*k);
    }
}

/// Resource names: 1–80 characters, word characters, `.`, `-`, `_`; starting with a word
/// character and ending with a word character or `_`.
pub(crate) fn valid_resource_name(name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let chars: Vec<char> = name.chars().collect();
    !chars.is_empty()
        && chars.len() <= 80
        && chars.iter().all(|&c| word(c) || c == '.' || c == '-')
        && word(chars[0])
        && word(chars[chars.len() - 1])
}

/// Resource-group names: 1–90 characters of `[-\w._()]`, not ending in a period.
pub(crate) fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= 90
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.()".contains(c))
        && !name.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_resource_name("vm-1_a.b"));
        assert!(valid_resource_name("x_"));
        assert!(!valid_resource_name("-x"));
        assert!(!valid_resource_name("x."));
        assert!(!valid_resource_name(&"a".repeat(81)));
        assert!(valid_group_name("rg(1).a"));
        assert!(!valid_group_name("rg."));
        assert!(!valid_group_name("rg/1"));
    }

    #[test]
    fn bodies() {
        let b = parse(br#"{"location":"West US","tags":{"a":"b"},"properties":{"x":1},"sku":{"name":"Basic"},"id":"ignored"}"#, Provider::Network).unwrap();
        assert_eq!(b.location.as_deref(), Some("westus"));
        assert_eq!(b.properties["x"], 1);
        assert!(b.top.contains_key("sku"));
        assert!(!b.top.contains_key("id"));
        let e = parse(b"{nope", Provider::Network).unwrap_err();
        assert_eq!(e.code, "InvalidRequestFormat");
        let e = parse(b"[1]", Provider::Compute).unwrap_err();
        assert_eq!(e.code, "InvalidRequestContent");
        let e = parse(br#"{"tags":{"a":1}}"#, Provider::Resources).unwrap_err();
        assert_eq!(e.status, 400);
    }
}
