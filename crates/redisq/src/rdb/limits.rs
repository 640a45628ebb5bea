//! Fleet-wide limits: the stored limits hash, the limit-aware dequeue and the held tasks.
//!
//! The limits live in `<ns>:redisq:limits` (one global key). Scripts that dequeue touch only
//! the keys of one queue, so servers pass a queue's limits to them as arguments
//! ([`QueueLimits`]); the limiter's state is kept under the queue's prefix (`limits.lua`).
//! Type limits are therefore counted per queue: a type that is enqueued to several queues
//! gets its limit in each of them, on every topology (documented in the limits guide).

use std::sync::Arc;

use redis::Value;

use super::Dequeued;
use super::Rdb;
use super::scripts;
use crate::core::throttle::{Entry, Field, LimitSet};
use crate::error::{Error, Result};

/// The limits that apply to one queue, encoded as the `limits.lua` spec (count first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueLimits(Arc<Vec<String>>);

impl QueueLimits {
    /// The spec of `queue` under `set`: its own limits and every type limit. `None` when
    /// nothing applies and `drain_held` is false; with `drain_held` (the queue still has
    /// held tasks) an empty spec, so the limit-aware script releases them.
    pub(crate) fn of(set: &LimitSet, queue: &str, drain_held: bool) -> Option<QueueLimits> {
        let q = set.queue(queue);
        if q == Entry::default() && set.types.is_empty() && !drain_held {
            return None;
        }
        let mut v = Vec::with_capacity(4 + 4 * set.types.len());
        v.push(String::new());
        push_entry(&mut v, &q);
        for (t, e) in &set.types {
            v.push(t.clone());
            push_entry(&mut v, e);
        }
        v[0] = (v.len() - 1).to_string();
        Some(QueueLimits(Arc::new(v)))
    }

    /// The spec as script arguments.
    pub(crate) fn args(&self) -> impl Iterator<Item = &[u8]> {
        self.0.iter().map(|s| s.as_bytes())
    }
}

fn push_entry(v: &mut Vec<String>, e: &Entry) {
    match e.rate {
        Some(r) => {
            v.push(r.n().to_string());
            v.push(r.per().as_micros().to_string());
        }
        None => {
            v.push("0".into());
            v.push("0".into());
        }
    }
    v.push(e.concurrency.unwrap_or(0).to_string());
}

/// Why a limit-aware dequeue took fewer tasks than asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hold {
    /// Milliseconds until a rate-limited start is possible: `None` when no rate limit held
    /// anything back, `Some(0)` to call again at once.
    pub(crate) wait_ms: Option<u64>,
    /// The queue's own limit held it back: no task of it can start before then.
    pub(crate) queue: bool,
    /// A concurrency limit held something back (freed when a task ends, time unknown).
    pub(crate) concurrency: bool,
}

impl Hold {
    /// Whether anything was held back.
    pub(crate) fn any(&self) -> bool {
        self.wait_ms.is_some() || self.concurrency
    }
}

impl Rdb {
    /// The stored limits, and the fields that could not be understood.
    pub(crate) async fn read_limits(&self) -> Result<(LimitSet, Vec<Field>)> {
        let fields: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.keys.limits())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not read the limits", e))?;
        Ok(LimitSet::from_fields(fields))
    }

    /// Writes or deletes (`None`) limit fields and tells the servers to reload them.
    pub(crate) async fn write_limits(&self, fields: &[(String, Option<String>)]) -> Result<()> {
        let key = self.keys.limits();
        let mut cmds = Vec::with_capacity(fields.len() + 1);
        for (f, v) in fields {
            let mut c = redis::cmd(if v.is_some() { "HSET" } else { "HDEL" });
            c.arg(&key).arg(f);
            if let Some(v) = v {
                c.arg(v);
            }
            cmds.push(c);
        }
        let mut publish = redis::cmd("PUBLISH");
        publish.arg(self.keys.wakeup_channel()).arg("l:");
        cmds.push(publish);
        for reply in self.conn.pipeline(cmds, &[]).await? {
            reply.map_err(|e| Error::redis("could not write the limits", e))?;
        }
        Ok(())
    }

    /// For each queue, whether it has tasks held back by a limit.
    pub(crate) async fn has_held(&self, queues: &[String]) -> Result<Vec<bool>> {
        let cmds = queues
            .iter()
            .map(|q| {
                let mut c = redis::cmd("EXISTS");
                c.arg(self.keys.queue(q).held());
                c
            })
            .collect();
        let replies = self.conn.pipeline(cmds, &[]).await?;
        replies
            .into_iter()
            .map(|r| {
                r.map(|v| matches!(v, Value::Int(n) if n > 0))
                    .map_err(|e| Error::redis("could not check for held tasks", e))
            })
            .collect()
    }

    /// The task types of `queue` that have held tasks, sorted.
    pub(crate) async fn held_types(&self, queue: &str) -> Result<Vec<String>> {
        let mut types: Vec<String> = redis::cmd("SMEMBERS")
            .arg(self.keys.queue(queue).held())
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not read the held tasks of {queue:?}"), e))?;
        types.sort();
        Ok(types)
    }

    /// [`Rdb::dequeue_many`] for a queue with limits: takes only what the limits allow now,
    /// and says what held the rest back.
    pub(crate) async fn dequeue_limited(
        &self,
        queue: &str,
        lease_secs: i64,
        max: usize,
        limits: &QueueLimits,
    ) -> Result<(Vec<Dequeued>, Hold)> {
        let qk = self.keys.queue(queue);
        let (lease, prefix, max) = (
            lease_secs.to_string(),
            qk.task_prefix(),
            max.max(1).to_string(),
        );
        let mut args: Vec<&[u8]> = vec![lease.as_bytes(), prefix.as_bytes(), max.as_bytes()];
        args.extend(limits.args());
        let cmd = scripts::evalsha(
            &scripts::DEQUEUE_LIMITED,
            &[&qk.pending(), &qk.paused(), &qk.active(), &qk.lease()],
            &args,
        );
        let mut replies = self
            .conn
            .pipeline(vec![cmd], &[&*scripts::DEQUEUE_LIMITED])
            .await?;
        let reply = replies
            .pop()
            .ok_or_else(|| Error::corrupt("no reply from the limit-aware dequeue"))?;
        let (flat, wait, flags): (Vec<Vec<u8>>, i64, i64) = reply
            .and_then(|v| redis::from_redis_value(v).map_err(redis::RedisError::from))
            .map_err(|e| Error::redis(format!("dequeue from queue {queue:?} failed"), e))?;
        let mut out = Vec::with_capacity(flat.len() / 2);
        let mut it = flat.into_iter();
        while let (Some(id), Some(msg)) = (it.next(), it.next()) {
            out.push(Dequeued {
                queue: queue.to_string(),
                id: String::from_utf8(id).map_err(|_| {
                    Error::corrupt(format!("a task ID in queue {queue:?} is not UTF-8"))
                })?,
                msg: msg.into(),
            });
        }
        let hold = Hold {
            wait_ms: u64::try_from(wait).ok(),
            queue: flags & 1 != 0,
            concurrency: flags & 2 != 0,
        };
        Ok((out, hold))
    }
}

#[cfg(test)]
#[path = "limits_tests.rs"]
mod tests;
