//! Comparison of TaskInfo values (README §2.4 step 5).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::compare::{Mismatch, Mismatches, show_bytes};

/// The TaskInfo fields that hold times (`T` or `null`).
pub const TASK_INFO_TIME_FIELDS: [&str; 4] = [
    "last_failed_at",
    "deadline",
    "next_process_at",
    "completed_at",
];

/// The TaskInfo fields that hold bytes (`BV` or `null`).
pub const TASK_INFO_BYTES_FIELDS: [&str; 2] = ["payload", "result"];

/// The JSON of a time on the actual side: `{"unix_ns": N}`, or `null` for `None` (Go's zero
/// time).
pub fn time_json(unix_ns: Option<i64>) -> Value {
    match unix_ns {
        Some(ns) => json!({ "unix_ns": ns }),
        None => Value::Null,
    }
}

/// The JSON of bytes on the actual side: `{"b64": ...}`, or `null` for `None` (a nil slice).
pub fn bytes_json(bytes: Option<&[u8]>) -> Value {
    match bytes {
        Some(b) => json!({ "b64": B64.encode(b) }),
        None => Value::Null,
    }
}

/// A TaskInfo as observed by a redisq test, in the recording's terms. [`to_json`] gives the
/// JSON shape that [`compare_task_info`] expects on the actual side.
///
/// [`to_json`]: ActualTaskInfo::to_json
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ActualTaskInfo {
    /// Task ID.
    pub id: String,
    /// Queue name.
    pub queue: String,
    /// Task type (JSON `type`).
    pub task_type: String,
    /// Payload; `None` = nil (an empty payload also reads back as nil in asynq).
    pub payload: Option<Vec<u8>>,
    /// Headers; `None` = nil map.
    pub headers: Option<BTreeMap<String, String>>,
    /// State: `pending`, `active`, `scheduled`, `retry`, `archived`, `completed` or
    /// `aggregating`.
    pub state: String,
    /// Maximum retry count.
    pub max_retry: i64,
    /// Retries so far.
    pub retried: i64,
    /// Last error message.
    pub last_err: String,
    /// Last failure time (unix ns); `None` = zero time.
    pub last_failed_at_unix_ns: Option<i64>,
    /// Timeout in whole seconds.
    pub timeout_s: i64,
    /// Deadline (unix ns); `None` = zero time.
    pub deadline_unix_ns: Option<i64>,
    /// Group name (empty if none).
    pub group: String,
    /// Next processing time (unix ns); `None` = zero time.
    pub next_process_at_unix_ns: Option<i64>,
    /// Whether the task is orphaned.
    pub is_orphaned: bool,
    /// Retention in whole seconds.
    pub retention_s: i64,
    /// Completion time (unix ns); `None` = zero time.
    pub completed_at_unix_ns: Option<i64>,
    /// Result; `None` = nil.
    pub result: Option<Vec<u8>>,
}

impl ActualTaskInfo {
    /// The TaskInfo JSON (README "TaskInfo JSON", times as `{"unix_ns"}`, bytes as
    /// `{"b64"}`).
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "queue": self.queue,
            "type": self.task_type,
            "payload": bytes_json(self.payload.as_deref()),
            "headers": match &self.headers {
                Some(h) => Value::Object(h.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect()),
                None => Value::Null,
            },
            "state": self.state,
            "max_retry": self.max_retry,
            "retried": self.retried,
            "last_err": self.last_err,
            "last_failed_at": time_json(self.last_failed_at_unix_ns),
            "timeout_s": self.timeout_s,
            "deadline": time_json(self.deadline_unix_ns),
            "group": self.group,
            "next_process_at": time_json(self.next_process_at_unix_ns),
            "is_orphaned": self.is_orphaned,
            "retention_s": self.retention_s,
            "completed_at": time_json(self.completed_at_unix_ns),
            "result": bytes_json(self.result.as_deref()),
        })
    }
}

fn bv_bytes(v: &Value) -> Result<Option<Vec<u8>>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Object(o) => {
            if let Some(b64) = o.get("b64").and_then(Value::as_str) {
                B64.decode(b64)
                    .map(Some)
                    .map_err(|e| format!("bad base64 {b64:?}: {e}"))
            } else if let Some(t) = o.get("utf8").and_then(Value::as_str) {
                Ok(Some(t.as_bytes().to_vec()))
            } else {
                Err(format!("byte value without b64: {v}"))
            }
        }
        other => Err(format!("expected a byte value or null, got {other}")),
    }
}

