//! Group aggregation with a real Redis: when groups are aggregated (max size, max delay,
//! grace period), what the aggregator sees, where the aggregated task goes, unique locks
//! (decision D4), recovery of sets left by a dead server, and servers without an aggregator.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Env, fast_config, task_msg, task_state, wait_until};
use redis::AsyncCommands;
use redisq::{LogLevel, Logger, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

/// A member task as the aggregator saw it: type, payload, headers.
type Member = (String, String, Vec<(String, String)>);

/// One aggregator call: the group and its members.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    group: String,
    tasks: Vec<Member>,
}

impl Call {
    fn payloads(&self) -> Vec<&str> {
        self.tasks.iter().map(|(_, p, _)| p.as_str()).collect()
    }
}

/// An aggregator that reports each call and returns a `batch` task whose payload is the
/// members' payloads joined with "," and that carries `opts`.
fn reporting_aggregator(
    tx: mpsc::UnboundedSender<Call>,
    opts: Vec<TaskOption>,
) -> impl Fn(&str, Vec<Task>) -> Task + Send + Sync + 'static {
    move |group: &str, tasks: Vec<Task>| {
        let call = Call {
            group: group.to_string(),
            tasks: tasks
                .iter()
                .map(|t| {
                    (
                        t.task_type().to_string(),
                        String::from_utf8_lossy(t.payload()).into_owned(),
                        t.headers()
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    )
                })
                .collect(),
        };
        let payload = call.payloads().join(",");
        let _ = tx.send(call);
        Task::new("batch", payload).with_options(opts.clone())
    }
}

/// A handler that reports (queue, task id, type, payload) of each task it runs.
fn reporting_handler(
    tx: mpsc::UnboundedSender<(String, String, String, String)>,
) -> impl redisq::Handler {
    move |ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((
                ctx.queue().to_string(),
                ctx.task_id().to_string(),
                task.task_type().to_string(),
                String::from_utf8_lossy(task.payload()).into_owned(),
            ));
            Ok(())
        }
    }
}

async fn add(env: &Env, queue: &str, group: &str, id: &str, payload: &str) {
    env.client
        .enqueue_with(
            &Task::new("item", payload.to_string()),
            [
                TaskOption::queue(queue),
                TaskOption::group(group),
                TaskOption::task_id(id),
            ],
        )
        .await
        .expect("enqueue");
}

async fn zmembers(c: &mut redis::aio::MultiplexedConnection, key: &str) -> Vec<(String, f64)> {
    c.zrange_withscores(key, 0, -1).await.expect("ZRANGE")
}

async fn smembers(c: &mut redis::aio::MultiplexedConnection, key: &str) -> BTreeSet<String> {
    c.smembers(key).await.expect("SMEMBERS")
}

async fn exists(c: &mut redis::aio::MultiplexedConnection, key: &str) -> bool {
    c.exists(key).await.expect("EXISTS")
}

async fn recv<T>(rx: &mut mpsc::UnboundedReceiver<T>, what: &str) -> T {
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("channel closed waiting for {what}"))
}

