//! [`StreamHead`]: what differs between the two directions of a stream, their head.
//!
//! A request head says whether the request asks a protocol switch; a response head must
//! carry a final status, or `101` when the request asked a switch.

use crate::error::StreamError;
use crate::frame::{Frame, FrameType};
use crate::http::{RequestHead, ResponseHead};
use crate::stream::side::SideState;
use crate::stream::upgrade::Upgrade;

/// The head that opens one direction of a stream: [`RequestHead`] or [`ResponseHead`].
/// Sealed: the two directions are the only ones.
pub trait StreamHead: Sized + sealed::Sealed {
    /// The head's frame type.
    const FRAME_TYPE: FrameType;
    /// The direction's name in `Debug` output (`"RequestSide"`).
    const SIDE_NAME: &'static str;

    /// The head in `frame`, or the frame back if it is something else.
    fn from_frame(frame: Frame) -> Result<Self, Frame>;

    /// The head in `frame`, if it is one.
    fn from_frame_ref(frame: &Frame) -> Option<&Self>;

    /// Checks the head against what the exchange knows of a switch; returns the state
    /// the direction enters and what the exchange knows afterwards.
    fn open(&self, upgrade: Upgrade) -> Result<(SideState, Upgrade), StreamError>;
}

/// Keeps [`StreamHead`] to the two heads: nothing outside this crate can name `Sealed`.
#[allow(unreachable_pub)]
mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::http::RequestHead {}
    impl Sealed for crate::http::ResponseHead {}
}

impl StreamHead for RequestHead {
    const FRAME_TYPE: FrameType = FrameType::RequestHead;
    const SIDE_NAME: &'static str = "RequestSide";

    fn from_frame(frame: Frame) -> Result<Self, Frame> {
        match frame {
            Frame::RequestHead(head) => Ok(head),
            other => Err(other),
        }
    }

    fn from_frame_ref(frame: &Frame) -> Option<&Self> {
        match frame {
            Frame::RequestHead(head) => Some(head),
            _ => None,
        }
    }

    fn open(&self, _upgrade: Upgrade) -> Result<(SideState, Upgrade), StreamError> {
        Ok((SideState::Body, Upgrade::asked(self.upgrade().is_some())))
    }
}

impl StreamHead for ResponseHead {
    const FRAME_TYPE: FrameType = FrameType::ResponseHead;
    const SIDE_NAME: &'static str = "ResponseSide";

    fn from_frame(frame: Frame) -> Result<Self, Frame> {
        match frame {
            Frame::ResponseHead(head) => Ok(head),
            other => Err(other),
        }
    }

    fn from_frame_ref(frame: &Frame) -> Option<&Self> {
        match frame {
            Frame::ResponseHead(head) => Some(head),
            _ => None,
        }
    }

    fn open(&self, upgrade: Upgrade) -> Result<(SideState, Upgrade), StreamError> {
        if upgrade == Upgrade::Unknown {
            return Err(StreamError::AnswerBeforeRequest);
        }
        match self.status {
            SWITCHING_PROTOCOLS if upgrade == Upgrade::Asked => {
                Ok((SideState::Pipe, Upgrade::Switched))
            }
            SWITCHING_PROTOCOLS => Err(StreamError::SwitchNotAsked),
            status if !FINAL_STATUS.contains(&status) => Err(StreamError::InvalidStatus { status }),
            _ if upgrade == Upgrade::Asked => Ok((SideState::Body, Upgrade::Declined)),
            _ => Ok((SideState::Body, upgrade)),
        }
    }
}

/// `101 Switching Protocols`.
const SWITCHING_PROTOCOLS: u16 = 101;

/// The statuses a response may end with: three digits, not informational (1xx).
const FINAL_STATUS: std::ops::RangeInclusive<u16> = 200..=999;
