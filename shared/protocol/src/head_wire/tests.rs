use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use serde::Serialize;

use super::*;
use crate::http::{EndOfBody, Header, HttpVersion, RequestHead, ResponseHead};

fn written(write: impl FnOnce(&mut BytesMut) -> Result<(), TooLong>) -> Vec<u8> {
    let mut out = BytesMut::new();
    write(&mut out).unwrap();
    out.to_vec()
}

fn request(headers: Vec<Header>, text: &str) -> RequestHead {
    RequestHead {
        request_id: text.into(),
        method: "GET".into(),
        uri: format!("/{text}"),
        version: HttpVersion::Http2,
        headers,
    }
}

/// Lengths on both sides of every MessagePack size class.
const LENGTHS: &[usize] = &[0, 1, 15, 16, 31, 32, 255, 256, 65_535, 65_536];

fn headers_of(count: usize, value_len: usize) -> Vec<Header> {
    (0..count)
        .map(|i| {
            let name = if i % 2 == 0 {
                Cow::Borrowed("content-type")
            } else {
                Cow::Owned(format!("X-Field-{i}"))
            };
            Header::new(name, vec![0xff; value_len])
        })
        .collect()
}

#[test]
fn heads_are_written_byte_for_byte_as_serde_wrote_them() {
    for &len in LENGTHS {
        let text = "t".repeat(len);
        for count in [0, 1, 15, 16, 17] {
            let head = request(headers_of(count, len.min(300)), &text);
            let expected = rmp_serde::to_vec_named(&head).unwrap();
            assert_eq!(written(|out| write_request_head(&head, out)), expected);
            let mut counted = Count::default();
            write_request_head(&head, &mut counted).unwrap();
            assert_eq!(counted.0, expected.len(), "the count of {len}/{count}");
        }
        let value_head = ResponseHead {
            status: 200,
            headers: vec![Header::new("x", vec![b'v'; len])],
        };
        let expected = rmp_serde::to_vec_named(&value_head).unwrap();
        assert_eq!(
            written(|out| write_response_head(&value_head, out)),
            expected
        );
    }
    // Counts past the one-byte and the 16-bit array forms.
    for count in [65_535, 65_536] {
        let end = EndOfBody {
            trailers: vec![Header::new("a", ""); count],
        };
        let expected = rmp_serde::to_vec_named(&end).unwrap();
        assert_eq!(written(|out| write_end_of_body(&end, out)), expected);
    }
    for status in [0, 1, 127, 128, 255, 256, 999, 65_535] {
        let head = ResponseHead {
            status,
            headers: vec![],
        };
        let expected = rmp_serde::to_vec_named(&head).unwrap();
        assert_eq!(
            written(|out| write_response_head(&head, out)),
            expected,
            "{status}"
        );
    }
}

#[test]
fn what_is_written_reads_back_and_serde_reads_it_too() {
    let head = request(
        vec![
            Header::new("host", "app.test"),
            Header::new("X-Bin", vec![0, 159, 146, 150]),
            Header::new("accept", ""),
        ],
        "r1",
    );
    let wire = written(|out| write_request_head(&head, out));
    let (read, used) = read_request_head(&wire).unwrap();
    assert_eq!((read, used), (head.clone(), wire.len()));
    assert_eq!(rmp_serde::from_slice::<RequestHead>(&wire).unwrap(), head);
}

#[test]
fn known_names_read_static_and_values_share_one_copy_of_the_payload() {
    let head = ResponseHead {
        status: 204,
        headers: vec![
            Header::new("content-type", "text/plain"),
            Header::new("x-other", "1"),
        ],
    };
    let wire = written(|out| write_response_head(&head, out));
    let (read, _) = read_response_head(&wire).unwrap();
    assert!(matches!(
        read.headers[0].name,
        Cow::Borrowed("content-type")
    ));
    assert!(matches!(&read.headers[1].name, Cow::Owned(name) if name == "x-other"));
    let (first, second) = (&read.headers[0].value, &read.headers[1].value);
    // Both point into one copy, not into the caller's buffer (which it may reuse).
    let distance = second.as_ptr() as usize - first.as_ptr() as usize;
    let between = b"\x82\xa4name\xa7x-other\xa5value\xc4\x01";
    assert_eq!(distance, first.len() + between.len());
    assert!(!wire.as_ptr_range().contains(&first.as_ptr()));
}

