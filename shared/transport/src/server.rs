//! The gateway side: one UDP socket, any number of sessions, and the same sessions over
//! TLS connections handed over by the gateway's HTTPS listener (`stream`).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

use crate::{
    config::{Carrier, TransportConfig},
    dtls::{CookieSeed, DtlsTable, MigrationLimits, Pacing, ServerRole, TableLimits},
    dtls_config,
    error::{ConfigError, ListenError},
    identity::Identity,
    quic,
    session::{FullLimits, OnEnd, Session},
    socket::DtlsSocket,
    stream::{self, StreamAcceptor},
    supervisor::{self, Notice},
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
    /// New DTLS handshakes started a second, at most (one second's worth may start at
    /// once): a burst of agents waits its turn instead of taking every core at once.
    pub handshakes_per_s: u32,
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

/// What the listener holds right now; all zero once every session is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenerStats {
    /// DTLS associations, established or handshaking.
    pub dtls_associations: usize,
    /// DTLS handshakes in progress.
    pub dtls_handshaking: usize,
    /// DTLS handshake steps (their public-key work) waiting for the handshake thread.
    pub dtls_handshake_steps_queued: usize,
    /// Stream-layer connections over DTLS.
    pub sessions: usize,
    /// Stream-layer connections over TCP.
    pub tcp_sessions: usize,
    /// TCP connections carrying (or setting up) a session.
    pub tcp_connections: usize,
    /// TCP connections refused at `max_sessions`.
    pub tcp_refused: u64,
    /// TCP connections closed for a bad frame (garbage, an oversized length).
    pub tcp_bad_frames: u64,
    /// Packets to TCP peers dropped because the peer's queue was full (a slow reader).
    pub tcp_queue_full_dropped: u64,
    /// Empty datagrams (no record at all), dropped.
    pub empty_dropped: u64,
    /// Datagrams dropped because they came from no known session and weren't a ClientHello.
    pub unsolicited_dropped: u64,
    /// Records dropped on established sessions because they didn't authenticate.
    pub undecryptable_dropped: u64,
    /// Handshakes refused at the listener-wide limits.
    pub handshakes_refused: u64,
    /// Handshakes refused because their source IP had too many in progress.
    pub handshakes_refused_per_ip: u64,
    /// ClientHellos answered with a stateless cookie challenge (HelloVerifyRequest).
    pub cookies_sent: u64,
    /// ClientHellos whose cookie did not verify (forged, expired, or another address's).
    pub bad_cookies: u64,
    /// Records refused during handshakes (malformed, or failing the handshake's checks).
    pub handshake_records_refused: u64,
    /// Handshakes given up on (timed out, or the peer stopped answering), e.g. an agent
    /// that rejected this server's certificate.
    pub handshakes_expired: u64,
    /// Handshakes dropped unrun: their step waited longer for a turn on the paced handshake
    /// thread than their client waits (the pacing is below the rate hellos arrive at).
    pub handshakes_paced_out: u64,
    /// Handshake datagrams dropped because too many already waited for their
    /// association's step on the handshake thread (the peer retransmits).
    pub handshake_datagrams_dropped: u64,
    /// Sessions moved to their agent's new address after a NAT rebinding.
    pub migrations_moved: u64,
    /// Records from a new port of a known IP that no association authenticated.
    pub migrations_unauthenticated: u64,
    /// Records from a new port of a known IP that were not newer than everything its
    /// associations had accepted (replayed, or late from the old path): refused unread.
    pub migrations_stale: u64,
    /// Records from a new port of a known IP refused because the IP had used its trials.
    pub migrations_rate_limited: u64,
}

