//! Replays asynq's recorded client-side scenarios (`../shared/conformance/scenarios`) with
//! redisq and compares the Redis keyspace and the returned TaskInfo with the recordings.
//! Deliberate differences (decisions D4, D7) are patched into the expectation explicitly.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redisq::{Client, Task, TaskInfo, TaskOption, parse_redis_uri};
use redisq_conformance::{
    ActualTaskInfo, CompareOptions, ExpectedDump, Scenario, Step, compare_dump, compare_task_info,
    dump, now_unix_ns,
};
use redisq_test_support::RedisServer;

struct Replay {
    server: RedisServer,
    client: Client,
    t0: i64,
}

impl Replay {
    async fn start() -> Replay {
        let server = RedisServer::start();
        let client = Client::connect(parse_redis_uri(&server.url()).expect("uri"))
            .await
            .expect("client");
        Replay {
            server,
            client,
            t0: now_unix_ns(),
        }
    }

    fn t0_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.t0.unsigned_abs())
    }

    /// Compares the keyspace with the step's dump after `patch` adjusts the expectation.
    async fn check_dump(&self, step: &Step, patch: impl FnOnce(&mut ExpectedDump)) {
        let mut expected = step.expected_dump();
        patch(&mut expected);
        let mut c = self.server.connection().await;
        let actual = dump(&mut c).await;
        compare_dump(&expected, &actual, self.t0, &CompareOptions::new())
            .unwrap_or_else(|m| panic!("{}: {m}", step.name()));
    }
}

fn nanos(t: Option<SystemTime>) -> Option<i64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64)
}

/// redisq's TaskInfo in the recording's JSON shape. `nil_payload` says whether the task was
/// created without a payload (Go's nil slice), which TaskInfo does not distinguish.
fn actual_info(info: &TaskInfo, nil_payload: bool) -> serde_json::Value {
    ActualTaskInfo {
        id: info.id.clone(),
        queue: info.queue.clone(),
        task_type: info.task_type.clone(),
        payload: (!nil_payload).then(|| info.payload.to_vec()),
        headers: (!info.headers.is_empty()).then(|| info.headers.clone()),
        state: info.state.to_string(),
        max_retry: i64::from(info.max_retry),
        retried: i64::from(info.retried),
        last_err: info.last_err.clone(),
        last_failed_at_unix_ns: nanos(info.last_failed_at),
        timeout_s: info.timeout.map(|d| d.as_secs() as i64).unwrap_or(0),
        deadline_unix_ns: nanos(info.deadline),
        group: info.group.clone().unwrap_or_default(),
        next_process_at_unix_ns: nanos(info.next_process_at),
        is_orphaned: info.is_orphaned,
        retention_s: info.retention.map(|d| d.as_secs() as i64).unwrap_or(0),
        completed_at_unix_ns: nanos(info.completed_at),
        result: info.result.as_ref().map(|r| r.to_vec()),
    }
    .to_json()
}

/// Checks an Enqueue outcome against the recorded `api_results[i]`.
fn check_result(
    replay: &Replay,
    step: &Step,
    i: usize,
    res: &redisq::Result<TaskInfo>,
    nil_payload: bool,
) {
    let recorded = &step.api_results()[i];
    match (res, recorded["error"].as_str()) {
        (Ok(info), None) => compare_task_info(
            &recorded["returned_task_info"],
            &actual_info(info, nil_payload),
            replay.t0,
            2.0,
        )
        .unwrap_or_else(|m| panic!("{} result {i}: {m}", step.name())),
        (Err(e), Some(text)) => {
            assert_eq!(e.to_string(), text, "{}: error text", step.name());
            match recorded["error_is"].as_str() {
                Some("ErrDuplicateTask") => assert!(e.is_duplicate_task()),
                Some("ErrTaskIDConflict") => assert!(e.is_task_id_conflict()),
                other => panic!("unexpected recorded error kind {other:?}"),
            }
        }
        (res, recorded) => panic!("{}: got {res:?}, recorded error {recorded:?}", step.name()),
    }
}

