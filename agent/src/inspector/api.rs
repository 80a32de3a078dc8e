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
    events, page,
    replay::{self, Edits},
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
            Err(err) => err,
        },
        (&Method::POST, ["api", "exchanges", id, "replay"]) => {
            let exchange = match find(app, id) {
                Ok(exchange) => exchange,
                Err(err) => return err,
            };
            let edits = match read_edits(request, app.max_request_bytes, &app.store).await {
                Ok(edits) => edits,
                Err(err) => return err,
            };
            match replay::run(app, &exchange, edits).await {
                Ok(id) => match app.store.get(id) {
                    Some(new) => json(StatusCode::OK, &Summary::of(&new)),
                    None => json(StatusCode::OK, &serde_json::json!({ "id": id })),
                },
                Err(err) => error(err.status(), err.code(), &err.to_string()),
            }
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

/// The exchange named by `id`, or the error to answer.
#[allow(clippy::result_large_err)]
fn find(app: &App, id: &str) -> Result<Arc<super::capture::Exchange>, Response<Reply>> {
    let Ok(id) = id.parse::<u64>() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "bad_id",
            "an exchange id is a number",
        ));
    };
    app.store.get(id).ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("exchange {id} is not kept (evicted, or never was)"),
        )
    })
}

/// The replay's edits: none for an empty body, else JSON, at most `limit` bytes, within
/// [`replay::BODY_READ_TIMEOUT`].
#[allow(clippy::result_large_err)]
async fn read_edits(
    request: Request<Incoming>,
    limit: usize,
    store: &Store,
) -> Result<Edits, Response<Reply>> {
    let too_large = || {
        store.metrics().refused(super::metrics::Refusal::TooLarge);
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            &format!(
                "the request body must be at most {limit} bytes, sent within {} s",
                replay::BODY_READ_TIMEOUT.as_secs()
            ),
        )
    };
    let limited = http_body_util::Limited::new(request.into_body(), limit);
    let body = match tokio::time::timeout(replay::BODY_READ_TIMEOUT, limited.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) | Err(_) => return Err(too_large()),
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Edits::default());
    }
    serde_json::from_slice(&body).map_err(|err| {
        error(
            StatusCode::BAD_REQUEST,
            "bad_edits",
            &format!("the edits are not valid: {err}"),
        )
    })
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
