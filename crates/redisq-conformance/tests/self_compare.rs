//! The comparator against the recordings themselves: every recorded step must match a dump
//! rebuilt from it (also after changing every run-specific part), and mutated dumps must fail
//! with a report that names the key.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use redisq_conformance::{
    CompareOptions, Dump, DumpValue, ExpectedBytes, ExpectedTtl, KeyEntry, Mismatches, ProtoValue,
    Scenario, Schema, Step, TASK_MESSAGE, TimeExpectation, TimeUnit, Timestamp, compare,
    compare_dump, decode_message, utc_date,
};
use serde_json::Value;

fn recorded(scenario: &str, step: &str) -> (Step, Dump) {
    let s = Scenario::load(scenario);
    let step = s.step(step).clone();
    let dump = Dump::from_recorded(&step);
    (step, dump)
}

fn expect_ok(step: &Step, dump: &Dump, t0: i64, opts: &CompareOptions) {
    if let Err(m) = compare(step, dump, t0, opts) {
        panic!("{m}");
    }
}

fn expect_err(step: &Step, dump: &Dump, t0: i64, opts: &CompareOptions) -> Mismatches {
    match compare(step, dump, t0, opts) {
        Ok(()) => panic!(
            "scenario {} step {}: the mutated dump was accepted",
            step.scenario_name(),
            step.name()
        ),
        Err(m) => {
            let text = m.to_string();
            assert!(text.contains(step.scenario_name()), "{text}");
            m
        }
    }
}

fn assert_mentions(m: &Mismatches, needles: &[&str]) {
    let text = m.to_string();
    for n in needles {
        assert!(text.contains(n), "report does not mention {n:?}:\n{text}");
    }
}

fn entry_mut<'a>(dump: &'a mut Dump, key: &str) -> &'a mut KeyEntry {
    dump.keys
        .get_mut(key.as_bytes())
        .unwrap_or_else(|| panic!("no key {key}"))
}

