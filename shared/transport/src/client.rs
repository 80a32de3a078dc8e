//! The agent side: dial a gateway, verify it, and get a session.

use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use crate::{
    config::{Carrier, TransportConfig},
    dtls::{DtlsTable, MigrationLimits, PeerEvent, SharedCounts, TableLimits},
    dtls_config::{self, ServerVerification},
    error::{ConnectError, DtlsError, SetupStage, StreamSetupError},
    quic,
    session::{OnEnd, Session},
    socket::DtlsSocket,
};

/// How an agent dials.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway's name, checked against its certificate (with [`ServerVerification::Roots`]).
    pub server_name: String,
    /// How the gateway's certificate is checked. There is no "don't check".
    pub verification: ServerVerification,
    /// Session tunables.
    pub transport: TransportConfig,
    /// The local IP sessions leave from (a multi-homed host's interface); `None`: the one
    /// the system's routes pick.
    pub local_ip: Option<IpAddr>,
}

impl ClientConfig {
    /// Defaults for a gateway name and a verification.
    pub fn new(server_name: impl Into<String>, verification: ServerVerification) -> Self {
        Self {
            server_name: server_name.into(),
            verification,
            transport: TransportConfig::default(),
            local_ip: None,
        }
    }

    /// Where a socket towards `remote` is bound: `local_ip` (of `remote`'s family) or any
    /// address, on a port the system picks.
    pub(crate) fn bind_addr(&self, remote: SocketAddr) -> io::Result<SocketAddr> {
        match self.local_ip {
            Some(ip) if ip.is_ipv4() != remote.is_ipv4() => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "the local IP {ip} cannot reach the gateway at {remote} (another address family)"
                ),
            )),
            Some(ip) => Ok(SocketAddr::new(ip, 0)),
            None if remote.is_ipv4() => Ok((Ipv4Addr::UNSPECIFIED, 0).into()),
            None => Ok((Ipv6Addr::UNSPECIFIED, 0).into()),
        }
    }
}

/// Dials `remote` from a fresh socket on an ephemeral port (of `config.local_ip`, if set).
pub async fn connect(remote: SocketAddr, config: &ClientConfig) -> Result<Session, ConnectError> {
    let bind = config.bind_addr(remote).map_err(ConnectError::Socket)?;
    let socket = std::net::UdpSocket::bind(bind).map_err(ConnectError::Socket)?;
    connect_from(socket, remote, config).await
}

/// Dials `remote` from an already-bound socket.
pub async fn connect_from(
    socket: std::net::UdpSocket,
    remote: SocketAddr,
    config: &ClientConfig,
) -> Result<Session, ConnectError> {
    config.transport.validate()?;
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + config.transport.handshake_timeout;
    let timeout =
        |stage| ConnectError::timed_out(remote, config.transport.handshake_timeout, stage);
    let local = socket.local_addr().map_err(ConnectError::Socket)?;
    let limits = TableLimits {
        handshake_timeout: config.transport.handshake_timeout,
        max_handshaking: 1,
        max_handshakes_per_ip: 1,
        max_peers: 1,
        stale_after: config.transport.idle_timeout * 2,
        shared: SharedCounts::default(),
        // The agent's one peer is the gateway's address: a record from anywhere else is
        // dropped, never taken for the gateway moving.
        migration: MigrationLimits::OFF,
    };
    let (socket, mut events) = DtlsSocket::new(socket, DtlsTable::client(local, limits), None)
        .map_err(ConnectError::Socket)?;
    let endpoint = quic::endpoint(socket.clone(), None, &config.transport, Carrier::Udp)
        .map_err(ConnectError::Socket)?;

    // A session whose handshake completed on our side but whose last flight was lost can
    // sit unconfirmed while QUIC's probe backoff (grown during a handshake storm) outlasts
    // the idle timeout. The gateway confirms every session on a unidirectional stream; if
    // that doesn't come in time, start over (a new ClientHello on the same port replaces
    // the old association on the gateway at once).
    let (conn, id) = loop {
        match attempt(&socket, &endpoint, &mut events, remote, config, deadline).await? {
            Attempt::Confirmed(conn, id) => break (conn, id),
            Attempt::Unconfirmed => {
                tracing::debug!(peer = %remote, "session not confirmed in time; retrying");
                if tokio::time::Instant::now() >= deadline {
                    return Err(timeout(SetupStage::Confirmation));
                }
            }
        }
    };
    tracing::debug!(peer = %remote, setup_us = started.elapsed().as_micros() as u64, "session established");
    // If the gateway ends the DTLS association, end the stream layer at once too.
    let watched = conn.clone();
    let transport_reason = Arc::new(std::sync::OnceLock::new());
    let slot = transport_reason.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let PeerEvent::Closed {
                id: got, reason, ..
            } = event
                && got == id
            {
                let _ = slot.set(format!("DTLS session ended: {reason}"));
                watched.close(quinn::VarInt::from_u32(0), reason.as_bytes());
                return;
            }
        }
    });
    let on_end = OnEnd::CloseAssociation {
        socket,
        dtls_id: id,
    };
    Ok(Session::new(
        conn,
        on_end,
        Some(endpoint),
        transport_reason,
        Carrier::Udp,
    ))
}

