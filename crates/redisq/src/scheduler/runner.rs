//! The cron [`Scheduler`]: fires registered entries, enqueues their tasks, and keeps its
//! entries and their enqueue history in Redis for asynq's inspector, CLI and asynqmon.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::cron::{CronSchedule, Location};
use super::identity::{fire_identity, option_strings};
use super::options::SchedulerConfig;
use crate::RedisConnOpt;
use crate::connection::Connection;
use crate::core::message;
use crate::core::time;
use crate::error::{Error, Kind, Result};
use crate::option::TaskOption;
use crate::rdb::Rdb;
use crate::rdb::keys::Keys;
use crate::rdb::proto::{SchedulerEnqueueEvent, SchedulerEntry, timestamp_from};
use crate::runtime::log::Log;
use crate::runtime::signal::next_signal;
use crate::runtime::{sleep_or, supervise};
use crate::task::{Task, TaskInfo};

/// How long a fire claim outlives its occurrence window, to cover clock skew between
/// scheduler processes and late fires.
pub(crate) const CLAIM_MARGIN: Duration = Duration::from_secs(5 * 60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    New,
    Running,
    Closed,
}

/// One registered entry.
struct Entry {
    id: String,
    schedule: CronSchedule,
    task: Task,
    opts: Vec<TaskOption>,
    option_strings: Vec<String>,
    identity: String,
    next: Option<SystemTime>,
    prev: Option<SystemTime>,
}

struct State {
    status: Status,
    entries: Vec<Entry>,
    /// IDs of unregistered entries whose history is deleted at shutdown.
    removed: Vec<String>,
}

struct Inner {
    id: String,
    config: SchedulerConfig,
    /// Set at shutdown: fires still under way enqueue nothing more.
    closed: std::sync::atomic::AtomicBool,
    rdb: Rdb,
    log: Log,
    state: Mutex<State>,
    changed: Notify,
}

impl Inner {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep going with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn location(&self) -> Location {
        self.config.location
    }
}

struct Running {
    stop: CancellationToken,
    runner: JoinHandle<()>,
    heartbeat: JoinHandle<()>,
}

/// Enqueues tasks periodically, on cron schedules (asynq's `Scheduler`).
///
/// ```no_run
/// # async fn demo() -> redisq::Result<()> {
/// use redisq::{RedisClientOpt, Scheduler, SchedulerConfig, Task, TaskOption};
///
/// let scheduler = Scheduler::new(RedisClientOpt::new("127.0.0.1:6379"), SchedulerConfig::new()).await?;
/// scheduler.register("0 3 * * *", Task::new("report:nightly", ""), [TaskOption::queue("low")])?;
/// scheduler.register("@every 30s", Task::new("health:probe", ""), [])?;
/// scheduler.run().await // until SIGINT or SIGTERM
/// # }
/// ```
///
/// See [`crate::CronSchedule`] for the accepted specs. Entries can be registered and
/// unregistered at any time, also while running.
///
/// # In Redis
///
/// Every heartbeat interval the scheduler writes its entries to
/// `<ns>:schedulers:{<host>:<pid>:<uuid>}` (with a TTL of twice the interval) and indexes the
/// list in `<ns>:schedulers`, as asynq does, so `asynq cron ls` and asynqmon show them with
/// their option strings and next/previous fire times. Each successful enqueue is recorded in
/// `<ns>:scheduler_history:<entry id>` (newest 1000 kept). Shutdown removes the entries, the
/// index member and the history of every entry this scheduler had; enqueued tasks stay.
///
/// # Several scheduler processes
///
/// asynq enqueues one copy per scheduler process. redisq (unless
/// [`SchedulerConfig::deduplicate`] is off) enqueues each occurrence once, whichever processes
/// run the entry: before enqueueing, a process claims the occurrence with
/// `SET <ns>:scheduler_fire:{<entry hash>}:<occurrence unix s> <scheduler id> NX EX <ttl>`
/// and only the process that set the key enqueues (and runs the hooks). The entry hash is a
/// SHA-256 of the spec, task type, payload, headers and sorted option strings, so equal
/// registrations in different processes share it although their entry IDs differ.
///
/// - For a five-field spec or a descriptor the occurrence is the scheduled second, computed
///   from the schedule, not from the clock at firing, so clock skew between processes does
///   not split an occurrence in two.
/// - An `@every` entry's fire times depend on when each process started, so occurrences are
///   windows: the period-long slices of time since the Unix epoch. Each window is enqueued
///   once, by the first process that fires in it.
///
/// If the claim itself fails (Redis unreachable), the hooks run with that error and nothing
/// is enqueued, since the enqueue would fail as well.
///
/// The claim key expires 5 minutes after its occurrence (window). It is a redisq-only key:
/// Go asynq never reads it, and a Go scheduler on the same Redis still enqueues its own
/// copies.
pub struct Scheduler {
    inner: Arc<Inner>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.inner.state();
        f.debug_struct("Scheduler")
            .field("id", &self.inner.id)
            .field("status", &st.status)
            .field("entries", &st.entries.len())
            .finish()
    }
}

