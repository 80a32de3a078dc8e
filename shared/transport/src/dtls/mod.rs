//! The DTLS side of one UDP socket: a table of associations keyed by peer address.
//!
//! Sans-IO: it is handed datagrams and the time, and hands back decrypted payloads, datagrams
//! to send and lifecycle events. The socket glue in [`crate::socket`] drives it.
//!
//! Policy it enforces (RFC 6347 where it speaks):
//! - a ClientHello without a valid cookie is answered with a stateless HelloVerifyRequest
//!   ([`cookie`]); state is created only for a hello that returns a valid cookie, so a
//!   spoofed source address can't hold any;
//! - handshakes in progress are capped in all and per source IP, and forgotten after the
//!   handshake timeout;
//! - anything else from an unknown address is counted, logged at debug and dropped;
//! - a record that fails to decrypt on an established association is dropped silently
//!   (§4.1.2.7), so a spoofed datagram can't kill a session;
//! - a new ClientHello (fresh random, valid cookie) from an established address starts a
//!   *successor* handshake beside the live association, which keeps serving until the
//!   successor completes and replaces it (§4.2.8): a peer that restarted gets a clean
//!   association, an unauthenticated datagram ends nothing;
//! - an authenticated, newer-than-any-before record from a new port of an established
//!   peer's IP moves its association there (a NAT rebinding, [`migration`]).

mod budget;
mod cookie;
mod in_place;
mod migration;
mod peers;
mod step;
#[cfg(test)]
mod tests;
mod wire;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use bytes::BytesMut;
use rtc_dtls::{config::HandshakeConfig, crypto_provider::RTCCryptoProvider, endpoint::Endpoint};
use rtc_shared::TransportProtocol;

use crate::error::DtlsError;

use self::{
    budget::{HandshakeBudget, Refusal},
    cookie::{COOKIE_LEN, Cookie, CookieJar},
    migration::TrialBuckets,
    peers::Peers,
    step::{Read, drain_transmits, read_endpoint},
    wire::{ClientHello, RecordPosition},
};
pub(crate) use cookie::CookieSeed;
pub(crate) use in_place::{InPlace, Sealed};
pub(crate) use migration::{MigrationCounters, MigrationLimits};
pub(crate) use step::{HandshakeStep, Returned};

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
    /// Datagrams with no bytes at all: no record to look at.
    pub(crate) empty_dropped: u64,
    pub(crate) unsolicited_dropped: u64,
    pub(crate) undecryptable_dropped: u64,
    /// Handshakes refused at the listener-wide limits.
    pub(crate) handshakes_refused: u64,
    /// Handshakes refused because their source IP had too many in progress.
    pub(crate) handshakes_refused_per_ip: u64,
    pub(crate) handshakes_failed: u64,
    /// Handshakes given up on: timed out or retransmissions exhausted.
    pub(crate) handshakes_expired: u64,
    /// Handshakes whose next step waited longer for a turn on the paced handshake thread
    /// than their client waits for an answer: dropped unrun.
    pub(crate) handshakes_paced_out: u64,
    /// Handshake datagrams dropped because their association already had
    /// [`MAX_WAITING`] waiting for its handshake step to come back.
    pub(crate) handshake_datagrams_dropped: u64,
    /// ClientHellos without a cookie, answered with a stateless HelloVerifyRequest.
    pub(crate) cookies_sent: u64,
    /// ClientHellos whose cookie did not verify: forged, expired or from another address.
    pub(crate) bad_cookies: u64,
    /// Records from new ports of known IPs, by outcome.
    pub(crate) migration: MigrationCounters,
}

/// What one call produced: datagrams to send, events, and handshake steps to run off the
/// receive path (when the table hands them off).
#[derive(Default)]
pub(crate) struct Output {
    pub(crate) transmits: Vec<(SocketAddr, BytesMut)>,
    pub(crate) events: Vec<PeerEvent>,
    pub(crate) steps: Vec<HandshakeStep>,
}

/// How a gateway's handshake thread admits new handshakes ([`crate::handshake_thread`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pacing {
    /// New handshakes a second.
    pub(crate) per_s: u32,
    /// New handshakes that may start at once, on top of the rate: the bucket's depth.
    pub(crate) burst: u32,
    /// How long a handshake's first step may wait for its turn: past that its client has
    /// given the attempt up (rtc-dtls resends a flight seven times, a flight interval
    /// apart, then fails), and running it would spend a turn on nobody.
    pub(crate) patience: Duration,
}

