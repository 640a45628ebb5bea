//! `/metrics`: asynq's queue metric families, read from a real Redis with tasks in every state
//! in two queues (one paused), compared with what the Inspector says.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use redisq::{
    Client, Config, HandlerError, Inspector, QueueInfo, RedisConnOpt, Server, Task, TaskContext,
    TaskOption, parse_redis_uri,
};
use redisq_test_support::RedisServer;
use redisq_web::WebConfig;
use tokio::sync::Notify;
use tower::ServiceExt;

/// asynq's families: name, type and help text (`x/metrics`).
const FAMILIES: [(&str, &str, &str); 7] = [
    (
        "asynq_tasks_enqueued_total",
        "gauge",
        "Number of tasks enqueued; broken down by queue and state.",
    ),
    ("asynq_queue_size", "gauge", "Number of tasks in a queue"),
    (
        "asynq_queue_latency_seconds",
        "gauge",
        "Number of seconds the oldest pending task is waiting in pending state to be processed.",
    ),
    (
        "asynq_queue_memory_usage_approx_bytes",
        "gauge",
        "Number of memory used by a given queue (approximated number by sampling).",
    ),
    (
        "asynq_tasks_processed_total",
        "counter",
        "Number of tasks processed (both succeeded and failed); broken down by queue",
    ),
    (
        "asynq_tasks_failed_total",
        "counter",
        "Number of tasks failed; broken down by queue",
    ),
    (
        "asynq_queue_paused_total",
        "gauge",
        "Number of queues paused",
    ),
];

/// A parsed exposition.
#[derive(Debug, Default)]
struct Scrape {
    help: BTreeMap<String, String>,
    types: BTreeMap<String, String>,
    /// Family names in the order of their `TYPE` lines.
    order: Vec<String>,
    /// (name, labels) → value.
    samples: BTreeMap<(String, BTreeMap<String, String>), f64>,
    comments: Vec<String>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let mut s = Scrape::default();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, help) = rest.split_once(' ').expect("help text");
                let help = help.replace("\\n", "\n").replace("\\\\", "\\");
                assert!(
                    s.help.insert(name.into(), help).is_none(),
                    "two HELP {name}"
                );
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').expect("type");
                assert!(
                    s.types.insert(name.into(), kind.into()).is_none(),
                    "two TYPE {name}"
                );
                s.order.push(name.into());
            } else if let Some(rest) = line.strip_prefix('#') {
                s.comments.push(rest.trim().to_string());
            } else if !line.is_empty() {
                let (series, value) = line.rsplit_once(' ').expect("sample value");
                let value: f64 = value.parse().expect("a number");
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').unwrap())),
                    None => (series, BTreeMap::new()),
                };
                assert!(
                    s.types.contains_key(name),
                    "sample before its TYPE line: {line}"
                );
                let key = (name.to_string(), labels);
                assert!(s.samples.insert(key, value).is_none(), "duplicate {line}");
            }
        }
        s
    }

    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples.get(&(name.to_string(), labels)).copied()
    }

    fn queue(&self, name: &str, queue: &str) -> Option<f64> {
        self.get(name, &[("queue", queue)])
    }

    /// The queues that have a sample of `name`.
    fn queues_of(&self, name: &str) -> Vec<String> {
        let mut qs: Vec<String> = self
            .samples
            .keys()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, l)| l.get("queue").cloned())
            .collect();
        qs.dedup();
        qs
    }
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label {key} is quoted");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => panic!("dangling escape"),
                },
                c => value.push(c),
            }
        }
        out.insert(key, value);
        if chars.next_if_eq(&',').is_none() {
            break;
        }
    }
    out
}

async fn scrape(app: axum::Router) -> (StatusCode, String, String) {
    let response = app
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_string())
        .unwrap_or_default();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

fn opt(redis: &RedisServer) -> RedisConnOpt {
    parse_redis_uri(&redis.url()).expect("uri")
}

