//! The gateway side: one UDP port (one socket, or a group of them spread over threads),
//! any number of sessions, and the same sessions over TLS connections handed over by the
//! gateway's HTTPS listener (`stream`).

mod stats;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

pub use self::stats::ListenerStats;
use crate::{
    config::{Carrier, TransportConfig},
    dtls::{CookieSeed, DtlsTable, MigrationLimits, Pacing, ServerRole, SharedCounts, TableLimits},
    dtls_config,
    error::{ConfigError, ListenError},
    handshake_thread,
    identity::Identity,
    quic,
    session::{FullLimits, OnEnd, Session},
    shard::{self, Shard, ThreadJob},
    socket::DtlsSocket,
    stream::{self, StreamAcceptor},
    supervisor::Notice,
};

/// How the gateway side of the transport runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The certificate both layers present.
    pub identity: Identity,
    /// Session tunables.
    pub transport: TransportConfig,
    /// Sessions held at once, DTLS associations and TCP connections together; more are
    /// refused.
    pub max_sessions: usize,
    /// Handshakes in progress at once; more are refused until some finish.
    pub max_handshakes: usize,
    /// Handshakes in progress at once from one source IP (after its cookie round trip).
    pub max_handshakes_per_ip: usize,
    /// New DTLS handshakes started a second, at most (`handshake_burst` may start at
    /// once): a burst of agents waits its turn instead of taking every core at once.
    pub handshakes_per_s: u32,
    /// New DTLS handshakes that may start at once, on top of `handshakes_per_s`; `None`:
    /// a tenth of a second's worth. A storm of agents then arrives at the rate from the
    /// start instead of all at once, and costs the sessions already up less.
    pub handshake_burst: Option<u32>,
    /// A DTLS handshake that hasn't completed in this time is forgotten; a TCP connection
    /// that carries no established session after this long is closed.
    pub dtls_handshake_timeout: Duration,
    /// Receive window of a session, across its streams, until
    /// [`Session::lift_pre_hello_limits`]; until then the peer may also open only one
    /// stream. Bounds what an unauthenticated agent can make the gateway buffer.
    pub pre_hello_receive_window: u32,
    /// Streams the peer may have open at once after [`Session::lift_pre_hello_limits`];
    /// `None`: the transport's `max_concurrent_streams`. The stream layer sets up state for
    /// every stream it allows the peer up front, so a gateway whose peers open only their
    /// control stream (it opens the request streams itself) allows just that one.
    pub peer_streams_after_hello: Option<u32>,
    /// A DTLS record from a new port of an established agent's IP (a NAT rebinding) is
    /// tried against this many of that IP's associations, the most recently active; 0 turns
    /// migration off (the agent then reconnects after its idle timeout).
    pub migration_candidates: usize,
    /// Such trials one source IP may cause per second; beyond, its records are dropped.
    pub migration_attempts_per_ip_per_s: u32,
}

impl ServerConfig {
    /// Defaults around an identity.
    pub fn new(identity: Identity) -> Self {
        Self {
            identity,
            transport: TransportConfig::default(),
            max_sessions: 100_000,
            max_handshakes: 4_096,
            max_handshakes_per_ip: 8,
            handshakes_per_s: 500,
            handshake_burst: None,
            dtls_handshake_timeout: Duration::from_secs(5),
            pre_hello_receive_window: 64 * 1024,
            peer_streams_after_hello: None,
            migration_candidates: 8,
            migration_attempts_per_ip_per_s: 32,
        }
    }

    /// Checks the limits and the transport's tunables.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.transport.validate()?;
        if self.handshakes_per_s == 0 {
            return Err(ConfigError::new("handshakes_per_s", "must be at least 1"));
        }
        if self.handshake_burst == Some(0) {
            return Err(ConfigError::new("handshake_burst", "must be at least 1"));
        }
        if self.max_handshakes == 0 || self.max_handshakes_per_ip == 0 {
            return Err(ConfigError::new(
                "max_handshakes_per_ip",
                "handshake limits must be at least 1",
            ));
        }
        if self.dtls_handshake_timeout.is_zero() {
            return Err(ConfigError::new(
                "dtls_handshake_timeout",
                "must be non-zero",
            ));
        }
        if self.peer_streams_after_hello == Some(0) {
            return Err(ConfigError::new(
                "peer_streams_after_hello",
                "must be at least 1 (the control stream)",
            ));
        }
        if self.migration_candidates > 0 && self.migration_attempts_per_ip_per_s == 0 {
            return Err(ConfigError::new(
                "migration_attempts_per_ip_per_s",
                "must be at least 1 while migration is on (migration_candidates > 0)",
            ));
        }
        if self.pre_hello_receive_window < 16 * 1024 {
            return Err(ConfigError::new(
                "pre_hello_receive_window",
                "must be at least 16 KiB (a hello must fit)",
            ));
        }
        Ok(())
    }
}

