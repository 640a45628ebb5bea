//! Tests of the processing-side writes against a real Redis: exact keys, members, scores,
//! fields, counters and TTLs before and after each operation.
//!
//! Longer than our usual limit on purpose: one test per script of `process.rs`, all built on
//! the same fixtures and clock, reads best as one list next to the code it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

use redis::aio::ConnectionLike;
use redisq_test_support::{RedisCluster, RedisServer};

use super::*;
use crate::core::time::from_unix_secs;
use crate::rdb::keys::Keys;
use crate::rdb::proto::decode_task_message;
use crate::rdb::{EnqueueRequest, Placement, RedisConn};

/// 2026-11-28T12:00:00Z.
const NOW: i64 = 1_795_867_200;
const DATE: &str = "2026-11-28";
const DAY: i64 = 24 * 3600;
const STATS_EXPIRY: i64 = NOW + 90 * DAY;
const MAX: &str = "9223372036854775807";

fn now() -> SystemTime {
    from_unix_secs(NOW)
}

fn now_ns() -> i64 {
    NOW * 1_000_000_000
}

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

fn task(queue: &str, id: &str) -> TaskMessage {
    TaskMessage {
        r#type: "email:send".into(),
        payload: b"{\"to\":\"a@b.c\"}".to_vec().into(),
        id: id.into(),
        queue: queue.into(),
        retry: 25,
        timeout: 1800,
        ..TaskMessage::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Raw Redis helpers

async fn cmd<T: redis::FromRedisValue>(c: &mut impl ConnectionLike, args: &[&[u8]]) -> T {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).expect("utf-8 command"));
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(c)
        .await
        .unwrap_or_else(|e| panic!("{:?} failed: {e}", String::from_utf8_lossy(args[0])))
}

macro_rules! r {
    ($c:expr, $($a:expr),+ $(,)?) => {
        cmd($c, &[$(AsRef::<[u8]>::as_ref(&$a)),+]).await
    };
}

async fn all_keys(c: &mut impl ConnectionLike) -> BTreeSet<String> {
    r!(c, "KEYS", "*")
}

fn key_set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

async fn list(c: &mut impl ConnectionLike, key: &str) -> Vec<String> {
    r!(c, "LRANGE", key, "0", "-1")
}

async fn zset(c: &mut impl ConnectionLike, key: &str) -> Vec<(String, i64)> {
    let flat: Vec<(String, f64)> = r!(c, "ZRANGE", key, "0", "-1", "WITHSCORES");
    flat.into_iter().map(|(m, s)| (m, s as i64)).collect()
}

/// Redis's clock, unix seconds: lease scripts read it with `TIME`.
async fn redis_secs(c: &mut impl ConnectionLike) -> i64 {
    let (s, _us): (i64, i64) = r!(c, "TIME");
    s
}

/// The lease scores of `key`, each checked to lie `secs` after Redis's clock read in
/// `before..=after`, and replaced by `secs` (so tests can compare them exactly).
fn leases_relative(
    z: Vec<(String, i64)>,
    secs: &[i64],
    before: i64,
    after: i64,
) -> Vec<(String, i64)> {
    z.into_iter()
        .zip(secs)
        .map(|((id, score), &s)| {
            assert!(
                (before + s..=after + s).contains(&score),
                "lease of {id} is {score}, expected Redis TIME ({before}..={after}) + {s}"
            );
            (id, s)
        })
        .collect()
}

async fn hash(c: &mut impl ConnectionLike, key: &str) -> BTreeMap<String, Vec<u8>> {
    r!(c, "HGETALL", key)
}

async fn get(c: &mut impl ConnectionLike, key: &str) -> Option<String> {
    r!(c, "GET", key)
}

async fn expiretime(c: &mut impl ConnectionLike, key: &str) -> i64 {
    r!(c, "EXPIRETIME", key)
}

fn fields(h: &BTreeMap<String, Vec<u8>>) -> BTreeSet<&str> {
    h.keys().map(String::as_str).collect()
}

fn msg_of(h: &BTreeMap<String, Vec<u8>>) -> TaskMessage {
    decode_task_message(&h["msg"]).expect("decodable msg")
}

/// Writes an active task directly: hash, active list, and a lease unless `lease` is None.
async fn seed_active(c: &mut impl ConnectionLike, msg: &TaskMessage, lease: Option<i64>) {
    let qk = Keys::default().queue(&msg.queue);
    let encoded = encode_task_message(msg);
    let _: () = r!(
        c,
        "HSET",
        qk.task(&msg.id),
        "msg",
        encoded,
        "state",
        "active"
    );
    let _: () = r!(c, "LPUSH", qk.active(), msg.id);
    if let Some(l) = lease {
        let _: () = r!(c, "ZADD", qk.lease(), l.to_string(), msg.id);
    }
}

async fn enqueue_pending(rdb: &Rdb, msg: &TaskMessage, unique: Option<(String, u64)>) {
    rdb.enqueue(&EnqueueRequest {
        queue: msg.queue.clone(),
        id: msg.id.clone(),
        msg: encode_task_message(msg),
        placement: Placement::Pending { now_ns: now_ns() },
        unique,
    })
    .await
    .expect("enqueue");
}

async fn enqueue_scheduled(rdb: &Rdb, msg: &TaskMessage, at: i64, group: Option<&str>) {
    rdb.enqueue(&EnqueueRequest {
        queue: msg.queue.clone(),
        id: msg.id.clone(),
        msg: encode_task_message(msg),
        placement: Placement::Scheduled {
            at_secs: at,
            group: group.map(str::to_string),
        },
        unique: None,
    })
    .await
    .expect("schedule");
}

// ---------------------------------------------------------------------------------------------
// dequeue

