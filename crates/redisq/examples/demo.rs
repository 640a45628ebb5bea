//! The README's first command: enqueue a realistic mix of tasks, process them with a server,
//! and show what happened.
//!
//! ```sh
//! cargo run -p redisq --example demo              # starts a private redis-server
//! REDISQ_URL=redis://127.0.0.1:6379 cargo run -p redisq --example demo
//! ```
//!
//! With `REDISQ_URL` the demo writes only under the key namespace `redisq-demo`. With
//! `-- --keep` the private Redis stays up afterwards, for `redisq web` (the dashboard),
//! `redisq dash` and `redisq stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redisq::{
    Client, Config, Connection, HandlerError, Inspector, ListOptions, Namespace, RedisConnOpt,
    ServeMux, Server, Task, TaskContext, TaskOption, parse_redis_uri,
};
use redisq_test_support::{RedisServer, redis_server_available};

const NAMESPACE: &str = "redisq-demo";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Keep the private server alive until the end of main.
    let (_private, opt) = match std::env::var("REDISQ_URL") {
        Ok(url) => {
            println!("using Redis at {url} (namespace {NAMESPACE:?})");
            (None, parse_redis_uri(&url)?)
        }
        Err(_) => {
            if !redis_server_available() {
                eprintln!(
                    "redis-server was not found. Install it (Debian/Ubuntu: sudo apt-get install redis-server)\n\
                     or point the demo at a running Redis with REDISQ_URL=redis://host:port"
                );
                std::process::exit(2);
            }
            let server = RedisServer::start();
            println!("started a private redis-server on {}", server.addr());
            let opt = parse_redis_uri(&server.url())?;
            (Some(server), opt)
        }
    };
    run(opt).await?;
    if let Some(server) = &_private
        && std::env::args().any(|a| a == "--keep")
    {
        println!(
            "\nThe private Redis keeps running until Ctrl-C. Look around with:\n  \
             cargo run -p redisq-cli -- --redis {url} --namespace {NAMESPACE} web\n    \
             then open the dashboard at http://127.0.0.1:8080/\n  \
             cargo run -p redisq-cli -- --redis {url} --namespace {NAMESPACE} dash\n  \
             cargo run -p redisq-cli -- --redis {url} --namespace {NAMESPACE} stats",
            url = server.url(),
        );
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}

fn say(start: Instant, line: impl std::fmt::Display) {
    println!("[{:>5.2}s] {line}", start.elapsed().as_secs_f64());
}

