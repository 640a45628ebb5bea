//! Task options (asynq's `Option` values) and how they combine.

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// The queue tasks go to when no `Queue` option is given.
pub const DEFAULT_QUEUE: &str = "default";
/// Retries allowed when no `MaxRetry` option is given.
pub const DEFAULT_MAX_RETRY: u32 = 25;
/// Timeout used when neither `Timeout` nor `Deadline` is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One enqueue option. When the same option is given twice the last one wins; `ProcessAt` and
/// `ProcessIn` count as the same option.
///
/// `Display` prints asynq's `Option.String()` form (for example `Timeout(1m30s)`), which is
/// what scheduler entries store in Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOption {
    /// How many times a failing task is retried before it is archived (default 25). Negative
    /// values mean 0.
    MaxRetry(i32),
    /// The queue (default `"default"`).
    Queue(String),
    /// How long one attempt may run. Zero means none; then, without a deadline, 30 minutes.
    /// Stored in whole seconds; a non-zero value under one second is rejected (decision D7).
    Timeout(Duration),
    /// An absolute deadline for processing.
    Deadline(SystemTime),
    /// Rejects equal tasks (same type, payload and queue) for this long, at least 1 s.
    Unique(Duration),
    /// Process at this time (immediately if it is not in the future).
    ProcessAt(SystemTime),
    /// Process after this delay.
    ProcessIn(Duration),
    /// The task ID (default: a random UUID). Must not be blank.
    TaskId(String),
    /// Keep the task this long after it succeeds (whole seconds; under 1 s is rejected).
    Retention(Duration),
    /// Aggregate the task with others of the same group.
    Group(String),
    /// Adds one header (overrides a task header with the same key).
    Header(String, String),
}

impl TaskOption {
    /// [`TaskOption::MaxRetry`].
    pub fn max_retry(n: i32) -> Self {
        TaskOption::MaxRetry(n)
    }

    /// [`TaskOption::Queue`].
    pub fn queue(name: impl Into<String>) -> Self {
        TaskOption::Queue(name.into())
    }

    /// [`TaskOption::Timeout`].
    pub fn timeout(d: Duration) -> Self {
        TaskOption::Timeout(d)
    }

    /// [`TaskOption::Deadline`].
    pub fn deadline(t: SystemTime) -> Self {
        TaskOption::Deadline(t)
    }

    /// [`TaskOption::Unique`].
    pub fn unique(ttl: Duration) -> Self {
        TaskOption::Unique(ttl)
    }

    /// [`TaskOption::ProcessAt`].
    pub fn process_at(t: SystemTime) -> Self {
        TaskOption::ProcessAt(t)
    }

    /// [`TaskOption::ProcessIn`].
    pub fn process_in(d: Duration) -> Self {
        TaskOption::ProcessIn(d)
    }

    /// [`TaskOption::TaskId`].
    pub fn task_id(id: impl Into<String>) -> Self {
        TaskOption::TaskId(id.into())
    }

    /// [`TaskOption::Retention`].
    pub fn retention(d: Duration) -> Self {
        TaskOption::Retention(d)
    }

    /// [`TaskOption::Group`].
    pub fn group(name: impl Into<String>) -> Self {
        TaskOption::Group(name.into())
    }

    /// [`TaskOption::Header`].
    pub fn header(key: impl Into<String>, value: impl Into<String>) -> Self {
        TaskOption::Header(key.into(), value.into())
    }
}

impl fmt::Display for TaskOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskOption::MaxRetry(n) => write!(f, "MaxRetry({})", (*n).max(0)),
            TaskOption::Queue(q) => write!(f, "Queue({})", go_quote(q)),
            TaskOption::Timeout(d) => write!(f, "Timeout({})", go_duration(*d)),
            TaskOption::Deadline(t) => write!(f, "Deadline({})", go_unix_date(*t)),
            TaskOption::Unique(d) => write!(f, "Unique({})", go_duration(*d)),
            TaskOption::ProcessAt(t) => write!(f, "ProcessAt({})", go_unix_date(*t)),
            TaskOption::ProcessIn(d) => write!(f, "ProcessIn({})", go_duration(*d)),
            TaskOption::TaskId(id) => write!(f, "TaskID({})", go_quote(id)),
            TaskOption::Retention(d) => write!(f, "Retention({})", go_duration(*d)),
            TaskOption::Group(g) => write!(f, "Group({})", go_quote(g)),
            TaskOption::Header(k, v) => write!(f, "Header([{},{}])", json_str(k), json_str(v)),
        }
    }
}

