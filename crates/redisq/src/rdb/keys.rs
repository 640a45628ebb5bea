//! Every Redis key redisq reads or writes, built from one namespace.
//!
//! The namespace defaults to `asynq`, which makes redisq share queues with Go asynq; another
//! one keeps an application's queues apart. All per-queue keys carry the queue name as a Cluster hash tag, `{q}`, so that
//! every key of a queue lives in one slot and scripts may touch keys derived inside Lua.

use md5::{Digest, Md5};

use crate::core::names::DEFAULT_NAMESPACE;
use crate::core::source::TaskSource;

/// Builds global keys for one namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    ns: String,
}

impl Default for Keys {
    fn default() -> Self {
        Keys::new(DEFAULT_NAMESPACE)
    }
}

impl Keys {
    pub(crate) fn new(namespace: impl Into<String>) -> Self {
        Keys {
            ns: namespace.into(),
        }
    }

    /// SET of every queue name.
    pub(crate) fn all_queues(&self) -> String {
        format!("{}:queues", self.ns)
    }

    /// ZSET of live server-info keys, scored by expiry.
    pub(crate) fn all_servers(&self) -> String {
        format!("{}:servers", self.ns)
    }

    /// ZSET of live worker-hash keys, scored by expiry.
    pub(crate) fn all_workers(&self) -> String {
        format!("{}:workers", self.ns)
    }

    /// ZSET of live scheduler-entry keys, scored by expiry.
    pub(crate) fn all_schedulers(&self) -> String {
        format!("{}:schedulers", self.ns)
    }

    /// STRING holding a server's protobuf ServerInfo.
    pub(crate) fn server_info(&self, host: &str, pid: u32, server_id: &str) -> String {
        format!("{}:servers:{{{host}:{pid}:{server_id}}}", self.ns)
    }

    /// HASH of a server's active workers (task ID → WorkerInfo).
    pub(crate) fn workers(&self, host: &str, pid: u32, server_id: &str) -> String {
        format!("{}:workers:{{{host}:{pid}:{server_id}}}", self.ns)
    }

    /// LIST of a scheduler's entries.
    pub(crate) fn scheduler_entries(&self, scheduler_id: &str) -> String {
        format!("{}:schedulers:{{{scheduler_id}}}", self.ns)
    }

    /// ZSET of enqueue events of one scheduler entry.
    pub(crate) fn scheduler_history(&self, entry_id: &str) -> String {
        format!("{}:scheduler_history:{entry_id}", self.ns)
    }

    /// Pub/sub channel on which redisq wakes idle forwarders (Go asynq ignores it).
    /// Messages are `s:<queue>` (a new earliest scheduled task) and `l:` (the stored limits changed). Servers also still act on
    /// `p:<queue>` (a pending list became non-empty), which redisq no longer publishes: idle
    /// processors wait on the queue's wake list instead (see `QueueKeys::wake`).
    pub(crate) fn wakeup_channel(&self) -> String {
        format!("{}:redisq:wakeup", self.ns)
    }

    /// Pub/sub channel on which completion scripts tell `Client::wait` callers that a task
    /// they wait for finished (Go asynq ignores it). Messages are task hash keys
    /// (`<ns>:{q}:t:<id>`); scripts derive the channel from such a key, so its form is fixed.
    pub(crate) fn finished_channel(&self) -> String {
        format!("{}:redisq:finished", self.ns)
    }

    /// HASH of the fleet's rate and concurrency limits (redisq only; see `core::throttle`
    /// for its fields). The limit stored here wins over any server's config.
    pub(crate) fn limits(&self) -> String {
        format!("{}:redisq:limits", self.ns)
    }

    /// Pub/sub channel carrying IDs of tasks to cancel.
    pub(crate) fn cancel_channel(&self) -> String {
        format!("{}:cancel", self.ns)
    }

    /// The keys of one queue.
    pub(crate) fn queue(&self, queue: &str) -> QueueKeys {
        QueueKeys {
            prefix: format!("{}:{{{queue}}}:", self.ns),
        }
    }
}

/// Builds the keys of one queue: all start with `<ns>:{<queue>}:`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QueueKeys {
    prefix: String,
}

impl QueueKeys {
    /// The container of a task source.
    pub(crate) fn source(&self, source: &TaskSource<'_>) -> String {
        match source {
            TaskSource::Pending => self.pending(),
            TaskSource::Active => self.active(),
            TaskSource::Scheduled => self.scheduled(),
            TaskSource::Retry => self.retry(),
            TaskSource::Archived => self.archived(),
            TaskSource::Completed => self.completed(),
            TaskSource::Group(g) => self.group(g),
        }
    }

