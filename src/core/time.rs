//! Wall-clock instants as text: the one RFC 3339 formatter (result files' `started_at` and
//! `finished_at`, shard start instants, messages). Parsing lives with the formats that read
//! instants back.

use std::time::{SystemTime, UNIX_EPOCH};

use ::time::format_description::well_known::Rfc3339;
use ::time::OffsetDateTime;

/// `t` in RFC 3339, UTC, with as many fractional digits as it has (up to nanoseconds), e.g.
/// `2026-12-01T10:00:00.25Z`. An instant outside the years 0–9999 gives an empty string.
pub fn rfc3339(t: SystemTime) -> String {
    let nanos: i128 = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|dt| dt.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn utc_with_the_fraction_it_has() {
        let at = |s: u64, ns: u32| UNIX_EPOCH + Duration::new(s, ns);
        assert_eq!(rfc3339(at(1_795_000_000, 0)), "2026-11-18T11:06:40Z");
        assert_eq!(
            rfc3339(at(1_795_000_000, 250_000_000)),
            "2026-11-18T11:06:40.25Z"
        );
        assert_eq!(rfc3339(at(0, 1_000)), "1970-01-01T00:00:00.000001Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1969-12-31T23:59:59Z"
        );
    }
}
