//! Times on the wire (RFC 3339) and how client commands show them: ages like kubectl's
//! (`5s`, `3m2s`, `4h`, `2d`) and build durations like Go's (`1.23s`, `45ms`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `2026-11-26T07:00:00.123456Z` (or with a `+hh:mm`/`-hh:mm` offset); `None` for
/// anything else, including the empty string the API uses for "unset".
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
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

/// Formats `t` as the wire does: `2026-11-26T07:00:00.123456Z`.
pub(crate) fn format_rfc3339(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (inverse of `days_from_civil`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// A short age such as kubectl prints: `45s`, `3m12s`, `2h5m`, `3d4h`, `12d`.
pub(crate) fn human_age(d: Duration) -> String {
    let s = d.as_secs();
    if s < 60 {
        return format!("{s}s");
    }
    let (m, h, days) = (s / 60, s / 3600, s / 86_400);
    if m < 10 {
        let rest = s % 60;
        return if rest == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rest}s")
        };
    }
    if h < 3 {
        return format!("{m}m");
    }
    if h < 8 {
        let rest = m % 60;
        return if rest == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rest}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    if days < 8 {
        let rest = h % 24;
        return if rest == 0 {
            format!("{days}d")
        } else {
            format!("{days}d{rest}h")
        };
    }
    format!("{days}d")
}

/// The age of an RFC 3339 time at `now`, or `<none>` when unset.
pub(crate) fn age_of(text: Option<&str>, now: SystemTime) -> String {
    text.and_then(parse_rfc3339)
        .map(|t| human_age(now.duration_since(t).unwrap_or_default()))
        .unwrap_or_else(|| "<none>".to_owned())
}

/// A build duration: `850ms`, `1.25s`, `2m3.5s`.
pub(crate) fn build_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs_f64();
    if secs < 60.0 {
        return format!("{}s", trim_float(secs));
    }
    let minutes = d.as_secs() / 60;
    let rest = secs - (minutes * 60) as f64;
    format!("{minutes}m{}s", trim_float(rest))
}

fn trim_float(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_wire_format() {
        let t = parse_rfc3339("2026-11-26T07:00:00.123456Z").unwrap();
        let d = t.duration_since(UNIX_EPOCH).unwrap();
        assert_eq!(d.as_secs(), 1_795_676_400);
        assert_eq!(d.subsec_micros(), 123_456);
        assert_eq!(
            parse_rfc3339("2026-11-26T08:00:00+01:00"),
            parse_rfc3339("2026-11-26T07:00:00Z")
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(UNIX_EPOCH));
    }

    #[test]
    fn formats_what_it_parses() {
        for text in [
            "2026-11-26T07:00:00.123456Z",
            "2000-02-29T23:59:59.000001Z",
            "1970-01-01T00:00:00.000000Z",
        ] {
            assert_eq!(format_rfc3339(parse_rfc3339(text).unwrap()), text);
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
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(Duration::from_secs(5)), "5s");
        assert_eq!(human_age(Duration::from_secs(192)), "3m12s");
        assert_eq!(human_age(Duration::from_secs(1800)), "30m");
        assert_eq!(human_age(Duration::from_secs(4 * 3600 + 600)), "4h10m");
        assert_eq!(human_age(Duration::from_secs(20 * 3600)), "20h");
        assert_eq!(human_age(Duration::from_secs(3 * 86_400 + 3600)), "3d1h");
    }

    #[test]
    fn build_durations_read_like_go() {
        assert_eq!(build_duration(Duration::from_millis(45)), "45ms");
        assert_eq!(build_duration(Duration::from_millis(1250)), "1.25s");
        assert_eq!(build_duration(Duration::from_millis(2000)), "2s");
        assert_eq!(build_duration(Duration::from_millis(123_500)), "2m3.5s");
    }
}
