//! The worker side: [`Server`] pulls tasks from Redis and runs them with a [`Handler`].
//!
//! One module per background component, as in asynq: the [`processor`] (dequeue and run),
//! the [`heartbeat`] (server state and lease extension), the [`forwarder`] (due scheduled and
//! retry tasks), the [`recoverer`] (expired leases, decision D5), the [`janitor`] (completed
//! tasks past retention), the [`syncer`] (writes that failed while Redis was away), the
//! [`subscriber`] (cancellation) and the [`healthcheck`].

pub(crate) mod aggregator;
mod completer;
pub(crate) mod config;
mod forwarder;
mod healthcheck;
mod heartbeat;
mod janitor;
mod processor;
mod recoverer;
mod subscriber;
mod syncer;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use self::config::Config;
use self::syncer::Syncer;
use crate::RedisConnOpt;
use crate::connection::Connection;
use crate::error::{Error, Kind, Result};
use crate::handler::{BoxHandler, Handler};
use crate::rdb::Rdb;
use crate::rdb::keys::Keys;
use crate::rdb::proto::TaskMessage;
use crate::runtime::log::{Log, RateLimited};
use crate::runtime::signal::{Signal, next_signal};

/// The lifecycle states, as written to `ServerInfo.status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    New,
    Active,
    Stopped,
    Closed,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Active => "active",
            Status::Stopped => "stopped",
            Status::Closed => "closed",
        }
    }
}

/// A task being processed by this server.
pub(crate) struct ActiveTask {
    pub(crate) msg: TaskMessage,
    pub(crate) started: SystemTime,
    pub(crate) deadline: SystemTime,
    /// Local lease expiry: extended by each successful heartbeat.
    pub(crate) lease_until: Mutex<Instant>,
    /// Fired by the heartbeat when the lease could not be extended in time.
    pub(crate) lease_lost: CancellationToken,
    /// Fired by the subscriber when an operator cancels the task.
    pub(crate) cancelled: CancellationToken,
}

impl ActiveTask {
    pub(crate) fn lease_valid(&self) -> bool {
        self.lease_until
            .lock()
            .map(|l| *l > Instant::now())
            .unwrap_or(false)
    }

    pub(crate) fn lease_remaining(&self) -> std::time::Duration {
        self.lease_until
            .lock()
            .map(|l| l.saturating_duration_since(Instant::now()))
            .unwrap_or_default()
    }
}

/// State shared by the server's components.
pub(crate) struct Shared {
    pub(crate) rdb: Arc<Rdb>,
    pub(crate) config: Config,
    pub(crate) log: Log,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) server_id: String,
    pub(crate) started: SystemTime,
    pub(crate) queues: Vec<String>,
    pub(crate) status: Mutex<Status>,
    /// Active tasks by (queue, id).
    pub(crate) active: Mutex<HashMap<(String, String), Arc<ActiveTask>>>,
    pub(crate) syncer: Syncer,
    pub(crate) redis_errors: RateLimited,
    /// Wakes the idle processor (decision D10).
    pub(crate) wake_processor: tokio::sync::Notify,
    /// Wakes the forwarder when an earlier scheduled or retry task appears.
    pub(crate) wake_forwarder: tokio::sync::Notify,
    /// Batches successful completions (decision D12).
    pub(crate) completer: completer::Completer,
}

impl Shared {
    pub(crate) fn status(&self) -> Status {
        self.status.lock().map(|s| *s).unwrap_or(Status::Closed)
    }

    fn set_status(&self, st: Status) {
        if let Ok(mut s) = self.status.lock() {
            *s = st;
        }
    }

    pub(crate) fn active_snapshot(&self) -> Vec<Arc<ActiveTask>> {
        self.active
            .lock()
            .map(|a| a.values().cloned().collect())
            .unwrap_or_default()
    }

    pub(crate) fn is_active(&self, queue: &str, id: &str) -> bool {
        self.active
            .lock()
            .map(|a| a.contains_key(&(queue.to_string(), id.to_string())))
            .unwrap_or(false)
    }

