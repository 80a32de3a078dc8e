//! Errors of the transport, one enum per operation.

use std::{io, net::SocketAddr};

/// A transport setting that can't be used, naming the field and why.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ConfigError {
    /// The setting's name.
    pub field: &'static str,
    /// Why it was refused.
    pub reason: String,
    /// The library error behind the refusal, where there is one.
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
            source: None,
        }
    }

    /// Refused because a library refused it: `reason` says what was tried, `source` why it
    /// failed.
    pub(crate) fn caused_by(
        field: &'static str,
        reason: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            field,
            reason: reason.into(),
            source: Some(Box::new(source)),
        }
    }

    /// Refused by a library whose message is the whole reason.
    pub(crate) fn from_source(
        field: &'static str,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::caused_by(field, source.to_string(), source)
    }
}

/// Starting a gateway's listener failed.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The UDP socket couldn't be set up.
    #[error("listen: {0}")]
    Socket(#[source] io::Error),
}

/// Loading or generating a certificate failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The PEM text held no certificate.
    #[error("no certificate found in the PEM input")]
    NoCertificate,
    /// The PEM text held no usable private key.
    #[error("no PKCS#8 private key found in the PEM input")]
    NoKey,
    /// The key isn't PKCS#8.
    #[error(
        "unsupported private key: only PKCS#8 keys are read (convert with `openssl pkcs8 -topk8 -nocrypt`) (use ECDSA P-256 or Ed25519)"
    )]
    NotPkcs8,
    /// The key is of a kind DTLS can't use here (ECDSA P-256 or Ed25519 only).
    #[error("unsupported private key: {0} (use ECDSA P-256 or Ed25519)")]
    UnsupportedKey(#[source] rcgen::Error),
    /// The DTLS layer can't sign with the key.
    #[error("unsupported private key: {0} (use ECDSA P-256 or Ed25519)")]
    UnusableForDtls(#[source] rtc_shared::error::Error),
    /// Generating a self-signed certificate failed.
    #[error("generating a certificate: {0}")]
    Generate(#[source] rcgen::Error),
    /// A fingerprint string isn't 32 bytes of hex.
    #[error("a SHA-256 fingerprint is 64 hex digits (colons allowed), got {0:?}")]
    BadFingerprint(String),
}

/// The step of a session's set-up that did not finish in time: what tells a blocked port
/// from a path that loses the larger handshake packets, or a gateway too busy to confirm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupStage {
    /// The TCP connection (the fallback) did not open.
    TcpConnect,
    /// The DTLS handshake did not finish.
    Dtls,
    /// The TLS handshake (the TCP fallback) did not finish.
    Tls,
    /// DTLS (or TLS) is up; the stream layer's handshake inside it did not finish.
    Streams,
    /// Both handshakes finished; the gateway did not confirm the session as ready.
    Confirmation,
}

impl ConnectError {
    /// The set-up with `peer` ran out of `limit` at `stage`.
    pub(crate) fn timed_out(
        peer: SocketAddr,
        limit: std::time::Duration,
        stage: SetupStage,
    ) -> Self {
        Self::Timeout {
            peer,
            timeout_ms: limit.as_millis(),
            stage,
        }
    }
}

impl std::fmt::Display for SetupStage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TcpConnect => "the TCP connection did not open",
            Self::Dtls => "the DTLS handshake did not finish (is UDP to it blocked?)",
            Self::Tls => "the TLS handshake did not finish",
            Self::Streams => "the stream layer's handshake did not finish",
            Self::Confirmation => "the gateway did not confirm the session",
        })
    }
}

