//! Counters shared between the relay tasks, and their public snapshots.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Counters of one direction at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// Datagrams read from the ingress socket.
    pub received: u64,
    /// Datagrams written to the egress socket, counting each duplicate copy.
    pub forwarded: u64,
    /// Datagrams discarded by the `drop` impairment.
    pub dropped: u64,
    /// Datagrams sent twice by the `duplicate` impairment.
    pub duplicated: u64,
    /// Copies held back by the `reorder` impairment.
    pub reordered: u64,
    /// Datagrams lost to a socket error (failed send, or no upstream socket could be opened).
    pub errors: u64,
    /// Datagrams discarded because the relay was blocked ([`crate::Relay::block`]).
    pub blocked: u64,
    /// Datagrams discarded for being larger than the path's MTU ([`crate::Relay::set_mtu`]).
    pub too_big: u64,
    /// Size of the largest datagram received, in bytes.
    pub largest: u64,
    /// Size of the largest datagram forwarded, in bytes.
    pub largest_forwarded: u64,
}

/// Snapshot of the relay counters, per direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Client → server direction.
    pub to_server: DirectionStats,
    /// Server → client direction.
    pub to_client: DirectionStats,
    /// Client mappings (upstream sockets) currently open.
    pub mappings: usize,
    /// Upstream sockets replaced by [`crate::Relay::rebind`].
    pub rebinds: u64,
}

/// Live counters of one direction.
#[derive(Debug, Default)]
pub(crate) struct DirectionCounters {
    pub(crate) received: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) duplicated: AtomicU64,
    pub(crate) reordered: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) blocked: AtomicU64,
    pub(crate) too_big: AtomicU64,
    pub(crate) largest: AtomicU64,
    pub(crate) largest_forwarded: AtomicU64,
}

/// Adds one to a counter; only monotonic totals, so relaxed ordering is enough.
pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl DirectionCounters {
    fn snapshot(&self) -> DirectionStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        DirectionStats {
            received: get(&self.received),
            forwarded: get(&self.forwarded),
            dropped: get(&self.dropped),
            duplicated: get(&self.duplicated),
            reordered: get(&self.reordered),
            errors: get(&self.errors),
            blocked: get(&self.blocked),
            too_big: get(&self.too_big),
            largest: get(&self.largest),
            largest_forwarded: get(&self.largest_forwarded),
        }
    }
}

/// Which way a datagram travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    ToServer,
    ToClient,
}

/// All live counters of a relay.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    to_server: DirectionCounters,
    to_client: DirectionCounters,
    pub(crate) mappings: AtomicUsize,
    pub(crate) rebinds: AtomicU64,
}

impl Counters {
    pub(crate) fn direction(&self, direction: Direction) -> &DirectionCounters {
        match direction {
            Direction::ToServer => &self.to_server,
            Direction::ToClient => &self.to_client,
        }
    }

    pub(crate) fn snapshot(&self) -> Stats {
        Stats {
            to_server: self.to_server.snapshot(),
            to_client: self.to_client.snapshot(),
            mappings: self.mappings.load(Ordering::Relaxed),
            rebinds: self.rebinds.load(Ordering::Relaxed),
        }
    }
}
