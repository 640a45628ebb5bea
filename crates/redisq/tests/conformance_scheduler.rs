//! Replays asynq's recorded scheduler scenarios (`l1_scheduler_entry`,
//! `l2_scheduler_enqueue_history`) with redisq's Scheduler and compares the keyspace with the
//! recordings. redisq's fire claims (`asynq:scheduler_fire:…`, a redisq-only key that Go
//! never reads) are excluded from the comparison by prefix.

mod scheduler_support;

use std::time::UNIX_EPOCH;

use redisq::{Scheduler, SchedulerConfig, Task, TaskInfo, TaskOption};
use redisq_conformance::{
    ActualTaskInfo, CompareOptions, Scenario, Step, compare_dump, compare_task_info, dump,
    now_unix_ns,
};
use scheduler_support::{Env, recv, wait_until};
use tokio::sync::mpsc::unbounded_channel;

/// The redisq-only fire-claim keys.
const FIRE_CLAIMS: &str = "asynq:scheduler_fire:";

async fn check_dump(env: &Env, step: &Step, t0: i64) {
    let mut c = env.conn().await;
    let actual = dump(&mut c).await;
    let opts = CompareOptions::new().ignore_key_prefix(FIRE_CLAIMS);
    compare_dump(&step.expected_dump(), &actual, t0, &opts)
        .unwrap_or_else(|m| panic!("{}: {m}", step.name()));
}

fn nanos(t: Option<std::time::SystemTime>) -> Option<i64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
}

fn actual_info(info: &TaskInfo) -> serde_json::Value {
    ActualTaskInfo {
        id: info.id.clone(),
        queue: info.queue.clone(),
        task_type: info.task_type.clone(),
        payload: Some(info.payload.to_vec()),
        headers: (!info.headers.is_empty()).then(|| info.headers.clone()),
        state: info.state.to_string(),
        max_retry: i64::from(info.max_retry),
        retried: i64::from(info.retried),
        last_err: info.last_err.clone(),
        last_failed_at_unix_ns: nanos(info.last_failed_at),
        timeout_s: info.timeout.map(|d| d.as_secs() as i64).unwrap_or(0),
        deadline_unix_ns: nanos(info.deadline),
        group: info.group.clone().unwrap_or_default(),
        next_process_at_unix_ns: nanos(info.next_process_at),
        is_orphaned: info.is_orphaned,
        retention_s: info.retention.map(|d| d.as_secs() as i64).unwrap_or(0),
        completed_at_unix_ns: nanos(info.completed_at),
        result: info.result.as_ref().map(|r| r.to_vec()),
    }
    .to_json()
}

/// Default settings (heartbeat 10 s, UTC); the first heartbeat comes one interval after
/// start, as in asynq, then shutdown removes everything.
#[tokio::test]
async fn l1_scheduler_entry() {
    let sc = Scenario::load("l1_scheduler_entry");
    let env = Env::start();
    let sched = Scheduler::new(env.opt(), SchedulerConfig::new())
        .await
        .expect("scheduler");
    let t0 = now_unix_ns();
    sched
        .register(
            "@every 1h",
            Task::new("cleanup", "weekly"),
            [TaskOption::max_retry(2), TaskOption::queue("low")],
        )
        .expect("register");
    sched.start().await.expect("start");
    let key = format!("asynq:schedulers:{{{}}}", sched.id());
    // Nothing is written before the first beat.
    assert!(!env.exists("asynq:schedulers").await);
    wait_until("the first heartbeat", || async {
        env.exists(&key).await && env.exists("asynq:schedulers").await
    })
    .await;
    check_dump(&env, sc.step("after_first_heartbeat"), t0).await;
    sched.shutdown().await;
    check_dump(&env, sc.step("after_shutdown"), t0).await;
}

/// The first fire of `@every 1s` with a fixed task ID: the task, `asynq:queues` and one
/// history event; shutdown deletes the history and keeps the task.
#[tokio::test]
async fn l2_scheduler_enqueue_history() {
    let sc = Scenario::load("l2_scheduler_enqueue_history");
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let config = SchedulerConfig::new().post_enqueue(move |res| {
        let _ = tx.send(res.as_ref().map(actual_info).map_err(|e| e.to_string()));
    });
    let sched = Scheduler::new(env.opt(), config).await.expect("scheduler");
    let t0 = now_unix_ns();
    let id = sched
        .register(
            "@every 1s",
            Task::new("tick", "t"),
            [TaskOption::task_id("cron-task-1")],
        )
        .expect("register");
    sched.start().await.expect("start");
    let step = sc.step("after_first_fire");
    let info = recv(&mut rx, "the first fire")
        .await
        .expect("first enqueue succeeds");
    let recorded = step
        .api_results()
        .iter()
        .find(|r| r["call"].as_str() == Some("scheduler enqueue (PostEnqueueFunc)"))
        .expect("recorded PostEnqueueFunc");
    compare_task_info(&recorded["returned_task_info"], &info, t0, 2.0)
        .unwrap_or_else(|m| panic!("PostEnqueue TaskInfo: {m}"));
    // The event is recorded right after the hook.
    let history = format!("asynq:scheduler_history:{id}");
    wait_until("the history event", || async { env.exists(&history).await }).await;
    check_dump(&env, step, t0).await;
    sched.shutdown().await;
    check_dump(&env, sc.step("after_shutdown"), t0).await;
    // Later fires conflicted on the task ID and recorded nothing.
    while let Ok(later) = rx.try_recv() {
        assert_eq!(
            later.expect_err("later fires conflict"),
            "task ID conflicts with another task"
        );
    }
}
