//! The DTLS side of one UDP socket: a table of associations keyed by peer address.
//!
//! Sans-IO: it is handed datagrams and the time, and hands back decrypted payloads, datagrams
//! to send and lifecycle events. The socket glue in [`crate::socket`] drives it.
//!
//! Policy it enforces (RFC 6347 where it speaks):
//! - a datagram from an unknown address creates state only if it is a ClientHello (servers)
//!   and the handshake budget allows; anything else is counted and dropped;
//! - a record that fails to decrypt on an established association is dropped silently
//!   (§4.1.2.7), so a spoofed datagram can't kill a session;
//! - a *new* ClientHello (fresh random) on an established address is a restarted peer: the
//!   old association is dropped and a clean one begins;
//! - handshakes that don't finish within the handshake timeout are forgotten.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::BytesMut;
use rtc_dtls::{config::HandshakeConfig, endpoint::Endpoint, endpoint::EndpointEvent};
use rtc_shared::TransportProtocol;

/// Something the owner of the table must react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PeerEvent {
    /// The handshake with this peer completed.
    Established { addr: SocketAddr, id: u64 },
    /// The association ended: close_notify, fatal alert, timeout or replacement.
    Closed {
        addr: SocketAddr,
        id: u64,
        reason: String,
    },
}

/// Counters the table keeps about what it refused.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DtlsCounters {
    pub(crate) unsolicited_dropped: u64,
    pub(crate) undecryptable_dropped: u64,
    pub(crate) handshakes_refused: u64,
    pub(crate) handshakes_failed: u64,
    /// Handshakes given up on: timed out or retransmissions exhausted.
    pub(crate) handshakes_expired: u64,
}

/// What one call produced: datagrams to send and events.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) transmits: Vec<(SocketAddr, BytesMut)>,
    pub(crate) events: Vec<PeerEvent>,
}

enum Phase {
    Handshaking { started: Instant },
    Established,
}

struct Peer {
    id: u64,
    dtls: Endpoint,
    phase: Phase,
    client_random: Option<[u8; 32]>,
    last_rx: Instant,
}

/// Limits the table enforces.
#[derive(Debug, Clone)]
pub(crate) struct TableLimits {
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_handshaking: usize,
    pub(crate) max_peers: usize,
    /// An established peer that hasn't sent anything for this long is dropped (the stream
    /// layer's idle timeout normally acts first).
    pub(crate) stale_after: Duration,
}

pub(crate) struct DtlsTable {
    local_addr: SocketAddr,
    server_config: Option<Arc<HandshakeConfig>>,
    peers: HashMap<SocketAddr, Peer>,
    handshaking: usize,
    next_id: u64,
    limits: TableLimits,
    pub(crate) counters: DtlsCounters,
}

const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;

/// The ClientHello's random if `datagram` starts with an epoch-0 ClientHello record.
fn client_hello_random(datagram: &[u8]) -> Option<[u8; 32]> {
    // record: type(1) version(2) epoch(2) seq(6) len(2); handshake: type(1) len(3) seq(2)
    // frag_off(3) frag_len(3); body: version(2) random(32).
    if datagram.len() < 59
        || datagram[0] != CONTENT_HANDSHAKE
        || datagram[3..5] != [0, 0]
        || datagram[13] != HANDSHAKE_CLIENT_HELLO
        || datagram[19..22] != [0, 0, 0]
    {
        return None;
    }
    datagram[27..59].try_into().ok()
}

impl DtlsTable {
    /// Presents a new server identity to handshakes that start from now on; established
    /// sessions keep theirs.
    pub(crate) fn set_server_config(&mut self, config: Arc<HandshakeConfig>) {
        self.server_config = Some(config);
    }

