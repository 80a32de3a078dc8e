//! The task that drives a DTLS table's time: handshake retransmissions and expiry, cookie
//! key rotation, stale associations.
//!
//! Only handshakes need a fine clock (rtc-dtls retransmits a flight every
//! `dtls_flight_interval`); everything else the table does on its timer is checked once per
//! [`STALE_SCAN_PERIOD`]. So the task ticks every [`TICK`] while a handshake is in progress
//! and once per [`STALE_SCAN_PERIOD`] otherwise: an agent's established session wakes it once
//! a second, not forty times, and so does an idle gateway. Whoever starts a handshake on a
//! table whose timer is slow wakes the task at once ([`TimerWake::table_changed`]).

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::Notify;

use crate::{dtls::STALE_SCAN_PERIOD, socket::DtlsSocket};

/// How often the task runs while handshakes are in progress.
const TICK: Duration = Duration::from_millis(25);

/// Tells a slow timer task that a handshake started.
#[derive(Debug, Default)]
pub(crate) struct TimerWake {
    /// The task sleeps for [`STALE_SCAN_PERIOD`]. Read and written under the table's lock.
    slow: AtomicBool,
    notify: Arc<Notify>,
}

impl TimerWake {
    /// Call with the table's lock held, after any change to it, with the handshakes it now
    /// has in progress: wakes a slow task if there are any.
    pub(crate) fn table_changed(&self, handshaking: usize) {
        if self.slow.load(Ordering::Relaxed) && handshaking > 0 {
            self.slow.store(false, Ordering::Relaxed);
            self.notify.notify_one();
        }
    }

    /// What [`run`] waits on besides its period.
    pub(crate) fn notify(&self) -> Arc<Notify> {
        self.notify.clone()
    }

    /// How long the task sleeps after a run that left `handshaking` handshakes in progress
    /// (lock held).
    fn period(&self, handshaking: usize) -> Duration {
        let slow = handshaking == 0;
        self.slow.store(slow, Ordering::Relaxed);
        if slow { STALE_SCAN_PERIOD } else { TICK }
    }
}

/// Drives the socket's table until the socket is dropped (the task holds it only while it
/// runs).
pub(crate) async fn run(socket: Weak<DtlsSocket>, notify: Arc<Notify>) {
    loop {
        let Some(strong) = socket.upgrade() else {
            return;
        };
        let period = strong.with_table(|table, out| {
            table.handle_timeouts(Instant::now(), out);
            strong.timer_wake().period(table.handshaking())
        });
        drop(strong);
        // A wake between the run and this wait is kept by `Notify` as a permit.
        tokio::select! {
            () = tokio::time::sleep(period) => {}
            () = notify.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the task waiting on `wake` would be woken now.
    async fn woken(wake: &TimerWake) -> bool {
        let notify = wake.notify();
        tokio::time::timeout(Duration::from_millis(1), notify.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn ticks_fast_only_while_handshaking_and_wakes_when_one_starts() {
        let wake = TimerWake::default();
        assert_eq!(wake.period(2), TICK);
        // Fast already: a new handshake needs no wake.
        wake.table_changed(3);
        assert!(!woken(&wake).await);

        assert_eq!(wake.period(0), STALE_SCAN_PERIOD);
        wake.table_changed(0);
        assert!(!woken(&wake).await);
        wake.table_changed(1);
        assert!(woken(&wake).await);
        // Once: the task is fast again until its next run says otherwise.
        wake.table_changed(1);
        assert!(!woken(&wake).await);
    }
}
