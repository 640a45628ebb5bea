//! What a worker runs: the [`Handler`] trait, the per-task [`TaskContext`], handler errors and
//! the [`ResultWriter`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use crate::error::Result;
use crate::flow::ChildResult;
use crate::rdb::Rdb;
use crate::task::Task;

/// A boxed, sendable future, as returned by [`Handler::process_task`].
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a handler returns.
pub type HandlerResult = std::result::Result<(), HandlerError>;

/// Processes tasks (asynq's `Handler`).
///
/// Any `Fn(TaskContext, Task) -> impl Future<Output = HandlerResult>` closure is a handler:
///
/// ```
/// use redisq::{HandlerError, Task, TaskContext};
///
/// let handler = |ctx: TaskContext, task: Task| async move {
///     if task.payload().is_empty() {
///         return Err(HandlerError::skip_retry("empty payload"));
///     }
///     println!("{} (attempt {})", task.task_type(), ctx.retry_count() + 1);
///     Ok(())
/// };
/// # fn is_handler(_: impl redisq::Handler) {}
/// # is_handler(handler);
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Processes one task. `Ok(())` means success; an error means failure (retried or
    /// archived), except [`HandlerError::revoke`]. A panic counts as a failure.
    ///
    /// When the task's timeout or deadline passes, or it is cancelled, `ctx` is cancelled and
    /// the returned future is dropped soon after: hold no state that must survive a drop.
    fn process_task(&self, ctx: TaskContext, task: Task) -> BoxFuture<HandlerResult>;
}

impl<F, Fut> Handler for F
where
    F: Fn(TaskContext, Task) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn process_task(&self, ctx: TaskContext, task: Task) -> BoxFuture<HandlerResult> {
        Box::pin(self(ctx, task))
    }
}

impl<H: Handler + ?Sized> Handler for Arc<H> {
    fn process_task(&self, ctx: TaskContext, task: Task) -> BoxFuture<HandlerResult> {
        (**self).process_task(ctx, task)
    }
}

impl Handler for Box<dyn Handler> {
    fn process_task(&self, ctx: TaskContext, task: Task) -> BoxFuture<HandlerResult> {
        (**self).process_task(ctx, task)
    }
}

/// A shared, type-erased handler, the unit middleware wraps.
pub type BoxHandler = Arc<dyn Handler>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ErrorKind {
    Failure,
    SkipRetry,
    Revoke,
    Panic,
}

