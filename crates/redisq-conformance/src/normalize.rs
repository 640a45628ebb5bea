//! Normalization of run-specific parts of key names and values (README §2.2).

const NS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// Prefixes (after a `:` or at the start of the text) whose `{host:pid:uuid}` part is normalized.
const HOST_PID_UUID_PREFIXES: [&str; 3] = ["servers:{", "workers:{", "schedulers:{"];

/// Day-counter markers whose `YYYY-MM-DD` suffix is normalized.
const DAY_COUNTER_MARKERS: [&str; 2] = [":processed:", ":failed:"];

/// Normalizes a key name or a text value the way the recordings do (README §2.2).
///
/// - `{<hostname>:<pid>:<uuid>}` after `servers:`, `workers:` or `schedulers:` becomes
///   `{<host>:<pid>:<uuid>}`;
/// - every other UUID (8-4-4-4-12 hex digits) becomes `<uuid>`;
/// - a trailing `:processed:YYYY-MM-DD` or `:failed:YYYY-MM-DD` becomes
///   `:processed:<date:t0+Nd>`, where `N` is the number of days between that date and the UTC
///   date of `t0_unix_ns`.
///
/// ```
/// let t0 = 1_795_827_859_731_174_341; // 2026-11-28T01:04:19Z
/// assert_eq!(
///     redisq_conformance::normalize(
///         "asynq:servers:{vm:23721:562fb62a-b0c6-4a93-b34d-a27c75444124}",
///         t0
///     ),
///     "asynq:servers:{<host>:<pid>:<uuid>}"
/// );
/// assert_eq!(
///     redisq_conformance::normalize("asynq:{default}:processed:2026-11-29", t0),
///     "asynq:{default}:processed:<date:t0+1d>"
/// );
/// ```
pub fn normalize(text: &str, t0_unix_ns: i64) -> String {
    let step1 = normalize_host_pid_uuid(text);
    let step2 = normalize_uuids(&step1);
    normalize_day_counter(&step2, t0_unix_ns)
}

fn normalize_host_pid_uuid(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        for prefix in HOST_PID_UUID_PREFIXES {
            if let Some(after) = rest.strip_prefix(prefix) {
                let at_boundary = out.is_empty() || out.ends_with(':');
                if at_boundary
                    && let Some(close) = after.find('}')
                    && is_host_pid_uuid(&after[..close])
                {
                    out.push_str(prefix);
                    out.push_str("<host>:<pid>:<uuid>}");
                    rest = &after[close + 1..];
                    continue 'outer;
                }
            }
        }
        let ch = rest.chars().next().unwrap_or_default();
        out.push(ch);
        rest = &rest[ch.len_utf8()..];
    }
    out
}

fn is_host_pid_uuid(inner: &str) -> bool {
    let mut parts = inner.rsplitn(3, ':');
    let (Some(uuid), Some(pid), Some(host)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    !host.is_empty()
        && !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && uuid.len() == 36
        && is_uuid(uuid.as_bytes())
}

/// Whether `b` (exactly 36 bytes) is a textual UUID: 8-4-4-4-12 hex digits.
fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn normalize_uuids(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied_from = 0;
    while i + 36 <= bytes.len() {
        if is_uuid(&bytes[i..i + 36]) {
            // A UUID consists of ASCII only, so `i` and `i + 36` are char boundaries.
            out.push_str(&text[copied_from..i]);
            out.push_str("<uuid>");
            i += 36;
            copied_from = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied_from..]);
    out
}

fn normalize_day_counter(text: &str, t0_unix_ns: i64) -> String {
    for marker in DAY_COUNTER_MARKERS {
        if text.len() < marker.len() + 10 {
            continue;
        }
        let split = text.len() - 10;
        if !text.is_char_boundary(split) {
            continue;
        }
        let (head, date) = text.split_at(split);
        if head.ends_with(marker)
            && let Some(days) = parse_date_days(date)
        {
            let offset = days - unix_day(t0_unix_ns);
            let sign = if offset < 0 { "-" } else { "+" };
            return format!("{head}<date:t0{sign}{}d>", offset.abs());
        }
    }
    text.to_owned()
}

/// Whether a normalized key is a daily counter (`…:processed:<date:…>` / `…:failed:<date:…>`).
pub(crate) fn is_daily_counter(normalized_key: &str) -> bool {
    DAY_COUNTER_MARKERS
        .iter()
        .any(|m| normalized_key.contains(&format!("{m}<date:t0")))
}

/// The day number (days since 1970-01-01, UTC) of a unix time in nanoseconds.
pub(crate) fn unix_day(unix_ns: i64) -> i64 {
    unix_ns.div_euclid(NS_PER_DAY)
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
fn parse_date_days(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The `YYYY-MM-DD` UTC date of a day number (inverse of [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

/// The UTC date `YYYY-MM-DD` of a unix time in nanoseconds.
pub fn utc_date(unix_ns: i64) -> String {
    let (y, m, d) = civil_from_days(unix_day(unix_ns));
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_827_859_731_174_341; // 2026-11-28T01:04:19.731Z

    #[test]
    fn host_pid_uuid() {
        assert_eq!(
            normalize(
                "asynq:workers:{my-host.local:1:0e8a7c2e-5f0b-4d7e-9a55-3c1f2b6d8e90}",
                T0
            ),
            "asynq:workers:{<host>:<pid>:<uuid>}"
        );
        assert_eq!(
            normalize(
                "asynq:schedulers:{vm:23721:acfd6753-c993-410a-a24f-0bca3e26b097}",
                T0
            ),
            "asynq:schedulers:{<host>:<pid>:<uuid>}"
        );
        // not a host:pid:uuid triple: only the UUID is normalized
        assert_eq!(
            normalize("asynq:servers:{x:0e8a7c2e-5f0b-4d7e-9a55-3c1f2b6d8e90}", T0),
            "asynq:servers:{x:<uuid>}"
        );
    }

    #[test]
    fn other_uuids() {
        assert_eq!(
            normalize(
                "asynq:{default}:g:g1:85d01215-3724-4cc8-9388-71becf293537",
                T0
            ),
            "asynq:{default}:g:g1:<uuid>"
        );
        assert_eq!(
            normalize(
                "asynq:scheduler_history:85565c06-6bf5-4c83-844e-8b8d88c9424f",
                T0
            ),
            "asynq:scheduler_history:<uuid>"
        );
        assert_eq!(normalize("task-ü-1", T0), "task-ü-1");
        assert_eq!(
            normalize(
                "asynq:{default}:unique:ping:d41d8cd98f00b204e9800998ecf8427e",
                T0
            ),
            "asynq:{default}:unique:ping:d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn day_counters() {
        assert_eq!(
            normalize("asynq:{default}:processed:2026-11-28", T0),
            "asynq:{default}:processed:<date:t0+0d>"
        );
        assert_eq!(
            normalize("asynq:{default}:failed:2026-11-27", T0),
            "asynq:{default}:failed:<date:t0-1d>"
        );
        assert_eq!(
            normalize("asynq:{default}:failed:2026-12-01", T0),
            "asynq:{default}:failed:<date:t0+3d>"
        );
        assert_eq!(
            normalize("asynq:{default}:processed", T0),
            "asynq:{default}:processed"
        );
        assert!(is_daily_counter("asynq:{default}:failed:<date:t0+0d>"));
        assert!(!is_daily_counter("asynq:{default}:failed"));
    }

    #[test]
    fn dates() {
        assert_eq!(utc_date(T0), "2026-11-28");
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(-1), "1969-12-31");
        for day in [-800_000, -1, 0, 1, 11_016, 20_785, 2_932_896] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }
}
