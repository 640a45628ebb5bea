//! The commands that work on queues: one module per command group.

pub(crate) mod cron;
pub(crate) mod group;
pub(crate) mod queue;
pub(crate) mod server;
pub(crate) mod stats;
pub(crate) mod task;
pub(crate) mod web;

use std::io::IsTerminal;

use crate::error::{CliError, CliResult};

/// The result of a command that works through several items (`queue pause a b c`): each
/// failure is reported on stderr as it happens and the others go on; the command then exits
/// with the code of the first failure.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    first: Option<CliError>,
}

impl Outcome {
    /// Records one item's result, reporting a failure at once.
    pub(crate) fn record(&mut self, result: CliResult) {
        if let Err(e) = result {
            report(&e);
            if self.first.is_none() {
                self.first = Some(CliError::new(e.exit, String::new()));
            }
        }
    }

    /// Whether no item failed so far.
    pub(crate) fn is_clean(&self) -> bool {
        self.first.is_none()
    }

    /// `Ok` when every item succeeded; otherwise the first failure, already reported.
    pub(crate) fn finish(self) -> CliResult {
        match self.first {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }
}

/// Prints an error to stderr as one line.
pub(crate) fn report(e: &CliError) {
    if !e.message.is_empty() {
        eprintln!("error: {}", e.message);
    }
}

/// Whether stdout is a terminal (to add hints that would disturb scripts).
pub(crate) fn interactive() -> bool {
    std::io::stdout().is_terminal()
}
