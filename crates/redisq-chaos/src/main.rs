//! `redisq-chaos`: runs the fault-injection scenarios (see the library docs).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use redisq_chaos::scenario::{self, Profile, RunOptions};
use redisq_chaos::worker::{self, WorkerArgs};

#[derive(Parser)]
#[command(
    name = "redisq-chaos",
    about = "Fault injection for redisq with an independent checker"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Short,
    Full,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario (or `all`) and prints the result table.
    Run {
        /// A scenario name, or `all`.
        scenario: String,
        /// `short` (CI, seconds per scenario) or `full` (ten times the load and faults).
        #[arg(long, value_enum, default_value = "short")]
        profile: ProfileArg,
        /// Seed of every random choice.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Keep each scenario's directory (worker logs) and print where it is.
        #[arg(long)]
        keep: bool,
    },
    /// Lists the scenarios.
    List,
    /// Internal: one worker process (started by `run`).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        url: String,
        #[arg(long)]
        log: PathBuf,
        #[arg(long)]
        id: u32,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// `name=weight,...`
        #[arg(long)]
        queues: String,
        #[arg(long)]
        strict: bool,
        #[arg(long)]
        panicking_callbacks: bool,
        /// How far libfaketime sets this process's clock ahead (ms, negative: behind).
        #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
        clock_skew_ms: i64,
    },
}

fn parse_queues(text: &str) -> Result<Vec<(String, u32)>, String> {
    text.split(',')
        .map(|item| {
            let (q, p) = item
                .split_once('=')
                .ok_or_else(|| format!("bad queue {item:?}: expected name=weight"))?;
            let p = p.parse().map_err(|_| format!("bad weight in {item:?}"))?;
            Ok((q.to_owned(), p))
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::List => {
            for name in scenario::SCENARIOS {
                println!("{name}");
            }
            ExitCode::SUCCESS
        }
        Command::Worker {
            url,
            log,
            id,
            concurrency,
            queues,
            strict,
            panicking_callbacks,
            clock_skew_ms,
        } => {
            let queues = match parse_queues(&queues) {
                Ok(q) => q,
                Err(err) => {
                    eprintln!("{err}");
                    return ExitCode::from(2);
                }
            };
            let args = WorkerArgs {
                url,
                log,
                id,
                concurrency,
                queues,
                strict,
                panicking_callbacks,
                clock_skew_ms,
            };
            match runtime.block_on(worker::run(args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("worker-{id}: {err}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run {
            scenario: name,
            profile,
            seed,
            keep,
        } => {
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(err) => {
                    eprintln!("cannot find this binary: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let opts = RunOptions {
                exe,
                profile: match profile {
                    ProfileArg::Short => Profile::Short,
                    ProfileArg::Full => Profile::Full,
                },
                seed,
                keep,
            };
            let names: Vec<&str> = if name == "all" {
                scenario::SCENARIOS.to_vec()
            } else {
                vec![name.as_str()]
            };
            let mut reports = Vec::new();
            let mut ok = true;
            for name in names {
                eprintln!("running {name} ...");
                match runtime.block_on(scenario::run(name, &opts)) {
                    Ok(report) => {
                        eprintln!(
                            "{name}: {} in {:.1} s",
                            if report.passed() { "pass" } else { "FAIL" },
                            report.elapsed.as_secs_f64()
                        );
                        for note in &report.notes {
                            eprintln!("  note: {note}");
                        }
                        if !report.passed() {
                            ok = false;
                            eprint!("{}", redisq_chaos::failure_details(&report));
                        } else if let Some(dir) = &report.dir {
                            eprintln!("  logs: {}", dir.display());
                        }
                        reports.push(report);
                    }
                    Err(err) => {
                        ok = false;
                        eprintln!("{name}: could not run: {err}");
                    }
                }
            }
            print!("{}", redisq_chaos::table(&reports));
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
