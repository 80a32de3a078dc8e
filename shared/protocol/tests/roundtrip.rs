//! Property tests: every frame type survives encode-then-decode unchanged, consuming
//! exactly its own bytes; and no input makes the decoder panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::{Bytes, BytesMut};
use hopgate_protocol::{
    DEFAULT_MAX_BODY_CHUNK, Decoder, Encoder, EndOfBody, FRAME_HEADER_LEN, Frame, GoAway,
    GoAwayCode, Header, Hello, HelloAck, HelloCode, HttpVersion, Limits, Ping, Pong, RequestHead,
    Reset, ResetCode, ResponseHead, SessionRef,
};
use proptest::prelude::*;

fn arb_header() -> impl Strategy<Value = Header> {
    (any::<String>(), prop::collection::vec(any::<u8>(), 0..64))
        .prop_map(|(name, value)| Header::new(name, value))
}

fn arb_headers() -> impl Strategy<Value = Vec<Header>> {
    prop::collection::vec(arb_header(), 0..16)
}

fn arb_hello_code() -> impl Strategy<Value = HelloCode> {
    prop::sample::select(HelloCode::ALL)
}

fn arb_reset_code() -> impl Strategy<Value = ResetCode> {
    prop::sample::select(ResetCode::ALL)
}

fn arb_http_version() -> impl Strategy<Value = HttpVersion> {
    prop::sample::select(HttpVersion::ALL)
}

fn arb_body(max: usize) -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Every frame type except body chunks (which have their own, larger strategy).
fn arb_msgpack_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        (
            any::<u16>(),
            any::<String>(),
            any::<String>(),
            any::<String>(),
            any::<bool>(),
            proptest::option::of("[0-9a-f]{32}"),
            proptest::collection::vec(("[a-z0-9-]{1,12}", any::<u64>()), 0..3)
        )
            .prop_map(
                |(
                    protocol_version,
                    domain,
                    client_api_key,
                    agent_version,
                    pool,
                    agent_id,
                    silent,
                )| {
                    let silent = silent
                        .into_iter()
                        .map(|(pod, session)| SessionRef { pod, session })
                        .collect::<Vec<_>>()
                        .into();
                    Frame::Hello(Hello {
                        protocol_version,
                        domain,
                        client_api_key,
                        agent_version,
                        pool,
                        agent_id,
                        silent,
                    })
                }
            ),
        (
            any::<bool>(),
            any::<String>(),
            any::<String>(),
            any::<u16>(),
            arb_hello_code(),
            proptest::option::of(any::<String>()),
            proptest::option::of(any::<u64>())
        )
            .prop_map(
                |(ok, message, domain, protocol_version, code, pod, session)| {
                    Frame::HelloAck(HelloAck {
                        ok,
                        message,
                        domain,
                        protocol_version,
                        code,
                        pod,
                        session,
                    })
                }
            ),
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            arb_http_version(),
            arb_headers()
        )
            .prop_map(|(request_id, method, uri, version, headers)| {
                Frame::RequestHead(RequestHead {
                    request_id,
                    method,
                    uri,
                    version,
                    headers,
                })
            }),
        (any::<u16>(), arb_headers())
            .prop_map(|(status, headers)| Frame::ResponseHead(ResponseHead { status, headers })),
        arb_headers().prop_map(|trailers| Frame::EndOfBody(EndOfBody { trailers })),
        (arb_reset_code(), any::<String>())
            .prop_map(|(code, message)| Frame::Reset(Reset { code, message })),
        any::<u64>().prop_map(|nonce| Frame::Ping(Ping { nonce })),
        any::<u64>().prop_map(|nonce| Frame::Pong(Pong { nonce })),
        (any::<String>(), any::<u64>(), 0..3u8).prop_map(|(reason, drain_ms, which)| {
            let code = match which {
                0 => GoAwayCode::Shutdown,
                1 => GoAwayCode::Replaced,
                _ => GoAwayCode::Leaving,
            };
            Frame::GoAway(GoAway {
                reason,
                drain_ms,
                code,
            })
        }),
        arb_body(1024).prop_map(Frame::BodyChunk),
    ]
}

/// Encodes `frame` followed by a marker frame, decodes, and checks that exactly the
/// frame's bytes were consumed and the marker is intact.
fn assert_round_trip(frame: &Frame) -> Result<(), TestCaseError> {
    let encoder = Encoder::new(Limits::default());
    let decoder = Decoder::new(Limits::default());
    let mut buf = BytesMut::new();
    encoder
        .encode(frame, &mut buf)
        .expect("encodes within the default limits");
    let frame_len = buf.len();
    let header = decoder.peek_header(&buf).unwrap().unwrap();
    prop_assert_eq!(header.frame_type, frame.frame_type());
    prop_assert_eq!(header.frame_len(), frame_len);

    let marker = Frame::Pong(Pong { nonce: 0xdead_beef });
    encoder.encode(&marker, &mut buf).unwrap();
    let marker_len = buf.len() - frame_len;

    let decoded = decoder.decode(&mut buf).unwrap();
    prop_assert_eq!(decoded.as_ref(), Some(frame));
    prop_assert_eq!(
        buf.len(),
        marker_len,
        "decode consumed more or less than the frame"
    );
    prop_assert_eq!(decoder.decode(&mut buf).unwrap(), Some(marker));
    prop_assert!(buf.is_empty());
    Ok(())
}

proptest! {
    #[test]
    fn msgpack_frames_round_trip(frame in arb_msgpack_frame()) {
        assert_round_trip(&frame)?;
    }

    #[test]
    fn partial_frames_are_incomplete(frame in arb_msgpack_frame()) {
        let mut wire = BytesMut::new();
        Encoder::new(Limits::default()).encode(&frame, &mut wire).unwrap();
        let decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::new();
        for &byte in &wire[..wire.len() - 1] {
            buf.extend_from_slice(&[byte]);
            prop_assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        }
        prop_assert_eq!(buf.len(), wire.len() - 1);
        buf.extend_from_slice(&wire[wire.len() - 1..]);
        prop_assert_eq!(decoder.decode(&mut buf).unwrap(), Some(frame));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        let decoder = Decoder::new(Limits::default());
        let mut buf = BytesMut::from(&input[..]);
        loop {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => prop_assert!(buf.len() <= before - FRAME_HEADER_LEN),
                Ok(None) | Err(_) => {
                    prop_assert_eq!(buf.len(), before, "only a decoded frame consumes input");
                    break;
                }
            }
        }
    }

    #[test]
    fn arbitrary_payloads_under_a_valid_header_never_panic(
        type_byte in 1u8..=10,
        payload in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[type_byte]);
        buf.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_be_bytes());
        buf.extend_from_slice(&payload);
        let total = buf.len();
        match Decoder::new(Limits::default()).decode(&mut buf) {
            Ok(Some(_)) => prop_assert!(buf.is_empty()),
            Ok(None) => prop_assert!(false, "a whole frame was reported incomplete"),
            Err(_) => prop_assert_eq!(buf.len(), total),
        }
    }
}

proptest! {
    // Chunks up to 256 KiB are costly to generate; fewer cases suffice.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn body_chunks_up_to_the_limit_round_trip(data in arb_body(DEFAULT_MAX_BODY_CHUNK)) {
        assert_round_trip(&Frame::BodyChunk(data))?;
    }
}
