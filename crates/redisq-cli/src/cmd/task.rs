//! `redisq task`: list, inspect, cancel, archive, delete, run and enqueue tasks, and the bulk
//! operations `archiveall`, `deleteall` and `runall`.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use chrono::DateTime;
use clap::{Args, Subcommand, ValueEnum};
use redisq::{Inspector, ListOptions, Task, TaskInfo, TaskOption};

use super::Outcome;
use crate::conn::Conn;
use crate::duration;
use crate::error::{CliError, CliResult, Subject, from_redisq, shell_word};
use crate::json;
use crate::output::{
    Table, emit, escape_controls, fields, payload_cell, payload_detail, print_json, when,
    when_short,
};

/// `redisq task …`
#[derive(Clone, Debug, Subcommand)]
pub(crate) enum TaskCmd {
    /// List the tasks of a queue in one state, a page at a time
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Show everything about one task
    Inspect(InspectArgs),
    /// Ask the servers to cancel running tasks (the task is archived with "task canceled")
    Cancel(CancelArgs),
    /// Archive a task that is not active
    Archive(TaskRef),
    /// Delete a task that is not active
    #[command(visible_aliases = ["rm", "remove"])]
    Delete(TaskRef),
    /// Run a scheduled, retry, archived, completed or aggregating task now (move it to pending)
    Run(TaskRef),
    /// Enqueue a task
    Enqueue(EnqueueArgs),
    /// Archive every task of a state (pending, aggregating, scheduled or retry)
    #[command(name = "archiveall")]
    ArchiveAll(BulkArgs<ArchiveAllState>),
    /// Delete every task of a state (pending, aggregating, scheduled, retry, archived or
    /// completed)
    #[command(name = "deleteall")]
    DeleteAll(BulkArgs<DeleteAllState>),
    /// Run every task of a state now (scheduled, retry, archived or aggregating)
    #[command(name = "runall")]
    RunAll(BulkArgs<RunAllState>),
}

/// A task state, as `task ls` takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum State {
    /// Being processed
    Active,
    /// Ready to be processed
    Pending,
    /// Waiting in a group (needs --group)
    Aggregating,
    /// Waiting for its process time
    Scheduled,
    /// Waiting for a retry
    Retry,
    /// Failed for good
    Archived,
    /// Succeeded, kept for its retention
    Completed,
    /// A flow parent waiting for its children (redisq only)
    Waiting,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Pending => "pending",
            State::Aggregating => "aggregating",
            State::Scheduled => "scheduled",
            State::Retry => "retry",
            State::Archived => "archived",
            State::Completed => "completed",
            State::Waiting => "waiting",
        }
    }
}

/// States `task archiveall` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ArchiveAllState {
    /// Pending tasks
    Pending,
    /// Tasks of a group (needs --group)
    Aggregating,
    /// Scheduled tasks
    Scheduled,
    /// Tasks waiting for a retry
    Retry,
}

/// States `task deleteall` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DeleteAllState {
    /// Pending tasks
    Pending,
    /// Tasks of a group (needs --group)
    Aggregating,
    /// Scheduled tasks
    Scheduled,
    /// Tasks waiting for a retry
    Retry,
    /// Archived tasks
    Archived,
    /// Completed tasks
    Completed,
}

/// States `task runall` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RunAllState {
    /// Scheduled tasks
    Scheduled,
    /// Tasks waiting for a retry
    Retry,
    /// Archived tasks
    Archived,
    /// Tasks of a group (needs --group)
    Aggregating,
}

/// A bulk state, mapped to the common [`State`].
pub(crate) trait BulkState: ValueEnum + Clone + Copy + Send + Sync + 'static {
    fn state(self) -> State;
}

impl BulkState for ArchiveAllState {
    fn state(self) -> State {
        match self {
            ArchiveAllState::Pending => State::Pending,
            ArchiveAllState::Aggregating => State::Aggregating,
            ArchiveAllState::Scheduled => State::Scheduled,
            ArchiveAllState::Retry => State::Retry,
        }
    }
}

