//! Wall-clock timestamps in the formats ARM writes.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// `time` as RFC 3339 (`2024-05-01T12:00:00.123456Z`).
pub(crate) fn rfc3339(time: OffsetDateTime) -> String {
    time.format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_string())
}

/// Now, as RFC 3339.
pub(crate) fn rfc3339_now() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// The compact stamp of `x-ms-routing-request-id` (`20240501T120000Z`).
pub(crate) fn routing_stamp() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}
