//! Builds the Inspector's public types from the records the data layer returns.
//!
//! `rdb` reads and decodes; this module decides how the result looks to users: asynq's
//! `newTaskInfo` conversion, derived values (queue size and latency), the order of servers
//! and workers, and Cluster addresses.

use std::time::{Duration, SystemTime};

use super::types::{
    ClusterNode, DailyStats, GroupInfo, ListOptions, QueueInfo, SchedulerEnqueueEvent,
    SchedulerEntry, ServerInfo, WaitingTaskInfo, WorkerInfo,
};
use crate::core::time::{from_unix_secs, unix_nanos};
use crate::flow::OnChildArchived;
use crate::rdb::flow::WaitingRecord;
use crate::rdb::inspect::Page;
use crate::rdb::inspect::records::{
    ClusterNodeRecord, DailyRecord, EnqueueEventRecord, GroupRecord, QueueRecord,
    SchedulerEntryRecord, ServerRecord, TaskRecord, WorkerRecord,
};
use crate::task::TaskState;

/// The page the data layer reads.
pub(super) fn page(opts: ListOptions) -> Page {
    Page {
        number: opts.page,
        size: opts.page_size,
    }
}

/// The TaskInfo of a stored task (asynq's `newTaskInfo`), shared with `Client::wait`.
pub(super) use crate::info::task_info_of;

/// A waiting flow parent; `None` when its task hash is gone.
pub(super) fn waiting_task_info_of(r: WaitingRecord) -> Option<WaitingTaskInfo> {
    let task = task_info_of(TaskRecord {
        msg: r.msg?,
        state: TaskState::Waiting,
        next_process_at: None,
        result: None,
        is_orphaned: false,
        progress: None,
    });
    Some(WaitingTaskInfo {
        task,
        waiting_since: from_unix_secs(r.since),
        children: r.children,
        children_left: r.left,
        on_child_archived: OnChildArchived::from_stored(&r.policy),
        unfinished_children: r.unfinished,
    })
}

/// A queue snapshot taken at `now` (the time the counters were read for).
pub(super) fn queue_info(queue: &str, r: QueueRecord, now: SystemTime) -> QueueInfo {
    let latency = r.oldest_pending_since.map_or(Duration::ZERO, |since| {
        Duration::from_nanos(
            unix_nanos(now)
                .saturating_sub(unix_nanos(since))
                .max(0)
                .unsigned_abs(),
        )
    });
    QueueInfo {
        queue: queue.to_string(),
        memory_usage: r.memory_usage,
        latency,
        size: r.pending
            + r.active
            + r.scheduled
            + r.retry
            + r.archived
            + r.completed
            + r.aggregating,
        groups: r.groups,
        pending: r.pending,
        active: r.active,
        scheduled: r.scheduled,
        retry: r.retry,
        archived: r.archived,
        completed: r.completed,
        aggregating: r.aggregating,
        processed: r.processed,
        failed: r.failed,
        processed_total: r.processed_total,
        failed_total: r.failed_total,
        paused: r.paused,
        timestamp: now,
    }
}

pub(super) fn daily_stats(queue: &str, r: DailyRecord) -> DailyStats {
    DailyStats {
        queue: queue.to_string(),
        processed: r.processed,
        failed: r.failed,
        date: r.date,
    }
}

pub(super) fn group_info(r: GroupRecord) -> GroupInfo {
    GroupInfo {
        group: r.name,
        size: r.size,
    }
}

/// The servers sorted by host, pid and ID, each with its workers sorted by start time and
/// task ID.
pub(super) fn servers(records: Vec<ServerRecord>) -> Vec<ServerInfo> {
    let mut servers: Vec<ServerInfo> = records.into_iter().map(server_info).collect();
    servers.sort_by(|a, b| (&a.host, a.pid, &a.id).cmp(&(&b.host, b.pid, &b.id)));
    servers
}

fn server_info(r: ServerRecord) -> ServerInfo {
    let mut active_workers: Vec<WorkerInfo> = r.workers.into_iter().map(worker_info).collect();
    active_workers.sort_by(|a, b| (a.started, &a.task_id).cmp(&(b.started, &b.task_id)));
    ServerInfo {
        id: r.id,
        host: r.host,
        pid: u32::try_from(r.pid).unwrap_or(0),
        concurrency: usize::try_from(r.concurrency).unwrap_or(0),
        queues: r
            .queues
            .into_iter()
            .map(|(q, p)| (q, u32::try_from(p).unwrap_or(0)))
            .collect(),
        strict_priority: r.strict_priority,
        started: r.started,
        status: r.status,
        active_workers,
    }
}

fn worker_info(r: WorkerRecord) -> WorkerInfo {
    WorkerInfo {
        task_id: r.task_id,
        task_type: r.task_type,
        task_payload: r.payload,
        queue: r.queue,
        started: r.started,
        deadline: r.deadline,
    }
}

