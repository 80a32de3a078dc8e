//! Framing, sans-IO: each frame is a big-endian `u32` payload length followed by one
//! MessagePack [`TableMessage`].
//!
//! The contract is `hopgate-protocol`'s: an [`Encoder`] appends whole frames to a buffer
//! (nothing on error), a [`Decoder`] takes whole frames off the front of the caller's
//! buffer, telling "incomplete" (`Ok(None)`: read more) from "invalid" (`Err`), and rejects
//! an over-limit length as soon as the 4-byte header is in, before buffering the payload.
//! The frames themselves differ from the agent protocol's (no type byte, one limit for
//! every message, an enum that names its variant inside the MessagePack), and neither can
//! change: pods, control-planes and snapshot files on disk of every version read them. So
//! the codec is this crate's own, with the same words for the same things.

use bytes::{Buf, BufMut, BytesMut};

use crate::wire::{MAX_FRAME_LEN, TableMessage};

/// Length of a frame's header: the payload length, `u32` big-endian.
const HEADER_LEN: usize = 4;

/// Why [`Encoder::encode`] refused a message. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    /// The message encodes to more than the limit.
    #[error("table frame of {len} bytes is over the {limit}-byte limit")]
    FrameTooLarge {
        /// The encoded payload length.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// MessagePack serialization failed.
    #[error("table message could not be encoded: {0}")]
    Serialize(#[from] rmp_serde::encode::Error),
}

/// Why [`Decoder::decode`] rejected its input. The stream is unusable after it.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The header announced a payload over the limit (reported before any of it is
    /// buffered).
    #[error("table frame of {len} bytes is over the {limit}-byte limit")]
    FrameTooLarge {
        /// The payload length the header announced.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The payload is not a [`TableMessage`].
    #[error("malformed table message: {0}")]
    Malformed(#[from] rmp_serde::decode::Error),
}

/// Writes messages as frames. Stateless; cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Encoder {
    limit: usize,
}

impl Default for Encoder {
    /// An encoder with the standard [`MAX_FRAME_LEN`].
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl Encoder {
    /// An encoder that refuses payloads over `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Self { limit }
    }

    /// Appends `message` to `dst` as one frame (header and payload); on error `dst` is left
    /// as it was.
    pub fn encode(&self, message: &TableMessage, dst: &mut BytesMut) -> Result<(), EncodeError> {
        let start = dst.len();
        let written = self.append_frame(message, dst, start);
        if written.is_err() {
            dst.truncate(start);
        }
        written
    }

    fn append_frame(
        &self,
        message: &TableMessage,
        dst: &mut BytesMut,
        start: usize,
    ) -> Result<(), EncodeError> {
        dst.put_u32(0);
        rmp_serde::encode::write_named(&mut (&mut *dst).writer(), message)?;
        let len = dst.len() - start - HEADER_LEN;
        let header = u32::try_from(len)
            .ok()
            .filter(|&l| l as usize <= self.limit)
            .ok_or(EncodeError::FrameTooLarge {
                len,
                limit: self.limit,
            })?;
        dst[start..start + HEADER_LEN].copy_from_slice(&header.to_be_bytes());
        Ok(())
    }
}

/// Takes whole messages off the front of a buffer the caller fills from the stream.
/// Stateless; cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoder {
    limit: usize,
}

impl Default for Decoder {
    /// A decoder with the standard [`MAX_FRAME_LEN`].
    fn default() -> Self {
        Self::new(MAX_FRAME_LEN)
    }
}

impl Decoder {
    /// A decoder that refuses payloads over `limit` bytes.
    pub const fn new(limit: usize) -> Self {
        Self { limit }
    }

    /// Removes one whole frame from the front of `src` and returns its message.
    ///
    /// - `Ok(Some(message))`: exactly that frame's bytes were consumed.
    /// - `Ok(None)`: the frame is not complete yet; nothing was consumed. Read more.
    /// - `Err(_)`: the input is invalid; nothing was consumed. The stream is unusable.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<TableMessage>, DecodeError> {
        let &[b1, b2, b3, b4, ..] = &src[..] else {
            return Ok(None);
        };
        let len = usize::try_from(u32::from_be_bytes([b1, b2, b3, b4])).unwrap_or(usize::MAX);
        if len > self.limit {
            return Err(DecodeError::FrameTooLarge {
                len,
                limit: self.limit,
            });
        }
        let frame_len = HEADER_LEN + len;
        let Some(payload) = src.get(HEADER_LEN..frame_len) else {
            src.reserve(frame_len - src.len());
            return Ok(None);
        };
        let message = rmp_serde::from_slice(payload)?;
        src.advance(frame_len);
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Change, Delta, DomainRecord, Snapshot};

    fn messages() -> Vec<TableMessage> {
        let record = DomainRecord {
            domain: "app.example.com".into(),
            key_hash: [7; 32],
            certificate: None,
            access: None,
        };
        vec![
            TableMessage::Snapshot(Snapshot {
                epoch: "e1".into(),
                version: 3,
                domains: vec![record.clone()],
                ..Snapshot::default()
            }),
            TableMessage::Delta(Delta {
                version: 4,
                changes: vec![
                    Change::Upsert(record),
                    Change::Remove {
                        domain: "old.example.com".into(),
                    },
                    Change::Challenge {
                        token: "t".into(),
                        key_authorization: None,
                    },
                ],
                committed_unix_ms: Some(1_700_000_000_000),
            }),
            TableMessage::Heartbeat { version: 4 },
        ]
    }

    #[test]
    fn round_trip_byte_by_byte() {
        let mut bytes = BytesMut::new();
        for message in messages() {
            Encoder::default().encode(&message, &mut bytes).unwrap();
        }
        let decoder = Decoder::default();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for b in bytes {
            buf.put_u8(b);
            while let Some(m) = decoder.decode(&mut buf).unwrap() {
                out.push(m);
            }
        }
        assert_eq!(out, messages());
        assert!(buf.is_empty());
    }

    #[test]
    fn oversized_length_is_refused_before_the_payload() {
        let mut buf = BytesMut::from(&101u32.to_be_bytes()[..]);
        let err = Decoder::new(100).decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::FrameTooLarge {
                len: 101,
                limit: 100
            }
        ));
        assert!(err.to_string().contains("over the 100-byte limit"));
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert!(Decoder::default().decode(&mut buf).is_err());
    }

    #[test]
    fn an_oversized_message_is_not_written() {
        let mut buf = BytesMut::from(&b"before"[..]);
        let err = Encoder::new(4)
            .encode(&messages()[0], &mut buf)
            .unwrap_err();
        assert!(matches!(err, EncodeError::FrameTooLarge { limit: 4, .. }));
        assert_eq!(&buf[..], b"before");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 0xc1, 0xff, 0x00][..]);
        assert!(matches!(
            Decoder::default().decode(&mut buf),
            Err(DecodeError::Malformed(_))
        ));
    }
}
