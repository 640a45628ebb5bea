//! Task options (asynq's `Option` values) and how they combine.

use std::fmt;
use std::time::{Duration, SystemTime};

use crate::core::time::{go_duration, go_quote, go_unix_date, json_str, secs_i64, unix_secs};
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
    /// Stored in whole seconds; a non-zero value under one second is rejected.
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

/// A non-zero duration that Redis would store as 0 seconds is an error, not a silent 0.
fn check_whole_seconds(name: &str, d: Duration) -> Result<()> {
    if !d.is_zero() && d < Duration::from_secs(1) {
        return Err(Error::invalid_option(format!(
            "{name} must be zero or at least 1s (got {}): it is stored in whole seconds",
            go_duration(d)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

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
}
