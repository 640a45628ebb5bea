//! `Client::wait` on real Redis: results, archived tasks, timeouts, unknown tasks, tasks that
//! finished before the call, concurrent waiters, Inspector actions, tasks finished without a
//! notification (as a Go server does), a Redis Cluster, and what it costs the completion
//! scripts when nobody waits.

mod common;

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use redisq::{
    Client, HandlerError, Inspector, RedisClusterClientOpt, RedisFailoverClientOpt, Server, Task,
    TaskContext, TaskOption, TaskState,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};

use common::{Env, fast_config, recv, wait_for_state, wait_until};

const HOUR: Duration = Duration::from_secs(3600);
const LONG: Duration = Duration::from_secs(60);

type Conn = redis::aio::MultiplexedConnection;

/// A handler that reports each task it starts, then waits for a permit of `gate`; payload
/// `ok` writes the result `r:<id>` and succeeds, `fail` fails without retry.
fn gated(tx: mpsc::UnboundedSender<String>, gate: Arc<Semaphore>) -> impl redisq::Handler + Clone {
    move |ctx: TaskContext, task: Task| {
        let (tx, gate) = (tx.clone(), gate.clone());
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            gate.acquire().await.expect("gate").forget();
            match task.payload() {
                b"fail" => Err(HandlerError::skip_retry("boom")),
                _ => {
                    let result = format!("r:{}", ctx.task_id());
                    ctx.result_writer().write(result.as_bytes()).await?;
                    Ok(())
                }
            }
        }
    }
}

async fn is_registered(c: &Conn, queue: &str, id: &str) -> bool {
    let score: Option<f64> = c
        .clone()
        .zscore(format!("asynq:{{{queue}}}:redisq:waiters"), id)
        .await
        .expect("ZSCORE");
    score.is_some()
}

/// Spawns `client.wait(queue, id, LONG)`.
fn spawn_wait(
    client: &Client,
    queue: &str,
    id: &str,
) -> tokio::task::JoinHandle<redisq::Result<redisq::TaskInfo>> {
    let (client, queue, id) = (client.clone(), queue.to_string(), id.to_string());
    tokio::spawn(async move { client.wait(&queue, &id, LONG).await })
}

async fn enqueue(client: &Client, id: &str, payload: &str, retention: bool) {
    let mut opts = vec![TaskOption::task_id(id)];
    if retention {
        opts.push(TaskOption::retention(HOUR));
    }
    client
        .enqueue_with(&Task::new("t", payload.to_string()), opts)
        .await
        .expect("enqueue");
}