/// Accepts sessions on one UDP port, served by one socket or a group of them, each on its
/// own thread ([`crate::shard`]), and on TCP connections handed over (`stream`).
#[derive(Debug)]
pub struct Listener {
    shards: Vec<Shard>,
    transport: TransportConfig,
    pre_hello_receive_window: u32,
    accepted: tokio::sync::Mutex<mpsc::Receiver<Session>>,
    /// The TCP fallback's endpoint and what takes its connections.
    stream_endpoint: quinn::Endpoint,
    stream: StreamAcceptor,
}

impl Listener {
    /// Starts serving on an already-bound socket (bind port 0 in tests).
    pub fn bind(socket: std::net::UdpSocket, config: ServerConfig) -> Result<Self, ListenError> {
        Self::bind_group(vec![socket], config)
    }

    /// Starts serving on a group of sockets bound to one address
    /// ([`crate::reuseport::bind_udp_group`]): the first on the current runtime, each
    /// other one on a thread of its own. The limits hold for the listener as a whole.
    pub fn bind_group(
        sockets: Vec<std::net::UdpSocket>,
        config: ServerConfig,
    ) -> Result<Self, ListenError> {
        config.validate()?;
        let local = one_address(&sockets)?;
        let quic_server = quic::server_config(
            &config.identity,
            &config.transport,
            config.pre_hello_receive_window,
            Carrier::Udp,
        )?;
        let shared = SharedCounts::default();
        let limits = TableLimits {
            handshake_timeout: config.dtls_handshake_timeout,
            max_handshaking: config.max_handshakes,
            max_handshakes_per_ip: config.max_handshakes_per_ip,
            max_peers: config.max_sessions,
            stale_after: config.transport.idle_timeout * 2,
            shared: shared.clone(),
            migration: MigrationLimits {
                candidates: config.migration_candidates,
                attempts_per_ip_per_s: config.migration_attempts_per_ip_per_s,
            },
        };
        // The agents' flights are resent as the gateway's own transport settings say.
        let pacing = Pacing::new(
            config.handshakes_per_s,
            config
                .handshake_burst
                .unwrap_or(config.handshakes_per_s.div_ceil(10)),
            config.transport.dtls_flight_interval,
        );
        let handshakes = handshake_thread::spawn(pacing).map_err(ListenError::Socket)?;
        let (accepted_tx, accepted_rx) = mpsc::channel(1024);
        let full_limits = FullLimits {
            receive_window: config.transport.session_receive_window,
            max_streams: config
                .peer_streams_after_hello
                .unwrap_or(config.transport.max_concurrent_streams),
        };
        let settings = AcceptSettings {
            handshake_timeout: config.transport.handshake_timeout,
            full_limits,
        };
        let mut shards = Vec::with_capacity(sockets.len());
        for (index, socket) in sockets.into_iter().enumerate() {
            // A seed of its own: a table plants a cookie and draws it back under its own
            // lock only (`dtls::cookie`), and the tables run on different threads.
            let seed = CookieSeed::default();
            let handshake = dtls_config::server(&config.identity, &config.transport, &seed)?;
            let role = ServerRole::new(
                Instant::now(),
                handshake,
                seed,
                dtls_config::crypto_provider()?,
            );
            let mut table = DtlsTable::server(local, role, limits.clone());
            table.hand_off_handshakes(pacing);
            let parts = shard::Parts {
                socket,
                table,
                handshakes: handshakes.clone(),
                quic_server: quic_server.clone(),
                transport: config.transport.clone(),
                accepted: accepted_tx.clone(),
                settings,
            };
            shards.push(if index == 0 {
                Shard::start_here(parts)?
            } else {
                Shard::start_on_thread(parts, format!("dtls-socket-{index}"))?
            });
        }
        let (stream_endpoint, stream) = stream::server::start(
            &config,
            shared.associations,
            shared.other_sessions,
            accepted_tx,
            full_limits,
        )?;
        Ok(Self {
            shards,
            transport: config.transport,
            pre_hello_receive_window: config.pre_hello_receive_window,
            accepted: tokio::sync::Mutex::new(accepted_rx),
            stream_endpoint,
            stream,
        })
    }

    /// Takes TLS connections that negotiated the tunnel's ALPN: sessions over TCP, for
    /// agents whose UDP is blocked.
    pub fn stream_acceptor(&self) -> StreamAcceptor {
        self.stream.clone()
    }

    /// Presents `identity` from now on (a renewed certificate): new sessions handshake with
    /// it, both in DTLS and in the stream layer; established sessions are not disturbed.
    pub fn set_identity(&self, identity: &Identity) -> Result<(), ConfigError> {
        let quic_server = quic::server_config(
            identity,
            &self.transport,
            self.pre_hello_receive_window,
            Carrier::Udp,
        )?;
        let quic_tcp = quic::server_config(
            identity,
            &self.transport,
            self.pre_hello_receive_window,
            Carrier::Tcp,
        )?;
        for shard in &self.shards {
            let seed = shard
                .socket
                .with_table(|table, _| table.cookie_seed())
                .unwrap_or_default();
            let handshake = dtls_config::server(identity, &self.transport, &seed)?;
            shard
                .socket
                .with_table(|table, _| table.set_server_config(handshake));
            shard.endpoint.set_server_config(Some(quic_server.clone()));
        }
        self.stream_endpoint.set_server_config(Some(quic_tcp));
        Ok(())
    }

