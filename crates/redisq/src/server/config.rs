//! Server settings (asynq's `Config`) with asynq's defaults, validated at construction.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;

use crate::core::limits::ArchiveLimits;
use crate::core::names::{Namespace, QueueName};
use crate::core::throttle::{LimitSet, LimitTarget, RateLimit};
use crate::error::{Error, Result};
use crate::handler::{Data, HandlerError, TaskContext};
use crate::runtime::log::{LogLevel, Logger};
use crate::task::Task;

/// The longest duration a setting may have: clocks plus it must stay representable.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// The default of [`Config::completion_linger`]: a little over the gap between tasks arriving
/// at 1,000/s, so such a trickle completes each task in the call that fetches the next.
const DEFAULT_COMPLETION_LINGER: Duration = Duration::from_millis(2);
/// The longest [`Config::completion_linger`].
const MAX_COMPLETION_LINGER: Duration = Duration::from_secs(1);

/// Computes how long to wait before retrying a failed task (asynq's `RetryDelayFunc`):
/// `(retried so far, error, task)`.
pub type RetryDelayFn = Arc<dyn Fn(u32, &HandlerError, &Task) -> Duration + Send + Sync>;

/// Decides whether a handler error is a failure (asynq's `IsFailure`). Errors that are not
/// failures are retried without counting a retry or a failed task.
pub type IsFailureFn = Arc<dyn Fn(&HandlerError) -> bool + Send + Sync>;

/// Called for every failed attempt, before the task is retried or archived (asynq's
/// `ErrorHandler`).
pub type ErrorHandlerFn = Arc<dyn Fn(&TaskContext, &Task, &HandlerError) + Send + Sync>;

/// Called with the result of each periodic Redis health check (asynq's `HealthCheckFunc`).
pub type HealthCheckFn = Arc<dyn Fn(Option<&Error>) + Send + Sync>;

/// asynq's default retry delay: `n⁴ + 15 + rand[0, 30) · (n + 1)` seconds, `n` being the
/// number of retries so far (so the first retry waits 15–44 s).
pub fn default_retry_delay(retried: u32, _err: &HandlerError, _task: &Task) -> Duration {
    let n = u64::from(retried);
    let jitter = rand::rng().random_range(0..30u64) * (n + 1);
    Duration::from_secs(
        n.saturating_pow(4)
            .saturating_add(15)
            .saturating_add(jitter),
    )
}

/// Combines the tasks of a group into one task (asynq's `GroupAggregator`).
///
/// The returned task is enqueued to the group's queue (a `Queue` option on it is ignored).
pub trait GroupAggregator: Send + Sync + 'static {
    /// Aggregates `tasks`, all from group `group`, into one task.
    fn aggregate(&self, group: &str, tasks: Vec<Task>) -> Task;
}

impl<F> GroupAggregator for F
where
    F: Fn(&str, Vec<Task>) -> Task + Send + Sync + 'static,
{
    fn aggregate(&self, group: &str, tasks: Vec<Task>) -> Task {
        self(group, tasks)
    }
}

