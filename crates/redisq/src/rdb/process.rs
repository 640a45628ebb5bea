//! Processing-side writes: dequeue with a lease, completion, retry, archive, requeue, leases,
//! results, forwarding of due tasks, recovery listings, the janitor, server state and
//! cancellation.
//!
//! All `now` arguments are passed in by the caller so tests can control time.
//!
//! Every script touches only keys of one queue (`<ns>:{q}:…`, one Cluster slot); the server
//! state script only the two `{host:pid:sid}` keys of one server.

// The server (processor, recoverer, forwarder, janitor, heartbeat) calls these.

use std::time::{Duration, SystemTime};

use redis::{Cmd, RedisError, RedisResult, Value};

use super::Rdb;
use super::keys::{QueueKeys, hash_tag};
use super::limits::QueueLimits;
use super::proto::{
    ServerInfo, TaskMessage, WorkerInfo, encode_server_info, encode_task_message,
    encode_worker_info,
};
use super::scripts::{self, evalsha};
use crate::core::flow;
use crate::core::limits::ArchiveLimits;
use crate::core::time::{unix_nanos, unix_secs};
use crate::error::{Error, Kind, Result};

/// How long daily counters live after their first increment.
pub(crate) const STATS_TTL: Duration = Duration::from_secs(90 * 24 * 3600);

/// The largest int64: the total counters wrap to 1 when they reach it.
pub(super) const MAX_INT64: &str = "9223372036854775807";

/// How many due tasks one forward script call moves at most.
pub(crate) const FORWARD_BATCH: usize = 100;

/// A task taken from a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Dequeued {
    pub(crate) queue: String,
    pub(crate) id: String,
    /// The raw `msg` field; decoding is the caller's job so a corrupt one can be archived.
    /// Shared so that the decoded payload can point into it instead of being copied.
    pub(crate) msg: bytes::Bytes,
}

impl Rdb {
    /// Moves the oldest pending task of `queue` to `active` and gives it a lease of
    /// `lease_secs` seconds from Redis's clock, in one atomic step. `None` when the queue is
    /// empty or paused.
    ///
    /// A pending ID whose task hash is gone is dropped on the way (it could never run).
    #[cfg(test)]
    pub(crate) async fn dequeue(&self, queue: &str, lease_secs: i64) -> Result<Option<Dequeued>> {
        Ok(self.dequeue_many(queue, lease_secs, 1).await?.pop())
    }

