//! Task chains and flows: a parent task that runs only after its children completed
//! (fan-out / fan-in), and chains of tasks that run one after another.
//!
//! See the guide page [`crate::guide::flows`] for the model, the crash guarantees and how
//! waiting tasks look to the Inspector.

use bytes::Bytes;

use crate::task::{Task, TaskInfo};

/// What happens to a flow's parent when one of its children is archived (failed for good).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OnChildArchived {
    /// The parent is archived at once, its last error naming the child and the child's error
    /// (BullMQ's `failParentOnFailure`). The default.
    #[default]
    ArchiveParent,
    /// The archived child counts as finished: the parent runs once every child is finished,
    /// and sees the child's error in [`crate::TaskContext::child_results`] (BullMQ's
    /// `ignoreDependencyOnFailure`).
    RunParent,
}

impl OnChildArchived {
    /// The name stored in Redis.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            OnChildArchived::ArchiveParent => "archive",
            OnChildArchived::RunParent => "run",
        }
    }

    /// Parses the stored name; anything unknown is the safe default.
    pub(crate) fn from_stored(s: &str) -> Self {
        if s == "run" {
            OnChildArchived::RunParent
        } else {
            OnChildArchived::ArchiveParent
        }
    }
}

/// One child of a flow: a task, or a flow of its own (whose parent is then the child).
#[derive(Clone, Debug)]
pub(crate) enum FlowChild {
    Task(Task),
    Flow(Box<Flow>),
}

/// A parent task and the children it waits for.
///
/// The children are enqueued as ordinary tasks (in any queues) and run in parallel; the
/// parent waits, out of every queue, until each child completed, then becomes pending in its
/// own queue. Its handler reads the children's results with
/// [`crate::TaskContext::child_results`]. A child may itself be a flow
/// ([`Flow::child_flow`]), which builds trees; a chain ([`crate::Client::enqueue_chain`]) is a
/// flow whose every member waits for the one before.
///
/// ```no_run
/// # async fn demo(client: redisq::Client) -> redisq::Result<()> {
/// use redisq::{Flow, OnChildArchived, Task, TaskOption};
///
/// let flow = Flow::new(Task::new("report:merge", "2026-12"))
///     .child(Task::new("report:part", "eu").with_option(TaskOption::queue("reports")))
///     .child(Task::new("report:part", "us").with_option(TaskOption::queue("reports")))
///     .on_child_archived(OnChildArchived::RunParent);
/// let info = client.enqueue_flow(&flow).await?;
/// println!("parent {} waits for {} children", info.parent.id, info.children.len());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Flow {
    pub(crate) parent: Task,
    pub(crate) children: Vec<FlowChild>,
    pub(crate) on_child_archived: OnChildArchived,
}

impl Flow {
    /// A flow with this parent and no children yet (add at least one).
    pub fn new(parent: Task) -> Self {
        Flow {
            parent,
            children: Vec::new(),
            on_child_archived: OnChildArchived::default(),
        }
    }

    /// Adds a child task.
    pub fn child(mut self, task: Task) -> Self {
        self.children.push(FlowChild::Task(task));
        self
    }

    /// Adds child tasks.
    pub fn children(mut self, tasks: impl IntoIterator<Item = Task>) -> Self {
        self.children.extend(tasks.into_iter().map(FlowChild::Task));
        self
    }

    /// Adds a child that is a flow itself: its parent runs after its own children, and this
    /// flow's parent after it.
    pub fn child_flow(mut self, flow: Flow) -> Self {
        self.children.push(FlowChild::Flow(Box::new(flow)));
        self
    }

    /// What happens to the parent when a child is archived (default
    /// [`OnChildArchived::ArchiveParent`]).
    pub fn on_child_archived(mut self, policy: OnChildArchived) -> Self {
        self.on_child_archived = policy;
        self
    }

    /// The parent task.
    pub fn parent(&self) -> &Task {
        &self.parent
    }
}

/// What [`crate::Client::enqueue_flow`] wrote: the parent (state `waiting`) and, in the
/// order they were added, its children (a child that is a flow has children of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowInfo {
    /// The parent; for a plain child task, the task itself.
    pub parent: TaskInfo,
    /// The children; empty for a plain child task.
    pub children: Vec<FlowInfo>,
}

/// How one child of a flow ended, as its parent's handler sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChildResult {
    /// The child's queue.
    pub queue: String,
    /// The child's task ID.
    pub id: String,
    /// What the child wrote with its [`crate::ResultWriter`], when it completed and wrote one.
    pub result: Option<Bytes>,
    /// The child's last error when it was archived (only seen with
    /// [`OnChildArchived::RunParent`]); `None` when it completed.
    pub error: Option<String>,
}

impl ChildResult {
    /// Whether the child completed (rather than being archived).
    pub fn is_completed(&self) -> bool {
        self.error.is_none()
    }
}
