//! The associations of one slot (current or successor), keyed by the peer's address and
//! indexed by association id and by source IP: the supervisor ends an association by id
//! (its address may have changed since), and a record from an unknown port is matched
//! only against the associations of its IP ([`super::migration`]). The handshakes in
//! progress are indexed too: the table's timer looks at them often, at the rest rarely.
//! Every association is also counted in a number the listener's tables share, which its
//! limit on sessions is checked against.

use std::{
    collections::{HashMap, HashSet},
    net::{IpAddr, SocketAddr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use super::{Peer, Phase};

pub(super) struct Peers {
    by_addr: HashMap<SocketAddr, Peer>,
    by_id: HashMap<u64, SocketAddr>,
    by_ip: HashMap<IpAddr, Vec<SocketAddr>>,
    handshaking: HashSet<SocketAddr>,
    /// Associations in every table of the listener.
    counted: Arc<AtomicUsize>,
}

impl Peers {
    /// No associations yet; each one to come is counted in `counted` too.
    pub(super) fn counted_in(counted: Arc<AtomicUsize>) -> Self {
        Self {
            by_addr: HashMap::new(),
            by_id: HashMap::new(),
            by_ip: HashMap::new(),
            handshaking: HashSet::new(),
            counted,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub(super) fn get(&self, addr: &SocketAddr) -> Option<&Peer> {
        self.by_addr.get(addr)
    }

    pub(super) fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Peer> {
        self.by_addr.get_mut(addr)
    }

    pub(super) fn contains_key(&self, addr: &SocketAddr) -> bool {
        self.by_addr.contains_key(addr)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &SocketAddr> {
        self.by_addr.keys()
    }

    /// The addresses of the associations still handshaking.
    pub(super) fn handshaking(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.handshaking.iter().copied()
    }

    /// Marks the association at `addr` established; returns it.
    pub(super) fn mark_established(&mut self, addr: SocketAddr) -> Option<&mut Peer> {
        let peer = self.by_addr.get_mut(&addr)?;
        peer.phase = Phase::Established;
        self.handshaking.remove(&addr);
        Some(peer)
    }

    /// The address association `id` is at now.
    pub(super) fn addr_of(&self, id: u64) -> Option<SocketAddr> {
        self.by_id.get(&id).copied()
    }

    /// The addresses of the associations whose peer has this IP.
    pub(super) fn at_ip(&self, ip: IpAddr) -> &[SocketAddr] {
        self.by_ip.get(&ip).map_or(&[], Vec::as_slice)
    }

    /// Puts `peer` at `addr`; returns the association it displaced, if any.
    pub(super) fn insert(&mut self, addr: SocketAddr, peer: Peer) -> Option<Peer> {
        let displaced = self.remove(&addr);
        self.by_id.insert(peer.id, addr);
        self.by_ip.entry(addr.ip()).or_default().push(addr);
        if peer.handshaking() {
            self.handshaking.insert(addr);
        }
        self.by_addr.insert(addr, peer);
        self.counted.fetch_add(1, Ordering::Relaxed);
        displaced
    }

    pub(super) fn remove(&mut self, addr: &SocketAddr) -> Option<Peer> {
        let peer = self.by_addr.remove(addr)?;
        self.counted.fetch_sub(1, Ordering::Relaxed);
        self.by_id.remove(&peer.id);
        self.handshaking.remove(addr);
        if let Some(same_ip) = self.by_ip.get_mut(&addr.ip()) {
            same_ip.retain(|a| a != addr);
            if same_ip.is_empty() {
                self.by_ip.remove(&addr.ip());
            }
        }
        Some(peer)
    }

    /// Moves the association at `from` to `to` (where there must be none); returns it.
    pub(super) fn relocate(&mut self, from: SocketAddr, to: SocketAddr) -> Option<&mut Peer> {
        if self.by_addr.contains_key(&to) {
            return None;
        }
        let peer = self.remove(&from)?;
        self.insert(to, peer);
        self.by_addr.get_mut(&to)
    }
}
