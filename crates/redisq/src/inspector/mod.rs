//! The operator's view of queues and tasks (asynq's `Inspector`).
//!
//! An [`Inspector`] lists queues, groups, tasks, servers and scheduler entries, reads queue
//! statistics and history, and acts on tasks and queues: run, archive, delete (one task or
//! all tasks of a state), update the payload of a scheduled task, pause and unpause a queue,
//! delete a queue, and cancel a running task. It also reads and sets the fleet-wide rate and
//! concurrency limits ([`Inspector::limits`]). It reads and writes the same keys as asynq's
//! Inspector, so it works on queues of Go asynq and redisq alike.
//!
//! # Errors
//!
//! Operations on a queue fail with [`Error::is_queue_not_found`] when the queue is not
//! registered in `<ns>:queues` (pausing and unpausing excepted, as in asynq); operations on a
//! task fail with [`Error::is_task_not_found`] when it does not exist, and with
//! [`Error::is_failed_precondition`] when its state does not allow the operation (for example
//! running a pending task, or deleting an active one). The error texts are asynq's, without
//! its `asynq: ` prefix and internal error codes, e.g. `task is already in pending state`.
//!
//! # Differences from asynq
//!
//! - Deleting tasks releases the unique locks they own in every state, also for
//!   `delete_all_pending_tasks` (asynq leaves pending tasks' locks to expire) and for grouped
//!   tasks, whose lock redisq records in the task hash.
//! - Moving tasks to pending (`run_*`) sets `pending_since`, so queue latency
//!   counts from that moment.
//! - Archiving trims the archive to 10 000 tasks and 90 days and deletes the trimmed tasks'
//!   hashes (asynq's inspector leaves them behind).
//! - [`Inspector::delete_queue`] removes everything of the queue, and without
//!   `force` refuses a queue holding tasks in any state, completed and aggregating included.
//! - Bulk operations work in batches of 1 000 tasks per script call, so that no single call
//!   blocks Redis for long; they are therefore not atomic as a whole. They return the number
//!   of tasks affected, not counting IDs whose task hash was already gone.
//! - An active task is reported orphaned when its lease expired or when it has no lease entry
//!   at all.
//! - [`Inspector::queues`] and [`Inspector::groups`] are sorted by name.

mod convert;
mod types;

use std::sync::Arc;
use std::time::SystemTime;

pub use self::types::{
    ClusterNode, DailyStats, GroupInfo, ListOptions, QueueInfo, RedisInfo, SchedulerEnqueueEvent,
    SchedulerEntry, ServerInfo, WaitingTaskInfo, WorkerInfo,
};
use crate::RedisConnOpt;
use crate::connection::Connection;
use crate::core::limits::ArchiveLimits;
use crate::core::names::Namespace;
use crate::core::source::TaskSource;
use crate::core::throttle::{
    Limit, LimitSet, LimitTarget, RateLimit, concurrency_field, rate_field,
};
use crate::error::Result;
use crate::rdb::Rdb;
use crate::rdb::keys::Keys;
use crate::task::TaskInfo;

/// Inspects and steers queues and tasks. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> redisq::Result<()> {
/// use redisq::{Inspector, ListOptions, parse_redis_uri};
///
/// let inspector = Inspector::connect(parse_redis_uri("redis://127.0.0.1:6379/0")?).await?;
/// for queue in inspector.queues().await? {
///     let info = inspector.queue_info(&queue).await?;
///     println!("{queue}: {} pending, {} archived", info.pending, info.archived);
/// }
/// for task in inspector
///     .list_archived_tasks("default", ListOptions::new().page_size(100))
///     .await?
/// {
///     println!("{} failed: {}", task.id, task.last_err);
///     inspector.run_task("default", &task.id).await?;
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Inspector {
    rdb: Arc<Rdb>,
    archive_limits: ArchiveLimits,
}

impl Inspector {
    /// Connects with the default namespace (`asynq`).
    pub async fn connect(opt: impl Into<RedisConnOpt>) -> Result<Inspector> {
        Inspector::connect_with_namespace(opt, Namespace::default()).await
    }

    /// Connects to the queues of another key namespace.
    pub async fn connect_with_namespace(
        opt: impl Into<RedisConnOpt>,
        namespace: Namespace,
    ) -> Result<Inspector> {
        let conn = Connection::connect(opt).await?;
        Ok(Inspector::from_connection(&conn, namespace))
    }

