//! The pod's sockets, bound before it starts: whoever runs the pod (the binary, a test)
//! binds them, on port 0 if it likes, and knows every address before the first request.

use std::{
    io,
    net::{SocketAddr, TcpListener, UdpSocket},
};

use crate::config::Config;

/// The sockets [`run`](crate::run) serves on.
#[derive(Debug)]
pub struct Listeners {
    /// Agents' DTLS sessions (`HOP_SERVER_DTLS_LISTEN`): one port, served by a group of
    /// `HOP_SERVER_DTLS_SOCKETS` sockets ([`hopgate_transport::reuseport`]).
    pub dtls: Vec<UdpSocket>,
    /// Requests other pods relay here (`HOP_SERVER_RELAY_LISTEN`), when it is on.
    pub relay: Option<TcpListener>,
    /// Visitors' HTTPS (`HOP_SERVER_HTTPS_LISTEN`), bound with `SO_REUSEPORT`: each of the
    /// HTTPS workers joins the port with a socket of its own (this is the first).
    pub https: TcpListener,
    /// Port 80: ACME answers and redirects to HTTPS (`HOP_SERVER_HTTP_LISTEN`).
    pub http: TcpListener,
    /// The operations listener: `/metrics`, `/healthz`, `/readyz` (`HOP_METRICS_LISTEN`).
    pub ops: TcpListener,
}

/// Where [`Listeners`] are bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// Agents' DTLS sessions.
    pub dtls: SocketAddr,
    /// The relay listener, when it is on.
    pub relay: Option<SocketAddr>,
    /// Visitors' HTTPS.
    pub https: SocketAddr,
    /// Port 80.
    pub http: SocketAddr,
    /// The operations listener.
    pub ops: SocketAddr,
}

/// Why the pod's sockets could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A listen address setting can't be used.
    #[error("{var}: {reason}")]
    Setting {
        /// The setting's variable.
        var: &'static str,
        /// Why it can't be used.
        reason: String,
    },
    /// A socket could not be bound.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Listeners {
    /// Binds every socket `config` names.
    pub fn bind(config: &Config) -> Result<Self, BindError> {
        let dtls = hopgate_transport::reuseport::bind_udp_group(
            config.dtls_listen,
            config.dtls_socket_count(),
        )?;
        let relay_listen = config
            .relay_listen()
            .map_err(|problem| BindError::Setting {
                var: problem.var,
                reason: problem.reason,
            })?;
        let relay = relay_listen.map(TcpListener::bind).transpose()?;
        Ok(Self {
            dtls,
            relay,
            https: crate::edge::workers::bind_reusable(config.https_listen)?,
            http: TcpListener::bind(config.http_listen)?,
            ops: TcpListener::bind(config.metrics_listen)?,
        })
    }

    /// The addresses the sockets are bound to.
    pub fn addresses(&self) -> io::Result<Addresses> {
        Ok(Addresses {
            dtls: self.dtls[0].local_addr()?,
            relay: self
                .relay
                .as_ref()
                .map(TcpListener::local_addr)
                .transpose()?,
            https: self.https.local_addr()?,
            http: self.http.local_addr()?,
            ops: self.ops.local_addr()?,
        })
    }
}
