//! The completer: writes successful completions in batches.
//!
//! Workers hand finished tasks over and wait for the outcome. The completer takes whatever
//! has queued up (without waiting for more, so a lone task is written at once) and writes it
//! with one script call per queue, all in one round trip. Under load many tasks share a call,
//! which divides Redis's per-call cost. A worker that may take another task of the same queue
//! says so with its completion; the same call then takes that many pending tasks (with their
//! leases) and each such worker gets one back in its reply and runs it on its slot, so a busy
//! server needs about one call per task batch instead of two.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::linger;
use super::state::{ActiveTask, Shared};
use crate::core::time;
use crate::error::{Error, Kind, Result};
use crate::rdb::Dequeued;
use crate::rdb::proto::{TaskMessage, decode_task_message};
use crate::runtime::log::log_event;
use crate::runtime::metrics;

/// Most tasks written in one batch.
const MAX_BATCH: usize = 256;

struct Item {
    task: Arc<ActiveTask>,
    /// The worker may run another task of this queue on its slot.
    take_next: bool,
    reply: oneshot::Sender<Done>,
}

/// The completer's answer to a worker.
pub(crate) struct Done {
    pub(crate) result: Result<()>,
    /// A task taken for the worker's slot (only when it asked for one).
    pub(crate) next: Option<Dequeued>,
}

/// The workers' side of the completer. The channel is bounded by the server's concurrency:
/// each worker has at most one completion in flight.
#[derive(Clone)]
pub(crate) struct CompleterHandle {
    tx: mpsc::Sender<Item>,
}

/// The completer's side, kept by the server so a restarted completer finds its queue.
pub(crate) struct CompleterQueue {
    rx: Mutex<mpsc::Receiver<Item>>,
}

pub(crate) fn channel(concurrency: usize) -> (CompleterHandle, Arc<CompleterQueue>) {
    let (tx, rx) = mpsc::channel(concurrency.max(1));
    (
        CompleterHandle { tx },
        Arc::new(CompleterQueue { rx: Mutex::new(rx) }),
    )
}

impl CompleterHandle {
    /// Records the success of an active task without retention, batched with others. With
    /// `take_next`, a pending task of the same queue may come back with the reply.
    pub(crate) async fn done(&self, task: Arc<ActiveTask>, take_next: bool) -> Done {
        let stopped = || Done {
            result: Err(Error::new(Kind::Closed, "the completer has stopped")),
            next: None,
        };
        let (reply, rx) = oneshot::channel();
        let item = Item {
            task,
            take_next,
            reply,
        };
        if self.tx.send(item).await.is_err() {
            return stopped();
        }
        rx.await.unwrap_or_else(|_| stopped())
    }
}

/// Writes batches until `done`. `stop` (the server no longer takes tasks) turns off the
/// hand-over of new tasks.
pub(crate) async fn run(
    shared: Arc<Shared>,
    queue: Arc<CompleterQueue>,
    done: CancellationToken,
    stop: CancellationToken,
) {
    let mut rx = queue.rx.lock().await;
    let mut record = linger::Record::default();
    loop {
        let first = tokio::select! {
            item = rx.recv() => match item {
                Some(i) => i,
                None => return,
            },
            _ = done.cancelled() => break,
        };
        write_batch(&shared, &stop, &mut rx, first, &mut record).await;
    }
    // Workers wait for their outcome before they finish, so nothing should be left; write
    // whatever is, to be safe.
    while let Ok(item) = rx.try_recv() {
        write_batch(&shared, &stop, &mut rx, item, &mut record).await;
    }
}

