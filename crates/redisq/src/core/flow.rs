//! Flows (and chains) as tasks: the headers that mark flow members, and the plan of a new
//! flow (which tasks wait, which run at once, with which headers).
//!
//! A member's role travels in its message headers, so the server knows from the message
//! alone which completions must be reported to a parent: ordinary tasks (no headers, or none
//! of these) take the usual path and pay nothing. Go asynq ignores the headers.

use std::collections::{BTreeMap, HashSet};
use std::time::SystemTime;

use crate::core::message::{self, NewTask, Placement};
use crate::error::{Error, Result};
use crate::flow::{Flow, FlowChild, FlowInfo, OnChildArchived};
use crate::task::TaskState;

/// Header of a child: the queue of the parent it reports to.
pub(crate) const PARENT_QUEUE: &str = "redisq-flow-parent-queue";
/// Header of a child: the ID of the parent it reports to.
pub(crate) const PARENT_ID: &str = "redisq-flow-parent-id";
/// Header of a child: its position among the parent's children.
pub(crate) const INDEX: &str = "redisq-flow-index";
/// Header of a parent: how many children it waits for.
pub(crate) const CHILDREN: &str = "redisq-flow-children";

/// The parent a child reports to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParentRef {
    pub(crate) queue: String,
    pub(crate) id: String,
    pub(crate) index: usize,
}

/// The parent of a flow child, read from its headers; `None` for every other task.
pub(crate) fn parent_of(headers: &BTreeMap<String, String>) -> Option<ParentRef> {
    if headers.is_empty() {
        return None;
    }
    let id = headers.get(PARENT_ID)?;
    Some(ParentRef {
        queue: headers.get(PARENT_QUEUE)?.clone(),
        id: id.clone(),
        index: headers.get(INDEX)?.parse().ok()?,
    })
}

/// Whether a task is a flow parent (it has child results to read).
pub(crate) fn is_parent(headers: &BTreeMap<String, String>) -> bool {
    !headers.is_empty() && headers.contains_key(CHILDREN)
}

/// Whether a task takes part in a flow, as a child or as a parent.
pub(crate) fn is_member(headers: &BTreeMap<String, String>) -> bool {
    !headers.is_empty() && (headers.contains_key(PARENT_ID) || headers.contains_key(CHILDREN))
}

/// A flow member that waits for children.
#[derive(Clone, Debug)]
pub(crate) struct WaitingMember {
    pub(crate) task: NewTask,
    pub(crate) policy: OnChildArchived,
    /// (queue, id) of each child, by index.
    pub(crate) children: Vec<(String, String)>,
    /// The parent this member reports to, when it is itself a child.
    pub(crate) up: Option<ParentRef>,
}

/// The tasks of a new flow.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Members that wait for children, each before the flows below it.
    pub(crate) waiting: Vec<WaitingMember>,
    /// Members that may run at once.
    pub(crate) ready: Vec<NewTask>,
    /// What the caller gets back.
    pub(crate) info: FlowInfo,
}

/// Validates a flow and builds its tasks. Nothing is written.
pub(crate) fn plan(flow: &Flow, now: SystemTime) -> Result<Plan> {
    let mut members = Members::default();
    let mut seen = HashSet::new();
    let info = plan_flow(flow, None, now, &mut members, &mut seen)?;
    Ok(Plan {
        waiting: members.waiting,
        ready: members.ready,
        info,
    })
}

/// The members planned so far.
#[derive(Default)]
struct Members {
    waiting: Vec<WaitingMember>,
    ready: Vec<NewTask>,
}

fn plan_flow(
    flow: &Flow,
    up: Option<ParentRef>,
    now: SystemTime,
    plan: &mut Members,
    seen: &mut HashSet<(String, String)>,
) -> Result<FlowInfo> {
    if flow.children.is_empty() {
        return Err(Error::invalid_option(
            "a flow needs at least one child (enqueue a lone task as an ordinary task)",
        ));
    }
    let mut parent = member(&flow.parent, up.as_ref(), now, seen)?;
    if !matches!(parent.placement, Placement::Pending { .. }) {
        return Err(Error::invalid_option(
            "a task that waits for others (a flow parent, or a chain member after the first) \
             cannot be scheduled: it becomes pending when they completed",
        ));
    }
    parent
        .headers
        .insert(CHILDREN.to_string(), flow.children.len().to_string());
    let mut info = parent.info();
    info.state = TaskState::Waiting;
    info.next_process_at = None;
    let slot = plan.waiting.len();
    plan.waiting.push(WaitingMember {
        task: parent,
        policy: flow.on_child_archived,
        children: Vec::with_capacity(flow.children.len()),
        up,
    });
    let mut children = Vec::with_capacity(flow.children.len());
    for (index, child) in flow.children.iter().enumerate() {
        let me = ParentRef {
            queue: info.queue.clone(),
            id: info.id.clone(),
            index,
        };
        let child_info = match child {
            FlowChild::Task(task) => {
                let new = member(task, Some(&me), now, seen)?;
                let info = new.info();
                plan.ready.push(new);
                FlowInfo {
                    parent: info,
                    children: Vec::new(),
                }
            }
            FlowChild::Flow(sub) => plan_flow(sub, Some(me), now, plan, seen)?,
        };
        plan.waiting[slot].children.push((
            child_info.parent.queue.clone(),
            child_info.parent.id.clone(),
        ));
        children.push(child_info);
    }
    Ok(FlowInfo {
        parent: info,
        children,
    })
}

