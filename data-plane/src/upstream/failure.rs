//! Why an upstream gave no answer, whichever kind it was, and the page the visitor gets for
//! it: the status says whose side failed (the agent's 502/504, the visitor's 400/408/431,
//! a full domain's 503), the text what happened.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, http::StatusCode};
use hopgate_protocol::ResetCode;

use crate::{http::pages, tunnel::request_error::ProxyError, upstream::NotLive};

/// Why a request got no answer from its upstream. The message is the page's text.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The request's head doesn't fit one frame of the tunnel (visitor side).
    #[error("The request's headers are larger than this gateway carries (64 KiB).")]
    HeadTooLarge,
    /// The agent's session here didn't answer.
    #[error(transparent)]
    Session(#[from] ProxyError),
    /// The agent's session died after the request went up, and sending it again might
    /// make the service act twice.
    #[error(
        "The connection to the agent was lost while the {method} request was on its way \
         ({cause}). It was not retried: the service may already have received it."
    )]
    NotRetried { method: String, cause: ProxyError },
    /// The request actor ended without an answer.
    #[error("The request was abandoned.")]
    Abandoned,
    /// This worker has no client for the other pods.
    #[error("No agent is connected for {host} right now.")]
    NoRelayClient { host: String },
    /// The method can't be relayed (visitor side).
    #[error("Unknown method.")]
    UnknownMethod,
    /// The pod holding the session didn't answer in time.
    #[error("The agent for {host} didn't answer within {limit:?}.")]
    PodTimeout { host: String, limit: Duration },
    /// No pod holding the session could be reached.
    #[error("The gateway pod holding the agent's session for {host} could not be reached.")]
    PodsUnreachable { host: String },
    /// The pod holding the session switched protocols, but the switched connection broke.
    #[error("The connection to the gateway pod holding the agent's session broke.")]
    UpgradeBroke,
}

impl Failure {
    /// The visitor's error page.
    pub(crate) fn page(&self, req: &HttpRequest) -> HttpResponse {
        let (status, title) = match self {
            Self::Session(err) => return session_page(req, err),
            Self::NoRelayClient { host } => return NotLive::Offline.page(req, host),
            Self::HeadTooLarge => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                "Request Header Fields Too Large",
            ),
            Self::UnknownMethod => (StatusCode::BAD_REQUEST, "Bad Request"),
            Self::PodTimeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
            Self::Abandoned
            | Self::NotRetried { .. }
            | Self::PodsUnreachable { .. }
            | Self::UpgradeBroke => (StatusCode::BAD_GATEWAY, "Bad Gateway"),
        };
        pages::error(req, status, title, &self.to_string())
    }
}

/// The page for what went wrong on the agent's session.
fn session_page(req: &HttpRequest, err: &ProxyError) -> HttpResponse {
    let (status, title) = match err {
        ProxyError::NoStream(_) => return pages::busy(req, &err.to_string()),
        ProxyError::BodyStalled(_) => return pages::body_stalled(req, &err.to_string()),
        ProxyError::BodyFailed(_) => (StatusCode::BAD_REQUEST, "Bad Request"),
        ProxyError::TrailersTooLarge(_) => (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        ),
        ProxyError::Timeout(_)
        | ProxyError::AgentReset {
            code: ResetCode::UpstreamTimeout,
            ..
        } => (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
        ProxyError::AgentReset {
            code: ResetCode::TooLarge,
            ..
        } => (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
        _ => (StatusCode::BAD_GATEWAY, "Bad Gateway"),
    };
    pages::error(req, status, title, &err.to_string())
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn each_failure_names_whose_side_failed() {
        let req = TestRequest::default().to_http_request();
        let host = || "app.test".to_owned();
        let cases = [
            (Failure::HeadTooLarge, 431),
            (Failure::Abandoned, 502),
            (
                Failure::NotRetried {
                    method: "POST".into(),
                    cause: ProxyError::SessionLost(hopgate_transport::SessionError::TimedOut),
                },
                502,
            ),
            (Failure::NoRelayClient { host: host() }, 502),
            (Failure::UnknownMethod, 400),
            (
                Failure::PodTimeout {
                    host: host(),
                    limit: Duration::from_secs(1),
                },
                504,
            ),
            (Failure::PodsUnreachable { host: host() }, 502),
            (Failure::UpgradeBroke, 502),
            (ProxyError::NoStream(Duration::from_secs(1)).into(), 503),
            (ProxyError::BodyStalled(Duration::from_secs(1)).into(), 408),
            (
                ProxyError::BodyFailed(actix_web::error::PayloadError::Incomplete(None)).into(),
                400,
            ),
            (ProxyError::Timeout(Duration::from_secs(1)).into(), 504),
            (
                ProxyError::AgentReset {
                    code: ResetCode::TooLarge,
                    message: "too large".into(),
                }
                .into(),
                413,
            ),
            (
                ProxyError::Violation(hopgate_protocol::StreamError::SwitchNotAsked).into(),
                502,
            ),
        ];
        for (failure, status) in cases {
            assert_eq!(failure.page(&req).status().as_u16(), status, "{failure:?}");
        }
    }
}