async fn wait_for(inspector: &Inspector, what: &str, cond: impl Fn(&str, &QueueInfo) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut ok = true;
        for q in ["alpha", "beta"] {
            match inspector.queue_info(q).await {
                Ok(info) => ok &= cond(q, &info),
                Err(_) => ok = false,
            }
        }
        if ok {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_family_matches_the_inspector() {
    let redis = RedisServer::start();
    let client = Client::connect(opt(&redis)).await.expect("client");
    let inspector = Inspector::connect(opt(&redis)).await.expect("inspector");
    let release = Arc::new(Notify::new());

    // Processing gives the states only a server makes: active, retry, archived, completed,
    // and the processed and failed counters.
    let server = Server::new(
        opt(&redis),
        Config::new()
            .concurrency(4)
            .queues([("alpha", 1), ("beta", 1)])
            .task_check_interval(Duration::from_millis(50))
            .retry_delay(|_, _, _| Duration::from_secs(3600))
            .shutdown_timeout(Duration::from_secs(2)),
    )
    .await
    .expect("server");
    let handler = {
        let release = release.clone();
        move |_ctx: TaskContext, task: Task| {
            let release = release.clone();
            async move {
                match task.task_type() {
                    "ok" => Ok(()),
                    "block" => {
                        release.notified().await;
                        Ok(())
                    }
                    _ => Err(HandlerError::msg("boom")),
                }
            }
        }
    };
    server.start(handler).await.expect("start");
    let keep = TaskOption::retention(Duration::from_secs(3600));
    for (queue, ty, extra) in [
        ("alpha", "ok", Some(keep.clone())),
        ("alpha", "fail", Some(TaskOption::max_retry(0))),
        ("alpha", "fail", Some(TaskOption::max_retry(3))),
        ("alpha", "block", None),
        ("beta", "ok", Some(keep.clone())),
        ("beta", "ok", None),
    ] {
        let mut opts = vec![TaskOption::queue(queue)];
        opts.extend(extra);
        client
            .enqueue_with(&Task::new(ty, ""), opts)
            .await
            .expect("enqueue");
    }
    wait_for(&inspector, "processing", |q, i| match q {
        "alpha" => {
            i.completed == 1
                && i.archived == 1
                && i.retry == 1
                && i.active == 1
                && i.processed_total == 3
        }
        _ => i.completed == 1 && i.processed_total == 2,
    })
    .await;
    // No more pickups; the blocked task stays active.
    server.stop().await;
    inspector.pause_queue("alpha").await.expect("pause");
    let later = TaskOption::process_in(Duration::from_secs(3600));
    for (queue, ty, extra) in [
        ("alpha", "p", None),
        ("alpha", "p", None),
        ("alpha", "s", Some(later.clone())),
        ("beta", "p", None),
        ("beta", "s", Some(later.clone())),
        ("beta", "s", Some(later.clone())),
        ("beta", "g", Some(TaskOption::group("g1"))),
    ] {
        let mut opts = vec![TaskOption::queue(queue)];
        opts.extend(extra);
        client
            .enqueue_with(&Task::new(ty, ""), opts)
            .await
            .expect("enqueue");
    }
    // The oldest pending tasks have waited a little.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let app = redisq_web::router(inspector.clone(), WebConfig::new());
    let before = [
        inspector.queue_info("alpha").await.expect("alpha"),
        inspector.queue_info("beta").await.expect("beta"),
    ];
    let (status, content_type, body) = scrape(app).await;
    let after = [
        inspector.queue_info("alpha").await.expect("alpha"),
        inspector.queue_info("beta").await.expect("beta"),
    ];
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let s = Scrape::parse(&body);

    // Every family, with asynq's type and help text, in asynq's order.
    let names: Vec<&str> = FAMILIES.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(s.order, names);
    for (name, kind, help) in FAMILIES {
        assert_eq!(s.types[name], kind, "{name}");
        assert_eq!(s.help[name], help, "{name}");
        assert_eq!(s.queues_of(name), ["alpha", "beta"], "{name}");
    }
    assert!(s.comments.is_empty(), "{:?}", s.comments);

    // What the test made.
    let expected: [(&str, [(&str, f64); 7]); 2] = [
        (
            "alpha",
            [
                ("active", 1.0),
                ("pending", 2.0),
                ("scheduled", 1.0),
                ("retry", 1.0),
                ("archived", 1.0),
                ("completed", 1.0),
                ("aggregating", 0.0),
            ],
        ),
        (
            "beta",
            [
                ("active", 0.0),
                ("pending", 1.0),
                ("scheduled", 2.0),
                ("retry", 0.0),
                ("archived", 0.0),
                ("completed", 1.0),
                ("aggregating", 1.0),
            ],
        ),
    ];
    for (queue, states) in expected {
        for (state, n) in states {
            let got = s.get(
                "asynq_tasks_enqueued_total",
                &[("queue", queue), ("state", state)],
            );
            assert_eq!(got, Some(n), "{queue} {state}");
        }
    }
    assert_eq!(s.queue("asynq_queue_size", "alpha"), Some(7.0));
    assert_eq!(s.queue("asynq_queue_size", "beta"), Some(5.0));
    assert_eq!(s.queue("asynq_tasks_processed_total", "alpha"), Some(3.0));
    assert_eq!(s.queue("asynq_tasks_failed_total", "alpha"), Some(2.0));
    assert_eq!(s.queue("asynq_tasks_processed_total", "beta"), Some(2.0));
    assert_eq!(s.queue("asynq_tasks_failed_total", "beta"), Some(0.0));
    assert_eq!(s.queue("asynq_queue_paused_total", "alpha"), Some(1.0));
    assert_eq!(s.queue("asynq_queue_paused_total", "beta"), Some(0.0));

    // And what the Inspector says, before and after the scrape.
    for (b, a) in before.iter().zip(&after) {
        let q = b.queue.as_str();
        let exact = |i: &QueueInfo| {
            vec![
                i.active as f64,
                i.pending as f64,
                i.scheduled as f64,
                i.retry as f64,
                i.archived as f64,
                i.completed as f64,
                i.aggregating as f64,
                i.size as f64,
                i.processed_total as f64,
                i.failed_total as f64,
                f64::from(u8::from(i.paused)),
            ]
        };
        assert_eq!(exact(b), exact(a), "{q} changed during the scrape");
        let mut got: Vec<f64> = [
            "active",
            "pending",
            "scheduled",
            "retry",
            "archived",
            "completed",
            "aggregating",
        ]
        .iter()
        .map(|state| {
            s.get(
                "asynq_tasks_enqueued_total",
                &[("queue", q), ("state", state)],
            )
            .expect("state sample")
        })
        .collect();
        for name in [
            "asynq_queue_size",
            "asynq_tasks_processed_total",
            "asynq_tasks_failed_total",
            "asynq_queue_paused_total",
        ] {
            got.push(s.queue(name, q).expect(name));
        }
        assert_eq!(got, exact(b), "{q}");

        let latency = s.queue("asynq_queue_latency_seconds", q).expect("latency");
        assert!(
            latency >= b.latency.as_secs_f64() && latency <= a.latency.as_secs_f64(),
            "{q}: latency {latency} outside {:?}..{:?}",
            b.latency,
            a.latency
        );
        assert!(latency >= 1.0, "{q}: latency {latency}");

        let memory = s
            .queue("asynq_queue_memory_usage_approx_bytes", q)
            .expect("memory");
        let (lo, hi) = match (b.memory_usage, a.memory_usage) {
            (Some(x), Some(y)) => (x.min(y) as f64, x.max(y) as f64),
            other => panic!("{q}: no memory estimate: {other:?}"),
        };
        assert!(memory > 0.0, "{q}");
        assert!(
            memory >= lo * 0.9 && memory <= hi * 1.1,
            "{q}: memory {memory} vs {lo}..{hi}"
        );
    }

    release.notify_one();
    server.shutdown().await;
}

#[tokio::test]
async fn a_queue_that_cannot_be_read_is_left_out() {
    let redis = RedisServer::start();
    let client = Client::connect(opt(&redis)).await.expect("client");
    let inspector = Inspector::connect(opt(&redis)).await.expect("inspector");
    client
        .enqueue_with(&Task::new("t", ""), [TaskOption::queue("fine")])
        .await
        .expect("enqueue");
    // A queue whose pending list is not a list: its info fails with WRONGTYPE.
    let mut c = redis
        .client()
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let _: () = redis::cmd("SADD")
        .arg("asynq:queues")
        .arg("broken")
        .query_async(&mut c)
        .await
        .expect("sadd");
    let _: () = redis::cmd("SET")
        .arg("asynq:{broken}:pending")
        .arg("not a list")
        .query_async(&mut c)
        .await
        .expect("set");
    assert!(inspector.queue_info("broken").await.is_err());

    let (status, _, body) = scrape(redisq_web::router(inspector, WebConfig::new())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let s = Scrape::parse(&body);
    for (name, _, _) in FAMILIES {
        assert_eq!(s.queues_of(name), ["fine"], "{name}");
    }
    assert_eq!(
        s.get(
            "asynq_tasks_enqueued_total",
            &[("queue", "fine"), ("state", "pending")]
        ),
        Some(1.0)
    );
    assert_eq!(s.comments.len(), 1, "{:?}", s.comments);
    assert!(
        s.comments[0].starts_with("redisq: queue \"broken\" skipped: "),
        "{:?}",
        s.comments
    );
}

#[tokio::test]
async fn no_queues_gives_the_families_without_samples() {
    let redis = RedisServer::start();
    let inspector = Inspector::connect(opt(&redis)).await.expect("inspector");
    let (status, content_type, body) =
        scrape(redisq_web::router(inspector, WebConfig::new())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/plain; version=0.0.4"));
    let s = Scrape::parse(&body);
    assert_eq!(s.order.len(), FAMILIES.len());
    assert!(s.samples.is_empty(), "{body}");
}

#[tokio::test]
async fn an_unreachable_redis_is_503() {
    let mut redis = RedisServer::start();
    let inspector = Inspector::connect(opt(&redis)).await.expect("inspector");
    redis.stop();
    let app = redisq_web::router(inspector, WebConfig::new());
    let (status, _, body) = tokio::time::timeout(Duration::from_secs(60), scrape(app))
        .await
        .expect("an answer in time");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.starts_with("redis unavailable: "), "{body}");
}
