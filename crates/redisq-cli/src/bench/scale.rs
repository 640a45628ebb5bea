//! The scale-out modes: weighted multi-queue drains (`process --queues`), fleets of idle
//! servers woken by a trickle of tasks (`fleet`), and memory per task (`memory`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use redisq::{Config, Server, Task, TaskContext, TaskOption};
use serde_json::json;
use tokio::sync::{Notify, oneshot};

use super::modes::{
    bench_config, client, enqueue_at_rate, latency_report, payload, recording_handler,
};
use super::nodes::{self, Nodes};
use super::{BenchArgs, BoxError, NAMESPACE, RedisStats, Target, secs};

/// Parses `name:weight,name:weight` (a name alone weighs 1).
pub(crate) fn parse_queues(spec: &str) -> Result<Vec<(String, u32)>, BoxError> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = match part.split_once(':') {
            Some((n, w)) => (
                n.trim(),
                w.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("--queues: weight of {n:?} is not a whole number"))?,
            ),
            None => (part, 1),
        };
        if name.is_empty() || weight == 0 {
            return Err(
                format!("--queues: {part:?} needs a name and a weight of at least 1").into(),
            );
        }
        if out.iter().any(|(n, _): &(String, u32)| n == name) {
            return Err(format!("--queues: {name:?} is listed twice").into());
        }
        out.push((name.to_string(), weight));
    }
    if out.is_empty() {
        return Err("--queues: give at least one queue, e.g. critical:6,default:3,low:1".into());
    }
    Ok(out)
}

/// Enqueues `n` tasks into `queue` in batches of 1,000 from one client.
async fn fill_queue(target: &Target, queue: &str, n: usize, size: usize) -> Result<(), BoxError> {
    let c = client(target).await?;
    let task = Task::new("bench", payload(size));
    let mut left = n;
    while left > 0 {
        let m = left.min(1000);
        let tasks = vec![task.clone(); m];
        for r in c.enqueue_batch(&tasks, [TaskOption::queue(queue)]).await {
            r?;
        }
        left -= m;
    }
    Ok(())
}

/// Reads `used_memory` from `INFO memory`.
async fn used_memory(raw: &mut redis::aio::MultiplexedConnection) -> Result<i64, BoxError> {
    let info: String = redis::cmd("INFO").arg("memory").query_async(raw).await?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "INFO memory has no used_memory".into())
}

/// This process's resident set size in bytes (Linux), or 0 where `/proc` is missing.
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `process --queues`: every queue is prefilled with N tasks so that none runs dry, one
/// server drains them with the given weights (or strict priority), and the run ends when N
/// tasks in all were acknowledged. Reports throughput and each queue's share.
pub(crate) async fn process_weighted(
    args: &BenchArgs,
    target: &Target,
    queues: &[(String, u32)],
) -> Result<serde_json::Value, BoxError> {
    let n = args.n;
    for (q, _) in queues {
        fill_queue(target, q, n, args.payload).await?;
    }
    let counts: Arc<BTreeMap<String, AtomicUsize>> = Arc::new(
        queues
            .iter()
            .map(|(q, _)| (q.clone(), AtomicUsize::new(0)))
            .collect(),
    );
    let total = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel::<()>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let handler = {
        let (counts, total, tx) = (counts.clone(), total.clone(), tx.clone());
        move |ctx: TaskContext, _task: Task| {
            let (counts, total, tx) = (counts.clone(), total.clone(), tx.clone());
            async move {
                // Only the first N handler calls count: the shares are those of the first N.
                if total.fetch_add(1, Ordering::Relaxed) < n {
                    if let Some(c) = counts.get(ctx.queue()) {
                        c.fetch_add(1, Ordering::Relaxed);
                    }
                    if total.load(Ordering::Relaxed) >= n
                        && let Some(tx) = tx.lock().ok().and_then(|mut t| t.take())
                    {
                        let _ = tx.send(());
                    }
                }
                Ok(())
            }
        }
    };
    let config = bench_config(args.concurrency)
        .queues(queues.iter().cloned())
        .strict_priority(args.strict);
    let server = Server::new(target.opt.clone(), config).await?;
    let mut nodes = Nodes::open(target).await?;
    let mut placed = Vec::with_capacity(queues.len());
    for (q, _) in queues {
        let node = nodes
            .node_of(&format!("{NAMESPACE}:{{{q}}}:pending"))
            .await?;
        placed.push((q.clone(), node));
    }
    let before = nodes.stats().await?;
    let started = Instant::now();
    server.start(handler).await?;
    rx.await?;
    let to_call = started.elapsed();
    let deltas = nodes::since(&nodes.stats().await?, &before);
    server.shutdown().await;
    let (redis, per_node) = nodes::report(&nodes, &deltas, &placed, n);
    let weight_sum: u32 = queues.iter().map(|(_, w)| w).sum();
    let shares: serde_json::Map<String, serde_json::Value> = queues
        .iter()
        .map(|(q, w)| {
            let got = counts[q].load(Ordering::Relaxed);
            (
                q.clone(),
                json!({
                    "weight": w,
                    "expected_share": *w as f64 / weight_sum as f64,
                    "tasks": got,
                    "share": got as f64 / n as f64,
                }),
            )
        })
        .collect();
    Ok(json!({
        "mode": "process",
        "tasks": n,
        "queues": queues.len(),
        "strict_priority": args.strict,
        "concurrency": args.concurrency,
        "payload_bytes": args.payload,
        "seconds_to_last_handler_call": secs(to_call),
        "tasks_per_second": n as f64 / secs(to_call),
        "shares": shares,
        "redis": redis,
        "redis_nodes": per_node,
    }))
}