impl Pacing {
    /// `per_s` new handshakes a second, `burst` of them at once, for clients that resend
    /// their flights every `flight_interval`.
    pub(crate) fn new(per_s: u32, burst: u32, flight_interval: Duration) -> Self {
        Self {
            per_s,
            burst,
            patience: flight_interval * 7,
        }
    }
}

/// Datagrams an association keeps while its handshake step is away; more are dropped (the
/// peer's retransmissions recover).
pub(crate) const MAX_WAITING: usize = 8;

enum Phase {
    Handshaking { started: Instant },
    Established,
}

struct Peer {
    id: u64,
    /// The association's state machine; `None` while a handshake step runs elsewhere
    /// ([`step`]).
    dtls: Option<Box<Endpoint>>,
    /// Datagrams that arrived while the state machine was away, oldest first.
    waiting: Vec<BytesMut>,
    /// A handshake step has been taken (the next ones are not the first).
    stepped: bool,
    /// The address rtc-dtls knows the association by: where it started. The table's key is
    /// where the peer is now ([`migration`]).
    dtls_addr: SocketAddr,
    phase: Phase,
    client_random: Option<[u8; 32]>,
    last_rx: Instant,
    /// The newest application-data record the association accepted.
    newest_rx: Option<RecordPosition>,
}

impl Peer {
    fn handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshaking { .. })
    }

    /// The state machine of an established association, unless a step has it away.
    fn established_dtls(&mut self) -> Option<&mut Endpoint> {
        if self.handshaking() {
            return None;
        }
        self.dtls.as_deref_mut()
    }

    /// Notes an application-data record the association accepted.
    fn accepted(&mut self, position: RecordPosition) {
        if self.newest_rx.is_none_or(|newest| {
            (position.epoch, position.sequence) > (newest.epoch, newest.sequence)
        }) {
            self.newest_rx = Some(position);
        }
    }
}

/// How often established associations are checked for staleness.
pub(crate) const STALE_SCAN_PERIOD: Duration = Duration::from_secs(1);

/// Why a handshake ended when the peer never answered its flights.
pub(crate) const RETRANSMISSIONS_EXHAUSTED: &str = "DTLS handshake retransmissions exhausted";

/// Limits the table enforces.
#[derive(Debug, Clone)]
pub(crate) struct TableLimits {
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_handshaking: usize,
    pub(crate) max_handshakes_per_ip: usize,
    pub(crate) max_peers: usize,
    /// An established peer that hasn't sent anything for this long is dropped (the stream
    /// layer's idle timeout normally acts first).
    pub(crate) stale_after: Duration,
    /// What the listener's tables count together.
    pub(crate) shared: SharedCounts,
    /// What records from new ports of known IPs may cost.
    pub(crate) migration: MigrationLimits,
}

/// What every table of one listener counts together (one table per socket of its group,
/// [`crate::reuseport`]), so that the listener's limits hold for it as a whole.
#[derive(Debug, Clone, Default)]
pub(crate) struct SharedCounts {
    /// DTLS associations, established or handshaking, successors included.
    pub(crate) associations: Arc<AtomicUsize>,
    /// DTLS handshakes in progress.
    pub(crate) handshakes: Arc<AtomicUsize>,
    /// Sessions the listener holds on other carriers (TCP): they count against `max_peers`.
    pub(crate) other_sessions: Arc<AtomicUsize>,
}

/// What a server needs to answer ClientHellos.
pub(crate) struct ServerRole {
    config: Arc<HandshakeConfig>,
    cookies: CookieJar,
    /// The random source `config`'s provider draws its cookies from.
    seed: CookieSeed,
}

impl ServerRole {
    /// `config` must have been built with `seed`'s provider; `random` makes cookie keys.
    pub(crate) fn new(
        now: Instant,
        config: Arc<HandshakeConfig>,
        seed: CookieSeed,
        random: Arc<dyn RTCCryptoProvider>,
    ) -> Self {
        Self {
            config,
            cookies: CookieJar::new(now, random),
            seed,
        }
    }
}

