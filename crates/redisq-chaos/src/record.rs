//! The independent record: what each worker process's handler did, kept in an append-only
//! file per worker process, outside Redis.
//!
//! One line per event, written with a single `write(2)` on a file opened with `O_APPEND`, so a
//! SIGKILL can lose at most the line being written, never corrupt an earlier one:
//!
//! ```text
//! S <task id> <worker id> <unix ms>     the handler started the task
//! F <task id> <worker id> <unix ms>     the handler finished it (returned Ok)
//! ```
//!
//! The checker never trusts Redis for "did it run": only these files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (all processes of a run share the host clock, except
/// clock-skew workers, whose [`Recorder`] corrects its lines by their known skew).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Start or finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The handler was called.
    Start,
    /// The handler returned `Ok`.
    Finish,
}

/// One line of a worker's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Start or finish.
    pub kind: Kind,
    /// The task ID.
    pub task: String,
    /// The worker process incarnation that ran it.
    pub worker: u32,
    /// When, in Unix milliseconds.
    pub at_ms: u64,
}

/// The file a worker incarnation writes to.
pub fn log_path(dir: &Path, worker: u32) -> PathBuf {
    dir.join(format!("worker-{worker}.log"))
}

/// The writer side, used by a worker process.
#[derive(Debug)]
pub struct Recorder {
    file: Mutex<File>,
    worker: u32,
    /// How far this process's wall clock is set ahead of the host's (a clock-skew run):
    /// subtracted from every timestamp, so all logs share the host's clock.
    skew_ms: i64,
}

impl Recorder {
    /// Opens (creates) the log for appending.
    pub fn open(path: &Path, worker: u32) -> io::Result<Recorder> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Recorder {
            file: Mutex::new(file),
            worker,
            skew_ms: 0,
        })
    }

    /// Timestamps are corrected by `skew_ms`, how far this process's clock is set ahead.
    pub fn with_skew(mut self, skew_ms: i64) -> Recorder {
        self.skew_ms = skew_ms;
        self
    }

    /// Appends one event line; a failure to record is fatal for the worker (the checker
    /// would otherwise report a loss that did not happen).
    pub fn record(&self, kind: Kind, task: &str) {
        let tag = match kind {
            Kind::Start => 'S',
            Kind::Finish => 'F',
        };
        let at = now_ms().saturating_add_signed(-self.skew_ms);
        let line = format!("{tag} {task} {} {at}\n", self.worker);
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(err) = file.write_all(line.as_bytes()) {
            eprintln!("cannot write the task log: {err}");
            std::process::exit(3);
        }
    }
}

/// Parses one line; `None` for a torn or foreign line.
fn parse_line(line: &str) -> Option<Event> {
    let mut parts = line.split(' ');
    let kind = match parts.next()? {
        "S" => Kind::Start,
        "F" => Kind::Finish,
        _ => return None,
    };
    let task = parts.next()?.to_owned();
    let worker = parts.next()?.parse().ok()?;
    let at_ms = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Event {
        kind,
        task,
        worker,
        at_ms,
    })
}

/// Reads every worker log in `dir`, in time order. A last line without its newline (a worker
/// killed mid-write) is ignored.
pub fn read_all(dir: &Path) -> io::Result<Vec<Event>> {
    let mut events = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("worker-") && n.ends_with(".log"));
        if !is_log {
            continue;
        }
        let text = fs::read_to_string(&path)?;
        let complete = match text.rfind('\n') {
            Some(end) => &text[..end],
            None => "",
        };
        events.extend(complete.lines().filter_map(parse_line));
    }
    events.sort_by_key(|e| e.at_ms);
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_torn_lines() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::open(&log_path(dir.path(), 7), 7).unwrap();
        rec.record(Kind::Start, "a-1");
        rec.record(Kind::Finish, "a-1");
        let mut f = OpenOptions::new()
            .append(true)
            .open(log_path(dir.path(), 7))
            .unwrap();
        f.write_all(b"S a-2 7 12").unwrap();
        let events = read_all(dir.path()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].kind, Kind::Start);
        assert_eq!(events[1].kind, Kind::Finish);
        assert!(events.iter().all(|e| e.task == "a-1" && e.worker == 7));
    }
}
