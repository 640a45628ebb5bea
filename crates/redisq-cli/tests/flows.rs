//! `redisq task ls --state waiting` and `redisq task delete` on flows, against a real Redis.

mod common;

use redisq::{Client, Flow, Inspector, Task, TaskOption, parse_redis_uri};
use redisq_test_support::RedisServer;

use common::{Cli, ids};

fn member(queue: &str, id: &str) -> Task {
    Task::new("step", id.to_string())
        .with_option(TaskOption::queue(queue))
        .with_option(TaskOption::task_id(id))
}

#[tokio::test]
async fn waiting_tasks_are_listed_with_their_reason_and_deleted_with_their_flow() {
    let redis = RedisServer::start();
    let url = redis.url();
    let opt = parse_redis_uri(&url).expect("url");
    let client = Client::connect(opt.clone()).await.expect("client");
    let inspector = Inspector::connect(opt).await.expect("inspector");
    client
        .enqueue_flow(
            &Flow::new(member("q", "parent"))
                .child(member("q", "a"))
                .child(member("q", "b")),
        )
        .await
        .expect("flow");
    let cli = Cli::url(&url);

    let listed = cli
        .run(&["task", "ls", "-q", "q", "-s", "waiting", "--json"])
        .await
        .ok()
        .json();
    assert_eq!(ids(&listed), ["parent"]);
    assert_eq!(listed[0]["state"], "waiting");
    assert_eq!(listed[0]["children"], 2);
    assert_eq!(listed[0]["children_left"], 2);
    assert_eq!(listed[0]["reason"], "waiting for 2 of 2 children");
    assert_eq!(
        listed[0]["unfinished_children"],
        serde_json::json!([{"queue": "q", "id": "a"}, {"queue": "q", "id": "b"}])
    );
    cli.run(&["task", "ls", "-q", "q", "-s", "waiting"])
        .await
        .ok()
        .has(&["parent", "Reason", "waiting for 2 of 2 children: q/a, q/b"]);
    cli.run(&["task", "inspect", "-q", "q", "-i", "parent"])
        .await
        .ok()
        .has(&["waiting"]);

    cli.run(&["task", "delete", "-q", "q", "-i", "parent"])
        .await
        .ok();
    for id in ["parent", "a", "b"] {
        assert!(
            inspector
                .task_info("q", id)
                .await
                .expect_err(id)
                .is_not_found(),
            "{id} is deleted with the flow"
        );
    }
    cli.run(&["task", "ls", "-q", "q", "-s", "waiting"])
        .await
        .ok()
        .has(&["no waiting tasks in queue \"q\""]);
}
