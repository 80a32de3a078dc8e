//! HopGate's transport between agent and data-plane: many reliable, ordered, flow- and
//! congestion-controlled byte streams inside one DTLS 1.2 session over UDP.
//!
//! # Design
//!
//! DTLS is datagrams. The stream layer is QUIC's transport machinery (quinn): streams with
//! FIN (so a body's end is explicit), per-stream and per-session flow control (a slow reader
//! slows the writer), RFC 9002 loss recovery (packet numbers never reused, ACK ranges,
//! time- and packet-threshold loss detection, probe timeouts) and BBR congestion control.
//! Each QUIC packet travels in exactly one DTLS record, and every UDP datagram is one record
//! no larger than [`TransportConfig::max_datagram_size`]. QUIC keeps its own packet
//! protection (its loss recovery relies on rejecting stale packets); its TLS handshake
//! inside DTLS presents the same certificate, which the client accepts only if it is the one
//! DTLS verified. The README has the measurements behind this choice.
//!
//! # Layout
//!
//! - [`config`]: tunables and their validation.
//! - [`identity`]: certificates, fingerprints.
//! - `dtls`: sans-IO table of DTLS associations keyed by peer address: stateless cookies
//!   before any state, handshake caps in all and per source IP, restarts that replace an
//!   association only once the new handshake completes, expiry.
//! - `dtls_config`, `quic`: handshake configurations of both layers.
//! - `socket`: the virtual UDP socket quinn runs on; seals and opens DTLS records inline.
//! - [`server`]: [`Listener`], one UDP socket serving any number of sessions;
//!   `supervisor` keeps each session and its DTLS association tied together.
//! - [`client`]: [`connect()`], [`connect_from`].
//! - [`session`]: [`Session`], its streams, and the [`StreamSession`] trait the HTTP layers
//!   use, so another carrier (TLS/TCP) can be added behind it.

pub mod client;
pub mod config;
mod dtls;
mod dtls_config;
pub mod error;
pub mod identity;
mod quic;
pub mod server;
pub mod session;
mod socket;
mod supervisor;

pub use client::{ClientConfig, connect, connect_from};
pub use config::{Congestion, TransportConfig};
pub use dtls_config::ServerVerification;
pub use error::{ConfigError, ConnectError, IdentityError, SessionError};
pub use identity::{Fingerprint, Identity};
pub use server::{Listener, ListenerStats, ServerConfig};
pub use session::{RecvStream, SendStream, Session, SessionStats, StreamSession};
