//! The one place that owns a tunnel's sessions: it opens them one attempt at a time,
//! keeps those on distinct pods ([`Plan`] decides), tells a session that reached a pod
//! already served to leave, replaces a session that ended while the others keep serving,
//! and says what it does (status line on stderr, JSON log, metrics).
//!
//! With no session serving it behaves as a single-session agent always did: it reconnects
//! with backoff (`reconnecting in N s: …`), at once after a go-away. A refusal that
//! retrying won't fix, or a go-away saying another agent took the domain over, stops the
//! tunnel and closes every session.
//!
//! With `--transport auto` it also watches what carries the sessions (`switch`, with the
//! rules in [`Switching`]): a DTLS session gone silent is replaced by one over TCP, and
//! while on TCP, UDP is probed and a DTLS session replaces the TCP ones once UDP answers.

mod status;
mod switch;

use std::{collections::HashMap, future::Future, pin::Pin, time::Duration};

use hopgate_backoff::Backoff;
use hopgate_transport::Session;
use slog::{info, warn};
use tokio::{sync::watch, task::JoinSet};

use self::status::{hint, one_line_or_empty};
use super::{
    Tunnel,
    establish::{EstablishError, Established, establish},
    one_line,
    one_session::{Running, SessionEnd},
    plan::{Arrival, Plan},
    switching::Switching,
};
use crate::{RunError, metrics::Reconnect};

/// The longest first delay before reconnecting (the first retry comes within a second).
pub(super) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// No delay before reconnecting is longer than this (30 s).
pub(super) const MAX_RETRY: Duration = Duration::from_secs(30);
/// A session that stayed up this long resets the backoff: the next loss is retried fast.
const STABLE_AFTER: Duration = Duration::from_secs(20);
/// A go-away this soon after connecting is retried with backoff, not at once, so a gateway
/// that keeps saying go-away is not hammered.
const MIN_UPTIME_FOR_IMMEDIATE: Duration = Duration::from_secs(1);
/// The first delay between attempts at one more session while the set serves.
const MORE_FIRST: Duration = Duration::from_millis(200);
/// The longest delay between those attempts.
const MORE_MAX: Duration = Duration::from_secs(5);

type Opening<'a> = Pin<Box<dyn Future<Output = Result<Established, EstablishError>> + Send + 'a>>;

/// What woke the set up.
enum Event {
    Opened(Box<Result<Established, EstablishError>>),
    Probed(Box<Result<Established, EstablishError>>),
    /// Time to look at the sessions' paths (`auto` only).
    Check,
    Ended(u64, SessionEnd),
    TimeToOpen,
    Shutdown,
}

/// A tunnel's sessions and what it is doing about them.
pub(super) struct SessionSet<'a> {
    tunnel: &'a Tunnel,
    /// Names this process's tunnel in every hello (not a secret).
    agent_id: String,
    plan: Plan,
    /// Which transport new sessions dial; UDP probes while on TCP.
    switching: Switching,
    live: HashMap<u64, Running>,
    /// Sessions told to leave, until they have.
    leaving: HashMap<u64, Session>,
    tasks: JoinSet<(u64, SessionEnd)>,
    /// Numbers this agent's sessions for the logs (the gateway's ids aren't sent).
    seq: u64,
    /// Delays reconnecting while no session serves.
    backoff: Backoff,
    /// Spaces out attempts at one more session while the set serves.
    more: Backoff,
    next_attempt: tokio::time::Instant,
}

impl<'a> SessionSet<'a> {
    pub(super) fn new(tunnel: &'a Tunnel) -> Self {
        Self {
            tunnel,
            agent_id: format!("{:032x}", rand::random::<u128>()),
            plan: Plan::new(tunnel.transport.ha_connections),
            switching: Switching::new(&tunnel.transport),
            live: HashMap::new(),
            leaving: HashMap::new(),
            tasks: JoinSet::new(),
            seq: 0,
            backoff: Backoff::new(FIRST_RETRY, MAX_RETRY),
            more: Backoff::new(MORE_FIRST, MORE_MAX),
            next_attempt: tokio::time::Instant::now(),
        }
    }

