//! Chains and flows on real Redis with several servers: order, fan-in, the policies when a
//! child is archived, the Inspector's view, deleting flows, and a 3-master Cluster with
//! members in different slots, and a server killed (SIGKILL) while it runs a child. (A crash
//! between a child's completion and its delivery is reproduced in `src/rdb/flow_tests.rs`,
//! where the data layer can stop halfway.)
//!
//! The killed server is this test binary run again as a child process: the test
//! `child_server_process` does nothing unless `REDISQ_FLOW_CHILD_URL` is set.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redisq::{
    Client, Flow, HandlerError, Inspector, ListOptions, OnChildArchived, RedisClusterClientOpt,
    RedisConnOpt, Server, Task, TaskContext, TaskOption, TaskState, parse_redis_uri,
};
use redisq_test_support::RedisCluster;
use tokio::sync::{Notify, mpsc};

use common::{ChildGuard, Env, fast_config, recv, wait_until};

/// What the handlers saw, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seen {
    Start(String),
    End(String),
    /// A parent ran and saw these (id, result or error) children.
    Parent(String, Vec<(String, String)>),
}

type Log = Arc<Mutex<Vec<Seen>>>;

fn log_of(log: &Log) -> Vec<Seen> {
    log.lock().expect("log").clone()
}

fn member(task_type: &str, queue: &str, id: &str) -> Task {
    Task::new(task_type, id.to_string())
        .with_option(TaskOption::queue(queue))
        .with_option(TaskOption::task_id(id))
}

/// A handler that logs start and end, writes its payload as result, reports parents' child
/// results, fails tasks of type `fail` for good, and holds tasks of type `held` until
/// `release` is notified.
fn handler(
    log: Log,
    release: Arc<Notify>,
    done: mpsc::UnboundedSender<String>,
) -> impl redisq::Handler {
    move |ctx: TaskContext, task: Task| {
        let (log, release, done) = (log.clone(), release.clone(), done.clone());
        async move {
            let id = ctx.task_id().to_string();
            log.lock().expect("log").push(Seen::Start(id.clone()));
            if !ctx.child_results().is_empty() {
                let children = ctx
                    .child_results()
                    .iter()
                    .map(|c| {
                        let what = match (&c.result, &c.error) {
                            (_, Some(e)) => format!("error: {e}"),
                            (Some(r), None) => String::from_utf8_lossy(r).into_owned(),
                            (None, None) => "-".to_string(),
                        };
                        (c.id.clone(), what)
                    })
                    .collect();
                log.lock()
                    .expect("log")
                    .push(Seen::Parent(id.clone(), children));
            }
            match task.task_type() {
                "fail" => {
                    let _ = done.send(id.clone());
                    return Err(HandlerError::skip_retry("boom"));
                }
                "held" => release.notified().await,
                _ => {}
            }
            ctx.result_writer().write(task.payload()).await?;
            log.lock().expect("log").push(Seen::End(id.clone()));
            let _ = done.send(id);
            Ok(())
        }
    }
}

/// `n` started servers processing `queues`, all with the same handler.
async fn servers(
    opt: RedisConnOpt,
    n: usize,
    queues: &[&str],
    log: &Log,
    release: &Arc<Notify>,
    done: &mpsc::UnboundedSender<String>,
) -> Vec<Server> {
    let mut out = Vec::new();
    for _ in 0..n {
        let config = fast_config().queues(queues.iter().map(|q| (*q, 1)));
        let s = Server::new(opt.clone(), config).await.expect("server");
        s.start(handler(log.clone(), release.clone(), done.clone()))
            .await
            .expect("start");
        out.push(s);
    }
    out
}

async fn shutdown(servers: Vec<Server>) {
    for s in servers {
        s.shutdown().await;
    }
}

/// Waits until every ID in `ids` was reported done.
async fn wait_done(rx: &mut mpsc::UnboundedReceiver<String>, ids: &[&str]) {
    let mut want: BTreeSet<String> = ids.iter().map(|s| s.to_string()).collect();
    while !want.is_empty() {
        let id = recv(rx).await;
        want.remove(&id);
    }
}

