//! The set's side of moving between transports (`--transport auto`; the rules are
//! [`Switching`](super::Switching)'s): it looks at each DTLS session's silence, retires a
//! silent one for a session over TCP at once, notes a dial that fell back to TCP, runs the
//! UDP probes while on TCP, and once a probe's DTLS session is accepted, replaces the TCP
//! sessions with DTLS ones, one at a time, each old one leaving only once its replacement
//! serves.

use std::time::{Duration, Instant};

use hopgate_protocol::SessionRef;
use hopgate_transport::Carrier;
use slog::{info, warn};

use super::{Opening, SessionSet};
use crate::{
    config::TransportMode,
    dial::seconds,
    tunnel::{
        establish::{EstablishError, Established, establish},
        one_line,
        switching::{SilenceVerdict, SwitchReason},
    },
};

impl<'a> SessionSet<'a> {
    /// Looks at the paths: a silent DTLS session is retired for one over TCP; back on UDP,
    /// one TCP session at a time is retired for one dialled the `auto` way (`idle`: no
    /// attempt is running).
    pub(super) fn check_paths(&mut self, idle: bool) {
        let keepalive = self.tunnel.client_config.transport.keepalive_interval;
        let udp: Vec<(u64, Duration, Duration)> = self
            .live
            .iter()
            .filter(|(seq, running)| {
                running.carrier == Carrier::Udp && !self.plan.is_retiring(**seq)
            })
            .map(|(seq, running)| (*seq, running.session.silent_for(), running.session.rtt()))
            .collect();
        for &(seq, silent, rtt) in &udp {
            let others: Vec<Duration> = udp
                .iter()
                .filter(|(other, ..)| *other != seq)
                .map(|(_, other_silent, _)| *other_silent)
                .collect();
            match self.switching.judge(silent, &others, keepalive, rtt) {
                SilenceVerdict::PathGone => self.retire_silent(seq, silent),
                SilenceVerdict::PodGone => self.retire_pod_gone(seq, silent),
                SilenceVerdict::Heard | SilenceVerdict::Undecided => {}
            }
        }
        let back_on_udp = self.switching.is_auto() && self.switching.on_tcp().is_none();
        if back_on_udp && idle && !self.plan.any_retiring() {
            let oldest_tcp = self
                .live
                .iter()
                .filter(|(_, running)| running.carrier == Carrier::Tcp)
                .min_by_key(|(seq, _)| **seq)
                .map(|(seq, _)| *seq);
            if let Some(seq) = oldest_tcp {
                info!(self.tunnel.log, "udp answers: replacing a tcp session";
                    "session_seq" => seq);
                self.plan.retire_when_replaced(seq);
                self.next_attempt = tokio::time::Instant::now();
            }
        }
    }

    /// The DTLS sessions retiring (they only retire once silent), as their pods named
    /// them: the next session's hello tells its pod to route them nothing new.
    pub(super) fn silent_sessions(&self) -> Vec<SessionRef> {
        self.live
            .iter()
            .filter(|(seq, running)| {
                running.carrier == Carrier::Udp && self.plan.is_retiring(**seq)
            })
            .filter_map(|(_, running)| {
                Some(SessionRef {
                    pod: running.pod.clone()?,
                    session: running.id_on_pod?,
                })
            })
            .collect()
    }

    /// DTLS session `seq` was unheard for `silent` while another was heard: UDP works, its
    /// pod is likely gone; it serves until a session dialled as usual replaces it.
    fn retire_pod_gone(&mut self, seq: u64, silent: Duration) {
        let pod = self.live.get(&seq).and_then(|r| r.pod.clone());
        warn!(self.tunnel.log, "session silent while another is heard; replacing it";
            "session_seq" => seq, "silent_ms" => silent.as_millis() as u64, "pod" => pod);
        self.plan.retire_when_replaced(seq);
        self.next_attempt = tokio::time::Instant::now();
    }

