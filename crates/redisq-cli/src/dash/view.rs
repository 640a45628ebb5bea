//! Draws a [`DashState`] into a ratatui [`Frame`]. Pure: the same state and `now` always give
//! the same screen, so every screen is checked by snapshot tests.
//!
//! Everything that comes from Redis (queue names, task types, payloads, errors) is cleaned of
//! control characters before it is drawn, so a task cannot send escape sequences to the
//! terminal.

use std::borrow::Cow;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{
    Block, Cell, Clear, HighlightSpacing, Paragraph, Row, Table, TableState, Tabs, Wrap,
};

use super::state::{
    Confirm, DashState, QueueRow, QueueView, Screen, ServerRow, Tab, TaskRow, TaskView, WorkerRow,
};

/// Lines of the queue detail screen that are not task rows: title bar, queue summary (3),
/// tabs, table borders (2) and header, status line, key hints.
const DETAIL_CHROME: u16 = 10;

/// The payload bytes shown as text at most.
const MAX_TEXT_BYTES: usize = 16 * 1024;
/// The payload bytes shown as a hex dump at most.
const MAX_HEX_BYTES: usize = 4 * 1024;

/// How many task rows fit on the queue detail screen of a terminal this high.
pub(crate) fn page_size_for(height: u16) -> usize {
    usize::from(height.saturating_sub(DETAIL_CHROME).max(1))
}

fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

fn key_style() -> Style {
    Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

/// Draws the whole screen.
pub(crate) fn render(frame: &mut Frame<'_>, state: &DashState, now: SystemTime) {
    let [title, body, status, keys] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    render_title(frame, title, state, now);
    match state.screen() {
        Screen::Queues { selected } => render_queues(frame, body, state, *selected),
        Screen::QueueDetail(v) => render_queue_detail(frame, body, state, v, now),
        Screen::TaskDetail(t) => render_task_detail(frame, body, state, t, now),
        Screen::Groups { queue, selected } => render_groups(frame, body, state, queue, *selected),
        Screen::Servers { selected } => render_servers(frame, body, state, *selected, now),
        Screen::Help => render_help(frame, body, state),
    }
    render_status(frame, status, state);
    render_keys(frame, keys, state);
    if let Some(confirm) = &state.confirm {
        render_confirm(frame, body, confirm);
    }
}

// ---------------------------------------------------------------------------------------------
// Frame: title bar, status line, key hints, confirmation

fn crumb(screen: &Screen) -> String {
    match screen {
        Screen::Queues { .. } => "Queues".into(),
        Screen::QueueDetail(v) => match (&v.tab, &v.group) {
            (Tab::Aggregating, Some(g)) => {
                format!("{} › Aggregating ({})", clean(&v.queue), clean(g))
            }
            _ => format!("{} › {}", clean(&v.queue), v.tab.title()),
        },
        Screen::TaskDetail(t) => format!("Task {}", fit_middle(&clean(&t.id), 15)),
        Screen::Groups { queue, .. } => format!("Groups of {}", clean(queue)),
        Screen::Servers { .. } => "Servers".into(),
        Screen::Help => "Help".into(),
    }
}

fn render_title(frame: &mut Frame<'_>, area: Rect, state: &DashState, now: SystemTime) {
    let style = Style::new().fg(Color::Black).bg(Color::Cyan);
    let path = state
        .stack()
        .iter()
        .map(crumb)
        .collect::<Vec<_>>()
        .join(" › ");
    let left = Line::from(vec![
        Span::styled(" redisq dash ", style.add_modifier(Modifier::BOLD)),
        Span::styled(format!("│ {path}"), style),
    ]);
    let updated = match state.data.fetched_at {
        Some(at) => format!("updated {}", relative(at, now)),
        None => "loading…".into(),
    };
    let right = format!(
        "{updated} · refresh {} ",
        short_duration(state.refresh.max(Duration::from_secs(1)))
    );
    frame.render_widget(Paragraph::new("").style(style), area);
    let right_width = (right.chars().count() as u16).min(area.width / 2);
    let [l, r] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(right_width)]).areas(area);
    frame.render_widget(Paragraph::new(left).style(style), l);
    frame.render_widget(
        Paragraph::new(right)
            .style(style)
            .alignment(Alignment::Right),
        r,
    );
}

fn render_status(frame: &mut Frame<'_>, area: Rect, state: &DashState) {
    let Some(status) = &state.status else {
        return;
    };
    let line = if status.error {
        Line::from(vec![
            Span::styled(" ! ", Style::new().fg(Color::White).bg(Color::Red)),
            Span::styled(
                format!(" {}", clean(&status.text)),
                Style::new().fg(Color::Red),
            ),
        ])
    } else {
        Line::from(Span::styled(
            format!(" {}", clean(&status.text)),
            Style::new().fg(Color::Green),
        ))
    };
    frame.render_widget(Paragraph::new(line), area);
}

