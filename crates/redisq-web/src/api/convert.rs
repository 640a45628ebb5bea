//! asynqmon's JSON shapes and the formatting helpers behind them.
//!
//! Field names, nesting and value formats follow asynqmon v0.7 (`conversion_helpers.go`):
//!
//! - payloads and results are shown as text when every character is printable, and as the
//!   marker `non-printable bytes` otherwise (asynqmon's `DefaultPayloadFormatter` and
//!   `DefaultResultFormatter`; an empty or all-blank payload is "non-printable" too);
//! - times that asynqmon formats itself are RFC 3339 strings in whole seconds, or `""` when
//!   unset; times it hands to Go's JSON encoder (`time.Time` fields) are RFC 3339 with
//!   nanoseconds, trailing zeros dropped, and Go's zero time `0001-01-01T00:00:00Z` when
//!   unset. redisq reports times in UTC, so the offset is always `Z`;
//! - durations are whole seconds (`timeout_seconds`, `ttl_seconds`), milliseconds
//!   (`latency_msec`), or Go's `Duration.String()` form (`display_latency`, e.g. `1m2.5s`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, SecondsFormat, Utc};
use redisq::{
    DailyStats, GroupInfo, QueueInfo, SchedulerEnqueueEvent, SchedulerEntry, ServerInfo, TaskInfo,
    TaskState, WorkerInfo,
};
use serde::Serialize;

/// What asynqmon shows for bytes that are not printable text.
pub(crate) const NON_PRINTABLE: &str = "non-printable bytes";

/// Go's zero `time.Time` as its JSON encoder writes it.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// Bytes

/// asynqmon's default payload and result formatter: the text when printable, else a marker.
pub(crate) fn printable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) if is_printable(s) => s.to_string(),
        _ => NON_PRINTABLE.to_string(),
    }
}

/// asynqmon's `isPrintable`: every character printable (Go's `unicode.IsPrint`), and not
/// only blanks (so the empty string is not printable).
fn is_printable(s: &str) -> bool {
    s.chars().all(is_go_print) && !s.chars().all(char::is_whitespace)
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Without the Unicode category tables this rejects controls, every blank but
/// U+0020, the format characters (Cf), private-use code points and noncharacters; a code
/// point unassigned in Unicode is accepted where Go would reject it.
fn is_go_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = u32::from(c);
    let format = matches!(
        u,
        0x00AD
            | 0x0600..=0x0605
            | 0x061C
            | 0x06DD
            | 0x070F
            | 0x0890..=0x0891
            | 0x08E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_use = matches!(u, 0xE000..=0xF8FF | 0xF_0000..=0xF_FFFD | 0x10_0000..=0x10_FFFD);
    let noncharacter = matches!(u, 0xFDD0..=0xFDEF) || (u & 0xFFFE) == 0xFFFE;
    !(format || private_use || noncharacter)
}

// ---------------------------------------------------------------------------------------------
// Times and durations

fn utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// Go's `t.Format(time.RFC3339)`: whole seconds.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    utc(t).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// asynqmon's `formatTimeInRFC3339`: `""` for an unset time.
pub(crate) fn rfc3339_or_empty(t: Option<SystemTime>) -> String {
    t.map(rfc3339).unwrap_or_default()
}

/// `t.Format(time.RFC3339)` of a time that Go would hold as its zero value when unset.
pub(crate) fn rfc3339_or_zero(t: Option<SystemTime>) -> String {
    t.map(rfc3339).unwrap_or_else(|| GO_ZERO_TIME.to_string())
}

/// A `time.Time` through Go's JSON encoder: RFC 3339 with up to nine fractional digits,
/// trailing zeros dropped; Go's zero time when unset.
pub(crate) fn go_json_time(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return GO_ZERO_TIME.to_string();
    };
    let dt = utc(t);
    let secs = dt.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = dt.timestamp_subsec_nanos();
    if nanos == 0 {
        format!("{secs}Z")
    } else {
        let frac = format!("{nanos:09}");
        format!("{secs}.{}Z", frac.trim_end_matches('0'))
    }
}

