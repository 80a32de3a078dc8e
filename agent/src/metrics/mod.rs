//! The agent's Prometheus metrics (prometheus-client): the process's requests and bytes
//! here, each tunnel's sessions in `tunnel`, and the optional listener that serves them
//! (`HOP_METRICS_LISTEN`) in `serve`.
//!
//! Series with fixed labels (status classes, byte directions, a tunnel's gauge) are
//! created once and their handles kept, so counting a request takes no lock and allocates
//! nothing.

mod serve;
mod tunnel;

use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

pub(crate) use self::serve::{bind, serve};
use self::tunnel::TunnelFamilies;
pub(crate) use self::tunnel::{Reconnect, SetGauges, TunnelMetrics};
use crate::inspector::InspectorMetrics;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ErrorLabels {
    reason: &'static str,
}

/// The reset codes of a failed local call.
const LOCAL_ERRORS: [&str; 3] = [
    "upstream_unreachable",
    "upstream_timeout",
    "upstream_protocol_error",
];

/// Every metric of the agent. One per process.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    tunnels: TunnelFamilies,
    /// `1xx` … `5xx`, then `error` (no answer: the local target failed).
    requests: [Counter; 6],
    request_duration: Histogram,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    local_errors: Family<ErrorLabels, Counter>,
    /// `hopgate_agent_access_denied_total{reason}`: requests refused for want of the
    /// tunnel's Basic credentials.
    access_denied: Family<ErrorLabels, Counter>,
    /// Every tunnel's connected gauge, for `/readyz`.
    connected: Mutex<Vec<Gauge>>,
    /// The request inspector's.
    pub(crate) inspector: InspectorMetrics,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let tunnels = TunnelFamilies::register(&mut registry);
        let by_status = Family::<StatusLabels, Counter>::default();
        let requests = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"]
            .map(|status| by_status.get_or_create(&StatusLabels { status }).clone());
        registry.register(
            "hopgate_agent_requests",
            "Requests served, by the local service's status class (error = no answer)",
            by_status,
        );
        // 1 ms … ~65 s.
        let request_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register_with_unit(
            "hopgate_agent_request_duration",
            "From the request's head arriving to the end of the answer",
            Unit::Seconds,
            request_duration.clone(),
        );
        let bytes = Family::<DirectionLabels, Counter>::default();
        let bytes_in = bytes
            .get_or_create(&DirectionLabels { direction: "in" })
            .clone();
        let bytes_out = bytes
            .get_or_create(&DirectionLabels { direction: "out" })
            .clone();
        // `hopgate_agent` + unit `_bytes` + counter `_total` = `hopgate_agent_bytes_total`.
        registry.register_with_unit(
            "hopgate_agent",
            "Body bytes: in = gateway to local service, out = local service to gateway",
            Unit::Bytes,
            bytes,
        );
        let local_errors = Family::<ErrorLabels, Counter>::default();
        // At 0 from the start (a family without series isn't exposed).
        for reason in LOCAL_ERRORS {
            let _ = local_errors.get_or_create(&ErrorLabels { reason });
        }
        registry.register(
            "hopgate_agent_local_errors",
            "Requests the local service failed, by reset code (upstream_unreachable, \
             upstream_timeout, upstream_protocol_error)",
            local_errors.clone(),
        );
        let access_denied = Family::<ErrorLabels, Counter>::default();
        for reason in ["auth_missing", "auth_wrong"] {
            let _ = access_denied.get_or_create(&ErrorLabels { reason });
        }
        registry.register(
            "hopgate_agent_access_denied",
            "Requests answered 401 by the agent (--basic-auth): credentials missing \
             (auth_missing) or wrong (auth_wrong)",
            access_denied.clone(),
        );
        let inspector = InspectorMetrics::register(&mut registry);
        Self {
            registry,
            inspector,
            access_denied,
            tunnels,
            requests,
            request_duration,
            bytes_in,
            bytes_out,
            local_errors,
            connected: Mutex::new(Vec::new()),
        }
    }

    /// The handle of one tunnel (its gauges appear at 0 at once).
    pub(crate) fn tunnel(self: &Arc<Self>, domain: &str) -> TunnelMetrics {
        let tunnel = TunnelMetrics::new(self, domain);
        self.connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tunnel.connected_gauge());
        tunnel
    }

    /// One request answered with `status`, or not answered (`None`).
    pub(crate) fn request(&self, status: Option<u16>, took: std::time::Duration) {
        let class = match status {
            Some(status @ 100..=599) => usize::from(status / 100 - 1),
            _ => 5,
        };
        self.requests[class].inc();
        self.request_duration.observe(took.as_secs_f64());
    }

    pub(crate) fn local_error(&self, reason: &'static str) {
        self.local_errors
            .get_or_create(&ErrorLabels { reason })
            .inc();
    }

    /// One request refused for want of the tunnel's Basic credentials.
    pub(crate) fn access_denied(&self, denial: hopgate_access::Denial) {
        self.access_denied
            .get_or_create(&ErrorLabels {
                reason: denial.reason(),
            })
            .inc();
    }

    /// Every tunnel has a live session (and there is at least one).
    pub(super) fn ready(&self) -> bool {
        let tunnels = self
            .connected
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        !tunnels.is_empty() && tunnels.iter().all(|up| up.get() == 1)
    }

    pub(super) fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String can't fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_tunnel_is_up() {
        let metrics = Arc::new(Metrics::new());
        assert!(!metrics.ready(), "no tunnel");
        let a = metrics.tunnel("a.example.com");
        let b = metrics.tunnel("b.example.com");
        let one_over = |udp, tcp| SetGauges {
            held: 1,
            wanted: 2,
            pods: 1,
            udp,
            tcp,
        };
        a.sessions(one_over(true, false));
        assert!(!metrics.ready());
        b.sessions(one_over(false, true));
        assert!(metrics.ready());
        metrics.request(Some(204), std::time::Duration::from_millis(1));
        metrics.request(None, std::time::Duration::ZERO);
        let text = metrics.text();
        for line in [
            "hopgate_agent_transport{domain=\"a.example.com\",transport=\"udp\"} 1",
            "hopgate_agent_transport{domain=\"b.example.com\",transport=\"udp\"} 0",
            "hopgate_agent_transport{domain=\"b.example.com\",transport=\"tcp\"} 1",
            "hopgate_agent_tunnel_sessions{domain=\"a.example.com\"} 1",
            "hopgate_agent_tunnel_sessions_wanted{domain=\"a.example.com\"} 2",
            "hopgate_agent_tunnel_pods{domain=\"b.example.com\"} 1",
        ] {
            assert!(text.contains(line), "no {line} in {text}");
        }
        assert!(
            text.contains("hopgate_agent_requests_total{status=\"2xx\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hopgate_agent_requests_total{status=\"error\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hopgate_agent_request_duration_seconds_count 2"),
            "{text}"
        );
    }
}