fn hash_mut<'a>(dump: &'a mut Dump, key: &str) -> &'a mut BTreeMap<Vec<u8>, Vec<u8>> {
    match &mut entry_mut(dump, key).value {
        DumpValue::Hash(h) => h,
        other => panic!("{key} is {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// (a) every recorded step matches itself

#[test]
fn every_step_of_every_scenario_matches_its_own_recording() {
    let names = Scenario::names();
    assert_eq!(names.len(), 32);
    let mut steps = 0;
    for name in names {
        let scenario = Scenario::load(&name);
        for step in scenario.steps() {
            let dump = Dump::from_recorded(step);
            assert_eq!(
                dump.len() as u64,
                step.dump_json()["key_count"].as_u64().unwrap(),
                "{name}/{}",
                step.name()
            );
            expect_ok(
                step,
                &dump,
                scenario.t0_unix_ns(),
                &CompareOptions::default(),
            );
            steps += 1;
        }
    }
    assert_eq!(steps, 83);
}

/// Rewrites every run-specific part of a recorded dump as another run would produce it:
/// all absolute times shifted by `shift_s`, other hostname/pids/UUIDs, protobuf values
/// re-encoded accordingly.
fn rerun(step: &Step, shift_s: i64) -> Dump {
    let shift_ns = shift_s * 1_000_000_000;
    let new_t0 = step.t0_unix_ns() + shift_ns;
    let mut keys = BTreeMap::new();
    for (raw, kd) in step.dump_json()["keys"].as_object().unwrap() {
        let mut key = other_ids(raw);
        if let Some(days) = kd["key_date"]["t0_offset_days"].as_i64() {
            let old = kd["key_date"]["date"].as_str().unwrap();
            let new = utc_date(new_t0 + days * 86_400_000_000_000);
            key = key.replace(old, &new);
        }
        let pttl_ms = kd["ttl_s"].as_f64().map(|s| (s * 1000.0).round() as i64);
        let v = &kd["value"];
        let bv = |j: &Value| shift_bv(j, shift_s);
        let value = match kd["type"].as_str().unwrap() {
            "string" => DumpValue::String(bv(v)),
            "hash" => DumpValue::Hash(
                v.as_object()
                    .unwrap()
                    .iter()
                    .map(|(f, j)| (other_ids(f).into_bytes(), bv(j)))
                    .collect(),
            ),
            "list" => DumpValue::List(v.as_array().unwrap().iter().map(bv).collect()),
            "set" => {
                let mut m: Vec<Vec<u8>> = v.as_array().unwrap().iter().map(bv).collect();
                m.sort();
                DumpValue::Set(m)
            }
            "zset" => {
                let mut z: Vec<(Vec<u8>, f64)> = v
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| {
                        (
                            bv(&e["member"]),
                            e["score"].as_f64().unwrap() + shift_s as f64,
                        )
                    })
                    .collect();
                // Redis order: score, then member bytes
                z.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                DumpValue::ZSet(z)
            }
            other => panic!("type {other}"),
        };
        keys.insert(key.into_bytes(), KeyEntry { pttl_ms, value });
    }
    Dump {
        keys,
        redis_time_unix_ns: step.dump_json()["redis_time"]["raw"]
            .as_i64()
            .map(|t| t + shift_ns),
    }
}

/// Replaces the hostname `vm`, the pids and every UUID by other values.
fn other_ids(text: &str) -> String {
    let mut s = text.replace("{vm:23721:", "{other-host.example:4242:");
    s = s.replace("{vm:23748:", "{other-host.example:4343:");
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if i + 36 <= b.len() && is_uuid(&b[i..i + 36]) {
            // a different, still valid UUID
            let u: String = s[i..i + 36]
                .chars()
                .map(|c| match c {
                    '-' => '-',
                    'f' => '0',
                    c => char::from_digit(c.to_digit(16).unwrap() + 1, 16).unwrap(),
                })
                .collect();
            out.push_str(&u);
            i += 36;
        } else {
            let c = s[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_uuid(b: &[u8]) -> bool {
    b.iter().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => *c == b'-',
        _ => c.is_ascii_hexdigit(),
    })
}

fn shift_bv(bv: &Value, shift_s: i64) -> Vec<u8> {
    let raw = B64.decode(bv["b64"].as_str().unwrap()).unwrap();
    if let Some(time) = bv.get("time") {
        let unit_ns: i64 = match time["unit"].as_str().unwrap() {
            "s" => 1_000_000_000,
            "ns" => 1,
            u => panic!("unit {u}"),
        };
        let v = time["raw"].as_i64().unwrap() + shift_s * 1_000_000_000 / unit_ns;
        return v.to_string().into_bytes();
    }
    if let Some(proto) = bv.get("proto") {
        let message = proto["message"].as_str().unwrap();
        let mut d = decode_message(message, &raw).unwrap();
        for (name, v) in d.fields.iter_mut() {
            match (name.as_str(), &mut *v) {
                ("host", ProtoValue::String(s)) => *s = "other-host.example".into(),
                ("pid", ProtoValue::Int(p)) => *p = 4242,
                ("server_id", ProtoValue::String(s)) => *s = other_ids(s),
                ("id", ProtoValue::String(s)) if message != TASK_MESSAGE => *s = other_ids(s),
                ("deadline" | "last_failed_at" | "completed_at", ProtoValue::Int(t))
                    if message == TASK_MESSAGE && *t != 0 =>
                {
                    *t += shift_s
                }
                (_, ProtoValue::Timestamp(Some(ts))) if !ts.is_go_zero() => {
                    ts.seconds += shift_s;
                }
                _ => {}
            }
        }
        return Schema::asynq().encode(message, &d.fields).unwrap();
    }
    if bv.get("utf8_normalized").is_some() {
        return other_ids(std::str::from_utf8(&raw).unwrap()).into_bytes();
    }
    raw
}

#[test]
fn every_step_matches_a_rerun_with_other_times_hosts_and_ids() {
    // two days and 1234 s later: the counter dates change, offsets stay the same
    let shift_s = 2 * 86_400 + 1234;
    for name in Scenario::names() {
        let scenario = Scenario::load(&name);
        for step in scenario.steps() {
            let dump = rerun(step, shift_s);
            let t0 = scenario.t0_unix_ns() + shift_s * 1_000_000_000;
            expect_ok(step, &dump, t0, &CompareOptions::default());
            // the same dump judged with the recorded t0 is 2 days off
            let has_times = has_absolute_times(&step.dump_json()["keys"]);
            if has_times {
                assert!(
                    compare(
                        step,
                        &dump,
                        scenario.t0_unix_ns(),
                        &CompareOptions::default()
                    )
                    .is_err(),
                    "{name}/{}: a wrong t0 was accepted",
                    step.name()
                );
            }
        }
    }
}

/// Whether a recorded dump holds absolute times (scores, timestamp strings, protobuf times or
/// dated counter keys).
fn has_absolute_times(v: &Value) -> bool {
    match v {
        Value::Object(o) => o.iter().any(|(k, x)| {
            matches!(k.as_str(), "score_t0_offset_s" | "time" | "key_date")
                || (k == "t0_offsets_s" && x.as_object().unwrap().values().any(Value::is_number))
                || has_absolute_times(x)
        }),
        Value::Array(a) => a.iter().any(has_absolute_times),
        _ => false,
    }
}

#[test]
fn rerun_really_changes_the_run_specific_parts() {
    let (step, original) = recorded("k_active_worker_heartbeat", "while_active_after_heartbeat");
    let other = rerun(&step, 100);
    let orig_key = "asynq:servers:{vm:23721:562fb62a-b0c6-4a93-b34d-a27c75444124}";
    let new_key = other_ids(orig_key);
    assert!(new_key.starts_with("asynq:servers:{other-host.example:4242:"));
    assert_ne!(new_key[40..], orig_key[40..]);
    assert!(original.get(&new_key).is_none());
    assert!(other.get(orig_key).is_none(), "{other}");
    assert_ne!(
        original.get(orig_key).unwrap().value,
        other.get(&new_key).unwrap().value
    );
}

// ---------------------------------------------------------------------------------------------
// (b) mutations must fail and name the key

#[test]
fn one_changed_byte_in_a_task_message_fails() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    let msg = hash_mut(&mut dump, "asynq:{default}:t:task-a")
        .get_mut(b"msg".as_slice())
        .unwrap();
    assert_eq!(msg[2], b'e'); // "email:send"
    msg[2] = b'f';
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "asynq:{default}:t:task-a",
            "TaskMessage.type",
            "\"fmail:send\"",
        ],
    );
}