impl BulkState for DeleteAllState {
    fn state(self) -> State {
        match self {
            DeleteAllState::Pending => State::Pending,
            DeleteAllState::Aggregating => State::Aggregating,
            DeleteAllState::Scheduled => State::Scheduled,
            DeleteAllState::Retry => State::Retry,
            DeleteAllState::Archived => State::Archived,
            DeleteAllState::Completed => State::Completed,
        }
    }
}

impl BulkState for RunAllState {
    fn state(self) -> State {
        match self {
            RunAllState::Scheduled => State::Scheduled,
            RunAllState::Retry => State::Retry,
            RunAllState::Archived => State::Archived,
            RunAllState::Aggregating => State::Aggregating,
        }
    }
}

/// Arguments of `task ls`.
#[derive(Clone, Debug, Args)]
pub(crate) struct LsArgs {
    /// Queue name
    #[arg(short = 'q', long)]
    pub(crate) queue: String,
    /// Task state
    #[arg(short = 's', long, value_enum)]
    pub(crate) state: State,
    /// Group name (required with --state aggregating)
    #[arg(short = 'g', long)]
    pub(crate) group: Option<String>,
    /// Page number, from 1
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) page: u32,
    /// Tasks per page
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) size: u32,
    /// Print JSON: an array of tasks (id, queue, type, state, payload, payload_encoding,
    /// headers, max_retry, retried, last_error, last_failed_at, timeout_seconds, deadline,
    /// group, next_process_at, is_orphaned, retention_seconds, completed_at, result,
    /// result_encoding, progress: {percent, message, updated_at} or null)
    #[arg(long)]
    pub(crate) json: bool,
}

/// `-q QUEUE -i ID`.
#[derive(Clone, Debug, Args)]
pub(crate) struct TaskRef {
    /// Queue name
    #[arg(short = 'q', long)]
    pub(crate) queue: String,
    /// Task ID
    #[arg(short = 'i', long)]
    pub(crate) id: String,
}

/// Arguments of `task inspect`.
#[derive(Clone, Debug, Args)]
pub(crate) struct InspectArgs {
    #[command(flatten)]
    pub(crate) task: TaskRef,
    /// Print JSON: one task object, as in `task ls --json`
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `task cancel`.
#[derive(Clone, Debug, Args)]
pub(crate) struct CancelArgs {
    /// IDs of running tasks
    #[arg(required = true, value_name = "ID")]
    pub(crate) ids: Vec<String>,
}

/// Arguments of `task archiveall`, `deleteall` and `runall`.
#[derive(Clone, Debug, Args)]
pub(crate) struct BulkArgs<S: BulkState> {
    /// Queue name
    #[arg(short = 'q', long)]
    pub(crate) queue: String,
    /// State of the tasks
    #[arg(short = 's', long, value_enum)]
    pub(crate) state: S,
    /// Group name (required with --state aggregating)
    #[arg(short = 'g', long)]
    pub(crate) group: Option<String>,
    /// Print JSON: {queue, state, group, action, count}
    #[arg(long)]
    pub(crate) json: bool,
}

/// Arguments of `task enqueue`.
#[derive(Clone, Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// Task type
    #[arg(
        short = 't',
        long = "type_name",
        alias = "type-name",
        value_name = "TYPE"
    )]
    pub(crate) type_name: String,
    /// Payload, as text
    #[arg(short = 'l', long, default_value = "")]
    pub(crate) payload: String,
    /// Maximum number of retries [default: 25]
    #[arg(long, value_name = "N")]
    pub(crate) retry: Option<u32>,
    /// Queue name
    #[arg(short = 'q', long, default_value = redisq::DEFAULT_QUEUE)]
    pub(crate) queue: String,
    /// Task ID [default: a random UUID]
    #[arg(long)]
    pub(crate) id: Option<String>,
    /// Time allowed per attempt, e.g. 90s, 1m30s, 2h [default: 30m without --deadline]
    #[arg(long, value_parser = duration::parse, value_name = "DURATION",
          allow_hyphen_values = true)]
    pub(crate) timeout: Option<Duration>,
    /// Deadline, RFC 3339 (e.g. 2026-01-02T15:04:05Z)
    #[arg(long, value_parser = parse_time, value_name = "TIME")]
    pub(crate) deadline: Option<SystemTime>,
    /// Reject equal tasks (same type, payload and queue) for this long, at least 1s
    #[arg(long, value_parser = duration::parse, value_name = "DURATION",
          allow_hyphen_values = true)]
    pub(crate) unique: Option<Duration>,
    /// Process at this time, RFC 3339
    #[arg(long = "process_at", alias = "process-at", value_parser = parse_time,
          value_name = "TIME", conflicts_with = "process_in")]
    pub(crate) process_at: Option<SystemTime>,
    /// Process after this delay, e.g. 10m
    #[arg(long = "process_in", alias = "process-in", value_parser = duration::parse,
          value_name = "DURATION", allow_hyphen_values = true)]
    pub(crate) process_in: Option<Duration>,
    /// Keep the task this long after it succeeds, e.g. 24h
    #[arg(long, value_parser = duration::parse, value_name = "DURATION",
          allow_hyphen_values = true)]
    pub(crate) retention: Option<Duration>,
    /// Aggregation group
    #[arg(long)]
    pub(crate) group: Option<String>,
    /// A header, KEY=VALUE (repeatable)
    #[arg(long = "header", value_parser = parse_header, value_name = "KEY=VALUE")]
    pub(crate) headers: Vec<(String, String)>,
    /// Print JSON: the enqueued task, as in `task ls --json`
    #[arg(long)]
    pub(crate) json: bool,
}

