//! `hopgate_dtls_migrations_total{result}`: what became of DTLS records that came from a new
//! port of an agent's IP (a NAT rebinding, or someone forging one), copied from the
//! listener's counters at scrape time:
//! - `moved`: the record authenticated under a session of that IP, which moved there;
//! - `unauthenticated`: no candidate session's keys opened it (forged, or garbage);
//! - `stale`: it was not newer than everything the IP's sessions had accepted (a replay,
//!   or a late packet from the old path), so it was refused unread;
//! - `rate_limited`: the IP had used its `HOP_SERVER_DTLS_MIGRATION_TRIALS_PER_IP`.

use hopgate_transport::ListenerStats;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

pub(super) struct MigrationMetrics {
    moved: Counter,
    unauthenticated: Counter,
    stale: Counter,
    rate_limited: Counter,
}

impl MigrationMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let family = Family::<ResultLabels, Counter>::default();
        registry.register(
            "hopgate_dtls_migrations",
            "DTLS records from a new port of an agent's IP, by outcome: the session moved \
             there (moved), or the record was dropped (unauthenticated, stale, rate_limited)",
            family.clone(),
        );
        let with = |result| family.get_or_create(&ResultLabels { result }).clone();
        Self {
            moved: with("moved"),
            unauthenticated: with("unauthenticated"),
            stale: with("stale"),
            rate_limited: with("rate_limited"),
        }
    }

    pub(super) fn copy_from(&self, stats: &ListenerStats) {
        for (counter, value) in [
            (&self.moved, stats.migrations_moved),
            (&self.unauthenticated, stats.migrations_unauthenticated),
            (&self.stale, stats.migrations_stale),
            (&self.rate_limited, stats.migrations_rate_limited),
        ] {
            counter
                .inner()
                .store(value, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