    /// DTLS session `seq` was unheard for `silent`: the tunnel goes on TCP (said once) and
    /// the session serves until its TCP replacement does.
    fn retire_silent(&mut self, seq: u64, silent: Duration) {
        let why = format!("udp silent for {}", seconds(silent));
        let reason = SwitchReason::Silence;
        if self
            .switching
            .move_to_tcp(reason, why.clone(), Instant::now())
        {
            self.tunnel.metrics.switched(reason);
            eprintln!("{}: {why}: moving to tcp", self.tunnel.settings.domain);
        }
        let pod = self.live.get(&seq).and_then(|r| r.pod.clone());
        warn!(self.tunnel.log, "udp silent; replacing the session over tcp";
            "session_seq" => seq, "silent_ms" => silent.as_millis() as u64,
            "pod" => pod, "from" => "udp", "to" => "tcp", "reason" => reason.label());
        self.plan.retire_when_replaced(seq);
        self.next_attempt = tokio::time::Instant::now();
    }

    /// A regular attempt's session: if an `auto` dial fell back to TCP, the tunnel goes on
    /// TCP; a TCP session dialled while on TCP carries the reason for its status line.
    pub(super) fn note_fallback(&mut self, mut established: Established) -> Established {
        if established.carrier() != Carrier::Tcp {
            return established;
        }
        let dialed = &mut established.dialed;
        match &dialed.fell_back {
            Some(why) => {
                let reason = SwitchReason::NoAnswer;
                if self
                    .switching
                    .move_to_tcp(reason, why.clone(), Instant::now())
                {
                    self.tunnel.metrics.switched(reason);
                    info!(self.tunnel.log, "udp unanswered; serving over tcp";
                        "from" => "udp", "to" => "tcp", "reason" => reason.label(),
                        "why" => why.as_str());
                }
            }
            None => dialed.fell_back = self.switching.on_tcp().map(str::to_owned),
        }
        established
    }

    /// Only retiring sessions serve (silent ones) and the attempt to replace them failed:
    /// they keep serving while they can, and the next attempt comes soon (when they end,
    /// the tunnel reconnects as after any loss).
    pub(super) fn replacement_failed(&mut self, reason: &str) {
        let delay = self.more.next_delay();
        eprintln!(
            "{}: replacing the silent session failed ({}); trying again in {:.1} s",
            self.tunnel.settings.domain,
            one_line(reason),
            delay.as_secs_f64()
        );
        warn!(self.tunnel.log, "replacing the silent session failed";
            "reason" => one_line(reason), "in_ms" => delay.as_millis() as u64);
        self.next_attempt = tokio::time::Instant::now() + delay;
    }

    /// A UDP probe: a full DTLS session and hello, within the UDP timeout.
    pub(super) fn probe(&self) -> Opening<'a> {
        let tunnel = self.tunnel;
        let agent_id = self.agent_id.clone();
        let within = tunnel.transport.udp_timeout;
        info!(tunnel.log, "probing udp");
        Box::pin(async move {
            let attempt = establish(tunnel, &agent_id, TransportMode::Udp, Vec::new());
            tokio::time::timeout(within, attempt)
                .await
                .unwrap_or(Err(EstablishError::UdpTimedOut(within)))
        })
    }

    /// A probe's outcome: a DTLS session puts the tunnel back on UDP and replaces a TCP
    /// session (the one on its pod if any); a failure waits for the next probe.
    pub(super) fn probed(&mut self, result: Result<Established, EstablishError>) {
        let log = &self.tunnel.log;
        match result {
            Ok(established) => {
                let reason = SwitchReason::AnswersAgain;
                self.switching.udp_answers();
                self.tunnel.metrics.switched(reason);
                eprintln!(
                    "{}: udp answers again: back on udp",
                    self.tunnel.settings.domain
                );
                info!(log, "udp answers again; back on udp";
                    "from" => "tcp", "to" => "udp", "reason" => reason.label());
                let tcp: Vec<u64> = self
                    .live
                    .iter()
                    .filter(|(_, running)| running.carrier == Carrier::Tcp)
                    .map(|(seq, _)| *seq)
                    .collect();
                self.arrived(established, Some(&tcp));
            }
            Err(err) => {
                self.switching.probe_failed(Instant::now());
                let next_in = self
                    .switching
                    .next_probe()
                    .map(|due| due.saturating_duration_since(Instant::now()));
                info!(log, "udp probe failed; staying on tcp";
                    "reason" => one_line(&err.to_string()),
                    "next_probe_ms" => next_in.map(|d| d.as_millis() as u64));
            }
        }
    }
}
