//! Property tests of the codec: decoding arbitrary bytes never panics, every message
//! round-trips through encode → decode, and the encoders keep Go's layout (fields in number
//! order, map entries with both key and value).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;

use super::*;

/// The default number of cases, and no `proptest-regressions/` files: a failure found here
/// becomes a named regression test in this file instead.
fn config() -> Config {
    Config {
        failure_persistence: None,
        ..Config::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Any string, control characters, NUL and non-ASCII included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => vec(any::<char>(), 0..24).prop_map(String::from_iter),
        1 => "[a-z:{} ]{0,6}",
        1 => Just(String::new()),
    ]
}

/// Payload bytes: empty, short, or long enough for multi-byte lengths.
fn payload() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(Vec::new()),
        vec(any::<u8>(), 0..64),
        vec(any::<u8>(), 100..400),
    ]
    .prop_map(Bytes::from)
}

/// Integers biased towards the boundaries (0, ±1, MIN, MAX).
fn int32() -> impl Strategy<Value = i32> {
    prop_oneof![
        any::<i32>(),
        prop::sample::select(vec![0, 1, -1, i32::MIN, i32::MAX])
    ]
}

fn int64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        prop::sample::select(vec![0, 1, -1, i64::MIN, i64::MAX, GO_ZERO_TIME_SECONDS])
    ]
}

/// Any timestamp, also ones with out-of-range nanos (the codec must carry them as they are).
fn timestamp() -> impl Strategy<Value = Option<Timestamp>> {
    prop::option::of(
        prop_oneof![
            (int64(), int32()),
            (int64(), 0..1_000_000_000i32),
            Just((GO_ZERO_TIME_SECONDS, 0)),
        ]
        .prop_map(|(seconds, nanos)| Timestamp { seconds, nanos }),
    )
}

fn task_message() -> impl Strategy<Value = TaskMessage> {
    (
        (text(), payload(), text(), text(), int32(), int32(), text()),
        (int64(), int64(), text(), int64(), int64(), int64(), text()),
        btree_map(text(), text(), 0..5),
    )
        .prop_map(
            |(
                (r#type, payload, id, queue, retry, retried, error_msg),
                (timeout, deadline, unique_key, last_failed_at, retention, completed_at, group_key),
                headers,
            )| TaskMessage {
                r#type,
                payload,
                id,
                queue,
                retry,
                retried,
                error_msg,
                timeout,
                deadline,
                unique_key,
                last_failed_at,
                retention,
                completed_at,
                group_key,
                headers,
            },
        )
}

fn server_info() -> impl Strategy<Value = ServerInfo> {
    (
        (text(), int32(), text(), int32()),
        btree_map(text(), int32(), 0..5),
        (any::<bool>(), text(), timestamp(), int32()),
    )
        .prop_map(
            |(
                (host, pid, server_id, concurrency),
                queues,
                (strict_priority, status, start_time, active_worker_count),
            )| ServerInfo {
                host,
                pid,
                server_id,
                concurrency,
                queues,
                strict_priority,
                status,
                start_time,
                active_worker_count,
            },
        )
}

fn worker_info() -> impl Strategy<Value = WorkerInfo> {
    (
        (text(), int32(), text(), text(), text()),
        (payload(), text(), timestamp(), timestamp()),
    )
        .prop_map(
            |(
                (host, pid, server_id, task_id, task_type),
                (task_payload, queue, start, deadline),
            )| {
                WorkerInfo {
                    host,
                    pid,
                    server_id,
                    task_id,
                    task_type,
                    task_payload,
                    queue,
                    start_time: start,
                    deadline,
                }
            },
        )
}

fn scheduler_entry() -> impl Strategy<Value = SchedulerEntry> {
    (
        (text(), text(), text(), payload()),
        (vec(text(), 0..5), timestamp(), timestamp()),
    )
        .prop_map(
            |((id, spec, task_type, task_payload), (enqueue_options, next, prev))| SchedulerEntry {
                id,
                spec,
                task_type,
                task_payload,
                enqueue_options,
                next_enqueue_time: next,
                prev_enqueue_time: prev,
            },
        )
}

fn scheduler_enqueue_event() -> impl Strategy<Value = SchedulerEnqueueEvent> {
    (text(), timestamp()).prop_map(|(task_id, enqueue_time)| SchedulerEnqueueEvent {
        task_id,
        enqueue_time,
    })
}

/// One protobuf field as written on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wire {
    Varint(u64),
    Fixed64(u64),
    Len(Vec<u8>),
    Fixed32(u32),
}

