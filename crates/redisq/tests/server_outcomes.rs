//! Server tests on real Redis: what happens to a task after a failed attempt — non-failure
//! errors, skip-retry, revoke, timeouts and deadlines, panics and undecodable messages.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use redisq::{HandlerError, Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

use common::{
    DropProbe, Env, counter, fast_config, recv, task_hash, task_msg, task_state, unix_now,
    wait_for_state, wait_until,
};

type Conn = redis::aio::MultiplexedConnection;

async fn zscore(c: &Conn, key: &str, member: &str) -> Option<f64> {
    redis::cmd("ZSCORE")
        .arg(key)
        .arg(member)
        .query_async(&mut c.clone())
        .await
        .expect("ZSCORE")
}

async fn llen(c: &Conn, key: &str) -> usize {
    redis::cmd("LLEN")
        .arg(key)
        .query_async(&mut c.clone())
        .await
        .expect("LLEN")
}

/// A handler that reports each attempt and then fails with `make_err()`.
fn failing<F>(tx: mpsc::UnboundedSender<String>, make_err: F) -> impl redisq::Handler
where
    F: Fn() -> HandlerError + Send + Sync + 'static,
{
    let make_err = Arc::new(make_err);
    move |ctx: TaskContext, _task: Task| {
        let (tx, make_err) = (tx.clone(), make_err.clone());
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            Err(make_err())
        }
    }
}

#[tokio::test]
async fn non_failure_error_is_retried_without_counting() {
    let env = Env::start().await;
    let c = env.conn().await;
    // "soft" fails with an error the predicate says is no failure; "hard" with a failure.
    for id in ["soft", "hard"] {
        env.client
            .enqueue_with(&Task::new("t", id), [TaskOption::task_id(id)])
            .await
            .expect("enqueue");
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            if task.payload() == b"soft" {
                Err(HandlerError::msg("busy: not a failure"))
            } else {
                Err(HandlerError::msg("broken"))
            }
        }
    };
    let config = fast_config()
        .is_failure(|e| !e.to_string().contains("not a failure"))
        // Far away, so the tasks stay in `retry` and their state can be read.
        .retry_delay(|_, _, _| Duration::from_secs(3600));
    let server = Server::new(env.opt(), config).await.expect("server");
    let before = unix_now();
    server.start(handler).await.expect("start");
    let mut ran = vec![recv(&mut rx).await, recv(&mut rx).await];
    ran.sort();
    assert_eq!(ran, ["hard", "soft"]);
    wait_for_state(&c, "default", "soft", "retry").await;
    wait_for_state(&c, "default", "hard", "retry").await;
    server.shutdown().await;
    let soft = task_msg(&c, "default", "soft").await;
    assert_eq!(soft.retried, 0, "a non-failure does not use up a retry");
    assert_eq!(soft.error_msg, "busy: not a failure");
    assert!(soft.last_failed_at >= before);
    let hard = task_msg(&c, "default", "hard").await;
    assert_eq!((hard.retried, hard.error_msg.as_str()), (1, "broken"));
    for id in ["soft", "hard"] {
        let score = zscore(&c, "asynq:{default}:retry", id)
            .await
            .expect("in the retry set");
        assert!(score >= (before + 3600) as f64, "retry score {score}");
    }
    // Only the real failure is counted.
    assert_eq!(counter(&c, "asynq:{default}:processed").await, Some(1));
    assert_eq!(counter(&c, "asynq:{default}:failed").await, Some(1));
    assert_eq!(llen(&c, "asynq:{default}:active").await, 0);
}

