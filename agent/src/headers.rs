//! Headers between the wire ([`Header`]: name, raw value, repeats kept in order) and hyper's
//! [`HeaderMap`], without the hop-by-hop headers that describe one connection only
//! ([`HOP_BY_HOP_HEADERS`](hopgate_protocol::HOP_BY_HOP_HEADERS), and those named in
//! `Connection`); and the changes made for the local service: several `cookie` fields
//! joined into one ([`join_cookies`]), the `Host` it is shown ([`set_host`]), and over h2c
//! that `Host` as the request's authority and `te: trailers` kept ([`for_h2c`]).

use bytes::{BufMut, Bytes, BytesMut};
use hopgate_protocol::Header;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, Uri, Version,
    header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, COOKIE, HOST, TE},
    request::Parts,
    response,
    uri::Authority,
};

use crate::config::{HostHeader, LocalTarget};

/// The visitor's `Host` when the local service is shown another one.
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

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

/// The request's `content-type`, if it has one.
pub(crate) fn content_type(headers: &[Header]) -> Option<&[u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()))
        .map(|h| &h.value[..])
}

/// Makes `parts` (built for HTTP/1.1) an HTTP/2 request for an h2c service: the `Host` the
/// service is shown becomes the request's authority (`:authority`, RFC 9113 §8.3.1; the
/// connection still goes to the local target), and if the gateway's request (`wire`) takes
/// trailer fields, `te: trailers` goes along (gRPC servers require it).
pub(crate) fn for_h2c(parts: &mut Parts, wire: &[Header]) {
    parts.version = Version::HTTP_2;
    if let Some(host) = parts.headers.remove(HOST)
        && let Ok(authority) = Authority::try_from(host.as_bytes())
    {
        let mut uri = parts.uri.clone().into_parts();
        uri.authority = Some(authority);
        if let Ok(named) = Uri::from_parts(uri) {
            parts.uri = named;
        }
    }
    let takes_trailers = wire.iter().any(|h| {
        h.name.eq_ignore_ascii_case(TE.as_str()) && hopgate_protocol::te_lists_trailers(&h.value)
    });
    if takes_trailers {
        parts
            .headers
            .insert(TE, HeaderValue::from_static("trailers"));
    }
}

/// Whether a response to `method` is whole with its head (`ended`: its body is known to
/// be over, as when an HTTP/2 HEADERS frame ends the stream) yet doesn't say its length:
/// then it has an empty body, and a `content-length: 0` says so to the gateway. Not for
/// answers that never have a body (to a HEAD, `1xx`, `204`, `304`).
pub(crate) fn ended_with_head(method: &Method, head: &response::Parts, ended: bool) -> bool {
    let bodiless = *method == Method::HEAD
        || head.status.is_informational()
        || matches!(head.status.as_u16(), 204 | 304);
    ended && !bodiless && !head.headers.contains_key(CONTENT_LENGTH)
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
        let name = hyper_name(&header.name)?;
        let value = HeaderValue::from_maybe_shared(header.value.clone())
            .map_err(|_| HeaderError::Value(header.name.to_string()))?;
        map.append(name, value);
    }
    Ok(map)
}

/// `name` for hyper: a known name ([`hopgate_protocol::known_name`]) without parsing it
/// or copying it, any other checked and copied.
fn hyper_name(name: &str) -> Result<HeaderName, HeaderError> {
    match hopgate_protocol::known_name(name) {
        // Known names are lowercase tokens (their module's tests check), valid for
        // `from_static`.
        Some(known) => Ok(HeaderName::from_static(known)),
        None => {
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::Name(name.to_owned()))
        }
    }
}

