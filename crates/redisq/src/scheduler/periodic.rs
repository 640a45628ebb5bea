//! [`PeriodicTaskManager`]: keeps a scheduler's entries in sync with a dynamic source of
//! configs (asynq's `PeriodicTaskManager`).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::cron::CronSchedule;
use super::identity::{config_hash, option_strings};
use super::options::SchedulerConfig;
use super::runner::Scheduler;
use crate::RedisConnOpt;
use crate::error::{Error, Kind, Result};
use crate::option::TaskOption;
use crate::runtime::log::Log;
use crate::runtime::signal::next_signal;
use crate::runtime::{sleep_or, supervise};
use crate::task::Task;

/// How often the manager asks its provider for configs when no interval is given.
pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_secs(3 * 60);

/// The error a [`PeriodicTaskConfigProvider`] may return.
pub type ProviderError = Box<dyn std::error::Error + Send + Sync>;

/// The future returned by [`PeriodicTaskConfigProvider::get_configs`].
pub type ProviderFuture<'a> = Pin<
    Box<
        dyn Future<Output = std::result::Result<Vec<PeriodicTaskConfig>, ProviderError>>
            + Send
            + 'a,
    >,
>;

/// One periodic task: a cron spec, a task and enqueue options (asynq's
/// `PeriodicTaskConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeriodicTaskConfig {
    /// The cron spec (see [`crate::CronSchedule`]).
    pub cronspec: String,
    /// The task to enqueue.
    pub task: Task,
    /// Options applied after the task's own options.
    pub opts: Vec<TaskOption>,
}

impl PeriodicTaskConfig {
    /// A config without extra options.
    pub fn new(cronspec: impl Into<String>, task: Task) -> Self {
        PeriodicTaskConfig {
            cronspec: cronspec.into(),
            task,
            opts: Vec::new(),
        }
    }

    /// Adds options.
    pub fn with_options(mut self, opts: impl IntoIterator<Item = TaskOption>) -> Self {
        self.opts.extend(opts);
        self
    }

    /// asynq's identity of a config: hex SHA-256 over the cronspec, the task type, the
    /// payload and the sorted option strings (the task's own options included).
    pub fn hash(&self) -> String {
        config_hash(
            &self.cronspec,
            &self.task,
            &option_strings(&self.task, &self.opts),
        )
    }

    /// Checks what registration would check: a valid spec, a task type, valid options.
    fn validate(&self) -> Result<()> {
        if self.cronspec.trim().is_empty() {
            return Err(Error::invalid_option(
                "periodic task config: cronspec is empty",
            ));
        }
        CronSchedule::parse(&self.cronspec)?;
        if self.task.task_type().trim().is_empty() {
            return Err(Error::invalid_option(
                "periodic task config: task typename cannot be empty",
            ));
        }
        crate::option::resolve(
            self.task.options().iter().chain(&self.opts),
            SystemTime::now(),
        )?;
        Ok(())
    }
}

/// Supplies the current set of periodic tasks (asynq's `PeriodicTaskConfigProvider`), for
/// example from a database or a config file.
///
/// Any `Fn() -> impl Future<Output = Result<Vec<PeriodicTaskConfig>, E>>` closure is a
/// provider; implement the trait for your own types:
///
/// ```
/// use redisq::{PeriodicTaskConfig, PeriodicTaskConfigProvider, ProviderFuture, Task};
///
/// struct FromFile(std::path::PathBuf);
///
/// impl PeriodicTaskConfigProvider for FromFile {
///     fn get_configs(&self) -> ProviderFuture<'_> {
///         Box::pin(async move {
///             let text = std::fs::read_to_string(&self.0)?;
///             Ok(text
///                 .lines()
///                 .filter_map(|l| l.split_once(" => "))
///                 .map(|(spec, ty)| PeriodicTaskConfig::new(spec, Task::new(ty, "")))
///                 .collect())
///         })
///     }
/// }
/// ```
pub trait PeriodicTaskConfigProvider: Send + Sync + 'static {
    /// Returns every periodic task that should be registered now.
    fn get_configs(&self) -> ProviderFuture<'_>;
}

impl<F, Fut, E> PeriodicTaskConfigProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<Vec<PeriodicTaskConfig>, E>> + Send + 'static,
    E: Into<ProviderError>,
{
    fn get_configs(&self) -> ProviderFuture<'_> {
        let fut = self();
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

/// [`PeriodicTaskManager`] settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PeriodicTaskManagerConfig {
    /// The scheduler's settings.
    pub scheduler: SchedulerConfig,
    /// How often the provider is asked for configs (default 3 min; zero means the default).
    pub sync_interval: Duration,
}

