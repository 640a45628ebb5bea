//! The `worker` sub-mode: one `redisq::Server` in its own process, recording each task in its
//! append-only log (see [`crate::record`]).
//!
//! The process ends when its stdin reaches end of file (the runner closed it, or the runner
//! died): a graceful shutdown. The runner's SIGKILL is the other way out.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use redisq::{
    Config, HandlerError, LogLevel, Logger, RedisClusterClientOpt, RedisConnOpt, Server, Task,
    TaskContext, parse_redis_uri,
};
use tokio::io::AsyncReadExt;

use crate::record::{Kind, Recorder};

/// Lease of every worker of a run: short, so killed workers' tasks come back quickly.
pub const LEASE: Duration = Duration::from_secs(2);
/// How long past lease expiry a task waits before recovery.
pub const LEASE_GRACE: Duration = Duration::from_secs(1);
/// Delay before a failed (or recovered) task is retried.
pub const RETRY_DELAY: Duration = Duration::from_millis(200);

/// What a worker process runs.
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    /// Redis URL (possibly a proxy in front of the server).
    pub url: String,
    /// The append-only task log.
    pub log: PathBuf,
    /// This incarnation's ID (written on every log line).
    pub id: u32,
    /// Handler slots.
    pub concurrency: usize,
    /// Queues and priorities.
    pub queues: Vec<(String, u32)>,
    /// Strict priority instead of weighted.
    pub strict: bool,
    /// Every user callback panics: the error handler, the failure predicate, the health
    /// check, and the retry delay (for `panic-once` tasks; the server then uses its default
    /// delay).
    pub panicking_callbacks: bool,
    /// How far this process's wall clock is set ahead of the host's, in ms (negative:
    /// behind), by libfaketime in a clock-skew run: the task log is corrected by it.
    pub clock_skew_ms: i64,
}

/// The first line a worker writes to stderr: its own wall clock (Unix ms) when it started,
/// so the runner can check that a requested clock skew took effect.
pub const CLOCK_LINE: &str = "clock-check";

/// How a task's handler behaves, from its payload: `work:<ms>` sleeps, then succeeds.
/// Other behaviours (misbehaving user code) are listed in [`crate::scenario`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    /// Sleep this long (async), then succeed.
    Work(u64),
    /// Panic on the first attempt, succeed on the next.
    PanicOnce,
    /// Block the thread (std sleep) this long, then succeed.
    Block(u64),
    /// On the first attempt, ignore cancellation and the deadline: keep running this long
    /// (past the task's timeout), then fail; succeed on the next attempt.
    IgnoreCancelOnce(u64),
    /// Never return on the first attempt (the task's timeout ends it); succeed on the next.
    HangOnce,
}

impl Behaviour {
    /// Parses a payload; anything unknown is plain work of 1 ms.
    pub fn parse(payload: &[u8]) -> Behaviour {
        let text = std::str::from_utf8(payload).unwrap_or("");
        let (kind, arg) = text.split_once(':').unwrap_or((text, "0"));
        let ms = arg.parse().unwrap_or(1);
        match kind {
            "panic-once" => Behaviour::PanicOnce,
            "block" => Behaviour::Block(ms),
            "ignore-cancel-once" => Behaviour::IgnoreCancelOnce(ms),
            "hang-once" => Behaviour::HangOnce,
            _ => Behaviour::Work(ms),
        }
    }

    /// The payload for this behaviour.
    pub fn payload(&self) -> String {
        match self {
            Behaviour::Work(ms) => format!("work:{ms}"),
            Behaviour::PanicOnce => "panic-once".to_owned(),
            Behaviour::Block(ms) => format!("block:{ms}"),
            Behaviour::IgnoreCancelOnce(ms) => format!("ignore-cancel-once:{ms}"),
            Behaviour::HangOnce => "hang-once".to_owned(),
        }
    }
}

/// Writes the library's log lines to stderr (the runner sends them to a file per worker).
struct StderrLogger(u32);

impl Logger for StderrLogger {
    fn log(&self, level: LogLevel, message: &str) {
        eprintln!(
            "{} worker-{} {level:?} {message}",
            crate::record::now_ms(),
            self.0
        );
    }
}

