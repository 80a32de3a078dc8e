//! The metrics of the visitors' TLS handshakes on the HTTPS listener:
//!
//! - `hopgate_tls_handshakes_total{session}`: finished handshakes, `new` (a full one: the
//!   certificate sent and signed for) or `resumed` (a session ticket taken back);
//! - `hopgate_tls_ticket_key_rotations_total`: how many times the listener's session ticket
//!   keys were replaced (`HOP_SERVER_TLS_TICKET_KEY_ROTATION`).
//!
//! A resumption refused because the session was made for another name is counted in
//! `hopgate_rejected_total{reason="tls_resumed_for_other_name"}`.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::Metrics;

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SessionLabels {
    session: &'static str,
}

pub(super) struct TlsMetrics {
    /// `[new, resumed]`.
    handshakes: [Counter; 2],
    rotations: Counter,
}

impl TlsMetrics {
    pub(super) fn register(registry: &mut Registry) -> Self {
        let family = Family::<SessionLabels, Counter>::default();
        let handshakes = ["new", "resumed"]
            .map(|session| family.get_or_create(&SessionLabels { session }).clone());
        registry.register(
            "hopgate_tls_handshakes",
            "Visitors' TLS handshakes finished on the HTTPS listener, by session: new (full \
             handshake) or resumed (a session ticket)",
            family,
        );
        let rotations = Counter::default();
        registry.register(
            "hopgate_tls_ticket_key_rotations",
            "Times the HTTPS listener's session ticket keys were replaced; older tickets no \
             longer resume",
            rotations.clone(),
        );
        Self {
            handshakes,
            rotations,
        }
    }

    /// One finished handshake.
    fn handshake(&self, resumed: bool) {
        self.handshakes[usize::from(resumed)].inc();
    }

    /// The ticket keys were replaced.
    fn rotated(&self) {
        self.rotations.inc();
    }
}

impl Metrics {
    /// One visitor's TLS handshake finished: a full one or a resumed session.
    pub(crate) fn tls_handshake(&self, resumed: bool) {
        self.tls.handshake(resumed);
    }

    /// The HTTPS listener's session ticket keys were replaced.
    pub(crate) fn tls_ticket_keys_rotated(&self) {
        self.tls.rotated();
    }
}
