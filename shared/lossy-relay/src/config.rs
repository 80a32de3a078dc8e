//! Impairment and relay configuration, with validation.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Default range of the extra delay given to a reordered datagram: 1–5 ms.
pub const DEFAULT_REORDER_DELAY: (Duration, Duration) =
    (Duration::from_millis(1), Duration::from_millis(5));

/// Default time after which a client mapping without traffic in either direction is forgotten.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How one direction of the link is impaired.
///
/// Each datagram is first dropped with probability [`drop`](Self::drop); a surviving
/// datagram is sent twice with probability [`duplicate`](Self::duplicate); each copy is
/// then held back with probability [`reorder`](Self::reorder) for an extra delay drawn
/// uniformly from [`reorder_delay`](Self::reorder_delay), on top of the fixed
/// [`delay`](Self::delay) every copy gets.
///
/// [`Default`] is no impairment at all.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Probability in `[0, 1]` that a datagram is discarded.
    pub drop: f64,
    /// Probability in `[0, 1]` that a (not dropped) datagram is sent twice.
    pub duplicate: f64,
    /// Probability in `[0, 1]` that a copy is held back so later datagrams overtake it.
    pub reorder: f64,
    /// Inclusive range `(min, max)` of the extra delay of a held-back copy.
    pub reorder_delay: (Duration, Duration),
    /// Fixed one-way delay added to every datagram.
    pub delay: Duration,
}

impl Default for Impairment {
    fn default() -> Self {
        Self::NONE
    }
}

impl Impairment {
    /// No impairment: every datagram is forwarded at once, exactly once, in order.
    pub const NONE: Self = Self {
        drop: 0.0,
        duplicate: 0.0,
        reorder: 0.0,
        reorder_delay: DEFAULT_REORDER_DELAY,
        delay: Duration::ZERO,
    };

    /// Returns this impairment with the drop probability set to `p`.
    #[must_use]
    pub fn with_drop(mut self, p: f64) -> Self {
        self.drop = p;
        self
    }

    /// Returns this impairment with the duplication probability set to `p`.
    #[must_use]
    pub fn with_duplicate(mut self, p: f64) -> Self {
        self.duplicate = p;
        self
    }

    /// Returns this impairment with the reorder probability set to `p`.
    #[must_use]
    pub fn with_reorder(mut self, p: f64) -> Self {
        self.reorder = p;
        self
    }

    /// Returns this impairment with the reorder hold-back range set to `min..=max`.
    #[must_use]
    pub fn with_reorder_delay(mut self, min: Duration, max: Duration) -> Self {
        self.reorder_delay = (min, max);
        self
    }

    /// Returns this impairment with the fixed one-way delay set to `delay`.
    #[must_use]
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Whether this impairment leaves datagrams untouched.
    pub fn is_none(&self) -> bool {
        self.drop == 0.0 && self.duplicate == 0.0 && self.reorder == 0.0 && self.delay.is_zero()
    }

    /// Checks that the probabilities lie in `[0, 1]` and the reorder range is not inverted.
    ///
    /// `direction` names the direction in the error message.
    pub(crate) fn validate(&self, direction: &str) -> io::Result<()> {
        for (name, p) in [
            ("drop", self.drop),
            ("duplicate", self.duplicate),
            ("reorder", self.reorder),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(format!(
                    "{direction}.{name} must be a probability within [0, 1], got {p}"
                )));
            }
        }
        let (min, max) = self.reorder_delay;
        if min > max {
            return Err(invalid(format!(
                "{direction}.reorder_delay is inverted: min {min:?} > max {max:?}"
            )));
        }
        Ok(())
    }
}

/// What to relay where, and how to impair it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayConfig {
    /// Address datagrams from clients are forwarded to (the server).
    pub upstream: SocketAddr,
    /// Impairment of the client → server direction.
    pub to_server: Impairment,
    /// Impairment of the server → client direction.
    pub to_client: Impairment,
    /// Seed of the random decisions, so a run is reproducible.
    pub seed: u64,
}

impl RelayConfig {
    /// A relay to `upstream` that impairs nothing, with seed 0.
    pub fn new(upstream: SocketAddr) -> Self {
        Self::symmetric(upstream, Impairment::NONE, 0)
    }

    /// A relay to `upstream` that applies the same `impairment` in both directions
    /// (each direction draws its own random decisions).
    pub fn symmetric(upstream: SocketAddr, impairment: Impairment, seed: u64) -> Self {
        Self {
            upstream,
            to_server: impairment,
            to_client: impairment,
            seed,
        }
    }

    /// Checks both impairments; the error is [`io::ErrorKind::InvalidInput`].
    pub fn validate(&self) -> io::Result<()> {
        self.to_server.validate("to_server")?;
        self.to_client.validate("to_client")
    }
}

/// Settings of the relay itself, separate from the link it emulates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayOptions {
    /// Address the client-facing socket binds to; default `127.0.0.1:0`.
    pub listen: SocketAddr,
    /// A client mapping with no traffic in either direction for this long is forgotten
    /// and its upstream socket closed; default [`DEFAULT_IDLE_TIMEOUT`]. Must not be zero.
    pub idle_timeout: Duration,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl RelayOptions {
    /// Checks the options; the error is [`io::ErrorKind::InvalidInput`].
    pub fn validate(&self) -> io::Result<()> {
        if self.idle_timeout.is_zero() {
            return Err(invalid("idle_timeout must not be zero".to_owned()));
        }
        Ok(())
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(imp: Impairment) -> RelayConfig {
        RelayConfig::symmetric(SocketAddr::from((Ipv4Addr::LOCALHOST, 9)), imp, 1)
    }

    #[test]
    fn default_is_none() {
        assert!(Impairment::default().is_none());
        assert!(config(Impairment::default()).validate().is_ok());
    }

    #[test]
    fn probabilities_must_be_in_unit_interval() {
        for p in [-0.1, 1.0001, f64::NAN, f64::INFINITY] {
            for imp in [
                Impairment::NONE.with_drop(p),
                Impairment::NONE.with_duplicate(p),
                Impairment::NONE.with_reorder(p),
            ] {
                let err = config(imp).validate().unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{p}");
            }
        }
        for p in [0.0, 0.5, 1.0] {
            assert!(config(Impairment::NONE.with_drop(p)).validate().is_ok());
        }
    }

    #[test]
    fn inverted_reorder_range_rejected() {
        let imp =
            Impairment::NONE.with_reorder_delay(Duration::from_millis(5), Duration::from_millis(1));
        assert!(config(imp).validate().is_err());
    }

    #[test]
    fn zero_idle_timeout_rejected() {
        let options = RelayOptions {
            idle_timeout: Duration::ZERO,
            ..RelayOptions::default()
        };
        assert!(options.validate().is_err());
        assert!(RelayOptions::default().validate().is_ok());
    }
}
