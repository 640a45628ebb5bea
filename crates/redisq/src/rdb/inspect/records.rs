//! What the Inspector's reads return: plain records of what Redis holds.
//!
//! The data layer decodes replies, scores and protobuf values into these records; the
//! inspector builds the public types from them, so `rdb` never depends on the public API.
//! Records carry the stored values as they are (wire integers, raw payloads); conversions
//! for display are the inspector's business.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;

use crate::rdb::proto::TaskMessage;
use crate::task::TaskState;

/// One stored task and what its container says about it.
#[derive(Clone, Debug)]
pub(crate) struct TaskRecord {
    /// The decoded message of the task hash.
    pub(crate) msg: TaskMessage,
    /// The state the task is in.
    pub(crate) state: TaskState,
    /// Now (whole seconds) for pending tasks, the zset score for scheduled and retry tasks.
    pub(crate) next_process_at: Option<SystemTime>,
    /// The result written by its handler.
    pub(crate) result: Option<Vec<u8>>,
    /// An active task whose lease expired or is missing.
    pub(crate) is_orphaned: bool,
    /// The progress its running attempt reported (`TaskContext::set_progress`); only read
    /// for active tasks.
    pub(crate) progress: Option<ProgressRecord>,
}

/// The progress stored in a task hash's `redisq_progress` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProgressRecord {
    pub(crate) percent: u8,
    pub(crate) message: String,
    pub(crate) updated_at: SystemTime,
}

/// The counters and sizes of one queue.
#[derive(Clone, Debug)]
pub(crate) struct QueueRecord {
    pub(crate) pending: usize,
    pub(crate) active: usize,
    pub(crate) scheduled: usize,
    pub(crate) retry: usize,
    pub(crate) archived: usize,
    pub(crate) completed: usize,
    /// Tasks waiting in groups.
    pub(crate) aggregating: usize,
    /// Number of groups.
    pub(crate) groups: usize,
    /// Today's (UTC) processed counter.
    pub(crate) processed: u64,
    /// Today's (UTC) failed counter.
    pub(crate) failed: u64,
    pub(crate) processed_total: u64,
    pub(crate) failed_total: u64,
    pub(crate) paused: bool,
    /// `pending_since` of the oldest pending task, when it has one.
    pub(crate) oldest_pending_since: Option<SystemTime>,
    /// The `MEMORY USAGE` estimate; `None` when the server does not offer the command.
    pub(crate) memory_usage: Option<u64>,
}

/// The daily counters of one queue on one UTC day.
#[derive(Clone, Debug)]
pub(crate) struct DailyRecord {
    /// Midnight UTC at the start of the day.
    pub(crate) date: SystemTime,
    pub(crate) processed: u64,
    pub(crate) failed: u64,
}

/// One aggregation group and its size.
#[derive(Clone, Debug)]
pub(crate) struct GroupRecord {
    pub(crate) name: String,
    pub(crate) size: usize,
}

/// A server's heartbeat entry and the workers it published, in the order read.
#[derive(Clone, Debug)]
pub(crate) struct ServerRecord {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: i32,
    pub(crate) concurrency: i32,
    /// Queue names and their priorities.
    pub(crate) queues: BTreeMap<String, i32>,
    pub(crate) strict_priority: bool,
    pub(crate) started: Option<SystemTime>,
    pub(crate) status: String,
    pub(crate) workers: Vec<WorkerRecord>,
}

/// A task being processed, as a server's heartbeat published it.
#[derive(Clone, Debug)]
pub(crate) struct WorkerRecord {
    pub(crate) task_id: String,
    pub(crate) task_type: String,
    pub(crate) payload: Bytes,
    pub(crate) queue: String,
    pub(crate) started: Option<SystemTime>,
    pub(crate) deadline: Option<SystemTime>,
}

/// A periodic task registered by a running scheduler.
#[derive(Clone, Debug)]
pub(crate) struct SchedulerEntryRecord {
    pub(crate) id: String,
    pub(crate) spec: String,
    pub(crate) task_type: String,
    pub(crate) payload: Bytes,
    /// The enqueue options in asynq's string form.
    pub(crate) options: Vec<String>,
    pub(crate) next: Option<SystemTime>,
    pub(crate) prev: Option<SystemTime>,
}

/// One enqueue made by a scheduler entry.
#[derive(Clone, Debug)]
pub(crate) struct EnqueueEventRecord {
    pub(crate) task_id: String,
    pub(crate) enqueued_at: SystemTime,
}

/// A Cluster node serving a slot, as `CLUSTER SLOTS` lists it.
#[derive(Clone, Debug)]
pub(crate) struct ClusterNodeRecord {
    pub(crate) id: String,
    pub(crate) ip: String,
    pub(crate) port: i64,
}
