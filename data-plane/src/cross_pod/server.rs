//! The relay listener (`HOP_SERVER_RELAY_LISTEN`): requests that other pods relay here
//! because the agent's session for their domain lives on this pod. HTTP/1.1 inside the
//! cluster (HTTPS with `HOP_RELAY_TLS_CERT`, see `tls`), authenticated with the
//! pods' own `HOP_RELAY_TOKEN` in [`TOKEN_HEADER`] (compared in constant time;
//! `Authorization` belongs to the visitor). The control-plane's internal token opens
//! nothing here: the control-plane never holds the relay token.
//!
//! The relaying pod has already computed what the agent gets: the visitor's headers with
//! `X-Forwarded-*`/`Forwarded` and the visitor's `Host`. They are passed on as they
//! arrive (hop-by-hop headers and this module's own headers removed), and the request is
//! served from a local session only: a relayed request is never relayed again (no local
//! session → 502 "agent offline"). The relaying pod enforced the per-client cap; this pod,
//! which owns the session's streams, counts the request under the per-domain cap.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use bytes::Bytes;
use hopgate_protocol::{Header, HttpVersion, header_name};
use subtle::ConstantTimeEq;

use crate::{
    cross_pod::{REQUEST_ID_HEADER, TOKEN_HEADER, VERSION_HEADER},
    http::{headers, limits, pages, refusals, request},
    upstream::{self, AppState, Upstream},
};

/// The token relayed requests must carry (`HOP_RELAY_TOKEN`, never empty).
pub(crate) struct RelayToken(pub(crate) String);

impl RelayToken {
    /// Whether `presented` is the token, in constant time.
    fn admits(&self, presented: &[u8]) -> bool {
        !self.0.is_empty() && bool::from(presented.ct_eq(self.0.as_bytes()))
    }
}

pub(crate) async fn handle(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    token: web::Data<RelayToken>,
) -> HttpResponse {
    let presented = req
        .headers()
        .get(TOKEN_HEADER)
        .map_or(&b""[..], |v| v.as_bytes());
    if !token.admits(presented) {
        state.metrics.rejected("relay_token");
        return pages::error(
            &req,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Relayed requests need the relay token.",
        );
    }
    if let Err(page) = refusals::origin_form(&req, &state.metrics) {
        return *page;
    }
    let raw_host = req
        .headers()
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let host = match refusals::routable_host(&req, raw_host) {
        Ok(host) => host,
        Err(page) => return *page,
    };
    let upstream = match Upstream::for_relayed(&state.table, &host) {
        Ok(upstream) => upstream,
        Err(not_live) => return not_live.page(&req, &host),
    };
    let permit = match state.caps.admit_relayed(&host) {
        Ok(permit) => permit,
        Err(busy) => {
            return refusals::busy_page(&req, &state.metrics, &state.log, &host, busy);
        }
    };
    let version = req
        .headers()
        .get(VERSION_HEADER)
        .and_then(|v| HttpVersion::from_number(v.as_bytes()))
        .unwrap_or(HttpVersion::Http11);
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map_or_else(request::new_request_id, str::to_owned);
    let head = request::head(&req, request_id, version, relayed_headers(&req));
    let response = upstream::forward(&req, payload, &state, upstream, &host, head).await;
    limits::hold(response, permit)
}

/// The relayed request's headers as the agent gets them: as the first pod computed them,
/// minus hop-by-hop headers (but `te: trailers`) and this module's own; a WebSocket upgrade
/// as one `upgrade`.
fn relayed_headers(req: &HttpRequest) -> Vec<Header> {
    let connection_names = headers::named_in_connection(req.headers());
    let mut out: Vec<Header> = req
        .headers()
        .iter()
        .filter(|(name, _)| {
            let name = name.as_str();
            !headers::is_hop_by_hop(name, &connection_names)
                && !matches!(name, TOKEN_HEADER | VERSION_HEADER | REQUEST_ID_HEADER)
        })
        .map(|(name, value)| {
            Header::new(
                header_name(name.as_str()),
                Bytes::copy_from_slice(value.as_bytes()),
            )
        })
        .collect();
    if let Some(protocol) = request::websocket_upgrade(req) {
        out.push(Header::new(
            "upgrade",
            Bytes::copy_from_slice(protocol.as_bytes()),
        ));
    }
    out.extend(headers::te_trailers(req.headers()));
    out
}