/// The key hints of the screen shown.
fn hints(screen: &Screen, confirming: bool) -> &'static [(&'static str, &'static str)] {
    if confirming {
        return &[("y", "confirm"), ("n/Esc", "cancel")];
    }
    match screen {
        Screen::Queues { .. } => &[
            ("j/k", "select"),
            ("Enter", "open"),
            ("p", "pause/resume"),
            ("g", "groups"),
            ("s", "servers"),
            ("^L", "refresh"),
            ("?", "help"),
            ("q", "quit"),
        ],
        Screen::QueueDetail(_) => &[
            ("j/k", "select"),
            ("h/l", "state"),
            ("[ ]", "page"),
            ("Enter", "task"),
            ("r/a/d/c", "run/archive/delete/cancel"),
            ("Esc", "back"),
            ("?", "help"),
        ],
        Screen::TaskDetail(_) => &[
            ("j/k", "scroll"),
            ("x", "text/hex"),
            ("r/a/d/c", "run/archive/delete/cancel"),
            ("Esc", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
        Screen::Groups { .. } => &[
            ("j/k", "select"),
            ("Enter", "show tasks"),
            ("p", "pause/resume"),
            ("Esc", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
        Screen::Servers { .. } => &[
            ("j/k", "select server"),
            ("^L", "refresh"),
            ("Esc", "back"),
            ("?", "help"),
            ("q", "quit"),
        ],
        Screen::Help => &[("?/Esc", "close help"), ("q", "quit")],
    }
}

fn render_keys(frame: &mut Frame<'_>, area: Rect, state: &DashState) {
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, what)) in hints(state.screen(), state.confirm.is_some())
        .iter()
        .enumerate()
    {
        if i > 0 {
            spans.push(Span::raw("  "));
        }
        spans.push(Span::styled(*key, key_style()));
        spans.push(Span::styled(format!(" {what}"), dim()));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn render_confirm(frame: &mut Frame<'_>, area: Rect, confirm: &Confirm) {
    let prompt = clean(&confirm.prompt);
    let width = (prompt.chars().count() as u16 + 6)
        .clamp(40, area.width.saturating_sub(4).max(10))
        .min(area.width);
    let inner = usize::from(width.saturating_sub(4).max(1));
    let lines = prompt.chars().count().div_ceil(inner).max(1) as u16;
    let height = (lines + 4).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - width) / 2,
        y: area.y + (area.height - height) / 2,
        width,
        height,
    };
    let text = Text::from(vec![
        Line::from(prompt),
        Line::default(),
        Line::from(vec![
            Span::styled("y", key_style()),
            Span::raw(" yes   "),
            Span::styled("n", key_style()),
            Span::raw("/"),
            Span::styled("Esc", key_style()),
            Span::raw(" no"),
        ]),
    ]);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(text).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(Span::styled(" Confirm ", bold()))
                .border_style(Style::new().fg(Color::Yellow))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        popup,
    );
}

/// A bordered box with a one-line message inside.
fn message(frame: &mut Frame<'_>, area: Rect, title: String, text: &str) {
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(format!(" {text}"), dim())))
            .block(Block::bordered().title(title)),
        area,
    );
}

// ---------------------------------------------------------------------------------------------
// Queues

fn right(s: impl Into<String>) -> Cell<'static> {
    Cell::from(Text::from(s.into()).alignment(Alignment::Right))
}

fn render_queues(frame: &mut Frame<'_>, area: Rect, state: &DashState, selected: usize) {
    let queues = &state.data.queues;
    if !state.data.have_queues {
        return message(frame, area, " Queues ".into(), "Loading…");
    }
    let title = format!(" Queues ({}) ", queues.len());
    if queues.is_empty() {
        return message(
            frame,
            area,
            title,
            "No queues yet: a queue appears with its first task.",
        );
    }
    let [table_area, panel_area] =
        Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(area);
    let header = Row::new(
        [
            "Queue", "State", "Size", "Pend", "Act", "Sched", "Retry", "Arch", "Done", "Aggr",
            "Proc/d", "Fail", "Latency", "Memory",
        ]
        .into_iter()
        .enumerate()
        .map(|(i, h)| if i < 2 { Cell::from(h) } else { right(h) }),
    )
    .style(bold());
    let rows = queues.iter().map(|q| {
        let state_cell = if q.paused {
            Cell::from(Span::styled("paused", Style::new().fg(Color::Yellow)))
        } else {
            Cell::from("run")
        };
        Row::new(vec![
            Cell::from(clean(&q.name).into_owned()),
            state_cell,
            right(count(q.size as u64)),
            right(count(q.pending as u64)),
            right(count(q.active as u64)),
            right(count(q.scheduled as u64)),
            right(count(q.retry as u64)),
            right(count(q.archived as u64)),
            right(count(q.completed as u64)),
            right(count(q.aggregating as u64)),
            right(count(q.processed)),
            right(count(q.failed)),
            right(short_duration(q.latency)),
            right(bytes(q.memory)),
        ])
    });
    let widths = [
        Constraint::Min(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(7),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(Span::styled(title, bold())))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, table_area, &mut ts);
    if let Some(q) = queues.get(selected) {
        render_queue_panel(frame, panel_area, q);
    }
}