async fn write_batch(
    shared: &Shared,
    stop: &CancellationToken,
    rx: &mut mpsc::Receiver<Item>,
    first: Item,
    record: &mut linger::Record,
) {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    let woken = linger(shared, stop, rx, &mut batch, record).await;
    let msgs: Vec<&TaskMessage> = batch.iter().map(|i| &i.task.msg).collect();
    // Once the server stops taking tasks, nothing new is handed over.
    let taking = !stop.is_cancelled();
    let take = |q: &str| {
        if taking {
            batch
                .iter()
                .filter(|i| i.take_next && i.task.msg.queue == q)
                .count()
        } else {
            0
        }
    };
    let now = SystemTime::now();
    let lease_secs = time::lease_secs(shared.config.lease_duration);
    let limits = shared.limits();
    let res = shared
        .rdb
        .done_many(
            &msgs,
            take,
            |q| limits.queue(q),
            lease_secs,
            now,
            woken.as_deref(),
        )
        .await;
    let failed = res.is_err();
    let (results, mut taken) = match res {
        Ok(r) => r,
        Err(e) => (
            msgs.iter().map(|_| Err(e.clone_kind())).collect(),
            Vec::new(),
        ),
    };
    let (count, handed_over) = (msgs.len(), taken.len());
    if let Some(q) = woken.as_deref() {
        if failed {
            // The wake-up this call answered is lost with it: let the processor fetch.
            shared.wake_processor.notify_one();
        } else if !taking {
            // Shutdown began after the wake-up was claimed, so this call took nothing: hand
            // the wake-up on to another idle server.
            if let Err(e) = shared.rdb.wake_one(q).await {
                shared.redis_error("could not hand a wake-up on", &e);
            }
        }
    }
    metrics::record_completion_batch(count);
    log_event!(
        shared.log,
        Debug,
        { count, handed_over },
        "completed {count} tasks in one batch and took {handed_over} more for their workers"
    );
    for (item, result) in batch.into_iter().zip(results) {
        let next = if item.take_next {
            taken
                .iter()
                .position(|d| d.queue == item.task.msg.queue)
                .map(|i| taken.swap_remove(i))
        } else {
            None
        };
        if let Err(unsent) = item.reply.send(Done { result, next }) {
            // The worker gave up waiting (its lease ran out): return its next task.
            if let Some(d) = unsent.next {
                requeue(shared, &d).await;
            }
        }
    }
    // Never more tasks than slots are asked for; if it happens, put them back.
    for d in taken {
        requeue(shared, &d).await;
    }
}

/// Holds a batch of lone completions while the processor is idle, until the next wake-up
/// of their queue (returns the queue: the write then takes the new task and answers the
/// wake-up), more completions of another kind, shutdown, or [`Config::completion_linger`]
/// (see `linger`).
///
/// [`Config::completion_linger`]: crate::Config::completion_linger
async fn linger(
    shared: &Shared,
    stop: &CancellationToken,
    rx: &mut mpsc::Receiver<Item>,
    batch: &mut Vec<Item>,
    record: &mut linger::Record,
) -> Option<String> {
    let wait = shared.config.completion_linger;
    if wait.is_zero()
        || stop.is_cancelled()
        || !*shared.processor_idle.borrow()
        || !record.worth_waiting(Instant::now())
    {
        return None;
    }
    // Only completions that would take the next task of one queue gain from waiting.
    let queue = batch[0].task.msg.queue.clone();
    if !batch
        .iter()
        .all(|i| i.take_next && i.task.msg.queue == queue)
    {
        return None;
    }
    let mut claimed = shared.linger.offer(&queue);
    let count = batch.len();
    log_event!(
        shared.log,
        Debug,
        { "task.queue" = &*queue, count },
        "holding {count} completions of queue {queue:?} for its next task"
    );
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    let mut expired = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut claimed => {
                record.note(true, Instant::now());
                return Some(queue);
            }
            _ = stop.cancelled() => break,
            _ = &mut deadline => {
                expired = true;
                break;
            }
            item = rx.recv() => match item {
                Some(i) => {
                    let same = i.take_next && i.task.msg.queue == queue;
                    batch.push(i);
                    if !same || batch.len() >= MAX_BATCH {
                        break;
                    }
                }
                None => break,
            },
        }
    }
    // A claim that raced the end of the wait still stands: the write takes its task.
    let answered = !shared.linger.withdraw();
    if answered || expired {
        record.note(answered, Instant::now());
    }
    answered.then_some(queue)
}

/// Returns a task taken for a slot that cannot run it to the front of its queue.
async fn requeue(shared: &Shared, d: &Dequeued) {
    let res = match decode_task_message(&d.msg) {
        Ok(msg) => shared.rdb.requeue(&msg, SystemTime::now()).await,
        // The recoverer archives it once its lease expires.
        Err(e) => Err(e),
    };
    if let Err(e) = res {
        shared.redis_error("could not return a task to its queue", &e);
    }
}
