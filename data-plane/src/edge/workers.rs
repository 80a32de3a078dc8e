//! The HTTPS listener's workers, each accepting the connections it serves: every worker
//! has its own listening socket in the port's `SO_REUSEPORT` group, and the kernel spreads
//! new connections over them. A visitor's arrival wakes one thread, where actix-server's
//! acceptor thread woke itself and then the worker it handed the connection to.
//!
//! The first worker runs on the caller's runtime (the pod's main thread, where the first
//! socket of the DTLS port's group is served too), each other one on a thread of its own.
//! A pod with one worker and one DTLS socket carries a request from the visitor to the
//! agent and back on one thread, with no wake-up of another (measured: docs/benchmarks.md,
//! "Accepting on the serving worker").
//!
//! [`WorkersHandle::pause`] stops the accepting (open connections are still served; new ones
//! wait in the kernel's queue), [`WorkersHandle::stop`] ends every worker and every
//! connection, as actix-server's non-graceful stop did. An accept that fails for want of
//! descriptors or memory waits [`ACCEPT_RETRY`] before the next, so a full descriptor
//! table can't spin a thread; the caller's `on_refused` counts it.

use std::{
    future::poll_fn,
    io,
    net::{SocketAddr, TcpListener},
    rc::Rc,
    sync::Arc,
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

/// How many workers are still running, and whether one could not start its service.
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
    phase: Arc<watch::Sender<Phase>>,
    running: watch::Receiver<Running>,
}

/// How a worker builds its service, with what it calls for an accept that failed.
pub(crate) struct WorkerSpec<F, R> {
    /// The thread names' prefix (`{name}-{index}`).
    pub(crate) name: &'static str,
    /// Builds, once per worker, the factory of the service each connection is given to.
    pub(crate) service: F,
    /// Told of each accept that failed for want of descriptors or memory.
    pub(crate) on_refused: R,
}

impl Workers {
    /// Starts `count` workers (at least one) on `listener` and `count - 1` more sockets
    /// joining its port's group; `listener` must come from [`bind_reusable`]. Called on an
    /// actix runtime, which serves the first worker.
    pub(crate) fn start<F, SF, R>(
        listener: TcpListener,
        count: usize,
        spec: WorkerSpec<F, R>,
    ) -> io::Result<Self>
    where
        F: Fn() -> SF + Send + Clone + 'static,
        SF: ServiceFactory<TcpStream, Config = (), Response = ()> + 'static,
        R: Fn(&io::Error) + Send + Clone + 'static,
    {
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
        let (phase, _) = watch::channel(Phase::Accepting);
        let (running_tx, running) = watch::channel(Running {
            workers: sockets.len(),
            failed: false,
        });
        let phase = Arc::new(phase);
        let running_tx = Arc::new(running_tx);
        for (index, socket) in sockets.into_iter().enumerate() {
            socket.set_nonblocking(true)?;
            let worker = Worker {
                socket,
                service: spec.service.clone(),
                on_refused: spec.on_refused.clone(),
                phase: phase.subscribe(),
                leaving: Leaving(running_tx.clone()),
            };
            if index == 0 {
                actix_web::rt::spawn(worker.run());
                continue;
            }
            thread::Builder::new()
                .name(format!("{}-{index}", spec.name))
                .spawn(move || worker.run_on_thread())?;
        }
        Ok(Self {
            handle: WorkersHandle { phase, running },
        })
    }

    /// What pauses or stops the workers.
    pub(crate) fn handle(&self) -> WorkersHandle {
        self.handle.clone()
    }

    /// Resolves when every worker has ended: an error if one could not start its service.
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
                "an HTTPS worker could not build its service",
            ));
        }
        Ok(())
    }
}

/// Counts a worker out when its thread ends, whatever ended it.
struct Leaving(Arc<watch::Sender<Running>>);

impl Leaving {
    fn failed(&self) {
        self.0.send_modify(|running| running.failed = true);
    }
}

impl Drop for Leaving {
    fn drop(&mut self) {
        self.0.send_modify(|running| running.workers -= 1);
    }
}

/// One worker: its socket, how it serves a connection, and its place in the count.
struct Worker<F, R> {
    socket: TcpListener,
    service: F,
    on_refused: R,
    phase: watch::Receiver<Phase>,
    leaving: Leaving,
}

impl<F, SF, R> Worker<F, R>
where
    F: Fn() -> SF,
    SF: ServiceFactory<TcpStream, Config = (), Response = ()> + 'static,
    R: Fn(&io::Error),
{
    /// Runs the worker on a runtime of its own, on this thread.
    fn run_on_thread(self) {
        match Runtime::new() {
            Ok(runtime) => runtime.block_on(self.run()),
            Err(_) => self.leaving.failed(),
        }
    }

    /// Accepts and serves until stopped; every connection it accepted ends with it.
    async fn run(self) {
        let Self {
            socket,
            service,
            on_refused,
            phase,
            leaving,
        } = self;
        let Ok(listener) = tokio::net::TcpListener::from_std(socket) else {
            return leaving.failed();
        };
        let Ok(service) = service().new_service(()).await else {
            return leaving.failed();
        };
        let mut connections = JoinSet::new();
        accept_until_stopped(
            &listener,
            &Rc::new(service),
            &on_refused,
            phase,
            &mut connections,
        )
        .await;
        connections.shutdown().await;
    }
}

/// Accepts and hands each connection to `service` until paused, then waits for the stop.
async fn accept_until_stopped<S, R>(
    listener: &tokio::net::TcpListener,
    service: &Rc<S>,
    on_refused: &R,
    mut phase: watch::Receiver<Phase>,
    connections: &mut JoinSet<()>,
) where
    S: Service<TcpStream, Response = ()> + 'static,
    R: Fn(&io::Error),
{
    loop {
        let accepted = tokio::select! {
            biased;
            _ = phase.wait_for(|phase| *phase != Phase::Accepting) => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, _)) => serve(connections, service.clone(), tcp),
            Err(err) if out_of_resources(&err) => {
                on_refused(&err);
                tokio::time::sleep(ACCEPT_RETRY).await;
            }
            // The peer gave up before the accept (ECONNABORTED) or another passing error.
            Err(_) => {}
        }
    }
    loop {
        tokio::select! {
            biased;
            _ = phase.wait_for(|phase| *phase == Phase::Stopped) => return,
            Some(_) = connections.join_next() => {}
        }
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
