//! `redisq dash`: the full-screen terminal dashboard (asynq's `asynq dash`).
//!
//! Split like tokio-console's:
//! - `state`: a pure state machine (screens, selection, paging, the last data fetched, the
//!   pending confirmation, the status line). Keys and fetch results go in, [`Action`]s
//!   come out.
//! - `view`: draws the state into a ratatui frame; pure, checked by snapshot tests.
//! - `fetch`: the only I/O: turns actions into Inspector calls.
//! - this module: the terminal (raw mode, alternate screen, restored on every exit path,
//!   panics included) and the event loop.

mod fetch;
mod state;
mod view;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod snapshot_tests;

use std::io::{self, IsTerminal};
use std::panic::PanicHookInfo;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use clap::Args;
use crossterm::event::{Event, EventStream, KeyEventKind};
use crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute, terminal};
use futures_util::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};

use self::state::{Action, DashState, Outcome};

/// Arguments of `redisq dash`.
#[derive(Clone, Debug, Args)]
pub(crate) struct DashArgs {
    /// Refresh interval in seconds (at least 1).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) refresh: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Runs the dashboard until the user quits.
pub(crate) async fn run(inspector: redisq::Inspector, args: DashArgs) -> Result<(), BoxError> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err("redisq dash needs an interactive terminal".into());
    }
    let refresh = Duration::from_secs(args.refresh.max(1));
    let guard = TerminalGuard::enter()?;
    let result = event_loop(inspector, refresh).await;
    drop(guard);
    result
}

type PanicHook = dyn Fn(&PanicHookInfo<'_>) + Send + Sync + 'static;

/// Raw mode and the alternate screen while it lives. Restores the terminal when dropped
/// (normal exit, error, unwinding) and, through a panic hook installed first, before any
/// panic message is printed.
struct TerminalGuard {
    previous_hook: Option<Arc<PanicHook>>,
}

impl TerminalGuard {
    fn enter() -> io::Result<TerminalGuard> {
        let previous: Arc<PanicHook> = Arc::from(std::panic::take_hook());
        let chained = previous.clone();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            chained(info);
        }));
        // From here on, dropping the guard undoes whatever part succeeded.
        let guard = TerminalGuard {
            previous_hook: Some(previous),
        };
        TERMINAL_TAKEN.store(true, Ordering::SeqCst);
        terminal::enable_raw_mode()?;
        execute!(io::stdout(), EnterAlternateScreen, cursor::Hide)?;
        Ok(guard)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
        // The hook cannot be changed while panicking; the chained one restores harmlessly.
        if !std::thread::panicking()
            && let Some(previous) = self.previous_hook.take()
        {
            let _ = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| previous(info)));
        }
    }
}

/// Whether the terminal is in raw mode on the alternate screen, set up by us.
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen, once: a second "leave alternate screen" would
/// move the cursor back to where it was when the dashboard started, over what was printed
/// since (the panic message).
fn restore_terminal() {
    if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(io::stdout(), LeaveAlternateScreen, cursor::Show);
    }
}

/// Resolves when the process is asked to stop (SIGTERM, SIGHUP), so the terminal is restored
/// then too.
struct StopSignals {
    #[cfg(unix)]
    signals: Vec<tokio::signal::unix::Signal>,
}

impl StopSignals {
    fn new() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signals = [SignalKind::terminate(), SignalKind::hangup()]
                .into_iter()
                .filter_map(|kind| signal(kind).ok())
                .collect();
            StopSignals { signals }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        if !self.signals.is_empty() {
            let waits = self.signals.iter_mut().map(|s| Box::pin(s.recv()));
            futures_util::future::select_all(waits).await;
            return;
        }
        std::future::pending::<()>().await;
    }
}

fn spawn(jobs: &mut JoinSet<Option<Outcome>>, inspector: &redisq::Inspector, action: Action) {
    let inspector = inspector.clone();
    jobs.spawn(async move { fetch::perform(&inspector, action).await });
}

async fn event_loop(inspector: redisq::Inspector, refresh: Duration) -> Result<(), BoxError> {
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    terminal.clear()?;
    let height = terminal.size()?.height;
    let mut state = DashState::new(refresh, view::page_size_for(height));
    let mut events = EventStream::new();
    let mut jobs = JoinSet::new();
    let mut ticks = tokio::time::interval_at(Instant::now() + refresh, refresh);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Redraws once a second so that "updated 5s ago" and relative times stay true.
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    clock.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut stop = StopSignals::new();

    let first = state.refresh();
    spawn(&mut jobs, &inspector, first);
    loop {
        terminal.draw(|frame| view::render(frame, &state, SystemTime::now()))?;
        let action = tokio::select! {
            event = events.next() => match event {
                Some(Ok(Event::Key(key))) if key.kind != KeyEventKind::Release => {
                    state.handle_key(key)
                }
                Some(Ok(Event::Resize(_, height))) => {
                    state.set_page_size(view::page_size_for(height))
                }
                Some(Ok(_)) => Action::None,
                Some(Err(e)) => return Err(format!("reading the terminal: {e}").into()),
                None => return Ok(()),
            },
            Some(done) = jobs.join_next() => match done {
                Ok(Some(outcome)) => state.apply(outcome),
                Ok(None) => Action::None,
                Err(e) => return Err(format!("a dashboard task failed: {e}").into()),
            },
            _ = ticks.tick() => {
                // Skip a tick while Redis is still answering the previous one.
                if jobs.is_empty() { state.refresh() } else { Action::None }
            }
            _ = clock.tick() => Action::None,
            () = stop.recv() => return Ok(()),
        };
        match action {
            Action::Quit => return Ok(()),
            Action::None => {}
            action => spawn(&mut jobs, &inspector, action),
        }
    }
}
