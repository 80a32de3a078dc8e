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
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    encoder: Encoder,
    max_chunk: usize,
    scratch: BytesMut,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes with the given limits.
    pub fn new(io: W, limits: Limits) -> Self {
        Self {
            io,
            encoder: Encoder::new(limits),
            max_chunk: limits.max_body_chunk,
            scratch: BytesMut::with_capacity(1024),
        }
    }

    /// Sends one frame (body chunks over the limit are split).
    pub async fn send(&mut self, frame: &Frame) -> Result<(), TunnelError> {
        if let Frame::BodyChunk(data) = frame {
            return self.send_body(data.clone()).await;
        }
        self.scratch.clear();
        self.encoder.encode(frame, &mut self.scratch)?;
        self.io.write_all(&self.scratch).await?;
        Ok(())
    }

    /// Sends body bytes as one or more chunks; the data itself isn't copied.
    pub async fn send_body(&mut self, mut data: Bytes) -> Result<(), TunnelError> {
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(self.max_chunk));
            self.scratch.clear();
            self.encoder
                .encode_body_chunk_header(piece.len(), &mut self.scratch)?;
            self.io.write_all(&self.scratch).await?;
            self.io.write_all(&piece).await?;
        }
        Ok(())
    }

    /// The stream underneath (to finish or reset it).
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
