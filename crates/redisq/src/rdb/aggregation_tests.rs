//! The scripts against a real Redis, with a fixed clock.

use std::collections::{BTreeMap, BTreeSet};

use redisq_test_support::{RedisCluster, RedisServer};

use super::*;
use crate::rdb::keys::Keys;
use crate::rdb::proto::{TaskMessage, decode_task_message, encode_task_message};
use crate::rdb::{EnqueueRequest, Placement, RedisConn};

/// 2026-11-28T12:00:00Z.
const NOW: i64 = 1_795_867_200;
const Q: &str = "default";

fn now() -> SystemTime {
    from_unix_secs(NOW)
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

fn msg(id: &str, group: &str, unique_key: &str) -> TaskMessage {
    TaskMessage {
        r#type: "digest".into(),
        payload: id.as_bytes().to_vec().into(),
        id: id.into(),
        queue: Q.into(),
        retry: 25,
        timeout: 1800,
        group_key: group.into(),
        unique_key: unique_key.into(),
        ..TaskMessage::default()
    }
}

/// Adds a task to a group as the client does, joined at `at` (unix s).
async fn add(rdb: &Rdb, group: &str, id: &str, at: i64) {
    add_unique(rdb, group, id, at, None).await;
}

async fn add_unique(rdb: &Rdb, group: &str, id: &str, at: i64, lock: Option<&str>) {
    let m = msg(id, group, lock.unwrap_or_default());
    let req = EnqueueRequest {
        queue: Q.into(),
        id: id.into(),
        msg: encode_task_message(&m),
        placement: Placement::Group {
            group: group.into(),
            now_secs: at,
        },
        unique: lock.map(|l| (l.to_string(), 3600)),
    };
    rdb.enqueue(&req).await.expect("add to group");
}

async fn zset(c: &mut impl redis::aio::ConnectionLike, key: &str) -> Vec<(String, i64)> {
    let v: Vec<(String, f64)> = redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .arg("WITHSCORES")
        .query_async(c)
        .await
        .expect("ZRANGE");
    v.into_iter().map(|(m, s)| (m, s as i64)).collect()
}

async fn smembers(c: &mut impl redis::aio::ConnectionLike, key: &str) -> BTreeSet<String> {
    redis::cmd("SMEMBERS")
        .arg(key)
        .query_async(c)
        .await
        .expect("SMEMBERS")
}

async fn exists(c: &mut impl redis::aio::ConnectionLike, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query_async::<i64>(c)
        .await
        .expect("EXISTS")
        == 1
}

fn limits(max_size: u64, max_delay_secs: u64, grace_secs: u64) -> GroupLimits {
    GroupLimits {
        max_size,
        max_delay_secs,
        grace_secs,
    }
}

const GROUP: &str = "asynq:{default}:g:g1";
const GROUPS_KEY: &str = "asynq:{default}:groups";
const SETS: &str = "asynq:{default}:aggregation_sets";

fn set_key(id: &str) -> String {
    format!("{GROUP}:{id}")
}

#[test]
fn limits_from_config() {
    let l = GroupLimits::new(None, None, Duration::from_secs(60));
    assert_eq!(l, limits(0, 0, 60));
    let l = GroupLimits::new(
        Some(5),
        Some(Duration::from_millis(300)),
        Duration::from_millis(1500),
    );
    assert_eq!(l, limits(5, 1, 1));
}

#[tokio::test]
async fn empty_or_unknown_group_is_not_ready() {
    let (_s, rdb, mut c) = setup().await;
    let id = rdb
        .check_group(Q, "g1", limits(1, 1, 1), now())
        .await
        .expect("check");
    assert_eq!(id, None);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .expect("KEYS");
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn max_size_takes_the_oldest_members_with_their_scores() {
    let (_s, rdb, mut c) = setup().await;
    for i in 0..7 {
        add(&rdb, "g1", &format!("t{i}"), NOW - 10 + i).await;
    }
    let l = limits(3, 0, 60);
    let first = rdb
        .check_group(Q, "g1", l, now())
        .await
        .expect("check")
        .expect("a set");
    assert_eq!(
        zset(&mut c, &set_key(&first)).await,
        vec![
            ("t0".into(), NOW - 10),
            ("t1".into(), NOW - 9),
            ("t2".into(), NOW - 8)
        ]
    );
    assert_eq!(zset(&mut c, GROUP).await.len(), 4);
    assert_eq!(zset(&mut c, SETS).await, vec![(set_key(&first), NOW + 120)]);
    assert!(smembers(&mut c, GROUPS_KEY).await.contains("g1"));
    // The member hashes are untouched.
    let state: String = redis::cmd("HGET")
        .arg("asynq:{default}:t:t0")
        .arg("state")
        .query_async(&mut c)
        .await
        .expect("HGET");
    assert_eq!(state, "aggregating");

    let second = rdb
        .check_group(Q, "g1", l, now())
        .await
        .expect("check")
        .expect("a second set");
    assert_ne!(first, second);
    assert_eq!(zset(&mut c, &set_key(&second)).await.len(), 3);
    assert_eq!(zset(&mut c, GROUP).await, vec![("t6".into(), NOW - 4)]);
    assert!(smembers(&mut c, GROUPS_KEY).await.contains("g1"));
    assert_eq!(zset(&mut c, SETS).await.len(), 2);

    // One task left: below the max size, and its grace period is not over.
    assert_eq!(
        rdb.check_group(Q, "g1", l, now()).await.expect("check"),
        None
    );
    // Once it is, the last task goes and the group leaves `groups`.
    let last = rdb
        .check_group(Q, "g1", l, now() + Duration::from_secs(56))
        .await
        .expect("check")
        .expect("the last set");
    assert_eq!(
        zset(&mut c, &set_key(&last)).await,
        vec![("t6".into(), NOW - 4)]
    );
    assert!(!exists(&mut c, GROUP).await);
    assert!(smembers(&mut c, GROUPS_KEY).await.is_empty());
}

#[tokio::test]
async fn a_group_of_exactly_max_size_leaves_groups() {
    let (_s, rdb, mut c) = setup().await;
    for i in 0..3 {
        add(&rdb, "g1", &format!("t{i}"), NOW).await;
    }
    let id = rdb
        .check_group(Q, "g1", limits(3, 0, 60), now())
        .await
        .expect("check")
        .expect("a set");
    assert_eq!(zset(&mut c, &set_key(&id)).await.len(), 3);
    assert!(!exists(&mut c, GROUP).await);
    assert!(smembers(&mut c, GROUPS_KEY).await.is_empty());
}

#[tokio::test]
async fn max_delay_counts_from_the_oldest_member() {
    let (_s, rdb, mut c) = setup().await;
    add(&rdb, "g1", "old", NOW - 10).await;
    add(&rdb, "g1", "new", NOW).await;
    // Not yet: the oldest waited 10 s of 11; the newest is inside its grace period.
    assert_eq!(
        rdb.check_group(Q, "g1", limits(0, 11, 60), now())
            .await
            .expect("check"),
        None
    );
    let id = rdb
        .check_group(Q, "g1", limits(0, 10, 60), now())
        .await
        .expect("check")
        .expect("a set");
    assert_eq!(
        zset(&mut c, &set_key(&id)).await,
        vec![("old".into(), NOW - 10), ("new".into(), NOW)]
    );
    assert!(!exists(&mut c, GROUP).await);
    assert!(smembers(&mut c, GROUPS_KEY).await.is_empty());
}

#[tokio::test]
async fn max_delay_with_a_max_size_takes_at_most_max_size() {
    let (_s, rdb, mut c) = setup().await;
    for i in 0..5 {
        add(&rdb, "g1", &format!("t{i}"), NOW - 20 + i).await;
    }
    // Under the max size: everything goes, the group leaves `groups`.
    let id = rdb
        .check_group(Q, "g1", limits(10, 5, 60), now())
        .await
        .expect("check")
        .expect("a set");
    assert_eq!(zset(&mut c, &set_key(&id)).await.len(), 5);
    assert!(smembers(&mut c, GROUPS_KEY).await.is_empty());
}

#[tokio::test]
async fn grace_period_counts_from_the_newest_member() {
    let (_s, rdb, mut c) = setup().await;
    add(&rdb, "g1", "a", NOW - 30).await;
    add(&rdb, "g1", "b", NOW - 5).await;
    assert_eq!(
        rdb.check_group(Q, "g1", limits(0, 0, 6), now())
            .await
            .expect("check"),
        None
    );
    let id = rdb
        .check_group(Q, "g1", limits(0, 0, 5), now())
        .await
        .expect("check")
        .expect("a set");
    assert_eq!(
        zset(&mut c, &set_key(&id)).await,
        vec![("a".into(), NOW - 30), ("b".into(), NOW - 5)]
    );
    assert!(smembers(&mut c, GROUPS_KEY).await.is_empty());
    assert!(!exists(&mut c, GROUP).await);
}

#[tokio::test]
async fn read_returns_members_in_order_with_the_deadline() {
    let (_s, rdb, mut c) = setup().await;
    add(&rdb, "g1", "b", NOW - 2).await;
    add(&rdb, "g1", "a", NOW - 3).await;
    add(&rdb, "g1", "gone", NOW - 1).await;
    let id = rdb
        .check_group(Q, "g1", limits(0, 0, 1), now())
        .await
        .expect("check")
        .expect("a set");
    let _: () = redis::cmd("DEL")
        .arg("asynq:{default}:t:gone")
        .query_async(&mut c)
        .await
        .expect("DEL");
    let set = rdb.read_aggregation_set(Q, "g1", &id).await.expect("read");
    assert_eq!(set.deadline, Some(from_unix_secs(NOW + 120)));
    let ids: Vec<&str> = set.members.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b"]);
    let m = decode_task_message(&set.members[0].1).expect("msg");
    assert_eq!(m, msg("a", "g1", ""));

    // A set that is no longer registered has no deadline.
    let _: () = redis::cmd("DEL")
        .arg(SETS)
        .query_async(&mut c)
        .await
        .expect("DEL");
    let set = rdb.read_aggregation_set(Q, "g1", &id).await.expect("read");
    assert_eq!(set.deadline, None);
    assert_eq!(set.members.len(), 2);
    let none = rdb
        .read_aggregation_set(Q, "g1", "no-such-set")
        .await
        .expect("read");
    assert_eq!(
        none,
        AggregationSet {
            deadline: None,
            members: vec![]
        }
    );
}

#[tokio::test]
async fn delete_removes_members_set_registration_and_owned_locks() {
    let (_s, rdb, mut c) = setup().await;
    let lock_a = "asynq:{default}:unique:digest:aaa";
    let lock_b = "asynq:{default}:unique:digest:bbb";
    add_unique(&rdb, "g1", "a", NOW - 2, Some(lock_a)).await;
    add_unique(&rdb, "g1", "b", NOW - 2, Some(lock_b)).await;
    add(&rdb, "g1", "c", NOW - 2).await;
    add(&rdb, "g2", "other", NOW).await;
    let id = rdb
        .check_group(Q, "g1", limits(0, 0, 1), now())
        .await
        .expect("check")
        .expect("a set");
    // Lock b now belongs to another task: it must stay.
    let _: () = redis::cmd("SET")
        .arg(lock_b)
        .arg("someone-else")
        .query_async(&mut c)
        .await
        .expect("SET");
    // A lock named for a task outside the set is not touched either.
    let lock_x = "asynq:{default}:unique:digest:xxx";
    let _: () = redis::cmd("SET")
        .arg(lock_x)
        .arg("other")
        .query_async(&mut c)
        .await
        .expect("SET");
    let locks = vec![
        ("a".to_string(), lock_a.to_string()),
        ("b".to_string(), lock_b.to_string()),
        ("other".to_string(), lock_x.to_string()),
    ];
    let deleted = rdb
        .delete_aggregation_set(Q, "g1", &id, &locks)
        .await
        .expect("delete");
    assert_eq!(deleted, 3);
    let keys: BTreeSet<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut c)
        .await
        .expect("KEYS");
    let expected: BTreeSet<String> = [
        "asynq:queues",
        "asynq:{default}:g:g2",
        GROUPS_KEY,
        "asynq:{default}:t:other",
        lock_b,
        lock_x,
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(keys, expected);
}

#[tokio::test]
async fn reclaim_returns_stale_sets_to_their_groups() {
    let (_s, rdb, mut c) = setup().await;
    add(&rdb, "g1", "a", NOW - 300).await;
    add(&rdb, "g1", "b", NOW - 299).await;
    add(&rdb, "g1", "gone", NOW - 299).await;
    add(&rdb, "a:b", "colon", NOW - 300).await;
    add(&rdb, "fresh", "f", NOW - 300).await;
    let check_at = now() - Duration::from_secs(200);
    let stale = rdb
        .check_group(Q, "g1", limits(0, 0, 1), check_at)
        .await
        .expect("check")
        .expect("a set");
    let colon = rdb
        .check_group(Q, "a:b", limits(0, 0, 1), check_at)
        .await
        .expect("check")
        .expect("a set");
    let fresh = rdb
        .check_group(Q, "fresh", limits(0, 0, 1), now())
        .await
        .expect("check")
        .expect("a set");
    let _: () = redis::cmd("DEL")
        .arg("asynq:{default}:t:gone")
        .query_async(&mut c)
        .await
        .expect("DEL");
    // A task joins g1 meanwhile; then g1 leaves `groups`, to show that reclaim puts it
    // back.
    add(&rdb, "g1", "c", NOW - 1).await;
    assert!(smembers(&mut c, GROUPS_KEY).await.contains("g1"));
    let _: () = redis::cmd("SREM")
        .arg(GROUPS_KEY)
        .arg("g1")
        .query_async(&mut c)
        .await
        .expect("SREM");
    assert_eq!(smembers(&mut c, GROUPS_KEY).await, BTreeSet::new());

    let n = rdb
        .reclaim_stale_aggregation_sets(Q, now())
        .await
        .expect("reclaim");
    assert_eq!(n, 2);
    assert_eq!(
        zset(&mut c, GROUP).await,
        vec![
            ("a".into(), NOW - 300),
            ("b".into(), NOW - 299),
            ("c".into(), NOW - 1)
        ]
    );
    assert_eq!(
        zset(&mut c, "asynq:{default}:g:a:b").await,
        vec![("colon".into(), NOW - 300)]
    );
    assert!(!exists(&mut c, &set_key(&stale)).await);
    assert!(!exists(&mut c, &format!("asynq:{{default}}:g:a:b:{colon}")).await);
    // Unlike asynq, the groups are registered again.
    assert_eq!(
        smembers(&mut c, GROUPS_KEY).await,
        BTreeSet::from(["g1".to_string(), "a:b".to_string()])
    );
    // The set whose deadline is ahead stays.
    assert_eq!(
        zset(&mut c, SETS).await,
        vec![(format!("asynq:{{default}}:g:fresh:{fresh}"), NOW + 120)]
    );
    assert_eq!(
        zset(&mut c, &format!("asynq:{{default}}:g:fresh:{fresh}")).await,
        vec![("f".into(), NOW - 300)]
    );
    // Nothing stale is left.
    assert_eq!(
        rdb.reclaim_stale_aggregation_sets(Q, now())
            .await
            .expect("reclaim"),
        0
    );
}

#[tokio::test]
async fn reclaim_of_a_set_whose_tasks_are_all_gone_only_drops_it() {
    let (_s, rdb, mut c) = setup().await;
    add(&rdb, "g1", "a", NOW - 300).await;
    let id = rdb
        .check_group(Q, "g1", limits(0, 0, 1), now() - Duration::from_secs(200))
        .await
        .expect("check")
        .expect("a set");
    let _: () = redis::cmd("DEL")
        .arg("asynq:{default}:t:a")
        .query_async(&mut c)
        .await
        .expect("DEL");
    assert_eq!(
        rdb.reclaim_stale_aggregation_sets(Q, now())
            .await
            .expect("reclaim"),
        1
    );
    assert!(!exists(&mut c, &set_key(&id)).await);
    assert!(!exists(&mut c, GROUP).await);
    assert!(!exists(&mut c, SETS).await);
    assert!(smembers(&mut c, GROUPS_KEY).await.is_empty());
}

#[tokio::test]
async fn group_sizes_skip_empty_groups() {
    let (_s, rdb, mut c) = setup().await;
    add(&rdb, "g1", "a", NOW).await;
    add(&rdb, "g1", "b", NOW).await;
    add(&rdb, "g2", "c", NOW).await;
    let _: () = redis::cmd("SADD")
        .arg(GROUPS_KEY)
        .arg("empty")
        .query_async(&mut c)
        .await
        .expect("SADD");
    let sizes: BTreeMap<String, u64> = rdb
        .group_sizes(Q)
        .await
        .expect("sizes")
        .into_iter()
        .collect();
    assert_eq!(
        sizes,
        BTreeMap::from([("g1".to_string(), 2), ("g2".to_string(), 1)])
    );
    let mut groups = rdb.list_groups(Q).await.expect("groups");
    groups.sort();
    assert_eq!(groups, ["empty", "g1", "g2"]);
}

#[tokio::test]
async fn scripts_stay_in_the_queue_slot_on_a_cluster() {
    let cluster = RedisCluster::start();
    let opt = crate::RedisClusterClientOpt::new(cluster.addrs());
    let rdb = Rdb::new(
        RedisConn::connect(&opt.into()).await.expect("connect"),
        Keys::default(),
    );
    let lock = "asynq:{default}:unique:digest:aaa";
    add_unique(&rdb, "g1", "a", NOW - 300, Some(lock)).await;
    add(&rdb, "g1", "b", NOW - 300).await;
    let l = limits(0, 0, 1);
    let old = now() - Duration::from_secs(200);
    let id = rdb
        .check_group(Q, "g1", l, old)
        .await
        .expect("check")
        .expect("a set");
    assert_eq!(
        rdb.reclaim_stale_aggregation_sets(Q, now())
            .await
            .expect("reclaim"),
        1
    );
    assert_eq!(
        rdb.group_sizes(Q).await.expect("sizes"),
        vec![("g1".to_string(), 2)]
    );
    let id2 = rdb
        .check_group(Q, "g1", l, now())
        .await
        .expect("check")
        .expect("a set");
    assert_ne!(id, id2);
    let set = rdb.read_aggregation_set(Q, "g1", &id2).await.expect("read");
    assert_eq!(set.members.len(), 2);
    let locks = vec![("a".to_string(), lock.to_string())];
    assert_eq!(
        rdb.delete_aggregation_set(Q, "g1", &id2, &locks)
            .await
            .expect("delete"),
        2
    );
    let mut c = cluster.connection().await;
    assert!(!exists(&mut c, lock).await);
    assert!(!exists(&mut c, SETS).await);
    assert!(rdb.list_groups(Q).await.expect("groups").is_empty());
}
