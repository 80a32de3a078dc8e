//! The visitors' listeners, HTTPS and plain HTTP, assembled from actix's parts so every
//! connection passes the pod's limits before it costs anything:
//!
//! 1. accept (HTTPS: on the worker that serves the connection, [`workers`](crate::edge::workers);
//!    port 80: actix-server) → [`admission`](crate::edge::admission): a client IP over
//!    `HOP_SERVER_MAX_CONNECTIONS_PER_IP` open connections is closed at once;
//! 2. HTTPS only: the TLS handshake (OpenSSL, the certificate chosen by SNI, a session
//!    resumed from its ticket: [`sessions`](crate::certs::sessions)) under a
//!    per-IP cap on handshakes in progress and a deadline (`HOP_SERVER_TLS_HANDSHAKE_TIMEOUT`);
//!    no handshake waits for another, so silent connections can't hold up a visitor;
//!    a connection that negotiated the tunnel's ALPN is an agent's session over TCP and goes
//!    to [`tunnel_tcp`](crate::edge::tunnel_tcp) instead;
//! 3. actix-http's HTTP/1.1 and HTTP/2 service, with explicit HTTP/2 limits
//!    ([`H2Limits`]; docs/security/http2-limits.md), then the actix-web `App`.
//!
//! The connection's place under the cap rides in its stream ([`Admitted`]) and is given
//! back when the connection closes. What requests learn of their connection is attached in
//! [`connection::attach`].

use std::{fmt, io, net::SocketAddr, sync::Arc, time::Duration};

use actix_http::{
    H2Limits, HttpService, Protocol, Request, Response, body::MessageBody, error::DispatchError,
};
use actix_server::{GracefulShutdownSignal, Server};
use actix_service::{
    IntoServiceFactory, Service, ServiceFactory, ServiceFactoryExt, fn_service, map_config,
};
use actix_web::{Error, dev::AppConfig};
use hopgate_transport::TUNNEL_ALPN;
use openssl::ssl::Ssl;
use tokio::net::TcpStream;

use crate::{
    certs::sessions::SessionContexts,
    edge::{
        admission::ConnectionCaps,
        connection::{self, Admitted, Negotiated},
        tls_stream::TlsStream,
        tunnel_tcp::TunnelIntake,
        workers::{Job, WorkerEvent, WorkerSpec, Workers},
    },
    ops::metrics::Metrics,
};

/// The limits of a visitors' listener.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EdgeLimits {
    /// How long a visitor may take to send a request's headers.
    pub(crate) header_timeout: Duration,
    /// How long a TLS handshake may take from the accept.
    pub(crate) tls_handshake_timeout: Duration,
    /// HTTPS connections the pod holds open at most (`HOP_SERVER_MAX_CONNECTIONS`).
    pub(crate) max_connections: usize,
    pub(crate) h2: H2Limits,
}

/// What the visitors' listeners share: the per-IP counters, the metrics, the limits.
pub(crate) struct Edge {
    pub(crate) caps: Arc<ConnectionCaps>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) limits: EdgeLimits,
    /// Where agents' TLS connections (the tunnel's ALPN) go.
    pub(crate) tunnel: TunnelIntake,
}

/// Why a connection ended before or while it was served (the listener drops it).
#[derive(Debug)]
pub(crate) enum Ended {
    /// Over a cap, or no peer address: closed at once.
    Refused,
    /// The TLS handshake failed or ran out of time.
    Tls,
    /// The HTTP service ended with an error (HTTP/2 GOAWAY, I/O, timeouts).
    Http(DispatchError),
    /// It was an agent's session over TCP, not a visitor's, and it is over.
    Tunnel,
}

/// The HTTPS listener on `listener` (bound by
/// [`bind_reusable`](crate::edge::workers::bind_reusable)) with `workers` workers, each
/// but the first on the thread `host` offers or one of its own, with the TLS context `tls`
/// holds at each accept, serving the App `app` builds (once per worker).
pub(crate) fn https<F, I, S, B>(
    edge: Arc<Edge>,
    listener: std::net::TcpListener,
    (workers, host): (usize, impl Fn(usize, Job) -> Result<(), Job>),
    tls: Arc<SessionContexts>,
    app: F,
) -> io::Result<Workers>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request> + 'static,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let counted = edge.metrics.clone();
    let max_connections = edge.limits.max_connections;
    let service = move || {
        let (tls_edge, metrics) = (edge.clone(), edge.metrics.clone());
        let tls = tls.clone();
        admit(edge.clone())
            .and_then(fn_service(move |conn| {
                handshake(tls_edge.clone(), tls.clone(), conn)
            }))
            .and_then(http(edge.limits, addr, true, app(), None).map_err(Ended::Http))
            .map_err(move |ended| count(&metrics, ended))
    };
    Workers::start(
        listener,
        workers,
        WorkerSpec {
            name: "hopgate-https",
            service,
            max_connections,
            on_event: move |event| {
                counted.rejected(match event {
                    WorkerEvent::Full => "max_connections",
                    WorkerEvent::OutOfResources => "accept_out_of_resources",
                });
            },
            host,
        },
    )
}

