//! A tower layer stack around redisq handlers: a timeout and a concurrency limit per handler,
//! and a logging layer of our own, all built once when the server starts.
//!
//! ```sh
//! cargo run -p redisq --example tower_layers --features tower
//! ```

mod support;

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use redisq::{Client, Config, ServeMux, Server, Task, TaskContext, TaskRequest};
use tower::limit::ConcurrencyLimitLayer;
use tower::timeout::TimeoutLayer;
use tower::{Layer, Service};

/// A layer of our own: logs how long each task took.
#[derive(Clone)]
struct Timing;

impl<S> Layer<S> for Timing {
    type Service = TimingService<S>;
    fn layer(&self, inner: S) -> TimingService<S> {
        println!("building the timing layer (once per handler, not per task)");
        TimingService { inner }
    }
}

#[derive(Clone)]
struct TimingService<S> {
    inner: S,
}

impl<S> Service<TaskRequest> for TimingService<S>
where
    S: Service<TaskRequest, Response = ()> + Send,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = S::Error;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: TaskRequest) -> Self::Future {
        let what = format!("{} {}", req.task.task_type(), req.ctx.task_id());
        let started = Instant::now();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let res = fut.await;
            let outcome = if res.is_ok() { "ok" } else { "failed" };
            println!("{what}: {outcome} after {:?}", started.elapsed());
            res
        })
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

    let mut mux = ServeMux::new();
    mux.handle("sleep", |_ctx: TaskContext, task: Task| async move {
        let ms: u64 = String::from_utf8_lossy(task.payload()).parse().unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(())
    });
    // The first layer added is the outermost.
    mux.layer(Timing)
        .layer(TimeoutLayer::new(Duration::from_millis(300)))
        .layer(ConcurrencyLimitLayer::new(2));

    let server = Server::from_connection(
        &conn,
        Config::new()
            .namespace(namespace)
            .retry_delay(|_, _, _| Duration::from_secs(3600)),
    )?;
    server.start(mux).await?;
    for ms in [50, 100, 1000] {
        // The 1000 ms task runs into the 300 ms timeout and fails (it will be retried later).
        client.enqueue(&Task::new("sleep", ms.to_string())).await?;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.shutdown().await;
    Ok(())
}
