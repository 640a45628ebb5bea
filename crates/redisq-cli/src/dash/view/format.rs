//! Numbers, sizes, durations and times in the few characters a table cell has.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The widest an ID column gets: about a third of the screen, at most a UUID.
pub(super) fn id_cap(width: u16) -> usize {
    (usize::from(width.saturating_sub(4)) * 35 / 100).clamp(8, 36)
}

/// Cuts a text to `width` characters by replacing its middle with `…`, so that both the
/// start and the end of an ID stay visible.
pub(crate) fn fit_middle(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let head = (width - 1).div_ceil(2);
    let tail = width - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// A count in at most 5 characters: `12345`, `123k`, `12M`.
pub(crate) fn count(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=9_999_999 => format!("{}k", n / 1000),
        _ => format!("{}M", n / 1_000_000),
    }
}

/// A count with thousands separators: `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(super) fn rate(failed: u64, processed: u64) -> String {
    if processed == 0 {
        return "-".into();
    }
    format!("{:.2}%", failed as f64 * 100.0 / processed as f64)
}

/// A memory size: `512B`, `12.3K`, `4.5M`, `1.2G`.
pub(crate) fn bytes(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "-".into();
    };
    const K: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if f < K * K {
        format!("{:.1}K", f / K)
    } else if f < K * K * K {
        format!("{:.1}M", f / (K * K))
    } else {
        format!("{:.1}G", f / (K * K * K))
    }
}

/// A duration in a few characters: `350ms`, `1.2s`, `42s`, `5m3s`, `3h4m`, `2d3h`.
pub(crate) fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua}{b}{ub}")
        }
    };
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(10) && d.subsec_millis() >= 100 {
        format!("{}.{}s", s, d.subsec_millis() / 100)
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        two(s / 60, "m", s % 60, "s")
    } else if s < 86_400 {
        two(s / 3600, "h", s % 3600 / 60, "m")
    } else {
        two(s / 86_400, "d", s % 86_400 / 3600, "h")
    }
}

/// `3m ago`, `in 2h`, `now`, at whole-second precision.
pub(crate) fn relative(at: SystemTime, now: SystemTime) -> String {
    let whole = |d: Duration| match d.as_secs() {
        s @ 0..60 => format!("{s}s"),
        s => short_duration(Duration::from_secs(s)),
    };
    match at.duration_since(now) {
        Ok(d) if d.as_secs() == 0 => "now".into(),
        Ok(d) => format!("in {}", whole(d)),
        Err(e) if e.duration().as_secs() == 0 => "now".into(),
        Err(e) => format!("{} ago", whole(e.duration())),
    }
}

/// `2026-01-02 03:04:05 UTC`.
pub(crate) fn utc(at: SystemTime) -> String {
    let secs = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_sizes_and_durations() {
        assert_eq!(count(99_999), "99999");
        assert_eq!(count(123_456), "123k");
        assert_eq!(count(12_345_678), "12M");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(123), "123");
        assert_eq!(bytes(None), "-");
        assert_eq!(bytes(Some(512)), "512B");
        assert_eq!(bytes(Some(12_595)), "12.3K");
        assert_eq!(bytes(Some(5 * 1024 * 1024)), "5.0M");
        assert_eq!(short_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(short_duration(Duration::from_millis(2_560)), "2.5s");
        assert_eq!(short_duration(Duration::from_secs(42)), "42s");
        assert_eq!(short_duration(Duration::from_secs(8)), "8s");
        assert_eq!(fit_middle("0123456789", 5), "01…89");
        assert_eq!(fit_middle("0123456789", 6), "012…89");
        assert_eq!(fit_middle("0123", 5), "0123");
        assert_eq!(short_duration(Duration::from_secs(303)), "5m3s");
        assert_eq!(short_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(short_duration(Duration::from_secs(3 * 3600 + 240)), "3h4m");
        assert_eq!(
            short_duration(Duration::from_secs(2 * 86_400 + 3 * 3600)),
            "2d3h"
        );
        assert_eq!(rate(1, 3), "33.33%");
        assert_eq!(rate(0, 0), "-");
    }

    #[test]
    fn formats_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_767_323_045);
        assert_eq!(utc(now), "2026-01-02 03:04:05 UTC");
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now - Duration::from_secs(90), now), "1m30s ago");
        assert_eq!(relative(now + Duration::from_millis(7_900), now), "in 7s");
    }
}
