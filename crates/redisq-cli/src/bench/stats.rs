//! Redis-side cost, from `INFO` deltas.

use std::collections::BTreeMap;

use redis::aio::MultiplexedConnection;

use super::BoxError;

/// Commands the benchmarks send themselves (the rest run inside scripts).
const TOP_LEVEL: [&str; 7] = [
    "evalsha", "eval", "zadd", "llen", "zrange", "publish", "sadd",
];

/// Counters read from `INFO`.
#[derive(Clone, Debug, Default)]
pub(crate) struct RedisStats {
    /// `total_commands_processed` (commands run inside Lua scripts included).
    pub(crate) commands: u64,
    /// `used_cpu_user + used_cpu_sys`, seconds.
    pub(crate) cpu: f64,
    /// Calls per command name (`INFO commandstats`).
    pub(crate) per_command: BTreeMap<String, u64>,
    /// Microseconds spent executing commands (`INFO commandstats` usec; a script's inner
    /// commands are counted inside its EVALSHA too, so only top-level commands are summed).
    pub(crate) command_usec: u64,
}

impl RedisStats {
    /// Reads the counters (one `INFO` command, which the delta then includes).
    pub(crate) async fn read(c: &mut MultiplexedConnection) -> Result<RedisStats, BoxError> {
        let info: String = redis::cmd("INFO").arg("everything").query_async(c).await?;
        let mut s = RedisStats::default();
        let (mut user, mut sys) = (0.0, 0.0);
        for line in info.lines() {
            if let Some(v) = line.strip_prefix("total_commands_processed:") {
                s.commands = v.trim().parse().unwrap_or(0);
            } else if let Some(v) = line.strip_prefix("used_cpu_user:") {
                user = v.trim().parse().unwrap_or(0.0);
            } else if let Some(v) = line.strip_prefix("used_cpu_sys:") {
                sys = v.trim().parse().unwrap_or(0.0);
            } else if let Some(rest) = line.strip_prefix("cmdstat_") {
                // cmdstat_evalsha:calls=3,usec=...
                if let Some((name, fields)) = rest.split_once(':') {
                    let field = |key: &str| -> u64 {
                        fields
                            .split(',')
                            .find_map(|f| f.strip_prefix(key))
                            .and_then(|c| c.parse().ok())
                            .unwrap_or(0)
                    };
                    s.per_command.insert(name.to_string(), field("calls="));
                    if TOP_LEVEL.contains(&name) {
                        s.command_usec += field("usec=");
                    }
                }
            }
        }
        s.cpu = user + sys;
        Ok(s)
    }

    /// What happened between `before` and `self`.
    pub(crate) fn since(&self, before: &RedisStats) -> RedisStats {
        let mut per_command = BTreeMap::new();
        for (k, v) in &self.per_command {
            let d = v.saturating_sub(before.per_command.get(k).copied().unwrap_or(0));
            if d > 0 {
                per_command.insert(k.clone(), d);
            }
        }
        RedisStats {
            commands: self.commands.saturating_sub(before.commands),
            cpu: (self.cpu - before.cpu).max(0.0),
            per_command,
            command_usec: self.command_usec.saturating_sub(before.command_usec),
        }
    }

    /// The sum of two servers' counters (the nodes of a Cluster).
    pub(crate) fn plus(mut self, other: &RedisStats) -> RedisStats {
        self.commands += other.commands;
        self.cpu += other.cpu;
        self.command_usec += other.command_usec;
        for (k, v) in &other.per_command {
            *self.per_command.entry(k.clone()).or_default() += v;
        }
        self
    }

    /// Report fields: commands and CPU µs per task.
    pub(crate) fn per_task(&self, tasks: usize) -> serde_json::Value {
        let n = tasks.max(1) as f64;
        let per_command: serde_json::Map<String, serde_json::Value> = self
            .per_command
            .iter()
            .filter(|(k, _)| k.as_str() != "info")
            .map(|(k, v)| (k.clone(), serde_json::json!(*v as f64 / n)))
            .collect();
        serde_json::json!({
            "redis_commands": self.commands,
            "redis_commands_per_task": self.commands as f64 / n,
            "redis_cpu_seconds": self.cpu,
            "redis_cpu_us_per_task": self.cpu * 1e6 / n,
            // Where that CPU goes: running commands and scripts, the rest being network I/O
            // and the event loop (a profile of the per-call overhead).
            "redis_command_exec_us_per_task": self.command_usec as f64 / n,
            "per_command_per_task": per_command,
        })
    }
}

/// Deletes every key of the benchmark's namespace on one server (only used on a Redis given
/// by URL).
pub(crate) async fn delete_namespace(
    c: &mut MultiplexedConnection,
    namespace: &str,
) -> Result<(), BoxError> {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{namespace}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await?;
        if !keys.is_empty() {
            // One UNLINK per key: on a Cluster node the keys are in several hash slots, and
            // one command may only name keys of one.
            let mut pipe = redis::pipe();
            for key in &keys {
                pipe.cmd("UNLINK").arg(key).ignore();
            }
            let () = pipe.query_async(c).await?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
