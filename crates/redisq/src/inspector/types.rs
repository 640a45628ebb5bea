//! What the Inspector returns: queue statistics, groups, servers, scheduler entries, paging.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

/// Paging of a listing (asynq's `Page` and `PageSize` options).
///
/// Pages are 1-based; the default is page 1 with 30 entries per page. Page 0 is read as
/// page 1, and a page size of 0 lists nothing.
///
/// ```
/// use redisq::ListOptions;
///
/// let second = ListOptions::new().page(2).page_size(100);
/// assert_eq!((second.page, second.page_size), (2, 100));
/// assert_eq!(ListOptions::default().page_size, 30);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ListOptions {
    /// The page number, starting at 1.
    pub page: usize,
    /// How many entries a page holds.
    pub page_size: usize,
}

impl ListOptions {
    /// The default page size.
    pub const DEFAULT_PAGE_SIZE: usize = 30;

    /// Page 1 with [`ListOptions::DEFAULT_PAGE_SIZE`] entries.
    pub fn new() -> Self {
        ListOptions {
            page: 1,
            page_size: Self::DEFAULT_PAGE_SIZE,
        }
    }

    /// Selects a page (1-based; 0 means 1).
    pub fn page(mut self, page: usize) -> Self {
        self.page = page;
        self
    }

    /// Sets the number of entries per page.
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions::new()
    }
}

/// A snapshot of one queue (asynq's `QueueInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct QueueInfo {
    /// The queue name.
    pub queue: String,
    /// Estimated memory used by the queue's tasks and containers, in bytes (sampled with
    /// `MEMORY USAGE`, like asynq). `None` when the server does not offer `MEMORY USAGE`.
    pub memory_usage: Option<u64>,
    /// How long the oldest pending task has been waiting; zero when nothing is pending (or the
    /// oldest pending task has no `pending_since`, e.g. one requeued by Go asynq).
    pub latency: Duration,
    /// Tasks in every state: pending + active + scheduled + retry + archived + completed +
    /// aggregating.
    pub size: usize,
    /// Number of aggregation groups.
    pub groups: usize,
    /// Pending tasks.
    pub pending: usize,
    /// Active tasks.
    pub active: usize,
    /// Scheduled tasks.
    pub scheduled: usize,
    /// Tasks waiting for a retry.
    pub retry: usize,
    /// Archived tasks.
    pub archived: usize,
    /// Completed tasks kept for their retention.
    pub completed: usize,
    /// Tasks waiting in a group.
    pub aggregating: usize,
    /// Tasks processed today (UTC date), successes and failures.
    pub processed: u64,
    /// Tasks that failed today (UTC date).
    pub failed: u64,
    /// Tasks processed since the counters began.
    pub processed_total: u64,
    /// Tasks failed since the counters began.
    pub failed_total: u64,
    /// Whether the queue is paused.
    pub paused: bool,
    /// When the snapshot was taken.
    pub timestamp: SystemTime,
}

/// Processed and failed counts of one queue on one UTC day (asynq's `DailyStats`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DailyStats {
    /// The queue name.
    pub queue: String,
    /// Tasks processed that day.
    pub processed: u64,
    /// Tasks that failed that day.
    pub failed: u64,
    /// The day: midnight UTC at its start.
    pub date: SystemTime,
}

/// An aggregation group and the number of tasks waiting in it (asynq's `GroupInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GroupInfo {
    /// The group name.
    pub group: String,
    /// Tasks waiting in the group.
    pub size: usize,
}

/// A running server, as written by its heartbeat (asynq's `ServerInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The server's random ID.
    pub id: String,
    /// Host name of the machine it runs on.
    pub host: String,
    /// Process ID.
    pub pid: u32,
    /// Tasks it processes at once.
    pub concurrency: usize,
    /// Its queues and their priorities.
    pub queues: BTreeMap<String, u32>,
    /// Whether it uses strict priority.
    pub strict_priority: bool,
    /// When it started.
    pub started: Option<SystemTime>,
    /// `new`, `active`, `stopped` or `closed`.
    pub status: String,
    /// The tasks it is processing.
    pub active_workers: Vec<WorkerInfo>,
}

/// A task being processed by a server (asynq's `WorkerInfo`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerInfo {
    /// The task ID.
    pub task_id: String,
    /// The task type.
    pub task_type: String,
    /// The task payload.
    pub task_payload: Bytes,
    /// The task's queue.
    pub queue: String,
    /// When processing started.
    pub started: Option<SystemTime>,
    /// When processing must end.
    pub deadline: Option<SystemTime>,
}

/// A node of a Redis Cluster serving a queue's slot (asynq's `ClusterNode`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterNode {
    /// The node ID.
    pub id: String,
    /// `host:port`.
    pub addr: String,
}

/// A periodic task registered with a running scheduler (asynq's `SchedulerEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerEntry {
    /// The entry ID.
    pub id: String,
    /// The cron spec, e.g. `@every 1h`.
    pub spec: String,
    /// The task type.
    pub task_type: String,
    /// The task payload.
    pub payload: Bytes,
    /// The enqueue options in asynq's string form, e.g. `MaxRetry(2)` or `Queue("low")`.
    pub options: Vec<String>,
    /// When the task is enqueued next.
    pub next: Option<SystemTime>,
    /// When the task was enqueued last; `None` if never.
    pub prev: Option<SystemTime>,
}

/// One enqueue made by a scheduler entry (asynq's `SchedulerEnqueueEvent`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SchedulerEnqueueEvent {
    /// The ID of the enqueued task.
    pub task_id: String,
    /// When it was enqueued.
    pub enqueued_at: SystemTime,
}

/// `INFO` of the Redis deployment behind an [`Inspector`](crate::Inspector).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisInfo {
    /// `standalone`, `sentinel` or `cluster`.
    pub topology: &'static str,
    /// `(node, INFO text)` per server: the server's address, the Sentinel master's name, or
    /// each Cluster node.
    pub nodes: Vec<(String, String)>,
    /// `CLUSTER INFO`, on a Cluster.
    pub cluster_info: Option<String>,
}

/// A flow parent waiting for its children (see [`crate::Flow`]), as listed by
/// [`crate::Inspector::list_waiting_tasks`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitingTaskInfo {
    /// The task, in state [`crate::TaskState::Waiting`].
    pub task: crate::task::TaskInfo,
    /// When the flow was enqueued.
    pub waiting_since: SystemTime,
    /// How many children the task has.
    pub children: usize,
    /// How many of them have not finished yet.
    pub children_left: usize,
    /// What happens when a child is archived.
    pub on_child_archived: crate::flow::OnChildArchived,
    /// The children not finished yet, as (queue, task ID), in the order they were added.
    pub unfinished_children: Vec<(String, String)>,
}

impl WaitingTaskInfo {
    /// Why the task is not pending, e.g. `waiting for 2 of 3 children`.
    pub fn reason(&self) -> String {
        format!(
            "waiting for {} of {} children",
            self.children_left, self.children
        )
    }

    /// [`WaitingTaskInfo::reason`] with the unfinished children named, e.g.
    /// `waiting for 1 of 3 children: reports/eu`.
    pub fn long_reason(&self) -> String {
        let names: Vec<String> = self
            .unfinished_children
            .iter()
            .map(|(q, id)| format!("{q}/{id}"))
            .collect();
        format!("{}: {}", self.reason(), names.join(", "))
    }
}
