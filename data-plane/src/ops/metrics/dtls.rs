//! The agents' listener (DTLS over UDP, and the TLS fallback on the HTTPS port), copied
//! from its counters at scrape time: what it holds, and what it turned away before any
//! hello.
//!
//! - `hopgate_dtls_associations`, `hopgate_transport_sessions{transport}` (`udp`, `tcp`);
//! - `hopgate_dtls_socket_sessions{socket}`: DTLS sessions on each socket of the port's
//!   group (how the agents spread over the pod's threads);
//! - `hopgate_dtls_handshake_steps_queued`: handshake work waiting for the handshake thread;
//! - `hopgate_tcp_tunnel_dropped_packets_total`: packets to slow agents over TCP dropped;
//! - `hopgate_dtls_handshake_failures_total{reason}`, `hopgate_dtls_dropped_datagrams_total{reason}`,
//!   and the `dtls_per_ip` and `dtls_bad_cookie` series of `hopgate_rejected_total`.
//!
//! What became of records from an agent's new port is in `migration`.

use std::sync::atomic::Ordering;

use hopgate_transport::ListenerStats;
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

use super::{ReasonLabels, set_gauge};

pub(super) struct DtlsMetrics {
    associations: Gauge,
    steps_queued: Gauge,
    /// `hopgate_transport_sessions{transport}`: `udp` (DTLS) and `tcp` (the fallback).
    transport_sessions: [Gauge; 2],
    /// `hopgate_dtls_socket_sessions{socket}`.
    socket_sessions: Family<SocketLabels, Gauge>,
    /// Packets to slow TCP agents dropped (their queue was full).
    tcp_queue_dropped: Counter,
    refused: DtlsRefused,
}

impl DtlsMetrics {
    /// Registers the listener's families; `rejected` is `hopgate_rejected_total`, which
    /// gets the listener's refusals.
    pub(super) fn register(
        registry: &mut Registry,
        rejected: &Family<ReasonLabels, Counter>,
    ) -> Self {
        let associations = Gauge::default();
        registry.register(
            "hopgate_dtls_associations",
            "DTLS associations held by the listener",
            associations.clone(),
        );
        let steps_queued = Gauge::default();
        registry.register(
            "hopgate_dtls_handshake_steps_queued",
            "DTLS handshake steps (their signatures and key exchanges) waiting for the \
             listener's handshake thread; a storm of new agents queues here instead of \
             delaying established sessions",
            steps_queued.clone(),
        );
        let (transport_sessions, tcp_queue_dropped) = register_transport(registry);
        let socket_sessions = Family::<SocketLabels, Gauge>::default();
        registry.register(
            "hopgate_dtls_socket_sessions",
            "DTLS sessions on each socket (and thread) serving the DTLS port; agents are \
             spread over them by source IP (HOP_SERVER_DTLS_SOCKETS)",
            socket_sessions.clone(),
        );
        let refused = DtlsRefused::register(registry, rejected);
        Self {
            associations,
            steps_queued,
            transport_sessions,
            socket_sessions,
            tcp_queue_dropped,
            refused,
        }
    }

    /// Sets the gauges and copies the counters from the listener's `stats`, and the
    /// sessions on each of its sockets.
    pub(super) fn copy_from(&self, stats: &ListenerStats, socket_sessions: &[usize]) {
        for (index, sessions) in socket_sessions.iter().enumerate() {
            let labels = SocketLabels {
                socket: index.to_string(),
            };
            set_gauge(
                &self.socket_sessions.get_or_create(&labels),
                *sessions as u64,
            );
        }
        set_gauge(&self.associations, stats.dtls_associations as u64);
        set_gauge(&self.steps_queued, stats.dtls_handshake_steps_queued as u64);
        set_gauge(&self.transport_sessions[0], stats.sessions as u64);
        set_gauge(&self.transport_sessions[1], stats.tcp_sessions as u64);
        self.tcp_queue_dropped
            .inner()
            .store(stats.tcp_queue_full_dropped, Ordering::Relaxed);
        self.refused.copy_from(stats);
    }
}

/// `{socket}`: a socket's place in the DTLS port's group, from 0.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SocketLabels {
    socket: String,
}

