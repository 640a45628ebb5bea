//! The task detail screen: every field of one task, its payload and result.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::confirm::action_key;
use super::{Action, DashState, Screen, Tab};

/// One task (the Inspector's `TaskInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TaskRow {
    pub(crate) id: String,
    pub(crate) queue: String,
    pub(crate) task_type: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) state: Tab,
    pub(crate) max_retry: u32,
    pub(crate) retried: u32,
    pub(crate) last_err: String,
    pub(crate) last_failed_at: Option<SystemTime>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) deadline: Option<SystemTime>,
    pub(crate) group: Option<String>,
    pub(crate) next_process_at: Option<SystemTime>,
    pub(crate) is_orphaned: bool,
    pub(crate) retention: Option<Duration>,
    pub(crate) completed_at: Option<SystemTime>,
    pub(crate) result: Option<Vec<u8>>,
    /// The running attempt's progress: percent and message (`TaskInfo::progress`).
    pub(crate) progress: Option<(u8, String)>,
}

/// The task detail screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TaskView {
    pub(crate) queue: String,
    pub(crate) id: String,
    /// Show payload and result as a hex dump even when they are printable text.
    pub(crate) hex: bool,
    /// Lines scrolled down.
    pub(crate) scroll: u16,
}

impl DashState {
    /// The task of a task view, if fetched.
    pub(crate) fn task_of(&self, t: &TaskView) -> Option<&TaskRow> {
        self.data
            .task
            .as_ref()
            .filter(|task| task.id == t.id && task.queue == t.queue)
    }

    pub(super) fn key_task_detail(&mut self, key: KeyEvent, mut t: TaskView) -> Action {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let scroll = match key.code {
            KeyCode::Char('j') | KeyCode::Down => Some(t.scroll.saturating_add(1)),
            KeyCode::Char('k') | KeyCode::Up => Some(t.scroll.saturating_sub(1)),
            KeyCode::PageDown => Some(t.scroll.saturating_add(10)),
            KeyCode::Char('f') if ctrl => Some(t.scroll.saturating_add(10)),
            KeyCode::PageUp => Some(t.scroll.saturating_sub(10)),
            KeyCode::Char('b') if ctrl => Some(t.scroll.saturating_sub(10)),
            KeyCode::Home => Some(0),
            _ => None,
        };
        if let Some(scroll) = scroll {
            t.scroll = scroll;
            *self.top_mut() = Screen::TaskDetail(t);
            return Action::None;
        }
        match key.code {
            KeyCode::Char('x') => {
                t.hex = !t.hex;
                *self.top_mut() = Screen::TaskDetail(t);
                Action::None
            }
            KeyCode::Char('r' | 'a' | 'd' | 'c') | KeyCode::Delete => {
                let Some(c) = action_key(key.code) else {
                    return Action::None;
                };
                let Some(state) = self.task_of(&t).map(|task| task.state) else {
                    return Action::None;
                };
                self.task_action(c, t.queue, t.id, state)
            }
            _ => Action::None,
        }
    }
}
