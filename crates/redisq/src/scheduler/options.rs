//! Scheduler settings (asynq's `SchedulerOpts`) with asynq's defaults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::cron::Location;
use crate::core::names::Namespace;
use crate::error::Result;
use crate::option::TaskOption;
use crate::runtime::log::{LogLevel, Logger};
use crate::task::{Task, TaskInfo};

/// How often a scheduler writes its entries to Redis when no interval is given.
pub const DEFAULT_SCHEDULER_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);

/// Called before each periodic enqueue with the task and the entry's options (asynq's
/// `PreEnqueueFunc`).
pub type PreEnqueueFn = Arc<dyn Fn(&Task, &[TaskOption]) + Send + Sync>;

/// Called after each periodic enqueue attempt with its outcome (asynq's `PostEnqueueFunc`;
/// it also covers the deprecated `EnqueueErrorHandler`).
pub type PostEnqueueFn = Arc<dyn Fn(&Result<TaskInfo>) + Send + Sync>;

/// Scheduler settings. Build with [`SchedulerConfig::new`] and the setters;
/// [`crate::Scheduler::new`] validates them.
///
/// ```
/// use std::time::Duration;
/// use redisq::{Location, SchedulerConfig};
///
/// let config = SchedulerConfig::new()
///     .location(Location::new("Europe/Berlin")?)
///     .heartbeat_interval(Duration::from_secs(5))
///     .post_enqueue(|res| {
///         if let Err(e) = res {
///             eprintln!("periodic enqueue failed: {e}");
///         }
///     });
/// # Ok::<(), redisq::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SchedulerConfig {
    /// How often the entries are written to Redis (default 10 s); they expire after twice
    /// that. The first write happens one interval after start, as in asynq.
    pub(crate) heartbeat_interval: Duration,
    /// The zone cron specs without a `CRON_TZ=` prefix are read in (default UTC).
    pub(crate) location: Location,
    /// Called before each enqueue.
    pub(crate) pre_enqueue: Option<PreEnqueueFn>,
    /// Called after each enqueue attempt.
    pub(crate) post_enqueue: Option<PostEnqueueFn>,
    /// The key namespace (default `asynq`, shared with Go asynq).
    pub(crate) namespace: Namespace,
    /// Minimum level logged (default info).
    pub(crate) log_level: LogLevel,
    /// Custom log sink instead of `tracing`.
    pub(crate) logger: Option<Arc<dyn Logger>>,
    /// Let only one scheduler process enqueue each occurrence of an entry (default true).
    ///
    /// Before enqueueing, a process claims the occurrence with
    /// `SET <ns>:scheduler_fire:{<entry hash>}:<unix s> <scheduler id> NX EX <ttl>`; only
    /// the process that set the key enqueues. See [`crate::Scheduler`] for details. With
    /// `false`, every process enqueues its own copy, as asynq does.
    pub(crate) deduplicate: bool,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig::new()
    }
}

impl fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("location", &self.location)
            .field("pre_enqueue", &self.pre_enqueue.is_some())
            .field("post_enqueue", &self.post_enqueue.is_some())
            .field("namespace", &self.namespace)
            .field("log_level", &self.log_level)
            .field("logger", &self.logger.is_some())
            .field("deduplicate", &self.deduplicate)
            .finish()
    }
}

impl SchedulerConfig {
    /// asynq's defaults (plus deduplication).
    pub fn new() -> Self {
        SchedulerConfig {
            heartbeat_interval: DEFAULT_SCHEDULER_HEARTBEAT_INTERVAL,
            location: Location::UTC,
            pre_enqueue: None,
            post_enqueue: None,
            namespace: Namespace::default(),
            log_level: LogLevel::default(),
            logger: None,
            deduplicate: true,
        }
    }

    /// Sets [`SchedulerConfig::heartbeat_interval`]; zero means the default.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// Sets [`SchedulerConfig::location`].
    pub fn location(mut self, location: Location) -> Self {
        self.location = location;
        self
    }

    /// Sets [`SchedulerConfig::pre_enqueue`].
    pub fn pre_enqueue(mut self, f: impl Fn(&Task, &[TaskOption]) + Send + Sync + 'static) -> Self {
        self.pre_enqueue = Some(Arc::new(f));
        self
    }

    /// Sets [`SchedulerConfig::post_enqueue`].
    pub fn post_enqueue(mut self, f: impl Fn(&Result<TaskInfo>) + Send + Sync + 'static) -> Self {
        self.post_enqueue = Some(Arc::new(f));
        self
    }

    /// Sets [`SchedulerConfig::namespace`].
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// Sets [`SchedulerConfig::log_level`].
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// Sets [`SchedulerConfig::logger`].
    pub fn logger(mut self, logger: impl Logger) -> Self {
        self.logger = Some(Arc::new(logger));
        self
    }

    /// Sets [`SchedulerConfig::deduplicate`].
    pub fn deduplicate(mut self, yes: bool) -> Self {
        self.deduplicate = yes;
        self
    }

    /// Fills in defaults and checks the values.
    pub(crate) fn validated(mut self) -> Result<Self> {
        if self.heartbeat_interval.is_zero() {
            self.heartbeat_interval = DEFAULT_SCHEDULER_HEARTBEAT_INTERVAL;
        }
        Ok(self)
    }
}