    /// Logs a Redis error at most once per 3 s.
    pub(crate) fn redis_error(&self, what: &str, err: &Error) {
        if let Some(suppressed) = self.redis_errors.allow() {
            if suppressed > 0 {
                self.log.error(format_args!(
                    "{what}: {err} ({suppressed} similar errors suppressed)"
                ));
            } else {
                self.log.error(format_args!("{what}: {err}"));
            }
        }
    }
}

struct Running {
    stop: CancellationToken,
    abort: CancellationToken,
    done: CancellationToken,
    semaphore: Arc<Semaphore>,
    processor: JoinHandle<()>,
    components: Vec<JoinHandle<()>>,
    heartbeat: JoinHandle<()>,
}

/// Processes tasks (asynq's `Server`).
///
/// ```no_run
/// # async fn demo() -> redisq::Result<()> {
/// use redisq::{Config, RedisClientOpt, Server, ServeMux, Task, TaskContext};
///
/// let mut mux = ServeMux::new();
/// mux.handle("email:welcome", |_ctx: TaskContext, task: Task| async move {
///     println!("welcome {}", String::from_utf8_lossy(task.payload()));
///     Ok(())
/// });
/// let config = Config::new().concurrency(10).queues([("critical", 6), ("default", 3), ("low", 1)]);
/// let server = Server::new(RedisClientOpt::new("127.0.0.1:6379"), config).await?;
/// server.run(mux).await // until SIGINT or SIGTERM
/// # }
/// ```
pub struct Server {
    shared: Arc<Shared>,
    running: tokio::sync::Mutex<Option<Running>>,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("server_id", &self.shared.server_id)
            .field("status", &self.shared.status())
            .field("queues", &self.shared.queues)
            .finish()
    }
}

impl Server {
    /// Validates the configuration and connects to Redis.
    pub async fn new(opt: impl Into<RedisConnOpt>, config: Config) -> Result<Server> {
        config.validate()?;
        let conn = Connection::connect(opt).await?;
        Server::from_connection(&conn, config)
    }

    /// A server on an existing connection (shared with a [`crate::Client`],
    /// [`crate::Inspector`] or [`crate::Scheduler`] of the same process). It still opens a
    /// pub/sub connection and, for its heartbeat, a connection on a thread of its own.
    pub fn from_connection(conn: &Connection, config: Config) -> Result<Server> {
        config.validate()?;
        let conn = conn.inner().clone();
        let rdb = Arc::new(Rdb::new(conn, Keys::new(config.namespace.as_str())));
        let log = Log::new(config.log_level, config.logger.clone());
        let queues = config.queues.keys().cloned().collect();
        let shared = Arc::new(Shared {
            syncer: Syncer::new(),
            rdb,
            log,
            host: gethostname::gethostname()
                .into_string()
                .unwrap_or_else(|_| "unknown-host".to_string()),
            pid: std::process::id(),
            server_id: uuid::Uuid::new_v4().to_string(),
            started: SystemTime::now(),
            queues,
            status: Mutex::new(Status::New),
            active: Mutex::new(HashMap::new()),
            redis_errors: RateLimited::new(std::time::Duration::from_secs(3)),
            wake_processor: tokio::sync::Notify::new(),
            wake_forwarder: tokio::sync::Notify::new(),
            completer: completer::Completer::new(),
            config,
        });
        Ok(Server {
            shared,
            running: tokio::sync::Mutex::new(None),
        })
    }

    /// The server's ID (part of its keys in Redis).
    pub fn id(&self) -> &str {
        &self.shared.server_id
    }