#[test]
fn one_changed_byte_in_a_task_message_with_times_fails() {
    let (step, mut dump) = recorded("h_fail_retry", "after_server_shutdown");
    let msg = hash_mut(&mut dump, "asynq:{default}:t:task-h")
        .get_mut(b"msg".as_slice())
        .unwrap();
    let at = msg.windows(4).position(|w| w == b"fail").unwrap();
    msg[at] = b'F';
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{default}:t:task-h", "TaskMessage.type"]);
}

#[test]
fn truncated_task_message_fails_to_decode() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    hash_mut(&mut dump, "asynq:{default}:t:task-a")
        .get_mut(b"msg".as_slice())
        .unwrap()
        .truncate(5);
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "asynq:{default}:t:task-a",
            "cannot decode as asynq.TaskMessage",
        ],
    );
}

fn reencode_task(dump: &mut Dump, key: &str, f: impl FnOnce(&mut BTreeMap<String, ProtoValue>)) {
    let msg = hash_mut(dump, key).get_mut(b"msg".as_slice()).unwrap();
    let mut d = decode_message(TASK_MESSAGE, msg).unwrap();
    f(&mut d.fields);
    *msg = Schema::asynq().encode(TASK_MESSAGE, &d.fields).unwrap();
}

#[test]
fn a_flipped_task_message_field_fails() {
    let (step, mut dump) = recorded("b_enqueue_all_options", "after_enqueue");
    reencode_task(&mut dump, "asynq:{critical}:t:task-b", |f| {
        f.insert("retry".into(), ProtoValue::Int(6));
    });
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "asynq:{critical}:t:task-b",
            "TaskMessage.retry",
            "expected 7, actual 6",
        ],
    );

    // a header value
    let (step, mut dump) = recorded("b_enqueue_all_options", "after_enqueue");
    reencode_task(&mut dump, "asynq:{critical}:t:task-b", |f| {
        let mut h = BTreeMap::new();
        h.insert(
            ProtoValue::String("k".into()),
            ProtoValue::String("w".into()),
        );
        f.insert("headers".into(), ProtoValue::Map(h));
    });
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{critical}:t:task-b", "TaskMessage.headers"]);
}

