//! Go-style durations (`1m30s`, `2h`, `1.5h`, `300ms`), as the asynq CLI takes them.
//!
//! [`parse`] accepts what Go's `time.ParseDuration` accepts, except negative values: a
//! sequence of decimal numbers, each with an optional fraction and a unit (`ns`, `us`/`µs`,
//! `ms`, `s`, `m`, `h`), or a bare `0`. [`format`] prints the compact form used in tables
//! (zero components left out: `1h30s`, `45s`, `1.5s`, `300ms`), which [`parse`] reads back.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// The nanoseconds in one unit, or `None` for an unknown unit.
fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => NANOS_PER_SEC,
        "m" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        _ => return None,
    })
}

/// Parses a Go duration such as `1m30s`; the error says what is wrong and what is expected.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let expected = "expected a duration like 90s, 1m30s, 2h or 1.5h (units: ns, us, ms, s, m, h)";
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {expected}"));
    }
    if s.starts_with('-') {
        return Err(format!(
            "invalid duration {text:?}: it must not be negative"
        ));
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        // The number: digits, optionally a '.' and more digits (at least one digit in all).
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after_int) = rest.split_at(int_len);
        let (frac_part, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after_int),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(format!("invalid duration {text:?}; {expected}"));
        }
        // The unit: everything up to the next digit or '.'.
        let unit_len = after_num
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_num.len());
        let (unit, next) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "invalid duration {text:?}: missing unit after {:?}; {expected}",
                &rest[..rest.len() - after_num.len()]
            ));
        }
        let Some(per_unit) = unit_nanos(unit) else {
            return Err(format!(
                "invalid duration {text:?}: unknown unit {unit:?}; {expected}"
            ));
        };
        let too_large = || format!("invalid duration {text:?}: too large");
        let int: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| too_large())?
        };
        let mut value = int.checked_mul(per_unit).ok_or_else(too_large)?;
        // The fraction, to nanosecond precision (further digits are dropped, as in Go).
        let mut scale = per_unit;
        for digit in frac_part.bytes() {
            scale /= 10;
            if scale == 0 {
                break;
            }
            value = value
                .checked_add(u128::from(digit - b'0') * scale)
                .ok_or_else(too_large)?;
        }
        total = total.checked_add(value).ok_or_else(too_large)?;
        rest = next;
    }
    let secs = u64::try_from(total / NANOS_PER_SEC)
        .map_err(|_| format!("invalid duration {text:?}: too large"))?;
    // The remainder is below 10^9, so it fits.
    let nanos = (total % NANOS_PER_SEC) as u32;
    Ok(Duration::new(secs, nanos))
}

/// Prints a duration compactly: `2h`, `1h30s`, `1m30s`, `45s`, `1.5s`, `300ms`, `0s`.
pub(crate) fn format(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < NANOS_PER_SEC {
        let (div, unit) = if nanos < 1_000 {
            (1, "ns")
        } else if nanos < 1_000_000 {
            (1_000, "us")
        } else {
            (1_000_000, "ms")
        };
        return format!("{}{unit}", decimal(nanos, div));
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let sub = d.subsec_nanos();
    if s > 0 || sub > 0 {
        let with_sub = u128::from(s) * NANOS_PER_SEC + u128::from(sub);
        out.push_str(&format!("{}s", decimal(with_sub, NANOS_PER_SEC)));
    }
    out
}

/// `value / div` with the fraction's trailing zeros removed.
fn decimal(value: u128, div: u128) -> String {
    let (int, frac) = (value / div, value % div);
    if frac == 0 {
        return int.to_string();
    }
    let width = div.ilog10() as usize;
    let frac = format!("{frac:0width$}");
    format!("{int}.{}", frac.trim_end_matches('0'))
}

/// A duration rounded to whole seconds (half up, saturating at the largest duration), for
/// "in 5m" / "3s ago" displays.
pub(crate) fn format_rounded(d: Duration) -> String {
    format(Duration::from_secs(
        d.as_secs()
            .saturating_add(u64::from(d.subsec_nanos() >= 500_000_000)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        let ok = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("90s", Duration::from_secs(90)),
            ("1m30s", Duration::from_secs(90)),
            ("2h", Duration::from_secs(7200)),
            ("1.5h", Duration::from_secs(5400)),
            ("1h2m3s", Duration::from_secs(3723)),
            ("300ms", Duration::from_millis(300)),
            ("1.5s", Duration::from_millis(1500)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            (".5s", Duration::from_millis(500)),
            ("1.s", Duration::from_secs(1)),
            ("+5m", Duration::from_secs(300)),
            ("1h1h", Duration::from_secs(7200)),
        ];
        for (text, want) in ok {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "",
            "5",
            "1x",
            "h",
            "-1s",
            "1m30",
            "abc",
            ".s",
            "1..5s",
            "99999999999999999999h",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains("duration"), "{bad}: {err}");
        }
        assert!(parse("1m30").unwrap_err().contains("missing unit"));
        assert!(parse("3d").unwrap_err().contains("unknown unit \"d\""));
        assert!(parse("-1s").unwrap_err().contains("negative"));
    }

    #[test]
    fn formats_compactly_and_round_trips() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_secs(7200), "2h"),
            (Duration::from_secs(3630), "1h30s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(45), "45s"),
            (Duration::from_millis(1500), "1.5s"),
            (Duration::from_millis(300), "300ms"),
            (Duration::from_micros(2500), "2.5ms"),
            (Duration::from_nanos(7), "7ns"),
        ];
        for (d, want) in cases {
            assert_eq!(format(d), want);
            assert_eq!(parse(want), Ok(d), "{want}");
        }
        assert_eq!(format_rounded(Duration::from_millis(59_600)), "1m");
    }

    /// Found by `durations_at_the_edge_of_the_range_never_panic`: the fraction was added
    /// without an overflow check (a panic in debug builds, a wrapped value in release builds).
    #[test]
    fn fraction_past_the_end_of_the_range_is_too_large() {
        // u128::MAX / 1000 whole microseconds leave less than 999 ns of room.
        let text = format!("{}.999us", u128::MAX / 1_000);
        let err = parse(&text).expect_err(&text);
        assert!(err.contains("too large"), "{err}");
    }

    /// Found by `durations_round_trip_through_format`: rounding the largest duration up
    /// overflowed u64.
    #[test]
    fn rounding_the_largest_duration_saturates() {
        assert_eq!(
            parse(&format_rounded(Duration::MAX)),
            Ok(Duration::from_secs(u64::MAX))
        );
    }
}
