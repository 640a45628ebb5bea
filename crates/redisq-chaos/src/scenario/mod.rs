//! The scenarios: each starts a Redis deployment and a fleet of worker processes, enqueues a
//! known set of tasks under load, injects its faults, lets the fleet drain and hands
//! everything to the [`crate::checker`].

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redisq::{Client, parse_redis_uri};
use redisq_test_support::{AppendFsync, RedisCluster, RedisSentinelGroup, RedisServer, TcpProxy};
use tempfile::TempDir;
use tokio::task::JoinHandle;

use crate::checker::{self, CheckParams, Fault, Verdict};
use crate::fleet::{self, ClockSkew, Fleet, FleetSpec};
use crate::load::{self, Enqueued, LoadPlan};
use crate::record::{self, now_ms};
use crate::state;
use crate::worker;

mod clock;
mod data;
mod faults;

use self::clock::clock_skew;
pub use self::data::ODD_QUEUE;
use self::data::{hostile_data, misbehaving_handlers, soak};
use self::faults::{
    client_kill, cluster_failover, half_open, oom, redis_pause, redis_restart, sentinel_failover,
    slot_migration, worker_kill,
};

/// How big a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// For CI: seconds per scenario.
    Short,
    /// For the figures in `docs/reliability.md`: ten times the tasks and faults.
    Full,
}

impl Profile {
    fn scale(self) -> usize {
        match self {
            Profile::Short => 1,
            Profile::Full => 10,
        }
    }
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The `redisq-chaos` binary, started in `worker` mode for each worker process.
    pub exe: PathBuf,
    /// Short or full.
    pub profile: Profile,
    /// Seed of every random choice (fault timing, victims, queues, work).
    pub seed: u64,
    /// Keep the run's directory (worker logs) and print its path.
    pub keep: bool,
}

/// Every scenario, in the order `all` runs them.
pub const SCENARIOS: &[&str] = &[
    "worker-kill",
    "redis-restart-always",
    "redis-restart-everysec",
    "redis-pause",
    "client-kill",
    "half-open",
    "oom",
    "misbehaving-handlers",
    "hostile-data",
    "sentinel-failover",
    "cluster-failover",
    "slot-migration",
    "clock-skew",
    "soak",
];

/// The outcome of one scenario.
#[derive(Debug, Clone)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Faults injected.
    pub faults: usize,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// Worker processes that exited on their own (a crash).
    pub crashes: Vec<String>,
    /// Wall time of the scenario.
    pub elapsed: Duration,
    /// Where the logs are, when kept.
    pub dir: Option<PathBuf>,
    /// What the scenario observed besides the figures (how hostile data was handled).
    pub notes: Vec<String>,
}

impl Report {
    /// Whether every guarantee held.
    pub fn passed(&self) -> bool {
        self.verdict.passed() && self.crashes.is_empty()
    }
}