#[tokio::test]
async fn dequeue_moves_the_oldest_pending_task_and_leases_it() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let (t1, t2) = (task("default", "t1"), task("default", "t2"));
    enqueue_pending(&rdb, &t1, None).await;
    enqueue_pending(&rdb, &t2, None).await;
    assert_eq!(list(&mut c, &qk.pending()).await, ["t2", "t1"]);

    let before = redis_secs(&mut c).await;
    let d = rdb.dequeue("default", 30).await.unwrap().unwrap();
    let after = redis_secs(&mut c).await;
    assert_eq!(
        d,
        Dequeued {
            queue: "default".into(),
            id: "t1".into(),
            msg: encode_task_message(&t1).into(),
        }
    );
    assert_eq!(list(&mut c, &qk.pending()).await, ["t2"]);
    assert_eq!(list(&mut c, &qk.active()).await, ["t1"]);
    assert_eq!(
        leases_relative(zset(&mut c, &qk.lease()).await, &[30], before, after),
        [("t1".into(), 30)]
    );
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(fields(&h), BTreeSet::from(["msg", "state"]));
    assert_eq!(h["state"], b"active");
    // The other task is untouched.
    let h2 = hash(&mut c, &qk.task("t2")).await;
    assert_eq!(h2["state"], b"pending");
    assert_eq!(h2["pending_since"], now_ns().to_string().as_bytes());

    let d = rdb.dequeue("default", 300).await.unwrap().unwrap();
    let after = redis_secs(&mut c).await;
    assert_eq!(d.id, "t2");
    assert_eq!(list(&mut c, &qk.active()).await, ["t2", "t1"]);
    assert_eq!(
        leases_relative(zset(&mut c, &qk.lease()).await, &[30, 300], before, after),
        [("t1".into(), 30), ("t2".into(), 300)]
    );
    assert_eq!(rdb.dequeue("default", 30).await.unwrap(), None);
    assert_eq!(rdb.dequeue("empty", 30).await.unwrap(), None);
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:queues",
            "asynq:{default}:active",
            "asynq:{default}:lease",
            // No server took the wake-up marker the first enqueue pushed.
            "asynq:{default}:redisq:wake",
            "asynq:{default}:t:t1",
            "asynq:{default}:t:t2",
        ])
    );
}

#[tokio::test]
async fn dequeue_skips_a_paused_queue() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    enqueue_pending(&rdb, &task("default", "t1"), None).await;
    let _: () = r!(&mut c, "SET", qk.paused(), NOW.to_string());
    assert_eq!(rdb.dequeue("default", 30).await.unwrap(), None);
    assert_eq!(list(&mut c, &qk.pending()).await, ["t1"]);
    assert_eq!(list(&mut c, &qk.active()).await, Vec::<String>::new());
    assert_eq!(zset(&mut c, &qk.lease()).await, []);
    let _: () = r!(&mut c, "DEL", qk.paused());
    assert_eq!(rdb.dequeue("default", 30).await.unwrap().unwrap().id, "t1");
}

#[tokio::test]
async fn dequeue_drops_pending_ids_without_a_task() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let _: () = r!(&mut c, "LPUSH", qk.pending(), "ghost");
    enqueue_pending(&rdb, &task("default", "t1"), None).await;
    let before = redis_secs(&mut c).await;
    let d = rdb.dequeue("default", 30).await.unwrap().unwrap();
    let after = redis_secs(&mut c).await;
    assert_eq!(d.id, "t1");
    assert_eq!(list(&mut c, &qk.pending()).await, Vec::<String>::new());
    assert_eq!(list(&mut c, &qk.active()).await, ["t1"]);
    assert_eq!(
        leases_relative(zset(&mut c, &qk.lease()).await, &[30], before, after),
        [("t1".into(), 30)]
    );
    assert!(!all_keys(&mut c).await.contains(&qk.task("ghost")));
}

// ---------------------------------------------------------------------------------------------
// done / mark_complete

#[tokio::test]
async fn done_deletes_the_task_and_counts_it() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let (t1, t2) = (task("default", "t1"), task("default", "t2"));
    seed_active(&mut c, &t1, Some(NOW + 30)).await;
    // Decision D5: a task without a lease entry completes too.
    seed_active(&mut c, &t2, None).await;

    rdb.done(&t1, now()).await.unwrap();
    assert_eq!(list(&mut c, &qk.active()).await, ["t2"]);
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:{default}:active",
            "asynq:{default}:t:t2",
            "asynq:{default}:processed:2026-11-28",
            "asynq:{default}:processed",
        ])
    );
    assert_eq!(get(&mut c, &qk.processed_on(DATE)).await.unwrap(), "1");
    assert_eq!(
        expiretime(&mut c, &qk.processed_on(DATE)).await,
        STATS_EXPIRY
    );
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
    assert_eq!(expiretime(&mut c, &qk.processed_total()).await, -1);

    // The second increment of the day keeps the first expiry.
    rdb.done(&t2, from_unix_secs(NOW + 100)).await.unwrap();
    assert_eq!(get(&mut c, &qk.processed_on(DATE)).await.unwrap(), "2");
    assert_eq!(
        expiretime(&mut c, &qk.processed_on(DATE)).await,
        STATS_EXPIRY
    );
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "2");
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:{default}:processed:2026-11-28",
            "asynq:{default}:processed",
        ])
    );

    // Not active any more: NOT FOUND, nothing counted.
    let err = rdb.done(&t1, now()).await.unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
    assert_eq!(get(&mut c, &qk.processed_on(DATE)).await.unwrap(), "2");
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "2");
}

#[tokio::test]
async fn done_wraps_the_total_and_uses_the_utc_day() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let _: () = r!(&mut c, "SET", qk.processed_total(), MAX);
    let t1 = task("default", "t1");
    seed_active(&mut c, &t1, Some(NOW)).await;
    // 23:59:59 UTC of the previous day.
    let late = from_unix_secs(NOW - 12 * 3600 - 1);
    rdb.done(&t1, late).await.unwrap();
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
    assert_eq!(
        get(&mut c, &qk.processed_on("2026-11-27")).await.unwrap(),
        "1"
    );
    assert_eq!(
        expiretime(&mut c, &qk.processed_on("2026-11-27")).await,
        NOW - 12 * 3600 - 1 + 90 * DAY
    );

    let t2 = task("default", "t2");
    seed_active(&mut c, &t2, Some(NOW)).await;
    let _: () = r!(&mut c, "SET", qk.processed_total(), "9223372036854775806");
    rdb.done(&t2, now()).await.unwrap();
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), MAX);
}

