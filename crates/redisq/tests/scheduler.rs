//! The cron scheduler against a real Redis: firing, heartbeat entries, history, unregister
//! while running, shutdown clean-up, and one enqueue per occurrence across processes.

mod scheduler_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use redisq::{Namespace, Scheduler, SchedulerConfig, Task, TaskOption};
use scheduler_support::{
    Env, GO_ZERO_SECONDS, bytes_fields, recv, string_field, timestamp_field, wait_until,
};
use tokio::sync::mpsc::unbounded_channel;

type Outcome = Result<(String, String), String>;

/// A config whose post-enqueue hook reports `(task type, task id)` or the error text.
fn reporting(tx: tokio::sync::mpsc::UnboundedSender<Outcome>) -> SchedulerConfig {
    SchedulerConfig::new().post_enqueue(move |res| {
        let _ = tx.send(
            res.as_ref()
                .map(|i| (i.task_type.clone(), i.id.clone()))
                .map_err(|e| e.to_string()),
        );
    })
}

/// Waits for the next successful enqueue of `task_type`, skipping others; returns the
/// number of `skipped_type` enqueues seen on the way.
async fn next_ok(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Outcome>,
    task_type: &str,
) -> (String, usize) {
    let mut others = 0;
    loop {
        match recv(rx, task_type).await {
            Ok((ty, id)) if ty == task_type => return (id, others),
            Ok(_) => others += 1,
            Err(e) => panic!("enqueue failed: {e}"),
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

#[tokio::test]
async fn entries_fire_record_history_heartbeat_and_clean_up() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let config = reporting(tx).heartbeat_interval(Duration::from_secs(1));
    let sched = Scheduler::new(env.opt(), config).await.expect("scheduler");
    let tick = sched
        .register(
            "@every 1s",
            Task::new("tick", "payload-1"),
            [
                TaskOption::queue("cron"),
                TaskOption::max_retry(3),
                TaskOption::timeout(Duration::from_secs(90)),
            ],
        )
        .expect("register tick");
    let clock = sched
        .register(
            "@every 1s",
            Task::new("clock", ""),
            [TaskOption::queue("clock")],
        )
        .expect("register clock");
    assert_eq!(sched.entry_ids(), vec![tick.clone(), clock.clone()]);
    sched.start().await.expect("start");
    assert!(sched.start().await.is_err(), "a second start fails");
    sched.ping().await.expect("ping");

    // The entry fires: the task is in its queue.
    let (first, _) = next_ok(&mut rx, "tick").await;
    let mut c = env.conn().await;
    let state: String = c
        .hget(format!("asynq:{{cron}}:t:{first}"), "state")
        .await
        .expect("HGET");
    assert_eq!(state, "pending");

    // The event is recorded after the hook ran.
    let history = format!("asynq:scheduler_history:{tick}");
    wait_until("history of tick", || async {
        env.zcard(&history).await >= 1
    })
    .await;
    let events: Vec<(Vec<u8>, f64)> = c.zrange_withscores(&history, 0, -1).await.expect("ZRANGE");
    let (event, score) = &events[0];
    assert_eq!(string_field(event, 1), first);
    let (secs, nanos) = timestamp_field(event, 2).expect("enqueue_time");
    assert_eq!(*score, secs as f64, "score = enqueue unix second");
    assert!((0..1_000_000_000).contains(&nanos));
    assert!((secs as f64 - unix_now()).abs() < 5.0);

    // The heartbeat writes both entries, with a TTL of 2 × interval and an index member
    // scored by the expiry.
    let entries_key = format!("asynq:schedulers:{{{}}}", sched.id());
    wait_until("entries with a previous fire time", || async {
        let list: Vec<Vec<u8>> = env
            .conn()
            .await
            .lrange(&entries_key, 0, -1)
            .await
            .expect("LRANGE");
        list.iter().any(|e| {
            string_field(e, 1) == tick
                && timestamp_field(e, 7).is_some_and(|(s, _)| s != GO_ZERO_SECONDS)
        })
    })
    .await;
    let ttl: i64 = c.ttl(&entries_key).await.expect("TTL");
    assert!((1..=2).contains(&ttl), "ttl {ttl}");
    let expiry: f64 = c
        .zscore("asynq:schedulers", &entries_key)
        .await
        .expect("ZSCORE");
    assert!(
        (expiry - (unix_now() + 2.0)).abs() <= 2.0,
        "index score {expiry}"
    );
    let list: Vec<Vec<u8>> = c.lrange(&entries_key, 0, -1).await.expect("LRANGE");
    assert_eq!(list.len(), 2);
    let e = list
        .iter()
        .find(|e| string_field(e, 1) == tick)
        .expect("tick entry");
    assert_eq!(string_field(e, 2), "@every 1s");
    assert_eq!(string_field(e, 3), "tick");
    assert_eq!(bytes_fields(e, 4), vec![b"payload-1".to_vec()]);
    let opts: Vec<String> = bytes_fields(e, 5)
        .into_iter()
        .map(|b| String::from_utf8(b).expect("utf-8"))
        .collect();
    assert_eq!(opts, ["Queue(\"cron\")", "MaxRetry(3)", "Timeout(1m30s)"]);
    let (next, _) = timestamp_field(e, 6).expect("next");
    let (prev, _) = timestamp_field(e, 7).expect("prev");
    assert!(next > prev && prev > 0, "next {next}, prev {prev}");

    // Unregister while running: at most an enqueue already under way completes; after the
    // other entry fired twice more, no tick was enqueued any more.
    sched.unregister(&tick).expect("unregister");
    assert!(
        sched
            .unregister(&tick)
            .expect_err("twice")
            .is_invalid_option()
    );
    // A fire of the same second may still be under way and report after the next clock
    // fire, so in-flight ticks are absorbed over two clock fires.
    let (_, first) = next_ok(&mut rx, "clock").await;
    let (_, second) = next_ok(&mut rx, "clock").await;
    let in_flight = first + second;
    assert!(in_flight <= 1, "{in_flight} ticks after unregister");
    let ticks = env.llen("asynq:{cron}:pending").await;
    for _ in 0..2 {
        let (_, late) = next_ok(&mut rx, "clock").await;
        assert_eq!(late, 0, "tick fired after unregister");
    }
    assert_eq!(env.llen("asynq:{cron}:pending").await, ticks);
    wait_until("heartbeat without the unregistered entry", || async {
        let list: Vec<Vec<u8>> = env
            .conn()
            .await
            .lrange(&entries_key, 0, -1)
            .await
            .expect("LRANGE");
        list.len() == 1 && string_field(&list[0], 1) == clock
    })
    .await;

    // Shutdown removes the entries, the index and every entry's history; tasks stay.
    sched.shutdown().await;
    assert!(!env.exists(&entries_key).await);
    assert!(!env.exists("asynq:schedulers").await);
    assert!(!env.exists(&history).await);
    assert!(
        !env.exists(&format!("asynq:scheduler_history:{clock}"))
            .await
    );
    assert_eq!(env.llen("asynq:{cron}:pending").await, ticks);
    assert!(env.llen("asynq:{clock}:pending").await >= 3);
    let err = sched
        .register("@daily", Task::new("late", ""), [])
        .expect_err("closed");
    assert!(err.is_closed());
    assert!(sched.start().await.is_err());
    sched.shutdown().await; // again: nothing happens
}

#[tokio::test]
async fn registering_while_running_and_invalid_registrations() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let sched = Scheduler::new(env.opt(), reporting(tx))
        .await
        .expect("scheduler");
    for (spec, task, opts) in [
        ("not a spec", Task::new("t", ""), vec![]),
        ("* * * * * *", Task::new("t", ""), vec![]),
        ("@every 1s", Task::new(" ", ""), vec![]),
        (
            "@every 1s",
            Task::new("t", ""),
            vec![TaskOption::timeout(Duration::from_millis(500))],
        ),
        ("@every 1s", Task::new("t", ""), vec![TaskOption::queue("")]),
    ] {
        let err = sched.register(spec, task, opts).expect_err(spec);
        assert!(err.is_invalid_option(), "{spec}: {err}");
    }
    assert!(sched.entry_ids().is_empty());
    sched.start().await.expect("start");
    // Registered after start: fires too.
    let id = sched
        .register("@every 1s", Task::new("late", "x"), [])
        .expect("register");
    let (task_id, _) = next_ok(&mut rx, "late").await;
    wait_until("history", || async {
        env.zcard(&format!("asynq:scheduler_history:{id}")).await == 1
    })
    .await;
    assert!(env.exists(&format!("asynq:{{default}}:t:{task_id}")).await);
    sched.shutdown().await;
    assert!(!env.exists(&format!("asynq:scheduler_history:{id}")).await);
}

#[tokio::test]
async fn failed_enqueues_reach_the_hook_and_record_no_event() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let (pre_tx, mut pre_rx) = unbounded_channel();
    let config = reporting(tx).pre_enqueue(move |task, opts| {
        let _ = pre_tx.send((task.task_type().to_string(), opts.len()));
    });
    let sched = Scheduler::new(env.opt(), config).await.expect("scheduler");
    // A fixed task ID: the first fire succeeds, later ones conflict.
    let id = sched
        .register(
            "@every 1s",
            Task::new("fixed", "x"),
            [TaskOption::task_id("fixed-1")],
        )
        .expect("register");
    sched.start().await.expect("start");
    assert_eq!(
        recv(&mut pre_rx, "pre hook").await,
        ("fixed".to_string(), 1)
    );
    assert_eq!(
        recv(&mut rx, "first").await,
        Ok(("fixed".to_string(), "fixed-1".to_string()))
    );
    let second = recv(&mut rx, "second").await;
    assert_eq!(
        second,
        Err("task ID conflicts with another task".to_string())
    );
    // Only the successful fire was recorded.
    let history = format!("asynq:scheduler_history:{id}");
    wait_until("history", || async { env.zcard(&history).await >= 1 }).await;
    assert_eq!(env.zcard(&history).await, 1);
    sched.shutdown().await;
    assert_eq!(env.llen("asynq:{default}:pending").await, 1);
    assert!(!env.exists(&history).await);
}

