//! Wake-ups that wake one server.
//!
//! When a queue's pending list goes from empty to non-empty, the script that filled it pushes
//! a marker onto the queue's wake list (at most one marker waits there). Idle servers block
//! on the wake lists of their queues with `BLPOP`; Redis hands each marker to exactly one of
//! them, the one that waited longest. The others stay blocked, so an idle fleet costs one
//! server's fetch per burst of work instead of one per server.

use std::time::Duration;

use redis::Value;

use super::scripts;
use super::{Rdb, RedisConn};
use crate::error::{Error, Kind, Result};

/// The longest a `BLPOP` blocks: it bounds how long a listener takes to notice a broken
/// connection when no response timeout is set.
const MAX_BLOCK: Duration = Duration::from_secs(5);
/// The shortest block, whatever the response timeout.
const MIN_BLOCK: Duration = Duration::from_millis(100);

/// A dedicated connection blocked on the wake lists of some queues.
pub(crate) struct WakeListener {
    conn: RedisConn,
    /// Wake list keys, in the order of `queues`.
    keys: Vec<String>,
    queues: Vec<String>,
    /// How long one `BLPOP` blocks on the server.
    block: Duration,
    /// How long the client waits for its reply: the block plus the response timeout, so a
    /// half-open connection is noticed.
    limit: Duration,
}

impl Rdb {
    /// Opens a listener on the wake lists of `queues`, on a connection of its own. On a
    /// Cluster the queues must share a slot (one listener per queue does).
    pub(crate) async fn wake_listener(&self, queues: &[String]) -> Result<WakeListener> {
        let conn = self.conn.reopen_dedicated().await?;
        let response = conn.response_timeout();
        // The server must answer a timed-out BLPOP before the client gives up on the reply.
        let block = response
            .map_or(MAX_BLOCK, |r| (r / 2).min(MAX_BLOCK))
            .max(MIN_BLOCK);
        let limit = block + response.unwrap_or(MAX_BLOCK);
        Ok(WakeListener {
            conn,
            keys: queues.iter().map(|q| self.keys.queue(q).wake()).collect(),
            queues: queues.to_vec(),
            block,
            limit,
        })
    }

    /// Wakes one idle server of `queue` if the queue has pending tasks and no marker waits
    /// yet. Returns whether a marker was pushed.
    pub(crate) async fn wake_one(&self, queue: &str) -> Result<bool> {
        let qk = self.keys.queue(queue);
        let pushed: i64 = scripts::WAKE
            .key(qk.pending())
            .key(qk.wake())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not wake a server of queue {queue:?}"), e))?;
        Ok(pushed == 1)
    }
}

impl WakeListener {
    /// Blocks until a marker arrives (the queue it was for) or the block time passes (`None`).
    pub(crate) async fn wait(&mut self) -> Result<Option<String>> {
        let mut cmd = redis::cmd("BLPOP");
        cmd.arg(&self.keys).arg(self.block.as_secs_f64());
        let reply = tokio::time::timeout(self.limit, cmd.query_async::<Value>(&mut self.conn))
            .await
            .map_err(|_| {
                Error::new(
                    Kind::Redis,
                    "the wake-up connection stopped answering (BLPOP reply timed out)",
                )
            })?
            .map_err(|e| Error::redis("could not wait for a wake-up", e))?;
        let key: Option<String> = match reply {
            Value::Nil => None,
            Value::Array(items) => items
                .into_iter()
                .next()
                .and_then(|k| redis::from_redis_value(k).ok()),
            Value::Map(mut pairs) if !pairs.is_empty() => {
                redis::from_redis_value(pairs.swap_remove(0).0).ok()
            }
            other => {
                return Err(Error::corrupt(format!(
                    "unexpected reply to BLPOP on the wake lists: {other:?}"
                )));
            }
        };
        Ok(key.and_then(|k| {
            self.keys
                .iter()
                .position(|w| *w == k)
                .map(|i| self.queues[i].clone())
        }))
    }
}
