//! Fixed data for the state and snapshot tests: a few queues, tasks in every state, groups
//! and servers, all relative to a fixed "now", answered as `fetch.rs` would answer.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::state::{
    DashState, FetchRequest, Fetched, GroupRow, QueueRow, ServerRow, Tab, TaskRow, WorkerRow,
};
use super::view;

/// 2026-01-02 03:04:05 UTC.
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_767_323_045)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn queue(name: &str, counts: [usize; 7]) -> QueueRow {
    let [
        active,
        pending,
        aggregating,
        scheduled,
        retry,
        archived,
        completed,
    ] = counts;
    QueueRow {
        name: name.into(),
        size: counts.iter().sum(),
        active,
        pending,
        aggregating,
        scheduled,
        retry,
        archived,
        completed,
        ..QueueRow::default()
    }
}

/// The queues, sorted by name as the Inspector returns them.
pub(crate) fn queues() -> Vec<QueueRow> {
    vec![
        QueueRow {
            processed: 1_204,
            failed: 17,
            processed_total: 98_765,
            failed_total: 1_234,
            memory: Some(48_300),
            ..queue("critical", [1, 0, 0, 4, 0, 0, 120])
        },
        QueueRow {
            groups: 2,
            processed: 523,
            failed: 9,
            processed_total: 52_310,
            failed_total: 811,
            latency: Duration::from_millis(2_560),
            memory: Some(1_288_490),
            ..queue("default", [2, 12, 4, 3, 2, 2, 1])
        },
        QueueRow {
            paused: true,
            latency: secs(3 * 3600 + 240),
            memory: Some(98_765_432),
            ..queue("low", [0, 250_000, 0, 0, 0, 0, 0])
        },
        queue("reports", [0; 7]),
    ]
}

/// The groups of a queue.
pub(crate) fn groups(queue: &str) -> Vec<GroupRow> {
    if queue != "default" {
        return Vec::new();
    }
    vec![
        GroupRow {
            name: "batch:eu".into(),
            size: 3,
        },
        GroupRow {
            name: "batch:us".into(),
            size: 1,
        },
    ]
}