/// Builds one member, with the headers naming its parent.
fn member(
    task: &crate::task::Task,
    up: Option<&ParentRef>,
    now: SystemTime,
    seen: &mut HashSet<(String, String)>,
) -> Result<NewTask> {
    let mut new = message::build(task, &[], now)?;
    if new.unique_ttl_secs.is_some() {
        return Err(Error::invalid_option(
            "flow members cannot be unique (a rejected duplicate would leave its parent waiting)",
        ));
    }
    if new.group.is_some() {
        return Err(Error::invalid_option(
            "flow members cannot be grouped (aggregation replaces the task, so it never reports)",
        ));
    }
    if new.headers.keys().any(|k| k.starts_with("redisq-flow-")) {
        return Err(Error::invalid_option(
            "headers starting with \"redisq-flow-\" are reserved for flows",
        ));
    }
    if !seen.insert((new.queue.clone(), new.id.clone())) {
        return Err(Error::invalid_option(format!(
            "task ID {:?} appears twice in queue {:?} of the flow",
            new.id, new.queue
        )));
    }
    if let Some(p) = up {
        new.headers
            .insert(PARENT_QUEUE.to_string(), p.queue.clone());
        new.headers.insert(PARENT_ID.to_string(), p.id.clone());
        new.headers.insert(INDEX.to_string(), p.index.to_string());
    }
    Ok(new)
}

/// The flow of a chain: each task waits for the one before it. `None` for an empty chain.
pub(crate) fn chain(tasks: &[crate::task::Task]) -> Option<Flow> {
    let (first, rest) = tasks.split_first()?;
    let mut flow: Option<Flow> = None;
    for task in rest {
        flow = Some(match flow {
            None => Flow::new(task.clone()).child(first.clone()),
            Some(prev) => Flow::new(task.clone()).child_flow(prev),
        });
    }
    Some(flow.unwrap_or_else(|| Flow::new(first.clone())))
}

/// The members of a chain's flow info, first task first.
pub(crate) fn chain_order(info: FlowInfo) -> Vec<crate::task::TaskInfo> {
    let mut out = Vec::new();
    let mut cur = Some(info);
    while let Some(node) = cur {
        out.push(node.parent);
        cur = node.children.into_iter().next();
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::option::TaskOption;
    use crate::task::Task;

    #[test]
    fn a_chain_is_nested_one_child_flows() {
        let tasks: Vec<Task> = (0..4).map(|i| Task::new("t", format!("{i}"))).collect();
        let flow = chain(&tasks).expect("flow");
        let plan = plan(&flow, SystemTime::now()).expect("plan");
        assert_eq!(plan.waiting.len(), 3);
        assert_eq!(plan.ready.len(), 1);
        assert_eq!(&plan.ready[0].payload[..], b"0");
        let order = chain_order(plan.info);
        let payloads: Vec<&[u8]> = order.iter().map(|t| &t.payload[..]).collect();
        assert_eq!(payloads, [b"0", b"1", b"2", b"3"]);
        assert_eq!(order[0].state, TaskState::Pending);
        assert!(order[1..].iter().all(|t| t.state == TaskState::Waiting));
        // Each member reports to the next one.
        let first = parent_of(&plan.ready[0].headers).expect("parent");
        assert_eq!(first.id, order[1].id);
        assert!(is_parent(&plan.waiting[2].task.headers));
        assert!(parent_of(&plan.waiting[0].task.headers).is_none());
    }

    #[test]
    fn bad_flows_are_rejected() {
        let now = SystemTime::now();
        let lone = Flow::new(Task::new("p", ""));
        assert!(plan(&lone, now).unwrap_err().is_invalid_option());
        let unique = Flow::new(Task::new("p", "")).child(
            Task::new("c", "").with_option(TaskOption::unique(std::time::Duration::from_secs(9))),
        );
        assert!(plan(&unique, now).unwrap_err().is_invalid_option());
        let scheduled = Flow::new(
            Task::new("p", "")
                .with_option(TaskOption::process_in(std::time::Duration::from_secs(60))),
        )
        .child(Task::new("c", ""));
        assert!(plan(&scheduled, now).unwrap_err().is_invalid_option());
        let twice = Flow::new(Task::new("p", ""))
            .child(Task::new("c", "").with_option(TaskOption::task_id("x")))
            .child(Task::new("c", "").with_option(TaskOption::task_id("x")));
        assert!(plan(&twice, now).unwrap_err().is_invalid_option());
        assert!(parent_of(&BTreeMap::new()).is_none());
    }
}
