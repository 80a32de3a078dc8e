//! The agent's Prometheus metrics (prometheus-client) and the optional listener that serves
//! them (`HOP_METRICS_LISTEN`): `/metrics`, `/healthz` (the process runs) and `/readyz`
//! (every tunnel has a live session).
//!
//! Series with fixed labels (status classes, byte directions, a tunnel's gauge) are
//! created once and their handles kept, so counting a request takes no lock and allocates
//! nothing.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
};

use bytes::Bytes;
use hopgate_transport::Carrier;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
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
use slog::{Logger, info, warn};
use tokio::net::TcpListener;

use crate::inspector::InspectorMetrics;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DomainLabels {
    domain: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabels {
    domain: String,
    transport: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReconnectLabels {
    domain: String,
    reason: &'static str,
}

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
    fn label(self) -> &'static str {
        match self {
            Self::Lost => "lost",
            Self::GoAway => "go_away",
            Self::Refused => "refused",
            Self::ConnectFailed => "connect_failed",
        }
    }
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
    sessions: Family<DomainLabels, Gauge>,
    /// `hopgate_agent_transport{domain,transport}`: 1 for what carries the live session.
    transports: Family<TransportLabels, Gauge>,
    reconnects: Family<ReconnectLabels, Counter>,
    /// `1xx` … `5xx`, then `error` (no answer: the local target failed).
    requests: [Counter; 6],
    request_duration: Histogram,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    local_errors: Family<ErrorLabels, Counter>,
    /// `hopgate_agent_access_denied_total{reason}`: requests refused for want of the
    /// tunnel's Basic credentials.
    access_denied: Family<ErrorLabels, Counter>,
    /// Every tunnel's session gauge, for `/readyz`.
    tunnels: Mutex<Vec<Gauge>>,
    /// The request inspector's.
    pub(crate) inspector: InspectorMetrics,
}

/// One tunnel's view of the metrics: its session gauge, and its domain for reconnects.
#[derive(Debug, Clone)]
pub(crate) struct TunnelMetrics {
    pub(crate) all: Arc<Metrics>,
    domain: String,
    connected: Gauge,
    /// `udp` and `tcp`.
    transport: [Gauge; 2],
}

impl TunnelMetrics {
    /// The session is up over `carrier`, or (`None`) down.
    pub(crate) fn connected(&self, carrier: Option<Carrier>) {
        self.connected.set(i64::from(carrier.is_some()));
        self.transport[0].set(i64::from(carrier == Some(Carrier::Udp)));
        self.transport[1].set(i64::from(carrier == Some(Carrier::Tcp)));
    }

    pub(crate) fn reconnect(&self, why: Reconnect) {
        let labels = ReconnectLabels {
            domain: self.domain.clone(),
            reason: why.label(),
        };
        self.all.reconnects.get_or_create(&labels).inc();
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let sessions = Family::<DomainLabels, Gauge>::default();
        registry.register(
            "hopgate_agent_connected",
            "1 while the tunnel of this domain has a live session",
            sessions.clone(),
        );
        let transports = Family::<TransportLabels, Gauge>::default();
        registry.register(
            "hopgate_agent_transport",
            "1 for what carries the tunnel's live session: udp (DTLS) or tcp (TLS to the \
             gateway's HTTPS port, where UDP is blocked)",
            transports.clone(),
        );
        let reconnects = Family::<ReconnectLabels, Counter>::default();
        registry.register(
            "hopgate_agent_reconnects",
            "Times a tunnel connected again, by why (lost, go_away, refused, connect_failed)",
            reconnects.clone(),
        );
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
            sessions,
            transports,
            reconnects,
            requests,
            request_duration,
            bytes_in,
            bytes_out,
            local_errors,
            tunnels: Mutex::new(Vec::new()),
        }
    }

    /// The handle of one tunnel (its gauge appears at 0 at once).
    pub(crate) fn tunnel(self: &Arc<Self>, domain: &str) -> TunnelMetrics {
        let labels = DomainLabels {
            domain: domain.to_owned(),
        };
        let connected = self.sessions.get_or_create(&labels).clone();
        let transport = [Carrier::Udp, Carrier::Tcp].map(|carrier| {
            let labels = TransportLabels {
                domain: domain.to_owned(),
                transport: carrier.as_str(),
            };
            self.transports.get_or_create(&labels).clone()
        });
        for why in [
            Reconnect::Lost,
            Reconnect::GoAway,
            Reconnect::Refused,
            Reconnect::ConnectFailed,
        ] {
            let labels = ReconnectLabels {
                domain: domain.to_owned(),
                reason: why.label(),
            };
            let _ = self.reconnects.get_or_create(&labels);
        }
        self.tunnels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(connected.clone());
        TunnelMetrics {
            all: self.clone(),
            domain: domain.to_owned(),
            connected,
            transport,
        }
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
    fn ready(&self) -> bool {
        let tunnels = self.tunnels.lock().unwrap_or_else(PoisonError::into_inner);
        !tunnels.is_empty() && tunnels.iter().all(|up| up.get() == 1)
    }

    fn text(&self) -> String {
        let mut out = String::new();
        // Writing to a String can't fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the task is dropped.
pub(crate) async fn serve(listener: TcpListener, metrics: Arc<Metrics>, log: Logger) {
    if let Ok(addr) = listener.local_addr() {
        info!(log, "metrics listening"; "metrics" => addr.to_string());
    }
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                warn!(log, "metrics listener: accept failed"; "error" => %err);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(answer(&req, &metrics)) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Binds the metrics listener.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

fn answer(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.text(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" if metrics.ready() => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "a tunnel has no live session\n".to_owned(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
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
        a.connected(Some(Carrier::Udp));
        assert!(!metrics.ready());
        b.connected(Some(Carrier::Tcp));
        assert!(metrics.ready());
        metrics.request(Some(204), std::time::Duration::from_millis(1));
        metrics.request(None, std::time::Duration::ZERO);
        let text = metrics.text();
        for line in [
            "hopgate_agent_transport{domain=\"a.example.com\",transport=\"udp\"} 1",
            "hopgate_agent_transport{domain=\"b.example.com\",transport=\"udp\"} 0",
            "hopgate_agent_transport{domain=\"b.example.com\",transport=\"tcp\"} 1",
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
