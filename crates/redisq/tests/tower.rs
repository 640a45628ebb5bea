//! tower interop on real Redis: services as handlers, layers around a mux's handlers (built
//! once, not per task), tower's timeout and concurrency limit, and errors becoming task
//! failures.
#![cfg(feature = "tower")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use redisq::{
    HandlerError, HandlerService, ServeMux, Server, ServiceHandler, Task, TaskContext, TaskOption,
    TaskRequest,
};
use tokio::sync::mpsc;
use tower::limit::ConcurrencyLimitLayer;
use tower::timeout::TimeoutLayer;
use tower::{Layer, Service, ServiceBuilder};

use common::{Env, fast_config, recv, task_hash, task_msg, wait_for_state, wait_until};

async fn enqueue(env: &Env, task_type: &str, id: &str, opts: Vec<TaskOption>) {
    let mut all = vec![TaskOption::task_id(id)];
    all.extend(opts);
    env.client
        .enqueue_with(&Task::new(task_type, id.to_string()), all)
        .await
        .expect("enqueue");
}

async fn wait_gone(c: &redis::aio::MultiplexedConnection, id: &str) {
    wait_until(&format!("{id} completed"), || async {
        task_hash(c, "default", id).await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_tower_service_processes_tasks() {
    let env = Env::start().await;
    let c = env.conn().await;
    for id in ["s1", "s2", "s3"] {
        enqueue(&env, "report:daily", id, vec![]).await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();
    let svc = tower::service_fn(move |req: TaskRequest| {
        let tx = tx.clone();
        async move {
            let payload = String::from_utf8_lossy(req.task.payload()).into_owned();
            let _ = tx.send((req.ctx.task_id().to_string(), payload));
            Ok::<(), HandlerError>(())
        }
    });
    let mut mux = ServeMux::new();
    mux.handle_service("report:", svc);
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(mux).await.expect("start");
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(recv(&mut rx).await);
    }
    for id in ["s1", "s2", "s3"] {
        wait_gone(&c, id).await;
    }
    server.shutdown().await;
    seen.sort();
    assert_eq!(
        seen,
        [("s1", "s1"), ("s2", "s2"), ("s3", "s3")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
}

#[tokio::test]
async fn a_skip_retry_error_from_a_service_archives_the_task() {
    let env = Env::start().await;
    let c = env.conn().await;
    enqueue(&env, "bad", "b1", vec![TaskOption::max_retry(5)]).await;
    let svc = tower::service_fn(|_req: TaskRequest| async {
        Err::<(), _>(HandlerError::skip_retry("malformed"))
    });
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    // Wrapped in a boxing layer on the way: the kind survives.
    let stack = ServiceBuilder::new()
        .map_err(|e: HandlerError| -> tower::BoxError { Box::new(redisq::HandlerFailure::from(e)) })
        .service(svc);
    server
        .start(ServiceHandler::new(stack))
        .await
        .expect("start");
    wait_for_state(&c, "default", "b1", "archived").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "b1").await;
    assert_eq!(msg.retried, 0);
    assert_eq!(msg.error_msg, "malformed: skip retry for the task");
}

/// Counts how often it is applied (`layer`) and how many calls go through what it built.
#[derive(Clone, Default)]
struct Counting {
    built: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    log: Option<mpsc::UnboundedSender<&'static str>>,
    name: &'static str,
}

#[derive(Clone)]
struct Counted<S> {
    inner: S,
    calls: Arc<AtomicUsize>,
    log: Option<mpsc::UnboundedSender<&'static str>>,
    name: &'static str,
}

impl<S> Layer<S> for Counting {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        self.built.fetch_add(1, Ordering::SeqCst);
        Counted {
            inner,
            calls: self.calls.clone(),
            log: self.log.clone(),
            name: self.name,
        }
    }
}

impl<S: Service<TaskRequest>> Service<TaskRequest> for Counted<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: TaskRequest) -> S::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(log) = &self.log {
            let _ = log.send(self.name);
        }
        self.inner.call(req)
    }
}

