//! The processor: picks queues by priority, dequeues tasks with a lease and starts a worker
//! for each; the workers run them and record the outcome.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::priority::queue_order;
use super::state::{ServerLimits, Shared};
use super::worker::Workers;
use crate::core::time;
use crate::error::Error;
use crate::rdb::{Dequeued, Hold};
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
    // Queues held back by their own limit, until when (skipped by fetches meanwhile).
    let mut holds = Holds::default();
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
        let (tasks, failure) = fetch(shared, slots, &mut holds).await;
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
            // Every queue ran dry (or is paused, or held back by a limit): idle until woken,
            // or until a held-back queue may start a task again.
            if !idle(shared, stop, interval, &holds).await {
                return;
            }
            woken = true;
        }
    }
}

/// Waits until the waker wakes the processor (new work arrived), or, every
/// interval/2 + [0, interval) like asynq's poll, a cheap probe finds pending tasks (enqueued
/// by Go clients, which push no wake-up marker). Returns false when the processor must stop.
///
/// With queues held back by a limit, it also returns when the earliest of them may start a
/// task again (the time the limit-aware script gave), and the probe skips them.
async fn idle(
    shared: &Shared,
    stop: &CancellationToken,
    interval: Duration,
    holds: &Holds,
) -> bool {
    let _idle = IdleFlag::raise(shared);
    let recheck = holds.recheck;
    let recheck_at = async {
        match recheck {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(recheck_at);
    loop {
        let half = interval / 2;
        let jitter = rand::rng().random_range(0..=interval.as_millis().max(1) as u64);
        tokio::select! {
            _ = stop.cancelled() => return false,
            _ = shared.wake_processor.notified() => return true,
            _ = &mut recheck_at => return true,
            _ = tokio::time::sleep(half + Duration::from_millis(jitter)) => {}
        }
        let probe;
        let queues = if holds.queues.is_empty() {
            &shared.queues
        } else {
            let now = Instant::now();
            probe = shared
                .queues
                .iter()
                .filter(|q| !holds.holds(q, now))
                .cloned()
                .collect::<Vec<_>>();
            if probe.is_empty() {
                continue;
            }
            &probe
        };
        match shared.rdb.any_pending(queues).await {
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
async fn fetch(shared: &Shared, slots: usize, holds: &mut Holds) -> (Vec<Dequeued>, Option<Error>) {
    let lease_secs = time::lease_secs(shared.config.lease_duration);
    let limits = shared.limits();
    let now = Instant::now();
    holds.recheck = None;
    holds.queues.retain(|_, until| *until > now);
    let unheld;
    let queues = if holds.queues.is_empty() {
        &shared.config.queues
    } else {
        unheld = shared
            .config
            .queues
            .iter()
            .filter(|(q, _)| !holds.queues.contains_key(*q))
            .map(|(q, p)| (q.clone(), *p))
            .collect::<BTreeMap<_, _>>();
        holds.recheck = holds.queues.values().min().copied();
        if unheld.is_empty() {
            return (Vec::new(), None);
        }
        &unheld
    };
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
        .map(|(q, n)| take(shared, &limits, q, lease_secs, *n));
    let results = futures_util::future::join_all(calls).await;
    let mut failure = None;
    for ((q, n), res) in wanted.into_iter().zip(results) {
        match res {
            Ok((tasks, hold)) => {
                dequeued(shared, &q, tasks.len());
                holds.note(&q, &hold, tasks.len() < n);
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
            match take(shared, &limits, &q, lease_secs, need).await {
                Ok((tasks, hold)) => {
                    dequeued(shared, &q, tasks.len());
                    holds.note(&q, &hold, tasks.len() < need);
                    got.extend(tasks);
                }
                Err(e) => return (got, Some(e)),
            }
        }
    }
    (got, None)
}

/// One dequeue call: the limit-aware script for a queue with limits, else the plain one.
async fn take(
    shared: &Shared,
    limits: &ServerLimits,
    queue: &str,
    lease_secs: i64,
    n: usize,
) -> Result<(Vec<Dequeued>, Hold), Error> {
    match limits.queue(queue) {
        None => shared
            .rdb
            .dequeue_many(queue, lease_secs, n)
            .await
            .map(|t| (t, Hold::default())),
        Some(l) => shared.rdb.dequeue_limited(queue, lease_secs, n, l).await,
    }
}

/// How long a queue held back by a concurrency limit waits before trying again: a slot is
/// freed when a task ends on any server, which this server is not told about (its own
/// workers take the next task when they finish, in the completion script).
const CONCURRENCY_RECHECK: Duration = Duration::from_millis(100);

/// What the limits held back, as seen by this processor.
#[derive(Debug, Default)]
struct Holds {
    /// Queues held back by their own limit: skipped until then.
    queues: HashMap<String, Instant>,
    /// The earliest time a held-back task may start (queue or type limit).
    recheck: Option<Instant>,
}

impl Holds {
    fn holds(&self, queue: &str, now: Instant) -> bool {
        self.queues.get(queue).is_some_and(|until| *until > now)
    }

    /// Records what held a dequeue call back (`short`: it took fewer tasks than asked for).
    fn note(&mut self, queue: &str, hold: &Hold, short: bool) {
        if !short || !hold.any() {
            return;
        }
        let mut wait = hold.wait_ms.map(Duration::from_millis);
        if hold.concurrency {
            wait = Some(wait.map_or(CONCURRENCY_RECHECK, |w| w.min(CONCURRENCY_RECHECK)));
        }
        let Some(wait) = wait.filter(|w| !w.is_zero()) else {
            // The script stopped early (it moved many held tasks aside): call again now.
            self.recheck = Some(Instant::now());
            return;
        };
        let at = Instant::now() + wait;
        if hold.queue {
            self.queues.insert(queue.to_string(), at);
        }
        self.recheck = Some(self.recheck.map_or(at, |r| r.min(at)));
    }
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
