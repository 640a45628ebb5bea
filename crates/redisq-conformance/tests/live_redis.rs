//! `dump` against a real, throwaway Redis started for the test. It writes a few keys under a
//! unique prefix, checks only those, and deletes them again.

use redisq_conformance::{
    CompareOptions, DumpValue, ExpectedBytes, ExpectedDump, ExpectedKey, ExpectedTtl,
    ExpectedValue, ExpectedZMember, Scenario, TimeUnit, compare_dump, dump, now_unix_ns,
};

#[tokio::test]
async fn dump_reads_every_type() {
    let server = redisq_test_support::RedisServer::start();
    let url = server.url();
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");

    let t0 = now_unix_ns();
    let t0_s = t0 / 1_000_000_000;
    let p = format!("redisq-conformance-selftest-{}-{t0}", std::process::id());
    let msg = {
        let s = Scenario::load("a_enqueue_minimal");
        let d = redisq_conformance::Dump::from_recorded(s.step("after_enqueue"));
        let DumpValue::Hash(h) = &d.get("asynq:{default}:t:task-a").unwrap().value else {
            panic!()
        };
        h[b"msg".as_slice()].clone()
    };
    let server_key = format!("{p}:servers:{{some.host:77:0e8a7c2e-5f0b-4d7e-9a55-3c1f2b6d8e90}}");
    redis::pipe()
        .cmd("SET")
        .arg(format!("{p}:str"))
        .arg("hello")
        .arg("EX")
        .arg(100)
        .ignore()
        .cmd("HSET")
        .arg(format!("{p}:t:task-a"))
        .arg("msg")
        .arg(&msg)
        .arg("state")
        .arg("pending")
        .arg("pending_since")
        .arg(t0.to_string())
        .ignore()
        .cmd("RPUSH")
        .arg(format!("{p}:list"))
        .arg("c")
        .arg("b")
        .arg("a")
        .ignore()
        .cmd("SADD")
        .arg(format!("{p}:set"))
        .arg("z")
        .arg("a")
        .arg("m")
        .ignore()
        .cmd("ZADD")
        .arg(format!("{p}:zset"))
        .arg(t0_s + 10)
        .arg("later")
        .arg(t0_s + 5)
        .arg("sooner")
        .ignore()
        .cmd("SET")
        .arg(&server_key)
        .arg(b"\x00\xffbinary".as_slice())
        .arg("PX")
        .arg(9_500)
        .ignore()
        .query_async::<()>(&mut conn)
        .await
        .expect("write keys");

    let mut actual = dump(&mut conn).await;
    assert!(actual.redis_time_unix_ns.is_some());
    actual.keys.retain(|k, _| k.starts_with(p.as_bytes()));
    assert_eq!(actual.len(), 6, "{actual}");

    let off = |s: i64| (s * 1_000_000_000 - t0) as f64 / 1e9;
    let mut expected = ExpectedDump::new("live Redis self-test");
    expected
        .insert_key(
            ExpectedKey::new(
                format!("{p}:str"),
                ExpectedValue::String(ExpectedBytes::text("hello")),
            )
            .with_ttl(ExpectedTtl::Seconds(100.0)),
        )
        .insert_key(ExpectedKey::new(
            format!("{p}:t:task-a"),
            ExpectedValue::Hash(
                [
                    ("msg".to_owned(), ExpectedBytes::bytes(msg.clone())),
                    ("state".to_owned(), ExpectedBytes::text("pending")),
                    (
                        "pending_since".to_owned(),
                        ExpectedBytes::time(TimeUnit::Nanoseconds, 0.0),
                    ),
                ]
                .into(),
            ),
        ))
        .insert_key(ExpectedKey::new(
            format!("{p}:list"),
            ExpectedValue::List(vec![
                ExpectedBytes::text("c"),
                ExpectedBytes::text("b"),
                ExpectedBytes::text("a"),
            ]),
        ))
        .insert_key(ExpectedKey::new(
            format!("{p}:set"),
            ExpectedValue::Set(vec![
                ExpectedBytes::text("m"),
                ExpectedBytes::text("z"),
                ExpectedBytes::text("a"),
            ]),
        ))
        .insert_key(ExpectedKey::new(
            format!("{p}:zset"),
            ExpectedValue::ZSet(vec![
                ExpectedZMember {
                    member: ExpectedBytes::text("sooner"),
                    score_t0_offset_s: off(t0_s + 5),
                },
                ExpectedZMember {
                    member: ExpectedBytes::text("later"),
                    score_t0_offset_s: off(t0_s + 10),
                },
            ]),
        ))
        .insert_key(
            ExpectedKey::new(
                format!("{p}:servers:{{<host>:<pid>:<uuid>}}"),
                ExpectedValue::String(ExpectedBytes::bytes(b"\x00\xffbinary".to_vec())),
            )
            .with_ttl(ExpectedTtl::Seconds(9.5)),
        );
    let result = compare_dump(&expected, &actual, t0, &CompareOptions::default());

    let keys: Vec<Vec<u8>> = actual.keys.keys().cloned().collect();
    redis::cmd("DEL")
        .arg(keys)
        .query_async::<()>(&mut conn)
        .await
        .expect("clean up");
    if let Err(m) = result {
        panic!("{m}\n{actual}");
    }
}