/// Accepts sessions on one UDP socket.
#[derive(Debug)]
pub struct Listener {
    endpoint: quinn::Endpoint,
    socket: Arc<DtlsSocket>,
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
        config.validate()?;
        let seed = CookieSeed::default();
        let handshake = dtls_config::server(&config.identity, &config.transport, &seed)?;
        let quic_server = quic::server_config(
            &config.identity,
            &config.transport,
            config.pre_hello_receive_window,
            Carrier::Udp,
        )?;
        let local = socket.local_addr().map_err(ListenError::Socket)?;
        let tcp_connections = Arc::new(AtomicUsize::new(0));
        let limits = TableLimits {
            handshake_timeout: config.dtls_handshake_timeout,
            max_handshaking: config.max_handshakes,
            max_handshakes_per_ip: config.max_handshakes_per_ip,
            max_peers: config.max_sessions,
            stale_after: config.transport.idle_timeout * 2,
            other_sessions: tcp_connections.clone(),
            migration: MigrationLimits {
                candidates: config.migration_candidates,
                attempts_per_ip_per_s: config.migration_attempts_per_ip_per_s,
            },
        };
        let role = ServerRole::new(
            Instant::now(),
            handshake,
            seed,
            dtls_config::crypto_provider()?,
        );
        let mut table = DtlsTable::server(local, role, limits);
        // The agents' flights are resent as the gateway's own transport settings say.
        let pacing = Pacing::new(
            config.handshakes_per_s,
            config.transport.dtls_flight_interval,
        );
        table.hand_off_handshakes(pacing);
        let (socket, events) = DtlsSocket::new(socket, table).map_err(ListenError::Socket)?;
        let endpoint = quic::endpoint(
            socket.clone(),
            Some(quic_server),
            &config.transport,
            Carrier::Udp,
        )
        .map_err(ListenError::Socket)?;
        let (accepted_tx, accepted_rx) = mpsc::channel(1024);
        let (notices_tx, notices_rx) = mpsc::unbounded_channel();
        let full_limits = FullLimits {
            receive_window: config.transport.session_receive_window,
            max_streams: config
                .peer_streams_after_hello
                .unwrap_or(config.transport.max_concurrent_streams),
        };
        let (stream_endpoint, stream) = stream::server::start(
            &config,
            socket.clone(),
            tcp_connections,
            accepted_tx.clone(),
            full_limits,
        )?;
        tokio::spawn(accept_loop(
            endpoint.clone(),
            socket.clone(),
            accepted_tx,
            notices_tx,
            AcceptSettings {
                handshake_timeout: config.transport.handshake_timeout,
                full_limits,
            },
        ));
        tokio::spawn(supervisor::run(socket.clone(), events, notices_rx));
        Ok(Self {
            endpoint,
            socket,
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
        let seed = self
            .socket
            .with_table(|table, _| table.cookie_seed())
            .unwrap_or_default();
        let handshake = dtls_config::server(identity, &self.transport, &seed)?;
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
        self.socket
            .with_table(|table, _| table.set_server_config(handshake));
        self.endpoint.set_server_config(Some(quic_server));
        self.stream_endpoint.set_server_config(Some(quic_tcp));
        Ok(())
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
        let tcp = self.stream.shared();
        self.socket.with_table(|table, _| ListenerStats {
            tcp_sessions: self.stream_endpoint.open_connections(),
            tcp_connections: tcp.connections.load(Ordering::Relaxed),
            tcp_refused: tcp.refused.load(Ordering::Relaxed),
            tcp_bad_frames: tcp.bad_frames.load(Ordering::Relaxed),
            tcp_queue_full_dropped: tcp
                .socket
                .counters
                .queue_full_dropped
                .load(Ordering::Relaxed),
            dtls_associations: table.len(),
            dtls_handshaking: table.handshaking(),
            dtls_handshake_steps_queued: self.socket.handshake_steps_queued(),
            sessions,
            empty_dropped: table.counters.empty_dropped,
            unsolicited_dropped: table.counters.unsolicited_dropped,
            undecryptable_dropped: table.counters.undecryptable_dropped,
            handshakes_refused: table.counters.handshakes_refused,
            handshakes_refused_per_ip: table.counters.handshakes_refused_per_ip,
            cookies_sent: table.counters.cookies_sent,
            bad_cookies: table.counters.bad_cookies,
            handshake_records_refused: table.counters.handshakes_failed,
            handshakes_expired: table.counters.handshakes_expired,
            handshakes_paced_out: table.counters.handshakes_paced_out,
            handshake_datagrams_dropped: table.counters.handshake_datagrams_dropped,
            migrations_moved: table.counters.migration.moved,
            migrations_unauthenticated: table.counters.migration.unauthenticated,
            migrations_stale: table.counters.migration.stale,
            migrations_rate_limited: table.counters.migration.rate_limited,
        })
    }

    /// Closes every session with `reason` and stops accepting.
    pub fn close(&self, reason: &str) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
        self.stream_endpoint
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
        // DTLS close_notify after quinn's CONNECTION_CLOSE, so peers see the reason. Without
        // a runtime (the process is ending) there is no later: close the associations now.
        let socket = self.socket.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(crate::session::CLOSE_GRACE).await;
                    socket.with_table(|table, out| table.close_all(Instant::now(), out));
                });
            }
            Err(_) => socket.with_table(|table, out| table.close_all(Instant::now(), out)),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.close("gateway listener closed");
    }
}

/// How the accept loop treats new sessions.
#[derive(Clone, Copy)]
struct AcceptSettings {
    handshake_timeout: Duration,
    /// What a session gets once the peer's hello is accepted.
    full_limits: FullLimits,
}

/// Completes stream-layer handshakes concurrently and hands out sessions.
async fn accept_loop(
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
