//! RFC 3339 timestamps for the wire (Tilt's `MicroTime`: UTC, microseconds) without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `t` as `2026-11-26T07:00:00.123456Z`. Times before 1970 are clamped to the epoch:
/// the engine never produces them and the dashboard treats the epoch as "unset".
pub fn format(t: SystemTime) -> String {
    let mut out = String::with_capacity(27);
    write(&mut out, t);
    out
}

/// Appends the formatted time to `out`, so hot paths (one time per log line) reuse a buffer.
pub fn write(out: &mut String, t: SystemTime) {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let micros = since.subsec_micros();
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
    out.push('.');
    push_digits(out, u64::from(micros), 6);
    out.push('Z');
}

fn push_digits(out: &mut String, mut value: u64, width: usize) {
    let mut buf = [b'0'; 8];
    for slot in buf[..width].iter_mut().rev() {
        *slot = b'0' + (value % 10) as u8;
        value /= 10;
    }
    for &digit in &buf[..width] {
        out.push(char::from(digit));
    }
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
    use std::time::Duration;

    use super::*;

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
    fn clamps_times_before_the_epoch() {
        assert_eq!(
            format(UNIX_EPOCH - Duration::from_secs(10)),
            "1970-01-01T00:00:00.000000Z"
        );
    }
}
