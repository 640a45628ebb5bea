//! Flows and chains in Redis: writing a flow, a member's completion or archive with its flow
//! event, delivering events to the parent's slot, the parent's view of its children, the
//! waiting listing and deleting a flow.
//!
//! Keys (see `keys.rs`), all in the slot of the queue named in braces:
//! - `<ns>:{pq}:redisq:flow:<parent id>` — HASH of one flow (its children, their outcomes,
//!   the policy), in the **parent's** slot;
//! - `<ns>:{pq}:redisq:waiting` — ZSET of the parents still waiting;
//! - `<ns>:{cq}:redisq:flow_events` — LIST (outbox) of a queue's member outcomes not yet
//!   delivered to their parents.
//!
//! A child's completion is recorded in its own slot together with an event in its queue's
//! outbox (one atomic script); the event is then delivered to the parent's slot by an
//! idempotent script and removed from the outbox. A crash in between leaves the event in the
//! outbox, where the server's flow sweep finds it, so an outcome is never lost and a parent
//! never runs before its last child finished.

use std::collections::HashMap;
use std::time::SystemTime;

use redis::Value;

use super::Rdb;
use super::proto::{TaskMessage, encode_task_message};
use super::scripts::{self, evalsha};
use crate::core::flow::{self, ParentRef, Plan, WaitingMember};
use crate::core::limits::ArchiveLimits;
use crate::core::time::{unix_nanos, unix_secs};
use crate::error::{Error, Kind, Result};

/// How many outbox events one sweep of a queue delivers at most.
pub(crate) const SWEEP_BATCH: usize = 100;

/// How a finished child ended, as stored in its parent's flow hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChildRecord {
    pub(crate) queue: String,
    pub(crate) id: String,
    /// `Ok(result)` when it completed, `Err(error)` when it was archived.
    pub(crate) outcome: std::result::Result<Option<Vec<u8>>, String>,
}

/// A waiting flow parent.
#[derive(Clone, Debug)]
pub(crate) struct WaitingRecord {
    /// `None` when the task hash is gone.
    pub(crate) msg: Option<TaskMessage>,
    /// When the flow was written, unix seconds.
    pub(crate) since: i64,
    pub(crate) children: usize,
    pub(crate) left: usize,
    pub(crate) policy: String,
    /// (queue, id) of the children not finished yet.
    pub(crate) unfinished: Vec<(String, String)>,
}

/// Appends a netstring (`<len>:<bytes>,`), the binary-safe framing of flow events.
fn netstring(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s);
    out.push(b',');
}

/// The start of every event for `parent`: its queue, ID and the child's index. The scripts
/// append the outcome and its data.
pub(crate) fn event_prefix(parent: &ParentRef) -> Vec<u8> {
    let mut out = Vec::new();
    netstring(&mut out, parent.queue.as_bytes());
    netstring(&mut out, parent.id.as_bytes());
    netstring(&mut out, parent.index.to_string().as_bytes());
    out
}

/// A decoded flow event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    parent_queue: String,
    parent_id: String,
    index: usize,
    outcome: u8,
    data: Vec<u8>,
}

/// Splits concatenated netstrings; `None` when malformed.
fn netstrings(mut b: &[u8]) -> Option<Vec<&[u8]>> {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(5);
    while !b.is_empty() {
        let colon = b.iter().position(|&c| c == b':')?;
        let len: usize = std::str::from_utf8(&b[..colon]).ok()?.parse().ok()?;
        let start = colon + 1;
        let end = start.checked_add(len)?;
        if b.get(end) != Some(&b',') {
            return None;
        }
        parts.push(&b[start..end]);
        b = &b[end + 1..];
    }
    Some(parts)
}

fn parse_event(b: &[u8]) -> Option<Event> {
    let parts = netstrings(b)?;
    let [q, id, index, outcome, data] = parts[..] else {
        return None;
    };
    let outcome = match outcome {
        [c @ (b'c' | b'd' | b'a')] => *c,
        _ => return None,
    };
    Some(Event {
        parent_queue: String::from_utf8(q.to_vec()).ok()?,
        parent_id: String::from_utf8(id.to_vec()).ok()?,
        index: std::str::from_utf8(index).ok()?.parse().ok()?,
        outcome,
        data: data.to_vec(),
    })
}

