//! One request's stream as the gateway drives it: the frames it writes (the request) and
//! reads (the answer), every one checked by the stream's rules ([`Exchange`] at
//! [`End::Gateway`]) first, so an agent's frame out of order is a typed
//! [`StreamError`](hopgate_protocol::StreamError), whoever sent it.
//!
//! Nothing here waits: the owner (the request actor) queues frames, then drives the
//! writer and the reader from its own poll loop ([`RequestStream::poll_flush`],
//! [`RequestStream::poll_incoming`]), so both halves stay in the actor.

use std::task::{Context, Poll, ready};

use bytes::Bytes;
use hopgate_protocol::{
    End, EndOfBody, Exchange, Frame, Header, Limits, RequestHead, Reset, ResponseHead,
    STREAM_CANCELLED, SideState, StreamError,
};
use hopgate_transport::{RecvStream, SendStream};
use hopgate_tunnel::{FrameReader, FrameWriter, TunnelError};

use crate::tunnel::request_error::ProxyError;

/// What came from the agent, checked by the stream's rules.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// The answer's head.
    Head(ResponseHead),
    /// Body bytes (after a `101`, the switched protocol's bytes).
    Data(Bytes),
    /// The answer's end, with its trailer fields (none, mostly).
    End(Vec<Header>),
    /// The agent abandoned the exchange.
    Reset(Reset),
}

/// Why a frame was not written: the stream's rules refuse it where the request is (the
/// exchange was reset), or the frame can't be encoded.
#[derive(Debug, thiserror::Error)]
#[error("the request stream takes no more: {0}")]
pub(crate) struct Refused(#[source] pub(crate) RefusedBy);

/// What refused a frame.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RefusedBy {
    #[error(transparent)]
    Rules(#[from] hopgate_protocol::StreamError),
    #[error(transparent)]
    Encoder(#[from] TunnelError),
}

/// Both halves of a request's stream and the rules they follow.
pub(crate) struct RequestStream {
    up: FrameWriter<SendStream>,
    down: FrameReader<RecvStream>,
    rules: Exchange,
}

impl RequestStream {
    pub(crate) fn new(send: SendStream, recv: RecvStream) -> Self {
        Self {
            up: FrameWriter::new(send, Limits::default()),
            down: FrameReader::new(recv, Limits::default()),
            rules: Exchange::new(End::Gateway),
        }
    }

    /// Queues the request's head; with `ends`, its end too (no body follows).
    /// The head comes back once encoded (always `Some`), for whoever keeps it for a retry,
    /// without a copy.
    pub(crate) fn queue_head(
        &mut self,
        head: RequestHead,
        ends: bool,
    ) -> Result<Option<RequestHead>, ProxyError> {
        let frame = Frame::RequestHead(head);
        self.rules.send(&frame).map_err(ProxyError::Violation)?;
        self.up.queue(&frame).map_err(ProxyError::HeadTooLarge)?;
        if ends {
            let end = Frame::EndOfBody(EndOfBody::default());
            self.rules.send(&end).map_err(ProxyError::Violation)?;
            self.up.queue(&end).map_err(ProxyError::StreamBroke)?;
        }
        Ok(match frame {
            Frame::RequestHead(head) => Some(head),
            _ => None,
        })
    }

    /// Queues body bytes (not copied).
    pub(crate) fn queue_data(&mut self, data: Bytes) -> Result<(), Refused> {
        // The rules look at the frame's type only: no need to build it.
        self.rules
            .send(&Frame::BodyChunk(Bytes::new()))
            .map_err(|err| Refused(err.into()))?;
        self.up.push_body(data).map_err(|err| Refused(err.into()))
    }

    /// Queues the request's `EndOfBody` with its `trailers`; [`RequestStream::finish`] once
    /// it is written.
    pub(crate) fn queue_end(&mut self, trailers: Vec<Header>) -> Result<(), Refused> {
        let end = Frame::EndOfBody(EndOfBody { trailers });
        self.rules.send(&end).map_err(|err| Refused(err.into()))?;
        self.up.queue(&end).map_err(|err| Refused(err.into()))
    }

    /// Writes what is queued, as far as the stream takes it now.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TunnelError>> {
        self.up.poll_flush(cx)
    }

    /// Sends the FIN after the request's end (written first).
    pub(crate) fn finish(&mut self) {
        if self.rules.send_fin().is_ok() {
            let _ = self.up.get_mut().finish();
        }
    }

    /// The next frame from the agent, checked; `Ok(None)` once the agent finished its
    /// direction after the answer's end.
    pub(crate) fn poll_incoming(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Incoming>, ProxyError>> {
        let frame = match ready!(self.down.poll_next(cx)) {
            Ok(Some(frame)) => frame,
            Ok(None) => {
                let fin = self.rules.receive_fin().map_err(ProxyError::Violation);
                return Poll::Ready(fin.map(|_| None));
            }
            Err(err) => return Poll::Ready(Err(ProxyError::from_read(err))),
        };
        if let Err(err) = self.rules.receive(&frame) {
            return Poll::Ready(Err(ProxyError::Violation(err)));
        }
        // The rules let only these four through on the answer's direction.
        Poll::Ready(match frame {
            Frame::ResponseHead(head) => Ok(Some(Incoming::Head(head))),
            Frame::BodyChunk(data) => Ok(Some(Incoming::Data(data))),
            Frame::Reset(reset) => Ok(Some(Incoming::Reset(reset))),
            Frame::EndOfBody(end) => Ok(Some(Incoming::End(end.trailers))),
            other => Err(ProxyError::Violation(StreamError::Unexpected {
                frame: other.frame_type(),
                state: self.rules.response().state(),
            })),
        })
    }

    /// Reads the agent's FIN if it is already there (it normally comes with the answer's
    /// end), so the stream is let go of as fully read; never waits for it. Whatever else
    /// is already there is checked too: a frame after the end breaks the rules.
    pub(crate) fn take_fin(&mut self, cx: &mut Context<'_>) -> Result<(), ProxyError> {
        match self.down.poll_next(cx) {
            Poll::Pending => Ok(()),
            Poll::Ready(Ok(None)) => self.rules.receive_fin().map(drop),
            Poll::Ready(Ok(Some(frame))) => self.rules.receive(&frame).map(drop),
            Poll::Ready(Err(err)) => return Err(ProxyError::from_read(err)),
        }
        .map_err(ProxyError::Violation)
    }

    /// Abandons the exchange both ways at the transport level: the agent's reads and
    /// writes on the stream fail, and it cancels its local request.
    pub(crate) fn cancel(&mut self) {
        self.rules.abandon();
        self.up.get_mut().reset(STREAM_CANCELLED);
        self.down.get_mut().stop(STREAM_CANCELLED);
    }

    /// Whether the request's body ended (its end queued) or was abandoned.
    pub(crate) fn request_done(&self) -> bool {
        matches!(
            self.rules.request().state(),
            SideState::Ended | SideState::Finished | SideState::Reset
        )
    }

    /// Whether the answer came whole (its end), or was abandoned.
    pub(crate) fn answer_done(&self) -> bool {
        matches!(
            self.rules.response().state(),
            SideState::Ended | SideState::Finished | SideState::Reset
        )
    }
}
