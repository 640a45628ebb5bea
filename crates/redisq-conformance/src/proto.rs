//! A small, generic protobuf (proto3) wire-format decoder and encoder driven by the `schema`
//! section of `proto-vectors.json`.
//!
//! Longer than our usual limit on purpose: it is an independent second implementation of the
//! wire format (so the conformance suite does not check redisq's codec with itself), and its
//! schema reading, decoding and encoding share one set of wire-type rules.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

/// The message name of asynq's task message.
pub const TASK_MESSAGE: &str = "asynq.TaskMessage";
/// The message name of asynq's server info.
pub const SERVER_INFO: &str = "asynq.ServerInfo";
/// The message name of asynq's worker info.
pub const WORKER_INFO: &str = "asynq.WorkerInfo";
/// The message name of asynq's scheduler entry.
pub const SCHEDULER_ENTRY: &str = "asynq.SchedulerEntry";
/// The message name of asynq's scheduler enqueue event.
pub const SCHEDULER_ENQUEUE_EVENT: &str = "asynq.SchedulerEnqueueEvent";

const TIMESTAMP: &str = "google.protobuf.Timestamp";

/// The type of one protobuf field, as spelled in the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    /// `string` (UTF-8 text).
    String,
    /// `bytes`.
    Bytes,
    /// `int32` (negative values are 10-byte varints).
    Int32,
    /// `int64`.
    Int64,
    /// `uint32`.
    Uint32,
    /// `uint64`.
    Uint64,
    /// `bool`.
    Bool,
    /// `google.protobuf.Timestamp` (`{1: seconds int64, 2: nanos int32}`).
    Timestamp,
    /// `repeated <scalar>` (unpacked for strings/bytes; packed or unpacked for numbers).
    Repeated(Box<FieldType>),
    /// `map<K,V>`: repeated entries `{1: key, 2: value}`.
    Map(Box<FieldType>, Box<FieldType>),
}

impl FieldType {
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("repeated ") {
            let inner = Self::parse(inner)?;
            if matches!(inner, Self::Repeated(_) | Self::Map(..)) {
                return Err(format!("unsupported nested type `{s}`"));
            }
            return Ok(Self::Repeated(Box::new(inner)));
        }
        if let Some(inner) = s.strip_prefix("map<").and_then(|r| r.strip_suffix('>')) {
            let (k, v) = inner
                .split_once(',')
                .ok_or_else(|| format!("bad map type `{s}`"))?;
            let k = Self::parse(k)?;
            let v = Self::parse(v)?;
            if !k.is_scalar()
                || matches!(k, Self::Bytes)
                || !(v.is_scalar() || v == Self::Timestamp)
            {
                return Err(format!("unsupported map type `{s}`"));
            }
            return Ok(Self::Map(Box::new(k), Box::new(v)));
        }
        Ok(match s {
            "string" => Self::String,
            "bytes" => Self::Bytes,
            "int32" => Self::Int32,
            "int64" => Self::Int64,
            "uint32" => Self::Uint32,
            "uint64" => Self::Uint64,
            "bool" => Self::Bool,
            TIMESTAMP => Self::Timestamp,
            other => return Err(format!("unsupported field type `{other}`")),
        })
    }

    fn is_scalar(&self) -> bool {
        !matches!(self, Self::Timestamp | Self::Repeated(_) | Self::Map(..))
    }

    fn is_varint(&self) -> bool {
        matches!(
            self,
            Self::Int32 | Self::Int64 | Self::Uint32 | Self::Uint64 | Self::Bool
        )
    }

    /// The proto3 default value of this type.
    pub fn default_value(&self) -> ProtoValue {
        match self {
            Self::String => ProtoValue::String(String::new()),
            Self::Bytes => ProtoValue::Bytes(Vec::new()),
            Self::Int32 | Self::Int64 => ProtoValue::Int(0),
            Self::Uint32 | Self::Uint64 => ProtoValue::Uint(0),
            Self::Bool => ProtoValue::Bool(false),
            Self::Timestamp => ProtoValue::Timestamp(None),
            Self::Repeated(_) => ProtoValue::Repeated(Vec::new()),
            Self::Map(..) => ProtoValue::Map(BTreeMap::new()),
        }
    }
}

