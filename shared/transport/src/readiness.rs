//! How the DTLS socket is registered with tokio's reactor: for reading only, and for
//! writability only while a send waits for room.
//!
//! A socket registered for both, edge-triggered, reports every datagram it sends as a
//! writability edge on loopback (the kernel frees the datagram at once): one more return
//! from `epoll_wait` per packet, which nobody waits for. quinn asks whether the socket is
//! writable before every send ([`Writable`]): the answer is yes at once unless the kernel
//! refused a send, and only then is a copy of the descriptor registered for writability,
//! until the socket is writable again.

use std::{
    future::Future,
    io,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use quinn::UdpPoller;
use tokio::io::{Interest, unix::AsyncFd};

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

/// A copy of the socket's descriptor, registered for writability alone.
fn register_writable(socket: &DtlsSocket) -> io::Result<AsyncFd<OwnedFd>> {
    let copy = socket.descriptor().as_fd().try_clone_to_owned()?;
    register(copy, Interest::WRITABLE)
}

/// How long a connection waits before trying a refused send again when it could not
/// register for writability (the process has no descriptor to spare).
const RETRY_UNREGISTERED: Duration = Duration::from_millis(1);

/// One connection's wait for the socket to take datagrams again (see the module's docs).
#[derive(Debug)]
pub(crate) struct Writable {
    socket: Arc<DtlsSocket>,
    /// The wait in progress, if any.
    wait: Option<Wait>,
}

impl Writable {
    pub(crate) fn new(socket: Arc<DtlsSocket>) -> Self {
        Self { socket, wait: None }
    }
}

#[derive(Debug)]
enum Wait {
    /// Registered for writability: made when a wait starts, dropped (deregistered) when it
    /// ends, so no send's writability edge reaches the reactor otherwise. Registering
    /// reports the socket's state at that moment: a buffer that drained before it counts.
    Registered(AsyncFd<OwnedFd>),
    /// No descriptor to register (the process has none to spare): the send is tried again
    /// after [`RETRY_UNREGISTERED`], instead of failing the connection.
    Retry(Pin<Box<tokio::time::Sleep>>),
}

impl Wait {
    fn start(socket: &DtlsSocket) -> Self {
        match register_writable(socket) {
            Ok(registered) => Self::Registered(registered),
            Err(err) => {
                tracing::debug!(error = %err, "no writability registration: retrying the send shortly");
                Self::Retry(Box::pin(tokio::time::sleep(RETRY_UNREGISTERED)))
            }
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Self::Registered(registered) => registered.poll_write_ready(cx).map_ok(drop),
            Self::Retry(sleep) => sleep.as_mut().poll(cx).map(Ok),
        }
    }
}

impl UdpPoller for Writable {
    fn poll_writable(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.socket.send_blocked() {
            this.wait = None;
            return Poll::Ready(Ok(()));
        }
        let wait = this.wait.get_or_insert_with(|| Wait::start(&this.socket));
        let polled = wait.poll(cx);
        if polled.is_ready() {
            this.wait = None;
            this.socket.unblock_sends();
        }
        polled
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
    async fn a_socket_that_refused_nothing_is_writable_without_a_registration() {
        let mut writable = Writable {
            socket: client_socket(),
            wait: None,
        };
        assert!(matches!(poll_once(&mut writable), Poll::Ready(Ok(()))));
        assert!(writable.wait.is_none());
    }

    #[tokio::test]
    async fn after_a_refused_send_the_wait_lasts_until_the_kernel_reports_writable() {
        let socket = client_socket();
        let mut writable = Writable {
            socket: socket.clone(),
            wait: None,
        };
        // What `send_run` records when the kernel says its buffer is full.
        socket.block_sends();
        assert!(
            poll_once(&mut writable).is_pending(),
            "no readiness seen yet"
        );
        assert!(matches!(writable.wait, Some(Wait::Registered(_))));
        // The registration's first report: the socket's buffer is empty, so writable.
        writable_again(&mut writable).await;
        assert!(writable.wait.is_none(), "deregistered once writable");
        assert!(!socket.send_blocked());
    }

    #[tokio::test]
    async fn a_wait_that_could_not_register_tries_the_send_again_shortly() {
        let socket = client_socket();
        socket.block_sends();
        let mut writable = Writable {
            socket: socket.clone(),
            // What `Wait::start` falls back to when the descriptor can't be copied.
            wait: Some(Wait::Retry(Box::pin(tokio::time::sleep(
                RETRY_UNREGISTERED,
            )))),
        };
        let started = tokio::time::Instant::now();
        assert!(poll_once(&mut writable).is_pending());
        writable_again(&mut writable).await;
        assert!(started.elapsed() >= RETRY_UNREGISTERED);
        assert!(writable.wait.is_none());
        assert!(!socket.send_blocked());
    }
}
