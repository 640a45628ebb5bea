//! Draws a [`DashState`] into a ratatui [`Frame`]. Pure: the same state and `now` always give
//! the same screen, so every screen is checked by snapshot tests.
//!
//! Everything that comes from Redis (queue names, task types, payloads, errors) is cleaned of
//! control characters before it is drawn, so a task cannot send escape sequences to the
//! terminal.
//!
//! One submodule per screen (`queues`, `queue_detail`, `task_detail`, `groups`, `servers`,
//! `help`), plus `chrome` (title bar, status line, key hints), `confirm` (the y/n dialog over
//! any screen), `text` (making untrusted text and bytes safe to show) and `format` (numbers,
//! sizes, durations, times).

mod chrome;
mod confirm;
mod format;
mod groups;
mod help;
mod queue_detail;
mod queues;
mod servers;
mod task_detail;
mod text;

use std::time::SystemTime;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Block, Cell, Paragraph};

use self::chrome::{render_keys, render_status, render_title};
use self::confirm::render_confirm;
use self::groups::render_groups;
use self::help::render_help;
use self::queue_detail::render_queue_detail;
use self::queues::render_queues;
use self::servers::render_servers;
use self::task_detail::render_task_detail;
use super::state::{DashState, Screen};

pub(crate) use self::queue_detail::page_size_for;

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

/// A bordered box with a one-line message inside.
fn message(frame: &mut Frame<'_>, area: Rect, title: String, text: &str) {
    frame.render_widget(
        Paragraph::new(Line::from(Span::styled(format!(" {text}"), dim())))
            .block(Block::bordered().title(title)),
        area,
    );
}

fn right(s: impl Into<String>) -> Cell<'static> {
    Cell::from(Text::from(s.into()).alignment(Alignment::Right))
}