#[tokio::test]
async fn max_size_aggregates_full_sets_and_the_rest_waits_for_the_grace_period() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    for i in 0..7 {
        add(&env, "agg", "g1", &format!("t{i}"), &i.to_string()).await;
    }
    let enqueued = Instant::now();
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    // The aggregated task asks for another queue and a retention: the queue is forced to
    // the group's, the other options are kept.
    let aggregator = reporting_aggregator(
        calls_tx,
        vec![
            TaskOption::queue("elsewhere"),
            TaskOption::retention(Duration::from_secs(3600)),
        ],
    );
    // A 10 s grace period: checks run every 7 s, and the last task is still inside its grace
    // period at the first check.
    let server = Server::new(
        env.opt(),
        fast_config()
            .queues([("agg", 1)])
            .group_grace_period(Duration::from_secs(10))
            .group_max_size(3)
            .group_aggregator(aggregator),
    )
    .await
    .expect("server");
    server
        .start(reporting_handler(done_tx))
        .await
        .expect("start");

    let first = recv(&mut calls, "first aggregation").await;
    let second = recv(&mut calls, "second aggregation").await;
    assert_eq!(first.group, "g1");
    assert_eq!(first.payloads(), ["0", "1", "2"]);
    assert_eq!(second.payloads(), ["3", "4", "5"]);
    assert!(
        first
            .tasks
            .iter()
            .all(|(t, _, h)| t == "item" && h.is_empty())
    );
    let mut processed = vec![
        recv(&mut done, "first batch").await,
        recv(&mut done, "second batch").await,
    ];
    // The seventh task waits in its group for the grace period.
    let group = zmembers(&mut c, "asynq:{agg}:g:g1").await;
    assert_eq!(
        group.iter().map(|(m, _)| m.as_str()).collect::<Vec<_>>(),
        ["t6"]
    );
    assert!(smembers(&mut c, "asynq:{agg}:groups").await.contains("g1"));
    assert_eq!(
        task_state(&c, "agg", "t6").await.as_deref(),
        Some("aggregating")
    );
    assert!(
        enqueued.elapsed() < Duration::from_secs(10),
        "the first check came after the grace period"
    );

    let third = recv(&mut calls, "last aggregation").await;
    assert_eq!(third.payloads(), ["6"]);
    assert!(
        enqueued.elapsed() >= Duration::from_secs(9),
        "the last task was aggregated before its grace period ended"
    );
    processed.push(recv(&mut done, "last batch").await);
    processed.sort_by(|a, b| a.3.cmp(&b.3));
    let payloads: Vec<(&str, &str, &str)> = processed
        .iter()
        .map(|(q, _, t, p)| (q.as_str(), t.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        payloads,
        [
            ("agg", "batch", "0,1,2"),
            ("agg", "batch", "3,4,5"),
            ("agg", "batch", "6")
        ]
    );
    // The member tasks are gone, the aggregated ones completed with their retention.
    wait_until("aggregation sets deleted", || async {
        !exists(&mut env.conn().await, "asynq:{agg}:aggregation_sets").await
    })
    .await;
    for (_, id, _, _) in &processed {
        common::wait_for_state(&c, "agg", id, "completed").await;
        let m = task_msg(&c, "agg", id).await;
        assert_eq!((m.queue.as_str(), m.retention), ("agg", 3600));
    }
    for i in 0..7 {
        assert_eq!(task_state(&c, "agg", &format!("t{i}")).await, None);
    }
    assert!(!exists(&mut c, "asynq:{agg}:g:g1").await);
    assert!(!exists(&mut c, "asynq:{agg}:groups").await);
    assert!(!exists(&mut c, "asynq:{elsewhere}:pending").await);
    server.shutdown().await;
}

#[tokio::test]
async fn max_delay_aggregates_before_the_grace_period_ends() {
    let env = Env::start().await;
    add(&env, "default", "g1", "a", "a").await;
    add(&env, "default", "g1", "b", "b").await;
    let enqueued = Instant::now();
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    // The grace period (30 s) would wait much longer than the first check (7 s); the maximum
    // delay (1 s) has passed by then.
    let server = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(30))
            .group_max_delay(Duration::from_secs(1))
            .group_aggregator(reporting_aggregator(calls_tx, vec![])),
    )
    .await
    .expect("server");
    server
        .start(reporting_handler(done_tx))
        .await
        .expect("start");
    let call = recv(&mut calls, "aggregation").await;
    assert_eq!(call.payloads(), ["a", "b"]);
    assert!(
        enqueued.elapsed() < Duration::from_secs(29),
        "aggregated by the grace period, not the max delay"
    );
    let (q, _, t, p) = recv(&mut done, "batch").await;
    assert_eq!(
        (q.as_str(), t.as_str(), p.as_str()),
        ("default", "batch", "a,b")
    );
    server.shutdown().await;
}

