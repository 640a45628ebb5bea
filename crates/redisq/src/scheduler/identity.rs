//! Hashes that identify a periodic task independently of the process that registered it.

use sha2::{Digest, Sha256};

use crate::option::TaskOption;
use crate::task::Task;

/// The effective options of an entry, in the order they apply: the task's own options,
/// then the ones given at registration. Their `Display` strings are what
/// `SchedulerEntry.enqueue_options` stores.
pub(crate) fn option_strings(task: &Task, opts: &[TaskOption]) -> Vec<String> {
    task.options()
        .iter()
        .chain(opts)
        .map(ToString::to_string)
        .collect()
}

/// asynq's `PeriodicTaskConfig.hash()`: hex SHA-256 over the cronspec, the task type, the
/// payload and the sorted option strings, written one after the other.
pub(crate) fn config_hash(cronspec: &str, task: &Task, option_strings: &[String]) -> String {
    let mut sorted: Vec<&str> = option_strings.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    h.update(cronspec.as_bytes());
    h.update(task.task_type().as_bytes());
    h.update(task.payload());
    for o in sorted {
        h.update(o.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The identity of an entry for fire claims: the same in every process that registers the
/// same spec, task (type, payload, headers) and options, whatever its random entry ID.
///
/// Unlike [`config_hash`] every part is length-prefixed, so that different entries cannot
/// collide by moving bytes from one part to the next, and headers count.
pub(crate) fn fire_identity(cronspec: &str, task: &Task, option_strings: &[String]) -> String {
    fn part(h: &mut Sha256, bytes: &[u8]) {
        h.update((bytes.len() as u64).to_be_bytes());
        h.update(bytes);
    }
    let mut sorted: Vec<&str> = option_strings.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    let mut h = Sha256::new();
    part(&mut h, b"redisq-scheduler-fire-v1");
    part(&mut h, cronspec.as_bytes());
    part(&mut h, task.task_type().as_bytes());
    match task.payload_opt() {
        Some(p) => {
            part(&mut h, b"payload");
            part(&mut h, p);
        }
        None => part(&mut h, b"no-payload"),
    }
    h.update((task.headers().len() as u64).to_be_bytes());
    for (k, v) in task.headers() {
        part(&mut h, k.as_bytes());
        part(&mut h, v.as_bytes());
    }
    h.update((sorted.len() as u64).to_be_bytes());
    for o in sorted {
        part(&mut h, o.as_bytes());
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_hash_is_asynq_concatenation() {
        let task = Task::new("email", "p");
        let opts = vec!["Queue(\"low\")".to_string(), "MaxRetry(2)".to_string()];
        let mut h = Sha256::new();
        h.update(b"@every 1h");
        h.update(b"email");
        h.update(b"p");
        h.update(b"MaxRetry(2)");
        h.update(b"Queue(\"low\")");
        assert_eq!(
            config_hash("@every 1h", &task, &opts),
            hex::encode(h.finalize())
        );
        // Option order does not matter.
        let reversed: Vec<String> = opts.iter().rev().cloned().collect();
        assert_eq!(
            config_hash("@every 1h", &task, &opts),
            config_hash("@every 1h", &task, &reversed)
        );
    }

    #[test]
    fn fire_identity_separates_parts() {
        let a = fire_identity("* * * * *", &Task::new("ab", "c"), &[]);
        let b = fire_identity("* * * * *", &Task::new("a", "bc"), &[]);
        assert_ne!(a, b);
        let h1 = fire_identity("* * * * *", &Task::new("a", "b").with_header("k", "v"), &[]);
        let h2 = fire_identity("* * * * *", &Task::new("a", "b"), &[]);
        assert_ne!(h1, h2);
        let o1 = fire_identity("@daily", &Task::new("a", "b"), &["X".into(), "Y".into()]);
        let o2 = fire_identity("@daily", &Task::new("a", "b"), &["Y".into(), "X".into()]);
        assert_eq!(o1, o2);
        assert_eq!(o1.len(), 64);
    }
}
