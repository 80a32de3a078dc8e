//! One tunnel's life: it keeps `ha_connections` sessions (default 2) on distinct gateway
//! pods, so that losing a pod loses no visitor request, and serves the gateway's request
//! streams on all of them.
//!
//! - `establish`: one session: dial (`dial`: UDP, TCP, or UDP then TCP) from a fresh
//!   socket, say hello (with the tunnel's `agent_id`, so the pod lets the agent's sessions
//!   serve side by side), read the answer (which pod, what it did: joined a pool, replaced
//!   an agent);
//! - `one_session`: a session's task: serve its streams, answer its control stream, end on
//!   go-away (draining in the background), replacement, loss, or when told to leave;
//! - `plan`: the rules, without I/O: which sessions stay (distinct pods), how many
//!   attempts a missing session gets, make before break;
//! - `switching`: the rules, without I/O, of `--transport auto` under a live tunnel: which
//!   transport new sessions dial, when a DTLS session is silent, when to probe UDP again;
//! - `session_set`: the one owner of the sessions, which drives the plan and the
//!   switching and says what it does on the status line, the JSON log and the metrics.
//!
//! With one session wanted, or a gateway that doesn't name its pods, it is the agent as it
//! always was: one session, reconnected with backoff after any loss, at once after a
//! go-away; a go-away saying another agent took the domain over stops the tunnel. With
//! `pool`, the hello asks to serve the domain together with the other pooled agents.

mod establish;
mod one_session;
mod plan;
mod session_set;
mod switching;

use std::sync::Arc;

use hopgate_transport::ClientConfig;
use slog::Logger;
use tokio::sync::watch;

pub(crate) use self::switching::SwitchReason;
use crate::{
    RunError,
    config::{ServerAddr, TransportChoice, TunnelSettings},
    forward::Forwarder,
    metrics::TunnelMetrics,
};

/// One domain served from one local service, over the sessions of a [`session_set`].
pub(crate) struct Tunnel {
    pub(crate) settings: TunnelSettings,
    pub(crate) server: ServerAddr,
    /// What carries the sessions, and how many the tunnel keeps.
    pub(crate) transport: TransportChoice,
    pub(crate) client_config: Arc<ClientConfig>,
    pub(crate) forwarder: Arc<Forwarder>,
    pub(crate) metrics: TunnelMetrics,
    /// Carries the tunnel's `domain`.
    pub(crate) log: Logger,
}

impl Tunnel {
    /// Serves until `shutdown` flips or the gateway refuses the tunnel for good.
    pub(crate) async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), RunError> {
        session_set::SessionSet::new(&self).run(shutdown).await
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
    use std::time::Duration;

    use hopgate_backoff::Backoff;

    use super::session_set::{FIRST_RETRY, MAX_RETRY};
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
