//! Decoder behaviour on incomplete, concatenated and invalid input, and encoder limits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::{BufMut, Bytes, BytesMut};
use hopgate_protocol::{
    DEFAULT_MAX_BODY_CHUNK, DEFAULT_MAX_CONTROL_FRAME, DEFAULT_MAX_HEAD_FRAME, DecodeError,
    Decoder, EncodeError, Encoder, FRAME_HEADER_LEN, Frame, FrameType, Header, HelloCode,
    HttpVersion, Limits, Ping, RequestHead, Reset, ResetCode, ResponseHead,
};
use serde::Serialize;

use common::{encode, sample_frames};

fn decoder() -> Decoder {
    Decoder::new(Limits::default())
}

/// A frame with the given type byte and a hand-made payload.
fn raw_frame(type_byte: u8, payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u8(type_byte);
    buf.put_u32(u32::try_from(payload.len()).unwrap());
    buf.extend_from_slice(payload);
    buf
}

/// A MessagePack payload written with named fields, as the encoder does.
fn msgpack<T: Serialize>(value: &T) -> Vec<u8> {
    rmp_serde::to_vec_named(value).unwrap()
}

#[test]
fn every_prefix_is_incomplete_and_consumes_nothing() {
    for (name, frame) in sample_frames() {
        let wire = encode(&frame);
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            assert_eq!(
                decoder().decode(&mut buf),
                Ok(None),
                "{name}: prefix of {cut} bytes"
            );
            assert_eq!(
                &buf[..],
                &wire[..cut],
                "{name}: prefix of {cut} bytes was consumed"
            );
        }
        let mut buf = wire.clone();
        assert_eq!(
            decoder().decode(&mut buf),
            Ok(Some(frame)),
            "{name}: whole frame"
        );
        assert!(buf.is_empty(), "{name}: whole frame not consumed");
    }
}

#[test]
fn byte_at_a_time_arrival_yields_the_frame_once_complete() {
    for (name, frame) in sample_frames() {
        let wire = encode(&frame);
        let mut buf = BytesMut::new();
        let mut decoded = None;
        for (i, &byte) in wire.iter().enumerate() {
            buf.put_u8(byte);
            match decoder().decode(&mut buf).unwrap() {
                Some(f) => {
                    assert_eq!(i, wire.len() - 1, "{name}: decoded before the last byte");
                    decoded = Some(f);
                }
                None => assert_eq!(buf.len(), i + 1),
            }
        }
        assert_eq!(decoded, Some(frame), "{name}");
        assert!(buf.is_empty());
    }
}

#[test]
fn frames_back_to_back_in_one_buffer() {
    let frames: Vec<Frame> = sample_frames().into_iter().map(|(_, f)| f).collect();
    let mut buf = BytesMut::new();
    for frame in &frames {
        buf.extend_from_slice(&encode(frame));
    }
    // Plus half of another frame, which must stay in the buffer.
    let tail = encode(&Frame::Ping(Ping { nonce: 99 }));
    buf.extend_from_slice(&tail[..4]);

    let mut decoded = Vec::new();
    while let Some(frame) = decoder().decode(&mut buf).unwrap() {
        decoded.push(frame);
    }
    assert_eq!(decoded, frames);
    assert_eq!(&buf[..], &tail[..4]);
    buf.extend_from_slice(&tail[4..]);
    assert_eq!(
        decoder().decode(&mut buf),
        Ok(Some(Frame::Ping(Ping { nonce: 99 })))
    );
    assert!(buf.is_empty());
}

#[test]
fn wire_format_is_pinned() {
    // type 0x08, length 8, then the map {"nonce": 1}. A change here breaks old peers.
    let wire = encode(&Frame::Ping(Ping { nonce: 1 }));
    assert_eq!(&wire[..], b"\x08\x00\x00\x00\x08\x81\xa5nonce\x01");

    let wire = encode(&Frame::BodyChunk(Bytes::from_static(b"abc")));
    assert_eq!(&wire[..], b"\x05\x00\x00\x00\x03abc");

    let wire = encode(&Frame::Reset(Reset::new(ResetCode::TooLarge, "")));
    assert_eq!(
        &wire[..],
        b"\x07\x00\x00\x00\x19\x82\xa4code\xa9too_large\xa7message\xa0"
    );
}

#[test]
fn unknown_frame_type_is_rejected_from_its_first_byte() {
    for type_byte in [0x00, 0x0b, 0x7f, 0xff] {
        let mut buf = BytesMut::from(&[type_byte][..]);
        assert_eq!(
            decoder().decode(&mut buf),
            Err(DecodeError::UnknownFrameType {
                frame_type: type_byte
            })
        );
        assert_eq!(buf.len(), 1, "an error must consume nothing");
    }
    let err = decoder()
        .decode(&mut BytesMut::from(&[0x42, 0, 0, 0, 0][..]))
        .unwrap_err();
    assert!(err.to_string().contains("unknown frame type 0x42"), "{err}");
}

