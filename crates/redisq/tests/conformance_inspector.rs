//! Replays asynq's recorded Inspector scenarios (`m`, `o1`, `o2`, `o3`, `y`, `z`) with redisq's
//! [`Inspector`] and compares the Redis keyspace, the API results and `GetTaskInfo` with the
//! recordings. Where redisq decided to differ (D8, D9), the expectation is patched explicitly
//! and the patch says why.
//!
//! A second test checks the read side alone: every recorded dump that has
//! `get_task_info_after` entries is loaded into a fresh Redis, and `task_info` must give the
//! TaskInfo (or the error) recorded beside it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redisq::{Client, Inspector, Task, TaskInfo, TaskOption, parse_redis_uri};
use redisq_conformance::{
    ActualTaskInfo, CompareOptions, Dump, DumpValue, ExpectedDump, Scenario, Step, TimeUnit,
    compare_dump, compare_task_info, dump, now_unix_ns, time_json,
};
use redisq_test_support::RedisServer;
use serde_json::Value;

struct Replay {
    server: RedisServer,
    client: Client,
    inspector: Inspector,
    t0: i64,
}

impl Replay {
    async fn start() -> Replay {
        let server = RedisServer::start();
        let opt = parse_redis_uri(&server.url()).expect("uri");
        let client = Client::connect(opt.clone()).await.expect("client");
        let inspector = Inspector::connect(opt).await.expect("inspector");
        Replay {
            server,
            client,
            inspector,
            t0: now_unix_ns(),
        }
    }

    /// Seconds since this replay's t0.
    fn offset_now(&self) -> f64 {
        (now_unix_ns() - self.t0) as f64 / 1e9
    }

    /// Compares the keyspace with the step's dump after `patch` adjusts the expectation, then
    /// every recorded `get_task_info_after` entry with `task_info`.
    async fn check(&self, step: &Step, patch: impl FnOnce(&mut ExpectedDump)) {
        let mut expected = step.expected_dump();
        patch(&mut expected);
        let actual = dump(&mut self.server.connection().await).await;
        compare_dump(&expected, &actual, self.t0, &CompareOptions::new())
            .unwrap_or_else(|m| panic!("{}: {m}\nactual: {actual}", step.name()));
        for entry in step.get_task_info_after() {
            let res = self.inspector.task_info(&entry.queue, &entry.id).await;
            check_task_info(
                &format!("{} {}", step.name(), entry.id),
                entry.task_info.as_ref(),
                entry.error.as_deref(),
                res,
                self.t0,
                None,
            );
        }
    }
}

fn nanos(t: Option<SystemTime>) -> Option<i64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).expect("fits"))
}

/// redisq's TaskInfo in the recording's JSON shape. asynq reads an empty payload back as nil
/// and reports no headers as a nil map.
fn actual_info(info: &TaskInfo) -> Value {
    ActualTaskInfo {
        id: info.id.clone(),
        queue: info.queue.clone(),
        task_type: info.task_type.clone(),
        payload: (!info.payload.is_empty()).then(|| info.payload.to_vec()),
        headers: (!info.headers.is_empty()).then(|| info.headers.clone()),
        state: info.state.to_string(),
        max_retry: i64::from(info.max_retry),
        retried: i64::from(info.retried),
        last_err: info.last_err.clone(),
        last_failed_at_unix_ns: nanos(info.last_failed_at),
        timeout_s: info.timeout.map_or(0, |d| d.as_secs() as i64),
        deadline_unix_ns: nanos(info.deadline),
        group: info.group.clone().unwrap_or_default(),
        next_process_at_unix_ns: nanos(info.next_process_at),
        is_orphaned: info.is_orphaned,
        retention_s: info.retention.map_or(0, |d| d.as_secs() as i64),
        completed_at_unix_ns: nanos(info.completed_at),
        result: info.result.as_ref().map(|r| r.to_vec()),
    }
    .to_json()
}

/// asynq's error text without its `asynq: ` prefix and internal error code, which redisq's
/// texts leave out.
fn redisq_text(go: &str) -> &str {
    let t = go.strip_prefix("asynq: ").unwrap_or(go);
    t.strip_prefix("FAILED_PRECONDITION: ").unwrap_or(t)
}

