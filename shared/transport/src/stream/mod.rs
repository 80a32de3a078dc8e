//! The TCP fallback: the same sessions (QUIC's streams, flow control, both certificate
//! checks) carried in a TLS connection over TCP where UDP is blocked. Every QUIC packet is
//! one length-prefixed frame in the TLS byte stream; each connection is a peer of a
//! virtual socket quinn runs on, with an address of its own.
//!
//! - `frame`: the framing, and the check on a gateway's first packet.
//! - `socket`: the virtual socket: per-peer bounded queues, synthetic addresses.
//! - `link`: one connection carrying one session; the two end together.
//! - `server`: [`StreamAcceptor`], the gateway's side (its TLS is the HTTPS listener's).
//! - `client`: [`connect_tcp`], the agent's side; `tls`: its verification, the ALPN.

pub(crate) mod client;
pub(crate) mod frame;
pub(crate) mod link;
pub(crate) mod server;
pub(crate) mod socket;
pub(crate) mod tls;

pub use self::{
    client::connect_tcp,
    frame::FrameError,
    link::LinkError,
    server::{StreamAcceptor, StreamServeError},
    tls::{TUNNEL_ALPN, server_config as tls_server_config},
};
