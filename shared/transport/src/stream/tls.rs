//! The TLS of the TCP fallback. The agent verifies the gateway exactly as over DTLS
//! ([`ServerVerification`]: chain and name against roots, or the pinned fingerprint) and
//! insists on the tunnel's ALPN. [`server_config`] is a rustls acceptor's configuration
//! for gateways that terminate this TLS themselves (tests, benchmarks); the data-plane's
//! HTTPS listener negotiates the same ALPN with OpenSSL.

use std::sync::Arc;

use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use crate::{
    dtls_config::ServerVerification,
    error::ConfigError,
    identity::{Fingerprint, Identity},
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
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
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
            .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                pinned: *pinned,
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

/// Accepts exactly the certificate with the pinned fingerprint, and checks the handshake's
/// signature with it.
#[derive(Debug)]
struct PinnedCertificate {
    pinned: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if got == self.pinned {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate fingerprint {got} does not match the pinned {}",
                self.pinned
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