/// Writes fields as protobuf does; the test's own writer, independent of the codec's.
fn write_fields(fields: &[(u32, Wire)]) -> Vec<u8> {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut out = Vec::new();
    for (field, value) in fields {
        let wire_type = match value {
            Wire::Varint(_) => 0,
            Wire::Fixed64(_) => 1,
            Wire::Len(_) => 2,
            Wire::Fixed32(_) => 5,
        };
        varint(&mut out, (u64::from(*field) << 3) | wire_type);
        match value {
            Wire::Varint(v) => varint(&mut out, *v),
            Wire::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Wire::Len(b) => {
                varint(&mut out, b.len() as u64);
                out.extend_from_slice(b);
            }
            Wire::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// Reads the top-level fields of well-formed protobuf bytes; `None` when malformed.
fn read_fields(mut buf: &[u8]) -> Option<Vec<(u32, Wire)>> {
    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            out |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(out);
            }
        }
        None
    }
    fn take<'a>(buf: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        if buf.len() < n {
            return None;
        }
        let (head, rest) = buf.split_at(n);
        *buf = rest;
        Some(head)
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let field = u32::try_from(key >> 3).ok()?;
        let value = match key & 7 {
            0 => Wire::Varint(varint(&mut buf)?),
            1 => Wire::Fixed64(u64::from_le_bytes(take(&mut buf, 8)?.try_into().ok()?)),
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                Wire::Len(take(&mut buf, len)?.to_vec())
            }
            5 => Wire::Fixed32(u32::from_le_bytes(take(&mut buf, 4)?.try_into().ok()?)),
            _ => return None,
        };
        out.push((field, value));
    }
    Some(out)
}

/// Well-formed fields with field numbers around those of the messages (known and unknown
/// numbers, right and wrong wire types), so decoding gets past the framing.
fn wire_fields() -> impl Strategy<Value = Vec<(u32, Wire)>> {
    let value = prop_oneof![
        any::<u64>().prop_map(Wire::Varint),
        any::<u64>().prop_map(Wire::Fixed64),
        any::<u32>().prop_map(Wire::Fixed32),
        vec(any::<u8>(), 0..32).prop_map(Wire::Len),
        // Nested messages: map entries and timestamps.
        vec((1u32..4, any::<u64>().prop_map(Wire::Varint)), 0..3)
            .prop_map(|f| Wire::Len(write_fields(&f))),
        vec((1u32..4, vec(any::<u8>(), 0..8).prop_map(Wire::Len)), 0..3)
            .prop_map(|f| Wire::Len(write_fields(&f))),
    ];
    vec((1u32..20, value), 0..12)
}

/// Arbitrary bytes, well-formed fields, and well-formed fields with a few bytes flipped or
/// cut off.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..256),
        wire_fields().prop_map(|f| write_fields(&f)),
        (wire_fields(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(f, at, b)| {
            let mut bytes = write_fields(&f);
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] ^= b;
            }
            bytes
        }),
        (wire_fields(), any::<prop::sample::Index>()).prop_map(|(f, at)| {
            let mut bytes = write_fields(&f);
            bytes.truncate(at.index(bytes.len() + 1));
            bytes
        }),
    ]
}

// ---------------------------------------------------------------------------------------------
// Layout checks

