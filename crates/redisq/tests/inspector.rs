//! Inspector tests on a real Redis: every operation with tasks in every state, checking both
//! what the Inspector returns and what is in Redis afterwards.
//!
//! Tasks are seeded through the Client, through a running Server (to get completed,
//! archived, retry and active tasks the way they really come about), or written as raw keys
//! (asynq's layout, spec §3) where exact scores or large numbers are needed.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::MultiplexedConnection;
use redisq::{
    HandlerError, Inspector, ListOptions, Namespace, ServeMux, Server, Task, TaskContext, TaskInfo,
    TaskOption, TaskState,
};
use redisq_test_support::RedisServer;
use tokio::sync::Semaphore;

use common::{Env, decode_task_msg, fast_config, task_hash, unix_now, wait_for_state, wait_until};

const HOUR: Duration = Duration::from_secs(3600);
const DAY: i64 = 24 * 3600;

async fn inspector(env: &Env) -> Inspector {
    Inspector::connect(env.opt()).await.expect("inspector")
}

// ---------------------------------------------------------------------------------------------
// Raw Redis helpers

async fn q<T: redis::FromRedisValue>(c: &MultiplexedConnection, args: &[&dyn ToArg]) -> T {
    let mut cmd = redis::cmd(&args[0].to_arg());
    for a in &args[1..] {
        cmd.arg(a.to_arg());
    }
    cmd.query_async(&mut c.clone())
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", args[0].to_arg()))
}

trait ToArg {
    fn to_arg(&self) -> String;
}
impl ToArg for &str {
    fn to_arg(&self) -> String {
        (*self).to_string()
    }
}
impl ToArg for String {
    fn to_arg(&self) -> String {
        self.clone()
    }
}
impl ToArg for i64 {
    fn to_arg(&self) -> String {
        self.to_string()
    }
}

async fn keys(c: &MultiplexedConnection, pattern: &str) -> Vec<String> {
    let mut k: Vec<String> = q(c, &[&"KEYS", &pattern]).await;
    k.sort();
    k
}

async fn exists(c: &MultiplexedConnection, key: &str) -> bool {
    q::<i64>(c, &[&"EXISTS", &key]).await == 1
}

async fn lrange(c: &MultiplexedConnection, key: &str) -> Vec<String> {
    q(c, &[&"LRANGE", &key, &0i64, &-1i64]).await
}

async fn zrange(c: &MultiplexedConnection, key: &str) -> Vec<(String, i64)> {
    let v: Vec<(String, f64)> = q(c, &[&"ZRANGE", &key, &0i64, &-1i64, &"WITHSCORES"]).await;
    v.into_iter().map(|(m, s)| (m, s as i64)).collect()
}

async fn smembers(c: &MultiplexedConnection, key: &str) -> Vec<String> {
    let mut v: Vec<String> = q(c, &[&"SMEMBERS", &key]).await;
    v.sort();
    v
}

async fn hget(c: &MultiplexedConnection, key: &str, field: &str) -> Option<String> {
    q(c, &[&"HGET", &key, &field]).await
}

fn tkey(queue: &str, id: &str) -> String {
    format!("asynq:{{{queue}}}:t:{id}")
}

fn qkey(queue: &str, suffix: &str) -> String {
    format!("asynq:{{{queue}}}:{suffix}")
}

fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() as i64
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos() as i64
}

fn assert_near(t: Option<SystemTime>, expected_secs: i64, what: &str) {
    let t = t.unwrap_or_else(|| panic!("{what}: no time"));
    let d = secs(t) - expected_secs;
    assert!(d.abs() <= 2, "{what}: {} vs {expected_secs}", secs(t));
}

/// A minimal protobuf writer for asynq's TaskMessage (the test crate has no prost).
#[derive(Clone, Debug, Default)]
struct Msg {
    task_type: String,
    payload: Vec<u8>,
    id: String,
    queue: String,
    retry: i64,
    retried: i64,
    error_msg: String,
    timeout: i64,
    unique_key: String,
    last_failed_at: i64,
    retention: i64,
    completed_at: i64,
    group_key: String,
}

fn put_varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_bytes(buf: &mut Vec<u8>, field: u64, data: &[u8]) {
    if !data.is_empty() {
        put_varint(buf, field << 3 | 2);
        put_varint(buf, data.len() as u64);
        buf.extend_from_slice(data);
    }
}

fn put_int(buf: &mut Vec<u8>, field: u64, v: i64) {
    if v != 0 {
        put_varint(buf, field << 3);
        put_varint(buf, v as u64);
    }
}