/// Parses an RFC 3339 time (`2026-01-02T15:04:05Z`, `…+02:00`).
fn parse_time(s: &str) -> Result<SystemTime, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(SystemTime::from)
        .map_err(|e| {
            format!("invalid time {s:?} ({e}); expected RFC 3339, e.g. 2026-01-02T15:04:05Z")
        })
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("invalid header {s:?}; expected KEY=VALUE")),
    }
}

/// Checks `--group` against the state: required for aggregating, refused otherwise.
fn check_group<'a>(state: State, group: Option<&'a str>, queue: &str) -> CliResult<&'a str> {
    match (state, group) {
        (State::Aggregating, Some(g)) if !g.trim().is_empty() => Ok(g),
        (State::Aggregating, _) => Err(CliError::usage(format!(
            "--state aggregating needs --group NAME; list the groups with `redisq group ls -q {}`",
            shell_word(queue)
        ))),
        (_, Some(_)) => Err(CliError::usage(
            "--group only applies to --state aggregating",
        )),
        (_, None) => Ok(""),
    }
}

pub(crate) async fn run(conn: &Conn, cmd: &TaskCmd) -> CliResult {
    if let TaskCmd::Enqueue(a) = cmd {
        return enqueue(conn, a).await;
    }
    let inspector = conn.inspector().await?;
    match cmd {
        TaskCmd::Ls(a) => list(&inspector, a).await,
        TaskCmd::Inspect(InspectArgs { task: a, json }) => {
            let t = inspector
                .task_info(&a.queue, &a.id)
                .await
                .map_err(|e| task_err(&e, "could not inspect", a))?;
            if *json {
                return print_json(&json::TaskJson::from(&t));
            }
            emit(&detail(&t, SystemTime::now()));
            Ok(())
        }
        TaskCmd::Cancel(a) => cancel(&inspector, a).await,
        TaskCmd::Archive(a) => {
            inspector
                .archive_task(&a.queue, &a.id)
                .await
                .map_err(|e| task_err(&e, "could not archive", a))?;
            emit(&format!("task {:?} archived\n", a.id));
            Ok(())
        }
        TaskCmd::Delete(a) => {
            inspector
                .delete_task(&a.queue, &a.id)
                .await
                .map_err(|e| task_err(&e, "could not delete", a))?;
            emit(&format!("task {:?} deleted\n", a.id));
            Ok(())
        }
        TaskCmd::Run(a) => {
            inspector
                .run_task(&a.queue, &a.id)
                .await
                .map_err(|e| task_err(&e, "could not run", a))?;
            emit(&format!("task {:?} moved to pending\n", a.id));
            Ok(())
        }
        TaskCmd::ArchiveAll(a) => bulk(&inspector, a, Action::Archive).await,
        TaskCmd::DeleteAll(a) => bulk(&inspector, a, Action::Delete).await,
        TaskCmd::RunAll(a) => bulk(&inspector, a, Action::Run).await,
        TaskCmd::Enqueue(_) => unreachable!("handled above"),
    }
}

