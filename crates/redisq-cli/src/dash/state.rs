//! The dashboard's state machine: which screen is shown, what was last fetched, and what a key
//! press does. No I/O happens here: [`DashState::handle_key`] and [`DashState::apply`] return
//! an [`Action`] that the event loop hands to `fetch.rs`, whose [`Outcome`] comes back through
//! [`DashState::apply`].
//!
//! The data types below mirror the Inspector's (`QueueInfo`, `TaskInfo`, …), which cannot be
//! built outside the library; owning them keeps this module and the view testable with fixed
//! data.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

// ---------------------------------------------------------------------------------------------
// Data

/// A task state, as a tab of the queue detail screen (in asynqmon's order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) enum Tab {
    Active,
    #[default]
    Pending,
    Aggregating,
    Scheduled,
    Retry,
    Archived,
    Completed,
}

impl Tab {
    /// Every tab, left to right.
    pub(crate) const ALL: [Tab; 7] = [
        Tab::Active,
        Tab::Pending,
        Tab::Aggregating,
        Tab::Scheduled,
        Tab::Retry,
        Tab::Archived,
        Tab::Completed,
    ];

    /// The state name used by asynq (`pending`, `retry`, …).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Tab::Active => "active",
            Tab::Pending => "pending",
            Tab::Aggregating => "aggregating",
            Tab::Scheduled => "scheduled",
            Tab::Retry => "retry",
            Tab::Archived => "archived",
            Tab::Completed => "completed",
        }
    }

    /// The tab title.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Tab::Active => "Active",
            Tab::Pending => "Pending",
            Tab::Aggregating => "Aggregating",
            Tab::Scheduled => "Scheduled",
            Tab::Retry => "Retry",
            Tab::Archived => "Archived",
            Tab::Completed => "Completed",
        }
    }

    /// The tab of a state name.
    pub(crate) fn from_name(name: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The position of the tab, from 0.
    pub(crate) fn index(self) -> usize {
        Tab::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }

    fn next(self) -> Tab {
        Tab::ALL[(self.index() + 1) % Tab::ALL.len()]
    }

    fn prev(self) -> Tab {
        Tab::ALL[(self.index() + Tab::ALL.len() - 1) % Tab::ALL.len()]
    }

    /// How many tasks of the queue are in this state.
    pub(crate) fn count(self, q: &QueueRow) -> usize {
        match self {
            Tab::Active => q.active,
            Tab::Pending => q.pending,
            Tab::Aggregating => q.aggregating,
            Tab::Scheduled => q.scheduled,
            Tab::Retry => q.retry,
            Tab::Archived => q.archived,
            Tab::Completed => q.completed,
        }
    }
}

/// One queue (the Inspector's `QueueInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct QueueRow {
    pub(crate) name: String,
    pub(crate) paused: bool,
    pub(crate) size: usize,
    pub(crate) groups: usize,
    pub(crate) pending: usize,
    pub(crate) active: usize,
    pub(crate) scheduled: usize,
    pub(crate) retry: usize,
    pub(crate) archived: usize,
    pub(crate) completed: usize,
    pub(crate) aggregating: usize,
    /// Processed today (UTC).
    pub(crate) processed: u64,
    /// Failed today (UTC).
    pub(crate) failed: u64,
    pub(crate) processed_total: u64,
    pub(crate) failed_total: u64,
    pub(crate) latency: Duration,
    pub(crate) memory: Option<u64>,
}

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
}

/// An aggregation group and its size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupRow {
    pub(crate) name: String,
    pub(crate) size: usize,
}

/// A running server (the Inspector's `ServerInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServerRow {
    pub(crate) id: String,
    pub(crate) host: String,
    pub(crate) pid: u32,
    pub(crate) concurrency: usize,
    pub(crate) queues: Vec<(String, u32)>,
    pub(crate) strict_priority: bool,
    pub(crate) started: Option<SystemTime>,
    pub(crate) status: String,
    pub(crate) workers: Vec<WorkerRow>,
}

/// A task being processed by a server (the Inspector's `WorkerInfo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorkerRow {
    pub(crate) task_id: String,
    pub(crate) task_type: String,
    pub(crate) payload: Vec<u8>,
    pub(crate) queue: String,
    pub(crate) started: Option<SystemTime>,
    pub(crate) deadline: Option<SystemTime>,
}

/// Which page of which task list to read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TaskList {
    pub(crate) tab: Tab,
    /// The group, for the aggregating tab (nothing is listed without one).
    pub(crate) group: Option<String>,
    /// 1-based.
    pub(crate) page: usize,
    pub(crate) page_size: usize,
}

/// What a screen needs from Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FetchRequest {
    /// Every queue with its statistics.
    Queues,
    /// One queue, its groups and optionally a page of its tasks.
    Queue {
        queue: String,
        list: Option<TaskList>,
    },
    /// One task.
    Task { queue: String, id: String },
    /// The servers and their workers.
    Servers,
}

/// What a [`FetchRequest`] brought back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fetched {
    Queues(Vec<QueueRow>),
    Queue {
        info: Box<QueueRow>,
        groups: Vec<GroupRow>,
        tasks: Vec<TaskRow>,
    },
    Task(Box<TaskRow>),
    Servers(Vec<ServerRow>),
}

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