/// One field of a message schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDef {
    /// Field number.
    pub number: u32,
    /// Field name (snake_case, as in the .proto file).
    pub name: String,
    /// Field type.
    pub ty: FieldType,
}

/// The schema of the protobuf messages (from `proto-vectors.json`), keyed by full message name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    messages: BTreeMap<String, Vec<FieldDef>>,
}

impl Schema {
    /// Parses the `schema` object of `proto-vectors.json`.
    pub fn from_json(schema: &Value) -> Result<Self, String> {
        let obj = schema.as_object().ok_or("schema is not an object")?;
        let mut messages = BTreeMap::new();
        for (name, fields) in obj {
            let mut defs = Vec::new();
            for f in fields.as_array().ok_or("schema fields are not an array")? {
                let number = f["number"]
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| format!("{name}: bad field number in {f}"))?;
                let fname = f["name"]
                    .as_str()
                    .ok_or_else(|| format!("{name}: missing field name in {f}"))?;
                let ty = f["type"]
                    .as_str()
                    .ok_or_else(|| format!("{name}.{fname}: missing type"))
                    .and_then(|t| {
                        FieldType::parse(t).map_err(|e| format!("{name}.{fname}: {e}"))
                    })?;
                defs.push(FieldDef {
                    number,
                    name: fname.to_owned(),
                    ty,
                });
            }
            defs.sort_by_key(|d| d.number);
            messages.insert(name.clone(), defs);
        }
        Ok(Self { messages })
    }

    /// The schema loaded from `<conformance dir>/proto-vectors.json` (cached; panics if the
    /// file is missing or malformed).
    pub fn asynq() -> &'static Schema {
        static SCHEMA: OnceLock<Schema> = OnceLock::new();
        SCHEMA.get_or_init(|| {
            let path = crate::scenario::conformance_dir().join("proto-vectors.json");
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let json: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("cannot parse {}: {e}", path.display()));
            Schema::from_json(&json["schema"])
                .unwrap_or_else(|e| panic!("bad schema in {}: {e}", path.display()))
        })
    }

    /// The fields of `message` in field-number order, if the message is known.
    pub fn fields(&self, message: &str) -> Option<&[FieldDef]> {
        self.messages.get(message).map(Vec::as_slice)
    }

    /// The names of all messages in the schema.
    pub fn message_names(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }

    fn fields_or_err(&self, message: &str) -> Result<&[FieldDef], ProtoError> {
        self.fields(message)
            .ok_or_else(|| ProtoError(format!("unknown message `{message}`")))
    }

    /// Decodes `bytes` as `message`. Every schema field is present in the result (absent
    /// fields have their proto3 default; an absent Timestamp is `Timestamp(None)`).
    pub fn decode(&self, message: &str, bytes: &[u8]) -> Result<DecodedMessage, ProtoError> {
        let defs = self.fields_or_err(message)?;
        let mut fields: BTreeMap<String, ProtoValue> = defs
            .iter()
            .map(|d| (d.name.clone(), d.ty.default_value()))
            .collect();
        let mut unknown_fields = Vec::new();
        let mut r = Reader::new(bytes);
        while !r.done() {
            let at = r.pos;
            let (number, wire) = r.tag()?;
            let Some(def) = defs.iter().find(|d| d.number == number) else {
                r.skip(wire)?;
                unknown_fields.push(number);
                continue;
            };
            let slot = fields
                .get_mut(&def.name)
                .expect("every field has a default");
            decode_field(&def.ty, wire, &mut r, slot)
                .map_err(|e| ProtoError(format!("field `{}` at byte {at}: {}", def.name, e.0)))?;
        }
        Ok(DecodedMessage {
            message: message.to_owned(),
            fields,
            unknown_fields,
        })
    }

    /// Encodes `fields` as `message` like Go's `proto.Marshal`: fields in number order,
    /// default scalars omitted, map entries with key and value always written (entries in
    /// key order), present Timestamps always written. Fields missing from `fields` are
    /// treated as defaults.
    pub fn encode(
        &self,
        message: &str,
        fields: &BTreeMap<String, ProtoValue>,
    ) -> Result<Vec<u8>, ProtoError> {
        let defs = self.fields_or_err(message)?;
        for name in fields.keys() {
            if !defs.iter().any(|d| &d.name == name) {
                return Err(ProtoError(format!("`{message}` has no field `{name}`")));
            }
        }
        let mut out = Vec::new();
        for def in defs {
            if let Some(v) = fields.get(&def.name) {
                encode_field(def.number, &def.ty, v, &mut out)
                    .map_err(|e| ProtoError(format!("field `{}`: {}", def.name, e.0)))?;
            }
        }
        Ok(out)
    }

    /// Parses the JSON form of a message's fields, as in `proto-vectors.json` cases and in
    /// scenario `proto.fields`: bytes as a base64 string or a BV object (`{"b64": ...}`),
    /// Timestamps as `{seconds, nanos}` (`null` = absent), maps as objects, int64 as exact
    /// integers. Fields not listed get their default.
    pub fn fields_from_json(
        &self,
        message: &str,
        json: &Value,
    ) -> Result<BTreeMap<String, ProtoValue>, ProtoError> {
        let defs = self.fields_or_err(message)?;
        let obj = json
            .as_object()
            .ok_or_else(|| ProtoError(format!("fields of `{message}` are not an object")))?;
        for name in obj.keys() {
            if !defs.iter().any(|d| &d.name == name) {
                return Err(ProtoError(format!("`{message}` has no field `{name}`")));
            }
        }
        defs.iter()
            .map(|d| {
                let v = match obj.get(&d.name) {
                    None => d.ty.default_value(),
                    Some(j) => value_from_json(&d.ty, j)
                        .map_err(|e| ProtoError(format!("field `{}`: {}", d.name, e.0)))?,
                };
                Ok((d.name.clone(), v))
            })
            .collect()
    }
}

