//! The visitor-facing handler: checks the request's target and host, then the domain's
//! access policy (`access`), finds its upstream (the
//! agent's session here or the pods that hold it), takes a place under the per-domain and
//! per-client caps (`limits`; over a cap: a fast 503) and hands the request to
//! [`upstream::forward`]. Every answer is counted in the metrics when its body ends
//! ([`Record`], held by the body), so the duration covers the whole exchange, and the
//! request's place under the caps is given back then too.

use std::{sync::Arc, time::Instant};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{Method, StatusCode},
    web,
};
use slog::debug;

use crate::{
    edge::{access, connection::VisitorConnection},
    http::{
        guarded_body::{self, Guarded},
        headers,
        limits::Permit,
        pages, refusals, request,
    },
    ops::metrics::{DomainClass, Metrics},
    upstream::{self, AppState, NotLive, Upstream},
};

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

/// Routes one visitor request to its upstream, or answers 404/502; `class` learns what kind
/// of host it was for, `permit` the request's place under the caps (held until the answer
/// ends).
async fn visit(
    req: HttpRequest,
    payload: web::Payload,
    state: &AppState,
    class: &mut DomainClass,
    permit: &mut Option<Permit>,
) -> HttpResponse {
    if let Err(page) = refusals::origin_form(&req, &state.metrics) {
        return *page;
    }
    let requested = crate::host::requested(&req);
    let host = match visited_host(&req, requested, state) {
        Ok(host) => host,
        Err(page) => return *page,
    };
    // Before the upstream is looked up: whether the agent is connected is nobody else's
    // business.
    let granted = match access::check(&req, &host, state) {
        Ok(granted) => granted,
        Err(page) => {
            *class = DomainClass::Tunnel;
            return *page;
        }
    };
    let upgrade = request::websocket_upgrade(&req);
    // What the agent gets: computed here, on the pod the visitor reached, even when another
    // pod serves the request.
    let headers = headers::request_headers(
        &req,
        requested,
        upgrade.as_ref(),
        granted.drops_authorization,
    );
    let upstream = Upstream::for_visitor(&state.table, &host);
    *class = classify(&upstream, &host, &state.main_domain);
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(not_live) => return not_live.page(&req, &host),
    };
    let client = req.peer_addr().map(|peer| peer.ip());
    match state.caps.admit(client, &host) {
        Ok(admitted) => *permit = Some(admitted),
        Err(busy) => {
            return refusals::busy_page(&req, &state.metrics, &state.log, &host, busy);
        }
    }
    let version = request::visitor_version(&req);
    let head = request::head(&req, request::new_request_id(), version, headers);
    upstream::forward(&req, payload, state, upstream, &host, head).await
}

/// What kind of host a request was for, for the metrics.
fn classify(upstream: &Result<Upstream, NotLive>, host: &str, main_domain: &str) -> DomainClass {
    match upstream {
        Err(NotLive::Unknown) if host == main_domain => DomainClass::Gateway,
        Err(NotLive::Unknown) => DomainClass::Unknown,
        _ => DomainClass::Tunnel,
    }
}

/// The host a visitor's request is for (`requested`: its Host or `:authority`), normalized
/// for routing; a 400 page for a malformed one, a 421 page for one the connection wasn't
/// made for (see `sni`).
fn visited_host(
    req: &HttpRequest,
    requested: &str,
    state: &AppState,
) -> Result<String, Box<HttpResponse>> {
    let host = refusals::routable_host(req, requested)
        .inspect_err(|_| state.metrics.rejected("bad_host"))?;
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
