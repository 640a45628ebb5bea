//! Reads and operator actions for the Inspector (spec §2.7, §5.5).
//!
//! Every script touches only keys of one queue (`<ns>:{q}:…`, one Cluster slot). Operations
//! on a queue first check that it is registered in `<ns>:queues` (a queue-not-found error
//! otherwise, as in asynq); reads send that check in the same round trip as the read.
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

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use redis::{Cmd, FromRedisValue, RedisResult, Script, Value};

use super::Rdb;
use super::process::{STATS_TTL, utc_date};
use super::proto::{
    TaskMessage, decode_scheduler_enqueue_event, decode_scheduler_entry, decode_server_info,
    decode_task_message, decode_worker_info, encode_task_message, timestamp_to,
};
use super::scripts::evalsha;
use crate::core::limits::ArchiveLimits;
use crate::core::source::TaskSource;
use crate::core::time::{from_unix_secs, go_quote, unix_nanos, unix_secs};
use crate::error::{Error, Kind, Result};
use crate::inspector::{
    ClusterNode, DailyStats, GroupInfo, ListOptions, QueueInfo, SchedulerEnqueueEvent,
    SchedulerEntry, ServerInfo, WorkerInfo,
};
use crate::task::{TaskInfo, TaskState};

use super::scripts::{
    INSPECT_ARCHIVE_BATCH as ARCHIVE_BATCH, INSPECT_ARCHIVE_TASK as ARCHIVE_TASK,
    INSPECT_DELETE_BATCH as DELETE_BATCH, INSPECT_DELETE_QUEUE as DELETE_QUEUE,
    INSPECT_DELETE_TASK as DELETE_TASK, INSPECT_GROUP_STATS as GROUP_STATS,
    INSPECT_LIST_LIST as LIST_LIST, INSPECT_LIST_ZSET as LIST_ZSET,
    INSPECT_LIVE_MEMBERS as LIVE_MEMBERS, INSPECT_MEMORY_USAGE as MEMORY_USAGE,
    INSPECT_QUEUE_STATS as QUEUE_STATS, INSPECT_RUN_BATCH as RUN_BATCH,
    INSPECT_RUN_TASK as RUN_TASK, INSPECT_TASK_INFO as TASK_INFO,
    INSPECT_UPDATE_PAYLOAD as UPDATE_PAYLOAD,
};

/// How many tasks one bulk script call handles at most.
pub(crate) const INSPECT_BATCH: usize = 1000;

/// Task hashes sampled per container by the memory estimate (as asynq).
const MEMORY_SAMPLE: usize = 20;
/// Groups sampled by the memory estimate (as asynq).
const MEMORY_GROUP_SAMPLE: usize = 5;

const DAY_SECS: i64 = 24 * 3600;

/// The longest history one call reads.
const MAX_HISTORY_DAYS: usize = 3660;

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

fn secs_opt(s: i64) -> Option<SystemTime> {
    (s != 0).then(|| from_unix_secs(s))
}

fn duration_opt(s: i64) -> Option<Duration> {
    (s > 0).then(|| Duration::from_secs(s.unsigned_abs()))
}

/// `now` truncated to whole seconds: what asynq reports as a pending task's next process
/// time.
fn now_secs(now: SystemTime) -> SystemTime {
    from_unix_secs(unix_secs(now))
}

/// The TaskInfo of a stored message (asynq's `newTaskInfo`).
pub(crate) fn task_info_of(
    msg: TaskMessage,
    state: TaskState,
    next_process_at: Option<SystemTime>,
    result: Option<Vec<u8>>,
    is_orphaned: bool,
) -> TaskInfo {
    TaskInfo {
        id: msg.id,
        queue: msg.queue,
        task_type: msg.r#type,
        payload: Bytes::from(msg.payload),
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
    }
}

/// The reply of the task read script: msg, state, score, result.
type StoredTask = (Vec<u8>, Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>);

/// The `{taken, done, size}` reply of the batch scripts.
fn batch_reply(v: Value, what: &str) -> Result<(usize, usize, usize)> {
    conv(v, what)
}

impl Rdb {
    // -----------------------------------------------------------------------------------------
    // Queues

