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

use actix_http::Extensions;
use openssl::ssl::NameType;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_openssl::SslStream;

use crate::admission::ConnectionPermit;

/// What requests learn of their connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VisitorConnection {
    /// The TCP peer.
    pub(crate) peer: SocketAddr,
    /// The TLS server name (SNI) the visitor asked for, lowercased; `None` on plain HTTP
    /// or when the ClientHello named none.
    pub(crate) server_name: Option<String>,
}

/// A stream that can say which server name its visitor asked for.
pub(crate) trait ServerName {
    fn server_name(&self) -> Option<String>;
}

impl ServerName for TcpStream {
    fn server_name(&self) -> Option<String> {
        None
    }
}

impl ServerName for SslStream<TcpStream> {
    fn server_name(&self) -> Option<String> {
        self.ssl()
            .servername(NameType::HOST_NAME)
            .map(str::to_ascii_lowercase)
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
pub(crate) fn attach<S: ServerName>(io: &Admitted<S>, data: &mut Extensions) {
    data.insert(VisitorConnection {
        peer: io.peer,
        server_name: io.stream.server_name(),
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