#[tokio::test]
async fn skip_retry_archives_at_once() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("t", "x"),
            [TaskOption::task_id("sr"), TaskOption::max_retry(10)],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = fast_config().retry_delay(|_, _, _| Duration::ZERO);
    let server = Server::new(env.opt(), config).await.expect("server");
    server
        .start(failing(tx, || HandlerError::skip_retry("bad input")))
        .await
        .expect("start");
    assert_eq!(recv(&mut rx).await, "sr");
    wait_for_state(&c, "default", "sr", "archived").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "sr").await;
    assert_eq!(msg.error_msg, "bad input: skip retry for the task");
    assert_eq!(msg.retried, 0);
    assert!(zscore(&c, "asynq:{default}:archived", "sr").await.is_some());
    assert!(zscore(&c, "asynq:{default}:retry", "sr").await.is_none());
    assert_eq!(counter(&c, "asynq:{default}:processed").await, Some(1));
    assert_eq!(counter(&c, "asynq:{default}:failed").await, Some(1));
    // Retries were allowed and immediate, yet the handler ran once.
    assert!(rx.try_recv().is_err(), "the task was run again");
}

#[tokio::test]
async fn revoke_deletes_the_task_and_counts_it_processed() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(&Task::new("t", "x"), [TaskOption::task_id("rv")])
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let errors = Arc::new(AtomicUsize::new(0));
    let seen = errors.clone();
    let config = fast_config()
        .retry_delay(|_, _, _| Duration::ZERO)
        .error_handler(move |_, _, err| {
            if err.is_revoke() {
                seen.fetch_add(1, Ordering::SeqCst);
            }
        });
    let server = Server::new(env.opt(), config).await.expect("server");
    server
        .start(failing(tx, || HandlerError::revoke("obsolete")))
        .await
        .expect("start");
    assert_eq!(recv(&mut rx).await, "rv");
    wait_until("the revoked task is deleted", || async {
        task_hash(&c, "default", "rv").await.is_empty()
    })
    .await;
    server.shutdown().await;
    assert_eq!(counter(&c, "asynq:{default}:processed").await, Some(1));
    assert_eq!(counter(&c, "asynq:{default}:failed").await, None);
    assert_eq!(llen(&c, "asynq:{default}:active").await, 0);
    for set in ["retry", "archived", "completed", "lease"] {
        let key = format!("asynq:{{default}}:{set}");
        assert!(zscore(&c, &key, "rv").await.is_none(), "left in {set}");
    }
    assert_eq!(
        errors.load(Ordering::SeqCst),
        1,
        "the error handler saw the revoke error"
    );
    assert!(rx.try_recv().is_err(), "the task was run again");
}

#[tokio::test]
async fn timeout_cancels_the_handler_and_archives_without_retries() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("slow", "x"),
            [
                TaskOption::task_id("to"),
                TaskOption::timeout(Duration::from_secs(1)),
                TaskOption::max_retry(0),
            ],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, bool)>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(("started", ctx.is_cancelled()));
            // Reports, when the future is dropped, whether ctx was cancelled by then.
            let _probe = DropProbe {
                label: "dropped",
                ctx: ctx.clone(),
                tx: tx.clone(),
            };
            ctx.cancelled().await;
            Err(HandlerError::msg("gave up"))
        }
    };
    let server = Server::new(env.opt(), fast_config()).await.expect("server");
    let started = SystemTime::now();
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, ("started", false));
    // The attempt ends at the timeout: ctx is cancelled and the handler's future dropped.
    assert_eq!(recv(&mut rx).await, ("dropped", true));
    assert!(
        started.elapsed().unwrap_or_default() >= Duration::from_secs(1),
        "cancelled before the timeout"
    );
    wait_for_state(&c, "default", "to", "archived").await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "to").await;
    assert_eq!(msg.error_msg, "context deadline exceeded");
    assert_eq!(counter(&c, "asynq:{default}:failed").await, Some(1));
}

