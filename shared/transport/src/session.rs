//! One authenticated session (over DTLS, or TLS over TCP) and the streams it carries.

use std::{
    future::Future,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, OnceLock, PoisonError},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{config::Carrier, error::SessionError, socket::DtlsSocket};

/// What happens to the DTLS association when the session ends.
pub(crate) enum OnEnd {
    /// Close it (after [`CLOSE_GRACE`]): the agent side, one session per association.
    CloseAssociation {
        socket: Arc<DtlsSocket>,
        dtls_id: u64,
    },
    /// Tell the gateway's supervisor, which knows whether the association is still in use.
    Notify(Box<dyn FnOnce(String) + Send>),
    /// Nothing: a TCP connection's link watches the session itself (`stream::link`).
    Linked,
}

/// How long after the stream layer closed its DTLS association is closed.
pub(crate) const CLOSE_GRACE: Duration = Duration::from_millis(30);

/// A live session: QUIC's streams inside one DTLS association.
#[derive(Debug, Clone)]
pub struct Session {
    conn: quinn::Connection,
    // Set when the DTLS association ended first: the reason quinn can't know.
    transport_reason: Arc<OnceLock<String>>,
    // Keeps a client's endpoint (and its socket) alive as long as the session is used.
    _endpoint: Option<Arc<quinn::Endpoint>>,
    // A gateway's session starts with pre-hello limits; these replace them.
    full_limits: Option<FullLimits>,
    carrier: Carrier,
    // What `silent_for` saw last: the datagrams received then, and when that count moved.
    heard: Arc<Mutex<Heard>>,
}

/// When the peer was last heard from, as far as [`Session::silent_for`] has seen.
#[derive(Debug)]
struct Heard {
    datagrams: u64,
    at: Instant,
}

/// What a gateway session may hold once its peer is trusted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FullLimits {
    pub(crate) receive_window: u32,
    pub(crate) max_streams: u32,
}

impl Session {
    pub(crate) fn new(
        conn: quinn::Connection,
        on_end: OnEnd,
        endpoint: Option<quinn::Endpoint>,
        transport_reason: Arc<OnceLock<String>>,
        carrier: Carrier,
    ) -> Self {
        let endpoint = endpoint.map(Arc::new);
        // When the stream layer ends (closed by either side, or the peer went silent), the
        // DTLS association is closed and forgotten at once.
        let watched = conn.clone();
        let keep_endpoint = endpoint.clone();
        tokio::spawn(async move {
            let reason = SessionError::from(watched.closed().await).to_string();
            match on_end {
                OnEnd::CloseAssociation { socket, dtls_id } => {
                    // Let quinn put its CONNECTION_CLOSE on the wire before DTLS's
                    // close_notify, so the peer learns the real reason.
                    tokio::time::sleep(CLOSE_GRACE).await;
                    socket.with_table(|table, out| {
                        table.remove_if(Instant::now(), dtls_id, &reason, out)
                    });
                }
                OnEnd::Notify(notify) => notify(reason),
                OnEnd::Linked => {}
            }
            drop(keep_endpoint);
        });
        Self {
            conn,
            transport_reason,
            _endpoint: endpoint,
            full_limits: None,
            carrier,
            heard: Arc::new(Mutex::new(Heard {
                datagrams: 0,
                at: Instant::now(),
            })),
        }
    }

    pub(crate) fn with_full_limits(mut self, limits: FullLimits) -> Self {
        self.full_limits = Some(limits);
        self
    }

    /// On the gateway's side: the peer proved who it is (its hello was accepted), so it may
    /// now open the configured number of streams and use the full receive window. Until
    /// then it may open one stream and have a small window in flight. No effect on the
    /// agent's side.
    pub fn lift_pre_hello_limits(&self) {
        if let Some(limits) = self.full_limits {
            self.conn
                .set_receive_window(quinn::VarInt::from_u32(limits.receive_window));
            self.conn
                .set_max_concurrent_bi_streams(quinn::VarInt::from_u32(limits.max_streams));
        }
    }

    fn error(&self, err: quinn::ConnectionError) -> SessionError {
        lost(&self.transport_reason, err)
    }

    /// Opens a new bidirectional stream.
    pub async fn open_stream(&self) -> Result<(SendStream, RecvStream), SessionError> {
        let (send, recv) = self.conn.open_bi().await.map_err(|e| self.error(e))?;
        let reason = &self.transport_reason;
        Ok((
            SendStream(send, reason.clone()),
            RecvStream(recv, reason.clone()),
        ))
    }

    /// Waits for the peer to open a stream.
    pub async fn accept_stream(&self) -> Result<(SendStream, RecvStream), SessionError> {
        let (send, recv) = self.conn.accept_bi().await.map_err(|e| self.error(e))?;
        let reason = &self.transport_reason;
        Ok((
            SendStream(send, reason.clone()),
            RecvStream(recv, reason.clone()),
        ))
    }

    /// Closes the session with a reason the peer sees.
    pub fn close(&self, reason: &str) {
        self.conn
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
    }

    /// Resolves when the session is over.
    pub async fn closed(&self) -> SessionError {
        let err = self.conn.closed().await;
        self.error(err)
    }

    /// Why the session ended, if it has.
    pub fn close_reason(&self) -> Option<SessionError> {
        self.conn.close_reason().map(|e| self.error(e))
    }

