//! The processor: picks queues by priority, dequeues tasks with a lease and starts a worker
//! for each (spec §6.2, §6.6, §6.7); the workers run them and record the outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use rand::seq::SliceRandom;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use super::state::Shared;
use super::worker::Workers;
use crate::core::time;
use crate::error::Error;
use crate::rdb::Dequeued;
use crate::runtime::sleep_or;

/// Orders queues for one dequeue attempt.
pub(crate) fn queue_order(queues: &BTreeMap<String, u32>, strict: bool) -> Vec<String> {
    if queues.len() == 1 {
        return queues.keys().cloned().collect();
    }
    if strict {
        let mut v: Vec<(&String, &u32)> = queues.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        return v.into_iter().map(|(q, _)| q.clone()).collect();
    }
    // Weighted: each queue appears `priority / gcd` times; a uniform shuffle then keeps the
    // first occurrence of each, so queue q comes first with probability p_q / Σp.
    let g = queues.values().copied().fold(0, gcd).max(1);
    let mut slots: Vec<&String> = Vec::new();
    for (q, p) in queues {
        slots.extend(std::iter::repeat_n(q, (*p / g) as usize));
    }
    slots.shuffle(&mut rand::rng());
    let mut order: Vec<String> = Vec::with_capacity(queues.len());
    for q in slots {
        if !order.iter().any(|o| o == q) {
            order.push(q.clone());
        }
    }
    order
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// Most tasks taken in one dequeue call.
const MAX_FETCH: usize = 64;

/// The dispatch loop: one permit per running task. It takes as many tasks per round trip as
/// there are free permits (decision D12), and when every queue is empty it sleeps until a
/// redisq client wakes it (decision D10) or the task check interval passes (tasks enqueued
/// by Go clients are found then).
pub(crate) async fn run(workers: Arc<Workers>, semaphore: Arc<Semaphore>) {
    let (shared, stop) = (&workers.shared, &workers.stop);
    let interval = shared.config.task_check_interval;
    // Whether the last fetch filled every free slot (more tasks are likely waiting).
    let mut backlog = false;
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
        }
    }
}

/// Waits until a redisq client wakes the processor (decision D10), or, every
/// interval/2 + [0, interval) like asynq's poll, a cheap probe finds pending tasks (enqueued
/// by Go clients, which send no wake-up). Returns false when the processor must stop.
async fn idle(shared: &Shared, stop: &CancellationToken, interval: Duration) -> bool {
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
                Ok(tasks) => got.extend(tasks),
                Err(e) => return (got, Some(e)),
            }
        }
    }
    (got, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_order_is_by_priority() {
        let q = BTreeMap::from([
            ("low".to_string(), 1),
            ("critical".to_string(), 6),
            ("default".to_string(), 3),
        ]);
        assert_eq!(queue_order(&q, true), ["critical", "default", "low"]);
    }

    #[test]
    fn weighted_order_picks_first_by_weight() {
        let q = BTreeMap::from([
            ("a".to_string(), 6),
            ("b".to_string(), 3),
            ("c".to_string(), 1),
        ]);
        let mut first = BTreeMap::<String, u32>::new();
        let n = 20_000;
        for _ in 0..n {
            let o = queue_order(&q, false);
            assert_eq!(o.len(), 3);
            *first.entry(o[0].clone()).or_default() += 1;
        }
        let share = |k: &str| f64::from(first[k]) / f64::from(n);
        assert!((share("a") - 0.6).abs() < 0.03, "{first:?}");
        assert!((share("b") - 0.3).abs() < 0.03, "{first:?}");
        assert!((share("c") - 0.1).abs() < 0.03, "{first:?}");
    }
}
