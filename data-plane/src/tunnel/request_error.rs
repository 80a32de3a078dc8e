//! Why a request carried over an agent's session got no (whole) answer: [`ProxyError`],
//! tagged with whose side failed so the visitor's page follows from it (the agent's 502 or
//! 504, the visitor's 408 or 400, a full domain's 503).

use std::time::Duration;

use actix_web::error::PayloadError;
use hopgate_protocol::{DecodeError, ResetCode, StreamError};
use hopgate_transport::SessionError;
use hopgate_tunnel::TunnelError;

/// Why a request could not be answered by the agent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProxyError {
    /// The agent's session failed before a stream opened (upstream side).
    #[error("the agent's session failed: {0}")]
    SessionLost(#[source] SessionError),
    /// The request's stream broke under it (upstream side).
    #[error("the agent's stream broke: {0}")]
    StreamBroke(#[source] TunnelError),
    /// The agent answered with a reset: it couldn't reach its local service, etc.
    #[error("{message}")]
    AgentReset { code: ResetCode, message: String },
    /// The agent sent a frame the stream's rules refuse where it came (upstream side).
    #[error("{}", violation_text(.0))]
    Violation(#[source] StreamError),
    /// The agent sent bytes that are no valid frame, or a frame over the limits.
    #[error("the agent sent an invalid answer: {0}")]
    Malformed(#[source] DecodeError),
    /// No response head in time.
    #[error("the agent didn't answer within {0:?}")]
    Timeout(Duration),
    /// Every stream of the agent's session stayed busy (the domain is overloaded).
    #[error("the agent's connection had no free stream within {0:?}")]
    NoStream(Duration),
    /// The visitor's body made no progress (visitor side).
    #[error("the request body made no progress for {0:?}")]
    BodyStalled(Duration),
    /// The visitor's body broke off (visitor side).
    #[error("the request body could not be read: {0}")]
    BodyFailed(#[source] PayloadError),
    /// The request's head doesn't fit one frame (visitor side).
    #[error("the request's headers are too large to carry: {0}")]
    HeadTooLarge(#[source] TunnelError),
    /// The request's trailer fields don't fit one frame (visitor side).
    #[error("the request's trailer fields are too large to carry: {0}")]
    TrailersTooLarge(#[source] TunnelError),
}

impl ProxyError {
    /// The reason `hopgate_stream_resets_total` counts for an answer that broke the
    /// protocol; `None` for every other failure.
    pub(crate) const fn protocol_reason(&self) -> Option<&'static str> {
        match self {
            Self::Violation(_) => Some("agent_violation"),
            Self::Malformed(_) => Some("agent_malformed"),
            _ => None,
        }
    }

    /// A failure read from the stream: the peer's malformed bytes, or the stream's end.
    pub(crate) fn from_read(err: TunnelError) -> Self {
        match err {
            TunnelError::Decode(err) => Self::Malformed(err),
            other => Self::StreamBroke(other),
        }
    }
}

/// The page's text for a frame out of place: a bad status says which it was.
fn violation_text(err: &StreamError) -> String {
    match err {
        StreamError::InvalidStatus { status } => {
            format!("The agent answered with an invalid status ({status}).")
        }
        StreamError::SwitchNotAsked => {
            "The agent answered with an invalid status (101).".to_owned()
        }
        other => format!("the agent broke the tunnel protocol: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use hopgate_protocol::{FrameType, SideState};

    use super::*;

    #[test]
    fn violations_name_the_frame_and_bad_statuses_the_status() {
        let early = ProxyError::Violation(StreamError::Unexpected {
            frame: FrameType::BodyChunk,
            state: SideState::AwaitingHead,
        });
        assert!(early.to_string().contains("before the head"), "{early}");
        assert_eq!(early.protocol_reason(), Some("agent_violation"));
        let status = ProxyError::Violation(StreamError::InvalidStatus { status: 103 });
        assert_eq!(
            status.to_string(),
            "The agent answered with an invalid status (103)."
        );
        let garbage = ProxyError::from_read(TunnelError::Decode(DecodeError::UnknownFrameType {
            frame_type: 0xee,
        }));
        assert_eq!(garbage.protocol_reason(), Some("agent_malformed"));
        assert_eq!(ProxyError::Timeout(Duration::ZERO).protocol_reason(), None);
    }
}
