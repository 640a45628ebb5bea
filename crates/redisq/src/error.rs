//! The crate's error type.
//!
//! [`Error`] is opaque: ask it what happened with its `is_*` predicates. Its `Display` text is
//! for people and may change; where asynq has a well-known message (for example
//! `task already exists`) redisq uses the same words.

use std::error::Error as StdError;
use std::fmt;

/// A boxed error from a lower layer (Redis, protobuf, I/O).
type Source = Box<dyn StdError + Send + Sync + 'static>;

/// What went wrong: the category of an [`Error`], for `match`ing where the `is_*`
/// predicates are not enough. New kinds may be added, so matches need a wildcard arm.
///
/// ```
/// # fn handle(err: redisq::Error) {
/// use redisq::ErrorKind;
/// match err.kind() {
///     ErrorKind::DuplicateTask => println!("already enqueued"),
///     ErrorKind::Redis => println!("Redis trouble: {err}"),
///     _ => println!("{err}"),
/// }
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The unique lock of the task is held by another task (asynq `ErrDuplicateTask`).
    DuplicateTask,
    /// A task with the same ID already exists in the queue (asynq `ErrTaskIDConflict`).
    TaskIdConflict,
    /// The task does not exist (asynq `ErrTaskNotFound`).
    TaskNotFound,
    /// The queue does not exist (asynq `ErrQueueNotFound`).
    QueueNotFound,
    /// The queue still holds tasks (asynq `ErrQueueNotEmpty`).
    QueueNotEmpty,
    /// The task is in a state that does not allow the operation.
    FailedPrecondition,
    /// A task option or configuration value is invalid, or a typed task's payload could not
    /// be encoded.
    InvalidOption,
    /// A Redis URI could not be parsed.
    InvalidUri,
    /// The server is not a Redis this crate can work with (too old).
    UnsupportedServer,
    /// Data read from Redis could not be decoded.
    CorruptData,
    /// Talking to Redis failed (connection, timeout, server error).
    Redis,
    /// The client, server or inspector was closed.
    Closed,
    /// A wait ran out of time: `Client::wait` returned before the task finished.
    Timeout,
}

/// The crate's short name for [`ErrorKind`].
pub(crate) type Kind = ErrorKind;

/// The error type of every fallible redisq operation.
pub struct Error {
    kind: Kind,
    message: String,
    source: Option<Source>,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            source: None,
        }
    }

    pub(crate) fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// A copy with the same kind and message (the source is not cloneable), for reporting
    /// one failure to many callers.
    pub(crate) fn clone_kind(&self) -> Error {
        Error::new(self.kind, self.to_string())
    }

    pub(crate) fn duplicate_task() -> Self {
        Error::new(Kind::DuplicateTask, "task already exists")
    }

    pub(crate) fn task_id_conflict() -> Self {
        Error::new(Kind::TaskIdConflict, "task ID conflicts with another task")
    }

    pub(crate) fn invalid_option(message: impl Into<String>) -> Self {
        Error::new(Kind::InvalidOption, message)
    }

    pub(crate) fn invalid_uri(message: impl Into<String>) -> Self {
        Error::new(Kind::InvalidUri, message)
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Error::new(Kind::CorruptData, message)
    }

    pub(crate) fn redis(context: impl Into<String>, err: redis::RedisError) -> Self {
        Error::new(Kind::Redis, context).with_source(err)
    }

    /// The category of the error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The unique lock for this task is held: an equal task was enqueued within its TTL.
    pub fn is_duplicate_task(&self) -> bool {
        self.kind == Kind::DuplicateTask
    }

    /// A task with the same ID already exists in the queue.
    pub fn is_task_id_conflict(&self) -> bool {
        self.kind == Kind::TaskIdConflict
    }

    /// A task, queue or other named thing was not found.
    pub fn is_not_found(&self) -> bool {
        matches!(self.kind, Kind::TaskNotFound | Kind::QueueNotFound)
    }

    /// The task was not found.
    pub fn is_task_not_found(&self) -> bool {
        self.kind == Kind::TaskNotFound
    }

    /// The queue was not found.
    pub fn is_queue_not_found(&self) -> bool {
        self.kind == Kind::QueueNotFound
    }

    /// The queue still holds tasks.
    pub fn is_queue_not_empty(&self) -> bool {
        self.kind == Kind::QueueNotEmpty
    }

    /// The operation does not apply to the task in its current state.
    pub fn is_failed_precondition(&self) -> bool {
        self.kind == Kind::FailedPrecondition
    }

    /// A task option or configuration value is invalid, or a payload could not be encoded
    /// (`Task::json`, `Client::enqueue_typed`). Nothing was written to Redis.
    pub fn is_invalid_option(&self) -> bool {
        self.kind == Kind::InvalidOption
    }

    /// A Redis URI could not be parsed.
    pub fn is_invalid_uri(&self) -> bool {
        self.kind == Kind::InvalidUri
    }

    /// The Redis server is too old or otherwise unsupported (redisq needs Redis 6.2 or newer).
    pub fn is_unsupported_server(&self) -> bool {
        self.kind == Kind::UnsupportedServer
    }

    /// Data in Redis could not be decoded (for example a corrupt task message).
    pub fn is_corrupt_data(&self) -> bool {
        self.kind == Kind::CorruptData
    }

    /// Talking to Redis failed: connection refused or lost, timeout, or a server error.
    pub fn is_redis(&self) -> bool {
        self.kind == Kind::Redis
    }

    /// A timeout: `Client::wait` gave up before the task finished ([`ErrorKind::Timeout`]),
    /// or Redis did not answer in time (an [`Error::is_redis`] error).
    pub fn is_timeout(&self) -> bool {
        self.kind == Kind::Timeout || self.redis_source().is_some_and(|e| e.is_timeout())
    }

    /// The Redis failure was a lost or refused connection.
    pub fn is_connection(&self) -> bool {
        self.redis_source().is_some_and(|e| {
            e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal()
        })
    }

    /// The object was already closed.
    pub fn is_closed(&self) -> bool {
        self.kind == Kind::Closed
    }

    fn redis_source(&self) -> Option<&redis::RedisError> {
        self.source
            .as_deref()
            .and_then(|s| s.downcast_ref::<redis::RedisError>())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("redisq::Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if let Some(source) = &self.source {
            d.field("source", source);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_follow_kind() {
        assert!(Error::duplicate_task().is_duplicate_task());
        assert!(!Error::duplicate_task().is_task_id_conflict());
        assert!(Error::task_id_conflict().is_task_id_conflict());
        assert!(Error::new(Kind::TaskNotFound, "x").is_not_found());
        assert!(Error::new(Kind::QueueNotFound, "x").is_not_found());
        assert!(Error::invalid_option("x").is_invalid_option());
        assert_eq!(Error::duplicate_task().to_string(), "task already exists");
    }

    #[test]
    fn redis_source_is_kept() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let err = Error::redis("connect", redis::RedisError::from(io));
        assert!(err.is_redis());
        assert!(err.is_connection());
        assert!(err.source().is_some());
    }
}
