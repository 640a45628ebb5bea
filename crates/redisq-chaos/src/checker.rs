//! The checker: from the client's acknowledgements, the workers' independent logs, the fault
//! timeline and the final Redis state, computes lost, stuck, duplicate tasks and recovery
//! times.

use std::collections::{HashMap, HashSet};

use crate::load::Enqueued;
use crate::record::{Event, Kind};

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What was done, e.g. `"kill -9 worker"`, `"redis SIGKILL"`.
    pub kind: String,
    /// When it began (Unix ms).
    pub start_ms: u64,
    /// When it was lifted (Unix ms); equal to `start_ms` for instantaneous faults.
    pub end_ms: u64,
    /// The worker incarnation it hit, for worker faults; `None` for faults of Redis or the
    /// network, which can affect every worker.
    pub worker: Option<u32>,
    /// Whether acknowledged writes may be lost by this fault (Redis SIGKILL with
    /// `appendfsync everysec`, a failover with asynchronous replication): enqueues
    /// acknowledged from this long before the fault until it was lifted are then allowed to
    /// be missing, and are counted apart.
    pub loss_window_ms: Option<u64>,
    /// How long after `end_ms` the fault can still cut off a running task: a frozen
    /// (half-open) connection keeps blocking its commands, lease extensions included, until
    /// its read timeout fires. Used only to explain duplicates.
    pub lingers_ms: u64,
}

/// Where a task is in Redis at the end of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// In `pending`.
    Pending,
    /// In `active`, with its lease expiry (Unix seconds) if it has one.
    Active(Option<i64>),
    /// In `scheduled`.
    Scheduled,
    /// In `retry`.
    Retry,
    /// In `archived`.
    Archived,
    /// In `completed` (kept for retention).
    Completed,
}

/// The final Redis state the checker needs.
#[derive(Debug, Clone, Default)]
pub struct FinalState {
    /// Every task found in a queue container.
    pub places: HashMap<String, Place>,
    /// Task hashes (`t:<id>`) that no container names: half-written or leaked tasks.
    pub orphan_hashes: Vec<String>,
    /// Container entries whose task hash is missing.
    pub dangling_ids: Vec<String>,
    /// Unix seconds when the state was read.
    pub read_at_secs: i64,
}

/// What the checker needs besides the observations.
#[derive(Debug, Clone, Default)]
pub struct CheckParams {
    /// Lease plus recovery grace, in seconds: an active task whose lease expired longer ago
    /// than this is stuck.
    pub grace_secs: i64,
    /// Tasks allowed to run more than once (they fail on purpose and are retried); for them
    /// only a second *finish* counts as a duplicate.
    pub expected_reruns: HashSet<String>,
    /// How long before its due time a scheduled task may start (clock skew between servers
    /// plus the one-second resolution of due times); `None`: not checked.
    pub early_start_allowance_ms: Option<u64>,
}

/// The checker's verdict on one run.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Tasks the producer tried to enqueue.
    pub tasks: usize,
    /// Enqueues acknowledged to the client.
    pub acked: usize,
    /// Enqueues that returned an error.
    pub client_errors: usize,
    /// Of those, tasks that ran or exist anyway (the write happened, the reply was lost).
    pub errors_but_present: usize,
    /// Acknowledged, never finished, not archived, no longer queued.
    pub lost: Vec<String>,
    /// Lost, but acknowledged inside the loss window of a fault that allows it
    /// (`appendfsync everysec` and a Redis crash).
    pub lost_in_window: Vec<String>,
    /// Active with no live owner after lease and grace.
    pub stuck: Vec<String>,
    /// Still queued (pending, scheduled, retry, or active with a live lease) when the drain
    /// deadline passed.
    pub undrained: Vec<String>,
    /// Archived tasks.
    pub archived: usize,
    /// Extra runs: starts beyond the first per task (or extra finishes for expected reruns).
    pub duplicates: usize,
    /// Duplicates no fault explains.
    pub unexplained_duplicates: Vec<String>,
    /// Task hashes left without a container, or container entries without a hash.
    pub integrity: Vec<String>,
    /// Recovery time per fault, in ms (faults after which nothing needed recovering are
    /// left out).
    pub recovery_ms: Vec<u64>,
    /// Scheduled tasks (with a due time) that started.
    pub scheduled_started: usize,
    /// Of those, the earliest first start relative to the due time, in ms (negative:
    /// before it).
    pub earliest_vs_due_ms: Option<i64>,
}

