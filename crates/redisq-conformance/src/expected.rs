//! The typed, editable form of a recorded dump: what a replay is expected to produce.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::compare::show_bytes;
use crate::normalize::normalize;
use crate::proto::{FieldDef, FieldType, ProtoValue, Schema, TASK_MESSAGE};
use crate::scenario::Step;

/// Fields that are ignored in every protobuf comparison (README §2.4): they hold the hostname,
/// the pid and the random server ID.
pub const IGNORED_PROTO_FIELDS: [&str; 3] = ["host", "pid", "server_id"];

/// The TaskMessage fields that hold unix seconds (0 = unset).
pub const TASK_MESSAGE_TIME_FIELDS: [&str; 3] = ["deadline", "last_failed_at", "completed_at"];

/// The unit of a timestamp-like string value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// Unix seconds (e.g. the value of `asynq:{q}:paused`).
    Seconds,
    /// Unix milliseconds.
    Milliseconds,
    /// Unix nanoseconds (e.g. `pending_since` in task hashes).
    Nanoseconds,
}

impl TimeUnit {
    /// Nanoseconds per unit.
    pub fn nanos(self) -> i128 {
        match self {
            Self::Seconds => 1_000_000_000,
            Self::Milliseconds => 1_000_000,
            Self::Nanoseconds => 1,
        }
    }

    fn from_recorded(s: &str) -> Result<Self, String> {
        match s {
            "s" => Ok(Self::Seconds),
            "ms" => Ok(Self::Milliseconds),
            "ns" => Ok(Self::Nanoseconds),
            other => Err(format!("unknown time unit `{other}`")),
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Seconds => "s",
            Self::Milliseconds => "ms",
            Self::Nanoseconds => "ns",
        }
    }
}

/// The expected value of a protobuf time field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TimeExpectation {
    /// Unset: `0` for TaskMessage `deadline`/`last_failed_at`/`completed_at`, Go's zero time
    /// (seconds −62135596800, nanos 0) for a Timestamp.
    Unset,
    /// A Timestamp that is not present at all (distinct from Go's zero time).
    Absent,
    /// An instant, as seconds relative to t0 (compared within the tolerance).
    At(f64),
}

impl fmt::Display for TimeExpectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unset => write!(f, "unset"),
            Self::Absent => write!(f, "absent"),
            Self::At(x) => write!(f, "t0{x:+.3}s"),
        }
    }
}

/// The expectation for one field of a protobuf message.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedField {
    /// Compared exactly (maps as maps; strings of messages other than TaskMessage after
    /// normalization).
    Value(ProtoValue),
    /// A time field, compared by its t0 offset within the tolerance.
    Time(TimeExpectation),
    /// Not compared.
    Ignored,
}

/// The expectation for a protobuf value (README §2.4 step 3).
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedProto {
    message: String,
    fields: BTreeMap<String, ExpectedField>,
    exact_bytes: Option<Vec<u8>>,
}

fn is_time_field(message: &str, def: &FieldDef) -> bool {
    def.ty == FieldType::Timestamp
        || (message == TASK_MESSAGE && TASK_MESSAGE_TIME_FIELDS.contains(&def.name.as_str()))
}

