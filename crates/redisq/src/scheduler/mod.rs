//! Periodic tasks: the cron [`Scheduler`] and the [`PeriodicTaskManager`] (asynq's
//! `Scheduler` and `PeriodicTaskManager`).
//!
//! - `cron`: the spec parser and next-fire computation ([`CronSchedule`], [`Location`]);
//! - `runner`: the [`Scheduler`] itself;
//! - `periodic`: the [`PeriodicTaskManager`], which syncs entries from a provider;
//! - `options`: [`SchedulerConfig`];
//! - `identity`: the hashes that identify an entry across processes.
//!
//! The Redis side lives in `rdb::scheduler`.

mod cron;
mod identity;
mod options;
mod periodic;
mod runner;

pub use self::cron::{CronSchedule, Location};
pub use self::options::{
    DEFAULT_SCHEDULER_HEARTBEAT_INTERVAL, PostEnqueueFn, PreEnqueueFn, SchedulerConfig,
};
pub use self::periodic::{
    DEFAULT_SYNC_INTERVAL, PeriodicTaskConfig, PeriodicTaskConfigProvider, PeriodicTaskManager,
    PeriodicTaskManagerConfig, ProviderError, ProviderFuture,
};
pub use self::runner::Scheduler;
