//! Servers and their workers, scheduler entries and enqueue events, and the Cluster slot
//! of a queue.

use std::collections::BTreeMap;
use std::time::SystemTime;

use redis::Value;

use super::records::{
    ClusterNodeRecord, EnqueueEventRecord, SchedulerEntryRecord, ServerRecord, WorkerRecord,
};
use super::{Page, conv, reply_of};
use crate::core::time::{from_unix_secs, unix_secs};
use crate::error::{Error, Kind, Result};
use crate::rdb::Rdb;
use crate::rdb::proto::{
    decode_scheduler_enqueue_event, decode_scheduler_entry, decode_server_info, decode_worker_info,
    timestamp_to,
};
use crate::rdb::scripts::INSPECT_LIVE_MEMBERS as LIVE_MEMBERS;

impl Rdb {
    /// Live members of an index zset; stale ones are pruned (as asynq does when listing).
    async fn live_members(&self, index: &str, now: SystemTime) -> Result<Vec<String>> {
        LIVE_MEMBERS
            .key(index)
            .arg(unix_secs(now))
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not read {index}"), e))
    }

    /// The running servers and the tasks they process, in the order read. Undecodable
    /// entries are skipped.
    pub(crate) async fn servers(&self, now: SystemTime) -> Result<Vec<ServerRecord>> {
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
                Ok(s) => servers.push(ServerRecord {
                    id: s.server_id,
                    host: s.host,
                    pid: s.pid,
                    concurrency: s.concurrency,
                    queues: s.queues,
                    strict_priority: s.strict_priority,
                    started: timestamp_to(s.start_time.as_ref()),
                    status: s.status,
                    workers: Vec::new(),
                }),
                Err(e) => tracing::warn!(key, error = %e, "skipping undecodable server info"),
            }
        }
        let mut workers: BTreeMap<String, Vec<WorkerRecord>> = BTreeMap::new();
        for key in &worker_keys {
            let values: Vec<Vec<u8>> = conv(reply_of(replies.next(), "HVALS")?, "workers")?;
            for raw in values {
                match decode_worker_info(&raw) {
                    Ok(w) => workers.entry(w.server_id).or_default().push(WorkerRecord {
                        task_id: w.task_id,
                        task_type: w.task_type,
                        payload: w.task_payload,
                        queue: w.queue,
                        started: timestamp_to(w.start_time.as_ref()),
                        deadline: timestamp_to(w.deadline.as_ref()),
                    }),
                    Err(e) => tracing::warn!(key, error = %e, "skipping undecodable worker info"),
                }
            }
        }
        for s in &mut servers {
            if let Some(w) = workers.remove(&s.id) {
                s.workers = w;
            }
        }
        Ok(servers)
    }

    /// The entries of every running scheduler. Undecodable entries are skipped.
    pub(crate) async fn scheduler_entries(
        &self,
        now: SystemTime,
    ) -> Result<Vec<SchedulerEntryRecord>> {
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
                    Ok(e) => out.push(SchedulerEntryRecord {
                        id: e.id,
                        spec: e.spec,
                        task_type: e.task_type,
                        payload: e.task_payload,
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
        page: Page,
    ) -> Result<Vec<EnqueueEventRecord>> {
        let Some((start, stop)) = page.range() else {
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
                Ok(ev) => out.push(EnqueueEventRecord {
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
    pub(crate) async fn cluster_nodes(&self, queue: &str) -> Result<Vec<ClusterNodeRecord>> {
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
                nodes.push(ClusterNodeRecord { id, ip, port });
            }
            return Ok(nodes);
        }
        Err(Error::new(
            Kind::Redis,
            format!("no Cluster node serves slot {slot}"),
        ))
    }
}
