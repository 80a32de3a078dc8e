//! One socket of a listener's group ([`crate::reuseport`]) and everything that serves it: its
//! DTLS table, its stream-layer endpoint, the loop that completes its sessions and its
//! supervisor. A shard owns its state; nothing on its packet path is shared with another
//! shard (the listener-wide limits are atomic counters, touched when associations come
//! and go). The first shard runs on the caller's runtime; each other one on a thread of its
//! own, with a runtime of its own, so a gateway with more cores serves more packets. A
//! shard's thread also runs what its caller hands it ([`ThreadJob`]), so work that belongs
//! with the shard's sessions (the gateway's visitors) can share the thread instead of
//! waking another one for each packet.

use std::{
    net::UdpSocket,
    sync::{Arc, Mutex, PoisonError, mpsc as std_mpsc},
    time::Instant,
};

use tokio::sync::{mpsc, oneshot};

use crate::{
    config::{Carrier, TransportConfig},
    dtls::DtlsTable,
    error::ListenError,
    handshake_thread::HandshakeThread,
    quic,
    server::{AcceptSettings, accept_loop},
    session::{CLOSE_GRACE, Session},
    socket::DtlsSocket,
    supervisor,
};

/// Work run on a shard's thread, inside its runtime and a `LocalSet` (so it may spawn
/// tasks that are not `Send`); it ends with the thread.
pub type ThreadJob = Box<dyn FnOnce() + Send>;

/// A running shard, as the listener sees it.
#[derive(Debug)]
pub(crate) struct Shard {
    pub(crate) socket: Arc<DtlsSocket>,
    pub(crate) endpoint: quinn::Endpoint,
    /// Ends a shard's thread: it closes its associations after the grace, then stops.
    /// `None` for a shard on the caller's runtime.
    stop: Mutex<Option<oneshot::Sender<()>>>,
    /// Hands work to the shard's thread; `None` for a shard on the caller's runtime.
    jobs: Option<mpsc::UnboundedSender<ThreadJob>>,
}

/// What a shard is started from.
pub(crate) struct Parts {
    pub(crate) socket: UdpSocket,
    pub(crate) table: DtlsTable,
    pub(crate) handshakes: HandshakeThread,
    pub(crate) quic_server: quinn::ServerConfig,
    pub(crate) transport: TransportConfig,
    pub(crate) accepted: mpsc::Sender<Session>,
    pub(crate) settings: AcceptSettings,
}

impl Shard {
    /// Starts a shard on the current runtime.
    pub(crate) fn start_here(parts: Parts) -> Result<Self, ListenError> {
        let (socket, endpoint) = serve(parts)?;
        Ok(Self {
            socket,
            endpoint,
            stop: Mutex::new(None),
            jobs: None,
        })
    }

    /// Starts a shard on a thread of its own, named `name`.
    pub(crate) fn start_on_thread(parts: Parts, name: String) -> Result<Self, ListenError> {
        let (started_tx, started) = std_mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let (jobs, mut job_rx) = mpsc::unbounded_channel::<ThreadJob>();
        std::thread::Builder::new()
            .name(name)
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(err) => {
                        let _ = started_tx.send(Err(ListenError::Socket(err)));
                        return;
                    }
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let served = serve(parts);
                    let socket = served.as_ref().ok().map(|(socket, _)| socket.clone());
                    let _ = started_tx.send(served);
                    let Some(socket) = socket else { return };
                    let mut stopped = stopped;
                    loop {
                        tokio::select! {
                            // Fired or dropped: the listener is closing.
                            _ = &mut stopped => break,
                            Some(job) = job_rx.recv() => job(),
                        }
                    }
                    // Work handed over from now on comes back to its sender.
                    drop(job_rx);
                    close_after_grace(socket).await;
                });
            })
            .map_err(ListenError::Socket)?;
        let (socket, endpoint) = started.recv().map_err(|_| {
            ListenError::Socket(std::io::Error::other(
                "the shard's thread ended at its start",
            ))
        })??;
        Ok(Self {
            socket,
            endpoint,
            stop: Mutex::new(Some(stop)),
            jobs: Some(jobs),
        })
    }

    /// Runs `job` on the shard's thread; gives it back if the shard has no thread of its
    /// own (it runs on the caller's runtime) or the thread has ended.
    pub(crate) fn run_on_thread(&self, job: ThreadJob) -> Result<(), ThreadJob> {
        match &self.jobs {
            Some(jobs) => jobs.send(job).map_err(|returned| returned.0),
            None => Err(job),
        }
    }

    /// Sessions open on this shard.
    pub(crate) fn sessions(&self) -> usize {
        self.endpoint.open_connections()
    }

    /// Closes every session with `reason`; DTLS close_notify follows after the grace.
    pub(crate) fn close(&self, reason: &str) {
        self.endpoint
            .close(quinn::VarInt::from_u32(0), reason.as_bytes());
        let stop = self
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(stop) = stop {
            let _ = stop.send(());
            return;
        }
        // On the caller's runtime. Without one (the process is ending) there is no later:
        // close the associations now.
        let socket = self.socket.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(close_after_grace(socket));
            }
            Err(_) => close_associations(&socket),
        }
    }
}

/// Ends every association with close_notify once quinn's CONNECTION_CLOSE had its time on
/// the wire, so peers learn the real reason.
async fn close_after_grace(socket: Arc<DtlsSocket>) {
    tokio::time::sleep(CLOSE_GRACE).await;
    close_associations(&socket);
}

fn close_associations(socket: &DtlsSocket) {
    socket.with_table(|table, out| table.close_all(Instant::now(), out));
}

/// Sets the shard up on the current runtime: its socket, endpoint and tasks.
fn serve(parts: Parts) -> Result<(Arc<DtlsSocket>, quinn::Endpoint), ListenError> {
    let Parts {
        socket,
        table,
        handshakes,
        quic_server,
        transport,
        accepted,
        settings,
    } = parts;
    let (socket, events) =
        DtlsSocket::new(socket, table, Some(&handshakes)).map_err(ListenError::Socket)?;
    let endpoint = quic::endpoint(socket.clone(), Some(quic_server), &transport, Carrier::Udp)
        .map_err(ListenError::Socket)?;
    let (notices_tx, notices_rx) = mpsc::unbounded_channel();
    tokio::spawn(accept_loop(
        endpoint.clone(),
        socket.clone(),
        accepted,
        notices_tx,
        settings,
    ));
    tokio::spawn(supervisor::run(socket.clone(), events, notices_rx));
    Ok((socket, endpoint))
}
