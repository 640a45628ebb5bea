//! Time and Go-compatible formatting helpers shared by every layer.
//!
//! Redis stores times as Unix seconds or nanoseconds and durations as whole seconds, and
//! asynq prints options and errors with Go's formatting; these helpers are the one place that
//! knows both, so the client, server, scheduler, inspector and data layer agree.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Whole seconds of a duration, saturating at `i64::MAX`.
pub(crate) fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Whole seconds of a lease duration, rounded up (a lease is never shorter than asked) and
/// saturating. Lease scripts add it to Redis's own clock (`TIME`), so that every server
/// agrees on lease expiry whatever its own clock says.
pub(crate) fn lease_secs(d: Duration) -> i64 {
    let s = secs_i64(d);
    if d.subsec_nanos() > 0 {
        s.saturating_add(1)
    } else {
        s
    }
}

/// `t + d`, saturating at a time far in the future instead of overflowing (delays and
/// timeouts may come from user code or from data in Redis).
pub(crate) fn add_saturating(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}

/// Unix seconds of a time (negative before 1970), truncated towards the past like Go's `Unix()`.
pub(crate) fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => secs_i64(d),
        Err(e) => {
            let d = e.duration();
            let s = -secs_i64(d);
            if d.subsec_nanos() > 0 { s - 1 } else { s }
        }
    }
}

/// Unix nanoseconds of a time (0 before 1970).
pub(crate) fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A time from unix nanoseconds (the epoch for negative values).
pub(crate) fn from_unix_nanos(ns: i64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_nanos(u64::try_from(ns).unwrap_or(0)))
        .unwrap_or(UNIX_EPOCH)
}

/// A time from unix seconds.
pub(crate) fn from_unix_secs(s: i64) -> SystemTime {
    let d = Duration::from_secs(s.unsigned_abs());
    let t = if s >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// Go's `time.Duration.String()`.
pub(crate) fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    if ns < 1_000_000_000 {
        let (div, unit) = if ns < 1_000 {
            (1, "ns")
        } else if ns < 1_000_000 {
            (1_000, "µs")
        } else {
            (1_000_000, "ms")
        };
        push_decimal(&mut out, ns, div);
        out.push_str(unit);
        return out;
    }
    let secs = ns / 1_000_000_000;
    let (h, m) = (secs / 3600, (secs / 60) % 60);
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if h > 0 || m > 0 {
        let _ = write!(out, "{m}m");
    }
    push_decimal(
        &mut out,
        (secs % 60) * 1_000_000_000 + ns % 1_000_000_000,
        1_000_000_000,
    );
    out.push('s');
    out
}

/// Writes `value / div` with the fraction's trailing zeros dropped.
fn push_decimal(out: &mut String, value: u128, div: u128) {
    let _ = write!(out, "{}", value / div);
    let frac = value % div;
    if frac > 0 {
        let width = div.ilog10() as usize;
        let digits = format!("{frac:0width$}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
}

/// Go's `time.UnixDate` layout in UTC, e.g. `Sun Jun  1 12:00:00 UTC 2025`.
pub(crate) fn go_unix_date(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%a %b %e %H:%M:%S UTC %Y").to_string()
}

/// Go's `%q` quoting (strconv.Quote): printable characters kept, others escaped.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON string literal (asynq prints `Header` options as a JSON array).
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ns");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_micros(2500)), "2.5ms");
        assert_eq!(go_duration(Duration::from_millis(61_001)), "1m1.001s");
    }

    #[test]
    fn unix_seconds_before_epoch_truncate_down() {
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_millis(1500)), -2);
        assert_eq!(unix_secs(from_unix_secs(-62135596800)), -62135596800);
    }

    #[test]
    fn unix_nanos_round_trip() {
        assert_eq!(
            unix_nanos(from_unix_nanos(1_795_827_878_123_456_789)),
            1_795_827_878_123_456_789
        );
        assert_eq!(from_unix_nanos(-5), UNIX_EPOCH);
    }
}