    /// Starts the background components and begins processing. Returns at once.
    ///
    /// Fails if the server was already started or was shut down.
    pub async fn start(&self, handler: impl Handler) -> Result<()> {
        let mut running = self.running.lock().await;
        match self.shared.status() {
            Status::New => {}
            Status::Closed => {
                return Err(Error::new(Kind::Closed, "redisq: Server closed"));
            }
            Status::Active | Status::Stopped => {
                return Err(Error::new(
                    Kind::FailedPrecondition,
                    "redisq: the server is already running",
                ));
            }
        }
        self.shared.set_status(Status::Active);
        let handler: BoxHandler = Arc::new(handler);
        let shared = self.shared.clone();
        let (stop, abort, done) = (
            CancellationToken::new(),
            CancellationToken::new(),
            CancellationToken::new(),
        );
        let semaphore = Arc::new(Semaphore::new(shared.config.concurrency));
        heartbeat::beat(&shared).await;
        let heartbeat = tokio::spawn(heartbeat::run(shared.clone(), done.clone()));
        let mut components = vec![
            tokio::spawn(completer::run(
                shared.clone(),
                done.clone(),
                completer::Starter {
                    handler: handler.clone(),
                    stop: stop.clone(),
                    abort: abort.clone(),
                },
            )),
            tokio::spawn(subscriber::run(shared.clone(), done.clone())),
            tokio::spawn(syncer::run(shared.clone(), done.clone())),
            tokio::spawn(recoverer::run(shared.clone(), done.clone())),
            tokio::spawn(forwarder::run(shared.clone(), done.clone())),
            tokio::spawn(janitor::run(shared.clone(), done.clone())),
        ];
        if shared.config.group_aggregator.is_some() {
            components.push(tokio::spawn(aggregator::run(shared.clone(), done.clone())));
        }
        if shared.config.health_check.is_some() {
            components.push(tokio::spawn(healthcheck::run(shared.clone(), done.clone())));
        }
        let processor = tokio::spawn(processor::run(
            shared.clone(),
            handler,
            semaphore.clone(),
            stop.clone(),
            abort.clone(),
        ));
        shared.log.info(format_args!(
            "starting processing (server {}, concurrency {}, queues {:?})",
            shared.server_id, shared.config.concurrency, shared.config.queues
        ));
        *running = Some(Running {
            stop,
            abort,
            done,
            semaphore,
            processor,
            components,
            heartbeat,
        });
        Ok(())
    }

    /// Stops taking new tasks; running tasks finish. Call [`Server::shutdown`] to end.
    pub async fn stop(&self) {
        let running = self.running.lock().await;
        if let Some(r) = running.as_ref() {
            if self.shared.status() == Status::Active {
                self.shared
                    .log
                    .info(format_args!("stopping: no new tasks will be processed"));
                self.shared.set_status(Status::Stopped);
            }
            r.stop.cancel();
        }
    }

    /// Stops taking tasks, waits up to the shutdown timeout for running tasks, requeues the
    /// ones still running at the front of their queues, stops every component and removes
    /// the server's state from Redis. Calling it again does nothing.
    pub async fn shutdown(&self) {
        let mut running = self.running.lock().await;
        let Some(r) = running.take() else {
            self.shared.set_status(Status::Closed);
            return;
        };
        self.shared.log.info(format_args!("shutting down"));
        self.shared.set_status(Status::Closed);
        r.stop.cancel();
        let _ = r.processor.await;
        let all = u32::try_from(self.shared.config.concurrency).unwrap_or(u32::MAX);
        let waited = tokio::time::timeout(
            self.shared.config.shutdown_timeout,
            r.semaphore.acquire_many(all),
        )
        .await;
        if waited.is_err() {
            self.shared.log.warn(format_args!(
                "shutdown timeout reached: requeueing the tasks still running"
            ));
            r.abort.cancel();
            let _ = r.semaphore.acquire_many(all).await;
        }
        r.done.cancel();
        for c in r.components {
            let _ = c.await;
        }
        // The heartbeat goes last: it removes the server's keys.
        let _ = r.heartbeat.await;
        self.shared.log.info(format_args!("shutdown complete"));
    }

    /// Starts, then waits for a signal: SIGTERM or SIGINT shut down; SIGTSTP stops taking
    /// new tasks and keeps waiting.
    pub async fn run(&self, handler: impl Handler) -> Result<()> {
        self.start(handler).await?;
        while next_signal(&self.shared.log, true).await == Signal::Stop {
            self.stop().await;
        }
        self.shutdown().await;
        Ok(())
    }

    /// Checks that Redis answers (`Ok` also once the server is closed, as in asynq).
    pub async fn ping(&self) -> Result<()> {
        if self.shared.status() == Status::Closed {
            return Ok(());
        }
        self.shared.rdb.ping().await
    }
}
