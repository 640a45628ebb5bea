//! Writing new tasks: pending, scheduled and aggregating, each with a unique variant.

use redis::{Cmd, RedisResult, Value};

use super::Rdb;
use super::proto::{TaskMessage, encode_task_message};
use super::scripts::{self, evalsha};
use crate::core::message::NewTask;
pub(crate) use crate::core::message::Placement;
use crate::core::time::unix_secs;
use crate::error::{Error, Result};

/// Most tasks written by one batch script call (bounds how long one call holds Redis).
const BATCH_CHUNK: usize = 500;

/// One task to write.
#[derive(Clone, Debug)]
pub(crate) struct EnqueueRequest {
    pub(crate) queue: String,
    pub(crate) id: String,
    /// The encoded TaskMessage.
    pub(crate) msg: Vec<u8>,
    pub(crate) placement: Placement,
    /// The unique lock key and its TTL in whole seconds.
    pub(crate) unique: Option<(String, u64)>,
}

impl Rdb {
    /// The stored message and script arguments of a new task.
    pub(crate) fn request(&self, t: &NewTask) -> EnqueueRequest {
        let unique = t.unique_ttl_secs.map(|ttl| {
            let payload = t.has_payload.then_some(&t.payload[..]);
            (self.keys.queue(&t.queue).unique(&t.task_type, payload), ttl)
        });
        let msg = TaskMessage {
            r#type: t.task_type.clone(),
            payload: t.payload.clone(),
            id: t.id.clone(),
            queue: t.queue.clone(),
            retry: i32::try_from(t.max_retry).unwrap_or(i32::MAX),
            retried: 0,
            error_msg: String::new(),
            timeout: t.timeout_secs,
            deadline: t.deadline.map(unix_secs).unwrap_or(0),
            unique_key: unique.as_ref().map(|(k, _)| k.clone()).unwrap_or_default(),
            last_failed_at: 0,
            retention: t.retention_secs,
            completed_at: 0,
            group_key: t.group.clone().unwrap_or_default(),
            headers: t.headers.clone(),
        };
        EnqueueRequest {
            queue: t.queue.clone(),
            id: t.id.clone(),
            msg: encode_task_message(&msg),
            placement: t.placement.clone(),
            unique,
        }
    }

    /// Writes one new task built by the core.
    pub(crate) async fn enqueue_new(&self, t: &NewTask) -> Result<()> {
        self.enqueue(&self.request(t)).await
    }

    /// Writes one task. Registers its queue in `<ns>:queues` the first time this process
    /// writes to it, in the same round trip.
    pub(crate) async fn enqueue(&self, req: &EnqueueRequest) -> Result<()> {
        let mut results = self.enqueue_many(std::slice::from_ref(req)).await?;
        results
            .pop()
            .unwrap_or_else(|| Err(Error::corrupt("no reply for the enqueue")))
    }