/// Normalizes the strings inside a protobuf value (used for messages other than TaskMessage,
/// whose IDs are random).
pub(crate) fn normalize_proto_value(v: &ProtoValue, t0_unix_ns: i64) -> ProtoValue {
    match v {
        ProtoValue::String(s) => ProtoValue::String(normalize(s, t0_unix_ns)),
        ProtoValue::Repeated(items) => ProtoValue::Repeated(
            items
                .iter()
                .map(|i| normalize_proto_value(i, t0_unix_ns))
                .collect(),
        ),
        ProtoValue::Map(m) => ProtoValue::Map(
            m.iter()
                .map(|(k, v)| {
                    (
                        normalize_proto_value(k, t0_unix_ns),
                        normalize_proto_value(v, t0_unix_ns),
                    )
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The t0 offset of a time field value, or `Unset` / `Absent`.
pub(crate) fn time_of(value: &ProtoValue, t0_unix_ns: i64) -> Option<TimeExpectation> {
    let offset = |ns: i128| (ns - i128::from(t0_unix_ns)) as f64 / 1e9;
    match value {
        ProtoValue::Int(0) => Some(TimeExpectation::Unset),
        ProtoValue::Int(s) => Some(TimeExpectation::At(offset(i128::from(*s) * 1_000_000_000))),
        ProtoValue::Timestamp(None) => Some(TimeExpectation::Absent),
        ProtoValue::Timestamp(Some(ts)) if ts.is_go_zero() => Some(TimeExpectation::Unset),
        ProtoValue::Timestamp(Some(ts)) => Some(TimeExpectation::At(offset(ts.unix_ns()))),
        _ => None,
    }
}

impl ExpectedProto {
    /// An expectation for `message` with every field at its proto3 default: time fields
    /// `Unset` (Timestamps `Absent`), `host`/`pid`/`server_id` ignored. Panics if the message
    /// is not in the schema.
    pub fn new(message: &str) -> ExpectedProto {
        let schema = Schema::asynq();
        let defs = schema
            .fields(message)
            .unwrap_or_else(|| panic!("unknown protobuf message `{message}`"));
        let fields = defs
            .iter()
            .map(|d| {
                let f = if IGNORED_PROTO_FIELDS.contains(&d.name.as_str()) {
                    ExpectedField::Ignored
                } else if d.ty == FieldType::Timestamp {
                    ExpectedField::Time(TimeExpectation::Absent)
                } else if is_time_field(message, d) {
                    ExpectedField::Time(TimeExpectation::Unset)
                } else {
                    ExpectedField::Value(d.ty.default_value())
                };
                (d.name.clone(), f)
            })
            .collect();
        let mut p = ExpectedProto {
            message: message.to_owned(),
            fields,
            exact_bytes: None,
        };
        p.recompute_exact_bytes();
        p
    }

    /// Builds the expectation from a recorded `proto` object and the recorded raw bytes.
    pub(crate) fn from_recorded(
        proto: &Value,
        raw: &[u8],
        t0_unix_ns: i64,
    ) -> Result<ExpectedProto, String> {
        let schema = Schema::asynq();
        let message = proto["message"]
            .as_str()
            .ok_or("proto without `message`")?
            .to_owned();
        let defs = schema
            .fields(&message)
            .ok_or_else(|| format!("unknown message `{message}`"))?;
        let values = schema
            .fields_from_json(&message, &proto["fields"])
            .map_err(|e| e.to_string())?;
        let offsets = &proto["t0_offsets_s"];
        let mut fields = BTreeMap::new();
        for def in defs {
            let value = &values[&def.name];
            let f = if IGNORED_PROTO_FIELDS.contains(&def.name.as_str()) {
                ExpectedField::Ignored
            } else if is_time_field(&message, def) {
                let computed = time_of(value, t0_unix_ns)
                    .ok_or_else(|| format!("time field `{}` has value {value}", def.name))?;
                let t = match (offsets.get(&def.name), computed) {
                    (Some(Value::Number(n)), TimeExpectation::At(_)) => {
                        TimeExpectation::At(n.as_f64().unwrap_or_default())
                    }
                    (Some(Value::Number(n)), other) => {
                        return Err(format!(
                            "field `{}`: recorded offset {n} but value {other}",
                            def.name
                        ));
                    }
                    (Some(Value::Null) | None, c) => c,
                    (Some(other), _) => {
                        return Err(format!("field `{}`: bad offset {other}", def.name));
                    }
                };
                ExpectedField::Time(t)
            } else if message == TASK_MESSAGE {
                ExpectedField::Value(value.clone())
            } else {
                ExpectedField::Value(normalize_proto_value(value, t0_unix_ns))
            };
            fields.insert(def.name.clone(), f);
        }
        // Go writes map entries in random order, so messages with several entries in a map
        // are compared after decoding only.
        let deterministic = values
            .values()
            .all(|v| !matches!(v, ProtoValue::Map(m) if m.len() > 1));
        let all_times_unset = message == TASK_MESSAGE
            && deterministic
            && TASK_MESSAGE_TIME_FIELDS
                .iter()
                .all(|n| fields.get(*n) == Some(&ExpectedField::Time(TimeExpectation::Unset)));
        Ok(ExpectedProto {
            message,
            fields,
            exact_bytes: all_times_unset.then(|| raw.to_vec()),
        })
    }

    /// The full message name, e.g. `asynq.TaskMessage`.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Every field's expectation, by field name.
    pub fn fields(&self) -> &BTreeMap<String, ExpectedField> {
        &self.fields
    }

    /// The expectation of field `name` (panics if the message has no such field).
    pub fn field(&self, name: &str) -> &ExpectedField {
        self.fields.get(name).unwrap_or_else(|| {
            panic!(
                "`{}` has no field `{name}`; fields: {}",
                self.message,
                self.fields.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    fn field_mut(&mut self, name: &str) -> &mut ExpectedField {
        if !self.fields.contains_key(name) {
            self.field(name); // panics with the list of fields
        }
        self.fields.get_mut(name).expect("checked above")
    }

    /// Expects field `name` to hold exactly `value` (for a time field this replaces the t0
    /// offset comparison by an exact one). Recomputes the exact-bytes expectation.
    pub fn set(&mut self, name: &str, value: ProtoValue) -> &mut Self {
        *self.field_mut(name) = ExpectedField::Value(value);
        self.recompute_exact_bytes();
        self
    }

    /// Expects time field `name` to be `t`. Recomputes the exact-bytes expectation.
    pub fn set_time(&mut self, name: &str, t: TimeExpectation) -> &mut Self {
        *self.field_mut(name) = ExpectedField::Time(t);
        self.recompute_exact_bytes();
        self
    }

    /// Stops comparing field `name` (this also drops the exact-bytes expectation).
    pub fn ignore(&mut self, name: &str) -> &mut Self {
        *self.field_mut(name) = ExpectedField::Ignored;
        self.exact_bytes = None;
        self
    }

    /// The bytes the actual value must equal exactly, if any. Set for TaskMessages whose three
    /// time fields are unset (README §2.4).
    pub fn exact_bytes(&self) -> Option<&[u8]> {
        self.exact_bytes.as_deref()
    }

    /// Overrides the exact-bytes expectation (`None` = compare decoded fields only).
    pub fn set_exact_bytes(&mut self, bytes: Option<Vec<u8>>) -> &mut Self {
        self.exact_bytes = bytes;
        self
    }

    /// For a TaskMessage whose time fields are all unset and whose other fields are all known,
    /// the bytes Go would write (fields in number order, at most one map entry); else `None`.
    fn recompute_exact_bytes(&mut self) {
        self.exact_bytes = None;
        if self.message != TASK_MESSAGE {
            return;
        }
        let mut values = BTreeMap::new();
        for (name, f) in &self.fields {
            let v = match f {
                ExpectedField::Value(v) => v.clone(),
                ExpectedField::Time(TimeExpectation::Unset)
                    if TASK_MESSAGE_TIME_FIELDS.contains(&name.as_str()) =>
                {
                    ProtoValue::Int(0)
                }
                _ => return,
            };
            if matches!(&v, ProtoValue::Map(m) if m.len() > 1) {
                return; // Go's map order is random
            }
            values.insert(name.clone(), v);
        }
        self.exact_bytes = Schema::asynq().encode(&self.message, &values).ok();
    }
}

impl fmt::Display for ExpectedProto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {{", self.message)?;
        let mut first = true;
        for (name, field) in &self.fields {
            let text = match field {
                ExpectedField::Ignored => continue,
                ExpectedField::Value(v) => v.to_string(),
                ExpectedField::Time(t) => t.to_string(),
            };
            write!(f, "{}{name}: {text}", if first { " " } else { ", " })?;
            first = false;
        }
        write!(f, " }}")
    }
}

/// The expectation for one byte value (a string value, hash field value, list element, set
/// member or ZSET member).
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedBytes {
    /// Exactly these bytes.
    Exact(Vec<u8>),
    /// UTF-8 text that, after [`normalize`](crate::normalize) with the actual t0, equals
    /// this.
    Normalized(String),
    /// A decimal integer timestamp, compared by its t0 offset within the tolerance.
    Time {
        /// The unit of the integer.
        unit: TimeUnit,
        /// Expected offset from t0, in seconds.
        t0_offset_s: f64,
    },
    /// A protobuf message, compared after decoding.
    Proto(ExpectedProto),
    /// Any value.
    Any,
}

impl ExpectedBytes {
    /// Exactly the UTF-8 bytes of `text`.
    pub fn text(text: &str) -> ExpectedBytes {
        ExpectedBytes::Exact(text.as_bytes().to_vec())
    }

    /// Exactly `bytes`.
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> ExpectedBytes {
        ExpectedBytes::Exact(bytes.into())
    }

    /// A timestamp string (`unit`) at `t0_offset_s` seconds from t0.
    pub fn time(unit: TimeUnit, t0_offset_s: f64) -> ExpectedBytes {
        ExpectedBytes::Time { unit, t0_offset_s }
    }

    /// The protobuf expectation (panics if this is not a protobuf value).
    pub fn proto_mut(&mut self) -> &mut ExpectedProto {
        match self {
            ExpectedBytes::Proto(p) => p,
            other => panic!("expected a protobuf value, found {other}"),
        }
    }

    /// The protobuf expectation, if this is a protobuf value.
    pub fn proto(&self) -> Option<&ExpectedProto> {
        match self {
            ExpectedBytes::Proto(p) => Some(p),
            _ => None,
        }
    }

    pub(crate) fn from_recorded(bv: &Value, t0_unix_ns: i64) -> Result<ExpectedBytes, String> {
        let b64 = bv["b64"]
            .as_str()
            .ok_or_else(|| format!("byte value without b64: {bv}"))?;
        let raw = B64
            .decode(b64)
            .map_err(|e| format!("bad base64 {b64:?}: {e}"))?;
        if let Some(proto) = bv.get("proto") {
            return ExpectedProto::from_recorded(proto, &raw, t0_unix_ns).map(ExpectedBytes::Proto);
        }
        if let Some(time) = bv.get("time") {
            let unit = TimeUnit::from_recorded(time["unit"].as_str().unwrap_or_default())?;
            let t0_offset_s = time["t0_offset_s"]
                .as_f64()
                .ok_or_else(|| format!("time without t0_offset_s: {bv}"))?;
            return Ok(ExpectedBytes::Time { unit, t0_offset_s });
        }
        if let Some(n) = bv.get("utf8_normalized").and_then(Value::as_str) {
            return Ok(ExpectedBytes::Normalized(n.to_owned()));
        }
        Ok(ExpectedBytes::Exact(raw))
    }
}

impl fmt::Display for ExpectedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(b) => write!(f, "{}", show_bytes(b)),
            Self::Normalized(s) => write!(f, "{s:?} (normalized)"),
            Self::Time { unit, t0_offset_s } => {
                write!(f, "<unix {} at t0{t0_offset_s:+.3}s>", unit.suffix())
            }
            Self::Proto(p) => write!(f, "<{p}>"),
            Self::Any => write!(f, "<any value>"),
        }
    }
}

/// One expected ZSET entry.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedZMember {
    /// The member.
    pub member: ExpectedBytes,
    /// The score as an offset from t0 in seconds (all asynq scores are unix seconds).
    pub score_t0_offset_s: f64,
}

/// The expected value of a key, by Redis type.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedValue {
    /// A string.
    String(ExpectedBytes),
    /// A hash: field name → value.
    Hash(BTreeMap<String, ExpectedBytes>),
    /// A list in `LRANGE 0 -1` order.
    List(Vec<ExpectedBytes>),
    /// A set (compared as a set).
    Set(Vec<ExpectedBytes>),
    /// A sorted set in ascending score order.
    ZSet(Vec<ExpectedZMember>),
}

impl ExpectedValue {
    /// The Redis type name: `string`, `hash`, `list`, `set` or `zset`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::String(_) => "string",
            Self::Hash(_) => "hash",
            Self::List(_) => "list",
            Self::Set(_) => "set",
            Self::ZSet(_) => "zset",
        }
    }
}

/// The expected TTL of a key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ExpectedTtl {
    /// No TTL (PTTL −1).
    None,
    /// A TTL of about this many seconds (within the tolerance; daily counters also accept
    /// 90 days minus the time elapsed since t0).
    Seconds(f64),
    /// Some TTL, any value.
    Any,
}

/// The expectation for one key.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedKey {
    /// The normalized key name (`key_normalized`).
    pub key: String,
    /// The raw key name of the recording, if this comes from a recording (informational).
    pub raw_key: Option<String>,
    /// The expected TTL.
    pub ttl: ExpectedTtl,
    /// The expected value.
    pub value: ExpectedValue,
}