#[tokio::test]
async fn a_enqueue_minimal() {
    let sc = Scenario::load("a_enqueue_minimal");
    let r = Replay::start().await;
    let task = Task::new("email:send", r#"{"to":"user@example.com"}"#);
    let res = r
        .client
        .enqueue_with(&task, [TaskOption::task_id("task-a")])
        .await;
    let step = &sc.steps()[0];
    check_result(&r, step, 0, &res, false);
    r.check_dump(step, |_| {}).await;
}

#[tokio::test]
async fn b_enqueue_all_options() {
    let sc = Scenario::load("b_enqueue_all_options");
    let r = Replay::start().await;
    let task = Task::new("report:generate", r#"{"report_id":42}"#).with_header("k", "v");
    let deadline = r.t0_time() + Duration::from_secs(3600);
    let res = r
        .client
        .enqueue_with(
            &task,
            [
                TaskOption::queue("critical"),
                TaskOption::max_retry(7),
                TaskOption::timeout(Duration::from_secs(90)),
                TaskOption::deadline(deadline),
                TaskOption::retention(Duration::from_secs(2 * 3600)),
                TaskOption::task_id("task-b"),
            ],
        )
        .await;
    let step = &sc.steps()[0];
    check_result(&r, step, 0, &res, false);
    r.check_dump(step, |_| {}).await;
}

#[tokio::test]
async fn b2_task_options_precedence() {
    let sc = Scenario::load("b2_task_options_precedence");
    let r = Replay::start().await;
    let task = Task::new("echo", "x").with_options([
        TaskOption::max_retry(1),
        TaskOption::queue("low"),
        TaskOption::task_id("task-b2"),
    ]);
    let res = r
        .client
        .enqueue_with(&task, [TaskOption::max_retry(5)])
        .await;
    let step = &sc.steps()[0];
    check_result(&r, step, 0, &res, false);
    r.check_dump(step, |_| {}).await;
}

#[tokio::test]
async fn b3_timeout_deadline_edge_cases() {
    let sc = Scenario::load("b3_timeout_deadline_edge_cases");
    let r = Replay::start().await;
    let task = Task::new("echo", "b3");
    let deadline = r.t0_time() + Duration::from_secs(3600);
    let step = &sc.steps()[0];
    let res = r
        .client
        .enqueue_with(
            &task,
            [
                TaskOption::deadline(deadline),
                TaskOption::task_id("task-b3a"),
            ],
        )
        .await;
    check_result(&r, step, 0, &res, false);
    // D7: a 500 ms timeout is rejected instead of being stored as "no timeout".
    let err = r
        .client
        .enqueue_with(
            &task,
            [
                TaskOption::timeout(Duration::from_millis(500)),
                TaskOption::task_id("task-b3b"),
            ],
        )
        .await
        .expect_err("D7");
    assert!(err.is_invalid_option());
    let res = r
        .client
        .enqueue_with(
            &task,
            [
                TaskOption::timeout(Duration::ZERO),
                TaskOption::task_id("task-b3c"),
            ],
        )
        .await;
    check_result(&r, step, 2, &res, false);
    let res = r
        .client
        .enqueue_with(
            &task,
            [TaskOption::max_retry(-5), TaskOption::task_id("task-b3d")],
        )
        .await;
    check_result(&r, step, 3, &res, false);
    r.check_dump(step, |e| {
        e.remove_key("asynq:{default}:t:task-b3b");
        if let redisq_conformance::ExpectedValue::List(items) =
            e.value_mut("asynq:{default}:pending")
        {
            items.retain(|b| *b != redisq_conformance::ExpectedBytes::text("task-b3b"));
        }
    })
    .await;
}

#[tokio::test]
async fn c_unique_duplicate() {
    let sc = Scenario::load("c_unique_duplicate");
    let r = Replay::start().await;
    let task = Task::new("report:daily", r#"{"day":"mon"}"#);
    let hour = TaskOption::unique(Duration::from_secs(3600));
    let res = r
        .client
        .enqueue_with(&task, [hour.clone(), TaskOption::task_id("task-c1")])
        .await;
    check_result(&r, &sc.steps()[0], 0, &res, false);
    r.check_dump(&sc.steps()[0], |_| {}).await;
    let res = r
        .client
        .enqueue_with(&task, [hour, TaskOption::task_id("task-c2")])
        .await;
    check_result(&r, &sc.steps()[1], 0, &res, false);
    r.check_dump(&sc.steps()[1], |_| {}).await;
}

#[tokio::test]
async fn d_schedule() {
    let sc = Scenario::load("d_schedule");
    let r = Replay::start().await;
    let res = r
        .client
        .enqueue_with(
            &Task::new("reminder", "in-1h"),
            [
                TaskOption::process_in(Duration::from_secs(3600)),
                TaskOption::task_id("task-d1"),
            ],
        )
        .await;
    check_result(&r, &sc.steps()[0], 0, &res, false);
    r.check_dump(&sc.steps()[0], |_| {}).await;
    let past = r.t0_time() - Duration::from_secs(3600);
    let res = r
        .client
        .enqueue_with(
            &Task::new("reminder", "past"),
            [TaskOption::process_at(past), TaskOption::task_id("task-d2")],
        )
        .await;
    check_result(&r, &sc.steps()[1], 0, &res, false);
    r.check_dump(&sc.steps()[1], |_| {}).await;
}

#[tokio::test]
async fn e_group() {
    let sc = Scenario::load("e_group");
    let r = Replay::start().await;
    for (i, (payload, id)) in [("item-1", "task-e1"), ("item-2", "task-e2")]
        .into_iter()
        .enumerate()
    {
        let res = r
            .client
            .enqueue_with(
                &Task::new("digest", payload),
                [TaskOption::group("g1"), TaskOption::task_id(id)],
            )
            .await;
        check_result(&r, &sc.steps()[i], 0, &res, false);
        r.check_dump(&sc.steps()[i], |_| {}).await;
    }
}

#[tokio::test]
async fn q_task_id_conflict() {
    let sc = Scenario::load("q_task_id_conflict");
    let r = Replay::start().await;
    let steps = sc.steps();
    let calls: [(&str, &str, bool); 4] = [
        ("first", "task-q", false),
        ("second", "task-q", false),
        ("third", "task-q", true),
        ("third", "task-q2", true),
    ];
    for (i, (payload, id, unique)) in calls.into_iter().enumerate() {
        let mut opts = vec![TaskOption::task_id(id)];
        if unique {
            opts.push(TaskOption::unique(Duration::from_secs(3600)));
        }
        let res = r
            .client
            .enqueue_with(&Task::new("echo", payload), opts)
            .await;
        check_result(&r, &steps[i], 0, &res, false);
        r.check_dump(&steps[i], |_| {}).await;
    }
}

#[tokio::test]
async fn r_unique_variants() {
    let sc = Scenario::load("r_unique_variants");
    let r = Replay::start().await;
    let steps = sc.steps();
    let hour = Duration::from_secs(3600);

    let res = r
        .client
        .enqueue_with(
            &Task::new("sync", "p"),
            [
                TaskOption::process_in(Duration::from_secs(600)),
                TaskOption::unique(hour),
                TaskOption::task_id("task-r1"),
            ],
        )
        .await;
    check_result(&r, &steps[0], 0, &res, false);
    r.check_dump(&steps[0], |_| {}).await;

    let res = r
        .client
        .enqueue_with(
            &Task::new("sync", "g"),
            [
                TaskOption::group("g1"),
                TaskOption::unique(hour),
                TaskOption::task_id("task-r2"),
            ],
        )
        .await;
    check_result(&r, &steps[1], 0, &res, false);
    // D4: redisq also records the lock in the hash so delete/run paths can release it.
    let lock = "asynq:{default}:unique:sync:b2f5ff47436671b6e533d8dc3614845d";
    r.check_dump(&steps[1], |e| {
        e.set_hash_field_bytes(
            "asynq:{default}:t:task-r2",
            "unique_key",
            lock.as_bytes().to_vec(),
        );
    })
    .await;

    let res = r
        .client
        .enqueue_with(
            &Task::without_payload("ping"),
            [TaskOption::unique(hour), TaskOption::task_id("task-r3")],
        )
        .await;
    check_result(&r, &steps[2], 0, &res, true);
    let d4 = |e: &mut ExpectedDump| {
        e.set_hash_field_bytes(
            "asynq:{default}:t:task-r2",
            "unique_key",
            lock.as_bytes().to_vec(),
        );
    };
    r.check_dump(&steps[2], d4).await;

    let res = r
        .client
        .enqueue_with(
            &Task::new("ping", ""),
            [TaskOption::unique(hour), TaskOption::task_id("task-r4")],
        )
        .await;
    check_result(&r, &steps[3], 0, &res, false);
    r.check_dump(&steps[3], d4).await;

    let res = r
        .client
        .enqueue_with(
            &Task::without_payload("ping"),
            [
                TaskOption::queue("critical"),
                TaskOption::unique(Duration::from_secs(1800)),
                TaskOption::task_id("task-r5"),
            ],
        )
        .await;
    check_result(&r, &steps[4], 0, &res, true);
    r.check_dump(&steps[4], d4).await;
}
