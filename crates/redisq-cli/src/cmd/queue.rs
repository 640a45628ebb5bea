//! `redisq queue`: list, inspect, history, pause, unpause and remove queues; list, set and
//! clear the fleet-wide rate and concurrency limits.

use clap::{Args, Subcommand};
use redisq::{LimitTarget, RateLimit};

use super::{Outcome, interactive};
use crate::cmd::stats::latency;
use crate::conn::Conn;
use crate::error::{CliError, CliResult, Subject, from_redisq, shell_word};
use crate::json;
use crate::output::{Table, bytes_human, emit, error_rate, fields, print_json, utc, utc_date};

/// `redisq queue …`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum QueueCmd {
    /// List the queues, one name per line
    #[command(visible_alias = "list")]
    Ls(JsonFlag),
    /// Show task counts by state, today's counts, latency and memory of queues
    Inspect(QueuesJson),
    /// Show the processed and failed counts of the last days (UTC)
    History(HistoryArgs),
    /// Pause queues: servers stop taking their tasks until they are unpaused
    Pause(PauseArgs),
    /// Unpause queues
    #[command(visible_alias = "resume")]
    Unpause(Queues),
    /// Delete queues; refused when a queue holds tasks unless --force is given
    #[command(visible_aliases = ["remove", "delete"])]
    Rm(RmArgs),
    /// List, set or clear the fleet-wide rate and concurrency limits (of queues and task
    /// types) that every redisq server obeys
    Limits(LimitsArgs),
}

/// Arguments of `queue limits`: without a subcommand, the list.
#[derive(Clone, Debug, Args)]
pub(crate) struct LimitsArgs {
    #[command(subcommand)]
    pub(crate) action: Option<LimitsCmd>,
    /// Print JSON: an array of {kind ("queue" or "type"), name, rate_n, rate_per_seconds,
    /// concurrency}, absent limits as null
    #[arg(long)]
    pub(crate) json: bool,
}

/// `queue limits …`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum LimitsCmd {
    /// Set limits of a queue or task type (servers apply them at once)
    Set(LimitSetArgs),
    /// Clear limits of a queue or task type (both kinds unless one is named)
    #[command(visible_aliases = ["rm", "remove"])]
    Clear(LimitClearArgs),
}

/// What a limit applies to.
#[derive(Clone, Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct LimitTargetArgs {
    /// The queue the limit applies to
    #[arg(short = 'q', long)]
    pub(crate) queue: Option<String>,
    /// The task type the limit applies to (in each queue)
    #[arg(short = 't', long = "type")]
    pub(crate) task_type: Option<String>,
}

impl LimitTargetArgs {
    fn target(&self) -> LimitTarget {
        match (&self.queue, &self.task_type) {
            (Some(q), _) => LimitTarget::queue(q.clone()),
            (None, Some(t)) => LimitTarget::task_type(t.clone()),
            // clap requires one of them.
            (None, None) => LimitTarget::queue(String::new()),
        }
    }
}

/// Arguments of `queue limits set`.
#[derive(Clone, Debug, Args)]
pub(crate) struct LimitSetArgs {
    #[command(flatten)]
    pub(crate) target: LimitTargetArgs,
    /// A rate limit N/PERIOD: at most N starts in any window of PERIOD, e.g. 50/1s, 100/1m,
    /// 5/500ms
    #[arg(short = 'r', long, value_parser = parse_rate)]
    pub(crate) rate: Option<RateLimit>,
    /// The most tasks active at once across all servers
    #[arg(short = 'c', long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) concurrency: Option<u32>,
}

/// Arguments of `queue limits clear`.
#[derive(Clone, Debug, Args)]
pub(crate) struct LimitClearArgs {
    #[command(flatten)]
    pub(crate) target: LimitTargetArgs,
    /// Clear only the rate limit
    #[arg(long)]
    pub(crate) rate: bool,
    /// Clear only the concurrency limit
    #[arg(long)]
    pub(crate) concurrency: bool,
}

