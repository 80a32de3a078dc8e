//! Where a request actor is: its [`Phase`] (the stream lives in the phases that have one).

use actix_web::web::Payload;
use hopgate_protocol::RequestHead;
use hopgate_transport::Session;

use crate::tunnel::request_stream::RequestStream;

/// Where a request is.
pub(super) enum Phase {
    /// Waiting for a free stream on the session.
    Opening {
        head: RequestHead,
        payload: Payload,
        session: Session,
    },
    /// The head went up; the answer's head has not come.
    Asked { stream: RequestStream },
    /// The answer's head came and was handed over; its body is being read.
    Answered { stream: RequestStream },
    /// The answer came whole (the visitor's body may still be going up).
    Over { stream: RequestStream },
    /// No (whole) answer will come: the stream, if any, was reset.
    Failed,
}

impl Phase {
    /// The request's stream, once open and until the request failed.
    pub(super) fn stream(&mut self) -> Option<&mut RequestStream> {
        match self {
            Self::Asked { stream } | Self::Answered { stream } | Self::Over { stream } => {
                Some(stream)
            }
            Self::Opening { .. } | Self::Failed => None,
        }
    }

    /// Moves the stream on to the next phase (`Asked` → `Answered` → `Over`).
    pub(super) fn advance(&mut self) {
        *self = match std::mem::replace(self, Self::Failed) {
            Self::Asked { stream } => Self::Answered { stream },
            Self::Answered { stream } => Self::Over { stream },
            other => other,
        };
    }
}
