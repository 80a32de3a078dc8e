//! One actor per agent session: registers its domain when it starts, deregisters when it
//! stops, answers the agent's control stream, and steps aside (go-away, close) when a newer
//! session for the same domain takes over.

use std::{sync::Arc, time::Duration};

use actix::prelude::*;
use hopgate_protocol::{Frame, GoAway, Limits, Pong};
use hopgate_transport::{RecvStream, SendStream, Session};
use hopgate_tunnel::{FrameReader, FrameWriter};
use slog::{Logger, info};
use tokio::sync::Mutex;

use crate::{
    ops::metrics::Metrics,
    tunnel::routing::{RoutingTable, SessionHandle},
};

pub(crate) struct SessionActor {
    id: u64,
    domain: String,
    session: Session,
    table: Arc<RoutingTable>,
    control: Option<FrameReader<RecvStream>>,
    writer: Arc<Mutex<FrameWriter<SendStream>>>,
    metrics: Arc<Metrics>,
    log: Logger,
}

impl SessionActor {
    pub(crate) fn new(
        id: u64,
        domain: String,
        session: Session,
        table: Arc<RoutingTable>,
        control: (FrameWriter<SendStream>, FrameReader<RecvStream>),
        metrics: Arc<Metrics>,
        log: Logger,
    ) -> Self {
        Self {
            id,
            domain,
            session,
            table,
            control: Some(control.1),
            writer: Arc::new(Mutex::new(control.0)),
            metrics,
            log,
        }
    }
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let handle = SessionHandle {
            id: self.id,
            domain: self.domain.clone(),
            session: self.session.clone(),
            actor: ctx.address(),
        };
        if let Some(old) = self.table.register(&self.domain, handle) {
            self.metrics.session_replaced();
            old.actor.do_send(Replaced);
        }
        info!(self.log, "agent session up"; "remote" => %self.session.remote_addr());

        // The session's end (agent gone, timed out, closed) ends the actor.
        let session = self.session.clone();
        ctx.spawn(async move { session.closed().await }.into_actor(self).map(
            |reason, actor, ctx| {
                info!(actor.log, "agent session down"; "reason" => %reason);
                ctx.stop();
            },
        ));
        // Control stream: answer pings; its end is the agent leaving.
        if let Some(mut control) = self.control.take() {
            let writer = self.writer.clone();
            let session = self.session.clone();
            ctx.spawn(
                async move {
                    while let Ok(Some(frame)) = control.next().await {
                        if let Frame::Ping(ping) = frame {
                            let pong = Frame::Pong(Pong { nonce: ping.nonce });
                            if writer.lock().await.send(&pong).await.is_err() {
                                break;
                            }
                        }
                    }
                    session.close("agent closed its control stream");
                }
                .into_actor(self),
            );
        }
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        self.table.deregister(&self.domain, self.id);
        self.session.close("session ended");
        Running::Stop
    }
}

/// How long a replaced session has to read its go-away before it is closed.
const REPLACED_GRACE: Duration = Duration::from_millis(500);

/// A newer session for the same domain took over: tell the agent, then close.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Replaced;

impl Handler<Replaced> for SessionActor {
    type Result = ();

    fn handle(&mut self, _: Replaced, ctx: &mut Self::Context) {
        info!(self.log, "agent session replaced by a newer one");
        let writer = self.writer.clone();
        let session = self.session.clone();
        ctx.spawn(
            async move {
                let away =
                    Frame::GoAway(GoAway::replaced("another agent connected for this domain"));
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    writer.lock().await.send(&away).await
                })
                .await;
                // Give the go-away time to arrive (closing discards unread stream data),
                // unless the agent leaves first.
                let _ = tokio::time::timeout(REPLACED_GRACE, session.closed()).await;
                session.close("replaced by a newer session for this domain");
            }
            .into_actor(self)
            .map(|_, _, ctx| ctx.stop()),
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
        let writer = self.writer.clone();
        ctx.spawn(
            async move {
                let away = Frame::GoAway(GoAway::new("gateway shutting down", drain));
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    writer.lock().await.send(&away).await
                })
                .await;
            }
            .into_actor(self),
        );
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

/// Limits used on every tunnel stream.
pub(crate) fn limits() -> Limits {
    Limits::default()
}
