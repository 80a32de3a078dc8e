//! One tunnel's metrics: whether it is connected and over what, how many sessions it
//! holds and wants and on how many pods, why it connected again, and why it changed
//! transport.

use std::sync::Arc;

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::Metrics;
use crate::tunnel::SwitchReason;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct DomainLabels {
    domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct TransportLabels {
    domain: String,
    transport: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct ReconnectLabels {
    domain: String,
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub(super) struct SwitchLabels {
    domain: String,
    to: &'static str,
    reason: &'static str,
}

/// Why a tunnel connects again (`hopgate_agent_reconnects_total{reason}`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Reconnect {
    /// The session or its control stream was lost.
    Lost,
    /// The gateway said go-away (it is restarting).
    GoAway,
    /// The gateway refused the hello for a retryable reason.
    Refused,
    /// No session: resolve, DTLS or hello failed.
    ConnectFailed,
}

impl Reconnect {
    const ALL: [Self; 4] = [Self::Lost, Self::GoAway, Self::Refused, Self::ConnectFailed];

    fn label(self) -> &'static str {
        match self {
            Self::Lost => "lost",
            Self::GoAway => "go_away",
            Self::Refused => "refused",
            Self::ConnectFailed => "connect_failed",
        }
    }
}

/// Every tunnel's series, by domain.
#[derive(Debug)]
pub(super) struct TunnelFamilies {
    connected: Family<DomainLabels, Gauge>,
    /// `hopgate_agent_transport{domain,transport}`: 1 for what carries a live session.
    transports: Family<TransportLabels, Gauge>,
    reconnects: Family<ReconnectLabels, Counter>,
    switches: Family<SwitchLabels, Counter>,
    held: Family<DomainLabels, Gauge>,
    wanted: Family<DomainLabels, Gauge>,
    pods: Family<DomainLabels, Gauge>,
}

impl TunnelFamilies {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let families = Self {
            connected: Family::default(),
            transports: Family::default(),
            reconnects: Family::default(),
            switches: Family::default(),
            held: Family::default(),
            wanted: Family::default(),
            pods: Family::default(),
        };
        registry.register(
            "hopgate_agent_connected",
            "1 while the tunnel of this domain has a live session",
            families.connected.clone(),
        );
        registry.register(
            "hopgate_agent_transport",
            "1 for what carries the tunnel's live sessions: udp (DTLS) or tcp (TLS to the \
             gateway's HTTPS port, where UDP is blocked)",
            families.transports.clone(),
        );
        registry.register(
            "hopgate_agent_reconnects",
            "Times a tunnel connected again, by why (lost, go_away, refused, connect_failed)",
            families.reconnects.clone(),
        );
        registry.register(
            "hopgate_agent_transport_switches",
            "Times a tunnel on --transport auto changed transport, by where to and why \
             (udp_silent: its DTLS session went unheard; udp_unanswered: DTLS did not answer a \
             dial; udp_answers: a probe got a DTLS session)",
            families.switches.clone(),
        );
        registry.register(
            "hopgate_agent_tunnel_sessions",
            "Sessions the tunnel holds (serving, not leaving)",
            families.held.clone(),
        );
        registry.register(
            "hopgate_agent_tunnel_sessions_wanted",
            "Sessions the tunnel wants, on distinct pods (ha_connections; 1 with a gateway \
             that does not name its pods)",
            families.wanted.clone(),
        );
        registry.register(
            "hopgate_agent_tunnel_pods",
            "Distinct gateway pods the tunnel's sessions are on",
            families.pods.clone(),
        );
        families
    }
}

/// What a tunnel's sessions are now, for its gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SetGauges {
    pub(crate) held: usize,
    pub(crate) wanted: usize,
    pub(crate) pods: usize,
    pub(crate) udp: bool,
    pub(crate) tcp: bool,
}

/// One tunnel's view of the metrics: its gauges, and its domain for reconnects.
#[derive(Debug, Clone)]
pub(crate) struct TunnelMetrics {
    pub(crate) all: Arc<Metrics>,
    domain: String,
    connected: Gauge,
    /// `udp` and `tcp`.
    transport: [Gauge; 2],
    held: Gauge,
    wanted: Gauge,
    pods: Gauge,
}

impl TunnelMetrics {
    /// The handle of the tunnel of `domain` (its series appear at 0 at once).
    pub(super) fn new(all: &Arc<Metrics>, domain: &str) -> Self {
        let families = &all.tunnels;
        let labels = DomainLabels {
            domain: domain.to_owned(),
        };
        let transport = ["udp", "tcp"].map(|transport| {
            let labels = TransportLabels {
                domain: domain.to_owned(),
                transport,
            };
            families.transports.get_or_create(&labels).clone()
        });
        for why in Reconnect::ALL {
            let labels = ReconnectLabels {
                domain: domain.to_owned(),
                reason: why.label(),
            };
            let _ = families.reconnects.get_or_create(&labels);
        }
        for why in SwitchReason::ALL {
            let _ = families.switches.get_or_create(&switch_labels(domain, why));
        }
        Self {
            all: all.clone(),
            domain: domain.to_owned(),
            connected: families.connected.get_or_create(&labels).clone(),
            transport,
            held: families.held.get_or_create(&labels).clone(),
            wanted: families.wanted.get_or_create(&labels).clone(),
            pods: families.pods.get_or_create(&labels).clone(),
        }
    }

    /// The gauge `/readyz` reads: 1 while the tunnel has a live session.
    pub(super) fn connected_gauge(&self) -> Gauge {
        self.connected.clone()
    }

    /// The tunnel's sessions are now as `now` says.
    pub(crate) fn sessions(&self, now: SetGauges) {
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.connected.set(i64::from(now.held > 0));
        self.transport[0].set(i64::from(now.udp));
        self.transport[1].set(i64::from(now.tcp));
        self.held.set(gauge(now.held));
        self.wanted.set(gauge(now.wanted));
        self.pods.set(gauge(now.pods));
    }

    pub(crate) fn reconnect(&self, why: Reconnect) {
        let labels = ReconnectLabels {
            domain: self.domain.clone(),
            reason: why.label(),
        };
        self.all.tunnels.reconnects.get_or_create(&labels).inc();
    }

    /// The tunnel changed transport, for `why`.
    pub(crate) fn switched(&self, why: SwitchReason) {
        let labels = switch_labels(&self.domain, why);
        self.all.tunnels.switches.get_or_create(&labels).inc();
    }
}

fn switch_labels(domain: &str, why: SwitchReason) -> SwitchLabels {
    SwitchLabels {
        domain: domain.to_owned(),
        to: why.to(),
        reason: why.label(),
    }
}