/// The options of one enqueue, combined and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    pub(crate) max_retry: u32,
    pub(crate) queue: String,
    pub(crate) task_id: Option<String>,
    /// Whole seconds; 0 = none.
    pub(crate) timeout_secs: i64,
    pub(crate) deadline: Option<SystemTime>,
    pub(crate) unique_ttl: Option<Duration>,
    pub(crate) process_at: Option<SystemTime>,
    /// Whole seconds; 0 = none.
    pub(crate) retention_secs: i64,
    pub(crate) group: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
}

/// Applies options in order (later ones win) and validates them. `now` resolves `ProcessIn`.
pub(crate) fn resolve<'a>(
    opts: impl IntoIterator<Item = &'a TaskOption>,
    now: SystemTime,
) -> Result<Resolved> {
    let mut r = Resolved {
        max_retry: DEFAULT_MAX_RETRY,
        queue: DEFAULT_QUEUE.to_string(),
        task_id: None,
        timeout_secs: 0,
        deadline: None,
        unique_ttl: None,
        process_at: None,
        retention_secs: 0,
        group: None,
        headers: Vec::new(),
    };
    let mut timeout = Duration::ZERO;
    for opt in opts {
        match opt {
            TaskOption::MaxRetry(n) => r.max_retry = (*n).max(0).unsigned_abs(),
            TaskOption::Queue(q) => {
                let q = q.trim();
                if q.is_empty() {
                    return Err(Error::invalid_option("queue name cannot be empty"));
                }
                if q.contains(['{', '}']) {
                    return Err(Error::invalid_option(format!(
                        "queue name {q:?} must not contain '{{' or '}}': they would break its Redis Cluster hash tag"
                    )));
                }
                r.queue = q.to_string();
            }
            TaskOption::Timeout(d) => {
                check_whole_seconds("Timeout", *d)?;
                timeout = *d;
            }
            TaskOption::Deadline(t) => {
                r.deadline = (unix_secs(*t) != 0).then_some(*t);
            }
            TaskOption::Unique(ttl) => {
                if *ttl < Duration::from_secs(1) {
                    return Err(Error::invalid_option("Unique TTL cannot be less than 1s"));
                }
                r.unique_ttl = Some(*ttl);
            }
            TaskOption::ProcessAt(t) => r.process_at = Some(*t),
            TaskOption::ProcessIn(d) => {
                let at = now.checked_add(*d).ok_or_else(|| {
                    Error::invalid_option(format!(
                        "ProcessIn({}) is too far in the future",
                        go_duration(*d)
                    ))
                })?;
                r.process_at = Some(at);
            }
            TaskOption::TaskId(id) => {
                if id.trim().is_empty() {
                    return Err(Error::invalid_option("task ID cannot be empty"));
                }
                r.task_id = Some(id.clone());
            }
            TaskOption::Retention(d) => {
                check_whole_seconds("Retention", *d)?;
                r.retention_secs = secs_i64(*d);
            }
            TaskOption::Group(g) => {
                if g.trim().is_empty() {
                    return Err(Error::invalid_option("group name cannot be empty"));
                }
                r.group = Some(g.clone());
            }
            TaskOption::Header(k, v) => r.headers.push((k.clone(), v.clone())),
        }
    }
    r.timeout_secs = secs_i64(timeout);
    // asynq's default: 30 minutes when neither a timeout nor a deadline bounds the task.
    if timeout.is_zero() && r.deadline.is_none() {
        r.timeout_secs = secs_i64(DEFAULT_TIMEOUT);
    }
    Ok(r)
}

/// Decision D7: a non-zero duration that Redis would store as 0 seconds is an error.
fn check_whole_seconds(name: &str, d: Duration) -> Result<()> {
    if !d.is_zero() && d < Duration::from_secs(1) {
        return Err(Error::invalid_option(format!(
            "{name} must be zero or at least 1s (got {}): it is stored in whole seconds",
            go_duration(d)
        )));
    }
    Ok(())
}

