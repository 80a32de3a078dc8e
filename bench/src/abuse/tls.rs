//! TLS to the pod's HTTPS listener, trusting its debug certificate, with a chosen ALPN.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use anyhow::Context;
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// TLS clients offering `alpn` (e.g. `h2`, `http/1.1`).
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
}

impl Tls {
    pub(crate) fn new(cert_pem: &[u8], alpn: &[u8]) -> anyhow::Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(cert_pem) {
            roots.add(cert?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(Self {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// Connects to `https` from the local address `from` (an attacker's own, so the pod's
    /// per-IP caps fall on it and not on the visitor), naming `domain`.
    pub(crate) async fn connect_from(
        &self,
        from: IpAddr,
        https: SocketAddr,
        domain: &str,
    ) -> anyhow::Result<TlsStream<TcpStream>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(from, 0))?;
        let tcp = socket.connect(https).await?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from(domain.to_owned()).context("a server name")?;
        Ok(self.connector.connect(name, tcp).await?)
    }
}