    /// The bound address (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.shards[0].socket.local_addr()
    }

    /// The next established session; `None` once the listener is closed.
    pub async fn accept(&self) -> Option<Session> {
        self.accepted.lock().await.recv().await
    }

    /// What the listener holds right now, over all its sockets.
    pub fn stats(&self) -> ListenerStats {
        let mut stats =
            ListenerStats::of_stream(&self.stream, self.stream_endpoint.open_connections());
        for shard in &self.shards {
            let queued = shard.socket.handshake_steps_queued();
            let sessions = shard.sessions();
            shard
                .socket
                .with_table(|table, _| stats.add_socket(table, queued, sessions));
        }
        stats
    }

    /// Runs `job` on the thread of the group's socket `index`, beside that socket's
    /// sessions; gives it back if that socket has no thread of its own (the first runs on
    /// the caller's runtime) or there is no such socket.
    pub fn run_on_socket_thread(&self, index: usize, job: ThreadJob) -> Result<(), ThreadJob> {
        match self.shards.get(index) {
            Some(shard) => shard.run_on_thread(job),
            None => Err(job),
        }
    }

    /// Sessions over DTLS on each socket of the group, in the group's order.
    pub fn sessions_per_socket(&self) -> Vec<usize> {
        self.shards.iter().map(Shard::sessions).collect()
    }

    /// Closes every session with `reason` and stops accepting.
    pub fn close(&self, reason: &str) {
        self.stream_endpoint
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
        // DTLS close_notify follows quinn's CONNECTION_CLOSE, so peers see the reason.
        for shard in &self.shards {
            shard.close(reason);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close("gateway listener closed");
    }
}

/// The one address every socket of a group is bound to.
fn one_address(sockets: &[std::net::UdpSocket]) -> Result<SocketAddr, ListenError> {
    let mut addresses = sockets.iter().map(std::net::UdpSocket::local_addr);
    let first = addresses
        .next()
        .ok_or_else(|| ConfigError::new("sockets", "a listener needs at least one socket"))?
        .map_err(ListenError::Socket)?;
    for addr in addresses {
        if addr.map_err(ListenError::Socket)? != first {
            return Err(
                ConfigError::new("sockets", "every socket must be bound to one address").into(),
            );
        }
    }
    Ok(first)
}

/// How the accept loop treats new sessions.
#[derive(Clone, Copy)]
pub(crate) struct AcceptSettings {
    handshake_timeout: Duration,
    /// What a session gets once the peer's hello is accepted.
    full_limits: FullLimits,
}

/// Completes stream-layer handshakes concurrently and hands out sessions.
pub(crate) async fn accept_loop(
    endpoint: quinn::Endpoint,
    socket: Arc<DtlsSocket>,
    accepted: mpsc::Sender<Session>,
    notices: mpsc::UnboundedSender<Notice>,
    settings: AcceptSettings,
) {
    while let Some(incoming) = endpoint.accept().await {
        let socket = socket.clone();
        let accepted = accepted.clone();
        let notices = notices.clone();
        tokio::spawn(async move {
            let addr = incoming.remote_address();
            let Some(id) = socket.with_table(|table, _| table.peer_id(&addr)) else {
                incoming.refuse();
                return;
            };
            let failed = |reason: String| {
                tracing::debug!(peer = %addr, %reason, "stream-layer handshake failed");
                let _ = notices.send(Notice::HandshakeFailed { id, reason });
            };
            let conn = match tokio::time::timeout(settings.handshake_timeout, incoming).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(err)) => return failed(format!("stream handshake failed: {err}")),
                Err(_) => return failed("stream handshake timed out".into()),
            };
            // Tell the agent the session is confirmed end to end (see client.rs).
            if let Err(err) = send_ready(&conn).await {
                return failed(format!("could not confirm the session: {err}"));
            }
            let reason = Arc::new(std::sync::OnceLock::new());
            let _ = notices.send(Notice::Registered {
                id,
                conn: conn.clone(),
                reason: reason.clone(),
            });
            let stable_id = conn.stable_id();
            let ended = notices.clone();
            let on_end = OnEnd::Notify(Box::new(move |reason| {
                let _ = ended.send(Notice::Ended {
                    id,
                    stable_id,
                    reason,
                });
            }));
            let session = Session::new(conn, on_end, None, reason, Carrier::Udp)
                .with_full_limits(settings.full_limits);
            if accepted.send(session).await.is_err() {
                // Nobody accepts any more: the session is dropped and closes.
            }
        });
    }
}

pub(crate) async fn send_ready(conn: &quinn::Connection) -> Result<(), Box<dyn std::error::Error>> {
    let mut ready = conn.open_uni().await?;
    ready.write_all(&[quic::READY]).await?;
    ready.finish()?;
    Ok(())
}
