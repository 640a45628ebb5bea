//! The dashboard pages against a real Redis: each page renders, data is escaped, actions act
//! and redirect, and the guard (read-only, auth token, CSRF) refuses what it must.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use redisq::{
    Client, Config, Inspector, RedisConnOpt, Scheduler, SchedulerConfig, Server, Task, TaskContext,
    TaskOption, parse_redis_uri,
};
use redisq_test_support::RedisServer;
use redisq_web::WebConfig;
use tower::ServiceExt;

const HOST: &str = "127.0.0.1:8080";
const SCRIPT: &str = "<script>alert(1)</script>";

struct Env {
    _redis: RedisServer,
    opt: RedisConnOpt,
    client: Client,
    inspector: Inspector,
}

impl Env {
    async fn start() -> Env {
        Env::on(RedisServer::start()).await
    }

    async fn on(redis: RedisServer) -> Env {
        let opt = parse_redis_uri(&redis.url()).expect("uri");
        let client = Client::connect(opt.clone()).await.expect("client");
        let inspector = Inspector::connect(opt.clone()).await.expect("inspector");
        Env {
            _redis: redis,
            opt,
            client,
            inspector,
        }
    }

    fn app(&self, config: WebConfig) -> Router {
        redisq_web::router(self.inspector.clone(), config)
    }

    async fn enqueue(&self, task_type: &str, payload: &str, opts: Vec<TaskOption>) -> String {
        self.client
            .enqueue_with(&Task::new(task_type, payload.to_string()), opts)
            .await
            .expect("enqueue")
            .id
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The CSRF token the page puts in its forms.
    fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self.body.find(marker).expect("a csrf field") + marker.len();
        let end = self.body[start..].find('"').expect("end of value");
        self.body[start..start + end].to_string()
    }
}

async fn send(app: &Router, req: Request<Body>) -> Answer {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20)
        .await
        .expect("body");
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn get_req(path: &str) -> axum::http::request::Builder {
    Request::get(path)
        .header(header::HOST, HOST)
        .header(header::ACCEPT, "text/html")
}

async fn get(app: &Router, path: &str) -> Answer {
    send(app, get_req(path).body(Body::empty()).unwrap()).await
}

fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.replace('/', "%2F")
                    .replace('?', "%3F")
                    .replace('&', "%26")
                    .replace('=', "%3D")
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// A form POST the way a browser on the dashboard sends it.
fn browser_post(path: &str, fields: &[(&str, &str)]) -> Request<Body> {
    Request::post(path)
        .header(header::HOST, HOST)
        .header(header::ORIGIN, format!("http://{HOST}"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form_body(fields)))
        .unwrap()
}

async fn csrf_of(app: &Router) -> String {
    get(app, "/").await.csrf()
}

#[tokio::test]
async fn overview_queue_and_task_pages_render_and_escape() {
    let env = Env::start().await;
    let bad = env.enqueue("evil<type>", SCRIPT, vec![]).await;
    let json = env
        .enqueue("json", r#"{"user":42,"name":"ann"}"#, vec![])
        .await;
    env.enqueue(
        "later",
        "x",
        vec![TaskOption::process_in(Duration::from_secs(3600))],
    )
    .await;
    env.enqueue("grouped", "g", vec![TaskOption::group("batch-1")])
        .await;
    let big = "y".repeat(5000);
    env.enqueue("big", &big, vec![]).await;
    let app = env.app(WebConfig::new());

    let a = get(&app, "/").await;
    assert_eq!(a.status, StatusCode::OK);
    for want in [
        "default",
        "Processed today",
        "Error rate",
        "<svg",
        "Total",
        "Pause",
    ] {
        assert!(a.body.contains(want), "overview lacks {want:?}");
    }
    assert!(
        a.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );

    let a = get(&app, "/queues/default?state=pending").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(&bad) && a.body.contains(&json));
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(a.body.contains("evil&lt;type&gt;"));
    assert!(!a.body.contains("<script>alert"));
    assert!(!a.body.contains(&big), "huge payloads are cut in lists");
    assert!(a.body.contains("… (4.9 KiB)"));
    for state in [
        "active",
        "pending",
        "aggregating",
        "scheduled",
        "retry",
        "archived",
        "completed",
    ] {
        assert!(a.body.contains(&format!("state={state}")), "tab {state}");
    }
    assert!(
        a.body.contains("name=\"id\""),
        "checkboxes for batch actions"
    );
    assert!(a.body.contains("Find"));

    let a = get(&app, "/queues/default?state=scheduled").await;
    assert!(a.body.contains("later") && a.body.contains("Run now"));
    let a = get(&app, "/queues/default?state=aggregating").await;
    assert!(a.body.contains("batch-1") && a.body.contains("grouped"));

    let a = get(&app, "/queues/default?state=pending&page=2&size=2").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("Page 2 of 2"), "{}", a.body);

    let a = get(&app, &format!("/queues/default/tasks/{bad}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(!a.body.contains("<script>alert"));

    let a = get(&app, &format!("/queues/default/tasks/{json}")).await;
    assert!(a.body.contains("JSON"));
    assert!(a.body.contains("&quot;user&quot;: 42"), "pretty JSON");

    let a = get(&app, &format!("/queues/default/find?id={json}")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), format!("/queues/default/tasks/{json}"));

    assert_eq!(
        get(&app, "/queues/default/tasks/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/queues/nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/queues/default?state=bogus").await.status,
        StatusCode::BAD_REQUEST
    );

    let a = get(&app, "/redis").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("redis_version") && a.body.contains("standalone"));

    let css = get(&app, "/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(
        css.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    assert_eq!(get(&app, "/static/app.js").await.status, StatusCode::OK);
}

