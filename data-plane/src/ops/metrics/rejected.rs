//! `hopgate_rejected_total{reason}`: every time the pod refused or cut off a visitor, a
//! peer or an agent to protect the others. Every limit that can turn traffic away names
//! itself in [`REJECT_REASONS`], and every reason is exposed at 0 from the start.

use prometheus_client::{
    metrics::{counter::Counter, family::Family},
    registry::Registry,
};

use super::{Metrics, ReasonLabels};

/// Why the pod refused or cut off a visitor, a peer or an agent to protect the others
/// (`hopgate_rejected_total{reason}`): every limit that can turn traffic away names
/// itself here, so an operator sees an attack as a rising series. Every reason is
/// exposed at 0 from the start.
pub(crate) const REJECT_REASONS: &[&str] = &[
    // A request target that is not origin-form (`/…`, or `*` for OPTIONS).
    "bad_request_target",
    // A missing or malformed Host / `:authority` (400).
    "bad_host",
    // A Host the TLS connection wasn't made for: not its SNI name, not covered by the
    // certificate it presented (421).
    "misdirected",
    // Port 80 was asked to redirect a name this gateway doesn't serve (404).
    "redirect_unknown_host",
    // No stream came free on the agent's session within HOP_SERVER_STREAM_WAIT (503).
    "stream_wait",
    // A request body made no progress for HOP_SERVER_BODY_TIMEOUT: cut (408 or reset).
    "body_stalled",
    // The domain had HOP_SERVER_MAX_REQUESTS_PER_DOMAIN requests in flight (503).
    "domain_busy",
    // The client IP had HOP_SERVER_MAX_REQUESTS_PER_CLIENT requests in flight (503).
    "client_busy",
    // A connection from a client IP holding HOP_SERVER_MAX_CONNECTIONS_PER_IP: closed at once.
    "connections_per_ip",
    // A connection from a client IP with HOP_SERVER_MAX_HANDSHAKES_PER_IP TLS handshakes in
    // progress: closed at once.
    "handshakes_per_ip",
    // An HTTPS worker held its share of HOP_SERVER_MAX_CONNECTIONS: it stopped accepting
    // until one of its connections ended (new visitors wait in the kernel's queue).
    "max_connections",
    // An HTTPS connection the pod could not accept for want of descriptors or memory: it
    // waits in the kernel's queue while the worker pauses for 100 ms.
    "accept_out_of_resources",
    // A TLS handshake not done within HOP_SERVER_TLS_HANDSHAKE_TIMEOUT: closed.
    "tls_handshake_timeout",
    // A TLS handshake that resumed a session made for another SNI name (or for none):
    // refused with an alert.
    "tls_resumed_for_other_name",
    // An HTTP/2 connection the pod closed with an error GOAWAY (rapid reset, floods h2
    // detects, protocol errors).
    "h2_abuse",
    // A DTLS handshake refused: its source IP had HOP_SERVER_DTLS_HANDSHAKES_PER_IP in
    // progress (copied from the listener at scrape time).
    "dtls_per_ip",
    // A DTLS ClientHello whose cookie did not verify: forged, expired or another
    // address's (copied from the listener at scrape time).
    "dtls_bad_cookie",
    // An agent session sent no hello within HOP_SERVER_HELLO_TIMEOUT: closed.
    "hello_timeout",
    // A relayed request without the right HOP_RELAY_TOKEN (401).
    "relay_token",
    // An agent's TLS connection on the tunnel's ALPN refused: the pod held its limit of
    // sessions (DTLS and TCP together).
    "tunnel_tcp_at_capacity",
    // An agent's TLS connection on the tunnel's ALPN sent garbage (not QUIC, a bad length
    // prefix): closed.
    "tunnel_tcp_bad_frame",
    // An agent's TLS connection on the tunnel's ALPN set no session up within
    // HOP_SERVER_DTLS_HANDSHAKE_TIMEOUT: closed.
    "tunnel_tcp_no_session",
];

/// `hopgate_rejected_total{reason}`, every reason at 0 from the start.
pub(super) fn register_rejected(registry: &mut Registry) -> Family<ReasonLabels, Counter> {
    let rejected = Family::<ReasonLabels, Counter>::default();
    for reason in REJECT_REASONS {
        let _ = rejected.get_or_create(&ReasonLabels { reason });
    }
    registry.register(
        "hopgate_rejected",
        "Visitors, peers and agents turned away or cut off by a limit, by reason",
        rejected.clone(),
    );
    rejected
}

impl Metrics {
    /// Counts one refusal; `reason` is one of [`REJECT_REASONS`].
    pub(crate) fn rejected(&self, reason: &'static str) {
        debug_assert!(REJECT_REASONS.contains(&reason), "unlisted reason {reason}");
        self.rejected.get_or_create(&ReasonLabels { reason }).inc();
    }
}
