//! The producer side: putting tasks into queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use tracing::Instrument;
use tracing::field::Empty;

use crate::RedisConnOpt;
use crate::connection::Connection;
use crate::core::flow as core_flow;
use crate::core::message;
use crate::core::names::Namespace;
use crate::error::{Error, Kind, Result};
use crate::flow::{Flow, FlowInfo};
use crate::option::TaskOption;
use crate::rdb::Rdb;
use crate::rdb::keys::Keys;
use crate::runtime::telemetry;
use crate::task::{Task, TaskInfo};
#[cfg(feature = "json")]
use crate::typed::TypedTask;

mod wait;

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
    // The pub/sub side of `Client::wait`, started by the first wait.
    waiters: wait::Waiters,
}

/// Settings for [`Client`] beyond the connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientBuilder {
    conn: RedisConnOpt,
    namespace: Namespace,
}

impl ClientBuilder {
    /// The key namespace (default `asynq`, shared with Go asynq). Use another one to keep
    /// redisq's keys apart from asynq's.
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = namespace;
        self
    }

    /// Connects. Fails when Redis cannot be reached or is older than 6.2.
    pub async fn connect(self) -> Result<Client> {
        let conn = Connection::connect(self.conn).await?;
        Ok(Client::from_connection(&conn, self.namespace))
    }
}

/// Copies the written headers of every member into a flow's infos.
fn set_headers(
    info: &mut FlowInfo,
    headers: &std::collections::HashMap<(&str, &str), &crate::task::Headers>,
) {
    if let Some(h) = headers.get(&(info.parent.queue.as_str(), info.parent.id.as_str())) {
        info.parent.headers = (*h).clone();
    }
    for child in &mut info.children {
        set_headers(child, headers);
    }
}

/// The outcome of one task of [`Client::enqueue_batch`].
pub type BatchResult = Result<TaskInfo>;

impl Client {
    /// Connects with default settings.
    pub async fn connect(opt: impl Into<RedisConnOpt>) -> Result<Client> {
        Client::builder(opt).connect().await
    }

    /// A client on an existing connection (shared with a [`crate::Server`],
    /// [`crate::Inspector`] or [`crate::Scheduler`] of the same process).
    pub fn from_connection(conn: &Connection, namespace: Namespace) -> Client {
        Client {
            inner: Arc::new(Inner {
                rdb: Rdb::new(conn.inner().clone(), Keys::new(namespace.as_str())),
                closed: AtomicBool::new(false),
                waiters: wait::Waiters::default(),
            }),
        }
    }