fn render_queue_panel(frame: &mut Frame<'_>, area: Rect, q: &QueueRow) {
    let sizes = Tab::ALL
        .iter()
        .map(|t| format!("{} {}", t.name(), grouped(t.count(q) as u64)))
        .collect::<Vec<_>>()
        .join(", ");
    let lines = vec![
        Line::from(vec![
            Span::styled(format!("Size {}", grouped(q.size as u64)), bold()),
            Span::raw(format!(": {sizes}")),
        ]),
        Line::from(vec![
            Span::styled("Today (UTC) ", bold()),
            Span::raw(format!(
                "processed {} · failed {} · error rate {}   ",
                grouped(q.processed),
                grouped(q.failed),
                rate(q.failed, q.processed)
            )),
            Span::styled("All time ", bold()),
            Span::raw(format!(
                "processed {} · failed {}",
                grouped(q.processed_total),
                grouped(q.failed_total)
            )),
        ]),
        Line::from(format!(
            "{} · latency {} · memory {} · {} group{}",
            if q.paused { "Paused" } else { "Running" },
            short_duration(q.latency),
            bytes(q.memory),
            q.groups,
            if q.groups == 1 { "" } else { "s" }
        )),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::bordered()
                .title(Span::styled(format!(" {} ", clean(&q.name)), bold()))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        area,
    );
}

// ---------------------------------------------------------------------------------------------
// Queue detail

