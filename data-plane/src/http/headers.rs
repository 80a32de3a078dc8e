//! Header rules at the gateway: hop-by-hop headers stop here (but a `TE` that takes
//! trailers goes on as `te: trailers`), forwarding headers are added, and the credentials
//! a domain's access policy asked for stay here too.

use std::{fmt::Write, net::IpAddr};

use actix_web::{
    HttpRequest,
    http::header::{HeaderMap, HeaderName, HeaderValue, InvalidHeaderName},
};
use bytes::{BufMut, Bytes, BytesMut};
use hopgate_protocol::{Header, header_name};

/// An agent's header name for actix: a known name ([`hopgate_protocol::known_name`])
/// without parsing or copying it, any other checked and copied.
pub(crate) fn actix_name(name: &str) -> Result<HeaderName, InvalidHeaderName> {
    match hopgate_protocol::known_name(name) {
        // Known names are lowercase tokens (their module's tests check), valid for
        // `from_static`.
        Some(known) => Ok(HeaderName::from_static(known)),
        None => HeaderName::from_bytes(name.as_bytes()),
    }
}

pub(crate) fn named_in_connection(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all("connection")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect()
}

/// Whether `name` must not be forwarded, given the (lower-case) names the message's
/// `Connection` header lists: it describes one connection, or carries credentials for the
/// gateway itself. Names compare ASCII case-insensitively.
pub(crate) fn is_hop_by_hop(name: &str, connection_names: &[String]) -> bool {
    hopgate_protocol::is_hop_by_hop(name)
        || hopgate_protocol::is_proxy_auth(name)
        || connection_names
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
}

/// `te: trailers` if the request's `TE` takes trailer fields: the one `TE` that crosses the
/// tunnel (an HTTP/2 service, gRPC's above all, needs it; see
/// [`hopgate_protocol::te_lists_trailers`]).
pub(crate) fn te_trailers(headers: &HeaderMap) -> Option<Header> {
    headers
        .get_all("te")
        .any(|value| hopgate_protocol::te_lists_trailers(value.as_bytes()))
        .then(|| Header::new("te", Bytes::from_static(b"trailers")))
}

/// The visitor's headers as the agent should send them on: hop-by-hop removed (a `TE`
/// that takes trailers becomes `te: trailers`), the visitor's Host kept, and
/// `X-Forwarded-*` / `Forwarded` / `X-Real-IP` describing the visitor (the TCP peer: a
/// visitor's own `X-Real-IP` is replaced, never passed on). A protocol switch the gateway
/// carries (`upgrade`) is passed on as one `upgrade` header. `Authorization` stays here
/// when it carried the credentials of the domain's access policy (`drops_authorization`).
pub(crate) fn request_headers(
    req: &HttpRequest,
    host: &str,
    upgrade: Option<&HeaderValue>,
    drops_authorization: bool,
) -> Vec<Header> {
    let connection_names = named_in_connection(req.headers());
    let mut out = Vec::with_capacity(req.headers().len() + 8);
    let mut forwarded_for = None;
    for (name, value) in req.headers() {
        let name = name.as_str();
        if is_hop_by_hop(name, &connection_names)
            || matches!(name, "host" | "forwarded" | "x-real-ip")
            || (name == "authorization" && drops_authorization)
        {
            continue;
        }
        if name == "x-forwarded-for" {
            forwarded_for = value.to_str().ok();
            continue;
        }
        if name.starts_with("x-forwarded-") || name.starts_with("x-hopgate-") {
            // Only the gateway says how the visitor came in; `x-hopgate-*` is the
            // gateway's own (between pods), so the agent sees the same headers whichever
            // pod the visitor reached.
            continue;
        }
        out.push(Header::new(
            header_name(name),
            Bytes::copy_from_slice(value.as_bytes()),
        ));
    }
    if let Some(protocol) = upgrade {
        out.push(Header::new(
            "upgrade",
            Bytes::copy_from_slice(protocol.as_bytes()),
        ));
    }
    out.extend(te_trailers(req.headers()));
    let peer = req.peer_addr().map(|a| a.ip());
    out.extend(forwarding(host, peer, forwarded_for));
    out
}

