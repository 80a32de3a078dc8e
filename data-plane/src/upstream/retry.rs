//! One more try for a request whose session died before the answer's head (the rules are
//! `request_retry`'s): on another session of the domain here, the least loaded one but
//! the session that failed; for a visitor's request with no other session here, on the
//! other pods holding the domain. A relayed request stays on this pod (one hop). The retry
//! is never retried: its failure is the visitor's answer.

use actix_web::{FromRequest, HttpRequest, dev, web};
use slog::{info, o};

use crate::{
    cross_pod,
    tunnel::request_retry::Retry,
    upstream::{Answer, AppState, Failure, Upstream, session},
};

/// What the first try left behind.
pub(super) struct Again {
    /// The session that failed the request.
    pub(super) failed: u64,
    /// The request was relayed here by another pod.
    pub(super) relayed: bool,
    /// The visitor asked for a WebSocket switch.
    pub(super) upgrade: bool,
}

/// Sends `retry` to another upstream of `host`, once; without one, the visitor gets the
/// `first` failure's page.
pub(super) async fn once(
    req: &HttpRequest,
    state: &AppState,
    host: &str,
    (first, retry): (Failure, Retry),
    again: Again,
) -> Result<Answer, Failure> {
    let Retry {
        head,
        payload,
        reason,
    } = retry;
    let log = state.log.new(o!("domain" => host.to_owned(),
        "request_id" => head.request_id.clone(), "failed_session_id" => again.failed));
    let route = if again.relayed {
        state.table.route_relayed_except(host, Some(again.failed))
    } else {
        state.table.route_except(host, Some(again.failed))
    };
    let Ok(upstream) = Upstream::of(route, again.relayed) else {
        info!(log, "request not retried: no other session for the domain"; "reason" => reason);
        return Err(first);
    };
    let payload = match payload {
        Some(payload) => payload,
        // The request has no body: an empty one goes along.
        None => match web::Payload::from_request(req, &mut dev::Payload::None).await {
            Ok(empty) => empty,
            Err(_) => return Err(first),
        },
    };
    state.metrics.request_retried(reason);
    match upstream {
        Upstream::Session { picked, .. } => {
            info!(log, "retrying the request on another session"; "reason" => reason,
                "session_id" => picked.handle.id);
            session::exchange(req, payload, state, picked, host, head, again.upgrade)
                .await
                .map_err(|failed| failed.failure)
        }
        Upstream::Pods(targets) => {
            info!(log, "retrying the request on another pod"; "reason" => reason);
            cross_pod::client::exchange(req, payload, state, &targets, host, head, again.upgrade)
                .await
        }
    }
}
