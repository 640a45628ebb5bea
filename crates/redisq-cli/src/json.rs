//! The JSON shapes of `--json` output. They are part of the command line's interface:
//! fields are only ever added, never renamed or removed.
//!
//! Conventions: field names are snake_case; times are RFC 3339 strings in UTC with whole
//! seconds (`2026-01-02T03:04:05Z`) or `null` when absent; durations are numbers of seconds
//! in fields ending in `_seconds`; byte strings (payloads, results) are UTF-8 text when they
//! are valid UTF-8 and base64 otherwise, with a sibling `*_encoding` field saying which
//! (`"utf8"` or `"base64"`).
//!
//! | Command | Output |
//! |---|---|
//! | `stats` | [`Stats`] |
//! | `queue ls` | array of queue names |
//! | `queue inspect` | array of [`Queue`], one per queue argument |
//! | `queue history` | array of [`Daily`], per queue argument, newest day first |
//! | `task ls` | array of [`TaskJson`] |
//! | `task inspect`, `task enqueue` | one [`TaskJson`] |
//! | `task archiveall/deleteall/runall` | one [`Bulk`] |
//! | `group ls` | array of [`Group`] |
//! | `server ls` | array of [`Server`] |
//! | `cron ls` | array of [`CronEntry`] |
//! | `cron history` | array of [`CronEvent`], per entry argument, newest first |
//! | `queue limits` | array of [`LimitJson`] |

use std::collections::BTreeMap;
use std::time::SystemTime;

use redisq::{
    DailyStats, GroupInfo, QueueInfo, SchedulerEnqueueEvent, SchedulerEntry, ServerInfo, TaskInfo,
    WaitingTaskInfo, WorkerInfo,
};
use serde::Serialize;

use crate::output::{bytes_json, rfc3339, utc_date};

fn time(t: Option<SystemTime>) -> Option<String> {
    t.map(rfc3339)
}

fn rate(processed: u64, failed: u64) -> Option<f64> {
    (processed > 0).then(|| failed as f64 / processed as f64)
}

/// One queue (`queue inspect`, `stats`).
#[derive(Debug, Serialize)]
pub(crate) struct Queue {
    /// Queue name.
    pub(crate) queue: String,
    /// Whether servers skip the queue.
    pub(crate) paused: bool,
    /// Tasks in every state.
    pub(crate) size: usize,
    /// Number of aggregation groups.
    pub(crate) groups: usize,
    /// How long the oldest pending task has waited (0 when none is pending).
    pub(crate) latency_seconds: f64,
    /// Estimated memory of the queue's tasks; `null` when Redis cannot tell.
    pub(crate) memory_usage_bytes: Option<u64>,
    /// Tasks per state.
    pub(crate) active: usize,
    /// Pending tasks.
    pub(crate) pending: usize,
    /// Tasks waiting in groups.
    pub(crate) aggregating: usize,
    /// Scheduled tasks.
    pub(crate) scheduled: usize,
    /// Tasks waiting for a retry.
    pub(crate) retry: usize,
    /// Archived tasks.
    pub(crate) archived: usize,
    /// Completed tasks kept for their retention.
    pub(crate) completed: usize,
    /// Tasks processed today (UTC), failures included.
    pub(crate) processed: u64,
    /// Tasks failed today (UTC).
    pub(crate) failed: u64,
    /// `failed / processed` today, `null` when nothing was processed.
    pub(crate) error_rate: Option<f64>,
    /// Tasks processed since the counters began.
    pub(crate) processed_total: u64,
    /// Tasks failed since the counters began.
    pub(crate) failed_total: u64,
    /// When the numbers were read.
    pub(crate) timestamp: String,
}

impl From<&QueueInfo> for Queue {
    fn from(q: &QueueInfo) -> Self {
        Queue {
            queue: q.queue.clone(),
            paused: q.paused,
            size: q.size,
            groups: q.groups,
            latency_seconds: (q.latency.as_secs_f64() * 1000.0).round() / 1000.0,
            memory_usage_bytes: q.memory_usage,
            active: q.active,
            pending: q.pending,
            aggregating: q.aggregating,
            scheduled: q.scheduled,
            retry: q.retry,
            archived: q.archived,
            completed: q.completed,
            processed: q.processed,
            failed: q.failed,
            error_rate: rate(q.processed, q.failed),
            processed_total: q.processed_total,
            failed_total: q.failed_total,
            timestamp: rfc3339(q.timestamp),
        }
    }
}

