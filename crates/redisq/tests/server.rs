//! Server tests on real Redis: processing outcomes, priorities, timeouts, panics, shutdown,
//! cancellation, recovery and Redis outages.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::AsyncCommands;
use redisq::{Config, HandlerError, ServeMux, Server, Task, TaskContext, TaskOption};
use redisq_test_support::RedisServer;
use tokio::sync::mpsc;

use common::{Env, fast_config, wait_until};

#[tokio::test]
async fn processes_tasks_and_counts_them() {
    let env = Env::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut mux = ServeMux::new();
    mux.handle("echo", move |ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        async move {
            assert_eq!(ctx.queue(), "default");
            let _ = tx.send(String::from_utf8_lossy(task.payload()).into_owned());
            Ok(())
        }
    });
    for i in 0..20 {
        env.client
            .enqueue(&Task::new("echo", format!("{i}")))
            .await
            .expect("enqueue");
    }
    let server = Server::new(env.opt(), fast_config().concurrency(4))
        .await
        .expect("server");
    server.start(mux).await.expect("start");
    let mut seen = Vec::new();
    while seen.len() < 20 {
        seen.push(rx.recv().await.expect("handler ran"));
    }
    let mut c = env.conn().await;
    wait_until("all tasks done", || async {
        let n: usize = c.clone().llen("asynq:{default}:active").await.unwrap_or(1);
        let p: usize = c.clone().llen("asynq:{default}:pending").await.unwrap_or(1);
        n == 0 && p == 0
    })
    .await;
    server.shutdown().await;
    seen.sort_by_key(|s| s.parse::<u32>().unwrap_or(0));
    assert_eq!(seen, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
    let processed: u64 = c.get("asynq:{default}:processed").await.expect("processed");
    assert_eq!(processed, 20);
    let failed: Option<u64> = c.get("asynq:{default}:failed").await.expect("failed");
    assert_eq!(failed, None);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("asynq:{default}:t:*")
        .query_async(&mut c)
        .await
        .expect("keys");
    assert!(keys.is_empty(), "task hashes left: {keys:?}");
    let servers: usize = c.zcard("asynq:servers").await.expect("zcard");
    assert_eq!(servers, 0, "shutdown removes the server's state");
}

#[tokio::test]
async fn retry_then_archive_with_error_handler_and_stats() {
    let env = Env::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(u32, SystemTime)>();
    let errors = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let errs = errors.clone();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((ctx.retry_count(), SystemTime::now()));
            Err(HandlerError::msg("attempt failed"))
        }
    };
    env.client
        .enqueue_with(
            &Task::new("fail", "x"),
            [TaskOption::max_retry(1), TaskOption::task_id("t1")],
        )
        .await
        .expect("enqueue");
    let config = fast_config()
        .retry_delay(|_, _, _| Duration::from_secs(2))
        .error_handler(move |_ctx, _task, err| {
            errs.lock().map(|mut e| e.push(err.to_string())).ok();
        });
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    let (first_retry, first_at) = rx.recv().await.expect("first attempt");
    let (second_retry, second_at) = rx.recv().await.expect("second attempt");
    assert_eq!((first_retry, second_retry), (0, 1));
    // Scores are whole seconds, so the retry may start up to 1 s before first + 2 s.
    let gap = second_at.duration_since(first_at).unwrap_or_default();
    assert!(
        gap >= Duration::from_secs(1),
        "retried after {gap:?}, before its delay"
    );
    let mut c = env.conn().await;
    wait_until("task archived", || async {
        let n: usize = c
            .clone()
            .zcard("asynq:{default}:archived")
            .await
            .unwrap_or(0);
        n == 1
    })
    .await;
    server.shutdown().await;
    let h: std::collections::HashMap<String, Vec<u8>> =
        c.hgetall("asynq:{default}:t:t1").await.expect("hash");
    assert_eq!(h["state"], b"archived");
    let processed: u64 = c.get("asynq:{default}:processed").await.expect("processed");
    let failed: u64 = c.get("asynq:{default}:failed").await.expect("failed");
    assert_eq!((processed, failed), (2, 2));
    assert_eq!(
        errors.lock().map(|e| e.clone()).unwrap_or_default(),
        ["attempt failed", "attempt failed"]
    );
}

#[tokio::test]
async fn start_twice_and_after_shutdown_fail() {
    let env = Env::start().await;
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    let h = |_c: TaskContext, _t: Task| async { Ok(()) };
    server.start(h).await.expect("start");
    assert!(server.start(h).await.is_err());
    server.shutdown().await;
    assert!(server.start(h).await.is_err_and(|e| e.is_closed()));
    server.ping().await.expect("ping after close is ok");
    assert!(
        Server::new(env.opt(), Config::new().concurrency(0))
            .await
            .is_err_and(|e| e.is_invalid_option())
    );
}

#[tokio::test]
async fn redis_restart_mid_run_loses_nothing() {
    // AOF on so that a restart keeps the data, like a production Redis.
    let mut redis = RedisServer::builder()
        .extra_args(["--appendonly", "yes", "--appendfsync", "always"])
        .start();
    let env = Env::with_server(&redis).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, _t: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            Ok(())
        }
    };
    let server = Server::new(env.opt(), fast_config().concurrency(2))
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    for i in 0..10 {
        env.client
            .enqueue_with(&Task::new("t", ""), [TaskOption::task_id(format!("a{i}"))])
            .await
            .expect("enqueue");
    }
    let mut done = std::collections::BTreeSet::new();
    while done.len() < 10 {
        done.insert(rx.recv().await.expect("processed"));
    }
    redis.stop();
    redis.restart();
    // The client reconnects on its own; enqueue more once Redis answers again.
    for i in 0..10 {
        let task = Task::new("t", "");
        let mut tries = 0;
        while env
            .client
            .enqueue_with(&task, [TaskOption::task_id(format!("b{i}"))])
            .await
            .is_err()
        {
            tries += 1;
            assert!(tries < 100, "Redis did not come back");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    while done.len() < 20 {
        done.insert(rx.recv().await.expect("processed after restart"));
    }
    let c = env.conn().await;
    wait_until("queue drained", || async {
        let a: usize = c.clone().llen("asynq:{default}:active").await.unwrap_or(1);
        let p: usize = c.clone().llen("asynq:{default}:pending").await.unwrap_or(1);
        a == 0 && p == 0
    })
    .await;
    server.shutdown().await;
    assert_eq!(done.len(), 20);
}