fn render_queue_detail(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    v: &QueueView,
    now: SystemTime,
) {
    let [summary, tabs, list] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(area);
    let info = state.queue_row(&v.queue);
    let title = Span::styled(format!(" Queue {} ", clean(&v.queue)), bold());
    let text = match info {
        Some(q) => Line::from(vec![
            if q.paused {
                Span::styled(
                    "paused",
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                )
            } else {
                Span::raw("running")
            },
            Span::raw(format!(
                " · size {} · latency {} · memory {} · today: processed {}, failed {} · groups {}",
                grouped(q.size as u64),
                short_duration(q.latency),
                bytes(q.memory),
                grouped(q.processed),
                grouped(q.failed),
                q.groups
            )),
        ]),
        None => Line::from(Span::styled("Loading…", dim())),
    };
    frame.render_widget(
        Paragraph::new(text).block(
            Block::bordered()
                .title(title)
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        summary,
    );
    let titles = Tab::ALL.iter().map(|t| {
        let n = info.map_or_else(|| "-".to_string(), |q| count(t.count(q) as u64));
        Line::from(format!("{} {n}", t.title()))
    });
    frame.render_widget(
        Tabs::new(titles)
            .select(v.tab.index())
            .style(dim())
            .highlight_style(
                Style::new()
                    .fg(Color::Yellow)
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
            .divider("│"),
        tabs,
    );
    render_task_list(frame, list, state, v, now);
}

fn render_task_list(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    v: &QueueView,
    now: SystemTime,
) {
    let what = match (&v.tab, &v.group) {
        (Tab::Aggregating, Some(g)) => format!("Aggregating tasks of group {}", clean(g)),
        (tab, _) => format!("{} tasks", tab.title()),
    };
    let pages = state.pages_of(v);
    let mut title = format!(" {what} · page {}", v.page);
    if let Some(p) = pages {
        title.push_str(&format!("/{p}"));
    }
    title.push(' ');
    let total = state.total_of(v).map(|n| {
        format!(
            " {} task{} ",
            grouped(n as u64),
            if n == 1 { "" } else { "s" }
        )
    });
    if v.tab == Tab::Aggregating && v.group.is_none() {
        let text = if state.groups_of(&v.queue).is_some() {
            "No groups: nothing is waiting for aggregation."
        } else {
            "Loading…"
        };
        return message(frame, area, " Aggregating tasks ".into(), text);
    }
    let Some(tasks) = state.tasks_of(v) else {
        return message(frame, area, title, "Loading…");
    };
    let mut block = Block::bordered().title(Span::styled(title, bold()));
    if let Some(total) = total {
        block = block.title(Line::from(total).right_aligned());
    }
    if tasks.is_empty() {
        let text = format!("No {} tasks.", v.tab.name());
        return frame.render_widget(
            Paragraph::new(Line::from(Span::styled(format!(" {text}"), dim()))).block(block),
            area,
        );
    }
    let id_w = tasks
        .iter()
        .map(|t| clean(&t.id).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(2, id_cap(area.width)) as u16;
    let type_w = tasks
        .iter()
        .map(|t| clean(&t.task_type).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 24) as u16;
    let mut head = vec![Cell::from("ID"), Cell::from("Type"), Cell::from("Payload")];
    let mut widths = vec![
        Constraint::Length(id_w),
        Constraint::Length(type_w),
        Constraint::Fill(1),
    ];
    let extra: &[(&str, Constraint, bool)] = match v.tab {
        Tab::Active => &[
            ("Timeout", Constraint::Length(7), true),
            ("Deadline", Constraint::Length(10), true),
            ("Orphaned", Constraint::Length(8), false),
        ],
        Tab::Pending => &[("Retried", Constraint::Length(7), true)],
        Tab::Aggregating => &[("Group", Constraint::Length(16), false)],
        Tab::Scheduled => &[
            ("Due", Constraint::Length(10), true),
            ("Retried", Constraint::Length(7), true),
        ],
        Tab::Retry => &[
            ("Next try", Constraint::Length(10), true),
            ("Retried", Constraint::Length(7), true),
            ("Last error", Constraint::Fill(2), false),
        ],
        Tab::Archived => &[
            ("Failed", Constraint::Length(10), true),
            ("Retried", Constraint::Length(7), true),
            ("Last error", Constraint::Fill(2), false),
        ],
        Tab::Completed => &[
            ("Completed", Constraint::Length(10), true),
            ("Expires", Constraint::Length(10), true),
            ("Result", Constraint::Fill(1), false),
        ],
    };
    for (h, w, r) in extra {
        head.push(if *r { right(*h) } else { Cell::from(*h) });
        widths.push(*w);
    }
    let rows = tasks.iter().map(|t| {
        let mut cells = vec![
            Cell::from(fit_middle(&clean(&t.id), usize::from(id_w))),
            Cell::from(clean(&t.task_type).into_owned()),
            Cell::from(preview(&t.payload)),
        ];
        let retried = format!("{}/{}", t.retried, t.max_retry);
        let when = |at: Option<SystemTime>| at.map_or_else(|| "-".into(), |at| relative(at, now));
        match v.tab {
            Tab::Active => {
                cells.push(right(t.timeout.map_or_else(|| "-".into(), short_duration)));
                cells.push(right(when(t.deadline)));
                cells.push(if t.is_orphaned {
                    Cell::from(Span::styled("yes", Style::new().fg(Color::Red)))
                } else {
                    Cell::from("no")
                });
            }
            Tab::Pending => cells.push(right(retried)),
            Tab::Aggregating => cells.push(Cell::from(
                clean(t.group.as_deref().unwrap_or("-")).into_owned(),
            )),
            Tab::Scheduled => {
                cells.push(right(when(t.next_process_at)));
                cells.push(right(retried));
            }
            Tab::Retry => {
                cells.push(right(when(t.next_process_at)));
                cells.push(right(retried));
                cells.push(Cell::from(one_line(&t.last_err)));
            }
            Tab::Archived => {
                cells.push(right(when(t.last_failed_at)));
                cells.push(right(retried));
                cells.push(Cell::from(one_line(&t.last_err)));
            }
            Tab::Completed => {
                cells.push(right(when(t.completed_at)));
                let expires = match (t.completed_at, t.retention) {
                    (Some(at), Some(keep)) => relative(at + keep, now),
                    _ => "-".into(),
                };
                cells.push(right(expires));
                cells.push(Cell::from(
                    t.result.as_deref().map_or_else(|| "-".to_string(), preview),
                ));
            }
        }
        Row::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(bold()))
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(v.selected));
    frame.render_stateful_widget(table, area, &mut ts);
}

// ---------------------------------------------------------------------------------------------
// Task detail

fn render_task_detail(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    t: &TaskView,
    now: SystemTime,
) {
    let title = Span::styled(format!(" Task {} ", clean(&t.id)), bold());
    let Some(task) = state.task_of(t) else {
        return message(frame, area, format!(" Task {} ", clean(&t.id)), "Loading…");
    };
    let lines = task_lines(task, t.hex, now);
    let block = Block::bordered()
        .title(title)
        .title(Line::from(format!(" {} ", task.state.name())).right_aligned())
        .padding(ratatui::widgets::Padding::horizontal(1));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((t.scroll, 0)),
        area,
    );
}

const LABEL: usize = 16;

fn field(label: &str, value: impl Into<String>) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("{label:<LABEL$}"), bold()),
        Span::raw(value.into()),
    ])
}

fn time_field(label: &str, at: Option<SystemTime>, now: SystemTime) -> Line<'static> {
    field(
        label,
        at.map_or_else(
            || "-".to_string(),
            |at| format!("{} ({})", utc(at), relative(at, now)),
        ),
    )
}

