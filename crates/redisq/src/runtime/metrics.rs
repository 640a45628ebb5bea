//! In-process server metrics, recorded through the [`metrics`](https://docs.rs/metrics) facade
//! (feature `metrics`): task durations, outcomes and tasks in flight, fetch and completion
//! batch sizes, lease renewals. The application installs a recorder (for example
//! `metrics-exporter-prometheus`) and exports them; without a recorder the facade drops them.
//!
//! Every metric name is defined here, and every recording goes through one of the functions
//! below, so the hot path reads `metrics::record_outcome(...)`. Without the feature every
//! function is an empty `#[inline]` function and costs nothing. See `docs/metrics.md` for the
//! list and example queries.

#![cfg_attr(not(feature = "metrics"), allow(unused_variables, dead_code))]

use std::time::Duration;

/// Histogram of how long the handler ran for one attempt, in seconds; labels `queue`,
/// `task_type`, `outcome`.
pub(crate) const TASK_DURATION: &str = "redisq_task_duration_seconds";
/// Counter of finished attempts; labels `queue`, `task_type`, `outcome`.
pub(crate) const TASK_OUTCOMES: &str = "redisq_task_outcomes_total";
/// Gauge of attempts running now (from dequeue until the outcome is written); label `queue`.
pub(crate) const TASKS_IN_FLIGHT: &str = "redisq_tasks_in_flight";
/// Histogram of the tasks one dequeue call took; label `queue`.
pub(crate) const FETCH_BATCH_SIZE: &str = "redisq_fetch_batch_size";
/// Histogram of the successes the completer wrote in one batch (all queues together).
pub(crate) const COMPLETION_BATCH_SIZE: &str = "redisq_completion_batch_size";
/// Counter of task leases the heartbeat extended.
pub(crate) const LEASE_RENEWALS: &str = "redisq_lease_renewals_total";
/// Counter of task leases the heartbeat could not extend; label `reason` (`redis_error`: the
/// write failed; `lost`: the task was no longer leased to this server).
pub(crate) const LEASE_RENEWAL_FAILURES: &str = "redisq_lease_renewal_failures_total";

/// Registers the descriptions (Prometheus `HELP`) and units of every metric with the
/// installed recorder. Called when a server starts; cheap, and harmless to repeat.
#[inline]
pub(crate) fn describe() {
    #[cfg(feature = "metrics")]
    {
        use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
        describe_histogram!(
            TASK_DURATION,
            Unit::Seconds,
            "How long the handler ran for one attempt; by queue, task type and outcome."
        );
        describe_counter!(
            TASK_OUTCOMES,
            Unit::Count,
            "Attempts finished; by queue, task type and outcome."
        );
        describe_gauge!(
            TASKS_IN_FLIGHT,
            Unit::Count,
            "Attempts running now (dequeued, outcome not yet written); by queue."
        );
        describe_histogram!(
            FETCH_BATCH_SIZE,
            Unit::Count,
            "Tasks taken by one dequeue call; by queue."
        );
        describe_histogram!(
            COMPLETION_BATCH_SIZE,
            Unit::Count,
            "Successful tasks written by one completer batch."
        );
        describe_counter!(
            LEASE_RENEWALS,
            Unit::Count,
            "Task leases extended by the heartbeat."
        );
        describe_counter!(
            LEASE_RENEWAL_FAILURES,
            Unit::Count,
            "Task leases the heartbeat could not extend; by reason (redis_error, lost)."
        );
    }
}

/// Records a finished attempt: its duration and its outcome (the `task.outcome` of its
/// `redisq.task` span: `success`, `retry`, `archived`, `revoked`, `canceled`, `lease_lost`,
/// `requeued`).
#[inline]
pub(crate) fn record_outcome(queue: &str, task_type: &str, outcome: &'static str, took: Duration) {
    #[cfg(feature = "metrics")]
    {
        let labels = [
            ("queue", queue.to_owned()),
            ("task_type", task_type.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        ::metrics::histogram!(TASK_DURATION, &labels).record(took.as_secs_f64());
        ::metrics::counter!(TASK_OUTCOMES, &labels).increment(1);
    }
}

/// Counts an attempt as in flight until the returned guard is dropped.
#[inline]
#[must_use = "the attempt counts as in flight until the guard is dropped"]
pub(crate) fn in_flight(queue: &str) -> InFlight {
    #[cfg(feature = "metrics")]
    {
        let gauge = ::metrics::gauge!(TASKS_IN_FLIGHT, "queue" => queue.to_owned());
        gauge.increment(1.0);
        InFlight { gauge }
    }
    #[cfg(not(feature = "metrics"))]
    InFlight {}
}

/// An attempt in flight; dropping it (however the attempt ends) takes it off the gauge.
pub(crate) struct InFlight {
    #[cfg(feature = "metrics")]
    gauge: ::metrics::Gauge,
}

impl Drop for InFlight {
    #[inline]
    fn drop(&mut self) {
        #[cfg(feature = "metrics")]
        self.gauge.decrement(1.0);
    }
}

/// Records the size of one dequeue call's batch.
#[inline]
pub(crate) fn record_fetch(queue: &str, count: usize) {
    #[cfg(feature = "metrics")]
    ::metrics::histogram!(FETCH_BATCH_SIZE, "queue" => queue.to_owned()).record(count as f64);
}

/// Records the size of one completer batch.
#[inline]
pub(crate) fn record_completion_batch(count: usize) {
    #[cfg(feature = "metrics")]
    ::metrics::histogram!(COMPLETION_BATCH_SIZE).record(count as f64);
}

/// Records the heartbeat's lease extensions for one queue: `renewed` leases extended, `lost`
/// no longer held by this server.
#[inline]
pub(crate) fn record_lease_renewals(renewed: usize, lost: usize) {
    #[cfg(feature = "metrics")]
    {
        if renewed > 0 {
            ::metrics::counter!(LEASE_RENEWALS).increment(renewed as u64);
        }
        if lost > 0 {
            ::metrics::counter!(LEASE_RENEWAL_FAILURES, "reason" => "lost").increment(lost as u64);
        }
    }
}

/// Records leases that could not be extended because the write failed.
#[inline]
pub(crate) fn record_lease_renewal_error(count: usize) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(LEASE_RENEWAL_FAILURES, "reason" => "redis_error").increment(count as u64);
}