/// Parses `N/PERIOD` (`50/1s`, `100/1m`); the error says what is expected.
fn parse_rate(text: &str) -> Result<RateLimit, String> {
    let expected = "expected N/PERIOD such as 50/1s, 100/1m or 5/500ms";
    let (n, per) = text
        .split_once('/')
        .ok_or_else(|| format!("invalid rate {text:?}; {expected}"))?;
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("invalid count {n:?} in rate {text:?}; {expected}"))?;
    if n == 0 {
        return Err(format!("invalid rate {text:?}: N must be at least 1"));
    }
    let per = per.trim();
    // A bare unit means one of it: 100/m, 10/s.
    let per = if per.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("1{per}")
    } else {
        per.to_string()
    };
    let per = crate::duration::parse(&per).map_err(|e| format!("invalid rate {text:?}: {e}"))?;
    if per < std::time::Duration::from_millis(1) {
        return Err(format!(
            "invalid rate {text:?}: the period must be at least 1ms"
        ));
    }
    Ok(RateLimit::new(n, per))
}

/// Just `--json`.
#[derive(Clone, Debug, Args)]
pub(crate) struct JsonFlag {
    /// Print JSON: an array of queue names
    #[arg(long)]
    pub(crate) json: bool,
}

/// Queue names.
#[derive(Clone, Debug, Args)]
pub(crate) struct Queues {
    /// Queue names
    #[arg(required = true, value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
}

/// Queue names and `--json`.
#[derive(Clone, Debug, Args)]
pub(crate) struct QueuesJson {
    /// Queue names
    #[arg(required = true, value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    /// Print JSON: an array with one object per queue (queue, paused, size, groups,
    /// latency_seconds, memory_usage_bytes, active, pending, aggregating, scheduled, retry,
    /// archived, completed, processed, failed, error_rate, processed_total, failed_total,
    /// timestamp)
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `queue history`.
#[derive(Clone, Debug, Args)]
pub(crate) struct HistoryArgs {
    /// Queue names
    #[arg(required = true, value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    /// Number of days, today included (1 to 3660; daily counters are kept 90 days)
    #[arg(short = 'x', long, default_value_t = 10,
          value_parser = clap::value_parser!(u16).range(1..=3660))]
    pub(crate) days: u16,
    /// Print JSON: an array of {queue, date, processed, failed, error_rate}, newest day first
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `queue pause`.
#[derive(Clone, Debug, Args)]
pub(crate) struct PauseArgs {
    /// Queue names
    #[arg(required = true, value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    /// Pause even a queue that does not exist yet (no task was ever enqueued to it)
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
}

/// Arguments of `queue rm`.
#[derive(Clone, Debug, Args)]
pub(crate) struct RmArgs {
    /// Queue names
    #[arg(required = true, value_name = "QUEUE")]
    pub(crate) queues: Vec<String>,
    /// Delete the queues with all their tasks (still refused while a task is active)
    #[arg(short = 'f', long)]
    pub(crate) force: bool,
}