impl Scheduler {
    /// Validates the configuration and connects to Redis.
    pub async fn new(opt: impl Into<RedisConnOpt>, config: SchedulerConfig) -> Result<Scheduler> {
        let config = config.validated()?;
        // One connection for the scheduler's own writes and its enqueues.
        let conn = Connection::connect(opt).await?;
        Scheduler::from_connection(&conn, config)
    }

    /// A scheduler on an existing connection (shared with a [`crate::Client`],
    /// [`crate::Server`] or [`crate::Inspector`] of the same process).
    pub fn from_connection(conn: &Connection, config: SchedulerConfig) -> Result<Scheduler> {
        let config = config.validated()?;
        let conn = conn.inner().clone();
        let host = gethostname::gethostname()
            .into_string()
            .unwrap_or_else(|_| "unknown-host".to_string());
        let id = format!("{host}:{}:{}", std::process::id(), uuid::Uuid::new_v4());
        Ok(Scheduler {
            inner: Arc::new(Inner {
                rdb: Rdb::new(conn, Keys::new(config.namespace.as_str())),
                log: Log::new(config.log_level, config.logger.clone()),
                id,
                config,
                closed: std::sync::atomic::AtomicBool::new(false),
                state: Mutex::new(State {
                    status: Status::New,
                    entries: Vec::new(),
                    removed: Vec::new(),
                }),
                changed: Notify::new(),
            }),
            running: tokio::sync::Mutex::new(None),
        })
    }

    /// The scheduler's ID, `<hostname>:<pid>:<uuid>` (part of its entries key in Redis).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Registers a periodic task and returns the entry's ID (a random UUID). `opts` apply
    /// after the task's own options at each enqueue.
    ///
    /// Fails with an invalid-option error for an invalid spec, an empty task type or an
    /// invalid option (checked now rather than at every fire), and with a closed error after
    /// shutdown. Usable while running: the entry first fires at its next time after now.
    pub fn register(
        &self,
        cronspec: &str,
        task: Task,
        opts: impl IntoIterator<Item = TaskOption>,
    ) -> Result<String> {
        let schedule = CronSchedule::parse(cronspec)?;
        if task.task_type().trim().is_empty() {
            return Err(Error::invalid_option("task typename cannot be empty"));
        }
        let opts: Vec<TaskOption> = opts.into_iter().collect();
        crate::option::resolve(task.options().iter().chain(&opts), SystemTime::now())?;
        let strings = option_strings(&task, &opts);
        let identity = fire_identity(cronspec, &task, &strings);
        let id = uuid::Uuid::new_v4().to_string();
        let mut st = self.inner.state();
        if st.status == Status::Closed {
            return Err(Error::new(Kind::Closed, "redisq: scheduler closed"));
        }
        let next = (st.status == Status::Running)
            .then(|| schedule.next_in(SystemTime::now(), self.inner.location()))
            .flatten();
        st.entries.push(Entry {
            id: id.clone(),
            schedule,
            task,
            opts,
            option_strings: strings,
            identity,
            next,
            prev: None,
        });
        drop(st);
        self.inner.changed.notify_one();
        self.inner.log.debug(format_args!(
            "scheduler registered entry {id} ({cronspec:?})"
        ));
        Ok(id)
    }

