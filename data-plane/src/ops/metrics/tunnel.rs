//! The agents' sessions: how their hellos ended, the request streams reset, the sessions
//! the gateway closed, and how many are registered.
//!
//! - `hopgate_dtls_handshakes_total{result}`: one series per [`Handshake`];
//! - `hopgate_stream_resets_total{reason}`: the agent's reset code, `visitor_gone`,
//!   `agent_violation` or `agent_malformed`;
//! - `hopgate_sessions_closed_total{reason}`: replaced, revoked, left by their agent, or
//!   closed because their agent went unheard while requests waited;
//! - `hopgate_agent_sessions`: set at scrape time.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{Metrics, ReasonLabels};

/// What the hello of a new agent session came to (`hopgate_dtls_handshakes_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Ok,
    BadKey,
    UnknownDomain,
    BadVersion,
    /// Refused while the pod drains.
    Unavailable,
    /// Refused: the domain's pool holds as many sessions as it may.
    PoolFull,
    /// The hello couldn't be read (garbage, wrong framing).
    BadHello,
    /// No control stream within the deadline, or the session ended before its hello.
    Failed,
}

impl Handshake {
    const ALL: [Self; 8] = [
        Self::Ok,
        Self::BadKey,
        Self::UnknownDomain,
        Self::BadVersion,
        Self::Unavailable,
        Self::PoolFull,
        Self::BadHello,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::BadKey => "bad_key",
            Self::UnknownDomain => "unknown_domain",
            Self::BadVersion => "bad_version",
            Self::Unavailable => "unavailable",
            Self::PoolFull => "pool_full",
            Self::BadHello => "bad_hello",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

pub(super) struct TunnelMetrics {
    handshakes: [Counter; Handshake::ALL.len()],
    resets: Family<ReasonLabels, Counter>,
    session_ends: SessionEnds,
    /// `hopgate_agent_sessions`.
    pub(super) agent_sessions: Gauge,
}

impl TunnelMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let handshakes = register_handshakes(registry);
        let resets = register_resets(registry);
        let session_ends = register_session_ends(registry);
        let agent_sessions = Gauge::default();
        registry.register(
            "hopgate_agent_sessions",
            "Agent sessions registered in the routing table",
            agent_sessions.clone(),
        );
        Self {
            handshakes,
            resets,
            session_ends,
            agent_sessions,
        }
    }
}

/// `hopgate_dtls_handshakes_total{result}`, one counter per way a hello can end.
fn register_handshakes(registry: &mut Registry) -> [Counter; Handshake::ALL.len()] {
    let family = Family::<ResultLabels, Counter>::default();
    let handshakes = Handshake::ALL.map(|h| {
        family
            .get_or_create(&ResultLabels { result: h.label() })
            .clone()
    });
    registry.register(
        "hopgate_dtls_handshakes",
        "Agent sessions by how their hello ended",
        family,
    );
    handshakes
}

/// `hopgate_stream_resets_total{reason}`, every reason at 0 from the start (a family
/// without series isn't exposed).
fn register_resets(registry: &mut Registry) -> Family<ReasonLabels, Counter> {
    let resets = Family::<ReasonLabels, Counter>::default();
    let reasons = hopgate_protocol::ResetCode::ALL.iter().map(|c| c.as_str());
    for reason in reasons.chain(["visitor_gone", "agent_violation", "agent_malformed"]) {
        let _ = resets.get_or_create(&ReasonLabels { reason });
    }
    registry.register(
        "hopgate_stream_resets",
        "Request streams reset, by reason (the agent's reset code; visitor_gone; agent_violation, agent_malformed: the agent's answer broke the stream's rules or was no valid frame)",
        resets.clone(),
    );
    resets
}

/// `hopgate_sessions_closed_total{reason}`, one counter per reason.
#[derive(Debug)]
struct SessionEnds {
    replaced: Counter,
    revoked: Counter,
    /// Left by its agent once its requests were over.
    left: Counter,
    /// Left by its agent, closed at the drain limit with requests still on it.
    left_at_limit: Counter,
    /// Its agent went unheard for `agent_unheard_after` while requests waited.
    unheard: Counter,
}

fn register_session_ends(registry: &mut Registry) -> SessionEnds {
    let ends = Family::<ReasonLabels, Counter>::default();
    let [replaced, revoked, left, left_at_limit, unheard] = [
        "replaced",
        "revoked",
        "left",
        "left_drain_limit",
        "agent_unheard",
    ]
    .map(|reason| ends.get_or_create(&ReasonLabels { reason }).clone());
    registry.register(
        "hopgate_sessions_closed",
        "Agent sessions closed by the gateway: replaced by a newer one, revoked by the \
         control-plane, left by their agent once their requests were over (left) or at \
         the drain limit (left_drain_limit), or their agent unheard for \
         HOP_SERVER_AGENT_UNHEARD_AFTER while requests waited (agent_unheard)",
        ends,
    );
    SessionEnds {
        replaced,
        revoked,
        left,
        left_at_limit,
        unheard,
    }
}

impl Metrics {
    pub(crate) fn handshake(&self, result: Handshake) {
        let index = Handshake::ALL
            .iter()
            .position(|h| *h == result)
            .unwrap_or(0);
        self.tunnel.handshakes[index].inc();
    }

    pub(crate) fn reset(&self, reason: &'static str) {
        self.tunnel
            .resets
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    pub(crate) fn session_replaced(&self) {
        self.tunnel.session_ends.replaced.inc();
    }

    /// A session its agent left was closed: its requests were over (`idle`), or the drain
    /// limit came first.
    pub(crate) fn session_left(&self, idle: bool) {
        if idle {
            self.tunnel.session_ends.left.inc();
        } else {
            self.tunnel.session_ends.left_at_limit.inc();
        }
    }

    /// A session was closed: its agent went unheard while requests waited on it.
    pub(crate) fn session_unheard(&self) {
        self.tunnel.session_ends.unheard.inc();
    }

    pub(crate) fn session_revoked(&self) {
        self.tunnel.session_ends.revoked.inc();
    }
}
