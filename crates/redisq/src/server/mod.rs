//! The worker side: [`Server`] pulls tasks from Redis and runs them with a [`Handler`].
//!
//! One module per background component, as in asynq: the [`processor`] (picks queues and
//! dequeues), the [`worker`]s (run one task each and record its outcome through
//! [`outcome`]), the [`completer`] (batched completions), the [`heartbeat`] (server state
//! and lease extension, on a thread of its own), the [`forwarder`] (due scheduled and retry
//! tasks), the [`recoverer`] (expired leases), the [`janitor`] (completed tasks
//! past retention), the [`syncer`] (writes that failed while Redis was away), the
//! [`subscriber`] (cancellation, forwarder wake-ups, limit changes), the [`waker`] (wakes
//! the idle processor, one server per arrival), the [`limits`] (the fleet-wide limits in
//! force), the [`aggregator`] and the [`healthcheck`].
//! [`state`] holds what they share. Components are supervised: one that panics is logged and
//! restarted.

pub(crate) mod aggregator;
mod completer;
pub(crate) mod config;
mod flows;
mod forwarder;
mod healthcheck;
mod heartbeat;
mod janitor;
mod limits;
mod linger;
mod outcome;
mod priority;
mod processor;
mod recoverer;
mod state;
mod subscriber;
mod syncer;
mod waker;
mod worker;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::config::Config;
use self::state::{Shared, Status};
use self::syncer::Syncer;
use self::worker::Workers;
use crate::RedisConnOpt;
use crate::connection::Connection;
use crate::error::{Error, Kind, Result};
use crate::handler::{BoxHandler, Handler};
use crate::rdb::Rdb;
use crate::rdb::keys::Keys;
use crate::runtime::log::{Log, RateLimited};
use crate::runtime::metrics;
use crate::runtime::signal::{Signal, next_signal};
use crate::runtime::supervise;

