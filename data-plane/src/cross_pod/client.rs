//! Cross-pod routing, the relaying side: a visitor's request for a domain whose agent
//! session lives on another pod goes to that pod's relay listener (see `server`) over
//! HTTP/1.1 with keep-alive (one connection pool per worker thread), bodies streamed both
//! ways with back-pressure. The client is hyper's, told to accept as many header fields
//! as a head within the size limits can hold (HTTP clients default to 100). The headers are the ones this pod computed for the agent
//! (`X-Forwarded-*`, `Forwarded`, the visitor's `Host`), so the agent sees the same request
//! whichever pod the visitor reached. A WebSocket upgrade is relayed as an HTTP/1.1
//! upgrade too: on the other pod's `101` both connections become one raw byte pipe. The
//! other pod's answer ends with the agent's trailer fields after its last chunk (HTTP/1.1
//! chunked trailers); a request's trailer fields are not relayed (an HTTP/1.1 client sends
//! only those it announced in its head, and a visitor's are known only at its body's end).
//!
//! The other pod's answer becomes an [`Answer`] like the agent's session's, and the
//! visitor's response is built from it by the one response builder of the upstream.

use std::{sync::atomic::Ordering, time::Duration};

use actix_web::{HttpRequest, web};
use bytes::Bytes;
use futures_util::StreamExt;
use hopgate_protocol::{Header, RequestHead, ResponseHead, header_name};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use http_body_util::{BodyExt, Empty, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo, TokioTimer},
};
use slog::{Logger, info, o};

use crate::{
    cross_pod::{REQUEST_ID_HEADER, TOKEN_HEADER, VERSION_HEADER, url},
    http::request,
    ops::in_flight::InFlightGuard,
    tunnel::routing::RelayTargets,
    upstream::{Answer, AppState, BodyItem, Failure},
};

/// How much longer than `HOP_SERVER_RESPONSE_TIMEOUT` the relaying pod waits for the
/// other pod's answer (which enforces that timeout itself and answers 504).
const RELAY_SLACK: Duration = Duration::from_secs(5);

/// Header fields a relayed answer's head may hold: far more than a head within the
/// agent's size limit can carry, so the size limit is the one that counts.
const MAX_ANSWER_FIELDS: usize = 8_192;

/// A relayed request's body as the HTTP client sends it.
type RelayBody = BoxBody<Bytes, std::io::Error>;
type HttpClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, RelayBody>;

/// One worker thread's client for relayed requests.
pub(crate) struct RelayClient {
    client: HttpClient,
    token: String,
}

impl RelayClient {
    /// A client sending `token` (`HOP_RELAY_TOKEN`); with `tls` (see `tls`), it
    /// relays over HTTPS only. Pods talk to each other directly: no proxy from the
    /// environment sees the visitors' requests or the relay secret, and no redirect is
    /// followed.
    pub(crate) fn new(
        token: &str,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Self, rustls::Error> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(Duration::from_secs(3)));
        tcp.enforce_http(false);
        let connector = match tls {
            Some(tls) => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_only()
                .enable_http1()
                .wrap_connector(tcp),
            None => hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(plain_only()?)
                .https_or_http()
                .enable_http1()
                .wrap_connector(tcp),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_timer(TokioTimer::new())
            .http1_max_headers(MAX_ANSWER_FIELDS)
            .build(connector);
        Ok(Self {
            client,
            token: token.to_owned(),
        })
    }
}

/// The TLS settings of a client that relays over plain HTTP (no relay TLS configured):
/// `url::build` only ever names the pods' `http://` relay URLs then, so this is never
/// used for a handshake; it trusts nothing, so an `https://` URL could not connect.
fn plain_only() -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth())
}

