//! Server tests on real Redis: stop and shutdown (requeue of unfinished tasks), operator
//! cancellation (decision D6) and the heartbeat's server state and lease extension.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redisq::{Inspector, Server, Task, TaskContext, TaskOption};
use tokio::sync::{Notify, mpsc};

use common::{
    DropProbe, Env, counter, decode_server_info, fast_config, never_finishing, recv, task_hash,
    task_msg, task_state, wait_for_state, wait_until,
};

type Conn = redis::aio::MultiplexedConnection;

async fn lrange(c: &Conn, key: &str) -> Vec<String> {
    redis::cmd("LRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut c.clone())
        .await
        .expect("LRANGE")
}

async fn zscore(c: &Conn, key: &str, member: &str) -> Option<i64> {
    redis::cmd("ZSCORE")
        .arg(key)
        .arg(member)
        .query_async(&mut c.clone())
        .await
        .expect("ZSCORE")
}

async fn zmembers(c: &Conn, key: &str) -> Vec<String> {
    redis::cmd("ZRANGE")
        .arg(key)
        .arg(0)
        .arg(-1)
        .query_async(&mut c.clone())
        .await
        .expect("ZRANGE")
}

#[tokio::test]
async fn shutdown_requeues_a_stuck_task_at_the_front() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(&Task::new("stuck", "x"), [TaskOption::task_id("a")])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, bool)>();
    // Ignores cancellation altogether.
    let handler = never_finishing("dropped", tx);
    let config = fast_config()
        .concurrency(1)
        .shutdown_timeout(Duration::from_secs(1));
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, ("started", false));
    wait_for_state(&c, "default", "a", "active").await;
    // Two more tasks wait behind the stuck one (concurrency 1).
    for id in ["b", "c"] {
        env.client
            .enqueue_with(&Task::new("later", "x"), [TaskOption::task_id(id)])
            .await
            .expect("enqueue");
    }
    server.shutdown().await;
    // The handler was given up on: its future is gone.
    assert_eq!(recv(&mut rx).await, ("dropped", true));
    // Dequeue pops from the right: the requeued task is next in line, before b and c.
    assert_eq!(lrange(&c, "asynq:{default}:pending").await, ["c", "b", "a"]);
    assert!(lrange(&c, "asynq:{default}:active").await.is_empty());
    assert_eq!(zscore(&c, "asynq:{default}:lease", "a").await, None);
    let h = task_hash(&c, "default", "a").await;
    assert_eq!(h.get("state").map(Vec::as_slice), Some(&b"pending"[..]));
    // Decision D9: pending_since is set on every move into pending.
    let since: i64 = String::from_utf8_lossy(h.get("pending_since").expect("pending_since"))
        .parse()
        .expect("unix ns");
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or_default();
    assert!(since > 0 && since <= now_ns, "pending_since {since}");
    let msg = task_msg(&c, "default", "a").await;
    assert_eq!((msg.retried, msg.error_msg.as_str()), (0, ""));
    assert_eq!(counter(&c, "asynq:{default}:processed").await, None);
    assert_eq!(counter(&c, "asynq:{default}:failed").await, None);
}

