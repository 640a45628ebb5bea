//! The dashboard's state machine: which screen is shown, what was last fetched, and what a key
//! press does. No I/O happens here: [`DashState::handle_key`] and [`DashState::apply`] return
//! an [`Action`] that the event loop hands to `fetch.rs`, whose [`Outcome`] comes back through
//! [`DashState::apply`].
//!
//! The row types (`QueueRow`, `TaskRow`, …) mirror the Inspector's (`QueueInfo`, `TaskInfo`,
//! …), which cannot be built outside the library; owning them keeps this module and the view
//! testable with fixed data.
//!
//! This file holds the screen stack, the keys every screen shares and the handling of fetch
//! results; each screen's rows, accessors and keys live in a submodule of its own:
//! `queues`, `queue_detail` (state tabs and paging), `task_detail`, `groups`, `servers`, and
//! `confirm` (the y/n question asked before a task or queue action). `action` holds what goes
//! out to `fetch.rs` and what comes back.

mod action;
mod confirm;
mod groups;
mod queue_detail;
mod queues;
mod servers;
mod task_detail;

#[cfg(test)]
mod tests;

use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub(crate) use self::action::{Action, FetchRequest, Fetched, Outcome};
pub(crate) use self::confirm::Confirm;
pub(crate) use self::groups::GroupRow;
pub(crate) use self::queue_detail::{QueueView, Tab, TaskList};
pub(crate) use self::queues::QueueRow;
pub(crate) use self::servers::{ServerRow, WorkerRow};
pub(crate) use self::task_detail::{TaskRow, TaskView};

/// The data last fetched, with what each part was fetched for.
#[derive(Clone, Debug, Default)]
pub(crate) struct Data {
    /// All queues (queues screen).
    pub(crate) queues: Vec<QueueRow>,
    /// The queue of the queue detail or groups screen.
    pub(crate) queue: Option<QueueRow>,
    /// The groups of `queue`.
    pub(crate) groups: Vec<GroupRow>,
    /// A page of tasks, and which list it is a page of.
    pub(crate) tasks: Vec<TaskRow>,
    pub(crate) tasks_of: Option<(String, TaskList)>,
    /// The task of the task detail screen.
    pub(crate) task: Option<TaskRow>,
    /// The servers.
    pub(crate) servers: Vec<ServerRow>,
    /// Which of the parts above have been fetched at least once.
    pub(crate) have_queues: bool,
    pub(crate) have_servers: bool,
    /// When the last successful fetch finished.
    pub(crate) fetched_at: Option<SystemTime>,
}

/// A screen. Screens form a stack: Enter pushes, Esc pops.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Screen {
    Queues { selected: usize },
    QueueDetail(QueueView),
    TaskDetail(TaskView),
    Groups { queue: String, selected: usize },
    Servers { selected: usize },
    Help,
}

/// The status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) text: String,
    pub(crate) error: bool,
    /// Set by a failed fetch: cleared by the next successful one rather than by a key.
    from_fetch: bool,
}

/// Everything the view needs.
#[derive(Clone, Debug)]
pub(crate) struct DashState {
    /// Never empty; the bottom is the queues screen.
    stack: Vec<Screen>,
    pub(crate) data: Data,
    pub(crate) confirm: Option<Confirm>,
    pub(crate) status: Option<Status>,
    /// Tasks per page (set from the terminal height).
    pub(crate) page_size: usize,
    /// The refresh interval, for display.
    pub(crate) refresh: Duration,
    /// The sequence number of the last fetch asked for.
    seq: u64,
    /// The sequence number of the newest fetch applied; older answers are dropped.
    applied: u64,
}

fn is_ctrl(key: &KeyEvent, c: char) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char(c)
}

impl DashState {
    /// The queues screen with no data yet.
    pub(crate) fn new(refresh: Duration, page_size: usize) -> DashState {
        DashState {
            stack: vec![Screen::Queues { selected: 0 }],
            data: Data::default(),
            confirm: None,
            status: None,
            page_size: page_size.max(1),
            refresh,
            seq: 0,
            applied: 0,
        }
    }

