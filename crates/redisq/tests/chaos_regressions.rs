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
