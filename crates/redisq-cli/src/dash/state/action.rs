//! What the state machine asks of `fetch.rs` ([`Action`], [`FetchRequest`]) and what comes
//! back ([`Outcome`], [`Fetched`]).

use std::time::SystemTime;

use super::{GroupRow, QueueRow, ServerRow, TaskList, TaskRow};

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
    pub(super) fn done(&self) -> String {
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
    pub(super) fn failed(&self, err: &str) -> String {
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