/// Server settings (asynq's `Config`), with asynq's defaults. Build with [`Config::new`] and
/// the setters; [`crate::Server::new`] validates them.
///
/// Settings are set through the builder methods only: each has one spelling, a setter can
/// normalise its input (queue names are trimmed), and new settings can be added without
/// breaking callers. Each setter is named after asynq's field (`Concurrency` →
/// [`Config::concurrency`], `Queues` → [`Config::queues`], …).
///
/// ```
/// use std::time::Duration;
/// use redisq::{Config, Namespace};
///
/// let config = Config::new()
///     .concurrency(20)
///     .queues([("critical", 6), ("default", 3), ("low", 1)])
///     .shutdown_timeout(Duration::from_secs(30))
///     .namespace(Namespace::new("billing")?);
/// # Ok::<(), redisq::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// Tasks processed at once (default: the number of CPUs).
    pub(crate) concurrency: usize,
    /// Queues and their priorities (default `{"default": 1}`).
    pub(crate) queues: BTreeMap<String, u32>,
    /// Always take from the highest-priority non-empty queue first (default false: weighted).
    pub(crate) strict_priority: bool,
    /// Retry delay (default [`default_retry_delay`]).
    pub(crate) retry_delay: RetryDelayFn,
    /// Failure predicate (default: every error is a failure).
    pub(crate) is_failure: IsFailureFn,
    /// Error callback.
    pub(crate) error_handler: Option<ErrorHandlerFn>,
    /// Values handed to every handler (asynq's `BaseContext`).
    pub(crate) data: Data,
    /// Minimum level logged (default info).
    pub(crate) log_level: LogLevel,
    /// Custom log sink instead of `tracing`.
    pub(crate) logger: Option<Arc<dyn Logger>>,
    /// How long shutdown waits for running tasks before requeueing them (default 8 s).
    pub(crate) shutdown_timeout: Duration,
    /// Health check callback; no checks without one.
    pub(crate) health_check: Option<HealthCheckFn>,
    /// Health check interval (default 15 s).
    pub(crate) health_check_interval: Duration,
    /// How often due scheduled/retry tasks are moved to pending (default 5 s).
    pub(crate) delayed_task_check_interval: Duration,
    /// How long an idle worker waits before polling queues again (default 1 s).
    pub(crate) task_check_interval: Duration,
    /// How long a lone completion waits for the next task while the server is idle.
    pub(crate) completion_linger: Duration,
    /// Group aggregation grace period (default 1 min, at least 1 s).
    pub(crate) group_grace_period: Duration,
    /// Longest a group waits before aggregation (default none).
    pub(crate) group_max_delay: Option<Duration>,
    /// Most tasks aggregated into one (default none).
    pub(crate) group_max_size: Option<usize>,
    /// Combines grouped tasks; without one, grouped tasks wait and the server says why.
    pub(crate) group_aggregator: Option<Arc<dyn GroupAggregator>>,
    /// How often completed tasks past their retention are deleted (default 8 s).
    pub(crate) janitor_interval: Duration,
    /// Completed tasks deleted per call (default 100).
    pub(crate) janitor_batch_size: usize,
    /// How long a dequeued task's lease lasts between heartbeats (default 30 s).
    pub(crate) lease_duration: Duration,
    /// How often the server writes its state and extends leases (default 5 s).
    pub(crate) heartbeat_interval: Duration,
    /// How often expired leases are recovered (default 1 min).
    pub(crate) recoverer_interval: Duration,
    /// How long past its lease expiry a task is left before recovery, and how long an active
    /// task without a lease must stay so (default 30 s).
    pub(crate) lease_grace: Duration,
    /// Archive size and age limits (default 10 000 tasks, 90 days).
    pub(crate) archive_max_size: u64,
    /// See `archive_max_size`.
    pub(crate) archive_max_age: Duration,
    /// Key namespace (default `asynq`).
    pub(crate) namespace: Namespace,
    /// Fleet-wide rate and concurrency limits this server writes to Redis when it starts.
    pub(crate) limits: LimitSet,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrency: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            queues: BTreeMap::from([(crate::option::DEFAULT_QUEUE.to_string(), 1)]),
            strict_priority: false,
            retry_delay: Arc::new(default_retry_delay),
            is_failure: Arc::new(|_| true),
            error_handler: None,
            data: Data::new(),
            log_level: LogLevel::Info,
            logger: None,
            shutdown_timeout: Duration::from_secs(8),
            health_check: None,
            health_check_interval: Duration::from_secs(15),
            delayed_task_check_interval: Duration::from_secs(5),
            task_check_interval: Duration::from_secs(1),
            completion_linger: DEFAULT_COMPLETION_LINGER,
            group_grace_period: Duration::from_secs(60),
            group_max_delay: None,
            group_max_size: None,
            group_aggregator: None,
            janitor_interval: Duration::from_secs(8),
            janitor_batch_size: 100,
            lease_duration: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            recoverer_interval: Duration::from_secs(60),
            lease_grace: Duration::from_secs(30),
            archive_max_size: ArchiveLimits::default().max_size,
            archive_max_age: ArchiveLimits::default().max_age,
            namespace: Namespace::default(),
            limits: LimitSet::default(),
        }
    }
}

impl Config {
    /// asynq's defaults.
    pub fn new() -> Self {
        Config::default()
    }

