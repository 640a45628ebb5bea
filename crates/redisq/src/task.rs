//! Tasks, their states, and what redisq knows about a stored task.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::error::Error;
use crate::option::TaskOption;

/// Task headers: string metadata carried beside the payload (asynq ≥ 0.26).
pub type Headers = BTreeMap<String, String>;

/// A unit of work: a type name, a payload, optional headers and default options.
///
/// Options given to the task are applied at enqueue time before the options given to the
/// enqueue call, so the call's options win on conflict (as in asynq).
///
/// ```
/// use std::time::Duration;
/// use redisq::{Task, TaskOption};
///
/// let task = Task::new("email:send", r#"{"to":"user@example.com"}"#)
///     .with_option(TaskOption::queue("critical"))
///     .with_option(TaskOption::timeout(Duration::from_secs(60)));
/// assert_eq!(task.task_type(), "email:send");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Task {
    task_type: String,
    // `None` is Go's nil payload; it matters for the unique-lock key (no checksum).
    payload: Option<Bytes>,
    headers: Headers,
    options: Vec<TaskOption>,
}

impl Task {
    /// A task with a payload (which may be empty).
    pub fn new(task_type: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Task {
            task_type: task_type.into(),
            payload: Some(payload.into()),
            headers: Headers::new(),
            options: Vec::new(),
        }
    }

    /// A task with no payload at all (Go's `NewTask(type, nil)`).
    ///
    /// It differs from an empty payload only in its unique-lock key, which has no checksum.
    pub fn without_payload(task_type: impl Into<String>) -> Self {
        Task {
            task_type: task_type.into(),
            payload: None,
            headers: Headers::new(),
            options: Vec::new(),
        }
    }

    /// Replaces the headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }

    /// Adds one header.
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(key.into(), value.into());
        self
    }

    /// Adds a default option, applied at enqueue time.
    pub fn with_option(mut self, option: TaskOption) -> Self {
        self.options.push(option);
        self
    }

    /// Adds several default options.
    pub fn with_options(mut self, options: impl IntoIterator<Item = TaskOption>) -> Self {
        self.options.extend(options);
        self
    }

    /// The task type name, used to route the task to a handler.
    pub fn task_type(&self) -> &str {
        &self.task_type
    }

    /// The payload bytes (empty when there is none).
    pub fn payload(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or_default()
    }

    /// The payload, or `None` for a task created without one.
    pub fn payload_opt(&self) -> Option<&Bytes> {
        self.payload.as_ref()
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The default options.
    pub fn options(&self) -> &[TaskOption] {
        &self.options
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("type", &self.task_type)
            .field("payload_len", &self.payload().len())
            .field("headers", &self.headers)
            .field("options", &self.options)
            .finish()
    }
}

/// The state of a stored task. The string forms are the ones in Redis and asynq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TaskState {
    /// Being processed by a worker.
    Active,
    /// Ready to be processed.
    Pending,
    /// Waiting for its process-at time.
    Scheduled,
    /// Failed, waiting for its retry time.
    Retry,
    /// Kept for inspection after failing for good.
    Archived,
    /// Processed successfully and kept for its retention period.
    Completed,
    /// Waiting in a group to be aggregated.
    Aggregating,
    /// A flow parent waiting for its children (redisq only; kept out of asynq's lists, see
    /// [`crate::Flow`]). Not in [`TaskState::ALL`], which lists asynq's states.
    Waiting,
}

impl TaskState {
    /// Every state, in asynq's numeric order.
    pub const ALL: [TaskState; 7] = [
        TaskState::Active,
        TaskState::Pending,
        TaskState::Scheduled,
        TaskState::Retry,
        TaskState::Archived,
        TaskState::Completed,
        TaskState::Aggregating,
    ];

    /// The name stored in the task hash's `state` field.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Active => "active",
            TaskState::Pending => "pending",
            TaskState::Scheduled => "scheduled",
            TaskState::Retry => "retry",
            TaskState::Archived => "archived",
            TaskState::Completed => "completed",
            TaskState::Aggregating => "aggregating",
            TaskState::Waiting => "waiting",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        TaskState::ALL
            .into_iter()
            .chain([TaskState::Waiting])
            .find(|st| st.as_str() == s)
            .ok_or_else(|| Error::corrupt(format!("unknown task state {s:?}")))
    }
}

/// What redisq knows about a stored task (asynq's `TaskInfo`).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskInfo {
    /// Task ID, unique within its queue.
    pub id: String,
    /// Queue name.
    pub queue: String,
    /// Task type name.
    pub task_type: String,
    /// Payload bytes.
    pub payload: Bytes,
    /// Headers.
    pub headers: Headers,
    /// Current state.
    pub state: TaskState,
    /// How many times the task may be retried.
    pub max_retry: u32,
    /// How many times it has been retried so far.
    pub retried: u32,
    /// The error of the last failure; empty when it never failed.
    pub last_err: String,
    /// When it last failed.
    pub last_failed_at: Option<SystemTime>,
    /// How long one attempt may run; `None` when only a deadline bounds it.
    pub timeout: Option<Duration>,
    /// The absolute deadline, if any.
    pub deadline: Option<SystemTime>,
    /// The aggregation group, if any.
    pub group: Option<String>,
    /// When it will next be processed: now for pending tasks, the due time for scheduled and
    /// retry tasks, `None` otherwise.
    pub next_process_at: Option<SystemTime>,
    /// An active task whose worker stopped extending its lease.
    pub is_orphaned: bool,
    /// How long it is kept after success.
    pub retention: Option<Duration>,
    /// When it completed successfully.
    pub completed_at: Option<SystemTime>,
    /// The result written by its handler, if any.
    pub result: Option<Bytes>,
    /// What the running attempt last reported with `TaskContext::set_progress`; `None` when
    /// the task is not active or its attempt reported nothing (redisq extension).
    pub progress: Option<Progress>,
}

/// The progress a running task reported with `TaskContext::set_progress`
/// (see [`TaskInfo::progress`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// How far along the attempt is, 0 to 100.
    pub percent: u8,
    /// What the handler said about it (may be empty).
    pub message: String,
    /// When the handler reported it (millisecond precision).
    pub updated_at: SystemTime,
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id)
            .field("queue", &self.queue)
            .field("type", &self.task_type)
            .field("payload_len", &self.payload.len())
            .field("headers", &self.headers)
            .field("state", &self.state)
            .field("max_retry", &self.max_retry)
            .field("retried", &self.retried)
            .field("last_err", &self.last_err)
            .field("last_failed_at", &self.last_failed_at)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("group", &self.group)
            .field("next_process_at", &self.next_process_at)
            .field("is_orphaned", &self.is_orphaned)
            .field("retention", &self.retention)
            .field("completed_at", &self.completed_at)
            .field("result_len", &self.result.as_ref().map(Bytes::len))
            .field("progress", &self.progress)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_strings_round_trip() {
        for st in TaskState::ALL {
            assert_eq!(st.as_str().parse::<TaskState>().ok(), Some(st));
        }
        assert!("bogus".parse::<TaskState>().is_err());
    }

    #[test]
    fn payload_nil_and_empty_differ() {
        assert!(Task::without_payload("t").payload_opt().is_none());
        assert_eq!(Task::new("t", "").payload_opt().map(|b| b.len()), Some(0));
        assert_eq!(Task::without_payload("t").payload(), b"");
    }
}
