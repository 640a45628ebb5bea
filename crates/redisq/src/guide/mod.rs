//! Guides: how to use redisq, page by page. Nothing here is code; start with
//! [`getting_started`].
//!
//! | Page | What it covers |
//! |---|---|
//! | [`getting_started`] | a client, a server, a handler, and where to go next |
//! | [`tasks_and_options`] | task types, payloads, headers, every enqueue option |
//! | [`processing`] | handlers, the mux, middleware, errors, timeouts, cancellation, shutdown |
//! | [`typed_tasks`] | payloads as Rust values (JSON), task types defined once, tower services and layers |
//! | [`observability`] | `tracing` spans per attempt, OpenTelemetry traces across the queue |
//! | [`retries`] | when tasks are retried, the delay, skipping and revoking |
//! | [`unique_and_scheduled`] | unique tasks, delayed tasks, deadlines |
//! | [`results`] | keeping results and reading them back |
//! | [`waiting_and_progress`] | waiting for a task's outcome, reporting a running task's progress |
//! | [`groups`] | aggregating many small tasks into one |
//! | [`flows`] | chains (one task after another) and flows (a parent after its children) |
//! | [`limits`] | fleet-wide rate and concurrency limits per queue and task type |
//! | [`scheduling`] | cron and `@every` entries, several scheduler processes |
//! | [`operating`] | the Inspector, the `redisq` command, connections, logging |
//! | [`performance`] | what a task costs in Redis and how to keep it cheap |
//! | [`reliability`] | at-least-once, when a task runs twice, Redis durability settings, faults ridden out |
//! | [`coming_from_asynq`] | what is the same as Go's asynq, what differs, the name map |

#[doc = include_str!("flows.md")]
pub mod flows {}

#[doc = include_str!("getting_started.md")]
pub mod getting_started {}

#[doc = include_str!("tasks_and_options.md")]
pub mod tasks_and_options {}

#[doc = include_str!("processing.md")]
pub mod processing {}

#[doc = include_str!("typed_tasks.md")]
pub mod typed_tasks {}

#[doc = include_str!("observability.md")]
pub mod observability {}

#[doc = include_str!("retries.md")]
pub mod retries {}

#[doc = include_str!("unique_and_scheduled.md")]
pub mod unique_and_scheduled {}

#[doc = include_str!("results.md")]
pub mod results {}

#[doc = include_str!("waiting_and_progress.md")]
pub mod waiting_and_progress {}

#[doc = include_str!("groups.md")]
pub mod groups {}

#[doc = include_str!("scheduling.md")]
pub mod scheduling {}

#[doc = include_str!("operating.md")]
pub mod operating {}

#[doc = include_str!("performance.md")]
pub mod performance {}

#[doc = include_str!("reliability.md")]
pub mod reliability {}

#[doc = include_str!("coming_from_asynq.md")]
pub mod coming_from_asynq {}

#[doc = include_str!("limits.md")]
pub mod limits {}