#[tokio::test]
async fn done_releases_only_an_owned_unique_lock() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let lock = qk.unique("email:send", Some(b"x"));
    let t1 = TaskMessage {
        unique_key: lock.clone(),
        ..task("default", "t1")
    };
    enqueue_pending(&rdb, &t1, Some((lock.clone(), 3600))).await;
    rdb.dequeue("default", 30).await.unwrap().unwrap();
    assert_eq!(get(&mut c, &lock).await.unwrap(), "t1");
    rdb.done(&t1, now()).await.unwrap();
    assert_eq!(get(&mut c, &lock).await, None);

    // A lock now held by another task stays.
    let t2 = TaskMessage {
        unique_key: lock.clone(),
        ..task("default", "t2")
    };
    seed_active(&mut c, &t2, Some(NOW + 30)).await;
    let _: () = r!(&mut c, "SET", lock, "other", "EX", "3600");
    rdb.done(&t2, now()).await.unwrap();
    assert_eq!(get(&mut c, &lock).await.unwrap(), "other");
    assert!(expiretime(&mut c, &lock).await > 0);
}

#[tokio::test]
async fn mark_complete_moves_the_task_to_completed() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let lock = qk.unique("email:send", Some(b"x"));
    let t1 = TaskMessage {
        retention: 3600,
        unique_key: lock.clone(),
        ..task("default", "t1")
    };
    enqueue_pending(&rdb, &t1, Some((lock.clone(), 3600))).await;
    rdb.dequeue("default", 30).await.unwrap().unwrap();
    rdb.write_result("default", "t1", b"the result")
        .await
        .unwrap();

    rdb.mark_complete(&t1, now()).await.unwrap();
    assert_eq!(
        zset(&mut c, &qk.completed()).await,
        [("t1".into(), NOW + 3600)]
    );
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(
        fields(&h),
        BTreeSet::from(["msg", "state", "unique_key", "result"])
    );
    assert_eq!(h["state"], b"completed");
    assert_eq!(h["result"], b"the result");
    assert_eq!(
        msg_of(&h),
        TaskMessage {
            completed_at: NOW,
            ..t1.clone()
        }
    );
    assert_eq!(get(&mut c, &lock).await, None);
    assert_eq!(get(&mut c, &qk.processed_on(DATE)).await.unwrap(), "1");
    assert_eq!(
        expiretime(&mut c, &qk.processed_on(DATE)).await,
        STATS_EXPIRY
    );
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:queues",
            "asynq:{default}:completed",
            "asynq:{default}:redisq:wake",
            "asynq:{default}:t:t1",
            "asynq:{default}:processed:2026-11-28",
            "asynq:{default}:processed",
        ])
    );

    let err = rdb.mark_complete(&t1, now()).await.unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
}

// ---------------------------------------------------------------------------------------------
// requeue

#[tokio::test]
async fn requeue_puts_the_task_at_the_front_and_sets_pending_since() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let t1 = task("default", "t1");
    enqueue_pending(&rdb, &t1, None).await;
    rdb.dequeue("default", 30).await.unwrap().unwrap();
    enqueue_pending(&rdb, &task("default", "t2"), None).await;
    enqueue_pending(&rdb, &task("default", "t3"), None).await;

    let later = from_unix_secs(NOW + 5);
    rdb.requeue(&t1, later).await.unwrap();
    assert_eq!(list(&mut c, &qk.pending()).await, ["t3", "t2", "t1"]);
    assert_eq!(list(&mut c, &qk.active()).await, Vec::<String>::new());
    assert_eq!(zset(&mut c, &qk.lease()).await, []);
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(
        fields(&h),
        BTreeSet::from(["msg", "state", "pending_since"])
    );
    assert_eq!(h["state"], b"pending");
    assert_eq!(
        h["pending_since"],
        ((NOW + 5) * 1_000_000_000).to_string().as_bytes()
    );
    assert_eq!(h["msg"], encode_task_message(&t1));
    // Next in line, and nothing was counted.
    assert_eq!(rdb.dequeue("default", 30).await.unwrap().unwrap().id, "t1");
    assert_eq!(get(&mut c, &qk.processed_total()).await, None);

    let err = rdb
        .requeue(&task("default", "t2"), now())
        .await
        .unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
    assert_eq!(list(&mut c, &qk.pending()).await, ["t3", "t2"]);
}

// ---------------------------------------------------------------------------------------------
// retry

#[tokio::test]
async fn retry_records_the_failure_and_counts_it() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let lock = qk.unique("email:send", Some(b"x"));
    let t1 = TaskMessage {
        retried: 2,
        unique_key: lock.clone(),
        ..task("default", "t1")
    };
    seed_active(&mut c, &t1, Some(NOW + 30)).await;
    let _: () = r!(&mut c, "SET", lock, "t1", "EX", "3600");

    rdb.retry(&t1, from_unix_secs(NOW + 60), "boom", true, now())
        .await
        .unwrap();
    assert_eq!(zset(&mut c, &qk.retry()).await, [("t1".into(), NOW + 60)]);
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(fields(&h), BTreeSet::from(["msg", "state"]));
    assert_eq!(h["state"], b"retry");
    assert_eq!(
        msg_of(&h),
        TaskMessage {
            retried: 3,
            error_msg: "boom".into(),
            last_failed_at: NOW,
            ..t1.clone()
        }
    );
    // The unique lock is kept.
    assert_eq!(get(&mut c, &lock).await.unwrap(), "t1");
    for key in [qk.processed_on(DATE), qk.failed_on(DATE)] {
        assert_eq!(get(&mut c, &key).await.unwrap(), "1");
        assert_eq!(expiretime(&mut c, &key).await, STATS_EXPIRY);
    }
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
    assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "1");
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:{default}:retry",
            "asynq:{default}:t:t1",
            "asynq:{default}:unique:email:send:9dd4e461268c8034f5c8564e155c67a6",
            "asynq:{default}:processed:2026-11-28",
            "asynq:{default}:failed:2026-11-28",
            "asynq:{default}:processed",
            "asynq:{default}:failed",
        ])
    );

    let err = rdb
        .retry(&t1, from_unix_secs(NOW + 60), "boom", true, now())
        .await
        .unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
    assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "1");
}

