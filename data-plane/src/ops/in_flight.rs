//! The requests in flight on this pod, counted in one place: every request carried through
//! an agent's session here (its request actor) and every request relayed to another pod
//! holds an [`InFlightGuard`] for as long as its answer is being sent. `/metrics` reads the
//! count; the drain waits for it to reach zero ([`InFlight::watch`]), woken by each change
//! rather than polling.

use std::sync::Arc;

use tokio::sync::watch;

/// The count of requests in flight.
#[derive(Debug)]
pub(crate) struct InFlight {
    count: watch::Sender<usize>,
}

impl InFlight {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            count: watch::Sender::new(0),
        })
    }

    /// Counts one more request until the guard is dropped.
    pub(crate) fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.send_modify(|count| *count += 1);
        InFlightGuard(self.clone())
    }

    /// How many requests are in flight now.
    pub(crate) fn count(&self) -> usize {
        *self.count.borrow()
    }

    /// The count, to wait on its changes (`changed()`, `wait_for()`) beside other events.
    pub(crate) fn watch(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }
}

/// One request in flight; dropping it ends the request's count.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.count.send_modify(|count| *count -= 1);
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
        let mut count = in_flight.watch();
        let waiting = tokio::spawn(async move {
            let _ = count.wait_for(|count| *count == 0).await;
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
