//! The handler's side of a request actor: [`RequestHandle`] starts the actor, asks for the
//! answer's head ([`AwaitAnswer`]) and then for its body piece by piece
//! ([`NextAnswerChunk`]: bytes, and at the end the answer's trailer fields); the actor
//! reads the agent's frames only when asked, so a slow visitor slows the agent (through
//! the stream's flow control) and nothing piles up. Dropping the handle sends [`Cancel`].

use std::{
    io,
    pin::Pin,
    task::{self, Poll, ready},
};

use actix::prelude::*;
use hopgate_protocol::{FrameType, ResponseHead, SideState, StreamError};
use tokio::sync::oneshot;

use crate::{
    tunnel::{
        request_actor::{Cancel, Request, RequestActor},
        request_error::ProxyError,
        request_phase::{AnswerSlot, Phase},
        request_stream::Incoming,
    },
    upstream::BodyItem,
};

/// The handler's hold on a request carried by a [`RequestActor`]: the actor stops (and
/// what is left of its stream is reset) when the handle is dropped.
pub(crate) struct RequestHandle {
    actor: Addr<RequestActor>,
}

impl RequestHandle {
    /// Starts carrying `request` on the current worker (the visitor's body is this
    /// thread's).
    pub(crate) fn start(request: Request) -> Self {
        Self {
            actor: RequestActor::new(request).start(),
        }
    }

    /// The answer's head, or why none came; `None` if the actor ended without one.
    pub(crate) async fn answer(&self) -> Option<Result<ResponseHead, ProxyError>> {
        self.actor.send(AwaitAnswer).await.ok()?.await.ok()
    }

    /// The next piece of the answer's body: bytes, or its end with the trailer fields;
    /// `None` once it is over.
    pub(crate) async fn next_chunk(&self) -> Option<io::Result<BodyItem>> {
        match self.actor.send(NextAnswerChunk).await {
            Ok(next) => next,
            Err(_) => Some(Err(io::Error::other("the request ended under its answer"))),
        }
    }
}

impl Drop for RequestHandle {
    fn drop(&mut self) {
        // The handle waits for each answer it sends: the mailbox has room for this one.
        let _ = self.actor.try_send(Cancel);
    }
}

/// The handler waits for the answer's head.
#[derive(Message)]
#[rtype(result = "oneshot::Receiver<Result<ResponseHead, ProxyError>>")]
struct AwaitAnswer;

impl Handler<AwaitAnswer> for RequestActor {
    type Result = MessageResult<AwaitAnswer>;

    fn handle(&mut self, _: AwaitAnswer, _ctx: &mut Self::Context) -> Self::Result {
        let (waiter, answer) = oneshot::channel();
        match std::mem::replace(&mut self.answer, AnswerSlot::Given) {
            AnswerSlot::Known(known) => {
                let _ = waiter.send(known);
            }
            AnswerSlot::Empty => self.answer = AnswerSlot::Awaited(waiter),
            // Asked twice: the second ask gets nothing.
            AnswerSlot::Awaited(first) => self.answer = AnswerSlot::Awaited(first),
            AnswerSlot::Given => {}
        }
        MessageResult(answer)
    }
}

/// The handler asks for the next piece of the answer's body.
#[derive(Message)]
#[rtype(result = "Option<io::Result<BodyItem>>")]
struct NextAnswerChunk;

impl Handler<NextAnswerChunk> for RequestActor {
    type Result = ResponseActFuture<Self, Option<io::Result<BodyItem>>>;

    fn handle(&mut self, _: NextAnswerChunk, _ctx: &mut Self::Context) -> Self::Result {
        let now = match self.phase {
            Phase::Answered { .. } => {
                self.streaming = true;
                return Box::pin(
                    ReadDown.map(|read, actor: &mut Self, ctx| actor.on_answer_body(read, ctx)),
                );
            }
            Phase::Over { .. } => None,
            _ => Some(Err(io::Error::other("the answer was cut off"))),
        };
        Box::pin(fut::ready(now))
    }
}