#[tokio::test]
async fn servers_and_schedulers_pages() {
    let env = Env::start().await;
    let slow = env
        .enqueue("slow", "working", vec![TaskOption::queue("work")])
        .await;
    let server = Server::new(
        env.opt.clone(),
        Config::new()
            .concurrency(1)
            .queues([("work", 1)])
            .heartbeat_interval(Duration::from_millis(200))
            .task_check_interval(Duration::from_millis(50))
            .shutdown_timeout(Duration::from_millis(500)),
    )
    .await
    .expect("server");
    server
        .start(|ctx: TaskContext, _task: Task| async move {
            ctx.set_progress(30, "step <3>").await?;
            ctx.cancelled().await;
            Ok(())
        })
        .await
        .expect("start");
    let scheduler = Scheduler::new(
        env.opt.clone(),
        SchedulerConfig::new().heartbeat_interval(Duration::from_millis(200)),
    )
    .await
    .expect("scheduler");
    let entry = scheduler
        .register(
            "@every 1h",
            Task::new("nightly", "report"),
            [TaskOption::queue("low")],
        )
        .expect("register");
    scheduler.start().await.expect("start scheduler");

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let busy = env
            .inspector
            .servers()
            .await
            .unwrap()
            .iter()
            .any(|s| !s.active_workers.is_empty());
        let scheduled = !env.inspector.scheduler_entries().await.unwrap().is_empty();
        let progress = env
            .inspector
            .task_info("work", &slow)
            .await
            .is_ok_and(|t| t.progress.is_some());
        if busy && scheduled && progress {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server or scheduler never showed up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let app = env.app(WebConfig::new());
    let a = get(&app, "/servers").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains(&slow) && a.body.contains("working") && a.body.contains(">work</a> (1)")
    );
    assert!(a.body.contains(&format!("/queues/work/tasks/{slow}")));
    // The running task's page shows its progress (escaped).
    let a = get(&app, &format!("/queues/work/tasks/{slow}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("<progress max=\"100\" value=\"30\""),
        "{}",
        a.body
    );
    assert!(a.body.contains("30% step &lt;3&gt;"), "{}", a.body);

    let a = get(&app, "/schedulers").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(&entry) && a.body.contains("@every 1h") && a.body.contains("nightly"));
    let a = get(&app, &format!("/schedulers/{entry}")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("Enqueues, newest first"));
    assert_eq!(
        get(&app, "/schedulers/nope").await.status,
        StatusCode::NOT_FOUND
    );

    scheduler.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn actions_act_and_redirect() {
    let env = Env::start().await;
    let id = env.enqueue("t", "a", vec![]).await;
    env.inspector.archive_task("default", &id).await.unwrap();
    let app = env.app(WebConfig::new());
    let token = csrf_of(&app).await;
    let back = "/queues/default?state=archived";

    let a = send(
        &app,
        browser_post(
            &format!("/queues/default/tasks/{id}/run"),
            &[("csrf", &token), ("back", back)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), back);
    let t = env.inspector.task_info("default", &id).await.unwrap();
    assert_eq!(t.state, redisq::TaskState::Pending);
    // The next page shows what happened, once.
    let cookie = a.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = send(
        &app,
        get_req(back)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert!(page.body.contains("Moved to pending"), "flash message");

    let a = send(
        &app,
        browser_post("/queues/default/pause", &[("csrf", &token), ("back", "/")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/");
    assert!(env.inspector.queue_info("default").await.unwrap().paused);
    assert!(get(&app, "/").await.body.contains("Resume"));
    let a = send(
        &app,
        browser_post("/queues/default/resume", &[("csrf", &token), ("back", "/")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(!env.inspector.queue_info("default").await.unwrap().paused);

    // An open redirect is not possible: `back` must stay on the dashboard.
    let a = send(
        &app,
        browser_post(
            "/queues/default/pause",
            &[("csrf", &token), ("back", "//evil.example/")],
        ),
    )
    .await;
    assert_eq!(a.location(), "/");
    env.inspector.unpause_queue("default").await.unwrap();

    // Batch: archive two ticked tasks, then delete all archived.
    let x = env.enqueue("t", "x", vec![]).await;
    let y = env.enqueue("t", "y", vec![]).await;
    let a = send(
        &app,
        browser_post(
            "/queues/default/pending/batch",
            &[
                ("csrf", &token),
                ("action", "archive"),
                ("id", &x),
                ("id", &y),
                ("back", "/queues/default"),
            ],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        env.inspector.queue_info("default").await.unwrap().archived,
        2
    );
    let a = send(
        &app,
        browser_post("/queues/default/archived/delete_all", &[("csrf", &token)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        env.inspector.queue_info("default").await.unwrap().archived,
        0
    );

    // Deleting the queue (with force, it still holds the run task).
    let a = send(
        &app,
        browser_post(
            "/queues/default/delete",
            &[("csrf", &token), ("force", "1")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(env.inspector.queues().await.unwrap().is_empty());
}

#[tokio::test]
async fn read_only_hides_buttons_and_refuses_changes() {
    let env = Env::start().await;
    let id = env.enqueue("t", "a", vec![]).await;
    let app = env.app(WebConfig::new().read_only(true));
    for path in [
        "/",
        "/queues/default?state=pending",
        &format!("/queues/default/tasks/{id}"),
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::OK);
        assert!(!a.body.contains("method=\"post\""), "{path} shows a form");
        assert!(a.body.contains("read-only"));
    }
    let a = send(&app, browser_post("/queues/default/pause", &[])).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = send(
        &app,
        Request::post("/api/queues/default:pause")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    // The API answers as asynqmon does in read-only mode.
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "the API too");
    assert!(a.body.contains("read-only mode"), "{}", a.body);
    let a = send(
        &app,
        Request::delete(format!("/api/queues/default/pending_tasks/{id}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!env.inspector.queue_info("default").await.unwrap().paused);
}

#[tokio::test]
async fn auth_token_is_required_when_set() {
    let env = Env::start().await;
    let app = env.app(WebConfig::new().auth_token("s3cret"));

    let a = get(&app, "/queues/default").await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.location().starts_with("/login?next="), "{}", a.location());
    let a = send(
        &app,
        Request::get("/api/queues").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = send(
        &app,
        Request::get("/metrics")
            .header(header::AUTHORIZATION, "Bearer wrong")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(get(&app, "/static/style.css").await.status, StatusCode::OK);

    let a = send(
        &app,
        get_req("/")
            .header(header::AUTHORIZATION, "Bearer s3cret")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);

    // The login form sets the cookie.
    let login = get(&app, "/login?next=%2Fredis").await;
    assert_eq!(login.status, StatusCode::OK);
    let token = login.csrf();
    let a = send(
        &app,
        browser_post(
            "/login",
            &[("csrf", &token), ("token", "nope"), ("next", "/redis")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = send(
        &app,
        browser_post(
            "/login",
            &[("csrf", &token), ("token", "s3cret"), ("next", "/redis")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/redis");
    let set = a.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
    let cookie = set.split(';').next().unwrap().to_string();
    let a = send(
        &app,
        get_req("/redis")
            .header(header::COOKIE, &cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("Log out"));
}

#[tokio::test]
async fn cross_site_requests_are_refused() {
    let env = Env::start().await;
    env.enqueue("t", "a", vec![]).await;
    let app = env.app(WebConfig::new());
    let token = csrf_of(&app).await;

    let mut evil = browser_post("/queues/default/pause", &[("csrf", &token)]);
    evil.headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    assert_eq!(send(&app, evil).await.status, StatusCode::FORBIDDEN);

    let mut evil = browser_post("/queues/default/pause", &[("csrf", &token)]);
    evil.headers_mut().remove(header::ORIGIN);
    evil.headers_mut()
        .insert(header::REFERER, "http://evil.example/x".parse().unwrap());
    assert_eq!(send(&app, evil).await.status, StatusCode::FORBIDDEN);

    let mut evil = browser_post("/queues/default/pause", &[("csrf", &token)]);
    evil.headers_mut()
        .insert("sec-fetch-site", "cross-site".parse().unwrap());
    assert_eq!(send(&app, evil).await.status, StatusCode::FORBIDDEN);

    // A form without the token is refused even without browser headers.
    let no_token = Request::post("/queues/default/pause")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("back=%2F"))
        .unwrap();
    assert_eq!(send(&app, no_token).await.status, StatusCode::FORBIDDEN);
    let wrong = browser_post("/queues/default/pause", &[("csrf", "0000")]);
    assert_eq!(send(&app, wrong).await.status, StatusCode::FORBIDDEN);
    // Changes must be POST or DELETE.
    let put = Request::put("/queues/default/pause")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, put).await.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(!env.inspector.queue_info("default").await.unwrap().paused);

    // A script without browser headers and without a form body passes, as does the header.
    let curl = Request::post("/queues/default/pause")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, curl).await.status, StatusCode::SEE_OTHER);
    assert!(env.inspector.queue_info("default").await.unwrap().paused);
    let with_header = Request::post("/queues/default/resume")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("x-csrf-token", &token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, with_header).await.status, StatusCode::SEE_OTHER);
    assert!(!env.inspector.queue_info("default").await.unwrap().paused);
}

#[tokio::test]
async fn redis_password_is_never_shown() {
    let password = "pw-Zq81-never-shown";
    let redis = RedisServer::builder().password(password).start();
    let env = Env::on(redis).await;
    env.enqueue("t", "a", vec![]).await;
    let app = env.app(WebConfig::new());
    for path in ["/", "/redis", "/servers", "/queues/default"] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}");
        assert!(!a.body.contains(password), "{path} shows the password");
    }
}

#[tokio::test]
async fn nested_under_a_base_path() {
    let env = Env::start().await;
    let id = env.enqueue("t", "a", vec![]).await;
    let app = Router::new().nest(
        "/redisq",
        redisq_web::router(
            env.inspector.clone(),
            WebConfig::new().base_path("/redisq/"),
        ),
    );
    let a = get(&app, "/redisq").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("href=\"/redisq/queues/default\""));
    assert!(a.body.contains("href=\"/redisq/static/style.css"));
    let a = get(&app, "/redisq/queues/default?state=pending").await;
    assert!(
        a.body
            .contains(&format!("href=\"/redisq/queues/default/tasks/{id}\""))
    );
    let token = a.csrf();
    let a = send(
        &app,
        browser_post(
            "/redisq/queues/default/pause",
            &[("csrf", &token), ("back", "/elsewhere")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.location(), "/redisq", "back stays under the base path");
    let cookie = a.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("Path=/redisq"));
}

#[tokio::test]
async fn the_queue_page_shows_its_limits() {
    let env = Env::start().await;
    env.enqueue("t", "x", vec![]).await;
    let app = env.app(WebConfig::new());
    let a = get(&app, "/queues/default").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(!a.body.contains("Limits"), "no limits, no line");
    env.inspector
        .set_rate_limit(
            redisq::LimitTarget::queue("default"),
            redisq::RateLimit::per_second(50),
        )
        .await
        .expect("set");
    env.inspector
        .set_concurrency_limit(redisq::LimitTarget::task_type("<img>"), 2)
        .await
        .expect("set");
    let a = get(&app, "/queues/default").await;
    assert!(a.body.contains("<strong>Limits</strong>"), "{}", a.body);
    assert!(a.body.contains("queue: at most 50/1s"), "{}", a.body);
    assert!(
        a.body.contains("type &lt;img&gt;: at most 2 at once"),
        "{}",
        a.body
    );
}
