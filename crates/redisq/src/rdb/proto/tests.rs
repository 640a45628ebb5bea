//! Tests of the codec against the golden vectors Go produced, plus edge cases.

use std::fmt::Debug;
use std::path::PathBuf;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::*;

/// Number of cases in `proto-vectors.json`; the test fails if fewer were checked.
const EXPECTED_CASES: usize = 25;

fn vectors_path() -> PathBuf {
    // The shared conformance folder sits beside the repository checkout.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/proto-vectors.json")
}

fn load_vectors() -> Value {
    let path = vectors_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("parse {}: {err}", path.display()))
}

fn as_string(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_owned()
}

fn as_bytes(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(
            value
                .as_str()
                .unwrap_or_else(|| panic!("expected base64, got {value}")),
        )
        .unwrap_or_else(|err| panic!("invalid base64 {value}: {err}"))
}

fn as_i64(value: &Value) -> i64 {
    value
        .as_i64()
        .unwrap_or_else(|| panic!("expected an int64, got {value}"))
}

fn as_i32(value: &Value) -> i32 {
    i32::try_from(as_i64(value)).unwrap_or_else(|_| panic!("expected an int32, got {value}"))
}

fn as_bool(value: &Value) -> bool {
    value
        .as_bool()
        .unwrap_or_else(|| panic!("expected a bool, got {value}"))
}

fn as_timestamp(value: &Value) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: as_i64(&value["seconds"]),
        nanos: as_i32(&value["nanos"]),
    })
}

fn as_string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("expected a list, got {value}"))
        .iter()
        .map(as_string)
        .collect()
}

fn as_map<V>(value: &Value, convert: impl Fn(&Value) -> V) -> BTreeMap<String, V> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected an object, got {value}"))
        .iter()
        .map(|(k, v)| (k.clone(), convert(v)))
        .collect()
}

fn build_task_message(fields: &Map<String, Value>) -> TaskMessage {
    let mut msg = TaskMessage::default();
    for (name, value) in fields {
        match name.as_str() {
            "type" => msg.r#type = as_string(value),
            "payload" => msg.payload = as_bytes(value).into(),
            "id" => msg.id = as_string(value),
            "queue" => msg.queue = as_string(value),
            "retry" => msg.retry = as_i32(value),
            "retried" => msg.retried = as_i32(value),
            "error_msg" => msg.error_msg = as_string(value),
            "timeout" => msg.timeout = as_i64(value),
            "deadline" => msg.deadline = as_i64(value),
            "unique_key" => msg.unique_key = as_string(value),
            "last_failed_at" => msg.last_failed_at = as_i64(value),
            "retention" => msg.retention = as_i64(value),
            "completed_at" => msg.completed_at = as_i64(value),
            "group_key" => msg.group_key = as_string(value),
            "headers" => msg.headers = as_map(value, as_string),
            other => panic!("unknown TaskMessage field {other:?}"),
        }
    }
    msg
}

fn build_server_info(fields: &Map<String, Value>) -> ServerInfo {
    let mut msg = ServerInfo::default();
    for (name, value) in fields {
        match name.as_str() {
            "host" => msg.host = as_string(value),
            "pid" => msg.pid = as_i32(value),
            "server_id" => msg.server_id = as_string(value),
            "concurrency" => msg.concurrency = as_i32(value),
            "queues" => msg.queues = as_map(value, as_i32),
            "strict_priority" => msg.strict_priority = as_bool(value),
            "status" => msg.status = as_string(value),
            "start_time" => msg.start_time = as_timestamp(value),
            "active_worker_count" => msg.active_worker_count = as_i32(value),
            other => panic!("unknown ServerInfo field {other:?}"),
        }
    }
    msg
}

fn build_worker_info(fields: &Map<String, Value>) -> WorkerInfo {
    let mut msg = WorkerInfo::default();
    for (name, value) in fields {
        match name.as_str() {
            "host" => msg.host = as_string(value),
            "pid" => msg.pid = as_i32(value),
            "server_id" => msg.server_id = as_string(value),
            "task_id" => msg.task_id = as_string(value),
            "task_type" => msg.task_type = as_string(value),
            "task_payload" => msg.task_payload = as_bytes(value).into(),
            "queue" => msg.queue = as_string(value),
            "start_time" => msg.start_time = as_timestamp(value),
            "deadline" => msg.deadline = as_timestamp(value),
            other => panic!("unknown WorkerInfo field {other:?}"),
        }
    }
    msg
}