#[tokio::test]
async fn a_chain_of_five_runs_strictly_in_order_across_three_servers() {
    let env = Env::start().await;
    let log: Log = Arc::default();
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let ids = ["c0", "c1", "c2", "c3", "c4"];
    // Members in two queues, so the chain hops between queues as well as servers.
    let tasks: Vec<Task> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| member("step", if i % 2 == 0 { "even" } else { "odd" }, id))
        .collect();
    let servers = servers(env.opt(), 3, &["even", "odd"], &log, &release, &tx).await;
    let infos = env.client.enqueue_chain(&tasks).await.expect("chain");
    let got: Vec<&str> = infos.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(got, ids);
    assert!(infos[1..].iter().all(|i| i.state == TaskState::Waiting));
    wait_done(&mut rx, &ids).await;
    shutdown(servers).await;

    let mut want = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        want.push(Seen::Start(id.to_string()));
        if i > 0 {
            // Each member sees the one before it and its result.
            let prev = ids[i - 1].to_string();
            want.push(Seen::Parent(id.to_string(), vec![(prev.clone(), prev)]));
        }
        want.push(Seen::End(id.to_string()));
    }
    assert_eq!(
        log_of(&log),
        want,
        "each member ran once, after the one before"
    );
}

#[tokio::test]
async fn a_flow_parent_runs_once_after_its_last_child_and_sees_every_result() {
    let env = Env::start().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let log: Log = Arc::default();
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let flow = Flow::new(member("merge", "merge", "parent"))
        .child(member("part", "parts", "p1"))
        .child(member("part", "parts", "p2"))
        .child(member("held", "parts", "p3"))
        .child(member("part", "other", "p4"));
    let servers = servers(
        env.opt(),
        3,
        &["merge", "parts", "other"],
        &log,
        &release,
        &tx,
    )
    .await;
    let info = env.client.enqueue_flow(&flow).await.expect("flow");
    assert_eq!(info.parent.state, TaskState::Waiting);
    assert_eq!(info.children.len(), 4);
    wait_done(&mut rx, &["p1", "p2", "p4"]).await;

    // Three children done, one held: the parent waits, and the Inspector says so.
    wait_until("the parent waits for one child", || async {
        let w = insp
            .list_waiting_tasks("merge", ListOptions::new())
            .await
            .expect("list");
        w.len() == 1 && w[0].children_left == 1
    })
    .await;
    let waiting = insp
        .list_waiting_tasks("merge", ListOptions::new())
        .await
        .expect("list");
    assert_eq!(waiting[0].task.id, "parent");
    assert_eq!(waiting[0].task.state, TaskState::Waiting);
    assert_eq!(waiting[0].children, 4);
    assert_eq!(waiting[0].reason(), "waiting for 1 of 4 children");
    assert_eq!(
        waiting[0].unfinished_children,
        [("parts".to_string(), "p3".to_string())]
    );
    assert_eq!(
        waiting[0].long_reason(),
        "waiting for 1 of 4 children: parts/p3"
    );
    assert_eq!(
        insp.task_info("merge", "parent").await.expect("info").state,
        TaskState::Waiting
    );
    assert!(
        insp.list_pending_tasks("merge", ListOptions::new())
            .await
            .expect("pending")
            .is_empty()
    );
    assert!(!log_of(&log).contains(&Seen::Start("parent".into())));

    release.notify_one();
    wait_done(&mut rx, &["p3", "parent"]).await;
    shutdown(servers).await;

    let seen = log_of(&log);
    let parent_start = seen
        .iter()
        .position(|s| *s == Seen::Start("parent".into()))
        .expect("parent ran");
    for c in ["p1", "p2", "p3", "p4"] {
        let end = seen
            .iter()
            .position(|s| *s == Seen::End(c.into()))
            .expect("child ended");
        assert!(end < parent_start, "{c} ended before the parent started");
    }
    let runs = seen
        .iter()
        .filter(|s| **s == Seen::Start("parent".into()))
        .count();
    assert_eq!(runs, 1, "the parent ran once");
    let children: Vec<(String, String)> = ["p1", "p2", "p3", "p4"]
        .iter()
        .map(|c| (c.to_string(), c.to_string()))
        .collect();
    assert!(seen.contains(&Seen::Parent("parent".into(), children)));
    assert!(
        insp.list_waiting_tasks("merge", ListOptions::new())
            .await
            .expect("list")
            .is_empty()
    );
}