#[test]
fn a_task_message_time_field_is_compared_by_offset() {
    let (step, dump) = recorded("b_enqueue_all_options", "after_enqueue");
    let t0 = step.t0_unix_ns();
    // deadline one second later: within ±2 s (and the raw bytes may differ)
    let mut near = dump.clone();
    reencode_task(&mut near, "asynq:{critical}:t:task-b", |f| {
        let Some(ProtoValue::Int(d)) = f.get_mut("deadline") else {
            panic!()
        };
        *d += 1;
    });
    expect_ok(&step, &near, t0, &CompareOptions::default());
    // ten seconds later: fails
    let mut far = dump.clone();
    reencode_task(&mut far, "asynq:{critical}:t:task-b", |f| {
        let Some(ProtoValue::Int(d)) = f.get_mut("deadline") else {
            panic!()
        };
        *d += 10;
    });
    let m = expect_err(&step, &far, t0, &CompareOptions::default());
    assert_mentions(&m, &["asynq:{critical}:t:task-b", "TaskMessage.deadline"]);
    // unset: fails
    let mut unset = dump;
    reencode_task(&mut unset, "asynq:{critical}:t:task-b", |f| {
        f.insert("deadline".into(), ProtoValue::Int(0));
    });
    let m = expect_err(&step, &unset, t0, &CompareOptions::default());
    assert_mentions(&m, &["TaskMessage.deadline", "actual 0 (unset)"]);
}

#[test]
fn same_fields_but_different_bytes_fail_for_task_messages_without_times() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    // Swap the order of the `type` (1) and `payload` (2) fields: decodes to the same message.
    let msg = hash_mut(&mut dump, "asynq:{default}:t:task-a")
        .get_mut(b"msg".as_slice())
        .unwrap();
    let type_len = 2 + msg[1] as usize;
    let payload_len = 2 + msg[type_len + 1] as usize;
    let mut swapped = msg[type_len..type_len + payload_len].to_vec();
    swapped.extend_from_slice(&msg[..type_len]);
    swapped.extend_from_slice(&msg[type_len + payload_len..]);
    assert_eq!(
        decode_message(TASK_MESSAGE, &swapped).unwrap(),
        decode_message(TASK_MESSAGE, msg).unwrap()
    );
    *msg = swapped;
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{default}:t:task-a", "raw bytes differ"]);
}

#[test]
fn a_dropped_key_fails() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    dump.keys.remove(b"asynq:{default}:pending".as_slice());
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &["asynq:{default}:pending", "missing key", "expected keys:"],
    );
}

#[test]
fn an_extra_key_fails_unless_ignored() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    dump.keys.insert(
        b"asynq:{default}:wakeup".to_vec(),
        KeyEntry {
            pttl_ms: None,
            value: DumpValue::String(b"1".to_vec()),
        },
    );
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{default}:wakeup", "unexpected key"]);
    let opts = CompareOptions::new().ignore_key("asynq:{default}:wakeup");
    expect_ok(&step, &dump, step.t0_unix_ns(), &opts);
    let opts = CompareOptions::new().ignore_key_prefix("asynq:{default}:wake");
    expect_ok(&step, &dump, step.t0_unix_ns(), &opts);
}

#[test]
fn a_changed_type_fails() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    entry_mut(&mut dump, "asynq:{default}:pending").value =
        DumpValue::ZSet(vec![(b"task-a".to_vec(), 1.0)]);
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "asynq:{default}:pending",
            "type: expected list, actual zset",
        ],
    );
}

