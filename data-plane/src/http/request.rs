//! What a request says of itself, as the gateway reads it: whether it asks for a WebSocket
//! switch, whether it carries a body, and its head as the agent gets it.

use actix_web::{
    HttpRequest,
    http::{
        Version,
        header::{HeaderValue, UPGRADE},
    },
};
use hopgate_protocol::{Header, HttpVersion, RequestHead};

/// The protocol a visitor's HTTP/1.1 request asks to switch to, when it is a WebSocket
/// upgrade (`Connection: upgrade` and `Upgrade: websocket`): the only switch actix hands
/// over as a raw byte stream. Other upgrades (`h2c`) are forwarded as ordinary requests.
pub(crate) fn websocket_upgrade(req: &HttpRequest) -> Option<HeaderValue> {
    if req.version() != Version::HTTP_11 || !req.head().upgrade() {
        return None;
    }
    req.headers()
        .get(UPGRADE)
        .filter(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        .cloned()
}

/// Whether a request carries a body. HTTP/1 says so exactly (Content-Length or
/// Transfer-Encoding, RFC 9112 §6.3); on HTTP/2 only an explicit zero length rules one out.
pub(crate) fn has_body(req: &HttpRequest) -> bool {
    let headers = req.headers();
    let length = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    match req.version() {
        Version::HTTP_2 | Version::HTTP_3 => length != Some("0"),
        _ => headers.contains_key("transfer-encoding") || length.is_some_and(|l| l != "0"),
    }
}

/// A fresh request id (16 hex digits), the one the logs of every hop carry.
pub(crate) fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The HTTP version the agent is told the visitor spoke.
pub(crate) fn visitor_version(req: &HttpRequest) -> HttpVersion {
    match req.version() {
        Version::HTTP_10 => HttpVersion::Http10,
        Version::HTTP_2 => HttpVersion::Http2,
        _ => HttpVersion::Http11,
    }
}

/// The request's head as the agent gets it: its method and origin-form target, with
/// `headers` (already computed for the agent) and `version`.
pub(crate) fn head(
    req: &HttpRequest,
    request_id: String,
    version: HttpVersion,
    headers: Vec<Header>,
) -> RequestHead {
    RequestHead {
        request_id,
        method: req.method().as_str().to_owned(),
        uri: req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
        version,
        headers,
    }
}
