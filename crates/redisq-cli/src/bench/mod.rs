//! `redisq bench`: throughput, latency and Redis cost of the hot path.
//!
//! Every mode prints its figures plus Redis commands and Redis CPU time per task, taken from
//! `INFO` before and after the measured part. Without `--redis` a private `redis-server` is
//! started for the run. With `--redis` the benchmark writes under the key namespace
//! `redisq-bench` only, and deletes those keys first.
//!
//! With `--cluster` the run talks to a Redis Cluster (a private 3-master one, or the one whose
//! node `--redis` names) and reports the Redis cost of every master apart and in total.

mod floor;
mod modes;
mod nodes;
mod private_cluster;
mod private_redis;
mod scale;
mod stats;

use std::error::Error;
use std::fmt;
use std::time::Duration;

use clap::{Args, ValueEnum};
use redisq::{RedisAddr, RedisClusterClientOpt, RedisConnOpt, parse_redis_uri};

use self::private_cluster::PrivateCluster;
use self::private_redis::PrivateRedis;
pub(crate) use self::stats::RedisStats;

pub(crate) type BoxError = Box<dyn Error + Send + Sync>;

/// The namespace the benchmark writes under.
pub(crate) const NAMESPACE: &str = "redisq-bench";

/// What to measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Mode {
    /// Enqueue N tasks from C concurrent producers (optionally in batches of K).
    Enqueue,
    /// Prefill N tasks (untimed), then drain them with a server of concurrency C.
    Process,
    /// Enqueue at a fixed rate R while a server runs; latency from enqueue to handler start.
    E2e,
    /// Redis commands per second caused by an idle server.
    Idle,
    /// Schedule N tasks due at whole seconds (R per second); lateness after the due time.
    Scheduled,
    /// `--servers` S servers on one queue: idle Redis load, then N tasks at rate R, each
    /// arriving at an idle fleet (Redis cost per task, pickup latency).
    Fleet,
    /// Redis memory per pending and per retained completed task; the worker's RSS with C
    /// tasks active at once.
    Memory,
    /// Redis CPU per call when N calls trickle in at rate R (PING, a no-op script, an
    /// enqueue with no server): the floor under `e2e`'s cost per task.
    Floor,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Enqueue => "enqueue",
            Mode::Process => "process",
            Mode::E2e => "e2e",
            Mode::Idle => "idle",
            Mode::Scheduled => "scheduled",
            Mode::Fleet => "fleet",
            Mode::Memory => "memory",
            Mode::Floor => "floor",
        })
    }
}

/// Arguments of `redisq bench`.
#[derive(Clone, Debug, Args)]
pub(crate) struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub(crate) mode: Mode,
    /// Redis URL (redis://, rediss://, redis-socket://, redis-sentinel://); default: a
    /// private redis-server started for the run.
    #[arg(long, env = "REDISQ_URL")]
    pub(crate) redis: Option<String>,
    /// Number of tasks.
    #[arg(short = 'n', long, default_value_t = 100_000)]
    pub(crate) n: usize,
    /// Producers (enqueue) or worker concurrency (process, e2e).
    #[arg(long, default_value_t = 10)]
    pub(crate) concurrency: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 100)]
    pub(crate) payload: usize,
    /// Enqueue in batches of this many tasks (enqueue, and the prefill of process).
    #[arg(long)]
    pub(crate) batch: Option<usize>,
    /// Enqueue rate in tasks per second (e2e), or due tasks per second (scheduled).
    #[arg(long, default_value_t = 1000)]
    pub(crate) rate: u64,
    /// How long to observe an idle server, in seconds (idle).
    #[arg(long, default_value_t = 10)]
    pub(crate) seconds: u64,
    /// Queues with weights for `process`, e.g. `critical:6,default:3,low:1`: each queue is
    /// prefilled with N tasks and the run ends after N in all; reports each queue's share.
    /// With `--split`, the N tasks are split evenly over the queues and all drained. For
    /// `enqueue`, queue names (weights are ignored): the N tasks are split evenly over them.
    #[arg(long)]
    pub(crate) queues: Option<String>,
    /// With `process --queues`: split the N tasks evenly over the queues and drain them all
    /// (throughput to the last acknowledgement), instead of the weighted shares.
    #[arg(long)]
    pub(crate) split: bool,
    /// Run on a Redis Cluster ([`CLUSTER_HELP`]). The flag is the global `--cluster`
    /// connection flag, which `main` hands over (two flags cannot share the name).
    #[arg(skip)]
    pub(crate) cluster: bool,
    /// Strict priority instead of weighted (with `--queues`).
    #[arg(long)]
    pub(crate) strict: bool,
    /// Servers in the fleet (fleet), each with its own connections.
    #[arg(long, default_value_t = 1)]
    pub(crate) servers: usize,
    /// How long, in milliseconds, a lone completion at an idle server waits for the next task
    /// so that one call records it and fetches the next (`Config::completion_linger`; e2e,
    /// fleet); default: the library's default.
    #[arg(long)]
    pub(crate) completion_linger_ms: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub(crate) json: bool,
}