fn build_scheduler_entry(fields: &Map<String, Value>) -> SchedulerEntry {
    let mut msg = SchedulerEntry::default();
    for (name, value) in fields {
        match name.as_str() {
            "id" => msg.id = as_string(value),
            "spec" => msg.spec = as_string(value),
            "task_type" => msg.task_type = as_string(value),
            "task_payload" => msg.task_payload = as_bytes(value).into(),
            "enqueue_options" => msg.enqueue_options = as_string_list(value),
            "next_enqueue_time" => msg.next_enqueue_time = as_timestamp(value),
            "prev_enqueue_time" => msg.prev_enqueue_time = as_timestamp(value),
            other => panic!("unknown SchedulerEntry field {other:?}"),
        }
    }
    msg
}

fn build_scheduler_enqueue_event(fields: &Map<String, Value>) -> SchedulerEnqueueEvent {
    let mut msg = SchedulerEnqueueEvent::default();
    for (name, value) in fields {
        match name.as_str() {
            "task_id" => msg.task_id = as_string(value),
            "enqueue_time" => msg.enqueue_time = as_timestamp(value),
            other => panic!("unknown SchedulerEnqueueEvent field {other:?}"),
        }
    }
    msg
}

/// Encodes `built` and compares with Go's bytes, then decodes Go's bytes and compares with
/// `built`.
fn check_case<M: PartialEq + Debug>(
    case: &Value,
    built: &M,
    encode: fn(&M) -> Vec<u8>,
    decode: fn(&[u8]) -> Result<M>,
) {
    let name = case["name"].as_str().expect("case name");
    let go_hex = case["hex"].as_str().expect("case hex");
    let go_bytes = hex::decode(go_hex).unwrap_or_else(|err| panic!("{name}: bad hex: {err}"));
    if let Some(len) = case["encoded_len"].as_u64() {
        assert_eq!(
            go_bytes.len() as u64,
            len,
            "{name}: hex length vs encoded_len"
        );
    }

    let encoded = encode(built);
    assert_eq!(
        hex::encode(&encoded),
        go_hex,
        "{name}: encoding of {built:?} differs from Go's bytes"
    );

    let decoded = decode(&go_bytes).unwrap_or_else(|err| panic!("{name}: decode failed: {err}"));
    assert_eq!(&decoded, built, "{name}: decoding Go's bytes");
}

/// Every timestamp in the vectors survives `timestamp_to` then `timestamp_from`, and only Go's
/// zero time maps to `None`.
fn check_timestamps(name: &str, fields: &Map<String, Value>) {
    for (field, value) in fields {
        let Some(obj) = value.as_object() else {
            continue;
        };
        if !obj.contains_key("seconds") {
            continue;
        }
        let timestamp = as_timestamp(value).expect("timestamp");
        let is_go_zero = as_bool(&value["is_go_zero_time"]);
        let time = timestamp_to(Some(&timestamp));
        assert_eq!(time.is_none(), is_go_zero, "{name}.{field}: {timestamp:?}");
        assert_eq!(
            timestamp_from(time),
            timestamp,
            "{name}.{field}: round trip through SystemTime"
        );
    }
}