pub(super) fn scheduler_entry(r: SchedulerEntryRecord) -> SchedulerEntry {
    SchedulerEntry {
        id: r.id,
        spec: r.spec,
        task_type: r.task_type,
        payload: r.payload,
        options: r.options,
        next: r.next,
        prev: r.prev,
    }
}

pub(super) fn enqueue_event(r: EnqueueEventRecord) -> SchedulerEnqueueEvent {
    SchedulerEnqueueEvent {
        task_id: r.task_id,
        enqueued_at: r.enqueued_at,
    }
}

/// A Cluster node with its address as `host:port` (`[v6]:port` for IPv6).
pub(super) fn cluster_node(r: ClusterNodeRecord) -> ClusterNode {
    let ClusterNodeRecord { id, ip, port } = r;
    let addr = if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    };
    ClusterNode { id, addr }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::*;
    use crate::core::time::from_unix_secs;
    use crate::rdb::inspect::records::TaskRecord;
    use crate::rdb::proto::TaskMessage;
    use crate::task::TaskState;

    #[test]
    fn task_info_follows_asynq_conversion() {
        let msg = TaskMessage {
            r#type: "t".into(),
            id: "i".into(),
            queue: "q".into(),
            retry: -1,
            timeout: 0,
            deadline: 0,
            retention: 60,
            group_key: String::new(),
            ..TaskMessage::default()
        };
        let info = task_info_of(TaskRecord {
            msg,
            state: TaskState::Archived,
            next_process_at: None,
            result: Some(b"r".to_vec()),
            is_orphaned: false,
            progress: None,
        });
        assert_eq!(info.max_retry, 0);
        assert_eq!(info.timeout, None);
        assert_eq!(info.deadline, None);
        assert_eq!(info.group, None);
        assert_eq!(info.retention, Some(Duration::from_secs(60)));
        assert_eq!(info.result.as_deref(), Some(&b"r"[..]));
    }

    #[test]
    fn list_options_become_pages() {
        let p = page(ListOptions::new().page(3).page_size(10));
        assert_eq!((p.number, p.size), (3, 10));
    }

    #[test]
    fn cluster_addresses() {
        let node = |ip: &str| {
            cluster_node(ClusterNodeRecord {
                id: "n".into(),
                ip: ip.into(),
                port: 7000,
            })
            .addr
        };
        assert_eq!(node("127.0.0.1"), "127.0.0.1:7000");
        assert_eq!(node("::1"), "[::1]:7000");
    }

    #[test]
    fn servers_and_workers_are_sorted() {
        let worker = |id: &str, at: i64| WorkerRecord {
            task_id: id.into(),
            task_type: "t".into(),
            payload: Bytes::new(),
            queue: "q".into(),
            started: Some(from_unix_secs(at)),
            deadline: None,
        };
        let server = |id: &str, host: &str, pid: i32, workers| ServerRecord {
            id: id.into(),
            host: host.into(),
            pid,
            concurrency: -1,
            queues: BTreeMap::from([("q".to_string(), -2)]),
            strict_priority: false,
            started: None,
            status: "active".into(),
            workers,
        };
        let out = servers(vec![
            server("b", "h2", 1, Vec::new()),
            server(
                "a",
                "h1",
                9,
                vec![worker("y", 2), worker("x", 2), worker("z", 1)],
            ),
            server("c", "h1", 3, Vec::new()),
        ]);
        let order: Vec<&str> = out.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(order, ["c", "a", "b"]);
        let tasks: Vec<&str> = out[1]
            .active_workers
            .iter()
            .map(|w| w.task_id.as_str())
            .collect();
        assert_eq!(tasks, ["z", "x", "y"]);
        assert_eq!(out[1].concurrency, 0);
        assert_eq!(out[1].queues["q"], 0);
    }

    #[test]
    fn queue_size_and_latency() {
        let now = from_unix_secs(1_000);
        let record = QueueRecord {
            pending: 1,
            active: 2,
            scheduled: 3,
            retry: 4,
            archived: 5,
            completed: 6,
            aggregating: 7,
            groups: 1,
            processed: 0,
            failed: 0,
            processed_total: 0,
            failed_total: 0,
            paused: false,
            oldest_pending_since: Some(from_unix_secs(990)),
            memory_usage: None,
        };
        let info = queue_info("q", record.clone(), now);
        assert_eq!(info.size, 28);
        assert_eq!(info.latency, Duration::from_secs(10));
        let future = QueueRecord {
            oldest_pending_since: Some(from_unix_secs(2_000)),
            ..record
        };
        assert_eq!(queue_info("q", future, now).latency, Duration::ZERO);
    }
}