/// The error a handler returns.
///
/// Any `std::error::Error` converts into it with `?`. Two kinds change what happens next:
/// [`HandlerError::skip_retry`] archives the task at once, and [`HandlerError::revoke`]
/// removes it as if it succeeded (counted as processed, not failed). The text stored as the
/// task's last error follows asynq: `"<cause>: skip retry for the task"` and
/// `"<cause>: revoke task"`.
pub struct HandlerError {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

/// The text asynq appends for skip-retry errors.
pub(crate) const SKIP_RETRY_TEXT: &str = "skip retry for the task";
/// The text asynq appends for revoke errors.
pub(crate) const REVOKE_TEXT: &str = "revoke task";

impl HandlerError {
    /// A plain failure with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        HandlerError {
            kind: ErrorKind::Failure,
            message: message.to_string(),
            source: None,
        }
    }

    /// A plain failure caused by `err`.
    ///
    /// If `err` is (or was boxed from) a [`HandlerFailure`], the [`HandlerError`] inside it
    /// comes back as it was, with its kind: a skip-retry error that went through a tower
    /// layer as a `Box<dyn Error>` still skips the retries.
    pub fn new(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        match err.into().downcast::<HandlerFailure>() {
            Ok(failure) => failure.0,
            Err(source) => HandlerError {
                kind: ErrorKind::Failure,
                message: source.to_string(),
                source: Some(source),
            },
        }
    }

    /// Fail without retrying: the task is archived now (asynq's `SkipRetry`).
    pub fn skip_retry(cause: impl fmt::Display) -> Self {
        HandlerError {
            kind: ErrorKind::SkipRetry,
            message: format!("{cause}: {SKIP_RETRY_TEXT}"),
            source: None,
        }
    }

    /// Drop the task: no retry, no archive (asynq's `RevokeTask`).
    pub fn revoke(cause: impl fmt::Display) -> Self {
        HandlerError {
            kind: ErrorKind::Revoke,
            message: format!("{cause}: {REVOKE_TEXT}"),
            source: None,
        }
    }

    pub(crate) fn panic(message: String) -> Self {
        HandlerError {
            kind: ErrorKind::Panic,
            message,
            source: None,
        }
    }

    /// Asks for the task to be archived without retry.
    pub fn is_skip_retry(&self) -> bool {
        self.kind == ErrorKind::SkipRetry
    }

    /// Asks for the task to be dropped.
    pub fn is_revoke(&self) -> bool {
        self.kind == ErrorKind::Revoke
    }

    /// The handler panicked (asynq's `IsPanicError`).
    pub fn is_panic(&self) -> bool {
        self.kind == ErrorKind::Panic
    }

    /// The underlying error, if the handler returned one.
    pub fn source(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// Looks for an error of type `E` as the source or in its chain.
    pub fn downcast_ref<E: StdError + 'static>(&self) -> Option<&E> {
        let mut cur: Option<&(dyn StdError + 'static)> = self
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static));
        while let Some(e) = cur {
            if let Some(found) = e.downcast_ref::<E>() {
                return Some(found);
            }
            cur = e.source();
        }
        None
    }
}

impl<E> From<E> for HandlerError
where
    E: Into<Box<dyn StdError + Send + Sync + 'static>>,
{
    fn from(err: E) -> Self {
        HandlerError::new(err)
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HandlerError")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .finish()
    }
}

/// A [`HandlerError`] as a [`std::error::Error`], for code that needs one: it is the error of
/// a handler seen as a tower `Service` (`HandlerService`, with the `tower` feature), so that
/// layers such as tower's `Timeout` can box it.
///
/// `HandlerError` itself cannot implement `std::error::Error` (it converts *from* every
/// error, for `?`). Converting a `HandlerFailure` back, directly or after it was boxed as a
/// `Box<dyn Error + Send + Sync>`, gives the original `HandlerError` with its kind.
///
/// ```
/// use redisq::{HandlerError, HandlerFailure};
///
/// let failure = HandlerFailure::from(HandlerError::skip_retry("bad input"));
/// let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(failure);
/// let back = HandlerError::from(boxed);
/// assert!(back.is_skip_retry());
/// assert_eq!(back.to_string(), "bad input: skip retry for the task");
/// ```
pub struct HandlerFailure(HandlerError);

impl HandlerFailure {
    /// The handler's error.
    pub fn handler_error(&self) -> &HandlerError {
        &self.0
    }

    /// Gives back the handler's error.
    pub fn into_handler_error(self) -> HandlerError {
        self.0
    }
}

impl From<HandlerError> for HandlerFailure {
    fn from(err: HandlerError) -> Self {
        HandlerFailure(err)
    }
}

impl fmt::Display for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for HandlerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HandlerFailure").field(&self.0).finish()
    }
}