/// One queue's counts on one UTC day (`queue history`).
#[derive(Debug, Serialize)]
pub(crate) struct Daily {
    /// Queue name.
    pub(crate) queue: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub(crate) date: String,
    /// Tasks processed that day.
    pub(crate) processed: u64,
    /// Tasks failed that day.
    pub(crate) failed: u64,
    /// `failed / processed`, `null` when nothing was processed.
    pub(crate) error_rate: Option<f64>,
}

impl From<&DailyStats> for Daily {
    fn from(d: &DailyStats) -> Self {
        Daily {
            queue: d.queue.clone(),
            date: utc_date(d.date),
            processed: d.processed,
            failed: d.failed,
            error_rate: rate(d.processed, d.failed),
        }
    }
}

/// One task (`task ls`, `task inspect`, `task enqueue`).
#[derive(Debug, Serialize)]
pub(crate) struct TaskJson {
    /// Task ID.
    pub(crate) id: String,
    /// Queue name.
    pub(crate) queue: String,
    /// Task type.
    #[serde(rename = "type")]
    pub(crate) task_type: String,
    /// `active`, `pending`, `aggregating`, `scheduled`, `retry`, `archived`, `completed` or
    /// `waiting` (a flow parent, redisq only).
    pub(crate) state: String,
    /// Payload (see `payload_encoding`).
    pub(crate) payload: String,
    /// `utf8` or `base64`.
    pub(crate) payload_encoding: &'static str,
    /// Headers.
    pub(crate) headers: BTreeMap<String, String>,
    /// Retries allowed.
    pub(crate) max_retry: u32,
    /// Retries made.
    pub(crate) retried: u32,
    /// Error of the last failure; `null` if it never failed.
    pub(crate) last_error: Option<String>,
    /// When it last failed.
    pub(crate) last_failed_at: Option<String>,
    /// Time allowed per attempt; `null` when only a deadline bounds it.
    pub(crate) timeout_seconds: Option<u64>,
    /// Absolute deadline.
    pub(crate) deadline: Option<String>,
    /// Aggregation group.
    pub(crate) group: Option<String>,
    /// When it is processed next (pending: now; scheduled and retry: the due time).
    pub(crate) next_process_at: Option<String>,
    /// An active task no server is extending the lease of (`task ls -s active` only).
    pub(crate) is_orphaned: bool,
    /// How long it is kept after success.
    pub(crate) retention_seconds: Option<u64>,
    /// When it completed.
    pub(crate) completed_at: Option<String>,
    /// Result written by its handler (see `result_encoding`).
    pub(crate) result: Option<String>,
    /// `utf8` or `base64`; `null` without a result.
    pub(crate) result_encoding: Option<&'static str>,
    /// What the running attempt reported (`TaskContext::set_progress`); `null` when the task
    /// is not active or reported nothing.
    pub(crate) progress: Option<ProgressJson>,
}

/// A running task's progress.
#[derive(Debug, Serialize)]
pub(crate) struct ProgressJson {
    /// 0 to 100.
    pub(crate) percent: u8,
    /// The handler's message.
    pub(crate) message: String,
    /// When it was reported (RFC 3339).
    pub(crate) updated_at: Option<String>,
}

/// A flow child, by queue and ID.
#[derive(Debug, Serialize)]
pub(crate) struct ChildRefJson {
    /// Queue name.
    pub(crate) queue: String,
    /// Task ID.
    pub(crate) id: String,
}

/// One waiting flow parent (`task ls --state waiting`): the task and why it waits.
#[derive(Debug, Serialize)]
pub(crate) struct WaitingJson {
    /// The task (state `waiting`).
    #[serde(flatten)]
    pub(crate) task: TaskJson,
    /// How many children it has.
    pub(crate) children: usize,
    /// How many of them have not finished.
    pub(crate) children_left: usize,
    /// E.g. `waiting for 2 of 3 children`.
    pub(crate) reason: String,
    /// The children not finished yet: `{"queue": …, "id": …}`.
    pub(crate) unfinished_children: Vec<ChildRefJson>,
    /// When the flow was enqueued.
    pub(crate) waiting_since: String,
}

impl From<&WaitingTaskInfo> for WaitingJson {
    fn from(w: &WaitingTaskInfo) -> Self {
        WaitingJson {
            task: TaskJson::from(&w.task),
            children: w.children,
            children_left: w.children_left,
            reason: w.reason(),
            unfinished_children: w
                .unfinished_children
                .iter()
                .map(|(queue, id)| ChildRefJson {
                    queue: queue.clone(),
                    id: id.clone(),
                })
                .collect(),
            waiting_since: rfc3339(w.waiting_since),
        }
    }
}

