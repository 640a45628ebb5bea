//! How a stored task reads as a [`TaskInfo`]: asynq's `newTaskInfo` conversion, used by the
//! Inspector and by `Client::wait`.
//!
//! It sits between the services and the data layer: `rdb` returns plain records and never
//! builds public types, and the services do not use each other, so the one conversion both
//! need lives here.

use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::core::time::from_unix_secs;
use crate::rdb::inspect::records::{ProgressRecord, TaskRecord};
use crate::task::{Progress, TaskInfo};

/// A time stored as unix seconds, where 0 means unset.
fn secs_opt(s: i64) -> Option<SystemTime> {
    (s != 0).then(|| from_unix_secs(s))
}

/// A duration stored as whole seconds, where 0 (or less) means unset.
fn duration_opt(s: i64) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(s.unsigned_abs()))
}

/// The TaskInfo of a stored task (asynq's `newTaskInfo`).
pub(crate) fn task_info_of(record: TaskRecord) -> TaskInfo {
    let TaskRecord {
        msg,
        state,
        next_process_at,
        result,
        is_orphaned,
        progress,
    } = record;
    TaskInfo {
        id: msg.id,
        queue: msg.queue,
        task_type: msg.r#type,
        payload: msg.payload,
        headers: msg.headers,
        state,
        max_retry: u32::try_from(msg.retry).unwrap_or(0),
        retried: u32::try_from(msg.retried).unwrap_or(0),
        last_err: msg.error_msg,
        last_failed_at: secs_opt(msg.last_failed_at),
        timeout: duration_opt(msg.timeout),
        deadline: secs_opt(msg.deadline),
        group: (!msg.group_key.is_empty()).then_some(msg.group_key),
        next_process_at,
        is_orphaned,
        retention: duration_opt(msg.retention),
        completed_at: secs_opt(msg.completed_at),
        result: result.map(Bytes::from),
        progress: progress.map(progress_of),
    }
}

fn progress_of(r: ProgressRecord) -> Progress {
    Progress {
        percent: r.percent,
        message: r.message,
        updated_at: r.updated_at,
    }
}