/// The response's headers for the wire, hop-by-hop ones dropped. Values of one name keep
/// their order (several `Set-Cookie`s).
pub(crate) fn from_header_map(map: &HeaderMap) -> Vec<Header> {
    let listed = connection_listed(map.get_all(CONNECTION).iter().map(HeaderValue::as_bytes));
    map.iter()
        .filter(|(name, _)| !is_hop_by_hop(name.as_str(), &listed))
        .map(|(name, value)| {
            Header::new(
                hopgate_protocol::header_name(name.as_str()),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect()
}

/// Joins several `cookie` fields into one, in order, separated by `"; "`: HTTP/2 clients
/// send each cookie as its own field, and an HTTP/1.1 service expects one `Cookie` line
/// (RFC 9113 §8.2.3). One field or none is left as it is.
pub(crate) fn join_cookies(map: &mut HeaderMap) {
    let mut values = map.get_all(COOKIE).iter();
    let (Some(first), Some(_)) = (values.next(), values.next()) else {
        return;
    };
    let mut joined = BytesMut::from(first.as_bytes());
    for value in map.get_all(COOKIE).iter().skip(1) {
        joined.put_slice(b"; ");
        joined.put_slice(value.as_bytes());
    }
    // Valid field values joined by "; " are a valid field value.
    if let Ok(value) = HeaderValue::from_maybe_shared(joined.freeze()) {
        map.insert(COOKIE, value);
    }
}

/// Shows the local service the `Host` that `host_header` asks for. When it isn't the
/// visitor's, the visitor's goes on in `X-Forwarded-Host` (as the gateway set it).
pub(crate) fn set_host(map: &mut HeaderMap, host_header: &HostHeader, target: &LocalTarget) {
    let shown = match host_header {
        HostHeader::Preserve => return,
        HostHeader::Rewrite => match HeaderValue::from_str(target.authority()) {
            Ok(value) => value,
            Err(_) => return,
        },
        HostHeader::Fixed(value) => value.clone(),
    };
    if let Some(visitors) = map.insert(HOST, shown) {
        map.insert(X_FORWARDED_HOST, visitors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(headers: &[Header]) -> Vec<String> {
        headers.iter().map(|h| h.name.to_string()).collect()
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
    fn over_h2c_the_host_is_the_authority_and_te_trailers_stays() {
        let wire = [
            Header::new("host", "app.example.com:8443"),
            Header::new("content-type", "application/grpc"),
            Header::new("te", "trailers"),
        ];
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.uri = "http://127.0.0.1:50051/pkg.Svc/Call".parse().unwrap();
        parts.headers = to_header_map(&wire).unwrap();
        assert!(parts.headers.get("te").is_none(), "hop-by-hop for HTTP/1.1");
        assert_eq!(content_type(&wire), Some(&b"application/grpc"[..]));
        for_h2c(&mut parts, &wire);
        assert_eq!(parts.version, Version::HTTP_2);
        assert_eq!(
            parts.uri.to_string(),
            "http://app.example.com:8443/pkg.Svc/Call"
        );
        assert!(parts.headers.get("host").is_none());
        assert_eq!(parts.headers.get("te").unwrap(), "trailers");

        let plain = [
            Header::new("host", "app.example.com"),
            Header::new("te", "gzip"),
        ];
        let (mut parts, ()) = http::Request::new(()).into_parts();
        parts.uri = "http://127.0.0.1:50051/".parse().unwrap();
        parts.headers = to_header_map(&plain).unwrap();
        for_h2c(&mut parts, &plain);
        assert_eq!(parts.uri.to_string(), "http://app.example.com/");
        assert!(parts.headers.get("te").is_none());
    }

    #[test]
    fn an_answer_whole_with_its_head_has_a_zero_length() {
        let head = |status: u16, length: Option<&'static str>| {
            let mut builder = http::Response::builder().status(status);
            if let Some(length) = length {
                builder = builder.header("content-length", length);
            }
            builder.body(()).unwrap().into_parts().0
        };
        assert!(ended_with_head(&Method::POST, &head(200, None), true));
        assert!(!ended_with_head(&Method::POST, &head(200, None), false));
        assert!(!ended_with_head(&Method::GET, &head(200, Some("0")), true));
        assert!(!ended_with_head(&Method::HEAD, &head(200, None), true));
        assert!(!ended_with_head(&Method::GET, &head(204, None), true));
        assert!(!ended_with_head(&Method::GET, &head(304, None), true));
    }

    #[test]
    fn bad_request_headers_are_refused_by_name() {
        let err = to_header_map(&[Header::new("bad name", "x")]).unwrap_err();
        assert!(err.to_string().contains("bad name"), "{err}");
        let err = to_header_map(&[Header::new("x-split", "a\r\nb: c")]).unwrap_err();
        assert!(err.to_string().contains("x-split"), "{err}");
    }

    #[test]
    fn several_cookie_fields_become_one_line() {
        let mut map = to_header_map(&[
            Header::new("cookie", "a=1"),
            Header::new("accept", "*/*"),
            Header::new("Cookie", "b=2; c=3"),
            Header::new("cookie", "d=4"),
        ])
        .unwrap();
        join_cookies(&mut map);
        let cookies: Vec<_> = map.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["a=1; b=2; c=3; d=4"]);
        assert_eq!(map.len(), 2);
        let mut one = to_header_map(&[Header::new("cookie", "only=1")]).unwrap();
        join_cookies(&mut one);
        assert_eq!(one.get_all("cookie").iter().collect::<Vec<_>>(), ["only=1"]);
    }

    #[test]
    fn the_host_shown_to_the_local_service() {
        let target = LocalTarget::parse("localhost:5173").unwrap();
        let shown = |mode: &HostHeader| {
            let mut map = to_header_map(&[Header::new("host", "app.example.com")]).unwrap();
            set_host(&mut map, mode, &target);
            let text = |name| {
                map.get(name)
                    .map(|v: &HeaderValue| v.to_str().unwrap().to_owned())
            };
            (text("host"), text("x-forwarded-host"))
        };
        let public = Some("app.example.com".to_owned());
        assert_eq!(shown(&HostHeader::Preserve), (public.clone(), None));
        assert_eq!(
            shown(&HostHeader::Rewrite),
            (Some("localhost:5173".to_owned()), public.clone())
        );
        let fixed = HostHeader::parse("dev.internal").unwrap();
        assert_eq!(shown(&fixed), (Some("dev.internal".to_owned()), public));
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
