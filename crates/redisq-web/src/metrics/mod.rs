//! Prometheus metrics at `/metrics`, with the names, labels, types and help texts of asynq's
//! exporter (`x/metrics`), so dashboards and alerts written for asynq keep working.
//!
//! Redis is read only when the endpoint is scraped: the queue names, then every queue's
//! [`QueueInfo`](redisq::QueueInfo) (concurrently). A queue whose info cannot be read is left
//! out of the scrape (with a comment line saying why) rather than failing it; when Redis
//! cannot be reached at all the answer is `503 Service Unavailable`, so Prometheus marks the
//! target down instead of recording empty series.
//!
//! The families, in asynq's order (every one labelled by `queue`):
//!
//! | name | type | value |
//! | --- | --- | --- |
//! | `asynq_tasks_enqueued_total` | gauge | tasks in each `state`: `active`, `pending`, `scheduled`, `retry`, `archived`, `completed` (asynq), `aggregating` (redisq) |
//! | `asynq_queue_size` | gauge | tasks in every state |
//! | `asynq_queue_latency_seconds` | gauge | how long the oldest pending task has been waiting |
//! | `asynq_queue_memory_usage_approx_bytes` | gauge | sampled memory estimate (left out when Redis has no `MEMORY USAGE`) |
//! | `asynq_tasks_processed_total` | counter | tasks processed since the counters began |
//! | `asynq_tasks_failed_total` | counter | tasks failed since the counters began |
//! | `asynq_queue_paused_total` | gauge | 1 when the queue is paused, else 0 |
//!
//! The exposition text is written by hand ([`text`]): the format is a few lines of
//! escaping, and a Prometheus client crate would bring a registry, its own metric types and
//! dependencies for what is, here, one pass over a list of snapshots.

mod text;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use redisq::QueueInfo;
use tokio::task::JoinSet;

use self::text::{Exposition, Type};
use crate::state::AppState;

/// The content type of the text exposition format 0.0.4.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Tasks per queue and state.
const TASKS_ENQUEUED: &str = "asynq_tasks_enqueued_total";
const TASKS_ENQUEUED_HELP: &str = "Number of tasks enqueued; broken down by queue and state.";
/// Tasks per queue.
const QUEUE_SIZE: &str = "asynq_queue_size";
const QUEUE_SIZE_HELP: &str = "Number of tasks in a queue";
/// Age of the oldest pending task.
const QUEUE_LATENCY: &str = "asynq_queue_latency_seconds";
const QUEUE_LATENCY_HELP: &str =
    "Number of seconds the oldest pending task is waiting in pending state to be processed.";
/// Memory estimate.
const QUEUE_MEMORY: &str = "asynq_queue_memory_usage_approx_bytes";
const QUEUE_MEMORY_HELP: &str =
    "Number of memory used by a given queue (approximated number by sampling).";
/// Processed since the counters began.
const PROCESSED_TOTAL: &str = "asynq_tasks_processed_total";
const PROCESSED_TOTAL_HELP: &str =
    "Number of tasks processed (both succeeded and failed); broken down by queue";
/// Failed since the counters began.
const FAILED_TOTAL: &str = "asynq_tasks_failed_total";
const FAILED_TOTAL_HELP: &str = "Number of tasks failed; broken down by queue";
/// Paused flag.
const QUEUE_PAUSED: &str = "asynq_queue_paused_total";
const QUEUE_PAUSED_HELP: &str = "Number of queues paused";

