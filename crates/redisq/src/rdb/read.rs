//! Plain reads of stored tasks.

use super::Rdb;
use crate::error::{Error, Result};

impl Rdb {
    /// The raw `msg` field of a task, `None` when the task hash does not exist.
    pub(crate) async fn task_msg(&self, queue: &str, id: &str) -> Result<Option<Vec<u8>>> {
        let mut c = self.conn();
        redis::cmd("HGET")
            .arg(self.keys.queue(queue).task(id))
            .arg("msg")
            .query_async(&mut c)
            .await
            .map_err(|e| Error::redis("could not read a task", e))
    }

    /// Subscribes to the channels a server listens to: cancellations (task IDs) and
    /// wake-ups.
    pub(crate) async fn subscribe_server_channels(&self) -> Result<redis::aio::PubSub> {
        let mut p = self.conn.pubsub().await?;
        p.subscribe(&[self.keys.cancel_channel(), self.keys.wakeup_channel()])
            .await
            .map_err(|e| Error::redis("could not subscribe to the server channels", e))?;
        Ok(p)
    }
}

/// The score of a sorted set's first member, from a `ZRANGE key 0 0 WITHSCORES` reply.
fn first_score(v: &redis::Value) -> Option<i64> {
    // RESP2 answers [member, score]; RESP3 answers [[member, score]].
    let redis::Value::Array(items) = v else {
        return None;
    };
    let score = match items.as_slice() {
        [redis::Value::Array(pair), ..] => pair.get(1)?,
        [_, score, ..] => score,
        _ => return None,
    };
    redis::from_redis_value::<f64>(score.clone())
        .ok()
        .map(|s| s as i64)
}

impl Rdb {
    /// `INFO` of every server answering for this connection, as `(node, text)` pairs, and
    /// `CLUSTER INFO` on a Cluster.
    pub(crate) async fn redis_info(&self) -> Result<(Vec<(String, String)>, Option<String>)> {
        let mut c = self.conn();
        let fail = |e| Error::redis("could not read INFO", e);
        let reply: redis::Value = redis::cmd("INFO").query_async(&mut c).await.map_err(fail)?;
        let mut nodes: Vec<(String, String)> = match reply {
            // A Cluster answers with one text per node.
            redis::Value::Map(pairs) => pairs
                .into_iter()
                .filter_map(|(k, v)| {
                    Some((
                        redis::from_redis_value(k).ok()?,
                        redis::from_redis_value(v).ok()?,
                    ))
                })
                .collect(),
            other => vec![(
                self.conn.label().to_string(),
                redis::from_redis_value(other).map_err(|e| fail(e.into()))?,
            )],
        };
        nodes.sort();
        let cluster = if self.conn.is_cluster() {
            Some(
                redis::cmd("CLUSTER")
                    .arg("INFO")
                    .query_async(&mut c)
                    .await
                    .map_err(fail)?,
            )
        } else {
            None
        };
        Ok((nodes, cluster))
    }

    /// Removes IDs from `active` and `lease` whose task hash is gone: lease entries expired at
    /// or before `cutoff` (unix s), and the given `ids`. Returns how many were removed.
    pub(crate) async fn remove_ghosts(
        &self,
        queue: &str,
        cutoff: i64,
        ids: &[String],
    ) -> Result<usize> {
        let qk = self.keys.queue(queue);
        let mut inv = super::scripts::REMOVE_GHOSTS.prepare_invoke();
        inv.key(qk.active())
            .key(qk.lease())
            .arg(qk.task_prefix())
            .arg(cutoff);
        for id in ids {
            inv.arg(id);
        }
        inv.invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not remove entries of missing tasks", e))
    }

    /// Whether any of these queues has pending tasks: one `LLEN` per queue in one round
    /// trip. The idle processor's cheap probe for tasks enqueued by Go clients.
    pub(crate) async fn any_pending(&self, queues: &[String]) -> Result<bool> {
        let cmds = queues
            .iter()
            .map(|q| {
                let mut c = redis::cmd("LLEN");
                c.arg(self.keys.queue(q).pending());
                c
            })
            .collect();
        let replies = self.conn.pipeline(cmds, &[]).await?;
        Ok(replies
            .into_iter()
            .any(|r| matches!(r, Ok(redis::Value::Int(n)) if n > 0)))
    }

    /// The earliest due time (unix s) in a queue's scheduled and retry sets.
    pub(crate) async fn next_due(&self, queue: &str) -> Result<Option<i64>> {
        let qk = self.keys.queue(queue);
        let cmds = [qk.scheduled(), qk.retry()]
            .into_iter()
            .map(|k| {
                let mut c = redis::cmd("ZRANGE");
                c.arg(k).arg(0).arg(0).arg("WITHSCORES");
                c
            })
            .collect();
        let replies = self.conn.pipeline(cmds, &[]).await?;
        let mut next: Option<i64> = None;
        for r in replies {
            let v = r.map_err(|e| Error::redis("could not read due times", e))?;
            if let Some(s) = first_score(&v) {
                next = Some(next.map_or(s, |x| x.min(s)));
            }
        }
        Ok(next)
    }

    /// The earliest retention expiry (unix s) of a queue's completed tasks.
    pub(crate) async fn next_completed_expiry(&self, queue: &str) -> Result<Option<i64>> {
        let mut c = self.conn();
        let v: redis::Value = redis::cmd("ZRANGE")
            .arg(self.keys.queue(queue).completed())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut c)
            .await
            .map_err(|e| Error::redis("could not read completed tasks", e))?;
        Ok(first_score(&v))
    }
}
