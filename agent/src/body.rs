//! [`RequestBody`]: the body of the request to the local service, fed frame by frame from
//! the gateway's stream through a small bounded queue, so an upload streams with
//! back-pressure and never sits whole in memory.
//!
//! The body ends cleanly only when the feeder says so ([`BodySender::finish`], on the
//! gateway's `EndOfBody`). If the feeder goes away without it (the visitor left, the stream
//! broke), the body fails, so hyper aborts the local request instead of sending a
//! truncated body as if it were complete.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// Body frames queued between the gateway's stream and hyper. With chunks of at most 256
/// KiB this bounds an upload's buffering to ~1 MiB per request.
pub(crate) const BODY_QUEUE: usize = 4;

/// The request body ended before the gateway's `EndOfBody`.
#[derive(Debug, thiserror::Error)]
#[error("the request body was cut off (the visitor went away or the gateway's stream failed)")]
pub(crate) struct BodyAborted;

/// The body hyper sends to the local service.
#[derive(Debug)]
pub(crate) struct RequestBody {
    // `None`: no body at all.
    inner: Option<(mpsc::Receiver<Frame<Bytes>>, Arc<AtomicBool>)>,
    /// The length, when known before it is sent (a whole body).
    length: Option<u64>,
}

/// Feeds a [`RequestBody`].
#[derive(Debug)]
pub(crate) struct BodySender {
    tx: mpsc::Sender<Frame<Bytes>>,
    complete: Arc<AtomicBool>,
}

impl RequestBody {
    /// A request without a body (the gateway's first frame after the head was `EndOfBody`).
    pub(crate) fn empty() -> Self {
        Self {
            inner: None,
            length: None,
        }
    }

    /// A body already whole (a replay's), sent with its `content-length`.
    pub(crate) fn whole(data: Bytes) -> Self {
        let length = data.len() as u64;
        let (tx, mut body) = Self::channel();
        // The queue is empty: the one frame fits.
        let _ = tx.tx.try_send(Frame::data(data));
        tx.complete.store(true, Ordering::Release);
        body.length = Some(length);
        body
    }

    /// A streamed body and its feeder.
    pub(crate) fn channel() -> (BodySender, Self) {
        let (tx, rx) = mpsc::channel(BODY_QUEUE);
        let complete = Arc::new(AtomicBool::new(false));
        (
            BodySender {
                tx,
                complete: complete.clone(),
            },
            Self {
                inner: Some((rx, complete)),
                length: None,
            },
        )
    }
}

impl BodySender {
    /// Queues body bytes; waits while the queue is full (hyper hasn't written the previous
    /// ones to the local service yet). `false` if hyper no longer wants the body.
    pub(crate) async fn data(&self, data: Bytes) -> bool {
        self.tx.send(Frame::data(data)).await.is_ok()
    }

    /// Ends the body cleanly, with trailers if any.
    pub(crate) async fn finish(self, trailers: Option<HeaderMap>) {
        if let Some(trailers) = trailers {
            let _ = self.tx.send(Frame::trailers(trailers)).await;
        }
        self.complete.store(true, Ordering::Release);
        // Dropping `tx` ends the stream after the queued frames.
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAborted>>> {
        let Some((rx, complete)) = &mut self.inner else {
            return Poll::Ready(None);
        };
        match rx.poll_recv(cx) {
            Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(None) if complete.load(Ordering::Acquire) => Poll::Ready(None),
            Poll::Ready(None) => Poll::Ready(Some(Err(BodyAborted))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        match (&self.inner, self.length) {
            (None, _) => SizeHint::with_exact(0),
            (Some(_), Some(length)) => SizeHint::with_exact(length),
            (Some(_), None) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn a_finished_body_ends_cleanly_with_trailers() {
        let (tx, mut body) = RequestBody::channel();
        let feeding = tokio::spawn(async move {
            assert!(tx.data(Bytes::from_static(b"hello ")).await);
            assert!(tx.data(Bytes::from_static(b"world")).await);
            let mut trailers = HeaderMap::new();
            trailers.insert("x-sum", "1".parse().unwrap());
            tx.finish(Some(trailers)).await;
        });
        let mut data = Vec::new();
        let mut got_trailers = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.unwrap();
            if let Some(chunk) = frame.data_ref() {
                data.extend_from_slice(chunk);
            } else {
                got_trailers = frame.trailers_ref().unwrap().contains_key("x-sum");
            }
        }
        feeding.await.unwrap();
        assert_eq!(data, b"hello world");
        assert!(got_trailers);
    }

    #[tokio::test]
    async fn a_body_cut_off_fails_instead_of_ending() {
        let (tx, mut body) = RequestBody::channel();
        assert!(tx.data(Bytes::from_static(b"partial")).await);
        drop(tx);
        assert_eq!(
            body.frame().await.unwrap().unwrap().into_data().unwrap(),
            "partial"
        );
        assert!(body.frame().await.unwrap().is_err());
    }

    #[tokio::test]
    async fn the_queue_is_bounded() {
        let (tx, _body) = RequestBody::channel();
        for _ in 0..BODY_QUEUE {
            assert!(tx.data(Bytes::from_static(b"x")).await);
        }
        let blocked =
            tokio::time::timeout(std::time::Duration::from_millis(50), tx.data(Bytes::new())).await;
        assert!(blocked.is_err(), "a full queue must make the feeder wait");
    }

    #[tokio::test]
    async fn a_whole_body_says_its_length_and_ends() {
        let mut body = RequestBody::whole(Bytes::from_static(b"edited"));
        assert_eq!(body.size_hint().exact(), Some(6));
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(data, "edited");
        assert!(body.frame().await.is_none());
    }

    #[test]
    fn an_empty_body_is_known_to_be_empty() {
        let body = RequestBody::empty();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }
}
