//! Whether the agent behind a session that requests wait on is still there, without I/O.
//!
//! An idle agent sends a keepalive only every few seconds (each one costs the gateway CPU,
//! times every idle session), and QUIC declares a silent peer dead only after its idle
//! timeout, longer still. A request must not wait that long for a killed agent: while a
//! session carries requests, its actor looks at the count of datagrams it has taken from
//! the agent every [`LOOK_EVERY`]. Once the agent has been unheard for [`Watch::probe_after`]
//! the actor pings it on the control stream (a live agent answers within a round trip,
//! whatever its local service is doing), again each time that much passes unanswered; once
//! it has been unheard for `unheard_after` (`HOP_SERVER_AGENT_UNHEARD_AFTER`) since the
//! watch began, the session is closed, and the requests on it fail over or get their 502.
//!
//! `unheard_after` must exceed the agent's keepalive interval: after a NAT rebinding the
//! gateway's pings go to the old port, and an idle agent is found at its new one only by
//! its next keepalive. Idle sessions (no request) are not looked at: they cost nothing.

use std::time::{Duration, Instant};

/// How often a session carrying requests looks whether its agent was heard.
pub(crate) const LOOK_EVERY: Duration = Duration::from_millis(250);

/// What a look found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Look {
    /// Heard recently enough, or pinged recently enough.
    Fine,
    /// Unheard for a while: ping the agent.
    Probe,
    /// Unheard for this long, at least `unheard_after`: the agent is gone.
    Unheard(Duration),
}

/// One watch over a session, from the moment a request came to it until it carries none.
#[derive(Debug)]
pub(crate) struct Watch {
    unheard_after: Duration,
    datagrams: u64,
    heard_at: Instant,
    probed_at: Option<Instant>,
}

impl Watch {
    /// Starts watching at `now`, the session having taken `datagrams` from its agent so far:
    /// the silence counts from now, not from the agent's last datagram.
    pub(crate) fn new(now: Instant, datagrams: u64, unheard_after: Duration) -> Self {
        Self {
            unheard_after,
            datagrams,
            heard_at: now,
            probed_at: None,
        }
    }

    /// How long the agent may go unheard before it is pinged: a quarter of
    /// `unheard_after` (1 s by default), so a live agent has several pings to answer.
    pub(crate) fn probe_after(&self) -> Duration {
        (self.unheard_after / 4).max(LOOK_EVERY)
    }

    /// Looks at `now`, the session having taken `datagrams` from its agent so far.
    pub(crate) fn look(&mut self, now: Instant, datagrams: u64) -> Look {
        if datagrams != self.datagrams {
            self.datagrams = datagrams;
            self.heard_at = now;
            self.probed_at = None;
        }
        let unheard = now.saturating_duration_since(self.heard_at);
        if unheard >= self.unheard_after {
            return Look::Unheard(unheard);
        }
        let probe_after = self.probe_after();
        let probe_due = self
            .probed_at
            .is_none_or(|at| now.saturating_duration_since(at) >= probe_after);
        if unheard >= probe_after && probe_due {
            self.probed_at = Some(now);
            return Look::Probe;
        }
        Look::Fine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(4);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// The looks of a watch every 250 ms over `span`, the agent heard at the times in
    /// `heard` (milliseconds from the start).
    fn looks(span: Duration, heard: &[u64]) -> Vec<(u64, Look)> {
        let start = Instant::now();
        let mut watch = Watch::new(start, 7, AFTER);
        let mut datagrams = 7;
        let mut found = Vec::new();
        let mut at = LOOK_EVERY;
        while at <= span {
            let millis = u64::try_from(at.as_millis()).unwrap();
            datagrams += heard
                .iter()
                .filter(|&&h| h + 250 > millis && h <= millis)
                .count() as u64;
            let look = watch.look(start + at, datagrams);
            if look != Look::Fine {
                found.push((millis, look));
            }
            at += LOOK_EVERY;
        }
        found
    }

    #[test]
    fn an_agent_never_heard_is_pinged_each_second_then_declared_gone() {
        assert_eq!(
            looks(ms(4500), &[]),
            [
                (1000, Look::Probe),
                (2000, Look::Probe),
                (3000, Look::Probe),
                (4000, Look::Unheard(ms(4000))),
                (4250, Look::Unheard(ms(4250))),
                (4500, Look::Unheard(ms(4500))),
            ]
        );
    }

    #[test]
    fn an_agent_that_answers_its_pings_is_never_gone() {
        // Each ping answered a round trip later; the local service takes a minute.
        let answers: Vec<u64> = (1..60).map(|s| s * 1100).collect();
        assert!(
            looks(ms(60_000), &answers)
                .iter()
                .all(|(_, look)| *look == Look::Probe)
        );
    }

    #[test]
    fn a_keepalive_inside_the_window_restarts_it() {
        // Pings lost (a NAT rebinding): the keepalive at 3 s from the new port saves it,
        // and the silence counts again from there.
        let probes = |at: &[u64]| at.iter().map(|&t| (t, Look::Probe)).collect::<Vec<_>>();
        assert_eq!(
            looks(ms(6750), &[3000]),
            probes(&[1000, 2000, 4000, 5000, 6000])
        );
        assert_eq!(
            looks(ms(7000), &[3000]).last(),
            Some(&(7000, Look::Unheard(ms(4000))))
        );
    }

    #[test]
    fn the_probe_never_comes_faster_than_a_look() {
        let watch = Watch::new(Instant::now(), 0, ms(100));
        assert_eq!(watch.probe_after(), LOOK_EVERY);
    }
}
