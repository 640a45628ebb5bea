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

/// How far the clock-skew scenario sets worker clocks apart from the host's.
const SKEW_MS: i64 = 3000;
/// Due times are whole unix seconds (asynq's format): a task due at 10.9 s is due from 10 s.
const DUE_RESOLUTION_MS: u64 = 1000;

/// Clock skew: four workers whose wall clocks run 3 s ahead, 3 s behind, 3 s ahead and 3 s
/// behind the host's (and Redis's), set with libfaketime; a random one is SIGKILLed every
/// 1–2 s and restarted 200 ms later with the same skew, so recovery has work to do. 30 % of
/// the tasks are scheduled up to 5 s ahead.
///
/// Correct means: nothing lost or stuck, every duplicate explained by a kill (skew alone
/// never runs a task twice: leases and the recoverer's cutoff use Redis's clock), and no
/// scheduled task starting earlier than its due time minus the one-second resolution of due
/// times (asynq stores them in whole seconds; forwarding compares them with Redis's clock,
/// so the skew adds nothing).
async fn clock_skew(opts: &RunOptions) -> Result<Report, String> {
    let lib = fleet::find_libfaketime()?;
    let redis = RedisServer::start();
    let per_slot_ms = vec![SKEW_MS, -SKEW_MS, SKEW_MS, -SKEW_MS];
    let spec = FleetSpec {
        workers: per_slot_ms.len(),
        clock_skew: Some(ClockSkew {
            lib,
            per_slot_ms: per_slot_ms.clone(),
        }),
        ..fleet_spec()
    };
    let mut h = Harness::start_with("clock-skew", opts, &redis.url(), &redis.url(), spec)?;
    h.early_start_allowance_ms = Some(DUE_RESOLUTION_MS);
    let offsets = verify_skews(&h, &per_slot_ms).await?;
    let plan = LoadPlan {
        scheduled_percent: 30,
        max_delay_ms: 5000,
        ..h.plan()
    };
    let load = h.start_load(plan).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        h.note_crashes();
        let slot = h.rng.random_range(0..h.fleet.len());
        let start = now_ms();
        if let Some(id) = h.fleet.kill(slot).await {
            h.fault("kill -9 worker", start, Some(id), None);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        h.fleet.spawn(slot)?;
    }
    let mut report = h.finish(load).await?;
    report.notes.push(format!(
        "worker clocks measured at start, ms from the host's: {offsets:?}"
    ));
    report.notes.push(format!(
        "scheduled tasks started: {}; earliest first start vs its due time: {} ms (allowed: -{} ms)",
        report.verdict.scheduled_started,
        report
            .verdict
            .earliest_vs_due_ms
            .map_or("-".to_owned(), |d| d.to_string()),
        DUE_RESOLUTION_MS
    ));
    Ok(report)
}

