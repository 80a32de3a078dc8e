//! Frames over one stream: a reader that buffers until a whole frame is there, and a writer
//! that sends body chunks without copying them. Both are cancel-safe, so a read or write
//! may run under a timeout and be taken up again after it.

use std::{
    collections::VecDeque,
    future::Future,
    task::{Context, Poll, ready},
};

use bytes::{Bytes, BytesMut};
use hopgate_protocol::{Decoder, Encoder, Frame, Limits};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{TunnelError, WriteChunks};

/// How a [`FrameReader`] sizes its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadBuffer {
    /// The buffer's size at first.
    initial: usize,
    /// Room made before a read when less than this is free...
    min_free: usize,
    /// ...this much at a time.
    grow: usize,
    /// A buffer drained of frames and larger than this is swapped for a fresh one of
    /// `initial` bytes, so a burst's growth is not kept for the stream's life.
    shrink_above: usize,
}

impl ReadBuffer {
    /// Streams that carry bodies: reads of up to 64 KiB, the buffer kept as it grew.
    const BULK: Self = Self {
        initial: 16 * 1024,
        min_free: 8 * 1024,
        grow: 64 * 1024,
        shrink_above: usize::MAX,
    };
    /// A long-lived stream of small frames (a session's control stream): a few hundred
    /// bytes at rest, grown for a larger frame only while it arrives.
    const SMALL: Self = Self {
        initial: 512,
        min_free: 256,
        grow: 1024,
        shrink_above: 4 * 1024,
    };
}

/// Reads frames from a stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    decoder: Decoder,
    buf: BytesMut,
    sizing: ReadBuffer,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Reads with the given limits, in reads of up to 64 KiB: for streams that carry
    /// bodies.
    pub fn new(io: R, limits: Limits) -> Self {
        Self::sized(io, limits, ReadBuffer::BULK)
    }

    /// Reads with the given limits from a long-lived stream of small frames (a session's
    /// control stream), whose buffer stays a few hundred bytes between frames: an idle
    /// session costs its pod that much, not a body stream's 16 KiB.
    pub fn for_small_frames(io: R, limits: Limits) -> Self {
        Self::sized(io, limits, ReadBuffer::SMALL)
    }

    fn sized(io: R, limits: Limits, sizing: ReadBuffer) -> Self {
        Self {
            io,
            decoder: Decoder::new(limits),
            buf: BytesMut::with_capacity(sizing.initial),
            sizing,
        }
    }

    /// The next frame; `None` when the stream ends cleanly between frames. Cancel-safe:
    /// bytes read before a cut-short call stay buffered for the next one.
    pub async fn next(&mut self) -> Result<Option<Frame>, TunnelError> {
        std::future::poll_fn(|cx| self.poll_next(cx)).await
    }

    /// The next frame if one can be had now: `Pending` (the task woken when more bytes
    /// arrive) while the stream has no whole frame yet. For owners that drive the reader
    /// from their own poll loop; what was read stays buffered across `Pending`s.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Frame>, TunnelError>> {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf)? {
                self.shrink_if_drained();
                return Poll::Ready(Ok(Some(frame)));
            }
            if self.buf.capacity() - self.buf.len() < self.sizing.min_free {
                self.buf.reserve(self.sizing.grow);
            }
            // A read future made for this poll only: it reads into `buf` or registers the
            // waker and reads nothing, so dropping it while pending loses no byte.
            let read = std::pin::pin!(self.io.read_buf(&mut self.buf)).poll(cx);
            if ready!(read)? == 0 {
                return Poll::Ready(if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(TunnelError::Truncated(self.buf.len()))
                });
            }
        }
    }

    /// The stream underneath.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.io
    }

    /// Lets go of a buffer grown past its sizing's bound once no byte waits in it.
    fn shrink_if_drained(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > self.sizing.shrink_above {
            self.buf = BytesMut::with_capacity(self.sizing.initial);
        }
    }

    /// Bytes the buffer can hold without growing.
    #[cfg(test)]
    fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Writes frames to a stream.
///
/// Frames can be queued and written together ([`FrameWriter::queue`], then
/// [`FrameWriter::flush`]), so a small answer — head, body, end — leaves in one packet.
///
/// # Cancel safety
///
/// Every async method is cancel-safe: what a method has queued stays queued, in order,
/// and what was written is never written again. A flush cut short (say by a timeout)
/// leaves the rest of its bytes — a frame's tail, a body chunk's tail — to the next
/// flush, ahead of anything queued since; no frame is split or repeated on the stream.
#[derive(Debug)]
pub struct FrameWriter<W> {
    io: W,
    encoder: Encoder,
    max_chunk: usize,
    /// Bytes ready to write, in order: encoded frames and body chunks (not copied). The
    /// front one may be partly written already.
    ready: VecDeque<Bytes>,
    /// Frames encoded since the last hand-over to `ready`.
    pending: BytesMut,
}

