//! The internal listener (`HOP_INTERNAL_LISTEN`) that data-plane pods talk to, separate
//! from the admin one. Every route needs `Authorization: Bearer <HOP_INTERNAL_TOKEN>`
//! (constant-time, → 401):
//!
//! - `GET /internal/v1/table?pod=POD&since=EPOCH:VERSION`: the table stream (`stream`);
//!   With `placement=1` the stream also carries where agents' sessions are (`pods`);
//!   only with `access=1` (the pod enforces them) does it carry restricted domains and
//!   their access policies.
//! - `POST /internal/v1/pods/{pod}/sessions`: the pod's session report, MessagePack or
//!   JSON `{"domains": [..], "relay_port": 8444, "relay_tls": true}` (`pods`). The relay
//!   URL is built from the connection's source address and the stated port; a pod id
//!   whose live report came from another address is refused (409).
//!
//! The listener serves HTTPS when `HOP_INTERNAL_TLS_CERT`/`_KEY` are set (see `tls`).

pub(crate) mod pods;
mod stream;

use std::{
    future::{Ready, ready},
    sync::Arc,
};

use actix_web::{
    App, FromRequest, HttpRequest, HttpResponse,
    dev::{Payload, ServiceFactory, ServiceRequest, ServiceResponse},
    http::{
        StatusCode,
        header::{AUTHORIZATION, CONTENT_TYPE},
    },
    web,
};
use hopgate_table::{
    MSGPACK_CONTENT_TYPE, ReportedSession, SessionReport, Since, TABLE_CONTENT_TYPE, valid_pod_id,
};
use serde::Deserialize;
use slog::{Logger, info, warn};

pub(crate) use self::pods::Pods;
use crate::{admin::ApiError, config::Secret, domain_name, hub::Hub, keys, metrics::Metrics};

/// The largest session report accepted.
pub(crate) const MAX_REPORT: usize = 8 * 1024 * 1024;

pub(crate) struct InternalState {
    pub(crate) hub: Arc<Hub>,
    pub(crate) pods: Arc<Pods>,
    pub(crate) token: Secret,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) log: Logger,
}

/// A caller holding the internal token.
struct Pod;

impl FromRequest for Pod {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let expected = req.app_data::<web::Data<InternalState>>();
        ready(match (presented, expected) {
            (Some(token), Some(state)) if keys::secrets_equal(token, state.token.expose()) => {
                Ok(Pod)
            }
            _ => Err(ApiError::unauthorized(
                "missing or wrong Authorization: Bearer <HOP_INTERNAL_TOKEN>",
            )),
        })
    }
}

pub(crate) fn app(
    state: web::Data<InternalState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let path = web::PathConfig::default()
        .error_handler(|err, _| ApiError::bad_request(format!("invalid path: {err}")).into());
    App::new()
        .app_data(state)
        .app_data(path)
        .app_data(web::PayloadConfig::new(MAX_REPORT))
        .route("/internal/v1/table", web::get().to(table))
        .route("/internal/v1/pods/{pod}/sessions", web::post().to(report))
        .default_service(web::to(|| async {
            HttpResponse::NotFound().json(serde_json::json!({
                "error": "no such route", "code": "not_found",
            }))
        }))
}

#[derive(Deserialize)]
struct TableQuery {
    pod: Option<String>,
    since: Option<String>,
    /// `1`: the pod routes across pods and wants [`hopgate_table::Placement`] frames.
    placement: Option<String>,
    /// `1`: the pod enforces access policies ([`hopgate_table::ACCESS_QUERY`]).
    access: Option<String>,
}

async fn table(
    _: Pod,
    req: HttpRequest,
    state: web::Data<InternalState>,
) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<TableQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::bad_request(format!("invalid query: {e}")))?;
    let pod = query.pod.clone().unwrap_or_else(|| "unnamed".into());
    if !valid_pod_id(&pod) {
        return Err(ApiError::bad_request(
            "pod must be 1-128 characters of [A-Za-z0-9._-]",
        ));
    }
    let since = match &query.since {
        None => None,
        Some(s) => Some(
            s.parse::<Since>()
                .map_err(|e| ApiError::bad_request(format!("since: {e}")))?,
        ),
    };
    let placement = (query.placement.as_deref() == Some(hopgate_table::PLACEMENT_QUERY.1))
        .then(|| stream::PlacementFeed::new(state.pods.watch()));
    let asked = stream::Asked {
        access: query.access.as_deref() == Some(hopgate_table::ACCESS_QUERY.1),
    };
    let subscription = state.hub.subscribe(since.as_ref());
    let log = state.log.new(slog::o!("pod" => pod));
    info!(log, "pod subscribed";
        "since" => since.as_ref().map(ToString::to_string),
        "version" => subscription.version,
        "snapshot" => subscription.snapshot, "placement" => placement.is_some(),
        "access" => asked.access,
        "deltas" => if subscription.snapshot { 0 } else { subscription.initial.len() });
    Ok(HttpResponse::Ok()
        .content_type(TABLE_CONTENT_TYPE)
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(stream::frames(
            state.hub.clone(),
            subscription,
            placement,
            asked,
            log,
        )))
}

async fn report(
    _: Pod,
    req: HttpRequest,
    state: web::Data<InternalState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let pod = path.into_inner();
    if !valid_pod_id(&pod) {
        return Err(ApiError::bad_request(
            "pod must be 1-128 characters of [A-Za-z0-9._-]",
        ));
    }
    let content_type = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let report: SessionReport = if content_type.starts_with(MSGPACK_CONTENT_TYPE)
        || content_type.starts_with("application/x-msgpack")
    {
        rmp_serde::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid MessagePack report: {e}")))?
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON report: {e}")))?
    };
    if report.domains.len() > pods::MAX_REPORTED || report.sessions.len() > pods::MAX_REPORTED {
        return Err(ApiError::bad_request(format!(
            "a report lists at most {} domains and {0} sessions",
            pods::MAX_REPORTED
        )));
    }
    let sessions: Vec<ReportedSession> = report
        .sessions
        .into_iter()
        .filter_map(|mut session| {
            session.domain = domain_name::normalize(&session.domain).ok()?;
            Some(session)
        })
        .collect();
    let domains: Vec<String> = report
        .domains
        .iter()
        .filter_map(|d| domain_name::normalize(d).ok())
        .collect();
    let source = req
        .peer_addr()
        .ok_or_else(|| ApiError::bad_request("no peer address"))?
        .ip();
    let relay_url = match report.relay_port {
        Some(0) => return Err(ApiError::bad_request("relay_port must be 1-65535")),
        Some(port) => Some(pods::relay_url(source, port, report.relay_tls)),
        None => None,
    };
    if let Err(taken) = state
        .pods
        .report_sessions(&pod, source, domains, relay_url, sessions)
    {
        state.metrics.report_refused("address_changed");
        warn!(state.log, "session report refused: the pod id reports from another address";
            "pod" => &pod, "source" => source.to_string());
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "pod_address_changed",
            taken.to_string(),
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}