impl Default for PeriodicTaskManagerConfig {
    fn default() -> Self {
        PeriodicTaskManagerConfig::new()
    }
}

impl PeriodicTaskManagerConfig {
    /// Defaults: [`SchedulerConfig::new`], sync every 3 minutes.
    pub fn new() -> Self {
        PeriodicTaskManagerConfig {
            scheduler: SchedulerConfig::new(),
            sync_interval: DEFAULT_SYNC_INTERVAL,
        }
    }

    /// Sets [`PeriodicTaskManagerConfig::scheduler`].
    pub fn scheduler(mut self, config: SchedulerConfig) -> Self {
        self.scheduler = config;
        self
    }

    /// Sets [`PeriodicTaskManagerConfig::sync_interval`].
    pub fn sync_interval(mut self, d: Duration) -> Self {
        self.sync_interval = d;
        self
    }
}

struct Shared {
    scheduler: Scheduler,
    provider: Box<dyn PeriodicTaskConfigProvider>,
    log: Log,
    sync_interval: Duration,
    /// Config hash → entry ID of what is registered.
    registered: tokio::sync::Mutex<BTreeMap<String, String>>,
}

/// Registers and unregisters scheduler entries as a provider's configs change, without a
/// restart (asynq's `PeriodicTaskManager`).
///
/// ```no_run
/// # async fn demo() -> redisq::Result<()> {
/// use std::time::Duration;
/// use redisq::{PeriodicTaskConfig, PeriodicTaskManager, PeriodicTaskManagerConfig, RedisClientOpt, Task};
///
/// let provider = || async {
///     // e.g. read the table of periodic jobs from a database
///     Ok::<_, std::io::Error>(vec![PeriodicTaskConfig::new("*/5 * * * *", Task::new("sync:crm", ""))])
/// };
/// let config = PeriodicTaskManagerConfig::new().sync_interval(Duration::from_secs(60));
/// let manager = PeriodicTaskManager::new(RedisClientOpt::new("127.0.0.1:6379"), provider, config).await?;
/// manager.run().await // until SIGINT or SIGTERM
/// # }
/// ```
///
/// A config's identity is [`PeriodicTaskConfig::hash`]: a changed config is an entry removed
/// and another added. Configs with equal hashes are registered once.
pub struct PeriodicTaskManager {
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

impl fmt::Debug for PeriodicTaskManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicTaskManager")
            .field("scheduler", &self.shared.scheduler)
            .field("sync_interval", &self.shared.sync_interval)
            .finish()
    }
}

impl PeriodicTaskManager {
    /// Validates the configuration and connects to Redis.
    pub async fn new(
        opt: impl Into<RedisConnOpt>,
        provider: impl PeriodicTaskConfigProvider,
        config: PeriodicTaskManagerConfig,
    ) -> Result<PeriodicTaskManager> {
        let log = Log::new(config.scheduler.log_level, config.scheduler.logger.clone());
        let scheduler = Scheduler::new(opt, config.scheduler).await?;
        let sync_interval = if config.sync_interval.is_zero() {
            DEFAULT_SYNC_INTERVAL
        } else {
            config.sync_interval
        };
        Ok(PeriodicTaskManager {
            shared: Arc::new(Shared {
                scheduler,
                provider: Box::new(provider),
                log,
                sync_interval,
                registered: tokio::sync::Mutex::new(BTreeMap::new()),
            }),
            running: tokio::sync::Mutex::new(None),
        })
    }

    /// The underlying scheduler (for its ID, or to register entries the provider does not
    /// manage).
    pub fn scheduler(&self) -> &Scheduler {
        &self.shared.scheduler
    }