/// Relays the visitor's request (`head`, computed on this pod, and its body) to the first
/// of `targets` that can be reached. `upgrade`: the visitor asked for a WebSocket switch.
pub(crate) async fn exchange(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
    targets: &RelayTargets,
    host: &str,
    head: RequestHead,
    upgrade: bool,
) -> Result<Answer, Failure> {
    let Some(relay) = req.app_data::<web::Data<RelayClient>>() else {
        return Err(Failure::NoRelayClient {
            host: host.to_owned(),
        });
    };
    let log = state.log.new(o!("domain" => host.to_owned(),
        "request_id" => head.request_id.clone()));
    // In flight (a drain waits for it) until its answer has been sent.
    let guard = state.in_flight.enter();
    state.relayed.fetch_add(1, Ordering::Relaxed);
    let headers = outgoing_headers(&head, &relay.token, upgrade);
    let method = Method::from_bytes(head.method.as_bytes()).map_err(|_| Failure::UnknownMethod)?;
    let safe = matches!(head.method.as_str(), "GET" | "HEAD" | "OPTIONS");
    let outgoing = Outgoing {
        client: &relay.client,
        method,
        headers,
        path: &head.uri,
        safe,
        streams_body: !upgrade && streams_body(req, safe),
        limit: state.response_timeout + RELAY_SLACK,
        host,
        log: &log,
    };
    let mut payload = Some(payload);
    let response = outgoing.send(targets, &mut payload).await?;
    if upgrade
        && response.status() == http::StatusCode::SWITCHING_PROTOCOLS
        && let Some(payload) = payload
    {
        return switched(response, payload, guard, &log).await;
    }
    Ok(answer(response, guard))
}

/// Whether the visitor's body goes along with a request that doesn't switch protocols.
/// HTTP/2 can't tell a body is absent before reading it; a GET, HEAD or OPTIONS (`safe`)
/// is relayed without one unless it says it has one (Content-Length, Transfer-Encoding).
fn streams_body(req: &HttpRequest, safe: bool) -> bool {
    if !safe {
        return request::has_body(req);
    }
    req.headers().contains_key("transfer-encoding")
        || req
            .headers()
            .get("content-length")
            .is_some_and(|v| v.as_bytes() != b"0")
}

/// The headers of the relayed request: the ones this pod computed for the agent, the
/// switch it asks for, and the relay's own (token, visitor's version, request id).
fn outgoing_headers(head: &RequestHead, token: &str, upgrade: bool) -> HeaderMap {
    let mut outgoing = HeaderMap::with_capacity(head.headers.len() + 3);
    for header in &head.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(header.name.as_bytes()),
            HeaderValue::from_bytes(&header.value),
        ) else {
            continue;
        };
        outgoing.append(name, value);
    }
    let version = head.version.number();
    if upgrade {
        outgoing.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    for (name, value) in [
        (TOKEN_HEADER, token),
        (VERSION_HEADER, version),
        (REQUEST_ID_HEADER, head.request_id.as_str()),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            outgoing.insert(name, value);
        }
    }
    outgoing
}

/// A relayed request, ready to go to one pod after another.
struct Outgoing<'a> {
    client: &'a HttpClient,
    method: Method,
    headers: HeaderMap,
    /// The visitor's origin-form target.
    path: &'a str,
    /// A GET, HEAD or OPTIONS.
    safe: bool,
    /// The visitor's body goes along.
    streams_body: bool,
    /// How long the other pod may take to answer.
    limit: Duration,
    host: &'a str,
    log: &'a Logger,
}

