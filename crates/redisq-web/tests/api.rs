//! The asynqmon-compatible JSON API on a real Redis: every route, its status and JSON shape,
//! its values against what the Inspector reports, and mutating routes checked through the
//! Inspector afterwards.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use redisq::{
    Client, Config, HandlerError, Inspector, ListOptions, Scheduler, SchedulerConfig, ServeMux,
    Server, Task, TaskContext, TaskInfo, TaskOption, TaskState, parse_redis_uri,
};
use redisq_test_support::RedisServer;
use redisq_web::WebConfig;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tower::ServiceExt;

const HOUR: Duration = Duration::from_secs(3600);
const BINARY: &[u8] = &[0xff, 0x00, 0x10];

// ---------------------------------------------------------------------------------------------
// Harness

struct Env {
    _redis: RedisServer,
    url: String,
    client: Client,
    insp: Inspector,
}

impl Env {
    async fn start() -> Env {
        let redis = RedisServer::start();
        let url = redis.url();
        let opt = || parse_redis_uri(&url).expect("uri");
        let client = Client::connect(opt()).await.expect("client");
        let insp = Inspector::connect(opt()).await.expect("inspector");
        Env {
            _redis: redis,
            url,
            client,
            insp,
        }
    }

    fn app(&self, read_only: bool) -> Router {
        redisq_web::router(self.insp.clone(), WebConfig::new().read_only(read_only))
    }

    async fn enqueue(&self, task: Task, opts: Vec<TaskOption>) -> TaskInfo {
        self.client
            .enqueue_with(&task, opts)
            .await
            .expect("enqueue")
    }

    async fn state_of(&self, queue: &str, id: &str) -> Option<TaskState> {
        self.insp.task_info(queue, id).await.ok().map(|t| t.state)
    }
}