fn task_err(e: &redisq::Error, doing: &str, a: &TaskRef) -> CliError {
    from_redisq(
        e,
        &format!("{doing} task {:?} in queue {:?}", a.id, a.queue),
        Subject::Task {
            queue: &a.queue,
            id: &a.id,
        },
    )
}

async fn list(inspector: &Inspector, a: &LsArgs) -> CliResult {
    let group = check_group(a.state, a.group.as_deref(), &a.queue)?;
    let opts = ListOptions::new()
        .page(a.page as usize)
        .page_size(a.size as usize);
    let q = a.queue.as_str();
    if a.state == State::Waiting {
        return list_waiting(inspector, a, opts).await;
    }
    let res = match a.state {
        State::Active => inspector.list_active_tasks(q, opts).await,
        State::Pending => inspector.list_pending_tasks(q, opts).await,
        State::Aggregating => inspector.list_aggregating_tasks(q, group, opts).await,
        State::Scheduled => inspector.list_scheduled_tasks(q, opts).await,
        State::Retry => inspector.list_retry_tasks(q, opts).await,
        State::Archived => inspector.list_archived_tasks(q, opts).await,
        State::Completed => inspector.list_completed_tasks(q, opts).await,
        State::Waiting => Ok(Vec::new()),
    };
    let tasks = res.map_err(|e| {
        from_redisq(
            &e,
            &format!("could not list the {} tasks of queue {q:?}", a.state.name()),
            Subject::Queue(q),
        )
    })?;
    if a.json {
        let list: Vec<json::TaskJson> = tasks.iter().map(json::TaskJson::from).collect();
        return print_json(&list);
    }
    if tasks.is_empty() {
        let what = match a.state {
            State::Aggregating => format!("tasks in group {group:?} of queue {q:?}"),
            s => format!("{} tasks in queue {q:?}", s.name()),
        };
        let page = if a.page > 1 {
            format!(" on page {}", a.page)
        } else {
            String::new()
        };
        emit(&format!("no {what}{page}\n"));
        return Ok(());
    }
    emit(&table(a.state, &tasks, SystemTime::now()).render());
    Ok(())
}

/// `task ls --state waiting`: the flow parents waiting for their children, with why.
async fn list_waiting(inspector: &Inspector, a: &LsArgs, opts: ListOptions) -> CliResult {
    let q = a.queue.as_str();
    let tasks = inspector.list_waiting_tasks(q, opts).await.map_err(|e| {
        from_redisq(
            &e,
            &format!("could not list the waiting tasks of queue {q:?}"),
            Subject::Queue(q),
        )
    })?;
    if a.json {
        let list: Vec<json::WaitingJson> = tasks.iter().map(json::WaitingJson::from).collect();
        return print_json(&list);
    }
    if tasks.is_empty() {
        let page = if a.page > 1 {
            format!(" on page {}", a.page)
        } else {
            String::new()
        };
        emit(&format!("no waiting tasks in queue {q:?}{page}\n"));
        return Ok(());
    }
    let now = SystemTime::now();
    let mut t = Table::new(&["ID", "Type", "Payload", "Reason", "Waiting Since"]);
    for w in &tasks {
        t.row(vec![
            w.task.id.clone(),
            w.task.task_type.clone(),
            payload_cell(&w.task.payload, 40),
            w.long_reason(),
            when_short(Some(w.waiting_since), now),
        ]);
    }
    emit(&t.render());
    Ok(())
}