impl ExpectedKey {
    /// A key without TTL.
    pub fn new(key: impl Into<String>, value: ExpectedValue) -> ExpectedKey {
        ExpectedKey {
            key: key.into(),
            raw_key: None,
            ttl: ExpectedTtl::None,
            value,
        }
    }

    /// The same key with the given TTL expectation.
    pub fn with_ttl(mut self, ttl: ExpectedTtl) -> ExpectedKey {
        self.ttl = ttl;
        self
    }

    fn from_recorded(raw_key: &str, kd: &Value, t0_unix_ns: i64) -> Result<ExpectedKey, String> {
        let key = kd["key_normalized"]
            .as_str()
            .ok_or("missing key_normalized")?
            .to_owned();
        let ttl = if kd["has_ttl"].as_bool().ok_or("missing has_ttl")? {
            ExpectedTtl::Seconds(kd["ttl_s"].as_f64().ok_or("has_ttl without ttl_s")?)
        } else {
            ExpectedTtl::None
        };
        let v = &kd["value"];
        let bv = |j: &Value| ExpectedBytes::from_recorded(j, t0_unix_ns);
        let array = || {
            v.as_array()
                .ok_or_else(|| format!("value is not an array: {v}"))
        };
        let value = match kd["type"].as_str().ok_or("missing type")? {
            "string" => ExpectedValue::String(bv(v)?),
            "hash" => ExpectedValue::Hash(
                v.as_object()
                    .ok_or("hash value is not an object")?
                    .iter()
                    .map(|(f, j)| Ok((f.clone(), bv(j)?)))
                    .collect::<Result<_, String>>()?,
            ),
            "list" => ExpectedValue::List(array()?.iter().map(bv).collect::<Result<_, _>>()?),
            "set" => ExpectedValue::Set(array()?.iter().map(bv).collect::<Result<_, _>>()?),
            "zset" => ExpectedValue::ZSet(
                array()?
                    .iter()
                    .map(|e| {
                        Ok(ExpectedZMember {
                            member: bv(&e["member"])?,
                            score_t0_offset_s: e["score_t0_offset_s"]
                                .as_f64()
                                .ok_or("zset entry without score_t0_offset_s")?,
                        })
                    })
                    .collect::<Result<_, String>>()?,
            ),
            other => return Err(format!("unsupported type `{other}`")),
        };
        Ok(ExpectedKey {
            key,
            raw_key: Some(raw_key.to_owned()),
            ttl,
            value,
        })
    }
}