/// Decodes `bytes` as `message` with the asynq schema ([`Schema::asynq`]).
pub fn decode_message(message: &str, bytes: &[u8]) -> Result<DecodedMessage, ProtoError> {
    Schema::asynq().decode(message, bytes)
}

/// A decoded message: every schema field with its value (defaults included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedMessage {
    /// The full message name, e.g. `asynq.TaskMessage`.
    pub message: String,
    /// Field name → value, for every field of the schema.
    pub fields: BTreeMap<String, ProtoValue>,
    /// Numbers of fields found in the bytes but not in the schema (skipped).
    pub unknown_fields: Vec<u32>,
}

impl DecodedMessage {
    /// The value of a field (panics if the schema has no such field).
    pub fn get(&self, name: &str) -> &ProtoValue {
        self.fields
            .get(name)
            .unwrap_or_else(|| panic!("`{}` has no field `{name}`", self.message))
    }
}

impl fmt::Display for DecodedMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {{", self.message)?;
        let mut first = true;
        for (k, v) in &self.fields {
            if *v == default_like(v) {
                continue;
            }
            write!(f, "{}{k}: {v}", if first { " " } else { ", " })?;
            first = false;
        }
        if !self.unknown_fields.is_empty() {
            write!(f, ", <unknown fields {:?}>", self.unknown_fields)?;
        }
        write!(f, " }}")
    }
}

fn default_like(v: &ProtoValue) -> ProtoValue {
    match v {
        ProtoValue::Int(_) => ProtoValue::Int(0),
        ProtoValue::Uint(_) => ProtoValue::Uint(0),
        ProtoValue::Bool(_) => ProtoValue::Bool(false),
        ProtoValue::String(_) => ProtoValue::String(String::new()),
        ProtoValue::Bytes(_) => ProtoValue::Bytes(Vec::new()),
        ProtoValue::Timestamp(_) => ProtoValue::Timestamp(None),
        ProtoValue::Repeated(_) => ProtoValue::Repeated(Vec::new()),
        ProtoValue::Map(_) => ProtoValue::Map(BTreeMap::new()),
    }
}

/// A `google.protobuf.Timestamp` (the default is the unix epoch, 1970-01-01T00:00:00Z).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    /// Seconds since the unix epoch (negative before 1970).
    pub seconds: i64,
    /// Nanoseconds, 0..=999_999_999.
    pub nanos: i32,
}