    fn key(&self, suffix: &str) -> String {
        let mut k = String::with_capacity(self.prefix.len() + suffix.len());
        k.push_str(&self.prefix);
        k.push_str(suffix);
        k
    }

    /// SET of the task types that have tasks held back by a limit (`limits.lua`).
    pub(crate) fn held(&self) -> String {
        self.key("redisq:held")
    }

    /// LIST of the held tasks of one type, oldest at the right.
    pub(crate) fn held_of(&self, task_type: &str) -> String {
        self.key(&format!("redisq:held:t:{task_type}"))
    }

    /// `<ns>:{q}:` — scripts append state names to it.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    pub(crate) fn pending(&self) -> String {
        self.key("pending")
    }

    pub(crate) fn active(&self) -> String {
        self.key("active")
    }

    pub(crate) fn scheduled(&self) -> String {
        self.key("scheduled")
    }

    pub(crate) fn retry(&self) -> String {
        self.key("retry")
    }

    pub(crate) fn archived(&self) -> String {
        self.key("archived")
    }

    pub(crate) fn completed(&self) -> String {
        self.key("completed")
    }

    pub(crate) fn lease(&self) -> String {
        self.key("lease")
    }

    pub(crate) fn paused(&self) -> String {
        self.key("paused")
    }

    /// LIST holding at most one wake-up marker: pushed when the pending list goes from empty
    /// to non-empty, taken by one idle server blocked on it (`BLPOP`), so that new work
    /// wakes one server rather than the whole fleet. Go asynq ignores it.
    pub(crate) fn wake(&self) -> String {
        self.key("redisq:wake")
    }

    pub(crate) fn processed_total(&self) -> String {
        self.key("processed")
    }

    pub(crate) fn failed_total(&self) -> String {
        self.key("failed")
    }

    /// Daily processed counter; `date` is a UTC `YYYY-MM-DD`.
    pub(crate) fn processed_on(&self, date: &str) -> String {
        self.key(&format!("processed:{date}"))
    }

    /// Daily failed counter; `date` is a UTC `YYYY-MM-DD`.
    pub(crate) fn failed_on(&self, date: &str) -> String {
        self.key(&format!("failed:{date}"))
    }

    /// `<ns>:{q}:t:` — scripts append task IDs to it.
    pub(crate) fn task_prefix(&self) -> String {
        self.key("t:")
    }

    /// HASH of one task.
    pub(crate) fn task(&self, id: &str) -> String {
        self.key(&format!("t:{id}"))
    }

    /// Unique lock of a task type and payload. A task without a payload (Go's nil slice) gets
    /// no checksum; any payload, even an empty one, gets the MD5 hex of its bytes.
    pub(crate) fn unique(&self, task_type: &str, payload: Option<&[u8]>) -> String {
        match payload {
            None => self.key(&format!("unique:{task_type}:")),
            Some(p) => {
                let digest = Md5::digest(p);
                self.key(&format!("unique:{task_type}:{}", hex::encode(digest)))
            }
        }
    }

    /// ZSET of the IDs someone waits for (`Client::wait`), scored by when the wait's
    /// registration lapses (unix ms). Completion scripts derive it from the task key.
    pub(crate) fn waiters(&self) -> String {
        self.key("redisq:waiters")
    }

    /// STRING keeping, for a short while, the message of a task that someone waited for and
    /// that completed without retention (its hash is gone). Written by `done*.lua`.
    pub(crate) fn finished(&self, id: &str) -> String {
        self.key(&format!("redisq:finished:{id}"))
    }

    /// `<ns>:{q}:g:` — scripts append group names to it.
    pub(crate) fn group_prefix(&self) -> String {
        self.key("g:")
    }

    /// ZSET of the tasks waiting in a group.
    pub(crate) fn group(&self, group: &str) -> String {
        self.key(&format!("g:{group}"))
    }

    /// ZSET of one aggregation set taken from a group.
    pub(crate) fn aggregation_set(&self, group: &str, set_id: &str) -> String {
        self.key(&format!("g:{group}:{set_id}"))
    }

    /// SET of the queue's non-empty group names.
    pub(crate) fn groups(&self) -> String {
        self.key("groups")
    }

    /// ZSET of the flow parents waiting for their children, scored by creation time (unix s).
    /// redisq only: Go asynq never sees these tasks, so it cannot run one early.
    pub(crate) fn waiting(&self) -> String {
        self.key("redisq:waiting")
    }

    /// `<ns>:{q}:redisq:flow:` — scripts append a parent's task ID to it.
    pub(crate) fn flow_prefix(&self) -> String {
        self.key("redisq:flow:")
    }

    /// HASH of the flow whose parent is this task: its children, their outcomes, the policy.
    pub(crate) fn flow(&self, parent_id: &str) -> String {
        self.key(&format!("redisq:flow:{parent_id}"))
    }

    /// LIST of flow events (a child's completion or archive) written in the same step as the
    /// transition, waiting to be delivered to the parent's slot.
    pub(crate) fn flow_events(&self) -> String {
        self.key("redisq:flow_events")
    }

    /// ZSET of aggregation sets in progress, scored by deadline.
    pub(crate) fn aggregation_sets(&self) -> String {
        self.key("aggregation_sets")
    }
}

