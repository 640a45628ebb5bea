//! Server tests on real Redis: scheduled tasks (forwarder, decision D3 for grouped ones),
//! results and retention of completed tasks (janitor).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use redisq::{Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

use common::{
    Env, counter, fast_config, recv, task_hash, task_msg, unix_now, unix_secs_of, wait_for_state,
    wait_until,
};

type Conn = redis::aio::MultiplexedConnection;

async fn zscore(c: &Conn, key: &str, member: &str) -> Option<i64> {
    redis::cmd("ZSCORE")
        .arg(key)
        .arg(member)
        .query_async(&mut c.clone())
        .await
        .expect("ZSCORE")
}

#[tokio::test]
async fn scheduled_task_runs_once_due() {
    let env = Env::start().await;
    let c = env.conn().await;
    let info = env
        .client
        .enqueue_with(
            &Task::new("later", "x"),
            [
                TaskOption::task_id("s1"),
                TaskOption::process_in(Duration::from_secs(1)),
            ],
        )
        .await
        .expect("enqueue");
    let due = zscore(&c, "asynq:{default}:scheduled", "s1")
        .await
        .expect("in the scheduled set");
    assert_eq!(Some(due), info.next_process_at.map(unix_secs_of));
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, SystemTime)>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((ctx.task_id().to_string(), SystemTime::now()));
            Ok(())
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    let (id, ran_at) = recv(&mut rx).await;
    assert_eq!(id, "s1");
    // Scores are whole seconds: the task may run from the start of its due second on.
    assert!(
        unix_secs_of(ran_at) >= due,
        "ran at {ran_at:?}, before its due second {due}"
    );
    wait_until("the task is done", || async {
        task_hash(&c, "default", "s1").await.is_empty()
    })
    .await;
    server.shutdown().await;
    assert_eq!(zscore(&c, "asynq:{default}:scheduled", "s1").await, None);
    assert_eq!(counter(&c, "asynq:{default}:processed").await, Some(1));
}

#[tokio::test]
async fn scheduled_grouped_task_moves_into_its_group_when_due() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("batch", "x"),
            [
                TaskOption::task_id("g1"),
                TaskOption::group("g"),
                TaskOption::process_in(Duration::from_secs(1)),
            ],
        )
        .await
        .expect("enqueue");
    let due = zscore(&c, "asynq:{default}:scheduled", "g1")
        .await
        .expect("in the scheduled set");
    let h = task_hash(&c, "default", "g1").await;
    assert_eq!(
        h.get("group").map(Vec::as_slice),
        Some(&b"g"[..]),
        "D3: the scheduled task keeps its group"
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let handler = move |_ctx: TaskContext, _task: Task| {
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    };
    // No aggregator: the task waits in its group.
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    wait_for_state(&c, "default", "g1", "aggregating").await;
    let moved_at = unix_now();
    server.shutdown().await;
    assert!(
        moved_at >= due,
        "moved at {moved_at}, before its due second {due}"
    );
    assert_eq!(zscore(&c, "asynq:{default}:scheduled", "g1").await, None);
    let in_group = zscore(&c, "asynq:{default}:g:g", "g1")
        .await
        .expect("in the group zset");
    assert!(in_group >= due);
    let groups: Vec<String> = redis::cmd("SMEMBERS")
        .arg("asynq:{default}:groups")
        .query_async(&mut c.clone())
        .await
        .expect("SMEMBERS");
    assert_eq!(groups, ["g"]);
    let pending: usize = redis::cmd("LLEN")
        .arg("asynq:{default}:pending")
        .query_async(&mut c.clone())
        .await
        .expect("LLEN");
    assert_eq!(pending, 0);
    assert_eq!(runs.load(Ordering::SeqCst), 0, "a grouped task is not run");
}

/// A handler that stores `ok` as the result and reports the task ID.
fn result_writer(tx: mpsc::UnboundedSender<String>) -> impl redisq::Handler {
    move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let n = ctx.result_writer().write(b"ok").await?;
            assert_eq!(n, 2);
            let _ = tx.send(ctx.task_id().to_string());
            Ok(())
        }
    }
}

#[tokio::test]
async fn result_is_kept_with_the_completed_task() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("compute", "x"),
            [
                TaskOption::task_id("r1"),
                TaskOption::retention(Duration::from_secs(3600)),
            ],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    let before = unix_now();
    server.start(result_writer(tx)).await.expect("start");
    assert_eq!(recv(&mut rx).await, "r1");
    wait_for_state(&c, "default", "r1", "completed").await;
    let after = unix_now();
    server.shutdown().await;
    let h = task_hash(&c, "default", "r1").await;
    assert_eq!(h.get("result").map(Vec::as_slice), Some(&b"ok"[..]));
    let expiry = zscore(&c, "asynq:{default}:completed", "r1")
        .await
        .expect("in the completed set");
    assert!(
        (before + 3600..=after + 3600).contains(&expiry),
        "completed score {expiry} is not completion + retention ({before}..={after} + 3600)"
    );
    let msg = task_msg(&c, "default", "r1").await;
    assert!((before..=after).contains(&msg.completed_at));
    assert_eq!(msg.retention, 3600);
    assert_eq!(counter(&c, "asynq:{default}:processed").await, Some(1));
}

#[tokio::test]
async fn janitor_deletes_completed_tasks_after_retention() {
    let env = Env::start().await;
    let c = env.conn().await;
    for (id, retention) in [("short", 1), ("long", 3600)] {
        env.client
            .enqueue_with(
                &Task::new("compute", "x"),
                [
                    TaskOption::task_id(id),
                    TaskOption::retention(Duration::from_secs(retention)),
                ],
            )
            .await
            .expect("enqueue");
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = fast_config().janitor_interval(Duration::from_millis(200));
    let server = Server::new(env.opt(), config).await.expect("server");
    let before = unix_now();
    server.start(result_writer(tx)).await.expect("start");
    let mut ran = vec![recv(&mut rx).await, recv(&mut rx).await];
    ran.sort();
    assert_eq!(ran, ["long", "short"]);
    wait_for_state(&c, "default", "long", "completed").await;
    // The short one may already be gone; if it is still there, note its expiry.
    let expiry = zscore(&c, "asynq:{default}:completed", "short").await;
    wait_until("the janitor deleted the expired task", || async {
        task_hash(&c, "default", "short").await.is_empty()
    })
    .await;
    let deleted_at = unix_now();
    server.shutdown().await;
    // Completed no earlier than `before`, so kept at least until `before + 1`.
    assert!(
        deleted_at > before,
        "deleted before its retention could end"
    );
    if let Some(expiry) = expiry {
        assert!(
            deleted_at >= expiry,
            "deleted at {deleted_at}, before its retention ended at {expiry}"
        );
    }
    assert_eq!(zscore(&c, "asynq:{default}:completed", "short").await, None);
    // The task within its retention is kept.
    assert!(
        zscore(&c, "asynq:{default}:completed", "long")
            .await
            .is_some()
    );
    let h = task_hash(&c, "default", "long").await;
    assert_eq!(h.get("result").map(Vec::as_slice), Some(&b"ok"[..]));
}
