//! The visitor-facing handler: route by Host, run the request through a [`RequestActor`],
//! and stream the agent's answer back; a domain whose session is on another pod is relayed
//! there (`relay_out`). Every answer is counted in the metrics when its body ends
//! ([`Record`], held by the body), so the duration covers the whole exchange. A request for a served
//! domain first needs a place under the per-domain and per-client caps (`limits`), held
//! until its answer ends: over a cap it gets a fast 503.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use actix::Actor;
use actix_web::{
    HttpRequest, HttpResponse,
    http::{
        Method, StatusCode, Version,
        header::{HeaderValue, UPGRADE},
    },
    web,
};
use bytes::Bytes;
use futures_util::{FutureExt, Stream};
use hopgate_protocol::{Frame, HttpVersion, RequestHead, ResetCode};
use slog::{Logger, debug, info, o};

use crate::{
    edge_connection::VisitorConnection,
    guarded_body::{self, Guarded},
    headers,
    limits::{Busy, Permit, RequestCaps},
    metrics::{DomainClass, Metrics},
    pages,
    request_actor::{ProxyError, RequestActor, Upstream},
    routing::{Route, RoutingTable},
};

/// Shared by every handler.
pub(crate) struct AppState {
    pub(crate) table: Arc<RoutingTable>,
    pub(crate) response_timeout: Duration,
    /// How long a request waits for a free stream on the agent's session.
    pub(crate) stream_wait: Duration,
    /// How long an ordinary request's body may make no progress.
    pub(crate) body_timeout: Duration,
    /// Requests in flight per domain and per client.
    pub(crate) caps: Arc<RequestCaps>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    /// Requests relayed to another pod (`hopgate_relayed_requests_total`).
    pub(crate) relayed: Arc<AtomicU64>,
    pub(crate) metrics: Arc<Metrics>,
    /// The gateway's own domain (`HOP_SERVER_DOMAIN`), normalized.
    pub(crate) main_domain: String,
    pub(crate) log: Logger,
}

pub(crate) async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse<Guarded<Record>> {
    let started = Instant::now();
    let method = req.method().clone();
    let mut class = DomainClass::Unknown;
    let mut permit = None;
    let response = visit(req, payload, &state, &mut class, &mut permit).await;
    let record = Record {
        metrics: state.metrics.clone(),
        class,
        method,
        status: response.status().as_u16(),
        started,
        _permit: permit,
    };
    guarded_body::guard(response, record)
}

/// Routes one visitor request: forwards it here, relays it to the pod with the session,
/// or answers 404/502; `class` learns what kind of host it was for, `permit` the request's
/// place under the caps (held until the answer ends).
async fn visit(
    req: HttpRequest,
    payload: web::Payload,
    state: &AppState,
    class: &mut DomainClass,
    permit: &mut Option<Permit>,
) -> HttpResponse {
    if let Err(page) = origin_form(&req, state) {
        return *page;
    }
    let requested = crate::host::requested(&req);
    let host = match visited_host(&req, requested, state) {
        Ok(host) => host,
        Err(page) => return *page,
    };
    let upgrade = websocket_upgrade(&req);
    // What the agent gets: computed here, on the pod the visitor reached, even when another
    // pod serves the request.
    let headers = headers::request_headers(&req, requested, upgrade.as_ref());
    let route = state.table.route(&host);
    *class = match &route {
        Route::Unknown if host == state.main_domain => DomainClass::Gateway,
        Route::Unknown => DomainClass::Unknown,
        _ => DomainClass::Tunnel,
    };
    if matches!(route, Route::Live(_) | Route::Remote(_)) {
        let client = req.peer_addr().map(|peer| peer.ip());
        match state.caps.admit(client, &host) {
            Ok(admitted) => *permit = Some(admitted),
            Err(busy) => return busy_page(&req, state, &host, busy),
        }
    }
    let handle = match route {
        Route::Live(handle) => handle,
        Route::Remote(targets) => {
            return crate::relay_out::relay(&req, payload, state, &host, headers, &targets).await;
        }
        other => return not_live(&req, &host, &other),
    };
    let version = http_version(req.version());
    let head = RequestHead {
        request_id: new_request_id(),
        method: req.method().as_str().to_owned(),
        uri: req
            .uri()
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned(),
        version,
        headers,
    };
    forward(&req, payload, state, handle, &host, head).await
}

