//! The processor: picks queues by priority, dequeues tasks with a lease, runs each in its own
//! worker task, and records the outcome (spec §6.2, §6.3, §6.6, §6.7).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use rand::Rng;
use rand::seq::SliceRandom;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{ActiveTask, Shared};
use crate::core::time;
use crate::error::{Error, Result};
use crate::handler::{BoxHandler, HandlerError, ResultWriter, TaskContext};
use crate::option::DEFAULT_TIMEOUT;
use crate::rdb::proto::{TaskMessage, decode_task_message};
use crate::rdb::{Dequeued, Rdb};
use crate::runtime::sleep_or;
use crate::task::Task;

/// Error text of a task whose deadline passed (asynq/Go's `context.DeadlineExceeded`).
pub(crate) const DEADLINE_EXCEEDED: &str = "context deadline exceeded";
/// Error text of a task cancelled by an operator (decision D6).
pub(crate) const CANCELED: &str = "task canceled";
/// Error text of a task recovered after its lease expired (asynq's `ErrLeaseExpired`).
pub(crate) const LEASE_EXPIRED: &str = "asynq: task lease expired";

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
pub(crate) async fn run(
    shared: Arc<Shared>,
    handler: BoxHandler,
    semaphore: Arc<Semaphore>,
    stop: CancellationToken,
    abort: CancellationToken,
) {
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
        let (tasks, failure) = fetch(&shared, slots).await;
        let dry = tasks.len() < slots;
        backlog = !dry;
        for d in tasks {
            let Some(permit) = permits.pop() else { break };
            let (shared, handler) = (shared.clone(), handler.clone());
            let (stop, abort) = (stop.clone(), abort.clone());
            tokio::spawn(async move { work(shared, handler, d, permit, stop, abort).await });
        }
        drop(permits);
        if let Some(e) = failure {
            shared.redis_error("could not dequeue a task", &e);
            // Back off instead of spinning while Redis is unreachable.
            sleep_or(&stop, interval.min(Duration::from_secs(1))).await;
        } else if dry {
            // Every queue ran dry (or is paused): idle until woken.
            if !idle(&shared, &stop, interval).await {
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

/// How an attempt ended.
enum Outcome {
    Success,
    Failure(HandlerError),
    Canceled,
    LeaseLost,
    Aborted,
}

/// The deadline of an attempt: the earlier of start + timeout and the task's deadline.
pub(crate) fn attempt_deadline(msg: &TaskMessage, now: SystemTime) -> SystemTime {
    let by_timeout = (msg.timeout > 0)
        .then(|| time::add_saturating(now, Duration::from_secs(msg.timeout.unsigned_abs())));
    let by_deadline = (msg.deadline > 0).then(|| time::from_unix_secs(msg.deadline));
    match (by_timeout, by_deadline) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        // Messages always carry one of them; be safe with hand-made data.
        (None, None) => now + DEFAULT_TIMEOUT,
    }
}

pub(crate) fn task_of(msg: &TaskMessage) -> Task {
    Task::new(msg.r#type.clone(), Bytes::from(msg.payload.clone()))
        .with_headers(msg.headers.clone())
}

/// Runs one task on a worker slot and records its outcome.
pub(crate) async fn work(
    shared: Arc<Shared>,
    handler: BoxHandler,
    d: Dequeued,
    permit: OwnedSemaphorePermit,
    stop: CancellationToken,
    abort: CancellationToken,
) {
    let msg = match decode_task_message(&d.msg) {
        Ok(m) => m,
        Err(e) => {
            let err = format!("corrupt task message: {e}");
            shared.log.error(format_args!(
                "archiving task {} in queue {:?}: {err}",
                d.id, d.queue
            ));
            let limits = shared.config.archive_limits_value();
            if let Err(e) = shared
                .rdb
                .archive_corrupt(&d.queue, &d.id, &err, limits, SystemTime::now())
                .await
            {
                shared.redis_error("could not archive a corrupt task", &e);
            }
            return;
        }
    };
    let now = SystemTime::now();
    let deadline = attempt_deadline(&msg, now);
    let task = task_of(&msg);
    let key = (msg.queue.clone(), msg.id.clone());
    let (retry_count, max_retry) = (
        msg.retried.max(0).unsigned_abs(),
        msg.retry.max(0).unsigned_abs(),
    );
    let active = Arc::new(ActiveTask {
        msg,
        started: now,
        deadline,
        lease_until: Mutex::new(Instant::now() + shared.config.lease_duration),
        lease_lost: CancellationToken::new(),
        cancelled: CancellationToken::new(),
    });
    if let Ok(mut a) = shared.active.lock() {
        a.insert(key.clone(), active.clone());
    }
    let cancel = CancellationToken::new();
    let ctx = TaskContext {
        id: key.1.clone(),
        queue: key.0.clone(),
        retry_count,
        max_retry,
        deadline,
        cancel: cancel.clone(),
        data: shared.config.data.clone(),
        writer: ResultWriter {
            rdb: Some(shared.rdb.clone()),
            queue: key.0.clone(),
            id: key.1.clone(),
            cancel: cancel.clone(),
        },
    };
    let outcome = run_attempt(
        &handler,
        ctx.clone(),
        task.clone(),
        &active,
        &abort,
        deadline,
    )
    .await;
    cancel.cancel();
    // The slot may go straight on to the next task of this queue when that is what the
    // dispatcher would pick anyway: the server has one queue, or strict priority and this is
    // its first queue. (With weighted queues every slot's queue is drawn by the dispatcher, so
    // the shares hold.)
    let mut slot = Some(permit);
    let config = &shared.config;
    let next_here = !stop.is_cancelled()
        && (config.queues.len() == 1
            || (config.strict_priority
                && queue_order(&config.queues, true).first() == Some(&key.0)));
    finish(
        &shared,
        &active,
        &ctx,
        &task,
        outcome,
        next_here.then_some(&mut slot),
    )
    .await;
    if let Ok(mut a) = shared.active.lock() {
        a.remove(&key);
    }
    drop(slot);
}

async fn run_attempt(
    handler: &BoxHandler,
    ctx: TaskContext,
    task: Task,
    active: &ActiveTask,
    abort: &CancellationToken,
    deadline: SystemTime,
) -> Outcome {
    let remaining = deadline
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    if remaining.is_zero() {
        return Outcome::Failure(HandlerError::msg(DEADLINE_EXCEEDED));
    }
    let cancel = ctx.cancel.clone();
    // A task of its own, so a panic is caught by the runtime and the attempt can be aborted.
    let mut handle = tokio::spawn(handler.process_task(ctx, task));
    let outcome = tokio::select! {
        biased;
        res = &mut handle => return match res {
            Ok(Ok(())) => Outcome::Success,
            Ok(Err(e)) => Outcome::Failure(e),
            Err(e) if e.is_panic() => Outcome::Failure(HandlerError::panic(format!(
                "panic error cause by: panic: {}",
                panic_message(e.into_panic())
            ))),
            Err(_) => Outcome::Failure(HandlerError::msg("handler task was aborted")),
        },
        _ = abort.cancelled() => Outcome::Aborted,
        _ = active.lease_lost.cancelled() => Outcome::LeaseLost,
        _ = active.cancelled.cancelled() => Outcome::Canceled,
        _ = tokio::time::sleep(remaining) => Outcome::Failure(HandlerError::msg(DEADLINE_EXCEEDED)),
    };
    // The attempt is over: tell the handler, then stop it so that a retry never runs beside it.
    cancel.cancel();
    handle.abort();
    outcome
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(p) => match p.downcast::<&'static str>() {
            Ok(s) => (*s).to_string(),
            Err(_) => "non-string panic payload".to_string(),
        },
    }
}

/// Records an attempt's outcome in Redis (spec §6.3, decision D6).
async fn finish(
    shared: &Arc<Shared>,
    active: &Arc<ActiveTask>,
    ctx: &TaskContext,
    task: &Task,
    outcome: Outcome,
    slot: Option<&mut Option<OwnedSemaphorePermit>>,
) {
    let msg = &active.msg;
    let (err, cause) = match outcome {
        Outcome::Success => {
            if msg.retention > 0 {
                write(shared, active, Op::Complete).await;
            } else {
                write_done(shared, active, slot.and_then(|s| s.take())).await;
            }
            return;
        }
        Outcome::Aborted => {
            write(shared, active, Op::Requeue).await;
            return;
        }
        Outcome::Failure(e) => (e, Failure::Handler),
        Outcome::Canceled => (HandlerError::msg(CANCELED), Failure::Canceled),
        Outcome::LeaseLost => (HandlerError::msg(LEASE_EXPIRED), Failure::LeaseLost),
    };
    if err.is_panic() {
        shared.log.error(format_args!(
            "task {} ({}) panicked: {err}",
            msg.id, msg.r#type
        ));
    }
    // The error handler sees every failure, whatever happens to the task next.
    if let Some(h) = &shared.config.error_handler {
        h(ctx, task, &err);
    }
    let op = match cause {
        Failure::LeaseLost => {
            // The lease is gone: a recoverer owns the task now.
            shared.log.warn(format_args!(
                "task {} lost its lease; leaving it to the recoverer",
                msg.id
            ));
            return;
        }
        // Decision D6: an operator's cancel archives the task instead of retrying it.
        Failure::Canceled => Op::Archive(err.to_string()),
        _ if err.is_revoke() => Op::Done,
        _ if err.is_skip_retry() || msg.retried >= msg.retry => Op::Archive(err.to_string()),
        _ => {
            let retried = msg.retried.max(0).unsigned_abs();
            let delay = (shared.config.retry_delay)(retried, &err, task);
            Op::Retry {
                at: time::add_saturating(SystemTime::now(), delay),
                err: err.to_string(),
                is_failure: (shared.config.is_failure)(&err),
            }
        }
    };
    shared.log.debug(format_args!(
        "task {} ({}) failed: {err}",
        msg.id, msg.r#type
    ));
    let retry = matches!(op, Op::Retry { .. });
    write(shared, active, op).await;
    if retry {
        // The forwarder sleeps until the earliest due task it knows of; this one may be sooner.
        shared.wake_forwarder.notify_one();
    }
}

/// Why an attempt failed, which decides what happens to the task.
enum Failure {
    /// The handler returned an error, panicked or ran past its deadline.
    Handler,
    /// An operator cancelled it (decision D6).
    Canceled,
    /// Its lease could not be extended in time.
    LeaseLost,
}

/// A state transition after an attempt.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    Done,
    Complete,
    Requeue,
    Retry {
        at: SystemTime,
        err: String,
        is_failure: bool,
    },
    Archive(String),
}

