//! The single-server benchmark modes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redisq::{Client, Config, Namespace, Server, Task, TaskContext, TaskOption};
use serde_json::json;
use tokio::sync::{Mutex, oneshot};

use super::nodes::{self, Nodes};
use super::{BenchArgs, BoxError, NAMESPACE, RedisStats, Target, secs};

pub(crate) async fn client(target: &Target) -> Result<Client, BoxError> {
    Ok(Client::builder(target.opt.clone())
        .namespace(Namespace::new(NAMESPACE)?)
        .connect()
        .await?)
}

pub(crate) fn payload(size: usize) -> Vec<u8> {
    vec![b'x'; size]
}

pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The options that put a task in `queue` (none for `default`, the queue tasks go to
/// anyway).
fn queue_opts(queue: &str) -> Vec<TaskOption> {
    if queue == "default" {
        Vec::new()
    } else {
        vec![TaskOption::queue(queue)]
    }
}

/// Enqueues `n` tasks from `producers` clients, in batches when `batch` is set. The tasks are
/// split evenly over `queues` (the counts differ by at most one), and each producer sends its
/// part of every queue round-robin, one task (or batch) at a time, producer p starting at
/// queue p.
async fn fill(
    target: &Target,
    n: usize,
    producers: usize,
    size: usize,
    batch: Option<usize>,
    queues: &[String],
) -> Result<(), BoxError> {
    let k = queues.len();
    let even =
        |total: usize, parts: usize, i: usize| total / parts + usize::from(i < total % parts);
    let opts: Arc<Vec<Vec<TaskOption>>> = Arc::new(queues.iter().map(|q| queue_opts(q)).collect());
    let mut jobs = Vec::new();
    for p in 0..producers {
        let mut left: Vec<usize> = (0..k).map(|q| even(even(n, k, q), producers, p)).collect();
        let c = client(target).await?;
        let opts = opts.clone();
        jobs.push(tokio::spawn(async move {
            let task = Task::new("bench", payload(size));
            let mut q = p % k;
            while left.iter().any(|l| *l > 0) {
                if left[q] > 0 {
                    let opt = opts[q].iter().cloned();
                    match batch {
                        None => {
                            c.enqueue_with(&task, opt).await?;
                            left[q] -= 1;
                        }
                        Some(size) => {
                            let m = left[q].min(size);
                            for r in c.enqueue_batch(&vec![task.clone(); m], opt).await {
                                r?;
                            }
                            left[q] -= m;
                        }
                    }
                }
                q = (q + 1) % k;
            }
            Ok::<(), redisq::Error>(())
        }));
    }
    for j in jobs {
        j.await??;
    }
    Ok(())
}

/// Each queue with the index of the node holding it (its `pending` list decides: all of a
/// queue's keys share the hash tag `{queue}`).
async fn placement(nodes: &mut Nodes, queues: &[String]) -> Result<Vec<(String, usize)>, BoxError> {
    let mut out = Vec::with_capacity(queues.len());
    for q in queues {
        let node = nodes
            .node_of(&format!("{NAMESPACE}:{{{q}}}:pending"))
            .await?;
        out.push((q.clone(), node));
    }
    Ok(out)
}

pub(crate) async fn enqueue(
    args: &BenchArgs,
    target: &Target,
    queues: &[String],
) -> Result<serde_json::Value, BoxError> {
    let mut nodes = Nodes::open(target).await?;
    let placed = placement(&mut nodes, queues).await?;
    let before = nodes.stats().await?;
    let started = Instant::now();
    fill(
        target,
        args.n,
        args.concurrency,
        args.payload,
        args.batch,
        queues,
    )
    .await?;
    let elapsed = started.elapsed();
    let deltas = nodes::since(&nodes.stats().await?, &before);
    let (redis, per_node) = nodes::report(&nodes, &deltas, &placed, args.n);
    // What landed where (read after the measured part).
    let mut pending = serde_json::Map::new();
    for (q, node) in &placed {
        let len: u64 = redis::cmd("LLEN")
            .arg(format!("{NAMESPACE}:{{{q}}}:pending"))
            .query_async(nodes.conn(*node))
            .await?;
        pending.insert(q.clone(), json!(len));
    }
    Ok(json!({
        "mode": "enqueue",
        "cluster": target.cluster,
        "tasks": args.n,
        "queues": queues,
        "producers": args.concurrency,
        "payload_bytes": args.payload,
        "batch": args.batch,
        "seconds": secs(elapsed),
        "tasks_per_second": args.n as f64 / secs(elapsed),
        "pending_per_queue": pending,
        "redis": redis,
        "redis_nodes": per_node,
    }))
}

pub(crate) fn bench_config(concurrency: usize) -> Config {
    Config::new()
        .namespace(Namespace::new(NAMESPACE).expect("the bench namespace is valid"))
        .concurrency(concurrency)
        .log_level(redisq::LogLevel::Warn)
}

/// Prefills N tasks (spread over `queues`, untimed), then drains them all with one server
/// of concurrency C that serves those queues with their weights; the time runs to the last
/// acknowledgement, when the queues' `processed` counters add up to N.
pub(crate) async fn process(
    args: &BenchArgs,
    target: &Target,
    queues: &[(String, u32)],
) -> Result<serde_json::Value, BoxError> {
    let names: Vec<String> = queues.iter().map(|(q, _)| q.clone()).collect();
    fill(
        target,
        args.n,
        4,
        args.payload,
        Some(args.batch.unwrap_or(1000)),
        &names,
    )
    .await?;
    let mut nodes = Nodes::open(target).await?;
    let placed = placement(&mut nodes, &names).await?;
    let n = args.n;
    let count = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = oneshot::channel::<Instant>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let handler = {
        let (count, tx) = (count.clone(), tx.clone());
        move |_ctx: TaskContext, _task: Task| {
            let (count, tx) = (count.clone(), tx.clone());
            async move {
                if count.fetch_add(1, Ordering::Relaxed) + 1 == n
                    && let Some(tx) = tx.lock().ok().and_then(|mut t| t.take())
                {
                    let _ = tx.send(Instant::now());
                }
                Ok(())
            }
        }
    };
    let mut config = bench_config(args.concurrency);
    if names != ["default"] {
        config = config.queues(queues.iter().cloned());
    }
    let server = Server::new(target.opt.clone(), config).await?;
    let before = nodes.stats().await?;
    let started = Instant::now();
    server.start(handler).await?;
    let last_call = rx.await?;
    // The last acknowledgement: the processed counters add up to n. Each GET goes to the
    // node holding the counter, and is taken out of that node's command count.
    let mut polls = vec![0u64; nodes.len()];
    let processed = loop {
        let mut done = 0u64;
        for (q, node) in &placed {
            let key = format!("{NAMESPACE}:{{{q}}}:processed");
            let count: Option<u64> = redis::cmd("GET")
                .arg(&key)
                .query_async(nodes.conn(*node))
                .await?;
            polls[*node] += 1;
            done += count.unwrap_or(0);
        }
        if done >= n as u64 {
            break done;
        }
        tokio::time::sleep(Duration::from_micros(500)).await;
    };
    let last_ack = started.elapsed();
    let mut deltas = nodes::since(&nodes.stats().await?, &before);
    for (d, p) in deltas.iter_mut().zip(&polls) {
        d.commands = d.commands.saturating_sub(*p);
        if let Some(get) = d.per_command.get_mut("get") {
            *get = get.saturating_sub(*p);
        }
    }
    server.shutdown().await;
    let to_call = last_call.duration_since(started);
    let (redis, per_node) = nodes::report(&nodes, &deltas, &placed, n);
    Ok(json!({
        "mode": "process",
        "cluster": target.cluster,
        "tasks": n,
        // The queues' `processed` counters at the end: n unless a task ran twice.
        "tasks_processed": processed,
        "queues": names,
        "concurrency": args.concurrency,
        "payload_bytes": args.payload,
        "seconds_to_last_handler_call": secs(to_call),
        "seconds_to_last_ack": secs(last_ack),
        "tasks_per_second": n as f64 / secs(last_ack),
        "redis": redis,
        "redis_nodes": per_node,
    }))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)] as f64 / 1e6
}

