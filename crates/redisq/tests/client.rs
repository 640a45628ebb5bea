//! Client tests against real Redis deployments started for the test: standalone (TCP, TLS,
//! unix socket, ACL user), a 3-master Cluster and a Sentinel group.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use redis::aio::ConnectionLike;
use redisq::{
    Client, Namespace, RedisClientOpt, RedisClusterClientOpt, RedisConnOpt, RedisFailoverClientOpt,
    Task, TaskOption, TaskState, TlsConfig, parse_redis_uri,
};
use redisq_test_support::{RedisCluster, RedisSentinelGroup, RedisServer};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

async fn hgetall(c: &mut impl ConnectionLike, key: &str) -> HashMap<String, Vec<u8>> {
    redis::cmd("HGETALL")
        .arg(key)
        .query_async(c)
        .await
        .expect("HGETALL")
}

/// The behaviour every topology must show; `c` reads Redis directly.
async fn client_behaviour(client: &Client, c: &mut redis::aio::MultiplexedConnection) {
    // Pending, in queue "critical".
    let task = Task::new("email:send", "hello").with_header("trace", "abc");
    let info = client
        .enqueue_with(
            &task,
            [
                TaskOption::queue("critical"),
                TaskOption::task_id("t-pending"),
            ],
        )
        .await
        .expect("enqueue pending");
    assert_eq!(info.state, TaskState::Pending);
    assert_eq!(info.queue, "critical");
    assert_eq!(info.max_retry, 25);
    assert_eq!(info.timeout, Some(Duration::from_secs(1800)));
    assert!(info.next_process_at.is_some());
    let h = hgetall(c, "asynq:{critical}:t:t-pending").await;
    assert_eq!(h["state"], b"pending");
    assert!(h.contains_key("msg") && h.contains_key("pending_since"));
    let pending: Vec<String> = c
        .lrange("asynq:{critical}:pending", 0, -1)
        .await
        .expect("lrange");
    assert_eq!(pending, vec!["t-pending".to_string()]);
    let queues: Vec<String> = c.smembers("asynq:queues").await.expect("smembers");
    assert!(queues.contains(&"critical".to_string()));

    // Scheduled in the future, in another queue (another Cluster slot).
    let at = SystemTime::now() + Duration::from_secs(3600);
    let info = client
        .enqueue_with(
            &Task::new("reminder", "later"),
            [
                TaskOption::queue("low"),
                TaskOption::process_at(at),
                TaskOption::task_id("t-sched"),
            ],
        )
        .await
        .expect("enqueue scheduled");
    assert_eq!(info.state, TaskState::Scheduled);
    assert_eq!(info.next_process_at, Some(at));
    let score: f64 = c
        .zscore("asynq:{low}:scheduled", "t-sched")
        .await
        .expect("zscore");
    assert!((score as i64 - unix_now() - 3600).abs() <= 2);

    // ProcessAt in the past means pending now.
    let info = client
        .enqueue_with(
            &Task::new("reminder", "past"),
            [
                TaskOption::queue("low"),
                TaskOption::process_at(SystemTime::now() - Duration::from_secs(3600)),
            ],
        )
        .await
        .expect("enqueue past");
    assert_eq!(info.state, TaskState::Pending);
    let n: usize = c.llen("asynq:{low}:pending").await.expect("llen");
    assert_eq!(n, 1);

    // Group.
    let info = client
        .enqueue_with(
            &Task::new("digest", "item"),
            [TaskOption::group("g1"), TaskOption::task_id("t-group")],
        )
        .await
        .expect("enqueue group");
    assert_eq!(info.state, TaskState::Aggregating);
    assert_eq!(info.next_process_at, None);
    let groups: Vec<String> = c.smembers("asynq:{default}:groups").await.expect("groups");
    assert_eq!(groups, vec!["g1".to_string()]);
    let h = hgetall(c, "asynq:{default}:t:t-group").await;
    assert_eq!(h["state"], b"aggregating");
    assert_eq!(h["group"], b"g1");

    // Unique: the second equal task is a duplicate; the lock names the first task.
    let report =
        Task::new("report", "mon").with_option(TaskOption::unique(Duration::from_secs(60)));
    let first = client.enqueue(&report).await.expect("unique first");
    let err = client.enqueue(&report).await.expect_err("duplicate");
    assert!(err.is_duplicate_task(), "{err}");
    // The exact checksum is checked by the conformance tests; here the lock is found by prefix.
    let keys: Vec<String> = c_keys(c, "asynq:{default}:unique:report:*").await;
    assert_eq!(keys.len(), 1);
    let owner: String = c.get(&keys[0]).await.expect("lock owner");
    assert_eq!(owner, first.id);
    let ttl: i64 = c.ttl(&keys[0]).await.expect("ttl");
    assert!((58..=60).contains(&ttl), "ttl {ttl}");

    // Same ID twice: conflict, and the first task is untouched.
    let err = client
        .enqueue_with(
            &Task::new("other", "x"),
            [
                TaskOption::queue("critical"),
                TaskOption::task_id("t-pending"),
            ],
        )
        .await
        .expect_err("conflict");
    assert!(err.is_task_id_conflict(), "{err}");

    // Batch: all branches, a duplicate and an invalid task, one result each, in order.
    let batch = vec![
        Task::new("b", "1").with_option(TaskOption::queue("critical")),
        Task::new("b", "2").with_option(TaskOption::process_in(Duration::from_secs(600))),
        Task::new("b", "3").with_option(TaskOption::group("g2")),
        Task::new("b", "4").with_option(TaskOption::unique(Duration::from_secs(60))),
        Task::new("b", "4").with_option(TaskOption::unique(Duration::from_secs(60))),
        Task::new("", "bad"),
        Task::new("b", "6").with_option(TaskOption::queue("batchq")),
    ];
    let results = client.enqueue_batch(&batch, []).await;
    assert_eq!(results.len(), 7);
    assert_eq!(
        results[0].as_ref().map(|i| i.state).ok(),
        Some(TaskState::Pending)
    );
    assert_eq!(
        results[1].as_ref().map(|i| i.state).ok(),
        Some(TaskState::Scheduled)
    );
    assert_eq!(
        results[2].as_ref().map(|i| i.state).ok(),
        Some(TaskState::Aggregating)
    );
    assert_eq!(
        results[3].as_ref().map(|i| i.state).ok(),
        Some(TaskState::Pending)
    );
    assert!(results[4].as_ref().is_err_and(|e| e.is_duplicate_task()));
    assert!(results[5].as_ref().is_err_and(|e| e.is_invalid_option()));
    assert_eq!(
        results[6].as_ref().map(|i| i.queue.as_str()).ok(),
        Some("batchq")
    );
    let queues: Vec<String> = c.smembers("asynq:queues").await.expect("smembers");
    assert!(queues.contains(&"batchq".to_string()));
    let n: usize = c.llen("asynq:{critical}:pending").await.expect("llen");
    assert_eq!(n, 2);

    client.ping().await.expect("ping");
}