/// Checks a `task_info` outcome against a recorded entry. With `now_substitute`, a pending
/// task's `next_process_at` (asynq reports "now") is checked against the wall clock and then
/// compared as if it had been read at recording time.
fn check_task_info(
    what: &str,
    recorded: Option<&Value>,
    recorded_error: Option<&str>,
    res: redisq::Result<TaskInfo>,
    t0: i64,
    now_substitute: Option<()>,
) {
    match (res, recorded, recorded_error) {
        (Ok(info), Some(rec), None) => {
            let mut actual = actual_info(&info);
            if now_substitute.is_some() && rec["state"] == "pending" {
                let next = nanos(info.next_process_at).expect("pending tasks have a next time");
                let wall = now_unix_ns();
                assert!(
                    (wall - next).abs() < 2_000_000_000,
                    "{what}: next_process_at of a pending task is now ({next} vs {wall})"
                );
                let recorded_ns = rec["next_process_at"]["unix_ns"]
                    .as_i64()
                    .expect("recorded next_process_at");
                actual["next_process_at"] = time_json(Some(recorded_ns));
            }
            compare_task_info(rec, &actual, t0, 2.0).unwrap_or_else(|m| panic!("{what}: {m}"));
        }
        (Err(e), None, Some(text)) => {
            assert_eq!(e.to_string(), redisq_text(text), "{what}: error text");
            match text {
                "asynq: task not found" => assert!(e.is_task_not_found(), "{what}: {e:?}"),
                "asynq: queue not found" => assert!(e.is_queue_not_found(), "{what}: {e:?}"),
                other => panic!("{what}: unexpected recorded error {other:?}"),
            }
        }
        (res, rec, err) => panic!("{what}: got {res:?}, recorded {rec:?} / error {err:?}"),
    }
}

/// Checks an Inspector call's error against the recorded `api_results[i]`.
fn check_error(step: &Step, i: usize, res: redisq::Result<()>) {
    let recorded = &step.api_results()[i];
    let call = recorded["call"].as_str().unwrap_or_default();
    match (res, recorded["error"].as_str()) {
        (Ok(()), None) => {}
        (Err(e), Some(text)) => {
            assert_eq!(e.to_string(), redisq_text(text), "{call}: error text");
            match recorded["error_is"].as_str() {
                Some("ErrTaskNotFound") => assert!(e.is_task_not_found(), "{call}"),
                Some("ErrQueueNotEmpty") => assert!(e.is_queue_not_empty(), "{call}"),
                Some("other") => assert!(e.is_failed_precondition(), "{call}: {e:?}"),
                other => panic!("{call}: unexpected recorded error kind {other:?}"),
            }
        }
        (res, recorded) => panic!("{call}: got {res:?}, recorded error {recorded:?}"),
    }
}

/// D9: a task moved into pending gets `pending_since` = the time of the move.
fn d9_pending_since(e: &mut ExpectedDump, key: &str, offset: f64) {
    e.set_hash_field_time_offset(key, "pending_since", TimeUnit::Nanoseconds, offset);
}

#[tokio::test]
async fn m_pause_unpause_queue() {
    let sc = Scenario::load("m_pause_unpause_queue");
    let r = Replay::start().await;
    r.client
        .enqueue_with(&Task::new("echo", "x"), [TaskOption::task_id("task-m")])
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), |_| {}).await;

    let step = sc.step("after_pause");
    check_error(step, 0, r.inspector.pause_queue("default").await);
    let info = r.inspector.queue_info("default").await.expect("queue info");
    check_queue_info(&r, &step.api_results()[1], &info);
    r.check(step, |_| {}).await;

    let step = sc.step("after_unpause");
    check_error(step, 0, r.inspector.pause_queue("default").await);
    check_error(step, 1, r.inspector.unpause_queue("default").await);
    check_error(step, 2, r.inspector.unpause_queue("default").await);
    let info = r.inspector.queue_info("default").await.expect("queue info");
    check_queue_info(&r, &step.api_results()[3], &info);
    r.check(step, |_| {}).await;
}

/// Compares a QueueInfo with a recorded `GetQueueInfo` result: counts and flags exactly,
/// the timestamp within 2 s, latency within 2 s, memory usage present and positive (its
/// exact value varies between runs and Redis builds).
fn check_queue_info(r: &Replay, recorded: &Value, info: &redisq::QueueInfo) {
    let rec = &recorded["return"];
    let n = |k: &str| rec[k].as_u64().unwrap_or_else(|| panic!("recorded {k}"));
    assert_eq!(info.queue, rec["Queue"].as_str().expect("Queue"));
    assert_eq!(info.active as u64, n("Active"));
    assert_eq!(info.aggregating as u64, n("Aggregating"));
    assert_eq!(info.archived as u64, n("Archived"));
    assert_eq!(info.completed as u64, n("Completed"));
    assert_eq!(info.failed, n("Failed"));
    assert_eq!(info.failed_total, n("FailedTotal"));
    assert_eq!(info.groups as u64, n("Groups"));
    assert_eq!(info.pending as u64, n("Pending"));
    assert_eq!(info.processed, n("Processed"));
    assert_eq!(info.processed_total, n("ProcessedTotal"));
    assert_eq!(info.retry as u64, n("Retry"));
    assert_eq!(info.scheduled as u64, n("Scheduled"));
    assert_eq!(info.size as u64, n("Size"));
    assert_eq!(info.paused, rec["Paused"].as_bool().expect("Paused"));
    let recorded_latency = rec["Latency_s"].as_f64().expect("Latency_s");
    assert!(
        (info.latency.as_secs_f64() - recorded_latency).abs() < 2.0,
        "latency {:?} vs recorded {recorded_latency}",
        info.latency
    );
    assert!(
        info.memory_usage.is_some_and(|m| m > 0),
        "memory usage {:?} (recorded {})",
        info.memory_usage,
        rec["MemoryUsage(varies)"]
    );
    let ts = (nanos(Some(info.timestamp)).expect("timestamp") - r.t0) as f64 / 1e9;
    let rec_ts = rec["Timestamp"]["t0_offset_s"].as_f64().expect("Timestamp");
    assert!(
        (ts - rec_ts).abs() <= 2.0,
        "timestamp t0{ts:+} vs t0{rec_ts:+}"
    );
}