/// Every field of a task, then its payload and result.
pub(crate) fn task_lines(task: &TaskRow, hex: bool, now: SystemTime) -> Vec<Line<'static>> {
    let mut lines = vec![
        field("ID", clean(&task.id)),
        field("Queue", clean(&task.queue)),
        field("Type", clean(&task.task_type)),
        field("State", task.state.name()),
        field("Group", clean(task.group.as_deref().unwrap_or("-"))),
        field(
            "Retried",
            format!("{} of at most {}", task.retried, task.max_retry),
        ),
    ];
    let mut errs = task.last_err.lines();
    lines.push(field("Last error", clean(errs.next().unwrap_or("-"))));
    for more in errs {
        lines.push(field("", clean(more)));
    }
    lines.extend([
        time_field("Last failed at", task.last_failed_at, now),
        field(
            "Timeout",
            task.timeout.map_or_else(|| "-".into(), short_duration),
        ),
        time_field("Deadline", task.deadline, now),
        time_field("Next process at", task.next_process_at, now),
        field("Orphaned", if task.is_orphaned { "yes" } else { "no" }),
        field(
            "Retention",
            task.retention.map_or_else(|| "-".into(), short_duration),
        ),
        time_field("Completed at", task.completed_at, now),
    ]);
    if task.headers.is_empty() {
        lines.push(field("Headers", "-"));
    }
    for (i, (k, v)) in task.headers.iter().enumerate() {
        let label = if i == 0 { "Headers" } else { "" };
        lines.push(field(label, format!("{} = {}", clean(k), clean(v))));
    }
    lines.push(Line::default());
    bytes_section(&mut lines, "Payload", Some(&task.payload), hex);
    lines.push(Line::default());
    bytes_section(&mut lines, "Result", task.result.as_deref(), hex);
    lines
}

fn bytes_section(lines: &mut Vec<Line<'static>>, label: &str, data: Option<&[u8]>, hex: bool) {
    let Some(data) = data else {
        lines.push(field(label, "none"));
        return;
    };
    let text = printable(data);
    let n = data.len();
    let size = format!("{n} byte{}", if n == 1 { "" } else { "s" });
    let how = match (text, hex) {
        _ if n == 0 => size,
        (Some(_), false) => format!("{size}, text (x: hex dump)"),
        (Some(_), true) => format!("{size}, hex dump (x: text)"),
        (None, _) => format!("{size}, hex dump (not printable text)"),
    };
    lines.push(field(label, how));
    if n == 0 {
        return;
    }
    let shown = match text {
        Some(text) if !hex => {
            let cut = floor_char_boundary(text, MAX_TEXT_BYTES);
            for line in text[..cut].split('\n') {
                lines.push(Line::from(format!("  {}", clean_multiline(line))));
            }
            cut
        }
        _ => {
            let cut = n.min(MAX_HEX_BYTES);
            for line in hex_dump(&data[..cut]) {
                lines.push(Line::from(format!("  {line}")));
            }
            cut
        }
    };
    if shown < n {
        lines.push(Line::from(Span::styled(
            format!("  … {} more bytes", n - shown),
            dim(),
        )));
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|i| s.is_char_boundary(*i))
        .unwrap_or(0)
}

/// The bytes as text, when they are UTF-8 without control characters other than newlines
/// and tabs.
pub(crate) fn printable(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    s.chars()
        .all(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .then_some(s)
}

/// A classic hex dump: offset, 16 bytes in two groups of 8, and the printable ASCII.
pub(crate) fn hex_dump(data: &[u8]) -> Vec<String> {
    data.chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let mut line = format!("{:08x}  ", i * 16);
            for j in 0..16 {
                match chunk.get(j) {
                    Some(b) => line.push_str(&format!("{b:02x} ")),
                    None => line.push_str("   "),
                }
                if j == 7 {
                    line.push(' ');
                }
            }
            line.push_str(" |");
            line.extend(chunk.iter().map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    char::from(b)
                } else {
                    '.'
                }
            }));
            line.push('|');
            line
        })
        .collect()
}

/// A one-line preview of a payload for tables.
fn preview(data: &[u8]) -> String {
    match printable(data) {
        Some(s) => one_line(s),
        None => {
            let head: String = data.iter().take(12).map(|b| format!("{b:02x}")).collect();
            let more = if data.len() > 12 { "…" } else { "" };
            format!("<{} bytes> {head}{more}", data.len())
        }
    }
}

/// A text on one line: newlines become `⏎`, other control characters are escaped.
fn one_line(s: &str) -> String {
    let s: String = s.chars().take(400).collect();
    clean(
        &s.replace("\r\n", "⏎")
            .replace(['\n', '\r'], "⏎")
            .replace('\t', " "),
    )
    .into_owned()
}

// ---------------------------------------------------------------------------------------------
// Groups

