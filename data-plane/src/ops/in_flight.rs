//! The requests in flight on this pod, counted in one place: every request carried through
//! an agent's session here (its request actor) and every request relayed to another pod
//! holds an [`InFlightGuard`] for as long as its answer is being sent. `/metrics` reads the
//! count; the drain waits for it to reach zero ([`InFlight::emptied`]), woken by the last
//! guard going rather than polling. Entering and leaving is one atomic add each: every
//! request pays it.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::sync::Notify;

/// The count of requests in flight.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: AtomicUsize,
    /// Told each time the count comes down to zero.
    emptied: Notify,
}

impl InFlight {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Counts a request in until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    /// How many requests are in flight now.
    pub(crate) fn count(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Resolves once no request is in flight (at once if none is).
    pub(crate) async fn emptied(&self) {
        loop {
            let told = self.emptied.notified();
            tokio::pin!(told);
            // Registered before the count is read: a last guard going in between is seen.
            told.as_mut().enable();
            if self.count() == 0 {
                return;
            }
            told.await;
        }
    }
}

/// A request's place in the count.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.emptied.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn guards_count_while_they_live() {
        let in_flight = InFlight::new();
        let first = in_flight.enter();
        let second = in_flight.enter();
        assert_eq!(in_flight.count(), 2);
        drop(first);
        assert_eq!(in_flight.count(), 1);
        drop(second);
        assert_eq!(in_flight.count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_watcher_is_woken_by_the_last_guard_going_and_not_before() {
        let in_flight = InFlight::new();
        let guards = vec![in_flight.enter(), in_flight.enter()];
        let watcher = in_flight.clone();
        let waiting = tokio::spawn(async move {
            watcher.emptied().await;
            tokio::time::Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!waiting.is_finished(), "woken with requests in flight");
        let released = tokio::time::Instant::now();
        drop(guards);
        // Woken by the change itself: no time passes between the release and the wake.
        assert_eq!(waiting.await.unwrap(), released);
    }
}
