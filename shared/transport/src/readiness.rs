//! How the DTLS socket is registered with tokio's reactor: for reading only, and for
//! writability only while a send waits for room.
//!
//! A socket registered for both, edge-triggered, reports every datagram it sends as a
//! writability edge on loopback (the kernel frees the datagram at once): one more return
//! from `epoll_wait` per packet, which nobody waits for. quinn asks whether the socket is
//! writable before every send ([`Writable`]): the answer is yes at once unless the kernel
//! refused a send. Only then does one task per socket ([`SendRoom`]) register a copy of the
//! descriptor for writability, and wake every connection waiting when the socket drains:
//! one descriptor however many connections wait.

use std::{
    future::Future,
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use quinn::UdpPoller;
use tokio::{
    io::{Interest, unix::AsyncFd},
    sync::{Notify, futures::OwnedNotified},
};

use crate::socket::DtlsSocket;

/// Registers a descriptor with tokio's reactor for `interest` alone.
///
/// tokio deprecates its safe constructor because an `AsRawFd` type could hand it a
/// descriptor it does not own (tokio#8587); both types here own theirs for the
/// registration's whole life and always return the same one, which is what the unsafe
/// replacement would have us promise (and this crate forbids `unsafe`).
#[allow(deprecated)]
pub(crate) fn register<T: AsRawFd + Into<OwnedFd>>(
    owner: T,
    interest: Interest,
) -> io::Result<AsyncFd<T>> {
    AsyncFd::with_interest(owner, interest)
}

/// How long the socket's watcher waits before letting refused sends be tried again when it
/// could not register for writability (the process has no descriptor to spare).
const RETRY_UNREGISTERED: Duration = Duration::from_millis(1);

/// A socket's wait for room to send, shared by the connections on it.
#[derive(Debug, Default)]
pub(crate) struct SendRoom {
    /// Woken, all at once, when the socket is writable again.
    drained: Arc<Notify>,
    /// A watcher task is waiting for the socket to be writable.
    watching: AtomicBool,
}

/// Starts the socket's watcher unless one is running: it waits until the socket is
/// writable, then clears the socket's blocked mark and wakes every waiting connection.
fn watch(socket: &Arc<DtlsSocket>) {
    if socket.send_room().watching.swap(true, Ordering::AcqRel) {
        return;
    }
    let socket = socket.clone();
    tokio::spawn(async move {
        wait_for_room(&socket).await;
        socket.unblock_sends();
        let room = socket.send_room();
        room.watching.store(false, Ordering::Release);
        room.drained.notify_waiters();
    });
}

/// Until the socket is writable: a copy of its descriptor registered for writability,
/// dropped (deregistered) once it reports; registering reports the socket's state at that
/// moment, so a buffer that drained before it counts. Without a descriptor to spare, a
/// short sleep instead of failing every waiting connection.
async fn wait_for_room(socket: &DtlsSocket) {
    let registered = socket
        .descriptor()
        .as_fd()
        .try_clone_to_owned()
        .and_then(|copy| register(copy, Interest::WRITABLE));
    match registered {
        // An error here is the reactor's own (it is shutting down): waking the waiters
        // lets their sends report what is wrong.
        Ok(registered) => drop(registered.writable().await),
        Err(err) => {
            tracing::debug!(error = %err, "no writability registration: retrying sends shortly");
            tokio::time::sleep(RETRY_UNREGISTERED).await;
        }
    }
}

/// One connection's wait for the socket to take datagrams again.
#[derive(Debug)]
pub(crate) struct Writable {
    socket: Arc<DtlsSocket>,
    /// The wake-up this connection waits for, made before the watcher can send it.
    drained: Option<Pin<Box<OwnedNotified>>>,
}

impl Writable {
    pub(crate) fn new(socket: Arc<DtlsSocket>) -> Self {
        Self {
            socket,
            drained: None,
        }
    }
}

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.socket.send_blocked() {
            this.drained = None;
            return Poll::Ready(Ok(()));
        }
        let drained = this.drained.get_or_insert_with(|| {
            let drained = Box::pin(this.socket.send_room().drained.clone().notified_owned());
            watch(&this.socket);
            drained
        });
        ready!(drained.as_mut().poll(cx));
        this.drained = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::{DtlsTable, MigrationLimits, SharedCounts, TableLimits};

    fn client_socket() -> Arc<DtlsSocket> {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let local = socket.local_addr().unwrap();
        let limits = TableLimits {
            handshake_timeout: Duration::from_secs(5),
            max_handshaking: 1,
            max_handshakes_per_ip: 1,
            max_peers: 1,
            stale_after: Duration::from_secs(60),
            shared: SharedCounts::default(),
            migration: MigrationLimits::OFF,
        };
        DtlsSocket::new(socket, DtlsTable::client(local, limits), None)
            .unwrap()
            .0
    }

    fn poll_once(writable: &mut Writable) -> Poll<io::Result<()>> {
        let waker = futures_util::task::noop_waker();
        Pin::new(writable).poll_writable(&mut Context::from_waker(&waker))
    }

    async fn writable_again(writable: &mut Writable) {
        tokio::time::timeout(
            Duration::from_secs(5),
            std::future::poll_fn(|cx| Pin::new(&mut *writable).poll_writable(cx)),
        )
        .await
        .expect("the wait ends")
        .unwrap();
    }

    #[tokio::test]
    async fn a_socket_that_refused_nothing_is_writable_without_a_wait() {
        let socket = client_socket();
        let mut writable = Writable::new(socket.clone());
        assert!(matches!(poll_once(&mut writable), Poll::Ready(Ok(()))));
        assert!(writable.drained.is_none());
        assert!(!socket.send_room().watching.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn after_a_refused_send_the_wait_lasts_until_the_kernel_reports_writable() {
        let socket = client_socket();
        let mut writable = Writable::new(socket.clone());
        // What `send_run` records when the kernel says its buffer is full.
        socket.block_sends();
        assert!(
            poll_once(&mut writable).is_pending(),
            "no readiness seen yet"
        );
        assert!(socket.send_room().watching.load(Ordering::Acquire));
        // The registration's first report: the socket's buffer is empty, so writable.
        writable_again(&mut writable).await;
        assert!(!socket.send_blocked());
        assert!(!socket.send_room().watching.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn every_waiting_connection_is_woken_when_the_socket_drains() {
        let socket = client_socket();
        let mut first = Writable::new(socket.clone());
        let mut second = Writable::new(socket.clone());
        socket.block_sends();
        assert!(poll_once(&mut first).is_pending());
        assert!(poll_once(&mut second).is_pending());
        // Both wait on the one watcher the first started.
        assert!(socket.send_room().watching.load(Ordering::Acquire));
        writable_again(&mut first).await;
        writable_again(&mut second).await;
        assert!(!socket.send_blocked());
    }
}