/// The 400 page (and a `bad_request_target` count) for a target that isn't origin-form.
pub(crate) fn origin_form(req: &HttpRequest, state: &AppState) -> Result<(), Box<HttpResponse>> {
    crate::target::check(req).map_err(|why| {
        state.metrics.rejected("bad_request_target");
        Box::new(pages::error(
            req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("The request target {why}."),
        ))
    })
}

/// The host a visitor's request is for (`requested`: its Host or `:authority`), normalized
/// for routing; a 400 page for a malformed one, a 421 page for one the connection wasn't
/// made for (see `sni`).
fn visited_host(
    req: &HttpRequest,
    requested: &str,
    state: &AppState,
) -> Result<String, Box<HttpResponse>> {
    let host = routable_host(req, requested).inspect_err(|_| state.metrics.rejected("bad_host"))?;
    let on_this_connection = req
        .conn_data::<VisitorConnection>()
        .and_then(|connection| connection.tls.as_ref())
        .is_some_and(|presented| presented.allows(&host));
    if !on_this_connection {
        state.metrics.rejected("misdirected");
        debug!(state.log, "request misdirected"; "domain" => &host);
        return Err(Box::new(pages::error(
            req,
            StatusCode::MISDIRECTED_REQUEST,
            "Misdirected Request",
            &format!("This connection was made for another site: connect to {host} to reach it."),
        )));
    }
    Ok(host)
}

/// The request's host, normalized for routing, or the 400 page for a malformed one.
pub(crate) fn routable_host(req: &HttpRequest, raw: &str) -> Result<String, Box<HttpResponse>> {
    crate::host::normalize(raw).map_err(|why| {
        Box::new(pages::error(
            req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            &format!("The Host header {why}."),
        ))
    })
}

/// The 503 page (and its `hopgate_rejected_total` count) for a request over a cap.
pub(crate) fn busy_page(
    req: &HttpRequest,
    state: &AppState,
    host: &str,
    busy: Busy,
) -> HttpResponse {
    state.metrics.rejected(busy.reason());
    debug!(state.log, "request refused"; "domain" => host, "reason" => busy.reason());
    let detail = match busy {
        Busy::Domain => format!("{host} has too many requests in progress; try again shortly."),
        Busy::Client => {
            "You have too many requests in progress on this gateway; try again shortly.".into()
        }
    };
    pages::busy(req, &detail)
}

/// The answer for a host with no session to forward through (404 or 502).
pub(crate) fn not_live(req: &HttpRequest, host: &str, route: &Route) -> HttpResponse {
    match route {
        Route::Unknown => pages::error(
            req,
            StatusCode::NOT_FOUND,
            "Not Found",
            &format!("{host} is not served by this gateway."),
        ),
        _ => pages::error(
            req,
            StatusCode::BAD_GATEWAY,
            "Agent offline",
            &format!("No agent is connected for {host} right now."),
        ),
    }
}

