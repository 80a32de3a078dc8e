//! Builds the DTLS handshake configurations of both roles.

use std::{net::SocketAddr, sync::Arc};

use rtc_dtls::{
    cipher_suite::CipherSuiteId,
    config::{ConfigBuilder, ExtendedMasterSecretType, HandshakeConfig},
    crypto_provider::RTCCryptoProvider,
};

use crate::{
    config::TransportConfig,
    dtls::CookieSeed,
    error::ConfigError,
    identity::{Fingerprint, Identity},
};

/// How an agent decides that it reached the real gateway.
#[derive(Clone)]
pub enum ServerVerification {
    /// The certificate chain must lead to one of these roots and name the server.
    Roots(rustls::RootCertStore),
    /// The leaf certificate must have exactly this SHA-256 fingerprint (debug mode, where the
    /// gateway's certificate is self-signed and its fingerprint is printed at start).
    Pinned(Fingerprint),
}

impl std::fmt::Debug for ServerVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Roots(roots) => write!(f, "Roots({} certificates)", roots.len()),
            Self::Pinned(fp) => write!(f, "Pinned({fp})"),
        }
    }
}

impl ServerVerification {
    /// The operating system's trusted roots.
    pub fn system_roots() -> Result<Self, ConfigError> {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        if added == 0 {
            return Err(ConfigError::new(
                "ca_file",
                "no system root certificates found; give a CA file or a fingerprint",
            ));
        }
        Ok(Self::Roots(roots))
    }

    /// Trusts the certificates in a PEM file (a private CA).
    pub fn ca_pem(pem: &[u8]) -> Result<Self, ConfigError> {
        use rustls_pki_types::{CertificateDer, pem::PemObject};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert =
                cert.map_err(|e| ConfigError::caused_by("ca_file", format!("bad PEM: {e}"), e))?;
            roots.add(cert).map_err(|e| {
                ConfigError::caused_by("ca_file", format!("unusable certificate: {e}"), e)
            })?;
        }
        if roots.is_empty() {
            return Err(ConfigError::new("ca_file", "no certificate in the file"));
        }
        Ok(Self::Roots(roots))
    }
}

pub(crate) fn crypto_provider() -> Result<Arc<dyn RTCCryptoProvider>, ConfigError> {
    rtc_dtls::crypto_provider::default_provider()
        .map_err(|e| ConfigError::caused_by("dtls", format!("no crypto provider: {e}"), e))
}

fn base(config: &TransportConfig, provider: Arc<dyn RTCCryptoProvider>) -> ConfigBuilder {
    ConfigBuilder::default()
        .with_crypto_provider(provider)
        .with_cipher_suites(vec![
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_Aes_128_Gcm_Sha256,
            CipherSuiteId::Tls_Ecdhe_Ecdsa_With_ChaCha20_Poly1305_Sha256,
        ])
        .with_extended_master_secret(ExtendedMasterSecretType::Require)
        .with_flight_interval(config.dtls_flight_interval)
        .with_mtu(config.datagram_size)
        .with_replay_protection_window(config.replay_window)
}

/// The gateway's configuration; its cookies are drawn from `seed` (see `dtls::cookie`).
pub(crate) fn server(
    identity: &Identity,
    config: &TransportConfig,
    seed: &CookieSeed,
) -> Result<Arc<HandshakeConfig>, ConfigError> {
    let provider = seed.provider(crypto_provider()?);
    let certificate = identity
        .dtls_certificate(provider.crypto())
        .map_err(|e| ConfigError::from_source("identity", e))?;
    let built = base(config, provider)
        .with_certificates(vec![certificate])
        .build(false, None)
        .map_err(|e| ConfigError::from_source("dtls", e))?;
    Ok(Arc::new(built))
}

pub(crate) fn client(
    server_name: &str,
    verification: &ServerVerification,
    remote: SocketAddr,
    config: &TransportConfig,
) -> Result<Arc<HandshakeConfig>, ConfigError> {
    let builder = base(config, crypto_provider()?).with_server_name(server_name.to_owned());
    let builder = match verification {
        ServerVerification::Roots(roots) => builder.with_roots_cas(roots.clone()),
        ServerVerification::Pinned(pinned) => {
            let pinned = *pinned;
            // Chain verification is replaced, not skipped: the callback below is the check
            // (rtc-dtls takes no custom verifier otherwise). Only a debug gateway's
            // self-signed certificate is pinned: the agent refuses a pin outside debug mode.
            builder.with_insecure_skip_verify(true).with_verify_peer_certificate(Some(Arc::new(
                move |certs: &[Vec<u8>], _| match certs.first().map(|der| Fingerprint::of(der)) {
                    Some(got) if got == pinned => Ok(()),
                    Some(got) => Err(rtc_shared::error::Error::Other(format!(
                        "server certificate fingerprint {got} does not match the pinned {pinned}"
                    ))),
                    None => Err(rtc_shared::error::Error::Other(
                        "server presented no certificate".into(),
                    )),
                },
            )))
        }
    };
    let built = builder
        .build(true, Some(remote))
        .map_err(|e| ConfigError::from_source("dtls", e))?;
    Ok(Arc::new(built))
}
