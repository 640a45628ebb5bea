//! Fleet-wide rate and concurrency limits (issue 14 items 1 and 2), with several servers of
//! this process sharing one real Redis.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use redisq::{
    Client, Config, HandlerError, Inspector, LimitTarget, ListOptions, RateLimit,
    RedisClusterClientOpt, Server, Task, TaskContext, TaskOption, parse_redis_uri,
};
use redisq_test_support::{RedisCluster, TcpProxy};

use common::{Env, counter, fast_config, unix_secs_of, wait_until};

/// The tests of this file run one at a time: the rate test's timing and its one-second
/// windows are measured on handler start instants, which a machine busy with the other tests'
/// servers would delay.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Start instants recorded by the handlers, with the task type.
type Starts = Arc<Mutex<Vec<(Instant, String)>>>;

/// A handler that records when each task starts, then works for `work`.
fn recording(starts: Starts, work: Duration) -> impl redisq::Handler + Clone {
    move |_ctx: TaskContext, task: Task| {
        let starts = starts.clone();
        async move {
            starts
                .lock()
                .unwrap()
                .push((Instant::now(), task.task_type().to_string()));
            if !work.is_zero() {
                tokio::time::sleep(work).await;
            }
            Ok::<(), HandlerError>(())
        }
    }
}

/// Tracks how many tasks run at once (per type), and the most seen.
#[derive(Clone, Default)]
struct Gauge {
    now: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    done: Arc<AtomicUsize>,
}

impl Gauge {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }
}