#[tokio::test]
async fn an_archived_child_archives_its_parent_and_the_rest_of_a_chain() {
    let env = Env::start().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let log: Log = Arc::default();
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = servers(env.opt(), 2, &["default"], &log, &release, &tx).await;
    // A flow (default policy) whose second child fails for good.
    let flow = Flow::new(member("merge", "default", "fparent"))
        .child(member("part", "default", "ok1"))
        .child(member("fail", "default", "bad"));
    env.client.enqueue_flow(&flow).await.expect("flow");
    // A chain whose first member fails: the two after it are archived, in turn.
    env.client
        .enqueue_chain(&[
            member("fail", "default", "first"),
            member("step", "default", "second"),
            member("step", "default", "third"),
        ])
        .await
        .expect("chain");
    wait_done(&mut rx, &["ok1", "bad", "first"]).await;
    wait_until("the parent and the chain are archived", || async {
        let mut all = true;
        for id in ["fparent", "second", "third"] {
            all &= insp.task_info("default", id).await.map(|t| t.state).ok()
                == Some(TaskState::Archived);
        }
        all
    })
    .await;
    shutdown(running).await;
    let parent = insp.task_info("default", "fparent").await.expect("info");
    assert!(
        parent.last_err.contains("bad") && parent.last_err.contains("boom"),
        "the reason names the child and its error: {}",
        parent.last_err
    );
    assert!(parent.last_failed_at.is_some());
    let third = insp.task_info("default", "third").await.expect("info");
    assert!(third.last_err.contains("second"), "{}", third.last_err);
    let seen = log_of(&log);
    for id in ["fparent", "second", "third"] {
        assert!(!seen.contains(&Seen::Start(id.into())), "{id} never ran");
    }
    let archived = insp
        .list_archived_tasks("default", ListOptions::new())
        .await
        .expect("archived");
    assert_eq!(archived.len(), 5);

    // Run again from the archive, the parent sees every child's outcome, also the one that
    // finished after the parent was archived.
    insp.run_task("default", "fparent").await.expect("run");
    let again = servers(env.opt(), 1, &["default"], &log, &release, &tx).await;
    wait_done(&mut rx, &["fparent"]).await;
    shutdown(again).await;
    assert!(log_of(&log).contains(&Seen::Parent(
        "fparent".into(),
        vec![
            ("ok1".into(), "ok1".into()),
            ("bad".into(), "error: boom: skip retry for the task".into()),
        ]
    )));
    let mut c = env.conn().await;
    let flow_left: i64 = redis::cmd("EXISTS")
        .arg("asynq:{default}:redisq:flow:fparent")
        .query_async(&mut c)
        .await
        .expect("EXISTS");
    assert_eq!(
        flow_left, 0,
        "the flow is deleted once its parent completed"
    );
}

#[tokio::test]
async fn with_run_parent_an_archived_child_lets_the_parent_run_and_see_the_error() {
    let env = Env::start().await;
    let log: Log = Arc::default();
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let servers = servers(env.opt(), 2, &["default"], &log, &release, &tx).await;
    let flow = Flow::new(member("merge", "default", "parent"))
        .child(member("part", "default", "ok1"))
        .child(member("fail", "default", "bad"))
        .on_child_archived(OnChildArchived::RunParent);
    env.client.enqueue_flow(&flow).await.expect("flow");
    wait_done(&mut rx, &["ok1", "bad", "parent"]).await;
    shutdown(servers).await;
    let seen = log_of(&log);
    assert!(seen.contains(&Seen::Parent(
        "parent".into(),
        vec![
            ("ok1".into(), "ok1".into()),
            ("bad".into(), "error: boom: skip retry for the task".into()),
        ]
    )));
    assert_eq!(
        seen.iter()
            .filter(|s| **s == Seen::Start("parent".into()))
            .count(),
        1
    );
}

