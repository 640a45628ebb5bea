//! Periodic tasks: the cron `Scheduler` and the `PeriodicTaskManager` (issue: scheduler).