impl From<&TaskInfo> for TaskJson {
    fn from(t: &TaskInfo) -> Self {
        let (payload, payload_encoding) = bytes_json(&t.payload);
        let result = t.result.as_deref().map(bytes_json);
        TaskJson {
            id: t.id.clone(),
            queue: t.queue.clone(),
            task_type: t.task_type.clone(),
            state: t.state.as_str().to_string(),
            payload,
            payload_encoding,
            headers: t.headers.clone().into_iter().collect(),
            max_retry: t.max_retry,
            retried: t.retried,
            last_error: (!t.last_err.is_empty()).then(|| t.last_err.clone()),
            last_failed_at: time(t.last_failed_at),
            timeout_seconds: t.timeout.map(|d| d.as_secs()),
            deadline: time(t.deadline),
            group: t.group.clone(),
            next_process_at: time(t.next_process_at),
            is_orphaned: t.is_orphaned,
            retention_seconds: t.retention.map(|d| d.as_secs()),
            completed_at: time(t.completed_at),
            result_encoding: result.as_ref().map(|r| r.1),
            result: result.map(|r| r.0),
            progress: t.progress.as_ref().map(|p| ProgressJson {
                percent: p.percent,
                message: p.message.clone(),
                updated_at: time(Some(p.updated_at)),
            }),
        }
    }
}

/// The outcome of `task archiveall`, `deleteall` or `runall`.
#[derive(Debug, Serialize)]
pub(crate) struct Bulk {
    /// Queue name.
    pub(crate) queue: String,
    /// The state the tasks were taken from.
    pub(crate) state: String,
    /// The group (aggregating tasks only).
    pub(crate) group: Option<String>,
    /// `archived`, `deleted` or `run`.
    pub(crate) action: &'static str,
    /// Number of tasks affected.
    pub(crate) count: usize,
}

/// One aggregation group (`group ls`).
#[derive(Debug, Serialize)]
pub(crate) struct Group {
    /// Queue name.
    pub(crate) queue: String,
    /// Group name.
    pub(crate) group: String,
    /// Tasks waiting in the group.
    pub(crate) size: usize,
}

impl Group {
    pub(crate) fn new(queue: &str, g: &GroupInfo) -> Self {
        Group {
            queue: queue.to_string(),
            group: g.group.clone(),
            size: g.size,
        }
    }
}

/// One running server (`server ls`).
#[derive(Debug, Serialize)]
pub(crate) struct Server {
    /// Server ID.
    pub(crate) id: String,
    /// Host name.
    pub(crate) host: String,
    /// Process ID.
    pub(crate) pid: u32,
    /// Tasks processed at once.
    pub(crate) concurrency: usize,
    /// Queue name to priority.
    pub(crate) queues: BTreeMap<String, u32>,
    /// Whether queues are taken in strict priority order.
    pub(crate) strict_priority: bool,
    /// When it started.
    pub(crate) started: Option<String>,
    /// `new`, `active`, `stopped` or `closed`.
    pub(crate) status: String,
    /// The tasks it is processing.
    pub(crate) active_workers: Vec<Worker>,
}

/// A task a server is processing.
#[derive(Debug, Serialize)]
pub(crate) struct Worker {
    /// Task ID.
    pub(crate) task_id: String,
    /// Task type.
    pub(crate) task_type: String,
    /// Payload (see `payload_encoding`).
    pub(crate) payload: String,
    /// `utf8` or `base64`.
    pub(crate) payload_encoding: &'static str,
    /// Queue name.
    pub(crate) queue: String,
    /// When processing started.
    pub(crate) started: Option<String>,
    /// When processing must end.
    pub(crate) deadline: Option<String>,
}

impl From<&WorkerInfo> for Worker {
    fn from(w: &WorkerInfo) -> Self {
        let (payload, payload_encoding) = bytes_json(&w.task_payload);
        Worker {
            task_id: w.task_id.clone(),
            task_type: w.task_type.clone(),
            payload,
            payload_encoding,
            queue: w.queue.clone(),
            started: time(w.started),
            deadline: time(w.deadline),
        }
    }
}

impl From<&ServerInfo> for Server {
    fn from(s: &ServerInfo) -> Self {
        Server {
            id: s.id.clone(),
            host: s.host.clone(),
            pid: s.pid,
            concurrency: s.concurrency,
            queues: s.queues.clone(),
            strict_priority: s.strict_priority,
            started: time(s.started),
            status: s.status.clone(),
            active_workers: s.active_workers.iter().map(Worker::from).collect(),
        }
    }
}