#[tokio::test]
async fn deleting_a_flow_deletes_its_waiting_members() {
    let env = Env::start().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let mut c = env.conn().await;
    // No server runs: everything stays where the client put it.
    let chain = env
        .client
        .enqueue_chain(&[
            member("step", "a", "s1"),
            member("step", "b", "s2"),
            member("step", "a", "s3"),
        ])
        .await
        .expect("chain");
    assert_eq!(chain[0].state, TaskState::Pending);
    let tree = Flow::new(member("merge", "a", "top"))
        .child(member("part", "b", "leaf1"))
        .child_flow(Flow::new(member("merge", "b", "mid")).child(member("part", "a", "leaf2")))
        .child(
            member("part", "b", "later")
                .with_option(TaskOption::process_in(Duration::from_secs(3600))),
        );
    let info = env.client.enqueue_flow(&tree).await.expect("flow");
    assert_eq!(info.children[2].parent.state, TaskState::Scheduled);
    let waiting_a = insp
        .list_waiting_tasks("a", ListOptions::new())
        .await
        .expect("a");
    let ids: BTreeSet<&str> = waiting_a.iter().map(|w| w.task.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["s3", "top"]));

    // A waiting parent cannot be run or archived by hand.
    for res in [
        insp.run_task("a", "top").await,
        insp.archive_task("a", "top").await,
    ] {
        let err = res.expect_err("refused");
        assert_eq!(err.kind(), redisq::ErrorKind::FailedPrecondition, "{err}");
        assert!(
            err.to_string().contains("waiting for its children"),
            "{err}"
        );
    }

    // The chain: deleting its last task (through delete_task) deletes all three.
    insp.delete_task("a", "s3").await.expect("delete chain");
    // The tree: every member, the scheduled child and the child flow included.
    assert_eq!(insp.delete_flow("a", "top").await.expect("delete flow"), 5);
    for (q, id) in [
        ("a", "s1"),
        ("b", "s2"),
        ("a", "s3"),
        ("a", "top"),
        ("b", "leaf1"),
        ("b", "mid"),
        ("a", "leaf2"),
        ("b", "later"),
    ] {
        assert!(
            insp.task_info(q, id).await.expect_err(id).is_not_found(),
            "{id} is deleted"
        );
    }
    for q in ["a", "b"] {
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("asynq:{{{q}}}:*"))
            .query_async(&mut c)
            .await
            .expect("KEYS");
        // The wake-up marker the first enqueue left for idle servers (none ran here) is
        // the queue's, not the flow's.
        let keys: Vec<&String> = keys
            .iter()
            .filter(|k| !k.ends_with(":redisq:wake"))
            .collect();
        assert!(keys.is_empty(), "nothing left in queue {q}: {keys:?}");
        assert!(
            insp.list_waiting_tasks(q, ListOptions::new())
                .await
                .expect("list")
                .is_empty()
        );
    }
    // A queue holding only a waiting parent is not empty; deleting it by force removes the
    // parent and its flow with everything else of the queue.
    let only = Flow::new(member("merge", "c", "cp")).child(member("part", "d", "dk"));
    env.client.enqueue_flow(&only).await.expect("flow");
    let err = insp.delete_queue("c", false).await.expect_err("not empty");
    assert!(err.is_queue_not_empty(), "{err}");
    insp.delete_queue("c", true).await.expect("force");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("asynq:{c}:*")
        .query_async(&mut c)
        .await
        .expect("KEYS");
    assert!(keys.is_empty(), "nothing left of queue c: {keys:?}");

    // Deleting a task that is not waiting for children is refused.
    env.client
        .enqueue_with(&Task::new("x", ""), [TaskOption::task_id("plain")])
        .await
        .expect("enqueue");
    let err = insp
        .delete_flow("default", "plain")
        .await
        .expect_err("not a flow");
    assert_eq!(err.kind(), redisq::ErrorKind::FailedPrecondition);
}

#[tokio::test]
async fn waiting_parents_are_in_no_asynq_list_and_ordinary_tasks_are_unchanged() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    let flow =
        Flow::new(member("merge", "default", "parent")).child(member("part", "default", "kid"));
    env.client.enqueue_flow(&flow).await.expect("flow");
    let plain = env
        .client
        .enqueue_with(&Task::new("plain", "x"), [TaskOption::task_id("plain")])
        .await
        .expect("plain");
    let pending: Vec<String> = redis::cmd("LRANGE")
        .arg("asynq:{default}:pending")
        .arg(0)
        .arg(-1)
        .query_async(&mut c)
        .await
        .expect("LRANGE");
    assert_eq!(pending, ["plain", "kid"]);
    for set in ["scheduled", "retry", "archived", "completed"] {
        let n: i64 = redis::cmd("ZCARD")
            .arg(format!("asynq:{{default}}:{set}"))
            .query_async(&mut c)
            .await
            .expect("ZCARD");
        assert_eq!(n, 0, "nothing in {set}");
    }
    // An ordinary task carries no flow header; a child does.
    assert!(plain.headers.keys().all(|k| !k.starts_with("redisq-flow")));
    let kid = Inspector::connect(env.opt())
        .await
        .expect("inspector")
        .task_info("default", "kid")
        .await
        .expect("kid");
    assert_eq!(
        kid.headers.get("redisq-flow-parent-id").map(String::as_str),
        Some("parent")
    );
}

