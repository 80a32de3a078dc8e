//! The inspector's metrics, registered with the agent's others: what it captured and
//! evicted, the bytes it holds, its replays, and what its listener refused.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::{Registry, Unit},
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// Why the inspector's listener refused a connection or request
/// (`hopgate_agent_inspector_refused_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// More connections than `inspect_max_connections`.
    Connections,
    /// A `Host` that is neither `localhost` nor an IP address with the listener's port
    /// (DNS rebinding).
    Host,
    /// A replay from another site (an `Origin` or `Sec-Fetch-Site` saying so, or not JSON).
    CrossSite,
    /// A body over `inspect_max_request_bytes`, or one too slow to arrive.
    TooLarge,
}

impl Refusal {
    const ALL: [Self; 4] = [
        Self::Connections,
        Self::Host,
        Self::CrossSite,
        Self::TooLarge,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Connections => "connections",
            Self::Host => "host",
            Self::CrossSite => "cross_site",
            Self::TooLarge => "too_large",
        }
    }
}

/// The inspector's series.
#[derive(Debug, Clone, Default)]
pub(crate) struct InspectorMetrics {
    pub(crate) captured: Counter,
    pub(crate) evicted: Counter,
    pub(crate) replays: Counter,
    pub(crate) capture_bytes: Gauge,
    refused: Family<ReasonLabels, Counter>,
}

impl InspectorMetrics {
    /// Creates the series (all at 0) in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "hopgate_agent_inspector_captured",
            "Exchanges the request inspector recorded (replays included)",
            metrics.captured.clone(),
        );
        registry.register(
            "hopgate_agent_inspector_evicted",
            "Exchanges the inspector dropped to stay within its count or byte budget",
            metrics.evicted.clone(),
        );
        registry.register(
            "hopgate_agent_inspector_replays",
            "Replays the inspector sent to the local service",
            metrics.replays.clone(),
        );
        registry.register_with_unit(
            "hopgate_agent_inspector_capture",
            "Bytes the inspector holds (heads and body prefixes)",
            Unit::Bytes,
            metrics.capture_bytes.clone(),
        );
        for refusal in Refusal::ALL {
            let _ = metrics.refused.get_or_create(&ReasonLabels {
                reason: refusal.label(),
            });
        }
        registry.register(
            "hopgate_agent_inspector_refused",
            "Connections and requests the inspector's listener refused, by reason \
             (connections, host, cross_site, too_large)",
            metrics.refused.clone(),
        );
        metrics
    }

    pub(crate) fn refused(&self, why: Refusal) {
        self.refused
            .get_or_create(&ReasonLabels {
                reason: why.label(),
            })
            .inc();
    }
}
