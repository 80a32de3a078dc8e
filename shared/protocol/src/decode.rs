//! [`Decoder`]: bytes to frames, mini-redis style. A frame is parsed only once it is
//! wholly in the buffer; "not enough bytes yet" (`Ok(None)`) is never an error, and a
//! malformed frame (`Err`) is never mistaken for an incomplete one.

use bytes::{Buf, BytesMut};
use serde::de::DeserializeOwned;

use crate::error::DecodeError;
use crate::frame::{FRAME_HEADER_LEN, Frame, FrameClass, FrameType};
use crate::head_wire::{self, Malformed, Taken};
use crate::limits::Limits;
use crate::value_len::value_len;

/// A validated frame header: the type is known and the length within [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The frame's type.
    pub frame_type: FrameType,
    /// The payload length announced by the header.
    pub payload_len: usize,
}

impl FrameHeader {
    /// The whole frame's length on the wire: header plus payload.
    pub const fn frame_len(&self) -> usize {
        FRAME_HEADER_LEN + self.payload_len
    }
}

/// Parses frames out of a `BytesMut` that the caller fills from the stream. Stateless;
/// cheap to copy.
///
/// Typical read loop: append what the stream yields to a buffer, then call
/// [`decode`](Self::decode) until it returns `Ok(None)`; on `Ok(None)` read more.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Decoder {
    limits: Limits,
}

impl Decoder {
    /// A decoder that rejects frames over `limits`.
    pub const fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// The limits this decoder enforces.
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Validates the frame header at the start of `src` without consuming anything.
    ///
    /// Returns `Ok(None)` if fewer than [`FRAME_HEADER_LEN`] bytes are present. An unknown
    /// type byte is reported as soon as it arrives, and an over-limit length as soon as the
    /// header is complete, before any payload is buffered. A reader can use
    /// [`FrameHeader::frame_len`] to reserve room for the whole frame.
    pub fn peek_header(&self, src: &[u8]) -> Result<Option<FrameHeader>, DecodeError> {
        let Some(&type_byte) = src.first() else {
            return Ok(None);
        };
        let frame_type = FrameType::from_u8(type_byte).ok_or(DecodeError::UnknownFrameType {
            frame_type: type_byte,
        })?;
        let &[_, b1, b2, b3, b4, ..] = src else {
            return Ok(None);
        };
        let len = usize::try_from(u32::from_be_bytes([b1, b2, b3, b4])).unwrap_or(usize::MAX);
        let limit = self.limits.max_payload(frame_type);
        if len > limit {
            return Err(match frame_type.class() {
                FrameClass::Head => DecodeError::HeadTooLarge {
                    frame_type,
                    len,
                    limit,
                },
                FrameClass::Control | FrameClass::Body => DecodeError::FrameTooLarge {
                    frame_type,
                    len,
                    limit,
                },
            });
        }
        Ok(Some(FrameHeader {
            frame_type,
            payload_len: len,
        }))
    }

    /// Removes one whole frame from the front of `src` and returns it.
    ///
    /// - `Ok(Some(frame))`: exactly that frame's bytes were consumed.
    /// - `Ok(None)`: the frame is not complete yet; nothing was consumed. Read more.
    /// - `Err(_)`: the input is invalid; nothing was consumed. The stream is unusable.
    ///
    /// A body chunk's data is split off `src` without copying.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let Some(header) = self.peek_header(src)? else {
            return Ok(None);
        };
        let frame_len = header.frame_len();
        let Some(payload) = src.get(FRAME_HEADER_LEN..frame_len) else {
            src.reserve(frame_len - src.len());
            return Ok(None);
        };
        let frame = match header.frame_type {
            FrameType::BodyChunk => {
                src.advance(FRAME_HEADER_LEN);
                let data = src.split_to(header.payload_len).freeze();
                return Ok(Some(Frame::BodyChunk(data)));
            }
            FrameType::Hello => Frame::Hello(from_msgpack(FrameType::Hello, payload)?),
            FrameType::HelloAck => Frame::HelloAck(from_msgpack(FrameType::HelloAck, payload)?),
            FrameType::RequestHead => Frame::RequestHead(head(
                FrameType::RequestHead,
                payload,
                head_wire::read_request_head,
            )?),
            FrameType::ResponseHead => Frame::ResponseHead(head(
                FrameType::ResponseHead,
                payload,
                head_wire::read_response_head,
            )?),
            FrameType::EndOfBody => Frame::EndOfBody(head(
                FrameType::EndOfBody,
                payload,
                head_wire::read_end_of_body,
            )?),
            FrameType::Reset => Frame::Reset(from_msgpack(FrameType::Reset, payload)?),
            FrameType::Ping => Frame::Ping(from_msgpack(FrameType::Ping, payload)?),
            FrameType::Pong => Frame::Pong(from_msgpack(FrameType::Pong, payload)?),
            FrameType::GoAway => Frame::GoAway(from_msgpack(FrameType::GoAway, payload)?),
        };
        src.advance(frame_len);
        Ok(Some(frame))
    }
}

/// One head filling all of `payload`, read by hand ([`head_wire`]).
fn head<T>(
    frame_type: FrameType,
    payload: &[u8],
    read: fn(&[u8]) -> Taken<T>,
) -> Result<T, DecodeError> {
    let (value, used) =
        read(payload).map_err(|Malformed(reason)| DecodeError::Malformed { frame_type, reason })?;
    let extra = payload.len() - used;
    if extra != 0 {
        return Err(DecodeError::TrailingBytes { frame_type, extra });
    }
    Ok(value)
}

/// Deserializes exactly one MessagePack value filling all of `payload`. Read from the
/// slice itself: a string is copied once, into the value, where a reader would first copy
/// each into a buffer of its own.
fn from_msgpack<T: DeserializeOwned>(
    frame_type: FrameType,
    payload: &[u8],
) -> Result<T, DecodeError> {
    let value = rmp_serde::from_slice(payload).map_err(|e| DecodeError::Malformed {
        frame_type,
        reason: e.to_string(),
    })?;
    // The value decoded, so it is whole and the walk finds its end.
    let used = value_len(payload).unwrap_or(payload.len());
    let extra = payload.len() - used;
    if extra != 0 {
        return Err(DecodeError::TrailingBytes { frame_type, extra });
    }
    Ok(value)
}