fn render_groups(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    queue: &str,
    selected: usize,
) {
    let Some(groups) = state.groups_of(queue) else {
        return message(
            frame,
            area,
            format!(" Groups of queue {} ", clean(queue)),
            "Loading…",
        );
    };
    let title = format!(" Groups of queue {} ({}) ", clean(queue), groups.len());
    if groups.is_empty() {
        return message(
            frame,
            area,
            title,
            "No groups: nothing is waiting for aggregation.",
        );
    }
    let rows = groups.iter().map(|g| {
        Row::new(vec![
            Cell::from(clean(&g.name).into_owned()),
            right(grouped(g.size as u64)),
        ])
    });
    let table = Table::new(rows, [Constraint::Fill(1), Constraint::Length(12)])
        .header(Row::new(vec![Cell::from("Group"), right("Tasks")]).style(bold()))
        .block(Block::bordered().title(Span::styled(title, bold())))
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ")
        .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, area, &mut ts);
}

// ---------------------------------------------------------------------------------------------
// Servers

fn render_servers(
    frame: &mut Frame<'_>,
    area: Rect,
    state: &DashState,
    selected: usize,
    now: SystemTime,
) {
    let servers = &state.data.servers;
    if !state.data.have_servers {
        return message(frame, area, " Servers ".into(), "Loading…");
    }
    let title = format!(" Servers ({}) ", servers.len());
    if servers.is_empty() {
        return message(frame, area, title, "No servers are running.");
    }
    let height = (servers.len() as u16 + 3).min(area.height / 2).max(4);
    let [top, bottom] =
        Layout::vertical([Constraint::Length(height), Constraint::Min(3)]).areas(area);
    let rows = servers.iter().map(|s| {
        let mut queues = s
            .queues
            .iter()
            .map(|(q, p)| format!("{}:{p}", clean(q)))
            .collect::<Vec<_>>()
            .join(" ");
        if s.strict_priority {
            queues.push_str(" (strict)");
        }
        Row::new(vec![
            Cell::from(clean(&s.host).into_owned()),
            right(s.pid.to_string()),
            Cell::from(clean(&s.status).into_owned()),
            right(format!("{}/{}", s.workers.len(), s.concurrency)),
            Cell::from(queues),
            right(s.started.map_or_else(|| "-".into(), |at| relative(at, now))),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Fill(1),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Fill(2),
            Constraint::Length(10),
        ],
    )
    .header(
        Row::new(vec![
            Cell::from("Host"),
            right("PID"),
            Cell::from("Status"),
            right("Workers"),
            Cell::from("Queues (priority)"),
            right("Started"),
        ])
        .style(bold()),
    )
    .block(Block::bordered().title(Span::styled(title, bold())))
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .highlight_symbol("> ")
    .highlight_spacing(HighlightSpacing::Always);
    let mut ts = TableState::default().with_selected(Some(selected));
    frame.render_stateful_widget(table, top, &mut ts);
    if let Some(server) = servers.get(selected) {
        render_workers(frame, bottom, server, now);
    }
}

fn render_workers(frame: &mut Frame<'_>, area: Rect, s: &ServerRow, now: SystemTime) {
    let title = format!(
        " Active workers of {} pid {} ({}) ",
        clean(&s.host),
        s.pid,
        s.workers.len()
    );
    if s.workers.is_empty() {
        return message(frame, area, title, "Idle: no task is being processed.");
    }
    let longest = |f: fn(&WorkerRow) -> &str, min: usize, max: usize| {
        s.workers
            .iter()
            .map(|w| clean(f(w)).chars().count())
            .max()
            .unwrap_or(0)
            .clamp(min, max) as u16
    };
    let id_w = longest(|w| &w.task_id, 7, id_cap(area.width));
    let type_w = longest(|w| &w.task_type, 4, 24);
    let queue_w = longest(|w| &w.queue, 5, 16);
    let rows = s.workers.iter().map(|w| {
        Row::new(vec![
            Cell::from(fit_middle(&clean(&w.task_id), usize::from(id_w))),
            Cell::from(clean(&w.task_type).into_owned()),
            Cell::from(clean(&w.queue).into_owned()),
            right(w.started.map_or_else(|| "-".into(), |at| relative(at, now))),
            right(
                w.deadline
                    .map_or_else(|| "-".into(), |at| relative(at, now)),
            ),
            Cell::from(preview(&w.payload)),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(id_w),
            Constraint::Length(type_w),
            Constraint::Length(queue_w),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(vec![
            Cell::from("Task ID"),
            Cell::from("Type"),
            Cell::from("Queue"),
            right("Started"),
            right("Deadline"),
            Cell::from("Payload"),
        ])
        .style(bold()),
    )
    .block(
        Block::bordered()
            .title(Span::styled(title, bold()))
            .padding(ratatui::widgets::Padding::horizontal(1)),
    );
    frame.render_widget(table, area);
}

// ---------------------------------------------------------------------------------------------
// Help

/// Every key, by screen; shown by `?` (and listed in the README).
pub(crate) const HELP: &[(&str, &[(&str, &str)])] = &[
    (
        "Everywhere",
        &[
            ("?", "show or hide this help"),
            ("Esc", "back to the previous screen"),
            ("q, Ctrl-C", "quit"),
            (
                "Ctrl-L",
                "refresh now (the screen also refreshes every --refresh seconds)",
            ),
            ("s", "servers and the tasks their workers are processing"),
        ],
    ),
    (
        "Lists (queues, tasks, groups, servers)",
        &[
            (
                "j/k, Down/Up",
                "move the selection (Home/End: first/last row)",
            ),
            ("Enter", "open the selected queue, task or group"),
            (
                "p / g",
                "pause or resume the queue / show its aggregation groups",
            ),
        ],
    ),
    (
        "Queue detail",
        &[
            (
                "h/l, Left/Right",
                "previous/next state tab (also Shift-Tab/Tab, 1-7)",
            ),
            (
                "[ ], PgUp/PgDn",
                "previous/next page of tasks (also Ctrl-B/Ctrl-F)",
            ),
            (
                "r a d c",
                "run (move to pending), archive, delete, cancel (active) the task",
            ),
        ],
    ),
    (
        "Task detail",
        &[
            ("j/k, PgUp/PgDn", "scroll"),
            ("x", "payload and result as text or as a hex dump"),
            ("r a d c", "run, archive, delete, cancel the task"),
        ],
    ),
    ("Questions", &[("y / n, Esc", "do it / do not")]),
];

fn render_help(frame: &mut Frame<'_>, area: Rect, state: &DashState) {
    let mut lines = Vec::new();
    for (section, keys) in HELP {
        lines.push(Line::from(Span::styled(*section, bold())));
        for (key, what) in *keys {
            lines.push(Line::from(vec![
                Span::styled(format!("  {key:<17}"), key_style()),
                Span::raw(*what),
            ]));
        }
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        format!(
            "Queues table: Pend pending, Act active, Sched scheduled, Arch archived, Done completed, \
             Aggr aggregating; Proc/d and Fail: processed and failed today (UTC); Latency: wait of \
             the oldest pending task. Refresh every {}.",
            short_duration(state.refresh)
        ),
        dim(),
    )));
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .title(Span::styled(" Keys ", bold()))
                .padding(ratatui::widgets::Padding::horizontal(1)),
        ),
        area,
    );
}

// ---------------------------------------------------------------------------------------------
// Formatting

/// The widest an ID column gets: about a third of the screen, at most a UUID.
fn id_cap(width: u16) -> usize {
    (usize::from(width.saturating_sub(4)) * 35 / 100).clamp(8, 36)
}

/// Cuts a text to `width` characters by replacing its middle with `…`, so that both the
/// start and the end of an ID stay visible.
pub(crate) fn fit_middle(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let head = (width - 1).div_ceil(2);
    let tail = width - 1 - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

/// Replaces control characters (escape sequences included) by their escaped form.
pub(crate) fn clean(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Like [`clean`] for one line of a text shown as it is: tabs become spaces, a trailing
/// carriage return is dropped.
fn clean_multiline(line: &str) -> String {
    let line = line
        .strip_suffix('\r')
        .unwrap_or(line)
        .replace('\t', "    ");
    clean(&line).into_owned()
}

/// A count in at most 5 characters: `12345`, `123k`, `12M`.
pub(crate) fn count(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=9_999_999 => format!("{}k", n / 1000),
        _ => format!("{}M", n / 1_000_000),
    }
}

/// A count with thousands separators: `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn rate(failed: u64, processed: u64) -> String {
    if processed == 0 {
        return "-".into();
    }
    format!("{:.2}%", failed as f64 * 100.0 / processed as f64)
}

/// A memory size: `512B`, `12.3K`, `4.5M`, `1.2G`.
pub(crate) fn bytes(n: Option<u64>) -> String {
    let Some(n) = n else {
        return "-".into();
    };
    const K: f64 = 1024.0;
    let f = n as f64;
    if n < 1024 {
        format!("{n}B")
    } else if f < K * K {
        format!("{:.1}K", f / K)
    } else if f < K * K * K {
        format!("{:.1}M", f / (K * K))
    } else {
        format!("{:.1}G", f / (K * K * K))
    }
}

/// A duration in a few characters: `350ms`, `1.2s`, `42s`, `5m3s`, `3h4m`, `2d3h`.
pub(crate) fn short_duration(d: Duration) -> String {
    let s = d.as_secs();
    let two = |a: u64, ua: &str, b: u64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua}{b}{ub}")
        }
    };
    if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else if d < Duration::from_secs(10) && d.subsec_millis() >= 100 {
        format!("{}.{}s", s, d.subsec_millis() / 100)
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        two(s / 60, "m", s % 60, "s")
    } else if s < 86_400 {
        two(s / 3600, "h", s % 3600 / 60, "m")
    } else {
        two(s / 86_400, "d", s % 86_400 / 3600, "h")
    }
}