    pub(crate) fn new(
        local_addr: SocketAddr,
        server_config: Option<Arc<HandshakeConfig>>,
        limits: TableLimits,
    ) -> Self {
        Self {
            local_addr,
            server_config,
            peers: HashMap::new(),
            handshaking: 0,
            next_id: 1,
            limits,
            counters: DtlsCounters::default(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn handshaking(&self) -> usize {
        self.handshaking
    }

    /// The id of the association currently at `addr`.
    pub(crate) fn peer_id(&self, addr: &SocketAddr) -> Option<u64> {
        self.peers.get(addr).map(|p| p.id)
    }

    /// The DER certificates the peer at `addr` presented.
    pub(crate) fn peer_certificates(&self, addr: &SocketAddr) -> Vec<Vec<u8>> {
        self.peers
            .get(addr)
            .and_then(|p| p.dtls.get_connection_state(*addr))
            .map(|s| s.peer_certificates.clone())
            .unwrap_or_default()
    }

    fn allocate_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// Starts a client handshake towards `remote`.
    pub(crate) fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        config: Arc<HandshakeConfig>,
        out: &mut Output,
    ) -> Result<u64, String> {
        self.remove(now, remote, "replaced by a new connection", out);
        let mut dtls = Endpoint::new(self.local_addr, TransportProtocol::UDP, None);
        dtls.connect(now, remote, config, None)
            .map_err(|e| e.to_string())?;
        let id = self.allocate_id();
        let peer = Peer {
            id,
            dtls,
            phase: Phase::Handshaking { started: now },
            client_random: None,
            last_rx: now,
        };
        self.handshaking += 1;
        let peer = self.peers.entry(remote).insert_entry(peer).into_mut();
        drain_transmits(&mut peer.dtls, out);
        Ok(id)
    }

    /// Feeds one datagram from `from`; decrypted payloads go to `deliver`.
    pub(crate) fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: BytesMut,
        deliver: &mut impl FnMut(SocketAddr, BytesMut),
        out: &mut Output,
    ) {
        let hello_random = client_hello_random(&datagram);
        if let Some(random) = hello_random {
            let restarted = self.peers.get(&from).is_some_and(|peer| {
                matches!(peer.phase, Phase::Established) && peer.client_random != Some(random)
            });
            if restarted {
                self.remove(now, from, "peer restarted (new ClientHello)", out);
            }
        }
        if !self.peers.contains_key(&from) && !self.admit(now, from, hello_random) {
            return;
        }
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        if peer.client_random.is_none() {
            peer.client_random = hello_random;
        }
        peer.last_rx = now;
        let result = peer.dtls.read(now, from, None, datagram);
        drain_transmits(&mut peer.dtls, out);
        let mut closed_by_peer = false;
        match result {
            Ok(events) => {
                for event in events {
                    match event {
                        EndpointEvent::HandshakeComplete => {
                            if matches!(peer.phase, Phase::Handshaking { .. }) {
                                peer.phase = Phase::Established;
                                self.handshaking -= 1;
                                out.events.push(PeerEvent::Established {
                                    addr: from,
                                    id: peer.id,
                                });
                            }
                        }
                        EndpointEvent::ApplicationData(data) => {
                            // rtc-dtls hands out application data only once its handshake is
                            // complete. If the completion event was lost (it drops a read's
                            // events when the read also fails), this is the proof.
                            if matches!(peer.phase, Phase::Handshaking { .. }) {
                                peer.phase = Phase::Established;
                                self.handshaking -= 1;
                                out.events.push(PeerEvent::Established {
                                    addr: from,
                                    id: peer.id,
                                });
                            }
                            deliver(from, data);
                        }
                        EndpointEvent::PeerClosed => closed_by_peer = true,
                        _ => {}
                    }
                }
            }
            Err(err) => match peer.phase {
                Phase::Established => {
                    // A record we can't authenticate: drop it, keep the session.
                    self.counters.undecryptable_dropped += 1;
                    tracing::debug!(peer = %from, error = %err, "dropped an invalid DTLS record");
                }
                Phase::Handshaking { .. } if self.server_config.is_none() => {
                    // We are the client: the server's flight is bad or our verification of
                    // its certificate failed. Fail now with the reason.
                    self.counters.handshakes_failed += 1;
                    let reason = format!("DTLS handshake failed: {err}");
                    self.remove(now, from, &reason, out);
                    return;
                }
                Phase::Handshaking { .. } => {
                    // A server keeps the attempt until its timeout: a duplicated or reordered
                    // flight from the client must not end it.
                    self.counters.handshakes_failed += 1;
                    tracing::debug!(peer = %from, error = %err, "DTLS handshake record refused");
                }
            },
        }
        if closed_by_peer {
            self.forget(from, "peer sent close_notify", out);
        }
    }

    /// Creates state for a datagram from an unknown address, if it may have some.
    fn admit(&mut self, now: Instant, from: SocketAddr, hello_random: Option<[u8; 32]>) -> bool {
        let Some(config) = self.server_config.clone() else {
            self.counters.unsolicited_dropped += 1;
            return false;
        };
        if hello_random.is_none() {
            // Not a ClientHello: a stray record from a forgotten session, or garbage.
            self.counters.unsolicited_dropped += 1;
            return false;
        }
        if self.handshaking >= self.limits.max_handshaking
            || self.peers.len() >= self.limits.max_peers
        {
            self.counters.handshakes_refused += 1;
            return false;
        }
        let id = self.allocate_id();
        self.peers.insert(
            from,
            Peer {
                id,
                dtls: Endpoint::new(self.local_addr, TransportProtocol::UDP, Some(config)),
                phase: Phase::Handshaking { started: now },
                client_random: None,
                last_rx: now,
            },
        );
        self.handshaking += 1;
        true
    }

    /// Encrypts one payload for `to`. `Err` if there is no established association.
    pub(crate) fn encrypt(
        &mut self,
        now: Instant,
        to: SocketAddr,
        payload: &[u8],
        out: &mut Output,
    ) -> Result<(), ()> {
        let Some(peer) = self.peers.get_mut(&to) else {
            return Err(());
        };
        if !matches!(peer.phase, Phase::Established) {
            return Err(());
        }
        peer.dtls.write(now, to, payload).map_err(|_| ())?;
        drain_transmits(&mut peer.dtls, out);
        Ok(())
    }

    /// Drives handshake retransmissions and drops what has timed out.
    pub(crate) fn handle_timeouts(&mut self, now: Instant, out: &mut Output) {
        let mut expired = Vec::new();
        for (addr, peer) in &mut self.peers {
            match peer.phase {
                Phase::Handshaking { started } => {
                    if now.duration_since(started) >= self.limits.handshake_timeout {
                        self.counters.handshakes_expired += 1;
                        expired.push((*addr, peer.id, "DTLS handshake timed out"));
                        continue;
                    }
                    if peer.dtls.poll_timeout(addr).is_some_and(|at| at <= now) {
                        if let Err(err) = peer.dtls.handle_timeout(*addr, now) {
                            tracing::debug!(peer = %addr, error = %err, "handshake retransmission gave up");
                            self.counters.handshakes_expired += 1;
                            expired.push((
                                *addr,
                                peer.id,
                                "DTLS handshake retransmissions exhausted",
                            ));
                        }
                        drain_transmits(&mut peer.dtls, out);
                    }
                }
                Phase::Established => {
                    if now.duration_since(peer.last_rx) >= self.limits.stale_after {
                        expired.push((*addr, peer.id, "peer silent"));
                    }
                }
            }
        }
        for (addr, id, reason) in expired {
            self.remove_if(now, addr, id, reason, out);
        }
    }

    /// Sends close_notify to `addr` (if it is still association `id`) and forgets it.
    pub(crate) fn remove_if(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        id: u64,
        reason: &str,
        out: &mut Output,
    ) {
        if self.peer_id(&addr) == Some(id) {
            self.remove(now, addr, reason, out);
        }
    }

    fn remove(&mut self, now: Instant, addr: SocketAddr, reason: &str, out: &mut Output) {
        if let Some(peer) = self.peers.get_mut(&addr) {
            let _ = peer.dtls.stop(now, addr);
            drain_transmits(&mut peer.dtls, out);
            self.forget(addr, reason, out);
        }
    }

    fn forget(&mut self, addr: SocketAddr, reason: &str, out: &mut Output) {
        if let Some(peer) = self.peers.remove(&addr) {
            if matches!(peer.phase, Phase::Handshaking { .. }) {
                self.handshaking -= 1;
            }
            out.events.push(PeerEvent::Closed {
                addr,
                id: peer.id,
                reason: reason.to_owned(),
            });
        }
    }

    /// Closes every association (shutdown).
    pub(crate) fn close_all(&mut self, now: Instant, out: &mut Output) {
        let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.remove(now, addr, "endpoint shutting down", out);
        }
    }
}

fn drain_transmits(dtls: &mut Endpoint, out: &mut Output) {
    while let Some(message) = dtls.poll_transmit() {
        out.transmits
            .push((message.transport.peer_addr, message.message));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_epoch_zero_client_hellos() {
        let mut hello = vec![0u8; 80];
        hello[0] = CONTENT_HANDSHAKE;
        hello[13] = HANDSHAKE_CLIENT_HELLO;
        hello[27..59].copy_from_slice(&[7u8; 32]);
        assert_eq!(client_hello_random(&hello), Some([7u8; 32]));

        let mut epoch1 = hello.clone();
        epoch1[4] = 1;
        assert_eq!(client_hello_random(&epoch1), None);

        let mut server_hello = hello.clone();
        server_hello[13] = 2;
        assert_eq!(client_hello_random(&server_hello), None);

        let mut app_data = hello.clone();
        app_data[0] = 23;
        assert_eq!(client_hello_random(&app_data), None);

        assert_eq!(client_hello_random(&hello[..40]), None);
    }
}
