//! The producer side: putting tasks into queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use bytes::Bytes;

use crate::RedisConnOpt;
use crate::error::{Error, Kind, Result};
use crate::option::{self, Resolved, TaskOption};
use crate::rdb::keys::{DEFAULT_NAMESPACE, Keys};
use crate::rdb::proto::{TaskMessage, encode_task_message};
use crate::rdb::{EnqueueRequest, Placement, Rdb, RedisConn};
use crate::task::{Task, TaskInfo, TaskState};

/// Enqueues tasks (asynq's `Client`). Cheap to clone; clones share one connection.
///
/// ```no_run
/// # async fn demo() -> redisq::Result<()> {
/// use std::time::Duration;
/// use redisq::{Client, RedisClientOpt, Task, TaskOption};
///
/// let client = Client::connect(RedisClientOpt::new("127.0.0.1:6379")).await?;
/// let task = Task::new("email:send", r#"{"to":"user@example.com"}"#);
/// let info = client
///     .enqueue_with(&task, [TaskOption::process_in(Duration::from_secs(60))])
///     .await?;
/// println!("enqueued {} into {}", info.id, info.queue);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    rdb: Rdb,
    closed: AtomicBool,
}

/// Settings for [`Client`] beyond the connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientBuilder {
    conn: RedisConnOpt,
    namespace: String,
}

impl ClientBuilder {
    /// The key namespace (default `asynq`, shared with Go asynq). Use another one to keep
    /// redisq's keys apart from asynq's (decision D1).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Connects. Fails when Redis cannot be reached or is older than 6.2.
    pub async fn connect(self) -> Result<Client> {
        if self.namespace.trim().is_empty() || self.namespace.contains(['{', '}']) {
            return Err(Error::invalid_option(format!(
                "invalid key namespace {:?}: it must be non-empty and contain no braces",
                self.namespace
            )));
        }
        let conn = RedisConn::connect(&self.conn).await?;
        Ok(Client::from_conn(conn, &self.namespace))
    }
}

/// The outcome of one task of [`Client::enqueue_batch`].
pub type BatchResult = Result<TaskInfo>;

impl Client {
    /// Connects with default settings.
    pub async fn connect(opt: impl Into<RedisConnOpt>) -> Result<Client> {
        Client::builder(opt).connect().await
    }