impl Op {
    pub(crate) async fn apply(&self, shared: &Shared, rdb: &Rdb, msg: &TaskMessage) -> Result<()> {
        let now = SystemTime::now();
        match self {
            Op::Done => rdb.done(msg, now).await,
            Op::Complete => rdb.mark_complete(msg, now).await,
            Op::Requeue => rdb.requeue(msg, now).await,
            Op::Retry {
                at,
                err,
                is_failure,
            } => rdb.retry(msg, *at, err, *is_failure, now).await,
            Op::Archive(err) => {
                rdb.archive(msg, err, shared.config.archive_limits_value(), now)
                    .await
            }
        }
    }
}

/// Writes a transition while the lease is valid; a Redis failure goes to the syncer, which
/// retries until the lease would have expired.
async fn write(shared: &Arc<Shared>, active: &Arc<ActiveTask>, op: Op) {
    if !active.lease_valid() {
        shared.log.warn(format_args!(
            "lease of task {} expired; skipping the write (the recoverer will handle it)",
            active.msg.id
        ));
        return;
    }
    let remaining = active.lease_remaining();
    let res = tokio::time::timeout(remaining, op.apply(shared, &shared.rdb, &active.msg)).await;
    record(shared, active, op, remaining, res);
}

/// Writes a success without retention through the completer (batched, decision D12), handing
/// over the worker's slot when it may run another task of the queue.
async fn write_done(
    shared: &Arc<Shared>,
    active: &Arc<ActiveTask>,
    slot: Option<OwnedSemaphorePermit>,
) {
    if !active.lease_valid() {
        shared.log.warn(format_args!(
            "lease of task {} expired; skipping the write (the recoverer will handle it)",
            active.msg.id
        ));
        return;
    }
    let remaining = active.lease_remaining();
    let res = tokio::time::timeout(remaining, shared.completer.done(active.clone(), slot)).await;
    record(shared, active, Op::Done, remaining, res);
}

