//! The handshake thread's queue of first steps waiting for a token: served one source IP
//! at a time in turn, newest first within an IP.
//!
//! Taking turns between addresses keeps a flood of handshakes from a few of them (each
//! under the listener's per-IP cap of handshakes in progress) from pushing every other
//! agent's handshake past its timeout: an agent's first step waits for one token per IP
//! with steps queued, not for every step queued before or after it. Within one IP the
//! newest step goes first (under a burst longer than the timeout the oldest would start only
//! handshakes about to expire); steps whose handshake expired, or that waited longer than
//! their client waits for an answer, are dropped when their IP's turn comes.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    time::{Duration, Instant},
};

/// What the queue needs to know of a step.
pub(super) trait Queued {
    /// The address the handshake comes from.
    fn source_ip(&self) -> IpAddr;
    /// Whether its handshake's timeout has passed at `now`.
    fn expired(&self, now: Instant) -> bool;
}

impl Queued for crate::dtls::HandshakeStep {
    fn source_ip(&self) -> IpAddr {
        self.source().ip()
    }

    fn expired(&self, now: Instant) -> bool {
        crate::dtls::HandshakeStep::expired(self, now)
    }
}

/// First steps waiting for a token, each with when it arrived.
pub(super) struct FirstSteps<T> {
    by_ip: HashMap<IpAddr, VecDeque<(Instant, T)>>,
    /// The IPs with steps queued, in the order of their next turn.
    turns: VecDeque<IpAddr>,
    /// How long a step may wait.
    patience: Duration,
}

impl<T: Queued> FirstSteps<T> {
    pub(super) fn new(patience: Duration) -> Self {
        Self {
            by_ip: HashMap::new(),
            turns: VecDeque::new(),
            patience,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }

    /// Queues `step`, arrived at `now`.
    pub(super) fn push(&mut self, step: T, now: Instant) {
        let ip = step.source_ip();
        let queue = self.by_ip.entry(ip).or_default();
        if queue.is_empty() {
            self.turns.push_back(ip);
        }
        queue.push_back((now, step));
    }

    /// The step to run at `now`: the newest of the next IP in turn that has one still
    /// wanted. Calls `dropped` for each step it lets go of on the way (expired, or waiting
    /// past the patience).
    pub(super) fn pop(&mut self, now: Instant, mut dropped: impl FnMut(T)) -> Option<T> {
        let patience = self.patience;
        let stale = |(arrived, step): &(Instant, T)| {
            step.expired(now) || now.saturating_duration_since(*arrived) > patience
        };
        while let Some(ip) = self.turns.pop_front() {
            let Some(queue) = self.by_ip.get_mut(&ip) else {
                continue;
            };
            while queue.front().is_some_and(&stale) {
                if let Some((_, step)) = queue.pop_front() {
                    dropped(step);
                }
            }
            let step = queue.pop_back().map(|(_, step)| step);
            if queue.is_empty() {
                self.by_ip.remove(&ip);
            } else {
                self.turns.push_back(ip);
            }
            if step.is_some() {
                return step;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const PATIENCE: Duration = Duration::from_millis(1400);

    #[derive(Debug, PartialEq)]
    struct Step {
        ip: u8,
        n: u32,
        expires: Instant,
    }

    impl Queued for Step {
        fn source_ip(&self) -> IpAddr {
            IpAddr::from([10, 0, 0, self.ip])
        }

        fn expired(&self, now: Instant) -> bool {
            now >= self.expires
        }
    }

    fn step(ip: u8, n: u32, expires: Instant) -> Step {
        Step { ip, n, expires }
    }

    fn order(queue: &mut FirstSteps<Step>, now: Instant) -> Vec<(u8, u32)> {
        std::iter::from_fn(|| queue.pop(now, |_| {}))
            .map(|step| (step.ip, step.n))
            .collect()
    }

    #[test]
    fn addresses_take_turns_and_each_serves_its_newest_first() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let mut queue = FirstSteps::new(PATIENCE);
        // A flood from .1, then one agent from .2 and one from .3.
        for n in 0..4 {
            queue.push(step(1, n, later), now);
        }
        queue.push(step(2, 0, later), now);
        queue.push(step(3, 0, later), now);
        assert_eq!(
            order(&mut queue, now),
            [(1, 3), (2, 0), (3, 0), (1, 2), (1, 1), (1, 0)]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn an_address_that_arrives_later_waits_one_turn_of_each_address_queued() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let mut queue = FirstSteps::new(PATIENCE);
        for n in 0..3 {
            queue.push(step(1, n, later), now);
        }
        assert_eq!(queue.pop(now, |_| {}).map(|s| s.n), Some(2));
        queue.push(step(2, 0, later), now);
        // The flood keeps arriving; the agent from .2 waits for .1's next turn only.
        queue.push(step(1, 3, later), now);
        assert_eq!(order(&mut queue, now), [(1, 3), (2, 0), (1, 1), (1, 0)]);
    }

    #[test]
    fn expired_steps_are_dropped_when_their_address_has_its_turn() {
        let now = Instant::now();
        let mut queue = FirstSteps::new(PATIENCE);
        queue.push(step(1, 0, now), now);
        queue.push(step(1, 1, now + Duration::from_secs(1)), now);
        queue.push(step(2, 0, now), now);
        let mut dropped = Vec::new();
        let first = queue.pop(now, |step| dropped.push((step.ip, step.n)));
        assert_eq!(first.map(|s| (s.ip, s.n)), Some((1, 1)));
        assert_eq!(dropped, [(1, 0)]);
        // .2 has only an expired step: dropped, and nothing is left to run.
        assert_eq!(queue.pop(now, |step| dropped.push((step.ip, step.n))), None);
        assert_eq!(dropped, [(1, 0), (2, 0)]);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_step_that_waited_past_the_patience_is_dropped() {
        let now = Instant::now();
        let later = now + Duration::from_secs(5);
        let mut queue = FirstSteps::new(PATIENCE);
        queue.push(step(1, 0, later), now);
        queue.push(step(1, 1, later), now + Duration::from_secs(1));
        let mut dropped = Vec::new();
        let at = now + PATIENCE + Duration::from_millis(1);
        let served = queue.pop(at, |step| dropped.push(step.n));
        assert_eq!(
            served.map(|s| s.n),
            Some(1),
            "the younger one still waits for it"
        );
        assert_eq!(dropped, [0], "its client gave up on the older one");
    }
}
