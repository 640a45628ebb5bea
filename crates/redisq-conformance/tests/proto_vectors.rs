//! The generic protobuf decoder/encoder against `proto-vectors.json` and against every
//! protobuf value recorded in the scenarios.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use redisq_conformance::{Scenario, Schema, conformance_dir, decode_message};
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vectors() -> Value {
    let path = conformance_dir().join("proto-vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("proto-vectors.json")).expect("json")
}

#[test]
fn schema_has_the_five_messages() {
    let names: Vec<&str> = Schema::asynq().message_names().collect();
    assert_eq!(
        names,
        [
            "asynq.SchedulerEnqueueEvent",
            "asynq.SchedulerEntry",
            "asynq.ServerInfo",
            "asynq.TaskMessage",
            "asynq.WorkerInfo"
        ]
    );
}

#[test]
fn every_vector_decodes_to_its_fields_and_encodes_to_its_hex() {
    let v = vectors();
    let schema = Schema::from_json(&v["schema"]).expect("schema");
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 25);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let message = case["message"].as_str().unwrap();
        let bytes = hex(case["hex"].as_str().unwrap());
        assert_eq!(
            bytes.len() as u64,
            case["encoded_len"].as_u64().unwrap(),
            "{name}"
        );
        let expected = schema
            .fields_from_json(message, &case["fields"])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let decoded = schema
            .decode(message, &bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(decoded.unknown_fields.is_empty(), "{name}");
        assert_eq!(decoded.fields, expected, "{name}: decoded fields");
        let encoded = schema
            .encode(message, &expected)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(encoded, bytes, "{name}: encoding");
    }
}

#[test]
fn every_recorded_protobuf_value_decodes_and_reencodes() {
    let schema = Schema::asynq();
    let mut count = 0;
    for name in Scenario::names() {
        let scenario = Scenario::load(&name);
        for step in scenario.steps() {
            let mut bvs = Vec::new();
            for kd in step.dump_json()["keys"].as_object().unwrap().values() {
                collect_bvs(&kd["value"], &mut bvs);
            }
            for bv in bvs {
                let Some(proto) = bv.get("proto") else {
                    continue;
                };
                count += 1;
                let message = proto["message"].as_str().unwrap();
                let raw = B64.decode(bv["b64"].as_str().unwrap()).unwrap();
                let expected = schema.fields_from_json(message, &proto["fields"]).unwrap();
                let decoded = decode_message(message, &raw).unwrap();
                assert_eq!(decoded.fields, expected, "{name}/{}", step.name());
                assert_eq!(proto["reencode_identical"], Value::Bool(true));
                assert_eq!(
                    schema.encode(message, &expected).unwrap(),
                    raw,
                    "{name}/{}: re-encoding",
                    step.name()
                );
            }
        }
    }
    assert_eq!(count, 114, "README: 114 protobuf values in the data");
}

fn collect_bvs<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(o) if o.contains_key("b64") => out.push(v),
        Value::Object(o) => o.values().for_each(|x| collect_bvs(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_bvs(x, out)),
        _ => {}
    }
}