    /// The screen shown.
    pub(crate) fn screen(&self) -> &Screen {
        self.stack.last().unwrap_or(&Screen::Queues { selected: 0 })
    }

    /// The screens from the bottom (queues) to the top (shown).
    pub(crate) fn stack(&self) -> &[Screen] {
        &self.stack
    }

    /// The screen the data is for: the shown one, or the one under the help screen.
    pub(crate) fn data_screen(&self) -> &Screen {
        self.stack
            .iter()
            .rev()
            .find(|s| !matches!(s, Screen::Help))
            .unwrap_or(&Screen::Queues { selected: 0 })
    }

    fn top_mut(&mut self) -> &mut Screen {
        if self.stack.is_empty() {
            self.stack.push(Screen::Queues { selected: 0 });
        }
        let last = self.stack.len() - 1;
        &mut self.stack[last]
    }

    fn push(&mut self, screen: Screen) {
        self.stack.push(screen);
    }

    fn pop(&mut self) -> bool {
        if self.stack.len() > 1 {
            self.stack.pop();
            true
        } else {
            false
        }
    }

    /// What the current screen needs from Redis.
    pub(crate) fn fetch_request(&self) -> FetchRequest {
        match self.data_screen() {
            Screen::Queues { .. } | Screen::Help => FetchRequest::Queues,
            Screen::QueueDetail(v) => FetchRequest::Queue {
                queue: v.queue.clone(),
                list: Some(self.task_list(v)),
            },
            Screen::Groups { queue, .. } => FetchRequest::Queue {
                queue: queue.clone(),
                list: None,
            },
            Screen::TaskDetail(t) => FetchRequest::Task {
                queue: t.queue.clone(),
                id: t.id.clone(),
            },
            Screen::Servers { .. } => FetchRequest::Servers,
        }
    }

    /// Asks for the current screen's data.
    pub(crate) fn refresh(&mut self) -> Action {
        self.seq += 1;
        Action::Fetch {
            seq: self.seq,
            request: self.fetch_request(),
        }
    }

