//! # redisq
//!
//! A distributed task queue for Rust, backed by Redis and wire-compatible with Go's
//! [asynq](https://github.com/hibiken/asynq): a Rust service enqueues a task, worker processes
//! on any machine pull it from Redis and run it, and Go services, the `asynq` CLI and asynqmon
//! sharing the same Redis see the same queues and tasks.
//!
//! ## Enqueueing
//!
//! ```no_run
//! # async fn demo() -> redisq::Result<()> {
//! use std::time::Duration;
//! use redisq::{Client, Task, TaskOption, parse_redis_uri};
//!
//! let client = Client::connect(parse_redis_uri("redis://127.0.0.1:6379/0")?).await?;
//!
//! // Processed as soon as a worker is free, in the "critical" queue, retried up to 5 times.
//! let task = Task::new("email:welcome", r#"{"user_id":42}"#);
//! let info = client
//!     .enqueue_with(&task, [TaskOption::queue("critical"), TaskOption::max_retry(5)])
//!     .await?;
//! println!("{} is {}", info.id, info.state);
//!
//! // Processed in an hour; an equal task enqueued within the next day is rejected.
//! let report = Task::new("report:daily", "2026-11-28")
//!     .with_option(TaskOption::process_in(Duration::from_secs(3600)))
//!     .with_option(TaskOption::unique(Duration::from_secs(86_400)));
//! match client.enqueue(&report).await {
//!     Ok(info) => println!("scheduled for {:?}", info.next_process_at),
//!     Err(e) if e.is_duplicate_task() => println!("already scheduled"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! ## Processing
//!
//! A [`Server`] pulls tasks and runs a [`Handler`] for each: any
//! `Fn(TaskContext, Task) -> impl Future<Output = HandlerResult>` closure, or a [`ServeMux`]
//! that routes by task type to such closures, with [`Middleware`] around them.
//!
//! ## Typed tasks (feature `json`, on by default)
//!
//! A payload can be a Rust value written as JSON, which is also what Go services put in
//! asynq payloads: [`Task::json`] encodes a value, `ServeMux::handle_json` registers a handler
//! that receives it decoded, and a payload that does not decode is archived at once with an
//! error naming the Rust type. `TypedTask` ties a payload type to its task type name, so
//! producer (`Client::enqueue_typed`) and consumer (`ServeMux::handle_typed`) cannot disagree:
//!
//! ```no_run
//! # #[cfg(feature = "json")]
//! # async fn demo(client: redisq::Client, server: redisq::Server) -> redisq::Result<()> {
//! use redisq::{ServeMux, TaskContext, TypedTask};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Thumbnail {
//!     image_id: u64,
//!     width: u32,
//! }
//! impl TypedTask for Thumbnail {
//!     const TYPE: &'static str = "image:thumbnail";
//! }
//!
//! client.enqueue_typed(&Thumbnail { image_id: 7, width: 320 }).await?;
//!
//! let mut mux = ServeMux::new();
//! mux.handle_typed(|_ctx: TaskContext, job: Thumbnail| async move {
//!     println!("thumbnail of {} at {} px", job.image_id, job.width);
//!     Ok(())
//! });
//! server.run(mux).await
//! # }
//! ```
//!
//! Without the feature (`default-features = false`) serde is not a dependency and payloads
//! are bytes only.
//!
//! ## tower (feature `tower`)
//!
//! With the `tower` feature a tower `Service<TaskRequest, Response = ()>` can be a handler
//! (`ServeMux::handle_service`, `ServiceHandler`), a handler or a whole mux can be a
//! `Service` (`HandlerService`), and `ServeMux::layer` puts a tower layer (timeouts,
//! concurrency limits, your own) around every handler of a mux, built once per handler rather
//! than per task.
//!
//! ## Connecting
//!
//! [`RedisConnOpt`] names one of three deployments: a single server over TCP, TLS or a unix
//! socket ([`RedisClientOpt`]), a master found through Sentinel ([`RedisFailoverClientOpt`]),
//! or a Redis Cluster ([`RedisClusterClientOpt`]). [`parse_redis_uri`] reads asynq's URI forms.
//! Redis 6.2 or newer is required and checked when connecting.
//!
//! One [`Connection`] can be shared by the [`Client`], [`Server`], [`Inspector`] and
//! [`Scheduler`] of a process (`Client::from_connection` and friends); each can also connect
//! on its own. Key namespaces are validated [`Namespace`] values.
//!
//! ## Errors
//!
//! Every fallible call returns [`Error`], which answers `is_*` questions such as
//! [`Error::is_duplicate_task`] or [`Error::is_invalid_option`], and gives its
//! [`ErrorKind`] for a `match`. Its `Display` text is for people, not for matching.
//!
//! ## Tracing and OpenTelemetry
//!
//! redisq reports through [`tracing`](https://docs.rs/tracing), target `redisq`:
//!
//! - [`Client::enqueue_with`] runs in a `redisq.enqueue` span (info) with `task.type`,
//!   `task.queue` and `task.id`; [`Client::enqueue_batch`] in one `redisq.enqueue_batch` span
//!   with `batch.size` and `batch.failed`.
//! - Every attempt of a task runs in a `redisq.task` span (info) with `task.id`, `task.type`,
//!   `task.queue`, `task.retry` (retries so far), `task.max_retry` and `otel.kind =
//!   "consumer"`. Once the attempt ends it records `task.outcome` (`success`, `retry`,
//!   `archived`, `revoked`, `canceled`, `lease_lost` or `requeued` at shutdown) and, for a
//!   failure, `task.error`, with `otel.status_code = "error"` unless the task was revoked or
//!   the is-failure function excused the error. The handler runs inside this span, so its own spans and events are
//!   children of it. The span is a root span: it does not inherit the span the server was
//!   started in.
//! - Log messages (dequeue and completion batches, forwarding and recovery with their counts,
//!   failures) are `tracing` events with structured fields unless [`Config::logger`] sets a
//!   [`Logger`]; they pass [`Config::log_level`] first, so the debug ones need
//!   `LogLevel::Debug`. Spans do not depend on the log level.
//!
//! With the **`opentelemetry`** cargo feature (off by default) the trace crosses Redis. The
//! client writes the W3C trace context of its `redisq.enqueue` span (or, when that span is
//! filtered out, of the caller's span) into the task's headers `traceparent` and
//! `tracestate`, and the server makes each attempt's `redisq.task` span a child of the
//! context it finds there. So with a `tracing-opentelemetry` layer installed, one trace runs
//! from an HTTP request through the enqueue to the handler, in the same process or another.
//! The headers are part of asynq's task message, so Go asynq keeps them; a Go service that
//! writes its W3C context into a task's headers (OpenTelemetry's `propagation.TraceContext`
//! with a map carrier) continues its trace in the Rust handler, and a Go handler can read the
//! headers written here. Headers that the task already carries are never replaced.
//!
//! With the **`metrics`** cargo feature (off by default) every server records its attempts
//! through the [`metrics`](https://docs.rs/metrics) facade: `redisq_task_duration_seconds`
//! and `redisq_task_outcomes_total` (by queue, task type and the same outcome as the span),
//! `redisq_tasks_in_flight`, `redisq_fetch_batch_size`, `redisq_completion_batch_size`,
//! `redisq_lease_renewals_total` and `redisq_lease_renewal_failures_total`. The application
//! installs the recorder (e.g. `metrics-exporter-prometheus`); `docs/metrics.md` in the
//! repository lists them with example queries, next to the queue metrics of `redisq-web`.
//!
//! ## Architecture
//!
//! `docs/architecture.md` in the repository maps the modules, the rules on which may use
//! which, and one task's path from [`Client::enqueue`] to completion.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
pub mod bench_support;
mod client;
mod connection;
mod core;
pub mod error;
mod flow;
pub mod guide;

