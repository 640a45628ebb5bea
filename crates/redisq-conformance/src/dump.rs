//! Dumping the whole keyspace of a standalone Redis.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use redis::Value as RV;
use serde_json::Value;

use crate::compare::show_bytes;
use crate::scenario::Step;

/// The value of one key, as raw bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum DumpValue {
    /// `GET`.
    String(Vec<u8>),
    /// `HGETALL`: field → value.
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    /// `LRANGE 0 -1` (index 0 is the head).
    List(Vec<Vec<u8>>),
    /// `SMEMBERS`, sorted by bytes.
    Set(Vec<Vec<u8>>),
    /// `ZRANGE 0 -1 WITHSCORES`: (member, score) in ascending score order.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Another type (stream, module type…); its value is not read.
    Other(String),
}

impl DumpValue {
    /// The Redis type name (`string`, `hash`, `list`, `set`, `zset`, or the other type's name).
    pub fn type_name(&self) -> &str {
        match self {
            Self::String(_) => "string",
            Self::Hash(_) => "hash",
            Self::List(_) => "list",
            Self::Set(_) => "set",
            Self::ZSet(_) => "zset",
            Self::Other(t) => t,
        }
    }
}

/// One key of a [`Dump`].
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    /// `PTTL` in milliseconds, or `None` if the key has no TTL.
    pub pttl_ms: Option<i64>,
    /// The value.
    pub value: DumpValue,
}

/// A snapshot of the whole keyspace: raw key → TTL and value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Dump {
    /// Every key, by raw name.
    pub keys: BTreeMap<Vec<u8>, KeyEntry>,
    /// The Redis server time of the snapshot (`TIME`) in unix nanoseconds, if known.
    pub redis_time_unix_ns: Option<i64>,
}

impl Dump {
    /// The number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the keyspace is empty.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The entry of raw key `key`, if present.
    pub fn get(&self, key: &str) -> Option<&KeyEntry> {
        self.keys.get(key.as_bytes())
    }

    /// Reconstructs the raw dump that the recording of `step` describes (raw keys, TTLs,
    /// exact bytes, scores and Redis time). Comparing it with the step's own expectation at
    /// the recorded t0 must succeed; the crate's self-tests do exactly that.
    pub fn from_recorded(step: &Step) -> Dump {
        let dump = step.dump_json();
        let keys = dump["keys"]
            .as_object()
            .expect("recorded dump.keys is an object")
            .iter()
            .map(|(raw, kd)| {
                let pttl_ms = kd["ttl_s"].as_f64().map(|s| (s * 1000.0).round() as i64);
                let v = &kd["value"];
                let b = |j: &Value| -> Vec<u8> {
                    B64.decode(j["b64"].as_str().expect("b64 present"))
                        .expect("valid base64")
                };
                let arr = || v.as_array().expect("array value").iter();
                let value = match kd["type"].as_str().expect("type") {
                    "string" => DumpValue::String(b(v)),
                    "hash" => DumpValue::Hash(
                        v.as_object()
                            .expect("hash object")
                            .iter()
                            .map(|(f, j)| (f.as_bytes().to_vec(), b(j)))
                            .collect(),
                    ),
                    "list" => DumpValue::List(arr().map(b).collect()),
                    "set" => {
                        let mut m: Vec<Vec<u8>> = arr().map(b).collect();
                        m.sort();
                        DumpValue::Set(m)
                    }
                    "zset" => DumpValue::ZSet(
                        arr()
                            .map(|e| (b(&e["member"]), e["score"].as_f64().expect("score")))
                            .collect(),
                    ),
                    other => DumpValue::Other(other.to_owned()),
                };
                (raw.as_bytes().to_vec(), KeyEntry { pttl_ms, value })
            })
            .collect();
        Dump {
            keys,
            redis_time_unix_ns: dump["redis_time"]["raw"].as_i64(),
        }
    }
}

impl fmt::Display for Dump {
    /// A readable listing of every key, for debugging.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} key(s):", self.keys.len())?;
        for (k, e) in &self.keys {
            let ttl = e.pttl_ms.map_or(String::new(), |ms| {
                format!(" ttl={:.3}s", ms as f64 / 1000.0)
            });
            writeln!(
                f,
                "  {} ({}{ttl})",
                String::from_utf8_lossy(k),
                e.value.type_name()
            )?;
            match &e.value {
                DumpValue::String(v) => writeln!(f, "    {}", show_bytes(v))?,
                DumpValue::Hash(h) => {
                    for (field, v) in h {
                        writeln!(
                            f,
                            "    {} = {}",
                            String::from_utf8_lossy(field),
                            show_bytes(v)
                        )?;
                    }
                }
                DumpValue::List(items) | DumpValue::Set(items) => {
                    for v in items {
                        writeln!(f, "    {}", show_bytes(v))?;
                    }
                }
                DumpValue::ZSet(items) => {
                    for (m, s) in items {
                        writeln!(f, "    {s} {}", show_bytes(m))?;
                    }
                }
                DumpValue::Other(_) => {}
            }
        }
        Ok(())
    }
}

