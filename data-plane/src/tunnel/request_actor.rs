//! One actor per visitor request: opens a stream on the domain's session, sends the head,
//! streams the visitor's body up, and hands the agent's answer back to the handler. It lives
//! as long as the answer is being streamed to the visitor; when the visitor goes away it
//! stops, and the tunnel stream is reset in both directions.
//!
//! Two limits keep one domain's trouble from hanging its visitors: a stream must come free
//! on the session within `stream_wait` (else 503), and an ordinary request's body that
//! makes no progress for `body_timeout` is cut: the stream is reset (the agent cancels its
//! local request) and the visitor gets 408 unless the answer has started. An upgraded
//! connection (WebSocket) may stay idle: its upward pipe has no progress timeout.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix::prelude::*;
use actix_web::web::Payload;
use futures_util::StreamExt;
use hopgate_protocol::{
    EndOfBody, Frame, Limits, RequestHead, ResetCode, ResponseHead, STREAM_CANCELLED as CANCELLED,
};
use hopgate_transport::{RecvStream, SendStream, Session};
use hopgate_tunnel::{FrameReader, FrameWriter, TunnelError};
use slog::{Logger, debug, info};
use tokio::sync::oneshot;

use crate::{ops::metrics::Metrics, tunnel::routing::SessionHandle};

/// Why a request could not be answered by the agent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The agent's session failed under the request (upstream side).
    #[error("the agent's session failed: {0}")]
    AgentGone(String),
    /// The agent answered with a reset: it couldn't reach its local service, etc.
    #[error("{message}")]
    AgentReset { code: ResetCode, message: String },
    /// No response head in time.
    #[error("the agent didn't answer within {0:?}")]
    Timeout(Duration),
    /// Every stream of the agent's session stayed busy (the domain is overloaded).
    #[error("the agent's connection had no free stream within {0:?}")]
    NoStream(Duration),
    /// The visitor's body made no progress (visitor side).
    #[error("the request body made no progress for {0:?}")]
    BodyStalled(Duration),
    /// The request's head doesn't fit one frame (visitor side).
    #[error("the request's headers are too large to carry: {0}")]
    HeadTooLarge(String),
    /// The agent broke the tunnel protocol.
    #[error("the agent sent an invalid answer: {0}")]
    Protocol(String),
}

/// What the agent answered: its head and the rest of the stream.
pub(crate) struct Upstream {
    pub(crate) head: ResponseHead,
    pub(crate) body: FrameReader<RecvStream>,
}

pub(crate) struct RequestActor {
    pub(crate) head: Option<RequestHead>,
    pub(crate) payload: Option<Payload>,
    /// Whether the visitor's request has a body to stream up.
    pub(crate) has_body: bool,
    pub(crate) handle: SessionHandle,
    pub(crate) reply: Option<oneshot::Sender<Result<Upstream, ProxyError>>>,
    pub(crate) response_timeout: Duration,
    /// How long to wait for a free stream on the session.
    pub(crate) stream_wait: Duration,
    /// How long the visitor's body may make no progress; `None`: no limit (an upgrade).
    pub(crate) body_timeout: Option<Duration>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) upload: Option<tokio::task::JoinHandle<()>>,
    pub(crate) log: Logger,
}

impl Actor for RequestActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let (Some(head), Some(payload)) = (self.head.take(), self.payload.take()) else {
            ctx.stop();
            return;
        };
        let (upload_tx, upload_rx) = oneshot::channel();
        // The upload tells the exchange when the visitor's body stalled; it is dropped
        // unsent otherwise (and at once when there is no body).
        let (stalled_tx, stalled_rx) = oneshot::channel();
        let exchange = Exchange {
            session: self.handle.session.clone(),
            has_body: self.has_body,
            response_timeout: self.response_timeout,
            stream_wait: self.stream_wait,
            metrics: self.metrics.clone(),
        }
        .run(head, upload_tx, stalled_rx);
        // The visitor's body goes up in its own task (the payload is this thread's), so an
        // early answer (say 413) isn't held back by an unfinished upload. Without a body
        // there is nothing to wait for: no task (one less spawn per GET).
        if self.has_body {
            let upload = Upload {
                stall_limit: self.body_timeout,
                metrics: self.metrics.clone(),
                log: self.log.clone(),
            };
            self.upload = Some(actix::spawn(async move {
                let Ok(writer) = upload_rx.await else { return };
                upload.run(writer, payload, stalled_tx).await;
            }));
        }
        ctx.spawn(exchange.into_actor(self).map(|result, actor, ctx| {
            let delivered = actor
                .reply
                .take()
                .is_some_and(|reply| reply.send(result).is_ok());
            if !delivered {
                // The visitor went away while we waited.
                ctx.stop();
            }
        }));
    }

    fn stopping(&mut self, _ctx: &mut Self::Context) -> Running {
        if let Some(upload) = self.upload.take() {
            upload.abort();
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
        Running::Stop
    }
}

/// The request's way to the agent and back, up to the answer's head.
struct Exchange {
    session: Session,
    has_body: bool,
    response_timeout: Duration,
    stream_wait: Duration,
    metrics: Arc<Metrics>,
}

