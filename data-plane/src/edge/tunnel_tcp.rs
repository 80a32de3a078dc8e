//! Agents whose UDP is blocked: a TLS connection on the HTTPS port that negotiated the
//! tunnel's ALPN (`hopgate-tunnel/1`; visitors negotiate h2 or http/1.1) is not a visitor.
//! After the handshake (same certificate by SNI, same per-IP caps and deadline as any
//! visitor's) it is handed to the transport's listener, which carries one agent session on
//! it until either ends; the session then goes through the same hello as a DTLS one.

use std::net::SocketAddr;

use hopgate_transport::{LinkError, StreamAcceptor, StreamServeError};
use slog::{Logger, info, warn};

use crate::{
    edge::{connection::Admitted, tls_stream::TlsStream},
    ops::metrics::Metrics,
};

/// Where the HTTPS listener hands agents' connections.
pub(crate) struct TunnelIntake {
    pub(crate) acceptor: StreamAcceptor,
    pub(crate) log: Logger,
}

impl TunnelIntake {
    /// Carries an agent's session on `conn` until it ends, and says how it ended.
    pub(crate) async fn carry(&self, conn: Admitted<TlsStream>, metrics: &Metrics) {
        let peer: SocketAddr = conn.peer();
        let log = self
            .log
            .new(slog::o!("peer" => peer.to_string(), "transport" => "tcp"));
        match self.acceptor.serve(conn).await {
            Ok(reason) => info!(log, "agent session over TCP ended"; "reason" => reason),
            Err(err @ StreamServeError::AtCapacity { .. }) => {
                metrics.rejected("tunnel_tcp_at_capacity");
                warn!(log, "agent TCP connection refused"; "error" => %err);
            }
            Err(StreamServeError::Link(err @ LinkError::Frame(_))) => {
                metrics.rejected("tunnel_tcp_bad_frame");
                warn!(log, "agent TCP connection closed: not the tunnel's framing"; "error" => %err);
            }
            Err(StreamServeError::Link(err @ LinkError::NoSession { .. })) => {
                metrics.rejected("tunnel_tcp_no_session");
                warn!(log, "agent TCP connection closed: no session set up in time"; "error" => %err);
            }
            Err(err) => info!(log, "agent TCP connection ended"; "error" => %err),
        }
    }
}