/// The columns asynq shows for each state, plus a few more.
fn table(state: State, tasks: &[TaskInfo], now: SystemTime) -> Table {
    const PAYLOAD: usize = 40;
    const ERR: usize = 40;
    let mut t = match state {
        State::Active => Table::new(&["ID", "Type", "Payload", "Orphaned", "Progress"]),
        State::Pending => Table::new(&["ID", "Type", "Payload"]),
        State::Aggregating => Table::new(&["ID", "Type", "Payload", "Group"]),
        State::Scheduled => Table::new(&["ID", "Type", "Payload", "Process In"]),
        State::Retry => Table::new(&[
            "ID",
            "Type",
            "Payload",
            "Next Retry",
            "Last Error",
            "Last Failed",
            "Retried",
            "Max Retry",
        ])
        .right(&[6, 7]),
        State::Archived => Table::new(&["ID", "Type", "Payload", "Last Error", "Last Failed"]),
        State::Completed => Table::new(&["ID", "Type", "Payload", "Completed", "Result"]),
        State::Waiting => Table::new(&["ID", "Type", "Payload"]),
    };
    for task in tasks {
        let mut row = vec![
            task.id.clone(),
            task.task_type.clone(),
            payload_cell(&task.payload, PAYLOAD),
        ];
        match state {
            State::Active => {
                row.push(if task.is_orphaned { "yes" } else { "no" }.to_string());
                row.push(task.progress.as_ref().map_or_else(
                    || "-".to_string(),
                    |p| payload_cell(format!("{}% {}", p.percent, p.message).as_bytes(), ERR),
                ));
            }
            State::Pending | State::Waiting => {}
            State::Aggregating => row.push(task.group.clone().unwrap_or_default()),
            State::Scheduled => row.push(when_short(task.next_process_at, now)),
            State::Retry => {
                row.push(when_short(task.next_process_at, now));
                row.push(payload_cell(task.last_err.as_bytes(), ERR));
                row.push(when_short(task.last_failed_at, now));
                row.push(task.retried.to_string());
                row.push(task.max_retry.to_string());
            }
            State::Archived => {
                row.push(payload_cell(task.last_err.as_bytes(), ERR));
                row.push(when_short(task.last_failed_at, now));
            }
            State::Completed => {
                row.push(when_short(task.completed_at, now));
                row.push(
                    task.result
                        .as_deref()
                        .map_or_else(|| "-".to_string(), |r| payload_cell(r, PAYLOAD)),
                );
            }
        }
        t.row(row);
    }
    t
}

/// `task inspect` text.
fn detail(t: &TaskInfo, now: SystemTime) -> String {
    let dash = || "-".to_string();
    let mut rows: Vec<(&str, String)> = vec![
        ("ID", t.id.clone()),
        ("Queue", t.queue.clone()),
        ("Type", t.task_type.clone()),
        ("State", t.state.as_str().to_string()),
        ("Payload", payload_detail(&t.payload)),
    ];
    if !t.headers.is_empty() {
        let h: Vec<String> = t
            .headers
            .iter()
            .map(|(k, v)| format!("{}={}", escape_controls(k), escape_controls(v)))
            .collect();
        rows.push(("Headers", h.join("\n")));
    }
    rows.extend([
        ("Group", t.group.clone().unwrap_or_else(dash)),
        ("Retried", format!("{}/{}", t.retried, t.max_retry)),
        (
            "Last Error",
            if t.last_err.is_empty() {
                dash()
            } else {
                escape_controls(&t.last_err)
            },
        ),
        ("Last Failed", when(t.last_failed_at, now)),
        ("Timeout", t.timeout.map_or_else(dash, duration::format)),
        ("Deadline", when(t.deadline, now)),
        ("Next Process At", when(t.next_process_at, now)),
        ("Retention", t.retention.map_or_else(dash, duration::format)),
        ("Completed At", when(t.completed_at, now)),
        (
            "Result",
            t.result.as_deref().map_or_else(dash, payload_detail),
        ),
    ]);
    if t.state == redisq::TaskState::Active {
        rows.push((
            "Orphaned",
            if t.is_orphaned { "yes" } else { "no" }.to_string(),
        ));
        if let Some(p) = &t.progress {
            rows.push((
                "Progress",
                format!(
                    "{}% {} (reported {})",
                    p.percent,
                    escape_controls(&p.message),
                    when(Some(p.updated_at), now)
                ),
            ));
        }
    }
    fields(&rows)
}