/// One periodic task of a running scheduler (`cron ls`).
#[derive(Debug, Serialize)]
pub(crate) struct CronEntry {
    /// Entry ID.
    pub(crate) id: String,
    /// Cron spec, e.g. `@every 1h` or `*/5 * * * *`.
    pub(crate) spec: String,
    /// Task type.
    pub(crate) task_type: String,
    /// Payload (see `payload_encoding`).
    pub(crate) payload: String,
    /// `utf8` or `base64`.
    pub(crate) payload_encoding: &'static str,
    /// Enqueue options in asynq's form, e.g. `Queue("low")`.
    pub(crate) options: Vec<String>,
    /// When it is enqueued next.
    pub(crate) next_enqueue_at: Option<String>,
    /// When it was enqueued last; `null` if never.
    pub(crate) prev_enqueue_at: Option<String>,
}

impl From<&SchedulerEntry> for CronEntry {
    fn from(e: &SchedulerEntry) -> Self {
        let (payload, payload_encoding) = bytes_json(&e.payload);
        CronEntry {
            id: e.id.clone(),
            spec: e.spec.clone(),
            task_type: e.task_type.clone(),
            payload,
            payload_encoding,
            options: e.options.clone(),
            next_enqueue_at: time(e.next),
            prev_enqueue_at: time(e.prev),
        }
    }
}

/// One enqueue made by a scheduler entry (`cron history`).
#[derive(Debug, Serialize)]
pub(crate) struct CronEvent {
    /// Entry ID.
    pub(crate) entry_id: String,
    /// ID of the enqueued task.
    pub(crate) task_id: String,
    /// When it was enqueued.
    pub(crate) enqueued_at: String,
}

impl CronEvent {
    pub(crate) fn new(entry_id: &str, e: &SchedulerEnqueueEvent) -> Self {
        CronEvent {
            entry_id: entry_id.to_string(),
            task_id: e.task_id.clone(),
            enqueued_at: rfc3339(e.enqueued_at),
        }
    }
}

/// `stats`.
#[derive(Debug, Serialize)]
pub(crate) struct Stats {
    /// When the numbers were read.
    pub(crate) timestamp: String,
    /// The UTC day `processed` and `failed` count, `YYYY-MM-DD`.
    pub(crate) date: String,
    /// Sums over every queue.
    pub(crate) aggregate: Aggregate,
    /// Every queue, sorted by name.
    pub(crate) queues: Vec<Queue>,
    /// The Redis deployment; `null` when INFO could not be read (see `redis_error`).
    pub(crate) redis: Option<RedisJson>,
    /// Why `redis` is `null`.
    pub(crate) redis_error: Option<String>,
}

/// Sums over every queue.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Aggregate {
    /// Number of queues.
    pub(crate) queues: usize,
    /// Tasks in every state.
    pub(crate) size: usize,
    /// Active tasks.
    pub(crate) active: usize,
    /// Pending tasks.
    pub(crate) pending: usize,
    /// Tasks waiting in groups.
    pub(crate) aggregating: usize,
    /// Scheduled tasks.
    pub(crate) scheduled: usize,
    /// Tasks waiting for a retry.
    pub(crate) retry: usize,
    /// Archived tasks.
    pub(crate) archived: usize,
    /// Completed tasks.
    pub(crate) completed: usize,
    /// Processed today (UTC).
    pub(crate) processed: u64,
    /// Failed today (UTC).
    pub(crate) failed: u64,
    /// `failed / processed` today, `null` when nothing was processed.
    pub(crate) error_rate: Option<f64>,
    /// Paused queues.
    pub(crate) paused_queues: usize,
}

impl Aggregate {
    pub(crate) fn of(queues: &[QueueInfo]) -> Self {
        let mut a = Aggregate {
            queues: queues.len(),
            ..Aggregate::default()
        };
        for q in queues {
            a.size += q.size;
            a.active += q.active;
            a.pending += q.pending;
            a.aggregating += q.aggregating;
            a.scheduled += q.scheduled;
            a.retry += q.retry;
            a.archived += q.archived;
            a.completed += q.completed;
            a.processed += q.processed;
            a.failed += q.failed;
            a.paused_queues += usize::from(q.paused);
        }
        a.error_rate = rate(a.processed, a.failed);
        a
    }
}

