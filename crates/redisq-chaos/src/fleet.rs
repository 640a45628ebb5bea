//! The worker processes of a run: spawning, SIGKILLing and respawning them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use crate::record;

/// How the fleet's workers are set up.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Number of worker processes.
    pub workers: usize,
    /// Handler slots per worker.
    pub concurrency: usize,
    /// Queues and weights, the same for every worker.
    pub queues: Vec<(String, u32)>,
    /// Which worker slots use strict priority (the others are weighted).
    pub strict_slots: Vec<usize>,
    /// Every user callback of every worker panics.
    pub panicking_callbacks: bool,
    /// Skewed wall clocks: each slot's offset in ms (missing slots: none), applied with
    /// libfaketime (the monotonic clock is left alone, so only wall-clock reads move).
    pub clock_skew: Option<ClockSkew>,
}

/// Per-slot wall-clock offsets, applied by preloading libfaketime.
#[derive(Debug, Clone)]
pub struct ClockSkew {
    /// The libfaketime shared object (see [`find_libfaketime`]).
    pub lib: PathBuf,
    /// Offset of each slot's clock in ms (negative: behind).
    pub per_slot_ms: Vec<i64>,
}

/// Where Debian and most distributions put libfaketime (the thread-safe build first: the
/// workers are multi-threaded). `REDISQ_CHAOS_LIBFAKETIME` overrides the search.
pub fn find_libfaketime() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("REDISQ_CHAOS_LIBFAKETIME") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "REDISQ_CHAOS_LIBFAKETIME={} is not a file",
                path.display()
            ))
        };
    }
    let mut dirs = vec![
        PathBuf::from("/usr/lib/faketime"),
        PathBuf::from("/usr/local/lib/faketime"),
    ];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("faketime")));
    }
    for name in ["libfaketimeMT.so.1", "libfaketime.so.1"] {
        if let Some(found) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
            return Ok(found);
        }
    }
    Err(
        "the clock-skew scenario needs libfaketime to give worker processes skewed clocks, \
         and it is not installed: on Debian/Ubuntu `apt-get install faketime` (or set \
         REDISQ_CHAOS_LIBFAKETIME to the path of libfaketimeMT.so.1)"
            .to_owned(),
    )
}

struct Running {
    id: u32,
    child: Child,
}

/// The running worker processes.
pub struct Fleet {
    exe: PathBuf,
    url: String,
    dir: PathBuf,
    spec: FleetSpec,
    slots: Vec<Option<Running>>,
    next_id: u32,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("url", &self.url)
            .field("dir", &self.dir)
            .field("running", &self.running_ids())
            .finish_non_exhaustive()
    }
}

impl Fleet {
    /// Starts `spec.workers` processes of `exe worker ...` against `url`, logging in `dir`.
    pub fn start(exe: &Path, url: &str, dir: &Path, spec: FleetSpec) -> Result<Fleet, String> {
        let mut fleet = Fleet {
            exe: exe.to_owned(),
            url: url.to_owned(),
            dir: dir.to_owned(),
            slots: (0..spec.workers).map(|_| None).collect(),
            spec,
            next_id: 1,
        };
        for slot in 0..fleet.slots.len() {
            fleet.spawn(slot)?;
        }
        Ok(fleet)
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether the fleet has no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The OS process ID of the worker in `slot`, if running.
    pub fn pid(&self, slot: usize) -> Option<u32> {
        self.slots[slot].as_ref().and_then(|r| r.child.id())
    }

    /// IDs of the running incarnations.
    pub fn running_ids(&self) -> Vec<u32> {
        self.slots.iter().flatten().map(|r| r.id).collect()
    }

    /// Starts a new incarnation in `slot` (which must be empty); returns its ID.
    pub fn spawn(&mut self, slot: usize) -> Result<u32, String> {
        let id = self.next_id;
        self.next_id += 1;
        let queues = self
            .spec
            .queues
            .iter()
            .map(|(q, p)| format!("{q}={p}"))
            .collect::<Vec<_>>()
            .join(",");
        let stderr = File::create(self.dir.join(format!("worker-{id}.stderr")))
            .map_err(|e| format!("cannot create a worker's stderr file: {e}"))?;
        let mut cmd = Command::new(&self.exe);
        cmd.arg("worker")
            .arg("--url")
            .arg(&self.url)
            .arg("--log")
            .arg(record::log_path(&self.dir, id))
            .arg("--id")
            .arg(id.to_string())
            .arg("--concurrency")
            .arg(self.spec.concurrency.to_string())
            .arg("--queues")
            .arg(queues);
        if self.spec.strict_slots.contains(&slot) {
            cmd.arg("--strict");
        }
        if self.spec.panicking_callbacks {
            cmd.arg("--panicking-callbacks");
        }
        if let Some(skew) = &self.spec.clock_skew {
            let ms = skew.per_slot_ms.get(slot).copied().unwrap_or(0);
            if ms != 0 {
                // libfaketime's relative form: "+3.000" / "-3.000" seconds from now.
                let offset = format!(
                    "{}{}.{:03}",
                    if ms < 0 { '-' } else { '+' },
                    ms.unsigned_abs() / 1000,
                    ms.unsigned_abs() % 1000
                );
                cmd.env("LD_PRELOAD", &skew.lib)
                    .env("FAKETIME", offset)
                    // Only the wall clock moves: timers and timeouts stay true (both names:
                    // libfaketime renamed the variable).
                    .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
                    .env("DONT_FAKE_MONOTONIC", "1")
                    .arg("--clock-skew-ms")
                    .arg(ms.to_string());
            }
        }
        // stdin stays open while the runner lives: its end is the worker's signal to stop.
        // Panics are part of some scenarios: one line each is enough.
        cmd.env("RUST_BACKTRACE", "0");
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.exe.display()))?;
        self.slots[slot] = Some(Running { id, child });
        Ok(id)
    }

    /// SIGKILLs the worker in `slot` and reaps it; returns its ID (`None` if the slot was
    /// empty).
    pub async fn kill(&mut self, slot: usize) -> Option<u32> {
        let mut running = self.slots[slot].take()?;
        let _ = running.child.start_kill();
        let _ = running.child.wait().await;
        Some(running.id)
    }

    /// Fills every empty slot.
    pub fn respawn_missing(&mut self) -> Result<(), String> {
        for slot in 0..self.slots.len() {
            if self.slots[slot].is_none() {
                self.spawn(slot)?;
            }
        }
        Ok(())
    }

    /// Workers that exited on their own (not killed by the runner): `(id, status)`.
    pub fn crashed(&mut self) -> Vec<(u32, String)> {
        let mut out = Vec::new();
        for running in self.slots.iter_mut().flatten() {
            if let Ok(Some(status)) = running.child.try_wait() {
                out.push((running.id, status.to_string()));
            }
        }
        out
    }

    /// Graceful stop: closes every worker's stdin and waits for it (SIGKILL after `grace`).
    pub async fn stop(&mut self, grace: Duration) {
        for running in self.slots.iter_mut().flatten() {
            drop(running.child.stdin.take());
        }
        for slot in &mut self.slots {
            if let Some(mut running) = slot.take()
                && tokio::time::timeout(grace, running.child.wait())
                    .await
                    .is_err()
            {
                let _ = running.child.start_kill();
                let _ = running.child.wait().await;
            }
        }
    }
}