// ---------------------------------------------------------------------------------------------
// Screens, actions

/// The queue detail screen: one queue, one state tab, one page of tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueView {
    pub(crate) queue: String,
    pub(crate) tab: Tab,
    /// The group listed in the aggregating tab.
    pub(crate) group: Option<String>,
    /// 1-based.
    pub(crate) page: usize,
    /// The selected row of the page.
    pub(crate) selected: usize,
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

/// What the event loop should do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    /// Nothing.
    None,
    /// Leave the dashboard.
    Quit,
    /// Read what the current screen shows. `seq` orders the answers.
    Fetch { seq: u64, request: FetchRequest },
    /// Move a task to pending.
    RunTask { queue: String, id: String },
    /// Archive a task.
    ArchiveTask { queue: String, id: String },
    /// Delete a task.
    DeleteTask { queue: String, id: String },
    /// Ask the server processing a task to cancel it.
    CancelTask { queue: String, id: String },
    /// Pause a queue.
    PauseQueue { queue: String },
    /// Resume a paused queue.
    UnpauseQueue { queue: String },
}

impl Action {
    /// The question asked before the action is taken.
    pub(crate) fn prompt(&self) -> String {
        match self {
            Action::RunTask { queue, id } => {
                format!("Run task {id} of queue {queue} now (move it to pending)?")
            }
            Action::ArchiveTask { queue, id } => format!("Archive task {id} of queue {queue}?"),
            Action::DeleteTask { queue, id } => format!("Delete task {id} of queue {queue}?"),
            Action::CancelTask { queue, id } => {
                format!("Cancel the processing of task {id} of queue {queue}?")
            }
            Action::PauseQueue { queue } => format!("Pause queue {queue}?"),
            Action::UnpauseQueue { queue } => format!("Resume queue {queue}?"),
            Action::None | Action::Quit | Action::Fetch { .. } => String::new(),
        }
    }

    /// What happened, once the action succeeded.
    fn done(&self) -> String {
        match self {
            Action::RunTask { id, .. } => format!("Task {id} moved to pending."),
            Action::ArchiveTask { id, .. } => format!("Task {id} archived."),
            Action::DeleteTask { id, .. } => format!("Task {id} deleted."),
            Action::CancelTask { id, .. } => format!("Cancellation of task {id} requested."),
            Action::PauseQueue { queue } => format!("Queue {queue} paused."),
            Action::UnpauseQueue { queue } => format!("Queue {queue} resumed."),
            Action::None | Action::Quit | Action::Fetch { .. } => String::new(),
        }
    }

    /// What failed, for the status line.
    fn failed(&self, err: &str) -> String {
        let what = match self {
            Action::RunTask { id, .. } => format!("run task {id}"),
            Action::ArchiveTask { id, .. } => format!("archive task {id}"),
            Action::DeleteTask { id, .. } => format!("delete task {id}"),
            Action::CancelTask { id, .. } => format!("cancel task {id}"),
            Action::PauseQueue { queue } => format!("pause queue {queue}"),
            Action::UnpauseQueue { queue } => format!("resume queue {queue}"),
            Action::None | Action::Quit | Action::Fetch { .. } => "fetch".to_string(),
        };
        format!("Could not {what}: {err}")
    }
}

/// What came back from Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The answer to [`Action::Fetch`].
    Fetched {
        seq: u64,
        request: FetchRequest,
        at: SystemTime,
        result: Result<Fetched, String>,
    },
    /// The result of a task or queue action.
    Done {
        action: Action,
        result: Result<(), String>,
    },
}

/// An action waiting for y/n.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Confirm {
    pub(crate) prompt: String,
    pub(crate) action: Action,
}

/// The status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) text: String,
    pub(crate) error: bool,
    /// Set by a failed fetch: cleared by the next successful one rather than by a key.
    from_fetch: bool,
}

