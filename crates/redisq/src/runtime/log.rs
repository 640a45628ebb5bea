//! Logging of the long-running services (server, scheduler): `tracing` by default, or the
//! user's [`Logger`], filtered by level, with a rate limit for errors that repeat while Redis
//! is away.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// Log levels with asynq's names (`debug`, `info`, `warn`, `error`, `fatal`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Everything, including per-task events.
    Debug,
    /// Start, stop and notable events (the default).
    #[default]
    Info,
    /// Unexpected but handled events.
    Warn,
    /// Errors the server recovers from.
    Error,
    /// Errors it cannot recover from.
    Fatal,
}

impl LogLevel {
    /// asynq's name of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = Error;

    /// Accepts asynq's names, case-insensitively, plus `warning`.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            "fatal" => Ok(LogLevel::Fatal),
            _ => Err(Error::invalid_option(format!(
                "unsupported log level {s:?}: use debug, info, warn, error or fatal"
            ))),
        }
    }
}

/// A custom log sink (asynq's `Logger`). By default the server logs through `tracing`.
pub trait Logger: Send + Sync + 'static {
    /// Logs one message at `level`.
    fn log(&self, level: LogLevel, message: &str);
}

#[derive(Clone)]
pub(crate) struct Log {
    level: LogLevel,
    sink: Option<Arc<dyn Logger>>,
}

impl Log {
    pub(crate) fn new(level: LogLevel, sink: Option<Arc<dyn Logger>>) -> Self {
        Log { level, sink }
    }

    /// Whether messages at `level` pass the configured level.
    #[inline]
    pub(crate) fn enabled(&self, level: LogLevel) -> bool {
        level >= self.level
    }

    /// The user's logger, if one replaces `tracing`.
    #[inline]
    pub(crate) fn sink(&self) -> Option<&dyn Logger> {
        self.sink.as_deref()
    }

    pub(crate) fn log(&self, level: LogLevel, args: fmt::Arguments<'_>) {
        if !self.enabled(level) {
            return;
        }
        match &self.sink {
            Some(sink) => sink.log(level, &args.to_string()),
            None => match level {
                LogLevel::Debug => tracing::debug!(target: "redisq", "{args}"),
                LogLevel::Info => tracing::info!(target: "redisq", "{args}"),
                LogLevel::Warn => tracing::warn!(target: "redisq", "{args}"),
                LogLevel::Error | LogLevel::Fatal => tracing::error!(target: "redisq", "{args}"),
            },
        }
    }

    pub(crate) fn debug(&self, args: fmt::Arguments<'_>) {
        self.log(LogLevel::Debug, args)
    }

    pub(crate) fn info(&self, args: fmt::Arguments<'_>) {
        self.log(LogLevel::Info, args)
    }

    pub(crate) fn warn(&self, args: fmt::Arguments<'_>) {
        self.log(LogLevel::Warn, args)
    }

    pub(crate) fn error(&self, args: fmt::Arguments<'_>) {
        self.log(LogLevel::Error, args)
    }
}

/// Logs one message through a [`Log`], with structured fields when it goes to `tracing`.
///
/// `log_event!(log, Debug, { queue = %q, count = n }, "moved {n} tasks of {q:?}")`: the level
/// is a [`LogLevel`] variant other than `Fatal`; the fields use `tracing`'s syntax. The message
/// passes the log's level filter like every other message. Without a user [`Logger`] it
/// becomes a `tracing` event with target `redisq` carrying the fields; a user logger gets the
/// formatted message alone. Nothing is formatted when the level is filtered out.
macro_rules! log_event {
    ($log:expr, $level:ident, { $($fields:tt)+ }, $($msg:tt)+) => {{
        let log: &$crate::runtime::log::Log = &$log;
        let level = $crate::runtime::log::LogLevel::$level;
        if log.enabled(level) {
            match log.sink() {
                Some(sink) => sink.log(level, &format!($($msg)+)),
                None => $crate::runtime::log::tracing_event!($level, { $($fields)+ }, $($msg)+),
            }
        }
    }};
}

/// The `tracing` event of [`log_event!`] at a level given by name.
macro_rules! tracing_event {
    (Debug, { $($fields:tt)+ }, $($msg:tt)+) => {
        ::tracing::event!(target: "redisq", ::tracing::Level::DEBUG, { $($fields)+ }, $($msg)+)
    };
    (Info, { $($fields:tt)+ }, $($msg:tt)+) => {
        ::tracing::event!(target: "redisq", ::tracing::Level::INFO, { $($fields)+ }, $($msg)+)
    };
    (Warn, { $($fields:tt)+ }, $($msg:tt)+) => {
        ::tracing::event!(target: "redisq", ::tracing::Level::WARN, { $($fields)+ }, $($msg)+)
    };
    (Error, { $($fields:tt)+ }, $($msg:tt)+) => {
        ::tracing::event!(target: "redisq", ::tracing::Level::ERROR, { $($fields)+ }, $($msg)+)
    };
}

pub(crate) use {log_event, tracing_event};

impl fmt::Debug for Log {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Log").field("level", &self.level).finish()
    }
}

/// Lets one message through per period and counts the ones it held back.
#[derive(Debug)]
pub(crate) struct RateLimited {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimited {
    pub(crate) fn new(period: Duration) -> Self {
        RateLimited {
            period,
            state: Mutex::new((None, 0)),
        }
    }

    /// `Some(suppressed since the last message)` when a message may be logged now.
    pub(crate) fn allow(&self) -> Option<u64> {
        let mut s = self.state.lock().ok()?;
        let now = Instant::now();
        match s.0 {
            Some(last) if now.duration_since(last) < self.period => {
                s.1 += 1;
                None
            }
            _ => {
                let suppressed = s.1;
                *s = (Some(now), 0);
                Some(suppressed)
            }
        }
    }
}
