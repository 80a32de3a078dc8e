//! Errors, one enum per operation: [`DecodeError`], [`EncodeError`], [`VersionError`],
//! [`StreamError`].

use thiserror::Error;

use crate::frame::FrameType;
use crate::handshake::HelloCode;
use crate::stream::SideState;

/// Why [`Decoder::decode`](crate::Decoder::decode) rejected its input.
///
/// Every decode error is fatal for the stream: the peer is broken or speaks another
/// protocol, so answer with a [`Reset`](crate::Reset) (code
/// [`ProtocolError`](crate::ResetCode::ProtocolError), or
/// [`TooLarge`](crate::ResetCode::TooLarge) for the size errors) and close it. The buffer
/// is left untouched.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The first byte of a frame is not a known [`FrameType`].
    #[error(
        "unknown frame type 0x{frame_type:02x}: the peer speaks a different protocol or the stream is corrupt"
    )]
    UnknownFrameType {
        /// The type byte received.
        frame_type: u8,
    },

    /// A head frame ([`RequestHead`](crate::RequestHead),
    /// [`ResponseHead`](crate::ResponseHead) or [`EndOfBody`](crate::EndOfBody)) announced
    /// a payload over [`Limits::max_head_frame`](crate::Limits::max_head_frame). Reported
    /// as soon as the header arrives, before any of the payload is buffered.
    #[error(
        "{frame_type} of {len} bytes exceeds the {limit}-byte head limit: too many or too large headers"
    )]
    HeadTooLarge {
        /// The head frame's type.
        frame_type: FrameType,
        /// The payload length the frame header announced.
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// A control or body-chunk frame announced a payload over its limit in
    /// [`Limits`](crate::Limits). Reported before any of the payload is buffered.
    #[error("{frame_type} frame of {len} bytes exceeds the {limit}-byte limit for that frame type")]
    FrameTooLarge {
        /// The frame's type.
        frame_type: FrameType,
        /// The payload length the frame header announced.
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// The payload is not valid MessagePack for the frame's type (wrong type, missing
    /// field, unknown enum string where none is allowed, truncated value...).
    #[error("malformed {frame_type} frame: {reason}")]
    Malformed {
        /// The frame's type.
        frame_type: FrameType,
        /// What the MessagePack decoder objected to.
        reason: String,
    },

    /// The payload held a valid value followed by bytes that belong to no value.
    #[error("malformed {frame_type} frame: {extra} unexpected bytes after its payload")]
    TrailingBytes {
        /// The frame's type.
        frame_type: FrameType,
        /// How many bytes followed the value.
        extra: usize,
    },
}

/// Why [`Encoder`](crate::Encoder) refused to encode a frame. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// A head frame ([`RequestHead`](crate::RequestHead),
    /// [`ResponseHead`](crate::ResponseHead) or [`EndOfBody`](crate::EndOfBody)) encodes to
    /// more than [`Limits::max_head_frame`](crate::Limits::max_head_frame). For a request
    /// head the data-plane answers the visitor 431; for a response head the agent resets
    /// with [`TooLarge`](crate::ResetCode::TooLarge).
    #[error(
        "{frame_type} encodes to {len} bytes, over the {limit}-byte head limit: too many or too large headers"
    )]
    HeadTooLarge {
        /// The head frame's type.
        frame_type: FrameType,
        /// The encoded payload length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// A control frame or body chunk is over its limit in [`Limits`](crate::Limits).
    /// Body senders must split data into chunks of at most
    /// [`Limits::max_body_chunk`](crate::Limits::max_body_chunk) bytes.
    #[error("{frame_type} frame of {len} bytes is over the {limit}-byte limit for that frame type")]
    FrameTooLarge {
        /// The frame's type.
        frame_type: FrameType,
        /// The payload length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },

    /// MessagePack serialization failed. Not expected for this crate's types; reported
    /// rather than panicking.
    #[error("could not serialize {frame_type} frame: {reason}")]
    Serialize {
        /// The frame's type.
        frame_type: FrameType,
        /// What the MessagePack encoder objected to.
        reason: String,
    },
}

/// An agent's protocol version is outside the range this build speaks; see
/// [`check_version`](crate::check_version). The `Display` text says which side must
/// upgrade and is meant for the agent's user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum VersionError {
    /// The agent is older than [`MIN_PROTOCOL_VERSION`](crate::MIN_PROTOCOL_VERSION).
    #[error(
        "agent protocol {agent} is too old; please upgrade the agent to a version that speaks protocol {min}..={max}"
    )]
    TooOld {
        /// The agent's protocol version.
        agent: u16,
        /// The oldest version this build accepts.
        min: u16,
        /// The newest version this build speaks.
        max: u16,
    },

    /// The agent is newer than [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION): this gateway
    /// is the older side.
    #[error(
        "agent protocol {agent} is newer than this gateway, which speaks protocol {min}..={max}; upgrade the gateway or use an older agent"
    )]
    TooNew {
        /// The agent's protocol version.
        agent: u16,
        /// The oldest version this build accepts.
        min: u16,
        /// The newest version this build speaks.
        max: u16,
    },
}

impl VersionError {
    /// The [`HelloCode`] to refuse the hello with.
    pub const fn hello_code(&self) -> HelloCode {
        HelloCode::UnsupportedVersion
    }
}

/// Why a stream's rules refused a frame (or a FIN); see [`crate::stream`]'s rules. The
/// direction's state is unchanged.
///
/// A frame received against the rules means the peer broke the protocol: reset the
/// stream with [`ProtocolError`](crate::ResetCode::ProtocolError) (or, for
/// [`StreamError::EndedEarly`], treat the exchange as cut off). A frame refused before
/// sending is this end's own mistake and is not sent. The exception is
/// [`StreamError::Closed`] after this end's own reset: frames still in flight from the
/// peer arrive after it and are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StreamError {
    /// A frame the direction cannot carry where it is: a body before the head, a second
    /// head, anything but the FIN after `EndOfBody`, the other direction's head, or a
    /// control frame.
    #[error("unexpected {frame} frame {state}")]
    Unexpected {
        /// The frame's type.
        frame: FrameType,
        /// Where the direction was.
        state: SideState,
    },

    /// The direction's FIN came before its `EndOfBody` (or before its head): the peer
    /// went away or the exchange was cut off.
    #[error("the stream ended {state}, without EndOfBody")]
    EndedEarly {
        /// Where the direction was.
        state: SideState,
    },

    /// A response head while the request's head is not known: nothing can be answered
    /// before it is read.
    #[error("a ResponseHead before the request's head")]
    AnswerBeforeRequest,

    /// A response head whose status is neither final (200 to 999) nor a `101` answering
    /// an upgrade request.
    #[error("status {status} is not a final HTTP status")]
    InvalidStatus {
        /// The status the head carried.
        status: u16,
    },

    /// A `101 Switching Protocols` answer to a request that asked no protocol switch.
    #[error("a 101 Switching Protocols answer to a request that asked no protocol switch")]
    SwitchNotAsked,

    /// The direction is complete or abandoned: it takes nothing more.
    #[error("{} {state}: the direction takes nothing more", .frame.map_or("FIN", FrameType::name))]
    Closed {
        /// [`SideState::Finished`] or [`SideState::Reset`].
        state: SideState,
        /// The refused frame's type; `None` for a second FIN.
        frame: Option<FrameType>,
    },
}
