//! HopGate's transport between agent and data-plane: many reliable, ordered, flow- and
//! congestion-controlled byte streams inside one DTLS 1.2 session over UDP, or — where UDP
//! is blocked — inside one TLS connection over TCP.
//!
//! # Design
//!
//! DTLS is datagrams. The stream layer is QUIC's transport machinery (quinn): streams with
//! FIN (so a body's end is explicit), per-stream and per-session flow control (a slow reader
//! slows the writer), RFC 9002 loss recovery (packet numbers never reused, ACK ranges,
//! time- and packet-threshold loss detection, probe timeouts) and BBR congestion control.
//! Each QUIC packet travels in exactly one DTLS record, and every UDP datagram is one
//! record: [`TransportConfig::datagram_size`] at first, then as large as path-MTU discovery
//! finds the path carries, up to [`TransportConfig::max_datagram_size`]. QUIC keeps its own
//! packet protection (its loss recovery relies on rejecting stale packets); its TLS handshake
//! inside DTLS presents the same certificate, which the client accepts only if it is the one
//! DTLS verified. docs/transport.md has the measurements behind this choice.
//!
//! # Layout
//!
//! The modules are private; the crate root re-exports what agents, gateways and tests use.
//!
//! - `config`: [`TransportConfig`], the tunables both ends share, and their validation.
//! - `identity`: [`Identity`] (the gateway's certificate and key) and [`Fingerprint`].
//! - `dtls`: sans-IO table of DTLS associations keyed by peer address: stateless cookies
//!   before any state, handshake caps in all and per source IP, restarts that replace an
//!   association only once the new handshake completes, expiry.
//! - `dtls_config`, `quic`: handshake configurations of both layers;
//!   [`ServerVerification`] is how an agent checks the gateway.
//! - `socket`: the virtual UDP socket quinn runs on; seals and opens DTLS records inline;
//!   `timer` drives its table's retransmissions and expiry.
//! - `server`: [`Listener`], one UDP socket serving any number of sessions;
//!   `supervisor` keeps each session and its DTLS association tied together.
//! - `client`: [`connect()`], [`connect_from`].
//! - `stream`: the TCP fallback: the same sessions in a TLS connection, each QUIC packet a
//!   length-prefixed frame; [`connect_tcp`] on the agent's side, [`StreamAcceptor`] on the
//!   gateway's (whose HTTPS listener does the TLS and hands over connections that
//!   negotiated [`TUNNEL_ALPN`]).
//! - `session`: [`Session`] and its streams, [`SendStream`] and [`RecvStream`].
//! - `error`: one error per operation: [`ConfigError`], [`ListenError`], [`ConnectError`]
//!   (with [`DtlsError`] and [`StreamSetupError`] as its causes), [`IdentityError`],
//!   [`SessionError`].

mod client;
mod config;
mod dtls;
mod dtls_config;
mod error;
mod handshake_thread;
mod identity;
mod quic;
mod readiness;
mod recv_batch;
pub mod reuseport;
mod server;
mod session;
mod shard;
mod socket;
mod stream;
mod supervisor;
mod timer;

pub use client::{ClientConfig, connect, connect_from};
pub use config::{Carrier, Congestion, TransportConfig};
pub use dtls_config::ServerVerification;
pub use error::{
    ConfigError, ConnectError, DtlsError, IdentityError, ListenError, SessionError, SetupStage,
    StreamSetupError,
};
pub use identity::{Fingerprint, Identity};
pub use server::{Listener, ListenerStats, ServerConfig};
pub use session::{RecvStream, SendStream, Session};
pub use shard::ThreadJob;
pub use stream::{
    FrameError, LinkError, StreamAcceptor, StreamServeError, TUNNEL_ALPN, connect_tcp,
    tls_server_config,
};