#[tokio::test]
async fn grace_period_aggregates_a_quiet_group_with_types_payloads_and_headers() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("item", "x").with_header("trace", "t-1"),
            [TaskOption::group("g1"), TaskOption::task_id("x")],
        )
        .await
        .expect("enqueue");
    env.client
        .enqueue_with(
            &Task::new("other", "y"),
            [TaskOption::group("g1"), TaskOption::task_id("y")],
        )
        .await
        .expect("enqueue");
    add(&env, "default", "g2", "z", "z").await;
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let server = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(1))
            .group_aggregator(reporting_aggregator(calls_tx, vec![])),
    )
    .await
    .expect("server");
    server
        .start(reporting_handler(done_tx))
        .await
        .expect("start");
    let mut got = [
        recv(&mut calls, "aggregation").await,
        recv(&mut calls, "aggregation").await,
    ];
    got.sort_by(|a, b| a.group.cmp(&b.group));
    assert_eq!(
        got[0],
        Call {
            group: "g1".into(),
            tasks: vec![
                (
                    "item".into(),
                    "x".into(),
                    vec![("trace".into(), "t-1".into())]
                ),
                ("other".into(), "y".into(), vec![]),
            ],
        }
    );
    assert_eq!(got[1].group, "g2");
    assert_eq!(got[1].payloads(), ["z"]);
    let mut payloads = [
        recv(&mut done, "batch").await.3,
        recv(&mut done, "batch").await.3,
    ];
    payloads.sort();
    assert_eq!(payloads, ["x,y", "z"]);
    wait_until("aggregation sets deleted", || async {
        !exists(&mut env.conn().await, "asynq:{default}:aggregation_sets").await
    })
    .await;
    for id in ["x", "y", "z"] {
        assert_eq!(task_state(&c, "default", id).await, None);
    }
    assert!(!exists(&mut c, "asynq:{default}:groups").await);
    server.shutdown().await;
}

#[tokio::test]
async fn unique_lock_of_a_grouped_task_is_released_after_aggregation() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    let task = Task::new("item", "u");
    let opts = |id: &str| {
        [
            TaskOption::group("g1"),
            TaskOption::unique(Duration::from_secs(3600)),
            TaskOption::task_id(id),
        ]
    };
    env.client
        .enqueue_with(&task, opts("u1"))
        .await
        .expect("enqueue");
    let lock = "asynq:{default}:unique:item:7b774effe4a349c6dd82ad4f4f21d34c"; // md5("u")
    let owner: Option<String> = c.get(lock).await.expect("GET");
    assert_eq!(owner.as_deref(), Some("u1"));
    // D4: the hash records the lock.
    let hash = common::task_hash(&c, "default", "u1").await;
    assert_eq!(
        hash.get("unique_key").map(|v| v.as_slice()),
        Some(lock.as_bytes())
    );
    let err = env
        .client
        .enqueue_with(&task, opts("u2"))
        .await
        .expect_err("duplicate");
    assert!(err.is_duplicate_task(), "{err}");

    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let server = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(1))
            .group_aggregator(reporting_aggregator(calls_tx, vec![])),
    )
    .await
    .expect("server");
    server
        .start(reporting_handler(done_tx))
        .await
        .expect("start");
    assert_eq!(recv(&mut calls, "aggregation").await.payloads(), ["u"]);
    assert_eq!(recv(&mut done, "batch").await.3, "u");
    wait_until("the lock released", || async {
        !exists(&mut env.conn().await, lock).await
    })
    .await;
    assert_eq!(task_state(&c, "default", "u1").await, None);
    // The same unique task can be enqueued again.
    env.client
        .enqueue_with(&task, opts("u3"))
        .await
        .expect("enqueue again");
    server.shutdown().await;
}

