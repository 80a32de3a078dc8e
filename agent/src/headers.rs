//! Headers between the wire ([`Header`]: name, raw value, repeats kept in order) and hyper's
//! [`HeaderMap`], without the hop-by-hop headers that describe one connection only
//! ([`HOP_BY_HOP_HEADERS`](hopgate_protocol::HOP_BY_HOP_HEADERS), and those named in
//! `Connection`).

use bytes::Bytes;
use hopgate_protocol::Header;
use http::{HeaderMap, HeaderName, HeaderValue, header::CONNECTION};

/// A request header that hyper can't carry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HeaderError {
    /// Not a valid header name.
    #[error("invalid header name {0:?}")]
    Name(String),
    /// Not a valid value (e.g. holds a line break).
    #[error("invalid value for header {0:?}")]
    Value(String),
}

/// The protocol the request asks to switch to (`websocket`), if any. The gateway strips
/// the visitor's hop-by-hop `Connection`/`Upgrade` and says so with one `upgrade` header.
pub(crate) fn wants_upgrade(headers: &[Header]) -> Option<HeaderValue> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
        .and_then(|h| HeaderValue::from_maybe_shared(h.value.clone()).ok())
}

/// The lower-cased names listed in `Connection` values.
fn connection_listed<'a>(values: impl Iterator<Item = &'a [u8]>) -> Vec<String> {
    values
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|token| String::from_utf8_lossy(token.trim_ascii()).to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    hopgate_protocol::is_hop_by_hop(name) || listed.iter().any(|l| name.eq_ignore_ascii_case(l))
}

/// The request's headers for hyper, in order, repeats kept, hop-by-hop ones dropped (the
/// gateway strips them already; this keeps a stray `Connection: close` from reaching the
/// pooled connection to the local service).
pub(crate) fn to_header_map(headers: &[Header]) -> Result<HeaderMap, HeaderError> {
    let listed = connection_listed(
        headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("connection"))
            .map(|h| &h.value[..]),
    );
    let mut map = HeaderMap::with_capacity(headers.len());
    for header in headers {
        if is_hop_by_hop(&header.name, &listed) {
            continue;
        }
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| HeaderError::Name(header.name.clone()))?;
        let value = HeaderValue::from_maybe_shared(header.value.clone())
            .map_err(|_| HeaderError::Value(header.name.clone()))?;
        map.append(name, value);
    }
    Ok(map)
}

/// The response's headers for the wire, hop-by-hop ones dropped. Values of one name keep
/// their order (several `Set-Cookie`s).
pub(crate) fn from_header_map(map: &HeaderMap) -> Vec<Header> {
    let listed = connection_listed(map.get_all(CONNECTION).iter().map(HeaderValue::as_bytes));
    map.iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str(), &listed))
        .map(|(name, value)| Header::new(name.as_str(), Bytes::copy_from_slice(value.as_bytes())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &[Header]) -> Vec<String> {
        headers.iter().map(|h| h.name.clone()).collect()
    }

    #[test]
    fn response_hop_by_hop_headers_are_stripped() {
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("content-type", "text/plain"),
            ("connection", "keep-alive, X-Private-Hop"),
            ("connection", "x-other-hop"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("te", "trailers"),
            ("trailer", "x-checksum"),
            ("x-private-hop", "1"),
            ("x-other-hop", "2"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("x-kept", "yes"),
        ] {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let out = from_header_map(&map);
        assert_eq!(
            names(&out),
            ["content-type", "set-cookie", "set-cookie", "x-kept"]
        );
        assert_eq!(out[1].value, "a=1");
        assert_eq!(out[2].value, "b=2");
    }

    #[test]
    fn request_headers_keep_order_repeats_and_raw_values() {
        let headers = vec![
            Header::new("Host", "app.example.com"),
            Header::new("X-Multi", "one"),
            Header::new("Accept", "*/*"),
            Header::new("x-multi", "two"),
            Header::new("x-latin1", Bytes::from_static(b"caf\xe9")),
            Header::new("Connection", "x-hop"),
            Header::new("x-hop", "dropped"),
            Header::new("TE", "trailers"),
        ];
        let map = to_header_map(&headers).unwrap();
        assert_eq!(map.get("host").unwrap(), "app.example.com");
        let multi: Vec<_> = map.get_all("x-multi").iter().collect();
        assert_eq!(multi, ["one", "two"]);
        assert_eq!(map.get("x-latin1").unwrap().as_bytes(), b"caf\xe9");
        assert!(
            map.get("x-hop").is_none()
                && map.get("connection").is_none()
                && map.get("te").is_none()
        );
        assert_eq!(map.len(), 5);
    }

    #[test]
    fn bad_request_headers_are_refused_by_name() {
        let err = to_header_map(&[Header::new("bad name", "x")]).unwrap_err();
        assert!(err.to_string().contains("bad name"), "{err}");
        let err = to_header_map(&[Header::new("x-split", "a\r\nb: c")]).unwrap_err();
        assert!(err.to_string().contains("x-split"), "{err}");
    }

    #[test]
    fn upgrades_are_noticed() {
        assert_eq!(
            wants_upgrade(&[Header::new("Upgrade", "websocket")]).unwrap(),
            "websocket"
        );
        assert!(wants_upgrade(&[Header::new("connection", "keep-alive")]).is_none());
    }
}