#[tokio::test]
async fn past_deadline_fails_without_running_the_handler() {
    let env = Env::start().await;
    let c = env.conn().await;
    let past = SystemTime::now() - Duration::from_secs(3600);
    env.client
        .enqueue_with(
            &Task::new("late", "x"),
            [
                TaskOption::task_id("late"),
                TaskOption::deadline(past),
                TaskOption::max_retry(1),
            ],
        )
        .await
        .expect("a deadline in the past is accepted at enqueue");
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    let handler = move |_ctx: TaskContext, _task: Task| {
        let r = r.clone();
        async move {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    };
    // One immediate retry: each attempt fails at once until the task is archived.
    let config = fast_config().retry_delay(|_, _, _| Duration::ZERO);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    wait_for_state(&c, "default", "late", "archived").await;
    server.shutdown().await;
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the handler never ran");
    let msg = task_msg(&c, "default", "late").await;
    assert_eq!(msg.error_msg, "context deadline exceeded");
    assert_eq!(msg.retried, 1, "one retry, then archived");
    assert_eq!(counter(&c, "asynq:{default}:failed").await, Some(2));
}

#[tokio::test]
async fn panic_is_a_failure_and_the_server_keeps_going() {
    let env = Env::start().await;
    let c = env.conn().await;
    env.client
        .enqueue_with(
            &Task::new("boom", "x"),
            [TaskOption::task_id("p1"), TaskOption::max_retry(0)],
        )
        .await
        .expect("enqueue");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            if task.task_type() == "boom" {
                panic!("handler exploded");
            }
            Ok(())
        }
    };
    let panics = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let p = panics.clone();
    let config = fast_config()
        .concurrency(1)
        .error_handler(move |_, _, err| {
            if err.is_panic() {
                p.lock().map(|mut v| v.push(err.to_string())).ok();
            }
        });
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, "p1");
    wait_for_state(&c, "default", "p1", "archived").await;
    // The server is still alive and takes the next task.
    env.client
        .enqueue_with(&Task::new("fine", "y"), [TaskOption::task_id("p2")])
        .await
        .expect("enqueue");
    assert_eq!(recv(&mut rx).await, "p2");
    wait_until("the following task is done", || async {
        counter(&c, "asynq:{default}:processed").await == Some(2)
    })
    .await;
    server.shutdown().await;
    let msg = task_msg(&c, "default", "p1").await;
    assert!(
        msg.error_msg.contains("panic") && msg.error_msg.contains("handler exploded"),
        "error: {:?}",
        msg.error_msg
    );
    assert_eq!(counter(&c, "asynq:{default}:failed").await, Some(1));
    assert!(task_hash(&c, "default", "p2").await.is_empty());
    let seen = panics.lock().map(|v| v.clone()).unwrap_or_default();
    assert_eq!(seen.len(), 1, "the error handler saw one panic: {seen:?}");
}

#[tokio::test]
async fn corrupt_message_is_archived_and_others_still_run() {
    let env = Env::start().await;
    let c = env.conn().await;
    for id in ["bad", "good"] {
        env.client
            .enqueue_with(&Task::new("t", "x"), [TaskOption::task_id(id)])
            .await
            .expect("enqueue");
    }
    // Field 1 with wire type 7 does not exist in protobuf: this cannot be decoded.
    let garbage: &[u8] = b"\x0f\xff\xfe not a protobuf message";
    let _: () = redis::cmd("HSET")
        .arg("asynq:{default}:t:bad")
        .arg("msg")
        .arg(garbage)
        .query_async(&mut c.clone())
        .await
        .expect("HSET");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let handler = move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.task_id().to_string());
            Ok(())
        }
    };
    let server = Server::new(env.opt(), fast_config().concurrency(1))
        .await
        .expect("server");
    server.start(handler).await.expect("start");
    assert_eq!(recv(&mut rx).await, "good");
    wait_for_state(&c, "default", "bad", "archived").await;
    wait_until("the good task is done", || async {
        task_hash(&c, "default", "good").await.is_empty()
    })
    .await;
    server.shutdown().await;
    let h = task_hash(&c, "default", "bad").await;
    let error = String::from_utf8_lossy(h.get("error").expect("an error field")).into_owned();
    assert!(error.contains("corrupt"), "error field: {error:?}");
    assert_eq!(h.get("msg").map(Vec::as_slice), Some(garbage), "bytes kept");
    assert!(
        zscore(&c, "asynq:{default}:archived", "bad")
            .await
            .is_some()
    );
    assert_eq!(llen(&c, "asynq:{default}:active").await, 0);
    assert_eq!(task_state(&c, "default", "good").await, None);
    assert!(
        rx.try_recv().is_err(),
        "the corrupt task reached the handler"
    );
}
