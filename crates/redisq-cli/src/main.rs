//! `redisq`: the operator's command line for redisq and asynq queues.
//!
//! The commands follow the `asynq` CLI (`stats`, `queue`, `task`, `group`, `server`, `cron`,
//! `dash`), plus `bench` and `web`. This file only parses the command line, resolves the
//! connection and dispatches; the commands live in [`cmd`], the connection flags in
//! [`conn`], the output helpers in [`output`] and [`json`], and the exit codes in [`error`].

mod bench;
mod cmd;
mod conn;
mod dash;
mod duration;
mod error;
mod json;
mod output;

use std::process::ExitCode;

use clap::{Arg, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::conn::ConnArgs;
use crate::error::{CliError, CliResult, EXIT_CODES_HELP};

/// The redisq command line.
#[derive(Debug, Parser)]
#[command(
    name = "redisq",
    version,
    about = "Operate redisq / asynq task queues: inspect and steer queues, tasks, servers and \
             schedulers",
    after_help = EXIT_CODES_HELP
)]
struct Cli {
    #[command(flatten)]
    conn: ConnArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Task counts by state and by queue, today's processed/failed counts, Redis INFO
    Stats(cmd::stats::StatsArgs),
    /// Manage queues
    #[command(subcommand)]
    Queue(cmd::queue::QueueCmd),
    /// Manage tasks
    #[command(subcommand)]
    Task(cmd::task::TaskCmd),
    /// Aggregation groups
    #[command(subcommand)]
    Group(cmd::group::GroupCmd),
    /// Running servers (workers)
    #[command(subcommand)]
    Server(cmd::server::ServerCmd),
    /// Periodic tasks of running schedulers
    #[command(subcommand)]
    Cron(cmd::cron::CronCmd),
    /// Full-screen terminal dashboard
    Dash(dash::DashArgs),
    /// Web dashboard, asynqmon-compatible JSON API and Prometheus metrics over HTTP
    Web(cmd::web::WebArgs),
    /// Measure enqueue, processing, end-to-end latency or idle load against Redis (takes only
    /// --redis / REDISQ_URL; without them it starts a private redis-server)
    Bench(bench::BenchArgs),
}

/// The clap command. The connection flags are global, so they may come before or after the
/// command, except on `bench`, which has flags of its own (`--redis`, and `-n` for the number
/// of tasks). There the global flags are shadowed by hidden copies without short names: clap
/// does not propagate a global argument to a subcommand that has one with the same id, and a
/// copy used anyway (`redisq bench --db 1`) reaches `Cli::conn` and is refused by `run`.
/// `--cluster` alone is shown and honoured: `run` hands it to bench, which then runs on a
/// Redis Cluster (see [`bench::BenchArgs::cluster`]).
fn command() -> clap::Command {
    let cli = Cli::command();
    let shadows: Vec<Arg> = cli
        .get_arguments()
        .filter(|a| a.is_global_set() && a.get_id() != "redis")
        .map(|a| {
            let a = a.clone().short(None).global(false);
            if a.get_id() == "cluster" {
                a.help(bench::CLUSTER_HELP)
            } else {
                a.hide(true)
            }
        })
        .collect();
    cli.mut_subcommand("bench", |bench| bench.args(shadows))
}

fn main() -> ExitCode {
    let matches = command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            cmd::report(&e);
            ExitCode::from(e.code())
        }
    }
}

