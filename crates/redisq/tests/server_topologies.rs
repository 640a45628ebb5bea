//! Server tests on real Redis deployments other than a single server: a Redis Cluster with
//! queues in different slots, and Sentinel with a failover while the server runs.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redisq::{
    Client, RedisClusterClientOpt, RedisFailoverClientOpt, Server, Task, TaskContext, TaskOption,
};
use redisq_test_support::{RedisCluster, RedisSentinelGroup};
use tokio::sync::mpsc;

use common::{fast_config, recv, wait_until};

/// A handler that reports `queue/id` of every task it runs.
fn reporter(tx: mpsc::UnboundedSender<String>) -> impl redisq::Handler {
    move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(format!("{}/{}", ctx.queue(), ctx.task_id()));
            Ok(())
        }
    }
}

/// The address of the master serving each slot range, from `CLUSTER SLOTS`.
async fn slot_owner(conn: &mut ClusterConnection, slot: i64) -> String {
    let ranges: Vec<redis::Value> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(conn)
        .await
        .expect("CLUSTER SLOTS");
    for r in ranges {
        let redis::Value::Array(parts) = r else {
            continue;
        };
        let (Some(start), Some(end), Some(master)) = (parts.first(), parts.get(1), parts.get(2))
        else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            redis::from_redis_value::<i64>(start.clone()),
            redis::from_redis_value::<i64>(end.clone()),
        ) else {
            continue;
        };
        if (start..=end).contains(&slot) {
            let redis::Value::Array(m) = master else {
                continue;
            };
            let host: String = m
                .first()
                .and_then(|v| redis::from_redis_value(v.clone()).ok())
                .unwrap_or_default();
            let port: i64 = m
                .get(1)
                .and_then(|v| redis::from_redis_value(v.clone()).ok())
                .unwrap_or_default();
            return format!("{host}:{port}");
        }
    }
    panic!("no master serves slot {slot}");
}

#[tokio::test]
async fn cluster_server_processes_queues_in_different_slots() {
    let cluster = RedisCluster::start();
    let mut conn = cluster.connection().await;
    let queues = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"];
    let mut slots = BTreeSet::new();
    let mut owners = BTreeSet::new();
    for q in queues {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(format!("asynq:{{{q}}}:pending"))
            .query_async(&mut conn)
            .await
            .expect("CLUSTER KEYSLOT");
        slots.insert(slot);
        owners.insert(slot_owner(&mut conn, slot).await);
    }
    assert_eq!(slots.len(), queues.len(), "every queue has its own slot");
    assert!(
        owners.len() >= 2,
        "the queues live on one node only: {owners:?}"
    );

    let opt = RedisClusterClientOpt::new(cluster.addrs());
    let client = Client::connect(opt.clone()).await.expect("cluster client");
    let mut expected = BTreeSet::new();
    for q in queues {
        for i in 0..5 {
            let id = format!("{q}-{i}");
            client
                .enqueue_with(
                    &Task::new("work", "x"),
                    [TaskOption::queue(q), TaskOption::task_id(&id)],
                )
                .await
                .expect("enqueue");
            expected.insert(format!("{q}/{id}"));
        }
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = fast_config().queues(queues.map(|q| (q, 1)));
    let server = Server::new(opt, config).await.expect("server");
    server.start(reporter(tx)).await.expect("start");
    let mut seen = BTreeSet::new();
    while seen.len() < expected.len() {
        let got = recv(&mut rx).await;
        assert!(expected.contains(&got), "unexpected task {got}");
        seen.insert(got);
    }
    wait_until("every queue counted its tasks", || async {
        let mut all = true;
        for q in queues {
            let n: Option<i64> = redis::cmd("GET")
                .arg(format!("asynq:{{{q}}}:processed"))
                .query_async(&mut conn.clone())
                .await
                .expect("GET");
            all &= n == Some(5);
        }
        all
    })
    .await;
    server.shutdown().await;
    for q in queues {
        let left: i64 = redis::cmd("EXISTS")
            .arg(format!("asynq:{{{q}}}:t:{q}-0"))
            .query_async(&mut conn)
            .await
            .expect("EXISTS");
        assert_eq!(left, 0, "task hashes of {q} are deleted");
    }
}

/// Enqueues, retrying while the client finds the new master after a failover.
async fn enqueue_retrying(client: &Client, id: &str) {
    let task = Task::new("work", "x");
    let mut tries = 0;
    loop {
        match client.enqueue_with(&task, [TaskOption::task_id(id)]).await {
            Ok(_) => return,
            // Retried after a failure that did write: the task is there.
            Err(e) if e.is_task_id_conflict() => return,
            Err(e) => {
                tries += 1;
                assert!(tries < 300, "enqueue kept failing: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test]
async fn sentinel_server_keeps_processing_after_failover() {
    let group = RedisSentinelGroup::start();
    let opt = RedisFailoverClientOpt::new(group.master_name(), group.sentinel_addrs());
    let client = Client::connect(opt.clone()).await.expect("sentinel client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = Server::new(opt, fast_config()).await.expect("server");
    server.start(reporter(tx)).await.expect("start");

    let mut seen = BTreeSet::new();
    for i in 0..5 {
        enqueue_retrying(&client, &format!("before-{i}")).await;
    }
    while seen.len() < 5 {
        seen.insert(recv(&mut rx).await);
    }
    // Let the completions reach the replica, so the failover loses none of them.
    let m = group.master_connection().await;
    wait_until("the first tasks are done", || async {
        let n: Option<i64> = redis::cmd("GET")
            .arg("asynq:{default}:processed")
            .query_async(&mut m.clone())
            .await
            .expect("GET");
        n == Some(5)
    })
    .await;
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query_async(&mut m.clone())
        .await
        .expect("WAIT");
    assert_eq!(acked, 1, "the replica caught up");
    let old_master = group.master_addr();
    group.failover().await;
    assert_ne!(group.master_addr(), old_master);

    for i in 0..5 {
        enqueue_retrying(&client, &format!("after-{i}")).await;
    }
    while seen.len() < 10 {
        seen.insert(recv(&mut rx).await);
    }
    let expected: BTreeSet<String> = (0..5)
        .flat_map(|i| [format!("default/before-{i}"), format!("default/after-{i}")])
        .collect();
    assert_eq!(seen, expected);
    // The tasks went through the new master.
    let mut m = group.master_connection().await;
    wait_until("the new master counted the tasks", || async {
        let n: Option<i64> = redis::cmd("GET")
            .arg("asynq:{default}:processed")
            .query_async(&mut m.clone())
            .await
            .expect("GET");
        n == Some(10)
    })
    .await;
    server.shutdown().await;
    let active: i64 = redis::cmd("LLEN")
        .arg("asynq:{default}:active")
        .query_async(&mut m)
        .await
        .expect("LLEN");
    assert_eq!(active, 0);
}