impl Msg {
    fn new(queue: &str, id: &str) -> Msg {
        Msg {
            task_type: "job".into(),
            payload: format!("payload of {id}").into_bytes(),
            id: id.into(),
            queue: queue.into(),
            retry: 25,
            timeout: 1800,
            ..Msg::default()
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut b = Vec::new();
        put_bytes(&mut b, 1, self.task_type.as_bytes());
        put_bytes(&mut b, 2, &self.payload);
        put_bytes(&mut b, 3, self.id.as_bytes());
        put_bytes(&mut b, 4, self.queue.as_bytes());
        put_int(&mut b, 5, self.retry);
        put_int(&mut b, 6, self.retried);
        put_bytes(&mut b, 7, self.error_msg.as_bytes());
        put_int(&mut b, 8, self.timeout);
        put_bytes(&mut b, 10, self.unique_key.as_bytes());
        put_int(&mut b, 11, self.last_failed_at);
        put_int(&mut b, 12, self.retention);
        put_int(&mut b, 13, self.completed_at);
        put_bytes(&mut b, 14, self.group_key.as_bytes());
        b
    }
}

/// Where a raw task goes.
#[derive(Clone, Copy, Debug)]
enum At<'a> {
    Pending,
    Active(Option<i64>),
    Scheduled(i64),
    Retry(i64),
    Archived(i64),
    Completed(i64),
    Group(&'a str, i64),
}

/// Writes a task in asynq's layout: the hash (msg, state, and for unique tasks the lock and
/// its `unique_key` field) and its container entry; registers the queue.
fn seed_cmds(pipe: &mut redis::Pipeline, msg: &Msg, at: At<'_>) {
    let (queue, id) = (msg.queue.as_str(), msg.id.as_str());
    let key = tkey(queue, id);
    let state = match at {
        At::Pending => "pending",
        At::Active(_) => "active",
        At::Scheduled(_) => "scheduled",
        At::Retry(_) => "retry",
        At::Archived(_) => "archived",
        At::Completed(_) => "completed",
        At::Group(..) => "aggregating",
    };
    let hset = pipe
        .cmd("HSET")
        .arg(&key)
        .arg("msg")
        .arg(msg.encode())
        .arg("state")
        .arg(state);
    if !msg.unique_key.is_empty() {
        hset.arg("unique_key").arg(&msg.unique_key);
    }
    if let At::Group(g, _) = at {
        hset.arg("group").arg(g);
    }
    if let At::Pending = at {
        hset.arg("pending_since").arg(now_ns());
    }
    hset.ignore();
    if !msg.unique_key.is_empty() {
        pipe.cmd("SET")
            .arg(&msg.unique_key)
            .arg(id)
            .arg("EX")
            .arg(3600)
            .ignore();
    }
    match at {
        At::Pending => {
            pipe.cmd("LPUSH")
                .arg(qkey(queue, "pending"))
                .arg(id)
                .ignore();
        }
        At::Active(lease) => {
            pipe.cmd("LPUSH")
                .arg(qkey(queue, "active"))
                .arg(id)
                .ignore();
            if let Some(l) = lease {
                pipe.cmd("ZADD")
                    .arg(qkey(queue, "lease"))
                    .arg(l)
                    .arg(id)
                    .ignore();
            }
        }
        At::Scheduled(s) | At::Retry(s) | At::Archived(s) | At::Completed(s) => {
            pipe.cmd("ZADD")
                .arg(qkey(queue, state))
                .arg(s)
                .arg(id)
                .ignore();
        }
        At::Group(g, s) => {
            pipe.cmd("ZADD")
                .arg(qkey(queue, &format!("g:{g}")))
                .arg(s)
                .arg(id)
                .ignore();
            pipe.cmd("SADD").arg(qkey(queue, "groups")).arg(g).ignore();
        }
    }
    pipe.cmd("SADD").arg("asynq:queues").arg(queue).ignore();
}

async fn seed(c: &MultiplexedConnection, msg: &Msg, at: At<'_>) {
    let mut pipe = redis::pipe();
    seed_cmds(&mut pipe, msg, at);
    pipe.query_async::<()>(&mut c.clone()).await.expect("seed");
}

/// Seeds many tasks in one round trip.
async fn seed_many(c: &MultiplexedConnection, tasks: &[(Msg, At<'_>)]) {
    for chunk in tasks.chunks(2000) {
        let mut pipe = redis::pipe();
        for (m, at) in chunk {
            seed_cmds(&mut pipe, m, *at);
        }
        pipe.query_async::<()>(&mut c.clone()).await.expect("seed");
    }
}

fn unique(msg: Msg) -> Msg {
    let lock = qkey(&msg.queue, &format!("unique:{}:{}", msg.task_type, msg.id));
    Msg {
        unique_key: lock,
        ..msg
    }
}

fn ids(tasks: &[TaskInfo]) -> Vec<&str> {
    tasks.iter().map(|t| t.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Every state, brought about by a real server

#[tokio::test]
async fn queue_info_listing_and_task_info_over_every_state() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let release = Arc::new(Semaphore::new(0));
    let mut mux = ServeMux::new();
    mux.handle("ok", |ctx: TaskContext, _t: Task| async move {
        ctx.result_writer().write(b"done").await.expect("result");
        Ok(())
    });
    mux.handle("fail", |_ctx: TaskContext, _t: Task| async move {
        Err(HandlerError::msg("boom"))
    });
    let gate = release.clone();
    mux.handle("block", move |_ctx: TaskContext, _t: Task| {
        let gate = gate.clone();
        async move {
            let _permit = gate.acquire().await.expect("gate");
            Ok(())
        }
    });
    let enqueue = |task: Task, opts: Vec<TaskOption>| {
        let client = env.client.clone();
        async move { client.enqueue_with(&task, opts).await.expect("enqueue") }
    };
    enqueue(
        Task::new("ok", "c"),
        vec![
            TaskOption::retention(HOUR),
            TaskOption::task_id("t-completed"),
        ],
    )
    .await;
    enqueue(
        Task::new("fail", "a"),
        vec![TaskOption::max_retry(0), TaskOption::task_id("t-archived")],
    )
    .await;
    enqueue(
        Task::new("fail", "r"),
        vec![TaskOption::max_retry(3), TaskOption::task_id("t-retry")],
    )
    .await;
    enqueue(
        Task::new("block", "b"),
        vec![TaskOption::task_id("t-active")],
    )
    .await;
    let server = Server::new(
        env.opt(),
        fast_config()
            .concurrency(4)
            .retry_delay(|_, _, _| Duration::from_secs(3600)),
    )
    .await
    .expect("server");
    server.start(mux).await.expect("start");
    for (id, state) in [
        ("t-completed", "completed"),
        ("t-archived", "archived"),
        ("t-retry", "retry"),
        ("t-active", "active"),
    ] {
        wait_for_state(&c, "default", id, state).await;
    }
    // Paused: what is enqueued from now on stays where it is.
    insp.pause_queue("default").await.expect("pause");
    let now = unix_now();
    enqueue(
        Task::new("echo", "p1"),
        vec![TaskOption::task_id("t-pending1")],
    )
    .await;
    enqueue(
        Task::new("echo", "p2"),
        vec![TaskOption::task_id("t-pending2"), TaskOption::unique(HOUR)],
    )
    .await;
    enqueue(
        Task::new("echo", "s"),
        vec![
            TaskOption::task_id("t-scheduled"),
            TaskOption::process_in(HOUR),
        ],
    )
    .await;
    for (id, group) in [("t-agg1", "g1"), ("t-agg2", "g1"), ("t-agg3", "g2")] {
        enqueue(
            Task::new("digest", id.to_string()),
            vec![TaskOption::task_id(id), TaskOption::group(group)],
        )
        .await;
    }

    let info = insp.queue_info("default").await.expect("queue info");
    assert_eq!(info.queue, "default");
    assert_eq!(
        (
            info.pending,
            info.active,
            info.scheduled,
            info.retry,
            info.archived,
            info.completed,
            info.aggregating,
            info.groups,
        ),
        (2, 1, 1, 1, 1, 1, 3, 2)
    );
    assert_eq!(info.size, 10);
    // ok succeeded, fail failed twice (once archived, once retried): 3 processed, 2 failed.
    assert_eq!((info.processed, info.failed), (3, 2));
    assert_eq!((info.processed_total, info.failed_total), (3, 2));
    assert!(info.paused);
    assert!(info.latency < Duration::from_secs(5), "{:?}", info.latency);
    assert!(
        info.memory_usage.is_some_and(|m| m > 1000),
        "{:?}",
        info.memory_usage
    );
    assert!((secs(info.timestamp) - unix_now()).abs() <= 2);

    assert_eq!(insp.queues().await.expect("queues"), ["default"]);
    let groups = insp.groups("default").await.expect("groups");
    assert_eq!(
        groups
            .iter()
            .map(|g| (g.group.as_str(), g.size))
            .collect::<Vec<_>>(),
        [("g1", 2), ("g2", 1)]
    );

    let opts = ListOptions::new();
    let pending = insp
        .list_pending_tasks("default", opts)
        .await
        .expect("pending");
    assert_eq!(ids(&pending), ["t-pending1", "t-pending2"]);
    for t in &pending {
        assert_eq!(t.state, TaskState::Pending);
        assert_near(t.next_process_at, unix_now(), "pending next");
    }
    let active = insp
        .list_active_tasks("default", opts)
        .await
        .expect("active");
    assert_eq!(ids(&active), ["t-active"]);
    assert!(
        !active[0].is_orphaned,
        "its lease is extended by the server"
    );
    assert_eq!(active[0].next_process_at, None);
    let scheduled = insp
        .list_scheduled_tasks("default", opts)
        .await
        .expect("scheduled");
    assert_eq!(ids(&scheduled), ["t-scheduled"]);
    assert_near(scheduled[0].next_process_at, now + 3600, "scheduled next");
    let retry = insp.list_retry_tasks("default", opts).await.expect("retry");
    assert_eq!(ids(&retry), ["t-retry"]);
    assert_eq!((retry[0].retried, retry[0].max_retry), (1, 3));
    assert_eq!(retry[0].last_err, "boom");
    assert_near(retry[0].last_failed_at, now, "retry failed at");
    assert_near(retry[0].next_process_at, now + 3600, "retry next");
    let archived = insp
        .list_archived_tasks("default", opts)
        .await
        .expect("archived");
    assert_eq!(ids(&archived), ["t-archived"]);
    assert_eq!(archived[0].last_err, "boom");
    assert_eq!(archived[0].next_process_at, None);
    let completed = insp
        .list_completed_tasks("default", opts)
        .await
        .expect("completed");
    assert_eq!(ids(&completed), ["t-completed"]);
    assert_eq!(completed[0].result.as_deref(), Some(&b"done"[..]));
    assert_eq!(completed[0].retention, Some(HOUR));
    assert_near(completed[0].completed_at, now, "completed at");
    assert_eq!(completed[0].next_process_at, None);
    let g1 = insp
        .list_aggregating_tasks("default", "g1", opts)
        .await
        .expect("aggregating");
    assert_eq!(ids(&g1), ["t-agg1", "t-agg2"]);
    assert!(g1.iter().all(|t| t.state == TaskState::Aggregating
        && t.group.as_deref() == Some("g1")
        && t.next_process_at.is_none()));

    // task_info agrees with the listings (its next time for pending tasks is "now").
    for listed in pending
        .iter()
        .chain(&active)
        .chain(&scheduled)
        .chain(&retry)
        .chain(&archived)
        .chain(&completed)
        .chain(&g1)
    {
        let mut info = insp
            .task_info("default", &listed.id)
            .await
            .expect("task info");
        assert!(!info.is_orphaned);
        info.is_orphaned = listed.is_orphaned;
        if info.state == TaskState::Pending {
            assert_near(info.next_process_at, unix_now(), "task info pending next");
            info.next_process_at = listed.next_process_at;
        }
        assert_eq!(&info, listed);
    }
    let err = insp
        .task_info("default", "nope")
        .await
        .expect_err("missing");
    assert!(err.is_task_not_found(), "{err:?}");
    assert_eq!(err.to_string(), "task not found");
    let err = insp
        .task_info("nowhere", "t-active")
        .await
        .expect_err("queue");
    assert!(err.is_queue_not_found(), "{err:?}");
    assert_eq!(err.to_string(), "queue not found");
    for err in [
        insp.queue_info("nowhere").await.map(|_| ()),
        insp.groups("nowhere").await.map(|_| ()),
        insp.list_pending_tasks("nowhere", opts).await.map(|_| ()),
        insp.list_archived_tasks("nowhere", opts).await.map(|_| ()),
        insp.history("nowhere", 1).await.map(|_| ()),
    ] {
        assert!(err.expect_err("unknown queue").is_queue_not_found());
    }

    release.add_permits(1);
    insp.unpause_queue("default").await.expect("unpause");
    wait_until("pending tasks processed", || async {
        insp.queue_info("default")
            .await
            .is_ok_and(|i| i.pending == 0 && i.active == 0)
    })
    .await;
    server.shutdown().await;
}

#[tokio::test]
async fn active_tasks_without_a_live_lease_are_orphaned() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    seed(
        &c,
        &Msg::new("default", "expired"),
        At::Active(Some(now - 10)),
    )
    .await;
    seed(&c, &Msg::new("default", "live"), At::Active(Some(now + 30))).await;
    seed(&c, &Msg::new("default", "no-lease"), At::Active(None)).await;
    let active = insp
        .list_active_tasks("default", ListOptions::new())
        .await
        .expect("active");
    let orphaned: Vec<(&str, bool)> = active
        .iter()
        .map(|t| (t.id.as_str(), t.is_orphaned))
        .collect();
    // Oldest first; D5: no lease at all also means nobody extends it.
    assert_eq!(
        orphaned,
        [("expired", true), ("live", false), ("no-lease", true)]
    );
    let info = insp.task_info("default", "expired").await.expect("info");
    assert!(
        !info.is_orphaned,
        "task_info does not report orphans (as asynq)"
    );
}

#[tokio::test]
async fn listings_are_paged_in_processing_order() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    for i in 0..7 {
        env.client
            .enqueue_with(
                &Task::new("echo", format!("{i}")),
                [TaskOption::task_id(format!("p{i}"))],
            )
            .await
            .expect("enqueue");
    }
    let page = |n: usize, size: usize| ListOptions::new().page(n).page_size(size);
    let list = |o: ListOptions| {
        let insp = insp.clone();
        async move {
            let t = insp.list_pending_tasks("default", o).await.expect("list");
            t.into_iter().map(|t| t.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(list(page(1, 3)).await, ["p0", "p1", "p2"]);
    assert_eq!(list(page(2, 3)).await, ["p3", "p4", "p5"]);
    assert_eq!(list(page(3, 3)).await, ["p6"]);
    assert!(list(page(4, 3)).await.is_empty());
    assert_eq!(list(page(0, 2)).await, ["p0", "p1"], "page 0 is page 1");
    assert!(
        list(page(1, 0)).await.is_empty(),
        "page size 0 lists nothing"
    );
    assert_eq!(list(ListOptions::default()).await.len(), 7);
    // The order is the processing order: the next task to be dequeued comes first.
    assert_eq!(
        lrange(&c, &qkey("default", "pending"))
            .await
            .last()
            .map(String::as_str),
        Some("p0")
    );

    // Zsets ascend by score, whatever the insertion order.
    let now = unix_now();
    for (id, offset) in [("s-late", 300), ("s-early", 100), ("s-mid", 200)] {
        seed(&c, &Msg::new("default", id), At::Scheduled(now + offset)).await;
        seed(&c, &Msg::new("default", id), At::Retry(now + offset)).await;
        seed(
            &c,
            &Msg::new("default", id),
            At::Archived(now - 1000 + offset),
        )
        .await;
        seed(&c, &Msg::new("default", id), At::Completed(now + offset)).await;
        seed(
            &c,
            &Msg::new("default", id),
            At::Group("g", now - 1000 + offset),
        )
        .await;
    }
    let order = ["s-early", "s-mid", "s-late"];
    let o = ListOptions::new();
    assert_eq!(
        ids(&insp.list_scheduled_tasks("default", o).await.expect("s")),
        order
    );
    assert_eq!(
        ids(&insp.list_retry_tasks("default", o).await.expect("r")),
        order
    );
    assert_eq!(
        ids(&insp.list_archived_tasks("default", o).await.expect("a")),
        order
    );
    assert_eq!(
        ids(&insp.list_completed_tasks("default", o).await.expect("c")),
        order
    );
    assert_eq!(
        ids(&insp
            .list_aggregating_tasks("default", "g", o)
            .await
            .expect("g")),
        order
    );
    let second = insp
        .list_scheduled_tasks("default", ListOptions::new().page(2).page_size(2))
        .await
        .expect("page 2");
    assert_eq!(ids(&second), ["s-late"]);
    assert_near(second[0].next_process_at, now + 300, "score");
    // A dangling ID (its hash is gone) is skipped.
    redis::cmd("DEL")
        .arg(tkey("default", "s-mid"))
        .query_async::<()>(&mut c.clone())
        .await
        .expect("del");
    assert_eq!(
        ids(&insp.list_scheduled_tasks("default", o).await.expect("s")),
        ["s-early", "s-late"]
    );
    assert!(
        insp.list_aggregating_tasks("default", "nogroup", o)
            .await
            .expect("empty group")
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------------
// Single-task actions

#[tokio::test]
async fn run_task_moves_every_runnable_state_to_pending() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let lock_holder = unique(Msg::new("default", "sched"));
    seed(&c, &lock_holder, At::Scheduled(now + 600)).await;
    seed(&c, &Msg::new("default", "retry"), At::Retry(now + 600)).await;
    seed(&c, &Msg::new("default", "arch"), At::Archived(now - 60)).await;
    seed(&c, &Msg::new("default", "done"), At::Completed(now + 600)).await;
    seed(&c, &Msg::new("default", "agg1"), At::Group("g1", now)).await;
    seed(&c, &Msg::new("default", "agg2"), At::Group("g1", now)).await;
    seed(&c, &Msg::new("default", "act"), At::Active(Some(now + 30))).await;
    seed(&c, &Msg::new("default", "pend"), At::Pending).await;

    let before = now_ns();
    for id in ["sched", "retry", "arch", "done", "agg1"] {
        insp.run_task("default", id).await.expect(id);
        let h = task_hash(&c, "default", id).await;
        assert_eq!(h["state"], b"pending", "{id}");
        let since: i64 = String::from_utf8_lossy(&h["pending_since"])
            .parse()
            .expect("ns");
        assert!(
            since >= before && since <= now_ns(),
            "D9: pending_since of {id}"
        );
    }
    assert_eq!(
        lrange(&c, &qkey("default", "pending")).await,
        ["agg1", "done", "arch", "retry", "sched", "pend"]
    );
    for state in ["scheduled", "retry", "archived", "completed"] {
        assert!(
            !exists(&c, &qkey("default", state)).await,
            "{state} emptied"
        );
    }
    assert_eq!(zrange(&c, &qkey("default", "g:g1")).await.len(), 1);
    assert_eq!(smembers(&c, &qkey("default", "groups")).await, ["g1"]);
    insp.run_task("default", "agg2")
        .await
        .expect("last of group");
    assert!(!exists(&c, &qkey("default", "g:g1")).await);
    assert!(
        !exists(&c, &qkey("default", "groups")).await,
        "empty group unregistered"
    );
    assert!(
        exists(&c, &lock_holder.unique_key).await,
        "run keeps the lock (asynq)"
    );

    let err = insp.run_task("default", "pend").await.expect_err("pending");
    assert!(err.is_failed_precondition());
    assert_eq!(err.to_string(), "task is already in pending state");
    let err = insp.run_task("default", "act").await.expect_err("active");
    assert!(err.is_failed_precondition());
    assert_eq!(err.to_string(), "task is already running");
    let err = insp.run_task("default", "nope").await.expect_err("missing");
    assert!(err.is_task_not_found());
    let err = insp.run_task("other", "pend").await.expect_err("queue");
    assert!(err.is_queue_not_found());
}

#[tokio::test]
async fn archive_task_moves_every_archivable_state() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let u = unique(Msg::new("default", "pend"));
    seed(&c, &u, At::Pending).await;
    seed(&c, &Msg::new("default", "sched"), At::Scheduled(now + 600)).await;
    seed(&c, &Msg::new("default", "retry"), At::Retry(now + 600)).await;
    seed(&c, &Msg::new("default", "done"), At::Completed(now + 600)).await;
    seed(&c, &Msg::new("default", "agg"), At::Group("g1", now)).await;
    seed(&c, &Msg::new("default", "act"), At::Active(Some(now + 30))).await;

    for id in ["pend", "sched", "retry", "done", "agg"] {
        insp.archive_task("default", id).await.expect(id);
        assert_eq!(
            hget(&c, &tkey("default", id), "state").await.as_deref(),
            Some("archived")
        );
    }
    let archived = zrange(&c, &qkey("default", "archived")).await;
    assert_eq!(archived.len(), 5);
    assert!(archived.iter().all(|(_, s)| (s - now).abs() <= 2));
    for key in [
        "pending",
        "scheduled",
        "retry",
        "completed",
        "g:g1",
        "groups",
    ] {
        assert!(!exists(&c, &qkey("default", key)).await, "{key} emptied");
    }
    assert_eq!(
        hget(&c, &tkey("default", "agg"), "group").await.as_deref(),
        Some("g1"),
        "the group field stays (asynq)"
    );
    assert!(
        exists(&c, &u.unique_key).await,
        "archive keeps the lock (asynq)"
    );

    let err = insp
        .archive_task("default", "pend")
        .await
        .expect_err("again");
    assert!(err.is_failed_precondition());
    assert_eq!(
        err.to_string(),
        "task is already archived: id=pend, queue=default"
    );
    let err = insp
        .archive_task("default", "act")
        .await
        .expect_err("active");
    assert!(err.is_failed_precondition());
    assert!(err.to_string().contains("active"));
    assert!(
        insp.archive_task("default", "nope")
            .await
            .expect_err("x")
            .is_task_not_found()
    );
    assert!(
        insp.archive_task("zz", "pend")
            .await
            .expect_err("x")
            .is_queue_not_found()
    );
}

/// Decision D2: every archive path trims the archive to 10 000 tasks and 90 days and deletes
/// the hashes of the trimmed tasks.
#[tokio::test]
async fn archiving_trims_the_archive_and_deletes_trimmed_hashes() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let mut tasks: Vec<(Msg, At<'_>)> = (0..10_000)
        .map(|i| {
            (
                Msg::new("default", &format!("a{i:05}")),
                At::Archived(now - 20_000 + i),
            )
        })
        .collect();
    tasks.push((Msg::new("default", "ancient"), At::Archived(now - 91 * DAY)));
    for i in 0..3 {
        tasks.push((Msg::new("default", &format!("p{i}")), At::Pending));
    }
    tasks.push((Msg::new("default", "s"), At::Scheduled(now + 60)));
    seed_many(&c, &tasks).await;

    insp.archive_task("default", "s").await.expect("archive");
    assert_eq!(
        q::<i64>(&c, &[&"ZCARD", &qkey("default", "archived")]).await,
        10_000
    );
    assert!(
        !exists(&c, &tkey("default", "ancient")).await,
        "older than 90 days"
    );
    // 10 000 seeded + 1: the oldest of the seeded ones goes.
    assert!(!exists(&c, &tkey("default", "a00000")).await);
    assert!(exists(&c, &tkey("default", "a00001")).await);
    assert_eq!(
        hget(&c, &tkey("default", "s"), "state").await.as_deref(),
        Some("archived")
    );

    assert_eq!(
        insp.archive_all_pending_tasks("default")
            .await
            .expect("all"),
        3
    );
    assert_eq!(
        q::<i64>(&c, &[&"ZCARD", &qkey("default", "archived")]).await,
        10_000
    );
    for id in ["a00001", "a00002", "a00003"] {
        assert!(
            !exists(&c, &tkey("default", id)).await,
            "{id} trimmed with its hash"
        );
    }
    assert!(exists(&c, &tkey("default", "a00004")).await);
    let hashes = keys(&c, "asynq:{default}:t:*").await.len();
    assert_eq!(hashes, 10_000, "no orphaned hashes");
}

#[tokio::test]
async fn delete_task_releases_the_unique_lock_it_owns() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let hour = TaskOption::unique(HOUR);
    env.client
        .enqueue_with(
            &Task::new("u", "pending"),
            [hour.clone(), TaskOption::task_id("up")],
        )
        .await
        .expect("enqueue");
    env.client
        .enqueue_with(
            &Task::new("u", "sched"),
            [
                hour.clone(),
                TaskOption::task_id("us"),
                TaskOption::process_in(HOUR),
            ],
        )
        .await
        .expect("enqueue");
    // D4: a grouped unique task records its lock in the hash, so deleting it releases it.
    env.client
        .enqueue_with(
            &Task::new("u", "grouped"),
            [
                hour.clone(),
                TaskOption::task_id("ug"),
                TaskOption::group("g"),
            ],
        )
        .await
        .expect("enqueue");
    let retry = unique(Msg::new("default", "ur"));
    seed(&c, &retry, At::Retry(now + 60)).await;
    let archived = unique(Msg::new("default", "ua"));
    seed(&c, &archived, At::Archived(now)).await;
    let completed = unique(Msg::new("default", "uc"));
    seed(&c, &completed, At::Completed(now + 60)).await;
    // A lock now held by another task is not released.
    let stolen = unique(Msg::new("default", "stolen"));
    seed(&c, &stolen, At::Scheduled(now + 60)).await;
    redis::cmd("SET")
        .arg(&stolen.unique_key)
        .arg("someone-else")
        .query_async::<()>(&mut c.clone())
        .await
        .expect("set");
    seed(&c, &Msg::new("default", "act"), At::Active(Some(now + 30))).await;

    let locks_before = keys(&c, "asynq:{default}:unique:*").await;
    assert_eq!(locks_before.len(), 7);
    for id in ["up", "us", "ug", "ur", "ua", "uc", "stolen"] {
        insp.delete_task("default", id).await.expect(id);
        assert!(!exists(&c, &tkey("default", id)).await, "{id} deleted");
    }
    assert_eq!(
        keys(&c, "asynq:{default}:unique:*").await,
        std::slice::from_ref(&stolen.unique_key),
        "every owned lock released"
    );
    for key in [
        "pending",
        "scheduled",
        "retry",
        "archived",
        "completed",
        "g:g",
        "groups",
    ] {
        assert!(!exists(&c, &qkey("default", key)).await, "{key} emptied");
    }
    let err = insp
        .delete_task("default", "act")
        .await
        .expect_err("active");
    assert!(err.is_failed_precondition());
    assert!(exists(&c, &tkey("default", "act")).await);
    let err = insp.delete_task("default", "up").await.expect_err("again");
    assert!(err.is_task_not_found());
    assert_eq!(err.to_string(), "task not found");
    assert!(
        insp.delete_task("zz", "act")
            .await
            .expect_err("q")
            .is_queue_not_found()
    );
}

#[tokio::test]
async fn update_task_payload_of_scheduled_tasks_only() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let t = env
        .client
        .enqueue_with(
            &Task::new("echo", "old").with_header("k", "v"),
            [
                TaskOption::process_in(HOUR),
                TaskOption::unique(HOUR),
                TaskOption::max_retry(4),
                TaskOption::task_id("s"),
            ],
        )
        .await
        .expect("enqueue");
    env.client
        .enqueue_with(&Task::new("echo", "p"), [TaskOption::task_id("p")])
        .await
        .expect("enqueue");
    let lock_before = hget(&c, &tkey("default", "s"), "unique_key")
        .await
        .expect("lock");

    insp.update_task_payload("default", "s", b"new")
        .await
        .expect("update");
    let info = insp.task_info("default", "s").await.expect("info");
    assert_eq!(&info.payload[..], b"new");
    assert_eq!(info.max_retry, 4);
    assert_eq!(info.headers.get("k").map(String::as_str), Some("v"));
    assert_eq!(info.state, TaskState::Scheduled);
    assert_eq!(info.next_process_at.map(secs), t.next_process_at.map(secs));
    let raw: Vec<u8> = q(&c, &[&"HGET", &tkey("default", "s"), &"msg"]).await;
    let msg = decode_task_msg(&raw);
    assert_eq!(msg.id, "s");
    // The unique key (of the old payload) stays in the message, the hash and Redis.
    assert!(String::from_utf8_lossy(&raw).contains(&lock_before));
    assert_eq!(
        hget(&c, &tkey("default", "s"), "unique_key")
            .await
            .as_deref(),
        Some(lock_before.as_str())
    );
    assert!(exists(&c, &lock_before).await);

    let err = insp
        .update_task_payload("default", "p", b"x")
        .await
        .expect_err("pending");
    assert!(err.is_failed_precondition());
    assert_eq!(
        err.to_string(),
        "cannot update task that is not in scheduled state."
    );
    let err = insp
        .update_task_payload("default", "x", b"x")
        .await
        .expect_err("missing");
    assert!(err.is_task_not_found());
    let err = insp
        .update_task_payload("zz", "s", b"x")
        .await
        .expect_err("queue");
    assert!(err.is_queue_not_found());
}

// ---------------------------------------------------------------------------------------------
// Bulk actions

/// 2 500 tasks per container: more than one batch (1 000) per call.
const MANY: usize = 2_500;

#[tokio::test]
async fn bulk_actions_work_through_large_sets_in_batches() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let tasks: Vec<(Msg, At<'_>)> = (0..MANY)
        .map(|i| {
            let m = Msg::new("default", &format!("s{i:04}"));
            // Every tenth task is unique.
            let m = if i % 10 == 0 { unique(m) } else { m };
            (m, At::Scheduled(now + 10_000 - i as i64))
        })
        .collect();
    seed_many(&c, &tasks).await;
    // A dangling ID without a hash is dropped, not counted.
    redis::cmd("ZADD")
        .arg(qkey("default", "scheduled"))
        .arg(now)
        .arg("ghost")
        .query_async::<()>(&mut c.clone())
        .await
        .expect("zadd");

    let before = now_ns();
    assert_eq!(
        insp.run_all_scheduled_tasks("default").await.expect("run"),
        MANY
    );
    assert!(!exists(&c, &qkey("default", "scheduled")).await);
    let pending = lrange(&c, &qkey("default", "pending")).await;
    assert_eq!(pending.len(), MANY);
    // Lowest score first: the right end (next to be dequeued) is the earliest due task.
    assert_eq!(pending.last().map(String::as_str), Some("s2499"));
    assert_eq!(pending.first().map(String::as_str), Some("s0000"));
    let h = task_hash(&c, "default", "s1234").await;
    assert_eq!(h["state"], b"pending");
    let since: i64 = String::from_utf8_lossy(&h["pending_since"])
        .parse()
        .expect("ns");
    assert!(since >= before, "D9");

    assert_eq!(
        insp.archive_all_pending_tasks("default")
            .await
            .expect("archive"),
        MANY
    );
    assert!(!exists(&c, &qkey("default", "pending")).await);
    assert_eq!(zrange(&c, &qkey("default", "archived")).await.len(), MANY);
    assert_eq!(
        hget(&c, &tkey("default", "s0001"), "state")
            .await
            .as_deref(),
        Some("archived")
    );
    assert_eq!(keys(&c, "asynq:{default}:unique:*").await.len(), MANY / 10);

    assert_eq!(
        insp.run_all_archived_tasks("default").await.expect("run"),
        MANY
    );
    assert_eq!(
        insp.delete_all_pending_tasks("default")
            .await
            .expect("delete"),
        MANY
    );
    assert!(
        keys(&c, "asynq:{default}:*").await.is_empty(),
        "hashes and locks gone"
    );
    assert_eq!(
        smembers(&c, "asynq:queues").await,
        ["default"],
        "the queue stays registered"
    );
}

#[tokio::test]
async fn bulk_actions_on_every_state() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let mut tasks = Vec::new();
    for i in 0..3 {
        tasks.push((unique(Msg::new("default", &format!("p{i}"))), At::Pending));
        tasks.push((
            unique(Msg::new("default", &format!("s{i}"))),
            At::Scheduled(now + 60),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("r{i}"))),
            At::Retry(now + 60),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("a{i}"))),
            At::Archived(now),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("c{i}"))),
            At::Completed(now + 60),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("g{i}"))),
            At::Group("g1", now),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("h{i}"))),
            At::Group("g2", now),
        ));
    }
    tasks.push((Msg::new("default", "act"), At::Active(Some(now + 30))));
    seed_many(&c, &tasks).await;
    let states = |prefix: &'static str| {
        let c = c.clone();
        async move {
            let mut out = Vec::new();
            for i in 0..3 {
                out.push(hget(&c, &tkey("default", &format!("{prefix}{i}")), "state").await);
            }
            out
        }
    };
    let all = |s: &str| vec![Some(s.to_string()); 3];

    // Archive all of: scheduled, retry, aggregating (g1).
    assert_eq!(
        insp.archive_all_scheduled_tasks("default")
            .await
            .expect("as"),
        3
    );
    assert_eq!(
        insp.archive_all_retry_tasks("default").await.expect("ar"),
        3
    );
    assert_eq!(
        insp.archive_all_aggregating_tasks("default", "g1")
            .await
            .expect("ag"),
        3
    );
    for p in ["s", "r", "g"] {
        assert_eq!(states(p).await, all("archived"), "{p}");
    }
    assert_eq!(smembers(&c, &qkey("default", "groups")).await, ["g2"]);
    assert_eq!(zrange(&c, &qkey("default", "archived")).await.len(), 12);
    // Locks survive archiving (asynq).
    assert_eq!(keys(&c, "asynq:{default}:unique:*").await.len(), 21);

    // Run all of: retry (empty now), archived, aggregating (g2).
    assert_eq!(insp.run_all_retry_tasks("default").await.expect("rr"), 0);
    assert_eq!(
        insp.run_all_aggregating_tasks("default", "g2")
            .await
            .expect("rg"),
        3
    );
    assert_eq!(states("h").await, all("pending"));
    assert!(
        !exists(&c, &qkey("default", "groups")).await,
        "no group left"
    );
    assert_eq!(
        insp.run_all_archived_tasks("default").await.expect("ra"),
        12
    );
    assert_eq!(lrange(&c, &qkey("default", "pending")).await.len(), 18);

    // Delete all of every state, releasing the locks.
    tasks.clear();
    for i in 0..2 {
        tasks.push((
            unique(Msg::new("default", &format!("x{i}"))),
            At::Scheduled(now + 60),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("y{i}"))),
            At::Retry(now + 60),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("z{i}"))),
            At::Archived(now),
        ));
        tasks.push((
            unique(Msg::new("default", &format!("k{i}"))),
            At::Group("g3", now),
        ));
    }
    seed_many(&c, &tasks).await;
    assert_eq!(
        insp.delete_all_completed_tasks("default")
            .await
            .expect("dc"),
        3
    );
    assert_eq!(
        insp.delete_all_scheduled_tasks("default")
            .await
            .expect("ds"),
        2
    );
    assert_eq!(insp.delete_all_retry_tasks("default").await.expect("dr"), 2);
    assert_eq!(
        insp.delete_all_archived_tasks("default").await.expect("da"),
        2
    );
    assert_eq!(
        insp.delete_all_aggregating_tasks("default", "g3")
            .await
            .expect("dg"),
        2
    );
    assert!(!exists(&c, &qkey("default", "groups")).await);
    // Unlike asynq, deleting pending tasks releases their locks too.
    assert_eq!(
        insp.delete_all_pending_tasks("default").await.expect("dp"),
        18
    );
    assert_eq!(
        keys(&c, "asynq:{default}:*").await,
        [
            qkey("default", "active"),
            qkey("default", "lease"),
            tkey("default", "act")
        ],
        "only the active task is left"
    );
    for err in [
        insp.delete_all_pending_tasks("zz").await,
        insp.run_all_scheduled_tasks("zz").await,
        insp.archive_all_retry_tasks("zz").await,
        insp.delete_all_aggregating_tasks("zz", "g").await,
    ] {
        assert!(err.expect_err("unknown queue").is_queue_not_found());
    }
}

