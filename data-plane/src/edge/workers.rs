//! The HTTPS listener's workers, each accepting the connections it serves: every worker
//! has its own listening socket in the port's `SO_REUSEPORT` group, and the kernel spreads
//! new connections over them. A visitor's arrival wakes one thread, where actix-server's
//! acceptor thread woke itself and then the worker it handed the connection to.
//!
//! The first worker runs on the caller's runtime (the pod's main thread, where the first
//! socket of the DTLS port's group is served too); each other one on a thread its `host`
//! offers (the pod's: the thread of the DTLS socket with the same index), or else on a
//! thread of its own. A request whose visitor and agent are served on the same thread
//! goes from one to the other and back with no wake-up of another thread (measured:
//! docs/benchmarks.md, "Accepting on the serving worker").
//!
//! [`WorkersHandle::pause`] stops the accepting (open connections are still served; new ones
//! wait in the kernel's queue), [`WorkersHandle::stop`] ends every worker and every
//! connection, as actix-server's non-graceful stop did. A worker holding its share of the
//! pod's connections stops accepting until one of them ends (new visitors wait in the
//! kernel's queue, as with actix-server's per-worker cap); an accept that fails for want
//! of descriptors or memory waits [`ACCEPT_RETRY`] before the next, so a full descriptor
//! table can't spin a thread. The caller's `on_event` counts both.

use std::{
    future::poll_fn,
    io,
    net::{SocketAddr, TcpListener},
    rc::Rc,
    thread,
    time::Duration,
};

use actix_service::{Service, ServiceFactory};
use actix_web::rt::Runtime;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::{net::TcpStream, sync::watch, task::JoinSet};

/// How long a worker waits after an accept failed for want of descriptors or memory.
pub(crate) const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The listen backlog of each worker's socket.
const BACKLOG: i32 = 1024;

/// Binds a TCP listener on `addr` that the workers' other sockets can join
/// (`SO_REUSEPORT`): the first socket of the group. It is bound before it is marked, so a
/// port another process listens on is refused (`AddrInUse`) as a plain bind would be,
/// rather than shared with it.
pub(crate) fn bind_reusable(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.set_reuse_port(true)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// `listener` and `count - 1` more sockets joining its group (at least `listener`).
fn group(listener: TcpListener, count: usize) -> io::Result<Vec<TcpListener>> {
    let addr = listener.local_addr()?;
    let mut sockets = vec![listener];
    for _ in 1..count.max(1) {
        sockets.push(join_group(addr).map_err(|err| {
            io::Error::new(
                err.kind(),
                format!("another HTTPS worker socket on {addr}: {err}"),
            )
        })?);
    }
    Ok(sockets)
}

/// Another socket in the group of the listener bound to `addr`.
fn join_group(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// What the workers are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Accepting,
    Paused,
    Stopped,
}

/// How many workers are still running, and whether one ended before it was stopped.
#[derive(Debug, Clone, Copy, Default)]
struct Running {
    workers: usize,
    failed: bool,
}

/// The running workers; dropping this stops them.
pub(crate) struct Workers {
    handle: WorkersHandle,
}

/// Pauses or stops the workers.
#[derive(Clone)]
pub(crate) struct WorkersHandle {
    phase: watch::Sender<Phase>,
    running: watch::Receiver<Running>,
}

/// What a worker tells its caller about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WorkerEvent {
    /// It holds its share of the connections and stops accepting until one ends.
    Full,
    /// An accept failed for want of descriptors or memory.
    OutOfResources,
}

/// A worker's start, run on the thread that hosts it, inside a `LocalSet`.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// How a worker builds its service, how many connections it may hold, whom it tells, and
/// where it runs.
pub(crate) struct WorkerSpec<F, R, H> {
    /// The thread names' prefix (`{name}-{index}`).
    pub(crate) name: &'static str,
    /// Builds, once per worker, the factory of the service each connection is given to.
    pub(crate) service: F,
    /// Connections the workers may hold open together (each holds its share, rounded up).
    pub(crate) max_connections: usize,
    /// Told of every [`WorkerEvent`].
    pub(crate) on_event: R,
    /// Runs worker `index`'s start (1 and up) on a thread it offers, or gives it back for
    /// a thread of the worker's own.
    pub(crate) host: H,
}

