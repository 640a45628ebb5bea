//! The Redis data layer: key names, the wire codec, Lua scripts and connections.
//!
//! Nothing outside this module talks to Redis directly: the client, server, inspector and
//! scheduler call methods of [`Rdb`], which know the keys, the encoded values
//! and the scripts.

mod aggregation;
pub(crate) mod conn;
mod enqueue;
pub(crate) mod flow;
pub(crate) mod inspect;
pub(crate) mod keys;
mod limits;
mod process;
pub(crate) mod progress;
pub(crate) mod proto;
mod read;
mod scheduler;
pub(crate) mod scripts;
pub(crate) mod wait;
mod wake;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) use self::conn::RedisConn;
#[cfg(test)]
pub(crate) use self::enqueue::{EnqueueRequest, Placement};
use self::keys::Keys;
pub(crate) use self::limits::{Hold, QueueLimits};
pub(crate) use self::process::Dequeued;
use crate::error::{Error, Result};

/// How long a queue registration is trusted before the next enqueue repeats it.
const REGISTRATION_TTL: Duration = Duration::from_secs(60);

/// A connection plus the key layout of one namespace.
#[derive(Debug)]
pub(crate) struct Rdb {
    conn: RedisConn,
    keys: Keys,
    // Queues this process added to `<ns>:queues`, and when. Unlike asynq's cache, an entry
    // goes stale after REGISTRATION_TTL, so a queue deleted by another process is registered
    // again by the next enqueue.
    known_queues: Mutex<HashMap<String, Instant>>,
}

impl Rdb {
    pub(crate) fn new(conn: RedisConn, keys: Keys) -> Self {
        Rdb {
            conn,
            keys,
            known_queues: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
    }

    /// True on a Redis Cluster.
    pub(crate) fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// A handle usable with redis-rs commands.
    pub(crate) fn conn(&self) -> RedisConn {
        self.conn.clone()
    }

    pub(crate) async fn ping(&self) -> Result<()> {
        let mut c = self.conn();
        let _: String = redis::cmd("PING")
            .query_async(&mut c)
            .await
            .map_err(|e| Error::redis("PING failed", e))?;
        Ok(())
    }

    fn is_known_queue(&self, queue: &str) -> bool {
        self.known_queues
            .lock()
            .map(|k| {
                k.get(queue)
                    .is_some_and(|at| at.elapsed() < REGISTRATION_TTL)
            })
            .unwrap_or(false)
    }

    fn mark_known_queue(&self, queue: &str) {
        if let Ok(mut k) = self.known_queues.lock() {
            k.insert(queue.to_string(), Instant::now());
        }
    }

    /// Forgets a queue (after it was deleted), so the next enqueue registers it again.
    pub(crate) fn forget_queue(&self, queue: &str) {
        if let Ok(mut k) = self.known_queues.lock() {
            k.remove(queue);
        }
    }
}
