//! A visitor's TLS stream: tokio-openssl's, with reads that find nothing kept away from
//! OpenSSL.
//!
//! The listener keeps OpenSSL's `SSL_MODE_RELEASE_BUFFERS` (as nginx does), so an idle
//! connection holds no 16 KiB record buffer; the price is that every `SSL_read` allocates
//! the buffer first and frees it again when it finds the socket empty. actix-http reads
//! until a read is pending, and again around each response: about four `SSL_read`s per
//! keep-alive request, three of them empty. After a read came back pending, the next one
//! waits here until the socket is readable again.
//!
//! Why that can't hold anything up: tokio forgets a socket's readability only when a read
//! of it would block, and OpenSSL reads its socket only while it lacks the bytes of a
//! whole record. So an unreadable socket after a pending read means OpenSSL has no record
//! to open: another `SSL_read` could do nothing but ask the socket again. (A read can also
//! be pending because OpenSSL could not write, answering a TLS 1.3 `KeyUpdate`; that
//! answer goes out with the next write, which TLS 1.3 allows, and the socket's readability
//! was not forgotten in between, so the next read still goes to OpenSSL.)

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use openssl::ssl::{self, Ssl, SslRef};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_openssl::SslStream;

/// TLS over a visitor's TCP connection.
#[derive(Debug)]
pub(crate) struct TlsStream {
    inner: SslStream<TcpStream>,
    /// The last read came back pending: OpenSSL is waiting for the socket.
    waiting: bool,
    /// Reads passed to OpenSSL, for the tests.
    #[cfg(test)]
    openssl_reads: usize,
}

impl TlsStream {
    pub(crate) fn new(ssl: Ssl, tcp: TcpStream) -> Result<Self, openssl::error::ErrorStack> {
        Ok(Self {
            inner: SslStream::new(ssl, tcp)?,
            waiting: false,
            #[cfg(test)]
            openssl_reads: 0,
        })
    }

    /// The server side of the TLS handshake.
    pub(crate) async fn accept(&mut self) -> Result<(), ssl::Error> {
        Pin::new(&mut self.inner).accept().await
    }

    pub(crate) fn ssl(&self) -> &SslRef {
        self.inner.ssl()
    }
}

impl AsyncRead for TlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // Readable, or failed: OpenSSL reads (and reports the failure).
        if this.waiting && this.inner.get_ref().poll_read_ready(cx).is_pending() {
            return Poll::Pending;
        }
        #[cfg(test)]
        {
            this.openssl_reads += 1;
        }
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.waiting = read.is_pending();
        read
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use openssl::ssl::{SslAcceptor, SslConnector, SslMethod, SslVerifyMode};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpListener,
    };

    use super::*;
    use crate::certs::self_signed;

    /// A visitor's connection, TLS set up: the pod's side and the client's.
    async fn pair() -> (TlsStream, SslStream<TcpStream>) {
        let (chain, key) = self_signed(vec!["gw.test".into()]).unwrap();
        let mut acceptor = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls()).unwrap();
        acceptor
            .set_certificate(&openssl::x509::X509::from_pem(chain.as_bytes()).unwrap())
            .unwrap();
        acceptor
            .set_private_key(&openssl::pkey::PKey::private_key_from_pem(key.as_bytes()).unwrap())
            .unwrap();
        acceptor.set_read_ahead(true);
        let acceptor = acceptor.build();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::spawn(async move {
            let mut connector = SslConnector::builder(SslMethod::tls()).unwrap();
            connector.set_verify(SslVerifyMode::NONE);
            let ssl = connector
                .build()
                .configure()
                .unwrap()
                .into_ssl("gw.test")
                .unwrap();
            let mut stream = SslStream::new(ssl, TcpStream::connect(addr).await.unwrap()).unwrap();
            Pin::new(&mut stream).connect().await.unwrap();
            stream
        });
        let (tcp, _) = listener.accept().await.unwrap();
        let mut server = TlsStream::new(Ssl::new(acceptor.context()).unwrap(), tcp).unwrap();
        server.accept().await.unwrap();
        (server, client.await.unwrap())
    }

    /// One read attempt that must not block the test.
    async fn try_read(stream: &mut TlsStream) -> Poll<Vec<u8>> {
        let mut bytes = [0u8; 64];
        poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut bytes);
            Poll::Ready(match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                Poll::Ready(read) => {
                    read.unwrap();
                    Poll::Ready(buf.filled().to_vec())
                }
                Poll::Pending => Poll::Pending,
            })
        })
        .await
    }

    #[tokio::test]
    async fn reads_of_an_empty_socket_stay_away_from_openssl() {
        let (mut server, mut client) = pair().await;
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut got = vec![0u8; 18];
        server.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n");
        // The socket is empty: the first read asks OpenSSL, which finds nothing; the
        // ones after it wait for the socket without asking again.
        assert_eq!(try_read(&mut server).await, Poll::Pending);
        let asked = server.openssl_reads;
        for _ in 0..5 {
            assert_eq!(try_read(&mut server).await, Poll::Pending);
        }
        assert_eq!(server.openssl_reads, asked);
        // Bytes arriving open the way again, and nothing is lost.
        client.write_all(b"second").await.unwrap();
        client.write_all(b" and third").await.unwrap();
        let mut got = vec![0u8; 16];
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            server.read_exact(&mut got),
        )
        .await
        .expect("the bytes that arrived are read")
        .unwrap();
        assert_eq!(got, b"second and third");
    }

    #[tokio::test]
    async fn a_closed_socket_is_read_as_the_end() {
        let (mut server, mut client) = pair().await;
        assert_eq!(try_read(&mut server).await, Poll::Pending);
        Pin::new(&mut client).shutdown().await.unwrap();
        drop(client);
        let mut rest = Vec::new();
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            server.read_to_end(&mut rest),
        )
        .await
        .expect("the end is seen")
        .unwrap();
        assert!(rest.is_empty());
    }
}
