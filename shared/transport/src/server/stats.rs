//! What a listener reports about itself: [`ListenerStats`], summed over its sockets.

use std::sync::atomic::Ordering;

use crate::{dtls::DtlsTable, stream::StreamAcceptor};

/// What the listener holds right now; all zero once every session is gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// DTLS associations, established or handshaking.
    pub dtls_associations: usize,
    /// DTLS handshakes in progress.
    pub dtls_handshaking: usize,
    /// DTLS handshake steps (their public-key work) waiting for the handshake thread.
    pub dtls_handshake_steps_queued: usize,
    /// Stream-layer connections over DTLS.
    pub sessions: usize,
    /// Stream-layer connections over TCP.
    pub tcp_sessions: usize,
    /// TCP connections carrying (or setting up) a session.
    pub tcp_connections: usize,
    /// TCP connections refused at `max_sessions`.
    pub tcp_refused: u64,
    /// TCP connections closed for a bad frame (garbage, an oversized length).
    pub tcp_bad_frames: u64,
    /// Packets to TCP peers dropped because the peer's queue was full (a slow reader).
    pub tcp_queue_full_dropped: u64,
    /// Empty datagrams (no record at all), dropped.
    pub empty_dropped: u64,
    /// Datagrams dropped because they came from no known session and weren't a ClientHello.
    pub unsolicited_dropped: u64,
    /// Records dropped on established sessions because they didn't authenticate.
    pub undecryptable_dropped: u64,
    /// Handshakes refused at the listener-wide limits.
    pub handshakes_refused: u64,
    /// Handshakes refused because their source IP had too many in progress.
    pub handshakes_refused_per_ip: u64,
    /// ClientHellos answered with a stateless cookie challenge (HelloVerifyRequest).
    pub cookies_sent: u64,
    /// ClientHellos whose cookie did not verify (forged, expired, or another address's).
    pub bad_cookies: u64,
    /// Records refused during handshakes (malformed, or failing the handshake's checks).
    pub handshake_records_refused: u64,
    /// Handshakes given up on (timed out, or the peer stopped answering), e.g. an agent
    /// that rejected this server's certificate.
    pub handshakes_expired: u64,
    /// Handshakes dropped unrun: their step waited longer for a turn on the paced handshake
    /// thread than their client waits (the pacing is below the rate hellos arrive at).
    pub handshakes_paced_out: u64,
    /// Handshake datagrams dropped because too many already waited for their
    /// association's step on the handshake thread (the peer retransmits).
    pub handshake_datagrams_dropped: u64,
    /// Sessions moved to their agent's new address after a NAT rebinding.
    pub migrations_moved: u64,
    /// Records from a new port of a known IP that no association authenticated.
    pub migrations_unauthenticated: u64,
    /// Records from a new port of a known IP that were not newer than everything its
    /// associations had accepted (replayed, or late from the old path): refused unread.
    pub migrations_stale: u64,
    /// Records from a new port of a known IP refused because the IP had used its trials.
    pub migrations_rate_limited: u64,
}

impl ListenerStats {
    /// The TCP side's figures.
    pub(crate) fn of_stream(acceptor: &StreamAcceptor, tcp_sessions: usize) -> Self {
        let tcp = acceptor.shared();
        Self {
            tcp_sessions,
            tcp_connections: tcp.connections.load(Ordering::Relaxed),
            tcp_refused: tcp.refused.load(Ordering::Relaxed),
            tcp_bad_frames: tcp.bad_frames.load(Ordering::Relaxed),
            tcp_queue_full_dropped: tcp
                .socket
                .counters
                .queue_full_dropped
                .load(Ordering::Relaxed),
            ..Self::default()
        }
    }

    /// Adds one socket's figures: its table's, its handshake steps away, its sessions.
    pub(crate) fn add_socket(&mut self, table: &DtlsTable, steps_queued: usize, sessions: usize) {
        let counters = &table.counters;
        self.dtls_associations += table.len();
        self.dtls_handshaking += table.handshaking();
        self.dtls_handshake_steps_queued += steps_queued;
        self.sessions += sessions;
        self.empty_dropped += counters.empty_dropped;
        self.unsolicited_dropped += counters.unsolicited_dropped;
        self.undecryptable_dropped += counters.undecryptable_dropped;
        self.handshakes_refused += counters.handshakes_refused;
        self.handshakes_refused_per_ip += counters.handshakes_refused_per_ip;
        self.cookies_sent += counters.cookies_sent;
        self.bad_cookies += counters.bad_cookies;
        self.handshake_records_refused += counters.handshakes_failed;
        self.handshakes_expired += counters.handshakes_expired;
        self.handshakes_paced_out += counters.handshakes_paced_out;
        self.handshake_datagrams_dropped += counters.handshake_datagrams_dropped;
        self.migrations_moved += counters.migration.moved;
        self.migrations_unauthenticated += counters.migration.unauthenticated;
        self.migrations_stale += counters.migration.stale;
        self.migrations_rate_limited += counters.migration.rate_limited;
    }
}
