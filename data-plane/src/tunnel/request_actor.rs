//! One actor per request carried over an agent's session here. It owns the request's
//! stream (both halves and the stream's rules, `request_stream`) and moves through explicit
//! [`Phase`]s, driven by typed messages:
//!
//! ```text
//! Opening ──StreamOpened──► Asked ──answer's head──► Answered ──answer's end──► Over
//!    └────────┴──── NoStream, AnswerDeadline, BodyStalled, a violation, Cancel ──► Failed
//! ```
//!
//! - [`StreamOpened`]: a stream came free within `stream_wait` (else 503); the head goes
//!   up, with its end when there is no body.
//! - [`AnswerDeadline`]: no answer's head within the response timeout (504).
//! - the visitor's body (`upload`): `VisitorChunk`, `VisitorBodyEnded`,
//!   `VisitorBodyFailed`, `BodyStalled` (no progress for `body_timeout`: 408 or a reset).
//! - the handler's side (`request_answer`): the answer's head goes to the handler on a
//!   oneshot, its body through a channel of one piece that the actor fills as the
//!   handler empties it (no message per answer frame).
//! - [`Cancel`]: the handler let go (the visitor went away, or the answer was sent): what
//!   is left of the stream is reset both ways with `STREAM_CANCELLED`.
//!
//! Both directions are bounded: one visitor chunk at a time is queued on the stream and
//! acknowledged once written; one answer frame at a time is read ahead of the handler.
//! A frame from the agent that the stream's rules refuse ends the request as a
//! [`ProxyError::Violation`] (502), counted in `hopgate_stream_resets_total`.
//!
//! A request that fails before its answer's head because its session or stream died may
//! be handed back to be tried on another session (`request_retry` says when).

use std::{
    pin::Pin,
    sync::Arc,
    task::{self, Poll},
    time::Duration,
};

use actix::prelude::*;
use actix_web::web::Payload;
use hopgate_protocol::{RequestHead, ResponseHead};
use hopgate_transport::{RecvStream, SendStream, Session};
use hopgate_tunnel::TunnelError;
use slog::{Logger, info};

use crate::{
    ops::{in_flight::InFlightGuard, metrics::Metrics},
    tunnel::{
        pool::LoadGuard,
        request_answer::{AnswerOut, ReadDown},
        request_error::ProxyError,
        request_phase::Phase,
        request_retry::{Replay, Retry, Unanswered, safe_method},
        request_stream::RequestStream,
        upload,
    },
};

/// What a request needs to be carried to the agent.
pub(crate) struct Request {
    pub(crate) head: RequestHead,
    pub(crate) payload: Payload,
    /// Whether the visitor's request has a body (or, upgrading, bytes) to stream up.
    pub(crate) has_body: bool,
    pub(crate) session: Session,
    pub(crate) limits: RequestLimits,
    /// The request's place in flight, held until the actor stops.
    pub(crate) in_flight: InFlightGuard,
    /// The request's weight on its session, held until the actor stops.
    pub(crate) load: LoadGuard,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) log: Logger,
}

/// The limits a request is carried under.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestLimits {
    /// How long the agent may take to send the answer's head.
    pub(crate) response_timeout: Duration,
    /// How long to wait for a free stream on the session.
    pub(crate) stream_wait: Duration,
    /// How long the visitor's body may make no progress; `None`: no limit (an upgrade).
    pub(crate) body_timeout: Option<Duration>,
}

pub(crate) struct RequestActor {
    pub(super) phase: Phase,
    /// Where the answer goes to the handler.
    pub(super) out: AnswerOut,
    pub(super) has_body: bool,
    pub(super) limits: RequestLimits,
    pub(super) metrics: Arc<Metrics>,
    pub(super) log: Logger,
    /// What a retry after the stream broke would need.
    pub(super) replay: Replay,
    _in_flight: InFlightGuard,
    _load: LoadGuard,
}

impl RequestActor {
    pub(super) fn new(request: Request, out: AnswerOut) -> Self {
        let Request {
            head,
            payload,
            has_body,
            session,
            limits,
            in_flight,
            load,
            metrics,
            log,
        } = request;
        Self {
            phase: Phase::Opening {
                head,
                payload,
                session,
            },
            out,
            has_body,
            limits,
            metrics,
            log,
            replay: Replay::default(),
            _in_flight: in_flight,
            _load: load,
        }
    }

    /// The request failed before its answer's head: the stream (if any) is reset both
    /// ways, and the handler told why (and given the request back if it may be retried).
    pub(super) fn fail(&mut self, err: ProxyError, ctx: &mut Context<Self>) {
        let retry = self.retry_after(&err);
        self.fail_with(Unanswered { error: err, retry }, ctx);
    }

    fn fail_with(&mut self, unanswered: Unanswered, ctx: &mut Context<Self>) {
        if let Some(reason) = unanswered.error.protocol_reason() {
            self.metrics.reset(reason);
        }
        self.abandon();
        self.deliver(Err(unanswered), ctx);
    }

    /// Resets what is left of the stream both ways; the request is over.
    pub(super) fn abandon(&mut self) {
        if let Some(stream) = self.phase.stream() {
            stream.cancel();
        }
        self.phase = Phase::Failed;
    }

    /// Hands the answer's head (or why none came) to the handler, once.
    pub(super) fn deliver(
        &mut self,
        answer: Result<ResponseHead, Unanswered>,
        ctx: &mut Context<Self>,
    ) {
        let Some(waiter) = self.out.head.take() else {
            return;
        };
        let failed = answer.is_err();
        if waiter.send(answer).is_err() {
            // The handler went away meanwhile.
            self.abandon();
            ctx.stop();
        } else if failed {
            ctx.stop();
        }
    }

