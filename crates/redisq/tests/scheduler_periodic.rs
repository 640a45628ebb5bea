//! PeriodicTaskManager against a real Redis: entries follow the provider between syncs,
//! start fails on a bad initial load, and later bad loads keep the previous entries.

mod scheduler_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redisq::{
    PeriodicTaskConfig, PeriodicTaskConfigProvider, PeriodicTaskManager, PeriodicTaskManagerConfig,
    ProviderFuture, SchedulerConfig, Task, TaskOption,
};
use scheduler_support::{Env, wait_until};

type Configs = Arc<Mutex<Result<Vec<PeriodicTaskConfig>, String>>>;

/// A provider serving whatever `state` holds, counting its calls.
#[derive(Clone)]
struct TestProvider {
    state: Configs,
    calls: Arc<AtomicUsize>,
}

impl TestProvider {
    fn new(initial: Result<Vec<PeriodicTaskConfig>, String>) -> TestProvider {
        TestProvider {
            state: Arc::new(Mutex::new(initial)),
            calls: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn set(&self, v: Result<Vec<PeriodicTaskConfig>, String>) {
        *self.state.lock().expect("lock") = v;
    }

    /// Waits until a sync that started after this call has been applied.
    async fn synced(&self) {
        let c0 = self.calls.load(Ordering::SeqCst);
        wait_until("two more provider calls", || async {
            self.calls.load(Ordering::SeqCst) >= c0 + 2
        })
        .await;
    }
}

impl PeriodicTaskConfigProvider for TestProvider {
    fn get_configs(&self) -> ProviderFuture<'_> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let v = self.state.lock().expect("lock").clone();
            v.map_err(Into::into)
        })
    }
}

fn config() -> PeriodicTaskManagerConfig {
    PeriodicTaskManagerConfig::new()
        .sync_interval(Duration::from_millis(50))
        .scheduler(SchedulerConfig::new().heartbeat_interval(Duration::from_secs(1)))
}

fn hourly(ty: &str) -> PeriodicTaskConfig {
    PeriodicTaskConfig::new("@every 1h", Task::new(ty, "p"))
}

#[tokio::test]
async fn entries_follow_the_provider() {
    let env = Env::start();
    let a = hourly("a");
    let p = TestProvider::new(Ok(vec![a.clone()]));
    let mgr = PeriodicTaskManager::new(env.opt(), p.clone(), config())
        .await
        .expect("manager");
    mgr.start().await.expect("start");
    let ids = mgr.scheduler().entry_ids();
    assert_eq!(ids.len(), 1);
    let a_id = ids[0].clone();

    // Added without restart, and it really fires.
    let b = PeriodicTaskConfig::new("@every 1s", Task::new("b", "tick"))
        .with_options([TaskOption::queue("pq")]);
    p.set(Ok(vec![a.clone(), b.clone()]));
    wait_until("b registered", || async {
        mgr.scheduler().entry_ids().len() == 2
    })
    .await;
    wait_until("b enqueued", || async {
        env.llen("asynq:{pq}:pending").await >= 1
    })
    .await;
    let b_id = mgr.scheduler().entry_ids()[1].clone();

    // Removed: a goes, b keeps its entry.
    p.set(Ok(vec![b.clone()]));
    wait_until("a unregistered", || async {
        mgr.scheduler().entry_ids() == vec![b_id.clone()]
    })
    .await;

    // An invalid config anywhere: the sync is skipped, entries unchanged.
    p.set(Ok(vec![
        b.clone(),
        PeriodicTaskConfig::new("61 * * * *", Task::new("c", "")),
    ]));
    p.synced().await;
    assert_eq!(mgr.scheduler().entry_ids(), vec![b_id.clone()]);
    p.set(Ok(vec![PeriodicTaskConfig::new(
        "@daily",
        Task::new("", ""),
    )]));
    p.synced().await;
    assert_eq!(mgr.scheduler().entry_ids(), vec![b_id.clone()]);
    // A failing provider: skipped too.
    p.set(Err("database unavailable".into()));
    p.synced().await;
    assert_eq!(mgr.scheduler().entry_ids(), vec![b_id.clone()]);
    let err = mgr.sync_now().await.expect_err("provider error");
    assert!(err.to_string().contains("database unavailable"), "{err}");

    // A changed config (other options) is a new entry; duplicates register once.
    let b2 = b.clone().with_options([TaskOption::max_retry(1)]);
    p.set(Ok(vec![b2.clone(), b2.clone(), a.clone()]));
    wait_until("b replaced", || async {
        let ids = mgr.scheduler().entry_ids();
        ids.len() == 2 && !ids.contains(&b_id)
    })
    .await;
    assert!(
        !mgr.scheduler().entry_ids().contains(&a_id),
        "a got a new entry"
    );

    // The heartbeat shows what is registered.
    let key = format!("asynq:schedulers:{{{}}}", mgr.scheduler().id());
    wait_until("heartbeat with two entries", || async {
        env.llen(&key).await == 2
    })
    .await;

    mgr.shutdown().await;
    assert!(!env.exists(&key).await);
    assert!(env.keys("asynq:scheduler_history:*").await.is_empty());
    assert!(env.llen("asynq:{pq}:pending").await >= 1);
}