impl Workers {
    /// Starts `count` workers (at least one) on `listener` and `count - 1` more sockets
    /// joining its port's group; `listener` must come from [`bind_reusable`]. Called on an
    /// actix runtime, which serves the first worker.
    pub(crate) fn start<F, SF, R, H>(
        listener: TcpListener,
        count: usize,
        spec: WorkerSpec<F, R, H>,
    ) -> io::Result<Self>
    where
        F: Fn() -> SF + Send + Clone + 'static,
        SF: ServiceFactory<TcpStream, Config = (), Response = ()> + 'static,
        R: Fn(WorkerEvent) + Send + Clone + 'static,
        H: Fn(usize, Job) -> Result<(), Job>,
    {
        let sockets = group(listener, count)?;
        let (phase, _) = watch::channel(Phase::Accepting);
        let (running_tx, running) = watch::channel(Running {
            workers: sockets.len(),
            failed: false,
        });
        let share = spec.max_connections.div_ceil(sockets.len()).max(1);
        for (index, socket) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let worker = Worker {
                socket,
                service: spec.service.clone(),
                max_connections: share,
                on_event: spec.on_event.clone(),
                phase: phase.subscribe(),
                leaving: Leaving {
                    running: running_tx.clone(),
                    finished: false,
                },
            };
            if index == 0 {
                actix_web::rt::spawn(worker.run());
                continue;
            }
            let start: Job = Box::new(move || {
                actix_web::rt::spawn(worker.run());
            });
            if let Err(start) = (spec.host)(index, start) {
                let running = running.clone();
                thread::Builder::new()
                    .name(format!("{}-{index}", spec.name))
                    .spawn(move || run_on_own_thread(start, running))?;
            }
        }
        Ok(Self {
            handle: WorkersHandle { phase, running },
        })
    }

    /// What pauses or stops the workers.
    pub(crate) fn handle(&self) -> WorkersHandle {
        self.handle.clone()
    }

    /// Resolves when every worker has ended: an error if one ended before it was stopped.
    pub(crate) async fn join(self) -> io::Result<()> {
        self.handle.ended().await
    }
}

impl Drop for Workers {
    /// The pod gave up on its servers (or they all ended): nothing is served any more.
    fn drop(&mut self) {
        self.handle.phase.send_replace(Phase::Stopped);
    }
}

impl WorkersHandle {
    /// No new connections are accepted; open ones are still served.
    pub(crate) fn pause(&self) {
        self.phase.send_if_modified(|phase| {
            let accepting = *phase == Phase::Accepting;
            if accepting {
                *phase = Phase::Paused;
            }
            accepting
        });
    }

    /// Ends every worker and every open connection; resolves once all have ended.
    pub(crate) async fn stop(&self) -> io::Result<()> {
        self.phase.send_replace(Phase::Stopped);
        self.ended().await
    }

    async fn ended(&self) -> io::Result<()> {
        let mut running = self.running.clone();
        let last = *running
            .wait_for(|running| running.workers == 0)
            .await
            .map_err(|_| io::Error::other("the HTTPS workers' count was lost"))?;
        if last.failed {
            return Err(io::Error::other(
                "an HTTPS worker ended before it was stopped (its runtime, listener or \
                 service could not start, or its thread ended)",
            ));
        }
        Ok(())
    }
}

/// Counts a worker out when it ends, whatever ended it: as failed unless it ran until it
/// was stopped.
struct Leaving {
    running: watch::Sender<Running>,
    finished: bool,
}

impl Drop for Leaving {
    fn drop(&mut self) {
        let failed = !self.finished;
        self.running.send_modify(|running| {
            running.workers -= 1;
            running.failed |= failed;
        });
    }
}