/// A started server's moving parts.
struct Running {
    stop: CancellationToken,
    abort: CancellationToken,
    done: CancellationToken,
    tracker: TaskTracker,
    processor: JoinHandle<()>,
    components: Vec<JoinHandle<()>>,
    heartbeat: oneshot::Receiver<()>,
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
        let rdb = Arc::new(Rdb::new(
            conn.inner().clone(),
            Keys::new(config.namespace.as_str()),
        ));
        let log = Log::new(config.log_level, config.logger.clone());
        let queues: Vec<String> = config.queues.keys().cloned().collect();
        // Until the stored limits are read, the config's own are in force.
        let limits = state::ServerLimits::new(config.limits.clone(), &queues, &[]);
        let shared = Arc::new(Shared {
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
            processor_idle: tokio::sync::watch::Sender::new(false),
            linger: linger::Linger::default(),
            wake_forwarder: tokio::sync::Notify::new(),
            limits: std::sync::RwLock::new(Arc::new(limits)),
            limits_changed: tokio::sync::Notify::new(),
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
        metrics::describe();
        let handler: BoxHandler = Arc::new(handler);
        let shared = self.shared.clone();
        let (stop, abort, done) = (
            CancellationToken::new(),
            CancellationToken::new(),
            CancellationToken::new(),
        );
        let concurrency = shared.config.concurrency;
        let semaphore = Arc::new(Semaphore::new(concurrency));
        heartbeat::beat(&shared, &shared.rdb).await;
        limits::publish_config(&shared).await;
        let heartbeat = heartbeat::start(shared.clone(), done.clone());
        let (completer, completions) = completer::channel(concurrency);
        let syncer = Arc::new(Syncer::new());
        let tracker = TaskTracker::new();
        let workers = Arc::new(Workers {
            shared: shared.clone(),
            handler,
            completer,
            syncer: syncer.clone(),
            stop: stop.clone(),
            abort: abort.clone(),
            tracker: tracker.clone(),
            handover_queue: worker::handover_queue(&shared.config),
        });
        // Each component runs under a supervisor that restarts it if it panics.
        let log = &shared.log;
        let component = |name: &'static str, f: fn(Arc<Shared>, CancellationToken) -> _| {
            let (shared, d) = (shared.clone(), done.clone());
            supervise::spawn(name, log.clone(), done.clone(), move || {
                f(shared.clone(), d.clone())
            })
        };
        let mut components = vec![
            component("subscriber", |s, d| Box::pin(subscriber::run(s, d)) as Bg),
            component("recoverer", |s, d| Box::pin(recoverer::run(s, d)) as Bg),
            component("forwarder", |s, d| Box::pin(forwarder::run(s, d)) as Bg),
            component("janitor", |s, d| Box::pin(janitor::run(s, d)) as Bg),
            component("flow sweep", |s, d| Box::pin(flows::run(s, d)) as Bg),
            component("limits", |s, d| Box::pin(limits::run(s, d)) as Bg),
        ];
        if shared.config.group_aggregator.is_some() {
            components.push(component("aggregator", |s, d| {
                Box::pin(aggregator::run(s, d)) as Bg
            }));
        }
        if shared.config.health_check.is_some() {
            components.push(component("health checker", |s, d| {
                Box::pin(healthcheck::run(s, d)) as Bg
            }));
        }
        {
            let (s, d, st) = (shared.clone(), done.clone(), stop.clone());
            components.push(supervise::spawn(
                "completer",
                log.clone(),
                done.clone(),
                move || completer::run(s.clone(), completions.clone(), d.clone(), st.clone()),
            ));
            let (s, d) = (shared.clone(), done.clone());
            components.push(supervise::spawn(
                "syncer",
                log.clone(),
                done.clone(),
                move || syncer::run(s.clone(), syncer.clone(), d.clone()),
            ));
        }
        for queues in waker::listener_groups(&shared) {
            let (s, st) = (shared.clone(), stop.clone());
            components.push(supervise::spawn(
                "waker",
                log.clone(),
                stop.clone(),
                move || waker::run(s.clone(), queues.clone(), st.clone()),
            ));
        }
        let processor = supervise::spawn("processor", log.clone(), stop.clone(), move || {
            processor::run(workers.clone(), semaphore.clone())
        });
        shared.log.info(format_args!(
            "starting processing (server {}, concurrency {}, queues {:?})",
            shared.server_id, shared.config.concurrency, shared.config.queues
        ));
        *running = Some(Running {
            stop,
            abort,
            done,
            tracker,
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
        let running = self.running.lock().await.take();
        shutdown(&self.shared, running).await;
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

    /// Starts, runs until `signal` completes, then shuts down, for applications that own
    /// their shutdown signal (a web framework's graceful shutdown, a test). No process
    /// signals are handled.
    ///
    /// ```no_run
    /// # async fn demo(mux: redisq::ServeMux) -> redisq::Result<()> {
    /// use redisq::{Config, RedisClientOpt, Server};
    ///
    /// let server = Server::new(RedisClientOpt::new("127.0.0.1:6379"), Config::new()).await?;
    /// let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    /// // ... hand `tx` to whatever decides when to stop ...
    /// # drop(tx);
    /// server.run_until(mux, async { let _ = rx.await; }).await
    /// # }
    /// ```
    pub async fn run_until(
        &self,
        handler: impl Handler,
        signal: impl Future<Output = ()>,
    ) -> Result<()> {
        self.start(handler).await?;
        signal.await;
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

/// A boxed component future (the components' `run` functions have distinct types).
type Bg = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// The shutdown sequence, shared by [`Server::shutdown`] and the drop of a running server.
async fn shutdown(shared: &Shared, running: Option<Running>) {
    let Some(r) = running else {
        shared.set_status(Status::Closed);
        return;
    };
    shared.log.info(format_args!("shutting down"));
    shared.set_status(Status::Closed);
    r.stop.cancel();
    if let Err(e) = r.processor.await {
        shared
            .log
            .error(format_args!("the processor ended abnormally: {e}"));
    }
    r.tracker.close();
    if tokio::time::timeout(shared.config.shutdown_timeout, r.tracker.wait())
        .await
        .is_err()
    {
        shared.log.warn(format_args!(
            "shutdown timeout reached: requeueing the tasks still running"
        ));
        r.abort.cancel();
        r.tracker.wait().await;
    }
    r.done.cancel();
    for c in r.components {
        if let Err(e) = c.await {
            shared
                .log
                .error(format_args!("a component ended abnormally: {e}"));
        }
    }
    // The heartbeat goes last: it removes the server's keys.
    if r.heartbeat.await.is_err() {
        shared.log.error(format_args!(
            "the heartbeat thread ended abnormally; the server state expires on its own"
        ));
    }
    shared.log.info(format_args!("shutdown complete"));
}

impl Drop for Server {
    /// A server dropped while running shuts down in the background, as
    /// [`Server::shutdown`] would (running tasks get the shutdown timeout, then go back to
    /// their queues). Await [`Server::shutdown`] to know when that is done.
    fn drop(&mut self) {
        let Some(running) = self.running.get_mut().take() else {
            return;
        };
        let shared = self.shared.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                shared.log.warn(format_args!(
                    "server dropped while running: shutting down in the background"
                ));
                rt.spawn(async move { shutdown(&shared, Some(running)).await });
            }
            Err(_) => {
                // No runtime to finish on: stop everything at once; tasks still active are
                // recovered by another server when their leases expire.
                shared.set_status(Status::Closed);
                running.stop.cancel();
                running.abort.cancel();
                running.done.cancel();
            }
        }
    }
}
