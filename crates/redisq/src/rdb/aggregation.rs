//! Group aggregation: checks, sets, reclaim.
//!
//! A group `<ns>:{q}:g:<group>` collects tasks (score = when they joined). An aggregation
//! check moves the oldest members into a new aggregation set `<ns>:{q}:g:<group>:<set id>`
//! registered in `<ns>:{q}:aggregation_sets` with a deadline; the server reads the set, hands
//! the tasks to the user's aggregator, enqueues the result and deletes the set. A set whose
//! deadline passed (its server died or gave up) is put back into its group by the recoverer.
//!
//! Every script touches only keys of one queue (`<ns>:{q}:…`, one Cluster slot).

use std::time::{Duration, SystemTime};

use redis::Value;

use super::Rdb;
use super::keys::hash_tag;
use crate::core::time::{from_unix_secs, unix_secs};
use crate::error::{Error, Result};

use super::scripts::{
    AGGREGATION_CHECK as CHECK, AGGREGATION_DELETE as DELETE, AGGREGATION_GROUPS as GROUPS,
    AGGREGATION_READ as READ, AGGREGATION_RECLAIM as RECLAIM,
};

/// How long a server has to aggregate a set before the recoverer of any server puts the set
/// back into its group (asynq's `aggregationTimeout`, 2 min).
pub(crate) const AGGREGATION_SET_TIMEOUT: Duration = Duration::from_secs(120);

/// When a group is ready, in whole seconds (`0` = no limit), as the check script takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GroupLimits {
    /// Aggregate as soon as this many tasks wait; at most this many per set.
    max_size: u64,
    /// Aggregate once the oldest task waited this long.
    max_delay_secs: u64,
    /// Aggregate once the newest task waited this long.
    grace_secs: u64,
}

impl GroupLimits {
    /// Converts the server's settings. A maximum delay under one second counts as one
    /// second (scores are whole seconds, and 0 would mean "no limit").
    pub(crate) fn new(
        max_size: Option<usize>,
        max_delay: Option<Duration>,
        grace: Duration,
    ) -> Self {
        GroupLimits {
            max_size: max_size.map_or(0, |n| n as u64),
            max_delay_secs: max_delay.map_or(0, |d| d.as_secs().max(1)),
            grace_secs: grace.as_secs().max(1),
        }
    }
}

/// The content of an aggregation set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AggregationSet {
    /// When the set returns to its group; `None` when the set is no longer registered
    /// (another server reclaimed it, or it was deleted).
    pub(crate) deadline: Option<SystemTime>,
    /// `(task id, raw msg)` of the members whose task hash exists, oldest first.
    pub(crate) members: Vec<(String, Vec<u8>)>,
}

impl Rdb {
    /// The names in the queue's `groups` set.
    pub(crate) async fn list_groups(&self, queue: &str) -> Result<Vec<String>> {
        redis::cmd("SMEMBERS")
            .arg(self.keys.queue(queue).groups())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not list the groups of queue {queue:?}"), e))
    }