    /// A client sharing an existing connection (the scheduler's).
    pub(crate) fn from_conn(conn: RedisConn, namespace: &str) -> Client {
        Client {
            inner: Arc::new(Inner {
                rdb: Rdb::new(conn, Keys::new(namespace)),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Starts building a client with more settings.
    pub fn builder(opt: impl Into<RedisConnOpt>) -> ClientBuilder {
        ClientBuilder {
            conn: opt.into(),
            namespace: DEFAULT_NAMESPACE.to_string(),
        }
    }

    /// Enqueues a task with its own options.
    pub async fn enqueue(&self, task: &Task) -> Result<TaskInfo> {
        self.enqueue_with(task, []).await
    }

    /// Enqueues a task; `opts` are applied after the task's own options and win on conflict.
    ///
    /// Errors: [`Error::is_invalid_option`] (nothing was written),
    /// [`Error::is_duplicate_task`] (a unique lock is held),
    /// [`Error::is_task_id_conflict`] (the ID exists in the queue), or a Redis error.
    pub async fn enqueue_with(
        &self,
        task: &Task,
        opts: impl IntoIterator<Item = TaskOption>,
    ) -> Result<TaskInfo> {
        self.check_open()?;
        let opts: Vec<TaskOption> = opts.into_iter().collect();
        let (req, info) = Client::prepare(&self.inner.rdb, task, &opts, SystemTime::now())?;
        self.inner.rdb.enqueue(&req).await?;
        Ok(info)
    }

    /// Enqueues many tasks in one pipelined round trip; `opts` apply to every task after its
    /// own options. Unlike asynq, unique and grouped tasks are supported, and duplicates and
    /// ID conflicts are reported per task rather than silently skipped.
    ///
    /// The result has one entry per task, in order. Invalid tasks fail alone; if Redis cannot
    /// be reached, every task gets that error.
    pub async fn enqueue_batch(
        &self,
        tasks: &[Task],
        opts: impl IntoIterator<Item = TaskOption>,
    ) -> Vec<BatchResult> {
        if let Err(e) = self.check_open() {
            return tasks.iter().map(|_| Err(e.clone_kind())).collect();
        }
        let opts: Vec<TaskOption> = opts.into_iter().collect();
        let now = SystemTime::now();
        let mut out: Vec<Option<BatchResult>> = Vec::with_capacity(tasks.len());
        let mut reqs = Vec::new();
        let mut pending = Vec::new();
        for task in tasks {
            match Client::prepare(&self.inner.rdb, task, &opts, now) {
                Ok((req, info)) => {
                    reqs.push(req);
                    pending.push((out.len(), info));
                    out.push(None);
                }
                Err(e) => out.push(Some(Err(e))),
            }
        }
        match self.inner.rdb.enqueue_many(&reqs).await {
            Ok(results) => {
                for ((slot, info), res) in pending.into_iter().zip(results) {
                    out[slot] = Some(res.map(|()| info));
                }
            }
            Err(e) => {
                for (slot, _) in pending {
                    out[slot] = Some(Err(e.clone_kind()));
                }
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Error::corrupt("no result for a batched task"))))
            .collect()
    }

    /// Checks that Redis answers.
    pub async fn ping(&self) -> Result<()> {
        self.check_open()?;
        self.inner.rdb.ping().await
    }

    /// Closes the client: later calls fail with [`Error::is_closed`]. Connections are
    /// released when the last clone is dropped.
    pub fn close(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::SeqCst) {
            return Err(Error::new(Kind::Closed, "redisq: client already closed"));
        }
        Ok(())
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::SeqCst) {
            return Err(Error::new(Kind::Closed, "redisq: client is closed"));
        }
        Ok(())
    }

    /// Enqueues a task through `rdb` as [`Client::enqueue_with`] does, `opts` last (the
    /// server's aggregator uses it for aggregated tasks).
    pub(crate) async fn enqueue_through(
        rdb: &Rdb,
        task: &Task,
        opts: &[TaskOption],
    ) -> Result<TaskInfo> {
        let (req, info) = Client::prepare(rdb, task, opts, SystemTime::now())?;
        rdb.enqueue(&req).await?;
        Ok(info)
    }

    /// Validates a task and its options and builds what to write and what to report.
    fn prepare(
        rdb: &Rdb,
        task: &Task,
        opts: &[TaskOption],
        now: SystemTime,
    ) -> Result<(EnqueueRequest, TaskInfo)> {
        if task.task_type().trim().is_empty() {
            return Err(Error::invalid_option("task typename cannot be empty"));
        }
        let r = option::resolve(task.options().iter().chain(opts), now)?;
        let keys = rdb.keys().queue(&r.queue);
        let id = r
            .task_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let unique_key = r
            .unique_ttl
            .map(|_| keys.unique(task.task_type(), task.payload_opt().map(|p| &p[..])));
        let mut headers = task.headers().clone();
        headers.extend(r.headers.iter().cloned());
        let msg = TaskMessage {
            r#type: task.task_type().to_string(),
            payload: task.payload().to_vec(),
            id: id.clone(),
            queue: r.queue.clone(),
            retry: i32::try_from(r.max_retry).unwrap_or(i32::MAX),
            retried: 0,
            error_msg: String::new(),
            timeout: r.timeout_secs,
            deadline: r.deadline.map(option::unix_secs).unwrap_or(0),
            unique_key: unique_key.clone().unwrap_or_default(),
            last_failed_at: 0,
            retention: r.retention_secs,
            completed_at: 0,
            group_key: r.group.clone().unwrap_or_default(),
            headers: headers.clone(),
        };
        let (placement, state, next) = placement(&r, now);
        let unique = match (unique_key, r.unique_ttl) {
            (Some(k), Some(ttl)) => Some((k, lock_ttl_secs(&placement, ttl, now, &r))),
            _ => None,
        };
        let info = TaskInfo {
            id: id.clone(),
            queue: r.queue.clone(),
            task_type: task.task_type().to_string(),
            payload: task.payload_opt().cloned().unwrap_or_else(Bytes::new),
            headers,
            state,
            max_retry: r.max_retry,
            retried: 0,
            last_err: String::new(),
            last_failed_at: None,
            timeout: (r.timeout_secs > 0)
                .then(|| std::time::Duration::from_secs(r.timeout_secs.unsigned_abs())),
            deadline: r.deadline,
            group: r.group.clone(),
            next_process_at: next,
            is_orphaned: false,
            retention: (r.retention_secs > 0)
                .then(|| std::time::Duration::from_secs(r.retention_secs.unsigned_abs())),
            completed_at: None,
            result: None,
        };
        let req = EnqueueRequest {
            queue: r.queue,
            id,
            msg: encode_task_message(&msg),
            placement,
            unique,
        };
        Ok((req, info))
    }
}

/// Decides the branch of asynq's enqueue: scheduled when due later, else group, else pending.
fn placement(r: &Resolved, now: SystemTime) -> (Placement, TaskState, Option<SystemTime>) {
    match r.process_at {
        Some(at) if at > now => (
            Placement::Scheduled {
                at_secs: option::unix_secs(at),
                group: r.group.clone(),
            },
            TaskState::Scheduled,
            Some(at),
        ),
        _ => match &r.group {
            Some(g) => (
                Placement::Group {
                    group: g.clone(),
                    now_secs: option::unix_secs(now),
                },
                TaskState::Aggregating,
                None,
            ),
            None => (
                Placement::Pending {
                    now_ns: option::unix_nanos(now),
                },
                TaskState::Pending,
                Some(now),
            ),
        },
    }
}

/// The unique lock lives for the TTL after the task becomes due: for a scheduled task that is
/// `process_at + ttl - now`, truncated to whole seconds like asynq.
fn lock_ttl_secs(p: &Placement, ttl: std::time::Duration, now: SystemTime, r: &Resolved) -> u64 {
    match (p, r.process_at) {
        (Placement::Scheduled { .. }, Some(at)) => option::add_saturating(at, ttl)
            .duration_since(now)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .max(1),
        _ => ttl.as_secs().max(1),
    }
}
