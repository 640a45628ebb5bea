//! Server tests on real Redis: recovery of tasks whose worker is gone — a worker process
//! killed with SIGKILL (lease expiry) and a task stuck in `active` without a lease
//! (decision D5).
//!
//! The killed worker is this test binary run again as a child process: the test
//! `child_server_process` does nothing unless `REDISQ_CHILD_URL` is set.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use redisq::{Config, Server, Task, TaskContext, TaskOption, parse_redis_uri};
use tokio::sync::mpsc;

use common::{Env, fast_config, task_msg, unix_now, wait_for_state, wait_until};

type Conn = redis::aio::MultiplexedConnection;

/// Set in the child process: the Redis URL to work against.
const CHILD_ENV: &str = "REDISQ_CHILD_URL";
/// Written by the child's handler once it runs a task: the task's ID.
const READY_KEY: &str = "test:child:running";

async fn zscore(c: &Conn, key: &str, member: &str) -> Option<i64> {
    redis::cmd("ZSCORE")
        .arg(key)
        .arg(member)
        .query_async(&mut c.clone())
        .await
        .expect("ZSCORE")
}

async fn llen(c: &Conn, key: &str) -> usize {
    redis::cmd("LLEN")
        .arg(key)
        .query_async(&mut c.clone())
        .await
        .expect("LLEN")
}

/// The worker process of `sigkilled_worker_task_is_recovered_by_another_server`: a server
/// with a short lease whose handler announces the task in Redis and then hangs.
#[tokio::test]
async fn child_server_process() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let conn = redis::Client::open(url.as_str())
        .expect("redis client")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let handler = move |ctx: TaskContext, _task: Task| {
        let conn = conn.clone();
        async move {
            let _: () = redis::cmd("SET")
                .arg(READY_KEY)
                .arg(ctx.task_id())
                .query_async(&mut conn.clone())
                .await
                .expect("SET");
            std::future::pending::<()>().await;
            Ok(())
        }
    };
    let config = Config::new()
        .concurrency(1)
        .lease_duration(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(500))
        .task_check_interval(Duration::from_millis(50));
    let server = Server::new(parse_redis_uri(&url).expect("uri"), config)
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    // The parent kills this process; the limit only guards against an orphaned child.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

/// Kills and reaps the child when dropped (also when the test fails).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn sigkilled_worker_task_is_recovered_by_another_server() {
    let env = Env::start().await;
    let c = env.conn().await;
    let url = env.redis().expect("own Redis").url();
    env.client
        .enqueue_with(
            &Task::new("victim", "x"),
            [TaskOption::task_id("k1"), TaskOption::max_retry(3)],
        )
        .await
        .expect("enqueue");
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = ChildGuard(
        Command::new(exe)
            .args([
                "--exact",
                "child_server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the worker process"),
    );
    wait_until("the child runs the task", || async {
        let v: Option<String> = redis::cmd("GET")
            .arg(READY_KEY)
            .query_async(&mut c.clone())
            .await
            .expect("GET");
        v.as_deref() == Some("k1")
    })
    .await;
    assert!(
        zscore(&c, "asynq:{default}:lease", "k1").await.is_some(),
        "the running task has a lease"
    );
    // SIGKILL: no shutdown, no requeue, no final write.
    child.0.kill().expect("SIGKILL the worker");
    let status = child.0.wait().expect("reap the worker");
    assert!(!status.success());
    // Nothing extends the lease any more: this is its final expiry.
    let lease = zscore(&c, "asynq:{default}:lease", "k1")
        .await
        .expect("the dead worker's lease is still there");
    assert_eq!(llen(&c, "asynq:{default}:active").await, 1);

    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            Ok(())
        }
    };
    let config = fast_config()
        .lease_grace(Duration::from_secs(1))
        .recoverer_interval(Duration::from_millis(200))
        // Far away, so the recovered task stays in `retry` to be looked at.
        .retry_delay(|_, _, _| Duration::from_secs(3600));
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    wait_for_state(&c, "default", "k1", "retry").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "k1").await;
    assert_eq!(msg.error_msg, "asynq: task lease expired");
    assert_eq!(msg.retried, 1);
    // Recovered only once the lease had expired and the grace period (1 s) had passed.
    assert!(
        msg.last_failed_at > lease,
        "recovered at {} although the lease ran until {lease}",
        msg.last_failed_at
    );
    assert_eq!(llen(&c, "asynq:{default}:active").await, 0);
    assert_eq!(zscore(&c, "asynq:{default}:lease", "k1").await, None);
    assert!(rx.try_recv().is_err(), "the retry ran before its time");
}

#[tokio::test]
async fn active_task_without_lease_is_recovered() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(&Task::new("lost", "x"), [TaskOption::task_id("d5")])
        .await
        .expect("enqueue");
    // What a crash between asynq's RPOPLPUSH and its lease ZADD (or a failover) leaves.
    let moved: Option<String> = redis::cmd("LMOVE")
        .arg("asynq:{default}:pending")
        .arg("asynq:{default}:active")
        .arg("RIGHT")
        .arg("LEFT")
        .query_async(&mut c.clone())
        .await
        .expect("LMOVE");
    assert_eq!(moved.as_deref(), Some("d5"));
    let _: () = redis::cmd("HSET")
        .arg("asynq:{default}:t:d5")
        .arg("state")
        .arg("active")
        .query_async(&mut c.clone())
        .await
        .expect("HSET");
    let runs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let r = runs.clone();
    let handler = move |_ctx: TaskContext, _task: Task| {
        let r = r.clone();
        async move {
            r.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }
    };
    let config = fast_config()
        .lease_grace(Duration::from_secs(1))
        .recoverer_interval(Duration::from_millis(200))
        .retry_delay(|_, _, _| Duration::from_secs(3600));
    let server = Server::new(env.opt(), config).await.expect("server");
    let started = Instant::now();
    let before = unix_now();
    server.start(handler).await.expect("start");
    wait_for_state(&c, "default", "d5", "retry").await;
    let waited = started.elapsed();
    server.shutdown().await;
    assert!(
        waited >= Duration::from_secs(1),
        "recovered after {waited:?}, before the grace period"
    );
    let msg = task_msg(&c, "default", "d5").await;
    assert_eq!(msg.error_msg, "asynq: task lease expired");
    assert_eq!(msg.retried, 1);
    assert!(msg.last_failed_at >= before);
    assert_eq!(llen(&c, "asynq:{default}:active").await, 0);
    assert!(
        zscore(&c, "asynq:{default}:retry", "d5").await.is_some(),
        "in the retry set"
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 0);
}