    /// Like [`Rdb::dequeue`], taking up to `max` tasks in one call; each
    /// task's lease is written in the same atomic step that makes it active.
    pub(crate) async fn dequeue_many(
        &self,
        queue: &str,
        lease_secs: i64,
        max: usize,
    ) -> Result<Vec<Dequeued>> {
        let qk = self.keys.queue(queue);
        let reply: Vec<Vec<u8>> = scripts::DEQUEUE
            .key(qk.pending())
            .key(qk.paused())
            .key(qk.active())
            .key(qk.lease())
            .arg(lease_secs)
            .arg(qk.task_prefix())
            .arg(max.max(1))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("dequeue from queue {queue:?} failed"), e))?;
        let mut out = Vec::with_capacity(reply.len() / 2);
        let mut it = reply.into_iter();
        while let (Some(id), Some(msg)) = (it.next(), it.next()) {
            out.push(Dequeued {
                queue: queue.to_string(),
                id: String::from_utf8(id).map_err(|_| {
                    Error::corrupt(format!("a task ID in queue {queue:?} is not UTF-8"))
                })?,
                msg: msg.into(),
            });
        }
        Ok(out)
    }

    /// [`Rdb::done`] for many tasks: one script call per queue, all queues in one pipelined
    /// round trip. In the same calls, takes up to `take(queue)` pending tasks of each queue
    /// with leases of `lease_secs` seconds from Redis's clock, for the workers just freed. Returns one
    /// result per message, in order, and the tasks taken.
    ///
    /// A queue for which `limits` gives its limits takes only what they allow, with the
    /// limit-aware variant of the script; the others use the plain one.
    ///
    /// `answers_wake` names the queue whose wake-up marker this call answers (a completion
    /// that waited for the next task): if it takes all it wants and tasks remain pending,
    /// the script wakes an idle server for them.
    pub(crate) async fn done_many<'l>(
        &self,
        msgs: &[&TaskMessage],
        take: impl Fn(&str) -> usize,
        limits: impl Fn(&str) -> Option<&'l QueueLimits>,
        lease_secs: i64,
        now: SystemTime,
        answers_wake: Option<&str>,
    ) -> Result<(Vec<Result<()>>, Vec<Dequeued>)> {
        let mut by_queue: Vec<(&str, Vec<usize>)> = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            match by_queue.iter_mut().find(|(q, _)| *q == m.queue) {
                Some((_, idx)) => idx.push(i),
                None => by_queue.push((&m.queue, vec![i])),
            }
        }
        let mut cmds = Vec::with_capacity(by_queue.len());
        for (queue, idx) in &by_queue {
            let qk = self.keys.queue(queue);
            let stats = DailyStats::new(&qk, now);
            let (expire, prefix) = (stats.expire_at.to_string(), qk.task_prefix());
            let (want, lease) = (take(queue).to_string(), lease_secs.to_string());
            let locks: Vec<&str> = idx
                .iter()
                .map(|&i| self.unique_lock(&qk, msgs[i]).unwrap_or(""))
                .collect();
            let mut args: Vec<&[u8]> = vec![
                expire.as_bytes(),
                MAX_INT64.as_bytes(),
                prefix.as_bytes(),
                want.as_bytes(),
                lease.as_bytes(),
            ];
            // Limits matter only when tasks are taken.
            let limited = if want != "0" { limits(queue) } else { None };
            if let Some(l) = limited {
                args.extend(l.args());
            }
            let script = if limited.is_some() {
                &scripts::DONE_MANY_LIMITED
            } else {
                &scripts::DONE_MANY
            };
            for (&i, lock) in idx.iter().zip(&locks) {
                args.push(msgs[i].id.as_bytes());
                args.push(lock.as_bytes());
            }
            let (active, lease, total) = (qk.active(), qk.lease(), qk.processed_total());
            let (pending, paused) = (qk.pending(), qk.paused());
            let wake = (answers_wake == Some(*queue)).then(|| qk.wake());
            let mut keys: Vec<&str> =
                vec![&active, &lease, &stats.processed, &total, &pending, &paused];
            keys.extend(wake.as_deref());
            cmds.push(evalsha(script, &keys, &args));
        }
        let replies = self
            .conn
            .pipeline(cmds, &[&*scripts::DONE_MANY, &*scripts::DONE_MANY_LIMITED])
            .await?;
        let mut out: Vec<Result<()>> = msgs.iter().map(|_| Ok(())).collect();
        let mut taken = Vec::new();
        for ((queue, idx), reply) in by_queue.iter().zip(replies) {
            let parsed = reply.and_then(|v| {
                redis::from_redis_value::<(Vec<i64>, Vec<Vec<u8>>)>(v).map_err(RedisError::from)
            });
            match parsed {
                Ok((codes, flat)) if codes.len() == idx.len() => {
                    for (&i, code) in idx.iter().zip(codes) {
                        if code != 1 {
                            out[i] = Err(Error::new(
                                Kind::TaskNotFound,
                                format!(
                                    "done failed for task {:?} of queue {queue:?}: the task is not active",
                                    msgs[i].id
                                ),
                            ));
                        }
                    }
                    let mut it = flat.into_iter();
                    while let (Some(id), Some(msg)) = (it.next(), it.next()) {
                        // The ID's bytes become the string without a copy (lossy only if
                        // not UTF-8, which redisq and asynq never write).
                        let id = String::from_utf8(id)
                            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                        taken.push(Dequeued {
                            queue: queue.to_string(),
                            id,
                            msg: msg.into(),
                        });
                    }
                }
                Ok(_) => {
                    for &i in idx {
                        out[i] = Err(Error::corrupt("unexpected reply from done_many"));
                    }
                }
                Err(e) => {
                    for &i in idx {
                        out[i] = Err(Error::redis(
                            format!("done failed for queue {queue:?}"),
                            e.clone(),
                        ));
                    }
                }
            }
        }
        Ok((out, taken))
    }

    /// Success without retention: removes the task, releases its unique lock if it owns it,
    /// counts it as processed.
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn done(&self, msg: &TaskMessage, now: SystemTime) -> Result<()> {
        if flow::is_member(&msg.headers) {
            return self.flow_done(msg, now).await;
        }
        let qk = self.keys.queue(&msg.queue);
        let stats = DailyStats::new(&qk, now);
        let mut inv = scripts::DONE.prepare_invoke();
        inv.key(qk.active())
            .key(qk.lease())
            .key(qk.task(&msg.id))
            .key(&stats.processed)
            .key(qk.processed_total());
        if let Some(lock) = self.unique_lock(&qk, msg) {
            inv.key(lock);
        }
        inv.arg(&msg.id).arg(stats.expire_at).arg(MAX_INT64);
        let reply: RedisResult<Value> = inv.invoke_async(&mut self.conn()).await;
        completion_outcome(reply, "done", msg)
    }

    /// Success with retention: moves the task to `completed` (score now + retention) with
    /// `completed_at = now`, releases its unique lock if it owns it, counts it as processed.
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn mark_complete(&self, msg: &TaskMessage, now: SystemTime) -> Result<()> {
        if flow::is_member(&msg.headers) {
            return self.flow_done(msg, now).await;
        }
        let qk = self.keys.queue(&msg.queue);
        let stats = DailyStats::new(&qk, now);
        let now_s = unix_secs(now);
        let completed = TaskMessage {
            completed_at: now_s,
            ..msg.clone()
        };
        let mut inv = scripts::MARK_COMPLETE.prepare_invoke();
        inv.key(qk.active())
            .key(qk.lease())
            .key(qk.completed())
            .key(qk.task(&msg.id))
            .key(&stats.processed)
            .key(qk.processed_total());
        if let Some(lock) = self.unique_lock(&qk, msg) {
            inv.key(lock);
        }
        inv.arg(&msg.id)
            .arg(stats.expire_at)
            .arg(now_s.saturating_add(msg.retention))
            .arg(encode_task_message(&completed))
            .arg(MAX_INT64);
        let reply: RedisResult<Value> = inv.invoke_async(&mut self.conn()).await;
        completion_outcome(reply, "mark as complete", msg)
    }

    /// Puts an active task back at the front of its pending list (shutdown).
    /// Sets `pending_since`.
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn requeue(&self, msg: &TaskMessage, now: SystemTime) -> Result<()> {
        let qk = self.keys.queue(&msg.queue);
        let reply: RedisResult<Value> = scripts::REQUEUE
            .key(qk.active())
            .key(qk.lease())
            .key(qk.pending())
            .key(qk.task(&msg.id))
            .key(qk.wake())
            .arg(&msg.id)
            .arg(unix_nanos(now))
            .invoke_async(&mut self.conn())
            .await;
        completion_outcome(reply, "requeue", msg)
    }

    /// Failure with retries left: moves the task to `retry` at `retry_at`, recording the
    /// error; when `is_failure` the retried count goes up and the failure is counted.
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn retry(
        &self,
        msg: &TaskMessage,
        retry_at: SystemTime,
        err: &str,
        is_failure: bool,
        now: SystemTime,
    ) -> Result<()> {
        self.retry_guarded(msg, retry_at, err, is_failure, now, None)
            .await
    }

    /// [`Rdb::retry`] for recovery: with `lease_cutoff`, only a task whose lease entry is
    /// missing or expired at or before that time (unix s) is moved; one with a later lease is
    /// "not found". The recoverer reads expired leases first and acts on them afterwards; in
    /// between another server may have recovered the task and a worker taken it again with a
    /// fresh lease, and that worker must keep it.
    pub(crate) async fn retry_guarded(
        &self,
        msg: &TaskMessage,
        retry_at: SystemTime,
        err: &str,
        is_failure: bool,
        now: SystemTime,
        lease_cutoff: Option<i64>,
    ) -> Result<()> {
        let qk = self.keys.queue(&msg.queue);
        let stats = DailyStats::new(&qk, now);
        let modified = TaskMessage {
            retried: if is_failure {
                msg.retried.saturating_add(1)
            } else {
                msg.retried
            },
            error_msg: err.to_string(),
            last_failed_at: unix_secs(now),
            ..msg.clone()
        };
        let reply: RedisResult<Value> = scripts::RETRY
            .key(qk.task(&msg.id))
            .key(qk.active())
            .key(qk.lease())
            .key(qk.retry())
            .key(&stats.processed)
            .key(&stats.failed)
            .key(qk.processed_total())
            .key(qk.failed_total())
            .arg(&msg.id)
            .arg(encode_task_message(&modified))
            .arg(unix_secs(retry_at))
            .arg(stats.expire_at)
            .arg(if is_failure { "1" } else { "0" })
            .arg(MAX_INT64)
            .arg(lease_cutoff.map(|c| c.to_string()).unwrap_or_default())
            .invoke_async(&mut self.conn())
            .await;
        completion_outcome(reply, "retry", msg)
    }

    /// Failure for good: moves the task to `archived`, recording the error, trims the archive
    /// by `limits` (deleting trimmed hashes) and counts a failure.
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn archive(
        &self,
        msg: &TaskMessage,
        err: &str,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<()> {
        self.archive_guarded(msg, err, limits, now, None).await
    }

    /// [`Rdb::archive`] for recovery, guarded by `lease_cutoff` as [`Rdb::retry_guarded`] is.
    pub(crate) async fn archive_guarded(
        &self,
        msg: &TaskMessage,
        err: &str,
        limits: ArchiveLimits,
        now: SystemTime,
        lease_cutoff: Option<i64>,
    ) -> Result<()> {
        let modified = TaskMessage {
            error_msg: err.to_string(),
            last_failed_at: unix_secs(now),
            ..msg.clone()
        };
        let encoded = encode_task_message(&modified);
        if flow::is_member(&msg.headers) {
            return self
                .flow_archive(msg, &encoded, err, limits, now, lease_cutoff)
                .await;
        }
        let reply = self
            .run_archive(
                &msg.queue,
                &msg.id,
                "msg",
                &encoded,
                limits,
                now,
                lease_cutoff,
            )
            .await;
        completion_outcome(reply, "archive", msg)
    }

    /// Archives an active task whose `msg` cannot be decoded, keeping the bytes as they are
    /// and recording `err` in the hash field `error` (ignored by Go asynq).
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn archive_corrupt(
        &self,
        queue: &str,
        id: &str,
        err: &str,
        limits: ArchiveLimits,
        now: SystemTime,
    ) -> Result<()> {
        let reply = self
            .run_archive(queue, id, "error", err.as_bytes(), limits, now, None)
            .await;
        script_outcome(reply, || {
            format!("could not archive the corrupt task {id:?} of queue {queue:?}")
        })
    }

    /// Runs the archive script, which writes `field = value` and `state = archived`.
    // Private, with three callers; every argument is a different piece of the script call.
    #[allow(clippy::too_many_arguments)]
    async fn run_archive(
        &self,
        queue: &str,
        id: &str,
        field: &str,
        value: &[u8],
        limits: ArchiveLimits,
        now: SystemTime,
        lease_cutoff: Option<i64>,
    ) -> RedisResult<Value> {
        self.archive_invocation(queue, id, field, value, limits, now, lease_cutoff)
            .invoke_async(&mut self.conn())
            .await
    }

    /// The archive script's call; a flow member's caller adds the flow keys and arguments.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn archive_invocation(
        &self,
        queue: &str,
        id: &str,
        field: &str,
        value: &[u8],
        limits: ArchiveLimits,
        now: SystemTime,
        lease_cutoff: Option<i64>,
    ) -> redis::ScriptInvocation<'static> {
        let qk = self.keys.queue(queue);
        let stats = DailyStats::new(&qk, now);
        let now_s = unix_secs(now);
        let max_age = i64::try_from(limits.max_age.as_secs()).unwrap_or(i64::MAX);
        let mut inv = scripts::ARCHIVE.prepare_invoke();
        inv.key(qk.task(id))
            .key(qk.active())
            .key(qk.lease())
            .key(qk.archived())
            .key(&stats.processed)
            .key(&stats.failed)
            .key(qk.processed_total())
            .key(qk.failed_total())
            .arg(id)
            .arg(field)
            .arg(value)
            .arg(now_s)
            .arg(now_s.saturating_sub(max_age))
            .arg(limits.max_size)
            .arg(stats.expire_at)
            .arg(MAX_INT64)
            .arg(qk.task_prefix())
            .arg(lease_cutoff.map(|c| c.to_string()).unwrap_or_default());
        inv
    }

    /// Extends the leases of these active tasks to `until` (unix s), one write per queue;
    /// tasks whose lease entry is gone are not re-added.
    pub(crate) async fn extend_leases(
        &self,
        queue: &str,
        ids: &[String],
        lease_secs: i64,
    ) -> Result<Vec<String>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut inv = scripts::EXTEND_LEASES.prepare_invoke();
        inv.key(self.keys.queue(queue).lease()).arg(lease_secs);
        for id in ids {
            inv.arg(id);
        }
        inv.invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not extend leases in queue {queue:?}"), e))
    }

    /// Stores a handler's result in the task hash.
    ///
    /// Fails with a task-not-found error when the task hash no longer exists (it is not
    /// recreated).
    pub(crate) async fn write_result(&self, queue: &str, id: &str, data: &[u8]) -> Result<()> {
        let written: i64 = scripts::WRITE_RESULT
            .key(self.keys.queue(queue).task(id))
            .arg(data)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not write the result of task {id:?}"), e))?;
        if written == 1 {
            Ok(())
        } else {
            Err(Error::new(
                Kind::TaskNotFound,
                format!("cannot write the result: task {id:?} not found in queue {queue:?}"),
            ))
        }
    }

    /// Moves due scheduled and retry tasks to pending (or into their group,
    /// registering the group). Returns how many moved.
    ///
    /// Each script call moves at most [`FORWARD_BATCH`] tasks; both sets go in one pipelined
    /// round trip, repeated for a set while its last call had a full batch.
    #[cfg(test)]
    pub(crate) async fn forward_due(&self, queue: &str, now: SystemTime) -> Result<usize> {
        Ok(self.forward_due_next(queue, Some(now)).await?.0)
    }

    /// [`Rdb::forward_due`], also returning the earliest remaining due time (unix s) of the
    /// queue's scheduled and retry sets, so the forwarder can sleep until then, and the time
    /// the script used (unix ms). Wakes idle redisq servers when tasks went to pending.
    ///
    /// `now: None` (servers) uses Redis's clock, so that a server whose own clock runs ahead
    /// does not forward tasks before they are due.
    pub(crate) async fn forward_due_next(
        &self,
        queue: &str,
        now: Option<SystemTime>,
    ) -> Result<(usize, Option<i64>, Option<i64>)> {
        let qk = self.keys.queue(queue);
        let (now_s, now_ns) = match now {
            Some(now) => (unix_secs(now).to_string(), unix_nanos(now).to_string()),
            None => (String::new(), String::new()),
        };
        let mut used_ms = None;
        let (task_prefix, group_prefix) = (qk.task_prefix(), qk.group_prefix());
        let (pending, groups, wake) = (qk.pending(), qk.groups(), qk.wake());
        let batch = FORWARD_BATCH.to_string();
        let mut sources = vec![qk.scheduled(), qk.retry()];
        let mut moved = 0;
        let mut next: Option<i64> = None;
        while !sources.is_empty() {
            let cmds: Vec<Cmd> = sources
                .iter()
                .map(|src| {
                    evalsha(
                        &scripts::FORWARD,
                        &[src, &pending, &groups, &wake],
                        &[
                            now_s.as_bytes(),
                            task_prefix.as_bytes(),
                            now_ns.as_bytes(),
                            group_prefix.as_bytes(),
                            batch.as_bytes(),
                        ],
                    )
                })
                .collect();
            let replies = self.conn.pipeline(cmds, &[&*scripts::FORWARD]).await?;
            let mut again = Vec::new();
            for (src, reply) in sources.into_iter().zip(replies) {
                let (handled, n, due, at_ms): (usize, usize, i64, i64) = reply
                    .and_then(|v| redis::from_redis_value(v).map_err(RedisError::from))
                    .map_err(|e| {
                        Error::redis(format!("could not forward due tasks of {src:?}"), e)
                    })?;
                moved += n;
                used_ms = Some(at_ms);
                if handled >= FORWARD_BATCH {
                    again.push(src);
                } else if due >= 0 {
                    next = Some(next.map_or(due, |x| x.min(due)));
                }
            }
            sources = again;
        }
        Ok((moved, next, used_ms))
    }

    /// Active tasks whose lease expired more than `grace_secs` ago by Redis's clock: the
    /// cutoff used (unix s, Redis's `TIME` minus the grace; for the recovery guard), and each
    /// task's ID and raw `msg`.
    pub(crate) async fn list_lease_expired(
        &self,
        queue: &str,
        grace_secs: i64,
    ) -> Result<(i64, Vec<(String, Vec<u8>)>)> {
        let qk = self.keys.queue(queue);
        let flat: Vec<Vec<u8>> = scripts::LIST_LEASE_EXPIRED
            .key(qk.lease())
            .arg(grace_secs)
            .arg(qk.task_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not list expired leases of queue {queue:?}"),
                    e,
                )
            })?;
        let mut it = flat.into_iter();
        let cutoff = it
            .next()
            .and_then(|c| std::str::from_utf8(&c).ok()?.parse::<i64>().ok())
            .ok_or_else(|| Error::corrupt("the expired-lease listing returned no cutoff"))?;
        let mut out = Vec::with_capacity(it.len() / 2);
        while let (Some(id), Some(msg)) = (it.next(), it.next()) {
            let id = String::from_utf8(id).map_err(|_| {
                Error::corrupt(format!("a task ID in queue {queue:?} is not UTF-8"))
            })?;
            out.push((id, msg));
        }
        Ok((cutoff, out))
    }

    /// IDs in `active` that have no lease entry.
    pub(crate) async fn list_active_without_lease(&self, queue: &str) -> Result<Vec<String>> {
        let qk = self.keys.queue(queue);
        scripts::LIST_ACTIVE_WITHOUT_LEASE
            .key(qk.active())
            .key(qk.lease())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not list active tasks without a lease in queue {queue:?}"),
                    e,
                )
            })
    }

    /// Deletes completed tasks whose retention ended, `batch` per script call until none are
    /// left. Returns how many were deleted.
    ///
    /// A call that deletes fewer than `batch` tasks ends the loop (nothing due was left at
    /// that moment). A `batch` of 0 counts as 1.
    pub(crate) async fn delete_expired_completed(
        &self,
        queue: &str,
        now: SystemTime,
        batch: usize,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let batch = batch.max(1);
        let (completed, prefix, now_s) = (qk.completed(), qk.task_prefix(), unix_secs(now));
        let mut total = 0;
        loop {
            let n: usize = scripts::DELETE_EXPIRED_COMPLETED
                .key(&completed)
                .arg(now_s)
                .arg(&prefix)
                .arg(batch)
                .invoke_async(&mut self.conn())
                .await
                .map_err(|e| {
                    Error::redis(
                        format!("could not delete expired completed tasks of queue {queue:?}"),
                        e,
                    )
                })?;
            total += n;
            if n < batch {
                return Ok(total);
            }
        }
    }

    /// Writes the server's info and its active workers with a TTL, and registers both keys in
    /// the `servers` / `workers` index sets scored by expiry.
    ///
    /// One pipelined round trip (per Cluster slot): the two index ZADDs and the state script.
    /// The TTL is rounded up to whole seconds (at least 1).
    pub(crate) async fn write_server_state(
        &self,
        info: &ServerInfo,
        workers: &[WorkerInfo],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<()> {
        // A process id is never negative; 0 keeps the key well-formed if one ever were.
        let pid = u32::try_from(info.pid).unwrap_or_default();
        let server_key = self.keys.server_info(&info.host, pid, &info.server_id);
        let workers_key = self.keys.workers(&info.host, pid, &info.server_id);
        let expiry = unix_secs(crate::core::time::add_saturating(now, ttl));
        let ttl_secs = (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0))
            .max(1)
            .to_string();
        let info_bytes = encode_server_info(info);
        let encoded: Vec<Vec<u8>> = workers.iter().map(encode_worker_info).collect();
        let mut args: Vec<&[u8]> = Vec::with_capacity(2 + 2 * workers.len());
        args.push(ttl_secs.as_bytes());
        args.push(&info_bytes);
        for (w, bytes) in workers.iter().zip(&encoded) {
            args.push(w.task_id.as_bytes());
            args.push(bytes);
        }
        let mut zadd_server = redis::cmd("ZADD");
        zadd_server
            .arg(self.keys.all_servers())
            .arg(expiry)
            .arg(&server_key);
        let mut zadd_workers = redis::cmd("ZADD");
        zadd_workers
            .arg(self.keys.all_workers())
            .arg(expiry)
            .arg(&workers_key);
        let state = evalsha(
            &scripts::WRITE_SERVER_STATE,
            &[&server_key, &workers_key],
            &args,
        );
        let replies = self
            .conn
            .pipeline(
                vec![zadd_server, zadd_workers, state],
                &[&*scripts::WRITE_SERVER_STATE],
            )
            .await?;
        for reply in replies {
            reply.map_err(|e| Error::redis("could not write the server state", e))?;
        }
        Ok(())
    }

    /// Removes the server's info and workers keys and their index entries.
    pub(crate) async fn clear_server_state(
        &self,
        host: &str,
        pid: u32,
        server_id: &str,
    ) -> Result<()> {
        let server_key = self.keys.server_info(host, pid, server_id);
        let workers_key = self.keys.workers(host, pid, server_id);
        let mut zrem_server = redis::cmd("ZREM");
        zrem_server.arg(self.keys.all_servers()).arg(&server_key);
        let mut zrem_workers = redis::cmd("ZREM");
        zrem_workers.arg(self.keys.all_workers()).arg(&workers_key);
        // Both keys share the `{host:pid:sid}` hash tag: one DEL is fine on a Cluster.
        let mut del = redis::cmd("DEL");
        del.arg(&server_key).arg(&workers_key);
        let replies = self
            .conn
            .pipeline(vec![zrem_server, zrem_workers, del], &[])
            .await?;
        for reply in replies {
            reply.map_err(|e| Error::redis("could not clear the server state", e))?;
        }
        Ok(())
    }

    /// Asks every server to cancel the task with this ID (`PUBLISH <ns>:cancel id`).
    pub(crate) async fn publish_cancel(&self, id: &str) -> Result<()> {
        let _: i64 = redis::cmd("PUBLISH")
            .arg(self.keys.cancel_channel())
            .arg(id)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(format!("could not publish the cancellation of {id:?}"), e)
            })?;
        Ok(())
    }

    /// The unique lock a completion script may release: the message's `unique_key`, when it
    /// has one. On a Cluster a key outside the queue's slot cannot be touched by the script
    /// (Go always puts it there); it is then left to expire.
    pub(super) fn unique_lock<'m>(&self, qk: &QueueKeys, msg: &'m TaskMessage) -> Option<&'m str> {
        let lock = msg.unique_key.as_str();
        if lock.is_empty() {
            return None;
        }
        if self.conn.is_cluster() && hash_tag(lock) != hash_tag(qk.prefix()) {
            tracing::warn!(
                task = %msg.id,
                lock,
                "the unique lock is not in the queue's Cluster slot; it is left to expire"
            );
            return None;
        }
        Some(lock)
    }
}

