//! Writing owned chunks of bytes: a QUIC stream keeps a [`Bytes`] as it is until the peer
//! acknowledges it, so handing it the chunk saves the copy `poll_write` makes of a slice.
//! Any other stream is written the ordinary way.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, DuplexStream};

/// A stream [`crate::FrameWriter`] can write to.
pub trait WriteChunks: AsyncWrite + Unpin {
    /// Writes from the front of `chunks`: the chunks taken whole are left empty, one taken
    /// in part is advanced past what was written. Returns the bytes written (0 only when
    /// every chunk is empty, or the stream takes nothing more); `Pending` with nothing
    /// written. By default the first non-empty chunk goes through `poll_write`, copied.
    fn poll_write_chunks(
        &mut self,
        cx: &mut Context<'_>,
        chunks: &mut [Bytes],
    ) -> Poll<io::Result<usize>> {
        let Some(front) = chunks.iter_mut().find(|chunk| !chunk.is_empty()) else {
            return Poll::Ready(Ok(0));
        };
        let written = ready!(Pin::new(self).poll_write(cx, front))?;
        front.advance(written);
        Poll::Ready(Ok(written))
    }
}

impl WriteChunks for hopgate_transport::SendStream {
    fn poll_write_chunks(
        &mut self,
        cx: &mut Context<'_>,
        chunks: &mut [Bytes],
    ) -> Poll<io::Result<usize>> {
        hopgate_transport::SendStream::poll_write_chunks(self, cx, chunks)
    }
}

impl<T: WriteChunks + ?Sized> WriteChunks for &mut T {
    fn poll_write_chunks(
        &mut self,
        cx: &mut Context<'_>,
        chunks: &mut [Bytes],
    ) -> Poll<io::Result<usize>> {
        (**self).poll_write_chunks(cx, chunks)
    }
}

impl WriteChunks for DuplexStream {}
