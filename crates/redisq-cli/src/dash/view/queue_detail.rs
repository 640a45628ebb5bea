//! The queue detail screen: a queue summary, the state tabs and one page of tasks.

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Tabs};

use super::format::{bytes, count, fit_middle, grouped, id_cap, relative, short_duration};
use super::text::{clean, one_line, preview};
use super::{bold, dim, message, right};
use crate::dash::state::{DashState, QueueView, Tab};

/// Lines of the queue detail screen that are not task rows: title bar, queue summary (3),
/// tabs, table borders (2) and header, status line, key hints.
const DETAIL_CHROME: u16 = 10;

/// How many task rows fit on the queue detail screen of a terminal this high.
pub(crate) fn page_size_for(height: u16) -> usize {
    usize::from(height.saturating_sub(DETAIL_CHROME).max(1))
}

pub(super) fn render_queue_detail(
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
