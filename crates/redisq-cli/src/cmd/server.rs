//! `redisq server`: the running servers (workers), from their heartbeats.

use std::time::SystemTime;

use clap::{Args, Subcommand};

use crate::conn::Conn;
use crate::error::{CliResult, Subject, from_redisq};
use crate::json;
use crate::output::{Table, emit, print_json, relative};

/// `redisq server …`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum ServerCmd {
    /// List the running servers
    #[command(visible_alias = "list")]
    Ls(ServerLsArgs),
}

/// Arguments of `server ls`.
#[derive(Clone, Debug, Args)]
pub(crate) struct ServerLsArgs {
    /// Also list the tasks each server is processing
    #[arg(short = 'w', long)]
    pub(crate) workers: bool,
    /// Print JSON: an array of {id, host, pid, concurrency, queues, strict_priority,
    /// started, status, active_workers: [{task_id, task_type, payload, payload_encoding,
    /// queue, started, deadline}]}
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(conn: &Conn, cmd: &ServerCmd) -> CliResult {
    let ServerCmd::Ls(a) = cmd;
    let inspector = conn.inspector().await?;
    let servers = inspector
        .servers()
        .await
        .map_err(|e| from_redisq(&e, "could not list the servers", Subject::None))?;
    if a.json {
        let list: Vec<json::Server> = servers.iter().map(json::Server::from).collect();
        return print_json(&list);
    }
    if servers.is_empty() {
        emit("no running servers\n");
        return Ok(());
    }
    let now = SystemTime::now();
    let mut t = Table::new(&[
        "Host",
        "PID",
        "State",
        "Active Workers",
        "Queues",
        "Started",
    ])
    .right(&[1]);
    for s in &servers {
        let queues: Vec<String> = s
            .queues
            .iter()
            .map(|(q, prio)| format!("{q}:{prio}"))
            .collect();
        t.row([
            s.host.clone(),
            s.pid.to_string(),
            s.status.clone(),
            format!("{}/{}", s.active_workers.len(), s.concurrency),
            queues.join(" "),
            s.started
                .map_or_else(|| "-".to_string(), |t| relative(t, now)),
        ]);
    }
    let mut out = t.render();
    if a.workers {
        let mut w = Table::new(&["Server", "Task ID", "Type", "Queue", "Started", "Deadline"]);
        for s in &servers {
            for wk in &s.active_workers {
                w.row([
                    format!("{}:{}", s.host, s.pid),
                    wk.task_id.clone(),
                    wk.task_type.clone(),
                    wk.queue.clone(),
                    wk.started
                        .map_or_else(|| "-".to_string(), |t| relative(t, now)),
                    wk.deadline
                        .map_or_else(|| "-".to_string(), |t| relative(t, now)),
                ]);
            }
        }
        out.push('\n');
        if w.len() == 0 {
            out.push_str("no tasks are being processed\n");
        } else {
            out.push_str(&w.render());
        }
    }
    emit(&out);
    Ok(())
}
