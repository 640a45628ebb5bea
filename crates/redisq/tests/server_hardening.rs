//! Lifecycle hardening on real Redis: panicking user callbacks never leave a task active,
//! `run_until` and dropping a running server shut it down, and a handler that blocks its
//! runtime thread does not stop lease extension.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use redisq::{
    Config, HandlerError, Inspector, Server, Task, TaskContext, TaskOption, parse_redis_uri,
};
use redisq_test_support::TcpProxy;
use tokio::sync::mpsc;

use common::{
    Env, counter, fast_config, never_finishing, recv, task_msg, wait_for_state, wait_until,
};

type Conn = redis::aio::MultiplexedConnection;

async fn active_ids(c: &Conn) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg("asynq:{default}:active")
        .arg(0)
        .arg(-1)
        .query_async(&mut c.clone())
        .await
        .expect("LRANGE")
}

async fn failing(_ctx: TaskContext, _task: Task) -> Result<(), HandlerError> {
    Err(HandlerError::msg("boom"))
}

/// Runs one failing task `a` under `config` and waits for it to reach `state`.
async fn fail_once_under(config: Config, max_retry: i32, state: &str) -> (Env, Conn, Server) {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("fails", "x"),
            [TaskOption::task_id("a"), TaskOption::max_retry(max_retry)],
        )
        .await
        .expect("enqueue");
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(failing).await.expect("start");
    wait_for_state(&c, "default", "a", state).await;
    (env, c, server)
}

