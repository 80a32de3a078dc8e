//! Exponential backoff with jitter between reconnection attempts: the first retry within a
//! second, doubling up to 30 s, and back to the start once a session has stayed up a while.

use std::time::Duration;

/// The longest first delay.
pub(crate) const FIRST_DELAY: Duration = Duration::from_secs(1);
/// No delay is longer than this.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(30);
/// A session that stayed up this long resets the backoff: the next loss is retried fast.
pub(crate) const STABLE_AFTER: Duration = Duration::from_secs(20);

/// Delays between attempts.
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// The delay before the next attempt: a random point in the upper half of
    /// `min(FIRST_DELAY * 2^failures, MAX_DELAY)`, so agents that lost the same gateway
    /// don't all come back at the same instant.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// [`Backoff::next_delay`] with the random draw (in `0.0..1.0`) given.
    fn next_delay_with(&mut self, draw: f64) -> Duration {
        let ceiling = FIRST_DELAY
            .saturating_mul(1 << self.failures.min(16))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        ceiling.mul_f64(0.5 + 0.5 * draw.clamp(0.0, 1.0))
    }

    /// Starts over (after a session that stayed up).
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let mut backoff = Backoff::new();
        let lows: Vec<_> = (0..8)
            .map(|_| backoff.next_delay_with(0.0).as_millis())
            .collect();
        assert_eq!(lows, [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
        let mut backoff = Backoff::new();
        let highs: Vec<_> = (0..8)
            .map(|_| backoff.next_delay_with(1.0).as_millis())
            .collect();
        assert_eq!(highs, [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    }

    #[test]
    fn first_retry_is_within_a_second_and_reset_starts_over() {
        let mut backoff = Backoff::new();
        for _ in 0..100 {
            let first = Backoff::new().next_delay();
            assert!(
                first >= FIRST_DELAY / 2 && first <= FIRST_DELAY,
                "{first:?}"
            );
        }
        for _ in 0..1000 {
            assert!(backoff.next_delay() <= MAX_DELAY);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST_DELAY);
    }
}