/// The expected keyspace at a checkpoint: a typed, editable copy of a recorded dump.
///
/// Tests patch it to express redisq's deliberate differences (spec decisions D3/D4/D8/D9)
/// before calling [`compare_dump`](crate::compare_dump). Keys are addressed by their
/// normalized name; the helpers panic with the list of keys if a key does not exist.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedDump {
    context: String,
    keys: Vec<ExpectedKey>,
}

impl ExpectedDump {
    /// An empty expectation; `context` names it in mismatch reports.
    pub fn new(context: impl Into<String>) -> ExpectedDump {
        ExpectedDump {
            context: context.into(),
            keys: Vec::new(),
        }
    }

    pub(crate) fn from_recorded(step: &Step) -> Result<ExpectedDump, String> {
        let keys = step.dump_json()["keys"]
            .as_object()
            .ok_or("dump.keys is not an object")?
            .iter()
            .map(|(raw, kd)| {
                ExpectedKey::from_recorded(raw, kd, step.t0_unix_ns())
                    .map_err(|e| format!("key `{raw}`: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(ExpectedDump {
            context: format!(
                "scenario `{}`, step `{}`",
                step.scenario_name(),
                step.name()
            ),
            keys,
        })
    }

    /// The description used in mismatch reports (e.g. ``scenario `a`, step `b` ``).
    pub fn context(&self) -> &str {
        &self.context
    }

    /// All expected keys.
    pub fn keys(&self) -> &[ExpectedKey] {
        &self.keys
    }

    /// All expected keys, mutable.
    pub fn keys_mut(&mut self) -> &mut Vec<ExpectedKey> {
        &mut self.keys
    }

    /// The normalized names of all expected keys, sorted.
    pub fn key_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.keys.iter().map(|k| k.key.as_str()).collect();
        names.sort_unstable();
        names
    }

    /// Whether a key with this normalized name is expected.
    pub fn contains_key(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k.key == key)
    }

