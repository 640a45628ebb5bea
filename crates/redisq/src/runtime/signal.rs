//! Waiting for the process signals that end (or pause) a service.

use crate::runtime::log::Log;

/// What a signal asks of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// SIGTERM or SIGINT (Ctrl-C): shut down.
    Shutdown,
    /// SIGTSTP: stop taking new work and keep running (asynq's server does this).
    Stop,
}

/// Waits for the next signal. With `stop_signal` false, SIGTSTP is left to its default
/// action and only shutdown signals are awaited.
#[cfg(unix)]
pub(crate) async fn next_signal(log: &Log, stop_signal: bool) -> Signal {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log.error(format_args!(
            "could not install signal handlers; waiting for Ctrl-C"
        ));
        let _ = tokio::signal::ctrl_c().await;
        return Signal::Shutdown;
    };
    let mut tstp = if stop_signal {
        signal(SignalKind::from_raw(libc::SIGTSTP)).ok()
    } else {
        None
    };
    tokio::select! {
        _ = term.recv() => Signal::Shutdown,
        _ = int.recv() => Signal::Shutdown,
        Some(()) = async {
            match tstp.as_mut() {
                Some(t) => t.recv().await,
                None => std::future::pending().await,
            }
        } => Signal::Stop,
    }
}

#[cfg(not(unix))]
pub(crate) async fn next_signal(_log: &Log, _stop_signal: bool) -> Signal {
    let _ = tokio::signal::ctrl_c().await;
    Signal::Shutdown
}
