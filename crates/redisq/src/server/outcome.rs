//! How an attempt's outcome is written to Redis: the state transitions after an attempt,
//! shared by the workers, the completer's fallback and the syncer.

use std::time::{Duration, SystemTime};

use super::state::Shared;
use crate::core::time;
use crate::error::Result;
use crate::option::DEFAULT_TIMEOUT;
use crate::rdb::Rdb;
use crate::rdb::proto::TaskMessage;
use crate::task::Task;

/// Error text of a task whose deadline passed (asynq/Go's `context.DeadlineExceeded`).
pub(crate) const DEADLINE_EXCEEDED: &str = "context deadline exceeded";
/// Error text of a task cancelled by an operator.
pub(crate) const CANCELED: &str = "task canceled";
/// Error text of a task recovered after its lease expired (asynq's `ErrLeaseExpired`).
pub(crate) const LEASE_EXPIRED: &str = "asynq: task lease expired";

/// A state transition after an attempt.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Done,
    Complete,
    Requeue,
    Retry {
        at: SystemTime,
        err: String,
        is_failure: bool,
    },
    Archive(String),
}

impl Op {
    pub(crate) async fn apply(&self, shared: &Shared, rdb: &Rdb, msg: &TaskMessage) -> Result<()> {
        let now = SystemTime::now();
        match self {
            Op::Done => rdb.done(msg, now).await,
            Op::Complete => rdb.mark_complete(msg, now).await,
            Op::Requeue => rdb.requeue(msg, now).await,
            Op::Retry {
                at,
                err,
                is_failure,
            } => rdb.retry(msg, *at, err, *is_failure, now).await,
            Op::Archive(err) => {
                rdb.archive(msg, err, shared.config.archive_limits_value(), now)
                    .await
            }
        }
    }
}

/// The deadline of an attempt: the earlier of start + timeout and the task's deadline.
pub(crate) fn attempt_deadline(msg: &TaskMessage, now: SystemTime) -> SystemTime {
    let by_timeout = (msg.timeout > 0)
        .then(|| time::add_saturating(now, Duration::from_secs(msg.timeout.unsigned_abs())));
    let by_deadline = (msg.deadline > 0).then(|| time::from_unix_secs(msg.deadline));
    match (by_timeout, by_deadline) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        // Messages always carry one of them; be safe with hand-made data.
        (None, None) => time::add_saturating(now, DEFAULT_TIMEOUT),
    }
}

/// The task a handler sees for a stored message.
pub(crate) fn task_of(msg: &TaskMessage) -> Task {
    Task::new(msg.r#type.clone(), msg.payload.clone()).with_headers(msg.headers.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_is_the_earlier_bound() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut m = TaskMessage {
            timeout: 60,
            ..Default::default()
        };
        assert_eq!(attempt_deadline(&m, now), now + Duration::from_secs(60));
        m.deadline = 1_000_030;
        assert_eq!(attempt_deadline(&m, now), now + Duration::from_secs(30));
        m.timeout = 0;
        assert_eq!(attempt_deadline(&m, now), now + Duration::from_secs(30));
        m.deadline = 0;
        assert_eq!(attempt_deadline(&m, now), now + DEFAULT_TIMEOUT);
    }

    #[test]
    fn huge_timeouts_saturate() {
        let now = SystemTime::now();
        let m = TaskMessage {
            timeout: i64::MAX,
            ..Default::default()
        };
        assert!(attempt_deadline(&m, now) > now);
    }
}