    /// The expectation for key `key`, if any.
    pub fn get(&self, key: &str) -> Option<&ExpectedKey> {
        self.keys.iter().find(|k| k.key == key)
    }

    fn missing(&self, key: &str) -> ! {
        panic!(
            "{}: no expected key `{key}`; expected keys: {}",
            self.context,
            self.key_names().join(", ")
        )
    }

    /// The expectation for key `key` (panics if there is none).
    pub fn key(&self, key: &str) -> &ExpectedKey {
        self.get(key).unwrap_or_else(|| self.missing(key))
    }

    /// The expectation for key `key`, mutable (panics if there is none).
    pub fn key_mut(&mut self, key: &str) -> &mut ExpectedKey {
        match self.keys.iter().position(|k| k.key == key) {
            Some(i) => &mut self.keys[i],
            None => self.missing(key),
        }
    }

    /// The expected value of key `key`, mutable (panics if there is none).
    pub fn value_mut(&mut self, key: &str) -> &mut ExpectedValue {
        &mut self.key_mut(key).value
    }

    /// Removes key `key` (e.g. decision D8: the `paused` key is gone). Panics if it is not
    /// expected.
    pub fn remove_key(&mut self, key: &str) -> ExpectedKey {
        match self.keys.iter().position(|k| k.key == key) {
            Some(i) => self.keys.remove(i),
            None => self.missing(key),
        }
    }

