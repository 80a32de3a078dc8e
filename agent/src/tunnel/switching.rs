//! Which transport a tunnel's next session dials, and when to try UDP again, without I/O.
//!
//! With `--transport udp` or `tcp` nothing ever switches. With `auto` the tunnel is on one
//! of two footings:
//! - **on UDP** (at start): a new session dials DTLS first, TLS over TCP if no DTLS
//!   session comes within the UDP timeout. A session that comes over TCP that way, or a
//!   DTLS session unheard for `udp_silence` ([`Switching::is_silent`]), puts the tunnel
//!   on TCP.
//! - **on TCP**: new sessions dial TCP straight away (no UDP wait), and UDP is *probed*:
//!   a full DTLS session attempt after at most `udp_probe_first` (jittered), then after
//!   twice that and so on up to `udp_probe_max`, or at once when a TCP dial cannot
//!   connect (neither transport serves then). A probe whose hello the gateway accepts
//!   puts the tunnel back on UDP; its session replaces a TCP one (make before break), and
//!   the tunnel's other TCP sessions are replaced one at a time by sessions dialled the
//!   `auto` way.
//!
//! The caller (`session_set`) keeps the sessions, passes the time in and says what
//! happened; this decides.

use std::time::{Duration, Instant};

use hopgate_backoff::Backoff;

use crate::config::{TransportChoice, TransportMode};

/// Why the tunnel changed transport (`hopgate_agent_transport_switches_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SwitchReason {
    /// A DTLS session went unheard for `udp_silence`: to TCP.
    Silence,
    /// An `auto` dial found no DTLS session in time (or DTLS failed): to TCP.
    NoAnswer,
    /// A probe got a DTLS session whose hello was accepted: back to UDP.
    AnswersAgain,
}

impl SwitchReason {
    pub(crate) const ALL: [Self; 3] = [Self::Silence, Self::NoAnswer, Self::AnswersAgain];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::Silence => "udp_silent",
            Self::NoAnswer => "udp_unanswered",
            Self::AnswersAgain => "udp_answers",
        }
    }

    /// The transport it switches to.
    pub(crate) fn to(self) -> &'static str {
        match self {
            Self::Silence | Self::NoAnswer => "tcp",
            Self::AnswersAgain => "udp",
        }
    }
}

/// The transport footing of one tunnel.
#[derive(Debug)]
pub(super) struct Switching {
    mode: TransportMode,
    silence: Duration,
    /// `Some(why)` while an `auto` tunnel is on TCP.
    on_tcp: Option<String>,
    probes: Backoff,
    /// When the next probe is due (on TCP, with no probe running).
    next_probe: Option<Instant>,
}

impl Switching {
    pub(super) fn new(choice: &TransportChoice) -> Self {
        Self {
            mode: choice.mode,
            silence: choice.udp_silence,
            on_tcp: None,
            probes: Backoff::new(choice.udp_probe_first, choice.udp_probe_max),
            next_probe: None,
        }
    }

    /// Whether this tunnel switches at all (`auto`).
    pub(super) fn is_auto(&self) -> bool {
        self.mode == TransportMode::Auto
    }

    /// How often the caller looks at its DTLS sessions' silence: a tenth of `udp_silence`,
    /// within 20..=250 ms (silence is then seen within that much of the threshold).
    pub(super) fn check_every(&self) -> Duration {
        (self.silence / 10).clamp(Duration::from_millis(20), Duration::from_millis(250))
    }

    /// What the next regular session dials: as configured, or TCP while `auto` is on TCP.
    pub(super) fn next_dial(&self) -> TransportMode {
        match (self.mode, &self.on_tcp) {
            (TransportMode::Auto, Some(_)) => TransportMode::Tcp,
            (mode, _) => mode,
        }
    }

    /// Why the tunnel is on TCP under `auto`, if it is.
    pub(super) fn on_tcp(&self) -> Option<&str> {
        self.on_tcp.as_deref()
    }

    /// How long a DTLS session may go unheard: `udp_silence`, but never under one
    /// keepalive plus two round trips, so a slow path's acknowledgements are waited for.
    pub(super) fn threshold(&self, keepalive: Duration, rtt: Duration) -> Duration {
        self.silence.max(keepalive + rtt * 2)
    }

    /// Whether a DTLS session unheard for `silent` (round trip `rtt`) has lost its path.
    pub(super) fn is_silent(&self, silent: Duration, keepalive: Duration, rtt: Duration) -> bool {
        self.is_auto() && silent >= self.threshold(keepalive, rtt)
    }

