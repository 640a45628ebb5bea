//! `redisq stats`: task counts by state and by queue, today's processed and failed counts, and
//! a summary of Redis `INFO`.

use std::time::{Duration, SystemTime};

use clap::Args;

use crate::conn::Conn;
use crate::duration;
use crate::error::{CliResult, Subject, from_redisq};
use crate::json;
use crate::output::{Table, bytes_human, emit, error_rate, print_json, rfc3339, utc_date};

/// Arguments of `redisq stats`.
#[derive(Clone, Debug, Args)]
pub(crate) struct StatsArgs {
    /// Print JSON: {timestamp, date, aggregate, queues, redis, redis_error}
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(conn: &Conn, args: &StatsArgs) -> CliResult {
    let inspector = conn.inspector().await?;
    let names = inspector
        .queues()
        .await
        .map_err(|e| from_redisq(&e, "could not list the queues", Subject::None))?;
    let mut queues = Vec::with_capacity(names.len());
    for q in &names {
        match inspector.queue_info(q).await {
            Ok(info) => queues.push(info),
            // Deleted since it was listed.
            Err(e) if e.is_queue_not_found() => {}
            Err(e) => {
                return Err(from_redisq(
                    &e,
                    &format!("could not read queue {q:?}"),
                    Subject::Queue(q),
                ));
            }
        }
    }
    let now = SystemTime::now();
    let aggregate = json::Aggregate::of(&queues);
    let (redis, redis_error) = match inspector.redis_info().await {
        Ok(info) => (
            Some(json::RedisJson {
                mode: info.topology,
                nodes: info
                    .nodes
                    .iter()
                    .map(|(node, text)| json::RedisNode::parse(node, text))
                    .collect(),
                cluster: info.cluster_info.as_deref().map(json::ClusterJson::parse),
            }),
            None,
        ),
        Err(e) => (None, Some(crate::error::one_line(&e.to_string()))),
    };
    if args.json {
        return print_json(&json::Stats {
            timestamp: rfc3339(now),
            date: utc_date(now),
            aggregate,
            queues: queues.iter().map(json::Queue::from).collect(),
            redis,
            redis_error,
        });
    }

    let mut out = String::new();
    out.push_str("Task Count by State\n");
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
            aggregate.active,
            aggregate.pending,
            aggregate.aggregating,
            aggregate.scheduled,
            aggregate.retry,
            aggregate.archived,
            aggregate.completed,
        ]
        .map(|n| n.to_string()),
    );
    out.push_str(&t.render());

    out.push_str("\nTask Count by Queue\n");
    if queues.is_empty() {
        out.push_str("no queues yet\n");
    } else {
        let mut t = Table::new(&[
            "Queue",
            "Size",
            "Active",
            "Pending",
            "Aggregating",
            "Scheduled",
            "Retry",
            "Archived",
            "Completed",
            "Paused",
            "Latency",
        ])
        .right(&[1, 2, 3, 4, 5, 6, 7, 8]);
        for q in &queues {
            let mut row = vec![q.queue.clone()];
            row.extend(
                [
                    q.size,
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
            row.push(if q.paused { "yes" } else { "no" }.to_string());
            row.push(latency(q.latency));
            t.row(row);
        }
        out.push_str(&t.render());
    }

    out.push_str(&format!("\nDaily Stats {} UTC\n", utc_date(now)));
    let mut t = Table::new(&["processed", "failed", "error rate"]);
    t.row([
        aggregate.processed.to_string(),
        aggregate.failed.to_string(),
        error_rate(aggregate.processed, aggregate.failed),
    ]);
    out.push_str(&t.render());

    out.push_str("\nRedis Info\n");
    match (&redis, &redis_error) {
        (Some(r), _) => {
            let mut t = Table::new(&[
                "node",
                "version",
                "role",
                "uptime",
                "connections",
                "memory usage",
                "peak memory usage",
            ]);
            for n in &r.nodes {
                let dash = || "-".to_string();
                t.row([
                    n.node.clone(),
                    n.version.clone().unwrap_or_else(dash),
                    n.role.clone().unwrap_or_else(dash),
                    n.uptime_seconds
                        .map_or_else(dash, |s| duration::format(Duration::from_secs(s))),
                    n.connected_clients.map_or_else(dash, |c| c.to_string()),
                    n.used_memory_bytes.map_or_else(dash, bytes_human),
                    n.used_memory_peak_bytes.map_or_else(dash, bytes_human),
                ]);
            }
            out.push_str(&t.render());
            if let Some(c) = &r.cluster {
                out.push_str(&format!(
                    "cluster: state {}, {} masters serving slots, {} known nodes, {} slots \
                     assigned\n",
                    c.state.as_deref().unwrap_or("?"),
                    c.size.map_or("?".into(), |n| n.to_string()),
                    c.known_nodes.map_or("?".into(), |n| n.to_string()),
                    c.slots_assigned.map_or("?".into(), |n| n.to_string()),
                ));
            }
        }
        (None, Some(e)) => out.push_str(&format!("unavailable: {e}\n")),
        (None, None) => out.push_str("unavailable\n"),
    }
    emit(&out);
    Ok(())
}

/// A queue latency for tables, to the millisecond.
pub(crate) fn latency(d: Duration) -> String {
    duration::format(Duration::from_millis(d.as_millis() as u64))
}
