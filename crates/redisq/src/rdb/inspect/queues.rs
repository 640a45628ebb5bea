//! Queues: names, statistics, daily history, groups, pausing, and deleting a queue.

use std::time::SystemTime;

use redis::Value;

use super::records::{DailyRecord, GroupRecord, QueueRecord};
use super::{DAY_SECS, INSPECT_BATCH, conv, counter, int_of, precondition, reply_of, text};
use crate::core::time::{from_unix_nanos, from_unix_secs, go_quote, unix_secs};
use crate::error::{Error, Kind, Result};
use crate::rdb::Rdb;
use crate::rdb::process::{STATS_TTL, utc_date};
use crate::rdb::scripts::{
    INSPECT_DELETE_QUEUE as DELETE_QUEUE, INSPECT_GROUP_STATS as GROUP_STATS,
    INSPECT_MEMORY_USAGE as MEMORY_USAGE, INSPECT_QUEUE_STATS as QUEUE_STATS, evalsha,
};

/// Task hashes sampled per container by the memory estimate (as asynq).
const MEMORY_SAMPLE: usize = 20;
/// Groups sampled by the memory estimate (as asynq).
const MEMORY_GROUP_SAMPLE: usize = 5;

/// The longest history one call reads.
const MAX_HISTORY_DAYS: usize = 3660;

impl Rdb {
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

    /// The groups of a queue and their sizes, sorted by name.
    pub(crate) async fn group_stats(&self, queue: &str) -> Result<Vec<GroupRecord>> {
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
                Ok(GroupRecord {
                    name: text(g, "a group name")?,
                    size,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Current counters of a queue (today's being those of `now`'s UTC date), with a memory
    /// estimate when `MEMORY USAGE` is available.
    pub(crate) async fn queue_stats(&self, queue: &str, now: SystemTime) -> Result<QueueRecord> {
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
        let oldest_ns = n[11];
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
        Ok(QueueRecord {
            pending: count(0),
            active: count(1),
            scheduled: count(2),
            retry: count(3),
            archived: count(4),
            completed: count(5),
            processed: total(6),
            failed: total(7),
            processed_total: total(8),
            failed_total: total(9),
            paused: n[10] == 1,
            // Unix nanoseconds; 0 when nothing is pending or the task has no `pending_since`.
            oldest_pending_since: (oldest_ns > 0).then(|| from_unix_nanos(oldest_ns)),
            groups: count(12),
            aggregating: count(13),
            memory_usage,
        })
    }

    /// Daily processed/failed counts of the last `days` UTC days, newest first.
    pub(crate) async fn history(
        &self,
        queue: &str,
        days: usize,
        now: SystemTime,
    ) -> Result<Vec<DailyRecord>> {
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
            out.push(DailyRecord {
                date: from_unix_secs(day),
                processed,
                failed,
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
        // Idle servers wait for a wake-up; without one they would find the queue's tasks
        // only at their next probe.
        if let Err(e) = self.wake_one(queue).await {
            tracing::debug!(error = %e, queue, "could not wake a server after unpausing");
        }
        Ok(())
    }

    /// Deletes a queue and everything of it, in batches.
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
        if !force {
            // Flow parents waiting for children are tasks of the queue too (redisq only, so
            // the deletion script, shared with asynq's rules, does not know them).
            let waiting: i64 = redis::cmd("ZCARD")
                .arg(qk.waiting())
                .query_async(&mut self.conn())
                .await
                .map_err(|e| {
                    Error::redis(format!("could not delete queue {}", go_quote(queue)), e)
                })?;
            if waiting > 0 {
                return Err(Error::new(
                    Kind::QueueNotEmpty,
                    format!("queue is not empty: queue={}", go_quote(queue)),
                ));
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_patterns_are_escaped() {
        assert_eq!(glob_escape("asynq:{q}:"), "asynq:{q}:");
        assert_eq!(glob_escape(r"a*b?c[d]e\f"), r"a\*b\?c\[d\]e\\f");
    }
}
