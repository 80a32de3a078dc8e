//! The agent's side of the TCP fallback: a TLS connection to the gateway's HTTPS port with
//! the tunnel's ALPN, the gateway verified as over DTLS, then the same stream-layer
//! handshake inside, bound to the certificate TLS verified.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use tokio::{
    net::{TcpSocket, TcpStream},
    sync::oneshot,
};
use tokio_rustls::TlsConnector;

use super::{
    link::{self, Attached, LinkParts},
    socket::StreamSocket,
    tls::{self, TUNNEL_ALPN},
};
use crate::{
    client::{ClientConfig, confirmed},
    config::Carrier,
    error::{ConnectError, SetupStage, StreamSetupError},
    quic,
    session::{OnEnd, Session},
};

/// Dials the gateway's TLS port `remote` and sets a session up over it.
pub async fn connect_tcp(
    remote: SocketAddr,
    config: &ClientConfig,
) -> Result<Session, ConnectError> {
    config.transport.validate()?;
    let started = Instant::now();
    let handshake_timeout = config.transport.handshake_timeout;
    let deadline = tokio::time::Instant::now() + handshake_timeout;
    let timeout = |stage| ConnectError::timed_out(remote, handshake_timeout, stage);
    let tls_error = |reason: String| ConnectError::Tls {
        peer: remote,
        reason,
    };
    let tcp = match tokio::time::timeout_at(deadline, tcp_connect(remote, config)).await {
        Err(_) => return Err(timeout(SetupStage::TcpConnect)),
        Ok(Err(source)) => {
            return Err(ConnectError::Tcp {
                peer: remote,
                source,
            });
        }
        Ok(Ok(tcp)) => tcp,
    };
    // Packets leave as soon as they are written; QUIC does its own pacing.
    let _ = tcp.set_nodelay(true);
    let connector = TlsConnector::from(Arc::new(tls::client_config(&config.verification)?));
    let name = rustls::pki_types::ServerName::try_from(config.server_name.clone())
        .map_err(|e| tls_error(format!("bad server name {:?}: {e}", config.server_name)))?;
    let tls = match tokio::time::timeout_at(deadline, connector.connect(name, tcp)).await {
        Err(_) => return Err(timeout(SetupStage::Tls)),
        Ok(Err(err)) => return Err(tls_error(err.to_string())),
        Ok(Ok(tls)) => tls,
    };
    let (_, state) = tls.get_ref();
    if state.alpn_protocol() != Some(TUNNEL_ALPN) {
        return Err(tls_error(
            "the server did not accept the tunnel's ALPN (not a HopGate gateway?)".into(),
        ));
    }
    let leaf = state
        .peer_certificates()
        .and_then(|chain| chain.first())
        .cloned()
        .ok_or_else(|| tls_error("the server presented no certificate".into()))?;

    let socket = StreamSocket::new(config.transport.stream_send_queue_bytes);
    let io = socket.attach();
    let addr = io.addr;
    let endpoint = quic::endpoint(socket.clone(), None, &config.transport, Carrier::Tcp)
        .map_err(ConnectError::Socket)?;
    let (attach, attached) = oneshot::channel();
    let parts = LinkParts {
        socket,
        io,
        max_packet: usize::from(config.transport.stream_packet_size),
        expect_initial: false,
        handshake_timeout,
    };
    tokio::spawn(async move {
        if let Err(err) = link::carry(tls, parts, async { attached.await.ok() }).await {
            tracing::debug!(peer = %remote, error = %err, "TCP link to the gateway ended");
        }
    });
    let stream_error = |cause: StreamSetupError| ConnectError::Stream {
        peer: remote,
        cause,
    };
    let quic_config = quic::client_config(leaf, &config.transport, Carrier::Tcp)?;
    let connecting = endpoint
        .connect_with(quic_config, addr, "hopgate")
        .map_err(|e| stream_error(StreamSetupError::Start(e)))?;
    let conn = match tokio::time::timeout_at(deadline, connecting).await {
        Err(_) => return Err(timeout(SetupStage::Streams)),
        Ok(Err(err)) => return Err(stream_error(StreamSetupError::Connection(err))),
        Ok(Ok(conn)) => conn,
    };
    let reason = Arc::new(std::sync::OnceLock::new());
    let _ = attach.send(Attached {
        conn: conn.clone(),
        reason: reason.clone(),
    });
    match tokio::time::timeout_at(deadline, confirmed(&conn)).await {
        Err(_) => return Err(timeout(SetupStage::Confirmation)),
        Ok(Err(cause)) => return Err(stream_error(cause)),
        Ok(Ok(())) => {}
    }
    tracing::debug!(peer = %remote, setup_us = started.elapsed().as_micros() as u64, "session over TCP established");
    Ok(Session::new(
        conn,
        OnEnd::Linked,
        Some(endpoint),
        reason,
        Carrier::Tcp,
    ))
}

/// A TCP connection to `remote`, from `config.local_ip` if set.
async fn tcp_connect(remote: SocketAddr, config: &ClientConfig) -> std::io::Result<TcpStream> {
    if config.local_ip.is_none() {
        return TcpStream::connect(remote).await;
    }
    let socket = if remote.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(config.bind_addr(remote)?)?;
    socket.connect(remote).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerVerification;

    #[tokio::test]
    async fn a_tcp_connection_leaves_from_the_local_ip() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let remote = listener.local_addr().unwrap();
        let mut config = ClientConfig::new(
            "gw.hopgate.test",
            ServerVerification::Pinned(crate::Fingerprint::of(b"any certificate")),
        );
        config.local_ip = Some([127, 0, 0, 3].into());
        let (_client, accepted) = tokio::join!(tcp_connect(remote, &config), listener.accept());
        let (_, peer) = accepted.unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::from([127, 0, 0, 3]));
    }
}
