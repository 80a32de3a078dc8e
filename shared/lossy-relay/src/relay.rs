//! The relay tasks: one for the client → server direction, which owns the client
//! mappings, and one per mapping for the server → client direction.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, Sleep};

use crate::config::{Impairment, RelayConfig, RelayOptions};
use crate::control::{self, Command, PathControl};
use crate::pipe::{Pipe, Target};
use crate::stats::{Counters, Direction, Stats, bump};

/// Largest UDP payload; receive buffers are this big so nothing is truncated.
const MAX_DATAGRAM: usize = 65_536;
/// Datagrams drained with `try_recv` after each wake-up before timers are looked at again.
const BATCH: usize = 64;
/// Upper bound of the interval at which idle mappings are looked for.
const MAX_SWEEP_PERIOD: Duration = Duration::from_secs(5);

/// Starts a relay with default [`RelayOptions`]: it listens on `127.0.0.1:0` and forgets
/// mappings idle for [`DEFAULT_IDLE_TIMEOUT`](crate::DEFAULT_IDLE_TIMEOUT).
///
/// Fails with [`io::ErrorKind::InvalidInput`] if the configuration is invalid, or with
/// the socket error if the client-facing socket cannot be bound.
pub async fn start(config: RelayConfig) -> io::Result<Relay> {
    start_with(config, RelayOptions::default()).await
}

/// Starts a relay with explicit [`RelayOptions`]; see [`start`].
pub async fn start_with(config: RelayConfig, options: RelayOptions) -> io::Result<Relay> {
    config.validate()?;
    options.validate()?;
    let listener = Arc::new(UdpSocket::bind(options.listen).await?);
    let local_addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let path = Arc::new(PathControl::default());
    let (commands, commands_rx) = control::channel();
    let gateway = Gateway {
        pipe: Pipe::new(
            config.to_server,
            config.seed,
            counters.clone(),
            Direction::ToServer,
            path.clone(),
        ),
        path: path.clone(),
        listener,
        upstream: config.upstream,
        upstream_bind: upstream_bind_addr(config.upstream),
        to_client: config.to_client,
        seed: config.seed,
        mappings_opened: 0,
        mappings: HashMap::new(),
        counters: counters.clone(),
        epoch: Instant::now(),
        idle_timeout: options.idle_timeout,
    };
    let task = tokio::spawn(gateway.run(commands_rx));
    Ok(Relay {
        local_addr,
        upstream: config.upstream,
        counters,
        task,
        commands,
        path,
    })
}

/// A running relay. Dropping it (or calling [`shutdown`](Self::shutdown)) stops its
/// tasks and closes its sockets.
#[derive(Debug)]
pub struct Relay {
    local_addr: SocketAddr,
    upstream: SocketAddr,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
    pub(crate) commands: mpsc::Sender<Command>,
    pub(crate) path: Arc<PathControl>,
}

impl Relay {
    /// Address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Address datagrams are relayed to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Current counters.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Stops the relay and waits until its client-facing task has ended; the per-client
    /// tasks are aborted with it and close their sockets right after. Datagrams still
    /// held in the timer queues are discarded.
    pub async fn shutdown(mut self) {
        self.task.abort();
        // Cancelled is the expected outcome; a panic would already have been reported.
        let _ = (&mut self.task).await;
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Upstream sockets bind to loopback when the upstream is on loopback, else to the
/// unspecified address, in the upstream's address family.
fn upstream_bind_addr(upstream: SocketAddr) -> SocketAddr {
    let ip = match (upstream.ip(), upstream.ip().is_loopback()) {
        (IpAddr::V4(_), true) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        (IpAddr::V4(_), false) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (IpAddr::V6(_), true) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        (IpAddr::V6(_), false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    };
    SocketAddr::new(ip, 0)
}

/// Seed of the return-path decisions of the `index`-th mapping, distinct per mapping.
fn mapping_seed(seed: u64, index: u64) -> u64 {
    seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

fn millis_since(epoch: Instant, now: Instant) -> u64 {
    u64::try_from(now.saturating_duration_since(epoch).as_millis()).unwrap_or(u64::MAX)
}

/// Client → server destination: the mapping's upstream socket, connected to the server.
#[derive(Clone)]
struct Upstream(Arc<UdpSocket>);

impl Target for Upstream {
    fn transmit<'a>(
        &'a self,
        data: &'a [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.0.send(data)
    }
}

/// Server → client destination: the client-facing socket and the client's address.
#[derive(Clone)]
struct Downstream {
    listener: Arc<UdpSocket>,
    client: SocketAddr,
}

impl Target for Downstream {
    fn transmit<'a>(
        &'a self,
        data: &'a [u8],
    ) -> impl Future<Output = io::Result<usize>> + Send + 'a {
        self.listener.send_to(data, self.client)
    }
}

/// A task handle that aborts the task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One client's upstream socket and its return-path task.
struct Mapping {
    upstream: Upstream,
    /// Milliseconds since the relay's epoch of the last datagram either way.
    last_seen: Arc<AtomicU64>,
    _task: AbortOnDrop,
}

/// A resettable timer armed at the next release time of a queue.
struct Timer {
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl Timer {
    fn new() -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
        }
    }

    /// Arms the timer at `deadline`, touching the timer wheel only when it changes.
    fn arm(&mut self, deadline: Option<Instant>) {
        if deadline != self.armed {
            if let Some(at) = deadline {
                self.sleep.as_mut().reset(at);
            }
            self.armed = deadline;
        }
    }
}

