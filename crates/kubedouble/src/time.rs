//! Timestamps in the forms the API uses: `metav1.Time` (RFC 3339, whole seconds, `Z`) and
//! RFC 3339 with nanoseconds (container logs), plus
//! parsing of the RFC 3339 values clients send (`sinceTime`). Std only.

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the epoch, now.
pub(crate) fn now_nanos() -> i128 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(_) => 0,
    }
}

/// `metav1.Time` of now: `2026-12-02T15:23:08Z`.
pub(crate) fn now_rfc3339() -> String {
    format_nanos(now_nanos(), 0)
}

/// `metav1.Time` of now plus `secs`.
pub(crate) fn rfc3339_in(secs: i64) -> String {
    format_nanos(now_nanos() + i128::from(secs) * 1_000_000_000, 0)
}

/// Formats nanoseconds since the epoch with `frac` fractional digits (0, 6 or 9).
pub(crate) fn format_nanos(nanos: i128, frac: usize) -> String {
    let secs = nanos.div_euclid(1_000_000_000) as i64;
    let sub = nanos.rem_euclid(1_000_000_000) as u64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let mut out = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}");
    if frac > 0 {
        let digits = format!("{sub:09}");
        out.push('.');
        out.push_str(&digits[..frac.min(9)]);
    }
    out.push('Z');
    out
}

/// Parses RFC 3339 (`Z` or `±hh:mm`, optional fraction) into nanoseconds since the epoch.
pub(crate) fn parse_rfc3339(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.len() < 20 {
        return None;
    }
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> { s.get(from..from + len)?.parse().ok() };
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        return None;
    }
    let (h, mi, se) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = &s[start..i];
        let mut padded = digits.chars().take(9).collect::<String>();
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
    }
    let offset_secs: i64 = match b.get(i) {
        Some(b'Z') | Some(b'z') => 0,
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            let om = num(i + 4, 2)?;
            let o = oh * 3600 + om * 60;
            if *sign == b'+' { o } else { -o }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Howard Hinnant's days-from-civil algorithm.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let n = parse_rfc3339("2026-12-02T15:23:08.123456789Z").unwrap();
        assert_eq!(format_nanos(n, 9), "2026-12-02T15:23:08.123456789Z");
        assert_eq!(format_nanos(n, 0), "2026-12-02T15:23:08Z");
        assert_eq!(format_nanos(n, 6), "2026-12-02T15:23:08.123456Z");
        let off = parse_rfc3339("2026-12-02T16:23:08+01:00").unwrap();
        assert_eq!(format_nanos(off, 0), "2026-12-02T15:23:08Z");
        assert_eq!(format_nanos(0, 0), "1970-01-01T00:00:00Z");
        assert!(parse_rfc3339("yesterday").is_none());
    }
}
