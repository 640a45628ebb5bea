//! What surrounds every screen: the title bar with the screen path, the status line and the
//! key hints.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::format::{fit_middle, relative, short_duration};
use super::text::clean;
use super::{dim, key_style};
use crate::dash::state::{DashState, Screen, Tab};

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

pub(super) fn render_title(frame: &mut Frame<'_>, area: Rect, state: &DashState, now: SystemTime) {
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

pub(super) fn render_status(frame: &mut Frame<'_>, area: Rect, state: &DashState) {
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

pub(super) fn render_keys(frame: &mut Frame<'_>, area: Rect, state: &DashState) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::state::{QueueView, TaskView};

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
}
