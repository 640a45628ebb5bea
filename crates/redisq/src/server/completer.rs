//! The completer: writes successful completions in batches (decision D12).
//!
//! Workers hand finished tasks over and wait for the outcome. The completer takes whatever
//! has queued up (without waiting for more, so a lone task is written at once) and writes it
//! with one script call per queue, all in one round trip. Under load many tasks share a call,
//! which divides Redis's per-call cost.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::Shared;
use crate::error::{Error, Kind, Result};
use crate::rdb::proto::TaskMessage;

/// Most tasks written in one batch.
const MAX_BATCH: usize = 256;

struct Item {
    msg: TaskMessage,
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

    /// Records the success of an active task without retention, batched with others.
    pub(crate) async fn done(&self, msg: TaskMessage) -> Result<()> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Item { msg, reply }).is_err() {
            return Err(Error::new(Kind::Closed, "the completer has stopped"));
        }
        rx.await
            .unwrap_or_else(|_| Err(Error::new(Kind::Closed, "the completer has stopped")))
    }
}

pub(crate) async fn run(shared: Arc<Shared>, done: CancellationToken) {
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
        write_batch(&shared, &mut rx, first).await;
    }
    // Workers wait for their outcome before they finish, so nothing should be left; write
    // whatever is, to be safe.
    while let Ok(item) = rx.try_recv() {
        write_batch(&shared, &mut rx, item).await;
    }
}

async fn write_batch(shared: &Shared, rx: &mut mpsc::UnboundedReceiver<Item>, first: Item) {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    let msgs: Vec<TaskMessage> = batch.iter().map(|i| i.msg.clone()).collect();
    match shared.rdb.done_many(&msgs, SystemTime::now()).await {
        Ok(results) => {
            for (item, res) in batch.into_iter().zip(results) {
                let _ = item.reply.send(res);
            }
        }
        Err(e) => {
            for item in batch {
                let _ = item.reply.send(Err(e.clone_kind()));
            }
        }
    }
}