    /// An inspector on an existing connection (shared with a [`crate::Client`],
    /// [`crate::Server`] or [`crate::Scheduler`] of the same process).
    pub fn from_connection(conn: &Connection, namespace: Namespace) -> Inspector {
        Inspector {
            rdb: Arc::new(Rdb::new(
                conn.inner().clone(),
                Keys::new(namespace.as_str()),
            )),
            archive_limits: ArchiveLimits::default(),
        }
    }

    /// The archive limits used when this inspector archives tasks (default
    /// 10 000 tasks and 90 days, like the server's). Set them to the servers' limits so an
    /// archive action does not trim more than the servers would.
    pub fn with_archive_limits(mut self, max_size: u64, max_age: std::time::Duration) -> Self {
        self.archive_limits = ArchiveLimits {
            max_size: max_size.max(1),
            max_age,
        };
        self
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        self.rdb.ping().await
    }

    /// `INFO` of every server (each node of a Cluster, plus `CLUSTER INFO`), as `redisq
    /// stats` and asynq's `stats` show it.
    pub async fn redis_info(&self) -> Result<RedisInfo> {
        let (nodes, cluster_info) = self.rdb.redis_info().await?;
        Ok(RedisInfo {
            topology: self.rdb.conn().topology(),
            nodes,
            cluster_info,
        })
    }

    // -----------------------------------------------------------------------------------------
    // Queues

    /// Every queue (`<ns>:queues`), sorted by name.
    pub async fn queues(&self) -> Result<Vec<String>> {
        self.rdb.queue_names().await
    }

    /// The aggregation groups of a queue and their sizes, sorted by name.
    pub async fn groups(&self, queue: &str) -> Result<Vec<GroupInfo>> {
        let groups = self.rdb.group_stats(queue).await?;
        Ok(groups.into_iter().map(convert::group_info).collect())
    }

    /// A snapshot of a queue: task counts per state, today's and total counters, latency,
    /// paused flag and a memory estimate.
    pub async fn queue_info(&self, queue: &str) -> Result<QueueInfo> {
        let now = SystemTime::now();
        let record = self.rdb.queue_stats(queue, now).await?;
        Ok(convert::queue_info(queue, record, now))
    }

    /// Processed and failed counts of the last `days` UTC days (today included), newest
    /// first. `days` must be between 1 and 3 660 ([`crate::Error::is_invalid_option`] otherwise);
    /// the daily counters expire 90 days after their first increment, so older days read 0.
    pub async fn history(&self, queue: &str, days: usize) -> Result<Vec<DailyStats>> {
        let days = self.rdb.history(queue, days, SystemTime::now()).await?;
        Ok(days
            .into_iter()
            .map(|d| convert::daily_stats(queue, d))
            .collect())
    }

    /// Pauses a queue: servers stop taking its tasks until it is unpaused. Fails with a
    /// failed-precondition error `queue "<q>" is already paused` when it is. Like asynq, a
    /// queue can be paused before its first task is enqueued.
    pub async fn pause_queue(&self, queue: &str) -> Result<()> {
        self.rdb.pause_queue(queue, SystemTime::now()).await
    }

    /// Unpauses a queue. Fails with a failed-precondition error `queue "<q>" is not paused`
    /// when it is not paused.
    pub async fn unpause_queue(&self, queue: &str) -> Result<()> {
        self.rdb.unpause_queue(queue).await
    }

    /// Deletes a queue and everything of it: tasks in every state with their
    /// hashes, the unique locks they own, groups and aggregation sets, leases, counters (total
    /// and daily), the paused flag, and its entry in `<ns>:queues`.
    ///
    /// Without `force` a queue that holds any task fails with [`crate::Error::is_queue_not_empty`];
    /// with `force` a queue with active tasks fails with [`crate::Error::is_failed_precondition`]
    /// (cancel them first). Both checks are made atomically before anything is deleted;
    /// the deletion itself runs in batches of 1 000 tasks, so it is not atomic as a whole
    /// (tasks enqueued to the queue meanwhile may be deleted too or may be left behind).
    ///
    /// After the queue's containers are emptied, the keys no container refers to (for
    /// example task hashes leaked by Go asynq's inspector when it trims the archive) are
    /// swept: on a Cluster by reading the queue's slot (`CLUSTER GETKEYSINSLOT` on its node),
    /// elsewhere with `SCAN MATCH <ns>:{q}:*` in steps of 1 000, which walks the whole
    /// keyspace without blocking Redis.
    pub async fn delete_queue(&self, queue: &str, force: bool) -> Result<()> {
        self.rdb.delete_queue(queue, force, SystemTime::now()).await
    }