    /// What a DTLS session unheard for `silent` says, next to the tunnel's other DTLS
    /// sessions (unheard for `others`): if one of them was heard a keepalive and two round
    /// trips after this one fell silent, UDP works and this session's pod is gone; if all
    /// are silent too (or there are none), the path is; otherwise the next check decides.
    pub(super) fn judge(
        &self,
        silent: Duration,
        others: &[Duration],
        keepalive: Duration,
        rtt: Duration,
    ) -> SilenceVerdict {
        if !self.is_silent(silent, keepalive, rtt) {
            return SilenceVerdict::Heard;
        }
        if others
            .iter()
            .any(|&other| other + keepalive + rtt * 2 < silent)
        {
            SilenceVerdict::PodGone
        } else if others
            .iter()
            .all(|&other| self.is_silent(other, keepalive, rtt))
        {
            SilenceVerdict::PathGone
        } else {
            SilenceVerdict::Undecided
        }
    }

    /// The tunnel goes on TCP because of `reason` (`why` in words), at `now`; `false` if it
    /// already was (nothing to say or count then).
    pub(super) fn move_to_tcp(&mut self, reason: SwitchReason, why: String, now: Instant) -> bool {
        if !self.is_auto() || self.on_tcp.is_some() {
            return false;
        }
        debug_assert_ne!(reason, SwitchReason::AnswersAgain);
        self.on_tcp = Some(why);
        self.probes.reset();
        self.next_probe = Some(now + self.probes.next_delay());
        true
    }

    /// When the next probe is due, if one is to come.
    pub(super) fn next_probe(&self) -> Option<Instant> {
        self.next_probe
    }

    /// Whether a probe should start at `now` (the caller then runs it, one at a time).
    pub(super) fn probe_due(&mut self, now: Instant) -> bool {
        match self.next_probe {
            Some(due) if self.on_tcp.is_some() && now >= due => {
                self.next_probe = None;
                true
            }
            _ => false,
        }
    }

    /// The probe found no DTLS session (or its hello failed): the next one after a longer
    /// wait.
    pub(super) fn probe_failed(&mut self, now: Instant) {
        if self.on_tcp.is_some() {
            self.next_probe = Some(now + self.probes.next_delay());
        }
    }

    /// A TCP dial could not connect while on TCP: neither transport serves, so UDP is
    /// probed at once rather than after the probe's backoff (a probe already running is
    /// left alone). The dials' own backoff paces both.
    pub(super) fn tcp_unreachable(&mut self, now: Instant) {
        if self.on_tcp.is_some()
            && let Some(due) = self.next_probe
        {
            self.next_probe = Some(due.min(now));
        }
    }

    /// A probe's DTLS session was accepted: the tunnel is back on UDP.
    pub(super) fn udp_answers(&mut self) {
        self.on_tcp = None;
        self.next_probe = None;
        self.probes.reset();
    }
}

