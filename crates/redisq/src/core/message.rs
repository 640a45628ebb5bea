//! Building a new task from a [`Task`] and its options: the one place that decides a new
//! task's ID, queue, limits and placement. The client, the scheduler and the server's group
//! aggregator all enqueue through it; the data layer turns the result into the stored
//! message and the script call.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::core::time::{add_saturating, unix_nanos, unix_secs};
use crate::error::{Error, Result};
use crate::option::{self, Resolved, TaskOption};
use crate::task::{Headers, Task, TaskInfo, TaskState};

/// Where a new task goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Placement {
    /// The pending list; `now_ns` becomes `pending_since`.
    Pending { now_ns: i64 },
    /// The scheduled set at `at_secs`; a grouped task keeps its group.
    Scheduled { at_secs: i64, group: Option<String> },
    /// An aggregation group, scored with `now_secs`.
    Group { group: String, now_secs: i64 },
}

/// A validated task ready to be written.
#[derive(Clone, Debug)]
pub(crate) struct NewTask {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) task_type: String,
    pub(crate) payload: Bytes,
    /// Go's nil payload: the unique key then has no checksum part.
    pub(crate) has_payload: bool,
    pub(crate) headers: Headers,
    pub(crate) max_retry: u32,
    /// Whole seconds; 0 = none.
    pub(crate) timeout_secs: i64,
    pub(crate) deadline: Option<SystemTime>,
    /// Whole seconds; 0 = none.
    pub(crate) retention_secs: i64,
    pub(crate) group: Option<String>,
    pub(crate) placement: Placement,
    /// TTL of the unique lock in whole seconds, for unique tasks.
    pub(crate) unique_ttl_secs: Option<u64>,
    state: TaskState,
    next_process_at: Option<SystemTime>,
}

/// Validates a task and its options (`opts` after the task's own, winning on conflict).
pub(crate) fn build(task: &Task, opts: &[TaskOption], now: SystemTime) -> Result<NewTask> {
    if task.task_type().trim().is_empty() {
        return Err(Error::invalid_option("task typename cannot be empty"));
    }
    let r = option::resolve(task.options().iter().chain(opts), now)?;
    let id = r
        .task_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut headers = task.headers().clone();
    headers.extend(r.headers.iter().cloned());
    let (placement, state, next_process_at) = placement(&r, now);
    let unique_ttl_secs = r
        .unique_ttl
        .map(|ttl| lock_ttl_secs(&placement, ttl, now, &r));
    Ok(NewTask {
        id,
        task_type: task.task_type().to_string(),
        payload: task.payload_opt().cloned().unwrap_or_default(),
        has_payload: task.payload_opt().is_some(),
        headers,
        max_retry: r.max_retry,
        timeout_secs: r.timeout_secs,
        deadline: r.deadline,
        retention_secs: r.retention_secs,
        group: r.group.clone(),
        placement,
        unique_ttl_secs,
        state,
        next_process_at,
        queue: r.queue,
    })
}

impl NewTask {
    /// What the enqueue reports (asynq's `TaskInfo` of a new task).
    pub(crate) fn info(&self) -> TaskInfo {
        TaskInfo {
            id: self.id.clone(),
            queue: self.queue.clone(),
            task_type: self.task_type.clone(),
            payload: self.payload.clone(),
            headers: self.headers.clone(),
            state: self.state,
            max_retry: self.max_retry,
            retried: 0,
            last_err: String::new(),
            last_failed_at: None,
            timeout: (self.timeout_secs > 0)
                .then(|| Duration::from_secs(self.timeout_secs.unsigned_abs())),
            deadline: self.deadline,
            group: self.group.clone(),
            next_process_at: self.next_process_at,
            is_orphaned: false,
            retention: (self.retention_secs > 0)
                .then(|| Duration::from_secs(self.retention_secs.unsigned_abs())),
            completed_at: None,
            result: None,
            progress: None,
        }
    }
}

/// Decides the branch of asynq's enqueue: scheduled when due later, else group, else pending.
fn placement(r: &Resolved, now: SystemTime) -> (Placement, TaskState, Option<SystemTime>) {
    match r.process_at {
        Some(at) if at > now => (
            Placement::Scheduled {
                at_secs: unix_secs(at),
                group: r.group.clone(),
            },
            TaskState::Scheduled,
            Some(at),
        ),
        _ => match &r.group {
            Some(g) => (
                Placement::Group {
                    group: g.clone(),
                    now_secs: unix_secs(now),
                },
                TaskState::Aggregating,
                None,
            ),
            None => (
                Placement::Pending {
                    now_ns: unix_nanos(now),
                },
                TaskState::Pending,
                Some(now),
            ),
        },
    }
}

/// The unique lock lives for the TTL after the task becomes due: for a scheduled task that is
/// `process_at + ttl - now`, truncated to whole seconds like asynq.
fn lock_ttl_secs(p: &Placement, ttl: Duration, now: SystemTime, r: &Resolved) -> u64 {
    match (p, r.process_at) {
        (Placement::Scheduled { .. }, Some(at)) => add_saturating(at, ttl)
            .duration_since(now)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .max(1),
        _ => ttl.as_secs().max(1),
    }
}