pub(crate) async fn run(conn: &Conn, cmd: &QueueCmd) -> CliResult {
    let inspector = conn.inspector().await?;
    match cmd {
        QueueCmd::Ls(a) => {
            let names = inspector
                .queues()
                .await
                .map_err(|e| from_redisq(&e, "could not list the queues", Subject::None))?;
            if a.json {
                return print_json(&names);
            }
            if names.is_empty() && interactive() {
                emit("no queues yet\n");
            }
            let mut out = String::new();
            for n in names {
                out.push_str(&n);
                out.push('\n');
            }
            emit(&out);
            Ok(())
        }
        QueueCmd::Inspect(a) => {
            let mut outcome = Outcome::default();
            let mut found = Vec::new();
            for q in &a.queues {
                let r = inspector.queue_info(q).await.map_err(|e| {
                    from_redisq(
                        &e,
                        &format!("could not inspect queue {q:?}"),
                        Subject::Queue(q),
                    )
                });
                match r {
                    Ok(info) => found.push(info),
                    Err(e) => outcome.record(Err(e)),
                }
            }
            if a.json {
                let list: Vec<json::Queue> = found.iter().map(json::Queue::from).collect();
                print_json(&list)?;
            } else {
                let mut out = String::new();
                for (i, q) in found.iter().enumerate() {
                    if i > 0 {
                        out.push('\n');
                    }
                    out.push_str(&fields(&[
                        ("Queue", q.queue.clone()),
                        ("Paused", if q.paused { "yes" } else { "no" }.to_string()),
                        (
                            "Size",
                            format!("{} task{}", q.size, if q.size == 1 { "" } else { "s" }),
                        ),
                        ("Groups", q.groups.to_string()),
                        ("Latency", latency(q.latency)),
                        (
                            "Memory",
                            q.memory_usage
                                .map_or_else(|| "unknown".to_string(), bytes_human),
                        ),
                    ]));
                    out.push('\n');
                    let mut t = Table::new(&[
                        "active",
                        "pending",
                        "aggregating",
                        "scheduled",
                        "retry",
                        "archived",
                        "completed",
                    ]);
                    t.row(
                        [
                            q.active,
                            q.pending,
                            q.aggregating,
                            q.scheduled,
                            q.retry,
                            q.archived,
                            q.completed,
                        ]
                        .map(|n| n.to_string()),
                    );
                    out.push_str(&t.render());
                    out.push('\n');
                    let mut t = Table::new(&[
                        "date (UTC)",
                        "processed",
                        "failed",
                        "error rate",
                        "processed (total)",
                        "failed (total)",
                    ]);
                    t.row([
                        utc_date(q.timestamp),
                        q.processed.to_string(),
                        q.failed.to_string(),
                        error_rate(q.processed, q.failed),
                        q.processed_total.to_string(),
                        q.failed_total.to_string(),
                    ]);
                    out.push_str(&t.render());
                    out.push_str(&format!("(as of {})\n", utc(q.timestamp)));
                }
                emit(&out);
            }
            outcome.finish()
        }
        QueueCmd::History(a) => {
            let mut outcome = Outcome::default();
            let mut days = Vec::new();
            for q in &a.queues {
                match inspector.history(q, usize::from(a.days)).await {
                    Ok(h) => days.extend(h),
                    Err(e) => outcome.record(Err(from_redisq(
                        &e,
                        &format!("could not read the history of queue {q:?}"),
                        Subject::Queue(q),
                    ))),
                }
            }
            if a.json {
                let list: Vec<json::Daily> = days.iter().map(json::Daily::from).collect();
                print_json(&list)?;
            } else if !days.is_empty() {
                let mut t =
                    Table::new(&["Queue", "Date (UTC)", "Processed", "Failed", "Error rate"])
                        .right(&[2, 3]);
                for d in &days {
                    t.row([
                        d.queue.clone(),
                        utc_date(d.date),
                        d.processed.to_string(),
                        d.failed.to_string(),
                        error_rate(d.processed, d.failed),
                    ]);
                }
                emit(&t.render());
            }
            outcome.finish()
        }
        QueueCmd::Pause(a) => {
            let mut outcome = Outcome::default();
            let known = if a.force {
                Vec::new()
            } else {
                inspector
                    .queues()
                    .await
                    .map_err(|e| from_redisq(&e, "could not list the queues", Subject::None))?
            };
            for q in &a.queues {
                if !a.force && !known.contains(q) {
                    outcome.record(Err(CliError::not_found(format!(
                        "queue {q:?} not found; list queues with `redisq queue ls`, or add \
                         --force to pause it before its first task is enqueued"
                    ))));
                    continue;
                }
                let r = inspector.pause_queue(q).await.map_err(|e| {
                    from_redisq(
                        &e,
                        &format!("could not pause queue {q:?}"),
                        Subject::Queue(q),
                    )
                });
                if r.is_ok() {
                    emit(&format!("queue {q:?} paused\n"));
                }
                outcome.record(r);
            }
            outcome.finish()
        }
        QueueCmd::Unpause(a) => {
            let mut outcome = Outcome::default();
            for q in &a.queues {
                let r = inspector.unpause_queue(q).await.map_err(|e| {
                    from_redisq(
                        &e,
                        &format!("could not unpause queue {q:?}"),
                        Subject::Queue(q),
                    )
                });
                if r.is_ok() {
                    emit(&format!("queue {q:?} unpaused\n"));
                }
                outcome.record(r);
            }
            outcome.finish()
        }
        QueueCmd::Limits(a) => limits(&inspector, a).await,
        QueueCmd::Rm(a) => {
            let mut outcome = Outcome::default();
            for q in &a.queues {
                let r = inspector.delete_queue(q, a.force).await.map_err(|e| {
                    let mut err = from_redisq(
                        &e,
                        &format!("could not delete queue {q:?}"),
                        Subject::Queue(q),
                    );
                    if e.is_failed_precondition() {
                        err.message.push_str(&format!(
                            "; cancel its active tasks first (`redisq task ls -q {} -s active`, \
                             `redisq task cancel ID`)",
                            shell_word(q)
                        ));
                    }
                    err
                });
                if r.is_ok() {
                    emit(&format!("queue {q:?} deleted\n"));
                }
                outcome.record(r);
            }
            outcome.finish()
        }
    }
}

