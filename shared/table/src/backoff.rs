//! Delays between reconnection attempts: the first retry within 250 ms, doubling up to
//! 10 s, each a random point in the upper half of its step so pods that lost the same
//! control-plane don't come back in lockstep.

use std::time::Duration;

/// The longest first delay.
pub(crate) const FIRST_DELAY: Duration = Duration::from_millis(250);
/// No delay is longer than this.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(10);

#[derive(Debug, Default)]
pub(crate) struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    fn next_delay_with(&mut self, draw: f64) -> Duration {
        let ceiling = FIRST_DELAY
            .saturating_mul(1 << self.failures.min(16))
            .min(MAX_DELAY);
        self.failures = self.failures.saturating_add(1);
        ceiling.mul_f64(0.5 + 0.5 * draw.clamp(0.0, 1.0))
    }

    /// Starts over after a connection that delivered a frame.
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::default();
        let highs: Vec<u128> = (0..8).map(|_| b.next_delay_with(1.0).as_millis()).collect();
        assert_eq!(highs, [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        b.reset();
        assert_eq!(b.next_delay_with(0.0).as_millis(), 125);
    }
}
