//! The one response builder: the visitor's response from an upstream's [`Answer`],
//! whichever upstream gave it. The status is checked (an agent can't answer `1xx`, and
//! `101` only to a switch the visitor asked for), hop-by-hop headers stop here, the length
//! is kept, the body's trailer fields follow it ([`AnswerBody`]), a `HEAD`, `204` or `304`
//! gets no body, and a `101` makes the connection a raw byte pipe until either side
//! closes.

use actix_web::{
    HttpRequest, HttpResponse, HttpResponseBuilder,
    http::{
        Method, StatusCode,
        header::{CONTENT_TYPE, HeaderValue},
    },
};
use bytes::Bytes;
use hopgate_protocol::{Header, ResponseHead};

use crate::{
    http::{headers, pages},
    upstream::{Answer, Body, answer_body::AnswerBody},
};

/// The visitor's response to `req` from `answer`. `upgrade`: the visitor asked to switch
/// protocols (the only case where a `101` answer is valid).
pub(super) fn build(req: &HttpRequest, answer: Answer, upgrade: bool) -> HttpResponse {
    let Answer { head, body } = answer;
    let status = match StatusCode::from_u16(head.status) {
        Ok(StatusCode::SWITCHING_PROTOCOLS) if upgrade => return switched(&head, body),
        Ok(status) if !status.is_informational() => status,
        _ => {
            return pages::error(
                req,
                StatusCode::BAD_GATEWAY,
                "Bad Gateway",
                &format!(
                    "The agent answered with an invalid status ({}).",
                    head.status
                ),
            );
        }
    };
    let mut response = HttpResponse::build(status);
    if upgrade {
        // The local service declined the switch; the connection was already handed over
        // to a raw byte stream, so it can't carry another request.
        response.force_close();
    }
    let length = copy_headers(&mut response, &head.headers);
    let no_body = *req.method() == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if let Some(length) = length {
        response.no_chunking(length);
    }
    if no_body {
        // Nothing more to relay: the upstream's request ends here.
        drop(body);
        if length.is_some() {
            // HEAD: the length of the body a GET would get, with no body (`no_chunking`
            // above set it; actix writes no body for HEAD).
            let nothing = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
            return response.streaming(nothing);
        }
        return response.finish();
    }
    if !head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()))
    {
        // What actix's streamed bodies say of content of no stated type.
        response.insert_header((CONTENT_TYPE, "application/octet-stream"));
    }
    response.body(AnswerBody::new(body, length))
}

/// Copies the answer's end-to-end headers but `Content-Length`, which is returned.
fn copy_headers(response: &mut HttpResponseBuilder, from: &[Header]) -> Option<u64> {
    let mut length = None;
    for header in headers::response_headers(from) {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(&header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            continue;
        }
        match (
            headers::actix_name(&header.name),
            HeaderValue::from_maybe_shared(header.value.clone()),
        ) {
            // The value's bytes are shared with the decoded head, not copied.
            (Ok(name), Ok(value)) => response.append_header((name, value)),
            // The builder keeps the error and answers with it, as for any bad header.
            _ => response.append_header((&*header.name, header.value.as_ref())),
        };
    }
    length
}

/// `101 Switching Protocols`: from here on the connection carries the upstream's bytes to
/// the visitor (and the visitor's up, which the upstream reads) until either side closes.
fn switched(head: &ResponseHead, body: Body) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::SWITCHING_PROTOCOLS);
    let protocol = head
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
        .and_then(|h| HeaderValue::from_maybe_shared(h.value.clone()).ok())
        .unwrap_or(HeaderValue::from_static("websocket"));
    response.upgrade(protocol);
    for header in headers::response_headers(&head.headers) {
        response.append_header((&*header.name, header.value.as_ref()));
    }
    response.body(AnswerBody::new(body, None))
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    };

    use actix_web::{
        body::{BodySize, MessageBody},
        http::ConnectionType,
        test::TestRequest,
    };

    use futures_util::StreamExt;

    use super::*;
    use crate::upstream::BodyItem;

    /// An answer whose body says, through `dropped`, when it was let go.
    fn answer(status: u16, headers: &[(&str, &str)], dropped: &Arc<AtomicBool>) -> Answer {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let flag = Flag(dropped.clone());
        let body = futures_util::stream::iter([Ok(BodyItem::Data(Bytes::from_static(b"hello")))])
            .map(move |item: Result<BodyItem, std::io::Error>| {
                let _held = &flag;
                item
            });
        Answer {
            head: ResponseHead {
                status,
                headers: headers
                    .iter()
                    .map(|(name, value)| {
                        Header::new(name.to_string(), Bytes::copy_from_slice(value.as_bytes()))
                    })
                    .collect(),
            },
            body: Box::pin(body),
        }
    }

    #[test]
    fn hop_by_hop_headers_stop_and_the_length_is_kept() {
        let req = TestRequest::get().to_http_request();
        let dropped = Arc::new(AtomicBool::new(false));
        let headers = [
            ("Connection", "close, X-Internal"),
            ("X-Internal", "1"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "5"),
            ("Set-Cookie", "a=1"),
            ("Set-Cookie", "b=2"),
        ];
        let response = build(&req, answer(200, &headers, &dropped), false);
        assert_eq!(response.status(), StatusCode::OK);
        assert!(response.headers().get("x-internal").is_none());
        assert!(response.headers().get("transfer-encoding").is_none());
        assert_eq!(response.headers().get_all("set-cookie").count(), 2);
        assert_eq!(response.body().size(), BodySize::Sized(5));
        assert!(
            !dropped.load(Ordering::SeqCst),
            "the body is still to be sent"
        );
    }

    #[test]
    fn head_204_and_304_get_no_body_and_let_the_upstream_go() {
        for (method, status) in [(Method::HEAD, 200), (Method::GET, 204), (Method::GET, 304)] {
            let req = TestRequest::default()
                .method(method.clone())
                .to_http_request();
            let dropped = Arc::new(AtomicBool::new(false));
            let response = build(&req, answer(status, &[], &dropped), false);
            assert_eq!(response.status().as_u16(), status);
            assert!(dropped.load(Ordering::SeqCst), "{method} {status}");
        }
    }

    #[test]
    fn informational_answers_are_refused_unless_a_switch_was_asked_for() {
        let req = TestRequest::get().to_http_request();
        let dropped = Arc::new(AtomicBool::new(false));
        for status in [100, 101, 103] {
            let response = build(&req, answer(status, &[], &dropped), false);
            assert_eq!(response.status(), StatusCode::BAD_GATEWAY, "{status}");
        }
        let switched = build(
            &req,
            answer(
                101,
                &[("Upgrade", "websocket"), ("Sec-WebSocket-Accept", "x")],
                &dropped,
            ),
            true,
        );
        assert_eq!(switched.status(), StatusCode::SWITCHING_PROTOCOLS);
        assert_eq!(switched.head().connection_type(), ConnectionType::Upgrade);
        assert_eq!(switched.headers().get("upgrade").unwrap(), "websocket");
        assert!(switched.headers().get("sec-websocket-accept").is_some());
    }

    #[test]
    fn a_declined_switch_closes_the_connection() {
        let req = TestRequest::get().to_http_request();
        let dropped = Arc::new(AtomicBool::new(false));
        let response = build(&req, answer(200, &[], &dropped), true);
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.head().connection_type(), ConnectionType::Close);
    }
}