/// Latency report of recorded nanosecond samples.
pub(crate) fn latency_report(mut l: Vec<u64>) -> serde_json::Value {
    l.sort_unstable();
    json!({
        "p50": percentile(&l, 50.0),
        "p90": percentile(&l, 90.0),
        "p99": percentile(&l, 99.0),
        "p99.9": percentile(&l, 99.9),
        "max": percentile(&l, 100.0),
    })
}

/// Samples of `now - <u64 ns in the first 8 payload bytes>`, one per handler call.
pub(crate) type Samples = Arc<Mutex<Vec<u64>>>;

/// A handler recording latency samples, and a receiver that fires once `n` were taken. The
/// handler is `Clone`, so several servers may share it.
pub(crate) fn recording_handler(
    n: usize,
) -> (impl redisq::Handler + Clone, Samples, oneshot::Receiver<()>) {
    let samples = Arc::new(Mutex::new(Vec::<u64>::with_capacity(n)));
    let (tx, rx) = oneshot::channel::<()>();
    let tx = Arc::new(std::sync::Mutex::new(Some(tx)));
    let handler = {
        let (samples, tx) = (samples.clone(), tx.clone());
        move |_ctx: TaskContext, task: Task| {
            let (samples, tx) = (samples.clone(), tx.clone());
            async move {
                let now = now_ns();
                let mut stamp = [0u8; 8];
                stamp.copy_from_slice(&task.payload()[..8]);
                let mut l = samples.lock().await;
                l.push(now.saturating_sub(u64::from_le_bytes(stamp)));
                if l.len() == n
                    && let Some(tx) = tx.lock().ok().and_then(|mut t| t.take())
                {
                    let _ = tx.send(());
                }
                Ok(())
            }
        }
    };
    (handler, samples, rx)
}