#[test]
fn an_empty_end_of_body_costs_no_copy() {
    let wire = written(|out| write_end_of_body(&EndOfBody::default(), out));
    assert_eq!(wire, b"\x81\xa8trailers\x90");
    assert_eq!(
        read_end_of_body(&wire).unwrap(),
        (EndOfBody::default(), wire.len())
    );
}

#[test]
fn what_serde_also_took_is_still_taken() {
    // Fields in another order, unknown fields of every kind skipped, strings as `bin`,
    // a value as `str`, a status as a wider and a signed integer.
    #[derive(Serialize)]
    struct Later<'a> {
        #[serde(with = "serde_bytes")]
        uri: &'a [u8],
        headers: Vec<LaterHeader<'a>>,
        extra: (u8, Vec<&'a str>, std::collections::BTreeMap<&'a str, i32>),
        version: &'a str,
        #[serde(with = "serde_bytes")]
        method: &'a [u8],
        request_id: &'a str,
    }
    #[derive(Serialize)]
    struct LaterHeader<'a> {
        colour: Option<u8>,
        value: &'a str,
        name: &'a str,
    }
    let later = Later {
        uri: b"/x",
        headers: vec![LaterHeader {
            colour: Some(3),
            value: "v",
            name: "host",
        }],
        extra: (1, vec!["a"], [("k", -1)].into_iter().collect()),
        version: "HTTP/1.1",
        method: b"POST",
        request_id: "r",
    };
    let wire = rmp_serde::to_vec_named(&later).unwrap();
    let (head, used) = read_request_head(&wire).unwrap();
    assert_eq!(used, wire.len());
    assert_eq!(
        head,
        RequestHead {
            request_id: "r".into(),
            method: "POST".into(),
            uri: "/x".into(),
            version: HttpVersion::Http11,
            headers: vec![Header::new("host", "v")],
        }
    );
    for (wire, status) in [
        (
            &b"\x82\xa6status\xce\x00\x00\x01\x2c\xa7headers\x90"[..],
            300,
        ),
        (&b"\x82\xa7headers\x90\xa6status\xd1\x01\xf4"[..], 500),
    ] {
        assert_eq!(read_response_head(wire).unwrap().0.status, status);
    }
}

fn refusal(wire: &[u8]) -> String {
    match read_response_head(wire) {
        Err(Malformed(reason)) => reason,
        Ok(head) => panic!("{wire:x?} read as {head:?}"),
    }
}