impl Exchange {
    /// Opens the stream, sends the head (handing the writer to the upload when there is a
    /// body) and waits for the agent's answer, or for the upload to report a stalled body.
    async fn run(
        self,
        head: RequestHead,
        upload_tx: oneshot::Sender<FrameWriter<SendStream>>,
        stalled_rx: oneshot::Receiver<Duration>,
    ) -> Result<Upstream, ProxyError> {
        let opened = tokio::time::timeout(self.stream_wait, self.session.open_stream()).await;
        let Ok(opened) = opened else {
            self.metrics.rejected("stream_wait");
            return Err(ProxyError::NoStream(self.stream_wait));
        };
        let (send, recv) = opened.map_err(|e| ProxyError::AgentGone(e.to_string()))?;
        let mut writer = FrameWriter::new(send, Limits::default());
        let gone = |e: TunnelError| ProxyError::AgentGone(e.to_string());
        writer
            .queue(&Frame::RequestHead(head))
            .map_err(|e| ProxyError::HeadTooLarge(e.to_string()))?;
        if self.has_body {
            writer.flush().await.map_err(gone)?;
            let _ = upload_tx.send(writer);
        } else {
            // No body: head, end and FIN leave together.
            writer
                .queue(&Frame::EndOfBody(EndOfBody::default()))
                .map_err(gone)?;
            writer.flush().await.map_err(gone)?;
            let _ = writer.get_mut().finish();
        }
        let mut reader = FrameReader::new(recv, Limits::default());
        let timeout = self.response_timeout;
        let first = tokio::select! {
            // A stalled body wins over what the agent does about the reset it caused.
            biased;
            Ok(after) = stalled_rx => {
                // The upload resets our half; tell the agent to stop sending too.
                reader.get_mut().stop(CANCELLED);
                return Err(ProxyError::BodyStalled(after));
            }
            first = tokio::time::timeout(timeout, reader.next()) => first,
        };
        match first {
            Err(_) => Err(ProxyError::Timeout(timeout)),
            Ok(Ok(Some(Frame::ResponseHead(head)))) => Ok(Upstream { head, body: reader }),
            Ok(Ok(Some(Frame::Reset(reset)))) => {
                self.metrics.reset(reset.code.as_str());
                Err(ProxyError::AgentReset {
                    code: reset.code,
                    message: reset.message,
                })
            }
            Ok(Ok(Some(other))) => Err(ProxyError::Protocol(format!(
                "expected a response head, got {}",
                other.frame_type().name()
            ))),
            Ok(Ok(None)) => Err(ProxyError::Protocol(
                "stream ended before a response".into(),
            )),
            Ok(Err(TunnelError::Io(err))) => Err(ProxyError::AgentGone(err.to_string())),
            Ok(Err(err)) => Err(ProxyError::Protocol(err.to_string())),
        }
    }
}

/// The visitor's body on its way up the stream.
struct Upload {
    /// No progress for this long cuts the body; `None`: no limit.
    stall_limit: Option<Duration>,
    metrics: Arc<Metrics>,
    log: Logger,
}

/// Why an upload ended early.
enum UploadError {
    /// No chunk from the visitor for this long.
    Stalled(Duration),
    /// The visitor's body or the stream failed.
    Failed(String),
}

impl Upload {
    /// Streams `payload` up `writer` and ends it; a stalled body resets the stream and is
    /// reported on `stalled_tx`.
    async fn run(
        self,
        writer: FrameWriter<SendStream>,
        payload: Payload,
        stalled_tx: oneshot::Sender<Duration>,
    ) {
        let mut guard = ResetOnDrop(Some(writer), self.metrics.clone());
        match self.send_all(&mut guard, payload).await {
            Ok(()) => {
                if let Some(mut writer) = guard.0.take() {
                    let _ = writer.get_mut().finish();
                }
            }
            Err(UploadError::Stalled(after)) => {
                // The exchange hears of it before the agent can react to the reset.
                let _ = stalled_tx.send(after);
                if let Some(mut writer) = guard.0.take() {
                    writer.get_mut().reset(CANCELLED);
                }
                self.metrics.rejected("body_stalled");
                info!(self.log, "request body stalled: stream reset";
                    "after_ms" => after.as_millis() as u64);
            }
            Err(UploadError::Failed(err)) => {
                debug!(self.log, "request body not delivered"; "error" => %err);
            }
        }
    }

    async fn send_all(
        &self,
        guard: &mut ResetOnDrop,
        mut payload: Payload,
    ) -> Result<(), UploadError> {
        let failed = |e: TunnelError| UploadError::Failed(e.to_string());
        let writer = guard
            .0
            .as_mut()
            .ok_or_else(|| UploadError::Failed("no writer".into()))?;
        loop {
            // Only the visitor's pace is timed: waiting for the agent to take a chunk
            // (back-pressure) is not a stall.
            let next = match self.stall_limit {
                Some(limit) => tokio::time::timeout(limit, payload.next())
                    .await
                    .map_err(|_| UploadError::Stalled(limit))?,
                None => payload.next().await,
            };
            let Some(chunk) = next else { break };
            let chunk = chunk.map_err(|e| UploadError::Failed(format!("visitor's body: {e}")))?;
            self.metrics.bytes_in(chunk.len());
            writer.send_body(chunk).await.map_err(failed)?;
        }
        writer
            .send(&Frame::EndOfBody(EndOfBody::default()))
            .await
            .map_err(failed)
    }
}

/// Resets the request stream unless the upload completed (the visitor went away).
struct ResetOnDrop(Option<FrameWriter<SendStream>>, Arc<Metrics>);

impl Drop for ResetOnDrop {
    fn drop(&mut self) {
        if let Some(mut writer) = self.0.take() {
            writer.get_mut().reset(CANCELLED);
            self.1.reset("visitor_gone");
        }
    }
}