#[tokio::test]
async fn a_scheduled_grouped_task_joins_its_group_when_due_and_is_aggregated() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("item", "later"),
            [
                TaskOption::group("g1"),
                TaskOption::process_in(Duration::from_secs(1)),
                TaskOption::task_id("s1"),
            ],
        )
        .await
        .expect("enqueue");
    add(&env, "default", "g1", "now", "now").await;
    assert_eq!(
        task_state(&c, "default", "s1").await.as_deref(),
        Some("scheduled")
    );
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let server = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(1))
            .group_aggregator(reporting_aggregator(calls_tx, vec![])),
    )
    .await
    .expect("server");
    server
        .start(reporting_handler(done_tx))
        .await
        .expect("start");
    // D3: when due, the scheduled task goes into its group (asynq would make it a plain
    // pending task), so it is aggregated too, alone or with the other one.
    let mut payloads = vec![];
    while payloads.len() < 2 {
        let call = recv(&mut calls, "aggregation").await;
        assert_eq!(call.group, "g1");
        payloads.extend(call.payloads().iter().map(|p| p.to_string()));
        recv(&mut done, "batch").await;
    }
    payloads.sort();
    assert_eq!(payloads, ["later", "now"]);
    server.shutdown().await;
}

/// An aggregator that reports its call, then blocks until `release` is dropped (a server
/// that stalls or dies in the middle of an aggregation).
fn stuck_aggregator(
    called: mpsc::UnboundedSender<String>,
    release: std::sync::mpsc::Receiver<()>,
) -> impl Fn(&str, Vec<Task>) -> Task + Send + Sync + 'static {
    let release = Mutex::new(release);
    move |group: &str, _tasks: Vec<Task>| {
        let _ = called.send(group.to_string());
        if let Ok(rx) = release.lock() {
            let _ = rx.recv();
        }
        Task::new("never", "enqueued")
    }
}

#[tokio::test]
async fn a_set_left_by_a_stopped_server_is_reclaimed_and_aggregated_again() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    add(&env, "default", "g1", "a", "a").await;
    add(&env, "default", "g1", "b", "b").await;
    let before = zmembers(&mut c, "asynq:{default}:g:g1").await;

    // Server A takes the group into a set, then its aggregator never returns.
    let (called_tx, mut called) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let logs = LogCapture::default();
    let a = Server::new(
        env.opt(),
        fast_config()
            .shutdown_timeout(Duration::from_millis(500))
            .group_grace_period(Duration::from_secs(1))
            .logger(logs.clone())
            .group_aggregator(stuck_aggregator(called_tx, release_rx)),
    )
    .await
    .expect("server a");
    a.start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start a");
    assert_eq!(recv(&mut called, "aggregator of a").await, "g1");
    let sets = zmembers(&mut c, "asynq:{default}:aggregation_sets").await;
    assert_eq!(sets.len(), 1);
    let set_key = sets[0].0.clone();
    assert!(set_key.starts_with("asynq:{default}:g:g1:"), "{set_key}");
    assert!(!exists(&mut c, "asynq:{default}:g:g1").await);
    // Shutdown gives up on the aggregator after the shutdown timeout and leaves the set.
    a.shutdown().await;
    assert!(logs.contains(LogLevel::Warn, "gave up waiting for the group aggregator"));
    assert_eq!(zmembers(&mut c, &set_key).await, before);
    assert_eq!(
        task_state(&c, "default", "a").await.as_deref(),
        Some("aggregating")
    );

    // Two minutes later (the set's deadline, moved back by hand), another server's
    // recoverer returns the tasks to their group and its aggregator takes them.
    let _: () = c
        .zadd(
            "asynq:{default}:aggregation_sets",
            &set_key,
            common::unix_now() - 1,
        )
        .await
        .expect("ZADD");
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let b = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(1))
            .group_aggregator(reporting_aggregator(calls_tx, vec![])),
    )
    .await
    .expect("server b");
    b.start(reporting_handler(done_tx)).await.expect("start b");
    let call = recv(&mut calls, "aggregator of b").await;
    assert_eq!(call.payloads(), ["a", "b"]);
    assert_eq!(recv(&mut done, "batch").await.3, "a,b");
    wait_until("aggregation sets deleted", || async {
        !exists(&mut env.conn().await, "asynq:{default}:aggregation_sets").await
    })
    .await;
    assert!(!exists(&mut c, &set_key).await);
    assert_eq!(task_state(&c, "default", "a").await, None);
    b.shutdown().await;
    drop(release_tx);
}

