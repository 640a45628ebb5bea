//! The help screen: every key, by screen.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::format::short_duration;
use super::{bold, dim, key_style};
use crate::dash::state::DashState;

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

pub(super) fn render_help(frame: &mut Frame<'_>, area: Rect, state: &DashState) {
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
