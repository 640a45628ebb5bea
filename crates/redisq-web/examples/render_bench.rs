//! How long the dashboard takes to render at scale: the overview of 200 queues, and the
//! pending tab and the API listing of a queue holding 1,000,000 pending tasks.
//!
//! ```sh
//! cargo run --release -p redisq-web --example render_bench
//! ```
//!
//! Starts a private redis-server, fills it (about ten seconds), then renders each page 50
//! times through the router (no network) and prints p50, p90 and max in milliseconds, and
//! the Redis commands one render costs. A benchmark, not a test: it asserts nothing.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use redisq::{Client, Inspector, Task, TaskOption, parse_redis_uri};
use redisq_test_support::RedisServer;
use tower::ServiceExt;

const QUEUES: usize = 200;
const BIG: usize = 1_000_000;
const RUNS: usize = 50;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let redis = RedisServer::start();
    let opt = parse_redis_uri(&redis.url())?;
    let client = Client::connect(opt.clone()).await?;
    let started = Instant::now();
    for q in 0..QUEUES {
        let tasks: Vec<Task> = (0..5).map(|i| Task::new("t", format!("{i}"))).collect();
        for r in client
            .enqueue_batch(&tasks, [TaskOption::queue(format!("queue-{q:03}"))])
            .await
        {
            r?;
        }
    }
    let chunk: Vec<Task> = (0..1000)
        .map(|i| Task::new("bulk", format!("{{\"n\":{i}}}")))
        .collect();
    for _ in 0..BIG / chunk.len() {
        for r in client
            .enqueue_batch(&chunk, [TaskOption::queue("big")])
            .await
        {
            r?;
        }
    }
    println!(
        "filled {QUEUES} queues of 5 tasks and one of {BIG} pending tasks in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let inspector = Inspector::connect(opt).await?;
    let app = redisq_web::router(inspector, redisq_web::WebConfig::new());
    let mut redis_conn = redis.connection().await;
    for (name, path) in [
        ("overview (201 queues)", "/"),
        ("queue page, pending tab of 1M", "/queues/big?state=pending"),
        (
            "queue page, page 5000 of 1M",
            "/queues/big?state=pending&page=5000",
        ),
        (
            "API pending_tasks of 1M",
            "/api/queues/big/pending_tasks?page=1&size=20",
        ),
        ("API queues (201)", "/api/queues"),
        ("metrics (201 queues)", "/metrics"),
    ] {
        let before = commands(&mut redis_conn).await;
        let mut times = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let t = Instant::now();
            let res = app
                .clone()
                .oneshot(Request::get(path).body(Body::empty())?)
                .await?;
            let status = res.status();
            let body = axum::body::to_bytes(res.into_body(), 64 << 20).await?;
            times.push(t.elapsed());
            assert!(status.is_success(), "{path}: {status}");
            assert!(!body.is_empty());
        }
        let per_render = (commands(&mut redis_conn).await - before - 1) as f64 / RUNS as f64;
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{name:<34} p50 {:>7.2} ms  p90 {:>7.2} ms  max {:>7.2} ms  {per_render:>6.1} Redis commands",
            ms(times[RUNS / 2]),
            ms(times[RUNS * 9 / 10]),
            ms(times[RUNS - 1]),
        );
    }
    Ok(())
}

/// Commands Redis has processed so far (`INFO stats`); the INFO call itself counts one.
async fn commands(c: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(c)
        .await
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("total_commands_processed:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