    /// Serves until `shutdown` flips or the tunnel must stop (refused for good, replaced).
    pub(super) async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), RunError> {
        let tunnel = self.tunnel;
        let mut opening: Option<Opening<'a>> = None;
        let mut probing: Option<Opening<'a>> = None;
        let mut checks = tokio::time::interval(self.switching.check_every());
        checks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            let now = tokio::time::Instant::now();
            if opening.is_none() && self.plan.wants_more() && now >= self.next_attempt {
                let agent_id = self.agent_id.clone();
                let mode = self.switching.next_dial();
                let silent = self.silent_sessions();
                opening = Some(Box::pin(async move {
                    establish(tunnel, &agent_id, mode, silent).await
                }));
            }
            if probing.is_none() && self.switching.probe_due(now.into_std()) {
                probing = Some(self.probe());
            }
            let may_open = opening.is_none() && self.plan.wants_more();
            let watching = self.switching.is_auto();
            let event = tokio::select! {
                result = until_opened(&mut opening) => Event::Opened(Box::new(result)),
                result = until_opened(&mut probing) => Event::Probed(Box::new(result)),
                Some(Ok((seq, end))) = self.tasks.join_next() => Event::Ended(seq, end),
                () = tokio::time::sleep_until(self.next_attempt), if may_open => Event::TimeToOpen,
                _ = checks.tick(), if watching => Event::Check,
                _ = shutdown.changed() => Event::Shutdown,
            };
            let step = match event {
                Event::Opened(result) => {
                    opening = None;
                    self.opened(*result)
                }
                Event::Probed(result) => {
                    probing = None;
                    self.probed(*result);
                    Ok(())
                }
                Event::Check => {
                    self.check_paths(opening.is_none());
                    Ok(())
                }
                Event::Ended(seq, end) => self.ended(seq, end),
                Event::TimeToOpen => Ok(()),
                Event::Shutdown => break Ok(()),
            };
            if let Err(err) = step {
                break Err(err);
            }
        };
        self.close_all(match &result {
            Ok(()) => "agent shutting down",
            Err(_) => "tunnel stopped",
        });
        result
    }

    /// An attempt's outcome.
    fn opened(&mut self, result: Result<Established, EstablishError>) -> Result<(), RunError> {
        match result {
            Ok(established) => {
                let established = self.note_fallback(established);
                self.arrived(established, None);
                Ok(())
            }
            Err(EstablishError::Refused(ack)) if !ack.code.is_retryable() => {
                let log = &self.tunnel.log;
                slog::error!(log, "gateway refused the tunnel; not retrying";
                    "code" => ack.code.as_str(), "reason" => one_line(&ack.message));
                Err(RunError::Refused {
                    domain: self.tunnel.settings.domain.clone(),
                    message: one_line(&ack.message),
                    code: ack.code,
                    hint: hint(ack.code),
                })
            }
            Err(err) => {
                let reason = match &err {
                    EstablishError::Refused(ack) => {
                        if self.plan.is_down() {
                            eprintln!(
                                "gateway refused {}: {}",
                                self.tunnel.settings.domain,
                                one_line(&ack.message)
                            );
                        }
                        self.tunnel.metrics.reconnect(Reconnect::Refused);
                        format!("refused ({})", ack.code)
                    }
                    other => {
                        self.tunnel.metrics.reconnect(Reconnect::ConnectFailed);
                        self.switching.tcp_unreachable(std::time::Instant::now());
                        other.to_string()
                    }
                };
                if self.plan.is_down() && self.plan.held() > 0 {
                    self.replacement_failed(&reason);
                } else if self.plan.is_down() {
                    self.retry_later(&reason);
                } else {
                    self.plan.attempt_failed(&one_line(&reason));
                    info!(self.tunnel.log, "one more session failed"; "reason" => one_line(&reason));
                    self.next_attempt = tokio::time::Instant::now() + self.more.next_delay();
                    self.say_if_short();
                }
                Ok(())
            }
        }
    }

    /// A session is up: it stays, or it reached a pod already served and leaves. With
    /// `replacing`, it came to replace one of those sessions (a UDP probe, TCP sessions).
    fn arrived(&mut self, established: Established, replacing: Option<&[u64]>) {
        self.seq += 1;
        let seq = self.seq;
        let pod = established.ack.pod.clone();
        let arrival = match replacing {
            Some(replaceable) => self.plan.arrived_replacing(seq, pod.clone(), replaceable),
            None => self.plan.arrived(seq, pod.clone()),
        };
        let peer = established.peer();
        let (ready_ms, admitted) = (
            established.ready_in.as_millis() as u64,
            one_line_or_empty(&established.ack.message),
        );
        let fell_back = established.dialed.fell_back.clone();
        let addr = established.dialed.addr;
        let tunnel = self.tunnel;
        let mut running =
            Running::start(&mut self.tasks, seq, established, tunnel.forwarder.clone());
        let log = &tunnel.log;
        match arrival {
            Arrival::Leaves => {
                info!(log, "session reached a pod already served; it leaves";
                    "session_seq" => seq, "pod" => pod.as_deref());
                running.leave("this agent already serves from this pod");
                self.leaving.insert(seq, running.session.clone());
                self.next_attempt = tokio::time::Instant::now() + self.more.next_delay();
                self.say_if_short();
            }
            Arrival::Stays { retire } => {
                self.more.reset();
                self.next_attempt = tokio::time::Instant::now();
                let carrier = running.carrier;
                self.live.insert(seq, running);
                if let Some(old) = retire
                    && let Some(mut old_session) = self.live.remove(&old)
                {
                    self.plan.ended(old);
                    old_session.leave("replaced by a newer session of this agent");
                    self.leaving.insert(old, old_session.session.clone());
                }
                let told = if admitted.is_empty() {
                    String::new()
                } else {
                    format!("; {admitted}")
                };
                eprintln!(
                    "connected to {peer} (session ready in {ready_ms} ms); forwarding https://{} -> {}{told}{}",
                    self.tunnel.settings.domain,
                    self.tunnel.settings.target,
                    self.pods_text(),
                );
                info!(log, "connected"; "session_seq" => seq,
                    "gateway" => addr.to_string(), "ready_ms" => ready_ms,
                    "transport" => carrier.as_str(), "fallback_reason" => fell_back.as_deref(),
                    "target" => self.tunnel.settings.target.to_string(),
                    "pool" => self.tunnel.settings.pool, "admitted" => admitted,
                    "pod" => pod.as_deref(), "sessions" => self.plan.held(),
                    "wanted" => self.plan.wanted(), "pods" => self.plan.pods().join(","));
                if self.plan.unnamed_gateway() {
                    let text = "the gateway does not name its pods (an older version); keeping one session";
                    eprintln!("{}: {text}", self.tunnel.settings.domain);
                    info!(log, "{}", text);
                }
            }
        }
        self.update_metrics();
    }

    /// A session's task ended.
    fn ended(&mut self, seq: u64, end: SessionEnd) -> Result<(), RunError> {
        self.leaving.remove(&seq);
        let Some(running) = self.live.remove(&seq) else {
            return Ok(());
        };
        self.plan.ended(seq);
        self.update_metrics();
        let up = running.up.elapsed();
        if up >= STABLE_AFTER {
            self.backoff.reset();
        }
        let tunnel = self.tunnel;
        let domain = &tunnel.settings.domain;
        let log = &tunnel.log;
        let (reason, immediate) = match end {
            // Reconnecting would take the domain back, and the two agents would take
            // turns: the newer one keeps it.
            SessionEnd::Replaced(reason) => {
                return Err(RunError::Replaced {
                    domain: domain.clone(),
                    reason: one_line(&reason),
                });
            }
            SessionEnd::Left => return Ok(()),
            SessionEnd::GoAway(why) => {
                self.tunnel.metrics.reconnect(Reconnect::GoAway);
                (
                    format!("the gateway is going away: {why}"),
                    up >= MIN_UPTIME_FOR_IMMEDIATE,
                )
            }
            SessionEnd::Lost(why) => {
                self.tunnel.metrics.reconnect(Reconnect::Lost);
                (format!("session lost: {why}"), false)
            }
        };
        if !self.plan.is_down() {
            let held = self.plan.held();
            let noun = if held == 1 { "session" } else { "sessions" };
            eprintln!(
                "{domain}: {} ({}); still serving on {held} {noun}; opening another",
                running.pod_name(),
                one_line(&reason),
            );
            warn!(log, "session ended; the others serve"; "pod" => running.pod.as_deref(),
                "reason" => one_line(&reason), "sessions" => held);
            self.next_attempt = tokio::time::Instant::now();
        } else if immediate {
            eprintln!(
                "gateway is going away ({}); reconnecting {domain} now",
                one_line(reason.trim_start_matches("the gateway is going away: "))
            );
            info!(log, "gateway going away; reconnecting now";
                "session_seq" => seq, "reason" => one_line(&reason));
            self.next_attempt = tokio::time::Instant::now();
        } else {
            self.retry_later(&reason);
        }
        Ok(())
    }

    /// No session serves: the next attempt after a backed-off delay, said on the status
    /// line.
    fn retry_later(&mut self, reason: &str) {
        let delay = self.backoff.next_delay();
        eprintln!(
            "reconnecting in {:.1} s: {}: {}",
            delay.as_secs_f64(),
            self.tunnel.settings.domain,
            one_line(reason)
        );
        warn!(self.tunnel.log, "reconnecting"; "in_ms" => delay.as_millis() as u64,
            "reason" => one_line(reason));
        self.next_attempt = tokio::time::Instant::now() + delay;
    }

    /// Closes every session, serving or leaving.
    fn close_all(&mut self, why: &str) {
        for running in self.live.values() {
            running.session.close(why);
        }
        for session in self.leaving.values() {
            session.close(why);
        }
        self.live.clear();
        self.leaving.clear();
        self.update_metrics_down();
    }
}

/// The attempt's outcome; pending while there is none.
async fn until_opened(opening: &mut Option<Opening<'_>>) -> Result<Established, EstablishError> {
    match opening {
        Some(attempt) => attempt.await,
        None => std::future::pending().await,
    }
}