async fn cancel(inspector: &Inspector, a: &CancelArgs) -> CliResult {
    // Which tasks the running servers report as being processed (their heartbeat lists are
    // a few seconds old at most); the signal is sent regardless.
    let running: HashSet<String> = inspector
        .servers()
        .await
        .map(|servers| {
            servers
                .iter()
                .flat_map(|s| s.active_workers.iter().map(|w| w.task_id.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut outcome = Outcome::default();
    for id in &a.ids {
        let r = inspector.cancel_processing(id).await.map_err(|e| {
            from_redisq(
                &e,
                &format!("could not send the cancel signal for task {id:?}"),
                Subject::None,
            )
        });
        if r.is_ok() {
            emit(&format!("cancel signal sent for task {id:?}\n"));
            if !running.contains(id) {
                eprintln!(
                    "warning: no running server reports task {id:?} as active; if it is not \
                     running the signal has no effect"
                );
            }
        }
        outcome.record(r);
    }
    outcome.finish()
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Archive,
    Delete,
    Run,
}

async fn bulk<S: BulkState>(inspector: &Inspector, a: &BulkArgs<S>, action: Action) -> CliResult {
    let state = a.state.state();
    let group = check_group(state, a.group.as_deref(), &a.queue)?;
    let q = a.queue.as_str();
    let res = match (action, state) {
        (Action::Archive, State::Pending) => inspector.archive_all_pending_tasks(q).await,
        (Action::Archive, State::Aggregating) => {
            inspector.archive_all_aggregating_tasks(q, group).await
        }
        (Action::Archive, State::Scheduled) => inspector.archive_all_scheduled_tasks(q).await,
        (Action::Archive, State::Retry) => inspector.archive_all_retry_tasks(q).await,
        (Action::Delete, State::Pending) => inspector.delete_all_pending_tasks(q).await,
        (Action::Delete, State::Aggregating) => {
            inspector.delete_all_aggregating_tasks(q, group).await
        }
        (Action::Delete, State::Scheduled) => inspector.delete_all_scheduled_tasks(q).await,
        (Action::Delete, State::Retry) => inspector.delete_all_retry_tasks(q).await,
        (Action::Delete, State::Archived) => inspector.delete_all_archived_tasks(q).await,
        (Action::Delete, State::Completed) => inspector.delete_all_completed_tasks(q).await,
        (Action::Run, State::Scheduled) => inspector.run_all_scheduled_tasks(q).await,
        (Action::Run, State::Retry) => inspector.run_all_retry_tasks(q).await,
        (Action::Run, State::Archived) => inspector.run_all_archived_tasks(q).await,
        (Action::Run, State::Aggregating) => inspector.run_all_aggregating_tasks(q, group).await,
        // The value enums of each command only offer the states above.
        (action, state) => {
            return Err(CliError::usage(format!(
                "{action:?} all does not apply to {} tasks",
                state.name()
            )));
        }
    };
    let (verb, done) = match action {
        Action::Archive => ("archive", "archived"),
        Action::Delete => ("delete", "deleted"),
        Action::Run => ("run", "run"),
    };
    let n = res.map_err(|e| {
        from_redisq(
            &e,
            &format!("could not {verb} the {} tasks of queue {q:?}", state.name()),
            Subject::Queue(q),
        )
    })?;
    if a.json {
        return print_json(&json::Bulk {
            queue: q.to_string(),
            state: state.name().to_string(),
            group: (state == State::Aggregating).then(|| group.to_string()),
            action: done,
            count: n,
        });
    }
    let tasks = if n == 1 { "task" } else { "tasks" };
    let what = match state {
        State::Aggregating => format!("{tasks} of group {group:?}"),
        s => format!("{} {tasks}", s.name()),
    };
    let done = match action {
        Action::Run => "moved to pending",
        _ => done,
    };
    emit(&format!("{n} {what} {done} in queue {q:?}\n"));
    Ok(())
}

async fn enqueue(conn: &Conn, a: &EnqueueArgs) -> CliResult {
    if a.type_name.trim().is_empty() {
        return Err(CliError::usage("--type_name must not be empty"));
    }
    let mut opts = vec![TaskOption::queue(a.queue.clone())];
    if let Some(n) = a.retry {
        opts.push(TaskOption::max_retry(i32::try_from(n).unwrap_or(i32::MAX)));
    }
    if let Some(id) = &a.id {
        opts.push(TaskOption::task_id(id.clone()));
    }
    if let Some(d) = a.timeout {
        opts.push(TaskOption::timeout(d));
    }
    if let Some(t) = a.deadline {
        opts.push(TaskOption::deadline(t));
    }
    if let Some(d) = a.unique {
        opts.push(TaskOption::unique(d));
    }
    if let Some(t) = a.process_at {
        opts.push(TaskOption::process_at(t));
    }
    if let Some(d) = a.process_in {
        opts.push(TaskOption::process_in(d));
    }
    if let Some(d) = a.retention {
        opts.push(TaskOption::retention(d));
    }
    if let Some(g) = &a.group {
        opts.push(TaskOption::group(g.clone()));
    }
    for (k, v) in &a.headers {
        opts.push(TaskOption::header(k.clone(), v.clone()));
    }
    let client = conn.client().await?;
    let task = Task::new(a.type_name.clone(), a.payload.clone().into_bytes());
    let info = client.enqueue_with(&task, opts).await.map_err(|e| {
        from_redisq(
            &e,
            &format!("could not enqueue the {:?} task", a.type_name),
            Subject::Queue(&a.queue),
        )
    });
    let _ = client.close();
    let info = info?;
    if a.json {
        return print_json(&json::TaskJson::from(&info));
    }
    let mut line = format!(
        "enqueued task {:?} (type {:?}) to queue {:?}: {}",
        info.id, info.task_type, info.queue, info.state
    );
    if info.state == redisq::TaskState::Scheduled {
        line.push_str(&format!(
            ", to be processed at {}",
            when(info.next_process_at, SystemTime::now())
        ));
    }
    if let Some(g) = &info.group
        && info.state == redisq::TaskState::Aggregating
    {
        line.push_str(&format!(" in group {g:?}"));
    }
    line.push('\n');
    emit(&line);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_headers() {
        let t = parse_time("2026-01-02T03:04:05Z").unwrap();
        assert_eq!(crate::output::rfc3339(t), "2026-01-02T03:04:05Z");
        let t = parse_time("2026-01-02T05:04:05+02:00").unwrap();
        assert_eq!(crate::output::rfc3339(t), "2026-01-02T03:04:05Z");
        assert!(parse_time("tomorrow").unwrap_err().contains("RFC 3339"));
        assert_eq!(parse_header("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_header("novalue").is_err());
    }

    #[test]
    fn groups_follow_the_state() {
        assert_eq!(
            check_group(State::Aggregating, Some("g"), "q").unwrap(),
            "g"
        );
        assert!(check_group(State::Aggregating, None, "q").is_err());
        assert!(check_group(State::Pending, Some("g"), "q").is_err());
        assert_eq!(check_group(State::Pending, None, "q").unwrap(), "");
    }
}
