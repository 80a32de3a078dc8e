//! Commands a test or benchmark gives a running relay: change the path under a live flow.
//!
//! - [`Relay::rebind`]: every client mapping gets a fresh upstream socket, so the server sees
//!   the same client from a new source port, as after a NAT rebinding; the server's
//!   datagrams to the old port go nowhere.
//! - [`Relay::block`]: every datagram, both ways, is discarded until unblocked, as on a
//!   network that starts dropping UDP; datagrams held back by an impairment are discarded
//!   when they come due.

use std::io;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use crate::relay::Relay;

/// What the client-facing task is asked to do.
pub(crate) enum Command {
    /// Replace every mapping's upstream socket; answer how many were replaced.
    Rebind(oneshot::Sender<io::Result<usize>>),
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
        self.blocked.store(blocked, Ordering::Relaxed);
    }
}