async fn run(cli: Cli) -> CliResult {
    let command = match cli.command {
        Command::Bench(mut args) => {
            let mut conn = cli.conn;
            args.cluster = std::mem::take(&mut conn.cluster);
            if conn.has_non_url_flags() {
                return Err(CliError::usage(
                    "`redisq bench` takes only --redis URL (or REDISQ_URL) to say where Redis \
                     is; it always writes under the namespace redisq-bench",
                ));
            }
            return bench::run(args)
                .await
                .map_err(|e| CliError::failure(error::one_line(&format!("bench: {e}"))));
        }
        other => other,
    };
    let conn = cli.conn.resolve()?;
    match &command {
        Command::Stats(a) => cmd::stats::run(&conn, a).await,
        Command::Queue(c) => cmd::queue::run(&conn, c).await,
        Command::Task(c) => cmd::task::run(&conn, c).await,
        Command::Group(c) => cmd::group::run(&conn, c).await,
        Command::Server(c) => cmd::server::run(&conn, c).await,
        Command::Cron(c) => cmd::cron::run(&conn, c).await,
        Command::Dash(args) => {
            let inspector = conn.inspector().await?;
            dash::run(inspector, args.clone())
                .await
                .map_err(|e| CliError::failure(error::one_line(&format!("dash: {e}"))))
        }
        Command::Web(args) => cmd::web::run(&conn, args).await,
        Command::Bench(_) => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod prop_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        let m = command().try_get_matches_from(args)?;
        Cli::from_arg_matches(&m)
    }

    #[test]
    fn connection_flags_go_before_or_after_the_command() {
        let a = parse(&["redisq", "-u", "h:1", "queue", "ls"]).unwrap();
        assert_eq!(a.conn.uri.as_deref(), Some("h:1"));
        let b = parse(&["redisq", "queue", "ls", "-u", "h:2", "-n", "3"]).unwrap();
        assert_eq!(b.conn.uri.as_deref(), Some("h:2"));
        assert_eq!(b.conn.db, Some(3));
    }

    #[test]
    fn bench_keeps_its_own_flags() {
        let a = parse(&[
            "redisq",
            "bench",
            "enqueue",
            "-n",
            "50",
            "--redis",
            "redis://h",
        ])
        .unwrap();
        let Command::Bench(b) = a.command else {
            panic!("expected bench")
        };
        assert_eq!(b.n, 50);
        assert_eq!(b.redis.as_deref(), Some("redis://h"));
        assert_eq!(a.conn.db, None);
        // bench's --cluster reaches `Cli::conn`, where `run` takes it for bench.
        let a = parse(&["redisq", "bench", "process", "--cluster"]).unwrap();
        assert!(a.conn.cluster);
    }

    #[test]
    fn redis_url_before_bench_reaches_it() {
        let a = parse(&["redisq", "--redis", "redis://h:1", "bench", "idle"]).unwrap();
        let Command::Bench(b) = a.command else {
            panic!("expected bench")
        };
        assert_eq!(b.redis.as_deref(), Some("redis://h:1"));
        assert!(!a.conn.has_non_url_flags());
        // Other connection flags reach `Cli::conn`, where `run` refuses them for bench.
        let a = parse(&["redisq", "bench", "idle", "--db", "1"]).unwrap();
        assert!(a.conn.has_non_url_flags());
    }

    #[test]
    fn aliases() {
        for args in [
            &["redisq", "queue", "list"][..],
            &["redisq", "queue", "resume", "q"],
            &["redisq", "queue", "remove", "q"],
            &["redisq", "queue", "delete", "q", "-f"],
            &["redisq", "task", "list", "-q", "q", "-s", "pending"],
            &["redisq", "task", "rm", "-q", "q", "-i", "x"],
            &["redisq", "task", "remove", "-q", "q", "-i", "x"],
            &["redisq", "group", "list", "-q", "q"],
            &["redisq", "server", "list"],
            &["redisq", "cron", "list"],
            &["redisq", "web", "--listen", "0.0.0.0:9000", "--read-only"],
            &[
                "redisq",
                "web",
                "--base-path",
                "/redisq",
                "--auth-token-env",
                "T",
            ],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["redisq", "task", "ls", "-q", "q", "-s", "bogus"][..],
            &["redisq", "task", "archiveall", "-q", "q", "-s", "archived"],
            &["redisq", "task", "runall", "-q", "q", "-s", "pending"],
            &["redisq", "task", "enqueue", "-t", "x", "--timeout", "5"],
            &[
                "redisq",
                "task",
                "enqueue",
                "-t",
                "x",
                "--process_at",
                "soon",
            ],
            &[
                "redisq",
                "task",
                "enqueue",
                "-t",
                "x",
                "--process_at",
                "2026-01-01T00:00:00Z",
                "--process_in",
                "1m",
            ],
            &["redisq", "queue", "history", "q", "-x", "0"],
            &["redisq", "--cluster_addrs", "a:1", "stats"],
            &["redisq", "--tls_server", "x", "stats"],
        ] {
            let e = parse(args).map(|_| ()).expect_err(&format!("{args:?}"));
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
    }
}