/// `3m ago`, `in 2h`, `now`, at whole-second precision.
pub(crate) fn relative(at: SystemTime, now: SystemTime) -> String {
    let whole = |d: Duration| match d.as_secs() {
        s @ 0..60 => format!("{s}s"),
        s => short_duration(Duration::from_secs(s)),
    };
    match at.duration_since(now) {
        Ok(d) if d.as_secs() == 0 => "now".into(),
        Ok(d) => format!("in {}", whole(d)),
        Err(e) if e.duration().as_secs() == 0 => "now".into(),
        Err(e) => format!("{} ago", whole(e.duration())),
    }
}

/// `2026-01-02 03:04:05 UTC`.
pub(crate) fn utc(at: SystemTime) -> String {
    let secs = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    };
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_numbers_sizes_and_durations() {
        assert_eq!(count(99_999), "99999");
        assert_eq!(count(123_456), "123k");
        assert_eq!(count(12_345_678), "12M");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(123), "123");
        assert_eq!(bytes(None), "-");
        assert_eq!(bytes(Some(512)), "512B");
        assert_eq!(bytes(Some(12_595)), "12.3K");
        assert_eq!(bytes(Some(5 * 1024 * 1024)), "5.0M");
        assert_eq!(short_duration(Duration::from_millis(350)), "350ms");
        assert_eq!(short_duration(Duration::from_millis(2_560)), "2.5s");
        assert_eq!(short_duration(Duration::from_secs(42)), "42s");
        assert_eq!(short_duration(Duration::from_secs(8)), "8s");
        assert_eq!(fit_middle("0123456789", 5), "01…89");
        assert_eq!(fit_middle("0123456789", 6), "012…89");
        assert_eq!(fit_middle("0123", 5), "0123");
        assert_eq!(short_duration(Duration::from_secs(303)), "5m3s");
        assert_eq!(short_duration(Duration::from_secs(1800)), "30m");
        assert_eq!(short_duration(Duration::from_secs(3 * 3600 + 240)), "3h4m");
        assert_eq!(
            short_duration(Duration::from_secs(2 * 86_400 + 3 * 3600)),
            "2d3h"
        );
        assert_eq!(rate(1, 3), "33.33%");
        assert_eq!(rate(0, 0), "-");
    }

    #[test]
    fn formats_times() {
        let now = UNIX_EPOCH + Duration::from_secs(1_767_323_045);
        assert_eq!(utc(now), "2026-01-02 03:04:05 UTC");
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        assert_eq!(
            utc(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29 00:00:00 UTC"
        );
        assert_eq!(relative(now, now), "now");
        assert_eq!(relative(now - Duration::from_secs(90), now), "1m30s ago");
        assert_eq!(relative(now + Duration::from_millis(7_900), now), "in 7s");
    }

    #[test]
    fn key_hints_fit_in_100_columns() {
        let view = QueueView {
            queue: "q".into(),
            tab: Tab::Pending,
            group: None,
            page: 1,
            selected: 0,
        };
        let task = TaskView {
            queue: "q".into(),
            id: "i".into(),
            hex: false,
            scroll: 0,
        };
        for screen in [
            Screen::Queues { selected: 0 },
            Screen::QueueDetail(view),
            Screen::TaskDetail(task),
            Screen::Groups {
                queue: "q".into(),
                selected: 0,
            },
            Screen::Servers { selected: 0 },
            Screen::Help,
        ] {
            let width: usize = 1 + hints(&screen, false)
                .iter()
                .map(|(k, w)| k.chars().count() + 1 + w.chars().count() + 2)
                .sum::<usize>()
                - 2;
            assert!(width <= 100, "{screen:?}: {width} columns");
        }
    }

    #[test]
    fn cleans_control_characters() {
        assert_eq!(clean("plain"), "plain");
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(one_line("a\nb\r\nc\td"), "a⏎b⏎c d");
        assert_eq!(clean_multiline("x\ty\r"), "x    y");
    }

    #[test]
    fn printable_text_and_hex_dump() {
        assert_eq!(printable(b"{\"a\":1}\n"), Some("{\"a\":1}\n"));
        assert_eq!(printable(b"\x00\x01"), None);
        assert_eq!(printable(&[0xff, 0xfe]), None);
        assert_eq!(printable(b"\x1b[31m"), None);
        assert_eq!(
            hex_dump(b"0123456789abcdefXYZ\x00"),
            vec![
                "00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|",
                "00000010  58 59 5a 00                                       |XYZ.|",
            ]
        );
        assert_eq!(preview(&[0, 1, 2]), "<3 bytes> 000102");
    }
}
