//! RFC 3339 timestamps without a date crate: the one formatter and parser of the workspace.
//! The dashboard's wire uses microseconds (Tilt's `MicroTime`), Kubernetes whole seconds
//! (`metav1.Time`) and nanoseconds (container log lines).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Digits after the seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `2026-11-26T07:00:00Z` (`metav1.Time`).
    Seconds,
    /// `2026-11-26T07:00:00.123456Z` (`metav1.MicroTime`, the dashboard's wire).
    Micros,
    /// `2026-11-26T07:00:00.123456789Z` (timestamps of container logs).
    Nanos,
}

/// Formats `t` as `2026-11-26T07:00:00.123456Z`. Times before 1970 are clamped to the epoch:
/// the engine never produces them and the dashboard treats the epoch as "unset".
pub fn format(t: SystemTime) -> String {
    format_with(t, Precision::Micros)
}

/// Formats `t` with the given precision (clamped to the epoch as [`format`]).
pub fn format_with(t: SystemTime, precision: Precision) -> String {
    let mut out = String::with_capacity(30);
    write_with(&mut out, t, precision);
    out
}

/// Appends [`format`]'s text to `out`, so hot paths (one time per log line) reuse a buffer.
pub fn write(out: &mut String, t: SystemTime) {
    write_with(out, t, Precision::Micros);
}

/// Appends the formatted time to `out`.
pub fn write_with(out: &mut String, t: SystemTime, precision: Precision) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Digits by hand: this runs once per log line in a complete View.
    push_digits(out, year.clamp(0, 9999) as u64, 4);
    out.push('-');
    push_digits(out, u64::from(month), 2);
    out.push('-');
    push_digits(out, u64::from(day), 2);
    out.push('T');
    push_digits(out, hh, 2);
    out.push(':');
    push_digits(out, mm, 2);
    out.push(':');
    push_digits(out, ss, 2);
    match precision {
        Precision::Seconds => {}
        Precision::Micros => {
            out.push('.');
            push_digits(out, u64::from(since.subsec_micros()), 6);
        }
        Precision::Nanos => {
            out.push('.');
            push_digits(out, u64::from(since.subsec_nanos()), 9);
        }
    }
    out.push('Z');
}

fn push_digits(out: &mut String, mut value: u64, width: usize) {
    let mut buf = [b'0'; 9];
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    for &digit in &buf[..width] {
        out.push(char::from(digit));
    }
}

/// Parses `2026-11-26T07:00:00.123456Z` (or with a `+hh:mm`/`-hh:mm` offset); `None` for
/// anything else, including the empty string the API uses for "unset".
pub fn parse(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut value = 0u32;
        for (i, c) in frac[..digits].bytes().enumerate() {
            if i < 9 {
                value = value * 10 + u32::from(c - b'0');
            }
        }
        nanos = value * 10u32.pow(9u32.saturating_sub(digits as u32));
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            let h: i64 = rest[1..3].parse().ok()?;
            let m: i64 = rest[4..6].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wire_format() {
        let t = parse("2026-11-26T07:00:00.123456Z").unwrap();
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_795_676_400);
        assert_eq!(d.subsec_micros(), 123_456);
        assert_eq!(
            parse("2026-11-26T08:00:00+01:00"),
            parse("2026-11-26T07:00:00Z")
        );
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
    }

    #[test]
    fn formats_what_it_parses() {
        for text in [
            "2026-11-26T07:00:00.123456Z",
            "2000-02-29T23:59:59.000001Z",
            "1970-01-01T00:00:00.000000Z",
        ] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }

    #[test]
    fn rejects_malformed_times() {
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-26T07:00:00",
            "2026-11-26T07:00:00.Z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    fn check(secs: u64, micros: u32, expected: &str) {
        let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(u64::from(micros));
        assert_eq!(format(t), expected);
    }

    #[test]
    fn formats_known_instants() {
        check(0, 0, "1970-01-01T00:00:00.000000Z");
        check(951_782_400, 5, "2000-02-29T00:00:00.000005Z");
        check(1_700_000_000, 123_456, "2023-11-14T22:13:20.123456Z");
        check(4_102_444_799, 999_999, "2099-12-31T23:59:59.999999Z");
    }

    #[test]
    fn formats_each_precision() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789);
        assert_eq!(format_with(t, Precision::Seconds), "2023-11-14T22:13:20Z");
        assert_eq!(
            format_with(t, Precision::Micros),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            format_with(t, Precision::Nanos),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(parse(&format_with(t, Precision::Nanos)), Some(t));
    }

    #[test]
    fn clamps_times_before_the_epoch() {
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_secs(10)),
            "1970-01-01T00:00:00.000000Z"
        );
    }
}
