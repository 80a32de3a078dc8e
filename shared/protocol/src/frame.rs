//! The frame envelope: [`FrameType`] (the first byte on the wire) and [`Frame`] (a decoded
//! frame of any type).

use std::fmt;

use bytes::Bytes;

use crate::control::{GoAway, Ping, Pong, Reset};
use crate::handshake::{Hello, HelloAck};
use crate::http::{EndOfBody, RequestHead, ResponseHead};

/// Bytes in a frame header: one type byte plus a 4-byte big-endian payload length.
pub const FRAME_HEADER_LEN: usize = 5;

/// The type byte that opens every frame.
///
/// `0x00` is deliberately unassigned, so a run of zero bytes (a zeroed buffer, a
/// corrupted stream) is rejected as an unknown type rather than parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// [`Hello`]: the agent's first frame on its control stream.
    Hello = 0x01,
    /// [`HelloAck`]: the gateway's answer to a [`Hello`].
    HelloAck = 0x02,
    /// [`RequestHead`]: opens a visitor request on a new stream.
    RequestHead = 0x03,
    /// [`ResponseHead`]: the agent's response status and headers.
    ResponseHead = 0x04,
    /// [`Frame::BodyChunk`]: raw body bytes, not MessagePack.
    BodyChunk = 0x05,
    /// [`EndOfBody`]: the explicit end of a request or response body, with trailers.
    EndOfBody = 0x06,
    /// [`Reset`]: abandons the stream's exchange.
    Reset = 0x07,
    /// [`Ping`]: liveness probe, answered by a [`Pong`].
    Ping = 0x08,
    /// [`Pong`]: the answer to a [`Ping`].
    Pong = 0x09,
    /// [`GoAway`]: the sender will stop taking new streams; drain.
    GoAway = 0x0a,
}

impl FrameType {
    /// Every frame type, in type-byte order.
    pub const ALL: &'static [Self] = &[
        Self::Hello,
        Self::HelloAck,
        Self::RequestHead,
        Self::ResponseHead,
        Self::BodyChunk,
        Self::EndOfBody,
        Self::Reset,
        Self::Ping,
        Self::Pong,
        Self::GoAway,
    ];

    /// The type byte written on the wire.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The frame type for a type byte, or `None` if the byte names no frame type.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        Some(match byte {
            0x01 => Self::Hello,
            0x02 => Self::HelloAck,
            0x03 => Self::RequestHead,
            0x04 => Self::ResponseHead,
            0x05 => Self::BodyChunk,
            0x06 => Self::EndOfBody,
            0x07 => Self::Reset,
            0x08 => Self::Ping,
            0x09 => Self::Pong,
            0x0a => Self::GoAway,
            _ => return None,
        })
    }

    /// The frame type's name, as used in error messages (`"RequestHead"`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hello => "Hello",
            Self::HelloAck => "HelloAck",
            Self::RequestHead => "RequestHead",
            Self::ResponseHead => "ResponseHead",
            Self::BodyChunk => "BodyChunk",
            Self::EndOfBody => "EndOfBody",
            Self::Reset => "Reset",
            Self::Ping => "Ping",
            Self::Pong => "Pong",
            Self::GoAway => "GoAway",
        }
    }

    /// Which size limit in [`Limits`](crate::Limits) applies to this frame type.
    pub(crate) const fn class(self) -> FrameClass {
        match self {
            Self::RequestHead | Self::ResponseHead | Self::EndOfBody => FrameClass::Head,
            Self::BodyChunk => FrameClass::Body,
            Self::Hello | Self::HelloAck | Self::Reset | Self::Ping | Self::Pong | Self::GoAway => {
                FrameClass::Control
            }
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The size class of a frame type: each class has its own limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameClass {
    /// Hello, HelloAck, Reset, Ping, Pong, GoAway.
    Control,
    /// RequestHead, ResponseHead, EndOfBody (its trailers are headers).
    Head,
    /// BodyChunk.
    Body,
}

/// One decoded frame.
///
/// `Debug` is hand-written so that logging a frame never prints a secret: a [`Hello`]'s
/// key shows as `***`, credential headers as `***` (see [`Header`](crate::Header)), and a
/// body chunk only as its length.
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// The agent's first frame on its control stream.
    Hello(Hello),
    /// The gateway's answer to [`Frame::Hello`].
    HelloAck(HelloAck),
    /// Opens one visitor request; the first frame on a request stream.
    RequestHead(RequestHead),
    /// The response's status and headers.
    ResponseHead(ResponseHead),
    /// A piece of request or response body, carried as raw bytes.
    BodyChunk(Bytes),
    /// The end of a request or response body.
    EndOfBody(EndOfBody),
    /// Abandons the exchange on this stream.
    Reset(Reset),
    /// Liveness probe.
    Ping(Ping),
    /// Answer to a ping.
    Pong(Pong),
    /// The sender is about to stop taking new streams.
    GoAway(GoAway),
}

impl Frame {
    /// The type byte this frame is encoded with.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Self::Hello(_) => FrameType::Hello,
            Self::HelloAck(_) => FrameType::HelloAck,
            Self::RequestHead(_) => FrameType::RequestHead,
            Self::ResponseHead(_) => FrameType::ResponseHead,
            Self::BodyChunk(_) => FrameType::BodyChunk,
            Self::EndOfBody(_) => FrameType::EndOfBody,
            Self::Reset(_) => FrameType::Reset,
            Self::Ping(_) => FrameType::Ping,
            Self::Pong(_) => FrameType::Pong,
            Self::GoAway(_) => FrameType::GoAway,
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hello(v) => f.debug_tuple("Hello").field(v).finish(),
            Self::HelloAck(v) => f.debug_tuple("HelloAck").field(v).finish(),
            Self::RequestHead(v) => f.debug_tuple("RequestHead").field(v).finish(),
            Self::ResponseHead(v) => f.debug_tuple("ResponseHead").field(v).finish(),
            Self::BodyChunk(data) => f
                .debug_struct("BodyChunk")
                .field("len", &data.len())
                .finish(),
            Self::EndOfBody(v) => f.debug_tuple("EndOfBody").field(v).finish(),
            Self::Reset(v) => f.debug_tuple("Reset").field(v).finish(),
            Self::Ping(v) => f.debug_tuple("Ping").field(v).finish(),
            Self::Pong(v) => f.debug_tuple("Pong").field(v).finish(),
            Self::GoAway(v) => f.debug_tuple("GoAway").field(v).finish(),
        }
    }
}

macro_rules! impl_from_for_frame {
    ($($ty:ident),+) => {
        $(
            impl From<$ty> for Frame {
                fn from(value: $ty) -> Self {
                    Self::$ty(value)
                }
            }
        )+
    };
}

impl_from_for_frame!(
    Hello,
    HelloAck,
    RequestHead,
    ResponseHead,
    EndOfBody,
    Reset,
    Ping,
    Pong,
    GoAway
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_bytes_round_trip_and_zero_is_unassigned() {
        for &ty in FrameType::ALL {
            assert_eq!(FrameType::from_u8(ty.as_u8()), Some(ty));
        }
        assert_eq!(FrameType::from_u8(0), None);
        let assigned = (0..=u8::MAX)
            .filter(|&b| FrameType::from_u8(b).is_some())
            .count();
        assert_eq!(assigned, FrameType::ALL.len());
    }

    #[test]
    fn body_chunk_debug_shows_length_not_content() {
        let frame = Frame::BodyChunk(Bytes::from_static(b"password=hunter2"));
        let debug = format!("{frame:?}");
        assert_eq!(debug, "BodyChunk { len: 16 }");
    }
}