#[tokio::test]
async fn retry_without_failure_counts_nothing() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let t1 = TaskMessage {
        retried: 2,
        ..task("default", "t1")
    };
    seed_active(&mut c, &t1, None).await;
    rdb.retry(&t1, from_unix_secs(NOW + 5), "not yet", false, now())
        .await
        .unwrap();
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(
        msg_of(&h),
        TaskMessage {
            retried: 2,
            error_msg: "not yet".into(),
            last_failed_at: NOW,
            ..t1
        }
    );
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&["asynq:{default}:retry", "asynq:{default}:t:t1"])
    );
}

#[tokio::test]
async fn retry_wraps_both_totals_when_processed_is_at_the_maximum() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let _: () = r!(&mut c, "SET", qk.processed_total(), MAX);
    let _: () = r!(&mut c, "SET", qk.failed_total(), "41");
    let t1 = task("default", "t1");
    seed_active(&mut c, &t1, Some(NOW)).await;
    rdb.retry(&t1, now(), "x", true, now()).await.unwrap();
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
    assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "1");
}

// ---------------------------------------------------------------------------------------------
// archive

#[tokio::test]
async fn archive_records_the_error_and_counts_a_failure() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let lock = qk.unique("email:send", Some(b"x"));
    let t1 = TaskMessage {
        retried: 25,
        unique_key: lock.clone(),
        ..task("default", "t1")
    };
    seed_active(&mut c, &t1, Some(NOW + 30)).await;
    let _: () = r!(&mut c, "SET", lock, "t1", "EX", "3600");

    rdb.archive(&t1, "gave up", ArchiveLimits::default(), now())
        .await
        .unwrap();
    assert_eq!(zset(&mut c, &qk.archived()).await, [("t1".into(), NOW)]);
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(fields(&h), BTreeSet::from(["msg", "state"]));
    assert_eq!(h["state"], b"archived");
    assert_eq!(
        msg_of(&h),
        TaskMessage {
            error_msg: "gave up".into(),
            last_failed_at: NOW,
            ..t1.clone()
        }
    );
    assert_eq!(get(&mut c, &lock).await.unwrap(), "t1");
    for key in [qk.processed_on(DATE), qk.failed_on(DATE)] {
        assert_eq!(get(&mut c, &key).await.unwrap(), "1");
        assert_eq!(expiretime(&mut c, &key).await, STATS_EXPIRY);
    }
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");
    assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "1");
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:{default}:archived",
            "asynq:{default}:t:t1",
            "asynq:{default}:unique:email:send:9dd4e461268c8034f5c8564e155c67a6",
            "asynq:{default}:processed:2026-11-28",
            "asynq:{default}:failed:2026-11-28",
            "asynq:{default}:processed",
            "asynq:{default}:failed",
        ])
    );

    let err = rdb
        .archive(&t1, "again", ArchiveLimits::default(), now())
        .await
        .unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
    assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "1");
}

/// Adds archived tasks `old-<i>` scored `NOW - 1000 + i`, each with a hash.
async fn seed_archived(c: &mut impl ConnectionLike, n: usize) {
    let qk = Keys::default().queue("default");
    for i in 0..n {
        let id = format!("old-{i}");
        let _: () = r!(
            c,
            "ZADD",
            qk.archived(),
            (NOW - 1000 + i as i64).to_string(),
            id
        );
        let _: () = r!(c, "HSET", qk.task(&id), "msg", "x", "state", "archived");
    }
}

#[tokio::test]
async fn archive_trims_to_exactly_max_size_and_deletes_hashes() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    seed_archived(&mut c, 5).await;
    let t1 = task("default", "t1");
    seed_active(&mut c, &t1, Some(NOW)).await;
    let limits = ArchiveLimits {
        max_size: 3,
        max_age: Duration::from_secs(90 * 24 * 3600),
    };
    rdb.archive(&t1, "e", limits, now()).await.unwrap();
    assert_eq!(
        zset(&mut c, &qk.archived()).await,
        [
            ("old-3".into(), NOW - 997),
            ("old-4".into(), NOW - 996),
            ("t1".into(), NOW)
        ]
    );
    let keys = all_keys(&mut c).await;
    for i in 0..3 {
        assert!(!keys.contains(&qk.task(&format!("old-{i}"))), "old-{i}");
    }
    for id in ["old-3", "old-4", "t1"] {
        assert!(keys.contains(&qk.task(id)), "{id}");
    }
}

#[tokio::test]
async fn archive_trims_by_age() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let max_age = 500;
    // Exactly at the cutoff: trimmed; one second younger: kept.
    for (id, score) in [("at-cutoff", NOW - max_age), ("younger", NOW - max_age + 1)] {
        let _: () = r!(&mut c, "ZADD", qk.archived(), score.to_string(), id);
        let _: () = r!(&mut c, "HSET", qk.task(id), "msg", "x", "state", "archived");
    }
    let t1 = task("default", "t1");
    seed_active(&mut c, &t1, Some(NOW)).await;
    let limits = ArchiveLimits {
        max_size: 10_000,
        max_age: Duration::from_secs(max_age as u64),
    };
    rdb.archive(&t1, "e", limits, now()).await.unwrap();
    assert_eq!(
        zset(&mut c, &qk.archived()).await,
        [("younger".into(), NOW - max_age + 1), ("t1".into(), NOW)]
    );
    let keys = all_keys(&mut c).await;
    assert!(!keys.contains(&qk.task("at-cutoff")));
    assert!(keys.contains(&qk.task("younger")));
}

