//! The request stream as the agent drives it: every frame read from the gateway and every
//! frame written to it goes through the stream's rules ([`RequestSide`], [`ResponseSide`])
//! first, so a frame out of order is refused here, with a typed error, whoever sent it.
//!
//! The two directions are driven apart (the request body is watched while the answer is
//! written), so each owns its side; the request's head and a `101` answer are passed from
//! one to the other by [`Forwarder`](super::Forwarder).

use bytes::Bytes;
use hopgate_protocol::{
    BodyEvent, EndOfBody, Frame, Header, Limits, Opening, RequestHead, RequestSide, Reset,
    ResponseHead, ResponseSide, STREAM_CANCELLED, SideState, StreamError, Upgrade,
};
use hopgate_transport::{RecvStream, SendStream};
use hopgate_tunnel::{FrameReader, FrameWriter, TunnelError};

use super::GatewayError;

/// The gateway's direction of the stream: the request's head, then its body (or, after a
/// `101`, the visitor's bytes).
pub(super) struct RequestReader {
    frames: FrameReader<RecvStream>,
    side: RequestSide,
}

impl RequestReader {
    pub(super) fn new(recv: RecvStream, limits: Limits) -> Self {
        Self {
            frames: FrameReader::new(recv, limits),
            side: RequestSide::new(),
        }
    }

    /// The request's head (or the gateway's reset); `None` if the gateway finished the
    /// stream without sending anything.
    pub(super) async fn head(&mut self) -> Result<Option<Opening<RequestHead>>, GatewayError> {
        match self.frames.next().await.map_err(GatewayError::Stream)? {
            Some(frame) => self.side.receive_head(frame).map(Some).map_err(refused),
            None => Ok(None),
        }
    }

    /// The next body frame; `None` once the gateway finished the stream after its
    /// `EndOfBody`. A stream that ends before `EndOfBody` was cancelled.
    pub(super) async fn next(&mut self) -> Result<Option<BodyEvent>, GatewayError> {
        match self.frames.next().await.map_err(GatewayError::Stream)? {
            Some(frame) => self.side.receive_body(frame).map(Some).map_err(refused),
            None => self.side.on_fin().map(|_| None).map_err(refused),
        }
    }

    /// What the answer did about a protocol switch: a `101` makes the rest a byte pipe.
    pub(super) fn learn_upgrade(&mut self, upgrade: Upgrade) {
        self.side.learn_upgrade(upgrade);
    }
}

/// A frame from the gateway that its direction's rules refuse.
fn refused(err: StreamError) -> GatewayError {
    match err {
        StreamError::EndedEarly {
            state: SideState::Pipe,
        } => GatewayError::Cancelled("the stream ended before the visitor closed its side".into()),
        StreamError::EndedEarly { .. } => {
            GatewayError::Cancelled("the stream ended before EndOfBody".into())
        }
        other => GatewayError::Violation(other),
    }
}

/// Why a frame for the gateway was not written.
#[derive(Debug, thiserror::Error)]
pub(super) enum WriteError {
    /// The stream's rules refuse it where the answer is: nothing was written.
    #[error("{0}")]
    Refused(#[source] StreamError),
    /// The stream failed.
    #[error("{0}")]
    Stream(#[source] TunnelError),
}

/// The agent's direction of the stream: the answer's head, body and end, or a reset.
pub(super) struct ResponseWriter {
    frames: FrameWriter<SendStream>,
    side: ResponseSide,
}

impl ResponseWriter {
    pub(super) fn new(send: SendStream, limits: Limits) -> Self {
        Self {
            frames: FrameWriter::new(send, limits),
            side: ResponseSide::new(),
        }
    }

    /// The request being answered: a `101` is allowed if it asks a protocol switch.
    pub(super) fn answering(&mut self, request: &RequestHead) {
        self.side.learn_request(request);
    }

    /// What the answer did about a protocol switch.
    pub(super) fn upgrade(&self) -> Upgrade {
        self.side.upgrade()
    }

    /// Queues the answer's head, to leave with what follows.
    pub(super) fn queue_head(&mut self, head: ResponseHead) -> Result<(), WriteError> {
        self.side.on_head(&head).map_err(WriteError::Refused)?;
        self.frames
            .queue(&Frame::ResponseHead(head))
            .map_err(WriteError::Stream)
    }

    /// Sends the answer's head now.
    pub(super) async fn send_head(&mut self, head: ResponseHead) -> Result<(), WriteError> {
        self.queue_head(head)?;
        self.flush().await
    }

    /// Queues body bytes (waiting only when the queue is full).
    pub(super) async fn queue_body(&mut self, data: Bytes) -> Result<(), WriteError> {
        self.side.on_data().map_err(WriteError::Refused)?;
        self.frames
            .queue_body(data)
            .await
            .map_err(WriteError::Stream)
    }

    /// Sends body bytes now.
    pub(super) async fn send_body(&mut self, data: Bytes) -> Result<(), WriteError> {
        self.side.on_data().map_err(WriteError::Refused)?;
        self.frames
            .send_body(data)
            .await
            .map_err(WriteError::Stream)
    }

    /// Writes out what is queued.
    pub(super) async fn flush(&mut self) -> Result<(), WriteError> {
        self.frames.flush().await.map_err(WriteError::Stream)
    }

    /// Ends the answer: `EndOfBody` (with `trailers`), then FIN.
    pub(super) async fn end(&mut self, trailers: Vec<Header>) -> Result<(), WriteError> {
        self.side.on_end().map_err(WriteError::Refused)?;
        self.frames
            .send(&Frame::EndOfBody(EndOfBody { trailers }))
            .await
            .map_err(WriteError::Stream)?;
        self.side.on_fin().map_err(WriteError::Refused)?;
        self.frames
            .get_mut()
            .finish()
            .map_err(|e| WriteError::Stream(TunnelError::Io(e.into())))
    }

    /// Tells the gateway why the exchange ends (a `Reset`, then FIN), if the stream still
    /// takes it.
    pub(super) async fn reset(&mut self, reset: Reset) {
        if self.side.on_reset().is_err() {
            return;
        }
        if self.frames.send(&Frame::Reset(reset)).await.is_ok() {
            let _ = self.side.on_fin();
            let _ = self.frames.get_mut().finish();
        }
    }

    /// Abandons the stream at the transport level, for when the gateway's side is gone.
    pub(super) fn abandon(&mut self) {
        self.side.abandon();
        self.frames.get_mut().reset(STREAM_CANCELLED);
    }
}
