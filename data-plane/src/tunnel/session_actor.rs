//! One actor per agent session: admitted to its domain's sessions by the hello (`accept`),
//! deregistered when it stops; it answers the agent's control stream, and steps aside
//! (go-away, close) when a newer session for the same domain replaces it. When the agent
//! says the session is leaving (a `leaving` go-away on the control stream: it holds
//! another session where it wants to be), the session is taken out of request routing at
//! once, and closed when its requests in flight are over, or after the drain limit.
//!
//! The actor owns the control stream's writer: every frame it sends there (a pong, a
//! go-away) is queued on it in the actor's context and written by [`FlushControl`], so
//! frames leave whole and in order. The control stream's reader hands each ping to the
//! actor ([`AgentPing`]) and reads on once its pong is written: an agent that doesn't
//! read its pongs stops being read.
//!
//! While the session carries requests the actor watches that its agent is still heard
//! (`watchdog`): it pings an agent unheard for a while, and closes the session of one
//! unheard for `agent_unheard_after`, so the requests on it fail over or get their 502
//! long before QUIC's idle timeout. The watch starts when a request comes to an idle
//! session and ends when the session carries none: idle sessions cost no timer.

use std::{
    pin::Pin,
    sync::Arc,
    task::{self, Poll},
    time::Duration,
};

use actix::prelude::*;
use hopgate_protocol::{Frame, GoAway, Ping, Pong};
use hopgate_transport::{RecvStream, SendStream, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, TunnelError};
use slog::{Logger, debug, info, warn};

use crate::{
    ops::metrics::Metrics,
    tunnel::{
        pool::Load,
        routing::RoutingTable,
        watchdog::{LOOK_EVERY, Look, Watch},
    },
};

/// How long a go-away may take to be written before the actor gives up on it.
const GO_AWAY_WRITE: Duration = Duration::from_secs(1);

/// How long a ping to an agent unheard for a while may take to be written.
const PING_WRITE: Duration = Duration::from_secs(1);

/// How long a replaced session has to read its go-away before it is closed.
const REPLACED_GRACE: Duration = Duration::from_millis(500);

/// How often a leaving session looks whether its requests are over.
const LEAVING_CHECK: Duration = Duration::from_millis(50);

pub(crate) struct SessionActor {
    id: u64,
    domain: String,
    session: Session,
    table: Arc<RoutingTable>,
    /// The control stream's writing half: frames are queued on it, then flushed by
    /// [`FlushControl`] from the actor's context.
    control: FrameWriter<SendStream>,
    /// The control stream's reading half, until the actor starts reading it.
    reader: Option<FrameReader<RecvStream>>,
    /// Requests outstanding on the session.
    load: Load,
    /// How long the session may take to finish its requests once its agent said it leaves.
    leaving_drain: Duration,
    /// How long its agent may go unheard while requests wait on the session.
    agent_unheard_after: Duration,
    /// The watch over the agent while the session carries requests.
    watch: Option<Watch>,
    /// The last ping's nonce.
    pings: u64,
    metrics: Arc<Metrics>,
    log: Logger,
}

/// What a session actor is made of: its session, admitted to its domain, and the control
/// stream the hello was answered on.
pub(crate) struct Admission {
    pub(crate) id: u64,
    pub(crate) domain: String,
    pub(crate) session: Session,
    pub(crate) table: Arc<RoutingTable>,
    pub(crate) control: (FrameWriter<SendStream>, FrameReader<RecvStream>),
    /// The session's load counter (the one its handle in the table carries).
    pub(crate) load: Load,
    pub(crate) leaving_drain: Duration,
    pub(crate) agent_unheard_after: Duration,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) log: Logger,
}

impl SessionActor {
    /// Starts the actor of a session that passed its hello in `ctx`, whose address the
    /// routing table already holds; the actor reads its control stream from then on.
    pub(crate) fn start(ctx: Context<Self>, admission: Admission) -> Addr<Self> {
        let Admission {
            id,
            domain,
            session,
            table,
            control: (writer, reader),
            load,
            leaving_drain,
            agent_unheard_after,
            metrics,
            log,
        } = admission;
        ctx.run(Self {
            id,
            domain,
            session,
            table,
            control: writer,
            reader: Some(reader),
            load,
            leaving_drain,
            agent_unheard_after,
            watch: None,
            pings: 0,
            metrics,
            log,
        })
    }