async fn c_keys(c: &mut impl ConnectionLike, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(c)
        .await
        .expect("KEYS")
}

#[tokio::test]
async fn standalone() {
    let server = RedisServer::start();
    let client = Client::connect(parse_redis_uri(&server.url()).expect("uri"))
        .await
        .expect("connect");
    let mut c = server.connection().await;
    client_behaviour(&client, &mut c).await;
}

#[tokio::test]
async fn cluster() {
    let cluster = RedisCluster::start();
    let client = Client::connect(RedisClusterClientOpt::new(cluster.addrs()))
        .await
        .expect("connect");
    let mut c = cluster.connection().await;
    client_behaviour_cluster(&client, &mut c).await;
}

/// Cluster variant: the same writes, checked with per-key commands only (KEYS is node-local).
async fn client_behaviour_cluster(
    client: &Client,
    c: &mut redis::cluster_async::ClusterConnection,
) {
    let queues = ["critical", "low", "default", "q-a", "q-b", "q-c"];
    for (i, q) in queues.iter().enumerate() {
        let info = client
            .enqueue_with(
                &Task::new("t", format!("p{i}")),
                [
                    TaskOption::queue(*q),
                    TaskOption::task_id(format!("id-{i}")),
                ],
            )
            .await
            .expect("enqueue");
        assert_eq!(info.state, TaskState::Pending);
        let h = hgetall(c, &format!("asynq:{{{q}}}:t:id-{i}")).await;
        assert_eq!(h["state"], b"pending");
        let n: usize = c
            .llen(format!("asynq:{{{q}}}:pending"))
            .await
            .expect("llen");
        assert_eq!(n, 1);
    }
    let registered: Vec<String> = c.smembers("asynq:queues").await.expect("smembers");
    for q in queues {
        assert!(registered.contains(&q.to_string()), "{q} not registered");
    }
    // Unique and conflicts behave the same on a cluster.
    let t = Task::new("u", "x").with_option(TaskOption::unique(Duration::from_secs(30)));
    client
        .enqueue_with(&t, [TaskOption::queue("q-a")])
        .await
        .expect("unique");
    let err = client
        .enqueue_with(&t, [TaskOption::queue("q-a")])
        .await
        .expect_err("dup");
    assert!(err.is_duplicate_task());
    // The same task in another queue is not a duplicate (locks are per queue).
    client
        .enqueue_with(&t, [TaskOption::queue("q-b")])
        .await
        .expect("other queue");
    let err = client
        .enqueue_with(
            &Task::new("t", "again"),
            [TaskOption::queue("q-c"), TaskOption::task_id("id-5")],
        )
        .await
        .expect_err("conflict");
    assert!(err.is_task_id_conflict());
    // A batch spanning several slots, with scheduled, grouped and unique tasks.
    let batch: Vec<Task> = (0..30)
        .map(|i| {
            let q = queues[i % queues.len()];
            let t = Task::new("batch", format!("{i}")).with_option(TaskOption::queue(q));
            match i % 3 {
                0 => t.with_option(TaskOption::process_in(Duration::from_secs(60))),
                1 => t.with_option(TaskOption::group("g")),
                _ => t.with_option(TaskOption::unique(Duration::from_secs(60))),
            }
        })
        .collect();
    let results = client.enqueue_batch(&batch, []).await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let (mut scheduled, mut grouped, mut pending) = (0, 0, 0);
    for q in queues {
        scheduled += c
            .zcard::<_, usize>(format!("asynq:{{{q}}}:scheduled"))
            .await
            .expect("zcard");
        grouped += c
            .zcard::<_, usize>(format!("asynq:{{{q}}}:g:g"))
            .await
            .expect("zcard");
        pending += c
            .llen::<_, usize>(format!("asynq:{{{q}}}:pending"))
            .await
            .expect("llen");
    }
    assert_eq!((scheduled, grouped), (10, 10));
    // 6 single tasks, 2 unique ones, 10 unique batch tasks.
    assert_eq!(pending, 18);
    client.ping().await.expect("ping");
}

