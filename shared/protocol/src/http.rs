//! The HTTP exchange carried on one stream: [`RequestHead`], [`ResponseHead`], the
//! [`Header`]s they carry, and [`EndOfBody`]. Body bytes travel as
//! [`Frame::BodyChunk`](crate::Frame::BodyChunk).
//!
//! A request stream carries, in each direction, one head, any number of body chunks and
//! one `EndOfBody` (or a [`Reset`](crate::Reset) at any point).

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::{Deserialize, Serialize, Serializer};

use crate::wire_enum::wire_enum;

/// Header names whose values `Debug` replaces with `***` (compared ASCII
/// case-insensitively): they carry credentials.
pub const REDACTED_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// One HTTP header field. Repeated fields are separate `Header`s, kept in order.
///
/// `Debug` prints the value of a credential header (see [`REDACTED_HEADERS`]) as `***`.
/// On the wire, a map of `name` and `value`, and only that (its `Deserialize` is in
/// `header_field`).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    /// The field name, as received (HTTP/2 names are lowercase; HTTP/1 ones may not be).
    /// Common names are static ([`header_name`](crate::header_name)).
    pub name: Cow<'static, str>,
    /// The field value as raw bytes: HTTP allows values that are not UTF-8.
    #[serde(serialize_with = "value_as_bin")]
    pub value: Bytes,
}

impl Header {
    /// A header from a name and any byte value.
    pub fn new(name: impl Into<Cow<'static, str>>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Whether `Debug` hides this header's value.
    pub fn is_sensitive(&self) -> bool {
        REDACTED_HEADERS
            .iter()
            .any(|n| self.name.eq_ignore_ascii_case(n))
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Header");
        s.field("name", &self.name);
        if self.is_sensitive() {
            s.field("value", &format_args!("***"));
        } else {
            s.field("value", &self.value);
        }
        s.finish()
    }
}

wire_enum! {
    /// The HTTP version the visitor used. Sent as `"HTTP/1.0"`, `"HTTP/1.1"` or
    /// `"HTTP/2"`; any other string makes the frame malformed.
    pub enum HttpVersion {
        /// HTTP/1.0.
        Http10 = "HTTP/1.0",
        /// HTTP/1.1.
        Http11 = "HTTP/1.1",
        /// HTTP/2.
        Http2 = "HTTP/2",
    }
}

impl HttpVersion {
    /// The version's number: `"1.0"`, `"1.1"` or `"2"` (its wire string without the
    /// `HTTP/` prefix), as the gateway's pods tell each other which version a visitor
    /// spoke.
    pub fn number(self) -> &'static str {
        let wire = self.as_str();
        wire.strip_prefix("HTTP/").unwrap_or(wire)
    }

    /// The version whose [`number`](Self::number) is `number`, if any.
    pub fn from_number(number: &[u8]) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|version| version.number().as_bytes() == number)
    }
}

/// Opens a visitor request: the first frame the gateway sends on a request stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestHead {
    /// The gateway's id for this request, for correlating logs on both sides.
    pub request_id: String,
    /// The request method, e.g. `"GET"`.
    pub method: String,
    /// Path and query, e.g. `"/search?q=x"` (no scheme or authority).
    pub uri: String,
    /// The HTTP version the visitor spoke to the gateway.
    pub version: HttpVersion,
    /// The request headers, in order, repeats preserved.
    pub headers: Vec<Header>,
}

impl RequestHead {
    /// The protocol the request asks to switch to (`websocket`): the value of its
    /// `upgrade` header. The gateway strips the visitor's hop-by-hop `Connection` and
    /// `Upgrade` headers and says which switch it carries with this one header; see
    /// [`Upgrade`](crate::Upgrade) for what a switch does to the stream.
    pub fn upgrade(&self) -> Option<&Bytes> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
            .map(|h| &h.value)
    }
}

/// The response's status line and headers: the first frame the agent sends back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseHead {
    /// The HTTP status code, e.g. `200`.
    pub status: u16,
    /// The response headers, in order, repeats preserved.
    pub headers: Vec<Header>,
}

/// The explicit end of a request or response body, so the stream layer need not support
/// half-close. After it the sender writes nothing more in that direction.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndOfBody {
    /// HTTP trailers, usually empty.
    pub trailers: Vec<Header>,
}

/// A header's value as a MessagePack `bin` (via `serde_bytes`).
fn value_as_bin<S: Serializer>(value: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
    serde_bytes::serialize(&value[..], serializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_numbers_are_the_wire_strings_without_the_prefix() {
        let numbers: Vec<&str> = HttpVersion::ALL.iter().map(|v| v.number()).collect();
        assert_eq!(numbers, ["1.0", "1.1", "2"]);
        for &version in HttpVersion::ALL {
            assert_eq!(
                HttpVersion::from_number(version.number().as_bytes()),
                Some(version)
            );
        }
        assert_eq!(HttpVersion::from_number(b"HTTP/1.1"), None);
        assert_eq!(HttpVersion::from_number(b"3"), None);
    }

    #[test]
    fn the_upgrade_header_names_the_switch_asked() {
        let mut head = RequestHead {
            request_id: "r1".into(),
            method: "GET".into(),
            uri: "/chat".into(),
            version: HttpVersion::Http11,
            headers: vec![Header::new("host", "app.test")],
        };
        assert_eq!(head.upgrade(), None);
        head.headers.push(Header::new("Upgrade", "websocket"));
        assert_eq!(head.upgrade().map(|v| &v[..]), Some(&b"websocket"[..]));
    }

    #[test]
    fn credential_headers_are_redacted_in_debug() {
        let head = RequestHead {
            request_id: "r1".into(),
            method: "GET".into(),
            uri: "/".into(),
            version: HttpVersion::Http11,
            headers: vec![
                Header::new("Authorization", "Bearer TOPSECRET"),
                Header::new("cookie", "session=TOPSECRET"),
                Header::new("accept", "text/html"),
            ],
        };
        let debug = format!("{head:?}");
        assert!(!debug.contains("TOPSECRET"), "{debug}");
        assert!(debug.contains("text/html"), "{debug}");
    }
}
