//! Flow scripts against a real Redis, driven through the data layer so that a crash between a
//! member's completion and its delivery can be reproduced exactly: the completion script runs,
//! the delivery does not.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use redisq_test_support::RedisServer;

use super::*;
use crate::rdb::RedisConn;
use crate::rdb::keys::Keys;
use crate::rdb::proto::decode_task_message;
use crate::{Config, Flow, Server, Task, TaskContext, TaskOption};

async fn setup() -> (RedisServer, Rdb, redis::aio::MultiplexedConnection) {
    let server = RedisServer::start();
    let opt = crate::parse_redis_uri(&server.url()).expect("uri");
    let rdb = Rdb::new(
        RedisConn::connect(&opt).await.expect("connect"),
        Keys::default(),
    );
    let c = server.connection().await;
    (server, rdb, c)
}

fn member(task_type: &str, queue: &str, id: &str) -> Task {
    Task::new(task_type, id.to_string())
        .with_option(TaskOption::queue(queue))
        .with_option(TaskOption::task_id(id))
}

async fn hget(c: &mut redis::aio::MultiplexedConnection, key: &str, field: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query_async(c)
        .await
        .expect("HGET")
}

async fn llen(c: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    redis::cmd("LLEN")
        .arg(key)
        .query_async(c)
        .await
        .expect("LLEN")
}

/// Takes the next task of `queue` and writes `result` for it, as a handler would.
async fn run_child(rdb: &Rdb, queue: &str, result: &[u8]) -> TaskMessage {
    let lease = 600;
    let d = rdb
        .dequeue(queue, lease)
        .await
        .expect("dequeue")
        .expect("a pending child");
    let msg = decode_task_message(&d.msg).expect("decode");
    rdb.write_result(queue, &msg.id, result)
        .await
        .expect("write result");
    msg
}

fn event_bytes(v: Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b,
        other => panic!("expected an event, got {other:?}"),
    }
}

#[tokio::test]
async fn an_outcome_left_by_a_crash_is_delivered_by_the_sweep_and_the_parent_runs_once() {
    let (redis, rdb, mut c) = setup().await;
    let flow = Flow::new(member("merge", "parents", "parent"))
        .child(member("part", "kids", "k1"))
        .child(member("part", "kids", "k2"));
    let plan = crate::core::flow::plan(&flow, SystemTime::now()).expect("plan");
    rdb.create_flow(&plan).await.expect("create");
    let keys = Keys::default();
    let (pq, kq) = (keys.queue("parents"), keys.queue("kids"));
    assert_eq!(
        hget(&mut c, &pq.task("parent"), "state").await.as_deref(),
        Some("waiting")
    );
    assert_eq!(llen(&mut c, &pq.pending()).await, 0);

    // k1 completes and its outcome is delivered; delivering the same event again (a sweep
    // racing the server) changes nothing.
    let k1 = run_child(&rdb, "kids", b"r1").await;
    let ev1 = event_bytes(
        rdb.record_flow_done(&k1, SystemTime::now())
            .await
            .expect("done"),
    );
    rdb.deliver_flow_event("kids", ev1.clone())
        .await
        .expect("deliver");
    rdb.deliver_flow_event("kids", ev1).await.expect("again");
    assert_eq!(
        hget(&mut c, &pq.flow("parent"), "left").await.as_deref(),
        Some("1")
    );
    assert_eq!(llen(&mut c, &kq.flow_events()).await, 0);

    // k2 completes, and the server dies before delivering: the outcome waits in the outbox and
    // the parent stays out of every queue.
    let k2 = run_child(&rdb, "kids", b"r2").await;
    let ev2 = event_bytes(
        rdb.record_flow_done(&k2, SystemTime::now())
            .await
            .expect("done"),
    );
    assert_eq!(llen(&mut c, &kq.flow_events()).await, 1);
    assert_eq!(
        hget(&mut c, &pq.task("parent"), "state").await.as_deref(),
        Some("waiting")
    );
    assert_eq!(llen(&mut c, &pq.pending()).await, 0);
    assert!(
        hget(&mut c, &kq.task("k2"), "state").await.is_none(),
        "the child itself is done"
    );

    // Any server processing the children's queue sweeps the outbox; the parent runs once and
    // sees both results.
    let runs = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let handler = {
        let runs = runs.clone();
        move |ctx: TaskContext, task: Task| {
            let (runs, tx) = (runs.clone(), tx.clone());
            async move {
                assert_eq!(task.task_type(), "merge");
                runs.fetch_add(1, Ordering::SeqCst);
                let _ = tx.send(ctx.child_results().to_vec());
                Ok(())
            }
        }
    };
    let config = Config::new()
        .queues([("kids", 1), ("parents", 1)])
        .janitor_interval(Duration::from_millis(100))
        .task_check_interval(Duration::from_millis(50));
    let server = Server::new(crate::parse_redis_uri(&redis.url()).expect("uri"), config)
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    let results = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("the parent ran")
        .expect("results");
    let seen: Vec<(&str, Option<&[u8]>)> = results
        .iter()
        .map(|r| (r.id.as_str(), r.result.as_deref()))
        .collect();
    assert_eq!(seen, [("k1", Some(&b"r1"[..])), ("k2", Some(&b"r2"[..]))]);
    // A late redelivery of the same outcome finds no flow and changes nothing.
    rdb.deliver_flow_event("kids", ev2).await.expect("late");
    server.shutdown().await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "the parent ran once");
    assert_eq!(llen(&mut c, &pq.pending()).await, 0);
    assert_eq!(llen(&mut c, &kq.flow_events()).await, 0);
    let left: i64 = redis::cmd("EXISTS")
        .arg(pq.flow("parent"))
        .arg(pq.task("parent"))
        .arg(pq.waiting())
        .query_async(&mut c)
        .await
        .expect("EXISTS");
    assert_eq!(left, 0, "the flow, the parent and the waiting set are gone");
}

#[tokio::test]
async fn a_flow_that_cannot_be_written_whole_is_removed_again() {
    let (_redis, rdb, mut c) = setup().await;
    // A task with the ID of the second child already exists in its queue.
    let existing = crate::core::message::build(&member("x", "kids", "k2"), &[], SystemTime::now())
        .expect("build");
    rdb.enqueue_new(&existing).await.expect("enqueue");
    let flow = Flow::new(member("merge", "parents", "parent"))
        .child(member("part", "kids", "k1"))
        .child(member("part", "kids", "k2"));
    let plan = crate::core::flow::plan(&flow, SystemTime::now()).expect("plan");
    let err = rdb.create_flow(&plan).await.expect_err("conflict");
    assert!(err.is_task_id_conflict(), "{err}");
    let keys = Keys::default();
    let (pq, kq) = (keys.queue("parents"), keys.queue("kids"));
    let left: i64 = redis::cmd("EXISTS")
        .arg(pq.flow("parent"))
        .arg(pq.task("parent"))
        .arg(pq.waiting())
        .arg(kq.task("k1"))
        .query_async(&mut c)
        .await
        .expect("EXISTS");
    assert_eq!(left, 0, "nothing of the flow is left");
    assert_eq!(
        hget(&mut c, &kq.task("k2"), "state").await.as_deref(),
        Some("pending"),
        "the task that was there is untouched"
    );
}
