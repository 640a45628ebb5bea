//! Faults in what redisq is given: misbehaving handlers, hostile data in Redis, and the
//! long soak.

use super::*;

/// Misbehaving user code: 20 % of the tasks panic, block their thread for 200 ms, ignore their
/// 1 s deadline (running 1.5 s, then failing) or never return, each on its first attempt;
/// every worker's error handler, failure predicate and health check panic, and so does the
/// retry delay of panicking tasks. Every task must still finish exactly once, no worker may
/// crash and no other task may run twice.
pub(super) async fn misbehaving_handlers(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let spec = FleetSpec {
        panicking_callbacks: true,
        ..fleet_spec()
    };
    let mut h = Harness::start_with(
        "misbehaving-handlers",
        opts,
        &redis.url(),
        &redis.url(),
        spec,
    )?;
    let plan = LoadPlan {
        count: 600 * opts.profile.scale(),
        rate: 150,
        timeout: Duration::from_secs(1),
        misbehaving_percent: 20,
        ..h.plan()
    };
    let load = h.start_load(plan).await?;
    let enqueued = load
        .await
        .map_err(|e| format!("the producer failed: {e}"))?;
    h.injected = enqueued
        .iter()
        .filter(|e| load::misbehaves(&e.behaviour))
        .count();
    // Hand the finished producer to `finish` as a ready task.
    h.finish(tokio::spawn(async move { enqueued })).await
}

/// A queue name with a colon, a space, glob characters and non-ASCII text.
pub const ODD_QUEUE: &str = "odd:queue *?[x] \u{fc}";

/// Runs one command on the admin connection.
pub(super) async fn admin_cmd(
    conn: &mut state::StateConn,
    cmd: &redis::Cmd,
) -> Result<redis::Value, String> {
    cmd.query_async(conn)
        .await
        .map_err(|e| format!("{:?}: {e}", cmd.args_iter().next()))
}