/// Which association at an address a datagram is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The association in place (established or handshaking).
    Current,
    /// The handshake that will replace an established association.
    Successor,
}

pub(crate) struct DtlsTable {
    local_addr: SocketAddr,
    server: Option<ServerRole>,
    peers: Peers,
    successors: Peers,
    budget: HandshakeBudget,
    trial_buckets: TrialBuckets,
    next_id: u64,
    limits: TableLimits,
    /// Server handshake reads go out as [`HandshakeStep`]s instead of running inline, new
    /// handshakes paced so.
    hand_off: Option<Pacing>,
    /// When [`Self::handle_timeouts`] next looks at every association (at its first call).
    next_stale_scan: Option<Instant>,
    pub(crate) counters: DtlsCounters,
}

impl DtlsTable {
    /// A table that only connects out (the agent's side).
    pub(crate) fn client(local_addr: SocketAddr, limits: TableLimits) -> Self {
        Self::new(local_addr, None, limits)
    }

    /// A table that accepts handshakes (the gateway's side).
    pub(crate) fn server(local_addr: SocketAddr, role: ServerRole, limits: TableLimits) -> Self {
        Self::new(local_addr, Some(role), limits)
    }

    fn new(local_addr: SocketAddr, server: Option<ServerRole>, limits: TableLimits) -> Self {
        Self {
            local_addr,
            server,
            peers: Peers::counted_in(limits.shared.associations.clone()),
            successors: Peers::counted_in(limits.shared.associations.clone()),
            budget: HandshakeBudget::new(
                limits.max_handshaking,
                limits.max_handshakes_per_ip,
                limits.shared.handshakes.clone(),
            ),
            trial_buckets: TrialBuckets::default(),
            next_id: 1,
            limits,
            hand_off: None,
            next_stale_scan: None,
            counters: DtlsCounters::default(),
        }
    }

    /// Presents a new server identity to handshakes that start from now on; established
    /// sessions keep theirs. `config` must be built with [`Self::cookie_seed`]'s provider.
    pub(crate) fn set_server_config(&mut self, config: Arc<HandshakeConfig>) {
        if let Some(server) = &mut self.server {
            server.config = config;
        }
    }

    /// From now on a server handshake's reads (its public-key work) are handed out as
    /// [`Output::steps`] for the caller to run elsewhere and bring back with
    /// [`Self::take_back`], so the receive path never waits for them.
    /// New handshakes are to be paced so ([`crate::handshake_thread`]).
    pub(crate) fn hand_off_handshakes(&mut self, pacing: Pacing) {
        self.hand_off = self.server.as_ref().map(|_| pacing);
    }

    /// Whether handshake reads go out as steps, and how new handshakes are paced.
    pub(crate) fn hands_off(&self) -> Option<Pacing> {
        self.hand_off
    }

    /// The random source server handshake configurations must draw cookies from.
    pub(crate) fn cookie_seed(&self) -> Option<CookieSeed> {
        self.server.as_ref().map(|s| s.seed.clone())
    }

    /// Associations held, established or handshaking.
    pub(crate) fn len(&self) -> usize {
        self.peers.len() + self.successors.len()
    }

    pub(crate) fn handshaking(&self) -> usize {
        self.budget.in_progress()
    }

    /// The id of the association currently at `addr`.
    pub(crate) fn peer_id(&self, addr: &SocketAddr) -> Option<u64> {
        self.peers.get(addr).map(|p| p.id)
    }

    /// Where association `id` is now.
    #[cfg(test)]
    pub(crate) fn peer_addr(&self, id: u64) -> Option<SocketAddr> {
        self.peers.addr_of(id)
    }