    /// Removes an entry; it fires no more (an enqueue already under way completes). Its
    /// history is deleted at shutdown. Fails with an invalid-option error for an unknown ID.
    pub fn unregister(&self, entry_id: &str) -> Result<()> {
        let mut st = self.inner.state();
        let Some(pos) = st.entries.iter().position(|e| e.id == entry_id) else {
            return Err(Error::invalid_option(format!(
                "redisq: no scheduler entry found with ID {entry_id:?}"
            )));
        };
        st.entries.remove(pos);
        st.removed.push(entry_id.to_string());
        drop(st);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// The IDs of the registered entries, in registration order.
    pub fn entry_ids(&self) -> Vec<String> {
        self.inner
            .state()
            .entries
            .iter()
            .map(|e| e.id.clone())
            .collect()
    }

    /// Starts firing entries and writing heartbeats. Returns at once.
    ///
    /// Fails if already started or shut down.
    pub async fn start(&self) -> Result<()> {
        let mut running = self.running.lock().await;
        {
            let mut st = self.inner.state();
            match st.status {
                Status::New => {}
                Status::Running => {
                    return Err(Error::new(
                        Kind::FailedPrecondition,
                        "redisq: the scheduler is already running",
                    ));
                }
                Status::Closed => return Err(Error::new(Kind::Closed, "redisq: scheduler closed")),
            }
            let now = SystemTime::now();
            let loc = self.inner.location();
            for e in &mut st.entries {
                e.next = e.schedule.next_in(now, loc);
            }
            st.status = Status::Running;
        }
        let stop = CancellationToken::new();
        // Supervised: a panic in either is logged and the loop restarts.
        let (inner, s) = (self.inner.clone(), stop.clone());
        let runner = supervise::spawn("scheduler", inner.log.clone(), stop.clone(), move || {
            run_entries(inner.clone(), s.clone())
        });
        let (inner, s) = (self.inner.clone(), stop.clone());
        let heartbeat = supervise::spawn(
            "scheduler heartbeat",
            inner.log.clone(),
            stop.clone(),
            move || heartbeat(inner.clone(), s.clone()),
        );
        self.inner.log.info(format_args!(
            "scheduler {} starting (location {})",
            self.inner.id,
            self.inner.location()
        ));
        *running = Some(Running {
            stop,
            runner,
            heartbeat,
        });
        Ok(())
    }

    /// Stops firing, waits for enqueues under way, removes the scheduler's entries and the
    /// history of its entries from Redis, and closes its client. Calling it again does
    /// nothing.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        let was_running = {
            let mut st = self.inner.state();
            let was = st.status == Status::Running;
            st.status = Status::Closed;
            was
        };
        let Some(r) = running.take() else {
            return;
        };
        debug_assert!(was_running);
        self.inner.log.info(format_args!("scheduler shutting down"));
        r.stop.cancel();
        if let Err(e) = r.runner.await {
            self.inner
                .log
                .error(format_args!("the scheduler ended abnormally: {e}"));
        }
        // The heartbeat removes the entries key and its index member when it stops.
        if let Err(e) = r.heartbeat.await {
            self.inner.log.error(format_args!(
                "the scheduler heartbeat ended abnormally: {e}"
            ));
        }
        let ids: Vec<String> = {
            let st = self.inner.state();
            st.entries
                .iter()
                .map(|e| e.id.clone())
                .chain(st.removed.iter().cloned())
                .collect()
        };
        for id in ids {
            if let Err(e) = self.inner.rdb.clear_scheduler_history(&id).await {
                self.inner.log.warn(format_args!(
                    "could not delete the history of scheduler entry {id}: {e}"
                ));
            }
        }
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.log.info(format_args!("scheduler stopped"));
    }

    /// Starts, then waits for SIGINT or SIGTERM and shuts down.
    pub async fn run(&self) -> Result<()> {
        self.start().await?;
        next_signal(&self.inner.log, false).await;
        self.shutdown().await;
        Ok(())
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        self.inner.rdb.ping().await
    }
}