/// The t0 offset of a time JSON value: the recorded side uses `t0_offset_s`; the actual side
/// `unix_ns` (or `unix_s`), converted with `t0_unix_ns`.
fn time_offset(v: &Value, t0_unix_ns: Option<i64>) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Object(o) => {
            if let Some(t0) = t0_unix_ns {
                if let Some(ns) = o.get("unix_ns").and_then(Value::as_i64) {
                    return Ok(Some((i128::from(ns) - i128::from(t0)) as f64 / 1e9));
                }
                if let Some(s) = o.get("unix_s").and_then(Value::as_i64) {
                    return Ok(Some(
                        (i128::from(s) * 1_000_000_000 - i128::from(t0)) as f64 / 1e9,
                    ));
                }
            }
            o.get("t0_offset_s")
                .and_then(Value::as_f64)
                .map(Some)
                .ok_or_else(|| format!("time without unix_ns/t0_offset_s: {v}"))
        }
        other => Err(format!("expected a time or null, got {other}")),
    }
}

fn show_time(offset: Option<f64>, raw: &Value) -> String {
    match offset {
        None => "null (zero time)".to_owned(),
        Some(x) => match raw.get("rfc3339").and_then(Value::as_str) {
            Some(r) => format!("t0{x:+.3}s ({r})"),
            None => format!("t0{x:+.3}s"),
        },
    }
}

fn show_opt_bytes(b: &Option<Vec<u8>>) -> String {
    b.as_deref().map_or("null".to_owned(), show_bytes)
}

/// Compares a TaskInfo returned by redisq (`actual`, times as `{"unix_ns"}` relative to
/// `actual_t0_unix_ns`, bytes as `{"b64"}`) with a recorded one (`returned_task_info` or
/// `get_task_info_after[].task_info`): every field exactly, except the time fields, which are
/// compared by t0 offset within `tolerance_s` (`null` must match `null`), and the byte fields,
/// which are compared as bytes. Missing or extra fields are differences too. Two `null`s
/// match.
pub fn compare_task_info(
    recorded: &Value,
    actual: &Value,
    actual_t0_unix_ns: i64,
    tolerance_s: f64,
) -> Result<(), Mismatches> {
    let subject = format!(
        "TaskInfo {}",
        recorded["id"]
            .as_str()
            .or_else(|| actual["id"].as_str())
            .unwrap_or("?")
    );
    let mut items = Vec::new();
    let mut push = |path: &str, detail: String| {
        items.push(Mismatch {
            subject: subject.clone(),
            path: path.to_owned(),
            detail,
        });
    };
    let empty = Map::new();
    match (recorded, actual) {
        (Value::Null, Value::Null) => return Ok(()),
        (Value::Null, a) => push("", format!("expected null (no TaskInfo), actual {a}")),
        (r, Value::Null) => push("", format!("expected a TaskInfo, actual null ({r})")),
        (r, a) if !r.is_object() || !a.is_object() => {
            push("", format!("expected {r}, actual {a}"));
        }
        _ => {}
    }
    let rec = recorded.as_object().unwrap_or(&empty);
    let act = actual.as_object().unwrap_or(&empty);
    for (name, rv) in rec {
        let Some(av) = act.get(name) else {
            push(name, format!("missing field (expected {rv})"));
            continue;
        };
        if TASK_INFO_TIME_FIELDS.contains(&name.as_str()) {
            match (
                time_offset(rv, None),
                time_offset(av, Some(actual_t0_unix_ns)),
            ) {
                (Ok(e), Ok(a)) => {
                    let ok = match (e, a) {
                        (None, None) => true,
                        (Some(e), Some(a)) => (e - a).abs() <= tolerance_s + 1e-9,
                        _ => false,
                    };
                    if !ok {
                        push(
                            name,
                            format!(
                                "expected {}{}, actual {}",
                                show_time(e, rv),
                                if e.is_some() {
                                    format!(" (±{tolerance_s} s)")
                                } else {
                                    String::new()
                                },
                                show_time(a, av)
                            ),
                        );
                    }
                }
                (Err(e), _) => push(name, format!("bad recorded value: {e}")),
                (_, Err(e)) => push(name, format!("bad actual value: {e}")),
            }
        } else if TASK_INFO_BYTES_FIELDS.contains(&name.as_str()) {
            match (bv_bytes(rv), bv_bytes(av)) {
                (Ok(e), Ok(a)) => {
                    if e != a {
                        push(
                            name,
                            format!(
                                "expected {}, actual {}",
                                show_opt_bytes(&e),
                                show_opt_bytes(&a)
                            ),
                        );
                    }
                }
                (Err(e), _) => push(name, format!("bad recorded value: {e}")),
                (_, Err(e)) => push(name, format!("bad actual value: {e}")),
            }
        } else if rv != av {
            push(name, format!("expected {rv}, actual {av}"));
        }
    }
    for (name, av) in act {
        if !rec.contains_key(name) {
            push(name, format!("unexpected field (value {av})"));
        }
    }
    if items.is_empty() {
        Ok(())
    } else {
        Err(Mismatches {
            context: subject.clone(),
            items,
            notes: vec![format!(
                "actual t0 = {actual_t0_unix_ns} ns, tolerance ±{tolerance_s} s"
            )],
        })
    }
}
