//! The pod's Prometheus metrics (prometheus-client), served on the internal listener's
//! `/metrics`.
//!
//! Label sets are bounded and built from `&'static str`s, so counting a request allocates
//! nothing: fixed series (handshake results, byte directions) are created once and their
//! handles kept; the request family's lookup is one read lock inside prometheus-client's
//! `Family`. Gauges of state owned elsewhere (sessions, the table) are read at scrape time
//! ([`Metrics::encode`] with a [`Snapshot`]).
//!
//! This module holds the registry; each family group registers itself and adds the
//! methods that count it to [`Metrics`]:
//!
//! - `visitor`: requests, their duration, body bytes, access denials, requests in flight;
//! - `rejected`: every limit that turned traffic away ([`rejected::REJECT_REASONS`]);
//! - `tunnel`: the agents' hellos, stream resets, sessions closed and registered;
//! - `dtls`: the agents' listener (DTLS and its TCP fallback) and what it refused;
//!   `migration`: records from an agent's new port;
//! - `table`: the routing table's version and propagation, and cross-pod relays;
//! - `pool`: agent pools and retries; `tls`: visitors' TLS handshakes and ticket keys.

use hopgate_transport::ListenerStats;
use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use dtls::DtlsMetrics;
use migration::MigrationMetrics;
use pool::PoolMetrics;
pub(crate) use pool::PoolSnapshot;
use table::TableMetrics;
use tls::TlsMetrics;
pub(crate) use tunnel::Handshake;
use tunnel::TunnelMetrics;
pub(crate) use visitor::DomainClass;
use visitor::VisitorMetrics;

mod dtls;
mod migration;
mod pool;
mod rejected;
mod table;
mod tls;
mod tunnel;
mod visitor;

/// `{reason}`: stream resets, closed sessions, DTLS failures and drops.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// State read at scrape time.
pub(crate) struct Snapshot {
    pub(crate) agent_sessions: usize,
    pub(crate) in_flight: usize,
    /// The DTLS listener's state and what it refused before any hello.
    pub(crate) listener: ListenerStats,
    /// Sessions over DTLS on each socket of the DTLS port's group.
    pub(crate) dtls_socket_sessions: Vec<usize>,
    pub(crate) table_version: u64,
    pub(crate) table_connected: bool,
    pub(crate) relayed_requests: u64,
    pub(crate) relay_remote_domains: usize,
    pub(crate) pools: PoolSnapshot,
}

