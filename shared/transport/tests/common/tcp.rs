//! A gateway's TLS front for the TCP fallback: TLS connections with the tunnel's ALPN are
//! handed to the listener, as the data-plane's HTTPS listener does; and a TLS client that
//! negotiates the tunnel's ALPN and then misbehaves.

use std::{net::SocketAddr, sync::Arc};

use hopgate_transport::{Identity, Listener, StreamServeError};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};

/// How each connection the front took ended.
pub type Outcomes = mpsc::UnboundedReceiver<Result<String, StreamServeError>>;

/// Serves the listener's TCP fallback on a fresh port.
pub async fn tcp_front(listener: &Listener, identity: &Identity) -> (SocketAddr, Outcomes) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let tls = hopgate_transport::tls_server_config(identity).unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let stream = listener.stream_acceptor();
    let (outcomes, outcomes_rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((conn, _)) = tcp.accept().await {
            let (acceptor, stream, outcomes) = (acceptor.clone(), stream.clone(), outcomes.clone());
            tokio::spawn(async move {
                let _ = conn.set_nodelay(true);
                if let Ok(tls) = acceptor.accept(conn).await {
                    let _ = outcomes.send(stream.serve(tls).await);
                }
            });
        }
    });
    (addr, outcomes_rx)
}

/// A TLS client that negotiated the tunnel's ALPN and then does what the test says.
pub async fn raw_tunnel_client(addr: SocketAddr) -> tokio_rustls::client::TlsStream<TcpStream> {
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AnyCertificate))
    .with_no_client_auth();
    config.alpn_protocols = vec![hopgate_transport::TUNNEL_ALPN.to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("gw.hopgate.test").unwrap();
    connector.connect(name, tcp).await.unwrap()
}

#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