/// Task `i` of a list.
pub(crate) fn task(queue: &str, tab: Tab, group: Option<&str>, i: usize) -> TaskRow {
    let now = now();
    let qi = queues().iter().position(|q| q.name == queue).unwrap_or(9);
    let id = format!(
        "{:08x}-7e3c-4b1d-9a2f-{:012x}",
        0x5f3a_0000 + tab.index() * 0x100 + qi,
        0x00c0_ffee_0000_u64 + i as u64
    );
    let mut t = TaskRow {
        id,
        queue: queue.into(),
        state: tab,
        max_retry: 25,
        timeout: Some(secs(1800)),
        ..TaskRow::default()
    };
    match tab {
        Tab::Active => {
            t.task_type = "image:resize".into();
            t.payload = format!(r#"{{"image":"s3://photos/{}.jpg","width":640}}"#, 1000 + i).into();
            t.deadline = Some(now + secs(1500 + 60 * i as u64));
            t.is_orphaned = i == 1;
        }
        Tab::Pending => {
            t.task_type = "email:welcome".into();
            t.payload = format!(r#"{{"user_id":{}}}"#, 1000 + i).into();
            t.next_process_at = Some(now);
        }
        Tab::Aggregating => {
            t.task_type = "metrics:point".into();
            t.payload = format!("cpu={}", 40 + i).into();
            t.group = group.map(str::to_string);
        }
        Tab::Scheduled => {
            t.task_type = "report:daily".into();
            t.payload = format!("2026-01-{:02}", 3 + i).into();
            t.next_process_at = Some(now + secs(3600 * (i as u64 + 1)));
            t.retention = Some(secs(86_400));
        }
        Tab::Retry => {
            t.task_type = "payment:charge".into();
            t.payload = format!("{{\"order\": {},\n \"amount\": \"12.50\"}}", 7 + i).into();
            t.retried = i as u32 + 1;
            t.last_err = "provider timeout: POST https://pay.example.com/charge\n\
                          context deadline exceeded"
                .into();
            t.last_failed_at = Some(now - secs(90));
            t.next_process_at = Some(now + secs(30 * (i as u64 + 1)));
            t.deadline = Some(now + secs(86_400));
            t.headers = BTreeMap::from([
                ("tenant".to_string(), "acme".to_string()),
                ("trace-id".to_string(), "4bf92f3577b34da6".to_string()),
            ]);
        }
        Tab::Archived => {
            t.task_type = "import:csv".into();
            t.max_retry = 5;
            t.retried = 5;
            t.last_failed_at = Some(now - secs(7200 + 60 * i as u64));
            if i == 1 {
                // A gzip header and some bytes: not text.
                t.payload = vec![
                    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x4b, 0x4c, 0x4a,
                    0x06, 0x00, 0xc2, 0x41, 0x24, 0x35, 0x03, 0x00, 0x00, 0x00, 0xff, 0x7f, 0x80,
                    0x0a, 0x0d, 0x1b, 0x5b, 0x32, 0x4a, b'o', b'k',
                ];
                t.last_err = "gzip: invalid header".into();
            } else {
                t.payload = b"name,email\nann,ann@example.com\nbob".to_vec();
                t.last_err = "malformed csv: line 3: wrong number of fields".into();
            }
        }
        Tab::Completed => {
            t.task_type = "report:daily".into();
            t.payload = b"2026-01-01".to_vec();
            t.completed_at = Some(now - secs(600));
            t.retention = Some(secs(86_400));
            t.result = Some(b"42 orders".to_vec());
        }
    }
    t
}

/// The servers: one busy with two tasks of `default`, one idle.
pub(crate) fn servers() -> Vec<ServerRow> {
    let now = now();
    let workers = (0..2)
        .map(|i| {
            let t = task("default", Tab::Active, None, i);
            WorkerRow {
                task_id: t.id,
                task_type: t.task_type,
                payload: t.payload,
                queue: t.queue,
                started: Some(now - secs(42 + 300 * i as u64)),
                deadline: t.deadline,
            }
        })
        .collect();
    vec![
        ServerRow {
            id: "3c2d1e0f-aaaa-4bbb-8ccc-000000000001".into(),
            host: "worker-1".into(),
            pid: 4242,
            concurrency: 10,
            queues: vec![
                ("critical".into(), 6),
                ("default".into(), 3),
                ("low".into(), 1),
            ],
            strict_priority: false,
            started: Some(now - secs(3 * 3600 + 17 * 60)),
            status: "active".into(),
            workers,
        },
        ServerRow {
            id: "3c2d1e0f-aaaa-4bbb-8ccc-000000000002".into(),
            host: "worker-2".into(),
            pid: 777,
            concurrency: 4,
            queues: vec![("default".into(), 1)],
            strict_priority: true,
            started: Some(now - secs(2 * 86_400 + 3600)),
            status: "active".into(),
            workers: Vec::new(),
        },
    ]
}

/// What Redis holding the fixtures would answer.
pub(crate) fn answer(request: &FetchRequest) -> Fetched {
    match request {
        FetchRequest::Queues => Fetched::Queues(queues()),
        FetchRequest::Queue { queue, list } => {
            let info = queues()
                .into_iter()
                .find(|q| q.name == *queue)
                .expect("a fixture queue");
            let groups = groups(queue);
            let tasks = match list {
                None => Vec::new(),
                Some(list) => {
                    let total = match (list.tab, &list.group) {
                        (Tab::Aggregating, None) => 0,
                        (Tab::Aggregating, Some(g)) => {
                            groups.iter().find(|x| x.name == *g).map_or(0, |x| x.size)
                        }
                        (tab, _) => tab.count(&info),
                    };
                    let start = (list.page.max(1) - 1) * list.page_size;
                    let end = (start + list.page_size).min(total);
                    (start..end)
                        .map(|i| task(queue, list.tab, list.group.as_deref(), i))
                        .collect()
                }
            };
            Fetched::Queue {
                info: Box::new(info),
                groups,
                tasks,
            }
        }
        FetchRequest::Task { queue, id } => {
            let found = Tab::ALL
                .iter()
                .flat_map(|tab| {
                    let group = (*tab == Tab::Aggregating).then_some("batch:eu");
                    (0..12).map(move |i| task(queue, *tab, group, i))
                })
                .find(|t| t.id == *id)
                .expect("a fixture task");
            Fetched::Task(Box::new(found))
        }
        FetchRequest::Servers => Fetched::Servers(servers()),
    }
}

/// Renders the state into a `width`×`height` buffer and returns its text, one line per row
/// with trailing spaces removed.
pub(crate) fn render_text(state: &DashState, width: u16, height: u16, now: SystemTime) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|frame| view::render(frame, state, now))
        .expect("draw");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buffer.area.height {
        let mut line = String::new();
        for x in 0..buffer.area.width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