#[tokio::test]
async fn a_panicking_retry_delay_still_retries_the_task() {
    let config = fast_config().retry_delay(|_, _, _| panic!("retry delay bug"));
    let (_env, c, server) = fail_once_under(config, 3, "retry").await;
    let msg = task_msg(&c, "default", "a").await;
    assert_eq!((msg.retried, msg.error_msg.as_str()), (1, "boom"));
    assert!(active_ids(&c).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_is_failure_counts_as_a_failure() {
    let config = fast_config()
        .retry_delay(|_, _, _| Duration::from_secs(3600))
        .is_failure(|_| panic!("is_failure bug"));
    let (_env, c, server) = fail_once_under(config, 3, "retry").await;
    assert_eq!(task_msg(&c, "default", "a").await.retried, 1);
    assert_eq!(counter(&c, "asynq:{default}:failed").await, Some(1));
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_error_handler_does_not_stop_archiving() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let config = fast_config().error_handler(move |_, _, _| {
        seen.fetch_add(1, Ordering::SeqCst);
        panic!("error handler bug");
    });
    let (_env, c, server) = fail_once_under(config, 0, "archived").await;
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(task_msg(&c, "default", "a").await.error_msg, "boom");
    assert!(active_ids(&c).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn a_panicking_health_check_keeps_being_called_and_tasks_run() {
    let env = Env::start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let config = fast_config().health_check(Duration::from_millis(50), move |_| {
        let _ = tx.send(());
        panic!("health check bug");
    });
    let server = Server::new(env.opt(), config).await.expect("server");
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
    server
        .start(move |_ctx: TaskContext, task: Task| {
            let done_tx = done_tx.clone();
            async move {
                let _ = done_tx.send(task.task_type().to_string());
                Ok(())
            }
        })
        .await
        .expect("start");
    for _ in 0..3 {
        recv(&mut rx).await;
    }
    env.client
        .enqueue(&Task::new("after-panics", ""))
        .await
        .expect("enqueue");
    assert_eq!(recv(&mut done_rx).await, "after-panics");
    server.shutdown().await;
}

#[tokio::test]
async fn run_until_shuts_down_when_the_future_completes() {
    let env = Env::start().await;
    let c = env.conn().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (ran_tx, mut ran) = mpsc::unbounded_channel::<()>();
    env.client
        .enqueue(&Task::new("t", ""))
        .await
        .expect("enqueue");
    let run = server.run_until(
        move |_ctx: TaskContext, _task: Task| {
            let ran_tx = ran_tx.clone();
            async move {
                let _ = ran_tx.send(());
                Ok(())
            }
        },
        async move {
            let _ = rx.await;
        },
    );
    let driver = async {
        recv(&mut ran).await;
        assert_eq!(insp.servers().await.expect("servers").len(), 1);
        let _ = tx.send(());
    };
    let (res, ()) = tokio::join!(run, driver);
    res.expect("run_until");
    assert!(insp.servers().await.expect("servers").is_empty());
    assert!(active_ids(&c).await.is_empty());
    // A closed server cannot be started again.
    assert!(
        server
            .start(|_ctx: TaskContext, _task: Task| async { Ok(()) })
            .await
            .is_err_and(|e| e.is_closed())
    );
}

#[tokio::test]
async fn dropping_a_running_server_requeues_its_tasks() {
    let env = Env::start().await;
    let c = env.conn().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    env.client
        .enqueue_with(&Task::new("stuck", ""), [TaskOption::task_id("a")])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, bool)>();
    let config = fast_config().shutdown_timeout(Duration::from_millis(500));
    let server = Server::new(env.opt(), config).await.expect("server");
    server
        .start(never_finishing("dropped", tx))
        .await
        .expect("start");
    assert_eq!(recv(&mut rx).await, ("started", false));
    drop(server);
    // After the shutdown timeout the handler is cancelled and dropped, and the task goes
    // back to its queue.
    assert_eq!(recv(&mut rx).await, ("dropped", true));
    wait_for_state(&c, "default", "a", "pending").await;
    wait_until("the server's state removed", || async {
        insp.servers().await.expect("servers").is_empty()
    })
    .await;
    assert!(active_ids(&c).await.is_empty());
}

/// A handler that blocks its runtime's only worker thread for longer than the lease must
/// not lose its lease: the heartbeat runs on its own thread with its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_blocking_handler_does_not_stop_lease_extension() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(&Task::new("blocks", ""), [TaskOption::task_id("a")])
        .await
        .expect("enqueue");
    let runs = Arc::new(AtomicUsize::new(0));
    let seen = runs.clone();
    let config = fast_config()
        .concurrency(1)
        .lease_duration(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(300))
        .lease_grace(Duration::from_secs(1));
    let server = Server::new(env.opt(), config).await.expect("server");
    server
        .start(move |_ctx: TaskContext, _task: Task| {
            let seen = seen.clone();
            async move {
                seen.fetch_add(1, Ordering::SeqCst);
                // Wrong in an async handler, and exactly what this test is about.
                std::thread::sleep(Duration::from_secs(5));
                Ok(())
            }
        })
        .await
        .expect("start");
    wait_until("task a done", || async {
        counter(&c, "asynq:{default}:processed").await == Some(1)
    })
    .await;
    // It completed on its first attempt: its lease never expired, nothing was recovered.
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(counter(&c, "asynq:{default}:failed").await, None);
    let exists: bool = redis::cmd("EXISTS")
        .arg("asynq:{default}:t:a")
        .query_async(&mut c.clone())
        .await
        .expect("EXISTS");
    assert!(!exists, "the task was not completed");
    server.shutdown().await;
}

async fn cancel_subscribers(c: &Conn) -> i64 {
    let (_, n): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg("asynq:cancel")
        .query_async(&mut c.clone())
        .await
        .expect("PUBSUB NUMSUB");
    n
}

/// The server's connections go through a proxy that goes silent without closing them (a
/// half-open connection): the subscriber notices within seconds, subscribes again on a new
/// connection, and a cancellation sent afterwards reaches the running task.
#[tokio::test]
async fn a_half_open_pubsub_connection_is_replaced() {
    let env = Env::start().await;
    let c = env.conn().await;
    let redis = env.redis().expect("private redis");
    let proxy = TcpProxy::start(redis.addr());
    let opt = parse_redis_uri(&proxy.url()).expect("proxy uri");
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    env.client
        .enqueue_with(&Task::new("waits", ""), [TaskOption::task_id("a")])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, bool)>();
    let server = Server::new(opt, fast_config()).await.expect("server");
    server
        .start(never_finishing("stopped", tx))
        .await
        .expect("start");
    assert_eq!(recv(&mut rx).await, ("started", false));
    wait_until("the server subscribed", || async {
        cancel_subscribers(&c).await == 1
    })
    .await;
    proxy.freeze_existing();
    // Redis still counts the frozen subscriber; a second one means the server resubscribed.
    wait_until("the server resubscribed", || async {
        cancel_subscribers(&c).await == 2
    })
    .await;
    insp.cancel_processing("a").await.expect("cancel");
    // The handler was cancelled and dropped.
    assert_eq!(recv(&mut rx).await, ("stopped", true));
    proxy.cut_existing();
    server.shutdown().await;
}
