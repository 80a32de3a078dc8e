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
//!
//! The waits are woken by what they wait for (the last request in flight going,
//! [`InFlight::emptied`], and each change of the routing table's placements), never by a
//! timer.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use actix_web::dev::ServerHandle;
use hopgate_transport::Listener;
use slog::{Logger, info, warn};
use tokio::time::Instant;

use crate::{
    edge::workers::WorkersHandle,
    ops::in_flight::InFlight,
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
    pub(crate) visitors: WorkersHandle,
    pub(crate) redirect: ServerHandle,
    pub(crate) internal: ServerHandle,
    /// The relay listener, if any: stopped last, after the visitors'.
    pub(crate) relay: Option<ServerHandle>,
    /// Cross-pod routing is on: wait for agents to move (see the module docs).
    pub(crate) cross_pod: bool,
    /// Requests in flight, through a session here or relayed to another pod.
    pub(crate) in_flight: Arc<InFlight>,
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
    drain.visitors.pause();
    drain.redirect.pause().await;
    let started = Instant::now();
    let deadline = started + drain.deadline;
    wait_until_done(&drain, deadline).await;
    if drain.cross_pod && Instant::now() < deadline {
        tokio::time::sleep(SETTLE).await;
        wait_until_done(&drain, deadline).await;
    }
    // Idle keep-alive connections (an HTTP/2 client may hold one for ever) are closed
    // now rather than waited for.
    if let Err(err) = drain.visitors.stop().await {
        warn!(drain.log, "HTTPS workers"; "error" => err.to_string());
    }
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
/// to another pod, or `deadline`. Woken by each change of either, never by a timer.
async fn wait_until_done(drain: &Drain, deadline: Instant) {
    let waited = Settle {
        routing: &drain.routing,
        in_flight: &drain.in_flight,
        cross_pod: drain.cross_pod,
        log: &drain.log,
    };
    if let Err(left) = waited.until(deadline).await {
        warn!(drain.log, "drain deadline reached; cutting what is left";
            "requests" => left.requests, "agents_not_moved" => left.agents);
    }
}

/// What a drain waits on.
struct Settle<'a> {
    routing: &'a RoutingTable,
    in_flight: &'a InFlight,
    cross_pod: bool,
    log: &'a Logger,
}

/// What was left when the drain deadline came.
#[derive(Debug, PartialEq, Eq)]
struct Left {
    requests: usize,
    agents: usize,
}

impl Settle<'_> {
    /// Resolves once nothing is left, or with what is left at `deadline`.
    async fn until(&self, deadline: Instant) -> Result<(), Left> {
        let mut placements = self.routing.placements();
        loop {
            placements.borrow_and_update();
            let left = self.left();
            if left.requests == 0 && left.agents == 0 {
                return Ok(());
            }
            // The placements' sender lives as long as the drain: the last request going, a
            // placement change or the deadline ends this.
            tokio::select! {
                () = self.in_flight.emptied(), if left.requests > 0 => {}
                _ = placements.changed(), if self.cross_pod => {}
                () = tokio::time::sleep_until(deadline) => return Err(left),
            }
        }
    }

    /// Marks the agents live on another pod as moved, and counts what is left.
    fn left(&self) -> Left {
        if !self.cross_pod {
            return Left {
                requests: self.in_flight.count(),
                agents: 0,
            };
        }
        for handle in self.routing.all_sessions() {
            if self.routing.is_remote(&handle.domain) {
                info!(self.log, "agent moved to another pod";
                    "domain" => &handle.domain, "session_id" => handle.id);
                self.routing.mark_moved(&handle.domain, handle.id);
            }
        }
        Left {
            requests: self.in_flight.count(),
            agents: self.routing.live_sessions(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settle<'a>(
        routing: &'a RoutingTable,
        in_flight: &'a InFlight,
        log: &'a Logger,
    ) -> Settle<'a> {
        Settle {
            routing,
            in_flight,
            cross_pod: true,
            log,
        }
    }

    fn quiet() -> Logger {
        Logger::root(slog::Discard, slog::o!())
    }

    #[tokio::test(start_paused = true)]
    async fn the_drain_ends_the_moment_the_last_request_does() {
        let (routing, in_flight, log) = (RoutingTable::new(), InFlight::new(), quiet());
        let guards = vec![in_flight.enter(), in_flight.enter(), in_flight.enter()];
        let deadline = Instant::now() + Duration::from_secs(60);
        let release = async {
            tokio::time::sleep(Duration::from_secs(7)).await;
            let released = Instant::now();
            drop(guards);
            released
        };
        let (settled, released) = tokio::join!(
            async {
                let result = settle(&routing, &in_flight, &log).until(deadline).await;
                (result, Instant::now())
            },
            release
        );
        assert_eq!(settled.0, Ok(()));
        // Woken by the count itself: not a tick later.
        assert_eq!(settled.1, released);
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_cuts_a_request_that_does_not_end() {
        let (routing, in_flight, log) = (RoutingTable::new(), InFlight::new(), quiet());
        let _stuck = in_flight.enter();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        let result = settle(&routing, &in_flight, &log).until(deadline).await;
        let left = Left {
            requests: 1,
            agents: 0,
        };
        assert_eq!(result, Err(left));
        assert_eq!(Instant::now(), deadline);
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_in_flight_and_no_agent_ends_the_drain_at_once() {
        let (routing, in_flight, log) = (RoutingTable::new(), InFlight::new(), quiet());
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        // A placement change with nothing to wait for changes nothing.
        routing.set_remote(std::collections::HashMap::new());
        assert_eq!(
            settle(&routing, &in_flight, &log).until(deadline).await,
            Ok(())
        );
        assert_eq!(Instant::now(), started);
    }
}