    /// The DER certificates the peer at `addr` presented.
    pub(crate) fn peer_certificates(&self, addr: &SocketAddr) -> Vec<Vec<u8>> {
        self.peers
            .get(addr)
            .and_then(|p| p.dtls.as_ref()?.get_connection_state(p.dtls_addr))
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
    ) -> Result<u64, DtlsError> {
        self.remove(now, remote, "replaced by a new connection", out);
        let mut dtls = Endpoint::new(self.local_addr, TransportProtocol::UDP, None);
        dtls.connect(now, remote, config, None)
            .map_err(DtlsError::Start)?;
        if self.budget.reserve(remote.ip()).is_err() {
            return Err(DtlsError::Busy);
        }
        let id = self.allocate_id();
        let mut dtls = Box::new(dtls);
        drain_transmits(&mut dtls, remote, out);
        let peer = Peer {
            id,
            dtls: Some(dtls),
            waiting: Vec::new(),
            stepped: false,
            dtls_addr: remote,
            phase: Phase::Handshaking { started: now },
            client_random: None,
            last_rx: now,
            newest_rx: None,
        };
        self.peers.insert(remote, peer);
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
        if datagram.is_empty() {
            self.counters.empty_dropped += 1;
            return;
        }
        if self.server.is_some()
            && let Some(hello) = wire::client_hello(&datagram)
        {
            return self.handle_client_hello(now, from, hello, datagram, deliver, out);
        }
        let slot = if self.successors.contains_key(&from) && for_successor(&datagram) {
            Slot::Successor
        } else if self.peers.contains_key(&from) {
            Slot::Current
        } else if self.server.is_some() && self.try_migrate(now, from, &datagram, deliver, out) {
            return;
        } else {
            // Not a ClientHello: a stray record from a forgotten session, or garbage.
            self.counters.unsolicited_dropped += 1;
            tracing::debug!(
                peer = %from,
                len = datagram.len(),
                "dropped a DTLS record: no association with its sender"
            );
            return;
        };
        self.feed(now, from, slot, datagram, deliver, out);
    }

    fn handle_client_hello(
        &mut self,
        now: Instant,
        from: SocketAddr,
        hello: ClientHello,
        datagram: BytesMut,
        deliver: &mut impl FnMut(SocketAddr, BytesMut),
        out: &mut Output,
    ) {
        // A repeat of the hello that started an association here belongs to it.
        let repeated = [Slot::Current, Slot::Successor].into_iter().find(|slot| {
            self.slot_ref(*slot)
                .get(&from)
                .is_some_and(|p| p.client_random == Some(hello.random))
        });
        if let Some(slot) = repeated {
            return self.feed(now, from, slot, datagram, deliver, out);
        }
        let Some(server) = &mut self.server else {
            return;
        };
        if hello.cookie.is_empty() {
            let cookie = server.cookies.issue(now, from);
            out.transmits
                .push((from, wire::hello_verify_request(&hello, &cookie)));
            self.counters.cookies_sent += 1;
            return;
        }
        let cookie: Option<Cookie> = hello.cookie.as_slice().try_into().ok();
        let Some(cookie) = cookie.filter(|c| server.cookies.verify(now, from, c)) else {
            self.counters.bad_cookies += 1;
            tracing::debug!(peer = %from, "dropped a ClientHello: its cookie did not verify");
            return;
        };
        // A verified hello with a fresh random: a peer starting over. An unfinished
        // handshake is simply replaced; an established association waits for the new one.
        let slot = match self.peers.get(&from) {
            Some(peer) if !peer.handshaking() => Slot::Successor,
            Some(_) => {
                self.forget(from, "peer started a new handshake", out);
                Slot::Current
            }
            None => Slot::Current,
        };
        if slot == Slot::Successor {
            self.forget_successor(from, "peer started another handshake", out);
        }
        let Some(peer) = self.admit(now, from, &hello, cookie, &datagram) else {
            return;
        };
        self.slot_map(slot).insert(from, peer);
        self.feed(now, from, slot, datagram, deliver, out);
    }

    /// Creates the association for a hello whose cookie verified, if the limits allow it,
    /// and brings it to where rtc-dtls expects that hello (see [`cookie`]).
    fn admit(
        &mut self,
        now: Instant,
        from: SocketAddr,
        hello: &ClientHello,
        cookie: Cookie,
        datagram: &[u8],
    ) -> Option<Peer> {
        let server = self.server.as_ref()?;
        let shared = &self.limits.shared;
        let held = shared.associations.load(Ordering::Relaxed)
            + shared.other_sessions.load(Ordering::Relaxed);
        if held >= self.limits.max_peers {
            self.counters.handshakes_refused += 1;
            return None;
        }
        match self.budget.reserve(from.ip()) {
            Ok(()) => {}
            Err(Refusal::Global) => {
                self.counters.handshakes_refused += 1;
                return None;
            }
            Err(Refusal::PerIp) => {
                self.counters.handshakes_refused_per_ip += 1;
                return None;
            }
        }
        let local = self.local_addr;
        let dtls = wire::first_hello_before(datagram, hello)
            .and_then(|first| replay_cookie_exchange(now, local, from, server, cookie, first));
        let Some(dtls) = dtls else {
            self.budget.release(from.ip());
            self.counters.handshakes_failed += 1;
            return None;
        };
        let id = self.allocate_id();
        Some(Peer {
            id,
            dtls: Some(dtls),
            waiting: Vec::new(),
            stepped: false,
            dtls_addr: from,
            phase: Phase::Handshaking { started: now },
            client_random: Some(hello.random),
            last_rx: now,
            newest_rx: None,
        })
    }

