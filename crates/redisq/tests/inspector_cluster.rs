//! The Inspector on a 3-master Redis Cluster, with queues on different slots and masters: a
//! representative set of operations, checked against what is in Redis.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redis::cluster_async::ClusterConnection;
use redisq::{
    Client, Config, Inspector, ListOptions, RedisClusterClientOpt, Server, Task, TaskContext,
    TaskOption, TaskState,
};
use redisq_test_support::RedisCluster;
use tokio::sync::Semaphore;

const HOUR: Duration = Duration::from_secs(3600);

async fn exists(c: &mut ClusterConnection, key: &str) -> bool {
    c.exists(key).await.expect("EXISTS")
}

async fn keys_in_slot(c: &mut ClusterConnection, slot: i64) -> i64 {
    redis::cmd("CLUSTER")
        .arg("COUNTKEYSINSLOT")
        .arg(slot)
        .query_async(c)
        .await
        .expect("COUNTKEYSINSLOT")
}

fn tkey(queue: &str, id: &str) -> String {
    format!("asynq:{{{queue}}}:t:{id}")
}

fn qkey(queue: &str, suffix: &str) -> String {
    format!("asynq:{{{queue}}}:{suffix}")
}

#[tokio::test]
async fn inspector_on_a_cluster() {
    let cluster = RedisCluster::start();
    let opt = RedisClusterClientOpt::new(cluster.addrs());
    let client = Client::connect(opt.clone()).await.expect("client");
    let insp = Inspector::connect(opt.clone()).await.expect("inspector");
    let mut c = cluster.connection().await;

    // Three queues served by three different masters.
    let mut queues: Vec<String> = Vec::new();
    let mut masters = BTreeSet::new();
    for candidate in [
        "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
    ] {
        let slot = insp.cluster_key_slot(candidate).await.expect("slot");
        let expected: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(qkey(candidate, "pending"))
            .query_async(&mut c)
            .await
            .expect("KEYSLOT");
        assert_eq!(slot, expected);
        let nodes = insp.cluster_nodes(candidate).await.expect("nodes");
        assert!(!nodes.is_empty());
        assert!(
            cluster.addrs().contains(&nodes[0].addr),
            "{nodes:?} vs {:?}",
            cluster.addrs()
        );
        assert_eq!(nodes[0].id.len(), 40, "a node ID: {nodes:?}");
        if masters.insert(nodes[0].addr.clone()) {
            queues.push(candidate.to_string());
        }
        if queues.len() == 3 {
            break;
        }
    }
    assert_eq!(queues.len(), 3, "queues on three masters");

    for q in &queues {
        let on = |id: &str| {
            [
                TaskOption::queue(q.as_str()),
                TaskOption::task_id(format!("{q}-{id}")),
            ]
        };
        for id in ["p1", "p2"] {
            client
                .enqueue_with(&Task::new("echo", id), on(id))
                .await
                .expect("pending");
        }
        client
            .enqueue_with(
                &Task::new("echo", "u"),
                on("u").into_iter().chain([TaskOption::unique(HOUR)]),
            )
            .await
            .expect("unique");
        for id in ["s1", "s2"] {
            client
                .enqueue_with(
                    &Task::new("echo", id),
                    on(id).into_iter().chain([TaskOption::process_in(HOUR)]),
                )
                .await
                .expect("scheduled");
        }
        client
            .enqueue_with(
                &Task::new("digest", "g"),
                on("g").into_iter().chain([TaskOption::group("g1")]),
            )
            .await
            .expect("grouped");
    }

    let listed = insp.queues().await.expect("queues");
    let mut sorted = queues.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    let opts = ListOptions::new();
    for q in &queues {
        let q = q.as_str();
        let info = insp.queue_info(q).await.expect("info");
        assert_eq!(
            (
                info.pending,
                info.scheduled,
                info.aggregating,
                info.groups,
                info.size
            ),
            (3, 2, 1, 1, 6)
        );
        assert!(info.memory_usage.is_some_and(|m| m > 0));
        let groups = insp.groups(q).await.expect("groups");
        assert_eq!((groups[0].group.as_str(), groups[0].size), ("g1", 1));
        let pending = insp.list_pending_tasks(q, opts).await.expect("pending");
        let ids: Vec<&str> = pending.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(
            ids,
            [format!("{q}-p1"), format!("{q}-p2"), format!("{q}-u")]
        );
        let info = insp.task_info(q, &format!("{q}-s1")).await.expect("task");
        assert_eq!(info.state, TaskState::Scheduled);

        // Single-task actions.
        insp.run_task(q, &format!("{q}-s1")).await.expect("run");
        assert_eq!(
            insp.task_info(q, &format!("{q}-s1"))
                .await
                .expect("t")
                .state,
            TaskState::Pending
        );
        insp.archive_task(q, &format!("{q}-p1"))
            .await
            .expect("archive");
        insp.archive_task(q, &format!("{q}-g"))
            .await
            .expect("archive grouped");
        assert!(!exists(&mut c, &qkey(q, "groups")).await);
        let lock: String = c
            .hget(tkey(q, &format!("{q}-u")), "unique_key")
            .await
            .expect("lock");
        assert!(exists(&mut c, &lock).await);
        insp.delete_task(q, &format!("{q}-u"))
            .await
            .expect("delete");
        assert!(!exists(&mut c, &lock).await, "the lock is released");
        insp.update_task_payload(q, &format!("{q}-s2"), b"new")
            .await
            .expect("update");
        assert_eq!(
            &insp
                .task_info(q, &format!("{q}-s2"))
                .await
                .expect("t")
                .payload[..],
            b"new"
        );
        let err = insp
            .run_task(q, &format!("{q}-p2"))
            .await
            .expect_err("pending");
        assert!(err.is_failed_precondition());

        // Bulk actions.
        assert_eq!(insp.archive_all_scheduled_tasks(q).await.expect("as"), 1);
        assert_eq!(insp.run_all_archived_tasks(q).await.expect("ra"), 3);
        assert_eq!(insp.archive_all_pending_tasks(q).await.expect("ap"), 5);
        assert_eq!(insp.delete_all_archived_tasks(q).await.expect("da"), 5);
        let info = insp.queue_info(q).await.expect("info");
        assert_eq!(info.size, 0);

        insp.pause_queue(q).await.expect("pause");
        assert!(insp.queue_info(q).await.expect("info").paused);
        insp.unpause_queue(q).await.expect("unpause");
        assert_eq!(insp.history(q, 2).await.expect("history").len(), 2);
    }

    // A large queue deleted in batches, with a stray key only the slot sweep finds.
    let big = queues[0].clone();
    let tasks: Vec<Task> = (0..1500)
        .map(|i| Task::new("bulk", format!("{i}")).with_option(TaskOption::queue(big.as_str())))
        .collect();
    assert!(
        client
            .enqueue_batch(&tasks, [])
            .await
            .iter()
            .all(|r| r.is_ok())
    );
    assert_eq!(
        insp.archive_all_pending_tasks(&big).await.expect("ap"),
        1500
    );
    let _: () = c.set(qkey(&big, "t:leaked"), "x").await.expect("stray key");
    let slot = insp.cluster_key_slot(&big).await.expect("slot");
    assert!(keys_in_slot(&mut c, slot).await > 1500);
    insp.delete_queue(&big, true).await.expect("delete queue");
    assert_eq!(
        keys_in_slot(&mut c, slot).await,
        0,
        "D8: nothing of the queue is left"
    );
    assert!(!insp.queues().await.expect("queues").contains(&big));
    assert!(
        insp.queue_info(&big)
            .await
            .expect_err("gone")
            .is_queue_not_found()
    );

    // Servers and their workers, across slots.
    let other = queues[1].clone();
    client
        .enqueue_with(
            &Task::new("block", "x"),
            [
                TaskOption::queue(other.as_str()),
                TaskOption::task_id("busy"),
            ],
        )
        .await
        .expect("enqueue");
    let release = Arc::new(Semaphore::new(0));
    let gate = release.clone();
    let server = Server::new(
        opt.clone(),
        Config::new()
            .concurrency(2)
            .queues([(other.as_str(), 1)])
            .task_check_interval(Duration::from_millis(50))
            .heartbeat_interval(Duration::from_millis(300)),
    )
    .await
    .expect("server");
    server
        .start(move |_ctx: TaskContext, _t: Task| {
            let gate = gate.clone();
            async move {
                let _p = gate.acquire().await.expect("gate");
                Ok(())
            }
        })
        .await
        .expect("start");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let servers = insp.servers().await.expect("servers");
        if servers
            .iter()
            .any(|s| s.id == server.id() && s.active_workers.iter().any(|w| w.task_id == "busy"))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no worker: {servers:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let active = insp
        .list_active_tasks(&other, ListOptions::new())
        .await
        .expect("active");
    assert_eq!(active.len(), 1);
    assert!(!active[0].is_orphaned);
    let err = insp.delete_queue(&other, true).await.expect_err("active");
    assert!(err.is_failed_precondition());
    release.add_permits(1);
    server.shutdown().await;
    assert!(insp.scheduler_entries().await.expect("entries").is_empty());
}