#[tokio::test]
async fn stop_lets_running_tasks_finish_but_takes_no_new_ones() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(&Task::new("long", "x"), [TaskOption::task_id("running")])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let handler = move |ctx: TaskContext, _task: Task| {
        let (tx, gate) = (tx.clone(), gate.clone());
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            if ctx.task_id() == "running" {
                gate.notified().await;
            }
            Ok(())
        }
    };
    // A second worker slot is free the whole time, so a running server would take "new".
    let server = Server::new(env.opt(), fast_config().concurrency(2))
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, "running");
    server.stop().await;
    env.client
        .enqueue_with(&Task::new("short", "x"), [TaskOption::task_id("new")])
        .await
        .expect("enqueue");
    // The heartbeat reports the stopped status.
    wait_until("ServerInfo says stopped", || async {
        let keys = zmembers(&c, "asynq:servers").await;
        let Some(key) = keys.first() else {
            return false;
        };
        let raw: Option<Vec<u8>> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut c.clone())
            .await
            .expect("GET");
        raw.is_some_and(|r| decode_server_info(&r).status == "stopped")
    })
    .await;
    release.notify_one();
    wait_until("the running task finished", || async {
        task_hash(&c, "default", "running").await.is_empty()
    })
    .await;
    assert_eq!(counter(&c, "asynq:{default}:processed").await, Some(1));
    // Watch for a while (many times the 50 ms poll interval): "new" is not taken.
    for _ in 0..40 {
        assert_eq!(
            task_state(&c, "default", "new").await.as_deref(),
            Some("pending")
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(rx.try_recv().is_err(), "a stopped server ran a new task");
    server.shutdown().await;
    assert_eq!(lrange(&c, "asynq:{default}:pending").await, ["new"]);
}

#[tokio::test]
async fn cancelled_task_is_archived_not_retried() {
    let env = Env::start().await;
    let c = env.conn().await;
    let info = env
        .client
        .enqueue_with(&Task::new("wait", "x"), [TaskOption::max_retry(5)])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, bool)>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(("started", false));
            let _probe = DropProbe {
                label: "dropped",
                ctx: ctx.clone(),
                tx: tx.clone(),
            };
            ctx.cancelled().await;
            Ok(())
        }
    };
    let config = fast_config().retry_delay(|_, _, _| Duration::ZERO);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, ("started", false));
    wait_until("the server subscribed to cancellations", || async {
        let (_, n): (String, i64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg("asynq:cancel")
            .query_async(&mut c.clone())
            .await
            .expect("PUBSUB NUMSUB");
        n >= 1
    })
    .await;
    let inspector = Inspector::connect(env.opt()).await.expect("inspector");
    inspector.cancel_processing(&info.id).await.expect("cancel");
    assert_eq!(recv(&mut rx).await, ("dropped", true));
    wait_for_state(&c, "default", &info.id, "archived").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", &info.id).await;
    assert_eq!(msg.error_msg, "task canceled");
    assert_eq!(msg.retried, 0);
    assert!(rx.try_recv().is_err(), "the cancelled task ran again");
    assert_eq!(
        zscore(&c, "asynq:{default}:retry", &info.id).await,
        None,
        "not retried"
    );
}

#[tokio::test]
async fn heartbeat_publishes_state_and_extends_leases() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(&Task::new("long", "x"), [TaskOption::task_id("hb")])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let release = Arc::new(Notify::new());
    let gate = release.clone();
    let handler = move |ctx: TaskContext, _task: Task| {
        let (tx, gate) = (tx.clone(), gate.clone());
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            gate.notified().await;
            Ok(())
        }
    };
    let config = fast_config()
        .lease_duration(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(300));
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, "hb");
    let first_lease = zscore(&c, "asynq:{default}:lease", "hb")
        .await
        .expect("a lease was taken with the task");

    // The server and its workers are registered under keys carrying the server ID.
    let sid = server.id().to_string();
    let find = |keys: Vec<String>| keys.into_iter().find(|k| k.contains(&sid));
    wait_until("the workers hash lists the task", || async {
        let Some(w) = find(zmembers(&c, "asynq:workers").await) else {
            return false;
        };
        let fields: HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
            .arg(&w)
            .query_async(&mut c.clone())
            .await
            .expect("HGETALL");
        fields.contains_key("hb")
    })
    .await;
    let server_key = find(zmembers(&c, "asynq:servers").await).expect("listed in asynq:servers");
    let workers_key = find(zmembers(&c, "asynq:workers").await).expect("listed in asynq:workers");
    assert!(server_key.starts_with("asynq:servers:{"), "{server_key}");
    assert!(workers_key.starts_with("asynq:workers:{"), "{workers_key}");
    let raw: Vec<u8> = redis::cmd("GET")
        .arg(&server_key)
        .query_async(&mut c.clone())
        .await
        .expect("the ServerInfo string");
    let info = decode_server_info(&raw);
    assert_eq!(info.server_id, sid);
    assert_eq!(info.pid, i64::from(std::process::id()));
    assert_eq!(info.status, "active");
    for key in [&server_key, &workers_key] {
        let ttl: i64 = redis::cmd("TTL")
            .arg(key)
            .query_async(&mut c.clone())
            .await
            .expect("TTL");
        assert!(ttl > 0, "{key} has no TTL ({ttl})");
    }

    // Leases are whole seconds: a beat in a later second pushes the score past the first.
    wait_until("the lease was extended", || async {
        zscore(&c, "asynq:{default}:lease", "hb")
            .await
            .is_some_and(|s| s > first_lease)
    })
    .await;

    release.notify_one();
    wait_until("the task finished", || async {
        task_hash(&c, "default", "hb").await.is_empty()
    })
    .await;
    server.shutdown().await;
    assert!(
        !zmembers(&c, "asynq:servers")
            .await
            .iter()
            .any(|k| k.contains(&sid))
    );
    assert!(
        !zmembers(&c, "asynq:workers")
            .await
            .iter()
            .any(|k| k.contains(&sid))
    );
    let exists: i64 = redis::cmd("EXISTS")
        .arg(&server_key)
        .arg(&workers_key)
        .query_async(&mut c.clone())
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0, "the server's keys are removed at shutdown");
}