impl Verdict {
    /// Whether the run meets the guarantees: nothing lost, stuck, left behind, half-written
    /// or run twice without a fault to explain it.
    pub fn passed(&self) -> bool {
        self.lost.is_empty()
            && self.stuck.is_empty()
            && self.undrained.is_empty()
            && self.unexplained_duplicates.is_empty()
            && self.integrity.is_empty()
    }

    /// `(p50, max)` of the recovery times.
    pub fn recovery(&self) -> Option<(u64, u64)> {
        let mut v = self.recovery_ms.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        Some((v[(v.len() - 1) / 2], v[v.len() - 1]))
    }
}

/// Margin for the gap between an event and its log line (ms).
const SLACK_MS: u64 = 250;

/// Checks one run.
pub fn check(
    enqueued: &[Enqueued],
    events: &[Event],
    state: &FinalState,
    faults: &[Fault],
    params: &CheckParams,
) -> Verdict {
    let mut starts: HashMap<&str, Vec<&Event>> = HashMap::new();
    let mut finishes: HashMap<&str, Vec<&Event>> = HashMap::new();
    for e in events {
        let map = match e.kind {
            Kind::Start => &mut starts,
            Kind::Finish => &mut finishes,
        };
        map.entry(e.task.as_str()).or_default().push(e);
    }

    let mut v = Verdict {
        tasks: enqueued.len(),
        ..Verdict::default()
    };
    for task in enqueued {
        let finished = finishes.contains_key(task.id.as_str());
        let place = state.places.get(&task.id);
        if task.result.is_err() {
            v.client_errors += 1;
            if finished || starts.contains_key(task.id.as_str()) || place.is_some() {
                v.errors_but_present += 1;
            }
        } else {
            v.acked += 1;
        }
        match place {
            Some(Place::Archived) => v.archived += 1,
            Some(Place::Completed) => {}
            Some(Place::Active(lease)) if !finished => {
                let expired_long_ago =
                    lease.is_none_or(|l| l + params.grace_secs < state.read_at_secs);
                if expired_long_ago {
                    v.stuck.push(task.id.clone());
                } else {
                    v.undrained.push(task.id.clone());
                }
            }
            Some(Place::Pending | Place::Scheduled | Place::Retry | Place::Active(_)) => {
                v.undrained.push(task.id.clone())
            }
            None if finished => {}
            None if task.result.is_ok() => {
                let in_window = faults.iter().any(|f| {
                    f.loss_window_ms.is_some_and(|w| {
                        task.at_ms + w + SLACK_MS >= f.start_ms && task.at_ms <= f.end_ms
                    })
                });
                if in_window {
                    v.lost_in_window.push(task.id.clone());
                } else {
                    v.lost.push(task.id.clone());
                }
            }
            None => {}
        }
    }

    // Duplicates: each re-run must follow a fault that hit the earlier run.
    for (task, runs) in &starts {
        if params.expected_reruns.contains(*task) {
            let n = finishes.get(task).map_or(0, Vec::len);
            if n > 1 {
                v.duplicates += n - 1;
                v.unexplained_duplicates.push((*task).to_owned());
            }
            continue;
        }
        for pair in runs.windows(2) {
            let (prev, next) = (pair[0], pair[1]);
            v.duplicates += 1;
            let explained = faults.iter().any(|f| {
                f.start_ms <= next.at_ms + SLACK_MS
                    && f.end_ms + f.lingers_ms + SLACK_MS >= prev.at_ms
                    && f.worker.is_none_or(|w| w == prev.worker)
            });
            if !explained {
                v.unexplained_duplicates.push((*task).to_owned());
            }
        }
    }

    // Scheduled tasks: the first start may not come before the due time by more than the
    // allowance.
    for task in enqueued {
        let (Some(due), Some(first)) = (
            task.due_ms,
            starts.get(task.id.as_str()).and_then(|s| s.first()),
        ) else {
            continue;
        };
        let delta =
            i64::try_from(first.at_ms).unwrap_or(i64::MAX) - i64::try_from(due).unwrap_or(i64::MAX);
        v.scheduled_started += 1;
        v.earliest_vs_due_ms = Some(v.earliest_vs_due_ms.map_or(delta, |e| e.min(delta)));
        if let Some(allowed) = params.early_start_allowance_ms
            && delta < -i64::try_from(allowed).unwrap_or(i64::MAX)
        {
            v.integrity.push(format!(
                "scheduled task {} started {} ms before its due time (allowed: {allowed} ms)",
                task.id, -delta
            ));
        }
    }

    v.integrity.extend(
        state
            .orphan_hashes
            .iter()
            .map(|id| format!("task hash without a container: {id}")),
    );
    v.integrity.extend(
        state
            .dangling_ids
            .iter()
            .map(|id| format!("queued id without a task hash: {id}")),
    );

    v.recovery_ms = recovery(events, faults, &finishes);
    v.lost.sort();
    v.stuck.sort();
    v.undrained.sort();
    v
}

