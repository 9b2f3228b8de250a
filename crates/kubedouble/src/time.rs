//! Timestamps in the forms the API uses, as nanoseconds since the epoch: `metav1.Time`
//! (whole seconds), RFC 3339 with nanoseconds (container logs), and the RFC 3339 values
//! clients send (`sinceTime`). The text is lilt's one RFC 3339 codec (`lilt_model::rfc3339`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) use lilt_model::rfc3339::Precision;
use lilt_model::rfc3339::{format_with, parse};

/// Nanoseconds since the epoch, now.
pub(crate) fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(_) => 0,
    }
}

/// `metav1.Time` of now: `2026-12-02T15:23:08Z`.
pub(crate) fn now_rfc3339() -> String {
    format_nanos(now_nanos(), Precision::Seconds)
}

/// `metav1.Time` of now plus `secs`.
pub(crate) fn rfc3339_in(secs: i64) -> String {
    format_nanos(
        now_nanos() + i128::from(secs) * 1_000_000_000,
        Precision::Seconds,
    )
}

/// Formats nanoseconds since the epoch (times before it are the epoch).
pub(crate) fn format_nanos(nanos: i128, precision: Precision) -> String {
    let nanos = u64::try_from(nanos.max(0)).unwrap_or(u64::MAX);
    format_with(UNIX_EPOCH + Duration::from_nanos(nanos), precision)
}

/// Parses RFC 3339 (`Z` or `±hh:mm`, optional fraction) into nanoseconds since the epoch.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i128> {
    let t = parse(s.trim())?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_nanos() as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let n = parse_rfc3339("2026-12-02T15:23:08.123456789Z").unwrap();
        assert_eq!(
            format_nanos(n, Precision::Nanos),
            "2026-12-02T15:23:08.123456789Z"
        );
        assert_eq!(format_nanos(n, Precision::Seconds), "2026-12-02T15:23:08Z");
        assert_eq!(
            format_nanos(n, Precision::Micros),
            "2026-12-02T15:23:08.123456Z"
        );
        let off = parse_rfc3339("2026-12-02T16:23:08+01:00").unwrap();
        assert_eq!(
            format_nanos(off, Precision::Seconds),
            "2026-12-02T15:23:08Z"
        );
        assert_eq!(format_nanos(0, Precision::Seconds), "1970-01-01T00:00:00Z");
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