    /// The answer came whole: the actor is done once the visitor's body is too.
    pub(super) fn stop_if_done(&mut self, ctx: &mut Context<Self>) {
        if let Phase::Over { stream } = &mut self.phase
            && stream.request_done()
        {
            ctx.stop();
        }
    }
}

impl Actor for RequestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        let Phase::Opening { session, .. } = &self.phase else {
            return;
        };
        let (session, wait) = (session.clone(), self.limits.stream_wait);
        let opening = async move {
            match tokio::time::timeout(wait, session.open_stream()).await {
                Ok(Ok(stream)) => Ok(stream),
                Ok(Err(lost)) => Err(ProxyError::SessionLost(lost)),
                Err(_) => Err(ProxyError::NoStream(wait)),
            }
        };
        ctx.spawn(
            opening
                .into_actor(self)
                .map(|opened, _, ctx| ctx.notify(StreamOpened(opened))),
        );
    }
}

/// A stream came free on the session (or none did, or the session failed).
#[derive(Message)]
#[rtype(result = "()")]
struct StreamOpened(Result<(SendStream, RecvStream), ProxyError>);

impl Handler<StreamOpened> for RequestActor {
    type Result = ();

    fn handle(&mut self, StreamOpened(opened): StreamOpened, ctx: &mut Self::Context) {
        let Phase::Opening { head, payload, .. } =
            std::mem::replace(&mut self.phase, Phase::Failed)
        else {
            return;
        };
        let (send, recv) = match opened {
            Ok(pair) => pair,
            Err(err) => {
                if matches!(err, ProxyError::NoStream(_)) {
                    self.metrics.rejected("stream_wait");
                }
                // Nothing reached the agent: the request may go elsewhere as it is.
                let retry = matches!(err, ProxyError::SessionLost(_)).then(|| Retry {
                    head,
                    payload: Some(payload),
                    reason: "session_lost",
                });
                return self.fail_with(Unanswered { error: err, retry }, ctx);
            }
        };
        let mut stream = RequestStream::new(send, recv);
        // Without a body, the head and its end are queued together and the FIN follows
        // once they are written (`head_written`).
        let queued = stream.queue_head(head, !self.has_body);
        self.phase = Phase::Asked { stream };
        match queued {
            Ok(Some(head)) if safe_method(&head.method) => self.replay.head = Some(head),
            Ok(_) => {}
            Err(err) => return self.fail(err, ctx),
        }
        ctx.notify_later(AnswerDeadline, self.limits.response_timeout);
        ctx.spawn(FlushUp.map(|written, actor: &mut Self, ctx| actor.head_written(written, ctx)));
        ctx.spawn(ReadDown.map(|read, actor: &mut Self, ctx| actor.on_answer_head(read, ctx)));
        if self.has_body {
            let feeding = upload::feed(payload, ctx.address(), self.limits.body_timeout);
            ctx.spawn(feeding.into_actor(self));
        }
    }
}

impl RequestActor {
    /// The head is written: without a body, the request is complete (FIN).
    fn head_written(&mut self, written: Option<Result<(), TunnelError>>, ctx: &mut Context<Self>) {
        match written {
            Some(Ok(())) if !self.has_body => {
                if let Some(stream) = self.phase.stream() {
                    stream.finish();
                }
            }
            Some(Err(err)) if matches!(self.phase, Phase::Asked { .. }) => {
                self.fail(ProxyError::StreamBroke(err), ctx);
            }
            _ => {}
        }
    }
}

/// The response timeout ran out: too late for the answer's head if it has not come.
#[derive(Message)]
#[rtype(result = "()")]
struct AnswerDeadline;

impl Handler<AnswerDeadline> for RequestActor {
    type Result = ();

    fn handle(&mut self, _: AnswerDeadline, ctx: &mut Self::Context) {
        if matches!(self.phase, Phase::Asked { .. }) {
            self.fail(ProxyError::Timeout(self.limits.response_timeout), ctx);
        }
    }
}

/// The handler let go of the request: the answer was sent, or the visitor went away.
/// Whatever is still open of the stream is reset both ways (the agent cancels its local
/// request), and the actor stops.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Cancel {
    /// The handler had asked for the answer's body.
    pub(crate) body_asked: bool,
}

impl Handler<Cancel> for RequestActor {
    type Result = ();

    fn handle(&mut self, Cancel { body_asked }: Cancel, ctx: &mut Self::Context) {
        let asked = matches!(self.phase, Phase::Asked { .. });
        if let Some(stream) = self.phase.stream() {
            let uploading = !stream.request_done();
            if uploading || !stream.answer_done() {
                stream.cancel();
                // Not counted: an answer let go unread (a HEAD, 204 or 304 needs no body).
                if uploading || asked || body_asked {
                    self.metrics.reset("visitor_gone");
                    info!(self.log, "visitor went away: request stream reset");
                }
            }
        }
        ctx.stop();
    }
}

/// Writes what is queued on the request's stream, in place; `None` once the request has
/// no stream any more.
pub(super) struct FlushUp;

impl ActorFuture<RequestActor> for FlushUp {
    type Output = Option<Result<(), TunnelError>>;

    fn poll(
        self: Pin<&mut Self>,
        actor: &mut RequestActor,
        _ctx: &mut Context<RequestActor>,
        task: &mut task::Context<'_>,
    ) -> Poll<Self::Output> {
        match actor.phase.stream() {
            Some(stream) => stream.poll_flush(task).map(Some),
            None => Poll::Ready(None),
        }
    }
}