/// The client → server task; owns the client mappings.
struct Gateway {
    listener: Arc<UdpSocket>,
    upstream: SocketAddr,
    upstream_bind: SocketAddr,
    to_client: Impairment,
    seed: u64,
    mappings_opened: u64,
    mappings: HashMap<SocketAddr, Mapping>,
    pipe: Pipe<Upstream>,
    counters: Arc<Counters>,
    epoch: Instant,
    idle_timeout: Duration,
    path: Arc<PathControl>,
}

impl Gateway {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let listener = self.listener.clone();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut timer = Timer::new();
        let period = (self.idle_timeout / 4).clamp(Duration::from_millis(1), MAX_SWEEP_PERIOD);
        let mut sweep = tokio::time::interval_at(Instant::now() + period, period);
        sweep.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut next_sweep = Instant::now() + period;
        loop {
            timer.arm(self.pipe.next_deadline());
            tokio::select! {
                biased;
                received = listener.recv_from(&mut buf) => {
                    let now = Instant::now();
                    if let Ok((len, from)) = received {
                        self.ingest(&buf[..len], from, now).await;
                        for _ in 1..BATCH {
                            let Ok((len, from)) = listener.try_recv_from(&mut buf) else {
                                break;
                            };
                            self.ingest(&buf[..len], from, now).await;
                        }
                    }
                }
                () = &mut timer.sleep, if timer.armed.is_some() => timer.armed = None,
                Some(command) = commands.recv() => match command {
                    Command::Rebind(answer) => {
                        let _ = answer.send(self.rebind(Instant::now()).await);
                    }
                },
                // Only a wake-up when idle: under load the check below runs the sweep.
                _ = sweep.tick() => {}
            }
            let now = Instant::now();
            self.pipe.flush(now).await;
            if now >= next_sweep {
                self.sweep(now);
                next_sweep = now + period;
            }
        }
    }

    async fn ingest(&mut self, data: &[u8], from: SocketAddr, now: Instant) {
        if !self.mappings.contains_key(&from)
            && let Err(_error) = self.open(from, now).await
        {
            let counters = self.counters.direction(Direction::ToServer);
            bump(&counters.received);
            bump(&counters.errors);
            return;
        }
        let mapping = &self.mappings[&from];
        mapping
            .last_seen
            .store(millis_since(self.epoch, now), Ordering::Relaxed);
        self.pipe.process(data, &mapping.upstream, now).await;
    }

    /// Opens the upstream socket of a new client and starts its return path.
    async fn open(&mut self, client: SocketAddr, now: Instant) -> io::Result<()> {
        let socket = UdpSocket::bind(self.upstream_bind).await?;
        socket.connect(self.upstream).await?;
        let socket = Arc::new(socket);
        let last_seen = Arc::new(AtomicU64::new(millis_since(self.epoch, now)));
        let pipe = Pipe::new(
            self.to_client,
            mapping_seed(self.seed, self.mappings_opened),
            self.counters.clone(),
            Direction::ToClient,
            self.path.clone(),
        );
        self.mappings_opened += 1;
        let downstream = Downstream {
            listener: self.listener.clone(),
            client,
        };
        let task = tokio::spawn(return_path(
            socket.clone(),
            downstream,
            pipe,
            last_seen.clone(),
            self.epoch,
        ));
        self.mappings.insert(
            client,
            Mapping {
                upstream: Upstream(socket),
                last_seen,
                _task: AbortOnDrop(task),
            },
        );
        self.counters
            .mappings
            .store(self.mappings.len(), Ordering::Relaxed);
        Ok(())
    }

    /// Gives every mapping a fresh upstream socket; the old one closes with its task.
    async fn rebind(&mut self, now: Instant) -> io::Result<usize> {
        let clients: Vec<SocketAddr> = self.mappings.keys().copied().collect();
        for client in &clients {
            if let Err(error) = self.open(*client, now).await {
                self.mappings.remove(client);
                return Err(error);
            }
            self.counters.rebinds.fetch_add(1, Ordering::Relaxed);
        }
        Ok(clients.len())
    }

    /// Forgets mappings without traffic for the idle timeout, closing their sockets.
    fn sweep(&mut self, now: Instant) {
        let now = millis_since(self.epoch, now);
        let idle = u64::try_from(self.idle_timeout.as_millis()).unwrap_or(u64::MAX);
        self.mappings
            .retain(|_, m| now.saturating_sub(m.last_seen.load(Ordering::Relaxed)) < idle);
        self.counters
            .mappings
            .store(self.mappings.len(), Ordering::Relaxed);
    }
}

/// The server → client task of one mapping.
async fn return_path(
    socket: Arc<UdpSocket>,
    downstream: Downstream,
    mut pipe: Pipe<Downstream>,
    last_seen: Arc<AtomicU64>,
    epoch: Instant,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut timer = Timer::new();
    loop {
        timer.arm(pipe.next_deadline());
        tokio::select! {
            biased;
            received = socket.recv(&mut buf) => {
                let now = Instant::now();
                // Errors here are ICMP reports (e.g. the server's port is closed): skip them.
                if let Ok(len) = received {
                    last_seen.store(millis_since(epoch, now), Ordering::Relaxed);
                    pipe.process(&buf[..len], &downstream, now).await;
                    for _ in 1..BATCH {
                        let Ok(len) = socket.try_recv(&mut buf) else {
                            break;
                        };
                        pipe.process(&buf[..len], &downstream, now).await;
                    }
                }
            }
            () = &mut timer.sleep, if timer.armed.is_some() => timer.armed = None,
        }
        pipe.flush(Instant::now()).await;
    }
}