/// `fleet`: S servers on one queue, idle first (Redis commands per second of the idle
/// fleet), then N tasks enqueued one at a time at rate R, so that each arrives at an idle
/// fleet: Redis CPU and commands per task, and pickup latency.
pub(crate) async fn fleet(
    args: &BenchArgs,
    target: &Target,
) -> Result<serde_json::Value, BoxError> {
    let n = args.n;
    let (handler, samples, rx) = recording_handler(n);
    // Each server has its own connections, as separate worker processes would.
    let mut servers = Vec::with_capacity(args.servers);
    for _ in 0..args.servers {
        let server = Server::new(target.opt.clone(), args.server_config()).await?;
        server.start(handler.clone()).await?;
        servers.push(server);
    }
    let producer = client(target).await?;
    let mut raw = target.raw().await?;
    // Let every server reach its idle state (first heartbeat, recoverer, forwarder).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle_before = RedisStats::read(&mut raw).await?;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let idle = RedisStats::read(&mut raw).await?.since(&idle_before);
    // The INFO that closes the window is counted; leave it out.
    let idle_commands = idle.commands.saturating_sub(1) as f64 / args.seconds as f64;

    let before = RedisStats::read(&mut raw).await?;
    let start = tokio::time::Instant::now();
    enqueue_at_rate(&producer, args, n).await?;
    rx.await?;
    let wall = start.elapsed();
    let delta = RedisStats::read(&mut raw).await?.since(&before);
    for s in &servers {
        s.shutdown().await;
    }
    // Idle cost accrues during the trickle too; the per-task figures include it, as a real
    // fleet's would.
    let l = samples.lock().await.clone();
    Ok(json!({
        "mode": "fleet",
        "servers": args.servers,
        "concurrency_per_server": args.concurrency,
        "tasks": n,
        "rate_per_second": args.rate,
        "seconds": secs(wall),
        "idle_redis_commands_per_second": idle_commands,
        "idle_redis_cpu_ms_per_second": idle.cpu * 1e3 / args.seconds as f64,
        "latency_ms": latency_report(l),
        "redis": delta.per_task(n),
    }))
}