/// Queued bytes past which [`FrameWriter::queue_body`] writes them out.
const FLUSH_AT: usize = 64 * 1024;

impl<W: WriteChunks> FrameWriter<W> {
    /// Writes with the given limits.
    pub fn new(io: W, limits: Limits) -> Self {
        Self::sized(io, limits, 1024)
    }

    /// Writes with the given limits to a long-lived stream of small frames (a session's
    /// control stream): its buffer starts at a frame's size, not 1 KiB.
    pub fn for_small_frames(io: W, limits: Limits) -> Self {
        Self::sized(io, limits, 64)
    }

    fn sized(io: W, limits: Limits, capacity: usize) -> Self {
        Self {
            io,
            encoder: Encoder::new(limits),
            max_chunk: limits.max_body_chunk,
            ready: VecDeque::new(),
            pending: BytesMut::with_capacity(capacity),
        }
    }

    /// Sends one frame now (with anything queued before it). Cancel-safe: once called,
    /// the frame is queued and a cut-short call leaves it to the next flush.
    pub async fn send(&mut self, frame: &Frame) -> Result<(), TunnelError> {
        self.queue(frame)?;
        self.flush().await
    }

    /// Sends body bytes now, as one or more chunks. Cancel-safe as [`FrameWriter::send`].
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

    /// Adds body bytes to what the next flush writes; a large body is queued without being
    /// copied and written out at once. Cancel-safe: the whole body is queued before the
    /// first write, so a cut-short call leaves all of it to the next flush.
    pub async fn queue_body(&mut self, data: Bytes) -> Result<(), TunnelError> {
        if self.queued() + data.len() <= FLUSH_AT {
            return self.queue(&Frame::BodyChunk(data));
        }
        self.push_body(data)?;
        self.flush().await
    }

    /// Adds body bytes to what the next flush writes, as one or more chunks, without
    /// copying them and without writing: the caller flushes (until then the queue grows
    /// with every call). For owners that drive the writer from their own poll loop.
    pub fn push_body(&mut self, mut data: Bytes) -> Result<(), TunnelError> {
        while !data.is_empty() {
            let piece = data.split_to(data.len().min(self.max_chunk));
            self.encoder
                .encode_body_chunk_header(piece.len(), &mut self.pending)?;
            self.hand_over_pending();
            self.ready.push_back(piece);
        }
        Ok(())
    }

    /// Writes what is queued. Cancel-safe: see the type's docs.
    pub async fn flush(&mut self) -> Result<(), TunnelError> {
        std::future::poll_fn(|cx| self.poll_flush(cx)).await
    }