/// The plain HTTP listener on `listener` (HTTP/1.1 only), serving the App `app` builds.
pub(crate) fn plain<F, I, S, B>(
    edge: Arc<Edge>,
    listener: std::net::TcpListener,
    workers: usize,
    app: F,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let addr = listener.local_addr()?;
    let builder = Server::build().workers(workers).disable_signals();
    let shutdown = builder.graceful_shutdown_signal();
    let server = builder.listen("http", listener, move || {
        let metrics = edge.metrics.clone();
        admit(edge.clone())
            .map(|conn: Admitted<TcpStream>| {
                let peer = conn.peer();
                (conn, Protocol::Http1, Some(peer))
            })
            .and_then(
                http(edge.limits, addr, false, app(), Some(shutdown.clone())).map_err(Ended::Http),
            )
            .map_err(move |ended| count(&metrics, ended))
    })?;
    Ok(server.run())
}

/// Step 1: a connection is admitted under its client's cap, or closed at once.
fn admit(
    edge: Arc<Edge>,
) -> impl ServiceFactory<
    TcpStream,
    Config = (),
    Response = Admitted<TcpStream>,
    Error = Ended,
    InitError = (),
> {
    fn_service(move |tcp: TcpStream| {
        let edge = edge.clone();
        async move {
            let peer = tcp.peer_addr().map_err(|_| Ended::Refused)?;
            let permit = edge.caps.admit(peer.ip()).map_err(|refused| {
                edge.metrics.rejected(refused.reason());
                Ended::Refused
            })?;
            // Headers and body chunks leave in separate writes: without this, Nagle's
            // algorithm and the visitor's delayed ACK hold answers back ~40 ms.
            let _ = tcp.set_nodelay(true);
            Ok(Admitted::new(tcp, peer, permit))
        }
    })
}

/// Step 2: the TLS handshake, under the client's handshake cap and the deadline; ALPN
/// picks HTTP/2 or HTTP/1.1, or an agent's session over TCP (carried here until it ends).
async fn handshake(
    edge: Arc<Edge>,
    tls: Arc<SessionContexts>,
    conn: Admitted<TcpStream>,
) -> Result<(Admitted<TlsStream>, Protocol, Option<SocketAddr>), Ended> {
    let _in_progress = edge
        .caps
        .start_handshake(conn.permit())
        .map_err(|refused| {
            edge.metrics.rejected(refused.reason());
            Ended::Refused
        })?;
    let ssl = Ssl::new(&tls.current()).map_err(|_| Ended::Tls)?;
    let mut conn = conn
        .try_map(|tcp| TlsStream::new(ssl, tcp))
        .map_err(|_| Ended::Tls)?;
    let accept = conn.stream_mut().accept();
    match tokio::time::timeout(edge.limits.tls_handshake_timeout, accept).await {
        Ok(Ok(())) => edge
            .metrics
            .tls_handshake(conn.stream().ssl().session_reused()),
        Ok(Err(_)) => return Err(Ended::Tls),
        Err(_) => {
            edge.metrics.rejected("tls_handshake_timeout");
            return Err(Ended::Tls);
        }
    }
    let protocol = match conn.stream().ssl().selected_alpn_protocol() {
        Some(b"h2") => Protocol::Http2,
        Some(TUNNEL_ALPN) => {
            drop(_in_progress);
            edge.tunnel.carry(conn, &edge.metrics).await;
            return Err(Ended::Tunnel);
        }
        _ => Protocol::Http1,
    };
    let peer = conn.peer();
    Ok((conn, protocol, Some(peer)))
}

/// Step 3: actix-http's service (HTTP/1.1, and HTTP/2 where ALPN chose it) around the App,
/// with the listener's limits; every request sees its connection's data.
fn http<T, I, S, B>(
    limits: EdgeLimits,
    addr: SocketAddr,
    secure: bool,
    app: I,
    shutdown: Option<GracefulShutdownSignal>,
) -> impl ServiceFactory<
    (Admitted<T>, Protocol, Option<SocketAddr>),
    Config = (),
    Response = (),
    Error = DispatchError,
    InitError = (),
>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Negotiated + Unpin + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    B: MessageBody + 'static,
{
    let app = app
        .into_factory()
        .map_err(|err| err.into().error_response());
    // The configuration actix-web's own server gives an App (it has no public constructor:
    // this one is semver-exempt, and the version is pinned in Cargo.lock).
    let config = AppConfig::__priv_test_new(secure, addr.to_string(), addr);
    let mut builder = HttpService::build()
        .client_request_timeout(limits.header_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        .local_addr(addr)
        .h2_limits(limits.h2)
        .on_connect_ext(connection::attach::<T>);
    if let Some(shutdown) = shutdown {
        builder = builder.graceful_shutdown_signal(move || {
            let signal = shutdown.clone();
            async move { signal.notified().await }
        });
    }
    if secure {
        builder = builder.secure();
    }
    builder.finish(map_config(app, move |()| config.clone()))
}

/// Counts what a limit ended: HTTP/2 connections the pod closed with an error GOAWAY
/// (rapid reset, CONTINUATION or other floods h2 detects, protocol errors). Refusals at
/// admission and handshake timeouts were counted where they happened.
fn count(metrics: &Metrics, ended: Ended) -> Ended {
    if let Ended::Http(DispatchError::H2(err)) = &ended
        && err.is_go_away()
        && !err.is_remote()
        && err
            .reason()
            .is_some_and(|reason| reason != h2::Reason::NO_ERROR)
    {
        metrics.rejected("h2_abuse");
    }
    ended
}