#[tokio::test]
async fn bad_flows_write_nothing() {
    let env = Env::start().await;
    let mut c = env.conn().await;
    let unique = Flow::new(Task::new("p", ""))
        .child(Task::new("c", "").with_option(TaskOption::unique(Duration::from_secs(60))));
    assert!(
        env.client
            .enqueue_flow(&unique)
            .await
            .unwrap_err()
            .is_invalid_option()
    );
    assert!(
        env.client
            .enqueue_chain(&[])
            .await
            .unwrap_err()
            .is_invalid_option()
    );
    assert!(
        env.client
            .enqueue_flow(&Flow::new(Task::new("p", "")))
            .await
            .unwrap_err()
            .is_invalid_option()
    );
    let n: i64 = redis::cmd("DBSIZE")
        .query_async(&mut c)
        .await
        .expect("DBSIZE");
    assert_eq!(n, 0);
}

/// A queue name whose keys live on the given master of the Cluster.
async fn queue_on(
    insp: &Inspector,
    cluster: &RedisCluster,
    master: usize,
    taken: &[String],
) -> String {
    let addr = &cluster.addrs()[master];
    for i in 0.. {
        let q = format!("q{i}");
        if taken.contains(&q) {
            continue;
        }
        let nodes = insp.cluster_nodes(&q).await.expect("nodes");
        if nodes.first().is_some_and(|n| &n.addr == addr) {
            return q;
        }
    }
    unreachable!()
}

#[tokio::test]
async fn members_in_queues_on_three_cluster_masters() {
    let cluster = RedisCluster::start();
    let opt = RedisClusterClientOpt::new(cluster.addrs());
    let client = Client::connect(opt.clone()).await.expect("client");
    let insp = Inspector::connect(opt.clone()).await.expect("inspector");
    let mut queues: Vec<String> = Vec::new();
    for m in 0..3 {
        let q = queue_on(&insp, &cluster, m, &queues).await;
        queues.push(q);
    }
    let [q0, q1, q2] = [&queues[0], &queues[1], &queues[2]].map(|q| q.as_str());
    let log: Log = Arc::default();
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let servers = servers(opt.clone().into(), 2, &[q0, q1, q2], &log, &release, &tx).await;
    let flow = Flow::new(member("merge", q0, "parent"))
        .child(member("part", q1, "k1"))
        .child(member("part", q2, "k2"))
        .child_flow(Flow::new(member("merge", q2, "mid")).child(member("part", q0, "k3")));
    client.enqueue_flow(&flow).await.expect("flow");
    client
        .enqueue_chain(&[
            member("step", q2, "c1"),
            member("step", q1, "c2"),
            member("step", q0, "c3"),
        ])
        .await
        .expect("chain");
    wait_done(
        &mut rx,
        &["k1", "k2", "k3", "mid", "parent", "c1", "c2", "c3"],
    )
    .await;
    shutdown(servers).await;
    let seen = log_of(&log);
    assert!(seen.contains(&Seen::Parent(
        "parent".into(),
        vec![
            ("k1".into(), "k1".into()),
            ("k2".into(), "k2".into()),
            ("mid".into(), "mid".into()),
        ]
    )));
    let pos = |s: Seen| seen.iter().position(|x| *x == s).expect("seen");
    assert!(pos(Seen::End("k3".into())) < pos(Seen::Start("mid".into())));
    assert!(pos(Seen::End("mid".into())) < pos(Seen::Start("parent".into())));
    assert!(pos(Seen::End("c1".into())) < pos(Seen::Start("c2".into())));
    assert!(pos(Seen::End("c2".into())) < pos(Seen::Start("c3".into())));
    for id in ["parent", "mid", "c3"] {
        assert_eq!(
            seen.iter()
                .filter(|s| **s == Seen::Start(id.into()))
                .count(),
            1,
            "{id} ran once"
        );
    }
}

