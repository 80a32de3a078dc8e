//! The stream layer's configuration: QUIC (quinn) inside DTLS.
//!
//! QUIC gives the streams, flow control, RFC 9002 loss recovery and congestion control.
//! Its packets keep their own AEAD protection (QUIC relies on it to reject stale or
//! misdecoded packets); its TLS 1.3 handshake presents the same certificate as the DTLS
//! layer, and the client accepts it only if it is byte-for-byte the certificate DTLS
//! already verified, so both layers are bound to one authenticated gateway.

use std::{sync::Arc, time::Duration};

use quinn::{
    IdleTimeout, VarInt,
    congestion::{BbrConfig, CubicConfig},
    crypto::rustls::{QuicClientConfig, QuicServerConfig},
};
use rustls::{
    DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, ServerName, UnixTime},
};

use crate::{
    config::{Carrier, Congestion, TransportConfig},
    error::ConfigError,
    identity::{Fingerprint, Identity},
};

/// ALPN of the stream layer, versioned with the transport.
pub(crate) const ALPN: &[u8] = b"hopgate-dtls/1";

/// The stream layer's cryptography: ring's, with AES-128-GCM (SHA-256) first. QUIC's packet
/// protection sits inside DTLS's, itself AES-128-GCM, so AES-256's extra rounds on every
/// packet and SHA-384 in the handshake buy nothing here. The other TLS 1.3 suites stay on
/// offer, so a peer that prefers one of them still connects.
fn provider() -> Arc<CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|suite| suite.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// The byte the gateway sends on its one unidirectional stream once a session is ready.
pub(crate) const READY: u8 = 0x01;

/// What the peer may make this side hold.
pub(crate) struct PeerAllowance {
    /// Unidirectional streams the peer may open: the gateway opens one to tell the agent the
    /// session is confirmed; agents may open none.
    pub(crate) uni_streams: u32,
    /// Bidirectional streams the peer may open at once.
    pub(crate) bidi_streams: u32,
    /// Bytes the peer may have in flight towards us across all streams.
    pub(crate) receive_window: u32,
}

pub(crate) fn transport_config(
    config: &TransportConfig,
    peer: &PeerAllowance,
    carrier: Carrier,
) -> Result<quinn::TransportConfig, ConfigError> {
    let mut transport = quinn::TransportConfig::default();
    let packet = carrier.packet_size(config);
    transport
        .initial_mtu(packet)
        .min_mtu(packet.min(1200))
        .mtu_discovery_config(path_mtu_discovery(packet, carrier.max_packet_size(config)))
        .keep_alive_interval(Some(config.keepalive_interval))
        .max_idle_timeout(Some(
            IdleTimeout::try_from(config.idle_timeout)
                .map_err(|_| ConfigError::new("idle_timeout", "too large"))?,
        ))
        .stream_receive_window(VarInt::from_u32(config.stream_receive_window))
        .receive_window(VarInt::from_u32(peer.receive_window))
        .send_window(u64::from(config.session_receive_window))
        .max_concurrent_bidi_streams(VarInt::from_u32(peer.bidi_streams))
        .max_concurrent_uni_streams(VarInt::from_u32(peer.uni_streams))
        // Before the first sample. Much lower (10 ms was tried) makes a client under a
        // handshake storm fire its probe timer so often that the backoff grows past the
        // idle timeout: a lost Finished then isn't resent in time and the session dies.
        .initial_rtt(Duration::from_millis(100))
        .datagram_receive_buffer_size(None)
        .ack_frequency_config(Some(quinn::AckFrequencyConfig::default()));
    match config.congestion {
        Congestion::Bbr => {
            transport.congestion_controller_factory(Arc::new(BbrConfig::default()));
        }
        Congestion::Cubic => {
            transport.congestion_controller_factory(Arc::new(CubicConfig::default()));
        }
    }
    Ok(transport)
}

/// Path-MTU discovery from `start` up to `ceiling` (QUIC packet sizes), or none when they
/// are the same. Found sizes are looked for again every ten minutes (quinn's default), and
/// a path that stops carrying them falls back (black-hole detection).
fn path_mtu_discovery(start: u16, ceiling: u16) -> Option<quinn::MtuDiscoveryConfig> {
    (ceiling > start).then(|| {
        let mut discovery = quinn::MtuDiscoveryConfig::default();
        discovery
            .upper_bound(ceiling)
            // A binary search from 1,313 to 16,384 bytes stops within 1 % of the largest
            // size that passes: seven probes instead of eleven.
            .minimum_change(ceiling / 100);
        discovery
    })
}