/// Carries `head` (and the request's body) through the session `handle` and streams the
/// agent's answer back: the visitor's request here, or one another pod relayed.
pub(crate) async fn forward(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    handle: crate::routing::SessionHandle,
    host: &str,
    head: RequestHead,
) -> HttpResponse {
    let upgrade = websocket_upgrade(req);
    let log = state.log.new(
        o!("domain" => host.to_owned(), "session_id" => handle.id, "request_id" => head.request_id.clone()),
    );
    // The head must fit one frame: refuse what can't be carried, before opening a stream.
    let head_size: usize = head
        .headers
        .iter()
        .map(|h| h.name.len() + h.value.len() + 8)
        .sum::<usize>()
        + head.uri.len()
        + head.method.len()
        + 512;
    if head_size > crate::session_actor::limits().max_head_frame {
        info!(log, "request head too large"; "bytes" => head_size);
        return pages::error(
            req,
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
            "The request's headers are larger than this gateway carries (64 KiB).",
        );
    }
    let (reply, answer) = tokio::sync::oneshot::channel();
    let actor = RequestActor {
        head: Some(head),
        payload: Some(payload),
        // After a protocol switch the visitor's bytes flow up until it closes its side.
        has_body: upgrade.is_some() || has_body(req),
        handle,
        reply: Some(reply),
        response_timeout: state.response_timeout,
        stream_wait: state.stream_wait,
        // A WebSocket may idle: only an ordinary body has to keep coming.
        body_timeout: upgrade.is_none().then_some(state.body_timeout),
        in_flight: state.in_flight.clone(),
        metrics: state.metrics.clone(),
        upload: None,
        log: log.clone(),
    }
    .start();
    match answer.await {
        Ok(Ok(upstream)) => respond(req, upstream, actor, upgrade.is_some(), &state.metrics),
        Ok(Err(err)) => {
            info!(log, "request failed"; "error" => %err);
            error_page(req, &err)
        }
        Err(_) => pages::error(
            req,
            StatusCode::BAD_GATEWAY,
            "Bad Gateway",
            "The request was abandoned.",
        ),
    }
}

fn error_page(req: &HttpRequest, err: &ProxyError) -> HttpResponse {
    let (status, title) = match err {
        ProxyError::NoStream(_) => return pages::busy(req, &err.to_string()),
        ProxyError::BodyStalled(_) => return pages::body_stalled(req, &err.to_string()),
        ProxyError::Timeout(_)
        | ProxyError::AgentReset {
            code: ResetCode::UpstreamTimeout,
            ..
        } => (StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout"),
        ProxyError::AgentReset {
            code: ResetCode::TooLarge,
            ..
        } => (StatusCode::PAYLOAD_TOO_LARGE, "Payload Too Large"),
        _ => (StatusCode::BAD_GATEWAY, "Bad Gateway"),
    };
    pages::error(req, status, title, &err.to_string())
}

/// The visitor's response from the agent's answer. `upgrade`: the visitor asked to switch
/// protocols (the only case where a `101` answer is valid).
fn respond(
    req: &HttpRequest,
    upstream: Upstream,
    actor: actix::Addr<RequestActor>,
    upgrade: bool,
    metrics: &Arc<Metrics>,
) -> HttpResponse {
    let Upstream { head, body } = upstream;
    let status = match StatusCode::from_u16(head.status) {
        Ok(StatusCode::SWITCHING_PROTOCOLS) if upgrade => {
            return switched(&head, body, actor, metrics.clone());
        }
        Ok(status) if !status.is_informational() => status,
        _ => {
            return pages::error(
                req,
                StatusCode::BAD_GATEWAY,
                "Bad Gateway",
                &format!(
                    "The agent answered with an invalid status ({}).",
                    head.status
                ),
            );
        }
    };
    let mut response = HttpResponse::build(status);
    if upgrade {
        // The local service declined the switch; the connection was already handed over
        // to a raw byte stream, so it can't carry another request.
        response.force_close();
    }
    let mut length = None;
    for header in headers::response_headers(&head.headers) {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(&header.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            continue;
        }
        response.append_header((header.name.as_str(), header.value.as_ref()));
    }
    let no_body = *req.method() == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if let Some(length) = length {
        response.no_chunking(length);
    }
    if no_body {
        // The actor stops when this returns: nothing more to relay.
        drop(actor);
        if length.is_some() {
            // HEAD: the length of the body a GET would get, with no body (`no_chunking`
            // above set it; actix writes no body for HEAD).
            let nothing = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
            return response.streaming(nothing);
        }
        return response.finish();
    }
    response.streaming(BodyStream::new(body, actor, metrics.clone()))
}

/// `101 Switching Protocols`: from here on the connection carries the agent's bytes to the
/// visitor (and the visitor's up, see [`RequestActor`]) until either side closes.
fn switched(
    head: &hopgate_protocol::ResponseHead,
    body: hopgate_tunnel::FrameReader<hopgate_transport::RecvStream>,
    actor: actix::Addr<RequestActor>,
    metrics: Arc<Metrics>,
) -> HttpResponse {
    let mut response = HttpResponse::build(StatusCode::SWITCHING_PROTOCOLS);
    let protocol = head
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("upgrade"))
        .and_then(|h| HeaderValue::from_maybe_shared(h.value.clone()).ok())
        .unwrap_or(HeaderValue::from_static("websocket"));
    response.upgrade(protocol);
    for header in headers::response_headers(&head.headers) {
        response.append_header((header.name.as_str(), header.value.as_ref()));
    }
    response.streaming(BodyStream::new(body, actor, metrics))
}

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