/// The routes of this part: `GET /metrics`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(state): State<AppState>) -> Response {
    let queues = match state.inspector.queues().await {
        Ok(queues) => queues,
        Err(e) => return unavailable(&e),
    };
    let mut calls = JoinSet::new();
    for queue in queues {
        let inspector = state.inspector.clone();
        calls.spawn(async move {
            let info = inspector.queue_info(&queue).await;
            (queue, info)
        });
    }
    let mut infos = Vec::new();
    let mut skipped = Vec::new();
    let mut unreachable = None;
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok((_, Ok(info))) => infos.push(info),
            Ok((queue, Err(e))) => {
                if e.is_connection() || e.is_timeout() || e.is_closed() {
                    unreachable = Some(e.to_string());
                }
                skipped.push((queue, e.to_string()));
            }
            Err(e) => skipped.push(("?".to_string(), e.to_string())),
        }
    }
    // Redis went away between the two reads: that is an unreachable target, not an empty one.
    if infos.is_empty()
        && let Some(e) = unreachable
    {
        return unavailable(&e);
    }
    infos.sort_by(|a, b| a.queue.cmp(&b.queue));
    skipped.sort();
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        render(&infos, &skipped),
    )
        .into_response()
}

fn unavailable(e: &dyn std::fmt::Display) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("redis unavailable: {e}\n"),
    )
        .into_response()
}

/// The exposition of these queue snapshots; `skipped` queues (name, error) are named in
/// comments.
fn render(infos: &[QueueInfo], skipped: &[(String, String)]) -> String {
    let mut e = Exposition::default();
    for (queue, err) in skipped {
        e.comment(&format!("redisq: queue {queue:?} skipped: {err}"));
    }
    e.family(TASKS_ENQUEUED, TASKS_ENQUEUED_HELP, Type::Gauge);
    for info in infos {
        for (state, n) in states(info) {
            let labels = [("queue", info.queue.as_str()), ("state", state)];
            e.sample(TASKS_ENQUEUED, &labels, n as f64);
        }
    }
    for f in PER_QUEUE {
        e.family(f.name, f.help, f.kind);
        for info in infos {
            if let Some(v) = (f.value)(info) {
                e.sample(f.name, &[("queue", info.queue.as_str())], v);
            }
        }
    }
    e.finish()
}

/// A family with one sample per queue (label `queue`).
struct PerQueue {
    name: &'static str,
    help: &'static str,
    kind: Type,
    /// The queue's value; `None` leaves the queue out.
    value: fn(&QueueInfo) -> Option<f64>,
}

/// The families after `asynq_tasks_enqueued_total`, in asynq's order.
const PER_QUEUE: [PerQueue; 6] = [
    PerQueue {
        name: QUEUE_SIZE,
        help: QUEUE_SIZE_HELP,
        kind: Type::Gauge,
        value: |i| Some(i.size as f64),
    },
    PerQueue {
        name: QUEUE_LATENCY,
        help: QUEUE_LATENCY_HELP,
        kind: Type::Gauge,
        value: |i| Some(i.latency.as_secs_f64()),
    },
    PerQueue {
        name: QUEUE_MEMORY,
        help: QUEUE_MEMORY_HELP,
        kind: Type::Gauge,
        value: |i| i.memory_usage.map(|b| b as f64),
    },
    PerQueue {
        name: PROCESSED_TOTAL,
        help: PROCESSED_TOTAL_HELP,
        kind: Type::Counter,
        value: |i| Some(i.processed_total as f64),
    },
    PerQueue {
        name: FAILED_TOTAL,
        help: FAILED_TOTAL_HELP,
        kind: Type::Counter,
        value: |i| Some(i.failed_total as f64),
    },
    PerQueue {
        name: QUEUE_PAUSED,
        help: QUEUE_PAUSED_HELP,
        kind: Type::Gauge,
        value: |i| Some(if i.paused { 1.0 } else { 0.0 }),
    },
];

/// Tasks per state, asynq's states first and in its order.
fn states(i: &QueueInfo) -> [(&'static str, usize); 7] {
    [
        ("active", i.active),
        ("pending", i.pending),
        ("scheduled", i.scheduled),
        ("retry", i.retry),
        ("archived", i.archived),
        ("completed", i.completed),
        ("aggregating", i.aggregating),
    ]
}