/// Reads the next frame of the answer, in place; `None` once the request has no stream.
/// The agent's FIN that comes with the answer's end is taken at once.
pub(super) struct ReadDown;

impl ActorFuture<RequestActor> for ReadDown {
    type Output = Option<Result<Option<Incoming>, ProxyError>>;

    fn poll(
        self: Pin<&mut Self>,
        actor: &mut RequestActor,
        _ctx: &mut Context<RequestActor>,
        task: &mut task::Context<'_>,
    ) -> Poll<Self::Output> {
        let Some(stream) = actor.phase.stream() else {
            return Poll::Ready(None);
        };
        let read = ready!(stream.poll_incoming(task));
        if let Ok(Some(Incoming::End(_))) = read
            && let Err(err) = stream.take_fin(task)
            && let Some(reason) = err.protocol_reason()
        {
            // The answer is whole; what came after its end is refused.
            actor.metrics.reset(reason);
            slog::info!(actor.log, "frame after the answer's end"; "error" => %err);
            stream.cancel();
        }
        Poll::Ready(Some(read))
    }
}

impl RequestActor {
    /// The first frame of the answer: its head, or a reset, or a violation.
    pub(super) fn on_answer_head(
        &mut self,
        read: Option<Result<Option<Incoming>, ProxyError>>,
        ctx: &mut Context<Self>,
    ) {
        let Some(read) = read else { return };
        if !matches!(self.phase, Phase::Asked { .. }) {
            return;
        }
        // The rules refuse anything but a head or a reset first; the rest is their word.
        let refused = |frame| StreamError::Unexpected {
            frame,
            state: SideState::AwaitingHead,
        };
        let err = match read {
            Ok(Some(Incoming::Head(head))) => {
                self.phase.advance();
                return self.deliver(Ok(head), ctx);
            }
            Ok(Some(Incoming::Reset(reset))) => {
                self.metrics.reset(reset.code.as_str());
                ProxyError::AgentReset {
                    code: reset.code,
                    message: reset.message,
                }
            }
            Ok(Some(Incoming::Data(_))) => ProxyError::Violation(refused(FrameType::BodyChunk)),
            Ok(Some(Incoming::End(_))) => ProxyError::Violation(refused(FrameType::EndOfBody)),
            Ok(None) => ProxyError::Violation(StreamError::EndedEarly {
                state: SideState::AwaitingHead,
            }),
            Err(err) => err,
        };
        self.fail(err, ctx);
    }

    /// A frame of the answer's body, for the handler: its end comes as the trailer fields
    /// (maybe none), the handler's last item.
    fn on_answer_body(
        &mut self,
        read: Option<Result<Option<Incoming>, ProxyError>>,
        ctx: &mut Context<Self>,
    ) -> Option<io::Result<BodyItem>> {
        let Some(read) = read else {
            return Some(Err(io::Error::other("the answer was cut off")));
        };
        let err = match read {
            Ok(Some(Incoming::Data(data))) => {
                self.metrics.bytes_out(data.len());
                return Some(Ok(BodyItem::Data(data)));
            }
            Ok(Some(Incoming::End(trailers))) => {
                self.phase.advance();
                self.stop_if_done(ctx);
                return Some(Ok(BodyItem::Trailers(trailers)));
            }
            Ok(None) => {
                self.phase.advance();
                self.stop_if_done(ctx);
                return None;
            }
            Ok(Some(Incoming::Reset(reset))) => {
                self.metrics.reset(reset.code.as_str());
                io::Error::other(format!("agent reset the response: {}", reset.message))
            }
            // The rules refuse a second head: it can't come here.
            Ok(Some(Incoming::Head(_))) => io::Error::other("a second answer's head"),
            Err(err) => {
                if let Some(reason) = err.protocol_reason() {
                    self.metrics.reset(reason);
                }
                io::Error::other(err)
            }
        };
        self.abandon();
        Some(Err(err))
    }
}
