//! Frames over one stream: a reader that buffers until a whole frame is there, and a writer
//! that sends body chunks without copying them.

use bytes::{Bytes, BytesMut};
use hopgate_protocol::{Decoder, Encoder, Frame, Limits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::TunnelError;

/// Reads frames from a stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    decoder: Decoder,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads with the given limits.
    pub fn new(io: R, limits: Limits) -> Self {
        Self {
            io,
            decoder: Decoder::new(limits),
            buf: BytesMut::with_capacity(16 * 1024),
        }
    }

    /// The next frame; `None` when the stream ends cleanly between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, TunnelError> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(frame));
            }
            if self.buf.capacity() - self.buf.len() < 8 * 1024 {
                self.buf.reserve(64 * 1024);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(TunnelError::Truncated(self.buf.len()))
                };
            }
        }
    }

    /// The stream underneath.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }
}

/// Writes frames to a stream.
///
/// Frames can be queued and written together ([`FrameWriter::queue`], then
/// [`FrameWriter::flush`]), so a small answer — head, body, end — leaves in one packet.
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    encoder: Encoder,
    max_chunk: usize,
    pending: BytesMut,
}

/// Queued bytes past which [`FrameWriter::queue_body`] writes them out.
const FLUSH_AT: usize = 64 * 1024;

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes with the given limits.
    pub fn new(io: W, limits: Limits) -> Self {
        Self {
            io,
            encoder: Encoder::new(limits),
            max_chunk: limits.max_body_chunk,
            pending: BytesMut::with_capacity(1024),
        }
    }

    /// Sends one frame now (with anything queued before it).
    pub async fn send(&mut self, frame: &Frame) -> Result<(), TunnelError> {
        self.queue(frame)?;
        self.flush().await
    }

    /// Sends body bytes now, as one or more chunks.
    pub async fn send_body(&mut self, data: Bytes) -> Result<(), TunnelError> {
        self.queue_body(data).await?;
        self.flush().await
    }

    /// Adds a frame to what the next flush writes.
    pub fn queue(&mut self, frame: &Frame) -> Result<(), TunnelError> {
        if let Frame::BodyChunk(data) = frame {
            for piece in data.chunks(self.max_chunk) {
                self.encoder
                    .encode_body_chunk_header(piece.len(), &mut self.pending)?;
                self.pending.extend_from_slice(piece);
            }
            return Ok(());
        }
        self.encoder.encode(frame, &mut self.pending)?;
        Ok(())
    }

    /// Adds body bytes to what the next flush writes; large bodies are written straight
    /// through (after what was queued) without being copied.
    pub async fn queue_body(&mut self, mut data: Bytes) -> Result<(), TunnelError> {
        if self.pending.len() + data.len() <= FLUSH_AT {
            return self.queue(&Frame::BodyChunk(data));
        }
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(self.max_chunk));
            self.encoder
                .encode_body_chunk_header(piece.len(), &mut self.pending)?;
            self.flush().await?;
            self.io.write_all(&piece).await?;
        }
        Ok(())
    }

    /// Writes what is queued.
    pub async fn flush(&mut self) -> Result<(), TunnelError> {
        if !self.pending.is_empty() {
            self.io.write_all(&self.pending).await?;
            self.pending.clear();
        }
        Ok(())
    }

    /// The stream underneath (to finish or reset it); flush first.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hopgate_protocol::{EndOfBody, Ping};

    #[tokio::test]
    async fn frames_cross_a_pipe_in_order_and_big_bodies_are_split() {
        let (a, b) = tokio::io::duplex(1024);
        let limits = Limits::default();
        let mut writer = FrameWriter::new(a, limits);
        let mut reader = FrameReader::new(b, limits);
        let body = Bytes::from(vec![9u8; limits.max_body_chunk * 2 + 10]);
        let sent = body.clone();
        let writing = tokio::spawn(async move {
            writer.send(&Frame::Ping(Ping { nonce: 1 })).await.unwrap();
            writer.send_body(sent).await.unwrap();
            writer
                .send(&Frame::EndOfBody(EndOfBody::default()))
                .await
                .unwrap();
        });
        assert_eq!(
            reader.next().await.unwrap(),
            Some(Frame::Ping(Ping { nonce: 1 }))
        );
        let mut got = Vec::new();
        let mut chunks = 0;
        loop {
            match reader.next().await.unwrap() {
                Some(Frame::BodyChunk(data)) => {
                    assert!(data.len() <= limits.max_body_chunk);
                    got.extend_from_slice(&data);
                    chunks += 1;
                }
                Some(Frame::EndOfBody(_)) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        writing.await.unwrap();
        assert_eq!(got, body);
        assert_eq!(chunks, 3);
        assert_eq!(reader.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn queued_frames_leave_in_one_write_and_decode_in_order() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let limits = Limits::default();
        let mut writer = FrameWriter::new(a, limits);
        writer.queue(&Frame::Ping(Ping { nonce: 5 })).unwrap();
        writer
            .queue_body(Bytes::from_static(b"small"))
            .await
            .unwrap();
        writer
            .queue(&Frame::EndOfBody(EndOfBody::default()))
            .unwrap();
        let mut reader = FrameReader::new(b, limits);
        // Nothing is written before the flush.
        let early = tokio::time::timeout(std::time::Duration::from_millis(50), reader.next()).await;
        assert!(early.is_err(), "queued frames were written before flush");
        writer.flush().await.unwrap();
        assert_eq!(
            reader.next().await.unwrap(),
            Some(Frame::Ping(Ping { nonce: 5 }))
        );
        assert_eq!(
            reader.next().await.unwrap(),
            Some(Frame::BodyChunk(Bytes::from_static(b"small")))
        );
        assert!(matches!(
            reader.next().await.unwrap(),
            Some(Frame::EndOfBody(_))
        ));
    }

    #[tokio::test]
    async fn a_stream_ending_inside_a_frame_is_an_error() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&[0x08, 0, 0, 0, 20, 1, 2]).await.unwrap();
        drop(a);
        let mut reader = FrameReader::new(b, Limits::default());
        assert!(matches!(
            reader.next().await,
            Err(TunnelError::Truncated(7))
        ));
    }
}