// ---------------------------------------------------------------------------------------------
// Queues

#[tokio::test]
async fn pause_and_unpause() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    insp.pause_queue("default").await.expect("pause");
    let paused: i64 = q(&c, &[&"GET", &qkey("default", "paused")]).await;
    assert!((paused - unix_now()).abs() <= 2);
    assert_eq!(
        q::<i64>(&c, &[&"TTL", &qkey("default", "paused")]).await,
        -1
    );
    let err = insp.pause_queue("default").await.expect_err("again");
    assert!(err.is_failed_precondition());
    assert_eq!(err.to_string(), r#"queue "default" is already paused"#);
    insp.unpause_queue("default").await.expect("unpause");
    assert!(!exists(&c, &qkey("default", "paused")).await);
    let err = insp.unpause_queue("default").await.expect_err("again");
    assert!(err.is_failed_precondition());
    assert_eq!(err.to_string(), r#"queue "default" is not paused"#);
}

#[tokio::test]
async fn history_is_newest_first() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    env.client
        .enqueue(&Task::new("x", "y"))
        .await
        .expect("enqueue");
    let today = unix_now().div_euclid(DAY) * DAY;
    let date = |days_ago: i64| {
        let t = UNIX_EPOCH + Duration::from_secs((today - days_ago * DAY) as u64);
        chrono_free_date(t)
    };
    let mut pipe = redis::pipe();
    for (ago, p, f) in [(0, 5, 1), (1, 7, 0), (3, 2, 2)] {
        pipe.cmd("SET")
            .arg(qkey("default", &format!("processed:{}", date(ago))))
            .arg(p)
            .ignore();
        if f > 0 {
            pipe.cmd("SET")
                .arg(qkey("default", &format!("failed:{}", date(ago))))
                .arg(f)
                .ignore();
        }
    }
    pipe.query_async::<()>(&mut c.clone())
        .await
        .expect("counters");
    let h = insp.history("default", 4).await.expect("history");
    let got: Vec<(u64, u64, i64)> = h
        .iter()
        .map(|d| (d.processed, d.failed, secs(d.date)))
        .collect();
    assert_eq!(
        got,
        [
            (5, 1, today),
            (7, 0, today - DAY),
            (0, 0, today - 2 * DAY),
            (2, 2, today - 3 * DAY)
        ]
    );
    assert!(h.iter().all(|d| d.queue == "default"));
    assert!(
        insp.history("default", 0)
            .await
            .expect_err("0")
            .is_invalid_option()
    );
    assert!(
        insp.history("default", usize::MAX)
            .await
            .expect_err("too many")
            .is_invalid_option()
    );
    let info = insp.queue_info("default").await.expect("info");
    assert_eq!((info.processed, info.failed), (5, 1), "today's counters");
}

