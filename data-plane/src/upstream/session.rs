//! The agent's session on this pod as an upstream: a request actor (through its
//! [`RequestHandle`]) opens a stream on the session, sends the head and the visitor's body
//! up and hands back the agent's answer's head, then its body as bytes, as the visitor
//! takes them. Dropping the body lets the request go.

use actix_web::{HttpRequest, web};
use hopgate_protocol::RequestHead;
use slog::{Logger, info, o};

use crate::{
    http::request,
    tunnel::{
        request_actor::{Request, RequestLimits},
        request_answer::RequestHandle,
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
    let request = RequestHandle::start(Request {
        head,
        payload,
        // After a protocol switch the visitor's bytes flow up until it closes its side.
        has_body: upgrade || request::has_body(req),
        session: handle.session,
        limits: RequestLimits {
            response_timeout: state.response_timeout,
            stream_wait: state.stream_wait,
            // A WebSocket may idle: only an ordinary body has to keep coming.
            body_timeout: (!upgrade).then_some(state.body_timeout),
        },
        in_flight: state.in_flight.enter(),
        metrics: state.metrics.clone(),
        log: log.clone(),
    });
    match request.answer().await {
        Some(Ok(head)) => Ok(Answer {
            head,
            body: answer_body(request),
        }),
        Some(Err(err)) => {
            info!(log, "request failed"; "error" => %err);
            Err(Failure::Session(err))
        }
        None => Err(Failure::Abandoned),
    }
}

/// The head must fit one frame: what can't be carried is refused before a stream opens.
fn fits_one_frame(head: &RequestHead, log: &Logger) -> Result<(), Failure> {
    let head_size: usize = head
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 8)
        .sum::<usize>()
        + head.uri.len()
        + head.method.len()
        + 512;
    if head_size > hopgate_protocol::Limits::default().max_head_frame {
        info!(log, "request head too large"; "bytes" => head_size);
        return Err(Failure::HeadTooLarge);
    }
    Ok(())
}

/// The answer's body as bytes, read from the request actor as the visitor takes it; the
/// request ends when the body is dropped.
fn answer_body(request: RequestHandle) -> Body {
    Box::pin(futures_util::stream::unfold(
        Some(request),
        |request| async move {
            let request = request?;
            match request.next_chunk().await? {
                Ok(data) => Some((Ok(data), Some(request))),
                Err(err) => Some((Err(err), None)),
            }
        },
    ))
}
