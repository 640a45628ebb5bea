//! The I/O half of the dashboard: turns an [`Action`] into Inspector calls and their results
//! into an [`Outcome`] for [`DashState::apply`](super::state::DashState::apply). Errors are
//! kept as text for the status line; nothing here touches the terminal.

use std::future::Future;
use std::time::{Duration, SystemTime};

use redisq::{GroupInfo, Inspector, ListOptions, QueueInfo, ServerInfo, TaskInfo, WorkerInfo};

use super::state::{
    Action, FetchRequest, Fetched, GroupRow, Outcome, QueueRow, ServerRow, Tab, TaskList, TaskRow,
    WorkerRow,
};

/// How long one fetch or action may take before it is reported as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Carries out an action; `None` for the actions that need no Redis ([`Action::None`],
/// [`Action::Quit`]).
pub(crate) async fn perform(inspector: &Inspector, action: Action) -> Option<Outcome> {
    match action {
        Action::None | Action::Quit => None,
        Action::Fetch { seq, request } => {
            let result = bounded(fetch(inspector, &request)).await;
            Some(Outcome::Fetched {
                seq,
                request,
                at: SystemTime::now(),
                result,
            })
        }
        action => {
            let result = bounded(act(inspector, &action)).await;
            Some(Outcome::Done { action, result })
        }
    }
}

async fn bounded<T>(call: impl Future<Output = redisq::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no answer from Redis within {}s",
            CALL_TIMEOUT.as_secs()
        )),
    }
}

async fn act(inspector: &Inspector, action: &Action) -> redisq::Result<()> {
    match action {
        Action::RunTask { queue, id } => inspector.run_task(queue, id).await,
        Action::ArchiveTask { queue, id } => inspector.archive_task(queue, id).await,
        Action::DeleteTask { queue, id } => inspector.delete_task(queue, id).await,
        Action::CancelTask { id, .. } => inspector.cancel_processing(id).await,
        Action::PauseQueue { queue } => inspector.pause_queue(queue).await,
        Action::UnpauseQueue { queue } => inspector.unpause_queue(queue).await,
        Action::None | Action::Quit | Action::Fetch { .. } => Ok(()),
    }
}