/// `YYYY-MM-DD` of a UTC time, computed without chrono (days from the civil calendar).
fn chrono_free_date(t: SystemTime) -> String {
    let days = secs(t).div_euclid(DAY);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Seeds a queue with something of everything: tasks in every state (some unique), groups,
/// an aggregation set, a lease, counters (total and daily) and the paused flag.
async fn seed_full_queue(c: &MultiplexedConnection, queue: &str, with_active: bool) {
    let now = unix_now();
    let mut tasks = vec![
        (unique(Msg::new(queue, "p")), At::Pending),
        (unique(Msg::new(queue, "s")), At::Scheduled(now + 60)),
        (Msg::new(queue, "r"), At::Retry(now + 60)),
        (Msg::new(queue, "a"), At::Archived(now)),
        (Msg::new(queue, "c"), At::Completed(now + 60)),
        (unique(Msg::new(queue, "g1a")), At::Group("g1", now)),
        (Msg::new(queue, "g2a"), At::Group("g2", now)),
        (Msg::new(queue, "agg-member"), At::Group("g3", now)),
    ];
    if with_active {
        tasks.push((Msg::new(queue, "act"), At::Active(Some(now + 30))));
    }
    seed_many(c, &tasks).await;
    // Move the g3 member into an aggregation set, as the aggregator does.
    let set = qkey(queue, "g:g3:0f8fad5b-d9cb-469f-a165-70867728950e");
    let mut pipe = redis::pipe();
    pipe.cmd("ZREM")
        .arg(qkey(queue, "g:g3"))
        .arg("agg-member")
        .ignore();
    pipe.cmd("SREM")
        .arg(qkey(queue, "groups"))
        .arg("g3")
        .ignore();
    pipe.cmd("ZADD")
        .arg(&set)
        .arg(now)
        .arg("agg-member")
        .ignore();
    pipe.cmd("ZADD")
        .arg(qkey(queue, "aggregation_sets"))
        .arg(now + 120)
        .arg(&set)
        .ignore();
    // A stray lease entry (its task is gone), counters and the paused flag.
    pipe.cmd("ZADD")
        .arg(qkey(queue, "lease"))
        .arg(now)
        .arg("gone")
        .ignore();
    pipe.cmd("SET")
        .arg(qkey(queue, "processed"))
        .arg(10)
        .ignore();
    pipe.cmd("SET").arg(qkey(queue, "failed")).arg(3).ignore();
    let today = UNIX_EPOCH + Duration::from_secs(now as u64);
    let month_ago = UNIX_EPOCH + Duration::from_secs((now - 30 * DAY) as u64);
    for t in [today, month_ago] {
        for counter in ["processed", "failed"] {
            pipe.cmd("SET")
                .arg(qkey(queue, &format!("{counter}:{}", chrono_free_date(t))))
                .arg(1)
                .arg("EX")
                .arg(90 * DAY)
                .ignore();
        }
    }
    pipe.cmd("SET").arg(qkey(queue, "paused")).arg(now).ignore();
    // Keys no container refers to: a task hash leaked by Go asynq's inspector archive trims
    // (asynq #730) and the lock of a task that is gone.
    pipe.cmd("HSET")
        .arg(tkey(queue, "leaked"))
        .arg("msg")
        .arg(Msg::new(queue, "leaked").encode())
        .arg("state")
        .arg("archived")
        .ignore();
    pipe.cmd("SET")
        .arg(qkey(queue, "unique:job:gone"))
        .arg("gone")
        .arg("EX")
        .arg(600)
        .ignore();
    pipe.query_async::<()>(&mut c.clone()).await.expect("seed");
}

#[tokio::test]
async fn delete_queue_removes_everything_of_the_queue() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    seed_full_queue(&c, "doomed", false).await;
    seed_full_queue(&c, "kept", true).await;
    let kept_before = keys(&c, "asynq:{kept}:*").await;
    let doomed_before = keys(&c, "asynq:{doomed}:*").await;
    assert!(doomed_before.len() > 20, "{doomed_before:?}");

    let err = insp
        .delete_queue("doomed", false)
        .await
        .expect_err("not empty");
    assert!(err.is_queue_not_empty());
    assert_eq!(err.to_string(), r#"queue is not empty: queue="doomed""#);
    assert_eq!(
        keys(&c, "asynq:{doomed}:*").await,
        doomed_before,
        "nothing deleted"
    );
    let err = insp.delete_queue("kept", true).await.expect_err("active");
    assert!(err.is_failed_precondition());
    assert_eq!(err.to_string(), "cannot remove queue with active tasks");
    assert_eq!(
        keys(&c, "asynq:{kept}:*").await,
        kept_before,
        "nothing deleted"
    );

    insp.delete_queue("doomed", true).await.expect("force");
    assert!(
        keys(&c, "asynq:{doomed}:*").await.is_empty(),
        "D8: everything is gone"
    );
    assert_eq!(smembers(&c, "asynq:queues").await, ["kept"]);
    assert_eq!(
        keys(&c, "asynq:{kept}:*").await,
        kept_before,
        "other queues untouched"
    );
    assert!(
        insp.queue_info("doomed")
            .await
            .expect_err("gone")
            .is_queue_not_found()
    );
    assert!(
        insp.delete_queue("doomed", true)
            .await
            .expect_err("gone")
            .is_queue_not_found()
    );

    // Without force: completed tasks count as tasks (they would be deleted too).
    env.client
        .enqueue_with(&Task::new("x", "y"), [TaskOption::queue("fresh")])
        .await
        .expect("enqueue");
    redis::pipe()
        .cmd("DEL")
        .arg(qkey("fresh", "pending"))
        .cmd("ZADD")
        .arg(qkey("fresh", "completed"))
        .arg(unix_now() + 60)
        .arg("some-id")
        .query_async::<()>(&mut c.clone())
        .await
        .expect("completed only");
    let err = insp
        .delete_queue("fresh", false)
        .await
        .expect_err("completed");
    assert!(err.is_queue_not_empty());
    // A queue with no task left but counters and a paused flag is empty.
    redis::pipe()
        .cmd("DEL")
        .arg(qkey("fresh", "completed"))
        .cmd("SET")
        .arg(qkey("fresh", "processed"))
        .arg(4)
        .cmd("SET")
        .arg(qkey("fresh", "paused"))
        .arg(1)
        .query_async::<()>(&mut c.clone())
        .await
        .expect("counters only");
    insp.delete_queue("fresh", false)
        .await
        .expect("empty queue");
    assert!(keys(&c, "asynq:{fresh}:*").await.is_empty());
    assert_eq!(insp.queues().await.expect("queues"), ["kept"]);
}

#[tokio::test]
async fn delete_queue_in_batches() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let now = unix_now();
    let mut tasks = Vec::new();
    for i in 0..MANY {
        let m = unique(Msg::new("big", &format!("t{i}")));
        let at = match i % 4 {
            0 => At::Pending,
            1 => At::Archived(now),
            2 => At::Completed(now + 60),
            _ => At::Group("g", now),
        };
        tasks.push((m, at));
    }
    seed_many(&c, &tasks).await;
    assert_eq!(keys(&c, "asynq:{big}:*").await.len(), 2 * MANY + 5);
    // Without force, nothing happens.
    assert!(
        insp.delete_queue("big", false)
            .await
            .expect_err("x")
            .is_queue_not_empty()
    );
    insp.delete_queue("big", true).await.expect("delete");
    assert!(keys(&c, "asynq:{big}:*").await.is_empty());
    assert!(smembers(&c, "asynq:queues").await.is_empty());
}