impl StdError for HandlerFailure {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Values shared with every handler, by type (asynq's `BaseContext`).
#[derive(Clone, Default)]
pub struct Data {
    map: Arc<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Data {
    /// An empty set.
    pub fn new() -> Self {
        Data::default()
    }

    /// Adds a value; one value per type.
    pub fn insert<T: Any + Send + Sync>(&mut self, value: T) {
        Arc::make_mut(&mut self.map).insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was added.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.map
            .get(&TypeId::of::<T>())
            .and_then(|v| v.downcast_ref::<T>())
    }
}

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Data")
            .field("len", &self.map.len())
            .finish()
    }
}

/// Everything a handler knows about the attempt it runs: task metadata, the deadline, a
/// cancellation signal, shared data and the result writer.
#[derive(Clone)]
pub struct TaskContext {
    pub(crate) retry_count: u32,
    pub(crate) max_retry: u32,
    pub(crate) deadline: SystemTime,
    pub(crate) data: Data,
    /// The task's ID, queue and cancellation signal live in the writer (one copy each).
    pub(crate) writer: ResultWriter,
    /// The finished children of a flow parent (`None` for every other task, which so pays
    /// no allocation).
    pub(crate) children: Option<Arc<[ChildResult]>>,
}

impl TaskContext {
    /// The task ID (asynq's `GetTaskID`).
    pub fn task_id(&self) -> &str {
        &self.writer.id
    }

    /// The queue (asynq's `GetQueueName`).
    pub fn queue(&self) -> &str {
        &self.writer.queue
    }

    /// How many times the task was retried before this attempt (asynq's `GetRetryCount`).
    pub fn retry_count(&self) -> u32 {
        self.retry_count
    }

    /// How many retries the task allows (asynq's `GetMaxRetry`).
    pub fn max_retry(&self) -> u32 {
        self.max_retry
    }

    /// When this attempt must end: the earlier of start + timeout and the task's deadline.
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// Completes when the attempt is cancelled: deadline passed, `CancelProcessing`, lease
    /// lost, or server shutdown.
    pub async fn cancelled(&self) {
        self.writer.cancel.cancelled().await
    }

    /// Whether the attempt was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.writer.cancel.is_cancelled()
    }

    /// Shared data of type `T` set with `Config::data`.
    pub fn data<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.data.get::<T>()
    }

    /// Writes the task's result (asynq's `ResultWriter`).
    pub fn result_writer(&self) -> &ResultWriter {
        &self.writer
    }

    /// Reports how far this attempt is: `percent` from 0 to 100 and a short message (up to
    /// [`TaskContext::MAX_PROGRESS_MESSAGE`] bytes, may be empty). The Inspector shows the
    /// latest report as [`crate::TaskInfo::progress`] while the task is active, and so do
    /// `redisq task inspect`/`ls`, `redisq dash` and `redisq web`. Each call is one Redis
    /// write; report at a human pace, not per item.
    ///
    /// The report lives in the task hash (field `redisq_progress`, ignored by Go asynq) and
    /// only while the task is active: the next attempt starts without one, and a task that
    /// is no longer active (or was deleted) is left untouched.
    ///
    /// Errors: [`crate::Error::is_invalid_option`] for a percent over 100 or a message too
    /// long (nothing is written); [`crate::Error::is_failed_precondition`] once the attempt
    /// was cancelled or the task is no longer active; [`crate::Error::is_task_not_found`]
    /// when the task was deleted; a Redis error.
    ///
    /// ```no_run
    /// use redisq::{HandlerResult, Task, TaskContext};
    ///
    /// async fn import(ctx: TaskContext, _task: Task) -> HandlerResult {
    ///     let files = ["a.csv", "b.csv", "c.csv", "d.csv"];
    ///     for (i, file) in files.iter().enumerate() {
    ///         // ... import `file` ...
    ///         let percent = ((i + 1) * 100 / files.len()) as u8;
    ///         ctx.set_progress(percent, &format!("imported {file}")).await?;
    ///     }
    ///     Ok(())
    /// }
    /// ```
    pub async fn set_progress(&self, percent: u8, message: &str) -> Result<()> {
        use crate::error::{Error, Kind};
        if percent > 100 {
            return Err(Error::invalid_option(format!(
                "progress must be a percentage from 0 to 100, got {percent}"
            )));
        }
        if message.len() > Self::MAX_PROGRESS_MESSAGE {
            return Err(Error::invalid_option(format!(
                "a progress message may hold at most {} bytes, got {}",
                Self::MAX_PROGRESS_MESSAGE,
                message.len()
            )));
        }
        if self.is_cancelled() {
            return Err(Error::new(
                Kind::FailedPrecondition,
                "cannot store progress: the task's context was cancelled",
            ));
        }
        let Some(rdb) = &self.writer.rdb else {
            return Err(Error::new(
                Kind::Closed,
                "this task context has no Redis behind it",
            ));
        };
        let encoded = crate::rdb::progress::encode(percent, message, SystemTime::now());
        rdb.set_progress(&self.writer.queue, &self.writer.id, &encoded)
            .await
    }

    /// The longest message [`TaskContext::set_progress`] accepts, in bytes.
    pub const MAX_PROGRESS_MESSAGE: usize = 1024;

    /// How the children of this flow parent ended, in the order they were added to the
    /// [`crate::Flow`] (for a chain: the task before this one). Empty for a task that is not
    /// a flow parent. Read from Redis once, before the handler starts.
    ///
    /// ```
    /// use redisq::{HandlerError, Task, TaskContext};
    ///
    /// let merge = |ctx: TaskContext, _task: Task| async move {
    ///     let mut total = 0u64;
    ///     for child in ctx.child_results() {
    ///         let Some(result) = &child.result else {
    ///             return Err(HandlerError::skip_retry(format!("child {} has no result", child.id)));
    ///         };
    ///         total += std::str::from_utf8(result)?.parse::<u64>()?;
    ///     }
    ///     println!("total {total}");
    ///     Ok(())
    /// };
    /// # fn is_handler(_: impl redisq::Handler) {}
    /// # is_handler(merge);
    /// ```
    pub fn child_results(&self) -> &[ChildResult] {
        self.children.as_deref().unwrap_or_default()
    }
}

