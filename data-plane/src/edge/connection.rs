//! A visitor's connection as the HTTP service sees it: the stream (TCP, or TLS over TCP),
//! the connection's place under the per-IP cap (held until the connection closes), and
//! [`VisitorConnection`], what every request on it can learn of it.
//!
//! [`attach`] is the one place where per-connection data reaches requests: a handler reads
//! it with `req.conn_data::<VisitorConnection>()`.

use std::{
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
};

use crate::edge::{admission::ConnectionPermit, sni::Presented, tls_stream::TlsStream};
use actix_http::Extensions;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

/// What requests learn of their connection.
pub(crate) struct VisitorConnection {
    /// What the TLS handshake was for (SNI name, certificate presented); `None` on plain
    /// HTTP.
    pub(crate) tls: Option<Presented>,
}

/// A stream that can say what its TLS handshake, if any, was for.
pub(crate) trait Negotiated {
    fn presented(&self) -> Option<Presented>;
}

impl Negotiated for TcpStream {
    fn presented(&self) -> Option<Presented> {
        None
    }
}

impl Negotiated for TlsStream {
    fn presented(&self) -> Option<Presented> {
        Some(Presented::of(self.ssl()))
    }
}

/// An admitted connection: its stream, its peer, and its place under the per-IP cap.
pub(crate) struct Admitted<S> {
    stream: S,
    peer: SocketAddr,
    permit: ConnectionPermit,
}

impl<S> Admitted<S> {
    pub(crate) fn new(stream: S, peer: SocketAddr, permit: ConnectionPermit) -> Self {
        Self {
            stream,
            peer,
            permit,
        }
    }

    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The connection's place under the per-IP cap.
    pub(crate) fn permit(&self) -> &ConnectionPermit {
        &self.permit
    }

    /// The same connection over another stream (TLS over the TCP one), keeping its place.
    pub(crate) fn try_map<T, E>(
        self,
        wrap: impl FnOnce(S) -> Result<T, E>,
    ) -> Result<Admitted<T>, E> {
        Ok(Admitted {
            stream: wrap(self.stream)?,
            peer: self.peer,
            permit: self.permit,
        })
    }

    pub(crate) fn stream(&self) -> &S {
        &self.stream
    }

    pub(crate) fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

/// The HTTP service's connect hook: every request on `io` sees its [`VisitorConnection`].
pub(crate) fn attach<S: Negotiated>(io: &Admitted<S>, data: &mut Extensions) {
    data.insert(VisitorConnection {
        tls: io.stream.presented(),
    });
}

impl<S: AsyncRead + Unpin> AsyncRead for Admitted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Admitted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