/// One Lua script reads the whole keyspace atomically: Redis time, then per key its name,
/// type, PTTL and value.
const DUMP_SCRIPT: &str = r"
local out = {redis.call('TIME')}
for _, k in ipairs(redis.call('KEYS', '*')) do
  local t = redis.call('TYPE', k)['ok']
  local v = {}
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'list' then v = redis.call('LRANGE', k, 0, -1)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  end
  out[#out + 1] = {k, t, redis.call('PTTL', k), v}
end
return out
";

/// Dumps the whole keyspace of a standalone Redis (the connection's database). Panics on
/// Redis errors; see [`try_dump`].
pub async fn dump(conn: &mut impl redis::aio::ConnectionLike) -> Dump {
    try_dump(conn)
        .await
        .unwrap_or_else(|e| panic!("cannot dump Redis: {e}"))
}

/// Dumps the whole keyspace of a standalone Redis.
///
/// The snapshot is atomic: one Lua script (`EVAL`) reads `TIME`, `KEYS *`, and per key
/// `TYPE`, `PTTL` and its value (`GET`, `HGETALL`, `LRANGE 0 -1`, `SMEMBERS`,
/// `ZRANGE 0 -1 WITHSCORES`). If scripting is unavailable, it falls back to `KEYS *` followed
/// by two `MULTI`/`EXEC` transactions (types and TTLs, then values).
pub async fn try_dump(conn: &mut impl redis::aio::ConnectionLike) -> redis::RedisResult<Dump> {
    match redis::cmd("EVAL")
        .arg(DUMP_SCRIPT)
        .arg(0)
        .query_async::<RV>(conn)
        .await
    {
        Ok(v) => parse_script_reply(v),
        Err(e) if e.kind() == redis::ErrorKind::Io => Err(e),
        Err(_) => dump_with_transactions(conn).await,
    }
}

fn bad(msg: impl Into<String>) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected dump reply",
        msg.into(),
    ))
}

fn bytes(v: RV) -> redis::RedisResult<Vec<u8>> {
    match v {
        RV::BulkString(b) => Ok(b),
        RV::SimpleString(s) => Ok(s.into_bytes()),
        RV::VerbatimString { text, .. } => Ok(text.into_bytes()),
        RV::Okay => Ok(b"OK".to_vec()),
        RV::Int(i) => Ok(i.to_string().into_bytes()),
        RV::Double(d) => Ok(d.to_string().into_bytes()),
        other => Err(bad(format!("expected a string, got {other:?}"))),
    }
}

fn text(v: RV) -> redis::RedisResult<String> {
    String::from_utf8(bytes(v)?).map_err(|_| bad("expected UTF-8"))
}

fn int(v: RV) -> redis::RedisResult<i64> {
    match v {
        RV::Int(i) => Ok(i),
        other => text(other)?.parse().map_err(|_| bad("expected an integer")),
    }
}

