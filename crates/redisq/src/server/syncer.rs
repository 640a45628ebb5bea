//! The syncer: retries state transitions whose write failed (Redis away), each until its
//! lease would have expired; after that the recoverer owns the task.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::outcome::Op;
use super::state::Shared;
use crate::rdb::proto::TaskMessage;
use crate::runtime::sleep_or;

const SYNC_INTERVAL: Duration = Duration::from_secs(5);

struct Pending {
    op: Op,
    msg: TaskMessage,
    deadline: Instant,
}

/// The queue of failed writes.
#[derive(Default)]
pub(crate) struct Syncer {
    pending: Mutex<Vec<Pending>>,
}

impl Syncer {
    pub(crate) fn new() -> Self {
        Syncer::default()
    }

    pub(crate) fn push(&self, op: Op, msg: TaskMessage, deadline: Instant) {
        if let Ok(mut p) = self.pending.lock() {
            p.push(Pending { op, msg, deadline });
        }
    }

    fn take(&self) -> Vec<Pending> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }
}

async fn flush(shared: &Shared, syncer: &Syncer) {
    let now = Instant::now();
    for p in syncer.take() {
        if p.deadline <= now {
            shared.log.warn(format_args!(
                "giving up writing the outcome of task {}: its lease expired",
                p.msg.id
            ));
            continue;
        }
        match p.op.apply(shared, &shared.rdb, &p.msg).await {
            Ok(()) => {}
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                shared.redis_error("syncer could not write a task's outcome", &e);
                syncer.push(p.op, p.msg, p.deadline);
            }
        }
    }
}

pub(crate) async fn run(shared: Arc<Shared>, syncer: Arc<Syncer>, done: CancellationToken) {
    while sleep_or(&done, SYNC_INTERVAL).await {
        flush(&shared, &syncer).await;
    }
    // One last try on shutdown.
    flush(&shared, &syncer).await;
}