    /// Writes many tasks in one pipelined round trip: one script call per queue (per chunk
    /// of [`BATCH_CHUNK`] tasks), one Cluster slot each. Each task gets its own result; a
    /// failed task does not stop the others. A single task uses the per-kind scripts.
    pub(crate) async fn enqueue_many(&self, reqs: &[EnqueueRequest]) -> Result<Vec<Result<()>>> {
        let mut cmds = Vec::with_capacity(reqs.len().min(64) + 1);
        let mut new_queues: Vec<&str> = Vec::new();
        for r in reqs {
            if !self.is_known_queue(&r.queue) && !new_queues.contains(&r.queue.as_str()) {
                new_queues.push(&r.queue);
            }
        }
        if !new_queues.is_empty() {
            let mut sadd = redis::cmd("SADD");
            sadd.arg(self.keys.all_queues()).arg(&new_queues);
            cmds.push(sadd);
        }
        let offset = cmds.len();
        // Which requests each command carries, in order.
        let mut carried: Vec<Vec<usize>> = Vec::new();
        if reqs.len() == 1 {
            cmds.push(self.enqueue_cmd(&reqs[0]));
            carried.push(vec![0]);
        } else {
            let mut by_queue: Vec<(&str, Vec<usize>)> = Vec::new();
            for (i, r) in reqs.iter().enumerate() {
                match by_queue.iter_mut().find(|(q, _)| *q == r.queue) {
                    Some((_, idx)) => idx.push(i),
                    None => by_queue.push((&r.queue, vec![i])),
                }
            }
            for (queue, idx) in by_queue {
                for chunk in idx.chunks(BATCH_CHUNK) {
                    cmds.push(self.batch_cmd(queue, chunk.iter().map(|&i| &reqs[i])));
                    carried.push(chunk.to_vec());
                }
            }
        }
        let used = [
            &*scripts::ENQUEUE,
            &*scripts::ENQUEUE_UNIQUE,
            &*scripts::SCHEDULE,
            &*scripts::SCHEDULE_UNIQUE,
            &*scripts::ADD_TO_GROUP,
            &*scripts::ADD_TO_GROUP_UNIQUE,
            &*scripts::ENQUEUE_BATCH,
        ];
        let mut replies = self.conn.pipeline(cmds, &used).await?;
        if offset == 1 {
            match &replies[0] {
                Ok(_) => new_queues.iter().for_each(|q| self.mark_known_queue(q)),
                Err(e) => tracing::warn!(error = %e, "could not register queues"),
            }
        }
        let mut out: Vec<Option<Result<()>>> = reqs.iter().map(|_| None).collect();
        for (idx, reply) in carried.into_iter().zip(replies.drain(offset..)) {
            match reply {
                Ok(Value::Array(codes)) if codes.len() == idx.len() => {
                    for (i, code) in idx.into_iter().zip(codes) {
                        out[i] = Some(script_outcome(Ok(code)));
                    }
                }
                other => {
                    let single = idx.len() == 1;
                    let err = || match &other {
                        Err(e) => Err(Error::redis("enqueue failed", e.clone())),
                        Ok(v) if single => script_outcome(Ok(v.clone())),
                        Ok(v) => Err(Error::corrupt(format!(
                            "unexpected reply from the batch enqueue script: {v:?}"
                        ))),
                    };
                    for i in idx {
                        out[i] = Some(err());
                    }
                }
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::corrupt("no reply for an enqueued task"))))
            .collect())
    }

    /// One `enqueue_batch.lua` call for tasks of one queue.
    fn batch_cmd<'a>(&self, queue: &str, reqs: impl Iterator<Item = &'a EnqueueRequest>) -> Cmd {
        let qk = self.keys.queue(queue);
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(scripts::ENQUEUE_BATCH.get_hash())
            .arg(4)
            .arg(qk.pending())
            .arg(qk.scheduled())
            .arg(qk.groups())
            .arg(qk.wake())
            .arg(qk.task_prefix())
            .arg(qk.group_prefix())
            .arg(self.keys.wakeup_channel())
            .arg(format!("s:{queue}"));
        for r in reqs {
            let (kind, num, group) = match &r.placement {
                Placement::Pending { now_ns } => ("p", *now_ns, ""),
                Placement::Scheduled { at_secs, group } => {
                    ("s", *at_secs, group.as_deref().unwrap_or(""))
                }
                Placement::Group { group, now_secs } => ("g", *now_secs, group.as_str()),
            };
            let (lock, ttl) = match &r.unique {
                Some((k, t)) => (k.as_str(), t.to_string()),
                None => ("", String::new()),
            };
            cmd.arg(kind)
                .arg(&r.id)
                .arg(&r.msg)
                .arg(num)
                .arg(group)
                .arg(lock)
                .arg(ttl);
        }
        cmd
    }

    fn enqueue_cmd(&self, r: &EnqueueRequest) -> Cmd {
        let qk = self.keys.queue(&r.queue);
        let task_key = qk.task(&r.id);
        let id = r.id.as_bytes();
        // Decision D10: scripts wake idle forwarders through this channel; new pending work
        // wakes one idle processor through the queue's wake list.
        let wake = self.keys.wakeup_channel();
        let (wake, sched_msg) = (wake.as_bytes(), format!("s:{}", r.queue));
        let sched_msg = sched_msg.as_bytes();
        match (&r.placement, &r.unique) {
            (Placement::Pending { now_ns }, None) => {
                let now = now_ns.to_string();
                evalsha(
                    &scripts::ENQUEUE,
                    &[&task_key, &qk.pending(), &qk.wake()],
                    &[&r.msg, id, now.as_bytes()],
                )
            }
            (Placement::Pending { now_ns }, Some((lock, ttl))) => {
                let (now, ttl) = (now_ns.to_string(), ttl.to_string());
                evalsha(
                    &scripts::ENQUEUE_UNIQUE,
                    &[lock, &task_key, &qk.pending(), &qk.wake()],
                    &[id, ttl.as_bytes(), &r.msg, now.as_bytes()],
                )
            }
            (Placement::Scheduled { at_secs, group }, None) => {
                let at = at_secs.to_string();
                let group = group.as_deref().unwrap_or_default();
                evalsha(
                    &scripts::SCHEDULE,
                    &[&task_key, &qk.scheduled()],
                    &[&r.msg, at.as_bytes(), id, group.as_bytes(), wake, sched_msg],
                )
            }
            (Placement::Scheduled { at_secs, group }, Some((lock, ttl))) => {
                let (at, ttl) = (at_secs.to_string(), ttl.to_string());
                let group = group.as_deref().unwrap_or_default();
                evalsha(
                    &scripts::SCHEDULE_UNIQUE,
                    &[lock, &task_key, &qk.scheduled()],
                    &[
                        id,
                        ttl.as_bytes(),
                        at.as_bytes(),
                        &r.msg,
                        group.as_bytes(),
                        wake,
                        sched_msg,
                    ],
                )
            }
            (Placement::Group { group, now_secs }, None) => {
                let now = now_secs.to_string();
                evalsha(
                    &scripts::ADD_TO_GROUP,
                    &[&task_key, &qk.group(group), &qk.groups()],
                    &[&r.msg, id, now.as_bytes(), group.as_bytes()],
                )
            }
            (Placement::Group { group, now_secs }, Some((lock, ttl))) => {
                let (now, ttl) = (now_secs.to_string(), ttl.to_string());
                evalsha(
                    &scripts::ADD_TO_GROUP_UNIQUE,
                    &[&task_key, &qk.group(group), &qk.groups(), lock],
                    &[&r.msg, id, now.as_bytes(), group.as_bytes(), ttl.as_bytes()],
                )
            }
        }
    }
}

/// Maps an enqueue script's reply (or one code of the batch script): 1 added, 0 ID
/// conflict, -1 lock held.
fn script_outcome(reply: RedisResult<Value>) -> Result<()> {
    match reply {
        Ok(Value::Int(1)) => Ok(()),
        Ok(Value::Int(0)) => Err(Error::task_id_conflict()),
        Ok(Value::Int(-1)) => Err(Error::duplicate_task()),
        Ok(other) => Err(Error::corrupt(format!(
            "unexpected reply from the enqueue script: {other:?}"
        ))),
        Err(e) => Err(Error::redis("enqueue failed", e)),
    }
}