    /// Starts building a client with more settings.
    pub fn builder(opt: impl Into<RedisConnOpt>) -> ClientBuilder {
        ClientBuilder {
            conn: opt.into(),
            namespace: Namespace::default(),
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
    ///
    /// The call runs in a `redisq.enqueue` span (target `redisq`, level info) with the fields
    /// `task.type`, `task.queue` and `task.id`, and `error` when it fails. With the
    /// `opentelemetry` feature the task's headers also get the W3C trace context of that span
    /// (`traceparent`, `tracestate`), so the span of every attempt on the server is its child
    /// in the same trace. When the enqueue span is filtered out, the context of the caller's
    /// current span is written instead; when there is none, nothing is. Headers that already
    /// carry a trace context are left as they are.
    pub async fn enqueue_with(
        &self,
        task: &Task,
        opts: impl IntoIterator<Item = TaskOption>,
    ) -> Result<TaskInfo> {
        self.check_open()?;
        let opts: Vec<TaskOption> = opts.into_iter().collect();
        let span = tracing::info_span!(
            target: "redisq",
            "redisq.enqueue",
            "task.type" = task.task_type(),
            "task.queue" = Empty,
            "task.id" = Empty,
            otel.kind = "producer",
            otel.status_code = Empty,
            error = Empty,
        );
        let res = async {
            let mut new = message::build(task, &opts, SystemTime::now())?;
            span.record("task.queue", new.queue.as_str());
            span.record("task.id", new.id.as_str());
            // Inside the span: the task carries the context of `redisq.enqueue`, or of the
            // caller's span when that one is filtered out.
            telemetry::inject_current(&mut new.headers);
            self.inner.rdb.enqueue_new(&new).await?;
            Ok(new.info())
        }
        .instrument(span.clone())
        .await;
        if let Err(e) = &res {
            span.record("otel.status_code", "error");
            span.record("error", tracing::field::display(e));
        }
        res
    }

    /// Enqueues many tasks in one pipelined round trip; `opts` apply to every task after its
    /// own options. Unlike asynq, unique and grouped tasks are supported, and duplicates and
    /// ID conflicts are reported per task rather than silently skipped.
    ///
    /// The result has one entry per task, in order. Invalid tasks fail alone; if Redis cannot
    /// be reached, every task gets that error.
    ///
    /// The call runs in one `redisq.enqueue_batch` span (target `redisq`, level info) with
    /// `batch.size` and `batch.failed`; with the `opentelemetry` feature every task carries
    /// that span's trace context, as with [`Client::enqueue_with`].
    pub async fn enqueue_batch(
        &self,
        tasks: &[Task],
        opts: impl IntoIterator<Item = TaskOption>,
    ) -> Vec<BatchResult> {
        if let Err(e) = self.check_open() {
            return tasks.iter().map(|_| Err(e.clone_kind())).collect();
        }
        let opts: Vec<TaskOption> = opts.into_iter().collect();
        let span = tracing::info_span!(
            target: "redisq",
            "redisq.enqueue_batch",
            "batch.size" = tasks.len(),
            "batch.failed" = Empty,
            otel.kind = "producer",
        );
        let out = self
            .enqueue_batch_in_span(tasks, &opts)
            .instrument(span.clone())
            .await;
        if !span.is_disabled() {
            span.record("batch.failed", out.iter().filter(|r| r.is_err()).count());
        }
        out
    }

    /// The body of [`Client::enqueue_batch`], run inside its span.
    async fn enqueue_batch_in_span(&self, tasks: &[Task], opts: &[TaskOption]) -> Vec<BatchResult> {
        let now = SystemTime::now();
        let mut out: Vec<Option<BatchResult>> = Vec::with_capacity(tasks.len());
        let mut reqs = Vec::new();
        let mut pending = Vec::new();
        for task in tasks {
            match message::build(task, opts, now) {
                Ok(mut new) => {
                    telemetry::inject_current(&mut new.headers);
                    reqs.push(self.inner.rdb.request(&new));
                    pending.push((out.len(), new.info()));
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

    /// Enqueues a flow: its children run at once (in parallel, in their own queues), the
    /// parent waits (state [`crate::TaskState::Waiting`], outside every queue) and becomes
    /// pending when every child completed; its handler reads the children's results with
    /// [`crate::TaskContext::child_results`]. See [`Flow`] and the guide page
    /// [`crate::guide::flows`].
    ///
    /// Flow members cannot be unique or grouped, and a task that waits for children cannot be
    /// scheduled ([`Error::is_invalid_option`], nothing written). The parent is written first,
    /// so a child can never finish before it exists; when a member cannot be written (an ID
    /// conflict, Redis lost) what was written is deleted again and the error returned.
    ///
    /// The call runs in a `redisq.enqueue_flow` span (target `redisq`) with `flow.size`; with
    /// the `opentelemetry` feature every member carries its trace context.
    pub async fn enqueue_flow(&self, flow: &Flow) -> Result<FlowInfo> {
        self.check_open()?;
        let span = tracing::info_span!(
            target: "redisq",
            "redisq.enqueue_flow",
            "flow.size" = Empty,
            otel.kind = "producer",
            otel.status_code = Empty,
            error = Empty,
        );
        let res = async {
            let mut plan = core_flow::plan(flow, SystemTime::now())?;
            span.record("flow.size", plan.waiting.len() + plan.ready.len());
            for t in plan
                .waiting
                .iter_mut()
                .map(|w| &mut w.task)
                .chain(plan.ready.iter_mut())
            {
                telemetry::inject_current(&mut t.headers);
            }
            self.inner.rdb.create_flow(&plan).await?;
            // The infos carry the headers as written, trace context included.
            let mut headers = std::collections::HashMap::new();
            for t in plan.waiting.iter().map(|w| &w.task).chain(&plan.ready) {
                headers.insert((t.queue.as_str(), t.id.as_str()), &t.headers);
            }
            let mut info = plan.info.clone();
            set_headers(&mut info, &headers);
            Ok(info)
        }
        .instrument(span.clone())
        .await;
        if let Err(e) = &res {
            span.record("otel.status_code", "error");
            span.record("error", tracing::field::display(e));
        }
        res
    }

    /// Enqueues tasks that run one after another, in the order given: each starts only after
    /// the one before it completed, whatever queues and servers they run on. When a task is
    /// archived (fails for good) the tasks after it are archived too, each naming the cause.
    /// Each task's handler sees the one before it in [`crate::TaskContext::child_results`].
    ///
    /// Returns the tasks' infos in order: the first is pending (or scheduled), the others
    /// waiting. A chain of one task is an ordinary task. The rules and errors are those of
    /// [`Client::enqueue_flow`] (a chain is a flow whose every member waits for the one
    /// before), and an empty chain is an invalid option.
    ///
    /// ```no_run
    /// # async fn demo(client: redisq::Client) -> redisq::Result<()> {
    /// use redisq::Task;
    ///
    /// let infos = client
    ///     .enqueue_chain(&[
    ///         Task::new("video:download", "42"),
    ///         Task::new("video:transcode", "42"),
    ///         Task::new("video:publish", "42"),
    ///     ])
    ///     .await?;
    /// println!("{} runs last", infos[2].id);
    /// # Ok(()) }
    /// ```
    pub async fn enqueue_chain(&self, tasks: &[Task]) -> Result<Vec<TaskInfo>> {
        match tasks {
            [] => Err(Error::invalid_option("a chain needs at least one task")),
            [one] => Ok(vec![self.enqueue(one).await?]),
            _ => {
                let flow = core_flow::chain(tasks)
                    .ok_or_else(|| Error::invalid_option("a chain needs at least one task"))?;
                Ok(core_flow::chain_order(self.enqueue_flow(&flow).await?))
            }
        }
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

    /// Enqueues a typed task: type [`TypedTask::TYPE`], the value as JSON payload, the
    /// value's [`TypedTask::options`] (see [`Task::from_typed`]).
    ///
    /// The value is encoded when this is called, not when the future is first polled.
    /// Errors: as [`Client::enqueue_with`]; a value that cannot be encoded fails with
    /// [`Error::is_invalid_option`] and nothing is written.
    ///
    /// ```no_run
    /// # async fn demo(client: redisq::Client) -> redisq::Result<()> {
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Resize {
    ///     image_id: u64,
    /// }
    /// impl redisq::TypedTask for Resize {
    ///     const TYPE: &'static str = "image:resize";
    /// }
    ///
    /// let info = client.enqueue_typed(&Resize { image_id: 7 }).await?;
    /// println!("{} enqueued", info.id);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn enqueue_typed<T: TypedTask>(
        &self,
        value: &T,
    ) -> impl Future<Output = Result<TaskInfo>> + use<'_, T> {
        self.enqueue_typed_with(value, [])
    }

    /// Enqueues a typed task, as [`Client::enqueue_typed`], with `opts` applied after the
    /// value's own options (they win on conflict).
    ///
    /// ```no_run
    /// # async fn demo(client: redisq::Client) -> redisq::Result<()> {
    /// use std::time::Duration;
    /// use redisq::TaskOption;
    ///
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Resize {
    ///     image_id: u64,
    /// }
    /// impl redisq::TypedTask for Resize {
    ///     const TYPE: &'static str = "image:resize";
    /// }
    ///
    /// client
    ///     .enqueue_typed_with(&Resize { image_id: 7 }, [TaskOption::process_in(Duration::from_secs(60))])
    ///     .await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn enqueue_typed_with<T: TypedTask, O: IntoIterator<Item = TaskOption>>(
        &self,
        value: &T,
        opts: O,
    ) -> impl Future<Output = Result<TaskInfo>> + use<'_, T, O> {
        // Encoded now, so the future holds no reference to `value` (which need not be `Sync`).
        let task = Task::from_typed(value);
        async move { self.enqueue_with(&task?, opts).await }
    }
}