#[test]
fn a_score_shifted_by_ten_seconds_fails() {
    let (step, mut dump) = recorded("d_schedule", "after_process_in");
    let DumpValue::ZSet(z) = &mut entry_mut(&mut dump, "asynq:{default}:scheduled").value else {
        panic!()
    };
    z[0].1 += 1.0;
    expect_ok(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    let DumpValue::ZSet(z) = &mut entry_mut(&mut dump, "asynq:{default}:scheduled").value else {
        panic!()
    };
    z[0].1 += 9.0;
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{default}:scheduled", "zset[0] score"]);
    // a wider tolerance accepts it
    expect_ok(
        &step,
        &dump,
        step.t0_unix_ns(),
        &CompareOptions::new().tolerance(10.5),
    );
}

#[test]
fn a_changed_ttl_fails() {
    let (step, dump) = recorded("c_unique_duplicate", "after_first_enqueue");
    let key = "asynq:{default}:unique:report:daily:bc8d24449b42aba96fe37c73ac5b02f2";
    assert!(dump.get(key).is_some(), "{dump}");
    let mut shorter = dump.clone();
    *entry_mut(&mut shorter, key).pttl_ms.as_mut().unwrap() -= 10_000;
    let m = expect_err(
        &step,
        &shorter,
        step.t0_unix_ns(),
        &CompareOptions::default(),
    );
    assert_mentions(&m, &[key, "ttl", "expected 3600.000 s"]);
    let mut none = dump;
    entry_mut(&mut none, key).pttl_ms = None;
    let m = expect_err(&step, &none, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &[key, "actual no TTL"]);
}

#[test]
fn daily_counter_ttl_and_date() {
    let (step, mut dump) = recorded("x_lease_expired_recovery", "after_recovery");
    let key = "asynq:{default}:processed:2026-11-28";
    // first increment right after t0: 90 days minus the time since t0 is fine too
    entry_mut(&mut dump, key).pttl_ms = Some(7_776_000_000 - 60_000);
    expect_ok(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    entry_mut(&mut dump, key).pttl_ms = Some(7_776_000_000 - 80_000);
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{default}:processed:<date:t0+0d>", "ttl"]);
    // a counter of the wrong day
    let (step, mut dump) = recorded("f_process_success", "after_server_shutdown");
    let e = dump.keys.remove(key.as_bytes()).unwrap();
    dump.keys
        .insert(b"asynq:{default}:processed:2026-11-29".to_vec(), e);
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "asynq:{default}:processed:<date:t0+0d>",
            "asynq:{default}:processed:<date:t0+1d>",
        ],
    );
}

#[test]
fn a_changed_pending_since_fails() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    let h = hash_mut(&mut dump, "asynq:{default}:t:task-a");
    let ps = h.get_mut(b"pending_since".as_slice()).unwrap();
    let v: i64 = std::str::from_utf8(ps).unwrap().parse().unwrap();
    *ps = (v + 10_000_000_000).to_string().into_bytes();
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &["asynq:{default}:t:task-a", "pending_since", "expected time"],
    );
    // not a number
    let h = hash_mut(&mut dump, "asynq:{default}:t:task-a");
    h.insert(b"pending_since".to_vec(), b"soon".to_vec());
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["pending_since", "decimal timestamp"]);
}

#[test]
fn missing_and_extra_hash_fields_fail() {
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    let h = hash_mut(&mut dump, "asynq:{default}:t:task-a");
    h.remove(b"state".as_slice());
    h.insert(b"unique_key".to_vec(), b"x".to_vec());
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "hash field \"state\": missing field",
            "hash field \"unique_key\": unexpected field",
        ],
    );
}

#[test]
fn list_and_set_differences_fail() {
    let (step, mut dump) = recorded("e_group", "after_enqueue_2");
    let DumpValue::Set(s) = &mut entry_mut(&mut dump, "asynq:queues").value else {
        panic!()
    };
    s.push(b"low".to_vec());
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:queues", "unexpected member \"low\""]);

    let (step, mut dump) = recorded("o1_inspector_pending_archive_run_delete", "after_enqueue");
    let DumpValue::List(l) = &mut entry_mut(&mut dump, "asynq:{default}:pending").value else {
        panic!()
    };
    l[0] = b"task-zz".to_vec();
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:{default}:pending", "list[0]"]);
}

