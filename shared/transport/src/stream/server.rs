//! The gateway's side of the TCP fallback: [`StreamAcceptor::serve`] takes a TLS connection
//! that negotiated the tunnel's ALPN (the gateway's HTTPS listener did the handshake) and
//! carries one session on it; the sessions come out of the same
//! [`Listener::accept`](crate::Listener::accept) as DTLS ones, under the same cap.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::{mpsc, oneshot},
};

use super::{
    link::{self, Attached, LinkError, LinkParts},
    socket::StreamSocket,
};
use crate::{
    config::Carrier,
    session::{FullLimits, OnEnd, Session},
};

/// Why a TCP connection carried no session, or stopped carrying one.
#[derive(Debug, thiserror::Error)]
pub enum StreamServeError {
    /// The listener holds `max_sessions` sessions already (DTLS and TCP together).
    #[error("at the session limit ({max})")]
    AtCapacity {
        /// The limit.
        max: usize,
    },
    /// The connection broke the rules or carried no session.
    #[error(transparent)]
    Link(#[from] LinkError),
}

/// Takes TLS connections for the listener; cheap to clone.
#[derive(Clone, Debug)]
pub struct StreamAcceptor {
    inner: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) socket: Arc<StreamSocket>,
    /// The listener's DTLS associations, in all its tables.
    dtls_associations: Arc<AtomicUsize>,
    /// Sessions being handshaken, by the peer's address: where to hand the connection.
    waiting: Mutex<HashMap<SocketAddr, oneshot::Sender<Attached>>>,
    /// TCP connections held now; the DTLS table counts them against the same cap.
    pub(crate) connections: Arc<AtomicUsize>,
    max_sessions: usize,
    max_packet: usize,
    handshake_timeout: Duration,
    pub(crate) refused: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
    /// The listener's runtime, where its endpoints run: connections are carried there too.
    runtime: tokio::runtime::Handle,
}

impl StreamAcceptor {
    pub(crate) fn new(
        socket: Arc<StreamSocket>,
        dtls_associations: Arc<AtomicUsize>,
        connections: Arc<AtomicUsize>,
        (max_sessions, max_packet, handshake_timeout): (usize, usize, Duration),
    ) -> Self {
        Self {
            inner: Arc::new(Shared {
                socket,
                dtls_associations,
                waiting: Mutex::new(HashMap::new()),
                connections,
                max_sessions,
                max_packet,
                handshake_timeout,
                refused: AtomicU64::new(0),
                bad_frames: AtomicU64::new(0),
                runtime: tokio::runtime::Handle::current(),
            }),
        }
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.inner
    }

    /// Carries a session on `stream` (a TLS connection with the tunnel's ALPN) until the
    /// session or the connection ends; returns why the session ended. A connection that
    /// carries no established session within the handshake timeout is closed.
    ///
    /// The connection's packets are handled on the listener's runtime, beside its
    /// endpoints (as DTLS records are), not on the caller's: a gateway's HTTP workers keep
    /// their time for visitors.
    pub async fn serve<S>(&self, stream: S) -> Result<String, StreamServeError>
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let acceptor = self.clone();
        let carried = self
            .inner
            .runtime
            .spawn(async move { acceptor.carry(stream).await });
        match carried.await {
            Ok(result) => result,
            // The runtime is shutting down (the listener's process is ending).
            Err(_) => Err(StreamServeError::Link(LinkError::EndedEarly)),
        }
    }

    async fn carry<S>(&self, stream: S) -> Result<String, StreamServeError>
    where
        S: AsyncRead + AsyncWrite,
    {
        let shared = &self.inner;
        let dtls = shared.dtls_associations.load(Ordering::Relaxed);
        let held = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
        let _held = Held(&shared.connections);
        if held + dtls > shared.max_sessions {
            shared.refused.fetch_add(1, Ordering::Relaxed);
            return Err(StreamServeError::AtCapacity {
                max: shared.max_sessions,
            });
        }
        let io = shared.socket.attach();
        let addr = io.addr;
        let (attach, attached) = oneshot::channel();
        shared.lock_waiting().insert(addr, attach);
        let parts = LinkParts {
            socket: shared.socket.clone(),
            io,
            max_packet: shared.max_packet,
            expect_initial: true,
            handshake_timeout: shared.handshake_timeout,
        };
        let result = link::carry(stream, parts, async { attached.await.ok() }).await;
        shared.lock_waiting().remove(&addr);
        if let Err(LinkError::Frame(_)) = &result {
            shared.bad_frames.fetch_add(1, Ordering::Relaxed);
        }
        Ok(result?)
    }
}

impl Shared {
    fn lock_waiting(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, oneshot::Sender<Attached>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Gives a place under the cap back.
struct Held<'a>(&'a AtomicUsize);

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Completes stream-layer handshakes on TCP peers and hands out their sessions.
pub(crate) async fn accept_loop(
    endpoint: quinn::Endpoint,
    acceptor: StreamAcceptor,
    accepted: mpsc::Sender<Session>,
    handshake_timeout: Duration,
    full_limits: FullLimits,
) {
    while let Some(incoming) = endpoint.accept().await {
        let acceptor = acceptor.clone();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            let addr = incoming.remote_address();
            let Some(attach) = acceptor.inner.lock_waiting().remove(&addr) else {
                incoming.refuse();
                return;
            };
            let conn = match tokio::time::timeout(handshake_timeout, incoming).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(err)) => {
                    return tracing::debug!(peer = %addr, error = %err, "stream-layer handshake over TCP failed");
                }
                Err(_) => {
                    return tracing::debug!(peer = %addr, "stream-layer handshake over TCP timed out");
                }
            };
            let reason = Arc::new(OnceLock::new());
            let handed = attach.send(Attached {
                conn: conn.clone(),
                reason: reason.clone(),
            });
            if handed.is_err() {
                conn.close(0u32.into(), b"TCP connection ended");
                return;
            }
            if let Err(err) = crate::server::send_ready(&conn).await {
                tracing::debug!(peer = %addr, error = %err, "could not confirm the session");
                conn.close(0u32.into(), b"could not confirm the session");
                return;
            }
            let session = Session::new(conn, OnEnd::Linked, None, reason, Carrier::Tcp)
                .with_full_limits(full_limits);
            let _ = accepted.send(session).await;
        });
    }
}

/// The TCP side of a listener: its endpoint, its acceptor, and the loop that hands out its
/// sessions into `accepted`.
pub(crate) fn start(
    config: &crate::ServerConfig,
    dtls_associations: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    accepted: mpsc::Sender<Session>,
    full_limits: FullLimits,
) -> Result<(quinn::Endpoint, StreamAcceptor), crate::ListenError> {
    let transport = &config.transport;
    let quic_server = crate::quic::server_config(
        &config.identity,
        transport,
        config.pre_hello_receive_window,
        Carrier::Tcp,
    )?;
    let socket = StreamSocket::new(transport.stream_send_queue_bytes);
    let endpoint =
        crate::quic::endpoint(socket.clone(), Some(quic_server), transport, Carrier::Tcp)
            .map_err(crate::ListenError::Socket)?;
    let acceptor = StreamAcceptor::new(
        socket,
        dtls_associations,
        connections,
        (
            config.max_sessions,
            usize::from(transport.stream_packet_size),
            config.dtls_handshake_timeout,
        ),
    );
    tokio::spawn(accept_loop(
        endpoint.clone(),
        acceptor.clone(),
        accepted,
        transport.handshake_timeout,
        full_limits,
    ));
    Ok((endpoint, acceptor))
}
