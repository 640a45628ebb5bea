//! State shared by the server's components: the server's identity and status, the tasks
//! running here, and the wake-ups between components.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::config::Config;
use crate::core::throttle::LimitSet;
use crate::error::Error;
use crate::rdb::proto::TaskMessage;
use crate::rdb::{QueueLimits, Rdb};

use crate::runtime::log::{Log, RateLimited};

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
    /// Fired when the attempt must stop early: see [`ActiveTask::lose_lease`] and
    /// [`ActiveTask::cancel`] (one token for both, the reason is in `why`).
    pub(crate) interrupt: CancellationToken,
    /// Why `interrupt` fired early: [`LEASE_LOST`] and/or [`CANCELED`] bits.
    why: AtomicU8,
}

/// [`ActiveTask::why`]: the heartbeat could not extend the lease in time.
const LEASE_LOST: u8 = 1;
/// [`ActiveTask::why`]: an operator cancelled the task.
const CANCELED: u8 = 2;

impl ActiveTask {
    pub(crate) fn new(
        msg: TaskMessage,
        started: SystemTime,
        deadline: SystemTime,
        lease_until: Instant,
    ) -> Self {
        ActiveTask {
            msg,
            started,
            deadline,
            lease_until: Mutex::new(lease_until),
            interrupt: CancellationToken::new(),
            why: AtomicU8::new(0),
        }
    }

    /// Stops the attempt because its lease was lost (heartbeat).
    pub(crate) fn lose_lease(&self) {
        self.why.fetch_or(LEASE_LOST, Ordering::SeqCst);
        self.interrupt.cancel();
    }

    /// Stops the attempt because an operator cancelled the task (subscriber).
    pub(crate) fn cancel(&self) {
        self.why.fetch_or(CANCELED, Ordering::SeqCst);
        self.interrupt.cancel();
    }

    /// Whether the lease was lost; it takes precedence over a cancellation.
    pub(crate) fn lease_was_lost(&self) -> bool {
        self.why.load(Ordering::SeqCst) & LEASE_LOST != 0
    }

    pub(crate) fn lease_valid(&self) -> bool {
        self.lease_until
            .lock()
            .map(|l| *l > Instant::now())
            .unwrap_or(false)
    }

    /// How long the lease still runs, or `None` once it has expired (one lock and one clock
    /// read, for the hot path).
    pub(crate) fn lease_left(&self) -> Option<std::time::Duration> {
        let until = *self.lease_until.lock().ok()?;
        let now = Instant::now();
        (until > now).then(|| until - now)
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
    /// Active tasks, keyed by the address of their `ActiveTask` (unique while the entry holds
    /// it), so that a task's entry costs no copies of its queue name and ID.
    pub(crate) active: Mutex<HashMap<usize, Arc<ActiveTask>>>,
    pub(crate) redis_errors: RateLimited,
    /// Wakes the idle processor.
    pub(crate) wake_processor: tokio::sync::Notify,
    /// Whether the processor is idle (every queue ran dry); the waker listens only then.
    pub(crate) processor_idle: tokio::sync::watch::Sender<bool>,
    /// The completer's offer to take the next wake-up itself (see `linger`).
    pub(crate) linger: super::linger::Linger,
    /// Wakes the forwarder when an earlier scheduled or retry task appears.
    pub(crate) wake_forwarder: tokio::sync::Notify,
    /// The fleet-wide limits in force (see `limits`).
    pub(crate) limits: RwLock<Arc<ServerLimits>>,
    /// Tells the limits component that the stored limits changed.
    pub(crate) limits_changed: tokio::sync::Notify,
}

impl Shared {
    pub(crate) fn status(&self) -> Status {
        self.status.lock().map(|s| *s).unwrap_or(Status::Closed)
    }

    pub(crate) fn set_status(&self, st: Status) {
        if let Ok(mut s) = self.status.lock() {
            *s = st;
        }
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Arc<ServerLimits> {
        self.limits
            .read()
            .map(|l| l.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub(crate) fn set_limits(&self, limits: ServerLimits) {
        let mut guard = self.limits.write().unwrap_or_else(|p| p.into_inner());
        *guard = Arc::new(limits);
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
            .map(|a| a.values().any(|t| t.msg.id == id && t.msg.queue == queue))
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

/// What the processor and the completer read: each served queue's limits, if any.
#[derive(Debug, Default)]
pub(crate) struct ServerLimits {
    pub(crate) set: LimitSet,
    per_queue: HashMap<String, QueueLimits>,
}

impl ServerLimits {
    /// The limits for `queues` under `set`; `held` lists the queues that still have held
    /// tasks (they keep the limit-aware scripts until those are released).
    pub(crate) fn new(set: LimitSet, queues: &[String], held: &[String]) -> Self {
        let per_queue = queues
            .iter()
            .filter_map(|q| QueueLimits::of(&set, q, held.contains(q)).map(|l| (q.clone(), l)))
            .collect();
        ServerLimits { set, per_queue }
    }

    /// The limits of `queue`; `None` when it has none (the common case).
    pub(crate) fn queue(&self, queue: &str) -> Option<&QueueLimits> {
        if self.per_queue.is_empty() {
            return None;
        }
        self.per_queue.get(queue)
    }
}
