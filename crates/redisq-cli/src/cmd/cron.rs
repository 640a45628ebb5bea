//! `redisq cron`: the periodic tasks of running schedulers and their enqueue history.

use std::time::SystemTime;

use clap::{Args, Subcommand};
use redisq::ListOptions;

use super::Outcome;
use crate::conn::Conn;
use crate::error::{CliError, CliResult, Subject, from_redisq};
use crate::json;
use crate::output::{Table, emit, payload_cell, print_json, relative, utc, when_short};

/// `redisq cron …`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum CronCmd {
    /// List the entries of the running schedulers
    #[command(visible_alias = "list")]
    Ls(CronLsArgs),
    /// Show the enqueues made by scheduler entries, newest first
    History(CronHistoryArgs),
}

/// Arguments of `cron ls`.
#[derive(Clone, Debug, Args)]
pub(crate) struct CronLsArgs {
    /// Print JSON: an array of {id, spec, task_type, payload, payload_encoding, options,
    /// next_enqueue_at, prev_enqueue_at}
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `cron history`.
#[derive(Clone, Debug, Args)]
pub(crate) struct CronHistoryArgs {
    /// Entry IDs (see `redisq cron ls`)
    #[arg(required = true, value_name = "ENTRY_ID")]
    pub(crate) entries: Vec<String>,
    /// Page number, from 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) page: u32,
    /// Events per page
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) size: u32,
    /// Print JSON: an array of {entry_id, task_id, enqueued_at}
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) async fn run(conn: &Conn, cmd: &CronCmd) -> CliResult {
    let inspector = conn.inspector().await?;
    let entries = inspector
        .scheduler_entries()
        .await
        .map_err(|e| from_redisq(&e, "could not list the scheduler entries", Subject::None))?;
    match cmd {
        CronCmd::Ls(a) => {
            if a.json {
                let list: Vec<json::CronEntry> =
                    entries.iter().map(json::CronEntry::from).collect();
                return print_json(&list);
            }
            if entries.is_empty() {
                emit("no scheduler entries (no scheduler is running)\n");
                return Ok(());
            }
            let now = SystemTime::now();
            let mut t = Table::new(&[
                "Entry ID", "Spec", "Type", "Payload", "Options", "Next", "Prev",
            ]);
            for e in &entries {
                t.row([
                    e.id.clone(),
                    e.spec.clone(),
                    e.task_type.clone(),
                    payload_cell(&e.payload, 40),
                    e.options.join(", "),
                    when_short(e.next, now),
                    when_short(e.prev, now),
                ]);
            }
            emit(&t.render());
            Ok(())
        }
        CronCmd::History(a) => {
            let opts = ListOptions::new()
                .page(a.page as usize)
                .page_size(a.size as usize);
            let mut outcome = Outcome::default();
            let mut events = Vec::new();
            for id in &a.entries {
                match inspector.scheduler_enqueue_events(id, opts).await {
                    // The history outlives its entry only until the scheduler shuts down,
                    // so an ID that no scheduler runs and that has no history is unknown.
                    Ok(list)
                        if list.is_empty()
                            && a.page == 1
                            && !entries.iter().any(|e| &e.id == id) =>
                    {
                        outcome.record(Err(CliError::not_found(format!(
                            "scheduler entry {id:?} not found; list entries with `redisq cron ls`"
                        ))));
                    }
                    Ok(list) => events.extend(list.into_iter().map(|ev| (id.clone(), ev))),
                    Err(e) => outcome.record(Err(from_redisq(
                        &e,
                        &format!("could not read the history of scheduler entry {id:?}"),
                        Subject::None,
                    ))),
                }
            }
            if a.json {
                let list: Vec<json::CronEvent> = events
                    .iter()
                    .map(|(id, ev)| json::CronEvent::new(id, ev))
                    .collect();
                print_json(&list)?;
            } else if !events.is_empty() {
                let now = SystemTime::now();
                let mut t = Table::new(&["Entry ID", "Task ID", "Enqueued At"]);
                for (id, ev) in &events {
                    t.row([
                        id.clone(),
                        ev.task_id.clone(),
                        format!(
                            "{} ({})",
                            utc(ev.enqueued_at),
                            relative(ev.enqueued_at, now)
                        ),
                    ]);
                }
                emit(&t.render());
            } else if outcome.is_clean() {
                emit("no enqueues recorded\n");
            }
            outcome.finish()
        }
    }
}