#[test]
fn oversized_length_is_rejected_before_the_payload_arrives() {
    let cases = [
        (FrameType::RequestHead, DEFAULT_MAX_HEAD_FRAME, true),
        (FrameType::ResponseHead, DEFAULT_MAX_HEAD_FRAME, true),
        (FrameType::EndOfBody, DEFAULT_MAX_HEAD_FRAME, true),
        (FrameType::BodyChunk, DEFAULT_MAX_BODY_CHUNK, false),
        (FrameType::Hello, DEFAULT_MAX_CONTROL_FRAME, false),
        (FrameType::Ping, DEFAULT_MAX_CONTROL_FRAME, false),
        (FrameType::GoAway, DEFAULT_MAX_CONTROL_FRAME, false),
    ];
    for (frame_type, limit, is_head) in cases {
        for len in [limit + 1, u32::MAX as usize] {
            // Only the 5 header bytes: none of the payload.
            let mut buf = BytesMut::new();
            buf.put_u8(frame_type.as_u8());
            buf.put_u32(u32::try_from(len).unwrap());
            let err = decoder().decode(&mut buf).unwrap_err();
            let expected = if is_head {
                DecodeError::HeadTooLarge {
                    frame_type,
                    len,
                    limit,
                }
            } else {
                DecodeError::FrameTooLarge {
                    frame_type,
                    len,
                    limit,
                }
            };
            assert_eq!(err, expected);
            assert_eq!(buf.len(), FRAME_HEADER_LEN);
        }
    }
}

#[test]
fn a_frame_exactly_at_the_limit_is_accepted() {
    let data = Bytes::from(vec![0xab; DEFAULT_MAX_BODY_CHUNK]);
    let mut buf = encode(&Frame::BodyChunk(data.clone()));
    assert_eq!(buf.len(), FRAME_HEADER_LEN + DEFAULT_MAX_BODY_CHUNK);
    assert_eq!(decoder().decode(&mut buf), Ok(Some(Frame::BodyChunk(data))));
}

#[test]
fn custom_limits_are_enforced_by_the_decoder() {
    let limits = Limits {
        max_control_frame: 8,
        max_head_frame: 32,
        max_body_chunk: 4,
    };
    let decoder = Decoder::new(limits);
    let mut buf = raw_frame(FrameType::BodyChunk.as_u8(), b"12345");
    assert!(matches!(
        decoder.decode(&mut buf),
        Err(DecodeError::FrameTooLarge {
            len: 5,
            limit: 4,
            ..
        })
    ));
    let mut buf = raw_frame(FrameType::BodyChunk.as_u8(), b"1234");
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(Frame::BodyChunk(Bytes::from_static(b"1234"))))
    );
    // A Ping ({"nonce": 1} is 8 bytes) fits; a larger nonce does not.
    assert!(
        decoder
            .decode(&mut encode(&Frame::Ping(Ping { nonce: 1 })))
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        decoder.decode(&mut encode(&Frame::Ping(Ping { nonce: u64::MAX }))),
        Err(DecodeError::FrameTooLarge {
            frame_type: FrameType::Ping,
            ..
        })
    ));
}

#[test]
fn malformed_msgpack_is_an_error_not_incomplete() {
    let cases: Vec<(&str, FrameType, Vec<u8>)> = vec![
        ("empty payload", FrameType::Ping, vec![]),
        ("reserved marker 0xc1", FrameType::Ping, vec![0xc1]),
        (
            "truncated map",
            FrameType::Ping,
            vec![0x81, 0xa5, b'n', b'o'],
        ),
        (
            "nonce is a string",
            FrameType::Ping,
            msgpack(
                &[("nonce", "seven")]
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>(),
            ),
        ),
        (
            "missing field",
            FrameType::GoAway,
            msgpack(&Ping { nonce: 1 }),
        ),
        ("not a map", FrameType::ResponseHead, msgpack(&"hello")),
        (
            "status out of range",
            FrameType::ResponseHead,
            msgpack(&BadStatus {
                status: 70_000,
                headers: vec![],
            }),
        ),
        (
            "unknown http version",
            FrameType::RequestHead,
            msgpack(&RawRequestHead::with_version("HTTP/9")),
        ),
        (
            "string header length beyond the payload",
            FrameType::RequestHead,
            vec![0xdb, 0xff, 0xff, 0xff, 0xff],
        ),
        (
            "array length beyond the payload",
            FrameType::EndOfBody,
            vec![
                0x81, 0xa8, b't', b'r', b'a', b'i', b'l', b'e', b'r', b's', 0xdd, 0xff, 0xff, 0xff,
                0xff,
            ],
        ),
    ];
    for (what, frame_type, payload) in cases {
        let mut buf = raw_frame(frame_type.as_u8(), &payload);
        let before = buf.clone();
        match decoder().decode(&mut buf) {
            Err(DecodeError::Malformed {
                frame_type: ft,
                reason,
            }) => {
                assert_eq!(ft, frame_type, "{what}");
                assert!(!reason.is_empty(), "{what}");
            }
            other => panic!("{what}: expected Malformed, got {other:?}"),
        }
        assert_eq!(buf, before, "{what}: an error must consume nothing");
    }
}

