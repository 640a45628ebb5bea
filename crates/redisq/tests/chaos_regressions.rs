//! Regressions found by the chaos runner (`crates/redisq-chaos`), each on real Redis.
//!
//! Half-open command connections: a connection whose network path dies without closing
//! (nothing answers, no FIN, no RST) used to time out every command forever, because the
//! connection manager only reconnects when the socket reports itself closed. A command that
//! times out now replaces its connection.

mod common;

use std::time::Duration;

use redisq::{Client, RedisClientOpt, Server, Task, TaskContext, TaskOption};
use redisq_test_support::TcpProxy;
use tokio::sync::mpsc;

use common::{Env, fast_config, wait_until};

fn through(proxy: &TcpProxy) -> RedisClientOpt {
    RedisClientOpt::new(&proxy.addr()).read_timeout(Some(Duration::from_millis(500)))
}

#[tokio::test]
async fn a_client_gets_over_a_half_open_connection() {
    let env = Env::start().await;
    let redis = env.redis().expect("private redis");
    let proxy = TcpProxy::start(redis.addr());
    let client = Client::connect(through(&proxy)).await.expect("client");
    client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("before")])
        .await
        .expect("enqueue before the freeze");

    proxy.freeze_existing();
    let err = client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("frozen")])
        .await
        .expect_err("a frozen connection cannot answer");
    assert!(err.to_string().contains("timed out"), "{err}");

    // Each try uses a new ID: a timed-out enqueue may or may not have been applied.
    let mut attempt = 0;
    wait_until("enqueues work again on a new connection", || {
        attempt += 1;
        let client = client.clone();
        async move {
            client
                .enqueue_with(
                    &Task::new("t", ""),
                    [TaskOption::task_id(format!("after-{attempt}"))],
                )
                .await
                .is_ok()
        }
    })
    .await;
    proxy.cut_existing();
}

#[tokio::test]
async fn a_server_processes_tasks_after_its_connections_go_half_open() {
    let env = Env::start().await;
    let redis = env.redis().expect("private redis");
    let proxy = TcpProxy::start(redis.addr());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_owned());
            Ok(())
        }
    };
    let server = Server::new(through(&proxy), fast_config())
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    env.client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("before")])
        .await
        .expect("enqueue");
    let first = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
    assert_eq!(
        first.expect("processed before the freeze").as_deref(),
        Some("before")
    );

    // Every connection the server has (commands, pub/sub, heartbeat) goes silent.
    proxy.freeze_existing();
    env.client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("after")])
        .await
        .expect("enqueue directly");
    let next = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await;
    assert_eq!(
        next.expect("the server never processed a task after the freeze")
            .as_deref(),
        Some("after")
    );
    server.shutdown().await;
    proxy.cut_existing();
}

// ---------------------------------------------------------------------------------------
// Recovery racing a re-dequeue (found by the `redis-restart-always` chaos scenario, full
// profile): two servers' recoverers list the same expired lease; the first recovers the task,
// a worker takes it again with a fresh lease, and the second recoverer then moved it to
// `retry` from under that worker, so it ran twice at once. The retry and archive scripts now
// take a lease cutoff from the recoverer and leave a task whose lease runs past it alone.

const RETRY_LUA: &str = include_str!("../src/rdb/scripts/retry.lua");
const ARCHIVE_LUA: &str = include_str!("../src/rdb/scripts/archive.lua");

/// Enqueues `id` and makes it active with a lease until `lease` (unix s), as `dequeue` does.
async fn active_with_lease(
    env: &Env,
    c: &mut redis::aio::MultiplexedConnection,
    id: &str,
    lease: i64,
) -> Vec<u8> {
    env.client
        .enqueue_with(&Task::new("t", "x"), [TaskOption::task_id(id)])
        .await
        .expect("enqueue");
    let _: () = redis::pipe()
        .cmd("LREM")
        .arg("asynq:{default}:pending")
        .arg(0)
        .arg(id)
        .cmd("LPUSH")
        .arg("asynq:{default}:active")
        .arg(id)
        .cmd("ZADD")
        .arg("asynq:{default}:lease")
        .arg(lease)
        .arg(id)
        .query_async(c)
        .await
        .expect("make active");
    redis::cmd("HGET")
        .arg(format!("asynq:{{default}}:t:{id}"))
        .arg("msg")
        .query_async(c)
        .await
        .expect("HGET msg")
}