fn secs_i64(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
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
fn json_str(s: &str) -> String {
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

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> SystemTime {
        use chrono::TimeZone;
        chrono::Utc
            .with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .map(SystemTime::from)
            .unwrap_or(UNIX_EPOCH)
    }

    #[test]
    fn option_strings_match_asynq() {
        let cases: Vec<(TaskOption, &str)> = vec![
            (TaskOption::MaxRetry(3), "MaxRetry(3)"),
            (TaskOption::MaxRetry(-1), "MaxRetry(0)"),
            (TaskOption::queue("critical"), "Queue(\"critical\")"),
            (
                TaskOption::queue("a \"quoted\" name\twith tab"),
                "Queue(\"a \\\"quoted\\\" name\\twith tab\")",
            ),
            (TaskOption::queue("キュー"), "Queue(\"キュー\")"),
            (
                TaskOption::task_id("nightly-report"),
                "TaskID(\"nightly-report\")",
            ),
            (TaskOption::group("g1"), "Group(\"g1\")"),
            (
                TaskOption::timeout(Duration::from_secs(60)),
                "Timeout(1m0s)",
            ),
            (
                TaskOption::timeout(Duration::from_secs(90)),
                "Timeout(1m30s)",
            ),
            (
                TaskOption::timeout(Duration::from_millis(500)),
                "Timeout(500ms)",
            ),
            (TaskOption::timeout(Duration::ZERO), "Timeout(0s)"),
            (
                TaskOption::timeout(Duration::from_millis(1500)),
                "Timeout(1.5s)",
            ),
            (
                TaskOption::timeout(Duration::from_secs(36 * 3600)),
                "Timeout(36h0m0s)",
            ),
            (
                TaskOption::unique(Duration::from_secs(3600)),
                "Unique(1h0m0s)",
            ),
            (
                TaskOption::process_in(Duration::from_secs(600)),
                "ProcessIn(10m0s)",
            ),
            (
                TaskOption::retention(Duration::from_secs(86400)),
                "Retention(24h0m0s)",
            ),
            (
                TaskOption::retention(Duration::from_secs(9000)),
                "Retention(2h30m0s)",
            ),
            (
                TaskOption::deadline(utc(2025, 6, 1, 12, 0, 0)),
                "Deadline(Sun Jun  1 12:00:00 UTC 2025)",
            ),
            (
                TaskOption::deadline(utc(2025, 6, 1, 9, 5, 7)),
                "Deadline(Sun Jun  1 09:05:07 UTC 2025)",
            ),
            (TaskOption::header("k", "v"), "Header([\"k\",\"v\"])"),
        ];
        for (opt, want) in cases {
            assert_eq!(opt.to_string(), want);
        }
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_nanos(1)), "1ns");
        assert_eq!(go_duration(Duration::from_nanos(1500)), "1.5µs");
        assert_eq!(go_duration(Duration::from_micros(2500)), "2.5ms");
        assert_eq!(go_duration(Duration::from_millis(61_001)), "1m1.001s");
    }

    #[test]
    fn defaults() {
        let r = resolve(&[], UNIX_EPOCH).expect("valid");
        assert_eq!(r.queue, "default");
        assert_eq!(r.max_retry, 25);
        assert_eq!(r.timeout_secs, 1800);
        assert_eq!(r.deadline, None);
    }

    #[test]
    fn later_options_win_and_deadline_drops_default_timeout() {
        let now = utc(2026, 1, 1, 0, 0, 0);
        let deadline = now + Duration::from_secs(3600);
        let opts = [
            TaskOption::MaxRetry(1),
            TaskOption::queue("low"),
            TaskOption::MaxRetry(5),
            TaskOption::deadline(deadline),
            TaskOption::process_at(now),
            TaskOption::process_in(Duration::from_secs(10)),
            TaskOption::MaxRetry(-5),
        ];
        let r = resolve(&opts, now).expect("valid");
        assert_eq!(r.max_retry, 0);
        assert_eq!(r.queue, "low");
        assert_eq!(r.timeout_secs, 0);
        assert_eq!(r.deadline, Some(deadline));
        assert_eq!(r.process_at, Some(now + Duration::from_secs(10)));
    }

    #[test]
    fn invalid_options_are_rejected() {
        let bad = [
            TaskOption::queue("  "),
            TaskOption::queue("a}b"),
            TaskOption::task_id(""),
            TaskOption::timeout(Duration::from_millis(500)),
            TaskOption::retention(Duration::from_millis(1)),
            TaskOption::unique(Duration::from_millis(999)),
            TaskOption::unique(Duration::ZERO),
            TaskOption::group(" "),
        ];
        for opt in bad {
            let err = resolve(std::slice::from_ref(&opt), UNIX_EPOCH).expect_err("must fail");
            assert!(err.is_invalid_option(), "{opt:?}: {err}");
        }
    }

    #[test]
    fn unix_seconds_before_epoch_truncate_down() {
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_millis(1500)), -2);
        assert_eq!(unix_secs(from_unix_secs(-62135596800)), -62135596800);
    }
}
