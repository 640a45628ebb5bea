//! The hot path (decisions D10 and D12): instant pickup, wake-ups of the forwarder, batched
//! fetches and completions, and what happens to batch-fetched tasks on crashes and shutdown.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use redisq::{Namespace, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

use common::{Env, fast_config, wait_until};

/// With a one-minute poll interval, only a wake-up can explain a pickup within the test.
const SLOW_POLL: Duration = Duration::from_secs(60);

fn recorder() -> (
    impl redisq::Handler + Clone,
    mpsc::UnboundedReceiver<String>,
) {
    let (tx, rx) = mpsc::unbounded_channel::<String>();
    let h = move |ctx: TaskContext, _t: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            Ok(())
        }
    };
    (h, rx)
}

#[tokio::test]
async fn an_idle_server_wakes_when_a_redisq_client_enqueues() {
    let env = Env::start().await;
    let server = Server::new(env.opt(), fast_config().task_check_interval(SLOW_POLL))
        .await
        .expect("server");
    let (h, mut rx) = recorder();
    server.start(h).await.expect("start");
    let mut c = env.conn().await;
    // The server is subscribed once the wake-up channel has a subscriber; after that it
    // idles with nothing to do.
    wait_until("server subscribed", || async {
        let subs: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("asynq:redisq:wakeup")
            .query_async(&mut c.clone())
            .await
            .unwrap_or_default();
        subs.first().is_some_and(|(_, n)| *n > 0)
    })
    .await;
    for round in 0..3 {
        let id = format!("t{round}");
        env.client
            .enqueue_with(&Task::new("t", ""), [TaskOption::task_id(&id)])
            .await
            .expect("enqueue");
        assert_eq!(rx.recv().await.as_deref(), Some(id.as_str()));
    }
    // A batch wakes it too.
    let batch: Vec<Task> = (0..5)
        .map(|i| Task::new("t", "").with_option(TaskOption::task_id(format!("b{i}"))))
        .collect();
    for r in env.client.enqueue_batch(&batch, []).await {
        r.expect("batch");
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        got.push(rx.recv().await.expect("batch task"));
    }
    got.sort();
    assert_eq!(got, ["b0", "b1", "b2", "b3", "b4"]);
    let _: () = c.ping().await.expect("ping");
    server.shutdown().await;
}

#[tokio::test]
async fn tasks_written_without_a_wake_up_are_found_by_polling() {
    // What a Go client writes: the task hash and the pending list, no wake-up message.
    let env = Env::start().await;
    let mut c = env.conn().await;
    let server = Server::new(
        env.opt(),
        fast_config().task_check_interval(Duration::from_millis(200)),
    )
    .await
    .expect("server");
    let (h, mut rx) = recorder();
    server.start(h).await.expect("start");
    // Enqueue through redisq into another namespace, then copy the task's hash by hand so
    // the message bytes are genuine.
    let other = redisq::Client::builder(env.opt())
        .namespace(Namespace::new("donor").expect("namespace"))
        .connect()
        .await
        .expect("client");
    other
        .enqueue_with(&Task::new("go", "from-go"), [TaskOption::task_id("go-1")])
        .await
        .expect("enqueue");
    let msg: Vec<u8> = c.hget("donor:{default}:t:go-1", "msg").await.expect("msg");
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    let _: () = redis::pipe()
        .hset_multiple(
            "asynq:{default}:t:go-1",
            &[
                ("msg", msg),
                ("state", b"pending".to_vec()),
                ("pending_since", now_ns.to_string().into_bytes()),
            ],
        )
        .lpush("asynq:{default}:pending", "go-1")
        .query_async(&mut c)
        .await
        .expect("write like Go");
    assert_eq!(rx.recv().await.as_deref(), Some("go-1"));
    server.shutdown().await;
}

#[tokio::test]
async fn scheduled_tasks_are_forwarded_when_due_without_waiting_for_the_interval() {
    let env = Env::start().await;
    let server = Server::new(
        env.opt(),
        fast_config()
            .task_check_interval(SLOW_POLL)
            .delayed_task_check_interval(SLOW_POLL),
    )
    .await
    .expect("server");
    let (h, mut rx) = recorder();
    server.start(h).await.expect("start");
    // Scheduled after the forwarder went to sleep: the client's wake-up shortens its sleep.
    let c = env.conn().await;
    wait_until("server subscribed", || async {
        let subs: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("asynq:redisq:wakeup")
            .query_async(&mut c.clone())
            .await
            .unwrap_or_default();
        subs.first().is_some_and(|(_, n)| *n > 0)
    })
    .await;
    let info = env
        .client
        .enqueue_with(
            &Task::new("t", ""),
            [
                TaskOption::process_in(Duration::from_secs(1)),
                TaskOption::task_id("later"),
            ],
        )
        .await
        .expect("enqueue");
    assert_eq!(rx.recv().await.as_deref(), Some("later"));
    // Not before it was due (due times are whole seconds).
    let due = info.next_process_at.expect("due time");
    let due_s = due
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    assert!(now_s >= due_s, "processed before its due second");
    server.shutdown().await;
}

