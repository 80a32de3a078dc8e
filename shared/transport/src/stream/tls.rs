//! The TLS of the TCP fallback. The agent verifies the gateway exactly as over DTLS
//! ([`ServerVerification`]: chain and name against roots, or the pinned fingerprint) and
//! insists on the tunnel's ALPN. [`server_config`] is a rustls acceptor's configuration
//! for gateways that terminate this TLS themselves (tests, benchmarks); the data-plane's
//! HTTPS listener negotiates the same ALPN with OpenSSL.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use crate::{
    dtls_config::ServerVerification,
    error::ConfigError,
    identity::Identity,
    quic::{Accepted, ExactCertificate},
};

/// The ALPN protocol that marks a TLS connection as an agent's session, not a visitor's.
pub const TUNNEL_ALPN: &[u8] = b"hopgate-tunnel/1";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The agent's TLS: `verification` of the gateway's certificate, the tunnel's ALPN only.
pub(crate) fn client_config(
    verification: &ServerVerification,
) -> Result<rustls::ClientConfig, ConfigError> {
    let provider = provider();
    // TLS 1.3 only, as the QUIC handshake inside it (the pod's OpenSSL offers it).
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConfigError::from_source("tls", e))?;
    let mut config = match verification {
        ServerVerification::Roots(roots) => {
            let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots.clone()),
                provider,
            )
            .build()
            .map_err(|e| ConfigError::from_source("ca_file", e))?;
            builder.with_webpki_verifier(verifier).with_no_client_auth()
        }
        ServerVerification::Pinned(pinned) => builder
            .dangerous()
            // Chain verification is replaced by the pin, as over DTLS (debug mode only).
            .with_custom_certificate_verifier(Arc::new(ExactCertificate {
                accepted: Accepted::Fingerprint(*pinned),
                provider,
            }))
            .with_no_client_auth(),
    };
    config.alpn_protocols = vec![TUNNEL_ALPN.to_vec()];
    Ok(config)
}

/// A gateway's TLS acceptor configuration around `identity`, offering the tunnel's ALPN.
pub fn server_config(identity: &Identity) -> Result<rustls::ServerConfig, ConfigError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::from_source("tls", e))?
        .with_no_client_auth()
        .with_single_cert(identity.chain(), identity.rustls_key())
        .map_err(|e| ConfigError::from_source("identity", e))?;
    config.alpn_protocols = vec![TUNNEL_ALPN.to_vec()];
    Ok(config)
}