/// `{transport}` of a session: what carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

/// `hopgate_transport_sessions{transport}`: the `udp` and `tcp` gauges; and the packets
/// dropped towards slow agents over TCP.
fn register_transport(registry: &mut Registry) -> ([Gauge; 2], Counter) {
    let family = Family::<TransportLabels, Gauge>::default();
    let gauges = ["udp", "tcp"]
        .map(|transport| family.get_or_create(&TransportLabels { transport }).clone());
    registry.register(
        "hopgate_transport_sessions",
        "Stream-layer sessions held by the listener, by what carries them: DTLS (udp) or \
         the TLS fallback on the HTTPS port (tcp)",
        family,
    );
    let tcp_queue_dropped = Counter::default();
    registry.register(
        "hopgate_tcp_tunnel_dropped_packets",
        "Packets to agents over TCP dropped because the agent read too slowly (its queue \
         of HOP_SERVER_TCP_SEND_QUEUE_BYTES was full); the session slows down",
        tcp_queue_dropped.clone(),
    );
    (gauges, tcp_queue_dropped)
}

/// What the DTLS listener turned away before any hello: the agents that never get as far
/// as `hopgate_dtls_handshakes_total` (e.g. one that rejects the pod's certificate).
struct DtlsRefused {
    handshakes_expired: Counter,
    handshakes_paced_out: Counter,
    handshakes_over_limit: Counter,
    empty: Counter,
    unsolicited: Counter,
    undecryptable: Counter,
    bad_handshake_records: Counter,
    handshake_backlog: Counter,
    /// Series of `hopgate_rejected_total`.
    per_ip: Counter,
    bad_cookie: Counter,
}

impl DtlsRefused {
    fn register(registry: &mut Registry, rejected: &Family<ReasonLabels, Counter>) -> Self {
        let failures = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "hopgate_dtls_handshake_failures",
            "DTLS handshakes that ended before a session: expired (timed out, the peer went \
             silent), paced_out (waited for a turn on the paced handshake thread longer than \
             its client waits) or refused over the handshake limit (over_limit)",
            failures.clone(),
        );
        let dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "hopgate_dtls_dropped_datagrams",
            "Datagrams the DTLS listener dropped: with no bytes at all (empty), from no \
             session and not a ClientHello (unsolicited), failing authentication on a \
             session (undecryptable), or refused by a handshake (bad_handshake_record), or \
             a handshake's datagram arriving while too many waited for its step on the \
             handshake thread (handshake_backlog)",
            dropped.clone(),
        );
        let with = |family: &Family<ReasonLabels, Counter>, reason| {
            family.get_or_create(&ReasonLabels { reason }).clone()
        };
        Self {
            handshakes_expired: with(&failures, "expired"),
            handshakes_paced_out: with(&failures, "paced_out"),
            handshakes_over_limit: with(&failures, "over_limit"),
            empty: with(&dropped, "empty"),
            unsolicited: with(&dropped, "unsolicited"),
            undecryptable: with(&dropped, "undecryptable"),
            bad_handshake_records: with(&dropped, "bad_handshake_record"),
            handshake_backlog: with(&dropped, "handshake_backlog"),
            per_ip: with(rejected, "dtls_per_ip"),
            bad_cookie: with(rejected, "dtls_bad_cookie"),
        }
    }

    fn copy_from(&self, stats: &ListenerStats) {
        let store = |counter: &Counter, value: u64| {
            counter.inner().store(value, Ordering::Relaxed);
        };
        store(&self.handshakes_expired, stats.handshakes_expired);
        store(&self.handshakes_paced_out, stats.handshakes_paced_out);
        store(&self.handshakes_over_limit, stats.handshakes_refused);
        store(&self.empty, stats.empty_dropped);
        store(&self.unsolicited, stats.unsolicited_dropped);
        store(&self.undecryptable, stats.undecryptable_dropped);
        store(&self.bad_handshake_records, stats.handshake_records_refused);
        store(&self.handshake_backlog, stats.handshake_datagrams_dropped);
        store(&self.per_ip, stats.handshakes_refused_per_ip);
        store(&self.bad_cookie, stats.bad_cookies);
    }
}
