//! Completions that wait a moment for the next task (trickle coalescing).
//!
//! When tasks arrive one at a time at an idle server, each one would cost two script calls
//! of its own: the completion of the previous task and the fetch of this one. While the
//! processor is idle, the completer holds a lone completion for up to
//! [`Config::completion_linger`](crate::server::Config::completion_linger). If a wake-up for
//! the same queue arrives meanwhile, the waker hands it to the completer instead of the
//! processor, and one call both completes the old task and takes the new one for the same
//! worker slot (the completion hand-over). Otherwise the completion is written alone when the
//! time is up, exactly as it would have been.
//!
//! The held task keeps its lease (the heartbeat still extends it): a crash during the wait
//! runs it again, as any crash before its acknowledgement does (at-least-once).

use std::sync::Mutex;

use tokio::sync::oneshot;

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
