//! Heads from MessagePack: the form [`super::write`] gives and what serde also took of it.
//! Each read consumes at least one byte or fails, so a claimed length or count never makes
//! a read go on past the payload, and no allocation is sized by a claim alone.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use bytes::Bytes;

use crate::http::{EndOfBody, Header, HttpVersion, RequestHead, ResponseHead};
use crate::known_names::known_name_bytes;
use crate::limits::MIN_ENCODED_HEADER;
use crate::value_len::value_len;

/// Why a payload is not a head, in words.
#[derive(Debug)]
pub(crate) struct Malformed(pub(crate) String);

type Read<T> = Result<T, Malformed>;

/// A head, and how many bytes of the payload it took; or why it is not one.
pub(crate) type Taken<T> = Result<(T, usize), Malformed>;

fn malformed<T>(reason: impl Into<String>) -> Read<T> {
    Err(Malformed(reason.into()))
}

/// A request head from the start of `payload`, and the bytes it took.
pub(crate) fn read_request_head(payload: &[u8]) -> Taken<RequestHead> {
    let mut reader = Reader::new(payload);
    let fields = reader.map_len("a request head: a map of its fields")?;
    let (mut request_id, mut method, mut uri, mut version, mut headers) =
        (None, None, None, None, None);
    for _ in 0..fields {
        match reader.key()? {
            b"request_id" => once(&mut request_id, "request_id", reader.string("request_id")?)?,
            b"method" => once(&mut method, "method", reader.string("method")?)?,
            b"uri" => once(&mut uri, "uri", reader.string("uri")?)?,
            b"version" => once(&mut version, "version", reader.version()?)?,
            b"headers" => once(&mut headers, "headers", reader.headers()?)?,
            _ => reader.skip()?,
        }
    }
    let head = RequestHead {
        request_id: given(request_id, "request_id")?,
        method: given(method, "method")?,
        uri: given(uri, "uri")?,
        version: given(version, "version")?,
        headers: given(headers, "headers")?,
    };
    Ok((head, reader.at))
}

/// A response head from the start of `payload`, and the bytes it took.
pub(crate) fn read_response_head(payload: &[u8]) -> Taken<ResponseHead> {
    let mut reader = Reader::new(payload);
    let fields = reader.map_len("a response head: a map of its fields")?;
    let (mut status, mut headers) = (None, None);
    for _ in 0..fields {
        match reader.key()? {
            b"status" => once(&mut status, "status", reader.status()?)?,
            b"headers" => once(&mut headers, "headers", reader.headers()?)?,
            _ => reader.skip()?,
        }
    }
    let head = ResponseHead {
        status: given(status, "status")?,
        headers: given(headers, "headers")?,
    };
    Ok((head, reader.at))
}

/// A body's end from the start of `payload`, and the bytes it took.
pub(crate) fn read_end_of_body(payload: &[u8]) -> Taken<EndOfBody> {
    let mut reader = Reader::new(payload);
    let fields = reader.map_len("an end of body: a map of its fields")?;
    let mut trailers = None;
    for _ in 0..fields {
        match reader.key()? {
            b"trailers" => once(&mut trailers, "trailers", reader.headers()?)?,
            _ => reader.skip()?,
        }
    }
    let trailers = given(trailers, "trailers")?;
    Ok((EndOfBody { trailers }, reader.at))
}

/// Sets a field seen for the first time; a repeated one is malformed.
fn once<T>(slot: &mut Option<T>, name: &str, value: T) -> Read<()> {
    if slot.is_some() {
        return malformed(format!("duplicate field `{name}`"));
    }
    *slot = Some(value);
    Ok(())
}

fn given<T>(slot: Option<T>, name: &str) -> Read<T> {
    slot.ok_or_else(|| Malformed(format!("missing field `{name}`")))
}

/// What a string read expects, said only when it is not there.
#[derive(Debug, Clone, Copy)]
enum Want {
    Key,
    HeaderName,
    HeaderValue,
    /// A string field of the head.
    Field(&'static str),
}

impl fmt::Display for Want {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Key => f.write_str("a field name (a string)"),
            Self::HeaderName => f.write_str("a header name"),
            Self::HeaderValue => f.write_str("a header value (bytes)"),
            Self::Field(field) => write!(f, "`{field}`: a string"),
        }
    }
}

fn utf8(bytes: &[u8], expecting: Want) -> Read<&str> {
    std::str::from_utf8(bytes).or_else(|_| malformed(format!("{expecting}: not UTF-8")))
}