impl Rdb {
    /// Writes a planned flow: first every waiting member (parents before anything can finish),
    /// then the members that run at once. On a failure, what was written is deleted again and
    /// the first error is returned.
    pub(crate) async fn create_flow(&self, plan: &Plan) -> Result<()> {
        let now = SystemTime::now();
        let mut queues: Vec<&str> = Vec::new();
        for q in plan
            .waiting
            .iter()
            .map(|w| w.task.queue.as_str())
            .chain(plan.ready.iter().map(|t| t.queue.as_str()))
        {
            if !queues.contains(&q) {
                queues.push(q);
            }
        }
        let mut cmds = Vec::with_capacity(plan.waiting.len() + 1);
        let mut sadd = redis::cmd("SADD");
        sadd.arg(self.keys.all_queues()).arg(&queues);
        cmds.push(sadd);
        for w in &plan.waiting {
            cmds.push(self.flow_create_cmd(w, now));
        }
        let mut replies = self
            .conn
            .pipeline(cmds, &[&*scripts::FLOW_CREATE])
            .await?
            .into_iter();
        if let Some(Err(e)) = replies.next() {
            return Err(Error::redis("could not register the flow's queues", e));
        }
        let mut written = Vec::with_capacity(plan.waiting.len());
        let mut first_err = None;
        for (w, reply) in plan.waiting.iter().zip(replies) {
            match reply {
                Ok(Value::Int(1)) => written.push(w),
                Ok(Value::Int(0)) => {
                    first_err.get_or_insert_with(Error::task_id_conflict);
                }
                Ok(other) => {
                    first_err.get_or_insert_with(|| {
                        Error::corrupt(format!("unexpected reply from flow_create: {other:?}"))
                    });
                }
                Err(e) => {
                    first_err.get_or_insert_with(|| Error::redis("could not write a flow", e));
                }
            }
        }
        if let Some(e) = first_err {
            self.undo_flow(&written, &[]).await;
            return Err(e);
        }
        let reqs: Vec<_> = plan.ready.iter().map(|t| self.request(t)).collect();
        let results = match self.enqueue_many(&reqs).await {
            Ok(r) => r,
            Err(e) => {
                self.undo_flow(&written, &[]).await;
                return Err(e);
            }
        };
        let mut ok = Vec::new();
        let mut first_err = None;
        for (req, res) in reqs.iter().zip(results) {
            match res {
                Ok(()) => ok.push((req.queue.as_str(), req.id.as_str())),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => {
                self.undo_flow(&written, &ok).await;
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn flow_create_cmd(&self, w: &WaitingMember, now: SystemTime) -> redis::Cmd {
        let qk = self.keys.queue(&w.task.queue);
        let msg = self.request(&w.task).msg;
        let now_s = unix_secs(now).to_string();
        let up = w.up.as_ref().map(event_prefix).unwrap_or_default();
        let mut args: Vec<&[u8]> = vec![
            &msg,
            w.task.id.as_bytes(),
            now_s.as_bytes(),
            w.policy.as_str().as_bytes(),
            &up,
        ];
        for (q, id) in &w.children {
            args.push(q.as_bytes());
            args.push(id.as_bytes());
        }
        evalsha(
            &scripts::FLOW_CREATE,
            &[&qk.task(&w.task.id), &qk.waiting(), &qk.flow(&w.task.id)],
            &args,
        )
    }

    /// Best-effort removal of a flow that could not be written whole. A child that already
    /// started finishes; its event then finds no flow and changes nothing.
    async fn undo_flow(&self, waiting: &[&WaitingMember], ready: &[(&str, &str)]) {
        for w in waiting {
            if let Err(e) = self.delete_waiting(&w.task.queue, &w.task.id).await {
                tracing::warn!(error = %e, task = %w.task.id, "could not undo a flow member");
            }
        }
        for (q, id) in ready {
            if let Err(e) = Box::pin(self.delete_task(q, id)).await
                && !e.is_not_found()
            {
                tracing::warn!(error = %e, task = %id, "could not undo a flow member");
            }
        }
    }

    /// Deletes one waiting parent and its flow hash; returns whether it was deleted and the
    /// children that had not finished.
    async fn delete_waiting(&self, queue: &str, id: &str) -> Result<(i64, Vec<(String, String)>)> {
        let qk = self.keys.queue(queue);
        let reply: Vec<Value> = scripts::FLOW_DELETE
            .key(qk.task(id))
            .key(qk.waiting())
            .key(qk.flow(id))
            .arg(id)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not delete the flow of {id:?}"), e))?;
        let mut it = reply.into_iter();
        let code = match it.next() {
            Some(Value::Int(c)) => c,
            _ => return Err(Error::corrupt("unexpected reply from flow_delete")),
        };
        let text = |v: Value| redis::from_redis_value::<String>(v).unwrap_or_default();
        let mut children = Vec::new();
        while let (Some(q), Some(c)) = (it.next(), it.next()) {
            children.push((text(q), text(c)));
        }
        Ok((code, children))
    }

    /// Deletes a waiting flow parent with every member below it that has not started: waiting
    /// children (recursively) and pending, scheduled or retrying ones. Members already running
    /// finish; their outcomes then change nothing. Returns how many tasks were deleted.
    ///
    /// Errors: task not found, or a failed precondition when the task is not waiting.
    pub(crate) async fn delete_flow(&self, queue: &str, id: &str) -> Result<usize> {
        let (code, children) = self.delete_waiting(queue, id).await?;
        match code {
            1 => {}
            0 => return Err(super::inspect::task_not_found()),
            _ => {
                return Err(Error::new(
                    Kind::FailedPrecondition,
                    format!("task {id:?} is not waiting for children: it is not a waiting flow"),
                ));
            }
        }
        let mut deleted = 1;
        for (q, c) in children {
            deleted += self.delete_member(&q, &c).await;
        }
        Ok(deleted)
    }

    /// Deletes one member of a deleted flow (and its own waiting flow); 0 when it is gone
    /// or running.
    async fn delete_member(&self, queue: &str, id: &str) -> usize {
        match self.delete_task_or_flow(queue, id).await {
            Ok(n) => n,
            // Gone, or active: it finishes and its outcome changes nothing.
            Err(e)
                if e.is_not_found() || e.kind() == crate::error::ErrorKind::FailedPrecondition =>
            {
                0
            }
            Err(e) => {
                tracing::warn!(error = %e, task = %id, "could not delete a flow member");
                0
            }
        }
    }

    /// Success of a flow member, with or without retention (see `flow_done.lua`), then the
    /// delivery of its event.
    ///
    /// Fails with a task-not-found error when the task is not in `active`.
    pub(crate) async fn flow_done(&self, msg: &TaskMessage, now: SystemTime) -> Result<()> {
        let event = self.record_flow_done(msg, now).await?;
        self.deliver_after(&msg.queue, event).await;
        Ok(())
    }

    /// The script of [`Rdb::flow_done`] alone: returns the event it left in the outbox
    /// (an empty string for none), not yet delivered.
    async fn record_flow_done(&self, msg: &TaskMessage, now: SystemTime) -> Result<Value> {
        let qk = self.keys.queue(&msg.queue);
        let stats = super::process::DailyStats::new(&qk, now);
        let now_s = unix_secs(now);
        let (score, completed) = if msg.retention > 0 {
            let completed = TaskMessage {
                completed_at: now_s,
                ..msg.clone()
            };
            (
                now_s.saturating_add(msg.retention).to_string(),
                encode_task_message(&completed),
            )
        } else {
            (String::new(), Vec::new())
        };
        let prefix = flow::parent_of(&msg.headers)
            .map(|p| event_prefix(&p))
            .unwrap_or_default();
        let mut inv = scripts::FLOW_DONE.prepare_invoke();
        inv.key(qk.active())
            .key(qk.lease())
            .key(qk.task(&msg.id))
            .key(&stats.processed)
            .key(qk.processed_total())
            .key(qk.completed())
            .key(qk.flow_events())
            .key(qk.flow(&msg.id));
        if let Some(lock) = self.unique_lock(&qk, msg) {
            inv.key(lock);
        }
        inv.arg(&msg.id)
            .arg(stats.expire_at)
            .arg(super::process::MAX_INT64)
            .arg(score)
            .arg(completed)
            .arg(prefix);
        let reply = inv.invoke_async(&mut self.conn()).await;
        super::process::script_value(reply, || {
            format!("done failed for task {:?} of queue {:?}", msg.id, msg.queue)
        })
    }

    /// Archive of a flow member (the archive script with its flow keys), then the delivery
    /// of its event. `encoded` is the message with the error recorded; `err` is what the
    /// parent is told; `lease_cutoff` guards recovery as in [`Rdb::archive_guarded`].
    pub(crate) async fn flow_archive(
        &self,
        msg: &TaskMessage,
        encoded: &[u8],
        err: &str,
        limits: ArchiveLimits,
        now: SystemTime,
        lease_cutoff: Option<i64>,
    ) -> Result<()> {
        let qk = self.keys.queue(&msg.queue);
        let max_age = i64::try_from(limits.max_age.as_secs()).unwrap_or(i64::MAX);
        let prefix = flow::parent_of(&msg.headers)
            .map(|p| event_prefix(&p))
            .unwrap_or_default();
        let mut inv = self.archive_invocation(
            &msg.queue,
            &msg.id,
            "msg",
            encoded,
            limits,
            now,
            lease_cutoff,
        );
        inv.key(qk.flow_events())
            .key(qk.flow(&msg.id))
            .arg(prefix)
            .arg(err)
            .arg(max_age.max(1));
        let reply = inv.invoke_async(&mut self.conn()).await;
        let event = super::process::script_value(reply, || {
            format!(
                "archive failed for task {:?} of queue {:?}",
                msg.id, msg.queue
            )
        })?;
        self.deliver_after(&msg.queue, event).await;
        Ok(())
    }

    /// Delivers the event a completion just wrote. A failure is only logged: the event stays
    /// in the outbox and the flow sweep delivers it.
    async fn deliver_after(&self, queue: &str, event: Value) {
        let event = match event {
            Value::BulkString(b) if !b.is_empty() => b,
            _ => return,
        };
        if let Err(e) = self.deliver_flow_event(queue, event).await {
            tracing::warn!(error = %e, queue, "could not deliver a flow event; the sweep will");
        }
    }

    /// Delivers one event of `queue`'s outbox to its parent, then removes it from the outbox;
    /// an event the parent's archive raised for its own parent is delivered the same way.
    pub(crate) async fn deliver_flow_event(&self, queue: &str, event: Vec<u8>) -> Result<()> {
        let mut next = Some((queue.to_string(), event));
        while let Some((outbox_queue, event)) = next.take() {
            if let Some(parsed) = parse_event(&event) {
                let cascaded = self.deliver_parsed(&parsed).await?;
                if !cascaded.is_empty() {
                    next = Some((parsed.parent_queue.clone(), cascaded));
                }
            } else {
                tracing::error!(queue = %outbox_queue, "dropping a corrupt flow event");
            }
            let _: i64 = redis::cmd("LREM")
                .arg(self.keys.queue(&outbox_queue).flow_events())
                .arg(1)
                .arg(&event)
                .query_async(&mut self.conn())
                .await
                .map_err(|e| Error::redis("could not remove a delivered flow event", e))?;
        }
        Ok(())
    }

    /// Runs the delivery script; returns the event the parent raised for its own parent.
    async fn deliver_parsed(&self, ev: &Event) -> Result<Vec<u8>> {
        let now = SystemTime::now();
        let qk = self.keys.queue(&ev.parent_queue);
        let outcome = [ev.outcome];
        let ttl = ArchiveLimits::default().max_age.as_secs().max(1);
        let (code, cascaded): (i64, Vec<u8>) = scripts::FLOW_DELIVER
            .key(qk.flow(&ev.parent_id))
            .key(qk.task(&ev.parent_id))
            .key(qk.waiting())
            .key(qk.pending())
            .key(qk.archived())
            .key(qk.flow_events())
            .key(qk.wake())
            .arg(&ev.parent_id)
            .arg(ev.index)
            .arg(&outcome[..])
            .arg(&ev.data)
            .arg(unix_secs(now))
            .arg(unix_nanos(now))
            .arg(ttl)
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| {
                Error::redis(
                    format!("could not deliver a flow event to {:?}", ev.parent_id),
                    e,
                )
            })?;
        if code == 2 {
            tracing::debug!(parent = %ev.parent_id, queue = %ev.parent_queue, "flow parent released");
        }
        Ok(cascaded)
    }

    /// Delivers up to `max` events left in `queue`'s outbox (by a server that stopped between
    /// a completion and its delivery). Returns how many were delivered.
    pub(crate) async fn sweep_flow_events(&self, queue: &str, max: usize) -> Result<usize> {
        let key = self.keys.queue(queue).flow_events();
        let events: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(&key)
            .arg(0)
            .arg(max.max(1) - 1)
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis("could not read flow events", e))?;
        let n = events.len();
        for event in events {
            self.deliver_flow_event(queue, event).await?;
        }
        Ok(n)
    }

    /// The finished children of a flow parent, in the order they were added.
    pub(crate) async fn flow_children(&self, queue: &str, id: &str) -> Result<Vec<ChildRecord>> {
        let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
            .arg(self.keys.queue(queue).flow(id))
            .query_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not read the flow of {id:?}"), e))?;
        let text = |k: &str| {
            fields
                .get(k)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let n: usize = text("children").and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let (Some(q), Some(c), Some(s)) = (
                text(&format!("q:{i}")),
                text(&format!("i:{i}")),
                text(&format!("s:{i}")),
            ) else {
                continue;
            };
            let data = fields.get(&format!("r:{i}")).cloned().unwrap_or_default();
            let outcome = match s.as_str() {
                "c" => Ok(Some(data)),
                "d" => Ok(None),
                "a" => Err(String::from_utf8_lossy(&data).into_owned()),
                _ => continue,
            };
            out.push(ChildRecord {
                queue: q,
                id: c,
                outcome,
            });
        }
        Ok(out)
    }

    /// One page of a queue's waiting flow parents, oldest first.
    pub(crate) async fn list_waiting(
        &self,
        queue: &str,
        page: super::inspect::Page,
    ) -> Result<Vec<WaitingRecord>> {
        self.check_queue(queue).await?;
        let Some((start, stop)) = page.range() else {
            return Ok(Vec::new());
        };
        let qk = self.keys.queue(queue);
        let reply: Vec<Option<Vec<u8>>> = scripts::FLOW_LIST_WAITING
            .key(qk.waiting())
            .arg(start)
            .arg(stop)
            .arg(qk.task_prefix())
            .arg(qk.flow_prefix())
            .invoke_async(&mut self.conn())
            .await
            .map_err(|e| Error::redis(format!("could not list waiting tasks of {queue:?}"), e))?;
        let text = |v: &Option<Vec<u8>>| {
            v.as_deref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        let mut out = Vec::new();
        for row in reply.chunks(7) {
            let [_id, msg, score, children, left, policy, unfinished] = row else {
                return Err(Error::corrupt("unexpected reply from flow_list_waiting"));
            };
            out.push(WaitingRecord {
                msg: msg
                    .as_deref()
                    .map(super::proto::decode_task_message)
                    .transpose()?,
                since: text(score).parse::<f64>().unwrap_or(0.0) as i64,
                children: text(children).parse().unwrap_or(0),
                left: text(left).parse().unwrap_or(0),
                policy: text(policy),
                unfinished: netstrings(unfinished.as_deref().unwrap_or_default())
                    .unwrap_or_default()
                    .chunks(2)
                    .filter_map(|p| match p {
                        [q, id] => Some((
                            String::from_utf8_lossy(q).into_owned(),
                            String::from_utf8_lossy(id).into_owned(),
                        )),
                        _ => None,
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let p = ParentRef {
            queue: "q:with:colons".into(),
            id: "id,1".into(),
            index: 12,
        };
        let mut ev = event_prefix(&p);
        netstring(&mut ev, b"c");
        netstring(&mut ev, b"\x00bin,ary:");
        let parsed = parse_event(&ev).expect("parses");
        assert_eq!(parsed.parent_queue, "q:with:colons");
        assert_eq!(parsed.parent_id, "id,1");
        assert_eq!(parsed.index, 12);
        assert_eq!(parsed.outcome, b'c');
        assert_eq!(parsed.data, b"\x00bin,ary:");
        assert!(parse_event(b"3:abc").is_none());
        assert!(parse_event(b"1:a,").is_none());
        assert!(parse_event(b"99:a,").is_none());
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod redis_tests;
