//! One actor per visitor request: opens a stream on the domain's session, sends the head,
//! streams the visitor's body up, and hands the agent's answer back to the handler. It lives
//! as long as the answer is being streamed to the visitor; when the visitor goes away it
//! stops, and the tunnel stream is reset in both directions.

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
use hopgate_protocol::{EndOfBody, Frame, RequestHead, ResetCode, ResponseHead};
use hopgate_transport::{RecvStream, SendStream};
use hopgate_tunnel::{FrameReader, FrameWriter, TunnelError};
use slog::{Logger, debug};
use tokio::sync::oneshot;

use crate::{metrics::Metrics, routing::SessionHandle, session_actor::limits};

/// Stream reset code the gateway uses when the visitor went away.
const CANCELLED: u32 = 1;

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
        let session = self.handle.session.clone();
        let has_body = self.has_body;
        let timeout = self.response_timeout;
        let log = self.log.clone();
        let metrics = self.metrics.clone();
        let upload_metrics = self.metrics.clone();
        let (upload_tx, upload_rx) = oneshot::channel();
        let exchange = async move {
            let (send, recv) = session
                .open_stream()
                .await
                .map_err(|e| ProxyError::AgentGone(e.to_string()))?;
            let mut writer = FrameWriter::new(send, limits());
            let gone = |e: TunnelError| ProxyError::AgentGone(e.to_string());
            writer
                .queue(&Frame::RequestHead(head))
                .map_err(|e| ProxyError::HeadTooLarge(e.to_string()))?;
            if has_body {
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
            let mut reader = FrameReader::new(recv, limits());
            match tokio::time::timeout(timeout, reader.next()).await {
                Err(_) => Err(ProxyError::Timeout(timeout)),
                Ok(Ok(Some(Frame::ResponseHead(head)))) => Ok(Upstream { head, body: reader }),
                Ok(Ok(Some(Frame::Reset(reset)))) => {
                    metrics.reset(reset.code.as_str());
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
        };
        // The visitor's body goes up in its own task (the payload is this thread's), so an
        // early answer (say 413) isn't held back by an unfinished upload. Without a body
        // there is nothing to wait for: no task (one less spawn per GET).
        if has_body {
            self.upload = Some(actix::spawn(async move {
                let Ok(writer) = upload_rx.await else { return };
                let mut guard = ResetOnDrop(Some(writer), upload_metrics);
                match upload(&mut guard, payload).await {
                    Ok(()) => {
                        if let Some(mut writer) = guard.0.take() {
                            let _ = writer.get_mut().finish();
                        }
                    }
                    Err(err) => debug!(log, "request body not delivered"; "error" => %err),
                }
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

async fn upload(guard: &mut ResetOnDrop, mut payload: Payload) -> Result<(), String> {
    let metrics = guard.1.clone();
    let writer = guard.0.as_mut().ok_or("no writer")?;
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| format!("visitor's body: {e}"))?;
        metrics.bytes_in(chunk.len());
        writer.send_body(chunk).await.map_err(|e| e.to_string())?;
    }
    writer
        .send(&Frame::EndOfBody(EndOfBody::default()))
        .await
        .map_err(|e| e.to_string())
}
