//! When a request that failed on one session may be tried once more on another: the
//! failure must be the session's or the stream's death (the agent was killed, its session
//! timed out, the stream broke) before the answer's head, and sending the request again
//! must not risk doing twice what the local service may already have done:
//!
//! - the stream never opened (the session was already gone): nothing reached the agent,
//!   any request is retried, its body untouched (`session_lost`);
//! - a GET, HEAD or OPTIONS without a body (nothing or an empty body was sent) whose
//!   stream broke before its answer's head: retried (`stream_broke`);
//! - anything else, in particular a request whose body was (partly) sent: not retried, the
//!   visitor gets a 502 that says so. Bodies are never buffered to make them retryable.

use actix_web::web::Payload;
use hopgate_protocol::RequestHead;
use hopgate_tunnel::TunnelError;

use crate::tunnel::{request_actor::RequestActor, request_error::ProxyError};

/// A request handed back to be tried on another session.
pub(crate) struct Retry {
    pub(crate) head: RequestHead,
    /// The visitor's body, untouched; `None`: the request has no body.
    pub(crate) payload: Option<Payload>,
    /// Why (`hopgate_request_retries_total{reason}`): `session_lost` or `stream_broke`.
    pub(crate) reason: &'static str,
}

/// Why a request got no answer's head, and whether it may be tried elsewhere.
pub(crate) struct Unanswered {
    pub(crate) error: ProxyError,
    pub(crate) retry: Option<Retry>,
}

impl From<ProxyError> for Unanswered {
    fn from(error: ProxyError) -> Self {
        Self { error, retry: None }
    }
}

/// Whether `err` means the agent's session or the request's stream died under the request
/// (not the agent answering, not the visitor, not a limit).
pub(crate) const fn peer_died(err: &ProxyError) -> bool {
    matches!(
        err,
        ProxyError::SessionLost(_)
            | ProxyError::StreamBroke(TunnelError::Io(_) | TunnelError::Truncated(_))
    )
}

/// Whether a request of `method` can be sent twice without harm, once it has no body.
pub(crate) fn safe_method(method: &str) -> bool {
    matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// What the request actor remembers to retry a request whose stream broke.
#[derive(Default)]
pub(super) struct Replay {
    /// The head of a GET, HEAD or OPTIONS, kept to be sent again.
    pub(super) head: Option<RequestHead>,
    /// Body bytes went up the stream.
    pub(super) body_sent: bool,
    /// The visitor's body ended (its end queued).
    pub(super) body_ended: bool,
}

impl RequestActor {
    /// The request `err` failed before its answer's head: what to retry it with, if the
    /// rules in the module docs allow it.
    pub(super) fn retry_after(&mut self, err: &ProxyError) -> Option<Retry> {
        let replay = &mut self.replay;
        let bodiless = !self.has_body || (replay.body_ended && !replay.body_sent);
        if !peer_died(err) || !bodiless {
            return None;
        }
        Some(Retry {
            head: replay.head.take()?,
            payload: None,
            reason: "stream_broke",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use hopgate_transport::SessionError;

    use super::*;

    #[test]
    fn only_deaths_and_safe_methods_qualify() {
        let broke = ProxyError::StreamBroke(TunnelError::Io(io::Error::other("reset")));
        assert!(peer_died(&broke));
        let lost = ProxyError::SessionLost(SessionError::TimedOut);
        assert!(peer_died(&lost));
        assert!(!peer_died(&ProxyError::Timeout(std::time::Duration::ZERO)));
        let ours = ProxyError::StreamBroke(TunnelError::Timeout(std::time::Duration::ZERO));
        assert!(!peer_died(&ours));
        for method in ["GET", "HEAD", "OPTIONS"] {
            assert!(safe_method(method));
        }
        for method in ["POST", "PUT", "DELETE", "PATCH", "get"] {
            assert!(!safe_method(method));
        }
    }
}
