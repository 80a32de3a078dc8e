//! [`Encoder`]: frames to bytes, refusing anything over the [`Limits`].

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::error::EncodeError;
use crate::frame::{FRAME_HEADER_LEN, Frame, FrameClass, FrameType};
use crate::head_wire::{self, Count, TooLong};
use crate::http::RequestHead;
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
            Frame::RequestHead(v) => self.encode_head(FrameType::RequestHead, dst, |out| {
                head_wire::write_request_head(v, out)
            }),
            Frame::ResponseHead(v) => self.encode_head(FrameType::ResponseHead, dst, |out| {
                head_wire::write_response_head(v, out)
            }),
            Frame::EndOfBody(v) => self.encode_head(FrameType::EndOfBody, dst, |out| {
                head_wire::write_end_of_body(v, out)
            }),
            Frame::Reset(v) => self.encode_msgpack(FrameType::Reset, v, dst),
            Frame::Ping(v) => self.encode_msgpack(FrameType::Ping, v, dst),
            Frame::Pong(v) => self.encode_msgpack(FrameType::Pong, v, dst),
            Frame::GoAway(v) => self.encode_msgpack(FrameType::GoAway, v, dst),
        }
    }

    /// Checks that `head` fits one frame, without writing it anywhere: a request whose head
    /// can't be carried is refused (431) before a stream is opened for it. Fails with
    /// [`EncodeError::HeadTooLarge`] exactly when [`encode`](Self::encode) would.
    pub fn check_request_head(&self, head: &RequestHead) -> Result<(), EncodeError> {
        let frame_type = FrameType::RequestHead;
        let mut counted = Count::default();
        head_wire::write_request_head(head, &mut counted)
            .map_err(|TooLong| too_long(frame_type))?;
        self.check_len(frame_type, counted.0).map(drop)
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
        self.write_payload(frame_type, dst, |dst| {
            rmp_serde::encode::write_named(&mut dst.writer(), value).map_err(|e| {
                EncodeError::Serialize {
                    frame_type,
                    reason: e.to_string(),
                }
            })
        })
    }

    /// A head, written by hand ([`head_wire`]).
    fn encode_head(
        &self,
        frame_type: FrameType,
        dst: &mut BytesMut,
        write: impl FnOnce(&mut BytesMut) -> Result<(), TooLong>,
    ) -> Result<(), EncodeError> {
        self.write_payload(frame_type, dst, |dst| {
            write(dst).map_err(|TooLong| too_long(frame_type))
        })
    }

    /// Appends a frame of `frame_type` whose payload `write` appends, its length patched
    /// into the header afterwards; on any error, nothing.
    fn write_payload(
        &self,
        frame_type: FrameType,
        dst: &mut BytesMut,
        write: impl FnOnce(&mut BytesMut) -> Result<(), EncodeError>,
    ) -> Result<(), EncodeError> {
        let start = dst.len();
        dst.put_u8(frame_type.as_u8());
        dst.put_u32(0); // patched below once the payload length is known
        let result = write(dst)
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

fn too_long(frame_type: FrameType) -> EncodeError {
    EncodeError::Serialize {
        frame_type,
        reason: "a string or list longer than MessagePack can hold".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Header, HttpVersion, MIN_ENCODED_HEADER};

    fn head_with(fields: usize) -> RequestHead {
        RequestHead {
            request_id: "0123456789abcdef".into(),
            method: "GET".into(),
            uri: "/".into(),
            version: HttpVersion::Http11,
            headers: vec![Header::new("a", ""); fields],
        }
    }

    fn payload_len(head: &RequestHead) -> usize {
        let mut dst = BytesMut::new();
        let unlimited = Limits {
            max_head_frame: usize::MAX,
            ..Limits::default()
        };
        Encoder::new(unlimited)
            .encode(&Frame::RequestHead(head.clone()), &mut dst)
            .unwrap();
        dst.len() - FRAME_HEADER_LEN
    }

    #[test]
    fn the_smallest_field_takes_min_encoded_header_bytes() {
        // 16 and 17 fields: the MessagePack array header is one byte either way.
        let per_field = payload_len(&head_with(17)) - payload_len(&head_with(16));
        assert_eq!(per_field, MIN_ENCODED_HEADER);
        assert_eq!(Limits::default().max_head_fields(), 4096);
    }

    #[test]
    fn checking_a_head_agrees_with_encoding_it() {
        let encoder = Encoder::default();
        let limit = encoder.limits().max_head_frame;
        for fields in [0, 500, 4000, 4096, 5000] {
            let head = head_with(fields);
            let fits = payload_len(&head) <= limit;
            let mut dst = BytesMut::new();
            let encoded = encoder.encode(&Frame::RequestHead(head.clone()), &mut dst);
            assert_eq!(encoded.is_ok(), fits, "{fields} fields");
            assert_eq!(encoder.check_request_head(&head).is_ok(), fits, "{fields}");
        }
        assert!(matches!(
            encoder.check_request_head(&head_with(5000)),
            Err(EncodeError::HeadTooLarge { .. })
        ));
    }
}