/// The daily counter keys of `now`'s UTC date and their expiry (now + 90 days, unix s).
pub(super) struct DailyStats {
    pub(super) processed: String,
    pub(super) failed: String,
    pub(super) expire_at: i64,
}

impl DailyStats {
    pub(super) fn new(qk: &QueueKeys, now: SystemTime) -> Self {
        let date = utc_date(now);
        let ttl = i64::try_from(STATS_TTL.as_secs()).unwrap_or(i64::MAX);
        DailyStats {
            processed: qk.processed_on(&date),
            failed: qk.failed_on(&date),
            expire_at: unix_secs(now).saturating_add(ttl),
        }
    }
}

/// `YYYY-MM-DD` of a time in UTC.
pub(crate) fn utc_date(t: SystemTime) -> String {
    let dt: chrono::DateTime<chrono::Utc> = t.into();
    dt.format("%Y-%m-%d").to_string()
}

/// True for the `NOT FOUND` error reply of the completion scripts.
fn is_not_found(e: &RedisError) -> bool {
    (e.code() == Some("NOT") && e.detail().is_some_and(|d| d.starts_with("FOUND")))
        || e.to_string().contains("NOT FOUND")
}

/// Maps a completion script's reply for `msg`.
fn completion_outcome(reply: RedisResult<Value>, what: &str, msg: &TaskMessage) -> Result<()> {
    script_outcome(reply, || {
        format!(
            "{what} failed for task {:?} of queue {:?}",
            msg.id, msg.queue
        )
    })
}

/// Like [`script_outcome`], keeping the reply's value.
pub(super) fn script_value(
    reply: RedisResult<Value>,
    context: impl FnOnce() -> String,
) -> Result<Value> {
    match reply {
        Ok(v) => Ok(v),
        Err(e) if is_not_found(&e) => Err(Error::new(
            Kind::TaskNotFound,
            format!("{}: the task is not active", context()),
        )),
        Err(e) => Err(Error::redis(context(), e)),
    }
}

/// Maps a completion script's reply: `NOT FOUND` (the task is not active) becomes a
/// task-not-found error.
fn script_outcome(reply: RedisResult<Value>, context: impl FnOnce() -> String) -> Result<()> {
    match reply {
        Ok(_) => Ok(()),
        Err(e) if is_not_found(&e) => Err(Error::new(
            Kind::TaskNotFound,
            format!("{}: the task is not active", context()),
        )),
        Err(e) => Err(Error::redis(context(), e)),
    }
}

#[cfg(test)]
#[path = "process_tests.rs"]
mod tests;
