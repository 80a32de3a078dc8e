//! Reading one datagram into an association, on the receive path or as a *handshake step*
//! run elsewhere.
//!
//! A server handshake's reads carry its public-key work: the flight answering the client's
//! second hello signs the key exchange, and the client's key exchange costs an ECDH. Run
//! under the socket's lock, on the receive path, a storm of handshakes makes every
//! established session's packets wait behind that arithmetic. A table that hands its
//! handshakes off ([`DtlsTable::hand_off_handshakes`]) instead lends the association's
//! state machine out with the datagram as a [`HandshakeStep`]; whoever runs it (the socket's
//! handshake thread) brings back a [`StepDone`] for [`DtlsTable::take_back`]. Meanwhile the
//! association stays in the table, counted against the handshake limits and the handshake
//! timeout, and the datagrams that arrive for it wait (at most [`super::MAX_WAITING`]);
//! they leave together as the next step, so a peer retransmitting while its step is queued
//! costs one more trip, not one per copy.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use bytes::BytesMut;
use rtc_dtls::endpoint::{Endpoint, EndpointEvent};

use super::{DtlsTable, Output, Peer, Phase, Slot, wire};

/// What one read of an association produced.
#[derive(Default)]
pub(super) struct Read {
    pub(super) established: bool,
    pub(super) data: Vec<BytesMut>,
    pub(super) closed_by_peer: bool,
    pub(super) error: Option<String>,
}

impl Read {
    /// Adds what a later read produced (the last error wins).
    fn then(&mut self, later: Read) {
        self.established |= later.established;
        self.data.extend(later.data);
        self.closed_by_peer |= later.closed_by_peer;
        if later.error.is_some() {
            self.error = later.error;
        }
    }
}

/// Reads one datagram into `dtls`, the association rtc-dtls knows as `dtls_addr`; what it
/// answers goes to `to`, where the peer is now.
pub(super) fn read_endpoint(
    dtls: &mut Endpoint,
    now: Instant,
    dtls_addr: SocketAddr,
    to: SocketAddr,
    datagram: BytesMut,
    out: &mut Output,
) -> Read {
    let result = dtls.read(now, dtls_addr, None, datagram);
    drain_transmits(dtls, to, out);
    let mut read = Read::default();
    match result {
        Ok(events) => {
            for event in events {
                match event {
                    EndpointEvent::HandshakeComplete => read.established = true,
                    EndpointEvent::ApplicationData(data) => {
                        // rtc-dtls hands out application data only once its handshake is
                        // complete. If the completion event was lost (it drops a read's
                        // events when the read also fails), this is the proof.
                        read.established = true;
                        read.data.push(data);
                    }
                    EndpointEvent::PeerClosed => read.closed_by_peer = true,
                    _ => {}
                }
            }
        }
        Err(err) => read.error = Some(err.to_string()),
    }
    read
}

/// Queues what `dtls` has to send, to `to`: where its peer is now.
pub(super) fn drain_transmits(dtls: &mut Endpoint, to: SocketAddr, out: &mut Output) {
    while let Some(message) = dtls.poll_transmit() {
        out.transmits.push((to, message.message));
    }
}

/// A handshake's state machine and the datagrams for it, in order, to be read away from
/// the table.
pub(crate) struct HandshakeStep {
    addr: SocketAddr,
    slot: Slot,
    id: u64,
    dtls_addr: SocketAddr,
    dtls: Box<Endpoint>,
    datagrams: Vec<BytesMut>,
    /// The handshake's first step (paced: [`crate::handshake_thread`]).
    first: bool,
    /// When the table gives up on the handshake.
    expires: Instant,
}

/// What comes back from the handshake thread.
pub(crate) enum Returned {
    /// A step that ran ([`DtlsTable::take_back`]).
    Done(StepDone),
    /// A step let go of unrun ([`DtlsTable::forget_dropped`]).
    Dropped(StepDropped),
}

/// A step the handshake thread let go of unrun, its client having given the attempt up:
/// its association is forgotten, freeing its place among the handshakes in progress
/// instead of holding it until the handshake's timeout.
pub(crate) struct StepDropped {
    pub(super) addr: SocketAddr,
    pub(super) slot: Slot,
    pub(super) id: u64,
}

/// A step that ran: the state machine, what the read produced and what it answers.
pub(crate) struct StepDone {
    addr: SocketAddr,
    slot: Slot,
    id: u64,
    dtls: Box<Endpoint>,
    read: Read,
    position: Option<wire::RecordPosition>,
    out: Output,
}