#[tokio::test]
async fn start_fails_on_a_bad_initial_load() {
    let env = Env::start();
    for (what, initial, invalid_option) in [
        ("provider error", Err("boom".to_string()), false),
        (
            "bad spec",
            Ok(vec![
                hourly("a"),
                PeriodicTaskConfig::new("* * *", Task::new("b", "")),
            ]),
            true,
        ),
        (
            "empty spec",
            Ok(vec![PeriodicTaskConfig::new("", Task::new("b", ""))]),
            true,
        ),
        (
            "empty type",
            Ok(vec![PeriodicTaskConfig::new("@daily", Task::new("", ""))]),
            true,
        ),
        (
            "bad option",
            Ok(vec![
                hourly("a").with_options([TaskOption::unique(Duration::ZERO)]),
            ]),
            true,
        ),
    ] {
        let p = TestProvider::new(initial);
        let mgr = PeriodicTaskManager::new(env.opt(), p, config())
            .await
            .expect("manager");
        let err = mgr.start().await.expect_err(what);
        assert_eq!(err.is_invalid_option(), invalid_option, "{what}: {err}");
        assert!(mgr.scheduler().entry_ids().is_empty(), "{what}");
        mgr.shutdown().await;
    }
    assert!(env.keys("*").await.is_empty());
}

#[tokio::test]
async fn closures_are_providers() {
    let env = Env::start();
    let provider = || async {
        Ok::<_, std::io::Error>(vec![PeriodicTaskConfig::new(
            "@every 1s",
            Task::new("closure", ""),
        )])
    };
    let mgr = PeriodicTaskManager::new(env.opt(), provider, config())
        .await
        .expect("manager");
    mgr.start().await.expect("start");
    assert!(mgr.start().await.is_err(), "second start");
    wait_until("enqueued", || async {
        env.llen("asynq:{default}:pending").await >= 1
    })
    .await;
    mgr.shutdown().await;
}

#[test]
fn config_hash_matches_asynq() {
    // asynq: sha256(cronspec + type + payload + sorted option strings), hex.
    let c = PeriodicTaskConfig::new("@every 1h", Task::new("cleanup", "weekly"))
        .with_options([TaskOption::queue("low"), TaskOption::max_retry(2)]);
    assert_eq!(
        c.hash(),
        "6d6fad575fbb16716d81e62a4bfcffdb7fd6cc9e7a50126b5dc6d2ec866acaa4"
    );
    let reordered = PeriodicTaskConfig::new("@every 1h", Task::new("cleanup", "weekly"))
        .with_options([TaskOption::max_retry(2), TaskOption::queue("low")]);
    assert_eq!(c.hash(), reordered.hash());
}
