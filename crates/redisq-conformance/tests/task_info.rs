//! TaskInfo comparison against every recorded TaskInfo.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use redisq_conformance::{ActualTaskInfo, Scenario, bytes_json, compare_task_info, time_json};
use serde_json::{Value, json};

/// Every recorded TaskInfo with the scenario's t0.
fn recorded_task_infos() -> Vec<(String, i64, Value)> {
    let mut out = Vec::new();
    for name in Scenario::names() {
        let s = Scenario::load(&name);
        for step in s.steps() {
            for r in step.api_results() {
                if let Some(ti) = r.get("returned_task_info").filter(|v| !v.is_null()) {
                    out.push((
                        format!("{name}/{}", step.name()),
                        s.t0_unix_ns(),
                        ti.clone(),
                    ));
                }
            }
            for e in step.get_task_info_after() {
                if let Some(ti) = e.task_info {
                    out.push((format!("{name}/{}", step.name()), s.t0_unix_ns(), ti));
                }
            }
        }
    }
    out
}

fn time_ns(v: &Value) -> Option<i64> {
    v.get("unix_ns").and_then(Value::as_i64)
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    v.get("b64")
        .and_then(Value::as_str)
        .map(|b| B64.decode(b).unwrap())
}

/// What a redisq test would build from a TaskInfo equal to the recorded one.
fn as_actual(ti: &Value) -> ActualTaskInfo {
    ActualTaskInfo {
        id: ti["id"].as_str().unwrap().into(),
        queue: ti["queue"].as_str().unwrap().into(),
        task_type: ti["type"].as_str().unwrap().into(),
        payload: bytes(&ti["payload"]),
        headers: ti["headers"].as_object().map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect::<BTreeMap<_, _>>()
        }),
        state: ti["state"].as_str().unwrap().into(),
        max_retry: ti["max_retry"].as_i64().unwrap(),
        retried: ti["retried"].as_i64().unwrap(),
        last_err: ti["last_err"].as_str().unwrap().into(),
        last_failed_at_unix_ns: time_ns(&ti["last_failed_at"]),
        timeout_s: ti["timeout_s"].as_i64().unwrap(),
        deadline_unix_ns: time_ns(&ti["deadline"]),
        group: ti["group"].as_str().unwrap().into(),
        next_process_at_unix_ns: time_ns(&ti["next_process_at"]),
        is_orphaned: ti["is_orphaned"].as_bool().unwrap(),
        retention_s: ti["retention_s"].as_i64().unwrap(),
        completed_at_unix_ns: time_ns(&ti["completed_at"]),
        result: bytes(&ti["result"]),
    }
}

#[test]
fn every_recorded_task_info_matches_itself() {
    let all = recorded_task_infos();
    assert_eq!(all.len(), 145);
    for (what, t0, ti) in &all {
        let actual = as_actual(ti).to_json();
        if let Err(m) = compare_task_info(ti, &actual, *t0, 2.0) {
            panic!("{what}: {m}");
        }
        // and with another t0: the same offsets, other absolute times
        let shift = 86_400_000_000_000 + 123_456_789;
        let mut moved = as_actual(ti);
        for t in [
            &mut moved.last_failed_at_unix_ns,
            &mut moved.deadline_unix_ns,
            &mut moved.next_process_at_unix_ns,
            &mut moved.completed_at_unix_ns,
        ]
        .into_iter()
        .flatten()
        {
            *t += shift;
        }
        if let Err(m) = compare_task_info(ti, &moved.to_json(), *t0 + shift, 2.0) {
            panic!("{what}: {m}");
        }
    }
}

fn sample() -> (Value, i64) {
    let s = Scenario::load("g_process_retention_result");
    let step = s.step("after_server_shutdown");
    let ti = step.task_info_after("task-g").task_info.unwrap();
    assert!(!ti["completed_at"].is_null() && !ti["result"].is_null());
    (ti, s.t0_unix_ns())
}

#[test]
fn differences_are_reported() {
    let (ti, t0) = sample();
    let base = as_actual(&ti);

    let check = |actual: Value, needles: &[&str]| {
        let m = compare_task_info(&ti, &actual, t0, 2.0).expect_err("accepted");
        let text = m.to_string();
        assert!(text.contains("TaskInfo task-g"), "{text}");
        for n in needles {
            assert!(text.contains(n), "{n:?} not in:\n{text}");
        }
    };

    let mut a = base.clone();
    a.state = "pending".into();
    check(
        a.to_json(),
        &["state", "expected \"completed\", actual \"pending\""],
    );

    let mut a = base.clone();
    a.completed_at_unix_ns = a.completed_at_unix_ns.map(|t| t + 10_000_000_000);
    check(a.to_json(), &["completed_at", "(±2 s)"]);

    let mut a = base.clone();
    a.completed_at_unix_ns = None;
    check(a.to_json(), &["completed_at", "actual null"]);

    let mut a = base.clone();
    a.deadline_unix_ns = Some(t0);
    check(a.to_json(), &["deadline", "expected null"]);

    let mut a = base.clone();
    a.result = Some(b"ko".to_vec());
    check(a.to_json(), &["result", "expected \"ok\", actual \"ko\""]);

    let mut a = base.clone();
    a.payload = None;
    check(a.to_json(), &["payload", "actual null"]);

    let mut a = base.clone();
    a.headers = Some(BTreeMap::new());
    check(a.to_json(), &["headers", "expected null, actual {}"]);

    let mut j = base.to_json();
    j.as_object_mut().unwrap().remove("retention_s");
    j["extra"] = json!(1);
    check(
        j,
        &["retention_s: missing field", "extra: unexpected field"],
    );

    // within the tolerance
    let mut a = base;
    a.completed_at_unix_ns = a.completed_at_unix_ns.map(|t| t + 1_500_000_000);
    compare_task_info(&ti, &a.to_json(), t0, 2.0).unwrap();
}

#[test]
fn nulls_and_helpers() {
    compare_task_info(&Value::Null, &Value::Null, 0, 2.0).unwrap();
    let (ti, t0) = sample();
    assert!(compare_task_info(&ti, &Value::Null, t0, 2.0).is_err());
    assert!(compare_task_info(&Value::Null, &ti, t0, 2.0).is_err());
    assert_eq!(time_json(None), Value::Null);
    assert_eq!(time_json(Some(5)), json!({"unix_ns": 5}));
    assert_eq!(bytes_json(None), Value::Null);
    assert_eq!(bytes_json(Some(b"ok")), json!({"b64": "b2s="}));
    assert_eq!(bytes_json(Some(b"")), json!({"b64": ""}));
}