#[tokio::test]
async fn wait_returns_results_and_archived_errors_from_several_servers() {
    let env = Env::start().await;
    let c = env.conn().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let mut servers = Vec::new();
    for _ in 0..2 {
        let s = Server::new(env.opt(), fast_config()).await.expect("server");
        s.start(gated(tx.clone(), gate.clone()))
            .await
            .expect("start");
        servers.push(s);
    }
    enqueue(&env.client, "kept", "ok", true).await;
    enqueue(&env.client, "failed", "fail", false).await;
    enqueue(&env.client, "dropped", "ok", false).await;
    let mut started = Vec::new();
    for _ in 0..3 {
        started.push(recv(&mut rx).await);
    }
    started.sort();
    assert_eq!(started, ["dropped", "failed", "kept"]);
    // All three are running (blocked); wait for each and let them finish.
    let waits: Vec<_> = ["kept", "failed", "dropped"]
        .into_iter()
        .map(|id| (id, spawn_wait(&env.client, "default", id)))
        .collect();
    for (id, _) in &waits {
        wait_until("wait registered", || is_registered(&c, "default", id)).await;
    }
    gate.add_permits(3);
    for (id, w) in waits {
        let info = w.await.expect("join").expect("wait");
        assert_eq!(info.id, id);
        match id {
            "kept" => {
                assert_eq!(info.state, TaskState::Completed);
                assert_eq!(info.result.as_deref(), Some(&b"r:kept"[..]));
                assert!(info.completed_at.is_some());
            }
            "failed" => {
                assert_eq!(info.state, TaskState::Archived);
                assert!(info.last_err.contains("boom"), "{}", info.last_err);
            }
            _ => {
                // Completed without retention: the hash is gone, the wait still knows.
                assert_eq!(info.state, TaskState::Completed);
                assert_eq!(info.result, None);
                assert_eq!(info.task_type, "t");
                let exists: bool = c.clone().exists("asynq:{default}:t:dropped").await.unwrap();
                assert!(!exists);
            }
        }
    }
    // Completions took the registrations away; nothing is left for later completions.
    let left: bool = c
        .clone()
        .exists("asynq:{default}:redisq:waiters")
        .await
        .unwrap();
    assert!(!left, "the waiters zset should be gone");
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test]
async fn wait_returns_at_once_for_finished_tasks_and_errors_for_unknown_ones() {
    let env = Env::start().await;
    let c = env.conn().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(10));
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(gated(tx, gate)).await.expect("start");
    enqueue(&env.client, "kept", "ok", true).await;
    enqueue(&env.client, "failed", "fail", false).await;
    recv(&mut rx).await;
    recv(&mut rx).await;
    wait_for_state(&c, "default", "kept", "completed").await;
    wait_for_state(&c, "default", "failed", "archived").await;
    // A zero timeout still answers for a finished task: it is read before giving up.
    let info = env
        .client
        .wait("default", "kept", Duration::ZERO)
        .await
        .expect("completed task");
    assert_eq!(info.state, TaskState::Completed);
    assert_eq!(info.result.as_deref(), Some(&b"r:kept"[..]));
    let info = env
        .client
        .wait("default", "failed", LONG)
        .await
        .expect("archived task");
    assert_eq!(info.state, TaskState::Archived);
    // A finished task is not registered.
    assert!(!is_registered(&c, "default", "kept").await);

    let err = env
        .client
        .wait("default", "nope", LONG)
        .await
        .expect_err("unknown task");
    assert!(err.is_task_not_found(), "{err:?}");
    let err = env
        .client
        .wait("no-such-queue", "kept", LONG)
        .await
        .expect_err("unknown queue");
    assert!(err.is_task_not_found(), "{err:?}");
    let err = env
        .client
        .wait("", "kept", LONG)
        .await
        .expect_err("bad queue");
    assert!(err.is_invalid_option(), "{err:?}");
    let err = env
        .client
        .wait("default", "", LONG)
        .await
        .expect_err("empty id");
    assert!(err.is_invalid_option(), "{err:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn wait_times_out_with_a_timeout_error_and_leaves_no_registration() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("t", "later"),
            [TaskOption::task_id("later"), TaskOption::process_in(HOUR)],
        )
        .await
        .expect("enqueue");
    let err = env
        .client
        .wait("default", "later", Duration::from_millis(300))
        .await
        .expect_err("times out");
    assert!(err.is_timeout(), "{err:?}");
    assert_eq!(err.kind(), redisq::ErrorKind::Timeout);
    assert!(!err.is_redis());
    assert!(!err.is_task_not_found());
    assert!(!is_registered(&c, "default", "later").await);
    // The task is untouched.
    let state: Option<String> = c
        .clone()
        .hget("asynq:{default}:t:later", "state")
        .await
        .unwrap();
    assert_eq!(state.as_deref(), Some("scheduled"));
}

