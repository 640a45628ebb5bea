//! Completions that wait for the next task: while a server is idle, a lone completion is held
//! for `Config::completion_linger`; a task arriving meanwhile is taken by the same script
//! call that records the completion; a burst answered that way still reaches every idle
//! slot; nothing arriving, or shutdown, writes the completion alone.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, command_calls, fast_config, recv, wait_until};
use redisq::{Config, LogLevel, Logger, Server, Task, TaskContext, TaskOption};
use tokio::sync::{Barrier, mpsc};

/// Forwards the server's debug messages about held completions.
struct HoldLog(mpsc::UnboundedSender<String>);

impl Logger for HoldLog {
    fn log(&self, _level: LogLevel, message: &str) {
        if message.contains("for its next task") {
            let _ = self.0.send(message.to_string());
        }
    }
}

/// A server whose lone completions wait up to `linger`, with its held-completion messages,
/// and whose periodic probe is too slow to matter: only wake-ups and held completions move
/// tasks quickly.
fn config(linger: Duration, holds: mpsc::UnboundedSender<String>) -> Config {
    fast_config()
        .concurrency(8)
        .task_check_interval(Duration::from_secs(120))
        .completion_linger(linger)
        .log_level(LogLevel::Debug)
        .logger(HoldLog(holds))
}

/// A started server whose handler succeeds at once.
async fn noop_server(env: &Env, config: Config) -> Server {
    let server = Server::new(env.opt(), config).await.expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    server
}

async fn enqueue(env: &Env, id: &str) {
    env.client
        .enqueue_with(
            &Task::new("t", id.to_string()),
            [TaskOption::TaskId(id.to_string())],
        )
        .await
        .expect("enqueue");
}

/// Whether the task's hash still exists (a completed task without retention is deleted).
async fn exists(env: &Env, id: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(format!("asynq:{{default}}:t:{id}"))
        .query_async::<i64>(&mut env.conn().await)
        .await
        .expect("exists")
        == 1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_completion_is_written_by_the_call_that_takes_the_next_task() {
    let env = Env::start().await;
    let (hold_tx, mut holds) = mpsc::unbounded_channel();
    let (tx, mut started) = mpsc::unbounded_channel::<String>();
    // Longer than the test needs: the completion waits for the next task, not for time.
    let server = Server::new(env.opt(), config(Duration::from_secs(1), hold_tx))
        .await
        .expect("server");
    server
        .start(move |_c: TaskContext, t: Task| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(String::from_utf8_lossy(t.payload()).into_owned());
                Ok(())
            }
        })
        .await
        .expect("start");
    enqueue(&env, "t1").await;
    assert_eq!(recv(&mut started).await, "t1");
    recv(&mut holds).await;
    assert!(
        exists(&env, "t1").await,
        "t1's completion is held, not written"
    );
    let before = command_calls(&env, "rpop").await;
    enqueue(&env, "t2").await;
    assert_eq!(recv(&mut started).await, "t2");
    assert!(
        !exists(&env, "t1").await,
        "t1 was completed by the call that took t2"
    );
    // One call took t2 and found it at once; a completion written alone would have popped
    // the empty list for its hand-over, and a separate fetch would pop again.
    assert_eq!(command_calls(&env, "rpop").await - before, 1);
    let processed = common::counter(&env.conn().await, "asynq:{default}:processed").await;
    assert_eq!(processed, Some(1));
    server.shutdown().await;
    assert!(
        !exists(&env, "t2").await,
        "shutdown writes the held completion"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_completion_is_written_alone_when_nothing_arrives() {
    let env = Env::start().await;
    let (hold_tx, mut holds) = mpsc::unbounded_channel();
    let server = noop_server(&env, config(Duration::from_millis(50), hold_tx)).await;
    enqueue(&env, "t1").await;
    recv(&mut holds).await;
    wait_until("t1 completed once the wait ran out", || async {
        !exists(&env, "t1").await
    })
    .await;
    let processed = common::counter(&env.conn().await, "asynq:{default}:processed").await;
    assert_eq!(processed, Some(1));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_answered_by_a_held_completion_reaches_every_idle_slot() {
    const BURST: usize = 5;
    let env = Env::start().await;
    let (hold_tx, mut holds) = mpsc::unbounded_channel();
    let (tx, mut started) = mpsc::unbounded_channel::<String>();
    // The burst's handlers finish only when all of them run at once: run one after another
    // on the slot the held completion frees, they would never finish.
    let barrier = Arc::new(Barrier::new(BURST));
    let server = Server::new(env.opt(), config(Duration::from_secs(1), hold_tx))
        .await
        .expect("server");
    server
        .start(move |_c: TaskContext, t: Task| {
            let (tx, barrier) = (tx.clone(), barrier.clone());
            async move {
                let id = String::from_utf8_lossy(t.payload()).into_owned();
                let _ = tx.send(id.clone());
                if id != "first" {
                    barrier.wait().await;
                }
                Ok(())
            }
        })
        .await
        .expect("start");
    enqueue(&env, "first").await;
    assert_eq!(recv(&mut started).await, "first");
    recv(&mut holds).await;
    // One batch call: one wake-up marker for all of them.
    let tasks: Vec<Task> = (0..BURST)
        .map(|i| Task::new("t", format!("b{i}")))
        .collect();
    for r in env.client.enqueue_batch(&tasks, []).await {
        r.expect("enqueue");
    }
    for _ in 0..BURST {
        recv(&mut started).await;
    }
    wait_until("the burst drained", || async {
        let n: i64 = redis::cmd("LLEN")
            .arg("asynq:{default}:active")
            .query_async(&mut env.conn().await)
            .await
            .expect("llen");
        n == 0
    })
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_writes_a_held_completion_at_once() {
    let env = Env::start().await;
    let (hold_tx, mut holds) = mpsc::unbounded_channel();
    let server = noop_server(&env, config(Duration::from_secs(1), hold_tx)).await;
    enqueue(&env, "t1").await;
    recv(&mut holds).await;
    assert!(exists(&env, "t1").await, "t1's completion is held");
    server.shutdown().await;
    assert!(
        !exists(&env, "t1").await,
        "shutdown wrote the held completion"
    );
    let processed = common::counter(&env.conn().await, "asynq:{default}:processed").await;
    assert_eq!(processed, Some(1));
}
