//! One TCP connection carrying one session's packets, on either side: its reader hands the
//! packets it cuts out of the byte stream to quinn, its writer drains the peer's queue.
//!
//! The connection and the session end together: when the byte stream ends or stops making
//! sense, the session is closed at once with that reason; when the session ends, its last
//! packets (the CONNECTION_CLOSE) are written and the connection is shut down.

use std::{
    future::Future,
    net::SocketAddr,
    sync::{Arc, OnceLock, atomic::Ordering},
    time::Duration,
};

use bytes::Bytes;
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::mpsc,
};

use super::{
    frame::{FrameError, FrameReader, FrameWriter},
    socket::{PeerIo, StreamSocket},
};
use crate::session::CLOSE_GRACE;

/// How long the last packets may take to leave once the session ended.
const LINGER: Duration = Duration::from_secs(1);

/// The session a connection carries, once its handshake completed.
#[derive(Debug)]
pub(crate) struct Attached {
    pub(crate) conn: quinn::Connection,
    /// Set when the connection ended first: the reason quinn can't know.
    pub(crate) reason: Arc<OnceLock<String>>,
}

/// Why a connection stopped carrying a session.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No session was established on the connection in time.
    #[error("no session within {timeout_ms} ms")]
    NoSession {
        /// The deadline.
        timeout_ms: u128,
    },
    /// The connection ended before a session was established on it.
    #[error("connection ended before a session was established")]
    EndedEarly,
    /// The byte stream is not the tunnel's framing (garbage, an oversized length).
    #[error("bad frame: {0}")]
    Frame(#[source] FrameError),
}

/// What the link needs besides the byte stream.
pub(crate) struct LinkParts {
    pub(crate) socket: Arc<StreamSocket>,
    pub(crate) io: PeerIo,
    /// The largest packet this side's endpoint takes.
    pub(crate) max_packet: usize,
    /// The gateway's side: the first packet must be able to start a QUIC connection.
    pub(crate) expect_initial: bool,
    pub(crate) handshake_timeout: Duration,
}

/// Carries packets between `stream` and the socket until the session or the connection
/// ends. `session` resolves once a session is established on this connection (or never).
/// Returns why the session ended.
pub(crate) async fn carry<S, F>(
    stream: S,
    parts: LinkParts,
    session: F,
) -> Result<String, LinkError>
where
    S: AsyncRead + AsyncWrite,
    F: Future<Output = Option<Attached>>,
{
    let LinkParts {
        socket,
        io,
        max_packet,
        expect_initial,
        handshake_timeout,
    } = parts;
    let PeerIo {
        addr,
        outbound,
        queued,
        inbound,
    } = io;
    let (read_half, write_half) = tokio::io::split(stream);
    let reader = FrameReader::new(read_half, max_packet);
    let reader = if expect_initial {
        reader.expecting_initial()
    } else {
        reader
    };
    let reading = read_loop(reader, addr, inbound);
    let writing = write_loop(FrameWriter::new(write_half), outbound, queued);
    tokio::pin!(reading, writing);
    let detach = || socket.detach(&addr);
    let attached = tokio::select! {
        attached = tokio::time::timeout(handshake_timeout, session) => match attached {
            Ok(Some(attached)) => attached,
            Ok(None) => { detach(); return Err(LinkError::EndedEarly) }
            Err(_) => {
                detach();
                return Err(LinkError::NoSession { timeout_ms: handshake_timeout.as_millis() });
            }
        },
        read = &mut reading => {
            detach();
            return Err(read.err().map_or(LinkError::EndedEarly, LinkError::Frame));
        }
        _ = &mut writing => { detach(); return Err(LinkError::EndedEarly) }
    };
    let ended_first = |why: String| {
        let _ = attached.reason.set(format!("TCP connection ended: {why}"));
        attached.conn.close(0u32.into(), why.as_bytes());
        detach();
        why
    };
    let outcome = tokio::select! {
        read = &mut reading => match read {
            // The peer's last packets (its CONNECTION_CLOSE) may still be on their way to
            // quinn: its own reason wins if it comes in time.
            Ok(()) | Err(FrameError::Io(_)) => {
                let why = read.err().map_or_else(|| "closed by the peer".into(), |e| e.to_string());
                match tokio::time::timeout(CLOSE_GRACE, attached.conn.closed()).await {
                    Ok(reason) => {
                        detach();
                        Ok(crate::error::SessionError::from(reason).to_string())
                    }
                    Err(_) => Ok(ended_first(why)),
                }
            }
            Err(err) => {
                ended_first(format!("bad frame: {err}"));
                Err(LinkError::Frame(err))
            }
        },
        written = &mut writing => {
            // A write fails once the peer has closed its end, which it does right after its
            // CONNECTION_CLOSE: that may still be unread. Reading goes on, and the peer's own
            // reason wins if it comes in time.
            let why = written.err().map_or_else(|| "writer stopped".into(), |e| e.to_string());
            let read_on = async {
                let _ = (&mut reading).await;
                std::future::pending().await
            };
            let peer_reason = async {
                tokio::select! {
                    reason = attached.conn.closed() => reason,
                    reason = read_on => reason,
                }
            };
            match tokio::time::timeout(CLOSE_GRACE, peer_reason).await {
                Ok(reason) => {
                    detach();
                    Ok(crate::error::SessionError::from(reason).to_string())
                }
                Err(_) => Ok(ended_first(why)),
            }
        }
        reason = attached.conn.closed() => {
            // Let quinn queue its CONNECTION_CLOSE, then write what is queued and shut down.
            tokio::time::sleep(CLOSE_GRACE).await;
            detach();
            let _ = tokio::time::timeout(LINGER, &mut writing).await;
            Ok(crate::error::SessionError::from(reason).to_string())
        }
    };
    outcome
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut reader: FrameReader<R>,
    addr: SocketAddr,
    inbound: mpsc::Sender<(SocketAddr, Bytes)>,
) -> Result<(), FrameError> {
    while let Some(packet) = reader.next().await? {
        if inbound.send((addr, packet)).await.is_err() {
            break;
        }
    }
    Ok(())
}

/// Writes queued packets until the peer is detached and its queue drained.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: FrameWriter<W>,
    mut outbound: mpsc::UnboundedReceiver<Bytes>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
) -> std::io::Result<()> {
    while let Some(packet) = outbound.recv().await {
        queued.fetch_sub(packet.len(), Ordering::Relaxed);
        let mut room = writer.push(&packet);
        while room {
            let Ok(packet) = outbound.try_recv() else {
                break;
            };
            queued.fetch_sub(packet.len(), Ordering::Relaxed);
            room = writer.push(&packet);
        }
        writer.flush().await?;
    }
    writer.shutdown().await
}