impl BenchArgs {
    /// The server configuration of a run: the bench defaults with this run's options.
    pub(crate) fn server_config(&self) -> redisq::Config {
        let c = modes::bench_config(self.concurrency);
        match self.completion_linger_ms {
            Some(ms) => c.completion_linger(Duration::from_millis(ms)),
            None => c,
        }
    }
}

/// Help of `redisq bench --cluster`.
pub(crate) const CLUSTER_HELP: &str = "Run on a Redis Cluster: without --redis, a private one \
     of three masters (no replicas) is started; with --redis redis://[:PASSWORD@]HOST:PORT, \
     that node's cluster is used. Redis cost is reported per master (enqueue, process only)";

/// The Redis a run talks to, and the private server or cluster if one was started.
pub(crate) struct Target {
    pub(crate) opt: RedisConnOpt,
    /// The server, or a seed node of the Cluster.
    pub(crate) url: String,
    /// A Redis Cluster (`--cluster`).
    pub(crate) cluster: bool,
    _private: Option<PrivateRedis>,
    _private_cluster: Option<PrivateCluster>,
}

impl Target {
    async fn open(url: Option<&str>, cluster: bool) -> Result<Target, BoxError> {
        match (url, cluster) {
            (Some(u), false) => Ok(Target {
                opt: parse_redis_uri(u)?,
                url: u.to_string(),
                cluster,
                _private: None,
                _private_cluster: None,
            }),
            (None, false) => {
                let server = PrivateRedis::start().await?;
                let url = server.url();
                Ok(Target {
                    opt: parse_redis_uri(&url)?,
                    url,
                    cluster,
                    _private: Some(server),
                    _private_cluster: None,
                })
            }
            (Some(u), true) => Ok(Target {
                opt: RedisConnOpt::Cluster(cluster_opt(u)?),
                url: u.to_string(),
                cluster,
                _private: None,
                _private_cluster: None,
            }),
            (None, true) => {
                let private = PrivateCluster::start().await?;
                Ok(Target {
                    opt: RedisConnOpt::Cluster(RedisClusterClientOpt::new(private.addrs())),
                    url: private.seed_url(),
                    cluster,
                    _private: None,
                    _private_cluster: Some(private),
                })
            }
        }
    }

    /// A plain connection for INFO and cleanup.
    pub(crate) async fn raw(&self) -> Result<redis::aio::MultiplexedConnection, BoxError> {
        let url = self.url.replace("redis-socket://", "redis+unix://");
        Ok(redis::Client::open(url)?
            .get_multiplexed_async_connection()
            .await?)
    }
}

