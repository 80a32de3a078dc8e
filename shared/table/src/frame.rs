//! Framing, sans-IO: each frame is a big-endian `u32` payload length followed by one
//! MessagePack [`TableMessage`]. The decoder distinguishes "incomplete" (`Ok(None)`: push
//! more bytes) from "invalid" (`Err`), and rejects an over-limit length as soon as the
//! 4-byte header is in, before buffering the payload.

use bytes::{Buf, BytesMut};

use crate::wire::{MAX_FRAME_LEN, TableMessage};

/// Why a frame couldn't be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("table frame of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("table message could not be encoded: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// Why bytes aren't a valid frame.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("table frame of {len} bytes is over the {max}-byte limit")]
    TooLarge { len: usize, max: usize },
    #[error("malformed table message: {0}")]
    Malformed(#[from] rmp_serde::decode::Error),
}

/// Encodes one message as a frame (header and payload).
pub fn encode(message: &TableMessage) -> Result<Vec<u8>, EncodeError> {
    let mut frame = vec![0; 4];
    rmp_serde::encode::write_named(&mut frame, message)?;
    let len = frame.len() - 4;
    let header = u32::try_from(len)
        .ok()
        .filter(|&l| l as usize <= MAX_FRAME_LEN)
        .ok_or(EncodeError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        })?;
    frame[..4].copy_from_slice(&header.to_be_bytes());
    Ok(frame)
}

/// Accumulates bytes from the stream and yields whole messages.
#[derive(Debug)]
pub struct Decoder {
    buf: BytesMut,
    max: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the standard [`MAX_FRAME_LEN`].
    pub fn new() -> Self {
        Self::with_limit(MAX_FRAME_LEN)
    }

    /// A decoder that refuses payloads over `max` bytes.
    pub fn with_limit(max: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` if more bytes are needed. After an error the
    /// stream is unusable.
    pub fn next_message(&mut self) -> Result<Option<TableMessage>, DecodeError> {
        let Some(header) = self.buf.get(..4) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if len > self.max {
            return Err(DecodeError::TooLarge { len, max: self.max });
        }
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        let payload = self.buf.split_to(len);
        Ok(Some(rmp_serde::from_slice(&payload)?))
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
        let bytes: Vec<u8> = messages().iter().flat_map(|m| encode(m).unwrap()).collect();
        let mut decoder = Decoder::new();
        let mut out = Vec::new();
        for b in bytes {
            decoder.push(&[b]);
            while let Some(m) = decoder.next_message().unwrap() {
                out.push(m);
            }
        }
        assert_eq!(out, messages());
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn oversized_length_is_refused_before_the_payload() {
        let mut decoder = Decoder::with_limit(100);
        decoder.push(&101u32.to_be_bytes());
        let err = decoder.next_message().unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { len: 101, max: 100 }));
        assert!(err.to_string().contains("over the 100-byte limit"));
        let mut decoder = Decoder::new();
        decoder.push(&u32::MAX.to_be_bytes());
        assert!(decoder.next_message().is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut decoder = Decoder::new();
        decoder.push(&[0, 0, 0, 3, 0xc1, 0xff, 0x00]);
        assert!(matches!(
            decoder.next_message(),
            Err(DecodeError::Malformed(_))
        ));
    }
}