#[test]
fn golden_vectors() {
    let vectors = load_vectors();
    let cases = vectors["cases"].as_array().expect("`cases` array");
    let mut checked = 0;
    for case in cases {
        let name = case["name"].as_str().expect("case name");
        let fields = case["fields"]
            .as_object()
            .unwrap_or_else(|| panic!("{name}: `fields` object"));
        match case["message"].as_str().expect("case message") {
            "asynq.TaskMessage" => check_case(
                case,
                &build_task_message(fields),
                encode_task_message,
                decode_task_message,
            ),
            "asynq.ServerInfo" => check_case(
                case,
                &build_server_info(fields),
                encode_server_info,
                decode_server_info,
            ),
            "asynq.WorkerInfo" => check_case(
                case,
                &build_worker_info(fields),
                encode_worker_info,
                decode_worker_info,
            ),
            "asynq.SchedulerEntry" => check_case(
                case,
                &build_scheduler_entry(fields),
                encode_scheduler_entry,
                decode_scheduler_entry,
            ),
            "asynq.SchedulerEnqueueEvent" => check_case(
                case,
                &build_scheduler_enqueue_event(fields),
                encode_scheduler_enqueue_event,
                decode_scheduler_enqueue_event,
            ),
            other => panic!("{name}: unknown message type {other:?}"),
        }
        check_timestamps(name, fields);
        checked += 1;
    }
    assert_eq!(
        checked,
        EXPECTED_CASES,
        "expected {EXPECTED_CASES} vector cases in {}",
        vectors_path().display()
    );
}

/// Field numbers and types of the generated messages match the schema asynq was compiled with.
#[test]
fn schema_matches_vectors() {
    let vectors = load_vectors();
    let schema = vectors["schema"].as_object().expect("`schema` object");
    let proto = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("proto/asynq.proto"),
    )
    .expect("read proto/asynq.proto");
    let proto: String = proto
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_eq!(schema.len(), 5, "five messages in the schema");
    for (message, fields) in schema {
        let short = message.strip_prefix("asynq.").expect("asynq package");
        let start = proto
            .find(&format!("message {short} {{"))
            .unwrap_or_else(|| panic!("message {short} missing from asynq.proto"));
        let body = &proto[start..start + proto[start..].find('}').expect("message end")];
        let declared = body.lines().filter(|line| line.contains('=')).count();
        let fields = fields.as_array().expect("fields");
        assert_eq!(declared, fields.len(), "{short}: number of fields");
        for field in fields {
            let ty = field["type"].as_str().expect("type");
            let ty = ty.replace("map<string,", "map<string, ");
            let line = format!(
                "{ty} {} = {};",
                field["name"].as_str().expect("name"),
                field["number"]
            );
            assert!(
                body.lines().any(|l| l.trim() == line),
                "{short}: `{line}` missing"
            );
        }
    }
}

#[test]
fn task_headers_with_several_entries_are_sorted_and_go_style() {
    let msg = TaskMessage {
        r#type: "h".to_owned(),
        headers: BTreeMap::from([
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), String::new()),
            (String::new(), "x".to_owned()),
        ]),
        ..TaskMessage::default()
    };
    let encoded = encode_task_message(&msg);
    let expected = [
        "0a0168",           // type = "h"
        "7a050a00120178",   // "" => "x"
        "7a050a01611200",   // "a" => ""
        "7a060a0162120132", // "b" => "2"
    ]
    .concat();
    assert_eq!(hex::encode(&encoded), expected);
    assert_eq!(decode_task_message(&encoded).expect("decode"), msg);
    // prost's own (default-skipping) bytes decode to the same message.
    assert_eq!(
        decode_task_message(&msg.encode_to_vec()).expect("decode"),
        msg
    );
}

#[test]
fn task_header_long_value_uses_multibyte_lengths() {
    let value = "v".repeat(200);
    let msg = TaskMessage {
        headers: BTreeMap::from([("k".to_owned(), value.clone())]),
        ..TaskMessage::default()
    };
    let encoded = encode_task_message(&msg);
    // entry: 0a 01 6b (3) + 12 c8 01 + 200 bytes (203) = 206 = ce 01
    let mut expected = hex::decode("7ace010a016b12c801").expect("hex");
    expected.extend_from_slice(value.as_bytes());
    assert_eq!(encoded, expected);
    assert_eq!(
        encoded,
        msg.encode_to_vec(),
        "no empty parts: same as prost"
    );
    assert_eq!(decode_task_message(&encoded).expect("decode"), msg);
}

