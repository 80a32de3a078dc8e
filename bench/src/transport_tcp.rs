//! The TCP fallback's figures: one stream and round trips over TLS/TCP, at several QUIC
//! packet sizes (`TransportConfig::stream_packet_size`), against the DTLS figures of the
//! same run.

use std::sync::Arc;

use anyhow::Result;
use hopgate_transport::{ClientConfig, Identity, Listener, ServerConfig, TransportConfig};

/// A gateway whose TCP fallback takes TLS connections on a fresh port; its address.
async fn gateway(identity: &Identity, transport: &TransportConfig) -> Result<std::net::SocketAddr> {
    let mut config = ServerConfig::new(identity.clone());
    config.transport = transport.clone();
    let listener = Arc::new(Listener::bind(
        std::net::UdpSocket::bind("127.0.0.1:0")?,
        config,
    )?);
    tokio::spawn(crate::serve(listener.clone()));
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = tcp.local_addr()?;
    let acceptor =
        tokio_rustls::TlsAcceptor::from(Arc::new(hopgate_transport::tls_server_config(identity)?));
    let stream = listener.stream_acceptor();
    tokio::spawn(async move {
        let _keep = listener;
        while let Ok((conn, _)) = tcp.accept().await {
            let (acceptor, stream) = (acceptor.clone(), stream.clone());
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                if let Ok(tls) = acceptor.accept(conn).await {
                    let _ = stream.serve(tls).await;
                }
            });
        }
    });
    Ok(addr)
}

/// One stream's MB/s and the round trip's median over TCP with `packet`-byte QUIC packets.
pub(crate) async fn figures(
    identity: &Identity,
    client: &ClientConfig,
    packet: u16,
    bytes: u64,
) -> Result<(f64, f64)> {
    let transport = TransportConfig {
        stream_packet_size: packet,
        ..TransportConfig::default()
    };
    let addr = gateway(identity, &transport).await?;
    let mut client = client.clone();
    client.transport = transport;
    let session = hopgate_transport::connect_tcp(addr, &client).await?;
    let (rate, _) = crate::upload(&session, bytes).await?;
    let (p50, _) = crate::round_trips(&session, 1000).await?;
    session.close("done");
    Ok((rate, p50))
}