/// The pending_since (unix ns) of every task in a queue, sorted.
async fn enqueue_times(env: &Env, queue: &str) -> Vec<i64> {
    let mut c = env.conn().await;
    let ids: Vec<String> = c
        .lrange(format!("asynq:{{{queue}}}:pending"), 0, -1)
        .await
        .expect("LRANGE");
    let mut times = Vec::new();
    for id in ids {
        let ns: String = c
            .hget(format!("asynq:{{{queue}}}:t:{id}"), "pending_since")
            .await
            .expect("HGET");
        times.push(ns.parse::<i64>().expect("ns"));
    }
    times.sort_unstable();
    times
}

/// The unix seconds that received more than one task. An occurrence at second S is
/// enqueued a few milliseconds after S, so every occurrence lands in its own second.
fn crowded_seconds(times: &[i64]) -> Vec<i64> {
    let mut per_second = std::collections::BTreeMap::new();
    for t in times {
        *per_second.entry(t.div_euclid(1_000_000_000)).or_insert(0) += 1;
    }
    per_second
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(s, _)| s)
        .collect()
}

#[tokio::test]
async fn three_schedulers_enqueue_each_occurrence_once() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let mut scheds = Vec::new();
    for _ in 0..3 {
        let s = Scheduler::new(env.opt(), reporting(tx.clone()))
            .await
            .expect("scheduler");
        s.register(
            "@every 1s",
            Task::new("dedupe", "same"),
            [TaskOption::queue("dd")],
        )
        .expect("register");
        scheds.push(s);
    }
    drop(tx);
    let started = unix_now();
    for s in &scheds {
        s.start().await.expect("start");
    }
    // Five occurrences, then stop (the schedulers still running keep firing meanwhile).
    for _ in 0..5 {
        next_ok(&mut rx, "dedupe").await;
    }
    for s in &scheds {
        s.shutdown().await;
    }
    let stopped = unix_now();
    let mut hooks = 5;
    while let Ok(outcome) = rx.try_recv() {
        outcome.expect("enqueue ok");
        hooks += 1;
    }

    let times = enqueue_times(&env, "dd").await;
    // Exactly one task per occurrence (per second).
    assert!(times.len() >= 5, "{} tasks", times.len());
    assert!(
        crowded_seconds(&times).is_empty(),
        "two tasks for one occurrence: {times:?}"
    );
    // No more tasks than whole seconds the schedulers ran (3 copies each without claims).
    let seconds = (stopped.floor() - started.floor()) as usize;
    assert!(
        times.len() <= seconds,
        "{} tasks in {seconds} s",
        times.len()
    );
    // Only winners run the hooks, and each winner claimed its occurrence once.
    assert_eq!(hooks, times.len());
    let claims = env.keys("asynq:scheduler_fire:*").await;
    assert_eq!(claims.len(), times.len(), "{claims:?}");
    let mut c = env.conn().await;
    for k in &claims {
        let ttl: i64 = c.ttl(k).await.expect("TTL");
        assert!(ttl > 0 && ttl <= 301, "{k}: ttl {ttl}");
    }
}

