//! Server tests on real Redis: queue selection (weighted and strict priorities) and paused
//! queues.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use redisq::{Server, Task, TaskContext, TaskOption};
use tokio::sync::mpsc;

use common::{Env, counter, fast_config, recv, unix_now, wait_until};

/// Enqueues `n` tasks into `queue` in one batch.
async fn fill(env: &Env, queue: &str, n: usize) {
    let tasks: Vec<Task> = (0..n)
        .map(|i| Task::new("work", format!("{queue}-{i}")))
        .collect();
    for r in env
        .client
        .enqueue_batch(&tasks, [TaskOption::queue(queue)])
        .await
    {
        r.expect("batch enqueue");
    }
}

/// A handler that reports the queue of every task it runs, in order.
fn recorder(tx: mpsc::UnboundedSender<String>) -> impl redisq::Handler {
    move |ctx: TaskContext, _task: Task| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ctx.queue().to_string());
            Ok(())
        }
    }
}

#[tokio::test]
async fn weighted_priorities_share_work_by_weight() {
    let env = Env::start().await;
    // Enough tasks that no queue runs dry within the sample (critical needs ~60 % of it).
    const PER_QUEUE: usize = 700;
    const SAMPLE: usize = 600;
    for q in ["critical", "default", "low"] {
        fill(&env, q, PER_QUEUE).await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = fast_config()
        .concurrency(1)
        .queues([("critical", 6), ("default", 3), ("low", 1)]);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(recorder(tx)).await.expect("start");
    let mut counts = BTreeMap::<String, usize>::new();
    for _ in 0..SAMPLE {
        let q = recv(&mut rx).await;
        *counts.entry(q).or_default() += 1;
    }
    server.shutdown().await;
    let share = |q: &str| 100.0 * counts.get(q).copied().unwrap_or(0) as f64 / SAMPLE as f64;
    // With 600 samples one standard deviation of the critical share is 2 points: ±8 points
    // is 4 standard deviations.
    for (q, expected) in [("critical", 60.0), ("default", 30.0), ("low", 10.0)] {
        let got = share(q);
        assert!(
            (got - expected).abs() <= 8.0,
            "queue {q}: {got:.1} % of the first {SAMPLE} tasks, expected {expected} % ± 8 ({counts:?})"
        );
    }
    // Every queue still had tasks left, so the shares measure the selection alone.
    let c = env.conn().await;
    for q in ["critical", "default", "low"] {
        let left: usize = redis::cmd("LLEN")
            .arg(format!("asynq:{{{q}}}:pending"))
            .query_async(&mut c.clone())
            .await
            .expect("LLEN");
        assert!(left > 0, "queue {q} ran dry during the sample");
    }
}

#[tokio::test]
async fn strict_priority_drains_higher_queues_first() {
    let env = Env::start().await;
    const PER_QUEUE: usize = 40;
    // Enqueued lowest first, so that insertion order cannot explain the result.
    for q in ["low", "default", "critical"] {
        fill(&env, q, PER_QUEUE).await;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let config = fast_config().concurrency(1).strict_priority(true).queues([
        ("critical", 6),
        ("default", 3),
        ("low", 1),
    ]);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(recorder(tx)).await.expect("start");
    let mut order = Vec::new();
    for _ in 0..3 * PER_QUEUE {
        order.push(recv(&mut rx).await);
    }
    server.shutdown().await;
    let rank = |q: &str| match q {
        "critical" => 0,
        "default" => 1,
        _ => 2,
    };
    let ranks: Vec<u8> = order.iter().map(|q| rank(q)).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "a lower-priority task ran before a higher one: {order:?}"
    );
    let mut expected = vec![0u8; PER_QUEUE];
    expected.extend(vec![1u8; PER_QUEUE]);
    expected.extend(vec![2u8; PER_QUEUE]);
    assert_eq!(ranks, expected);
}

#[tokio::test]
async fn paused_queue_is_skipped_until_resumed() {
    let env = Env::start().await;
    let c = env.conn().await;
    let _: () = redis::cmd("SET")
        .arg("asynq:{default}:paused")
        .arg(unix_now())
        .query_async(&mut c.clone())
        .await
        .expect("pause");
    const N: usize = 20;
    fill(&env, "default", N).await;
    fill(&env, "other", N).await;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let default_runs = Arc::new(AtomicUsize::new(0));
    let runs = default_runs.clone();
    let handler = move |ctx: TaskContext, _task: Task| {
        let (tx, runs) = (tx.clone(), runs.clone());
        async move {
            if ctx.queue() == "default" {
                runs.fetch_add(1, Ordering::SeqCst);
            }
            let _ = tx.send(ctx.queue().to_string());
            Ok(())
        }
    };
    // Equal weights: were the pause ignored, about half of the first dequeues would go to
    // "default" (the chance that none of 20 does is 2^-20).
    let config = fast_config()
        .concurrency(1)
        .queues([("default", 1), ("other", 1)]);
    let server = Server::new(env.opt(), config).await.expect("server");
    server.start(handler).await.expect("start");
    for _ in 0..N {
        let q = recv(&mut rx).await;
        assert_eq!(q, "other", "a task of the paused queue ran");
    }
    assert_eq!(default_runs.load(Ordering::SeqCst), 0);
    let pending: usize = redis::cmd("LLEN")
        .arg("asynq:{default}:pending")
        .query_async(&mut c.clone())
        .await
        .expect("LLEN");
    assert_eq!(pending, N, "the paused queue's tasks stay pending");

    let _: () = redis::cmd("DEL")
        .arg("asynq:{default}:paused")
        .query_async(&mut c.clone())
        .await
        .expect("resume");
    for _ in 0..N {
        let q = recv(&mut rx).await;
        assert_eq!(q, "default");
    }
    wait_until("the resumed queue drained", || async {
        counter(&c, "asynq:{default}:processed").await == Some(N as i64)
    })
    .await;
    server.shutdown().await;
    assert_eq!(default_runs.load(Ordering::SeqCst), N);
}
