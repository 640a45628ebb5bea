//! The producer: enqueues a known set of tasks at a steady rate and records, for each, whether
//! the enqueue was acknowledged to the client.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redisq::{Client, Task, TaskOption};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::record::now_ms;
use crate::worker::Behaviour;

/// What to enqueue.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// Task IDs are `<prefix>-<n>`.
    pub prefix: String,
    /// Number of tasks.
    pub count: usize,
    /// Enqueues per second.
    pub rate: u32,
    /// Queues, picked at random.
    pub queues: Vec<String>,
    /// Handler work per task, picked uniformly from `0..=max_work_ms`.
    pub max_work_ms: u64,
    /// Retries allowed (faults cost retries: a recovered task counts one).
    pub max_retry: i32,
    /// Seed of the random choices.
    pub seed: u64,
    /// The task timeout.
    pub timeout: Duration,
    /// Share (0–100) of tasks whose handler misbehaves (panics, blocks its thread, ignores
    /// its deadline, never returns), spread evenly over those behaviours.
    pub misbehaving_percent: u32,
    /// Share (0–100) of tasks scheduled for later (`process_at`), by up to `max_delay_ms`.
    pub scheduled_percent: u32,
    /// Longest delay of a scheduled task.
    pub max_delay_ms: u64,
}

/// Whether a task's handler misbehaves on purpose (and may run more than once).
pub fn misbehaves(b: &Behaviour) -> bool {
    !matches!(b, Behaviour::Work(_))
}

/// The client's view of one enqueue.
#[derive(Debug, Clone)]
pub struct Enqueued {
    /// Task ID.
    pub id: String,
    /// Queue.
    pub queue: String,
    /// `Ok` when the client got an acknowledgement, else the error it saw.
    pub result: Result<(), String>,
    /// What its handler does.
    pub behaviour: Behaviour,
    /// When the call returned (Unix ms).
    pub at_ms: u64,
    /// A scheduled task's due time (Unix ms, as given to `process_at`).
    pub due_ms: Option<u64>,
}

/// Enqueues the plan; at most 16 calls are in flight, so a stalled Redis slows the producer
/// down instead of piling up calls.
pub async fn run(client: Client, plan: LoadPlan) -> Vec<Enqueued> {
    let client = Arc::new(client);
    let permits = Arc::new(Semaphore::new(16));
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut calls = JoinSet::new();
    let start = tokio::time::Instant::now();
    let interval = Duration::from_secs(1) / plan.rate.max(1);
    for n in 0..plan.count {
        tokio::time::sleep_until(start + interval * u32::try_from(n).unwrap_or(u32::MAX)).await;
        let queue = plan.queues[rng.random_range(0..plan.queues.len())].clone();
        let work = rng.random_range(0..=plan.max_work_ms);
        let behaviour = if rng.random_range(0..100) < plan.misbehaving_percent {
            match rng.random_range(0..4) {
                0 => Behaviour::PanicOnce,
                1 => Behaviour::Block(200),
                2 => Behaviour::IgnoreCancelOnce(plan.timeout.as_millis() as u64 + 500),
                _ => Behaviour::HangOnce,
            }
        } else {
            Behaviour::Work(work)
        };
        // Drawn only when asked for, so other scenarios keep their random streams.
        let delay_ms = (plan.scheduled_percent > 0
            && rng.random_range(0..100) < plan.scheduled_percent)
            .then(|| rng.random_range(1..=plan.max_delay_ms.max(1)));
        let id = format!("{}-{n}", plan.prefix);
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let client = client.clone();
        let max_retry = plan.max_retry;
        let timeout = plan.timeout;
        calls.spawn(async move {
            let task = Task::new("chaos", behaviour.payload());
            let mut options = vec![
                TaskOption::queue(queue.clone()),
                TaskOption::task_id(id.clone()),
                TaskOption::max_retry(max_retry),
                TaskOption::timeout(timeout),
            ];
            let due_ms = delay_ms.map(|d| {
                let due = now_ms() + d;
                options.push(TaskOption::process_at(
                    std::time::UNIX_EPOCH + Duration::from_millis(due),
                ));
                due
            });
            let result = client
                .enqueue_with(&task, options)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string());
            drop(permit);
            Enqueued {
                id,
                queue,
                result,
                behaviour,
                at_ms: now_ms(),
                due_ms,
            }
        });
    }
    let mut out = Vec::with_capacity(plan.count);
    while let Some(done) = calls.join_next().await {
        out.push(done.expect("an enqueue call panicked"));
    }
    out
}