/// The field numbers of encoded bytes are non-decreasing (Go writes fields in number order).
fn assert_field_order(bytes: &[u8]) -> Result<Vec<(u32, Wire)>, TestCaseError> {
    let fields = read_fields(bytes).ok_or_else(|| TestCaseError::fail("malformed encoding"))?;
    for pair in fields.windows(2) {
        prop_assert!(
            pair[0].0 <= pair[1].0,
            "field {} written after field {}",
            pair[1].0,
            pair[0].0
        );
    }
    Ok(fields)
}

/// Every map entry of field `map_field` holds exactly a key (field 1, bytes) and a value
/// (field 2, of `value_is_len` type), both written even when empty or zero, as Go does.
fn assert_go_map_entries(
    fields: &[(u32, Wire)],
    map_field: u32,
    value_is_len: bool,
    expected_entries: usize,
) -> Result<(), TestCaseError> {
    let mut entries = 0;
    for (field, value) in fields {
        if *field != map_field {
            continue;
        }
        entries += 1;
        let Wire::Len(entry) = value else {
            return Err(TestCaseError::fail("map entry is not length-delimited"));
        };
        let inner = read_fields(entry).ok_or_else(|| TestCaseError::fail("malformed entry"))?;
        prop_assert_eq!(inner.len(), 2, "entry {:?}", inner);
        prop_assert!(matches!(inner[0], (1, Wire::Len(_))), "key {:?}", inner[0]);
        if value_is_len {
            prop_assert!(
                matches!(inner[1], (2, Wire::Len(_))),
                "value {:?}",
                inner[1]
            );
        } else {
            prop_assert!(
                matches!(inner[1], (2, Wire::Varint(_))),
                "value {:?}",
                inner[1]
            );
        }
    }
    prop_assert_eq!(entries, expected_entries);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(config())]

    /// Decoding arbitrary bytes gives a message or an error, never a panic, and what decodes
    /// re-encodes to bytes that decode to the same message.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in garbage()) {
        if let Ok(m) = decode_task_message(&bytes) {
            prop_assert_eq!(&decode_task_message(&encode_task_message(&m)).unwrap(), &m);
        }
        let shared = decode_task_message_shared(Bytes::from(bytes.clone()));
        prop_assert_eq!(shared.ok(), decode_task_message(&bytes).ok());
        if let Ok(m) = decode_server_info(&bytes) {
            prop_assert_eq!(&decode_server_info(&encode_server_info(&m)).unwrap(), &m);
        }
        if let Ok(m) = decode_worker_info(&bytes) {
            prop_assert_eq!(&decode_worker_info(&encode_worker_info(&m)).unwrap(), &m);
        }
        if let Ok(m) = decode_scheduler_entry(&bytes) {
            prop_assert_eq!(&decode_scheduler_entry(&encode_scheduler_entry(&m)).unwrap(), &m);
        }
        if let Ok(m) = decode_scheduler_enqueue_event(&bytes) {
            let again = decode_scheduler_enqueue_event(&encode_scheduler_enqueue_event(&m));
            prop_assert_eq!(&again.unwrap(), &m);
        }
    }

    /// A decode error is always a corrupt-data error.
    #[test]
    fn decode_errors_are_corrupt_data(bytes in garbage()) {
        for err in [
            decode_task_message(&bytes).err(),
            decode_server_info(&bytes).err(),
            decode_worker_info(&bytes).err(),
            decode_scheduler_entry(&bytes).err(),
            decode_scheduler_enqueue_event(&bytes).err(),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert!(err.is_corrupt_data(), "{:?}", err);
        }
    }

    /// Task messages round-trip exactly, in Go's layout; with no empty header key or value
    /// the bytes are prost's (which then agrees with Go).
    #[test]
    fn task_messages_round_trip(m in task_message()) {
        let bytes = encode_task_message(&m);
        prop_assert_eq!(&decode_task_message(&bytes).unwrap(), &m);
        prop_assert_eq!(&decode_task_message_shared(Bytes::from(bytes.clone())).unwrap(), &m);
        let fields = assert_field_order(&bytes)?;
        assert_go_map_entries(&fields, TASK_HEADERS_FIELD, true, m.headers.len())?;
        if m.headers.iter().all(|(k, v)| !k.is_empty() && !v.is_empty()) {
            prop_assert_eq!(bytes, m.encode_to_vec());
        }
    }

    /// Server information round-trips exactly, the queues in between fields 4 and 6.
    #[test]
    fn server_info_round_trips(m in server_info()) {
        let bytes = encode_server_info(&m);
        prop_assert_eq!(&decode_server_info(&bytes).unwrap(), &m);
        let fields = assert_field_order(&bytes)?;
        assert_go_map_entries(&fields, SERVER_QUEUES_FIELD, false, m.queues.len())?;
        if m.queues.iter().all(|(k, v)| !k.is_empty() && *v != 0) {
            prop_assert_eq!(bytes, m.encode_to_vec());
        }
    }

    #[test]
    fn worker_info_round_trips(m in worker_info()) {
        let bytes = encode_worker_info(&m);
        prop_assert_eq!(&decode_worker_info(&bytes).unwrap(), &m);
        assert_field_order(&bytes)?;
    }

    #[test]
    fn scheduler_entries_round_trip(m in scheduler_entry()) {
        let bytes = encode_scheduler_entry(&m);
        prop_assert_eq!(&decode_scheduler_entry(&bytes).unwrap(), &m);
        assert_field_order(&bytes)?;
    }

    #[test]
    fn scheduler_enqueue_events_round_trip(m in scheduler_enqueue_event()) {
        let bytes = encode_scheduler_enqueue_event(&m);
        prop_assert_eq!(&decode_scheduler_enqueue_event(&bytes).unwrap(), &m);
        assert_field_order(&bytes)?;
    }

    /// `varint_len` is the length `put_varint` writes.
    #[test]
    fn varint_len_is_the_written_length(v in any::<u64>()) {
        let mut buf = Vec::new();
        put_varint(&mut buf, v);
        prop_assert_eq!(buf.len(), varint_len(v));
        prop_assert_eq!(read_fields(&[&[8u8][..], &buf].concat()), Some(vec![(1, Wire::Varint(v))]));
    }

    /// Times round-trip through timestamps to the nanosecond; the timestamp is normalised
    /// (nanos in 0..1e9) as Go's `Unix()` is.
    #[test]
    fn times_round_trip_through_timestamps(
        secs in -(1i64 << 40)..(1i64 << 40),
        nanos in 0u32..1_000_000_000,
    ) {
        let time = if secs >= 0 {
            UNIX_EPOCH + Duration::new(secs.unsigned_abs(), nanos)
        } else {
            UNIX_EPOCH - Duration::new(secs.unsigned_abs(), 0) + Duration::new(0, nanos)
        };
        let ts = timestamp_from(Some(time));
        prop_assert!((0..1_000_000_000).contains(&ts.nanos), "{:?}", ts);
        prop_assert_eq!(ts.seconds, secs);
        let back = timestamp_to(Some(&ts));
        if (secs, nanos) == (GO_ZERO_TIME_SECONDS, 0) {
            prop_assert_eq!(back, None);
        } else {
            prop_assert_eq!(back, Some(time));
        }
    }

    /// Any timestamp read from Redis converts without panicking; one in range converts back
    /// to the same instant (normalised).
    #[test]
    fn any_timestamp_converts(ts in timestamp()) {
        let time = timestamp_to(ts.as_ref());
        if let (Some(ts), Some(time)) = (ts, time) {
            let again = timestamp_from(Some(time));
            let total = |t: &Timestamp| i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
            prop_assert_eq!(total(&again), total(&ts));
        }
    }
}

#[test]
fn unset_times_are_go_zero() {
    assert_eq!(timestamp_from(None), go_zero_timestamp());
    assert_eq!(timestamp_to(None), None);
    assert_eq!(timestamp_to(Some(&go_zero_timestamp())), None);
    let _: SystemTime = timestamp_to(Some(&Timestamp::default())).expect("the epoch");
}