/// Cluster settings from the URL of one node (`redis://` or `rediss://`, no database).
fn cluster_opt(url: &str) -> Result<RedisClusterClientOpt, BoxError> {
    let RedisConnOpt::Standalone(node) = parse_redis_uri(url)? else {
        return Err("--cluster --redis takes the redis:// URL of one node of the cluster".into());
    };
    let RedisAddr::Tcp { host, port } = &node.addr else {
        return Err("--cluster --redis needs a TCP address, not a unix socket".into());
    };
    if node.db != 0 {
        return Err("a Redis Cluster has only database 0".into());
    }
    let mut opt = RedisClusterClientOpt::new([format!("{host}:{port}")]);
    if let Some(u) = &node.username {
        opt = opt.username(u);
    }
    if let Some(p) = &node.password {
        opt = opt.password(p);
    }
    if let Some(tls) = &node.tls {
        opt = opt.tls(tls.clone());
    }
    Ok(opt)
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), BoxError> {
    if args.n == 0 || args.concurrency == 0 {
        return Err("-n and --concurrency must be at least 1".into());
    }
    if args.batch == Some(0) || args.rate == 0 || args.seconds == 0 || args.servers == 0 {
        return Err("--batch, --rate, --seconds and --servers must be at least 1".into());
    }
    let queues = args
        .queues
        .as_deref()
        .map(scale::parse_queues)
        .transpose()?;
    if queues.is_some() && !matches!(args.mode, Mode::Process | Mode::Enqueue) {
        return Err("--queues applies to the process and enqueue modes only".into());
    }
    if args.split && (args.mode != Mode::Process || queues.is_none()) {
        return Err("--split applies to process with --queues only".into());
    }
    if args.cluster && !matches!(args.mode, Mode::Process | Mode::Enqueue) {
        return Err("--cluster supports the enqueue and process modes only".into());
    }
    let names: Vec<String> = match &queues {
        Some(q) => q.iter().map(|(name, _)| name.clone()).collect(),
        None => vec!["default".to_string()],
    };
    let target = Target::open(args.redis.as_deref(), args.cluster).await?;
    if args.redis.is_some() {
        nodes::Nodes::open(&target)
            .await?
            .delete_namespace(NAMESPACE)
            .await?;
    }
    let report = match args.mode {
        Mode::Enqueue => modes::enqueue(&args, &target, &names).await?,
        Mode::Process => match &queues {
            Some(q) if !args.split => scale::process_weighted(&args, &target, q).await?,
            Some(q) => modes::process(&args, &target, q).await?,
            None => modes::process(&args, &target, &[("default".to_string(), 1)]).await?,
        },
        Mode::E2e => modes::e2e(&args, &target).await?,
        Mode::Idle => modes::idle(&args, &target).await?,
        Mode::Scheduled => modes::scheduled(&args, &target).await?,
        Mode::Fleet => scale::fleet(&args, &target).await?,
        Mode::Memory => scale::memory(&args, &target).await?,
        Mode::Floor => floor::floor(&args, &target).await?,
    };
    if args.redis.is_some() {
        nodes::Nodes::open(&target)
            .await?
            .delete_namespace(NAMESPACE)
            .await?;
    }
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    } else {
        render(&report)
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

/// Text form of a report: one `name: value` line per figure.
fn render(report: &serde_json::Value) -> String {
    let mut out = String::new();
    if let Some(map) = report.as_object() {
        for (k, v) in map {
            match v {
                serde_json::Value::Object(inner) => {
                    out.push_str(&format!("{k}:\n"));
                    for (ik, iv) in inner {
                        match iv {
                            serde_json::Value::Object(deeper) => {
                                out.push_str(&format!("  {ik}:\n"));
                                for (dk, dv) in deeper {
                                    out.push_str(&format!("    {dk:<26} {}\n", plain(dv)));
                                }
                            }
                            iv => out.push_str(&format!("  {ik:<28} {}\n", plain(iv))),
                        }
                    }
                }
                v => out.push_str(&format!("{k:<30} {}\n", plain(v))),
            }
        }
    }
    out
}

fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.3}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Seconds as f64, for reports.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