/// The hash tag of a key (the part between the first `{` and the next `}`), which decides
/// its Cluster slot; the whole key when it has none.
pub(crate) fn hash_tag(key: &str) -> &str {
    if let Some(open) = key.find('{')
        && let Some(len) = key[open + 1..].find('}')
        && len > 0
    {
        return &key[open + 1..open + 1 + len];
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_keys() {
        let k = Keys::default();
        assert_eq!(k.all_queues(), "asynq:queues");
        assert_eq!(k.all_servers(), "asynq:servers");
        assert_eq!(k.all_workers(), "asynq:workers");
        assert_eq!(k.all_schedulers(), "asynq:schedulers");
        assert_eq!(k.server_info("h", 7, "s"), "asynq:servers:{h:7:s}");
        assert_eq!(k.workers("h", 7, "s"), "asynq:workers:{h:7:s}");
        assert_eq!(k.scheduler_entries("h:7:u"), "asynq:schedulers:{h:7:u}");
        assert_eq!(k.scheduler_history("e"), "asynq:scheduler_history:e");
        assert_eq!(k.cancel_channel(), "asynq:cancel");
    }

    #[test]
    fn queue_keys() {
        let q = Keys::default().queue("default");
        assert_eq!(q.prefix(), "asynq:{default}:");
        assert_eq!(q.pending(), "asynq:{default}:pending");
        assert_eq!(q.active(), "asynq:{default}:active");
        assert_eq!(q.scheduled(), "asynq:{default}:scheduled");
        assert_eq!(q.retry(), "asynq:{default}:retry");
        assert_eq!(q.archived(), "asynq:{default}:archived");
        assert_eq!(q.completed(), "asynq:{default}:completed");
        assert_eq!(q.lease(), "asynq:{default}:lease");
        assert_eq!(q.paused(), "asynq:{default}:paused");
        assert_eq!(q.processed_total(), "asynq:{default}:processed");
        assert_eq!(q.failed_total(), "asynq:{default}:failed");
        assert_eq!(
            q.processed_on("2026-11-28"),
            "asynq:{default}:processed:2026-11-28"
        );
        assert_eq!(
            q.failed_on("2026-11-28"),
            "asynq:{default}:failed:2026-11-28"
        );
        assert_eq!(q.task("abc"), "asynq:{default}:t:abc");
        assert_eq!(q.task_prefix(), "asynq:{default}:t:");
        assert_eq!(q.group("g1"), "asynq:{default}:g:g1");
        assert_eq!(q.group_prefix(), "asynq:{default}:g:");
        assert_eq!(q.aggregation_set("g1", "s"), "asynq:{default}:g:g1:s");
        assert_eq!(q.groups(), "asynq:{default}:groups");
        assert_eq!(q.aggregation_sets(), "asynq:{default}:aggregation_sets");
        assert_eq!(q.waiters(), "asynq:{default}:redisq:waiters");
        assert_eq!(q.finished("x"), "asynq:{default}:redisq:finished:x");
        assert_eq!(Keys::default().finished_channel(), "asynq:redisq:finished");
        assert_eq!(q.waiting(), "asynq:{default}:redisq:waiting");
        assert_eq!(q.flow("p"), "asynq:{default}:redisq:flow:p");
        assert_eq!(q.flow_prefix(), "asynq:{default}:redisq:flow:");
        assert_eq!(q.flow_events(), "asynq:{default}:redisq:flow_events");
    }

    #[test]
    fn unique_keys_distinguish_nil_and_empty_payload() {
        let q = Keys::default().queue("default");
        assert_eq!(q.unique("ping", None), "asynq:{default}:unique:ping:");
        assert_eq!(
            q.unique("ping", Some(b"")),
            "asynq:{default}:unique:ping:d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn namespace_is_configurable() {
        let k = Keys::new("myapp");
        assert_eq!(k.all_queues(), "myapp:queues");
        assert_eq!(k.queue("q").pending(), "myapp:{q}:pending");
    }

    #[test]
    fn hash_tags() {
        assert_eq!(hash_tag("asynq:{default}:pending"), "default");
        assert_eq!(hash_tag("asynq:queues"), "asynq:queues");
        assert_eq!(hash_tag("a:{}:b"), "a:{}:b");
    }
}
