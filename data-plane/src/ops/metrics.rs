//! The pod's Prometheus metrics (prometheus-client), served on the internal listener's
//! `/metrics`.
//!
//! Label sets are bounded and built from `&'static str`s, so counting a request allocates
//! nothing: fixed series (handshake results, byte directions) are created once and their
//! handles kept; the request family's lookup is one read lock inside prometheus-client's
//! `Family`. Gauges of state owned elsewhere (sessions, the table) are read at scrape time
//! ([`Metrics::encode`] with a [`Snapshot`]).

use std::time::Duration;

use hopgate_table::access::Denial;

use crate::ops::{
    migration_metrics::MigrationMetrics,
    pool_metrics::{PoolMetrics, PoolSnapshot},
    tls_metrics::TlsMetrics,
};
use hopgate_transport::ListenerStats;

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

/// What the hello of a new agent session came to (`hopgate_dtls_handshakes_total{result}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handshake {
    Ok,
    BadKey,
    UnknownDomain,
    BadVersion,
    /// Refused while the pod drains.
    Unavailable,
    /// Refused: the domain's pool holds as many sessions as it may.
    PoolFull,
    /// The hello couldn't be read (garbage, wrong framing).
    BadHello,
    /// No control stream within the deadline, or the session ended before its hello.
    Failed,
}

impl Handshake {
    const ALL: [Self; 8] = [
        Self::Ok,
        Self::BadKey,
        Self::UnknownDomain,
        Self::BadVersion,
        Self::Unavailable,
        Self::PoolFull,
        Self::BadHello,
        Self::Failed,
    ];

    fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::BadKey => "bad_key",
            Self::UnknownDomain => "unknown_domain",
            Self::BadVersion => "bad_version",
            Self::Unavailable => "unavailable",
            Self::PoolFull => "pool_full",
            Self::BadHello => "bad_hello",
            Self::Failed => "failed",
        }
    }
}

/// Which kind of host a visitor asked for: a bounded stand-in for the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DomainClass {
    /// A registered tunnel domain.
    Tunnel,
    /// The gateway's own domain.
    Gateway,
    /// Neither (404), or no usable Host.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    domain_class: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct DirectionLabels {
    direction: &'static str,
}

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
    pub(crate) table_version: u64,
    pub(crate) table_connected: bool,
    pub(crate) relayed_requests: u64,
    pub(crate) relay_remote_domains: usize,
    pub(crate) pools: PoolSnapshot,
}

/// Every metric of the pod. One per process, shared behind an `Arc`.
pub(crate) struct Metrics {
    registry: Registry,
    handshakes: [Counter; Handshake::ALL.len()],
    requests: Family<RequestLabels, Counter>,
    request_duration: Histogram,
    bytes_in: Counter,
    bytes_out: Counter,
    resets: Family<ReasonLabels, Counter>,
    rejected: Family<ReasonLabels, Counter>,
    /// `hopgate_access_denied_total{reason}`, in [`Denial::ALL`]'s order.
    access_denied: [Counter; Denial::ALL.len()],
    session_ends: SessionEnds,
    table_propagation: Histogram,
    agent_sessions: Gauge,
    in_flight: Gauge,
    dtls_associations: Gauge,
    /// `hopgate_transport_sessions{transport}`: `udp` (DTLS) and `tcp` (the fallback).
    transport_sessions: [Gauge; 2],
    /// Packets to slow TCP agents dropped (their queue was full): copied at scrape time.
    tcp_queue_dropped: Counter,
    table_version: Gauge,
    table_connected: Gauge,
    relayed_requests: Counter,
    relay_remote_domains: Gauge,
    /// Copied from the listener's counters at scrape time.
    dtls_refused: DtlsRefused,
    migrations: MigrationMetrics,
    pools: PoolMetrics,
    tls: TlsMetrics,
}