impl Drop for Scheduler {
    /// Dropping a running scheduler stops it: no more fires, and the heartbeat removes the
    /// entries in the background. It does not wait for enqueues under way nor delete the
    /// history; call [`Scheduler::shutdown`] for that.
    fn drop(&mut self) {
        if let Some(r) = self.running.get_mut() {
            r.stop.cancel();
        }
    }
}

/// What one fire needs, copied out of the entry.
struct Job {
    entry_id: String,
    task: Task,
    opts: Vec<TaskOption>,
    identity: String,
    every: Option<Duration>,
    scheduled: SystemTime,
}

/// Fires due entries until `stop`, then waits for the enqueues under way.
async fn run_entries(inner: Arc<Inner>, stop: CancellationToken) {
    let mut jobs = JoinSet::new();
    let loc = inner.location();
    loop {
        let now = SystemTime::now();
        let (due, earliest) = {
            let mut st = inner.state();
            let mut due = Vec::new();
            for e in &mut st.entries {
                let Some(next) = e.next else { continue };
                if next > now {
                    continue;
                }
                due.push(Job {
                    entry_id: e.id.clone(),
                    task: e.task.clone(),
                    opts: e.opts.clone(),
                    identity: e.identity.clone(),
                    every: e.schedule.every(),
                    scheduled: next,
                });
                // As robfig/cron: the next time is computed from the wake-up time.
                e.prev = Some(next);
                e.next = e.schedule.next_in(now, loc);
            }
            let earliest = st.entries.iter().filter_map(|e| e.next).min();
            (due, earliest)
        };
        for job in due {
            jobs.spawn(fire(inner.clone(), job));
        }
        let wait = earliest
            .map(|t| {
                t.duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO)
            })
            .unwrap_or(Duration::from_secs(3600));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = inner.changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(res) = jobs.join_next(), if !jobs.is_empty() => {
                if let Err(e) = res {
                    inner.log.error(format_args!("a scheduler job failed: {e}"));
                }
            }
        }
    }
    while let Some(res) = jobs.join_next().await {
        if let Err(e) = res {
            inner.log.error(format_args!("a scheduler job failed: {e}"));
        }
    }
}

/// The occurrence a fire claims and how long the claim lives.
fn occurrence(job: &Job) -> (i64, Duration) {
    let at = time::unix_secs(job.scheduled);
    match job.every {
        Some(period) => {
            let p = i64::try_from(period.as_secs().max(1)).unwrap_or(i64::MAX);
            (at.div_euclid(p) * p, period + CLAIM_MARGIN)
        }
        None => (at, CLAIM_MARGIN),
    }
}

