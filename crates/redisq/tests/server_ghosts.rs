//! Entries of tasks whose data is gone (evicted or deleted by hand) are removed from `active`
//! and `lease` by the recoverer instead of counting as active forever.

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use redisq::{Server, Task, TaskContext};

use common::{Env, fast_config, recv, unix_now, wait_until};

#[tokio::test]
async fn active_and_lease_entries_without_a_task_are_removed() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    // ghost-1: expired lease, no hash. ghost-2: active without lease or hash.
    let _: () = redis::pipe()
        .lpush("asynq:{default}:active", "ghost-1")
        .zadd("asynq:{default}:lease", "ghost-1", unix_now() - 120)
        .lpush("asynq:{default}:active", "ghost-2")
        .query_async(&mut c)
        .await
        .expect("seed");
    // A real task processed meanwhile must not be touched.
    env.client
        .enqueue(&Task::new("t", "real"))
        .await
        .expect("enqueue");
    let server = Server::new(env.opt(), fast_config().lease_grace(Duration::from_secs(1)))
        .await
        .expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    let probe = env.conn().await;
    wait_until("ghosts removed", || async {
        let mut p = probe.clone();
        let active: usize = p.llen("asynq:{default}:active").await.unwrap_or(1);
        let lease: usize = p.zcard("asynq:{default}:lease").await.unwrap_or(1);
        active == 0 && lease == 0
    })
    .await;
    server.shutdown().await;
    let processed: u64 = c.get("asynq:{default}:processed").await.expect("processed");
    assert_eq!(processed, 1, "the real task was processed");
    let failed: Option<u64> = c.get("asynq:{default}:failed").await.expect("failed");
    assert_eq!(failed, None, "ghosts are not counted as failures");
}

#[tokio::test]
async fn a_worker_stops_when_its_lease_entry_is_taken_away() {
    struct OnDrop(tokio::sync::mpsc::UnboundedSender<&'static str>);
    impl Drop for OnDrop {
        fn drop(&mut self) {
            let _ = self.0.send("stopped");
        }
    }
    let env = Env::start().await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let handler = move |_ctx: TaskContext, _t: Task| {
        let tx = tx.clone();
        async move {
            let _guard = OnDrop(tx.clone());
            let _ = tx.send("started");
            std::future::pending::<()>().await;
            Ok(())
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    env.client
        .enqueue_with(&Task::new("t", ""), [redisq::TaskOption::task_id("taken")])
        .await
        .expect("enqueue");
    assert_eq!(recv(&mut rx).await, "started");
    // What a recoverer on another server does first: the lease entry goes away.
    let mut c = env.conn().await;
    let _: () = c
        .zrem("asynq:{default}:lease", "taken")
        .await
        .expect("zrem");
    // The next heartbeat notices and stops the attempt (its future is dropped); no outcome
    // is written, the task is left for the recoverer.
    assert_eq!(recv(&mut rx).await, "stopped");
    let state: Option<String> = c
        .hget("asynq:{default}:t:taken", "state")
        .await
        .expect("state");
    assert_eq!(state.as_deref(), Some("active"));
    let processed: Option<u64> = c.get("asynq:{default}:processed").await.expect("processed");
    assert_eq!(processed, None);
    server.shutdown().await;
}
