//! ARM's paged lists. Every list answers `{"value": [...]}` with at most
//! [`crate::FakeConfig::page_size`] items; when more remain it adds `nextLink`: the same absolute
//! URL, its query kept (`api-version`, `$filter`), plus an opaque `$skiptoken` (written
//! `%24skiptoken`, as ARM writes it). The last page has no `nextLink` at all.
//!
//! The token is a cursor (the last item's position in a stable order: creation order for
//! resources, name for groups), not an offset, so a page never repeats or skips an item that was
//! there all along when others are created or deleted between two pages.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::error::ArmError;
use crate::handlers::ArmRequest;
use crate::reply::Reply;
use crate::store::State;

const SKIPTOKEN: &str = "$skiptoken";

/// An item of a list: its position in the list's order and its body.
pub(crate) type Item = (String, Value);

/// The position of a resource in creation order (fixed width, so strings sort as numbers).
pub(crate) fn seq_position(seq: u64) -> String {
    format!("{seq:020}")
}

/// The page of `items` (in any order) that `req`'s `$skiptoken` asks for.
pub(crate) fn page(st: &State, req: &ArmRequest, mut items: Vec<Item>) -> Result<Reply, ArmError> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let after = match req.query(SKIPTOKEN) {
        Some(token) => Some(decode(token)?),
        None => None,
    };
    let size = st.page_size.max(1);
    let mut rest = items
        .into_iter()
        .filter(|(pos, _)| after.as_ref().is_none_or(|a| pos > a))
        .peekable();
    let mut value = Vec::new();
    let mut last = None;
    while value.len() < size {
        let Some((pos, body)) = rest.next() else {
            break;
        };
        value.push(body);
        last = Some(pos);
    }
    let mut body = json!({ "value": value });
    if let (Some(_), Some(last)) = (rest.peek(), last) {
        body["nextLink"] = json!(next_link(st, req, &last));
    }
    Ok(Reply::json(200, body))
}

fn next_link(st: &State, req: &ArmRequest, last: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in req
        .query
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(SKIPTOKEN))
    {
        query.append_pair(k, v);
    }
    query.append_pair(SKIPTOKEN, &URL_SAFE_NO_PAD.encode(last));
    format!("{}{}?{}", st.base_url, req.path, query.finish())
}

fn decode(token: &str) -> Result<String, ArmError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            ArmError::new(
                400,
                "InvalidSkipToken",
                format!("The $skiptoken '{token}' is not valid."),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let t = URL_SAFE_NO_PAD.encode(seq_position(42));
        assert_eq!(decode(&t).unwrap(), "00000000000000000042");
        assert_eq!(decode("!!").unwrap_err().code, "InvalidSkipToken");
    }
}