    /// Every queue in `<ns>:queues`, sorted.
    pub(crate) async fn queue_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.all_queues())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not list the queues", e))?;
        names.sort();
        Ok(names)
    }

    /// Whether `queue` is registered in `<ns>:queues`.
    pub(crate) async fn queue_exists(&self, queue: &str) -> Result<bool> {
        redis::cmd("SISMEMBER")
            .arg(self.keys.all_queues())
            .arg(queue)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not check that the queue exists", e))
    }

    async fn check_queue(&self, queue: &str) -> Result<()> {
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

    /// The groups of a queue and their sizes, sorted by name.
    pub(crate) async fn group_stats(&self, queue: &str) -> Result<Vec<GroupInfo>> {
        let qk = self.keys.queue(queue);
        let cmd = evalsha(
            &GROUP_STATS,
            &[&qk.groups()],
            &[qk.group_prefix().as_bytes()],
        );
        let mut replies = self
            .read_queue(queue, vec![cmd], &[&GROUP_STATS])
            .await?
            .into_iter();
        let flat: Vec<(Vec<u8>, usize)> = conv(
            reply_of(replies.next(), "the group statistics")?,
            "the group statistics",
        )?;
        let mut out = flat
            .into_iter()
            .map(|(g, size)| {
                Ok(GroupInfo {
                    group: text(g, "a group name")?,
                    size,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.group.cmp(&b.group));
        Ok(out)
    }

    /// Current statistics of a queue, with a memory estimate when `MEMORY USAGE` is available.
    pub(crate) async fn queue_info(&self, queue: &str, now: SystemTime) -> Result<QueueInfo> {
        let qk = self.keys.queue(queue);
        let date = utc_date(now);
        let stats = evalsha(
            &QUEUE_STATS,
            &[
                &qk.pending(),
                &qk.active(),
                &qk.scheduled(),
                &qk.retry(),
                &qk.archived(),
                &qk.completed(),
                &qk.processed_on(&date),
                &qk.failed_on(&date),
                &qk.processed_total(),
                &qk.failed_total(),
                &qk.paused(),
                &qk.groups(),
            ],
            &[qk.task_prefix().as_bytes(), qk.group_prefix().as_bytes()],
        );
        let (sample, groups) = (MEMORY_SAMPLE.to_string(), MEMORY_GROUP_SAMPLE.to_string());
        let memory = evalsha(
            &MEMORY_USAGE,
            &[
                &qk.pending(),
                &qk.active(),
                &qk.scheduled(),
                &qk.retry(),
                &qk.archived(),
                &qk.completed(),
                &qk.groups(),
            ],
            &[
                qk.task_prefix().as_bytes(),
                sample.as_bytes(),
                groups.as_bytes(),
                qk.group_prefix().as_bytes(),
            ],
        );
        let mut replies = self
            .read_queue(queue, vec![stats, memory], &[&QUEUE_STATS, &MEMORY_USAGE])
            .await?
            .into_iter();
        let stats: Vec<Value> = conv(
            reply_of(replies.next(), "the queue statistics")?,
            "the queue statistics",
        )?;
        if stats.len() != 14 {
            return Err(Error::corrupt("unexpected reply to the queue statistics"));
        }
        let n: Vec<i64> = stats.into_iter().map(int_of).collect();
        let count = |i: usize| usize::try_from(n[i]).unwrap_or(0);
        let total = |i: usize| u64::try_from(n[i]).unwrap_or(0);
        let (pending, active, scheduled, retry, archived, completed) =
            (count(0), count(1), count(2), count(3), count(4), count(5));
        let (processed, failed, processed_total, failed_total) =
            (total(6), total(7), total(8), total(9));
        let paused = n[10] == 1;
        let oldest_ns = n[11];
        let (groups, aggregating) = (count(12), count(13));
        let latency = if oldest_ns > 0 {
            Duration::from_nanos(
                unix_nanos(now)
                    .saturating_sub(oldest_ns)
                    .max(0)
                    .unsigned_abs(),
            )
        } else {
            Duration::ZERO
        };
        let memory_usage = match replies.next() {
            Some(Ok(v)) => conv::<i64>(v, "the memory estimate")
                .ok()
                .map(|n| u64::try_from(n).unwrap_or(0)),
            Some(Err(e)) => {
                tracing::debug!(queue, error = %e, "MEMORY USAGE is not available");
                None
            }
            None => None,
        };
        Ok(QueueInfo {
            queue: queue.to_string(),
            memory_usage,
            latency,
            size: pending + active + scheduled + retry + archived + completed + aggregating,
            groups,
            pending,
            active,
            scheduled,
            retry,
            archived,
            completed,
            aggregating,
            processed,
            failed,
            processed_total,
            failed_total,
            paused,
            timestamp: now,
        })
    }

    /// Daily processed/failed counts of the last `days` UTC days, newest first.
    pub(crate) async fn history(
        &self,
        queue: &str,
        days: usize,
        now: SystemTime,
    ) -> Result<Vec<DailyStats>> {
        if days < 1 {
            return Err(Error::invalid_option(
                "the number of days must be at least 1",
            ));
        }
        if days > MAX_HISTORY_DAYS {
            // Daily counters expire after 90 days; this bounds the size of one MGET.
            return Err(Error::invalid_option(format!(
                "the number of days must be at most {MAX_HISTORY_DAYS}"
            )));
        }
        let qk = self.keys.queue(queue);
        let today = unix_secs(now).div_euclid(DAY_SECS) * DAY_SECS;
        let starts: Vec<i64> = (0..days)
            .map(|i| today - i64::try_from(i).unwrap_or(i64::MAX / DAY_SECS) * DAY_SECS)
            .collect();
        let mut mget = redis::cmd("MGET");
        for &day in &starts {
            let date = utc_date(from_unix_secs(day));
            mget.arg(qk.processed_on(&date)).arg(qk.failed_on(&date));
        }
        let mut replies = self.read_queue(queue, vec![mget], &[]).await?.into_iter();
        let values: Vec<Option<Vec<u8>>> =
            conv(reply_of(replies.next(), "MGET")?, "the daily counters")?;
        let mut it = values.into_iter();
        let mut out = Vec::with_capacity(days);
        for day in starts {
            let processed = it.next().flatten().map_or(0, counter);
            let failed = it.next().flatten().map_or(0, counter);
            out.push(DailyStats {
                queue: queue.to_string(),
                processed,
                failed,
                date: from_unix_secs(day),
            });
        }
        Ok(out)
    }

    /// Pauses a queue: `SET paused <now> NX`. Like asynq, the queue need not exist yet.
    pub(crate) async fn pause_queue(&self, queue: &str, now: SystemTime) -> Result<()> {
        let reply: Value = redis::cmd("SET")
            .arg(self.keys.queue(queue).paused())
            .arg(unix_secs(now))
            .arg("NX")
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not pause queue {}", go_quote(queue)), e))?;
        match reply {
            Value::Nil => Err(precondition(format!(
                "queue {} is already paused",
                go_quote(queue)
            ))),
            _ => Ok(()),
        }
    }

    /// Unpauses a queue.
    pub(crate) async fn unpause_queue(&self, queue: &str) -> Result<()> {
        let n: i64 = redis::cmd("DEL")
            .arg(self.keys.queue(queue).paused())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not unpause queue {}", go_quote(queue)), e))?;
        if n == 0 {
            return Err(precondition(format!(
                "queue {} is not paused",
                go_quote(queue)
            )));
        }
        Ok(())
    }

    /// Deletes a queue and everything of it (decision D8), in batches.
    ///
    /// Without `force` a queue holding any task (in any state) is refused; with `force` a
    /// queue with active tasks is refused. Both checks happen atomically before anything is
    /// deleted.
    pub(crate) async fn delete_queue(
        &self,
        queue: &str,
        force: bool,
        now: SystemTime,
    ) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let batch = INSPECT_BATCH.to_string();
        let mut check = if force { "active" } else { "empty" };
        loop {
            let reply: Value = DELETE_QUEUE
                .key(qk.pending())
                .key(qk.active())
                .key(qk.scheduled())
                .key(qk.retry())
                .key(qk.archived())
                .key(qk.completed())
                .key(qk.lease())
                .key(qk.groups())
                .key(qk.aggregation_sets())
                .key(qk.paused())
                .key(qk.processed_total())
                .key(qk.failed_total())
                .arg(qk.task_prefix())
                .arg(qk.prefix())
                .arg(qk.group_prefix())
                .arg(&batch)
                .arg(check)
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| {
                    Error::redis(format!("could not delete queue {}", go_quote(queue)), e)
                })?;
            match reply {
                Value::Int(-1) => {
                    return Err(Error::new(
                        Kind::QueueNotEmpty,
                        format!("queue is not empty: queue={}", go_quote(queue)),
                    ));
                }
                Value::Int(-2) => {
                    return Err(precondition("cannot remove queue with active tasks"));
                }
                other => {
                    let (_deleted, done): (usize, i64) = conv(other, "the queue deletion")?;
                    if done == 1 {
                        break;
                    }
                }
            }
            check = "none";
        }
        // What no container refers to: hashes of tasks that left no trace in a container
        // (e.g. those Go asynq's inspector leaks when it trims the archive), locks of tasks
        // already gone, and anything else under the queue's prefix.
        self.sweep_queue_keys(queue).await?;
        // Daily counters live 90 days after their first increment: delete every date they
        // can have (a day of margin on each side for clock differences). The sweep finds
        // them too; this keeps them deleted in one step even if keys appear meanwhile.
        let today = unix_secs(now).div_euclid(DAY_SECS) * DAY_SECS;
        let keep_days = i64::try_from(STATS_TTL.as_secs()).unwrap_or(i64::MAX) / DAY_SECS;
        let mut del = redis::cmd("DEL");
        for i in -1..=keep_days + 1 {
            let date = utc_date(from_unix_secs(today - i * DAY_SECS));
            del.arg(qk.processed_on(&date)).arg(qk.failed_on(&date));
        }
        let mut srem = redis::cmd("SREM");
        srem.arg(self.keys.all_queues()).arg(queue);
        for r in self.conn.pipeline(vec![del, srem], &[]).await? {
            r.map_err(|e| Error::redis(format!("could not delete queue {}", go_quote(queue)), e))?;
        }
        self.forget_queue(queue);
        Ok(())
    }

    /// Deletes every key under the queue's prefix `<ns>:{q}:`, a batch at a time.
    ///
    /// On a Cluster the keys of the queue's slot are read from the node that owns it
    /// (`CLUSTER GETKEYSINSLOT`, so only that slot is read); elsewhere `SCAN` walks the
    /// keyspace with `MATCH <prefix>*` in steps of [`INSPECT_BATCH`], never blocking Redis for
    /// long.
    async fn sweep_queue_keys(&self, queue: &str) -> Result<()> {
        let qk = self.keys.queue(queue);
        let prefix = qk.prefix().as_bytes();
        let fail = |e| Error::redis(format!("could not delete queue {}", go_quote(queue)), e);
        let mut conn = self.conn();
        if self.conn.is_cluster() {
            let slot = self.cluster_key_slot(queue).await?;
            let slot_keys = |n: usize| {
                let mut c = redis::cmd("CLUSTER");
                c.arg("GETKEYSINSLOT").arg(slot).arg(n);
                c
            };
            // Each round deletes what it found; a bounded number of rounds guards against
            // keys that keep coming back.
            let total: usize = redis::cmd("CLUSTER")
                .arg("COUNTKEYSINSLOT")
                .arg(slot)
                .query_async(&mut conn)
                .await
                .map_err(fail)?;
            for _ in 0..=total / INSPECT_BATCH + 1 {
                let found: Vec<Vec<u8>> = slot_keys(INSPECT_BATCH)
                    .query_async(&mut conn)
                    .await
                    .map_err(fail)?;
                let ours: Vec<&Vec<u8>> = found.iter().filter(|k| k.starts_with(prefix)).collect();
                if !ours.is_empty() {
                    self.delete_keys(&ours).await.map_err(fail)?;
                    continue;
                }
                if found.len() == INSPECT_BATCH {
                    // The first keys of the slot belong to other hash tags: read the slot once
                    // in full.
                    let n: usize = redis::cmd("CLUSTER")
                        .arg("COUNTKEYSINSLOT")
                        .arg(slot)
                        .query_async(&mut conn)
                        .await
                        .map_err(fail)?;
                    let all: Vec<Vec<u8>> =
                        slot_keys(n).query_async(&mut conn).await.map_err(fail)?;
                    let ours: Vec<&Vec<u8>> =
                        all.iter().filter(|k| k.starts_with(prefix)).collect();
                    for chunk in ours.chunks(INSPECT_BATCH) {
                        self.delete_keys(chunk).await.map_err(fail)?;
                    }
                }
                break;
            }
            return Ok(());
        }
        let pattern = format!("{}*", glob_escape(qk.prefix()));
        let mut cursor: u64 = 0;
        loop {
            let (next, found): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(INSPECT_BATCH)
                .query_async(&mut conn)
                .await
                .map_err(fail)?;
            let ours: Vec<&Vec<u8>> = found.iter().filter(|k| k.starts_with(prefix)).collect();
            if !ours.is_empty() {
                self.delete_keys(&ours).await.map_err(fail)?;
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// `DEL` of keys of one slot.
    async fn delete_keys(&self, keys: &[&Vec<u8>]) -> redis::RedisResult<()> {
        let mut del = redis::cmd("DEL");
        for k in keys {
            del.arg(k.as_slice());
        }
        del.query_async::<i64>(&mut self.conn()).await.map(|_| ())
    }

    // -----------------------------------------------------------------------------------------
    // Tasks

    /// One task, with asynq's NextProcessAt rules: now (whole seconds) for pending tasks, the
    /// zset score for scheduled and retry tasks, none otherwise.
    pub(crate) async fn inspect_task(
        &self,
        queue: &str,
        id: &str,
        now: SystemTime,
    ) -> Result<TaskInfo> {
        let qk = self.keys.queue(queue);
        let cmd = evalsha(
            &TASK_INFO,
            &[&qk.task(id)],
            &[id.as_bytes(), qk.prefix().as_bytes()],
        );
        let mut replies = self
            .read_queue(queue, vec![cmd], &[&TASK_INFO])
            .await?
            .into_iter();
        let reply: Option<StoredTask> =
            conv(reply_of(replies.next(), "the task read")?, "the task read")?;
        let Some((msg, state, score, result)) = reply else {
            return Err(task_not_found());
        };
        let state: TaskState = text(state, "a task state")?.parse()?;
        let msg = decode_task_message(&msg)?;
        let next = match state {
            TaskState::Pending => Some(now_secs(now)),
            TaskState::Scheduled | TaskState::Retry => {
                score.as_deref().and_then(score_secs).map(from_unix_secs)
            }
            _ => None,
        };
        Ok(task_info_of(msg, state, next, result, false))
    }

    /// One page of the tasks of `source`: pending and active oldest first, zsets in
    /// ascending score order. Entries whose hash is gone or cannot be decoded are skipped.
    pub(crate) async fn list_tasks(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        opts: ListOptions,
        now: SystemTime,
    ) -> Result<Vec<TaskInfo>> {
        let Some((start, stop)) = opts.range() else {
            self.check_queue(queue).await?;
            return Ok(Vec::new());
        };
        let qk = self.keys.queue(queue);
        let key = qk.source(&source);
        let prefix = qk.task_prefix();
        let is_list = matches!(source, TaskSource::Pending | TaskSource::Active);
        let cmd = if is_list {
            // The oldest task is at the right end: page 1 is the last `page_size` elements.
            let (lstart, lstop) = ((-stop - 1).to_string(), (-start - 1).to_string());
            let with_lease = if source == TaskSource::Active {
                "1"
            } else {
                "0"
            };
            evalsha(
                &LIST_LIST,
                &[&key, &qk.lease()],
                &[
                    lstart.as_bytes(),
                    lstop.as_bytes(),
                    prefix.as_bytes(),
                    with_lease.as_bytes(),
                ],
            )
        } else {
            let (zstart, zstop) = (start.to_string(), stop.to_string());
            evalsha(
                &LIST_ZSET,
                &[&key],
                &[zstart.as_bytes(), zstop.as_bytes(), prefix.as_bytes()],
            )
        };
        let script: &Script = if is_list { &LIST_LIST } else { &LIST_ZSET };
        let mut replies = self
            .read_queue(queue, vec![cmd], &[script])
            .await?
            .into_iter();
        let flat: Vec<Option<Vec<u8>>> =
            conv(reply_of(replies.next(), "the listing")?, "the listing")?;
        let state = source.state();
        let now_s = unix_secs(now);
        let mut out = Vec::with_capacity(flat.len() / 4);
        for entry in flat.chunks_exact(4) {
            let id = String::from_utf8_lossy(entry[0].as_deref().unwrap_or_default()).into_owned();
            let Some(raw) = &entry[1] else {
                continue;
            };
            let msg = match decode_task_message(raw) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(queue, task = %id, error = %e, "skipping an undecodable task");
                    continue;
                }
            };
            let (next, result, orphaned) = if is_list {
                let lease = entry[3].as_deref().and_then(score_secs);
                let next = (state == TaskState::Pending).then(|| now_secs(now));
                // Decision D5: an active task without a lease entry is orphaned too.
                let orphaned = state == TaskState::Active && lease.is_none_or(|l| l <= now_s);
                (next, entry[2].clone(), orphaned)
            } else {
                let next = match state {
                    TaskState::Scheduled | TaskState::Retry => {
                        entry[2].as_deref().and_then(score_secs).map(from_unix_secs)
                    }
                    _ => None,
                };
                (next, entry[3].clone(), false)
            };
            out.push(task_info_of(msg, state, next, result, orphaned));
        }
        if is_list {
            out.reverse();
        }
        Ok(out)
    }

    /// Moves a task to pending, setting `pending_since` (decision D9).
    pub(crate) async fn run_task(&self, queue: &str, id: &str, now: SystemTime) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let n: i64 = RUN_TASK
            .key(qk.task(id))
            .key(qk.pending())
            .key(qk.groups())
            .arg(id)
            .arg(qk.prefix())
            .arg(qk.group_prefix())
            .arg(unix_nanos(now))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not run task {}", go_quote(id)), e))?;
        match n {
            1 => Ok(()),
            0 => Err(task_not_found()),
            -1 => Err(precondition("task is already running")),
            -2 => Err(precondition("task is already in pending state")),
            _ => Err(being_moved(id)),
        }
    }

    /// Moves a task to the archive and trims the archive by `limits`, deleting the trimmed
    /// tasks' hashes (decision D2).
    pub(crate) async fn archive_task(
        &self,
        queue: &str,
        id: &str,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let now_s = unix_secs(now);
        let n: i64 = ARCHIVE_TASK
            .key(qk.task(id))
            .key(qk.archived())
            .key(qk.groups())
            .key(qk.pending())
            .arg(id)
            .arg(now_s)
            .arg(cutoff(now_s, limits))
            .arg(limits.max_size)
            .arg(qk.prefix())
            .arg(qk.group_prefix())
            .arg(qk.task_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not archive task {}", go_quote(id)), e))?;
        match n {
            1 => Ok(()),
            0 => Err(task_not_found()),
            -1 => Err(precondition(format!(
                "task is already archived: id={id}, queue={queue}"
            ))),
            -2 => Err(precondition(
                "cannot archive task in active state. use cancel_processing instead.",
            )),
            _ => Err(being_moved(id)),
        }
    }

    /// Deletes a task and releases the unique lock it owns.
    pub(crate) async fn delete_task(&self, queue: &str, id: &str) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let n: i64 = DELETE_TASK
            .key(qk.task(id))
            .key(qk.groups())
            .key(qk.pending())
            .arg(id)
            .arg(qk.prefix())
            .arg(qk.group_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not delete task {}", go_quote(id)), e))?;
        match n {
            1 => Ok(()),
            0 => Err(task_not_found()),
            _ => Err(precondition(
                "cannot delete task in active state. use cancel_processing instead.",
            )),
        }
    }

    /// Replaces the payload of a scheduled task, keeping everything else of its message
    /// (including `unique_key`, as asynq does).
    pub(crate) async fn update_task_payload(
        &self,
        queue: &str,
        id: &str,
        payload: &[u8],
    ) -> Result<()> {
        self.check_queue(queue).await?;
        let qk = self.keys.queue(queue);
        let key = qk.task(id);
        // The script replaces the message only if it is still the one read here; a
        // concurrent change makes us read it again.
        for _ in 0..5 {
            let Some(old) = self.task_msg(queue, id).await? else {
                return Err(task_not_found());
            };
            let msg = TaskMessage {
                payload: bytes::Bytes::copy_from_slice(payload),
                ..decode_task_message(&old)?
            };
            let n: i64 = UPDATE_PAYLOAD
                .key(&key)
                .arg(&old)
                .arg(encode_task_message(&msg))
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| Error::redis(format!("could not update task {}", go_quote(id)), e))?;
            match n {
                1 => return Ok(()),
                0 => return Err(task_not_found()),
                -1 => {
                    return Err(precondition(
                        "cannot update task that is not in scheduled state.",
                    ));
                }
                _ => continue,
            }
        }
        Err(being_moved(id))
    }

    /// Runs a batch script on `source` until it is done; returns how many tasks it affected.
    async fn batches(
        &self,
        queue: &str,
        what: &str,
        mut call: impl FnMut() -> redis::ScriptInvocation<'static>,
    ) -> Result<usize> {
        self.check_queue(queue).await?;
        let mut limit = None;
        let (mut taken_total, mut done_total) = (0usize, 0usize);
        loop {
            let v: Value = call()
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| Error::redis(format!("could not {what}"), e))?;
            let (taken, done, size) = batch_reply(v, what)?;
            let limit = *limit.get_or_insert(size);
            taken_total += taken;
            done_total += done;
            if taken < INSPECT_BATCH || taken_total >= limit {
                return Ok(done_total);
            }
        }
    }

    /// Deletes every task of `source` and releases the unique locks they own. Returns how
    /// many task hashes were deleted.
    pub(crate) async fn delete_all(&self, queue: &str, source: TaskSource<'_>) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (key, groups, prefix, qprefix) = (
            qk.source(&source),
            qk.groups(),
            qk.task_prefix(),
            qk.prefix().to_string(),
        );
        let group = source.group_arg().to_string();
        self.batches(queue, "delete tasks", || {
            let mut inv = DELETE_BATCH.prepare_invoke();
            inv.key(&key)
                .key(&groups)
                .arg(&prefix)
                .arg(&qprefix)
                .arg(INSPECT_BATCH)
                .arg(&group);
            inv
        })
        .await
    }

    /// Moves every task of `source` to pending (setting `pending_since`, decision D9).
    /// Returns how many moved.
    pub(crate) async fn run_all(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (key, pending, groups, prefix) = (
            qk.source(&source),
            qk.pending(),
            qk.groups(),
            qk.task_prefix(),
        );
        let group = source.group_arg().to_string();
        let now_ns = unix_nanos(now);
        self.batches(queue, "run tasks", || {
            let mut inv = RUN_BATCH.prepare_invoke();
            inv.key(&key)
                .key(&pending)
                .key(&groups)
                .arg(&prefix)
                .arg(INSPECT_BATCH)
                .arg(now_ns)
                .arg(&group);
            inv
        })
        .await
    }

    /// Archives every task of `source`, trimming the archive by `limits` and deleting the
    /// trimmed tasks' hashes (decision D2). Returns how many were archived.
    pub(crate) async fn archive_all(
        &self,
        queue: &str,
        source: TaskSource<'_>,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let (key, archived, groups, prefix) = (
            qk.source(&source),
            qk.archived(),
            qk.groups(),
            qk.task_prefix(),
        );
        let group = source.group_arg().to_string();
        let now_s = unix_secs(now);
        let cut = cutoff(now_s, limits);
        self.batches(queue, "archive tasks", || {
            let mut inv = ARCHIVE_BATCH.prepare_invoke();
            inv.key(&key)
                .key(&archived)
                .key(&groups)
                .arg(&prefix)
                .arg(INSPECT_BATCH)
                .arg(now_s)
                .arg(cut)
                .arg(limits.max_size)
                .arg(&group);
            inv
        })
        .await
    }

    // -----------------------------------------------------------------------------------------
    // Servers, workers, schedulers

    /// Live members of an index zset; stale ones are pruned (as asynq does when listing).
    async fn live_members(&self, index: &str, now: SystemTime) -> Result<Vec<String>> {
        LIVE_MEMBERS
            .key(index)
            .arg(unix_secs(now))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not read {index}"), e))
    }

    /// The running servers and the tasks they process. Undecodable entries are skipped.
    pub(crate) async fn servers(&self, now: SystemTime) -> Result<Vec<ServerInfo>> {
        let server_keys = self.live_members(&self.keys.all_servers(), now).await?;
        let worker_keys = self.live_members(&self.keys.all_workers(), now).await?;
        let mut cmds = Vec::with_capacity(server_keys.len() + worker_keys.len());
        for k in &server_keys {
            let mut c = redis::cmd("GET");
            c.arg(k);
            cmds.push(c);
        }
        for k in &worker_keys {
            let mut c = redis::cmd("HVALS");
            c.arg(k);
            cmds.push(c);
        }
        let mut replies = self.conn.pipeline(cmds, &[]).await?.into_iter();
        let mut servers = Vec::with_capacity(server_keys.len());
        for key in &server_keys {
            let raw: Option<Vec<u8>> = conv(reply_of(replies.next(), "GET")?, "a server")?;
            let Some(raw) = raw else {
                continue; // expired since it was listed
            };
            match decode_server_info(&raw) {
                Ok(s) => servers.push(ServerInfo {
                    id: s.server_id,
                    host: s.host,
                    pid: u32::try_from(s.pid).unwrap_or(0),
                    concurrency: usize::try_from(s.concurrency).unwrap_or(0),
                    queues: s
                        .queues
                        .into_iter()
                        .map(|(q, p)| (q, u32::try_from(p).unwrap_or(0)))
                        .collect(),
                    strict_priority: s.strict_priority,
                    started: timestamp_to(s.start_time.as_ref()),
                    status: s.status,
                    active_workers: Vec::new(),
                }),
                Err(e) => tracing::warn!(key, error = %e, "skipping undecodable server info"),
            }
        }
        let mut workers: BTreeMap<String, Vec<WorkerInfo>> = BTreeMap::new();
        for key in &worker_keys {
            let values: Vec<Vec<u8>> = conv(reply_of(replies.next(), "HVALS")?, "workers")?;
            for raw in values {
                match decode_worker_info(&raw) {
                    Ok(w) => workers.entry(w.server_id).or_default().push(WorkerInfo {
                        task_id: w.task_id,
                        task_type: w.task_type,
                        task_payload: Bytes::from(w.task_payload),
                        queue: w.queue,
                        started: timestamp_to(w.start_time.as_ref()),
                        deadline: timestamp_to(w.deadline.as_ref()),
                    }),
                    Err(e) => tracing::warn!(key, error = %e, "skipping undecodable worker info"),
                }
            }
        }
        for s in &mut servers {
            if let Some(mut w) = workers.remove(&s.id) {
                w.sort_by(|a, b| (a.started, &a.task_id).cmp(&(b.started, &b.task_id)));
                s.active_workers = w;
            }
        }
        servers.sort_by(|a, b| (&a.host, a.pid, &a.id).cmp(&(&b.host, b.pid, &b.id)));
        Ok(servers)
    }

    /// The entries of every running scheduler. Undecodable entries are skipped.
    pub(crate) async fn scheduler_entries(&self, now: SystemTime) -> Result<Vec<SchedulerEntry>> {
        let mut keys = self.live_members(&self.keys.all_schedulers(), now).await?;
        keys.sort();
        let cmds = keys
            .iter()
            .map(|k| {
                let mut c = redis::cmd("LRANGE");
                c.arg(k).arg(0).arg(-1);
                c
            })
            .collect();
        let mut out = Vec::new();
        for (key, reply) in keys.iter().zip(self.conn.pipeline(cmds, &[]).await?) {
            let values: Vec<Vec<u8>> = conv(
                reply.map_err(|e| Error::redis("LRANGE failed", e))?,
                "scheduler entries",
            )?;
            for raw in values {
                match decode_scheduler_entry(&raw) {
                    Ok(e) => out.push(SchedulerEntry {
                        id: e.id,
                        spec: e.spec,
                        task_type: e.task_type,
                        payload: Bytes::from(e.task_payload),
                        options: e.enqueue_options,
                        next: timestamp_to(e.next_enqueue_time.as_ref()),
                        prev: timestamp_to(e.prev_enqueue_time.as_ref()),
                    }),
                    Err(e) => {
                        tracing::warn!(key, error = %e, "skipping undecodable scheduler entry");
                    }
                }
            }
        }
        Ok(out)
    }

    /// One page of the enqueue events of a scheduler entry, newest first.
    pub(crate) async fn scheduler_enqueue_events(
        &self,
        entry_id: &str,
        opts: ListOptions,
    ) -> Result<Vec<SchedulerEnqueueEvent>> {
        let Some((start, stop)) = opts.range() else {
            return Ok(Vec::new());
        };
        let pairs: Vec<(Vec<u8>, f64)> = redis::cmd("ZREVRANGE")
            .arg(self.keys.scheduler_history(entry_id))
            .arg(start)
            .arg(stop)
            .arg("WITHSCORES")
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not read the scheduler history", e))?;
        let mut out = Vec::with_capacity(pairs.len());
        for (raw, score) in pairs {
            match decode_scheduler_enqueue_event(&raw) {
                Ok(ev) => out.push(SchedulerEnqueueEvent {
                    task_id: ev.task_id,
                    enqueued_at: timestamp_to(ev.enqueue_time.as_ref())
                        .unwrap_or_else(|| from_unix_secs(score as i64)),
                }),
                Err(e) => tracing::warn!(entry_id, error = %e, "skipping undecodable event"),
            }
        }
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Cluster

    /// `CLUSTER KEYSLOT` of the queue's pending key.
    pub(crate) async fn cluster_key_slot(&self, queue: &str) -> Result<i64> {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(self.keys.queue(queue).pending())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("CLUSTER KEYSLOT failed (is this a Redis Cluster?)", e))
    }

    /// The nodes (master first, then replicas) serving the queue's slot, from `CLUSTER SLOTS`.
    pub(crate) async fn cluster_nodes(&self, queue: &str) -> Result<Vec<ClusterNode>> {
        let slot = self.cluster_key_slot(queue).await?;
        let ranges: Vec<Value> = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("CLUSTER SLOTS failed (is this a Redis Cluster?)", e))?;
        for range in ranges {
            let parts: Vec<Value> = conv(range, "CLUSTER SLOTS")?;
            let mut it = parts.into_iter();
            let start: i64 = conv(it.next().unwrap_or(Value::Nil), "CLUSTER SLOTS")?;
            let end: i64 = conv(it.next().unwrap_or(Value::Nil), "CLUSTER SLOTS")?;
            if slot < start || slot > end {
                continue;
            }
            let mut nodes = Vec::new();
            for node in it {
                let fields: Vec<Value> = conv(node, "CLUSTER SLOTS")?;
                let mut f = fields.into_iter();
                let ip: String = conv(f.next().unwrap_or(Value::Nil), "CLUSTER SLOTS")?;
                let port: i64 = conv(f.next().unwrap_or(Value::Nil), "CLUSTER SLOTS")?;
                let id: String = conv(f.next().unwrap_or(Value::Nil), "CLUSTER SLOTS")?;
                let addr = if ip.contains(':') {
                    format!("[{ip}]:{port}")
                } else {
                    format!("{ip}:{port}")
                };
                nodes.push(ClusterNode { id, addr });
            }
            return Ok(nodes);
        }
        Err(Error::new(
            Kind::Redis,
            format!("no Cluster node serves slot {slot}"),
        ))
    }
}

/// The age cutoff of the archive (now − max age), in unix seconds.
fn cutoff(now_s: i64, limits: ArchiveLimits) -> i64 {
    now_s.saturating_sub(i64::try_from(limits.max_age.as_secs()).unwrap_or(i64::MAX))
}

/// Escapes the glob characters of `MATCH` patterns.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_are_escaped() {
        assert_eq!(glob_escape("asynq:{q}:"), "asynq:{q}:");
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
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

    #[test]
    fn task_info_follows_asynq_conversion() {
        let msg = TaskMessage {
            r#type: "t".into(),
            id: "i".into(),
            queue: "q".into(),
            retry: -1,
            timeout: 0,
            deadline: 0,
            retention: 60,
            group_key: String::new(),
            ..TaskMessage::default()
        };
        let info = task_info_of(msg, TaskState::Archived, None, Some(b"r".to_vec()), false);
        assert_eq!(info.max_retry, 0);
        assert_eq!(info.timeout, None);
        assert_eq!(info.deadline, None);
        assert_eq!(info.group, None);
        assert_eq!(info.retention, Some(Duration::from_secs(60)));
        assert_eq!(info.result.as_deref(), Some(&b"r"[..]));
    }
}