/// Corrupt and hostile data, written straight into Redis before and while tasks flow:
///
/// * `critical`: a task hash whose `msg` is random bytes (`garbage-1`), a task hash without
///   a `msg` field (`nofields-1`);
/// * `default`: a pending ID without a task hash (`ghost-1`);
/// * `hostile` (a queue the workers serve): its `pending` list and `lease` set replaced by
///   strings (WRONGTYPE for every command on them);
/// * a 50 MB payload enqueued through the client into `low`;
/// * a queue named [`ODD_QUEUE`] carrying a share of the normal tasks.
///
/// No worker may crash; the normal tasks (the odd queue and the 50 MB one included) must all
/// finish; the garbage task must be archived with a reason; the IDs without a usable task
/// must leave `pending` (not block it); the WRONGTYPE keys must be reported in the log.
pub(super) async fn hostile_data(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut spec = fleet_spec();
    spec.queues.push(("hostile".to_owned(), 1));
    spec.queues.push((ODD_QUEUE.to_owned(), 2));
    let mut admin = state::connect(&url).await?;
    // Before the workers start, so their first polls meet it.
    let mut garbage = vec![0u8; 512];
    h_rand_bytes(opts.seed, &mut garbage);
    let setup: Vec<redis::Cmd> = vec![
        redis::cmd("HSET")
            .arg("asynq:{critical}:t:garbage-1")
            .arg("msg")
            .arg(garbage)
            .arg("state")
            .arg("pending")
            .clone(),
        redis::cmd("LPUSH")
            .arg("asynq:{critical}:pending")
            .arg("garbage-1")
            .clone(),
        redis::cmd("HSET")
            .arg("asynq:{critical}:t:nofields-1")
            .arg("state")
            .arg("pending")
            .clone(),
        redis::cmd("LPUSH")
            .arg("asynq:{critical}:pending")
            .arg("nofields-1")
            .clone(),
        redis::cmd("LPUSH")
            .arg("asynq:{default}:pending")
            .arg("ghost-1")
            .clone(),
        redis::cmd("SET")
            .arg("asynq:{hostile}:pending")
            .arg("not a list")
            .clone(),
        redis::cmd("SET")
            .arg("asynq:{hostile}:lease")
            .arg("not a sorted set")
            .clone(),
        redis::cmd("SADD")
            .arg("asynq:queues")
            .arg("hostile")
            .clone(),
    ];
    for cmd in &setup {
        admin_cmd(&mut admin, cmd).await?;
    }
    let injected_ids = ["garbage-1", "nofields-1", "ghost-1"];

    let mut h = Harness::start_with("hostile-data", opts, &url, &url, spec)?;
    h.tracked.retain(|q| q != "hostile");
    let plan = LoadPlan {
        count: 1000 * opts.profile.scale(),
        queues: h.tracked.clone(),
        ..h.plan()
    };
    let load = h.start_load(plan).await?;

    // The 50 MB payload, tracked like every other task.
    let big_id = "hostile-data-big".to_owned();
    let big = {
        let client = Client::connect(parse_redis_uri(&url).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| e.to_string())?;
        let mut payload = crate::worker::Behaviour::Work(1).payload().into_bytes();
        payload.resize(50 * 1024 * 1024, b'x');
        let result = client
            .enqueue_with(
                &redisq::Task::new("chaos", payload),
                [
                    redisq::TaskOption::queue("low"),
                    redisq::TaskOption::task_id(big_id.clone()),
                    redisq::TaskOption::max_retry(25),
                ],
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string());
        Enqueued {
            id: big_id.clone(),
            queue: "low".to_owned(),
            result,
            behaviour: crate::worker::Behaviour::Work(1),
            at_ms: now_ms(),
            due_ms: None,
        }
    };
    let mut enqueued = load
        .await
        .map_err(|e| format!("the producer failed: {e}"))?;
    enqueued.push(big);
    h.injected = setup.len() + 2;

    // Wait (bounded) until the bad items have been dealt with.
    let deadline = Instant::now() + Duration::from_secs(30);
    let handled = loop {
        let archived: Option<f64> = redis::cmd("ZSCORE")
            .arg("asynq:{critical}:archived")
            .arg("garbage-1")
            .query_async(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
        let mut pending_left = 0;
        for (q, id) in [("critical", "nofields-1"), ("default", "ghost-1")] {
            let pos: Option<i64> = redis::cmd("LPOS")
                .arg(format!("asynq:{{{q}}}:pending"))
                .arg(id)
                .query_async(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
            pending_left += usize::from(pos.is_some());
        }
        if archived.is_some() && pending_left == 0 {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stderr = h.worker_stderr();
    let mut report = h.finish(tokio::spawn(async move { enqueued })).await?;

    // Entries about the injected IDs are expected leftovers: notes, not failures.
    let (expected, others): (Vec<String>, Vec<String>) =
        report.verdict.integrity.drain(..).partition(|line| {
            injected_ids
                .iter()
                .any(|id| line.ends_with(&format!("/{id}")))
        });
    report.verdict.integrity = others;
    for line in expected {
        report.notes.push(format!(
            "left in Redis (not reported by the server): {line}"
        ));
    }
    if !handled {
        report.verdict.integrity.push(
            "the garbage task was not archived, or an ID without a usable task still blocks pending"
                .to_owned(),
        );
    }
    let reason: Option<String> = redis::cmd("HGET")
        .arg("asynq:{critical}:t:garbage-1")
        .arg("error")
        .query_async(&mut admin)
        .await
        .map_err(|e| e.to_string())?;
    match reason {
        Some(reason) if reason.contains("corrupt") => report
            .notes
            .push(format!("garbage msg: archived, reason {reason:?}")),
        other => report.verdict.integrity.push(format!(
            "garbage msg archived without a clear reason: {other:?}"
        )),
    }
    match stderr
        .lines()
        .find(|l| l.contains("WRONGTYPE") && l.contains("hostile"))
    {
        Some(line) => report.notes.push(format!(
            "WRONGTYPE keys reported: {}",
            line.chars().take(200).collect::<String>()
        )),
        None => report
            .verdict
            .integrity
            .push("WRONGTYPE at the hostile queue's keys was never reported".to_owned()),
    }
    report.notes.push(
        "IDs without a task hash, and hashes without `msg`, are dropped from pending by the \
         dequeue script without a log line"
            .to_owned(),
    );
    Ok(report)
}

/// Deterministic pseudo-random bytes.
fn h_rand_bytes(seed: u64, out: &mut [u8]) {
    StdRng::seed_from_u64(seed).fill(out);
}

/// The worker's resident set size in KiB, from `/proc/<pid>/status`.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A long soak: 1,000,000 tasks (20,000 in the short profile) through one worker process,
/// enqueued in batches of 500 while the backlog stays under 20,000. The worker's RSS is
/// sampled every 500 ms: after warm-up (the first fifth of the run) it must not grow (the
/// last half's peak at most 25 % + 16 MiB above the peak of the second fifth to the middle).
/// At the end no key may be left but the queue registry and the counters.
pub(super) async fn soak(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let url = redis.url();
    let spec = FleetSpec {
        workers: 1,
        concurrency: 20,
        ..fleet_spec()
    };
    let h = Harness::start_with("soak", opts, &url, &url, spec)?;
    let count = match opts.profile {
        Profile::Short => 20_000,
        Profile::Full => 1_000_000,
    };
    let pid = h.fleet.pid(0).ok_or("the soak worker is not running")?;
    let queue_names = h.tracked.clone();
    let producer = {
        let client = Client::connect(parse_redis_uri(&url).map_err(|e| e.to_string())?)
            .await
            .map_err(|e| format!("producer: {e}"))?;
        let mut conn = state::connect(&url).await?;
        let queue_names = queue_names.clone();
        let seed = opts.seed;
        tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut out = Vec::with_capacity(count);
            let mut n = 0;
            while n < count {
                while state::backlog(&mut conn, &queue_names).await.unwrap_or(0) > 20_000 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                let chunk = 500.min(count - n);
                let mut tasks = Vec::with_capacity(chunk);
                let mut meta = Vec::with_capacity(chunk);
                for i in n..n + chunk {
                    let queue = queue_names[rng.random_range(0..queue_names.len())].clone();
                    let id = format!("soak-{i}");
                    tasks.push(
                        redisq::Task::new("chaos", crate::worker::Behaviour::Work(0).payload())
                            .with_option(redisq::TaskOption::task_id(id.clone()))
                            .with_option(redisq::TaskOption::queue(queue.clone())),
                    );
                    meta.push((id, queue));
                }
                let results = client.enqueue_batch(&tasks, []).await;
                let at_ms = now_ms();
                for ((id, queue), result) in meta.into_iter().zip(results) {
                    out.push(Enqueued {
                        id,
                        queue,
                        result: result.map(|_| ()).map_err(|e| e.to_string()),
                        behaviour: crate::worker::Behaviour::Work(0),
                        at_ms,
                        due_ms: None,
                    });
                }
                n += chunk;
            }
            out
        })
    };
    let mut samples = Vec::new();
    while !producer.is_finished() {
        samples.extend(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Sample the drain too: the worker keeps running until the backlog is gone.
    let mut conn = state::connect(&url).await?;
    let drain_deadline = Instant::now() + Duration::from_secs(120);
    while state::backlog(&mut conn, &queue_names).await.unwrap_or(1) > 0
        && Instant::now() < drain_deadline
    {
        samples.extend(rss_kib(pid));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut report = h.finish(producer).await?;
    report.faults = 0;

    let peak = |s: &[u64]| s.iter().copied().max().unwrap_or(0);
    let len = samples.len();
    if len >= 10 {
        let warm = peak(&samples[len / 5..len / 2]);
        let late = peak(&samples[len / 2..]);
        report.notes.push(format!(
            "worker RSS: {} samples, peak after warm-up {} MiB, peak in the last half {} MiB, last {} MiB",
            len,
            warm / 1024,
            late / 1024,
            samples[len - 1] / 1024
        ));
        if late > warm + warm / 4 + 16 * 1024 {
            report.verdict.integrity.push(format!(
                "worker RSS grew after warm-up: {} MiB -> {} MiB",
                warm / 1024,
                late / 1024
            ));
        }
    } else {
        report
            .notes
            .push(format!("only {len} RSS samples: too short to judge growth"));
    }

    // Keys left behind: only the queue registry and the counters may stay.
    let mut cursor: u64 = 0;
    let mut leftovers = Vec::new();
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        leftovers.extend(keys.into_iter().filter(|k| {
            k != "asynq:queues" && !k.contains(":processed") && !k.contains(":failed")
        }));
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    leftovers.sort();
    for key in leftovers.iter().take(20) {
        report
            .verdict
            .integrity
            .push(format!("key left behind: {key}"));
    }
    Ok(report)
}
