//! Graceful shutdown on SIGTERM (or Ctrl-C): the pod stops being ready, tells every agent
//! to go away (they connect again at once, and a load balancer sends them to another pod;
//! this pod refuses new hellos as `unavailable`), stops accepting visitors, lets the
//! requests in flight finish up to the drain deadline, then closes what is left and exits.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::dev::ServerHandle;
use hopgate_transport::Listener;
use slog::{Logger, info, warn};

use crate::{control_plane::TableStatus, routing::RoutingTable, session_actor::GoAwayNow};

/// What a drain acts on.
pub(crate) struct Drain {
    pub(crate) status: Arc<TableStatus>,
    pub(crate) routing: Arc<RoutingTable>,
    pub(crate) listener: Arc<Listener>,
    pub(crate) visitors: ServerHandle,
    pub(crate) redirect: ServerHandle,
    pub(crate) internal: ServerHandle,
    /// Visitor requests being proxied (request actors alive).
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) deadline: Duration,
    pub(crate) log: Logger,
}

/// Waits for SIGTERM or SIGINT, then drains.
pub(crate) async fn on_signal(drain: Drain) {
    let signal = wait_for_signal().await;
    info!(drain.log, "draining"; "signal" => signal,
        "deadline_ms" => drain.deadline.as_millis() as u64);
    drain.status.draining.store(true, Ordering::Relaxed);
    let sessions = drain.routing.all_sessions();
    info!(drain.log, "telling agents to go away"; "sessions" => sessions.len());
    for handle in sessions {
        handle.actor.do_send(GoAwayNow(drain.deadline));
    }
    // No new visitor connections; requests on open ones are still served.
    drain.visitors.pause().await;
    drain.redirect.pause().await;
    let started = tokio::time::Instant::now();
    let mut left = drain.in_flight.load(Ordering::Relaxed);
    while left > 0 && started.elapsed() < drain.deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        left = drain.in_flight.load(Ordering::Relaxed);
    }
    if left > 0 {
        warn!(drain.log, "drain deadline reached; cutting requests still in flight";
            "requests" => left);
    }
    // Idle keep-alive connections (an HTTP/2 client may hold one for ever) are closed
    // now rather than waited for.
    drain.visitors.stop(false).await;
    drain.redirect.stop(false).await;
    drain.listener.close("gateway shut down");
    info!(drain.log, "drained; exiting";
        "took_ms" => started.elapsed().as_millis() as u64);
    drain.internal.stop(false).await;
}

async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers there is nothing to wait for.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}
