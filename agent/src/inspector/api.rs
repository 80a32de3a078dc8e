//! The inspector's routes, after [`guard`](super::guard) let the request in:
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /` | the page ([`page`](super::page)) |
//! | `GET /api/exchanges` | every exchange kept, newest first (summaries) |
//! | `GET /api/exchanges/{id}` | one exchange: heads, bodies |
//! | `POST /api/exchanges/{id}/replay` | sends it again, with optional edits ([`replay`](super::replay)); the new exchange |
//! | `GET /api/events?after={id}` | server-sent events: each exchange stored after `after` ([`events`](super::events)) |
//!
//! `?secrets=1` shows the masked headers. Errors are JSON:
//! `{"error": {"code": "...", "message": "..."}}`.

use std::{collections::HashMap, convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::UnsyncBoxBody};
use hyper::body::Incoming;
use serde::Serialize;

use super::{
    capture::Exchange,
    events,
    metrics::Refusal,
    page,
    replay::{self, Edits, ReplayError},
    store::Store,
    view::{Detail, Summary},
};
use crate::forward::Forwarder;

/// Every answer's body: whole, or the event stream.
pub(super) type Reply = UnsyncBoxBody<Bytes, Infallible>;

/// What the routes need.
pub(super) struct App {
    pub(super) store: Arc<Store>,
    /// The tunnels' forwarders by domain, for replays.
    pub(super) forwarders: HashMap<String, Arc<Forwarder>>,
    /// The listener's address (for the Host check).
    pub(super) local_addr: SocketAddr,
    /// The largest request body read.
    pub(super) max_request_bytes: usize,
}

/// Answers one request.
pub(super) async fn answer(request: Request<Incoming>, app: &App) -> Response<Reply> {
    let secrets = query(&request, "secrets").is_some_and(|v| v == "1" || v == "true");
    let path = request.uri().path().to_owned();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    match (&method, parts.as_slice()) {
        (&Method::GET, [""]) => page::answer(),
        (&Method::GET, ["api", "exchanges"]) => {
            let all = app.store.newest_first();
            json(
                StatusCode::OK,
                &all.iter().map(|e| Summary::of(e)).collect::<Vec<_>>(),
            )
        }
        (&Method::GET, ["api", "exchanges", id]) => match find(app, id) {
            Ok(exchange) => json(StatusCode::OK, &Detail::of(&exchange, secrets)),
            Err(err) => err.reply(),
        },
        (&Method::POST, ["api", "exchanges", id, "replay"]) => {
            let id = (*id).to_owned();
            replay(request, app, &id)
                .await
                .unwrap_or_else(|err| err.reply())
        }
        (&Method::GET, ["api", "events"]) => {
            // A reconnecting EventSource says where it was.
            let resumed = request.headers().get("last-event-id");
            let after = resumed
                .and_then(|v| v.to_str().ok()?.parse().ok())
                .or_else(|| query(&request, "after")?.parse().ok());
            events::answer(app.store.clone(), after)
        }
        (_, [""] | ["api", ..]) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            &format!("{method} is not served here"),
        ),
        _ => error(StatusCode::NOT_FOUND, "not_found", "no such page"),
    }
}

/// Why an API request failed.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("an exchange id is a number")]
    BadId,
    #[error("exchange {0} is not kept (evicted, or never was)")]
    NotFound(u64),
    #[error(
        "the request body must be at most {limit} bytes, sent within {} s",
        replay::BODY_READ_TIMEOUT.as_secs()
    )]
    TooLarge { limit: usize },
    #[error("the edits are not valid: {0}")]
    BadEdits(#[source] serde_json::Error),
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

impl ApiError {
    fn reply(&self) -> Response<Reply> {
        let (status, code) = match self {
            Self::BadId => (StatusCode::BAD_REQUEST, "bad_id"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Self::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            Self::BadEdits(_) => (StatusCode::BAD_REQUEST, "bad_edits"),
            Self::Replay(err) => (err.status(), err.code()),
        };
        error(status, code, &self.to_string())
    }
}

/// The exchange named by `id`.
fn find(app: &App, id: &str) -> Result<Arc<Exchange>, ApiError> {
    let id = id.parse::<u64>().map_err(|_| ApiError::BadId)?;
    app.store.get(id).ok_or(ApiError::NotFound(id))
}

/// Replays exchange `id` with the request's edits; the new exchange's summary.
async fn replay(
    request: Request<Incoming>,
    app: &App,
    id: &str,
) -> Result<Response<Reply>, ApiError> {
    let exchange = find(app, id)?;
    let edits = read_edits(request, app.max_request_bytes, &app.store).await?;
    let id = replay::run(app, &exchange, edits).await?;
    Ok(match app.store.get(id) {
        Some(new) => json(StatusCode::OK, &Summary::of(&new)),
        // Evicted at once: larger than the whole budget.
        None => json(StatusCode::OK, &serde_json::json!({ "id": id })),
    })
}

/// The replay's edits: none for an empty body, else JSON, at most `limit` bytes, within
/// [`replay::BODY_READ_TIMEOUT`].
async fn read_edits(
    request: Request<Incoming>,
    limit: usize,
    store: &Store,
) -> Result<Edits, ApiError> {
    let limited = http_body_util::Limited::new(request.into_body(), limit);
    let body = match tokio::time::timeout(replay::BODY_READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) | Err(_) => {
            store.metrics().refused(Refusal::TooLarge);
            return Err(ApiError::TooLarge { limit });
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Edits::default());
    }
    serde_json::from_slice(&body).map_err(ApiError::BadEdits)
}

/// The value of `name` in the query string.
fn query<B>(request: &Request<B>, name: &str) -> Option<String> {
    request.uri().query()?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then(|| value.to_owned())
    })
}

/// A whole body with `content_type`, and the headers every answer carries.
pub(super) fn whole(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Reply> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(value) = content_type.parse() {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    response
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Reply> {
    match serde_json::to_vec(value) {
        Ok(body) => whole(status, "application/json", body),
        Err(err) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &err.to_string(),
        ),
    }
}

/// `{"error": {"code", "message"}}`.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response<Reply> {
    let body = serde_json::json!({ "error": { "code": code, "message": message } });
    whole(status, "application/json", body.to_string())
}
