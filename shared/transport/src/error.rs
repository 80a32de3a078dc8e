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
}

impl ConfigError {
    pub(crate) fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field,
            reason: reason.into(),
        }
    }
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
    /// The key is of a kind DTLS can't use here (ECDSA P-256 or Ed25519 only).
    #[error("unsupported private key: {0} (use ECDSA P-256 or Ed25519)")]
    UnsupportedKey(String),
    /// Reading a file failed.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Generating a self-signed certificate failed.
    #[error("generating a certificate: {0}")]
    Generate(String),
    /// A fingerprint string isn't 32 bytes of hex.
    #[error("a SHA-256 fingerprint is 64 hex digits (colons allowed), got {0:?}")]
    BadFingerprint(String),
}

/// Opening a session to a gateway failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The configuration was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The local socket couldn't be opened.
    #[error("opening the UDP socket: {0}")]
    Socket(io::Error),
    /// DTLS failed: certificate refused, handshake alert, or a bad record.
    #[error("DTLS handshake with {peer} failed: {reason}")]
    Dtls {
        /// The gateway.
        peer: SocketAddr,
        /// What went wrong.
        reason: String,
    },
    /// No answer in time.
    #[error("no handshake with {peer} within {timeout_ms} ms (is UDP to it blocked?)")]
    Timeout {
        /// The gateway.
        peer: SocketAddr,
        /// The limit that ran out.
        timeout_ms: u128,
    },
    /// The stream layer's handshake inside DTLS failed.
    #[error("stream-layer handshake with {peer} failed: {reason}")]
    Stream {
        /// The gateway.
        peer: SocketAddr,
        /// What went wrong.
        reason: String,
    },
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