    fn slot_ref(&self, slot: Slot) -> &Peers {
        match slot {
            Slot::Current => &self.peers,
            Slot::Successor => &self.successors,
        }
    }

    fn slot_map(&mut self, slot: Slot) -> &mut Peers {
        match slot {
            Slot::Current => &mut self.peers,
            Slot::Successor => &mut self.successors,
        }
    }

    /// Hands a datagram to the association in `slot` at `from` and acts on what it says; a
    /// server handshake's read goes out as a step when the table hands them off.
    fn feed(
        &mut self,
        now: Instant,
        from: SocketAddr,
        slot: Slot,
        datagram: BytesMut,
        deliver: &mut impl FnMut(SocketAddr, BytesMut),
        out: &mut Output,
    ) {
        let hand_off = self.hand_off.is_some();
        let timeout = self.limits.handshake_timeout;
        let Some(peer) = self.slot_map(slot).get_mut(&from) else {
            return;
        };
        peer.last_rx = now;
        let was_handshaking = peer.handshaking();
        let Some(dtls) = peer.dtls.take() else {
            // Its handshake step is away: the datagram waits for it.
            if peer.waiting.len() < MAX_WAITING {
                peer.waiting.push(datagram);
            } else {
                self.counters.handshake_datagrams_dropped += 1;
            }
            return;
        };
        if hand_off && let Phase::Handshaking { started } = peer.phase {
            out.steps.push(HandshakeStep::new(
                (from, slot),
                peer,
                dtls,
                vec![datagram],
                (started, timeout),
            ));
            return;
        }
        let dtls = peer.dtls.insert(dtls);
        let position = wire::sole_application_record(&datagram);
        let read = read_endpoint(dtls, now, peer.dtls_addr, from, datagram, out);
        self.settle(
            now,
            from,
            slot,
            was_handshaking,
            position,
            read,
            deliver,
            out,
        );
    }

