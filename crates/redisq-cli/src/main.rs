//! `redisq`: the operator's command line for redisq and asynq queues.
//!
//! This first version carries `redisq bench`; the queue, task, group, server and cron
//! commands and the dashboard arrive with the CLI issue.

mod bench;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The redisq command line.
#[derive(Debug, Parser)]
#[command(name = "redisq", version, about = "Operate redisq / asynq task queues")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure enqueue, processing, end-to-end latency or idle load against Redis.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Bench(args) => bench::run(args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