    /// Tasks processed at once.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self
    }

    /// Replaces the queues with these `(name, priority)` pairs.
    pub fn queues<I, S>(mut self, queues: I) -> Self
    where
        I: IntoIterator<Item = (S, u32)>,
        S: Into<String>,
    {
        // Trimmed as asynq trims queue names; `validate` checks what is left.
        self.queues = queues
            .into_iter()
            .map(|(q, p)| (q.into().trim().to_string(), p))
            .collect();
        self
    }

    /// Strict priority instead of weighted.
    pub fn strict_priority(mut self, strict: bool) -> Self {
        self.strict_priority = strict;
        self
    }

    /// The retry delay function.
    pub fn retry_delay<F>(mut self, f: F) -> Self
    where
        F: Fn(u32, &HandlerError, &Task) -> Duration + Send + Sync + 'static,
    {
        self.retry_delay = Arc::new(f);
        self
    }

    /// The failure predicate.
    pub fn is_failure<F>(mut self, f: F) -> Self
    where
        F: Fn(&HandlerError) -> bool + Send + Sync + 'static,
    {
        self.is_failure = Arc::new(f);
        self
    }

    /// The error callback.
    pub fn error_handler<F>(mut self, f: F) -> Self
    where
        F: Fn(&TaskContext, &Task, &HandlerError) + Send + Sync + 'static,
    {
        self.error_handler = Some(Arc::new(f));
        self
    }

    /// Adds a value handed to every handler through [`TaskContext::data`].
    pub fn data<T: std::any::Any + Send + Sync>(mut self, value: T) -> Self {
        self.data.insert(value);
        self
    }

    /// The minimum log level.
    pub fn log_level(mut self, level: LogLevel) -> Self {
        self.log_level = level;
        self
    }

    /// A custom log sink.
    pub fn logger(mut self, logger: impl Logger) -> Self {
        self.logger = Some(Arc::new(logger));
        self
    }

    /// The shutdown timeout.
    pub fn shutdown_timeout(mut self, d: Duration) -> Self {
        self.shutdown_timeout = d;
        self
    }

    /// A health check callback and its interval.
    pub fn health_check<F>(mut self, interval: Duration, f: F) -> Self
    where
        F: Fn(Option<&Error>) + Send + Sync + 'static,
    {
        self.health_check_interval = interval;
        self.health_check = Some(Arc::new(f));
        self
    }

    /// How often due scheduled and retry tasks are forwarded.
    pub fn delayed_task_check_interval(mut self, d: Duration) -> Self {
        self.delayed_task_check_interval = d;
        self
    }

    /// How long an idle worker waits before polling the queues again.
    pub fn task_check_interval(mut self, d: Duration) -> Self {
        self.task_check_interval = d;
        self
    }

    /// How long a lone successful completion may wait, while the server has nothing else to
    /// do, for the next task of its queue to arrive, so that one Redis call records the one
    /// and fetches the other (default 2 ms; zero turns it off).
    ///
    /// When tasks arrive one at a time this saves a script call and a round trip per task;
    /// the cost is that the finished task is seen as done (by [`crate::Client::wait`], the
    /// Inspector, the processed counters) up to this much later. A busy server never waits:
    /// its completions already take the next tasks. At most 1 s.
    pub fn completion_linger(mut self, d: Duration) -> Self {
        self.completion_linger = d;
        self
    }

    /// The group grace period.
    pub fn group_grace_period(mut self, d: Duration) -> Self {
        self.group_grace_period = d;
        self
    }

    /// The longest a group waits.
    pub fn group_max_delay(mut self, d: Duration) -> Self {
        self.group_max_delay = Some(d);
        self
    }

    /// The most tasks in one aggregation.
    pub fn group_max_size(mut self, n: usize) -> Self {
        self.group_max_size = Some(n);
        self
    }

    /// The group aggregator.
    pub fn group_aggregator(mut self, aggregator: impl GroupAggregator) -> Self {
        self.group_aggregator = Some(Arc::new(aggregator));
        self
    }

    /// The janitor interval.
    pub fn janitor_interval(mut self, d: Duration) -> Self {
        self.janitor_interval = d;
        self
    }

    /// The janitor batch size.
    pub fn janitor_batch_size(mut self, n: usize) -> Self {
        self.janitor_batch_size = n;
        self
    }

    /// The lease duration.
    pub fn lease_duration(mut self, d: Duration) -> Self {
        self.lease_duration = d;
        self
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// The recoverer interval.
    pub fn recoverer_interval(mut self, d: Duration) -> Self {
        self.recoverer_interval = d;
        self
    }

    /// The recovery grace period.
    pub fn lease_grace(mut self, d: Duration) -> Self {
        self.lease_grace = d;
        self
    }

    /// Archive limits.
    pub fn archive_limits(mut self, max_size: u64, max_age: Duration) -> Self {
        self.archive_max_size = max_size;
        self.archive_max_age = max_age;
        self
    }

    /// The key namespace.
    pub fn namespace(mut self, ns: Namespace) -> Self {
        self.namespace = ns;
        self
    }

    /// A fleet-wide rate limit on queue `queue`: across every server sharing the Redis, at
    /// most `limit.n()` of its tasks start in any window of `limit.per()`.
    ///
    /// The limits stored in Redis win: when the server starts it writes the limits of its
    /// config there (the last server started wins, with a warning when it changes a stored
    /// value), and then obeys what is stored, including limits set by other servers or the
    /// [`crate::Inspector`]. See the [limits guide](crate::guide::limits).
    ///
    /// ```
    /// use std::time::Duration;
    /// use redisq::{Config, RateLimit};
    ///
    /// let config = Config::new()
    ///     .queues([("emails", 1)])
    ///     .queue_rate_limit("emails", RateLimit::new(100, Duration::from_secs(1)))
    ///     .type_concurrency_limit("report:build", 2);
    /// ```
    pub fn queue_rate_limit(mut self, queue: impl Into<String>, limit: RateLimit) -> Self {
        let q = queue.into().trim().to_string();
        self.limits.set_rate(LimitTarget::Queue(q), limit);
        self
    }

    /// A fleet-wide rate limit on the tasks of type `task_type` (in each queue; see
    /// [`Config::queue_rate_limit`] for how stored limits win).
    pub fn type_rate_limit(mut self, task_type: impl Into<String>, limit: RateLimit) -> Self {
        self.limits
            .set_rate(LimitTarget::TaskType(task_type.into()), limit);
        self
    }

    /// A fleet-wide concurrency limit on queue `queue`: at most `n` of its tasks are active
    /// across every server at once. A crashed server's slots come back when its leases
    /// expire.
    pub fn queue_concurrency_limit(mut self, queue: impl Into<String>, n: u32) -> Self {
        let q = queue.into().trim().to_string();
        self.limits.set_concurrency(LimitTarget::Queue(q), n);
        self
    }

    /// A fleet-wide concurrency limit on the tasks of type `task_type` (in each queue).
    pub fn type_concurrency_limit(mut self, task_type: impl Into<String>, n: u32) -> Self {
        self.limits
            .set_concurrency(LimitTarget::TaskType(task_type.into()), n);
        self
    }

    /// Checks every value; the error names the field and what is allowed.
    pub(crate) fn validate(&self) -> Result<()> {
        fn bad(msg: String) -> Result<()> {
            Err(Error::invalid_option(msg))
        }
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        if self.queues.is_empty() {
            return bad("at least one queue is needed".into());
        }
        for (q, p) in &self.queues {
            QueueName::new(q)?;
            if *p == 0 {
                return bad(format!("queue {q:?} has priority 0: priorities start at 1"));
            }
        }
        let positive = [
            ("shutdown_timeout", self.shutdown_timeout),
            ("health_check_interval", self.health_check_interval),
            (
                "delayed_task_check_interval",
                self.delayed_task_check_interval,
            ),
            ("task_check_interval", self.task_check_interval),
            ("janitor_interval", self.janitor_interval),
            ("heartbeat_interval", self.heartbeat_interval),
            ("recoverer_interval", self.recoverer_interval),
        ];
        for (name, d) in positive {
            if d.is_zero() {
                return bad(format!("{name} must be greater than zero"));
            }
        }
        // Durations are added to clocks and stored as whole seconds: bound them so that no
        // arithmetic on them can overflow at run time.
        let all = [
            ("shutdown_timeout", self.shutdown_timeout),
            ("health_check_interval", self.health_check_interval),
            (
                "delayed_task_check_interval",
                self.delayed_task_check_interval,
            ),
            ("task_check_interval", self.task_check_interval),
            ("group_grace_period", self.group_grace_period),
            ("group_max_delay", self.group_max_delay.unwrap_or_default()),
            ("janitor_interval", self.janitor_interval),
            ("lease_duration", self.lease_duration),
            ("heartbeat_interval", self.heartbeat_interval),
            ("recoverer_interval", self.recoverer_interval),
            ("lease_grace", self.lease_grace),
            ("archive_max_age", self.archive_max_age),
        ];
        for (name, d) in all {
            if d > MAX_DURATION {
                return bad(format!(
                    "{name} ({d:?}) is too long: durations are limited to 100 years"
                ));
            }
        }
        if self.completion_linger > MAX_COMPLETION_LINGER {
            return bad(format!(
                "completion_linger ({:?}) is too long: at most {MAX_COMPLETION_LINGER:?}",
                self.completion_linger
            ));
        }
        if self.group_grace_period < Duration::from_secs(1) {
            return bad("group_grace_period must be at least 1s".into());
        }
        if self.lease_duration < Duration::from_secs(2) {
            return bad(
                "lease_duration must be at least 2s (leases are stored in whole seconds)".into(),
            );
        }
        if self.heartbeat_interval >= self.lease_duration {
            return bad(format!(
                "heartbeat_interval ({:?}) must be shorter than lease_duration ({:?}), or leases expire between beats",
                self.heartbeat_interval, self.lease_duration
            ));
        }
        if self.lease_grace < Duration::from_secs(1) {
            return bad("lease_grace must be at least 1s".into());
        }
        if self.janitor_batch_size == 0 {
            return bad("janitor_batch_size must be at least 1".into());
        }
        if self.group_max_size == Some(0) {
            return bad("group_max_size must be at least 1 when set".into());
        }
        if self.archive_max_size == 0 {
            return bad("archive_max_size must be at least 1".into());
        }
        self.limits.validate()
    }

    pub(crate) fn archive_limits_value(&self) -> ArchiveLimits {
        ArchiveLimits {
            max_size: self.archive_max_size,
            max_age: self.archive_max_age,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("concurrency", &self.concurrency)
            .field("queues", &self.queues)
            .field("strict_priority", &self.strict_priority)
            .field("log_level", &self.log_level)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("task_check_interval", &self.task_check_interval)
            .field("completion_linger", &self.completion_linger)
            .field(
                "delayed_task_check_interval",
                &self.delayed_task_check_interval,
            )
            .field("lease_duration", &self.lease_duration)
            .field("namespace", &self.namespace)
            .field("limits", &self.limits.to_list())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_match_asynq() {
        let c = Config::new();
        assert!(c.validate().is_ok());
        assert_eq!(c.shutdown_timeout, Duration::from_secs(8));
        assert_eq!(c.delayed_task_check_interval, Duration::from_secs(5));
        assert_eq!(c.janitor_batch_size, 100);
        assert_eq!(c.queues.get("default"), Some(&1));
    }

    #[test]
    fn invalid_values_are_rejected() {
        let cases = [
            Config::new().concurrency(0),
            Config::new().queues([("", 1)]),
            Config::new().queues([("q", 0)]),
            Config::new().queues(Vec::<(String, u32)>::new()),
            Config::new().group_grace_period(Duration::from_millis(500)),
            Config::new().lease_duration(Duration::from_secs(1)),
            Config::new().heartbeat_interval(Duration::from_secs(30)),
            Config::new().task_check_interval(Duration::ZERO),
            Config::new().completion_linger(Duration::from_secs(2)),
            Config::new().janitor_batch_size(0),
            Config::new().lease_duration(Duration::MAX),
            Config::new().shutdown_timeout(Duration::from_secs(u64::MAX / 2)),
            Config::new().group_max_delay(Duration::MAX),
            Config::new().queue_rate_limit("q", RateLimit::new(0, Duration::from_secs(1))),
            Config::new().queue_rate_limit("q", RateLimit::new(5, Duration::ZERO)),
            Config::new().type_rate_limit("t", RateLimit::new(0, Duration::ZERO)),
            Config::new().queue_concurrency_limit("q", 0),
            Config::new().type_concurrency_limit("t", 0),
            Config::new().type_concurrency_limit("", 1),
            Config::new().queue_concurrency_limit("", 1),
        ];
        for c in cases {
            let err = c.validate().expect_err("invalid");
            assert!(err.is_invalid_option(), "{err}");
        }
    }

    #[test]
    fn log_levels_parse_and_print_asynq_names() {
        for (s, l) in [
            ("debug", LogLevel::Debug),
            ("INFO", LogLevel::Info),
            ("warning", LogLevel::Warn),
            ("Warn", LogLevel::Warn),
            ("error", LogLevel::Error),
            ("fatal", LogLevel::Fatal),
        ] {
            assert_eq!(s.parse::<LogLevel>().ok(), Some(l));
        }
        assert_eq!(LogLevel::Warn.to_string(), "warn");
        assert!("loud".parse::<LogLevel>().is_err());
    }

    #[test]
    fn default_retry_delay_follows_the_formula() {
        let t = Task::new("t", "");
        let e = HandlerError::msg("x");
        for n in [0u32, 1, 5] {
            let d = default_retry_delay(n, &e, &t).as_secs();
            let base = u64::from(n).pow(4) + 15;
            assert!(
                d >= base && d < base + 30 * (u64::from(n) + 1),
                "n={n} d={d}"
            );
        }
    }
}
