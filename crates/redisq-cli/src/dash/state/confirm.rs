//! The confirmation dialog: task and queue actions are asked (y/n) before they run, and task
//! actions the task's state does not allow are refused without asking.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Action, DashState, Tab};

/// An action waiting for y/n.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Confirm {
    pub(crate) prompt: String,
    pub(crate) action: Action,
}

impl DashState {
    fn ask(&mut self, action: Action) -> Action {
        self.confirm = Some(Confirm {
            prompt: action.prompt(),
            action,
        });
        Action::None
    }

    /// Answers the pending question with a key; other keys leave it open.
    pub(super) fn key_confirm(&mut self, key: KeyEvent, confirm: Confirm) -> Action {
        match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => {
                self.info("Working…");
                confirm.action
            }
            KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                self.info("Cancelled.");
                Action::None
            }
            _ => {
                self.confirm = Some(confirm);
                Action::None
            }
        }
    }

    pub(super) fn pause_toggle(&mut self, queue: String) -> Action {
        let paused = self.queue_row(&queue).is_some_and(|q| q.paused);
        self.ask(if paused {
            Action::UnpauseQueue { queue }
        } else {
            Action::PauseQueue { queue }
        })
    }

    /// Asks to confirm a task action allowed in the task's state.
    pub(super) fn task_action(
        &mut self,
        key: char,
        queue: String,
        id: String,
        state: Tab,
    ) -> Action {
        let refused = match (key, state) {
            ('r', Tab::Pending | Tab::Active) => {
                Some(format!("A {} task cannot be run.", state.name()))
            }
            ('a', Tab::Active | Tab::Archived) => {
                Some(format!("An {} task cannot be archived.", state.name()))
            }
            ('d', Tab::Active) => Some("An active task cannot be deleted; cancel it (c).".into()),
            ('c', s) if s != Tab::Active => Some("Only active tasks can be cancelled.".into()),
            _ => None,
        };
        if let Some(msg) = refused {
            self.error(msg);
            return Action::None;
        }
        let action = match key {
            'r' => Action::RunTask { queue, id },
            'a' => Action::ArchiveTask { queue, id },
            'd' => Action::DeleteTask { queue, id },
            _ => Action::CancelTask { queue, id },
        };
        self.ask(action)
    }
}

/// The task action key (`r`, `a`, `d`, `c`) of a key; Delete is `d`.
pub(super) fn action_key(code: KeyCode) -> Option<char> {
    match code {
        KeyCode::Char(c @ ('r' | 'a' | 'd' | 'c')) => Some(c),
        KeyCode::Delete => Some('d'),
        _ => None,
    }
}
