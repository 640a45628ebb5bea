//! Graceful shutdown with `Server::run_until`: the application decides when to stop (here a
//! timer or Ctrl-C); running tasks get the shutdown timeout to finish, the rest go back to
//! their queue.
//!
//! ```sh
//! cargo run -p redisq --example graceful_shutdown
//! ```

mod support;

use std::time::Duration;

use redisq::{Client, Config, ServeMux, Server, Task, TaskContext};

/// Prints when a handler's future is dropped before it finished.
struct Interrupted {
    task: String,
    finished: bool,
}

impl Drop for Interrupted {
    fn drop(&mut self) {
        if !self.finished {
            println!("task {} interrupted: it goes back to its queue", self.task);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let support::Setup {
        _redis,
        conn,
        namespace,
    } = support::setup().await?;
    let client = Client::from_connection(&conn, namespace.clone());
    for i in 0..5 {
        client
            .enqueue(&Task::new("work:slow", format!("{i}")))
            .await?;
    }

    let mut mux = ServeMux::new();
    mux.handle("work:", |_ctx: TaskContext, task: Task| async move {
        let n = String::from_utf8_lossy(task.payload()).into_owned();
        // Told when the server gives up on the task: its future is dropped then.
        let mut guard = Interrupted {
            task: n.clone(),
            finished: false,
        };
        tokio::time::sleep(Duration::from_millis(1500)).await;
        guard.finished = true;
        println!("task {n} done");
        Ok(())
    });
    let server = Server::from_connection(
        &conn,
        Config::new()
            .namespace(namespace)
            .concurrency(2)
            .shutdown_timeout(Duration::from_millis(200)),
    )?;
    // Stop after two seconds, or at Ctrl-C, whichever comes first.
    let stop = async {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => println!("time is up: shutting down"),
            _ = tokio::signal::ctrl_c() => println!("Ctrl-C: shutting down"),
        }
    };
    server.run_until(mux, stop).await?;
    println!("server stopped");
    Ok(())
}
