//! Server tests on real Redis: what handlers see (TaskContext, shared data), the error
//! handler, and ServeMux routing with middleware and its not-found error.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use redisq::{BoxHandler, HandlerError, ServeMux, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

use common::{
    Env, fast_config, recv, task_hash, task_msg, unix_secs_of, wait_for_state, wait_until,
};

/// Shared data handed to handlers through `Config::data`.
#[derive(Debug)]
struct Greeting(&'static str);

/// What a handler saw in one attempt.
#[derive(Debug)]
struct Seen {
    id: String,
    queue: String,
    retry_count: u32,
    max_retry: u32,
    deadline: SystemTime,
    at: SystemTime,
    greeting: Option<&'static str>,
}

#[tokio::test]
async fn context_and_error_handler_see_every_attempt() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("flaky", "x"),
            [
                TaskOption::task_id("ctx1"),
                TaskOption::queue("jobs"),
                TaskOption::max_retry(2),
                TaskOption::timeout(Duration::from_secs(60)),
            ],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let retry = ctx.retry_count();
            let _ = tx.send(Seen {
                id: ctx.task_id().to_string(),
                queue: ctx.queue().to_string(),
                retry_count: retry,
                max_retry: ctx.max_retry(),
                deadline: ctx.deadline(),
                at: SystemTime::now(),
                greeting: ctx.data::<Greeting>().map(|g| g.0),
            });
            Err(HandlerError::msg(format!("attempt {retry} failed")))
        }
    };
    let errors = Arc::new(Mutex::new(Vec::<(String, u32, String)>::new()));
    let e = errors.clone();
    let config = fast_config()
        .queues([("jobs", 1)])
        .data(Greeting("hello"))
        .retry_delay(|_, _, _| Duration::ZERO)
        .error_handler(move |ctx, task, err| {
            e.lock()
                .map(|mut v| {
                    v.push((
                        task.task_type().to_string(),
                        ctx.retry_count(),
                        err.to_string(),
                    ))
                })
                .ok();
        });
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    let mut attempts = Vec::new();
    for _ in 0..3 {
        attempts.push(recv(&mut rx).await);
    }
    wait_for_state(&c, "jobs", "ctx1", "archived").await;
    server.shutdown().await;
    for (n, s) in attempts.iter().enumerate() {
        assert_eq!(s.id, "ctx1");
        assert_eq!(s.queue, "jobs");
        assert_eq!(s.retry_count, n as u32);
        assert_eq!(s.max_retry, 2);
        assert_eq!(s.greeting, Some("hello"));
        // The deadline is the attempt's start + the 60 s timeout.
        let left = s.deadline.duration_since(s.at).unwrap_or_default();
        assert!(
            left > Duration::ZERO && left <= Duration::from_secs(60),
            "attempt {n}: deadline {left:?} ahead"
        );
    }
    let errors = errors.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(
        errors,
        (0..3u32)
            .map(|n| ("flaky".to_string(), n, format!("attempt {n} failed")))
            .collect::<Vec<_>>(),
        "one error handler call per failure"
    );
    let msg = task_msg(&c, "jobs", "ctx1").await;
    assert_eq!(msg.error_msg, "attempt 2 failed");
    assert_eq!(msg.retried, 2);
}

#[tokio::test]
async fn context_deadline_is_the_task_deadline() {
    let env = Env::start().await;
    let deadline = SystemTime::now() + Duration::from_secs(3600);
    env.client
        .enqueue_with(
            &Task::new("bounded", "x"),
            [TaskOption::task_id("dl"), TaskOption::deadline(deadline)],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<SystemTime>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.deadline());
            Ok(())
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    server.start(handler).await.expect("start");
    let seen = recv(&mut rx).await;
    server.shutdown().await;
    // Without a timeout the deadline bounds the attempt; it is stored in whole seconds.
    assert_eq!(
        seen,
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix_secs_of(deadline) as u64)
    );
}

/// Middleware that logs `<name>>` before and `<<name>` after the inner handler.
fn logging(name: &'static str, log: Arc<Mutex<Vec<String>>>) -> impl Fn(BoxHandler) -> BoxHandler {
    move |next: BoxHandler| -> BoxHandler {
        let log = log.clone();
        Arc::new(move |ctx: TaskContext, task: Task| {
            let (log, next) = (log.clone(), next.clone());
            async move {
                log.lock()
                    .map(|mut l| l.push(format!("{name}>{}", task.task_type())))
                    .ok();
                let res = next.process_task(ctx, task).await;
                log.lock()
                    .map(|mut l| l.push(format!("<{name}:{}", res.is_ok())))
                    .ok();
                res
            }
        })
    }
}

#[tokio::test]
async fn mux_middleware_wraps_handlers_and_unknown_types_are_retried() {
    let env = Env::start().await;
    let c = env.conn().await;
    let log = Arc::new(Mutex::new(Vec::<String>::new()));
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut mux = ServeMux::new();
    let l = log.clone();
    mux.handle("email:", move |_ctx: TaskContext, task: Task| {
        let (l, tx) = (l.clone(), tx.clone());
        async move {
            l.lock()
                .map(|mut v| v.push(format!("handler:{}", task.task_type())))
                .ok();
            let _ = tx.send(task.task_type().to_string());
            Ok(())
        }
    });
    mux.middleware(logging("outer", log.clone()));
    mux.middleware(logging("inner", log.clone()));
    env.client
        .enqueue_with(
            &Task::new("email:welcome", "x"),
            [TaskOption::task_id("m1")],
        )
        .await
        .expect("enqueue");
    let config = fast_config()
        .concurrency(1)
        .retry_delay(|_, _, _| Duration::from_secs(3600));
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(mux).await.expect("start");
    assert_eq!(recv(&mut rx).await, "email:welcome");
    wait_until("m1 done", || async {
        task_hash(&c, "default", "m1").await.is_empty()
    })
    .await;
    env.client
        .enqueue_with(&Task::new("x", "x"), [TaskOption::task_id("nf")])
        .await
        .expect("enqueue");
    wait_for_state(&c, "default", "nf", "retry").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "nf").await;
    assert_eq!(msg.error_msg, r#"handler not found for task "x""#);
    assert_eq!(msg.retried, 1, "a normal failure: retried");
    let got = log.lock().map(|l| l.clone()).unwrap_or_default();
    assert_eq!(
        got,
        [
            "outer>email:welcome",
            "inner>email:welcome",
            "handler:email:welcome",
            "<inner:true",
            "<outer:true",
            // Middleware also wraps the not-found handler.
            "outer>x",
            "inner>x",
            "<inner:false",
            "<outer:false",
        ]
    );
}
