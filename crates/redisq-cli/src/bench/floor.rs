//! `redisq bench floor`: what Redis spends per round trip when calls trickle in, whatever
//! redisq does. N calls, one at a time at `--rate` per second, of `PING`, of a script that
//! does nothing, and of a redisq enqueue (with no server running): the cost a task cannot
//! go below when it arrives on its own, against which `e2e` figures can be read.

use std::time::Duration;

use super::modes::{client, enqueue_at_rate};
use super::stats::RedisStats;
use super::{BenchArgs, BoxError, Target};

pub(crate) async fn floor(
    args: &BenchArgs,
    target: &Target,
) -> Result<serde_json::Value, BoxError> {
    let n = args.n;
    let mut stats = target.raw().await?;
    // Its own connection, as a producer or a server has.
    let mut conn = target.raw().await?;
    let noop = redis::Script::new("return 1");
    noop.prepare_invoke().load_async(&mut conn).await?;
    let period = Duration::from_nanos(1_000_000_000 / args.rate.max(1));

    let before = RedisStats::read(&mut stats).await?;
    let start = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(start + period * i as u32).await;
        redis::cmd("PING").query_async::<()>(&mut conn).await?;
    }
    let ping = RedisStats::read(&mut stats).await?.since(&before);

    let before = RedisStats::read(&mut stats).await?;
    let start = tokio::time::Instant::now();
    for i in 0..n {
        tokio::time::sleep_until(start + period * i as u32).await;
        noop.invoke_async::<_, i64>(&mut conn).await?;
    }
    let script = RedisStats::read(&mut stats).await?.since(&before);

    let producer = client(target).await?;
    let before = RedisStats::read(&mut stats).await?;
    enqueue_at_rate(&producer, args, n).await?;
    let enqueue = RedisStats::read(&mut stats).await?.since(&before);

    Ok(serde_json::json!({
        "mode": "floor",
        "calls": n,
        "rate_per_second": args.rate,
        "ping": ping.per_task(n),
        "noop_script": script.per_task(n),
        "enqueue_without_server": enqueue.per_task(n),
    }))
}