/// The gateway's side. Until the agent's hello is accepted
/// ([`crate::Session::lift_pre_hello_limits`]) the agent may open one stream and have
/// `pre_hello_window` bytes in flight.
pub(crate) fn server_config(
    identity: &Identity,
    config: &TransportConfig,
    pre_hello_window: u32,
    carrier: Carrier,
) -> Result<quinn::ServerConfig, ConfigError> {
    let crypto = QuicServerConfig::try_from(server_tls(identity)?)
        .map_err(|e| ConfigError::from_source("tls", e))?;
    let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    let before_hello = PeerAllowance {
        uni_streams: 0,
        bidi_streams: 1,
        receive_window: pre_hello_window.min(config.session_receive_window),
    };
    let mut transport = transport_config(config, &before_hello, carrier)?;
    // The agent's keepalives (and the gateway's acknowledgements of them) keep both ends'
    // idle timers fresh and its NAT binding open; the gateway sending its own as well
    // would double what every idle session costs it. A silent agent is still found dead
    // after the idle timeout.
    transport.keep_alive_interval(None);
    server.transport_config(Arc::new(transport));
    // Over DTLS, the association table moves a session to its agent's new address after a
    // NAT rebinding, once a record from there authenticated (dtls/migration.rs); QUIC then
    // sees its peer move, validates the new path and carries on. A TCP peer never moves.
    server.migration(carrier == Carrier::Udp);
    Ok(server)
}

/// The gateway's TLS 1.3 configuration for the stream layer's handshake.
fn server_tls(identity: &Identity) -> Result<rustls::ServerConfig, ConfigError> {
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConfigError::from_source("tls", e))?
        .with_no_client_auth()
        .with_single_cert(identity.chain(), identity.rustls_key())
        .map_err(|e| ConfigError::from_source("identity", e))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.max_early_data_size = 0;
    Ok(tls)
}

/// The agent's TLS 1.3 configuration: it accepts exactly the certificate DTLS verified.
fn client_tls(
    dtls_verified_leaf: CertificateDer<'static>,
    provider: Arc<CryptoProvider>,
) -> Result<rustls::ClientConfig, ConfigError> {
    let verifier = Arc::new(ExactCertificate {
        accepted: Accepted::Leaf(dtls_verified_leaf),
        provider: provider.clone(),
    });
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ConfigError::from_source("tls", e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    Ok(tls)
}

pub(crate) fn client_config(
    dtls_verified_leaf: CertificateDer<'static>,
    config: &TransportConfig,
    carrier: Carrier,
) -> Result<quinn::ClientConfig, ConfigError> {
    let tls = client_tls(dtls_verified_leaf, provider())?;
    let crypto = QuicClientConfig::try_from(tls).map_err(|e| ConfigError::from_source("tls", e))?;
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    let gateway = PeerAllowance {
        uni_streams: 1,
        bidi_streams: config.max_concurrent_streams,
        receive_window: config.session_receive_window,
    };
    client.transport_config(Arc::new(transport_config(config, &gateway, carrier)?));
    Ok(client)
}

/// An endpoint for one carrier, on `socket`, taking packets up to the carrier's size.
pub(crate) fn endpoint(
    socket: Arc<dyn quinn::AsyncUdpSocket>,
    server: Option<quinn::ServerConfig>,
    config: &TransportConfig,
    carrier: Carrier,
) -> std::io::Result<quinn::Endpoint> {
    let mut endpoint_config = quinn::EndpointConfig::default();
    // Within quinn's bounds once the configuration is validated.
    endpoint_config
        .max_udp_payload_size(carrier.max_packet_size(config))
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    quinn::Endpoint::new_with_abstract_socket(
        endpoint_config,
        server,
        socket,
        Arc::new(quinn::TokioRuntime),
    )
}

/// Which certificate an [`ExactCertificate`] accepts.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// This one, byte for byte (the inner handshake: the certificate the outer layer verified).
    Leaf(CertificateDer<'static>),
    /// The one with this SHA-256 fingerprint (debug mode's pin).
    Fingerprint(Fingerprint),
}

/// Accepts exactly one certificate, in place of chain verification, and checks the TLS 1.3
/// handshake's signature with it; TLS 1.2 is refused.
#[derive(Debug)]
pub(crate) struct ExactCertificate {
    pub(crate) accepted: Accepted,
    pub(crate) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ExactCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.accepted {
            Accepted::Leaf(leaf) if end_entity.as_ref() == leaf.as_ref() => {
                Ok(ServerCertVerified::assertion())
            }
            Accepted::Leaf(_) => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
            Accepted::Fingerprint(pinned) => {
                let got = Fingerprint::of(end_entity);
                if got == *pinned {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rustls::Error::General(format!(
                        "server certificate fingerprint {got} does not match the pinned {pinned}"
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls12NotOffered,
        ))
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

#[cfg(test)]
mod tests;
