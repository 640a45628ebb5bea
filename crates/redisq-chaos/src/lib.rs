//! The redisq chaos runner: fault injection against real worker processes and real Redis
//! deployments, judged by an independent checker.
//!
//! `redisq-chaos run <scenario|all> --profile short|full [--seed N]` runs scenarios and prints
//! a table (scenario, tasks, faults, lost, stuck, duplicates, recovery p50/max); it exits
//! non-zero if anything was lost, stuck, left behind, half-written or run twice without a
//! fault to explain it. Each worker process is this binary in `worker` mode
//! ([`worker`]), which records every task start and finish in an append-only file
//! ([`record`]); the [`checker`] trusts only those files, the producer's acknowledgements
//! ([`load`]) and the final Redis state ([`state`]). See `docs/reliability.md`.

pub mod checker;
pub mod fleet;
pub mod load;
pub mod record;
pub mod scenario;
pub mod state;
pub mod worker;

use scenario::Report;

/// Formats reports as a Markdown table (the one in `docs/reliability.md`).
pub fn table(reports: &[Report]) -> String {
    let mut out = String::from(
        "| scenario | tasks | client errors | faults | lost | lost in allowed window | stuck | undrained | duplicates (unexplained) | recovery p50 / max | result |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let v = &r.verdict;
        let recovery = match v.recovery() {
            Some((p50, max)) => format!("{p50} ms / {max} ms"),
            None => "-".to_owned(),
        };
        out.push_str(&format!(
            "| {} | {} | {} ({} written anyway) | {} | {} | {} | {} | {} | {} ({}) | {} | {} |\n",
            r.scenario,
            v.tasks,
            v.client_errors,
            v.errors_but_present,
            r.faults,
            v.lost.len(),
            v.lost_in_window.len(),
            v.stuck.len(),
            v.undrained.len(),
            v.duplicates,
            v.unexplained_duplicates.len(),
            recovery,
            if r.passed() { "pass" } else { "FAIL" },
        ));
    }
    out
}

/// Explains a failed report: the first few offending task IDs of each kind.
pub fn failure_details(r: &Report) -> String {
    fn few(label: &str, ids: &[String]) -> String {
        if ids.is_empty() {
            return String::new();
        }
        let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
        format!("  {label} ({}): {}\n", ids.len(), shown.join(", "))
    }
    let v = &r.verdict;
    let mut out = format!("{}:\n", r.scenario);
    out.push_str(&few("lost", &v.lost));
    out.push_str(&few("stuck", &v.stuck));
    out.push_str(&few("undrained", &v.undrained));
    out.push_str(&few("unexplained duplicates", &v.unexplained_duplicates));
    out.push_str(&few("integrity", &v.integrity));
    out.push_str(&few("crashes", &r.crashes));
    out.push_str(&few("notes", &r.notes));
    if let Some(dir) = &r.dir {
        out.push_str(&format!("  logs: {}\n", dir.display()));
    }
    out
}