    /// Adds a key, replacing an expected key with the same normalized name.
    pub fn insert_key(&mut self, key: ExpectedKey) -> &mut Self {
        match self.keys.iter().position(|k| k.key == key.key) {
            Some(i) => self.keys[i] = key,
            None => self.keys.push(key),
        }
        self
    }

    /// Sets the TTL expectation of key `key`.
    pub fn set_ttl(&mut self, key: &str, ttl: ExpectedTtl) -> &mut Self {
        self.key_mut(key).ttl = ttl;
        self
    }

    fn hash_mut(&mut self, key: &str) -> &mut BTreeMap<String, ExpectedBytes> {
        let context = self.context.clone();
        match self.value_mut(key) {
            ExpectedValue::Hash(h) => h,
            other => panic!(
                "{context}: key `{key}` is a {}, not a hash",
                other.type_name()
            ),
        }
    }

    /// Sets hash field `field` of `key` to the expectation `value`.
    pub fn set_hash_field(&mut self, key: &str, field: &str, value: ExpectedBytes) -> &mut Self {
        self.hash_mut(key).insert(field.to_owned(), value);
        self
    }

    /// Expects hash field `field` of `key` to hold exactly `bytes` (e.g. decision D4: the
    /// `unique_key` field).
    pub fn set_hash_field_bytes(
        &mut self,
        key: &str,
        field: &str,
        bytes: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.set_hash_field(key, field, ExpectedBytes::Exact(bytes.into()))
    }

    /// Expects hash field `field` of `key` to be a timestamp string in `unit` at
    /// `t0_offset_s` (e.g. decision D9: `pending_since` in nanoseconds).
    pub fn set_hash_field_time_offset(
        &mut self,
        key: &str,
        field: &str,
        unit: TimeUnit,
        t0_offset_s: f64,
    ) -> &mut Self {
        self.set_hash_field(key, field, ExpectedBytes::Time { unit, t0_offset_s })
    }

    /// Removes hash field `field` of `key` (panics if it is not expected).
    pub fn remove_hash_field(&mut self, key: &str, field: &str) -> ExpectedBytes {
        let context = self.context.clone();
        let hash = self.hash_mut(key);
        hash.remove(field).unwrap_or_else(|| {
            panic!(
                "{context}: key `{key}` has no expected field `{field}`; fields: {}",
                hash.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })
    }

    /// The expectation of hash field `field` of `key`, mutable (panics if it does not exist).
    pub fn hash_field_mut(&mut self, key: &str, field: &str) -> &mut ExpectedBytes {
        let context = self.context.clone();
        let hash = self.hash_mut(key);
        if !hash.contains_key(field) {
            panic!(
                "{context}: key `{key}` has no expected field `{field}`; fields: {}",
                hash.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        }
        hash.get_mut(field).expect("checked above")
    }

    /// The protobuf expectation of hash field `field` of `key` (for example the TaskMessage
    /// in field `msg` of `asynq:{q}:t:<id>`). Panics if it is not a protobuf value.
    pub fn hash_proto_mut(&mut self, key: &str, field: &str) -> &mut ExpectedProto {
        self.hash_field_mut(key, field).proto_mut()
    }
}
