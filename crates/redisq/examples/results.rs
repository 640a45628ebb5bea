//! Keeping a task's result and reading it back with the Inspector.
//!
//! ```sh
//! cargo run -p redisq --example results
//! ```

mod support;

use std::time::Duration;

use redisq::{
    Client, Config, Inspector, ListOptions, ServeMux, Server, Task, TaskContext, TaskOption,
    TaskState,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Setup {
        _redis,
        conn,
        namespace,
    } = support::setup().await?;
    let client = Client::from_connection(&conn, namespace.clone());
    let inspector = Inspector::from_connection(&conn, namespace.clone());

    let mut mux = ServeMux::new();
    mux.handle("sum", |ctx: TaskContext, task: Task| async move {
        let text = String::from_utf8_lossy(task.payload()).into_owned();
        let total: i64 = text
            .split(',')
            .filter_map(|n| n.trim().parse::<i64>().ok())
            .sum();
        ctx.result_writer()
            .write(total.to_string().as_bytes())
            .await?;
        Ok(())
    });
    let server = Server::from_connection(&conn, Config::new().namespace(namespace))?;
    server.start(mux).await?;

    // Kept for an hour after it succeeds, with its result.
    let info = client
        .enqueue_with(
            &Task::new("sum", "1, 2, 3, 4"),
            [TaskOption::retention(Duration::from_secs(3600))],
        )
        .await?;
    println!("enqueued {} in {}", info.id, info.queue);

    let done = loop {
        let t = inspector.task_info(&info.queue, &info.id).await?;
        if t.state == TaskState::Completed {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let result = done.result.unwrap_or_default();
    println!(
        "task {} completed at {:?} with result {:?}",
        done.id,
        done.completed_at,
        String::from_utf8_lossy(&result)
    );
    for t in inspector
        .list_completed_tasks(&info.queue, ListOptions::new())
        .await?
    {
        println!("completed: {} {}", t.task_type, t.id);
    }
    server.shutdown().await;
    Ok(())
}
