//! Common header names as `&'static str`: a [`Header`](crate::Header) whose name is one
//! of them holds no heap block for it, whether it was decoded from a frame
//! ([`deserialize`]) or built from another library's header map ([`header_name`]).
//!
//! The list is HPACK's static table (RFC 7541, Appendix A, without pseudo-headers), the
//! fields the gateway itself adds, and those browsers, CORS, WebSocket and gRPC send on
//! most requests. Names are matched exactly: the lowercase form is the one HTTP/2 uses
//! and the one the gateway writes; any other spelling is kept as it came, in a `String`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserializer;
use serde::de::{Error, Visitor};

macro_rules! known_names {
    ($($name:literal),* $(,)?) => {
        /// The static copy of `name` if it is a known header name, spelled exactly so.
        pub fn known_name(name: &str) -> Option<&'static str> {
            match name {
                $($name => Some($name),)*
                _ => None,
            }
        }

        /// [`known_name`] for a name still in bytes: known names are ASCII, so finding
        /// one needs no UTF-8 check first.
        pub(crate) fn known_name_bytes(name: &[u8]) -> Option<&'static str> {
            $(if name == $name.as_bytes() {
                return Some($name);
            })*
            None
        }

        #[cfg(test)]
        const KNOWN: &[&str] = &[$($name),*];
    };
}

known_names![
    // HPACK's static table.
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "accept",
    "access-control-allow-origin",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-range",
    "content-type",
    "cookie",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "link",
    "location",
    "max-forwards",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "refresh",
    "retry-after",
    "server",
    "set-cookie",
    "strict-transport-security",
    "transfer-encoding",
    "user-agent",
    "vary",
    "via",
    "www-authenticate",
    // What the gateway adds, and the switches and trailers it carries.
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "upgrade",
    "te",
    "trailer",
    // Browsers, CORS, WebSocket, gRPC and common responses.
    "origin",
    "priority",
    "dnt",
    "upgrade-insecure-requests",
    "sec-fetch-dest",
    "sec-fetch-mode",
    "sec-fetch-site",
    "sec-fetch-user",
    "sec-ch-ua",
    "sec-ch-ua-mobile",
    "sec-ch-ua-platform",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-extensions",
    "sec-websocket-protocol",
    "sec-websocket-accept",
    "access-control-allow-credentials",
    "access-control-allow-headers",
    "access-control-allow-methods",
    "access-control-expose-headers",
    "access-control-max-age",
    "access-control-request-headers",
    "access-control-request-method",
    "content-security-policy",
    "referrer-policy",
    "x-content-type-options",
    "x-frame-options",
    "x-requested-with",
    "grpc-accept-encoding",
    "grpc-encoding",
    "grpc-message",
    "grpc-status",
    "grpc-timeout",
];

/// `name` for a [`Header`](crate::Header): the static copy of a known name, else a copy.
pub fn header_name(name: &str) -> Cow<'static, str> {
    match known_name(name) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(name.to_owned()),
    }
}

/// A header name, static when known.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Cow<'static, str>, D::Error> {
    deserializer.deserialize_string(NameVisitor)
}

struct NameVisitor;

impl Visitor<'_> for NameVisitor {
    type Value = Cow<'static, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header name")
    }

    fn visit_str<E: Error>(self, name: &str) -> Result<Self::Value, E> {
        Ok(header_name(name))
    }

    fn visit_string<E: Error>(self, name: String) -> Result<Self::Value, E> {
        Ok(known_name(&name).map_or(Cow::Owned(name), Cow::Borrowed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_is_a_lowercase_token_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for &name in KNOWN {
            assert!(seen.insert(name), "{name} listed twice");
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name:?}"
            );
            assert_eq!(known_name(name), Some(name));
            assert_eq!(known_name_bytes(name.as_bytes()), Some(name));
            assert!(matches!(header_name(name), Cow::Borrowed(n) if n == name));
        }
    }

    #[test]
    fn other_names_and_spellings_are_copied_as_they_came() {
        for name in ["Content-Type", "x-custom", "HOST", "", "content-type "] {
            assert_eq!(known_name(name), None);
            assert_eq!(known_name_bytes(name.as_bytes()), None);
            assert!(matches!(header_name(name), Cow::Owned(n) if n == name));
        }
    }

    #[test]
    fn decoded_names_are_static_when_known() {
        let decode = |name: &str| {
            let bytes = rmp_serde::to_vec(name).unwrap();
            let mut de = rmp_serde::Deserializer::from_read_ref(&bytes);
            deserialize(&mut de).unwrap()
        };
        assert!(matches!(
            decode("x-forwarded-for"),
            Cow::Borrowed("x-forwarded-for")
        ));
        assert!(matches!(decode("X-Forwarded-For"), Cow::Owned(n) if n == "X-Forwarded-For"));
        let mut de = rmp_serde::Deserializer::new(&[0x01][..]);
        assert!(deserialize(&mut de).is_err(), "a number is not a name");
    }
}
