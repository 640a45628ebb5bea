//! Scheduler state: entries, enqueue history (spec §5.4).