/// Reads what a screen needs.
pub(crate) async fn fetch(
    inspector: &Inspector,
    request: &FetchRequest,
) -> redisq::Result<Fetched> {
    match request {
        FetchRequest::Queues => {
            let names = inspector.queues().await?;
            let infos =
                futures_util::future::join_all(names.iter().map(|q| inspector.queue_info(q))).await;
            let mut rows = Vec::with_capacity(infos.len());
            for info in infos {
                match info {
                    Ok(info) => rows.push(queue_row(&info)),
                    // Deleted between the two calls.
                    Err(e) if e.is_queue_not_found() => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Fetched::Queues(rows))
        }
        FetchRequest::Queue { queue, list } => {
            let (info, groups, tasks) = tokio::try_join!(
                inspector.queue_info(queue),
                inspector.groups(queue),
                list_tasks(inspector, queue, list.as_ref()),
            )?;
            Ok(Fetched::Queue {
                info: Box::new(queue_row(&info)),
                groups: groups.iter().map(group_row).collect(),
                tasks: tasks.iter().map(task_row).collect(),
            })
        }
        FetchRequest::Task { queue, id } => {
            let task = inspector.task_info(queue, id).await?;
            Ok(Fetched::Task(Box::new(task_row(&task))))
        }
        FetchRequest::Servers => {
            let servers = inspector.servers().await?;
            Ok(Fetched::Servers(servers.iter().map(server_row).collect()))
        }
    }
}

async fn list_tasks(
    inspector: &Inspector,
    queue: &str,
    list: Option<&TaskList>,
) -> redisq::Result<Vec<TaskInfo>> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let opts = ListOptions::new().page(list.page).page_size(list.page_size);
    match list.tab {
        Tab::Active => inspector.list_active_tasks(queue, opts).await,
        Tab::Pending => inspector.list_pending_tasks(queue, opts).await,
        Tab::Scheduled => inspector.list_scheduled_tasks(queue, opts).await,
        Tab::Retry => inspector.list_retry_tasks(queue, opts).await,
        Tab::Archived => inspector.list_archived_tasks(queue, opts).await,
        Tab::Completed => inspector.list_completed_tasks(queue, opts).await,
        Tab::Aggregating => match &list.group {
            Some(group) => inspector.list_aggregating_tasks(queue, group, opts).await,
            None => Ok(Vec::new()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Conversions from the Inspector's types

pub(crate) fn queue_row(q: &QueueInfo) -> QueueRow {
    QueueRow {
        name: q.queue.clone(),
        paused: q.paused,
        size: q.size,
        groups: q.groups,
        pending: q.pending,
        active: q.active,
        scheduled: q.scheduled,
        retry: q.retry,
        archived: q.archived,
        completed: q.completed,
        aggregating: q.aggregating,
        processed: q.processed,
        failed: q.failed,
        processed_total: q.processed_total,
        failed_total: q.failed_total,
        latency: q.latency,
        memory: q.memory_usage,
    }
}

fn group_row(g: &GroupInfo) -> GroupRow {
    GroupRow {
        name: g.group.clone(),
        size: g.size,
    }
}

pub(crate) fn task_row(t: &TaskInfo) -> TaskRow {
    TaskRow {
        id: t.id.clone(),
        queue: t.queue.clone(),
        task_type: t.task_type.clone(),
        payload: t.payload.to_vec(),
        headers: t.headers.clone(),
        state: Tab::from_name(t.state.as_str()).unwrap_or_default(),
        max_retry: t.max_retry,
        retried: t.retried,
        last_err: t.last_err.clone(),
        last_failed_at: t.last_failed_at,
        timeout: t.timeout,
        deadline: t.deadline,
        group: t.group.clone(),
        next_process_at: t.next_process_at,
        is_orphaned: t.is_orphaned,
        retention: t.retention,
        completed_at: t.completed_at,
        result: t.result.as_ref().map(|r| r.to_vec()),
        progress: t.progress.as_ref().map(|p| (p.percent, p.message.clone())),
    }
}

fn server_row(s: &ServerInfo) -> ServerRow {
    ServerRow {
        id: s.id.clone(),
        host: s.host.clone(),
        pid: s.pid,
        concurrency: s.concurrency,
        queues: s.queues.iter().map(|(q, p)| (q.clone(), *p)).collect(),
        strict_priority: s.strict_priority,
        started: s.started,
        status: s.status.clone(),
        workers: s.active_workers.iter().map(worker_row).collect(),
    }
}

fn worker_row(w: &WorkerInfo) -> WorkerRow {
    WorkerRow {
        task_id: w.task_id.clone(),
        task_type: w.task_type.clone(),
        payload: w.task_payload.to_vec(),
        queue: w.queue.clone(),
        started: w.started,
        deadline: w.deadline,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use redisq::{Client, Task, TaskOption, parse_redis_uri};
    use redisq_test_support::RedisServer;

    use super::*;
    use crate::dash::fixtures::render_text;
    use crate::dash::state::{DashState, Screen};

    /// Carries out an action and everything it leads to.
    async fn drive(inspector: &Inspector, state: &mut DashState, mut action: Action) {
        for _ in 0..10 {
            match perform(inspector, action).await {
                Some(outcome) => action = state.apply(outcome),
                None => return,
            }
        }
        panic!("the dashboard kept asking for more");
    }

    async fn press(inspector: &Inspector, state: &mut DashState, code: KeyCode) {
        let action = state.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
        drive(inspector, state, action).await;
    }

    /// The cells of the table row of a queue on the queues screen.
    fn queue_line(screen: &str, queue: &str) -> Vec<String> {
        let line = screen
            .lines()
            .find(|l| {
                l.trim_start_matches(['│', '>', ' '])
                    .starts_with(&format!("{queue} "))
            })
            .unwrap_or_else(|| panic!("no row for {queue} in\n{screen}"));
        line.split(|c: char| c.is_whitespace() || c == '│' || c == '>')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[tokio::test]
    async fn fetches_from_redis_and_renders() {
        let server = RedisServer::start();
        let opt = parse_redis_uri(&server.url()).expect("url");
        let client = Client::connect(opt.clone()).await.expect("client");
        let inspector = Inspector::connect(opt).await.expect("inspector");

        // default: 3 pending, one of them archived below; critical: 2 scheduled; low: 4 in
        // group "batch", paused.
        let mut ids = Vec::new();
        for i in 0..3 {
            let info = client
                .enqueue(&Task::new("email:send", format!(r#"{{"n":{i}}}"#)))
                .await
                .expect("enqueue");
            ids.push(info.id);
        }
        for i in 0..2 {
            client
                .enqueue_with(
                    &Task::new("report:daily", format!("day {i}")),
                    [
                        TaskOption::queue("critical"),
                        TaskOption::process_in(Duration::from_secs(3600)),
                    ],
                )
                .await
                .expect("schedule");
        }
        for i in 0..4 {
            client
                .enqueue_with(
                    &Task::new("metrics:point", vec![0u8, 1, 2, i]),
                    [TaskOption::queue("low"), TaskOption::group("batch")],
                )
                .await
                .expect("group");
        }
        inspector
            .archive_task("default", &ids[0])
            .await
            .expect("archive");
        inspector.pause_queue("low").await.expect("pause");

        let mut state = DashState::new(Duration::from_secs(8), 10);
        let first = state.refresh();
        drive(&inspector, &mut state, first).await;
        let now = SystemTime::now();
        let screen = render_text(&state, 160, 30, now);
        assert!(state.status.is_none(), "{screen}");
        //                  queue state size pend act sched retry arch done aggr proc fail
        let row = |q| queue_line(&screen, q)[..12].join(" ");
        assert_eq!(row("critical"), "critical run 2 0 0 2 0 0 0 0 0 0");
        assert_eq!(row("default"), "default run 3 2 0 0 0 1 0 0 0 0");
        assert_eq!(row("low"), "low paused 4 0 0 0 0 0 0 4 0 0");
        assert!(screen.contains("Queues (3)"), "{screen}");

        // Into `low`, aggregating tab: the group is picked and its tasks listed.
        press(&inspector, &mut state, KeyCode::End).await;
        press(&inspector, &mut state, KeyCode::Enter).await;
        press(&inspector, &mut state, KeyCode::Char('3')).await;
        let screen = render_text(&state, 160, 30, now);
        assert!(
            screen.contains("Aggregating tasks of group batch · page 1/1"),
            "{screen}"
        );
        assert_eq!(screen.matches("metrics:point").count(), 4, "{screen}");
        assert!(screen.contains("paused"), "{screen}");

        // Back, into `default`, pending tab; archive the first pending task.
        press(&inspector, &mut state, KeyCode::Esc).await;
        press(&inspector, &mut state, KeyCode::Char('k')).await;
        press(&inspector, &mut state, KeyCode::Enter).await;
        press(&inspector, &mut state, KeyCode::Char('2')).await;
        let screen = render_text(&state, 160, 30, now);
        assert!(
            screen.contains(&ids[1]) && screen.contains(&ids[2]),
            "{screen}"
        );
        assert!(
            screen.contains("Pending 2") && screen.contains("Archived 1"),
            "{screen}"
        );
        press(&inspector, &mut state, KeyCode::Char('a')).await;
        assert!(state.confirm.is_some());
        press(&inspector, &mut state, KeyCode::Char('y')).await;
        let screen = render_text(&state, 160, 30, now);
        assert!(
            screen.contains(&format!("Task {} archived.", ids[1])),
            "{screen}"
        );
        assert!(
            screen.contains("Pending 1") && screen.contains("Archived 2"),
            "{screen}"
        );

        // Task detail of the remaining pending task.
        press(&inspector, &mut state, KeyCode::Enter).await;
        assert!(matches!(state.screen(), Screen::TaskDetail(_)));
        let screen = render_text(&state, 160, 30, now);
        assert!(screen.contains(&ids[2]), "{screen}");
        assert!(screen.contains(r#"{"n":2}"#), "{screen}");

        // A failing action shows in the status line: running a pending task.
        let action = Action::RunTask {
            queue: "default".into(),
            id: ids[2].clone(),
        };
        drive(&inspector, &mut state, action).await;
        let screen = render_text(&state, 160, 30, now);
        assert!(
            screen.contains(&format!("Could not run task {}", ids[2])),
            "{screen}"
        );

        // Redis goes away: the error shows, the dashboard keeps its data.
        drop(server);
        let again = state.refresh();
        drive(&inspector, &mut state, again).await;
        let screen = render_text(&state, 160, 30, now);
        assert!(state.status.as_ref().is_some_and(|s| s.error), "{screen}");
        assert!(screen.contains("Redis: "), "{screen}");
    }
}