#[tokio::test]
async fn o1_inspector_pending_archive_run_delete() {
    let sc = Scenario::load("o1_inspector_pending_archive_run_delete");
    let r = Replay::start().await;
    r.client
        .enqueue_with(&Task::new("echo", "o1"), [TaskOption::task_id("task-o1")])
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), |_| {}).await;

    let step = sc.step("after_archive");
    check_error(
        step,
        0,
        r.inspector.archive_task("default", "task-o1").await,
    );
    r.check(step, |_| {}).await;

    let step = sc.step("after_run");
    let ran_at = r.offset_now();
    check_error(step, 0, r.inspector.run_task("default", "task-o1").await);
    // D9: RunTask sets pending_since to the time of the run (asynq keeps the stale value of
    // the first enqueue; both lie near t0 here, the patch makes the intent explicit).
    r.check(step, |e| {
        d9_pending_since(e, "asynq:{default}:t:task-o1", ran_at);
    })
    .await;

    let step = sc.step("after_delete");
    check_error(step, 0, r.inspector.run_task("default", "task-o1").await);
    check_error(step, 1, r.inspector.delete_task("default", "task-o1").await);
    check_error(step, 2, r.inspector.delete_task("default", "task-o1").await);
    r.check(step, |_| {}).await;
}

#[tokio::test]
async fn o2_inspector_scheduled_unique_run_archive_delete() {
    let sc = Scenario::load("o2_inspector_scheduled_unique_run_archive_delete");
    let r = Replay::start().await;
    let hour = Duration::from_secs(3600);
    r.client
        .enqueue_with(
            &Task::new("echo", "o2"),
            [
                TaskOption::process_in(hour),
                TaskOption::unique(hour),
                TaskOption::task_id("task-o2"),
            ],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), |_| {}).await;

    let step = sc.step("after_run");
    let ran_at = r.offset_now();
    check_error(step, 0, r.inspector.run_task("default", "task-o2").await);
    // D9: asynq's RunTask leaves the task without pending_since; redisq sets it.
    let d9 = |e: &mut ExpectedDump| d9_pending_since(e, "asynq:{default}:t:task-o2", ran_at);
    r.check(step, d9).await;

    let step = sc.step("after_archive");
    check_error(
        step,
        0,
        r.inspector.archive_task("default", "task-o2").await,
    );
    check_error(
        step,
        1,
        r.inspector.archive_task("default", "task-o2").await,
    );
    // Archiving keeps the hash's fields, so the pending_since of D9 stays too.
    r.check(step, d9).await;

    let step = sc.step("after_delete");
    check_error(step, 0, r.inspector.delete_task("default", "task-o2").await);
    r.check(step, |_| {}).await;
}

#[tokio::test]
async fn o3_inspector_aggregating_archive_run() {
    let sc = Scenario::load("o3_inspector_aggregating_archive_run");
    let r = Replay::start().await;
    for (payload, id) in [("x", "task-o3a"), ("y", "task-o3b")] {
        r.client
            .enqueue_with(
                &Task::new("digest", payload),
                [TaskOption::group("g1"), TaskOption::task_id(id)],
            )
            .await
            .expect("enqueue");
    }
    r.check(sc.step("after_enqueue"), |_| {}).await;

    let step = sc.step("after_archive");
    check_error(
        step,
        0,
        r.inspector.archive_task("default", "task-o3a").await,
    );
    r.check(step, |_| {}).await;

    let step = sc.step("after_run");
    let ran_at = r.offset_now();
    check_error(step, 0, r.inspector.run_task("default", "task-o3b").await);
    // D9: the task moved into pending gets pending_since (asynq's RunTask writes none).
    r.check(step, |e| {
        d9_pending_since(e, "asynq:{default}:t:task-o3b", ran_at);
    })
    .await;
}

