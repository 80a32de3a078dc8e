//! Fixtures shared by the integration tests: a sample frame of every type, and the heads
//! of one plain or upgrading request and its answer.

#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use hopgate_protocol::{
    Encoder, EndOfBody, Frame, GoAway, GoAwayCode, Header, Hello, HelloAck, HelloCode, HttpVersion,
    Limits, Ping, Pong, RequestHead, Reset, ResetCode, ResponseHead,
};

/// One representative frame of every type, with a file-name-friendly label.
pub(crate) fn sample_frames() -> Vec<(&'static str, Frame)> {
    vec![
        (
            "hello",
            Frame::Hello(Hello::new("alice.hopgate.test", "sk_test_key", "0.1.0")),
        ),
        (
            "hello_ack",
            Frame::HelloAck(HelloAck::rejected(
                HelloCode::UnsupportedVersion,
                "agent protocol 0 is too old; please upgrade the agent to a version that speaks protocol 1..=1",
                "alice.hopgate.test",
            )),
        ),
        (
            "request_head",
            Frame::RequestHead(RequestHead {
                request_id: "req-0001".into(),
                method: "POST".into(),
                uri: "/api/items?sort=desc&q=%C3%A9".into(),
                version: HttpVersion::Http11,
                headers: vec![
                    Header::new("host", "alice.hopgate.test"),
                    Header::new("accept", "text/html"),
                    Header::new("accept", "application/json"),
                    Header::new("x-latin1", Bytes::from_static(b"caf\xe9")),
                ],
            }),
        ),
        (
            "response_head",
            Frame::ResponseHead(ResponseHead {
                status: 200,
                headers: vec![
                    Header::new("content-type", "text/plain"),
                    Header::new("set-cookie", "a=1"),
                    Header::new("set-cookie", "b=2"),
                ],
            }),
        ),
        (
            "body_chunk",
            Frame::BodyChunk(Bytes::from_static(b"hello, \x00\xffworld\n")),
        ),
        (
            "end_of_body",
            Frame::EndOfBody(EndOfBody {
                trailers: vec![Header::new("grpc-status", "0")],
            }),
        ),
        (
            "reset",
            Frame::Reset(Reset::new(
                ResetCode::UpstreamUnreachable,
                "connection refused: 127.0.0.1:3000",
            )),
        ),
        (
            "ping",
            Frame::Ping(Ping {
                nonce: 0x0102_0304_0506_0708,
            }),
        ),
        ("pong", Frame::Pong(Pong { nonce: u64::MAX })),
        (
            "go_away",
            Frame::GoAway(GoAway {
                reason: "gateway restarting".into(),
                drain_ms: 30_000,
                code: GoAwayCode::Shutdown,
            }),
        ),
    ]
}

/// A GET of `/` for `app.example.com`, asking to switch to WebSocket if `upgrade`.
pub(crate) fn request_head(upgrade: bool) -> RequestHead {
    let mut headers = vec![Header::new("host", "app.example.com")];
    if upgrade {
        headers.push(Header::new("upgrade", "websocket"));
    }
    RequestHead {
        request_id: "r1".into(),
        method: "GET".into(),
        uri: "/".into(),
        version: HttpVersion::Http11,
        headers,
    }
}

/// An answer with `status` and no headers.
pub(crate) fn response_head(status: u16) -> ResponseHead {
    ResponseHead {
        status,
        headers: Vec::new(),
    }
}

/// `frame` encoded with default limits.
pub(crate) fn encode(frame: &Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    Encoder::new(Limits::default())
        .encode(frame, &mut buf)
        .expect("sample frame encodes");
    buf
}