/// Checks that each worker's wall clock really is skewed as asked (libfaketime preloaded and
/// working): each writes its clock to stderr when it starts. Returns the measured offsets.
async fn verify_skews(h: &Harness, expected_ms: &[i64]) -> Result<Vec<i64>, String> {
    let ids = h.fleet.running_ids();
    let mut measured = Vec::new();
    for (id, want) in ids.iter().zip(expected_ms) {
        let path = h.dir.path().join(format!("worker-{id}.stderr"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let clock = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let line = text.lines().find_map(|l| {
                l.strip_prefix(worker::CLOCK_LINE)
                    .and_then(|rest| rest.trim().parse::<i64>().ok())
            });
            if let Some(clock) = line {
                break clock;
            }
            if Instant::now() > deadline {
                return Err(format!("worker-{id} never reported its clock"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Read soon after the worker wrote it (the host's clock moved on since, by less than
        // a second unless the machine is very loaded): the offset is roughly the skew; half
        // the skew tells a working libfaketime from one that did nothing.
        let offset = clock - i64::try_from(now_ms()).unwrap_or(i64::MAX);
        if (offset - want).abs() > want.abs() / 2 {
            return Err(format!(
                "worker-{id}'s clock is {offset} ms from the host's, expected about {want} ms: \
                 libfaketime was preloaded but did not move the worker's clock"
            ));
        }
        measured.push(offset);
    }
    Ok(measured)
}

/// SIGKILL a random worker every 0.4–1.2 s while tasks flow; restart it after 200 ms.
async fn worker_kill(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("worker-kill", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(400..1200).await;
        h.note_crashes();
        let slot = h.rng.random_range(0..h.fleet.len());
        let start = now_ms();
        if let Some(id) = h.fleet.kill(slot).await {
            h.fault("kill -9 worker", start, Some(id), None);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        h.fleet.spawn(slot)?;
    }
    h.finish(load).await
}

/// Restart Redis (append-only) every 1–2 s, alternating a graceful `SHUTDOWN` and a SIGKILL.
///
/// With `appendfsync always` every acknowledged write is on disk: nothing may be lost. With
/// `everysec` a SIGKILL may lose the writes of the last second or two (Redis fsyncs once a
/// second and, when a sync is slow, lets the next one wait up to another second), so
/// acknowledged enqueues from the 2 s before a SIGKILL may be missing: they are counted
/// apart; any other missing task is lost.
async fn redis_restart(opts: &RunOptions, fsync: AppendFsync) -> Result<Report, String> {
    let mut redis = RedisServer::builder().append_only(fsync).start();
    let name = match fsync {
        AppendFsync::Always => "redis-restart-always",
        _ => "redis-restart-everysec",
    };
    let url = redis.url();
    let mut h = Harness::start(name, opts, &url, &url)?;
    let load = h.start_load(h.plan()).await?;
    let mut graceful = true;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        if graceful {
            tokio::task::block_in_place(|| redis.shutdown_and_restart());
            h.fault("redis SHUTDOWN + restart", start, None, None);
        } else {
            tokio::task::block_in_place(|| redis.restart());
            let window = (fsync == AppendFsync::EverySec).then_some(2000);
            h.fault("redis SIGKILL + restart", start, None, window);
        }
        graceful = !graceful;
    }
    h.finish(load).await
}

/// SIGSTOP Redis for 4 s (longer than the 3 s read timeout), then SIGCONT; repeated.
async fn redis_pause(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("redis-pause", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        redis.pause();
        tokio::time::sleep(Duration::from_secs(4)).await;
        redis.resume();
        h.fault("redis SIGSTOP 4 s", start, None, None);
    }
    h.finish(load).await
}

/// `CLIENT KILL` storms: every client connection (normal and pub/sub) killed every 100 ms
/// for 2 s, then 1–2 s of calm.
async fn client_kill(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("client-kill", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    let mut admin = state::connect(&redis.url()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        for _ in 0..20 {
            for kind in ["normal", "pubsub"] {
                // Our own connection is skipped (SKIPME yes is the default).
                let _: redis::RedisResult<i64> = redis::cmd("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg(kind)
                    .query_async(&mut admin)
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        h.fault("CLIENT KILL storm 2 s", start, None, None);
    }
    h.finish(load).await
}

/// Half-open connections: the workers reach Redis through a proxy that freezes every open
/// connection (nothing is forwarded, nothing is closed), as a dead network path would. The
/// frozen connections are left open; the workers must notice by themselves (read timeouts,
/// pub/sub pings) and reconnect.
async fn half_open(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let proxy = TcpProxy::start(redis.addr());
    let mut h = Harness::start("half-open", opts, &redis.url(), &proxy.url())?;
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(1500..2500).await;
        let start = now_ms();
        proxy.freeze_existing();
        h.fault("freeze every worker connection", start, None, None);
        // The frozen connections block their commands (lease extensions too) until the read
        // timeout; with a lease shorter than that, leases run out and tasks are recovered.
        if let Some(f) = h.faults.last_mut() {
            f.lingers_ms = redisq::DEFAULT_READ_TIMEOUT.as_millis() as u64 + 500;
        }
    }
    let report = h.finish(load).await;
    drop(proxy);
    report
}

/// Out of memory: `maxmemory` set to the memory in use (`noeviction`) for 2 s, then lifted.
/// Enqueues must fail cleanly (no half-written task), servers keep running and drain after.
async fn oom(opts: &RunOptions) -> Result<Report, String> {
    let redis = RedisServer::start();
    let mut h = Harness::start("oom", opts, &redis.url(), &redis.url())?;
    let load = h.start_load(h.plan()).await?;
    let mut admin = state::connect(&redis.url()).await?;
    let setter = admin.clone();
    let config_set = move |name: &'static str, value: String| {
        let mut admin = setter.clone();
        async move {
            redis::cmd("CONFIG")
                .arg("SET")
                .arg(name)
                .arg(value)
                .query_async::<()>(&mut admin)
                .await
                .map_err(|e| format!("CONFIG SET {name}: {e}"))
        }
    };
    config_set("maxmemory-policy", "noeviction".to_owned()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut admin)
            .await
            .map_err(|e| e.to_string())?;
        let used = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or("INFO memory has no used_memory")?;
        let start = now_ms();
        config_set("maxmemory", used.to_string()).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        config_set("maxmemory", "0".to_owned()).await?;
        h.fault("maxmemory reached 2 s", start, None, None);
    }
    h.finish(load).await
}

/// Misbehaving user code: 20 % of the tasks panic, block their thread for 200 ms, ignore their
/// 1 s deadline (running 1.5 s, then failing) or never return, each on its first attempt;
/// every worker's error handler, failure predicate and health check panic, and so does the
/// retry delay of panicking tasks. Every task must still finish exactly once, no worker may
/// crash and no other task may run twice.
async fn misbehaving_handlers(opts: &RunOptions) -> Result<Report, String> {
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
async fn admin_cmd(conn: &mut state::StateConn, cmd: &redis::Cmd) -> Result<redis::Value, String> {
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
async fn hostile_data(opts: &RunOptions) -> Result<Report, String> {
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

/// Sentinel failover under load: a forced `SENTINEL FAILOVER` every 1–2 s (the replica is
/// promoted, the old master follows it). Workers and the producer find the master through
/// the sentinels. Replication is asynchronous, so enqueues acknowledged by the old master in
/// the second before a failover and during it may be missing afterwards: they are counted
/// apart (lost in window), like `everysec` losses.
async fn sentinel_failover(opts: &RunOptions) -> Result<Report, String> {
    let group = tokio::task::spawn_blocking(RedisSentinelGroup::start)
        .await
        .map_err(|e| format!("cannot start the sentinel group: {e}"))?;
    let uri = format!(
        "redis-sentinel://{}?master={}",
        group.sentinel_addrs().join(","),
        group.master_name()
    );
    let mut h = Harness::start("sentinel-failover", opts, &uri, &uri)?;
    h.state_url = format!("redis://{}", group.master_addr());
    let load = h.start_load(h.plan()).await?;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        group.failover().await;
        h.fault("sentinel failover", start, None, Some(1000));
    }
    h.state_url = format!("redis://{}", group.master_addr());
    h.finish(load).await
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
async fn soak(opts: &RunOptions) -> Result<Report, String> {
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

/// Redis Cluster failover under load: 3 masters with a replica each; every 1–2 s one shard's
/// replica is promoted with `CLUSTER FAILOVER` (coordinated: the master stops taking writes
/// until the replica has caught up, so no acknowledged write may be lost), shard after shard.
async fn cluster_failover(opts: &RunOptions) -> Result<Report, String> {
    let cluster =
        tokio::task::spawn_blocking(|| RedisCluster::builder().with_replicas(true).start())
            .await
            .map_err(|e| format!("cannot start the cluster: {e}"))?;
    let url = format!("cluster:{}", cluster.addrs().join(","));
    let mut h = Harness::start("cluster-failover", opts, &url, &url)?;
    let load = h.start_load(h.plan()).await?;
    let mut shard = 0;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        tokio::task::block_in_place(|| cluster.failover(shard));
        h.fault("cluster failover (replica promoted)", start, None, None);
        shard = (shard + 1) % 3;
    }
    h.finish(load).await
}

/// Slot migration while tasks flow: on a 3-master Cluster, every 1–2 s the hash slot of
/// `{critical}` (all of that queue's keys) is moved to the next master, as
/// `redis-cli --cluster reshard` does; clients meet `ASK` and `TRYAGAIN` replies meanwhile.
async fn slot_migration(opts: &RunOptions) -> Result<Report, String> {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .map_err(|e| format!("cannot start the cluster: {e}"))?;
    let url = format!("cluster:{}", cluster.addrs().join(","));
    let mut h = Harness::start("slot-migration", opts, &url, &url)?;
    let mut admin = state::connect(&url).await?;
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg("asynq:{critical}:pending")
        .query_async(&mut admin)
        .await
        .map_err(|e| format!("CLUSTER KEYSLOT: {e}"))?;
    let load = h.start_load(h.plan()).await?;
    let mut shard = 0;
    while !load.is_finished() {
        h.pause(1000..2000).await;
        let start = now_ms();
        tokio::task::block_in_place(|| cluster.migrate_slot(slot, shard));
        h.fault("slot of {critical} migrated", start, None, None);
        shard = (shard + 1) % 3;
    }
    h.finish(load).await
}