/// Recovery time per fault.
///
/// * A worker kill: until every task that was running on the killed worker has finished
///   elsewhere (the lease expires, the recoverer hands the task back, another worker runs it).
/// * Any other fault: from when it was lifted until the first task *started after that*
///   finishes (tasks already running when Redis came back do not count).
fn recovery(events: &[Event], faults: &[Fault], finishes: &HashMap<&str, Vec<&Event>>) -> Vec<u64> {
    let mut out = Vec::new();
    for f in faults {
        if let Some(w) = f.worker {
            // Tasks started on `w` before the kill without a finish on `w`.
            let mut open: HashMap<&str, bool> = HashMap::new();
            for e in events
                .iter()
                .filter(|e| e.worker == w && e.at_ms <= f.start_ms)
            {
                open.insert(e.task.as_str(), e.kind == Kind::Start);
            }
            let mut worst: Option<u64> = None;
            for (task, running) in open {
                if !running {
                    continue;
                }
                let done = finishes.get(task).and_then(|fs| {
                    fs.iter()
                        .filter(|e| e.worker != w && e.at_ms >= f.start_ms)
                        .map(|e| e.at_ms)
                        .min()
                });
                if let Some(at) = done {
                    worst = Some(worst.unwrap_or(0).max(at - f.start_ms));
                }
            }
            out.extend(worst);
        } else {
            let mut started_after: HashSet<(&str, u32)> = HashSet::new();
            let mut first = None;
            for e in events.iter().filter(|e| e.at_ms >= f.end_ms) {
                match e.kind {
                    Kind::Start => {
                        started_after.insert((e.task.as_str(), e.worker));
                    }
                    Kind::Finish if started_after.contains(&(e.task.as_str(), e.worker)) => {
                        first = Some(e.at_ms - f.end_ms);
                        break;
                    }
                    Kind::Finish => {}
                }
            }
            out.extend(first);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: Kind, task: &str, worker: u32, at_ms: u64) -> Event {
        Event {
            kind,
            task: task.to_owned(),
            worker,
            at_ms,
        }
    }

    fn acked(id: &str, at_ms: u64) -> Enqueued {
        Enqueued {
            id: id.to_owned(),
            queue: "q".to_owned(),
            result: Ok(()),
            behaviour: crate::worker::Behaviour::Work(1),
            at_ms,
            due_ms: None,
        }
    }

    #[test]
    fn classifies_lost_stuck_and_duplicates() {
        let enq = vec![
            acked("done", 0),
            acked("lost", 0),
            acked("stuck", 0),
            acked("rerun", 0),
            acked("twice", 0),
            Enqueued {
                id: "err".into(),
                queue: "q".into(),
                result: Err("boom".into()),
                behaviour: crate::worker::Behaviour::Work(1),
                at_ms: 0,
                due_ms: None,
            },
        ];
        let events = vec![
            ev(Kind::Start, "done", 1, 10),
            ev(Kind::Finish, "done", 1, 20),
            ev(Kind::Start, "rerun", 1, 30),
            ev(Kind::Start, "rerun", 2, 3000),
            ev(Kind::Finish, "rerun", 2, 3010),
            ev(Kind::Start, "twice", 2, 40),
            ev(Kind::Finish, "twice", 2, 50),
            ev(Kind::Start, "twice", 3, 60),
            ev(Kind::Finish, "twice", 3, 70),
        ];
        let mut state = FinalState {
            read_at_secs: 100,
            ..FinalState::default()
        };
        state.places.insert("stuck".into(), Place::Active(Some(10)));
        let faults = vec![Fault {
            kind: "kill -9 worker".into(),
            start_ms: 1000,
            end_ms: 1000,
            worker: Some(1),
            loss_window_ms: None,
            lingers_ms: 0,
        }];
        let params = CheckParams {
            grace_secs: 3,
            ..CheckParams::default()
        };
        let v = check(&enq, &events, &state, &faults, &params);
        assert_eq!(v.lost, vec!["lost".to_owned()]);
        assert_eq!(v.stuck, vec!["stuck".to_owned()]);
        assert_eq!(v.client_errors, 1);
        assert_eq!(v.errors_but_present, 0);
        assert_eq!(v.duplicates, 2);
        assert_eq!(v.unexplained_duplicates, vec!["twice".to_owned()]);
        assert_eq!(v.recovery_ms, vec![2010]);
        assert!(!v.passed());
    }

    #[test]
    fn scheduled_tasks_started_too_early_are_reported() {
        let scheduled = |id: &str, due_ms: u64| Enqueued {
            due_ms: Some(due_ms),
            ..acked(id, 0)
        };
        let enq = vec![
            scheduled("ok", 10_000),
            scheduled("early", 10_000),
            acked("now", 0),
        ];
        let events = vec![
            ev(Kind::Start, "now", 1, 100),
            ev(Kind::Finish, "now", 1, 110),
            ev(Kind::Start, "early", 1, 5_000),
            ev(Kind::Finish, "early", 1, 5_010),
            ev(Kind::Start, "ok", 1, 7_000),
            ev(Kind::Finish, "ok", 1, 7_010),
        ];
        let params = CheckParams {
            early_start_allowance_ms: Some(4_000),
            ..CheckParams::default()
        };
        let v = check(&enq, &events, &FinalState::default(), &[], &params);
        assert_eq!(v.scheduled_started, 2);
        assert_eq!(v.earliest_vs_due_ms, Some(-5_000));
        assert_eq!(v.integrity.len(), 1, "{:?}", v.integrity);
        assert!(v.integrity[0].contains("early started 5000 ms before"));
        assert!(!v.passed());
    }

    #[test]
    fn loss_inside_an_everysec_window_is_counted_apart() {
        let enq = vec![acked("early", 1000), acked("late", 9500)];
        let state = FinalState::default();
        let faults = vec![Fault {
            kind: "redis SIGKILL".into(),
            start_ms: 10_000,
            end_ms: 10_200,
            worker: None,
            loss_window_ms: Some(2000),
            lingers_ms: 0,
        }];
        let v = check(&enq, &[], &state, &faults, &CheckParams::default());
        assert_eq!(v.lost, vec!["early".to_owned()]);
        assert_eq!(v.lost_in_window, vec!["late".to_owned()]);
    }
}