/// Runs one scenario by name.
pub async fn run(name: &str, opts: &RunOptions) -> Result<Report, String> {
    let started = Instant::now();
    let mut report = match name {
        "worker-kill" => worker_kill(opts).await?,
        "redis-restart-always" => redis_restart(opts, AppendFsync::Always).await?,
        "redis-restart-everysec" => redis_restart(opts, AppendFsync::EverySec).await?,
        "redis-pause" => redis_pause(opts).await?,
        "client-kill" => client_kill(opts).await?,
        "half-open" => half_open(opts).await?,
        "oom" => oom(opts).await?,
        "misbehaving-handlers" => misbehaving_handlers(opts).await?,
        "hostile-data" => hostile_data(opts).await?,
        "sentinel-failover" => sentinel_failover(opts).await?,
        "cluster-failover" => cluster_failover(opts).await?,
        "slot-migration" => slot_migration(opts).await?,
        "clock-skew" => clock_skew(opts).await?,
        "soak" => soak(opts).await?,
        other => {
            return Err(format!(
                "unknown scenario {other:?}; known: {}",
                SCENARIOS.join(", ")
            ));
        }
    };
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The queues of every scenario: weighted 6/3/1 on most workers, strict on one.
fn queues() -> Vec<(String, u32)> {
    vec![
        ("critical".to_owned(), 6),
        ("default".to_owned(), 3),
        ("low".to_owned(), 1),
    ]
}

fn fleet_spec() -> FleetSpec {
    FleetSpec {
        workers: 3,
        concurrency: 8,
        queues: queues(),
        strict_slots: vec![2],
        panicking_callbacks: false,
        clock_skew: None,
    }
}

/// One scenario's moving parts.
struct Harness {
    name: &'static str,
    opts: RunOptions,
    dir: TempDir,
    direct_url: String,
    fleet: Fleet,
    faults: Vec<Fault>,
    crashes: Vec<String>,
    rng: StdRng,
    /// Faults that are not on the timeline (misbehaving tasks), for the report.
    injected: usize,
    /// The queues whose tasks the checker follows.
    tracked: Vec<String>,
    /// A plain `redis://` URL of the server the checker reads at the end (the master after
    /// failovers).
    state_url: String,
    /// How early a scheduled task may start (see [`CheckParams`]).
    early_start_allowance_ms: Option<u64>,
}

impl Harness {
    /// Starts the fleet against `worker_url`; the producer and the checker use `direct_url`.
    fn start(
        name: &'static str,
        opts: &RunOptions,
        direct_url: &str,
        worker_url: &str,
    ) -> Result<Harness, String> {
        Harness::start_with(name, opts, direct_url, worker_url, fleet_spec())
    }

    fn start_with(
        name: &'static str,
        opts: &RunOptions,
        direct_url: &str,
        worker_url: &str,
        spec: FleetSpec,
    ) -> Result<Harness, String> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("redisq-chaos-{name}-"))
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        let tracked = spec.queues.iter().map(|(q, _)| q.clone()).collect();
        let fleet = Fleet::start(&opts.exe, worker_url, dir.path(), spec)?;
        Ok(Harness {
            name,
            opts: opts.clone(),
            dir,
            direct_url: direct_url.to_owned(),
            fleet,
            faults: Vec::new(),
            crashes: Vec::new(),
            rng: StdRng::seed_from_u64(opts.seed ^ fxhash(name)),
            injected: 0,
            tracked,
            state_url: direct_url.to_owned(),
            early_start_allowance_ms: None,
        })
    }

    /// The default load: `1500 × scale` tasks at 250/s over three queues.
    fn plan(&self) -> LoadPlan {
        let scale = self.opts.profile.scale();
        LoadPlan {
            prefix: self.name.to_owned(),
            count: 1500 * scale,
            rate: 250,
            queues: queues().into_iter().map(|(q, _)| q).collect(),
            max_work_ms: 10,
            max_retry: 25,
            seed: self.opts.seed,
            timeout: Duration::from_secs(30),
            misbehaving_percent: 0,
            scheduled_percent: 0,
            max_delay_ms: 0,
        }
    }

    async fn start_load(&self, plan: LoadPlan) -> Result<JoinHandle<Vec<Enqueued>>, String> {
        let opt = worker::conn_opt(&self.direct_url)?;
        let client = Client::connect(opt)
            .await
            .map_err(|e| format!("producer: {e}"))?;
        Ok(tokio::spawn(load::run(client, plan)))
    }

    /// A random pause in `range` (ms).
    async fn pause(&mut self, range: std::ops::Range<u64>) {
        let ms = self.rng.random_range(range);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Everything the workers wrote to stderr so far (the library's log lines).
    fn worker_stderr(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "stderr") {
                    out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                }
            }
        }
        out
    }

    /// Until `load` has enqueued everything: after a pause drawn from `pause` (ms), SIGKILLs
    /// a random worker and restarts it 200 ms later.
    async fn kill_workers_during(
        &mut self,
        load: &JoinHandle<Vec<Enqueued>>,
        pause: std::ops::Range<u64>,
    ) -> Result<(), String> {
        while !load.is_finished() {
            self.pause(pause.clone()).await;
            self.note_crashes();
            let slot = self.rng.random_range(0..self.fleet.len());
            let start = now_ms();
            if let Some(id) = self.fleet.kill(slot).await {
                self.fault("kill -9 worker", start, Some(id), None);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.fleet.spawn(slot)?;
        }
        Ok(())
    }

    fn note_crashes(&mut self) {
        for (id, status) in self.fleet.crashed() {
            let text = format!("worker-{id} exited on its own: {status}");
            if !self.crashes.contains(&text) {
                self.crashes.push(text);
            }
        }
    }

    fn fault(&mut self, kind: &str, start_ms: u64, worker: Option<u32>, window: Option<u64>) {
        self.faults.push(Fault {
            kind: kind.to_owned(),
            start_ms,
            end_ms: now_ms(),
            worker,
            loss_window_ms: window,
            lingers_ms: 0,
        });
    }

    /// Waits for the load, refills the fleet, waits until every queue is empty (or the drain
    /// deadline), stops the fleet and runs the checker.
    async fn finish(mut self, load: JoinHandle<Vec<Enqueued>>) -> Result<Report, String> {
        let enqueued = load
            .await
            .map_err(|e| format!("the producer failed: {e}"))?;
        self.note_crashes();
        self.fleet.respawn_missing()?;
        let queue_names = self.tracked.clone();
        // Long enough for the last fault's leases to expire and be recovered, and for the
        // retry back-off of tasks that lost several leases.
        let drain = Duration::from_secs(60 * self.opts.profile.scale() as u64);
        let deadline = Instant::now() + drain;
        let mut conn = state::connect(&self.state_url).await?;
        let mut empty_polls = 0;
        while Instant::now() < deadline {
            match state::backlog(&mut conn, &queue_names).await {
                Ok(0) => empty_polls += 1,
                Ok(_) => empty_polls = 0,
                Err(_) => {
                    conn = state::connect(&self.state_url).await?;
                }
            }
            // Twice in a row: a task between two containers is never missed.
            if empty_polls >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.note_crashes();
        self.fleet.stop(Duration::from_secs(10)).await;
        let final_state = state::read(&mut conn, &queue_names).await?;
        let events = record::read_all(self.dir.path())
            .map_err(|e| format!("cannot read the worker logs: {e}"))?;
        let params = CheckParams {
            grace_secs: i64::try_from((worker::LEASE + worker::LEASE_GRACE).as_secs())
                .unwrap_or(i64::MAX),
            expected_reruns: enqueued
                .iter()
                .filter(|e| load::misbehaves(&e.behaviour))
                .map(|e| e.id.clone())
                .collect(),
            early_start_allowance_ms: self.early_start_allowance_ms,
        };
        let verdict = checker::check(&enqueued, &events, &final_state, &self.faults, &params);
        let dir = if self.opts.keep {
            Some(self.dir.keep())
        } else {
            None
        };
        Ok(Report {
            scenario: self.name.to_owned(),
            faults: self.faults.len() + self.injected,
            verdict,
            crashes: self.crashes,
            elapsed: Duration::ZERO,
            dir,
            notes: Vec::new(),
        })
    }
}

/// A stable hash of the scenario name, so each scenario gets its own random stream.
fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