/// `memory`: Redis memory per pending task and per completed task kept with retention, and
/// the worker's RSS with C tasks of the given payload active at once.
pub(crate) async fn memory(
    args: &BenchArgs,
    target: &Target,
) -> Result<serde_json::Value, BoxError> {
    let n = args.n;
    let mut raw = target.raw().await?;
    let producer = client(target).await?;

    // Pending: N tasks in one queue.
    let base = used_memory(&mut raw).await?;
    let task = Task::new("bench", payload(args.payload));
    let mut left = n;
    while left > 0 {
        let m = left.min(1000);
        for r in producer
            .enqueue_batch(
                &vec![task.clone(); m],
                [TaskOption::retention(Duration::from_secs(3600))],
            )
            .await
        {
            r?;
        }
        left -= m;
    }
    let pending = used_memory(&mut raw).await?;
    let one_task: Option<i64> = {
        let ids: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("{NAMESPACE}:{{default}}:pending"))
            .arg(0)
            .arg(0)
            .query_async(&mut raw)
            .await?;
        match ids.first() {
            Some(id) => {
                redis::cmd("MEMORY")
                    .arg("USAGE")
                    .arg(format!("{NAMESPACE}:{{default}}:t:{id}"))
                    .arg("SAMPLES")
                    .arg(0)
                    .query_async(&mut raw)
                    .await?
            }
            None => None,
        }
    };

    // Completed with retention: drain them all.
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel::<()>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let handler = {
        let (done, tx) = (done.clone(), tx.clone());
        move |_c: TaskContext, _t: Task| {
            let (done, tx) = (done.clone(), tx.clone());
            async move {
                if done.fetch_add(1, Ordering::Relaxed) + 1 == n
                    && let Some(tx) = tx.lock().ok().and_then(|mut t| t.take())
                {
                    let _ = tx.send(());
                }
                Ok(())
            }
        }
    };
    let server = Server::new(target.opt.clone(), bench_config(100)).await?;
    server.start(handler).await?;
    rx.await?;
    // The last acknowledgements: the completed set holds N.
    let key = format!("{NAMESPACE}:{{default}}:completed");
    loop {
        let c: u64 = redis::cmd("ZCARD").arg(&key).query_async(&mut raw).await?;
        if c >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.shutdown().await;
    let completed = used_memory(&mut raw).await?;

    let rss = worker_rss(args, target).await?;
    Ok(json!({
        "mode": "memory",
        "tasks": n,
        "payload_bytes": args.payload,
        "redis_bytes_per_pending_task": (pending - base) as f64 / n as f64,
        "redis_memory_usage_of_one_task_hash": one_task,
        "redis_bytes_per_completed_task_with_retention": (completed - base) as f64 / n as f64,
        "worker": rss,
    }))
}

/// The worker's RSS before start and with `--concurrency` handlers of `--payload`-byte tasks
/// active at once (each handler holds its task until all are running).
async fn worker_rss(args: &BenchArgs, target: &Target) -> Result<serde_json::Value, BoxError> {
    let c = args.concurrency;
    fill_queue(target, "rss", c, args.payload).await?;
    let active = Arc::new(AtomicUsize::new(0));
    let release = Arc::new(Notify::new());
    let (tx, rx) = oneshot::channel::<()>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let handler = {
        let (active, release, tx) = (active.clone(), release.clone(), tx.clone());
        move |_c: TaskContext, task: Task| {
            let (active, release, tx) = (active.clone(), release.clone(), tx.clone());
            async move {
                let released = release.notified();
                // Keep the payload alive while the handler runs, as a real handler would.
                let held = task.payload().len();
                if active.fetch_add(1, Ordering::SeqCst) + 1 == c
                    && let Some(tx) = tx.lock().ok().and_then(|mut t| t.take())
                {
                    let _ = tx.send(());
                }
                released.await;
                std::hint::black_box(held);
                Ok(())
            }
        }
    };
    let rss_before = rss_bytes();
    let config: Config = bench_config(c).queues([("rss", 1)]);
    let server = Server::new(target.opt.clone(), config).await?;
    server.start(handler).await?;
    rx.await?;
    let rss_active = rss_bytes();
    release.notify_waiters();
    server.shutdown().await;
    Ok(json!({
        "concurrency": c,
        "payload_bytes": args.payload,
        "rss_bytes_before_start": rss_before,
        "rss_bytes_with_all_active": rss_active,
        "rss_bytes_per_active_task": (rss_active.saturating_sub(rss_before)) as f64 / c as f64,
    }))
}
