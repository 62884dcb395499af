//! ISO 8601 dates and date-times in text columns, read as Unix seconds so
//! that a log exported with `2024-04-25 22:50:12` orders like one with
//! `1714085412`. chrono (already built for Parquet) parses; the forms are
//! listed here once, for the loader's errors, `init` and docs/data.md.

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// What [`unix_seconds`] reads, for messages.
pub const DATETIME_FORMS: &str = "a Unix time, or ISO 8601 `2024-04-25`, `2024-04-25T22:50:12` \
(a space for `T` too, fractional seconds allowed), optionally with a zone `Z`, `+02:00` or `+0200`; \
no zone means UTC";

/// Zoned forms, tried after RFC 3339.
const ZONED: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"];
/// Forms without a zone, read as UTC.
const LOCAL: [&str; 4] = [
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M",
];

/// Seconds since 1970-01-01T00:00:00Z of an ISO 8601 date or date-time
/// (fractions of a second truncated toward the past, so order is kept
/// except among equal seconds); None for anything else.
pub fn unix_seconds(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp());
    }
    if let Some(t) = ZONED
        .iter()
        .find_map(|f| DateTime::parse_from_str(text, f).ok())
    {
        return Some(t.timestamp());
    }
    if let Some(t) = LOCAL
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    {
        return Some(t.and_utc().timestamp());
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values from `date -u -d '...' +%s` (GNU coreutils).
    #[test]
    fn dates_and_date_times_with_and_without_zones() {
        for (text, seconds) in [
            ("2024-04-25", 1_714_003_200),
            ("1970-01-01", 0),
            ("2024-04-25 22:50:12", 1_714_085_412),
            ("2024-04-25T22:50:12", 1_714_085_412),
            ("2024-04-25T22:50:12Z", 1_714_085_412),
            ("2024-04-25T22:50:12.987Z", 1_714_085_412),
            ("2024-04-25 22:50:12.5", 1_714_085_412),
            ("2024-04-26T00:50:12+02:00", 1_714_085_412),
            ("2024-04-26 00:50:12+0200", 1_714_085_412),
            ("2024-04-25T17:50:12-05:00", 1_714_085_412),
            ("2024-04-25T22:50", 1_714_085_400),
            (" 2024-04-25 22:50:12 ", 1_714_085_412),
            ("1969-12-31T23:59:59Z", -1),
        ] {
            assert_eq!(unix_seconds(text), Some(seconds), "{text}");
        }
        for text in [
            "",
            "25/04/2024",
            "2024-13-01",
            "2024-02-30",
            "yesterday",
            "1714085412",
            "2024-04-25T25:00:00",
        ] {
            assert_eq!(unix_seconds(text), None, "{text}");
        }
    }
}
