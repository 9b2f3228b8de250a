//! Times on the wire (RFC 3339) and how client commands show them: ages like kubectl's
//! (`5s`, `3m2s`, `4h`, `2d`) and build durations like Go's (`1.23s`, `45ms`).

use std::time::{Duration, SystemTime};

pub(crate) use lilt_model::rfc3339::{format as format_rfc3339, parse as parse_rfc3339};

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
