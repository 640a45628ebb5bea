//! The completer: writes successful completions in batches (decision D12).
//!
//! Workers hand finished tasks over and wait for the outcome. The completer takes whatever
//! has queued up (without waiting for more, so a lone task is written at once) and writes it
//! with one script call per queue, all in one round trip. Under load many tasks share a call,
//! which divides Redis's per-call cost. A worker that may take another task of the same queue
//! hands its slot over with its completion; the same call then takes that many pending tasks
//! (with their leases) and they start on the handed-over slots, so a busy server needs about
//! one call per task batch instead of two.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::processor::work;
use super::{ActiveTask, Shared};
use crate::error::{Error, Kind, Result};
use crate::handler::BoxHandler;
use crate::rdb::proto::TaskMessage;

/// Most tasks written in one batch.
const MAX_BATCH: usize = 256;

struct Item {
    task: Arc<ActiveTask>,
    /// The worker's slot, when it may run another task of this queue.
    slot: Option<OwnedSemaphorePermit>,
    reply: oneshot::Sender<Result<()>>,
}

pub(crate) struct Completer {
    tx: mpsc::UnboundedSender<Item>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Item>>>,
}

impl Completer {
    pub(crate) fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Completer {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Records the success of an active task without retention, batched with others. With a
    /// `slot`, a pending task of the same queue may be taken and started on it.
    pub(crate) async fn done(
        &self,
        task: Arc<ActiveTask>,
        slot: Option<OwnedSemaphorePermit>,
    ) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Item { task, slot, reply }).is_err() {
            return Err(Error::new(Kind::Closed, "the completer has stopped"));
        }
        rx.await
            .unwrap_or_else(|_| Err(Error::new(Kind::Closed, "the completer has stopped")))
    }
}

/// What the completer needs to start the tasks it takes.
pub(crate) struct Starter {
    pub(crate) handler: BoxHandler,
    pub(crate) stop: CancellationToken,
    pub(crate) abort: CancellationToken,
}

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken, starter: Starter) {
    let Some(mut rx) = shared.completer.rx.lock().ok().and_then(|mut r| r.take()) else {
        return;
    };
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item {
                Some(i) => i,
                None => return,
            },
            _ = done.cancelled() => break,
        };
        write_batch(&shared, &starter, &mut rx, first).await;
    }
    // Workers wait for their outcome before they finish, so nothing should be left; write
    // whatever is, to be safe.
    while let Ok(item) = rx.try_recv() {
        write_batch(&shared, &starter, &mut rx, item).await;
    }
}

async fn write_batch(
    shared: &Arc<Shared>,
    starter: &Starter,
    rx: &mut mpsc::UnboundedReceiver<Item>,
    first: Item,
) {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    let msgs: Vec<&TaskMessage> = batch.iter().map(|i| &i.task.msg).collect();
    // Once the server stops taking tasks, slots are only given back.
    let taking = !starter.stop.is_cancelled();
    let take = |q: &str| {
        if taking {
            batch
                .iter()
                .filter(|i| i.slot.is_some() && i.task.msg.queue == q)
                .count()
        } else {
            0
        }
    };
    let now = SystemTime::now();
    let lease_until = crate::core::time::unix_secs(crate::core::time::add_saturating(
        now,
        shared.config.lease_duration,
    ));
    let res = shared.rdb.done_many(&msgs, take, lease_until, now).await;
    let (results, taken) = match res {
        Ok(r) => r,
        Err(e) => (
            msgs.iter().map(|_| Err(e.clone_kind())).collect(),
            Vec::new(),
        ),
    };
    let mut slots: Vec<(String, OwnedSemaphorePermit)> = Vec::new();
    for (item, res) in batch.into_iter().zip(results) {
        if let Some(slot) = item.slot {
            slots.push((item.task.msg.queue.clone(), slot));
        }
        let _ = item.reply.send(res);
    }
    for d in taken {
        let Some(pos) = slots.iter().position(|(q, _)| *q == d.queue) else {
            // Never more tasks than slots are asked for; if it happens, put it back.
            if let Ok(msg) = crate::rdb::proto::decode_task_message(&d.msg)
                && let Err(e) = shared.rdb.requeue(&msg, SystemTime::now()).await
            {
                shared.redis_error("could not return a task to its queue", &e);
            }
            continue;
        };
        let (_, slot) = slots.swap_remove(pos);
        let (shared, handler) = (shared.clone(), starter.handler.clone());
        let (stop, abort) = (starter.stop.clone(), starter.abort.clone());
        tokio::spawn(async move { work(shared, handler, d, slot, stop, abort).await });
    }
    // Slots not used again are released here.
}
