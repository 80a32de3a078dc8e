//! The visitor's body on its way up a request's stream. [`feed`] reads the body at the
//! visitor's pace and hands it to the request actor one chunk at a time
//! ([`VisitorChunk`], answered once the chunk is written: waiting for the agent to take it
//! is back-pressure, not a stall), then says how it ended: [`VisitorBodyEnded`] (with the
//! trailer fields of an HTTP/2 request; an HTTP/1.1 chunked body's are not kept),
//! [`VisitorBodyFailed`], or [`BodyStalled`] when no chunk came for `body_timeout` (the
//! stream is reset, and the visitor gets 408 unless the answer has started). An upgraded
//! connection (WebSocket) may stay idle: its bytes have no progress timeout.

use std::time::Duration;

use actix::prelude::*;
use actix_web::{error::PayloadError, web::Payload};
use bytes::Bytes;
use futures_util::StreamExt;
use hopgate_protocol::Header;
use slog::{debug, info};

use crate::{
    http::trailers,
    tunnel::{
        request_actor::{FlushUp, RequestActor},
        request_error::ProxyError,
        request_phase::Phase,
        request_stream::{Refused, RefusedBy},
    },
};

/// Reads `payload` and hands it to `actor` until it ends, fails or stalls for
/// `stall_limit` (`None`: no limit), or the actor takes no more.
pub(super) async fn feed(
    payload: Payload,
    actor: Addr<RequestActor>,
    stall_limit: Option<Duration>,
) {
    // actix-http's own payload: it keeps an HTTP/2 request's trailer fields.
    let mut payload = payload.into_inner();
    loop {
        // Only the visitor's pace is timed.
        let next = match stall_limit {
            Some(limit) => match tokio::time::timeout(limit, payload.next()).await {
                Ok(next) => next,
                Err(_) => {
                    let _ = actor.send(BodyStalled(limit)).await;
                    return;
                }
            },
            None => payload.next().await,
        };
        match next {
            Some(Ok(chunk)) => {
                if !matches!(actor.send(VisitorChunk(chunk)).await, Ok(Ok(()))) {
                    return;
                }
            }
            Some(Err(err)) => {
                let _ = actor.send(VisitorBodyFailed(err)).await;
                return;
            }
            None => {
                let fields = payload.take_trailers();
                let trailers = fields.as_ref().map(trailers::for_agent);
                let _ = actor
                    .send(VisitorBodyEnded(trailers.unwrap_or_default()))
                    .await;
                return;
            }
        }
    }
}

/// The request's stream takes no more of the visitor's body (reset, or broken).
#[derive(Debug)]
pub(super) struct UploadStopped;

/// A chunk of the visitor's body: answered once it is written to the stream.
#[derive(Message)]
#[rtype(result = "Result<(), UploadStopped>")]
struct VisitorChunk(Bytes);

impl Handler<VisitorChunk> for RequestActor {
    type Result = ResponseActFuture<Self, Result<(), UploadStopped>>;

    fn handle(
        &mut self,
        VisitorChunk(data): VisitorChunk,
        _ctx: &mut Self::Context,
    ) -> Self::Result {
        self.metrics.bytes_in(data.len());
        self.replay.body_sent |= !data.is_empty();
        let queued = match self.phase.stream() {
            Some(stream) => stream.queue_data(data).is_ok(),
            None => false,
        };
        if !queued {
            return Box::pin(fut::ready(Err(UploadStopped)));
        }
        Box::pin(FlushUp.map(|written, _, _| match written {
            Some(Ok(())) => Ok(()),
            _ => Err(UploadStopped),
        }))
    }
}

/// The visitor's body ended, with these trailer fields: its end and the FIN go up.
#[derive(Message)]
#[rtype(result = "()")]
struct VisitorBodyEnded(Vec<Header>);

impl Handler<VisitorBodyEnded> for RequestActor {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(
        &mut self,
        VisitorBodyEnded(trailers): VisitorBodyEnded,
        ctx: &mut Self::Context,
    ) -> Self::Result {
        let had_trailers = !trailers.is_empty();
        let queued = self.phase.stream().map(|stream| stream.queue_end(trailers));
        match queued {
            Some(Ok(())) => self.replay.body_ended = !had_trailers,
            Some(Err(Refused(RefusedBy::Encoder(too_large)))) => {
                info!(self.log, "request trailers too large: stream reset");
                self.end_upload(ProxyError::TrailersTooLarge(too_large), ctx);
                return Box::pin(fut::ready(()));
            }
            // The exchange was reset meanwhile.
            Some(Err(_)) | None => return Box::pin(fut::ready(())),
        }
        Box::pin(FlushUp.map(|written, actor: &mut Self, ctx| {
            if let (Some(Ok(())), Some(stream)) = (written, actor.phase.stream()) {
                stream.finish();
            }
            actor.stop_if_done(ctx);
        }))
    }
}

/// The visitor's body broke off (the visitor went away mid-body, or sent a bad one).
#[derive(Message)]
#[rtype(result = "()")]
struct VisitorBodyFailed(PayloadError);

impl Handler<VisitorBodyFailed> for RequestActor {
    type Result = ();

    fn handle(&mut self, VisitorBodyFailed(err): VisitorBodyFailed, ctx: &mut Self::Context) {
        debug!(self.log, "request body not delivered"; "error" => %err);
        self.metrics.reset("visitor_gone");
        self.end_upload(ProxyError::BodyFailed(err), ctx);
    }
}

/// No chunk of the visitor's body came for this long.
#[derive(Message)]
#[rtype(result = "()")]
struct BodyStalled(Duration);

impl Handler<BodyStalled> for RequestActor {
    type Result = ();

    fn handle(&mut self, BodyStalled(after): BodyStalled, ctx: &mut Self::Context) {
        self.metrics.rejected("body_stalled");
        info!(self.log, "request body stalled: stream reset";
            "after_ms" => after.as_millis() as u64);
        self.end_upload(ProxyError::BodyStalled(after), ctx);
    }
}

impl RequestActor {
    /// The visitor's body can't go up whole: the stream is reset both ways; before the
    /// answer's head the handler gets `err`, after it the answer's body is cut off.
    fn end_upload(&mut self, err: ProxyError, ctx: &mut Context<Self>) {
        match self.phase {
            Phase::Asked { .. } => self.fail(err, ctx),
            _ => self.abandon(),
        }
    }
}
