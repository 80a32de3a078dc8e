//! The TCP fallback's framing: every QUIC packet is one frame, a 2-byte big-endian length
//! followed by the packet, laid end to end in the TLS byte stream.
//!
//! The reader fills a buffer with as much as one read returns and cuts every whole frame
//! out of it (no system call per packet); the writer lays every queued packet end to end
//! and writes them in one go, so one TLS record carries many packets.

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The length prefix.
const PREFIX: usize = 2;
/// What one read asks for at least: a few large packets.
const READ_CHUNK: usize = 64 * 1024;
/// What one write carries at most (frames beyond it wait for the next write).
const WRITE_BATCH: usize = 256 * 1024;
/// A QUIC client's first packet is an Initial padded to at least this (RFC 9000 §14.1).
const MIN_INITIAL: usize = 1200;

/// Why the byte stream stopped making sense.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A length prefix of zero or beyond the largest packet this side accepts.
    #[error("frame length {len} outside 1..={max}")]
    Length {
        /// The length the prefix gave.
        len: usize,
        /// The largest packet accepted.
        max: usize,
    },
    /// The first frame was not a QUIC Initial packet: not a tunnel client.
    #[error("first frame is not a QUIC Initial packet ({len} bytes, first byte {first:#04x})")]
    NotInitial {
        /// The frame's length.
        len: usize,
        /// Its first byte.
        first: u8,
    },
    /// The stream ended inside a frame.
    #[error("connection ended inside a frame")]
    Truncated,
    /// Reading or writing failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Cuts frames out of a byte stream.
pub(crate) struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    max: usize,
    /// The next frame must be able to start a QUIC connection; checked on its first byte,
    /// so garbage is refused before a whole (claimed) frame arrives.
    initial: bool,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames longer than `max` are an error.
    pub(crate) fn new(io: R, max: usize) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            max,
            initial: false,
        }
    }

    /// The first frame must be a QUIC Initial packet ([`check_initial`]): a gateway's
    /// reader, whose peer must be a tunnel client.
    pub(crate) fn expecting_initial(mut self) -> Self {
        self.initial = true;
        self
    }

    /// The next packet; `None` at a clean end of the stream.
    pub(crate) async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        loop {
            if self.buf.len() >= PREFIX {
                let len = usize::from(u16::from_be_bytes([self.buf[0], self.buf[1]]));
                if len == 0 || len > self.max {
                    return Err(FrameError::Length { len, max: self.max });
                }
                if self.initial
                    && let Some(&first) = self.buf.get(PREFIX)
                {
                    check_start(len, first)?;
                }
                if self.buf.len() >= PREFIX + len {
                    self.buf.advance(PREFIX);
                    self.initial = false;
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
            }
            if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
                self.buf.reserve(READ_CHUNK);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(FrameError::Truncated),
                };
            }
        }
    }
}

/// Checks that a gateway's first packet from a peer can start a QUIC connection: a long
/// header (the two top bits set) padded to an Initial's minimum size.
#[cfg(test)]
pub(crate) fn check_initial(packet: &[u8]) -> Result<(), FrameError> {
    check_start(packet.len(), packet.first().copied().unwrap_or(0))
}

/// [`check_initial`] on a frame's length and first byte.
fn check_start(len: usize, first: u8) -> Result<(), FrameError> {
    if len < MIN_INITIAL || first & 0xc0 != 0xc0 {
        return Err(FrameError::NotInitial { len, first });
    }
    Ok(())
}

/// Lays packets end to end with their prefixes and writes them.
pub(crate) struct FrameWriter<W> {
    io: W,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    pub(crate) fn new(io: W) -> Self {
        // Grows with the first bursts: an idle connection holds little.
        Self {
            io,
            buf: Vec::new(),
        }
    }

    /// Adds a packet to the pending write; true while there is room for more.
    pub(crate) fn push(&mut self, packet: &[u8]) -> bool {
        let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf
            .extend_from_slice(&packet[..usize::from(len).min(packet.len())]);
        self.buf.len() < WRITE_BATCH
    }

    /// Writes what was pushed.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            self.io.write_all(&self.buf).await?;
            self.buf.clear();
        }
        self.io.flush().await
    }

    /// Ends the byte stream (TLS close_notify, then FIN).
    pub(crate) async fn shutdown(&mut self) -> std::io::Result<()> {
        self.io.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_survive_any_split_of_the_stream() {
        let (client, server) = tokio::io::duplex(7);
        let mut writer = FrameWriter::new(client);
        let packets: Vec<Vec<u8>> = (1..50).map(|n| vec![n as u8; n * 37]).collect();
        let sent = packets.clone();
        tokio::spawn(async move {
            for packet in &sent {
                writer.push(packet);
                writer.flush().await.unwrap();
            }
            writer.shutdown().await.unwrap();
        });
        let mut reader = FrameReader::new(server, 4096);
        for packet in &packets {
            assert_eq!(reader.next().await.unwrap().unwrap(), packet.as_slice());
        }
        assert!(reader.next().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn oversized_and_empty_frames_and_truncation_are_errors() {
        let mut reader = FrameReader::new(&[0x10, 0x01, 0][..], 4096);
        assert!(matches!(
            reader.next().await,
            Err(FrameError::Length { len: 4097, .. })
        ));
        let mut reader = FrameReader::new(&[0, 0][..], 4096);
        assert!(matches!(
            reader.next().await,
            Err(FrameError::Length { len: 0, .. })
        ));
        let mut reader = FrameReader::new(&[0, 5, 1, 2][..], 4096);
        assert!(matches!(reader.next().await, Err(FrameError::Truncated)));
    }

    #[test]
    fn only_a_padded_long_header_packet_starts_a_connection() {
        assert!(check_initial(&[0xc3; 1200]).is_ok());
        assert!(check_initial(&[0xc3; 1199]).is_err());
        assert!(check_initial(&[0x43; 1200]).is_err());
        assert!(check_initial(b"GET / HTTP/1.1\r\n").is_err());
    }

    #[tokio::test]
    async fn garbage_is_refused_on_its_first_bytes() {
        // "GE" claims an 18,245-byte frame; "T" can't start a QUIC packet.
        let mut reader = FrameReader::new(&b"GET / HTTP/1.1\r\n"[..], 65_527).expecting_initial();
        assert!(matches!(
            reader.next().await,
            Err(FrameError::NotInitial { first: b'T', .. })
        ));
    }
}
