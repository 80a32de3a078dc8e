//! One tunnel's life: dial the gateway (`dial`: UDP, TCP, or UDP then TCP), say hello,
//! serve the gateway's request streams, and after any loss connect again with [`Backoff`]. A go-away from the gateway
//! (it is restarting) starts a fresh session at once while the requests in flight finish
//! on the old one; a go-away saying another agent took the domain over stops the tunnel.
//! With `pool`, the hello asks to serve the domain together with the other pooled agents;
//! the gateway's answer says whether it joined a pool or replaced someone.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hopgate_backoff::Backoff;
use hopgate_protocol::{Hello, HelloAck, HelloCode};
use hopgate_transport::{ClientConfig, Session};
use slog::{Logger, info, warn};
use tokio::sync::watch;

use crate::{
    RunError,
    config::{ServerAddr, TransportChoice, TunnelSettings},
    control::{Control, ControlEvent, HelloError},
    dial::{DialError, Dialed, dial},
    forward::Forwarder,
    metrics::{Reconnect, TunnelMetrics},
};

/// The longest first delay before reconnecting (the first retry comes within a second).
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// No delay before reconnecting is longer than this (30 s).
const MAX_RETRY: Duration = Duration::from_secs(30);
/// A session that stayed up this long resets the backoff: the next loss is retried fast.
const STABLE_AFTER: Duration = Duration::from_secs(20);
/// After a go-away's drain period, how much longer the old session may take before the
/// agent closes it.
const DRAIN_SLACK: Duration = Duration::from_secs(2);
/// A go-away this soon after connecting is retried with backoff, not at once, so a gateway
/// that keeps saying go-away is not hammered.
const MIN_UPTIME_FOR_IMMEDIATE: Duration = Duration::from_secs(1);

