//! The short profile of every scenario, against real worker processes (this crate's binary in
//! `worker` mode) and real `redis-server` processes. Each test fails when the checker finds a
//! lost, stuck, undrained or half-written task, a duplicate no fault explains, or a crashed
//! worker.
//!
//! The scenarios run one at a time (a process-wide lock): they load the machine on purpose.

use std::sync::Mutex;

use redisq_chaos::scenario::{self, Profile, RunOptions};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run(name: &str) {
    let _guard = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let opts = RunOptions {
        exe: env!("CARGO_BIN_EXE_redisq-chaos").into(),
        profile: Profile::Short,
        seed: 1,
        keep: std::env::var_os("REDISQ_CHAOS_KEEP").is_some(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let report = runtime
        .block_on(scenario::run(name, &opts))
        .unwrap_or_else(|err| panic!("{name} could not run: {err}"));
    let table = redisq_chaos::table(std::slice::from_ref(&report));
    println!("{table}");
    assert!(
        report.passed(),
        "{table}{}",
        redisq_chaos::failure_details(&report)
    );
    // The scenario really injected faults (the soak injects none) and moved tasks.
    assert!(
        report.faults > 0 || name == "soak",
        "no fault was injected\n{table}"
    );
    assert!(
        report.verdict.acked > 0,
        "no enqueue was acknowledged\n{table}"
    );
}

#[test]
fn every_scenario_is_tested() {
    assert_eq!(
        scenario::SCENARIOS,
        &[
            "worker-kill",
            "redis-restart-always",
            "redis-restart-everysec",
            "redis-pause",
            "client-kill",
            "half-open",
            "oom",
            "misbehaving-handlers",
            "hostile-data",
            "sentinel-failover",
            "cluster-failover",
            "slot-migration",
            "clock-skew",
            "soak",
        ],
        "add a test below for each new scenario"
    );
}

#[test]
fn worker_kill() {
    run("worker-kill");
}

#[test]
fn redis_restart_always() {
    run("redis-restart-always");
}

#[test]
fn redis_restart_everysec() {
    run("redis-restart-everysec");
}

#[test]
fn redis_pause() {
    run("redis-pause");
}

#[test]
fn client_kill() {
    run("client-kill");
}

#[test]
fn half_open() {
    run("half-open");
}

#[test]
fn oom() {
    run("oom");
}

#[test]
fn misbehaving_handlers() {
    run("misbehaving-handlers");
}

#[test]
fn hostile_data() {
    run("hostile-data");
}

#[test]
fn sentinel_failover() {
    run("sentinel-failover");
}

#[test]
fn soak() {
    run("soak");
}

#[test]
fn cluster_failover() {
    run("cluster-failover");
}

#[test]
fn slot_migration() {
    run("slot-migration");
}

/// Needs libfaketime (`apt-get install faketime`): fails, saying so, without it.
#[test]
fn clock_skew() {
    run("clock-skew");
}