/// The Redis deployment (`stats`).
#[derive(Debug, Serialize)]
pub(crate) struct RedisJson {
    /// `standalone`, `sentinel` or `cluster`.
    pub(crate) mode: &'static str,
    /// One entry per server (every master of a Cluster).
    pub(crate) nodes: Vec<RedisNode>,
    /// `CLUSTER INFO` figures; `null` unless `mode` is `cluster`.
    pub(crate) cluster: Option<ClusterJson>,
}

/// `INFO` figures of one server.
#[derive(Debug, Serialize)]
pub(crate) struct RedisNode {
    /// Address of the server.
    pub(crate) node: String,
    /// `redis_version`.
    pub(crate) version: Option<String>,
    /// `role`: `master` or `slave`.
    pub(crate) role: Option<String>,
    /// `uptime_in_seconds`.
    pub(crate) uptime_seconds: Option<u64>,
    /// `connected_clients`.
    pub(crate) connected_clients: Option<u64>,
    /// `used_memory`.
    pub(crate) used_memory_bytes: Option<u64>,
    /// `used_memory_peak`.
    pub(crate) used_memory_peak_bytes: Option<u64>,
    /// `maxmemory` (0: no limit).
    pub(crate) maxmemory_bytes: Option<u64>,
}

impl RedisNode {
    pub(crate) fn parse(node: &str, info: &str) -> Self {
        let get = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let num = |k: &str| get(k).and_then(|v| v.parse().ok());
        RedisNode {
            node: node.to_string(),
            version: get("redis_version"),
            role: get("role"),
            uptime_seconds: num("uptime_in_seconds"),
            connected_clients: num("connected_clients"),
            used_memory_bytes: num("used_memory"),
            used_memory_peak_bytes: num("used_memory_peak"),
            maxmemory_bytes: num("maxmemory"),
        }
    }
}

/// `CLUSTER INFO` figures.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterJson {
    /// `cluster_state`: `ok` or `fail`.
    pub(crate) state: Option<String>,
    /// `cluster_slots_assigned`.
    pub(crate) slots_assigned: Option<u64>,
    /// `cluster_known_nodes`.
    pub(crate) known_nodes: Option<u64>,
    /// `cluster_size`: masters serving slots.
    pub(crate) size: Option<u64>,
}

impl ClusterJson {
    pub(crate) fn parse(info: &str) -> Self {
        let get = |k: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let num = |k: &str| get(k).and_then(|v| v.parse().ok());
        ClusterJson {
            state: get("cluster_state"),
            slots_assigned: num("cluster_slots_assigned"),
            known_nodes: num("cluster_known_nodes"),
            size: num("cluster_size"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_info_fields() {
        let info = "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\n\
                    # Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:1000\r\n\
                    used_memory_human:1000B\r\nused_memory_peak:2000\r\nrole:master\r\n";
        let n = RedisNode::parse("h:1", info);
        assert_eq!(n.version.as_deref(), Some("7.0.15"));
        assert_eq!(n.uptime_seconds, Some(42));
        assert_eq!(n.connected_clients, Some(3));
        assert_eq!(n.used_memory_bytes, Some(1000));
        assert_eq!(n.used_memory_peak_bytes, Some(2000));
        assert_eq!(n.role.as_deref(), Some("master"));
        assert_eq!(n.maxmemory_bytes, None);
        let c = ClusterJson::parse("cluster_state:ok\r\ncluster_size:3\r\n");
        assert_eq!(c.state.as_deref(), Some("ok"));
        assert_eq!(c.size, Some(3));
    }
}

/// One queue's or task type's fleet-wide limits (`queue limits --json`, and the web API's
/// `limits` field).
#[derive(Debug, Serialize)]
pub(crate) struct LimitJson {
    /// `"queue"` or `"type"`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    /// At most `rate_n` starts in any window of `rate_per_seconds`; null without a rate limit.
    pub(crate) rate_n: Option<u32>,
    pub(crate) rate_per_seconds: Option<f64>,
    /// The most tasks active at once; null without a concurrency limit.
    pub(crate) concurrency: Option<u32>,
}

impl From<&redisq::Limit> for LimitJson {
    fn from(l: &redisq::Limit) -> Self {
        LimitJson {
            kind: match l.target {
                redisq::LimitTarget::Queue(_) => "queue",
                _ => "type",
            },
            name: l.target.name().to_string(),
            rate_n: l.rate.map(|r| r.n()),
            rate_per_seconds: l.rate.map(|r| r.per().as_secs_f64()),
            concurrency: l.concurrency,
        }
    }
}
