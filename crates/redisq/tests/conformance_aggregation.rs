//! Replays asynq's recorded aggregation scenario (`n_aggregation`) with a redisq server and
//! compares the Redis keyspace at each checkpoint, and what the aggregator and the handler
//! saw, with the recording.

use std::time::Duration;

use redisq::{Config, Server, Task, TaskContext, TaskOption, parse_redis_uri};
use redisq_conformance::{
    CompareOptions, Dump, DumpValue, Scenario, Step, compare_dump, dump, now_unix_ns,
};
use redisq_test_support::RedisServer;
use tokio::sync::mpsc;

/// A task as the aggregator saw it: type, payload, headers.
type Member = (String, Vec<u8>, Vec<(String, String)>);

/// What the aggregator saw: the group and its tasks.
type AggregatorCall = (String, Vec<Member>);

/// What the handler saw.
#[derive(Debug)]
struct HandlerCall {
    task_type: String,
    payload: Vec<u8>,
    headers_empty: bool,
    task_id: String,
    queue: String,
    retry_count: u32,
    max_retry: u32,
    deadline_t0_offset_s: f64,
}

fn check(step: &Step, actual: &Dump, t0: i64, tolerance: f64) {
    compare_dump(
        &step.expected_dump(),
        actual,
        t0,
        &CompareOptions::new().tolerance(tolerance),
    )
    .unwrap_or_else(|m| panic!("{}: {m}", step.name()));
}

async fn connect(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection")
}