/// Getting a session failed.
#[derive(Debug, thiserror::Error)]
enum EstablishError {
    #[error("{0}")]
    Dial(#[from] DialError),
    #[error("{0}")]
    Hello(#[from] HelloError),
    #[error("refused ({})", .0.code)]
    Refused(HelloAck),
}

/// How a session ended.
enum SessionEnd {
    /// The gateway is restarting; the session drains in the background.
    GoAway(String),
    /// Another agent's session for this domain took over (the gateway says why).
    Replaced(String),
    /// The session or its control stream is gone.
    Lost(String),
    /// The agent is stopping.
    Shutdown,
}

/// One domain served from one local service, over one session at a time.
pub(crate) struct Tunnel {
    pub(crate) settings: TunnelSettings,
    pub(crate) server: ServerAddr,
    /// What carries the sessions.
    pub(crate) transport: TransportChoice,
    pub(crate) client_config: Arc<ClientConfig>,
    pub(crate) forwarder: Arc<Forwarder>,
    pub(crate) metrics: TunnelMetrics,
    /// Carries the tunnel's `domain`.
    pub(crate) log: Logger,
}

impl Tunnel {
    /// Serves until `shutdown` flips or the gateway refuses the tunnel for good.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), RunError> {
        let domain = &self.settings.domain;
        let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
        // Numbers this agent's sessions for the logs (the gateway's ids aren't sent).
        let mut session_seq: u64 = 0;
        loop {
            let established = tokio::select! {
                result = self.establish() => result,
                _ = shutdown.changed() => return Ok(()),
            };
            let reason = match established {
                Ok((dialed, control, ready_in, admitted)) => {
                    session_seq += 1;
                    let gateway = Self::describe_peer(&dialed);
                    let session = dialed.session;
                    // What the gateway said of the admission (joined a pool, replaced …).
                    let told = if admitted.trim().is_empty() {
                        String::new()
                    } else {
                        format!("; {}", one_line(&admitted))
                    };
                    eprintln!(
                        "connected to {gateway} (session ready in {} ms); forwarding https://{domain} -> {}{told}",
                        ready_in.as_millis(),
                        self.settings.target,
                    );
                    info!(self.log, "connected"; "session_seq" => session_seq,
                        "gateway" => dialed.addr.to_string(), "ready_ms" => ready_in.as_millis() as u64,
                        "transport" => session.carrier().as_str(),
                        "fallback_reason" => dialed.fell_back.as_deref(),
                        "target" => self.settings.target.to_string(), "pool" => self.settings.pool,
                        "admitted" => told.trim_start_matches("; "));
                    self.metrics.connected(Some(session.carrier()));
                    let up = Instant::now();
                    let end = self.serve(&session, control, &mut shutdown).await;
                    self.metrics.connected(None);
                    match &end {
                        SessionEnd::GoAway(_) => self.metrics.reconnect(Reconnect::GoAway),
                        SessionEnd::Lost(_) => self.metrics.reconnect(Reconnect::Lost),
                        SessionEnd::Replaced(_) | SessionEnd::Shutdown => {}
                    }
                    if up.elapsed() >= STABLE_AFTER {
                        backoff.reset();
                    }
                    match end {
                        SessionEnd::Shutdown => return Ok(()),
                        // Reconnecting would take the domain back, and the two agents
                        // would take turns: the newer one keeps it.
                        SessionEnd::Replaced(reason) => {
                            return Err(RunError::Replaced {
                                domain: domain.clone(),
                                reason: one_line(&reason),
                            });
                        }
                        SessionEnd::GoAway(why) if up.elapsed() >= MIN_UPTIME_FOR_IMMEDIATE => {
                            eprintln!(
                                "gateway is going away ({}); reconnecting {domain} now",
                                one_line(&why)
                            );
                            info!(self.log, "gateway going away; reconnecting now";
                                "session_seq" => session_seq, "reason" => one_line(&why));
                            continue;
                        }
                        SessionEnd::GoAway(why) => format!("the gateway is going away: {why}"),
                        SessionEnd::Lost(why) => format!("session lost: {why}"),
                    }
                }
                Err(EstablishError::Refused(ack)) if !ack.code.is_retryable() => {
                    slog::error!(self.log, "gateway refused the tunnel; not retrying";
                        "code" => ack.code.as_str(), "reason" => one_line(&ack.message));
                    return Err(RunError::Refused {
                        domain: domain.clone(),
                        message: one_line(&ack.message),
                        code: ack.code,
                        hint: hint(ack.code),
                    });
                }
                Err(EstablishError::Refused(ack)) => {
                    eprintln!("gateway refused {domain}: {}", one_line(&ack.message));
                    self.metrics.reconnect(Reconnect::Refused);
                    format!("refused ({})", ack.code)
                }
                Err(err) => {
                    self.metrics.reconnect(Reconnect::ConnectFailed);
                    err.to_string()
                }
            };
            let delay = backoff.next_delay();
            eprintln!(
                "reconnecting in {:.1} s: {domain}: {}",
                delay.as_secs_f64(),
                one_line(&reason)
            );
            warn!(self.log, "reconnecting"; "in_ms" => delay.as_millis() as u64,
                "reason" => one_line(&reason));
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    /// Dials, says hello; the session, its control stream, how long it took, and what the
    /// gateway said of the admission (joined a pool, replaced an agent).
    async fn establish(&self) -> Result<(Dialed, Control, Duration, String), EstablishError> {
        let started = Instant::now();
        let dialed = dial(&self.server, &self.transport, &self.client_config).await?;
        let session = &dialed.session;
        let hello = Hello::new(
            self.settings.domain.clone(),
            self.settings.api_key.expose(),
            env!("CARGO_PKG_VERSION"),
        )
        .joining_pool(self.settings.pool);
        let (control, ack) = match Control::hello(session, hello).await {
            Ok(answer) => answer,
            Err(err) => {
                session.close("hello failed");
                return Err(err.into());
            }
        };
        if !ack.ok {
            session.close("hello refused");
            return Err(EstablishError::Refused(ack));
        }
        Ok((dialed, control, started.elapsed(), ack.message))
    }

    /// `127.0.0.1:4433 over udp`, or `gw.example.com:443 (203.0.113.7:443) over tcp (udp
    /// did not answer within 3 s)` for a name.
    fn describe_peer(dialed: &Dialed) -> String {
        let addr = dialed.addr;
        let peer = if dialed.server.host().parse::<std::net::IpAddr>().is_ok() {
            addr.to_string()
        } else {
            format!("{} ({addr})", dialed.server)
        };
        let over = dialed.carrier().as_str();
        match &dialed.fell_back {
            Some(why) => format!("{peer} over {over} ({why})"),
            None => format!("{peer} over {over}"),
        }
    }

    /// Serves the session's request streams and watches its control stream.
    async fn serve(
        &self,
        session: &Session,
        mut control: Control,
        shutdown: &mut watch::Receiver<bool>,
    ) -> SessionEnd {
        // Ends by itself once the session is closed.
        tokio::spawn(accept_streams(session.clone(), self.forwarder.clone()));
        tokio::select! {
            event = control.next_event() => match event {
                ControlEvent::GoAway(go_away) if go_away.is_replaced() => {
                    session.close("replaced by another agent");
                    SessionEnd::Replaced(go_away.reason)
                }
                ControlEvent::GoAway(go_away) => {
                    let old = session.clone();
                    let until = go_away.drain() + DRAIN_SLACK;
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = old.closed() => {}
                            _ = control.drain(until) => old.close("drained after go-away"),
                        }
                    });
                    SessionEnd::GoAway(go_away.reason)
                }
                ControlEvent::Ended(why) => {
                    let why = session.close_reason().map_or(why, |e| e.to_string());
                    session.close("control stream ended");
                    SessionEnd::Lost(why)
                }
            },
            _ = shutdown.changed() => {
                session.close("agent shutting down");
                SessionEnd::Shutdown
            }
        }
    }
}

/// Serves every stream the gateway opens, each in its own task.
async fn accept_streams(session: Session, forwarder: Arc<Forwarder>) {
    while let Ok((send, recv)) = session.accept_stream().await {
        tokio::spawn(forwarder.clone().serve(send, recv));
    }
}

/// What to do about a refusal that retrying won't fix.
fn hint(code: HelloCode) -> &'static str {
    match code {
        HelloCode::BadKey => "check the API key",
        HelloCode::UnknownDomain => "check the domain; is it registered?",
        HelloCode::UnsupportedVersion => "upgrade the agent or the gateway",
        _ => "check the configuration",
    }
}

/// Text from the peer or an error, on one line (status lines are one line each).
fn one_line(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return "no reason given".into();
    }
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_text_stays_on_one_line() {
        assert_eq!(one_line(" bad\nkey\r "), "bad key");
        assert_eq!(one_line(""), "no reason given");
    }

    #[test]
    fn first_retry_is_within_a_second_and_the_cap_is_30_s() {
        for _ in 0..100 {
            let first = Backoff::new(FIRST_RETRY, MAX_RETRY).next_delay();
            assert!(first <= Duration::from_secs(1), "{first:?}");
        }
        let mut backoff = Backoff::new(FIRST_RETRY, MAX_RETRY);
        for _ in 0..1000 {
            assert!(backoff.next_delay() <= Duration::from_secs(30));
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_secs(1));
    }
}
