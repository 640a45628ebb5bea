//! A scheduler: cron and `@every` entries enqueue tasks that a server runs.
//!
//! ```sh
//! cargo run -p redisq --example scheduler
//! ```
//!
//! Runs for about five seconds, then shuts both down.

mod support;

use std::time::Duration;

use redisq::{Config, Scheduler, SchedulerConfig, ServeMux, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Setup {
        _redis,
        conn,
        namespace,
    } = support::setup().await?;

    let scheduler = Scheduler::from_connection(
        &conn,
        SchedulerConfig::new()
            .namespace(namespace.clone())
            .post_enqueue(|res| match res {
                Ok(info) => println!("scheduler: enqueued {} ({})", info.task_type, info.id),
                Err(e) => eprintln!("scheduler: enqueue failed: {e}"),
            }),
    )?;
    // Every second, and every weekday at 09:00 in Berlin.
    scheduler.register("@every 1s", Task::new("heartbeat:ping", ""), [])?;
    scheduler.register(
        "CRON_TZ=Europe/Berlin 0 9 * * MON-FRI",
        Task::new("report:daily", ""),
        [TaskOption::queue("low")],
    )?;

    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut mux = ServeMux::new();
    mux.handle("heartbeat:", move |_ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(task.task_type().to_string());
            Ok(())
        }
    });
    let server = Server::from_connection(
        &conn,
        Config::new()
            .namespace(namespace)
            .queues([("default", 1), ("low", 1)]),
    )?;
    server.start(mux).await?;
    scheduler.start().await?;

    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    let mut runs = 0;
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            Some(kind) = rx.recv() => {
                runs += 1;
                println!("server: ran {kind} (#{runs})");
            }
        }
    }
    scheduler.shutdown().await;
    server.shutdown().await;
    println!("{runs} periodic tasks ran");
    Ok(())
}
