//! Heads to MessagePack, in the form `rmp_serde::to_vec_named` gives them.

use bytes::BytesMut;

use crate::http::{EndOfBody, Header, RequestHead, ResponseHead};

/// Where a head's bytes go: a frame's buffer, or a [`Count`] of them.
pub(crate) trait Out {
    fn put(&mut self, bytes: &[u8]);
}

impl Out for BytesMut {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts the bytes a head takes, keeping none.
#[derive(Debug, Default)]
pub(crate) struct Count(pub(crate) usize);

impl Out for Count {
    fn put(&mut self, bytes: &[u8]) {
        self.0 += bytes.len();
    }
}

/// A string or list longer than MessagePack can say (4 GiB).
#[derive(Debug)]
pub(crate) struct TooLong;

type Written = Result<(), TooLong>;

/// `{request_id, method, uri, version, headers}`.
pub(crate) fn write_request_head(head: &RequestHead, out: &mut impl Out) -> Written {
    map_len(out, 5)?;
    string(out, "request_id")?;
    string(out, &head.request_id)?;
    string(out, "method")?;
    string(out, &head.method)?;
    string(out, "uri")?;
    string(out, &head.uri)?;
    string(out, "version")?;
    string(out, head.version.as_str())?;
    string(out, "headers")?;
    headers(out, &head.headers)
}

/// `{status, headers}`.
pub(crate) fn write_response_head(head: &ResponseHead, out: &mut impl Out) -> Written {
    map_len(out, 2)?;
    string(out, "status")?;
    uint(out, head.status);
    string(out, "headers")?;
    headers(out, &head.headers)
}

/// `{trailers}`.
pub(crate) fn write_end_of_body(end: &EndOfBody, out: &mut impl Out) -> Written {
    map_len(out, 1)?;
    string(out, "trailers")?;
    headers(out, &end.trailers)
}

/// An array of `{name, value}` maps, the name a `str` and the value a `bin`.
fn headers(out: &mut impl Out, headers: &[Header]) -> Written {
    array_len(out, headers.len())?;
    for header in headers {
        map_len(out, 2)?;
        string(out, "name")?;
        string(out, &header.name)?;
        string(out, "value")?;
        bin(out, &header.value)?;
    }
    Ok(())
}

fn string(out: &mut impl Out, value: &str) -> Written {
    let len = value.len();
    match u8::try_from(len) {
        Ok(small) if small < 32 => out.put(&[0xa0 | small]),
        Ok(short) => out.put(&[0xd9, short]),
        Err(_) => long(out, len, 0xda, 0xdb)?,
    }
    out.put(value.as_bytes());
    Ok(())
}

fn bin(out: &mut impl Out, value: &[u8]) -> Written {
    match u8::try_from(value.len()) {
        Ok(short) => out.put(&[0xc4, short]),
        Err(_) => long(out, value.len(), 0xc5, 0xc6)?,
    }
    out.put(value);
    Ok(())
}

fn map_len(out: &mut impl Out, len: usize) -> Written {
    match u8::try_from(len) {
        Ok(small) if small < 16 => out.put(&[0x80 | small]),
        _ => long(out, len, 0xde, 0xdf)?,
    }
    Ok(())
}

fn array_len(out: &mut impl Out, len: usize) -> Written {
    match u8::try_from(len) {
        Ok(small) if small < 16 => out.put(&[0x90 | small]),
        _ => long(out, len, 0xdc, 0xdd)?,
    }
    Ok(())
}

/// A 16-bit length after `marker16`, or a 32-bit one after `marker32`.
fn long(out: &mut impl Out, len: usize, marker16: u8, marker32: u8) -> Written {
    if let Ok(len) = u16::try_from(len) {
        let [a, b] = len.to_be_bytes();
        out.put(&[marker16, a, b]);
    } else {
        let [a, b, c, d] = u32::try_from(len).map_err(|_| TooLong)?.to_be_bytes();
        out.put(&[marker32, a, b, c, d]);
    }
    Ok(())
}

/// The smallest unsigned form: a positive fixint, `uint 8` or `uint 16`.
fn uint(out: &mut impl Out, value: u16) {
    match u8::try_from(value) {
        Ok(small) if small < 0x80 => out.put(&[small]),
        Ok(byte) => out.put(&[0xcc, byte]),
        Err(_) => {
            let [a, b] = value.to_be_bytes();
            out.put(&[0xcd, a, b]);
        }
    }
}
