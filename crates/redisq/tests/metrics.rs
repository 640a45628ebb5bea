//! The server's metrics (feature `metrics`): a real server on a private Redis, a recorder of
//! our own installed globally, and one attempt of each kind we can provoke: a success, a slow
//! success whose lease is renewed, a failure that is retried and one that is archived.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use redisq::{HandlerError, Server, Task, TaskContext, TaskOption};
use tokio::sync::Notify;

use common::{Env, fast_config, wait_until};

/// A histogram's samples.
#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// A recorder that keeps every metric by its name and sorted labels (`name{a=x,b=y}`).
#[derive(Default)]
struct TestRecorder {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
    descriptions: Mutex<BTreeMap<String, (Option<Unit>, String)>>,
}

fn render(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

impl TestRecorder {
    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.descriptions
            .lock()
            .unwrap()
            .insert(key.as_str().to_string(), (unit, description.to_string()));
    }

    fn counter(&self, key: &str) -> u64 {
        let c = self.counters.lock().unwrap();
        c.get(key).map_or(0, |v| v.load(Ordering::SeqCst))
    }

    /// Sum of every counter of this name, whatever its labels.
    fn counter_sum(&self, name: &str) -> u64 {
        let prefix = format!("{name}{{");
        let c = self.counters.lock().unwrap();
        c.iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.load(Ordering::SeqCst))
            .sum()
    }

    fn gauge(&self, key: &str) -> Option<f64> {
        let g = self.gauges.lock().unwrap();
        g.get(key).map(|v| f64::from_bits(v.load(Ordering::SeqCst)))
    }

    fn histogram(&self, key: &str) -> Vec<f64> {
        let h = self.histograms.lock().unwrap();
        h.get(key)
            .map(|s| s.0.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut c = self.counters.lock().unwrap();
        Counter::from_arc(c.entry(render(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut g = self.gauges.lock().unwrap();
        Gauge::from_arc(g.entry(render(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut h = self.histograms.lock().unwrap();
        Histogram::from_arc(h.entry(render(key)).or_default().clone())
    }
}

/// Installs the recorder once for this test binary.
fn recorder() -> &'static TestRecorder {
    static RECORDER: std::sync::OnceLock<&'static TestRecorder> = std::sync::OnceLock::new();
    RECORDER.get_or_init(|| {
        let r: &'static TestRecorder = Box::leak(Box::default());
        metrics::set_global_recorder(r).expect("the only recorder of this test binary");
        r
    })
}

const Q: &str = "metered";

#[tokio::test]
async fn a_server_records_outcomes_durations_batches_and_lease_renewals() {
    let rec = recorder();
    let env = Env::start().await;
    let release = Arc::new(Notify::new());
    let server = Server::new(
        env.opt(),
        fast_config()
            .queues([(Q, 1)])
            .heartbeat_interval(Duration::from_millis(200)),
    )
    .await
    .expect("server");
    let handler = {
        let release = release.clone();
        move |_ctx: TaskContext, task: Task| {
            let release = release.clone();
            async move {
                match task.task_type() {
                    "ok" => Ok(()),
                    "slow" => {
                        release.notified().await;
                        Ok(())
                    }
                    _ => Err(HandlerError::msg("boom")),
                }
            }
        }
    };
    server.start(handler).await.expect("start");

    let in_flight = format!("redisq_tasks_in_flight{{queue={Q}}}");
    let outcome = |ty: &str, outcome: &str| {
        format!("redisq_task_outcomes_total{{outcome={outcome},queue={Q},task_type={ty}}}")
    };
    let duration = |ty: &str, outcome: &str| {
        format!("redisq_task_duration_seconds{{outcome={outcome},queue={Q},task_type={ty}}}")
    };

    // A slow task: in flight, and its lease renewed by the heartbeat while it runs.
    env.client
        .enqueue_with(&Task::new("slow", ""), [TaskOption::queue(Q)])
        .await
        .expect("enqueue slow");
    wait_until("the slow task in flight and its lease renewed", || async {
        rec.gauge(&in_flight) == Some(1.0) && rec.counter("redisq_lease_renewals_total{}") >= 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    release.notify_one();
    // The outcome is recorded before it is written; the attempt leaves the gauge after.
    wait_until("the slow task done and out of flight", || async {
        rec.counter(&outcome("slow", "success")) == 1 && rec.gauge(&in_flight) == Some(0.0)
    })
    .await;
    let slow = rec.histogram(&duration("slow", "success"));
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert!(slow[0] >= 0.3, "the slow attempt took {}s", slow[0]);

    // A success, a failure retried later, a failure archived at once.
    for (ty, opts) in [
        ("ok", vec![TaskOption::queue(Q)]),
        (
            "flaky",
            vec![TaskOption::queue(Q), TaskOption::max_retry(3)],
        ),
        (
            "broken",
            vec![TaskOption::queue(Q), TaskOption::max_retry(0)],
        ),
    ] {
        env.client
            .enqueue_with(&Task::new(ty, ""), opts)
            .await
            .expect("enqueue");
    }
    wait_until("every attempt recorded", || async {
        rec.counter_sum("redisq_task_outcomes_total") == 4
    })
    .await;
    assert_eq!(rec.counter(&outcome("ok", "success")), 1);
    assert_eq!(rec.counter(&outcome("flaky", "retry")), 1);
    assert_eq!(rec.counter(&outcome("broken", "archived")), 1);
    for (ty, out) in [
        ("ok", "success"),
        ("flaky", "retry"),
        ("broken", "archived"),
    ] {
        let d = rec.histogram(&duration(ty, out));
        assert_eq!(d.len(), 1, "{ty}: {d:?}");
        assert!(d[0] >= 0.0 && d[0] < 10.0, "{ty}: {d:?}");
    }
    wait_until("nothing in flight", || async {
        rec.gauge(&in_flight) == Some(0.0)
    })
    .await;

    // Every task was taken by a dequeue call or handed over by the completer; at least the
    // first one by a dequeue call.
    let fetched = rec.histogram(&format!("redisq_fetch_batch_size{{queue={Q}}}"));
    let fetched_total: f64 = fetched.iter().sum();
    assert!(
        (1.0..=4.0).contains(&fetched_total),
        "fetch batches {fetched:?}"
    );
    // The two successes without retention went through the completer.
    let completed = rec.histogram("redisq_completion_batch_size{}");
    assert_eq!(completed.iter().sum::<f64>(), 2.0, "{completed:?}");
    assert_eq!(rec.counter_sum("redisq_lease_renewal_failures_total"), 0);

    let descriptions = rec.descriptions.lock().unwrap().clone();
    for name in [
        "redisq_task_duration_seconds",
        "redisq_task_outcomes_total",
        "redisq_tasks_in_flight",
        "redisq_fetch_batch_size",
        "redisq_completion_batch_size",
        "redisq_lease_renewals_total",
        "redisq_lease_renewal_failures_total",
    ] {
        let (_, help) = descriptions.get(name).unwrap_or_else(|| panic!("{name}"));
        assert!(!help.is_empty(), "{name}");
    }
    assert_eq!(
        descriptions["redisq_task_duration_seconds"].0,
        Some(Unit::Seconds)
    );
    server.shutdown().await;
}
