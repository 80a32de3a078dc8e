//! [`Encoder`]: frames to bytes, refusing anything over the [`Limits`].

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::error::EncodeError;
use crate::frame::{FRAME_HEADER_LEN, Frame, FrameClass, FrameType};
use crate::limits::Limits;

/// Writes frames into a `BytesMut`. Stateless; cheap to copy.
///
/// On error nothing is appended to the destination buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Encoder {
    limits: Limits,
}

impl Encoder {
    /// An encoder that refuses frames over `limits`.
    pub const fn new(limits: Limits) -> Self {
        Self { limits }
    }

    /// The limits this encoder enforces.
    pub const fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Appends `frame` (header and payload) to `dst`.
    ///
    /// A [`Frame::BodyChunk`] is copied into `dst`; to send body data without copying, use
    /// [`encode_body_chunk_header`](Self::encode_body_chunk_header) and write the data
    /// after it.
    pub fn encode(&self, frame: &Frame, dst: &mut BytesMut) -> Result<(), EncodeError> {
        match frame {
            Frame::BodyChunk(data) => {
                self.encode_body_chunk_header(data.len(), dst)?;
                dst.extend_from_slice(data);
                Ok(())
            }
            Frame::Hello(v) => self.encode_msgpack(FrameType::Hello, v, dst),
            Frame::HelloAck(v) => self.encode_msgpack(FrameType::HelloAck, v, dst),
            Frame::RequestHead(v) => self.encode_msgpack(FrameType::RequestHead, v, dst),
            Frame::ResponseHead(v) => self.encode_msgpack(FrameType::ResponseHead, v, dst),
            Frame::EndOfBody(v) => self.encode_msgpack(FrameType::EndOfBody, v, dst),
            Frame::Reset(v) => self.encode_msgpack(FrameType::Reset, v, dst),
            Frame::Ping(v) => self.encode_msgpack(FrameType::Ping, v, dst),
            Frame::Pong(v) => self.encode_msgpack(FrameType::Pong, v, dst),
            Frame::GoAway(v) => self.encode_msgpack(FrameType::GoAway, v, dst),
        }
    }

    /// Appends only the 5-byte header of a body chunk of `len` bytes to `dst`. The caller
    /// must then write exactly `len` bytes of body data to the same stream, e.g. hand its
    /// `Bytes` to the socket without copying them into `dst`.
    ///
    /// Fails with [`EncodeError::FrameTooLarge`] if `len` is over
    /// [`Limits::max_body_chunk`].
    pub fn encode_body_chunk_header(
        &self,
        len: usize,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let wire_len = self.check_len(FrameType::BodyChunk, len)?;
        dst.reserve(FRAME_HEADER_LEN + len);
        dst.put_u8(FrameType::BodyChunk.as_u8());
        dst.put_u32(wire_len);
        Ok(())
    }

    fn encode_msgpack<T: Serialize>(
        &self,
        frame_type: FrameType,
        value: &T,
        dst: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let start = dst.len();
        dst.put_u8(frame_type.as_u8());
        dst.put_u32(0); // patched below once the payload length is known
        let written = rmp_serde::encode::write_named(&mut (&mut *dst).writer(), value);
        let result = written
            .map_err(|e| EncodeError::Serialize {
                frame_type,
                reason: e.to_string(),
            })
            .and_then(|()| self.check_len(frame_type, dst.len() - start - FRAME_HEADER_LEN));
        match result {
            Ok(wire_len) => {
                dst[start + 1..start + FRAME_HEADER_LEN].copy_from_slice(&wire_len.to_be_bytes());
                Ok(())
            }
            Err(e) => {
                dst.truncate(start);
                Err(e)
            }
        }
    }

    /// Checks a payload length against the limit for `frame_type` and the 4-byte length
    /// field, returning it as written on the wire.
    fn check_len(&self, frame_type: FrameType, len: usize) -> Result<u32, EncodeError> {
        let limit = self.limits.max_payload(frame_type);
        match u32::try_from(len) {
            Ok(wire_len) if len <= limit => Ok(wire_len),
            _ if frame_type.class() == FrameClass::Head => Err(EncodeError::HeadTooLarge {
                frame_type,
                len,
                limit,
            }),
            _ => Err(EncodeError::FrameTooLarge {
                frame_type,
                len,
                limit: limit.min(u32::MAX as usize),
            }),
        }
    }
}