async fn run(opt: RedisConnOpt) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let namespace = Namespace::new(NAMESPACE)?;
    // One connection shared by the client, the server and the inspector.
    let conn = Connection::connect(opt).await?;
    let client = Client::from_connection(&conn, namespace.clone());

    say(start, "== enqueue ==");
    for user in 1..=3 {
        let t = Task::new("email:welcome", format!(r#"{{"user_id":{user}}}"#));
        client
            .enqueue_with(&t, [TaskOption::queue("critical")])
            .await?;
    }
    let tasks: Vec<Task> = (0..200)
        .map(|i| Task::new("image:thumbnail", format!(r#"{{"image":{i}}}"#)))
        .collect();
    let ok = client
        .enqueue_batch(&tasks, [TaskOption::queue("low")])
        .await
        .iter()
        .filter(|r| r.is_ok())
        .count();
    say(
        start,
        format!("200 image:thumbnail tasks in one batch: {ok} enqueued"),
    );

    let report = Task::new("report:daily", "2026-11-28")
        .with_option(TaskOption::unique(Duration::from_secs(3600)))
        .with_option(TaskOption::process_in(Duration::from_secs(2)))
        .with_option(TaskOption::retention(Duration::from_secs(3600)));
    let info = client.enqueue(&report).await?;
    say(
        start,
        format!("report:daily scheduled ({}), due in 2s", info.state),
    );
    if let Err(e) = client.enqueue(&report).await {
        say(start, format!("report:daily again: rejected, {e}"));
    }
    client
        .enqueue_with(
            &Task::new("payment:charge", r#"{"order":7}"#),
            [TaskOption::max_retry(5), TaskOption::task_id("order-7")],
        )
        .await?;
    client
        .enqueue_with(
            &Task::new("import:csv", "not,a,valid\ncsv"),
            [TaskOption::max_retry(5)],
        )
        .await?;
    if let Err(e) = client
        .enqueue_with(
            &Task::new("x", ""),
            [TaskOption::timeout(Duration::from_millis(500))],
        )
        .await
    {
        say(
            start,
            format!("invalid option rejected before touching Redis: {e}"),
        );
    }

    say(start, "== process ==");
    let thumbnails = Arc::new(AtomicU32::new(0));
    let mut mux = ServeMux::new();
    mux.handle("email:", move |_ctx: TaskContext, task: Task| async move {
        say(
            start,
            format!(
                "{} {}",
                task.task_type(),
                String::from_utf8_lossy(task.payload())
            ),
        );
        Ok(())
    });
    let done = thumbnails.clone();
    mux.handle("image:thumbnail", move |_ctx: TaskContext, _task: Task| {
        let done = done.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            done.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
    });
    mux.handle(
        "payment:charge",
        move |ctx: TaskContext, _task: Task| async move {
            // The payment provider times out twice, then accepts.
            if ctx.retry_count() < 2 {
                say(
                    start,
                    format!(
                        "payment:charge attempt {} failed: provider timeout",
                        ctx.retry_count() + 1
                    ),
                );
                return Err(HandlerError::msg("provider timeout"));
            }
            say(
                start,
                format!("payment:charge attempt {} succeeded", ctx.retry_count() + 1),
            );
            Ok(())
        },
    );
    mux.handle(
        "import:csv",
        move |_ctx: TaskContext, _task: Task| async move {
            say(start, "import:csv: malformed input, not retrying");
            Err(HandlerError::skip_retry("malformed csv"))
        },
    );
    mux.handle(
        "report:daily",
        move |ctx: TaskContext, task: Task| async move {
            ctx.result_writer().write(b"42 orders").await?;
            say(
                start,
                format!(
                    "report:daily for {} written",
                    String::from_utf8_lossy(task.payload())
                ),
            );
            Ok(())
        },
    );

    let config = Config::new()
        .namespace(namespace.clone())
        .concurrency(8)
        .queues([("critical", 6), ("default", 3), ("low", 1)])
        .retry_delay(|_, _, _| Duration::from_secs(1))
        .delayed_task_check_interval(Duration::from_millis(200))
        .task_check_interval(Duration::from_millis(100));
    let server = Server::from_connection(&conn, config)?;
    server.start(mux).await?;

    // Wait until everything due has run: no pending, active, scheduled or retry tasks left.
    let inspector = Inspector::from_connection(&conn, namespace);
    let queues = ["critical", "default", "low"];
    loop {
        let mut busy = 0;
        for q in queues {
            let i = inspector.queue_info(q).await?;
            busy += i.pending + i.active + i.scheduled + i.retry;
        }
        if busy == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
    say(
        start,
        format!("{} thumbnails made", thumbnails.load(Ordering::Relaxed)),
    );

    say(
        start,
        format!("== what Redis holds (namespace {NAMESPACE:?}) =="),
    );
    println!(
        "{:<10} {:>7} {:>9} {:>6} {:>9} {:>9} {:>10} {:>7}",
        "queue", "pending", "scheduled", "retry", "archived", "completed", "processed", "failed"
    );
    for q in queues {
        let i = inspector.queue_info(q).await?;
        println!(
            "{q:<10} {:>7} {:>9} {:>6} {:>9} {:>9} {:>10} {:>7}",
            i.pending,
            i.scheduled,
            i.retry,
            i.archived,
            i.completed,
            i.processed_total,
            i.failed_total
        );
    }
    for t in inspector
        .list_archived_tasks("default", ListOptions::new())
        .await?
    {
        println!("archived: {} {} — {}", t.task_type, t.id, t.last_err);
    }
    for t in inspector
        .list_completed_tasks("default", ListOptions::new())
        .await?
    {
        let result = t
            .result
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        println!("completed: {} {} — result {result:?}", t.task_type, t.id);
    }
    println!(
        "\nThese are asynq's keys and bytes: a Go asynq server, the asynq CLI or asynqmon pointed\n\
         at the same Redis (and namespace) see the same queues and tasks."
    );
    Ok(())
}
