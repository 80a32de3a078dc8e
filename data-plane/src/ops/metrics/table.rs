//! The routing table and cross-pod routing: the table's version and link to the
//! control-plane, how long its changes took to arrive, and the requests relayed to other
//! pods.
//!
//! - `hopgate_table_propagation_seconds`: from the control-plane committing a change to
//!   this pod applying it;
//! - `hopgate_table_version`, `hopgate_table_connected`: set at scrape time;
//! - `hopgate_relayed_requests_total`, `hopgate_relay_remote_domains`: copied at scrape
//!   time from the relay's counter and the routing table.

use std::sync::atomic::Ordering;

use prometheus_client::{
    metrics::{
        counter::Counter,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

use super::{Metrics, Snapshot, set_gauge};

pub(super) struct TableMetrics {
    propagation: Histogram,
    version: Gauge,
    connected: Gauge,
    /// Counted by the relay (an atomic it shares with the handlers).
    relayed_requests: Counter,
    relay_remote_domains: Gauge,
}

impl TableMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        // 1 ms … ~33 s.
        let propagation = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register_with_unit(
            "hopgate_table_propagation",
            "From the control-plane committing a change to this pod applying it",
            Unit::Seconds,
            propagation.clone(),
        );
        let mut gauge = |name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let version = gauge(
            "hopgate_table_version",
            "Version of the routing table this pod serves from",
        );
        let connected = gauge(
            "hopgate_table_connected",
            "1 while the control-plane's table stream is open",
        );
        let relay_remote_domains = gauge(
            "hopgate_relay_remote_domains",
            "Domains whose agent session is on another pod (placements)",
        );
        let relayed_requests = Counter::default();
        registry.register(
            "hopgate_relayed_requests",
            "Visitor requests relayed to the pod holding the agent's session",
            relayed_requests.clone(),
        );
        Self {
            propagation,
            version,
            connected,
            relayed_requests,
            relay_remote_domains,
        }
    }

    /// Sets the gauges and copied counters from `now`.
    pub(super) fn set(&self, now: &Snapshot) {
        set_gauge(&self.version, now.table_version);
        set_gauge(&self.connected, u64::from(now.table_connected));
        set_gauge(&self.relay_remote_domains, now.relay_remote_domains as u64);
        self.relayed_requests
            .inner()
            .store(now.relayed_requests, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A delta committed at `committed_unix_ms` was applied now.
    pub(crate) fn table_applied(&self, committed_unix_ms: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // Clocks apart by a little can make it negative: count that as no lag.
        let lag_ms = now.saturating_sub(committed_unix_ms);
        self.table.propagation.observe(lag_ms as f64 / 1000.0);
    }
}