/// A thread of a worker's own: its runtime runs the worker's `start` and lasts until
/// every worker has ended.
fn run_on_own_thread(start: Job, mut running: watch::Receiver<Running>) {
    let Ok(runtime) = Runtime::new() else { return };
    runtime.block_on(async move {
        start();
        let _ = running.wait_for(|running| running.workers == 0).await;
    });
}

/// One worker: its socket, how it serves a connection, and its place in the count.
struct Worker<F, R> {
    socket: TcpListener,
    service: F,
    max_connections: usize,
    on_event: R,
    phase: watch::Receiver<Phase>,
    leaving: Leaving,
}

impl<F, SF, R> Worker<F, R>
where
    F: Fn() -> SF,
    SF: ServiceFactory<TcpStream, Config = (), Response = ()> + 'static,
    R: Fn(WorkerEvent),
{
    /// Accepts and serves until stopped; every connection it accepted ends with it.
    async fn run(self) {
        let Self {
            socket,
            service,
            max_connections,
            on_event,
            phase,
            mut leaving,
        } = self;
        let Ok(listener) = tokio::net::TcpListener::from_std(socket) else {
            return;
        };
        let Ok(service) = service().new_service(()).await else {
            return;
        };
        let mut accepting = Accepting {
            listener: &listener,
            service: &Rc::new(service),
            max_connections,
            on_event: &on_event,
            connections: JoinSet::new(),
        };
        accepting.until_stopped(phase).await;
        accepting.connections.shutdown().await;
        leaving.finished = true;
    }
}

/// A worker's accepting: its listener, its service, its connections.
struct Accepting<'a, S, R> {
    listener: &'a tokio::net::TcpListener,
    service: &'a Rc<S>,
    max_connections: usize,
    on_event: &'a R,
    connections: JoinSet<()>,
}

impl<S, R> Accepting<'_, S, R>
where
    S: Service<TcpStream, Response = ()> + 'static,
    R: Fn(WorkerEvent),
{
    /// Accepts and serves each connection until paused, then waits for the stop.
    async fn until_stopped(&mut self, mut phase: watch::Receiver<Phase>) {
        while self.accept_one(&mut phase).await {}
        loop {
            tokio::select! {
                biased;
                _ = phase.wait_for(|phase| *phase == Phase::Stopped) => return,
                Some(_) = self.connections.join_next() => {}
            }
        }
    }

    /// Waits for room and accepts one connection; `false` once paused or stopped.
    async fn accept_one(&mut self, phase: &mut watch::Receiver<Phase>) -> bool {
        if self.connections.len() >= self.max_connections {
            (self.on_event)(WorkerEvent::Full);
            while self.connections.len() >= self.max_connections {
                tokio::select! {
                    biased;
                    _ = phase.wait_for(|phase| *phase != Phase::Accepting) => return false,
                    _ = self.connections.join_next() => {}
                }
            }
        }
        let accepted = tokio::select! {
            biased;
            _ = phase.wait_for(|phase| *phase != Phase::Accepting) => return false,
            Some(_) = self.connections.join_next() => return true,
            accepted = self.listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _)) => serve(&mut self.connections, self.service.clone(), tcp),
            Err(err) if out_of_resources(&err) => {
                (self.on_event)(WorkerEvent::OutOfResources);
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
            // The peer gave up before the accept (ECONNABORTED) or another passing error.
            Err(_) => {}
        }
        true
    }
}

/// Serves `tcp` on this worker, once the service is ready for it.
fn serve<S>(connections: &mut JoinSet<()>, service: Rc<S>, tcp: TcpStream)
where
    S: Service<TcpStream, Response = ()> + 'static,
{
    connections.spawn_local(async move {
        if poll_fn(|cx| service.poll_ready(cx)).await.is_ok() {
            let _ = service.call(tcp).await;
        }
    });
}

/// An accept failure that retrying at once would only repeat.
fn out_of_resources(err: &io::Error) -> bool {
    use libc::{EMFILE, ENFILE, ENOBUFS, ENOMEM};
    matches!(err.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

#[cfg(test)]
mod tests;