    // -----------------------------------------------------------------------------------------
    // Tasks

    /// One task. `next_process_at` is now (whole seconds) for pending tasks, the due time for
    /// scheduled and retry tasks and `None` otherwise; `is_orphaned` is always false here
    /// (see [`Inspector::list_active_tasks`]).
    pub async fn task_info(&self, queue: &str, id: &str) -> Result<TaskInfo> {
        let record = self.rdb.inspect_task(queue, id, SystemTime::now()).await?;
        Ok(convert::task_info_of(record))
    }

    async fn list(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        opts: ListOptions,
    ) -> Result<Vec<TaskInfo>> {
        let tasks = self
            .rdb
            .list_tasks(queue, source, convert::page(opts), SystemTime::now())
            .await?;
        Ok(tasks.into_iter().map(convert::task_info_of).collect())
    }

    /// One page of the pending tasks, oldest (next to be processed) first.
    pub async fn list_pending_tasks(
        &self,
        queue: &str,
        opts: ListOptions,
    ) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Pending, opts).await
    }

    /// One page of the active tasks, longest running first. A task is orphaned when its
    /// lease expired or it has no lease at all: no server is extending it.
    pub async fn list_active_tasks(&self, queue: &str, opts: ListOptions) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Active, opts).await
    }

    /// One page of the scheduled tasks, the next due first.
    pub async fn list_scheduled_tasks(
        &self,
        queue: &str,
        opts: ListOptions,
    ) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Scheduled, opts).await
    }

    /// One page of the tasks waiting for a retry, the next due first.
    pub async fn list_retry_tasks(&self, queue: &str, opts: ListOptions) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Retry, opts).await
    }

    /// One page of the archived tasks, the oldest archived first.
    pub async fn list_archived_tasks(
        &self,
        queue: &str,
        opts: ListOptions,
    ) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Archived, opts).await
    }

    /// One page of the completed tasks, the first to expire first.
    pub async fn list_completed_tasks(
        &self,
        queue: &str,
        opts: ListOptions,
    ) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Completed, opts).await
    }

    /// One page of the tasks waiting in a group, the oldest first.
    pub async fn list_aggregating_tasks(
        &self,
        queue: &str,
        group: &str,
        opts: ListOptions,
    ) -> Result<Vec<TaskInfo>> {
        self.list(queue, TaskSource::Group(group), opts).await
    }

    /// Deletes a task that is not active and releases its unique lock. A waiting flow parent
    /// is deleted with its flow, as [`Inspector::delete_flow`] does.
    pub async fn delete_task(&self, queue: &str, id: &str) -> Result<()> {
        self.rdb.delete_task(queue, id).await
    }

    /// One page of the flow parents waiting for their children (state
    /// [`crate::TaskState::Waiting`]), the oldest first, with how many children each still
    /// waits for. These tasks are in no asynq list, so asynq tools do not show them.
    pub async fn list_waiting_tasks(
        &self,
        queue: &str,
        opts: ListOptions,
    ) -> Result<Vec<WaitingTaskInfo>> {
        let records = self.rdb.list_waiting(queue, convert::page(opts)).await?;
        Ok(records
            .into_iter()
            .filter_map(convert::waiting_task_info_of)
            .collect())
    }

    /// Deletes a waiting flow parent (the flow) with every member below it that has not
    /// started yet: pending, scheduled or retrying children, and child flows, recursively.
    /// Children already running finish normally and report to nobody. Returns how many tasks
    /// were deleted. For a chain, pass its last task.
    ///
    /// Errors: [`crate::Error::is_not_found`] when the task does not exist, a failed
    /// precondition when it is not waiting (its flow is already released or archived).
    pub async fn delete_flow(&self, queue: &str, parent_id: &str) -> Result<usize> {
        self.rdb.check_queue(queue).await?;
        self.rdb.delete_flow(queue, parent_id).await
    }

    /// Moves a scheduled, retry, archived, completed or aggregating task to pending, to be
    /// processed now. The unique lock is kept, as in asynq.
    pub async fn run_task(&self, queue: &str, id: &str) -> Result<()> {
        self.rdb.run_task(queue, id, SystemTime::now()).await
    }

    /// Moves a task that is not active to the archive. The unique lock is kept, as in asynq.
    pub async fn archive_task(&self, queue: &str, id: &str) -> Result<()> {
        self.rdb
            .archive_task(queue, id, self.archive_limits, SystemTime::now())
            .await
    }

    /// Replaces the payload of a scheduled task, keeping the rest of its message (including
    /// its unique lock key, derived from the old payload, as asynq does). Other states fail
    /// with [`crate::Error::is_failed_precondition`].
    pub async fn update_task_payload(&self, queue: &str, id: &str, payload: &[u8]) -> Result<()> {
        self.rdb.update_task_payload(queue, id, payload).await
    }

    /// Asks the server running the task to cancel it (asynq's `CancelProcessing`). Fire and
    /// forget: servers that do not run it ignore the message. A cancelled task is archived
    /// with the error `task canceled`.
    pub async fn cancel_processing(&self, task_id: &str) -> Result<()> {
        self.rdb.publish_cancel(task_id).await
    }

    // -----------------------------------------------------------------------------------------
    // Bulk operations (batched, see the module documentation)

    /// Deletes every pending task and releases their unique locks. Returns how many.
    pub async fn delete_all_pending_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb.delete_all(queue, TaskSource::Pending).await
    }

    /// Deletes every scheduled task and releases their unique locks. Returns how many.
    pub async fn delete_all_scheduled_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb.delete_all(queue, TaskSource::Scheduled).await
    }

    /// Deletes every task waiting for a retry and releases their unique locks. Returns how
    /// many.
    pub async fn delete_all_retry_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb.delete_all(queue, TaskSource::Retry).await
    }

    /// Deletes every archived task and releases their unique locks. Returns how many.
    pub async fn delete_all_archived_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb.delete_all(queue, TaskSource::Archived).await
    }

    /// Deletes every completed task. Returns how many.
    pub async fn delete_all_completed_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb.delete_all(queue, TaskSource::Completed).await
    }

    /// Deletes every task waiting in a group and releases their unique locks. Returns how
    /// many.
    pub async fn delete_all_aggregating_tasks(&self, queue: &str, group: &str) -> Result<usize> {
        self.rdb.delete_all(queue, TaskSource::Group(group)).await
    }

    /// Moves every scheduled task to pending, the earliest due first. Returns how many.
    pub async fn run_all_scheduled_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb
            .run_all(queue, TaskSource::Scheduled, SystemTime::now())
            .await
    }

    /// Moves every task waiting for a retry to pending. Returns how many.
    pub async fn run_all_retry_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb
            .run_all(queue, TaskSource::Retry, SystemTime::now())
            .await
    }

    /// Moves every archived task to pending. Returns how many.
    pub async fn run_all_archived_tasks(&self, queue: &str) -> Result<usize> {
        self.rdb
            .run_all(queue, TaskSource::Archived, SystemTime::now())
            .await
    }

    /// Moves every task waiting in a group to pending (without aggregating them). Returns
    /// how many.
    pub async fn run_all_aggregating_tasks(&self, queue: &str, group: &str) -> Result<usize> {
        self.rdb
            .run_all(queue, TaskSource::Group(group), SystemTime::now())
            .await
    }

    /// Archives every pending task. Returns how many.
    pub async fn archive_all_pending_tasks(&self, queue: &str) -> Result<usize> {
        self.archive_all(queue, TaskSource::Pending).await
    }

    /// Archives every scheduled task. Returns how many.
    pub async fn archive_all_scheduled_tasks(&self, queue: &str) -> Result<usize> {
        self.archive_all(queue, TaskSource::Scheduled).await
    }

    /// Archives every task waiting for a retry. Returns how many.
    pub async fn archive_all_retry_tasks(&self, queue: &str) -> Result<usize> {
        self.archive_all(queue, TaskSource::Retry).await
    }

    /// Archives every task waiting in a group. Returns how many.
    pub async fn archive_all_aggregating_tasks(&self, queue: &str, group: &str) -> Result<usize> {
        self.archive_all(queue, TaskSource::Group(group)).await
    }

    async fn archive_all(&self, queue: &str, source: TaskSource<'_>) -> Result<usize> {
        self.rdb
            .archive_all(queue, source, self.archive_limits, SystemTime::now())
            .await
    }

    // -----------------------------------------------------------------------------------------
    // Fleet-wide limits

    /// The rate and concurrency limits stored in Redis, which every redisq server obeys
    /// (queues first, then task types, each sorted by name). Stored values that are not
    /// valid limits are left out.
    pub async fn limits(&self) -> Result<Vec<Limit>> {
        Ok(self.rdb.read_limits().await?.0.to_list())
    }

    /// The limits of one queue or task type (`None` for each kind it does not have).
    pub async fn limit(&self, target: &LimitTarget) -> Result<Limit> {
        let all = self.limits().await?;
        Ok(all
            .into_iter()
            .find(|l| &l.target == target)
            .unwrap_or(Limit {
                target: target.clone(),
                rate: None,
                concurrency: None,
            }))
    }

    /// Sets a rate limit live: servers reload it at once (through the wake-up channel, or
    /// within 5 s). Fails with [`Error::is_invalid_option`] for an invalid limit.
    ///
    /// [`Error::is_invalid_option`]: crate::Error::is_invalid_option
    pub async fn set_rate_limit(&self, target: LimitTarget, limit: RateLimit) -> Result<()> {
        target.validate()?;
        limit.validate(&format!("the rate limit of {target}"))?;
        let mut set = LimitSet::default();
        set.set_rate(target, limit);
        let writes = set.fields().into_iter().map(|(f, v)| (f, Some(v)));
        self.rdb.write_limits(&writes.collect::<Vec<_>>()).await
    }

    /// Sets a concurrency limit live (see [`Inspector::set_rate_limit`]); `n` must be at
    /// least 1.
    pub async fn set_concurrency_limit(&self, target: LimitTarget, n: u32) -> Result<()> {
        target.validate()?;
        let mut set = LimitSet::default();
        set.set_concurrency(target, n);
        set.validate()?;
        let writes = set.fields().into_iter().map(|(f, v)| (f, Some(v)));
        self.rdb.write_limits(&writes.collect::<Vec<_>>()).await
    }

    /// Removes a rate limit (nothing happens when there is none). A server whose config sets
    /// it writes it again when it next starts.
    pub async fn clear_rate_limit(&self, target: &LimitTarget) -> Result<()> {
        self.rdb.write_limits(&[(rate_field(target), None)]).await
    }

    /// Removes a concurrency limit (see [`Inspector::clear_rate_limit`]).
    pub async fn clear_concurrency_limit(&self, target: &LimitTarget) -> Result<()> {
        self.rdb
            .write_limits(&[(concurrency_field(target), None)])
            .await
    }

    // -----------------------------------------------------------------------------------------
    // Servers, schedulers, cluster

    /// The running servers (from their heartbeats) and the tasks each is processing, sorted
    /// by host, pid and ID. Index entries whose server stopped beating are pruned, as asynq
    /// does; undecodable entries are skipped.
    pub async fn servers(&self) -> Result<Vec<ServerInfo>> {
        let servers = self.rdb.servers(SystemTime::now()).await?;
        Ok(convert::servers(servers))
    }

    /// The entries of every running scheduler (written by Go asynq's or redisq's scheduler).
    pub async fn scheduler_entries(&self) -> Result<Vec<SchedulerEntry>> {
        let entries = self.rdb.scheduler_entries(SystemTime::now()).await?;
        Ok(entries.into_iter().map(convert::scheduler_entry).collect())
    }

    /// One page of the enqueues made by a scheduler entry, newest first.
    pub async fn scheduler_enqueue_events(
        &self,
        entry_id: &str,
        opts: ListOptions,
    ) -> Result<Vec<SchedulerEnqueueEvent>> {
        let events = self
            .rdb
            .scheduler_enqueue_events(entry_id, convert::page(opts))
            .await?;
        Ok(events.into_iter().map(convert::enqueue_event).collect())
    }

    /// The Redis Cluster hash slot of the queue (`CLUSTER KEYSLOT` of its pending key). Fails
    /// with a Redis error on a server that is not a Cluster.
    pub async fn cluster_key_slot(&self, queue: &str) -> Result<i64> {
        self.rdb.cluster_key_slot(queue).await
    }

    /// The Cluster nodes serving the queue's slot, master first (from `CLUSTER SLOTS`). Fails
    /// with a Redis error on a server that is not a Cluster.
    pub async fn cluster_nodes(&self, queue: &str) -> Result<Vec<ClusterNode>> {
        let nodes = self.rdb.cluster_nodes(queue).await?;
        Ok(nodes.into_iter().map(convert::cluster_node).collect())
    }
}