fn items(v: RV) -> redis::RedisResult<Vec<RV>> {
    match v {
        RV::Array(a) | RV::Set(a) => Ok(a),
        RV::Map(m) => Ok(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
        RV::Nil => Ok(Vec::new()),
        other => Err(bad(format!("expected an array, got {other:?}"))),
    }
}

fn score(v: RV) -> redis::RedisResult<f64> {
    match v {
        RV::Double(d) => Ok(d),
        RV::Int(i) => Ok(i as f64),
        other => {
            let t = text(other)?;
            match t.as_str() {
                "inf" | "+inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                _ => t.parse().map_err(|_| bad(format!("bad score {t:?}"))),
            }
        }
    }
}

fn pairs(v: RV) -> redis::RedisResult<Vec<(RV, RV)>> {
    match v {
        RV::Map(m) => Ok(m),
        other => {
            let flat = items(other)?;
            if flat
                .iter()
                .all(|i| matches!(i, RV::Array(a) if a.len() == 2))
                && !flat.is_empty()
            {
                // RESP3 ZRANGE WITHSCORES: [[member, score], ...]
                return flat
                    .into_iter()
                    .map(|i| {
                        let mut a = items(i)?.into_iter();
                        Ok((a.next().unwrap_or(RV::Nil), a.next().unwrap_or(RV::Nil)))
                    })
                    .collect();
            }
            if flat.len() % 2 != 0 {
                return Err(bad("odd number of elements"));
            }
            let mut it = flat.into_iter();
            let mut out = Vec::new();
            while let (Some(a), Some(b)) = (it.next(), it.next()) {
                out.push((a, b));
            }
            Ok(out)
        }
    }
}

fn value_of(ty: &str, v: RV) -> redis::RedisResult<DumpValue> {
    Ok(match ty {
        "string" => match v {
            RV::Array(a) => DumpValue::String(bytes(a.into_iter().next().unwrap_or(RV::Nil))?),
            other => DumpValue::String(bytes(other)?),
        },
        "hash" => DumpValue::Hash(
            pairs(v)?
                .into_iter()
                .map(|(f, v)| Ok((bytes(f)?, bytes(v)?)))
                .collect::<redis::RedisResult<_>>()?,
        ),
        "list" => DumpValue::List(items(v)?.into_iter().map(bytes).collect::<Result<_, _>>()?),
        "set" => {
            let mut m: Vec<Vec<u8>> = items(v)?.into_iter().map(bytes).collect::<Result<_, _>>()?;
            m.sort();
            DumpValue::Set(m)
        }
        "zset" => DumpValue::ZSet(
            pairs(v)?
                .into_iter()
                .map(|(m, s)| Ok((bytes(m)?, score(s)?)))
                .collect::<redis::RedisResult<_>>()?,
        ),
        other => DumpValue::Other(other.to_owned()),
    })
}

fn pttl(ms: i64) -> Option<i64> {
    (ms >= 0).then_some(ms)
}

fn redis_time(v: RV) -> redis::RedisResult<i64> {
    let mut t = items(v)?.into_iter();
    let secs = int(t.next().unwrap_or(RV::Nil))?;
    let micros = int(t.next().unwrap_or(RV::Nil))?;
    Ok(secs * 1_000_000_000 + micros * 1000)
}

fn parse_script_reply(v: RV) -> redis::RedisResult<Dump> {
    let mut it = items(v)?.into_iter();
    let redis_time_unix_ns = Some(redis_time(it.next().ok_or_else(|| bad("empty reply"))?)?);
    let mut keys = BTreeMap::new();
    for entry in it {
        let mut e = items(entry)?.into_iter();
        let (Some(k), Some(t), Some(p), Some(v)) = (e.next(), e.next(), e.next(), e.next()) else {
            return Err(bad("short key entry"));
        };
        let ty = text(t)?;
        let value = value_of(&ty, v)?;
        keys.insert(
            bytes(k)?,
            KeyEntry {
                pttl_ms: pttl(int(p)?),
                value,
            },
        );
    }
    Ok(Dump {
        keys,
        redis_time_unix_ns,
    })
}

async fn dump_with_transactions(
    conn: &mut impl redis::aio::ConnectionLike,
) -> redis::RedisResult<Dump> {
    let names: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query_async(conn).await?;
    let mut meta = redis::pipe();
    meta.atomic();
    meta.cmd("TIME");
    for k in &names {
        meta.cmd("TYPE").arg(k).cmd("PTTL").arg(k);
    }
    let mut meta_reply = meta.query_async::<Vec<RV>>(conn).await?.into_iter();
    let redis_time_unix_ns = Some(redis_time(meta_reply.next().unwrap_or(RV::Nil))?);
    let mut typed = Vec::new();
    for k in names {
        let ty = text(meta_reply.next().unwrap_or(RV::Nil))?;
        let ttl = int(meta_reply.next().unwrap_or(RV::Nil))?;
        if ty != "none" {
            typed.push((k, ty, ttl));
        }
    }
    let mut values = redis::pipe();
    values.atomic();
    for (k, ty, _) in &typed {
        match ty.as_str() {
            "string" => values.cmd("GET").arg(k),
            "hash" => values.cmd("HGETALL").arg(k),
            "list" => values.cmd("LRANGE").arg(k).arg(0).arg(-1),
            "set" => values.cmd("SMEMBERS").arg(k),
            "zset" => values.cmd("ZRANGE").arg(k).arg(0).arg(-1).arg("WITHSCORES"),
            _ => values.cmd("TYPE").arg(k),
        };
    }
    let replies: Vec<RV> = if typed.is_empty() {
        Vec::new()
    } else {
        values.query_async(conn).await?
    };
    let mut keys = BTreeMap::new();
    for ((k, ty, ttl), v) in typed.into_iter().zip(replies) {
        let value = match (ty.as_str(), v) {
            // the key was deleted between the two transactions
            (_, RV::Nil) => continue,
            (t, v) => value_of(t, v)?,
        };
        let emptied = match &value {
            DumpValue::Hash(h) => h.is_empty(),
            DumpValue::List(a) | DumpValue::Set(a) => a.is_empty(),
            DumpValue::ZSet(z) => z.is_empty(),
            _ => false,
        };
        if emptied {
            continue; // deleted between the two transactions (Redis has no empty collections)
        }
        keys.insert(
            k,
            KeyEntry {
                pttl_ms: pttl(ttl),
                value,
            },
        );
    }
    Ok(Dump {
        keys,
        redis_time_unix_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resp2_and_resp3_shapes() {
        let b = |s: &str| RV::BulkString(s.as_bytes().to_vec());
        let zset2 = RV::Array(vec![b("m"), b("1.5"), b("n"), b("inf")]);
        let zset3 = RV::Array(vec![
            RV::Array(vec![b("m"), RV::Double(1.5)]),
            RV::Array(vec![b("n"), RV::Double(f64::INFINITY)]),
        ]);
        let expected = DumpValue::ZSet(vec![(b"m".to_vec(), 1.5), (b"n".to_vec(), f64::INFINITY)]);
        assert_eq!(value_of("zset", zset2).unwrap(), expected);
        assert_eq!(value_of("zset", zset3).unwrap(), expected);
        let hash2 = RV::Array(vec![b("f"), b("v")]);
        let hash3 = RV::Map(vec![(b("f"), b("v"))]);
        assert_eq!(
            value_of("hash", hash2).unwrap(),
            value_of("hash", hash3).unwrap()
        );
        let set = RV::Set(vec![b("z"), b("a")]);
        assert_eq!(
            value_of("set", set).unwrap(),
            DumpValue::Set(vec![b"a".to_vec(), b"z".to_vec()])
        );
        let reply = RV::Array(vec![
            RV::Array(vec![b("1700000000"), b("250000")]),
            RV::Array(vec![
                b("k"),
                b("string"),
                RV::Int(-1),
                RV::Array(vec![b("v")]),
            ]),
            RV::Array(vec![
                b("l"),
                b("list"),
                RV::Int(1500),
                RV::Array(vec![b("x")]),
            ]),
        ]);
        let d = parse_script_reply(reply).unwrap();
        assert_eq!(d.redis_time_unix_ns, Some(1_700_000_000_250_000_000));
        assert_eq!(d.get("k").unwrap().pttl_ms, None);
        assert_eq!(d.get("k").unwrap().value, DumpValue::String(b"v".to_vec()));
        assert_eq!(d.get("l").unwrap().pttl_ms, Some(1500));
    }

    /// The script and the transaction fallback read the same data.
    #[tokio::test]
    async fn script_and_fallback_agree() {
        let server = redisq_test_support::RedisServer::start();
        let url = server.url();
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let p = format!("redisq-conformance-unit-{}", std::process::id());
        redis::pipe()
            .cmd("SET")
            .arg(format!("{p}:s"))
            .arg("v")
            .ignore()
            .cmd("HSET")
            .arg(format!("{p}:h"))
            .arg("f")
            .arg("1")
            .arg("g")
            .arg("2")
            .ignore()
            .cmd("RPUSH")
            .arg(format!("{p}:l"))
            .arg("a")
            .arg("b")
            .ignore()
            .cmd("SADD")
            .arg(format!("{p}:e"))
            .arg("y")
            .arg("x")
            .ignore()
            .cmd("ZADD")
            .arg(format!("{p}:z"))
            .arg(2.5)
            .arg("b")
            .arg(1)
            .arg("a")
            .ignore()
            .cmd("XADD")
            .arg(format!("{p}:x"))
            .arg("*")
            .arg("f")
            .arg("v")
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        let mut a = try_dump(&mut conn).await.unwrap();
        let mut b = dump_with_transactions(&mut conn).await.unwrap();
        for d in [&mut a, &mut b] {
            d.keys.retain(|k, _| k.starts_with(p.as_bytes()));
            d.redis_time_unix_ns = None;
        }
        let keys: Vec<Vec<u8>> = a.keys.keys().cloned().collect();
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 6);
        assert_eq!(
            a.keys[format!("{p}:x").as_bytes()].value,
            DumpValue::Other("stream".into())
        );
        assert_eq!(
            a.keys[format!("{p}:z").as_bytes()].value,
            DumpValue::ZSet(vec![(b"a".to_vec(), 1.0), (b"b".to_vec(), 2.5)])
        );
    }
}