#[tokio::test]
async fn memory_usage_degrades_when_memory_is_unavailable() {
    let server = RedisServer::builder()
        .extra_args(["--rename-command", "MEMORY", ""])
        .start();
    let env = Env::with_server(&server).await;
    let insp = inspector(&env).await;
    env.client
        .enqueue(&Task::new("x", "y"))
        .await
        .expect("enqueue");
    let info = insp.queue_info("default").await.expect("info");
    assert_eq!(info.memory_usage, None);
    assert_eq!((info.pending, info.size), (1, 1));
}

#[tokio::test]
async fn namespaces_are_separate() {
    let env = Env::start().await;
    let other =
        Inspector::connect_with_namespace(env.opt(), Namespace::new("myapp").expect("namespace"))
            .await
            .expect("inspector");
    env.client
        .enqueue(&Task::new("x", "y"))
        .await
        .expect("enqueue");
    assert!(other.queues().await.expect("queues").is_empty());
    assert!(
        other
            .queue_info("default")
            .await
            .expect_err("x")
            .is_queue_not_found()
    );
    assert!(
        Namespace::new("a{b}")
            .expect_err("bad namespace")
            .is_invalid_option()
    );
}

#[tokio::test]
async fn cluster_commands_fail_clearly_on_a_standalone_server() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let err = insp
        .cluster_key_slot("default")
        .await
        .expect_err("standalone");
    assert!(err.is_redis());
    assert!(err.to_string().contains("Cluster"), "{err}");
    assert!(
        insp.cluster_nodes("default")
            .await
            .expect_err("x")
            .is_redis()
    );
}