impl Outgoing<'_> {
    /// Sends the request to the first of `targets` that answers. A request without a body
    /// can go to the next pod when one can't be connected to (a pod that just died is still
    /// listed until its report expires), and a GET, HEAD or OPTIONS whatever went wrong
    /// before an answer; a body can be sent once only.
    async fn send(
        &self,
        targets: &RelayTargets,
        payload: &mut Option<web::Payload>,
    ) -> Result<http::Response<Incoming>, Failure> {
        let log = self.log;
        let attempts = if self.streams_body { 1 } else { targets.len() };
        let mut last_error = None;
        for target in targets.iter().take(attempts) {
            let uri = match url::build(target, self.path) {
                Ok(url) => url.as_str().parse::<Uri>().map_err(|e| e.to_string()),
                Err(err) => Err(err.to_string()),
            };
            let uri = match uri {
                Ok(uri) => uri,
                Err(err) => {
                    info!(log, "relay URL refused"; "to" => target.to_string(), "error" => err);
                    continue;
                }
            };
            let body = match self.streams_body.then(|| payload.take()).flatten() {
                Some(body) => streamed(body),
                None => Empty::new().map_err(|never| match never {}).boxed(),
            };
            let mut request = http::Request::new(body);
            *request.method_mut() = self.method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = self.headers.clone();
            match tokio::time::timeout(self.limit, self.client.request(request)).await {
                Ok(Ok(response)) => return Ok(response),
                Ok(Err(err)) => {
                    info!(log, "relay to another pod failed"; "to" => target.to_string(),
                        "error" => %err);
                    let retry = never_reached(&err) || self.safe;
                    last_error = Some(err);
                    if !retry {
                        break;
                    }
                }
                Err(_) => {
                    info!(log, "relay to another pod timed out"; "to" => target.to_string(),
                        "after_ms" => self.limit.as_millis() as u64);
                    return Err(Failure::PodTimeout {
                        host: self.host.to_owned(),
                        limit: self.limit,
                    });
                }
            }
        }
        let why = last_error.map_or_else(String::new, |e| e.to_string());
        info!(log, "no pod holding the session could be reached"; "error" => why);
        Err(Failure::PodsUnreachable {
            host: self.host.to_owned(),
        })
    }
}

/// The other pod switched protocols: the visitor's bytes go to it and its bytes come back
/// until either side closes.
async fn switched(
    response: http::Response<Incoming>,
    mut payload: web::Payload,
    guard: InFlightGuard,
    log: &Logger,
) -> Result<Answer, Failure> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let head = response_head(&response);
    let upgraded = hyper::upgrade::on(response).await.map_err(|err| {
        info!(log, "relayed upgrade failed"; "error" => %err);
        Failure::UpgradeBroke
    })?;
    let (from_peer, mut to_peer) = tokio::io::split(TokioIo::new(upgraded));
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
                Ok(_) => {
                    let data = BodyItem::Data(buf.split().freeze());
                    Some((Ok(data), Some((from_peer, buf, guard))))
                }
                Err(err) => Some((Err(err), None)),
            }
        },
    );
    Ok(Answer {
        head,
        body: Box::pin(body),
    })
}

/// Whether the request certainly never reached the other pod (no connection).
fn never_reached(err: &hyper_util::client::legacy::Error) -> bool {
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

/// The visitor's body as a `Send` body for the HTTP client: a task on this worker reads
/// it and hands the chunks over a small channel (back-pressure: at most 4 chunks queued).
fn streamed(mut payload: web::Payload) -> RelayBody {
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
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?;
        Some((item.map(Frame::data), rx))
    });
    BodyExt::boxed(StreamBody::new(frames))
}

/// The other pod's answer, its body (bytes, then trailer fields) streamed with the relay
/// counted in flight.
fn answer(response: http::Response<Incoming>, guard: InFlightGuard) -> Answer {
    let head = response_head(&response);
    let frames =
        futures_util::stream::unfold(Some((response.into_body(), guard)), |state| async move {
            let (mut body, guard) = state?;
            let item = match body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) => Ok(BodyItem::Data(data)),
                    Err(frame) => Ok(BodyItem::Trailers(
                        frame
                            .into_trailers()
                            .map(|map| fields(&map))
                            .unwrap_or_default(),
                    )),
                },
                Err(err) => Err(std::io::Error::other(format!("relayed body: {err}"))),
            };
            Some((item, Some((body, guard))))
        });
    Answer {
        head,
        body: Box::pin(frames),
    }
}

/// Header fields as the tunnel carries them.
fn fields(map: &HeaderMap) -> Vec<Header> {
    map.iter()
        .map(|(name, value)| {
            Header::new(
                header_name(name.as_str()),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect()
}

/// The other pod's status and headers, as the agent's answers carry them.
fn response_head(response: &http::Response<Incoming>) -> ResponseHead {
    ResponseHead {
        status: response.status().as_u16(),
        headers: fields(response.headers()),
    }
}
