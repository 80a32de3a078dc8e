//! [`AnswerBody`]: the visitor's response body made of an answer's [`Body`]: its bytes as
//! they come, then its trailer fields, which actix-http sends after the body (HTTP/2: a
//! trailing HEADERS frame; HTTP/1.1: after the last chunk of a chunked body, where a body of
//! known length has no room for them and ends without). Which fields may trail:
//! [`trailers`](crate::http::trailers).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll, ready},
};

use actix_web::{
    body::{BodySize, MessageBody},
    http::header::HeaderMap,
};
use bytes::Bytes;

use crate::{
    http::trailers,
    upstream::{Body, BodyItem},
};

/// An answer's body for actix-http, with its trailer fields once it has ended.
pub(super) struct AnswerBody {
    items: Body,
    size: BodySize,
    trailers: Option<HeaderMap>,
}

impl AnswerBody {
    /// `items`, of `length` bytes if the answer said so.
    pub(super) fn new(items: Body, length: Option<u64>) -> Self {
        Self {
            items,
            size: length.map_or(BodySize::Stream, BodySize::Sized),
            trailers: None,
        }
    }
}

impl MessageBody for AnswerBody {
    type Error = io::Error;

    fn size(&self) -> BodySize {
        self.size
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, io::Error>>> {
        let this = self.get_mut();
        loop {
            match ready!(this.items.as_mut().poll_next(cx)) {
                // An empty chunk would end an HTTP/1.1 chunked body early.
                Some(Ok(BodyItem::Data(data))) if data.is_empty() => {}
                Some(Ok(BodyItem::Data(data))) => return Poll::Ready(Some(Ok(data))),
                // The last item: the end follows.
                Some(Ok(BodyItem::Trailers(fields))) => {
                    this.trailers = Some(trailers::for_visitor(&fields));
                }
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => return Poll::Ready(None),
            }
        }
    }

    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        self.get_mut().trailers.take()
    }
}

#[cfg(test)]
mod tests {
    use actix_web::body::to_bytes;
    use hopgate_protocol::Header;

    use super::*;

    #[actix_web::test]
    async fn bytes_then_trailers() {
        let items = futures_util::stream::iter([
            Ok(BodyItem::Data(Bytes::from_static(b"he"))),
            Ok(BodyItem::Data(Bytes::new())),
            Ok(BodyItem::Data(Bytes::from_static(b"llo"))),
            Ok(BodyItem::Trailers(vec![
                Header::new("grpc-status", "0"),
                Header::new("content-length", "5"),
            ])),
        ]);
        let mut body = AnswerBody::new(Box::pin(items), None);
        assert_eq!(body.size(), BodySize::Stream);
        assert_eq!(to_bytes(&mut body).await.unwrap(), "hello");
        let trailers = Pin::new(&mut body).take_trailers().unwrap();
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert!(Pin::new(&mut body).take_trailers().is_none(), "taken once");
    }
}