#[test]
fn bytes_after_the_value_are_rejected() {
    let mut payload = msgpack(&Ping { nonce: 5 });
    payload.extend_from_slice(&[0xc0, 0xc0]);
    let mut buf = raw_frame(FrameType::Ping.as_u8(), &payload);
    assert_eq!(
        decoder().decode(&mut buf),
        Err(DecodeError::TrailingBytes {
            frame_type: FrameType::Ping,
            extra: 2
        })
    );
}

#[test]
fn bytes_after_a_head_of_strings_are_counted_exactly() {
    let head = ResponseHead {
        status: 200,
        headers: vec![
            Header::new("content-type", "text/plain"),
            Header::new("x-long", vec![b'v'; 300]),
        ],
    };
    let mut payload = msgpack(&head);
    let whole = raw_frame(FrameType::ResponseHead.as_u8(), &payload);
    payload.extend_from_slice(&[0xa1, b'x', 0x90]);
    let mut buf = raw_frame(FrameType::ResponseHead.as_u8(), &payload);
    let before = buf.clone();
    assert_eq!(
        decoder().decode(&mut buf),
        Err(DecodeError::TrailingBytes {
            frame_type: FrameType::ResponseHead,
            extra: 3
        })
    );
    assert_eq!(buf, before, "an error must consume nothing");
    assert_eq!(
        decoder().decode(&mut whole.clone()),
        Ok(Some(Frame::ResponseHead(head)))
    );
}

#[test]
fn unknown_fields_are_ignored_for_forward_compatibility() {
    #[derive(Serialize)]
    struct FuturePing {
        nonce: u64,
        sent_at_ms: u64,
        tags: Vec<String>,
    }
    let payload = msgpack(&FuturePing {
        nonce: 3,
        sent_at_ms: 12345,
        tags: vec!["a".into()],
    });
    let mut buf = raw_frame(FrameType::Ping.as_u8(), &payload);
    assert_eq!(
        decoder().decode(&mut buf),
        Ok(Some(Frame::Ping(Ping { nonce: 3 })))
    );
}

#[test]
fn unknown_codes_decode_as_unknown() {
    #[derive(Serialize)]
    struct RawReset<'a> {
        code: &'a str,
        message: &'a str,
    }
    let payload = msgpack(&RawReset {
        code: "quota_exceeded",
        message: "m",
    });
    let mut buf = raw_frame(FrameType::Reset.as_u8(), &payload);
    assert_eq!(
        decoder().decode(&mut buf),
        Ok(Some(Frame::Reset(Reset::new(ResetCode::Unknown, "m"))))
    );

    #[derive(Serialize)]
    struct RawAck<'a> {
        ok: bool,
        message: &'a str,
        domain: &'a str,
        protocol_version: u16,
        code: &'a str,
    }
    let payload = msgpack(&RawAck {
        ok: false,
        message: "",
        domain: "",
        protocol_version: 1,
        code: "account_suspended",
    });
    match decoder().decode(&mut raw_frame(FrameType::HelloAck.as_u8(), &payload)) {
        Ok(Some(Frame::HelloAck(ack))) => assert_eq!(ack.code, HelloCode::Unknown),
        other => panic!("expected a HelloAck, got {other:?}"),
    }
}

#[test]
fn codes_travel_as_documented_strings() {
    let mut buf = encode(&Frame::Reset(Reset::new(ResetCode::UpstreamTimeout, "")));
    let needle = b"upstream_timeout";
    assert!(buf.windows(needle.len()).any(|w| w == needle));
    assert!(decoder().decode(&mut buf).unwrap().is_some());
    assert_eq!(HttpVersion::Http2.as_str(), "HTTP/2");
    for &code in ResetCode::ALL {
        assert_eq!(ResetCode::from_wire(code.as_str()), Some(code));
    }
    for &code in HelloCode::ALL {
        assert_eq!(HelloCode::from_wire(code.as_str()), Some(code));
    }
}