    /// The non-empty groups of a queue with the number of tasks waiting in each.
    pub(crate) async fn group_sizes(&self, queue: &str) -> Result<Vec<(String, u64)>> {
        let qk = self.keys.queue(queue);
        let flat: Vec<Value> = GROUPS
            .key(qk.groups())
            .arg(qk.group_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(format!("could not list the groups of queue {queue:?}"), e)
            })?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(g), Some(n)) = (it.next(), it.next()) {
            let g: String = redis::from_redis_value(g)
                .map_err(|e| Error::redis("unexpected reply listing groups", e.into()))?;
            let n: u64 = redis::from_redis_value(n)
                .map_err(|e| Error::redis("unexpected reply listing groups", e.into()))?;
            out.push((g, n));
        }
        Ok(out)
    }

    /// Runs the aggregation check of one group at `now`: when the group is ready (it holds
    /// `max_size` tasks, its oldest task waited `max_delay`, or its newest task waited
    /// `grace`), moves its oldest members (at most `max_size`) into a new aggregation set
    /// whose deadline is `now` + [`AGGREGATION_SET_TIMEOUT`], and returns the set's ID.
    pub(crate) async fn aggregation_check(
        &self,
        queue: &str,
        group: &str,
        max_size: Option<usize>,
        max_delay: Option<Duration>,
        grace: Duration,
        now: SystemTime,
    ) -> Result<Option<String>> {
        self.check_group(
            queue,
            group,
            GroupLimits::new(max_size, max_delay, grace),
            now,
        )
        .await
    }

    async fn check_group(
        &self,
        queue: &str,
        group: &str,
        limits: GroupLimits,
        now: SystemTime,
    ) -> Result<Option<String>> {
        let qk = self.keys.queue(queue);
        let set_id = uuid::Uuid::new_v4().to_string();
        let now_s = unix_secs(now);
        let created: i64 = CHECK
            .key(qk.group(group))
            .key(qk.aggregation_set(group, &set_id))
            .key(qk.aggregation_sets())
            .key(qk.groups())
            .arg(limits.max_size)
            .arg(limits.max_delay_secs)
            .arg(limits.grace_secs)
            .arg(now_s.saturating_add(AGGREGATION_SET_TIMEOUT.as_secs() as i64))
            .arg(now_s)
            .arg(group)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("aggregation check of group {group:?} in queue {queue:?} failed"),
                    e,
                )
            })?;
        Ok((created == 1).then_some(set_id))
    }

    /// Reads an aggregation set and its deadline in one step.
    pub(crate) async fn read_aggregation_set(
        &self,
        queue: &str,
        group: &str,
        set_id: &str,
    ) -> Result<AggregationSet> {
        let qk = self.keys.queue(queue);
        let reply: Vec<Value> = READ
            .key(qk.aggregation_set(group, set_id))
            .key(qk.aggregation_sets())
            .arg(qk.task_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not read aggregation set {set_id} of group {group:?}"),
                    e,
                )
            })?;
        let bad = |e: redis::RedisError| {
            Error::redis(
                format!("unexpected reply reading aggregation set {set_id}"),
                e,
            )
        };
        let mut it = reply.into_iter();
        let deadline = match it.next() {
            None | Some(Value::Nil) => None,
            Some(v) => {
                let s: f64 = redis::from_redis_value(v).map_err(|e| bad(e.into()))?;
                Some(from_unix_secs(s as i64))
            }
        };
        let mut members = Vec::new();
        while let (Some(id), Some(msg)) = (it.next(), it.next()) {
            let id: String = redis::from_redis_value(id).map_err(|e| bad(e.into()))?;
            let msg: Vec<u8> = redis::from_redis_value(msg).map_err(|e| bad(e.into()))?;
            members.push((id, msg));
        }
        Ok(AggregationSet { deadline, members })
    }

    /// Deletes an aggregated set: its members' task hashes, the set and its registration.
    /// `locks` are `(task id, unique lock key)` of members; each lock is released if it is
    /// still held by that task and the task was in the set (asynq leaves them
    /// until their TTL). Returns how many task hashes were deleted.
    pub(crate) async fn delete_aggregation_set(
        &self,
        queue: &str,
        group: &str,
        set_id: &str,
        locks: &[(String, String)],
    ) -> Result<u64> {
        let qk = self.keys.queue(queue);
        let mut inv = DELETE.prepare_invoke();
        inv.key(qk.aggregation_set(group, set_id))
            .key(qk.aggregation_sets())
            .arg(qk.task_prefix());
        for (id, lock) in locks {
            if lock.is_empty() {
                continue;
            }
            if self.conn.is_cluster() && hash_tag(lock) != hash_tag(qk.prefix()) {
                tracing::warn!(
                    task = %id,
                    lock,
                    "the unique lock is not in the queue's Cluster slot; it is left to expire"
                );
                continue;
            }
            inv.key(lock).arg(id);
        }
        inv.invoke_async(&mut self.conn()).await.map_err(|e| {
            Error::redis(
                format!("could not delete aggregation set {set_id} of group {group:?}"),
                e,
            )
        })
    }

    /// Puts every aggregation set of the queue whose deadline is at or before `now` back
    /// into its group (scores kept) and registers the group in `groups` again, so the tasks
    /// are aggregated again. Returns how many sets were reclaimed.
    pub(crate) async fn reclaim_stale_aggregation_sets(
        &self,
        queue: &str,
        now: SystemTime,
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        RECLAIM
            .key(qk.aggregation_sets())
            .key(qk.groups())
            .arg(unix_secs(now))
            .arg(qk.group_prefix())
            .arg(qk.task_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not reclaim stale aggregation sets of queue {queue:?}"),
                    e,
                )
            })
    }
}

#[cfg(test)]
#[path = "aggregation_tests.rs"]
mod tests;
