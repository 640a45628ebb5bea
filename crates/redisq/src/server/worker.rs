//! A worker: runs one task on a slot, records its outcome, and goes straight on with the
//! next task of the same queue when the completer hands one over for its slot.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use futures_util::FutureExt;
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::field::Empty;
use tracing::{Instrument, Span};

use super::completer::CompleterHandle;
use super::config::default_retry_delay;
use super::outcome::{CANCELED, DEADLINE_EXCEEDED, LEASE_EXPIRED, Op, attempt_deadline, task_of};
use super::priority::queue_order;
use super::state::{ActiveTask, Shared};
use super::syncer::Syncer;
use crate::core::{flow, time};
use crate::error::{Error, Kind, Result};
use crate::flow::ChildResult;
use crate::handler::{BoxHandler, HandlerError, ResultWriter, TaskContext};
use crate::rdb::Dequeued;
use crate::rdb::proto::{TaskMessage, decode_task_message_shared};
use crate::runtime::log::log_event;
use crate::runtime::metrics;
use crate::runtime::supervise::{self, panic_message};
use crate::runtime::telemetry;
use crate::task::Task;

/// What every worker of a server needs.
pub(crate) struct Workers {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handler: BoxHandler,
    pub(crate) completer: CompleterHandle,
    pub(crate) syncer: Arc<Syncer>,
    /// Fired when the server stops taking tasks.
    pub(crate) stop: CancellationToken,
    /// Fired when running tasks must be abandoned (shutdown timeout): they are requeued.
    pub(crate) abort: CancellationToken,
    /// Every worker future, so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// The queue whose slots go straight on to its next task (see [`handover_queue`]).
    pub(crate) handover_queue: Option<String>,
}

/// The queue a worker may stay on after a success, taking its next task through the
/// completer: the dispatcher would pick it anyway when the server has one queue, or strict
/// priority and it is the first queue. With weighted queues every slot's queue is drawn by the
/// dispatcher, so the shares hold.
pub(crate) fn handover_queue(config: &super::config::Config) -> Option<String> {
    if config.queues.len() == 1 || config.strict_priority {
        queue_order(&config.queues, true).into_iter().next()
    } else {
        None
    }
}

impl Workers {
    /// Starts a worker on `slot` with its first task.
    pub(crate) fn spawn(self: &Arc<Self>, first: Dequeued, slot: OwnedSemaphorePermit) {
        let workers = self.clone();
        self.tracker.spawn(async move {
            let mut next = Some(first);
            while let Some(d) = next.take() {
                next = workers.run_one(d).await;
            }
            // The slot is released here, after the last task's outcome is written.
            drop(slot);
        });
    }