#[tokio::test]
async fn without_deduplication_every_scheduler_enqueues_its_copy() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let mut scheds = Vec::new();
    for _ in 0..2 {
        let s = Scheduler::new(env.opt(), reporting(tx.clone()).deduplicate(false))
            .await
            .expect("scheduler");
        s.register(
            "@every 1s",
            Task::new("copy", "same"),
            [TaskOption::queue("cp")],
        )
        .expect("register");
        scheds.push(s);
    }
    for s in &scheds {
        s.start().await.expect("start");
    }
    for _ in 0..4 {
        next_ok(&mut rx, "copy").await;
    }
    for s in &scheds {
        s.shutdown().await;
    }
    let times = enqueue_times(&env, "cp").await;
    assert!(
        !crowded_seconds(&times).is_empty(),
        "expected asynq's duplicate copies: {times:?}"
    );
    assert!(env.keys("asynq:scheduler_fire:*").await.is_empty());
}

#[tokio::test]
async fn namespace_is_honoured() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let config = reporting(tx)
        .namespace(Namespace::new("myapp").expect("namespace"))
        .heartbeat_interval(Duration::from_secs(1));
    let sched = Scheduler::new(env.opt(), config).await.expect("scheduler");
    let id = sched
        .register("@every 1s", Task::new("ns", ""), [])
        .expect("register");
    sched.start().await.expect("start");
    let (task, _) = next_ok(&mut rx, "ns").await;
    assert!(env.exists(&format!("myapp:{{default}}:t:{task}")).await);
    let entries = format!("myapp:schedulers:{{{}}}", sched.id());
    wait_until("entries", || async { env.exists(&entries).await }).await;
    wait_until("history", || async {
        env.exists(&format!("myapp:scheduler_history:{id}")).await
    })
    .await;
    assert!(!env.keys("myapp:scheduler_fire:*").await.is_empty());
    assert!(env.keys("asynq:*").await.is_empty());
    sched.shutdown().await;
    assert!(!env.exists(&entries).await);
    assert!(
        "a{b}"
            .parse::<Namespace>()
            .expect_err("braces")
            .is_invalid_option()
    );
}

