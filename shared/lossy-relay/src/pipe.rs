//! One impaired direction: draws the fate of each datagram, sends it or queues it.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::config::Impairment;
use crate::control::PathControl;
use crate::queue::DelayQueue;
use crate::stats::{Counters, Direction, DirectionCounters, bump};

/// Where a datagram leaves the relay; cloned only when a datagram is queued.
pub(crate) trait Target: Clone {
    /// Writes one datagram to this destination.
    fn transmit<'a>(
        &'a self,
        data: &'a [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a;
}

/// Impairment state of one direction (of one mapping, for the return path).
pub(crate) struct Pipe<T> {
    impairment: Impairment,
    rng: StdRng,
    queue: DelayQueue<T>,
    counters: Arc<Counters>,
    direction: Direction,
    /// What the relay's commands change: blocked, a narrower MTU.
    path: Arc<PathControl>,
}

impl<T: Target> Pipe<T> {
    pub(crate) fn new(
        impairment: Impairment,
        seed: u64,
        counters: Arc<Counters>,
        direction: Direction,
        path: Arc<PathControl>,
    ) -> Self {
        Self {
            impairment,
            rng: StdRng::seed_from_u64(seed),
            queue: DelayQueue::new(),
            counters,
            direction,
            path,
        }
    }

    /// Counts and reports a datagram the relay is blocked for.
    fn blocked(&self) -> bool {
        let blocked = self.path.blocked.load(Ordering::Relaxed);
        if blocked {
            bump(&self.counters().blocked);
        }
        blocked
    }

    fn counters(&self) -> &DirectionCounters {
        self.counters.direction(self.direction)
    }

    /// Handles one datagram received at `now`: drops it, or sends its copies to `target`
    /// at once, or queues them until their release time.
    pub(crate) async fn process(&mut self, data: &[u8], target: &T, now: Instant) {
        let imp = self.impairment;
        let counters = self.counters.direction(self.direction);
        bump(&counters.received);
        counters
            .largest
            .fetch_max(data.len() as u64, Ordering::Relaxed);
        if self.blocked() {
            return;
        }
        if !self.path.carries(data.len()) {
            bump(&counters.too_big);
            return;
        }
        if imp.drop > 0.0 && self.rng.random_bool(imp.drop) {
            bump(&counters.dropped);
            return;
        }
        let copies = if imp.duplicate > 0.0 && self.rng.random_bool(imp.duplicate) {
            bump(&counters.duplicated);
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut hold = imp.delay;
            let reordered = imp.reorder > 0.0 && self.rng.random_bool(imp.reorder);
            if reordered {
                bump(&counters.reordered);
                hold += reorder_extra(&mut self.rng, imp.reorder_delay);
            }
            if reordered || !hold.is_zero() {
                self.queue.push(now + hold, data, target.clone());
            } else {
                self.transmit(data, target).await;
            }
        }
    }

    /// Release time of the next queued datagram, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    /// Sends every queued datagram due at `now`, earliest first.
    pub(crate) async fn flush(&mut self, now: Instant) {
        while let Some((data, target)) = self.queue.pop_due(now) {
            self.transmit(&data, &target).await;
            self.queue.recycle(data);
        }
    }

    async fn transmit(&self, data: &[u8], target: &T) {
        if self.blocked() {
            return;
        }
        let counters = self.counters();
        match target.transmit(data).await {
            Ok(_) => {
                bump(&counters.forwarded);
                counters
                    .largest_forwarded
                    .fetch_max(data.len() as u64, Ordering::Relaxed);
            }
            Err(_) => bump(&counters.errors),
        }
    }
}

/// Draws the extra hold-back of a reordered copy, uniformly within `(min, max)`.
fn reorder_extra(rng: &mut StdRng, (min, max): (Duration, Duration)) -> Duration {
    if min >= max {
        return min;
    }
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(nanos(min)..=nanos(max)))
}