/// Claims (unless deduplication is off), enqueues with the hooks, and records the event.
async fn fire(inner: Arc<Inner>, job: Job) {
    let cfg = &inner.config;
    if cfg.deduplicate {
        let (occ, ttl) = occurrence(&job);
        match inner
            .rdb
            .claim_scheduler_fire(&job.identity, occ, &inner.id, ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                inner.log.debug(format_args!(
                    "scheduler entry {}: occurrence {occ} is enqueued by another scheduler",
                    job.entry_id
                ));
                return;
            }
            Err(e) => {
                inner.log.error(format_args!(
                    "scheduler entry {}: could not claim occurrence {occ}: {e}",
                    job.entry_id
                ));
                pre_enqueue(&inner, &job);
                post_enqueue(&inner, &Err(e));
                return;
            }
        }
    }
    pre_enqueue(&inner, &job);
    let res = enqueue(&inner, &job).await;
    post_enqueue(&inner, &res);
    let info = match res {
        Ok(info) => info,
        Err(e) => {
            inner.log.error(format_args!(
                "scheduler could not enqueue a {:?} task (entry {}): {e}",
                job.task.task_type(),
                job.entry_id
            ));
            return;
        }
    };
    inner.log.debug(format_args!(
        "scheduler enqueued task {} (entry {})",
        info.id, job.entry_id
    ));
    let event = SchedulerEnqueueEvent {
        task_id: info.id,
        enqueue_time: Some(timestamp_from(Some(SystemTime::now()))),
    };
    if let Err(e) = inner
        .rdb
        .record_scheduler_enqueue_event(&job.entry_id, &event)
        .await
    {
        inner.log.warn(format_args!(
            "could not record the enqueue event of scheduler entry {}: {e}",
            job.entry_id
        ));
    }
}

/// Calls the user's pre-enqueue hook; a panic in it is logged and the fire goes on.
fn pre_enqueue(inner: &Inner, job: &Job) {
    if let Some(pre) = &inner.config.pre_enqueue {
        let _ = supervise::call(&inner.log, "the scheduler's pre-enqueue hook", || {
            pre(&job.task, &job.opts)
        });
    }
}

/// Calls the user's post-enqueue hook; a panic in it is logged.
fn post_enqueue(inner: &Inner, res: &Result<TaskInfo>) {
    if let Some(post) = &inner.config.post_enqueue {
        let _ = supervise::call(&inner.log, "the scheduler's post-enqueue hook", || {
            post(res)
        });
    }
}

/// Enqueues one fire's task, as `Client::enqueue_with` would.
async fn enqueue(inner: &Inner, job: &Job) -> Result<TaskInfo> {
    if inner.closed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(Error::new(Kind::Closed, "redisq: scheduler closed"));
    }
    let new = message::build(&job.task, &job.opts, SystemTime::now())?;
    inner.rdb.enqueue_new(&new).await?;
    Ok(new.info())
}

/// Writes the entries every interval (the first time one interval after start, as asynq),
/// and removes them when stopped.
async fn heartbeat(inner: Arc<Inner>, stop: CancellationToken) {
    let interval = inner.config.heartbeat_interval;
    while sleep_or(&stop, interval).await {
        beat(&inner).await;
    }
    if let Err(e) = inner.rdb.clear_scheduler_entries(&inner.id).await {
        inner
            .log
            .warn(format_args!("could not clear the scheduler entries: {e}"));
    }
}

async fn beat(inner: &Inner) {
    let mut entries: Vec<(Option<SystemTime>, SchedulerEntry)> = {
        let st = inner.state();
        st.entries
            .iter()
            .map(|e| {
                (
                    e.next,
                    SchedulerEntry {
                        id: e.id.clone(),
                        spec: e.schedule.as_str().to_string(),
                        task_type: e.task.task_type().to_string(),
                        task_payload: e.task.payload_opt().cloned().unwrap_or_default(),
                        enqueue_options: e.option_strings.clone(),
                        next_enqueue_time: Some(timestamp_from(e.next)),
                        prev_enqueue_time: Some(timestamp_from(e.prev)),
                    },
                )
            })
            .collect()
    };
    // robfig/cron lists entries by next time, entries without one last.
    entries.sort_by_key(|(next, _)| (next.is_none(), *next));
    let entries: Vec<SchedulerEntry> = entries.into_iter().map(|(_, e)| e).collect();
    let ttl = inner.config.heartbeat_interval * 2;
    if let Err(e) = inner
        .rdb
        .write_scheduler_entries(&inner.id, &entries, ttl, SystemTime::now())
        .await
    {
        inner
            .log
            .error(format_args!("could not write the scheduler entries: {e}"));
    }
}