#[test]
fn server_queues_are_written_go_style() {
    let msg = ServerInfo {
        host: "h".to_owned(),
        queues: BTreeMap::from([
            ("q".to_owned(), 0),
            (String::new(), -1),
            ("z".to_owned(), 300),
        ]),
        status: "active".to_owned(),
        ..ServerInfo::default()
    };
    let encoded = encode_server_info(&msg);
    let expected = [
        "0a0168",                         // host = "h"
        "2a0d0a0010ffffffffffffffffff01", // "" => -1 (10-byte varint)
        "2a050a01711000",                 // "q" => 0
        "2a060a017a10ac02",               // "z" => 300
        "3a06616374697665",               // status = "active"
    ]
    .concat();
    assert_eq!(hex::encode(&encoded), expected);
    assert_eq!(decode_server_info(&encoded).expect("decode"), msg);
}

#[test]
fn varint_len_matches_put_varint() {
    for value in [
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        u64::from(u32::MAX),
        u64::MAX >> 1,
        u64::MAX,
    ] {
        let mut buf = Vec::new();
        put_varint(&mut buf, value);
        assert_eq!(buf.len(), varint_len(value), "{value}");
    }
}

#[test]
fn corrupt_bytes_give_a_corrupt_data_error() {
    // Field 1 claims 5 bytes but only 1 follows.
    let err = decode_task_message(&[0x0a, 0x05, b'a']).expect_err("truncated message");
    assert!(err.is_corrupt_data(), "{err:?}");
    assert!(err.to_string().starts_with("invalid task message"), "{err}");
    let err = decode_server_info(&[0xff]).expect_err("bad key");
    assert!(err.is_corrupt_data(), "{err:?}");
}

#[test]
fn timestamps() {
    let second = Duration::from_secs(1);
    let half = Duration::from_millis(500);

    // Unset <-> Go's zero time.
    assert_eq!(timestamp_from(None), go_zero_timestamp());
    assert_eq!(go_zero_timestamp().seconds, -62_135_596_800);
    assert_eq!(timestamp_to(None), None);
    assert_eq!(timestamp_to(Some(&go_zero_timestamp())), None);
    // The same instant with unnormalised nanos is still Go's zero time.
    let odd_zero = Timestamp {
        seconds: GO_ZERO_TIME_SECONDS - 1,
        nanos: 1_000_000_000,
    };
    assert_eq!(timestamp_to(Some(&odd_zero)), None);
    // One nanosecond later is a real time.
    let after_zero = Timestamp {
        seconds: GO_ZERO_TIME_SECONDS,
        nanos: 1,
    };
    assert_eq!(timestamp_from(timestamp_to(Some(&after_zero))), after_zero);

    // The epoch is a real time, encoded as an empty (but present) timestamp.
    let epoch = Timestamp::default();
    assert_eq!(timestamp_to(Some(&epoch)), Some(UNIX_EPOCH));
    assert_eq!(timestamp_from(Some(UNIX_EPOCH)), epoch);

    // After the epoch.
    let t = UNIX_EPOCH + Duration::new(1_704_164_645, 123_456_789);
    let ts = Timestamp {
        seconds: 1_704_164_645,
        nanos: 123_456_789,
    };
    assert_eq!(timestamp_from(Some(t)), ts);
    assert_eq!(timestamp_to(Some(&ts)), Some(t));

    // Before the epoch: negative seconds, positive nanos.
    let ts = Timestamp {
        seconds: -1,
        nanos: 500_000_000,
    };
    assert_eq!(timestamp_from(Some(UNIX_EPOCH - half)), ts);
    assert_eq!(timestamp_to(Some(&ts)), Some(UNIX_EPOCH - half));
    let ts = Timestamp {
        seconds: -2,
        nanos: 0,
    };
    assert_eq!(timestamp_from(Some(UNIX_EPOCH - 2 * second)), ts);
    assert_eq!(timestamp_to(Some(&ts)), Some(UNIX_EPOCH - 2 * second));

    // Unnormalised nanos are normalised like Go's time.Unix.
    let ts = Timestamp {
        seconds: 0,
        nanos: 1_500_000_000,
    };
    assert_eq!(timestamp_to(Some(&ts)), Some(UNIX_EPOCH + second + half));
    let ts = Timestamp {
        seconds: 0,
        nanos: -500_000_000,
    };
    assert_eq!(timestamp_to(Some(&ts)), Some(UNIX_EPOCH - half));
}
