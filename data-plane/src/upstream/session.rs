//! The agent's session on this pod as an upstream: a [`RequestActor`] opens a stream on the
//! session, sends the head and the visitor's body up and hands back the agent's answer; its
//! body frames come back as bytes, the actor kept alive by the body until the answer ends.

use std::sync::Arc;

use actix::Actor;
use actix_web::{HttpRequest, web};
use futures_util::FutureExt;
use hopgate_protocol::{Encoder, Frame, RequestHead};
use hopgate_transport::RecvStream;
use hopgate_tunnel::FrameReader;
use slog::{Logger, info, o};

use crate::{
    http::request,
    ops::metrics::Metrics,
    tunnel::{
        request_actor::{RequestActor, Upstream as AgentAnswer},
        routing::SessionHandle,
    },
    upstream::{Answer, AppState, Body, Failure},
};

/// Carries `head` (and the request's body) through the session `handle`: the visitor's
/// request here, or one another pod relayed. `upgrade`: the visitor asked for a WebSocket
/// switch.
pub(super) async fn exchange(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    handle: SessionHandle,
    host: &str,
    head: RequestHead,
    upgrade: bool,
) -> Result<Answer, Failure> {
    let log = state.log.new(
        o!("domain" => host.to_owned(), "session_id" => handle.id, "request_id" => head.request_id.clone()),
    );
    fits_one_frame(&head, &log)?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let actor = RequestActor {
        head: Some(head),
        payload: Some(payload),
        // After a protocol switch the visitor's bytes flow up until it closes its side.
        has_body: upgrade || request::has_body(req),
        handle,
        reply: Some(reply),
        response_timeout: state.response_timeout,
        stream_wait: state.stream_wait,
        // A WebSocket may idle: only an ordinary body has to keep coming.
        body_timeout: (!upgrade).then_some(state.body_timeout),
        in_flight: state.in_flight.clone(),
        metrics: state.metrics.clone(),
        upload: None,
        log: log.clone(),
    }
    .start();
    match answer.await {
        Ok(Ok(AgentAnswer { head, body })) => Ok(Answer {
            head,
            body: agent_body(body, actor, state.metrics.clone()),
        }),
        Ok(Err(err)) => {
            info!(log, "request failed"; "error" => %err);
            Err(Failure::Session(err))
        }
        Err(_) => Err(Failure::Abandoned),
    }
}

/// The head must fit one frame: what can't be carried is refused (431) before a stream
/// opens, measured exactly as the frame will be encoded.
fn fits_one_frame(head: &RequestHead, log: &Logger) -> Result<(), Failure> {
    match Encoder::default().check_request_head(head) {
        Ok(()) => Ok(()),
        Err(err) => {
            info!(log, "request head too large"; "error" => %err);
            Err(Failure::HeadTooLarge)
        }
    }
}

/// The agent's body frames as a byte stream; holds the request actor alive until done.
fn agent_body(
    reader: FrameReader<RecvStream>,
    actor: actix::Addr<RequestActor>,
    metrics: Arc<Metrics>,
) -> Body {
    let start = Some((reader, actor, metrics));
    Box::pin(futures_util::stream::unfold(start, |state| async move {
        let (mut reader, actor, metrics) = state?;
        match reader.next().await {
            Ok(Some(Frame::BodyChunk(data))) => {
                metrics.bytes_out(data.len());
                Some((Ok(data), Some((reader, actor, metrics))))
            }
            Ok(Some(Frame::EndOfBody(_))) => {
                // The agent's FIN normally arrives with this frame. Reading it now
                // (never waiting for it) lets the stream be dropped as fully read,
                // which spares the transport's driver a wake-up per request.
                let _ = reader.next().now_or_never();
                None
            }
            Ok(Some(Frame::Reset(reset))) => {
                metrics.reset(reset.code.as_str());
                let why = format!("agent reset the response: {}", reset.message);
                Some((Err(std::io::Error::other(why)), None))
            }
            Ok(Some(other)) => Some((
                Err(std::io::Error::other(format!(
                    "unexpected {} frame in a body",
                    other.frame_type().name()
                ))),
                None,
            )),
            Ok(None) => Some((
                Err(std::io::Error::other(
                    "agent's stream ended before the end of the body",
                )),
                None,
            )),
            Err(err) => Some((Err(std::io::Error::other(err.to_string())), None)),
        }
    }))
}