// The README's code blocks compile (and run where they can) as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;

mod handler;
mod info;
mod inspector;
mod mux;
mod option;
mod rdb;
mod runtime;
mod scheduler;
mod server;
#[cfg(feature = "tower")]
mod service;
mod task;
#[cfg(feature = "json")]
mod typed;

pub use crate::core::names::{DEFAULT_NAMESPACE, Namespace, QueueName};
pub use crate::core::throttle::{Limit, LimitTarget, RateLimit};
pub use client::{BatchResult, Client, ClientBuilder};
pub use connection::Connection;
pub use error::{Error, ErrorKind, Result};
pub use flow::{ChildResult, Flow, FlowInfo, OnChildArchived};
pub use handler::{
    BoxFuture, BoxHandler, Data, Handler, HandlerError, HandlerFailure, HandlerResult,
    ResultWriter, TaskContext,
};
pub use inspector::*;
pub use mux::{HANDLER_NOT_FOUND, Middleware, ServeMux};
pub use option::{DEFAULT_MAX_RETRY, DEFAULT_QUEUE, DEFAULT_TIMEOUT, TaskOption};
pub use rdb::conn::options::{
    DEFAULT_DIAL_TIMEOUT, DEFAULT_MAX_REDIRECTS, DEFAULT_READ_TIMEOUT, RedisAddr, RedisClientOpt,
    RedisClusterClientOpt, RedisConnOpt, RedisFailoverClientOpt, Timeouts, TlsConfig,
};
pub use rdb::conn::uri::parse_redis_uri;
pub use scheduler::*;

pub use runtime::log::{LogLevel, Logger};
pub use server::Server;
pub use server::config::{
    Config, ErrorHandlerFn, GroupAggregator, HealthCheckFn, IsFailureFn, RetryDelayFn,
    default_retry_delay,
};
#[cfg(feature = "tower")]
pub use service::{HandlerService, ServiceHandler, TaskRequest};
pub use task::{Headers, Progress, Task, TaskInfo, TaskState};
#[cfg(feature = "json")]
pub use typed::TypedTask;