/// Every metric of the pod. One per process, shared behind an `Arc`.
pub(crate) struct Metrics {
    registry: Registry,
    visitor: VisitorMetrics,
    /// `hopgate_rejected_total{reason}`.
    rejected: Family<ReasonLabels, Counter>,
    tunnel: TunnelMetrics,
    dtls: DtlsMetrics,
    migrations: MigrationMetrics,
    table: TableMetrics,
    pools: PoolMetrics,
    tls: TlsMetrics,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let tunnel = TunnelMetrics::register(&mut registry);
        let visitor = VisitorMetrics::register(&mut registry);
        let rejected = rejected::register_rejected(&mut registry);
        let table = TableMetrics::register(&mut registry);
        let dtls = DtlsMetrics::register(&mut registry, &rejected);
        let pools = PoolMetrics::register(&mut registry);
        let migrations = MigrationMetrics::register(&mut registry);
        let tls = TlsMetrics::register(&mut registry);
        Self {
            registry,
            visitor,
            rejected,
            tunnel,
            dtls,
            migrations,
            table,
            pools,
            tls,
        }
    }

    /// The exposition text (OpenMetrics), with the gauges set from `now`.
    pub(crate) fn encode(&self, now: &Snapshot) -> String {
        set_gauge(&self.tunnel.agent_sessions, now.agent_sessions as u64);
        set_gauge(&self.visitor.in_flight, now.in_flight as u64);
        self.dtls
            .copy_from(&now.listener, &now.dtls_socket_sessions);
        self.migrations.copy_from(&now.listener);
        self.table.set(now);
        self.pools.set(now.pools);
        let mut out = String::new();
        // Writing to a String can't fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Sets `gauge` to `value`, saturating at the gauge's largest.
fn set_gauge(gauge: &Gauge, value: u64) {
    gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
}

/// `Content-Type` of the exposition.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hopgate_table::access::Denial;

    use super::*;

    fn idle() -> Snapshot {
        Snapshot {
            agent_sessions: 1,
            in_flight: 0,
            listener: ListenerStats {
                dtls_associations: 1,
                dtls_handshaking: 0,
                dtls_handshake_steps_queued: 4,
                sessions: 1,
                empty_dropped: 7,
                unsolicited_dropped: 40,
                undecryptable_dropped: 2,
                handshakes_refused: 0,
                handshakes_refused_per_ip: 6,
                cookies_sent: 50,
                bad_cookies: 4,
                handshake_records_refused: 3,
                handshakes_expired: 5,
                handshakes_paced_out: 9,
                handshake_datagrams_dropped: 8,
                tcp_sessions: 2,
                tcp_connections: 2,
                tcp_refused: 0,
                tcp_bad_frames: 0,
                tcp_queue_full_dropped: 9,
                migrations_moved: 3,
                migrations_unauthenticated: 11,
                migrations_stale: 12,
                migrations_rate_limited: 13,
            },
            dtls_socket_sessions: vec![1, 0],
            table_version: 7,
            table_connected: true,
            relayed_requests: 3,
            relay_remote_domains: 2,
            pools: PoolSnapshot {
                pooled_sessions: 2,
                choices: (5, 7),
            },
        }
    }

    #[test]
    fn names_units_and_labels() {
        let metrics = Metrics::new();
        metrics.handshake(Handshake::BadKey);
        metrics.request(DomainClass::Tunnel, "GET", 200, Duration::from_millis(3));
        metrics.request(DomainClass::Unknown, "BREW", 404, Duration::ZERO);
        metrics.bytes_out(10);
        metrics.access_denied(Denial::AuthWrong);
        metrics.request_retried("stream_broke");
        metrics.handshake(Handshake::PoolFull);
        let text = metrics.encode(&idle());
        for line in [
            "hopgate_dtls_handshakes_total{result=\"bad_key\"} 1",
            "hopgate_dtls_handshakes_total{result=\"ok\"} 0",
            "hopgate_requests_total{domain_class=\"tunnel\",method=\"GET\",status=\"200\"} 1",
            "hopgate_requests_total{domain_class=\"unknown\",method=\"other\",status=\"404\"} 1",
            "hopgate_request_duration_seconds_count 2",
            "hopgate_bytes_total{direction=\"out\"} 10",
            "hopgate_table_version 7",
            "hopgate_table_connected 1",
            "hopgate_relayed_requests_total 3",
            "hopgate_relay_remote_domains 2",
            "hopgate_dtls_handshake_failures_total{reason=\"expired\"} 5",
            "hopgate_dtls_handshake_failures_total{reason=\"paced_out\"} 9",
            "hopgate_dtls_handshake_failures_total{reason=\"over_limit\"} 0",
            "hopgate_dtls_dropped_datagrams_total{reason=\"empty\"} 7",
            "hopgate_dtls_dropped_datagrams_total{reason=\"unsolicited\"} 40",
            "hopgate_dtls_dropped_datagrams_total{reason=\"undecryptable\"} 2",
            "hopgate_dtls_dropped_datagrams_total{reason=\"bad_handshake_record\"} 3",
            "hopgate_dtls_dropped_datagrams_total{reason=\"handshake_backlog\"} 8",
            "hopgate_dtls_associations 1",
            "hopgate_dtls_handshake_steps_queued 4",
            "hopgate_dtls_migrations_total{result=\"moved\"} 3",
            "hopgate_dtls_migrations_total{result=\"unauthenticated\"} 11",
            "hopgate_dtls_migrations_total{result=\"stale\"} 12",
            "hopgate_dtls_migrations_total{result=\"rate_limited\"} 13",
            "hopgate_transport_sessions{transport=\"udp\"} 1",
            "hopgate_transport_sessions{transport=\"tcp\"} 2",
            "hopgate_dtls_socket_sessions{socket=\"0\"} 1",
            "hopgate_dtls_socket_sessions{socket=\"1\"} 0",
            "hopgate_tcp_tunnel_dropped_packets_total 9",
            "hopgate_rejected_total{reason=\"tunnel_tcp_bad_frame\"} 0",
            "hopgate_rejected_total{reason=\"dtls_per_ip\"} 6",
            "hopgate_rejected_total{reason=\"dtls_bad_cookie\"} 4",
            "hopgate_rejected_total{reason=\"hello_timeout\"} 0",
            "hopgate_access_denied_total{reason=\"auth_wrong\"} 1",
            "hopgate_access_denied_total{reason=\"cidr_denied\"} 0",
            "hopgate_dtls_handshakes_total{result=\"pool_full\"} 1",
            "hopgate_pool_sessions 2",
            "hopgate_pool_choices_total{choice=\"least_outstanding\"} 5",
            "hopgate_pool_choices_total{choice=\"tie\"} 7",
            "hopgate_request_retries_total{reason=\"stream_broke\"} 1",
            "hopgate_request_retries_total{reason=\"session_lost\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