/// A cursor over one payload.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The payload, copied once when the first header value is taken: every value is a
    /// slice of it.
    shared: Option<Bytes>,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 0,
            shared: None,
        }
    }

    fn take(&mut self, len: usize) -> Read<Range<usize>> {
        let start = self.at;
        match start.checked_add(len) {
            Some(end) if end <= self.bytes.len() => {
                self.at = end;
                Ok(start..end)
            }
            _ => malformed("the payload ends inside a value"),
        }
    }

    fn byte(&mut self) -> Read<u8> {
        let range = self.take(1)?;
        Ok(self.bytes[range.start])
    }

    /// A big-endian length of `width` bytes.
    fn length(&mut self, width: usize) -> Read<usize> {
        let value = self.unsigned(width)?;
        usize::try_from(value).or_else(|_| malformed("a length beyond this machine's memory"))
    }

    fn map_len(&mut self, expecting: &str) -> Read<usize> {
        match self.byte()? {
            marker @ 0x80..=0x8f => Ok(usize::from(marker & 0x0f)),
            0xde => self.length(2),
            0xdf => self.length(4),
            _ => malformed(format!("expected {expecting}")),
        }
    }

    fn array_len(&mut self, expecting: &str) -> Read<usize> {
        match self.byte()? {
            marker @ 0x90..=0x9f => Ok(usize::from(marker & 0x0f)),
            0xdc => self.length(2),
            0xdd => self.length(4),
            _ => malformed(format!("expected {expecting}")),
        }
    }

    /// The bytes of a `str` (or, where `bin_too`, a `bin`), as a range of the payload.
    fn raw(&mut self, bin_too: bool, expecting: Want) -> Read<Range<usize>> {
        let len = match self.byte()? {
            marker @ 0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => self.length(1)?,
            0xda => self.length(2)?,
            0xdb => self.length(4)?,
            0xc4 if bin_too => self.length(1)?,
            0xc5 if bin_too => self.length(2)?,
            0xc6 if bin_too => self.length(4)?,
            _ => return malformed(format!("expected {expecting}")),
        };
        self.take(len)
    }

    fn text(&mut self, bin_too: bool, expecting: Want) -> Read<&'a str> {
        let range = self.raw(bin_too, expecting)?;
        let bytes: &'a [u8] = self.bytes;
        utf8(&bytes[range], expecting)
    }

    /// A header name: a known one's static copy (found before any UTF-8 check: known
    /// names are ASCII), any other checked and copied.
    fn header_name(&mut self) -> Read<Cow<'static, str>> {
        let range = self.raw(false, Want::HeaderName)?;
        let name = &self.bytes[range];
        match known_name_bytes(name) {
            Some(known) => Ok(Cow::Borrowed(known)),
            None => utf8(name, Want::HeaderName).map(|name| Cow::Owned(name.to_owned())),
        }
    }

    /// A map key: a field name, as `str` or `bin`.
    fn key(&mut self) -> Read<&'a [u8]> {
        let range = self.raw(true, Want::Key)?;
        let bytes: &'a [u8] = self.bytes;
        Ok(&bytes[range])
    }

    fn string(&mut self, field: &'static str) -> Read<String> {
        Ok(self.text(true, Want::Field(field))?.to_owned())
    }

    fn version(&mut self) -> Read<HttpVersion> {
        let wire = self.text(false, Want::Field("version"))?;
        HttpVersion::from_wire(wire)
            .ok_or_else(|| Malformed(format!("`version`: unknown HTTP version {wire:?}")))
    }

    /// An unsigned or signed integer that fits 16 bits.
    fn status(&mut self) -> Read<u16> {
        let value: i128 = match self.byte()? {
            marker @ 0x00..=0x7f => i128::from(marker),
            marker @ 0xe0..=0xff => i128::from(i8::from_be_bytes([marker])),
            width @ 0xcc..=0xcf => self.unsigned(1usize << (width - 0xcc))?,
            width @ 0xd0..=0xd3 => self.signed(1usize << (width - 0xd0))?,
            _ => return malformed("`status`: expected an integer"),
        };
        u16::try_from(value).or_else(|_| malformed(format!("`status`: {value} is out of range")))
    }

    /// A big-endian unsigned integer of `width` bytes (at most 8).
    fn unsigned(&mut self, width: usize) -> Read<i128> {
        let range = self.take(width)?;
        Ok(self.bytes[range]
            .iter()
            .fold(0i128, |acc, &b| (acc << 8) | i128::from(b)))
    }

    fn signed(&mut self, width: usize) -> Read<i128> {
        let unsigned = self.unsigned(width)?;
        let bits = 8 * u32::try_from(width).unwrap_or(8);
        let sign = 1i128 << (bits - 1);
        Ok(if unsigned & sign == 0 {
            unsigned
        } else {
            unsigned - (sign << 1)
        })
    }

    fn headers(&mut self) -> Read<Vec<Header>> {
        let count = self.array_len("a list of header fields")?;
        let room = (self.bytes.len() - self.at) / MIN_ENCODED_HEADER;
        let mut headers = Vec::with_capacity(count.min(room));
        for _ in 0..count {
            headers.push(self.header()?);
        }
        Ok(headers)
    }

    fn header(&mut self) -> Read<Header> {
        let entries = self.map_len("a header field: a map of name and value")?;
        let (mut name, mut value) = (None, None);
        for _ in 0..entries {
            match self.key()? {
                b"name" => once(&mut name, "name", self.header_name()?)?,
                b"value" => once(&mut value, "value", self.value()?)?,
                _ => self.skip()?,
            }
        }
        Ok(Header {
            name: given(name, "name")?,
            value: given(value, "value")?,
        })
    }

    /// A header value (`bin`, or `str`), sliced from the one copy of the payload.
    fn value(&mut self) -> Read<Bytes> {
        let range = self.raw(true, Want::HeaderValue)?;
        let bytes = self.bytes;
        let shared = self
            .shared
            .get_or_insert_with(|| Bytes::copy_from_slice(bytes));
        Ok(shared.slice(range))
    }

    /// Steps over a value of a field this build does not know.
    fn skip(&mut self) -> Read<()> {
        let len = value_len(&self.bytes[self.at..])
            .ok_or_else(|| Malformed("an unknown field's value is cut short or invalid".into()))?;
        self.take(len).map(drop)
    }
}