    /// Acts on what a read of the association in `slot` at `from` produced.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        slot: Slot,
        was_handshaking: bool,
        position: Option<RecordPosition>,
        read: Read,
        deliver: &mut impl FnMut(SocketAddr, BytesMut),
        out: &mut Output,
    ) {
        let Some(peer) = self.slot_map(slot).get_mut(&from) else {
            return;
        };
        if !read.data.is_empty()
            && let Some(position) = position
        {
            peer.accepted(position);
        }
        if read.established && was_handshaking {
            self.establish(from, slot, out);
        }
        for data in read.data {
            deliver(from, data);
        }
        if let Some(err) = read.error {
            self.read_failed(
                now,
                from,
                slot,
                was_handshaking && !read.established,
                &err,
                out,
            );
            return;
        }
        if read.closed_by_peer {
            match slot {
                Slot::Current => self.forget(from, "peer sent close_notify", out),
                Slot::Successor => self.forget_successor(from, "peer sent close_notify", out),
            }
        }
    }

    /// A handshake completed: the association serves from now on, replacing the one it
    /// succeeds.
    fn establish(&mut self, from: SocketAddr, slot: Slot, out: &mut Output) {
        self.budget.release(from.ip());
        if slot == Slot::Successor {
            let Some(successor) = self.successors.remove(&from) else {
                return;
            };
            // The old association's peer has started over: its keys are gone, so no
            // close_notify, just forget it.
            self.forget(from, "peer restarted (its new handshake completed)", out);
            self.peers.insert(from, successor);
        }
        if let Some(peer) = self.peers.mark_established(from) {
            out.events.push(PeerEvent::Established {
                addr: from,
                id: peer.id,
            });
        }
    }

    fn read_failed(
        &mut self,
        now: Instant,
        from: SocketAddr,
        slot: Slot,
        handshaking: bool,
        err: &str,
        out: &mut Output,
    ) {
        if !handshaking {
            // A record we can't authenticate: drop it, keep the session.
            self.counters.undecryptable_dropped += 1;
            tracing::debug!(peer = %from, error = %err, "dropped an invalid DTLS record");
        } else if self.server.is_none() {
            // We are the client: the server's flight is bad or our verification of its
            // certificate failed. Fail now with the reason.
            self.counters.handshakes_failed += 1;
            let reason = format!("DTLS handshake failed: {err}");
            self.remove(now, from, &reason, out);
        } else {
            // A server keeps the attempt until its timeout: a duplicated or reordered flight
            // from the client must not end it.
            self.counters.handshakes_failed += 1;
            tracing::debug!(peer = %from, slot = slot_name(slot), error = %err, "DTLS handshake record refused");
        }
    }

    /// Encrypts one payload for `to`. `Err` if there is no established association.
    pub(crate) fn encrypt(
        &mut self,
        now: Instant,
        to: SocketAddr,
        payload: &[u8],
        out: &mut Output,
    ) -> Result<(), ()> {
        let peer = self.peers.get_mut(&to).ok_or(())?;
        let dtls_addr = peer.dtls_addr;
        let dtls = peer.established_dtls().ok_or(())?;
        dtls.write(now, dtls_addr, payload).map_err(|_| ())?;
        drain_transmits(dtls, to, out);
        Ok(())
    }

    /// Drives handshake retransmissions, rotates cookie keys and drops what has timed out.
    /// Handshakes are looked at on every call; established associations, which only go
    /// stale, once per [`STALE_SCAN_PERIOD`], so an idle table's timer costs little however
    /// many sessions it holds.
    pub(crate) fn handle_timeouts(&mut self, now: Instant, out: &mut Output) {
        if let Some(server) = &mut self.server {
            server.cookies.rotate_if_due(now);
        }
        self.trial_buckets
            .prune(now, self.limits.migration.attempts_per_ip_per_s);
        let every_peer = self.next_stale_scan.is_none_or(|at| now >= at);
        if every_peer {
            self.next_stale_scan = Some(now + STALE_SCAN_PERIOD);
        }
        for slot in [Slot::Current, Slot::Successor] {
            let limits = self.limits.clone();
            let peers = self.slot_map(slot);
            let addrs: Vec<SocketAddr> = if every_peer {
                peers.keys().copied().collect()
            } else {
                peers.handshaking().collect()
            };
            let mut expired = Vec::new();
            for addr in addrs {
                let Some(peer) = peers.get_mut(&addr) else {
                    continue;
                };
                if let Some(reason) = expiry(now, addr, peer, &limits, out) {
                    expired.push((addr, peer.id, reason));
                }
            }
            for (addr, id, Expiry { reason, handshake }) in expired {
                if handshake {
                    self.counters.handshakes_expired += 1;
                }
                match slot {
                    Slot::Current => self.remove_if(now, id, reason, out),
                    Slot::Successor => self.forget_successor(addr, reason, out),
                }
            }
        }
    }

    /// Sends close_notify to association `id` (wherever it is now, if it is still
    /// current) and forgets it.
    pub(crate) fn remove_if(&mut self, now: Instant, id: u64, reason: &str, out: &mut Output) {
        if let Some(addr) = self.peers.addr_of(id) {
            self.remove(now, addr, reason, out);
        }
    }

    fn remove(&mut self, now: Instant, addr: SocketAddr, reason: &str, out: &mut Output) {
        if let Some(peer) = self.peers.get_mut(&addr) {
            if let Some(dtls) = peer.dtls.as_deref_mut() {
                let _ = dtls.stop(now, peer.dtls_addr);
                drain_transmits(dtls, addr, out);
            }
            self.forget(addr, reason, out);
        }
    }

    fn forget(&mut self, addr: SocketAddr, reason: &str, out: &mut Output) {
        if let Some(peer) = self.peers.remove(&addr) {
            self.closed(addr, peer, reason, out);
        }
    }

    fn forget_successor(&mut self, addr: SocketAddr, reason: &str, out: &mut Output) {
        if let Some(peer) = self.successors.remove(&addr) {
            self.closed(addr, peer, reason, out);
        }
    }

    fn closed(&mut self, addr: SocketAddr, peer: Peer, reason: &str, out: &mut Output) {
        if peer.handshaking() {
            self.budget.release(addr.ip());
        }
        out.events.push(PeerEvent::Closed {
            addr,
            id: peer.id,
            reason: reason.to_owned(),
        });
    }

    /// Closes every association (shutdown).
    pub(crate) fn close_all(&mut self, now: Instant, out: &mut Output) {
        let successors: Vec<SocketAddr> = self.successors.keys().copied().collect();
        for addr in successors {
            self.forget_successor(addr, "endpoint shutting down", out);
        }
        let addrs: Vec<SocketAddr> = self.peers.keys().copied().collect();
        for addr in addrs {
            self.remove(now, addr, "endpoint shutting down", out);
        }
    }
}