#[tokio::test]
async fn archive_keeps_exactly_ten_thousand_by_default() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(qk.archived());
    for i in 0..10_000i64 {
        zadd.arg(NOW - 20_000 + i).arg(format!("a{i}"));
    }
    let _: () = zadd.query_async(&mut c).await.unwrap();
    for id in ["a0", "a1"] {
        let _: () = r!(&mut c, "HSET", qk.task(id), "msg", "x", "state", "archived");
    }
    let t1 = task("default", "t1");
    seed_active(&mut c, &t1, Some(NOW)).await;
    rdb.archive(&t1, "e", ArchiveLimits::default(), now())
        .await
        .unwrap();
    let n: i64 = r!(&mut c, "ZCARD", qk.archived());
    assert_eq!(n, 10_000);
    let first: Vec<String> = r!(&mut c, "ZRANGE", qk.archived(), "0", "0");
    assert_eq!(first, ["a1"]);
    let keys = all_keys(&mut c).await;
    assert!(!keys.contains(&qk.task("a0")));
    assert!(keys.contains(&qk.task("a1")));
    assert!(keys.contains(&qk.task("t1")));
}

#[tokio::test]
async fn archive_corrupt_keeps_the_bytes_and_records_the_error() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let garbage = b"\xff\xff\xff not protobuf".to_vec();
    let _: () = r!(
        &mut c,
        "HSET",
        qk.task("bad"),
        "msg",
        garbage,
        "state",
        "active"
    );
    let _: () = r!(&mut c, "LPUSH", qk.active(), "bad");
    let _: () = r!(&mut c, "ZADD", qk.lease(), (NOW + 30).to_string(), "bad");
    seed_archived(&mut c, 2).await;
    let limits = ArchiveLimits {
        max_size: 2,
        max_age: Duration::from_secs(90 * 24 * 3600),
    };
    rdb.archive_corrupt("default", "bad", "invalid task message", limits, now())
        .await
        .unwrap();
    let h = hash(&mut c, &qk.task("bad")).await;
    assert_eq!(fields(&h), BTreeSet::from(["msg", "state", "error"]));
    assert_eq!(h["msg"], garbage);
    assert_eq!(h["state"], b"archived");
    assert_eq!(h["error"], b"invalid task message");
    assert_eq!(
        zset(&mut c, &qk.archived()).await,
        [("old-1".into(), NOW - 999), ("bad".into(), NOW)]
    );
    assert_eq!(list(&mut c, &qk.active()).await, Vec::<String>::new());
    assert_eq!(zset(&mut c, &qk.lease()).await, []);
    assert!(!all_keys(&mut c).await.contains(&qk.task("old-0")));
    assert_eq!(get(&mut c, &qk.failed_on(DATE)).await.unwrap(), "1");
    assert_eq!(get(&mut c, &qk.processed_on(DATE)).await.unwrap(), "1");
    assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "1");
    assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "1");

    let err = rdb
        .archive_corrupt("default", "bad", "x", limits, now())
        .await
        .unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// leases and results

#[tokio::test]
async fn extend_leases_updates_existing_entries_only() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let _: () = r!(&mut c, "ZADD", qk.lease(), "10", "t1", "10", "t2");
    let before = redis_secs(&mut c).await;
    rdb.extend_leases("default", &["t1".into(), "gone".into()], 30)
        .await
        .unwrap();
    let after = redis_secs(&mut c).await;
    let z = zset(&mut c, &qk.lease()).await;
    assert_eq!(z[0], ("t2".into(), 10));
    assert_eq!(
        leases_relative(z[1..].to_vec(), &[30], before, after),
        [("t1".into(), 30)]
    );
    rdb.extend_leases("default", &[], 60).await.unwrap();
    rdb.extend_leases("other", &["x".into()], 60).await.unwrap();
    assert_eq!(all_keys(&mut c).await, key_set(&["asynq:{default}:lease"]));
}

#[tokio::test]
async fn write_result_does_not_recreate_a_deleted_task() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let t1 = task("default", "t1");
    seed_active(&mut c, &t1, Some(NOW)).await;
    rdb.write_result("default", "t1", b"\x00binary")
        .await
        .unwrap();
    rdb.write_result("default", "t1", b"second").await.unwrap();
    let h = hash(&mut c, &qk.task("t1")).await;
    assert_eq!(fields(&h), BTreeSet::from(["msg", "state", "result"]));
    assert_eq!(h["result"], b"second");

    let err = rdb.write_result("default", "gone", b"x").await.unwrap_err();
    assert!(err.is_task_not_found(), "{err:?}");
    assert!(!all_keys(&mut c).await.contains(&qk.task("gone")));
}

// ---------------------------------------------------------------------------------------------
// forwarding

#[tokio::test]
async fn forward_due_moves_to_pending_or_into_the_group() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    enqueue_scheduled(&rdb, &task("default", "a"), NOW - 1, None).await;
    enqueue_scheduled(&rdb, &task("default", "b"), NOW, None).await;
    enqueue_scheduled(&rdb, &task("default", "later"), NOW + 1, None).await;
    enqueue_scheduled(&rdb, &task("default", "g"), NOW - 5, Some("grp")).await;
    let r = task("default", "r");
    seed_active(&mut c, &r, Some(NOW)).await;
    rdb.retry(
        &r,
        from_unix_secs(NOW - 2),
        "e",
        true,
        from_unix_secs(NOW - 10),
    )
    .await
    .unwrap();
    let _: () = r!(&mut c, "ZADD", qk.retry(), (NOW - 3).to_string(), "ghost");

    let moved = rdb.forward_due("default", now()).await.unwrap();
    assert_eq!(moved, 4);
    assert_eq!(list(&mut c, &qk.pending()).await, ["r", "b", "a"]);
    assert_eq!(
        zset(&mut c, &qk.scheduled()).await,
        [("later".into(), NOW + 1)]
    );
    assert_eq!(zset(&mut c, &qk.retry()).await, []);
    // Decision D3: into the group, and the group is registered.
    assert_eq!(zset(&mut c, &qk.group("grp")).await, [("g".into(), NOW)]);
    let groups: Vec<String> = r!(&mut c, "SMEMBERS", qk.groups());
    assert_eq!(groups, ["grp"]);
    let h = hash(&mut c, &qk.task("g")).await;
    assert_eq!(fields(&h), BTreeSet::from(["msg", "state", "group"]));
    assert_eq!(h["state"], b"aggregating");
    assert_eq!(h["group"], b"grp");
    for id in ["a", "b", "r"] {
        let h = hash(&mut c, &qk.task(id)).await;
        assert_eq!(
            fields(&h),
            BTreeSet::from(["msg", "state", "pending_since"])
        );
        assert_eq!(h["state"], b"pending");
        assert_eq!(h["pending_since"], now_ns().to_string().as_bytes());
    }
    assert!(!all_keys(&mut c).await.contains(&qk.task("ghost")));

    assert_eq!(rdb.forward_due("default", now()).await.unwrap(), 0);
    assert_eq!(rdb.forward_due("nothing", now()).await.unwrap(), 0);
}