/// The server configuration every worker uses.
pub fn config(args: &WorkerArgs) -> Config {
    let config = Config::new()
        .concurrency(args.concurrency)
        .queues(args.queues.iter().map(|(q, p)| (q.clone(), *p)))
        .strict_priority(args.strict)
        .lease_duration(LEASE)
        .heartbeat_interval(Duration::from_millis(400))
        .lease_grace(LEASE_GRACE)
        .recoverer_interval(Duration::from_millis(250))
        .task_check_interval(Duration::from_millis(50))
        .delayed_task_check_interval(Duration::from_millis(100))
        .shutdown_timeout(Duration::from_secs(2))
        .retry_delay(|_, _, _| RETRY_DELAY)
        .log_level(LogLevel::Warn)
        .logger(StderrLogger(args.id));
    if !args.panicking_callbacks {
        return config;
    }
    config
        .error_handler(|_, _, _| panic!("chaos: error handler panics"))
        .is_failure(|_| panic!("chaos: failure predicate panics"))
        .health_check(Duration::from_millis(300), |_| {
            panic!("chaos: health check panics")
        })
        .retry_delay(|_, _, task| {
            if Behaviour::parse(task.payload()) == Behaviour::PanicOnce {
                panic!("chaos: retry delay panics");
            }
            RETRY_DELAY
        })
}

/// Connection options from a URL: anything `parse_redis_uri` reads, or
/// `cluster:HOST:PORT,HOST:PORT,...` for a Redis Cluster (asynq's URIs have no cluster form).
pub fn conn_opt(url: &str) -> Result<RedisConnOpt, String> {
    match url.strip_prefix("cluster:") {
        Some(addrs) => Ok(RedisClusterClientOpt::new(addrs.split(',')).into()),
        None => parse_redis_uri(url).map_err(|e| e.to_string()),
    }
}

/// Runs the worker until stdin closes.
pub async fn run(args: WorkerArgs) -> Result<(), String> {
    let recorder = Arc::new(
        Recorder::open(&args.log, args.id)
            .map_err(|e| format!("cannot open {}: {e}", args.log.display()))?
            .with_skew(args.clock_skew_ms),
    );
    eprintln!("{CLOCK_LINE} {}", crate::record::now_ms());
    let opt = conn_opt(&args.url)?;
    // The first connection may race a Redis that is restarting: try for a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let server = loop {
        match Server::new(opt.clone(), config(&args)).await {
            Ok(server) => break server,
            Err(err) if tokio::time::Instant::now() < deadline => {
                eprintln!("worker-{}: connect: {err}; retrying", args.id);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => return Err(format!("cannot start the server: {err}")),
        }
    };
    let handler = move |ctx: TaskContext, task: Task| {
        let recorder = recorder.clone();
        async move {
            recorder.record(Kind::Start, ctx.task_id());
            match Behaviour::parse(task.payload()) {
                Behaviour::Work(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
                Behaviour::PanicOnce => {
                    if ctx.retry_count() == 0 {
                        panic!("chaos: handler panics on the first attempt");
                    }
                }
                Behaviour::Block(ms) => std::thread::sleep(Duration::from_millis(ms)),
                Behaviour::IgnoreCancelOnce(ms) => {
                    if ctx.retry_count() == 0 {
                        // Never looks at the deadline or the cancellation: the server has to
                        // give up on it by itself. The attempt fails, so it never counts as
                        // a finish.
                        let _ = tokio::task::spawn_blocking(move || {
                            std::thread::sleep(Duration::from_millis(ms))
                        })
                        .await;
                        return Err(HandlerError::msg("chaos: ran past its deadline"));
                    }
                }
                Behaviour::HangOnce => {
                    if ctx.retry_count() == 0 {
                        std::future::pending::<()>().await;
                    }
                }
            }
            recorder.record(Kind::Finish, ctx.task_id());
            Ok::<(), HandlerError>(())
        }
    };
    let stdin_closed = async {
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while let Ok(n) = stdin.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    server
        .run_until(handler, stdin_closed)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_round_trip() {
        for b in [
            Behaviour::Work(5),
            Behaviour::PanicOnce,
            Behaviour::Block(30),
            Behaviour::IgnoreCancelOnce(40),
            Behaviour::HangOnce,
        ] {
            assert_eq!(Behaviour::parse(b.payload().as_bytes()), b);
        }
        assert_eq!(Behaviour::parse(b"\xff\x00"), Behaviour::Work(0));
    }
}