/// Go's `Duration.Round(m)`: to the nearest multiple, halves away from zero.
pub(crate) fn round_duration(d: Duration, m: Duration) -> Duration {
    let (n, m) = (d.as_nanos(), m.as_nanos());
    if m == 0 {
        return d;
    }
    let r = n % m;
    let rounded = if r + r < m { n - r } else { n + (m - r) };
    Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// `integer.fraction` of `n / scale`, the fraction without trailing zeros (and without the
/// dot when it is zero), as Go's `Duration.String` writes it.
fn decimal(n: u128, scale: u128) -> String {
    let (int, frac) = (n / scale, n % scale);
    if frac == 0 {
        return int.to_string();
    }
    let width = scale.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{int}.{}", digits.trim_end_matches('0'))
}

/// Go's `Duration.String()`: `0s`, `750ms`, `1.5s`, `2m3s`, `1h0m0s`, …
pub(crate) fn go_duration(d: Duration) -> String {
    let n = d.as_nanos();
    const SEC: u128 = 1_000_000_000;
    match n {
        0 => "0s".to_string(),
        1..1_000 => format!("{n}ns"),
        1_000..1_000_000 => format!("{}µs", decimal(n, 1_000)),
        1_000_000..SEC => format!("{}ms", decimal(n, 1_000_000)),
        _ => {
            let secs = n / SEC;
            let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
            let mut out = String::new();
            if h > 0 {
                out.push_str(&format!("{h}h"));
            }
            if h > 0 || m > 0 {
                out.push_str(&format!("{m}m"));
            }
            out.push_str(&decimal(s * SEC + n % SEC, SEC));
            out.push('s');
            out
        }
    }
}

/// Signed whole seconds from `now` to `t` (negative when `t` is past), truncated toward
/// zero like Go's `int64(d.Seconds())`.
fn seconds_until(t: SystemTime, now: SystemTime) -> i64 {
    let nanos = |x: SystemTime| match x.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    };
    i64::try_from((nanos(t) - nanos(now)) / 1_000_000_000).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Queues

/// asynqmon's `queueStateSnapshot`.
#[derive(Debug, Serialize)]
pub(crate) struct QueueSnapshot {
    queue: String,
    memory_usage_bytes: u64,
    size: usize,
    groups: usize,
    latency_msec: u64,
    display_latency: String,
    active: usize,
    pending: usize,
    aggregating: usize,
    scheduled: usize,
    retry: usize,
    archived: usize,
    completed: usize,
    processed: u64,
    succeeded: u64,
    failed: u64,
    paused: bool,
    timestamp: String,
}

pub(crate) fn queue_snapshot(info: &QueueInfo) -> QueueSnapshot {
    QueueSnapshot {
        queue: info.queue.clone(),
        memory_usage_bytes: info.memory_usage.unwrap_or(0),
        size: info.size,
        groups: info.groups,
        latency_msec: u64::try_from(info.latency.as_millis()).unwrap_or(u64::MAX),
        display_latency: go_duration(round_duration(info.latency, Duration::from_millis(10))),
        active: info.active,
        pending: info.pending,
        aggregating: info.aggregating,
        scheduled: info.scheduled,
        retry: info.retry,
        archived: info.archived,
        completed: info.completed,
        processed: info.processed,
        succeeded: info.processed.saturating_sub(info.failed),
        failed: info.failed,
        paused: info.paused,
        timestamp: go_json_time(Some(info.timestamp)),
    }
}

/// asynqmon's `dailyStats`.
#[derive(Debug, Serialize)]
pub(crate) struct DailyStat {
    queue: String,
    processed: u64,
    succeeded: u64,
    failed: u64,
    date: String,
}

pub(crate) fn daily_stats(days: &[DailyStats]) -> Vec<DailyStat> {
    days.iter()
        .map(|d| DailyStat {
            queue: d.queue.clone(),
            processed: d.processed,
            succeeded: d.processed.saturating_sub(d.failed),
            failed: d.failed,
            date: utc(d.date).format("%Y-%m-%d").to_string(),
        })
        .collect()
}

/// asynqmon's `groupInfo`.
#[derive(Debug, Serialize)]
pub(crate) struct Group {
    group: String,
    size: usize,
}

pub(crate) fn groups(groups: &[GroupInfo]) -> Vec<Group> {
    groups
        .iter()
        .map(|g| Group {
            group: g.group.clone(),
            size: g.size,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Tasks

/// asynqmon's `baseTask`, the fields every listed task has.
#[derive(Debug, Serialize)]
pub(crate) struct BaseTask {
    id: String,
    #[serde(rename = "type")]
    task_type: String,
    payload: String,
    queue: String,
    max_retry: u32,
    retried: u32,
    error_message: String,
}

fn base(t: &TaskInfo) -> BaseTask {
    BaseTask {
        id: t.id.clone(),
        task_type: t.task_type.clone(),
        payload: printable(&t.payload),
        queue: t.queue.clone(),
        max_retry: t.max_retry,
        retried: t.retried,
        error_message: t.last_err.clone(),
    }
}

/// A listed task, in the shape asynqmon uses for its state.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum ListedTask {
    Active {
        #[serde(flatten)]
        base: BaseTask,
        /// RFC 3339, or `-` when no server reports the task.
        start_time: String,
        /// RFC 3339, or `-` when no server reports the task.
        deadline: String,
        is_orphaned: bool,
        /// redisq extension (asynqmon ignores it): the running attempt's progress.
        #[serde(skip_serializing_if = "Option::is_none")]
        progress: Option<ProgressJson>,
    },
    Pending {
        #[serde(flatten)]
        base: BaseTask,
    },
    /// Scheduled and retry tasks.
    Due {
        #[serde(flatten)]
        base: BaseTask,
        next_process_at: String,
    },
    Archived {
        #[serde(flatten)]
        base: BaseTask,
        last_failed_at: String,
    },
    Completed {
        #[serde(flatten)]
        base: BaseTask,
        completed_at: String,
        result: String,
        ttl_seconds: i64,
    },
    Aggregating {
        #[serde(flatten)]
        base: BaseTask,
        group: String,
    },
}

/// A running task's progress (`TaskContext::set_progress`), a redisq extension of
/// asynqmon's task shapes; omitted when the task reported none.
#[derive(Debug, Serialize)]
pub(crate) struct ProgressJson {
    /// 0 to 100.
    percent: u8,
    message: String,
    /// RFC 3339.
    updated_at: String,
}

fn progress_json(t: &TaskInfo) -> Option<ProgressJson> {
    t.progress.as_ref().map(|p| ProgressJson {
        percent: p.percent,
        message: p.message.clone(),
        updated_at: rfc3339(p.updated_at),
    })
}

/// The time left of a completed task's retention; zero for other states (asynqmon's
/// `taskTTL`).
fn ttl_seconds(t: &TaskInfo, now: SystemTime) -> i64 {
    match (t.state, t.completed_at) {
        (TaskState::Completed, Some(done)) => {
            seconds_until(done + t.retention.unwrap_or_default(), now)
        }
        _ => 0,
    }
}

/// The start time and deadline of the tasks the servers are running, by task ID.
pub(crate) type Workers<'a> = HashMap<&'a str, &'a WorkerInfo>;

/// A task of a listing in the shape asynqmon gives the listing of `shape` (the state listed).
pub(crate) fn listed_task(
    t: &TaskInfo,
    shape: TaskState,
    workers: &Workers<'_>,
    now: SystemTime,
) -> ListedTask {
    let base = base(t);
    match shape {
        TaskState::Active => {
            let (start_time, deadline) = match workers.get(t.id.as_str()) {
                Some(w) => (rfc3339_or_zero(w.started), rfc3339_or_zero(w.deadline)),
                None => ("-".to_string(), "-".to_string()),
            };
            ListedTask::Active {
                base,
                start_time,
                deadline,
                is_orphaned: t.is_orphaned,
                progress: progress_json(t),
            }
        }
        TaskState::Pending => ListedTask::Pending { base },
        TaskState::Scheduled | TaskState::Retry => ListedTask::Due {
            base,
            next_process_at: go_json_time(t.next_process_at),
        },
        TaskState::Archived => ListedTask::Archived {
            base,
            last_failed_at: go_json_time(t.last_failed_at),
        },
        TaskState::Completed => ListedTask::Completed {
            base,
            completed_at: go_json_time(t.completed_at),
            result: printable(t.result.as_deref().unwrap_or_default()),
            ttl_seconds: ttl_seconds(t, now),
        },
        // Aggregating, and any state a newer redisq adds.
        _ => ListedTask::Aggregating {
            base,
            group: t.group.clone().unwrap_or_default(),
        },
    }
}

/// asynqmon's `taskInfo`, the answer of `GET /queues/{qname}/tasks/{task_id}`.
#[derive(Debug, Serialize)]
pub(crate) struct TaskDetails {
    id: String,
    queue: String,
    #[serde(rename = "type")]
    task_type: String,
    payload: String,
    state: String,
    max_retry: u32,
    retried: u32,
    error_message: String,
    last_failed_at: String,
    timeout_seconds: u64,
    deadline: String,
    next_process_at: String,
    completed_at: String,
    result: String,
    ttl_seconds: i64,
    /// redisq extension (asynqmon ignores it): the running attempt's progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<ProgressJson>,
}

pub(crate) fn task_details(t: &TaskInfo, now: SystemTime) -> TaskDetails {
    TaskDetails {
        id: t.id.clone(),
        queue: t.queue.clone(),
        task_type: t.task_type.clone(),
        payload: printable(&t.payload),
        state: t.state.as_str().to_string(),
        max_retry: t.max_retry,
        retried: t.retried,
        error_message: t.last_err.clone(),
        last_failed_at: rfc3339_or_empty(t.last_failed_at),
        timeout_seconds: t.timeout.map_or(0, |d| d.as_secs()),
        deadline: rfc3339_or_empty(t.deadline),
        next_process_at: rfc3339_or_empty(t.next_process_at),
        completed_at: rfc3339_or_empty(t.completed_at),
        result: printable(t.result.as_deref().unwrap_or_default()),
        ttl_seconds: ttl_seconds(t, now),
        progress: progress_json(t),
    }
}

// ---------------------------------------------------------------------------------------------
// Servers and schedulers

/// asynqmon's `serverInfo`.
#[derive(Debug, Serialize)]
pub(crate) struct Server {
    id: String,
    host: String,
    pid: u32,
    concurrency: usize,
    queue_priorities: BTreeMap<String, u32>,
    strict_priority_enabled: bool,
    start_time: String,
    status: String,
    active_workers: Vec<Worker>,
}

/// asynqmon's `workerInfo`.
#[derive(Debug, Serialize)]
pub(crate) struct Worker {
    task_id: String,
    queue: String,
    task_type: String,
    task_payload: String,
    start_time: String,
}

pub(crate) fn server(s: &ServerInfo) -> Server {
    Server {
        id: s.id.clone(),
        host: s.host.clone(),
        pid: s.pid,
        concurrency: s.concurrency,
        queue_priorities: s.queues.clone(),
        strict_priority_enabled: s.strict_priority,
        start_time: rfc3339_or_zero(s.started),
        status: s.status.clone(),
        active_workers: s
            .active_workers
            .iter()
            .map(|w| Worker {
                task_id: w.task_id.clone(),
                queue: w.queue.clone(),
                task_type: w.task_type.clone(),
                task_payload: printable(&w.task_payload),
                start_time: rfc3339_or_zero(w.started),
            })
            .collect(),
    }
}

/// asynqmon's `schedulerEntry`.
#[derive(Debug, Serialize)]
pub(crate) struct Entry {
    id: String,
    spec: String,
    task_type: String,
    task_payload: String,
    options: Vec<String>,
    next_enqueue_at: String,
    /// Left out when the entry never enqueued.
    #[serde(skip_serializing_if = "Option::is_none")]
    prev_enqueue_at: Option<String>,
}

pub(crate) fn entry(e: &SchedulerEntry) -> Entry {
    Entry {
        id: e.id.clone(),
        spec: e.spec.clone(),
        task_type: e.task_type.clone(),
        task_payload: printable(&e.payload),
        options: e.options.clone(),
        next_enqueue_at: rfc3339_or_zero(e.next),
        prev_enqueue_at: e.prev.map(rfc3339),
    }
}

/// asynqmon's `schedulerEnqueueEvent`.
#[derive(Debug, Serialize)]
pub(crate) struct EnqueueEvent {
    task_id: String,
    enqueued_at: String,
}

pub(crate) fn enqueue_event(e: &SchedulerEnqueueEvent) -> EnqueueEvent {
    EnqueueEvent {
        task_id: e.task_id.clone(),
        enqueued_at: rfc3339(e.enqueued_at),
    }
}

/// asynqmon's `parseRedisInfo`: `key:value` lines of `INFO`; lines with more or fewer than
/// one colon are skipped, as asynqmon does.
pub(crate) fn parse_redis_info(raw: &str) -> BTreeMap<String, String> {
    raw.split("\r\n")
        .filter_map(|line| {
            let mut parts = line.split(':');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(k), Some(v), None) => Some((k.to_string(), v.to_string())),
                _ => None,
            }
        })
        .collect()
}

/// The fleet-wide limits that apply to queue `queue` (its own, then every task type's), the
/// `limits` field redisq adds to `GET /queues/{qname}`: `[{"kind": "queue" | "type",
/// "name", "rate_n", "rate_per_seconds", "concurrency"}]`, absent limits as null.
pub(crate) fn queue_limits(limits: &[redisq::Limit], queue: &str) -> serde_json::Value {
    let applying = limits.iter().filter(|l| match &l.target {
        redisq::LimitTarget::Queue(q) => q == queue,
        _ => true,
    });
    serde_json::Value::Array(
        applying
            .map(|l| {
                serde_json::json!({
                    "kind": if matches!(l.target, redisq::LimitTarget::Queue(_)) { "queue" } else { "type" },
                    "name": l.target.name(),
                    "rate_n": l.rate.map(|r| r.n()),
                    "rate_per_seconds": l.rate.map(|r| r.per().as_secs_f64()),
                    "concurrency": l.concurrency,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_mirrors_asynqmon() {
        assert_eq!(printable(br#"{"to":"a b"}"#), r#"{"to":"a b"}"#);
        assert_eq!(printable("héllo ✓".as_bytes()), "héllo ✓");
        assert_eq!(printable(b""), NON_PRINTABLE);
        assert_eq!(printable(b"   "), NON_PRINTABLE);
        assert_eq!(printable(b"line\nbreak"), NON_PRINTABLE);
        assert_eq!(printable(b"tab\there"), NON_PRINTABLE);
        assert_eq!(printable(&[0xff, 0xfe, 0x00]), NON_PRINTABLE);
        assert_eq!(printable("nb\u{a0}sp".as_bytes()), NON_PRINTABLE);
        assert_eq!(printable("zw\u{200b}sp".as_bytes()), NON_PRINTABLE);
    }

    #[test]
    fn durations_read_like_go() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_nanos(15)), "15ns");
        assert_eq!(go_duration(Duration::from_nanos(1_500)), "1.5µs");
        assert_eq!(go_duration(ms(450)), "450ms");
        assert_eq!(go_duration(ms(1_500)), "1.5s");
        assert_eq!(go_duration(ms(61_000)), "1m1s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(go_duration(ms(3_723_450)), "1h2m3.45s");
        assert_eq!(round_duration(ms(1_234), ms(10)), ms(1_230));
        assert_eq!(round_duration(ms(1_235), ms(10)), ms(1_240));
        assert_eq!(round_duration(Duration::from_micros(4_999), ms(10)), ms(0));
    }

    #[test]
    fn times_read_like_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20Z");
        assert_eq!(go_json_time(Some(t)), "2023-11-14T22:13:20.12Z");
        assert_eq!(go_json_time(None), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_or_empty(None), "");
        assert_eq!(seconds_until(t + Duration::from_millis(2_900), t), 2);
        assert_eq!(seconds_until(t, t + Duration::from_millis(2_900)), -2);
    }

    #[test]
    fn redis_info_lines() {
        let info = parse_redis_info("# Server\r\nredis_version:7.2.0\r\nexecutable:/a:b\r\n\r\n");
        assert_eq!(info.get("redis_version").map(String::as_str), Some("7.2.0"));
        assert!(!info.contains_key("executable"));
        assert_eq!(info.len(), 1);
    }
}