impl Timestamp {
    /// Go's zero `time.Time` (0001-01-01T00:00:00Z) as a Timestamp.
    pub const GO_ZERO: Timestamp = Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    };

    /// Whether this is Go's zero time.
    pub fn is_go_zero(&self) -> bool {
        *self == Self::GO_ZERO
    }

    /// The instant in unix nanoseconds (as `i128`, which cannot overflow).
    pub fn unix_ns(&self) -> i128 {
        i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos)
    }
}

/// A decoded protobuf value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtoValue {
    /// `int32` / `int64`.
    Int(i64),
    /// `uint32` / `uint64`.
    Uint(u64),
    /// `bool`.
    Bool(bool),
    /// `string`.
    String(String),
    /// `bytes`.
    Bytes(Vec<u8>),
    /// `google.protobuf.Timestamp`; `None` = not present (distinct from Go's zero time).
    Timestamp(Option<Timestamp>),
    /// A repeated field.
    Repeated(Vec<ProtoValue>),
    /// A map field (last entry wins for duplicate keys).
    Map(BTreeMap<ProtoValue, ProtoValue>),
}

impl fmt::Display for ProtoValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(v) => write!(f, "{v}"),
            Self::Uint(v) => write!(f, "{v}"),
            Self::Bool(v) => write!(f, "{v}"),
            Self::String(s) => write!(f, "{s:?}"),
            Self::Bytes(b) => write!(f, "{}", crate::compare::show_bytes(b)),
            Self::Timestamp(None) => write!(f, "<absent>"),
            Self::Timestamp(Some(t)) if t.is_go_zero() => write!(f, "<Go zero time>"),
            Self::Timestamp(Some(t)) => write!(f, "{{seconds: {}, nanos: {}}}", t.seconds, t.nanos),
            Self::Repeated(items) => {
                write!(f, "[")?;
                for (i, v) in items.iter().enumerate() {
                    write!(f, "{}{v}", if i == 0 { "" } else { ", " })?;
                }
                write!(f, "]")
            }
            Self::Map(m) => {
                write!(f, "{{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    write!(f, "{}{k}: {v}", if i == 0 { "" } else { ", " })?;
                }
                write!(f, "}}")
            }
        }
    }
}

/// An error while decoding, encoding or parsing a protobuf message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtoError {}

fn err<T>(msg: impl Into<String>) -> Result<T, ProtoError> {
    Err(ProtoError(msg.into()))
}

// ---------------------------------------------------------------------------------------------
// Wire format

