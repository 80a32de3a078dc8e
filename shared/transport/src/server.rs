//! The gateway side: one UDP socket, any number of sessions.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Instant};

use tokio::sync::mpsc;

use crate::{
    config::TransportConfig,
    dtls::{DtlsTable, PeerEvent, TableLimits},
    dtls_config,
    error::ConfigError,
    identity::Identity,
    quic,
    session::Session,
    socket::DtlsSocket,
};

/// How the gateway side of the transport runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The certificate both layers present.
    pub identity: Identity,
    /// Session tunables.
    pub transport: TransportConfig,
    /// Sessions (DTLS associations) held at once; more handshakes are refused.
    pub max_sessions: usize,
    /// Handshakes in progress at once; more are refused until some finish.
    pub max_handshakes: usize,
}

impl ServerConfig {
    /// Defaults around an identity.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            transport: TransportConfig::default(),
            max_sessions: 100_000,
            max_handshakes: 4_096,
        }
    }
}

/// What the listener holds right now; all zero once every session is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerStats {
    /// DTLS associations, established or handshaking.
    pub dtls_associations: usize,
    /// DTLS handshakes in progress.
    pub dtls_handshaking: usize,
    /// Stream-layer connections.
    pub sessions: usize,
    /// Datagrams dropped because they came from no known session and weren't a ClientHello.
    pub unsolicited_dropped: u64,
    /// Records dropped on established sessions because they didn't authenticate.
    pub undecryptable_dropped: u64,
    /// Handshakes refused at the limits.
    pub handshakes_refused: u64,
}

/// Accepts sessions on one UDP socket.
#[derive(Debug)]
pub struct Listener {
    endpoint: quinn::Endpoint,
    socket: Arc<DtlsSocket>,
    accepted: tokio::sync::Mutex<mpsc::Receiver<Session>>,
}

impl Listener {
    /// Starts serving on an already-bound socket (bind port 0 in tests).
    pub fn bind(socket: std::net::UdpSocket, config: ServerConfig) -> Result<Self, ConfigError> {
        config.transport.validate()?;
        let handshake = dtls_config::server(&config.identity, &config.transport)?;
        let quic_server = quic::server_config(&config.identity, &config.transport)?;
        let local = socket
            .local_addr()
            .map_err(|e| ConfigError::new("listen", e.to_string()))?;
        let limits = TableLimits {
            handshake_timeout: config.transport.handshake_timeout,
            max_handshaking: config.max_handshakes,
            max_peers: config.max_sessions,
            stale_after: config.transport.idle_timeout * 2,
        };
        let table = DtlsTable::new(local, Some(handshake), limits);
        let (socket, events) = DtlsSocket::new(socket, table)
            .map_err(|e| ConfigError::new("listen", e.to_string()))?;
        let mut endpoint_config = quinn::EndpointConfig::default();
        endpoint_config
            .max_udp_payload_size(config.transport.quic_packet_size())
            .map_err(|e| ConfigError::new("max_datagram_size", e.to_string()))?;
        let endpoint = quinn::Endpoint::new_with_abstract_socket(
            endpoint_config,
            Some(quic_server),
            socket.clone(),
            Arc::new(quinn::TokioRuntime),
        )
        .map_err(|e| ConfigError::new("listen", e.to_string()))?;
        let (accepted_tx, accepted_rx) = mpsc::channel(1024);
        let (registered_tx, registered_rx) = mpsc::unbounded_channel();
        tokio::spawn(accept_loop(
            endpoint.clone(),
            socket.clone(),
            accepted_tx,
            registered_tx,
            config.transport.handshake_timeout,
        ));
        tokio::spawn(supervise(events, registered_rx));
        Ok(Self {
            endpoint,
            socket,
            accepted: tokio::sync::Mutex::new(accepted_rx),
        })
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.socket.local_addr()
    }

    /// The next established session; `None` once the listener is closed.
    pub async fn accept(&self) -> Option<Session> {
        self.accepted.lock().await.recv().await
    }