/// `Host` and the headers that describe the visitor (`peer`, the TCP peer; `earlier`, the
/// `X-Forwarded-For` it sent), their values written into one buffer: two allocations
/// for the six, where each value of its own took one or two.
fn forwarding(host: &str, peer: Option<IpAddr>, earlier: Option<&str>) -> [Header; 6] {
    // Room for all six: two hosts, the earlier chain, three IPv6 addresses and the rest.
    let earlier_len = earlier.map_or(0, |e| e.len() + 2);
    let mut values = BytesMut::with_capacity(2 * host.len() + earlier_len + 3 * 45 + 48);
    values.put_slice(host.as_bytes());
    let host_value = values.split().freeze();
    // The visitor's address is formatted once and copied into the two other values.
    match peer {
        // Formatting into a `BytesMut` cannot fail: it grows.
        Some(ip) => _ = write!(values, "{ip}"),
        None => values.put_slice(b"unknown"),
    }
    let real_ip = values.split().freeze();
    if let Some(earlier) = earlier {
        values.put_slice(earlier.as_bytes());
        values.put_slice(b", ");
    }
    values.put_slice(&real_ip);
    let chain = values.split().freeze();
    write_forwarded(
        &mut values,
        &real_ip,
        matches!(peer, Some(IpAddr::V6(_))),
        host,
    );
    let forwarded = values.split().freeze();
    [
        Header::new("host", host_value.clone()),
        Header::new("x-forwarded-for", chain),
        Header::new("x-real-ip", real_ip),
        Header::new("x-forwarded-proto", Bytes::from_static(b"https")),
        Header::new("x-forwarded-host", host_value),
        Header::new("forwarded", forwarded),
    ]
}

/// RFC 7239's `Forwarded` value for the visitor at `node` (an IPv6 one quoted and
/// bracketed, §6) who asked for `host` over HTTPS.
fn write_forwarded(values: &mut BytesMut, node: &[u8], ipv6: bool, host: &str) {
    if ipv6 {
        values.put_slice(b"for=\"[");
        values.put_slice(node);
        values.put_slice(b"]\"");
    } else {
        values.put_slice(b"for=");
        values.put_slice(node);
    }
    values.put_slice(b";host=");
    values.put_slice(host.as_bytes());
    values.put_slice(b";proto=https");
}

