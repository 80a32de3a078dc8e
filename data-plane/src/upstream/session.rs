//! The agent's session on this pod as an upstream: a request actor (through its
//! [`RequestHandle`]) opens a stream on the session, sends the head and the visitor's body
//! up and hands back the agent's answer's head, then its body (bytes, then trailer fields)
//! as the visitor takes it. Dropping the body lets the request go. A request whose session
//! died before the answer's head comes back with what a retry needs, when it may have one
//! (`request_retry`).

use actix_web::{HttpRequest, web};
use hopgate_protocol::{Encoder, RequestHead};
use slog::{Logger, info, o};

use crate::{
    http::request,
    tunnel::{
        request_actor::{Request, RequestLimits},
        request_answer::RequestHandle,
        request_retry::{Retry, Unanswered, peer_died},
        routing::Picked,
    },
    upstream::{Answer, AppState, Body, BodyItem, Failure},
};

/// Why a request got no answer through the session, and the request back if it may be
/// tried on another.
pub(super) struct Failed {
    pub(super) failure: Failure,
    pub(super) retry: Option<Retry>,
}

impl From<Failure> for Failed {
    fn from(failure: Failure) -> Self {
        Self {
            failure,
            retry: None,
        }
    }
}

/// Carries `head` (and the request's body) through the session `handle`: the visitor's
/// request here, or one another pod relayed. `upgrade`: the visitor asked for a WebSocket
/// switch.
pub(super) async fn exchange(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    picked: Picked,
    host: &str,
    head: RequestHead,
    upgrade: bool,
) -> Result<Answer, Failed> {
    let Picked { handle, load, .. } = picked;
    let log = state.log.new(
        o!("domain" => host.to_owned(), "session_id" => handle.id, "request_id" => head.request_id.clone()),
    );
    fits_one_frame(&head, &log)?;
    let method = head.method.clone();
    let mut request = RequestHandle::start(Request {
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
        load,
        metrics: state.metrics.clone(),
        log: log.clone(),
    });
    match request.answer().await {
        Some(Ok(head)) => Ok(Answer {
            head,
            body: answer_body(request),
        }),
        Some(Err(Unanswered { error, retry })) => {
            let retried = retry.is_some();
            info!(log, "request failed"; "error" => %error, "retry" => retried);
            let failure = if peer_died(&error) && !retried {
                info!(log, "not retried: the request may have reached the service";
                    "method" => &method);
                Failure::NotRetried {
                    method,
                    cause: error,
                }
            } else {
                Failure::Session(error)
            };
            Err(Failed { failure, retry })
        }
        None => Err(Failure::Abandoned.into()),
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

/// The answer's body, read from the request actor as the visitor takes it: its bytes, then
/// its trailer fields if it has any. The request ends when the body is dropped.
fn answer_body(request: RequestHandle) -> Body {
    Box::pin(futures_util::stream::unfold(
        Some(request),
        |request| async move {
            let mut request = request?;
            match request.next_chunk().await? {
                Ok(BodyItem::Trailers(trailers)) if trailers.is_empty() => None,
                // The end: the actor is done, and is asked nothing more.
                Ok(trailers @ BodyItem::Trailers(_)) => Some((Ok(trailers), None)),
                Ok(data) => Some((Ok(data), Some(request))),
                Err(err) => Some((Err(err), None)),
            }
        },
    ))
}