    /// Queues `frame` on the control stream (written by the next [`FlushControl`]).
    fn queue_control(&mut self, frame: &Frame) {
        if let Err(err) = self.control.queue(frame) {
            debug!(self.log, "control frame not queued"; "error" => %err);
        }
    }

    /// Starts watching the agent once a request comes to the session.
    fn watch_when_busy(&self, ctx: &mut Context<Self>) {
        let load = self.load.clone();
        ctx.spawn(
            async move { load.busy().await }
                .into_actor(self)
                .map(|(), actor, ctx| {
                    let datagrams = actor.session.datagrams_received();
                    let now = std::time::Instant::now();
                    actor.watch = Some(Watch::new(now, datagrams, actor.agent_unheard_after));
                    ctx.run_later(LOOK_EVERY, Self::look);
                }),
        );
    }

    /// One look at the agent while requests wait: ping it, close its session, or look
    /// again later; with no request left, wait for the next one.
    fn look(&mut self, ctx: &mut Context<Self>) {
        let Some(watch) = self.watch.as_mut() else {
            return;
        };
        if self.load.get() == 0 {
            self.watch = None;
            self.watch_when_busy(ctx);
            return;
        }
        let now = std::time::Instant::now();
        match watch.look(now, self.session.datagrams_received()) {
            Look::Fine => {}
            Look::Probe => {
                self.pings += 1;
                self.queue_control(&Frame::Ping(Ping { nonce: self.pings }));
                ctx.spawn(FlushControl.timeout(PING_WRITE).map(|_, _, _| ()));
            }
            Look::Unheard(unheard) => {
                self.metrics.session_unheard();
                warn!(self.log, "agent unheard while requests wait; closing its session";
                    "unheard_ms" => unheard.as_millis(), "in_flight" => self.load.get());
                self.session
                    .close("the agent was unheard while requests waited");
                ctx.stop();
                return;
            }
        }
        ctx.run_later(LOOK_EVERY, Self::look);
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        if let Some(reader) = self.reader.take() {
            ctx.spawn(read_control(reader, ctx.address()).into_actor(self));
        }
        info!(self.log, "agent session up"; "remote" => %self.session.remote_addr());
        self.watch_when_busy(ctx);

        // The session's end (agent gone, timed out, closed) ends the actor.
        let session = self.session.clone();
        ctx.spawn(async move { session.closed().await }.into_actor(self).map(
            |reason, actor, ctx| {
                info!(actor.log, "agent session down"; "reason" => %reason);
                ctx.stop();
            },
        ));
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.table.deregister(&self.domain, self.id);
        self.session.close("session ended");
        Running::Stop
    }
}

/// Reads the control stream: each ping goes to the actor, and the next frame is read once
/// the actor has written its pong; the agent's first `leaving` go-away goes to the actor
/// (later ones are ignored). Its end is the agent leaving.
async fn read_control(mut control: FrameReader<RecvStream>, actor: Addr<SessionActor>) {
    let mut said_leaving = false;
    while let Ok(Some(frame)) = control.next().await {
        match frame {
            Frame::Ping(ping) => {
                let answered = actor.send(AgentPing { nonce: ping.nonce }).await;
                if !matches!(answered, Ok(Ok(()))) {
                    break;
                }
            }
            Frame::GoAway(away) if away.is_leaving() && !said_leaving => {
                said_leaving = true;
                actor.do_send(AgentLeaving);
            }
            _ => {}
        }
    }
    actor.do_send(ControlStreamEnded);
}

/// The agent says this session is leaving: no new request is routed to it; it closes once
/// its requests in flight are over, or after the drain limit.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct AgentLeaving;

impl Handler<AgentLeaving> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: AgentLeaving, ctx: &mut Self::Context) {
        self.table.deregister(&self.domain, self.id);
        info!(self.log, "agent session leaving"; "in_flight" => self.load.get());
        let deadline = tokio::time::Instant::now() + self.leaving_drain;
        ctx.run_interval(LEAVING_CHECK, move |actor, ctx| {
            let idle = actor.load.get() == 0;
            if !idle && tokio::time::Instant::now() < deadline {
                return;
            }
            actor.metrics.session_left(idle);
            info!(actor.log, "agent session left";
                "requests_over" => idle, "in_flight" => actor.load.get());
            actor.session.close(if idle {
                "the agent left; its requests are over"
            } else {
                "the agent left; drain limit reached"
            });
            ctx.stop();
        });
    }
}