impl HandshakeStep {
    /// `peer`'s state machine `dtls`, taken out of it, with `datagrams`; the handshake
    /// started at `started` is given up on after `timeout`.
    pub(super) fn new(
        (addr, slot): (SocketAddr, Slot),
        peer: &mut Peer,
        dtls: Box<Endpoint>,
        datagrams: Vec<BytesMut>,
        (started, timeout): (Instant, Duration),
    ) -> Self {
        let first = !peer.stepped;
        peer.stepped = true;
        Self {
            addr,
            slot,
            id: peer.id,
            dtls_addr: peer.dtls_addr,
            dtls,
            datagrams,
            first,
            expires: started + timeout,
        }
    }

    /// Where the handshake's datagrams come from.
    pub(crate) fn source(&self) -> SocketAddr {
        self.addr
    }

    /// Lets the step go unrun: what the table needs to forget its association.
    pub(crate) fn drop_unrun(self) -> StepDropped {
        StepDropped {
            addr: self.addr,
            slot: self.slot,
            id: self.id,
        }
    }

    /// Whether this is its handshake's first step.
    pub(crate) fn is_first(&self) -> bool {
        self.first
    }

    /// Whether its handshake is over its timeout at `now` (the table has let it go).
    pub(crate) fn expired(&self, now: Instant) -> bool {
        now >= self.expires
    }

    /// Reads the datagrams, at `now`.
    pub(crate) fn run(mut self, now: Instant) -> StepDone {
        let mut out = Output::default();
        let mut read = Read::default();
        let mut position = None;
        for datagram in self.datagrams {
            let record = wire::sole_application_record(&datagram);
            let one = read_endpoint(
                &mut self.dtls,
                now,
                self.dtls_addr,
                self.addr,
                datagram,
                &mut out,
            );
            if !one.data.is_empty() {
                position = record;
            }
            read.then(one);
        }
        StepDone {
            addr: self.addr,
            slot: self.slot,
            id: self.id,
            dtls: self.dtls,
            read,
            position,
            out,
        }
    }
}

impl DtlsTable {
    /// Puts a step's state machine back and acts on what its reads produced, then reads
    /// the datagrams that waited for it: all as one more step if the handshake goes on. A
    /// step whose association is gone meanwhile (expired, replaced) is dropped with
    /// everything it would have sent.
    /// Forgets the association of a step the handshake thread let go of unrun, unless it
    /// is gone or was replaced meanwhile; counted as an expired handshake.
    pub(crate) fn forget_dropped(&mut self, dropped: StepDropped, out: &mut Output) {
        let StepDropped { addr, slot, id } = dropped;
        let away = self
            .slot_map(slot)
            .get(&addr)
            .is_some_and(|peer| peer.id == id && peer.dtls.is_none());
        if !away {
            return;
        }
        self.counters.handshakes_paced_out += 1;
        let reason = "DTLS handshake waited too long for its turn";
        match slot {
            Slot::Current => self.forget(addr, reason, out),
            Slot::Successor => self.forget_successor(addr, reason, out),
        }
    }

    pub(crate) fn take_back(
        &mut self,
        now: Instant,
        done: StepDone,
        deliver: &mut impl FnMut(SocketAddr, BytesMut),
        out: &mut Output,
    ) {
        let StepDone {
            addr,
            slot,
            id,
            dtls,
            read,
            position,
            out: answered,
        } = done;
        let Some(peer) = self
            .slot_map(slot)
            .get_mut(&addr)
            .filter(|peer| peer.id == id && peer.dtls.is_none())
        else {
            return;
        };
        peer.dtls = Some(dtls);
        let waiting = std::mem::take(&mut peer.waiting);
        out.transmits.extend(answered.transmits);
        self.settle(now, addr, slot, true, position, read, deliver, out);
        if waiting.is_empty() {
            return;
        }
        let timeout = self.limits.handshake_timeout;
        let Some(peer) = self.slot_map(slot).get_mut(&addr) else {
            return;
        };
        if let Phase::Handshaking { started } = peer.phase
            && let Some(dtls) = peer.dtls.take()
        {
            out.steps.push(HandshakeStep::new(
                (addr, slot),
                peer,
                dtls,
                waiting,
                (started, timeout),
            ));
            return;
        }
        for datagram in waiting {
            self.feed(now, addr, slot, datagram, deliver, out);
        }
    }
}
