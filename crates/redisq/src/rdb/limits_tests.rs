//! The limit-aware scripts against a real Redis: the type parser, held tasks, the take-next
//! variant of done_many, and what a held-back call reports.

use std::time::{Duration, SystemTime};

use redisq_test_support::RedisServer;

use super::*;
use crate::core::throttle::{LimitTarget, RateLimit};
use crate::rdb::keys::Keys;
use crate::rdb::proto::{TaskMessage, encode_task_message};
use crate::rdb::{EnqueueRequest, Placement, RedisConn};

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

fn task(task_type: &str, id: &str) -> TaskMessage {
    TaskMessage {
        r#type: task_type.into(),
        payload: b"x".to_vec().into(),
        id: id.into(),
        queue: "q".into(),
        retry: 25,
        timeout: 1800,
        ..TaskMessage::default()
    }
}

async fn enqueue(rdb: &Rdb, msg: &TaskMessage) {
    rdb.enqueue(&EnqueueRequest {
        queue: msg.queue.clone(),
        id: msg.id.clone(),
        msg: encode_task_message(msg),
        placement: Placement::Pending {
            now_ns: crate::core::time::unix_nanos(SystemTime::now()),
        },
        unique: None,
    })
    .await
    .expect("enqueue");
}

async fn list(c: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(c)
        .await
        .expect("LRANGE")
}

/// Lease duration, seconds (the scripts add it to Redis's clock).
fn lease() -> i64 {
    30
}

fn ids(d: &[Dequeued]) -> Vec<&str> {
    d.iter().map(|d| d.id.as_str()).collect()
}

#[tokio::test]
async fn a_type_limit_holds_its_tasks_aside_and_done_many_releases_them() {
    let (_s, rdb, mut c) = setup().await;
    // A type name longer than 127 bytes: its length is a two-byte varint.
    let long = "t".repeat(200);
    for (ty, id) in [
        (&*long, "l1"),
        ("other", "o1"),
        (&*long, "l2"),
        ("other", "o2"),
    ] {
        enqueue(&rdb, &task(ty, id)).await;
    }
    let mut set = LimitSet::default();
    set.set_concurrency(LimitTarget::task_type(long.clone()), 1);
    let limits = QueueLimits::of(&set, "q", false).expect("limits apply");
    let (got, hold) = rdb
        .dequeue_limited("q", lease(), 10, &limits)
        .await
        .expect("dequeue");
    assert_eq!(ids(&got), ["l1", "o1", "o2"]);
    assert!(hold.concurrency && !hold.queue, "{hold:?}");
    let qk = rdb.keys.queue("q");
    assert_eq!(list(&mut c, &qk.held_of(&long)).await, ["l2"]);
    assert!(list(&mut c, &qk.pending()).await.is_empty());
    let state: String = redis::cmd("HGET")
        .arg(qk.task("l2"))
        .arg("state")
        .query_async(&mut c)
        .await
        .expect("HGET");
    assert_eq!(state, "pending", "a held task stays pending");
    // Finishing l1 frees the type's slot: the same done_many call takes l2 for the worker.
    let done = task(&long, "l1");
    let (results, taken) = rdb
        .done_many(
            &[&done],
            |_| 1,
            |_| Some(&limits),
            lease(),
            SystemTime::now(),
            None,
        )
        .await
        .expect("done_many");
    assert!(results[0].is_ok(), "{results:?}");
    assert_eq!(ids(&taken), ["l2"]);
    let held: bool = redis::cmd("EXISTS")
        .arg(qk.held())
        .query_async(&mut c)
        .await
        .expect("EXISTS");
    assert!(!held, "the held set is gone with its last task");
}

#[tokio::test]
async fn a_queue_rate_limit_reports_when_the_next_start_is_due() {
    let (_s, rdb, _c) = setup().await;
    for id in ["a", "b", "c"] {
        enqueue(&rdb, &task("x", id)).await;
    }
    let mut set = LimitSet::default();
    set.set_rate(
        LimitTarget::queue("q"),
        RateLimit::new(1, Duration::from_secs(10)),
    );
    let limits = QueueLimits::of(&set, "q", false).expect("limits apply");
    assert_eq!(QueueLimits::of(&set, "other", false), None);
    let (got, hold) = rdb
        .dequeue_limited("q", lease(), 3, &limits)
        .await
        .expect("dequeue");
    assert_eq!(ids(&got), ["a"]);
    assert!(hold.queue && !hold.concurrency, "{hold:?}");
    let wait = hold.wait_ms.expect("a wait");
    assert!(wait > 9_000 && wait <= 10_200, "{wait} ms");
    let (got, hold) = rdb
        .dequeue_limited("q", lease(), 3, &limits)
        .await
        .expect("dequeue");
    assert!(got.is_empty());
    assert!(hold.wait_ms.is_some_and(|w| w <= wait), "{hold:?}");
}