#[tokio::test]
async fn sentinel_and_failover() {
    let group = RedisSentinelGroup::start();
    let opt = RedisFailoverClientOpt::new(group.master_name(), group.sentinel_addrs());
    let client = Client::connect(opt).await.expect("connect");
    let info = client
        .enqueue_with(&Task::new("t", "before"), [TaskOption::task_id("before")])
        .await
        .expect("enqueue");
    assert_eq!(info.state, TaskState::Pending);

    group.failover().await;
    // The first call after the failover may hit the old connection; the client then asks the
    // sentinels again. Within a few attempts the new master takes the write.
    let mut last_err = None;
    for attempt in 0..20 {
        match client
            .enqueue_with(&Task::new("t", "after"), [TaskOption::task_id("after")])
            .await
        {
            Ok(_) => {
                last_err = None;
                break;
            }
            Err(e) if e.is_task_id_conflict() && attempt > 0 => {
                last_err = None;
                break;
            }
            Err(e) => {
                last_err = Some(e);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    assert!(last_err.is_none(), "no write after failover: {last_err:?}");
    let mut c = redis::Client::open(format!("redis://{}", group.master_addr()))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("conn");
    let pending: Vec<String> = c
        .lrange("asynq:{default}:pending", 0, -1)
        .await
        .expect("lrange");
    assert!(pending.contains(&"after".to_string()), "{pending:?}");
    assert!(pending.contains(&"before".to_string()), "{pending:?}");
}

#[tokio::test]
async fn tls_unix_socket_and_acl_user() {
    let tls = RedisServer::builder().tls(true).start();
    let opt = RedisClientOpt::new(&format!("localhost:{}", tls.port()))
        .tls(TlsConfig::new().root_ca_pem(tls.tls_ca_pem().expect("ca")));
    let client = Client::connect(opt).await.expect("tls connect");
    client
        .enqueue(&Task::new("t", "tls"))
        .await
        .expect("enqueue over tls");

    // Without trusting the CA the handshake fails with a connection error.
    let untrusted = RedisClientOpt::new(&format!("localhost:{}", tls.port())).tls(TlsConfig::new());
    let err = Client::connect(untrusted).await.expect_err("untrusted");
    assert!(err.is_redis(), "{err}");

    let unix = RedisServer::builder().unix_socket(true).start();
    let path = unix.unix_socket_path().expect("socket path");
    let uri = format!("redis-socket://{}?db=2", path.display());
    let client = Client::connect(parse_redis_uri(&uri).expect("uri"))
        .await
        .expect("unix");
    client
        .enqueue(&Task::new("t", "unix"))
        .await
        .expect("enqueue over unix");
    let mut c = unix.connection().await;
    let _: () = redis::cmd("SELECT")
        .arg(2)
        .query_async(&mut c)
        .await
        .expect("select");
    let n: usize = c.llen("asynq:{default}:pending").await.expect("llen");
    assert_eq!(n, 1);

    let acl = RedisServer::builder()
        .password("secret")
        .acl_user("worker", "w-pass")
        .start();
    let opt = RedisClientOpt::new(&acl.addr())
        .username("worker")
        .password("w-pass");
    Client::connect(opt)
        .await
        .expect("acl user")
        .enqueue(&Task::new("t", "acl"))
        .await
        .expect("enqueue");
    let wrong = RedisClientOpt::new(&acl.addr())
        .username("worker")
        .password("nope");
    assert!(Client::connect(wrong).await.is_err());
    let uri = format!("redis://:secret@{}/3", acl.addr());
    Client::connect(parse_redis_uri(&uri).expect("uri"))
        .await
        .expect("password uri");
}

#[tokio::test]
async fn invalid_options_write_nothing() {
    let server = RedisServer::start();
    let client = Client::connect(RedisClientOpt::new(&server.addr()))
        .await
        .expect("connect");
    let cases = [
        (Task::new("t", "x"), TaskOption::queue("   ")),
        (Task::new("  ", "x"), TaskOption::max_retry(1)),
        (
            Task::new("t", "x"),
            TaskOption::timeout(Duration::from_millis(500)),
        ),
        (
            Task::new("t", "x"),
            TaskOption::unique(Duration::from_millis(500)),
        ),
        (
            Task::new("t", "x"),
            TaskOption::retention(Duration::from_millis(10)),
        ),
        (Task::new("t", "x"), TaskOption::task_id("")),
        (Task::new("t", "x"), TaskOption::group("")),
    ];
    for (task, opt) in cases {
        let err = client
            .enqueue_with(&task, [opt.clone()])
            .await
            .expect_err("invalid");
        assert!(err.is_invalid_option(), "{opt:?}: {err}");
    }
    let results = client
        .enqueue_batch(&[Task::new("", "x")], [TaskOption::queue("q")])
        .await;
    assert!(results[0].as_ref().is_err_and(|e| e.is_invalid_option()));
    let mut c = server.connection().await;
    let size: usize = redis::cmd("DBSIZE")
        .query_async(&mut c)
        .await
        .expect("dbsize");
    assert_eq!(size, 0, "an invalid enqueue wrote to Redis");
}

#[tokio::test]
async fn scripts_reload_after_script_flush_and_namespace() {
    let server = RedisServer::start();
    let client = Client::builder(RedisClientOpt::new(&server.addr()))
        .namespace(Namespace::new("myapp").expect("namespace"))
        .connect()
        .await
        .expect("connect");
    let mut c = server.connection().await;
    client.enqueue(&Task::new("t", "1")).await.expect("first");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut c)
        .await
        .expect("flush");
    client
        .enqueue(&Task::new("t", "2"))
        .await
        .expect("after flush");
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut c)
        .await
        .expect("flush");
    let results = client
        .enqueue_batch(&[Task::new("t", "3"), Task::new("t", "4")], [])
        .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let n: usize = c.llen("myapp:{default}:pending").await.expect("llen");
    assert_eq!(n, 4);
    let asynq_keys: Vec<String> = c_keys(&mut c, "asynq:*").await;
    assert!(asynq_keys.is_empty(), "{asynq_keys:?}");

    assert!(Namespace::new("").is_err_and(|e| e.is_invalid_option()));
}

#[tokio::test]
async fn closed_client_and_unreachable_redis() {
    let server = RedisServer::start();
    let client = Client::connect(RedisClientOpt::new(&server.addr()))
        .await
        .expect("connect");
    client.close().expect("close");
    assert!(
        client
            .enqueue(&Task::new("t", "x"))
            .await
            .is_err_and(|e| e.is_closed())
    );
    assert!(client.close().is_err());

    let port = redisq_test_support::free_port();
    let err = Client::connect(
        RedisClientOpt::new(&format!("127.0.0.1:{port}")).dial_timeout(Duration::from_secs(1)),
    )
    .await
    .expect_err("nothing listens there");
    assert!(err.is_redis() && err.is_connection(), "{err:?}");
}

#[tokio::test]
async fn redis_going_away_gives_errors_then_recovers() {
    let mut server = RedisServer::start();
    let client = Client::connect(RedisConnOpt::from(RedisClientOpt::new(&server.addr())))
        .await
        .expect("connect");
    client.enqueue(&Task::new("t", "1")).await.expect("enqueue");
    server.stop();
    let err = client
        .enqueue(&Task::new("t", "2"))
        .await
        .expect_err("redis is down");
    assert!(err.is_redis(), "{err}");
    server.restart();
    let mut ok = false;
    for _ in 0..50 {
        if client.enqueue(&Task::new("t", "3")).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the client did not reconnect after Redis came back");
}

/// The batch path (one script call per queue) writes exactly what one enqueue per task
/// writes: same keys, types, hash fields and members; times within 2 s.
#[tokio::test]
async fn batch_enqueue_writes_the_same_data_as_single_enqueues() {
    use redisq_conformance::{DumpValue, dump};

    let hour = Duration::from_secs(3600);
    let tasks = vec![
        Task::new("p", "1").with_option(TaskOption::task_id("p1")),
        Task::new("p", "2")
            .with_header("k", "v")
            .with_options([TaskOption::task_id("p2"), TaskOption::queue("other")]),
        Task::new("s", "1").with_options([TaskOption::task_id("s1"), TaskOption::process_in(hour)]),
        Task::new("s", "2").with_options([
            TaskOption::task_id("s2"),
            TaskOption::process_in(hour),
            TaskOption::group("g"),
        ]),
        Task::new("g", "1").with_options([TaskOption::task_id("g1"), TaskOption::group("g")]),
        Task::new("u", "1").with_options([TaskOption::task_id("u1"), TaskOption::unique(hour)]),
        Task::new("u", "1").with_options([TaskOption::task_id("u2"), TaskOption::unique(hour)]),
        Task::new("u", "2").with_options([
            TaskOption::task_id("u3"),
            TaskOption::unique(hour),
            TaskOption::process_in(hour),
        ]),
        Task::new("u", "3").with_options([
            TaskOption::task_id("u4"),
            TaskOption::unique(hour),
            TaskOption::group("g"),
        ]),
        Task::new("p", "dup").with_option(TaskOption::task_id("p1")),
    ];
    let (single, batch) = (RedisServer::start(), RedisServer::start());
    let one = Client::connect(parse_redis_uri(&single.url()).expect("uri"))
        .await
        .expect("connect");
    let mut single_results = Vec::new();
    for t in &tasks {
        single_results.push(
            one.enqueue(t)
                .await
                .map(|i| i.state)
                .map_err(|e| e.to_string()),
        );
    }
    let many = Client::connect(parse_redis_uri(&batch.url()).expect("uri"))
        .await
        .expect("connect");
    let batch_results: Vec<_> = many
        .enqueue_batch(&tasks, [])
        .await
        .into_iter()
        .map(|r| r.map(|i| i.state).map_err(|e| e.to_string()))
        .collect();
    assert_eq!(single_results, batch_results);
    assert!(batch_results[6].is_err() && batch_results[9].is_err());

    let a = dump(&mut single.connection().await).await;
    let b = dump(&mut batch.connection().await).await;
    let names = |d: &redisq_conformance::Dump| d.keys.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&a), names(&b));
    for (key, ea) in &a.keys {
        let eb = &b.keys[key];
        let k = String::from_utf8_lossy(key);
        assert_eq!(ea.pttl_ms.is_some(), eb.pttl_ms.is_some(), "{k} ttl");
        if let (Some(x), Some(y)) = (ea.pttl_ms, eb.pttl_ms) {
            assert!((x - y).abs() < 2000, "{k} ttl {x} vs {y}");
        }
        match (&ea.value, &eb.value) {
            (DumpValue::Hash(x), DumpValue::Hash(y)) => {
                assert_eq!(
                    x.keys().collect::<Vec<_>>(),
                    y.keys().collect::<Vec<_>>(),
                    "{k}"
                );
                for (f, v) in x {
                    if f.as_slice() != b"pending_since" {
                        assert_eq!(v, &y[f], "{k} field {}", String::from_utf8_lossy(f));
                    }
                }
            }
            (DumpValue::ZSet(x), DumpValue::ZSet(y)) => {
                assert_eq!(x.len(), y.len(), "{k}");
                for ((mx, sx), (my, sy)) in x.iter().zip(y) {
                    assert_eq!(mx, my, "{k}");
                    assert!((sx - sy).abs() <= 2.0, "{k} score");
                }
            }
            (x, y) => assert_eq!(x, y, "{k}"),
        }
    }
}
