//! The processor: picks queues by priority, dequeues tasks with a lease and starts a worker
//! for each; the workers run them and record the outcome.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::priority::queue_order;
use super::state::Shared;
use super::worker::Workers;
use crate::core::time;
use crate::error::Error;
use crate::rdb::Dequeued;
use crate::runtime::log::log_event;
use crate::runtime::metrics;
use crate::runtime::sleep_or;

/// Most tasks taken in one dequeue call.
const MAX_FETCH: usize = 64;

/// The dispatch loop: one permit per running task. It takes as many tasks per round trip as
/// there are free permits, and when every queue is empty it sleeps until a
/// redisq client wakes it or the task check interval passes (tasks enqueued
/// by Go clients are found then).
pub(crate) async fn run(workers: Arc<Workers>, semaphore: Arc<Semaphore>) {
    let (shared, stop) = (&workers.shared, &workers.stop);
    let interval = shared.config.task_check_interval;
    // Whether the last fetch filled every free slot (more tasks are likely waiting).
    let mut backlog = false;
    // Whether this fetch is the first after an idle period.
    let mut woken = false;
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            p = semaphore.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        if stop.is_cancelled() {
            return;
        }
        if backlog {
            // Tasks are waiting: let workers that are about to finish free their slots first,
            // so one dequeue call takes several tasks instead of one.
            tokio::task::yield_now().await;
        }
        let mut permits = vec![first];
        while permits.len() < MAX_FETCH {
            match semaphore.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        let slots = permits.len();
        // Tasks that were taken always run, even when another call of the same fetch failed:
        // they are active with a lease already.
        let (tasks, failure) = fetch(shared, slots).await;
        let dry = tasks.len() < slots;
        if woken && !dry {
            // This server was woken and more work may wait than it can take: wake another
            // idle server (the waker takes one server per marker).
            relay(shared, &tasks);
        }
        woken = false;
        backlog = !dry;
        for d in tasks {
            let Some(permit) = permits.pop() else { break };
            workers.spawn(d, permit);
        }
        drop(permits);
        if let Some(e) = failure {
            shared.redis_error("could not dequeue a task", &e);
            // Back off instead of spinning while Redis is unreachable.
            sleep_or(stop, interval.min(Duration::from_secs(1))).await;
        } else if dry {
            // Every queue ran dry (or is paused): idle until woken.
            if !idle(shared, stop, interval).await {
                return;
            }
            woken = true;
        }
    }
}

/// Waits until the waker wakes the processor (new work arrived), or, every
/// interval/2 + [0, interval) like asynq's poll, a cheap probe finds pending tasks (enqueued
/// by Go clients, which push no wake-up marker). Returns false when the processor must stop.
async fn idle(shared: &Shared, stop: &CancellationToken, interval: Duration) -> bool {
    let _idle = IdleFlag::raise(shared);
    loop {
        let half = interval / 2;
        let jitter = rand::rng().random_range(0..=interval.as_millis().max(1) as u64);
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = shared.wake_processor.notified() => return true,
            _ = tokio::time::sleep(half + Duration::from_millis(jitter)) => {}
        }
        match shared.rdb.any_pending(&shared.queues).await {
            Ok(false) => {}
            Ok(true) => return true,
            Err(e) => {
                shared.redis_error("could not check the queues", &e);
                return true;
            }
        }
    }
}

/// Hands a wake-up on for each queue this fetch took tasks from, in the background.
fn relay(shared: &Arc<Shared>, tasks: &[Dequeued]) {
    let mut queues: Vec<String> = Vec::new();
    for t in tasks {
        if !queues.contains(&t.queue) {
            queues.push(t.queue.clone());
        }
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        for q in queues {
            if let Err(e) = shared.rdb.wake_one(&q).await {
                shared.redis_error("could not wake another server", &e);
            }
        }
    });
}

/// Marks the processor idle while it lives, so the waker listens only then.
struct IdleFlag<'a>(&'a Shared);

impl<'a> IdleFlag<'a> {
    fn raise(shared: &'a Shared) -> Self {
        shared.processor_idle.send_replace(true);
        IdleFlag(shared)
    }
}

impl Drop for IdleFlag<'_> {
    fn drop(&mut self) {
        self.0.processor_idle.send_replace(false);
    }
}

/// Takes up to `slots` tasks. Each slot picks its queue by priority on its own, so batching
/// keeps the weighted shares; slots whose queue ran dry are filled from the others in
/// priority order.
///
/// Returns the tasks taken and, if a call failed, its error (the other calls' tasks are kept).
async fn fetch(shared: &Shared, slots: usize) -> (Vec<Dequeued>, Option<Error>) {
    let lease_until = time::unix_secs(time::add_saturating(
        SystemTime::now(),
        shared.config.lease_duration,
    ));
    let queues = &shared.config.queues;
    let mut wanted: Vec<(String, usize)> = Vec::new();
    if queues.len() == 1 || shared.config.strict_priority {
        let first = queue_order(queues, shared.config.strict_priority).swap_remove(0);
        wanted.push((first, slots));
    } else {
        for _ in 0..slots {
            let q = queue_order(queues, false).swap_remove(0);
            match wanted.iter_mut().find(|(w, _)| *w == q) {
                Some((_, n)) => *n += 1,
                None => wanted.push((q, 1)),
            }
        }
    }
    let mut got = Vec::with_capacity(slots);
    // Queues that gave fewer tasks than asked for are empty or paused for now.
    let mut dry: Vec<String> = Vec::new();
    // One call per queue, sent together (one round trip on a multiplexed connection).
    let calls = wanted
        .iter()
        .map(|(q, n)| shared.rdb.dequeue_many(q, lease_until, *n));
    let results = futures_util::future::join_all(calls).await;
    let mut failure = None;
    for ((q, n), res) in wanted.into_iter().zip(results) {
        match res {
            Ok(tasks) => {
                dequeued(shared, &q, tasks.len());
                if tasks.len() < n {
                    dry.push(q);
                }
                got.extend(tasks);
            }
            Err(e) => failure = Some(e),
        }
    }
    if failure.is_some() {
        return (got, failure);
    }
    for q in queue_order(queues, shared.config.strict_priority) {
        let need = slots - got.len();
        if need == 0 {
            break;
        }
        if !dry.contains(&q) {
            match shared.rdb.dequeue_many(&q, lease_until, need).await {
                Ok(tasks) => {
                    dequeued(shared, &q, tasks.len());
                    got.extend(tasks);
                }
                Err(e) => return (got, Some(e)),
            }
        }
    }
    (got, None)
}

/// Logs a dequeue call that took tasks (level debug, with the queue and the count) and records
/// its batch size.
fn dequeued(shared: &Shared, queue: &str, count: usize) {
    metrics::record_fetch(queue, count);
    if count > 0 {
        log_event!(
            shared.log,
            Debug,
            { "task.queue" = queue, count },
            "dequeued {count} tasks from queue {queue:?}"
        );
    }
}