#[tokio::test]
async fn concurrent_waiters_on_one_task_all_return() {
    let env = Env::start().await;
    let c = env.conn().await;
    let other = Client::connect(env.opt()).await.expect("second client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(gated(tx, gate.clone())).await.expect("start");
    enqueue(&env.client, "shared", "ok", true).await;
    assert_eq!(recv(&mut rx).await, "shared");
    // Two waits through one client (one subscription) and one through another client.
    let waits = [
        spawn_wait(&env.client, "default", "shared"),
        spawn_wait(&env.client, "default", "shared"),
        spawn_wait(&other, "default", "shared"),
    ];
    // Every waiter reads the task after registering; once all three have subscribed, the
    // finished channel has two subscriber connections (one per client).
    wait_until("both clients subscribed", || async {
        let subs: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("asynq:redisq:finished")
            .query_async(&mut c.clone())
            .await
            .unwrap_or_default();
        subs.first().is_some_and(|(_, n)| *n == 2)
    })
    .await;
    wait_until("registered", || is_registered(&c, "default", "shared")).await;
    gate.add_permits(1);
    for w in waits {
        let info = w.await.expect("join").expect("wait");
        assert_eq!(info.state, TaskState::Completed);
        assert_eq!(info.result.as_deref(), Some(&b"r:shared"[..]));
    }
    server.shutdown().await;
}

#[tokio::test]
async fn inspector_archive_and_delete_end_waits() {
    let env = Env::start().await;
    let c = env.conn().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    for id in ["to-archive", "to-delete"] {
        env.client
            .enqueue_with(
                &Task::new("t", id),
                [TaskOption::task_id(id), TaskOption::process_in(HOUR)],
            )
            .await
            .expect("enqueue");
    }
    let archived = spawn_wait(&env.client, "default", "to-archive");
    let deleted = spawn_wait(&env.client, "default", "to-delete");
    for id in ["to-archive", "to-delete"] {
        wait_until("registered", || is_registered(&c, "default", id)).await;
    }
    insp.archive_task("default", "to-archive")
        .await
        .expect("archive");
    insp.delete_task("default", "to-delete")
        .await
        .expect("delete");
    let info = archived.await.expect("join").expect("archived");
    assert_eq!(info.state, TaskState::Archived);
    let err = deleted.await.expect("join").expect_err("deleted");
    assert!(err.is_task_not_found(), "{err:?}");
}

#[tokio::test]
async fn a_task_finished_without_a_notification_is_found_by_the_safety_recheck() {
    // What a Go asynq server does: complete the task without publishing anything.
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("t", "go"),
            [TaskOption::task_id("go"), TaskOption::process_in(HOUR)],
        )
        .await
        .expect("enqueue");
    let w = spawn_wait(&env.client, "default", "go");
    wait_until("registered", || is_registered(&c, "default", "go")).await;
    let _: () = redis::pipe()
        .atomic()
        .zrem("asynq:{default}:scheduled", "go")
        .zadd("asynq:{default}:completed", "go", 1)
        .hset("asynq:{default}:t:go", "state", "completed")
        .query_async(&mut c.clone())
        .await
        .expect("complete by hand");
    let info = w.await.expect("join").expect("found by the re-check");
    assert_eq!(info.state, TaskState::Completed);
}