fn unix_now_secs() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs(),
    )
    .expect("secs")
}

async fn retry_script(
    c: &mut redis::aio::MultiplexedConnection,
    id: &str,
    msg: &[u8],
    cutoff: &str,
) -> redis::RedisResult<i64> {
    redis::Script::new(RETRY_LUA)
        .key(format!("asynq:{{default}}:t:{id}"))
        .key("asynq:{default}:active")
        .key("asynq:{default}:lease")
        .key("asynq:{default}:retry")
        .key("asynq:{default}:processed:2026-01-01")
        .key("asynq:{default}:failed:2026-01-01")
        .key("asynq:{default}:processed")
        .key("asynq:{default}:failed")
        .arg(id)
        .arg(msg)
        .arg(unix_now_secs() + 60)
        .arg(unix_now_secs() + 3600)
        .arg("1")
        .arg("9223372036854775807")
        .arg(cutoff)
        .invoke_async(c)
        .await
}

async fn archive_script(
    c: &mut redis::aio::MultiplexedConnection,
    id: &str,
    msg: &[u8],
    cutoff: &str,
) -> redis::RedisResult<i64> {
    let now = unix_now_secs();
    redis::Script::new(ARCHIVE_LUA)
        .key(format!("asynq:{{default}}:t:{id}"))
        .key("asynq:{default}:active")
        .key("asynq:{default}:lease")
        .key("asynq:{default}:archived")
        .key("asynq:{default}:processed:2026-01-01")
        .key("asynq:{default}:failed:2026-01-01")
        .key("asynq:{default}:processed")
        .key("asynq:{default}:failed")
        .arg(id)
        .arg("msg")
        .arg(msg)
        .arg(now)
        .arg(now - 3600)
        .arg(100)
        .arg(now + 3600)
        .arg("9223372036854775807")
        .arg("asynq:{default}:t:")
        .arg(cutoff)
        .invoke_async(c)
        .await
}

async fn is_active(c: &mut redis::aio::MultiplexedConnection, id: &str) -> bool {
    let pos: Option<i64> = redis::cmd("LPOS")
        .arg("asynq:{default}:active")
        .arg(id)
        .query_async(c)
        .await
        .expect("LPOS");
    pos.is_some()
}

#[tokio::test]
async fn recovery_leaves_a_task_with_a_fresh_lease_to_its_worker() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    let now = unix_now_secs();
    let cutoff = (now - 1).to_string();

    // Taken again since the recoverer listed it: the lease runs 30 s from now.
    let msg = active_with_lease(&env, &mut c, "fresh", now + 30).await;
    let err = retry_script(&mut c, "fresh", &msg, &cutoff)
        .await
        .expect_err("a live worker's task must not be recovered");
    assert_eq!(err.code(), Some("NOT"), "{err}");
    let err = archive_script(&mut c, "fresh", &msg, &cutoff)
        .await
        .expect_err("a live worker's task must not be archived by recovery");
    assert_eq!(err.code(), Some("NOT"), "{err}");
    assert!(
        is_active(&mut c, "fresh").await,
        "the task stays with its worker"
    );

    // Really expired (or without a lease): recovered as before.
    let msg = active_with_lease(&env, &mut c, "expired", now - 10).await;
    assert_eq!(
        retry_script(&mut c, "expired", &msg, &cutoff)
            .await
            .expect("retry"),
        1
    );
    assert!(!is_active(&mut c, "expired").await);
    let msg = active_with_lease(&env, &mut c, "expired-2", now - 10).await;
    assert_eq!(
        archive_script(&mut c, "expired-2", &msg, &cutoff)
            .await
            .expect("archive"),
        1
    );

    // The worker's own failure path passes no cutoff and is not guarded.
    let msg = active_with_lease(&env, &mut c, "own", now + 30).await;
    assert_eq!(
        retry_script(&mut c, "own", &msg, "").await.expect("retry"),
        1
    );
    assert!(!is_active(&mut c, "own").await);
}