    /// Loads the configs, registers them, starts the scheduler, and then syncs every
    /// interval. Returns at once.
    ///
    /// Fails if the provider fails or returns any invalid config (nothing is registered
    /// then), or if already started or shut down. Later, a failing provider or an invalid
    /// config is logged and that sync is skipped: the registered entries stay as they were.
    pub async fn start(&self) -> Result<()> {
        let mut running = self.running.lock().await;
        if running.is_some() {
            return Err(Error::new(
                Kind::FailedPrecondition,
                "redisq: the periodic task manager is already running",
            ));
        }
        let configs = self.shared.provider.get_configs().await.map_err(|e| {
            Error::new(
                Kind::FailedPrecondition,
                "redisq: initial call to get_configs failed",
            )
            .with_source(e)
        })?;
        for c in &configs {
            c.validate().map_err(|e| {
                Error::invalid_option(format!(
                    "redisq: initial call to get_configs returned an invalid config (cronspec {:?}, task {:?}): {e}",
                    c.cronspec,
                    c.task.task_type()
                ))
            })?;
        }
        self.shared.apply(configs).await;
        self.shared.scheduler.start().await?;
        let stop = CancellationToken::new();
        let (shared, s) = (self.shared.clone(), stop.clone());
        let handle = supervise::spawn(
            "periodic task sync",
            shared.log.clone(),
            stop.clone(),
            move || sync_loop(shared.clone(), s.clone()),
        );
        *running = Some((stop, handle));
        Ok(())
    }

    /// Stops syncing and shuts the scheduler down. Calling it again does nothing.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        if let Some((stop, handle)) = running.take() {
            stop.cancel();
            if let Err(e) = handle.await {
                self.shared
                    .log
                    .error(format_args!("the periodic task sync ended abnormally: {e}"));
            }
        }
        self.shared.scheduler.shutdown().await;
    }

    /// Starts, then waits for SIGINT or SIGTERM and shuts down.
    pub async fn run(&self) -> Result<()> {
        self.start().await?;
        next_signal(&self.shared.log, false).await;
        self.shutdown().await;
        Ok(())
    }

    /// Asks the provider now and applies the result, as a periodic sync does. Returns the
    /// provider's or validation's error (the entries are then unchanged).
    pub async fn sync_now(&self) -> Result<()> {
        self.shared.sync().await
    }
}

impl Drop for PeriodicTaskManager {
    /// Dropping a running manager stops syncing and stops its scheduler (see
    /// [`Scheduler`]'s `Drop`); call [`PeriodicTaskManager::shutdown`] for a clean stop.
    fn drop(&mut self) {
        if let Some((stop, _)) = self.running.get_mut() {
            stop.cancel();
        }
    }
}

impl Shared {
    /// One periodic sync: all or nothing as far as validity goes.
    async fn sync(&self) -> Result<()> {
        let configs = self.provider.get_configs().await.map_err(|e| {
            Error::new(Kind::FailedPrecondition, "redisq: get_configs failed").with_source(e)
        })?;
        for c in &configs {
            c.validate().map_err(|e| {
                Error::invalid_option(format!(
                    "redisq: get_configs returned an invalid config (cronspec {:?}, task {:?}): {e}",
                    c.cronspec,
                    c.task.task_type()
                ))
            })?;
        }
        self.apply(configs).await;
        Ok(())
    }

    /// Unregisters entries whose config vanished and registers new ones.
    async fn apply(&self, configs: Vec<PeriodicTaskConfig>) {
        let mut wanted: BTreeMap<String, PeriodicTaskConfig> = BTreeMap::new();
        for c in configs {
            wanted.entry(c.hash()).or_insert(c);
        }
        let mut registered = self.registered.lock().await;
        let gone: Vec<String> = registered
            .keys()
            .filter(|h| !wanted.contains_key(*h))
            .cloned()
            .collect();
        for hash in gone {
            if let Some(id) = registered.remove(&hash) {
                match self.scheduler.unregister(&id) {
                    Ok(()) => self
                        .log
                        .info(format_args!("unregistered periodic task entry {id}")),
                    Err(e) => self.log.error(format_args!(
                        "could not unregister periodic task entry {id}: {e}"
                    )),
                }
            }
        }
        for (hash, c) in wanted {
            if registered.contains_key(&hash) {
                continue;
            }
            match self
                .scheduler
                .register(&c.cronspec, c.task.clone(), c.opts.clone())
            {
                Ok(id) => {
                    self.log.info(format_args!(
                        "registered periodic task: cronspec={:?} task={:?} entry={id}",
                        c.cronspec,
                        c.task.task_type()
                    ));
                    registered.insert(hash, id);
                }
                Err(e) => self.log.error(format_args!(
                    "could not register periodic task: cronspec={:?} task={:?}: {e}",
                    c.cronspec,
                    c.task.task_type()
                )),
            }
        }
    }
}

async fn sync_loop(shared: Arc<Shared>, stop: CancellationToken) {
    while sleep_or(&stop, shared.sync_interval).await {
        if let Err(e) = shared.sync().await {
            shared
                .log
                .error(format_args!("periodic task sync skipped: {e}"));
        }
    }
}
