//! `hopgate-backoff`: delays between reconnection attempts — exponential, capped, with
//! jitter — for the agent's tunnel to the gateway and the pods' table subscription to the
//! control-plane. Each caller picks its own first delay and cap; [`Backoff::reset`] starts
//! over once a connection proved good (what counts as good is the caller's call).
//!
//! ```
//! use std::time::Duration;
//!
//! use hopgate_backoff::Backoff;
//!
//! let mut backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
//! let first = backoff.next_delay();
//! assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
//! ```

#![warn(missing_docs)]

use std::time::Duration;

/// Delays between attempts: step `n` (counting failures since the last reset from 0) is
/// `min(first_delay * 2^n, max_delay)`, and each delay is a random point in the upper half
/// of its step, so clients that lost the same server don't all come back at the same
/// instant.
#[derive(Debug, Clone)]
pub struct Backoff {
    first_delay: Duration,
    max_delay: Duration,
    failures: u32,
}

impl Backoff {
    /// The first delay is at most `first_delay`; no delay is longer than `max_delay`.
    pub fn new(first_delay: Duration, max_delay: Duration) -> Self {
        Self {
            first_delay,
            max_delay,
            failures: 0,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.next_delay_with(rand::random::<f64>())
    }

    /// [`Backoff::next_delay`] with the random draw (in `0.0..1.0`) given.
    fn next_delay_with(&mut self, draw: f64) -> Duration {
        let ceiling = self
            .first_delay
            .saturating_mul(1 << self.failures.min(16))
            .min(self.max_delay);
        self.failures = self.failures.saturating_add(1);
        ceiling.mul_f64(0.5 + 0.5 * draw.clamp(0.0, 1.0))
    }

    /// Starts over: the next delay is a first delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(backoff: &mut Backoff, draw: f64) -> Vec<u128> {
        (0..8)
            .map(|_| backoff.next_delay_with(draw).as_millis())
            .collect()
    }

    /// The agent's steps (first retry within 1 s, cap 30 s).
    #[test]
    fn delays_double_with_jitter_up_to_the_cap() {
        let agent = || Backoff::new(Duration::from_secs(1), Duration::from_secs(30));
        assert_eq!(
            millis(&mut agent(), 0.0),
            [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]
        );
        assert_eq!(
            millis(&mut agent(), 1.0),
            [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
    }

    /// The table subscriber's steps (first retry within 250 ms, cap 10 s).
    #[test]
    fn doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
        assert_eq!(
            millis(&mut b, 1.0),
            [250, 500, 1000, 2000, 4000, 8000, 10000, 10000]
        );
        b.reset();
        assert_eq!(b.next_delay_with(0.0).as_millis(), 125);
    }

    #[test]
    fn random_delays_stay_between_half_the_step_and_the_cap() {
        let (first, max) = (Duration::from_secs(1), Duration::from_secs(30));
        for _ in 0..100 {
            let delay = Backoff::new(first, max).next_delay();
            assert!(delay >= first / 2 && delay <= first, "{delay:?}");
        }
        let mut backoff = Backoff::new(first, max);
        for _ in 0..1000 {
            assert!(backoff.next_delay() <= max);
        }
        backoff.reset();
        assert!(backoff.next_delay() <= first);
    }
}