/// A handler that runs `work` while counted in the gauge of its type (`gauges` by type).
fn gauged(gauges: Vec<(&'static str, Gauge)>, work: Duration) -> impl redisq::Handler + Clone {
    move |_ctx: TaskContext, task: Task| {
        let g = gauges
            .iter()
            .find(|(t, _)| *t == task.task_type())
            .map(|(_, g)| g.clone());
        async move {
            if let Some(g) = &g {
                g.enter();
            }
            tokio::time::sleep(work).await;
            if let Some(g) = &g {
                g.leave();
            }
            Ok::<(), HandlerError>(())
        }
    }
}

async fn enqueue_many(env: &Env, queue: &str, task_type: &str, n: usize) {
    let tasks: Vec<Task> = (0..n).map(|_| Task::new(task_type, "")).collect();
    for chunk in tasks.chunks(100) {
        for r in env
            .client
            .enqueue_batch(chunk, [TaskOption::queue(queue)])
            .await
        {
            r.expect("enqueue");
        }
    }
}

/// Most starts inside any window of length `window` (half-open, as the limit is defined).
fn most_in_window(mut starts: Vec<Instant>, window: Duration) -> usize {
    starts.sort();
    let mut most = 0;
    let mut j = 0;
    for i in 0..starts.len() {
        while starts[i] - starts[j] >= window {
            j += 1;
        }
        most = most.max(i - j + 1);
    }
    most
}

/// Keeps the warnings a server logs.
struct Warnings(Arc<Mutex<Vec<String>>>);

impl redisq::Logger for Warnings {
    fn log(&self, level: redisq::LogLevel, message: &str) {
        if level == redisq::LogLevel::Warn {
            self.0.lock().unwrap().push(message.to_string());
        }
    }
}

async fn shutdown_all(servers: Vec<Server>) {
    for s in servers {
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_rate_limit_holds_across_three_servers() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let starts: Starts = Arc::default();
    let mut servers = Vec::new();
    for _ in 0..3 {
        let config = fast_config()
            .concurrency(10)
            .queues([("rl", 1)])
            .queue_rate_limit("rl", RateLimit::new(50, Duration::from_secs(1)));
        let s = Server::new(env.opt(), config).await.expect("server");
        s.start(recording(starts.clone(), Duration::ZERO))
            .await
            .expect("start");
        servers.push(s);
    }
    enqueue_many(&env, "rl", "t", 500).await;
    let deadline = Instant::now() + Duration::from_secs(40);
    while starts.lock().unwrap().len() < 500 {
        assert!(Instant::now() < deadline, "500 tasks did not start in 40 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let times: Vec<Instant> = starts.lock().unwrap().iter().map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 500, "each task ran once");
    let (first, last) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
    let took = last - first;
    // 500 starts spaced 20 ms apart: the last one 9.98 s after the first.
    assert!(
        took >= Duration::from_millis(9_500) && took <= Duration::from_millis(10_500),
        "500 tasks at 50/s took {took:?}"
    );
    let most = most_in_window(times, Duration::from_secs(1));
    assert!(most <= 50, "{most} tasks started within one second");
    shutdown_all(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_type_rate_limit_holds_while_other_types_flow() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let starts: Starts = Arc::default();
    let mut servers = Vec::new();
    for _ in 0..2 {
        let config = fast_config()
            .concurrency(5)
            .type_rate_limit("slow", RateLimit::new(2, Duration::from_secs(1)));
        let s = Server::new(env.opt(), config).await.expect("server");
        s.start(recording(starts.clone(), Duration::ZERO))
            .await
            .expect("start");
        servers.push(s);
    }
    // The limited tasks come first in the queue: the others must not wait behind them.
    enqueue_many(&env, "default", "slow", 8).await;
    enqueue_many(&env, "default", "fast", 100).await;
    wait_until("every task started", || async {
        starts.lock().unwrap().len() == 108
    })
    .await;
    let all = starts.lock().unwrap().clone();
    let slow: Vec<Instant> = all
        .iter()
        .filter(|(_, t)| t == "slow")
        .map(|(i, _)| *i)
        .collect();
    let last_fast = all
        .iter()
        .filter(|(_, t)| t == "fast")
        .map(|(i, _)| *i)
        .max()
        .unwrap();
    let slow_before = slow.iter().filter(|i| **i <= last_fast).count();
    assert!(
        slow_before < slow.len(),
        "the fast tasks waited for the slow ones ({slow_before} of {} slow started first)",
        slow.len()
    );
    let most = most_in_window(slow, Duration::from_secs(1));
    assert!(most <= 2, "{most} slow tasks started within one second");
    // Held tasks are neither failed nor retried. (The last completions may still be on their
    // way when the last task starts.)
    let c = env.conn().await;
    wait_until("every task counted processed", || async {
        counter(&c, "asynq:{default}:processed").await >= Some(108)
    })
    .await;
    assert_eq!(
        counter(&c, "asynq:{default}:processed").await,
        Some(108),
        "every task counted processed once"
    );
    assert_eq!(counter(&c, "asynq:{default}:failed").await, None);
    for set in ["retry", "archived"] {
        let n: i64 = redis::cmd("ZCARD")
            .arg(format!("asynq:{{default}}:{set}"))
            .query_async(&mut c.clone())
            .await
            .expect("ZCARD");
        assert_eq!(n, 0, "no task went to {set}");
    }
    shutdown_all(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_concurrency_limit_holds_across_three_servers() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let gauge = Gauge::default();
    let mut servers = Vec::new();
    for _ in 0..3 {
        let config = fast_config()
            .concurrency(5)
            .queues([("cl", 1)])
            .queue_concurrency_limit("cl", 2);
        let s = Server::new(env.opt(), config).await.expect("server");
        s.start(gauged(
            vec![("t", gauge.clone())],
            Duration::from_millis(30),
        ))
        .await
        .expect("start");
        servers.push(s);
    }
    enqueue_many(&env, "cl", "t", 60).await;
    wait_until("every task finished", || async { gauge.done() == 60 }).await;
    assert!(gauge.max() <= 2, "{} tasks ran at once", gauge.max());
    assert_eq!(gauge.max(), 2, "the limit allows two at once");
    shutdown_all(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_type_concurrency_limit_holds_and_other_types_run_beside_it() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let (heavy, light) = (Gauge::default(), Gauge::default());
    let mut servers = Vec::new();
    for _ in 0..2 {
        let config = fast_config()
            .concurrency(4)
            .type_concurrency_limit("heavy", 1);
        let s = Server::new(env.opt(), config).await.expect("server");
        s.start(gauged(
            vec![("heavy", heavy.clone()), ("light", light.clone())],
            Duration::from_millis(40),
        ))
        .await
        .expect("start");
        servers.push(s);
    }
    enqueue_many(&env, "default", "heavy", 12).await;
    enqueue_many(&env, "default", "light", 40).await;
    wait_until("every task finished", || async {
        heavy.done() == 12 && light.done() == 40
    })
    .await;
    assert_eq!(heavy.max(), 1, "at most one heavy task at once");
    assert!(
        light.max() > 1,
        "light tasks ran beside it ({})",
        light.max()
    );
    shutdown_all(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_servers_slot_comes_back_with_its_lease() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let c = env.conn().await;
    let redis = env.redis().expect("private redis");
    let proxy = TcpProxy::start(redis.addr());
    let lease = Duration::from_secs(2);
    let config = || {
        fast_config()
            .lease_duration(lease)
            .heartbeat_interval(Duration::from_millis(300))
            .queue_concurrency_limit("default", 1)
    };
    // Server A takes the only slot and then loses Redis for good (as if it crashed).
    let a = Server::new(parse_redis_uri(&proxy.url()).expect("uri"), config())
        .await
        .expect("server a");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    a.start(common::never_finishing("a", tx))
        .await
        .expect("start");
    env.client
        .enqueue_with(&Task::new("t", ""), [TaskOption::task_id("first")])
        .await
        .expect("enqueue");
    assert_eq!(common::recv(&mut rx).await, ("started", false));
    proxy.refuse_new(true);
    proxy.cut_existing();
    // B starts with the slot taken: the second task waits for A's lease to expire.
    let b_started: Arc<Mutex<Option<SystemTime>>> = Arc::default();
    let b = Server::new(env.opt(), config()).await.expect("server b");
    let rec = b_started.clone();
    b.start(move |_ctx: TaskContext, task: Task| {
        let rec = rec.clone();
        async move {
            if task.task_type() == "second" {
                *rec.lock().unwrap() = Some(SystemTime::now());
            }
            Ok::<(), HandlerError>(())
        }
    })
    .await
    .expect("start b");
    env.client
        .enqueue_with(&Task::new("second", ""), [TaskOption::task_id("second")])
        .await
        .expect("enqueue");
    let lease_end: Option<f64> = redis::cmd("ZSCORE")
        .arg("asynq:{default}:lease")
        .arg("first")
        .query_async(&mut c.clone())
        .await
        .expect("ZSCORE");
    let lease_end = lease_end.expect("the first task has a lease") as i64;
    wait_until("B ran the second task", || async {
        b_started.lock().unwrap().is_some()
    })
    .await;
    let at = unix_secs_of(b_started.lock().unwrap().unwrap());
    assert!(
        at >= lease_end,
        "the second task started at {at}, while A's lease ran until {lease_end}"
    );
    b.shutdown().await;
    drop(a);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_limit_stored_in_redis_wins_over_a_servers_config() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    insp.set_concurrency_limit(LimitTarget::queue("default"), 1)
        .await
        .expect("set");
    // This server's config has no limit, and it runs 5 at once: the stored limit applies.
    let gauge = Gauge::default();
    let s = Server::new(env.opt(), fast_config().concurrency(5))
        .await
        .expect("server");
    s.start(gauged(
        vec![("t", gauge.clone())],
        Duration::from_millis(20),
    ))
    .await
    .expect("start");
    enqueue_many(&env, "default", "t", 20).await;
    wait_until("every task finished", || async { gauge.done() == 20 }).await;
    assert_eq!(gauge.max(), 1, "the stored limit of 1 held");
    // Changed live: the server reloads at once.
    insp.set_concurrency_limit(LimitTarget::queue("default"), 3)
        .await
        .expect("set");
    insp.set_rate_limit(LimitTarget::task_type("t"), RateLimit::per_second(1000))
        .await
        .expect("set");
    let limits = insp.limits().await.expect("limits");
    assert_eq!(limits.len(), 2, "{limits:?}");
    assert_eq!(limits[0].target, LimitTarget::queue("default"));
    assert_eq!(limits[0].concurrency, Some(3));
    assert_eq!(limits[1].rate, Some(RateLimit::per_second(1000)));
    // A server started later with its own limit writes it (the last one started wins), and
    // warns about the value it replaces.
    let warnings: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = Server::new(
        env.opt(),
        fast_config()
            .queue_concurrency_limit("default", 2)
            .logger(Warnings(warnings.clone())),
    )
    .await
    .expect("server");
    s2.start(gauged(vec![], Duration::ZERO))
        .await
        .expect("start");
    let l = insp
        .limit(&LimitTarget::queue("default"))
        .await
        .expect("limit");
    assert_eq!(l.concurrency, Some(2));
    let warned = warnings.lock().unwrap().clone();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("concurrency:queue:default was 3") && w.contains("sets 2")),
        "{warned:?}"
    );
    insp.clear_concurrency_limit(&LimitTarget::queue("default"))
        .await
        .expect("clear");
    insp.clear_rate_limit(&LimitTarget::task_type("t"))
        .await
        .expect("clear");
    assert!(insp.limits().await.expect("limits").is_empty());
    shutdown_all(vec![s, s2]).await;
}

#[tokio::test]
async fn invalid_limits_are_clear_config_errors() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let bad = [
        Config::new().queue_rate_limit("default", RateLimit::new(0, Duration::from_secs(1))),
        Config::new().type_rate_limit("t", RateLimit::new(10, Duration::ZERO)),
        Config::new().queue_concurrency_limit("default", 0),
        Config::new().type_concurrency_limit("t", 0),
    ];
    for config in bad {
        let err = Server::new(env.opt(), config)
            .await
            .expect_err("invalid limit");
        assert!(err.is_invalid_option(), "{err}");
        assert!(err.to_string().contains("limit"), "{err}");
    }
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    let err = insp
        .set_rate_limit(
            LimitTarget::queue("q"),
            RateLimit::new(0, Duration::from_secs(1)),
        )
        .await
        .expect_err("invalid");
    assert!(err.is_invalid_option(), "{err}");
    let err = insp
        .set_concurrency_limit(LimitTarget::task_type("t"), 0)
        .await
        .expect_err("invalid");
    assert!(err.is_invalid_option(), "{err}");
    assert!(insp.limits().await.expect("limits").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_tasks_are_pending_for_the_inspector() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let c = env.conn().await;
    let insp = Inspector::connect(env.opt()).await.expect("inspector");
    // One "block" task runs forever; the other "block" tasks are held back behind it.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let s = Server::new(
        env.opt(),
        fast_config()
            .concurrency(3)
            .type_concurrency_limit("block", 1),
    )
    .await
    .expect("server");
    s.start(common::never_finishing("block", tx))
        .await
        .expect("start");
    for i in 0..5 {
        env.client
            .enqueue_with(
                &Task::new("block", ""),
                [TaskOption::task_id(format!("b{i}"))],
            )
            .await
            .expect("enqueue");
    }
    assert_eq!(common::recv(&mut rx).await, ("started", false));
    wait_until("the others are held", || async {
        let n: i64 = redis::cmd("LLEN")
            .arg("asynq:{default}:redisq:held:t:block")
            .query_async(&mut c.clone())
            .await
            .unwrap_or(0);
        n == 4
    })
    .await;
    let info = insp.queue_info("default").await.expect("info");
    assert_eq!((info.pending, info.active), (4, 1));
    let listed = insp
        .list_pending_tasks("default", ListOptions::new())
        .await
        .expect("list");
    let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["b1", "b2", "b3", "b4"], "oldest first");
    assert!(listed.iter().all(|t| t.state == redisq::TaskState::Pending));
    insp.delete_task("default", "b2").await.expect("delete");
    insp.archive_task("default", "b3").await.expect("archive");
    let info = insp.queue_info("default").await.expect("info");
    assert_eq!((info.pending, info.archived), (2, 1));
    assert_eq!(
        insp.archive_all_pending_tasks("default")
            .await
            .expect("all"),
        2
    );
    let info = insp.queue_info("default").await.expect("info");
    assert_eq!((info.pending, info.archived), (0, 3));
    let held: i64 = redis::cmd("EXISTS")
        .arg("asynq:{default}:redisq:held")
        .query_async(&mut c.clone())
        .await
        .expect("EXISTS");
    assert_eq!(held, 0, "the held set is gone with its last task");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_limits_no_limit_state_is_written() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let c = env.conn().await;
    let gauge = Gauge::default();
    let s = Server::new(env.opt(), fast_config().concurrency(4))
        .await
        .expect("server");
    s.start(gauged(vec![("t", gauge.clone())], Duration::ZERO))
        .await
        .expect("start");
    enqueue_many(&env, "default", "t", 50).await;
    wait_until("every task finished", || async { gauge.done() == 50 }).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*redisq*")
        .query_async(&mut c.clone())
        .await
        .expect("KEYS");
    assert!(keys.is_empty(), "{keys:?}");
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_on_a_redis_cluster() {
    let _serial = SERIAL.lock().await;
    let cluster = RedisCluster::start();
    let opt = RedisClusterClientOpt::new(cluster.addrs());
    let client = Client::connect(opt.clone()).await.expect("client");
    let queues = ["alpha", "beta", "gamma"];
    // Gauges: every task of alpha (queue limit 1), heavy tasks of beta and of gamma (type
    // limit 1, counted per queue), and everything.
    let (alpha, heavy_beta, heavy_gamma, all) = (
        Gauge::default(),
        Gauge::default(),
        Gauge::default(),
        Gauge::default(),
    );
    let mut servers = Vec::new();
    for _ in 0..2 {
        let config = fast_config()
            .concurrency(4)
            .queues(queues.map(|q| (q, 1)))
            .queue_concurrency_limit("alpha", 1)
            .type_concurrency_limit("heavy", 1);
        let s = Server::new(opt.clone(), config).await.expect("server");
        let gauges = (
            alpha.clone(),
            heavy_beta.clone(),
            heavy_gamma.clone(),
            all.clone(),
        );
        s.start(move |ctx: TaskContext, task: Task| {
            let (alpha, hb, hg, all) = gauges.clone();
            async move {
                let mut mine = vec![all];
                match (ctx.queue(), task.task_type()) {
                    ("alpha", _) => mine.push(alpha),
                    ("beta", "heavy") => mine.push(hb),
                    ("gamma", "heavy") => mine.push(hg),
                    _ => {}
                }
                mine.iter().for_each(Gauge::enter);
                tokio::time::sleep(Duration::from_millis(20)).await;
                mine.iter().for_each(Gauge::leave);
                Ok::<(), HandlerError>(())
            }
        })
        .await
        .expect("start");
        servers.push(s);
    }
    for q in queues {
        for (t, n) in [("heavy", 5), ("light", 10)] {
            let tasks: Vec<Task> = (0..n).map(|_| Task::new(t, "")).collect();
            for r in client.enqueue_batch(&tasks, [TaskOption::queue(q)]).await {
                r.expect("enqueue");
            }
        }
    }
    wait_until("every task finished", || async { all.done() == 45 }).await;
    assert_eq!(alpha.max(), 1, "queue alpha ran one task at a time");
    assert_eq!(heavy_beta.max(), 1, "one heavy task at a time in beta");
    assert_eq!(heavy_gamma.max(), 1, "one heavy task at a time in gamma");
    assert!(all.max() > 1, "the rest ran beside them");
    shutdown_all(servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rate_limited_queue_does_not_hold_back_the_servers_other_queues() {
    let _serial = SERIAL.lock().await;
    let env = Env::start().await;
    let starts: Starts = Arc::default();
    let config = fast_config()
        .concurrency(4)
        .queues([("limited", 5), ("free", 1)])
        .queue_rate_limit("limited", RateLimit::new(2, Duration::from_secs(1)));
    let s = Server::new(env.opt(), config).await.expect("server");
    let rec = starts.clone();
    s.start(move |ctx: TaskContext, _task: Task| {
        let rec = rec.clone();
        async move {
            rec.lock()
                .unwrap()
                .push((Instant::now(), ctx.queue().to_string()));
            Ok::<(), HandlerError>(())
        }
    })
    .await
    .expect("start");
    enqueue_many(&env, "limited", "t", 6).await;
    enqueue_many(&env, "free", "t", 60).await;
    wait_until("every task started", || async {
        starts.lock().unwrap().len() == 66
    })
    .await;
    let all = starts.lock().unwrap().clone();
    let of = |q: &str| -> Vec<Instant> {
        all.iter()
            .filter(|(_, x)| x == q)
            .map(|(i, _)| *i)
            .collect()
    };
    let (limited, free) = (of("limited"), of("free"));
    let last_free = *free.iter().max().unwrap();
    let limited_before = limited.iter().filter(|i| **i <= last_free).count();
    assert!(
        limited_before < limited.len(),
        "the free queue waited for the limited one ({limited_before} of {} started first)",
        limited.len()
    );
    assert!(most_in_window(limited, Duration::from_secs(1)) <= 2);
    s.shutdown().await;
}