#[tokio::test]
async fn forward_due_moves_more_than_one_batch() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let n = 2 * FORWARD_BATCH + 50;
    for i in 0..n {
        let id = format!("s{i:03}");
        enqueue_scheduled(&rdb, &task("default", &id), NOW - 1000 + i as i64, None).await;
    }
    for i in 0..FORWARD_BATCH {
        let id = format!("r{i:03}");
        let _: () = r!(&mut c, "ZADD", qk.retry(), (NOW - 1).to_string(), id);
        let _: () = r!(&mut c, "HSET", qk.task(&id), "msg", "x", "state", "retry");
    }
    assert_eq!(
        rdb.forward_due("default", now()).await.unwrap(),
        n + FORWARD_BATCH
    );
    let len: usize = r!(&mut c, "LLEN", qk.pending());
    assert_eq!(len, n + FORWARD_BATCH);
    assert!(
        !all_keys(&mut c).await.contains(&qk.scheduled()),
        "scheduled emptied"
    );
    // Oldest first: the first scheduled task is at the front (right end).
    let last: Vec<String> = r!(&mut c, "LRANGE", qk.pending(), "-1", "-1");
    assert_eq!(last, ["s000"]);
}

// ---------------------------------------------------------------------------------------------
// recovery listings and the janitor

#[tokio::test]
async fn list_lease_expired_returns_ids_and_msgs() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    let (a, b, later) = (
        task("default", "a"),
        task("default", "b"),
        task("default", "later"),
    );
    // The cutoff is Redis's clock minus the grace (100 s here, so the test is not racing it).
    let now = redis_secs(&mut c).await;
    seed_active(&mut c, &a, Some(now - 110)).await;
    seed_active(&mut c, &b, Some(now - 101)).await;
    seed_active(&mut c, &later, Some(now + 100)).await;
    let _: () = r!(&mut c, "ZADD", qk.lease(), (now - 105).to_string(), "ghost");
    let (cutoff, tasks) = rdb.list_lease_expired("default", 100).await.unwrap();
    assert!(
        (now - 100..=now - 99).contains(&cutoff),
        "cutoff {cutoff}, now {now}"
    );
    assert_eq!(
        tasks,
        [
            ("a".to_string(), encode_task_message(&a)),
            ("b".to_string(), encode_task_message(&b)),
        ]
    );
    assert_eq!(rdb.list_lease_expired("default", 1000).await.unwrap().1, []);
    // Listing changes nothing.
    assert_eq!(zset(&mut c, &qk.lease()).await.len(), 4);
}