async fn limits(inspector: &redisq::Inspector, a: &LimitsArgs) -> CliResult {
    let failed = |e: redisq::Error, doing: &str| from_redisq(&e, doing, Subject::None);
    match &a.action {
        None => {
            let list = inspector
                .limits()
                .await
                .map_err(|e| failed(e, "could not read the limits"))?;
            if a.json {
                let list: Vec<json::LimitJson> = list.iter().map(json::LimitJson::from).collect();
                return print_json(&list);
            }
            if list.is_empty() {
                if interactive() {
                    emit("no limits set\n");
                }
                return Ok(());
            }
            let mut t = Table::new(&["Kind", "Name", "Rate", "Concurrency"]);
            for l in &list {
                let (kind, name) = match &l.target {
                    LimitTarget::Queue(q) => ("queue", q.clone()),
                    LimitTarget::TaskType(t) => ("type", t.clone()),
                    _ => ("other", l.target.name().to_string()),
                };
                t.row([
                    kind.to_string(),
                    name,
                    l.rate.map_or_else(|| "-".to_string(), |r| r.to_string()),
                    l.concurrency
                        .map_or_else(|| "-".to_string(), |n| n.to_string()),
                ]);
            }
            emit(&t.render());
            Ok(())
        }
        Some(LimitsCmd::Set(s)) => {
            if s.rate.is_none() && s.concurrency.is_none() {
                return Err(CliError::usage(
                    "nothing to set: give --rate N/PERIOD and/or --concurrency N",
                ));
            }
            let target = s.target.target();
            if let Some(r) = s.rate {
                inspector
                    .set_rate_limit(target.clone(), r)
                    .await
                    .map_err(|e| failed(e, &format!("could not set the rate limit of {target}")))?;
                emit(&format!("rate limit of {target} set to {r}\n"));
            }
            if let Some(n) = s.concurrency {
                inspector
                    .set_concurrency_limit(target.clone(), n)
                    .await
                    .map_err(|e| {
                        failed(
                            e,
                            &format!("could not set the concurrency limit of {target}"),
                        )
                    })?;
                emit(&format!("concurrency limit of {target} set to {n}\n"));
            }
            Ok(())
        }
        Some(LimitsCmd::Clear(c)) => {
            let target = c.target.target();
            let both = !c.rate && !c.concurrency;
            if c.rate || both {
                inspector.clear_rate_limit(&target).await.map_err(|e| {
                    failed(e, &format!("could not clear the rate limit of {target}"))
                })?;
                emit(&format!("rate limit of {target} cleared\n"));
            }
            if c.concurrency || both {
                inspector
                    .clear_concurrency_limit(&target)
                    .await
                    .map_err(|e| {
                        failed(
                            e,
                            &format!("could not clear the concurrency limit of {target}"),
                        )
                    })?;
                emit(&format!("concurrency limit of {target} cleared\n"));
            }
            Ok(())
        }
    }
}
