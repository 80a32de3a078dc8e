//! Trailer fields at the gateway: the fields that may follow a body (gRPC's `grpc-status`,
//! `grpc-message` and `grpc-status-details-bin` do) between the visitor's HTTP and the
//! tunnel's [`Header`]s, both ways. Hop-by-hop fields stop here as in a head, and so do the
//! fields a sender must not put in trailers because they frame, route or describe the
//! message as a whole (RFC 9110 §6.5.1): a recipient could act on them too late.

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use hopgate_protocol::{Header, header_name};

use crate::http::headers;

/// Fields that are never trailers: framing, routing, and what describes the whole content.
const NEVER_TRAILERS: &[&str] = &[
    "content-length",
    "content-encoding",
    "content-range",
    "content-type",
    "host",
];

/// Whether `name` (lower case) may pass as a trailer field.
fn may_trail(name: &str) -> bool {
    !headers::is_hop_by_hop(name, &[]) && !NEVER_TRAILERS.contains(&name)
}

/// An answer's trailer fields as the visitor's response ends with them; a field that isn't
/// valid HTTP (the agent's fault) is left out, like one that may not trail.
pub(crate) fn for_visitor(fields: &[Header]) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(fields.len());
    for field in fields {
        let Ok(name) = HeaderName::from_bytes(field.name.as_bytes()) else {
            continue;
        };
        let Ok(value) = HeaderValue::from_maybe_shared(field.value.clone()) else {
            continue;
        };
        if may_trail(name.as_str()) {
            map.append(name, value);
        }
    }
    map
}

/// The trailer fields that ended a visitor's request body, as the agent gets them.
pub(crate) fn for_agent(map: &HeaderMap) -> Vec<Header> {
    map.iter()
        .filter(|(name, _)| may_trail(name.as_str()))
        .map(|(name, value)| {
            Header::new(
                header_name(name.as_str()),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_status_trails_and_framing_does_not() {
        let fields = [
            Header::new("grpc-status", "3"),
            Header::new("grpc-message", "bad%20argument"),
            Header::new("grpc-status-details-bin", "CAMSBGJhZA"),
            Header::new("content-length", "10"),
            Header::new("Transfer-Encoding", "chunked"),
            Header::new("host", "elsewhere.test"),
            Header::new("x-bad", Bytes::from_static(b"line\r\nbreak")),
            Header::new("bad name", "x"),
        ];
        let map = for_visitor(&fields);
        let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        assert_eq!(map.len(), 3, "{names:?}");
        assert_eq!(map.get("grpc-status").unwrap(), "3");
        assert_eq!(map.get("grpc-status-details-bin").unwrap(), "CAMSBGJhZA");
        let back = for_agent(&map);
        assert_eq!(back.len(), 3);
        assert!(back.iter().any(|h| h.name == "grpc-message"));
    }
}