#[tokio::test]
async fn list_active_without_lease_finds_unleased_tasks() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    seed_active(&mut c, &task("default", "a"), None).await;
    seed_active(&mut c, &task("default", "b"), Some(NOW)).await;
    seed_active(&mut c, &task("default", "c"), None).await;
    assert_eq!(list(&mut c, &qk.active()).await, ["c", "b", "a"]);
    assert_eq!(
        rdb.list_active_without_lease("default").await.unwrap(),
        ["c", "a"]
    );
    assert_eq!(
        rdb.list_active_without_lease("empty").await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn delete_expired_completed_works_in_batches() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    for i in 0..7i64 {
        let id = format!("old{i}");
        let _: () = r!(&mut c, "ZADD", qk.completed(), (NOW - i).to_string(), id);
        let _: () = r!(
            &mut c,
            "HSET",
            qk.task(&id),
            "msg",
            "x",
            "state",
            "completed"
        );
    }
    for i in 1..=2i64 {
        let id = format!("new{i}");
        let _: () = r!(&mut c, "ZADD", qk.completed(), (NOW + i).to_string(), id);
        let _: () = r!(
            &mut c,
            "HSET",
            qk.task(&id),
            "msg",
            "x",
            "state",
            "completed"
        );
    }
    assert_eq!(
        rdb.delete_expired_completed("default", now(), 3)
            .await
            .unwrap(),
        7
    );
    assert_eq!(
        zset(&mut c, &qk.completed()).await,
        [("new1".into(), NOW + 1), ("new2".into(), NOW + 2)]
    );
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:{default}:completed",
            "asynq:{default}:t:new1",
            "asynq:{default}:t:new2",
        ])
    );
    // Exactly one batch's worth, then nothing.
    assert_eq!(
        rdb.delete_expired_completed("default", from_unix_secs(NOW + 2), 2)
            .await
            .unwrap(),
        2
    );
    assert_eq!(all_keys(&mut c).await, BTreeSet::new());
    assert_eq!(
        rdb.delete_expired_completed("default", now(), 0)
            .await
            .unwrap(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// server state and cancellation

fn server_info() -> ServerInfo {
    ServerInfo {
        host: "host-1".into(),
        pid: 4242,
        server_id: "sid-1".into(),
        concurrency: 10,
        queues: [("default".to_string(), 1)].into(),
        status: "active".into(),
        start_time: Some(crate::rdb::proto::timestamp_from(Some(now()))),
        active_worker_count: 2,
        ..ServerInfo::default()
    }
}

fn worker(id: &str) -> WorkerInfo {
    WorkerInfo {
        host: "host-1".into(),
        pid: 4242,
        server_id: "sid-1".into(),
        task_id: id.into(),
        task_type: "email:send".into(),
        task_payload: b"p".to_vec().into(),
        queue: "default".into(),
        start_time: Some(crate::rdb::proto::timestamp_from(Some(now()))),
        deadline: Some(crate::rdb::proto::timestamp_from(Some(from_unix_secs(
            NOW + 1800,
        )))),
    }
}

async fn ttl(c: &mut impl ConnectionLike, key: &str) -> i64 {
    r!(c, "TTL", key)
}

#[tokio::test]
async fn write_and_clear_server_state() {
    let (_s, rdb, mut c) = setup().await;
    let server_key = "asynq:servers:{host-1:4242:sid-1}";
    let workers_key = "asynq:workers:{host-1:4242:sid-1}";
    let info = server_info();
    let workers = [worker("t1"), worker("t2")];
    rdb.write_server_state(&info, &workers, Duration::from_secs(10), now())
        .await
        .unwrap();
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&["asynq:servers", "asynq:workers", server_key, workers_key])
    );
    assert_eq!(
        zset(&mut c, "asynq:servers").await,
        [(server_key.into(), NOW + 10)]
    );
    assert_eq!(
        zset(&mut c, "asynq:workers").await,
        [(workers_key.into(), NOW + 10)]
    );
    let stored: Vec<u8> = r!(&mut c, "GET", server_key);
    assert_eq!(stored, encode_server_info(&info));
    assert!((9..=10).contains(&ttl(&mut c, server_key).await));
    assert_eq!(
        hash(&mut c, workers_key).await,
        BTreeMap::from([
            ("t1".to_string(), encode_worker_info(&workers[0])),
            ("t2".to_string(), encode_worker_info(&workers[1])),
        ])
    );
    assert!((9..=10).contains(&ttl(&mut c, workers_key).await));

    // The next beat rewrites the workers; without workers the hash is gone (as in asynq)
    // but the index entry is still written.
    rdb.write_server_state(&info, &[], Duration::from_secs(20), from_unix_secs(NOW + 5))
        .await
        .unwrap();
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&["asynq:servers", "asynq:workers", server_key])
    );
    assert_eq!(
        zset(&mut c, "asynq:workers").await,
        [(workers_key.into(), NOW + 25)]
    );
    assert_eq!(
        zset(&mut c, "asynq:servers").await,
        [(server_key.into(), NOW + 25)]
    );
    assert!((19..=20).contains(&ttl(&mut c, server_key).await));

    rdb.write_server_state(&info, &workers[..1], Duration::from_secs(10), now())
        .await
        .unwrap();
    assert_eq!(hash(&mut c, workers_key).await.len(), 1);
    rdb.clear_server_state("host-1", 4242, "sid-1")
        .await
        .unwrap();
    assert_eq!(all_keys(&mut c).await, BTreeSet::new());
}

#[tokio::test]
async fn clear_server_state_keeps_other_servers() {
    let (_s, rdb, mut c) = setup().await;
    let other = ServerInfo {
        server_id: "sid-2".into(),
        ..server_info()
    };
    rdb.write_server_state(
        &server_info(),
        &[worker("t1")],
        Duration::from_secs(10),
        now(),
    )
    .await
    .unwrap();
    rdb.write_server_state(&other, &[worker("t2")], Duration::from_secs(10), now())
        .await
        .unwrap();
    rdb.clear_server_state("host-1", 4242, "sid-1")
        .await
        .unwrap();
    assert_eq!(
        all_keys(&mut c).await,
        key_set(&[
            "asynq:servers",
            "asynq:workers",
            "asynq:servers:{host-1:4242:sid-2}",
            "asynq:workers:{host-1:4242:sid-2}",
        ])
    );
    assert_eq!(
        zset(&mut c, "asynq:servers").await,
        [("asynq:servers:{host-1:4242:sid-2}".into(), NOW + 10)]
    );
}

#[tokio::test]
async fn publish_cancel_reaches_subscribers() {
    use futures_util::StreamExt;

    let (server, rdb, _c) = setup().await;
    let client = redis::Client::open(server.url()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe("asynq:cancel").await.unwrap();
    rdb.publish_cancel("task-42").await.unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), pubsub.on_message().next())
        .await
        .expect("a message within 5 s")
        .expect("a message");
    assert_eq!(msg.get_channel_name(), "asynq:cancel");
    assert_eq!(msg.get_payload::<String>().unwrap(), "task-42");
}

#[tokio::test]
async fn scripts_are_reloaded_after_a_flush() {
    let (_s, rdb, mut c) = setup().await;
    let qk = Keys::default().queue("default");
    enqueue_pending(&rdb, &task("default", "t1"), None).await;
    enqueue_scheduled(&rdb, &task("default", "s1"), NOW, None).await;
    let _: () = r!(&mut c, "SCRIPT", "FLUSH");
    // A direct call (EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA) and pipelined ones.
    assert_eq!(rdb.dequeue("default", 30).await.unwrap().unwrap().id, "t1");
    let _: () = r!(&mut c, "SCRIPT", "FLUSH");
    assert_eq!(rdb.forward_due("default", now()).await.unwrap(), 1);
    assert_eq!(list(&mut c, &qk.pending()).await, ["s1"]);
    let _: () = r!(&mut c, "SCRIPT", "FLUSH");
    rdb.write_server_state(&server_info(), &[], Duration::from_secs(10), now())
        .await
        .unwrap();
    let n: i64 = r!(&mut c, "EXISTS", "asynq:servers:{host-1:4242:sid-1}");
    assert_eq!(n, 1);
}

#[test]
fn utc_dates() {
    assert_eq!(utc_date(now()), DATE);
    assert_eq!(utc_date(from_unix_secs(NOW - 12 * 3600)), DATE);
    assert_eq!(utc_date(from_unix_secs(NOW - 12 * 3600 - 1)), "2026-11-27");
}

