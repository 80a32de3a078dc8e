//! A response body that keeps a guard alive until the body has been sent or the visitor
//! went away: what the guard gives back or counts in its `Drop` (a request's place under
//! the caps, its metrics record) then happens at the answer's real end. The body's trailer
//! fields pass through.

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{
    HttpResponse,
    body::{BodySize, BoxBody, MessageBody},
    http::header::HeaderMap,
};
use bytes::Bytes;

/// `body`, with `guard` dropped together with it.
pub(crate) struct Guarded<G> {
    body: BoxBody,
    _guard: G,
}

impl<G: Unpin> MessageBody for Guarded<G> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }

    fn take_trailers(self: Pin<&mut Self>) -> Option<HeaderMap> {
        Pin::new(&mut self.get_mut().body).take_trailers()
    }
}

/// `response` with `guard` held until its body ends or is dropped.
pub(crate) fn guard<G>(response: HttpResponse, guard: G) -> HttpResponse<Guarded<G>> {
    response.map_body(|_, body| Guarded {
        body,
        _guard: guard,
    })
}