// ---------------------------------------------------------------------------------------------
// The state

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

    /// The task list a queue view shows.
    pub(crate) fn task_list(&self, v: &QueueView) -> TaskList {
        TaskList {
            tab: v.tab,
            group: if v.tab == Tab::Aggregating {
                v.group.clone()
            } else {
                None
            },
            page: v.page,
            page_size: self.page_size,
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

    /// The queue's statistics, if fetched.
    pub(crate) fn queue_row(&self, name: &str) -> Option<&QueueRow> {
        self.data
            .queue
            .as_ref()
            .filter(|q| q.name == name)
            .or_else(|| self.data.queues.iter().find(|q| q.name == name))
    }

    /// The groups of the queue, if fetched.
    pub(crate) fn groups_of(&self, queue: &str) -> Option<&[GroupRow]> {
        self.data
            .queue
            .as_ref()
            .filter(|q| q.name == queue)
            .map(|_| self.data.groups.as_slice())
    }

    /// The page of tasks of a queue view, if it is the one fetched.
    pub(crate) fn tasks_of(&self, v: &QueueView) -> Option<&[TaskRow]> {
        match &self.data.tasks_of {
            Some((q, list)) if *q == v.queue && *list == self.task_list(v) => {
                Some(self.data.tasks.as_slice())
            }
            _ => None,
        }
    }

    /// The task of a task view, if fetched.
    pub(crate) fn task_of(&self, t: &TaskView) -> Option<&TaskRow> {
        self.data
            .task
            .as_ref()
            .filter(|task| task.id == t.id && task.queue == t.queue)
    }

    /// How many tasks the list of a queue view holds in all, if known.
    pub(crate) fn total_of(&self, v: &QueueView) -> Option<usize> {
        if v.tab == Tab::Aggregating {
            let group = v.group.as_deref()?;
            return self
                .groups_of(&v.queue)?
                .iter()
                .find(|g| g.name == group)
                .map(|g| g.size);
        }
        self.queue_row(&v.queue).map(|q| v.tab.count(q))
    }

    /// The number of pages of a queue view (at least 1), if known.
    pub(crate) fn pages_of(&self, v: &QueueView) -> Option<usize> {
        self.total_of(v)
            .map(|n| n.div_ceil(self.page_size.max(1)).max(1))
    }

    /// Sets the page size from the terminal size. The queue views keep their first task
    /// visible; returns a fetch when the shown list changed.
    pub(crate) fn set_page_size(&mut self, page_size: usize) -> Action {
        let page_size = page_size.max(1);
        if page_size == self.page_size {
            return Action::None;
        }
        let old = self.page_size;
        for s in &mut self.stack {
            if let Screen::QueueDetail(v) = s {
                let first = (v.page - 1) * old + v.selected;
                v.page = first / page_size + 1;
                v.selected = first % page_size;
            }
        }
        self.page_size = page_size;
        if matches!(self.data_screen(), Screen::QueueDetail(_)) {
            self.refresh()
        } else {
            Action::None
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

    fn ask(&mut self, action: Action) -> Action {
        self.confirm = Some(Confirm {
            prompt: action.prompt(),
            action,
        });
        Action::None
    }

    // -----------------------------------------------------------------------------------------
    // Keys

    /// Reacts to a key press.
    pub(crate) fn handle_key(&mut self, key: KeyEvent) -> Action {
        if is_ctrl(&key, 'c') {
            return Action::Quit;
        }
        if let Some(confirm) = self.confirm.take() {
            return match key.code {
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
            };
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
            Screen::Servers { selected } => {
                let n = self.data.servers.len();
                if let Some(sel) = move_selection(key.code, selected, n) {
                    *self.top_mut() = Screen::Servers { selected: sel };
                }
                Action::None
            }
            Screen::Help => Action::None,
        }
    }

    fn pause_toggle(&mut self, queue: String) -> Action {
        let paused = self.queue_row(&queue).is_some_and(|q| q.paused);
        self.ask(if paused {
            Action::UnpauseQueue { queue }
        } else {
            Action::PauseQueue { queue }
        })
    }

    fn key_queues(&mut self, key: KeyEvent, selected: usize) -> Action {
        let n = self.data.queues.len();
        if let Some(sel) = move_selection(key.code, selected, n) {
            *self.top_mut() = Screen::Queues { selected: sel };
            return Action::None;
        }
        let Some(queue) = self.data.queues.get(selected).map(|q| q.name.clone()) else {
            return Action::None;
        };
        match key.code {
            KeyCode::Enter | KeyCode::Char('l') | KeyCode::Right => {
                self.push(Screen::QueueDetail(QueueView {
                    queue,
                    tab: Tab::Active,
                    group: None,
                    page: 1,
                    selected: 0,
                }));
                self.refresh()
            }
            KeyCode::Char('p') => self.pause_toggle(queue),
            KeyCode::Char('g') => {
                self.push(Screen::Groups { queue, selected: 0 });
                self.refresh()
            }
            _ => Action::None,
        }
    }

    fn key_queue_detail(&mut self, key: KeyEvent, mut v: QueueView) -> Action {
        let rows = self.tasks_of(&v).map_or(0, <[TaskRow]>::len);
        if let Some(sel) = move_selection(key.code, v.selected, rows) {
            v.selected = sel;
            *self.top_mut() = Screen::QueueDetail(v);
            return Action::None;
        }
        let tab = match key.code {
            KeyCode::Char('l') | KeyCode::Right | KeyCode::Tab => Some(v.tab.next()),
            KeyCode::Char('h') | KeyCode::Left | KeyCode::BackTab => Some(v.tab.prev()),
            KeyCode::Char(c @ '1'..='7') => Tab::ALL.get(c as usize - '1' as usize).copied(),
            _ => None,
        };
        if let Some(tab) = tab {
            if tab == v.tab {
                return Action::None;
            }
            v.tab = tab;
            v.page = 1;
            v.selected = 0;
            if tab == Tab::Aggregating && v.group.is_none() {
                v.group = self
                    .groups_of(&v.queue)
                    .and_then(|g| g.first())
                    .map(|g| g.name.clone());
            }
            *self.top_mut() = Screen::QueueDetail(v);
            return self.refresh();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char(']') | KeyCode::PageDown => self.turn_page(v, true),
            KeyCode::Char('f') if ctrl => self.turn_page(v, true),
            KeyCode::Char('[') | KeyCode::PageUp => self.turn_page(v, false),
            KeyCode::Char('b') if ctrl => self.turn_page(v, false),
            KeyCode::Char('p') => self.pause_toggle(v.queue),
            KeyCode::Char('g') => {
                self.push(Screen::Groups {
                    queue: v.queue,
                    selected: 0,
                });
                self.refresh()
            }
            KeyCode::Enter => {
                let Some(task) = self.tasks_of(&v).and_then(|t| t.get(v.selected)) else {
                    return Action::None;
                };
                let view = TaskView {
                    queue: task.queue.clone(),
                    id: task.id.clone(),
                    hex: false,
                    scroll: 0,
                };
                self.push(Screen::TaskDetail(view));
                self.refresh()
            }
            KeyCode::Char('r' | 'a' | 'd' | 'c') | KeyCode::Delete => {
                let Some(c) = action_key(key.code) else {
                    return Action::None;
                };
                let Some(task) = self.tasks_of(&v).and_then(|t| t.get(v.selected)) else {
                    return Action::None;
                };
                let (queue, id, state) = (task.queue.clone(), task.id.clone(), task.state);
                self.task_action(c, queue, id, state)
            }
            _ => Action::None,
        }
    }

    fn turn_page(&mut self, mut v: QueueView, forward: bool) -> Action {
        let page = if forward {
            let more = match self.pages_of(&v) {
                Some(pages) => v.page < pages,
                // Unknown total: a full page suggests there is another.
                None => self.tasks_of(&v).is_some_and(|t| t.len() >= self.page_size),
            };
            if !more {
                return Action::None;
            }
            v.page + 1
        } else {
            if v.page <= 1 {
                return Action::None;
            }
            v.page - 1
        };
        v.page = page;
        v.selected = 0;
        *self.top_mut() = Screen::QueueDetail(v);
        self.refresh()
    }

    /// Asks to confirm a task action allowed in the task's state.
    fn task_action(&mut self, key: char, queue: String, id: String, state: Tab) -> Action {
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

    fn key_task_detail(&mut self, key: KeyEvent, mut t: TaskView) -> Action {
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

    fn key_groups(&mut self, key: KeyEvent, queue: String, selected: usize) -> Action {
        let groups = self.groups_of(&queue).unwrap_or_default();
        if let Some(sel) = move_selection(key.code, selected, groups.len()) {
            *self.top_mut() = Screen::Groups {
                queue,
                selected: sel,
            };
            return Action::None;
        }
        match key.code {
            KeyCode::Enter => {
                let Some(group) = groups.get(selected).map(|g| g.name.clone()) else {
                    return Action::None;
                };
                let view = QueueView {
                    queue: queue.clone(),
                    tab: Tab::Aggregating,
                    group: Some(group),
                    page: 1,
                    selected: 0,
                };
                let below = self.stack.len().checked_sub(2).map(|i| &self.stack[i]);
                if matches!(below, Some(Screen::QueueDetail(v)) if v.queue == queue) {
                    self.pop();
                }
                *self.top_mut() = Screen::QueueDetail(view);
                self.refresh()
            }
            KeyCode::Char('p') => self.pause_toggle(queue),
            _ => Action::None,
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
            Screen::QueueDetail(mut v) => {
                let mut again = false;
                if v.tab == Tab::Aggregating {
                    let groups = self.groups_of(&v.queue).unwrap_or_default();
                    let known = v
                        .group
                        .as_deref()
                        .is_some_and(|g| groups.iter().any(|x| x.name == g));
                    if !known && let Some(first) = groups.first() {
                        v.group = Some(first.name.clone());
                        v.page = 1;
                        v.selected = 0;
                        again = true;
                    }
                }
                if !again
                    && v.page > 1
                    && let Some(pages) = self.pages_of(&v)
                    && v.page > pages
                {
                    v.page = pages;
                    v.selected = 0;
                    again = true;
                }
                if !again && let Some(rows) = self.tasks_of(&v).map(<[TaskRow]>::len) {
                    v.selected = clamp(v.selected, rows);
                }
                self.stack[idx] = Screen::QueueDetail(v);
                if again {
                    return self.refresh();
                }
            }
            Screen::TaskDetail(_) | Screen::Help => {}
        }
        Action::None
    }
}

/// The task action key (`r`, `a`, `d`, `c`) of a key; Delete is `d`.
fn action_key(code: KeyCode) -> Option<char> {
    match code {
        KeyCode::Char(c @ ('r' | 'a' | 'd' | 'c')) => Some(c),
        KeyCode::Delete => Some('d'),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::fixtures;

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    fn code(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// Answers a fetch with the fixture data, as fetch.rs would.
    fn answer(state: &mut DashState, action: Action) -> Action {
        let Action::Fetch { seq, request } = action else {
            panic!("expected a fetch, got {action:?}");
        };
        let result = fixtures::answer(&request);
        state.apply(Outcome::Fetched {
            seq,
            request,
            at: fixtures::now(),
            result: Ok(result),
        })
    }

    /// A state on the queues screen with the fixture queues loaded.
    fn loaded() -> DashState {
        let mut s = DashState::new(Duration::from_secs(8), 5);
        let a = s.refresh();
        assert_eq!(answer(&mut s, a), Action::None);
        s
    }

    fn detail(s: &DashState) -> QueueView {
        match s.screen() {
            Screen::QueueDetail(v) => v.clone(),
            other => panic!("expected the queue detail, got {other:?}"),
        }
    }

    #[test]
    fn starts_on_queues_and_fetches_them() {
        let mut s = DashState::new(Duration::from_secs(8), 20);
        assert_eq!(s.screen(), &Screen::Queues { selected: 0 });
        assert_eq!(
            s.refresh(),
            Action::Fetch {
                seq: 1,
                request: FetchRequest::Queues
            }
        );
        assert_eq!(
            s.handle_key(ctrl('l')),
            Action::Fetch {
                seq: 2,
                request: FetchRequest::Queues
            }
        );
    }

    #[test]
    fn moves_the_queue_selection_within_bounds() {
        let mut s = loaded();
        let n = s.data.queues.len();
        assert_eq!(s.handle_key(key('k')), Action::None);
        assert_eq!(s.screen(), &Screen::Queues { selected: 0 });
        s.handle_key(key('j'));
        s.handle_key(code(KeyCode::Down));
        assert_eq!(s.screen(), &Screen::Queues { selected: 2 });
        for _ in 0..10 {
            s.handle_key(key('j'));
        }
        assert_eq!(s.screen(), &Screen::Queues { selected: n - 1 });
        s.handle_key(code(KeyCode::Up));
        assert_eq!(s.screen(), &Screen::Queues { selected: n - 2 });
        s.handle_key(code(KeyCode::Home));
        assert_eq!(s.screen(), &Screen::Queues { selected: 0 });
        s.handle_key(code(KeyCode::End));
        assert_eq!(s.screen(), &Screen::Queues { selected: n - 1 });
    }

    #[test]
    fn enter_opens_the_queue_and_esc_goes_back() {
        let mut s = loaded();
        s.handle_key(key('j'));
        let queue = s.data.queues[1].name.clone();
        let a = s.handle_key(code(KeyCode::Enter));
        assert_eq!(
            a,
            Action::Fetch {
                seq: 2,
                request: FetchRequest::Queue {
                    queue: queue.clone(),
                    list: Some(TaskList {
                        tab: Tab::Active,
                        group: None,
                        page: 1,
                        page_size: 5
                    })
                }
            }
        );
        assert_eq!(detail(&s).queue, queue);
        let a = s.handle_key(code(KeyCode::Esc));
        assert!(matches!(
            a,
            Action::Fetch {
                request: FetchRequest::Queues,
                ..
            }
        ));
        assert_eq!(s.screen(), &Screen::Queues { selected: 1 });
        // Esc on the first screen does nothing; q quits from anywhere.
        assert_eq!(s.handle_key(code(KeyCode::Esc)), Action::None);
        assert_eq!(s.handle_key(key('q')), Action::Quit);
        assert_eq!(s.handle_key(ctrl('c')), Action::Quit);
    }

    /// Opens the `default` queue of the fixtures and loads its first page.
    fn open_default() -> DashState {
        let mut s = loaded();
        let i = s
            .data
            .queues
            .iter()
            .position(|q| q.name == "default")
            .expect("fixture queue");
        for _ in 0..i {
            s.handle_key(key('j'));
        }
        let a = s.handle_key(code(KeyCode::Enter));
        assert_eq!(answer(&mut s, a), Action::None);
        s
    }

    #[test]
    fn switches_tabs_with_h_l_tab_and_digits() {
        let mut s = open_default();
        assert_eq!(detail(&s).tab, Tab::Active);
        let a = s.handle_key(key('l'));
        assert_eq!(detail(&s).tab, Tab::Pending);
        assert!(matches!(a, Action::Fetch { .. }));
        s.handle_key(code(KeyCode::Tab));
        assert_eq!(detail(&s).tab, Tab::Aggregating);
        s.handle_key(code(KeyCode::Right));
        assert_eq!(detail(&s).tab, Tab::Scheduled);
        s.handle_key(key('h'));
        s.handle_key(code(KeyCode::Left));
        assert_eq!(detail(&s).tab, Tab::Pending);
        s.handle_key(code(KeyCode::BackTab));
        assert_eq!(detail(&s).tab, Tab::Active);
        // Wraps around.
        s.handle_key(key('h'));
        assert_eq!(detail(&s).tab, Tab::Completed);
        s.handle_key(key('l'));
        assert_eq!(detail(&s).tab, Tab::Active);
        s.handle_key(key('5'));
        assert_eq!(detail(&s).tab, Tab::Retry);
        // The same tab again asks for nothing.
        assert_eq!(s.handle_key(key('5')), Action::None);
    }

    #[test]
    fn switching_tabs_resets_page_and_selection() {
        let mut s = open_default();
        let a = s.handle_key(key('2')); // pending: 12 tasks, pages of 5
        answer(&mut s, a);
        s.handle_key(key('j'));
        let a = s.handle_key(key(']'));
        answer(&mut s, a);
        s.handle_key(key('j'));
        assert_eq!((detail(&s).page, detail(&s).selected), (2, 1));
        let a = s.handle_key(key('l'));
        answer(&mut s, a);
        assert_eq!((detail(&s).page, detail(&s).selected), (1, 0));
    }

    #[test]
    fn pages_forward_and_back_within_the_total() {
        let mut s = open_default();
        let a = s.handle_key(key('2'));
        answer(&mut s, a);
        assert_eq!(s.pages_of(&detail(&s)), Some(3));
        assert_eq!(s.tasks_of(&detail(&s)).map(<[TaskRow]>::len), Some(5));
        assert_eq!(s.handle_key(key('[')), Action::None); // no page 0
        let a = s.handle_key(key(']'));
        match &a {
            Action::Fetch {
                request:
                    FetchRequest::Queue {
                        list: Some(list), ..
                    },
                ..
            } => assert_eq!((list.tab, list.page, list.page_size), (Tab::Pending, 2, 5)),
            other => panic!("unexpected {other:?}"),
        }
        answer(&mut s, a);
        let a = s.handle_key(code(KeyCode::PageDown));
        answer(&mut s, a);
        assert_eq!(detail(&s).page, 3);
        assert_eq!(s.tasks_of(&detail(&s)).map(<[TaskRow]>::len), Some(2));
        // The last page: no further.
        assert_eq!(s.handle_key(key(']')), Action::None);
        // The selection stays inside the short last page.
        for _ in 0..4 {
            s.handle_key(key('j'));
        }
        assert_eq!(detail(&s).selected, 1);
        let a = s.handle_key(code(KeyCode::PageUp));
        answer(&mut s, a);
        assert_eq!((detail(&s).page, detail(&s).selected), (2, 0));
        let a = s.handle_key(ctrl('b'));
        answer(&mut s, a);
        assert_eq!(detail(&s).page, 1);
    }

    #[test]
    fn steps_back_when_the_page_vanished() {
        let mut s = open_default();
        let a = s.handle_key(key('2'));
        answer(&mut s, a);
        let a = s.handle_key(key(']'));
        answer(&mut s, a);
        let a = s.handle_key(key(']'));
        answer(&mut s, a);
        assert_eq!(detail(&s).page, 3);
        // The queue shrinks to 6 pending tasks: page 3 no longer exists.
        let Action::Fetch { seq, request } = s.refresh() else {
            panic!()
        };
        let Fetched::Queue {
            mut info, groups, ..
        } = fixtures::answer(&request)
        else {
            panic!()
        };
        info.pending = 6;
        let a = s.apply(Outcome::Fetched {
            seq,
            request,
            at: fixtures::now(),
            result: Ok(Fetched::Queue {
                info,
                groups,
                tasks: Vec::new(),
            }),
        });
        assert_eq!(detail(&s).page, 2);
        assert!(matches!(a, Action::Fetch { .. }));
    }

    #[test]
    fn aggregating_tab_picks_the_first_group_and_groups_screen_selects_one() {
        let mut s = open_default();
        let a = s.handle_key(key('3'));
        assert_eq!(detail(&s).tab, Tab::Aggregating);
        // The groups were fetched with the queue: the first is picked right away.
        assert_eq!(detail(&s).group.as_deref(), Some("batch:eu"));
        answer(&mut s, a);
        assert_eq!(s.tasks_of(&detail(&s)).map(<[TaskRow]>::len), Some(3));
        // g lists the groups; Enter on the second shows its tasks.
        let a = s.handle_key(key('g'));
        assert!(matches!(s.screen(), Screen::Groups { .. }));
        answer(&mut s, a);
        s.handle_key(key('j'));
        let a = s.handle_key(code(KeyCode::Enter));
        assert_eq!(detail(&s).group.as_deref(), Some("batch:us"));
        assert_eq!(detail(&s).tab, Tab::Aggregating);
        assert_eq!(s.stack().len(), 2, "the groups screen was replaced");
        answer(&mut s, a);
        assert_eq!(s.pages_of(&detail(&s)), Some(1));
    }

    #[test]
    fn aggregating_tab_without_known_groups_picks_one_after_the_fetch() {
        let mut s = loaded();
        let i = s
            .data
            .queues
            .iter()
            .position(|q| q.name == "default")
            .expect("fixture queue");
        for _ in 0..i {
            s.handle_key(key('j'));
        }
        s.handle_key(code(KeyCode::Enter)); // not answered: groups unknown
        let a = s.handle_key(key('3'));
        assert_eq!(detail(&s).group, None);
        let again = answer(&mut s, a);
        assert_eq!(detail(&s).group.as_deref(), Some("batch:eu"));
        assert!(matches!(again, Action::Fetch { .. }));
    }

    #[test]
    fn enter_opens_the_task_and_x_toggles_hex() {
        let mut s = open_default();
        let a = s.handle_key(key('2'));
        answer(&mut s, a);
        s.handle_key(key('j'));
        let id = s.tasks_of(&detail(&s)).expect("tasks")[1].id.clone();
        let a = s.handle_key(code(KeyCode::Enter));
        assert_eq!(
            a,
            Action::Fetch {
                seq: 4,
                request: FetchRequest::Task {
                    queue: "default".into(),
                    id: id.clone()
                }
            }
        );
        answer(&mut s, a);
        let Screen::TaskDetail(t) = s.screen().clone() else {
            panic!()
        };
        assert_eq!((t.id.as_str(), t.hex), (id.as_str(), false));
        s.handle_key(key('x'));
        s.handle_key(key('j'));
        s.handle_key(key('j'));
        s.handle_key(key('k'));
        let Screen::TaskDetail(t) = s.screen().clone() else {
            panic!()
        };
        assert_eq!((t.hex, t.scroll), (true, 1));
        s.handle_key(key('x'));
        assert!(matches!(s.screen(), Screen::TaskDetail(t) if !t.hex));
        s.handle_key(code(KeyCode::Esc));
        assert_eq!(detail(&s).selected, 1);
    }

    #[test]
    fn help_toggles_over_any_screen() {
        let mut s = open_default();
        let before = s.screen().clone();
        assert_eq!(s.handle_key(key('?')), Action::None);
        assert_eq!(s.screen(), &Screen::Help);
        // The data stays the one of the screen below.
        assert!(matches!(s.fetch_request(), FetchRequest::Queue { .. }));
        // Keys of other screens do nothing in the help.
        assert_eq!(s.handle_key(key('j')), Action::None);
        assert_eq!(s.handle_key(key('d')), Action::None);
        assert_eq!(s.confirm, None);
        assert_eq!(s.handle_key(key('?')), Action::None);
        assert_eq!(s.screen(), &before);
        s.handle_key(key('?'));
        assert_eq!(s.handle_key(code(KeyCode::Esc)), Action::None);
        assert_eq!(s.screen(), &before);
        s.handle_key(key('?'));
        assert_eq!(s.handle_key(key('q')), Action::Quit);
    }

    #[test]
    fn servers_screen_and_selection() {
        let mut s = loaded();
        let a = s.handle_key(key('s'));
        assert_eq!(
            a,
            Action::Fetch {
                seq: 2,
                request: FetchRequest::Servers
            }
        );
        answer(&mut s, a);
        s.handle_key(key('j'));
        s.handle_key(key('j'));
        assert_eq!(s.screen(), &Screen::Servers { selected: 1 });
        // s again does not stack another servers screen.
        assert_eq!(s.handle_key(key('s')), Action::None);
        s.handle_key(code(KeyCode::Esc));
        assert!(matches!(s.screen(), Screen::Queues { .. }));
    }

    /// Selects the first task of a tab of `default`.
    fn on_tab(tab: char) -> DashState {
        let mut s = open_default();
        let a = s.handle_key(key(tab));
        if a != Action::None {
            answer(&mut s, a);
        }
        s
    }

    #[test]
    fn confirmation_y_runs_the_action() {
        let mut s = on_tab('2');
        let id = s.tasks_of(&detail(&s)).expect("tasks")[0].id.clone();
        assert_eq!(s.handle_key(key('d')), Action::None);
        let confirm = s.confirm.clone().expect("a question");
        assert_eq!(
            confirm.prompt,
            format!("Delete task {id} of queue default?")
        );
        // Other keys leave the question open and do nothing.
        assert_eq!(s.handle_key(key('j')), Action::None);
        assert_eq!(s.handle_key(key('q')), Action::None);
        assert!(s.confirm.is_some());
        let a = s.handle_key(key('y'));
        assert_eq!(
            a,
            Action::DeleteTask {
                queue: "default".into(),
                id: id.clone()
            }
        );
        assert_eq!(s.confirm, None);
        // The result shows in the status line, then the screen is refreshed.
        let next = s.apply(Outcome::Done {
            action: a,
            result: Ok(()),
        });
        assert!(matches!(next, Action::Fetch { .. }));
        let status = s.status.clone().expect("status");
        assert_eq!(status.text, format!("Task {id} deleted."));
        assert!(!status.error);
    }

    #[test]
    fn confirmation_n_or_esc_cancels() {
        let mut s = on_tab('2');
        s.handle_key(key('a'));
        assert!(s.confirm.is_some());
        assert_eq!(s.handle_key(key('n')), Action::None);
        assert_eq!(s.confirm, None);
        assert_eq!(
            s.status.as_ref().map(|s| s.text.as_str()),
            Some("Cancelled.")
        );
        s.handle_key(key('a'));
        assert_eq!(s.handle_key(code(KeyCode::Esc)), Action::None);
        assert_eq!(s.confirm, None);
        // Esc cancelled the question only; the screen is unchanged.
        assert_eq!(detail(&s).tab, Tab::Pending);
    }

    #[test]
    fn actions_not_allowed_in_a_state_are_refused_without_asking() {
        let mut s = on_tab('2'); // pending
        assert_eq!(s.handle_key(key('r')), Action::None);
        assert_eq!(s.confirm, None);
        assert!(s.status.as_ref().is_some_and(|s| s.error));
        assert_eq!(s.handle_key(key('c')), Action::None);
        assert_eq!(s.confirm, None);
        let mut s = on_tab('1'); // active
        s.handle_key(key('d'));
        assert_eq!(s.confirm, None);
        s.handle_key(key('c'));
        let a = s.confirm.clone().expect("cancel is asked").action;
        assert!(matches!(a, Action::CancelTask { .. }));
        let mut s = on_tab('6'); // archived
        s.handle_key(key('r'));
        assert!(matches!(
            s.confirm.clone().map(|c| c.action),
            Some(Action::RunTask { .. })
        ));
    }

    #[test]
    fn deleting_from_the_task_detail_goes_back_to_the_list() {
        let mut s = on_tab('6');
        let a = s.handle_key(code(KeyCode::Enter));
        answer(&mut s, a);
        s.handle_key(code(KeyCode::Delete));
        let a = s.handle_key(key('y'));
        assert!(matches!(a, Action::DeleteTask { .. }));
        let next = s.apply(Outcome::Done {
            action: a,
            result: Ok(()),
        });
        assert_eq!(detail(&s).tab, Tab::Archived);
        assert!(matches!(
            next,
            Action::Fetch {
                request: FetchRequest::Queue { .. },
                ..
            }
        ));
    }

    #[test]
    fn pause_asks_and_resume_when_paused() {
        let mut s = loaded();
        s.handle_key(key('p'));
        let q = s.data.queues[0].name.clone();
        assert_eq!(
            s.confirm.clone().map(|c| c.action),
            Some(Action::PauseQueue { queue: q.clone() })
        );
        assert_eq!(
            s.handle_key(key('Y')),
            Action::PauseQueue { queue: q.clone() }
        );
        let paused = s
            .data
            .queues
            .iter()
            .find(|q| q.paused)
            .expect("a paused fixture queue")
            .name
            .clone();
        let i = s.data.queues.iter().position(|q| q.name == paused).unwrap();
        s.handle_key(code(KeyCode::Home));
        for _ in 0..i {
            s.handle_key(key('j'));
        }
        s.handle_key(key('p'));
        assert_eq!(
            s.confirm.clone().map(|c| c.action),
            Some(Action::UnpauseQueue { queue: paused })
        );
    }

    #[test]
    fn errors_go_to_the_status_line() {
        let mut s = loaded();
        let Action::Fetch { seq, request } = s.refresh() else {
            panic!()
        };
        let queues_before = s.data.queues.len();
        s.apply(Outcome::Fetched {
            seq,
            request,
            at: fixtures::now(),
            result: Err("Connection refused (os error 111)".into()),
        });
        let st = s.status.clone().expect("status");
        assert!(st.error);
        assert_eq!(st.text, "Redis: Connection refused (os error 111)");
        // The old data stays; a key does not hide a fetch error, a good fetch does.
        assert_eq!(s.data.queues.len(), queues_before);
        s.handle_key(key('j'));
        assert!(s.status.is_some());
        let a = s.refresh();
        answer(&mut s, a);
        assert_eq!(s.status, None);
        // A failed action reports and refreshes.
        let action = Action::PauseQueue {
            queue: "critical".into(),
        };
        let next = s.apply(Outcome::Done {
            action,
            result: Err("queue \"critical\" is already paused".into()),
        });
        assert!(matches!(next, Action::Fetch { .. }));
        assert_eq!(
            s.status.clone().map(|s| s.text),
            Some("Could not pause queue critical: queue \"critical\" is already paused".into())
        );
        // An action message goes away with the next key.
        s.handle_key(key('j'));
        assert_eq!(s.status, None);
    }

    #[test]
    fn stale_answers_are_dropped() {
        let mut s = loaded();
        let old = s.refresh();
        let new = s.refresh();
        answer(&mut s, new);
        let Action::Fetch { seq, request } = old else {
            panic!()
        };
        s.apply(Outcome::Fetched {
            seq,
            request,
            at: fixtures::now(),
            result: Ok(Fetched::Queues(Vec::new())),
        });
        assert!(!s.data.queues.is_empty());
    }

    #[test]
    fn answers_for_another_list_are_not_shown_as_this_one() {
        let mut s = on_tab('2');
        // Switch to retry, but the pending answer arrives (late) afterwards.
        let Action::Fetch { seq, request } = s.refresh() else {
            panic!()
        };
        s.handle_key(key('5'));
        let result = fixtures::answer(&request);
        s.apply(Outcome::Fetched {
            seq,
            request,
            at: fixtures::now(),
            result: Ok(result),
        });
        assert_eq!(s.tasks_of(&detail(&s)), None);
    }

    #[test]
    fn page_size_changes_keep_the_first_task_visible() {
        let mut s = on_tab('2');
        let a = s.handle_key(key(']'));
        answer(&mut s, a);
        s.handle_key(key('j'));
        s.handle_key(key('j')); // task 8 of 12 (index 7)
        let a = s.set_page_size(3);
        assert!(matches!(a, Action::Fetch { .. }));
        assert_eq!((detail(&s).page, detail(&s).selected), (3, 1));
        assert_eq!(s.set_page_size(3), Action::None);
    }
}
