//! The handler's side of a request actor: [`RequestHandle`] starts the actor, waits for the
//! answer's head on a oneshot the actor was given at its start, then takes the answer's
//! body from a channel of one piece that the actor fills ([`PumpDown`]): the actor reads
//! the agent's next frame only when the last piece was taken, so a slow visitor slows the
//! agent (through the stream's flow control) and nothing piles up. No message crosses the
//! actor's mailbox per answer frame. Dropping the handle sends [`Cancel`].

use std::{
    io,
    pin::Pin,
    task::{self, Poll, ready},
};

use actix::prelude::*;
use bytes::Bytes;
use futures_channel::mpsc;
use futures_util::StreamExt;
use hopgate_protocol::{FrameType, Header, ResponseHead, SideState, StreamError};
use tokio::sync::oneshot;

use crate::{
    tunnel::{
        request_actor::{Cancel, Request, RequestActor},
        request_error::ProxyError,
        request_phase::Phase,
        request_retry::Unanswered,
        request_stream::Incoming,
    },
    upstream::BodyItem,
};

/// One piece of the answer's body, from the actor to the handler.
pub(super) enum AnswerPiece {
    /// Body bytes.
    Data(Bytes),
    /// The body is whole; its trailer fields (none, mostly).
    End(Vec<Header>),
    /// The body broke off.
    Failed(io::Error),
}

/// The actor's ends of what it hands the handler.
pub(super) struct AnswerOut {
    /// The answer's head, or why none came.
    pub(super) head: Option<oneshot::Sender<Result<ResponseHead, Unanswered>>>,
    /// The answer's body, a piece at a time (`None` once ended).
    pub(super) body: Option<mpsc::Sender<AnswerPiece>>,
}

/// The handler's hold on a request carried by a [`RequestActor`]: the actor stops (and
/// what is left of its stream is reset) when the handle is dropped.
pub(crate) struct RequestHandle {
    actor: Addr<RequestActor>,
    head: Option<oneshot::Receiver<Result<ResponseHead, Unanswered>>>,
    body: mpsc::Receiver<AnswerPiece>,
    /// The body was asked for: a visitor leaving now left in the middle of it.
    body_asked: bool,
}

impl RequestHandle {
    /// Starts carrying `request` on the current worker (the visitor's body is this
    /// thread's).
    pub(crate) fn start(request: Request) -> Self {
        let (head_out, head) = oneshot::channel();
        // No buffer beyond the sender's one slot: one piece read ahead at most.
        let (body_out, body) = mpsc::channel(0);
        let out = AnswerOut {
            head: Some(head_out),
            body: Some(body_out),
        };
        Self {
            actor: RequestActor::new(request, out).start(),
            head: Some(head),
            body,
            body_asked: false,
        }
    }

    /// The answer's head, or why none came (with the request, if it may be retried);
    /// `None` if the actor ended without one (or it was asked for before).
    pub(crate) async fn answer(&mut self) -> Option<Result<ResponseHead, Unanswered>> {
        self.head.take()?.await.ok()
    }

    /// The next piece of the answer's body: bytes, or its end with the trailer fields
    /// (the last piece).
    pub(crate) async fn next_chunk(&mut self) -> Option<io::Result<BodyItem>> {
        self.body_asked = true;
        match self.body.next().await {
            Some(AnswerPiece::Data(data)) => Some(Ok(BodyItem::Data(data))),
            Some(AnswerPiece::End(trailers)) => Some(Ok(BodyItem::Trailers(trailers))),
            Some(AnswerPiece::Failed(err)) => Some(Err(err)),
            None => Some(Err(io::Error::other("the request ended under its answer"))),
        }
    }
}

impl Drop for RequestHandle {
    fn drop(&mut self) {
        // The handle sends nothing else: the mailbox has room for this one.
        let _ = self.actor.try_send(Cancel {
            body_asked: self.body_asked,
        });
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
        actor.poll_read_down(task)
    }
}

/// Moves the answer's body from the stream to the handler, a frame at a time, reading the
/// next one only when the handler took the last; ends with the body (its trailer fields
/// the last piece) or the request.
pub(super) struct PumpDown;

impl ActorFuture<RequestActor> for PumpDown {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        actor: &mut RequestActor,
        ctx: &mut Context<RequestActor>,
        task: &mut task::Context<'_>,
    ) -> Poll<()> {
        loop {
            let Some(out) = actor.out.body.as_mut() else {
                return Poll::Ready(());
            };
            if ready!(out.poll_ready(task)).is_err() {
                // The handler let go of the body; its Cancel follows.
                actor.out.body = None;
                return Poll::Ready(());
            }
            let read = ready!(actor.poll_read_down(task));
            let piece = actor.on_answer_body(read);
            let last = !matches!(piece, AnswerPiece::Data(_));
            if let Some(out) = actor.out.body.as_mut() {
                let _ = out.start_send(piece);
            }
            if last {
                actor.out.body = None;
                actor.stop_if_done(ctx);
                return Poll::Ready(());
            }
        }
    }
}

impl RequestActor {
    /// Reads the next frame of the answer; see [`ReadDown`].
    fn poll_read_down(
        &mut self,
        task: &mut task::Context<'_>,
    ) -> Poll<Option<Result<Option<Incoming>, ProxyError>>> {
        let Some(stream) = self.phase.stream() else {
            return Poll::Ready(None);
        };
        let read = ready!(stream.poll_incoming(task));
        if let Ok(Some(Incoming::End(_))) = read
            && let Err(err) = stream.take_fin(task)
            && let Some(reason) = err.protocol_reason()
        {
            // The answer is whole; what came after its end is refused.
            self.metrics.reset(reason);
            slog::info!(self.log, "frame after the answer's end"; "error" => %err);
            stream.cancel();
        }
        Poll::Ready(Some(read))
    }

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
                self.deliver(Ok(head), ctx);
                if matches!(self.phase, Phase::Answered { .. }) {
                    ctx.spawn(PumpDown);
                }
                return;
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

    /// A frame of the answer's body, as the piece the handler gets.
    fn on_answer_body(
        &mut self,
        read: Option<Result<Option<Incoming>, ProxyError>>,
    ) -> AnswerPiece {
        let Some(read) = read else {
            return AnswerPiece::Failed(io::Error::other("the answer was cut off"));
        };
        let err = match read {
            Ok(Some(Incoming::Data(data))) => {
                self.metrics.bytes_out(data.len());
                return AnswerPiece::Data(data);
            }
            Ok(Some(Incoming::End(trailers))) => {
                self.phase.advance();
                return AnswerPiece::End(trailers);
            }
            Ok(None) => {
                self.phase.advance();
                return AnswerPiece::End(Vec::new());
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
        AnswerPiece::Failed(err)
    }
}
