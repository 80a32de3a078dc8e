//! Cross-pod routing, the relaying side: a visitor's request for a domain whose agent
//! session lives on another pod goes to that pod's relay listener (see `relay`) over
//! HTTP/1.1 with keep-alive (one connection pool per worker thread), bodies streamed both
//! ways with back-pressure. The headers are the ones this pod computed for the agent
//! (`X-Forwarded-*`, `Forwarded`, the visitor's `Host`), so the agent sees the same request
//! whichever pod the visitor reached. A WebSocket upgrade is relayed as an HTTP/1.1
//! upgrade too: on the other pod's `101` both connections become one raw byte pipe.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use bytes::Bytes;
use futures_util::StreamExt;
use hopgate_protocol::Header;
use slog::{info, o};

use crate::{
    pages,
    proxy::{self, AppState},
    relay::{REQUEST_ID_HEADER, TOKEN_HEADER, VERSION_HEADER},
    routing::RelayTargets,
};

/// How much longer than `HOP_SERVER_RESPONSE_TIMEOUT` the relaying pod waits for the
/// other pod's answer (which enforces that timeout itself and answers 504).
const RELAY_SLACK: Duration = Duration::from_secs(5);

/// One worker thread's client for relayed requests.
pub(crate) struct RelayClient {
    client: reqwest::Client,
    token: String,
}

impl RelayClient {
    /// A client sending `token` (`HOP_RELAY_TOKEN`); with `tls` (see `relay_tls`), it
    /// relays over HTTPS only.
    pub(crate) fn new(token: &str, tls: Option<rustls::ClientConfig>) -> reqwest::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(3))
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            // Pods talk to each other directly: no proxy from the environment sees the
            // visitors' requests or the relay secret.
            .no_proxy();
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls).https_only(true);
        }
        Ok(Self {
            client: builder.build()?,
            token: token.to_owned(),
        })
    }
}

/// Counts a relayed request as in flight (so a drain waits for it) until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Relays the visitor's request to the first of `targets` that can be reached.
pub(crate) async fn relay(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    host: &str,
    headers: Vec<Header>,
    targets: &RelayTargets,
) -> HttpResponse {
    let Some(relay) = req.app_data::<web::Data<RelayClient>>() else {
        return proxy::not_live(req, host, &crate::routing::Route::Offline);
    };
    let upgrade = proxy::websocket_upgrade(req).is_some();
    let request_id = proxy::new_request_id();
    let log = state.log.new(o!("domain" => host.to_owned(),
        "request_id" => request_id.clone()));
    let guard = InFlight::new(&state.in_flight);
    state.relayed.fetch_add(1, Ordering::Relaxed);
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let mut outgoing = reqwest::header::HeaderMap::with_capacity(headers.len() + 3);
    for header in &headers {
        let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(header.name.as_bytes()),
            reqwest::header::HeaderValue::from_bytes(&header.value),
        ) else {
            continue;
        };
        outgoing.append(name, value);
    }
    let version = proxy::http_version(req.version()).number();
    if upgrade {
        outgoing.insert(
            reqwest::header::CONNECTION,
            reqwest::header::HeaderValue::from_static("upgrade"),
        );
    }
    for (name, value) in [
        (TOKEN_HEADER, relay.token.as_str()),
        (VERSION_HEADER, version),
        (REQUEST_ID_HEADER, request_id.as_str()),
    ] {
        if let Ok(value) = reqwest::header::HeaderValue::from_str(value) {
            outgoing.insert(name, value);
        }
    }
    let Ok(method) = reqwest::Method::from_bytes(req.method().as_str().as_bytes()) else {
        return pages::error(
            req,
            StatusCode::BAD_REQUEST,
            "Bad Request",
            "Unknown method.",
        );
    };
    let mut payload = Some(payload);
    let safe = matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
    // HTTP/2 can't tell a body is absent before reading it; a GET, HEAD or OPTIONS is
    // relayed without one unless it says it has one (Content-Length, Transfer-Encoding).
    let declared = req.headers().contains_key("transfer-encoding")
        || req
            .headers()
            .get("content-length")
            .is_some_and(|v| v.as_bytes() != b"0");
    let streams_body = !upgrade && if safe { declared } else { proxy::has_body(req) };
    let limit = state.response_timeout + RELAY_SLACK;
    // A request without a body can go to the next pod when one can't be connected to (a
    // pod that just died is still listed until its report expires), and a GET, HEAD or
    // OPTIONS whatever went wrong before an answer; a body can be sent once only.
    let attempts = if streams_body { 1 } else { targets.len() };
    let mut last_error = None;
    let mut answered = None;
    for target in targets.iter().take(attempts) {
        let url = match crate::relay_url::build(target, path) {
            Ok(url) => url,
            Err(err) => {
                info!(log, "relay URL refused"; "to" => target.to_string(), "error" => %err);
                continue;
            }
        };
        let mut request = relay
            .client
            .request(method.clone(), url)
            .headers(outgoing.clone());
        if streams_body && let Some(body) = payload.take() {
            request = request.body(reqwest::Body::wrap_stream(pump(body)));
        }
        match tokio::time::timeout(limit, request.send()).await {
            Ok(Ok(response)) => {
                answered = Some(response);
                break;
            }
            Ok(Err(err)) => {
                info!(log, "relay to another pod failed"; "to" => target.to_string(),
                    "error" => %err);
                let retry = never_reached(&err) || safe;
                last_error = Some(err);
                if !retry {
                    break;
                }
            }
            Err(_) => {
                info!(log, "relay to another pod timed out"; "to" => target.to_string(),
                    "after_ms" => limit.as_millis() as u64);
                return pages::error(
                    req,
                    StatusCode::GATEWAY_TIMEOUT,
                    "Gateway Timeout",
                    &format!("The agent for {host} didn't answer within {limit:?}."),
                );
            }
        }
    }
    let Some(response) = answered else {
        let why = last_error.map_or_else(String::new, |e| e.to_string());
        info!(log, "no pod holding the session could be reached"; "error" => why);
        return pages::error(
            req,
            StatusCode::BAD_GATEWAY,
            "Bad Gateway",
            &format!(
                "The gateway pod holding the agent's session for {host} could not be reached."
            ),
        );
    };
    if upgrade
        && response.status() == reqwest::StatusCode::SWITCHING_PROTOCOLS
        && let Some(payload) = payload
    {
        return switched(req, response, payload, guard, &log).await;
    }
    let mut answer = respond(req, response, guard);
    if upgrade {
        // Declined: the visitor's connection was handed over for a switch; close it.
        answer
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    answer
}