#[test]
fn server_and_worker_info_fields_are_checked() {
    let (step, dump) = recorded("k_active_worker_heartbeat", "while_active_after_heartbeat");
    let t0 = step.t0_unix_ns();
    let worker_key = "asynq:workers:{vm:23721:562fb62a-b0c6-4a93-b34d-a27c75444124}";
    let server_key = "asynq:servers:{vm:23721:562fb62a-b0c6-4a93-b34d-a27c75444124}";

    // WorkerInfo deadline 10 s later
    let mut d = dump.clone();
    let h = hash_mut(&mut d, worker_key);
    let w = h.get_mut(b"task-k".as_slice()).unwrap();
    let mut info = decode_message("asynq.WorkerInfo", w).unwrap();
    let Some(ProtoValue::Timestamp(Some(ts))) = info.fields.get_mut("deadline") else {
        panic!()
    };
    ts.seconds += 10;
    *w = Schema::asynq()
        .encode("asynq.WorkerInfo", &info.fields)
        .unwrap();
    let m = expect_err(&step, &d, t0, &CompareOptions::default());
    assert_mentions(
        &m,
        &["asynq:workers:{<host>:<pid>:<uuid>}", "WorkerInfo.deadline"],
    );

    // ServerInfo: active_worker_count 0, start_time absent
    let mut d = dump.clone();
    let DumpValue::String(s) = &mut entry_mut(&mut d, server_key).value else {
        panic!()
    };
    let mut info = decode_message("asynq.ServerInfo", s).unwrap();
    info.fields
        .insert("active_worker_count".into(), ProtoValue::Int(0));
    info.fields
        .insert("start_time".into(), ProtoValue::Timestamp(None));
    info.fields
        .insert("host".into(), ProtoValue::String("ignored".into()));
    *s = Schema::asynq()
        .encode("asynq.ServerInfo", &info.fields)
        .unwrap();
    let m = expect_err(&step, &d, t0, &CompareOptions::default());
    assert_mentions(
        &m,
        &[
            "asynq:servers:{<host>:<pid>:<uuid>}",
            "ServerInfo.active_worker_count",
            "ServerInfo.start_time",
            "actual absent",
        ],
    );
    assert!(!m.mentions("ServerInfo.host"), "{m}");
    assert_eq!(m.items.len(), 2, "{m}");
}

#[test]
fn go_zero_time_must_not_become_absent_or_epoch() {
    let (step, dump) = recorded("l1_scheduler_entry", "after_first_heartbeat");
    let key = "asynq:schedulers:{vm:23721:acfd6753-c993-410a-a24f-0bca3e26b097}";
    for replacement in [
        None,
        Some(Timestamp {
            seconds: 0,
            nanos: 0,
        }),
    ] {
        let mut d = dump.clone();
        let DumpValue::List(l) = &mut entry_mut(&mut d, key).value else {
            panic!()
        };
        let mut e = decode_message("asynq.SchedulerEntry", &l[0]).unwrap();
        e.fields.insert(
            "prev_enqueue_time".into(),
            ProtoValue::Timestamp(replacement),
        );
        l[0] = Schema::asynq()
            .encode("asynq.SchedulerEntry", &e.fields)
            .unwrap();
        let m = expect_err(&step, &d, step.t0_unix_ns(), &CompareOptions::default());
        assert_mentions(
            &m,
            &[
                "asynq:schedulers:{<host>:<pid>:<uuid>}",
                "SchedulerEntry.prev_enqueue_time",
                "Go zero time",
            ],
        );
    }
}

#[test]
fn unknown_protobuf_fields_fail() {
    let (step, mut dump) = recorded("l2_scheduler_enqueue_history", "after_first_fire");
    let key = dump
        .keys
        .keys()
        .find(|k| k.starts_with(b"asynq:scheduler_history:"))
        .unwrap()
        .clone();
    let DumpValue::ZSet(z) = &mut dump.keys.get_mut(&key).unwrap().value else {
        panic!()
    };
    z[0].0.extend_from_slice(&[0x18, 0x01]); // field 3 = 1
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(
        &m,
        &["asynq:scheduler_history:<uuid>", "field numbers", "[3]"],
    );
}

#[test]
fn multiset_zset_members() {
    let (step, mut dump) = recorded("x_lease_expired_recovery", "after_recovery");
    let DumpValue::ZSet(z) = &mut entry_mut(&mut dump, "asynq:servers").value else {
        panic!()
    };
    z.reverse();
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_mentions(&m, &["asynq:servers", "zset[0] score"]);
    let opts = CompareOptions::new().multiset_zset_members(true);
    expect_ok(&step, &dump, step.t0_unix_ns(), &opts);
    let DumpValue::ZSet(z) = &mut entry_mut(&mut dump, "asynq:servers").value else {
        panic!()
    };
    z[0].1 += 30.0;
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &opts);
    assert_mentions(&m, &["asynq:servers", "missing entry", "unexpected entry"]);
}

