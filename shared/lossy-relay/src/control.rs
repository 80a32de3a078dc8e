//! Commands a test or benchmark gives a running relay: change the path under a live flow.
//!
//! - [`Relay::rebind`]: every client mapping gets a fresh upstream socket, so the server sees
//!   the same client from a new source port, as after a NAT rebinding; the server's
//!   datagrams to the old port go nowhere.
//! - [`Relay::block`]: every datagram, both ways, is discarded until unblocked, as on a
//!   network that starts dropping UDP; datagrams held back by an impairment are discarded
//!   when they come due.
//! - [`Relay::set_mtu`]: datagrams larger than a size are discarded both ways, as on a route
//!   that changed to a narrower link without sending ICMP.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::relay::Relay;

/// What the client-facing task is asked to do.
pub(crate) enum Command {
    /// Replace every mapping's upstream socket; answer how many were replaced.
    Rebind(oneshot::Sender<io::Result<usize>>),
}

/// The path's state that [`Relay`]'s commands change under a live flow, shared by every
/// direction's pipe.
#[derive(Debug, Default)]
pub(crate) struct PathControl {
    /// While set, every datagram is discarded, on arrival and on release from the queue.
    pub(crate) blocked: AtomicBool,
    /// Datagrams larger than this are discarded; 0 is no limit.
    pub(crate) mtu: AtomicUsize,
}

impl PathControl {
    /// Whether the path takes a datagram of `len` bytes.
    pub(crate) fn carries(&self, len: usize) -> bool {
        let mtu = self.mtu.load(Ordering::Relaxed);
        mtu == 0 || len <= mtu
    }
}

/// Commands queued for the client-facing task at most.
pub(crate) const QUEUE: usize = 8;

pub(crate) fn channel() -> (mpsc::Sender<Command>, mpsc::Receiver<Command>) {
    mpsc::channel(QUEUE)
}

impl Relay {
    /// Replaces the upstream socket of every client mapping with a fresh one (a new source
    /// port), as a NAT that rebinds; returns how many mappings were rebound. Datagrams
    /// that arrive after this returns leave from the new ports.
    ///
    /// Fails with the socket error if a new socket could not be opened (that mapping is
    /// then gone, as if idle), or with [`io::ErrorKind::BrokenPipe`] if the relay stopped.
    pub async fn rebind(&self) -> io::Result<usize> {
        let stopped = || io::Error::new(io::ErrorKind::BrokenPipe, "the relay has stopped");
        let (answer, answered) = oneshot::channel();
        self.commands
            .send(Command::Rebind(answer))
            .await
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }

    /// Drops every datagram in both directions while `blocked` is true (counted as
    /// [`DirectionStats::blocked`](crate::DirectionStats::blocked)); takes effect at once.
    pub fn block(&self, blocked: bool) {
        self.path.blocked.store(blocked, Ordering::Relaxed);
    }

    /// From now on, discards datagrams larger than `mtu` bytes in both directions, before
    /// any impairment (counted as [`DirectionStats::too_big`](crate::DirectionStats::too_big)),
    /// as a path with a smaller MTU that sends no ICMP message does; `None` lifts it.
    pub fn set_mtu(&self, mtu: Option<usize>) {
        self.path.mtu.store(mtu.unwrap_or(0), Ordering::Relaxed);
    }
}