/// Opening a session to a gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The local socket couldn't be opened.
    #[error("opening the UDP socket: {0}")]
    Socket(#[source] io::Error),
    /// DTLS failed: certificate refused, handshake alert, or a bad record.
    #[error("DTLS handshake with {peer} failed: {cause}")]
    Dtls {
        /// The gateway.
        peer: SocketAddr,
        /// What went wrong.
        #[source]
        cause: DtlsError,
    },
    /// No answer in time.
    #[error("no handshake with {peer} within {timeout_ms} ms: {stage}")]
    Timeout {
        /// The gateway.
        peer: SocketAddr,
        /// The limit that ran out.
        timeout_ms: u128,
        /// How far the session's set-up had come.
        stage: SetupStage,
    },
    /// The TCP connection to the gateway (the fallback) couldn't be opened.
    #[error("TCP connection to {peer} failed: {source}")]
    Tcp {
        /// The gateway's TCP address.
        peer: SocketAddr,
        /// What the system said.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake over TCP failed: certificate refused, or not a tunnel gateway.
    #[error("TLS handshake with {peer} failed: {reason}")]
    Tls {
        /// The gateway's TCP address.
        peer: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// The stream layer's handshake inside DTLS failed.
    #[error("stream-layer handshake with {peer} failed: {cause}")]
    Stream {
        /// The gateway.
        peer: SocketAddr,
        /// What went wrong.
        #[source]
        cause: StreamSetupError,
    },
}

impl ConnectError {
    /// Whether the gateway never answered: a connection or its first handshake (DTLS, or
    /// TCP and TLS) that timed out, or DTLS flights resent until given up (UDP to it may be
    /// blocked), as opposed to a refusal, or to a set-up that got past its first handshake
    /// and then stalled.
    pub fn is_unanswered(&self) -> bool {
        match self {
            Self::Timeout { stage, .. } => matches!(
                stage,
                SetupStage::Dtls | SetupStage::TcpConnect | SetupStage::Tls
            ),
            Self::Dtls {
                cause: DtlsError::Ended(reason),
                ..
            } => reason == crate::dtls::RETRANSMISSIONS_EXHAUSTED,
            _ => false,
        }
    }
}

/// Why an agent's DTLS handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// The DTLS library refused to start the handshake.
    #[error("{0}")]
    Start(#[source] rtc_shared::error::Error),
    /// The socket's one handshake slot is taken.
    #[error("too many handshakes in progress")]
    Busy,
    /// The socket stopped before the handshake ended.
    #[error("socket closed")]
    SocketClosed,
    /// The association ended during the handshake: the DTLS layer's reason (a refused
    /// certificate, an alert from the gateway, retransmissions given up).
    #[error("{0}")]
    Ended(String),
    /// The handshake completed without a certificate from the gateway.
    #[error("no server certificate")]
    NoCertificate,
}

/// Why the stream layer's handshake inside DTLS, or the gateway's confirmation of the
/// session, failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamSetupError {
    /// The stream layer refused to start the handshake.
    #[error("{0}")]
    Start(#[source] quinn::ConnectError),
    /// The handshake, or waiting for the confirmation stream, failed.
    #[error("{0}")]
    Connection(#[source] quinn::ConnectionError),
    /// The confirmation stream broke before its byte arrived.
    #[error("{0}")]
    Confirmation(#[source] quinn::ReadExactError),
    /// The confirmation stream held something else.
    #[error("unexpected confirmation byte")]
    BadConfirmation,
}

/// Why a session or one of its streams stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The peer said nothing for longer than the idle timeout: it's gone.
    #[error("peer went silent (no packet within the idle timeout)")]
    TimedOut,
    /// The peer closed the session, with its reason.
    #[error("peer closed the session: {0}")]
    ClosedByPeer(String),
    /// We closed the session.
    #[error("session closed locally: {0}")]
    ClosedLocally(String),
    /// The peer reset this stream.
    #[error("peer reset the stream (code {0})")]
    StreamReset(u64),
    /// The peer broke the protocol.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl From<quinn::ConnectionError> for SessionError {
    fn from(err: quinn::ConnectionError) -> Self {
        use quinn::ConnectionError as E;
        match err {
            E::TimedOut => Self::TimedOut,
            E::ApplicationClosed(close) => {
                Self::ClosedByPeer(String::from_utf8_lossy(&close.reason).into_owned())
            }
            E::LocallyClosed => Self::ClosedLocally("closed".into()),
            E::Reset => Self::ClosedByPeer("stateless reset".into()),
            E::ConnectionClosed(close) => Self::ClosedByPeer(close.to_string()),
            E::TransportError(err) => Self::Protocol(err.to_string()),
            E::VersionMismatch => Self::Protocol("version mismatch".into()),
            E::CidsExhausted => Self::Protocol("connection ids exhausted".into()),
        }
    }
}

impl From<SessionError> for io::Error {
    fn from(err: SessionError) -> Self {
        let kind = match err {
            SessionError::TimedOut => io::ErrorKind::TimedOut,
            SessionError::StreamReset(_) => io::ErrorKind::ConnectionReset,
            SessionError::ClosedByPeer(_) | SessionError::ClosedLocally(_) => {
                io::ErrorKind::ConnectionAborted
            }
            SessionError::Protocol(_) => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}