/// What the DTLS listener turned away before any hello: the agents that never get as far
/// as `hopgate_dtls_handshakes_total` (e.g. one that rejects the pod's certificate).
struct DtlsRefused {
    handshakes_expired: Counter,
    handshakes_over_limit: Counter,
    unsolicited: Counter,
    undecryptable: Counter,
    bad_handshake_records: Counter,
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
             silent) or refused over the handshake limit",
            failures.clone(),
        );
        let dropped = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "hopgate_dtls_dropped_datagrams",
            "Datagrams the DTLS listener dropped: from no session and not a ClientHello \
             (unsolicited), failing authentication on a session (undecryptable), or refused \
             by a handshake (bad_handshake_record)",
            dropped.clone(),
        );
        let with = |family: &Family<ReasonLabels, Counter>, reason| {
            family.get_or_create(&ReasonLabels { reason }).clone()
        };
        Self {
            handshakes_expired: with(&failures, "expired"),
            handshakes_over_limit: with(&failures, "over_limit"),
            unsolicited: with(&dropped, "unsolicited"),
            undecryptable: with(&dropped, "undecryptable"),
            bad_handshake_records: with(&dropped, "bad_handshake_record"),
            per_ip: with(rejected, "dtls_per_ip"),
            bad_cookie: with(rejected, "dtls_bad_cookie"),
        }
    }

    fn copy_from(&self, stats: &ListenerStats) {
        let store = |counter: &Counter, value: u64| {
            counter
                .inner()
                .store(value, std::sync::atomic::Ordering::Relaxed);
        };
        store(&self.handshakes_expired, stats.handshakes_expired);
        store(&self.handshakes_over_limit, stats.handshakes_refused);
        store(&self.unsolicited, stats.unsolicited_dropped);
        store(&self.undecryptable, stats.undecryptable_dropped);
        store(&self.bad_handshake_records, stats.handshake_records_refused);
        store(&self.per_ip, stats.handshakes_refused_per_ip);
        store(&self.bad_cookie, stats.bad_cookies);
    }
}

