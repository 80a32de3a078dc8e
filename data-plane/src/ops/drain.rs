//! Graceful shutdown on SIGTERM (or Ctrl-C): the pod stops being ready, tells every agent
//! to go away (they connect again at once, and a load balancer sends them to another pod;
//! this pod refuses new hellos as `unavailable`), stops accepting visitors, lets the
//! requests in flight finish up to the drain deadline, then closes what is left and exits.
//!
//! With cross-pod routing (a control-plane link), the pod also waits, up to the same
//! deadline, until each agent is live on another pod: meanwhile it keeps serving its
//! old sessions (to visitors still connected here and to requests other pods relay here)
//! and its relay listener stays open. Once an agent has moved, this pod's visitors for
//! that domain are relayed to the new pod and the old session no longer reported
//! ([`RoutingTable::mark_moved`]). When nothing is in flight and no agent is left to move
//! it waits [`SETTLE`] (for the placement to reach the other pods), then exits. A pod that
//! is the last one of its deployment therefore waits out the drain deadline.

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

use crate::{
    table::control_plane::TableStatus,
    tunnel::{routing::RoutingTable, session_actor::GoAwayNow},
};

/// After the last agent moved and the last request finished: time for the placement
/// change to reach the other pods (measured in milliseconds) before the relay listener
/// closes.
const SETTLE: Duration = Duration::from_millis(500);

/// What a drain acts on.
pub(crate) struct Drain {
    pub(crate) status: Arc<TableStatus>,
    pub(crate) routing: Arc<RoutingTable>,
    pub(crate) listener: Arc<Listener>,
    pub(crate) visitors: ServerHandle,
    pub(crate) redirect: ServerHandle,
    pub(crate) internal: ServerHandle,
    /// The relay listener, if any: stopped last, after the visitors'.
    pub(crate) relay: Option<ServerHandle>,
    /// Cross-pod routing is on: wait for agents to move (see the module docs).
    pub(crate) cross_pod: bool,
    /// Visitor requests being proxied (request actors alive).
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) deadline: Duration,
    pub(crate) log: Logger,
}

/// Waits for `signal` (SIGTERM or SIGINT in the binary; it resolves with its name), then
/// drains.
pub(crate) async fn on_signal(drain: Drain, signal: impl Future<Output = &'static str>) {
    let signal = signal.await;
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
    wait_until_done(&drain, started).await;
    if drain.cross_pod && started.elapsed() < drain.deadline {
        tokio::time::sleep(SETTLE).await;
        wait_until_done(&drain, started).await;
    }
    // Idle keep-alive connections (an HTTP/2 client may hold one for ever) are closed
    // now rather than waited for.
    drain.visitors.stop(false).await;
    drain.redirect.stop(false).await;
    if let Some(relay) = &drain.relay {
        relay.stop(false).await;
    }
    drain.listener.close("gateway shut down");
    info!(drain.log, "drained; exiting";
        "took_ms" => started.elapsed().as_millis() as u64);
    drain.internal.stop(false).await;
}

/// Waits until no request is in flight and (with cross-pod routing) every agent has moved
/// to another pod, or the deadline.
async fn wait_until_done(drain: &Drain, started: tokio::time::Instant) {
    loop {
        if drain.cross_pod {
            for handle in drain.routing.all_sessions() {
                if drain.routing.is_remote(&handle.domain) {
                    info!(drain.log, "agent moved to another pod";
                        "domain" => &handle.domain, "session_id" => handle.id);
                    drain.routing.mark_moved(&handle.domain, handle.id);
                }
            }
        }
        let requests = drain.in_flight.load(Ordering::Relaxed);
        let agents = if drain.cross_pod {
            drain.routing.live_sessions()
        } else {
            0
        };
        if requests == 0 && agents == 0 {
            return;
        }
        if started.elapsed() >= drain.deadline {
            warn!(drain.log, "drain deadline reached; cutting what is left";
                "requests" => requests, "agents_not_moved" => agents);
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