#[test]
fn what_is_not_a_head_is_refused_with_the_reason() {
    let cases: &[(&[u8], &str)] = &[
        (b"\x92\xcc\xc8\x90", "expected a response head: a map"),
        (
            b"\x82\xa6status\xcc\xc8\xa6status\xcc\xc8",
            "duplicate field `status`",
        ),
        (b"\x81\xa6status\xcc\xc8", "missing field `headers`"),
        (b"\x82\x01\xcc\xc8\xa7headers\x90", "expected a field name"),
        (
            b"\x82\xa6status\xa3two\xa7headers\x90",
            "`status`: expected an integer",
        ),
        (
            b"\x82\xa6status\xce\x00\x01\x11\x70\xa7headers\x90",
            "70000 is out of range",
        ),
        (b"\x82\xa6status\xff\xa7headers\x90", "-1 is out of range"),
        (
            b"\x82\xa6status\xcc\xc8\xa7headers\x91\x92\xa1a\xa0",
            "a map of name and value",
        ),
        (
            b"\x82\xa6status\xcc\xc8\xa7headers\x91\x82\xa4name\xc4\x01a\xa5value\xa0",
            "expected a header name",
        ),
        (
            b"\x82\xa6status\xcc\xc8\xa7headers\x91\x82\xa4name\xa2\xff\xfe\xa5value\xa0",
            "a header name: not UTF-8",
        ),
        (
            b"\x82\xa6status\xcc\xc8\xa7headers\x91\x81\xa4name\xa1a",
            "missing field `value`",
        ),
        (
            b"\x83\xa6status\xcc\xc8\xa1x\xc1\xa7headers\x90",
            "cut short or invalid",
        ),
        (
            b"\x82\xa6status\xcc\xc8\xa7headers\xdd\xff\xff\xff\xff",
            "ends inside a value",
        ),
    ];
    for &(wire, reason) in cases {
        let refused = refusal(wire);
        assert!(refused.contains(reason), "{wire:x?}: {refused}");
    }
    let with_version = |version: &str| {
        let mut head = Vec::new();
        #[derive(Serialize)]
        struct Raw<'a> {
            request_id: &'a str,
            method: &'a str,
            uri: &'a str,
            version: &'a str,
            headers: [u8; 0],
        }
        rmp_serde::encode::write_named(
            &mut head,
            &Raw {
                request_id: "r",
                method: "GET",
                uri: "/",
                version,
                headers: [],
            },
        )
        .unwrap();
        read_request_head(&head).map(|(head, _)| head.version)
    };
    assert_eq!(with_version("HTTP/1.0").unwrap(), HttpVersion::Http10);
    let Err(Malformed(reason)) = with_version("HTTP/9") else {
        panic!("HTTP/9 read")
    };
    assert!(
        reason.contains("unknown HTTP version \"HTTP/9\""),
        "{reason}"
    );
}

#[test]
fn every_cut_of_a_head_is_refused() {
    let head = request(headers_of(3, 40), "cut");
    let wire = written(|out| write_request_head(&head, out));
    for len in 0..wire.len() {
        assert!(read_request_head(&wire[..len]).is_err(), "{len} bytes read");
    }
}

#[test]
fn a_claimed_count_does_not_size_an_allocation() {
    // Four billion fields claimed, none there: refused at once, no 64 GiB vector.
    let wire = b"\x82\xa6status\xcc\xc8\xa7headers\xdd\xff\xff\xff\xff\x80";
    assert!(refusal(wire).contains("missing field `name`"));
}

fn arb_header() -> impl Strategy<Value = Header> {
    (
        prop_oneof![
            Just("content-type".to_owned()),
            "[A-Za-z-]{0,40}",
            "\\PC{0,10}"
        ],
        prop::collection::vec(any::<u8>(), 0..300),
    )
        .prop_map(|(name, value)| Header::new(name, Bytes::from(value)))
}

proptest! {
    #[test]
    fn any_head_is_written_as_serde_writes_it_and_reads_back(
        text in "\\PC{0,300}",
        status in any::<u16>(),
        headers in prop::collection::vec(arb_header(), 0..40),
    ) {
        let head = request(headers.clone(), &text);
        let wire = written(|out| write_request_head(&head, out));
        prop_assert_eq!(&wire, &rmp_serde::to_vec_named(&head).unwrap());
        prop_assert_eq!(read_request_head(&wire).unwrap(), (head, wire.len()));

        let head = ResponseHead { status, headers: headers.clone() };
        let wire = written(|out| write_response_head(&head, out));
        prop_assert_eq!(&wire, &rmp_serde::to_vec_named(&head).unwrap());
        prop_assert_eq!(read_response_head(&wire).unwrap(), (head, wire.len()));

        let end = EndOfBody { trailers: headers };
        let wire = written(|out| write_end_of_body(&end, out));
        prop_assert_eq!(&wire, &rmp_serde::to_vec_named(&end).unwrap());
        prop_assert_eq!(read_end_of_body(&wire).unwrap(), (end, wire.len()));
    }

    #[test]
    fn any_bytes_read_without_a_panic(wire in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = read_request_head(&wire);
        let _ = read_response_head(&wire);
        let _ = read_end_of_body(&wire);
    }
}