#[tokio::test]
async fn y_update_task_payload() {
    let sc = Scenario::load("y_update_task_payload");
    let r = Replay::start().await;
    let hour = Duration::from_secs(3600);
    r.client
        .enqueue_with(
            &Task::new("echo", "old"),
            [
                TaskOption::process_in(hour),
                TaskOption::unique(hour),
                TaskOption::task_id("task-y1"),
            ],
        )
        .await
        .expect("enqueue");
    r.client
        .enqueue_with(
            &Task::new("echo", "pending"),
            [TaskOption::task_id("task-y2")],
        )
        .await
        .expect("enqueue");
    r.check(sc.step("after_enqueue"), |_| {}).await;

    let step = sc.step("after_update");
    check_error(
        step,
        0,
        r.inspector
            .update_task_payload("default", "task-y1", b"new payload")
            .await,
    );
    check_error(
        step,
        1,
        r.inspector
            .update_task_payload("default", "task-y2", b"x")
            .await,
    );
    r.check(step, |_| {}).await;
}

#[tokio::test]
async fn z_delete_queue() {
    let sc = Scenario::load("z_delete_queue");
    let r = Replay::start().await;
    r.client
        .enqueue_with(
            &Task::new("echo", "z"),
            [TaskOption::queue("tmp"), TaskOption::task_id("task-z")],
        )
        .await
        .expect("enqueue");
    let step = sc.step("after_enqueue_and_pause");
    check_error(step, 1, r.inspector.pause_queue("tmp").await);
    r.check(step, |_| {}).await;

    let step = sc.step("after_delete_nonforce");
    check_error(step, 0, r.inspector.delete_queue("tmp", false).await);
    r.check(step, |_| {}).await;

    let step = sc.step("after_delete_force");
    check_error(step, 0, r.inspector.delete_queue("tmp", true).await);
    // D8: deleting a queue removes everything of it, the paused flag included.
    r.check(step, |e| {
        e.remove_key("asynq:{tmp}:paused");
    })
    .await;
}

/// Writes a recorded dump into an empty Redis: each key's exact bytes, zset scores and TTLs.
async fn restore(conn: &mut redis::aio::MultiplexedConnection, recorded: &Dump) {
    let mut pipe = redis::pipe();
    pipe.cmd("FLUSHALL").ignore();
    for (key, entry) in &recorded.keys {
        match &entry.value {
            DumpValue::String(v) => {
                pipe.cmd("SET").arg(key).arg(v).ignore();
            }
            DumpValue::Hash(h) => {
                let c = pipe.cmd("HSET").arg(key);
                for (f, v) in h {
                    c.arg(f).arg(v);
                }
                c.ignore();
            }
            DumpValue::List(items) => {
                pipe.cmd("RPUSH").arg(key).arg(items).ignore();
            }
            DumpValue::Set(items) => {
                pipe.cmd("SADD").arg(key).arg(items).ignore();
            }
            DumpValue::ZSet(items) => {
                let c = pipe.cmd("ZADD").arg(key);
                for (m, s) in items {
                    c.arg(*s).arg(m);
                }
                c.ignore();
            }
            DumpValue::Other(t) => panic!("cannot restore a {t} key"),
        }
        if let Some(ms) = entry.pttl_ms {
            pipe.cmd("PEXPIRE").arg(key).arg(ms.max(1)).ignore();
        }
    }
    pipe.query_async::<()>(conn).await.expect("restore");
}

/// The conformance keyspace dumps, loaded into a fresh Redis, give the TaskInfo values (and
/// errors) recorded beside them, for every scenario and every entry.
///
/// Times are compared relative to the recording's t0 with the usual ±2 s. The one value that
/// depends on when it is read, a pending task's `next_process_at` (asynq reports "now"), is
/// checked against the current clock and then taken as read at recording time; no entry is
/// skipped.
#[tokio::test]
async fn recorded_dumps_give_the_recorded_task_info() {
    let server = RedisServer::start();
    let inspector = Inspector::connect(parse_redis_uri(&server.url()).expect("uri"))
        .await
        .expect("inspector");
    let mut conn = server.connection().await;
    let mut checked = 0;
    for name in Scenario::names() {
        let sc = Scenario::load(&name);
        for step in sc.steps() {
            let entries = step.get_task_info_after();
            if entries.is_empty() {
                continue;
            }
            restore(&mut conn, &Dump::from_recorded(step)).await;
            for entry in entries {
                let what = format!("{name} / {} / {}", step.name(), entry.id);
                let res = inspector.task_info(&entry.queue, &entry.id).await;
                check_task_info(
                    &what,
                    entry.task_info.as_ref(),
                    entry.error.as_deref(),
                    res,
                    sc.t0_unix_ns(),
                    Some(()),
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 100,
        "only {checked} recorded entries were checked"
    );
}