impl fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("id", &self.writer.id)
            .field("queue", &self.writer.queue)
            .field("retry_count", &self.retry_count)
            .field("max_retry", &self.max_retry)
            .field("deadline", &self.deadline)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

/// Stores a result for the running task in its Redis hash (field `result`), where
/// `Inspector::task_info` and asynq tools read it. Keep a retention period on the task if the
/// result must outlive its success.
#[derive(Clone)]
pub struct ResultWriter {
    pub(crate) rdb: Option<Arc<Rdb>>,
    pub(crate) queue: String,
    pub(crate) id: String,
    pub(crate) cancel: CancellationToken,
}

impl ResultWriter {
    /// The task this writer belongs to.
    pub fn task_id(&self) -> &str {
        &self.id
    }

    /// Writes (overwrites) the result; returns the number of bytes written. Fails once the
    /// attempt was cancelled.
    pub async fn write(&self, data: &[u8]) -> Result<usize> {
        if self.cancel.is_cancelled() {
            return Err(crate::error::Error::new(
                crate::error::Kind::FailedPrecondition,
                "cannot write the result: the task's context was cancelled",
            ));
        }
        match &self.rdb {
            Some(rdb) => {
                rdb.write_result(&self.queue, &self.id, data).await?;
                Ok(data.len())
            }
            None => Err(crate::error::Error::new(
                crate::error::Kind::Closed,
                "this task has no result writer",
            )),
        }
    }
}

impl fmt::Debug for ResultWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResultWriter")
            .field("queue", &self.queue)
            .field("id", &self.id)
            .finish()
    }
}

impl TaskContext {
    /// A context for calling a handler outside a server (tests, tools): no Redis behind the
    /// result writer, deadline as given.
    pub fn detached(id: impl Into<String>, queue: impl Into<String>, deadline: SystemTime) -> Self {
        TaskContext {
            writer: ResultWriter {
                rdb: None,
                queue: queue.into(),
                id: id.into(),
                cancel: CancellationToken::new(),
            },
            retry_count: 0,
            max_retry: 0,
            deadline,
            data: Data::new(),
            children: None,
        }
    }
}