#[tokio::test]
async fn mux_layers_apply_in_order_and_are_built_once_per_handler() {
    let env = Env::start().await;
    let c = env.conn().await;
    let (log_tx, mut log_rx) = mpsc::unbounded_channel::<&'static str>();
    let outer = Counting {
        log: Some(log_tx.clone()),
        name: "outer",
        ..Counting::default()
    };
    let inner = Counting {
        log: Some(log_tx.clone()),
        name: "inner",
        ..Counting::default()
    };
    let mut mux = ServeMux::new();
    for pattern in ["a:", "b:"] {
        let log = log_tx.clone();
        mux.handle(pattern, move |_ctx: TaskContext, _task: Task| {
            let log = log.clone();
            async move {
                let _ = log.send("handler");
                Ok(())
            }
        });
    }
    mux.layer(outer.clone())
        .layer(ServiceBuilder::new().layer(inner.clone()));
    let ids: Vec<String> = (0..6).map(|i| format!("t{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let task_type = if i % 2 == 0 { "a:x" } else { "b:y" };
        enqueue(&env, task_type, id, vec![]).await;
    }
    let server = Server::new(env.opt(), fast_config().concurrency(1))
        .await
        .expect("server");
    server.start(mux).await.expect("start");
    for id in &ids {
        wait_gone(&c, id).await;
    }
    server.shutdown().await;

    // Once per handler (two, plus the not-found one), however many tasks ran.
    assert_eq!(outer.built.load(Ordering::SeqCst), 3);
    assert_eq!(inner.built.load(Ordering::SeqCst), 3);
    assert_eq!(outer.calls.load(Ordering::SeqCst), 6);
    assert_eq!(inner.calls.load(Ordering::SeqCst), 6);
    // One task at a time: each goes outer, inner, handler.
    for _ in 0..6 {
        assert_eq!(
            [
                recv(&mut log_rx).await,
                recv(&mut log_rx).await,
                recv(&mut log_rx).await
            ],
            ["outer", "inner", "handler"]
        );
    }
}

#[tokio::test]
async fn a_timeout_layer_turns_a_slow_handler_into_a_failure() {
    let env = Env::start().await;
    let c = env.conn().await;
    // The task's own timeout is long: the layer is what stops it.
    enqueue(
        &env,
        "slow",
        "late",
        vec![
            TaskOption::max_retry(0),
            TaskOption::timeout(Duration::from_secs(600)),
        ],
    )
    .await;
    enqueue(&env, "fast", "quick", vec![]).await;
    let mut mux = ServeMux::new();
    mux.handle("slow", |ctx: TaskContext, _task: Task| async move {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(60)) => {}
            _ = ctx.cancelled() => {}
        }
        Ok(())
    });
    mux.handle("fast", |_ctx: TaskContext, _task: Task| async { Ok(()) });
    mux.layer(TimeoutLayer::new(Duration::from_millis(200)));
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(mux).await.expect("start");
    wait_for_state(&c, "default", "late", "archived").await;
    wait_gone(&c, "quick").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "late").await;
    assert_eq!(msg.error_msg, "request timed out");
    assert_eq!(msg.retried, 0);
}

/// Sends the number of handlers running at once each time one starts.
fn overlapping(
    running: Arc<AtomicUsize>,
    tx: mpsc::UnboundedSender<usize>,
) -> impl Fn(TaskContext, Task) -> std::pin::Pin<Box<dyn Future<Output = redisq::HandlerResult> + Send>>
+ Send
+ Sync
+ 'static {
    move |_ctx: TaskContext, _task: Task| {
        let (running, tx) = (running.clone(), tx.clone());
        Box::pin(async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            let _ = tx.send(now);
            tokio::time::sleep(Duration::from_millis(100)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_concurrency_limit_layer_limits_each_handler() {
    let env = Env::start().await;
    let c = env.conn().await;
    let ids: Vec<String> = (0..4).map(|i| format!("c{i}")).collect();
    for id in &ids {
        enqueue(&env, "image:resize", id, vec![]).await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut mux = ServeMux::new();
    mux.handle(
        "image:resize",
        overlapping(Arc::new(AtomicUsize::new(0)), tx),
    );
    mux.layer(ConcurrencyLimitLayer::new(1));
    let server = Server::new(env.opt(), fast_config().concurrency(4))
        .await
        .expect("server");
    server.start(mux).await.expect("start");
    let mut most = 0;
    for _ in 0..4 {
        most = most.max(recv(&mut rx).await);
    }
    for id in &ids {
        wait_gone(&c, id).await;
    }
    server.shutdown().await;
    assert_eq!(most, 1, "four workers, but one resize at a time");
}

#[tokio::test]
async fn a_whole_mux_behind_a_service_builder_stack() {
    let env = Env::start().await;
    let c = env.conn().await;
    let ids: Vec<String> = (0..4).map(|i| format!("m{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        let task_type = if i % 2 == 0 { "a" } else { "b" };
        enqueue(&env, task_type, id, vec![]).await;
    }
    let running = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut mux = ServeMux::new();
    mux.handle("a", overlapping(running.clone(), tx.clone()))
        .handle("b", overlapping(running, tx));
    let counting = Counting::default();
    let stack = ServiceBuilder::new()
        .layer(counting.clone())
        .concurrency_limit(1)
        .timeout(Duration::from_secs(10))
        .service(HandlerService::new(mux));
    assert_eq!(counting.built.load(Ordering::SeqCst), 1, "built here, once");
    let server = Server::new(env.opt(), fast_config().concurrency(4))
        .await
        .expect("server");
    server
        .start(ServiceHandler::new(stack))
        .await
        .expect("start");
    let mut most = 0;
    for _ in 0..4 {
        most = most.max(recv(&mut rx).await);
    }
    for id in &ids {
        wait_gone(&c, id).await;
    }
    server.shutdown().await;
    assert_eq!(most, 1, "one task at a time across the whole mux");
    assert_eq!(counting.built.load(Ordering::SeqCst), 1);
    assert_eq!(counting.calls.load(Ordering::SeqCst), 4);
}