/// The agent's response headers minus hop-by-hop ones.
pub(crate) fn response_headers(headers: &[Header]) -> impl Iterator<Item = &Header> {
    let connection_names: Vec<String> = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .filter_map(|h| std::str::from_utf8(&h.value).ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    headers
        .iter()
        .filter(move |h| !is_hop_by_hop(&h.name, &connection_names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn strips_hop_by_hop_and_adds_forwarding() {
        let req = TestRequest::default()
            .insert_header(("connection", "keep-alive, x-secret-hop"))
            .insert_header(("x-secret-hop", "1"))
            .insert_header(("transfer-encoding", "chunked"))
            .insert_header(("x-forwarded-for", "10.0.0.1"))
            .insert_header(("x-forwarded-proto", "http"))
            .insert_header(("cookie", "a=1"))
            .insert_header(("x-hopgate-relay-token", "guess"))
            .insert_header(("x-real-ip", "10.9.9.9"))
            .peer_addr("192.0.2.7:5555".parse().unwrap())
            .to_http_request();
        let headers = request_headers(&req, "app.test", None, false);
        let get = |name: &str| -> Vec<String> {
            headers
                .iter()
                .filter(|h| h.name == name)
                .map(|h| String::from_utf8(h.value.to_vec()).unwrap())
                .collect()
        };
        assert!(get("connection").is_empty() && get("x-secret-hop").is_empty());
        assert!(get("transfer-encoding").is_empty());
        assert!(get("x-hopgate-relay-token").is_empty());
        assert_eq!(get("x-forwarded-for"), ["10.0.0.1, 192.0.2.7"]);
        assert_eq!(get("x-real-ip"), ["192.0.2.7"]);
        assert_eq!(get("x-forwarded-proto"), ["https"]);
        assert_eq!(get("host"), ["app.test"]);
        assert_eq!(get("cookie"), ["a=1"]);
        assert_eq!(
            get("forwarded"),
            ["for=192.0.2.7;host=app.test;proto=https"]
        );
    }

    #[test]
    fn agent_header_names_of_any_spelling_become_actix_names() {
        // A name built from a static string is not a known one for that.
        for (name, expected) in [
            ("content-type", "content-type"),
            ("Content-Type", "content-type"),
            ("X-Custom", "x-custom"),
        ] {
            assert_eq!(actix_name(name).unwrap().as_str(), expected);
        }
        assert!(actix_name("bad name").is_err());
        assert!(actix_name("").is_err());
    }

    #[test]
    fn an_ipv6_visitor_is_bracketed_in_forwarded_only() {
        let req = TestRequest::default()
            .peer_addr("[2001:db8::7]:5555".parse().unwrap())
            .to_http_request();
        let headers = request_headers(&req, "app.test", None, false);
        let get = |name: &str| {
            let header = headers.iter().find(|h| h.name == name).unwrap();
            String::from_utf8(header.value.to_vec()).unwrap()
        };
        assert_eq!(get("x-forwarded-for"), "2001:db8::7");
        assert_eq!(get("x-real-ip"), "2001:db8::7");
        assert_eq!(
            get("forwarded"),
            "for=\"[2001:db8::7]\";host=app.test;proto=https"
        );
        assert_eq!(get("x-forwarded-host"), "app.test");
        let unknown = request_headers(
            &TestRequest::default().to_http_request(),
            "a.test",
            None,
            false,
        );
        let forwarded = unknown.iter().find(|h| h.name == "forwarded").unwrap();
        assert_eq!(forwarded.value, "for=unknown;host=a.test;proto=https");
    }

    #[test]
    fn te_goes_on_only_as_trailers() {
        let te = |value: &'static str| {
            let req = TestRequest::default()
                .insert_header(("connection", "TE"))
                .insert_header(("te", value))
                .to_http_request();
            request_headers(&req, "app.test", None, false)
                .into_iter()
                .filter(|h| h.name == "te")
                .map(|h| String::from_utf8(h.value.to_vec()).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(te("trailers"), ["trailers"]);
        assert_eq!(te("gzip, trailers;q=1"), ["trailers"]);
        assert!(te("gzip").is_empty());
    }

    #[test]
    fn the_gateways_credentials_stay_at_the_gateway() {
        let req = TestRequest::default()
            .insert_header(("authorization", "Basic YWxpY2U6cHc="))
            .to_http_request();
        let has_authorization =
            |headers: Vec<Header>| headers.iter().any(|h| h.name == "authorization");
        assert!(has_authorization(request_headers(
            &req, "app.test", None, false
        )));
        assert!(!has_authorization(request_headers(
            &req, "app.test", None, true
        )));
    }

    #[test]
    fn a_carried_upgrade_is_one_upgrade_header() {
        let req = TestRequest::default()
            .insert_header(("connection", "Upgrade"))
            .insert_header(("upgrade", "WebSocket"))
            .insert_header(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="))
            .to_http_request();
        let protocol = HeaderValue::from_static("WebSocket");
        let headers = request_headers(&req, "app.test", Some(&protocol), false);
        let names: Vec<&str> = headers.iter().map(|h| &*h.name).collect();
        assert_eq!(names.iter().filter(|n| **n == "upgrade").count(), 1);
        assert!(!names.contains(&"connection"));
        assert!(names.contains(&"sec-websocket-key"));
        // Without a carried switch the visitor's upgrade stops here.
        let plain = request_headers(&req, "app.test", None, false);
        assert!(plain.iter().all(|h| h.name != "upgrade"));
    }

    #[test]
    fn response_drops_hop_by_hop_and_connection_named_headers() {
        let headers = vec![
            Header::new("Connection", Bytes::from_static(b"close, X-Internal")),
            Header::new("X-Internal", Bytes::from_static(b"1")),
            Header::new("Keep-Alive", Bytes::from_static(b"timeout=5")),
            Header::new("Proxy-Authenticate", Bytes::from_static(b"Basic")),
            Header::new("Set-Cookie", Bytes::from_static(b"a=1")),
            Header::new("Set-Cookie", Bytes::from_static(b"b=2")),
        ];
        let kept: Vec<&str> = response_headers(&headers).map(|h| &*h.name).collect();
        assert_eq!(kept, ["Set-Cookie", "Set-Cookie"]);
    }
}