#[test]
fn every_difference_is_listed() {
    let (step, mut dump) = recorded("c_unique_duplicate", "after_second_enqueue");
    dump.keys.remove(b"asynq:queues".as_slice());
    let h = hash_mut(&mut dump, "asynq:{default}:t:task-c1");
    h.insert(b"state".to_vec(), b"active".to_vec());
    h.remove(b"unique_key".as_slice());
    let m = expect_err(&step, &dump, step.t0_unix_ns(), &CompareOptions::default());
    assert_eq!(m.items.len(), 3, "{m}");
    assert_mentions(
        &m,
        &[
            "3 difference(s)",
            "`asynq:queues`: missing key",
            "hash field \"state\": expected \"pending\", actual \"active\"",
            "hash field \"unique_key\": missing field",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// patching the expectation (deliberate differences)

#[test]
fn d4_unique_key_in_group_task_hash() {
    let (step, mut dump) = recorded("r_unique_variants", "after_enqueue_2");
    let key = "asynq:{default}:t:task-r2";
    let lock = b"asynq:{default}:unique:sync:b2f5ff47436671b6e533d8dc3614845d";
    hash_mut(&mut dump, key).insert(b"unique_key".to_vec(), lock.to_vec());
    let t0 = step.t0_unix_ns();
    let m = expect_err(&step, &dump, t0, &CompareOptions::default());
    assert_mentions(&m, &["hash field \"unique_key\": unexpected field"]);

    let mut expected = step.expected_dump();
    expected.set_hash_field_bytes(key, "unique_key", lock.to_vec());
    compare_dump(&expected, &dump, t0, &CompareOptions::default())
        .unwrap_or_else(|m| panic!("{m}"));

    // the same through a hook
    let opts = CompareOptions::new().patch(move |e| {
        e.set_hash_field_bytes(key, "unique_key", lock.to_vec());
    });
    expect_ok(&step, &dump, t0, &opts);
}

#[test]
fn d8_and_d9_patches() {
    // D8: force-deleting a queue also removes the paused key
    let (step, mut dump) = recorded("z_delete_queue", "after_delete_force");
    dump.keys.remove(b"asynq:{tmp}:paused".as_slice());
    assert!(dump.is_empty());
    let opts = CompareOptions::new().patch(|e| {
        e.remove_key("asynq:{tmp}:paused");
    });
    expect_ok(&step, &dump, step.t0_unix_ns(), &opts);

    // D9: RunTask sets pending_since
    let (step, mut dump) = recorded("o1_inspector_pending_archive_run_delete", "after_run");
    let t0 = step.t0_unix_ns();
    let key = "asynq:{default}:t:task-o1";
    let h = hash_mut(&mut dump, key);
    h.insert(
        b"pending_since".to_vec(),
        (t0 + 5_000_000).to_string().into_bytes(),
    );
    let mut expected = step.expected_dump();
    expected.set_hash_field_time_offset(key, "pending_since", TimeUnit::Nanoseconds, 0.0);
    compare_dump(&expected, &dump, t0, &CompareOptions::default())
        .unwrap_or_else(|m| panic!("{m}"));
    expected.set_hash_field_time_offset(key, "pending_since", TimeUnit::Nanoseconds, 30.0);
    let m = compare_dump(&expected, &dump, t0, &CompareOptions::default()).unwrap_err();
    assert_mentions(&m, &[key, "pending_since"]);
}

#[test]
fn patching_a_task_message() {
    // D6-style: expect another error message and a last_failed_at
    let (step, dump) = recorded("v_cancel_processing", "after_cancel_and_shutdown");
    let t0 = step.t0_unix_ns();
    let key = "asynq:{default}:t:task-v";
    let mut expected = step.expected_dump();
    let p = expected.hash_proto_mut(key, "msg");
    assert_eq!(p.exact_bytes(), None, "the message has last_failed_at");
    p.set("error_msg", ProtoValue::String("task canceled".into()));
    let m = compare_dump(&expected, &dump, t0, &CompareOptions::default()).unwrap_err();
    assert_mentions(&m, &[key, "TaskMessage.error_msg", "\"task canceled\""]);
    expected
        .hash_proto_mut(key, "msg")
        .ignore("error_msg")
        .set_time("last_failed_at", TimeExpectation::At(100.0));
    let m = compare_dump(&expected, &dump, t0, &CompareOptions::default()).unwrap_err();
    assert_eq!(m.items.len(), 1, "{m}");
    assert_mentions(&m, &["TaskMessage.last_failed_at"]);

    // setting a field of a message without times keeps the exact-bytes check, recomputed
    let (step, mut dump) = recorded("a_enqueue_minimal", "after_enqueue");
    let key = "asynq:{default}:t:task-a";
    let mut expected = step.expected_dump();
    let original = expected
        .hash_proto_mut(key, "msg")
        .exact_bytes()
        .unwrap()
        .to_vec();
    expected
        .hash_proto_mut(key, "msg")
        .set("retry", ProtoValue::Int(3));
    let recomputed = expected
        .hash_proto_mut(key, "msg")
        .exact_bytes()
        .unwrap()
        .to_vec();
    assert_ne!(original, recomputed);
    reencode_task(&mut dump, key, |f| {
        f.insert("retry".into(), ProtoValue::Int(3));
    });
    compare_dump(
        &expected,
        &dump,
        step.t0_unix_ns(),
        &CompareOptions::default(),
    )
    .unwrap_or_else(|m| panic!("{m}"));
}

#[test]
fn building_keys_by_hand() {
    use redisq_conformance::{ExpectedKey, ExpectedValue, ExpectedZMember};
    // D3-style: the scheduled grouped task ends up in its group
    let (step, dump) = recorded("e_group", "after_enqueue_1");
    let mut expected = step.expected_dump();
    let g = expected.remove_key("asynq:{default}:g:g1");
    let ExpectedValue::ZSet(members) = &g.value else {
        panic!()
    };
    let offset = members[0].score_t0_offset_s;
    expected.insert_key(ExpectedKey::new(
        "asynq:{default}:g:g1",
        ExpectedValue::ZSet(vec![ExpectedZMember {
            member: ExpectedBytes::text("task-e1"),
            score_t0_offset_s: offset,
        }]),
    ));
    expected.set_hash_field("asynq:{default}:t:task-e1", "msg", ExpectedBytes::Any);
    compare_dump(
        &expected,
        &dump,
        step.t0_unix_ns(),
        &CompareOptions::default(),
    )
    .unwrap_or_else(|m| panic!("{m}"));
    expected.set_ttl("asynq:{default}:g:g1", ExpectedTtl::Any);
    let m = compare_dump(
        &expected,
        &dump,
        step.t0_unix_ns(),
        &CompareOptions::default(),
    )
    .unwrap_err();
    assert_mentions(
        &m,
        &["asynq:{default}:g:g1", "expected a TTL, actual no TTL"],
    );
}

#[test]
#[should_panic(expected = "available steps: after_enqueue")]
fn unknown_step_lists_the_steps() {
    Scenario::load("a_enqueue_minimal").step("nope");
}

#[test]
#[should_panic(expected = "available scenarios: a_enqueue_minimal")]
fn unknown_scenario_lists_the_scenarios() {
    Scenario::load("no_such_scenario");
}

#[test]
fn scenario_accessors() {
    let s = Scenario::load("k_active_worker_heartbeat.json");
    assert_eq!(s.name(), "k_active_worker_heartbeat");
    assert_eq!(s.t0_unix_ns(), 1_795_827_861_874_512_023);
    assert_eq!(s.config()["Concurrency"], 3);
    assert_eq!(s.steps().len(), 3);
    let step = s.step("while_active_after_heartbeat");
    assert!(step.started_t0_offset_s() >= 0.0);
    assert_eq!(step.api_results()[0]["return"]["ctx_task_id"], "task-k");
    let info = step.task_info_after("task-k");
    assert_eq!(info.queue, "default");
    assert!(info.error.is_none());
    assert_eq!(info.task_info.unwrap()["state"], "active");
    assert!(Scenario::load("a_enqueue_minimal").config().is_null());
}