/// The answer to one request: status, content type and body.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        assert!(
            self.content_type.starts_with("application/json"),
            "not JSON ({}): {}",
            self.content_type,
            self.text()
        );
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn call(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(format!("/api{uri}"));
    let body = match body {
        Some(v) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app
        .clone()
        .oneshot(req.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

/// GET, expecting 200 and JSON.
async fn get_json(app: &Router, uri: &str) -> Value {
    let a = call(app, "GET", uri, None).await;
    assert_eq!(a.status, StatusCode::OK, "GET {uri}: {}", a.text());
    a.json()
}

/// Expects a plain-text error like Go's `http.Error`.
async fn expect_error(app: &Router, method: &str, uri: &str, body: Option<Value>, status: u16) {
    let a = call(app, method, uri, body).await;
    assert_eq!(a.status.as_u16(), status, "{method} {uri}: {}", a.text());
    if status != 405 || a.content_type.starts_with("text/plain") {
        assert!(
            a.text().ends_with('\n') || a.body.is_empty(),
            "{}",
            a.text()
        );
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn sorted(mut k: Vec<&str>) -> Vec<&str> {
    k.sort_unstable();
    k
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_string())
        .collect()
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const SNAPSHOT_KEYS: [&str; 18] = [
    "active",
    "aggregating",
    "archived",
    "completed",
    "display_latency",
    "failed",
    "groups",
    "latency_msec",
    "memory_usage_bytes",
    "paused",
    "pending",
    "processed",
    "queue",
    "retry",
    "scheduled",
    "size",
    "succeeded",
    "timestamp",
];

/// A snapshot has asynqmon's fields and the Inspector's counts.
async fn check_snapshot(env: &Env, s: &Value) {
    assert_eq!(keys(s), SNAPSHOT_KEYS.to_vec());
    let q = s["queue"].as_str().expect("queue");
    let info = env.insp.queue_info(q).await.expect("queue info");
    for (field, n) in [
        ("active", info.active),
        ("pending", info.pending),
        ("aggregating", info.aggregating),
        ("scheduled", info.scheduled),
        ("retry", info.retry),
        ("archived", info.archived),
        ("completed", info.completed),
        ("size", info.size),
        ("groups", info.groups),
    ] {
        assert_eq!(s[field], json!(n), "{q}.{field}");
    }
    assert_eq!(s["paused"], json!(info.paused));
    assert_eq!(s["processed"], json!(info.processed));
    assert_eq!(s["failed"], json!(info.failed));
    assert_eq!(s["succeeded"], json!(info.processed - info.failed));
    assert!(
        s["display_latency"]
            .as_str()
            .expect("latency")
            .ends_with('s')
    );
    assert!(s["timestamp"].as_str().expect("timestamp").ends_with('Z'));
}

// ---------------------------------------------------------------------------------------------
// Fixture: tasks in every state, brought about by a real server

struct Fixture {
    env: Env,
    server: Server,
    release: Arc<Semaphore>,
}

/// Queue `default`: completed `t-completed` (result "done"), archived `t-archived1/2`, retry
/// `t-retry1/2`, active `t-active` (blocked until cancelled or released); then paused with
/// pending `t-pending` (JSON) and `t-binary` (non-printable), scheduled `t-scheduled1/2` and
/// groups `g1` (`t-agg1`, `t-agg2`) and `g2` (`t-agg3`).
async fn fixture() -> Fixture {
    let env = Env::start().await;
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
    mux.handle("block", move |ctx: TaskContext, _t: Task| {
        let gate = gate.clone();
        async move {
            ctx.set_progress(60, "working").await?;
            tokio::select! {
                _ = gate.acquire() => Ok(()),
                () = ctx.cancelled() => Err(HandlerError::msg("canceled")),
            }
        }
    });
    env.enqueue(
        Task::new("ok", "c"),
        vec![
            TaskOption::retention(HOUR),
            TaskOption::task_id("t-completed"),
        ],
    )
    .await;
    for id in ["t-archived1", "t-archived2"] {
        env.enqueue(
            Task::new("fail", "a"),
            vec![TaskOption::max_retry(0), TaskOption::task_id(id)],
        )
        .await;
    }
    for id in ["t-retry1", "t-retry2"] {
        env.enqueue(
            Task::new("fail", "r"),
            vec![TaskOption::max_retry(3), TaskOption::task_id(id)],
        )
        .await;
    }
    env.enqueue(
        Task::new("block", "b"),
        vec![
            TaskOption::task_id("t-active"),
            TaskOption::timeout(Duration::from_secs(600)),
        ],
    )
    .await;
    let config = Config::new()
        .concurrency(8)
        .task_check_interval(Duration::from_millis(50))
        .delayed_task_check_interval(Duration::from_millis(100))
        .heartbeat_interval(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(1))
        .retry_delay(|_, _, _| HOUR);
    let server = Server::new(parse_redis_uri(&env.url).expect("uri"), config)
        .await
        .expect("server");
    server.start(mux).await.expect("start");
    for (id, state) in [
        ("t-completed", TaskState::Completed),
        ("t-archived1", TaskState::Archived),
        ("t-archived2", TaskState::Archived),
        ("t-retry1", TaskState::Retry),
        ("t-retry2", TaskState::Retry),
        ("t-active", TaskState::Active),
    ] {
        wait_until(&format!("{id} {state}"), || async {
            env.state_of("default", id).await == Some(state)
        })
        .await;
    }
    wait_until("the active task's progress", || async {
        env.insp
            .task_info("default", "t-active")
            .await
            .is_ok_and(|t| t.progress.is_some())
    })
    .await;
    wait_until("the server's heartbeat", || async {
        env.insp
            .servers()
            .await
            .is_ok_and(|s| s.iter().any(|s| !s.active_workers.is_empty()))
    })
    .await;
    env.insp.pause_queue("default").await.expect("pause");
    env.enqueue(
        Task::new("echo", r#"{"to":"a b"}"#),
        vec![TaskOption::task_id("t-pending")],
    )
    .await;
    env.enqueue(
        Task::new("echo", BINARY),
        vec![TaskOption::task_id("t-binary")],
    )
    .await;
    for id in ["t-scheduled1", "t-scheduled2"] {
        env.enqueue(
            Task::new("later", "s"),
            vec![TaskOption::task_id(id), TaskOption::process_in(HOUR)],
        )
        .await;
    }
    for (id, group) in [("t-agg1", "g1"), ("t-agg2", "g1"), ("t-agg3", "g2")] {
        env.enqueue(
            Task::new("digest", id),
            vec![TaskOption::task_id(id), TaskOption::group(group)],
        )
        .await;
    }
    Fixture {
        env,
        server,
        release,
    }
}

impl Fixture {
    async fn stop(self) {
        self.release.add_permits(100);
        self.server.shutdown().await;
    }
}

const BASE_KEYS: [&str; 7] = [
    "error_message",
    "id",
    "max_retry",
    "payload",
    "queue",
    "retried",
    "type",
];

fn base_plus<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    sorted(
        BASE_KEYS
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect(),
    )
}

/// Seconds since the epoch of an RFC 3339 string.
fn epoch(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s:?}: {e}"))
        .timestamp()
}

fn epoch_of(t: Option<SystemTime>) -> i64 {
    chrono::DateTime::<chrono::Utc>::from(t.expect("a time")).timestamp()
}

// ---------------------------------------------------------------------------------------------
// Reading

#[tokio::test]
async fn every_read_route_answers_asynqmon_shapes_with_the_inspector_values() {
    let fx = fixture().await;
    let env = &fx.env;
    let app = env.app(false);
    let insp = &env.insp;

    // Queues.
    let v = get_json(&app, "/queues").await;
    assert_eq!(keys(&v), ["queues"]);
    let queues = v["queues"].as_array().expect("queues");
    assert_eq!(queues.len(), insp.queues().await.expect("queues").len());
    for s in queues {
        check_snapshot(env, s).await;
    }
    let v = get_json(&app, "/queues/default").await;
    assert_eq!(keys(&v), ["current", "history", "limits"]);
    assert_eq!(v["limits"], json!([]));
    check_snapshot(env, &v["current"]).await;
    assert_eq!(v["current"]["paused"], json!(true));
    let history = insp.history("default", 10).await.expect("history");
    let days = v["history"].as_array().expect("history");
    assert_eq!(days.len(), 10);
    for (d, h) in days.iter().zip(&history) {
        assert_eq!(
            keys(d),
            ["date", "failed", "processed", "queue", "succeeded"]
        );
        assert_eq!(d["processed"], json!(h.processed));
        assert_eq!(d["failed"], json!(h.failed));
        let date = chrono::DateTime::<chrono::Utc>::from(h.date).format("%Y-%m-%d");
        assert_eq!(d["date"], json!(date.to_string()));
    }
    assert_eq!(
        days[0]["processed"],
        json!(5),
        "today: 1 ok + 2 archived + 2 retried"
    );
    assert_eq!(days[0]["failed"], json!(4));
    let v = get_json(&app, "/queue_stats").await;
    assert_eq!(keys(&v), ["stats"]);
    assert_eq!(keys(&v["stats"]), ["default"]);
    assert_eq!(v["stats"]["default"].as_array().map(Vec::len), Some(90));
    assert_eq!(v["stats"]["default"][0]["succeeded"], json!(1));

    // Every state's listing: the Inspector's page, in asynqmon's shape.
    let opts = ListOptions::new().page_size(20);
    for (list, extra, expected) in [
        (
            "active",
            // `progress` is redisq's extra field (the task reported progress).
            &["deadline", "is_orphaned", "progress", "start_time"][..],
            insp.list_active_tasks("default", opts).await,
        ),
        (
            "pending",
            &[][..],
            insp.list_pending_tasks("default", opts).await,
        ),
        (
            "scheduled",
            &["next_process_at"][..],
            insp.list_scheduled_tasks("default", opts).await,
        ),
        (
            "retry",
            &["next_process_at"][..],
            insp.list_retry_tasks("default", opts).await,
        ),
        (
            "archived",
            &["last_failed_at"][..],
            insp.list_archived_tasks("default", opts).await,
        ),
        (
            "completed",
            &["completed_at", "result", "ttl_seconds"][..],
            insp.list_completed_tasks("default", opts).await,
        ),
    ] {
        let expected = expected.expect("inspector listing");
        let v = get_json(&app, &format!("/queues/default/{list}_tasks")).await;
        assert_eq!(keys(&v), ["stats", "tasks"], "{list}");
        check_snapshot(env, &v["stats"]).await;
        let tasks = v["tasks"].as_array().expect("tasks");
        assert!(!tasks.is_empty(), "{list}");
        assert_eq!(
            ids(&v["tasks"]),
            expected.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
            "{list}"
        );
        for (t, info) in tasks.iter().zip(&expected) {
            assert_eq!(keys(t), base_plus(extra), "{list}");
            assert_eq!(t["type"], json!(info.task_type));
            assert_eq!(t["queue"], json!("default"));
            assert_eq!(t["max_retry"], json!(info.max_retry));
            assert_eq!(t["retried"], json!(info.retried));
            assert_eq!(t["error_message"], json!(info.last_err));
            match list {
                "scheduled" | "retry" => assert_eq!(
                    epoch(t["next_process_at"].as_str().expect("time")),
                    epoch_of(info.next_process_at)
                ),
                "archived" => assert_eq!(
                    epoch(t["last_failed_at"].as_str().expect("time")),
                    epoch_of(info.last_failed_at)
                ),
                "completed" => {
                    assert_eq!(
                        epoch(t["completed_at"].as_str().expect("time")),
                        epoch_of(info.completed_at)
                    );
                    assert_eq!(t["result"], json!("done"));
                    let ttl = t["ttl_seconds"].as_i64().expect("ttl");
                    assert!((3590..=3600).contains(&ttl), "{ttl}");
                }
                _ => {}
            }
        }
    }
    // Payloads: printable text as is, anything else a marker.
    let pending = get_json(&app, "/queues/default/pending_tasks").await;
    assert_eq!(pending["tasks"][0]["payload"], json!(r#"{"to":"a b"}"#));
    assert_eq!(pending["tasks"][1]["payload"], json!("non-printable bytes"));
    // Active tasks carry their worker's times from the heartbeat.
    let servers = insp.servers().await.expect("servers");
    let worker = &servers[0].active_workers[0];
    let active = get_json(&app, "/queues/default/active_tasks").await;
    assert_eq!(active["tasks"][0]["id"], json!("t-active"));
    assert_eq!(
        active["tasks"][0]["start_time"],
        json!(rfc3339(worker.started.expect("started")))
    );
    assert_eq!(
        active["tasks"][0]["deadline"],
        json!(rfc3339(worker.deadline.expect("deadline")))
    );
    assert_eq!(active["tasks"][0]["is_orphaned"], json!(false));
    assert_eq!(active["tasks"][0]["progress"]["percent"], json!(60));
    assert_eq!(active["tasks"][0]["progress"]["message"], json!("working"));
    let detail = get_json(&app, "/queues/default/tasks/t-active").await;
    assert_eq!(detail["progress"]["percent"], json!(60));
    assert_eq!(active["tasks"][0]["payload"], json!("b"));
    let retry = get_json(&app, "/queues/default/retry_tasks").await;
    assert_eq!(retry["tasks"][0]["error_message"], json!("boom"));
    assert_eq!(retry["tasks"][0]["retried"], json!(1));

    // One page, never more: `page` and `size` (or `page_size`).
    let second = insp
        .list_scheduled_tasks("default", ListOptions::new().page(2).page_size(1))
        .await
        .expect("page 2");
    let v = get_json(&app, "/queues/default/scheduled_tasks?page=2&size=1").await;
    assert_eq!(ids(&v["tasks"]), vec![second[0].id.clone()]);
    let v = get_json(&app, "/queues/default/archived_tasks?page_size=1").await;
    assert_eq!(ids(&v["tasks"]), vec!["t-archived1".to_string()]);
    let v = get_json(&app, "/queues/default/archived_tasks?page=9").await;
    assert_eq!(v["tasks"], json!([]));

    // Groups.
    let v = get_json(&app, "/queues/default/groups").await;
    assert_eq!(keys(&v), ["groups", "stats"]);
    check_snapshot(env, &v["stats"]).await;
    assert_eq!(
        v["groups"],
        json!([{"group": "g1", "size": 2}, {"group": "g2", "size": 1}])
    );
    let v = get_json(&app, "/queues/default/groups/g1/aggregating_tasks").await;
    assert_eq!(keys(&v), ["groups", "stats", "tasks"]);
    assert_eq!(v["groups"][0], json!({"group": "g1", "size": 2}));
    let expected = insp
        .list_aggregating_tasks("default", "g1", ListOptions::new())
        .await
        .expect("aggregating");
    assert_eq!(
        ids(&v["tasks"]),
        expected.iter().map(|t| t.id.clone()).collect::<Vec<_>>()
    );
    assert_eq!(keys(&v["tasks"][0]), base_plus(&["group"]));
    assert_eq!(v["tasks"][0]["group"], json!("g1"));
    assert_eq!(v["tasks"][0]["payload"], json!("t-agg1"));
    let v = get_json(&app, "/queues/default/groups/g2/aggregating_tasks?size=5").await;
    assert_eq!(ids(&v["tasks"]), vec!["t-agg3".to_string()]);

    // One task.
    let task_keys = [
        "completed_at",
        "deadline",
        "error_message",
        "id",
        "last_failed_at",
        "max_retry",
        "next_process_at",
        "payload",
        "queue",
        "result",
        "retried",
        "state",
        "timeout_seconds",
        "ttl_seconds",
        "type",
    ];
    for id in [
        "t-completed",
        "t-retry1",
        "t-pending",
        "t-scheduled1",
        "t-agg1",
    ] {
        let info = insp.task_info("default", id).await.expect("task info");
        let t = get_json(&app, &format!("/queues/default/tasks/{id}")).await;
        assert_eq!(keys(&t), task_keys.to_vec());
        assert_eq!(t["id"], json!(id));
        assert_eq!(t["state"], json!(info.state.as_str()));
        assert_eq!(t["type"], json!(info.task_type));
        assert_eq!(
            t["timeout_seconds"],
            json!(info.timeout.map_or(0, |d| d.as_secs()))
        );
        let time = |field: &str, v: Option<SystemTime>| {
            assert_eq!(
                t[field],
                json!(v.map(rfc3339).unwrap_or_default()),
                "{id}.{field}"
            );
        };
        time("last_failed_at", info.last_failed_at);
        time("deadline", info.deadline);
        time("next_process_at", info.next_process_at);
        time("completed_at", info.completed_at);
    }
    let t = get_json(&app, "/queues/default/tasks/t-completed").await;
    assert_eq!(
        (t["result"].as_str(), t["payload"].as_str()),
        (Some("done"), Some("c"))
    );
    assert!(t["ttl_seconds"].as_i64().is_some_and(|n| n > 3500));
    let t = get_json(&app, "/queues/default/tasks/t-pending").await;
    assert_eq!(t["result"], json!("non-printable bytes"), "no result");
    assert_eq!(t["ttl_seconds"], json!(0));

    // Servers.
    let v = get_json(&app, "/servers").await;
    assert_eq!(keys(&v), ["servers"]);
    let s = &v["servers"][0];
    assert_eq!(
        keys(s),
        [
            "active_workers",
            "concurrency",
            "host",
            "id",
            "pid",
            "queue_priorities",
            "start_time",
            "status",
            "strict_priority_enabled",
        ]
    );
    let info = &servers[0];
    assert_eq!(s["id"], json!(info.id));
    assert_eq!(s["host"], json!(info.host));
    assert_eq!(s["pid"], json!(info.pid));
    assert_eq!(s["concurrency"], json!(8));
    assert_eq!(s["queue_priorities"], json!(info.queues));
    assert_eq!(s["strict_priority_enabled"], json!(false));
    assert_eq!(s["status"], json!(info.status));
    assert_eq!(
        s["start_time"],
        json!(rfc3339(info.started.expect("started")))
    );
    assert_eq!(
        s["active_workers"],
        json!([{
            "task_id": "t-active",
            "queue": "default",
            "task_type": "block",
            "task_payload": "b",
            "start_time": rfc3339(worker.started.expect("started")),
        }])
    );

    // Redis.
    let v = get_json(&app, "/redis_info").await;
    assert_eq!(
        keys(&v),
        [
            "address",
            "cluster",
            "info",
            "queue_locations",
            "raw_cluster_nodes",
            "raw_info"
        ]
    );
    let redis = insp.redis_info().await.expect("redis info");
    assert_eq!(v["address"], json!(redis.nodes[0].0));
    assert_eq!(v["cluster"], json!(false));
    assert_eq!(v["queue_locations"], Value::Null);
    assert!(
        v["raw_info"]
            .as_str()
            .is_some_and(|s| s.contains("redis_version:"))
    );
    assert!(
        v["info"]["redis_version"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    assert_eq!(v["info"]["redis_mode"], json!("standalone"));

    // Errors, as asynqmon answers them.
    expect_error(&app, "GET", "/queues/nope", None, 404).await;
    expect_error(&app, "GET", "/queues/nope/pending_tasks", None, 404).await;
    expect_error(&app, "GET", "/queues/default/tasks/nope", None, 404).await;
    expect_error(&app, "GET", "/queues/nope/tasks/t-pending", None, 404).await;
    expect_error(&app, "GET", "/queues/default/bogus_tasks", None, 404).await;
    expect_error(
        &app,
        "GET",
        "/queues/default/pending_tasks:delete_all",
        None,
        405,
    )
    .await;
    expect_error(
        &app,
        "GET",
        "/queues/default/pending_tasks/t-pending",
        None,
        405,
    )
    .await;
    expect_error(&app, "GET", "/queues/default/groups/g1/bogus", None, 404).await;
    expect_error(&app, "GET", "/nope", None, 404).await;
    let a = call(&app, "GET", "/queues/nope", None).await;
    assert_eq!(a.content_type, "text/plain; charset=utf-8");
    assert!(a.text().ends_with('\n'));

    fx.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Acting

/// Every mutating route of asynqmon, `(method, path, body)`, for queue `default` and group
/// `g1`, naming the task `id` where the route takes one.
fn mutating_routes(id: &str) -> Vec<(&'static str, String, Option<Value>)> {
    let batch = || Some(json!({ "task_ids": [id] }));
    let mut routes = vec![
        ("DELETE", "/queues/default".to_string(), None),
        ("POST", "/queues/default:pause".to_string(), None),
        ("POST", "/queues/default:resume".to_string(), None),
        (
            "POST",
            format!("/queues/default/active_tasks/{id}:cancel"),
            None,
        ),
        (
            "POST",
            "/queues/default/active_tasks:cancel_all".to_string(),
            None,
        ),
        (
            "POST",
            "/queues/default/active_tasks:batch_cancel".to_string(),
            batch(),
        ),
    ];
    let lists = [
        ("/queues/default/pending_tasks", false, true),
        ("/queues/default/scheduled_tasks", true, true),
        ("/queues/default/retry_tasks", true, true),
        ("/queues/default/archived_tasks", true, false),
        ("/queues/default/completed_tasks", false, false),
        ("/queues/default/groups/g1/aggregating_tasks", true, true),
    ];
    for (list, run, archive) in lists {
        routes.push(("DELETE", format!("{list}/{id}"), None));
        routes.push(("DELETE", format!("{list}:delete_all"), None));
        routes.push(("POST", format!("{list}:batch_delete"), batch()));
        if run {
            routes.push(("POST", format!("{list}/{id}:run"), None));
            routes.push(("POST", format!("{list}:run_all"), None));
            routes.push(("POST", format!("{list}:batch_run"), batch()));
        }
        if archive {
            routes.push(("POST", format!("{list}/{id}:archive"), None));
            routes.push(("POST", format!("{list}:archive_all"), None));
            routes.push(("POST", format!("{list}:batch_archive"), batch()));
        }
    }
    routes
}

async fn counts(env: &Env) -> Vec<usize> {
    let i = env.insp.queue_info("default").await.expect("queue info");
    vec![
        i.active,
        i.pending,
        i.scheduled,
        i.retry,
        i.archived,
        i.completed,
        i.aggregating,
        usize::from(i.paused),
    ]
}

async fn no_content(app: &Router, method: &str, uri: &str) {
    let a = call(app, method, uri, None).await;
    assert_eq!(
        a.status,
        StatusCode::NO_CONTENT,
        "{method} {uri}: {}",
        a.text()
    );
    assert!(a.body.is_empty());
}

async fn post_json(app: &Router, method: &str, uri: &str, body: Option<Value>) -> Value {
    let a = call(app, method, uri, body).await;
    assert_eq!(a.status, StatusCode::OK, "{method} {uri}: {}", a.text());
    a.json()
}

#[tokio::test]
async fn read_only_mode_refuses_every_mutating_route_and_changes_nothing() {
    let fx = fixture().await;
    let env = &fx.env;
    let app = env.app(true);
    let before = counts(env).await;
    for (method, uri, body) in mutating_routes("t-agg1") {
        let a = call(&app, method, &uri, body).await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(
            a.text(),
            format!("API Server is running in read-only mode: {method} request is not allowed\n")
        );
    }
    assert_eq!(counts(env).await, before);
    assert_eq!(
        env.state_of("default", "t-active").await,
        Some(TaskState::Active)
    );
    // Reading still works.
    let v = get_json(&app, "/queues/default/pending_tasks").await;
    assert_eq!(v["tasks"].as_array().map(Vec::len), Some(2));
    get_json(&app, "/queues").await;
    fx.stop().await;
}

#[tokio::test]
async fn every_mutating_route_exists_with_asynqmon_methods() {
    let env = Env::start().await;
    let app = env.app(false);
    env.enqueue(Task::new("t", "x"), vec![]).await;
    // On an unknown task each route is routed (no 404 "page not found", no 405): the
    // single-task routes report the missing task, the others succeed or refuse the non-empty
    // queue.
    for (method, uri, body) in mutating_routes("missing") {
        let a = call(&app, method, &uri, body).await;
        assert!(
            a.status.is_success() || a.text() != "404 page not found\n",
            "{method} {uri}: {} {}",
            a.status,
            a.text()
        );
        assert_ne!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
    }
    // Wrong methods and unknown actions.
    for (method, uri, status) in [
        ("POST", "/queues/default/pending_tasks:delete_all", 405),
        ("DELETE", "/queues/default/scheduled_tasks:run_all", 405),
        ("POST", "/queues/default/pending_tasks/x:run", 405),
        ("POST", "/queues/default/completed_tasks/x:archive", 405),
        ("POST", "/queues/default/pending_tasks:run_all", 404),
        ("POST", "/queues/default/active_tasks:delete_all", 404),
        ("POST", "/queues/default/pending_tasks:bogus", 404),
        ("POST", "/queues/default/bogus_tasks:delete_all", 404),
        ("DELETE", "/queues/default/active_tasks/x", 405),
        ("POST", "/queues/default/pending_tasks", 405),
        ("POST", "/queues/default:bogus", 405),
        ("POST", "/queues/default", 405),
        ("PUT", "/queues/default", 405),
        ("POST", "/queues/default/tasks/x", 405),
        (
            "POST",
            "/queues/default/groups/g1/aggregating_tasks:cancel_all",
            404,
        ),
        ("POST", "/queues/default/groups/g1/aggregating_tasks", 405),
        (
            "DELETE",
            "/queues/default/nogroups/g1/aggregating_tasks/x",
            404,
        ),
        ("POST", "/servers", 405),
    ] {
        expect_error(&app, method, uri, None, status).await;
    }
}

#[tokio::test]
async fn single_task_and_batch_routes_act_through_the_inspector() {
    let fx = fixture().await;
    let env = &fx.env;
    let app = env.app(false);
    let state = |id: &'static str| env.state_of("default", id);

    // One task.
    no_content(&app, "DELETE", "/queues/default/pending_tasks/t-binary").await;
    assert_eq!(state("t-binary").await, None);
    no_content(
        &app,
        "POST",
        "/queues/default/scheduled_tasks/t-scheduled1:run",
    )
    .await;
    assert_eq!(state("t-scheduled1").await, Some(TaskState::Pending));
    no_content(&app, "POST", "/queues/default/retry_tasks/t-retry1:archive").await;
    assert_eq!(state("t-retry1").await, Some(TaskState::Archived));
    no_content(
        &app,
        "POST",
        "/queues/default/archived_tasks/t-archived1:run",
    )
    .await;
    assert_eq!(state("t-archived1").await, Some(TaskState::Pending));
    no_content(
        &app,
        "POST",
        "/queues/default/groups/g1/aggregating_tasks/t-agg1:archive",
    )
    .await;
    assert_eq!(state("t-agg1").await, Some(TaskState::Archived));
    no_content(
        &app,
        "DELETE",
        "/queues/default/groups/g1/aggregating_tasks/t-agg2",
    )
    .await;
    assert_eq!(state("t-agg2").await, None);
    no_content(
        &app,
        "POST",
        "/queues/default/groups/g2/aggregating_tasks/t-agg3:run",
    )
    .await;
    assert_eq!(state("t-agg3").await, Some(TaskState::Pending));
    no_content(
        &app,
        "DELETE",
        "/queues/default/completed_tasks/t-completed",
    )
    .await;
    assert_eq!(state("t-completed").await, None);
    // Unknown task: 404; a state that does not allow it: 500, as asynqmon.
    expect_error(
        &app,
        "POST",
        "/queues/default/scheduled_tasks/nope:run",
        None,
        404,
    )
    .await;
    expect_error(
        &app,
        "DELETE",
        "/queues/default/pending_tasks/nope",
        None,
        404,
    )
    .await;
    expect_error(
        &app,
        "POST",
        "/queues/default/retry_tasks/t-pending:run",
        None,
        500,
    )
    .await;
    expect_error(
        &app,
        "DELETE",
        "/queues/default/pending_tasks/t-active",
        None,
        500,
    )
    .await;
    assert_eq!(state("t-active").await, Some(TaskState::Active));

    // Batches: what succeeded and what failed.
    let v = post_json(
        &app,
        "POST",
        "/queues/default/pending_tasks:batch_delete",
        Some(json!({"task_ids": ["t-pending", "nope"]})),
    )
    .await;
    assert_eq!(
        v,
        json!({"deleted_ids": ["t-pending"], "failed_ids": ["nope"]})
    );
    assert_eq!(state("t-pending").await, None);
    let v = post_json(
        &app,
        "POST",
        "/queues/default/scheduled_tasks:batch_archive",
        Some(json!({"task_ids": ["t-scheduled2", "t-active"]})),
    )
    .await;
    assert_eq!(
        v,
        json!({"archived_ids": ["t-scheduled2"], "error_ids": ["t-active"]})
    );
    assert_eq!(state("t-scheduled2").await, Some(TaskState::Archived));
    let v = post_json(
        &app,
        "POST",
        "/queues/default/archived_tasks:batch_run",
        Some(json!({"task_ids": ["t-scheduled2", "nope"]})),
    )
    .await;
    assert_eq!(
        v,
        json!({"pending_ids": ["t-scheduled2"], "error_ids": ["nope"]})
    );
    assert_eq!(state("t-scheduled2").await, Some(TaskState::Pending));
    let v = post_json(
        &app,
        "POST",
        "/queues/default/pending_tasks:batch_archive",
        Some(json!({})),
    )
    .await;
    assert_eq!(v, json!({"archived_ids": [], "error_ids": []}));
    // Bad bodies: 400.
    for body in [
        json!({"ids": ["x"]}),
        json!("not an object"),
        json!({"task_ids": 3}),
    ] {
        expect_error(
            &app,
            "POST",
            "/queues/default/pending_tasks:batch_delete",
            Some(body),
            400,
        )
        .await;
    }
    expect_error(
        &app,
        "POST",
        "/queues/default/pending_tasks:batch_delete",
        None,
        400,
    )
    .await;

    // Every task of a state: the count the Inspector had, and none left.
    let info = env.insp.queue_info("default").await.expect("info");
    assert!(info.retry == 1 && info.pending > 0 && info.archived > 0);
    let v = post_json(&app, "POST", "/queues/default/retry_tasks:run_all", None).await;
    assert_eq!(v, json!({"scheduled": 1}));
    assert_eq!(state("t-retry2").await, Some(TaskState::Pending));
    let pending = env.insp.queue_info("default").await.expect("info").pending;
    let v = post_json(
        &app,
        "POST",
        "/queues/default/pending_tasks:archive_all",
        None,
    )
    .await;
    assert_eq!(v, json!({"archived": pending}));
    let archived = env.insp.queue_info("default").await.expect("info").archived;
    let v = post_json(&app, "POST", "/queues/default/archived_tasks:run_all", None).await;
    assert_eq!(v, json!({"scheduled": archived}));
    let pending = env.insp.queue_info("default").await.expect("info").pending;
    let v = post_json(
        &app,
        "DELETE",
        "/queues/default/pending_tasks:delete_all",
        None,
    )
    .await;
    assert_eq!(v, json!({"deleted": pending}));
    let info = env.insp.queue_info("default").await.expect("info");
    assert_eq!(
        (info.pending, info.archived, info.retry, info.scheduled),
        (0, 0, 0, 0)
    );
    for id in ["t-g1", "t-g2"] {
        env.enqueue(
            Task::new("digest", id),
            vec![TaskOption::task_id(id), TaskOption::group("g1")],
        )
        .await;
    }
    let v = post_json(
        &app,
        "POST",
        "/queues/default/groups/g1/aggregating_tasks:batch_run",
        Some(json!({"task_ids": ["t-g1"]})),
    )
    .await;
    assert_eq!(v, json!({"pending_ids": ["t-g1"], "error_ids": []}));
    let v = post_json(
        &app,
        "DELETE",
        "/queues/default/groups/g1/aggregating_tasks:delete_all",
        None,
    )
    .await;
    assert_eq!(v, json!({"deleted": 1}));
    assert_eq!(env.insp.groups("default").await.expect("groups"), vec![]);

    // Cancelling the active task: the server gets the signal and lets it go.
    let v = post_json(
        &app,
        "POST",
        "/queues/default/active_tasks:batch_cancel",
        Some(json!({"task_ids": ["t-active"]})),
    )
    .await;
    assert_eq!(v, json!({"canceled_ids": ["t-active"], "error_ids": []}));
    wait_until("t-active cancelled", || async {
        state("t-active").await != Some(TaskState::Active)
    })
    .await;
    fx.stop().await;
}

#[tokio::test]
async fn cancel_routes_reach_the_running_tasks() {
    let fx = fixture().await;
    let env = &fx.env;
    let app = env.app(false);
    no_content(&app, "POST", "/queues/default/active_tasks/t-active:cancel").await;
    wait_until("t-active cancelled", || async {
        env.state_of("default", "t-active").await != Some(TaskState::Active)
    })
    .await;
    // A second blocked task, cancelled with every active task of the queue.
    env.insp.unpause_queue("default").await.expect("unpause");
    env.insp
        .delete_all_pending_tasks("default")
        .await
        .expect("clear");
    env.enqueue(
        Task::new("block", "b2"),
        vec![TaskOption::task_id("t-active2")],
    )
    .await;
    wait_until("t-active2 active", || async {
        env.state_of("default", "t-active2").await == Some(TaskState::Active)
    })
    .await;
    no_content(&app, "POST", "/queues/default/active_tasks:cancel_all").await;
    wait_until("t-active2 cancelled", || async {
        env.state_of("default", "t-active2").await != Some(TaskState::Active)
    })
    .await;
    fx.stop().await;
}

#[tokio::test]
async fn queue_routes_pause_resume_and_delete() {
    let env = Env::start().await;
    let app = env.app(false);
    let insp = &env.insp;
    let paused =
        |q: &'static str| async move { insp.queue_info(q).await.expect("queue info").paused };
    let t = env
        .enqueue(Task::new("t", "x"), vec![TaskOption::queue("q1")])
        .await;
    env.enqueue(Task::new("t", "y"), vec![TaskOption::queue("a:b")])
        .await;

    no_content(&app, "POST", "/queues/q1:pause").await;
    assert!(paused("q1").await);
    expect_error(&app, "POST", "/queues/q1:pause", None, 500).await;
    no_content(&app, "POST", "/queues/q1:resume").await;
    assert!(!paused("q1").await);
    // A queue name with a colon: the action follows the last one.
    no_content(&app, "POST", "/queues/a:b:pause").await;
    assert!(paused("a:b").await);
    assert_eq!(
        get_json(&app, "/queues/a:b").await["current"]["paused"],
        json!(true)
    );

    // Only an empty queue is deleted.
    expect_error(&app, "DELETE", "/queues/q1", None, 400).await;
    expect_error(&app, "DELETE", "/queues/nope", None, 404).await;
    env.insp
        .delete_task("q1", &t.id)
        .await
        .expect("delete task");
    no_content(&app, "DELETE", "/queues/q1").await;
    assert_eq!(
        env.insp.queues().await.expect("queues"),
        vec!["a:b".to_string()]
    );
    let v = get_json(&app, "/queues").await;
    assert_eq!(v["queues"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["queues"][0]["queue"], json!("a:b"));

    // Nothing running: empty lists, not null.
    assert_eq!(get_json(&app, "/servers").await, json!({"servers": []}));
    assert_eq!(
        get_json(&app, "/scheduler_entries").await,
        json!({"entries": []})
    );
    assert_eq!(
        get_json(&app, "/scheduler_entries/nope/enqueue_events").await,
        json!({"events": []})
    );
    assert_eq!(
        get_json(&app, "/queues/a:b/completed_tasks").await["tasks"],
        json!([])
    );
    assert_eq!(
        get_json(&app, "/queues/a:b/groups").await["groups"],
        json!([])
    );
}

#[tokio::test]
async fn scheduler_entries_and_their_enqueue_events() {
    let env = Env::start().await;
    let app = env.app(false);
    let sched = Scheduler::new(
        parse_redis_uri(&env.url).expect("uri"),
        SchedulerConfig::new().heartbeat_interval(Duration::from_millis(200)),
    )
    .await
    .expect("scheduler");
    let id = sched
        .register(
            "@every 1s",
            Task::new("tick", "tock"),
            [TaskOption::queue("cron"), TaskOption::max_retry(2)],
        )
        .expect("register");
    sched.start().await.expect("start");
    wait_until("two enqueues recorded", || async {
        env.insp
            .scheduler_enqueue_events(&id, ListOptions::new())
            .await
            .is_ok_and(|e| e.len() >= 2)
    })
    .await;

    let v = get_json(&app, "/scheduler_entries").await;
    assert_eq!(keys(&v), ["entries"]);
    let entries = env.insp.scheduler_entries().await.expect("entries");
    let (e, info) = (&v["entries"][0], &entries[0]);
    let mut expected_keys = vec![
        "id",
        "next_enqueue_at",
        "options",
        "spec",
        "task_payload",
        "task_type",
    ];
    if e.get("prev_enqueue_at").is_some() {
        expected_keys.push("prev_enqueue_at");
        epoch(e["prev_enqueue_at"].as_str().expect("prev"));
    }
    assert_eq!(keys(e), sorted(expected_keys));
    assert_eq!(e["id"], json!(id));
    assert_eq!(e["spec"], json!("@every 1s"));
    assert_eq!(e["task_type"], json!("tick"));
    assert_eq!(e["task_payload"], json!("tock"));
    assert_eq!(e["options"], json!(info.options));
    epoch(e["next_enqueue_at"].as_str().expect("next"));

    let v = get_json(&app, &format!("/scheduler_entries/{id}/enqueue_events")).await;
    assert_eq!(keys(&v), ["events"]);
    let events = env
        .insp
        .scheduler_enqueue_events(&id, ListOptions::new())
        .await
        .expect("events");
    let got = v["events"].as_array().expect("events");
    assert!(got.len() >= 2);
    for ev in got {
        assert_eq!(keys(ev), ["enqueued_at", "task_id"]);
        let task_id = ev["task_id"].as_str().expect("task id");
        let info = events
            .iter()
            .find(|x| x.task_id == task_id)
            .expect("an event the Inspector knows");
        assert_eq!(ev["enqueued_at"], json!(rfc3339(info.enqueued_at)));
    }
    let v = get_json(
        &app,
        &format!("/scheduler_entries/{id}/enqueue_events?size=1"),
    )
    .await;
    assert_eq!(v["events"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["events"][0]["task_id"], json!(events[0].task_id));
    sched.shutdown().await;
}

#[tokio::test]
async fn a_queue_shows_the_limits_that_apply_to_it() {
    let env = Env::start().await;
    env.enqueue(Task::new("t", "x"), vec![]).await;
    env.enqueue(Task::new("t", "x"), vec![TaskOption::queue("other")])
        .await;
    env.insp
        .set_rate_limit(
            redisq::LimitTarget::queue("default"),
            redisq::RateLimit::per_second(50),
        )
        .await
        .expect("set");
    env.insp
        .set_concurrency_limit(redisq::LimitTarget::task_type("img"), 2)
        .await
        .expect("set");
    let app = env.app(true);
    let v = get_json(&app, "/queues/default").await;
    assert_eq!(
        v["limits"],
        json!([
            {"kind": "queue", "name": "default", "rate_n": 50, "rate_per_seconds": 1.0,
             "concurrency": null},
            {"kind": "type", "name": "img", "rate_n": null, "rate_per_seconds": null,
             "concurrency": 2},
        ])
    );
    // Another queue's limits are not shown; type limits apply everywhere.
    let v = get_json(&app, "/queues/other").await;
    assert_eq!(v["limits"].as_array().map(Vec::len), Some(1));
}