    fn info(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: false,
            from_fetch: false,
        });
    }

    fn error(&mut self, text: impl Into<String>) {
        self.status = Some(Status {
            text: text.into(),
            error: true,
            from_fetch: false,
        });
    }

    // -----------------------------------------------------------------------------------------
    // Keys

    /// Reacts to a key press.
    pub(crate) fn handle_key(&mut self, key: KeyEvent) -> Action {
        if is_ctrl(&key, 'c') {
            return Action::Quit;
        }
        if let Some(confirm) = self.confirm.take() {
            return self.key_confirm(key, confirm);
        }
        if is_ctrl(&key, 'l') {
            return self.refresh();
        }
        if key.modifiers.contains(KeyModifiers::CONTROL)
            && !matches!(key.code, KeyCode::Char('f') | KeyCode::Char('b'))
        {
            return Action::None;
        }
        // A key press dismisses a message; errors of the last fetch stay until a fetch works.
        if self.status.as_ref().is_some_and(|s| !s.from_fetch) {
            self.status = None;
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('?') => {
                if matches!(self.screen(), Screen::Help) {
                    self.pop();
                } else {
                    self.push(Screen::Help);
                }
                return Action::None;
            }
            KeyCode::Esc => {
                let was_help = matches!(self.screen(), Screen::Help);
                if self.pop() && !was_help {
                    return self.refresh();
                }
                return Action::None;
            }
            _ => {}
        }
        if matches!(self.screen(), Screen::Help) {
            return Action::None;
        }
        if key.code == KeyCode::Char('s') && !matches!(self.screen(), Screen::Servers { .. }) {
            self.push(Screen::Servers { selected: 0 });
            return self.refresh();
        }
        match self.screen().clone() {
            Screen::Queues { selected } => self.key_queues(key, selected),
            Screen::QueueDetail(v) => self.key_queue_detail(key, v),
            Screen::TaskDetail(t) => self.key_task_detail(key, t),
            Screen::Groups { queue, selected } => self.key_groups(key, queue, selected),
            Screen::Servers { selected } => self.key_servers(key, selected),
            Screen::Help => Action::None,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Results

    /// Takes in what came back from Redis; may ask for more.
    pub(crate) fn apply(&mut self, outcome: Outcome) -> Action {
        match outcome {
            Outcome::Fetched {
                seq,
                request,
                at,
                result,
            } => {
                if seq < self.applied {
                    return Action::None;
                }
                self.applied = seq;
                match result {
                    Err(e) => {
                        self.status = Some(Status {
                            text: format!("Redis: {e}"),
                            error: true,
                            from_fetch: true,
                        });
                        Action::None
                    }
                    Ok(fetched) => {
                        if self.status.as_ref().is_some_and(|s| s.from_fetch) {
                            self.status = None;
                        }
                        self.data.fetched_at = Some(at);
                        self.store(request, fetched)
                    }
                }
            }
            Outcome::Done { action, result } => {
                match result {
                    Ok(()) => {
                        self.info(action.done());
                        if let Action::DeleteTask { id, .. } = &action
                            && matches!(self.screen(), Screen::TaskDetail(t) if t.id == *id)
                        {
                            self.pop();
                        }
                    }
                    Err(e) => self.error(action.failed(&e)),
                }
                self.refresh()
            }
        }
    }

    fn store(&mut self, request: FetchRequest, fetched: Fetched) -> Action {
        match fetched {
            Fetched::Queues(queues) => {
                self.data.queues = queues;
                self.data.have_queues = true;
            }
            Fetched::Queue {
                info,
                groups,
                tasks,
            } => {
                if let Some(q) = self.data.queues.iter_mut().find(|q| q.name == info.name) {
                    *q = (*info).clone();
                }
                self.data.queue = Some(*info);
                self.data.groups = groups;
                if let FetchRequest::Queue {
                    queue,
                    list: Some(list),
                } = request
                {
                    self.data.tasks = tasks;
                    self.data.tasks_of = Some((queue, list));
                }
            }
            Fetched::Task(task) => self.data.task = Some(*task),
            Fetched::Servers(servers) => {
                self.data.servers = servers;
                self.data.have_servers = true;
            }
        }
        self.settle()
    }

    /// Keeps selections inside what was fetched; picks a group for the aggregating tab and
    /// steps back from a page that no longer exists.
    fn settle(&mut self) -> Action {
        let screen = self.data_screen().clone();
        let idx = self
            .stack
            .iter()
            .rposition(|s| !matches!(s, Screen::Help))
            .unwrap_or(0);
        match screen {
            Screen::Queues { selected } => {
                let n = self.data.queues.len();
                self.stack[idx] = Screen::Queues {
                    selected: clamp(selected, n),
                };
            }
            Screen::Servers { selected } => {
                let n = self.data.servers.len();
                self.stack[idx] = Screen::Servers {
                    selected: clamp(selected, n),
                };
            }
            Screen::Groups { queue, selected } => {
                let n = self.groups_of(&queue).map_or(0, <[GroupRow]>::len);
                self.stack[idx] = Screen::Groups {
                    queue,
                    selected: clamp(selected, n),
                };
            }
            Screen::QueueDetail(v) => return self.settle_queue_detail(idx, v),
            Screen::TaskDetail(_) | Screen::Help => {}
        }
        Action::None
    }
}

fn clamp(selected: usize, len: usize) -> usize {
    selected.min(len.saturating_sub(1))
}

/// The new selection for a movement key, or `None` when the key does not move.
fn move_selection(code: KeyCode, selected: usize, len: usize) -> Option<usize> {
    let last = len.saturating_sub(1);
    match code {
        KeyCode::Char('j') | KeyCode::Down => Some((selected + 1).min(last)),
        KeyCode::Char('k') | KeyCode::Up => Some(selected.saturating_sub(1).min(last)),
        KeyCode::Home => Some(0),
        KeyCode::End => Some(last),
        _ => None,
    }
}
