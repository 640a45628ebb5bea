//! `TaskContext::set_progress` on real Redis: the Inspector shows a running task's progress,
//! it is gone once the task completed and when the next attempt starts, invalid reports are
//! refused, and a task that is no longer active (or deleted) is never written or recreated.

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use redis::AsyncCommands;
use redisq::{HandlerError, Inspector, ListOptions, Server, Task, TaskContext, TaskOption};
use tokio::sync::{Semaphore, mpsc};

use common::{Env, fast_config, recv, wait_for_state};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn the_inspector_shows_progress_while_the_task_runs() {
    let env = Env::start().await;
    let c = env.conn().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let (tx, mut rx) = mpsc::unbounded_channel::<redisq::Result<()>>();
    let gate = Arc::new(Semaphore::new(0));
    let handler = {
        let gate = gate.clone();
        move |ctx: TaskContext, _task: Task| {
            let (tx, gate) = (tx.clone(), gate.clone());
            async move {
                let _ = tx.send(ctx.set_progress(40, "resized 2 of 5").await);
                gate.acquire().await.expect("gate").forget();
                let _ = tx.send(ctx.set_progress(100, "").await);
                Ok(())
            }
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    let before = SystemTime::now();
    env.client
        .enqueue_with(
            &Task::new("t", ""),
            [TaskOption::task_id("p"), TaskOption::retention(HOUR)],
        )
        .await
        .expect("enqueue");
    recv(&mut rx).await.expect("set_progress");
    // The handler is blocked on the gate: the task is active with its progress.
    let info = insp.task_info("default", "p").await.expect("task_info");
    assert_eq!(info.state, redisq::TaskState::Active);
    let p = info.progress.expect("progress while active");
    assert_eq!((p.percent, p.message.as_str()), (40, "resized 2 of 5"));
    assert!(p.updated_at + Duration::from_secs(1) >= before);
    let active = insp
        .list_active_tasks("default", ListOptions::new())
        .await
        .expect("list active");
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].progress.as_ref().map(|p| p.percent), Some(40));
    gate.add_permits(1);
    recv(&mut rx).await.expect("second set_progress");
    wait_for_state(&c, "default", "p", "completed").await;
    // Completed: the report of the finished attempt is not the task's progress.
    let info = insp.task_info("default", "p").await.expect("task_info");
    assert_eq!(info.progress, None);
    let done = insp
        .list_completed_tasks("default", ListOptions::new())
        .await
        .expect("list completed");
    assert_eq!(done[0].progress, None);
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_reports_are_refused_and_nothing_is_written() {
    let env = Env::start().await;
    let c = env.conn().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<redisq::Error>>();
    let gate = Arc::new(Semaphore::new(0));
    let handler = {
        let gate = gate.clone();
        move |ctx: TaskContext, _task: Task| {
            let (tx, gate) = (tx.clone(), gate.clone());
            async move {
                let too_long = "x".repeat(TaskContext::MAX_PROGRESS_MESSAGE + 1);
                let errs = vec![
                    ctx.set_progress(101, "too far").await.expect_err("101"),
                    ctx.set_progress(255, "").await.expect_err("255"),
                    ctx.set_progress(5, &too_long).await.expect_err("long"),
                ];
                let _ = tx.send(errs);
                gate.acquire().await.expect("gate").forget();
                Ok(())
            }
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    env.client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("bad")])
        .await
        .expect("enqueue");
    for e in recv(&mut rx).await {
        assert!(e.is_invalid_option(), "{e:?}");
    }
    let field: Option<String> = c
        .clone()
        .hget("asynq:{default}:t:bad", "redisq_progress")
        .await
        .unwrap();
    assert_eq!(field, None);
    gate.add_permits(1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_task_that_is_not_active_or_deleted_is_left_alone() {
    let env = Env::start().await;
    let c = env.conn().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<redisq::Result<()>>();
    let steps = Arc::new(Semaphore::new(0));
    let handler = {
        let steps = steps.clone();
        move |ctx: TaskContext, _task: Task| {
            let (tx, steps) = (tx.clone(), steps.clone());
            async move {
                let _ = tx.send(ctx.set_progress(10, "first").await);
                // Each later report waits for the test to change the task behind its back.
                for _ in 0..2 {
                    steps.acquire().await.expect("step").forget();
                    let _ = tx.send(ctx.set_progress(20, "later").await);
                }
                Ok(())
            }
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    env.client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("x")])
        .await
        .expect("enqueue");
    recv(&mut rx).await.expect("first report");
    let key = "asynq:{default}:t:x";
    // Not active any more (as if an operator moved it): refused, field unchanged.
    let _: () = c.clone().hset(key, "state", "retry").await.unwrap();
    steps.add_permits(1);
    let err = recv(&mut rx).await.expect_err("not active");
    assert!(err.is_failed_precondition(), "{err:?}");
    let field: Option<String> = c.clone().hget(key, "redisq_progress").await.unwrap();
    assert!(field.is_some_and(|f| f.ends_with("|first")));
    // Deleted: refused, and the hash is not recreated.
    let _: () = c.clone().del(key).await.unwrap();
    steps.add_permits(1);
    let err = recv(&mut rx).await.expect_err("deleted");
    assert!(err.is_task_not_found(), "{err:?}");
    let exists: bool = c.clone().exists(key).await.unwrap();
    assert!(!exists, "set_progress recreated a deleted task");
    server.shutdown().await;
}

#[tokio::test]
async fn the_next_attempt_starts_without_the_previous_progress() {
    let env = Env::start().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let (tx, mut rx) = mpsc::unbounded_channel::<u32>();
    let gate = Arc::new(Semaphore::new(0));
    let handler = {
        let gate = gate.clone();
        move |ctx: TaskContext, _task: Task| {
            let (tx, gate) = (tx.clone(), gate.clone());
            async move {
                if ctx.retry_count() == 0 {
                    ctx.set_progress(70, "almost").await?;
                    return Err(HandlerError::msg("first attempt fails"));
                }
                let _ = tx.send(ctx.retry_count());
                gate.acquire().await.expect("gate").forget();
                Ok(())
            }
        }
    };
    let config = fast_config().retry_delay(|_, _, _| Duration::ZERO);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    env.client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("r")])
        .await
        .expect("enqueue");
    assert_eq!(recv(&mut rx).await, 1);
    let info = insp.task_info("default", "r").await.expect("task_info");
    assert_eq!(info.state, redisq::TaskState::Active);
    assert_eq!(info.retried, 1);
    assert_eq!(info.progress, None, "progress of the failed attempt");
    gate.add_permits(1);
    server.shutdown().await;
}
