//! Clock skew between worker processes (libfaketime).

use super::*;

/// How far the clock-skew scenario sets worker clocks apart from the host's.
const SKEW_MS: i64 = 3000;
/// Due times are whole unix seconds (asynq's format): a task due at 10.9 s is due from 10 s.
const DUE_RESOLUTION_MS: u64 = 1000;

/// Clock skew: four workers whose wall clocks run 3 s ahead, 3 s behind, 3 s ahead and 3 s
/// behind the host's (and Redis's), set with libfaketime; a random one is SIGKILLed every
/// 1–2 s and restarted 200 ms later with the same skew, so recovery has work to do. 30 % of
/// the tasks are scheduled up to 5 s ahead.
///
/// Correct means: nothing lost or stuck, every duplicate explained by a kill (skew alone
/// never runs a task twice: leases and the recoverer's cutoff use Redis's clock), and no
/// scheduled task starting earlier than its due time minus the one-second resolution of due
/// times (asynq stores them in whole seconds; forwarding compares them with Redis's clock,
/// so the skew adds nothing).
pub(super) async fn clock_skew(opts: &RunOptions) -> Result<Report, String> {
    let lib = fleet::find_libfaketime()?;
    let redis = RedisServer::start();
    let per_slot_ms = vec![SKEW_MS, -SKEW_MS, SKEW_MS, -SKEW_MS];
    let spec = FleetSpec {
        workers: per_slot_ms.len(),
        clock_skew: Some(ClockSkew {
            lib,
            per_slot_ms: per_slot_ms.clone(),
        }),
        ..fleet_spec()
    };
    let mut h = Harness::start_with("clock-skew", opts, &redis.url(), &redis.url(), spec)?;
    h.early_start_allowance_ms = Some(DUE_RESOLUTION_MS);
    let offsets = verify_skews(&h, &per_slot_ms).await?;
    let plan = LoadPlan {
        scheduled_percent: 30,
        max_delay_ms: 5000,
        ..h.plan()
    };
    let load = h.start_load(plan).await?;
    h.kill_workers_during(&load, 1000..2000).await?;
    let mut report = h.finish(load).await?;
    report.notes.push(format!(
        "worker clocks measured at start, ms from the host's: {offsets:?}"
    ));
    report.notes.push(format!(
        "scheduled tasks started: {}; earliest first start vs its due time: {} ms (allowed: -{} ms)",
        report.verdict.scheduled_started,
        report
            .verdict
            .earliest_vs_due_ms
            .map_or("-".to_owned(), |d| d.to_string()),
        DUE_RESOLUTION_MS
    ));
    Ok(report)
}

/// Checks that each worker's wall clock really is skewed as asked (libfaketime preloaded and
/// working): each writes its clock to stderr when it starts. Returns the measured offsets.
pub(super) async fn verify_skews(h: &Harness, expected_ms: &[i64]) -> Result<Vec<i64>, String> {
    let ids = h.fleet.running_ids();
    let mut measured = Vec::new();
    for (id, want) in ids.iter().zip(expected_ms) {
        let path = h.dir.path().join(format!("worker-{id}.stderr"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let clock = loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let line = text.lines().find_map(|l| {
                l.strip_prefix(worker::CLOCK_LINE)
                    .and_then(|rest| rest.trim().parse::<i64>().ok())
            });
            if let Some(clock) = line {
                break clock;
            }
            if Instant::now() > deadline {
                return Err(format!("worker-{id} never reported its clock"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Read soon after the worker wrote it (the host's clock moved on since, by less than
        // a second unless the machine is very loaded): the offset is roughly the skew; half
        // the skew tells a working libfaketime from one that did nothing.
        let offset = clock - i64::try_from(now_ms()).unwrap_or(i64::MAX);
        if (offset - want).abs() > want.abs() / 2 {
            return Err(format!(
                "worker-{id}'s clock is {offset} ms from the host's, expected about {want} ms: \
                 libfaketime was preloaded but did not move the worker's clock"
            ));
        }
        measured.push(offset);
    }
    Ok(measured)
}