/// A server running [`recording_handler`].
async fn recording_server(
    args: &BenchArgs,
    target: &Target,
    n: usize,
) -> Result<(Server, Samples, oneshot::Receiver<()>), BoxError> {
    let (handler, samples, rx) = recording_handler(n);
    let server = Server::new(target.opt.clone(), args.server_config()).await?;
    server.start(handler).await?;
    Ok((server, samples, rx))
}

pub(crate) async fn scheduled(
    args: &BenchArgs,
    target: &Target,
) -> Result<serde_json::Value, BoxError> {
    let n = args.n;
    let (server, samples, rx) = recording_server(args, target, n).await?;
    let producer = client(target).await?;
    let mut raw = target.raw().await?;
    let before = RedisStats::read(&mut raw).await?;
    // Due times are whole seconds (asynq stores seconds): spread the tasks over the seconds
    // starting two seconds from now, `rate` per second.
    let first_due = now_ns() / 1_000_000_000 + 2;
    let filler = payload(args.payload.saturating_sub(8));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due_s = first_due + i as u64 / args.rate;
        let mut body = (due_s * 1_000_000_000).to_le_bytes().to_vec();
        body.extend_from_slice(&filler);
        let at = UNIX_EPOCH + Duration::from_secs(due_s);
        tasks.push(Task::new("bench", body).with_option(TaskOption::process_at(at)));
    }
    for chunk in tasks.chunks(1000) {
        for r in producer.enqueue_batch(chunk, []).await {
            r?;
        }
    }
    rx.await?;
    let delta = RedisStats::read(&mut raw).await?.since(&before);
    server.shutdown().await;
    let l = samples.lock().await.clone();
    Ok(json!({
        "mode": "scheduled",
        "tasks": n,
        "due_per_second": args.rate,
        "concurrency": args.concurrency,
        "lateness_after_due_ms": latency_report(l),
        "redis": delta.per_task(n),
    }))
}

/// Enqueues `n` tasks one at a time at `--rate` per second, each carrying its send time in
/// its first 8 payload bytes (see [`recording_handler`]).
pub(crate) async fn enqueue_at_rate(
    producer: &Client,
    args: &BenchArgs,
    n: usize,
) -> Result<(), BoxError> {
    let filler = payload(args.payload.saturating_sub(8));
    let start = tokio::time::Instant::now();
    let period = Duration::from_nanos(1_000_000_000 / args.rate);
    for i in 0..n {
        tokio::time::sleep_until(start + period * i as u32).await;
        let mut body = now_ns().to_le_bytes().to_vec();
        body.extend_from_slice(&filler);
        producer
            .enqueue_with(&Task::new("bench", body), [TaskOption::max_retry(0)])
            .await?;
    }
    Ok(())
}

pub(crate) async fn e2e(args: &BenchArgs, target: &Target) -> Result<serde_json::Value, BoxError> {
    let n = args.n;
    let (server, samples, rx) = recording_server(args, target, n).await?;
    let producer = client(target).await?;
    let mut raw = target.raw().await?;
    // Let the server reach its idle state first, as a long-running server would be.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = RedisStats::read(&mut raw).await?;
    enqueue_at_rate(&producer, args, n).await?;
    rx.await?;
    let delta = RedisStats::read(&mut raw).await?.since(&before);
    server.shutdown().await;
    let l = samples.lock().await.clone();
    Ok(json!({
        "mode": "e2e",
        "tasks": n,
        "rate_per_second": args.rate,
        "concurrency": args.concurrency,
        "latency_ms": latency_report(l),
        "redis": delta.per_task(n),
    }))
}

pub(crate) async fn idle(args: &BenchArgs, target: &Target) -> Result<serde_json::Value, BoxError> {
    let server = Server::new(target.opt.clone(), bench_config(args.concurrency)).await?;
    server
        .start(|_c: TaskContext, _t: Task| async { Ok(()) })
        .await?;
    let mut raw = target.raw().await?;
    // Skip start-up work (first heartbeat, recoverer, first forward).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = RedisStats::read(&mut raw).await?;
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let delta = RedisStats::read(&mut raw).await?.since(&before);
    server.shutdown().await;
    let per_second = |v: u64| v as f64 / args.seconds as f64;
    // The INFO that closes the window is counted; leave it out.
    let commands = delta.commands.saturating_sub(1);
    let breakdown: serde_json::Map<String, serde_json::Value> = delta
        .per_command
        .iter()
        .filter(|(k, _)| k.as_str() != "info")
        .map(|(k, v)| (k.clone(), json!(per_second(*v))))
        .collect();
    Ok(json!({
        "mode": "idle",
        "seconds": args.seconds,
        "queues": 1,
        "redis_commands_per_second": per_second(commands),
        "per_command_per_second": breakdown,
        "redis_cpu_ms_per_second": delta.cpu * 1e3 / args.seconds as f64,
    }))
}
