//! The Inspector's archive actions trim by the limits it is given (decision D2).

mod common;

use std::time::Duration;

use redis::AsyncCommands;
use redisq::{Inspector, Task, TaskOption};

use common::Env;

#[tokio::test]
async fn archive_actions_use_the_configured_limits() {
    let env = Env::start().await;
    for i in 0..5 {
        env.client
            .enqueue_with(&Task::new("t", ""), [TaskOption::task_id(format!("t{i}"))])
            .await
            .expect("enqueue");
    }
    let inspector = Inspector::connect(env.opt())
        .await
        .expect("inspector")
        .with_archive_limits(3, Duration::from_secs(3600));
    assert_eq!(
        inspector
            .archive_all_pending_tasks("default")
            .await
            .expect("archive"),
        5
    );
    let mut c = env.conn().await;
    let archived: usize = c.zcard("asynq:{default}:archived").await.expect("zcard");
    assert_eq!(archived, 3, "trimmed to the configured size");
    let hashes: Vec<String> = redis::cmd("KEYS")
        .arg("asynq:{default}:t:*")
        .query_async(&mut c)
        .await
        .expect("keys");
    assert_eq!(
        hashes.len(),
        3,
        "trimmed tasks' hashes are deleted: {hashes:?}"
    );

    // With the default limits nothing is trimmed.
    for i in 5..10 {
        env.client
            .enqueue_with(&Task::new("t", ""), [TaskOption::task_id(format!("t{i}"))])
            .await
            .expect("enqueue");
    }
    let default = Inspector::connect(env.opt()).await.expect("inspector");
    assert_eq!(
        default
            .archive_all_pending_tasks("default")
            .await
            .expect("archive"),
        5
    );
    let archived: usize = c.zcard("asynq:{default}:archived").await.expect("zcard");
    assert_eq!(archived, 8);
}
