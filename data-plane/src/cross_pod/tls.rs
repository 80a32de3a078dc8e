//! TLS on the relay path between pods (`HOP_RELAY_TLS_CERT`/`_KEY`, `HOP_RELAY_CA`,
//! `HOP_RELAY_SERVER_NAME`). Relayed requests carry visitors' cookies and credentials,
//! so outside a trusted network they travel encrypted. The relay listener serves HTTPS
//! with OpenSSL, like the visitors' listener; the relaying pod verifies the other pod's
//! certificate against the relay CA alone and under one fixed server name, since relay
//! URLs are pod IP addresses that a certificate issued once for every pod can't name.

use std::{path::Path, sync::Arc};

use anyhow::Context;
use openssl::ssl::{SslAcceptor, SslAcceptorBuilder, SslFiletype, SslMethod};
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use crate::config::Config;

/// The relaying side's TLS when `HOP_RELAY_CA` is set: see [`client_config`].
pub(crate) fn client_for(config: &Config) -> anyhow::Result<Option<ClientConfig>> {
    let Some(path) = &config.relay_ca else {
        return Ok(None);
    };
    let pem = std::fs::read(path)
        .with_context(|| format!("HOP_RELAY_CA: cannot read {}", path.display()))?;
    client_config(&pem, &config.relay_server_name).map(Some)
}

/// The relay listener's OpenSSL acceptor (Mozilla's intermediate profile).
pub(crate) fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<SslAcceptorBuilder> {
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls())?;
    builder
        .set_certificate_chain_file(cert)
        .with_context(|| format!("HOP_RELAY_TLS_CERT: cannot use {}", cert.display()))?;
    builder
        .set_private_key_file(key, SslFiletype::PEM)
        .with_context(|| format!("HOP_RELAY_TLS_KEY: cannot use {}", key.display()))?;
    builder
        .check_private_key()
        .context("HOP_RELAY_TLS_KEY does not match HOP_RELAY_TLS_CERT")?;
    Ok(builder)
}

/// The relaying side's TLS: only a certificate that `ca_pem` issued for `server_name`,
/// whatever address the relay URL names.
pub(crate) fn client_config(ca_pem: &[u8], server_name: &str) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in openssl::x509::X509::stack_from_pem(ca_pem).context("HOP_RELAY_CA: not PEM")? {
        roots
            .add(CertificateDer::from(cert.to_der()?))
            .context("HOP_RELAY_CA: not a usable CA certificate")?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("HOP_RELAY_CA: no CA certificate")?;
    let name = ServerName::try_from(server_name.to_owned())
        .with_context(|| format!("HOP_RELAY_SERVER_NAME: '{server_name}' is not a DNS name"))?;
    let verifier = FixedName { inner, name };
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// WebPKI verification under a fixed name instead of the URL's host.
#[derive(Debug)]
struct FixedName {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _url_host: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