/// Set in the child process: the Redis URL to work against.
const CHILD_ENV: &str = "REDISQ_FLOW_CHILD_URL";
/// Written by the child process's handler once it runs a task: the task's ID.
const READY_KEY: &str = "test:flow-child:running";

/// The server killed by `a_server_killed_while_running_a_child_never_runs_the_parent_early`:
/// a short lease, and a handler that announces its task in Redis and then hangs.
#[tokio::test]
async fn child_server_process() {
    let Ok(url) = std::env::var(CHILD_ENV) else {
        return;
    };
    let conn = redis::Client::open(url.as_str())
        .expect("redis client")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let handler = move |ctx: TaskContext, _task: Task| {
        let conn = conn.clone();
        async move {
            let _: () = redis::cmd("SET")
                .arg(READY_KEY)
                .arg(ctx.task_id())
                .query_async(&mut conn.clone())
                .await
                .expect("SET");
            std::future::pending::<()>().await;
            Ok(())
        }
    };
    let config = redisq::Config::new()
        .concurrency(1)
        .queues([("kids", 1)])
        .lease_duration(Duration::from_secs(2))
        .heartbeat_interval(Duration::from_millis(500))
        .task_check_interval(Duration::from_millis(50));
    let server = Server::new(parse_redis_uri(&url).expect("uri"), config)
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    // The test kills this process; the limit only guards against an orphaned child.
    tokio::time::sleep(Duration::from_secs(120)).await;
}

#[tokio::test]
async fn a_server_killed_while_running_a_child_never_runs_the_parent_early() {
    let env = Env::start().await;
    let c = env.conn().await;
    let url = env.redis().expect("own Redis").url();
    let flow = Flow::new(member("merge", "parents", "parent"))
        .child(member("part", "kids", "k1").with_option(TaskOption::max_retry(3)))
        .child(member("part", "kids", "k2"));
    env.client.enqueue_flow(&flow).await.expect("flow");
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = ChildGuard(
        Command::new(exe)
            .args([
                "--exact",
                "child_server_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn the server process"),
    );
    wait_until("the doomed server runs k1", || async {
        let v: Option<String> = redis::cmd("GET")
            .arg(READY_KEY)
            .query_async(&mut c.clone())
            .await
            .expect("GET");
        v.as_deref() == Some("k1")
    })
    .await;
    // SIGKILL: no shutdown, no requeue, no final write.
    child.0.kill().expect("SIGKILL the server");
    assert!(!child.0.wait().expect("reap the server").success());

    // Another server finishes the work: k2 at once, k1 once its lease expired and it was
    // retried. The parent runs once, after both.
    let log: Log = Arc::default();
    let release = Arc::new(Notify::new());
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = fast_config()
        .queues([("kids", 1), ("parents", 1)])
        .lease_grace(Duration::from_secs(1))
        .recoverer_interval(Duration::from_millis(200))
        .retry_delay(|_, _, _| Duration::ZERO);
    let survivor = Server::new(env.opt(), config).await.expect("server");
    survivor
        .start(handler(log.clone(), release.clone(), tx.clone()))
        .await
        .expect("start");
    wait_done(&mut rx, &["k1", "k2", "parent"]).await;
    survivor.shutdown().await;
    let seen = log_of(&log);
    let pos = |s: Seen| seen.iter().position(|x| *x == s).expect("seen");
    assert!(pos(Seen::End("k1".into())) < pos(Seen::Start("parent".into())));
    assert!(pos(Seen::End("k2".into())) < pos(Seen::Start("parent".into())));
    assert_eq!(
        seen.iter()
            .filter(|s| **s == Seen::Start("parent".into()))
            .count(),
        1
    );
    assert!(seen.contains(&Seen::Parent(
        "parent".into(),
        vec![("k1".into(), "k1".into()), ("k2".into(), "k2".into())]
    )));
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let k1_err = insp.task_info("kids", "k1").await.expect_err("k1 is done");
    assert!(k1_err.is_not_found());
}