const WIRE_VARINT: u8 = 0;
const WIRE_FIXED64: u8 = 1;
const WIRE_LEN: u8 = 2;
const WIRE_FIXED32: u8 = 5;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return err("truncated varint");
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return err("varint overflows 64 bits");
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        err("varint longer than 10 bytes")
    }

    fn tag(&mut self) -> Result<(u32, u8), ProtoError> {
        let t = self.varint()?;
        let number =
            u32::try_from(t >> 3).map_err(|_| ProtoError("field number too large".into()))?;
        if number == 0 {
            return err("field number 0");
        }
        let wire = u8::try_from(t & 7).unwrap_or(u8::MAX);
        Ok((number, wire))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| ProtoError(format!("truncated: need {n} bytes at {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn len_delimited(&mut self) -> Result<&'a [u8], ProtoError> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| ProtoError("length too large".into()))?;
        self.take(n)
    }

    fn skip(&mut self, wire: u8) -> Result<(), ProtoError> {
        match wire {
            WIRE_VARINT => self.varint().map(drop),
            WIRE_FIXED64 => self.take(8).map(drop),
            WIRE_LEN => self.len_delimited().map(drop),
            WIRE_FIXED32 => self.take(4).map(drop),
            other => err(format!("unsupported wire type {other}")),
        }
    }
}

fn scalar_from_varint(ty: &FieldType, v: u64) -> ProtoValue {
    // Truncating casts are the protobuf semantics for 32-bit types.
    match ty {
        FieldType::Int32 => ProtoValue::Int(i64::from(v as u32 as i32)),
        FieldType::Int64 => ProtoValue::Int(v as i64),
        FieldType::Uint32 => ProtoValue::Uint(u64::from(v as u32)),
        FieldType::Bool => ProtoValue::Bool(v != 0),
        _ => ProtoValue::Uint(v),
    }
}

fn decode_scalar(ty: &FieldType, wire: u8, r: &mut Reader<'_>) -> Result<ProtoValue, ProtoError> {
    match ty {
        t if t.is_varint() => {
            if wire != WIRE_VARINT {
                return err(format!("wire type {wire}, expected varint"));
            }
            Ok(scalar_from_varint(t, r.varint()?))
        }
        FieldType::String => {
            if wire != WIRE_LEN {
                return err(format!("wire type {wire}, expected length-delimited"));
            }
            let b = r.len_delimited()?;
            String::from_utf8(b.to_vec())
                .map(ProtoValue::String)
                .map_err(|_| ProtoError("string is not valid UTF-8".into()))
        }
        FieldType::Bytes => {
            if wire != WIRE_LEN {
                return err(format!("wire type {wire}, expected length-delimited"));
            }
            Ok(ProtoValue::Bytes(r.len_delimited()?.to_vec()))
        }
        FieldType::Timestamp => {
            if wire != WIRE_LEN {
                return err(format!("wire type {wire}, expected length-delimited"));
            }
            let mut ts = Timestamp::default();
            merge_timestamp(r.len_delimited()?, &mut ts)?;
            Ok(ProtoValue::Timestamp(Some(ts)))
        }
        other => err(format!("`{other:?}` is not a scalar type")),
    }
}

fn merge_timestamp(bytes: &[u8], ts: &mut Timestamp) -> Result<(), ProtoError> {
    let mut r = Reader::new(bytes);
    while !r.done() {
        let (number, wire) = r.tag()?;
        match (number, wire) {
            (1, WIRE_VARINT) => {
                let s = r.varint()? as i64;
                ts.seconds = s;
            }
            (2, WIRE_VARINT) => {
                let n = r.varint()? as u32 as i32;
                ts.nanos = n;
            }
            (1 | 2, w) => return err(format!("Timestamp field {number}: wire type {w}")),
            (n, w) => {
                r.skip(w)
                    .map_err(|e| ProtoError(format!("Timestamp field {n}: {}", e.0)))?;
                return err(format!("Timestamp has unknown field {n}"));
            }
        }
    }
    Ok(())
}

fn decode_field(
    ty: &FieldType,
    wire: u8,
    r: &mut Reader<'_>,
    slot: &mut ProtoValue,
) -> Result<(), ProtoError> {
    match ty {
        FieldType::Repeated(inner) => {
            let ProtoValue::Repeated(items) = slot else {
                return err("internal: repeated slot");
            };
            if wire == WIRE_LEN && inner.is_varint() {
                // packed
                let mut pr = Reader::new(r.len_delimited()?);
                while !pr.done() {
                    items.push(scalar_from_varint(inner, pr.varint()?));
                }
            } else {
                items.push(decode_scalar(inner, wire, r)?);
            }
            Ok(())
        }
        FieldType::Map(kt, vt) => {
            if wire != WIRE_LEN {
                return err(format!("map entry with wire type {wire}"));
            }
            let ProtoValue::Map(map) = slot else {
                return err("internal: map slot");
            };
            let mut er = Reader::new(r.len_delimited()?);
            let mut key = kt.default_value();
            let mut value = vt.default_value();
            while !er.done() {
                let (number, w) = er.tag()?;
                match number {
                    1 => key = decode_scalar(kt, w, &mut er)?,
                    2 => match (&**vt, &mut value) {
                        (FieldType::Timestamp, ProtoValue::Timestamp(ts)) => {
                            if w != WIRE_LEN {
                                return err("map Timestamp value with wrong wire type");
                            }
                            let t = ts.get_or_insert_with(Timestamp::default);
                            merge_timestamp(er.len_delimited()?, t)?;
                        }
                        _ => value = decode_scalar(vt, w, &mut er)?,
                    },
                    n => {
                        er.skip(w)?;
                        return err(format!("map entry has unknown field {n}"));
                    }
                }
            }
            map.insert(key, value);
            Ok(())
        }
        FieldType::Timestamp => {
            if wire != WIRE_LEN {
                return err(format!("wire type {wire}, expected length-delimited"));
            }
            let ProtoValue::Timestamp(ts) = slot else {
                return err("internal: Timestamp slot");
            };
            // Repeated occurrences of a message field are merged.
            let t = ts.get_or_insert_with(Timestamp::default);
            merge_timestamp(r.len_delimited()?, t)
        }
        scalar => {
            // Last occurrence wins.
            *slot = decode_scalar(scalar, wire, r)?;
            Ok(())
        }
    }
}

fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_tag(number: u32, wire: u8, out: &mut Vec<u8>) {
    put_varint((u64::from(number) << 3) | u64::from(wire), out);
}

fn put_len(number: u32, data: &[u8], out: &mut Vec<u8>) {
    put_tag(number, WIRE_LEN, out);
    put_varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn encode_timestamp(ts: &Timestamp) -> Vec<u8> {
    let mut body = Vec::new();
    if ts.seconds != 0 {
        put_tag(1, WIRE_VARINT, &mut body);
        put_varint(ts.seconds as u64, &mut body);
    }
    if ts.nanos != 0 {
        put_tag(2, WIRE_VARINT, &mut body);
        put_varint(i64::from(ts.nanos) as u64, &mut body);
    }
    body
}

/// Encodes a scalar (or Timestamp) value with its tag; `always` writes default values too.
fn encode_scalar(
    number: u32,
    ty: &FieldType,
    v: &ProtoValue,
    always: bool,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    match (ty, v) {
        (FieldType::Int32 | FieldType::Int64, ProtoValue::Int(i)) => {
            if *i != 0 || always {
                if *ty == FieldType::Int32 && i32::try_from(*i).is_err() {
                    return err(format!("{i} does not fit int32"));
                }
                put_tag(number, WIRE_VARINT, out);
                put_varint(*i as u64, out);
            }
        }
        (FieldType::Uint32 | FieldType::Uint64, ProtoValue::Uint(u)) => {
            if *u != 0 || always {
                if *ty == FieldType::Uint32 && u32::try_from(*u).is_err() {
                    return err(format!("{u} does not fit uint32"));
                }
                put_tag(number, WIRE_VARINT, out);
                put_varint(*u, out);
            }
        }
        (FieldType::Bool, ProtoValue::Bool(b)) => {
            if *b || always {
                put_tag(number, WIRE_VARINT, out);
                put_varint(u64::from(*b), out);
            }
        }
        (FieldType::String, ProtoValue::String(s)) => {
            if !s.is_empty() || always {
                put_len(number, s.as_bytes(), out);
            }
        }
        (FieldType::Bytes, ProtoValue::Bytes(b)) => {
            if !b.is_empty() || always {
                put_len(number, b, out);
            }
        }
        (FieldType::Timestamp, ProtoValue::Timestamp(ts)) => {
            if let Some(ts) = ts {
                put_len(number, &encode_timestamp(ts), out);
            } else if always {
                put_len(number, &[], out);
            }
        }
        (t, v) => return err(format!("value {v} does not match type {t:?}")),
    }
    Ok(())
}

fn encode_field(
    number: u32,
    ty: &FieldType,
    v: &ProtoValue,
    out: &mut Vec<u8>,
) -> Result<(), ProtoError> {
    match (ty, v) {
        (FieldType::Repeated(inner), ProtoValue::Repeated(items)) => {
            if inner.is_varint() {
                // proto3 packs repeated scalars
                if items.is_empty() {
                    return Ok(());
                }
                let mut body = Vec::new();
                for item in items {
                    let mut tmp = Vec::new();
                    encode_scalar(1, inner, item, true, &mut tmp)?;
                    body.extend_from_slice(&tmp[1..]); // drop the 1-byte tag
                }
                put_len(number, &body, out);
            } else {
                for item in items {
                    encode_scalar(number, inner, item, true, out)?;
                }
            }
            Ok(())
        }
        (FieldType::Map(kt, vt), ProtoValue::Map(map)) => {
            for (k, val) in map {
                let mut entry = Vec::new();
                encode_scalar(1, kt, k, true, &mut entry)?;
                encode_scalar(2, vt, val, true, &mut entry)?;
                put_len(number, &entry, out);
            }
            Ok(())
        }
        (t, v) => encode_scalar(number, t, v, false, out),
    }
}

// ---------------------------------------------------------------------------------------------
// JSON

fn json_i64(j: &Value) -> Result<i64, ProtoError> {
    j.as_i64()
        .ok_or_else(|| ProtoError(format!("expected an integer, got {j}")))
}

fn json_bytes(j: &Value) -> Result<Vec<u8>, ProtoError> {
    let b64 = match j {
        Value::String(s) => s.as_str(),
        Value::Object(o) => o
            .get("b64")
            .and_then(Value::as_str)
            .ok_or_else(|| ProtoError(format!("BV without b64: {j}")))?,
        Value::Null => return Ok(Vec::new()),
        _ => return err(format!("expected bytes, got {j}")),
    };
    B64.decode(b64)
        .map_err(|e| ProtoError(format!("bad base64 {b64:?}: {e}")))
}

fn scalar_from_json(ty: &FieldType, j: &Value) -> Result<ProtoValue, ProtoError> {
    Ok(match ty {
        FieldType::String => ProtoValue::String(
            j.as_str()
                .ok_or_else(|| ProtoError(format!("expected a string, got {j}")))?
                .to_owned(),
        ),
        FieldType::Bytes => ProtoValue::Bytes(json_bytes(j)?),
        FieldType::Int32 | FieldType::Int64 => ProtoValue::Int(json_i64(j)?),
        FieldType::Uint32 | FieldType::Uint64 => ProtoValue::Uint(
            j.as_u64()
                .ok_or_else(|| ProtoError(format!("expected an unsigned integer, got {j}")))?,
        ),
        FieldType::Bool => ProtoValue::Bool(
            j.as_bool()
                .ok_or_else(|| ProtoError(format!("expected a bool, got {j}")))?,
        ),
        FieldType::Timestamp => match j {
            Value::Null => ProtoValue::Timestamp(None),
            Value::Object(o) => {
                let seconds = o.get("seconds").map_or(Ok(0), json_i64)?;
                let nanos = o.get("nanos").map_or(Ok(0), json_i64)?;
                let nanos = i32::try_from(nanos)
                    .map_err(|_| ProtoError(format!("nanos out of range: {nanos}")))?;
                ProtoValue::Timestamp(Some(Timestamp { seconds, nanos }))
            }
            _ => return err(format!("expected a Timestamp object, got {j}")),
        },
        other => return err(format!("`{other:?}` is not a scalar type")),
    })
}

fn map_key_from_json(ty: &FieldType, key: &str) -> Result<ProtoValue, ProtoError> {
    match ty {
        FieldType::String => Ok(ProtoValue::String(key.to_owned())),
        FieldType::Bool => match key {
            "true" => Ok(ProtoValue::Bool(true)),
            "false" => Ok(ProtoValue::Bool(false)),
            _ => err(format!("bad bool map key {key:?}")),
        },
        FieldType::Int32 | FieldType::Int64 => key
            .parse()
            .map(ProtoValue::Int)
            .map_err(|_| ProtoError(format!("bad integer map key {key:?}"))),
        FieldType::Uint32 | FieldType::Uint64 => key
            .parse()
            .map(ProtoValue::Uint)
            .map_err(|_| ProtoError(format!("bad integer map key {key:?}"))),
        other => err(format!("unsupported map key type {other:?}")),
    }
}

/// Parses the JSON form of one field value of type `ty` (see [`Schema::fields_from_json`]).
pub(crate) fn value_from_json(ty: &FieldType, j: &Value) -> Result<ProtoValue, ProtoError> {
    match ty {
        FieldType::Repeated(inner) => match j {
            Value::Null => Ok(ProtoValue::Repeated(Vec::new())),
            Value::Array(items) => items
                .iter()
                .map(|i| scalar_from_json(inner, i))
                .collect::<Result<_, _>>()
                .map(ProtoValue::Repeated),
            _ => err(format!("expected an array, got {j}")),
        },
        FieldType::Map(kt, vt) => match j {
            Value::Null => Ok(ProtoValue::Map(BTreeMap::new())),
            Value::Object(o) => o
                .iter()
                .map(|(k, v)| Ok((map_key_from_json(kt, k)?, scalar_from_json(vt, v)?)))
                .collect::<Result<_, _>>()
                .map(ProtoValue::Map),
            _ => err(format!("expected an object, got {j}")),
        },
        scalar => scalar_from_json(scalar, j),
    }
}

#[cfg(test)]
#[path = "proto_tests.rs"]
mod tests;
