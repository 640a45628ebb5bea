//! Scheduler state: entries, enqueue history, and redisq's fire claims.
//!
//! - `<ns>:schedulers` (ZSET, member = entries key, score = expiry unix s) and
//!   `<ns>:schedulers:{<scheduler id>}` (LIST of SchedulerEntry, TTL 2 × heartbeat) are
//!   written exactly as asynq writes them, so Go's inspector, CLI and asynqmon list redisq's
//!   entries.
//! - `<ns>:scheduler_history:<entry id>` (ZSET of SchedulerEnqueueEvent, score = enqueue unix
//!   s) keeps the newest 1000 events, as in asynq.
//! - `<ns>:scheduler_fire:{<entry hash>}:<unix s>` (STRING, value = scheduler id, with a TTL)
//!   is a redisq-only key: the claim that lets exactly one scheduler process enqueue an
//!   occurrence. Go asynq never reads it.

use std::time::{Duration, SystemTime};

use super::Rdb;
use super::proto::{
    SchedulerEnqueueEvent, SchedulerEntry, encode_scheduler_enqueue_event, encode_scheduler_entry,
};
use super::scripts::evalsha;
use crate::core::time::unix_secs;
use crate::error::{Error, Result};

use super::scripts::{
    SCHEDULER_RECORD_EVENT as RECORD_EVENT, SCHEDULER_WRITE_ENTRIES as WRITE_ENTRIES,
};

/// How many enqueue events asynq keeps per entry.
pub(crate) const MAX_SCHEDULER_EVENTS: u32 = 1000;

/// Whole seconds of a TTL, rounded up, at least 1 (`EXPIRE` takes integers).
fn ttl_secs(ttl: Duration) -> u64 {
    (ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0)).max(1)
}

impl Rdb {
    /// The key namespace (`asynq` by default).
    fn namespace(&self) -> String {
        let all = self.keys.all_queues();
        all.strip_suffix(":queues").unwrap_or(&all).to_string()
    }

    /// The fire-claim key of one occurrence of an entry: `<ns>:scheduler_fire:{<identity>}:<s>`.
    pub(crate) fn scheduler_fire_key(&self, identity: &str, occurrence: i64) -> String {
        format!(
            "{}:scheduler_fire:{{{identity}}}:{occurrence}",
            self.namespace()
        )
    }

    /// Writes a scheduler's entries (LPUSHed in the given order) with a TTL and registers the
    /// list in `<ns>:schedulers`, scored by its expiry.
    pub(crate) async fn write_scheduler_entries(
        &self,
        scheduler_id: &str,
        entries: &[SchedulerEntry],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<()> {
        let key = self.keys.scheduler_entries(scheduler_id);
        let ttl_s = ttl_secs(ttl);
        let expiry = unix_secs(now).saturating_add(i64::try_from(ttl_s).unwrap_or(i64::MAX));
        let ttl_arg = ttl_s.to_string();
        let encoded: Vec<Vec<u8>> = entries.iter().map(encode_scheduler_entry).collect();
        let mut args: Vec<&[u8]> = Vec::with_capacity(1 + encoded.len());
        args.push(ttl_arg.as_bytes());
        args.extend(encoded.iter().map(Vec::as_slice));
        let mut zadd = redis::cmd("ZADD");
        zadd.arg(self.keys.all_schedulers()).arg(expiry).arg(&key);
        let write = evalsha(&WRITE_ENTRIES, &[&key], &args);
        let replies = self
            .conn
            .pipeline(vec![zadd, write], &[&*WRITE_ENTRIES])
            .await?;
        for reply in replies {
            reply.map_err(|e| Error::redis("could not write the scheduler entries", e))?;
        }
        Ok(())
    }

    /// Removes a scheduler's entries list and its `<ns>:schedulers` member.
    pub(crate) async fn clear_scheduler_entries(&self, scheduler_id: &str) -> Result<()> {
        let key = self.keys.scheduler_entries(scheduler_id);
        let mut zrem = redis::cmd("ZREM");
        zrem.arg(self.keys.all_schedulers()).arg(&key);
        let mut del = redis::cmd("DEL");
        del.arg(&key);
        let replies = self.conn.pipeline(vec![zrem, del], &[]).await?;
        for reply in replies {
            reply.map_err(|e| Error::redis("could not clear the scheduler entries", e))?;
        }
        Ok(())
    }

    /// Records one successful enqueue of an entry, scored by the event's unix second, keeping
    /// the newest 1000 events.
    pub(crate) async fn record_scheduler_enqueue_event(
        &self,
        entry_id: &str,
        event: &SchedulerEnqueueEvent,
    ) -> Result<()> {
        let score = event.enqueue_time.map(|t| t.seconds).unwrap_or_default();
        let _: redis::Value = RECORD_EVENT
            .key(self.keys.scheduler_history(entry_id))
            .arg(score)
            .arg(encode_scheduler_enqueue_event(event))
            .arg(MAX_SCHEDULER_EVENTS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not record an enqueue event of scheduler entry {entry_id}"),
                    e,
                )
            })?;
        Ok(())
    }

    /// Deletes the enqueue history of an entry.
    pub(crate) async fn clear_scheduler_history(&self, entry_id: &str) -> Result<()> {
        let _: i64 = redis::cmd("DEL")
            .arg(self.keys.scheduler_history(entry_id))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not delete the history of scheduler entry {entry_id}"),
                    e,
                )
            })?;
        Ok(())
    }

    /// Claims one occurrence of an entry for this scheduler: `SET key owner NX EX ttl`.
    /// True when this call set the key, false when another scheduler holds it.
    pub(crate) async fn claim_scheduler_fire(
        &self,
        identity: &str,
        occurrence: i64,
        owner: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let key = self.scheduler_fire_key(identity, occurrence);
        let reply: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(owner)
            .arg("NX")
            .arg("EX")
            .arg(ttl_secs(ttl))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not claim {key}"), e))?;
        Ok(reply.is_some())
    }
}