/// Writes what is queued on the actor's control stream; resolves once all of it is
/// written. Polls the writer in place (its flush is cancel-safe), so the writer never
/// leaves the actor, and a flush given up on (a timeout) leaves the rest to the next one.
struct FlushControl;

impl ActorFuture<SessionActor> for FlushControl {
    type Output = Result<(), TunnelError>;

    fn poll(
        self: Pin<&mut Self>,
        actor: &mut SessionActor,
        _ctx: &mut Context<SessionActor>,
        task: &mut task::Context<'_>,
    ) -> Poll<Self::Output> {
        actor.control.poll_flush(task)
    }
}

/// The agent pinged on its control stream: answer with a pong. Resolves once the pong is
/// written (an error: the control stream failed).
#[derive(Message)]
#[rtype(result = "Result<(), TunnelError>")]
struct AgentPing {
    nonce: u64,
}

impl Handler<AgentPing> for SessionActor {
    type Result = ResponseActFuture<Self, Result<(), TunnelError>>;

    fn handle(&mut self, AgentPing { nonce }: AgentPing, _ctx: &mut Self::Context) -> Self::Result {
        self.queue_control(&Frame::Pong(Pong { nonce }));
        Box::pin(FlushControl)
    }
}

/// The control stream ended or failed: the agent left.
#[derive(Message)]
#[rtype(result = "()")]
struct ControlStreamEnded;

impl Handler<ControlStreamEnded> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: ControlStreamEnded, _ctx: &mut Self::Context) {
        self.session.close("agent closed its control stream");
    }
}

/// A newer session for the same domain took over: tell the agent why, then close.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Replaced {
    /// The newer agent joined a pool (this one had not), rather than asking to replace.
    pub(crate) by_pool: bool,
    pub(crate) metrics: Arc<Metrics>,
}

impl Replaced {
    /// What the replaced agent is told.
    pub(crate) const fn reason(&self) -> &'static str {
        if self.by_pool {
            "another agent connected for this domain to serve it as a pool; this agent was \
             not started with --pool"
        } else {
            "another agent connected for this domain without --pool and replaced this one"
        }
    }
}

impl Handler<Replaced> for SessionActor {
    type Result = ();

    fn handle(&mut self, replaced: Replaced, ctx: &mut Self::Context) {
        replaced.metrics.session_replaced();
        info!(self.log, "agent session replaced by a newer one"; "reason" => replaced.reason());
        self.queue_control(&Frame::GoAway(GoAway::replaced(replaced.reason())));
        ctx.spawn(
            FlushControl
                .timeout(GO_AWAY_WRITE)
                .then(|_, actor, _| {
                    // Give the go-away time to arrive (closing discards unread stream
                    // data), unless the agent leaves first.
                    let session = actor.session.clone();
                    async move {
                        let _ = tokio::time::timeout(REPLACED_GRACE, session.closed()).await;
                        session.close("replaced by a newer session for this domain");
                    }
                    .into_actor(actor)
                })
                .map(|(), _, ctx| ctx.stop()),
        );
    }
}

/// The pod is shutting down: tell the agent to go away (it connects again at once, to
/// another pod) and give its requests in flight `drain` to finish on this session.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct GoAwayNow(pub(crate) Duration);

impl Handler<GoAwayNow> for SessionActor {
    type Result = ();

    fn handle(&mut self, GoAwayNow(drain): GoAwayNow, ctx: &mut Self::Context) {
        self.queue_control(&Frame::GoAway(GoAway::new("gateway shutting down", drain)));
        ctx.spawn(FlushControl.timeout(GO_AWAY_WRITE).map(|_, _, _| ()));
    }
}

/// The control-plane revoked the session's right to its domain (unregistered, or the key
/// was rotated): close it now; the agent learns why at its next hello.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Revoked(pub(crate) &'static str);

impl Handler<Revoked> for SessionActor {
    type Result = ();

    fn handle(&mut self, Revoked(reason): Revoked, ctx: &mut Self::Context) {
        info!(self.log, "agent session revoked"; "reason" => reason);
        self.session.close(reason);
        ctx.stop();
    }
}