// ---------------------------------------------------------------------------------------------
// Servers and schedulers

fn vectors() -> serde_json::Value {
    let path = redisq_conformance::conformance_dir().join("proto-vectors.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("json")
}

fn vector(v: &serde_json::Value, name: &str) -> Vec<u8> {
    let case = v["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    let hex = case["hex"].as_str().expect("hex");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

fn at(seconds: i64, nanos: u32) -> SystemTime {
    UNIX_EPOCH + Duration::new(seconds as u64, nanos)
}

#[tokio::test]
async fn servers_and_their_workers() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let v = vectors();
    let now = unix_now();
    // A server written by Go asynq (golden bytes), with one worker.
    let sid = "0e8a7c2e-5f0b-4d7e-9a55-3c1f2b6d8e90";
    let go_server = format!("asynq:servers:{{worker-1:4242:{sid}}}");
    let go_workers = format!("asynq:workers:{{worker-1:4242:{sid}}}");
    let stale = "asynq:servers:{gone:1:x}".to_string();
    let garbage = "asynq:servers:{bad:1:x}".to_string();
    redis::pipe()
        .cmd("SET")
        .arg(&go_server)
        .arg(vector(&v, "server_info_typical"))
        .cmd("HSET")
        .arg(&go_workers)
        .arg("task-k")
        .arg(vector(&v, "worker_info_typical"))
        .cmd("SET")
        .arg(&garbage)
        .arg(&b"\xff\xff\xff"[..])
        .cmd("ZADD")
        .arg("asynq:servers")
        .arg(now + 10)
        .arg(&go_server)
        .arg(now - 100)
        .arg(&stale)
        .arg(now + 10)
        .arg(&garbage)
        .cmd("ZADD")
        .arg("asynq:workers")
        .arg(now + 10)
        .arg(&go_workers)
        .arg(now - 100)
        .arg("asynq:workers:{gone:1:x}")
        .query_async::<()>(&mut c.clone())
        .await
        .expect("seed");

    // And a running redisq server processing one task.
    let release = Arc::new(Semaphore::new(0));
    let gate = release.clone();
    let handler = move |_ctx: TaskContext, _t: Task| {
        let gate = gate.clone();
        async move {
            let _p = gate.acquire().await.expect("gate");
            Ok(())
        }
    };
    env.client
        .enqueue_with(
            &Task::new("block", "payload"),
            [
                TaskOption::task_id("busy"),
                TaskOption::timeout(Duration::from_secs(60)),
            ],
        )
        .await
        .expect("enqueue");
    let server = Server::new(
        env.opt(),
        fast_config()
            .concurrency(3)
            .queues([("default", 2), ("low", 1)]),
    )
    .await
    .expect("server");
    server.start(handler).await.expect("start");
    wait_for_state(&c, "default", "busy", "active").await;
    wait_until("the heartbeat reports the active worker", || async {
        insp.servers()
            .await
            .expect("servers")
            .iter()
            .any(|s| s.id == server.id() && s.active_workers.len() == 1)
    })
    .await;
    let servers = insp.servers().await.expect("servers");
    assert_eq!(servers.len(), 2, "{servers:#?}");
    assert_eq!(
        q::<Option<f64>>(&c, &[&"ZSCORE", &"asynq:servers", &stale]).await,
        None,
        "stale index members are pruned"
    );
    assert_eq!(
        q::<Option<f64>>(
            &c,
            &[&"ZSCORE", &"asynq:workers", &"asynq:workers:{gone:1:x}"]
        )
        .await,
        None
    );

    let go = servers.iter().find(|s| s.id == sid).expect("go server");
    assert_eq!(go.host, "worker-1");
    assert_eq!(go.pid, 4242);
    assert_eq!(go.concurrency, 10);
    assert_eq!(go.queues, BTreeMap::from([("default".to_string(), 1)]));
    assert!(!go.strict_priority);
    assert_eq!(go.status, "active");
    assert_eq!(go.started, Some(at(1_704_164_645, 123_456_789)));
    assert_eq!(go.active_workers.len(), 1);
    let w = &go.active_workers[0];
    assert_eq!(w.task_id, "task-k");
    assert_eq!(w.started, Some(at(1_704_164_645, 123_456_789)));
    assert_eq!(w.deadline, Some(at(1_704_164_705, 123_456_789)));

    let ours = servers.iter().find(|s| s.id == server.id()).expect("ours");
    assert_eq!(ours.pid, std::process::id());
    assert_eq!(ours.concurrency, 3);
    assert_eq!(
        ours.queues,
        BTreeMap::from([("default".to_string(), 2), ("low".to_string(), 1)])
    );
    assert_eq!(ours.status, "active");
    assert!(ours.started.is_some_and(|t| (secs(t) - now).abs() <= 5));
    let w = &ours.active_workers[0];
    assert_eq!(
        (
            w.task_id.as_str(),
            w.task_type.as_str(),
            &w.task_payload[..],
            w.queue.as_str()
        ),
        ("busy", "block", &b"payload"[..], "default")
    );
    let started = w.started.expect("started");
    assert_eq!(w.deadline.map(|d| secs(d) - secs(started)), Some(60));

    release.add_permits(1);
    server.shutdown().await;
    let left = insp.servers().await.expect("servers");
    assert_eq!(
        left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [sid]
    );
}

#[tokio::test]
async fn scheduler_entries_and_enqueue_events() {
    let env = Env::start().await;
    let insp = inspector(&env).await;
    let c = env.conn().await;
    let v = vectors();
    let now = unix_now();
    let live = "asynq:schedulers:{host:1:live}";
    let stale = "asynq:schedulers:{host:1:stale}";
    let history = "asynq:scheduler_history:e";
    // LPUSH, as the scheduler writes them.
    redis::pipe()
        .cmd("LPUSH")
        .arg(live)
        .arg(vector(&v, "scheduler_entry_never_enqueued"))
        .arg(vector(&v, "scheduler_entry_cron_no_options"))
        .cmd("LPUSH")
        .arg(stale)
        .arg(vector(&v, "scheduler_entry_all_option_strings"))
        .cmd("ZADD")
        .arg("asynq:schedulers")
        .arg(now + 20)
        .arg(live)
        .arg(now - 20)
        .arg(stale)
        .cmd("ZADD")
        .arg(history)
        .arg(1_704_164_645)
        .arg(vector(&v, "scheduler_enqueue_event_typical"))
        .arg(1_704_164_700)
        .arg(vector(&v, "scheduler_enqueue_event_go_zero_time"))
        .query_async::<()>(&mut c.clone())
        .await
        .expect("seed");

    let entries = insp.scheduler_entries().await.expect("entries");
    assert_eq!(
        entries.len(),
        2,
        "the stale scheduler is left out: {entries:#?}"
    );
    let by_id: HashMap<&str, &redisq::SchedulerEntry> =
        entries.iter().map(|e| (e.id.as_str(), e)).collect();
    let e = by_id["e"];
    assert_eq!(e.spec, "@every 1h");
    assert_eq!(e.task_type, "cleanup");
    assert!(e.payload.is_empty());
    assert_eq!(e.options, ["MaxRetry(2)", r#"Queue("low")"#]);
    assert_eq!(e.next, Some(at(1_704_168_245, 0)));
    assert_eq!(e.prev, None, "Go's zero time means never");
    let e2 = by_id["e2"];
    assert_eq!(e2.spec, "*/5 * * * *");
    assert_eq!(&e2.payload[..], &[1u8][..]);
    assert!(e2.options.is_empty());
    assert_eq!(e2.prev, Some(at(1_704_164_700, 0)));
    assert_eq!(
        q::<Option<f64>>(&c, &[&"ZSCORE", &"asynq:schedulers", &stale]).await,
        None,
        "pruned"
    );

    let events = insp
        .scheduler_enqueue_events("e", ListOptions::new())
        .await
        .expect("events");
    let got: Vec<(&str, SystemTime)> = events
        .iter()
        .map(|e| (e.task_id.as_str(), e.enqueued_at))
        .collect();
    // Newest first; an event with Go's zero time falls back to its score.
    assert_eq!(
        got,
        [
            ("x", at(1_704_164_700, 0)),
            ("cron-task-1", at(1_704_164_645, 123_456_789))
        ]
    );
    let second = insp
        .scheduler_enqueue_events("e", ListOptions::new().page(2).page_size(1))
        .await
        .expect("page 2");
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].task_id, "cron-task-1");
    assert!(
        insp.scheduler_enqueue_events("unknown", ListOptions::new())
            .await
            .expect("none")
            .is_empty()
    );
}