    /// Writes what is queued, as far as the stream takes it now: `Ready` once all of it
    /// is written, `Pending` (with the rest kept in order) while the stream is full. For
    /// owners that drive the writer from their own poll loop.
    pub fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), TunnelError>> {
        self.hand_over_pending();
        while !self.ready.is_empty() {
            let written = ready!(self.io.poll_write_chunks(cx, self.ready.make_contiguous()))?;
            if written == 0 {
                return Poll::Ready(Err(
                    std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                ));
            }
            while self.ready.front().is_some_and(Bytes::is_empty) {
                self.ready.pop_front();
            }
        }
        Poll::Ready(Ok(()))
    }

    /// The stream underneath (to finish or reset it); flush first.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.io
    }

    /// Bytes queued and not yet written.
    fn queued(&self) -> usize {
        self.pending.len() + self.ready.iter().map(Bytes::len).sum::<usize>()
    }

    /// Moves the frames encoded so far behind what is ready to write.
    fn hand_over_pending(&mut self) {
        if !self.pending.is_empty() {
            self.ready.push_back(self.pending.split().freeze());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hopgate_protocol::{EndOfBody, Ping};
    use tokio::io::AsyncWriteExt;

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
    async fn a_small_frames_reader_grows_for_a_large_frame_and_shrinks_back() {
        let (a, b) = tokio::io::duplex(1 << 20);
        let limits = Limits::default();
        let mut writer = FrameWriter::for_small_frames(a, limits);
        let mut reader = FrameReader::for_small_frames(b, limits);
        let ping = |nonce| Frame::Ping(Ping { nonce });
        writer.send(&ping(1)).await.unwrap();
        assert_eq!(reader.next().await.unwrap(), Some(ping(1)));
        let resting = reader.buffer_capacity();
        assert!(resting <= 1024, "{resting}");

        let large = Bytes::from(vec![7u8; 40 * 1024]);
        writer.queue(&Frame::BodyChunk(large.clone())).unwrap();
        writer.queue(&ping(2)).unwrap();
        writer.flush().await.unwrap();
        assert_eq!(reader.next().await.unwrap(), Some(Frame::BodyChunk(large)));
        assert_eq!(reader.next().await.unwrap(), Some(ping(2)));
        let resting = reader.buffer_capacity();
        assert!(resting <= 1024, "{resting}");

        // A body stream's reader keeps its larger buffer.
        let (_, b) = tokio::io::duplex(64);
        assert_eq!(FrameReader::new(b, limits).buffer_capacity(), 16 * 1024);
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

    /// A stream that takes at most `allowance` more bytes, then stays pending (without
    /// waking anyone: only a timeout ends a write waiting on it).
    #[derive(Default)]
    struct Trickle {
        written: Vec<u8>,
        allowance: usize,
    }

    impl WriteChunks for Trickle {}

    impl tokio::io::AsyncWrite for Trickle {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(self.allowance);
            if n == 0 {
                return std::task::Poll::Pending;
            }
            self.allowance -= n;
            self.written.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// Every frame `written` holds, in order.
    async fn frames_in(written: Vec<u8>, limits: Limits) -> Vec<Frame> {
        let mut reader = FrameReader::new(&written[..], limits);
        let mut frames = Vec::new();
        while let Some(frame) = reader.next().await.unwrap() {
            frames.push(frame);
        }
        frames
    }

    const CUT: std::time::Duration = std::time::Duration::from_millis(20);

    #[tokio::test]
    async fn a_flush_cut_short_by_a_timeout_resumes_where_it_stopped() {
        let limits = Limits::default();
        let mut writer = FrameWriter::new(Trickle::default(), limits);
        writer.queue(&Frame::Ping(Ping { nonce: 1 })).unwrap();
        writer.queue(&Frame::Ping(Ping { nonce: 2 })).unwrap();
        writer.get_mut().allowance = 5;
        let cut = tokio::time::timeout(CUT, writer.flush()).await;
        assert!(cut.is_err(), "the flush should still be waiting");
        assert_eq!(writer.get_mut().written.len(), 5);
        // More frames queued after the cut go after what was cut.
        writer.queue(&Frame::Ping(Ping { nonce: 3 })).unwrap();
        writer.get_mut().allowance = usize::MAX;
        writer.send(&Frame::Ping(Ping { nonce: 4 })).await.unwrap();
        let written = std::mem::take(&mut writer.get_mut().written);
        let nonces: Vec<u64> = frames_in(written, limits)
            .await
            .into_iter()
            .map(|frame| match frame {
                Frame::Ping(ping) => ping.nonce,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(nonces, [1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn a_body_cut_short_by_a_timeout_is_sent_whole_and_once() {
        let limits = Limits::default();
        let mut writer = FrameWriter::new(Trickle::default(), limits);
        let body: Vec<u8> = (0..FLUSH_AT * 2 + 7).map(|i| (i % 251) as u8).collect();
        writer.queue(&Frame::Ping(Ping { nonce: 1 })).unwrap();
        // The cut falls inside the body's first chunk, past its header.
        writer.get_mut().allowance = 100;
        let cut = tokio::time::timeout(CUT, writer.send_body(Bytes::from(body.clone()))).await;
        assert!(cut.is_err(), "the body should still be on its way");
        writer.get_mut().allowance = usize::MAX;
        writer
            .send(&Frame::EndOfBody(EndOfBody::default()))
            .await
            .unwrap();
        let written = std::mem::take(&mut writer.get_mut().written);
        let frames = frames_in(written, limits).await;
        assert_eq!(frames.first(), Some(&Frame::Ping(Ping { nonce: 1 })));
        assert!(matches!(frames.last(), Some(Frame::EndOfBody(_))));
        let mut got = Vec::new();
        for frame in &frames[1..frames.len() - 1] {
            match frame {
                Frame::BodyChunk(data) => got.extend_from_slice(data),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(got, body);
    }

    #[tokio::test]
    async fn a_frame_polled_in_place_arrives_whole_after_pending_polls() {
        let (mut a, b) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(b, Limits::default());
        let mut encoded = BytesMut::new();
        Encoder::new(Limits::default())
            .encode(&Frame::Ping(Ping { nonce: 7 }), &mut encoded)
            .unwrap();
        let (first, rest) = encoded.split_at(3);
        a.write_all(first).await.unwrap();
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(
            reader.poll_next(&mut cx).is_pending(),
            "half a frame is no frame"
        );
        a.write_all(rest).await.unwrap();
        let polled = std::future::poll_fn(|cx| reader.poll_next(cx)).await;
        assert_eq!(polled.unwrap(), Some(Frame::Ping(Ping { nonce: 7 })));
        drop(a);
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