/// What a DTLS session's silence says ([`Switching::judge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SilenceVerdict {
    /// It was heard recently enough.
    Heard,
    /// Another DTLS session of the tunnel was heard since: its pod is gone, not UDP.
    PodGone,
    /// Every DTLS session of the tunnel is silent: UDP is gone.
    PathGone,
    /// Another session may be falling silent too: the next check decides.
    Undecided,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ServerAddr;

    fn choice(mode: TransportMode) -> TransportChoice {
        TransportChoice {
            mode,
            tcp_server: ServerAddr::parse("gw.example.com:443").unwrap(),
            udp_timeout: Duration::from_secs(3),
            udp_silence: Duration::from_millis(1500),
            udp_probe_first: Duration::from_secs(5),
            udp_probe_max: Duration::from_secs(60),
            ha_connections: 1,
            local_ip: None,
        }
    }

    const KEEPALIVE: Duration = Duration::from_secs(1);
    const LAN: Duration = Duration::from_millis(1);

    #[test]
    fn a_lone_silent_session_is_a_lost_path_and_one_beside_a_heard_one_a_lost_pod() {
        let switching = Switching::new(&choice(TransportMode::Auto));
        let ms = Duration::from_millis;
        let judge = |silent, others: &[Duration]| switching.judge(silent, others, KEEPALIVE, LAN);
        assert_eq!(judge(ms(900), &[]), SilenceVerdict::Heard);
        assert_eq!(judge(ms(1500), &[]), SilenceVerdict::PathGone);
        // UDP blocked: the other fell silent within a keepalive of this one.
        assert_eq!(judge(ms(1500), &[ms(1600)]), SilenceVerdict::PathGone);
        assert_eq!(judge(ms(1500), &[ms(700)]), SilenceVerdict::Undecided);
        assert_eq!(judge(ms(2400), &[ms(1600)]), SilenceVerdict::PathGone);
        // A pod killed: the other session goes on hearing its keepalives.
        assert_eq!(judge(ms(1500), &[ms(300)]), SilenceVerdict::PodGone);
        assert_eq!(judge(ms(2100), &[ms(1000)]), SilenceVerdict::PodGone);
        let udp_only = Switching::new(&choice(TransportMode::Udp));
        assert_eq!(
            udp_only.judge(ms(5000), &[], KEEPALIVE, LAN),
            SilenceVerdict::Heard,
            "only auto judges"
        );
    }

    #[test]
    fn only_auto_switches() {
        for mode in [TransportMode::Udp, TransportMode::Tcp] {
            let mut switching = Switching::new(&choice(mode));
            assert!(!switching.is_silent(Duration::from_secs(10), KEEPALIVE, LAN));
            assert!(!switching.move_to_tcp(SwitchReason::Silence, "x".into(), Instant::now()));
            assert_eq!(switching.next_dial(), mode);
            assert_eq!(switching.next_probe(), None);
        }
    }

    #[test]
    fn silence_is_the_setting_or_a_keepalive_and_two_round_trips() {
        let switching = Switching::new(&choice(TransportMode::Auto));
        assert!(!switching.is_silent(Duration::from_millis(1499), KEEPALIVE, LAN));
        assert!(switching.is_silent(Duration::from_millis(1500), KEEPALIVE, LAN));
        // A 400 ms round trip: the keepalive's acknowledgement may take 1.8 s.
        let slow = Duration::from_millis(400);
        assert_eq!(
            switching.threshold(KEEPALIVE, slow),
            Duration::from_millis(1800)
        );
        assert!(!switching.is_silent(Duration::from_millis(1700), KEEPALIVE, slow));
    }

    #[test]
    fn on_tcp_new_sessions_dial_tcp_and_udp_is_probed_with_backoff() {
        let mut switching = Switching::new(&choice(TransportMode::Auto));
        assert_eq!(switching.next_dial(), TransportMode::Auto);
        let t0 = Instant::now();
        assert!(switching.move_to_tcp(SwitchReason::Silence, "udp silent for 1.5 s".into(), t0));
        assert!(!switching.move_to_tcp(SwitchReason::NoAnswer, "again".into(), t0));
        assert_eq!(switching.on_tcp(), Some("udp silent for 1.5 s"));
        assert_eq!(switching.next_dial(), TransportMode::Tcp);

        // Probes: at most 5 s, then 10, 20, 40, then 60 s at most; each at least half its
        // step (jitter).
        let mut now = t0;
        let mut waits = Vec::new();
        for _ in 0..7 {
            let due = switching.next_probe().unwrap();
            assert!(!switching.probe_due(due - Duration::from_millis(1)));
            assert!(switching.probe_due(due));
            assert_eq!(switching.next_probe(), None, "one probe at a time");
            assert!(!switching.probe_due(due + Duration::from_secs(100)));
            waits.push(due - now);
            now = due + Duration::from_secs(3);
            switching.probe_failed(now);
        }
        let steps = [5, 10, 20, 40, 60, 60, 60].map(Duration::from_secs);
        for (wait, step) in waits.iter().zip(steps) {
            assert!(*wait <= step && *wait >= step / 2, "{waits:?}");
        }

        // UDP answers: back on UDP, no more probes; a later switch starts from 5 s again.
        switching.udp_answers();
        assert_eq!(switching.on_tcp(), None);
        assert_eq!(switching.next_dial(), TransportMode::Auto);
        assert_eq!(switching.next_probe(), None);
        switching.probe_failed(now);
        assert_eq!(switching.next_probe(), None, "no probing while on UDP");
        assert!(switching.move_to_tcp(SwitchReason::NoAnswer, "udp did not answer".into(), now));
        assert!(switching.next_probe().unwrap() - now <= Duration::from_secs(5));
    }

    #[test]
    fn tcp_unreachable_brings_the_probe_forward_only_on_tcp() {
        let mut switching = Switching::new(&choice(TransportMode::Auto));
        let t0 = Instant::now();
        switching.tcp_unreachable(t0);
        assert_eq!(switching.next_probe(), None, "on UDP nothing is probed");
        assert!(switching.move_to_tcp(SwitchReason::Silence, "udp silent".into(), t0));
        assert!(switching.next_probe().unwrap() > t0);
        switching.tcp_unreachable(t0);
        assert_eq!(switching.next_probe(), Some(t0));
        assert!(switching.probe_due(t0));
        switching.tcp_unreachable(t0);
        assert_eq!(
            switching.next_probe(),
            None,
            "a running probe is left alone"
        );
        // The failed probe's backoff still grows: the next is due later than the first.
        switching.probe_failed(t0);
        assert!(switching.next_probe().unwrap() - t0 >= Duration::from_secs(5));
    }

    #[test]
    fn reasons_name_their_direction() {
        let labels: Vec<_> = SwitchReason::ALL
            .iter()
            .map(|r| (r.to(), r.label()))
            .collect();
        assert_eq!(
            labels,
            [
                ("tcp", "udp_silent"),
                ("tcp", "udp_unanswered"),
                ("udp", "udp_answers")
            ]
        );
    }
}