// Multi-threaded: the aggregator runs on a blocking thread and dumps Redis from there
// through the runtime's handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn n_aggregation() {
    let sc = Scenario::load("n_aggregation");
    let redis = RedisServer::start();
    let url = redis.url();
    let opt = parse_redis_uri(&url).expect("uri");
    let client = redisq::Client::connect(opt.clone()).await.expect("client");
    let t0 = now_unix_ns();

    for (payload, id) in [("a", "task-n1"), ("b", "task-n2"), ("c", "task-n3")] {
        client
            .enqueue_with(
                &Task::new("digest", payload),
                [TaskOption::group("g1"), TaskOption::task_id(id)],
            )
            .await
            .expect("enqueue");
    }
    let mut c = connect(&url).await;
    check(sc.step("before_aggregation"), &dump(&mut c).await, t0, 2.0);

    // The aggregator of the recording, dumping Redis before it returns.
    let (agg_tx, mut agg_rx) = mpsc::unbounded_channel::<(AggregatorCall, Dump)>();
    let agg_url = url.clone();
    let aggregator = move |group: &str, tasks: Vec<Task>| -> Task {
        let rt = tokio::runtime::Handle::current();
        let inside = rt.block_on(async { dump(&mut connect(&agg_url).await).await });
        let seen = tasks
            .iter()
            .map(|t| {
                (
                    t.task_type().to_string(),
                    t.payload().to_vec(),
                    t.headers()
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                )
            })
            .collect();
        let _ = agg_tx.send(((group.to_string(), seen), inside));
        let payloads: Vec<&[u8]> = tasks.iter().map(|t| t.payload()).collect();
        Task::new("aggregated", payloads.join(&b","[..])).with_options([
            TaskOption::task_id("task-n-agg"),
            TaskOption::retention(Duration::from_secs(3600)),
        ])
    };

    // The handler of the aggregated task dumps Redis before it returns.
    let (h_tx, mut h_rx) = mpsc::unbounded_channel::<(HandlerCall, Dump)>();
    let h_url = url.clone();
    let handler = move |ctx: TaskContext, task: Task| {
        let (tx, url) = (h_tx.clone(), h_url.clone());
        async move {
            let mut c = connect(&url).await;
            // asynq deletes the aggregation set right after enqueueing the aggregated task,
            // and its workers poll every 100 ms, so the recording shows the set deleted.
            // redisq wakes an idle worker at once (decision D10), so the handler may start
            // before that second write lands: wait for it to keep the checkpoint the same.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let n: i64 = redis::cmd("EXISTS")
                    .arg("asynq:{default}:aggregation_sets")
                    .query_async(&mut c)
                    .await
                    .expect("EXISTS");
                if n == 0 || tokio::time::Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            let inside = dump(&mut c).await;
            let deadline_ns = ctx
                .deadline()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as i64)
                .unwrap_or_default();
            let call = HandlerCall {
                task_type: task.task_type().to_string(),
                payload: task.payload().to_vec(),
                headers_empty: task.headers().is_empty(),
                task_id: ctx.task_id().to_string(),
                queue: ctx.queue().to_string(),
                retry_count: ctx.retry_count(),
                max_retry: ctx.max_retry(),
                deadline_t0_offset_s: (deadline_ns - t0) as f64 / 1e9,
            };
            let _ = tx.send((call, inside));
            Ok(())
        }
    };

    let server = Server::new(
        opt,
        Config::new()
            .concurrency(2)
            .queues([("default", 1)])
            .task_check_interval(Duration::from_millis(100))
            .retry_delay(|_, _, _| Duration::from_secs(60))
            .group_grace_period(Duration::from_secs(1))
            .group_aggregator(aggregator),
    )
    .await
    .expect("server");
    server.start(handler).await.expect("start");

    let ((group, tasks), inside_aggregator) =
        tokio::time::timeout(Duration::from_secs(30), agg_rx.recv())
            .await
            .expect("the aggregator ran in time")
            .expect("the aggregator ran");
    // The aggregator's arguments, as recorded.
    assert_eq!(group, "g1");
    let expected_tasks: Vec<Member> = ["a", "b", "c"]
        .iter()
        .map(|p| ("digest".to_string(), p.as_bytes().to_vec(), vec![]))
        .collect();
    assert_eq!(tasks, expected_tasks);
    recorded_aggregator_args(sc.step("inside_aggregator"), &group, &tasks);
    // The set holds the three tasks with their scores; `g:g1` and `groups` are gone; the
    // set is registered with deadline = check time + 120 s.
    check(sc.step("inside_aggregator"), &inside_aggregator, t0, 3.0);

    let (call, inside_handler) = tokio::time::timeout(Duration::from_secs(30), h_rx.recv())
        .await
        .expect("the handler ran in time")
        .expect("the handler ran");
    assert_eq!(call.task_type, "aggregated");
    assert_eq!(call.payload, b"a,b,c");
    assert!(call.headers_empty);
    assert_eq!(call.task_id, "task-n-agg");
    assert_eq!(call.queue, "default");
    assert_eq!((call.retry_count, call.max_retry), (0, 25));
    // Deadline = dequeue + 30 min timeout (recorded: t0 + 1801.06 s).
    let step = sc.step("inside_handler");
    let recorded_deadline = step.api_results()[0]["return"]["ctx_deadline"]["t0_offset_s"]
        .as_f64()
        .expect("recorded deadline");
    assert!(
        (call.deadline_t0_offset_s - recorded_deadline).abs() < 3.0,
        "handler deadline at t0+{} s, recorded t0+{recorded_deadline} s",
        call.deadline_t0_offset_s
    );
    check(step, &inside_handler, t0, 3.0);

    // Wait for completion, shut down, compare.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = dump(&mut c).await;
        let completed = match d.get("asynq:{default}:t:task-n-agg").map(|k| &k.value) {
            Some(DumpValue::Hash(h)) => {
                h.get(&b"state"[..]).map(|v| v.as_slice()) == Some(b"completed")
            }
            _ => false,
        };
        if completed {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for the aggregated task to complete"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
    check(
        sc.step("after_server_shutdown"),
        &dump(&mut c).await,
        t0,
        3.0,
    );
}

/// Checks the recorded aggregator arguments against what redisq's aggregator received.
fn recorded_aggregator_args(step: &Step, group: &str, tasks: &[Member]) {
    let rec = &step.api_results()[0]["return"];
    assert_eq!(rec["group"].as_str(), Some(group));
    let rec_tasks = rec["tasks"].as_array().expect("recorded tasks");
    assert_eq!(rec_tasks.len(), tasks.len());
    for (r, (t, p, h)) in rec_tasks.iter().zip(tasks) {
        assert_eq!(r["type"].as_str(), Some(t.as_str()));
        assert_eq!(
            r["payload"]["utf8"].as_str().map(str::as_bytes),
            Some(&p[..])
        );
        // Go's nil header map.
        assert!(r["headers"].is_null() && h.is_empty());
    }
}