#[tokio::test]
async fn wait_on_a_cluster() {
    let cluster = redisq_test_support::RedisCluster::start();
    let opt = RedisClusterClientOpt::new(cluster.addrs());
    let client = Client::connect(opt.clone()).await.expect("client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let queues = ["alpha", "beta", "gamma"];
    let config = fast_config().concurrency(4).queues(queues.map(|q| (q, 1)));
    let server = Server::new(opt.clone(), config).await.expect("server");
    server.start(gated(tx, gate.clone())).await.expect("start");
    let mut c = cluster.connection().await;
    let mut waits = Vec::new();
    for q in queues {
        let id = format!("{q}-task");
        client
            .enqueue_with(
                &Task::new("t", "ok"),
                [
                    TaskOption::queue(q),
                    TaskOption::task_id(&id),
                    TaskOption::retention(HOUR),
                ],
            )
            .await
            .expect("enqueue");
        waits.push((id.clone(), spawn_wait(&client, q, &id)));
    }
    for _ in queues {
        recv(&mut rx).await;
    }
    for (q, (id, _)) in queues.iter().zip(&waits) {
        wait_until("registered", || {
            let mut c = c.clone();
            let key = format!("asynq:{{{q}}}:redisq:waiters");
            let id = id.clone();
            async move {
                let s: Option<f64> = c.zscore(key, id).await.expect("ZSCORE");
                s.is_some()
            }
        })
        .await;
    }
    gate.add_permits(queues.len());
    for (id, w) in waits {
        let info = w.await.expect("join").expect("wait");
        assert_eq!(info.state, TaskState::Completed);
        assert_eq!(info.result.as_deref(), Some(format!("r:{id}").as_bytes()));
    }
    let _: () = c.ping().await.expect("ping");
    server.shutdown().await;
}

#[tokio::test]
async fn wait_through_sentinel() {
    let group = redisq_test_support::RedisSentinelGroup::start();
    let opt = RedisFailoverClientOpt::new(group.master_name(), group.sentinel_addrs());
    let client = Client::connect(opt.clone()).await.expect("client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let server = Server::new(opt.clone(), fast_config())
        .await
        .expect("server");
    server.start(gated(tx, gate.clone())).await.expect("start");
    enqueue(&client, "s", "ok", true).await;
    assert_eq!(recv(&mut rx).await, "s");
    let w = spawn_wait(&client, "default", "s");
    let insp = Inspector::connect(opt).await.expect("inspector");
    let master = redis::Client::open(format!("redis://{}", group.master_addr()))
        .expect("master")
        .get_multiplexed_async_connection()
        .await
        .expect("master connection");
    wait_until("registered", || is_registered(&master, "default", "s")).await;
    gate.add_permits(1);
    let info = w.await.expect("join").expect("wait");
    assert_eq!(info.state, TaskState::Completed);
    assert_eq!(info.result.as_deref(), Some(&b"r:s"[..]));
    assert_eq!(
        insp.task_info("default", "s").await.expect("info").state,
        TaskState::Completed
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_subscription_comes_back_after_its_connection_is_killed() {
    let env = Env::start().await;
    let c = env.conn().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    for id in ["first", "second"] {
        env.client
            .enqueue_with(
                &Task::new("t", id),
                [TaskOption::task_id(id), TaskOption::process_in(HOUR)],
            )
            .await
            .expect("enqueue");
    }
    let numsub = || async {
        let subs: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("asynq:redisq:finished")
            .query_async(&mut c.clone())
            .await
            .expect("NUMSUB");
        subs.first().map_or(0, |(_, n)| *n)
    };
    let first = spawn_wait(&env.client, "default", "first");
    let second = spawn_wait(&env.client, "default", "second");
    wait_until("registered", || is_registered(&c, "default", "first")).await;
    wait_until("registered", || is_registered(&c, "default", "second")).await;
    assert_eq!(numsub().await, 1, "one subscription for the client's waits");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut c.clone())
        .await
        .expect("CLIENT KILL");
    assert_eq!(killed, 1);
    // Archived while the subscription may be down: the waiter still learns it (from the
    // notification, or from the re-check that follows every resubscription).
    insp.archive_task("default", "first")
        .await
        .expect("archive");
    let info = first.await.expect("join").expect("first");
    assert_eq!(info.state, TaskState::Archived);
    wait_until("subscribed again", || async { numsub().await == 1 }).await;
    insp.archive_task("default", "second")
        .await
        .expect("archive");
    let info = second.await.expect("join").expect("second");
    assert_eq!(info.state, TaskState::Archived);
}

#[tokio::test]
async fn wait_reports_an_unreachable_redis_instead_of_hanging() {
    let mut redis = redisq_test_support::RedisServer::start();
    let env = Env::with_server(&redis).await;
    redis.stop();
    let err = env
        .client
        .wait("default", "any", HOUR)
        .await
        .expect_err("Redis is down");
    assert!(err.is_redis(), "{err:?}");
    assert_ne!(
        err.kind(),
        redisq::ErrorKind::Timeout,
        "not a timeout of the wait"
    );
}

/// Reads `MONITOR` lines on a raw connection until one contains `marker`.
struct Monitor {
    lines: tokio::io::Lines<BufReader<tokio::net::TcpStream>>,
}

impl Monitor {
    async fn start(addr: &str) -> Monitor {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"MONITOR\r\n").await.expect("MONITOR");
        let mut lines = BufReader::new(stream).lines();
        let ok = lines.next_line().await.expect("read").expect("reply");
        assert_eq!(ok, "+OK");
        Monitor { lines }
    }

    /// Every line up to the `ECHO` of `marker` sent on `c`, except script loads.
    async fn until_marker(&mut self, c: &Conn, marker: &str) -> Vec<String> {
        let _: String = redis::cmd("ECHO")
            .arg(marker)
            .query_async(&mut c.clone())
            .await
            .expect("ECHO");
        let mut out = Vec::new();
        loop {
            let line = tokio::time::timeout(LONG, self.lines.next_line())
                .await
                .expect("monitor output")
                .expect("read")
                .expect("line");
            if line.contains(marker) {
                return out;
            }
            // Loading a script shows its text, which names the keys it may touch.
            if !line.contains("\"SCRIPT\" \"LOAD\"") {
                out.push(line);
            }
        }
    }
}

#[tokio::test]
async fn completions_publish_nothing_when_nobody_waits() {
    let env = Env::start().await;
    let c = env.conn().await;
    let addr = env.redis().expect("own redis").addr();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let config = fast_config().concurrency(4);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(gated(tx, gate.clone())).await.expect("start");
    // Nobody waits: batched and single completions, retention, and an archive.
    let mut monitor = Monitor::start(&addr).await;
    enqueue(&env.client, "a", "ok", false).await;
    enqueue(&env.client, "b", "ok", true).await;
    enqueue(&env.client, "c", "fail", false).await;
    for _ in 0..3 {
        recv(&mut rx).await;
    }
    gate.add_permits(3);
    wait_for_state(&c, "default", "b", "completed").await;
    wait_for_state(&c, "default", "c", "archived").await;
    wait_until("a done", || async {
        !c.clone()
            .exists::<_, bool>("asynq:{default}:t:a")
            .await
            .unwrap()
    })
    .await;
    let quiet = monitor.until_marker(&c, "end-of-quiet").await;
    let touches = |lines: &[String], what: &str| {
        lines
            .iter()
            .filter(|l| l.contains(what))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert!(
        touches(&quiet, "redisq:finished").is_empty(),
        "no publish, no marker: {:?}",
        touches(&quiet, "redisq:finished")
    );
    // The only waiter-related commands are the lookups (ZSCORE/EXISTS), read-only; that
    // they show up proves MONITOR saw the completion scripts run.
    let lookups = touches(&quiet, "redisq:waiters");
    assert!(lookups.len() >= 3, "{lookups:?}");
    for line in lookups {
        let upper = line.to_uppercase();
        assert!(
            upper.contains("\"ZSCORE\"") || upper.contains("\"EXISTS\""),
            "unexpected waiter command: {line}"
        );
    }
    // With a waiter, the same completion publishes (the check above can see it).
    enqueue(&env.client, "d", "ok", false).await;
    recv(&mut rx).await;
    let w = spawn_wait(&env.client, "default", "d");
    wait_until("registered", || is_registered(&c, "default", "d")).await;
    gate.add_permits(1);
    let info = w.await.expect("join").expect("wait");
    assert_eq!(info.state, TaskState::Completed);
    let busy = monitor.until_marker(&c, "end-of-busy").await;
    let publishes: Vec<_> = busy
        .iter()
        .filter(|l| l.to_uppercase().contains("\"PUBLISH\"") && l.contains("redisq:finished"))
        .collect();
    assert_eq!(publishes.len(), 1, "{publishes:?}");
    server.shutdown().await;
}