/// Logs the outcome of a write; a Redis failure goes to the syncer.
fn record(
    shared: &Arc<Shared>,
    active: &Arc<ActiveTask>,
    op: Op,
    remaining: Duration,
    res: std::result::Result<Result<()>, tokio::time::error::Elapsed>,
) {
    match res {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.is_not_found() => shared.log.warn(format_args!(
            "task {} is no longer active in queue {:?} ({e}); it was handled elsewhere",
            active.msg.id, active.msg.queue
        )),
        Ok(Err(e)) => {
            shared.redis_error("could not record a task's outcome; will retry", &e);
            shared
                .syncer
                .push(op, active.msg.clone(), Instant::now() + remaining);
        }
        Err(_) => {
            let e = Error::new(crate::error::Kind::Redis, "write timed out");
            shared.redis_error("could not record a task's outcome", &e);
        }
    }
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

    #[test]
    fn deadline_is_the_earlier_bound() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut m = TaskMessage {
            timeout: 60,
            ..Default::default()
        };
        assert_eq!(attempt_deadline(&m, now), now + Duration::from_secs(60));
        m.deadline = 1_000_030;
        assert_eq!(attempt_deadline(&m, now), now + Duration::from_secs(30));
        m.timeout = 0;
        assert_eq!(attempt_deadline(&m, now), now + Duration::from_secs(30));
        m.deadline = 0;
        assert_eq!(attempt_deadline(&m, now), now + DEFAULT_TIMEOUT);
    }
}