/// The agent's body frames as a byte stream; holds the request actor alive until done.
struct BodyStream {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>>>>,
}

impl BodyStream {
    fn new(
        reader: hopgate_tunnel::FrameReader<hopgate_transport::RecvStream>,
        actor: actix::Addr<RequestActor>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let start = Some((reader, actor, metrics));
        let inner = futures_util::stream::unfold(start, |state| async move {
            let (mut reader, actor, metrics) = state?;
            match reader.next().await {
                Ok(Some(Frame::BodyChunk(data))) => {
                    metrics.bytes_out(data.len());
                    Some((Ok(data), Some((reader, actor, metrics))))
                }
                Ok(Some(Frame::EndOfBody(_))) => {
                    // The agent's FIN normally arrives with this frame. Reading it now
                    // (never waiting for it) lets the stream be dropped as fully read,
                    // which spares the transport's driver a wake-up per request.
                    let _ = reader.next().now_or_never();
                    None
                }
                Ok(Some(Frame::Reset(reset))) => {
                    metrics.reset(reset.code.as_str());
                    let why = format!("agent reset the response: {}", reset.message);
                    Some((Err(std::io::Error::other(why)), None))
                }
                Ok(Some(other)) => Some((
                    Err(std::io::Error::other(format!(
                        "unexpected {} frame in a body",
                        other.frame_type().name()
                    ))),
                    None,
                )),
                Ok(None) => Some((
                    Err(std::io::Error::other(
                        "agent's stream ended before the end of the body",
                    )),
                    None,
                )),
                Err(err) => Some((Err(std::io::Error::other(err.to_string())), None)),
            }
        });
        Self {
            inner: Box::pin(inner),
        }
    }
}

impl Stream for BodyStream {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
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

/// The HTTP version a visitor spoke, as the tunnel names it (anything but HTTP/1.0 and
/// HTTP/2 is carried as HTTP/1.1).
pub(crate) fn http_version(version: Version) -> HttpVersion {
    match version {
        Version::HTTP_10 => HttpVersion::Http10,
        Version::HTTP_2 => HttpVersion::Http2,
        _ => HttpVersion::Http11,
    }
}

pub(crate) fn new_request_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// One request's facts for the metrics, counted when dropped (the answer's end).
pub(crate) struct Record {
    metrics: Arc<Metrics>,
    class: DomainClass,
    method: Method,
    status: u16,
    started: Instant,
    /// The request's place under the caps, given back with the answer's end.
    _permit: Option<Permit>,
}

impl Drop for Record {
    fn drop(&mut self) {
        self.metrics.request(
            self.class,
            self.method.as_str(),
            self.status,
            self.started.elapsed(),
        );
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{http::StatusCode, test::TestRequest};

    use super::routable_host;

    #[test]
    fn a_host_is_normalized_and_a_malformed_one_gets_a_400_page() {
        let req = TestRequest::default().to_http_request();
        assert_eq!(
            routable_host(&req, "App.Example.COM:8443").unwrap(),
            "app.example.com"
        );
        let page = routable_host(&req, "bad host/name").unwrap_err();
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
    }
}