#[tokio::test]
async fn a_stale_set_written_by_asynq_is_reclaimed_with_its_scores() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    add(&env, "default", "g1", "a", "a").await;
    add(&env, "default", "g1", "b", "b").await;
    // What asynq's aggregation check leaves when its server dies: the group's members moved
    // into a set registered with a deadline (here already past), the group gone from
    // `groups`.
    let members = zmembers(&mut c, "asynq:{default}:g:g1").await;
    let set_key = "asynq:{default}:g:g1:3c1ad1b4-9e43-4a4e-9f0c-5d0f6e7a8b9c";
    for (m, s) in &members {
        let _: () = c.zadd(set_key, m, *s).await.expect("ZADD");
    }
    let _: () = c.del("asynq:{default}:g:g1").await.expect("DEL");
    let _: () = c.srem("asynq:{default}:groups", "g1").await.expect("SREM");
    let _: () = c
        .zadd(
            "asynq:{default}:aggregation_sets",
            set_key,
            common::unix_now() - 10,
        )
        .await
        .expect("ZADD");

    // A server without an aggregator only reclaims: the tasks are back in their group with
    // their scores, and the group is registered again.
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    wait_until("set reclaimed", || async {
        !exists(&mut env.conn().await, set_key).await
    })
    .await;
    server.shutdown().await;
    assert_eq!(zmembers(&mut c, "asynq:{default}:g:g1").await, members);
    assert_eq!(
        smembers(&mut c, "asynq:{default}:groups").await,
        BTreeSet::from(["g1".to_string()])
    );
    assert!(!exists(&mut c, "asynq:{default}:aggregation_sets").await);
    assert_eq!(
        task_state(&c, "default", "b").await.as_deref(),
        Some("aggregating")
    );
}