/// The other pod switched protocols: the visitor's bytes go to it and its bytes come back
/// until either side closes.
async fn switched(
    req: &HttpRequest,
    response: reqwest::Response,
    mut payload: web::Payload,
    guard: InFlight,
    log: &slog::Logger,
) -> HttpResponse {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let protocol = response
        .headers()
        .get(reqwest::header::UPGRADE)
        .and_then(|v| actix_web::http::header::HeaderValue::from_bytes(v.as_bytes()).ok())
        .unwrap_or(actix_web::http::header::HeaderValue::from_static(
            "websocket",
        ));
    let mut out = HttpResponse::build(StatusCode::SWITCHING_PROTOCOLS);
    for (name, value) in response.headers() {
        if !crate::headers::is_hop_by_hop(name.as_str(), &[]) {
            out.append_header((name.as_str(), value.as_bytes()));
        }
    }
    out.upgrade(protocol);
    let upgraded = match response.upgrade().await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            info!(log, "relayed upgrade failed"; "error" => %err);
            return pages::error(
                req,
                StatusCode::BAD_GATEWAY,
                "Bad Gateway",
                "The connection to the gateway pod holding the agent's session broke.",
            );
        }
    };
    let (from_peer, mut to_peer) = tokio::io::split(upgraded);
    actix_web::rt::spawn(async move {
        while let Some(Ok(chunk)) = payload.next().await {
            if to_peer.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to_peer.shutdown().await;
    });
    // The guard rides along: the relay counts as in flight until the pipe closes.
    let body = futures_util::stream::unfold(
        Some((from_peer, bytes::BytesMut::new(), guard)),
        |state| async move {
            let (mut from_peer, mut buf, guard) = state?;
            buf.reserve(16 * 1024);
            match from_peer.read_buf(&mut buf).await {
                Ok(0) => None,
                Ok(_) => Some((Ok(buf.split().freeze()), Some((from_peer, buf, guard)))),
                Err(err) => Some((Err(err), None)),
            }
        },
    );
    out.streaming(body)
}

/// Whether the request certainly never reached the other pod (no connection).
fn never_reached(err: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            return true;
        }
        source = e.source();
    }
    err.is_connect()
}

/// The visitor's body as a `Send` stream for the HTTP client: a task on this worker reads
/// it and hands the chunks over a small channel (back-pressure: at most 4 chunks queued).
fn pump(
    mut payload: web::Payload,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    actix_web::rt::spawn(async move {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                return;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item, rx))
    })
}

/// The other pod's answer, streamed to the visitor.
fn respond(req: &HttpRequest, response: reqwest::Response, guard: InFlight) -> HttpResponse {
    let status =
        StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut out = HttpResponse::build(status);
    let connection_names: Vec<String> = response
        .headers()
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let mut length = None;
    for (name, value) in response.headers() {
        let name = name.as_str();
        if crate::headers::is_hop_by_hop(name, &connection_names) {
            continue;
        }
        if name == "content-length" {
            length = value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            continue;
        }
        out.append_header((name, value.as_bytes()));
    }
    if let Some(length) = length {
        out.no_chunking(length);
    }
    let no_body = *req.method() == actix_web::http::Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    if no_body {
        drop(guard);
        if length.is_some() {
            let nothing = futures_util::stream::empty::<Result<Bytes, std::io::Error>>();
            return out.streaming(nothing);
        }
        return out.finish();
    }
    let body = response.bytes_stream().map(move |chunk| {
        let _held = &guard;
        chunk.map_err(|e| std::io::Error::other(format!("relayed body: {e}")))
    });
    out.streaming(body)
}
