//! `Client::wait`: reading a task while registering interest in it, dropping lapsed
//! registrations, and the subscription to the `finished` channel.
//!
//! The protocol (see `scripts/wait_check.lua` and the notify blocks of `done.lua`,
//! `done_many.lua`, `mark_complete.lua`, `archive.lua` and the Inspector's archive and delete
//! scripts): a waiter subscribes to `<ns>:redisq:finished`, then registers the ID in the
//! queue's `<ns>:{q}:redisq:waiters` zset in the same script that reads the task. A script
//! that finishes a registered task publishes its hash key there and removes the
//! registration; an unregistered task costs those scripts one `ZSCORE` (or one `EXISTS` per
//! batch) and nothing else.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Rdb;
use super::inspect::records::TaskRecord;
use super::progress::progress_of;
use super::proto::{TaskMessage, decode_task_message};
use super::scripts;
use crate::core::time::{from_unix_secs, unix_secs};
use crate::error::{Error, Result};
use crate::task::TaskState;

/// What a wait check found.
#[derive(Debug)]
pub(crate) enum WaitCheck {
    /// No task hash and no trace of a recent completion.
    Missing,
    /// Completed without retention while someone waited: its message, kept briefly.
    CompletedGone(TaskMessage),
    /// The task as stored now.
    Stored(TaskRecord),
}

/// Unix milliseconds of a time (0 before the epoch).
pub(crate) fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

type CheckReply = Option<(
    Vec<u8>,
    Vec<u8>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
)>;

impl Rdb {
    /// Reads task `id` of `queue` and, unless it has finished (or `register_until` is
    /// `None`), registers interest in it until `register_until`; drops registrations of the
    /// queue that lapsed before `now`.
    pub(crate) async fn wait_check(
        &self,
        queue: &str,
        id: &str,
        register_until: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<WaitCheck> {
        let qk = self.keys.queue(queue);
        let until = register_until.map_or(0, unix_ms).to_string();
        let reply: redis::Value = scripts::WAIT_CHECK
            .key(qk.task(id))
            .key(qk.waiters())
            .key(qk.finished(id))
            .arg(id)
            .arg(qk.prefix())
            .arg(until)
            .arg(unix_ms(now))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not read task {id:?} to wait for it"), e))?;
        let corrupt = |_| Error::corrupt("unexpected reply from the wait check");
        // A task completed without retention answers {msg, "gone"}.
        if let redis::Value::Array(items) = &reply
            && items.len() == 2
        {
            let (msg, _): (Vec<u8>, Vec<u8>) =
                redis::from_redis_value(reply).map_err(|e| corrupt(e.to_string()))?;
            return Ok(WaitCheck::CompletedGone(decode_task_message(&msg)?));
        }
        let reply: CheckReply =
            redis::from_redis_value(reply).map_err(|e| corrupt(e.to_string()))?;
        let Some((msg, state, score, result, progress)) = reply else {
            return Ok(WaitCheck::Missing);
        };
        let state: TaskState = String::from_utf8(state)
            .map_err(|_| Error::corrupt("a task state is not UTF-8"))?
            .parse()?;
        let next_process_at = match state {
            TaskState::Pending => Some(from_unix_secs(unix_secs(now))),
            TaskState::Scheduled | TaskState::Retry => score
                .as_deref()
                .and_then(|s| std::str::from_utf8(s).ok())
                .and_then(|s| s.parse::<f64>().ok())
                .map(|s| from_unix_secs(s as i64)),
            _ => None,
        };
        Ok(WaitCheck::Stored(TaskRecord {
            msg: decode_task_message(&msg)?,
            state,
            next_process_at,
            result,
            is_orphaned: false,
            progress: progress_of(state, progress.as_deref()),
        }))
    }

    /// Drops the registrations of `queue` that lapsed before `now` (a wait that timed out).
    pub(crate) async fn wait_release(&self, queue: &str, now: SystemTime) -> Result<()> {
        let _: i64 = redis::cmd("ZREMRANGEBYSCORE")
            .arg(self.keys.queue(queue).waiters())
            .arg("-inf")
            .arg(format!("({}", unix_ms(now)))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not drop a lapsed wait registration", e))?;
        Ok(())
    }

    /// A pub/sub connection subscribed to the channel on which completions of waited tasks
    /// are announced.
    pub(crate) async fn subscribe_finished(&self) -> Result<redis::aio::PubSub> {
        let mut p = self.conn.pubsub().await?;
        p.subscribe(self.keys.finished_channel())
            .await
            .map_err(|e| Error::redis("could not subscribe to task completions", e))?;
        Ok(p)
    }
}