#[test]
fn non_utf8_and_repeated_headers_survive() {
    let head = ResponseHead {
        status: 302,
        headers: vec![
            Header::new("set-cookie", "a=1"),
            Header::new("x-raw", Bytes::from_static(&[0xff, 0x00, 0xfe])),
            Header::new("set-cookie", "b=2"),
        ],
    };
    let mut buf = encode(&Frame::ResponseHead(head.clone()));
    assert_eq!(
        decoder().decode(&mut buf),
        Ok(Some(Frame::ResponseHead(head)))
    );
}

fn big_request_head(header_bytes: usize) -> RequestHead {
    RequestHead {
        request_id: "r".into(),
        method: "GET".into(),
        uri: "/".into(),
        version: HttpVersion::Http2,
        headers: vec![Header::new("x-big", vec![b'a'; header_bytes])],
    }
}

#[test]
fn encoder_refuses_oversized_heads_and_writes_nothing() {
    let encoder = Encoder::new(Limits::default());
    let mut dst = BytesMut::from(&b"already here"[..]);
    let frame = Frame::RequestHead(big_request_head(DEFAULT_MAX_HEAD_FRAME));
    match encoder.encode(&frame, &mut dst) {
        Err(EncodeError::HeadTooLarge {
            frame_type: FrameType::RequestHead,
            len,
            limit: DEFAULT_MAX_HEAD_FRAME,
        }) => assert!(len > DEFAULT_MAX_HEAD_FRAME),
        other => panic!("expected HeadTooLarge, got {other:?}"),
    }
    assert_eq!(&dst[..], b"already here");

    // A head just under the limit encodes, and decodes on the other side.
    let frame = Frame::RequestHead(big_request_head(DEFAULT_MAX_HEAD_FRAME - 100));
    encoder.encode(&frame, &mut dst).unwrap();
    let prefix = dst.split_to(b"already here".len());
    assert_eq!(&prefix[..], b"already here");
    assert_eq!(decoder().decode(&mut dst), Ok(Some(frame)));
}

#[test]
fn encoder_refuses_oversized_body_chunks_and_control_frames() {
    let encoder = Encoder::new(Limits::default());
    let mut dst = BytesMut::new();
    let chunk = Frame::BodyChunk(Bytes::from(vec![0; DEFAULT_MAX_BODY_CHUNK + 1]));
    assert_eq!(
        encoder.encode(&chunk, &mut dst),
        Err(EncodeError::FrameTooLarge {
            frame_type: FrameType::BodyChunk,
            len: DEFAULT_MAX_BODY_CHUNK + 1,
            limit: DEFAULT_MAX_BODY_CHUNK
        })
    );
    assert!(
        encoder
            .encode_body_chunk_header(DEFAULT_MAX_BODY_CHUNK + 1, &mut dst)
            .is_err()
    );
    let reset = Frame::Reset(Reset::new(
        ResetCode::Internal,
        "x".repeat(DEFAULT_MAX_CONTROL_FRAME),
    ));
    assert!(matches!(
        encoder.encode(&reset, &mut dst),
        Err(EncodeError::FrameTooLarge {
            frame_type: FrameType::Reset,
            ..
        })
    ));
    assert!(dst.is_empty());
}

#[test]
fn body_chunk_header_plus_data_equals_the_normal_encoding() {
    let data = Bytes::from_static(b"zero-copy body data");
    let encoder = Encoder::new(Limits::default());
    let mut header = BytesMut::new();
    encoder
        .encode_body_chunk_header(data.len(), &mut header)
        .unwrap();
    assert_eq!(header.len(), FRAME_HEADER_LEN);
    let mut normal = BytesMut::new();
    encoder
        .encode(&Frame::BodyChunk(data.clone()), &mut normal)
        .unwrap();
    assert_eq!([&header[..], &data[..]].concat(), &normal[..]);
}

#[test]
fn errors_read_well() {
    let mut buf = BytesMut::new();
    buf.put_u8(FrameType::RequestHead.as_u8());
    buf.put_u32(100_000);
    let msg = decoder().decode(&mut buf).unwrap_err().to_string();
    assert_eq!(
        msg,
        "RequestHead of 100000 bytes exceeds the 65536-byte head limit: too many or too large headers"
    );
}

#[derive(Serialize)]
struct BadStatus {
    status: u32,
    headers: Vec<Header>,
}

#[derive(Serialize)]
struct RawRequestHead {
    request_id: String,
    method: String,
    uri: String,
    version: String,
    headers: Vec<Header>,
}

impl RawRequestHead {
    fn with_version(version: &str) -> Self {
        Self {
            request_id: "r".into(),
            method: "GET".into(),
            uri: "/".into(),
            version: version.into(),
            headers: vec![],
        }
    }
}