fn slot_name(slot: Slot) -> &'static str {
    match slot {
        Slot::Current => "current",
        Slot::Successor => "successor",
    }
}

/// Whether a datagram from an address with a successor handshake belongs to it: its
/// plaintext handshake records (epoch 0) and its Finished (an encrypted handshake record).
/// The established association gets the rest: application data and alerts.
fn for_successor(datagram: &[u8]) -> bool {
    const CONTENT_HANDSHAKE: u8 = 22;
    match wire::first_record(datagram) {
        Some((_, 0)) => true,
        Some((content, _)) => content == CONTENT_HANDSHAKE,
        None => false,
    }
}

/// A new server association that has, as far as rtc-dtls knows, issued `cookie` to the
/// client's `first` hello. `None` if the library did not draw the planted cookie.
fn replay_cookie_exchange(
    now: Instant,
    local: SocketAddr,
    from: SocketAddr,
    server: &ServerRole,
    cookie: Cookie,
    first: BytesMut,
) -> Option<Box<Endpoint>> {
    let mut dtls = Box::new(Endpoint::new(
        local,
        TransportProtocol::UDP,
        Some(server.config.clone()),
    ));
    server.seed.plant(cookie);
    let fed = dtls.read(now, from, None, first);
    let undrawn = server.seed.take_undrawn();
    let mut issued = Output::default();
    drain_transmits(&mut dtls, from, &mut issued);
    let echoed = issued
        .transmits
        .iter()
        .any(|(_, d)| wire::hello_verify_cookie(d) == Some(&cookie[..COOKIE_LEN]));
    if fed.is_err() || undrawn.is_some() || !echoed {
        tracing::warn!(peer = %from, "DTLS library did not take the verified cookie; handshake refused");
        return None;
    }
    Some(dtls)
}

/// Why an association goes.
struct Expiry {
    reason: &'static str,
    /// It never completed its handshake.
    handshake: bool,
}

/// Why `peer` should go now, if it should; drives its retransmissions otherwise.
fn expiry(
    now: Instant,
    addr: SocketAddr,
    peer: &mut Peer,
    limits: &TableLimits,
    out: &mut Output,
) -> Option<Expiry> {
    let gave_up = |reason| {
        Some(Expiry {
            reason,
            handshake: true,
        })
    };
    match peer.phase {
        Phase::Handshaking { started } => {
            if now.duration_since(started) >= limits.handshake_timeout {
                return gave_up("DTLS handshake timed out");
            }
            // A state machine that is away retransmits once it is back.
            let dtls = peer.dtls.as_deref_mut()?;
            if dtls
                .poll_timeout(&peer.dtls_addr)
                .is_some_and(|at| at <= now)
            {
                let result = dtls.handle_timeout(peer.dtls_addr, now);
                drain_transmits(dtls, addr, out);
                if let Err(err) = result {
                    tracing::debug!(peer = %addr, error = %err, "handshake retransmission gave up");
                    return gave_up(RETRANSMISSIONS_EXHAUSTED);
                }
            }
            None
        }
        Phase::Established => {
            (now.duration_since(peer.last_rx) >= limits.stale_after).then_some(Expiry {
                reason: "peer silent",
                handshake: false,
            })
        }
    }
}