#[tokio::test]
async fn a_failing_aggregator_leaves_the_set_for_the_recoverer() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    add(&env, "default", "g1", "a", "a").await;
    let logs = LogCapture::default();
    let (called_tx, mut called) = mpsc::unbounded_channel::<()>();
    let server = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(1))
            .logger(logs.clone())
            .group_aggregator(move |_g: &str, _t: Vec<Task>| -> Task {
                let _ = called_tx.send(());
                panic!("aggregator bug")
            }),
    )
    .await
    .expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    recv(&mut called, "aggregator").await;
    wait_until("the failure logged", || async {
        logs.contains(LogLevel::Error, "the group aggregator failed")
    })
    .await;
    server.shutdown().await;
    let sets = zmembers(&mut c, "asynq:{default}:aggregation_sets").await;
    assert_eq!(sets.len(), 1);
    assert_eq!(
        zmembers(&mut c, &sets[0].0)
            .await
            .iter()
            .map(|(m, _)| m.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    assert_eq!(
        task_state(&c, "default", "a").await.as_deref(),
        Some("aggregating")
    );
}

/// Collects a server's log lines.
#[derive(Clone, Default)]
struct LogCapture(Arc<Mutex<Vec<(LogLevel, String)>>>);

impl Logger for LogCapture {
    fn log(&self, level: LogLevel, message: &str) {
        if let Ok(mut l) = self.0.lock() {
            l.push((level, message.to_string()));
        }
    }
}

impl LogCapture {
    fn matching(&self, level: LogLevel, text: &str) -> Vec<String> {
        self.0
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|(lv, m)| *lv == level && m.contains(text))
                    .map(|(_, m)| m.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn contains(&self, level: LogLevel, text: &str) -> bool {
        !self.matching(level, text).is_empty()
    }
}

#[tokio::test]
async fn without_an_aggregator_grouped_tasks_wait_and_the_server_says_why() {
    let env = Env::start().await;
    add(&env, "default", "g1", "a", "a").await;
    add(&env, "default", "g1", "b", "b").await;
    add(&env, "default", "g2", "c", "c").await;
    add(&env, "other", "g3", "d", "d").await; // not a queue of this server
    let logs = LogCapture::default();
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let server = Server::new(
        env.opt(),
        fast_config()
            .queues([("default", 1), ("quiet", 1)])
            .group_grace_period(Duration::from_secs(1))
            .logger(logs.clone()),
    )
    .await
    .expect("server");
    server
        .start(reporting_handler(done_tx))
        .await
        .expect("start");
    wait_until("the warning", || async {
        logs.contains(LogLevel::Warn, "GroupAggregator")
    })
    .await;
    let warning = logs.matching(LogLevel::Warn, "GroupAggregator");
    assert_eq!(warning.len(), 1, "{warning:?}");
    let w = &warning[0];
    for part in [
        "queue \"default\"",
        "3 tasks",
        "\"g1\"",
        "\"g2\"",
        "aggregating",
        "Config::group_aggregator",
    ] {
        assert!(w.contains(part), "{part} missing from {w:?}");
    }
    assert!(!w.contains("g3") && !w.contains("quiet"), "{w}");
    // An observation window of several recoverer runs (every 200 ms): the warning is not
    // repeated within a minute, and the tasks stay where they are.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(logs.matching(LogLevel::Warn, "GroupAggregator").len(), 1);
    let c = env.conn().await;
    for id in ["a", "b", "c"] {
        assert_eq!(
            task_state(&c, "default", id).await.as_deref(),
            Some("aggregating")
        );
    }
    assert!(done.try_recv().is_err(), "nothing was processed");
    server.shutdown().await;
}

#[tokio::test]
async fn a_server_with_an_aggregator_does_not_warn_about_groups() {
    let env = Env::start().await;
    add(&env, "default", "g1", "a", "a").await;
    let logs = LogCapture::default();
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let server = Server::new(
        env.opt(),
        fast_config()
            .group_grace_period(Duration::from_secs(1))
            .logger(logs.clone())
            .group_aggregator(reporting_aggregator(calls_tx, vec![])),
    )
    .await
    .expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    recv(&mut calls, "aggregation").await;
    server.shutdown().await;
    assert!(!logs.contains(LogLevel::Warn, "GroupAggregator"));
}

#[tokio::test]
async fn shutdown_waits_for_an_aggregation_in_flight() {
    let env = Env::start().await;
    let c = env.conn().await;
    add(&env, "default", "g1", "a", "a").await;
    let (called_tx, mut called) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let logs = LogCapture::default();
    let server = Server::new(
        env.opt(),
        fast_config()
            .logger(logs.clone())
            .shutdown_timeout(Duration::from_secs(20))
            .group_grace_period(Duration::from_secs(1))
            .group_aggregator(stuck_aggregator(called_tx, release_rx)),
    )
    .await
    .expect("server");
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await
        .expect("start");
    recv(&mut called, "aggregator").await;
    let shutdown = tokio::spawn(async move {
        server.shutdown().await;
    });
    // The aggregator returns while shutdown waits (the processor is stopped by then): its
    // task is enqueued and the set deleted before shutdown returns.
    wait_until("shutdown begun", || async {
        logs.contains(LogLevel::Info, "shutting down")
    })
    .await;
    drop(release_tx);
    shutdown.await.expect("shutdown");
    assert_eq!(
        task_state(&c, "default", "a").await,
        None,
        "the set was deleted"
    );
    let m = task_msg(&c, "default", &pending_id(&c).await).await;
    assert_eq!(m.task_type, "never");
}

async fn pending_id(c: &redis::aio::MultiplexedConnection) -> String {
    let ids: Vec<String> = c
        .clone()
        .lrange("asynq:{default}:pending", 0, -1)
        .await
        .expect("LRANGE");
    assert_eq!(ids.len(), 1, "{ids:?}");
    ids[0].clone()
}
