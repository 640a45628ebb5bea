//! Completions that wait a moment for the next task (trickle coalescing).
//!
//! When tasks arrive one at a time at an idle server, each one would cost two script calls
//! of its own: the completion of the previous task and the fetch of this one. While the
//! processor is idle, the completer holds a lone completion for up to
//! [`Config::completion_linger`](crate::Config::completion_linger). If a wake-up for
//! the same queue arrives meanwhile, the waker hands it to the completer instead of the
//! processor, and one call both completes the old task and takes the new one for the same
//! worker slot (the completion hand-over). Otherwise the completion is written alone when the
//! time is up, exactly as it would have been. A completer whose waits go unanswered (in a
//! fleet the next wake-up usually reaches another server) stops waiting for a while.
//!
//! The held task keeps its lease (the heartbeat still extends it): a crash during the wait
//! runs it again, as any crash before its acknowledgement does (at-least-once).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Unanswered waits in a row after which the completer stops waiting for a while: in a
/// fleet, the next wake-up usually goes to another idle server (Redis serves the one that
/// waited longest), so waiting would only delay acknowledgements.
const MISSES_BEFORE_PAUSE: u32 = 4;
/// How long the completer writes at once after that, before it tries waiting again.
const PAUSE: Duration = Duration::from_secs(1);

/// Whether waiting pays off lately: the completer's own record of its waits.
#[derive(Debug, Default)]
pub(crate) struct Record {
    misses: u32,
    paused_until: Option<Instant>,
}

impl Record {
    /// Whether to wait for the next task now.
    pub(crate) fn worth_waiting(&self, now: Instant) -> bool {
        self.paused_until.is_none_or(|until| now >= until)
    }

    /// Notes how a wait ended: `answered` when a task arrived in time.
    pub(crate) fn note(&mut self, answered: bool, now: Instant) {
        if answered {
            self.misses = 0;
            self.paused_until = None;
            return;
        }
        self.misses += 1;
        if self.misses >= MISSES_BEFORE_PAUSE {
            self.misses = 0;
            self.paused_until = Some(now + PAUSE);
        }
    }
}

/// The completer's standing offer to take the next wake-up of one queue.
#[derive(Default)]
pub(crate) struct Linger {
    offer: Mutex<Option<Offer>>,
}

struct Offer {
    queue: String,
    claimed: oneshot::Sender<()>,
}

impl Linger {
    /// The completer offers to take the next wake-up of `queue`; the receiver fires when the
    /// waker hands one over. The offer stands until [`Linger::withdraw`] or a claim.
    pub(crate) fn offer(&self, queue: &str) -> oneshot::Receiver<()> {
        let (claimed, rx) = oneshot::channel();
        *self.lock() = Some(Offer {
            queue: queue.to_string(),
            claimed,
        });
        rx
    }

    /// Withdraws the offer. Returns false when the waker claimed it first: the wake-up is
    /// then the completer's to act on (its call takes the new task).
    pub(crate) fn withdraw(&self) -> bool {
        self.lock().take().is_some()
    }

    /// The waker: hands a wake-up of `queue` to a completer waiting for one. Returns whether
    /// it was taken; if not, the processor must be woken as usual.
    pub(crate) fn claim(&self, queue: &str) -> bool {
        let mut offer = self.lock();
        if offer.as_ref().is_none_or(|o| o.queue != queue) {
            return false;
        }
        // Sent while the lock is held, so a completer that finds its offer gone always finds
        // the wake-up in its receiver too.
        offer.take().is_some_and(|o| o.claimed.send(()).is_ok())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Offer>> {
        self.offer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_fires_the_offer_and_only_for_its_queue() {
        let l = Linger::default();
        assert!(!l.claim("a"), "nothing offered yet");
        let mut rx = l.offer("a");
        assert!(
            !l.claim("b"),
            "another queue's wake-up goes to the processor"
        );
        assert!(l.claim("a"));
        assert!(rx.try_recv().is_ok());
        assert!(!l.withdraw(), "a claimed offer cannot be withdrawn");
        assert!(!l.claim("a"), "one wake-up per offer");
    }

    #[test]
    fn unanswered_waits_pause_waiting_for_a_while() {
        let t0 = Instant::now();
        let mut r = Record::default();
        assert!(r.worth_waiting(t0));
        for _ in 0..MISSES_BEFORE_PAUSE - 1 {
            r.note(false, t0);
            assert!(r.worth_waiting(t0));
        }
        r.note(true, t0);
        for _ in 0..MISSES_BEFORE_PAUSE - 1 {
            r.note(false, t0);
        }
        assert!(r.worth_waiting(t0), "an answer starts the count again");
        r.note(false, t0);
        assert!(!r.worth_waiting(t0));
        assert!(!r.worth_waiting(t0 + PAUSE / 2));
        assert!(
            r.worth_waiting(t0 + PAUSE),
            "waiting is tried again after the pause"
        );
    }

    #[test]
    fn a_withdrawn_offer_is_not_claimed() {
        let l = Linger::default();
        let mut rx = l.offer("a");
        assert!(l.withdraw());
        assert!(!l.claim("a"));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn an_offer_whose_completer_is_gone_is_not_claimed() {
        let l = Linger::default();
        drop(l.offer("a"));
        assert!(!l.claim("a"), "the processor must be woken instead");
    }
}