    /// Runs one task; returns the next task of its queue when the completer took one for
    /// this slot.
    async fn run_one(&self, d: Dequeued) -> Option<Dequeued> {
        let shared = &self.shared;
        let msg = match decode_task_message_shared(d.msg.clone()) {
            Ok(m) => m,
            Err(e) => {
                Box::pin(self.archive_corrupt(&d, &e)).await;
                return None;
            }
        };
        let now = SystemTime::now();
        let deadline = attempt_deadline(&msg, now);
        let task = task_of(&msg);
        let (retry_count, max_retry) = (
            msg.retried.max(0).unsigned_abs(),
            msg.retry.max(0).unsigned_abs(),
        );
        let span = attempt_span(&msg, retry_count, max_retry);
        let active = Arc::new(ActiveTask::new(
            msg,
            now,
            deadline,
            Instant::now() + shared.config.lease_duration,
        ));
        // Removes the task from the active set however this attempt ends (a panic included),
        // so the heartbeat never extends the lease of a task nobody works on.
        let entry = ActiveEntry::insert(shared, active.clone());
        let in_flight = metrics::in_flight(&active.msg.queue);
        // A flow parent reads its children's outcomes before it runs; a read that fails fails
        // the attempt (it is retried), so a handler never sees a partial list.
        let (children, children_err) = if flow::is_parent(&active.msg.headers) {
            match Box::pin(self.child_results(&active.msg.queue, &active.msg.id)).await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            }
        } else {
            (None, None)
        };
        // The handler's cancellation signal, fired once the worker has decided how the attempt
        // ends (never shared with `active.interrupt`: a handler that returns on cancellation
        // must not win the race against the reason it was cancelled for).
        let cancel = CancellationToken::new();
        let ctx = TaskContext {
            retry_count,
            max_retry,
            deadline,
            data: shared.config.data.clone(),
            writer: ResultWriter {
                rdb: Some(shared.rdb.clone()),
                queue: active.msg.queue.clone(),
                id: active.msg.id.clone(),
                cancel: cancel.clone(),
            },
            children,
        };
        // The handler takes the context and the task; a copy is kept only for the error
        // handler (the task is rebuilt from the message when a failure needs it).
        let err_ctx = shared.config.error_handler.as_ref().map(|_| ctx.clone());
        let next = async {
            let started = Instant::now();
            let outcome = match children_err {
                Some(e) => Outcome::Failure(HandlerError::msg(format!(
                    "could not read the flow's child results: {e}"
                ))),
                None => self.run_attempt(ctx, task, &active, deadline).await,
            };
            let report = Report {
                span: &span,
                msg: &active.msg,
                took: started.elapsed(),
            };
            cancel.cancel();
            // The slot may go straight on to the next task of this queue.
            let next_here = !self.stop.is_cancelled()
                && self.handover_queue.as_deref() == Some(&*active.msg.queue);
            self.finish(&active, err_ctx.as_ref(), outcome, next_here, &report)
                .await
        }
        .instrument(span.clone())
        .await;
        drop(entry);
        drop(in_flight);
        next
    }

    /// The outcomes of a flow parent's children, as its handler sees them.
    async fn child_results(&self, queue: &str, id: &str) -> Result<Arc<[ChildResult]>> {
        let records = self.shared.rdb.flow_children(queue, id).await?;
        Ok(records
            .into_iter()
            .map(|r| {
                let (result, error) = match r.outcome {
                    Ok(res) => (res.map(bytes::Bytes::from), None),
                    Err(e) => (None, Some(e)),
                };
                ChildResult {
                    queue: r.queue,
                    id: r.id,
                    result,
                    error,
                }
            })
            .collect())
    }

    async fn archive_corrupt(&self, d: &Dequeued, e: &Error) {
        let shared = &self.shared;
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
    }

    /// Runs the handler until it returns, the deadline passes, the task is cancelled or its
    /// lease is lost, or the server abandons running tasks.
    ///
    /// The handler future is polled by this worker (inside the attempt's span, so its own
    /// spans and events are children of it) rather than spawned as a task of its own: no
    /// spawn, no join handle and no timer for a handler that finishes at once. A panic, in
    /// `process_task` or while polling its future, is caught and fails the attempt; when the
    /// attempt ends for another reason, the context is cancelled and the future dropped here.
    async fn run_attempt(
        &self,
        ctx: TaskContext,
        task: Task,
        active: &ActiveTask,
        deadline: SystemTime,
    ) -> Outcome {
        let remaining = deadline
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        if remaining.is_zero() {
            return Outcome::Failure(HandlerError::msg(DEADLINE_EXCEEDED));
        }
        let cancel = ctx.writer.cancel.clone();
        let handler = &self.handler;
        let fut = match panic::catch_unwind(AssertUnwindSafe(|| handler.process_task(ctx, task))) {
            Ok(fut) => AssertUnwindSafe(fut).catch_unwind(),
            Err(p) => return Outcome::panicked(&*p),
        };
        let mut fut = std::pin::pin!(fut);
        let outcome = tokio::select! {
            biased;
            res = &mut fut => return match res {
                Ok(Ok(())) => Outcome::Success,
                Ok(Err(e)) => Outcome::Failure(e),
                Err(p) => Outcome::panicked(&*p),
            },
            _ = self.abort.cancelled() => Outcome::Aborted,
            _ = active.interrupt.cancelled() => if active.lease_was_lost() {
                Outcome::LeaseLost
            } else {
                Outcome::Canceled
            },
            // Made on first poll: a handler that finishes at once costs no timer.
            _ = async { tokio::time::sleep(remaining).await } => {
                Outcome::Failure(HandlerError::msg(DEADLINE_EXCEEDED))
            }
        };
        // The attempt is over: tell the handler; its future is dropped on return, so a retry
        // never runs beside it.
        cancel.cancel();
        outcome
    }

    /// Records an attempt's outcome in Redis. User callbacks that
    /// panic are logged and replaced by their defaults, so the task is always finished.
    async fn finish(
        &self,
        active: &Arc<ActiveTask>,
        ctx: Option<&TaskContext>,
        outcome: Outcome,
        next_here: bool,
        report: &Report<'_>,
    ) -> Option<Dequeued> {
        let shared = &self.shared;
        let msg = &active.msg;
        let (err, cause) = match outcome {
            Outcome::Success => {
                report.outcome("success");
                if msg.retention > 0 {
                    self.write(active, Op::Complete).await;
                    return None;
                }
                // Flow members complete alone, through the flow-aware script that also records
                // the outcome for the parent (never through the batched completer).
                if flow::is_member(&msg.headers) {
                    self.write(active, Op::Done).await;
                    return None;
                }
                return self.write_done(active, next_here).await;
            }
            Outcome::Aborted => {
                report.outcome("requeued");
                self.write(active, Op::Requeue).await;
                return None;
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
        // The task as the handler saw it, for the user's callbacks.
        let task = &task_of(msg);
        // The error handler sees every failure, whatever happens to the task next.
        if let (Some(h), Some(ctx)) = (&shared.config.error_handler, ctx) {
            let _ = supervise::call(&shared.log, "the error handler", || h(ctx, task, &err));
        }
        let op = match cause {
            Failure::LeaseLost => {
                report.failure("lease_lost", &err, true);
                // The lease is gone: a recoverer owns the task now.
                shared.log.warn(format_args!(
                    "task {} lost its lease; leaving it to the recoverer",
                    msg.id
                ));
                return None;
            }
            // Decision D6: an operator's cancel archives the task instead of retrying it.
            Failure::Canceled => Op::Archive(err.to_string()),
            _ if err.is_revoke() => Op::Done,
            _ if err.is_skip_retry() || msg.retried >= msg.retry => Op::Archive(err.to_string()),
            _ => {
                let retried = msg.retried.max(0).unsigned_abs();
                let delay = supervise::call(&shared.log, "the retry delay function", || {
                    (shared.config.retry_delay)(retried, &err, task)
                })
                .unwrap_or_else(|_| default_retry_delay(retried, &err, task));
                let is_failure = supervise::call(&shared.log, "the is-failure function", || {
                    (shared.config.is_failure)(&err)
                })
                .unwrap_or(true);
                Op::Retry {
                    at: time::add_saturating(SystemTime::now(), delay),
                    err: err.to_string(),
                    is_failure,
                }
            }
        };
        match (&op, cause) {
            (_, Failure::Canceled) => report.failure("canceled", &err, true),
            (Op::Done, _) => report.failure("revoked", &err, false),
            (Op::Archive(_), _) => report.failure("archived", &err, true),
            (Op::Retry { is_failure, .. }, _) => report.failure("retry", &err, *is_failure),
            _ => {}
        }
        log_event!(
            shared.log,
            Debug,
            { "task.id" = %msg.id, "task.type" = %msg.r#type, "task.error" = %err },
            "task {} ({}) failed: {err}",
            msg.id,
            msg.r#type
        );
        let retry = matches!(op, Op::Retry { .. });
        self.write(active, op).await;
        if retry {
            // The forwarder sleeps until the earliest due task it knows of; this one may be
            // sooner.
            shared.wake_forwarder.notify_one();
        }
        None
    }

    /// Writes a transition while the lease is valid; a Redis failure goes to the syncer,
    /// which retries until the lease would have expired.
    async fn write(&self, active: &Arc<ActiveTask>, op: Op) {
        let Some(remaining) = self.lease_left(active) else {
            return;
        };
        let shared = &self.shared;
        // Boxed: the Redis calls of every transition are large futures, and keeping them out
        // of line keeps the worker's own future (moved on each task) small.
        let res = Box::pin(tokio::time::timeout(
            remaining,
            op.apply(shared, &shared.rdb, &active.msg),
        ))
        .await;
        self.record(active, op, remaining, res);
    }

    /// Writes a success without retention through the completer (batched);
    /// with `take_next`, the completer may hand back the next task of the queue for this
    /// slot.
    async fn write_done(&self, active: &Arc<ActiveTask>, take_next: bool) -> Option<Dequeued> {
        let remaining = self.lease_left(active)?;
        let res =
            tokio::time::timeout(remaining, self.completer.done(active.clone(), take_next)).await;
        let (res, next) = match res {
            Ok(done) => (Ok(done.result), done.next),
            Err(elapsed) => (Err(elapsed), None),
        };
        self.record(active, Op::Done, remaining, res);
        next
    }

    /// How long the lease still runs, or `None` (with a warning) when it has expired.
    fn lease_left(&self, active: &ActiveTask) -> Option<Duration> {
        if let Some(left) = active.lease_left() {
            return Some(left);
        }
        self.shared.log.warn(format_args!(
            "lease of task {} expired; skipping the write (the recoverer will handle it)",
            active.msg.id
        ));
        None
    }

    /// Logs the outcome of a write; a Redis failure goes to the syncer.
    fn record(
        &self,
        active: &Arc<ActiveTask>,
        op: Op,
        remaining: Duration,
        res: std::result::Result<Result<()>, tokio::time::error::Elapsed>,
    ) {
        let shared = &self.shared;
        match res {
            Ok(Ok(())) => {}
            Ok(Err(e)) if e.is_not_found() => shared.log.warn(format_args!(
                "task {} is no longer active in queue {:?} ({e}); it was handled elsewhere",
                active.msg.id, active.msg.queue
            )),
            Ok(Err(e)) => {
                shared.redis_error("could not record a task's outcome; will retry", &e);
                self.syncer
                    .push(op, active.msg.clone(), Instant::now() + remaining);
            }
            Err(_) => {
                let e = Error::new(Kind::Redis, "write timed out");
                shared.redis_error("could not record a task's outcome", &e);
            }
        }
    }
}

/// The span of one attempt: `redisq.task` at level info with target `redisq`, a root span
/// (or, with the `opentelemetry` feature, the child of the trace context in the task's
/// headers) whatever span the server was started in. `task.outcome` and `task.error` are
/// recorded by [`Workers::finish`] once known.
fn attempt_span(msg: &TaskMessage, retry_count: u32, max_retry: u32) -> Span {
    let span = tracing::info_span!(
        target: "redisq",
        parent: None,
        "redisq.task",
        "task.id" = %msg.id,
        "task.type" = %msg.r#type,
        "task.queue" = %msg.queue,
        "task.retry" = retry_count,
        "task.max_retry" = max_retry,
        "task.outcome" = Empty,
        "task.error" = Empty,
        otel.kind = "consumer",
        otel.status_code = Empty,
    );
    if !span.is_disabled() && !msg.headers.is_empty() {
        telemetry::set_remote_parent(&span, &msg.headers);
    }
    span
}

/// Reports how an attempt ended, on its span and in the metrics.
struct Report<'a> {
    span: &'a Span,
    msg: &'a TaskMessage,
    /// How long the handler ran.
    took: Duration,
}

impl Report<'_> {
    /// Records an attempt's outcome.
    fn outcome(&self, outcome: &'static str) {
        self.span.record("task.outcome", outcome);
        self.metrics(outcome);
    }

    /// Records a failed attempt's outcome and error; `is_error` marks the span as failed for
    /// OpenTelemetry (a revoked task or a retry the is-failure function excuses is not).
    fn failure(&self, outcome: &'static str, err: &HandlerError, is_error: bool) {
        self.metrics(outcome);
        let span = self.span;
        if span.is_disabled() {
            return;
        }
        span.record("task.outcome", outcome);
        span.record("task.error", tracing::field::display(err));
        if is_error {
            span.record("otel.status_code", "error");
        }
    }

    fn metrics(&self, outcome: &'static str) {
        metrics::record_outcome(&self.msg.queue, &self.msg.r#type, outcome, self.took);
    }
}

/// How an attempt ended.
enum Outcome {
    Success,
    Failure(HandlerError),
    Canceled,
    LeaseLost,
    Aborted,
}

impl Outcome {
    /// The failure of a handler that panicked, with asynq's wording.
    fn panicked(payload: &(dyn std::any::Any + Send)) -> Self {
        Outcome::Failure(HandlerError::panic(format!(
            "panic error cause by: panic: {}",
            panic_message(payload)
        )))
    }
}

/// Why an attempt failed, which decides what happens to the task.
#[derive(Clone, Copy)]
enum Failure {
    /// The handler returned an error, panicked or ran past its deadline.
    Handler,
    /// An operator cancelled it.
    Canceled,
    /// Its lease could not be extended in time.
    LeaseLost,
}

/// A task's entry in the server's active set, removed when dropped.
struct ActiveEntry<'a> {
    shared: &'a Shared,
    key: usize,
}

impl<'a> ActiveEntry<'a> {
    fn insert(shared: &'a Shared, active: Arc<ActiveTask>) -> Self {
        // The entry keeps the task alive, so its address stays unique until it is removed.
        let key = Arc::as_ptr(&active) as usize;
        if let Ok(mut a) = shared.active.lock() {
            a.insert(key, active);
        }
        ActiveEntry { shared, key }
    }
}

impl Drop for ActiveEntry<'_> {
    fn drop(&mut self) {
        // A poisoned lock still holds the map: take it back rather than leak the entry.
        let mut a = self.shared.active.lock().unwrap_or_else(|p| p.into_inner());
        a.remove(&self.key);
    }
}