#[tokio::test]
async fn dropping_a_running_scheduler_stops_it() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel();
    let sched = Scheduler::new(env.opt(), reporting(tx))
        .await
        .expect("scheduler");
    sched
        .register("@every 1s", Task::new("dropped", ""), [])
        .expect("register");
    sched.start().await.expect("start");
    next_ok(&mut rx, "dropped").await;
    drop(sched);
    // The hook (and its sender) lives as long as the background tasks: the channel closes
    // once they have ended, so nothing fires any more.
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        while rx.recv().await.is_some() {}
    })
    .await;
    assert!(closed.is_ok(), "the scheduler kept running after drop");
    let n = env.llen("asynq:{default}:pending").await;
    assert!((1..=2).contains(&n), "{n} tasks");
}

/// A panicking pre- or post-enqueue hook is logged; the scheduler keeps firing and each
/// fire's task is still enqueued.
#[tokio::test]
async fn panicking_hooks_do_not_stop_the_scheduler() {
    let env = Env::start();
    let (tx, mut rx) = unbounded_channel::<Outcome>();
    let config = SchedulerConfig::new()
        .pre_enqueue(|_, _| panic!("pre hook bug"))
        .post_enqueue(move |res| {
            let _ = tx.send(
                res.as_ref()
                    .map(|i| (i.task_type.clone(), i.id.clone()))
                    .map_err(|e| e.to_string()),
            );
            panic!("post hook bug");
        });
    let sched = Scheduler::new(env.opt(), config).await.expect("scheduler");
    sched
        .register("@every 1s", Task::new("hooked", ""), [])
        .expect("register");
    sched.start().await.expect("start");
    let (first, _) = next_ok(&mut rx, "hooked").await;
    let (second, _) = next_ok(&mut rx, "hooked").await;
    assert_ne!(first, second);
    let mut c = env.conn().await;
    for id in [&first, &second] {
        let exists: bool = c
            .exists(format!("asynq:{{default}}:t:{id}"))
            .await
            .expect("EXISTS");
        assert!(exists, "task {id} was enqueued");
    }
    sched.shutdown().await;
}