#[tokio::test]
async fn a_failed_task_is_retried_when_due_without_waiting_for_the_interval() {
    let env = Env::start().await;
    let attempts = Arc::new(Mutex::new(0u32));
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let a = attempts.clone();
    let handler = move |_c: TaskContext, _t: Task| {
        let (a, tx) = (a.clone(), tx.clone());
        async move {
            let n = {
                let mut g = a
                    .lock()
                    .map_err(|_| redisq::HandlerError::msg("poisoned"))?;
                *g += 1;
                *g
            };
            let _ = tx.send(n);
            if n == 1 {
                Err(redisq::HandlerError::msg("first attempt fails"))
            } else {
                Ok(())
            }
        }
    };
    let server = Server::new(
        env.opt(),
        fast_config()
            .task_check_interval(SLOW_POLL)
            .delayed_task_check_interval(SLOW_POLL)
            .retry_delay(|_, _, _| Duration::from_secs(1)),
    )
    .await
    .expect("server");
    server.start(handler).await.expect("start");
    env.client
        .enqueue(&Task::new("t", ""))
        .await
        .expect("enqueue");
    assert_eq!(rx.recv().await, Some(1));
    assert_eq!(rx.recv().await, Some(2));
    server.shutdown().await;
}

#[tokio::test]
async fn weighted_priorities_hold_with_batched_fetches() {
    let env = Env::start().await;
    for (q, n) in [("critical", 600), ("default", 600), ("low", 600)] {
        let tasks: Vec<Task> = (0..n)
            .map(|_| Task::new("t", q).with_option(TaskOption::queue(q)))
            .collect();
        for r in env.client.enqueue_batch(&tasks, []).await {
            r.expect("enqueue");
        }
    }
    // A slow-ish handler with concurrency 8: fetches take several tasks at once.
    let order = Arc::new(Mutex::new(Vec::<String>::new()));
    let o = order.clone();
    let handler = move |ctx: TaskContext, _t: Task| {
        let o = o.clone();
        async move {
            o.lock().map(|mut v| v.push(ctx.queue().to_string())).ok();
            tokio::time::sleep(Duration::from_millis(2)).await;
            Ok(())
        }
    };
    let server = Server::new(
        env.opt(),
        fast_config()
            .concurrency(8)
            .queues([("critical", 6), ("default", 3), ("low", 1)]),
    )
    .await
    .expect("server");
    server.start(handler).await.expect("start");
    wait_until("400 tasks processed", || async {
        order.lock().map(|o| o.len() >= 400).unwrap_or(false)
    })
    .await;
    server.shutdown().await;
    let first: Vec<String> = order.lock().map(|o| o[..400].to_vec()).unwrap_or_default();
    let mut counts = BTreeMap::<&str, usize>::new();
    for q in &first {
        *counts.entry(q.as_str()).or_default() += 1;
    }
    let share = |q: &str| counts.get(q).copied().unwrap_or(0) as f64 / 400.0;
    assert!((share("critical") - 0.6).abs() < 0.1, "{counts:?}");
    assert!((share("default") - 0.3).abs() < 0.1, "{counts:?}");
    assert!((share("low") - 0.1).abs() < 0.08, "{counts:?}");
}

#[tokio::test]
async fn shutdown_leaves_no_fetched_task_behind() {
    // Every fetched task holds a worker slot and starts at once, so shutdown has no
    // unstarted tasks to return; tasks still running at the timeout go back to the front.
    let env = Env::start().await;
    let tasks: Vec<Task> = (0..20).map(|i| Task::new("t", format!("{i}"))).collect();
    for r in env.client.enqueue_batch(&tasks, []).await {
        r.expect("enqueue");
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let handler = move |_c: TaskContext, _t: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(());
            std::future::pending::<()>().await;
            Ok(())
        }
    };
    let server = Server::new(
        env.opt(),
        fast_config()
            .concurrency(4)
            .shutdown_timeout(Duration::from_millis(200)),
    )
    .await
    .expect("server");
    server.start(handler).await.expect("start");
    for _ in 0..4 {
        rx.recv().await.expect("started");
    }
    server.shutdown().await;
    let mut c = env.conn().await;
    let active: usize = c.llen("asynq:{default}:active").await.expect("llen");
    let pending: usize = c.llen("asynq:{default}:pending").await.expect("llen");
    let lease: usize = c.zcard("asynq:{default}:lease").await.expect("zcard");
    assert_eq!((active, pending, lease), (0, 20, 0));
}