enum Attempt {
    Confirmed(quinn::Connection, u64),
    Unconfirmed,
}

/// One DTLS handshake, one stream-layer handshake, and the gateway's confirmation.
async fn attempt(
    socket: &Arc<DtlsSocket>,
    endpoint: &quinn::Endpoint,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<PeerEvent>,
    remote: SocketAddr,
    config: &ClientConfig,
    deadline: tokio::time::Instant,
) -> Result<Attempt, ConnectError> {
    let timeout =
        |stage| ConnectError::timed_out(remote, config.transport.handshake_timeout, stage);
    let dtls_error = |cause: DtlsError| ConnectError::Dtls {
        peer: remote,
        cause,
    };
    let stream_error = |cause: StreamSetupError| ConnectError::Stream {
        peer: remote,
        cause,
    };
    let handshake = dtls_config::client(
        &config.server_name,
        &config.verification,
        remote,
        &config.transport,
    )?;
    let id = socket
        .with_table(|table, out| table.connect(Instant::now(), remote, handshake, out))
        .map_err(dtls_error)?;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return Err(timeout(SetupStage::Dtls)),
            Ok(None) => return Err(dtls_error(DtlsError::SocketClosed)),
            Ok(Some(PeerEvent::Established { id: got, .. })) if got == id => break,
            Ok(Some(PeerEvent::Closed {
                id: got, reason, ..
            })) if got == id => {
                return Err(dtls_error(DtlsError::Ended(reason)));
            }
            Ok(Some(_)) => {}
        }
    }
    let leaf = socket
        .with_table(|table, _| table.peer_certificates(&remote))
        .into_iter()
        .next()
        .ok_or_else(|| dtls_error(DtlsError::NoCertificate))?;
    let quic_config = quic::client_config(leaf.into(), &config.transport, Carrier::Udp)?;
    let connecting = endpoint
        .connect_with(quic_config, remote, "hopgate")
        .map_err(|e| stream_error(StreamSetupError::Start(e)))?;
    let conn = match tokio::time::timeout_at(deadline, connecting).await {
        Err(_) => return Err(timeout(SetupStage::Streams)),
        Ok(Err(err)) => return Err(stream_error(StreamSetupError::Connection(err))),
        Ok(Ok(conn)) => conn,
    };
    let confirm_within = (conn.rtt() * 4).max(Duration::from_secs(1));
    let until = deadline.min(tokio::time::Instant::now() + confirm_within);
    match tokio::time::timeout_at(until, confirmed(&conn)).await {
        Ok(Ok(())) => Ok(Attempt::Confirmed(conn, id)),
        Ok(Err(cause)) => Err(stream_error(cause)),
        Err(_) => {
            conn.close(quinn::VarInt::from_u32(0), b"not confirmed in time");
            Ok(Attempt::Unconfirmed)
        }
    }
}

/// Waits for the gateway's confirmation that the session is ready (see `server.rs`).
pub(crate) async fn confirmed(conn: &quinn::Connection) -> Result<(), StreamSetupError> {
    let mut ready = conn
        .accept_uni()
        .await
        .map_err(StreamSetupError::Connection)?;
    let mut byte = [0u8; 1];
    ready
        .read_exact(&mut byte)
        .await
        .map_err(StreamSetupError::Confirmation)?;
    if byte[0] == quic::READY {
        Ok(())
    } else {
        Err(StreamSetupError::BadConfirmation)
    }
}