/// `hopgate_dtls_handshakes_total{result}`, one counter per way a hello can end.
fn register_handshakes(registry: &mut Registry) -> [Counter; Handshake::ALL.len()] {
    let family = Family::<ResultLabels, Counter>::default();
    let handshakes = Handshake::ALL.map(|h| {
        family
            .get_or_create(&ResultLabels { result: h.label() })
            .clone()
    });
    registry.register(
        "hopgate_dtls_handshakes",
        "Agent sessions by how their hello ended",
        family,
    );
    handshakes
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

/// `hopgate_bytes_total{direction}`: the `in` and `out` counters.
fn register_bytes(registry: &mut Registry) -> (Counter, Counter) {
    let bytes = Family::<DirectionLabels, Counter>::default();
    let bytes_in = bytes
        .get_or_create(&DirectionLabels { direction: "in" })
        .clone();
    let bytes_out = bytes
        .get_or_create(&DirectionLabels { direction: "out" })
        .clone();
    // `hopgate` + unit `_bytes` + counter `_total` = `hopgate_bytes_total`.
    registry.register_with_unit(
        "hopgate",
        "Body bytes through the tunnels: in = visitor to agent, out = agent to visitor",
        Unit::Bytes,
        bytes,
    );
    (bytes_in, bytes_out)
}

/// `hopgate_stream_resets_total{reason}`, every reason at 0 from the start (a family
/// without series isn't exposed).
fn register_resets(registry: &mut Registry) -> Family<ReasonLabels, Counter> {
    let resets = Family::<ReasonLabels, Counter>::default();
    let reasons = hopgate_protocol::ResetCode::ALL.iter().map(|c| c.as_str());
    for reason in reasons.chain(["visitor_gone", "agent_violation", "agent_malformed"]) {
        let _ = resets.get_or_create(&ReasonLabels { reason });
    }
    registry.register(
        "hopgate_stream_resets",
        "Request streams reset, by reason (the agent's reset code; visitor_gone; agent_violation, agent_malformed: the agent's answer broke the stream's rules or was no valid frame)",
        resets.clone(),
    );
    resets
}

/// `hopgate_rejected_total{reason}`, every reason at 0 from the start.
fn register_rejected(registry: &mut Registry) -> Family<ReasonLabels, Counter> {
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

/// `hopgate_access_denied_total{reason}`: one counter per [`Denial`], all exposed from the
/// start.
fn register_access_denied(registry: &mut Registry) -> [Counter; Denial::ALL.len()] {
    let family = Family::<ReasonLabels, Counter>::default();
    let counters = Denial::ALL.map(|denial| {
        family
            .get_or_create(&ReasonLabels {
                reason: denial.reason(),
            })
            .clone()
    });
    registry.register(
        "hopgate_access_denied",
        "Visitor requests refused by the domain's access policy: address denied (cidr_denied) \
         or not allowed (cidr_not_allowed), Basic credentials missing (auth_missing) or wrong \
         (auth_wrong)",
        family,
    );
    counters
}

/// `hopgate_sessions_closed_total{reason}`, one counter per reason.
#[derive(Debug)]
struct SessionEnds {
    replaced: Counter,
    revoked: Counter,
    /// Left by its agent once its requests were over.
    left: Counter,
    /// Left by its agent, closed at the drain limit with requests still on it.
    left_at_limit: Counter,
}

fn register_session_ends(registry: &mut Registry) -> SessionEnds {
    let ends = Family::<ReasonLabels, Counter>::default();
    let [replaced, revoked, left, left_at_limit] =
        ["replaced", "revoked", "left", "left_drain_limit"]
            .map(|reason| ends.get_or_create(&ReasonLabels { reason }).clone());
    registry.register(
        "hopgate_sessions_closed",
        "Agent sessions closed by the gateway: replaced by a newer one, revoked by the \
         control-plane, or left by their agent once their requests were over (left) or at \
         the drain limit (left_drain_limit)",
        ends,
    );
    SessionEnds {
        replaced,
        revoked,
        left,
        left_at_limit,
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::default();
        let handshakes = register_handshakes(&mut registry);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hopgate_requests",
            "Visitor requests answered, by domain class, method and status",
            requests.clone(),
        );
        // 1 ms … ~65 s.
        let request_duration = Histogram::new(exponential_buckets(0.001, 2.0, 17));
        registry.register_with_unit(
            "hopgate_request_duration",
            "Visitor requests from arrival to the end of the answer's body",
            Unit::Seconds,
            request_duration.clone(),
        );
        let (bytes_in, bytes_out) = register_bytes(&mut registry);
        let resets = register_resets(&mut registry);
        let rejected = register_rejected(&mut registry);
        let access_denied = register_access_denied(&mut registry);
        let session_ends = register_session_ends(&mut registry);
        // 1 ms … ~33 s.
        let table_propagation = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        registry.register_with_unit(
            "hopgate_table_propagation",
            "From the control-plane committing a change to this pod applying it",
            Unit::Seconds,
            table_propagation.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let gauge = Gauge::default();
            registry.register(name, help, gauge.clone());
            gauge
        };
        let agent_sessions = gauge(
            &mut registry,
            "hopgate_agent_sessions",
            "Agent sessions registered in the routing table",
        );
        let in_flight = gauge(
            &mut registry,
            "hopgate_requests_in_flight",
            "Visitor requests with a live request actor",
        );
        let dtls_associations = gauge(
            &mut registry,
            "hopgate_dtls_associations",
            "DTLS associations held by the listener",
        );
        let (transport_sessions, tcp_queue_dropped) = register_transport(&mut registry);
        let table_version = gauge(
            &mut registry,
            "hopgate_table_version",
            "Version of the routing table this pod serves from",
        );
        let table_connected = gauge(
            &mut registry,
            "hopgate_table_connected",
            "1 while the control-plane's table stream is open",
        );
        // Counted by the relay (an atomic it shares with the handlers), copied at scrape time.
        let relayed_requests = Counter::default();
        registry.register(
            "hopgate_relayed_requests",
            "Visitor requests relayed to the pod holding the agent's session",
            relayed_requests.clone(),
        );
        let relay_remote_domains = gauge(
            &mut registry,
            "hopgate_relay_remote_domains",
            "Domains whose agent session is on another pod (placements)",
        );
        let dtls_refused = DtlsRefused::register(&mut registry, &rejected);
        let pools = PoolMetrics::register(&mut registry);
        let migrations = MigrationMetrics::register(&mut registry);
        let tls = TlsMetrics::register(&mut registry);
        Self {
            pools,
            migrations,
            tls,
            registry,
            dtls_refused,
            relayed_requests,
            relay_remote_domains,
            handshakes,
            requests,
            request_duration,
            bytes_in,
            bytes_out,
            resets,
            rejected,
            access_denied,
            session_ends,
            table_propagation,
            agent_sessions,
            in_flight,
            dtls_associations,
            transport_sessions,
            tcp_queue_dropped,
            table_version,
            table_connected,
        }
    }

    pub(crate) fn handshake(&self, result: Handshake) {
        let index = Handshake::ALL
            .iter()
            .position(|h| *h == result)
            .unwrap_or(0);
        self.handshakes[index].inc();
    }

    /// One answered request (or one that failed before an answer).
    pub(crate) fn request(&self, class: DomainClass, method: &str, status: u16, took: Duration) {
        let domain_class = match class {
            DomainClass::Tunnel => "tunnel",
            DomainClass::Gateway => "gateway",
            DomainClass::Unknown => "unknown",
        };
        let labels = RequestLabels {
            domain_class,
            method: method_label(method),
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.request_duration.observe(took.as_secs_f64());
    }

    pub(crate) fn bytes_in(&self, n: usize) {
        self.bytes_in.inc_by(n as u64);
    }

    pub(crate) fn bytes_out(&self, n: usize) {
        self.bytes_out.inc_by(n as u64);
    }

    pub(crate) fn reset(&self, reason: &'static str) {
        self.resets.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Counts one refusal; `reason` is one of [`REJECT_REASONS`].
    pub(crate) fn rejected(&self, reason: &'static str) {
        debug_assert!(REJECT_REASONS.contains(&reason), "unlisted reason {reason}");
        self.rejected.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// One visitor's TLS handshake finished: a full one or a resumed session.
    pub(crate) fn tls_handshake(&self, resumed: bool) {
        self.tls.handshake(resumed);
    }

    /// The HTTPS listener's session ticket keys were replaced.
    pub(crate) fn tls_ticket_keys_rotated(&self) {
        self.tls.rotated();
    }

    /// One request refused by an access policy.
    pub(crate) fn access_denied(&self, denial: Denial) {
        let index = Denial::ALL.iter().position(|d| *d == denial).unwrap_or(0);
        self.access_denied[index].inc();
    }

    pub(crate) fn session_replaced(&self) {
        self.session_ends.replaced.inc();
    }

    /// A request tried once more on another session, for `reason`.
    pub(crate) fn request_retried(&self, reason: &'static str) {
        self.pools.retried(reason);
    }

    /// A session its agent left was closed: its requests were over (`idle`), or the drain
    /// limit came first.
    pub(crate) fn session_left(&self, idle: bool) {
        if idle {
            self.session_ends.left.inc();
        } else {
            self.session_ends.left_at_limit.inc();
        }
    }

    pub(crate) fn session_revoked(&self) {
        self.session_ends.revoked.inc();
    }

    /// A delta committed at `committed_unix_ms` was applied now.
    pub(crate) fn table_applied(&self, committed_unix_ms: u64) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // Clocks apart by a little can make it negative: count that as no lag.
        let lag_ms = now.saturating_sub(committed_unix_ms);
        self.table_propagation.observe(lag_ms as f64 / 1000.0);
    }

    /// The exposition text (OpenMetrics), with the gauges set from `now`.
    pub(crate) fn encode(&self, now: &Snapshot) -> String {
        let set = |gauge: &Gauge, value: u64| {
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
        };
        set(&self.agent_sessions, now.agent_sessions as u64);
        set(&self.in_flight, now.in_flight as u64);
        set(
            &self.dtls_associations,
            now.listener.dtls_associations as u64,
        );
        set(&self.transport_sessions[0], now.listener.sessions as u64);
        set(
            &self.transport_sessions[1],
            now.listener.tcp_sessions as u64,
        );
        self.tcp_queue_dropped.inner().store(
            now.listener.tcp_queue_full_dropped,
            std::sync::atomic::Ordering::Relaxed,
        );
        self.dtls_refused.copy_from(&now.listener);
        self.migrations.copy_from(&now.listener);
        set(&self.table_version, now.table_version);
        set(&self.table_connected, u64::from(now.table_connected));
        set(&self.relay_remote_domains, now.relay_remote_domains as u64);
        self.pools.set(now.pools);
        self.relayed_requests
            .inner()
            .store(now.relayed_requests, std::sync::atomic::Ordering::Relaxed);
        let mut out = String::new();
        // Writing to a String can't fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The method as a bounded label: the standard ones, else `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "PATCH" => "PATCH",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// `Content-Type` of the exposition.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    fn idle() -> Snapshot {
        Snapshot {
            agent_sessions: 1,
            in_flight: 0,
            listener: ListenerStats {
                dtls_associations: 1,
                dtls_handshaking: 0,
                sessions: 1,
                unsolicited_dropped: 40,
                undecryptable_dropped: 2,
                handshakes_refused: 0,
                handshakes_refused_per_ip: 6,
                cookies_sent: 50,
                bad_cookies: 4,
                handshake_records_refused: 3,
                handshakes_expired: 5,
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
            table_version: 7,
            table_connected: true,
            relayed_requests: 3,
            relay_remote_domains: 2,
            pools: crate::ops::pool_metrics::PoolSnapshot {
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
            "hopgate_dtls_handshake_failures_total{reason=\"over_limit\"} 0",
            "hopgate_dtls_dropped_datagrams_total{reason=\"unsolicited\"} 40",
            "hopgate_dtls_dropped_datagrams_total{reason=\"undecryptable\"} 2",
            "hopgate_dtls_dropped_datagrams_total{reason=\"bad_handshake_record\"} 3",
            "hopgate_dtls_associations 1",
            "hopgate_dtls_migrations_total{result=\"moved\"} 3",
            "hopgate_dtls_migrations_total{result=\"unauthenticated\"} 11",
            "hopgate_dtls_migrations_total{result=\"stale\"} 12",
            "hopgate_dtls_migrations_total{result=\"rate_limited\"} 13",
            "hopgate_transport_sessions{transport=\"udp\"} 1",
            "hopgate_transport_sessions{transport=\"tcp\"} 2",
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
