//! `POST /api/exchanges/{id}/replay`: a stored request sent again, as it was or with
//! [`Edits`], through the tunnel's own [`Forwarder::call_local`] (the same head handling,
//! `Host` rewrite, local protocol and timeout as a visitor's request; the gateway's access
//! checks are the gateway's and don't apply). The answer is captured as a new exchange
//! marked `replay_of`, its body teed and counted as it is read, never held whole.
//!
//! A request whose body was not kept whole can't be sent again as it was: that is refused
//! unless the edits give a body. So is a protocol switch (WebSocket).

use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hopgate_protocol::{Header, RequestHead};
use http::{HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;

use super::{
    api::App,
    capture::{Capture, Exchange},
    view::{MASK, is_secret},
};
use crate::{forward::Forwarder, headers};

/// How long a replay's edits may take to arrive.
pub(super) const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a replay's answer body is read (and counted) before the replay stops reading
/// it: an endless stream (server-sent events) ends the replay here.
const ANSWER_READ_LIMIT: Duration = Duration::from_secs(30);

/// What to change before sending again; every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Edits {
    method: Option<String>,
    /// Path and query, from `/`.
    path: Option<String>,
    /// Every header, in order, replacing the captured ones.
    headers: Option<Vec<(String, String)>>,
    /// The body as text.
    body: Option<String>,
    /// The body as base64 (binary).
    body_base64: Option<String>,
}

/// Why a replay was not sent.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReplayError {
    #[error(
        "the request body was not kept whole ({0} bytes not kept); replay it with an edited body"
    )]
    Truncated(u64),
    #[error("a protocol switch (WebSocket) can't be replayed")]
    Upgrade,
    #[error("the edits are not valid: {0}")]
    BadEdits(String),
    #[error("no tunnel serves {0}")]
    NoTunnel(String),
}

impl ReplayError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            Self::BadEdits(_) => StatusCode::BAD_REQUEST,
            Self::Truncated(_) | Self::Upgrade | Self::NoTunnel(_) => StatusCode::CONFLICT,
        }
    }

    pub(super) fn code(&self) -> &'static str {
        match self {
            Self::Truncated(_) => "body_truncated",
            Self::Upgrade => "upgrade",
            Self::BadEdits(_) => "bad_edits",
            Self::NoTunnel(_) => "no_tunnel",
        }
    }
}

/// Sends `original` again with `edits`; the new exchange's id (also when the local
/// service failed it: the failure is captured).
pub(super) async fn run(app: &App, original: &Exchange, edits: Edits) -> Result<u64, ReplayError> {
    let forwarder = app
        .forwarders
        .get(&*original.domain)
        .ok_or_else(|| ReplayError::NoTunnel(original.domain.to_string()))?;
    let (head, body) = edited(original, edits)?;
    if headers::wants_upgrade(&head.headers).is_some() {
        return Err(ReplayError::Upgrade);
    }
    app.store.metrics().replays.inc();
    let mut capture =
        Capture::new(app.store.clone(), original.domain.clone()).replay_of(original.id);
    if let Some(body) = &body {
        capture.taps().0.tee(body);
    }
    let outcome = send(forwarder, &head, body, &mut capture).await;
    Ok(capture.finish(head, outcome))
}

/// Calls the local service and captures the answer as it is read.
async fn send(
    forwarder: &Forwarder,
    head: &RequestHead,
    body: Option<Bytes>,
    capture: &mut Capture,
) -> Result<u16, String> {
    let response = forwarder
        .call_local(head, body)
        .await
        .map_err(|err| err.to_string())?;
    let status = response.status().as_u16();
    let tap = capture.taps().1;
    tap.head(status, &headers::from_header_map(response.headers()));
    let mut answer = response.into_body();
    let read = tokio::time::timeout(ANSWER_READ_LIMIT, async {
        while let Some(frame) = answer.frame().await {
            let frame = frame.map_err(|err| format!("the answer's body failed: {err}"))?;
            if let Some(data) = frame.data_ref() {
                tap.body.tee(data);
            }
        }
        Ok(())
    });
    match read.await {
        Ok(Ok(())) => Ok(status),
        Ok(Err(err)) => Err(err),
        Err(_) => Err(format!(
            "stopped reading the answer after {} s",
            ANSWER_READ_LIMIT.as_secs()
        )),
    }
}

/// The edited headers, checked; a secret header's masked value (`***`, as the page shows
/// it) stands for the captured value of the same occurrence of that name.
fn edited_headers(
    captured: &[Header],
    edited: Vec<(String, String)>,
) -> Result<Vec<Header>, ReplayError> {
    let mut seen: Vec<String> = Vec::new();
    edited
        .into_iter()
        .map(|(name, value)| {
            let name = name.trim().to_owned();
            HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ReplayError::BadEdits(format!("{name:?} is not a header name")))?;
            let nth = seen
                .iter()
                .filter(|n| n.eq_ignore_ascii_case(&name))
                .count();
            seen.push(name.clone());
            if value.trim() == MASK && is_secret(&name) {
                let kept = captured
                    .iter()
                    .filter(|h| h.name.eq_ignore_ascii_case(&name))
                    .nth(nth);
                if let Some(kept) = kept {
                    return Ok(Header::new(name, kept.value.clone()));
                }
            }
            HeaderValue::from_str(value.trim()).map_err(|_| {
                ReplayError::BadEdits(format!("the value of {name} is not a header value"))
            })?;
            Ok(Header::new(name, value.trim().to_owned()))
        })
        .collect()
}

/// The request to send: the original's head with the edits applied, and its body.
fn edited(original: &Exchange, edits: Edits) -> Result<(RequestHead, Option<Bytes>), ReplayError> {
    let bad = |why: String| ReplayError::BadEdits(why);
    let mut head = original.request.clone();
    head.request_id = format!("replay-of-{}", original.id);
    if let Some(method) = edits.method {
        Method::from_bytes(method.trim().as_bytes())
            .map_err(|_| bad(format!("{method:?} is not a method")))?;
        head.method = method.trim().to_owned();
    }
    if let Some(path) = edits.path {
        if !path.starts_with('/') || path.contains(char::is_whitespace) {
            return Err(bad(format!("{path:?} is not a path from /")));
        }
        head.uri = path;
    }
    if let Some(edited) = edits.headers {
        head.headers = edited_headers(&original.request.headers, edited)?;
    }
    // The length is the body's, whatever it is now.
    head.headers.retain(|h| {
        !h.name.eq_ignore_ascii_case("content-length")
            && !h.name.eq_ignore_ascii_case("transfer-encoding")
    });
    let body = match (edits.body_base64, edits.body) {
        (Some(_), Some(_)) => return Err(bad("give body or body_base64, not both".into())),
        (Some(encoded), None) => Some(Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|err| bad(format!("body_base64: {err}")))?,
        )),
        (None, Some(text)) => Some(Bytes::from(text)),
        (None, None) if original.request_body.missing() > 0 => {
            return Err(ReplayError::Truncated(original.request_body.missing()));
        }
        (None, None) if original.request_body.total() == 0 => None,
        (None, None) => Some(Bytes::copy_from_slice(original.request_body.kept())),
    };
    Ok((head, body))
}
