//! The Redis data layer: key names, the wire codec, Lua scripts and connections.
//!
//! Nothing outside this module talks to Redis directly: the client, server, inspector and
//! scheduler call methods of [`Rdb`], which know the keys (spec §3), the encoded values (§4)
//! and the scripts (§5).

mod aggregation;
pub(crate) mod conn;
mod enqueue;
mod inspect;
pub(crate) mod keys;
mod process;
pub(crate) mod proto;
mod read;
mod scheduler;
pub(crate) mod scripts;

use std::collections::HashSet;
use std::sync::Mutex;

pub(crate) use self::conn::RedisConn;
pub(crate) use self::enqueue::{EnqueueRequest, Placement};
use self::keys::Keys;
#[allow(unused_imports)]
pub(crate) use self::process::{ArchiveLimits, Dequeued, STATS_TTL};
use crate::error::{Error, Result};

/// A connection plus the key layout of one namespace.
#[derive(Debug)]
pub(crate) struct Rdb {
    conn: RedisConn,
    keys: Keys,
    // Queues this process already added to `<ns>:queues`, so that SADD is sent once per queue.
    known_queues: Mutex<HashSet<String>>,
}

impl Rdb {
    pub(crate) fn new(conn: RedisConn, keys: Keys) -> Self {
        Rdb {
            conn,
            keys,
            known_queues: Mutex::new(HashSet::new()),
        }
    }

    pub(crate) fn keys(&self) -> &Keys {
        &self.keys
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
            .map(|k| k.contains(queue))
            .unwrap_or(false)
    }

    fn mark_known_queue(&self, queue: &str) {
        if let Ok(mut k) = self.known_queues.lock() {
            k.insert(queue.to_string());
        }
    }

    /// Forgets a queue (after it was deleted), so the next enqueue registers it again.
    #[allow(dead_code)]
    pub(crate) fn forget_queue(&self, queue: &str) {
        if let Ok(mut k) = self.known_queues.lock() {
            k.remove(queue);
        }
    }
}