// ---------------------------------------------------------------------------------------------
// Cluster

/// The port of the master serving each slot range, from `CLUSTER SLOTS`.
async fn slot_owners(c: &mut impl ConnectionLike) -> Vec<(i64, i64, i64)> {
    let reply: Vec<Vec<redis::Value>> = r!(c, "CLUSTER", "SLOTS");
    reply
        .into_iter()
        .map(|range| {
            let start: i64 = redis::from_redis_value(range[0].clone()).unwrap();
            let end: i64 = redis::from_redis_value(range[1].clone()).unwrap();
            let master: Vec<redis::Value> = redis::from_redis_value(range[2].clone()).unwrap();
            let port: i64 = redis::from_redis_value(master[1].clone()).unwrap();
            (start, end, port)
        })
        .collect()
}

/// Two queue names whose keys live on different masters.
async fn queues_on_different_nodes(c: &mut impl ConnectionLike) -> (String, String) {
    let owners = slot_owners(c).await;
    let mut seen: Vec<(String, i64)> = Vec::new();
    for i in 0..64 {
        let q = format!("q{i}");
        let slot: i64 = r!(c, "CLUSTER", "KEYSLOT", format!("{{{q}}}"));
        let node = owners
            .iter()
            .find(|(start, end, _)| (*start..=*end).contains(&slot))
            .map(|(_, _, port)| *port)
            .expect("an owner for every slot");
        if let Some((first, _)) = seen.iter().find(|(_, n)| *n != node) {
            return (first.clone(), q);
        }
        seen.push((q, node));
    }
    panic!("no two queues on different nodes");
}

#[tokio::test]
async fn cluster_processing() {
    let cluster = RedisCluster::start();
    let opt: crate::RedisConnOpt = crate::RedisClusterClientOpt::new(cluster.addrs()).into();
    let rdb = Rdb::new(RedisConn::connect(&opt).await.unwrap(), Keys::default());
    let mut c = cluster.connection().await;
    let (q1, q2) = queues_on_different_nodes(&mut c).await;

    for q in [&q1, &q2] {
        let qk = Keys::default().queue(q);
        let lock = qk.unique("email:send", Some(b"x"));
        let done_task = TaskMessage {
            unique_key: lock.clone(),
            ..task(q, "d")
        };
        enqueue_pending(&rdb, &done_task, Some((lock.clone(), 3600))).await;
        enqueue_pending(&rdb, &task(q, "r"), None).await;
        enqueue_pending(&rdb, &task(q, "a"), None).await;
        enqueue_scheduled(&rdb, &task(q, "s"), NOW - 1, None).await;
        enqueue_scheduled(&rdb, &task(q, "g"), NOW - 1, Some("grp")).await;

        // Dequeue all three with their leases.
        for id in ["d", "r", "a"] {
            let d = rdb.dequeue(q, 30).await.unwrap().unwrap();
            assert_eq!(d.id, id);
        }
        assert_eq!(zset(&mut c, &qk.lease()).await.len(), 3);
        assert_eq!(
            rdb.list_active_without_lease(q).await.unwrap(),
            Vec::<String>::new()
        );
        rdb.extend_leases(q, &["d".into(), "r".into(), "a".into()], 60)
            .await
            .unwrap();
        assert_eq!(rdb.list_lease_expired(q, 0).await.unwrap().1, []);

        rdb.done(&done_task, now()).await.unwrap();
        assert_eq!(get(&mut c, &lock).await, None);
        rdb.retry(&task(q, "r"), from_unix_secs(NOW - 1), "e", true, now())
            .await
            .unwrap();
        rdb.archive(&task(q, "a"), "e", ArchiveLimits::default(), now())
            .await
            .unwrap();
        assert!(
            rdb.done(&done_task, now())
                .await
                .unwrap_err()
                .is_task_not_found()
        );

        assert_eq!(rdb.forward_due(q, now()).await.unwrap(), 3);
        let mut pending = list(&mut c, &qk.pending()).await;
        pending.sort();
        assert_eq!(pending, ["r", "s"]);
        assert_eq!(zset(&mut c, &qk.group("grp")).await, [("g".into(), NOW)]);
        let groups: Vec<String> = r!(&mut c, "SMEMBERS", qk.groups());
        assert_eq!(groups, ["grp"]);
        assert_eq!(zset(&mut c, &qk.archived()).await, [("a".into(), NOW)]);
        assert_eq!(get(&mut c, &qk.processed_total()).await.unwrap(), "3");
        assert_eq!(get(&mut c, &qk.failed_total()).await.unwrap(), "2");
        assert_eq!(get(&mut c, &qk.processed_on(DATE)).await.unwrap(), "3");
    }

    let info = server_info();
    rdb.write_server_state(&info, &[worker("t1")], Duration::from_secs(10), now())
        .await
        .unwrap();
    let server_key = "asynq:servers:{host-1:4242:sid-1}";
    let workers_key = "asynq:workers:{host-1:4242:sid-1}";
    assert_eq!(
        zset(&mut c, "asynq:servers").await,
        [(server_key.into(), NOW + 10)]
    );
    assert_eq!(
        zset(&mut c, "asynq:workers").await,
        [(workers_key.into(), NOW + 10)]
    );
    let stored: Vec<u8> = r!(&mut c, "GET", server_key);
    assert_eq!(stored, encode_server_info(&info));
    assert_eq!(hash(&mut c, workers_key).await.len(), 1);
    rdb.clear_server_state("host-1", 4242, "sid-1")
        .await
        .unwrap();
    let n: i64 = r!(&mut c, "EXISTS", server_key);
    assert_eq!(n, 0);
    let n: i64 = r!(&mut c, "EXISTS", workers_key);
    assert_eq!(n, 0);
    assert_eq!(zset(&mut c, "asynq:servers").await, []);
    rdb.publish_cancel("x").await.unwrap();
}