    /// What the listener holds right now.
    pub fn stats(&self) -> ListenerStats {
        let sessions = self.endpoint.open_connections();
        self.socket.with_table(|table, _| ListenerStats {
            dtls_associations: table.len(),
            dtls_handshaking: table.handshaking(),
            sessions,
            unsolicited_dropped: table.counters.unsolicited_dropped,
            undecryptable_dropped: table.counters.undecryptable_dropped,
            handshakes_refused: table.counters.handshakes_refused,
        })
    }

    /// Closes every session with `reason` and stops accepting.
    pub fn close(&self, reason: &str) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
        // DTLS close_notify after quinn's CONNECTION_CLOSE, so peers see the reason.
        let socket = self.socket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(crate::session::CLOSE_GRACE).await;
            socket.with_table(|table, out| table.close_all(Instant::now(), out));
        });
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close("gateway listener closed");
    }
}

/// A stream-layer connection and the slot for the DTLS layer's reason if it ends first.
type Watched = (quinn::Connection, Arc<std::sync::OnceLock<String>>);

type Registration = (
    SocketAddr,
    u64,
    quinn::Connection,
    Arc<std::sync::OnceLock<String>>,
);

/// Completes stream-layer handshakes concurrently and hands out sessions.
async fn accept_loop(
    endpoint: quinn::Endpoint,
    socket: Arc<DtlsSocket>,
    accepted: mpsc::Sender<Session>,
    registered: mpsc::UnboundedSender<Registration>,
    handshake_timeout: std::time::Duration,
) {
    while let Some(incoming) = endpoint.accept().await {
        let socket = socket.clone();
        let accepted = accepted.clone();
        let registered = registered.clone();
        tokio::spawn(async move {
            let addr = incoming.remote_address();
            let Some(dtls_id) = socket.with_table(|table, _| table.peer_id(&addr)) else {
                incoming.refuse();
                return;
            };
            let conn = match tokio::time::timeout(handshake_timeout, incoming).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(err)) => {
                    tracing::debug!(peer = %addr, error = %err, "stream-layer handshake failed");
                    socket.with_table(|t, out| {
                        t.remove_if(
                            Instant::now(),
                            addr,
                            dtls_id,
                            "stream handshake failed",
                            out,
                        )
                    });
                    return;
                }
                Err(_) => {
                    socket.with_table(|t, out| {
                        t.remove_if(
                            Instant::now(),
                            addr,
                            dtls_id,
                            "stream handshake timed out",
                            out,
                        )
                    });
                    return;
                }
            };
            let reason = Arc::new(std::sync::OnceLock::new());
            let _ = registered.send((addr, dtls_id, conn.clone(), reason.clone()));
            let session = Session::new(conn, socket, dtls_id, None, reason);
            if accepted.send(session).await.is_err() {
                // Nobody accepts any more: the session is dropped and closes.
            }
        });
    }
}

/// Closes a session's stream layer when its DTLS association ends (close_notify, a restarted
/// peer on the same address, expiry), so nothing waits for an idle timeout.
async fn supervise(
    mut events: mpsc::UnboundedReceiver<PeerEvent>,
    mut registered: mpsc::UnboundedReceiver<Registration>,
) {
    let mut live: HashMap<(SocketAddr, u64), Watched> = HashMap::new();
    let mut prune = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = prune.tick() => live.retain(|_, (conn, _)| conn.close_reason().is_none()),
            Some((addr, id, conn, reason)) = registered.recv() => {
                if conn.close_reason().is_none() {
                    live.insert((addr, id), (conn, reason));
                }
            }
            event = events.recv() => match event {
                Some(PeerEvent::Closed { addr, id, reason }) => {
                    if let Some((conn, slot)) = live.remove(&(addr, id)) {
                        let _ = slot.set(format!("DTLS session ended: {reason}"));
                        conn.close(quinn::VarInt::from_u32(0), reason.as_bytes());
                    }
                }
                Some(PeerEvent::Established { .. }) => {}
                None => return,
            },
        }
    }
}
