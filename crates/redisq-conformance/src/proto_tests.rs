//! Tests of the schema-driven protobuf codec.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn varints() {
    for v in [
        0u64,
        1,
        127,
        128,
        300,
        u64::from(u32::MAX),
        u64::MAX,
        1 << 63,
    ] {
        let mut out = Vec::new();
        put_varint(v, &mut out);
        assert!(out.len() <= 10);
        let mut r = Reader::new(&out);
        assert_eq!(r.varint().unwrap(), v);
        assert!(r.done());
    }
    assert!(Reader::new(&[0xff; 11]).varint().is_err());
    assert!(Reader::new(&[0x80]).varint().is_err());
    assert!(
        Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])
            .varint()
            .is_err()
    );
}

#[test]
fn negative_int32_is_ten_bytes() {
    let schema = Schema::asynq();
    let mut fields = BTreeMap::new();
    fields.insert("retry".to_owned(), ProtoValue::Int(-1));
    let bytes = schema.encode(TASK_MESSAGE, &fields).unwrap();
    assert_eq!(bytes, hex("28ffffffffffffffffff01"));
    let decoded = schema.decode(TASK_MESSAGE, &bytes).unwrap();
    assert_eq!(decoded.get("retry"), &ProtoValue::Int(-1));
}

#[test]
fn absent_vs_epoch_vs_go_zero_timestamp() {
    let schema = Schema::asynq();
    let absent = schema.decode(SERVER_INFO, &[]).unwrap();
    assert_eq!(absent.get("start_time"), &ProtoValue::Timestamp(None));
    let epoch = schema.decode(SERVER_INFO, &hex("4200")).unwrap();
    assert_eq!(
        epoch.get("start_time"),
        &ProtoValue::Timestamp(Some(Timestamp {
            seconds: 0,
            nanos: 0
        }))
    );
    let zero = schema
        .decode(SERVER_INFO, &hex("420b088092b8c398feffffff01"))
        .unwrap();
    assert_eq!(
        zero.get("start_time"),
        &ProtoValue::Timestamp(Some(Timestamp::GO_ZERO))
    );
}

#[test]
fn errors_and_unknown_fields() {
    let schema = Schema::asynq();
    // truncated string
    assert!(schema.decode(TASK_MESSAGE, &hex("0a0574")).is_err());
    // wrong wire type for `retry`
    assert!(schema.decode(TASK_MESSAGE, &hex("2a0101")).is_err());
    // invalid UTF-8 in a string
    assert!(schema.decode(TASK_MESSAGE, &hex("0a01ff")).is_err());
    // unknown field 99 (varint) is skipped and reported
    let d = schema.decode(TASK_MESSAGE, &hex("980601")).unwrap();
    assert_eq!(d.unknown_fields, vec![99]);
    assert!(schema.decode("asynq.Nope", &[]).is_err());
}

#[test]
fn map_entries_missing_key_or_value_decode_as_defaults() {
    let schema = Schema::asynq();
    // prost-style `{"k": ""}` without the empty value
    let d = schema.decode(TASK_MESSAGE, &hex("7a030a016b")).unwrap();
    let mut expected = BTreeMap::new();
    expected.insert(
        ProtoValue::String("k".into()),
        ProtoValue::String(String::new()),
    );
    assert_eq!(d.get("headers"), &ProtoValue::Map(expected));
}
