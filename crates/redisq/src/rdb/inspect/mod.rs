//! Reads and operator actions for the Inspector.
//!
//! Every script touches only keys of one queue (`<ns>:{q}:…`, one Cluster slot). Operations
//! on a queue first check that it is registered in `<ns>:queues` (a queue-not-found error
//! otherwise, as in asynq); reads send that check in the same round trip as the read.
//!
//! Reads return the plain records of [`records`]; the inspector turns them into the public
//! types, so this layer does not depend on the public API.
//!
//! Bulk operations work in batches of [`INSPECT_BATCH`] tasks per script call and loop until
//! the container is done, so that one call never blocks Redis for long. They stop after the
//! number of tasks the container held at the first call, so tasks added meanwhile cannot
//! keep them running forever.
//!
//! `delete_queue` empties the queue's containers in batches and then sweeps the keys left
//! under its prefix (see `sweep_queue_keys`).
//!
//! All `now` arguments are passed in by the caller.
//!
//! - `queues`: queue names, statistics, history, groups, pause, delete.
//! - `tasks`: one task (read, run, archive, delete, update) and listings.
//! - `bulk`: the batched operations on every task of a container.
//! - `servers`: servers and workers, scheduler entries and events, Cluster slots.

mod bulk;
mod queues;
pub(crate) mod records;
mod servers;
mod tasks;

use std::time::SystemTime;

use redis::{Cmd, FromRedisValue, RedisResult, Script, Value};

use super::Rdb;
use crate::core::limits::ArchiveLimits;
use crate::core::time::{from_unix_secs, go_quote, unix_secs};
use crate::error::{Error, Kind, Result};

/// How many tasks one bulk script call handles at most.
pub(crate) const INSPECT_BATCH: usize = 1000;

const DAY_SECS: i64 = 24 * 3600;

/// One page of a listing: 1-based page number (0 reads as 1) and entries per page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub(crate) number: usize,
    pub(crate) size: usize,
}

impl Page {
    /// The 0-based index range `[start, stop]` of the page, or `None` for an empty page.
    pub(crate) fn range(self) -> Option<(i64, i64)> {
        if self.size == 0 {
            return None;
        }
        let size = i64::try_from(self.size).ok()?;
        let start = i64::try_from(self.number.max(1) - 1)
            .ok()?
            .checked_mul(size)?;
        Some((start, start.checked_add(size - 1)?))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors (asynq's texts, without the `asynq: ` prefix and the internal error code)

pub(crate) fn queue_not_found() -> Error {
    Error::new(Kind::QueueNotFound, "queue not found")
}

pub(crate) fn task_not_found() -> Error {
    Error::new(Kind::TaskNotFound, "task not found")
}

fn precondition(message: impl Into<String>) -> Error {
    Error::new(Kind::FailedPrecondition, message)
}

/// A task whose state field does not match the container it is in: another operation is
/// moving it right now.
fn being_moved(id: &str) -> Error {
    precondition(format!(
        "task {} is not where its state says (another operation is moving it); try again",
        go_quote(id)
    ))
}

// ---------------------------------------------------------------------------------------------
// Replies

fn corrupt_reply(what: &str) -> impl FnOnce(redis::ParsingError) -> Error + '_ {
    move |e| Error::corrupt(format!("unexpected reply to {what}")).with_source(e)
}

fn conv<T: FromRedisValue>(v: Value, what: &str) -> Result<T> {
    redis::from_redis_value(v).map_err(corrupt_reply(what))
}

fn reply_of(r: Option<RedisResult<Value>>, what: &str) -> Result<Value> {
    match r {
        Some(Ok(v)) => Ok(v),
        Some(Err(e)) => Err(Error::redis(format!("{what} failed"), e)),
        None => Err(Error::corrupt(format!("no reply to {what}"))),
    }
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::corrupt(format!("{what} is not UTF-8")))
}

/// Whole seconds of a score or a counter written by asynq or redisq (decimal text).
fn score_secs(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    s.parse::<i64>()
        .ok()
        .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
}

fn counter(v: Vec<u8>) -> u64 {
    std::str::from_utf8(&v)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

/// An integer reply or a decimal string (counters, `pending_since`); 0 for anything else.
fn int_of(v: Value) -> i64 {
    match v {
        Value::Int(i) => i,
        Value::BulkString(b) => std::str::from_utf8(&b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// `now` truncated to whole seconds: what asynq reports as a pending task's next process
/// time.
fn now_secs(now: SystemTime) -> SystemTime {
    from_unix_secs(unix_secs(now))
}

/// The age cutoff of the archive (now − max age), in unix seconds.
fn cutoff(now_s: i64, limits: ArchiveLimits) -> i64 {
    now_s.saturating_sub(i64::try_from(limits.max_age.as_secs()).unwrap_or(i64::MAX))
}

impl Rdb {
    pub(crate) async fn check_queue(&self, queue: &str) -> Result<()> {
        if self.queue_exists(queue).await? {
            Ok(())
        } else {
            Err(queue_not_found())
        }
    }

    /// Runs `cmds` (script calls on one queue) in the same round trip as the check that the
    /// queue exists; fails with queue-not-found when it does not.
    async fn read_queue(
        &self,
        queue: &str,
        cmds: Vec<Cmd>,
        scripts: &[&Script],
    ) -> Result<Vec<RedisResult<Value>>> {
        let mut check = redis::cmd("SISMEMBER");
        check.arg(self.keys.all_queues()).arg(queue);
        let mut all = Vec::with_capacity(cmds.len() + 1);
        all.push(check);
        all.extend(cmds);
        let mut replies = self.conn.pipeline(all, scripts).await?.into_iter();
        let exists: bool = conv(reply_of(replies.next(), "SISMEMBER")?, "SISMEMBER")?;
        if !exists {
            return Err(queue_not_found());
        }
        Ok(replies.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_ranges() {
        let page = |number, size| Page { number, size }.range();
        assert_eq!(page(1, 30), Some((0, 29)));
        assert_eq!(page(0, 30), Some((0, 29)));
        assert_eq!(page(3, 10), Some((20, 29)));
        assert_eq!(page(1, 0), None);
        assert_eq!(page(usize::MAX, 30), None);
    }

    #[test]
    fn scores_and_counters() {
        assert_eq!(score_secs(b"1795827878"), Some(1_795_827_878));
        assert_eq!(score_secs(b"1795827878.5"), Some(1_795_827_878));
        assert_eq!(score_secs(b"x"), None);
        assert_eq!(counter(b"42".to_vec()), 42);
        assert_eq!(counter(b"-1".to_vec()), 0);
        assert_eq!(
            int_of(Value::BulkString(b"1795827878123456789".to_vec())),
            1_795_827_878_123_456_789
        );
        assert_eq!(int_of(Value::Int(3)), 3);
        assert_eq!(int_of(Value::Nil), 0);
    }
}