    /// The peer's address: its UDP address, or for a session over TCP an address of its
    /// own in `100::/64` that names the connection (the TCP peer's is the caller's to keep).
    pub fn remote_addr(&self) -> SocketAddr {
        self.conn.remote_address()
    }

    /// What carries the session.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// How long the peer has been silent: the time since the count of datagrams this
    /// session took from it last moved, as seen by the calls to this method (any clone's).
    /// Called every `period`, it is exact to within `period`; it costs one look at the
    /// connection's counters. On a working path it stays near the keepalive interval or
    /// below: the peer acknowledges every keepalive, and the keepalive timer restarts with
    /// each packet received.
    pub fn silent_for(&self) -> Duration {
        let datagrams = self.datagrams_received();
        let now = Instant::now();
        let mut heard = self.heard.lock().unwrap_or_else(PoisonError::into_inner);
        if datagrams != heard.datagrams {
            heard.datagrams = datagrams;
            heard.at = now;
        }
        now.saturating_duration_since(heard.at)
    }

    /// How many datagrams the session has taken from its peer so far: a count that moves
    /// whenever the peer is heard (the gateway's watch over sessions holding requests
    /// compares it between looks, without the shared state of [`Session::silent_for`]).
    pub fn datagrams_received(&self) -> u64 {
        self.conn.stats().udp_rx.datagrams
    }

    /// The current estimate of the round trip to the peer.
    pub fn rtt(&self) -> Duration {
        self.conn.rtt()
    }
}

/// The writing half of a stream. Writes wait while the peer's receive window is full, so a
/// slow reader slows the writer and memory stays bounded.
#[derive(Debug)]
pub struct SendStream(quinn::SendStream, Arc<OnceLock<String>>);

impl SendStream {
    /// Marks the end of what this side sends; the peer reads EOF after the last byte.
    pub fn finish(&mut self) -> Result<(), SessionError> {
        self.0
            .finish()
            .map_err(|_| SessionError::ClosedLocally("stream already finished".into()))
    }

    /// Abandons the stream: unsent data is discarded and the peer's reads fail with `code`.
    pub fn reset(&mut self, code: u32) {
        let _ = self.0.reset(quinn::VarInt::from_u32(code));
    }

    /// Writes from the front of `chunks` without copying them: the chunks taken whole are
    /// left empty, one taken in part is advanced past what was written. Returns the bytes
    /// written; `Pending`, with nothing written, while the peer's window is full.
    pub fn poll_write_chunks(
        &mut self,
        cx: &mut Context<'_>,
        chunks: &mut [Bytes],
    ) -> Poll<io::Result<usize>> {
        let write = std::pin::pin!(self.0.write_chunks(chunks));
        write.poll(cx).map(|written| {
            written
                .map(|w| w.bytes)
                .map_err(|e| write_error(&self.1, e))
        })
    }

    /// Waits until the peer has received everything (or the stream failed).
    pub async fn stopped(&mut self) -> Result<(), SessionError> {
        match self.0.stopped().await {
            Ok(None) => Ok(()),
            Ok(Some(code)) => Err(SessionError::StreamReset(code.into_inner())),
            Err(quinn::StoppedError::ConnectionLost(err)) => Err(lost(&self.1, err)),
            Err(_) => Err(SessionError::ClosedLocally("stream closed".into())),
        }
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let reason = self.1.clone();
        AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
            .map_err(|e| map_write_error(&reason, e))
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

/// Maps a lost connection to our error, with the DTLS layer's reason where it ended first.
fn lost(transport_reason: &OnceLock<String>, err: quinn::ConnectionError) -> SessionError {
    match (err, transport_reason.get()) {
        (quinn::ConnectionError::LocallyClosed, Some(reason)) => {
            SessionError::ClosedByPeer(reason.clone())
        }
        (err, _) => err.into(),
    }
}

fn map_write_error(reason: &OnceLock<String>, err: io::Error) -> io::Error {
    match err.downcast::<quinn::WriteError>() {
        Ok(err) => write_error(reason, err),
        Err(err) => err,
    }
}

fn write_error(reason: &OnceLock<String>, err: quinn::WriteError) -> io::Error {
    match err {
        quinn::WriteError::ConnectionLost(err) => lost(reason, err).into(),
        quinn::WriteError::Stopped(code) => SessionError::StreamReset(code.into_inner()).into(),
        other => io::Error::new(io::ErrorKind::BrokenPipe, other),
    }
}

/// The reading half of a stream; EOF when the peer finished.
#[derive(Debug)]
pub struct RecvStream(quinn::RecvStream, Arc<OnceLock<String>>);

impl RecvStream {
    /// Tells the peer to stop sending on this stream.
    pub fn stop(&mut self, code: u32) {
        let _ = self.0.stop(quinn::VarInt::from_u32(code));
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let reason = self.1.clone();
        AsyncRead::poll_read(Pin::new(&mut self.0), cx, buf).map_err(|err| {
            match err.downcast::<quinn::ReadError>() {
                Ok(quinn::ReadError::ConnectionLost(err)) => lost(&reason, err).into(),
                Ok(quinn::ReadError::Reset(code)) => {
                    SessionError::StreamReset(code.into_inner()).into()
                }
                Ok(other) => io::Error::new(io::ErrorKind::BrokenPipe, other),
                Err(err) => err,
            }
        })
    }
}
