//! The dashboard in a real browser: headless Chromium driven through chromedriver
//! (WebDriver), against the router served on a loopback port and a real Redis.
//!
//! Checks what only a browser can: the script payload shows as text and never runs, the
//! confirmation dialogs guard actions (accepted and dismissed), the forms' CSRF token and
//! same-origin headers pass the guard, live refresh updates the page, and the layout on a
//! phone-sized window. Screenshots go to `<target>/browser/`.
//!
//! Needs `chromedriver` and `chromium` on the PATH (Debian: `apt-get install chromium
//! chromium-driver`); without them the test says so and passes, unless
//! `REDISQ_BROWSER_TESTS=1` demands them (as `.ci/run` does).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client as Browser, ClientBuilder, Locator};
use redisq::{Client, Inspector, Task, TaskState, parse_redis_uri};
use redisq_test_support::{RedisServer, free_port};
use redisq_web::WebConfig;

/// Kills chromedriver when the test ends, however it ends.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}

fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("browser");
    std::fs::create_dir_all(&dir).expect("screenshot directory");
    dir
}

async fn shot(b: &Browser, name: &str) {
    let png = b.screenshot().await.expect("screenshot");
    std::fs::write(shots_dir().join(format!("{name}.png")), png).expect("write screenshot");
}

async fn start_driver() -> (Driver, Browser) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let mut caps = serde_json::Map::new();
    let mut args = vec![
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ];
    if std::env::var_os("CI").is_some() {
        args.push("--disable-extensions");
    }
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({ "args": args }),
    );
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..100 {
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.clone());
        match builder.connect(&url).await {
            Ok(b) => return (driver, b),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("could not open a browser session: {last:?}");
}

async fn wait_for_text(b: &Browser, css: &str, text: &str) {
    for _ in 0..100 {
        if let Ok(e) = b.find(Locator::Css(css)).await
            && e.text().await.is_ok_and(|t| t.contains(text))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let source = b.source().await.unwrap_or_default();
    panic!("{css} never showed {text:?}; page:\n{source}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_browser() {
    let required = std::env::var("REDISQ_BROWSER_TESTS").is_ok_and(|v| v == "1");
    if !on_path("chromedriver") {
        assert!(
            !required,
            "REDISQ_BROWSER_TESTS=1 but chromedriver is not on the PATH"
        );
        eprintln!(
            "skipped: chromedriver is not on the PATH (apt-get install chromium chromium-driver)"
        );
        return;
    }

    let redis = RedisServer::start();
    let opt = parse_redis_uri(&redis.url()).expect("uri");
    let client = Client::connect(opt.clone()).await.expect("client");
    let inspector = Inspector::connect(opt).await.expect("inspector");
    let evil = client
        .enqueue(&Task::new("evil", "<script>alert(1)</script>"))
        .await
        .expect("enqueue")
        .id;
    inspector
        .archive_task("default", &evil)
        .await
        .expect("archive");
    let keep = client
        .enqueue(&Task::new("keep", r#"{"n":1}"#))
        .await
        .expect("enqueue")
        .id;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = redisq_web::router(inspector.clone(), WebConfig::new());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}");

    let (_driver, b) = start_driver().await;

    // Overview, then the archived tab: the payload is text, no alert ever opens.
    b.goto(&format!("{base}/")).await.expect("overview");
    wait_for_text(&b, "h1", "Queues").await;
    shot(&b, "overview").await;
    // No refresh while clicking around (it would replace elements under the driver's feet);
    // it is turned on further down.
    b.execute("localStorage.setItem('redisq.refresh', '0')", vec![])
        .await
        .expect("script");
    b.goto(&format!("{base}/queues/default?state=archived"))
        .await
        .expect("queue page");
    wait_for_text(&b, "table", "<script>alert(1)</script>").await;
    assert!(b.get_alert_text().await.is_err(), "an alert opened");
    shot(&b, "archived").await;

    // Run the archived task (no confirmation for run): back on the page with a message.
    b.find(Locator::Css(&format!(
        "button[formaction=\"/queues/default/tasks/{evil}/run\"]"
    )))
    .await
    .expect("run button")
    .click()
    .await
    .expect("click");
    wait_for_text(&b, ".flash.ok", "Moved to pending").await;
    let t = inspector.task_info("default", &evil).await.expect("task");
    assert_eq!(t.state, TaskState::Pending);

    // Delete, but say no in the dialog: nothing happens.
    b.goto(&format!("{base}/queues/default/tasks/{keep}"))
        .await
        .expect("task page");
    wait_for_text(&b, "pre.data", "\"n\": 1").await;
    b.find(Locator::Css("button.danger"))
        .await
        .expect("delete button")
        .click()
        .await
        .expect("click");
    let asked = b.get_alert_text().await.expect("a confirmation dialog");
    assert!(asked.contains(&keep), "{asked}");
    b.dismiss_alert().await.expect("dismiss");
    assert!(inspector.task_info("default", &keep).await.is_ok());

    // Pause the queue, saying yes.
    b.goto(&format!("{base}/queues/default"))
        .await
        .expect("queue page");
    b.find(Locator::XPath("//button[text()='Pause queue']"))
        .await
        .expect("pause button")
        .click()
        .await
        .expect("click");
    b.accept_alert().await.expect("accept");
    wait_for_text(&b, ".flash.ok", "Paused queue default").await;
    assert!(inspector.queue_info("default").await.expect("info").paused);

    // Live refresh every 2 s: a task enqueued meanwhile shows up without navigating.
    b.goto(&format!("{base}/queues/default?state=pending"))
        .await
        .expect("queue page");
    b.find(Locator::Css("#refresh"))
        .await
        .expect("refresh select")
        .select_by_value("2")
        .await
        .expect("select 2 s");
    // Leave the select so the page does not count as being edited.
    b.find(Locator::Css("h1"))
        .await
        .expect("h1")
        .click()
        .await
        .expect("click");
    let fresh = client
        .enqueue(&Task::new("fresh", "late"))
        .await
        .expect("enqueue")
        .id;
    wait_for_text(&b, "#live table", &fresh).await;

    // A phone-sized window.
    b.set_window_size(390, 844).await.expect("resize");
    b.goto(&format!("{base}/queues/default?state=pending"))
        .await
        .expect("queue page");
    wait_for_text(&b, "h1", "default").await;
    shot(&b, "phone-queue").await;

    b.close().await.expect("close the browser");
    server.abort();
}
